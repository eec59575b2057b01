/*
 * test_proof.c
 *		Unit tests of the connection manager's proof token (src/proof_token.c).
 *
 * The expected tokens were computed with Python's hmac module, apart from
 * this code: HMAC-SHA256(bytes 0..31, "v1" NUL seconds NUL nonce NUL user
 * NUL database NUL address NUL port).  t/070_proof.pl checks the same
 * format from Perl against a running server.
 */
#include "cm_proof.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define TOKEN_V4                                                              \
	"v1:1700000000:0011223344556677:192.0.2.7:40001:"                         \
	"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d"
#define TOKEN_V6                                                              \
	"v1:1700000000:0011223344556677:2001:db8::1:5432:"                        \
	"9e61729a8a07e797e4a566aba090b2a996ac2eb69663423f55f8b16266719a4c"
#define NOW 1700000000LL

static uint8_t secret[CM_PROOF_SECRET_LEN];
static const uint8_t nonce[CM_PROOF_NONCE_LEN] = {0x00, 0x11, 0x22, 0x33,
												  0x44, 0x55, 0x66, 0x77};

static void
test_format(void)
{
	char out[CM_PROOF_TOKEN_SIZE];
	char small[40];
	const uint8_t ones[CM_PROOF_NONCE_LEN] = {0xff, 0xff, 0xff, 0xff,
											  0xff, 0xff, 0xff, 0xff};

	ok(cm_proof_format(secret, NOW, nonce, "alice", "postgres", "192.0.2.7",
					   40001, out, sizeof(out)),
	   "IPv4 token made");
	is_str(out, TOKEN_V4, "IPv4 token as computed apart");
	ok(cm_proof_format(secret, NOW, nonce, "alice", "postgres", "2001:db8::1",
					   5432, out, sizeof(out)),
	   "IPv6 token made");
	is_str(out, TOKEN_V6, "IPv6 token as computed apart");

	/* the separators keep "a|b"/"c" and "a"/"b|c" apart */
	ok(cm_proof_format(secret, 0, ones, "a|b", "c", "::1", 0, out, sizeof(out)),
	   "names with | made");
	is_str(out,
		   "v1:0:ffffffffffffffff:::1:0:"
		   "5801a6253b02f2a6b20c1e928ae78fd9cef6d8b85b466c0adf4e6c1851487122",
		   "user a|b, database c");
	ok(cm_proof_format(secret, 0, ones, "a", "b|c", "::1", 0, out, sizeof(out)),
	   "other split made");
	is_str(out,
		   "v1:0:ffffffffffffffff:::1:0:"
		   "0ba3cf31cb4f5474a38b150357a8e2f8a008e2f59aacaf0a5dfb3c3fcec21ebb",
		   "user a, database b|c: another HMAC");

	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", "?", 1, out,
						sizeof(out)),
	   "non-numeric address refused");
	is_str(out, "", "output left empty");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres",
						"fe80::1%eth0", 1, out, sizeof(out)),
	   "scoped address refused");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", "localhost",
						1, out, sizeof(out)),
	   "host name refused");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", "127.0.0.1",
						65536, out, sizeof(out)),
	   "port above 65535 refused");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", "127.0.0.1",
						-1, out, sizeof(out)),
	   "negative port refused");
	ok(!cm_proof_format(secret, -1, nonce, "alice", "postgres", "127.0.0.1", 1,
						out, sizeof(out)),
	   "negative time refused");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", "127.0.0.1",
						1, small, sizeof(small)),
	   "small buffer refused");
	is_str(small, "", "small buffer left empty");
}

static void
test_parse(void)
{
	CmProofToken t;

	is_int(cm_proof_parse(TOKEN_V6, &t), CM_PROOF_OK, "IPv6 token parsed");
	is_str(t.client_addr, "2001:db8::1", "address with colons");
	is_int(t.client_port, 5432, "port");
	is_int(t.seconds, NOW, "seconds");
	ok(memcmp(t.nonce, nonce, sizeof(nonce)) == 0, "nonce");
	is_int(cm_proof_parse(TOKEN_V4, &t), CM_PROOF_OK, "IPv4 token parsed");
	is_str(t.client_addr, "192.0.2.7", "IPv4 address");
	is_int(t.client_port, 40001, "IPv4 port");
}

static void
test_malformed(void)
{
	static const char *bad[] = {
		"",
		"v1",
		"v1:",
		"v2:1700000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"V1:1700000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		/* leading zero, sign, empty seconds */
		"v1:01700000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:+1700000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1::0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		/* nineteen digits */
		"v1:1000000000000000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		/* nonce: upper case, short, long */
		"v1:1700000000:00112233445566AA:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:001122334455667:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:001122334455667788:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		/* address: missing, name, scoped, trailing garbage */
		"v1:1700000000:0011223344556677::40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:0011223344556677:localhost:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:0011223344556677:fe80::1%eth0:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:0011223344556677:192.0.2.7x:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		/* port: missing, too big, leading zero, not a number */
		"v1:1700000000:0011223344556677:192.0.2.7:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:0011223344556677:192.0.2.7::"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:0011223344556677:192.0.2.7:65536:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:0011223344556677:192.0.2.7:040001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		"v1:1700000000:0011223344556677:192.0.2.7:4000a:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		/* hmac: upper case, short, long, missing */
		"v1:1700000000:0011223344556677:192.0.2.7:40001:"
		"1DD94992EE2A250E7A2908651FA569A84F446EB1CDF6E6DA895F9D3BD0CB550D",
		"v1:1700000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550",
		"v1:1700000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d0",
		"v1:1700000000:0011223344556677:192.0.2.7:40001",
		"v1:1700000000:0011223344556677:192.0.2.7:40001:",
		/* extra field, space */
		"v1:1700000000:0011223344556677:x:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
		" v1:1700000000:0011223344556677:192.0.2.7:40001:"
		"1dd94992ee2a250e7a2908651fa569a84f446eb1cdf6e6da895f9d3bd0cb550d",
	};
	CmProofToken t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		is_int(cm_proof_parse(bad[i], &t), CM_PROOF_MALFORMED,
			   "malformed %zu refused by the parser", i);
		is_int(cm_proof_verify(secret, bad[i], "alice", "postgres", NOW, &t),
			   CM_PROOF_MALFORMED, "malformed %zu refused by the check", i);
	}
}

static void
test_verify(void)
{
	CmProofToken t;
	uint8_t other[CM_PROOF_SECRET_LEN];
	char tampered[CM_PROOF_TOKEN_SIZE];

	memcpy(other, secret, sizeof(other));
	other[31] ^= 1;

	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres", NOW, &t),
		   CM_PROOF_OK, "valid token accepted");
	is_str(t.client_addr, "192.0.2.7", "client address returned");
	is_int(cm_proof_verify(secret, TOKEN_V6, "alice", "postgres", NOW, NULL),
		   CM_PROOF_OK, "valid IPv6 token accepted");
	is_int(cm_proof_verify(secret, TOKEN_V4, "bob", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "other user refused");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "template1", NOW, &t),
		   CM_PROOF_BAD_MAC, "other database refused");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alicepostgres", "", NOW, &t),
		   CM_PROOF_BAD_MAC, "names moved across the separator refused");
	is_int(cm_proof_verify(other, TOKEN_V4, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "other secret refused");

	/* any changed field breaks the HMAC */
	strcpy(tampered, TOKEN_V4);
	memcpy(tampered + 3, "1700000001", 10);
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed time refused");
	strcpy(tampered, TOKEN_V4);
	tampered[14] = 'f';
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed nonce refused");
	strcpy(tampered, TOKEN_V4);
	tampered[39] = '8';
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed address refused");
	strcpy(tampered, TOKEN_V4);
	tampered[45] = '2';
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed port refused");
	strcpy(tampered, TOKEN_V4);
	tampered[strlen(tampered) - 1] = 'e';
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed hmac refused");

	/* the window, either direction, bounds included */
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW + CM_PROOF_WINDOW_SECONDS, &t),
		   CM_PROOF_OK, "60 s old accepted");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW + CM_PROOF_WINDOW_SECONDS + 1, &t),
		   CM_PROOF_TOO_OLD, "61 s old refused");
	is_int(t.seconds, NOW, "fields returned with an old token");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW - CM_PROOF_WINDOW_SECONDS, &t),
		   CM_PROOF_OK, "60 s ahead accepted");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW - CM_PROOF_WINDOW_SECONDS - 1, &t),
		   CM_PROOF_TOO_NEW, "61 s ahead refused");
}

/* Whatever the inputs, a token made is a token that verifies. */
static void
test_round_trip(void)
{
	static const char *addrs[] = {"0.0.0.0",
								  "255.255.255.255",
								  "::",
								  "::1",
								  "::ffff:127.0.0.1",
								  "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"};
	char user[256];
	char out[CM_PROOF_TOKEN_SIZE];
	CmProofToken t;

	memset(user, 'u', 255);
	user[255] = '\0';
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
	{
		ok(cm_proof_format(secret, 999999999999999999LL, nonce, user, "",
						   addrs[i], 65535, out, sizeof(out)),
		   "made for %s", addrs[i]);
		is_int(cm_proof_verify(secret, out, user, "", 999999999999999999LL, &t),
			   CM_PROOF_OK, "verified for %s", addrs[i]);
		is_str(t.client_addr, addrs[i], "address kept: %s", addrs[i]);
	}
	ok(!cm_proof_format(secret, 1, nonce, "", "", "::1", 1, out, 0),
	   "zero capacity refused");
	{
		char longer[300];

		memset(longer, 'l', 256);
		longer[256] = '\0';
		ok(!cm_proof_format(secret, 1, nonce, longer, "", "::1", 1, out,
							sizeof(out)),
		   "user over 255 bytes refused");
		ok(cm_proof_format(secret, 1, nonce, "", "", "::1", 1, out, sizeof(out)),
		   "token for empty names made");
		is_int(cm_proof_verify(secret, out, longer, "", 1, &t),
			   CM_PROOF_BAD_MAC, "over-long user never verifies");
	}
	is_str(cm_proof_status_name(CM_PROOF_TOO_NEW), "timestamp in the future",
		   "status names");
}

int
main(void)
{
	for (int i = 0; i < CM_PROOF_SECRET_LEN; i++)
		secret[i] = (uint8_t) i;
	test_format();
	test_parse();
	test_malformed();
	test_verify();
	test_round_trip();
	return done_testing();
}
