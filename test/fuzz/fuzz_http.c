/*
 * fuzz_http.c
 *		libFuzzer target for the HTTP framing in src/http_proto.c.  The
 *		input is read both as a request head, as a client sends it to the
 *		monitor, and as a whole answer, as a probe reads it from a node.
 *
 * Beyond "does not crash" (libFuzzer hands over an exactly sized buffer,
 * so AddressSanitizer sees any read past it), it checks what the module
 * promises: a parsed request has a NUL-terminated path that starts with
 * '/', holds no query string and no byte outside printable ASCII, and a
 * method of token characters that HEAD, OPTIONS and other_method
 * describe, a query that is the rest of the target after its "?", and
 * a version of 1.0 or 1.1; an unfinished head is reported incomplete only
 * while it fits.  A parsed request announces no body and has at most one
 * Host: a line "Content-Length: 1", "Transfer-Encoding: chunked" or two
 * Host lines put after its request line makes it refused, while a line of
 * an unknown header changes nothing.  A parsed answer has a status from 100
 * to 599 and a body that is the tail of the buffer, and is refused once a
 * Transfer-Encoding line is put after its status line.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

/*
 * A copy of buf with line put after its first LF (the end of a request or
 * status line); the caller frees it.
 */
static char *
insert_line(const char *buf, size_t len, const char *line, size_t *out_len)
{
	const char *nl = memchr(buf, '\n', len);
	size_t at;
	size_t n = strlen(line);
	char *copy;

	CHECK(nl != NULL);
	at = (size_t) (nl - buf) + 1;
	copy = malloc(len + n);
	memcpy(copy, buf, at);
	memcpy(copy + at, line, n);
	memcpy(copy + at + n, buf + at, len - at);
	*out_len = len + n;
	return copy;
}

/* What a parsed request becomes with one more header line, or lines. */
static CmHttpParse
request_with(const char *buf, size_t len, const char *line, CmHttpRequest *again)
{
	size_t n;
	char *copy = insert_line(buf, len, line, &n);
	CmHttpParse r = cm_http_parse_request(copy, n, again);

	free(copy);
	/* the head may have grown past the bound */
	CHECK(r != CM_HTTP_TOO_LARGE || n > CM_HTTP_REQUEST_MAX);
	return r;
}

static void
check_request(const char *buf, size_t len, CmHttpParse r,
			  const CmHttpRequest *req)
{
	size_t path_len;
	size_t method_len;
	CmHttpRequest again;
	CmHttpParse after;

	CHECK(r == CM_HTTP_INCOMPLETE || r == CM_HTTP_DONE || r == CM_HTTP_BAD ||
		  r == CM_HTTP_TOO_LARGE || r == CM_HTTP_URI_LONG ||
		  r == CM_HTTP_VERSION);
	if (r == CM_HTTP_INCOMPLETE)
		CHECK(len < CM_HTTP_REQUEST_MAX);
	if (r != CM_HTTP_DONE)
	{
		/* nothing half-filled for the caller to misuse */
		CHECK(req->path[0] == '\0' && req->method[0] == '\0' &&
			  req->query[0] == '\0');
		CHECK(!req->head && !req->options && !req->other_method);
		return;
	}

	path_len = strnlen(req->path, sizeof(req->path));
	CHECK(path_len < CM_HTTP_PATH_MAX);
	CHECK(req->path[0] == '/');
	CHECK(strchr(req->path, '?') == NULL);
	for (size_t i = 0; i < path_len; i++)
		CHECK((unsigned char) req->path[i] > 0x20 &&
			  (unsigned char) req->path[i] < 0x7f);

	method_len = strnlen(req->method, sizeof(req->method));
	CHECK(method_len > 0 && method_len < sizeof(req->method));
	CHECK(memcmp(buf, req->method, method_len) == 0 && buf[method_len] == ' ');
	CHECK(memcmp(buf + method_len + 1, req->path, path_len) == 0);
	for (size_t i = 0; i < method_len; i++)
		CHECK((unsigned char) req->method[i] > 0x20 &&
			  (unsigned char) req->method[i] < 0x7f);
	CHECK(req->head == (strcmp(req->method, "HEAD") == 0));
	CHECK(req->options == (strcmp(req->method, "OPTIONS") == 0));
	CHECK(req->other_method ==
		  (!req->head && !req->options && strcmp(req->method, "GET") != 0));

	/* the query is what followed the first "?" of the target, whole */
	{
		size_t query_len = strnlen(req->query, sizeof(req->query));
		const char *after = buf + method_len + 1 + path_len;

		CHECK(query_len < CM_HTTP_QUERY_MAX);
		if (*after == '?')
			CHECK(memcmp(after + 1, req->query, query_len) == 0 &&
				  after[1 + query_len] == ' ');
		else
			CHECK(query_len == 0 && *after == ' ');
	}

	/* more bytes after a complete head change nothing */
	if (len < CM_HTTP_REQUEST_MAX * 2)
	{
		char *longer = malloc(len + 7);

		memcpy(longer, buf, len);
		memcpy(longer + len, "GET / ", 7);
		CHECK(cm_http_parse_request(longer, len + 7, &again) == CM_HTTP_DONE);
		CHECK(strcmp(again.path, req->path) == 0);
		CHECK(strcmp(again.method, req->method) == 0);
		free(longer);
	}

	/* the request line ends in HTTP/1.0 or HTTP/1.1 */
	{
		const char *nl = memchr(buf, '\n', len);
		size_t line_len;

		CHECK(nl != NULL);
		line_len = (size_t) (nl - buf);
		if (line_len > 0 && buf[line_len - 1] == '\r')
			line_len--;
		CHECK(line_len >= 8 + 2 + method_len + path_len);
		CHECK(memcmp(buf + line_len - 9, " HTTP/1.0", 9) == 0 ||
			  memcmp(buf + line_len - 9, " HTTP/1.1", 9) == 0);
	}

	/* no body announced and at most one Host: adding either refuses it */
	if (len < CM_HTTP_REQUEST_MAX * 2)
	{
		static const char *const refused[] = {
			"Content-Length: 1\r\n",
			"Transfer-Encoding: chunked\r\n",
			"Host: a\r\nhost: b\r\n",
		};

		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		{
			after = request_with(buf, len, refused[i], &again);
			CHECK(after == CM_HTTP_BAD || after == CM_HTTP_TOO_LARGE);
			CHECK(again.path[0] == '\0' && again.method[0] == '\0');
		}
		after = request_with(buf, len, "X-Fuzz: 1\r\n", &again);
		CHECK(after == CM_HTTP_DONE || after == CM_HTTP_TOO_LARGE);
		if (after == CM_HTTP_DONE)
		{
			CHECK(strcmp(again.path, req->path) == 0);
			CHECK(strcmp(again.method, req->method) == 0);
			CHECK(again.head == req->head);
			CHECK(again.other_method == req->other_method);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;
	CmHttpRequest req;
	CmHttpParse r;
	int status = -1;
	const char *body = NULL;
	size_t body_len = 0;

	memset(&req, 0x5a, sizeof(req));
	r = cm_http_parse_request(buf, size, &req);
	check_request(buf, size, r, &req);

	if (cm_http_parse_answer(buf, size, &status, &body, &body_len))
	{
		CHECK(status >= 100 && status <= 599);
		CHECK(size <= CM_HTTP_ANSWER_MAX);
		CHECK(body != NULL && body >= buf && body <= buf + size);
		CHECK(body_len == (size_t) (buf + size - body));
		CHECK(memcmp(buf, "HTTP/1.", 7) == 0);
		CHECK(body > buf + 12);
		CHECK(body[-1] == '\n');

		/* read to the close: never chunked */
		{
			size_t n;
			char *copy =
				insert_line(buf, size, "Transfer-Encoding: chunked\r\n", &n);

			CHECK(!cm_http_parse_answer(copy, n, &status, &body, &body_len));
			free(copy);
		}
	}
	return 0;
}
