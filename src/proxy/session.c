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
#include <sys/epoll.h>
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
#include "cm_stats.h"

/* The longest message a server may send us while logging in. */
#define CM_LOGIN_MESSAGE_MAX CM_BUF_SIZE
/* How long what is left may take to drain once a session closes. */
#define CM_CLOSING_GRACE_MS 2000

static dlist_head sessions = DLIST_STATIC_INIT(sessions);
static dlist_head closed_sessions = DLIST_STATIC_INIT(closed_sessions);
/* sessions whose startup packet is not in yet, oldest first */
static dlist_head pre_startup = DLIST_STATIC_INIT(pre_startup);
static int pre_startup_count = 0;
static int next_free_slot_hint = 0;

static void session_update_interest(CmSession *s);
static void session_tls_begin(CmSession *s, const uint8 *prefix, size_t len);
static void session_route(CmSession *s);
static void session_begin_login(CmSession *s);
static void session_queue(CmSession *s, CmBuf *b, const uint8 *msg, size_t len);

static void session_connect(CmSession *s);
static bool session_bind_source(CmSession *s);

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
		memcpy(&slot->server_addr, &s->target.addr, s->target.addrlen);
		slot->server_addrlen = s->target.addrlen;
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

static void
buf_reset_if_empty(CmBuf *b)
{
	if (b->start == b->end)
		b->start = b->scan = b->end = 0;
}

/* Moves unsent bytes to the front so that reads have room. */
static void
buf_compact(CmBuf *b)
{
	if (b->start == 0)
		return;
	memmove(b->data, b->data + b->start, b->end - b->start);
	b->scan -= b->start;
	b->end -= b->start;
	b->start = 0;
}

static bool
buf_has_room(const CmBuf *b)
{
	/* a read compacts first, so room at the front counts too */
	return b->end < CM_BUF_SIZE || b->start > 0;
}

static bool
buf_has_output(const CmBuf *b)
{
	return b->start < b->scan;
}

/*
 * TLS reads decrypt whole records: what a record held beyond the room we
 * gave is kept by OpenSSL, where epoll cannot see it.  So a TLS read loops
 * while such bytes remain and the buffer has room, and notes when they do
 * not fit (tls_pending) so that the session reads again once it drains.
 */
static bool
buf_read_tls(CmBuf *b, CmEndpoint *ep)
{
	for (;;)
	{
		CmTlsStatus st;
		ssize_t n;

		if (b->end == CM_BUF_SIZE)
			buf_compact(b);
		if (b->end == CM_BUF_SIZE)
		{
			ep->tls_pending = cm_tls_pending(ep->tls);
			return true;
		}
		n = cm_tls_read(ep->tls, b->data + b->end, CM_BUF_SIZE - b->end, &st);
		ep->tls_read_wants = 0;
		ep->tls_pending = false;
		if (n > 0)
		{
			b->end += (uint32) n;
			if (cm_tls_pending(ep->tls))
				continue;
			return true;
		}
		if (st == CM_TLS_WANT_READ)
			return true;
		if (st == CM_TLS_WANT_WRITE)
		{
			ep->tls_read_wants = EPOLLOUT;
			return true;
		}
		return false;
	}
}

/* Reads what the socket has; false on EOF or a hard error. */
static bool
buf_read(CmBuf *b, CmEndpoint *ep)
{
	ssize_t n;

	if (ep->tls)
		return buf_read_tls(b, ep);
	if (b->end == CM_BUF_SIZE)
		buf_compact(b);
	if (b->end == CM_BUF_SIZE)
		return true;
	n = recv(ep->fd, b->data + b->end, CM_BUF_SIZE - b->end, 0);
	if (n > 0)
	{
		b->end += (uint32) n;
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return true;
	return false;
}

/* Writes what is ready to go; false on a hard error. */
static bool
buf_write(CmBuf *b, CmEndpoint *ep)
{
	ssize_t n;

	if (!buf_has_output(b))
		return true;
	if (ep->tls)
	{
		CmTlsStatus st;

		n = cm_tls_write(ep->tls, b->data + b->start, b->scan - b->start, &st);
		ep->tls_write_wants = 0;
		if (n < 0)
		{
			if (st == CM_TLS_WANT_READ)
				ep->tls_write_wants = EPOLLIN;
			return st == CM_TLS_WANT_READ || st == CM_TLS_WANT_WRITE;
		}
	}
	else
	{
		n = send(ep->fd, b->data + b->start, b->scan - b->start, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	}
	b->start += (uint32) n;
	buf_reset_if_empty(b);
	return true;
}

static void
session_startup_done(CmSession *s)
{
	if (!s->pre_startup)
		return;
	dlist_delete(&s->pre_startup_node);
	pre_startup_count--;
	s->pre_startup = false;
}

static void
session_close(CmSession *s)
{
	if (s->state == CM_SS_CLOSED)
		return;
	cm_conn_close(s);
	cm_ev_forget(&s->client);
	cm_ev_forget(&s->server);
	if (s->counts_server)
		pg_atomic_fetch_sub_u32(servers_counter(s), 1);
	s->counts_server = false;
	if (s->counts_client)
		pg_atomic_fetch_sub_u32(clients_counter(s), 1);
	s->counts_client = false;
	session_startup_done(s);
	slot_release(s);
	cm_hash_forget(&s->hash_job);
	cm_auth_free(s->auth);
	s->auth = NULL;
	free(s->startup);
	s->startup = NULL;
	free(s->held);
	s->held = NULL;
	s->state = CM_SS_CLOSED;
	dlist_delete(&s->node);
	dlist_push_tail(&closed_sessions, &s->node);
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
	size_t n;

	cm_conn_failed(s, sqlstate, message);
	cm_hash_forget(&s->hash_job);
	cm_ev_forget(&s->server);
	if (s->state == CM_SS_RELAY || s->client.fd < 0)
	{
		session_close(s);
		return;
	}
	s->s2c.end = s->s2c.scan;
	buf_compact(&s->s2c);
	n = cm_proto_build_error(s->s2c.data + s->s2c.end, CM_BUF_SIZE - s->s2c.end,
							 "FATAL", sqlstate, message, detail, NULL);
	if (n == 0)
	{
		session_close(s);
		return;
	}
	s->s2c.end += (uint32) n;
	s->s2c.scan = s->s2c.end;
	s->c2s.start = s->c2s.scan = s->c2s.end = 0;
	s->state = CM_SS_CLOSING;
	s->deadline_ms = cm_now_ms() + CM_CLOSING_GRACE_MS;
	session_update_interest(s);
}

/* One side went away: pass on what is already read, then close. */
static void
session_drain_and_close(CmSession *s)
{
	s->c2s.scan = s->c2s.end;
	s->s2c.scan = s->s2c.end;
	if ((s->server.fd >= 0 && buf_has_output(&s->c2s)) ||
		(s->client.fd >= 0 && buf_has_output(&s->s2c)))
	{
		s->state = CM_SS_CLOSING;
		s->deadline_ms = cm_now_ms() + CM_CLOSING_GRACE_MS;
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
	if (reading && buf_has_room(&s->c2s))
		client |= EPOLLIN;
	if (buf_has_output(&s->s2c))
		client |= EPOLLOUT;
	if (s->state == CM_SS_TLS_HANDSHAKE)
		client = s->client.tls_read_wants;
	else
		client |= s->client.tls_read_wants | s->client.tls_write_wants;
	if ((s->state == CM_SS_LOGIN || s->state == CM_SS_RELAY) &&
		buf_has_room(&s->s2c))
		server |= EPOLLIN;
	if (s->state == CM_SS_CONNECTING || buf_has_output(&s->c2s))
		server |= EPOLLOUT;
	if (s->state == CM_SS_SERVER_SSL && !buf_has_output(&s->c2s))
		server |= EPOLLIN;
	if (s->state == CM_SS_SERVER_TLS)
		server = s->server.tls_read_wants;
	else
		server |= s->server.tls_read_wants | s->server.tls_write_wants;

	if (s->state == CM_SS_CLOSING && !buf_has_output(&s->s2c) &&
		!buf_has_output(&s->c2s))
	{
		session_close(s);
		return;
	}
	if (s->client.fd >= 0 && !cm_ev_watch(&s->client, client))
	{
		session_close(s);
		return;
	}
	if (s->server.fd >= 0 && !cm_ev_watch(&s->server, server))
		session_close(s);
}

void
cm_session_accept(int fd, CmPortKind port, const struct sockaddr_storage *addr)
{
	CmSession *s;

	s = calloc(1, sizeof(CmSession));
	if (s == NULL)
	{
		close(fd);
		return;
	}
	s->port = port;
	s->slot = -1;
	s->auth_method = -1;
	s->client.kind = CM_EP_CLIENT;
	s->client.fd = fd;
	s->client.owner = s;
	s->server.kind = CM_EP_SERVER;
	s->server.fd = -1;
	s->server.owner = s;
	s->state = CM_SS_STARTUP;
	s->deadline_ms = cm_now_ms() + (int64) AuthenticationTimeout * 1000;
	memcpy(&s->client_sockaddr, addr, sizeof(*addr));
	if (getnameinfo((const struct sockaddr *) addr, sizeof(*addr), s->client_addr,
					sizeof(s->client_addr), NULL, 0, NI_NUMERICHOST) != 0)
		strlcpy(s->client_addr, "?", sizeof(s->client_addr));

	cm_conn_open(s);
	s->pre_startup = true;
	dlist_push_tail(&pre_startup, &s->pre_startup_node);
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
	size_t n;

	if (dlist_is_empty(&pre_startup))
		return false;
	s = dlist_head_element(CmSession, pre_startup_node, &pre_startup);
	if (s->state == CM_SS_STARTUP && s->client.tls == NULL)
	{
		buf_compact(&s->s2c);
		n = cm_proto_build_error(s->s2c.data + s->s2c.end,
								 CM_BUF_SIZE - s->s2c.end, "FATAL", "53300",
								 "sorry, too many clients already",
								 "The connection manager closed the oldest of too many connections that had not sent a startup packet.",
								 NULL);
		s->s2c.end += (uint32) n;
		s->s2c.scan = s->s2c.end;
		(void) buf_write(&s->s2c, &s->client);
	}
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
	uint32 rest = s->c2s.end - s->c2s.start - pkt->length;

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
	s->startup = malloc(len);
	if (s->startup == NULL)
		return false;
	memcpy(s->startup, out, len);
	s->startup_len = (uint32) len;
	/* what the client sent after its startup packet is authentication */
	memmove(s->c2s.data, s->c2s.data + s->c2s.start + pkt->length, rest);
	s->c2s.start = s->c2s.scan = 0;
	s->c2s.end = rest;
	return true;
}

/* ReadyForQuery came: what the client sent meanwhile goes on now. */
static void
session_release_held(CmSession *s)
{
	if (s->held == NULL)
		return;
	session_queue(s, &s->c2s, s->held, s->held_len);
	free(s->held);
	s->held = NULL;
	s->held_len = 0;
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
	if (!cm_proof_addr_text((const struct sockaddr *) &s->target.addr,
							c.target_addr, sizeof(c.target_addr)) ||
		!cm_proof_addr_text((const struct sockaddr *) &s->client_sockaddr,
							c.client_addr, sizeof(c.client_addr)))
		return false;
	c.target_port = sockaddr_port(&s->target.addr);
	c.client_port = sockaddr_port(&s->client_sockaddr);
	c.tls = s->client.tls != NULL;
	/* what the client proved, and against which role secret */
	if (s->auth != NULL && s->auth->credential != CM_CRED_NONE &&
		s->auth->secret_digest[0] != '\0')
	{
		c.password = s->auth->credential == CM_CRED_MD5 ? CM_PROOF_PW_MD5
														: CM_PROOF_PW_PROVEN;
		strlcpy(c.secret_digest, s->auth->secret_digest,
				sizeof(c.secret_digest));
	}
	if (c.tls &&
		cm_tls_peer_certificate(s->client.tls, c.cert_cn, sizeof(c.cert_cn),
								c.cert_dn, sizeof(c.cert_dn), &verified) &&
		verified)
		c.cert = true;
	else
		c.cert_cn[0] = c.cert_dn[0] = '\0';
	return cm_proof_make(s->user, s->database, &c, token, len);
}

/* The startup packet goes first to the server, ahead of anything else. */
static bool
session_queue_startup(CmSession *s)
{
	CmBuf *b = &s->c2s;
	uint32 pending = b->end - b->start;
	char token[CM_PROOF_TOKEN_SIZE];
	uint32 len = s->startup_len;
	size_t plen = sizeof(CM_PROOF_SETTING);
	size_t tlen;

	/*
	 * The proof that a connection manager opened this connection, with the
	 * client's real address, goes last: the packet's own terminator is
	 * replaced by the parameter and a new one.
	 */
	if (s->startup == NULL || !session_proof(s, token, sizeof(token)))
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
		s->held = malloc(pending);
		if (s->held == NULL)
			return false;
		memcpy(s->held, b->data + b->start, pending);
		s->held_len = pending;
		pending = 0;
	}
	memcpy(b->data, s->startup, len - 1);
	memcpy(b->data + len - 1, CM_PROOF_SETTING, plen);
	memcpy(b->data + len - 1 + plen, token, tlen);
	b->data[len - 1 + plen + tlen] = '\0';
	len += (uint32) (plen + tlen);
	cm_proto_put_u32(b->data, len);
	b->start = 0;
	b->end = len + pending;
	b->scan = b->end;
	free(s->startup);
	s->startup = NULL;
	return true;
}

/* Queues a whole message of ours; a session with no room for it ends. */
static void
session_queue(CmSession *s, CmBuf *b, const uint8 *msg, size_t len)
{
	if (CM_BUF_SIZE - b->end < len)
		buf_compact(b);
	if (CM_BUF_SIZE - b->end < len)
	{
		session_close(s);
		return;
	}
	memcpy(b->data + b->end, msg, len);
	b->end += (uint32) len;
	b->scan = b->end;
}

/* A step failed: its LOG line, then the client's FATAL error. */
static void
session_step_failed(CmSession *s, const CmStepFailure *fail)
{
	if (fail->log[0] != '\0')
		ereport(LOG, (errmsg("%s", fail->log),
					  fail->log_detail[0] != '\0'
						  ? errdetail("%s", fail->log_detail)
						  : 0));
	session_fail(s, fail->sqlstate, fail->message,
				 fail->detail[0] != '\0' ? fail->detail : NULL);
}

static void session_hash_password(CmSession *s);

/*
 * Acts on what an authentication step did: its reply goes to the client,
 * then the exchange goes on, the password is hashed, or the client, now
 * authenticated, is routed to its target.
 */
static void
session_auth_next(CmSession *s, CmStepStatus status, const CmOut *reply,
				  const CmStepFailure *fail)
{
	if (status == CM_STEP_FAILED)
	{
		session_step_failed(s, fail);
		return;
	}
	if (reply != NULL && reply->len > 0)
	{
		session_queue(s, &s->s2c, reply->data, reply->len);
		if (s->state != CM_SS_AUTH)
			return; /* no room for it: closed */
	}
	if (status == CM_STEP_HASH)
		session_hash_password(s);
	else if (status == CM_STEP_DONE)
	{
		cm_conn_authenticated(s);
		session_route(s);
	}
}

/* The hashing thread is done with the client's password (cm_hash.h). */
static void
session_password_hashed(void *owner, const uint8_t *salted)
{
	CmSession *s = owner;
	CmStepFailure fail;

	s->hash_job = NULL;
	if (s->state != CM_SS_AUTH)
		return;
	session_auth_next(s, cm_auth_password_hashed(s->auth, salted, &fail), NULL,
					  &fail);
	if (s->state != CM_SS_CLOSED)
		session_update_interest(s);
}

/* The password is checked off the loop, or in it when there is no thread. */
static void
session_hash_password(CmSession *s)
{
	CmStepFailure fail;

	switch (cm_hash_submit(s->auth->password, &s->auth->secret,
						   session_password_hashed, s, &s->hash_job))
	{
		case CM_HASH_QUEUED:
			return;
		case CM_HASH_BUSY:
			session_fail(s, "53300",
						 "sorry, too many password checks in progress", NULL);
			return;
		case CM_HASH_UNAVAILABLE:
			session_auth_next(s, cm_auth_check_password(s->auth, &fail), NULL,
							  &fail);
			return;
	}
}

/* The startup packet is in: the client proves itself to us (auth.c). */
static void
session_auth_begin(CmSession *s)
{
	CmAuthClient client;
	uint8 data[CM_AUTH_MESSAGE_MAX];
	CmOut reply;
	CmStepFailure fail;
	CmStepStatus status;

	client.addr = &s->client_sockaddr;
	client.addr_text = s->client_addr;
	client.tls = s->client.tls;
	client.user = s->user;
	client.database = s->database;
	cm_out_init(&reply, data, sizeof(data));
	status = cm_auth_begin(&client, &s->auth, &reply, &fail);
	if (s->auth != NULL)
		s->auth_method = s->auth->method;
	session_auth_next(s, status, &reply, &fail);
}

/* Whole messages the client sent while it proves itself. */
static void
session_auth_input(CmSession *s)
{
	CmBuf *b = &s->c2s;

	while (s->state == CM_SS_AUTH && b->start < b->end)
	{
		uint8 data[CM_AUTH_MESSAGE_MAX];
		CmOut reply;
		CmStepFailure fail;
		CmStepStatus status;
		size_t used;

		cm_out_init(&reply, data, sizeof(data));
		status = cm_auth_client_data(s->auth, b->data + b->start,
									 b->end - b->start, &used, &reply, &fail);
		b->start += (uint32) used;
		b->scan = b->start;
		session_auth_next(s, status, &reply, &fail);
		if (used == 0)
			break;
	}
	buf_reset_if_empty(b);
}

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
session_login_target(CmSession *s, CmLoginTarget *t)
{
	t->name = s->target.name;
	t->user = s->user;
	t->tls = s->server.tls != NULL;
	t->loopback = sockaddr_is_loopback(&s->target.addr);
}

/*
 * Answers one of the target's authentication requests (login.c); false
 * when the session failed.
 */
static bool
session_login_answer(CmSession *s, const uint8 *msg, uint32 total)
{
	uint8 data[CM_LOGIN_REPLY_MAX];
	CmLoginTarget target;
	CmOut reply;
	CmStepFailure fail;

	session_login_target(s, &target);
	cm_out_init(&reply, data, sizeof(data));
	if (cm_login_answer(s->auth, &target, msg, total, &reply, &fail) ==
		CM_STEP_FAILED)
	{
		session_step_failed(s, &fail);
		return false;
	}
	if (reply.len > 0)
		session_queue(s, &s->c2s, data, reply.len);
	return true;
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
			s->target = r->ro_pool[pick_read_only(r)];
			session_connect(s);
			return;
		}
		if (!r->read_only.valid)
		{
			session_fail(s, "57P03", "no read-only target is available",
						 r->read_only_reason);
			return;
		}
		s->target = r->read_only;
		session_connect(s);
		return;
	}
	if (r->read_write.valid &&
		(r->valid_until == 0 || cm_now_ms() < r->valid_until))
	{
		s->target = r->read_write;
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
		s->deadline_ms = cm_now_ms() + cm_leader_wait_timeout;
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
	strlcpy(s->user, pkt->user, sizeof(s->user));
	strlcpy(s->database, pkt->database, sizeof(s->database));
	cm_conn_startup(s);
	if (!session_rewrite_startup(s, pkt))
	{
		session_fail(s, "08P01", "invalid startup packet", NULL);
		return;
	}
	s->state = CM_SS_AUTH;
	s->deadline_ms = cm_now_ms() + (int64) AuthenticationTimeout * 1000;
	session_auth_begin(s);
	if (s->state == CM_SS_AUTH)
		session_auth_input(s);
}

static void
session_reply_byte(CmSession *s, char c)
{
	s->s2c.data[s->s2c.end++] = (uint8) c;
	s->s2c.scan = s->s2c.end;
}

/* Handles the client's first packets; false when the session ended. */
static void
session_read_first_packet(CmSession *s)
{
	CmFirstPacket pkt;
	CmPacketKind kind; /* PostgreSQL 17 clients may open with a TLS ClientHello directly */
	if (!s->ssl_requested && !s->gss_requested && s->c2s.start == 0 &&
		cm_tls_enabled() && cm_tls_is_direct_start(s->c2s.data, s->c2s.end))
	{
		uint8 hello[CM_BUF_SIZE];
		size_t len = s->c2s.end;

		memcpy(hello, s->c2s.data, len);
		s->c2s.start = s->c2s.scan = s->c2s.end = 0;
		session_tls_begin(s, hello, len);
		return;
	}
	kind = cm_proto_parse_first_packet(s->c2s.data + s->c2s.start,
									   s->c2s.end - s->c2s.start, &pkt);
	switch (kind)
	{
		case CM_PACKET_NEED_MORE:
			return;
		case CM_PACKET_ERROR:
			ereport(LOG, (errmsg("connection_manager: %s from client %s",
								 pkt.error, s->client_addr)));
			session_fail(s, pkt.sqlstate, pkt.error, NULL);
			return;
		case CM_PACKET_SSL_REQUEST:
		case CM_PACKET_GSSENC_REQUEST:
			/* bytes pipelined behind the request are never accepted */
			if (s->c2s.end - s->c2s.start != pkt.length ||
				(kind == CM_PACKET_SSL_REQUEST && s->ssl_requested) ||
				(kind == CM_PACKET_GSSENC_REQUEST && s->gss_requested))
			{
				session_fail(s, "08P01",
							 "received unencrypted data after an encryption request",
							 NULL);
				return;
			}
			s->c2s.start = s->c2s.scan = s->c2s.end = 0;
			if (kind == CM_PACKET_GSSENC_REQUEST)
			{
				s->gss_requested = true;
				session_reply_byte(s, 'N');
				return;
			}
			s->ssl_requested = true;
			if (!cm_tls_enabled())
			{
				session_reply_byte(s, 'N');
				return;
			}
			/* the handshake starts once 'S' has left, on the bare socket */
			session_reply_byte(s, 'S');
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

static void
session_connect(CmSession *s)
{
	int fd;
	int one = 1;
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

	fd = socket(s->target.addr.ss_family,
				SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		session_fail(s, "08006", "could not create a socket to the server",
					 NULL);
		return;
	}
	if (s->target.addr.ss_family != AF_UNIX)
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->server.fd = fd;
	if (!session_bind_source(s))
		return;
	if (connect(fd, (struct sockaddr *) &s->target.addr, s->target.addrlen) < 0 &&
		errno != EINPROGRESS)
	{
		char msg[256];

		snprintf(msg, sizeof(msg), "could not connect to server \"%s\": %s",
				 s->target.name, strerror(errno));
		session_fail(s, "08006", msg, NULL);
		return;
	}
	s->state = CM_SS_CONNECTING;
	cm_conn_target(s);
	s->deadline_ms = cm_now_ms() + cm_server_connect_timeout;
	session_update_interest(s);
}

/*
 * Binds the address server_source_addresses gives for the target, so that
 * the target's pg_hba.conf can tell the manager from other programs on the
 * same host (README: "Trust is not widened").
 */
static bool
session_bind_source(CmSession *s)
{
	struct sockaddr_storage local;
	socklen_t len;
	int one = 1;
	char text[64];
	char msg[256];

	if (!cm_guc_source_address(&s->target.addr, &local, &len))
		return true;
	/* the port is chosen at connect(), per destination: no exhaustion */
	(void) setsockopt(s->server.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
					  sizeof(one));
	if (bind(s->server.fd, (struct sockaddr *) &local, len) == 0)
		return true;
	if (!cm_proof_addr_text((struct sockaddr *) &local, text, sizeof(text)))
		strlcpy(text, "?", sizeof(text));
	snprintf(msg, sizeof(msg),
			 "could not bind source address %s to connect to server \"%s\": %s",
			 text, s->target.name, strerror(errno));
	ereport(LOG,
			(errmsg("connection_manager: %s", msg),
			 errhint(
				 "Check connection_manager.server_source_addresses: each address must be one of this host's.")));
	session_fail(s, "08006", msg, NULL);
	return false;
}

static void
session_connected(CmSession *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->server.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0)
	{
		char msg[256];

		snprintf(msg, sizeof(msg), "could not connect to server \"%s\": %s",
				 s->target.name, strerror(err));
		session_fail(s, "08006", msg, NULL);
		return;
	}
	s->deadline_ms = cm_now_ms() + (int64) AuthenticationTimeout * 1000;
	if (cm_server_sslmode == CM_SSLMODE_VERIFY_CA && cm_tls_system_roots())
	{
		ereport(LOG,
				(errmsg("connection_manager: refusing to connect to \"%s\": server_sslmode \"verify-ca\" needs ssl_ca_file",
						s->target.name),
				 errdetail(
					 "Without ssl_ca_file, certificates would be checked against the system's root certificates, which accept any publicly issued certificate for any name.")));
		session_fail(s, "08006",
					 "connection_manager.server_sslmode \"verify-ca\" needs ssl_ca_file",
					 "Set ssl_ca_file to the CA of the cluster's certificates, or use verify-full.");
		return;
	}
	if (cm_server_sslmode != CM_SSLMODE_DISABLE &&
		cm_server_sslmode != CM_SSLMODE_ALLOW &&
		s->target.addr.ss_family != AF_UNIX)
	{
		uint8 request[8];
		CmBuf *b = &s->c2s;
		uint32 pending = b->end - b->start;

		/* ahead of anything the client already sent */
		cm_proto_put_u32(request, 8);
		cm_proto_put_u32(request + 4, CM_PROTO_SSL_CODE);
		if (pending + sizeof(request) > CM_BUF_SIZE)
		{
			session_fail(s, "08P01", "too much data before login", NULL);
			return;
		}
		memmove(b->data + sizeof(request), b->data + b->start, pending);
		memcpy(b->data, request, sizeof(request));
		b->start = 0;
		b->end = pending + sizeof(request);
		b->scan = sizeof(request);
		s->state = CM_SS_SERVER_SSL;
		return;
	}
	session_begin_login(s);
}

/* The startup packet goes out; the server's answers are inspected. */
static void
session_begin_login(CmSession *s)
{
	CmLoginTarget target;

	session_login_target(s, &target);
	cm_login_note_plaintext(&target, "connection manager proofs");
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

	switch (cm_tls_handshake(s->server.tls, err, sizeof(err)))
	{
		case CM_TLS_OK:
			cm_stat_add(s->port, CM_C_TLS_SERVER_OK, 1);
			s->server.tls_read_wants = 0;
			session_begin_login(s);
			return;
		case CM_TLS_WANT_READ:
			s->server.tls_read_wants = EPOLLIN;
			return;
		case CM_TLS_WANT_WRITE:
			s->server.tls_read_wants = EPOLLOUT;
			return;
		default:
			cm_stat_add(s->port, CM_C_TLS_SERVER_FAILED, 1);
			snprintf(msg, sizeof(msg),
					 "could not establish SSL with server \"%s\": %s",
					 s->target.name, err);
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
	ssize_t n = recv(s->server.fd, &answer, 1, 0);
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
	if (recv(s->server.fd, &extra, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
	{
		session_fail(s, "08P01",
					 "the target server sent unencrypted data after its SSL answer",
					 NULL);
		return;
	}
	strlcpy(host, s->target.name, sizeof(host));
	colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	if (host[0] == '[')
	{
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	s->server.tls =
		cm_tls_connect_new(s->server.fd, cm_server_sslmode_name(), host);
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
		s->lock_confirmed = strcmp(value, "on") == 0;
}

/*
 * Inspects whole server messages while the session logs in.  The server's
 * BackendKeyData is kept for cancels and replaced, in place, by ours;
 * ReadyForQuery ends the login.
 */
static void
session_scan_login(CmSession *s)
{
	CmBuf *b = &s->s2c;

	while (s->state == CM_SS_LOGIN && b->scan < b->end)
	{
		char type;
		uint32 total;
		uint8 *msg = b->data + b->scan;

		switch (cm_proto_parse_header(msg, b->end - b->scan,
									  CM_LOGIN_MESSAGE_MAX, &type, &total))
		{
			case CM_HEADER_NEED_MORE:
				return;
			case CM_HEADER_BAD_LENGTH:
				ereport(LOG,
						(errmsg("connection_manager: invalid message length from server \"%s\" during login",
								s->target.name)));
				session_fail(s, "08P01",
							 "the server sent an invalid message during login",
							 NULL);
				return;
			case CM_HEADER_OK:
				break;
		}
		if (b->end - b->scan < total)
		{
			if (b->start > 0 && b->scan + total > CM_BUF_SIZE)
				buf_compact(b);
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
		} /* the target's authentication requests are ours to answer */
		if (type == 'R' && total >= 9 && cm_proto_get_u32(msg + 5) != 0)
		{
			if (!session_login_answer(s, msg, total))
				return;
			memmove(msg, msg + total, b->end - b->scan - total);
			b->end -= total;
			continue;
		}
		if (type == 'S' && s->port == CM_PORT_READ_ONLY)
			session_note_parameter(s, msg, total);
		if (type == 'Z' && s->port == CM_PORT_READ_ONLY && !s->lock_confirmed)
		{
			char detail[256];

			snprintf(detail, sizeof(detail),
					 "The server \"%s\" did not confirm the read-only lock: connection_manager must be in its shared_preload_libraries.",
					 s->target.name);
			ereport(LOG,
					(errmsg("connection_manager: refusing a read-only session on \"%s\"",
							s->target.name),
					 errdetail("%s", detail)));
			session_fail(s, "08004",
						 "the target server could not lock the session read-only",
						 detail);
			return;
		}
		b->scan += total;
		if (type == 'Z')
		{
			s->state = CM_SS_RELAY;
			cm_conn_relaying(s);
			s->deadline_ms = 0;
			b->scan = b->end;
			session_release_held(s);
		}
	}
}

/* One step of the TLS handshake with the client. */
static void
session_tls_step(CmSession *s)
{
	char err[256];

	switch (cm_tls_handshake(s->client.tls, err, sizeof(err)))
	{
		case CM_TLS_OK:
			cm_stat_add(s->port, CM_C_TLS_CLIENT_OK, 1);
			s->client.tls_read_wants = 0;
			s->state = CM_SS_STARTUP;
			return;
		case CM_TLS_WANT_READ:
			s->client.tls_read_wants = EPOLLIN;
			return;
		case CM_TLS_WANT_WRITE:
			s->client.tls_read_wants = EPOLLOUT;
			return;
		default:
			cm_stat_add(s->port, CM_C_TLS_CLIENT_FAILED, 1);
			ereport(LOG,
					(errmsg("connection_manager: could not accept SSL connection from %s: %s",
							s->client_addr, err)));
			session_close(s);
			return;
	}
}

/* 'S' has left: the TLS handshake starts on the bare socket. */
static void
session_tls_begin(CmSession *s, const uint8 *prefix, size_t len)
{
	s->client.tls = len > 0 ? cm_tls_accept_direct(s->client.fd, prefix, len)
							: cm_tls_accept_new(s->client.fd);
	if (s->client.tls == NULL)
	{
		session_close(s);
		return;
	}
	s->ssl_requested = true;
	s->state = CM_SS_TLS_HANDSHAKE;
	session_tls_step(s);
}

/*
 * While relaying, what was just read is written on at once: most of the
 * time it all goes, and epoll never has to watch the other side for room.
 */
static void
session_write_through(CmSession *s, CmBuf *b, CmEndpoint *to)
{
	if (s->state != CM_SS_RELAY || to->fd < 0 || !buf_has_output(b))
		return;
	if (!buf_write(b, to))
		session_close(s);
}

static void
session_on_client(CmSession *s, uint32 events)
{
	if (s->state == CM_SS_TLS_HANDSHAKE)
	{
		if (events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP))
			session_tls_step(s);
		return;
	}
	/* an error, or a hang-up we are not reading towards, ends the session */
	if ((events & EPOLLERR) ||
		((events & EPOLLHUP) && !(s->client.events & EPOLLIN)))
	{
		cm_ev_forget(&s->client);
		session_drain_and_close(s);
		return;
	}
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
	{
		if (!buf_write(&s->s2c, &s->client))
		{
			session_close(s);
			return;
		}
		if (s->state == CM_SS_TLS_START && !buf_has_output(&s->s2c))
		{
			session_tls_begin(s, NULL, 0);
			return;
		}
	}
	if (s->state == CM_SS_CLOSING)
		return; /* bytes OpenSSL already decrypted are read whatever epoll says */
	if (((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		 (s->client.events & EPOLLIN)) ||
		(s->client.tls_read_wants && (events & EPOLLOUT)) ||
		(s->client.tls_pending && buf_has_room(&s->c2s)))
	{
		if (!buf_read(&s->c2s, &s->client))
		{
			cm_ev_forget(&s->client);
			session_drain_and_close(s);
			return;
		}
		if (s->state == CM_SS_STARTUP)
			session_read_first_packet(s);
		else if (s->state == CM_SS_AUTH)
			session_auth_input(s);
		else
		{
			cm_stat_add(s->port, CM_C_BYTES_IN, s->c2s.end - s->c2s.scan);
			s->c2s.scan = s->c2s.end;
			session_write_through(s, &s->c2s, &s->server);
		}
	}
}

static void
session_on_server(CmSession *s, uint32 events)
{
	if (s->state == CM_SS_CONNECTING)
	{
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			session_connected(s);
		if (s->state != CM_SS_LOGIN && s->state != CM_SS_SERVER_SSL)
			return;
		events &= ~(EPOLLERR | EPOLLHUP);
	}
	if (s->state == CM_SS_SERVER_SSL)
	{
		if (buf_has_output(&s->c2s))
		{
			if (!buf_write(&s->c2s, &s->server))
				session_fail(s, "08006",
							 "the connection to the server was lost during login",
							 NULL);
			return;
		}
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			session_server_ssl_answer(s);
		return;
	}
	if (s->state == CM_SS_SERVER_TLS)
	{
		if (events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP))
			session_server_tls_step(s);
		return;
	}
	if ((events & EPOLLERR) ||
		((events & EPOLLHUP) && !(s->server.events & EPOLLIN)))
	{
		cm_ev_forget(&s->server);
		if (s->state == CM_SS_LOGIN)
			session_fail(s, "08006",
						 "the connection to the server was lost during login",
						 NULL);
		else
			session_drain_and_close(s);
		return;
	}
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
	{
		if (!buf_write(&s->c2s, &s->server))
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
	if (((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		 (s->server.events & EPOLLIN)) ||
		(s->server.tls_read_wants && (events & EPOLLOUT)) ||
		(s->server.tls_pending && buf_has_room(&s->s2c)))
	{
		if (!buf_read(&s->s2c, &s->server))
		{
			cm_ev_forget(&s->server);
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
			cm_stat_add(s->port, CM_C_BYTES_OUT, s->s2c.end - s->s2c.scan);
			s->s2c.scan = s->s2c.end;
			session_write_through(s, &s->s2c, &s->client);
		}
	}
}

void
cm_session_handle(CmSession *s, CmEndpoint *ep, uint32 events)
{
	if (s->state == CM_SS_CLOSED)
		return;
	if (ep == &s->client)
		session_on_client(s, events);
	else
		session_on_server(s, events);
	/* decrypted bytes that did not fit last time: read them now */
	if (s->state != CM_SS_CLOSED && s->client.tls_pending &&
		buf_has_room(&s->c2s) &&
		(s->state == CM_SS_AUTH || s->state == CM_SS_RELAY))
		session_on_client(s, EPOLLIN);
	if (s->state != CM_SS_CLOSED && s->server.tls_pending &&
		buf_has_room(&s->s2c) &&
		(s->state == CM_SS_LOGIN || s->state == CM_SS_RELAY))
		session_on_server(s, EPOLLIN);
	session_update_interest(s);
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

void
cm_session_check_timeouts(int64 now)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &sessions)
	{
		CmSession *s = dlist_container(CmSession, node, iter.cur);
		char msg[256];

		if (s->deadline_ms == 0 || now < s->deadline_ms)
			continue;
		switch (s->state)
		{
			case CM_SS_TLS_START:
			case CM_SS_TLS_HANDSHAKE:
				ereport(LOG,
						(errmsg("connection_manager: SSL handshake timeout for client %s",
								s->client_addr)));
				session_close(s);
				break;
			case CM_SS_STARTUP:
			case CM_SS_AUTH:
			case CM_SS_LOGIN:
				ereport(LOG,
						(errmsg("connection_manager: authentication timeout for client %s",
								s->client_addr)));
				session_fail(s, "08006",
							 "canceling authentication due to timeout", NULL);
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
						 s->target.name);
				session_fail(s, "08006", msg, NULL);
				break;
			default:
				session_close(s);
				break;
		}
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
		/* buffers held authentication messages */
		explicit_bzero(s, sizeof(*s));
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
