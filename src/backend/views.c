/*
 * backend/views.c
 *		The SQL functions behind the views of CREATE EXTENSION
 *		connection_manager (sql/connection_manager--1.0.sql).  They read
 *		shared memory (cm_stats.h) and never wait for the proxy workers or
 *		the monitor; hba_file_rules parses the server's pg_hba.conf in the
 *		calling backend with the workers' own parser.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netdb.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "cm_guc.h"
#include "cm_hba_load.h"
#include "cm_proof.h"
#include "cm_shmem.h"
#include "cm_stats.h"

PG_FUNCTION_INFO_V1(cm_sql_stat);
PG_FUNCTION_INFO_V1(cm_sql_connections);
PG_FUNCTION_INFO_V1(cm_sql_node_stats);
PG_FUNCTION_INFO_V1(cm_sql_routing);
PG_FUNCTION_INFO_V1(cm_sql_hba_file_rules);
PG_FUNCTION_INFO_V1(cm_sql_backend_clients);

#define MAX_COLUMNS 24

/* A tuple being filled, column by column. */
typedef struct Row
{
	Datum values[MAX_COLUMNS];
	bool nulls[MAX_COLUMNS];
	int n;
} Row;

static void
row_start(Row *r)
{
	memset(r->nulls, 0, sizeof(r->nulls));
	r->n = 0;
}

static void
put(Row *r, Datum d)
{
	r->values[r->n++] = d;
}

static void
put_null(Row *r)
{
	r->nulls[r->n] = true;
	r->values[r->n++] = (Datum) 0;
}

static void
put_text(Row *r, const char *s)
{
	if (s == NULL || s[0] == '\0')
		put_null(r);
	else
		put(r, CStringGetTextDatum(s));
}

/* An address as inet, or NULL when it is not a numeric one. */
static void
put_inet(Row *r, const char *addr)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char plain[64];

	strlcpy(plain, addr, sizeof(plain));
	plain[strcspn(plain, "%")] = '\0'; /* inet has no zone */
	if (inet_pton(AF_INET, plain, buf) != 1 &&
		inet_pton(AF_INET6, plain, buf) != 1)
	{
		put_null(r);
		return;
	}
	put(r, DirectFunctionCall1(inet_in, CStringGetDatum(plain)));
}

static void
row_end(FunctionCallInfo fcinfo, Row *r)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	Assert(r->n == rsinfo->setDesc->natts);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, r->values,
						 r->nulls);
}

static void
check_loaded(void)
{
	if (cm_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg(
					 "connection_manager must be loaded via shared_preload_libraries")));
}

/* One row per port kind: its counters summed over the workers. */
Datum
cm_sql_stat(PG_FUNCTION_ARGS)
{
	CmPortStats ports[CM_STATUS_PORTS];

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	cm_stats_sum(ports);
	for (int p = 0; p < CM_STATUS_PORTS; p++)
	{
		const uint64 *c = ports[p].c;
		uint64 refused = 0;
		uint64 auth_ok = 0;
		uint64 auth_failed = 0;
		Row r;

		for (int i = 0; i < CM_REFUSALS; i++)
			refused += c[CM_C_REFUSED + i];
		for (int m = 0; m < CM_AUTH_METHODS; m++)
		{
			auth_ok += c[CM_C_AUTH_OK + m];
			auth_failed += c[CM_C_AUTH_FAILED + m];
		}
		row_start(&r);
		put(&r, CStringGetTextDatum(p == CM_PORT_READ_WRITE ? "read-write"
															: "read-only"));
		put(&r, Int32GetDatum(p == CM_PORT_READ_WRITE ? cm_guc_rw_port()
													  : cm_guc_ro_port()));
		put(&r, Int32GetDatum(cm_shmem_total_clients((CmPortKind) p)));
		put(&r, Int64GetDatum(c[CM_C_SESSIONS]));
		put(&r, Int64GetDatum(c[CM_C_ACCEPTED]));
		put(&r, Int64GetDatum(refused));
		put(&r, Int32GetDatum(cm_shmem_total_servers((CmPortKind) p)));
		put(&r, Int64GetDatum(c[CM_C_SERVERS_OPENED]));
		put(&r, Int64GetDatum(c[CM_C_BYTES_IN]));
		put(&r, Int64GetDatum(c[CM_C_BYTES_OUT]));
		put(&r, Int64GetDatum(c[CM_C_TLS_CLIENT_OK]));
		put(&r, Int64GetDatum(c[CM_C_TLS_CLIENT_FAILED]));
		put(&r, Int64GetDatum(auth_ok));
		put(&r, Int64GetDatum(auth_failed));
		put(&r, Int64GetDatum(c[CM_C_CANCELS_FORWARDED]));
		row_end(fcinfo, &r);
	}
	return (Datum) 0;
}

/* One row per client session of this node's proxy workers. */
Datum
cm_sql_connections(PG_FUNCTION_ARGS)
{
	CmConnInfo *conns;
	int n;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	conns = cm_stats_connections(&n);
	for (int i = 0; i < n; i++)
	{
		CmConnInfo *c = &conns[i];
		Row r;

		row_start(&r);
		put(&r, Int32GetDatum(c->worker));
		put_inet(&r, c->client_addr);
		put(&r, Int32GetDatum(c->client_port));
		put(&r, CStringGetTextDatum(cm_port_kind_name(c->port)));
		put(&r, BoolGetDatum(c->tls));
		put_text(&r, c->user);
		put_text(&r, c->database);
		put_text(&r, c->target_node);
		put_text(&r, c->target_address);
		put(&r, CStringGetTextDatum(cm_conn_state_name(c->state)));
		put(&r, TimestampTzGetDatum(c->since));
		if (c->backend_pid > 0)
			put(&r, Int32GetDatum(c->backend_pid));
		else
			put_null(&r);
		row_end(fcinfo, &r);
	}
	return (Datum) 0;
}

static CmStatusView *
read_view(void)
{
	CmStatusView *v = palloc0(sizeof(CmStatusView));

	check_loaded();
	if (!cm_status_read(v))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("could not read the connection manager's state"),
						errdetail("The monitor kept writing it.")));
	return v;
}

/* Server connections of one target, by name or "host:port". */
static const CmNodeCounters *
counters_of(const CmNodeCounters *c, int n, const CmStatusNode *node, bool *used)
{
	char address[CM_STATUS_KEY_LEN];

	if (strchr(node->host, ':'))
		snprintf(address, sizeof(address), "[%s]:%d", node->host, node->port);
	else
		snprintf(address, sizeof(address), "%s:%d", node->host, node->port);
	for (int i = 0; i < n; i++)
	{
		if (strcmp(c[i].key, node->name) == 0 || strcmp(c[i].key, address) == 0)
		{
			used[i] = true;
			return &c[i];
		}
	}
	return NULL;
}

static void
put_counters(Row *r, const CmNodeCounters *c)
{
	for (int p = 0; p < CM_STATUS_PORTS; p++)
	{
		put(r, Int32GetDatum(c ? c->active[p] : 0));
		put(r, Int64GetDatum(c ? c->total[p] : 0));
	}
}

/*
 * Every node as this manager sees it, with the server connections its
 * workers opened to each; then targets that are no node of the list (an
 * upstream, alone, or a node since removed).
 */
Datum
cm_sql_node_stats(PG_FUNCTION_ARGS)
{
	CmStatusView *v = read_view();
	CmNodeCounters *counters = palloc0(sizeof(CmNodeCounters) * CM_STATUS_NODES);
	bool used[CM_STATUS_NODES];
	int ncounters = cm_stats_node_counters(counters, CM_STATUS_NODES);

	memset(used, 0, sizeof(used));
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < v->nnodes; i++)
	{
		const CmStatusNode *n = &v->nodes[i];
		const CmNodeState *s = &n->state;
		Row r;

		row_start(&r);
		put(&r, CStringGetTextDatum(n->name));
		put_text(&r, n->host);
		put(&r, Int32GetDatum(n->port));
		put(&r, BoolGetDatum(n->self));
		put(&r, BoolGetDatum(s->reachable));
		if (s->reachable)
		{
			put(&r, CStringGetTextDatum(s->in_recovery ? "standby" : "primary"));
			put(&r, Int64GetDatum(s->timeline));
			put(&r, LSNGetDatum(s->wal_lsn));
			put(&r, Int32GetDatum(s->sessions));
		}
		else
		{
			put_null(&r);
			put_null(&r);
			put_null(&r);
			put_null(&r);
		}
		if (n->lag >= 0)
			put(&r, Int64GetDatum(n->lag));
		else
			put_null(&r);
		put(&r, BoolGetDatum(n->leader));
		put(&r, BoolGetDatum(n->in_pool));
		put_counters(&r, counters_of(counters, ncounters, n, used));
		if (n->probe_ms >= 0)
			put(&r, Float8GetDatum(n->probe_ms));
		else
			put_null(&r);
		put(&r, Int64GetDatum(n->probes));
		put(&r, Int64GetDatum(n->failures));
		row_end(fcinfo, &r);
	}
	for (int i = 0; i < ncounters; i++)
	{
		Row r;

		if (used[i])
			continue;
		row_start(&r);
		put(&r, CStringGetTextDatum(counters[i].key));
		for (int k = 0; k < 9; k++)
			put_null(&r);
		put(&r, BoolGetDatum(false));
		put(&r, BoolGetDatum(false));
		put_counters(&r, &counters[i]);
		put_null(&r);
		put_null(&r);
		put_null(&r);
		row_end(fcinfo, &r);
	}
	return (Datum) 0;
}

/* The leader, the pool, consensus: one row. */
Datum
cm_sql_routing(PG_FUNCTION_ARGS)
{
	CmStatusView *v = read_view();
	Datum *pool = palloc(sizeof(Datum) * Max(v->nnodes, 1));
	int npool = 0;
	Row r;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < v->nnodes; i++)
		if (v->nodes[i].in_pool)
			pool[npool++] = CStringGetTextDatum(v->nodes[i].name);
	row_start(&r);
	put_text(&r, v->leader);
	put_text(&r, v->previous_leader);
	put_text(&r, v->read_write_target);
	put_text(&r, v->leader_reason);
	put(&r, PointerGetDatum(construct_array(pool, npool, TEXTOID, -1, false,
											TYPALIGN_INT)));
	put_text(&r, v->read_only_target);
	put(&r, BoolGetDatum(v->read_only_is_leader));
	put_text(&r, v->read_only_reason);
	put(&r, BoolGetDatum(v->consensus));
	put(&r, Int32GetDatum(v->reachable));
	put(&r, Int32GetDatum(v->nnodes));
	put(&r, Int64GetDatum(v->timeline_mark));
	put(&r, BoolGetDatum(v->alone));
	put(&r, Int64GetDatum(v->leader_changes));
	put(&r, Int64GetDatum(v->pool_changes));
	row_end(fcinfo, &r);
	return (Datum) 0;
}

/* A text[] of a rule's database or role tokens, as written. */
static Datum
tokens_array(const CmConfToken *tokens, int n)
{
	Datum *items = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		items[i] = CStringGetTextDatum(tokens[i].text);
	return PointerGetDatum(
		construct_array(items, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * A rule's options as name=value.  The secrets an LDAP or RADIUS rule may
 * hold are hidden: pg_monitor reads this view, while the server's own
 * pg_hba_file_rules is for superusers only.
 */
static Datum
options_array(const CmHbaRule *rule)
{
	Datum *items = palloc(sizeof(Datum) * Max(rule->noptions, 1));

	for (int i = 0; i < rule->noptions; i++)
	{
		const char *name = rule->options[i].name;
		bool secret = strcmp(name, "ldapbindpasswd") == 0 ||
					  strcmp(name, "radiussecrets") == 0;

		items[i] = CStringGetTextDatum(
			psprintf("%s=%s", name,
					 secret ? "********" : rule->options[i].value));
	}
	return PointerGetDatum(construct_array(items, rule->noptions, TEXTOID, -1,
										   false, TYPALIGN_INT));
}

/* A rule's address or mask as the server's pg_hba_file_rules shows it. */
static const char *
numeric_host(const struct sockaddr_storage *sa)
{
	char host[NI_MAXHOST];
	socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
											  : sizeof(struct sockaddr_in);

	if (getnameinfo((const struct sockaddr *) sa, len, host, sizeof(host),
					NULL, 0, NI_NUMERICHOST) != 0)
		return NULL;
	return pstrdup(host);
}

static const char *
address_text(const CmHbaRule *rule)
{
	switch (rule->addr_kind)
	{
		case CM_HBA_ADDR_ALL:
			return "all";
		case CM_HBA_ADDR_SAMEHOST:
			return "samehost";
		case CM_HBA_ADDR_SAMENET:
			return "samenet";
		case CM_HBA_ADDR_HOSTNAME:
			return rule->hostname;
		case CM_HBA_ADDR_MASK:
			return numeric_host(&rule->addr);
		default:
			return NULL;
	}
}

/*
 * pg_hba.conf as the manager reads it, parsed now in this backend with the
 * workers' parser: every rule in order, the skipped ones with why, and
 * the errors that make the workers keep their previous rules.
 */
Datum
cm_sql_hba_file_rules(PG_FUNCTION_ARGS)
{
	CmHbaFile *file;

	InitMaterializedSRF(fcinfo, 0);
	file = cm_hba_parse_server_file(ERROR);
	PG_TRY();
	{
		for (int i = 0; i < file->nrules; i++)
		{
			const CmHbaRule *rule = &file->rules[i];
			const char *skip = cm_hba_skip_reason(rule);
			Row r;

			row_start(&r);
			put(&r, Int32GetDatum(i + 1));
			put_text(&r, rule->file);
			put(&r, Int32GetDatum(rule->line));
			put(&r, CStringGetTextDatum(cm_hba_conn_type_name(rule->conn_type)));
			put(&r, tokens_array(rule->databases, rule->ndatabases));
			put(&r, tokens_array(rule->roles, rule->nroles));
			put_text(&r, address_text(rule));
			put_text(&r, rule->addr_kind == CM_HBA_ADDR_MASK
							 ? numeric_host(&rule->mask)
							 : NULL);
			put(&r, CStringGetTextDatum(cm_hba_method_name(rule->method)));
			put(&r, options_array(rule));
			put(&r, BoolGetDatum(skip != NULL));
			put_text(&r, skip);
			put_null(&r);
			row_end(fcinfo, &r);
		}
		for (int i = 0; i < file->nerrors; i++)
		{
			Row r;

			row_start(&r);
			put_null(&r);
			put_text(&r, file->errors[i].file);
			put(&r, Int32GetDatum(file->errors[i].line));
			for (int k = 0; k < 7; k++)
				put_null(&r);
			put(&r, BoolGetDatum(true));
			put_null(&r);
			put_text(&r, file->errors[i].message);
			row_end(fcinfo, &r);
		}
	}
	PG_FINALLY();
	{
		cm_hba_free(file);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * Every backend of this node opened by a connection manager (any node's)
 * with the real client its proof stated, and every locked read-only one.
 */
Datum
cm_sql_backend_clients(PG_FUNCTION_ARGS)
{
	int total = pgstat_fetch_stat_numbackends();

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 1; i <= total; i++)
	{
		LocalPgBackendStatus *b = pgstat_fetch_stat_local_beentry(i);
		int pid;
		char addr[CM_PROOF_ADDR_MAX + 1];
		int port = 0;
		bool proven;
		bool read_only;
		Row r;

		if (b == NULL)
			continue;
		pid = b->backendStatus.st_procpid;
		proven = cm_proof_client_of(pid, addr, sizeof(addr), &port);
		read_only = cm_stats_backend_read_only(pid);
		if (!proven && !read_only)
			continue;
		row_start(&r);
		put(&r, Int32GetDatum(pid));
		if (proven)
		{
			put_inet(&r, addr);
			put(&r, Int32GetDatum(port));
		}
		else
		{
			put_null(&r);
			put_null(&r);
		}
		put(&r, BoolGetDatum(read_only));
		row_end(fcinfo, &r);
	}
	return (Datum) 0;
}
