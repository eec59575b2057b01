/*
 * cm_md5.h
 *		PostgreSQL's md5 password scheme: the stored hash, the salted
 *		challenge response, and checks of both.
 *
 * Pure code (libc + OpenSSL).  The stored hash alone answers any salt, so
 * the connection manager can log into a server with md5 for a client it
 * has authenticated, whatever method the client used.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_MD5_H
#define CM_MD5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "md5" and 32 lower-case hex digits, as in pg_authid and on the wire. */
#define CM_MD5_HASH_LEN 35
#define CM_MD5_SALT_LEN 4

typedef enum CmMd5Status
{
	CM_MD5_OK,
	CM_MD5_WRONG_PASSWORD, /* the response or password does not match */
	CM_MD5_BAD_SECRET,	   /* the stored value is not an md5 hash */
	CM_MD5_INTERNAL		   /* OpenSSL refused MD5 (e.g. FIPS mode) */
} CmMd5Status;

/*
 * True when s is an md5 hash exactly as PostgreSQL recognises one: "md5"
 * followed by 32 lower-case hex digits and nothing else.
 */
extern bool cm_md5_is_hash(const char *s);

/*
 * The stored form of a password: "md5" || hex(MD5(password || role)).
 * out needs CM_MD5_HASH_LEN + 1 bytes.  False only when MD5 is unavailable.
 */
extern bool cm_md5_hash_password(const char *password, const char *role,
								 char out[CM_MD5_HASH_LEN + 1]);

/*
 * The answer to an AuthenticationMD5Password challenge, computed from the
 * stored hash alone: "md5" || hex(MD5(stored[3..] || salt)).  A client
 * sends it; a server expects it.  CM_MD5_BAD_SECRET when stored_hash is
 * not an md5 hash.
 */
extern CmMd5Status cm_md5_salted_response(const char *stored_hash,
										  const uint8_t salt[CM_MD5_SALT_LEN],
										  char out[CM_MD5_HASH_LEN + 1]);

/*
 * Checks a client's response (len bytes, without a terminator) to the
 * challenge with this salt, in constant time.  Anything but the exact
 * expected text is CM_MD5_WRONG_PASSWORD.
 */
extern CmMd5Status cm_md5_verify_response(const char *stored_hash,
										  const uint8_t salt[CM_MD5_SALT_LEN],
										  const char *response, size_t len);

/* Checks a cleartext password (hba method "password") against the hash. */
extern CmMd5Status
cm_md5_verify_password(const char *stored_hash, const char *role,
					   const char *password);

#endif /* CM_MD5_H */
