/*
 * test_scram.c
 *		Unit tests of SCRAM-SHA-256 in src/pure/scram.c: secrets, the server and
 *		client exchanges, pass-through, channel binding and malformed input.
 *
 * Reference data:
 *  - RFC 7677 section 3 (user "user", password "pencil").
 *  - Secrets made by PostgreSQL 15.20 (CREATE ROLE ... PASSWORD with
 *    password_encryption = 'scram-sha-256'), read from pg_authid.
 *  - Exchanges captured live: this client logging into that server, and
 *    libpq (psql) logging into this server, with and without
 *    SCRAM-SHA-256-PLUS; the server nonces are the base64 of the random
 *    bytes used, so replaying those bytes replays the exchange.
 *  - The salt that server sent for the unknown role "ghost", with the mock
 *    authentication nonce pg_controldata printed for it.
 * Every message is fed from a heap copy of exactly its bytes, so
 * AddressSanitizer reports any read past the end.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_encoding.h"
#include "cm_scram.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* a string literal with embedded NULs, as pointer and length */
#define BODY(s) (s), (sizeof(s) - 1)

#define PG_SECRET_X                                                           \
	"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15" \
	"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw="

static char *heap_msg;
static CmScramSecret secret_x; /* PG_SECRET_X, password "secret" */
static uint8_t client_key_x[CM_SCRAM_KEY_LEN];
static const uint8_t random18[18] = {1,	 2,	 3,	 4,	 5,	 6,	 7,	 8,	 9,
									 10, 11, 12, 13, 14, 15, 16, 17, 18};

/* An exact-size heap copy of a message, kept until the next call. */
static const char *
exact(const char *s, size_t len)
{
	free(heap_msg);
	heap_msg = malloc(len > 0 ? len : 1);
	memcpy(heap_msg, s, len);
	return heap_msg;
}

static CmScramStatus
server_feed(CmScramServer *s, const char *msg, const char **out,
			size_t *out_len, CmScramError *err)
{
	return cm_scram_server_step(s, exact(msg, strlen(msg)), strlen(msg), out,
								out_len, err);
}

static CmScramStatus
client_feed(CmScramClient *c, const char *msg, const char **out,
			size_t *out_len, CmScramError *err)
{
	return cm_scram_client_step(c, exact(msg, strlen(msg)), strlen(msg), out,
								out_len, err);
}

static size_t
b64_decode(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (!cm_base64_decode(s, strlen(s), out, cap, &n))
		return 0;
	return n;
}

static void
b64_encode(const uint8_t *bytes, size_t n, char *out, size_t cap)
{
	if (!cm_base64_encode(bytes, n, out, cap, NULL))
		out[0] = '\0';
}

static bool
keys_from_password(const char *password, const CmScramSecret *secret,
				   uint8_t client_key[CM_SCRAM_KEY_LEN])
{
	uint8_t salted[CM_SCRAM_KEY_LEN];

	return cm_scram_salted_password(password, strlen(password), secret->salt,
									secret->salt_len, secret->iterations,
									salted) &&
		   cm_scram_keys(salted, client_key, NULL, NULL);
}

/*
 * A client-final-message with a correct proof: without_proof ",p=" proof,
 * signed over bare "," server_first "," without_proof.
 */
static void
sign_final(char *out, size_t cap, const char *bare, const char *server_first,
		   const char *without_proof, const uint8_t *client_key,
		   const uint8_t *stored_key)
{
	char am[4 * CM_SCRAM_MAX_MESSAGE_LEN];
	uint8_t sig[CM_SCRAM_KEY_LEN];
	uint8_t proof[CM_SCRAM_KEY_LEN];
	char proof64[64];

	snprintf(am, sizeof(am), "%s,%s,%s", bare, server_first, without_proof);
	cm_scram_signature(stored_key, am, strlen(am), sig);
	for (int i = 0; i < CM_SCRAM_KEY_LEN; i++)
		proof[i] = client_key[i] ^ sig[i];
	b64_encode(proof, sizeof(proof), proof64, sizeof(proof64));
	snprintf(out, cap, "%s,p=%s", without_proof, proof64);
}

static void
test_rfc7677(void)
{
	const char *first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
	const char *server_first =
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
	const char *final =
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
		"hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	const char *server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	char am[512];
	uint8_t salt[16];
	uint8_t nonce[15];
	uint8_t proof[CM_SCRAM_KEY_LEN];
	uint8_t sig[CM_SCRAM_KEY_LEN];
	uint8_t key[CM_SCRAM_KEY_LEN];
	uint8_t hashed[CM_SCRAM_KEY_LEN];
	char text[64];
	CmScramSecret secret;
	CmScramError err;
	CmScramClient *client;
	CmScramClientConfig config = {0};
	const char *out;
	size_t out_len;

	ok(b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", salt, sizeof(salt)) == 16,
	   "RFC 7677: salt decoded");
	is_int(cm_scram_secret_from_password("pencil", salt, 16, 4096, &secret, &err),
		   CM_SCRAM_OK, "RFC 7677: keys derived from \"pencil\"");

	/* the math, straight from the AuthMessage */
	snprintf(am, sizeof(am), "%s,%s,%s", first + 3, server_first,
			 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	ok(cm_scram_signature(secret.server_key, am, strlen(am), sig),
	   "RFC 7677: ServerSignature computed");
	b64_encode(sig, sizeof(sig), text, sizeof(text));
	is_str(text, server_final + 2, "RFC 7677: ServerSignature matches");
	ok(b64_decode(final + strlen(final) - 44, proof, sizeof(proof)) == 32,
	   "RFC 7677: proof decoded");
	ok(cm_scram_signature(secret.stored_key, am, strlen(am), sig),
	   "RFC 7677: ClientSignature computed");
	for (int i = 0; i < CM_SCRAM_KEY_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	ok(cm_scram_stored_key(key, hashed) &&
		   memcmp(hashed, secret.stored_key, CM_SCRAM_KEY_LEN) == 0,
	   "RFC 7677: ClientKey recovered from the proof hashes to StoredKey");

	/* the client exchange reproduces the RFC's messages byte for byte */
	ok(b64_decode("rOprNGfwEbeRWgbNEkqO", nonce, sizeof(nonce)) == 15,
	   "RFC 7677: client nonce is base64 of 15 bytes");
	config.password = "pencil";
	config.sasl_user = "user";
	config.random = nonce;
	config.random_len = sizeof(nonce);
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_OK,
		   "RFC 7677: client begins");
	is_int(cm_scram_client_step(client, NULL, 0, &out, &out_len, &err),
		   CM_SCRAM_OK, "RFC 7677: client-first built");
	is_str(out, first, "RFC 7677: client-first-message");
	is_int(out_len, strlen(first), "RFC 7677: client-first length");
	is_int(client_feed(client, server_first, &out, &out_len, &err),
		   CM_SCRAM_OK, "RFC 7677: server-first accepted");
	is_str(out, final, "RFC 7677: client-final-message with the RFC proof");
	is_int(out_len, strlen(final), "RFC 7677: client-final length");
	is_int(client_feed(client, server_final, &out, &out_len, &err),
		   CM_SCRAM_OK, "RFC 7677: server signature verified");
	ok(out == NULL && out_len == 0, "RFC 7677: nothing more to send");
	is_int(cm_scram_client_state(client), CM_SCRAM_CLIENT_DONE,
		   "RFC 7677: client done");
	cm_scram_client_free(client);

	/* a forged signature is caught */
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_OK,
		   "RFC 7677: second client");
	cm_scram_client_step(client, NULL, 0, &out, &out_len, &err);
	client_feed(client, server_first, &out, &out_len, &err);
	is_int(client_feed(client, "v=6rrjTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
					   &out, &out_len, &err),
		   CM_SCRAM_SERVER_REJECTED, "RFC 7677: wrong ServerSignature");
	is_str(err.message, "incorrect server signature",
		   "RFC 7677: wrong ServerSignature message");
	is_int(cm_scram_client_state(client), CM_SCRAM_CLIENT_FAILED,
		   "RFC 7677: client failed");
	cm_scram_client_free(client);
}

static void
test_postgres_secret(void)
{
	CmScramSecret parsed;
	CmScramSecret built;
	CmScramError err;
	char text[CM_SCRAM_MAX_SECRET_LEN + 1];

	is_int(cm_scram_secret_parse(PG_SECRET_X, &parsed, &err), CM_SCRAM_OK,
		   "PostgreSQL secret parsed");
	is_int(parsed.iterations, 4096, "its iterations");
	is_int(parsed.salt_len, 16, "its salt length");
	ok(!parsed.mock, "not a mock");
	is_int(cm_scram_secret_format(&parsed, text, sizeof(text)),
		   strlen(PG_SECRET_X), "formatted back");
	is_str(text, PG_SECRET_X, "formatted back identically");
	is_int(cm_scram_secret_format(&parsed, text, strlen(PG_SECRET_X)), 0,
		   "format refuses a buffer without room for the NUL");

	is_int(cm_scram_secret_from_password("secret", parsed.salt, parsed.salt_len,
										 parsed.iterations, &built, &err),
		   CM_SCRAM_OK, "secret derived from \"secret\" with its salt");
	cm_scram_secret_format(&built, text, sizeof(text));
	is_str(text, PG_SECRET_X, "derivation reproduces PostgreSQL's secret");

	is_int(cm_scram_verify_password(&parsed, "secret", &err), CM_SCRAM_OK,
		   "cleartext \"secret\" verifies");
	is_int(cm_scram_verify_password(&parsed, "Secret", &err),
		   CM_SCRAM_WRONG_PASSWORD, "cleartext \"Secret\" does not");
	is_str(err.sqlstate, "28P01", "wrong cleartext: 28P01");
	is_int(cm_scram_verify_password(&parsed, "", &err),
		   CM_SCRAM_WRONG_PASSWORD, "empty cleartext does not");
}

/*
 * Non-ASCII passwords, secrets made by the same server.  Raw bytes are
 * right whenever SASLprep leaves them alone or PostgreSQL skips it; a
 * prepared password is needed only when SASLprep changes it.
 */
static void
test_saslprep_cases(void)
{
	static const struct
	{
		const char *what;
		const char *password; /* as typed */
		const char *prepared; /* as pg_saslprep() returns it */
		bool needs_prep;
		bool raw_matches;
		const char *secret;
	} cases[] = {
		{"accented, already NFKC", "p\xc3\xa4ssw\xc3\xb6rd",
		 "p\xc3\xa4ssw\xc3\xb6rd", true, true,
		 "SCRAM-SHA-256$4096:KYczl2HtAuHjp5Qd8wskNw==$pLPS/Uo33NHIbl0FuKYKdNV/"
		 "+E8ul+MZLrg0FowbMB4=:jGYnLXVlm+1IebrX/PgNpn3ZcBVJmbUXkZEYDpSqa/w="},
		{"latin-1 bytes, not UTF-8", "p\xe4ss", "p\xe4ss", false, true,
		 "SCRAM-SHA-256$4096:eSn0XV8u3Lbfg63EWrUnXg==$QnwZ+TNW8SOlQH8YTSqS0rXe"
		 "0cNOQaRAOa0snmR1rH4=:C/RmLCY06HAFAK79f1O7CDDl8+3zqFAYPAEH+toH4t4="},
		{"full-width letters",
		 "\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93", "pass", true, false,
		 "SCRAM-SHA-256$4096:Kfuj+riT42AgfCaeaRucdg==$aL2DoaH7WVeAsKiGyzpz70VL"
		 "WzeMOJq8DRrhxgS4QC8=:S18bpe8NC6PVl9ZCFz47mxuI+ydSEU3RhqpHhcFLy8g="},
		{"no-break space",
		 "a\xc2\xa0"
		 "b",
		 "a b", true, false,
		 "SCRAM-SHA-256$4096:Wxkx3ZgRrRHmmWobP57Kgg==$f7F0UUbSEsbq6b6PMRLuF7V2"
		 "e+HPCiH1XjKbZKr8enk=:FsnBEnPd55tUoUcsUD17dVDOtaA4roCf6TqjcbZDF7Y="},
		{"plain ASCII", "pass", "pass", false, true,
		 "SCRAM-SHA-256$4096:FK6FBHQGb8SdQaOTCYIMLA==$xBqR5PqSsth5L+juOSDNOUGl"
		 "807EeqijJzfOtbuRyJo=:NWVEFACg+tNzvfvmM/4Be1s64NWKb4s0MIMNZ/73f9k="},
	};
	CmScramError err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		CmScramSecret secret;

		is_int(cm_scram_secret_parse(cases[i].secret, &secret, &err),
			   CM_SCRAM_OK, "%s: secret parsed", cases[i].what);
		is_int(cm_scram_password_needs_saslprep(cases[i].password),
			   cases[i].needs_prep, "%s: needs SASLprep is %d", cases[i].what,
			   cases[i].needs_prep);
		is_int(cm_scram_verify_password(&secret, cases[i].password, &err),
			   cases[i].raw_matches ? CM_SCRAM_OK : CM_SCRAM_WRONG_PASSWORD,
			   "%s: raw bytes %s", cases[i].what,
			   cases[i].raw_matches ? "match" : "do not match");
		is_int(cm_scram_verify_password(&secret, cases[i].prepared, &err),
			   CM_SCRAM_OK, "%s: prepared password matches", cases[i].what);
	}
	ok(!cm_scram_password_needs_saslprep("tab\tand\x7f"),
	   "ASCII control characters need no SASLprep (PostgreSQL skips it)");
	ok(!cm_scram_password_needs_saslprep("\xed\xa0\x80"),
	   "an encoded surrogate is not UTF-8");
	ok(!cm_scram_password_needs_saslprep("\xc0\xaf"), "an overlong is not");
	ok(!cm_scram_password_needs_saslprep("\xf4\x90\x80\x80"),
	   "beyond U+10FFFF is not");
	ok(!cm_scram_password_needs_saslprep("ab\xe2\x82"), "a cut sequence");
	ok(cm_scram_password_needs_saslprep("\xf0\x9f\x98\x80"),
	   "a 4-byte character is");
}

static void
test_secret_parse_strict(void)
{
	static const char *bad[] = {
		"",
		"md5d18bf5f8eddaae3aed1d69b23a252748",
		"scram-sha-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$0:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$-1:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$+4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLa"
		"k15TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$2147483648:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZ"
		"Y+uLak15TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw"
		"=",
		"SCRAM-SHA-256$:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15TjN"
		"CBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$4096:$B5PZosC3PL9oBxtYunZY+uLak15TjNCBRMiXrU/d3pk=:rXMrm"
		"Yh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw=$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak1"
		"5TjNCBRMiXrU/d3p=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=:",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=\n",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=AAAA",
		" SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtYunZY+uLak1"
		"5TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
		"SCRAM-SHA-256$4096:c6vdP3H3BRe3EbtBEWXzgw==:B5PZosC3PL9oBxtYunZY+uLak15"
		"TjNCBRMiXrU/d3pk=$rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
	};
	char long_secret[2 * CM_SCRAM_MAX_SECRET_LEN];
	char big_salt[CM_BASE64_ENCODED_LEN(CM_SCRAM_MAX_SALT_LEN + 1) + 1];
	uint8_t salt[CM_SCRAM_MAX_SALT_LEN + 1];
	CmScramSecret secret;
	CmScramError err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		is_int(cm_scram_secret_parse(bad[i], &secret, &err),
			   CM_SCRAM_BAD_SECRET, "bad secret %zu rejected", i);
		ok(err.message != NULL && err.detail != NULL,
		   "bad secret %zu: message and detail", i);
	}

	/* leading zeros pass, as PostgreSQL's strtol() lets them */
	is_int(cm_scram_secret_parse("SCRAM-SHA-256$04096:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9oBxtY"
								 "unZY+uLak15TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZ"
								 "CqhTyq4mJw=",
								 &secret, &err),
		   CM_SCRAM_OK, "iterations with a leading zero");
	is_int(secret.iterations, 4096, "leading zero: 4096");

	/* salts up to the limit, not beyond */
	memset(salt, 0xa5, sizeof(salt));
	b64_encode(salt, CM_SCRAM_MAX_SALT_LEN, big_salt, sizeof(big_salt));
	snprintf(long_secret, sizeof(long_secret),
			 "SCRAM-SHA-256$1:%s$B5PZosC3PL9oBxtYunZY+uLak15TjNCBRMiXrU/d3pk=:"
			 "rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
			 big_salt);
	is_int(cm_scram_secret_parse(long_secret, &secret, &err), CM_SCRAM_OK,
		   "a %d-byte salt is accepted", CM_SCRAM_MAX_SALT_LEN);
	b64_encode(salt, CM_SCRAM_MAX_SALT_LEN + 1, big_salt, sizeof(big_salt));
	snprintf(long_secret, sizeof(long_secret),
			 "SCRAM-SHA-256$1:%s$B5PZosC3PL9oBxtYunZY+uLak15TjNCBRMiXrU/d3pk=:"
			 "rXMrmYh2RR9m0aXdOcUntyu6kFRRYi+rZCqhTyq4mJw=",
			 big_salt);
	is_int(cm_scram_secret_parse(long_secret, &secret, &err),
		   CM_SCRAM_BAD_SECRET, "a %d-byte salt is not",
		   CM_SCRAM_MAX_SALT_LEN + 1);
	memset(long_secret, 'A', sizeof(long_secret) - 1);
	long_secret[sizeof(long_secret) - 1] = '\0';
	memcpy(long_secret, "SCRAM-SHA-256$", 14);
	is_int(cm_scram_secret_parse(long_secret, &secret, &err),
		   CM_SCRAM_BAD_SECRET, "an oversize secret is rejected");
	is_str(err.detail, "The secret is too long.", "oversize: detail");
	is_int(cm_scram_secret_parse("SCRAM-SHA-256$2147483647:c6vdP3H3BRe3EbtBEWXzgw==$B5PZosC3PL9o"
								 "BxtYunZY+uLak15TjNCBRMiXrU/d3pk=:rXMrmYh2RR9m0aXdOcUntyu6kFRRY"
								 "i+rZCqhTyq4mJw=",
								 &secret, &err),
		   CM_SCRAM_OK, "INT32_MAX iterations parse (only echoed)");
	is_int(cm_scram_verify_password(&secret, "secret", &err),
		   CM_SCRAM_BAD_SECRET,
		   "but are beyond the limit for checking a cleartext password");
}

static void
test_mock(void)
{
	/* pg_controldata's "Mock authentication nonce" of the test cluster */
	static const char *nonce_hex = "fe2211699005f3c4538dc018227e43e75d94d4b04f"
								   "961976fa98f802f6ce7148";
	uint8_t nonce[32];
	uint8_t other_nonce[32];
	CmScramSecret a;
	CmScramSecret b;
	CmScramSecret c;
	CmScramSecret real_shape;
	CmScramError err;
	char salt[64];
	char text[CM_SCRAM_MAX_SECRET_LEN + 1];
	size_t n = 0;
	CmScramServer *server;
	CmScramClient *client;
	CmScramClientConfig config = {0};
	const char *out;
	size_t out_len;

	ok(cm_hex_decode(nonce_hex, 64, nonce, sizeof(nonce), &n) && n == 32,
	   "mock nonce decoded");
	is_int(cm_scram_secret_mock(nonce, 32, "ghost", &a, &err), CM_SCRAM_OK,
		   "mock secret for \"ghost\"");
	b64_encode(a.salt, a.salt_len, salt, sizeof(salt));
	is_str(salt, "NiBzX0nPtGSqMN0tJrs1Lg==",
		   "mock salt is the one PostgreSQL sent for \"ghost\"");
	is_int(a.iterations, 4096, "mock iterations as PostgreSQL's");
	ok(a.mock, "marked mock");
	is_int(cm_scram_secret_mock(nonce, 32, "ghost", &b, &err), CM_SCRAM_OK,
		   "mock secret again");
	ok(memcmp(&a.salt, &b.salt, sizeof(a.salt)) == 0 &&
		   a.iterations == b.iterations &&
		   memcmp(a.stored_key, b.stored_key, CM_SCRAM_KEY_LEN) == 0,
	   "same role, same mock secret");
	cm_scram_secret_mock(nonce, 32, "ghost2", &c, &err);
	ok(memcmp(a.salt, c.salt, a.salt_len) != 0, "other role, other salt");
	memcpy(other_nonce, nonce, 32);
	other_nonce[0] ^= 1;
	cm_scram_secret_mock(other_nonce, 32, "ghost", &c, &err);
	ok(memcmp(a.salt, c.salt, a.salt_len) != 0, "other nonce, other salt");
	is_int(cm_scram_secret_mock(nonce, 0, "ghost", &c, &err),
		   CM_SCRAM_BAD_CALL, "an empty mock nonce is refused");

	/* same shape as a real secret */
	is_int(cm_scram_secret_format(&a, text, sizeof(text)), strlen(PG_SECRET_X),
		   "formatted mock has a real secret's length");
	is_int(cm_scram_secret_parse(text, &real_shape, &err), CM_SCRAM_OK,
		   "and parses as a secret");
	is_int(strncmp(text, "SCRAM-SHA-256$4096:", 19), 0, "and its prefix");

	/* an exchange against it fails as a wrong password, after the work */
	is_int(cm_scram_server_begin(&a, NULL, random18, 18, &server, &err),
		   CM_SCRAM_OK, "mock: server begins");
	config.password = "anything";
	config.random = random18;
	config.random_len = 18;
	cm_scram_client_begin(&config, &client, &err);
	cm_scram_client_step(client, NULL, 0, &out, &out_len, &err);
	is_int(server_feed(server, out, &out, &out_len, &err), CM_SCRAM_OK,
		   "mock: server-first sent");
	ok(strstr(out, ",s=NiBzX0nPtGSqMN0tJrs1Lg==,i=4096") != NULL,
	   "mock: server-first carries the mock salt");
	is_int(client_feed(client, out, &out, &out_len, &err), CM_SCRAM_OK,
		   "mock: client answers");
	is_int(server_feed(server, out, &out, &out_len, &err),
		   CM_SCRAM_WRONG_PASSWORD, "mock: wrong password");
	is_str(err.sqlstate, "28P01", "mock: 28P01");
	cm_scram_server_free(server);
	cm_scram_client_free(client);
}

/*
 * Even a proof that is right for the mock's keys is refused: with the
 * mock flag cleared the same client-final succeeds, with it set it fails.
 */
static void
test_mock_never_verifies(void)
{
	uint8_t nonce[32] = {7};
	uint8_t salted[CM_SCRAM_KEY_LEN];
	uint8_t client_key[CM_SCRAM_KEY_LEN];
	uint8_t stored_key[CM_SCRAM_KEY_LEN];
	unsigned int len = 0;
	CmScramSecret mock;
	CmScramSecret unmarked;
	CmScramError err;
	CmScramServer *server;
	char server_first[256];
	char final[512];
	const char *out;
	size_t out_len;

	cm_scram_secret_mock(nonce, 32, "ghost", &mock, &err);
	/* the mock's SaltedPassword is HMAC(nonce, role): rebuild its keys */
	HMAC(EVP_sha256(), nonce, 32, (const unsigned char *) "ghost", 5, salted,
		 &len);
	cm_scram_keys(salted, client_key, stored_key, NULL);
	ok(len == 32 && memcmp(stored_key, mock.stored_key, CM_SCRAM_KEY_LEN) == 0,
	   "mock keys rebuilt");
	unmarked = mock;
	unmarked.mock = false;
	for (int marked = 0; marked < 2; marked++)
	{
		cm_scram_server_begin(marked ? &mock : &unmarked, NULL, random18, 18,
							  &server, &err);
		server_feed(server, "n,,n=,r=abcdef", &out, &out_len, &err);
		snprintf(server_first, sizeof(server_first), "%s", out);
		sign_final(final, sizeof(final), "n=,r=abcdef", server_first,
				   "c=biws,r=abcdefAQIDBAUGBwgJCgsMDQ4PEBES", client_key,
				   mock.stored_key);
		is_int(server_feed(server, final, &out, &out_len, &err),
			   marked ? CM_SCRAM_WRONG_PASSWORD : CM_SCRAM_OK,
			   "a proof right for the mock keys: %s",
			   marked ? "refused while marked mock" : "accepted unmarked");
		cm_scram_server_free(server);
	}
}

/* Runs a whole exchange; returns the server's last status. */
static CmScramStatus
run_exchange(const CmScramSecret *server_secret,
			 const CmScramClientConfig *config, CmScramServer **server_out,
			 CmScramStatus *client_last, CmScramError *err)
{
	CmScramServer *server;
	CmScramClient *client;
	CmScramStatus st;
	const char *out;
	size_t out_len;

	*client_last = CM_SCRAM_BAD_CALL;
	*server_out = NULL;
	st = cm_scram_server_begin(server_secret, NULL, random18, 18, &server, err);
	if (st != CM_SCRAM_OK)
		return st;
	*server_out = server;
	st = cm_scram_client_begin(config, &client, err);
	if (st != CM_SCRAM_OK)
		return st;
	cm_scram_client_step(client, NULL, 0, &out, &out_len, err);
	st = server_feed(server, out, &out, &out_len, err);
	if (st == CM_SCRAM_OK)
	{
		*client_last = client_feed(client, out, &out, &out_len, err);
		if (*client_last == CM_SCRAM_OK)
		{
			st = server_feed(server, out, &out, &out_len, err);
			if (st == CM_SCRAM_OK)
				*client_last = client_feed(client, out, &out, &out_len, err);
		}
	}
	cm_scram_client_free(client);
	return st;
}

static void
test_round_trip_and_passthrough(void)
{
	CmScramClientConfig config = {0};
	CmScramServer *first;
	CmScramServer *second;
	CmScramStatus client_last;
	CmScramError err;
	uint8_t recovered[CM_SCRAM_KEY_LEN];
	CmScramSecret other_salt;
	CmScramSecret other_iterations;
	CmScramSecret other_password;
	uint8_t salt[16] = {9, 9, 9};
	CmScramClient *client;
	const char *out;
	size_t out_len;

	config.password = "secret";
	config.random = random18;
	config.random_len = 18;
	is_int(run_exchange(&secret_x, &config, &first, &client_last, &err),
		   CM_SCRAM_OK, "round trip: server accepts the client's proof");
	is_int(client_last, CM_SCRAM_OK,
		   "round trip: client accepts the server's signature");
	is_int(cm_scram_server_state(first), CM_SCRAM_SERVER_DONE,
		   "round trip: server done");
	ok(cm_scram_server_client_key(first, recovered),
	   "round trip: ClientKey available");
	ok(memcmp(recovered, client_key_x, CM_SCRAM_KEY_LEN) == 0,
	   "round trip: recovered ClientKey is the password's");
	cm_scram_server_free(first);

	/* pass-through: a second server with the same secret */
	config.password = NULL;
	config.secret = &secret_x;
	config.client_key = recovered;
	is_int(run_exchange(&secret_x, &config, &second, &client_last, &err),
		   CM_SCRAM_OK,
		   "pass-through: second server accepts the re-signed "
		   "proof");
	is_int(client_last, CM_SCRAM_OK,
		   "pass-through: second server's signature verified");
	ok(cm_scram_server_client_key(second, recovered) &&
		   memcmp(recovered, client_key_x, CM_SCRAM_KEY_LEN) == 0,
	   "pass-through: the same ClientKey arrives");
	cm_scram_server_free(second);

	/* a target with another verifier */
	cm_scram_secret_from_password("secret", salt, 16, 4096, &other_salt, &err);
	is_int(run_exchange(&other_salt, &config, &second, &client_last, &err),
		   CM_SCRAM_OK, "other salt: the target sends its server-first");
	is_int(client_last, CM_SCRAM_PASSTHROUGH_MISMATCH,
		   "other salt: pass-through refused before any proof");
	is_str(err.sqlstate, "28000", "other salt: 28000");
	ok(err.detail && strstr(err.detail, "same verifier"),
	   "other salt: the detail explains");
	cm_scram_server_free(second);
	cm_scram_secret_from_password("secret", secret_x.salt, secret_x.salt_len,
								  4097, &other_iterations, &err);
	run_exchange(&other_iterations, &config, &second, &client_last, &err);
	is_int(client_last, CM_SCRAM_PASSTHROUGH_MISMATCH,
		   "other iteration count: pass-through refused");
	cm_scram_server_free(second);

	/* same salt and count, other password: the target refuses the proof */
	cm_scram_secret_from_password("changed", secret_x.salt, secret_x.salt_len,
								  4096, &other_password, &err);
	is_int(run_exchange(&other_password, &config, &second, &client_last, &err),
		   CM_SCRAM_WRONG_PASSWORD,
		   "changed password on the target: wrong password there");
	cm_scram_server_free(second);

	/* with a password, another salt is no problem */
	config.password = "secret";
	config.secret = NULL;
	config.client_key = NULL;
	run_exchange(&other_salt, &config, &second, &client_last, &err);
	is_int(cm_scram_server_state(second), CM_SCRAM_SERVER_DONE,
		   "password client: any salt works");
	is_int(client_last, CM_SCRAM_OK, "password client: signature verified");
	cm_scram_server_free(second);

	/* a server that does not hold the secret cannot fake server-final */
	cm_scram_client_begin(&config, &client, &err);
	cm_scram_client_step(client, NULL, 0, &out, &out_len, &err);
	client_feed(client,
				"r="
				"AQIDBAUGBwgJCgsMDQ4PEBES"
				"xyz,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
				&out, &out_len, &err);
	is_int(client_feed(client, "v=B5PZosC3PL9oBxtYunZY+uLak15TjNCBRMiXrU/d3pk=",
					   &out, &out_len, &err),
		   CM_SCRAM_SERVER_REJECTED, "a made-up server signature is refused");
	cm_scram_client_free(client);
	cm_scram_client_begin(&config, &client, &err);
	cm_scram_client_step(client, NULL, 0, &out, &out_len, &err);
	client_feed(client,
				"r=AQIDBAUGBwgJCgsMDQ4PEBESxyz,s=c6vdP3H3BRe3EbtBEWXzgw==,"
				"i=4096",
				&out, &out_len, &err);
	is_int(client_feed(client, "e=invalid-proof", &out, &out_len, &err),
		   CM_SCRAM_SERVER_REJECTED, "\"e=\" from the server is a rejection");
	cm_scram_client_free(client);
}

static void
test_wrong_password(void)
{
	CmScramClientConfig config = {0};
	CmScramServer *server;
	CmScramStatus client_last;
	CmScramError err;
	uint8_t key[CM_SCRAM_KEY_LEN];
	const char *out = "x";
	size_t out_len = 1;

	config.password = "Secret";
	config.random = random18;
	config.random_len = 18;
	is_int(run_exchange(&secret_x, &config, &server, &client_last, &err),
		   CM_SCRAM_WRONG_PASSWORD, "wrong password refused");
	is_str(err.sqlstate, "28P01", "wrong password: 28P01");
	is_str(err.message, "password authentication failed",
		   "wrong password: message");
	is_int(cm_scram_server_state(server), CM_SCRAM_SERVER_FAILED,
		   "wrong password: server failed");
	ok(!cm_scram_server_client_key(server, key), "wrong password: no ClientKey");
	is_int(server_feed(server, "n,,n=,r=abc", &out, &out_len, &err),
		   CM_SCRAM_BAD_CALL, "no step after a failure");
	ok(out == NULL && out_len == 0, "a refused step sends nothing");
	cm_scram_server_free(server);
}

/* A fresh server that has answered "n,,n=,r=abc" (flag n, no TLS). */
static CmScramServer *
server_after_first(const CmScramBinding *binding, const char *first,
				   char *server_first, size_t cap)
{
	CmScramServer *server;
	CmScramError err;
	const char *out;
	size_t out_len;

	if (cm_scram_server_begin(&secret_x, binding, random18, 18, &server,
							  &err) != CM_SCRAM_OK)
		return NULL;
	if (server_feed(server, first, &out, &out_len, &err) != CM_SCRAM_OK)
	{
		cm_scram_server_free(server);
		return NULL;
	}
	snprintf(server_first, cap, "%s", out);
	return server;
}

/* The nonce the server expects back: "abc" + base64(random18). */
#define FULL_NONCE "abcAQIDBAUGBwgJCgsMDQ4PEBES"

static void
expect_first(const char *msg, size_t len, CmScramStatus want,
			 const char *sqlstate, const char *what)
{
	CmScramServer *server;
	CmScramError err;
	const char *out;
	size_t out_len;

	cm_scram_server_begin(&secret_x, NULL, random18, 18, &server, &err);
	is_int(cm_scram_server_step(server, exact(msg, len), len, &out, &out_len,
								&err),
		   want, "client-first %s", what);
	if (want != CM_SCRAM_OK)
	{
		is_str(err.sqlstate, sqlstate, "client-first %s: SQLSTATE %s", what,
			   sqlstate);
		is_int(cm_scram_server_state(server), CM_SCRAM_SERVER_FAILED,
			   "client-first %s: failed", what);
	}
	cm_scram_server_free(server);
}

static void
test_client_first_malformed(void)
{
	static const struct
	{
		const char *msg;
		CmScramStatus want;
		const char *sqlstate;
		const char *what;
	} cases[] = {
		{"n,,n=,r=abc", CM_SCRAM_OK, NULL, "minimal"},
		{"n,,n=user,r=abc", CM_SCRAM_OK, NULL, "with a user name"},
		{"n,,n=u=2Cs=3Dr,r=abc", CM_SCRAM_OK, NULL, "escaped user name"},
		{"n,,n=,r=abc,x=ext,Y=", CM_SCRAM_OK, NULL, "optional extensions"},
		{"y,,n=,r=abc", CM_SCRAM_OK, NULL, "flag y without TLS"},
		{"n,,n=,r=!~azAZ09+/", CM_SCRAM_OK, NULL, "printable nonce"},
		{"x,,n=,r=abc", CM_SCRAM_MALFORMED, "08P01", "unknown flag"},
		{",,n=,r=abc", CM_SCRAM_MALFORMED, "08P01", "no flag"},
		{"n", CM_SCRAM_MALFORMED, "08P01", "flag only"},
		{"n,", CM_SCRAM_MALFORMED, "08P01", "no second comma"},
		{"n,,", CM_SCRAM_MALFORMED, "08P01", "no bare message"},
		{"n=,r=abc", CM_SCRAM_MALFORMED, "08P01", "no gs2 header"},
		{"n,n=,r=abc", CM_SCRAM_MALFORMED, "08P01", "one comma"},
		{"n,,r=abc", CM_SCRAM_MALFORMED, "08P01", "no user attribute"},
		{"n,,n=", CM_SCRAM_MALFORMED, "08P01", "no nonce"},
		{"n,,n=,", CM_SCRAM_MALFORMED, "08P01", "comma, no nonce"},
		{"n,,n=,r=", CM_SCRAM_MALFORMED, "08P01", "empty nonce"},
		{"n,,n=,r", CM_SCRAM_MALFORMED, "08P01", "nonce without ="},
		{"n,,n=,x=abc", CM_SCRAM_MALFORMED, "08P01", "other attribute"},
		{"n,,n=,r=ab c", CM_SCRAM_MALFORMED, "08P01", "space in nonce"},
		{"n,,n=,r=ab\x7f", CM_SCRAM_MALFORMED, "08P01", "DEL in nonce"},
		{"n,,n=,r=ab\xc3\xa4", CM_SCRAM_MALFORMED, "08P01", "non-ASCII in nonce"},
		{"n,,n=,r=abc,", CM_SCRAM_MALFORMED, "08P01", "trailing comma"},
		{"n,,n=,r=abc,1=x", CM_SCRAM_MALFORMED, "08P01",
		 "extension named by a digit"},
		{"n,,n=,r=abc,xx", CM_SCRAM_MALFORMED, "08P01", "extension without ="},
		{"n,,n,r=abc", CM_SCRAM_MALFORMED, "08P01", "user without ="},
		{"N,,n=,r=abc", CM_SCRAM_MALFORMED, "08P01", "upper-case flag"},
		{"n,a=bob,n=,r=abc", CM_SCRAM_MALFORMED, "0A000", "authzid"},
		{"n,,m=ext,n=,r=abc", CM_SCRAM_MALFORMED, "0A000", "mandatory extension"},
		{"p=tls-server-end-point,,n=,r=abc", CM_SCRAM_MALFORMED, "08P01",
		 "flag p without PLUS"},
	};
	char big[CM_SCRAM_MAX_MESSAGE_LEN + 2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_first(cases[i].msg, strlen(cases[i].msg), cases[i].want,
					 cases[i].sqlstate, cases[i].what);

	expect_first("", 0, CM_SCRAM_MALFORMED, "08P01", "empty");
	expect_first("n,,n=,r=a\0c", 11, CM_SCRAM_MALFORMED, "08P01", "with a NUL");

	/* nonce at the limit and beyond */
	memcpy(big, "n,,n=,r=", 8);
	memset(big + 8, 'x', CM_SCRAM_MAX_NONCE_LEN);
	expect_first(big, 8 + CM_SCRAM_MAX_NONCE_LEN, CM_SCRAM_OK, NULL,
				 "with the longest nonce");
	memset(big + 8, 'x', CM_SCRAM_MAX_NONCE_LEN + 1);
	expect_first(big, 8 + CM_SCRAM_MAX_NONCE_LEN + 1, CM_SCRAM_MALFORMED,
				 "08P01", "with a nonce too long");

	/* message at the limit (a long extension) and beyond */
	memcpy(big, "n,,n=,r=abc,x=", 14);
	memset(big + 14, 'e', sizeof(big) - 14);
	expect_first(big, CM_SCRAM_MAX_MESSAGE_LEN, CM_SCRAM_OK, NULL,
				 "of the maximum length");
	expect_first(big, CM_SCRAM_MAX_MESSAGE_LEN + 1, CM_SCRAM_MALFORMED,
				 "08P01", "over the maximum length");
}

static void
expect_final(const char *final, size_t len, CmScramStatus want,
			 const char *sqlstate, const char *what)
{
	char server_first[256];
	CmScramServer *server = server_after_first(NULL, "n,,n=,r=abc", server_first,
											   sizeof(server_first));
	CmScramError err;
	const char *out;
	size_t out_len;

	is_int(cm_scram_server_step(server, exact(final, len), len, &out, &out_len,
								&err),
		   want, "client-final %s", what);
	if (want != CM_SCRAM_OK)
		is_str(err.sqlstate, sqlstate, "client-final %s: SQLSTATE %s", what,
			   sqlstate);
	cm_scram_server_free(server);
}

/* A correctly signed client-final for "n,,n=,r=abc" and these attributes. */
static void
signed_final(char *out, size_t cap, const char *without_proof)
{
	char server_first[256];
	CmScramServer *server = server_after_first(NULL, "n,,n=,r=abc", server_first,
											   sizeof(server_first));

	sign_final(out, cap, "n=,r=abc", server_first, without_proof, client_key_x,
			   secret_x.stored_key);
	cm_scram_server_free(server);
}

static void
test_client_final_malformed(void)
{
	char good[256];
	char msg[512];
	char big[CM_SCRAM_MAX_MESSAGE_LEN + 2];
	const char *proof;

	signed_final(good, sizeof(good), "c=biws,r=" FULL_NONCE);
	expect_final(good, strlen(good), CM_SCRAM_OK, NULL, "signed correctly");
	proof = strstr(good, ",p=") + 3;

	signed_final(msg, sizeof(msg), "c=biws,r=" FULL_NONCE ",x=ext,q=");
	expect_final(msg, strlen(msg), CM_SCRAM_OK, NULL,
				 "with extensions before the proof (signed over them)");

#define FINAL(...) snprintf(msg, sizeof(msg), __VA_ARGS__)
	FINAL("r=" FULL_NONCE ",p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01", "without c=");
	FINAL("c=biws,p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01", "without r=");
	FINAL("c=biws,r=" FULL_NONCE);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01", "without p=");
	FINAL("c=biws,r=" FULL_NONCE ",");
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with a comma and no proof");
	FINAL("c=biws,r=" FULL_NONCE ",p=");
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with an empty proof");
	FINAL("c=biws,r=" FULL_NONCE ",p=%s,", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with a trailing comma");
	FINAL("c=biws,r=" FULL_NONCE ",p=%s,x=y", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with an attribute after the proof");
	FINAL("c=biws,r=" FULL_NONCE ",p=!!!!%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with bad base64 in the proof");
	FINAL("c=biws,r=" FULL_NONCE ",p=AAAA%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with a 35-byte proof");
	FINAL("c=biws,r=" FULL_NONCE ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "==");
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with a 31-byte proof");
	snprintf(msg, sizeof(msg), "%.*s", (int) strlen(good) - 1, good);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with the proof's padding cut");
	FINAL("c=biws,r=abc,p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with the client's nonce only");
	FINAL("c=biws,r=" FULL_NONCE "x,p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with a longer nonce");
	FINAL("c=biws,r=abdAQIDBAUGBwgJCgsMDQ4PEBES,p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with another client nonce");
	FINAL("c=biws,r=abcAQIDBAUGBwgJCgsMDQ4PEBER,p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with another server nonce");
	FINAL("c=biws,r=,p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with an empty nonce");
	FINAL("c=eSws,r=" FULL_NONCE ",p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_CHANNEL_BINDING, "08P01",
				 "with c=y,, after flag n");
	FINAL("c=,r=" FULL_NONCE ",p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_CHANNEL_BINDING, "08P01",
				 "with an empty c=");
	FINAL("c=biws,,r=" FULL_NONCE ",p=%s", proof);
	expect_final(msg, strlen(msg), CM_SCRAM_MALFORMED, "08P01",
				 "with an empty attribute");
	expect_final("", 0, CM_SCRAM_MALFORMED, "08P01", "empty");
	snprintf(msg, sizeof(msg), "%s", good);
	msg[7] = '\0';
	expect_final(msg, strlen(good), CM_SCRAM_MALFORMED, "08P01", "with a NUL");
#undef FINAL

	/* wrong proof, well-formed: a password failure, not a protocol one */
	snprintf(msg, sizeof(msg), "%s", good);
	msg[strlen(msg) - 3] = msg[strlen(msg) - 3] == 'A' ? 'B' : 'A';
	expect_final(msg, strlen(msg), CM_SCRAM_WRONG_PASSWORD, "28P01",
				 "with a flipped proof bit");

	memcpy(big, "c=biws,r=" FULL_NONCE ",x=", 39);
	memset(big + 39, 'e', sizeof(big) - 39);
	expect_final(big, CM_SCRAM_MAX_MESSAGE_LEN + 1, CM_SCRAM_MALFORMED,
				 "08P01", "over the maximum length");
}

/*
 * Channel binding: what the client chose (mechanism, gs2 flag) against
 * what we offered, then the c= it sends.
 */
static void
test_channel_binding(void)
{
	static const uint8_t hash[32] = {0x41, 0xff, 0xe0, 0x9d, 0xed, 0x51};
	static const struct
	{
		bool offered;
		bool selected;
		const char *first;
		CmScramStatus want_first;
		const char *sqlstate;
		const char *good_c; /* NULL: compute for flag p */
		const char *bad_c;
		const char *bad_sqlstate;
	} cases[] = {
		{false, false, "n,,n=,r=abc", CM_SCRAM_OK, NULL, "biws", "eSws", "08P01"},
		{false, false, "y,,n=,r=abc", CM_SCRAM_OK, NULL, "eSws", "biws", "08P01"},
		{false, false, "p=tls-server-end-point,,n=,r=abc", CM_SCRAM_MALFORMED,
		 "08P01", NULL, NULL, NULL},
		{true, false, "n,,n=,r=abc", CM_SCRAM_OK, NULL, "biws", "eSws", "08P01"},
		{true, false, "y,,n=,r=abc", CM_SCRAM_CHANNEL_BINDING, "08P01", NULL,
		 NULL, NULL},
		{true, false, "p=tls-server-end-point,,n=,r=abc", CM_SCRAM_MALFORMED,
		 "08P01", NULL, NULL, NULL},
		{true, true, "n,,n=,r=abc", CM_SCRAM_MALFORMED, "08P01", NULL, NULL,
		 NULL},
		{true, true, "y,,n=,r=abc", CM_SCRAM_MALFORMED, "08P01", NULL, NULL,
		 NULL},
		{true, true, "p=tls-server-end-point,,n=,r=abc", CM_SCRAM_OK, NULL,
		 NULL, "biws", "28000"},
		{true, true, "p=tls-unique,,n=,r=abc", CM_SCRAM_CHANNEL_BINDING,
		 "08P01", NULL, NULL, NULL},
		{true, true, "p=,,n=,r=abc", CM_SCRAM_CHANNEL_BINDING, "08P01", NULL,
		 NULL, NULL},
		{true, true, "p,,n=,r=abc", CM_SCRAM_MALFORMED, "08P01", NULL, NULL,
		 NULL},
	};
	uint8_t cbind_input[24 + 32];
	char plus_c[128];
	CmScramError err;
	bool plus;

	memcpy(cbind_input, "p=tls-server-end-point,,", 24);
	memcpy(cbind_input + 24, hash, 32);
	b64_encode(cbind_input, sizeof(cbind_input), plus_c, sizeof(plus_c));

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		CmScramBinding binding = {cases[i].offered, cases[i].selected, hash,
								  sizeof(hash)};
		CmScramServer *server;
		const char *out;
		size_t out_len;
		char server_first[256];
		char without[256];
		char final[512];
		const char *label =
			cases[i].offered ? (cases[i].selected ? "PLUS chosen"
												  : "PLUS offered, not chosen")
							 : "no TLS";

		cm_scram_server_begin(&secret_x, &binding, random18, 18, &server, &err);
		is_int(server_feed(server, cases[i].first, &out, &out_len, &err),
			   cases[i].want_first, "%s, \"%.24s\": first message", label,
			   cases[i].first);
		if (cases[i].want_first != CM_SCRAM_OK)
		{
			is_str(err.sqlstate, cases[i].sqlstate, "%s, \"%.24s\": %s", label,
				   cases[i].first, cases[i].sqlstate);
			cm_scram_server_free(server);
			continue;
		}
		snprintf(server_first, sizeof(server_first), "%s", out);
		cm_scram_server_free(server);

		/* the right c= succeeds */
		server = server_after_first(&binding, cases[i].first, server_first,
									sizeof(server_first));
		snprintf(without, sizeof(without), "c=%s,r=" FULL_NONCE,
				 cases[i].good_c ? cases[i].good_c : plus_c);
		sign_final(final, sizeof(final), "n=,r=abc", server_first, without,
				   client_key_x, secret_x.stored_key);
		is_int(server_feed(server, final, &out, &out_len, &err), CM_SCRAM_OK,
			   "%s, \"%.24s\": right c= accepted", label, cases[i].first);
		cm_scram_server_free(server);

		/* the wrong one fails, even correctly signed */
		server = server_after_first(&binding, cases[i].first, server_first,
									sizeof(server_first));
		snprintf(without, sizeof(without), "c=%s,r=" FULL_NONCE, cases[i].bad_c);
		sign_final(final, sizeof(final), "n=,r=abc", server_first, without,
				   client_key_x, secret_x.stored_key);
		is_int(server_feed(server, final, &out, &out_len, &err),
			   CM_SCRAM_CHANNEL_BINDING, "%s, \"%.24s\": c=%s refused", label,
			   cases[i].first, cases[i].bad_c);
		is_str(err.sqlstate, cases[i].bad_sqlstate, "%s, \"%.24s\": c=%s: %s",
			   label, cases[i].first, cases[i].bad_c, cases[i].bad_sqlstate);
		cm_scram_server_free(server);
	}

	/* another certificate hash */
	{
		uint8_t other[32] = {0x41, 0xff, 0xe0, 0x9d, 0xed, 0x52};
		CmScramBinding binding = {true, true, other, sizeof(other)};
		CmScramServer *server;
		char server_first[256];
		char without[256];
		char final[512];
		const char *out;
		size_t out_len;

		server = server_after_first(&binding, "p=tls-server-end-point,,n=,r=abc",
									server_first, sizeof(server_first));
		snprintf(without, sizeof(without), "c=%s,r=" FULL_NONCE, plus_c);
		sign_final(final, sizeof(final), "n=,r=abc", server_first, without,
				   client_key_x, secret_x.stored_key);
		is_int(server_feed(server, final, &out, &out_len, &err),
			   CM_SCRAM_CHANNEL_BINDING,
			   "binding data for another certificate refused");
		is_str(err.message, "SCRAM channel binding check failed",
			   "another certificate: message");
		cm_scram_server_free(server);
	}

	/* mechanism choice */
	is_int(cm_scram_select_mechanism("SCRAM-SHA-256", false, &plus, &err),
		   CM_SCRAM_OK, "SCRAM-SHA-256 chosen without TLS");
	ok(!plus, "not PLUS");
	is_int(cm_scram_select_mechanism("SCRAM-SHA-256-PLUS", true, &plus, &err),
		   CM_SCRAM_OK, "PLUS chosen when offered");
	ok(plus, "PLUS");
	is_int(cm_scram_select_mechanism("SCRAM-SHA-256-PLUS", false, &plus, &err),
		   CM_SCRAM_MALFORMED, "PLUS chosen when not offered");
	is_str(err.sqlstate, "08P01", "PLUS not offered: 08P01");
	is_int(cm_scram_select_mechanism("SCRAM-SHA-1", true, &plus, &err),
		   CM_SCRAM_MALFORMED, "unknown mechanism");
	is_int(cm_scram_select_mechanism("", true, &plus, &err),
		   CM_SCRAM_MALFORMED, "empty mechanism");
}

/* Exchanges captured live, replayed byte for byte. */
static void
test_captured_exchanges(void)
{
	/* psql -> this server, SCRAM-SHA-256-PLUS over TLS */
	static const uint8_t cert_hash[32] = {0x41, 0xff, 0xe0, 0x9d, 0xed, 0x51,
										  0x83, 0xe7, 0xd0, 0x62, 0xc9, 0x97,
										  0x80, 0x86, 0x8f, 0xd7, 0xd5, 0xa6,
										  0x43, 0xd6, 0x20, 0x78, 0x69, 0x80,
										  0xc3, 0xfe, 0xa2, 0x68, 0x5e, 0xd4,
										  0xc3, 0x6f};
	static const struct
	{
		const char *what;
		bool plus;
		const char *first;
		const char *server_nonce;
		const char *server_first;
		const char *final;
		const char *server_final;
	} libpq[] = {
		{"libpq, SCRAM-SHA-256", false, "n,,n=,r=BxvzfoU4SSLH2cLT+iSW8B3x",
		 "pee4IfiXWlAO7EMopi4Yy/1c",
		 "r=BxvzfoU4SSLH2cLT+iSW8B3xpee4IfiXWlAO7EMopi4Yy/1c,"
		 "s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
		 "c=biws,r=BxvzfoU4SSLH2cLT+iSW8B3xpee4IfiXWlAO7EMopi4Yy/1c,"
		 "p=y96lsjhRi+UUR4zHWTsqJDKqGpGpFimZuPxDxPRX33s=",
		 "v=Q4QBXcgwPTJbXHGJsTutBmqo5AhLiMN/cgyU1OW1ReE="},
		{"libpq, SCRAM-SHA-256-PLUS", true,
		 "p=tls-server-end-point,,n=,r=7l/X9w9v7pDJUir1mj0GMdTr",
		 "IrErtDYBJ0onMxpkG1awXB8z",
		 "r=7l/X9w9v7pDJUir1mj0GMdTrIrErtDYBJ0onMxpkG1awXB8z,"
		 "s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
		 "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsQf/gne1Rg+fQYsmXgIaP19WmQ9YgeGm"
		 "Aw/6iaF7Uw28=,r=7l/X9w9v7pDJUir1mj0GMdTrIrErtDYBJ0onMxpkG1awXB8z,"
		 "p=0XMF1GxPtK1V1XVUOxvDvm00xEzqdRNpYtPcPbdSapo=",
		 "v=VC/MlVm3EAPTSwYfRfportEP3DP+IaFJdJdJk6T84RM="},
	};
	CmScramError err;
	CmScramClientConfig config = {0};
	CmScramClient *client;
	uint8_t nonce[18];
	const char *out;
	size_t out_len;

	for (size_t i = 0; i < sizeof(libpq) / sizeof(libpq[0]); i++)
	{
		CmScramBinding binding = {true, libpq[i].plus, cert_hash, 32};
		CmScramServer *server;
		uint8_t random[18];
		uint8_t key[CM_SCRAM_KEY_LEN];

		ok(b64_decode(libpq[i].server_nonce, random, sizeof(random)) == 18,
		   "%s: server nonce decoded", libpq[i].what);
		cm_scram_server_begin(&secret_x, &binding, random, 18, &server, &err);
		is_int(server_feed(server, libpq[i].first, &out, &out_len, &err),
			   CM_SCRAM_OK, "%s: client-first accepted", libpq[i].what);
		is_str(out, libpq[i].server_first, "%s: same server-first",
			   libpq[i].what);
		is_int(server_feed(server, libpq[i].final, &out, &out_len, &err),
			   CM_SCRAM_OK, "%s: libpq's proof verified", libpq[i].what);
		is_str(out, libpq[i].server_final, "%s: same server-final",
			   libpq[i].what);
		ok(cm_scram_server_client_key(server, key) &&
			   memcmp(key, client_key_x, CM_SCRAM_KEY_LEN) == 0,
		   "%s: ClientKey recovered", libpq[i].what);
		cm_scram_server_free(server);
	}

	/* this client -> PostgreSQL 15.20, which accepted the proof */
	ok(b64_decode("WugVPDJrv9cc3rD/cgtkbAY5", nonce, sizeof(nonce)) == 18,
	   "PostgreSQL login: client nonce decoded");
	config.password = "secret";
	config.random = nonce;
	config.random_len = 18;
	cm_scram_client_begin(&config, &client, &err);
	cm_scram_client_step(client, NULL, 0, &out, &out_len, &err);
	is_str(out, "n,,n=,r=WugVPDJrv9cc3rD/cgtkbAY5",
		   "PostgreSQL login: client-first");
	is_int(client_feed(client,
					   "r=WugVPDJrv9cc3rD/cgtkbAY5Rmrp7295+tEyzbYVlfiBFS4w,"
					   "s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
					   &out, &out_len, &err),
		   CM_SCRAM_OK, "PostgreSQL login: server-first accepted");
	is_str(out,
		   "c=biws,r=WugVPDJrv9cc3rD/cgtkbAY5Rmrp7295+tEyzbYVlfiBFS4w,"
		   "p=zeN6D94Do8BKZME5yUnPJiGTPwtIAFrnnDrToyr5BQM=",
		   "PostgreSQL login: the client-final it accepted");
	is_int(client_feed(client, "v=MQdoQmsrXKJlV3Mle1z2/X6FPnNCYPKza1TVyc/mDy0=",
					   &out, &out_len, &err),
		   CM_SCRAM_OK, "PostgreSQL login: its signature verified");
	cm_scram_client_free(client);
}

static void
expect_server_first(const char *msg, size_t len, CmScramStatus want,
					const char *what)
{
	CmScramClientConfig config = {0};
	CmScramClient *client;
	CmScramError err;
	const char *out;
	size_t out_len;

	config.password = "secret";
	config.random = random18;
	config.random_len = 18;
	cm_scram_client_begin(&config, &client, &err);
	cm_scram_client_step(client, NULL, 0, &out, &out_len, &err);
	is_int(cm_scram_client_step(client, exact(msg, len), len, &out, &out_len,
								&err),
		   want, "server-first %s", what);
	if (want != CM_SCRAM_OK)
		is_int(cm_scram_client_state(client), CM_SCRAM_CLIENT_FAILED,
			   "server-first %s: client failed", what);
	cm_scram_client_free(client);
}

static void
expect_server_final(const char *msg, size_t len, CmScramStatus want,
					const char *what)
{
	CmScramClientConfig config = {0};
	CmScramClient *client;
	CmScramError err;
	const char *out;
	size_t out_len;
	const char *server_first = "r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,"
							   "s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096";

	config.password = "secret";
	config.random = random18;
	config.random_len = 18;
	cm_scram_client_begin(&config, &client, &err);
	cm_scram_client_step(client, NULL, 0, &out, &out_len, &err);
	client_feed(client, server_first, &out, &out_len, &err);
	is_int(cm_scram_client_step(client, exact(msg, len), len, &out, &out_len,
								&err),
		   want, "server-final %s", what);
	cm_scram_client_free(client);
}

static void
test_client_side_malformed(void)
{
	static const struct
	{
		const char *msg;
		CmScramStatus want;
		const char *what;
	} firsts[] = {
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
		 CM_SCRAM_OK, "well-formed"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBES,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
		 CM_SCRAM_MALFORMED, "without a server nonce"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBEQsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
		 CM_SCRAM_MALFORMED, "with another client nonce"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBE,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
		 CM_SCRAM_MALFORMED, "with a cut nonce"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESs v,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096",
		 CM_SCRAM_MALFORMED, "with a space in the nonce"},
		{"s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096", CM_SCRAM_MALFORMED, "without r="},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,i=4096", CM_SCRAM_MALFORMED,
		 "without s="},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==",
		 CM_SCRAM_MALFORMED, "without i="},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=,i=4096", CM_SCRAM_MALFORMED,
		 "with an empty salt"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw=,i=4096",
		 CM_SCRAM_MALFORMED, "with bad base64 salt"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=0",
		 CM_SCRAM_MALFORMED, "with i=0"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=-1",
		 CM_SCRAM_MALFORMED, "with i=-1"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=",
		 CM_SCRAM_MALFORMED, "with an empty i="},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4k",
		 CM_SCRAM_MALFORMED, "with i=4k"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i= 4096",
		 CM_SCRAM_MALFORMED, "with a space in i="},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,"
		 "i=2147483648",
		 CM_SCRAM_MALFORMED, "with i beyond INT32_MAX"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,"
		 "i=1000001",
		 CM_SCRAM_MALFORMED, "with i beyond our PBKDF2 limit"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096,"
		 "x=y",
		 CM_SCRAM_MALFORMED, "with an extension"},
		{"r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096,",
		 CM_SCRAM_MALFORMED, "with a trailing comma"},
		{"m=x,r=AQIDBAUGBwgJCgsMDQ4PEBESsrv,s=c6vdP3H3BRe3EbtBEWXzgw==,"
		 "i=4096",
		 CM_SCRAM_MALFORMED, "with a mandatory extension"},
		{"i=4096,s=c6vdP3H3BRe3EbtBEWXzgw==,r=AQIDBAUGBwgJCgsMDQ4PEBESsrv",
		 CM_SCRAM_MALFORMED, "in another order"},
	};
	char big[CM_SCRAM_MAX_MESSAGE_LEN + 2];

	for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++)
		expect_server_first(firsts[i].msg, strlen(firsts[i].msg),
							firsts[i].want, firsts[i].what);
	expect_server_first("", 0, CM_SCRAM_MALFORMED, "empty");
	expect_server_first(BODY("r=AQIDBAUGBwgJCgsMDQ4PEBESs\0v,"
							 "s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096"),
						CM_SCRAM_MALFORMED, "with a NUL");
	memcpy(big, "r=AQIDBAUGBwgJCgsMDQ4PEBES", 26);
	memset(big + 26, 'x', sizeof(big) - 26);
	memcpy(big + CM_SCRAM_MAX_MESSAGE_LEN + 1 - 35,
		   ",s=c6vdP3H3BRe3EbtBEWXzgw==,i=4096", 35);
	expect_server_first(big, CM_SCRAM_MAX_MESSAGE_LEN + 1, CM_SCRAM_MALFORMED,
						"over the maximum length");

	expect_server_final(BODY("v="), CM_SCRAM_MALFORMED, "with an empty v=");
	expect_server_final(BODY("x=abc"), CM_SCRAM_MALFORMED, "without v=");
	expect_server_final(BODY("v=!!!!"), CM_SCRAM_MALFORMED, "with bad base64");
	expect_server_final(BODY("v=AAAA"), CM_SCRAM_MALFORMED,
						"with a 3-byte signature");
	expect_server_final(BODY("v=Q4QBXcgwPTJbXHGJsTutBmqo5AhLiMN/cgyU1OW1ReE=,x=1"),
						CM_SCRAM_MALFORMED, "with garbage after it");
	expect_server_final(BODY("v=Q4QBXcgwPTJbXHGJsTutBmqo5AhLiMN/cgyU1OW1ReE="),
						CM_SCRAM_SERVER_REJECTED, "with a wrong signature");
	expect_server_final(BODY("v=Q4QBXcgwPTJbXHGJsTutBmqo5AhLiMN/cgyU1OW1ReE=\0"),
						CM_SCRAM_MALFORMED, "with a NUL at the end");
	expect_server_final(BODY(""), CM_SCRAM_MALFORMED, "empty");
}

static void
test_api_misuse(void)
{
	CmScramClientConfig config = {0};
	CmScramBinding binding = {false, true, NULL, 0};
	CmScramSecret bad = secret_x;
	CmScramSecret mock;
	static char sentinel;
	CmScramServer *server = (CmScramServer *) &sentinel;
	CmScramClient *client = (CmScramClient *) &sentinel;
	CmScramError err;
	uint8_t wrong_key[CM_SCRAM_KEY_LEN] = {0};
	uint8_t nonce[32] = {1};
	char long_password[CM_SCRAM_MAX_PASSWORD_LEN + 2];
	const char *out;
	size_t out_len;

	is_int(cm_scram_server_begin(&secret_x, NULL, random18, 11, &server, &err),
		   CM_SCRAM_BAD_CALL, "server: too few random bytes");
	ok(server == NULL, "server: nothing returned on error");
	is_int(cm_scram_server_begin(&secret_x, NULL, random18, 65, &server, &err),
		   CM_SCRAM_BAD_CALL, "server: too many random bytes");
	is_int(cm_scram_server_begin(&secret_x, &binding, random18, 18, &server,
								 &err),
		   CM_SCRAM_BAD_CALL, "server: PLUS chosen without being offered");
	binding.plus_offered = true;
	is_int(cm_scram_server_begin(&secret_x, &binding, random18, 18, &server,
								 &err),
		   CM_SCRAM_BAD_CALL, "server: PLUS without binding data");
	bad.iterations = 0;
	is_int(cm_scram_server_begin(&bad, NULL, random18, 18, &server, &err),
		   CM_SCRAM_BAD_SECRET, "server: secret out of range");

	/* client configurations */
	config.random = random18;
	config.random_len = 18;
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_BAD_CALL,
		   "client: neither password nor keys");
	ok(client == NULL, "client: nothing returned on error");
	config.password = "secret";
	config.secret = &secret_x;
	config.client_key = client_key_x;
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_BAD_CALL,
		   "client: both password and keys");
	config.password = NULL;
	config.client_key = NULL;
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_BAD_CALL,
		   "client: secret without ClientKey");
	config.client_key = wrong_key;
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_BAD_CALL,
		   "client: ClientKey of another secret");
	cm_scram_secret_mock(nonce, 32, "ghost", &mock, &err);
	config.secret = &mock;
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_BAD_CALL,
		   "client: a mock secret cannot be passed through");
	config.secret = NULL;
	config.client_key = NULL;
	memset(long_password, 'p', sizeof(long_password) - 1);
	long_password[sizeof(long_password) - 1] = '\0';
	config.password = long_password;
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_BAD_CALL,
		   "client: password over %d bytes", CM_SCRAM_MAX_PASSWORD_LEN);
	is_int(cm_scram_verify_password(&secret_x, long_password, &err),
		   CM_SCRAM_WRONG_PASSWORD, "a password over the limit never matches");
	is_int(cm_scram_secret_from_password(long_password, secret_x.salt, 16,
										 4096, &mock, &err),
		   CM_SCRAM_BAD_CALL, "no secret from a password over the limit");
	is_int(cm_scram_secret_from_password("x", secret_x.salt, 16,
										 CM_SCRAM_MAX_DERIVE_ITERATIONS + 1,
										 &mock, &err),
		   CM_SCRAM_BAD_CALL, "no secret beyond the PBKDF2 limit");
	config.password = "secret";
	config.random_len = 8;
	is_int(cm_scram_client_begin(&config, &client, &err), CM_SCRAM_BAD_CALL,
		   "client: too few random bytes");

	/* steps out of order */
	config.random_len = 18;
	config.sasl_user = "a,b=c";
	cm_scram_client_begin(&config, &client, &err);
	is_int(cm_scram_client_step(client, "x", 1, &out, &out_len, &err),
		   CM_SCRAM_BAD_CALL, "client: input to the first step");
	is_int(cm_scram_client_step(client, NULL, 0, &out, &out_len, &err),
		   CM_SCRAM_OK, "client: first step");
	is_str(out, "n,,n=a=2Cb=3Dc,r=AQIDBAUGBwgJCgsMDQ4PEBES",
		   "client: the SCRAM user name is escaped");
	cm_scram_client_free(client);
	cm_scram_client_free(NULL);
	cm_scram_server_free(NULL);
}

int
main(void)
{
	CmScramError err;

	if (cm_scram_secret_parse(PG_SECRET_X, &secret_x, &err) != CM_SCRAM_OK ||
		!keys_from_password("secret", &secret_x, client_key_x))
	{
		printf("Bail out! fixture secret unusable\n");
		return 1;
	}
	test_rfc7677();
	test_postgres_secret();
	test_saslprep_cases();
	test_secret_parse_strict();
	test_mock();
	test_mock_never_verifies();
	test_round_trip_and_passthrough();
	test_wrong_password();
	test_client_first_malformed();
	test_client_final_malformed();
	test_channel_binding();
	test_captured_exchanges();
	test_client_side_malformed();
	test_api_misuse();
	free(heap_msg);
	return done_testing();
}
