/*
 * test_cancel_key.c
 *		Unit tests of the process id in our BackendKeyData, which names a
 *		node and a slot (src/pure/cancel_key.c).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_cancel_key.h"
#include "cm_cluster.h"
#include "tap.h"

/* Encodes, checks the result is a positive process id, decodes it back. */
static void
round_trip(int node, int slot)
{
	int32_t pid = cm_cancel_pid(node, slot);
	int n = -2;
	int s = -2;

	ok(pid > 0, "node %d slot %d: a positive process id (%d)", node, slot,
	   (int) pid);
	ok(cm_cancel_pid_parse(pid, &n, &s), "node %d slot %d: parsed", node, slot);
	is_int(n, node, "node %d slot %d: the node comes back", node, slot);
	is_int(s, slot, "node %d slot %d: the slot comes back", node, slot);
}

static void
test_round_trips(void)
{
	int nodes[] = {0, 1, 2, CM_MAX_NODES, CM_CANCEL_MAX_NODE};
	int slots[] = {0, 1, 4095, (1 << 22), CM_CANCEL_MAX_SLOTS - 1};

	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		for (size_t j = 0; j < sizeof(slots) / sizeof(slots[0]); j++)
			round_trip(nodes[i], slots[j]);
}

static void
test_layout(void)
{
	/* without a node list, the process id is what it always was */
	is_int(cm_cancel_pid(0, 0), 1, "alone: slot 0 is process id 1");
	is_int(cm_cancel_pid(0, 41), 42, "alone: slot 41 is process id 42");
	is_int(cm_cancel_pid(2, 41), (2 << 25) | 42,
		   "node 2 sits above bit 25, the slot + 1 below");
	is_int(cm_cancel_pid(CM_CANCEL_MAX_NODE, CM_CANCEL_MAX_SLOTS - 1),
		   0x7fffffff, "the largest of both is the largest positive int32");
	/* every slot a node can have: 64 workers x 2 x MAX_BACKENDS */
	ok(64 * 2 * 0x3FFFF <= CM_CANCEL_MAX_SLOTS,
	   "every slot of the largest session table fits");
}

static void
test_out_of_range(void)
{
	int n;
	int s;

	is_int(cm_cancel_pid(-1, 0), 0, "a negative node gives none");
	is_int(cm_cancel_pid(CM_CANCEL_MAX_NODE + 1, 0), 0,
		   "a node past 63 gives none");
	is_int(cm_cancel_pid(1, -1), 0, "a negative slot gives none");
	is_int(cm_cancel_pid(1, CM_CANCEL_MAX_SLOTS), 0,
		   "a slot past 25 bits gives none");

	ok(!cm_cancel_pid_parse(0, &n, &s), "process id 0 names nothing");
	is_int(s, -1, "and no slot");
	ok(!cm_cancel_pid_parse(-1, &n, &s), "a negative process id: nothing");
	ok(!cm_cancel_pid_parse((int32_t) 0x80000001u, &n, &s),
	   "bit 31 set: nothing");
	ok(!cm_cancel_pid_parse(3 << 25, &n, &s),
	   "a node with slot field 0: nothing");
	ok(cm_cancel_pid_parse(40 << 25 | 7, &n, &s),
	   "a node past the list still parses (the caller drops it)");
	is_int(n, 40, "as node 40");
	is_int(s, 6, "slot 6");
}

int
main(void)
{
	test_round_trips();
	test_layout();
	test_out_of_range();
	return done_testing();
}
