/*
 * cm_scram.h
 *		SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL 15 speaks it:
 *		stored secrets, the server side of the exchange towards a client,
 *		and the client side towards a target server, with pass-through of
 *		the ClientKey recovered from the client's proof.
 *
 * Pure code (libc + OpenSSL): messages in, status and messages out.  No
 * sockets, no server calls, no globals, no logging.  Exchanges live on the
 * heap and are released by their _free function; keys are wiped on free.
 *
 * Passwords and SASLprep.  PostgreSQL hashes pg_saslprep(password) when
 * that succeeds and the raw bytes otherwise (not valid UTF-8, or a
 * prohibited character).  pg_saslprep() returns pure-ASCII input unchanged,
 * control characters included, and refuses input over 1024 bytes.  So for
 * ASCII passwords and for bytes that are not well-formed UTF-8, the raw
 * bytes given here are exactly what PostgreSQL hashes.  For any other
 * password (well-formed UTF-8 with non-ASCII characters) the result
 * depends on Unicode tables (mapping, NFKC, prohibited and bidi ranges)
 * this module does not carry: cm_scram_password_needs_saslprep() says so,
 * and a caller inside the server must pass the output of the server's
 * exported pg_saslprep() on SASLPREP_SUCCESS and the raw password
 * otherwise.  Everything below takes the password already in that form.
 * Given an unprepared password that SASLprep would change (full-width
 * letters, a no-break space, a soft hyphen...), the keys simply differ: a
 * login fails, it is never wrongly accepted.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_SCRAM_H
#define CM_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CM_SCRAM_MECHANISM		"SCRAM-SHA-256"
#define CM_SCRAM_MECHANISM_PLUS "SCRAM-SHA-256-PLUS"

#define CM_SCRAM_KEY_LEN 32 /* SHA-256 */

/* What PostgreSQL 15 generates and uses for mock secrets. */
#define CM_SCRAM_DEFAULT_SALT_LEN	16
#define CM_SCRAM_DEFAULT_ITERATIONS 4096
#define CM_SCRAM_MOCK_NONCE_LEN		32 /* pg_control's mock auth nonce */
#define CM_SCRAM_NONCE_RANDOM_LEN	18 /* random bytes per nonce, as libpq */

/*
 * Limits; anything beyond them is refused with an error value.  Stored
 * secrets may have any iteration count PostgreSQL accepts, since we only
 * echo it, but we run PBKDF2 ourselves (cleartext passwords) for at most
 * CM_SCRAM_MAX_DERIVE_ITERATIONS.  Passwords are limited as pg_saslprep()
 * limits them, and channel binding data to a SHA-512 certificate hash.
 */
#define CM_SCRAM_MAX_SALT_LEN		   128
#define CM_SCRAM_MAX_ITERATIONS		   2147483647
#define CM_SCRAM_MAX_DERIVE_ITERATIONS 1000000
#define CM_SCRAM_MAX_PASSWORD_LEN	   1024
#define CM_SCRAM_MAX_SECRET_LEN		   512	/* secret text, without NUL */
#define CM_SCRAM_MAX_MESSAGE_LEN	   4096 /* any SCRAM message */
#define CM_SCRAM_MAX_NONCE_LEN		   1024 /* a client's nonce */
#define CM_SCRAM_MIN_RANDOM_LEN		   12	/* random bytes for a nonce */
#define CM_SCRAM_MAX_RANDOM_LEN		   64
#define CM_SCRAM_MAX_CBIND_DATA_LEN	   64
#define CM_SCRAM_MAX_MOCK_NONCE_LEN	   256

typedef enum CmScramStatus
{
	CM_SCRAM_OK = 0,
	/*
	 * Protocol violation by the peer: a message that does not parse, a
	 * field missing, a nonce that does not match, a size over a limit, or
	 * an unsupported feature (authzid, mandatory extension).  Not a
	 * password failure: report error.sqlstate (08P01 or 0A000).
	 */
	CM_SCRAM_MALFORMED,
	/* Channel binding negotiated or presented wrongly (08P01 or 28000). */
	CM_SCRAM_CHANNEL_BINDING,
	/*
	 * The proof did not verify, or the secret was a mock one, or a
	 * cleartext password did not match: send 28P01 "password
	 * authentication failed for user ...".
	 */
	CM_SCRAM_WRONG_PASSWORD,
	/* A stored secret that does not parse, or an unusable input secret. */
	CM_SCRAM_BAD_SECRET,
	/*
	 * Client side, pass-through only: the target's salt or iteration count
	 * differs from the local secret's, so the ClientKey cannot sign for it.
	 */
	CM_SCRAM_PASSTHROUGH_MISMATCH,
	/*
	 * Client side: the target sent "e=..." or a ServerSignature that does
	 * not verify (it does not hold the role's secret).
	 */
	CM_SCRAM_SERVER_REJECTED,
	/* A call out of order or with arguments outside the API's limits. */
	CM_SCRAM_BAD_CALL,
	/* OpenSSL failed, or memory ran out. */
	CM_SCRAM_INTERNAL
} CmScramStatus;

/*
 * An error as a value.  All strings are static, never contain peer data,
 * and read like PostgreSQL's own messages.  sqlstate is what PostgreSQL
 * sends for the same failure (a suggestion on the client side).
 */
typedef struct CmScramError
{
	CmScramStatus status;
	const char *sqlstate;
	const char *message;
	const char *detail; /* may be NULL */
} CmScramError;

/*
 * A parsed stored secret:
 *		SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
 */
typedef struct CmScramSecret
{
	int32_t iterations;
	size_t salt_len;
	uint8_t salt[CM_SCRAM_MAX_SALT_LEN];
	uint8_t stored_key[CM_SCRAM_KEY_LEN];
	uint8_t server_key[CM_SCRAM_KEY_LEN];
	bool mock; /* made up for a role without one: never verifies */
} CmScramSecret;

/*
 * Secrets.  All return CM_SCRAM_OK or fill *err (err may be NULL).
 */

/*
 * Parses exactly the text PostgreSQL stores, strictly: the scheme name,
 * iterations 1..CM_SCRAM_MAX_ITERATIONS in decimal digits, a salt of
 * 1..CM_SCRAM_MAX_SALT_LEN bytes and two 32-byte keys, all canonical
 * padded base64, nothing more.  CM_SCRAM_BAD_SECRET otherwise; the caller
 * then goes on with a mock secret, as PostgreSQL does.
 */
extern CmScramStatus
cm_scram_secret_parse(const char *text, CmScramSecret *out, CmScramError *err);

/*
 * Writes the secret's text form and a NUL.  Returns its length, or 0 when
 * cap is too small or the secret is out of range.
 */
extern size_t
cm_scram_secret_format(const CmScramSecret *secret, char *out, size_t cap);

/*
 * Derives a secret from a (prepared, see above) password of at most
 * CM_SCRAM_MAX_PASSWORD_LEN bytes, a salt and 1..CM_SCRAM_MAX_DERIVE_
 * ITERATIONS iterations of PBKDF2-HMAC-SHA-256.  With the salt and
 * iterations of a PostgreSQL secret it reproduces that secret.
 */
extern CmScramStatus
cm_scram_secret_from_password(const char *password, const uint8_t *salt,
							  size_t salt_len, int32_t iterations,
							  CmScramSecret *out, CmScramError *err);

/*
 * A mock secret for a role that does not exist or has no usable SCRAM
 * secret.  Deterministic: salt = the first 16 bytes of SHA-256(role ||
 * mock_nonce), 4096 iterations, so repeated attempts see the same values.
 * Given PostgreSQL's own mock nonce (GetMockAuthenticationNonce(), 32
 * bytes) the salt and iterations are exactly what PostgreSQL 15 would
 * send for that role.  The keys are derived from the same inputs and look
 * real; out->mock makes every verification fail.
 */
extern CmScramStatus
cm_scram_secret_mock(const uint8_t *mock_nonce, size_t nonce_len,
					 const char *role, CmScramSecret *out, CmScramError *err);

/*
 * Checks a cleartext password (hba method "password") against a secret by
 * deriving both keys, compared in constant time.  CM_SCRAM_WRONG_PASSWORD
 * on mismatch, for a mock secret, and for a password longer than
 * CM_SCRAM_MAX_PASSWORD_LEN (PostgreSQL cannot have hashed one either).
 */
extern CmScramStatus
cm_scram_verify_password(const CmScramSecret *secret, const char *password,
						 CmScramError *err);

/*
 * True when the password holds non-ASCII characters and is well-formed
 * UTF-8: only then may PostgreSQL's SASLprep change it (see above).
 */
extern bool cm_scram_password_needs_saslprep(const char *password);

/*
 * The primitives, for tests and callers that build messages themselves.
 * Each returns false when OpenSSL fails.
 */

/*
 * SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations); also
 * false beyond the limits (password, salt, CM_SCRAM_MAX_DERIVE_ITERATIONS).
 */
extern bool
cm_scram_salted_password(const char *password, size_t password_len,
						 const uint8_t *salt, size_t salt_len,
						 int32_t iterations, uint8_t out[CM_SCRAM_KEY_LEN]);

/* ClientKey, StoredKey and ServerKey of a SaltedPassword (any may be NULL). */
extern bool cm_scram_keys(const uint8_t salted_password[CM_SCRAM_KEY_LEN],
						  uint8_t client_key[CM_SCRAM_KEY_LEN],
						  uint8_t stored_key[CM_SCRAM_KEY_LEN],
						  uint8_t server_key[CM_SCRAM_KEY_LEN]);

/*
 * HMAC-SHA-256(key, auth_message): the ClientSignature with the StoredKey,
 * the ServerSignature with the ServerKey.
 */
extern bool cm_scram_signature(const uint8_t key[CM_SCRAM_KEY_LEN],
							   const char *auth_message, size_t len,
							   uint8_t out[CM_SCRAM_KEY_LEN]);

/* StoredKey = SHA-256(ClientKey). */
extern bool cm_scram_stored_key(const uint8_t client_key[CM_SCRAM_KEY_LEN],
								uint8_t out[CM_SCRAM_KEY_LEN]);

/*
 * Choosing the mechanism from a SASLInitialResponse, as PostgreSQL does:
 * "SCRAM-SHA-256", or "SCRAM-SHA-256-PLUS" when PLUS was offered (a TLS
 * connection with a certificate hash).  Anything else is
 * CM_SCRAM_MALFORMED ("client selected an invalid SASL authentication
 * mechanism").
 */
extern CmScramStatus
cm_scram_select_mechanism(const char *name, bool plus_offered,
						  bool *plus_selected, CmScramError *err);

/*
 * Server side: the connection manager authenticates a client.
 *
 *	cm_scram_server_begin(secret, binding, random)	   -> EXPECT_CLIENT_FIRST
 *	step(client-first-message)	-> server-first-message  EXPECT_CLIENT_FINAL
 *	step(client-final-message)	-> server-final-message  DONE
 *
 * Any error moves to FAILED, after which every step is CM_SCRAM_BAD_CALL.
 * In DONE, cm_scram_server_client_key() gives the ClientKey recovered from
 * the proof, for pass-through.
 */
typedef enum CmScramServerState
{
	CM_SCRAM_SERVER_EXPECT_CLIENT_FIRST,
	CM_SCRAM_SERVER_EXPECT_CLIENT_FINAL,
	CM_SCRAM_SERVER_DONE,
	CM_SCRAM_SERVER_FAILED
} CmScramServerState;

typedef struct CmScramBinding
{
	bool plus_offered;	/* we advertised SCRAM-SHA-256-PLUS */
	bool plus_selected; /* the client chose it (cm_scram_select_mechanism) */
	/* tls-server-end-point hash of our certificate; when plus_selected */
	const uint8_t *cbind_data;
	size_t cbind_len; /* 1..CM_SCRAM_MAX_CBIND_DATA_LEN */
} CmScramBinding;

typedef struct CmScramServer CmScramServer;

/*
 * Starts an exchange for a client.  The secret (possibly a mock one) and
 * the binding data are copied.  random holds CM_SCRAM_MIN_RANDOM_LEN..
 * CM_SCRAM_MAX_RANDOM_LEN fresh random bytes from the caller's CSPRNG; the
 * server nonce is their base64.  binding NULL means no TLS.
 */
extern CmScramStatus
cm_scram_server_begin(const CmScramSecret *secret,
					  const CmScramBinding *binding, const uint8_t *random,
					  size_t random_len, CmScramServer **out, CmScramError *err);

/*
 * Feeds the client's next SASL message (len bytes, no terminator needed;
 * a NUL inside is malformed).  On CM_SCRAM_OK, *out and *out_len hold the
 * message to send (NUL-terminated, owned by the exchange, valid until the
 * next step or free); check cm_scram_server_state() for DONE.  A failed
 * proof is CM_SCRAM_WRONG_PASSWORD; PostgreSQL then sends no SASL message,
 * only the 28P01 error.
 */
extern CmScramStatus
cm_scram_server_step(CmScramServer *server, const char *in, size_t len,
					 const char **out, size_t *out_len, CmScramError *err);

extern CmScramServerState cm_scram_server_state(const CmScramServer *server);

/* The ClientKey of a successful exchange; false before DONE. */
extern bool cm_scram_server_client_key(const CmScramServer *server,
									   uint8_t out[CM_SCRAM_KEY_LEN]);

/* Wipes the keys and frees; NULL is fine. */
extern void cm_scram_server_free(CmScramServer *server);

/*
 * Client side: the connection manager logs into a target server as the
 * client's role, either by pass-through or with a cleartext password.
 *
 *	cm_scram_client_begin(config)						-> START
 *	step(NULL)					-> client-first-message  EXPECT_SERVER_FIRST
 *	step(server-first-message)	-> client-final-message  EXPECT_SERVER_FINAL
 *	step(server-final-message)	-> (nothing)			 DONE
 *
 * Pass-through: ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage),
 * with the ClientKey recovered by the server side and the StoredKey and
 * ServerKey of the local secret.  This works only when the target holds
 * the same verifier (true under physical replication): a different salt
 * or iteration count is CM_SCRAM_PASSTHROUGH_MISMATCH before any proof is
 * sent, and a different key with the same salt shows up as the target
 * rejecting the login, or as CM_SCRAM_SERVER_REJECTED.
 *
 * No channel binding on this leg: the client-first-message is
 * "n,,n=<user>,r=<nonce>".
 */
typedef enum CmScramClientState
{
	CM_SCRAM_CLIENT_START,
	CM_SCRAM_CLIENT_EXPECT_SERVER_FIRST,
	CM_SCRAM_CLIENT_EXPECT_SERVER_FINAL,
	CM_SCRAM_CLIENT_DONE,
	CM_SCRAM_CLIENT_FAILED
} CmScramClientState;

typedef struct CmScramClientConfig
{
	/*
	 * Exactly one of: password (prepared, see above), or secret plus
	 * client_key (pass-through).  The secret must not be a mock one and
	 * SHA-256(client_key) must equal its StoredKey.
	 */
	const char *password;
	const CmScramSecret *secret;
	const uint8_t *client_key; /* CM_SCRAM_KEY_LEN bytes */
	/*
	 * The user name inside SCRAM; NULL sends an empty one, as libpq does
	 * (PostgreSQL ignores it and uses the startup packet's).
	 */
	const char *sasl_user;
	const uint8_t *random; /* fresh random bytes for the client nonce */
	size_t random_len;	   /* CM_SCRAM_MIN_RANDOM_LEN..MAX_RANDOM_LEN */
} CmScramClientConfig;

typedef struct CmScramClient CmScramClient;

extern CmScramStatus
cm_scram_client_begin(const CmScramClientConfig *config, CmScramClient **out,
					  CmScramError *err);

/* As cm_scram_server_step; in is NULL (len 0) for the first step. */
extern CmScramStatus
cm_scram_client_step(CmScramClient *client, const char *in, size_t len,
					 const char **out, size_t *out_len, CmScramError *err);

extern CmScramClientState cm_scram_client_state(const CmScramClient *client);

/* Wipes the keys and frees; NULL is fine. */
extern void cm_scram_client_free(CmScramClient *client);

#endif /* CM_SCRAM_H */
