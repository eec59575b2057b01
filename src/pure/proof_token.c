/*
 * pure/proof_token.c
 *		The connection manager's proof token: its text, its HMAC and its
 *		checks (format and rules in cm_proof.h).  Pure code: the secret,
 *		the clock and the nonce come from the caller.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_proof.h"
#include "cm_encoding.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define PROOF_VERSION	  "v2"
#define PROOF_NAME_MAX	  255
#define PROOF_SECONDS_MAX 18 /* digits; far beyond any clock, no overflow */
#define PROOF_SYSID_MAX	  20 /* digits of a uint64 */
#define PROOF_PORT_MAX	  5
#define PROOF_FIELDS	  14
/* the longest pg_authid.rolpassword a digest is made of */
#define PROOF_ROLPASSWORD_MAX 1024

/* True when text is the one text inet_ntop() gives its address. */
static bool
canonical_address(const char *text)
{
	unsigned char bin[16];
	char again[CM_PROOF_ADDR_MAX + 1];

	if (strlen(text) > CM_PROOF_ADDR_MAX)
		return false;
	if (inet_pton(AF_INET, text, bin) == 1)
		return inet_ntop(AF_INET, bin, again, sizeof(again)) != NULL &&
			   strcmp(again, text) == 0;
	if (inet_pton(AF_INET6, text, bin) == 1)
		return inet_ntop(AF_INET6, bin, again, sizeof(again)) != NULL &&
			   strcmp(again, text) == 0;
	return false;
}

bool
cm_proof_addr_text(const struct sockaddr *addr, char *out, size_t cap)
{
	const void *bin;

	if (cap > 0)
		out[0] = '\0';
	if (addr == NULL)
		return false;
	if (addr->sa_family == AF_INET)
		bin = &((const struct sockaddr_in *) addr)->sin_addr;
	else if (addr->sa_family == AF_INET6)
	{
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *) addr)->sin6_addr;

		/* an IPv4 client of a dual-stack socket is an IPv4 client */
		if (IN6_IS_ADDR_V4MAPPED(a6))
			return cap > 0 &&
				   inet_ntop(AF_INET, a6->s6_addr + 12, out, cap) != NULL;
		bin = a6;
	}
	else
		return false;
	if (cap > 0 && inet_ntop(addr->sa_family, bin, out, cap) != NULL)
		return true;
	if (cap > 0)
		out[0] = '\0';
	return false;
}

/*
 * A canonical decimal of at most maxdigits digits: no sign, no leading
 * zero (but "0"), so that every value has exactly one text.  Values above
 * max are refused.
 */
static bool
parse_decimal(const char *s, size_t len, size_t maxdigits, uint64_t max,
			  uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > maxdigits || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++)
	{
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned) (s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool
lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* A certificate name field: lower-case hex of at most max bytes, no NUL. */
static bool
parse_name(const char *s, size_t len, char *out, size_t max)
{
	size_t n = 0;

	if (len % 2 != 0 || len / 2 > max || !lower_hex(s, len))
		return false;
	if (len > 0 && !cm_hex_decode(s, len, (uint8_t *) out, max, &n))
		return false;
	out[n] = '\0';
	return memchr(out, '\0', n) == NULL;
}

static bool
parse_flag(const char *s, size_t len, bool *out)
{
	if (len != 1 || (s[0] != '0' && s[0] != '1'))
		return false;
	*out = s[0] == '1';
	return true;
}

/* The password claim: "0", or "p" or "m" and the role secret digest. */
static bool
parse_password(const char *s, size_t len, CmProofPassword *password,
			   char digest[CM_PROOF_DIGEST_HEX_LEN + 1])
{
	digest[0] = '\0';
	if (len == 1 && s[0] == '0')
	{
		*password = CM_PROOF_PW_NONE;
		return true;
	}
	if (len != 1 + CM_PROOF_DIGEST_HEX_LEN || (s[0] != 'p' && s[0] != 'm') ||
		!lower_hex(s + 1, CM_PROOF_DIGEST_HEX_LEN))
		return false;
	*password = s[0] == 'p' ? CM_PROOF_PW_PROVEN : CM_PROOF_PW_MD5;
	memcpy(digest, s + 1, CM_PROOF_DIGEST_HEX_LEN);
	digest[CM_PROOF_DIGEST_HEX_LEN] = '\0';
	return true;
}

static bool
parse_address(const char *s, size_t len, char out[CM_PROOF_ADDR_MAX + 1])
{
	if (len == 0 || len > CM_PROOF_ADDR_MAX)
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	return canonical_address(out);
}

/* A password claim comes with a digest, and no digest without one. */
static bool
password_valid(const CmProofClaims *c)
{
	size_t len = strnlen(c->secret_digest, sizeof(c->secret_digest));

	if (c->password == CM_PROOF_PW_NONE)
		return len == 0;
	return (c->password == CM_PROOF_PW_PROVEN || c->password == CM_PROOF_PW_MD5) &&
		   len == CM_PROOF_DIGEST_HEX_LEN &&
		   lower_hex(c->secret_digest, CM_PROOF_DIGEST_HEX_LEN);
}

/* The claims a token may carry at all. */
static bool
claims_valid(const CmProofClaims *c)
{
	return password_valid(c) && c->target_port >= 0 &&
		   c->target_port <= 65535 && c->client_port >= 0 &&
		   c->client_port <= 65535 && canonical_address(c->target_addr) &&
		   canonical_address(c->client_addr) && (c->tls || !c->cert) &&
		   (c->cert || (c->cert_cn[0] == '\0' && c->cert_dn[0] == '\0')) &&
		   strlen(c->cert_cn) <= CM_PROOF_CN_MAX &&
		   strlen(c->cert_dn) <= CM_PROOF_DN_MAX;
}

/*
 * The lower-case hex HMAC of user NUL database NUL body; false on names
 * too long or when OpenSSL fails.
 */
static bool
token_mac(const uint8_t secret[CM_PROOF_SECRET_LEN], const char *user,
		  const char *database, const char *body, size_t body_len,
		  char mac_hex[CM_PROOF_MAC_HEX_LEN + 1])
{
	char msg[2 * (PROOF_NAME_MAX + 1) + CM_PROOF_TOKEN_SIZE];
	size_t ulen = strlen(user);
	size_t dlen = strlen(database);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (ulen > PROOF_NAME_MAX || dlen > PROOF_NAME_MAX ||
		body_len >= CM_PROOF_TOKEN_SIZE)
		return false;
	memcpy(msg, user, ulen + 1);
	memcpy(msg + ulen + 1, database, dlen + 1);
	memcpy(msg + ulen + dlen + 2, body, body_len);
	if (HMAC(EVP_sha256(), secret, CM_PROOF_SECRET_LEN,
			 (const unsigned char *) msg, ulen + dlen + 2 + body_len, mac,
			 &mac_len) == NULL ||
		mac_len != CM_PROOF_MAC_HEX_LEN / 2)
		return false;
	return cm_hex_encode(mac, mac_len, mac_hex, CM_PROOF_MAC_HEX_LEN + 1);
}

bool
cm_proof_format(const uint8_t secret[CM_PROOF_SECRET_LEN], int64_t seconds,
				const uint8_t nonce[CM_PROOF_NONCE_LEN], const char *user,
				const char *database, const CmProofClaims *claims, char *out,
				size_t cap)
{
	char body[CM_PROOF_TOKEN_SIZE];
	char nonce_hex[2 * CM_PROOF_NONCE_LEN + 1];
	char cn_hex[2 * CM_PROOF_CN_MAX + 1];
	char dn_hex[2 * CM_PROOF_DN_MAX + 1];
	char mac_hex[CM_PROOF_MAC_HEX_LEN + 1];
	char password[2 + CM_PROOF_DIGEST_HEX_LEN];
	const CmProofClaims *c = claims;
	int n;

	if (cap > 0)
		out[0] = '\0';
	if (seconds < 0 || seconds > 999999999999999999LL || !claims_valid(c) ||
		!cm_hex_encode(nonce, CM_PROOF_NONCE_LEN, nonce_hex, sizeof(nonce_hex)) ||
		!cm_hex_encode((const uint8_t *) c->cert_cn, strlen(c->cert_cn),
					   cn_hex, sizeof(cn_hex)) ||
		!cm_hex_encode((const uint8_t *) c->cert_dn, strlen(c->cert_dn),
					   dn_hex, sizeof(dn_hex)))
		return false;
	if (c->password == CM_PROOF_PW_NONE)
		strcpy(password, "0");
	else
		snprintf(password, sizeof(password), "%c%s",
				 c->password == CM_PROOF_PW_PROVEN ? 'p' : 'm',
				 c->secret_digest);
	n = snprintf(body, sizeof(body),
				 "%s,%lld,%s,%llu,%s,%d,%s,%d,%d,%s,%d,%s,%s", PROOF_VERSION,
				 (long long) seconds, nonce_hex,
				 (unsigned long long) c->system_identifier, c->target_addr,
				 c->target_port, c->client_addr, c->client_port,
				 c->tls ? 1 : 0, password, c->cert ? 1 : 0, cn_hex, dn_hex);
	if (n < 0 || (size_t) n >= sizeof(body) ||
		!token_mac(secret, user, database, body, (size_t) n, mac_hex))
		return false;
	if ((size_t) n + 1 + CM_PROOF_MAC_HEX_LEN >= cap)
		return false;
	memcpy(out, body, n);
	out[n] = ',';
	memcpy(out + n + 1, mac_hex, CM_PROOF_MAC_HEX_LEN + 1);
	return true;
}

CmProofStatus
cm_proof_parse(const char *text, CmProofToken *out)
{
	CmProofToken t;
	CmProofClaims *c = &t.claims;
	const char *field[PROOF_FIELDS];
	size_t flen[PROOF_FIELDS];
	size_t len = strlen(text);
	const char *p = text;
	uint64_t v;
	int n = 0;
	size_t got;

	memset(&t, 0, sizeof(t));
	if (len >= CM_PROOF_TOKEN_SIZE)
		return CM_PROOF_MALFORMED;
	/* split at every comma: exactly PROOF_FIELDS fields */
	for (;;)
	{
		const char *comma = strchr(p, ',');
		const char *stop = comma ? comma : text + len;

		if (n == PROOF_FIELDS)
			return CM_PROOF_MALFORMED;
		field[n] = p;
		flen[n] = (size_t) (stop - p);
		n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (n != PROOF_FIELDS || flen[0] != 2 || memcmp(field[0], PROOF_VERSION, 2))
		return CM_PROOF_MALFORMED;

	if (!parse_decimal(field[1], flen[1], PROOF_SECONDS_MAX,
					   999999999999999999ULL, &v))
		return CM_PROOF_MALFORMED;
	t.seconds = (int64_t) v;
	if (flen[2] != 2 * CM_PROOF_NONCE_LEN || !lower_hex(field[2], flen[2]) ||
		!cm_hex_decode(field[2], flen[2], t.nonce, sizeof(t.nonce), &got) ||
		got != CM_PROOF_NONCE_LEN)
		return CM_PROOF_MALFORMED;
	if (!parse_decimal(field[3], flen[3], PROOF_SYSID_MAX, UINT64_MAX,
					   &c->system_identifier))
		return CM_PROOF_MALFORMED;
	if (!parse_address(field[4], flen[4], c->target_addr) ||
		!parse_decimal(field[5], flen[5], PROOF_PORT_MAX, 65535, &v))
		return CM_PROOF_MALFORMED;
	c->target_port = (int) v;
	if (!parse_address(field[6], flen[6], c->client_addr) ||
		!parse_decimal(field[7], flen[7], PROOF_PORT_MAX, 65535, &v))
		return CM_PROOF_MALFORMED;
	c->client_port = (int) v;
	if (!parse_flag(field[8], flen[8], &c->tls) ||
		!parse_password(field[9], flen[9], &c->password, c->secret_digest) ||
		!parse_flag(field[10], flen[10], &c->cert) ||
		!parse_name(field[11], flen[11], c->cert_cn, CM_PROOF_CN_MAX) ||
		!parse_name(field[12], flen[12], c->cert_dn, CM_PROOF_DN_MAX) ||
		!claims_valid(c))
		return CM_PROOF_MALFORMED;
	if (flen[13] != CM_PROOF_MAC_HEX_LEN || !lower_hex(field[13], flen[13]))
		return CM_PROOF_MALFORMED;
	memcpy(t.mac_hex, field[13], CM_PROOF_MAC_HEX_LEN);
	t.mac_hex[CM_PROOF_MAC_HEX_LEN] = '\0';

	*out = t;
	return CM_PROOF_OK;
}

CmProofStatus
cm_proof_verify(const uint8_t secret[CM_PROOF_SECRET_LEN], const char *text,
				const char *user, const char *database, int64_t now,
				CmProofToken *out)
{
	CmProofToken t;
	char expected[CM_PROOF_MAC_HEX_LEN + 1];
	size_t body_len;

	if (cm_proof_parse(text, &t) != CM_PROOF_OK)
		return CM_PROOF_MALFORMED;
	/* cm_proof_format() signs no such names */
	if (strlen(user) > PROOF_NAME_MAX || strlen(database) > PROOF_NAME_MAX)
		return CM_PROOF_BAD_MAC;
	body_len = strlen(text) - CM_PROOF_MAC_HEX_LEN - 1;
	if (!token_mac(secret, user, database, text, body_len, expected))
		return CM_PROOF_INTERNAL;
	if (CRYPTO_memcmp(expected, t.mac_hex, CM_PROOF_MAC_HEX_LEN) != 0)
		return CM_PROOF_BAD_MAC;
	if (out != NULL)
		*out = t;
	/* the timestamp is trusted only now that the HMAC covers it */
	if (t.seconds < now - CM_PROOF_WINDOW_SECONDS)
		return CM_PROOF_TOO_OLD;
	if (t.seconds > now + CM_PROOF_WINDOW_SECONDS)
		return CM_PROOF_TOO_NEW;
	return CM_PROOF_OK;
}

bool
cm_proof_secret_digest(const uint8_t secret[CM_PROOF_SECRET_LEN],
					   const char *user, const char *rolpassword, char *out,
					   size_t cap)
{
	static const char label[] = CM_PROOF_DIGEST_LABEL;
	char msg[sizeof(label) + PROOF_NAME_MAX + 1 + PROOF_ROLPASSWORD_MAX];
	size_t ulen = strlen(user);
	size_t plen = strlen(rolpassword);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (cap > 0)
		out[0] = '\0';
	if (ulen > PROOF_NAME_MAX || plen > PROOF_ROLPASSWORD_MAX ||
		cap < CM_PROOF_DIGEST_HEX_LEN + 1)
		return false;
	/* label NUL user NUL rolpassword: no two inputs give one message */
	memcpy(msg, label, sizeof(label));
	memcpy(msg + sizeof(label), user, ulen + 1);
	memcpy(msg + sizeof(label) + ulen + 1, rolpassword, plen);
	if (HMAC(EVP_sha256(), secret, CM_PROOF_SECRET_LEN,
			 (const unsigned char *) msg, sizeof(label) + ulen + 1 + plen, mac,
			 &mac_len) == NULL ||
		mac_len < CM_PROOF_DIGEST_HEX_LEN / 2 ||
		!cm_hex_encode(mac, CM_PROOF_DIGEST_HEX_LEN / 2, out, cap))
	{
		out[0] = '\0';
		return false;
	}
	return true;
}

const char *
cm_proof_status_name(CmProofStatus status)
{
	switch (status)
	{
		case CM_PROOF_OK:
			return "valid";
		case CM_PROOF_MALFORMED:
			return "malformed";
		case CM_PROOF_BAD_MAC:
			return "HMAC mismatch";
		case CM_PROOF_TOO_OLD:
			return "expired";
		case CM_PROOF_TOO_NEW:
			return "timestamp in the future";
		case CM_PROOF_INTERNAL:
			return "HMAC not computable";
	}
	return "unknown";
}
