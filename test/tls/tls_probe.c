/*
 * tls_probe.c
 *		Test harness for src/tls.c inside a real server: a background worker
 *		that serves TLS clients (SSLRequest or direct TLS) one at a time with
 *		non-blocking sockets, the way a proxy session drives the module, and
 *		a SQL function that runs the client side from a backend.  Built and
 *		loaded only by test/tls; never part of the extension.
 *
 * Commands a client sends after the handshake, one per line:
 *		INFO		version, cipher, peer certificate, channel binding hash
 *		BIG n		n bytes back, then a newline (partial writes, WANT_WRITE)
 *		ECHO n		reads n raw bytes, 7 at a time (SSL_pending), and says so
 *		QUIT		close
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bswap.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "cm_tls.h"

PG_MODULE_MAGIC;

void _PG_init(void);
PGDLLEXPORT void tls_probe_main(Datum arg);
PG_FUNCTION_INFO_V1(tls_probe_connect);

#define PROBE_DEADLINE_MS 10000
#define PROBE_SSL_CODE	  80877103u

static int probe_port = 0;

typedef struct Probe
{
	int fd;
	CmTls *tls;
	int64 deadline;
	int pending_reads; /* reads made only because SSL_pending said so */
	int write_waits;   /* writes that had to wait for the socket */
	char line[256];
	size_t linelen;
} Probe;

static int64
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the socket as a status asks; false on timeout. */
static bool
wait_for(Probe *p, CmTlsStatus st)
{
	struct pollfd pfd;
	int64 left = p->deadline - now_ms();

	if (left <= 0)
		return false;
	pfd.fd = p->fd;
	pfd.events = st == CM_TLS_WANT_WRITE ? POLLOUT : POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, (int) left) > 0;
}

static bool
probe_handshake(Probe *p, char *err, size_t errlen)
{
	for (;;)
	{
		CmTlsStatus st = cm_tls_handshake(p->tls, err, errlen);

		if (st == CM_TLS_OK)
			return true;
		if (st != CM_TLS_WANT_READ && st != CM_TLS_WANT_WRITE)
			return false;
		if (!wait_for(p, st))
		{
			strlcpy(err, "timeout", errlen);
			return false;
		}
	}
}

/* Reads up to len bytes; waits on the socket only when nothing is pending. */
static ssize_t
probe_read(Probe *p, void *buf, size_t len)
{
	for (;;)
	{
		CmTlsStatus st;
		bool pending = cm_tls_pending(p->tls);
		ssize_t n = cm_tls_read(p->tls, buf, len, &st);

		if (n > 0)
		{
			if (pending)
				p->pending_reads++;
			return n;
		}
		if (st != CM_TLS_WANT_READ && st != CM_TLS_WANT_WRITE)
			return -1;
		if (!wait_for(p, st))
			return -1;
	}
}

static bool
probe_write(Probe *p, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len)
	{
		CmTlsStatus st;
		ssize_t n =
			cm_tls_write(p->tls, (const char *) buf + done, len - done, &st);

		if (n > 0)
		{
			done += (size_t) n;
			continue;
		}
		if (st != CM_TLS_WANT_READ && st != CM_TLS_WANT_WRITE)
			return false;
		p->write_waits++;
		if (!wait_for(p, st))
			return false;
	}
	return true;
}

/* One line, read a byte at a time so that records stay half-read. */
static bool
probe_read_line(Probe *p)
{
	p->linelen = 0;
	while (p->linelen < sizeof(p->line) - 1)
	{
		char c;
		ssize_t n = probe_read(p, &c, 1);

		if (n <= 0)
			return false;
		if (c == '\n')
			break;
		p->line[p->linelen++] = c;
	}
	p->line[p->linelen] = '\0';
	return true;
}

static void
hex(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
	out[2 * len] = '\0';
}

static void
probe_info(Probe *p, char *out, size_t outlen)
{
	char cn[128];
	char dn[256];
	bool verified;
	bool cert;
	unsigned char ep[CM_TLS_END_POINT_MAX];
	size_t eplen = sizeof(ep);
	char ephex[2 * CM_TLS_END_POINT_MAX + 1];

	cert = cm_tls_peer_certificate(p->tls, cn, sizeof(cn), dn, sizeof(dn),
								   &verified);
	if (cm_tls_server_end_point(p->tls, ep, &eplen))
		hex(ep, eplen, ephex);
	else
		strlcpy(ephex, "none", sizeof(ephex));
	snprintf(out, outlen,
			 "version=%s cipher=%s cert=%d cn=%s dn=%s verified=%d endpoint=%s\n",
			 cm_tls_version(p->tls), cm_tls_cipher(p->tls), cert, cn, dn,
			 verified, ephex);
}

static void
probe_commands(Probe *p)
{
	char out[1024];

	while (probe_read_line(p))
	{
		long n;

		if (strcmp(p->line, "INFO") == 0)
		{
			probe_info(p, out, sizeof(out));
			if (!probe_write(p, out, strlen(out)))
				return;
		}
		else if (sscanf(p->line, "BIG %ld", &n) == 1 && n >= 0)
		{
			char chunk[65536];

			memset(chunk, 'x', sizeof(chunk));
			while (n > 0)
			{
				size_t len = Min((size_t) n, sizeof(chunk));

				if (!probe_write(p, chunk, len))
				{
					ereport(LOG, (errmsg("tls_probe: BIG write stopped: %s",
										 cm_tls_last_error(p->tls))));
					return;
				}
				n -= (long) len;
			}
			if (!probe_write(p, "\n", 1))
				return;
			ereport(LOG, (errmsg("tls_probe: BIG done, %d write waits",
								 p->write_waits)));
		}
		else if (sscanf(p->line, "ECHO %ld", &n) == 1 && n >= 0)
		{
			long got = 0;
			uint32 sum = 0;

			while (got < n)
			{
				unsigned char c[7];
				ssize_t r = probe_read(p, c, Min((long) sizeof(c), n - got));

				if (r <= 0)
					return;
				for (ssize_t i = 0; i < r; i++)
					sum += c[i];
				got += r;
			}
			snprintf(out, sizeof(out), "got=%ld sum=%u pending_reads=%d\n",
					 got, sum, p->pending_reads);
			if (!probe_write(p, out, strlen(out)))
				return;
		}
		else if (strcmp(p->line, "QUIT") == 0)
			return;
		else
		{
			snprintf(out, sizeof(out), "unknown command\n");
			if (!probe_write(p, out, strlen(out)))
				return;
		}
	}
	ereport(LOG,
			(errmsg("tls_probe: read ended: %s", cm_tls_last_error(p->tls))));

	/*
	 * Keep writing after the client left (s_client lingers half a second):
	 * once it is gone a write draws a reset, and the next one fails with
	 * EPIPE, which would raise SIGPIPE (SIG_DFL here) without MSG_NOSIGNAL.
	 */
	for (int i = 0; i < 6; i++)
	{
		CmTlsStatus st;
		ssize_t n = cm_tls_write(p->tls, "bye\n", 4, &st);

		ereport(LOG, (errmsg("tls_probe: write after close: %zd %d %s", n,
							 (int) st, cm_tls_last_error(p->tls))));
		pg_usleep(250000);
	}
}

/* Serves one client: SSLRequest or direct TLS, handshake, commands. */
static void
probe_serve(int fd)
{
	Probe p;
	uint8 first[64];
	ssize_t n = -1;
	char err[256];
	int sndbuf = 8192;

	memset(&p, 0, sizeof(p));
	p.fd = fd;
	p.deadline = now_ms() + PROBE_DEADLINE_MS;
	/* a small send buffer: large writes must be partial and must wait */
	(void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (wait_for(&p, CM_TLS_WANT_READ))
		n = recv(fd, first, sizeof(first), 0);
	if (n <= 0)
		return;
	if (cm_tls_is_direct_start(first, (size_t) n))
	{
		p.tls = cm_tls_accept_direct(fd, first, (size_t) n);
		ereport(LOG, (errmsg("tls_probe: direct TLS start")));
	}
	else if (n >= 8 && pg_ntoh32(*(uint32 *) (first + 4)) == PROBE_SSL_CODE)
	{
		/* the caller's check: nothing may follow SSLRequest */
		if (n != 8)
		{
			ereport(LOG, (errmsg("tls_probe: bytes after SSLRequest refused")));
			return;
		}
		if (!cm_tls_enabled())
		{
			ereport(LOG, (errmsg("tls_probe: answered N")));
			(void) send(fd, "N", 1, MSG_NOSIGNAL);
			return;
		}
		(void) send(fd, "S", 1, MSG_NOSIGNAL);
		p.tls = cm_tls_accept_new(fd);
	}
	if (p.tls == NULL)
	{
		ereport(LOG, (errmsg("tls_probe: no TLS object")));
		return;
	}
	if (!probe_handshake(&p, err, sizeof(err)))
		ereport(LOG, (errmsg("tls_probe: handshake failed: %s", err)));
	else
	{
		ereport(LOG, (errmsg("tls_probe: handshake done: %s %s",
							 cm_tls_version(p.tls), cm_tls_cipher(p.tls))));
		probe_commands(&p);
	}
	cm_tls_free(p.tls);
}

void
tls_probe_main(Datum arg)
{
	int lfd;
	struct sockaddr_in addr;
	int one = 1;
	bool loaded;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	/* prove that no SIGPIPE can happen: a stray one would kill us */
	pqsignal(SIGPIPE, SIG_DFL);
	BackgroundWorkerUnblockSignals();

	loaded = cm_tls_load();
	ereport(LOG,
			(errmsg("tls_probe: load=%d enabled=%d", loaded, cm_tls_enabled())));

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = pg_hton16((uint16) probe_port);
	addr.sin_addr.s_addr = pg_hton32(INADDR_LOOPBACK);
	(void) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *) &addr, sizeof(addr)) < 0 ||
		listen(lfd, 16) < 0)
		ereport(FATAL, (errmsg("tls_probe: could not listen: %m")));
	ereport(LOG, (errmsg("tls_probe: listening on port %d", probe_port)));

	while (!ShutdownRequestPending)
	{
		int fd;

		(void) WaitLatchOrSocket(MyLatch,
								 WL_LATCH_SET | WL_SOCKET_READABLE |
									 WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 lfd, 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			bool ok;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			ok = cm_tls_load();
			ereport(LOG, (errmsg("tls_probe: reload load=%d enabled=%d", ok,
								 cm_tls_enabled())));
		}
		while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		{
			probe_serve(fd);
			close(fd);
		}
	}
	proc_exit(0);
}

/*
 * tls_probe_connect(port, sslmode, servername): our client side against
 * the probe worker on 127.0.0.1, from a backend.  Returns the worker's INFO
 * line as the client saw it, prefixed by what the client negotiated.
 */
Datum
tls_probe_connect(PG_FUNCTION_ARGS)
{
	int port = PG_GETARG_INT32(0);
	char *mode = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char *servername = text_to_cstring(PG_GETARG_TEXT_PP(2));
	struct sockaddr_in addr;
	Probe p;
	uint8 req[8];
	char answer;
	char err[256];
	char result[2048];
	char reply[1024];
	size_t replylen = 0;
	unsigned char ep[CM_TLS_END_POINT_MAX];
	size_t eplen = sizeof(ep);
	char ephex[2 * CM_TLS_END_POINT_MAX + 1];

	(void) cm_tls_load();
	memset(&p, 0, sizeof(p));
	p.deadline = now_ms() + PROBE_DEADLINE_MS;
	p.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = pg_hton16((uint16) port);
	addr.sin_addr.s_addr = pg_hton32(INADDR_LOOPBACK);
	if (p.fd < 0 || connect(p.fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
		PG_RETURN_TEXT_P(cstring_to_text("error: could not connect"));

	*(uint32 *) req = pg_hton32(8);
	*(uint32 *) (req + 4) = pg_hton32(PROBE_SSL_CODE);
	if (send(p.fd, req, 8, MSG_NOSIGNAL) != 8 || recv(p.fd, &answer, 1, 0) != 1)
	{
		close(p.fd);
		PG_RETURN_TEXT_P(cstring_to_text("error: no answer to SSLRequest"));
	}
	if (answer != 'S')
	{
		close(p.fd);
		PG_RETURN_TEXT_P(cstring_to_text("error: server refused SSL"));
	}
	(void) fcntl(p.fd, F_SETFL, O_NONBLOCK);
	p.tls = cm_tls_connect_new(p.fd, mode, servername);
	if (p.tls == NULL)
	{
		close(p.fd);
		PG_RETURN_TEXT_P(cstring_to_text("error: no TLS object"));
	}
	if (!probe_handshake(&p, err, sizeof(err)))
	{
		snprintf(result, sizeof(result), "handshake failed: %s", err);
		cm_tls_free(p.tls);
		close(p.fd);
		PG_RETURN_TEXT_P(cstring_to_text(result));
	}
	if (!cm_tls_server_end_point(p.tls, ep, &eplen))
		strlcpy(ephex, "none", sizeof(ephex));
	else
		hex(ep, eplen, ephex);
	if (probe_write(&p, "INFO\nQUIT\n", 10))
	{
		while (replylen < sizeof(reply) - 1)
		{
			ssize_t n =
				probe_read(&p, reply + replylen, sizeof(reply) - 1 - replylen);

			if (n <= 0)
				break;
			replylen += (size_t) n;
			if (reply[replylen - 1] == '\n')
				break;
		}
	}
	reply[replylen] = '\0';
	if (replylen > 0 && reply[replylen - 1] == '\n')
		reply[replylen - 1] = '\0';
	snprintf(result, sizeof(result), "ok %s endpoint_seen=%s | %s",
			 cm_tls_version(p.tls), ephex, reply);
	cm_tls_free(p.tls);
	close(p.fd);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

void
_PG_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("tls_probe.port", "Port of the TLS probe worker.",
							NULL, &probe_port, 0, 0, 65535, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress || probe_port == 0)
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_PostmasterStart;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "tls_probe", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "tls_probe_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "tls_probe", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "tls_probe", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}
