/*
 * cm_node_state.h
 *		This node's description of itself, read from inside the server, and
 *		the single-node routing rule built on it.
 */
#ifndef CM_NODE_STATE_H
#define CM_NODE_STATE_H

#include "cm_shmem.h"

extern void cm_node_describe(CmRouting *out);

#endif /* CM_NODE_STATE_H */
