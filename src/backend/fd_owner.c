/*
 * backend/fd_owner.c
 *		Closes, in every child the postmaster forks, the descriptors the
 *		postmaster made for the connection manager that the child does not
 *		own (see cm_fd_owner.h).
 *
 * PostgreSQL 15 has no hook that runs in every child, so this is a
 * pthread_atfork() child handler.  It runs inside fork(), before
 * fork_process() returns, so the child has not run any code of its own yet
 * and cannot tell who it is: MyBgworkerEntry and MyBackendType are set
 * later.  The postmaster's own bookkeeping can: do_start_bgworker() gives
 * the worker it is starting a backend entry and a child slot (also put in
 * MyPMChildSlot) before fork() and records its pid only after fork()
 * returns, so in the child the one registered worker with a backend entry,
 * that slot and no pid yet is the child itself.  Any other child (a
 * backend, an auxiliary process, the syslogger, another background worker)
 * finds no such entry of ours and closes everything.  A worker that is
 * restarted is forked again and keeps its own again; the postmaster never
 * closes its copies.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <pthread.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "miscadmin.h"
#include "postmaster/bgworker_internals.h"

#include "cm_fd_owner.h"
#include "cm_listener.h"
#include "cm_shmem.h"
#include "cm_worker.h"

/*
 * Room for every listening socket listener.c can open (each kind, address
 * and worker), every eventfd, and a few more.
 */
#define CM_FD_OWNER_MAX                                                       \
	(CM_PORT_KINDS * CM_MAX_LISTEN_ADDRS * CM_MAX_WORKERS + CM_MAX_WORKERS + 64)

typedef struct CmOwnedFd
{
	int *fd;
	int proxy; /* the proxy worker that keeps it, or CM_FD_NO_PROXY */
	bool monitor;
} CmOwnedFd;

static CmOwnedFd owned[CM_FD_OWNER_MAX];
static int nowned = 0;

/* Set in the parent just before each fork(): is the postmaster forking? */
static bool postmaster_forking = false;

bool
cm_fd_owner_register(int *fd, int proxy, bool monitor)
{
	if (nowned >= CM_FD_OWNER_MAX)
		return false;
	owned[nowned].fd = fd;
	owned[nowned].proxy = proxy;
	owned[nowned].monitor = monitor;
	nowned++;
	return true;
}

/*
 * Which of our workers the new child is: *proxy and *monitor stay
 * CM_FD_NO_PROXY and false for any other child.
 */
static void
identify_child(int *proxy, bool *monitor)
{
	slist_iter iter;

	*proxy = CM_FD_NO_PROXY;
	*monitor = false;
	slist_foreach (iter, &BackgroundWorkerList)
	{
		RegisteredBgWorker *rw =
			slist_container(RegisteredBgWorker, rw_lnode, iter.cur);
		const BackgroundWorker *w = &rw->rw_worker;

		if (rw->rw_pid != 0 || rw->rw_backend == NULL ||
			rw->rw_child_slot != MyPMChildSlot)
			continue;
		if (strcmp(w->bgw_library_name, CM_LIBRARY_NAME) != 0)
			return;
		if (strcmp(w->bgw_function_name, CM_PROXY_MAIN) == 0)
			*proxy = DatumGetInt32(w->bgw_main_arg);
		else if (strcmp(w->bgw_function_name, CM_MONITOR_MAIN) == 0)
			*monitor = true;
		return;
	}
}

static void
before_fork(void)
{
	postmaster_forking = getpid() == PostmasterPid;
}

/* Only close() and stores: nothing here may fail or allocate. */
static void
in_child(void)
{
	int proxy;
	bool monitor;

	if (!postmaster_forking)
		return; /* a fork by a child (a backend's plperlu, say) */
	postmaster_forking = false;
	identify_child(&proxy, &monitor);
	for (int i = 0; i < nowned; i++)
	{
		CmOwnedFd *o = &owned[i];

		if ((o->proxy != CM_FD_NO_PROXY && o->proxy == proxy) ||
			(o->monitor && monitor) || *o->fd < 0)
			continue;
		(void) close(*o->fd);
		*o->fd = -1;
	}
}

void
cm_fd_owner_install(void)
{
	int rc = pthread_atfork(before_fork, NULL, in_child);

	if (rc != 0)
		ereport(WARNING,
				(errmsg("connection_manager: could not install the fork handler: %s",
						strerror(rc)),
				 errdetail(
					 "Every process the server starts inherits the connection manager's listening sockets and eventfds.")));
}
