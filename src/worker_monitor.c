/*
 * worker_monitor.c
 *		Main of the monitor worker: every probe_interval it describes this
 *		node and publishes the routing state in shared memory, which wakes
 *		the proxy workers.  Routing changes are logged with their reason.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"

#include "cm_guc.h"
#include "cm_node_state.h"
#include "cm_shmem.h"
#include "cm_worker.h"

static void
log_read_only_change(const CmRouting *old, const CmRouting *now)
{
	if (old->read_only.valid == now->read_only.valid &&
		old->read_only_is_leader == now->read_only_is_leader &&
		strcmp(old->read_only.name, now->read_only.name) == 0)
		return;
	if (!now->read_only.valid)
		ereport(LOG,
				(errmsg("connection_manager: no read-only target is available"),
				 errdetail("%s.", now->read_only_reason)));
	else if (now->read_only_is_leader)
		ereport(LOG,
				(errmsg("connection_manager: read-only sessions go to the write leader \"%s\", locked read-only",
						now->read_only.name),
				 errdetail("%s, and read_only_fallback is leader.",
						   now->read_only_reason)));
	else
		ereport(LOG,
				(errmsg("connection_manager: read-only sessions go to \"%s\"",
						now->read_only.name),
				 errdetail("%s.", now->read_only_reason)));
}

static void
log_routing_change(const CmRouting *old, const CmRouting *now)
{
	log_read_only_change(old, now);
	if (old->read_write.valid == now->read_write.valid &&
		strcmp(old->read_write.name, now->read_write.name) == 0 &&
		strcmp(old->no_leader_reason, now->no_leader_reason) == 0)
		return;
	if (now->read_write.valid)
		ereport(LOG,
				(errmsg("connection_manager: read-write sessions go to \"%s\"",
						now->read_write.name),
				 errdetail("This node is %s.",
						   now->in_recovery ? "a standby, and that is its upstream"
											: "the primary")));
	else
		ereport(LOG, (errmsg("connection_manager: no write leader is available"),
					  errdetail("%s", now->no_leader_reason)));
}

void
cm_monitor_main(Datum arg)
{
	CmRouting last;
	bool warned_nodes = false;

	(void) arg;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	memset(&last, 0, sizeof(last));

	while (!ShutdownRequestPending)
	{
		CmRouting now;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (cm_nodes && cm_nodes[0] && !warned_nodes)
		{
			ereport(WARNING,
					(errmsg("connection_manager: leader tracking across connection_manager.nodes is not available in this version"),
					 errdetail(
						 "Each node routes by its own state: a primary to itself, a standby to its upstream.")));
			warned_nodes = true;
		}
		cm_node_describe(&now);
		log_routing_change(&last, &now);
		cm_routing_publish(&now);
		last = now;

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 cm_probe_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(1);
}
