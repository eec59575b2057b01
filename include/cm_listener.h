/*
 * cm_listener.h
 *		Listening sockets, opened by the postmaster and inherited by the
 *		proxy workers.
 */
#ifndef CM_LISTENER_H
#define CM_LISTENER_H

#define CM_MAX_LISTEN_ADDRS 16

typedef enum CmPortKind
{
	CM_PORT_READ_WRITE = 0,
	CM_PORT_KINDS
} CmPortKind;

extern void cm_listener_open_all(int nworkers);
extern int
cm_listener_worker_fds(int worker, CmPortKind kind, int *fds, int max);
extern const char *cm_port_kind_name(CmPortKind kind);

#endif /* CM_LISTENER_H */
