/*
 * monitor/probe.c
 *		One round of probes: a non-blocking GET /node/state to every node's
 *		HTTP port, all at once; the monitor ends the round by its deadline
 *		(cm_probe_abort_all).  A node
 *		that does not answer in time, answers anything but 200, or sends a
 *		state that does not parse, is unreachable for this round.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <errno.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "utils/memutils.h"

#include "cm_guc.h"
#include "cm_http.h"
#include "cm_monitor.h"
#include "cm_tls.h"

typedef struct Probe
{
	CmMonEvent ev;
	bool active;	/* socket open, answer not complete */
	bool connected; /* TCP is up (and, with HTTPS, the handshake done) */
	bool sent;		/* the request is written */
	CmTls *tls;		/* HTTPS (use_https), or NULL */
	char host[CM_NODE_HOST_LEN]; /* for the certificate check */
	size_t len;					 /* bytes of answer held */
	int64 started_us;
	double ms; /* how long the answer took; -1 none */
	CmNodeState result;
	char buf[CM_HTTP_ANSWER_MAX];
} Probe;

static Probe *probes = NULL; /* CM_MAX_NODES of them, allocated once */
static int nprobes = 0;

static const char request[] = "GET /node/state HTTP/1.1\r\n"
							  "Host: connection-manager\r\n"
							  "User-Agent: connection_manager\r\n"
							  "Connection: close\r\n\r\n";

static int64
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
probe_end(Probe *p)
{
	if (!p->active)
		return;
	if (p->tls)
		cm_tls_free(p->tls);
	p->tls = NULL;
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
		status == 200 && cm_node_state_parse(body, body_len, &p->result))
		p->ms = (double) (now_us() - p->started_us) / 1000.0;
	probe_end(p);
}

/*
 * The socket connected: with use_https, TLS starts; the verification is
 * server_sslmode's, at least "require".  False when the probe ended.
 */
static bool
probe_connected(Probe *p)
{
	int err = 0;
	socklen_t errlen = sizeof(err);
	char msg[256];

	if (p->tls == NULL)
	{
		if (getsockopt(p->ev.fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 ||
			err != 0)
		{
			probe_end(p);
			return false;
		}
		if (!cm_use_https)
		{
			p->connected = true;
			return true;
		}
		p->tls = cm_tls_connect_new(p->ev.fd,
									cm_server_sslmode >= CM_SSLMODE_REQUIRE
										? cm_server_sslmode_name()
										: "require",
									p->host);
		if (p->tls == NULL)
		{
			probe_end(p);
			return false;
		}
	}
	switch (cm_tls_handshake(p->tls, msg, sizeof(msg)))
	{
		case CM_TLS_OK:
			p->connected = true;
			return true;
		case CM_TLS_WANT_READ:
			cm_mon_modify(&p->ev, EPOLLIN);
			return false;
		case CM_TLS_WANT_WRITE:
			cm_mon_modify(&p->ev, EPOLLOUT);
			return false;
		default:
			probe_end(p);
			return false;
	}
}

static void
probe_event(CmMonEvent *ev, uint32 events)
{
	Probe *p = (Probe *) ev;
	bool again;

	(void) events;
	if (!p->connected && !probe_connected(p))
		return;
	if (!p->sent)
	{
		/* a 90-byte request always fits a fresh socket's send buffer */
		ssize_t n = cm_mon_io(&p->ev, p->tls, true, (void *) request,
							  sizeof(request) - 1, &again);

		if (again)
			return;
		if (n != (ssize_t) sizeof(request) - 1)
		{
			probe_end(p);
			return;
		}
		p->sent = true;
		cm_mon_modify(&p->ev, EPOLLIN);
	}
	for (;;)
	{
		ssize_t n;

		if (p->len == sizeof(p->buf))
		{
			probe_end(p); /* longer than any state: not one of ours */
			return;
		}
		n = cm_mon_io(&p->ev, p->tls, false, p->buf + p->len,
					  sizeof(p->buf) - p->len, &again);
		if (again)
			return;
		/* an answer that ends without close_notify is still checked whole */
		if (n == 0 || (n < 0 && p->tls != NULL && p->len > 0))
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
}

void
cm_probe_round_start(const struct sockaddr_storage *addrs,
					 const socklen_t *addrlens, const CmNodeConf *conf, int n)
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
		p->connected = false;
		p->sent = false;
		p->tls = NULL;
		strlcpy(p->host, conf[i].host, sizeof(p->host));
		p->len = 0;
		p->ms = -1;
		p->started_us = now_us();
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

/* How long each node's answer took, in ms; -1 when it gave none. */
void
cm_probe_round_ms(double *out, int n)
{
	for (int i = 0; i < n; i++)
		out[i] = i < nprobes ? probes[i].ms : -1;
}

void
cm_probe_abort_all(void)
{
	for (int i = 0; i < nprobes; i++)
		probe_end(&probes[i]);
}
