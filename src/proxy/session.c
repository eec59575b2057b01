/*
 * proxy/session.c
 *		A client session in a proxy worker: one state machine from accept to
 *		close, and the relay.  What each side does before the relay lives
 *		in client.c (first packets, TLS, authentication) and server.c
 *		(connecting, TLS, login); here are the session's life, its timer,
 *		what its sockets wait for, where it goes (route.c), and the events
 *		of both sockets, handled alike.
 *
 * Both sockets of a session are closed together, always through
 * session_close(); the memory is freed at the end of the loop turn.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netdb.h>
#include <unistd.h>

#include "postmaster/postmaster.h"

#include "cm_auth.h"
#include "cm_cancel.h"
#include "cm_client.h"
#include "cm_guc.h"
#include "cm_hash.h"
#include "cm_proto.h"
#include "cm_route.h"
#include "cm_server.h"
#include "cm_session.h"
#include "cm_slot.h"
#include "cm_stats.h"

/* How long what is left may take to drain once a session closes. */
#define CM_CLOSING_GRACE_MS 2000

static dlist_head sessions = DLIST_STATIC_INIT(sessions);
static dlist_head closed_sessions = DLIST_STATIC_INIT(closed_sessions);
/* sessions whose startup packet is not in yet, oldest first */
static dlist_head pre_startup = DLIST_STATIC_INIT(pre_startup);
static int pre_startup_count = 0;

static void session_update_interest(CmSession *s);
static bool session_retry(CmSession *s, const char *sqlstate,
						  const char *message, const char *detail);
static void session_client_ready(void *arg, uint32 events);
static void session_server_ready(void *arg, uint32 events);
static void session_timed_out(void *arg);

/* ------------------------------------------------------------------------
 * Life and limits
 * ------------------------------------------------------------------------
 */

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

/* Counts the session among the port's clients; false over the limit. */
bool
cm_session_take_client(CmSession *s)
{
	if (cm_shmem_total_clients(s->port) >= (uint32) cm_guc_max_clients(s->port))
		return false;
	pg_atomic_fetch_add_u32(clients_counter(s), 1);
	s->counts_client = true;
	return true;
}

/* Counts a server connection of the port; false over the limit. */
bool
cm_session_take_server(CmSession *s)
{
	if (cm_shmem_total_servers(s->port) >= (uint32) cm_guc_max_servers(s->port))
		return false;
	pg_atomic_fetch_add_u32(servers_counter(s), 1);
	s->counts_server = true;
	return true;
}

/*
 * The session's timer is armed from accept to close, parked at "never"
 * while no deadline applies: moving an armed timer needs no memory, so
 * setting a deadline cannot fail.
 */
void
cm_session_deadline_after(CmSession *s, int64 ms)
{
	(void) cm_timer_set(&s->timer, cm_now_ms() + ms);
}

static void
session_no_deadline(CmSession *s)
{
	(void) cm_timer_set(&s->timer, CM_TIMER_NEVER);
}

/* The startup packet is in: the session leaves the list of silent ones. */
void
cm_session_startup_done(CmSession *s)
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
	cm_session_startup_done(s);
	cm_hash_forget(&l->hash_job);
	cm_auth_free(l->auth);
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
	/* a Terminate ends it, whichever socket closes first */
	if (s->to_server.type == 'X' && cm_msg_track_at_boundary(&s->to_server))
		cm_conn_ended(s, "the client disconnected");
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
	if (s->slot >= 0)
		cm_slot_release(s->slot);
	s->slot = -1;
	cm_route_unhold(s->hold);
	s->hold = NULL;
	session_login_end(s);
	s->state = CM_SS_CLOSED;
	dlist_delete(&s->node);
	dlist_push_tail(&closed_sessions, &s->node);
}

void
cm_session_close(CmSession *s)
{
	session_close(s);
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
 * Ends a session with a FATAL error the client can read, then closes it
 * once that is sent: before the relay, or relaying when what the client
 * got of the server's ends with a whole message (else it is just closed).
 * A partial message from the server that was still being inspected is
 * dropped: the client must see whole messages only.
 */
static void
session_fail(CmSession *s, const char *sqlstate, const char *message,
			 const char *detail)
{
	if (session_retry(s, sqlstate, message, detail))
		return;
	cm_conn_failed(s, sqlstate, message);
	if (s->login != NULL)
		cm_hash_forget(&s->login->hash_job);
	cm_stream_close(&s->server);
	if ((s->state == CM_SS_RELAY && !cm_msg_track_at_boundary(&s->to_client)) ||
		s->client.watch.fd < 0)
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
	cm_session_deadline_after(s, CM_CLOSING_GRACE_MS);
	session_update_interest(s);
}

void
cm_session_fail(CmSession *s, const char *sqlstate, const char *message,
				const char *detail)
{
	session_fail(s, sqlstate, message, detail);
}

/* A step failed (cm_auth.h): its LOG line, then the client's FATAL error. */
void
cm_session_step_failed(CmSession *s, const CmStepFailure *fail)
{
	if (fail->log[0] != '\0')
		ereport(LOG, (errmsg("%s", fail->log),
					  fail->log_detail[0] != '\0'
						  ? errdetail("%s", fail->log_detail)
						  : 0));
	session_fail(s, fail->sqlstate, fail->message,
				 fail->detail[0] != '\0' ? fail->detail : NULL);
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
		cm_session_deadline_after(s, CM_CLOSING_GRACE_MS);
		session_update_interest(s);
		return;
	}
	session_close(s);
}

/*
 * Whether the state reads what a side sends.  The client is not read from
 * authentication until the relay: what it sent meanwhile waits (held, in
 * the socket, or decrypted in OpenSSL) and goes on behind the held bytes,
 * message boundaries tracked.
 */
static bool
session_reads(const CmSession *s, const CmStream *st)
{
	if (st == &s->client)
		return s->state == CM_SS_STARTUP || s->state == CM_SS_AUTH ||
			   (s->state == CM_SS_RELAY && !s->fencing);
	return s->state == CM_SS_LOGIN || s->state == CM_SS_RELAY;
}

/*
 * Whether what the server sent stays in its buffer for now: a read-write
 * session logging in keeps the target's login messages until ReadyForQuery
 * (see CmLogin.withhold).
 */
static bool
session_withholds(const CmSession *s)
{
	return s->login != NULL && s->login->withhold &&
		   (s->state == CM_SS_CONNECTING || s->state == CM_SS_SERVER_SSL ||
			s->state == CM_SS_SERVER_TLS || s->state == CM_SS_LOGIN);
}

/* What each socket waits for, from the state and the buffers. */
static void
session_update_interest(CmSession *s)
{
	uint32 client = 0;
	uint32 server = 0;

	if (s->state == CM_SS_CLOSED)
		return;
	/* a login too long to keep back goes on to the client, as it comes */
	if (session_withholds(s) && !cm_stream_has_room(&s->server))
		s->login->withhold = false;
	if (session_reads(s, &s->client) && cm_stream_has_room(&s->client))
		client |= CM_EV_READ;
	if (cm_stream_has_output(&s->server) && !session_withholds(s))
		client |= CM_EV_WRITE;
	if (session_reads(s, &s->server) && cm_stream_has_room(&s->server))
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

/* Re-computes what the sockets wait for after a change made outside an event. */
void
cm_session_update(CmSession *s)
{
	if (s->state != CM_SS_CLOSED)
		session_update_interest(s);
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
	l->auth_method = -1;
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

/* ------------------------------------------------------------------------
 * Where it goes
 * ------------------------------------------------------------------------
 */

static void
session_route(CmSession *s)
{
	CmLogin *l = s->login;
	const char *reason;
	int64 now = cm_now_ms();

	if (l->wait_until == 0)
		l->wait_until = now + Max(cm_leader_wait_timeout, 0);
	switch (cm_route_choose(s->port, &l->target, &reason))
	{
		case CM_ROUTE_TARGET:
			s->hold = cm_route_hold(s->port, &l->target);
			if (s->hold == NULL)
			{
				session_fail(s, "53200", "out of memory", NULL);
				return;
			}
			l->withhold =
				s->port == CM_PORT_READ_WRITE && cm_leader_wait_timeout > 0;
			cm_server_connect(s);
			return;
		case CM_ROUTE_REFUSED:
			session_fail(s, "57P03", "no read-only target is available", reason);
			return;
		case CM_ROUTE_NO_LEADER:
			if (s->state == CM_SS_WAIT_TARGET)
				return;
			if (cm_leader_wait_timeout <= 0)
			{
				session_fail(s, "57P03", "no write leader is available", reason);
				return;
			}
			s->state = CM_SS_WAIT_TARGET;
			cm_session_deadline_after(s, Max(l->wait_until - now, 0));
			session_update_interest(s);
			return;
	}
}

/* Failures that say the target is not (or no longer) the one to use. */
static bool
session_failure_is_target(const char *sqlstate)
{
	return strcmp(sqlstate, "08006") == 0 || strcmp(sqlstate, "57P03") == 0 ||
		   strcmp(sqlstate, "57P01") == 0;
}

/*
 * A read-write login failed because of its target (down, shutting down,
 * not a primary, fenced) before the client saw anything of it: the attempt
 * is undone and the session waits for the routing to name a target again,
 * within leader_wait_timeout of its first try.  True when it does.
 */
static bool
session_retry(CmSession *s, const char *sqlstate, const char *message,
			  const char *detail)
{
	CmLogin *l = s->login;

	if (!session_withholds(s) || !session_failure_is_target(sqlstate) ||
		cm_now_ms() >= l->wait_until)
		return false;
	ereport(LOG,
			(errmsg("connection_manager: a read-write login left target \"%s\" to wait for the next one",
					l->target.name),
			 errdetail("%s", message)));
	strlcpy(l->retry_sqlstate, sqlstate, sizeof(l->retry_sqlstate));
	strlcpy(l->retry_message, message, sizeof(l->retry_message));
	strlcpy(l->retry_detail, detail ? detail : "", sizeof(l->retry_detail));
	cm_stream_close(&s->server);
	cm_stream_clear(&s->server);
	cm_stream_clear(&s->client);
	if (s->counts_server)
		pg_atomic_fetch_sub_u32(servers_counter(s), 1);
	s->counts_server = false;
	if (s->slot >= 0)
		cm_slot_release(s->slot);
	s->slot = -1;
	cm_route_unhold(s->hold);
	s->hold = NULL;
	l->withhold = false;
	l->lock_confirmed = false;
	l->primary_confirmed = false;
	s->state = CM_SS_WAIT_TARGET;
	cm_session_deadline_after(s, l->wait_until - cm_now_ms());
	session_update_interest(s);
	return true;
}

/* The client proved itself: find its target. */
void
cm_session_authenticated(CmSession *s)
{
	cm_conn_authenticated(s);
	session_route(s);
}

/*
 * The session's target is no longer where its port sends sessions: nothing
 * more of the client's reaches the server, and the session ends with a
 * FATAL error at once when the client got the server's messages whole, or
 * once the message on its way is (within the closing grace).
 */
static void
session_fence(CmSession *s)
{
	char message[256];
	char detail[CM_REASON_LEN + 128];
	const char *more = NULL;

	cm_route_fence_reason(s->hold, message, sizeof(message), detail,
						  sizeof(detail));
	if (s->state != CM_SS_RELAY)
	{
		session_fail(s, "57P01", message, detail);
		return;
	}
	cm_stream_clear(&s->client);
	if (!cm_msg_track_at_boundary(&s->to_client))
	{
		if (!s->fencing)
		{
			s->fencing = true;
			cm_session_deadline_after(s, CM_CLOSING_GRACE_MS);
			session_update_interest(s);
		}
		return;
	}
	if (cm_msg_track_waiting(&s->to_server, &s->to_client))
	{
		more = " The outcome of the statement in progress is unknown.";
		/* what still runs there is stopped, if it can be */
		if (s->slot >= 0)
			cm_cancel_session(s->slot);
	}
	else if (s->to_client.status != 'I')
		more = " Its open transaction is rolled back.";
	if (more != NULL)
		strlcat(detail, more, sizeof(detail));
	cm_conn_ended(s, message);
	session_fail(s, "57P01", message, detail);
}

/*
 * Ends the sessions whose target is no longer current, and logs how many
 * once per port.
 */
static void
session_fence_stale(void)
{
	dlist_mutable_iter iter;
	int fenced[CM_PORT_KINDS] = {0};

	if (!cm_route_judge_holds())
		return;
	dlist_foreach_modify (iter, &sessions)
	{
		CmSession *s = dlist_container(CmSession, node, iter.cur);

		if (s->hold == NULL || s->hold->current || s->fencing ||
			s->state == CM_SS_CLOSED)
			continue;
		if (s->state == CM_SS_CLOSING)
		{
			/*
			 * Draining after the client left: what it sent last must not
			 * reach the stale target either.
			 */
			if (cm_stream_has_output(&s->client))
			{
				cm_stream_clear(&s->client);
				session_update_interest(s);
			}
			continue;
		}
		fenced[s->port]++;
		cm_stat_add(s->port, CM_C_FENCED, 1);
		session_fence(s);
	}
	for (int port = 0; port < CM_PORT_KINDS; port++)
		if (fenced[port] > 0)
			ereport(LOG,
					(errmsg("connection_manager: ending %d %s session(s) whose target is no longer current",
							fenced[port],
							port == CM_PORT_READ_ONLY ? "read-only"
													  : "read-write")));
}

/*
 * The routing state changed: open sessions whose target is no longer
 * current are fenced, and sessions waiting for a leader try again.
 */
void
cm_session_routing_changed(void)
{
	dlist_mutable_iter iter;

	session_fence_stale();
	dlist_foreach_modify (iter, &sessions)
	{
		CmSession *s = dlist_container(CmSession, node, iter.cur);

		if (s->state == CM_SS_WAIT_TARGET)
			session_route(s);
	}
}

/* The monitor did not renew the read-write routing in time. */
void
cm_session_fence_expired(void)
{
	session_fence_stale();
}

/*
 * Passes on what a relayed side sent, message boundaries tracked; with
 * stop_at_end, only up to the end of the message on its way.  False when
 * the side broke the protocol's framing (the session has then ended).
 */
static bool
session_track(CmSession *s, CmStream *st, bool stop_at_end)
{
	bool from_client = st == &s->client;
	CmMsgTrack *t = from_client ? &s->to_server : &s->to_client;
	uint32 len;
	uint8 *p = cm_stream_unscanned(st, &len);
	uint32 took;

	if (len == 0)
		return true;
	took = (uint32) cm_msg_track_scan(t, p, len, stop_at_end);
	cm_stream_pass(st, took);
	cm_stat_add(s->port, from_client ? CM_C_BYTES_IN : CM_C_BYTES_OUT, took);
	if (!t->broken)
		return true;
	if (from_client)
		session_fail(s, "08P01", "invalid message length", NULL);
	else
	{
		ereport(LOG,
				(errmsg("connection_manager: a server sent an invalid message length"),
				 errdetail("The session was closed.")));
		session_close(s);
	}
	return false;
}

/*
 * ReadyForQuery ended the login: bytes flow both ways from now on, first
 * what the server sent behind it and what the client sent meanwhile.
 */
void
cm_session_relay(CmSession *s)
{
	uint8 *held;
	uint32 held_len;

	if (s->state == CM_SS_CLOSED)
		return;
	cm_msg_track_init(&s->to_server, false);
	cm_msg_track_init(&s->to_client, true);
	s->state = CM_SS_RELAY;
	cm_conn_relaying(s);
	session_no_deadline(s);
	held = s->login->held;
	held_len = s->login->held_len;
	s->login->held = NULL;
	s->login->held_len = 0;
	session_login_end(s);
	if (!session_track(s, &s->server, false))
		goto out;
	if (held != NULL)
	{
		(void) cm_msg_track_scan(&s->to_server, held, held_len, false);
		if (s->to_server.broken)
			session_fail(s, "08P01", "invalid message length", NULL);
		else
			session_queue(s, &s->client, held, held_len);
	}
out:
	if (held != NULL)
		explicit_bzero(held, held_len);
	free(held);
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------
 */

/*
 * A side went away (EOF, an error): what was read still goes to the other
 * side, except while logging into the server, where the client gets the
 * server's whole messages, then an error.
 */
static void
session_side_lost(CmSession *s, CmStream *st)
{
	cm_stream_close(st);
	if (st == &s->server && s->state == CM_SS_LOGIN)
	{
		cm_server_scan_login(s);
		if (s->state == CM_SS_LOGIN)
			session_fail(s, "08006",
						 "the connection to the server was lost during login",
						 NULL);
		else if (s->state == CM_SS_RELAY)
			session_drain_and_close(s);
		return;
	}
	session_drain_and_close(s);
}

/* Writing to a side failed: nothing more can reach it. */
static void
session_side_broken(CmSession *s, CmStream *st)
{
	if (st == &s->server && s->state == CM_SS_LOGIN)
		session_fail(s, "08006",
					 "the connection to the server was lost during login", NULL);
	else
		session_close(s);
}

/*
 * What was just read from a side: the client's first packets and
 * passwords, the server's login, or, relaying, bytes for the other side.
 * While relaying, they are written on at once: most of the time they all
 * go, and the other socket never has to be watched for room.
 */
static void
session_input(CmSession *s, CmStream *st, CmStream *peer)
{
	bool from_client = st == &s->client;

	if (from_client && (s->state == CM_SS_STARTUP || s->state == CM_SS_AUTH))
	{
		cm_client_input(s);
		return;
	}
	if (!from_client && s->state == CM_SS_LOGIN)
	{
		cm_server_scan_login(s);
		return;
	}
	if (s->state != CM_SS_RELAY)
	{
		cm_stat_add(s->port, from_client ? CM_C_BYTES_IN : CM_C_BYTES_OUT,
					cm_stream_pass_all(st));
		return;
	}
	if (from_client && s->fencing)
	{
		cm_stream_clear(st);
		return;
	}
	if (!session_track(s, st, s->fencing))
		return;
	if (s->fencing)
	{
		/* the message on its way is whole: nothing after it goes */
		if (cm_msg_track_at_boundary(&s->to_client))
		{
			cm_stream_drop_unscanned(st);
			session_fence(s);
			return;
		}
	}
	if (peer->watch.fd >= 0 && !cm_stream_forward(st, peer))
		session_close(s);
}

/*
 * An event on one side's socket, the same for both: an error ends that
 * side, room lets what the other side sent go on, bytes in are read.
 */
static void
session_on_stream(CmSession *s, CmStream *st, CmStream *peer, uint32 events)
{
	/* an error, or a hang-up we are not reading towards, ends the side */
	if ((events & EPOLLERR) ||
		((events & EPOLLHUP) && !(st->watch.events & CM_EV_READ)))
	{
		session_side_lost(s, st);
		return;
	}
	if ((events & (CM_EV_WRITE | CM_EV_ERROR)) &&
		!(st == &s->client && session_withholds(s)) &&
		!cm_stream_forward(peer, st))
	{
		session_side_broken(s, st);
		return;
	}
	if (s->state == CM_SS_TLS_START)
	{
		/* 'S' has left: the handshake starts on the bare socket */
		if (!cm_stream_has_output(&s->server))
			cm_client_tls_begin(s, NULL, 0);
		return;
	}
	/*
	 * Bytes OpenSSL already decrypted are read whatever epoll says, but
	 * only in a state that reads the side.
	 */
	if (!session_reads(s, st) || !cm_stream_should_read(st, events))
		return;
	if (!cm_stream_read(st))
	{
		session_side_lost(s, st);
		return;
	}
	session_input(s, st, peer);
}

static void
session_on_client(CmSession *s, uint32 events)
{
	if (s->state == CM_SS_TLS_HANDSHAKE)
	{
		if (events & (CM_EV_READ | CM_EV_WRITE | CM_EV_ERROR))
			cm_client_tls_step(s);
		return;
	}
	session_on_stream(s, &s->client, &s->server, events);
}

static void
session_on_server(CmSession *s, uint32 events)
{
	if (cm_server_connecting_event(s, &events))
		return;
	session_on_stream(s, &s->server, &s->client, events);
}

/* After an event on either side: what is left over, then what to watch. */
static void
session_after_event(CmSession *s)
{
	/*
	 * bytes OpenSSL holds (read ahead behind the handshake, or decrypted
	 * and too many for the buffer last time): read them now
	 */
	if (s->state != CM_SS_CLOSED && s->client.tls_pending &&
		cm_stream_has_room(&s->client) && session_reads(s, &s->client))
		session_on_client(s, CM_EV_READ);
	if (s->state != CM_SS_CLOSED && s->server.tls_pending &&
		cm_stream_has_room(&s->server) && session_reads(s, &s->server))
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
			/* the last target's own failure, when one was tried */
			if (s->login->retry_sqlstate[0] != '\0')
				session_fail(s, s->login->retry_sqlstate,
							 s->login->retry_message,
							 s->login->retry_detail[0] != '\0'
								 ? s->login->retry_detail
								 : NULL);
			else
				session_fail(s, "57P03", "no write leader is available",
							 cm_route_no_leader_reason());
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
