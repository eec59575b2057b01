/*
 * proof_token.c
 *		The connection manager's proof token: its text, its HMAC and its
 *		checks (format and rules in cm_proof.h).  Pure code: the secret,
 *		the clock and the nonce come from the caller.
 */
#include "cm_proof.h"
#include "cm_encoding.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define PROOF_VERSION  "v1"
#define PROOF_NAME_MAX 255
#define PROOF_SECONDS_MAX                                                     \
	18 /* digits; far beyond any clock, and no overflow */
#define PROOF_PORT_MAX 5

/* A numeric IPv4 or IPv6 address, as getnameinfo(NI_NUMERICHOST) writes. */
static bool
numeric_address(const char *addr, size_t len)
{
	char text[CM_PROOF_ADDR_MAX + 1];
	unsigned char bin[16];

	if (len == 0 || len > CM_PROOF_ADDR_MAX)
		return false;
	memcpy(text, addr, len);
	text[len] = '\0';
	return inet_pton(AF_INET, text, bin) == 1 ||
		   inet_pton(AF_INET6, text, bin) == 1;
}

/*
 * A canonical decimal of at most maxdigits digits: no sign, no leading
 * zero (but "0"), so that every value has exactly one text.
 */
static bool
parse_decimal(const char *s, size_t len, size_t maxdigits, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > maxdigits || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
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

/* Appends s and, unless last, a NUL separator; false when it does not fit. */
static bool
append_field(char *buf, size_t cap, size_t *len, const char *s, bool last)
{
	size_t n = strlen(s) + (last ? 0 : 1);

	if (n > cap - *len)
		return false;
	memcpy(buf + *len, s, n); /* the NUL of s is the separator */
	*len += n;
	return true;
}

/* The lower-case hex HMAC of a token's fields; false on bad input. */
static bool
token_mac(const uint8_t secret[CM_PROOF_SECRET_LEN], int64_t seconds,
		  const uint8_t nonce[CM_PROOF_NONCE_LEN], const char *user,
		  const char *database, const char *client_addr, int client_port,
		  char mac_hex[CM_PROOF_MAC_HEX_LEN + 1])
{
	char msg[3 * PROOF_NAME_MAX];
	char seconds_text[24];
	char nonce_hex[2 * CM_PROOF_NONCE_LEN + 1];
	char port_text[8];
	size_t len = 0;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (strlen(user) > PROOF_NAME_MAX || strlen(database) > PROOF_NAME_MAX)
		return false;
	snprintf(seconds_text, sizeof(seconds_text), "%lld", (long long) seconds);
	snprintf(port_text, sizeof(port_text), "%d", client_port);
	if (!cm_hex_encode(nonce, CM_PROOF_NONCE_LEN, nonce_hex, sizeof(nonce_hex)))
		return false;
	if (!append_field(msg, sizeof(msg), &len, PROOF_VERSION, false) ||
		!append_field(msg, sizeof(msg), &len, seconds_text, false) ||
		!append_field(msg, sizeof(msg), &len, nonce_hex, false) ||
		!append_field(msg, sizeof(msg), &len, user, false) ||
		!append_field(msg, sizeof(msg), &len, database, false) ||
		!append_field(msg, sizeof(msg), &len, client_addr, false) ||
		!append_field(msg, sizeof(msg), &len, port_text, true))
		return false;
	if (HMAC(EVP_sha256(), secret, CM_PROOF_SECRET_LEN,
			 (const unsigned char *) msg, len, mac, &mac_len) == NULL ||
		mac_len != CM_PROOF_MAC_HEX_LEN / 2)
		return false;
	return cm_hex_encode(mac, mac_len, mac_hex, CM_PROOF_MAC_HEX_LEN + 1);
}

bool
cm_proof_format(const uint8_t secret[CM_PROOF_SECRET_LEN], int64_t seconds,
				const uint8_t nonce[CM_PROOF_NONCE_LEN], const char *user,
				const char *database, const char *client_addr, int client_port,
				char *out, size_t cap)
{
	char mac_hex[CM_PROOF_MAC_HEX_LEN + 1];
	char nonce_hex[2 * CM_PROOF_NONCE_LEN + 1];
	int n;

	if (cap > 0)
		out[0] = '\0';
	if (seconds < 0 || seconds > 999999999999999999LL || client_port < 0 ||
		client_port > 65535 ||
		!numeric_address(client_addr, strlen(client_addr)))
		return false;
	if (!token_mac(secret, seconds, nonce, user, database, client_addr,
				   client_port, mac_hex) ||
		!cm_hex_encode(nonce, CM_PROOF_NONCE_LEN, nonce_hex, sizeof(nonce_hex)))
		return false;
	n = snprintf(out, cap, "%s:%lld:%s:%s:%d:%s", PROOF_VERSION,
				 (long long) seconds, nonce_hex, client_addr, client_port,
				 mac_hex);
	if (n < 0 || (size_t) n >= cap)
	{
		if (cap > 0)
			out[0] = '\0';
		return false;
	}
	return true;
}

/*
 * The address is the only field that may contain ':', so the fixed fields
 * are taken from the front (version, seconds, nonce) and from the back
 * (hmac, port); what remains in the middle is the address.
 */
CmProofStatus
cm_proof_parse(const char *text, CmProofToken *out)
{
	CmProofToken t;
	size_t len = strlen(text);
	const char *p = text;
	const char *end = text + len;
	const char *colon;
	const char *port_start;
	int64_t port;
	size_t n;

	memset(&t, 0, sizeof(t));
	if (len >= CM_PROOF_TOKEN_SIZE || strncmp(p, PROOF_VERSION ":", 3) != 0)
		return CM_PROOF_MALFORMED;
	p += 3;

	colon = memchr(p, ':', end - p);
	if (colon == NULL ||
		!parse_decimal(p, colon - p, PROOF_SECONDS_MAX, &t.seconds))
		return CM_PROOF_MALFORMED;
	p = colon + 1;

	if (end - p < 2 * CM_PROOF_NONCE_LEN + 1 ||
		p[2 * CM_PROOF_NONCE_LEN] != ':' ||
		!lower_hex(p, 2 * CM_PROOF_NONCE_LEN) ||
		!cm_hex_decode(p, 2 * CM_PROOF_NONCE_LEN, t.nonce, sizeof(t.nonce), &n) ||
		n != CM_PROOF_NONCE_LEN)
		return CM_PROOF_MALFORMED;
	p += 2 * CM_PROOF_NONCE_LEN + 1;

	/* from the back: ":<hmac>" */
	if (end - p < CM_PROOF_MAC_HEX_LEN + 1 ||
		end[-CM_PROOF_MAC_HEX_LEN - 1] != ':' ||
		!lower_hex(end - CM_PROOF_MAC_HEX_LEN, CM_PROOF_MAC_HEX_LEN))
		return CM_PROOF_MALFORMED;
	memcpy(t.mac_hex, end - CM_PROOF_MAC_HEX_LEN, CM_PROOF_MAC_HEX_LEN);
	end -= CM_PROOF_MAC_HEX_LEN + 1;

	/* then ":<port>" */
	port_start = end;
	while (port_start > p && port_start[-1] != ':')
		port_start--;
	if (port_start == p ||
		!parse_decimal(port_start, end - port_start, PROOF_PORT_MAX, &port) ||
		port > 65535)
		return CM_PROOF_MALFORMED;
	t.client_port = (int) port;
	end = port_start - 1;

	if (!numeric_address(p, end - p))
		return CM_PROOF_MALFORMED;
	memcpy(t.client_addr, p, end - p);
	t.client_addr[end - p] = '\0';

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

	if (cm_proof_parse(text, &t) != CM_PROOF_OK)
		return CM_PROOF_MALFORMED;
	/* cm_proof_format() signs no such names */
	if (strlen(user) > PROOF_NAME_MAX || strlen(database) > PROOF_NAME_MAX)
		return CM_PROOF_BAD_MAC;
	if (!token_mac(secret, t.seconds, t.nonce, user, database, t.client_addr,
				   t.client_port, expected))
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
