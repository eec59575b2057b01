/*
 * test_out.c
 *		Unit tests of the bounded output buffer in src/pure/out.c: writes
 *		that fit, writes that do not (the flag is set and nothing lands past
 *		the capacity), and the message framing.
 *
 * Buffers are heap blocks of exactly the capacity handed over, so
 * AddressSanitizer reports any write past the end.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_out.h"
#include "cm_proto.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* A heap block of exactly cap bytes (at least one), filled with 0xAA. */
static uint8_t *
block(size_t cap)
{
	uint8_t *p = malloc(cap > 0 ? cap : 1);

	memset(p, 0xAA, cap > 0 ? cap : 1);
	return p;
}

static int
untouched(const uint8_t *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != 0xAA)
			return 0;
	return 1;
}

static void
test_writes_that_fit(void)
{
	uint8_t *mem = block(16);
	CmOut out;

	cm_out_init(&out, mem, 16);
	is_int(out.len, 0, "a new writer is empty");
	ok(!out.overflow, "a new writer has not overflowed");
	cm_out_byte(&out, 'x');
	cm_out_u32(&out, 0x01020304u);
	cm_out_cstring(&out, "ab");
	cm_out_bytes(&out, "yz", 2);
	cm_out_bytes(&out, NULL, 0);
	is_int(out.len, 1 + 4 + 3 + 2, "the lengths add up");
	ok(!out.overflow, "no overflow");
	ok(memcmp(mem,
			  "x\x01\x02\x03\x04"
			  "ab\0yz",
			  10) == 0,
	   "the bytes are in order, the u32 big-endian, the string with its NUL");
	ok(untouched(mem, 10, 16), "nothing written past the length");
	cm_out_bytes(&out, "123456", 6);
	is_int(out.len, 16, "a write may fill the buffer exactly");
	ok(!out.overflow, "filling exactly is no overflow");
	free(mem);
}

static void
test_overflow(void)
{
	uint8_t *mem = block(8);
	CmOut out;

	cm_out_init(&out, mem, 8);
	cm_out_bytes(&out, "abcde", 5);
	cm_out_u32(&out, 7);
	ok(out.overflow, "a u32 that does not fit sets overflow");
	is_int(out.len, 5, "the length stays where it was");
	ok(untouched(mem, 5, 8), "none of the u32 was written");
	cm_out_byte(&out, 'z');
	is_int(out.len, 5, "later writes are dropped, even ones that would fit");
	ok(untouched(mem, 5, 8), "and write nothing");
	free(mem);

	mem = block(4);
	cm_out_init(&out, mem, 4);
	cm_out_cstring(&out, "four");
	ok(out.overflow, "a string whose NUL does not fit overflows");
	is_int(out.len, 0, "and writes nothing");
	ok(untouched(mem, 0, 4), "not even its first bytes");
	free(mem);

	mem = block(0);
	cm_out_init(&out, mem, 0);
	cm_out_bytes(&out, NULL, 0);
	ok(!out.overflow, "an empty write fits an empty buffer");
	cm_out_byte(&out, 1);
	ok(out.overflow, "one byte does not");
	ok(untouched(mem, 0, 1), "and is not written");
	free(mem);

	cm_out_init(&out, NULL, 100);
	is_int(out.cap, 0, "no memory means no capacity");
	cm_out_byte(&out, 1);
	ok(out.overflow, "so a write overflows");

	/* a huge length must not wrap around the capacity check */
	mem = block(8);
	cm_out_init(&out, mem, 8);
	cm_out_byte(&out, 1);
	cm_out_bytes(&out, mem, SIZE_MAX);
	ok(out.overflow, "a length near SIZE_MAX overflows");
	is_int(out.len, 1, "and writes nothing");
	free(mem);
}

static void
test_messages(void)
{
	uint8_t *mem = block(32);
	CmOut out;
	size_t at;

	cm_out_init(&out, mem, 32);
	at = cm_out_begin_message(&out, 'p');
	is_int(at, 1, "the length word follows the type byte");
	cm_out_cstring(&out, "secret");
	cm_out_end_message(&out, at);
	is_int(out.len, 1 + 4 + 7, "type, length, body");
	is_int(mem[0], 'p', "type byte");
	is_int(cm_proto_get_u32(mem + 1), 4 + 7,
		   "the length counts itself and the body, not the type");

	at = cm_out_begin_message(&out, '\0');
	is_int(at, 12, "no type byte when the type is NUL");
	cm_out_u32(&out, 80877103u);
	cm_out_end_message(&out, at);
	is_int(cm_proto_get_u32(mem + 12), 8, "an untyped message's length");
	is_int(out.len, 20, "both messages written");
	free(mem);

	mem = block(8);
	cm_out_init(&out, mem, 8);
	at = cm_out_begin_message(&out, 'R');
	cm_out_u32(&out, 10);
	cm_out_end_message(&out, at);
	ok(out.overflow, "a message that does not fit overflows");
	ok(untouched(mem, 5, 8), "nothing past what fitted is written");
	is_int(cm_proto_get_u32(mem + 1), 0,
		   "the length word of an overflowed message is not filled in");
	free(mem);
}

static void
test_protocol_writers(void)
{
	uint8_t buf[64];
	uint8_t *mem;
	CmOut out;
	char type = 0;
	uint32_t total = 0;

	cm_out_init(&out, buf, sizeof(buf));
	cm_proto_write_auth_request(&out, 5, "salt", 4);
	is_int(out.len, 13, "AuthenticationMD5Password is 13 bytes");
	is_int(cm_proto_parse_header(buf, out.len, 8192, &type, &total),
		   CM_HEADER_OK, "its header parses");
	is_int(type, 'R', "type R");
	is_int(total, 13, "total length");
	is_int(cm_proto_get_u32(buf + 5), 5, "the request code");
	ok(memcmp(buf + 9, "salt", 4) == 0, "the data");

	cm_out_init(&out, buf, sizeof(buf));
	cm_proto_write_auth_request(&out, 3, NULL, 0);
	is_int(out.len, 9, "a request without data is 9 bytes");
	is_int(cm_proto_get_u32(buf + 1), 8, "its length word");

	cm_out_init(&out, buf, sizeof(buf));
	cm_proto_write_password_message(&out, "pw", 3);
	is_int(out.len, 8, "a password message is type, length, data");
	is_int(buf[0], 'p', "type p");
	is_int(cm_proto_get_u32(buf + 1), 7, "its length word");
	is_str((const char *) buf + 5, "pw", "its text");

	for (size_t cap = 0; cap < 13; cap++)
	{
		mem = block(cap);
		cm_out_init(&out, mem, cap);
		cm_proto_write_auth_request(&out, 5, "salt", 4);
		if (!out.overflow || !untouched(mem, out.len, cap))
			break;
		free(mem);
		mem = NULL;
	}
	ok(mem == NULL,
	   "every capacity below 13 overflows and writes nothing past its end");
	free(mem);
}

int
main(void)
{
	test_writes_that_fit();
	test_overflow();
	test_messages();
	test_protocol_writers();
	return done_testing();
}
