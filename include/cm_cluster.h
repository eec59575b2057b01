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
 *		 "instance":"5f0c...","vote":"5f0c...","vote_timeline":1,
 *		 "vote_hold_ms":5000}
 *
 * system_identifier is a string because it does not fit a JSON number's
 * exact range; wal_lsn is the WAL flushed on a primary and replayed on a
 * standby; streaming says a standby's WAL receiver streams;
 * sessions counts the node's client backends, the load the read-only pool
 * is balanced by; port is its PostgreSQL port and instance a random number
 * drawn when its monitor started, so that a monitor can tell which entry of
 * the list answered, and whether two entries are the same server;
 * timeline_mark is the highest timeline that monitor has seen.  vote and
 * vote_timeline name the node that monitor found to be the only primary on
 * the highest timeline in its last round (the instance of its monitor;
 * zeros: none): the write leader is the node a majority of the list votes
 * for.  vote_hold_ms is how long that monitor will vote for nobody after
 * withdrawing the vote (see CmVote).  Every key but the vote is required
 * (a state without a vote votes for nobody; one without vote_hold_ms
 * promises no hold); unknown keys are skipped, so newer nodes can add some.
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
	uint64_t vote_instance; /* the instance its monitor votes for; 0: none */
	uint32_t vote_timeline; /* and on which timeline */
	uint32_t vote_hold_ms;	/* how long it votes for nobody after that vote */
} CmNodeState;

/* The leader and read-only pool decided from every node's state. */
typedef struct CmClusterDecision
{
	int leader;	   /* index into the nodes, or -1 */
	int candidate; /* what this monitor votes for (index), or -1 */
	int votes;	   /* nodes voting for the candidate, this one included */
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
 * A monitor's vote.  It withdraws a vote at once, but casts a new one only
 * after voting for nobody for hold_ms (from its start, too): by then every
 * routing state another monitor built on its earlier vote has expired, so
 * no two monitors can count the one node for two leaders.  The hold is
 * served with the vote as a promise: a monitor whose routing lasts longer
 * (a longer probe_interval) does not count it, and a hold that shrinks (a
 * reload) still waits the longest one promised with the vote withdrawn.
 */
typedef struct CmVote
{
	uint64_t instance;	/* the candidate's monitor instance; 0: nobody */
	uint32_t timeline;	/* the candidate's timeline */
	int64_t free_since; /* since when it votes for nobody */
	int64_t hold_ms;	/* the longest hold promised with this vote */
} CmVote;

/* What a monitor knows of itself when it decides. */
typedef struct CmClusterSelf
{
	uint64_t sysid;	   /* nodes of another cluster never take sessions */
	uint64_t instance; /* its own instance: the entry whose vote is *vote */
	CmVote *vote;	   /* moved here towards this round's candidate */
	int64_t now;	   /* cm_now_ms() of the round */
	int64_t hold_ms;   /* how long a vote waits after another; also how
						* long this monitor's routing may outlive its
						* reads: a vote promising less does not count */
	uint32_t timeline_mark; /* highest timeline seen; raised, never lowered */
	bool mark_damaged;		/* the stored mark is unreadable: no leader */
	int64_t max_lag;		/* read_only_max_lag in bytes; -1: no limit */
} CmClusterSelf;

/*
 * Decides the leader and the read-only pool.  The candidate is the only
 * primary on the highest timeline among the nodes that answered for this
 * cluster, when they are a majority of the list; it becomes the leader
 * when a majority of the list votes for it (this monitor voting for its
 * candidate), so that two monitors that see different primaries cannot
 * both route writes.  More than CM_MAX_NODES nodes give no leader.
 */
extern void
cm_cluster_decide(const CmNodeConf *conf, const CmNodeState *nodes, int n,
				  CmClusterSelf *self, CmClusterDecision *out);

/*
 * Picks the least loaded of n candidates (n > 0); among equally loaded
 * ones, the one that random (any number) selects.
 */
extern int cm_pool_pick(const uint32_t *load, int n, uint32_t random);

#endif /* CM_CLUSTER_H */
