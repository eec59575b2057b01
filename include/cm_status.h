/*
 * cm_status.h
 *		What the connection manager tells about itself: the counters the
 *		proxy workers keep, the cluster as the monitor sees it, and the
 *		texts built from them for the HTTP port (/status, the /group endpoints, the
 *		Patroni-style checks, /metrics) and the status page.  Pure code: no
 *		server headers, so the unit tests and the fuzzers link it as it is.
 *
 * Counters are numbered (CmCounter) so that the shared-memory rows of the
 * workers (cm_stats.h) and the sums read from them use one layout.  Every
 * counter only grows, from the server's start; the gauges (sessions and
 * server connections open now) are separate.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_STATUS_H
#define CM_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_cluster.h"

#define CM_EXTENSION_VERSION "1.0"

/* Why a session was refused: the SQLSTATE of the error it got, grouped. */
typedef enum CmRefusal
{
	CM_REFUSED_TOO_MANY_CLIENTS,
	CM_REFUSED_TOO_MANY_SERVERS,
	CM_REFUSED_NO_TARGET,
	CM_REFUSED_AUTHENTICATION,
	CM_REFUSED_PROTOCOL,
	CM_REFUSED_TIMEOUT,
	CM_REFUSED_SERVER,
	CM_REFUSED_OTHER,
	CM_REFUSALS
} CmRefusal;

/* The pg_hba.conf methods (CmHbaMethod), and one for "no rule matched". */
#define CM_AUTH_METHODS	  15
#define CM_AUTH_NO_RULE	  14
#define CM_PORT_KIND_RW	  0 /* as CmPortKind */
#define CM_PORT_KIND_RO	  1
#define CM_STATUS_PORTS	  2
#define CM_PROBE_BUCKETS  8 /* latency histogram, see cm_probe_bucket_le */
#define CM_STATUS_NODES	  (2 * CM_MAX_NODES) /* targets counted per node */
#define CM_STATUS_KEY_LEN 128

typedef enum CmCounter
{
	CM_C_ACCEPTED,		/* client connections accepted */
	CM_C_SESSIONS,		/* sessions logged in and handed to the client */
	CM_C_BYTES_IN,		/* relayed from clients to servers */
	CM_C_BYTES_OUT,		/* relayed from servers to clients */
	CM_C_TLS_CLIENT_OK, /* TLS handshakes with clients */
	CM_C_TLS_CLIENT_FAILED,
	CM_C_TLS_SERVER_OK, /* TLS handshakes with nodes */
	CM_C_TLS_SERVER_FAILED,
	CM_C_SERVERS_OPENED,	/* server connections opened */
	CM_C_CANCELS_FORWARDED, /* matched a session here: sent to its server */
	CM_C_CANCELS_UNMATCHED, /* reached nothing */
	CM_C_CANCELS_RELAYED,	/* sent on to the node its process id names */
	CM_C_FENCED,  /* sessions ended: their target stopped being current */
	CM_C_REFUSED, /* + CmRefusal */
	CM_C_AUTH_OK = CM_C_REFUSED + CM_REFUSALS,		   /* + method */
	CM_C_AUTH_FAILED = CM_C_AUTH_OK + CM_AUTH_METHODS, /* + method */
	CM_COUNTERS = CM_C_AUTH_FAILED + CM_AUTH_METHODS
} CmCounter;

/* One port kind's counters summed over the workers, and its gauges. */
typedef struct CmPortStats
{
	int port; /* its TCP port, 0 when off */
	uint64_t c[CM_COUNTERS];
	uint32_t clients; /* client sessions open now */
	uint32_t servers; /* server connections open now */
} CmPortStats;

/* Server connections to one target, by its name in nodes or host:port. */
typedef struct CmNodeCounters
{
	char key[CM_STATUS_KEY_LEN];
	uint64_t total[CM_STATUS_PORTS];
	uint32_t active[CM_STATUS_PORTS];
} CmNodeCounters;

/* One node as this connection manager sees it. */
typedef struct CmStatusNode
{
	char name[CM_NODE_NAME_LEN]; /* in nodes; alone: cluster_name */
	char host[CM_NODE_HOST_LEN]; /* as configured, or the target's */
	int port;					 /* its PostgreSQL port */
	int id;						 /* 1-based position in nodes, 0 alone */
	bool self;					 /* this node */
	CmNodeState state;			 /* last probe; reachable false if none */
	int64_t lag;	   /* bytes behind the write leader; -1 unknown */
	bool leader;	   /* the write leader */
	bool in_pool;	   /* takes read-only sessions */
	double probe_ms;   /* last probe's duration; -1 none */
	uint64_t probes;   /* probes sent */
	uint64_t failures; /* probes that got no valid state */
	uint64_t probe_le[CM_PROBE_BUCKETS]; /* cumulative histogram */
	double probe_ms_sum;
} CmStatusNode;

/* Everything /status, /metrics, the /group endpoints and the views tell. */
typedef struct CmStatusView
{
	bool alone;		  /* nodes is empty */
	char version[32]; /* of the extension */
	char cluster_name[CM_NODE_NAME_LEN];
	uint64_t system_identifier;
	int self; /* index into nodes, -1 unknown */
	int nnodes;
	CmStatusNode nodes[CM_MAX_NODES];
	char leader[CM_NODE_NAME_LEN]; /* "" when none */
	char previous_leader[CM_NODE_NAME_LEN];
	char read_write_target[CM_STATUS_KEY_LEN]; /* host:port, "" none */
	char leader_reason[256]; /* why this leader, or why none */
	char read_only_target[CM_STATUS_KEY_LEN]; /* alone, or the fallback */
	bool read_only_is_leader;
	char read_only_reason[256];
	bool consensus; /* a majority of nodes answers (alone: true) */
	int reachable;
	uint32_t timeline_mark;
	int64_t replay_lag; /* this node's own, -1 unknown */
	char upstream[CM_STATUS_KEY_LEN];
	uint64_t leader_changes;
	uint64_t pool_changes;
	uint64_t rounds;
	int64_t routing_age_ms; /* since the last publication */
	int http_port;
	bool https;
	uint64_t http_accepted[2]; /* HTTP connections: [1] from node addresses */
	uint64_t http_refused[2];  /* closed at once: no room for them */
	bool log_connections;
	CmPortStats ports[CM_STATUS_PORTS];
	int ncounters;
	CmNodeCounters counters[CM_STATUS_NODES];
} CmStatusView;

/* A growing text, malloc'd; appends past max set overflow and stop. */
typedef struct CmText
{
	char *data; /* NUL-terminated; NULL until something is appended */
	size_t len;
	size_t cap;
	size_t max;
	bool overflow;
} CmText;

extern void cm_text_init(CmText *t, size_t max);
extern void cm_text_free(CmText *t);
extern void cm_text_append(CmText *t, const char *s, size_t len);
extern void cm_text_puts(CmText *t, const char *s);
extern void cm_text_printf(CmText *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string with its quotes; invalid UTF-8 becomes U+FFFD. */
extern void cm_text_json_string(CmText *t, const char *s);
/* A Prometheus label value (no quotes): \, " and newline escaped. */
extern void cm_text_label_value(CmText *t, const char *s);

extern const char *cm_refusal_name(CmRefusal r);
/* The refusal an error of this SQLSTATE and message counts as. */
extern CmRefusal cm_refusal_of(const char *sqlstate, const char *message);
/* "trust", ..., "none" (CM_AUTH_NO_RULE) */
extern const char *cm_auth_method_label(int method);
/* Upper bound, in seconds, of histogram bucket i (the last is +Inf). */
extern double cm_probe_bucket_le(int i);

/*
 * Reads a lag limit as Patroni does: a byte count, or a number with one of
 * the units B, kB, MB, GB, TB (powers of 1024).  False on anything else.
 */
extern bool cm_parse_byte_size(const char *text, int64_t *bytes);

/*
 * The value of name in a query string ("a=1&lag=16MB"), copied into out:
 * 1 found, 0 absent, -1 longer than outlen - 1.  No percent-decoding; a
 * name without "=" has the empty value; the first occurrence counts.
 */
extern int
cm_query_param(const char *query, const char *name, char *out, size_t outlen);

/* The bodies served on the HTTP port. */
extern void cm_status_json(const CmStatusView *v, CmText *out);
extern void
cm_group_info_json(const CmStatusView *v, bool read_write, CmText *out);
extern void cm_node_check_json(const CmStatusView *v, CmText *out);
extern void cm_metrics_text(const CmStatusView *v, CmText *out);
extern const char cm_status_page_html[];

#endif /* CM_STATUS_H */
