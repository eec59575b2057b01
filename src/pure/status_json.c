/*
 * pure/status_json.c
 *		The JSON bodies of the HTTP port: GET /status (everything this
 *		connection manager knows), /group/read-write-info and
 *		/group/read-only-info (PGD's node arrays) and the body of the
 *		Patroni-style checks.  Every string goes through
 *		cm_text_json_string(): node names and hosts come from settings.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void
key(CmText *t, const char *name)
{
	cm_text_json_string(t, name);
	cm_text_puts(t, ":");
}

static void
string_or_null(CmText *t, const char *s)
{
	if (s[0])
		cm_text_json_string(t, s);
	else
		cm_text_puts(t, "null");
}

static void
lsn(CmText *t, uint64_t v)
{
	cm_text_printf(t, "\"%X/%X\"", (unsigned) (v >> 32), (unsigned) v);
}

static const char *
role_of(const CmStatusNode *n)
{
	if (!n->state.reachable)
		return NULL;
	return n->state.in_recovery ? "standby" : "primary";
}

/*
 * Splits a target's "host:port" or "[v6]:port" into host and port; false
 * when it has neither form.
 */
static bool
split_target(const char *target, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(target, ':');
	const char *h = target;
	size_t len;

	if (colon == NULL || colon == target)
		return false;
	len = (size_t) (colon - target);
	if (target[0] == '[' && colon[-1] == ']')
	{
		h++;
		len -= 2;
	}
	if (len >= hostlen)
		return false;
	memcpy(host, h, len);
	host[len] = '\0';
	*port = 0;
	for (const char *p = colon + 1; *p; p++)
	{
		if (*p < '0' || *p > '9' || *port > 65535)
			return false;
		*port = *port * 10 + (*p - '0');
	}
	return *port > 0 && *port <= 65535;
}

static void
node_json(CmText *t, const CmStatusNode *n)
{
	const char *role = role_of(n);

	cm_text_printf(t, "{\"id\":%d,", n->id);
	key(t, "name");
	cm_text_json_string(t, n->name);
	cm_text_puts(t, ",");
	key(t, "host");
	cm_text_json_string(t, n->host);
	cm_text_printf(t, ",\"port\":%d,\"self\":%s,\"reachable\":%s,\"role\":",
				   n->port, n->self ? "true" : "false",
				   n->state.reachable ? "true" : "false");
	if (role)
		cm_text_json_string(t, role);
	else
		cm_text_puts(t, "null");
	if (n->state.reachable)
	{
		cm_text_printf(t, ",\"timeline\":%" PRIu32 ",\"wal_lsn\":",
					   n->state.timeline);
		lsn(t, n->state.wal_lsn);
		cm_text_printf(t,
					   ",\"streaming\":%s,\"sessions\":%" PRIu32
					   ",\"timeline_mark\":%" PRIu32,
					   n->state.streaming ? "true" : "false",
					   n->state.sessions, n->state.timeline_mark);
	}
	else
		cm_text_puts(t, ",\"timeline\":null,\"wal_lsn\":null,"
						"\"streaming\":null,\"sessions\":null,"
						"\"timeline_mark\":null");
	if (n->lag >= 0)
		cm_text_printf(t, ",\"lag\":%" PRId64, n->lag);
	else
		cm_text_puts(t, ",\"lag\":null");
	cm_text_printf(t, ",\"write_leader\":%s,\"read_only_pool\":%s",
				   n->leader ? "true" : "false", n->in_pool ? "true" : "false");
	cm_text_printf(t, ",\"probe\":{\"last_ms\":");
	if (n->probe_ms >= 0)
		cm_text_printf(t, "%.3f", n->probe_ms);
	else
		cm_text_puts(t, "null");
	cm_text_printf(t, ",\"count\":%" PRIu64 ",\"failures\":%" PRIu64 "}}",
				   n->probes, n->failures);
}

static void
port_json(CmText *t, const CmPortStats *p)
{
	const uint64_t *c = p->c;
	bool first = true;

	cm_text_printf(t,
				   "{\"port\":%d,\"sessions_active\":%" PRIu32
				   ",\"sessions_total\":%" PRIu64
				   ",\"connections_total\":%" PRIu64 ",\"refused\":{",
				   p->port, p->clients, c[CM_C_SESSIONS], c[CM_C_ACCEPTED]);
	for (int r = 0; r < CM_REFUSALS; r++)
	{
		if (r > 0)
			cm_text_puts(t, ",");
		key(t, cm_refusal_name((CmRefusal) r));
		cm_text_printf(t, "%" PRIu64, c[CM_C_REFUSED + r]);
	}
	cm_text_printf(t,
				   "},\"server_connections_active\":%" PRIu32
				   ",\"server_connections_total\":%" PRIu64
				   ",\"bytes_from_clients\":%" PRIu64
				   ",\"bytes_to_clients\":%" PRIu64
				   ",\"tls_handshakes\":{\"clients\":%" PRIu64
				   ",\"clients_failed\":%" PRIu64 ",\"servers\":%" PRIu64
				   ",\"servers_failed\":%" PRIu64 "},\"authentications\":{",
				   p->servers, c[CM_C_SERVERS_OPENED], c[CM_C_BYTES_IN],
				   c[CM_C_BYTES_OUT], c[CM_C_TLS_CLIENT_OK],
				   c[CM_C_TLS_CLIENT_FAILED], c[CM_C_TLS_SERVER_OK],
				   c[CM_C_TLS_SERVER_FAILED]);
	for (int m = 0; m < CM_AUTH_METHODS; m++)
	{
		uint64_t ok = c[CM_C_AUTH_OK + m];
		uint64_t failed = c[CM_C_AUTH_FAILED + m];

		if (ok == 0 && failed == 0)
			continue;
		if (!first)
			cm_text_puts(t, ",");
		first = false;
		key(t, cm_auth_method_label(m));
		cm_text_printf(t, "{\"succeeded\":%" PRIu64 ",\"failed\":%" PRIu64 "}",
					   ok, failed);
	}
	cm_text_printf(t,
				   "},\"cancels\":{\"forwarded\":%" PRIu64
				   ",\"unmatched\":%" PRIu64 ",\"relayed\":%" PRIu64
				   "},\"fenced\":%" PRIu64 "}",
				   c[CM_C_CANCELS_FORWARDED], c[CM_C_CANCELS_UNMATCHED],
				   c[CM_C_CANCELS_RELAYED], c[CM_C_FENCED]);
}

void
cm_status_json(const CmStatusView *v, CmText *t)
{
	const CmStatusNode *self = v->self >= 0 ? &v->nodes[v->self] : NULL;
	bool first = true;

	cm_text_puts(t, "{");
	key(t, "version");
	cm_text_json_string(t, v->version);
	cm_text_puts(t, ",");
	key(t, "node");
	string_or_null(t, self ? self->name : "");
	cm_text_puts(t, ",");
	key(t, "cluster_name");
	cm_text_json_string(t, v->cluster_name);
	cm_text_printf(t,
				   ",\"system_identifier\":\"%" PRIu64
				   "\",\"alone\":%s,\"leader\":",
				   v->system_identifier, v->alone ? "true" : "false");
	string_or_null(t, v->leader);
	cm_text_puts(t, ",");
	key(t, "previous_leader");
	string_or_null(t, v->previous_leader);
	cm_text_puts(t, ",");
	key(t, "leader_reason");
	cm_text_json_string(t, v->leader_reason);
	cm_text_puts(t, ",");
	key(t, "read_write_target");
	string_or_null(t, v->read_write_target);
	cm_text_printf(t,
				   ",\"consensus\":{\"majority\":%s,\"reachable\":%d,"
				   "\"nodes\":%d},\"timeline_mark\":%" PRIu32
				   ",\"read_only\":{\"pool\":[",
				   v->consensus ? "true" : "false", v->reachable, v->nnodes,
				   v->timeline_mark);
	for (int i = 0; i < v->nnodes; i++)
	{
		if (!v->nodes[i].in_pool)
			continue;
		if (!first)
			cm_text_puts(t, ",");
		first = false;
		cm_text_json_string(t, v->nodes[i].name);
	}
	cm_text_puts(t, "],");
	key(t, "target");
	string_or_null(t, v->read_only_target);
	cm_text_printf(t, ",\"fallback_to_leader\":%s,",
				   v->read_only_is_leader ? "true" : "false");
	key(t, "reason");
	cm_text_json_string(t, v->read_only_reason);
	cm_text_puts(t, "},\"nodes\":[");
	for (int i = 0; i < v->nnodes; i++)
	{
		if (i > 0)
			cm_text_puts(t, ",");
		node_json(t, &v->nodes[i]);
	}
	cm_text_puts(t, "],\"ports\":{\"read_write\":");
	port_json(t, &v->ports[CM_PORT_KIND_RW]);
	cm_text_puts(t, ",\"read_only\":");
	port_json(t, &v->ports[CM_PORT_KIND_RO]);
	cm_text_printf(t,
				   ",\"http\":{\"port\":%d,\"https\":%s,\"connections\":{"
				   "\"nodes\":%" PRIu64 ",\"others\":%" PRIu64
				   "},\"refused\":{\"nodes\":%" PRIu64 ",\"others\":%" PRIu64
				   "}}},\"server_connections\":[",
				   v->http_port, v->https ? "true" : "false",
				   v->http_accepted[1], v->http_accepted[0],
				   v->http_refused[1], v->http_refused[0]);
	for (int i = 0; i < v->ncounters; i++)
	{
		const CmNodeCounters *n = &v->counters[i];

		if (i > 0)
			cm_text_puts(t, ",");
		cm_text_puts(t, "{");
		key(t, "target");
		cm_text_json_string(t, n->key);
		cm_text_printf(t,
					   ",\"read_write_active\":%" PRIu32
					   ",\"read_write_total\":%" PRIu64
					   ",\"read_only_active\":%" PRIu32
					   ",\"read_only_total\":%" PRIu64 "}",
					   n->active[0], n->total[0], n->active[1], n->total[1]);
	}
	cm_text_printf(t,
				   "],\"routing\":{\"leader_changes\":%" PRIu64
				   ",\"pool_changes\":%" PRIu64 ",\"rounds\":%" PRIu64
				   ",\"age_ms\":%" PRId64 "},\"log_connections\":%s}",
				   v->leader_changes, v->pool_changes, v->rounds,
				   v->routing_age_ms, v->log_connections ? "true" : "false");
}

/* One entry of the array a /group endpoint answers. */
static void
info_entry(CmText *t, int id, const char *name, const char *host, int port)
{
	cm_text_printf(t, "{\"id\":%d,", id);
	key(t, "name");
	cm_text_json_string(t, name);
	cm_text_puts(t, ",");
	key(t, "host");
	cm_text_json_string(t, host);
	cm_text_printf(t, ",\"port\":%d,\"dbname\":null}", port);
}

/*
 * The write leader (read_write), or the read-only pool.  Alone, the
 * leader is this node or the upstream it streams from, and the pool this
 * node while it takes read-only sessions itself.
 */
void
cm_group_info_json(const CmStatusView *v, bool read_write, CmText *t)
{
	bool first = true;

	cm_text_puts(t, "[");
	for (int i = 0; i < v->nnodes; i++)
	{
		const CmStatusNode *n = &v->nodes[i];

		if (read_write ? !n->leader : !n->in_pool)
			continue;
		if (!first)
			cm_text_puts(t, ",");
		first = false;
		info_entry(t, n->id, n->name, n->host, n->port);
	}
	if (first && read_write && v->alone && v->read_write_target[0])
	{
		char host[CM_NODE_HOST_LEN];
		int port;

		/* a standby alone: its upstream, known by address only */
		if (split_target(v->read_write_target, host, sizeof(host), &port))
			info_entry(t, 0, v->read_write_target, host, port);
	}
	cm_text_puts(t, "]");
}

/* The body of the Patroni-style checks, in the shape Patroni's has. */
void
cm_node_check_json(const CmStatusView *v, CmText *t)
{
	const CmStatusNode *self = v->self >= 0 ? &v->nodes[v->self] : NULL;
	const CmNodeState *s = self ? &self->state : NULL;

	if (s == NULL || !s->reachable)
	{
		cm_text_puts(t, "{\"state\":\"unknown\"}");
		return;
	}
	cm_text_printf(t,
				   "{\"state\":\"running\",\"role\":\"%s\",\"timeline\":%" PRIu32
				   ",\"xlog\":{\"%s\":%" PRIu64
				   "},\"database_system_identifier\":\"%" PRIu64 "\",",
				   s->in_recovery ? "replica" : "primary", s->timeline,
				   s->in_recovery ? "replayed_location" : "location",
				   s->wal_lsn, s->system_identifier);
	key(t, "connection_manager");
	cm_text_puts(t, "{");
	key(t, "name");
	cm_text_json_string(t, self->name);
	cm_text_printf(t, ",\"write_leader\":%s,\"read_only_pool\":%s,\"lag\":",
				   self->leader ? "true" : "false",
				   self->in_pool ? "true" : "false");
	if (self->lag >= 0)
		cm_text_printf(t, "%" PRId64 "}}", self->lag);
	else
		cm_text_puts(t, "null}}");
}
