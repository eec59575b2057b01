/*
 * cm_node_state.h
 *		This node's description of itself, read from inside the server, and
 *		the single-node routing rule built on it.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_NODE_STATE_H
#define CM_NODE_STATE_H

#include "cm_shmem.h"

extern void cm_node_describe(CmRouting *out, bool targets);
extern void
cm_node_self(const CmRouting *described, uint64 instance, CmNodeState *out);
extern bool
cm_resolve_target(const char *host, int port, CmTarget *target, char *reason);

#endif /* CM_NODE_STATE_H */
