/*
 * pure/cancel_key.c
 *		The process id of our BackendKeyData: node and slot (see
 *		cm_cancel_key.h).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_cancel_key.h"

#include "cm_cluster.h"

_Static_assert(CM_MAX_NODES <= CM_CANCEL_MAX_NODE,
			   "every position in the node list fits a process id");

int32_t
cm_cancel_pid(int node, int slot)
{
	if (node < 0 || node > CM_CANCEL_MAX_NODE || slot < 0 ||
		slot >= CM_CANCEL_MAX_SLOTS)
		return 0;
	return (int32_t) (((uint32_t) node << CM_CANCEL_NODE_SHIFT) |
					  (uint32_t) (slot + 1));
}

bool
cm_cancel_pid_parse(int32_t pid, int *node, int *slot)
{
	uint32_t low = (uint32_t) pid & CM_CANCEL_MAX_SLOTS;

	*node = 0;
	*slot = -1;
	if (pid <= 0 || low == 0)
		return false;
	*node = (int) ((uint32_t) pid >> CM_CANCEL_NODE_SHIFT);
	*slot = (int) low - 1;
	return true;
}
