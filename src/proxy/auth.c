/*
 * proxy/auth.c
 *		Pre-authenticates a client before any server connection exists: the
 *		first pg_hba.conf rule that matches the client's own address
 *		decides, and the client proves itself to us with the role's secret
 *		from pg_authid.  What it proved is kept to log into the target as
 *		the client's role (login.c).
 *
 * A role that does not exist, has no password or an expired one goes
 * through the same exchange with a mock secret made as the server makes
 * it, and fails exactly like a wrong password.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netinet/in.h>
#include <openssl/crypto.h>

#include "access/xlog.h"
#include "commands/user.h"
#include "libpq/crypt.h"
#include "catalog/pg_control.h"
#include "postmaster/postmaster.h"

#include "cm_auth.h"
#include "cm_catalog.h"
#include "cm_hash.h"
#include "cm_hba_load.h"
#include "cm_md5.h"
#include "cm_proof.h"
#include "cm_proto.h"
#include "cm_tls.h"

/* The longest authentication message a client may send. */
#define CM_AUTH_MESSAGE_MAX	 8192
#define CM_SCRAM_NONCE_BYTES 18

static void
auth_send(CmSession *s, uint32 code, const void *data, size_t len)
{
	uint8 msg[CM_AUTH_MESSAGE_MAX];

	if (len + 9 > sizeof(msg))
	{
		cm_session_fail(s, "XX000", "authentication message too long", NULL);
		return;
	}
	msg[0] = 'R';
	cm_proto_put_u32(msg + 1, (uint32) (len + 8));
	cm_proto_put_u32(msg + 5, code);
	if (len > 0)
		memcpy(msg + 9, data, len);
	cm_session_send_client(s, msg, len + 9);
}

static const char *
encryption_name(CmSession *s)
{
	return s->client.tls ? "SSL encryption" : "no encryption";
}

/* The failure every unproven client gets: no hint whether the role exists. */
static void
auth_failed(CmSession *s, const char *why)
{
	char msg[160];

	ereport(LOG,
			(errmsg("connection_manager: password authentication failed for user \"%s\" from %s",
					s->login->user, s->login->client_addr),
			 errdetail("%s Connection matched pg_hba.conf line %d.", why,
					   s->login->auth->rule_line)));
	snprintf(msg, sizeof(msg),
			 "password authentication failed for user \"%s\"", s->login->user);
	cm_session_fail(s, "28P01", msg, NULL);
}

/* Reads the role's secret, or makes the mock one the server would use. */
static void
auth_load_secret(CmSession *s)
{
	CmAuth *a = s->login->auth;
	char secret[512];
	CmScramError err;

	a->md5_hash[0] = '\0';
	a->have_scram = false;
	a->secret_digest[0] = '\0';
	if (cm_catalog_role_secret(s->login->user, secret, sizeof(secret)) ==
		CM_ROLE_FOUND)
	{
		/* the target checks that its own secret is this one (cm_proof.h) */
		(void) cm_proof_role_digest(s->login->user, secret, a->secret_digest,
									sizeof(a->secret_digest));
		if (cm_md5_is_hash(secret))
			strlcpy(a->md5_hash, secret, sizeof(a->md5_hash));
		else if (cm_scram_secret_parse(secret, &a->secret, &err) == CM_SCRAM_OK)
		{
			a->have_scram = true;
			return;
		}
	}
	/* no SCRAM secret: a SCRAM exchange fails as the server's would */
	if (cm_scram_secret_mock((const uint8 *) GetMockAuthenticationNonce(),
							 MOCK_AUTH_NONCE_LEN, s->login->user, &a->secret,
							 &err) == CM_SCRAM_OK)
		a->have_scram = true;
}

static void
auth_start_scram(CmSession *s)
{
	char mechs[64];
	size_t len = 0;

	if (s->client.tls)
	{
		memcpy(mechs, "SCRAM-SHA-256-PLUS", 19);
		len = 19;
	}
	memcpy(mechs + len, "SCRAM-SHA-256", 14);
	len += 14;
	mechs[len++] = '\0';
	s->login->auth->step = CM_AUTH_AWAIT_SASL_INITIAL;
	auth_send(s, 10, mechs, len);
}

static void
auth_done(CmSession *s, CmCredential credential)
{
	s->login->auth->credential = credential;
	s->login->auth->step = CM_AUTH_DONE;
	cm_session_authenticated(s);
}

static int auth_is_member(void *arg, const char *role, const char *group);

/* clientcert=verify-ca|verify-full, and the cert method's name check. */
static bool
auth_check_certificate(CmSession *s, const CmHbaRule *rule, bool need_name)
{
	char cn[256];
	char dn[512];
	bool verified = false;
	const char *name;

	if (s->client.tls == NULL ||
		!cm_tls_peer_certificate(s->client.tls, cn, sizeof(cn), dn, sizeof(dn),
								 &verified) ||
		!verified)
	{
		cm_session_fail(s, "28000",
						"connection requires a valid client certificate", NULL);
		return false;
	}
	if (!need_name)
		return true;
	name = rule->clientname == CM_HBA_CLIENTNAME_DN ? dn : cn;
	if ((rule->map != NULL &&
		 (cm_ident_current() == NULL ||
		  cm_ident_check(cm_ident_current(), rule->map, name, s->login->user,
						 auth_is_member, NULL, NULL, 0) != CM_IDENT_MATCH)) ||
		(rule->map == NULL && strcmp(name, s->login->user) != 0))
	{
		char msg[160];

		snprintf(msg, sizeof(msg),
				 "certificate authentication failed for user \"%s\"",
				 s->login->user);
		cm_session_fail(s, "28000", msg, NULL);
		return false;
	}
	return true;
}

static int
auth_is_member(void *arg, const char *role, const char *group)
{
	(void) arg;
	return cm_catalog_is_member(role, group);
}

void
cm_auth_begin(CmSession *s)
{
	const CmHbaFile *hba = cm_hba_current();
	CmHbaConn conn;
	CmHbaMatchContext ctx;
	CmHbaMatchResult match;
	const CmHbaRule *rule;
	int index = -1;
	char msg[512];

	s->login->auth = calloc(1, sizeof(CmAuth));
	if (s->login->auth == NULL)
	{
		cm_session_fail(s, "53200", "out of memory", NULL);
		return;
	}
	memset(&conn, 0, sizeof(conn));
	conn.addr = (const struct sockaddr *) &s->login->client_sockaddr;
	conn.ssl = s->client.tls != NULL;
	conn.role = s->login->user;
	conn.database = s->login->database;
	memset(&ctx, 0, sizeof(ctx));
	ctx.is_member = auth_is_member;
	ctx.interfaces = cm_hba_interfaces(&ctx.ninterfaces);

	match = hba ? cm_hba_match(hba, &conn, &ctx, &index) : CM_HBA_MATCH_ERROR;
	if (match != CM_HBA_MATCH)
	{
		if (match == CM_HBA_MATCH_ERROR)
			ereport(LOG,
					(errmsg("connection_manager: refusing %s: pg_hba.conf could not be matched",
							s->login->client_addr),
					 errdetail("%s", hba ? "A role membership lookup failed; a rule that names a group is never skipped on a failed lookup."
										 : "No pg_hba.conf is loaded.")));
		else if (match == CM_HBA_MATCH_SKIPPED)
			ereport(LOG,
					(errmsg("connection_manager: refusing %s: the matching pg_hba.conf rule at line %d cannot be honoured",
							s->login->client_addr, hba->rules[index].line),
					 errdetail("%s", cm_hba_skip_reason(&hba->rules[index]))));
		if (match == CM_HBA_MATCH_ERROR && hba != NULL)
			snprintf(msg, sizeof(msg),
					 "could not match pg_hba.conf for host \"%s\", user \"%s\", database \"%s\": a role membership lookup failed",
					 s->login->client_addr, s->login->user, s->login->database);
		else
			snprintf(msg, sizeof(msg),
					 "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", %s",
					 s->login->client_addr, s->login->user, s->login->database,
					 encryption_name(s));
		cm_session_fail(s, "28000", msg, NULL);
		return;
	}
	rule = &hba->rules[index];
	s->login->auth->method = rule->method;
	s->login->auth->rule_line = rule->line;

	/*
	 * As on the server: "trust" and "cert" lines for an address in
	 * proof_required_from admit only a connection manager, which a client
	 * of ours is not (the manager's own line must not admit its clients).
	 */
	if ((rule->method == CM_HBA_METHOD_TRUST ||
		 rule->method == CM_HBA_METHOD_CERT) &&
		cm_proof_required_from(&s->login->client_sockaddr))
	{
		ereport(LOG,
				(errmsg("connection_manager: refusing %s: pg_hba.conf line %d admits this address by \"%s\" for connection managers only",
						s->login->client_addr, rule->line,
						rule->method == CM_HBA_METHOD_TRUST ? "trust" : "cert"),
				 errdetail(
					 "The address is in connection_manager.proof_required_from.")));
		cm_session_fail(s, "28000",
						"connection_manager: connection from a connection manager address without a valid proof",
						NULL);
		return;
	}

	if (rule->clientcert != CM_HBA_CLIENTCERT_NONE &&
		rule->method != CM_HBA_METHOD_CERT &&
		!auth_check_certificate(s, rule,
								rule->clientcert ==
									CM_HBA_CLIENTCERT_VERIFY_FULL))
		return;

	switch (rule->method)
	{
		case CM_HBA_METHOD_REJECT:
			snprintf(msg, sizeof(msg),
					 "pg_hba.conf rejects connection for host \"%s\", user \"%s\", database \"%s\", %s",
					 s->login->client_addr, s->login->user, s->login->database,
					 encryption_name(s));
			cm_session_fail(s, "28000", msg, NULL);
			return;
		case CM_HBA_METHOD_TRUST:
			auth_done(s, CM_CRED_NONE);
			return;
		case CM_HBA_METHOD_CERT:
			if (auth_check_certificate(s, rule, true))
				auth_done(s, CM_CRED_NONE);
			return;
		case CM_HBA_METHOD_PASSWORD:
			auth_load_secret(s);
			s->login->auth->step = CM_AUTH_AWAIT_PASSWORD;
			auth_send(s, 3, NULL, 0);
			return;
		case CM_HBA_METHOD_MD5:
			auth_load_secret(s); /*
			 * Like the server: md5 rules run SCRAM for SCRAM secrets, and for
			 * roles without a secret whichever password_encryption says, so
			 * that those look like any role.
			 */
			if (s->login->auth->md5_hash[0] == '\0' &&
				(!s->login->auth->secret.mock ||
				 Password_encryption != PASSWORD_TYPE_MD5))
			{
				auth_start_scram(s);
				return;
			}
			if (!pg_strong_random(s->login->auth->md5_salt, 4))
			{
				cm_session_fail(s, "XX000", "could not generate a salt", NULL);
				return;
			}
			s->login->auth->step = CM_AUTH_AWAIT_MD5;
			auth_send(s, 5, s->login->auth->md5_salt, 4);
			return;
		case CM_HBA_METHOD_SCRAM:
			auth_load_secret(s);
			auth_start_scram(s);
			return;
		default:
			cm_session_fail(s, "28000",
							"the matching pg_hba.conf rule uses a method the connection manager cannot honour",
							NULL);
			return;
	}
}

static void
auth_password(CmSession *s, const char *body, uint32 len)
{
	CmAuth *a = s->login->auth;
	bool ok = false;
	CmScramError err;

	if (len == 0 || body[len - 1] != '\0' || strlen(body) + 1 != len ||
		len > sizeof(a->password))
	{
		cm_session_fail(s, "08P01", "invalid password packet", NULL);
		return;
	}
	if (body[0] == '\0')
	{
		auth_failed(s, "Empty password.");
		return;
	}
	strlcpy(a->password, body, sizeof(a->password));
	if (a->md5_hash[0])
		ok = cm_md5_verify_password(a->md5_hash, s->login->user, body) ==
			 CM_MD5_OK;
	else if (a->have_scram)
	{
		/* PBKDF2 runs on the hashing thread; mock secrets too, for timing */ switch (
			cm_hash_submit(s, body, &a->secret))
		{
			case CM_HASH_QUEUED:
				a->step = CM_AUTH_HASHING;
				return;
			case CM_HASH_BUSY:
				cm_session_fail(s, "53300",
								"sorry, too many password checks in progress",
								NULL);
				return;
			case CM_HASH_UNAVAILABLE:
				break;
		}
		ok = !a->secret.mock &&
			 cm_scram_verify_password(&a->secret, body, &err) == CM_SCRAM_OK;
	}
	if (!ok)
	{
		auth_failed(s, "Password does not match for user.");
		return;
	}
	auth_done(s, CM_CRED_PASSWORD);
}

/*
 * The hashing thread derived the salted password: compare it with the
 * secret, in constant time, and keep the ClientKey so that the login into
 * the target needs no second PBKDF2.
 */
void
cm_auth_password_hashed(CmSession *s, const uint8 *salted)
{
	CmAuth *a = s->login->auth;
	uint8 stored[CM_SCRAM_KEY_LEN];
	uint8 server[CM_SCRAM_KEY_LEN];
	bool ok;

	if (a == NULL || a->step != CM_AUTH_HASHING)
		return;
	ok = salted != NULL && !a->secret.mock &&
		 cm_scram_keys(salted, a->client_key, stored, server) &&
		 (CRYPTO_memcmp(stored, a->secret.stored_key, CM_SCRAM_KEY_LEN) |
		  CRYPTO_memcmp(server, a->secret.server_key, CM_SCRAM_KEY_LEN)) == 0;
	if (!ok)
	{
		auth_failed(s, "Password does not match for user.");
		return;
	}
	a->have_client_key = true;
	auth_done(s, CM_CRED_PASSWORD);
	cm_session_update(s);
}

static void
auth_md5(CmSession *s, const char *body, uint32 len)
{
	if (len == 0 || body[len - 1] != '\0')
	{
		cm_session_fail(s, "08P01", "invalid password packet", NULL);
		return;
	}
	if (s->login->auth->md5_hash[0] == '\0' ||
		cm_md5_verify_response(s->login->auth->md5_hash, s->login->auth->md5_salt,
							   body, len - 1) != CM_MD5_OK)
	{
		auth_failed(s, "Password does not match for user.");
		return;
	}
	auth_done(s, CM_CRED_MD5);
}

static void
auth_sasl_failed(CmSession *s, const CmScramError *err)
{
	if (err->status == CM_SCRAM_WRONG_PASSWORD)
		auth_failed(s, "SCRAM proof does not match.");
	else
		cm_session_fail(s, err->sqlstate ? err->sqlstate : "08P01",
						err->message ? err->message : "malformed SCRAM message",
						err->detail);
}

static void
auth_sasl_initial(CmSession *s, const uint8 *body, uint32 len)
{
	CmAuth *a = s->login->auth;
	const char *mech = (const char *) body;
	const uint8 *nul = memchr(body, '\0', len);
	uint32 datalen;
	bool plus = false;
	CmScramBinding binding;
	uint8 cbind[CM_SCRAM_MAX_CBIND_DATA_LEN];
	size_t cbind_len = sizeof(cbind);
	uint8 random[CM_SCRAM_NONCE_BYTES];
	const char *out;
	size_t outlen;
	CmScramError err;

	if (nul == NULL || (uint32) (nul - body) + 5 > len)
	{
		cm_session_fail(s, "08P01", "malformed SASL initial response", NULL);
		return;
	}
	datalen = cm_proto_get_u32(nul + 1);
	if (datalen != len - (uint32) (nul - body) - 5)
	{
		cm_session_fail(s, "08P01", "malformed SASL initial response", NULL);
		return;
	}
	if (cm_scram_select_mechanism(mech, s->client.tls != NULL, &plus, &err) !=
		CM_SCRAM_OK)
	{
		auth_sasl_failed(s, &err);
		return;
	}
	memset(&binding, 0, sizeof(binding));
	binding.plus_offered = s->client.tls != NULL;
	binding.plus_selected = plus;
	if (plus)
	{
		if (!cm_tls_server_end_point(s->client.tls, cbind, &cbind_len))
		{
			cm_session_fail(s, "08P01",
							"could not compute the channel binding data", NULL);
			return;
		}
		binding.cbind_data = cbind;
		binding.cbind_len = cbind_len;
	}
	if (!pg_strong_random(random, sizeof(random)) ||
		cm_scram_server_begin(&a->secret, &binding, random, sizeof(random),
							  &a->scram_server, &err) != CM_SCRAM_OK ||
		cm_scram_server_step(a->scram_server, (const char *) nul + 5, datalen,
							 &out, &outlen, &err) != CM_SCRAM_OK)
	{
		auth_sasl_failed(s, &err);
		return;
	}
	a->step = CM_AUTH_AWAIT_SASL_RESPONSE;
	auth_send(s, 11, out, outlen);
}

static void
auth_sasl_response(CmSession *s, const uint8 *body, uint32 len)
{
	CmAuth *a = s->login->auth;
	const char *out;
	size_t outlen;
	CmScramError err;

	if (cm_scram_server_step(a->scram_server, (const char *) body, len, &out,
							 &outlen, &err) != CM_SCRAM_OK ||
		!cm_scram_server_client_key(a->scram_server, a->client_key))
	{
		auth_sasl_failed(s, &err);
		return;
	}
	auth_send(s, 12, out, outlen);
	if (s->state == CM_SS_CLOSED || s->state == CM_SS_CLOSING)
		return;
	s->login->auth->have_client_key = true;
	auth_done(s, CM_CRED_SCRAM);
}

/* Whole 'p' messages the client sent while we authenticate it. */
void
cm_auth_client_data(CmSession *s)
{
	/* bytes that come while a password is hashed wait for the answer */
	while (s->state == CM_SS_AUTH && s->login->auth->step != CM_AUTH_HASHING)
	{
		char type;
		uint32 total;
		uint32 avail;
		const uint8 *msg = cm_stream_unscanned(&s->client, &avail);

		if (avail == 0)
			return;
		switch (cm_proto_parse_header(msg, avail, CM_AUTH_MESSAGE_MAX, &type,
									  &total))
		{
			case CM_HEADER_NEED_MORE:
				return;
			case CM_HEADER_BAD_LENGTH:
				cm_session_fail(s, "08P01",
								"invalid message length during authentication",
								NULL);
				return;
			case CM_HEADER_OK:
				break;
		}
		if (avail < total)
			return;
		if (type != 'p')
		{
			char m[96];

			snprintf(m, sizeof(m),
					 "expected password response, got message type %d",
					 (int) (unsigned char) type);
			cm_session_fail(s, "08P01", m, NULL);
			return;
		}
		switch (s->login->auth->step)
		{
			case CM_AUTH_AWAIT_PASSWORD:
				auth_password(s, (const char *) msg + 5, total - 5);
				break;
			case CM_AUTH_AWAIT_MD5:
				auth_md5(s, (const char *) msg + 5, total - 5);
				break;
			case CM_AUTH_AWAIT_SASL_INITIAL:
				auth_sasl_initial(s, msg + 5, total - 5);
				break;
			case CM_AUTH_AWAIT_SASL_RESPONSE:
				auth_sasl_response(s, msg + 5, total - 5);
				break;
			case CM_AUTH_HASHING:
			case CM_AUTH_DONE:
				break;
		}
		/* handled in place, then taken off the front */
		cm_stream_consume(&s->client, total);
	}
}

void
cm_auth_free(CmSession *s)
{
	if (s->login->auth == NULL)
		return;
	if (s->login->auth->scram_server)
		cm_scram_server_free(s->login->auth->scram_server);
	if (s->login->auth->scram_client)
		cm_scram_client_free(s->login->auth->scram_client);
	explicit_bzero(s->login->auth, sizeof(CmAuth));
	free(s->login->auth);
	s->login->auth = NULL;
}
