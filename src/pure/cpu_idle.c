/*
 * pure/cpu_idle.c
 *		Whether the machine has a core to spare (see cm_cpu_idle.h).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_cpu_idle.h"

#include <string.h>

/* fields of the "cpu" line: user nice system idle iowait irq softirq steal */
#define CPU_FIELDS 8

/*
 * Reads the first line of /proc/stat ("cpu  user nice system idle iowait
 * irq softirq steal guest guest_nice"): false unless it is that line with
 * at least its first eight counters.  Guest time is already in user and
 * nice, so it is not added again.
 */
bool
cm_cpu_times_parse(const char *text, size_t len, CmCpuTimes *out)
{
	uint64_t v[CPU_FIELDS];
	size_t i = 3;

	if (len < 4 || memcmp(text, "cpu ", 4) != 0)
		return false;
	for (int f = 0; f < CPU_FIELDS; f++)
	{
		uint64_t n = 0;
		size_t digits = 0;

		while (i < len && text[i] == ' ')
			i++;
		while (i < len && text[i] >= '0' && text[i] <= '9')
		{
			uint64_t d = (uint64_t) (text[i] - '0');

			if (n > (UINT64_MAX - d) / 10)
				return false;
			n = n * 10 + d;
			i++;
			digits++;
		}
		if (digits == 0 || (i < len && text[i] != ' ' && text[i] != '\n'))
			return false;
		v[f] = n;
	}
	out->idle = v[3] + v[4];
	out->total = 0;
	for (int f = 0; f < CPU_FIELDS; f++)
		out->total += v[f];
	return true;
}

/*
 * Whether, between two readings, at least CM_CPU_IDLE_SPARE of a core
 * idled, counting as idle the polled_ticks this process spent polling.
 * A single core never has one to spare; nor has a machine whose counters
 * did not move or went back.
 */
bool
cm_cpu_has_spare(const CmCpuTimes *before, const CmCpuTimes *after, int ncpu,
				 uint64_t polled_ticks)
{
	uint64_t total;
	uint64_t idle;

	if (ncpu < 2 || after->total <= before->total || after->idle < before->idle)
		return false;
	total = after->total - before->total;
	idle = after->idle - before->idle + polled_ticks;
	if (idle > total)
		idle = total;
	/* idle / total of ncpu cores >= spare cores */
	return (double) idle * ncpu >= CM_CPU_IDLE_SPARE * (double) total;
}

/*
 * Reads the "some" line of /proc/pressure/cpu ("some avg10=0.00 avg60=0.00
 * avg300=0.00 total=N"): N, the microseconds in which at least one task
 * waited for a core.  False unless the text starts with such a line.
 */
bool
cm_cpu_pressure_parse(const char *text, size_t len, uint64_t *some_us)
{
	static const char key[] = " total=";
	size_t end = 0;
	size_t i;
	uint64_t n = 0;

	if (len < 5 || memcmp(text, "some ", 5) != 0)
		return false;
	while (end < len && text[end] != '\n')
		end++;
	/* the last " total=" of the line */
	for (i = end; i >= sizeof(key) - 1; i--)
		if (memcmp(text + i - (sizeof(key) - 1), key, sizeof(key) - 1) == 0)
			break;
	if (i < sizeof(key) - 1 || i == end)
		return false;
	for (; i < end; i++)
	{
		uint64_t d;

		if (text[i] < '0' || text[i] > '9')
			return false;
		d = (uint64_t) (text[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*some_us = n;
	return true;
}

/*
 * Whether tasks waited for a core less than CM_CPU_PRESSURE_MAX of a
 * period of period_us, from two readings of the "some" total.  A total
 * that went back, or a period of no length, is not low.
 */
bool
cm_cpu_pressure_low(uint64_t before_us, uint64_t after_us, int64_t period_us)
{
	if (period_us <= 0 || after_us < before_us)
		return false;
	return (double) (after_us - before_us) <
		   CM_CPU_PRESSURE_MAX * (double) period_us;
}
