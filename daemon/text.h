/* text.h — bytes a client sent, made safe for what provd writes back: JSON error messages
 * (valid UTF-8, as jansson requires; RFC 8259 §8.1) and iPXE scripts (nothing iPXE would
 * expand or read as a new command).  Pure: no I/O, no state, any input bytes.
 *
 * Every place that echoes client bytes goes through one of these, so a cut in the middle of a
 * multibyte character, invalid UTF-8, a NUL, a newline or "${" never reaches an answer. */
#pragma once

#include <stddef.h>

/* Copies `in` (NUL-terminated) into buf (size bytes, >= 4) as valid UTF-8 of at most
 * size - 1 bytes: each well-formed UTF-8 character (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF) is kept whole or not at all; each byte of an
 * ill-formed sequence becomes '?'; C0 controls and DEL become '?'.  Returns buf. */
char *text_utf8(const char *in, char *buf, size_t size);

/* Copies at most max bytes of `in` (NUL-terminated) into buf (size > max) keeping only
 * letters, digits and ". : - _ / = + ,"; every other byte becomes '?'.  For iPXE's echo: no
 * '$' (setting expansion), no whitespace or control byte (a new line is a new command), no
 * '#', '"', '\\' or '|' / '&' (command syntax).  Returns buf. */
char *text_ipxe(const char *in, size_t max, char *buf, size_t size);
