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
