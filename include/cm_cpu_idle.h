/*
 * cm_cpu_idle.h
 *		Whether the machine has a core to spare, judged from the "cpu" line
 *		of /proc/stat: the proxy workers poll for a short while before they
 *		sleep (connection_manager.busy_poll) only then.
 *
 *		A worker that waits for the next message of a session wakes up late
 *		when it sleeps: the kernel has to schedule it again, often on
 *		another core.  Polling instead saves that wake-up on each hop, but
 *		takes a core while it polls: worth it when a core idles anyway,
 *		harmful when the backends and clients need every core.  So polling
 *		also stops while tasks wait for a core (the kernel's pressure stall
 *		information, /proc/pressure/cpu, when it has it).  The time a
 *		worker spent polling counts as idle here, or polling would always
 *		find the machine busy and stop itself.
 *
 * Pure code: unit-tested on its own.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CPU_IDLE_H
#define CM_CPU_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the machine's CPU time, in clock ticks (USER_HZ), summed over cores */
typedef struct CmCpuTimes
{
	uint64_t total; /* every state but guest time, already in user */
	uint64_t idle;	/* idle and iowait */
} CmCpuTimes;

/* cores that must idle, polling included, for polling to go on */
#define CM_CPU_IDLE_SPARE 0.5
/* most share of the time some task waited for a core, for polling */
#define CM_CPU_PRESSURE_MAX 0.25

extern bool cm_cpu_times_parse(const char *text, size_t len, CmCpuTimes *out);
extern bool
cm_cpu_pressure_parse(const char *text, size_t len, uint64_t *some_us);
extern bool
cm_cpu_pressure_low(uint64_t before_us, uint64_t after_us, int64_t period_us);
extern bool cm_cpu_has_spare(const CmCpuTimes *before, const CmCpuTimes *after,
							 int ncpu, uint64_t polled_ticks);

#endif
