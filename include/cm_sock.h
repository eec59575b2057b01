/*
 * cm_sock.h
 *		Sockets for the event loop: starting a non-blocking connect, learning
 *		how it ended, and accepting with a pause when descriptors run out.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_SOCK_H
#define CM_SOCK_H

#include <sys/socket.h>

#include "cm_event.h"

/* which step of cm_sock_connect() failed */
typedef enum CmSockStep
{
	CM_SOCK_SOCKET,
	CM_SOCK_BIND,
	CM_SOCK_CONNECT
} CmSockStep;

typedef void (*CmAcceptHandler)(void *arg, int fd,
								const struct sockaddr_storage *addr);
typedef void (*CmAcceptPauseHandler)(void *arg, int err);

/*
 * A listening socket in the loop.  When accept() fails for want of
 * descriptors or memory, the acceptor stops watching and tries again after
 * pause_ms, rather than spinning on a socket that stays readable.
 */
typedef struct CmAcceptor
{
	CmWatch watch;
	CmTimer resume;
	int batch;	  /* connections accepted per turn at most */
	int pause_ms; /* how long to stop after EMFILE and friends */
	bool paused;
	CmAcceptHandler on_accept;
	CmAcceptPauseHandler on_pause; /* may be NULL */
	void *arg;
} CmAcceptor;

extern int cm_sock_connect(const struct sockaddr *addr, socklen_t addrlen,
						   const struct sockaddr *source, socklen_t sourcelen,
						   CmSockStep *failed);
extern int cm_sock_connect_error(int fd);
extern bool cm_sock_same_ip(const struct sockaddr_storage *a,
							const struct sockaddr_storage *b);
extern int cm_sock_port(const struct sockaddr_storage *addr);
extern bool cm_sock_set_port(struct sockaddr_storage *addr, int port);

extern bool cm_acceptor_start(CmAcceptor *a, int fd, int batch, int pause_ms,
							  CmAcceptHandler on_accept,
							  CmAcceptPauseHandler on_pause, void *arg);
extern void cm_acceptor_stop(CmAcceptor *a);

#endif /* CM_SOCK_H */
