/*
 * proxy/worker.c
 *		Main of a proxy worker: one epoll set holding the client and server
 *		sockets, the monitor's wake-up eventfd and the postmaster's death
 *		pipe (signals interrupt the wait); accepting clients; the periodic
 *		timeout sweep.
 *
 * Nothing raised here may reach the postmaster as a crash: sessions are
 * plain C with malloc'd memory, and every error is a value handled in
 * place.  The worker exits with 1 (restarted alone) and never otherwise.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "cm_guc.h"
#include "cm_hash.h"
#include "cm_hba_load.h"
#include "cm_listener.h"
#include "cm_proxy.h"
#include "cm_shmem.h"
#include "cm_tls.h"
#include "cm_wakeup.h"
#include "cm_worker.h"

#define CM_EPOLL_BATCH	  256
#define CM_ACCEPT_BATCH	  64
#define CM_SWEEP_INTERVAL 200
/* evictions are logged at most this often */
#define CM_EVICTION_LOG_INTERVAL 10000

static int epoll_fd = -1;
static CmEndpoint listeners[CM_PORT_KINDS][CM_MAX_WORKER_LISTENERS];
static int nlisteners[CM_PORT_KINDS];
static uint64 routing_generation_seen = UINT64_MAX;
static bool accept_paused = false;
static CmRouting routing;

/*
 * Connections that have not sent their startup packet yet cost a session's
 * buffers and a descriptor each, for up to authentication_timeout: at most
 * this many per worker, the server's own bound (2 x MaxBackends) shared out.
 */
static int pre_startup_cap;

/*
 * The oldest such connections closed to make room: a plain count until the
 * statistics counters take it, and how much of it is logged.
 */
static uint64 pre_startup_evicted;
static uint64 pre_startup_evicted_logged;
static int64 next_eviction_log_ms;

/* Sets what epoll watches for an endpoint, adding it the first time. */
bool
cm_ev_watch(CmEndpoint *ep, uint32 events)
{
	struct epoll_event ev;

	if (ep->fd < 0)
		return false;
	if (ep->registered && ep->events == events)
		return true;
	ev.events = events;
	ev.data.ptr = ep;
	if (epoll_ctl(epoll_fd, ep->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
				  ep->fd, &ev) < 0)
		return false;
	ep->registered = true;
	ep->events = events;
	return true;
}

/* Closes an endpoint's socket; closing removes it from epoll too. */
void
cm_ev_forget(CmEndpoint *ep)
{
	if (ep->tls)
		cm_tls_free(ep->tls);
	ep->tls = NULL;
	ep->tls_read_wants = ep->tls_write_wants = 0;
	ep->tls_pending = false;
	if (ep->fd >= 0)
		close(ep->fd);
	ep->fd = -1;
	ep->events = 0;
	ep->registered = false;
}

const CmRouting *
cm_proxy_routing(void)
{
	return &routing;
}

static void
refresh_routing(void)
{
	uint64 gen = pg_atomic_read_u64(&cm_shared->routing_generation);

	if (gen == routing_generation_seen)
		return;
	if (!cm_routing_read(&routing))
		return; /* the monitor is stuck writing: keep the last, try again */
	routing_generation_seen = gen;
	cm_session_routing_changed();
}

/*
 * Each session holds two sockets we open ourselves, invisible to fd.c, so
 * take the whole hard limit.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			ereport(LOG,
					(errmsg(
						"connection_manager: could not raise the open files limit: %m")));
	}
}

/*
 * Out of file descriptors or memory: the connection stays queued and the
 * listener would be readable forever.  Stop watching the listeners until
 * the next sweep, and say so once per pause.
 */
static void
pause_accepting(void)
{
	if (accept_paused)
		return;
	ereport(LOG,
			(errmsg("connection_manager: could not accept a connection: %m"),
			 errdetail("Accepting is paused for %d ms.", CM_SWEEP_INTERVAL)));
	for (int kind = 0; kind < CM_PORT_KINDS; kind++)
	{
		for (int i = 0; i < nlisteners[kind]; i++)
			(void) cm_ev_watch(&listeners[kind][i], 0);
	}
	accept_paused = true;
}

static void
resume_accepting(void)
{
	if (!accept_paused)
		return;
	for (int kind = 0; kind < CM_PORT_KINDS; kind++)
	{
		for (int i = 0; i < nlisteners[kind]; i++)
			(void) cm_ev_watch(&listeners[kind][i], EPOLLIN);
	}
	accept_paused = false;
}

/*
 * A new connection over the cap takes the place of the oldest one still
 * without a startup packet, rather than being refused: someone holding the
 * cap with silent connections then has to keep opening new ones faster
 * than real clients log in, instead of a few per authentication_timeout.
 */
static void
make_room_before_startup(void)
{
	if (cm_session_pre_startup_count() >= pre_startup_cap &&
		cm_session_evict_pre_startup())
		pre_startup_evicted++;
}

/* One line per interval at most, however many were closed. */
static void
log_evictions(int64 now)
{
	if (pre_startup_evicted == pre_startup_evicted_logged ||
		now < next_eviction_log_ms)
		return;
	ereport(LOG,
			(errmsg("connection_manager: closed %llu connections that had not sent a startup packet",
					(unsigned long long) (pre_startup_evicted -
										  pre_startup_evicted_logged)),
			 errdetail("A proxy worker keeps at most %d such connections and closes the oldest to make room; it has closed %llu since it started.",
					   pre_startup_cap,
					   (unsigned long long) pre_startup_evicted)));
	pre_startup_evicted_logged = pre_startup_evicted;
	next_eviction_log_ms = now + CM_EVICTION_LOG_INTERVAL;
}

static void
accept_clients(CmEndpoint *listener)
{
	for (int i = 0; i < CM_ACCEPT_BATCH; i++)
	{
		struct sockaddr_storage addr;
		socklen_t addrlen = sizeof(addr);
		int fd;
		int one = 1;

		fd = accept4(listener->fd, (struct sockaddr *) &addr, &addrlen,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
		{
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				errno == ENOMEM)
				pause_accepting();
			return;
		}
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		make_room_before_startup();
		cm_session_accept(fd, listener->port, &addr);
	}
}

static void
open_listeners(void)
{
	for (int kind = 0; kind < CM_PORT_KINDS; kind++)
	{
		int fds[CM_MAX_WORKER_LISTENERS];
		int n = cm_listener_worker_fds(cm_proxy_worker_index, (CmPortKind) kind,
									   fds, CM_MAX_WORKER_LISTENERS);

		for (int i = 0; i < n; i++)
		{
			CmEndpoint *ep = &listeners[kind][nlisteners[kind]++];

			ep->kind = CM_EP_LISTENER;
			ep->fd = fds[i];
			ep->port = (CmPortKind) kind;
			if (!cm_ev_watch(ep, EPOLLIN))
				ereport(LOG,
						(errmsg(
							"connection_manager: could not watch a listening socket: %m")));
		}
	}
}

static void
dispatch(struct epoll_event *ev)
{
	CmEndpoint *ep = ev->data.ptr;

	if (ep->fd < 0)
		return; /* closed earlier in this turn */
	switch (ep->kind)
	{
		case CM_EP_LISTENER:
			accept_clients(ep);
			break;
		case CM_EP_CLIENT:
		case CM_EP_SERVER:
			cm_session_handle((CmSession *) ep->owner, ep, ev->events);
			break;
		case CM_EP_CANCEL:
			cm_cancel_handle((CmCancel *) ep->owner, ev->events);
			break;
		case CM_EP_HASH:
			cm_hash_collect();
			break;
		case CM_EP_WAKE:
		{
			uint64 count;

			/* the routing state is re-read at the top of every turn */
			if (read(ep->fd, &count, sizeof(count)) < 0)
				break;
			refresh_routing();
			break;
		}
		case CM_EP_PM_DEATH:
			/* like WL_EXIT_ON_PM_DEATH: nothing to save, sessions go too */
			proc_exit(1);
			break;
	}
}

void
cm_proxy_main(Datum arg)
{
	struct epoll_event events[CM_EPOLL_BATCH];
	int64 next_sweep = 0;
	CmEndpoint wake = {.kind = CM_EP_WAKE, .fd = -1};
	CmEndpoint pm_death = {.kind = CM_EP_PM_DEATH, .fd = -1};

	cm_proxy_worker_index = DatumGetInt32(arg);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* shared catalogs only: role secrets and memberships */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	/*
	 * A catalog lookup waits at most this long for a lock, then fails
	 * alone.  lock_timeout works through the query-cancel signal, so that
	 * stays; a cancel from outside is dropped at the top of each turn and
	 * at the start of each lookup, and one that lands inside a lookup only
	 * fails that lookup.
	 */
	SetConfigOption("lock_timeout", "200", PGC_SUSET, PGC_S_OVERRIDE);
	cm_shmem_reset_worker(cm_proxy_worker_index);
	pre_startup_cap =
		Max((2 * MaxBackends + cm_shared->nworkers - 1) / cm_shared->nworkers,
			1);
	raise_fd_limit();
	(void) cm_tls_load();
	cm_hba_reload();
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		ereport(FATAL,
				(errmsg("connection_manager: could not create an epoll set: %m")));
	open_listeners();
	if (!cm_hash_start())
		ereport(LOG,
				(errmsg("connection_manager: could not start the password hashing thread"),
				 errdetail("Passwords are checked in the event loop instead.")));

	/*
	 * The loop waits in its own epoll set only: the monitor's eventfd says
	 * the routing changed, the postmaster's pipe says it died, and signals
	 * (SIGHUP, SIGTERM) interrupt the wait; one landing just before it is
	 * seen within a sweep interval.
	 */
	wake.fd = cm_wakeup_fd(cm_proxy_worker_index);
	if (wake.fd >= 0)
		(void) cm_ev_watch(&wake, EPOLLIN);
	pm_death.fd = postmaster_alive_fds[POSTMASTER_FD_WATCH];
	if (!cm_ev_watch(&pm_death, EPOLLIN))
		ereport(FATAL,
				(errmsg(
					"connection_manager: could not watch the postmaster: %m")));

	ereport(LOG, (errmsg("connection_manager: proxy worker %d started",
						 cm_proxy_worker_index)));

	while (!ShutdownRequestPending)
	{
		int n;
		int64 now = cm_now_ms();
		int timeout = (int) Max(0, Min(next_sweep - now, CM_SWEEP_INTERVAL));

		n = epoll_wait(epoll_fd, events, CM_EPOLL_BATCH, timeout);
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			(void) cm_tls_load();
			cm_hba_reload();
		}
		refresh_routing();
		for (int i = 0; i < n; i++)
			dispatch(&events[i]);

		now = cm_now_ms();
		if (now >= next_sweep)
		{
			cm_session_check_timeouts(now);
			cm_cancel_check_timeouts(now);
			log_evictions(now);
			resume_accepting();
			next_sweep = now + CM_SWEEP_INTERVAL;
		}
		cm_session_free_closed();
		cm_cancel_free_done();
	}

	cm_session_close_all();
	cm_session_free_closed();
	cm_hash_stop();
	proc_exit(1);
}
