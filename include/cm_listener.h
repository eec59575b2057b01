/*
 * cm_listener.h
 *		Listening sockets, opened by the postmaster; each proxy worker keeps
 *		its own.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_LISTENER_H
#define CM_LISTENER_H

#define CM_MAX_LISTEN_ADDRS 16
/* sockets of one port kind for one worker: every address a name gave */
#define CM_MAX_WORKER_LISTENERS 64

#include "cm_port.h"

struct addrinfo;

extern void cm_listener_open_all(int nworkers);
extern struct addrinfo *cm_listen_resolve(const char *host, int port);
extern int
cm_listener_worker_fds(int worker, CmPortKind kind, int *fds, int max);

#endif /* CM_LISTENER_H */
