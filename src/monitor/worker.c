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
 * The event loop (cm_event.h) holds the HTTP server's sockets, the probes
 * and every deadline, this worker's tick among them; its epoll descriptor
 * is waited on inside a WaitEventSet with the latch (signals) and
 * postmaster death.  Nothing in the monitor calls into this file.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

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

/* every timer the monitor keeps: the HTTP server's, the probes', the tick */
#define CM_MON_MAX_TIMERS (CM_HTTP_MAX_TIMERS + CM_PROBE_MAX_TIMERS + 1)
/* no timer is farther: probe_interval's maximum */
#define CM_MON_MAX_WAIT_MS (3600 * 1000)

static uint64 instance;			 /* this monitor's run, served as "instance" */
static uint32 timeline_mark = 0; /* highest timeline seen, ever */
static uint32 stored_mark = 0;	 /* as last written to its file */
static bool mark_damaged = false; /* its file is unreadable: no leader */
static CmVote vote;				  /* what this node votes for (cm_cluster.h) */
static uint32 logged_mark = 0;	  /* as last logged */
static CmTimer tick_timer;		  /* the start of each probe interval */
static MemoryContext work_cxt = NULL; /* reset at every loop iteration */
static CmRouting described;			  /* this node at the last tick */
static bool resolve_pending = false;  /* a reload asked for fresh addresses */
static int64 round_started = 0;		  /* the tick that sent the probes */

/*
 * Reads the node list again.  When it did not change, its names are still
 * resolved again before the next round (a name that failed gets another
 * chance; one that fails now keeps its address).
 */
static void
load_nodes(void)
{
	int n;

	if (!cm_mon_nodes_set(cm_nodes ? cm_nodes : ""))
	{
		resolve_pending = true; /* at the next round's start */
		return;
	}
	/* a round's answers are numbered by the old list */
	cm_probe_abort_all();
	resolve_pending = false;
	cm_mon_status_reset_probes();
	n = cm_mon_nodes.n;
	if (n > 0 && cm_guc_http_port() <= 0)
		ereport(WARNING,
				(errmsg("connection_manager: nodes is set but http_port is 0"),
				 errdetail(
					 "No node, this one included, can read this node's state, so it never counts towards a majority.")));
	if (n > 0)
		ereport(LOG,
				(errmsg("connection_manager: following %d nodes", n),
				 errdetail("Each node's state is read from its HTTP port, %d above its PostgreSQL port.",
						   cm_guc_peer_http_port(0))));
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
	const CmMonNodes *l = &cm_mon_nodes;
	bool self_seen = false;

	if (timeline_mark > logged_mark)
	{
		const char *by = "?";

		for (int i = 0; i < l->n; i++)
		{
			if (states[i].reachable &&
				states[i].system_identifier == described.system_identifier &&
				(states[i].timeline == timeline_mark ||
				 states[i].timeline_mark == timeline_mark))
			{
				by = l->conf[i].name;
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
	for (int i = 0; i < l->n; i++)
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

	if (d->reachable * 2 > cm_mon_nodes.n)
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
						d->reachable, cm_mon_nodes.n),
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

/* The routing state the decision over the nodes makes of this node's. */
static void
route_by_decision(const CmClusterDecision *d, const CmNodeState *states,
				  CmRouting *r)
{
	const CmMonNodes *l = &cm_mon_nodes;

	memset(&r->read_write, 0, sizeof(CmTarget));
	memset(&r->read_only, 0, sizeof(CmTarget));
	r->read_only_is_leader = false;
	r->leader[0] = '\0';
	if (d->leader >= 0 && l->target[d->leader].valid)
	{
		r->read_write = l->target[d->leader];
		strlcpy(r->leader, l->conf[d->leader].name, CM_NODE_NAME_LEN);
		r->no_leader_reason[0] = '\0';
	}
	else if (d->leader >= 0)
		snprintf(r->no_leader_reason, CM_REASON_LEN,
				 "the address of the write leader \"%s\" did not resolve",
				 l->conf[d->leader].name);
	else
		strlcpy(r->no_leader_reason, d->no_leader_reason, CM_REASON_LEN);

	r->ro_pool_size = 0;
	for (int i = 0; i < d->pool_size; i++)
	{
		int n = d->pool[i];

		if (!l->target[n].valid)
			continue;
		r->ro_pool[r->ro_pool_size] = l->target[n];
		r->ro_load[r->ro_pool_size] = states[n].sessions;
		r->ro_pool_size++;
	}
	if (r->ro_pool_size > 0)
		strlcpy(r->read_only_reason, "standbys follow the write leader",
				CM_REASON_LEN);
	else
	{
		strlcpy(r->read_only_reason, d->no_pool_reason, CM_REASON_LEN);
		if (cm_read_only_fallback == CM_RO_FALLBACK_LEADER && r->read_write.valid)
		{
			r->read_only = r->read_write;
			r->read_only_is_leader = true;
		}
	}
}

/*
 * Decides over the nodes' answers and publishes the routing state: at the
 * end of a round (probe.c calls it from the loop), or when the next
 * interval starts first.
 */
static void
finish_round(void)
{
	const CmMonNodes *l = &cm_mon_nodes;
	CmNodeState states[CM_MAX_NODES];
	double probe_ms[CM_MAX_NODES];
	CmClusterDecision d;
	CmRouting r = described;
	/* past the validity of anything routed on an earlier vote */
	int64 hold_ms = 4 * (int64) cm_probe_interval + 1000;

	cm_probe_abort_all(); /* probes still out count as unreachable */
	cm_probe_round_results(states, l->n);
	cm_probe_round_ms(probe_ms, l->n);
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

		cm_cluster_decide(l->conf, states, l->n, &self, &d);
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
	cm_mon_nodes_note_self(states, instance);
	cm_mon_nodes_peers(&r);
	route_by_decision(&d, states, &r);
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
	cm_mon_status_round(l->conf, states, probe_ms, l->n, &d, instance, &r,
						timeline_mark);
}

/* The start of a probe interval: describe this node, then read the others. */
static void
tick(void *arg)
{
	const CmMonNodes *l = &cm_mon_nodes;
	int64 now = cm_now_ms();

	(void) arg;
	/* a round never outlives its interval */
	if (cm_probe_round_open())
		finish_round();
	/* the monitor reserved room for its timers: arming cannot fail */
	(void) cm_timer_set(&tick_timer, now + cm_probe_interval);
	/* with the list, targets come from it: no DNS here */
	cm_node_describe(&described, l->n == 0);
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
	if (l->n == 0)
	{
		cm_mon_view.self_is_leader = !described.in_recovery;
		publish(&described);
		cm_mon_status_alone(&described, &cm_mon_view.self);
		return;
	}
	if (resolve_pending)
	{
		cm_mon_nodes_resolve(true);
		resolve_pending = false;
	}
	round_started = now;
	cm_probe_round_start(l->http, l->http_len, l->conf, l->n,
						 now + Max(100, Min(cm_probe_interval * 3 / 4, 5000)),
						 finish_round);
}

/*
 * The monitor's loop: waits for the latch, postmaster death or an event of
 * the loop's epoll set, whichever comes first and at most until the next
 * timer; then handles signals, and runs the loop's events and due timers.
 */
static void
run(WaitEventSet *wes)
{
	while (!ShutdownRequestPending)
	{
		WaitEvent ev[3];
		int64 wait;

		/* what an iteration allocates in passing goes with it */
		MemoryContextReset(work_cxt);
		MemoryContextSwitchTo(work_cxt);

		wait = Min(cm_timer_next() - cm_now_ms(), CM_MON_MAX_WAIT_MS);
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
			load_nodes();
			/* act on the new settings at once, unless a round is out */
			if (!cm_probe_round_open())
				(void) cm_timer_set(&tick_timer, cm_now_ms());
		}
		(void) cm_loop_run(0);
		cm_http_free_closed();
	}
}

/* With the list, what an earlier monitor published may not hold any more. */
static void
publish_unknown(void)
{
	CmRouting none;

	memset(&none, 0, sizeof(none));
	strlcpy(none.no_leader_reason,
			"the monitor has not read the nodes' states yet", CM_REASON_LEN);
	strlcpy(none.read_only_reason,
			"the monitor has not read the nodes' states yet", CM_REASON_LEN);
	cm_mon_nodes_peers(&none); /* cancel requests go on meanwhile */
	cm_routing_publish(&none);
	cm_mon_view.routing = none;
}

/*
 * After an error raised in the loop (out of memory, most likely): reported,
 * and the loop goes on, so the HTTP port and the mark stay up.  What was
 * half done is dropped: a probe round ends, the next tick starts.
 */
static void
recover(void)
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
	(void) cm_timer_set(&tick_timer, cm_now_ms() + cm_probe_interval);
	pg_usleep(1000000L); /* an error that repeats is logged once a second */
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

	if (!cm_loop_init())
		ereport(FATAL,
				(errmsg("connection_manager: could not create an epoll set: %m")));
	/* with room for every timer, no deadline can be lost for want of memory */
	if (!cm_timer_reserve(CM_MON_MAX_TIMERS))
		ereport(FATAL,
				(errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, cm_loop_fd(), NULL, NULL);
	vote.free_since = cm_now_ms(); /* a vote of an earlier run may count */
	mark_damaged = !cm_mark_load(&timeline_mark, true);
	stored_mark = logged_mark = timeline_mark;
	cm_routing_repair();
	load_nodes();
	if (cm_mon_nodes.n > 0)
		publish_unknown();
	if (cm_use_https)
		(void) cm_tls_load(); /* the probes' side of HTTPS */
	cm_http_open();
	work_cxt =
		AllocSetContextCreate(TopMemoryContext, "connection_manager monitor",
							  ALLOCSET_DEFAULT_SIZES);
	cm_timer_init(&tick_timer, tick, NULL);
	(void) cm_timer_set(&tick_timer, cm_now_ms()); /* the first one at once */

	if (sigsetjmp(error_jmp, 1) != 0)
		recover();
	PG_exception_stack = &error_jmp;
	run(wes);
	cm_probe_abort_all();
	cm_http_close_all();
	proc_exit(1);
}
