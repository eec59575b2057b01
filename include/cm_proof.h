/*
 * cm_proof.h
 *		The proof that a backend connection comes from a connection manager
 *		of this cluster (SPEC promise 7), made by the proxy, checked by the
 *		target node's backend.
 *
 * Why: for clients authenticated by "trust" or "cert", the proxy logs into
 * the target node as the client's role through a "trust" line for the
 * manager's own address.  Anyone else on that address would gain the same
 * trust.  So every node keeps a cluster secret, and every connection that
 * such a line admits must carry a token signed with it.
 *
 * The secret: 32 random bytes in $PGDATA/connection_manager.secret (mode
 * 0600), created by the postmaster at start when missing, read once there
 * and inherited by every backend and worker.  pg_basebackup copies it, so
 * standbys share it; a node built any other way needs a copy of the file
 * (and a restart).  The secret is never logged.
 *
 * What the proxy sends: the startup packet's key/value parameter
 *
 *		connection_manager.proof = <cm_proof_make() output>
 *
 * (a key/value pair, not inside "options").  The token is one line of
 * comma-separated fields:
 *
 *		v2,<unix seconds>,<nonce, 16 hex>,<system identifier>,
 *		<target address>,<target port>,<client address>,<client port>,
 *		<tls 0|1>,<password>,<certificate 0|1>,<CN hex>,<DN hex>,<hmac>
 *
 * The target is the node the proxy dialled: its address as dialled and its
 * PostgreSQL port, with the cluster's system identifier, so that a token
 * read off the wire is refused by any other node.  The client fields are
 * what the entry node established: the client's real address and port
 * (numeric, no IPv6 scope), whether it used TLS, what it proved of the
 * role's password, and whether it presented a certificate the entry node
 * verified, with that certificate's subject CN and DN (hex of their bytes;
 * both empty without a certificate).  The password field is "0" when the
 * client proved no password, else "p" (it proved the password itself:
 * cleartext or SCRAM) or "m" (an md5 answer, which the stored md5 hash
 * alone can give) followed by the role secret digest: 32 lower-case hex,
 * the first 16 bytes of HMAC-SHA256, under the secret, of
 * CM_PROOF_DIGEST_LABEL, NUL, user, NUL and the pg_authid.rolpassword the
 * entry node checked the client against.  hmac is the lower-case hex
 * HMAC-SHA256, under the secret, of user, NUL, database, NUL, and the token
 * text before ",<hmac>".  NUL cannot occur in a startup packet string, so
 * no two inputs give the same message.  The user and database are the
 * backend's: truncated to NAMEDATALEN - 1 bytes as the server truncates
 * them.  Every number is canonical decimal and every address the text
 * inet_ntop() writes, so a token has exactly one text.
 *
 * What the backend checks (ClientAuthentication_hook): a connection over
 * TCP from an address in connection_manager.proof_required_from that
 * pg_hba.conf admitted by "trust" or "cert" must carry a valid token; a
 * token on any other connection must be valid too.  Valid: well formed,
 * the HMAC matches this user, database and secret, the timestamp is within
 * CM_PROOF_WINDOW_SECONDS of the node's clock in either direction, the
 * nonce was not seen on this node before (a shared-memory table remembers
 * nonces for as long as their token is valid; a token dated before the
 * table began, at the node's start, is refused), and the target is this
 * node: its system identifier, its port, and the local address the
 * connection arrived on.  Then the node judges the real client with its
 * own pg_hba.conf, as if it had connected directly: no matching line or a
 * "reject" line refuses; "trust" and "cert" lines from an address in
 * proof_required_from refuse (only a connection manager may use those);
 * password lines need the password claim, made against the role secret
 * this node has (a password changed here and not yet replayed on the
 * entry node does not count), "p" for "password", a SCRAM secret for
 * "scram-sha-256"; "cert" and clientcert need the
 * certificate claim (and its name, through the line's map); other methods
 * refuse.  The client's address is the one the entry node saw (a client
 * on the entry node's loopback meets this node's loopback lines); its TLS
 * and certificate count only as far as this node could have seen them
 * itself: without ssl, no TLS (hostssl lines never match), and without a
 * root certificate store, no certificate.
 * Failures are FATAL
 * with SQLSTATE 28000; what failed goes to the server log only.  A token
 * reaching the setting any other way ("-c" in "options") is refused.
 * Physical replication connections need no token: they match only
 * "replication" lines, never the manager's.  With log_connections, the
 * real client address and port of a proven connection are logged.
 *
 * Limits.  Nodes' clocks must agree within the window.  The nonce memory
 * is per node and has 65536 slots; from about 200 proven logins a second
 * on one node, a few nonces are forgotten before their proof expires
 * (logged once a minute; see src/proof.c).  It is lost at restart, and a
 * crash's shared memory reset: a proof dated before the node began
 * remembering is refused, so that none can be replayed then (a manager
 * whose clock lags the node's is refused for that long after the node
 * starts).  Nodes must reach each other at their own addresses:
 * behind a NAT the address dialled is not the one the connection arrives
 * on, and every proof is refused.
 *
 * The first part below is pure code (libc + OpenSSL), unit-tested and
 * fuzzed; the second runs in the server (src/proof.c).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_PROOF_H
#define CM_PROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CM_PROOF_SETTING	 "connection_manager.proof"
#define CM_PROOF_SECRET_FILE "connection_manager.secret"
#define CM_PROOF_SECRET_LEN	 32
#define CM_PROOF_NONCE_LEN	 8
#define CM_PROOF_MAC_HEX_LEN 64
/* the role secret digest: 16 bytes of HMAC, in hex */
#define CM_PROOF_DIGEST_HEX_LEN 32
#define CM_PROOF_DIGEST_LABEL	"connection_manager role secret"
#define CM_PROOF_WINDOW_SECONDS 60
/* the longest numeric IPv6 address text, as INET6_ADDRSTRLEN - 1 */
#define CM_PROOF_ADDR_MAX 45
/* the longest certificate names a token carries, in bytes */
#define CM_PROOF_CN_MAX 255
#define CM_PROOF_DN_MAX 511
/* a buffer of this size always holds a token and its terminator */
#define CM_PROOF_TOKEN_SIZE 2048

typedef enum CmProofStatus
{
	CM_PROOF_OK,
	CM_PROOF_MALFORMED, /* not a v2 token */
	CM_PROOF_BAD_MAC,	/* other secret, user, database or field */
	CM_PROOF_TOO_OLD,	/* older than the window */
	CM_PROOF_TOO_NEW,	/* further in the future than the window */
	CM_PROOF_INTERNAL	/* OpenSSL could not compute the HMAC */
} CmProofStatus;

/* What the client proved of the role's password to the entry node. */
typedef enum CmProofPassword
{
	CM_PROOF_PW_NONE = 0,	/* nothing: trust or cert */
	CM_PROOF_PW_PROVEN = 1, /* the password: cleartext or SCRAM */
	CM_PROOF_PW_MD5 = 2		/* an md5 answer: the stored hash suffices */
} CmProofPassword;

/* What a token states: the node it is for, and the client's login. */
typedef struct CmProofClaims
{
	uint64_t system_identifier;
	char target_addr[CM_PROOF_ADDR_MAX + 1];
	int target_port;
	char client_addr[CM_PROOF_ADDR_MAX + 1];
	int client_port;
	bool tls; /* the client's connection used TLS */
	CmProofPassword password;
	/* with a password: the digest of the role secret it was checked against */
	char secret_digest[CM_PROOF_DIGEST_HEX_LEN + 1];
	bool cert; /* the client presented a certificate that was verified */
	char cert_cn[CM_PROOF_CN_MAX + 1]; /* "" without a certificate */
	char cert_dn[CM_PROOF_DN_MAX + 1];
} CmProofClaims;

/* The fields of a token, as read from its text. */
typedef struct CmProofToken
{
	int64_t seconds;
	uint8_t nonce[CM_PROOF_NONCE_LEN];
	CmProofClaims claims;
	char mac_hex[CM_PROOF_MAC_HEX_LEN + 1];
} CmProofToken;

/*
 * Writes the token for these values and a NUL to out.  False, leaving out
 * empty when cap allows, when an address is not canonical numeric text,
 * a port is outside 0..65535, seconds is negative, the names are longer
 * than 255 bytes, a certificate claim comes without TLS or names without a
 * certificate, a password claim without a well-formed digest or a digest
 * without one, cap is too small, or OpenSSL fails.
 */
extern bool
cm_proof_format(const uint8_t secret[CM_PROOF_SECRET_LEN], int64_t seconds,
				const uint8_t nonce[CM_PROOF_NONCE_LEN], const char *user,
				const char *database, const CmProofClaims *claims, char *out,
				size_t cap);

/*
 * Reads a token strictly: "v2", canonical decimals, lower-case hex, the
 * canonical text of each address, nothing more.  CM_PROOF_OK or
 * CM_PROOF_MALFORMED; out is filled on success only.
 */
extern CmProofStatus cm_proof_parse(const char *text, CmProofToken *out);

/*
 * Parses text and checks it against user, database and the secret (HMAC
 * compared in constant time), then its timestamp against now.  out (may
 * be NULL) gets the fields when the status is CM_PROOF_OK, CM_PROOF_TOO_OLD
 * or CM_PROOF_TOO_NEW.  The nonce and the target are for the caller to
 * check.
 */
extern CmProofStatus
cm_proof_verify(const uint8_t secret[CM_PROOF_SECRET_LEN], const char *text,
				const char *user, const char *database, int64_t now,
				CmProofToken *out);

/*
 * The role secret digest (see above) of rolpassword for user, into out
 * (at least CM_PROOF_DIGEST_HEX_LEN + 1 bytes).  False, with out empty,
 * when OpenSSL fails or a name is longer than 255 bytes.
 */
extern bool cm_proof_secret_digest(const uint8_t secret[CM_PROOF_SECRET_LEN],
								   const char *user, const char *rolpassword,
								   char *out, size_t cap);

/* A short English name of a status, for the server log. */
extern const char *cm_proof_status_name(CmProofStatus status);

/*
 * The canonical text of an IPv4 or IPv6 socket address, as tokens carry
 * it: what inet_ntop() writes, without an IPv6 scope ("fe80::1", never
 * "fe80::1%lo"), an IPv4-mapped IPv6 address as its IPv4 address.  False, with out empty, for other families or a small
 * buffer.
 */
extern bool
cm_proof_addr_text(const struct sockaddr *addr, char *out, size_t cap);

/* ---- server side: src/proof.c ---- */

/*
 * Defines connection_manager.proof and proof_required_from; in the
 * postmaster, also reads (or creates) the secret, asks for shared memory
 * and installs the authentication hook.  Call first in _PG_init: the
 * settings must exist before the prefix is reserved, or their values in
 * postgresql.conf are dropped at start.
 */
extern void cm_proof_init(void);

/*
 * For the proxy (any process forked from the postmaster; never raises an
 * error): writes a fresh token for a session of user on database with
 * these claims, into out (at least CM_PROOF_TOKEN_SIZE bytes).  The
 * system identifier is this node's (every node of a cluster shares it).
 * Names are truncated as the server truncates them.  False when there is
 * no secret (library not preloaded), a claim is not representable, no
 * random bytes, or out is too small.
 */
extern bool cm_proof_make(const char *user, const char *database,
						  const CmProofClaims *claims, char *out, size_t outlen);

/*
 * For the proxy (never raises an error): the role secret digest of
 * rolpassword for user, as the password claim carries it; false when
 * there is no secret or out is too small.
 */
extern bool cm_proof_role_digest(const char *user, const char *rolpassword,
								 char *out, size_t outlen);

/*
 * True when addr is in connection_manager.proof_required_from: pg_hba.conf
 * "trust" and "cert" lines admit only a connection manager from there.
 */
extern bool cm_proof_required_from(const struct sockaddr_storage *addr);

/*
 * The real client of backend pid, as its proof stated: true and the
 * address and port when that backend was opened by a connection manager.
 * Reads shared memory; for the views.
 */
extern bool cm_proof_client_of(int pid, char *addr, size_t addrlen, int *port);

#endif /* CM_PROOF_H */
