/*
 * monitor/http_api.c
 *		What the HTTP port answers: PGD's endpoints (under /connection,
 *		/node and /group), the checks Patroni serves to load balancers and
 *		Kubernetes (/primary, /replica?lag=, /health, ...), /status,
 *		/metrics, the status page, and GET /node/state for the other
 *		nodes' monitors.
 *
 * OPTIONS is served like HEAD on every path, and OPTIONS / is Patroni's
 * primary check (HAProxy's "option httpchk" sends it), while GET / is the
 * status page.  Checks answer 200 or 503; a malformed lag is 400.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "cm_guc.h"
#include "cm_http.h"
#include "cm_monitor.h"

#define CM_HTTP_ALLOW "Allow: GET, HEAD, OPTIONS\r\n"
/* The status page loads nothing but /status, and is framed by no one. */
#define CM_HTTP_PAGE_POLICY                                                     \
	"Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; " \
	"style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; "          \
	"form-action 'none'; frame-ancestors 'none'\r\n"

static CmStatusView view; /* large: not on the stack */

static void
answer_text(CmHttpAnswer *a, int status, const char *type, const char *body)
{
	a->status = status;
	a->type = type;
	cm_text_puts(&a->body, body);
}

static void
answer_bool(CmHttpAnswer *a, bool yes)
{
	if (yes)
		answer_text(a, 200, "text/plain", "true");
	else
		answer_text(a, 503, "text/plain", "false");
}

/* A Patroni-style check: its status, and this node's state as the body. */
static void
answer_check(CmHttpAnswer *a, bool yes)
{
	CmStatusView *v = &view;

	cm_mon_status_fill(v);
	a->status = yes ? 200 : 503;
	a->type = "application/json";
	cm_node_check_json(v, &a->body);
}

static bool
ready_rw(void)
{
	return cm_guc_rw_port() > 0 && cm_mon_view.routing.read_write.valid;
}

static bool
ready_ro(void)
{
	return cm_guc_ro_port() > 0 && (cm_mon_view.routing.read_only.valid ||
									cm_mon_view.routing.ro_pool_size > 0);
}

/*
 * The lag limit of a check: -1 when the query gives none; false (and a
 * 400 answer) when it gives one that is not a size.
 */
static bool
lag_limit(const CmHttpRequest *req, CmHttpAnswer *a, int64 *lag)
{
	char value[64];
	int64_t bytes;

	*lag = -1;
	switch (cm_query_param(req->query, "lag", value, sizeof(value)))
	{
		case 0:
			return true;
		case 1:
			break;
		default:
			answer_text(a, 400, "text/plain", "lag is too long\n");
			return false;
	}
	if (!cm_parse_byte_size(value, &bytes))
	{
		answer_text(a, 400, "text/plain",
					"lag must be a number of bytes, with an optional unit: B, kB, MB, GB, TB\n");
		return false;
	}
	*lag = bytes;
	return true;
}

/* The whole view as JSON or metrics text. */
static void
answer_view(CmHttpAnswer *a, bool metrics)
{
	CmStatusView *v = &view;

	cm_mon_status_fill(v);
	a->status = 200;
	if (metrics)
	{
		a->type = "text/plain; version=0.0.4; charset=utf-8";
		cm_metrics_text(v, &a->body);
	}
	else
	{
		a->type = "application/json";
		cm_status_json(v, &a->body);
	}
}

static void
answer_group(CmHttpAnswer *a, bool read_write)
{
	CmStatusView *v = &view;

	cm_mon_status_fill(v);
	a->type = "application/json";
	cm_group_info_json(v, read_write, &a->body);
	/* no write leader is not an answer a client can use */
	a->status = read_write && a->body.len <= 2 ? 503 : 200;
}

/* The Patroni-style checks; false when the path is not one. */
static bool
route_check(const CmHttpRequest *req, CmHttpAnswer *a)
{
	const char *p = req->path;
	int64 lag;

	if (strcmp(p, "/primary") == 0 || strcmp(p, "/read-write") == 0 ||
		strcmp(p, "/leader") == 0 || (strcmp(p, "/") == 0 && req->options))
		answer_check(a, cm_mon_is_leader());
	else if (strcmp(p, "/replica") == 0)
	{
		if (lag_limit(req, a, &lag))
			answer_check(a, cm_mon_is_replica(lag));
	}
	else if (strcmp(p, "/read-only") == 0 || strcmp(p, "/readiness") == 0)
	{
		if (lag_limit(req, a, &lag))
			answer_check(a, cm_mon_is_leader() || cm_mon_is_replica(lag));
	}
	else if (strcmp(p, "/health") == 0)
	{
		const CmStatusNode *self = cm_mon_status_self();

		answer_check(a, self != NULL && self->state.reachable);
	}
	else if (strcmp(p, "/liveness") == 0)
		answer_check(a, cm_mon_is_alive());
	else
		return false;
	return true;
}

void
cm_http_api_route(const CmHttpRequest *req, CmHttpAnswer *a)
{
	const char *p = req->path;

	a->extra_headers = "";
	if (req->other_method)
	{
		a->extra_headers = CM_HTTP_ALLOW;
		answer_text(a, 405, "text/plain",
					"only GET, HEAD and OPTIONS are served\n");
	}
	else if (route_check(req, a))
		return;
	else if (strcmp(p, "/") == 0)
	{
		a->extra_headers = CM_HTTP_PAGE_POLICY;
		answer_text(a, 200, "text/html; charset=utf-8", cm_status_page_html);
	}
	else if (strcmp(p, "/status") == 0)
		answer_view(a, false);
	else if (strcmp(p, "/metrics") == 0)
		answer_view(a, true);
	else if (strcmp(p, "/group/read-write-info") == 0)
		answer_group(a, true);
	else if (strcmp(p, "/group/read-only-info") == 0)
		answer_group(a, false);
	else if (strcmp(p, "/connection/is-live") == 0)
		answer_bool(a, true);
	else if (strcmp(p, "/connection/is-ready") == 0)
		answer_bool(a, ready_rw() || ready_ro());
	else if (strcmp(p, "/connection/is-ready-rw") == 0)
		answer_bool(a, ready_rw());
	else if (strcmp(p, "/connection/is-ready-ro") == 0)
		answer_bool(a, ready_ro());
	else if (strcmp(p, "/node/is-read-write") == 0)
		answer_bool(a, cm_mon_view.self_is_leader);
	else if (strcmp(p, "/node/is-read-only") == 0)
		answer_bool(a, !cm_mon_view.self_is_leader);
	else if (strcmp(p, "/node/state") == 0)
	{
		char json[CM_NODE_STATE_MAX];

		if (cm_node_state_format(&cm_mon_view.self, json, sizeof(json)))
			answer_text(a, 200, "application/json", json);
		else
			answer_text(a, 500, "text/plain", "state too long\n");
	}
	else
		answer_text(a, 404, "text/plain", "not found\n");
}
