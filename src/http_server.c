/*
 * http_server.c
 *		The HTTP port, served by the monitor: health answers for load
 *		balancers and the node's own state for the other nodes' monitors.
 *
 * One request per connection: read the head (at most CM_HTTP_REQUEST_MAX
 * bytes, within CM_HTTP_DEADLINE_MS), write the answer, close.  At most
  * CM_HTTP_MAX_CONNS connections are open; when one more comes, the oldest
 * that has sent nothing yet is closed, so idle connections cannot lock out
 * the other nodes' probes (which send their request at once).
 * Nothing here blocks the monitor or raises an error: sockets are
 * non-blocking, memory is asked for without failing, and every answer is
 * built whole in the connection's own buffer.
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "cm_guc.h"
#include "cm_http.h"
#include "cm_listener.h"
#include "cm_monitor.h"
#include "cm_proxy.h"

#define CM_HTTP_MAX_LISTENERS 16
#define CM_HTTP_MAX_CONNS	  64
#define CM_HTTP_DEADLINE_MS	  2000
#define CM_HTTP_ANSWER_LEN	  2048
#define CM_HTTP_BACKLOG		  64

typedef struct HttpConn
{
	CmMonEvent ev;
	dlist_node node;
	int64 deadline;
	size_t in_len;
	char in[CM_HTTP_REQUEST_MAX];
	bool answered; /* out holds the answer */
	size_t out_len;
	size_t out_sent;
	char out[CM_HTTP_ANSWER_LEN];
} HttpConn;

static CmMonEvent listeners[CM_HTTP_MAX_LISTENERS];
static int nlisteners = 0;
static dlist_head conns = DLIST_STATIC_INIT(conns);	  /* oldest first */
static dlist_head closed = DLIST_STATIC_INIT(closed); /* to free */
static int nconns = 0;
static int64 accept_resume_at = 0; /* out of descriptors: paused till then */

static void conn_close(HttpConn *c);

/*
 * Builds a whole answer: status line, a few headers (and extra ones, each
 * ending in CRLF) and the body.
 */
static void
conn_answer_with(HttpConn *c, int status, const char *reason, const char *extra,
				 const char *type, const char *body, bool head_only)
{
	size_t body_len = strlen(body);
	int n =
		snprintf(c->out, sizeof(c->out),
				 "HTTP/1.1 %d %s\r\n"
				 "%s"
				 "Content-Type: %s\r\n"
				 "Content-Length: %zu\r\n"
				 "Cache-Control: no-store\r\n"
				 "Connection: close\r\n\r\n%s",
				 status, reason, extra, type, body_len, head_only ? "" : body);

	if (n < 0 || (size_t) n >= sizeof(c->out))
		n = snprintf(c->out, sizeof(c->out),
					 "HTTP/1.1 500 Internal Server Error\r\n"
					 "Content-Length: 0\r\nConnection: close\r\n\r\n");
	c->answered = true;
	c->out_len = (size_t) n;
	c->out_sent = 0;
}

static void
conn_answer(HttpConn *c, int status, const char *reason, const char *type,
			const char *body, bool head_only)
{
	conn_answer_with(c, status, reason, "", type, body, head_only);
}

static void
answer_bool(HttpConn *c, bool yes, bool head_only)
{
	if (yes)
		conn_answer(c, 200, "OK", "text/plain", "true", head_only);
	else
		conn_answer(c, 503, "Service Unavailable", "text/plain", "false",
					head_only);
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

static void
route_request(HttpConn *c, const CmHttpRequest *req)
{
	const char *p = req->path;
	bool h = req->head;

	if (req->other_method)
		conn_answer_with(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
						 "text/plain", "only GET and HEAD are served\n", false);
	else if (strcmp(p, "/connection/is-live") == 0)
		answer_bool(c, true, h);
	else if (strcmp(p, "/connection/is-ready") == 0)
		answer_bool(c, ready_rw() || ready_ro(), h);
	else if (strcmp(p, "/connection/is-ready-rw") == 0)
		answer_bool(c, ready_rw(), h);
	else if (strcmp(p, "/connection/is-ready-ro") == 0)
		answer_bool(c, ready_ro(), h);
	else if (strcmp(p, "/node/is-read-write") == 0)
		answer_bool(c, cm_mon_view.self_is_leader, h);
	else if (strcmp(p, "/node/is-read-only") == 0)
		answer_bool(c, !cm_mon_view.self_is_leader, h);
	else if (strcmp(p, "/node/state") == 0)
	{
		char json[CM_NODE_STATE_MAX];

		if (cm_node_state_format(&cm_mon_view.self, json, sizeof(json)))
			conn_answer(c, 200, "OK", "application/json", json, h);
		else
			conn_answer(c, 500, "Internal Server Error", "text/plain",
						"state too long\n", h);
	}
	else
		conn_answer(c, 404, "Not Found", "text/plain", "not found\n", h);
}

static void
conn_write(HttpConn *c)
{
	while (c->out_sent < c->out_len)
	{
		ssize_t n = send(c->ev.fd, c->out + c->out_sent,
						 c->out_len - c->out_sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			cm_mon_modify(&c->ev, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;
		c->out_sent += (size_t) n;
	}
	conn_close(c);
}

static void
conn_read(HttpConn *c)
{
	CmHttpRequest req;
	bool eof = false;

	for (;;)
	{
		ssize_t n;

		if (c->in_len == sizeof(c->in))
			break;
		n = recv(c->ev.fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
		{
			conn_close(c); /* reset */
			return;
		}
		if (n == 0)
		{
			eof = true; /* the client may half-close after its request */
			break;
		}
		c->in_len += (size_t) n;
	}
	switch (cm_http_parse_request(c->in, c->in_len, &req))
	{
		case CM_HTTP_INCOMPLETE:
			if (eof)
				conn_close(c);
			return;
		case CM_HTTP_DONE:
			route_request(c, &req);
			break;
		case CM_HTTP_TOO_LARGE:
			conn_answer(c, 431, "Request Header Fields Too Large",
						"text/plain", "request too large\n", false);
			break;
		case CM_HTTP_URI_LONG:
			conn_answer(c, 414, "URI Too Long", "text/plain",
						"path too long\n", false);
			break;
		case CM_HTTP_VERSION:
			conn_answer(c, 505, "HTTP Version Not Supported", "text/plain",
						"only HTTP/1.0 and HTTP/1.1 are served\n", false);
			break;
		case CM_HTTP_BAD:
			conn_answer(c, 400, "Bad Request", "text/plain",
						"malformed request\n", false);
			break;
	}
	conn_write(c);
}

static void
conn_event(CmMonEvent *ev, uint32 events)
{
	HttpConn *c = (HttpConn *) ev;

	if (c->answered)
		conn_write(c);
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

/*
 * Closes a connection.  Request bytes still unread (a body, a pipelined
 * request) are read away first, as far as they have arrived, so that the
 * close does not reset the connection under the answer.
 */
static void
conn_close(HttpConn *c)
{
	char sink[4096];

	if (c->answered)
	{
		for (int i = 0; i < 16; i++)
		{
			if (recv(c->ev.fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				break;
		}
	}
	cm_mon_forget(&c->ev);
	dlist_delete(&c->node);
	nconns--;
	/* an event for it may still wait in the batch being dispatched */
	c->ev.handler = NULL;
	dlist_push_tail(&closed, &c->node);
}

/* Frees the connections closed during the last batch of events. */
void
cm_http_free_closed(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &closed)
	{
		dlist_delete(iter.cur);
		pfree(dlist_container(HttpConn, node, iter.cur));
	}
}

/* Closes the oldest connection that has sent nothing yet, if any. */
static bool
evict_idle(void)
{
	dlist_iter iter;

	dlist_foreach (iter, &conns)
	{
		HttpConn *c = dlist_container(HttpConn, node, iter.cur);

		if (c->in_len == 0 && !c->answered)
		{
			conn_close(c);
			return true;
		}
	}
	return false;
}

static void
pause_accepting(void)
{
	for (int i = 0; i < nlisteners; i++)
		cm_mon_modify(&listeners[i], 0);
	accept_resume_at = cm_now_ms() + 1000;
}

static void
listener_event(CmMonEvent *ev, uint32 events)
{
	(void) events;
	for (int i = 0; i < CM_HTTP_BACKLOG; i++)
	{
		int fd = accept4(ev->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		HttpConn *c;

		if (fd < 0)
		{
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				errno == ENOMEM)
				pause_accepting(); /* else the loop would spin on it */
			return;				   /* EAGAIN, or an error to retry */
		}
		if (nconns >= CM_HTTP_MAX_CONNS && !evict_idle())
		{
			close(fd); /* every connection is busy: refuse this one */
			continue;
		}
		c = MemoryContextAllocExtended(TopMemoryContext, sizeof(HttpConn),
									   MCXT_ALLOC_NO_OOM | MCXT_ALLOC_ZERO);
		if (c == NULL)
		{
			close(fd);
			continue;
		}
		c->ev.fd = fd;
		c->ev.handler = conn_event;
		c->deadline = cm_now_ms() + CM_HTTP_DEADLINE_MS;
		if (!cm_mon_watch(&c->ev, EPOLLIN))
		{
			close(fd);
			pfree(c);
			continue;
		}
		dlist_push_tail(&conns, &c->node);
		nconns++;
	}
}

static void
open_one(const char *host, int port)
{
	struct addrinfo *res = cm_listen_resolve(host, port);

	if (res == NULL)
		return;
	for (struct addrinfo *ai = res; ai && nlisteners < CM_HTTP_MAX_LISTENERS;
		 ai = ai->ai_next)
	{
		int one = 1;
		int fd = socket(ai->ai_family,
						ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
			listen(fd, CM_HTTP_BACKLOG) < 0)
		{
			ereport(LOG,
					(errmsg("connection_manager: could not listen for HTTP on \"%s\" port %d: %m",
							host, port),
					 errhint(
						 "Is another program using the port?  Other nodes cannot read this node's state without it.")));
			close(fd);
			continue;
		}
		listeners[nlisteners].fd = fd;
		listeners[nlisteners].handler = listener_event;
		if (cm_mon_watch(&listeners[nlisteners], EPOLLIN))
			nlisteners++;
		else
			close(fd);
	}
	freeaddrinfo(res);
}

void
cm_http_open(void)
{
	int port = cm_guc_http_port();
	char *raw;
	List *hosts = NIL;
	ListCell *lc;

	if (port <= 0)
		return;
	raw = pstrdup(cm_guc_listen_addresses());
	if (!SplitGUCList(raw, ',', &hosts))
	{
		ereport(LOG,
				(errmsg(
					"connection_manager: listen_addresses is not a valid list; the HTTP port is not served")));
		pfree(raw);
		return;
	}
	foreach (lc, hosts)
		open_one((const char *) lfirst(lc), port);
	if (nlisteners > 0)
		ereport(LOG,
				(errmsg("connection_manager: serving HTTP on port %d", port)));
	list_free(hosts);
	pfree(raw);
}

void
cm_http_close_all(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &conns)
		conn_close(dlist_container(HttpConn, node, iter.cur));
	for (int i = 0; i < nlisteners; i++)
		cm_mon_forget(&listeners[i]);
	nlisteners = 0;
}

void
cm_http_check_timeouts(int64 now)
{
	dlist_mutable_iter iter;

	if (accept_resume_at != 0 && now >= accept_resume_at)
	{
		for (int i = 0; i < nlisteners; i++)
			cm_mon_modify(&listeners[i], EPOLLIN);
		accept_resume_at = 0;
	}
	dlist_foreach_modify (iter, &conns)
	{
		HttpConn *c = dlist_container(HttpConn, node, iter.cur);

		if (now >= c->deadline)
			conn_close(c);
	}
}
