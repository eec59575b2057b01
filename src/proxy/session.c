/*
 * proxy/session.c
 *		A client session in a proxy worker: one state machine from accept to
 *		close.  The client's first packets are parsed here, the target is
 *		chosen from the routing state, the server connection is opened, the
 *		login is relayed (with BackendKeyData replaced by our own key), and
 *		then bytes are relayed both ways with bounded buffers.
 *
 * Both sockets of a session are closed together, always through
 * session_close(); the memory is freed at the end of the loop turn.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "common/pg_prng.h"
#include "common/string.h"
#include "port.h"
#include "postmaster/postmaster.h"

#include "cm_auth.h"
#include "cm_guc.h"
#include "cm_hash.h"
#include "cm_proto.h"
#include "cm_proxy.h"
#include "cm_proof.h"
#include "cm_readonly.h"
#include "cm_tls.h"
#include "cm_shmem.h"
#include "cm_sock.h"
#include "cm_stats.h"
#include "cm_stream.h"

/* The longest message a server may send us while logging in. */
#define CM_LOGIN_MESSAGE_MAX CM_STREAM_BUF_SIZE
/* How long what is left may take to drain once a session closes. */
#define CM_CLOSING_GRACE_MS 2000

static dlist_head sessions = DLIST_STATIC_INIT(sessions);
static dlist_head closed_sessions = DLIST_STATIC_INIT(closed_sessions);
/* sessions whose startup packet is not in yet, oldest first */
static dlist_head pre_startup = DLIST_STATIC_INIT(pre_startup);
static int pre_startup_count = 0;
static int next_free_slot_hint = 0;

static void session_update_interest(CmSession *s);
static void session_client_ready(void *arg, uint32 events);
static void session_server_ready(void *arg, uint32 events);
static void session_timed_out(void *arg);
static void session_tls_begin(CmSession *s, const uint8 *prefix, size_t len);
static void session_route(CmSession *s);
static void session_begin_login(CmSession *s);
static void
session_queue(CmSession *s, CmStream *st, const void *msg, size_t len);

static void session_connect(CmSession *s);

static pg_atomic_uint32 *
clients_counter(CmSession *s)
{
	return &cm_shared->clients[cm_proxy_worker_index][s->port];
}

static pg_atomic_uint32 *
servers_counter(CmSession *s)
{
	return &cm_shared->servers[cm_proxy_worker_index][s->port];
}

/* Takes a free slot of this worker's partition and a fresh cancel key. */
static bool
slot_acquire(CmSession *s)
{
	int per = cm_shared->slots_per_worker;
	int base = cm_proxy_worker_index * per;

	for (int i = 0; i < per; i++)
	{
		int idx = base + (next_free_slot_hint + i) % per;
		CmSessionSlot *slot = cm_slot_get(idx);
		int32 key;

		if (slot->in_use)
			continue;
		if (!pg_strong_random(&key, sizeof(key)))
			return false;
		SpinLockAcquire(&slot->mutex);
		slot->in_use = true;
		slot->server_key_known = false;
		slot->client_key = key;
		memcpy(&slot->server_addr, &s->login->target.addr,
			   s->login->target.addrlen);
		slot->server_addrlen = s->login->target.addrlen;
		SpinLockRelease(&slot->mutex);
		s->slot = idx;
		next_free_slot_hint = (idx - base + 1) % per;
		return true;
	}
	return false;
}

static void
slot_release(CmSession *s)
{
	CmSessionSlot *slot;

	if (s->slot < 0)
		return;
	slot = cm_slot_get(s->slot);
	SpinLockAcquire(&slot->mutex);
	slot->in_use = false;
	slot->server_key_known = false;
	slot->client_key = 0;
	SpinLockRelease(&slot->mutex);
	s->slot = -1;
}

/*
 * The session's timer is armed from accept to close, parked at "never"
 * while no deadline applies: moving an armed timer needs no memory, so
 * setting a deadline cannot fail.
 */
static void
session_deadline_after(CmSession *s, int64 ms)
{
	(void) cm_timer_set(&s->timer, cm_now_ms() + ms);
}

static void
session_no_deadline(CmSession *s)
{
	(void) cm_timer_set(&s->timer, CM_TIMER_NEVER);
}

static void
session_startup_done(CmSession *s)
{
	if (s->login == NULL || !s->login->pre_startup)
		return;
	dlist_delete(&s->login->pre_startup_node);
	pre_startup_count--;
	s->login->pre_startup = false;
}

/*
 * What only logging in needs goes once the session relays (or closes):
 * an idle relaying session keeps its two streams and little else.
 */
static void
session_login_end(CmSession *s)
{
	CmLogin *l = s->login;

	if (l == NULL)
		return;
	session_startup_done(s);
	cm_hash_forget(s);
	cm_auth_free(s);
	free(l->startup);
	if (l->held != NULL)
		explicit_bzero(l->held, l->held_len);
	free(l->held);
	explicit_bzero(l, sizeof(*l));
	free(l);
	s->login = NULL;
}

static void
session_close(CmSession *s)
{
	if (s->state == CM_SS_CLOSED)
		return;
	cm_conn_close(s);
	cm_stream_close(&s->client);
	cm_stream_close(&s->server);
	cm_timer_cancel(&s->timer);
	if (s->counts_server)
		pg_atomic_fetch_sub_u32(servers_counter(s), 1);
	s->counts_server = false;
	if (s->counts_client)
		pg_atomic_fetch_sub_u32(clients_counter(s), 1);
	s->counts_client = false;
	slot_release(s);
	session_login_end(s);
	s->state = CM_SS_CLOSED;
	dlist_delete(&s->node);
	dlist_push_tail(&closed_sessions, &s->node);
}

/*
 * Queues a FATAL error for the client, behind what the server side's
 * buffer holds for it; false when it does not fit.
 */
static bool
session_queue_error(CmSession *s, const char *sqlstate, const char *message,
					const char *detail)
{
	size_t room;
	uint8 *at = cm_stream_reserve(&s->server, &room);
	size_t n = at ? cm_proto_build_error(at, room, "FATAL", sqlstate, message,
										 detail, NULL)
				  : 0;

	cm_stream_commit(&s->server, n);
	return n > 0;
}

/*
 * Ends a session that has not reached the relay with a FATAL error the
 * client can read, then closes it once that is sent.  A partial message
 * from the server that was still being inspected is dropped: the client
 * must see whole messages only.
 */
static void
session_fail(CmSession *s, const char *sqlstate, const char *message,
			 const char *detail)
{
	cm_conn_failed(s, sqlstate, message);
	cm_hash_forget(s);
	cm_stream_close(&s->server);
	if (s->state == CM_SS_RELAY || s->client.watch.fd < 0)
	{
		session_close(s);
		return;
	}
	/* the error goes behind what the client may see of the server's */
	cm_stream_drop_unscanned(&s->server);
	if (!session_queue_error(s, sqlstate, message, detail))
	{
		session_close(s);
		return;
	}
	cm_stream_clear(&s->client);
	s->state = CM_SS_CLOSING;
	session_deadline_after(s, CM_CLOSING_GRACE_MS);
	session_update_interest(s);
}

/* One side went away: pass on what is already read, then close. */
static void
session_drain_and_close(CmSession *s)
{
	(void) cm_stream_pass_all(&s->client);
	(void) cm_stream_pass_all(&s->server);
	if ((s->server.watch.fd >= 0 && cm_stream_has_output(&s->client)) ||
		(s->client.watch.fd >= 0 && cm_stream_has_output(&s->server)))
	{
		s->state = CM_SS_CLOSING;
		session_deadline_after(s, CM_CLOSING_GRACE_MS);
		session_update_interest(s);
		return;
	}
	session_close(s);
}

static void
session_update_interest(CmSession *s)
{
	uint32 client = 0;
	uint32 server = 0;
	bool reading;

	if (s->state == CM_SS_CLOSED)
		return;
	reading = s->state == CM_SS_STARTUP || s->state == CM_SS_AUTH ||
			  s->state == CM_SS_RELAY;
	if (reading && cm_stream_has_room(&s->client))
		client |= CM_EV_READ;
	if (cm_stream_has_output(&s->server))
		client |= CM_EV_WRITE;
	if ((s->state == CM_SS_LOGIN || s->state == CM_SS_RELAY) &&
		cm_stream_has_room(&s->server))
		server |= CM_EV_READ;
	if (s->state == CM_SS_CONNECTING || cm_stream_has_output(&s->client))
		server |= CM_EV_WRITE;
	if (s->state == CM_SS_SERVER_SSL && !cm_stream_has_output(&s->client))
		server |= CM_EV_READ;
	/* a handshake waits for what it said it waits for, nothing else */
	if (s->state == CM_SS_TLS_HANDSHAKE)
		client = 0;
	if (s->state == CM_SS_SERVER_TLS)
		server = 0;

	if (s->state == CM_SS_CLOSING && !cm_stream_has_output(&s->server) &&
		!cm_stream_has_output(&s->client))
	{
		session_close(s);
		return;
	}
	if (!cm_stream_watch(&s->client, client) ||
		!cm_stream_watch(&s->server, server))
		session_close(s);
}

void
cm_session_accept(int fd, CmPortKind port, const struct sockaddr_storage *addr)
{
	CmSession *s;
	CmLogin *l;

	s = calloc(1, sizeof(CmSession));
	l = s ? calloc(1, sizeof(CmLogin)) : NULL;
	if (l == NULL)
	{
		free(s);
		close(fd);
		return;
	}
	s->port = port;
	s->slot = -1;
	s->login = l;
	cm_stream_init(&s->client, fd, session_client_ready, s);
	cm_stream_init(&s->server, -1, session_server_ready, s);
	cm_timer_init(&s->timer, session_timed_out, s);
	/* armed for good: moving it later never needs memory */
	if (!cm_timer_set(&s->timer,
					  cm_now_ms() + (int64) AuthenticationTimeout * 1000))
	{
		close(fd);
		free(l);
		free(s);
		return;
	}
	s->state = CM_SS_STARTUP;
	memcpy(&l->client_sockaddr, addr, sizeof(*addr));
	if (getnameinfo((const struct sockaddr *) addr, sizeof(*addr), l->client_addr,
					sizeof(l->client_addr), NULL, 0, NI_NUMERICHOST) != 0)
		strlcpy(l->client_addr, "?", sizeof(l->client_addr));

	cm_conn_open(s);
	l->session = s;
	l->pre_startup = true;
	dlist_push_tail(&pre_startup, &l->pre_startup_node);
	pre_startup_count++;
	dlist_push_tail(&sessions, &s->node);
	session_update_interest(s);
}

int
cm_session_pre_startup_count(void)
{
	return pre_startup_count;
}

/*
 * Closes the oldest session whose startup packet is not in, telling it why
 * when its socket is still plain; false when there is none.
 */
bool
cm_session_evict_pre_startup(void)
{
	CmSession *s;

	if (dlist_is_empty(&pre_startup))
		return false;
	s = dlist_head_element(CmLogin, pre_startup_node, &pre_startup)->session;
	if (s->state == CM_SS_STARTUP && s->client.tls == NULL &&
		session_queue_error(s, "53300", "sorry, too many clients already",
							"The connection manager closed the oldest of too many connections that had not sent a startup packet."))
		(void) cm_stream_forward(&s->server, &s->client);
	session_close(s);
	return true;
}

/*
 * Parameters a client may not send: ours, and on the read-only port the
 * read-only settings (the lock would override them anyway, or fail the
 * login when they come after it).
 */
static bool
session_param_refused(CmSession *s, const char *name)
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
session_rewrite_startup(CmSession *s, const CmFirstPacket *pkt)
{
	CmStartupParam params[CM_PROTO_MAX_PARAMS + 1];
	uint8 out[CM_PROTO_MAX_STARTUP_LEN + 64];
	int n = 0;
	size_t len;

	for (int i = 0; i < pkt->nparams; i++)
	{
		if (session_param_refused(s, pkt->params[i].name))
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

/* ReadyForQuery came: what the client sent meanwhile goes on now. */
static void
session_release_held(CmSession *s)
{
	CmLogin *l = s->login;

	if (l->held == NULL)
		return;
	session_queue(s, &s->client, l->held, l->held_len);
	explicit_bzero(l->held, l->held_len);
	free(l->held);
	l->held = NULL;
	l->held_len = 0;
}

static int
sockaddr_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *) a)->sin_port);
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *) a)->sin6_port);
	return 0;
}

/*
 * The proof for this session's target: which node it is for, and what we
 * established about the client (cm_proof.h), so that the target judges the
 * client with its own pg_hba.conf.
 */
static bool
session_proof(CmSession *s, char *token, size_t len)
{
	CmProofClaims c;
	bool verified = false;

	memset(&c, 0, sizeof(c));
	if (!cm_proof_addr_text((const struct sockaddr *) &s->login->target.addr,
							c.target_addr, sizeof(c.target_addr)) ||
		!cm_proof_addr_text((const struct sockaddr *) &s->login->client_sockaddr,
							c.client_addr, sizeof(c.client_addr)))
		return false;
	c.target_port = sockaddr_port(&s->login->target.addr);
	c.client_port = sockaddr_port(&s->login->client_sockaddr);
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
session_queue_startup(CmSession *s)
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
	if (l->startup == NULL || !session_proof(s, token, sizeof(token)))
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
	free(l->startup);
	l->startup = NULL;
	return true;
}

void
cm_session_fail(CmSession *s, const char *sqlstate, const char *message,
				const char *detail)
{
	session_fail(s, sqlstate, message, detail);
}

/*
 * Queues a whole message of ours in a stream's buffer, to go to the other
 * side; a session with no room for it ends.
 */
static void
session_queue(CmSession *s, CmStream *st, const void *msg, size_t len)
{
	if (!cm_stream_append(st, msg, len))
		session_close(s);
}

/* To the client: behind what the server side's buffer holds for it. */
void
cm_session_send_client(CmSession *s, const uint8 *msg, size_t len)
{
	session_queue(s, &s->server, msg, len);
}

/* To the server: behind what the client side's buffer holds for it. */
void
cm_session_send_server(CmSession *s, const uint8 *msg, size_t len)
{
	session_queue(s, &s->client, msg, len);
}

/* Re-computes what epoll watches after a change made outside an event. */
void
cm_session_update(CmSession *s)
{
	if (s->state != CM_SS_CLOSED)
		session_update_interest(s);
}

/* The client proved itself: find its target. */
void
cm_session_authenticated(CmSession *s)
{
	cm_conn_authenticated(s);
	session_route(s);
}

/* Why read-write sessions have no target now. */
static const char *
no_leader_reason(const CmRouting *r)
{
	if (r->read_write.valid && r->valid_until != 0)
		return "the monitor has not confirmed the write leader recently: it is late or restarting";
	return r->no_leader_reason;
}

/*
 * Sessions this worker sent to each standby of the pool since the routing
 * state last changed: added to the load each standby had at the last probe,
 * so that a burst of sessions spreads before the next probe sees it.
 */
static uint32 pool_sent[CM_MAX_NODES];

/* The least loaded standby of the pool; equally loaded ones at random. */
static int
pick_read_only(const CmRouting *r)
{
	uint32 load[CM_MAX_NODES];
	int i;

	for (i = 0; i < r->ro_pool_size; i++)
		load[i] = r->ro_load[i] > PG_UINT32_MAX - pool_sent[i]
					  ? PG_UINT32_MAX
					  : r->ro_load[i] + pool_sent[i];
	i = cm_pool_pick(load, r->ro_pool_size,
					 pg_prng_uint32(&pg_global_prng_state));
	pool_sent[i]++;
	return i;
}

static void
session_route(CmSession *s)
{
	const CmRouting *r = cm_proxy_routing();

	if (s->port == CM_PORT_READ_ONLY)
	{
		if (r->ro_pool_size > 0)
		{
			s->login->target = r->ro_pool[pick_read_only(r)];
			session_connect(s);
			return;
		}
		if (!r->read_only.valid)
		{
			session_fail(s, "57P03", "no read-only target is available",
						 r->read_only_reason);
			return;
		}
		s->login->target = r->read_only;
		session_connect(s);
		return;
	}
	if (r->read_write.valid &&
		(r->valid_until == 0 || cm_now_ms() < r->valid_until))
	{
		s->login->target = r->read_write;
		session_connect(s);
		return;
	}
	if (s->state != CM_SS_WAIT_TARGET)
	{
		if (cm_leader_wait_timeout <= 0)
		{
			session_fail(s, "57P03", "no write leader is available",
						 no_leader_reason(r));
			return;
		}
		s->state = CM_SS_WAIT_TARGET;
		session_deadline_after(s, cm_leader_wait_timeout);
		session_update_interest(s);
	}
}

static void
session_startup_packet(CmSession *s, const CmFirstPacket *pkt)
{
	/* like the server, a client counts once its startup packet is in */
	session_startup_done(s);
	if (cm_shmem_total_clients(s->port) >= (uint32) cm_guc_max_clients(s->port))
	{
		session_fail(s, "53300", "sorry, too many clients already", NULL);
		return;
	}
	pg_atomic_fetch_add_u32(clients_counter(s), 1);
	s->counts_client = true;
	if (pkt->replication)
	{
		session_fail(s, "08P01",
					 "replication connections are not supported by the connection manager",
					 "Connect to the server's own port for replication.");
		return;
	}
	strlcpy(s->login->user, pkt->user, sizeof(s->login->user));
	strlcpy(s->login->database, pkt->database, sizeof(s->login->database));
	cm_conn_startup(s);
	if (!session_rewrite_startup(s, pkt))
	{
		session_fail(s, "08P01", "invalid startup packet", NULL);
		return;
	}
	s->state = CM_SS_AUTH;
	session_deadline_after(s, (int64) AuthenticationTimeout * 1000);
	cm_auth_begin(s);
	if (s->state == CM_SS_AUTH)
		cm_auth_client_data(s);
}

static void
session_reply_byte(CmSession *s, char c)
{
	session_queue(s, &s->server, &c, 1);
}

/* Handles the client's first packets: encryption requests, then startup. */
static void
session_read_first_packet(CmSession *s)
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
		session_tls_begin(s, data, len);
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
			session_fail(s, pkt.sqlstate, pkt.error, NULL);
			return;
		case CM_PACKET_SSL_REQUEST:
		case CM_PACKET_GSSENC_REQUEST:
			/* bytes pipelined behind the request are never accepted */
			if (len != pkt.length ||
				(kind == CM_PACKET_SSL_REQUEST && l->ssl_requested) ||
				(kind == CM_PACKET_GSSENC_REQUEST && l->gss_requested))
			{
				session_fail(s, "08P01",
							 "received unencrypted data after an encryption request",
							 NULL);
				return;
			}
			cm_stream_clear(&s->client);
			if (kind == CM_PACKET_GSSENC_REQUEST)
			{
				l->gss_requested = true;
				session_reply_byte(s, 'N');
				return;
			}
			l->ssl_requested = true;
			if (!cm_tls_enabled())
			{
				session_reply_byte(s, 'N');
				return;
			}
			/* the handshake starts once 'S' has left, on the bare socket */
			session_reply_byte(s, 'S');
			if (s->state == CM_SS_STARTUP)
				s->state = CM_SS_TLS_START;
			return;
		case CM_PACKET_CANCEL:
			cm_stat_add(s->port,
						cm_cancel_forward(pkt.cancel_pid, pkt.cancel_key)
							? CM_C_CANCELS_FORWARDED
							: CM_C_CANCELS_UNMATCHED,
						1);
			session_close(s);
			return;
		case CM_PACKET_STARTUP:
			session_startup_packet(s, &pkt);
			return;
	}
}

/*
 * Why cm_sock_connect() gave no socket.  A source address comes from
 * server_source_addresses, so that the target's pg_hba.conf can tell the
 * manager from other programs on the same host (README: "Trust is not
 * widened"): one that cannot be bound is a setting to fix, and logged.
 */
static void
session_connect_failed(CmSession *s, CmSockStep failed, int err,
					   const struct sockaddr_storage *source)
{
	char text[64];
	char msg[256];

	switch (failed)
	{
		case CM_SOCK_SOCKET:
			session_fail(s, "08006", "could not create a socket to the server",
						 NULL);
			return;
		case CM_SOCK_BIND:
			if (!cm_proof_addr_text((const struct sockaddr *) source, text,
									sizeof(text)))
				strlcpy(text, "?", sizeof(text));
			snprintf(msg, sizeof(msg),
					 "could not bind source address %s to connect to server \"%s\": %s",
					 text, s->login->target.name, strerror(err));
			ereport(LOG,
					(errmsg("connection_manager: %s", msg),
					 errhint(
						 "Check connection_manager.server_source_addresses: each address must be one of this host's.")));
			session_fail(s, "08006", msg, NULL);
			return;
		case CM_SOCK_CONNECT:
			snprintf(msg, sizeof(msg), "could not connect to server \"%s\": %s",
					 s->login->target.name, strerror(err));
			session_fail(s, "08006", msg, NULL);
			return;
	}
}

static void
session_connect(CmSession *s)
{
	struct sockaddr_storage source;
	socklen_t sourcelen = 0;
	bool bind_source;
	CmSockStep failed;
	int fd;

	if (cm_shmem_total_servers(s->port) >= (uint32) cm_guc_max_servers(s->port))
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
		session_fail(s, "53300", msg, detail);
		return;
	}
	pg_atomic_fetch_add_u32(servers_counter(s), 1);
	s->counts_server = true;
	if (!slot_acquire(s))
	{
		session_fail(s, "53300", "sorry, too many clients already",
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
		session_connect_failed(s, failed, errno, &source);
		return;
	}
	s->server.watch.fd = fd;
	s->state = CM_SS_CONNECTING;
	cm_conn_target(s);
	session_deadline_after(s, cm_server_connect_timeout);
	session_update_interest(s);
}

static void
session_connected(CmSession *s)
{
	int err = cm_sock_connect_error(s->server.watch.fd);

	if (err != 0)
	{
		char msg[256];

		snprintf(msg, sizeof(msg), "could not connect to server \"%s\": %s",
				 s->login->target.name, strerror(err));
		session_fail(s, "08006", msg, NULL);
		return;
	}
	session_deadline_after(s, (int64) AuthenticationTimeout * 1000);
	if (cm_server_sslmode == CM_SSLMODE_VERIFY_CA && cm_tls_system_roots())
	{
		ereport(LOG,
				(errmsg("connection_manager: refusing to connect to \"%s\": server_sslmode \"verify-ca\" needs ssl_ca_file",
						s->login->target.name),
				 errdetail(
					 "Without ssl_ca_file, certificates would be checked against the system's root certificates, which accept any publicly issued certificate for any name.")));
		session_fail(s, "08006",
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
			session_fail(s, "08P01", "too much data before login", NULL);
			return;
		}
		s->state = CM_SS_SERVER_SSL;
		return;
	}
	session_begin_login(s);
}

/* The startup packet goes out; the server's answers are inspected. */
static void
session_begin_login(CmSession *s)
{
	cm_login_note_plaintext(s, "connection manager proofs");
	if (!session_queue_startup(s))
	{
		session_fail(s, "08P01",
					 "could not pass the startup packet on to the server",
					 "With the connection manager's own parameters it would exceed 10000 bytes.");
		return;
	}
	s->state = CM_SS_LOGIN;
}

static void
session_server_tls_step(CmSession *s)
{
	char err[256];
	char msg[400];

	switch (cm_stream_handshake(&s->server, err, sizeof(err)))
	{
		case CM_TLS_OK:
			cm_stat_add(s->port, CM_C_TLS_SERVER_OK, 1);
			session_begin_login(s);
			return;
		case CM_TLS_WANT_READ:
		case CM_TLS_WANT_WRITE:
			return;
		default:
			cm_stat_add(s->port, CM_C_TLS_SERVER_FAILED, 1);
			snprintf(msg, sizeof(msg),
					 "could not establish SSL with server \"%s\": %s",
					 s->login->target.name, err);
			session_fail(s, "08006", msg, NULL);
			return;
	}
}

/* The server's one-byte answer to our SSLRequest. */
static void
session_server_ssl_answer(CmSession *s)
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
		session_fail(s, "08006",
					 "the target server did not answer the SSL request", NULL);
		return;
	}
	if (answer == 'N')
	{
		if (cm_server_sslmode >= CM_SSLMODE_REQUIRE)
		{
			session_fail(s, "08006", "the target server does not support SSL",
						 "connection_manager.server_sslmode requires it.");
			return;
		}
		session_begin_login(s);
		return;
	}
	/* nothing may come before the handshake: the mirror of the client side */
	if (recv(s->server.watch.fd, &extra, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
	{
		session_fail(s, "08P01",
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
		session_fail(s, "08006", "could not start SSL with the target server",
					 NULL);
		return;
	}
	s->state = CM_SS_SERVER_TLS;
	session_server_tls_step(s);
}

/*
 * A ParameterStatus seen while logging in on the read-only port: the
 * session is handed to the client only once the server has reported that
 * the lock is on.
 */
static void
session_note_parameter(CmSession *s, const uint8 *msg, uint32 total)
{
	const char *name = (const char *) msg + 5;
	const char *end = (const char *) msg + total;
	const char *value;
	const char *nul = memchr(name, '\0', end - name);

	if (nul == NULL || nul + 1 >= end)
		return;
	value = nul + 1;
	if (memchr(value, '\0', end - value) == NULL)
		return;
	if (strcmp(name, CM_READONLY_SETTING) == 0)
		s->login->lock_confirmed = strcmp(value, "on") == 0;
}

/* ReadyForQuery ended the login: bytes flow both ways from now on. */
static void
session_relay_begins(CmSession *s)
{
	s->state = CM_SS_RELAY;
	cm_conn_relaying(s);
	session_no_deadline(s);
	(void) cm_stream_pass_all(&s->server);
	session_release_held(s);
	session_login_end(s);
}

/*
 * Inspects whole server messages while the session logs in.  The server's
 * BackendKeyData is kept for cancels and replaced, in place, by ours;
 * ReadyForQuery ends the login.
 */
static void
session_scan_login(CmSession *s)
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
				session_fail(s, "08P01",
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
		if (type == 'K' && total == 13 && s->slot >= 0)
		{
			CmSessionSlot *slot = cm_slot_get(s->slot);
			int32 key;

			SpinLockAcquire(&slot->mutex);
			slot->server_pid = (int32) cm_proto_get_u32(msg + 5);
			slot->server_key = (int32) cm_proto_get_u32(msg + 9);
			slot->server_key_known = true;
			key = slot->client_key;
			SpinLockRelease(&slot->mutex);
			cm_proto_build_backend_key(msg, total,
									   cm_cancel_pid_for_slot(s->slot), key);
		}
		/* the target's authentication requests are ours to answer */
		if (type == 'R' && total >= 9 && cm_proto_get_u32(msg + 5) != 0)
		{
			if (!cm_login_answer(s, msg, total))
				return;
			cm_stream_cut(&s->server, total);
			continue;
		}
		if (type == 'S' && s->port == CM_PORT_READ_ONLY)
			session_note_parameter(s, msg, total);
		if (type == 'Z' && s->port == CM_PORT_READ_ONLY && !l->lock_confirmed)
		{
			char detail[256];

			snprintf(detail, sizeof(detail),
					 "The server \"%s\" did not confirm the read-only lock: connection_manager must be in its shared_preload_libraries.",
					 l->target.name);
			ereport(LOG,
					(errmsg("connection_manager: refusing a read-only session on \"%s\"",
							l->target.name),
					 errdetail("%s", detail)));
			session_fail(s, "08004",
						 "the target server could not lock the session read-only",
						 detail);
			return;
		}
		cm_stream_pass(&s->server, total);
		if (type == 'Z')
			session_relay_begins(s);
	}
}

/* One step of the TLS handshake with the client. */
static void
session_tls_step(CmSession *s)
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
			session_close(s);
			return;
	}
}

/* 'S' has left: the TLS handshake starts on the bare socket. */
static void
session_tls_begin(CmSession *s, const uint8 *prefix, size_t len)
{
	s->client.tls = len > 0
						? cm_tls_accept_direct(s->client.watch.fd, prefix, len)
						: cm_tls_accept_new(s->client.watch.fd);
	/* the handshake took its own copy of the bytes read already */
	cm_stream_clear(&s->client);
	if (s->client.tls == NULL)
	{
		session_close(s);
		return;
	}
	s->login->ssl_requested = true;
	s->state = CM_SS_TLS_HANDSHAKE;
	session_tls_step(s);
}

/*
 * While relaying, what was just read is written on at once: most of the
 * time it all goes, and epoll never has to watch the other side for room.
 */
static void
session_write_through(CmSession *s, CmStream *from, CmStream *to)
{
	if (s->state != CM_SS_RELAY || to->watch.fd < 0)
		return;
	if (!cm_stream_forward(from, to))
		session_close(s);
}

static void
session_on_client(CmSession *s, uint32 events)
{
	if (s->state == CM_SS_TLS_HANDSHAKE)
	{
		if (events & (CM_EV_READ | CM_EV_WRITE | CM_EV_ERROR))
			session_tls_step(s);
		return;
	}
	/* an error, or a hang-up we are not reading towards, ends the session */
	if ((events & EPOLLERR) ||
		((events & EPOLLHUP) && !(s->client.watch.events & CM_EV_READ)))
	{
		cm_stream_close(&s->client);
		session_drain_and_close(s);
		return;
	}
	if (events & (CM_EV_WRITE | CM_EV_ERROR))
	{
		if (!cm_stream_forward(&s->server, &s->client))
		{
			session_close(s);
			return;
		}
		if (s->state == CM_SS_TLS_START && !cm_stream_has_output(&s->server))
		{
			session_tls_begin(s, NULL, 0);
			return;
		}
	}
	if (s->state == CM_SS_CLOSING)
		return; /* bytes OpenSSL already decrypted are read whatever epoll says */
	if (cm_stream_should_read(&s->client, events))
	{
		if (!cm_stream_read(&s->client))
		{
			cm_stream_close(&s->client);
			session_drain_and_close(s);
			return;
		}
		if (s->state == CM_SS_STARTUP)
			session_read_first_packet(s);
		else if (s->state == CM_SS_AUTH)
			cm_auth_client_data(s);
		else
		{
			cm_stat_add(s->port, CM_C_BYTES_IN, cm_stream_pass_all(&s->client));
			session_write_through(s, &s->client, &s->server);
		}
	}
}

static void
session_on_server(CmSession *s, uint32 events)
{
	if (s->state == CM_SS_CONNECTING)
	{
		if (events & (CM_EV_WRITE | CM_EV_ERROR))
			session_connected(s);
		if (s->state != CM_SS_LOGIN && s->state != CM_SS_SERVER_SSL)
			return;
		events &= ~CM_EV_ERROR;
	}
	if (s->state == CM_SS_SERVER_SSL)
	{
		if (cm_stream_has_output(&s->client))
		{
			if (!cm_stream_forward(&s->client, &s->server))
				session_fail(s, "08006",
							 "the connection to the server was lost during login",
							 NULL);
			return;
		}
		if (events & (CM_EV_READ | CM_EV_ERROR))
			session_server_ssl_answer(s);
		return;
	}
	if (s->state == CM_SS_SERVER_TLS)
	{
		if (events & (CM_EV_READ | CM_EV_WRITE | CM_EV_ERROR))
			session_server_tls_step(s);
		return;
	}
	if ((events & EPOLLERR) ||
		((events & EPOLLHUP) && !(s->server.watch.events & CM_EV_READ)))
	{
		cm_stream_close(&s->server);
		if (s->state == CM_SS_LOGIN)
			session_fail(s, "08006",
						 "the connection to the server was lost during login",
						 NULL);
		else
			session_drain_and_close(s);
		return;
	}
	if (events & (CM_EV_WRITE | CM_EV_ERROR))
	{
		if (!cm_stream_forward(&s->client, &s->server))
		{
			if (s->state == CM_SS_LOGIN)
				session_fail(s, "08006",
							 "the connection to the server was lost during login",
							 NULL);
			else
				session_close(s);
			return;
		}
	}
	if (s->state == CM_SS_CLOSING)
		return;
	if (cm_stream_should_read(&s->server, events))
	{
		if (!cm_stream_read(&s->server))
		{
			cm_stream_close(&s->server);
			if (s->state == CM_SS_LOGIN)
			{
				/* pass on whole messages only, then say what happened */
				session_scan_login(s);
				if (s->state == CM_SS_LOGIN)
					session_fail(s, "08006",
								 "the connection to the server was lost during login",
								 NULL);
				else if (s->state == CM_SS_RELAY)
					session_drain_and_close(s);
				return;
			}
			session_drain_and_close(s);
			return;
		}
		if (s->state == CM_SS_LOGIN)
			session_scan_login(s);
		else
		{
			cm_stat_add(s->port, CM_C_BYTES_OUT, cm_stream_pass_all(&s->server));
			session_write_through(s, &s->server, &s->client);
		}
	}
}

/* After an event on either side: what is left over, then what to watch. */
static void
session_after_event(CmSession *s)
{
	/* decrypted bytes that did not fit last time: read them now */
	if (s->state != CM_SS_CLOSED && s->client.tls_pending &&
		cm_stream_has_room(&s->client) &&
		(s->state == CM_SS_AUTH || s->state == CM_SS_RELAY))
		session_on_client(s, CM_EV_READ);
	if (s->state != CM_SS_CLOSED && s->server.tls_pending &&
		cm_stream_has_room(&s->server) &&
		(s->state == CM_SS_LOGIN || s->state == CM_SS_RELAY))
		session_on_server(s, CM_EV_READ);
	session_update_interest(s);
}

static void
session_client_ready(void *arg, uint32 events)
{
	CmSession *s = arg;

	if (s->state == CM_SS_CLOSED)
		return;
	session_on_client(s, events);
	session_after_event(s);
}

static void
session_server_ready(void *arg, uint32 events)
{
	CmSession *s = arg;

	if (s->state == CM_SS_CLOSED)
		return;
	session_on_server(s, events);
	session_after_event(s);
}

void
cm_session_routing_changed(void)
{
	dlist_mutable_iter iter;

	memset(pool_sent, 0, sizeof(pool_sent));
	dlist_foreach_modify (iter, &sessions)
	{
		CmSession *s = dlist_container(CmSession, node, iter.cur);

		if (s->state == CM_SS_WAIT_TARGET)
			session_route(s);
	}
}

/* The deadline of the session's state passed. */
static void
session_timed_out(void *arg)
{
	CmSession *s = arg;
	char msg[256];

	switch (s->state)
	{
		case CM_SS_TLS_START:
		case CM_SS_TLS_HANDSHAKE:
			ereport(LOG,
					(errmsg("connection_manager: SSL handshake timeout for client %s",
							s->login->client_addr)));
			session_close(s);
			break;
		case CM_SS_STARTUP:
		case CM_SS_AUTH:
		case CM_SS_LOGIN:
			ereport(LOG,
					(errmsg("connection_manager: authentication timeout for client %s",
							s->login->client_addr)));
			session_fail(s, "08006", "canceling authentication due to timeout",
						 NULL);
			break;
		case CM_SS_WAIT_TARGET:
			session_fail(s, "57P03", "no write leader is available",
						 no_leader_reason(cm_proxy_routing()));
			break;
		case CM_SS_CONNECTING:
		case CM_SS_SERVER_SSL:
		case CM_SS_SERVER_TLS:
			snprintf(msg, sizeof(msg),
					 "could not connect to server \"%s\": timeout expired",
					 s->login->target.name);
			session_fail(s, "08006", msg, NULL);
			break;
		default:
			session_close(s);
			break;
	}
}

void
cm_session_free_closed(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &closed_sessions)
	{
		CmSession *s = dlist_container(CmSession, node, iter.cur);

		dlist_delete(&s->node);
		/* back to the pool, wiped: they held authentication messages */
		cm_stream_clear(&s->client);
		cm_stream_clear(&s->server);
		free(s);
	}
}

void
cm_session_close_all(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &sessions)
		session_close(dlist_container(CmSession, node, iter.cur));
}
