/*
 * monitor/probe.c
 *		One round of probes: a non-blocking GET /node/state to every node's
 *		HTTP port, all at once.  A node that does not answer by the round's
 *		deadline, answers anything but 200, or sends a state that does not
 *		parse, is unreachable for this round.
 *
 * The round's one timer fires at its deadline, or at the end of the turn in
 * which its last probe ended: the monitor learns that the round is over
 * from the loop, never from inside a probe's handler.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <time.h>
#include <unistd.h>

#include "utils/memutils.h"

#include "cm_guc.h"
#include "cm_http.h"
#include "cm_monitor.h"
#include "cm_sock.h"
#include "cm_tls.h"

typedef struct Probe
{
	CmWatch watch;
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
static int nactive = 0;
static bool round_open = false;
static CmTimer round_timer;
static CmProbeRoundDone round_done;

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
	cm_watch_remove(&p->watch);
	close(p->watch.fd);
	p->watch.fd = -1;
	p->active = false;
	/* the last one: the round ends at the end of this turn */
	if (--nactive == 0 && round_open)
		(void) cm_timer_set(&round_timer, cm_now_ms());
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
	char msg[256];

	if (p->tls == NULL)
	{
		if (cm_sock_connect_error(p->watch.fd) != 0)
		{
			probe_end(p);
			return false;
		}
		if (!cm_use_https)
		{
			p->connected = true;
			return true;
		}
		p->tls = cm_tls_connect_new(p->watch.fd,
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
			(void) cm_watch_set(&p->watch, CM_EV_READ);
			return false;
		case CM_TLS_WANT_WRITE:
			(void) cm_watch_set(&p->watch, CM_EV_WRITE);
			return false;
		default:
			probe_end(p);
			return false;
	}
}

static void
probe_event(void *arg, uint32 events)
{
	Probe *p = arg;
	bool again;

	(void) events;
	if (!p->connected && !probe_connected(p))
		return;
	if (!p->sent)
	{
		/* a 90-byte request always fits a fresh socket's send buffer */
		ssize_t n = cm_mon_io(&p->watch, p->tls, true, (void *) request,
							  sizeof(request) - 1, &again);

		if (again)
			return;
		if (n != (ssize_t) sizeof(request) - 1)
		{
			probe_end(p);
			return;
		}
		p->sent = true;
		(void) cm_watch_set(&p->watch, CM_EV_READ);
	}
	for (;;)
	{
		ssize_t n;

		if (p->len == sizeof(p->buf))
		{
			probe_end(p); /* longer than any state: not one of ours */
			return;
		}
		n = cm_mon_io(&p->watch, p->tls, false, p->buf + p->len,
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

/* The deadline, or the last probe ended: what is still out is unreachable. */
static void
round_end(void *arg)
{
	(void) arg;
	round_open = false;
	for (int i = 0; i < nprobes; i++)
		probe_end(&probes[i]);
	round_done();
}

/*
 * Starts connecting to a node's HTTP port.  A probe that cannot start stays
 * inactive: its node is unreachable this round.
 */
static void
probe_start(Probe *p, const struct sockaddr_storage *addr, socklen_t addrlen)
{
	CmSockStep step;
	int fd;

	if (addrlen == 0)
		return; /* its address did not resolve */
	fd = cm_sock_connect((const struct sockaddr *) addr, addrlen, NULL, 0,
						 &step);
	if (fd < 0)
		return;
	cm_watch_init(&p->watch, fd, probe_event, p);
	if (!cm_watch_set(&p->watch, CM_EV_WRITE))
	{
		close(fd);
		return;
	}
	p->active = true;
	nactive++;
}

/*
 * Starts a round over n nodes; done is called from the loop when it ends,
 * unless cm_probe_abort_all() drops it first.  A round still open is
 * dropped.
 */
void
cm_probe_round_start(const struct sockaddr_storage *addrs,
					 const socklen_t *addrlens, const CmNodeConf *conf, int n,
					 int64 deadline, CmProbeRoundDone done)
{
	if (probes == NULL)
	{
		probes = MemoryContextAllocZero(TopMemoryContext,
										sizeof(Probe) * CM_MAX_NODES);
		cm_timer_init(&round_timer, round_end, NULL);
	}
	cm_probe_abort_all();
	nprobes = Min(n, CM_MAX_NODES);
	for (int i = 0; i < nprobes; i++)
	{
		Probe *p = &probes[i];

		memset(&p->result, 0, sizeof(p->result));
		p->connected = false;
		p->sent = false;
		p->tls = NULL;
		strlcpy(p->host, conf[i].host, sizeof(p->host));
		p->len = 0;
		p->ms = -1;
		p->started_us = now_us();
		probe_start(p, &addrs[i], addrlens[i]);
	}
	round_open = true;
	round_done = done;
	/* the monitor reserved room for this timer: arming it cannot fail */
	(void) cm_timer_set(&round_timer, nactive > 0 ? deadline : cm_now_ms());
}

/* True from the start of a round until it ends or is dropped. */
bool
cm_probe_round_open(void)
{
	return round_open;
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

/* Drops the round: its probes end, done is not called. */
void
cm_probe_abort_all(void)
{
	if (probes == NULL)
		return; /* no round yet */
	round_open = false;
	cm_timer_cancel(&round_timer);
	for (int i = 0; i < nprobes; i++)
		probe_end(&probes[i]);
}
