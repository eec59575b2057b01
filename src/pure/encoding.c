/*
 * pure/encoding.c
 *		Strict base64 and hexadecimal, for SCRAM messages and secrets and
 *		for md5 hashes.
 *
 * The decoders accept exactly one spelling of each value, so that a
 * message compared as text and a message compared as bytes agree.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_encoding.h"

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char hex_digits[] = "0123456789abcdef";

bool
cm_base64_encode(const uint8_t *src, size_t n, char *dst, size_t cap,
				 size_t *out_len)
{
	size_t need;
	size_t o = 0;
	size_t i = 0;

	/* the length macro would wrap for n near SIZE_MAX */
	if (n > (SIZE_MAX / 4) * 3 - 3)
		return false;
	need = CM_BASE64_ENCODED_LEN(n);
	if (cap < need + 1)
		return false;

	for (; i + 3 <= n; i += 3)
	{
		uint32_t v = ((uint32_t) src[i] << 16) | ((uint32_t) src[i + 1] << 8) |
					 (uint32_t) src[i + 2];

		dst[o++] = base64_alphabet[(v >> 18) & 63];
		dst[o++] = base64_alphabet[(v >> 12) & 63];
		dst[o++] = base64_alphabet[(v >> 6) & 63];
		dst[o++] = base64_alphabet[v & 63];
	}
	if (n - i == 1)
	{
		uint32_t v = (uint32_t) src[i] << 16;

		dst[o++] = base64_alphabet[(v >> 18) & 63];
		dst[o++] = base64_alphabet[(v >> 12) & 63];
		dst[o++] = '=';
		dst[o++] = '=';
	}
	else if (n - i == 2)
	{
		uint32_t v = ((uint32_t) src[i] << 16) | ((uint32_t) src[i + 1] << 8);

		dst[o++] = base64_alphabet[(v >> 18) & 63];
		dst[o++] = base64_alphabet[(v >> 12) & 63];
		dst[o++] = base64_alphabet[(v >> 6) & 63];
		dst[o++] = '=';
	}
	dst[o] = '\0';
	if (out_len)
		*out_len = o;
	return true;
}

/* The value of a base64 character, or -1. */
static int
base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool
cm_base64_decode(const char *src, size_t len, uint8_t *dst, size_t cap,
				 size_t *out_len)
{
	size_t o = 0;

	if (len % 4 != 0)
		return false;

	for (size_t i = 0; i < len; i += 4)
	{
		bool last = i + 4 == len;
		int pad = 0;
		int v[4];
		uint32_t bits;
		size_t bytes;

		if (last && src[i + 3] == '=')
			pad = src[i + 2] == '=' ? 2 : 1;
		for (int k = 0; k < 4 - pad; k++)
		{
			v[k] = base64_value(src[i + k]);
			if (v[k] < 0)
				return false;
		}
		for (int k = 4 - pad; k < 4; k++)
			v[k] = 0;

		/* only canonical text: the bits padding leaves over are zero */
		if ((pad == 1 && (v[2] & 3) != 0) || (pad == 2 && (v[1] & 15) != 0))
			return false;

		bytes = (size_t) (3 - pad);
		if (bytes > cap - o)
			return false;
		bits = ((uint32_t) v[0] << 18) | ((uint32_t) v[1] << 12) |
			   ((uint32_t) v[2] << 6) | (uint32_t) v[3];
		dst[o++] = (uint8_t) (bits >> 16);
		if (bytes > 1)
			dst[o++] = (uint8_t) (bits >> 8);
		if (bytes > 2)
			dst[o++] = (uint8_t) bits;
	}
	if (out_len)
		*out_len = o;
	return true;
}

bool
cm_hex_encode(const uint8_t *src, size_t n, char *dst, size_t cap)
{
	if (n > (SIZE_MAX - 1) / 2 || cap < 2 * n + 1)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		dst[2 * i] = hex_digits[src[i] >> 4];
		dst[2 * i + 1] = hex_digits[src[i] & 15];
	}
	dst[2 * n] = '\0';
	return true;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
cm_hex_decode(const char *src, size_t len, uint8_t *dst, size_t cap,
			  size_t *out_len)
{
	if (len % 2 != 0 || len / 2 > cap)
		return false;
	for (size_t i = 0; i < len; i += 2)
	{
		int hi = hex_value(src[i]);
		int lo = hex_value(src[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		dst[i / 2] = (uint8_t) ((hi << 4) | lo);
	}
	if (out_len)
		*out_len = len / 2;
	return true;
}
