/*
 * cm_stats.h
 *		Statistics in shared memory: counters of each proxy worker, the
 *		table of client sessions each worker serves, server connections per
 *		target node, which backends are locked read-only, and the cluster
 *		view the monitor publishes.  Read by the monitor (/status,
 *		/metrics) and by the SQL views, never waited for by a proxy worker.
 *
 * Locking: none on the proxy's path.  Every row has one writer, its
 * worker; counters are 64-bit atomics that the writer bumps with a plain
 * read and write (no locked instruction) and readers sum.  A session row
 * and the published view are seqlocks: the writer makes a change count
 * odd while it writes, and a reader copies between two equal even counts,
 * retrying a bounded number of times.
 *
 * The proxy side is a handful of one-line calls at the points of a
 * session's life (cm_conn_*), so that the session code stays as it is;
 * they also write the optional connection log lines
 * (connection_manager.log_connections).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_STATS_H
#define CM_STATS_H

#include "cm_port.h"
#include "cm_status.h"

struct CmSession;

/* What a session is doing, as the connections view shows it. */
typedef enum CmConnState
{
	CM_CONN_STARTUP,		/* first packets, TLS */
	CM_CONN_AUTHENTICATING, /* proving itself to the manager */
	CM_CONN_ROUTING,		/* waiting for a target */
	CM_CONN_CONNECTING,		/* connecting and logging into the target */
	CM_CONN_ACTIVE,			/* handed over: bytes relayed */
	CM_CONN_CLOSING
} CmConnState;

/* One client session, as read from the table. */
typedef struct CmConnInfo
{
	int worker;
	CmPortKind port;
	CmConnState state;
	bool tls;
	int client_port;
	int backend_pid; /* the target backend, 0 until known */
	int64 since;	 /* TimestampTz of the accept */
	char client_addr[48];
	char user[64];
	char database[64];
	char target_node[CM_NODE_NAME_LEN];
	char target_address[CM_STATUS_KEY_LEN];
} CmConnInfo;

/* _PG_init, in the postmaster: ask for the shared memory. */
extern void cm_stats_install_hooks(void);
/* A proxy worker starts: its sessions and server connections are gone. */
extern void cm_stats_worker_start(int worker);

/* Proxy workers: counters of the calling worker. */
extern void cm_stat_add(CmPortKind port, CmCounter counter, uint64 n);

/* Proxy workers: a session's life. */
extern void cm_conn_open(struct CmSession *s);
extern void cm_conn_startup(struct CmSession *s);
extern void cm_conn_authenticated(struct CmSession *s);
extern void
cm_conn_failed(struct CmSession *s, const char *sqlstate, const char *message);
extern void cm_conn_target(struct CmSession *s);
extern void cm_conn_relaying(struct CmSession *s);
extern void cm_conn_close(struct CmSession *s);
extern void cm_conn_ended(struct CmSession *s, const char *how);

/* Backends: this session is locked read-only (readonly.c). */
extern void cm_stats_note_read_only(void);
extern bool cm_stats_backend_read_only(int pid);

/* Readers: sums over the workers (gauges come from cm_shmem.h). */
extern void cm_stats_sum(CmPortStats out[CM_STATUS_PORTS]);
extern int cm_stats_node_counters(CmNodeCounters *out, int max);
/* Every session in use; palloc'd array, count in *n. */
extern CmConnInfo *cm_stats_connections(int *n);
extern const char *cm_conn_state_name(CmConnState state);

/* The monitor publishes its view; anyone reads the last one. */
extern void cm_status_publish(const CmStatusView *v);
extern bool cm_status_read(CmStatusView *out);

#endif /* CM_STATS_H */
