/*
 * cm_monitor.h
 *		The monitor worker's event loop, shared by its parts: the HTTP
 *		server (http_server.c), the probes of the nodes (probe.c) and the
 *		loop itself (worker_monitor.c).  Everything runs in one process and
 *		one epoll set; nothing here may block.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_MONITOR_H
#define CM_MONITOR_H

#include <sys/socket.h>

#include "cm_cluster.h"
#include "cm_shmem.h"
#include "cm_status.h"

/*
 * Something the monitor's epoll set watches: a socket and its handler.  A
 * handler may close other objects than its own: it then sets their handler
 * to NULL and frees them only after the batch (dispatch skips NULL).
 */
typedef struct CmMonEvent
{
	int fd;
	void (*handler)(struct CmMonEvent *ev, uint32 events);
} CmMonEvent;

extern bool cm_mon_watch(CmMonEvent *ev, uint32 events);
extern void cm_mon_modify(CmMonEvent *ev, uint32 events);
extern void cm_mon_forget(CmMonEvent *ev); /* and closes the fd */
struct CmTls;
extern ssize_t cm_mon_io(CmMonEvent *ev, struct CmTls *tls, bool sending,
						 void *buf, size_t len, bool *again);

/* What the HTTP answers are built from; refreshed by the loop. */
typedef struct CmMonView
{
	CmRouting routing;	 /* as last published */
	CmNodeState self;	 /* this node, as it serves itself */
	bool self_is_leader; /* in the decision of the nodes, or alone */
} CmMonView;

extern CmMonView cm_mon_view;

/* worker_monitor.c: is this an address of a node of the list? */
extern bool cm_mon_is_node_address(const struct sockaddr_storage *addr);

/* monitor_status.c: the cluster as the HTTP answers and views tell it */
extern CmStatusView cm_mon_status;
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

/* http_server.c */
extern void cm_http_open(void);
extern void cm_http_reload(void);
extern void cm_http_close_all(void);
extern void cm_http_check_timeouts(int64 now);
extern void cm_http_free_closed(void);
extern void cm_http_counters(uint64 *accepted, uint64 *refused);

/* probe.c: one round reads every node's /node/state */
extern void
cm_probe_round_start(const struct sockaddr_storage *addrs,
					 const socklen_t *addrlens, const CmNodeConf *conf, int n);
extern bool cm_probe_round_pending(void);
extern void cm_probe_round_results(CmNodeState *out, int n);
extern void cm_probe_round_ms(double *out, int n);
extern void cm_probe_abort_all(void);

/* mark_file.c: the timeline mark kept across restarts */
extern bool cm_mark_load(uint32 *mark, bool log);
extern bool cm_mark_store(uint32 mark);

#endif /* CM_MONITOR_H */
