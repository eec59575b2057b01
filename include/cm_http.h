/*
 * cm_http.h
 *		HTTP/1.1 framing for the monitor: the requests it serves and the
 *		answers its probes read.  Pure code, fuzzed: every length is checked
 *		against the bytes actually held.
 *
 * The server answers one request per connection and closes it, so only
 * the request line matters; headers are bounded and checked for shape, an
 * HTTP/1.1 request needs exactly one Host, and a request announcing a body
 * (Content-Length above 0, any Transfer-Encoding) is refused.  A probe
 * reads the whole answer until the peer closes and then splits it into
 * status and body.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define CM_HTTP_REQUEST_MAX 8192 /* request line and headers */
#define CM_HTTP_PATH_MAX	256
#define CM_HTTP_QUERY_MAX	512
#define CM_HTTP_ANSWER_MAX	16384 /* what a probe reads at most */

typedef enum CmHttpParse
{
	CM_HTTP_INCOMPLETE, /* no end of headers yet */
	CM_HTTP_DONE,
	CM_HTTP_BAD,	   /* 400 */
	CM_HTTP_TOO_LARGE, /* 431 */
	CM_HTTP_URI_LONG,  /* 414: the path or the query is too long */
	CM_HTTP_VERSION	   /* 505 */
} CmHttpParse;

typedef struct CmHttpRequest
{
	bool head;	  /* HEAD rather than GET */
	bool options; /* OPTIONS: a health check that reads the status only */
	bool other_method;
	char method[16];
	char path[CM_HTTP_PATH_MAX];   /* without the query string */
	char query[CM_HTTP_QUERY_MAX]; /* after the "?", as sent */
} CmHttpRequest;

/* Reads a request head from the len bytes received so far. */
extern CmHttpParse
cm_http_parse_request(const char *buf, size_t len, CmHttpRequest *out);

/*
 * Splits a complete answer into its status code and body; false when it
 * is not a well-formed HTTP/1.x answer, or its Content-Length disagrees.
 */
extern bool cm_http_parse_answer(const char *buf, size_t len, int *status,
								 const char **body, size_t *body_len);

#endif /* CM_HTTP_H */
