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
