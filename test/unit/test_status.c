/*
 * test_status.c
 *		Unit tests of what the HTTP API builds and reads (src/status_text.c,
 *		src/status_json.c, src/metrics.c): the lag limit and query string of
 *		the checks, JSON and Prometheus escaping, the refusal reasons, and
 *		the bodies of /status, the /group answers and /metrics for a view with
 *		awkward names.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_status.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
test_byte_size(void)
{
	static const struct
	{
		const char *text;
		bool ok;
		int64_t bytes;
	} cases[] = {
		{"0", true, 0},
		{"1048576", true, 1048576},
		{"16B", true, 16},
		{"16kB", true, 16384},
		{"10MB", true, 10485760},
		{"1GB", true, 1073741824},
		{"2TB", true, 2199023255552},
		{"9223372036854775807", true, INT64_MAX},
		{"9223372036854775808", false, 0},
		{"8388608TB", false, 0}, /* 2^63 */
		{"8388607TB", true, 8388607LL << 40},
		{"", false, 0},
		{"kB", false, 0},
		{"-1", false, 0},
		{"+1", false, 0},
		{"1 kB", false, 0},
		{"1kb", false, 0},
		{"1KB", false, 0},
		{"1.5MB", false, 0},
		{"1MBx", false, 0},
		{"0x10", false, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int64_t bytes = -42;
		bool ok = cm_parse_byte_size(cases[i].text, &bytes);

		is_int(ok, cases[i].ok, "byte size \"%s\": %s", cases[i].text,
			   cases[i].ok ? "read" : "refused");
		if (cases[i].ok)
			is_int(bytes, cases[i].bytes, "byte size \"%s\" value",
				   cases[i].text);
		else
			is_int(bytes, -42, "byte size \"%s\": untouched", cases[i].text);
	}
}

static void
test_query(void)
{
	char v[8];

	is_int(cm_query_param("lag=16MB", "lag", v, sizeof(v)), 1, "lag alone");
	is_str(v, "16MB", "its value");
	is_int(cm_query_param("x=1&lag=2&lag=3", "lag", v, sizeof(v)), 1,
		   "lag after another parameter");
	is_str(v, "2", "the first occurrence counts");
	is_int(cm_query_param("xlag=1&lagx=2", "lag", v, sizeof(v)), 0,
		   "names that merely contain lag");
	is_int(cm_query_param("", "lag", v, sizeof(v)), 0, "empty query");
	is_int(cm_query_param("lag", "lag", v, sizeof(v)), 1, "lag without =");
	is_str(v, "", "empty value");
	is_int(cm_query_param("lag=", "lag", v, sizeof(v)), 1, "lag= empty");
	is_str(v, "", "empty value too");
	is_int(cm_query_param("lag=1234567", "lag", v, sizeof(v)), 1,
		   "7 bytes fit 8");
	is_int(cm_query_param("lag=12345678", "lag", v, sizeof(v)), -1,
		   "8 bytes do not");
	is_int(cm_query_param("&&lag=1&", "lag", v, sizeof(v)), 1,
		   "empty parameters around");
	is_str(v, "1", "value between them");
}

/* Is text one valid JSON string, quotes included, of printable output? */
static bool
json_string_ok(const char *text)
{
	const unsigned char *p = (const unsigned char *) text;

	if (*p++ != '"')
		return false;
	while (*p && *p != '"')
	{
		if (*p < 0x20)
			return false;
		if (*p == '\\')
		{
			p++;
			if (*p == 'u')
			{
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return false;
				p += 5;
				continue;
			}
			if (!*p || !strchr("\"\\/bfnrt", *p))
				return false;
		}
		p++;
	}
	return *p == '"' && p[1] == '\0';
}

static void
test_escaping(void)
{
	CmText t;

	cm_text_init(&t, 1024);
	cm_text_json_string(&t, "a\"b\\c\nd\x01</e\xc3\xa9");
	is_str(t.data, "\"a\\\"b\\\\c\\u000ad\\u0001<\\/e\xc3\xa9\"",
		   "JSON: quotes, backslashes, controls, </ and UTF-8");
	ok(json_string_ok(t.data), "and it is a JSON string");
	cm_text_free(&t);

	cm_text_init(&t, 1024);
	cm_text_json_string(&t, "\xff\xc3(\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf");
	is_str(t.data,
		   "\"\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
		   "\\ufffd\\ufffd\"",
		   "JSON: invalid UTF-8, surrogates, too high, overlong");
	cm_text_free(&t);

	cm_text_init(&t, 1024);
	cm_text_label_value(&t, "a\"b\\c\nd\x01\xff");
	is_str(t.data, "a\\\"b\\\\c\\nd?\xef\xbf\xbd",
		   "label value: quote, backslash, newline, control, bad UTF-8");
	cm_text_free(&t);

	cm_text_init(&t, 8);
	cm_text_puts(&t, "1234567");
	ok(!t.overflow && t.len == 7, "7 bytes fit a text of 8");
	cm_text_puts(&t, "8");
	ok(t.overflow && t.len == 7, "the 8th overflows, nothing added");
	cm_text_printf(&t, "%d", 1);
	ok(t.overflow && t.len == 7, "nothing added after an overflow");
	cm_text_free(&t);

	cm_text_init(&t, 100000);
	for (int i = 0; i < 1000; i++)
		cm_text_printf(&t, "%s%d", i ? "," : "", i);
	ok(!t.overflow && strlen(t.data) == t.len, "a text grows as it goes");
	cm_text_printf(&t, "%0300d", 5);
	ok(!t.overflow && t.data[t.len - 1] == '5' && strlen(t.data) == t.len,
	   "a long printf");
	cm_text_free(&t);
}

static void
test_refusals(void)
{
	static const struct
	{
		const char *sqlstate;
		const char *message;
		CmRefusal want;
	} cases[] = {
		{"53300", "sorry, too many clients already", CM_REFUSED_TOO_MANY_CLIENTS},
		{"53300", "sorry, too many server connections for the read-only port",
		 CM_REFUSED_TOO_MANY_SERVERS},
		{"57P03", "no write leader is available", CM_REFUSED_NO_TARGET},
		{"28P01", "password authentication failed for user \"x\"",
		 CM_REFUSED_AUTHENTICATION},
		{"28000", "no pg_hba.conf entry", CM_REFUSED_AUTHENTICATION},
		{"08P01", "invalid startup packet", CM_REFUSED_PROTOCOL},
		{"0A000", "unsupported frontend protocol", CM_REFUSED_PROTOCOL},
		{"08006", "canceling authentication due to timeout", CM_REFUSED_TIMEOUT},
		{"08006", "could not connect to server \"h:1\": timeout expired",
		 CM_REFUSED_TIMEOUT},
		{"08006", "could not connect to server \"h:1\": refused",
		 CM_REFUSED_SERVER},
		{"08004", "the target server could not lock the session read-only",
		 CM_REFUSED_SERVER},
		{"XX000", "out of memory", CM_REFUSED_OTHER},
		{"", "", CM_REFUSED_OTHER},
		{NULL, NULL, CM_REFUSED_OTHER},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str(cm_refusal_name(
				   cm_refusal_of(cases[i].sqlstate, cases[i].message)),
			   cm_refusal_name(cases[i].want), "%s %s",
			   cases[i].sqlstate ? cases[i].sqlstate : "NULL",
			   cases[i].message ? cases[i].message : "");
	is_str(cm_auth_method_label(4), "scram-sha-256", "method 4");
	is_str(cm_auth_method_label(CM_AUTH_NO_RULE), "none", "no rule");
	is_str(cm_auth_method_label(99), "none", "out of range");
}

/* A view with names that need escaping, one leader, one node in the pool. */
static CmStatusView *
awkward_view(void)
{
	CmStatusView *v = calloc(1, sizeof(CmStatusView));

	strcpy(v->version, "1.0");
	strcpy(v->cluster_name, "c\"l\\u\x01ster");
	v->self = 1;
	v->nnodes = 2;
	strcpy(v->nodes[0].name, "a<b>&'");
	strcpy(v->nodes[0].host, "10.0.0.1");
	v->nodes[0].port = 5432;
	v->nodes[0].id = 1;
	v->nodes[0].leader = true;
	v->nodes[0].state.reachable = true;
	v->nodes[0].state.wal_lsn = 0x300000060ULL;
	v->nodes[0].probe_ms = 1.5;
	v->nodes[0].lag = -1;
	strcpy(v->nodes[1].name, "n\xc3\xa9\xff");
	strcpy(v->nodes[1].host, "::1");
	v->nodes[1].port = 5433;
	v->nodes[1].id = 2;
	v->nodes[1].self = true;
	v->nodes[1].in_pool = true;
	v->nodes[1].state.reachable = true;
	v->nodes[1].state.in_recovery = true;
	v->nodes[1].lag = 42;
	v->nodes[1].probe_ms = -1;
	strcpy(v->leader, "a<b>&'");
	strcpy(v->read_write_target, "10.0.0.1:5432");
	strcpy(v->leader_reason, "because \"so\"\n");
	v->consensus = true;
	v->reachable = 2;
	v->ncounters = 1;
	strcpy(v->counters[0].key, "q\"uote");
	v->counters[0].total[0] = 7;
	v->ports[0].c[CM_C_AUTH_OK + 4] = 3;
	v->ports[1].c[CM_C_FENCED] = 5;
	return v;
}

static void
test_bodies(void)
{
	CmStatusView *v = awkward_view();
	CmText t;

	cm_text_init(&t, 1 << 20);
	cm_group_info_json(v, true, &t);
	is_str(t.data,
		   "[{\"id\":1,\"name\":\"a<b>&'\",\"host\":\"10.0.0.1\",\"port\":5432,"
		   "\"dbname\":null}]",
		   "read-write-info");
	cm_text_free(&t);
	cm_text_init(&t, 1 << 20);
	cm_group_info_json(v, false, &t);
	is_str(t.data,
		   "[{\"id\":2,\"name\":\"n\xc3\xa9\\ufffd\",\"host\":\"::1\","
		   "\"port\":5433,\"dbname\":null}]",
		   "read-only-info, the invalid byte replaced");
	cm_text_free(&t);

	v->nodes[0].leader = false;
	v->alone = true;
	strcpy(v->read_write_target, "[::1]:6000");
	cm_text_init(&t, 1 << 20);
	cm_group_info_json(v, true, &t);
	is_str(t.data,
		   "[{\"id\":0,\"name\":\"[::1]:6000\",\"host\":\"::1\",\"port\":6000,"
		   "\"dbname\":null}]",
		   "alone on a standby: the upstream");
	cm_text_free(&t);
	v->alone = false;
	v->nodes[0].leader = true;

	cm_text_init(&t, 1 << 20);
	cm_status_json(v, &t);
	ok(!t.overflow &&
		   strstr(t.data, "\"cluster_name\":\"c\\\"l\\\\u\\u0001ster\""),
	   "/status: cluster_name escaped");
	ok(strstr(t.data, "\"leader_reason\":\"because \\\"so\\\"\\u000a\"") != NULL,
	   "/status: the reason escaped");
	ok(strstr(t.data, "\"pool\":[\"n\xc3\xa9\\ufffd\"]") != NULL,
	   "/status: the pool");
	ok(strstr(t.data, "\"wal_lsn\":\"3/60\"") != NULL, "/status: an LSN");
	ok(strstr(t.data, "\"scram-sha-256\":{\"succeeded\":3,\"failed\":0}") != NULL,
	   "/status: authentications by method");
	ok(strstr(t.data, "\"last_ms\":null") != NULL, "/status: no probe yet");
	ok(strstr(t.data, "},\"fenced\":5}") != NULL, "/status: fenced sessions");
	cm_text_free(&t);

	cm_text_init(&t, 1 << 20);
	cm_metrics_text(v, &t);
	ok(!t.overflow, "metrics fit");
	ok(strstr(t.data, "connection_manager_node_write_leader{node=\"a<b>&'\"} "
					  "1\n") != NULL,
	   "metrics: the leader");
	ok(strstr(t.data, "connection_manager_node_server_connections_total{node="
					  "\"q\\\"uote\",port=\"read_write\"} 7\n") != NULL,
	   "metrics: a label with a quote");
	ok(strstr(t.data, "{node=\"n\xc3\xa9\xef\xbf\xbd\"}") != NULL,
	   "metrics: bad UTF-8 replaced in a label");
	ok(strstr(t.data, "connection_manager_node_lag_bytes{node=\"n") != NULL &&
		   strstr(t.data, "connection_manager_node_lag_bytes{node=\"a") == NULL,
	   "metrics: a lag only where it is known");
	ok(strstr(t.data, "# TYPE connection_manager_probe_duration_seconds "
					  "histogram\n") != NULL,
	   "metrics: the probe histogram");
	ok(strstr(t.data, "connection_manager_sessions_fenced_total{port="
					  "\"read_only\"} 5\n") != NULL,
	   "metrics: fenced sessions by port");
	{
		/* every sample line belongs to a family announced before it */
		char *copy = strdup(t.data);
		char *save = NULL;
		bool all_typed = true;
		char families[200][80];
		int nfamilies = 0;

		for (char *line = strtok_r(copy, "\n", &save); line;
			 line = strtok_r(NULL, "\n", &save))
		{
			if (strncmp(line, "# TYPE ", 7) == 0)
			{
				sscanf(line + 7, "%79s", families[nfamilies++]);
				continue;
			}
			if (line[0] == '#')
				continue;
			{
				bool found = false;

				for (int i = 0; i < nfamilies && !found; i++)
					found = strncmp(line, families[i], strlen(families[i])) == 0;
				all_typed &= found;
			}
		}
		ok(all_typed && nfamilies > 20, "metrics: %d families, all typed",
		   nfamilies);
		free(copy);
	}
	cm_text_free(&t);

	cm_text_init(&t, 1 << 20);
	cm_node_check_json(v, &t);
	is_str(t.data,
		   "{\"state\":\"running\",\"role\":\"replica\",\"timeline\":0,"
		   "\"xlog\":{\"replayed_location\":0},"
		   "\"database_system_identifier\":\"0\",\"connection_manager\":{"
		   "\"name\":\"n\xc3\xa9\\ufffd\",\"write_leader\":false,"
		   "\"read_only_pool\":true,\"lag\":42}}",
		   "the body of a check");
	cm_text_free(&t);

	/* a view too large for its limit overflows, never writes past it */
	cm_text_init(&t, 100);
	cm_status_json(v, &t);
	ok(t.overflow && t.len < 100, "a small limit: overflow");
	cm_text_free(&t);
	free(v);
}

int
main(void)
{
	test_byte_size();
	test_query();
	test_escaping();
	test_refusals();
	test_bodies();
	return done_testing();
}
