/*
 * fuzz_proof.c
 *		libFuzzer target for the proof token parser and check in
 *		src/proof_token.c.  The input is the token text (cut at its first
 *		NUL), as any client can send it.
 *
 * Beyond "does not crash", it checks what the module promises: a parsed
 * token has canonical addresses, ports up to 65535, consistent claims and
 * a lower-case HMAC;
 * parsing is canonical (the text equals what the formatter makes of the
 * parsed fields, up to the HMAC); and the check accepts a token exactly
 * when its HMAC is the one the secret gives, never a forged one.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_proof.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

static const uint8_t secret[CM_PROOF_SECRET_LEN] =
	"fuzzing secret, 32 bytes long..";

static bool
canonical(const char *addr)
{
	unsigned char bin[16];
	char again[64];

	if (inet_pton(AF_INET, addr, bin) == 1)
		return inet_ntop(AF_INET, bin, again, sizeof(again)) &&
			   strcmp(again, addr) == 0;
	return inet_pton(AF_INET6, addr, bin) == 1 &&
		   inet_ntop(AF_INET6, bin, again, sizeof(again)) &&
		   strcmp(again, addr) == 0;
}

static void
check_parsed(const char *text, const CmProofToken *t)
{
	char made[CM_PROOF_TOKEN_SIZE];
	size_t len = strlen(text);
	const CmProofClaims *c = &t->claims;
	CmProofToken again;

	CHECK(canonical(c->client_addr) && canonical(c->target_addr));
	CHECK(c->client_port >= 0 && c->client_port <= 65535);
	CHECK(c->target_port >= 0 && c->target_port <= 65535);
	CHECK(c->tls || !c->cert);
	CHECK(c->cert || (c->cert_cn[0] == '\0' && c->cert_dn[0] == '\0'));
	CHECK((c->password == CM_PROOF_PW_NONE) == (c->secret_digest[0] == '\0'));
	CHECK(c->password == CM_PROOF_PW_NONE ||
		  strlen(c->secret_digest) == CM_PROOF_DIGEST_HEX_LEN);
	CHECK(t->seconds >= 0);
	CHECK(strlen(t->mac_hex) == CM_PROOF_MAC_HEX_LEN);
	for (int i = 0; i < CM_PROOF_MAC_HEX_LEN; i++)
		CHECK((t->mac_hex[i] >= '0' && t->mac_hex[i] <= '9') ||
			  (t->mac_hex[i] >= 'a' && t->mac_hex[i] <= 'f'));

	/* canonical: the same text up to the HMAC, which is the true one */
	CHECK(cm_proof_format(secret, t->seconds, t->nonce, "u", "d", c, made,
						  sizeof(made)));
	CHECK(strlen(made) == len);
	CHECK(memcmp(made, text, len - CM_PROOF_MAC_HEX_LEN) == 0);
	CHECK(cm_proof_parse(made, &again) == CM_PROOF_OK);
	CHECK(again.seconds == t->seconds);
	CHECK(memcmp(&again.claims, c, sizeof(*c)) == 0);

	/* accepted exactly when the HMAC is the secret's */
	if (strcmp(made, text) == 0)
		CHECK(cm_proof_verify(secret, text, "u", "d", t->seconds, NULL) ==
			  CM_PROOF_OK);
	else
		CHECK(cm_proof_verify(secret, text, "u", "d", t->seconds, NULL) ==
			  CM_PROOF_BAD_MAC);
	CHECK(cm_proof_verify(secret, made, "u", "d", t->seconds, NULL) ==
		  CM_PROOF_OK);
	CHECK(cm_proof_verify(secret, made, "u", "e", t->seconds, NULL) ==
		  CM_PROOF_BAD_MAC);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[CM_PROOF_TOKEN_SIZE + 8];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	CmProofToken t;

	memcpy(text, data, n);
	text[n] = '\0';
	if (cm_proof_parse(text, &t) == CM_PROOF_OK)
		check_parsed(text, &t);
	else
		CHECK(cm_proof_verify(secret, text, "u", "d", 0, NULL) ==
			  CM_PROOF_MALFORMED);
	return 0;
}
