/*
 * backend/listener.c
 *		Open the connection manager's listening sockets in the postmaster,
 *		before any worker starts, so that a worker that restarts finds its
 *		socket, and its queued connections, still there.
 *
 * Every worker gets its own socket in an SO_REUSEPORT group, so the kernel
 * spreads connections over the workers.  SO_REUSEPORT would also let any
 * other process of the same user join the group silently (another
 * cluster's connection manager, say), so each address is first bound
 * without it: if that fails, the port is taken and we say so.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "utils/varlena.h"

#include "cm_fd_owner.h"
#include "cm_guc.h"
#include "cm_listener.h"
#include "cm_shmem.h"

#define CM_LISTEN_BACKLOG 1024

typedef struct CmListenSocket
{
	int worker;
	int fd;
} CmListenSocket;

/*
 * Filled in the postmaster; a worker keeps only its own sockets, other
 * children none (fd_owner.c).
 */
static CmListenSocket listen_sockets[CM_PORT_KINDS]
									[CM_MAX_LISTEN_ADDRS * CM_MAX_WORKERS];
static int nlisten_sockets[CM_PORT_KINDS];

const char *
cm_port_kind_name(CmPortKind kind)
{
	switch (kind)
	{
		case CM_PORT_READ_WRITE:
			return "read-write";
		case CM_PORT_READ_ONLY:
			return "read-only";
		default:
			return "unknown";
	}
}

static int
open_socket(const struct addrinfo *ai, bool reuseport)
{
	int fd;
	int one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);
	if (fd < 0)
		return -1;
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (reuseport &&
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
	{
		close(fd);
		return -1;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
	{
		int save = errno;

		close(fd);
		errno = save;
		return -1;
	}
	return fd;
}

static void
describe_address(const struct addrinfo *ai, char *buf, size_t len)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, len, NULL, 0,
					NI_NUMERICHOST) != 0)
		strlcpy(buf, "?", len);
}

/*
 * The addresses to bind for one entry of listen_addresses ("*": all), or
 * NULL, said in the log, when it does not resolve.  freeaddrinfo() them.
 */
struct addrinfo *
cm_listen_resolve(const char *host, int port)
{
	struct addrinfo hints;
	struct addrinfo *res;
	char portstr[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr, &hints,
					 &res);
	if (rc != 0)
	{
		ereport(WARNING,
				(errmsg("connection_manager: could not resolve listen address \"%s\": %s",
						host, gai_strerror(rc))));
		return NULL;
	}
	return res;
}

static void
open_address(CmPortKind kind, const char *host, int port, int nworkers)
{
	struct addrinfo *res = cm_listen_resolve(host, port);

	if (res == NULL)
		return;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
	{
		char addr[NI_MAXHOST];
		int probe;
		int opened = 0;

		describe_address(ai, addr, sizeof(addr));
		probe = open_socket(ai, false);
		if (probe < 0)
		{
			ereport(LOG,
					(errcode_for_socket_access(),
					 errmsg("connection_manager: could not bind %s port on address \"%s\", port %d: %m",
							cm_port_kind_name(kind), addr, port),
					 errhint("Is another connection manager or server already running on port %d?  The %s listener will not serve this address.",
							 port, cm_port_kind_name(kind))));
			continue;
		}
		close(probe);

		for (int w = 0; w < nworkers; w++)
		{
			CmListenSocket *sock;
			int fd;

			if (nlisten_sockets[kind] >= lengthof(listen_sockets[kind]) ||
				cm_listener_worker_fds(w, kind, NULL, 0) >=
					CM_MAX_WORKER_LISTENERS)
				break;
			fd = open_socket(ai, true);

			if (fd < 0 || listen(fd, CM_LISTEN_BACKLOG) < 0)
			{
				ereport(LOG,
						(errcode_for_socket_access(),
						 errmsg("connection_manager: could not listen on address \"%s\", port %d: %m",
								addr, port)));
				if (fd >= 0)
					close(fd);
				break;
			}
			sock = &listen_sockets[kind][nlisten_sockets[kind]];
			sock->worker = w;
			sock->fd = fd;
			if (!cm_fd_owner_register(&sock->fd, w, false))
			{
				close(fd);
				break;
			}
			nlisten_sockets[kind]++;
			opened++;
		}
		if (opened > 0)
			ereport(LOG,
					(errmsg("connection_manager: %s listener on address \"%s\", port %d",
							cm_port_kind_name(kind), addr, port)));
	}
	freeaddrinfo(res);
}

static void
open_kind(CmPortKind kind, int port, int nworkers)
{
	char *raw;
	List *hosts;
	ListCell *lc;
	int naddrs = 0;

	if (port <= 0)
		return;
	raw = pstrdup(cm_guc_listen_addresses());
	if (!SplitGUCList(raw, ',', &hosts))
	{
		ereport(WARNING,
				(errmsg(
					"connection_manager: invalid list syntax in listen_addresses")));
		return;
	}
	if (hosts == NIL)
		ereport(LOG,
				(errmsg("connection_manager: no listen addresses, the %s port is not served",
						cm_port_kind_name(kind)),
				 errhint(
					 "Set connection_manager.listen_addresses or the server's listen_addresses.")));
	foreach (lc, hosts)
	{
		if (naddrs++ >= CM_MAX_LISTEN_ADDRS)
		{
			ereport(WARNING,
					(errmsg("connection_manager: at most %d listen addresses are used",
							CM_MAX_LISTEN_ADDRS)));
			break;
		}
		open_address(kind, (const char *) lfirst(lc), port, nworkers);
	}
}

void
cm_listener_open_all(int nworkers)
{
	open_kind(CM_PORT_READ_WRITE, cm_guc_rw_port(), nworkers);
	open_kind(CM_PORT_READ_ONLY, cm_guc_ro_port(), nworkers);
}

int
cm_listener_worker_fds(int worker, CmPortKind kind, int *fds, int max)
{
	int n = 0; /* with fds NULL, only count */
	for (int i = 0; i < nlisten_sockets[kind]; i++)
	{
		/* a child closed those of the other workers as it was forked */
		if (listen_sockets[kind][i].worker != worker ||
			listen_sockets[kind][i].fd < 0)
			continue;
		if (fds != NULL)
		{
			if (n >= max)
				break;
			fds[n] = listen_sockets[kind][i].fd;
		}
		n++;
	}
	return n;
}
