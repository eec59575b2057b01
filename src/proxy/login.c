/*
 * proxy/login.c
 *		Logs into the target node as the client's role, answering the
 *		target's authentication requests with what the client proved: the
 *		SCRAM ClientKey (a fresh proof signed with it), the md5 hash, or the
 *		cleartext password.  These requests are ours to answer and never
 *		reach the client; AuthenticationOk does.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include "cm_auth.h"
#include "cm_guc.h"
#include "cm_tls.h"
#include "cm_md5.h"
#include "cm_proof.h"
#include "cm_proto.h"

#define CM_LOGIN_NONCE_BYTES 18

/* Queues a 'p' message to the target. */
static bool
login_send(CmSession *s, const void *a, size_t alen, const void *b, size_t blen)
{
	uint8 msg[4096 + 64];

	if (alen + blen + 5 > sizeof(msg))
		return false;
	msg[0] = 'p';
	cm_proto_put_u32(msg + 1, (uint32) (alen + blen + 4));
	memcpy(msg + 5, a, alen);
	if (blen > 0)
		memcpy(msg + 5 + alen, b, blen);
	cm_session_send_server(s, msg, alen + blen + 5);
	return true;
}

static bool
login_fail(CmSession *s, const char *message, const char *detail)
{
	ereport(LOG,
			(errmsg("connection_manager: could not log into \"%s\" as \"%s\": %s",
					s->login->target.name, s->login->user, message),
			 detail ? errdetail("%s", detail) : 0));
	cm_session_fail(s, "28000", message, detail);
	return false;
}

static bool
login_no_password(CmSession *s)
{
	return login_fail(s,
					  "the target server asked for a password, but the client did not give one to the connection manager",
					  "Clients authenticated by trust or cert need a trust line for the connection manager's address in the target's pg_hba.conf.");
}

static bool
login_target_is_loopback(CmSession *s)
{
	const struct sockaddr_storage *a = &s->login->target.addr;

	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *) a)->sin_addr.s_addr) >>
				24) == 127;
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
			&((const struct sockaddr_in6 *) a)->sin6_addr);
	return false;
}

void
cm_login_note_plaintext(CmSession *s, const char *what)
{
	static bool warned = false;

	if (warned || s->server.tls != NULL || login_target_is_loopback(s))
		return;
	warned = true;
	ereport(WARNING,
			(errmsg("connection_manager: %s go to node \"%s\" without SSL",
					what, s->login->target.name),
			 errdetail("Anyone on the network between the nodes can read them: a proof can be replayed to that node within %d seconds, an md5 hash logs in as its role for good.",
					   CM_PROOF_WINDOW_SECONDS),
			 errhint(
				 "Set connection_manager.server_sslmode to verify-full (or require). This is logged once per worker.")));
}

static bool
login_sasl_begin(CmSession *s, const uint8 *mechs, uint32 len)
{
	CmAuth *a = s->login->auth;
	CmScramClientConfig config;
	uint8 random[CM_LOGIN_NONCE_BYTES];
	const char *out;
	size_t outlen;
	uint8 lenword[4];
	char head[32];
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
		return login_fail(s,
						  "the target server offered no SASL mechanism the connection manager supports",
						  NULL);
	if (a->credential != CM_CRED_PASSWORD && a->credential != CM_CRED_SCRAM)
		return a->credential == CM_CRED_NONE
				   ? login_no_password(s)
				   : login_fail(s,
								"the target server asked for SCRAM, but the client proved an md5 password",
								NULL);
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
		return login_fail(s, err.message ? err.message : "SCRAM failed",
						  err.detail);
	strlcpy(head, "SCRAM-SHA-256", sizeof(head));
	cm_proto_put_u32(lenword, (uint32) outlen);
	{
		uint8 initial[4096];
		size_t hlen = strlen(head) + 1;

		if (hlen + 4 + outlen > sizeof(initial))
			return login_fail(s, "SCRAM message too long", NULL);
		memcpy(initial, head, hlen);
		memcpy(initial + hlen, lenword, 4);
		memcpy(initial + hlen + 4, out, outlen);
		return login_send(s, initial, hlen + 4 + outlen, NULL, 0);
	}
}

static bool
login_sasl_step(CmSession *s, const uint8 *data, uint32 len, bool final)
{
	CmAuth *a = s->login->auth;
	const char *out = NULL;
	size_t outlen = 0;
	CmScramError err;

	if (a->scram_client == NULL)
		return login_fail(s, "unexpected SASL message from the target server",
						  NULL);
	if (cm_scram_client_step(a->scram_client, (const char *) data, len, &out,
							 &outlen, &err) != CM_SCRAM_OK)
		return login_fail(s, err.message ? err.message : "SCRAM failed",
						  err.detail);
	if (final)
		return true;
	return login_send(s, out, outlen, NULL, 0);
}

/*
 * Answers one AuthenticationRequest of the target (msg is the whole 'R'
 * message, total its length).  True when the session goes on.
 */
bool
cm_login_answer(CmSession *s, const uint8 *msg, uint32 total)
{
	CmAuth *a = s->login->auth;
	uint32 code;
	char response[CM_MD5_HASH_LEN + 1];

	if (total < 9 || a == NULL)
		return login_fail(s,
						  "invalid authentication request from the target server",
						  NULL);
	code = cm_proto_get_u32(msg + 5);
	switch (code)
	{
		case 3: /* cleartext password */
			if (a->credential != CM_CRED_PASSWORD)
				return login_no_password(
					s); /* never in the clear to a node an attacker could stand in for */
			if (!login_target_is_loopback(s) &&
				(s->server.tls == NULL ||
				 cm_server_sslmode < CM_SSLMODE_VERIFY_CA))
				return login_fail(s,
								  "the target server asked for a cleartext password over a connection without SSL",
								  "Use scram-sha-256 for the connection manager's address, or server_sslmode = verify-ca or verify-full.");
			return login_send(s, a->password, strlen(a->password) + 1, NULL, 0);
		case 5: /* md5 with a salt */
			if (total != 13)
				return login_fail(s,
								  "invalid md5 request from the target server",
								  NULL);
			if (a->credential != CM_CRED_NONE)
				cm_login_note_plaintext(s, "md5 password hashes");
			if (a->credential == CM_CRED_PASSWORD)
			{
				char stored[CM_MD5_HASH_LEN + 1];

				if (!cm_md5_hash_password(a->password, s->login->user, stored) ||
					cm_md5_salted_response(stored, msg + 9, response) !=
						CM_MD5_OK)
					return login_fail(s, "md5 is not available", NULL);
			}
			else if (a->credential == CM_CRED_MD5)
			{
				if (cm_md5_salted_response(a->md5_hash, msg + 9, response) !=
					CM_MD5_OK)
					return login_fail(s, "md5 is not available", NULL);
			}
			else if (a->credential == CM_CRED_NONE)
				return login_no_password(s);
			else
				return login_fail(s,
								  "the target server asked for md5, but the client proved a SCRAM password",
								  "Use scram-sha-256 for this role on the target too.");
			return login_send(s, response, strlen(response) + 1, NULL, 0);
		case 10: /* SASL */
			return login_sasl_begin(s, msg + 9, total - 9);
		case 11: /* SASL continue */
			return login_sasl_step(s, msg + 9, total - 9, false);
		case 12: /* SASL final */
			return login_sasl_step(s, msg + 9, total - 9, true);
		default:
			return login_fail(s,
							  "the target server asked for an authentication method the connection manager cannot answer",
							  NULL);
	}
}
