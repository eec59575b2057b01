/*
 * fuzz_status.c
 *		libFuzzer target for what the HTTP API reads from a request's query
 *		string (src/status_text.c) and for the escaping of names in its
 *		answers.  The input is read as a query string, its "lag" value as
 *		a byte size, and as a name put through the JSON and Prometheus
 *		escapers.
 *
 * Invariants: a value found is a substring of the query that holds no
 * "&"; a byte size read is non-negative and, printed back with its unit,
 * reads the same; a JSON string is well formed (quotes, escapes, no
 * control byte) and valid UTF-8; a label value has no raw quote, newline
 * or lone backslash.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_status.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

/* Length of a valid UTF-8 sequence at p (p NUL-terminated), or 0. */
static size_t
utf8_ok(const unsigned char *p)
{
	size_t n = p[0] < 0x80 ? 1 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;

	if (p[0] >= 0x80 && p[0] < 0xc2)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void
check_json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	CHECK(*p++ == '"');
	while (*p != '"')
	{
		size_t n;

		CHECK(*p >= 0x20 && *p != 0x7f);
		if (*p == '\\')
		{
			p++;
			if (*p == 'u')
			{
				for (int i = 1; i <= 4; i++)
					CHECK(p[i] && strchr("0123456789abcdef", p[i]));
				p += 5;
			}
			else
			{
				CHECK(*p == '"' || *p == '\\' || *p == '/');
				p++;
			}
			continue;
		}
		n = utf8_ok(p);
		CHECK(n > 0);
		p += n;
	}
	CHECK(p[1] == '\0');
}

static void
check_label(const char *s)
{
	for (const char *p = s; *p; p++)
	{
		CHECK(*p != '"' && *p != '\n');
		if (*p == '\\')
		{
			p++;
			CHECK(*p == '\\' || *p == '"' || *p == 'n');
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char value[64];
	CmText t;
	int r;

	memcpy(text, data, size);
	text[size] = '\0';

	r = cm_query_param(text, "lag", value, sizeof(value));
	CHECK(r >= -1 && r <= 1);
	if (r == 1)
	{
		int64_t bytes;

		CHECK(strchr(value, '&') == NULL);
		CHECK(strstr(text, value) != NULL);
		if (cm_parse_byte_size(value, &bytes))
		{
			char again[64];
			int64_t back;

			CHECK(bytes >= 0);
			snprintf(again, sizeof(again), "%" PRId64, bytes);
			CHECK(cm_parse_byte_size(again, &back) && back == bytes);
		}
	}

	cm_text_init(&t, 8 * size + 64);
	cm_text_json_string(&t, text);
	CHECK(!t.overflow);
	check_json_string(t.data);
	cm_text_free(&t);

	cm_text_init(&t, 4 * size + 64);
	cm_text_label_value(&t, text);
	CHECK(!t.overflow);
	check_label(t.data ? t.data : ""); /* nothing appended: no buffer */
	cm_text_free(&t);

	free(text);
	return 0;
}
