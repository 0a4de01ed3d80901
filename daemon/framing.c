/* framing.c — see framing.h. */
#include "framing.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(unsigned char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool name_is(const FramingField *f, const char *name) {
        return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

static unsigned refuse(unsigned status, char *msg, size_t msglen, const char *text) {
        snprintf(msg, msglen, "%s", text);
        return status;
}

unsigned framing_check(const FramingHead *head, char *msg, size_t msglen) {
        size_t n_cl = 0, n_te = 0, n_host = 0;
        const FramingField *cl = NULL, *te = NULL;

        for (const char *p = head->raw_target; *p; p++)
                if (p[0] == '%' && p[1] == '0' && p[2] == '0')
                        return refuse(400, msg, msglen, "the request target holds a NUL byte (%00)");

        for (size_t i = 0; i < head->n_fields; i++) {
                const FramingField *f = &head->fields[i];
                if (f->name_len == 0)
                        return refuse(400, msg, msglen, "a header field has an empty name");
                for (size_t j = 0; j < f->name_len; j++)
                        if (!is_tchar((unsigned char) f->name[j]))
                                return refuse(400, msg, msglen,
                                              "a header field name holds a character that is not a token character "
                                              "(whitespace before the colon?)");
                if (name_is(f, "Content-Length")) {
                        n_cl++;
                        cl = f;
                } else if (name_is(f, "Transfer-Encoding")) {
                        n_te++;
                        te = f;
                } else if (name_is(f, "Host"))
                        n_host++;
        }
        if (n_cl > 0 && n_te > 0)
                return refuse(400, msg, msglen, "Content-Length and Transfer-Encoding together");
        if (n_cl > 1)
                return refuse(400, msg, msglen, "more than one Content-Length");
        if (n_te > 1)
                return refuse(501, msg, msglen, "more than one Transfer-Encoding (only chunked is supported)");
        if (te && !(te->value_len == 7 && strncasecmp(te->value, "chunked", 7) == 0))
                return refuse(501, msg, msglen, "Transfer-Encoding other than chunked");
        if (strcmp(head->version, "HTTP/1.1") == 0 && n_host != 1)
                return refuse(400, msg, msglen, n_host == 0 ? "HTTP/1.1 request without Host" : "more than one Host");
        if (cl) {
                unsigned long long v = 0;
                if (cl->value_len == 0 || cl->value_len > 19)
                        return refuse(400, msg, msglen, "Content-Length is not a decimal number");
                for (size_t j = 0; j < cl->value_len; j++) {
                        char c = cl->value[j];
                        if (c < '0' || c > '9')
                                return refuse(400, msg, msglen, "Content-Length is not a decimal number");
                        v = v * 10 + (unsigned long long) (c - '0');
                }
                if (v > head->max_body) {
                        snprintf(msg, msglen, "the body is larger than %llu bytes", head->max_body);
                        return 413;
                }
        }
        if (head->header_size > 0) {
                /* "METHOD SP target SP version CRLF", "name: value CRLF" each, CRLF. */
                size_t want = strlen(head->method) + 1 + strlen(head->raw_target) + 1 + strlen(head->version) + 2 + 2;
                for (size_t i = 0; i < head->n_fields; i++)
                        want += head->fields[i].name_len + 2 + head->fields[i].value_len + 2;
                if (head->header_size > want || head->header_size + head->n_fields < want)
                        return refuse(400, msg, msglen,
                                      "the header section is not framed as CRLF-terminated \"Name: value\" lines "
                                      "(bare LF, folded line or NUL byte)");
        }
        return 0;
}
