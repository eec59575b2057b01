/*
 * cm_fd_owner.h
 *		Descriptors the postmaster makes for the connection manager, and the
 *		children that keep them.
 *
 * The postmaster opens the listening sockets and the wake-up eventfds so
 * that a restarted worker finds them, but every process it forks (backends,
 * auxiliary processes, other background workers) would inherit them too:
 * FD_CLOEXEC does not help, there is no exec.  Each such descriptor is
 * registered with its owners; in every child the postmaster forks, all the
 * others are closed at once, before the child runs any of its own code, and
 * set to -1 where they were kept.  The postmaster keeps its copies.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_FD_OWNER_H
#define CM_FD_OWNER_H

#include <stdbool.h>

/* No proxy worker keeps the descriptor. */
#define CM_FD_NO_PROXY (-1)

/*
 * In the postmaster: *fd is kept by proxy worker proxy (or CM_FD_NO_PROXY)
 * and, when monitor is true, by the monitor; every other child closes it.
 * The int must live as long as the process (a static).  false: no room
 * left; the caller should close the descriptor rather than leak it.
 */
extern bool cm_fd_owner_register(int *fd, int proxy, bool monitor);

/* In the postmaster, once: close what is not theirs in every child. */
extern void cm_fd_owner_install(void);

#endif /* CM_FD_OWNER_H */
