/*
 * test_proof.c
 *		Unit tests of the connection manager's proof token (src/proof_token.c).
 *
 * The expected tokens were computed with Python's hmac module, apart from
 * this code: HMAC-SHA256(bytes 0..31, user NUL database NUL text before
 * the last comma).  t/070_proof.pl checks the same format from Perl
 * against a running server.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_proof.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* cm_proof_secret_digest() of SECRET_V4 for alice */
#define DIGEST	  "417f0872b236f3c5215a2416beec20b2"
#define SECRET_V4 "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
#define TOKEN_V4                                                              \
	"v2,1700000000,0011223344556677,7312345678901234567,192.0.2.1,5432,"      \
	"192.0.2.7,40001,0,p" DIGEST ",0,,,"                                      \
	"83556af9aee8572de1f6ec121c8f4cee227e9f88f0b61aa46457993fbeb84f34"
#define TOKEN_V6                                                              \
	"v2,1700000000,0011223344556677,7312345678901234567,2001:db8::2,5433,"    \
	"2001:db8::1,5432,1,0,1,616c696365,"                                      \
	"434e3d616c6963652c4f3d4578616d706c65,"                                   \
	"05e4aacde3ec38793acf9684b9ce9a3bd39e4c441be25eaf47521fadf38c4bc9"
#define NOW	  1700000000LL
#define SYSID 7312345678901234567ULL

static uint8_t secret[CM_PROOF_SECRET_LEN];
static const uint8_t nonce[CM_PROOF_NONCE_LEN] = {0x00, 0x11, 0x22, 0x33,
												  0x44, 0x55, 0x66, 0x77};

static CmProofClaims
claims_v4(void)
{
	CmProofClaims c;

	memset(&c, 0, sizeof(c));
	c.system_identifier = SYSID;
	strcpy(c.target_addr, "192.0.2.1");
	c.target_port = 5432;
	strcpy(c.client_addr, "192.0.2.7");
	c.client_port = 40001;
	c.password = CM_PROOF_PW_PROVEN;
	strcpy(c.secret_digest, DIGEST);
	return c;
}

static CmProofClaims
claims_v6(void)
{
	CmProofClaims c;

	memset(&c, 0, sizeof(c));
	c.system_identifier = SYSID;
	strcpy(c.target_addr, "2001:db8::2");
	c.target_port = 5433;
	strcpy(c.client_addr, "2001:db8::1");
	c.client_port = 5432;
	c.tls = true;
	c.cert = true;
	strcpy(c.cert_cn, "alice");
	strcpy(c.cert_dn, "CN=alice,O=Example");
	return c;
}

static void
test_format(void)
{
	char out[CM_PROOF_TOKEN_SIZE];
	char small[100];
	const uint8_t ones[CM_PROOF_NONCE_LEN] = {0xff, 0xff, 0xff, 0xff,
											  0xff, 0xff, 0xff, 0xff};
	CmProofClaims c = claims_v4();
	CmProofClaims bad;

	ok(cm_proof_format(secret, NOW, nonce, "alice", "postgres", &c, out,
					   sizeof(out)),
	   "IPv4 token made");
	is_str(out, TOKEN_V4, "IPv4 token as computed apart");
	c = claims_v6();
	ok(cm_proof_format(secret, NOW, nonce, "alice", "postgres", &c, out,
					   sizeof(out)),
	   "IPv6 token with a certificate made");
	is_str(out, TOKEN_V6, "IPv6 token as computed apart");

	/* the separators keep "a|b"/"c" and "a"/"b|c" apart */
	memset(&c, 0, sizeof(c));
	c.system_identifier = 1;
	strcpy(c.target_addr, "::1");
	strcpy(c.client_addr, "::1");
	ok(cm_proof_format(secret, 0, ones, "a|b", "c", &c, out, sizeof(out)),
	   "names with | made");
	is_str(out,
		   "v2,0,ffffffffffffffff,1,::1,0,::1,0,0,0,0,,,"
		   "f5230a490d5f21ba4597306dd9fc7c83a9e1d3eb1a15b0ec827cad0b5f27131d",
		   "user a|b, database c");
	ok(cm_proof_format(secret, 0, ones, "a", "b|c", &c, out, sizeof(out)),
	   "other split made");
	is_str(out,
		   "v2,0,ffffffffffffffff,1,::1,0,::1,0,0,0,0,,,"
		   "a307c38ae842043030e6ef8c793fd3a971cb6c69b0203c73568e7babb5f3231f",
		   "user a, database b|c: another HMAC");

	/* claims no token can carry */
	bad = claims_v4();
	strcpy(bad.client_addr, "?");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "non-numeric address refused");
	is_str(out, "", "output left empty");
	bad = claims_v4();
	strcpy(bad.client_addr, "fe80::1%eth0");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "scoped address refused");
	bad = claims_v4();
	strcpy(bad.target_addr, "2001:DB8::1");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "upper-case address refused: one text per address");
	bad = claims_v4();
	strcpy(bad.target_addr, "2001:db8:0::1");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "non-canonical IPv6 text refused");
	bad = claims_v4();
	bad.client_port = 65536;
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "port above 65535 refused");
	bad = claims_v4();
	bad.target_port = -1;
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "negative port refused");
	bad = claims_v4();
	bad.cert = true;
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "a certificate without TLS refused");
	bad = claims_v4();
	strcpy(bad.cert_cn, "alice");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "a name without a certificate refused");
	bad = claims_v4();
	bad.secret_digest[0] = '\0';
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "a password claim without a role secret digest refused");
	bad = claims_v4();
	bad.password = CM_PROOF_PW_NONE;
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "a role secret digest without a password claim refused");
	bad = claims_v4();
	bad.secret_digest[0] = 'A';
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "an upper-case digest refused");
	bad = claims_v4();
	bad.password = (CmProofPassword) 3;
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &bad, out,
						sizeof(out)),
	   "an unknown password claim refused");
	c = claims_v4();
	c.password = CM_PROOF_PW_MD5;
	ok(cm_proof_format(secret, NOW, nonce, "alice", "postgres", &c, out,
					   sizeof(out)) &&
		   strstr(out, ",m" DIGEST ",") != NULL,
	   "an md5 answer is written as m and the digest");
	c = claims_v4();
	ok(!cm_proof_format(secret, -1, nonce, "alice", "postgres", &c, out,
						sizeof(out)),
	   "negative time refused");
	ok(!cm_proof_format(secret, NOW, nonce, "alice", "postgres", &c, small,
						sizeof(small)),
	   "small buffer refused");
	is_str(small, "", "small buffer left empty");
}

static void
test_parse(void)
{
	CmProofToken t;

	is_int(cm_proof_parse(TOKEN_V6, &t), CM_PROOF_OK, "IPv6 token parsed");
	is_str(t.claims.client_addr, "2001:db8::1", "client address with colons");
	is_str(t.claims.target_addr, "2001:db8::2", "target address");
	is_int(t.claims.client_port, 5432, "client port");
	is_int(t.claims.target_port, 5433, "target port");
	ok(t.claims.system_identifier == SYSID, "system identifier");
	ok(t.claims.tls && t.claims.cert && t.claims.password == CM_PROOF_PW_NONE,
	   "flags");
	is_str(t.claims.secret_digest, "", "no role secret digest");
	is_str(t.claims.cert_cn, "alice", "CN");
	is_str(t.claims.cert_dn, "CN=alice,O=Example", "DN");
	is_int(t.seconds, NOW, "seconds");
	ok(memcmp(t.nonce, nonce, sizeof(nonce)) == 0, "nonce");
	is_int(cm_proof_parse(TOKEN_V4, &t), CM_PROOF_OK, "IPv4 token parsed");
	is_str(t.claims.client_addr, "192.0.2.7", "IPv4 address");
	is_int(t.claims.client_port, 40001, "IPv4 port");
	ok(!t.claims.tls && t.claims.password == CM_PROOF_PW_PROVEN && !t.claims.cert,
	   "IPv4 flags");
	is_str(t.claims.secret_digest, DIGEST, "role secret digest");
	is_str(t.claims.cert_cn, "", "no CN");
}

#define MAC "83556af9aee8572de1f6ec121c8f4cee227e9f88f0b61aa46457993fbeb84f34"
#define SYS "7312345678901234567"

static void
test_malformed(void)
{
	static const char *bad[] = {
		"",
		"v2",
		"v2,",
		/* another version, case */
		"v1,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"V2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		/* the v1 layout */
		"v1:1700000000:0011223344556677:192.0.2.7:40001:" MAC,
		/* seconds: leading zero, sign, empty, nineteen digits */
		"v2,01700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,+1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1000000000000000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		/* nonce: upper case, short, long */
		"v2,1700000000,00112233445566AA," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,001122334455667," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,001122334455667788," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		/* system identifier: above 2^64 - 1, leading zero, empty */
		"v2,1700000000,0011223344556677,18446744073709551616"
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677,0" SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677,,192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST
		",0,,," MAC,
		/* addresses: missing, name, scoped, garbage, not canonical */
		"v2,1700000000,0011223344556677," SYS
		",,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,localhost,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,fe80::1%eth0,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7x,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,::FFFF:192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",0:0::1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		/* ports: missing, too big, leading zero, not a number */
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,65536,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,05432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,4000a,0,p" DIGEST ",0,,," MAC,
		/* flags: 2, empty, two digits; a certificate without TLS */
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,2,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,,p" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,00,p" DIGEST ",0,,," MAC,
		/* password: the v2 flag, no digest, a digest short, long, upper
		 * case, another letter, a digest after "0" */
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,1,0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p,0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,m417f0872b236f3c5215a2416beec20b,"
		"0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST "0,0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p417F0872B236F3C5215A2416BEEC20B2,"
		"0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,P" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,s" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,0" DIGEST ",0,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",1,,," MAC,
		/* names: without a certificate, odd, upper case, a NUL byte */
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,1,p" DIGEST ",0,61,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,1,p" DIGEST ",1,616,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,1,p" DIGEST ",1,4A,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,1,p" DIGEST ",1,6100,," MAC,
		/* hmac: upper case, short, long, missing */
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,,"
		"83556AF9AEE8572DE1F6EC121C8F4CEE227E9F88F0B61AA46457993FBEB84F34",
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,,"
		"83556af9aee8572de1f6ec121c8f4cee227e9f88f0b61aa46457993fbeb84f3",
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC "0",
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,",
		/* a field more, a field less, a space */
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,,," MAC,
		"v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,," MAC,
		" v2,1700000000,0011223344556677," SYS
		",192.0.2.1,5432,192.0.2.7,40001,0,p" DIGEST ",0,,," MAC,
	};
	CmProofToken t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		is_int(cm_proof_parse(bad[i], &t), CM_PROOF_MALFORMED,
			   "malformed %zu refused by the parser", i);
		is_int(cm_proof_verify(secret, bad[i], "alice", "postgres", NOW, &t),
			   CM_PROOF_MALFORMED, "malformed %zu refused by the check", i);
	}
}

/* Replaces the first occurrence of from in token by to. */
static void
tamper(char *out, const char *token, const char *from, const char *to)
{
	const char *at = strstr(token, from);
	size_t head = (size_t) (at - token);

	memcpy(out, token, head);
	strcpy(out + head, to);
	strcat(out, at + strlen(from));
}

static void
test_verify(void)
{
	CmProofToken t;
	uint8_t other[CM_PROOF_SECRET_LEN];
	char tampered[CM_PROOF_TOKEN_SIZE];
	static const char *const changes[][3] = {
		{"1700000000", "1700000001", "changed time"},
		{"0011223344556677", "0011223344556678", "changed nonce"},
		{SYS, "7312345678901234568", "changed system identifier"},
		{"192.0.2.1,", "192.0.2.2,", "changed target address"},
		{",5432,", ",5433,", "changed target port"},
		{"192.0.2.7", "192.0.2.8", "changed client address"},
		{"40001", "40002", "changed client port"},
		{"40001,0,p", "40001,1,p", "TLS claimed"},
		{",p" DIGEST ",", ",0,", "password claim dropped"},
		{",p" DIGEST ",", ",m" DIGEST ",", "md5 answer for the password"},
		{DIGEST, "417f0872b236f3c5215a2416beec20b3", "another role secret"},
	};

	memcpy(other, secret, sizeof(other));
	other[31] ^= 1;

	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres", NOW, &t),
		   CM_PROOF_OK, "valid token accepted");
	is_str(t.claims.client_addr, "192.0.2.7", "client address returned");
	is_int(cm_proof_verify(secret, TOKEN_V6, "alice", "postgres", NOW, NULL),
		   CM_PROOF_OK, "valid IPv6 token accepted");
	is_int(cm_proof_verify(secret, TOKEN_V4, "bob", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "other user refused");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "template1", NOW, &t),
		   CM_PROOF_BAD_MAC, "other database refused");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alicepostgres", "", NOW, &t),
		   CM_PROOF_BAD_MAC, "names moved across the separator refused");
	is_int(cm_proof_verify(other, TOKEN_V4, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "other secret refused");

	/* any changed field breaks the HMAC */
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
	{
		tamper(tampered, TOKEN_V4, changes[i][0], changes[i][1]);
		is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
			   CM_PROOF_BAD_MAC, "%s refused", changes[i][2]);
	}
	tamper(tampered, TOKEN_V6, "616c696365", "616c696366");
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed CN refused");
	tamper(tampered, TOKEN_V6, "4f3d", "4f3e");
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed DN refused");
	strcpy(tampered, TOKEN_V4);
	tampered[strlen(tampered) - 1] = 'e';
	is_int(cm_proof_verify(secret, tampered, "alice", "postgres", NOW, &t),
		   CM_PROOF_BAD_MAC, "changed hmac refused");

	/* the window, either direction, bounds included */
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW + CM_PROOF_WINDOW_SECONDS, &t),
		   CM_PROOF_OK, "60 s old accepted");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW + CM_PROOF_WINDOW_SECONDS + 1, &t),
		   CM_PROOF_TOO_OLD, "61 s old refused");
	is_int(t.seconds, NOW, "fields returned with an old token");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW - CM_PROOF_WINDOW_SECONDS, &t),
		   CM_PROOF_OK, "60 s ahead accepted");
	is_int(cm_proof_verify(secret, TOKEN_V4, "alice", "postgres",
						   NOW - CM_PROOF_WINDOW_SECONDS - 1, &t),
		   CM_PROOF_TOO_NEW, "61 s ahead refused");
}

/* Whatever the inputs, a token made is a token that verifies. */
static void
test_round_trip(void)
{
	static const char *addrs[] = {"0.0.0.0",
								  "255.255.255.255",
								  "::",
								  "::1",
								  "::ffff:127.0.0.1",
								  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
	char user[256];
	char out[CM_PROOF_TOKEN_SIZE];
	CmProofToken t;
	CmProofClaims c;

	memset(user, 'u', 255);
	user[255] = '\0';
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
	{
		memset(&c, 0, sizeof(c));
		c.system_identifier = UINT64_MAX;
		strcpy(c.target_addr, addrs[i]);
		strcpy(c.client_addr, addrs[i]);
		c.target_port = c.client_port = 65535;
		c.tls = c.cert = true;
		c.password = CM_PROOF_PW_MD5;
		memset(c.secret_digest, 'f', CM_PROOF_DIGEST_HEX_LEN);
		memset(c.cert_cn, 0xff, CM_PROOF_CN_MAX);
		memset(c.cert_dn, ',', CM_PROOF_DN_MAX);
		ok(cm_proof_format(secret, 999999999999999999LL, nonce, user, user, &c,
						   out, sizeof(out)),
		   "longest token made for %s", addrs[i]);
		is_int(cm_proof_verify(secret, out, user, user, 999999999999999999LL, &t),
			   CM_PROOF_OK, "verified for %s", addrs[i]);
		is_str(t.claims.client_addr, addrs[i], "address kept: %s", addrs[i]);
		ok(memcmp(&t.claims, &c, sizeof(c)) == 0, "claims kept for %s",
		   addrs[i]);
	}
	ok(!cm_proof_format(secret, 1, nonce, "", "", &c, out, 0),
	   "zero capacity refused");
	{
		char longer[300];

		memset(longer, 'l', 256);
		longer[256] = '\0';
		ok(!cm_proof_format(secret, 1, nonce, longer, "", &c, out, sizeof(out)),
		   "user over 255 bytes refused");
		ok(cm_proof_format(secret, 1, nonce, "", "", &c, out, sizeof(out)),
		   "token for empty names made");
		is_int(cm_proof_verify(secret, out, longer, "", 1, &t),
			   CM_PROOF_BAD_MAC, "over-long user never verifies");
	}
	is_str(cm_proof_status_name(CM_PROOF_TOO_NEW), "timestamp in the future",
		   "status names");
}

/* Socket addresses become the text tokens carry: no scope, canonical. */
static void
test_addr_text(void)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in in4;
	struct sockaddr unix_like;
	char out[CM_PROOF_ADDR_MAX + 1];
	char small[4];

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr);
	in6.sin6_scope_id = 1;
	ok(cm_proof_addr_text((struct sockaddr *) &in6, out, sizeof(out)),
	   "link-local address written");
	is_str(out, "fe80::1", "without its scope");
	inet_pton(AF_INET6, "2001:DB8:0:0::7", &in6.sin6_addr);
	ok(cm_proof_addr_text((struct sockaddr *) &in6, out, sizeof(out)) &&
		   strcmp(out, "2001:db8::7") == 0,
	   "IPv6 in its canonical text");
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &in6.sin6_addr);
	ok(cm_proof_addr_text((struct sockaddr *) &in6, out, sizeof(out)) &&
		   strcmp(out, "192.0.2.9") == 0,
	   "IPv4-mapped IPv6 as IPv4");
	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr);
	ok(cm_proof_addr_text((struct sockaddr *) &in4, out, sizeof(out)) &&
		   strcmp(out, "192.0.2.7") == 0,
	   "IPv4");
	ok(!cm_proof_addr_text((struct sockaddr *) &in4, small, sizeof(small)),
	   "small buffer refused");
	is_str(small, "", "and left empty");
	memset(&unix_like, 0, sizeof(unix_like));
	unix_like.sa_family = AF_UNIX;
	ok(!cm_proof_addr_text(&unix_like, out, sizeof(out)),
	   "other families refused");
	{
		CmProofClaims c = claims_v4();
		char token[CM_PROOF_TOKEN_SIZE];

		inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr);
		cm_proof_addr_text((struct sockaddr *) &in6, c.client_addr,
						   sizeof(c.client_addr));
		ok(cm_proof_format(secret, NOW, nonce, "alice", "postgres", &c, token,
						   sizeof(token)),
		   "a link-local client gets a token");
	}
}

/* The role secret digest, as computed apart (HMAC-SHA256, first 16 bytes). */
static void
test_secret_digest(void)
{
	char out[CM_PROOF_DIGEST_HEX_LEN + 1];
	char other[CM_PROOF_DIGEST_HEX_LEN + 1];
	char small[CM_PROOF_DIGEST_HEX_LEN];
	char longer[300];

	ok(cm_proof_secret_digest(secret, "alice", SECRET_V4, out, sizeof(out)),
	   "digest made");
	is_str(out, DIGEST, "digest as computed apart");
	ok(cm_proof_secret_digest(secret, "alice",
							  "md5"
							  "00000000000000000000000000000000",
							  out, sizeof(out)),
	   "digest of an md5 secret made");
	is_str(out, "28401680d372172e181ae3e3514390ec",
		   "md5 digest as computed apart");
	ok(cm_proof_secret_digest(secret, "bob", SECRET_V4, other, sizeof(other)) &&
		   strcmp(other, DIGEST) != 0,
	   "another role, another digest");
	ok(cm_proof_secret_digest(secret, "alic", "e" SECRET_V4, other,
							  sizeof(other)) &&
		   strcmp(other, DIGEST) != 0,
	   "names moved across the separator: another digest");
	ok(!cm_proof_secret_digest(secret, "alice", SECRET_V4, small, sizeof(small)),
	   "small buffer refused");
	is_str(small, "", "and left empty");
	memset(longer, 'l', 256);
	longer[256] = '\0';
	ok(!cm_proof_secret_digest(secret, longer, SECRET_V4, out, sizeof(out)),
	   "user over 255 bytes refused");
}

int
main(void)
{
	for (int i = 0; i < CM_PROOF_SECRET_LEN; i++)
		secret[i] = (uint8_t) i;
	test_format();
	test_parse();
	test_malformed();
	test_verify();
	test_round_trip();
	test_secret_digest();
	test_addr_text();
	return done_testing();
}
