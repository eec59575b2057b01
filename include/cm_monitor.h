/*
 * cm_monitor.h
 *		The monitor worker's parts: the node list (nodes.c), the probes of
 *		the nodes (probe.c), the HTTP server (http_server.c) and its answers
 *		(http_api.c), the cluster as they tell it (monitor_status.c), and the
 *		loop that drives them (worker.c), which nothing here calls.  All of
 *		it runs in one process, on the event loop of cm_event.h; nothing
 *		here may block.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_MONITOR_H
#define CM_MONITOR_H

#include <sys/socket.h>

#include "cm_cluster.h"
#include "cm_event.h"
#include "cm_shmem.h"
#include "cm_status.h"

/*
 * io.c: sends or receives on a monitor socket, through TLS when tls is
 * set; on a wait, the watch is set to the direction TLS or the socket needs.
 */
struct CmTls;
extern ssize_t cm_mon_io(CmWatch *w, struct CmTls *tls, bool sending,
						 void *buf, size_t len, bool *again);

/* nodes.c: the node list as last read, and where each node is */
typedef struct CmMonNodes
{
	int n;
	CmNodeConf conf[CM_MAX_NODES];
	CmTarget target[CM_MAX_NODES]; /* PostgreSQL: where sessions go */
	struct sockaddr_storage http[CM_MAX_NODES]; /* where its state is read */
	socklen_t http_len[CM_MAX_NODES];			/* 0: none */
	bool self[CM_MAX_NODES]; /* this monitor answered there */
} CmMonNodes;

extern CmMonNodes cm_mon_nodes;
extern bool cm_mon_nodes_set(const char *text);
extern void cm_mon_nodes_resolve(bool keep_old);
extern void cm_mon_nodes_note_self(const CmNodeState *states, uint64 instance);
extern void cm_mon_nodes_peers(CmRouting *r);
extern bool cm_mon_is_node_address(const struct sockaddr_storage *addr);

/* What the HTTP answers are built from; refreshed by the loop. */
typedef struct CmMonView
{
	CmRouting routing;	 /* as last published */
	CmNodeState self;	 /* this node, as it serves itself */
	bool self_is_leader; /* in the decision of the nodes, or alone */
} CmMonView;

/* monitor_status.c: the cluster as the HTTP answers and views tell it */
extern CmMonView cm_mon_view;
extern CmStatusView cm_mon_status;
extern void cm_mon_status_count_http(bool from_node, bool refused);
extern void cm_mon_status_reset_probes(void);
extern void cm_mon_status_alone(const CmRouting *r, const CmNodeState *self);
extern void
cm_mon_status_round(const CmNodeConf *conf, const CmNodeState *states,
					const double *probe_ms, int n, const CmClusterDecision *d,
					uint64 instance, const CmRouting *r, uint32 timeline_mark);
extern void cm_mon_status_fill(CmStatusView *out);
extern const CmStatusNode *cm_mon_status_self(void);
extern bool cm_mon_is_replica(int64 max_lag);
extern bool cm_mon_is_leader(void);
extern bool cm_mon_is_alive(void);

/* An answer of the HTTP port, before framing. */
typedef struct CmHttpAnswer
{
	int status;
	const char *type;		   /* Content-Type */
	const char *extra_headers; /* whole lines, each ending in CRLF */
	CmText body;
} CmHttpAnswer;

/* http_api.c: the answer to a well-formed request */
struct CmHttpRequest;
extern void cm_http_api_route(const struct CmHttpRequest *req, CmHttpAnswer *a);

/*
 * http_server.c: room for connections of each kind, and the timers the
 * server keeps at most: a deadline per connection, a pause per listener.
 * Connections closed in a turn of the loop are freed after it.
 */
#define CM_HTTP_MAX_LISTENERS  16
#define CM_HTTP_MAX_CONNS	   64 /* from addresses outside the node list */
#define CM_HTTP_MAX_PEER_CONNS 64 /* from the nodes' addresses */
#define CM_HTTP_MAX_TIMERS                                                    \
	(CM_HTTP_MAX_LISTENERS + CM_HTTP_MAX_CONNS + CM_HTTP_MAX_PEER_CONNS)

extern void cm_http_open(void);
extern void cm_http_reload(void);
extern void cm_http_close_all(void);
extern void cm_http_free_closed(void);

/*
 * probe.c: one round reads every node's /node/state.  It ends when every
 * probe has, or at its deadline, and then calls done from the loop (its
 * one timer).
 */
#define CM_PROBE_MAX_TIMERS 1
typedef void (*CmProbeRoundDone)(void);
extern void
cm_probe_round_start(const struct sockaddr_storage *addrs,
					 const socklen_t *addrlens, const CmNodeConf *conf, int n,
					 int64 deadline, CmProbeRoundDone done);
extern bool cm_probe_round_open(void);
extern void cm_probe_round_results(CmNodeState *out, int n);
extern void cm_probe_round_ms(double *out, int n);
extern void cm_probe_abort_all(void);

/* mark_file.c: the timeline mark kept across restarts */
extern bool cm_mark_load(uint32 *mark, bool log);
extern bool cm_mark_store(uint32 mark);

#endif /* CM_MONITOR_H */
