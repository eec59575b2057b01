/*
 * cm_cluster.h
 *		The cluster as the monitor sees it: the nodes named in
 *		connection_manager.nodes, the state each one serves about itself on
 *		its HTTP port (GET /node/state), and the decision built on them:
 *		which node is the write leader and which standbys make up the
 *		read-only pool.  Pure code: no sockets, no server calls, so the unit
 *		tests and the fuzzers link it as it is.
 *
 * The state a node serves is a flat JSON object:
 *
 *		{"name":"pg1","system_identifier":"7312...","port":5432,
 *		 "in_recovery":false,"timeline":1,"timeline_mark":1,
 *		 "wal_lsn":"0/3000148","streaming":false,"sessions":3,
 *		 "instance":"5f0c..."}
 *
 * system_identifier is a string because it does not fit a JSON number's
 * exact range; wal_lsn is the WAL flushed on a primary and replayed on a
 * standby; streaming says a standby's WAL receiver streams;
 * sessions counts the node's client backends, the load the read-only pool
 * is balanced by; port is its PostgreSQL port and instance a random number
 * drawn when its monitor started, so that a monitor can tell which entry of
 * the list answered, and whether two entries are the same server;
 * timeline_mark is the highest timeline that monitor has seen.  Every key
 * is required; unknown keys are skipped, so newer nodes can add some.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CLUSTER_H
#define CM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CM_MAX_NODES		  32
#define CM_NODE_NAME_LEN	  64
#define CM_NODE_HOST_LEN	  256
#define CM_NODE_STATE_MAX	  4096 /* the longest state read */
#define CM_CLUSTER_REASON_LEN 256

/* One entry of connection_manager.nodes: name=host:port. */
typedef struct CmNodeConf
{
	char name[CM_NODE_NAME_LEN];
	char host[CM_NODE_HOST_LEN];
	int port; /* the node's PostgreSQL port */
} CmNodeConf;

/* What a node says about itself, or that it did not answer. */
typedef struct CmNodeState
{
	bool reachable;
	char name[CM_NODE_NAME_LEN]; /* what the node calls itself */
	uint64_t system_identifier;
	bool in_recovery;
	uint32_t timeline;
	uint64_t wal_lsn;
	bool streaming;
	uint32_t sessions;
	uint64_t instance;		/* random per monitor start: tells a node itself */
	int port;				/* its PostgreSQL port, to match the list */
	uint32_t timeline_mark; /* the highest timeline its monitor has seen */
} CmNodeState;

/* The leader and read-only pool decided from every node's state. */
typedef struct CmClusterDecision
{
	int leader; /* index into the nodes, or -1 */
	char no_leader_reason[CM_CLUSTER_REASON_LEN];
	int pool[CM_MAX_NODES]; /* indexes of the standbys taking RO sessions */
	int pool_size;
	char no_pool_reason[CM_CLUSTER_REASON_LEN]; /* why the pool is empty */
	int reachable; /* nodes that answered as this cluster */
	char warning[CM_CLUSTER_REASON_LEN]; /* an answer was set aside: why */
} CmClusterDecision;

/*
 * Parses "name=host:port, ..." (IPv6 hosts in brackets) into at most max
 * entries; returns the count, or -1 with the reason in err.  Names must be
 * unique.
 */
extern int cm_nodes_parse(const char *text, CmNodeConf *out, int max,
						  char *err, size_t errlen);

/* Writes the JSON of a state into buf; false when it does not fit. */
extern bool
cm_node_state_format(const CmNodeState *state, char *buf, size_t len);

/*
 * Reads a served state from len bytes of body; false, with out->reachable
 * left false, on anything but a well-formed object with every field.
 */
extern bool cm_node_state_parse(const char *body, size_t len, CmNodeState *out);

/*
 * Decides the leader and the read-only pool.  self_sysid is this node's
 * system identifier: nodes of another cluster never take sessions.
 * timeline_mark is the highest timeline seen so far; it is raised here and
 * never lowered.  max_lag is read_only_max_lag in bytes (-1: no limit).
 * More than CM_MAX_NODES nodes give no leader.  The majority
 * counts nodes that answered with self_sysid.
 */
extern void
cm_cluster_decide(const CmNodeConf *conf, const CmNodeState *nodes, int n,
				  uint64_t self_sysid, uint32_t *timeline_mark,
				  int64_t max_lag, CmClusterDecision *out);

/*
 * Picks the least loaded of n candidates (n > 0); among equally loaded
 * ones, the one that random (any number) selects.
 */
extern int cm_pool_pick(const uint32_t *load, int n, uint32_t random);

#endif /* CM_CLUSTER_H */
