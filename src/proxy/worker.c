/*
 * proxy/worker.c
 *		Main of a proxy worker: the event loop (cm_event.h) with the
 *		listeners, the monitor's wake-up eventfd, the postmaster's death
 *		pipe and an eventfd our signal handlers knock on; accepting clients;
 *		the pre-startup cap and its log line.
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
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "cm_cancel.h"
#include "cm_guc.h"
#include "cm_hash.h"
#include "cm_hba_load.h"
#include "cm_listener.h"
#include "cm_route.h"
#include "cm_session.h"
#include "cm_shmem.h"
#include "cm_sock.h"
#include "cm_tls.h"
#include "cm_wakeup.h"
#include "cm_worker.h"

#define CM_ACCEPT_BATCH 64
/* how long accepting stops when descriptors or memory run out */
#define CM_ACCEPT_PAUSE_MS 200
/* how often the loop looks for changes when it has no eventfd to say so */
#define CM_POLL_MS 200
/* evictions are logged at most this often */
#define CM_EVICTION_LOG_INTERVAL 10000

/* A listening socket of this worker, and the port it serves. */
typedef struct ProxyListener
{
	CmAcceptor acceptor;
	CmPortKind port;
} ProxyListener;

static ProxyListener listeners[CM_PORT_KINDS * CM_MAX_WORKER_LISTENERS];
static int nlisteners;

/* the monitor's eventfd, the postmaster's pipe, and our signals' eventfd */
static CmWatch wake_watch;
static CmWatch pm_death_watch;
static CmWatch signal_watch;
static CmTimer poll_timer; /* when one of those eventfds is missing */
static int64 accept_pause_logged_until;

/*
 * Connections that have not sent their startup packet yet cost a session
 * and a descriptor each, for up to authentication_timeout: at most
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
static CmTimer eviction_log_timer;

/* When the read-write routing runs out unless the monitor renews it. */
static CmTimer routing_expiry_timer;

static void
routing_expired(void *arg)
{
	(void) arg;
	cm_session_fence_expired();
}

/*
 * The monitor published a new routing state: sessions whose target it no
 * longer names are fenced, waiting sessions try it, and the routing's end
 * is watched for, in case no renewal comes.
 */
static void
refresh_routing(void)
{
	int64 until;

	if (!cm_route_refresh())
		return;
	cm_session_routing_changed();
	until = cm_route_valid_until();
	/* armed since start: moving it needs no memory */
	(void) cm_timer_set(&routing_expiry_timer,
						until > 0 ? until : CM_TIMER_NEVER);
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
 * Out of file descriptors or memory: the acceptor stops watching its
 * listener for a while.  Listeners pause one by one; one line says so.
 */
static void
accept_paused(void *arg, int err)
{
	int64 now = cm_now_ms();

	(void) arg;
	if (now < accept_pause_logged_until)
		return;
	accept_pause_logged_until = now + CM_ACCEPT_PAUSE_MS;
	errno = err;
	ereport(LOG,
			(errmsg("connection_manager: could not accept a connection: %m"),
			 errdetail("Accepting is paused for %d ms.", CM_ACCEPT_PAUSE_MS)));
}

/* One line per interval at most, however many were closed. */
static void
log_evictions(void *arg)
{
	(void) arg;
	if (pre_startup_evicted == pre_startup_evicted_logged)
		return;
	ereport(LOG,
			(errmsg("connection_manager: closed %llu connections that had not sent a startup packet",
					(unsigned long long) (pre_startup_evicted -
										  pre_startup_evicted_logged)),
			 errdetail("A proxy worker keeps at most %d such connections and closes the oldest to make room; it has closed %llu since it started.",
					   pre_startup_cap,
					   (unsigned long long) pre_startup_evicted)));
	pre_startup_evicted_logged = pre_startup_evicted;
	next_eviction_log_ms = cm_now_ms() + CM_EVICTION_LOG_INTERVAL;
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
	if (cm_session_pre_startup_count() < pre_startup_cap ||
		!cm_session_evict_pre_startup())
		return;
	pre_startup_evicted++;
	if (!cm_timer_armed(&eviction_log_timer) &&
		!cm_timer_set(&eviction_log_timer,
					  Max(cm_now_ms(), next_eviction_log_ms)))
		log_evictions(NULL);
}

static void
accept_client(void *arg, int fd, const struct sockaddr_storage *addr)
{
	ProxyListener *l = arg;
	int one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	make_room_before_startup();
	cm_session_accept(fd, l->port, addr);
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
			ProxyListener *l = &listeners[nlisteners++];

			l->port = (CmPortKind) kind;
			if (!cm_acceptor_start(&l->acceptor, fds[i], CM_ACCEPT_BATCH,
								   CM_ACCEPT_PAUSE_MS, accept_client,
								   accept_paused, l))
				ereport(LOG,
						(errmsg(
							"connection_manager: could not watch a listening socket: %m")));
		}
	}
}

/* The monitor says the routing changed. */
static void
wake_ready(void *arg, uint32 events)
{
	uint64 count;

	(void) arg;
	(void) events;
	if (read(wake_watch.fd, &count, sizeof(count)) < 0)
		return;
	refresh_routing();
}

static void
pm_death_ready(void *arg, uint32 events)
{
	(void) arg;
	(void) events;
	/* like WL_EXIT_ON_PM_DEATH: nothing to save, sessions go too */
	proc_exit(1);
}

/* A signal knocked: the loop checks the flags after this turn. */
static void
signal_ready(void *arg, uint32 events)
{
	uint64 count;

	(void) arg;
	(void) events;
	if (read(signal_watch.fd, &count, sizeof(count)) < 0)
		return; /* EAGAIN: another turn took the knock */
}

/*
 * SIGTERM and SIGHUP set their flags as usual and knock on an eventfd of
 * the loop, so that a signal landing just before the wait still ends it:
 * the loop needs no periodic wake-up to see them.
 */
static void
signal_knock(void)
{
	int save_errno = errno;
	uint64 one = 1;

	if (signal_watch.fd >= 0)
	{
		ssize_t rc = write(signal_watch.fd, &one, sizeof(one));

		(void) rc; /* fails only when it is knocked on already */
	}
	errno = save_errno;
}

static void
proxy_sigterm(SIGNAL_ARGS)
{
	SignalHandlerForShutdownRequest(postgres_signal_arg);
	signal_knock();
}

static void
proxy_sighup(SIGNAL_ARGS)
{
	SignalHandlerForConfigReload(postgres_signal_arg);
	signal_knock();
}

/*
 * Without the monitor's eventfd or our signals' one, the loop looks for
 * routing changes and signals every CM_POLL_MS instead.
 */
static void
poll_tick(void *arg)
{
	(void) arg;
	refresh_routing();
	(void) cm_timer_set(&poll_timer, cm_now_ms() + CM_POLL_MS);
}

/* The worker's own descriptors in the loop; FATAL without the postmaster. */
static void
watch_worker_fds(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	bool poll = false;

	cm_watch_init(&signal_watch, fd, signal_ready, NULL);
	if (fd >= 0 && !cm_watch_set(&signal_watch, CM_EV_READ))
	{
		close(fd);
		signal_watch.fd = -1;
	}
	poll |= signal_watch.fd < 0;
	cm_watch_init(&pm_death_watch, postmaster_alive_fds[POSTMASTER_FD_WATCH],
				  pm_death_ready, NULL);
	if (!cm_watch_set(&pm_death_watch, CM_EV_READ))
		ereport(FATAL,
				(errmsg(
					"connection_manager: could not watch the postmaster: %m")));
	cm_watch_init(&wake_watch, cm_wakeup_fd(cm_proxy_worker_index), wake_ready,
				  NULL);
	poll |= wake_watch.fd < 0 || !cm_watch_set(&wake_watch, CM_EV_READ);
	cm_timer_init(&poll_timer, poll_tick, NULL);
	if (poll)
		poll_tick(NULL);
}

void
cm_proxy_main(Datum arg)
{
	cm_proxy_worker_index = DatumGetInt32(arg);
	cm_watch_init(&signal_watch, -1, signal_ready, NULL);
	pqsignal(SIGHUP, proxy_sighup);
	pqsignal(SIGTERM, proxy_sigterm);
	BackgroundWorkerUnblockSignals();

	/* shared catalogs only: role secrets and memberships */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	/*
	 * A catalog lookup waits at most this long for a lock, then fails
	 * alone.  lock_timeout works through the query-cancel signal, so that
	 * stays; a cancel from outside is dropped after each turn and at the
	 * start of each lookup, and one that lands inside a lookup only fails
	 * that lookup.
	 */
	SetConfigOption("lock_timeout", "200", PGC_SUSET, PGC_S_OVERRIDE);
	cm_shmem_reset_worker(cm_proxy_worker_index);
	pre_startup_cap =
		Max((2 * MaxBackends + cm_shared->nworkers - 1) / cm_shared->nworkers,
			1);
	raise_fd_limit();
	(void) cm_tls_load();
	cm_hba_reload();
	cm_busy_poll_set(cm_busy_poll);
	if (!cm_loop_init())
		ereport(FATAL,
				(errmsg("connection_manager: could not create an epoll set: %m")));
	cm_timer_init(&eviction_log_timer, log_evictions, NULL);
	cm_timer_init(&routing_expiry_timer, routing_expired, NULL);
	if (!cm_timer_set(&routing_expiry_timer, CM_TIMER_NEVER))
		ereport(FATAL, (errmsg("connection_manager: out of memory")));
	watch_worker_fds();
	open_listeners();
	if (!cm_hash_start())
		ereport(LOG,
				(errmsg("connection_manager: could not start the password hashing thread"),
				 errdetail("Passwords are checked in the event loop instead.")));

	ereport(LOG, (errmsg("connection_manager: proxy worker %d started",
						 cm_proxy_worker_index)));

	/*
	 * Each turn waits for events and timers (cm_event.h), then acts on
	 * signals, re-reads the routing state if the monitor changed it (the
	 * wake-up eventfd's handler does too, within the turn), and frees what
	 * the turn closed.
	 */
	refresh_routing();
	while (!ShutdownRequestPending)
	{
		(void) cm_loop_run(-1);
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			cm_busy_poll_set(cm_busy_poll);
			(void) cm_tls_load();
			cm_hba_reload();
		}
		refresh_routing();
		cm_session_free_closed();
		cm_cancel_free_done();
	}

	cm_session_close_all();
	cm_session_free_closed();
	cm_hash_stop();
	proc_exit(1);
}
