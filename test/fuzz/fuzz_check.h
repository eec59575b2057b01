/*
 * fuzz_check.h
 *		The fuzz targets' invariant check: a failed one aborts, which
 *		libFuzzer reports as a crash with the input that caused it.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                           \
	do                                                                        \
	{                                                                         \
		if (!(cond))                                                          \
		{                                                                     \
			fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__,      \
					__LINE__, #cond);                                         \
			abort();                                                          \
		}                                                                     \
	} while (0)

#endif /* FUZZ_CHECK_H */
