/*
 * backend/wakeup.c
 *		Eventfds that wake the proxy workers (see cm_wakeup.h).  A worker
 *		whose eventfd could not be made looks for changes on a timer
 *		instead.  Proxy worker i keeps eventfd i, the monitor all of them,
 *		every other child none (fd_owner.c).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "cm_fd_owner.h"
#include "cm_shmem.h"
#include "cm_wakeup.h"

static int wake_fds[CM_MAX_WORKERS];
static int nwake = 0;

void
cm_wakeup_create(int nworkers)
{
	nwake = Min(nworkers, CM_MAX_WORKERS);
	for (int i = 0; i < nwake; i++)
	{
		wake_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (wake_fds[i] < 0)
			ereport(LOG,
					(errmsg(
						"connection_manager: could not create an eventfd: %m")));
		else if (!cm_fd_owner_register(&wake_fds[i], i, true))
		{
			close(wake_fds[i]);
			wake_fds[i] = -1;
		}
	}
}

int
cm_wakeup_fd(int worker)
{
	return worker >= 0 && worker < nwake ? wake_fds[worker] : -1;
}

void
cm_wakeup_all(void)
{
	uint64 one = 1;

	for (int i = 0; i < nwake; i++)
	{
		/* a full counter already means "wake up" */
		if (wake_fds[i] >= 0 && write(wake_fds[i], &one, sizeof(one)) < 0)
			continue;
	}
}
