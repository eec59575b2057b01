/*
 * event/clock.c
 *		The monotonic clock of every deadline.  CLOCK_MONOTONIC is shared by
 *		all processes of the machine, so a deadline one process publishes in
 *		shared memory means the same instant to another.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <time.h>

#include "cm_event.h"

int64_t
cm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* nanoseconds on the same clock, for short spans */
int64_t
cm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}
