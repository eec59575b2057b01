/*
 * proxy/login.c
 *		Logs into the target node as the client's role, answering the
 *		target's authentication requests with what the client proved: the
 *		SCRAM ClientKey (a fresh proof signed with it), the md5 hash, or the
 *		cleartext password.  These requests are ours to answer and never
 *		reach the client; AuthenticationOk does.
 *
 * A step (cm_auth.h): the answer goes into the buffer the session hands
 * over, and the session sends it on.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "cm_auth.h"
#include "cm_guc.h"
#include "cm_md5.h"
#include "cm_proof.h"
#include "cm_proto.h"
#include "cm_tls.h"

#define CM_LOGIN_NONCE_BYTES 18

/* A 'p' message for the target. */
static CmStepStatus
login_send(CmOut *reply, const void *data, size_t len, CmStepFailure *fail)
{
	cm_proto_write_password_message(reply, data, len);
	if (reply->overflow)
		return cm_step_fail(fail, "28000", "SCRAM message too long", NULL);
	return CM_STEP_CONTINUE;
}

static CmStepStatus
login_fail(const CmLoginTarget *t, const char *message, const char *detail,
		   CmStepFailure *fail)
{
	cm_step_fail(fail, "28000", message, detail);
	snprintf(fail->log, sizeof(fail->log),
			 "connection_manager: could not log into \"%s\" as \"%s\": %s",
			 t->name, t->user, message);
	strlcpy(fail->log_detail, detail ? detail : "", sizeof(fail->log_detail));
	return CM_STEP_FAILED;
}

static CmStepStatus
login_no_password(const CmLoginTarget *t, CmStepFailure *fail)
{
	return login_fail(t,
					  "the target server asked for a password, but the client did not give one to the connection manager",
					  "Clients authenticated by trust or cert need a trust line for the connection manager's address in the target's pg_hba.conf.",
					  fail);
}

void
cm_login_note_plaintext(const CmLoginTarget *t, const char *what)
{
	static bool warned = false;

	if (warned || t->tls || t->loopback)
		return;
	warned = true;
	ereport(WARNING,
			(errmsg("connection_manager: %s go to node \"%s\" without SSL",
					what, t->name),
			 errdetail("Anyone on the network between the nodes can read them: a proof can be replayed to that node within %d seconds, an md5 hash logs in as its role for good.",
					   CM_PROOF_WINDOW_SECONDS),
			 errhint(
				 "Set connection_manager.server_sslmode to verify-full (or require). This is logged once per worker.")));
}

static CmStepStatus
login_sasl_begin(CmAuth *a, const CmLoginTarget *t, const uint8 *mechs,
				 uint32 len, CmOut *reply, CmStepFailure *fail)
{
	CmScramClientConfig config;
	uint8 random[CM_LOGIN_NONCE_BYTES];
	const char *out;
	size_t outlen;
	uint8 initial[4096];
	size_t hlen = sizeof("SCRAM-SHA-256");
	CmScramError err;
	bool offered = false;

	for (uint32 pos = 0; pos < len && mechs[pos] != '\0';)
	{
		const uint8 *nul = memchr(mechs + pos, '\0', len - pos);

		if (nul == NULL)
			break;
		if (strcmp((const char *) mechs + pos, "SCRAM-SHA-256") == 0)
			offered = true;
		pos = (uint32) (nul - mechs) + 1;
	}
	if (!offered)
		return login_fail(t,
						  "the target server offered no SASL mechanism the connection manager supports",
						  NULL, fail);
	if (a->credential != CM_CRED_PASSWORD && a->credential != CM_CRED_SCRAM)
		return a->credential == CM_CRED_NONE
				   ? login_no_password(t, fail)
				   : login_fail(t,
								"the target server asked for SCRAM, but the client proved an md5 password",
								NULL, fail);
	memset(&config, 0, sizeof(config));
	if (a->have_client_key && a->have_scram)
	{
		/* no second PBKDF2: sign with the key we already derived */
		config.secret = &a->secret;
		config.client_key = a->client_key;
	}
	else
		config.password = a->password;
	config.random = random;
	config.random_len = sizeof(random);
	if (a->scram_client != NULL)
	{
		cm_scram_client_free(a->scram_client);
		a->scram_client = NULL;
	}
	if (!pg_strong_random(random, sizeof(random)) ||
		cm_scram_client_begin(&config, &a->scram_client, &err) != CM_SCRAM_OK ||
		cm_scram_client_step(a->scram_client, NULL, 0, &out, &outlen, &err) !=
			CM_SCRAM_OK)
		return login_fail(t, err.message ? err.message : "SCRAM failed",
						  err.detail, fail);
	/* SASLInitialResponse: mechanism, length of the data, data */
	if (hlen + 4 + outlen > sizeof(initial))
		return login_fail(t, "SCRAM message too long", NULL, fail);
	memcpy(initial, "SCRAM-SHA-256", hlen);
	cm_proto_put_u32(initial + hlen, (uint32) outlen);
	memcpy(initial + hlen + 4, out, outlen);
	return login_send(reply, initial, hlen + 4 + outlen, fail);
}

static CmStepStatus
login_sasl_step(CmAuth *a, const CmLoginTarget *t, const uint8 *data,
				uint32 len, bool final, CmOut *reply, CmStepFailure *fail)
{
	const char *out = NULL;
	size_t outlen = 0;
	CmScramError err;

	if (a->scram_client == NULL)
		return login_fail(t, "unexpected SASL message from the target server",
						  NULL, fail);
	if (cm_scram_client_step(a->scram_client, (const char *) data, len, &out,
							 &outlen, &err) != CM_SCRAM_OK)
		return login_fail(t, err.message ? err.message : "SCRAM failed",
						  err.detail, fail);
	if (final)
		return CM_STEP_CONTINUE;
	return login_send(reply, out, outlen, fail);
}

/* md5 with the target's salt, from what the client proved. */
static CmStepStatus
login_md5(CmAuth *a, const CmLoginTarget *t, const uint8 *salt, CmOut *reply,
		  CmStepFailure *fail)
{
	char response[CM_MD5_HASH_LEN + 1];

	if (a->credential != CM_CRED_NONE)
		cm_login_note_plaintext(t, "md5 password hashes");
	if (a->credential == CM_CRED_PASSWORD)
	{
		char stored[CM_MD5_HASH_LEN + 1];

		if (!cm_md5_hash_password(a->password, t->user, stored) ||
			cm_md5_salted_response(stored, salt, response) != CM_MD5_OK)
			return login_fail(t, "md5 is not available", NULL, fail);
	}
	else if (a->credential == CM_CRED_MD5)
	{
		if (cm_md5_salted_response(a->md5_hash, salt, response) != CM_MD5_OK)
			return login_fail(t, "md5 is not available", NULL, fail);
	}
	else if (a->credential == CM_CRED_NONE)
		return login_no_password(t, fail);
	else
		return login_fail(t,
						  "the target server asked for md5, but the client proved a SCRAM password",
						  "Use scram-sha-256 for this role on the target too.",
						  fail);
	return login_send(reply, response, strlen(response) + 1, fail);
}

CmStepStatus
cm_login_answer(CmAuth *a, const CmLoginTarget *t, const uint8 *msg,
				uint32 total, CmOut *reply, CmStepFailure *fail)
{
	uint32 code;

	if (total < 9 || a == NULL)
		return login_fail(t,
						  "invalid authentication request from the target server",
						  NULL, fail);
	code = cm_proto_get_u32(msg + 5);
	switch (code)
	{
		case 3: /* cleartext password */
			if (a->credential != CM_CRED_PASSWORD)
				return login_no_password(t, fail);
			/* never in the clear to a node an attacker could stand in for */
			if (!t->loopback &&
				(!t->tls || cm_server_sslmode < CM_SSLMODE_VERIFY_CA))
				return login_fail(t,
								  "the target server asked for a cleartext password over a connection without SSL",
								  "Use scram-sha-256 for the connection manager's address, or server_sslmode = verify-ca or verify-full.",
								  fail);
			return login_send(reply, a->password, strlen(a->password) + 1, fail);
		case 5: /* md5 with a salt */
			if (total != 13)
				return login_fail(t,
								  "invalid md5 request from the target server",
								  NULL, fail);
			return login_md5(a, t, msg + 9, reply, fail);
		case 10: /* SASL */
			return login_sasl_begin(a, t, msg + 9, total - 9, reply, fail);
		case 11: /* SASL continue */
			return login_sasl_step(a, t, msg + 9, total - 9, false, reply, fail);
		case 12: /* SASL final */
			return login_sasl_step(a, t, msg + 9, total - 9, true, reply, fail);
		default:
			return login_fail(t,
							  "the target server asked for an authentication method the connection manager cannot answer",
							  NULL, fail);
	}
}
