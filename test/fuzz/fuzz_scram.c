/*
 * fuzz_scram.c
 *		libFuzzer target for SCRAM-SHA-256 (src/scram.c) against a fixed
 *		secret made by PostgreSQL, plus the codecs and md5 beneath it.
 *
 * Input: one flags byte, a two-byte big-endian length L, then two
 * messages: data[3 .. 3+L) and the rest.  Flags & 3 picks the mode:
 *	0	server: client-first-message, client-final-message, both raw;
 *	1	server: client-first-message, then a client-final-message without
 *		proof, to which the harness appends the correct proof, so the
 *		success path is reached and must be reached;
 *	2	client: server-first-message, server-final-message; the harness
 *		also checks that the correct server-final-message is accepted;
 *	3	secret text, base64, hex and md5 round trips.
 * Flag 4 offers SCRAM-SHA-256-PLUS, 8 selects it, 16 uses a mock secret
 * (server) or a password instead of pass-through (client).
 *
 * Beyond "does not crash", it checks what the module promises: statuses
 * and errors are well-formed, outputs are terminated and of the stated
 * length, a success means the recovered ClientKey hashes to the StoredKey,
 * a mock never succeeds, and a correctly signed message always does.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#define _GNU_SOURCE /* memmem */

#include "cm_encoding.h"
#include "cm_md5.h"
#include "cm_scram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

#define PG_SECRET_X                                                           \
	"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15" \
	"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw="
#define PG_MD5_Y "md5d18bf5f8eddaae3aed1d69b23a252748"

/* Fixtures, set up once: the secret of role x (password "secret"). */
static CmScramSecret secret_x;
static CmScramSecret mock_secret;
static uint8_t client_key_x[CM_SCRAM_KEY_LEN];
static const uint8_t random18[18] = {1,	 2,	 3,	 4,	 5,	 6,	 7,	 8,	 9,
									 10, 11, 12, 13, 14, 15, 16, 17, 18};
static const uint8_t cert_hash[32] = {0x41, 0xff, 0xe0, 0x9d, 0xed, 0x51};

static void
setup(void)
{
	static int done;
	uint8_t salted[CM_SCRAM_KEY_LEN];
	uint8_t nonce[CM_SCRAM_MOCK_NONCE_LEN] = {42};

	if (done)
		return;
	CHECK(cm_scram_secret_parse(PG_SECRET_X, &secret_x, NULL) == CM_SCRAM_OK);
	CHECK(cm_scram_salted_password("secret", 6, secret_x.salt, secret_x.salt_len,
								   secret_x.iterations, salted));
	CHECK(cm_scram_keys(salted, client_key_x, NULL, NULL));
	CHECK(cm_scram_secret_mock(nonce, sizeof(nonce), "ghost", &mock_secret,
							   NULL) == CM_SCRAM_OK);
	done = 1;
}

static void
check_error(CmScramStatus status, const CmScramError *err)
{
	CHECK(status > CM_SCRAM_OK && status <= CM_SCRAM_INTERNAL);
	CHECK(err->status == status);
	CHECK(err->message != NULL && err->message[0] != '\0');
	CHECK(err->sqlstate != NULL && strlen(err->sqlstate) == 5);
	/* the module does no crypto failures or misuse in these paths */
	CHECK(status != CM_SCRAM_INTERNAL && status != CM_SCRAM_BAD_CALL);
}

static void
check_output(const char *out, size_t out_len)
{
	CHECK(out != NULL);
	CHECK(out_len > 0 && out_len <= 2 * CM_SCRAM_MAX_MESSAGE_LEN);
	CHECK(strlen(out) == out_len);
}

/* A heap copy of exactly len bytes, so ASan sees reads past the end. */
static char *
copy_exact(const uint8_t *data, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	CHECK(p != NULL);
	if (len > 0)
		memcpy(p, data, len);
	return p;
}

static void
hmac_proof(const char *bare, size_t bare_len, const char *server_first,
		   const char *without_proof, size_t wp_len, const uint8_t *key,
		   const uint8_t *signing_key, uint8_t out[CM_SCRAM_KEY_LEN])
{
	size_t sf_len = strlen(server_first);
	size_t len = bare_len + 1 + sf_len + 1 + wp_len;
	char *am = malloc(len);
	uint8_t sig[CM_SCRAM_KEY_LEN];

	CHECK(am != NULL);
	memcpy(am, bare, bare_len);
	am[bare_len] = ',';
	memcpy(am + bare_len + 1, server_first, sf_len);
	am[bare_len + 1 + sf_len] = ',';
	memcpy(am + bare_len + 2 + sf_len, without_proof, wp_len);
	CHECK(cm_scram_signature(signing_key, am, len, sig));
	free(am);
	for (int i = 0; i < CM_SCRAM_KEY_LEN; i++)
		out[i] = (key ? key[i] : 0) ^ sig[i];
}

static void
fuzz_server(uint8_t flags, const uint8_t *first, size_t first_len,
			const uint8_t *second, size_t second_len)
{
	bool sign = (flags & 3) == 1;
	const CmScramSecret *secret = (flags & 16) ? &mock_secret : &secret_x;
	CmScramBinding binding = {(flags & 4) != 0, (flags & 4) && (flags & 8),
							  cert_hash, sizeof(cert_hash)};
	CmScramServer *server;
	CmScramError err;
	CmScramStatus st;
	const char *out;
	size_t out_len;
	char *msg;
	char *server_first;
	char *final;
	size_t final_len;
	uint8_t key[CM_SCRAM_KEY_LEN];
	uint8_t stored[CM_SCRAM_KEY_LEN];

	CHECK(cm_scram_server_begin(secret, &binding, random18, 18, &server,
								&err) == CM_SCRAM_OK);
	msg = copy_exact(first, first_len);
	st = cm_scram_server_step(server, msg, first_len, &out, &out_len, &err);
	if (st != CM_SCRAM_OK)
	{
		check_error(st, &err);
		CHECK(out == NULL && out_len == 0);
		CHECK(cm_scram_server_state(server) == CM_SCRAM_SERVER_FAILED);
		free(msg);
		cm_scram_server_free(server);
		return;
	}
	check_output(out, out_len);
	CHECK(cm_scram_server_state(server) == CM_SCRAM_SERVER_EXPECT_CLIENT_FINAL);
	CHECK(strncmp(out, "r=", 2) == 0);
	CHECK(strstr(out, "AQIDBAUGBwgJCgsMDQ4PEBES,s=") != NULL);
	server_first = strdup(out);
	CHECK(server_first != NULL);

	if (sign)
	{
		/* the bare message follows the gs2 header's ",," */
		const char *bare = memmem(msg, first_len, ",,", 2);
		uint8_t proof[CM_SCRAM_KEY_LEN];
		char proof64[CM_BASE64_ENCODED_LEN(CM_SCRAM_KEY_LEN) + 1];

		CHECK(bare != NULL);
		bare += 2;
		hmac_proof(bare, (size_t) (msg + first_len - bare), server_first,
				   (const char *) second, second_len, client_key_x,
				   secret_x.stored_key, proof);
		CHECK(cm_base64_encode(proof, sizeof(proof), proof64, sizeof(proof64),
							   NULL));
		final_len = second_len + 3 + strlen(proof64);
		final = malloc(final_len);
		CHECK(final != NULL);
		if (second_len > 0)
			memcpy(final, second, second_len);
		memcpy(final + second_len, ",p=", 3);
		memcpy(final + second_len + 3, proof64, strlen(proof64));
	}
	else
	{
		final = copy_exact(second, second_len);
		final_len = second_len;
	}

	st = cm_scram_server_step(server, final, final_len, &out, &out_len, &err);
	if (st == CM_SCRAM_OK)
	{
		check_output(out, out_len);
		CHECK(secret == &secret_x);
		CHECK(cm_scram_server_state(server) == CM_SCRAM_SERVER_DONE);
		CHECK(out_len == 2 + CM_BASE64_ENCODED_LEN(CM_SCRAM_KEY_LEN));
		CHECK(strncmp(out, "v=", 2) == 0);
		CHECK(cm_scram_server_client_key(server, key));
		CHECK(cm_scram_stored_key(key, stored));
		CHECK(memcmp(stored, secret_x.stored_key, CM_SCRAM_KEY_LEN) == 0);
		CHECK(memcmp(key, client_key_x, CM_SCRAM_KEY_LEN) == 0);
	}
	else
	{
		check_error(st, &err);
		CHECK(cm_scram_server_state(server) == CM_SCRAM_SERVER_FAILED);
		CHECK(!cm_scram_server_client_key(server, key));
		/* a correctly signed message that parses must verify */
		if (sign && secret == &secret_x)
			CHECK(st != CM_SCRAM_WRONG_PASSWORD);
	}
	CHECK(cm_scram_server_step(server, final, final_len, &out, &out_len,
							   &err) == CM_SCRAM_BAD_CALL);
	free(final);
	free(server_first);
	free(msg);
	cm_scram_server_free(server);
}

/* The iteration count a server-first-message asks for, or 0. */
static long
requested_iterations(const uint8_t *msg, size_t len)
{
	const uint8_t *i = memmem(msg, len, ",i=", 3);
	long v = 0;

	if (i == NULL)
		return 0;
	for (i += 3; i < msg + len && *i >= '0' && *i <= '9' && v < 1000000; i++)
		v = v * 10 + (*i - '0');
	return v;
}

static void
fuzz_client(uint8_t flags, const uint8_t *first, size_t first_len,
			const uint8_t *second, size_t second_len)
{
	bool by_password = (flags & 16) != 0;
	CmScramClientConfig config = {0};
	CmScramClient *client;
	CmScramClient *twin;
	CmScramError err;
	CmScramStatus st;
	const char *out;
	size_t out_len;
	const char *client_first;
	char *msg;
	char *final;
	char signature64[CM_BASE64_ENCODED_LEN(CM_SCRAM_KEY_LEN) + 3];
	uint8_t signature[CM_SCRAM_KEY_LEN];
	uint8_t salted[CM_SCRAM_KEY_LEN];
	uint8_t server_key[CM_SCRAM_KEY_LEN];
	char *server_first;
	size_t wp_len;

	/* PBKDF2 with a large count is slow, not interesting */
	if (by_password && requested_iterations(first, first_len) > 64)
		return;
	if (by_password)
		config.password = "secret";
	else
	{
		config.secret = &secret_x;
		config.client_key = client_key_x;
	}
	config.random = random18;
	config.random_len = 18;
	CHECK(cm_scram_client_begin(&config, &client, &err) == CM_SCRAM_OK);
	CHECK(cm_scram_client_begin(&config, &twin, &err) == CM_SCRAM_OK);
	CHECK(cm_scram_client_step(client, NULL, 0, &client_first, &out_len,
							   &err) == CM_SCRAM_OK);
	CHECK(strcmp(client_first, "n,,n=,r=AQIDBAUGBwgJCgsMDQ4PEBES") == 0);
	CHECK(cm_scram_client_step(twin, NULL, 0, &out, &out_len, &err) ==
		  CM_SCRAM_OK);

	msg = copy_exact(first, first_len);
	st = cm_scram_client_step(client, msg, first_len, &out, &out_len, &err);
	if (st != CM_SCRAM_OK)
	{
		check_error(st, &err);
		CHECK(cm_scram_client_state(client) == CM_SCRAM_CLIENT_FAILED);
		if (st == CM_SCRAM_PASSTHROUGH_MISMATCH)
			CHECK(!by_password);
		goto done;
	}
	check_output(out, out_len);
	CHECK(strncmp(out, "c=biws,r=AQIDBAUGBwgJCgsMDQ4PEBES", 33) == 0);
	CHECK(out_len > 3 + CM_BASE64_ENCODED_LEN(CM_SCRAM_KEY_LEN));
	wp_len = out_len - 3 - CM_BASE64_ENCODED_LEN(CM_SCRAM_KEY_LEN);
	CHECK(memcmp(out + wp_len, ",p=", 3) == 0);
	final = strdup(out);
	CHECK(final != NULL);

	/* the twin gets the right server-final-message and must accept it */
	CHECK(cm_scram_client_step(twin, msg, first_len, &out, &out_len, &err) ==
		  CM_SCRAM_OK);
	CHECK(strcmp(out, final) == 0);
	if (by_password)
	{
		/* the server-first's salt and count, as the client accepted them */
		const uint8_t *s = memmem(first, first_len, ",s=", 3) + 3;
		const uint8_t *i = memmem(first, first_len, ",i=", 3);
		size_t salt_len = 0;
		uint8_t salt[CM_SCRAM_MAX_SALT_LEN];

		CHECK(cm_base64_decode((const char *) s, (size_t) (i - s), salt,
							   sizeof(salt), &salt_len));
		CHECK(cm_scram_salted_password("secret", 6, salt, salt_len,
									   (int32_t) requested_iterations(first,
																	  first_len),
									   salted));
		CHECK(cm_scram_keys(salted, NULL, NULL, server_key));
	}
	else
		memcpy(server_key, secret_x.server_key, CM_SCRAM_KEY_LEN);
	server_first = malloc(first_len + 1);
	CHECK(server_first != NULL);
	memcpy(server_first, first, first_len);
	server_first[first_len] = '\0';
	hmac_proof(client_first + 3, strlen(client_first) - 3, server_first, final,
			   wp_len, NULL, server_key, signature);
	free(server_first);
	memcpy(signature64, "v=", 2);
	CHECK(cm_base64_encode(signature, sizeof(signature), signature64 + 2,
						   sizeof(signature64) - 2, NULL));
	CHECK(cm_scram_client_step(twin, signature64, strlen(signature64), &out,
							   &out_len, &err) == CM_SCRAM_OK);
	CHECK(cm_scram_client_state(twin) == CM_SCRAM_CLIENT_DONE);
	free(final);

	/* and the fuzzed one */
	free(msg);
	msg = copy_exact(second, second_len);
	st = cm_scram_client_step(client, msg, second_len, &out, &out_len, &err);
	if (st == CM_SCRAM_OK)
	{
		CHECK(second_len == strlen(signature64));
		CHECK(memcmp(msg, signature64, second_len) == 0);
		CHECK(cm_scram_client_state(client) == CM_SCRAM_CLIENT_DONE);
	}
	else
		check_error(st, &err);
done:
	free(msg);
	cm_scram_client_free(client);
	cm_scram_client_free(twin);
}

static void
fuzz_codecs(const uint8_t *data, size_t size)
{
	char *text = copy_exact(data, size);
	char *terminated = malloc(size + 1);
	uint8_t *bytes = malloc(size + 1);
	char *again = malloc(2 * size + 8);
	size_t n = 0;
	CmScramSecret secret;
	CmScramSecret reparsed;
	char formatted[CM_SCRAM_MAX_SECRET_LEN + 1];
	char expected[CM_MD5_HASH_LEN + 1];

	CHECK(terminated != NULL && bytes != NULL && again != NULL);

	/* strict base64: whatever decodes encodes back to the same text */
	if (cm_base64_decode(text, size, bytes, size, &n))
	{
		CHECK(n <= size / 4 * 3);
		CHECK(cm_base64_encode(bytes, n, again, 2 * size + 8, NULL));
		CHECK(strlen(again) == size && memcmp(again, text, size) == 0);
	}
	if (cm_hex_decode(text, size, bytes, size, &n))
	{
		CHECK(n * 2 == size);
		CHECK(cm_hex_encode(bytes, n, again, 2 * size + 8));
		for (size_t i = 0; i < size; i++)
			CHECK(again[i] == (char) (text[i] >= 'A' && text[i] <= 'F'
										  ? text[i] - 'A' + 'a'
										  : text[i]));
	}

	/* a secret that parses formats to a secret that parses the same */
	memcpy(terminated, data, size);
	terminated[size] = '\0';
	if (cm_scram_secret_parse(terminated, &secret, NULL) == CM_SCRAM_OK)
	{
		size_t len =
			cm_scram_secret_format(&secret, formatted, sizeof(formatted));

		CHECK(len > 0 && len <= strlen(terminated));
		CHECK(cm_scram_secret_parse(formatted, &reparsed, NULL) == CM_SCRAM_OK);
		CHECK(memcmp(&secret, &reparsed, sizeof(secret)) == 0);
	}

	/* md5: only the exact response for this salt verifies */
	if (size >= CM_MD5_SALT_LEN)
	{
		CmMd5Status st;

		CHECK(cm_md5_salted_response(PG_MD5_Y, data, expected) == CM_MD5_OK);
		st = cm_md5_verify_response(PG_MD5_Y, data, text + CM_MD5_SALT_LEN,
									size - CM_MD5_SALT_LEN);

		CHECK((st == CM_MD5_OK) ==
			  (size - CM_MD5_SALT_LEN == CM_MD5_HASH_LEN &&
			   memcmp(text + CM_MD5_SALT_LEN, expected, CM_MD5_HASH_LEN) == 0));
	}
	free(again);
	free(bytes);
	free(terminated);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags;
	size_t first_len;

	setup();
	if (size < 3)
		return 0;
	flags = data[0];
	first_len = ((size_t) data[1] << 8) | data[2];
	data += 3;
	size -= 3;
	if (first_len > size)
		first_len = size;

	switch (flags & 3)
	{
		case 0:
		case 1:
			fuzz_server(flags, data, first_len, data + first_len,
						size - first_len);
			break;
		case 2:
			fuzz_client(flags, data, first_len, data + first_len,
						size - first_len);
			break;
		case 3:
			fuzz_codecs(data, size);
			break;
	}
	return 0;
}
