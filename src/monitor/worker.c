/*
 * monitor/worker.c
 *		Main of the monitor worker.  Every probe_interval it describes this
 *		node; alone (nodes empty), that description is the routing state.
 *		With nodes set, it then reads every node's state over HTTP (this
 *		node's too, through its own HTTP port), decides the write leader and
 *		the read-only pool, and publishes the result in shared memory, which
 *		wakes the proxy workers.  It also serves the HTTP port.  Routing
 *		changes are logged with their reason.
 *
 * One loop, one epoll set for the HTTP server and the probes, waited on
 * inside a WaitEventSet with the latch (signals) and postmaster death.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "cm_guc.h"
#include "cm_monitor.h"
#include "cm_node_state.h"
#include "cm_event.h"
#include "cm_tls.h"
#include "cm_worker.h"

#define CM_MON_EPOLL_BATCH 32
#define CM_MON_MAX_WAIT_MS                                                    \
	1000 /* HTTP deadlines are swept at least this often */

CmMonView cm_mon_view;

static int epoll_fd = -1;

/* The nodes setting as last parsed, and each node's resolved addresses. */
static char *nodes_text = NULL;
static CmNodeConf nodes[CM_MAX_NODES];
static int nnodes = 0;
static CmTarget node_target[CM_MAX_NODES];
static struct sockaddr_storage node_http[CM_MAX_NODES];
static socklen_t node_http_len[CM_MAX_NODES];

static uint64 instance;			 /* this monitor's run, served as "instance" */
static uint32 timeline_mark = 0; /* highest timeline seen, ever */
static uint32 stored_mark = 0;	 /* as last written to its file */
static bool mark_damaged = false; /* its file is unreadable: no leader */
static CmVote vote;				  /* what this node votes for (cm_cluster.h) */
static uint32 logged_mark = 0;	  /* as last logged */
static int64 next_tick = 0;
static MemoryContext work_cxt = NULL; /* reset at every loop iteration */
static CmRouting described;			  /* this node at the last tick */
static bool round_active = false;
static int64 round_started = 0;	 /* the tick that sent the probes */
static int64 round_deadline = 0; /* probes still out then are unreachable */
static bool resolve_pending = false; /* a reload asked for fresh addresses */

bool
cm_mon_watch(CmMonEvent *ev, uint32 events)
{
	struct epoll_event e;

	e.events = events;
	e.data.ptr = ev;
	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, ev->fd, &e) == 0;
}

void
cm_mon_modify(CmMonEvent *ev, uint32 events)
{
	struct epoll_event e;

	e.events = events;
	e.data.ptr = ev;
	(void) epoll_ctl(epoll_fd, EPOLL_CTL_MOD, ev->fd, &e);
}

/*
 * Sends or receives on a monitor socket, through TLS when tls is set: >0
 * bytes, 0 at the end, or -1: an error, or with *again a wait, for which
 * the event now watches the direction TLS or the socket needs.
 */
ssize_t
cm_mon_io(CmMonEvent *ev, CmTls *tls, bool sending, void *buf, size_t len,
		  bool *again)
{
	ssize_t n;

	*again = false;
	if (tls)
	{
		CmTlsStatus st;

		n = sending ? cm_tls_write(tls, buf, len, &st)
					: cm_tls_read(tls, buf, len, &st);
		if (n >= 0)
			return n;
		if (st == CM_TLS_WANT_READ || st == CM_TLS_WANT_WRITE)
		{
			*again = true;
			cm_mon_modify(ev, st == CM_TLS_WANT_READ ? EPOLLIN : EPOLLOUT);
			return -1;
		}
		return st == CM_TLS_CLOSED ? 0 : -1;
	}
	for (;;)
	{
		n = sending ? send(ev->fd, buf, len, MSG_NOSIGNAL)
					: recv(ev->fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			*again = true;
			cm_mon_modify(ev, sending ? EPOLLOUT : EPOLLIN);
		}
		return n;
	}
}

void
cm_mon_forget(CmMonEvent *ev)
{
	if (ev->fd < 0)
		return;
	(void) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, ev->fd, NULL);
	close(ev->fd);
	ev->fd = -1;
}

/* Same IP address (the port aside)? */
static bool
same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
			   ((const struct sockaddr_in *) b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr,
					  &((const struct sockaddr_in6 *) b)->sin6_addr,
					  sizeof(struct in6_addr)) == 0;
	return false;
}

bool
cm_mon_is_node_address(const struct sockaddr_storage *addr)
{
	for (int i = 0; i < nnodes; i++)
		if (node_target[i].valid && same_ip(&node_target[i].addr, addr))
			return true;
	return false;
}

/*
 * Resolves every node: the HTTP address is the PostgreSQL address with the
 * HTTP port, so the state read and the sessions sent reach the same machine
 * even when a name has several addresses.  getaddrinfo() may block on DNS:
 * this runs only when the list is read (start, SIGHUP), and never during a
 * probe round, whose answers must match the addresses sessions go to.  With
 * keep_old, a name that does not resolve keeps its previous address.
 */
static void
resolve_nodes(bool keep_old)
{
	for (int i = 0; i < nnodes; i++)
	{
		char reason[CM_REASON_LEN];
		int http_port = cm_guc_peer_http_port(nodes[i].port);
		CmTarget t;
		struct sockaddr_storage http;
		socklen_t http_len = 0;

		memset(&t, 0, sizeof(t));
		if (!cm_resolve_target(nodes[i].host, nodes[i].port, &t, reason))
		{
			ereport(LOG, (errmsg("connection_manager: node \"%s\": %s",
								 nodes[i].name, reason),
						  keep_old && node_target[i].valid
							  ? errdetail("Its previous address \"%s\" is kept.",
										  node_target[i].name)
							  : 0));
			if (!keep_old)
			{
				memset(&node_target[i], 0, sizeof(CmTarget));
				node_http_len[i] = 0;
			}
			continue;
		}
		strlcpy(t.node, nodes[i].name, CM_NODE_NAME_LEN);
		memcpy(&http, &t.addr, t.addrlen);
		if (http_port > 0 && http.ss_family == AF_INET)
		{
			((struct sockaddr_in *) &http)->sin_port = htons(http_port);
			http_len = t.addrlen;
		}
		else if (http_port > 0 && http.ss_family == AF_INET6)
		{
			((struct sockaddr_in6 *) &http)->sin6_port = htons(http_port);
			http_len = t.addrlen;
		}
		node_target[i] = t;
		node_http[i] = http;
		node_http_len[i] = http_len;
	}
}

/*
 * Reads the node list again.  When it did not change, its names are still
 * resolved again before the next round (a name that failed gets another
 * chance; one that fails now keeps its address).  Returns whether the list
 * itself changed.
 */
static bool
load_nodes(void)
{
	const char *text = cm_nodes ? cm_nodes : "";
	char err[CM_CLUSTER_REASON_LEN];
	char *copy;

	if (nodes_text && strcmp(nodes_text, text) == 0)
	{
		resolve_pending = true; /* at the next round's start */
		return false;
	}
	if (round_active)
	{
		/* its answers are numbered by the old list */
		cm_probe_abort_all();
		round_active = false;
	}
	copy = MemoryContextStrdup(TopMemoryContext, text);
	if (nodes_text)
		pfree(nodes_text);
	nodes_text = copy;
	nnodes = cm_nodes_parse(text, nodes, CM_MAX_NODES, err, sizeof(err));
	if (nnodes < 0)
	{
		/* the setting's check refuses this; keep running alone */
		ereport(LOG, (errmsg("connection_manager: nodes is invalid: %s", err)));
		nnodes = 0;
	}
	resolve_nodes(false);
	resolve_pending = false;
	cm_mon_status_reset_probes();
	if (nnodes > 0 && cm_guc_http_port() <= 0)
		ereport(WARNING,
				(errmsg("connection_manager: nodes is set but http_port is 0"),
				 errdetail(
					 "No node, this one included, can read this node's state, so it never counts towards a majority.")));
	if (nnodes > 0)
		ereport(LOG,
				(errmsg("connection_manager: following %d nodes", nnodes),
				 errdetail("Each node's state is read from its HTTP port, %d above its PostgreSQL port.",
						   cm_guc_peer_http_port(0))));
	return true;
}

static void
pool_names(const CmRouting *r, char *out, size_t len)
{
	out[0] = '\0';
	for (int i = 0; i < r->ro_pool_size; i++)
	{
		if (i > 0)
			strlcat(out, ", ", len);
		strlcat(out, r->ro_pool[i].node, len);
	}
}

static void
log_read_only_change(const CmRouting *old, const CmRouting *now)
{
	char old_pool[CM_MAX_NODES * (CM_NODE_NAME_LEN + 2)];
	char new_pool[CM_MAX_NODES * (CM_NODE_NAME_LEN + 2)];

	pool_names(old, old_pool, sizeof(old_pool));
	pool_names(now, new_pool, sizeof(new_pool));
	if (strcmp(old_pool, new_pool) != 0 && now->ro_pool_size > 0)
	{
		ereport(LOG,
				(errmsg("connection_manager: read-only sessions go to the standbys %s",
						new_pool),
				 errdetail("They stream from the write leader \"%s\" on its timeline%s.",
						   now->leader,
						   cm_read_only_max_lag >= 0 ? " within read_only_max_lag"
													 : "")));
		return;
	}
	if (now->ro_pool_size > 0)
		return;
	if (old->ro_pool_size == 0 && old->read_only.valid == now->read_only.valid &&
		old->read_only_is_leader == now->read_only_is_leader &&
		strcmp(old->read_only.name, now->read_only.name) == 0)
		return;
	if (!now->read_only.valid)
		ereport(LOG,
				(errmsg("connection_manager: no read-only target is available"),
				 errdetail("%s.", now->read_only_reason)));
	else if (now->read_only_is_leader)
		ereport(LOG,
				(errmsg("connection_manager: read-only sessions go to the write leader \"%s\", locked read-only",
						now->read_only.name),
				 errdetail("%s, and read_only_fallback is leader.",
						   now->read_only_reason)));
	else
		ereport(LOG,
				(errmsg("connection_manager: read-only sessions go to \"%s\"",
						now->read_only.name),
				 errdetail("%s.", now->read_only_reason)));
}

static void
log_routing_change(const CmRouting *old, const CmRouting *now)
{
	log_read_only_change(old, now);
	if (old->read_write.valid == now->read_write.valid &&
		strcmp(old->read_write.name, now->read_write.name) == 0 &&
		strcmp(old->no_leader_reason, now->no_leader_reason) == 0)
		return;
	if (now->read_write.valid && now->leader[0])
		ereport(LOG,
				(errmsg("connection_manager: read-write sessions go to \"%s\"",
						now->read_write.name),
				 errdetail("Node \"%s\" is the write leader, on timeline %u.",
						   now->leader, timeline_mark)));
	else if (now->read_write.valid)
		ereport(LOG,
				(errmsg("connection_manager: read-write sessions go to \"%s\"",
						now->read_write.name),
				 errdetail("This node is %s.",
						   now->in_recovery ? "a standby, and that is its upstream"
											: "the primary")));
	else
		ereport(LOG, (errmsg("connection_manager: no write leader is available"),
					  errdetail("%s", now->no_leader_reason)));
}

static void
publish(const CmRouting *now)
{
	log_routing_change(&cm_mon_view.routing, now);
	cm_routing_publish(now);
	cm_mon_view.routing = *now;
}

/* Logs what a round taught beyond the routing: a higher mark, oddities. */
static void
note_round(const CmNodeState *states, const CmClusterDecision *d)
{
	static char last_warning[CM_CLUSTER_REASON_LEN];
	static bool warned_self = false;
	bool self_seen = false;

	if (timeline_mark > logged_mark)
	{
		const char *by = "?";

		for (int i = 0; i < nnodes; i++)
		{
			if (states[i].reachable &&
				states[i].system_identifier == described.system_identifier &&
				(states[i].timeline == timeline_mark ||
				 states[i].timeline_mark == timeline_mark))
			{
				by = nodes[i].name;
				break;
			}
		}
		ereport(LOG,
				(errmsg("connection_manager: the highest timeline seen is now %u",
						timeline_mark),
				 errdetail("Node \"%s\" reported it.  A primary on a lower timeline never takes read-write sessions again.",
						   by)));
		logged_mark = timeline_mark;
	}
	/* a damaged file stays as it is until someone repairs it */
	if (!mark_damaged && timeline_mark > stored_mark &&
		cm_mark_store(timeline_mark))
		stored_mark = timeline_mark;
	if (strcmp(last_warning, d->warning) != 0)
	{
		if (d->warning[0])
			ereport(WARNING,
					(errmsg("connection_manager: an answer from the node list is set aside"),
					 errdetail("%s.", d->warning)));
		strlcpy(last_warning, d->warning, sizeof(last_warning));
	}
	for (int i = 0; i < nnodes; i++)
		self_seen |= states[i].reachable && states[i].instance == instance;
	if (!self_seen && !warned_self)
		ereport(LOG,
				(errmsg("connection_manager: this node did not find itself in connection_manager.nodes"),
				 errdetail(
					 "No entry of the list answered from this node's HTTP port; it does not count towards the majority until one does.")));
	warned_self = !self_seen;
}

/*
 * The consensus timeouts: for a while after this node stops reaching a
 * majority of the list, each port keeps what the last round with a
 * majority chose (PGD's read_write_consensus_timeout and
 * read_only_consensus_timeout; 0, the default, acts at once).  Keeping a
 * leader nobody can confirm risks two leaders in a partition: the price of
 * riding out short gaps.
 */
static void
ride_out_lost_consensus(const CmClusterDecision *d, CmRouting *r)
{
	static CmRouting last; /* what the last round with consensus chose */
	static bool have_last = false;
	static int64 lost_at = 0; /* 0: consensus held in the last round */
	static bool logged = false;
	int64 now = cm_now_ms();
	bool rw_kept = false;
	bool ro_kept = false;

	if (d->reachable * 2 > nnodes)
	{
		last = *r;
		have_last = true;
		lost_at = 0;
		logged = false;
		return;
	}
	if (lost_at == 0)
		lost_at = now;
	if (!have_last)
		return;
	if (!r->read_write.valid && last.read_write.valid &&
		now - lost_at < cm_read_write_consensus_timeout)
	{
		r->read_write = last.read_write;
		strlcpy(r->leader, last.leader, sizeof(r->leader));
		r->no_leader_reason[0] = '\0';
		rw_kept = true;
	}
	if (r->ro_pool_size == 0 && !r->read_only.valid &&
		(last.ro_pool_size > 0 || last.read_only.valid) &&
		now - lost_at < cm_read_only_consensus_timeout)
	{
		memcpy(r->ro_pool, last.ro_pool, sizeof(r->ro_pool));
		memcpy(r->ro_load, last.ro_load, sizeof(r->ro_load));
		r->ro_pool_size = last.ro_pool_size;
		r->read_only = last.read_only;
		r->read_only_is_leader = last.read_only_is_leader;
		strlcpy(r->read_only_reason, last.read_only_reason,
				sizeof(r->read_only_reason));
		ro_kept = true;
	}
	if ((rw_kept || ro_kept) && !logged)
	{
		ereport(LOG,
				(errmsg("connection_manager: this node reaches %d of the %d nodes, not a majority",
						d->reachable, nnodes),
				 errdetail("%s go on as before for up to %d ms (%s).",
						   rw_kept && ro_kept ? "Read-write and read-only sessions"
						   : rw_kept		  ? "Read-write sessions"
											  : "Read-only sessions",
						   rw_kept ? cm_read_write_consensus_timeout
								   : cm_read_only_consensus_timeout,
						   rw_kept
							   ? "connection_manager.read_write_consensus_timeout"
							   : "connection_manager.read_only_consensus_timeout")));
		logged = true;
	}
}

/* Until someone repairs a damaged mark file, each tick reads it again. */
static void
reread_mark(void)
{
	uint32 mark;

	if (!cm_mark_load(&mark, false))
		return;
	ereport(LOG,
			(errmsg("connection_manager: the timeline mark file is readable again, with timeline %u",
					mark)));
	mark_damaged = false;
	stored_mark = mark;
	timeline_mark = Max(timeline_mark, mark);
}

/* Turns the decision over the nodes into the routing state. */
static void
finish_round(void)
{
	CmNodeState states[CM_MAX_NODES];
	double probe_ms[CM_MAX_NODES];
	CmClusterDecision d;
	CmRouting r = described;
	/* past the validity of anything routed on an earlier vote */
	int64 hold_ms = 4 * (int64) cm_probe_interval + 1000;

	round_active = false;
	cm_probe_abort_all(); /* probes still out count as unreachable */
	cm_probe_round_results(states, nnodes);
	cm_probe_round_ms(probe_ms, nnodes);
	{
		CmClusterSelf self = {
			.sysid = described.system_identifier,
			.instance = instance,
			.vote = &vote,
			.now = cm_now_ms(),
			.hold_ms = hold_ms,
			.timeline_mark = timeline_mark,
			.mark_damaged = mark_damaged,
			.max_lag = cm_read_only_max_lag,
		};

		cm_cluster_decide(nodes, states, nnodes, &self, &d);
		timeline_mark = self.timeline_mark;
	}
	/*
	 * Served at once, not at the next tick: a withdrawn vote read in
	 * between would be counted for up to a probe_interval after its hold
	 * started.
	 */
	cm_mon_view.self.timeline_mark = timeline_mark;
	cm_mon_view.self.vote_instance = vote.instance;
	cm_mon_view.self.vote_timeline = vote.timeline;
	cm_mon_view.self.vote_hold_ms = (uint32) Min(vote.hold_ms, PG_UINT32_MAX);
	note_round(states, &d);

	memset(&r.read_write, 0, sizeof(CmTarget));
	memset(&r.read_only, 0, sizeof(CmTarget));
	r.read_only_is_leader = false;
	r.leader[0] = '\0';
	if (d.leader >= 0 && node_target[d.leader].valid)
	{
		r.read_write = node_target[d.leader];
		strlcpy(r.leader, nodes[d.leader].name, CM_NODE_NAME_LEN);
		r.no_leader_reason[0] = '\0';
	}
	else if (d.leader >= 0)
		snprintf(r.no_leader_reason, CM_REASON_LEN,
				 "the address of the write leader \"%s\" did not resolve",
				 nodes[d.leader].name);
	else
		strlcpy(r.no_leader_reason, d.no_leader_reason, CM_REASON_LEN);

	r.ro_pool_size = 0;
	for (int i = 0; i < d.pool_size; i++)
	{
		int n = d.pool[i];

		if (!node_target[n].valid)
			continue;
		r.ro_pool[r.ro_pool_size] = node_target[n];
		r.ro_load[r.ro_pool_size] = states[n].sessions;
		r.ro_pool_size++;
	}
	if (r.ro_pool_size > 0)
		strlcpy(r.read_only_reason, "standbys follow the write leader",
				CM_REASON_LEN);
	else
	{
		strlcpy(r.read_only_reason, d.no_pool_reason, CM_REASON_LEN);
		if (cm_read_only_fallback == CM_RO_FALLBACK_LEADER && r.read_write.valid)
		{
			r.read_only = r.read_write;
			r.read_only_is_leader = true;
		}
	}
	ride_out_lost_consensus(&d, &r);
	cm_mon_view.self_is_leader =
		d.leader >= 0 && states[d.leader].instance == instance;
	/*
	 * A monitor that stops publishing stops the writes it routed.  The
	 * votes counted were read after the round started: what is routed on
	 * them ends within the hold of those votes from then, however late this
	 * round finishes.
	 */
	r.valid_until = Min(cm_now_ms() + 3 * (int64) cm_probe_interval + 1000,
						round_started + hold_ms);
	publish(&r);
	cm_mon_status_round(nodes, states, probe_ms, nnodes, &d, instance, &r,
						timeline_mark);
}

/* The start of a probe interval: describe this node, then read the others. */
static void
tick(int64 now)
{
	/* with the list, targets come from it: no DNS here */
	cm_node_describe(&described, nnodes == 0);
	if (mark_damaged)
		reread_mark();
	{
		CmNodeState self; /* whole, or not at all, if an error cuts in */

		cm_node_self(&described, instance, &self);
		self.timeline_mark = timeline_mark;
		self.vote_instance = vote.instance;
		self.vote_timeline = vote.timeline;
		self.vote_hold_ms = (uint32) Min(vote.hold_ms, PG_UINT32_MAX);
		cm_mon_view.self = self;
	}
	if (nnodes == 0)
	{
		cm_mon_view.self_is_leader = !described.in_recovery;
		publish(&described);
		cm_mon_status_alone(&described, &cm_mon_view.self);
		return;
	}
	if (resolve_pending)
	{
		resolve_nodes(true);
		resolve_pending = false;
	}
	cm_probe_round_start(node_http, node_http_len, nodes, nnodes);
	round_started = now;
	round_deadline = now + Max(100, Min(cm_probe_interval * 3 / 4, 5000));
	round_active = true;
}

static void
dispatch_events(void)
{
	struct epoll_event events[CM_MON_EPOLL_BATCH];
	int n = epoll_wait(epoll_fd, events, CM_MON_EPOLL_BATCH, 0);

	for (int i = 0; i < n; i++)
	{
		CmMonEvent *ev = events[i].data.ptr;

		if (ev->handler != NULL)
			ev->handler(ev, events[i].events);
	}
	cm_http_free_closed();
}

void
cm_monitor_main(Datum arg)
{
	WaitEventSet *wes;
	sigjmp_buf error_jmp;

	(void) arg;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	memset(&cm_mon_view, 0, sizeof(cm_mon_view));
	if (!pg_strong_random(&instance, sizeof(instance)) || instance == 0)
		instance = (uint64) MyProcPid << 32 | (uint64) time(NULL);

	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		ereport(FATAL,
				(errmsg("connection_manager: could not create an epoll set: %m")));
	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, epoll_fd, NULL, NULL);
	vote.free_since = cm_now_ms(); /* a vote of an earlier run may count */
	mark_damaged = !cm_mark_load(&timeline_mark, true);
	stored_mark = logged_mark = timeline_mark;
	cm_routing_repair();
	load_nodes();
	if (nnodes > 0)
	{
		CmRouting none;

		/* what an earlier monitor published is not known to hold any more */
		memset(&none, 0, sizeof(none));
		strlcpy(none.no_leader_reason,
				"the monitor has not read the nodes' states yet", CM_REASON_LEN);
		strlcpy(none.read_only_reason,
				"the monitor has not read the nodes' states yet", CM_REASON_LEN);
		cm_routing_publish(&none);
		cm_mon_view.routing = none;
	}
	if (cm_use_https)
		(void) cm_tls_load(); /* the probes' side of HTTPS */
	cm_http_open();
	work_cxt =
		AllocSetContextCreate(TopMemoryContext, "connection_manager monitor",
							  ALLOCSET_DEFAULT_SIZES);

	/*
	 * An error raised in the loop (out of memory, most likely) is reported
	 * and the loop goes on, so the HTTP port and the mark stay up.  What
	 * was half done is dropped: a probe round ends, the next tick starts.
	 */
	if (sigsetjmp(error_jmp, 1) != 0)
	{
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		MemoryContextSwitchTo(TopMemoryContext);
		LWLockReleaseAll();
		pgstat_clear_backend_activity_snapshot();
		MemoryContextReset(work_cxt);
		RESUME_INTERRUPTS();
		cm_probe_abort_all();
		round_active = false;
		next_tick = cm_now_ms() + cm_probe_interval;
		pg_usleep(1000000L); /* an error that repeats is logged once a second */
	}
	PG_exception_stack = &error_jmp;

	while (!ShutdownRequestPending)
	{
		WaitEvent ev[3];
		int64 now = cm_now_ms();
		int64 wait;

		/* what an iteration allocates in passing goes with it */
		MemoryContextReset(work_cxt);
		MemoryContextSwitchTo(work_cxt);

		if (round_active && (now >= round_deadline || now >= next_tick ||
							 !cm_probe_round_pending()))
			finish_round();
		if (now >= next_tick)
		{
			tick(now);
			next_tick = now + cm_probe_interval;
		}
		cm_http_check_timeouts(now);

		wait = Min(next_tick - now, CM_MON_MAX_WAIT_MS);
		if (round_active)
			wait = Min(wait, round_deadline - now);
		(void) WaitEventSetWait(wes, (long) Max(wait, 0), ev, lengthof(ev),
								PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (cm_use_https)
				(void) cm_tls_load();
			cm_http_reload();
			if (load_nodes() || !round_active)
				next_tick = 0; /* act on the new settings at once */
		}
		dispatch_events();
	}
	cm_probe_abort_all();
	cm_http_close_all();
	proc_exit(1);
}
