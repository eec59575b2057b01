/*
 * cm_proxy.h
 *		Inside a proxy worker: the sockets of sessions, client sessions
 *		and forwarded cancel requests.  Nothing here is shared between
 *		processes; shared state lives in cm_shmem.h.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_PROXY_H
#define CM_PROXY_H

#include "lib/ilist.h"

#include "cm_event.h"
#include "cm_listener.h"
#include "cm_shmem.h"

#define CM_BUF_SIZE 16384

/* One socket of a session: its watch in the loop, and TLS over it. */
typedef struct CmEndpoint
{
	CmWatch watch;			/* fd -1 when closed */
	struct CmTls *tls;		/* TLS on this socket, or NULL */
	uint32 tls_read_wants;	/* a TLS read (or handshake) waits for this */
	uint32 tls_write_wants; /* a TLS write waits for this */
	bool tls_pending;		/* decrypted bytes that did not fit the buffer */
} CmEndpoint;

/*
 * Bytes flowing one way.  [start, scan) may be sent on; [scan, end) has
 * been read but not yet inspected (a message split across reads while the
 * session logs in).  Once relaying, scan follows end.
 */
typedef struct CmBuf
{
	uint32 start;
	uint32 scan;
	uint32 end;
	uint8 data[CM_BUF_SIZE];
} CmBuf;

typedef enum CmSessionState
{
	CM_SS_STARTUP,
	CM_SS_TLS_START, /* 'S' sent, waiting for it to leave */
	CM_SS_TLS_HANDSHAKE,
	/* TLS handshake with the client */ /* reading the client's first packets */ CM_SS_AUTH, /* the client proves itself to us */
	CM_SS_WAIT_TARGET, /* no write leader yet: waiting */
	CM_SS_CONNECTING,
	/* connecting to the target node */ CM_SS_SERVER_SSL, /* our SSLRequest to the server, its answer */
	CM_SS_SERVER_TLS, /* TLS handshake with the server */
	CM_SS_LOGIN,	  /* server authenticates; until ReadyForQuery */
	CM_SS_RELAY,	  /* bytes both ways */
	CM_SS_CLOSING,	  /* flushing what is left, then closing */
	CM_SS_CLOSED	  /* freed at the end of the loop turn */
} CmSessionState;

typedef struct CmSession
{
	dlist_node node;
	CmSessionState state;
	CmPortKind port;
	CmEndpoint client;
	CmEndpoint server;
	CmBuf c2s;
	CmBuf s2c;
	CmTimer timer;		/* the state's deadline; parked at "never" */
	bool counts_client; /* holds one of clients: startup packet in */
	bool pre_startup;	/* in the list of sessions awaiting it */
	dlist_node pre_startup_node;
	bool counts_server; /* holds one of rw_servers */
	bool ssl_requested;
	bool gss_requested;
	bool lock_confirmed; /* read-only port: server reported the lock */
	int slot;			 /* session slot index, -1 if none */
	int conn_row;		 /* its row in cm_stats.h's table, -1 if none */
	CmTarget target;
	struct sockaddr_storage client_sockaddr;
	char client_addr[64];
	struct CmAuth *auth; /* pre-authentication, then the credential */
	uint8 *startup;		 /* the startup packet for the server */
	void *hash_job;		 /* a password being hashed for it, or NULL */
	uint8 *held;		 /* client bytes waiting for the target's login */
	uint32 held_len;
	uint32 startup_len;
	char user[64];
	char database[64];
} CmSession;

/* A CancelRequest on its way to a server backend. */
typedef struct CmCancel
{
	dlist_node node;
	CmWatch watch;
	CmTimer timer;
	uint8 packet[16];
	bool done;
} CmCancel;

/* worker.c */
extern const CmRouting *cm_proxy_routing(void);

/* session.c */
extern void
cm_session_accept(int fd, CmPortKind port, const struct sockaddr_storage *addr);
extern void cm_session_routing_changed(void);
extern void cm_session_free_closed(void);
extern void cm_session_close_all(void);
extern int cm_session_pre_startup_count(void);
extern bool cm_session_evict_pre_startup(void);

extern void cm_session_fail(CmSession *s, const char *sqlstate,
							const char *message, const char *detail);
extern void cm_session_send_client(CmSession *s, const uint8 *msg, size_t len);
extern void cm_session_send_server(CmSession *s, const uint8 *msg, size_t len);
extern void cm_session_authenticated(CmSession *s);
extern void cm_session_update(CmSession *s);

/* cancel.c */
extern bool cm_cancel_forward(int32 pid, int32 key);
extern void cm_cancel_free_done(void);
extern int32 cm_cancel_pid_for_slot(int slot);

#endif /* CM_PROXY_H */
