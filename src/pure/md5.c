/*
 * pure/md5.c
 *		PostgreSQL's md5 password hashes and challenge responses, on top of
 *		OpenSSL's EVP interface (the low-level MD5() is deprecated in 3.0).
 *
 * Inputs are hashed incrementally, so no input is copied or bounded here.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_md5.h"
#include "cm_encoding.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MD5_DIGEST_LEN 16

/* "md5" || hex(MD5(a || b)); false when OpenSSL cannot do MD5. */
static bool
md5_hex_of_pair(const void *a, size_t a_len, const void *b, size_t b_len,
				char out[CM_MD5_HASH_LEN + 1])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	bool ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, a, a_len) == 1 &&
		 EVP_DigestUpdate(ctx, b, b_len) == 1 &&
		 EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1 &&
		 digest_len == MD5_DIGEST_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return false;
	memcpy(out, "md5", 3);
	return cm_hex_encode(digest, MD5_DIGEST_LEN, out + 3,
						 CM_MD5_HASH_LEN + 1 - 3);
}

bool
cm_md5_is_hash(const char *s)
{
	if (strncmp(s, "md5", 3) != 0)
		return false;
	for (int i = 3; i < CM_MD5_HASH_LEN; i++)
	{
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[CM_MD5_HASH_LEN] == '\0';
}

bool
cm_md5_hash_password(const char *password, const char *role,
					 char out[CM_MD5_HASH_LEN + 1])
{
	return md5_hex_of_pair(password, strlen(password), role, strlen(role), out);
}

CmMd5Status
cm_md5_salted_response(const char *stored_hash,
					   const uint8_t salt[CM_MD5_SALT_LEN],
					   char out[CM_MD5_HASH_LEN + 1])
{
	if (!cm_md5_is_hash(stored_hash))
		return CM_MD5_BAD_SECRET;
	/* the hex digits are hashed as text, as the client computed them */
	if (!md5_hex_of_pair(stored_hash + 3, CM_MD5_HASH_LEN - 3, salt,
						 CM_MD5_SALT_LEN, out))
		return CM_MD5_INTERNAL;
	return CM_MD5_OK;
}

CmMd5Status
cm_md5_verify_response(const char *stored_hash,
					   const uint8_t salt[CM_MD5_SALT_LEN],
					   const char *response, size_t len)
{
	char expected[CM_MD5_HASH_LEN + 1];
	CmMd5Status status = cm_md5_salted_response(stored_hash, salt, expected);

	if (status != CM_MD5_OK)
		return status;
	if (len != CM_MD5_HASH_LEN ||
		CRYPTO_memcmp(expected, response, CM_MD5_HASH_LEN) != 0)
		return CM_MD5_WRONG_PASSWORD;
	return CM_MD5_OK;
}

CmMd5Status
cm_md5_verify_password(const char *stored_hash, const char *role,
					   const char *password)
{
	char computed[CM_MD5_HASH_LEN + 1];

	if (!cm_md5_is_hash(stored_hash))
		return CM_MD5_BAD_SECRET;
	if (!cm_md5_hash_password(password, role, computed))
		return CM_MD5_INTERNAL;
	if (CRYPTO_memcmp(computed, stored_hash, CM_MD5_HASH_LEN) != 0)
		return CM_MD5_WRONG_PASSWORD;
	return CM_MD5_OK;
}
