/*
 * cm_cancel_key.h
 *		The process id a client finds in the manager's BackendKeyData: it
 *		names the node whose manager holds the session and the session's
 *		slot there, so that a CancelRequest sent to any node's manager can
 *		be sent on to the right one (proxy/cancel.c).  The key beside it is
 *		a random secret of the slot (cm_slot.h).
 *
 *		bit 31		0: a process id is a positive int32
 *		bits 25-30	the node: its position in connection_manager.nodes,
 *					counted from 1; 0 when the node gave no position (no
 *					list, or its monitor has not found itself in it yet),
 *					which every manager takes for itself
 *		bits 0-24	the slot in that node's session table, counted from 1
 *
 * Without a node list the process id is the slot + 1, as it always was.
 * 25 bits hold every slot there can be: at most 64 workers of at most
 * 2 x 262143 (MAX_BACKENDS) slots each, 33,554,304 in all (shmem.c checks
 * this when it compiles).  Positions only mean the same node on every node
 * when every node has the same list, in the same order.
 *
 * Pure code: unit-tested on its own.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CANCEL_KEY_H
#define CM_CANCEL_KEY_H

#include <stdbool.h>
#include <stdint.h>

#define CM_CANCEL_NODE_SHIFT 25
#define CM_CANCEL_MAX_SLOTS	 ((1 << CM_CANCEL_NODE_SHIFT) - 1)
#define CM_CANCEL_MAX_NODE	 63

/*
 * The process id for slot (from 0) of node (from 1; 0: this node, no
 * position); 0 when either is out of range.
 */
extern int32_t cm_cancel_pid(int node, int slot);

/*
 * The node (0: no position) and slot (from 0) a process id names; false
 * for one no manager gives (not positive, or slot 0).
 */
extern bool cm_cancel_pid_parse(int32_t pid, int *node, int *slot);

#endif /* CM_CANCEL_KEY_H */
