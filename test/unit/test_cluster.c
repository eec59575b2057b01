/*
 * test_cluster.c
 *		Unit tests of the cluster view: the nodes setting and the write-leader
 *		and read-only pool decision (src/cluster.c), and the state a node
 *		serves about itself (src/node_json.c).
 *
 * Every parse reads an exactly sized heap copy of its input, so that
 * AddressSanitizer sees any read past the bytes given.
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
		snprintf(conf[i].name, sizeof(conf[i].name), "pg%d", i + 1);
}

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
}

#define PRIMARY(i, tl, lsn) node((i), true, SYSID, false, (tl), (lsn), false)
#define STANDBY(i, tl, lsn) node((i), true, SYSID, true, (tl), (lsn), true)
#define DOWN(i)				node((i), false, 0, false, 0, 0, false)

static void
decide(int n, uint32_t *mark, int64_t max_lag)
{
	memset(&d, 0x5a, sizeof(d));
	cm_cluster_decide(conf, st, n, SYSID, mark, max_lag, &d);
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
		   a->sessions == b->sessions && a->instance == b->instance;
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

#define EXAMPLE                                                               \
	"{\"name\":\"pg1\",\"system_identifier\":\"7312345678901234567\","        \
	"\"in_recovery\":false,\"timeline\":1,\"wal_lsn\":\"0/3000148\","         \
	"\"streaming\":false,\"sessions\":3}"
#define EXAMPLE_OUT                                                           \
	"{\"name\":\"pg1\",\"system_identifier\":\"7312345678901234567\","        \
	"\"in_recovery\":false,\"timeline\":1,\"wal_lsn\":\"0/3000148\","         \
	"\"streaming\":false,\"sessions\":3,\"instance\":\"0000000000000000\"}"

static void
test_json_format(void)
{
	CmNodeState s;
	CmNodeState back;
	char buf[CM_NODE_STATE_MAX + 1];
	size_t len;

	memset(&s, 0, sizeof(s));
	s.reachable = true;
	strcpy(s.name, "pg1");
	s.system_identifier = SYSID;
	s.timeline = 1;
	s.wal_lsn = 0x3000148;
	s.sessions = 3;
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "example formatted");
	is_str(buf, EXAMPLE_OUT, "as documented, with instance 0");
	round_trip(&s, "example");

	len = strlen(buf);
	ok(cm_node_state_format(&s, buf, len + 1), "fits with its NUL");
	ok(!cm_node_state_format(&s, buf, len), "one byte short: false");
	ok(!cm_node_state_format(&s, buf, 1), "one byte: false");

	s.in_recovery = true;
	s.streaming = true;
	s.timeline = 12;
	s.wal_lsn = UINT64_C(0x1234567800ABCDEF);
	strcpy(s.name, "a\"b\\c");
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "standby formatted");
	ok(strstr(buf, "\"name\":\"a\\\"b\\\\c\"") != NULL, "name escaped: %s", buf);
	ok(strstr(buf, "\"wal_lsn\":\"12345678/ABCDEF\"") != NULL,
	   "LSN high and low halves: %s", buf);
	ok(strstr(buf, "\"in_recovery\":true") && strstr(buf, "\"streaming\":true"),
	   "booleans true");
	round_trip(&s, "standby with quote and backslash");

	s.system_identifier = UINT64_MAX;
	s.timeline = UINT32_MAX;
	s.sessions = UINT32_MAX;
	s.wal_lsn = UINT64_MAX;
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "max values formatted");
	ok(strstr(buf, "\"18446744073709551615\"") &&
		   strstr(buf, "\"timeline\":4294967295") &&
		   strstr(buf, "\"sessions\":4294967295") &&
		   strstr(buf, "\"FFFFFFFF/FFFFFFFF\""),
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

	s.wal_lsn = UINT64_C(0xFFFFFFFF00000000);
	round_trip(&s, "LSN high half only");
	s.wal_lsn = UINT64_C(0x00000000FFFFFFFF);
	round_trip(&s, "LSN low half only");

	memset(&s, 0, sizeof(s));
	s.reachable = true;
	round_trip(&s, "all zero, empty name");

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

	/* bytes JSON cannot carry plainly become '?' */
	strcpy(s.name, "a\tb\xc3\xa9\x7f");
	ok(cm_node_state_format(&s, buf, sizeof(buf)), "odd name formatted");
	ok(parse(buf, &back), "and parsed");
	is_str(back.name, "a?b???", "control and non-ASCII bytes as '?'");

	ok(parse(" \r\n\t{ \"name\" : \"pg1\" ,\n \"system_identifier\" :"
			 "\"1\", \"in_recovery\" : true , \"timeline\": 0 ,\"wal_lsn\":"
			 " \"aB/cD\",\"streaming\":false,\t\"sessions\":0 } \r\n ",
			 &back),
	   "whitespace everywhere JSON allows it");
	ok(back.reachable, "parsed state is reachable");
	ok(back.wal_lsn == ((UINT64_C(0xab) << 32) | 0xcd),
	   "mixed-case hex LSN read");
	ok(back.in_recovery && !back.streaming && back.timeline == 0 &&
		   back.sessions == 0 && back.system_identifier == 1,
	   "fields read");

	ok(parse("{\"sessions\":3,\"streaming\":false,\"wal_lsn\":\"0/3000148\","
			 "\"timeline\":1,\"in_recovery\":false,\"system_identifier\":"
			 "\"7312345678901234567\",\"name\":\"pg1\"}",
			 &back),
	   "fields in any order");
	ok(parse(EXAMPLE, &s), "example parsed");
	ok(same_state(&s, &back), "same state in any order");
	is_int(s.instance, 0, "no instance: 0");

	ok(parse("{\"upstream\":\"pg2\",\"version\":150004,\"future\":true,"
			 "\"x\":\"\",\"\":0,\"name\":\"pg1\",\"system_identifier\":\"7\","
			 "\"in_recovery\":false,\"timeline\":1,\"wal_lsn\":\"0/0\","
			 "\"streaming\":false,\"sessions\":3,\"upstream\":\"pg3\"}",
			 &back),
	   "unknown keys accepted, even twice");
	is_str(back.name, "pg1", "known fields still read");
}

/* The fields of EXAMPLE, in order. */
static const char *const keys[] = {"name",		  "system_identifier",
								   "in_recovery", "timeline",
								   "wal_lsn",	  "streaming",
								   "sessions"};
static const char *const values[] = {"\"pg1\"",
									 "\"7312345678901234567\"",
									 "false",
									 "1",
									 "\"0/3000148\"",
									 "false",
									 "3"};

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
	for (int i = 0; i < 7; i++)
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
	};
	char buf[CM_NODE_STATE_MAX * 2];
	char name[CM_NODE_NAME_LEN + 8];
	CmNodeState s;
	size_t len;
	bool all;

	ok(field("", NULL), "EXAMPLE rebuilt by make() parses");
	ok(extra(",\"x\":1"), "and with an unknown member");
	for (int i = 0; i < 7; i++)
		ok(!field(keys[i], NULL), "missing %s refused", keys[i]);
	for (int i = 0; i < 7; i++)
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

	/* nesting and other JSON this reader does not take */
	ok(!field("name", "{\"a\":1}"), "name as an object");
	ok(!field("timeline", "[1]"), "timeline as an array");
	/* the optional instance */
	ok(extra(",\"instance\":\"0123456789abcdef\""), "instance lower case");
	ok(extra(",\"instance\":\"0123456789ABCDEF\""), "instance upper case");
	ok(!extra(",\"instance\":\"0123456789abcde\""), "instance of 15 digits");
	ok(!extra(",\"instance\":\"0123456789abcdef0\""), "instance of 17 digits");
	ok(!extra(",\"instance\":\"0123456789abcdeg\""), "instance with g");
	ok(!extra(",\"instance\":\"\""), "empty instance");
	ok(!extra(",\"instance\":1234567890123456"), "instance as a number");
	ok(!extra(",\"instance\":\"0000000000000001\","
			  "\"instance\":\"0000000000000001\""),
	   "instance twice");
	{
		char buf2[CM_NODE_STATE_MAX];

		make(buf2, sizeof(buf2), "sessions", NULL,
			 ",\"instance\":\"0000000000000001\"");
		ok(!parse(buf2, &s) && !s.reachable, "instance but no sessions refused");
		make(buf2, sizeof(buf2), "", NULL, ",\"instance\":\"00000000000000a1\"");
		ok(parse(buf2, &s) && s.instance == 0xa1, "instance read");
	}

	ok(!extra(",\"extra\":{\"a\":1}"), "nested object under an unknown key");
	ok(!extra(",\"extra\":{}"), "empty object under an unknown key");
	ok(!extra(",\"extra\":[1,2]"), "array under an unknown key");
	ok(!extra(",\"extra\":-1"), "negative number under an unknown key");
	ok(!extra(",\"extra\":1.5"), "fraction under an unknown key");
	ok(!extra(","), "trailing comma");
	ok(!extra(",\"extra\""), "member without a value");
	ok(!extra(",\"extra\":"), "member with an empty value");
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

int
main(void)
{
	test_nodes_valid();
	test_nodes_invalid();
	test_nodes_limits();
	test_leader();
	test_pool();
	test_pick();
	test_json_format();
	test_json_reject();
	return done_testing();
}
