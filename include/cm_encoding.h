/*
 * cm_encoding.h
 *		Text encodings of binary data: strict base64 (RFC 4648, standard
 *		alphabet, padded) for SCRAM, and hexadecimal for md5.
 *
 * Pure code: no allocation, no globals.  Every function writes at most
 * cap bytes and says so when the output does not fit.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_ENCODING_H
#define CM_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters base64 makes of n bytes, without a terminator. */
#define CM_BASE64_ENCODED_LEN(n) ((((size_t) (n) + 2) / 3) * 4)

/*
 * Writes the base64 text of src[0..n) and a NUL to dst.  Returns false,
 * writing nothing, when cap < CM_BASE64_ENCODED_LEN(n) + 1.  *out_len (may
 * be NULL) gets the text's length.
 */
extern bool cm_base64_encode(const uint8_t *src, size_t n, char *dst,
							 size_t cap, size_t *out_len);

/*
 * Decodes exactly len characters of base64.  Strict: the length is a
 * multiple of four, '=' appears only as one or two final padding
 * characters, unused bits are zero, and nothing else (no whitespace, no
 * URL alphabet) is accepted.  Returns false on malformed input or when the
 * result would exceed cap bytes; dst may then hold partial output.
 */
extern bool cm_base64_decode(const char *src, size_t len, uint8_t *dst,
							 size_t cap, size_t *out_len);

/* Lower-case hex of src[0..n) and a NUL; false when cap < 2n + 1. */
extern bool cm_hex_encode(const uint8_t *src, size_t n, char *dst, size_t cap);

/*
 * Decodes exactly len hex digits (either case, even count) into dst.
 * Returns false on a bad digit, an odd count, or when cap is too small.
 */
extern bool cm_hex_decode(const char *src, size_t len, uint8_t *dst,
						  size_t cap, size_t *out_len);

#endif /* CM_ENCODING_H */
