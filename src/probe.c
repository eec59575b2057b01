/*
 * probe.c
 *		One round of probes: a non-blocking GET /node/state to every node's
 *		HTTP port, all at once; the monitor ends the round by its deadline
 *		(cm_probe_abort_all).  A node
 *		that does not answer in time, answers anything but 200, or sends a
 *		state that does not parse, is unreachable for this round.
 */
#include "postgres.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "utils/memutils.h"

#include "cm_http.h"
#include "cm_monitor.h"

typedef struct Probe
{
	CmMonEvent ev;
	bool active; /* socket open, answer not complete */
	bool sent;	 /* the request is written */
	size_t len;	 /* bytes of answer held */
	CmNodeState result;
	char buf[CM_HTTP_ANSWER_MAX];
} Probe;

static Probe *probes = NULL; /* CM_MAX_NODES of them, allocated once */
static int nprobes = 0;

static const char request[] = "GET /node/state HTTP/1.1\r\n"
							  "Host: connection-manager\r\n"
							  "User-Agent: connection_manager\r\n"
							  "Connection: close\r\n\r\n";

static void
probe_end(Probe *p)
{
	if (!p->active)
		return;
	cm_mon_forget(&p->ev);
	p->active = false;
}

/* The peer closed: the answer is whole. */
static void
probe_finish(Probe *p)
{
	int status;
	const char *body;
	size_t body_len;

	if (cm_http_parse_answer(p->buf, p->len, &status, &body, &body_len) &&
		status == 200)
		(void) cm_node_state_parse(body, body_len, &p->result);
	probe_end(p);
}

static void
probe_event(CmMonEvent *ev, uint32 events)
{
	Probe *p = (Probe *) ev;

	if (!p->sent)
	{
		int err = 0;
		socklen_t errlen = sizeof(err);
		ssize_t n;

		if (getsockopt(p->ev.fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 ||
			err != 0)
		{
			probe_end(p);
			return;
		}
		/* a 90-byte request always fits a fresh socket's send buffer */
		n = send(p->ev.fd, request, sizeof(request) - 1, MSG_NOSIGNAL);
		if (n != (ssize_t) sizeof(request) - 1)
		{
			probe_end(p);
			return;
		}
		p->sent = true;
		cm_mon_modify(&p->ev, EPOLLIN);
		return;
	}
	for (;;)
	{
		ssize_t n;

		if (p->len == sizeof(p->buf))
		{
			probe_end(p); /* longer than any state: not one of ours */
			return;
		}
		n = recv(p->ev.fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == 0)
		{
			probe_finish(p);
			return;
		}
		if (n < 0)
		{
			probe_end(p);
			return;
		}
		p->len += (size_t) n;
	}
	(void) events;
}

void
cm_probe_round_start(const struct sockaddr_storage *addrs,
					 const socklen_t *addrlens, int n)
{
	if (probes == NULL)
		probes = MemoryContextAllocZero(TopMemoryContext,
										sizeof(Probe) * CM_MAX_NODES);
	cm_probe_abort_all();
	nprobes = Min(n, CM_MAX_NODES);
	for (int i = 0; i < nprobes; i++)
	{
		Probe *p = &probes[i];
		int fd;

		memset(&p->result, 0, sizeof(p->result));
		p->sent = false;
		p->len = 0;
		if (addrlens[i] == 0)
			continue; /* its address did not resolve */
		fd = socket(addrs[i].ss_family,
					SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, (const struct sockaddr *) &addrs[i], addrlens[i]) < 0 &&
			errno != EINPROGRESS)
		{
			close(fd);
			continue;
		}
		p->ev.fd = fd;
		p->ev.handler = probe_event;
		if (!cm_mon_watch(&p->ev, EPOLLOUT))
		{
			close(fd);
			continue;
		}
		p->active = true;
	}
}

/* True while a probe of the round still waits for its answer. */
bool
cm_probe_round_pending(void)
{
	for (int i = 0; i < nprobes; i++)
	{
		if (probes[i].active)
			return true;
	}
	return false;
}

void
cm_probe_round_results(CmNodeState *out, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (i < nprobes)
			out[i] = probes[i].result;
		else
			memset(&out[i], 0, sizeof(CmNodeState));
	}
}

void
cm_probe_abort_all(void)
{
	for (int i = 0; i < nprobes; i++)
		probe_end(&probes[i]);
}
