/* framing.h — the checks provd makes on a request's head (request line and header fields)
 * before it trusts where the request ends, for what libmicrohttpd 0.9.75 accepts but HTTP/1.1
 * (RFC 9112) says a server must refuse: they are how a request is smuggled past a proxy that
 * reads the same bytes differently.  Pure: no I/O, no state; http.c feeds it what
 * libmicrohttpd parsed plus the raw request-target and the size of the header section as
 * received.
 *
 * Refused, answered and the connection closed (the caller's job):
 *   400  Content-Length and Transfer-Encoding together (RFC 9112 §6.1: "ought to be handled as
 *        an error"; a server MUST close the connection after responding), Content-Length twice
 *        or not a plain decimal number (§6.3, RFC 9110 §8.6), a field name with a character
 *        that is not a token character, e.g. "Transfer-Encoding :" (§5.1: no whitespace
 *        between name and colon; MUST respond 400), HTTP/1.1 without Host or with two
 *        (RFC 9112 §3.2: MUST respond 400), a NUL byte in the request-target ("%00"; provd's
 *        paths, MACs and tokens never hold one, and C strings would stop there), and a header
 *        section whose size as received is not what its fields add up to, which is how bare-LF
 *        line ends (§2.2), obsolete line folding (§5.2: a server MUST reject it or replace it)
 *        and a NUL inside a field value (truncated by the parser) show;
 *   501  a Transfer-Encoding other than exactly "chunked" (§6.1: a server that receives a
 *        transfer coding it does not understand SHOULD respond 501 and close; "chunked,
 *        identity" and "gzip, chunked" included: provd understands no other coding);
 *   413  a declared Content-Length above the caller's limit (answered before the body is
 *        read, RFC 9110 §15.5.14).
 *
 * The size rule: libmicrohttpd reports the header section's size as received (request line
 * through the empty line).  Every client provd serves (iPXE, UEFI HTTP Boot, pixiecore's Go
 * client, curl, browsers) writes "Name: value" CRLF; a field written "Name:value" is one byte
 * shorter, "Name:  value" one longer.  The check accepts the sizes of every mix of the first
 * two forms (0 to n_headers bytes short) and nothing else: bare LF shortens the request line
 * and the end of the section too, folding adds CRLF SP, a NUL hides the bytes after it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Header fields a request may have; more is refused (400) by the caller.  libmicrohttpd's
 * connection memory already bounds the head's size; real clients send fewer than 20. */
#define FRAMING_FIELDS_MAX 100

typedef struct FramingField {
        const char *name; /* as parsed: name_len bytes, not NUL-terminated */
        size_t name_len;
        const char *value; /* as parsed, leading whitespace removed */
        size_t value_len;
} FramingField;

typedef struct FramingHead {
        const char *method;       /* "GET", ... */
        const char *raw_target;   /* the request-target as received, before percent-decoding */
        const char *version;      /* "HTTP/1.1", "HTTP/1.0" */
        const FramingField *fields;
        size_t n_fields;
        size_t header_size;       /* bytes of request line + fields + empty line as received;
                                   * 0 = unknown (the size rule is skipped) */
        unsigned long long max_body; /* largest Content-Length accepted */
} FramingHead;

/* Checks a request head.  Returns 0 when it may be served, or the HTTP status to answer (400,
 * 413, 501) with a message for the client in msg (msglen bytes; names the field, never echoes
 * its value).  The caller answers at once and closes the connection. */
unsigned framing_check(const FramingHead *head, char *msg, size_t msglen);
