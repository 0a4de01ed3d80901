/* status-page.h — the status page served at GET / (daemon/status-page.html), compiled into
 * the binary by scripts/embed.py (a meson custom_target in daemon/meson.build).
 *
 * The page is static: it holds no data and no secret; its JavaScript reads the API
 * (/v1/nodes, /v1/summary, /v1/events, /v1/events/stream, /v1/nodes/<name>/history) from the
 * same origin, with an API token the user types in when read_auth = token.  Serve it
 * always open, as text/html; charset=utf-8, with `status_page_html_csp` as its
 * Content-Security-Policy header. */
#pragma once

#include <stddef.h>

/* The page's bytes (UTF-8 HTML), NUL-terminated; static storage, never freed. */
extern const char status_page_html[];

/* Length of status_page_html in bytes, without the terminating NUL. */
extern const size_t status_page_html_len;

/* Content-Security-Policy header value for the page: its own inline <style> and <script>
 * are allowed by SHA-256 hash (computed at build time), fetch() only to the same origin,
 * nothing else ("default-src 'none'"; CSP Level 3, https://www.w3.org/TR/CSP3/). */
extern const char status_page_html_csp[];
