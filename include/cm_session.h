/*
 * cm_session.h
 *		A client session of a proxy worker: its state, its two streams, and
 *		what it needs only while logging in.  session.c runs the state
 *		machine and the relay; client.c handles the client's side until the
 *		relay (first packets, TLS, authentication), server.c the server's
 *		(connecting, TLS, logging in).  Nothing here is shared between
 *		processes; shared state lives in cm_shmem.h.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_SESSION_H
#define CM_SESSION_H

#include "lib/ilist.h"

#include "cm_event.h"
#include "cm_listener.h"
#include "cm_msg_track.h"
#include "cm_shmem.h"
#include "cm_stream.h"

typedef enum CmSessionState
{
	CM_SS_STARTUP,		 /* reading the client's first packets */
	CM_SS_TLS_START,	 /* 'S' sent, waiting for it to leave */
	CM_SS_TLS_HANDSHAKE, /* TLS handshake with the client */
	CM_SS_AUTH,			 /* the client proves itself to us */
	CM_SS_WAIT_TARGET,	 /* no write leader yet: waiting */
	CM_SS_CONNECTING,	 /* connecting to the target node */
	CM_SS_SERVER_SSL,	 /* our SSLRequest to the server, its answer */
	CM_SS_SERVER_TLS,	 /* TLS handshake with the server */
	CM_SS_LOGIN,		 /* server authenticates; until ReadyForQuery */
	CM_SS_RELAY,		 /* bytes both ways */
	CM_SS_CLOSING,		 /* flushing what is left, then closing */
	CM_SS_CLOSED		 /* freed at the end of the loop turn */
} CmSessionState;

struct CmSession;
struct CmStepFailure;

/* What only logging in needs: freed when the session starts relaying. */
typedef struct CmLogin
{
	struct CmSession *session;
	dlist_node pre_startup_node; /* while no startup packet came */
	bool pre_startup;			 /* in that list */
	bool ssl_requested;
	bool gss_requested;
	bool lock_confirmed; /* read-only port: server reported the lock */
	/* read-write port: server reported in_hot_standby = off */
	bool primary_confirmed;
	CmTarget target;
	struct sockaddr_storage client_sockaddr;
	char client_addr[64];
	char user[64];
	char database[64];
	struct CmAuth *auth; /* pre-authentication, then the credential */
	int auth_method;	 /* CmHbaMethod of the rule that matched, or -1 */
	/* its password being hashed off the loop (cm_hash.h), or NULL */
	struct CmHashJob *hash_job;
	uint8 *startup; /* the startup packet for the server */
	uint32 startup_len;
	uint8 *held; /* client bytes waiting for the target's login */
	uint32 held_len;
} CmLogin;

/*
 * A client session.  Each stream's buffer holds what was read from its
 * socket for the other side, and our own messages for the other side go
 * behind them: errors and authentication requests for the client into the
 * server stream's buffer, answers for the server into the client's.
 */
typedef struct CmSession
{
	dlist_node node;
	CmSessionState state;
	CmPortKind port;
	CmStream client;
	CmStream server;
	CmTimer timer;		/* the state's deadline; parked at "never" */
	bool counts_client; /* holds one of clients: startup packet in */
	bool counts_server; /* holds one of servers */
	int slot;			/* session slot index, -1 if none */
	int conn_row;		/* its row in cm_stats.h's table, -1 if none */
	bool fencing;		/* target no longer current: ending at a boundary */
	CmLogin *login;		/* until the relay starts */
	struct CmRouteHold *hold; /* its target, from routing on (cm_route.h) */
	CmMsgTrack to_server;	  /* relaying: the client's messages */
	CmMsgTrack to_client;	  /* relaying: the server's messages */
} CmSession;

/* the worker's side */
extern void
cm_session_accept(int fd, CmPortKind port, const struct sockaddr_storage *addr);
extern void cm_session_routing_changed(void);
extern void cm_session_fence_expired(void);
extern void cm_session_free_closed(void);
extern void cm_session_close_all(void);
extern int cm_session_pre_startup_count(void);
extern bool cm_session_evict_pre_startup(void);

/* for client.c and server.c */
extern void cm_session_fail(CmSession *s, const char *sqlstate,
							const char *message, const char *detail);
extern void
cm_session_step_failed(CmSession *s, const struct CmStepFailure *fail);
extern void cm_session_close(CmSession *s);
extern void cm_session_send_client(CmSession *s, const uint8 *msg, size_t len);
extern void cm_session_send_server(CmSession *s, const uint8 *msg, size_t len);
extern void cm_session_deadline_after(CmSession *s, int64 ms);
extern void cm_session_startup_done(CmSession *s);
extern bool cm_session_take_client(CmSession *s);
extern bool cm_session_take_server(CmSession *s);
extern void cm_session_authenticated(CmSession *s);
extern void cm_session_relay(CmSession *s);
extern void cm_session_update(CmSession *s);

#endif /* CM_SESSION_H */
