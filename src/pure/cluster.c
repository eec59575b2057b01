/*
 * pure/cluster.c
 *		The nodes setting, the write-leader decision and the read-only pool
 *		(SPEC sections 4.3 and 5), as pure functions of what the nodes said.
 *
 * The leader is the one reachable node of this cluster (same system
 * identifier) that is not in recovery and runs on the highest timeline
 * seen, by this monitor or by any node's (each serves its mark).  The mark only rises: a primary below it is an old primary that
 * came back after a failover and must never take writes.  Two primaries on
 * the mark, or fewer than a majority of the nodes answering as this cluster,
 * mean no leader: refuse rather than guess.
 *
 * The pool is the other nodes of this cluster that are standbys, stream,
 * run on the leader's timeline (so they follow its history, directly or
 * through a cascade) and replay within max_lag bytes of the leader's WAL
 * position.  Both positions come from the same round of probes, which are
 * not simultaneous: on a busy leader the lag seen includes the WAL written
 * between the two answers.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_cluster.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *
skip_spaces(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char) *p))
		p++;
	return p;
}

static const char *
trim_end(const char *start, const char *end)
{
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	return end;
}

/* Parses one "name=host:port" between p and end into out. */
static bool
parse_entry(const char *p, const char *end, CmNodeConf *out, char *err,
			size_t errlen)
{
	const char *eq = memchr(p, '=', end - p);
	const char *host;
	const char *host_end;
	const char *port;
	long value = 0;

	if (eq == NULL || eq == p)
	{
		snprintf(err, errlen, "entry \"%.*s\" is not of the form name=host:port",
				 (int) (end - p), p);
		return false;
	}
	if ((size_t) (trim_end(p, eq) - p) >= CM_NODE_NAME_LEN)
	{
		snprintf(err, errlen, "node name \"%.*s\" is too long", (int) (eq - p),
				 p);
		return false;
	}
	for (const char *c = p; c < trim_end(p, eq); c++)
	{
		if (isspace((unsigned char) *c) || *c == '"' || *c == '\\' ||
			(unsigned char) *c < 0x20)
		{
			snprintf(err, errlen, "node name \"%.*s\" has a space or quote",
					 (int) (eq - p), p);
			return false;
		}
	}
	memcpy(out->name, p, trim_end(p, eq) - p);
	out->name[trim_end(p, eq) - p] = '\0';

	host = skip_spaces(eq + 1, end);
	if (host < end && *host == '[')
	{
		host_end = memchr(host, ']', end - host);
		if (host_end == NULL || host_end + 1 >= end || host_end[1] != ':')
		{
			snprintf(err, errlen,
					 "node \"%s\": a bracketed host must be followed by :port",
					 out->name);
			return false;
		}
		port = host_end + 2;
		host++;
	}
	else
	{
		host_end = NULL;
		for (const char *c = end; c > host; c--)
		{
			if (c[-1] == ':')
			{
				host_end = c - 1;
				break;
			}
		}
		if (host_end == NULL || memchr(host, ':', host_end - host) != NULL)
		{
			snprintf(err, errlen,
					 "node \"%s\": the address must be host:port (IPv6 in brackets)",
					 out->name);
			return false;
		}
		port = host_end + 1;
	}
	if (host_end == host || (size_t) (host_end - host) >= CM_NODE_HOST_LEN)
	{
		snprintf(err, errlen, "node \"%s\": the host is empty or too long",
				 out->name);
		return false;
	}
	for (const char *c = host; c < host_end; c++)
	{
		if (isspace((unsigned char) *c) || (unsigned char) *c < 0x20)
		{
			snprintf(err, errlen, "node \"%s\": the host has a space in it",
					 out->name);
			return false;
		}
	}
	memcpy(out->host, host, host_end - host);
	out->host[host_end - host] = '\0';
	if (port >= end)
	{
		snprintf(err, errlen, "node \"%s\": the port is missing", out->name);
		return false;
	}
	for (; port < end; port++)
	{
		if (*port < '0' || *port > '9' || value > 65535)
		{
			snprintf(err, errlen,
					 "node \"%s\": the port must be a number from 1 to 65535",
					 out->name);
			return false;
		}
		value = value * 10 + (*port - '0');
	}
	if (value < 1 || value > 65535)
	{
		snprintf(err, errlen,
				 "node \"%s\": the port must be a number from 1 to 65535",
				 out->name);
		return false;
	}
	out->port = (int) value;
	return true;
}

int
cm_nodes_parse(const char *text, CmNodeConf *out, int max, char *err,
			   size_t errlen)
{
	const char *p = text ? text : "";
	const char *stop = p + strlen(p);
	int n = 0;

	err[0] = '\0';
	while (p < stop)
	{
		const char *comma = memchr(p, ',', stop - p);
		const char *end = comma ? comma : stop;
		const char *start = skip_spaces(p, end);

		end = trim_end(start, end);
		if (start == end)
		{
			if (comma == NULL) /* blank, or after a trailing comma */
				break;
			snprintf(err, errlen, "an entry is empty");
			return -1;
		}
		if (n == max)
		{
			snprintf(err, errlen, "more than %d nodes", max);
			return -1;
		}
		if (!parse_entry(start, end, &out[n], err, errlen))
			return -1;
		for (int i = 0; i < n; i++)
		{
			if (strcmp(out[i].name, out[n].name) == 0)
			{
				snprintf(err, errlen, "node \"%s\" is named twice", out[n].name);
				return -1;
			}
			if (strcmp(out[i].host, out[n].host) == 0 &&
				out[i].port == out[n].port)
			{
				snprintf(err, errlen,
						 "nodes \"%s\" and \"%s\" have the same address",
						 out[i].name, out[n].name);
				return -1;
			}
		}
		n++;
		p = comma ? comma + 1 : stop;
	}
	return n;
}

/*
 * The mark rises to the highest timeline, or mark, any answer of this
 * cluster gives: also answers set aside as misdirected, since a higher
 * timeline is a fact wherever it is read, and rising is always safe.
 */
static void
raise_mark(const CmNodeState *nodes, int n, uint64_t sysid, uint32_t *mark)
{
	for (int i = 0; i < n; i++)
	{
		if (!nodes[i].reachable || nodes[i].system_identifier != sysid)
			continue;
		if (nodes[i].timeline > *mark)
			*mark = nodes[i].timeline;
		if (nodes[i].timeline_mark > *mark)
			*mark = nodes[i].timeline_mark;
	}
}

static void
decide_leader(const CmNodeConf *conf, const CmNodeState *nodes, int n,
			  uint64_t sysid, uint32_t *mark, CmClusterDecision *out)
{
	int primaries = 0;
	int below = -1;


	if (out->reachable * 2 <= n)
	{
		snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
				 "this connection manager reaches %d of the %d nodes, not a majority",
				 out->reachable, n);
		return;
	}
	for (int i = 0; i < n; i++)
	{
		const CmNodeState *s = &nodes[i];

		if (!s->reachable || s->system_identifier != sysid || s->in_recovery)
			continue;
		if (s->timeline < *mark)
		{
			below = i;
			continue;
		}
		if (primaries++ == 0)
			out->leader = i;
		else
		{
			snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
					 "nodes \"%s\" and \"%s\" are both primaries on timeline %u",
					 conf[out->leader].name, conf[i].name, *mark);
			out->leader = -1;
			return;
		}
	}
	if (primaries == 1)
		return;
	if (below >= 0)
		snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
				 "node \"%s\" is a primary on timeline %u, below the highest timeline seen (%u)",
				 conf[below].name, nodes[below].timeline, *mark);
	else
		snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
				 "no reachable node of this cluster is a primary");
}

static void
decide_pool(const CmNodeConf *conf, const CmNodeState *nodes, int n,
			uint64_t sysid, int64_t max_lag, CmClusterDecision *out)
{
	const CmNodeState *leader;
	const char *why = NULL;
	int why_node = -1;

	if (out->leader < 0)
	{
		snprintf(out->no_pool_reason, CM_CLUSTER_REASON_LEN,
				 "there is no write leader for a standby to follow");
		return;
	}
	leader = &nodes[out->leader];
	for (int i = 0; i < n; i++)
	{
		const CmNodeState *s = &nodes[i];
		uint64_t lag;

		if (i == out->leader || !s->reachable || s->system_identifier != sysid)
			continue;
		if (!s->in_recovery || !s->streaming)
		{
			why = "is not a streaming standby";
			why_node = i;
			continue;
		}
		if (s->timeline != leader->timeline)
		{
			why = "is not on the write leader's timeline";
			why_node = i;
			continue;
		}
		lag = leader->wal_lsn > s->wal_lsn ? leader->wal_lsn - s->wal_lsn : 0;
		if (max_lag >= 0 && lag > (uint64_t) max_lag)
		{
			why =
				"replays further behind the write leader than read_only_max_lag";
			why_node = i;
			continue;
		}
		out->pool[out->pool_size++] = i;
	}
	if (out->pool_size > 0)
		return;
	if (why_node >= 0)
		snprintf(out->no_pool_reason, CM_CLUSTER_REASON_LEN,
				 "no standby qualifies: node \"%s\" %s", conf[why_node].name,
				 why);
	else
		snprintf(out->no_pool_reason, CM_CLUSTER_REASON_LEN,
				 "no reachable standby of this cluster is known");
}

/*
 * Keeps only answers that can be trusted to come from the entry asked: the
 * node must serve the PostgreSQL port the list gives it, and one server
 * (one monitor instance) answering for two entries counts once.
 */
static void
vet_answers(const CmNodeConf *conf, const CmNodeState *nodes, int n,
			CmNodeState *vetted, CmClusterDecision *out)
{
	for (int i = 0; i < n; i++)
	{
		vetted[i] = nodes[i];
		if (!nodes[i].reachable)
			continue;
		if (nodes[i].port != conf[i].port)
		{
			vetted[i].reachable = false;
			snprintf(out->warning, CM_CLUSTER_REASON_LEN,
					 "node \"%s\" answered with PostgreSQL port %d, not %d: its HTTP port is not at the same distance from its PostgreSQL port as this node's",
					 conf[i].name, nodes[i].port, conf[i].port);
			continue;
		}
		for (int j = 0; j < i; j++)
		{
			if (vetted[j].reachable && vetted[j].instance == nodes[i].instance)
			{
				vetted[i].reachable = false;
				snprintf(out->warning, CM_CLUSTER_REASON_LEN,
						 "nodes \"%s\" and \"%s\" are the same server; it counts once",
						 conf[j].name, conf[i].name);
				break;
			}
		}
	}
}

/* Moves a vote towards the candidate (NULL: nobody); see CmVote. */
static void
cast_vote(CmVote *v, const CmNodeState *c, int64_t now, int64_t hold_ms)
{
	if (c != NULL && v->instance == c->instance && v->timeline == c->timeline)
	{
		/* a vote kept keeps its promise, and takes on a longer one */
		if (v->hold_ms < hold_ms)
			v->hold_ms = hold_ms;
		return;
	}
	if (v->instance != 0)
	{
		v->instance = 0;
		v->timeline = 0;
		v->free_since = now;
	}
	if (c != NULL && now - v->free_since >= hold_ms &&
		now - v->free_since >= v->hold_ms)
	{
		v->instance = c->instance;
		v->timeline = c->timeline;
		v->hold_ms = hold_ms;
	}
}

/*
 * The candidate becomes the leader only with a majority of the list's
 * votes.  Each node votes once, for what its monitor published; this
 * monitor's entry votes as *self->vote says now.  A vote whose monitor
 * promises a shorter hold than this one's does not count: it could move
 * to another candidate while the routing built on it here still holds.
 */
static void
count_votes(const CmNodeConf *conf, const CmNodeState *nodes, int n,
			const CmClusterSelf *self, CmClusterDecision *out)
{
	const CmNodeState *c;
	int short_holds = 0;

	out->candidate = out->leader;
	cast_vote(self->vote, out->leader >= 0 ? &nodes[out->leader] : NULL,
			  self->now, self->hold_ms);
	if (out->leader < 0)
		return;
	c = &nodes[out->leader];
	for (int i = 0; i < n; i++)
	{
		const CmNodeState *v = &nodes[i];
		uint64_t instance = v->vote_instance;
		uint32_t timeline = v->vote_timeline;
		int64_t hold = v->vote_hold_ms;

		if (!v->reachable || v->system_identifier != self->sysid)
			continue;
		if (v->instance == self->instance)
		{
			instance = self->vote->instance;
			timeline = self->vote->timeline;
			hold = self->vote->hold_ms;
		}
		if (instance != c->instance || timeline != c->timeline)
			continue;
		if (hold >= self->hold_ms)
			out->votes++;
		else
			short_holds++;
	}
	if (out->votes * 2 > n)
		return;
	if (short_holds > 0)
		snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
				 "node \"%s\" is the only primary on timeline %u, but %d of the %d nodes vote for it, not a majority (%d more vote for it with a shorter probe_interval)",
				 conf[out->leader].name, c->timeline, out->votes, n,
				 short_holds);
	else
		snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
				 "node \"%s\" is the only primary on timeline %u, but %d of the %d nodes vote for it, not a majority",
				 conf[out->leader].name, c->timeline, out->votes, n);
	out->leader = -1;
}

void
cm_cluster_decide(const CmNodeConf *conf, const CmNodeState *nodes, int n,
				  CmClusterSelf *self, CmClusterDecision *out)
{
	CmNodeState vetted[CM_MAX_NODES];

	memset(out, 0, sizeof(*out));
	out->leader = -1;
	out->candidate = -1;
	if (n > CM_MAX_NODES)
	{
		snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
				 "more than %d nodes are listed", CM_MAX_NODES);
		snprintf(out->no_pool_reason, CM_CLUSTER_REASON_LEN,
				 "there is no write leader for a standby to follow");
		return;
	}
	raise_mark(nodes, n, self->sysid, &self->timeline_mark);
	vet_answers(conf, nodes, n, vetted, out);
	/* a node that answers for another cluster is no vote in this one */
	for (int i = 0; i < n; i++)
		out->reachable +=
			vetted[i].reachable && vetted[i].system_identifier == self->sysid;
	if (self->mark_damaged)
	{
		snprintf(out->no_leader_reason, CM_CLUSTER_REASON_LEN,
				 "the timeline mark file of this node is damaged; see the server log");
		cast_vote(self->vote, NULL, self->now, self->hold_ms);
	}
	else
	{
		decide_leader(conf, vetted, n, self->sysid, &self->timeline_mark, out);
		count_votes(conf, vetted, n, self, out);
	}
	decide_pool(conf, vetted, n, self->sysid, self->max_lag, out);
}

int
cm_pool_pick(const uint32_t *load, int n, uint32_t random)
{
	uint32_t least = UINT32_MAX;
	int ties = 0;

	for (int i = 0; i < n; i++)
	{
		if (load[i] < least)
		{
			least = load[i];
			ties = 1;
		}
		else if (load[i] == least)
			ties++;
	}
	ties = (int) (random % (uint32_t) ties);
	for (int i = 0; i < n; i++)
	{
		if (load[i] == least && ties-- == 0)
			return i;
	}
	return 0;
}
