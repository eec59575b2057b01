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
 * Each function is a step (cm_auth.h): it writes its reply for the client
 * into the buffer it is handed and says what happened; the session does
 * the rest.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "access/xlog.h"
#include "commands/user.h"
#include "libpq/crypt.h"
#include "catalog/pg_control.h"

#include "cm_auth.h"
#include "cm_catalog.h"
#include "cm_hba_load.h"
#include "cm_md5.h"
#include "cm_proof.h"
#include "cm_proto.h"
#include "cm_tls.h"

#define CM_SCRAM_NONCE_BYTES 18

CmStepStatus
cm_step_fail(CmStepFailure *fail, const char *sqlstate, const char *message,
			 const char *detail)
{
	fail->sqlstate = sqlstate;
	strlcpy(fail->message, message, sizeof(fail->message));
	strlcpy(fail->detail, detail ? detail : "", sizeof(fail->detail));
	fail->log[0] = '\0';
	fail->log_detail[0] = '\0';
	return CM_STEP_FAILED;
}

/* An AuthenticationRequest for the client. */
static CmStepStatus
auth_send(CmOut *reply, uint32 code, const void *data, size_t len,
		  CmStepStatus status, CmStepFailure *fail)
{
	cm_proto_write_auth_request(reply, code, data, len);
	if (reply->overflow)
		return cm_step_fail(fail, "XX000", "authentication message too long",
							NULL);
	return status;
}

static const char *
encryption_name(const CmAuth *a)
{
	return a->client.tls ? "SSL encryption" : "no encryption";
}

/* The failure every unproven client gets: no hint whether the role exists. */
static CmStepStatus
auth_failed(const CmAuth *a, const char *why, CmStepFailure *fail)
{
	char msg[160];

	snprintf(msg, sizeof(msg),
			 "password authentication failed for user \"%s\"", a->client.user);
	cm_step_fail(fail, "28P01", msg, NULL);
	snprintf(fail->log, sizeof(fail->log),
			 "connection_manager: password authentication failed for user \"%s\" from %s",
			 a->client.user, a->client.addr_text);
	snprintf(fail->log_detail, sizeof(fail->log_detail),
			 "%s Connection matched pg_hba.conf line %d.", why, a->rule_line);
	return CM_STEP_FAILED;
}

/* Reads the role's secret, or makes the mock one the server would use. */
static void
auth_load_secret(CmAuth *a)
{
	char secret[512];
	CmScramError err;

	a->md5_hash[0] = '\0';
	a->have_scram = false;
	a->secret_digest[0] = '\0';
	if (cm_catalog_role_secret(a->client.user, secret, sizeof(secret)) ==
		CM_ROLE_FOUND)
	{
		/* the target checks that its own secret is this one (cm_proof.h) */
		(void) cm_proof_role_digest(a->client.user, secret, a->secret_digest,
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
							 MOCK_AUTH_NONCE_LEN, a->client.user, &a->secret,
							 &err) == CM_SCRAM_OK)
		a->have_scram = true;
}

static CmStepStatus
auth_start_scram(CmAuth *a, CmOut *reply, CmStepFailure *fail)
{
	char mechs[64];
	size_t len = 0;

	if (a->client.tls)
	{
		memcpy(mechs, "SCRAM-SHA-256-PLUS", 19);
		len = 19;
	}
	memcpy(mechs + len, "SCRAM-SHA-256", 14);
	len += 14;
	mechs[len++] = '\0';
	a->state = CM_AUTH_AWAIT_SASL_INITIAL;
	return auth_send(reply, 10, mechs, len, CM_STEP_CONTINUE, fail);
}

static CmStepStatus
auth_done(CmAuth *a, CmCredential credential)
{
	a->credential = credential;
	a->state = CM_AUTH_DONE;
	return CM_STEP_DONE;
}

static int auth_is_member(void *arg, const char *role, const char *group);

/* clientcert=verify-ca|verify-full, and the cert method's name check. */
static bool
auth_check_certificate(const CmAuth *a, const CmHbaRule *rule, bool need_name,
					   CmStepFailure *fail)
{
	char cn[256];
	char dn[512];
	bool verified = false;
	const char *name;
	const char *user = a->client.user;

	if (a->client.tls == NULL ||
		!cm_tls_peer_certificate(a->client.tls, cn, sizeof(cn), dn, sizeof(dn),
								 &verified) ||
		!verified)
	{
		cm_step_fail(fail, "28000",
					 "connection requires a valid client certificate", NULL);
		return false;
	}
	if (!need_name)
		return true;
	name = rule->clientname == CM_HBA_CLIENTNAME_DN ? dn : cn;
	if ((rule->map != NULL &&
		 (cm_ident_current() == NULL ||
		  cm_ident_check(cm_ident_current(), rule->map, name, user,
						 auth_is_member, NULL, NULL, 0) != CM_IDENT_MATCH)) ||
		(rule->map == NULL && strcmp(name, user) != 0))
	{
		char msg[160];

		snprintf(msg, sizeof(msg),
				 "certificate authentication failed for user \"%s\"", user);
		cm_step_fail(fail, "28000", msg, NULL);
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

/* No rule admits the client, or none could be found: say which. */
static CmStepStatus
auth_no_rule(const CmAuth *a, const CmHbaFile *hba, CmHbaMatchResult match,
			 int index, CmStepFailure *fail)
{
	const CmAuthClient *c = &a->client;
	char msg[512];

	if (match == CM_HBA_MATCH_ERROR && hba != NULL)
		snprintf(msg, sizeof(msg),
				 "could not match pg_hba.conf for host \"%s\", user \"%s\", database \"%s\": a role membership lookup failed",
				 c->addr_text, c->user, c->database);
	else
		snprintf(msg, sizeof(msg),
				 "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", %s",
				 c->addr_text, c->user, c->database, encryption_name(a));
	cm_step_fail(fail, "28000", msg, NULL);
	if (match == CM_HBA_MATCH_ERROR)
	{
		snprintf(fail->log, sizeof(fail->log),
				 "connection_manager: refusing %s: pg_hba.conf could not be matched",
				 c->addr_text);
		strlcpy(fail->log_detail,
				hba ? "A role membership lookup failed; a rule that names a group is never skipped on a failed lookup."
					: "No pg_hba.conf is loaded.",
				sizeof(fail->log_detail));
	}
	else if (match == CM_HBA_MATCH_SKIPPED)
	{
		snprintf(fail->log, sizeof(fail->log),
				 "connection_manager: refusing %s: the matching pg_hba.conf rule at line %d cannot be honoured",
				 c->addr_text, hba->rules[index].line);
		strlcpy(fail->log_detail, cm_hba_skip_reason(&hba->rules[index]),
				sizeof(fail->log_detail));
	}
	return CM_STEP_FAILED;
}

CmStepStatus
cm_auth_begin(const CmAuthClient *client, CmAuth **auth, CmOut *reply,
			  CmStepFailure *fail)
{
	const CmHbaFile *hba = cm_hba_current();
	CmAuth *a;
	CmHbaConn conn;
	CmHbaMatchContext ctx;
	CmHbaMatchResult match;
	const CmHbaRule *rule;
	int index = -1;
	char msg[512];

	*auth = a = calloc(1, sizeof(CmAuth));
	if (a == NULL)
		return cm_step_fail(fail, "53200", "out of memory", NULL);
	a->client = *client;
	a->method = -1;
	memset(&conn, 0, sizeof(conn));
	conn.addr = (const struct sockaddr *) client->addr;
	conn.ssl = client->tls != NULL;
	conn.role = client->user;
	conn.database = client->database;
	memset(&ctx, 0, sizeof(ctx));
	ctx.is_member = auth_is_member;
	ctx.interfaces = cm_hba_interfaces(&ctx.ninterfaces);

	match = hba ? cm_hba_match(hba, &conn, &ctx, &index) : CM_HBA_MATCH_ERROR;
	if (match != CM_HBA_MATCH)
		return auth_no_rule(a, hba, match, index, fail);
	rule = &hba->rules[index];
	a->method = rule->method;
	a->rule_line = rule->line;

	/*
	 * As on the server: "trust" and "cert" lines for an address in
	 * proof_required_from admit only a connection manager, which a client
	 * of ours is not (the manager's own line must not admit its clients).
	 */
	if ((rule->method == CM_HBA_METHOD_TRUST ||
		 rule->method == CM_HBA_METHOD_CERT) &&
		cm_proof_required_from(client->addr))
	{
		cm_step_fail(fail, "28000",
					 "connection_manager: connection from a connection manager address without a valid proof",
					 NULL);
		snprintf(fail->log, sizeof(fail->log),
				 "connection_manager: refusing %s: pg_hba.conf line %d admits this address by \"%s\" for connection managers only",
				 client->addr_text, rule->line,
				 rule->method == CM_HBA_METHOD_TRUST ? "trust" : "cert");
		strlcpy(fail->log_detail,
				"The address is in connection_manager.proof_required_from.",
				sizeof(fail->log_detail));
		return CM_STEP_FAILED;
	}

	if (rule->clientcert != CM_HBA_CLIENTCERT_NONE &&
		rule->method != CM_HBA_METHOD_CERT &&
		!auth_check_certificate(a, rule,
								rule->clientcert == CM_HBA_CLIENTCERT_VERIFY_FULL,
								fail))
		return CM_STEP_FAILED;

	switch (rule->method)
	{
		case CM_HBA_METHOD_REJECT:
			snprintf(msg, sizeof(msg),
					 "pg_hba.conf rejects connection for host \"%s\", user \"%s\", database \"%s\", %s",
					 client->addr_text, client->user, client->database,
					 encryption_name(a));
			return cm_step_fail(fail, "28000", msg, NULL);
		case CM_HBA_METHOD_TRUST:
			return auth_done(a, CM_CRED_NONE);
		case CM_HBA_METHOD_CERT:
			if (!auth_check_certificate(a, rule, true, fail))
				return CM_STEP_FAILED;
			return auth_done(a, CM_CRED_NONE);
		case CM_HBA_METHOD_PASSWORD:
			auth_load_secret(a);
			a->state = CM_AUTH_AWAIT_PASSWORD;
			return auth_send(reply, 3, NULL, 0, CM_STEP_CONTINUE, fail);
		case CM_HBA_METHOD_MD5:
			auth_load_secret(a);

			/*
			 * Like the server: md5 rules run SCRAM for SCRAM secrets, and for
			 * roles without a secret whichever password_encryption says, so
			 * that those look like any role.
			 */
			if (a->md5_hash[0] == '\0' &&
				(!a->secret.mock || Password_encryption != PASSWORD_TYPE_MD5))
				return auth_start_scram(a, reply, fail);
			if (!pg_strong_random(a->md5_salt, 4))
				return cm_step_fail(fail, "XX000", "could not generate a salt",
									NULL);
			a->state = CM_AUTH_AWAIT_MD5;
			return auth_send(reply, 5, a->md5_salt, 4, CM_STEP_CONTINUE, fail);
		case CM_HBA_METHOD_SCRAM:
			auth_load_secret(a);
			return auth_start_scram(a, reply, fail);
		default:
			return cm_step_fail(fail, "28000",
								"the matching pg_hba.conf rule uses a method the connection manager cannot honour",
								NULL);
	}
}

static CmStepStatus
auth_password(CmAuth *a, const char *body, uint32 len, CmStepFailure *fail)
{
	bool ok = false;

	if (len == 0 || body[len - 1] != '\0' || strlen(body) + 1 != len ||
		len > sizeof(a->password))
		return cm_step_fail(fail, "08P01", "invalid password packet", NULL);
	if (body[0] == '\0')
		return auth_failed(a, "Empty password.", fail);
	strlcpy(a->password, body, sizeof(a->password));
	if (a->md5_hash[0])
		ok = cm_md5_verify_password(a->md5_hash, a->client.user, body) ==
			 CM_MD5_OK;
	else if (a->have_scram)
	{
		/* PBKDF2 runs off the loop; mock secrets too, for timing */
		a->state = CM_AUTH_HASHING;
		return CM_STEP_HASH;
	}
	if (!ok)
		return auth_failed(a, "Password does not match for user.", fail);
	return auth_done(a, CM_CRED_PASSWORD);
}

/*
 * The password was hashed off the loop: compare the salted password with
 * the secret, in constant time, and keep the ClientKey so that the login
 * into the target needs no second PBKDF2.
 */
CmStepStatus
cm_auth_password_hashed(CmAuth *a, const uint8 *salted, CmStepFailure *fail)
{
	uint8 stored[CM_SCRAM_KEY_LEN];
	uint8 server[CM_SCRAM_KEY_LEN];
	bool ok;

	if (a->state != CM_AUTH_HASHING)
		return CM_STEP_CONTINUE;
	ok = salted != NULL && !a->secret.mock &&
		 cm_scram_keys(salted, a->client_key, stored, server) &&
		 (CRYPTO_memcmp(stored, a->secret.stored_key, CM_SCRAM_KEY_LEN) |
		  CRYPTO_memcmp(server, a->secret.server_key, CM_SCRAM_KEY_LEN)) == 0;
	if (!ok)
		return auth_failed(a, "Password does not match for user.", fail);
	a->have_client_key = true;
	return auth_done(a, CM_CRED_PASSWORD);
}

/* No thread to hash the password: check it in place. */
CmStepStatus
cm_auth_check_password(CmAuth *a, CmStepFailure *fail)
{
	CmScramError err;

	if (a->state != CM_AUTH_HASHING)
		return CM_STEP_CONTINUE;
	if (a->secret.mock ||
		cm_scram_verify_password(&a->secret, a->password, &err) != CM_SCRAM_OK)
		return auth_failed(a, "Password does not match for user.", fail);
	return auth_done(a, CM_CRED_PASSWORD);
}

static CmStepStatus
auth_md5(CmAuth *a, const char *body, uint32 len, CmStepFailure *fail)
{
	if (len == 0 || body[len - 1] != '\0')
		return cm_step_fail(fail, "08P01", "invalid password packet", NULL);
	if (a->md5_hash[0] == '\0' ||
		cm_md5_verify_response(a->md5_hash, a->md5_salt, body, len - 1) !=
			CM_MD5_OK)
		return auth_failed(a, "Password does not match for user.", fail);
	return auth_done(a, CM_CRED_MD5);
}

static CmStepStatus
auth_sasl_failed(const CmAuth *a, const CmScramError *err, CmStepFailure *fail)
{
	if (err->status == CM_SCRAM_WRONG_PASSWORD)
		return auth_failed(a, "SCRAM proof does not match.", fail);
	return cm_step_fail(fail, err->sqlstate ? err->sqlstate : "08P01",
						err->message ? err->message : "malformed SCRAM message",
						err->detail);
}

static CmStepStatus
auth_sasl_initial(CmAuth *a, const uint8 *body, uint32 len, CmOut *reply,
				  CmStepFailure *fail)
{
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
		return cm_step_fail(fail, "08P01", "malformed SASL initial response",
							NULL);
	datalen = cm_proto_get_u32(nul + 1);
	if (datalen != len - (uint32) (nul - body) - 5)
		return cm_step_fail(fail, "08P01", "malformed SASL initial response",
							NULL);
	if (cm_scram_select_mechanism(mech, a->client.tls != NULL, &plus, &err) !=
		CM_SCRAM_OK)
		return auth_sasl_failed(a, &err, fail);
	memset(&binding, 0, sizeof(binding));
	binding.plus_offered = a->client.tls != NULL;
	binding.plus_selected = plus;
	if (plus)
	{
		if (!cm_tls_server_end_point(a->client.tls, cbind, &cbind_len))
			return cm_step_fail(fail, "08P01",
								"could not compute the channel binding data",
								NULL);
		binding.cbind_data = cbind;
		binding.cbind_len = cbind_len;
	}
	if (!pg_strong_random(random, sizeof(random)) ||
		cm_scram_server_begin(&a->secret, &binding, random, sizeof(random),
							  &a->scram_server, &err) != CM_SCRAM_OK ||
		cm_scram_server_step(a->scram_server, (const char *) nul + 5, datalen,
							 &out, &outlen, &err) != CM_SCRAM_OK)
		return auth_sasl_failed(a, &err, fail);
	a->state = CM_AUTH_AWAIT_SASL_RESPONSE;
	return auth_send(reply, 11, out, outlen, CM_STEP_CONTINUE, fail);
}

/* The client's proof: our final message goes with the outcome. */
static CmStepStatus
auth_sasl_response(CmAuth *a, const uint8 *body, uint32 len, CmOut *reply,
				   CmStepFailure *fail)
{
	const char *out;
	size_t outlen;
	CmScramError err;

	if (cm_scram_server_step(a->scram_server, (const char *) body, len, &out,
							 &outlen, &err) != CM_SCRAM_OK ||
		!cm_scram_server_client_key(a->scram_server, a->client_key))
		return auth_sasl_failed(a, &err, fail);
	if (auth_send(reply, 12, out, outlen, CM_STEP_DONE, fail) != CM_STEP_DONE)
		return CM_STEP_FAILED;
	a->have_client_key = true;
	return auth_done(a, CM_CRED_SCRAM);
}

/* One whole 'p' message the client sent while we authenticate it. */
CmStepStatus
cm_auth_client_data(CmAuth *a, const uint8 *data, size_t len, size_t *used,
					CmOut *reply, CmStepFailure *fail)
{
	char type;
	uint32 total;
	const uint8 *body = data + 5;

	*used = 0;
	/* bytes that come while a password is hashed wait for the answer */
	if (a->state == CM_AUTH_HASHING || a->state == CM_AUTH_DONE)
		return CM_STEP_CONTINUE;
	switch (cm_proto_parse_header(data, len, CM_AUTH_MESSAGE_MAX, &type, &total))
	{
		case CM_HEADER_NEED_MORE:
			return CM_STEP_CONTINUE;
		case CM_HEADER_BAD_LENGTH:
			return cm_step_fail(fail, "08P01",
								"invalid message length during authentication",
								NULL);
		case CM_HEADER_OK:
			break;
	}
	if (len < total)
		return CM_STEP_CONTINUE;
	*used = total;
	if (type != 'p')
	{
		char m[96];

		snprintf(m, sizeof(m), "expected password response, got message type %d",
				 (int) (unsigned char) type);
		return cm_step_fail(fail, "08P01", m, NULL);
	}
	switch (a->state)
	{
		case CM_AUTH_AWAIT_PASSWORD:
			return auth_password(a, (const char *) body, total - 5, fail);
		case CM_AUTH_AWAIT_MD5:
			return auth_md5(a, (const char *) body, total - 5, fail);
		case CM_AUTH_AWAIT_SASL_INITIAL:
			return auth_sasl_initial(a, body, total - 5, reply, fail);
		case CM_AUTH_AWAIT_SASL_RESPONSE:
			return auth_sasl_response(a, body, total - 5, reply, fail);
		case CM_AUTH_HASHING:
		case CM_AUTH_DONE:
			break;
	}
	return CM_STEP_CONTINUE;
}

void
cm_auth_free(CmAuth *a)
{
	if (a == NULL)
		return;
	if (a->scram_server)
		cm_scram_server_free(a->scram_server);
	if (a->scram_client)
		cm_scram_client_free(a->scram_client);
	explicit_bzero(a, sizeof(CmAuth));
	free(a);
}
