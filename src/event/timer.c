/*
 * event/timer.c
 *		Timers of one process in a binary min-heap of deadlines: arming,
 *		re-arming and cancelling cost O(log n), finding the next deadline
 *		O(1), so no loop has to sweep its sessions to find expired ones.
 *
 * Plain C without the server's headers, so the unit tests link it.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <stdint.h>
#include <stdlib.h>

#include "cm_event.h"

#define CM_TIMER_INITIAL 256

static CmTimer **heap;
static int nheap;
static int capacity;

/* counts calls of cm_timer_run_due(); a timer records the one it was set in */
static uint64_t run_epoch;

static void
heap_place(int i, CmTimer *t)
{
	heap[i] = t;
	t->index = i;
}

static void
sift_up(int i)
{
	CmTimer *t = heap[i];

	while (i > 0)
	{
		int parent = (i - 1) / 2;

		if (heap[parent]->when <= t->when)
			break;
		heap_place(i, heap[parent]);
		i = parent;
	}
	heap_place(i, t);
}

static void
sift_down(int i)
{
	CmTimer *t = heap[i];

	for (;;)
	{
		int child = 2 * i + 1;

		if (child >= nheap)
			break;
		if (child + 1 < nheap && heap[child + 1]->when < heap[child]->when)
			child++;
		if (t->when <= heap[child]->when)
			break;
		heap_place(i, heap[child]);
		i = child;
	}
	heap_place(i, t);
}

static bool
heap_resize(int want)
{
	CmTimer **bigger;

	if (want <= capacity)
		return false;
	bigger = realloc(heap, (size_t) want * sizeof(*heap));
	if (bigger == NULL)
		return false;
	heap = bigger;
	capacity = want;
	return true;
}

static bool
heap_grow(void)
{
	return heap_resize(capacity ? capacity * 2 : CM_TIMER_INITIAL);
}

/*
 * Makes room for n timers armed at once, so that cm_timer_set() cannot
 * fail while no more are armed: a process that knows how many timers it
 * keeps reserves once at start, and has no out-of-memory path later.
 * False (out of memory) leaves the room as it was.
 */
bool
cm_timer_reserve(int n)
{
	return n <= capacity || heap_resize(n);
}

void
cm_timer_init(CmTimer *t, CmTimerHandler handler, void *arg)
{
	t->when = 0;
	t->index = -1;
	t->handler = handler;
	t->arg = arg;
}

/*
 * Arms t to fire at when, or moves it there if armed.  False only when the
 * heap could not grow (out of memory): t is then not armed.
 */
bool
cm_timer_set(CmTimer *t, int64_t when)
{
	int64_t before = t->when;

	t->epoch = run_epoch;
	if (t->index >= 0)
	{
		t->when = when;
		if (when < before)
			sift_up(t->index);
		else
			sift_down(t->index);
		return true;
	}
	if (nheap == capacity && !heap_grow())
		return false;
	t->when = when;
	heap_place(nheap, t);
	nheap++;
	sift_up(nheap - 1);
	return true;
}

void
cm_timer_cancel(CmTimer *t)
{
	int i = t->index;
	CmTimer *last;

	if (i < 0)
		return;
	t->index = -1;
	last = heap[--nheap];
	if (i == nheap)
		return;
	heap_place(i, last);
	if (i > 0 && heap[(i - 1) / 2]->when > last->when)
		sift_up(i);
	else
		sift_down(i);
}

/* The earliest deadline, or CM_TIMER_NEVER when no timer is armed. */
int64_t
cm_timer_next(void)
{
	return nheap > 0 ? heap[0]->when : CM_TIMER_NEVER;
}

int
cm_timer_count(void)
{
	return nheap;
}

/*
 * Fires the timers due at now, earliest first.  A handler may arm or
 * cancel any timer, itself included.  A timer armed by a handler of this
 * call waits for the next call (cm_timer_next() then says it is due), so a
 * handler re-arming itself for now cannot hold the loop.
 */
int
cm_timer_run_due(int64_t now)
{
	int fired = 0;

	run_epoch++;
	while (nheap > 0 && heap[0]->when <= now && heap[0]->epoch < run_epoch)
	{
		CmTimer *t = heap[0];

		cm_timer_cancel(t);
		fired++;
		t->handler(t->arg);
	}
	return fired;
}
