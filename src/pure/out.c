/*
 * pure/out.c
 *		The bounded output buffer (see cm_out.h).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <string.h>

#include "cm_out.h"

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

void
cm_out_init(CmOut *out, uint8_t *data, size_t cap)
{
	out->data = data;
	out->cap = data != NULL ? cap : 0;
	out->len = 0;
	out->overflow = false;
}

void
cm_out_bytes(CmOut *out, const void *bytes, size_t n)
{
	if (out->overflow || out->cap - out->len < n)
	{
		out->overflow = true;
		return;
	}
	if (n > 0)
		memcpy(out->data + out->len, bytes, n);
	out->len += n;
}

void
cm_out_byte(CmOut *out, uint8_t b)
{
	cm_out_bytes(out, &b, 1);
}

void
cm_out_u32(CmOut *out, uint32_t v)
{
	uint8_t word[4];

	put_be32(word, v);
	cm_out_bytes(out, word, sizeof(word));
}

void
cm_out_cstring(CmOut *out, const char *s)
{
	cm_out_bytes(out, s, strlen(s) + 1);
}

size_t
cm_out_begin_message(CmOut *out, char type)
{
	size_t length_at;

	if (type != '\0')
		cm_out_byte(out, (uint8_t) type);
	length_at = out->len;
	cm_out_u32(out, 0);
	return length_at;
}

/* The length counts itself and what follows, never the type byte. */
void
cm_out_end_message(CmOut *out, size_t length_at)
{
	if (out->overflow || length_at > out->len || out->len - length_at < 4)
		return;
	if (out->len - length_at > UINT32_MAX)
	{
		out->overflow = true;
		return;
	}
	put_be32(out->data + length_at, (uint32_t) (out->len - length_at));
}
