/*
 * cm_monitor.h
 *		The monitor worker's event loop, shared by its parts: the HTTP
 *		server (http_server.c), the probes of the nodes (probe.c) and the
 *		loop itself (worker_monitor.c).  Everything runs in one process and
 *		one epoll set; nothing here may block.
 */
#ifndef CM_MONITOR_H
#define CM_MONITOR_H

#include <sys/socket.h>

#include "cm_cluster.h"
#include "cm_shmem.h"

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

/* What the HTTP answers are built from; refreshed by the loop. */
typedef struct CmMonView
{
	CmRouting routing;	 /* as last published */
	CmNodeState self;	 /* this node, as it serves itself */
	bool self_is_leader; /* in the decision of the nodes, or alone */
} CmMonView;

extern CmMonView cm_mon_view;

/* http_server.c */
extern void cm_http_open(void);
extern void cm_http_close_all(void);
extern void cm_http_check_timeouts(int64 now);
extern void cm_http_free_closed(void);

/* probe.c: one round reads every node's /node/state */
extern void cm_probe_round_start(const struct sockaddr_storage *addrs,
								 const socklen_t *addrlens, int n);
extern bool cm_probe_round_pending(void);
extern void cm_probe_round_results(CmNodeState *out, int n);
extern void cm_probe_abort_all(void);

/* mark_file.c: the timeline mark kept across restarts */
extern uint32 cm_mark_load(void);
extern bool cm_mark_store(uint32 mark);

#endif /* CM_MONITOR_H */
