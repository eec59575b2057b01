/*
 * test_event.c
 *		Unit tests of the event layer (src/event/timer.c, loop.c, sock.c):
 *		timers fire in deadline order whatever the order of arming, cancel
 *		and re-arm keep the heap right, a handler cannot re-fire itself in
 *		one run, a reserved room holds its timers; the loop calls handlers,
 *		drops events of a watch removed in the same turn, wakes for timers;
 *		busy polling (busy_poll.c) is judged on CPU times, bounded and
 *		accounted in CPU time, and delays no timer; the acceptor pauses when descriptors run out and resumes on its
 *		timer.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_event.h"
#include "cm_sock.h"
#include "tap.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NTIMERS 500

static int fired_order[NTIMERS * 2];
static int nfired;

static void
record(void *arg)
{
	fired_order[nfired++] = (int) (intptr_t) arg;
}

static void
test_timer_order(void)
{
	static CmTimer t[NTIMERS];
	bool sorted = true;
	int64_t last = -1;

	nfired = 0;
	srand(7);
	for (int i = 0; i < NTIMERS; i++)
	{
		cm_timer_init(&t[i], record, (void *) (intptr_t) i);
		if (i == 0)
			ok(!cm_timer_armed(&t[i]), "a new timer is not armed");
		(void) cm_timer_set(&t[i], 1000 + rand() % 5000);
	}
	is_int(cm_timer_count(), NTIMERS, "all armed");
	/* move a third, cancel a third */
	for (int i = 0; i < NTIMERS; i += 3)
		(void) cm_timer_set(&t[i], 1000 + rand() % 5000);
	for (int i = 1; i < NTIMERS; i += 3)
		cm_timer_cancel(&t[i]);
	cm_timer_cancel(&t[1]); /* twice: nothing happens */
	is_int(cm_timer_count(), NTIMERS - (NTIMERS + 1) / 3,
		   "cancelled ones left the heap");
	is_int(cm_timer_run_due(999), 0, "nothing due before the first deadline");
	is_int(cm_timer_run_due(1000000), NTIMERS - (NTIMERS + 1) / 3,
		   "every armed timer fires once");
	for (int i = 0; i < nfired; i++)
	{
		int64_t when = t[fired_order[i]].when;

		if (fired_order[i] % 3 == 1 || when < last)
			sorted = false;
		last = when;
	}
	ok(sorted, "in deadline order, cancelled ones never");
	is_int(cm_timer_count(), 0, "heap empty");
	ok(cm_timer_next() == INT64_MAX, "no next deadline");
}

static CmTimer self_timer;
static int self_fired;

static void
rearm_self(void *arg)
{
	(void) arg;
	self_fired++;
	(void) cm_timer_set(&self_timer, 0);
}

static CmTimer victim;
static CmTimer killer;

static void
cancel_victim(void *arg)
{
	(void) arg;
	cm_timer_cancel(&victim);
}

static void
test_timer_handlers(void)
{
	cm_timer_init(&self_timer, rearm_self, NULL);
	(void) cm_timer_set(&self_timer, 10);
	is_int(cm_timer_run_due(100), 1, "a handler re-arming itself for now");
	is_int(self_fired, 1, "fires once per run");
	ok(cm_timer_armed(&self_timer) && cm_timer_next() == 0,
	   "and is due at the next run");
	cm_timer_cancel(&self_timer);

	nfired = 0;
	cm_timer_init(&killer, cancel_victim, NULL);
	cm_timer_init(&victim, record, (void *) 42);
	(void) cm_timer_set(&killer, 5);
	(void) cm_timer_set(&victim, 6);
	is_int(cm_timer_run_due(100), 1, "a timer cancelled by an earlier one");
	is_int(nfired, 0, "does not fire");
	ok(!cm_timer_armed(&victim), "and is not armed");

	(void) cm_timer_set(&victim, 50);
	(void) cm_timer_set(&victim, 5);
	ok(cm_timer_next() == 5, "re-armed earlier");
	(void) cm_timer_set(&victim, 70);
	ok(cm_timer_next() == 70, "re-armed later");
	cm_timer_cancel(&victim);
}

static int64_t last_when;
static bool in_order;

static void
check_order(void *arg)
{
	const CmTimer *t = arg;

	in_order &= t->when >= last_when;
	last_when = t->when;
}

static void
test_timer_reserve(void)
{
	static CmTimer t[NTIMERS * 4];
	bool all_set = true;

	ok(cm_timer_reserve(0), "reserving nothing");
	ok(cm_timer_reserve(NTIMERS * 4), "room reserved beyond the first size");
	for (int i = 0; i < NTIMERS * 4; i++)
	{
		cm_timer_init(&t[i], check_order, &t[i]);
		all_set &= cm_timer_set(&t[i], NTIMERS * 4 - i);
	}
	ok(all_set, "every timer of the reserved room arms");
	ok(cm_timer_reserve(1), "a smaller reservation keeps the room");
	is_int(cm_timer_count(), NTIMERS * 4, "all armed");
	ok(cm_timer_next() == 1, "the earliest first");
	in_order = true;
	last_when = 0;
	is_int(cm_timer_run_due(INT64_MAX - 1), NTIMERS * 4, "all fire");
	ok(in_order, "in deadline order");
}

typedef struct Pipe
{
	int fds[2];
	CmWatch watch;
	int calls;
	struct Pipe *remove; /* removed by this one's handler */
} Pipe;

static void
pipe_ready(void *arg, uint32_t events)
{
	Pipe *p = arg;
	char c;

	p->calls++;
	if (events & CM_EV_READ)
		(void) read(p->fds[0], &c, 1);
	if (p->remove)
		cm_watch_remove(&p->remove->watch);
}

static int timer_hits;

static void
count_hit(void *arg)
{
	(void) arg;
	timer_hits++;
}

static void
test_loop(void)
{
	Pipe a = {.remove = NULL};
	Pipe b = {.remove = NULL};
	CmTimer t;
	int64_t start;

	ok(cm_loop_init(), "epoll set created");
	ok(cm_loop_fd() >= 0, "it has a descriptor");
	ok(pipe(a.fds) == 0 && pipe(b.fds) == 0, "pipes");
	cm_watch_init(&a.watch, a.fds[0], pipe_ready, &a);
	cm_watch_init(&b.watch, b.fds[0], pipe_ready, &b);
	ok(cm_watch_set(&a.watch, CM_EV_READ) && cm_watch_set(&b.watch, CM_EV_READ),
	   "watched");
	ok(cm_watch_set(&a.watch, CM_EV_READ), "stating the same again");
	is_int(cm_loop_run(0), 0, "nothing ready");

	(void) write(a.fds[1], "x", 1);
	is_int(cm_loop_run(1000), 1, "one ready");
	is_int(a.calls, 1, "its handler called");

	/* both ready; whichever runs first removes the other */
	a.remove = &b;
	b.remove = &a;
	(void) write(a.fds[1], "x", 1);
	(void) write(b.fds[1], "x", 1);
	(void) cm_loop_run(1000);
	is_int(a.calls + b.calls, 2,
		   "a watch removed in the turn gets no event of it");
	ok(!a.watch.added || !b.watch.added, "and is out of the set");

	/* forgotten, then closed: no event, and no error from epoll */
	a.remove = b.remove = NULL;
	(void) write(a.fds[1], "x", 1);
	cm_watch_forget(&a.watch);
	close(a.fds[0]);
	a.calls = 0;
	is_int(cm_loop_run(0), 0, "a forgotten watch, its descriptor closed");
	is_int(a.calls, 0, "gets no event");
	ok(pipe(a.fds) == 0, "a new pipe");

	cm_watch_init(&a.watch, -1, pipe_ready, &a);
	ok(!cm_watch_set(&a.watch, CM_EV_READ) && errno == EBADF,
	   "no descriptor, no watch");

	cm_timer_init(&t, count_hit, NULL);
	ok(cm_timer_set(&t, CM_TIMER_NEVER) && cm_timer_armed(&t),
	   "a timer parked at never stays armed");
	is_int(cm_loop_run(0), 0, "and does not fire");
	start = cm_now_ms();
	(void) cm_timer_set(&t, start + 30);
	while (timer_hits == 0 && cm_now_ms() - start < 5000)
		(void) cm_loop_run(-1);
	is_int(timer_hits, 1, "an idle loop wakes for its timer");
	ok(cm_now_ms() - start >= 30, "not before its deadline");
	for (int i = 0; i < 2; i++)
	{
		close(a.fds[i]);
		close(b.fds[i]);
	}
}

/* n pipes watched for reading, for the busy polling tests */
static void
open_pipes(Pipe *p, int n)
{
	for (int i = 0; i < n; i++)
	{
		p[i].remove = NULL;
		p[i].calls = 0;
		ok(pipe(p[i].fds) == 0, "pipe %d", i);
		cm_watch_init(&p[i].watch, p[i].fds[0], pipe_ready, &p[i]);
		(void) cm_watch_set(&p[i].watch, CM_EV_READ);
	}
}

static void
close_pipes(Pipe *p, int n)
{
	for (int i = 0; i < n; i++)
	{
		cm_watch_remove(&p[i].watch);
		close(p[i].fds[0]);
		close(p[i].fds[1]);
	}
}

/* a turn's poll, with a timeout of ms */
static int
busy_poll_wait(int ms)
{
	struct epoll_event ev[4];

	return cm_busy_poll_wait(cm_loop_fd(), ev, 4, &ms);
}

/*
 * Periods count the watches with events; polling before sleeping is off
 * when set to 0, for a turn that must not wait, and while more than two
 * sessions' sockets were busy in the last period, whatever the machine.
 */
static void
test_busy_poll(void)
{
	Pipe p[5];

	open_pipes(p, 5);
	(void) cm_loop_period_end();
	for (int turn = 0; turn < 3; turn++)
	{
		(void) write(p[0].fds[1], "x", 1);
		(void) cm_loop_run(1000);
	}
	(void) write(p[1].fds[1], "x", 1);
	(void) cm_loop_run(1000);
	is_int((int) cm_loop_period_end(), 2,
		   "a period counts each watch with events once");
	is_int((int) cm_loop_period_end(), 0, "the next starts from none");

	/* an event is ready: a poll would find it at once */
	(void) write(p[4].fds[1], "x", 1);
	cm_busy_poll_set(0);
	is_int(busy_poll_wait(1000), 0, "0: no poll");
	cm_busy_poll_set(10000);
	is_int(busy_poll_wait(0), 0, "no poll for a turn that must not wait");
	is_int(busy_poll_wait(1000), 0,
		   "nor before a first reading of the machine's CPU times");
	/* five busy sockets in the period judged next */
	for (int i = 0; i < 5; i++)
	{
		(void) write(p[i].fds[1], "x", 1);
		(void) cm_loop_run(1000);
	}
	usleep(250 * 1000);
	(void) write(p[4].fds[1], "x", 1);
	is_int(busy_poll_wait(1000), 0,
		   "no poll after a period with more than two sessions busy");
	is_int(busy_poll_wait(1000), 0, "nor until the next judgement");
	cm_busy_poll_set(0);
	close_pipes(p, 5);
}

/* the machine's CPU times as the judge reads them: user and idle ticks */
static void
write_stat(const char *path, long user, long idle)
{
	FILE *f = fopen(path, "w");

	fprintf(f, "cpu  %ld 0 0 %ld 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n",
			user, idle);
	fclose(f);
}

/* a turn's poll that finds the ready event: whether it polled at all */
static bool
polls(Pipe *p)
{
	int n;
	char c;

	(void) write(p->fds[1], "x", 1);
	n = busy_poll_wait(1000);
	(void) read(p->fds[0], &c, 1);
	return n == 1;
}

static void
lose_the_cpu(int sig)
{
	struct timespec ts = {0, 150 * 1000 * 1000};

	(void) sig;
	nanosleep(&ts, NULL);
}

/*
 * With the machine's CPU times read from a file the test writes: polling
 * happens when half a core idled, lasts busy_poll at most and the turn's
 * timeout at most, and delays no timer; time the poller did not run (here
 * a signal handler that sleeps) is not idle time of the machine; a
 * /proc/stat that cannot be read is tried again once a period, not on
 * every turn.
 */
static void
test_busy_poll_judged(void)
{
	char path[] = "/tmp/cm_stat_XXXXXX";
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	/* ticks of a period: ten a core, as if the period lasted 100 ms */
	long period = 10 * ncpu;
	long user = 0;
	long idle = 0;
	Pipe p[2];
	int64_t start;
	int64_t took;
	CmTimer t;
	struct sigaction sa;
	struct itimerval it;
	int fd = mkstemp(path);

	close(fd);
	if (ncpu < 2)
	{
		ok(true, "# SKIP one core: never polls");
		unlink(path);
		return;
	}
	open_pipes(p, 2);
	cm_busy_poll_set(10000);
	write_stat(path, user, idle);
	cm_busy_poll_set_stat(path, "/nonexistent/pressure");
	ok(!polls(&p[0]), "a first reading: no poll yet");
	user += period / 2;
	idle += period / 2;
	write_stat(path, user, idle);
	usleep(210 * 1000);
	ok(polls(&p[0]), "half the machine idled: the turn polls");

	start = cm_now_ns();
	is_int(busy_poll_wait(1000), 0, "nothing came");
	took = cm_now_ns() - start;
	ok(took >= 10 * 1000 * 1000 && took < 500 * 1000 * 1000,
	   "polled busy_poll, 10 ms (%lld us)", (long long) (took / 1000));
	start = cm_now_ns();
	is_int(busy_poll_wait(3), 0, "nothing came");
	took = cm_now_ns() - start;
	ok(took >= 3 * 1000 * 1000 && took < 500 * 1000 * 1000,
	   "polled the turn's 3 ms, not busy_poll's 10 (%lld us)",
	   (long long) (took / 1000));

	/* the sleep after a poll in vain ends at the turn's deadline */
	{
		struct epoll_event ev[4];
		int ms = 1000;

		is_int(cm_busy_poll_wait(cm_loop_fd(), ev, 4, &ms), 0, "nothing came");
		ok(ms >= 0 && ms <= 990,
		   "the turn's timeout lost the 10 ms polled (%d)", ms);
		ms = 3;
		(void) cm_busy_poll_wait(cm_loop_fd(), ev, 4, &ms);
		is_int(ms, 0, "a poll that took the whole timeout leaves none");
	}
	cm_timer_init(&t, count_hit, NULL);
	timer_hits = 0;
	(void) cm_timer_set(&t, cm_now_ms() + 12);
	while (timer_hits == 0)
		(void) cm_loop_run(-1);
	ok(timer_hits == 1, "a timer 12 ms away fires after a poll of 10");

	/* a new period: the poller loses the CPU for 150 ms while it polls */
	user += period / 2;
	idle += period / 2;
	write_stat(path, user, idle);
	usleep(210 * 1000);
	ok(polls(&p[0]), "half the machine idled: the turn polls");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = lose_the_cpu;
	sigemptyset(&sa.sa_mask);
	(void) sigaction(SIGALRM, &sa, NULL);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 1000;
	(void) setitimer(ITIMER_REAL, &it, NULL);
	start = cm_now_ns();
	(void) busy_poll_wait(1000);
	took = cm_now_ns() - start;
	ok(took >= 150 * 1000 * 1000, "the handler ran within the poll");
	signal(SIGALRM, SIG_DFL);
	/* meanwhile no core idled */
	user += period;
	write_stat(path, user, idle);
	usleep(210 * 1000);
	ok(!polls(&p[0]),
	   "time the poller did not run is not idle: no poll on a busy machine");

	/* tasks waited for a core most of the period: no poll */
	{
		char ppath[] = "/tmp/cm_pressure_XXXXXX";
		FILE *f;
		int pfd = mkstemp(ppath);

		close(pfd);
		f = fopen(ppath, "w");
		fprintf(f, "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n");
		fclose(f);
		cm_busy_poll_set_stat(path, ppath);
		ok(!polls(&p[0]), "first readings: no poll yet");
		user += period / 2;
		idle += period / 2;
		write_stat(path, user, idle);
		f = fopen(ppath, "w");
		fprintf(f, "some avg10=0.00 avg60=0.00 avg300=0.00 total=151000\n");
		fclose(f);
		usleep(210 * 1000);
		ok(!polls(&p[0]),
		   "half a core idled, but tasks waited 150 ms of ~210: no poll");
		user += period / 2;
		idle += period / 2;
		write_stat(path, user, idle);
		f = fopen(ppath, "w");
		fprintf(f, "some avg10=0.00 avg60=0.00 avg300=0.00 total=152000\n");
		fclose(f);
		usleep(210 * 1000);
		ok(polls(&p[0]), "they waited 1 ms: the turn polls again");
		unlink(ppath);
	}

	/* /proc/stat cannot be read: judged once a period, not every turn */
	cm_busy_poll_set_stat("/nonexistent/stat", "/nonexistent/pressure");
	usleep(210 * 1000);
	ok(!polls(&p[0]), "no CPU times: no poll");
	for (int i = 0; i < 2; i++)
	{
		(void) write(p[i].fds[1], "x", 1);
		(void) cm_loop_run(1000);
	}
	is_int((int) cm_loop_period_end(), 2,
		   "a failed reading does not end a period on every turn");

	cm_busy_poll_set(0);
	cm_busy_poll_set_stat(NULL, NULL);
	unlink(path);
	close_pipes(p, 2);
}

static int accepted;
static int pauses;

static void
on_accept(void *arg, int fd, const struct sockaddr_storage *addr)
{
	(void) arg;
	(void) addr;
	accepted++;
	close(fd);
}

static void
on_pause(void *arg, int err)
{
	(void) arg;
	if (err == EMFILE)
		pauses++;
}

static void
test_acceptor(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CmAcceptor acc;
	CmSockStep step;
	struct rlimit saved;
	struct rlimit tight;
	int client;
	int spare[64];
	int nspare = 0;
	int64_t start;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok(lfd >= 0 && bind(lfd, (struct sockaddr *) &sin, sizeof(sin)) == 0 &&
		   listen(lfd, 16) == 0 &&
		   getsockname(lfd, (struct sockaddr *) &sin, &len) == 0,
	   "listening on loopback");
	ok(cm_acceptor_start(&acc, lfd, 8, 50, on_accept, on_pause, NULL),
	   "acceptor started");

	client =
		cm_sock_connect((struct sockaddr *) &sin, sizeof(sin), NULL, 0, &step);
	ok(client >= 0, "non-blocking connect started");
	start = cm_now_ms();
	while (accepted == 0 && cm_now_ms() - start < 5000)
		(void) cm_loop_run(100);
	is_int(accepted, 1, "the connection was accepted");
	is_int(cm_sock_connect_error(client), 0, "and connected");
	close(client);

	/* no descriptor left for accept(): the acceptor pauses */
	getrlimit(RLIMIT_NOFILE, &saved);
	client =
		cm_sock_connect((struct sockaddr *) &sin, sizeof(sin), NULL, 0, &step);
	tight = saved;
	tight.rlim_cur = 0;
	for (int fd = dup(0); fd >= 0 && nspare < 64; fd = dup(0))
		spare[nspare++] = fd;
	{
		int top = 0;

		for (int i = 0; i < nspare; i++)
			if (spare[i] > top)
				top = spare[i];
		tight.rlim_cur = (rlim_t) top + 1;
	}
	ok(setrlimit(RLIMIT_NOFILE, &tight) == 0, "descriptors capped");
	while (dup(0) >= 0)
		; /* take whatever is left below the cap */
	(void) cm_loop_run(1000);
	is_int(pauses, 1, "EMFILE paused the acceptor");
	ok(acc.paused && cm_timer_armed(&acc.resume), "with a timer to resume");
	is_int(accepted, 1, "nothing accepted meanwhile");
	is_int(cm_loop_run(0), 0, "a paused acceptor does not spin");

	setrlimit(RLIMIT_NOFILE, &saved);
	for (int i = 0; i < nspare; i++)
		close(spare[i]);
	start = cm_now_ms();
	while (accepted == 1 && cm_now_ms() - start < 5000)
		(void) cm_loop_run(100);
	ok(!acc.paused, "resumed after the pause");
	is_int(accepted, 2, "and accepted the waiting connection");

	/* a refused connection reports why */
	cm_acceptor_stop(&acc);
	close(lfd);
	close(client);
	client =
		cm_sock_connect((struct sockaddr *) &sin, sizeof(sin), NULL, 0, &step);
	if (client >= 0)
	{
		int64_t until = cm_now_ms() + 2000;
		int err;

		while ((err = cm_sock_connect_error(client)) == 0 && cm_now_ms() < until)
			usleep(1000);
		is_int(err, ECONNREFUSED, "a closed port: ECONNREFUSED");
		close(client);
	}
	else
		is_int(errno, ECONNREFUSED, "a closed port: ECONNREFUSED at once");
}

static void
addr_v4(struct sockaddr_storage *ss, uint32_t ip, int port)
{
	struct sockaddr_in *a = (struct sockaddr_in *) ss;

	memset(ss, 0, sizeof(*ss));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(ip);
	a->sin_port = htons((uint16_t) port);
}

/* The address helpers cancel requests and the node list use. */
static void
test_addresses(void)
{
	struct sockaddr_storage a, b, c;
	struct sockaddr_in6 *six = (struct sockaddr_in6 *) &c;

	addr_v4(&a, 0x7f000001, 5432);
	addr_v4(&b, 0x7f000001, 6432);
	ok(cm_sock_same_ip(&a, &b), "same IPv4 address, other port: same");
	addr_v4(&b, 0x7f000002, 5432);
	ok(!cm_sock_same_ip(&a, &b), "another IPv4 address: not the same");
	memset(&c, 0, sizeof(c));
	six->sin6_family = AF_INET6;
	six->sin6_addr.s6_addr[15] = 1;
	ok(!cm_sock_same_ip(&a, &c), "IPv4 and IPv6: never the same");
	ok(cm_sock_same_ip(&c, &c), "an IPv6 address is itself");
	is_int(cm_sock_port(&a), 5432, "the port read back");
	ok(cm_sock_set_port(&a, 6432), "IPv4: port set");
	is_int(cm_sock_port(&a), 6432, "and read back");
	ok(cm_sock_set_port(&c, 7000), "IPv6: port set");
	is_int(cm_sock_port(&c), 7000, "and read back");
	c.ss_family = AF_UNIX;
	ok(!cm_sock_set_port(&c, 1), "no port for a Unix socket");
	is_int(cm_sock_port(&c), 0, "and none read");
}

int
main(void)
{
	test_addresses();
	test_timer_order();
	test_timer_handlers();
	test_timer_reserve();
	test_loop();
	test_busy_poll();
	test_busy_poll_judged();
	test_acceptor();
	return done_testing();
}
