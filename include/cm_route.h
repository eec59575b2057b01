/*
 * cm_route.h
 *		Where a session goes (proxy/route.c): the worker's copy of the
 *		routing state the monitor publishes, the choice of a target node
 *		from it for a session of either port, and the node list's
 *		managers, for cancel requests.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_ROUTE_H
#define CM_ROUTE_H

#include "lib/ilist.h"

#include "cm_listener.h"
#include "cm_shmem.h"

typedef enum CmRouteResult
{
	CM_ROUTE_TARGET,	/* *target is where the session goes */
	CM_ROUTE_NO_LEADER, /* read-write: no write leader now, maybe soon */
	CM_ROUTE_REFUSED	/* read-only: no target, *reason says why */
} CmRouteResult;

extern bool cm_route_refresh(void);
extern CmRouteResult
cm_route_choose(CmPortKind port, CmTarget *target, const char **reason);
extern const char *cm_route_no_leader_reason(void);
extern int cm_route_self_node(void);
extern const CmPeer *cm_route_peer(int node);
extern bool cm_route_is_peer_address(const struct sockaddr_storage *addr);

/*
 * A target that sessions of this worker went to, shared by all of them:
 * whether the routing state still sends the port's sessions there.  When
 * it stops, those sessions are fenced (session.c).
 */
typedef struct CmRouteHold
{
	dlist_node node;
	CmPortKind port;
	int refs;
	bool current;
	CmTarget target;
} CmRouteHold;

extern CmRouteHold *cm_route_hold(CmPortKind port, const CmTarget *target);
extern void cm_route_unhold(CmRouteHold *hold);
extern bool cm_route_judge_holds(void);
extern int64 cm_route_valid_until(void);
extern void cm_route_fence_reason(const CmRouteHold *hold, char *message,
								  size_t mlen, char *detail, size_t dlen);

#endif /* CM_ROUTE_H */
