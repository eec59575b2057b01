/*
 * cm_event.h
 *		The event layer: one loop per process over epoll, with file watches
 *		and timers, and the monotonic clock every deadline is measured on.
 *
 * A watch or a timer is embedded in its owner (a session, a probe...) and
 * says which function to call with which argument.  The loop never closes
 * a descriptor nor frees an owner: owners release themselves after
 * cm_loop_run() returns (STYLE.md: nobody frees an object inside its own
 * callback), so an event for an owner closed earlier in the same turn
 * finds its watch removed and is dropped.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_EVENT_H
#define CM_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

/* what a watch waits for, and what a handler is told (epoll's bits) */
#define CM_EV_READ	EPOLLIN
#define CM_EV_WRITE EPOLLOUT
#define CM_EV_ERROR (EPOLLERR | EPOLLHUP)

/*
 * A deadline that never comes: a timer set there stays armed, so moving it
 * later to a real deadline needs no memory and cannot fail.
 */
#define CM_TIMER_NEVER INT64_MAX

typedef void (*CmWatchHandler)(void *arg, uint32_t events);
typedef void (*CmTimerHandler)(void *arg);

typedef struct CmWatch
{
	int fd;			 /* -1: none */
	uint32_t events; /* what epoll waits for now */
	bool added;		 /* in the epoll set */
	uint32_t period; /* loop.c: the period of its last event */
	CmWatchHandler handler;
	void *arg;
} CmWatch;

typedef struct CmTimer
{
	int64_t when;	/* cm_now_ms() at which it fires */
	int index;		/* place in the heap; -1 when not armed */
	uint64_t epoch; /* timer.c: in which run of the due timers it was set */
	CmTimerHandler handler;
	void *arg;
} CmTimer;

/* clock.c: milliseconds on CLOCK_MONOTONIC, comparable across processes */
extern int64_t cm_now_ms(void);
extern int64_t cm_now_ns(void);

/* loop.c */
extern bool cm_loop_init(void);
extern int cm_loop_fd(void);
extern int cm_loop_run(int max_wait_ms);
extern void cm_watch_init(CmWatch *w, int fd, CmWatchHandler handler, void *arg);
extern bool cm_watch_set(CmWatch *w, uint32_t events);
extern void cm_watch_remove(CmWatch *w);
extern void cm_watch_forget(CmWatch *w);
extern uint32_t cm_loop_period_end(void);

/* busy_poll.c */
extern void cm_busy_poll_set(int us);
extern int cm_busy_poll_wait(int epfd, struct epoll_event *events, int max,
							 int *timeout_ms);
extern void cm_busy_poll_set_stat(const char *path, const char *pressure);

/* timer.c */
extern void cm_timer_init(CmTimer *t, CmTimerHandler handler, void *arg);
extern bool cm_timer_set(CmTimer *t, int64_t when);
extern bool cm_timer_reserve(int n);
extern void cm_timer_cancel(CmTimer *t);
extern int64_t cm_timer_next(void);
extern int cm_timer_run_due(int64_t now);
extern int cm_timer_count(void);

static inline bool
cm_timer_armed(const CmTimer *t)
{
	return t->index >= 0;
}

#endif /* CM_EVENT_H */
