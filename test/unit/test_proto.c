/*
 * test_proto.c
 *		Unit tests of the first-packet parser, the message header parser and
 *		the builders in src/proto.c.
 *
 * Every parse works on a heap copy of exactly the bytes handed over, so
 * AddressSanitizer reports any read past the end of the input.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_proto.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define V(major, minor) (((uint32_t) (major) << 16) | (uint32_t) (minor))
/* a string literal with embedded NULs, as pointer and length */
#define BODY(s) (s), (sizeof(s) - 1)

static uint8_t *heap_copy;

/* Parses a heap copy of exactly len bytes, kept until the next call. */
static CmPacketKind
parse(const uint8_t *bytes, size_t len, CmFirstPacket *out)
{
	free(heap_copy);
	heap_copy = malloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(heap_copy, bytes, len);
	return cm_proto_parse_first_packet(heap_copy, len, out);
}

/* Writes a length word, a version and body; returns the packet length. */
static size_t
raw_packet(uint8_t *buf, uint32_t version, const char *body, size_t bodylen)
{
	cm_proto_put_u32(buf, (uint32_t) (8 + bodylen));
	cm_proto_put_u32(buf + 4, version);
	memcpy(buf + 8, body, bodylen);
	return 8 + bodylen;
}

static size_t
raw_words(uint8_t *buf, int n, const uint32_t *words)
{
	for (int i = 0; i < n; i++)
		cm_proto_put_u32(buf + 4 * i, words[i]);
	return (size_t) n * 4;
}

/* True when p lies inside the bytes last handed to parse(). */
static int
in_input(const char *p, size_t len)
{
	return p != NULL && (const uint8_t *) p >= heap_copy &&
		   (const uint8_t *) p < heap_copy + len;
}

static void
expect_error(const uint8_t *buf, size_t len, const char *sqlstate,
			 const char *what)
{
	CmFirstPacket pkt;
	CmPacketKind kind = parse(buf, len, &pkt);

	is_int(kind, CM_PACKET_ERROR, "%s: rejected", what);
	is_int(pkt.kind, CM_PACKET_ERROR, "%s: kind recorded", what);
	ok(pkt.error != NULL && pkt.error[0] != '\0', "%s: has a message", what);
	is_str(pkt.sqlstate, sqlstate, "%s: SQLSTATE %s", what, sqlstate);
}

static void
expect_need_more_prefixes(const uint8_t *buf, size_t len, const char *what)
{
	int all = 1;
	size_t bad = 0;

	for (size_t k = 0; k < len; k++)
	{
		CmFirstPacket pkt;

		if (parse(buf, k, &pkt) != CM_PACKET_NEED_MORE ||
			pkt.kind != CM_PACKET_NEED_MORE)
		{
			if (all)
				bad = k;
			all = 0;
		}
	}
	ok(all, "%s: NEED_MORE at every prefix 0..%zu (first bad %zu)", what,
	   len - 1, bad);
}

static void
test_requests(void)
{
	uint8_t buf[64];
	CmFirstPacket pkt;
	size_t n;

	n = raw_words(buf, 2, (uint32_t[]){8, CM_PROTO_SSL_CODE});
	is_int(parse(buf, n, &pkt), CM_PACKET_SSL_REQUEST, "SSLRequest parsed");
	is_int(pkt.kind, CM_PACKET_SSL_REQUEST, "SSLRequest kind recorded");
	is_int(pkt.length, 8, "SSLRequest length");
	is_int(pkt.version, CM_PROTO_SSL_CODE, "SSLRequest code");
	ok(pkt.error == NULL && pkt.sqlstate == NULL, "SSLRequest: no error");
	expect_need_more_prefixes(buf, n, "SSLRequest");

	/* a startup packet pipelined after the request is not part of it */
	n += raw_packet(buf + n, CM_PROTO_VERSION_3_0, BODY("user\0bob\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_SSL_REQUEST,
		   "SSLRequest followed by more bytes");
	is_int(pkt.length, 8, "SSLRequest with trailing bytes: length 8");

	n = raw_words(buf, 2, (uint32_t[]){8, CM_PROTO_GSSENC_CODE});
	is_int(parse(buf, n, &pkt), CM_PACKET_GSSENC_REQUEST,
		   "GSSENCRequest parsed");
	is_int(pkt.length, 8, "GSSENCRequest length");
	is_int(pkt.version, CM_PROTO_GSSENC_CODE, "GSSENCRequest code");
	expect_need_more_prefixes(buf, n, "GSSENCRequest");

	n = raw_words(buf, 4,
				  (uint32_t[]){16, CM_PROTO_CANCEL_CODE, 12345, 0x7eadbeef});
	is_int(parse(buf, n, &pkt), CM_PACKET_CANCEL, "CancelRequest parsed");
	is_int(pkt.kind, CM_PACKET_CANCEL, "CancelRequest kind recorded");
	is_int(pkt.length, 16, "CancelRequest length");
	is_int(pkt.cancel_pid, 12345, "CancelRequest pid");
	is_int(pkt.cancel_key, 0x7eadbeef, "CancelRequest key");
	expect_need_more_prefixes(buf, n, "CancelRequest");

	n = raw_words(buf, 4,
				  (uint32_t[]){16, CM_PROTO_CANCEL_CODE, 0xffffffffu,
							   0x80000000u});
	is_int(parse(buf, n, &pkt), CM_PACKET_CANCEL,
		   "CancelRequest with high-bit words");
	is_int(pkt.cancel_pid, -1, "CancelRequest pid 0xffffffff is -1");
	is_int(pkt.cancel_key, INT32_MIN, "CancelRequest key 0x80000000");
}

static void
test_startup(void)
{
	uint8_t buf[256];
	CmFirstPacket pkt;
	size_t n;

	n = raw_packet(buf, CM_PROTO_VERSION_3_0,
				   BODY("user\0alice\0database\0shop\0"
						"application_name\0psql\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "startup parsed");
	is_int(pkt.kind, CM_PACKET_STARTUP, "startup kind recorded");
	is_int(pkt.length, n, "startup length");
	is_int(pkt.version, CM_PROTO_VERSION_3_0, "startup version 3.0");
	is_int(pkt.nparams, 3, "startup: three parameters");
	is_str(pkt.params[0].name, "user", "param 0 name");
	is_str(pkt.params[0].value, "alice", "param 0 value");
	is_str(pkt.params[1].name, "database", "param 1 name");
	is_str(pkt.params[1].value, "shop", "param 1 value");
	is_str(pkt.params[2].name, "application_name", "param 2 name");
	is_str(pkt.params[2].value, "psql", "param 2 value");
	is_str(pkt.user, "alice", "startup user");
	is_str(pkt.database, "shop", "startup database");
	ok(!pkt.replication, "startup: not replication");
	ok(pkt.error == NULL && pkt.sqlstate == NULL, "startup: no error");
	ok(in_input(pkt.user, n) && in_input(pkt.database, n),
	   "user and database point into the input");
	{
		int inside = 1;

		for (int i = 0; i < pkt.nparams; i++)
			inside = inside && in_input(pkt.params[i].name, n) &&
					 in_input(pkt.params[i].value, n);
		ok(inside, "every parameter points into the input");
	}
	expect_need_more_prefixes(buf, n, "startup");

	/* bytes beyond the length word belong to the next message */
	memcpy(buf + n, "Qjunk", 5);
	is_int(parse(buf, n + 5, &pkt), CM_PACKET_STARTUP,
		   "startup followed by other bytes");
	is_int(pkt.length, n, "startup followed by bytes: length is the packet");

	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "user only");
	is_str(pkt.database, "bob", "database defaults to the user");
	ok(pkt.database == pkt.user, "default database is the user string");

	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("database\0\0user\0bob\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "empty database");
	is_str(pkt.database, "bob", "empty database defaults to the user");

	n = raw_packet(buf, CM_PROTO_VERSION_3_0,
				   BODY("user\0a\0user\0b\0database\0x\0database\0y\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "repeated parameters");
	is_str(pkt.user, "b", "the last user wins, as in the server");
	is_str(pkt.database, "y", "the last database wins, as in the server");
	is_int(pkt.nparams, 4, "repeated parameters are all listed");

	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("options\0\0user\0bob\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "empty value accepted");
	is_str(pkt.params[0].value, "", "empty value kept");

	n = raw_packet(buf, V(3, 1), BODY("user\0bob\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "protocol 3.1 accepted");
	is_int(pkt.version, V(3, 1), "protocol 3.1 version kept");

	n = raw_packet(buf, V(3, 9999), BODY("user\0bob\0\0"));
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "protocol 3.9999 passed on");
}

static void
test_replication(void)
{
	static const struct
	{
		const char *value;
		int replication;
	} cases[] = {
		{"true", 1},  {"on", 1},  {"yes", 1}, {"1", 1},		{"database", 1},
		{"TRUE", 1},  {"t", 1},	  {"y", 1},	  {"false", 0}, {"off", 0},
		{"OFF", 0},	  {"no", 0},  {"0", 0},	  {"f", 0},		{"n", 0},
		{"False", 0}, {"fal", 0}, {"of", 0},  {"NO", 0},	{"falsey", 1},
		{"offf", 1},  {"o", 1},	  {"00", 1},  {"", 1},
	};
	uint8_t buf[128];
	CmFirstPacket pkt;
	size_t n;

	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob\0\0"));
	parse(buf, n, &pkt);
	ok(!pkt.replication, "no replication parameter: not replication");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char body[64];
		size_t len = 0;
		size_t vlen = strlen(cases[i].value) + 1;

		memcpy(body, "user\0bob\0replication", 21);
		len = 21;
		memcpy(body + len, cases[i].value, vlen);
		len += vlen;
		body[len++] = '\0';
		n = raw_packet(buf, CM_PROTO_VERSION_3_0, body, len);
		is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "replication=%s parsed",
			   cases[i].value);
		is_int(pkt.replication, cases[i].replication, "replication=%s is %s",
			   cases[i].value, cases[i].replication ? "true" : "false");
	}

	n = raw_packet(buf, CM_PROTO_VERSION_3_0,
				   BODY("replication\0true\0user\0bob\0replication\0off\0\0"));
	parse(buf, n, &pkt);
	ok(!pkt.replication, "the last replication parameter wins");
}

static void
test_bad_lengths(void)
{
	uint8_t buf[32];
	char what[64];
	static const uint32_t huge[] = {CM_PROTO_MAX_STARTUP_LEN + 1,
									65536,
									0x7fffffffu,
									0x80000000u,
									0x80000008u,
									0xffffffffu};

	for (uint32_t l = 0; l < 8; l++)
	{
		size_t n = raw_words(buf, 2, (uint32_t[]){l, CM_PROTO_VERSION_3_0});

		snprintf(what, sizeof(what), "length %u", l);
		expect_error(buf, 4, "08P01", what);
		expect_error(buf, n, "08P01", what);
	}
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
	{
		size_t n =
			raw_words(buf, 2, (uint32_t[]){huge[i], CM_PROTO_VERSION_3_0});

		snprintf(what, sizeof(what), "length 0x%08x", huge[i]);
		expect_error(buf, 4, "08P01", what);
		expect_error(buf, n, "08P01", what);
	}

	/* the largest length allowed waits for the rest */
	{
		CmFirstPacket pkt;
		size_t n = raw_words(buf, 2,
							 (uint32_t[]){CM_PROTO_MAX_STARTUP_LEN,
										  CM_PROTO_VERSION_3_0});

		is_int(parse(buf, n, &pkt), CM_PACKET_NEED_MORE,
			   "length 10000 with 8 bytes: NEED_MORE");
		is_int(pkt.length, CM_PROTO_MAX_STARTUP_LEN,
			   "length 10000: length recorded while waiting");
	}

	/* a startup packet of exactly the maximum size */
	{
		uint8_t *big = calloc(CM_PROTO_MAX_STARTUP_LEN, 1);
		CmFirstPacket pkt;
		size_t vlen = CM_PROTO_MAX_STARTUP_LEN - 8 - 5 - 1 - 1;

		cm_proto_put_u32(big, CM_PROTO_MAX_STARTUP_LEN);
		cm_proto_put_u32(big + 4, CM_PROTO_VERSION_3_0);
		memcpy(big + 8, "user", 5);
		memset(big + 13, 'u', vlen);
		is_int(parse(big, CM_PROTO_MAX_STARTUP_LEN, &pkt), CM_PACKET_STARTUP,
			   "startup of exactly 10000 bytes");
		is_int(strlen(pkt.user), vlen, "its user is %zu bytes", vlen);
		free(big);
	}

	expect_error(buf, raw_words(buf, 3, (uint32_t[]){12, CM_PROTO_SSL_CODE, 0}),
				 "08P01", "SSLRequest of length 12");
	expect_error(buf,
				 raw_words(buf, 4, (uint32_t[]){16, CM_PROTO_SSL_CODE, 0, 0}),
				 "08P01", "SSLRequest of length 16");
	memset(buf, 0, sizeof(buf));
	cm_proto_put_u32(buf, 9);
	cm_proto_put_u32(buf + 4, CM_PROTO_SSL_CODE);
	expect_error(buf, 9, "08P01", "SSLRequest of length 9");
	expect_error(buf,
				 raw_words(buf, 3, (uint32_t[]){12, CM_PROTO_GSSENC_CODE, 0}),
				 "08P01", "GSSENCRequest of length 12");
	expect_error(buf, raw_words(buf, 2, (uint32_t[]){8, CM_PROTO_CANCEL_CODE}),
				 "08P01", "CancelRequest of length 8");
	expect_error(buf,
				 raw_words(buf, 3, (uint32_t[]){12, CM_PROTO_CANCEL_CODE, 1}),
				 "08P01", "CancelRequest of length 12");
	expect_error(buf,
				 raw_words(buf, 5,
						   (uint32_t[]){20, CM_PROTO_CANCEL_CODE, 1, 2, 3}),
				 "08P01", "CancelRequest of length 20");
}

static void
test_bad_versions(void)
{
	static const uint32_t versions[] = {V(0, 0),		   V(1, 0),
										V(2, 0),		   V(2, 9999),
										V(4, 0),		   V(1234, 0),
										V(1234, 5677),	   V(1234, 5681),
										V(0xffff, 0xffff), V(0x0103, 0)};
	uint8_t buf[64];
	char what[64];

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
	{
		size_t n = raw_packet(buf, versions[i], BODY("user\0bob\0\0"));

		snprintf(what, sizeof(what), "protocol %u.%u", versions[i] >> 16,
				 versions[i] & 0xffff);
		expect_error(buf, n, "0A000", what);
	}
	/* request codes with a startup body are not startup packets */
	expect_error(buf, raw_packet(buf, V(1234, 5679), BODY("user\0bob\0\0")),
				 "08P01", "SSL code with a startup body");
}

static void
test_bad_layouts(void)
{
	uint8_t buf[2048];
	size_t n;

	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY(""));
	expect_error(buf, n, "08P01", "3.0 with no body at all");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob\0"));
	expect_error(buf, n, "08P01", "missing final terminator");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob"));
	expect_error(buf, n, "08P01", "value not terminated");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user"));
	expect_error(buf, n, "08P01", "name not terminated");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0\0"));
	expect_error(buf, n, "08P01", "name without value");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob\0options\0\0"));
	expect_error(buf, n, "08P01", "second name without value");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0"));
	expect_error(buf, n, "08P01", "lone name");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob\0\0x"));
	expect_error(buf, n, "08P01", "a byte after the terminator");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob\0\0x\0y\0\0"));
	expect_error(buf, n, "08P01", "a parameter after the terminator");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0bob\0\0\0"));
	expect_error(buf, n, "08P01", "two terminators");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("\0\0"));
	expect_error(buf, n, "08P01", "empty name then a NUL");

	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("\0"));
	expect_error(buf, n, "28000", "no parameters: no user");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("database\0shop\0\0"));
	expect_error(buf, n, "28000", "missing user");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("user\0\0\0"));
	expect_error(buf, n, "28000", "empty user");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0,
				   BODY("user\0bob\0user\0\0database\0d\0\0"));
	expect_error(buf, n, "28000", "user emptied by a later parameter");
	n = raw_packet(buf, CM_PROTO_VERSION_3_0, BODY("User\0bob\0\0"));
	expect_error(buf, n, "28000", "parameter names are case-sensitive");

	/* 64 parameters are allowed, 65 are not */
	for (int count = 64; count <= 65; count++)
	{
		char body[1024];
		size_t len = 0;
		CmFirstPacket pkt;

		len += (size_t) sprintf(body + len, "user") + 1;
		len += (size_t) sprintf(body + len, "bob") + 1;
		for (int i = 1; i < count; i++)
		{
			len += (size_t) sprintf(body + len, "p%d", i) + 1;
			len += (size_t) sprintf(body + len, "v%d", i) + 1;
		}
		body[len++] = '\0';
		n = raw_packet(buf, CM_PROTO_VERSION_3_0, body, len);
		if (count == 64)
		{
			is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP,
				   "64 parameters accepted");
			is_int(pkt.nparams, 64, "64 parameters counted");
			is_str(pkt.params[63].name, "p63", "the 64th parameter's name");
			is_str(pkt.params[63].value, "v63", "the 64th parameter's value");
		}
		else
			expect_error(buf, n, "08P01", "65 parameters");
	}
}

static void
test_round_trip(void)
{
	static const CmStartupParam params[] = {
		{"user", "carol"},
		{"database", "inventory"},
		{"application_name", "round trip"},
		{"options", ""},
		{"replication", "off"},
	};
	const int np = (int) (sizeof(params) / sizeof(params[0]));
	uint8_t buf[256];
	uint8_t small[256];
	CmFirstPacket pkt;
	size_t n;
	int same = 1;
	int all_zero = 1;

	n = cm_proto_build_startup(buf, sizeof(buf), V(3, 0), params, np);
	ok(n > 8, "startup built");
	is_int(cm_proto_get_u32(buf), n, "built startup: length word");
	is_int(parse(buf, n, &pkt), CM_PACKET_STARTUP, "built startup parses");
	is_int(pkt.length, n, "round trip: length");
	is_int(pkt.version, V(3, 0), "round trip: version");
	is_int(pkt.nparams, np, "round trip: parameter count");
	for (int i = 0; i < np && i < pkt.nparams; i++)
		same = same && strcmp(pkt.params[i].name, params[i].name) == 0 &&
			   strcmp(pkt.params[i].value, params[i].value) == 0;
	ok(same, "round trip: every parameter");
	is_str(pkt.user, "carol", "round trip: user");
	is_str(pkt.database, "inventory", "round trip: database");
	ok(!pkt.replication, "round trip: replication off");

	/* rebuilding the parsed parameters yields the same bytes */
	{
		uint8_t again[256];
		size_t m = cm_proto_build_startup(again, sizeof(again), pkt.version,
										  pkt.params, pkt.nparams);

		ok(m == n && memcmp(again, buf, n) == 0,
		   "rebuilding the parsed packet gives the same bytes");
	}

	is_int(cm_proto_build_startup(small, n, V(3, 0), params, np), n,
		   "startup builds with cap exactly its size");
	for (size_t cap = 0; cap < n; cap++)
		all_zero = all_zero &&
				   cm_proto_build_startup(small, cap, V(3, 0), params, np) == 0;
	ok(all_zero, "startup builder returns 0 for every cap 0..%zu", n - 1);

	n = cm_proto_build_startup(buf, sizeof(buf), V(3, 0), NULL, 0);
	is_int(n, 9, "startup with no parameters is 9 bytes");
	is_int(buf[8], 0, "and ends with the terminator");
	expect_error(buf, n, "28000", "built startup without a user");

	n = cm_proto_build_cancel(buf, sizeof(buf), 4242, -7);
	is_int(n, 16, "cancel built: 16 bytes");
	is_int(parse(buf, n, &pkt), CM_PACKET_CANCEL, "built cancel parses");
	is_int(pkt.cancel_pid, 4242, "built cancel: pid");
	is_int(pkt.cancel_key, -7, "built cancel: key");
	all_zero = 1;
	for (size_t cap = 0; cap < 16; cap++)
		all_zero = all_zero && cm_proto_build_cancel(small, cap, 1, 2) == 0;
	ok(all_zero, "cancel builder returns 0 for every cap 0..15");
}

/* Finds field code in an ErrorResponse body; NULL when absent. */
static const char *
error_field(const uint8_t *msg, size_t len, char code)
{
	size_t pos = 5;

	while (pos < len && msg[pos] != '\0')
	{
		const char *val = (const char *) msg + pos + 1;

		if (msg[pos] == (uint8_t) code)
			return val;
		pos += 1 + strlen(val) + 1;
	}
	return NULL;
}

static void
test_error_builder(void)
{
	uint8_t buf[512];
	uint8_t small[512];
	size_t n;
	int all_zero = 1;

	n = cm_proto_build_error(buf, sizeof(buf), "FATAL", "53300",
							 "sorry, too many clients already", "a detail",
							 "a hint");
	/* type, length, S and V "FATAL", C, M, D, H, final NUL */
	is_int(n, 1 + 4 + 2 * (1 + 6) + (1 + 6) + (1 + 32) + (1 + 9) + (1 + 7) + 1,
		   "ErrorResponse size");
	is_int(buf[0], 'E', "ErrorResponse type byte");
	is_int(cm_proto_get_u32(buf + 1), n - 1,
		   "ErrorResponse length word excludes the type byte");
	is_int(buf[n - 1], 0, "ErrorResponse ends with a NUL");
	is_int(buf[n - 2], 0, "the last field is NUL-terminated");
	is_str(error_field(buf, n, 'S'), "FATAL", "field S");
	is_str(error_field(buf, n, 'V'), "FATAL", "field V");
	is_str(error_field(buf, n, 'C'), "53300", "field C");
	is_str(error_field(buf, n, 'M'), "sorry, too many clients already",
		   "field M");
	is_str(error_field(buf, n, 'D'), "a detail", "field D");
	is_str(error_field(buf, n, 'H'), "a hint", "field H");
	is_int(buf[5], 'S', "S comes first");

	{
		char type = 0;
		uint32_t total = 0;

		is_int(cm_proto_parse_header(buf, n, 8192, &type, &total),
			   CM_HEADER_OK, "the header parser reads the ErrorResponse");
		is_int(type, 'E', "header: type E");
		is_int(total, n, "header: total length");
	}

	is_int(cm_proto_build_error(small, n, "FATAL", "53300",
								"sorry, too many clients already", "a detail",
								"a hint"),
		   n, "ErrorResponse builds with cap exactly its size");
	for (size_t cap = 0; cap < n; cap++)
		all_zero =
			all_zero && cm_proto_build_error(small, cap, "FATAL", "53300",
											 "sorry, too many clients already",
											 "a detail", "a hint") == 0;
	ok(all_zero, "ErrorResponse builder returns 0 for every cap 0..%zu", n - 1);

	n = cm_proto_build_error(buf, sizeof(buf), "ERROR", "08P01", "bad", NULL,
							 NULL);
	is_int(n, 1 + 4 + 2 * (1 + 6) + (1 + 6) + (1 + 4) + 1,
		   "ErrorResponse without D and H");
	is_int(cm_proto_get_u32(buf + 1), n - 1, "its length word");
	ok(error_field(buf, n, 'D') == NULL, "no D field when detail is NULL");
	ok(error_field(buf, n, 'H') == NULL, "no H field when hint is NULL");
	is_str(error_field(buf, n, 'M'), "bad", "field M present");
	all_zero = 1;
	for (size_t cap = 0; cap < n; cap++)
		all_zero = all_zero && cm_proto_build_error(small, cap, "ERROR", "08P01",
													"bad", NULL, NULL) == 0;
	ok(all_zero, "short ErrorResponse: 0 for every cap 0..%zu", n - 1);

	n = cm_proto_build_error(buf, sizeof(buf), NULL, NULL, NULL, NULL, NULL);
	is_int(n, 6, "ErrorResponse with no fields is 6 bytes");
	is_int(cm_proto_get_u32(buf + 1), 5, "its length word is 5");
}

static void
test_backend_key(void)
{
	uint8_t buf[32];
	uint8_t small[32];
	char type = 0;
	uint32_t total = 0;
	size_t n;
	int all_zero = 1;

	n = cm_proto_build_backend_key(buf, sizeof(buf), 99, -123456);
	is_int(n, 13, "BackendKeyData is 13 bytes");
	is_int(buf[0], 'K', "BackendKeyData type byte");
	is_int(cm_proto_get_u32(buf + 1), 12, "BackendKeyData length word");
	is_int((int32_t) cm_proto_get_u32(buf + 5), 99, "BackendKeyData pid");
	is_int((int32_t) cm_proto_get_u32(buf + 9), -123456, "BackendKeyData key");
	is_int(cm_proto_parse_header(buf, n, 8192, &type, &total), CM_HEADER_OK,
		   "BackendKeyData header parses");
	is_int(type, 'K', "header type K");
	is_int(total, 13, "header total 13");
	for (size_t cap = 0; cap < 13; cap++)
		all_zero = all_zero && cm_proto_build_backend_key(small, cap, 1, 2) == 0;
	ok(all_zero, "BackendKeyData builder returns 0 for every cap 0..12");
}

static void
test_header(void)
{
	uint8_t buf[16] = {'Z', 0, 0, 0, 5, 'I'};
	char type;
	uint32_t total;
	int all = 1;

	for (size_t len = 0; len < 5; len++)
		all = all && cm_proto_parse_header(buf, len, 8192, &type, &total) ==
						 CM_HEADER_NEED_MORE;
	ok(all, "header: NEED_MORE for 0..4 bytes");

	type = 0;
	total = 0;
	is_int(cm_proto_parse_header(buf, 5, 8192, &type, &total), CM_HEADER_OK,
		   "header of ReadyForQuery");
	is_int(type, 'Z', "header type");
	is_int(total, 6, "header total counts the type byte");

	for (uint32_t body = 0; body < 4; body++)
	{
		cm_proto_put_u32(buf + 1, body);
		is_int(cm_proto_parse_header(buf, 5, 8192, &type, &total),
			   CM_HEADER_BAD_LENGTH, "header length %u is too small", body);
	}
	cm_proto_put_u32(buf + 1, 4);
	is_int(cm_proto_parse_header(buf, 5, 8192, &type, &total), CM_HEADER_OK,
		   "header length 4 (empty body) is fine");
	is_int(total, 5, "its total is 5");

	cm_proto_put_u32(buf + 1, 8191);
	is_int(cm_proto_parse_header(buf, 5, 8192, &type, &total), CM_HEADER_OK,
		   "total equal to max_len accepted");
	is_int(total, 8192, "its total is max_len");
	cm_proto_put_u32(buf + 1, 8192);
	is_int(cm_proto_parse_header(buf, 5, 8192, &type, &total),
		   CM_HEADER_BAD_LENGTH, "total one above max_len rejected");
	cm_proto_put_u32(buf + 1, 0x7fffffffu);
	is_int(cm_proto_parse_header(buf, 5, 8192, &type, &total),
		   CM_HEADER_BAD_LENGTH, "length 0x7fffffff rejected");
	cm_proto_put_u32(buf + 1, 0xffffffffu);
	is_int(cm_proto_parse_header(buf, 5, 8192, &type, &total),
		   CM_HEADER_BAD_LENGTH, "length 0xffffffff rejected");
	is_int(cm_proto_parse_header(buf, 5, UINT32_MAX, &type, &total),
		   CM_HEADER_BAD_LENGTH,
		   "length 0xffffffff rejected even with max_len UINT32_MAX");
	cm_proto_put_u32(buf + 1, 4);
	is_int(cm_proto_parse_header(buf, 5, 0, &type, &total),
		   CM_HEADER_BAD_LENGTH, "max_len 0 accepts nothing");
	is_int(cm_proto_parse_header(buf, 5, 4, &type, &total),
		   CM_HEADER_BAD_LENGTH, "max_len 4 accepts nothing");
	is_int(cm_proto_parse_header(buf, 5, 5, &type, &total), CM_HEADER_OK,
		   "max_len 5 accepts an empty message");
}

static void
test_u32(void)
{
	uint8_t b[4];

	cm_proto_put_u32(b, 0x01020304u);
	ok(b[0] == 1 && b[1] == 2 && b[2] == 3 && b[3] == 4,
	   "put_u32 is big-endian");
	is_int(cm_proto_get_u32(b), 0x01020304u, "get_u32 reads it back");
	cm_proto_put_u32(b, 0xfffefdfcu);
	is_int(cm_proto_get_u32(b), 0xfffefdfcu, "get_u32 with high bits");
}

/* Fields read back out of an ErrorResponse, and malformed ones refused. */
static void
test_error_field(void)
{
	uint8_t buf[512];
	char out[16];
	char tiny[3];
	size_t n = cm_proto_build_error(buf, sizeof(buf), "FATAL", "57P03",
									"the database system is shutting down",
									NULL, NULL);

	ok(cm_proto_error_field(buf, n, 'C', out, sizeof(out)) &&
		   strcmp(out, "57P03") == 0,
	   "error field: the SQLSTATE");
	ok(cm_proto_error_field(buf, n, 'S', out, sizeof(out)) &&
		   strcmp(out, "FATAL") == 0,
	   "error field: the severity");
	ok(!cm_proto_error_field(buf, n, 'D', out, sizeof(out)),
	   "error field: one that is not there");
	ok(cm_proto_error_field(buf, n, 'C', tiny, sizeof(tiny)) &&
		   strcmp(tiny, "57") == 0,
	   "error field: cut to the room given");
	/* the message ends inside the fields: nothing past it is read */
	for (size_t cut = 0; cut < n; cut++)
	{
		uint8_t *copy = malloc(cut);

		memcpy(copy, buf, cut);
		if (cm_proto_error_field(copy, cut, 'M', out, sizeof(out)) && cut < n - 1)
		{
			ok(0, "error field: a message cut at %zu is read", cut);
			free(copy);
			return;
		}
		free(copy);
	}
	ok(1, "error field: a cut message never yields the field after the cut");
}

int
main(void)
{
	test_u32();
	test_requests();
	test_startup();
	test_replication();
	test_bad_lengths();
	test_bad_versions();
	test_bad_layouts();
	test_round_trip();
	test_error_builder();
	test_backend_key();
	test_header();
	test_error_field();
	free(heap_copy);
	return done_testing();
}
