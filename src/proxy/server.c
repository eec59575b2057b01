/*
 * proxy/server.c
 *		The server's side of a session until the relay: connecting to the
 *		target node (from the source address server_source_addresses
 *		gives), asking for SSL and the TLS handshake, the startup packet
 *		with the proof that a connection manager sends it, and the login,
 *		where the target's authentication requests are answered here, its
 *		BackendKeyData is replaced by ours, and before ReadyForQuery hands
 *		the session over the server must have confirmed the read-only lock
 *		(read-only port) or that it is a primary (read-write port).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "postmaster/postmaster.h"

#include "cm_auth.h"
#include "cm_guc.h"
#include "cm_proof.h"
#include "cm_proto.h"
#include "cm_readonly.h"
#include "cm_server.h"
#include "cm_slot.h"
#include "cm_sock.h"
#include "cm_stats.h"
#include "cm_tls.h"

/* The longest message a server may send us while logging in. */
#define CM_LOGIN_MESSAGE_MAX CM_STREAM_BUF_SIZE

static void server_begin_login(CmSession *s);

static bool
sockaddr_is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *) a)->sin_addr.s_addr) >>
				24) == 127;
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
			&((const struct sockaddr_in6 *) a)->sin6_addr);
	return false;
}

/* What the login step knows of the target. */
static void
server_login_target(CmSession *s, CmLoginTarget *t)
{
	t->name = s->login->target.name;
	t->user = s->login->user;
	t->tls = s->server.tls != NULL;
	t->loopback = sockaddr_is_loopback(&s->login->target.addr);
}

/*
 * Answers one of the target's authentication requests (login.c); false
 * when the session failed.
 */
static bool
server_login_answer(CmSession *s, const uint8 *msg, uint32 total)
{
	uint8 data[CM_LOGIN_REPLY_MAX];
	CmLoginTarget target;
	CmOut reply;
	CmStepFailure fail;

	server_login_target(s, &target);
	cm_out_init(&reply, data, sizeof(data));
	if (cm_login_answer(s->login->auth, &target, msg, total, &reply, &fail) ==
		CM_STEP_FAILED)
	{
		cm_session_step_failed(s, &fail);
		return false;
	}
	if (reply.len > 0)
		cm_session_send_server(s, data, reply.len);
	return true;
}

static void
server_unreachable(CmSession *s, int err)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "could not connect to server \"%s\": %s",
			 s->login->target.name, strerror(err));
	cm_session_fail(s, "08006", msg, NULL);
}

/*
 * Why cm_sock_connect() gave no socket.  A source address comes from
 * server_source_addresses, so that the target's pg_hba.conf can tell the
 * manager from other programs on the same host (README: "Trust is not
 * widened"): one that cannot be bound is a setting to fix, and logged.
 */
static void
server_connect_failed(CmSession *s, CmSockStep failed, int err,
					  const struct sockaddr_storage *source)
{
	char text[64];
	char msg[256];

	switch (failed)
	{
		case CM_SOCK_SOCKET:
			s->login->withhold = false; /* not the target's doing */
			cm_session_fail(s, "08006",
							"could not create a socket to the server", NULL);
			return;
		case CM_SOCK_BIND:
			if (!cm_proof_addr_text((const struct sockaddr *) source, text,
									sizeof(text)))
				strlcpy(text, "?", sizeof(text));
			snprintf(msg, sizeof(msg),
					 "could not bind source address %s to connect to server \"%s\": %s",
					 text, s->login->target.name, strerror(err));
			s->login->withhold = false; /* a setting to fix: no retry */
			ereport(LOG,
					(errmsg("connection_manager: %s", msg),
					 errhint(
						 "Check connection_manager.server_source_addresses: each address must be one of this host's.")));
			cm_session_fail(s, "08006", msg, NULL);
			return;
		case CM_SOCK_CONNECT:
			server_unreachable(s, err);
			return;
	}
}

/*
 * Starts connecting to the target the route chose, within the port's
 * limit of server connections and with a slot for cancel requests.
 */
void
cm_server_connect(CmSession *s)
{
	struct sockaddr_storage source;
	socklen_t sourcelen = 0;
	bool bind_source;
	CmSockStep failed;
	int fd;

	if (!cm_session_take_server(s))
	{
		char msg[128];
		char detail[128];
		bool ro = s->port == CM_PORT_READ_ONLY;

		snprintf(msg, sizeof(msg),
				 "sorry, too many server connections for the %s port",
				 cm_port_kind_name(s->port));
		snprintf(detail, sizeof(detail),
				 "connection_manager.%s_max_server_connections is reached.",
				 ro ? "read_only" : "read_write");
		cm_session_fail(s, "53300", msg, detail);
		return;
	}
	s->slot = cm_slot_acquire(&s->login->target);
	if (s->slot < 0)
	{
		cm_session_fail(s, "53300", "sorry, too many clients already",
						"The connection manager's session table is full.");
		return;
	}

	bind_source =
		cm_guc_source_address(&s->login->target.addr, &source, &sourcelen);
	fd = cm_sock_connect((const struct sockaddr *) &s->login->target.addr,
						 s->login->target.addrlen,
						 bind_source ? (const struct sockaddr *) &source : NULL,
						 sourcelen, &failed);
	if (fd < 0)
	{
		server_connect_failed(s, failed, errno, &source);
		return;
	}
	s->server.watch.fd = fd;
	s->state = CM_SS_CONNECTING;
	cm_conn_target(s);
	cm_session_deadline_after(s, cm_server_connect_timeout);
	cm_session_update(s);
}

/*
 * The proof for this session's target: which node it is for, and what we
 * established about the client (cm_proof.h), so that the target judges the
 * client with its own pg_hba.conf.
 */
static bool
server_proof(CmSession *s, char *token, size_t len)
{
	CmProofClaims c;
	bool verified = false;

	memset(&c, 0, sizeof(c));
	if (!cm_proof_addr_text((const struct sockaddr *) &s->login->target.addr,
							c.target_addr, sizeof(c.target_addr)) ||
		!cm_proof_addr_text((const struct sockaddr *) &s->login->client_sockaddr,
							c.client_addr, sizeof(c.client_addr)))
		return false;
	c.target_port = cm_sock_port(&s->login->target.addr);
	c.client_port = cm_sock_port(&s->login->client_sockaddr);
	c.tls = s->client.tls != NULL;
	/* what the client proved, and against which role secret */
	if (s->login->auth != NULL && s->login->auth->credential != CM_CRED_NONE &&
		s->login->auth->secret_digest[0] != '\0')
	{
		c.password = s->login->auth->credential == CM_CRED_MD5
						 ? CM_PROOF_PW_MD5
						 : CM_PROOF_PW_PROVEN;
		strlcpy(c.secret_digest, s->login->auth->secret_digest,
				sizeof(c.secret_digest));
	}
	if (c.tls &&
		cm_tls_peer_certificate(s->client.tls, c.cert_cn, sizeof(c.cert_cn),
								c.cert_dn, sizeof(c.cert_dn), &verified) &&
		verified)
		c.cert = true;
	else
		c.cert_cn[0] = c.cert_dn[0] = '\0';
	return cm_proof_make(s->login->user, s->login->database, &c, token, len);
}

/* The startup packet goes first to the server, ahead of anything else. */
static bool
server_queue_startup(CmSession *s)
{
	CmLogin *l = s->login;
	uint32 pending = cm_stream_buffered(&s->client);
	char token[CM_PROOF_TOKEN_SIZE];
	uint32 len = l->startup_len;
	size_t plen = sizeof(CM_PROOF_SETTING);
	size_t tlen;
	size_t room;
	uint8 *out;

	/*
	 * The proof that a connection manager opened this connection, with the
	 * client's real address, goes last: the packet's own terminator is
	 * replaced by the parameter and a new one.
	 */
	if (l->startup == NULL || !server_proof(s, token, sizeof(token)))
		return false;
	tlen = strlen(token) + 1;
	if (len + plen + tlen > CM_PROTO_MAX_STARTUP_LEN)
		return false;

	/*
	 * Whatever the client sent after authenticating waits until the target
	 * is ready: during its login the target reads only our answers.
	 */
	if (pending > 0)
	{
		l->held = malloc(pending);
		if (l->held == NULL)
			return false;
		memcpy(l->held, s->client.buf->data + s->client.buf->start, pending);
		l->held_len = pending;
		cm_stream_clear(&s->client);
	}
	out = cm_stream_reserve(&s->client, &room);
	if (out == NULL || room < len + plen + tlen)
		return false;
	memcpy(out, l->startup, len - 1);
	memcpy(out + len - 1, CM_PROOF_SETTING, plen);
	memcpy(out + len - 1 + plen, token, tlen);
	out[len - 1 + plen + tlen] = '\0';
	len += (uint32) (plen + tlen);
	cm_proto_put_u32(out, len);
	cm_stream_commit(&s->client, len);
	/* kept until the relay: a login that leaves its target sends it again */
	return true;
}

/* The startup packet goes out; the server's answers are inspected. */
static void
server_begin_login(CmSession *s)
{
	CmLoginTarget target;

	server_login_target(s, &target);
	cm_login_note_plaintext(&target, "connection manager proofs");
	if (!server_queue_startup(s))
	{
		cm_session_fail(s, "08P01",
						"could not pass the startup packet on to the server",
						"With the connection manager's own parameters it would exceed 10000 bytes.");
		return;
	}
	s->state = CM_SS_LOGIN;
}

static void
server_tls_step(CmSession *s)
{
	char err[256];
	char msg[400];

	switch (cm_stream_handshake(&s->server, err, sizeof(err)))
	{
		case CM_TLS_OK:
			cm_stat_add(s->port, CM_C_TLS_SERVER_OK, 1);
			server_begin_login(s);
			return;
		case CM_TLS_WANT_READ:
		case CM_TLS_WANT_WRITE:
			return;
		default:
			cm_stat_add(s->port, CM_C_TLS_SERVER_FAILED, 1);
			snprintf(msg, sizeof(msg),
					 "could not establish SSL with server \"%s\": %s",
					 s->login->target.name, err);
			cm_session_fail(s, "08006", msg, NULL);
			return;
	}
}

/* The server's one-byte answer to our SSLRequest. */
static void
server_ssl_answer(CmSession *s)
{
	uint8 answer;
	uint8 extra;
	ssize_t n = recv(s->server.watch.fd, &answer, 1, 0);
	char host[CM_TARGET_NAME_LEN];
	char *colon;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n != 1 || (answer != 'S' && answer != 'N'))
	{
		cm_session_fail(s, "08006",
						"the target server did not answer the SSL request",
						NULL);
		return;
	}
	if (answer == 'N')
	{
		if (cm_server_sslmode >= CM_SSLMODE_REQUIRE)
		{
			cm_session_fail(s, "08006", "the target server does not support SSL",
							"connection_manager.server_sslmode requires it.");
			return;
		}
		server_begin_login(s);
		return;
	}
	/* nothing may come before the handshake: the mirror of the client side */
	if (recv(s->server.watch.fd, &extra, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
	{
		cm_session_fail(s, "08P01",
						"the target server sent unencrypted data after its SSL answer",
						NULL);
		return;
	}
	strlcpy(host, s->login->target.name, sizeof(host));
	colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	if (host[0] == '[')
	{
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	s->server.tls =
		cm_tls_connect_new(s->server.watch.fd, cm_server_sslmode_name(), host);
	if (s->server.tls == NULL)
	{
		cm_session_fail(s, "08006",
						"could not start SSL with the target server", NULL);
		return;
	}
	s->state = CM_SS_SERVER_TLS;
	server_tls_step(s);
}

/*
 * The connection is made, or failed: then SSL is asked for first when
 * server_sslmode wants it, or the login begins.
 */
static void
server_connected(CmSession *s)
{
	int err = cm_sock_connect_error(s->server.watch.fd);

	if (err != 0)
	{
		server_unreachable(s, err);
		return;
	}
	cm_session_deadline_after(s, (int64) AuthenticationTimeout * 1000);
	if (cm_server_sslmode == CM_SSLMODE_VERIFY_CA && cm_tls_system_roots())
	{
		ereport(LOG,
				(errmsg("connection_manager: refusing to connect to \"%s\": server_sslmode \"verify-ca\" needs ssl_ca_file",
						s->login->target.name),
				 errdetail(
					 "Without ssl_ca_file, certificates would be checked against the system's root certificates, which accept any publicly issued certificate for any name.")));
		cm_session_fail(s, "08006",
						"connection_manager.server_sslmode \"verify-ca\" needs ssl_ca_file",
						"Set ssl_ca_file to the CA of the cluster's certificates, or use verify-full.");
		return;
	}
	if (cm_server_sslmode != CM_SSLMODE_DISABLE &&
		cm_server_sslmode != CM_SSLMODE_ALLOW &&
		s->login->target.addr.ss_family != AF_UNIX)
	{
		uint8 request[8];

		/* ahead of anything the client already sent, which waits */
		cm_proto_put_u32(request, 8);
		cm_proto_put_u32(request + 4, CM_PROTO_SSL_CODE);
		if (!cm_stream_prepend(&s->client, request, sizeof(request)))
		{
			cm_session_fail(s, "08P01", "too much data before login", NULL);
			return;
		}
		s->state = CM_SS_SERVER_SSL;
		return;
	}
	server_begin_login(s);
}

/*
 * A read-write session goes only to a server that said, while logging in,
 * that it is a primary: in_hot_standby = off (reported by PostgreSQL 14
 * and later).  The routing may point at a standby: without a node list a
 * standby sends writes to its upstream, which may itself be a standby (a
 * cascade, or an old primary that came back as one), and with the list
 * the target may have been demoted and restarted since the last probe.
 * Checking at login is enough: a primary becomes a standby only through a
 * restart, which ends its sessions, and a standby promoted later reports
 * in_hot_standby = off, which is harmless.  Nothing the server sent from
 * here on reaches the client: the message that decided (the ParameterStatus,
 * or ReadyForQuery when none came) and whatever follows it are still
 * unscanned, and cm_session_fail drops them.  in_hot_standby is NULL when
 * it was not reported.
 */
static void
server_refuse_not_primary(CmSession *s, const char *in_hot_standby)
{
	char detail[CM_TARGET_NAME_LEN + 256];

	if (in_hot_standby == NULL)
		snprintf(detail, sizeof(detail),
				 "The server \"%s\" did not report in_hot_standby before ReadyForQuery, so it is not known to be a primary (PostgreSQL 14 and later report it).",
				 s->login->target.name);
	else if (strcmp(in_hot_standby, "on") == 0)
		snprintf(detail, sizeof(detail),
				 "The server \"%s\" is in hot standby.", s->login->target.name);
	else
		snprintf(detail, sizeof(detail),
				 "The server \"%s\" reported in_hot_standby = \"%.32s\".",
				 s->login->target.name, in_hot_standby);
	ereport(LOG,
			(errmsg("connection_manager: refusing a read-write session on \"%s\": it is not a primary",
					s->login->target.name),
			 errdetail("%s", detail)));
	cm_session_fail(s, "57P03", "the target server is not a primary", detail);
}

/*
 * A ParameterStatus seen while logging in.  On the read-only port the
 * session is handed to the client only once the server has reported that
 * the lock is on; on the read-write port only once it has reported that it
 * is no standby.  False when the session was refused.
 */
static bool
server_note_parameter(CmSession *s, const uint8 *msg, uint32 total)
{
	const char *name = (const char *) msg + 5;
	const char *end = (const char *) msg + total;
	const char *value;
	const char *nul = memchr(name, '\0', end - name);

	if (nul == NULL || nul + 1 >= end)
		return true;
	value = nul + 1;
	if (memchr(value, '\0', end - value) == NULL)
		return true;
	if (s->port == CM_PORT_READ_ONLY && strcmp(name, CM_READONLY_SETTING) == 0)
		s->login->lock_confirmed = strcmp(value, "on") == 0;
	if (s->port == CM_PORT_READ_WRITE && strcmp(name, "in_hot_standby") == 0)
	{
		s->login->primary_confirmed = strcmp(value, "off") == 0;
		if (!s->login->primary_confirmed)
		{
			server_refuse_not_primary(s, value);
			return false;
		}
	}
	return true;
}

/*
 * ReadyForQuery on the read-only port, but the server never said the lock
 * is on: its connection_manager is missing, and the session must not go.
 */
static void
server_refuse_unlocked(CmSession *s)
{
	char detail[256];

	snprintf(detail, sizeof(detail),
			 "The server \"%s\" did not confirm the read-only lock: connection_manager must be in its shared_preload_libraries.",
			 s->login->target.name);
	ereport(LOG,
			(errmsg("connection_manager: refusing a read-only session on \"%s\"",
					s->login->target.name),
			 errdetail("%s", detail)));
	cm_session_fail(s, "08004",
					"the target server could not lock the session read-only",
					detail);
}

/*
 * An ErrorResponse while a read-write login withholds the server's
 * messages: one saying the target cannot take sessions now (shutting down,
 * starting up, in recovery: 57P03; terminated: 57P01) fails the attempt
 * (and the session may wait for the next target); any other goes to the
 * client as it is, with what came before it.  True when handled here.
 */
static bool
server_error_is_target(CmSession *s, const uint8 *msg, uint32 total)
{
	char code[6];
	char text[256];

	if (cm_proto_error_field(msg, total, 'C', code, sizeof(code)) &&
		(strcmp(code, "57P03") == 0 || strcmp(code, "57P01") == 0))
	{
		if (!cm_proto_error_field(msg, total, 'M', text, sizeof(text)))
			strlcpy(text, "the target server refused the login", sizeof(text));
		cm_session_fail(s, code, text, NULL);
		return true;
	}
	s->login->withhold = false;
	return false;
}

/*
 * One whole message of the server while logging in.  Its BackendKeyData
 * is kept for cancels and replaced, in place, by ours; its authentication
 * requests are ours to answer and go no further; ReadyForQuery ends the
 * login.  Whatever ends the login changes the session's state.
 */
static void
server_login_message(CmSession *s, char type, uint8 *msg, uint32 total)
{
	if (type == 'K' && total == 13 && s->slot >= 0)
	{
		int32 pid;
		int32 key;

		cm_slot_set_server_key(s->slot, (int32) cm_proto_get_u32(msg + 5),
							   (int32) cm_proto_get_u32(msg + 9), &pid, &key);
		cm_proto_build_backend_key(msg, total, pid, key);
	}
	if (type == 'R' && total >= 9 && cm_proto_get_u32(msg + 5) != 0)
	{
		if (server_login_answer(s, msg, total))
			cm_stream_cut(&s->server, total);
		return;
	}
	if (type == 'S' && !server_note_parameter(s, msg, total))
		return;
	if (type == 'E' && s->login->withhold &&
		server_error_is_target(s, msg, total))
		return;
	if (type == 'Z' && s->port == CM_PORT_READ_ONLY && !s->login->lock_confirmed)
	{
		server_refuse_unlocked(s);
		return;
	}
	if (type == 'Z' && s->port == CM_PORT_READ_WRITE &&
		!s->login->primary_confirmed)
	{
		server_refuse_not_primary(s, NULL);
		return;
	}
	cm_stream_pass(&s->server, total);
	if (type == 'Z')
		cm_session_relay(s);
}

/* Inspects the server's messages while the session logs in, whole ones. */
void
cm_server_scan_login(CmSession *s)
{
	CmLogin *l = s->login;

	while (s->state == CM_SS_LOGIN)
	{
		char type;
		uint32 total;
		uint32 avail;
		uint8 *msg = cm_stream_unscanned(&s->server, &avail);

		if (avail == 0)
			return;
		switch (cm_proto_parse_header(msg, avail, CM_LOGIN_MESSAGE_MAX, &type,
									  &total))
		{
			case CM_HEADER_NEED_MORE:
				return;
			case CM_HEADER_BAD_LENGTH:
				ereport(LOG,
						(errmsg("connection_manager: invalid message length from server \"%s\" during login",
								l->target.name)));
				cm_session_fail(s, "08P01",
								"the server sent an invalid message during login",
								NULL);
				return;
			case CM_HEADER_OK:
				break;
		}
		if (avail < total)
		{
			(void) cm_stream_make_room(&s->server, total);
			return;
		}
		server_login_message(s, type, msg, total);
	}
}

/*
 * An event on the server's socket before the login: the connection is made,
 * the SSL answer comes, the handshake goes on.  False when the session's
 * usual handling should take the events on (in *events): the login has
 * begun, or our SSLRequest is not out yet.
 */
bool
cm_server_connecting_event(CmSession *s, uint32 *events)
{
	if (s->state == CM_SS_CONNECTING)
	{
		if (*events & (CM_EV_WRITE | CM_EV_ERROR))
			server_connected(s);
		if (s->state != CM_SS_LOGIN && s->state != CM_SS_SERVER_SSL)
			return true;
		/* what was queued goes at once */
		*events &= ~CM_EV_ERROR;
	}
	if (s->state == CM_SS_SERVER_SSL)
	{
		if (cm_stream_has_output(&s->client))
		{
			if (!cm_stream_forward(&s->client, &s->server))
				cm_session_fail(s, "08006",
								"the connection to the server was lost during login",
								NULL);
			return true;
		}
		if (*events & (CM_EV_READ | CM_EV_ERROR))
			server_ssl_answer(s);
		return true;
	}
	if (s->state == CM_SS_SERVER_TLS)
	{
		if (*events & (CM_EV_READ | CM_EV_WRITE | CM_EV_ERROR))
			server_tls_step(s);
		return true;
	}
	return false;
}
