/*
 * pure/scram.c
 *		SCRAM-SHA-256 for the connection manager: stored secrets, the
 *		server side of the exchange with a client, and the client side
 *		with a target server, including ClientKey pass-through.
 *
 * Messages arrive as (pointer, length) and are read through a cursor that
 * never passes the end.  Every size is checked against cm_scram.h's limits
 * before anything is copied, and each exchange owns its few buffers.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_scram.h"
#include "cm_encoding.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SCHEME		   "SCRAM-SHA-256"
#define CBIND_TYPE	   "tls-server-end-point"
#define CBIND_GS2_PLUS "p=" CBIND_TYPE ",,"
#define CBIND_B64_N	   "biws" /* base64("n,,") */
#define CBIND_B64_Y	   "eSws" /* base64("y,,") */
#define B64_KEY_LEN	   CM_BASE64_ENCODED_LEN(CM_SCRAM_KEY_LEN)
#define B64_NONCE_MAX  CM_BASE64_ENCODED_LEN(CM_SCRAM_MAX_RANDOM_LEN)
#define B64_SALT_MAX   CM_BASE64_ENCODED_LEN(CM_SCRAM_MAX_SALT_LEN)
#define MAX_SASL_USER  1024

struct CmScramServer
{
	CmScramServerState state;
	CmScramSecret secret;
	bool plus_offered;
	bool plus_selected;
	uint8_t cbind_data[CM_SCRAM_MAX_CBIND_DATA_LEN];
	size_t cbind_len;
	char server_nonce[B64_NONCE_MAX + 1];
	size_t server_nonce_len;
	char cbind_flag; /* 'n', 'y' or 'p', from the client-first-message */
	char *client_first_bare;
	size_t client_first_bare_len;
	const char *client_nonce; /* inside client_first_bare */
	size_t client_nonce_len;
	char *server_first;
	size_t server_first_len;
	char server_final[2 + B64_KEY_LEN + 1];
	size_t server_final_len;
	uint8_t client_key[CM_SCRAM_KEY_LEN];
};

struct CmScramClient
{
	CmScramClientState state;
	bool passthrough;
	CmScramSecret secret;				  /* pass-through: the local one */
	uint8_t client_key[CM_SCRAM_KEY_LEN]; /* pass-through */
	char *password;						  /* or a copy of the password */
	size_t password_len;
	char nonce[B64_NONCE_MAX + 1];
	size_t nonce_len;
	char *client_first; /* the bare message starts after "n,," */
	size_t client_first_len;
	char *client_final;
	size_t client_final_len;
	uint8_t server_signature[CM_SCRAM_KEY_LEN]; /* what the server must send */
};

/* Errors */

static CmScramStatus
set_error(CmScramError *err, CmScramStatus status, const char *sqlstate,
		  const char *message, const char *detail)
{
	if (err)
	{
		err->status = status;
		err->sqlstate = sqlstate;
		err->message = message;
		err->detail = detail;
	}
	return status;
}

static CmScramStatus
no_error(CmScramError *err)
{
	return set_error(err, CM_SCRAM_OK, NULL, NULL, NULL);
}

static CmScramStatus
malformed(CmScramError *err, const char *detail)
{
	return set_error(err, CM_SCRAM_MALFORMED, "08P01",
					 "malformed SCRAM message", detail);
}

static CmScramStatus
unsupported(CmScramError *err, const char *message)
{
	return set_error(err, CM_SCRAM_MALFORMED, "0A000", message, NULL);
}

static CmScramStatus
bad_call(CmScramError *err, const char *detail)
{
	return set_error(err, CM_SCRAM_BAD_CALL, "XX000",
					 "invalid use of the SCRAM exchange", detail);
}

static CmScramStatus
bad_secret(CmScramError *err, const char *detail)
{
	return set_error(err, CM_SCRAM_BAD_SECRET, "XX000", "invalid SCRAM secret",
					 detail);
}

static CmScramStatus
internal_error(CmScramError *err, const char *detail)
{
	return set_error(err, CM_SCRAM_INTERNAL, "XX000",
					 "could not compute SCRAM values", detail);
}

static CmScramStatus
wrong_password(CmScramError *err)
{
	return set_error(err, CM_SCRAM_WRONG_PASSWORD, "28P01",
					 "password authentication failed", NULL);
}

/* Primitives */

static bool
sha256(const void *data, size_t len, uint8_t out[CM_SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) == 1 &&
		   out_len == CM_SCRAM_KEY_LEN;
}

static bool
hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
			uint8_t out[CM_SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	if (key_len > INT_MAX)
		return false;
	return HMAC(EVP_sha256(), key, (int) key_len, data, len, out, &out_len) !=
			   NULL &&
		   out_len == CM_SCRAM_KEY_LEN;
}

bool
cm_scram_salted_password(const char *password, size_t password_len,
						 const uint8_t *salt, size_t salt_len,
						 int32_t iterations, uint8_t out[CM_SCRAM_KEY_LEN])
{
	if (password_len > CM_SCRAM_MAX_PASSWORD_LEN || salt_len < 1 ||
		salt_len > CM_SCRAM_MAX_SALT_LEN || iterations < 1 ||
		iterations > CM_SCRAM_MAX_DERIVE_ITERATIONS)
		return false;
	return PKCS5_PBKDF2_HMAC(password, (int) password_len, salt,
							 (int) salt_len, iterations, EVP_sha256(),
							 CM_SCRAM_KEY_LEN, out) == 1;
}

bool
cm_scram_keys(const uint8_t salted_password[CM_SCRAM_KEY_LEN],
			  uint8_t client_key[CM_SCRAM_KEY_LEN],
			  uint8_t stored_key[CM_SCRAM_KEY_LEN],
			  uint8_t server_key[CM_SCRAM_KEY_LEN])
{
	uint8_t ck[CM_SCRAM_KEY_LEN];
	bool ok;

	ok = hmac_sha256(salted_password, CM_SCRAM_KEY_LEN, "Client Key", 10, ck);
	if (ok && client_key)
		memcpy(client_key, ck, CM_SCRAM_KEY_LEN);
	if (ok && stored_key)
		ok = sha256(ck, CM_SCRAM_KEY_LEN, stored_key);
	if (ok && server_key)
		ok = hmac_sha256(salted_password, CM_SCRAM_KEY_LEN, "Server Key", 10,
						 server_key);
	OPENSSL_cleanse(ck, sizeof(ck));
	return ok;
}

bool
cm_scram_signature(const uint8_t key[CM_SCRAM_KEY_LEN], const char *auth_message,
				   size_t len, uint8_t out[CM_SCRAM_KEY_LEN])
{
	return hmac_sha256(key, CM_SCRAM_KEY_LEN, auth_message, len, out);
}

bool
cm_scram_stored_key(const uint8_t client_key[CM_SCRAM_KEY_LEN],
					uint8_t out[CM_SCRAM_KEY_LEN])
{
	return sha256(client_key, CM_SCRAM_KEY_LEN, out);
}

/*
 * The signature over AuthMessage = first_bare "," server_first ","
 * final_without_proof, assembled in a scratch buffer freed at once.
 */
static bool
auth_message_signatures(const char *first_bare, size_t first_bare_len,
						const char *server_first, size_t server_first_len,
						const char *final_wo_proof, size_t final_len,
						const uint8_t stored_key[CM_SCRAM_KEY_LEN],
						const uint8_t server_key[CM_SCRAM_KEY_LEN],
						uint8_t client_signature[CM_SCRAM_KEY_LEN],
						uint8_t server_signature[CM_SCRAM_KEY_LEN])
{
	/* each part is at most CM_SCRAM_MAX_MESSAGE_LEN: no overflow */
	size_t len = first_bare_len + 1 + server_first_len + 1 + final_len;
	char *am = malloc(len);
	char *p = am;
	bool ok;

	if (am == NULL)
		return false;
	memcpy(p, first_bare, first_bare_len);
	p += first_bare_len;
	*p++ = ',';
	memcpy(p, server_first, server_first_len);
	p += server_first_len;
	*p++ = ',';
	memcpy(p, final_wo_proof, final_len);

	ok = cm_scram_signature(stored_key, am, len, client_signature) &&
		 cm_scram_signature(server_key, am, len, server_signature);
	free(am);
	return ok;
}

/* Secrets */

/* Decimal digits only, 1..INT32_MAX; leading zeros pass, as in strtol. */
static bool
parse_iterations(const char *s, size_t len, int32_t *out)
{
	int64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > CM_SCRAM_MAX_ITERATIONS)
			return false;
	}
	if (v < 1)
		return false;
	*out = (int32_t) v;
	return true;
}

static bool
decode_key(const char *s, size_t len, uint8_t out[CM_SCRAM_KEY_LEN])
{
	size_t n = 0;

	return cm_base64_decode(s, len, out, CM_SCRAM_KEY_LEN, &n) &&
		   n == CM_SCRAM_KEY_LEN;
}

static bool
secret_in_range(const CmScramSecret *secret)
{
	return secret->iterations >= 1 && secret->salt_len >= 1 &&
		   secret->salt_len <= CM_SCRAM_MAX_SALT_LEN;
}

CmScramStatus
cm_scram_secret_parse(const char *text, CmScramSecret *out, CmScramError *err)
{
	static const char prefix[] = SCHEME "$";
	size_t len = strnlen(text, CM_SCRAM_MAX_SECRET_LEN + 1);
	const char *end = text + len;
	const char *p;
	const char *sep;
	CmScramSecret s;

	if (len > CM_SCRAM_MAX_SECRET_LEN)
		return bad_secret(err, "The secret is too long.");
	if (len < sizeof(prefix) - 1 || memcmp(text, prefix, sizeof(prefix) - 1))
		return bad_secret(err, "The secret is not a SCRAM-SHA-256 secret.");
	memset(&s, 0, sizeof(s));

	p = text + sizeof(prefix) - 1;
	sep = memchr(p, ':', (size_t) (end - p));
	if (sep == NULL || !parse_iterations(p, (size_t) (sep - p), &s.iterations))
		return bad_secret(err, "Invalid iteration count.");

	p = sep + 1;
	sep = memchr(p, '$', (size_t) (end - p));
	if (sep == NULL ||
		!cm_base64_decode(p, (size_t) (sep - p), s.salt, sizeof(s.salt),
						  &s.salt_len) ||
		s.salt_len == 0)
		return bad_secret(err, "Invalid salt.");

	p = sep + 1;
	sep = memchr(p, ':', (size_t) (end - p));
	if (sep == NULL || !decode_key(p, (size_t) (sep - p), s.stored_key))
		return bad_secret(err, "Invalid StoredKey.");

	p = sep + 1;
	if (!decode_key(p, (size_t) (end - p), s.server_key))
		return bad_secret(err, "Invalid ServerKey.");

	*out = s;
	OPENSSL_cleanse(&s, sizeof(s));
	return no_error(err);
}

size_t
cm_scram_secret_format(const CmScramSecret *secret, char *out, size_t cap)
{
	char salt[B64_SALT_MAX + 1];
	char stored[B64_KEY_LEN + 1];
	char server[B64_KEY_LEN + 1];
	int n;

	if (!secret_in_range(secret) ||
		!cm_base64_encode(secret->salt, secret->salt_len, salt, sizeof(salt),
						  NULL) ||
		!cm_base64_encode(secret->stored_key, CM_SCRAM_KEY_LEN, stored,
						  sizeof(stored), NULL) ||
		!cm_base64_encode(secret->server_key, CM_SCRAM_KEY_LEN, server,
						  sizeof(server), NULL))
		return 0;
	n = snprintf(out, cap, "%s$%d:%s$%s:%s", SCHEME, (int) secret->iterations,
				 salt, stored, server);
	if (n < 0 || (size_t) n >= cap)
		return 0;
	return (size_t) n;
}

CmScramStatus
cm_scram_secret_from_password(const char *password, const uint8_t *salt,
							  size_t salt_len, int32_t iterations,
							  CmScramSecret *out, CmScramError *err)
{
	size_t len = strnlen(password, CM_SCRAM_MAX_PASSWORD_LEN + 1);
	uint8_t salted[CM_SCRAM_KEY_LEN];
	CmScramSecret s;
	bool ok;

	if (len > CM_SCRAM_MAX_PASSWORD_LEN)
		return bad_call(err, "The password is too long.");
	if (salt == NULL || salt_len < 1 || salt_len > CM_SCRAM_MAX_SALT_LEN)
		return bad_call(err, "The salt is empty or too long.");
	if (iterations < 1 || iterations > CM_SCRAM_MAX_DERIVE_ITERATIONS)
		return bad_call(err, "The iteration count is out of range.");

	memset(&s, 0, sizeof(s));
	s.iterations = iterations;
	s.salt_len = salt_len;
	memcpy(s.salt, salt, salt_len);
	ok = cm_scram_salted_password(password, len, salt, salt_len, iterations,
								  salted) &&
		 cm_scram_keys(salted, NULL, s.stored_key, s.server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	if (!ok)
		return internal_error(err, "PBKDF2 or HMAC failed.");
	*out = s;
	OPENSSL_cleanse(&s, sizeof(s));
	return no_error(err);
}

CmScramStatus
cm_scram_secret_mock(const uint8_t *mock_nonce, size_t nonce_len,
					 const char *role, CmScramSecret *out, CmScramError *err)
{
	EVP_MD_CTX *ctx;
	uint8_t digest[EVP_MAX_MD_SIZE];
	uint8_t salted[CM_SCRAM_KEY_LEN];
	unsigned int digest_len = 0;
	CmScramSecret s;
	bool ok;

	if (mock_nonce == NULL || nonce_len < 1 ||
		nonce_len > CM_SCRAM_MAX_MOCK_NONCE_LEN || role == NULL)
		return bad_call(err, "The mock nonce is empty or too long.");
	memset(&s, 0, sizeof(s));

	/* the role name is hashed as it comes, of any length */
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, role, strlen(role)) == 1 &&
		 EVP_DigestUpdate(ctx, mock_nonce, nonce_len) == 1 &&
		 EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1 &&
		 digest_len == CM_SCRAM_KEY_LEN;
	EVP_MD_CTX_free(ctx);

	/* keys shaped like real ones, never matched: s.mock fails the proof */
	ok = ok && hmac_sha256(mock_nonce, nonce_len, role, strlen(role), salted) &&
		 cm_scram_keys(salted, NULL, s.stored_key, s.server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	if (!ok)
		return internal_error(err, "SHA-256 or HMAC failed.");

	memcpy(s.salt, digest, CM_SCRAM_DEFAULT_SALT_LEN);
	s.salt_len = CM_SCRAM_DEFAULT_SALT_LEN;
	s.iterations = CM_SCRAM_DEFAULT_ITERATIONS;
	s.mock = true;
	*out = s;
	return no_error(err);
}

CmScramStatus
cm_scram_verify_password(const CmScramSecret *secret, const char *password,
						 CmScramError *err)
{
	size_t len = strnlen(password, CM_SCRAM_MAX_PASSWORD_LEN + 1);
	uint8_t salted[CM_SCRAM_KEY_LEN];
	uint8_t stored[CM_SCRAM_KEY_LEN];
	uint8_t server[CM_SCRAM_KEY_LEN];
	bool ok;
	bool match;

	if (!secret_in_range(secret) ||
		secret->iterations > CM_SCRAM_MAX_DERIVE_ITERATIONS)
		return bad_secret(err, "The iteration count is beyond the limit for "
							   "checking a cleartext password.");
	if (len > CM_SCRAM_MAX_PASSWORD_LEN)
		return wrong_password(err);

	ok = cm_scram_salted_password(password, len, secret->salt, secret->salt_len,
								  secret->iterations, salted) &&
		 cm_scram_keys(salted, NULL, stored, server);
	match = ok &&
			(CRYPTO_memcmp(stored, secret->stored_key, CM_SCRAM_KEY_LEN) |
			 CRYPTO_memcmp(server, secret->server_key, CM_SCRAM_KEY_LEN)) == 0;
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	if (!ok)
		return internal_error(err, "PBKDF2 or HMAC failed.");
	if (!match || secret->mock)
		return wrong_password(err);
	return no_error(err);
}

/* Well-formed UTF-8 (RFC 3629): no overlongs, surrogates or > U+10FFFF. */
static bool
is_valid_utf8(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len)
	{
		uint8_t c = s[i];
		size_t n;
		uint8_t lo = 0x80;
		uint8_t hi = 0xBF;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 2;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 3;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 4;
		else
			return false;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		else if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k < n; k++)
		{
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		}
		i += n;
	}
	return true;
}

bool
cm_scram_password_needs_saslprep(const char *password)
{
	size_t len = strlen(password);
	bool ascii = true;

	for (size_t i = 0; i < len; i++)
	{
		if ((uint8_t) password[i] >= 0x80)
			ascii = false;
	}
	return !ascii && is_valid_utf8((const uint8_t *) password, len);
}

CmScramStatus
cm_scram_select_mechanism(const char *name, bool plus_offered,
						  bool *plus_selected, CmScramError *err)
{
	if (strcmp(name, CM_SCRAM_MECHANISM) == 0)
		*plus_selected = false;
	else if (plus_offered && strcmp(name, CM_SCRAM_MECHANISM_PLUS) == 0)
		*plus_selected = true;
	else
		return set_error(err, CM_SCRAM_MALFORMED, "08P01",
						 "client selected an invalid SASL authentication mechanism",
						 NULL);
	return no_error(err);
}

/* Message parsing */

typedef struct Cursor
{
	const char *p;
	const char *end;
} Cursor;

static bool
at_end(const Cursor *c)
{
	return c->p >= c->end;
}

static bool
peek(const Cursor *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

static bool
take(Cursor *c, char ch)
{
	if (!peek(c, ch))
		return false;
	c->p++;
	return true;
}

/* Reads "<attr>=<value>" up to the next comma or the end; not the comma. */
static bool
read_attr(Cursor *c, char attr, const char **value, size_t *value_len)
{
	const char *v;

	if (c->end - c->p < 2 || c->p[0] != attr || c->p[1] != '=')
		return false;
	v = c->p + 2;
	c->p = v;
	while (c->p < c->end && *c->p != ',')
		c->p++;
	*value = v;
	*value_len = (size_t) (c->p - v);
	return true;
}

/* Reads any attribute: one ASCII letter, "=", a value. */
static bool
read_any_attr(Cursor *c, char *attr, const char **value, size_t *value_len)
{
	char ch;

	if (at_end(c))
		return false;
	ch = *c->p;
	if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
		return false;
	*attr = ch;
	return read_attr(c, ch, value, value_len);
}

/* A nonce: one or more printable ASCII characters other than ','. */
static bool
is_printable_nonce(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ',')
			return false;
	}
	return true;
}

static CmScramStatus
check_message(const char *in, size_t len, CmScramError *err)
{
	if (in == NULL || len == 0)
		return malformed(err, "The message is empty.");
	if (len > CM_SCRAM_MAX_MESSAGE_LEN)
		return malformed(err, "The message is too long.");
	if (memchr(in, '\0', len) != NULL)
		return malformed(err, "The message contains a NUL byte.");
	return CM_SCRAM_OK;
}

static void
xor_keys(const uint8_t *a, const uint8_t *b, uint8_t *out)
{
	for (int i = 0; i < CM_SCRAM_KEY_LEN; i++)
		out[i] = a[i] ^ b[i];
}

/* Server side */

CmScramStatus
cm_scram_server_begin(const CmScramSecret *secret,
					  const CmScramBinding *binding, const uint8_t *random,
					  size_t random_len, CmScramServer **out, CmScramError *err)
{
	CmScramServer *s;

	if (out == NULL || secret == NULL)
		return bad_call(err, "No secret or no place for the exchange.");
	*out = NULL;
	if (!secret_in_range(secret))
		return bad_secret(err, "The secret's salt or iteration count is "
							   "out of range.");
	if (random == NULL || random_len < CM_SCRAM_MIN_RANDOM_LEN ||
		random_len > CM_SCRAM_MAX_RANDOM_LEN)
		return bad_call(err, "The server nonce needs 12 to 64 random bytes.");
	if (binding && binding->plus_selected &&
		(!binding->plus_offered || binding->cbind_data == NULL ||
		 binding->cbind_len < 1 ||
		 binding->cbind_len > CM_SCRAM_MAX_CBIND_DATA_LEN))
		return bad_call(err, "SCRAM-SHA-256-PLUS needs the certificate hash "
							 "it was offered with.");

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return internal_error(err, "Out of memory.");
	s->secret = *secret;
	if (binding)
	{
		s->plus_offered = binding->plus_offered;
		s->plus_selected = binding->plus_selected;
		if (binding->plus_selected)
		{
			memcpy(s->cbind_data, binding->cbind_data, binding->cbind_len);
			s->cbind_len = binding->cbind_len;
		}
	}
	(void) cm_base64_encode(random, random_len, s->server_nonce,
							sizeof(s->server_nonce), &s->server_nonce_len);
	s->state = CM_SCRAM_SERVER_EXPECT_CLIENT_FIRST;
	*out = s;
	return no_error(err);
}

/*
 * client-first-message = gs2-header client-first-message-bare
 *		gs2-header	= ("n" | "y" | "p=" cb-name) "," [authzid] ","
 *		bare		= [reserved-mext ","] "n=" saslname "," "r=" nonce
 *					  ["," extensions]
 * The user name is ignored, as PostgreSQL ignores it.
 */
static CmScramStatus
server_read_client_first(CmScramServer *s, const char *in, size_t len,
						 CmScramError *err)
{
	Cursor c = {in, in + len};
	const char *value;
	size_t value_len;
	const char *bare;
	const char *nonce;
	size_t nonce_len;
	char attr;
	char salt[B64_SALT_MAX + 1];
	size_t cap;
	int n;

	if (take(&c, 'n') || take(&c, 'y'))
	{
		s->cbind_flag = in[0];
		if (s->plus_selected)
			return malformed(err, "The client selected SCRAM-SHA-256-PLUS, "
								  "but the SCRAM message does not include "
								  "channel binding data.");
		if (s->cbind_flag == 'y' && s->plus_offered)
			return set_error(err, CM_SCRAM_CHANNEL_BINDING, "08P01",
							 "SCRAM channel binding negotiation error",
							 "The client supports SCRAM channel binding but "
							 "thinks the server does not.  However, this "
							 "server does support channel binding.");
	}
	else if (read_attr(&c, 'p', &value, &value_len))
	{
		s->cbind_flag = 'p';
		if (!s->plus_selected)
			return malformed(err, "The client selected SCRAM-SHA-256 "
								  "without channel binding, but the SCRAM "
								  "message includes channel binding data.");
		if (value_len != strlen(CBIND_TYPE) ||
			memcmp(value, CBIND_TYPE, value_len) != 0)
			return set_error(err, CM_SCRAM_CHANNEL_BINDING, "08P01",
							 "unsupported SCRAM channel-binding type", NULL);
	}
	else
		return malformed(err, "Unexpected channel-binding flag.");
	if (!take(&c, ','))
		return malformed(err, "Comma expected after the channel-binding "
							  "flag.");
	if (peek(&c, 'a'))
		return unsupported(err, "client uses authorization identity, but it "
								"is not supported");
	if (!take(&c, ','))
		return malformed(err, "Unexpected attribute in client-first-message.");

	bare = c.p;
	if (peek(&c, 'm'))
		return unsupported(err,
						   "client requires an unsupported SCRAM extension");
	if (!read_attr(&c, 'n', &value, &value_len))
		return malformed(err, "Expected attribute \"n\" (user name).");
	if (!take(&c, ',') || !read_attr(&c, 'r', &nonce, &nonce_len))
		return malformed(err, "Expected attribute \"r\" (nonce).");
	if (!is_printable_nonce(nonce, nonce_len))
		return malformed(err, "The nonce is empty or has characters that "
							  "are not printable.");
	if (nonce_len > CM_SCRAM_MAX_NONCE_LEN)
		return malformed(err, "The nonce is too long.");
	/* optional extensions are allowed and ignored */
	while (!at_end(&c))
	{
		if (!take(&c, ',') || !read_any_attr(&c, &attr, &value, &value_len))
			return malformed(err, "Garbage found at the end of "
								  "client-first-message.");
	}

	s->client_first_bare_len = (size_t) (c.end - bare);
	s->client_first_bare = malloc(s->client_first_bare_len + 1);
	if (s->client_first_bare == NULL)
		return internal_error(err, "Out of memory.");
	memcpy(s->client_first_bare, bare, s->client_first_bare_len);
	s->client_first_bare[s->client_first_bare_len] = '\0';
	s->client_nonce = s->client_first_bare + (nonce - bare);
	s->client_nonce_len = nonce_len;

	(void) cm_base64_encode(s->secret.salt, s->secret.salt_len, salt,
							sizeof(salt), NULL);
	/* "r=" nonces ",s=" salt ",i=" up to ten digits, NUL */
	cap = 2 + nonce_len + s->server_nonce_len + 3 + strlen(salt) + 3 + 10 + 1;
	s->server_first = malloc(cap);
	if (s->server_first == NULL)
		return internal_error(err, "Out of memory.");
	n = snprintf(s->server_first, cap, "r=%.*s%s,s=%s,i=%d", (int) nonce_len,
				 nonce, s->server_nonce, salt, (int) s->secret.iterations);
	if (n < 0 || (size_t) n >= cap)
		return internal_error(err, "The server-first-message did not fit.");
	s->server_first_len = (size_t) n;
	return CM_SCRAM_OK;
}

/* The c= value the client must send for the flag it chose. */
static bool
expected_cbind(const CmScramServer *s, char *out, size_t cap)
{
	uint8_t input[sizeof(CBIND_GS2_PLUS) - 1 + CM_SCRAM_MAX_CBIND_DATA_LEN];
	size_t header = sizeof(CBIND_GS2_PLUS) - 1;

	if (s->cbind_flag != 'p')
	{
		/* "biws" or "eSws", both four characters */
		if (cap < 5)
			return false;
		memcpy(out, s->cbind_flag == 'y' ? CBIND_B64_Y : CBIND_B64_N, 5);
		return true;
	}
	memcpy(input, CBIND_GS2_PLUS, header);
	memcpy(input + header, s->cbind_data, s->cbind_len);
	return cm_base64_encode(input, header + s->cbind_len, out, cap, NULL);
}

/*
 * client-final-message = "c=" base64(gs2-header [cbind-data]) ","
 *		"r=" nonce ["," extensions] "," "p=" base64(ClientProof)
 * The proof must come last; AuthMessage covers everything before ",p=".
 */
static CmScramStatus
server_read_client_final(CmScramServer *s, const char *in, size_t len,
						 CmScramError *err)
{
	Cursor c = {in, in + len};
	char cbind[CM_BASE64_ENCODED_LEN(sizeof(CBIND_GS2_PLUS) - 1 +
									 CM_SCRAM_MAX_CBIND_DATA_LEN) +
			   1];
	const char *value;
	size_t value_len;
	const char *proof_start;
	char attr = 0;
	uint8_t proof[CM_SCRAM_KEY_LEN];
	uint8_t client_signature[CM_SCRAM_KEY_LEN];
	uint8_t server_signature[CM_SCRAM_KEY_LEN];
	uint8_t client_key[CM_SCRAM_KEY_LEN];
	uint8_t stored_key[CM_SCRAM_KEY_LEN];
	size_t proof_len = 0;
	bool ok;
	bool match;

	if (!read_attr(&c, 'c', &value, &value_len))
		return malformed(err, "Expected attribute \"c\" (channel binding).");
	if (!expected_cbind(s, cbind, sizeof(cbind)))
		return internal_error(err, "Channel binding data did not fit.");
	if (value_len != strlen(cbind) || CRYPTO_memcmp(value, cbind, value_len) != 0)
	{
		if (s->cbind_flag == 'p')
			return set_error(err, CM_SCRAM_CHANNEL_BINDING, "28000",
							 "SCRAM channel binding check failed", NULL);
		return set_error(err, CM_SCRAM_CHANNEL_BINDING, "08P01",
						 "unexpected SCRAM channel-binding attribute in "
						 "client-final-message",
						 NULL);
	}

	if (!take(&c, ',') || !read_attr(&c, 'r', &value, &value_len))
		return malformed(err, "Expected attribute \"r\" (nonce).");
	if (value_len != s->client_nonce_len + s->server_nonce_len ||
		memcmp(value, s->client_nonce, s->client_nonce_len) != 0 ||
		memcmp(value + s->client_nonce_len, s->server_nonce,
			   s->server_nonce_len) != 0)
		return set_error(err, CM_SCRAM_MALFORMED, "08P01",
						 "invalid SCRAM response", "Nonce does not match.");

	/* extensions are skipped up to the proof, which must be last */
	do
	{
		proof_start = c.p;
		if (!take(&c, ',') || !read_any_attr(&c, &attr, &value, &value_len))
			return malformed(err, "Expected attribute \"p\" (proof) at the "
								  "end of client-final-message.");
	} while (attr != 'p');
	if (!at_end(&c))
		return malformed(err, "Garbage found at the end of "
							  "client-final-message.");
	if (!cm_base64_decode(value, value_len, proof, sizeof(proof), &proof_len) ||
		proof_len != CM_SCRAM_KEY_LEN)
		return malformed(err, "Malformed proof in client-final-message.");

	/*
	 * ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); it is right
	 * when its hash is the StoredKey.  A mock secret goes through the same
	 * work so that its failure takes as long as a real one.
	 */
	ok = auth_message_signatures(s->client_first_bare, s->client_first_bare_len,
								 s->server_first, s->server_first_len, in,
								 (size_t) (proof_start - in),
								 s->secret.stored_key, s->secret.server_key,
								 client_signature, server_signature);
	xor_keys(proof, client_signature, client_key);
	ok = ok && cm_scram_stored_key(client_key, stored_key);
	match = ok && CRYPTO_memcmp(stored_key, s->secret.stored_key,
								CM_SCRAM_KEY_LEN) == 0;
	if (match && !s->secret.mock)
	{
		memcpy(s->client_key, client_key, CM_SCRAM_KEY_LEN);
		memcpy(s->server_final, "v=", 2);
		(void) cm_base64_encode(server_signature, CM_SCRAM_KEY_LEN,
								s->server_final + 2,
								sizeof(s->server_final) - 2, NULL);
		s->server_final_len = 2 + B64_KEY_LEN;
	}
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(client_signature, sizeof(client_signature));
	OPENSSL_cleanse(proof, sizeof(proof));
	if (!ok)
		return internal_error(err, "HMAC or SHA-256 failed.");
	if (!match || s->secret.mock)
		return wrong_password(err);
	return CM_SCRAM_OK;
}

static void
server_release_messages(CmScramServer *s)
{
	free(s->client_first_bare);
	s->client_first_bare = NULL;
	s->client_nonce = NULL;
	free(s->server_first);
	s->server_first = NULL;
}

CmScramStatus
cm_scram_server_step(CmScramServer *server, const char *in, size_t len,
					 const char **out, size_t *out_len, CmScramError *err)
{
	CmScramStatus status;

	if (server == NULL || out == NULL || out_len == NULL)
		return bad_call(err, "No exchange or no place for the output.");
	*out = NULL;
	*out_len = 0;
	if (server->state != CM_SCRAM_SERVER_EXPECT_CLIENT_FIRST &&
		server->state != CM_SCRAM_SERVER_EXPECT_CLIENT_FINAL)
		return bad_call(err, "The SCRAM exchange is over.");

	status = check_message(in, len, err);
	if (status == CM_SCRAM_OK)
	{
		if (server->state == CM_SCRAM_SERVER_EXPECT_CLIENT_FIRST)
			status = server_read_client_first(server, in, len, err);
		else
			status = server_read_client_final(server, in, len, err);
	}
	if (status != CM_SCRAM_OK)
	{
		server->state = CM_SCRAM_SERVER_FAILED;
		server_release_messages(server);
		return status;
	}

	if (server->state == CM_SCRAM_SERVER_EXPECT_CLIENT_FIRST)
	{
		server->state = CM_SCRAM_SERVER_EXPECT_CLIENT_FINAL;
		*out = server->server_first;
		*out_len = server->server_first_len;
	}
	else
	{
		server->state = CM_SCRAM_SERVER_DONE;
		server_release_messages(server);
		*out = server->server_final;
		*out_len = server->server_final_len;
	}
	return no_error(err);
}

CmScramServerState
cm_scram_server_state(const CmScramServer *server)
{
	return server->state;
}

bool
cm_scram_server_client_key(const CmScramServer *server,
						   uint8_t out[CM_SCRAM_KEY_LEN])
{
	if (server->state != CM_SCRAM_SERVER_DONE)
		return false;
	memcpy(out, server->client_key, CM_SCRAM_KEY_LEN);
	return true;
}

void
cm_scram_server_free(CmScramServer *server)
{
	if (server == NULL)
		return;
	server_release_messages(server);
	OPENSSL_cleanse(server, sizeof(*server));
	free(server);
}

/* Client side */

/* saslname: "," and "=" escaped as "=2C" and "=3D" (RFC 5802). */
static size_t
escape_sasl_user(const char *user, char *out)
{
	size_t o = 0;

	for (const char *p = user; *p; p++)
	{
		if (*p == ',' || *p == '=')
		{
			memcpy(out + o, *p == ',' ? "=2C" : "=3D", 3);
			o += 3;
		}
		else
			out[o++] = *p;
	}
	return o;
}

CmScramStatus
cm_scram_client_begin(const CmScramClientConfig *config, CmScramClient **out,
					  CmScramError *err)
{
	const char *user;
	bool by_password;
	uint8_t stored[CM_SCRAM_KEY_LEN];
	CmScramClient *c;
	size_t user_len;
	size_t cap;

	if (out == NULL || config == NULL)
		return bad_call(err, "No configuration or no place for the exchange.");
	*out = NULL;
	by_password = config->password != NULL;
	if (by_password ? config->secret != NULL || config->client_key != NULL
					: config->secret == NULL || config->client_key == NULL)
		return bad_call(err, "Give either a password or a secret with its "
							 "ClientKey.");
	if (config->random == NULL || config->random_len < CM_SCRAM_MIN_RANDOM_LEN ||
		config->random_len > CM_SCRAM_MAX_RANDOM_LEN)
		return bad_call(err, "The client nonce needs 12 to 64 random bytes.");
	user = config->sasl_user ? config->sasl_user : "";
	user_len = strnlen(user, MAX_SASL_USER + 1);
	if (user_len > MAX_SASL_USER)
		return bad_call(err, "The SCRAM user name is too long.");
	if (by_password && strnlen(config->password, CM_SCRAM_MAX_PASSWORD_LEN + 1) >
						   CM_SCRAM_MAX_PASSWORD_LEN)
		return bad_call(err, "The password is too long.");
	if (!by_password)
	{
		if (config->secret->mock || !secret_in_range(config->secret))
			return bad_call(err, "A mock or invalid secret cannot be passed "
								 "through.");
		if (!cm_scram_stored_key(config->client_key, stored))
			return internal_error(err, "SHA-256 failed.");
		if (CRYPTO_memcmp(stored, config->secret->stored_key,
						  CM_SCRAM_KEY_LEN) != 0)
			return bad_call(err, "The ClientKey does not belong to the "
								 "secret.");
	}

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return internal_error(err, "Out of memory.");
	c->state = CM_SCRAM_CLIENT_START;
	c->passthrough = !by_password;
	if (by_password)
	{
		c->password_len = strlen(config->password);
		c->password = malloc(c->password_len + 1);
		if (c->password == NULL)
		{
			cm_scram_client_free(c);
			return internal_error(err, "Out of memory.");
		}
		memcpy(c->password, config->password, c->password_len + 1);
	}
	else
	{
		c->secret = *config->secret;
		memcpy(c->client_key, config->client_key, CM_SCRAM_KEY_LEN);
	}
	(void) cm_base64_encode(config->random, config->random_len, c->nonce,
							sizeof(c->nonce), &c->nonce_len);

	/* "n,,n=" escaped user ",r=" nonce, NUL */
	cap = 5 + 3 * user_len + 3 + c->nonce_len + 1;
	c->client_first = malloc(cap);
	if (c->client_first == NULL)
	{
		cm_scram_client_free(c);
		return internal_error(err, "Out of memory.");
	}
	memcpy(c->client_first, "n,,n=", 5);
	c->client_first_len = 5 + escape_sasl_user(user, c->client_first + 5);
	memcpy(c->client_first + c->client_first_len, ",r=", 3);
	c->client_first_len += 3;
	memcpy(c->client_first + c->client_first_len, c->nonce, c->nonce_len);
	c->client_first_len += c->nonce_len;
	c->client_first[c->client_first_len] = '\0';

	*out = c;
	return no_error(err);
}

/*
 * The keys for this server's salt and iteration count: the local secret's
 * in pass-through, which must then be the same verifier, or derived from
 * the password.
 */
static CmScramStatus
client_keys(const CmScramClient *c, const uint8_t *salt, size_t salt_len,
			int32_t iterations, uint8_t client_key[CM_SCRAM_KEY_LEN],
			uint8_t stored_key[CM_SCRAM_KEY_LEN],
			uint8_t server_key[CM_SCRAM_KEY_LEN], CmScramError *err)
{
	uint8_t salted[CM_SCRAM_KEY_LEN];
	bool ok;

	if (c->passthrough)
	{
		if (iterations != c->secret.iterations ||
			salt_len != c->secret.salt_len ||
			memcmp(salt, c->secret.salt, salt_len) != 0)
			return set_error(err, CM_SCRAM_PASSTHROUGH_MISMATCH, "28000",
							 "cannot pass SCRAM authentication through to "
							 "the target server",
							 "The target server's salt or iteration count "
							 "for this role differs from the local secret's; "
							 "pass-through needs the same verifier on both.");
		memcpy(client_key, c->client_key, CM_SCRAM_KEY_LEN);
		memcpy(stored_key, c->secret.stored_key, CM_SCRAM_KEY_LEN);
		memcpy(server_key, c->secret.server_key, CM_SCRAM_KEY_LEN);
		return CM_SCRAM_OK;
	}
	if (iterations > CM_SCRAM_MAX_DERIVE_ITERATIONS)
		return set_error(err, CM_SCRAM_MALFORMED, "54000",
						 "SCRAM iteration count is beyond the connection "
						 "manager's limit",
						 NULL);
	ok = cm_scram_salted_password(c->password, c->password_len, salt, salt_len,
								  iterations, salted) &&
		 cm_scram_keys(salted, client_key, stored_key, server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	if (!ok)
		return internal_error(err, "PBKDF2 or HMAC failed.");
	return CM_SCRAM_OK;
}

/*
 * server-first-message = "r=" nonce "," "s=" salt "," "i=" iterations,
 * nothing after (libpq rejects extensions there too).
 */
static CmScramStatus
client_read_server_first(CmScramClient *c, const char *in, size_t len,
						 CmScramError *err)
{
	Cursor cur = {in, in + len};
	const char *nonce;
	size_t nonce_len;
	const char *value;
	size_t value_len;
	uint8_t salt[CM_SCRAM_MAX_SALT_LEN];
	size_t salt_len = 0;
	int32_t iterations = 0;
	uint8_t client_key[CM_SCRAM_KEY_LEN];
	uint8_t stored_key[CM_SCRAM_KEY_LEN];
	uint8_t server_key[CM_SCRAM_KEY_LEN];
	uint8_t client_signature[CM_SCRAM_KEY_LEN];
	uint8_t proof[CM_SCRAM_KEY_LEN];
	CmScramStatus status;
	size_t prefix_len;
	size_t cap;
	bool ok;

	if (peek(&cur, 'm'))
		return unsupported(err,
						   "server requires an unsupported SCRAM extension");
	if (!read_attr(&cur, 'r', &nonce, &nonce_len))
		return malformed(err, "Expected attribute \"r\" (nonce).");
	if (nonce_len <= c->nonce_len || memcmp(nonce, c->nonce, c->nonce_len))
		return set_error(err, CM_SCRAM_MALFORMED, "08P01",
						 "invalid SCRAM response", "Nonce does not match.");
	if (!is_printable_nonce(nonce, nonce_len))
		return malformed(err, "The nonce has characters that are not "
							  "printable.");
	if (!take(&cur, ',') || !read_attr(&cur, 's', &value, &value_len))
		return malformed(err, "Expected attribute \"s\" (salt).");
	if (!cm_base64_decode(value, value_len, salt, sizeof(salt), &salt_len) ||
		salt_len == 0)
		return malformed(err, "Invalid salt.");
	if (!take(&cur, ',') || !read_attr(&cur, 'i', &value, &value_len))
		return malformed(err, "Expected attribute \"i\" (iteration count).");
	if (!parse_iterations(value, value_len, &iterations))
		return malformed(err, "Invalid iteration count.");
	if (!at_end(&cur))
		return malformed(err, "Garbage found at the end of "
							  "server-first-message.");

	status = client_keys(c, salt, salt_len, iterations, client_key, stored_key,
						 server_key, err);
	if (status != CM_SCRAM_OK)
	{
		OPENSSL_cleanse(client_key, sizeof(client_key));
		OPENSSL_cleanse(server_key, sizeof(server_key));
		return status;
	}

	/* "c=biws,r=" nonce ",p=" proof, NUL */
	prefix_len = 9 + nonce_len;
	cap = prefix_len + 3 + B64_KEY_LEN + 1;
	c->client_final = malloc(cap);
	if (c->client_final == NULL)
	{
		OPENSSL_cleanse(client_key, sizeof(client_key));
		OPENSSL_cleanse(server_key, sizeof(server_key));
		return internal_error(err, "Out of memory.");
	}
	memcpy(c->client_final, "c=" CBIND_B64_N ",r=", 9);
	memcpy(c->client_final + 9, nonce, nonce_len);

	ok = auth_message_signatures(c->client_first + 3, c->client_first_len - 3,
								 in, len, c->client_final, prefix_len,
								 stored_key, server_key, client_signature,
								 c->server_signature);
	xor_keys(client_key, client_signature, proof);
	memcpy(c->client_final + prefix_len, ",p=", 3);
	ok = ok && cm_base64_encode(proof, CM_SCRAM_KEY_LEN,
								c->client_final + prefix_len + 3,
								cap - prefix_len - 3, NULL);
	c->client_final_len = prefix_len + 3 + B64_KEY_LEN;
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(server_key, sizeof(server_key));
	OPENSSL_cleanse(proof, sizeof(proof));
	if (!ok)
		return internal_error(err, "HMAC failed.");
	return CM_SCRAM_OK;
}

/* server-final-message = "v=" base64(ServerSignature) | "e=" error */
static CmScramStatus
client_read_server_final(CmScramClient *c, const char *in, size_t len,
						 CmScramError *err)
{
	Cursor cur = {in, in + len};
	const char *value;
	size_t value_len;
	uint8_t signature[CM_SCRAM_KEY_LEN];
	size_t signature_len = 0;

	if (read_attr(&cur, 'e', &value, &value_len))
		return set_error(err, CM_SCRAM_SERVER_REJECTED, "08006",
						 "error received from server in SCRAM exchange", NULL);
	if (!read_attr(&cur, 'v', &value, &value_len))
		return malformed(err, "Expected attribute \"v\" (server signature).");
	if (!at_end(&cur))
		return malformed(err, "Garbage found at the end of "
							  "server-final-message.");
	if (!cm_base64_decode(value, value_len, signature, sizeof(signature),
						  &signature_len) ||
		signature_len != CM_SCRAM_KEY_LEN)
		return malformed(err, "Invalid server signature.");
	if (CRYPTO_memcmp(signature, c->server_signature, CM_SCRAM_KEY_LEN) != 0)
		return set_error(err, CM_SCRAM_SERVER_REJECTED, "08006",
						 "incorrect server signature", NULL);
	return CM_SCRAM_OK;
}

CmScramStatus
cm_scram_client_step(CmScramClient *client, const char *in, size_t len,
					 const char **out, size_t *out_len, CmScramError *err)
{
	CmScramStatus status = CM_SCRAM_OK;

	if (client == NULL || out == NULL || out_len == NULL)
		return bad_call(err, "No exchange or no place for the output.");
	*out = NULL;
	*out_len = 0;
	switch (client->state)
	{
		case CM_SCRAM_CLIENT_START:
			if (in != NULL || len != 0)
				return bad_call(err, "The first step takes no input.");
			client->state = CM_SCRAM_CLIENT_EXPECT_SERVER_FIRST;
			*out = client->client_first;
			*out_len = client->client_first_len;
			return no_error(err);
		case CM_SCRAM_CLIENT_EXPECT_SERVER_FIRST:
			status = check_message(in, len, err);
			if (status == CM_SCRAM_OK)
				status = client_read_server_first(client, in, len, err);
			if (status == CM_SCRAM_OK)
			{
				client->state = CM_SCRAM_CLIENT_EXPECT_SERVER_FINAL;
				*out = client->client_final;
				*out_len = client->client_final_len;
			}
			break;
		case CM_SCRAM_CLIENT_EXPECT_SERVER_FINAL:
			status = check_message(in, len, err);
			if (status == CM_SCRAM_OK)
				status = client_read_server_final(client, in, len, err);
			if (status == CM_SCRAM_OK)
				client->state = CM_SCRAM_CLIENT_DONE;
			break;
		case CM_SCRAM_CLIENT_DONE:
		case CM_SCRAM_CLIENT_FAILED:
			return bad_call(err, "The SCRAM exchange is over.");
	}
	if (status != CM_SCRAM_OK)
	{
		client->state = CM_SCRAM_CLIENT_FAILED;
		return status;
	}
	return no_error(err);
}

CmScramClientState
cm_scram_client_state(const CmScramClient *client)
{
	return client->state;
}

void
cm_scram_client_free(CmScramClient *client)
{
	if (client == NULL)
		return;
	if (client->password)
	{
		OPENSSL_cleanse(client->password, client->password_len);
		free(client->password);
	}
	free(client->client_first);
	if (client->client_final)
	{
		OPENSSL_cleanse(client->client_final, client->client_final_len);
		free(client->client_final);
	}
	OPENSSL_cleanse(client, sizeof(*client));
	free(client);
}
