/*
 * fuzz_proto.c
 *		libFuzzer target for the first-packet parser, the message header
 *		parser and the ErrorResponse builder in src/proto.c.
 *
 * Beyond "does not crash", it checks what the parsers promise: results
 * only ever point inside the input, lengths never exceed it, and an
 * accepted startup packet is exactly what the builder makes of its
 * parameters.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

/* A NUL-terminated string starting within buf[lo..hi) and ending there. */
static void
check_string_inside(const char *s, const uint8_t *buf, size_t lo, size_t hi)
{
	const uint8_t *p = (const uint8_t *) s;

	CHECK(s != NULL);
	CHECK(p >= buf + lo && p < buf + hi);
	CHECK(memchr(p, '\0', (size_t) (buf + hi - p)) != NULL);
}

static void
check_startup(const uint8_t *data, size_t size, const CmFirstPacket *pkt)
{
	uint32_t length = pkt->length;
	uint8_t *rebuilt;
	size_t n;
	int user_seen = 0;

	CHECK(length > 8 && length <= size);
	CHECK(length <= CM_PROTO_MAX_STARTUP_LEN);
	CHECK(length == cm_proto_get_u32(data));
	CHECK(pkt->version == cm_proto_get_u32(data + 4));
	CHECK((pkt->version >> 16) == 3);
	CHECK(data[length - 1] == '\0');
	CHECK(pkt->nparams >= 0 && pkt->nparams <= CM_PROTO_MAX_PARAMS);
	CHECK(pkt->error == NULL && pkt->sqlstate == NULL);

	for (int i = 0; i < pkt->nparams; i++)
	{
		check_string_inside(pkt->params[i].name, data, 8, length);
		check_string_inside(pkt->params[i].value, data, 8, length);
		CHECK(pkt->params[i].name[0] != '\0');
		if (pkt->user == pkt->params[i].value)
			user_seen = 1;
	}
	check_string_inside(pkt->user, data, 8, length);
	CHECK(pkt->user[0] != '\0');
	CHECK(user_seen);
	check_string_inside(pkt->database, data, 8, length);
	CHECK(pkt->database[0] != '\0');

	/* the packet is canonical: rebuilding it gives the same bytes */
	rebuilt = malloc(length);
	CHECK(rebuilt != NULL);
	n = cm_proto_build_startup(rebuilt, length, pkt->version, pkt->params,
							   pkt->nparams);
	CHECK(n == length);
	CHECK(memcmp(rebuilt, data, length) == 0);
	CHECK(cm_proto_build_startup(rebuilt, length - 1, pkt->version,
								 pkt->params, pkt->nparams) == 0);
	free(rebuilt);
}

static void
fuzz_first_packet(const uint8_t *data, size_t size)
{
	CmFirstPacket pkt;
	CmFirstPacket again;
	CmPacketKind kind = cm_proto_parse_first_packet(data, size, &pkt);

	CHECK(kind == pkt.kind);
	switch (kind)
	{
		case CM_PACKET_NEED_MORE:
			CHECK(size < 4 || size < pkt.length);
			CHECK(pkt.error == NULL);
			if (size >= 4)
				CHECK(pkt.length >= 8 && pkt.length <= CM_PROTO_MAX_STARTUP_LEN);
			return;
		case CM_PACKET_ERROR:
			CHECK(size >= 4);
			CHECK(pkt.error != NULL && pkt.error[0] != '\0');
			CHECK(pkt.sqlstate != NULL && strlen(pkt.sqlstate) == 5);
			CHECK(pkt.length <= size);
			return;
		case CM_PACKET_SSL_REQUEST:
		case CM_PACKET_GSSENC_REQUEST:
			CHECK(pkt.length == 8 && size >= 8);
			CHECK(pkt.version == (kind == CM_PACKET_SSL_REQUEST
									  ? CM_PROTO_SSL_CODE
									  : CM_PROTO_GSSENC_CODE));
			break;
		case CM_PACKET_CANCEL:
			CHECK(pkt.length == 16 && size >= 16);
			CHECK(pkt.cancel_pid == (int32_t) cm_proto_get_u32(data + 8));
			CHECK(pkt.cancel_key == (int32_t) cm_proto_get_u32(data + 12));
			break;
		case CM_PACKET_STARTUP:
			check_startup(data, size, &pkt);
			break;
		default:
			CHECK(!"unknown packet kind");
	}

	/* only the packet's own bytes matter: bytes after it change nothing */
	CHECK(cm_proto_parse_first_packet(data, pkt.length, &again) == kind);
	CHECK(again.length == pkt.length && again.nparams == pkt.nparams);
	CHECK(again.replication == pkt.replication);
	/* and any shorter prefix is incomplete */
	CHECK(cm_proto_parse_first_packet(data, pkt.length - 1, &again) ==
		  CM_PACKET_NEED_MORE);
	CHECK(cm_proto_parse_first_packet(data, 3, &again) == CM_PACKET_NEED_MORE);
}

static void
fuzz_header(const uint8_t *data, size_t size)
{
	static const uint32_t limits[] = {0,  1,	4,			 5,			6,
									  13, 8192, 0x7fffffffu, UINT32_MAX};

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
	{
		char type = 0;
		uint32_t total = 0;
		CmHeaderResult r =
			cm_proto_parse_header(data, size, limits[i], &type, &total);

		if (size < 5)
		{
			CHECK(r == CM_HEADER_NEED_MORE);
			continue;
		}
		CHECK(r == CM_HEADER_OK || r == CM_HEADER_BAD_LENGTH);
		if (r == CM_HEADER_OK)
		{
			CHECK(type == (char) data[0]);
			CHECK(total >= 5 && total <= limits[i]);
			CHECK(total == cm_proto_get_u32(data + 1) + 1);
		}
		else
		{
			uint32_t body = cm_proto_get_u32(data + 1);

			CHECK(body < 4 || body >= limits[i]);
		}
	}
}

/*
 * Builds an ErrorResponse from strings cut out of the input, with a
 * capacity taken from its first byte, and reads it back.
 */
static void
fuzz_error_builder(const uint8_t *data, size_t size)
{
	char strings[5][64];
	const char *fields[5];
	uint8_t out[512];
	size_t cap;
	size_t n;
	size_t pos = 1;

	if (size < 1)
		return;
	cap = data[0] * 2;
	for (int f = 0; f < 5; f++)
	{
		size_t len = 0;

		while (pos < size && data[pos] != '\0' && len < 63)
			strings[f][len++] = (char) data[pos++];
		strings[f][len] = '\0';
		pos++;
		/* an empty piece stands for an absent field */
		fields[f] = len > 0 ? strings[f] : NULL;
	}
	n = cm_proto_build_error(out, cap, fields[0], fields[1], fields[2],
							 fields[3], fields[4]);
	CHECK(n <= cap);
	if (n > 0)
	{
		char type;
		uint32_t total;

		CHECK(out[0] == 'E');
		CHECK(out[n - 1] == '\0');
		CHECK(cm_proto_parse_header(out, n, sizeof(out), &type, &total) ==
			  CM_HEADER_OK);
		CHECK(total == n);
		/* one byte less must not fit */
		CHECK(cm_proto_build_error(out, n - 1, fields[0], fields[1], fields[2],
								   fields[3], fields[4]) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_first_packet(data, size);
	fuzz_header(data, size);
	fuzz_error_builder(data, size);
	return 0;
}
