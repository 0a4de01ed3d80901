/* http-range.h — the Range request header of a GET (RFC 9110 §14.1.2 byte ranges, §14.2
 * Range) against a representation of known size: which single byte range to send, the whole
 * representation, or "unsatisfiable".  Pure: no I/O, no allocation, any thread. */
#pragma once

#include <stdint.h>

typedef enum HttpRange {
        HTTP_RANGE_WHOLE,         /* ignore the header: 200 with the whole representation */
        HTTP_RANGE_PART,          /* 206 with one byte range */
        HTTP_RANGE_UNSATISFIABLE, /* 416 (RFC 9110 §15.5.17) */
} HttpRange;

/* Evaluates the Range field value `header` (NULL: none) for a representation of `size`
 * bytes.  Returns HTTP_RANGE_PART with the first and last byte offsets (inclusive, last <
 * size) in *ret_first and *ret_last for exactly one satisfiable range-spec: "bytes=F-L"
 * (L past the end is cut to the end), "bytes=F-" (to the end) or "bytes=-N" (the last N bytes,
 * the whole representation when it is shorter).  HTTP_RANGE_UNSATISFIABLE when the one
 * range-spec starts at or after the end or is "-0" (§14.1.2: the set is not satisfiable).
 * HTTP_RANGE_WHOLE (the server MAY ignore Range, §14.2) for no header, a unit other than
 * "bytes" (case-insensitive, §14.1), a syntax error, a range whose last is before its first
 * (invalid, §14.1.1), more than one range-spec (a multipart/byteranges answer is not made),
 * and an empty representation.  The ret_* are written only for HTTP_RANGE_PART. */
int http_range_parse(const char *header, uint64_t size, uint64_t *ret_first, uint64_t *ret_last);
