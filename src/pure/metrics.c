/*
 * pure/metrics.c
 *		GET /metrics: the Prometheus text exposition format (version 0.0.4)
 *		of a CmStatusView.  Every family has HELP and TYPE lines, counters
 *		end in _total, units are bytes and seconds, and label values are
 *		escaped (node names come from settings).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_status.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const port_labels[CM_STATUS_PORTS] = {"read_write",
														 "read_only"};

static void
family(CmText *t, const char *name, const char *type, const char *help)
{
	cm_text_printf(t, "# HELP connection_manager_%s %s\n", name, help);
	cm_text_printf(t, "# TYPE connection_manager_%s %s\n", name, type);
}

/* name{node="..."} value: the node label escaped. */
static void
node_sample(CmText *t, const char *name, const char *node, const char *extra,
			const char *value)
{
	cm_text_printf(t, "connection_manager_%s{node=\"", name);
	cm_text_label_value(t, node);
	cm_text_printf(t, "\"%s} %s\n", extra, value);
}

#define PORT_CLIENTS (-1) /* gauges, where a counter's index would be */
#define PORT_SERVERS (-2)

/* One sample per port: a counter of CmCounter, or one of the gauges. */
static void
port_family(CmText *t, const CmStatusView *v, const char *name,
			const char *help, int what)
{
	family(t, name, what >= 0 ? "counter" : "gauge", help);
	for (int p = 0; p < CM_STATUS_PORTS; p++)
	{
		const CmPortStats *ps = &v->ports[p];
		uint64_t value = what == PORT_CLIENTS	? ps->clients
						 : what == PORT_SERVERS ? ps->servers
												: ps->c[what];

		cm_text_printf(t, "connection_manager_%s{port=\"%s\"} %" PRIu64 "\n",
					   name, port_labels[p], value);
	}
}

static void
ports_part(CmText *t, const CmStatusView *v)
{
	port_family(t, v, "client_connections_total",
				"Client connections accepted on the port.", CM_C_ACCEPTED);
	port_family(t, v, "sessions_total",
				"Sessions logged in and handed to their client.", CM_C_SESSIONS);
	port_family(t, v, "sessions_active", "Client sessions open now.",
				PORT_CLIENTS);
	family(t, "sessions_refused_total", "counter",
		   "Sessions refused with an error, by reason.");
	for (int p = 0; p < CM_STATUS_PORTS; p++)
		for (int r = 0; r < CM_REFUSALS; r++)
			cm_text_printf(t,
						   "connection_manager_sessions_refused_total{port=\"%s\","
						   "reason=\"%s\"} %" PRIu64 "\n",
						   port_labels[p], cm_refusal_name((CmRefusal) r),
						   v->ports[p].c[CM_C_REFUSED + r]);
	port_family(t, v, "sessions_fenced_total",
				"Sessions ended because their node stopped being the write "
				"leader or left the read-only pool.",
				CM_C_FENCED);
	port_family(t, v, "server_connections_active",
				"Server connections open now.", PORT_SERVERS);
	port_family(t, v, "server_connections_total", "Server connections opened.",
				CM_C_SERVERS_OPENED);
	family(t, "relayed_bytes_total", "counter",
		   "Bytes relayed once sessions were handed over.");
	for (int p = 0; p < CM_STATUS_PORTS; p++)
	{
		cm_text_printf(t,
					   "connection_manager_relayed_bytes_total{port=\"%s\","
					   "direction=\"client_to_server\"} %" PRIu64 "\n",
					   port_labels[p], v->ports[p].c[CM_C_BYTES_IN]);
		cm_text_printf(t,
					   "connection_manager_relayed_bytes_total{port=\"%s\","
					   "direction=\"server_to_client\"} %" PRIu64 "\n",
					   port_labels[p], v->ports[p].c[CM_C_BYTES_OUT]);
	}
	family(t, "tls_handshakes_total", "counter",
		   "TLS handshakes with clients and with nodes, by result.");
	for (int p = 0; p < CM_STATUS_PORTS; p++)
	{
		static const struct
		{
			const char *peer;
			const char *result;
			int counter;
		} h[] = {{"client", "ok", CM_C_TLS_CLIENT_OK},
				 {"client", "failed", CM_C_TLS_CLIENT_FAILED},
				 {"server", "ok", CM_C_TLS_SERVER_OK},
				 {"server", "failed", CM_C_TLS_SERVER_FAILED}};

		for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
			cm_text_printf(t,
						   "connection_manager_tls_handshakes_total{port=\"%s\","
						   "peer=\"%s\",result=\"%s\"} %" PRIu64 "\n",
						   port_labels[p], h[i].peer, h[i].result,
						   v->ports[p].c[h[i].counter]);
	}
	family(t, "authentications_total", "counter",
		   "Client authentications by pg_hba.conf method and result.");
	for (int p = 0; p < CM_STATUS_PORTS; p++)
		for (int m = 0; m < CM_AUTH_METHODS; m++)
		{
			uint64_t ok = v->ports[p].c[CM_C_AUTH_OK + m];
			uint64_t failed = v->ports[p].c[CM_C_AUTH_FAILED + m];

			if (ok == 0 && failed == 0)
				continue;
			cm_text_printf(t,
						   "connection_manager_authentications_total{port=\"%s\","
						   "method=\"%s\",result=\"success\"} %" PRIu64 "\n"
						   "connection_manager_authentications_total{port=\"%s\","
						   "method=\"%s\",result=\"failure\"} %" PRIu64 "\n",
						   port_labels[p], cm_auth_method_label(m), ok,
						   port_labels[p], cm_auth_method_label(m), failed);
		}
	family(t, "cancel_requests_total", "counter",
		   "Cancel requests received: forwarded to a session's server, "
		   "matching nothing, or relayed to another node's manager.");
	for (int p = 0; p < CM_STATUS_PORTS; p++)
		cm_text_printf(t,
					   "connection_manager_cancel_requests_total{port=\"%s\","
					   "result=\"forwarded\"} %" PRIu64 "\n"
					   "connection_manager_cancel_requests_total{port=\"%s\","
					   "result=\"unmatched\"} %" PRIu64 "\n"
					   "connection_manager_cancel_requests_total{port=\"%s\","
					   "result=\"relayed\"} %" PRIu64 "\n",
					   port_labels[p], v->ports[p].c[CM_C_CANCELS_FORWARDED],
					   port_labels[p], v->ports[p].c[CM_C_CANCELS_UNMATCHED],
					   port_labels[p], v->ports[p].c[CM_C_CANCELS_RELAYED]);
}

static void
targets_part(CmText *t, const CmStatusView *v)
{
	char value[32];

	for (int f = 0; f < 2; f++)
	{
		const char *name = f == 0 ? "node_server_connections_active"
								  : "node_server_connections_total";

		family(t, name, f == 0 ? "gauge" : "counter",
			   f == 0 ? "Server connections open now, by target node."
					  : "Server connections opened, by target node.");
		for (int i = 0; i < v->ncounters; i++)
			for (int p = 0; p < CM_STATUS_PORTS; p++)
			{
				char extra[32];

				snprintf(extra, sizeof(extra), ",port=\"%s\"", port_labels[p]);
				if (f == 0)
					snprintf(value, sizeof(value), "%" PRIu32,
							 v->counters[i].active[p]);
				else
					snprintf(value, sizeof(value), "%" PRIu64,
							 v->counters[i].total[p]);
				node_sample(t, name, v->counters[i].key, extra, value);
			}
	}
}

/* One gauge per node, from a value each node gives (or none). */
static void
node_gauge(CmText *t, const CmStatusView *v, const char *name,
		   const char *help, int which)
{
	family(t, name, "gauge", help);
	for (int i = 0; i < v->nnodes; i++)
	{
		const CmStatusNode *n = &v->nodes[i];
		char value[32];

		switch (which)
		{
			case 0:
				snprintf(value, sizeof(value), "%d", n->state.reachable);
				break;
			case 1:
				snprintf(value, sizeof(value), "%d", n->leader);
				break;
			case 2:
				snprintf(value, sizeof(value), "%d", n->in_pool);
				break;
			case 3:
				if (!n->state.reachable)
					continue;
				snprintf(value, sizeof(value), "%d", n->state.in_recovery);
				break;
			case 4:
				if (!n->state.reachable)
					continue;
				snprintf(value, sizeof(value), "%" PRIu32, n->state.timeline);
				break;
			case 5:
				if (n->lag < 0)
					continue;
				snprintf(value, sizeof(value), "%" PRId64, n->lag);
				break;
			default:
				if (!n->state.reachable)
					continue;
				snprintf(value, sizeof(value), "%" PRIu32, n->state.sessions);
				break;
		}
		node_sample(t, name, n->name, "", value);
	}
}

static void
nodes_part(CmText *t, const CmStatusView *v)
{
	char value[32];

	node_gauge(t, v, "node_up", "1 when the node's state was read last round.",
			   0);
	node_gauge(t, v, "node_write_leader", "1 for the write leader.", 1);
	node_gauge(t, v, "node_read_only_pool",
			   "1 for a standby taking read-only sessions.", 2);
	node_gauge(t, v, "node_in_recovery", "1 for a standby, 0 for a primary.", 3);
	node_gauge(t, v, "node_timeline", "The node's current timeline.", 4);
	node_gauge(t, v, "node_lag_bytes",
			   "WAL bytes the node replays behind the write leader.", 5);
	node_gauge(t, v, "node_backend_sessions",
			   "Client backends of the node, as it reported them.", 6);
	for (int f = 0; f < 2; f++)
	{
		const char *name = f == 0 ? "probes_total" : "probe_failures_total";

		family(t, name, "counter",
			   f == 0
				   ? "Reads of the node's state."
				   : "Reads of the node's state that got no valid answer in time.");
		for (int i = 0; i < v->nnodes; i++)
		{
			snprintf(value, sizeof(value), "%" PRIu64,
					 f == 0 ? v->nodes[i].probes : v->nodes[i].failures);
			node_sample(t, name, v->nodes[i].name, "", value);
		}
	}
	family(t, "probe_duration_seconds", "histogram",
		   "How long reading the node's state took, answered reads only.");
	for (int i = 0; i < v->nnodes; i++)
	{
		const CmStatusNode *n = &v->nodes[i];
		uint64_t answered = n->probe_le[CM_PROBE_BUCKETS - 1];

		for (int b = 0; b < CM_PROBE_BUCKETS; b++)
		{
			char extra[32];

			if (b < CM_PROBE_BUCKETS - 1)
				snprintf(extra, sizeof(extra), ",le=\"%g\"",
						 cm_probe_bucket_le(b));
			else
				snprintf(extra, sizeof(extra), ",le=\"+Inf\"");
			snprintf(value, sizeof(value), "%" PRIu64, n->probe_le[b]);
			node_sample(t, "probe_duration_seconds_bucket", n->name, extra,
						value);
		}
		snprintf(value, sizeof(value), "%.6f", n->probe_ms_sum / 1000.0);
		node_sample(t, "probe_duration_seconds_sum", n->name, "", value);
		snprintf(value, sizeof(value), "%" PRIu64, answered);
		node_sample(t, "probe_duration_seconds_count", n->name, "", value);
	}
}

void
cm_metrics_text(const CmStatusView *v, CmText *t)
{
	const CmStatusNode *self = v->self >= 0 ? &v->nodes[v->self] : NULL;

	family(t, "info", "gauge",
		   "Always 1; the labels tell the version and this node's name.");
	cm_text_printf(t, "connection_manager_info{version=\"");
	cm_text_label_value(t, v->version);
	cm_text_puts(t, "\",node=\"");
	cm_text_label_value(t, self ? self->name : "");
	cm_text_puts(t, "\"} 1\n");
	family(t, "write_leader_known", "gauge",
		   "1 when this connection manager knows a write leader.");
	cm_text_printf(t, "connection_manager_write_leader_known %d\n",
				   v->read_write_target[0] != '\0');
	family(t, "is_write_leader", "gauge",
		   "1 when this node is the write leader.");
	cm_text_printf(t, "connection_manager_is_write_leader %d\n",
				   self != NULL && self->leader);
	family(t, "consensus", "gauge",
		   "1 while a majority of the nodes answers (always 1 alone).");
	cm_text_printf(t, "connection_manager_consensus %d\n", v->consensus);
	family(t, "reachable_nodes", "gauge", "Nodes that answered last round.");
	cm_text_printf(t, "connection_manager_reachable_nodes %d\n", v->reachable);
	family(t, "timeline_mark", "gauge", "The highest timeline seen.");
	cm_text_printf(t, "connection_manager_timeline_mark %" PRIu32 "\n",
				   v->timeline_mark);
	family(t, "routing_changes_total", "counter",
		   "Changes of the write leader and of the read-only pool.");
	cm_text_printf(t,
				   "connection_manager_routing_changes_total{kind=\"write_leader\"} "
				   "%" PRIu64 "\n"
				   "connection_manager_routing_changes_total{kind=\"read_only_pool\"} "
				   "%" PRIu64 "\n",
				   v->leader_changes, v->pool_changes);
	family(t, "probe_rounds_total", "counter",
		   "Rounds in which the monitor read the nodes' states.");
	cm_text_printf(t, "connection_manager_probe_rounds_total %" PRIu64 "\n",
				   v->rounds);
	for (int f = 0; f < 2; f++)
	{
		const char *name = f == 0 ? "http_connections_total"
								  : "http_connections_refused_total";
		const uint64_t *count = f == 0 ? v->http_accepted : v->http_refused;

		family(t, name, "counter",
			   f == 0 ? "Connections to the HTTP port, from the nodes' "
						"addresses or others."
					  : "Connections to the HTTP port closed at once: no room.");
		cm_text_printf(t,
					   "connection_manager_%s{from=\"nodes\"} %" PRIu64 "\n"
					   "connection_manager_%s{from=\"others\"} %" PRIu64 "\n",
					   name, count[1], name, count[0]);
	}
	ports_part(t, v);
	targets_part(t, v);
	nodes_part(t, v);
}
