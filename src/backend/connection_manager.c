/*
 * backend/connection_manager.c
 *		Entry point: define the settings, ask for shared memory, open the
 *		listening sockets and eventfds (kept only by their owners in the
 *		children: fd_owner.c) and register the proxy workers and the monitor.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"

#include "cm_fd_owner.h"
#include "cm_guc.h"
#include "cm_listener.h"
#include "cm_proof.h"
#include "cm_readonly.h"
#include "cm_shmem.h"
#include "cm_stats.h"
#include "cm_wakeup.h"
#include "cm_worker.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static void
register_worker(const char *function, const char *name, int index, int flags)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | flags;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, CM_LIBRARY_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	strlcpy(worker.bgw_type, CM_LIBRARY_NAME, BGW_MAXLEN);
	worker.bgw_main_arg = Int32GetDatum(index);
	RegisterBackgroundWorker(&worker);
}

void
_PG_init(void)
{
	int nworkers;

	cm_proof_init(); /* before cm_guc_define() reserves the prefix */
	cm_guc_define();
	cm_readonly_init(); /* every backend: the lock is per session */
	if (!process_shared_preload_libraries_in_progress)
		return;

	cm_shmem_install_hooks();
	cm_stats_install_hooks();

	/* only a real postmaster serves clients; not single-user mode */
	if (!IsPostmasterEnvironment || IsUnderPostmaster)
		return;

	nworkers = cm_guc_worker_count();
	cm_listener_open_all(nworkers);
	cm_wakeup_create(nworkers);
	cm_fd_owner_install();
	for (int i = 0; i < nworkers; i++)
	{
		char name[BGW_MAXLEN];

		snprintf(name, sizeof(name), "connection_manager proxy %d", i);
		register_worker(CM_PROXY_MAIN, name, i,
						BGWORKER_BACKEND_DATABASE_CONNECTION);
	}
	register_worker(CM_MONITOR_MAIN, "connection_manager monitor", 0, 0);
}
