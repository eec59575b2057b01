/*
 * event/loop.c
 *		The process's event loop: one epoll set of watches, and the timers
 *		of timer.c.  The proxy workers wait in it directly; the monitor nests
 *		its descriptor in a WaitEventSet with its latch.
 *
 * Level-triggered: a handler that leaves bytes unread is called again in
 * the next turn, so no handler has to drain its socket to stay correct.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include "cm_event.h"

#define CM_LOOP_BATCH 256
/* a wait the int of epoll_wait holds, whatever the timers say */
#define CM_LOOP_MAX_WAIT_MS (3600 * 1000)

static int epoll_fd = -1;
/* counted from 1, so that a new watch (period 0) counts when it fires */
static uint32_t period = 1;
static uint32_t period_watches; /* watches with events in this period */

/* Creates the epoll set; false with errno set when it cannot. */
bool
cm_loop_init(void)
{
	if (epoll_fd >= 0)
		return true;
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	return epoll_fd >= 0;
}

/* The epoll set's descriptor, readable when an event is ready. */
int
cm_loop_fd(void)
{
	return epoll_fd;
}

void
cm_watch_init(CmWatch *w, int fd, CmWatchHandler handler, void *arg)
{
	w->fd = fd;
	w->events = 0;
	w->added = false;
	w->period = 0;
	w->handler = handler;
	w->arg = arg;
}

/*
 * Waits for events (0: none, the watch stays in the set), adding the
 * descriptor the first time.  No system call when nothing changes, so
 * callers may state what they want after every event.  False with errno
 * set when epoll refuses.
 */
bool
cm_watch_set(CmWatch *w, uint32_t events)
{
	struct epoll_event ev;

	if (w->fd < 0)
	{
		errno = EBADF;
		return false;
	}
	if (w->added && w->events == events)
		return true;
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(epoll_fd, w->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd,
				  &ev) < 0)
		return false;
	w->added = true;
	w->events = events;
	return true;
}

/*
 * Takes the descriptor out of the set; events already collected for it in
 * this turn are dropped.  The descriptor stays open: closing is its
 * owner's.
 */
void
cm_watch_remove(CmWatch *w)
{
	if (w->added && w->fd >= 0)
		(void) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
	w->added = false;
	w->events = 0;
}

/*
 * Forgets a watch whose descriptor its owner closes next.  Closing takes a
 * descriptor out of every epoll set (when nothing else holds the open
 * file, as for sockets we accept or open), so this costs no system call;
 * events already collected for it in this turn are dropped.
 */
void
cm_watch_forget(CmWatch *w)
{
	w->added = false;
	w->events = 0;
}

/*
 * Ends a period of the loop (busy_poll.c judges in periods): how many
 * watches had events in it.
 */
uint32_t
cm_loop_period_end(void)
{
	uint32_t n = period_watches;

	period_watches = 0;
	if (++period == 0)
		period = 1;
	return n;
}

/*
 * One turn: waits until an event, the next timer or max_wait_ms (-1: no
 * limit but the timers), calls the handlers of what is ready, then fires
 * the timers that are due.  Returns the number of events and timers
 * handled, or -1 with errno when the wait failed (EINTR: a signal).
 */
int
cm_loop_run(int max_wait_ms)
{
	struct epoll_event events[CM_LOOP_BATCH];
	int64_t next = cm_timer_next();
	int timeout = max_wait_ms;
	int n;

	if (next != CM_TIMER_NEVER)
	{
		int64_t until = next - cm_now_ms();

		if (until < 0)
			until = 0;
		if (until > CM_LOOP_MAX_WAIT_MS)
			until = CM_LOOP_MAX_WAIT_MS;
		if (timeout < 0 || until < timeout)
			timeout = (int) until;
	}
	/* a short poll first, when set and a core idles: see busy_poll.c */
	n = cm_busy_poll_wait(epoll_fd, events, CM_LOOP_BATCH, &timeout);
	if (n == 0)
		n = epoll_wait(epoll_fd, events, CM_LOOP_BATCH, timeout);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
	{
		CmWatch *w = events[i].data.ptr;

		/* removed by an earlier handler of this turn */
		if (!w->added)
			continue;
		if (w->period != period)
		{
			w->period = period;
			period_watches++;
		}
		w->handler(w->arg, events[i].events);
	}
	return n + cm_timer_run_due(cm_now_ms());
}
