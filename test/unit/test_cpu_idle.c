/*
 * test_cpu_idle.c
 *		Unit tests of the judge of spare cores that lets proxy workers poll
 *		before they sleep (src/pure/cpu_idle.c).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <string.h>

#include "cm_cpu_idle.h"
#include "tap.h"

static bool
parse(const char *text, CmCpuTimes *out)
{
	return cm_cpu_times_parse(text, strlen(text), out);
}

static void
test_parse(void)
{
	CmCpuTimes t = {0, 0};

	ok(parse("cpu  100 20 30 400 50 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n", &t),
	   "a line of /proc/stat with guest fields");
	is_int((int) t.total, 621, "total: the eight states, guest not again");
	is_int((int) t.idle, 450, "idle: idle and iowait");
	ok(parse("cpu  1 2 3 4 5 6 7 8\n", &t), "eight fields are enough");
	is_int((int) t.total, 36, "their sum");
	ok(parse("cpu  1 2 3 4 5 6 7 8", &t), "the end of the text ends a field");
	ok(!parse("cpu  1 2 3 4 5 6 7\n", &t), "seven fields are not");
	ok(!parse("cpu0 1 2 3 4 5 6 7 8\n", &t), "one core's line is not it");
	ok(!parse("intr 1 2 3 4 5 6 7 8\n", &t), "another line is not it");
	ok(!parse("cpu  1 2 3 x 5 6 7 8\n", &t), "a letter in a field");
	ok(!parse("cpu  1 2 3 4x 5 6 7 8\n", &t), "a letter after digits");
	ok(!parse("cpu  1 2 3 -4 5 6 7 8\n", &t), "a sign");
	ok(!parse("cpu  99999999999999999999 2 3 4 5 6 7 8\n", &t),
	   "a count beyond 64 bits");
	ok(parse("cpu  18446744073709551615 0 0 0 0 0 0 0\n", &t),
	   "the largest 64-bit count");
	ok(!parse("cpu", &t), "three bytes");
	ok(!parse("", &t), "nothing");
	ok(!cm_cpu_times_parse("cpu  1 2 3 4 5 6 7 8", 12, &t),
	   "a text cut short by its length");
}

static void
test_spare(void)
{
	CmCpuTimes a = {1000, 500};
	CmCpuTimes half = {1200, 550}; /* 2 cores: 25% idle, half a core */
	CmCpuTimes busy = {1200, 540}; /* 20% idle: 0.4 of a core */
	CmCpuTimes none = {1000, 500};
	CmCpuTimes back = {1200, 400};

	ok(cm_cpu_has_spare(&a, &half, 2, 0), "half a core of two idled");
	ok(!cm_cpu_has_spare(&a, &busy, 2, 0), "0.4 of a core is too little");
	ok(cm_cpu_has_spare(&a, &busy, 2, 10),
	   "with the worker's own polling counted as idle, enough");
	ok(cm_cpu_has_spare(&a, &busy, 4, 0), "0.8 of four cores is enough");
	ok(!cm_cpu_has_spare(&a, &half, 1, 0), "one core never has one to spare");
	ok(!cm_cpu_has_spare(&a, &half, 0, 0), "no count of cores");
	ok(!cm_cpu_has_spare(&a, &none, 2, 0), "counters that did not move");
	ok(!cm_cpu_has_spare(&a, &back, 2, 0), "idle time that went back");
	ok(!cm_cpu_has_spare(&half, &a, 2, 0), "total time that went back");
	ok(cm_cpu_has_spare(&a, &busy, 2, 1000000),
	   "more polling than the period: capped, still spare");
}

static void
test_pressure(void)
{
	const char *psi = "some avg10=1.50 avg60=0.20 avg300=0.05 total=3220819857\n"
					  "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
	uint64_t us = 0;

	ok(cm_cpu_pressure_parse(psi, strlen(psi), &us), "/proc/pressure/cpu read");
	ok(us == 3220819857u, "the some line's total");
	ok(cm_cpu_pressure_parse("some total=7", 12, &us) && us == 7,
	   "a line with the total alone");
	ok(!cm_cpu_pressure_parse("full avg10=0.00 total=5\n", 24, &us),
	   "the full line is not it");
	ok(!cm_cpu_pressure_parse("some avg10=0.00\ntotal=5\n", 22, &us),
	   "a total on another line is not the some line's");
	ok(!cm_cpu_pressure_parse("some avg10=0.00 total=\n", 23, &us),
	   "a total without digits");
	ok(!cm_cpu_pressure_parse("some total=12x\n", 15, &us),
	   "a total with a letter");
	ok(!cm_cpu_pressure_parse("some total=99999999999999999999\n", 32, &us),
	   "a total beyond 64 bits");
	ok(!cm_cpu_pressure_parse("some", 4, &us), "four bytes");

	ok(cm_cpu_pressure_low(1000, 1000 + 49999, 200000),
	   "tasks waited just under a quarter of the period");
	ok(!cm_cpu_pressure_low(1000, 1000 + 50000, 200000),
	   "a quarter is too much");
	ok(!cm_cpu_pressure_low(1000, 999, 200000), "a total that went back");
	ok(!cm_cpu_pressure_low(1000, 1000, 0), "a period of no length");
}

int
main(void)
{
	test_parse();
	test_spare();
	test_pressure();
	return done_testing();
}
