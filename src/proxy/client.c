/*
 * proxy/client.c
 *		The client's side of a session until the relay: its first packets
 *		(SSL and GSS requests, a cancel request, the startup packet), the
 *		TLS handshake, including PostgreSQL 17's direct one, the startup
 *		packet the server will get, and handing what the client sends while
 *		it proves itself to the authentication steps.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "common/string.h"
#include "postmaster/postmaster.h"

#include "cm_auth.h"
#include "cm_cancel.h"
#include "cm_client.h"
#include "cm_hash.h"
#include "cm_proto.h"
#include "cm_readonly.h"
#include "cm_stats.h"
#include "cm_tls.h"

/*
 * Parameters a client may not send: ours, and on the read-only port the
 * read-only settings (the lock would override them anyway, or fail the
 * login when they come after it).
 */
static bool
client_param_refused(CmSession *s, const char *name)
{
	if (pg_strncasecmp(name, "connection_manager.", 19) == 0)
		return true;
	return s->port == CM_PORT_READ_ONLY &&
		   (pg_strcasecmp(name, "default_transaction_read_only") == 0 ||
			pg_strcasecmp(name, "transaction_read_only") == 0);
}

/*
 * The startup packet the server gets: the client's, minus the parameters
 * it may not send, plus the read-only lock on the read-only port (last, so
 * that nothing in the packet comes after it).
 */
static bool
client_rewrite_startup(CmSession *s, const CmFirstPacket *pkt)
{
	CmStartupParam params[CM_PROTO_MAX_PARAMS + 1];
	uint8 out[CM_PROTO_MAX_STARTUP_LEN + 64];
	int n = 0;
	size_t len;

	for (int i = 0; i < pkt->nparams; i++)
	{
		if (client_param_refused(s, pkt->params[i].name))
			continue;
		params[n++] = pkt->params[i];
	}
	if (s->port == CM_PORT_READ_ONLY)
	{
		params[n].name = CM_READONLY_SETTING;
		params[n].value = "on";
		n++;
	}
	len = cm_proto_build_startup(out, sizeof(out), pkt->version, params, n);
	if (len == 0 || len > CM_PROTO_MAX_STARTUP_LEN)
		return false;
	s->login->startup = malloc(len);
	if (s->login->startup == NULL)
		return false;
	memcpy(s->login->startup, out, len);
	s->login->startup_len = (uint32) len;
	/* what the client sent after its startup packet is authentication */
	cm_stream_consume(&s->client, pkt->length);
	return true;
}

/* ------------------------------------------------------------------------
 * Authentication: the steps of auth.c, and what the session does after each
 * ------------------------------------------------------------------------
 */

static void client_hash_password(CmSession *s);

/*
 * Acts on what an authentication step did: its reply goes to the client,
 * then the exchange goes on, the password is hashed, or the client, now
 * authenticated, is routed to its target.
 */
static void
client_auth_next(CmSession *s, CmStepStatus status, const CmOut *reply,
				 const CmStepFailure *fail)
{
	if (status == CM_STEP_FAILED)
	{
		cm_session_step_failed(s, fail);
		return;
	}
	if (reply != NULL && reply->len > 0)
	{
		cm_session_send_client(s, reply->data, reply->len);
		if (s->state != CM_SS_AUTH)
			return; /* no room for it: closed */
	}
	if (status == CM_STEP_HASH)
		client_hash_password(s);
	else if (status == CM_STEP_DONE)
		cm_session_authenticated(s);
}

/* The hashing thread is done with the client's password (cm_hash.h). */
static void
client_password_hashed(void *owner, const uint8_t *salted)
{
	CmSession *s = owner;
	CmStepFailure fail;

	s->login->hash_job = NULL;
	if (s->state != CM_SS_AUTH)
		return;
	client_auth_next(s, cm_auth_password_hashed(s->login->auth, salted, &fail),
					 NULL, &fail);
	cm_session_update(s);
}

/* The password is checked off the loop, or in it when there is no thread. */
static void
client_hash_password(CmSession *s)
{
	CmAuth *a = s->login->auth;
	CmStepFailure fail;

	switch (cm_hash_submit(a->password, &a->secret, client_password_hashed, s,
						   &s->login->hash_job))
	{
		case CM_HASH_QUEUED:
			return;
		case CM_HASH_BUSY:
			cm_session_fail(s, "53300",
							"sorry, too many password checks in progress", NULL);
			return;
		case CM_HASH_UNAVAILABLE:
			client_auth_next(s, cm_auth_check_password(a, &fail), NULL, &fail);
			return;
	}
}

/* The startup packet is in: the client proves itself to us (auth.c). */
static void
client_auth_begin(CmSession *s)
{
	CmLogin *l = s->login;
	CmAuthClient client;
	uint8 data[CM_AUTH_MESSAGE_MAX];
	CmOut reply;
	CmStepFailure fail;
	CmStepStatus status;

	client.addr = &l->client_sockaddr;
	client.addr_text = l->client_addr;
	client.tls = s->client.tls;
	client.user = l->user;
	client.database = l->database;
	cm_out_init(&reply, data, sizeof(data));
	status = cm_auth_begin(&client, &l->auth, &reply, &fail);
	if (l->auth != NULL)
		l->auth_method = l->auth->method;
	client_auth_next(s, status, &reply, &fail);
}

/* Whole messages the client sent while it proves itself. */
static void
client_auth_input(CmSession *s)
{
	while (s->state == CM_SS_AUTH)
	{
		uint8 data[CM_AUTH_MESSAGE_MAX];
		CmOut reply;
		CmStepFailure fail;
		CmStepStatus status;
		size_t used;
		uint32 len;
		const uint8 *in = cm_stream_unscanned(&s->client, &len);

		if (len == 0)
			break;
		cm_out_init(&reply, data, sizeof(data));
		status =
			cm_auth_client_data(s->login->auth, in, len, &used, &reply, &fail);
		cm_stream_consume(&s->client, (uint32) used);
		client_auth_next(s, status, &reply, &fail);
		if (used == 0)
			break;
	}
}

static void
client_startup_packet(CmSession *s, const CmFirstPacket *pkt)
{
	/* like the server, a client counts once its startup packet is in */
	cm_session_startup_done(s);
	if (!cm_session_take_client(s))
	{
		cm_session_fail(s, "53300", "sorry, too many clients already", NULL);
		return;
	}
	if (pkt->replication)
	{
		cm_session_fail(s, "08P01",
						"replication connections are not supported by the connection manager",
						"Connect to the server's own port for replication.");
		return;
	}
	strlcpy(s->login->user, pkt->user, sizeof(s->login->user));
	strlcpy(s->login->database, pkt->database, sizeof(s->login->database));
	cm_conn_startup(s);
	if (!client_rewrite_startup(s, pkt))
	{
		cm_session_fail(s, "08P01", "invalid startup packet", NULL);
		return;
	}
	s->state = CM_SS_AUTH;
	cm_session_deadline_after(s, (int64) AuthenticationTimeout * 1000);
	client_auth_begin(s);
	if (s->state == CM_SS_AUTH)
		client_auth_input(s);
}

/* One step of the TLS handshake with the client. */
void
cm_client_tls_step(CmSession *s)
{
	char err[256];

	switch (cm_stream_handshake(&s->client, err, sizeof(err)))
	{
		case CM_TLS_OK:
			cm_stat_add(s->port, CM_C_TLS_CLIENT_OK, 1);
			s->state = CM_SS_STARTUP;
			return;
		case CM_TLS_WANT_READ:
		case CM_TLS_WANT_WRITE:
			return;
		default:
			cm_stat_add(s->port, CM_C_TLS_CLIENT_FAILED, 1);
			ereport(LOG,
					(errmsg("connection_manager: could not accept SSL connection from %s: %s",
							s->login->client_addr, err)));
			cm_session_close(s);
			return;
	}
}

/*
 * The TLS handshake starts on the bare socket: once 'S' has left, or with
 * the bytes of a ClientHello the client opened with (prefix).
 */
void
cm_client_tls_begin(CmSession *s, const uint8 *prefix, size_t len)
{
	s->client.tls = len > 0
						? cm_tls_accept_direct(s->client.watch.fd, prefix, len)
						: cm_tls_accept_new(s->client.watch.fd);
	/* the handshake took its own copy of the bytes read already */
	cm_stream_clear(&s->client);
	if (s->client.tls == NULL)
	{
		cm_session_close(s);
		return;
	}
	s->login->ssl_requested = true;
	s->state = CM_SS_TLS_HANDSHAKE;
	cm_client_tls_step(s);
}

static void
client_reply_byte(CmSession *s, char c)
{
	cm_session_send_client(s, (const uint8 *) &c, 1);
}

/*
 * An SSLRequest or GSSENCRequest, alone in what the client sent (whole):
 * 'S' starts TLS once it has left, 'N' lets the client go on in the clear;
 * each may come once.
 */
static void
client_encryption_request(CmSession *s, CmPacketKind kind, bool whole)
{
	CmLogin *l = s->login;

	if (!whole || (kind == CM_PACKET_SSL_REQUEST && l->ssl_requested) ||
		(kind == CM_PACKET_GSSENC_REQUEST && l->gss_requested))
	{
		cm_session_fail(s, "08P01",
						"received unencrypted data after an encryption request",
						NULL);
		return;
	}
	cm_stream_clear(&s->client);
	if (kind == CM_PACKET_GSSENC_REQUEST)
	{
		l->gss_requested = true;
		client_reply_byte(s, 'N');
		return;
	}
	l->ssl_requested = true;
	if (!cm_tls_enabled())
	{
		client_reply_byte(s, 'N');
		return;
	}
	/* the handshake starts once 'S' has left, on the bare socket */
	client_reply_byte(s, 'S');
	if (s->state == CM_SS_STARTUP)
		s->state = CM_SS_TLS_START;
}

/* Handles the client's first packets: encryption requests, then startup. */
static void
client_first_packets(CmSession *s)
{
	CmLogin *l = s->login;
	CmFirstPacket pkt;
	CmPacketKind kind;
	uint32 len;
	const uint8 *data = cm_stream_unscanned(&s->client, &len);

	if (data == NULL)
		return;
	/* PostgreSQL 17 clients may open with a TLS ClientHello directly */
	if (!l->ssl_requested && !l->gss_requested && cm_tls_enabled() &&
		cm_tls_is_direct_start(data, len))
	{
		cm_client_tls_begin(s, data, len);
		return;
	}
	kind = cm_proto_parse_first_packet(data, len, &pkt);
	switch (kind)
	{
		case CM_PACKET_NEED_MORE:
			return;
		case CM_PACKET_ERROR:
			ereport(LOG, (errmsg("connection_manager: %s from client %s",
								 pkt.error, l->client_addr)));
			cm_session_fail(s, pkt.sqlstate, pkt.error, NULL);
			return;
		case CM_PACKET_SSL_REQUEST:
		case CM_PACKET_GSSENC_REQUEST:
			/* bytes pipelined behind the request are never accepted */
			client_encryption_request(s, kind, len == pkt.length);
			return;
		case CM_PACKET_CANCEL:
		{
			struct sockaddr_storage from = l->client_sockaddr;
			CmPortKind port = s->port;

			/* closed first: the client can time nothing that follows */
			cm_session_close(s);
			cm_cancel_request(port, pkt.cancel_pid, pkt.cancel_key, &from);
			return;
		}
		case CM_PACKET_STARTUP:
			client_startup_packet(s, &pkt);
			return;
	}
}

/* What the client sent before the relay: first packets, then passwords. */
void
cm_client_input(CmSession *s)
{
	if (s->state == CM_SS_STARTUP)
		client_first_packets(s);
	else if (s->state == CM_SS_AUTH)
		client_auth_input(s);
}
