/*
 * cm_out.h
 *		A bounded output buffer: the caller hands over memory and its size,
 *		writers append, and a write that does not fit sets a flag instead of
 *		running past the end.  Protocol builders and the authentication
 *		steps write their messages through it.
 *
 * Pure code: no sockets, no server calls, no globals.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_OUT_H
#define CM_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct CmOut
{
	uint8_t *data;
	size_t cap;
	size_t len;	   /* bytes written */
	bool overflow; /* a write did not fit: what is written is incomplete */
} CmOut;

extern void cm_out_init(CmOut *out, uint8_t *data, size_t cap);

/*
 * Each appends all of its bytes or, when they do not fit (or an earlier
 * write did not), none: it sets overflow and the length stays.
 */
extern void cm_out_bytes(CmOut *out, const void *bytes, size_t n);
extern void cm_out_byte(CmOut *out, uint8_t b);
extern void cm_out_u32(CmOut *out, uint32_t v);
extern void cm_out_cstring(CmOut *out, const char *s); /* with its NUL */

/*
 * A protocol message: its type byte (none when type is '\0', as in the
 * startup packet) and a length word that cm_out_end_message() fills in.
 * Returns the offset of the length word, for cm_out_end_message().
 */
extern size_t cm_out_begin_message(CmOut *out, char type);
extern void cm_out_end_message(CmOut *out, size_t length_at);

#endif /* CM_OUT_H */
