/* overlay-http.c — see overlay-http.h. */
#include "overlay-http.h"

#include <errno.h>
#include <string.h>

#include "http-response.h"
#include "overlay-cache.h"
#include "util.h"

enum MHD_Result overlay_http_serve(Daemon *d, struct MHD_Connection *c, const char *token) {
        char err[ERRBUF_MAX] = "";
        OverlayBlob *blob = NULL;

        int r = daemon_overlay_get(d, token, &blob, err, sizeof err);
        if (r < 0)
                return http_respond_error(c, http_status_from_errno(r), "%s", err[0] ? err : strerror(-r));

        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        bool not_modified = inm && http_etag_listed(inm, blob->etag);
        struct MHD_Response *resp;
        if (not_modified)
                resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        else
                /* The response holds the blob's reference until libmicrohttpd is done with it
                 * (libmicrohttpd manual, MHD_create_response_from_buffer_with_free_callback_cls). */
                resp = MHD_create_response_from_buffer_with_free_callback_cls(blob->len, (void *) blob->data,
                                                                              overlay_blob_unref_cb, blob);
        if (!resp) {
                overlay_blob_unref(blob);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, blob->etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        size_t len = blob->len;
        if (not_modified)
                overlay_blob_unref(blob);
        else
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        return http_queue(c, not_modified ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp, not_modified ? 0 : len);
}
