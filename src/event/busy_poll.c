/*
 * event/busy_poll.c
 *		Polling the epoll set for a short while before a turn sleeps, while
 *		the machine has a core to spare (cm_cpu_idle.h).
 *
 * A session's next message mostly comes within a fraction of a
 * millisecond: the server's answer to the query just passed on, the
 * client's next query after the answer.  A worker asleep in epoll_wait
 * then has to be woken and scheduled again; one that polls takes the
 * message at once.  It polls at most busy_poll microseconds per turn, and
 * only while it serves few busy sessions (the sockets with events in the
 * last judgement period at most CM_BUSY_POLL_WATCHES, two sessions) and at
 * least half a core idled meanwhile, its own polling counted as idle, and
 * tasks waited for a core less than a quarter of the time (pressure stall
 * information, where the kernel has it).
 * Under load, every core goes to the backends and the clients, and the
 * worker sleeps at once: with many busy sessions, a poll finds an event
 * quickly every time, so its own polling would always look idle.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "cm_cpu_idle.h"
#include "cm_event.h"

/* how often whether to poll is judged again */
#define JUDGE_PERIOD_MS 200
/* most sockets with events in a period for polling: two sessions' */
#define CM_BUSY_POLL_WATCHES 4

static int poll_us;		  /* 0: never poll */
static bool poll_allowed; /* the last judgement's answer */
static bool judged;		  /* judged_at holds a judgement, even a failed one */
static bool have_before;  /* cpu_before holds a reading */
static CmCpuTimes cpu_before;
static bool have_pressure;		 /* pressure_before holds a reading */
static uint64_t pressure_before; /* µs some task waited for a core */
static int64_t judged_at_ns;	 /* cm_now_ns() of the last judgement */
static int64_t judged_at;		 /* cm_now_ms() of the last judgement */
static int64_t polled_ns;		 /* CPU time spent polling since then */
static long ncpu;
static long ticks_per_s;
static const char *stat_path = "/proc/stat";
static const char *pressure_path = "/proc/pressure/cpu";

/* Sets how long a turn may poll, in microseconds; 0 never polls. */
void
cm_busy_poll_set(int us)
{
	poll_us = us > 0 ? us : 0;
	if (ncpu == 0)
	{
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		ticks_per_s = sysconf(_SC_CLK_TCK);
	}
}

/*
 * For tests: reads the CPU times and the CPU pressure from these files
 * instead (NULL: /proc/stat, /proc/pressure/cpu), and judges afresh.
 */
void
cm_busy_poll_set_stat(const char *path, const char *pressure)
{
	stat_path = path ? path : "/proc/stat";
	pressure_path = pressure ? pressure : "/proc/pressure/cpu";
	have_before = false;
	have_pressure = false;
	judged = false;
}

/* The machine's CPU times now; false when /proc/stat cannot be read. */
static bool
read_cpu_times(CmCpuTimes *out)
{
	char buf[512];
	ssize_t n;
	int fd = open(stat_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n > 0 && cm_cpu_times_parse(buf, (size_t) n, out);
}

/*
 * Whether tasks waited for a core less than a quarter of the time since
 * the last reading; also true when the kernel does not say (no
 * /proc/pressure/cpu: the other conditions alone decide then).
 */
static bool
pressure_low(int64_t period_ns)
{
	char buf[256];
	ssize_t n;
	uint64_t after;
	bool low;
	int fd = open(pressure_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || !cm_cpu_pressure_parse(buf, (size_t) n, &after))
	{
		have_pressure = false;
		return false; /* there, but unreadable: do not poll */
	}
	low = have_pressure &&
		  cm_cpu_pressure_low(pressure_before, after, period_ns / 1000);
	pressure_before = after;
	have_pressure = true;
	return low;
}

/*
 * The CPU time this thread has used.  Polling counts as idle for the CPU
 * it actually used: while the scheduler ran something else in its place,
 * the core was busy, however long the poll lasted on the clock.
 */
static int64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Whether to poll now: judged again once per period, also after a reading
 * that failed, so that a /proc/stat that cannot be read costs one attempt
 * a period and not one a turn.
 */
static bool
poll_judged(void)
{
	int64_t now = cm_now_ms();
	CmCpuTimes after;
	uint32_t busy_watches;
	int64_t now_ns;
	int64_t period_ns;
	bool pressure_ok;

	if (judged && now - judged_at < JUDGE_PERIOD_MS)
		return poll_allowed;
	judged = true;
	judged_at = now;
	busy_watches = cm_loop_period_end();
	now_ns = cm_now_ns();
	period_ns = now_ns - judged_at_ns;
	judged_at_ns = now_ns;
	pressure_ok = pressure_low(period_ns);
	if (!read_cpu_times(&after))
	{
		have_before = false;
		poll_allowed = false;
		return false;
	}
	poll_allowed =
		have_before && ticks_per_s > 0 &&
		busy_watches <= CM_BUSY_POLL_WATCHES && pressure_ok &&
		cm_cpu_has_spare(&cpu_before, &after, (int) ncpu,
						 (uint64_t) (polled_ns * ticks_per_s / 1000000000));
	cpu_before = after;
	have_before = true;
	polled_ns = 0;
	return poll_allowed;
}

/*
 * Polls the epoll set until an event, busy_poll microseconds or
 * *timeout_ms (-1: no limit) pass: the events found (0 when none came, or
 * polling is off now), or -1 with errno.  *timeout_ms loses the whole
 * milliseconds polled, so that the sleep after a poll in vain ends at the
 * deadline the turn had.
 */
int
cm_busy_poll_wait(int epfd, struct epoll_event *events, int max, int *timeout_ms)
{
	int64_t limit_ns = (int64_t) poll_us * 1000;
	int64_t start;
	int64_t cpu_start;
	int64_t now;
	int n;

	if (poll_us == 0 || *timeout_ms == 0 || !poll_judged())
		return 0;
	if (*timeout_ms > 0 && (int64_t) *timeout_ms * 1000000 < limit_ns)
		limit_ns = (int64_t) *timeout_ms * 1000000;
	start = cm_now_ns();
	cpu_start = thread_cpu_ns();
	do
	{
		n = epoll_wait(epfd, events, max, 0);
		now = cm_now_ns();
	} while (n == 0 && now - start < limit_ns);
	polled_ns += thread_cpu_ns() - cpu_start;
	if (*timeout_ms > 0)
	{
		int64_t left = *timeout_ms - (now - start) / 1000000;

		*timeout_ms = left > 0 ? (int) left : 0;
	}
	return n;
}
