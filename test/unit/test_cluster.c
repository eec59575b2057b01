/*
 * test_cluster.c
 *		Unit tests of the cluster view: the nodes setting and the write-leader
 *		and read-only pool decision (src/cluster.c), and the state a node
 *		serves about itself (src/node_json.c).
 *
 * Every parse reads an exactly sized heap copy of its input, so that
 * AddressSanitizer sees any read past the bytes given.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_cluster.h"
#include "tap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSID		UINT64_C(7312345678901234567)
#define OTHER_SYSID UINT64_C(7312345678901234999)

static CmNodeConf conf[CM_MAX_NODES + 1];
static char err[256];

/* ---- nodes ---- */

static int
nodes(const char *text)
{
	memset(conf, 0x5a, sizeof(conf));
	return cm_nodes_parse(text, conf, CM_MAX_NODES, err, sizeof(err));
}

static void
test_nodes_valid(void)
{
	is_int(nodes("pg1=10.0.0.1:5432,pg2=10.0.0.2:5433"), 2, "two nodes");
	is_str(err, "", "no error");
	is_str(conf[0].name, "pg1", "first name");
	is_str(conf[0].host, "10.0.0.1", "first host");
	is_int(conf[0].port, 5432, "first port");
	is_str(conf[1].name, "pg2", "second name");
	is_str(conf[1].host, "10.0.0.2", "second host");
	is_int(conf[1].port, 5433, "second port");

	is_int(nodes("pg1=db1.example.com:1"), 1, "one node, host name");
	is_str(conf[0].host, "db1.example.com", "host name kept");
	is_int(conf[0].port, 1, "port 1");

	is_int(nodes("  pg1 = host1:5432 ,\tpg2=  host2:65535\t, pg3 =h:7  "), 3,
		   "spaces and tabs around entries and the =");
	is_str(conf[0].name, "pg1", "name trimmed");
	is_str(conf[0].host, "host1", "host after spaces");
	is_int(conf[0].port, 5432, "port before spaces");
	is_str(conf[1].name, "pg2", "second name trimmed");
	is_str(conf[1].host, "host2", "second host after spaces");
	is_int(conf[1].port, 65535, "port 65535");
	is_str(conf[2].name, "pg3", "third name trimmed");
	is_str(conf[2].host, "h", "one-letter host");

	is_int(nodes("a=[::1]:5432, b=[2001:db8::7]:6000,c=[fe80::1%eth0]:1"), 3,
		   "IPv6 hosts in brackets");
	is_str(conf[0].host, "::1", "brackets dropped");
	is_int(conf[0].port, 5432, "port after the bracket");
	is_str(conf[1].host, "2001:db8::7", "full IPv6 address");
	is_int(conf[1].port, 6000, "its port");
	is_str(conf[2].host, "fe80::1%eth0", "scoped address kept as written");
	is_int(nodes("a= [::1]:5432"), 1, "space before the bracket");
	is_str(conf[0].host, "::1", "bracketed host after a space");

	is_int(nodes("a=h:1,"), 1, "trailing comma");
	is_int(nodes("a=h:1, b=h:2 ,  "), 2, "trailing comma and spaces");
	is_int(nodes(""), 0, "empty string: no nodes");
	is_str(err, "", "no error for the empty string");
	is_int(nodes("   \t "), 0, "blank string: no nodes");
	is_int(cm_nodes_parse(NULL, conf, CM_MAX_NODES, err, sizeof(err)), 0,
		   "NULL: no nodes");
	is_int(nodes("a=h:05432"), 1, "leading zero in the port");
	is_int(conf[0].port, 5432, "read in decimal");
	is_int(nodes("n.1-x_y=h:1"), 1, "punctuation in a name");
}

static void
test_nodes_invalid(void)
{
	static const struct
	{
		const char *text;
		const char *why;
	} bad[] = {
		{",a=h:1", "leading comma"},
		{"a=h:1,,b=h:2", "empty entry between commas"},
		{"a=h:1, ,b=h:2", "blank entry between commas"},
		{",", "a lone comma"},
		{"a=h:1,a=h:2", "duplicate name"},
		{"a=h:1, a =g:2", "duplicate name after trimming"},
		{"a=h:0", "port 0"},
		{"a=h:65536", "port 65536"},
		{"a=h:99999999999999999999999", "port overflowing any integer"},
		{"a=h:abc", "port not a number"},
		{"a=h:12a", "port with a letter"},
		{"a=h:-1", "negative port"},
		{"a=h:+1", "port with a sign"},
		{"a=h: 1", "space inside the port"},
		{"a=h x:1", "space inside the host"},
		{"a=h :1", "space after the host"},
		{"a=[h x]:1", "space inside a bracketed host"},
		{"a=h:", "empty port"},
		{"a=h", "no port"},
		{"a=:5432", "missing host"},
		{"a=", "nothing after ="},
		{"a= :5432", "host only a space"},
		{"=h:1", "missing name"},
		{" =h:1", "blank name"},
		{"h:5432", "no name and no ="},
		{"a b=h:1", "space in a name"},
		{"a\"b=h:1", "quote in a name"},
		{"a\\b=h:1", "backslash in a name"},
		{"a\x01=h:1", "control character in a name"},
		{"a=::1:5432", "IPv6 without brackets"},
		{"a=h:1:2", "two colons"},
		{"a=[::1]5432", "no colon after the bracket"},
		{"a=[::1]", "bracket and no port"},
		{"a=[::1]:", "bracket and empty port"},
		{"a=[::1:5432", "unclosed bracket"},
		{"a=[]:5432", "empty brackets"},
		{"a=[::1]:0", "bracketed host, port 0"},
		{"a=[::1]:65536", "bracketed host, port 65536"},
		{"a=[::1]x:5432", "junk after the bracket"},
		{"a=h:1,b=h:1", "two names, one address"},
		{"a=h:1, b = h:01", "one address, the port written twice"},
		{"a=[::1]:5432,b=[::1]:5432", "one bracketed address twice"},
		{"a=h:1,b=g:1,c=h:1", "first and third at one address"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		err[0] = '\0';
		is_int(nodes(bad[i].text), -1, "refused: %s", bad[i].why);
		ok(err[0] != '\0', "with a reason: %s", err);
	}
	nodes("a=h:1,a=h:2");
	ok(strstr(err, "\"a\"") && strstr(err, "twice"), "duplicate named: %s", err);
	nodes("a=h:65536");
	ok(strstr(err, "1 to 65535") != NULL, "port range said: %s", err);
	nodes("a=h:1,b=g:1,c=h:1");
	ok(strstr(err, "\"a\"") && strstr(err, "\"c\"") &&
		   strstr(err, "same address"),
	   "both entries at one address named: %s", err);

	/* one host, other ports; one port, other hosts */
	is_int(nodes("a=h:5432,b=h:5433,c=[::1]:5432,d=[::1]:5433"), 4,
		   "same host with different ports accepted");
	is_str(err, "", "no error");
	ok(strcmp(conf[0].host, conf[1].host) == 0 && conf[0].port == 5432 &&
		   conf[1].port == 5433,
	   "both kept: %s:%d %s:%d", conf[0].host, conf[0].port, conf[1].host,
	   conf[1].port);
	is_int(nodes("a=h:5432,b=g:5432"), 2,
		   "same port on different hosts accepted");

	/* a reason longer than the buffer is cut, not overflowed */
	{
		char small[8];

		memset(small, 'x', sizeof(small));
		is_int(cm_nodes_parse("a=h:0", conf, CM_MAX_NODES, small, sizeof(small)),
			   -1, "small error buffer: refused");
		ok(memchr(small, '\0', sizeof(small)) != NULL,
		   "reason cut to the buffer");
	}
}

static void
test_nodes_limits(void)
{
	char text[CM_MAX_NODES * 16 + 4096];
	char name[CM_NODE_NAME_LEN + 2];
	char host[CM_NODE_HOST_LEN + 2];
	size_t o = 0;

	/* names: 63 bytes fit, 64 do not */
	memset(name, 'n', sizeof(name));
	name[CM_NODE_NAME_LEN - 1] = '\0';
	snprintf(text, sizeof(text), "%s=h:1", name);
	is_int(nodes(text), 1, "name of %d bytes", CM_NODE_NAME_LEN - 1);
	is_int(strlen(conf[0].name), CM_NODE_NAME_LEN - 1, "kept whole");
	snprintf(text, sizeof(text), "%s  =h:1", name);
	is_int(nodes(text), 1, "longest name with spaces before the =");
	name[CM_NODE_NAME_LEN - 1] = 'n';
	name[CM_NODE_NAME_LEN] = '\0';
	snprintf(text, sizeof(text), "%s=h:1", name);
	is_int(nodes(text), -1, "name of %d bytes refused", CM_NODE_NAME_LEN);
	ok(strstr(err, "too long") != NULL, "said too long: %s", err);

	/* hosts: 255 bytes fit, 256 do not, bracketed or not */
	memset(host, 'h', sizeof(host));
	host[CM_NODE_HOST_LEN - 1] = '\0';
	snprintf(text, sizeof(text), "a=%s:1", host);
	is_int(nodes(text), 1, "host of %d bytes", CM_NODE_HOST_LEN - 1);
	is_int(strlen(conf[0].host), CM_NODE_HOST_LEN - 1, "kept whole");
	snprintf(text, sizeof(text), "a=[%s]:1", host);
	is_int(nodes(text), 1, "bracketed host of %d bytes", CM_NODE_HOST_LEN - 1);
	host[CM_NODE_HOST_LEN - 1] = 'h';
	host[CM_NODE_HOST_LEN] = '\0';
	snprintf(text, sizeof(text), "a=%s:1", host);
	is_int(nodes(text), -1, "host of %d bytes refused", CM_NODE_HOST_LEN);
	snprintf(text, sizeof(text), "a=[%s]:1", host);
	is_int(nodes(text), -1, "bracketed host of %d bytes refused",
		   CM_NODE_HOST_LEN);

	/* CM_MAX_NODES fit, one more does not */
	for (int i = 0; i < CM_MAX_NODES; i++)
		o += (size_t) snprintf(text + o, sizeof(text) - o, "%sn%d=h%d:%d",
							   i ? "," : "", i, i, 1000 + i);
	is_int(nodes(text), CM_MAX_NODES, "%d nodes", CM_MAX_NODES);
	is_str(conf[CM_MAX_NODES - 1].name, "n31", "last name");
	is_int(conf[CM_MAX_NODES - 1].port, 1000 + CM_MAX_NODES - 1, "last port");
	snprintf(text + o, sizeof(text) - o, ",");
	is_int(nodes(text), CM_MAX_NODES, "%d nodes and a trailing comma",
		   CM_MAX_NODES);
	snprintf(text + o, sizeof(text) - o, ",extra=h:1");
	is_int(nodes(text), -1, "%d nodes refused", CM_MAX_NODES + 1);
	ok(strstr(err, "more than") != NULL, "said too many: %s", err);
	ok(memcmp(&conf[CM_MAX_NODES], "\x5a\x5a\x5a\x5a", 4) == 0,
	   "nothing written past max");

	is_int(cm_nodes_parse("a=h:1,b=h:2", conf, 2, err, sizeof(err)), 2,
		   "max 2, two nodes");
	is_int(cm_nodes_parse("a=h:1,b=h:2,c=h:3", conf, 2, err, sizeof(err)), -1,
		   "max 2, three nodes refused");
}

/* ---- leader and pool ---- */

static CmNodeState st[CM_MAX_NODES];
static CmClusterDecision d;

static void
setup(int n)
{
	memset(st, 0, sizeof(st));
	memset(conf, 0, sizeof(conf));
	for (int i = 0; i < n; i++)
	{
		snprintf(conf[i].name, sizeof(conf[i].name), "pg%d", i + 1);
		snprintf(conf[i].host, sizeof(conf[i].host), "db%d", i + 1);
		conf[i].port = 5432 + i;
	}
}

/* The instance node i serves: unique and non-zero for each i. */
#define INSTANCE(i) (UINT64_C(0x5f0c000000000000) + (uint64_t) (i) + 1)

static void
node(int i, bool reachable, uint64_t sysid, bool recovery, uint32_t tl,
	 uint64_t lsn, bool streaming)
{
	st[i].reachable = reachable;
	snprintf(st[i].name, sizeof(st[i].name), "pg%d", i + 1);
	st[i].system_identifier = sysid;
	st[i].in_recovery = recovery;
	st[i].timeline = tl;
	st[i].wal_lsn = lsn;
	st[i].streaming = streaming;
	st[i].sessions = 0;
	st[i].port = conf[i].port; /* answers as the entry asked */
	st[i].instance = INSTANCE(i);
	st[i].timeline_mark = tl; /* its monitor has seen its own timeline */
}

#define PRIMARY(i, tl, lsn) node((i), true, SYSID, false, (tl), (lsn), false)
#define STANDBY(i, tl, lsn) node((i), true, SYSID, true, (tl), (lsn), true)
#define DOWN(i)				node((i), false, 0, false, 0, 0, false)

/* this monitor is node 0's; its vote is cast at once in the settled tests */
static CmVote my_vote;
static int64_t now_ms = 1000000;

static CmClusterSelf
self_of(uint32_t mark, int64_t max_lag)
{
	CmClusterSelf self = {.sysid = SYSID,
						  .instance = INSTANCE(0),
						  .vote = &my_vote,
						  .now = now_ms,
						  .hold_ms = 0,
						  .timeline_mark = mark,
						  .mark_damaged = false,
						  .max_lag = max_lag};

	return self;
}

/* One round with the votes as the nodes cast them now. */
static void
decide_once(int n, uint32_t *mark, int64_t max_lag)
{
	CmClusterSelf self = self_of(*mark, max_lag);

	memset(&d, 0x5a, sizeof(d));
	cm_cluster_decide(conf, st, n, &self, &d);
	*mark = self.timeline_mark;
}

/*
 * A settled round: every monitor that answers has found what this one
 * finds and votes for it, as happens one probe interval after the states
 * stop changing.
 */
static void
decide(int n, uint32_t *mark, int64_t max_lag)
{
	decide_once(n, mark, max_lag);
	for (int i = 0; i < n; i++)
	{
		st[i].vote_instance = d.candidate >= 0 ? st[d.candidate].instance : 0;
		st[i].vote_timeline = d.candidate >= 0 ? st[d.candidate].timeline : 0;
	}
	decide_once(n, mark, max_lag);
}

static bool
in_pool(int i)
{
	for (int k = 0; k < d.pool_size; k++)
		if (d.pool[k] == i)
			return true;
	return false;
}

static void
test_leader(void)
{
	uint32_t mark = 0;

	setup(1);
	PRIMARY(0, 1, 1000);
	decide(1, &mark, -1);
	is_int(d.leader, 0, "single primary leads");
	is_str(d.no_leader_reason, "", "no reason given");
	is_int(d.reachable, 1, "one reachable");
	is_int(mark, 1, "mark raised to its timeline");
	is_int(d.pool_size, 0, "no standby, no pool");
	ok(strstr(d.no_pool_reason, "no reachable standby") != NULL,
	   "pool reason: %s", d.no_pool_reason);
	is_str(d.warning, "", "no answer set aside, no warning");

	setup(3);
	PRIMARY(0, 3, 1000);
	STANDBY(1, 3, 1000);
	STANDBY(2, 3, 1000);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, 0, "primary and two standbys: primary leads");
	is_int(d.reachable, 3, "three reachable");
	is_int(d.pool_size, 2, "both standbys in the pool");
	ok(in_pool(1) && in_pool(2) && !in_pool(0), "pool is the standbys");
	is_str(d.no_pool_reason, "", "no pool reason");
	is_str(d.warning, "", "no warning");

	/* the leader need not be the first node */
	setup(3);
	STANDBY(0, 3, 1000);
	STANDBY(1, 3, 1000);
	PRIMARY(2, 3, 1000);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, 2, "primary listed last leads");
	ok(in_pool(0) && in_pool(1) && d.pool_size == 2, "the others form the pool");

	/* two primaries on the same timeline */
	setup(3);
	PRIMARY(0, 2, 1000);
	PRIMARY(1, 2, 2000);
	STANDBY(2, 2, 1000);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, -1, "two primaries on one timeline: no leader");
	ok(strstr(d.no_leader_reason, "\"pg1\"") &&
		   strstr(d.no_leader_reason, "\"pg2\"") &&
		   strstr(d.no_leader_reason, "both primaries"),
	   "both named: %s", d.no_leader_reason);
	is_int(d.pool_size, 0, "no leader, no pool");
	ok(strstr(d.no_pool_reason, "no write leader") != NULL, "pool reason: %s",
	   d.no_pool_reason);

	/* old primary back after a failover, the new one on a higher timeline */
	setup(3);
	PRIMARY(0, 1, 5000);
	PRIMARY(1, 2, 3000);
	STANDBY(2, 2, 3000);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, 1, "new primary on the higher timeline leads");
	is_int(mark, 2, "mark at the new timeline");
	ok(in_pool(2) && !in_pool(0) && d.pool_size == 1,
	   "old primary is not in the pool");

	/* old primary back, new primary down, its standby on the new timeline */
	setup(3);
	PRIMARY(0, 1, 5000);
	DOWN(1);
	STANDBY(2, 2, 3000);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, -1, "old primary below a standby's timeline: no leader");
	is_int(mark, 2, "mark raised by the standby");
	ok(strstr(d.no_leader_reason, "\"pg1\"") &&
		   strstr(d.no_leader_reason, "below"),
	   "old primary named: %s", d.no_leader_reason);

	/* the mark only rises */
	setup(3);
	PRIMARY(0, 1, 5000);
	STANDBY(1, 1, 5000);
	STANDBY(2, 1, 5000);
	mark = 2;
	decide(3, &mark, -1);
	is_int(d.leader, -1, "primary below a mark from an earlier round");
	is_int(mark, 2, "mark not lowered");
	is_int(d.pool_size, 0, "no pool without a leader");
	mark = 7;
	PRIMARY(0, 5, 5000);
	decide(3, &mark, -1);
	is_int(d.leader, -1, "timeline 5 below mark 7: no leader");
	is_int(mark, 7, "mark stays at 7");
	PRIMARY(0, 9, 5000);
	decide(3, &mark, -1);
	is_int(d.leader, 0, "timeline 9 above mark 7 leads");
	is_int(mark, 9, "mark raised to 9");
	PRIMARY(0, 7, 5000);
	decide(3, &mark, -1);
	is_int(d.leader, -1, "back to timeline 7: no leader");
	is_int(mark, 9, "mark stays at 9");
	mark = UINT32_MAX;
	PRIMARY(0, UINT32_MAX, 5000);
	decide(3, &mark, -1);
	is_int(d.leader, 0, "timeline UINT32_MAX at the mark leads");

	/* unreachable nodes and other clusters do not raise the mark */
	setup(3);
	PRIMARY(0, 2, 1000);
	STANDBY(1, 2, 1000);
	node(2, false, SYSID, false, 9, 0, false);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, 0, "unreachable node's timeline ignored");
	is_int(mark, 2, "mark from reachable nodes only");
	is_int(d.reachable, 2, "two reachable");
	node(2, true, OTHER_SYSID, false, 9, 1000, false);
	decide(3, &mark, -1);
	is_int(d.leader, 0, "other cluster's primary on timeline 9 ignored");
	is_int(mark, 2, "mark not raised by another cluster");
	ok(!in_pool(2), "other cluster's node not in the pool");

	/* a primary of another cluster on our timeline is no second primary */
	setup(3);
	PRIMARY(0, 1, 1000);
	node(1, true, OTHER_SYSID, false, 1, 1000, false);
	STANDBY(2, 1, 1000);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, 0, "other cluster's primary is not a rival");
	ok(in_pool(2) && d.pool_size == 1, "pool is our standby only");

	/* our cluster has no primary at all */
	setup(3);
	STANDBY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	node(2, true, OTHER_SYSID, false, 1, 1000, false);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, -1, "no primary of this cluster: no leader");
	ok(strstr(d.no_leader_reason, "no reachable node") != NULL, "reason: %s",
	   d.no_leader_reason);

	/* majority */
	setup(3);
	PRIMARY(0, 1, 1000);
	DOWN(1);
	DOWN(2);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, -1, "1 of 3 reachable: no leader");
	is_int(d.reachable, 1, "one reachable counted");
	ok(strstr(d.no_leader_reason, "1 of the 3") &&
		   strstr(d.no_leader_reason, "majority"),
	   "reason: %s", d.no_leader_reason);
	ok(strstr(d.no_pool_reason, "no write leader") != NULL,
	   "no pool either: %s", d.no_pool_reason);
	STANDBY(1, 1, 1000);
	decide(3, &mark, -1);
	is_int(d.leader, 0, "2 of 3 reachable: leader");
	ok(in_pool(1) && d.pool_size == 1, "reachable standby in the pool");

	setup(4);
	PRIMARY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	DOWN(2);
	DOWN(3);
	mark = 0;
	decide(4, &mark, -1);
	is_int(d.leader, -1, "2 of 4 reachable: no leader");
	ok(strstr(d.no_leader_reason, "2 of the 4") != NULL, "reason: %s",
	   d.no_leader_reason);
	STANDBY(2, 1, 1000);
	decide(4, &mark, -1);
	is_int(d.leader, 0, "3 of 4 reachable: leader");

	setup(2);
	PRIMARY(0, 1, 1000);
	DOWN(1);
	mark = 0;
	decide(2, &mark, -1);
	is_int(d.leader, -1, "1 of 2 reachable: no leader");

	/* a node answering for another cluster is no vote */
	setup(3);
	PRIMARY(0, 1, 1000);
	node(1, true, OTHER_SYSID, true, 1, 1000, true);
	DOWN(2);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, -1, "1 of 3 of this cluster, 1 foreign: no leader");
	is_int(d.reachable, 1, "the foreign node is not counted");

	mark = 4;
	decide(0, &mark, -1);
	is_int(d.leader, -1, "no nodes: no leader");
	is_int(d.reachable, 0, "none reachable");
	is_int(d.pool_size, 0, "no pool");
	is_int(mark, 4, "mark kept");
}

static void
test_pool(void)
{
	uint32_t mark = 0;

	setup(8);
	PRIMARY(0, 3, 10000);
	STANDBY(1, 3, 10000);						 /* caught up */
	node(2, true, SYSID, true, 3, 10000, false); /* not streaming */
	STANDBY(3, 2, 10000);						 /* other timeline */
	STANDBY(4, 3, 9500);						 /* 500 bytes behind */
	node(5, true, OTHER_SYSID, true, 3, 10000, true);
	node(6, false, SYSID, true, 3, 10000, true); /* unreachable */
	STANDBY(7, 3, 12000);						 /* ahead of the leader */

	decide(8, &mark, 100);
	is_int(d.leader, 0, "pool setup: leader");
	is_int(d.reachable, 6, "six reachable of this cluster");
	ok(in_pool(1), "caught-up streaming standby in the pool");
	ok(!in_pool(2), "standby not streaming left out");
	ok(!in_pool(3), "standby on another timeline left out");
	ok(!in_pool(4), "standby 500 bytes behind, max 100: left out");
	ok(!in_pool(5), "other cluster's standby left out");
	ok(!in_pool(6), "unreachable standby left out");
	ok(in_pool(7), "standby ahead of the leader counts no lag");
	ok(!in_pool(0), "leader not in the pool");
	is_int(d.pool_size, 2, "two in the pool");

	decide(8, &mark, -1);
	ok(in_pool(4), "max_lag -1: lagging standby in");
	is_int(d.pool_size, 3, "three in the pool");
	decide(8, &mark, -5);
	is_int(d.pool_size, 3, "any negative max_lag: no limit");
	decide(8, &mark, 500);
	ok(in_pool(4), "lag equal to max_lag: in");
	decide(8, &mark, 499);
	ok(!in_pool(4), "lag one above max_lag: out");
	decide(8, &mark, 0);
	ok(in_pool(1) && in_pool(7) && !in_pool(4), "max_lag 0: no lag only");
	decide(8, &mark, INT64_MAX);
	ok(in_pool(4), "max_lag INT64_MAX: lagging standby in");

	for (int k = 1; k < d.pool_size; k++)
		ok(d.pool[k - 1] < d.pool[k], "pool in node order (%d)", k);

	/* a huge lag against a limit */
	setup(3);
	PRIMARY(0, 1, UINT64_MAX);
	STANDBY(1, 1, 0);
	STANDBY(2, 1, UINT64_MAX);
	mark = 0;
	decide(3, &mark, INT64_MAX);
	ok(!in_pool(1) && in_pool(2), "lag UINT64_MAX over INT64_MAX: out");

	/* why the pool is empty */
	setup(3);
	PRIMARY(0, 1, 1000);
	node(1, true, SYSID, true, 1, 1000, false);
	DOWN(2);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.pool_size, 0, "only standby not streaming: empty pool");
	ok(strstr(d.no_pool_reason, "\"pg2\"") &&
		   strstr(d.no_pool_reason, "not a streaming standby"),
	   "reason: %s", d.no_pool_reason);
	STANDBY(1, 2, 1000);
	PRIMARY(0, 2, 1000);
	decide(3, &mark, -1);
	ok(d.pool_size == 1 && in_pool(1), "same timeline again: in");
	STANDBY(1, 1, 1000);
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, 0, "standby below the leader's timeline: leader stays");
	ok(strstr(d.no_pool_reason, "timeline") != NULL, "reason: %s",
	   d.no_pool_reason);
	STANDBY(1, 2, 10);
	decide(3, &mark, 100);
	ok(strstr(d.no_pool_reason, "read_only_max_lag") != NULL, "reason: %s",
	   d.no_pool_reason);

	/* an old primary is neither leader nor pool member */
	setup(3);
	PRIMARY(0, 1, 1000);
	PRIMARY(1, 2, 1000);
	STANDBY(2, 2, 1000);
	mark = 0;
	decide(3, &mark, -1);
	ok(d.leader == 1 && !in_pool(0) && in_pool(2), "old primary left out");
}

/* answers that cannot be trusted to come from the entry asked */
static void
test_vet(void)
{
	uint32_t mark = 0;

	/* a standby answering with another PostgreSQL port */
	setup(3);
	PRIMARY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	STANDBY(2, 1, 1000);
	st[1].port = conf[1].port + 1;
	decide(3, &mark, -1);
	is_int(d.reachable, 2, "port mismatch: that node is not counted");
	is_int(d.leader, 0, "the primary still leads, 2 of 3");
	ok(!in_pool(1) && in_pool(2) && d.pool_size == 1,
	   "the mismatched standby is not in the pool");
	ok(strstr(d.warning, "\"pg2\"") && strstr(d.warning, "5434") &&
		   strstr(d.warning, "5433"),
	   "warning names the node and both ports: %s", d.warning);

	/* the primary answering with another port is no leader */
	STANDBY(1, 1, 1000);
	st[0].port = 1;
	decide(3, &mark, -1);
	is_int(d.reachable, 2, "mismatched primary not counted");
	is_int(d.leader, -1, "mismatched primary: no leader");
	ok(strstr(d.no_leader_reason, "no reachable node") != NULL,
	   "as if it were down: %s", d.no_leader_reason);
	is_int(d.pool_size, 0, "no leader, no pool");
	ok(strstr(d.warning, "\"pg1\"") != NULL, "warning: %s", d.warning);

	/* a mismatch can cost the majority */
	setup(3);
	PRIMARY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	DOWN(2);
	st[1].port = 0;
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.reachable, 1, "1 of 3 left after the mismatch");
	is_int(d.leader, -1, "no majority, no leader");
	ok(strstr(d.no_leader_reason, "1 of the 3") != NULL, "reason: %s",
	   d.no_leader_reason);
	ok(d.warning[0] != '\0', "warning set: %s", d.warning);

	/*
	 * a set-aside answer of this cluster still raises the mark (a higher
	 * timeline is a fact wherever it is read), but never leads
	 */
	setup(3);
	PRIMARY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	PRIMARY(2, 5, 1000);
	st[2].timeline_mark = 6;
	st[2].port = 9999;
	mark = 0;
	decide(3, &mark, -1);
	is_int(mark, 6, "mismatched node's mark taken");
	is_int(d.leader, -1, "the primary on timeline 1 is below it");
	ok(!in_pool(2), "the mismatched node is in no pool");
	st[2].port = conf[2].port;
	st[2].system_identifier = OTHER_SYSID;
	st[2].timeline_mark = 9;
	decide(3, &mark, -1);
	is_int(mark, 6, "another cluster's mark is not taken");

	/* more nodes than the list can hold: refused, not cut */
	setup(CM_MAX_NODES);
	for (int i = 0; i < CM_MAX_NODES; i++)
		STANDBY(i, 1, 1000);
	PRIMARY(0, 1, 1000);
	mark = 0;
	decide_once(CM_MAX_NODES + 1, &mark, -1);
	is_int(d.leader, -1, "%d nodes: no leader", CM_MAX_NODES + 1);
	is_int(d.pool_size, 0, "and no pool");
	ok(strstr(d.no_leader_reason, "more than") != NULL, "reason: %s",
	   d.no_leader_reason);

	/* entries 2 and 3 are one server: it counts once */
	setup(3);
	conf[2].port = conf[1].port; /* say db3 is another name of db2 */
	DOWN(0);
	PRIMARY(1, 1, 1000);
	st[2] = st[1];
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.reachable, 1, "one server answering for two entries: 1 of 3");
	is_int(d.leader, -1, "not a majority: no leader");
	ok(strstr(d.no_leader_reason, "1 of the 3") != NULL, "reason: %s",
	   d.no_leader_reason);
	ok(strstr(d.warning, "\"pg2\"") && strstr(d.warning, "\"pg3\"") &&
		   strstr(d.warning, "same server"),
	   "warning names both entries: %s", d.warning);
	STANDBY(0, 1, 1000);
	decide(3, &mark, -1);
	is_int(d.reachable, 2, "with the third server up: 2 of 3");
	is_int(d.leader, 1, "the primary leads, not 'both primaries'");
	ok(in_pool(0) && !in_pool(2) && d.pool_size == 1,
	   "the second entry of the same server is not in the pool");
	ok(strstr(d.warning, "same server") != NULL, "warning still set: %s",
	   d.warning);

	/* one standby answering for two entries is one pool member */
	setup(3);
	PRIMARY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	STANDBY(2, 1, 1000);
	st[2].instance = st[1].instance;
	decide(3, &mark, -1);
	is_int(d.reachable, 2, "duplicate standby counted once");
	ok(d.leader == 0 && in_pool(1) && !in_pool(2) && d.pool_size == 1,
	   "first entry of the standby kept in the pool");

	/* three entries, one server */
	setup(3);
	PRIMARY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	STANDBY(2, 1, 1000);
	st[1].instance = st[0].instance;
	st[2].instance = st[0].instance;
	decide(3, &mark, -1);
	is_int(d.reachable, 1, "three entries, one instance: counted once");
	is_int(d.leader, -1, "and no majority");

	/* the instance of an unreachable or set-aside node is no duplicate */
	setup(3);
	DOWN(0);
	PRIMARY(1, 1, 1000);
	STANDBY(2, 1, 1000);
	st[0].instance = st[1].instance;
	decide(3, &mark, -1);
	is_int(d.reachable, 2, "an unreachable node's instance does not count");
	is_str(d.warning, "", "and no warning");
	PRIMARY(0, 1, 1000);
	st[0].instance = st[1].instance;
	st[0].port = 1;
	decide(3, &mark, -1);
	is_int(d.reachable, 2, "a mismatched node's instance is not matched");
	is_int(d.leader, 1, "the entry with the right port leads");
	ok(strstr(d.warning, "port") != NULL, "warning for the port: %s", d.warning);

	/* equal instances on different clusters are still one server */
	setup(3);
	PRIMARY(0, 1, 1000);
	node(1, true, OTHER_SYSID, true, 1, 1000, true);
	STANDBY(2, 1, 1000);
	st[2].instance = st[1].instance;
	decide(3, &mark, -1);
	is_int(d.reachable, 1, "second entry of a foreign server not counted");
	ok(strstr(d.warning, "same server") != NULL, "warning: %s", d.warning);
}

/* the mark rises to what the nodes' monitors have seen */
static void
test_mark_from_peers(void)
{
	uint32_t mark = 0;

	setup(3);
	PRIMARY(0, 1, 1000);
	STANDBY(1, 1, 1000);
	STANDBY(2, 1, 1000);
	st[1].timeline_mark = 2; /* pg2's monitor saw timeline 2 */
	decide(3, &mark, -1);
	is_int(mark, 2, "mark raised to a peer's timeline_mark");
	is_int(d.leader, -1, "primary on timeline 1 below the mark: no leader");
	ok(strstr(d.no_leader_reason, "\"pg1\"") &&
		   strstr(d.no_leader_reason, "below"),
	   "reason: %s", d.no_leader_reason);
	is_int(d.pool_size, 0, "no leader, no pool");

	st[1].timeline_mark = 1;
	decide(3, &mark, -1);
	is_int(mark, 2, "a lower served mark does not lower it");
	is_int(d.leader, -1, "still no leader");
	st[1].timeline_mark = 0;
	decide(3, &mark, -1);
	is_int(mark, 2, "nor does a served mark of 0");

	/* a primary whose own monitor has seen a higher timeline */
	setup(3);
	PRIMARY(0, 3, 1000);
	STANDBY(1, 3, 1000);
	STANDBY(2, 3, 1000);
	st[0].timeline_mark = 4;
	mark = 0;
	decide(3, &mark, -1);
	is_int(mark, 4, "mark raised by the primary's own served mark");
	is_int(d.leader, -1, "the primary is below its own mark");

	/* the mark of a node that is down or of another cluster is not taken */
	setup(3);
	PRIMARY(0, 1, 1000);
	node(1, true, OTHER_SYSID, true, 1, 1000, true);
	st[1].timeline_mark = 9;
	STANDBY(2, 1, 1000);
	st[2].reachable = false;
	st[2].timeline_mark = 8;
	mark = 0;
	decide(3, &mark, -1);
	is_int(mark, 1, "foreign and unreachable marks ignored");

	/* raised even without a majority, and used once it is back */
	setup(3);
	DOWN(0);
	DOWN(1);
	STANDBY(2, 2, 1000);
	st[2].timeline_mark = 3;
	mark = 0;
	decide(3, &mark, -1);
	is_int(d.leader, -1, "1 of 3: no leader");
	is_int(mark, 3, "mark raised by a peer without a majority");
	PRIMARY(0, 1, 1000);
	PRIMARY(1, 3, 1000);
	STANDBY(2, 3, 1000);
	decide(3, &mark, -1);
	is_int(d.leader, 1, "the primary on the mark leads");
	ok(!in_pool(0) && in_pool(2), "old primary out, standby in");
	is_int(mark, 3, "mark unchanged");
}

static void
test_pick(void)
{
	const uint32_t one[] = {42};
	const uint32_t distinct[] = {5, 3, 7};
	const uint32_t ties[] = {2, 1, 1, 3, 1};
	const uint32_t max3[] = {UINT32_MAX, UINT32_MAX, UINT32_MAX};
	const uint32_t max_low[] = {UINT32_MAX, 0};
	const uint32_t low_max[] = {0, UINT32_MAX};
	const uint32_t near_max[] = {UINT32_MAX, UINT32_MAX - 1, UINT32_MAX};
	int seen[5] = {0};
	bool only_least = true;
	bool all_same = true;

	is_int(cm_pool_pick(one, 1, 0), 0, "one candidate");
	is_int(cm_pool_pick(one, 1, UINT32_MAX), 0, "one candidate, any random");
	for (uint32_t r = 0; r < 50; r++)
		all_same &= cm_pool_pick(distinct, 3, r * 7919u) == 1;
	ok(all_same, "least loaded wins whatever random is");

	for (uint32_t r = 0; r < 300; r++)
	{
		int i = cm_pool_pick(ties, 5, r);

		if (i < 0 || i >= 5 || ties[i] != 1)
			only_least = false;
		else
			seen[i]++;
	}
	ok(only_least, "ties: only least loaded ones picked");
	ok(seen[1] == 100 && seen[2] == 100 && seen[4] == 100,
	   "ties spread evenly over all three (%d %d %d)", seen[1], seen[2],
	   seen[4]);
	{
		const int tied[] = {1, 2, 4};

		is_int(cm_pool_pick(ties, 5, UINT32_MAX), tied[UINT32_MAX % 3],
			   "random UINT32_MAX among ties");
		is_int(cm_pool_pick(ties, 5, 4), tied[1], "random 4: second tie");
	}

	is_int(cm_pool_pick(max3, 3, 0), 0, "all UINT32_MAX, random 0");
	is_int(cm_pool_pick(max3, 3, 1), 1, "all UINT32_MAX, random 1");
	is_int(cm_pool_pick(max3, 3, 2), 2, "all UINT32_MAX, random 2");
	is_int(cm_pool_pick(max3, 3, 5), 2, "all UINT32_MAX, random 5");
	is_int(cm_pool_pick(max_low, 2, 1), 1, "UINT32_MAX then 0: 0 wins");
	is_int(cm_pool_pick(low_max, 2, 1), 0, "0 then UINT32_MAX: 0 wins");
	is_int(cm_pool_pick(near_max, 3, 2), 1, "UINT32_MAX - 1 wins");
}

/* ---- node state JSON ---- */

static bool
parse_n(const char *text, size_t len, CmNodeState *out)
{
	char *copy = malloc(len ? len : 1);
	bool r;

	memcpy(copy, text, len);
	memset(out, 0x5a, sizeof(*out));
	r = cm_node_state_parse(copy, len, out);
	free(copy);
	return r;
}

static bool
parse(const char *text, CmNodeState *out)
{
	return parse_n(text, strlen(text), out);
}

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
round_trip(const CmNodeState *s, const char *what)
{
	char buf[CM_NODE_STATE_MAX + 1];
	CmNodeState back;

	ok(cm_node_state_format(s, buf, sizeof(buf)), "%s: formatted", what);
	ok(strlen(buf) <= CM_NODE_STATE_MAX, "%s: within %d bytes", what,
	   CM_NODE_STATE_MAX);
	ok(parse(buf, &back), "%s: parsed back", what);
	ok(same_state(s, &back), "%s: same state", what);
}

/* The state of the header's example, every key in the order written. */
/* the required members, as a node that does not vote yet serves them */
#define EXAMPLE                                                               \
	"{\"name\":\"pg1\",\"system_identifier\":\"7312345678901234567\","        \
	"\"port\":5432,\"in_recovery\":false,\"timeline\":1,"                     \
	"\"timeline_mark\":1,\"wal_lsn\":\"0/3000148\",\"streaming\":false,"      \
	"\"sessions\":3,\"instance\":\"5f0c0123456789ab\"}"
/* what this release serves: the vote too */
#define EXAMPLE_VOTED                                                         \
	"{\"name\":\"pg1\",\"system_identifier\":\"7312345678901234567\","        \
	"\"port\":5432,\"in_recovery\":false,\"timeline\":1,"                     \
	"\"timeline_mark\":1,\"wal_lsn\":\"0/3000148\",\"streaming\":false,"      \
	"\"sessions\":3,\"instance\":\"5f0c0123456789ab\","                       \
	"\"vote\":\"5f0c0123456789ab\",\"vote_timeline\":1,"                      \
	"\"vote_hold_ms\":5000}"

static void
example_state(CmNodeState *s)
{
	memset(s, 0, sizeof(*s));
	s->reachable = true;
	strcpy(s->name, "pg1");
	s->system_identifier = SYSID;
	s->port = 5432;
	s->timeline = 1;
	s->timeline_mark = 1;
	s->wal_lsn = 0x3000148;
	s->sessions = 3;
	s->instance = UINT64_C(0x5f0c0123456789ab);
}

static void
test_json_format(void)
{
	CmNodeState s;
	CmNodeState back;
	char buf[CM_NODE_STATE_MAX + 1];
	size_t len;

	example_state(&s);
	s.vote_instance = s.instance;
	s.vote_timeline = 1;
	s.vote_hold_ms = 5000;
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "example formatted");
	is_str(buf, EXAMPLE_VOTED, "as documented, every key in order");
	round_trip(&s, "example");
	ok(parse(EXAMPLE_VOTED, &back) && back.port == 5432 &&
		   back.timeline_mark == 1 &&
		   back.instance == UINT64_C(0x5f0c0123456789ab),
	   "port, timeline_mark and instance read");
	ok(back.vote_instance == UINT64_C(0x5f0c0123456789ab) &&
		   back.vote_timeline == 1 && back.vote_hold_ms == 5000,
	   "the vote read, with its hold");
	ok(parse(EXAMPLE, &back) && back.vote_instance == 0 &&
		   back.vote_timeline == 0 && back.vote_hold_ms == 0,
	   "a state without a vote parses, voting for nobody");
	{
		char half[sizeof(EXAMPLE) + 64];

		snprintf(half, sizeof(half), "%.*s,\"vote\":\"5f0c0123456789ab\"}",
				 (int) strlen(EXAMPLE) - 1, EXAMPLE);
		ok(!parse(half, &back), "a vote without its timeline is refused");
		snprintf(half, sizeof(half), "%.*s,\"vote_timeline\":3}",
				 (int) strlen(EXAMPLE) - 1, EXAMPLE);
		ok(!parse(half, &back), "a vote timeline without the vote is refused");
		snprintf(half, sizeof(half),
				 "%.*s,\"vote\":\"5f0c01234567\",\"vote_timeline\":3}",
				 (int) strlen(EXAMPLE) - 1, EXAMPLE);
		ok(!parse(half, &back), "a short vote is refused");
		snprintf(half, sizeof(half),
				 "%.*s,\"vote\":\"5f0c0123456789ab\",\"vote_timeline\":1}",
				 (int) strlen(EXAMPLE) - 1, EXAMPLE);
		ok(parse(half, &back) && back.vote_hold_ms == 0,
		   "a vote without its hold parses, promising none");
		snprintf(half, sizeof(half), "%.*s,\"vote_hold_ms\":-1}",
				 (int) strlen(EXAMPLE) - 1, EXAMPLE);
		ok(!parse(half, &back), "a negative hold is refused");
		snprintf(half, sizeof(half), "%.*s,\"vote_hold_ms\":4294967296}",
				 (int) strlen(EXAMPLE) - 1, EXAMPLE);
		ok(!parse(half, &back), "a hold past 32 bits is refused");
	}

	len = strlen(buf);
	ok(cm_node_state_format(&s, buf, len + 1), "fits with its NUL");
	ok(!cm_node_state_format(&s, buf, len), "one byte short: false");
	ok(!cm_node_state_format(&s, buf, 1), "one byte: false");

	s.in_recovery = true;
	s.streaming = true;
	s.timeline = 12;
	s.timeline_mark = 13;
	s.port = 6543;
	s.wal_lsn = UINT64_C(0x1234567800ABCDEF);
	strcpy(s.name, "a\"b\\c");
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "standby formatted");
	ok(strstr(buf, "\"name\":\"a\\\"b\\\\c\"") != NULL, "name escaped: %s", buf);
	ok(strstr(buf, "\"wal_lsn\":\"12345678/ABCDEF\"") != NULL,
	   "LSN high and low halves: %s", buf);
	ok(strstr(buf, "\"in_recovery\":true") && strstr(buf, "\"streaming\":true"),
	   "booleans true");
	ok(strstr(buf, "\"port\":6543,") && strstr(buf, "\"timeline_mark\":13,"),
	   "port and timeline_mark bare: %s", buf);
	round_trip(&s, "standby with quote and backslash");

	s.system_identifier = UINT64_MAX;
	s.timeline = UINT32_MAX;
	s.timeline_mark = UINT32_MAX;
	s.sessions = UINT32_MAX;
	s.wal_lsn = UINT64_MAX;
	s.port = 65535;
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "max values formatted");
	ok(strstr(buf, "\"18446744073709551615\"") &&
		   strstr(buf, "\"timeline\":4294967295") &&
		   strstr(buf, "\"timeline_mark\":4294967295") &&
		   strstr(buf, "\"sessions\":4294967295") &&
		   strstr(buf, "\"port\":65535") && strstr(buf, "\"FFFFFFFF/FFFFFFFF\""),
	   "max values written: %s", buf);
	round_trip(&s, "max values");

	s.instance = UINT64_MAX;
	ok(cm_node_state_format(&s, buf, sizeof(buf)) &&
		   strstr(buf, "\"instance\":\"ffffffffffffffff\""),
	   "instance UINT64_MAX written: %s", buf);
	round_trip(&s, "instance UINT64_MAX");
	s.instance = UINT64_C(0x0123456789abcdef);
	ok(cm_node_state_format(&s, buf, sizeof(buf)) &&
		   strstr(buf, "\"instance\":\"0123456789abcdef\""),
	   "instance with leading zero written: %s", buf);
	round_trip(&s, "instance 0123456789abcdef");
	s.instance = 0;
	ok(cm_node_state_format(&s, buf, sizeof(buf)) &&
		   strstr(buf, "\"instance\":\"0000000000000000\""),
	   "instance 0 written as 16 zeros: %s", buf);
	round_trip(&s, "instance 0");

	s.wal_lsn = UINT64_C(0xFFFFFFFF00000000);
	round_trip(&s, "LSN high half only");
	s.wal_lsn = UINT64_C(0x00000000FFFFFFFF);
	round_trip(&s, "LSN low half only");

	memset(&s, 0, sizeof(s));
	s.reachable = true;
	s.port = 1;
	round_trip(&s, "all zero but port 1, empty name");

	/* a state with port 0 does not round trip: no reader takes it */
	s.port = 0;
	ok(!cm_node_state_format(&s, buf, sizeof(buf)) ||
		   (!parse(buf, &back) && !back.reachable),
	   "port 0 is not read back");
	s.port = 1;

	/* longest names, each byte escaped */
	memset(s.name, '"', CM_NODE_NAME_LEN - 1);
	s.name[CM_NODE_NAME_LEN - 1] = '\0';
	round_trip(&s, "name of 63 quotes");
	memset(s.name, '\\', CM_NODE_NAME_LEN - 1);
	round_trip(&s, "name of 63 backslashes");
	for (int i = 0; i < CM_NODE_NAME_LEN - 1; i++)
		s.name[i] = (char) (0x20 + (i * 7) % 0x5f);
	round_trip(&s, "name of 63 printable characters");
	memset(s.name, 'x', CM_NODE_NAME_LEN - 1);
	round_trip(&s, "name of 63 letters");

	/* the longest state there is fits */
	memset(s.name, '"', CM_NODE_NAME_LEN - 1);
	s.system_identifier = UINT64_MAX;
	s.port = 65535;
	s.in_recovery = true;
	s.timeline = UINT32_MAX;
	s.timeline_mark = UINT32_MAX;
	s.wal_lsn = UINT64_MAX;
	s.streaming = true;
	s.sessions = UINT32_MAX;
	s.instance = UINT64_MAX;
	round_trip(&s, "every field at its longest");

	/* bytes JSON cannot carry plainly become '?' */
	strcpy(s.name, "a\tb\xc3\xa9\x7f");
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "odd name formatted");
	ok(parse(buf, &back), "and parsed");
	is_str(back.name, "a?b???", "control and non-ASCII bytes as '?'");

	ok(parse(" \r\n\t{ \"name\" : \"pg1\" ,\n \"system_identifier\" :"
			 "\"1\", \"port\" :\t5432 , \"in_recovery\" : true , "
			 "\"timeline\": 0 ,\"timeline_mark\" :\r\n 0,\"wal_lsn\":"
			 " \"aB/cD\",\"streaming\":false,\t\"sessions\":0 ,"
			 " \"instance\" : \"00000000000000Ff\" } \r\n ",
			 &back),
	   "whitespace everywhere JSON allows it");
	ok(back.reachable, "parsed state is reachable");
	ok(back.wal_lsn == ((UINT64_C(0xab) << 32) | 0xcd),
	   "mixed-case hex LSN read");
	ok(back.in_recovery && !back.streaming && back.timeline == 0 &&
		   back.sessions == 0 && back.system_identifier == 1 &&
		   back.port == 5432 && back.timeline_mark == 0 && back.instance == 0xff,
	   "fields read");

	ok(parse("{\"instance\":\"5f0c0123456789ab\",\"sessions\":3,"
			 "\"streaming\":false,\"wal_lsn\":\"0/3000148\","
			 "\"timeline_mark\":1,\"timeline\":1,\"in_recovery\":false,"
			 "\"port\":5432,\"system_identifier\":\"7312345678901234567\","
			 "\"name\":\"pg1\"}",
			 &back),
	   "fields in any order");
	ok(parse(EXAMPLE, &s), "example parsed");
	ok(same_state(&s, &back), "same state in any order");

	ok(parse("{\"upstream\":\"pg2\",\"version\":150004,\"future\":true,"
			 "\"x\":\"\",\"\":0,\"name\":\"pg1\",\"system_identifier\":\"7\","
			 "\"port\":5432,\"in_recovery\":false,\"timeline\":1,"
			 "\"timeline_mark\":1,\"wal_lsn\":\"0/0\",\"streaming\":false,"
			 "\"sessions\":3,\"instance\":\"0000000000000001\","
			 "\"upstream\":\"pg3\"}",
			 &back),
	   "unknown keys accepted, even twice");
	is_str(back.name, "pg1", "known fields still read");
}

/* The fields of EXAMPLE, in order. */
#define NKEYS 10
static const char *const keys[NKEYS] = {"name",		"system_identifier",
										"port",		"in_recovery",
										"timeline", "timeline_mark",
										"wal_lsn",	"streaming",
										"sessions", "instance"};
static const char *const values[NKEYS] = {"\"pg1\"",
										  "\"7312345678901234567\"",
										  "5432",
										  "false",
										  "1",
										  "1",
										  "\"0/3000148\"",
										  "false",
										  "3",
										  "\"5f0c0123456789ab\""};

/*
 * EXAMPLE with the value of key replaced (dropped when value is NULL), and
 * tail appended before the closing brace.
 */
static void
make(char *buf, size_t len, const char *key, const char *value, const char *tail)
{
	size_t o = 0;
	bool first = true;

	o += (size_t) snprintf(buf + o, len - o, "{");
	for (int i = 0; i < NKEYS; i++)
	{
		const char *v = values[i];

		if (strcmp(keys[i], key) == 0)
		{
			if (value == NULL)
				continue;
			v = value;
		}
		o += (size_t) snprintf(buf + o, len - o, "%s\"%s\":%s",
							   first ? "" : ",", keys[i], v);
		first = false;
	}
	snprintf(buf + o, len - o, "%s}", tail);
}

static bool
field(const char *key, const char *value)
{
	char buf[CM_NODE_STATE_MAX * 2];
	CmNodeState s;
	bool r;

	make(buf, sizeof(buf), key, value, "");
	r = parse(buf, &s);
	return r || s.reachable; /* a refused state must not be reachable */
}

static bool
extra(const char *members)
{
	char buf[CM_NODE_STATE_MAX * 2];
	CmNodeState s;
	bool r;

	make(buf, sizeof(buf), "", NULL, members);
	r = parse(buf, &s);
	return r || s.reachable;
}

/* extra(), and the known fields are still those of EXAMPLE */
static bool
extra_same(const char *members)
{
	char buf[CM_NODE_STATE_MAX * 2];
	CmNodeState s;
	CmNodeState want;

	make(buf, sizeof(buf), "", NULL, members);
	if (!parse(buf, &s))
		return false;
	example_state(&want);
	return same_state(&s, &want);
}

static void
test_json_reject(void)
{
	static const char *const garbage[] = {
		"",
		"{",
		"{}",
		"{ }",
		"[]",
		"null",
		"\"name\"",
		EXAMPLE "x",
		EXAMPLE "}",
		EXAMPLE ",",
		EXAMPLE EXAMPLE,
		"{\"name\":\"pg1\",,\"system_identifier\":\"1\"}",
		"{\"name\":\"pg1\" \"system_identifier\":\"1\"}",
		"{\"name\" \"pg1\"}",
		"{name:\"pg1\"}",
		"{'name':'pg1'}",
		"[" EXAMPLE "]",
		"{\"state\":" EXAMPLE "}",
	};
	char buf[CM_NODE_STATE_MAX * 2];
	char name[CM_NODE_NAME_LEN + 8];
	CmNodeState s;
	size_t len;
	bool all;

	ok(field("", NULL), "EXAMPLE rebuilt by make() parses");
	make(buf, sizeof(buf), "", NULL, "");
	is_str(buf, EXAMPLE, "make() rebuilds EXAMPLE exactly");
	ok(extra(",\"x\":1"), "and with an unknown member");
	for (int i = 0; i < NKEYS; i++)
		ok(!field(keys[i], NULL), "missing %s refused", keys[i]);
	for (int i = 0; i < NKEYS; i++)
	{
		snprintf(buf, sizeof(buf), ",\"%s\":%s", keys[i], values[i]);
		ok(!extra(buf), "duplicate %s refused", keys[i]);
	}

	/* wrong types */
	ok(!field("name", "1"), "name as a number");
	ok(!field("name", "true"), "name as a boolean");
	ok(!field("system_identifier", "7312345678901234567"),
	   "system_identifier as a number");
	ok(!field("in_recovery", "\"false\""), "in_recovery as a string");
	ok(!field("in_recovery", "0"), "in_recovery as a number");
	ok(!field("in_recovery", "null"), "in_recovery null");
	ok(!field("in_recovery", "False"), "in_recovery False");
	ok(!field("in_recovery", "fals"), "in_recovery fals");
	ok(!field("in_recovery", "falsee"), "in_recovery falsee");
	ok(!field("streaming", "1"), "streaming as a number");
	ok(!field("timeline", "\"1\""), "timeline as a string");
	ok(!field("timeline", "true"), "timeline as a boolean");
	ok(!field("wal_lsn", "3000148"), "wal_lsn as a number");
	ok(!field("sessions", "\"3\""), "sessions as a string");
	ok(!field("sessions", "null"), "sessions null");
	ok(!field("port", "\"5432\""), "port as a string");
	ok(!field("port", "true"), "port as a boolean");
	ok(!field("port", "null"), "port null");
	ok(!field("timeline_mark", "\"1\""), "timeline_mark as a string");
	ok(!field("timeline_mark", "false"), "timeline_mark as a boolean");
	ok(!field("instance", "1234567890123456"), "instance as a number");
	ok(!field("instance", "null"), "instance null");

	/* a key written with an escape is never a known key: skipped */
	ok(extra(",\"\\name\":\"x\""), "escaped key \\name skipped as unknown");
	ok(extra(",\"n\\u0061me\":\"x\""), "key n\\u0061me skipped as unknown");
	ok(extra(",\"\\timeline\":7"), "escaped key \\timeline skipped");
	/* the depth limit counts containers, not the values inside them */
	ok(extra(",\"deep\":[[[[[[[[1]]]]]]]]"), "8 arrays around a number");
	ok(extra(",\"deep\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}"),
	   "8 objects around a number");
	ok(!extra(",\"deep\":[[[[[[[[[1]]]]]]]]]"), "9 arrays refused");

	/* nesting and other JSON this reader does not take for a known key */
	ok(!field("name", "{\"a\":1}"), "name as an object");
	ok(!field("timeline", "[1]"), "timeline as an array");
	ok(!field("port", "{}"), "port as an object");
	ok(!field("instance", "[\"0123456789abcdef\"]"), "instance as an array");

	/* the instance */
	ok(field("instance", "\"0123456789abcdef\""), "instance lower case");
	ok(field("instance", "\"0123456789ABCDEF\""), "instance upper case");
	ok(field("instance", "\"0000000000000000\""), "instance 0");
	ok(!field("instance", "\"0123456789abcde\""), "instance of 15 digits");
	ok(!field("instance", "\"0123456789abcdef0\""), "instance of 17 digits");
	ok(!field("instance", "\"0123456789abcdeg\""), "instance with g");
	ok(!field("instance", "\"\""), "empty instance");
	ok(!field("instance", "\"0x23456789abcdef\""), "instance with 0x");
	ok(!field("instance", "\" 123456789abcdef\""), "instance with a space");
	ok(!field("instance", "\"-123456789abcdef\""), "instance with a sign");
	ok(!extra(",\"instance\":\"0000000000000001\""), "instance twice");
	make(buf, sizeof(buf), "instance", "\"00000000000000a1\"", "");
	ok(parse(buf, &s) && s.instance == 0xa1, "instance read");

	/* the port */
	ok(field("port", "1"), "port 1");
	ok(field("port", "65535"), "port 65535");
	ok(!field("port", "0"), "port 0 refused");
	ok(!field("port", "65536"), "port 65536 refused");
	ok(!field("port", "4294967297"), "port 2^32 + 1 refused");
	ok(!field("port", "18446744073709551616"), "port UINT64_MAX + 1 refused");
	ok(!field("port", "-1"), "negative port");
	ok(!field("port", "+5432"), "port with a sign");
	ok(!field("port", "05432"), "port with a leading zero");
	ok(!field("port", "5432.0"), "fractional port");
	ok(!field("port", "5e3"), "exponent in port");
	ok(!field("port", ""), "empty port");
	make(buf, sizeof(buf), "port", "65535", "");
	ok(parse(buf, &s) && s.port == 65535, "port read");

	/* the timeline mark */
	ok(field("timeline_mark", "0"), "timeline_mark 0");
	ok(field("timeline_mark", "4294967295"), "timeline_mark UINT32_MAX");
	ok(!field("timeline_mark", "4294967296"), "timeline_mark UINT32_MAX + 1");
	ok(!field("timeline_mark", "-1"), "negative timeline_mark");
	ok(!field("timeline_mark", "01"), "timeline_mark 01");
	ok(!field("timeline_mark", "1.5"), "fractional timeline_mark");
	make(buf, sizeof(buf), "timeline_mark", "77", "");
	ok(parse(buf, &s) && s.timeline_mark == 77 && s.timeline == 1,
	   "timeline_mark read apart from timeline");

	ok(!extra(","), "trailing comma");
	ok(!extra(",\"extra\""), "member without a value");
	ok(!extra(",\"extra\":"), "member with an empty value");
	ok(!extra(",\"extra\":,\"y\":1"), "empty value before another member");
	ok(!field("timeline", "-1"), "negative timeline");
	ok(!field("timeline", "1.0"), "fractional timeline");
	ok(!field("timeline", "1e3"), "exponent in timeline");
	ok(!field("timeline", "+1"), "plus sign in timeline");
	ok(!field("timeline", ""), "empty timeline");
	ok(!field("timeline", "1 2"), "two numbers");

	/* numbers */
	ok(!field("timeline", "01"), "timeline 01: leading zero");
	ok(!field("sessions", "00"), "sessions 00: leading zero");
	ok(!field("system_identifier", "\"0123\""), "system_identifier 0123");
	ok(!field("system_identifier", "\"\""), "empty system_identifier");
	ok(!field("system_identifier", "\" 1\""), "space in system_identifier");
	ok(!field("system_identifier", "\"-1\""), "negative system_identifier");
	ok(field("system_identifier", "\"0\""), "system_identifier 0");
	ok(field("timeline", "0"), "timeline 0");
	ok(field("system_identifier", "\"18446744073709551615\""),
	   "system_identifier UINT64_MAX");
	ok(!field("system_identifier", "\"18446744073709551616\""),
	   "system_identifier UINT64_MAX + 1");
	ok(!field("system_identifier", "\"18446744073709551620\""),
	   "system_identifier UINT64_MAX + 5");
	ok(!field("system_identifier", "\"99999999999999999999\""),
	   "system_identifier of 20 nines");
	ok(!field("system_identifier", "\"184467440737095516150\""),
	   "system_identifier of 21 digits");
	ok(field("timeline", "4294967295"), "timeline UINT32_MAX");
	ok(!field("timeline", "4294967296"), "timeline UINT32_MAX + 1");
	ok(!field("timeline", "18446744073709551615"), "timeline UINT64_MAX");
	ok(!field("timeline", "18446744073709551616"), "timeline UINT64_MAX + 1");
	ok(field("sessions", "4294967295"), "sessions UINT32_MAX");
	ok(!field("sessions", "4294967296"), "sessions UINT32_MAX + 1");
	ok(!field("sessions",
			  "1000000000000000000000000000000000000000000000000000000000"
			  "00000000000000000000000000000000000"),
	   "sessions of 93 digits");

	/* LSNs */
	ok(field("wal_lsn", "\"FFFFFFFF/FFFFFFFF\""), "LSN FFFFFFFF/FFFFFFFF");
	ok(field("wal_lsn", "\"00000000/0\""), "LSN with leading zeros");
	ok(!field("wal_lsn", "\"\""), "empty LSN");
	ok(!field("wal_lsn", "\"0\""), "LSN without a slash");
	ok(!field("wal_lsn", "\"0/\""), "LSN without a low half");
	ok(!field("wal_lsn", "\"/0\""), "LSN without a high half");
	ok(!field("wal_lsn", "\"1FFFFFFFF/0\""), "LSN high half of 9 digits");
	ok(!field("wal_lsn", "\"0/1FFFFFFFF\""), "LSN low half of 9 digits");
	ok(!field("wal_lsn", "\"0/G\""), "LSN with G");
	ok(!field("wal_lsn", "\"0x1/0\""), "LSN with 0x");
	ok(!field("wal_lsn", "\"0/1/2\""), "LSN with two slashes");
	ok(!field("wal_lsn", "\"-1/0\""), "LSN with a sign");
	ok(!field("wal_lsn", "\" 0/0\""), "LSN with a space");

	/* strings */
	memset(name, 'x', sizeof(name));
	name[0] = '"';
	name[CM_NODE_NAME_LEN] = '"';
	name[CM_NODE_NAME_LEN + 1] = '\0';
	ok(field("name", name), "name of %d bytes", CM_NODE_NAME_LEN - 1);
	name[CM_NODE_NAME_LEN] = 'x';
	name[CM_NODE_NAME_LEN + 1] = '"';
	name[CM_NODE_NAME_LEN + 2] = '\0';
	ok(!field("name", name), "name of %d bytes refused", CM_NODE_NAME_LEN);
	ok(!field("name", "\"a\\nb\""), "\\n escape refused");
	ok(!field("name", "\"a\\u0041\""), "\\u escape refused");
	ok(!field("name", "\"a\\/b\""), "\\/ escape refused");
	ok(!field("name", "\"a\\\""), "escaped closing quote: unterminated");
	ok(!field("name", "\"a\tb\""), "raw tab in a string");
	ok(!field("name", "\"a\x7f\""), "DEL in a string");
	ok(!field("name", "\"\xc3\xa9\""), "UTF-8 in a string");
	ok(!field("name", "\"pg1"), "unterminated string");
	ok(field("name", "\"a\\\"b\\\\c\""), "\\\" and \\\\ escapes");
	ok(!field("instance", "\"0123456789abcde\\f\""), "escape in the instance");
	ok(!parse("{\"na\\me\":\"pg1\"}", &s), "bad escape in a key");

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		ok(!parse(garbage[i], &s) && !s.reachable, "refused: %.40s", garbage[i]);
	ok(!parse_n(EXAMPLE "\0", strlen(EXAMPLE) + 1, &s) && !s.reachable,
	   "refused: a NUL after the object");
	memcpy(buf, EXAMPLE, strlen(EXAMPLE));
	ok(parse_n(buf, strlen(EXAMPLE), &s), "EXAMPLE copied parses");
	buf[strlen("{\"name\":\"pg")] = '\0';
	ok(!parse_n(buf, strlen(EXAMPLE), &s) && !s.reachable,
	   "refused: a NUL in the name");

	/* every proper prefix of a valid state is refused */
	make(buf, sizeof(buf), "", NULL, "");
	len = strlen(buf);
	all = true;
	for (size_t i = 0; i < len; i++)
		all &= !parse_n(buf, i, &s) && !s.reachable;
	ok(all, "all %zu proper prefixes refused", len);

	/* the length bound */
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, EXAMPLE, strlen(EXAMPLE));
	ok(parse_n(buf, CM_NODE_STATE_MAX, &s), "%d bytes with padding",
	   CM_NODE_STATE_MAX);
	ok(!parse_n(buf, CM_NODE_STATE_MAX + 1, &s) && !s.reachable,
	   "%d bytes refused", CM_NODE_STATE_MAX + 1);
}

/* n times c, then a NUL, into buf */
static const char *
repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* nested arrays, or objects keyed "k", depth levels deep around inner */
static void
nest(char *buf, size_t len, bool objects, int depth, const char *inner)
{
	size_t o = 0;

	o += (size_t) snprintf(buf + o, len - o, ",\"deep\":");
	for (int i = 0; i < depth; i++)
		o += (size_t) snprintf(buf + o, len - o, "%s",
							   objects ? "{\"k\":" : "[");
	if (objects && inner[0] == '\0')
	{
		/* the innermost object is empty: drop its last "k": */
		o -= 4;
		buf[o - 1] = '{';
	}
	o += (size_t) snprintf(buf + o, len - o, "%s", inner);
	for (int i = 0; i < depth; i++)
		o += (size_t) snprintf(buf + o, len - o, "%s", objects ? "}" : "]");
}

static void
test_json_unknown(void)
{
	char buf[CM_NODE_STATE_MAX * 2];
	char big[CM_NODE_STATE_MAX];
	char member[CM_NODE_STATE_MAX + 64];
	CmNodeState s;
	size_t room = CM_NODE_STATE_MAX - strlen(EXAMPLE);

	/* keys of any length, around the reader's key buffer too */
	for (size_t n = 1; n <= 40; n++)
	{
		snprintf(member, sizeof(member), ",\"%s\":1", repeat(big, 'k', n));
		if (!extra_same(member))
			ok(false, "unknown key of %zu bytes", n);
	}
	ok(true, "unknown keys of 1 to 40 bytes skipped");
	snprintf(member, sizeof(member), ",\"%s\":\"v\"",
			 repeat(big, 'k', room - 8));
	ok(extra_same(member), "unknown key of %zu bytes", room - 8);
	snprintf(member, sizeof(member), ",\"%s\":{\"a\":[true]}",
			 repeat(big, 'k', 300 < room - 30 ? 300 : room - 30));
	ok(extra_same(member), "long unknown key with an object value");

	/* long keys that start like known ones are still unknown */
	ok(extra_same(",\"timeline_mark_of_the_monitor_of_this_node\":\"x\""),
	   "a long key starting with timeline_mark");
	ok(extra_same(",\"system_identifier_of_the_upstream_node\":[1,2]"),
	   "a long key starting with system_identifier");
	ok(extra_same(",\"port_http\":8432,\"names\":[\"a\"],\"Name\":1,"
				  "\"name \":2,\"timeline2\":\"x\""),
	   "keys near known ones");

	/* long string values */
	snprintf(member, sizeof(member), ",\"x\":\"%s\"",
			 repeat(big, 'v', room - 8));
	ok(extra_same(member), "unknown string of %zu bytes", room - 8);
	snprintf(member, sizeof(member), ",\"x\":[\"%s\",\"w\"]",
			 repeat(big, 'v', room / 2));
	ok(extra_same(member), "long string in an array");

	/* escapes and bytes a known string may not hold */
	ok(extra_same(",\"x\":\"a\\nb\""), "\\n in an unknown string");
	ok(extra_same(",\"x\":\"caf\\u00e9\""), "\\u00e9 in an unknown string");
	ok(extra_same(",\"x\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\""),
	   "every JSON escape in an unknown string");
	ok(extra_same(",\"x\":\"\\\"}\""), "escaped quote before a brace");
	ok(extra_same(",\"x\":\"caf\xc3\xa9 \x7f\""),
	   "UTF-8 and DEL in an unknown string");
	ok(extra_same(",\"x\":\"{[,:]}\""), "JSON punctuation in a string");
	ok(extra_same(",\"a\\u0041\\\"b\":1"), "escapes in an unknown key");
	ok(extra_same(",\"caf\xc3\xa9\":1"), "UTF-8 in an unknown key");

	/* numbers and literals */
	ok(extra_same(",\"x\":-1"), "negative number");
	ok(extra_same(",\"x\":1.5"), "fraction");
	ok(extra_same(",\"x\":-0.25"), "negative fraction");
	ok(extra_same(",\"x\":1e10,\"y\":2E-3,\"z\":-6.02e+23"),
	   "exponents of every form");
	ok(extra_same(",\"x\":0"), "zero");
	ok(extra_same(",\"x\":true,\"y\":false,\"z\":null"), "true, false and null");
	ok(extra_same(",\"x\" :\t-1.5 , \"y\" : null "), "with whitespace");

	/* nested values */
	ok(extra_same(",\"extra\":{\"a\":1}"), "object under an unknown key");
	ok(extra_same(",\"extra\":{}"), "empty object");
	ok(extra_same(",\"extra\":[]"), "empty array");
	ok(extra_same(",\"extra\":[1,2]"), "array");
	ok(extra_same(",\"extra\":{ \"a\" : [ 1 , { \"b\" : null } , [ ] ] ,"
				  "\"c\":\"d\",\"e\":{\"f\":-1e-2}}"),
	   "objects and arrays mixed, with whitespace");
	ok(extra_same(",\"a\":[],\"b\":{},\"c\":[{}],\"d\":[[]]"),
	   "several nested members");
	ok(extra_same(",\"x\":{\"a\":1,\"a\":2}"),
	   "repeated key inside an unknown object");

	/* a known key inside an unknown value is not that key */
	ok(extra_same(",\"extra\":{\"name\":\"evil\",\"port\":1,"
				  "\"instance\":\"0000000000000000\",\"timeline\":99}"),
	   "known keys nested under an unknown key are neither read nor "
	   "duplicates");
	ok(extra_same(",\"extra\":[{\"timeline_mark\":9},{\"sessions\":\"x\"}]"),
	   "known keys in objects inside an array");
	ok(extra_same(",\"extra\":{\"name\":{\"name\":[\"name\"]}}"),
	   "a known key as a nested key and a string");
	make(buf, sizeof(buf), "port", NULL, ",\"extra\":{\"port\":5432}");
	ok(!parse(buf, &s) && !s.reachable,
	   "port only nested under an unknown key: missing");
	make(buf, sizeof(buf), "name", NULL, ",\"n\":[\"name\",\"pg1\"]");
	ok(!parse(buf, &s) && !s.reachable, "name only inside an array: missing");

	/* depth */
	nest(member, sizeof(member), false, 7, "1");
	ok(extra_same(member), "7 arrays around a number: %s", member + 8);
	nest(member, sizeof(member), true, 7, "1");
	ok(extra_same(member), "7 objects around a number: %s", member + 8);
	nest(member, sizeof(member), false, 8, "");
	ok(extra_same(member), "8 arrays, the innermost empty: %s", member + 8);
	nest(member, sizeof(member), true, 8, "");
	ok(extra_same(member), "8 objects, the innermost empty: %s", member + 8);
	nest(member, sizeof(member), false, 9, "");
	ok(!extra(member), "9 arrays refused: %s", member + 8);
	nest(member, sizeof(member), true, 9, "");
	ok(!extra(member), "9 objects refused: %s", member + 8);
	nest(member, sizeof(member), false, 9, "1");
	ok(!extra(member), "9 arrays around a number refused");
	nest(member, sizeof(member), false, (int) (room / 2) - 16, "");
	ok(!extra(member), "%d arrays refused", (int) (room / 2) - 16);
	snprintf(member, sizeof(member), ",\"x\":%s", repeat(big, '[', room - 8));
	ok(!extra(member), "%zu opening brackets refused", room - 8);
	snprintf(member, sizeof(member), ",\"x\":%s", repeat(big, '{', room - 8));
	ok(!extra(member), "%zu opening braces refused", room - 8);

	/* shapes an unknown value may not have */
	{
		static const struct
		{
			const char *member;
			const char *why;
		} bad[] = {
			{",\"x\":{\"a\":1", "unterminated object"},
			{",\"x\":{\"a\":{\"b\":1}", "unterminated inner object"},
			{",\"x\":[1,2", "unterminated array"},
			{",\"x\":[[1],[2]", "unterminated outer array"},
			{",\"x\":{\"a\":\"b}", "unterminated string inside an object"},
			{",\"x\":[\"a]", "unterminated string inside an array"},
			{",\"x\":\"abc", "unterminated string"},
			{",\"x\":\"abc\\\"}", "string ending in an escaped quote"},
			{",\"x\":{\"a", "unterminated key"},
			{",\"x\":{\"a\"", "key without a colon"},
			{",\"x\":{\"a\":}", "nested member without a value"},
			{",\"x\":{\"a\" 1}", "nested member without a colon"},
			{",\"x\":{1:2}", "nested key not a string"},
			{",\"x\":{a:2}", "nested key unquoted"},
			{",\"x\":{\"a\":1,}", "trailing comma in an object"},
			{",\"x\":[1,]", "trailing comma in an array"},
			{",\"x\":[,1]", "leading comma in an array"},
			{",\"x\":{,}", "lone comma in an object"},
			{",\"x\":[1 2]", "array without a comma"},
			{",\"x\":{\"a\":1 \"b\":2}", "object without a comma"},
			{",\"x\":[1}", "array closed by a brace"},
			{",\"x\":{\"a\":1]", "object closed by a bracket"},
			{",\"x\":]", "a closing bracket for a value"},
			{",\"x\":}", "a closing brace for a value"},
			{",\"x\":\"a\x01\"", "control byte in an unknown string"},
			{",\"x\":\"a\tb\"", "raw tab in an unknown string"},
			{",\"x\":\"a\nb\"", "raw newline in an unknown string"},
			{",\"x\":\"\\\x01\"", "escaped control byte"},
			{",\"x\":'a'", "single-quoted string"},
			{",\"x\":1,", "trailing comma after an unknown member"},
			{",\"x\":[]]", "an extra bracket"},
			{",\"a\x01\":1", "control byte in an unknown key"},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ok(!extra(bad[i].member), "refused: %s", bad[i].why);
	}

	/* a known key that repeats is still refused with unknown keys around */
	ok(!extra(",\"x\":{\"y\":[1]},\"port\":5432,\"z\":null"),
	   "port repeated between unknown members");
	ok(!extra(",\"x\":[],\"name\":\"pg1\""), "name repeated after an array");
	ok(!field("port", "5432,\"port\":{}"), "port and then port as an object");

	/* a state with unknown members fills CM_NODE_STATE_MAX exactly */
	snprintf(member, sizeof(member), ",\"x\":\"%s\"",
			 repeat(big, 'v', room - 7));
	make(buf, sizeof(buf), "", NULL, member);
	is_int(strlen(buf), CM_NODE_STATE_MAX, "a state of exactly %d bytes",
		   CM_NODE_STATE_MAX);
	ok(parse(buf, &s), "accepted");
	snprintf(member, sizeof(member), ",\"x\":\"%s\"",
			 repeat(big, 'v', room - 6));
	make(buf, sizeof(buf), "", NULL, member);
	ok(!parse(buf, &s) && !s.reachable, "one byte more refused");
}

/*
 * Three nodes, node 1 the primary, this monitor node 0's with a fresh
 * vote, holding hold_ms, at now.
 */
static CmClusterSelf
primary_of_three(int64_t hold_ms, int64_t now)
{
	CmClusterSelf self = self_of(0, -1);

	setup(3);
	STANDBY(0, 1, 1000);
	PRIMARY(1, 1, 1000);
	STANDBY(2, 1, 1000);
	memset(&my_vote, 0, sizeof(my_vote));
	self.hold_ms = hold_ms;
	self.now = now;
	return self;
}

/*
 * Votes: the candidate leads only with a majority of the list's votes, a
 * vote waits hold_ms after another, and two monitors that see different
 * primaries never both find a leader.
 */
static void
test_votes(void)
{
	uint32_t mark = 0;
	CmClusterSelf self;

	/* three nodes, the primary is node 1, this monitor node 0 */
	setup(3);
	STANDBY(0, 1, 1000);
	PRIMARY(1, 1, 1000);
	STANDBY(2, 1, 1000);
	memset(&my_vote, 0, sizeof(my_vote));
	decide_once(3, &mark, -1);
	is_int(d.candidate, 1, "the primary is the candidate");
	is_int(d.votes, 1, "only this monitor votes for it yet");
	is_int(d.leader, -1, "one vote of three: no leader");
	ok(strstr(d.no_leader_reason, "1 of the 3 nodes vote") != NULL,
	   "reason: %s", d.no_leader_reason);
	is_int(d.pool_size, 0, "no leader, no pool");
	ok(my_vote.instance == INSTANCE(1) && my_vote.timeline == 1,
	   "this monitor votes for node 1 on timeline 1");
	st[2].vote_instance = INSTANCE(1);
	st[2].vote_timeline = 1;
	decide_once(3, &mark, -1);
	is_int(d.votes, 2, "node 2 votes for it too");
	is_int(d.leader, 1, "two of three: the leader");
	st[2].vote_timeline = 2;
	decide_once(3, &mark, -1);
	is_int(d.leader, -1, "a vote for another timeline does not count");
	st[2].vote_timeline = 1;
	st[2].vote_instance = INSTANCE(1) + 100;
	decide_once(3, &mark, -1);
	is_int(d.leader, -1, "nor one for another instance");
	st[2].vote_instance = INSTANCE(1);
	st[2].reachable = false;
	st[1].vote_instance = INSTANCE(1);
	st[1].vote_timeline = 1;
	decide_once(3, &mark, -1);
	is_int(d.leader, 1, "the primary's own vote counts like any");
	st[0].vote_instance = 0; /* what node 0 served earlier is not read */
	st[1].vote_instance = 0;
	decide_once(3, &mark, -1);
	is_int(d.votes, 1, "this monitor's entry counts its vote as it is now");

	/* a vote waits hold_ms after another one */
	self = primary_of_three(5000, 1000);
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == 0, "a monitor started 1 s ago votes for nobody");
	self.now = 5000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == INSTANCE(1), "it votes once the hold is over");
	/* node 1 fails, node 2 is promoted on timeline 2 */
	DOWN(1);
	PRIMARY(2, 2, 2000);
	self.now = 6000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	is_int(d.candidate, 2, "the new primary is the candidate");
	ok(my_vote.instance == 0 && my_vote.free_since == 6000,
	   "the vote for node 1 is withdrawn at once");
	is_int(d.leader, -1, "no leader while the vote is held back");
	st[2].vote_instance = INSTANCE(2);
	st[2].vote_timeline = 2;
	st[2].vote_hold_ms = 5000;
	self.now = 10999;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == 0, "still held 4999 ms later");
	is_int(d.leader, -1, "one vote of three");
	self.now = 11000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == INSTANCE(2) && my_vote.timeline == 2,
	   "then cast for node 2 on timeline 2");
	is_int(d.leader, 2, "and node 2 leads");

	/* a damaged mark: no leader, and the vote is withdrawn */
	self.mark_damaged = true;
	self.now = 12000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	is_int(d.leader, -1, "a damaged mark gives no leader");
	ok(strstr(d.no_leader_reason, "timeline mark file") != NULL, "reason: %s",
	   d.no_leader_reason);
	ok(my_vote.instance == 0, "and withdraws the vote");
}

/*
 * Two promotions on one timeline, seen from both sides of a partition:
 * node 0 reaches nodes 0 and 1 (primary), node 2 reaches nodes 2
 * (primary) and 0.  Whatever the votes served, the two monitors never
 * both find a leader, and never two different ones.
 */
static void
test_votes_partition(void)
{
	CmNodeState a_view[3];
	CmNodeState b_view[3];
	CmVote a_vote = {0};
	CmVote b_vote = {0};
	int both = 0;
	int any = 0;
	int cases = 0;

	setup(3);
	STANDBY(0, 2, 1000);
	PRIMARY(1, 2, 1000);
	DOWN(2);
	memcpy(a_view, st, sizeof(a_view));
	STANDBY(0, 2, 1000);
	DOWN(1);
	PRIMARY(2, 2, 1000);
	memcpy(b_view, st, sizeof(b_view));

	/* every vote each node may serve: nobody, node 1, node 2 */
	for (int combo = 0; combo < 27; combo++)
	{
		uint64_t pick[3] = {0, INSTANCE(1), INSTANCE(2)};
		int v0 = combo % 3;
		int v1 = combo / 3 % 3;
		int v2 = combo / 9;
		CmClusterDecision da;
		CmClusterDecision db;
		CmClusterSelf a = self_of(0, -1);
		CmClusterSelf b = self_of(0, -1);

		/* node 0's monitor: its vote is v0, it reads node 1's v1 */
		a_vote.instance = pick[v0];
		a_vote.timeline = 2;
		a_vote.free_since = a.now; /* no new vote is cast in this round */
		a_vote.hold_ms = 5000;
		a.vote = &a_vote;
		a.hold_ms = 5000;
		a_view[1].vote_instance = pick[v1];
		a_view[1].vote_timeline = 2;
		a_view[1].vote_hold_ms = 5000;
		cm_cluster_decide(conf, a_view, 3, &a, &da);

		/* node 2's monitor: its vote is v2, it reads node 0's v0 */
		b_vote.instance = pick[v2];
		b_vote.timeline = 2;
		b_vote.free_since = b.now;
		b_vote.hold_ms = 5000;
		b.instance = INSTANCE(2);
		b.vote = &b_vote;
		b.hold_ms = 5000;
		b_view[0].vote_instance = pick[v0];
		b_view[0].vote_timeline = 2;
		b_view[0].vote_hold_ms = 5000;
		cm_cluster_decide(conf, b_view, 3, &b, &db);

		cases++;
		if (da.leader >= 0 && db.leader >= 0)
			both++;
		if (da.leader >= 0 || db.leader >= 0)
			any++;
	}
	is_int(cases, 27, "every combination of served votes tried");
	ok(any > 0, "some combinations give one side a leader");
	is_int(both, 0, "never a leader on both sides");
}

/*
 * The hold is a promise served with the vote.  A monitor whose routing
 * outlives its reads by 41 s (probe_interval = 10s) must not count a vote
 * that may move after 5 s (probe_interval = 1s on that node), and a
 * monitor whose interval a reload shortens still waits the hold it
 * promised with the vote it withdraws.
 */
static void
test_votes_hold(void)
{
	CmClusterSelf self;

	/* a reload from 10 s to 1 s between the withdrawal and the next vote */
	self = primary_of_three(41000, 41000);
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == INSTANCE(1) && my_vote.hold_ms == 41000,
	   "the vote for node 1 promises a 41 s hold");
	DOWN(1);
	PRIMARY(2, 2, 2000);
	self.now = 50000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == 0, "withdrawn when node 1 fails");
	self.hold_ms = 5000;
	self.now = 56000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == 0,
	   "a reload to a 5 s hold does not cut the 41 s promised");
	self.now = 90999;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == 0, "still held 40999 ms after");
	self.now = 91000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == INSTANCE(2) && my_vote.hold_ms == 5000,
	   "then cast, promising the hold of now");
	self.hold_ms = 9000;
	self.now = 92000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	ok(my_vote.instance == INSTANCE(2) && my_vote.hold_ms == 9000,
	   "a kept vote takes on a longer hold");

	/* a vote promising less than this monitor's hold does not count */
	self = primary_of_three(41000, 41000);
	st[2].vote_instance = INSTANCE(1);
	st[2].vote_timeline = 1;
	st[2].vote_hold_ms = 5000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	is_int(d.votes, 1, "node 2's vote promises 5 s: not counted here");
	is_int(d.leader, -1, "so no leader");
	ok(strstr(d.no_leader_reason, "1 more vote for it with a shorter") != NULL,
	   "reason: %s", d.no_leader_reason);
	st[2].vote_hold_ms = 41000;
	cm_cluster_decide(conf, st, 3, &self, &d);
	is_int(d.leader, 1, "promising 41 s, it counts");
	st[2].vote_hold_ms = 0;
	self.hold_ms = 0;
	cm_cluster_decide(conf, st, 3, &self, &d);
	is_int(d.leader, 1, "a monitor holding nothing takes any vote");
}

int
main(void)
{
	test_nodes_valid();
	test_nodes_invalid();
	test_nodes_limits();
	test_leader();
	test_pool();
	test_vet();
	test_mark_from_peers();
	test_pick();
	test_votes();
	test_votes_partition();
	test_votes_hold();
	test_json_format();
	test_json_reject();
	test_json_unknown();
	return done_testing();
}
