/*
 * test_md5.c
 *		Unit tests of PostgreSQL's md5 password scheme in src/md5.c.
 *
 * The stored hash was made by PostgreSQL 15.20 itself:
 *		SET password_encryption = 'md5'; CREATE ROLE y PASSWORD 'secret';
 * and the salted responses were accepted by that server in a live login
 * (salts 3d45084f and 1f176ca3) or computed with Python's hashlib.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_md5.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define PG_MD5_Y "md5d18bf5f8eddaae3aed1d69b23a252748"

static void
test_stored_hash(void)
{
	char out[CM_MD5_HASH_LEN + 1];

	ok(cm_md5_hash_password("secret", "y", out), "hash computed");
	is_str(out, PG_MD5_Y, "md5(password || role) as PostgreSQL stores it");
	ok(cm_md5_hash_password("", "", out), "empty password and role");
	is_str(out, "md5d41d8cd98f00b204e9800998ecf8427e", "md5 of nothing");

	ok(cm_md5_is_hash(PG_MD5_Y), "PostgreSQL's hash is recognised");
	ok(!cm_md5_is_hash("md5D18BF5F8EDDAAE3AED1D69B23A252748"),
	   "upper-case hex is not");
	ok(!cm_md5_is_hash("md5d18bf5f8eddaae3aed1d69b23a25274"), "too short");
	ok(!cm_md5_is_hash(PG_MD5_Y "0"), "too long");
	ok(!cm_md5_is_hash("MD5d18bf5f8eddaae3aed1d69b23a252748"), "MD5 prefix");
	ok(!cm_md5_is_hash("md5d18bf5f8eddaae3aed1d69b23a25274g"), "non-hex");
	ok(!cm_md5_is_hash("SCRAM-SHA-256$4096:abc"), "a SCRAM secret is not");
	ok(!cm_md5_is_hash(""), "empty");
}

static void
test_salted_response(void)
{
	static const struct
	{
		uint8_t salt[4];
		const char *response;
	} cases[] = {
		{{0x3d, 0x45, 0x08, 0x4f}, "md5f397f05fd428e5cb6d9912447f548781"},
		{{0x1f, 0x17, 0x6c, 0xa3}, "md5c9effd8c32376c730b969b2291debe28"},
		{{0x01, 0x02, 0x03, 0x04}, "md59d5a65ea29a0dfa6decb3ca37621c86c"},
		{{0xff, 0x00, 0x80, 0x7f}, "md52e794db9269e4722d734fabc18272cff"},
	};
	char out[CM_MD5_HASH_LEN + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const uint8_t *s = cases[i].salt;

		is_int(cm_md5_salted_response(PG_MD5_Y, s, out), CM_MD5_OK,
			   "response for salt %02x%02x%02x%02x", s[0], s[1], s[2], s[3]);
		is_str(out, cases[i].response, "salt %02x%02x%02x%02x: %s", s[0], s[1],
			   s[2], s[3], cases[i].response);
		is_int(cm_md5_verify_response(PG_MD5_Y, s, cases[i].response,
									  CM_MD5_HASH_LEN),
			   CM_MD5_OK, "salt %02x%02x%02x%02x: verified", s[0], s[1], s[2],
			   s[3]);
	}
	is_int(cm_md5_salted_response("md5short", cases[0].salt, out),
		   CM_MD5_BAD_SECRET, "no response from a non-md5 secret");
}

static void
test_verify(void)
{
	const uint8_t salt[4] = {0x01, 0x02, 0x03, 0x04};
	const char *good = "md59d5a65ea29a0dfa6decb3ca37621c86c";
	char hash[CM_MD5_HASH_LEN + 1];
	char other[CM_MD5_HASH_LEN + 1];
	char *exact = malloc(CM_MD5_HASH_LEN);

	/* an exact-length heap copy: no terminator to lean on */
	memcpy(exact, good, CM_MD5_HASH_LEN);
	is_int(cm_md5_verify_response(PG_MD5_Y, salt, exact, CM_MD5_HASH_LEN),
		   CM_MD5_OK, "response without a terminator verified");
	free(exact);

	is_int(cm_md5_verify_response(PG_MD5_Y, salt,
								  "md59D5A65EA29A0DFA6DECB3CA37621C86C",
								  CM_MD5_HASH_LEN),
		   CM_MD5_WRONG_PASSWORD, "upper-case response is wrong");
	is_int(cm_md5_verify_response(PG_MD5_Y, salt, good, CM_MD5_HASH_LEN - 1),
		   CM_MD5_WRONG_PASSWORD, "truncated response is wrong");
	is_int(cm_md5_verify_response(PG_MD5_Y, salt, "", 0),
		   CM_MD5_WRONG_PASSWORD, "empty response is wrong");
	is_int(cm_md5_verify_response(PG_MD5_Y, salt, "secret", 6),
		   CM_MD5_WRONG_PASSWORD, "cleartext instead of a response is wrong");
	ok(cm_md5_hash_password("secret", "y", hash) &&
		   cm_md5_salted_response(hash, (const uint8_t *) "\x01\x02\x03\x05",
								  other) == CM_MD5_OK,
	   "response for another salt computed");
	is_int(cm_md5_verify_response(PG_MD5_Y, salt, other, CM_MD5_HASH_LEN),
		   CM_MD5_WRONG_PASSWORD, "a response for another salt is wrong");
	is_int(cm_md5_verify_response("SCRAM-SHA-256$4096:x", salt, good,
								  CM_MD5_HASH_LEN),
		   CM_MD5_BAD_SECRET, "a SCRAM secret cannot check an md5 response");

	is_int(cm_md5_verify_password(PG_MD5_Y, "y", "secret"), CM_MD5_OK,
		   "cleartext password verified");
	is_int(cm_md5_verify_password(PG_MD5_Y, "y", "Secret"),
		   CM_MD5_WRONG_PASSWORD, "wrong cleartext password");
	is_int(cm_md5_verify_password(PG_MD5_Y, "z", "secret"),
		   CM_MD5_WRONG_PASSWORD, "the role name is part of the hash");
	is_int(cm_md5_verify_password("md5", "y", "secret"), CM_MD5_BAD_SECRET,
		   "cleartext against a non-md5 secret");
}

int
main(void)
{
	test_stored_hash();
	test_salted_response();
	test_verify();
	return done_testing();
}
