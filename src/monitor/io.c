/*
 * monitor/io.c
 *		Partial reads and writes on the monitor's sockets, plain or through
 *		TLS, for the HTTP server and the probes: a short count, the end, an
 *		error, or a wait with the watch turned to the direction needed.
 *		Issue 13 moves this into the event layer's streams (event/stream.c).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <errno.h>
#include <sys/socket.h>

#include "cm_monitor.h"
#include "cm_tls.h"

/*
 * Sends or receives on w's socket, through TLS when tls is set: >0 bytes,
 * 0 at the end, or -1: an error, or with *again a wait, for which w now
 * watches the direction TLS or the socket needs (should epoll refuse, the
 * socket's deadline ends the wait).
 */
ssize_t
cm_mon_io(CmWatch *w, CmTls *tls, bool sending, void *buf, size_t len,
		  bool *again)
{
	ssize_t n;

	*again = false;
	if (tls)
	{
		CmTlsStatus st;

		n = sending ? cm_tls_write(tls, buf, len, &st)
					: cm_tls_read(tls, buf, len, &st);
		if (n >= 0)
			return n;
		if (st == CM_TLS_WANT_READ || st == CM_TLS_WANT_WRITE)
		{
			*again = true;
			(void) cm_watch_set(w, st == CM_TLS_WANT_READ ? CM_EV_READ
														  : CM_EV_WRITE);
			return -1;
		}
		return st == CM_TLS_CLOSED ? 0 : -1;
	}
	for (;;)
	{
		n = sending ? send(w->fd, buf, len, MSG_NOSIGNAL)
					: recv(w->fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			*again = true;
			(void) cm_watch_set(w, sending ? CM_EV_WRITE : CM_EV_READ);
		}
		return n;
	}
}
