/*
 * monitor/monitor_status.c
 *		The cluster as this monitor sees it, kept as a CmStatusView after
 *		every round (or, alone, every tick) and published in shared memory
 *		for the SQL views; the HTTP answers add the live counters of the
 *		proxy workers when they are asked for.  Also the checks that load
 *		balancers ask: is this node the leader, in the read-only pool,
 *		within a lag.  The routing and this node's state as last decided
 *		(cm_mon_view) are kept here too, for the answers that need no view.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "cm_guc.h"
#include "cm_monitor.h"
#include "cm_event.h"
#include "cm_stats.h"

CmMonView cm_mon_view; /* written by the loop as it decides */
CmStatusView cm_mon_status;

/* Probe statistics of each entry of the node list, kept across rounds. */
typedef struct ProbeStats
{
	uint64 probes;
	uint64 failures;
	uint64 le[CM_PROBE_BUCKETS];
	double ms_sum;
	double last_ms;
} ProbeStats;

static ProbeStats probe_stats[CM_MAX_NODES];
/* the HTTP port's connections: [1] from the nodes' addresses */
static uint64 http_accepted[2];
static uint64 http_refused[2];
static int64 published_at = 0;
static char last_leader[CM_NODE_NAME_LEN];

static void
view_common(CmStatusView *v)
{
	strlcpy(v->version, CM_EXTENSION_VERSION, sizeof(v->version));
	strlcpy(v->cluster_name, cluster_name ? cluster_name : "",
			sizeof(v->cluster_name));
	v->http_port = cm_guc_http_port();
	v->https = cm_use_https;
	v->log_connections = cm_log_connections;
}

/* What the published routing state says, in the view. */
static void
view_routing(CmStatusView *v, const CmRouting *r)
{
	strlcpy(v->read_write_target, r->read_write.valid ? r->read_write.name : "",
			sizeof(v->read_write_target));
	strlcpy(v->read_only_target, r->read_only.valid ? r->read_only.name : "",
			sizeof(v->read_only_target));
	v->read_only_is_leader = r->read_only_is_leader;
	strlcpy(v->read_only_reason, r->read_only_reason,
			sizeof(v->read_only_reason));
	v->replay_lag = r->replay_lag;
	strlcpy(v->upstream, r->upstream, sizeof(v->upstream));
}

/* The host of a "host:port" or "[v6]:port" target name. */
static void
host_of(const char *target, char *out, size_t len)
{
	const char *colon = strrchr(target, ':');
	size_t n = colon ? (size_t) (colon - target) : strlen(target);

	if (target[0] == '[' && n >= 2 && target[n - 1] == ']')
	{
		target++;
		n -= 2;
	}
	if (n >= len)
		n = len - 1;
	memcpy(out, target, n);
	out[n] = '\0';
}

/* What changed since the last view: counted for /metrics. */
static void
count_changes(CmStatusView *v)
{
	bool pool_changed = false;

	if (strcmp(v->read_write_target, cm_mon_status.read_write_target) != 0 ||
		strcmp(v->leader, cm_mon_status.leader) != 0)
		v->leader_changes++;
	/* the previous leader is the last other one, across gaps without one */
	if (v->leader[0] && strcmp(v->leader, last_leader) != 0)
	{
		strlcpy(v->previous_leader, last_leader, sizeof(v->previous_leader));
		strlcpy(last_leader, v->leader, sizeof(last_leader));
	}
	for (int i = 0; i < v->nnodes; i++)
	{
		const CmStatusNode *was = NULL;

		for (int j = 0; j < cm_mon_status.nnodes; j++)
			if (strcmp(cm_mon_status.nodes[j].name, v->nodes[i].name) == 0)
				was = &cm_mon_status.nodes[j];
		if (v->nodes[i].in_pool != (was != NULL && was->in_pool))
			pool_changed = true;
	}
	if (pool_changed)
		v->pool_changes++;
}

static void
publish_view(CmStatusView *v)
{
	count_changes(v);
	v->rounds++;
	cm_mon_status = *v;
	published_at = cm_now_ms();
	cm_status_publish(v);
}

/* The HTTP server counts each connection, taken or refused, here. */
void
cm_mon_status_count_http(bool from_node, bool refused)
{
	if (refused)
		http_refused[from_node]++;
	else
		http_accepted[from_node]++;
}

/* A new node list: probe statistics start again. */
void
cm_mon_status_reset_probes(void)
{
	memset(probe_stats, 0, sizeof(probe_stats));
}

void
cm_mon_status_alone(const CmRouting *r, const CmNodeState *self)
{
	static CmStatusView v;
	CmStatusNode *n = &v.nodes[0];
	const CmTarget *own = !r->in_recovery			? &r->read_write
						  : !r->read_only_is_leader ? &r->read_only
													: NULL;

	v = cm_mon_status;
	view_common(&v);
	v.alone = true;
	v.system_identifier = r->system_identifier;
	v.self = 0;
	v.nnodes = 1;
	memset(n, 0, sizeof(*n));
	strlcpy(n->name, cluster_name && cluster_name[0] ? cluster_name : "local",
			sizeof(n->name));
	if (own != NULL && own->valid)
		host_of(own->name, n->host, sizeof(n->host));
	n->port = PostPortNumber;
	n->self = true;
	n->state = *self;
	n->leader = !r->in_recovery && r->read_write.valid;
	n->in_pool = r->in_recovery && r->read_only.valid && !r->read_only_is_leader;
	n->lag = r->in_recovery ? r->replay_lag : 0;
	n->probe_ms = -1;
	strlcpy(v.leader, n->leader ? n->name : "", sizeof(v.leader));
	if (r->read_write.valid)
		snprintf(v.leader_reason, sizeof(v.leader_reason), "%s",
				 r->in_recovery
					 ? "this node is a standby: sessions go to its upstream"
					 : "this node is the primary");
	else
		strlcpy(v.leader_reason, r->no_leader_reason, sizeof(v.leader_reason));
	view_routing(&v, r);
	v.consensus = true;
	v.reachable = 1;
	v.timeline_mark = self->timeline_mark;
	publish_view(&v);
}

void
cm_mon_status_round(const CmNodeConf *conf, const CmNodeState *states,
					const double *probe_ms, int n, const CmClusterDecision *d,
					uint64 instance, const CmRouting *r, uint32 timeline_mark)
{
	static CmStatusView v;
	const CmNodeState *leader = d->leader >= 0 ? &states[d->leader] : NULL;

	v = cm_mon_status;
	view_common(&v);
	v.alone = false;
	v.system_identifier = r->system_identifier;
	v.self = -1;
	v.nnodes = n;
	for (int i = 0; i < n; i++)
	{
		CmStatusNode *node = &v.nodes[i];
		ProbeStats *ps = &probe_stats[i];

		memset(node, 0, sizeof(*node));
		strlcpy(node->name, conf[i].name, sizeof(node->name));
		strlcpy(node->host, conf[i].host, sizeof(node->host));
		node->port = conf[i].port;
		node->id = i + 1;
		node->state = states[i];
		node->self = states[i].reachable && states[i].instance == instance;
		if (node->self && v.self < 0)
			v.self = i;
		node->leader = i == d->leader;
		for (int p = 0; p < d->pool_size; p++)
			node->in_pool |= d->pool[p] == i;
		node->lag = -1;
		if (leader != NULL && states[i].reachable &&
			states[i].system_identifier == r->system_identifier &&
			(node->leader || states[i].in_recovery))
			node->lag = leader->wal_lsn > states[i].wal_lsn
							? (int64) (leader->wal_lsn - states[i].wal_lsn)
							: 0;
		ps->probes++;
		if (probe_ms[i] < 0)
			ps->failures++;
		else
		{
			for (int b = 0; b < CM_PROBE_BUCKETS; b++)
				if (b == CM_PROBE_BUCKETS - 1 ||
					probe_ms[i] / 1000.0 <= cm_probe_bucket_le(b))
					ps->le[b]++;
			ps->ms_sum += probe_ms[i];
		}
		ps->last_ms = probe_ms[i];
		node->probe_ms = ps->last_ms;
		node->probes = ps->probes;
		node->failures = ps->failures;
		memcpy(node->probe_le, ps->le, sizeof(ps->le));
		node->probe_ms_sum = ps->ms_sum;
	}
	strlcpy(v.leader, r->leader, sizeof(v.leader));
	if (leader != NULL)
		snprintf(v.leader_reason, sizeof(v.leader_reason),
				 "node \"%s\" is the one primary on timeline %u, the highest seen, and %d of the %d nodes answer",
				 conf[d->leader].name, leader->timeline, d->reachable, n);
	else
		strlcpy(v.leader_reason, r->no_leader_reason, sizeof(v.leader_reason));
	view_routing(&v, r);
	v.reachable = d->reachable;
	v.consensus = d->reachable * 2 > n;
	v.timeline_mark = timeline_mark;
	publish_view(&v);
}

/* The view with the proxy workers' counters as they are now. */
void
cm_mon_status_fill(CmStatusView *out)
{
	*out = cm_mon_status;
	cm_stats_sum(out->ports);
	out->ports[CM_PORT_KIND_RW].port = cm_guc_rw_port();
	out->ports[CM_PORT_KIND_RO].port = cm_guc_ro_port();
	for (int p = 0; p < CM_STATUS_PORTS; p++)
	{
		out->ports[p].clients = cm_shmem_total_clients((CmPortKind) p);
		out->ports[p].servers = cm_shmem_total_servers((CmPortKind) p);
	}
	out->ncounters = cm_stats_node_counters(out->counters, CM_STATUS_NODES);
	memcpy(out->http_accepted, http_accepted, sizeof(http_accepted));
	memcpy(out->http_refused, http_refused, sizeof(http_refused));
	out->routing_age_ms = published_at ? cm_now_ms() - published_at : -1;
}

const CmStatusNode *
cm_mon_status_self(void)
{
	if (cm_mon_status.self < 0 || cm_mon_status.self >= cm_mon_status.nnodes)
		return NULL;
	return &cm_mon_status.nodes[cm_mon_status.self];
}

/*
 * A standby taking read-only sessions here, within max_lag bytes of the
 * write leader (its own replay lag, alone) when max_lag >= 0.
 */
bool
cm_mon_is_replica(int64 max_lag)
{
	const CmStatusNode *self = cm_mon_status_self();

	if (self == NULL || !self->in_pool)
		return false;
	return max_lag < 0 || (self->lag >= 0 && self->lag <= max_lag);
}

bool
cm_mon_is_leader(void)
{
	const CmStatusNode *self = cm_mon_status_self();

	return self != NULL && self->leader;
}

/* The view is fresh: the loop publishes it at least every few intervals. */
bool
cm_mon_is_alive(void)
{
	return published_at != 0 &&
		   cm_now_ms() - published_at <= 3 * (int64) cm_probe_interval + 1000;
}
