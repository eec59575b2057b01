/*
 * monitor/http_server.c
 *		The HTTP port's connections, served by the monitor: accepting,
 *		reading a request, writing its answer (http_api.c decides it).
 *
 * One request per connection: read the head (at most CM_HTTP_REQUEST_MAX
 * bytes, within CM_HTTP_DEADLINE_MS), write the answer, close; with
 * use_https, all of it inside TLS.  Connections from the addresses of the
 * node list (the other monitors' probes) and from anywhere else each have
 * room for 64: when one more comes, the oldest of its kind that has sent
 * nothing yet is closed, or it is refused when all are busy.  So neither
 * idle nor busy connections from elsewhere can lock the probes out.
 * Nothing here blocks the monitor or raises an error: sockets are
 * non-blocking, memory is asked for without failing, and every answer is
 * built whole in the connection's own buffer.  Each connection has its
 * watch and its deadline's timer in the loop; one closed in a turn is freed
 * after it (cm_http_free_closed), as an event of the turn may still name it.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "cm_guc.h"
#include "cm_http.h"
#include "cm_listener.h"
#include "cm_monitor.h"
#include "cm_sock.h"
#include "cm_tls.h"

#define CM_HTTP_DEADLINE_MS 2000
#define CM_HTTP_BACKLOG		64
/* out of descriptors, the listeners stop accepting for this long */
#define CM_HTTP_ACCEPT_PAUSE_MS 1000
#define CM_HTTP_ANSWER_LIMIT	(4 * 1024 * 1024)

typedef struct HttpConn
{
	CmWatch watch;
	CmTimer deadline; /* closes it, whatever it is doing */
	dlist_node node;
	bool peer;		/* comes from an address of the node list */
	CmTls *tls;		/* HTTPS, or NULL */
	bool handshake; /* the TLS handshake is not done yet */
	size_t in_len;
	char in[CM_HTTP_REQUEST_MAX];
	bool answered; /* out holds the answer */
	CmText out;
	size_t out_sent;
} HttpConn;

static CmAcceptor listeners[CM_HTTP_MAX_LISTENERS];
static int nlisteners = 0;
static dlist_head conns = DLIST_STATIC_INIT(conns);	  /* oldest first */
static dlist_head closed = DLIST_STATIC_INIT(closed); /* to free */
static int nconns[2] = {0, 0};						  /* others, peers */
static bool https = false;
static bool https_waiting = false; /* not served: no certificate at start */

static void conn_close(HttpConn *c);

static const char *
reason_phrase(int status)
{
	switch (status)
	{
		case 200:
			return "OK";
		case 400:
			return "Bad Request";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 414:
			return "URI Too Long";
		case 431:
			return "Request Header Fields Too Large";
		case 503:
			return "Service Unavailable";
		case 505:
			return "HTTP Version Not Supported";
		default:
			return "Internal Server Error";
	}
}

/*
 * Frames a whole answer: status line, headers, and the body unless the
 * request was HEAD (same headers) or OPTIONS (a status for health checks,
 * no body).  An answer too large for its buffer becomes a 500.
 */
static void
conn_frame(HttpConn *c, CmHttpAnswer *a, bool head, bool options)
{
	size_t body_len = options ? 0 : a->body.len;

	if (a->body.overflow)
	{
		cm_text_free(&a->body);
		cm_text_init(&a->body, 64);
		cm_text_puts(&a->body, "answer too large\n");
		a->status = 500;
		a->type = "text/plain";
		a->extra_headers = "";
		body_len = options ? 0 : a->body.len;
	}
	cm_text_init(&c->out, CM_HTTP_ANSWER_LIMIT + 1024);
	cm_text_printf(&c->out,
				   "HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\n"
				   "Content-Length: %zu\r\nCache-Control: no-store\r\n"
				   "X-Content-Type-Options: nosniff\r\n"
				   "Connection: close\r\n\r\n",
				   a->status, reason_phrase(a->status), a->extra_headers,
				   a->type, body_len);
	if (!head && !options && a->body.len > 0)
		cm_text_append(&c->out, a->body.data, a->body.len);
	cm_text_free(&a->body);
	if (c->out.overflow)
	{
		cm_text_free(&c->out);
		cm_text_init(&c->out, 256);
		cm_text_puts(&c->out, "HTTP/1.1 500 Internal Server Error\r\n"
							  "Content-Length: 0\r\nConnection: close\r\n\r\n");
	}
	c->answered = true;
	c->out_sent = 0;
}

/* An answer of the framing layer itself (malformed requests). */
static void
conn_error(HttpConn *c, int status, const char *body)
{
	CmHttpAnswer a;

	memset(&a, 0, sizeof(a));
	cm_text_init(&a.body, 256);
	a.status = status;
	a.type = "text/plain";
	a.extra_headers = "";
	cm_text_puts(&a.body, body);
	conn_frame(c, &a, false, false);
}

static void
conn_write(HttpConn *c)
{
	while (c->out_sent < c->out.len)
	{
		bool again;
		ssize_t n = cm_mon_io(&c->watch, c->tls, true, c->out.data + c->out_sent,
							  c->out.len - c->out_sent, &again);

		if (again)
			return;
		if (n <= 0)
			break;
		c->out_sent += (size_t) n;
	}
	conn_close(c);
}

/* Answers what the request holds so far; eof: the client sent it all. */
static void
conn_route(HttpConn *c, bool eof)
{
	CmHttpRequest req;
	CmHttpAnswer a;

	switch (cm_http_parse_request(c->in, c->in_len, &req))
	{
		case CM_HTTP_INCOMPLETE:
			if (eof)
				conn_close(c);
			return;
		case CM_HTTP_DONE:
			memset(&a, 0, sizeof(a));
			cm_text_init(&a.body, CM_HTTP_ANSWER_LIMIT);
			cm_http_api_route(&req, &a);
			conn_frame(c, &a, req.head, req.options);
			break;
		case CM_HTTP_TOO_LARGE:
			conn_error(c, 431, "request too large\n");
			break;
		case CM_HTTP_URI_LONG:
			conn_error(c, 414, "path or query too long\n");
			break;
		case CM_HTTP_VERSION:
			conn_error(c, 505, "only HTTP/1.0 and HTTP/1.1 are served\n");
			break;
		case CM_HTTP_BAD:
			conn_error(c, 400, "malformed request\n");
			break;
	}
	conn_write(c);
}

static void
conn_read(HttpConn *c)
{
	bool eof = false;

	for (;;)
	{
		bool again;
		ssize_t n;

		if (c->in_len == sizeof(c->in))
			break;
		n = cm_mon_io(&c->watch, c->tls, false, c->in + c->in_len,
					  sizeof(c->in) - c->in_len, &again);
		if (again)
			break;
		if (n < 0)
		{
			conn_close(c); /* reset, or a TLS error */
			return;
		}
		if (n == 0)
		{
			eof = true; /* the client may half-close after its request */
			break;
		}
		c->in_len += (size_t) n;
	}
	conn_route(c, eof);
}

static void
conn_handshake(HttpConn *c)
{
	char err[256];

	switch (cm_tls_handshake(c->tls, err, sizeof(err)))
	{
		case CM_TLS_OK:
			c->handshake = false;
			(void) cm_watch_set(&c->watch, CM_EV_READ);
			conn_read(c); /* the request may have come with the handshake */
			return;
		case CM_TLS_WANT_READ:
			(void) cm_watch_set(&c->watch, CM_EV_READ);
			return;
		case CM_TLS_WANT_WRITE:
			(void) cm_watch_set(&c->watch, CM_EV_WRITE);
			return;
		default:
			conn_close(c);
			return;
	}
}

static void
conn_event(void *arg, uint32 events)
{
	HttpConn *c = arg;

	if (c->handshake)
		conn_handshake(c);
	else if (c->answered)
		conn_write(c);
	else if (events & (CM_EV_READ | CM_EV_WRITE | CM_EV_ERROR))
		conn_read(c);
}

static void
conn_expired(void *arg)
{
	conn_close(arg);
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

	if (c->answered && c->tls == NULL)
	{
		for (int i = 0; i < 16; i++)
		{
			if (recv(c->watch.fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				break;
		}
	}
	if (c->tls)
		cm_tls_free(c->tls); /* close_notify when the handshake was done */
	c->tls = NULL;
	cm_text_free(&c->out);
	cm_watch_remove(&c->watch);
	cm_timer_cancel(&c->deadline);
	close(c->watch.fd);
	c->watch.fd = -1;
	dlist_delete(&c->node);
	nconns[c->peer]--;
	dlist_push_tail(&closed, &c->node);
}

/* Frees the connections closed during the last turn of the loop. */
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

/*
 * Closes the oldest connection of the same kind (peer or not) that has
 * sent nothing yet, if any.
 */
static bool
evict_idle(bool peer)
{
	dlist_iter iter;

	dlist_foreach (iter, &conns)
	{
		HttpConn *c = dlist_container(HttpConn, node, iter.cur);

		if (c->peer == peer && c->in_len == 0 && !c->answered)
		{
			conn_close(c);
			return true;
		}
	}
	return false;
}

/*
 * Takes a connection the acceptor hands over.  Connections from the
 * addresses of the node list (the other monitors' probes) have room of
 * their own, so that a flood from anywhere else, busy or idle, cannot lock
 * the probes out.
 */
static void
conn_accept(void *arg, int fd, const struct sockaddr_storage *addr)
{
	bool peer = cm_mon_is_node_address(addr);
	HttpConn *c;

	(void) arg;
	if (nconns[peer] >= (peer ? CM_HTTP_MAX_PEER_CONNS : CM_HTTP_MAX_CONNS) &&
		!evict_idle(peer))
	{
		close(fd); /* every connection is busy: refuse this one */
		cm_mon_status_count_http(peer, true);
		return;
	}
	c = MemoryContextAllocExtended(TopMemoryContext, sizeof(HttpConn),
								   MCXT_ALLOC_NO_OOM | MCXT_ALLOC_ZERO);
	if (c == NULL)
	{
		close(fd);
		return;
	}
	cm_watch_init(&c->watch, fd, conn_event, c);
	cm_timer_init(&c->deadline, conn_expired, c);
	c->peer = peer;
	if (https)
	{
		c->tls = cm_tls_accept_https(fd);
		c->handshake = true;
	}
	if ((https && c->tls == NULL) || !cm_watch_set(&c->watch, CM_EV_READ))
	{
		if (c->tls)
			cm_tls_free(c->tls);
		close(fd);
		pfree(c);
		return;
	}
	/* the monitor reserved room for every connection's timer */
	(void) cm_timer_set(&c->deadline, cm_now_ms() + CM_HTTP_DEADLINE_MS);
	dlist_push_tail(&conns, &c->node);
	nconns[peer]++;
	cm_mon_status_count_http(peer, false);
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
		if (cm_acceptor_start(&listeners[nlisteners], fd, CM_HTTP_BACKLOG,
							  CM_HTTP_ACCEPT_PAUSE_MS, conn_accept, NULL, NULL))
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
	if (cm_use_https)
	{
		https = cm_tls_load_https();
		https_waiting = !https;
		if (!https)
		{
			ereport(WARNING,
					(errmsg("connection_manager: use_https is on but the server's certificate could not be loaded; the HTTP port is not served"),
					 errhint(
						 "Set ssl_cert_file and ssl_key_file to a certificate and its key, and reload.")));
			return;
		}
	}
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
		ereport(LOG, (errmsg("connection_manager: serving %s on port %d",
							 https ? "HTTPS" : "HTTP", port)));
	list_free(hosts);
	pfree(raw);
}

/*
 * After SIGHUP: with use_https, the certificate is loaded again (a failure
 * keeps the one in use), and a port left unserved for want of one opens.
 */
void
cm_http_reload(void)
{
	if (!cm_use_https)
		return;
	if (https_waiting)
		cm_http_open();
	else
		(void) cm_tls_load_https();
}

void
cm_http_close_all(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &conns)
		conn_close(dlist_container(HttpConn, node, iter.cur));
	for (int i = 0; i < nlisteners; i++)
	{
		cm_acceptor_stop(&listeners[i]);
		close(listeners[i].watch.fd);
	}
	nlisteners = 0;
}
