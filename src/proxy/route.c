/*
 * proxy/route.c
 *		Where sessions go.  The worker keeps a copy of the routing state
 *		that the monitor publishes in shared memory, re-read when its
 *		generation moves; a read-write session goes to the write leader
 *		while the monitor vouches for it, a read-only session to the least
 *		loaded standby of the pool or to the single read-only target.  The
 *		same copy says where the node list's managers take cancel requests.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "common/pg_prng.h"

#include "cm_cluster.h"
#include "cm_event.h"
#include "cm_route.h"
#include "cm_sock.h"

static CmRouting routing;
static uint64 routing_generation_seen = UINT64_MAX;

/*
 * Sessions this worker sent to each standby of the pool since the routing
 * state last changed: added to the load each standby had at the last probe,
 * so that a burst of sessions spreads before the next probe sees it.
 */
static uint32 pool_sent[CM_MAX_NODES];

/*
 * Re-reads the routing state if the monitor published a new one: true
 * when it changed, so that waiting sessions can try again.
 */
bool
cm_route_refresh(void)
{
	uint64 gen = pg_atomic_read_u64(&cm_shared->routing_generation);

	if (gen == routing_generation_seen)
		return false;
	if (!cm_routing_read(&routing))
		return false; /* the monitor is stuck writing: keep the last, try again */
	routing_generation_seen = gen;
	memset(pool_sent, 0, sizeof(pool_sent));
	return true;
}

/* Why read-write sessions have no target now. */
const char *
cm_route_no_leader_reason(void)
{
	if (routing.read_write.valid && routing.valid_until != 0)
		return "the monitor has not confirmed the write leader recently: it is late or restarting";
	return routing.no_leader_reason;
}

/* The least loaded standby of the pool; equally loaded ones at random. */
static int
route_pick_read_only(void)
{
	uint32 load[CM_MAX_NODES];
	int i;

	for (i = 0; i < routing.ro_pool_size; i++)
		load[i] = routing.ro_load[i] > PG_UINT32_MAX - pool_sent[i]
					  ? PG_UINT32_MAX
					  : routing.ro_load[i] + pool_sent[i];
	i = cm_pool_pick(load, routing.ro_pool_size,
					 pg_prng_uint32(&pg_global_prng_state));
	pool_sent[i]++;
	return i;
}

/*
 * The target for a new session of port.  A read-write target counts only
 * while the monitor's word on it is fresh (valid_until).
 */
CmRouteResult
cm_route_choose(CmPortKind port, CmTarget *target, const char **reason)
{
	*reason = NULL;
	if (port == CM_PORT_READ_ONLY)
	{
		if (routing.ro_pool_size > 0)
		{
			*target = routing.ro_pool[route_pick_read_only()];
			return CM_ROUTE_TARGET;
		}
		if (!routing.read_only.valid)
		{
			*reason = routing.read_only_reason;
			return CM_ROUTE_REFUSED;
		}
		*target = routing.read_only;
		return CM_ROUTE_TARGET;
	}
	if (routing.read_write.valid &&
		(routing.valid_until == 0 || cm_now_ms() < routing.valid_until))
	{
		*target = routing.read_write;
		return CM_ROUTE_TARGET;
	}
	*reason = cm_route_no_leader_reason();
	return CM_ROUTE_NO_LEADER;
}

/* This node's position in the node list, from 1; 0 when none is known. */
int
cm_route_self_node(void)
{
	return routing.self_node;
}

/* Node (from 1) of the node list; NULL past its end. */
const CmPeer *
cm_route_peer(int node)
{
	if (node < 1 || node > routing.npeers)
		return NULL;
	return &routing.peers[node - 1];
}

/* Whether addr is the IP address of a node of the list. */
bool
cm_route_is_peer_address(const struct sockaddr_storage *addr)
{
	for (int i = 0; i < routing.npeers; i++)
		if (routing.peers[i].addrlen > 0 &&
			cm_sock_same_ip(&routing.peers[i].addr, addr))
			return true;
	return false;
}

/* ------------------------------------------------------------------------
 * Targets held by open sessions
 * ------------------------------------------------------------------------
 */

static dlist_head holds = DLIST_STATIC_INIT(holds);

static bool
same_target(const CmTarget *a, const CmTarget *b)
{
	return a->valid && b->valid && a->addrlen == b->addrlen &&
		   memcmp(&a->addr, &b->addr, a->addrlen) == 0 &&
		   strcmp(a->name, b->name) == 0 && strcmp(a->node, b->node) == 0;
}

/* Whether target is the write leader and the monitor vouches for it. */
static bool
route_is_leader(const CmTarget *target, int64 now)
{
	return same_target(&routing.read_write, target) &&
		   (routing.valid_until == 0 || now < routing.valid_until);
}

/*
 * Whether the routing state still sends the port's sessions to target: a
 * read-write target while it is the write leader; a read-only one while it
 * is in the pool, the single read-only target, or the write leader (a
 * session the fallback sent there reads the freshest data there is, and
 * standbys joining the pool do not end it).
 */
static bool
route_current(CmPortKind port, const CmTarget *target, int64 now)
{
	if (port == CM_PORT_READ_ONLY)
	{
		for (int i = 0; i < routing.ro_pool_size; i++)
			if (same_target(&routing.ro_pool[i], target))
				return true;
		return same_target(&routing.read_only, target) ||
			   route_is_leader(target, now);
	}
	return route_is_leader(target, now);
}

/* The hold of target for a new session; NULL when out of memory. */
CmRouteHold *
cm_route_hold(CmPortKind port, const CmTarget *target)
{
	dlist_iter iter;
	CmRouteHold *h;

	dlist_foreach (iter, &holds)
	{
		h = dlist_container(CmRouteHold, node, iter.cur);
		if (h->port == port && h->current && same_target(&h->target, target))
		{
			h->refs++;
			return h;
		}
	}
	h = malloc(sizeof(CmRouteHold));
	if (h == NULL)
		return NULL;
	h->port = port;
	h->refs = 1;
	h->current = true;
	h->target = *target;
	dlist_push_tail(&holds, &h->node);
	return h;
}

void
cm_route_unhold(CmRouteHold *hold)
{
	if (hold == NULL || --hold->refs > 0)
		return;
	dlist_delete(&hold->node);
	free(hold);
}

/*
 * Re-judges every held target against the routing state and the clock;
 * true when one is no longer current (its sessions are to be fenced).  A
 * hold that stopped being current never becomes current again: a session
 * fenced once is ended, and new sessions take a new hold.
 */
bool
cm_route_judge_holds(void)
{
	dlist_iter iter;
	int64 now = cm_now_ms();
	bool any = false;

	dlist_foreach (iter, &holds)
	{
		CmRouteHold *h = dlist_container(CmRouteHold, node, iter.cur);

		if (h->current && !route_current(h->port, &h->target, now))
			h->current = false;
		any |= !h->current;
	}
	return any;
}

/* When the read-write routing runs out unless renewed; 0: never. */
int64
cm_route_valid_until(void)
{
	return routing.read_write.valid ? routing.valid_until : 0;
}

/* The name a target goes by in messages: its node's, or host:port. */
static const char *
target_label(const CmTarget *t)
{
	return t->node[0] != '\0' ? t->node : t->name;
}

/* What a fenced session of hold is told: message and detail. */
void
cm_route_fence_reason(const CmRouteHold *hold, char *message, size_t mlen,
					  char *detail, size_t dlen)
{
	const CmTarget *t = &hold->target;
	const CmTarget *now = &routing.read_write;

	if (hold->port == CM_PORT_READ_ONLY)
	{
		snprintf(message, mlen,
				 "terminating connection because node \"%s\" left the read-only pool",
				 target_label(t));
		snprintf(detail, dlen, "%s",
				 routing.read_only_reason[0] != '\0'
					 ? routing.read_only_reason
					 : "The monitor no longer sends read-only sessions there.");
		return;
	}
	if (now->valid && !same_target(now, t) &&
		(routing.valid_until == 0 || cm_now_ms() < routing.valid_until))
	{
		snprintf(message, mlen,
				 "terminating connection because the write leader changed");
		snprintf(detail, dlen,
				 "Node \"%s\" is the write leader now; this session was on node \"%s\".",
				 target_label(now), target_label(t));
		return;
	}
	snprintf(message, mlen,
			 "terminating connection because node \"%s\" is no longer the write leader",
			 target_label(t));
	snprintf(detail, dlen, "%s", cm_route_no_leader_reason());
}
