/*
 * event/sock.c
 *		The one place that starts a non-blocking connect (sessions, cancel
 *		requests, probes) and that accepts (proxy ports, HTTP port), with the
 *		pause every accepting loop needs when descriptors run out.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "cm_sock.h"

/*
 * Opens a non-blocking socket for addr, binds source first when given
 * (with the port left to connect(), so one source address serves every
 * destination), and starts connecting.  Returns the descriptor, connected
 * or in progress (wait for CM_EV_WRITE, then cm_sock_connect_error()), or
 * -1 with errno and the step that failed.
 */
int
cm_sock_connect(const struct sockaddr *addr, socklen_t addrlen,
				const struct sockaddr *source, socklen_t sourcelen,
				CmSockStep *failed)
{
	int one = 1;
	int fd;
	int err;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		*failed = CM_SOCK_SOCKET;
		return -1;
	}
	if (addr->sa_family != AF_UNIX)
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (source != NULL)
	{
		(void) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
						  sizeof(one));
		if (bind(fd, source, sourcelen) < 0)
		{
			*failed = CM_SOCK_BIND;
			goto fail;
		}
	}
	if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS)
	{
		*failed = CM_SOCK_CONNECT;
		goto fail;
	}
	return fd;

fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* After a connecting socket turned writable: 0, or why it failed. */
int
cm_sock_connect_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Same IP address, the port aside?  Listeners are IPv6-only: no mapping. */
bool
cm_sock_same_ip(const struct sockaddr_storage *a,
				const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
			   ((const struct sockaddr_in *) b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr,
					  &((const struct sockaddr_in6 *) b)->sin6_addr,
					  sizeof(struct in6_addr)) == 0;
	return false;
}

/* The port of addr; 0 for a family without ports. */
int
cm_sock_port(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *) addr)->sin_port);
	if (addr->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *) addr)->sin6_port);
	return 0;
}

/* addr with another port (0: any); false for a family without ports. */
bool
cm_sock_set_port(struct sockaddr_storage *addr, int port)
{
	if (addr->ss_family == AF_INET)
		((struct sockaddr_in *) addr)->sin_port = htons((uint16_t) port);
	else if (addr->ss_family == AF_INET6)
		((struct sockaddr_in6 *) addr)->sin6_port = htons((uint16_t) port);
	else
		return false;
	return true;
}

static void
acceptor_resume(void *arg)
{
	CmAcceptor *a = arg;

	if (cm_watch_set(&a->watch, CM_EV_READ))
		a->paused = false;
	else
		(void) cm_timer_set(&a->resume, cm_now_ms() + a->pause_ms);
}

static void
acceptor_pause(CmAcceptor *a, int err)
{
	(void) cm_watch_set(&a->watch, 0);
	a->paused = true;
	/* without a timer the pause would last until the next restart */
	if (!cm_timer_set(&a->resume, cm_now_ms() + a->pause_ms))
		acceptor_resume(a);
	if (a->on_pause)
		a->on_pause(a->arg, err);
}

static void
acceptor_ready(void *arg, uint32_t events)
{
	CmAcceptor *a = arg;

	(void) events;
	for (int i = 0; i < a->batch; i++)
	{
		struct sockaddr_storage addr;
		socklen_t addrlen = sizeof(addr);
		int fd = accept4(a->watch.fd, (struct sockaddr *) &addr, &addrlen,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
		{
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				errno == ENOMEM)
				acceptor_pause(a, errno);
			return; /* EAGAIN, or an error of that one connection */
		}
		a->on_accept(a->arg, fd, &addr);
	}
}

/* Watches a listening socket (non-blocking) and hands over what comes. */
bool
cm_acceptor_start(CmAcceptor *a, int fd, int batch, int pause_ms,
				  CmAcceptHandler on_accept, CmAcceptPauseHandler on_pause,
				  void *arg)
{
	cm_watch_init(&a->watch, fd, acceptor_ready, a);
	cm_timer_init(&a->resume, acceptor_resume, a);
	a->batch = batch;
	a->pause_ms = pause_ms;
	a->paused = false;
	a->on_accept = on_accept;
	a->on_pause = on_pause;
	a->arg = arg;
	return cm_watch_set(&a->watch, CM_EV_READ);
}

/* Stops watching; the listening socket stays open. */
void
cm_acceptor_stop(CmAcceptor *a)
{
	cm_watch_remove(&a->watch);
	cm_timer_cancel(&a->resume);
	a->paused = false;
}
