/*
 * tap.h
 *		A minimal Test Anything Protocol producer for the unit tests.
 *
 * Test names are printf formats.  Call done_testing() last and return its
 * value from main(): it prints the plan when none was given up front and
 * yields a non-zero exit status when a test failed or the count is wrong.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_TAP_H
#define CM_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

static inline void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

__attribute__((format(printf, 4, 0))) static inline int
tap_result(int pass, const char *file, int line, const char *fmt, va_list ap)
{
	tap_run++;
	printf("%sok %d - ", pass ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	printf("\n");
	if (!pass)
	{
		tap_failed++;
		printf("#   Failed test at %s line %d.\n", file, line);
	}
	fflush(stdout);
	return pass;
}

__attribute__((format(printf, 4, 5))) static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pass = tap_result(pass, file, line, fmt, ap);
	va_end(ap);
	return pass;
}

__attribute__((format(printf, 5, 6))) static inline int
tap_is_int(long long got, long long want, const char *file, int line,
		   const char *fmt, ...)
{
	va_list ap;
	int pass;

	va_start(ap, fmt);
	pass = tap_result(got == want, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#          got: %lld\n#     expected: %lld\n", got, want);
	return pass;
}

__attribute__((format(printf, 5, 6))) static inline int
tap_is_str(const char *got, const char *want, const char *file, int line,
		   const char *fmt, ...)
{
	va_list ap;
	int pass;

	pass = (got && want) ? strcmp(got, want) == 0 : got == want;
	va_start(ap, fmt);
	pass = tap_result(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#          got: %s\n#     expected: %s\n",
			   got ? got : "(null)", want ? want : "(null)");
	return pass;
}

static inline int
done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run)
		printf("# Planned %d tests but ran %d.\n", tap_planned, tap_run);
	if (tap_failed > 0)
		printf("# Failed %d of %d tests.\n", tap_failed, tap_run);
	fflush(stdout);
	return tap_failed > 0 || (tap_planned >= 0 && tap_planned != tap_run);
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                                \
	tap_is_int((long long) (got), (long long) (want), __FILE__, __LINE__,     \
			   __VA_ARGS__)
#define is_str(got, want, ...)                                                \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

#endif /* CM_TAP_H */
