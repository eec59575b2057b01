/*
 * cm_proxy.h
 *		Inside a proxy worker: the event loop's endpoints, client sessions
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

typedef enum CmEndpointKind
{
	CM_EP_LISTENER,
	CM_EP_CLIENT,
	CM_EP_SERVER,
	CM_EP_CANCEL,
	CM_EP_HASH,	   /* the password-hashing thread's eventfd */
	CM_EP_WAKE,	   /* the monitor's eventfd: routing changed */
	CM_EP_PM_DEATH /* the postmaster's pipe */
} CmEndpointKind;

/* One file descriptor in the worker's epoll set. */
typedef struct CmEndpoint
{
	CmEndpointKind kind;
	int fd;					/* -1 when closed */
	bool registered;		/* in the epoll set */
	struct CmTls *tls;		/* TLS on this socket, or NULL */
	uint32 tls_read_wants;	/* a TLS read (or handshake) waits for this */
	uint32 tls_write_wants; /* a TLS write waits for this */
	bool tls_pending;		/* decrypted bytes that did not fit the buffer */
	uint32 events;			/* what epoll watches now */
	CmPortKind port;		/* listeners */
	void *owner;			/* session or cancel forwarder */
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
	int64 deadline_ms;	/* 0: none */
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
	int auth_method;	 /* CmHbaMethod of the rule that matched, or -1 */
	uint8 *startup;		 /* the startup packet for the server */
	uint8 *held;		 /* client bytes waiting for the target's login */
	uint32 held_len;
	uint32 startup_len;
	char user[64];
	char database[64];
	/* its password being hashed off the loop (cm_hash.h), or NULL */
	struct CmHashJob *hash_job;
} CmSession;

/* A CancelRequest on its way to a server backend. */
typedef struct CmCancel
{
	dlist_node node;
	CmEndpoint ep;
	uint8 packet[16];
	int64 deadline_ms;
	bool done;
} CmCancel;

/* worker_proxy.c: the loop's services for sessions */
extern bool cm_ev_watch(CmEndpoint *ep, uint32 events);
extern void cm_ev_forget(CmEndpoint *ep);
extern const CmRouting *cm_proxy_routing(void);

/* session.c */
extern void
cm_session_accept(int fd, CmPortKind port, const struct sockaddr_storage *addr);
extern void cm_session_handle(CmSession *s, CmEndpoint *ep, uint32 events);
extern void cm_session_routing_changed(void);
extern void cm_session_check_timeouts(int64 now);
extern void cm_session_free_closed(void);
extern void cm_session_close_all(void);
extern int cm_session_pre_startup_count(void);
extern bool cm_session_evict_pre_startup(void);

/* cancel.c */
extern bool cm_cancel_forward(int32 pid, int32 key);
extern void cm_cancel_handle(CmCancel *c, uint32 events);
extern void cm_cancel_check_timeouts(int64 now);
extern void cm_cancel_free_done(void);
extern int32 cm_cancel_pid_for_slot(int slot);

#endif /* CM_PROXY_H */
