/*
 * fuzz_cluster.c
 *		libFuzzer target for the cluster view's parsers: the node state a
 *		peer serves (src/node_json.c, network bytes) and the nodes setting
 *		(src/cluster.c, the input cut at its first NUL).
 *
 * Beyond "does not crash", it checks what the modules promise: a state
 * that parses is reachable and formats into a text that parses back to the
 * same state (every field, port and timeline_mark included), and that text
 * is a fixed point of format and parse; its port is from 1 to 65535; a
 * state that does not parse is left unreachable.  The nodes parser returns
 * -1 with a reason or a count up to its max, every entry with a non-empty
 * name free of blanks and quotes, a non-empty host and a port from 1 to
 * 65535, no name twice and no host and port twice.  The input set as the
 * value of an unknown key in a valid state is either refused or leaves the
 * known fields as they were.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_cluster.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

static bool
same_state(const CmNodeState *a, const CmNodeState *b)
{
	return a->reachable == b->reachable && strcmp(a->name, b->name) == 0 &&
		   a->system_identifier == b->system_identifier &&
		   a->in_recovery == b->in_recovery && a->timeline == b->timeline &&
		   a->wal_lsn == b->wal_lsn && a->streaming == b->streaming &&
		   a->sessions == b->sessions && a->instance == b->instance &&
		   a->port == b->port && a->timeline_mark == b->timeline_mark &&
		   a->vote_instance == b->vote_instance &&
		   a->vote_timeline == b->vote_timeline &&
		   a->vote_hold_ms == b->vote_hold_ms;
}

static void
check_state(const char *data, size_t size)
{
	CmNodeState s;
	CmNodeState again;
	CmNodeState third;
	char text[CM_NODE_STATE_MAX + 1];
	char text2[CM_NODE_STATE_MAX + 1];

	memset(&s, 0x5a, sizeof(s));
	if (!cm_node_state_parse(data, size, &s))
	{
		CHECK(!s.reachable);
		return;
	}
	CHECK(s.reachable);
	CHECK(size <= CM_NODE_STATE_MAX);
	CHECK(s.port >= 1 && s.port <= 65535);
	CHECK(strnlen(s.name, sizeof(s.name)) < CM_NODE_NAME_LEN);
	for (const char *c = s.name; *c; c++)
		CHECK((unsigned char) *c >= 0x20 && (unsigned char) *c < 0x7f);

	CHECK(cm_node_state_format(&s, text, sizeof(text)));
	CHECK(strlen(text) <= CM_NODE_STATE_MAX);
	CHECK(cm_node_state_parse(text, strlen(text), &again));
	CHECK(same_state(&s, &again));
	CHECK(cm_node_state_format(&again, text2, sizeof(text2)));
	CHECK(strcmp(text, text2) == 0);
	/* the parser reads only the bytes it is given */
	CHECK(!cm_node_state_parse(text, strlen(text) - 1, &third));
	CHECK(!third.reachable);
}

/* The input as the value of an unknown key after every known one. */
static void
check_unknown(const char *data, size_t size)
{
	static const char head[] =
		"{\"name\":\"pg1\",\"system_identifier\":\"7\",\"port\":5432,"
		"\"in_recovery\":true,\"timeline\":3,\"timeline_mark\":4,"
		"\"wal_lsn\":\"1/2\",\"streaming\":true,\"sessions\":5,"
		"\"instance\":\"00000000000000ab\",\"fuzz\":";
	CmNodeState want;
	CmNodeState s;
	char *text;
	size_t len = sizeof(head) - 1 + size + 1;

	if (len > CM_NODE_STATE_MAX)
		return;
	text = malloc(len);
	memcpy(text, head, sizeof(head) - 1);
	memcpy(text + sizeof(head) - 1, data, size);
	text[len - 1] = '}';
	memset(&want, 0, sizeof(want));
	want.reachable = true;
	strcpy(want.name, "pg1");
	want.system_identifier = 7;
	want.port = 5432;
	want.in_recovery = true;
	want.timeline = 3;
	want.timeline_mark = 4;
	want.wal_lsn = (UINT64_C(1) << 32) | 2;
	want.streaming = true;
	want.sessions = 5;
	want.instance = 0xab;
	memset(&s, 0x5a, sizeof(s));
	if (cm_node_state_parse(text, len, &s))
		CHECK(same_state(&s, &want));
	else
		CHECK(!s.reachable);
	free(text);
}

static void
check_nodes(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	CmNodeConf conf[CM_MAX_NODES + 1];
	char err[256];
	int n;

	memcpy(text, data, size);
	text[size] = '\0';
	memset(conf, 0x5a, sizeof(conf));
	memset(err, 'x', sizeof(err));
	n = cm_nodes_parse(text, conf, CM_MAX_NODES, err, sizeof(err));
	CHECK(n >= -1 && n <= CM_MAX_NODES);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (n < 0)
		CHECK(err[0] != '\0');
	else
		CHECK(err[0] == '\0');
	for (int i = 0; i < n; i++)
	{
		size_t name_len = strnlen(conf[i].name, sizeof(conf[i].name));
		size_t host_len = strnlen(conf[i].host, sizeof(conf[i].host));

		CHECK(name_len > 0 && name_len < CM_NODE_NAME_LEN);
		CHECK(host_len > 0 && host_len < CM_NODE_HOST_LEN);
		CHECK(conf[i].port >= 1 && conf[i].port <= 65535);
		for (size_t k = 0; k < name_len; k++)
			CHECK(!isspace((unsigned char) conf[i].name[k]) &&
				  conf[i].name[k] != '"' && conf[i].name[k] != '\\' &&
				  (unsigned char) conf[i].name[k] >= 0x20);
		CHECK(strstr(text, conf[i].name) != NULL);
		CHECK(strstr(text, conf[i].host) != NULL);
		for (int j = 0; j < i; j++)
		{
			CHECK(strcmp(conf[i].name, conf[j].name) != 0);
			CHECK(strcmp(conf[i].host, conf[j].host) != 0 ||
				  conf[i].port != conf[j].port);
		}
	}
	/* never written past max */
	CHECK(conf[CM_MAX_NODES].name[0] == 0x5a);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_state((const char *) data, size);
	check_unknown((const char *) data, size);
	check_nodes(data, size);
	return 0;
}
