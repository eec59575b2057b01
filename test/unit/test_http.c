/*
 * test_http.c
 *		Unit tests of the HTTP framing (src/pure/http_proto.c): the requests the
 *		monitor serves and the answers its probes read.
 *
 * Every parse reads an exactly sized heap copy of its input, so that
 * AddressSanitizer sees any read past the bytes given.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_http.h"
#include "tap.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CmHttpRequest req;

static CmHttpParse
request_n(const char *text, size_t len)
{
	char *copy = malloc(len ? len : 1);
	CmHttpParse r;

	memcpy(copy, text, len);
	memset(&req, 0x5a, sizeof(req));
	r = cm_http_parse_request(copy, len, &req);
	free(copy);
	return r;
}

static CmHttpParse
request(const char *text)
{
	return request_n(text, strlen(text));
}

static int status;
static char body[CM_HTTP_ANSWER_MAX + 1];
static size_t body_len;

/* Parses an answer; body and body_len get a copy of the body found. */
static bool
answer_n(const char *text, size_t len)
{
	char *copy = malloc(len ? len : 1);
	const char *b = NULL;
	bool r;

	memcpy(copy, text, len);
	status = -1;
	body_len = (size_t) -1;
	body[0] = '\0';
	r = cm_http_parse_answer(copy, len, &status, &b, &body_len);
	if (r)
	{
		if (b < copy || b > copy + len || body_len != (size_t) (copy + len - b))
		{
			/* not where it must be: fail the caller's test */
			free(copy);
			status = -2;
			return false;
		}
		memcpy(body, b, body_len);
		body[body_len] = '\0';
	}
	free(copy);
	return r;
}

static bool
answer(const char *text)
{
	return answer_n(text, strlen(text));
}

static void
test_request_ok(void)
{
	is_int(request("GET /node/state HTTP/1.1\r\nHost: 10.0.0.1:6434\r\n"
				   "User-Agent: connection_manager\r\nAccept: */*\r\n\r\n"),
		   CM_HTTP_DONE, "GET with CRLF");
	is_str(req.method, "GET", "method");
	is_str(req.path, "/node/state", "path");
	ok(!req.head, "not HEAD");
	ok(!req.other_method, "not another method");

	is_int(request("HEAD /connection/is-live HTTP/1.0\r\n\r\n"), CM_HTTP_DONE,
		   "HEAD without headers, HTTP/1.0");
	is_str(req.method, "HEAD", "HEAD method");
	is_str(req.path, "/connection/is-live", "HEAD path");
	ok(req.head, "head set");
	ok(!req.other_method, "HEAD is not another method");

	is_int(request("GET /status HTTP/1.0\nHost: x\n\n"), CM_HTTP_DONE,
		   "bare LF, HTTP/1.0");
	is_str(req.path, "/status", "bare LF path");
	is_int(request("GET / HTTP/1.0\n\n"), CM_HTTP_DONE, "bare LF, no header");
	is_str(req.path, "/", "root path");
	is_int(request("GET / HTTP/1.1\r\nHost: h\nA: b\n\r\n"), CM_HTTP_DONE,
		   "CRLF and LF mixed");
	is_int(request("GET / HTTP/1.1\nA: b\r\nHost: h\r\n\n"), CM_HTTP_DONE,
		   "LF and CRLF mixed");

	is_int(request("GET /status?verbose=1&x HTTP/1.1\r\nHost: h\r\n\r\n"),
		   CM_HTTP_DONE, "query string");
	is_str(req.path, "/status", "query stripped");
	is_str(req.query, "verbose=1&x", "query kept apart");
	is_int(request("GET /?a?b HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_DONE,
		   "two question marks");
	is_str(req.path, "/", "stripped at the first");
	is_str(req.query, "a?b", "the query is the rest");
	is_int(request("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_DONE,
		   "empty query");
	is_str(req.path, "/a", "path before an empty query");
	is_str(req.query, "", "no query");
	is_int(request("GET /replica HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_DONE,
		   "no question mark");
	is_str(req.query, "", "no query either");
	is_int(request("GET /a%20b/c;d=e HTTP/1.1\r\nHost: h\r\n\r\n"),
		   CM_HTTP_DONE, "escapes and semicolons kept");
	is_str(req.path, "/a%20b/c;d=e", "path as sent");

	is_int(request("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\ta\tb \r\n"
				   "Content-Length: 0\r\n!#$%&'*+-.^_`|~09az: v\r\n\r\n"),
		   CM_HTTP_DONE, "empty value, tabs, Content-Length, token name");
	is_int(request("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n"),
		   CM_HTTP_DONE, "non-ASCII bytes in a header value");
	is_int(request("GET / HTTP/1.1\r\nHost: h\r\n\r\nbody bytes\r\n\r\nmore"),
		   CM_HTTP_DONE, "bytes after the head ignored");
	is_str(req.path, "/", "path from the head");
}

static void
test_request_incomplete(void)
{
	static const char full[] =
		"GET /node/state HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
	static const char full_lf[] = "GET /x HTTP/1.1\nHost: h\n\n";
	bool all = true;

	is_int(request_n("", 0), CM_HTTP_INCOMPLETE, "nothing yet");
	is_int(request("GET / HTTP/1.1\r\nHost: h\r\n"), CM_HTTP_INCOMPLETE,
		   "request line only");
	is_int(request("GET / HTTP/1.1\r\nHost: h\r\n\r"), CM_HTTP_INCOMPLETE,
		   "CR of the blank line only");
	is_int(request("GET / HTTP/1.1"), CM_HTTP_INCOMPLETE, "no line end");
	is_str(req.path, "", "nothing reported for an incomplete request");
	is_str(req.method, "", "no method reported either");

	for (size_t i = 0; i < sizeof(full) - 1; i++)
		all &= request_n(full, i) == CM_HTTP_INCOMPLETE;
	ok(all, "every proper prefix of a CRLF request is incomplete");
	is_int(request_n(full, sizeof(full) - 1), CM_HTTP_DONE, "whole: done");
	all = true;
	for (size_t i = 0; i < sizeof(full_lf) - 1; i++)
		all &= request_n(full_lf, i) == CM_HTTP_INCOMPLETE;
	ok(all, "every proper prefix of an LF request is incomplete");
	is_int(request_n(full_lf, sizeof(full_lf) - 1), CM_HTTP_DONE, "whole: done");
}

static void
test_request_large(void)
{
	char *buf = malloc(CM_HTTP_REQUEST_MAX * 2);
	const char *line = "GET / HTTP/1.1\r\nHost: h\r\n";
	size_t o;
	char path[CM_HTTP_QUERY_MAX + 64];

	/* no end of head within the limit */
	memset(buf, 'a', CM_HTTP_REQUEST_MAX * 2);
	memcpy(buf, line, strlen(line));
	memcpy(buf + strlen(line), "X: ", 3);
	is_int(request_n(buf, CM_HTTP_REQUEST_MAX - 1), CM_HTTP_INCOMPLETE,
		   "%d bytes and no end: still incomplete", CM_HTTP_REQUEST_MAX - 1);
	is_int(request_n(buf, CM_HTTP_REQUEST_MAX), CM_HTTP_TOO_LARGE,
		   "%d bytes and no end: too large", CM_HTTP_REQUEST_MAX);
	is_int(request_n(buf, CM_HTTP_REQUEST_MAX * 2), CM_HTTP_TOO_LARGE,
		   "%d bytes and no end: too large", CM_HTTP_REQUEST_MAX * 2);

	/* a head of exactly the limit, and one byte over */
	o = CM_HTTP_REQUEST_MAX - 4;
	memcpy(buf + o, "\r\n\r\n", 4);
	is_int(request_n(buf, CM_HTTP_REQUEST_MAX), CM_HTTP_DONE,
		   "head of %d bytes", CM_HTTP_REQUEST_MAX);
	memset(buf + o, 'a', 4);
	memcpy(buf + o + 1, "\r\n\r\n", 4);
	is_int(request_n(buf, CM_HTTP_REQUEST_MAX + 1), CM_HTTP_TOO_LARGE,
		   "head of %d bytes", CM_HTTP_REQUEST_MAX + 1);
	memset(buf + o + 1, 'a', 4);
	memcpy(buf + o - 1, "\n\n", 2);
	is_int(request_n(buf, CM_HTTP_REQUEST_MAX + 1), CM_HTTP_DONE,
		   "LF head of %d bytes, more bytes after it", CM_HTTP_REQUEST_MAX);

	/* paths: 255 bytes fit, 256 do not */
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET %.*s HTTP/1.1\r\nHost: h\r\n\r\n",
			 CM_HTTP_PATH_MAX - 1, path);
	is_int(request(buf), CM_HTTP_DONE, "path of %d bytes", CM_HTTP_PATH_MAX - 1);
	is_int(strlen(req.path), CM_HTTP_PATH_MAX - 1, "path kept whole");
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET %.*s HTTP/1.1\r\nHost: h\r\n\r\n",
			 CM_HTTP_PATH_MAX, path);
	is_int(request(buf), CM_HTTP_URI_LONG, "path of %d bytes", CM_HTTP_PATH_MAX);
	is_str(req.path, "", "no path reported");
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET /?%.*s HTTP/1.1\r\nHost: h\r\n\r\n",
			 CM_HTTP_PATH_MAX + 32, path);
	is_int(request(buf), CM_HTTP_DONE, "long query after a short path");
	is_str(req.path, "/", "query stripped");
	is_int(strlen(req.query), CM_HTTP_PATH_MAX + 32, "and kept whole");
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET /?%.*s HTTP/1.1\r\nHost: h\r\n\r\n",
			 CM_HTTP_QUERY_MAX - 1, path);
	is_int(request(buf), CM_HTTP_DONE, "query of %d bytes",
		   CM_HTTP_QUERY_MAX - 1);
	snprintf(buf, CM_HTTP_REQUEST_MAX,
			 "GET /?%.*s HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_QUERY_MAX, path);
	is_int(request(buf), CM_HTTP_URI_LONG, "query of %d bytes",
		   CM_HTTP_QUERY_MAX);
	is_str(req.query, "", "no query reported");
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET %.*s?q HTTP/1.1\r\nHost: h\r\n\r\n",
			 CM_HTTP_PATH_MAX - 1, path);
	is_int(request(buf), CM_HTTP_DONE, "path of %d bytes and a query",
		   CM_HTTP_PATH_MAX - 1);
	free(buf);
}

static void
test_request_bad(void)
{
	static const struct
	{
		const char *text;
		CmHttpParse want;
		const char *why;
	} cases[] = {
		{"\r\n\r\n", CM_HTTP_BAD, "empty request line"},
		{"\n\n", CM_HTTP_BAD, "empty request line, LF"},
		{"GET\r\n\r\n", CM_HTTP_BAD, "method only"},
		{"GET /\r\n\r\n", CM_HTTP_BAD, "no version"},
		{"GET / \r\n\r\n", CM_HTTP_BAD, "empty version"},
		{"GET / \n\n", CM_HTTP_BAD, "empty version, LF"},
		{"GET / H\n\n", CM_HTTP_BAD, "version of one byte"},
		{"GET / HT\n\n", CM_HTTP_BAD, "version of two bytes"},
		{"GET / HTTP\n\n", CM_HTTP_BAD, "version of four bytes"},
		{"GET / HTTP/\n\n", CM_HTTP_VERSION, "HTTP/ and nothing"},
		{" / HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD, "no method"},
		{"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD, "two spaces"},
		{"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD,
		 "two spaces after the path"},
		{"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", CM_HTTP_VERSION,
		 "space after the version"},
		{"GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", CM_HTTP_VERSION,
		 "words after the version"},
		{"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD, "tab as separator"},
		{"GET x HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD,
		 "path not starting with /"},
		{"GET * HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD, "asterisk form"},
		{"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD,
		 "absolute form"},
		{"GET / http/1.1\r\n\r\n", CM_HTTP_BAD, "lower-case version"},
		{"GET / FOO/1.1\r\n\r\n", CM_HTTP_BAD, "not HTTP"},
		{"GET / HTTP1.1\r\n\r\n", CM_HTTP_BAD, "no slash in the version"},
		{"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD, "( in the method"},
		{"G\x01T / HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD,
		 "control in the method"},
		{"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD,
		 "control in the path"},
		{"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD,
		 "DEL in the path"},
		{"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD,
		 "UTF-8 in the path"},
		{"GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", CM_HTTP_BAD, "CR in the path"},
		{"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", CM_HTTP_BAD,
		 "header, no colon"},
		{"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", CM_HTTP_BAD,
		 "empty header name"},
		{"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", CM_HTTP_BAD,
		 "space in a header name"},
		{"GET / HTTP/1.1\r\nHost : v\r\n\r\n", CM_HTTP_BAD,
		 "space before the colon"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX(: v\r\n\r\n", CM_HTTP_BAD,
		 "( in a header name"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: v\r\n\r\n", CM_HTTP_BAD,
		 "UTF-8 in a header name"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", CM_HTTP_BAD,
		 "control in a header value"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", CM_HTTP_BAD,
		 "CR inside a header value"},
		{"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n continued\r\n\r\n",
		 CM_HTTP_BAD, "obsolete line folding"},
		{"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n",
		 CM_HTTP_BAD, "Content-Length twice"},
		{"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n", CM_HTTP_BAD,
		 "Content-Length not a number"},
		{"GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", CM_HTTP_BAD,
		 "Content-Length empty"},
		{"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
		 CM_HTTP_BAD, "Content-Length of two numbers"},
		{"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
		 CM_HTTP_BAD, "Content-Length negative"},
		{"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		 CM_HTTP_BAD, "Content-Length overflowing"},
		{"GET / HTTP/2.0\r\n\r\n", CM_HTTP_VERSION, "HTTP/2.0"},
		{"GET / HTTP/2\r\n\r\n", CM_HTTP_VERSION, "HTTP/2"},
		{"GET / HTTP/1.2\r\n\r\n", CM_HTTP_VERSION, "HTTP/1.2"},
		{"GET / HTTP/1.x\r\n\r\n", CM_HTTP_VERSION, "HTTP/1.x"},
		{"GET / HTTP/1.10\r\n\r\n", CM_HTTP_VERSION, "HTTP/1.10"},
		{"GET / HTTP/0.9\r\n\r\n", CM_HTTP_VERSION, "HTTP/0.9"},
		{"GET / HTTP/3.0\n\n", CM_HTTP_VERSION, "HTTP/3.0, LF"},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", CM_HTTP_BAD,
		 "HTTP/2 preface: no / path"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		is_int(request(cases[i].text), cases[i].want, "%s", cases[i].why);
		ok(req.path[0] == '\0' && req.method[0] == '\0' && !req.head &&
			   !req.other_method,
		   "nothing reported: %s", cases[i].why);
	}

	/* methods: 15 bytes fit, 16 do not */
	is_int(request("ABCDEFGHIJKLMNO / HTTP/1.1\r\nHost: h\r\n\r\n"),
		   CM_HTTP_DONE, "method of 15 bytes");
	is_str(req.method, "ABCDEFGHIJKLMNO", "kept whole");
	ok(req.other_method, "another method");
	is_int(request("ABCDEFGHIJKLMNOP / HTTP/1.1\r\nHost: h\r\n\r\n"),
		   CM_HTTP_BAD, "method of 16 bytes");
}

static void
test_request_methods(void)
{
	static const char *const others[] = {"POST",   "PUT",	  "DELETE",
										 "get",	   "Head",	  "GETX",
										 "HEADER", "options", "M-SEARCH"};

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
	{
		char buf[128];

		snprintf(buf, sizeof(buf), "%s /status HTTP/1.1\r\nHost: h\r\n\r\n",
				 others[i]);
		is_int(request(buf), CM_HTTP_DONE, "%s parsed", others[i]);
		ok(req.other_method && !req.head, "%s flagged as another method",
		   others[i]);
		is_str(req.method, others[i], "%s kept", others[i]);
		is_str(req.path, "/status", "%s path", others[i]);
	}
	is_int(request("OPTIONS /primary HTTP/1.0\r\n\r\n"), CM_HTTP_DONE,
		   "OPTIONS parsed");
	ok(req.options && !req.head && !req.other_method,
	   "OPTIONS is a health check, not another method");
}

/* A literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

typedef struct RequestCase
{
	const char *text;
	size_t len;
	CmHttpParse want;
	const char *why;
} RequestCase;

/* Parses each case; one refused must leave nothing reported. */
static void
run_cases(const RequestCase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		is_int(request_n(cases[i].text, cases[i].len), cases[i].want, "%s",
			   cases[i].why);
		if (cases[i].want != CM_HTTP_DONE)
			ok(req.path[0] == '\0' && req.method[0] == '\0' && !req.head &&
				   !req.other_method,
			   "nothing reported: %s", cases[i].why);
	}
}

/* H3: HTTP/1.1 needs exactly one Host, whatever the case of its name. */
static void
test_request_host(void)
{
	static const RequestCase cases[] = {
		{LIT("GET /status HTTP/1.1\r\n\r\n"), CM_HTTP_BAD, "1.1 without Host"},
		{LIT("GET /status HTTP/1.1\nAccept: */*\n\n"), CM_HTTP_BAD,
		 "1.1 with headers but no Host"},
		{LIT("GET /status HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n"),
		 CM_HTTP_BAD, "two Host lines, same value"},
		{LIT("GET /status HTTP/1.1\r\nHost: a\r\nX: y\r\nhost: b\r\n\r\n"),
		 CM_HTTP_BAD, "two Host lines, other case, apart"},
		{LIT("GET /status HTTP/1.1\r\nHost: a\r\nHost: a\r\nHost: a\r\n\r\n"),
		 CM_HTTP_BAD, "three Host lines"},
		{LIT("GET /status HTTP/1.1\r\nHOST: h\r\n\r\n"), CM_HTTP_DONE,
		 "HOST in upper case, once"},
		{LIT("GET /status HTTP/1.1\r\nhost: h\r\n\r\n"), CM_HTTP_DONE,
		 "host in lower case, once"},
		{LIT("GET /status HTTP/1.1\r\nhOsT:h\r\n\r\n"), CM_HTTP_DONE,
		 "hOsT in mixed case, no blank, once"},
		{LIT("GET /status HTTP/1.1\r\nHost:\r\n\r\n"), CM_HTTP_DONE,
		 "Host with an empty value counts as the one Host"},
		{LIT("GET /status HTTP/1.1\r\nHost: a\r\nX-Forwarded-Host: b\r\n\r\n"),
		 CM_HTTP_DONE, "X-Forwarded-Host is not a second Host"},
		{LIT("GET /status HTTP/1.1\r\nX-Host: h\r\n\r\n"), CM_HTTP_BAD,
		 "X-Host is no Host"},
		{LIT("GET /status HTTP/1.1\r\nHosts: h\r\n\r\n"), CM_HTTP_BAD,
		 "Hosts is no Host"},
		{LIT("GET /status HTTP/1.1\r\nHos: h\r\n\r\n"), CM_HTTP_BAD,
		 "Hos is no Host"},
		{LIT("GET /status HTTP/1.1\r\nX: Host: h\r\n\r\n"), CM_HTTP_BAD,
		 "Host inside a value is no Host"},
		{LIT("GET /status HTTP/1.1\r\n\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "Host after the end of the head does not count"},
		{LIT("GET /status HTTP/1.1\r\nHost: h\r\n\r\nHost: h\r\n\r\n"),
		 CM_HTTP_DONE, "a second Host after the head does not count"},
		/* H12: HTTP/1.0 needs none, but two are still refused */
		{LIT("GET /status HTTP/1.0\r\n\r\n"), CM_HTTP_DONE, "1.0 without Host"},
		{LIT("GET /status HTTP/1.0\r\nHost: h\r\n\r\n"), CM_HTTP_DONE,
		 "1.0 with one Host"},
		{LIT("GET /status HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n"),
		 CM_HTTP_BAD, "1.0 with two Host lines"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
	is_int(request("HEAD /connection/is-ready HTTP/1.1\r\nHOST: h\r\n\r\n"),
		   CM_HTTP_DONE, "HEAD with HOST");
	is_str(req.path, "/connection/is-ready", "its path");
	ok(req.head && !req.other_method, "its method");
	is_int(request("GET /status HTTP/1.0\n\n"), CM_HTTP_DONE,
		   "1.0, bare LF, no Host");
	is_str(req.method, "GET", "1.0 method");
	is_str(req.path, "/status", "1.0 path");
}

/* H8: no request served has a body, so one announced is refused. */
static void
test_request_body(void)
{
	static const RequestCase cases[] = {
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
		 CM_HTTP_DONE, "Content-Length: 0"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\ncontent-length:0\r\n\r\n"),
		 CM_HTTP_DONE, "content-length:0, lower case, no blank"},
		{LIT("GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"), CM_HTTP_DONE,
		 "Content-Length: 0, HTTP/1.0"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 5"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"),
		 CM_HTTP_BAD, "Content-Length: 5 and its body sent"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 1"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nCONTENT-LENGTH: 1\r\n\r\n"),
		 CM_HTTP_BAD, "CONTENT-LENGTH: 1, upper case"},
		{LIT("GET / HTTP/1.0\r\nContent-Length: 5\r\n\r\n"), CM_HTTP_BAD,
		 "Content-Length: 5, HTTP/1.0"},
		{LIT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"),
		 CM_HTTP_BAD, "POST with a body"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 16384\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 16384"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length empty"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length:  \t\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length blank"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: -1"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -0\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: -0"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 1, 2"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 0\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 0, 0"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x0\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length in hexadecimal"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
			 "Content-Length: 0\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 0 twice"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
			 "content-length: 5\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length 0 then 5"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
			 "Content-Length: 0\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length 5 then 0"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "0\r\n\r\n"),
		 CM_HTTP_BAD, "Transfer-Encoding: chunked"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
			 "Content-Length: 0\r\n\r\n"),
		 CM_HTTP_BAD, "Transfer-Encoding: chunked and Content-Length: 0"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 0 then Transfer-Encoding: chunked"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length: 5 and Transfer-Encoding: chunked"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n"),
		 CM_HTTP_BAD, "Transfer-Encoding: identity"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: CHUNKED\r\n\r\n"),
		 CM_HTTP_BAD, "transfer-encoding, lower-case name"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nTRANSFER-ENCODING: gzip, chunked"
			 "\r\n\r\n"),
		 CM_HTTP_BAD, "TRANSFER-ENCODING: gzip, chunked"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"),
		 CM_HTTP_BAD, "Transfer-Encoding with an empty value"},
		{LIT("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
		 CM_HTTP_BAD, "Transfer-Encoding, HTTP/1.0"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n"),
		 CM_HTTP_BAD, "Transfer-Encoding with a space before the colon"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX-Transfer-Encoding: chunked\r\n"
			 "X-Content-Length: 5\r\n\r\n"),
		 CM_HTTP_DONE, "look-alike header names are not framing"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* The order of the checks: size, request line, path length, headers. */
static void
test_request_order(void)
{
	char *buf = malloc(CM_HTTP_REQUEST_MAX * 2);
	char path[CM_HTTP_PATH_MAX + 1];
	size_t n;

	memset(path, 'p', sizeof(path));
	path[0] = '/';

	n = (size_t) snprintf(buf, CM_HTTP_REQUEST_MAX,
						  "GET %.*s HTTP/1.1\r\nContent-Length: 5\r\n"
						  "Transfer-Encoding: chunked\r\n\r\n",
						  CM_HTTP_PATH_MAX, path);
	is_int(request_n(buf, n), CM_HTTP_URI_LONG,
		   "long path before Host, Content-Length and Transfer-Encoding");
	n = (size_t) snprintf(buf, CM_HTTP_REQUEST_MAX,
						  "GET %.*s HTTP/1.1\r\nBad Name: x\r\n\r\n",
						  CM_HTTP_PATH_MAX, path);
	is_int(request_n(buf, n), CM_HTTP_URI_LONG, "long path before header shape");
	n = (size_t) snprintf(buf, CM_HTTP_REQUEST_MAX,
						  "GET %.*s HTTP/2.0\r\n\r\n", CM_HTTP_PATH_MAX, path);
	is_int(request_n(buf, n), CM_HTTP_VERSION, "version before path length");
	n = (size_t) snprintf(buf, CM_HTTP_REQUEST_MAX,
						  "G(T %.*s HTTP/1.1\r\n\r\n", CM_HTTP_PATH_MAX, path);
	is_int(request_n(buf, n), CM_HTTP_BAD, "method before path length");

	is_int(request("GET / HTTP/2.0\r\nTransfer-Encoding: chunked\r\n"
				   "Host: a\r\nHost: b\r\n\r\n"),
		   CM_HTTP_VERSION, "version before headers");
	is_int(request("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"),
		   CM_HTTP_INCOMPLETE, "incomplete before Content-Length");
	is_int(request("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n"),
		   CM_HTTP_INCOMPLETE, "incomplete before two Host lines");
	is_int(request("G(T / HTTP/1.1\r\n"), CM_HTTP_INCOMPLETE,
		   "incomplete before a bad method");

	/* a head over the limit is too large whatever it holds */
	memset(buf, 'a', CM_HTTP_REQUEST_MAX * 2);
	memcpy(buf, "G(T / HTTP/9.9\r\nX: ", 19);
	memcpy(buf + CM_HTTP_REQUEST_MAX - 3, "\r\n\r\n", 4);
	is_int(request_n(buf, CM_HTTP_REQUEST_MAX + 1), CM_HTTP_TOO_LARGE,
		   "too large before the request line");
	free(buf);
}

/* H10: other methods parse, for a 405; a space in the method does not. */
static void
test_request_other_methods(void)
{
	static const RequestCase bad[] = {
		{LIT("GE T /status HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "space in the method"},
		{LIT("M SEARCH /status HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "space in a longer method"},
		{LIT("GET\0 /status HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "NUL in the method"},
		{LIT("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), CM_HTTP_BAD,
		 "CONNECT in authority form"},
		{LIT("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "OPTIONS in asterisk form"},
	};
	static const char *const others[] = {"POST",	"PUT",	 "DELETE",
										 "options", "TRACE", "CONNECT",
										 "get",		"head",	 "PATCH"};

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
	{
		char buf[128];

		snprintf(buf, sizeof(buf),
				 "%s /status HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
				 others[i]);
		is_int(request(buf), CM_HTTP_DONE, "%s without a body parsed",
			   others[i]);
		ok(req.other_method && !req.head, "%s: other_method", others[i]);
		is_str(req.method, others[i], "%s kept as sent", others[i]);
		is_str(req.path, "/status", "%s path", others[i]);
	}
	run_cases(bad, sizeof(bad) / sizeof(bad[0]));
}

/* H11: the path is the target up to '?', kept byte for byte. */
static void
test_request_canonical(void)
{
	static const struct
	{
		const char *target;
		const char *path;
	} kept[] = {
		{"/status?x=1", "/status"},
		{"/status?", "/status"},
		{"/status?a=/b?c#d", "/status"},
		{"/status#x", "/status#x"},
		{"/status#x?y", "/status#x"},
		{"/status/", "/status/"},
		{"//status", "//status"},
		{"/STATUS", "/STATUS"},
		{"/Status", "/Status"},
		{"/%73tatus", "/%73tatus"},
		{"/status%3Fx", "/status%3Fx"},
		{"/status%00", "/status%00"},
		{"/%2e%2e/status", "/%2e%2e/status"},
		{"/./status", "/./status"},
		{"/../status", "/../status"},
		{"/status;x", "/status;x"},
		{"/status/.", "/status/."},
	};
	static const RequestCase bad[] = {
		{LIT("GET http://h/status HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "absolute form"},
		{LIT("GET HTTP://h/status HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "absolute form, upper-case scheme"},
		{LIT("GET https://h:6434/node/state HTTP/1.1\r\nHost: h\r\n\r\n"),
		 CM_HTTP_BAD, "absolute form, https and a port"},
		{LIT("GET h/status HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "no leading slash"},
		{LIT("GET ?x HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "query without a path"},
		{LIT("GET /stat us HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "space inside the path"},
		{LIT("GET /status\0x HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "NUL inside the path"},
		{LIT("GET /status\tx HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "tab inside the path"},
		{LIT("GET /status?a b HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "space inside the query"},
		{LIT("GET /status?\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "control inside the query"},
		{LIT("GET /status?\xff HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "byte above 0x7e inside the query"},
	};

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
	{
		char buf[256];

		snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n",
				 kept[i].target);
		is_int(request(buf), CM_HTTP_DONE, "target %s parsed", kept[i].target);
		is_str(req.path, kept[i].path, "target %s: path as written",
			   kept[i].target);
	}
	run_cases(bad, sizeof(bad) / sizeof(bad[0]));
}

/* H12: versions other than 1.0 and 1.1. */
static void
test_request_versions(void)
{
	CmHttpParse r;

	r = request("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	ok(r == CM_HTTP_VERSION || r == CM_HTTP_BAD,
	   "HTTP/2 preface: VERSION or BAD (got %d)", (int) r);
	ok(req.path[0] == '\0' && req.method[0] == '\0', "preface: nothing kept");
	is_int(request("GET /\r\n\r\n"), CM_HTTP_BAD, "HTTP/0.9 request");
	is_int(request("GET /status\r\n\r\n"), CM_HTTP_BAD,
		   "HTTP/0.9 request with a path");
	is_int(request("GET /status\n\n"), CM_HTTP_BAD, "HTTP/0.9 request, LF");
	is_int(request("GET /status HTTP/1.1\r\nHost: h\r\n\r\n"), CM_HTTP_DONE,
		   "HTTP/1.1 with Host");
	is_int(request("GET /status HTTP/2.0\r\nHost: h\r\n\r\n"), CM_HTTP_VERSION,
		   "HTTP/2.0 with Host");
	is_int(request("GET /status HTTP/1.2\r\nHost: h\r\n\r\n"), CM_HTTP_VERSION,
		   "HTTP/1.2 with Host");
}

/* H4/H6: header lines of a shape that proxies read differently. */
static void
test_request_header_shape(void)
{
	static const RequestCase cases[] = {
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: v\r\n\r\n"), CM_HTTP_DONE,
		 "control: plain header"},
		{LIT("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), CM_HTTP_BAD,
		 "space before the colon of the only Host"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX-A : v\r\n\r\n"), CM_HTTP_BAD,
		 "space before the colon"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX-A\t: v\r\n\r\n"), CM_HTTP_BAD,
		 "tab before the colon"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n"),
		 CM_HTTP_BAD, "Content-Length with a space before the colon"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\n X: v\r\n\r\n"), CM_HTTP_BAD,
		 "header line starting with a space"},
		{LIT("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), CM_HTTP_BAD,
		 "first header line starting with a space"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n continued\r\n\r\n"),
		 CM_HTTP_BAD, "obs-fold with a space"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tcontinued\r\n\r\n"),
		 CM_HTTP_BAD, "obs-fold with a tab"},
		{LIT("GET / HTTP/1.1\nHost: h\nX: a\n continued\n\n"), CM_HTTP_BAD,
		 "obs-fold, LF"},
		{LIT("GET / HTTP/1.1\r\nHost:\r\n h\r\n\r\n"), CM_HTTP_BAD,
		 "Host folded"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n Content-Length: 5\r\n\r\n"),
		 CM_HTTP_BAD, "fold holding a colon"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), CM_HTTP_BAD,
		 "empty header name"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\n:\r\n\r\n"), CM_HTTP_BAD,
		 "colon alone"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\n X\r\n\r\n"), CM_HTTP_BAD,
		 "blank then no colon"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"), CM_HTTP_BAD,
		 "NUL inside a value"},
		{LIT("GET / HTTP/1.1\r\nHost: h\0evil\r\n\r\n"), CM_HTTP_BAD,
		 "NUL inside the Host value"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX\0: v\r\n\r\n"), CM_HTTP_BAD,
		 "NUL inside a name"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: \0\r\n\r\n"), CM_HTTP_BAD,
		 "value of a NUL"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), CM_HTTP_BAD,
		 "bare CR inside a value"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\r\n\r\n"), CM_HTTP_BAD,
		 "two CRs before the LF"},
		{LIT("GET / HTTP/1.1\r\nX: a\rHost: h\r\n\r\n"), CM_HTTP_BAD,
		 "bare CR as a line end hides a Host"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX\r: v\r\n\r\n"), CM_HTTP_BAD,
		 "bare CR inside a name"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n"), CM_HTTP_BAD,
		 "escape inside a value"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f"
			 "b\r\n\r\n"),
		 CM_HTTP_BAD, "DEL inside a value"},
		{LIT("GET / HTTP/1.1\r\nHost: h\r\n\rX: v\r\n\r\n"), CM_HTTP_BAD,
		 "line starting with a bare CR"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Answers are read to the close: any Transfer-Encoding is refused. */
static void
test_answer_transfer_encoding(void)
{
	ok(!answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "4\r\ntrue\r\n0\r\n\r\n"),
	   "chunked answer refused");
	ok(status == -1 && body_len == (size_t) -1, "nothing reported for it");
	ok(!answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			   "Content-Length: 4\r\n\r\ntrue"),
	   "chunked with a matching Content-Length refused");
	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"
			   "transfer-encoding: identity\r\n\r\ntrue"),
	   "identity, lower-case name, refused");
	ok(!answer("HTTP/1.0 200 OK\r\nTRANSFER-ENCODING: gzip\r\n\r\nx"),
	   "HTTP/1.0 answer with TRANSFER-ENCODING refused");
	ok(!answer("HTTP/1.1 503 X\nTransfer-Encoding:\n\n"),
	   "empty Transfer-Encoding refused");
	ok(answer("HTTP/1.1 200 OK\r\nX-Transfer-Encoding: chunked\r\n\r\ntrue"),
	   "X-Transfer-Encoding is not framing");
	is_str(body, "true", "its body");
	ok(answer("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\nx"),
	   "Host lines do not matter in an answer");
}

static void
test_answer(void)
{
	static const char with_nul[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na\0b";
	char *big;
	const char *head = "HTTP/1.1 200 OK\r\n\r\n";

	ok(answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			  "Content-Length: 4\r\n\r\ntrue"),
	   "200 with Content-Length");
	is_int(status, 200, "status 200");
	is_str(body, "true", "body");
	is_int(body_len, 4, "body length");

	ok(answer("HTTP/1.0 503 Service Unavailable\nServer: x\n\nfalse"),
	   "503, bare LF, no Content-Length");
	is_int(status, 503, "status 503");
	is_str(body, "false", "body to the end");

	ok(answer("HTTP/1.1 204\r\n\r\n"), "status without a reason");
	is_int(status, 204, "status 204");
	is_int(body_len, 0, "empty body");
	ok(answer("HTTP/1.1 200 \r\n\r\n"), "empty reason after a space");
	ok(answer("HTTP/1.1 404 Not Found Here\r\n\r\nno"), "reason with spaces");
	is_int(status, 404, "status 404");
	ok(answer("HTTP/1.1 100 Continue\r\n\r\n"), "status 100");
	is_int(status, 100, "100 read");
	ok(answer("HTTP/1.1 599 X\r\n\r\n"), "status 599");
	is_int(status, 599, "599 read");
	ok(answer("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
	   "Content-Length 0, lower case");
	is_int(body_len, 0, "no body");
	ok(answer("HTTP/1.1 200 OK\r\nContent-Length:\t 3 \t\r\n\r\nabc"),
	   "Content-Length between blanks");
	ok(answer("HTTP/1.1 200 OK\r\n\r\n\r\n\r\nx"),
	   "body starting with blank lines");
	is_str(body, "\r\n\r\nx", "body after the first blank line");
	ok(answer_n(with_nul, sizeof(with_nul) - 1), "body with a NUL");
	is_int(body_len, 3, "NUL counted in the body");

	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ntrue"),
	   "Content-Length above the body");
	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntrue"),
	   "Content-Length below the body");
	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"),
	   "Content-Length and no body");
	ok(!answer("HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 9\r\n\r\ntrue"),
	   "upper-case Content-Length checked too");
	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 4"
			   "\r\n\r\ntrue"),
	   "Content-Length twice");
	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 4x\r\n\r\ntrue"),
	   "Content-Length with a letter");
	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999"
			   "\r\n\r\ntrue"),
	   "Content-Length overflowing");
	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: +4\r\n\r\ntrue"),
	   "Content-Length with a sign");

	ok(!answer("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"), "no end of head");
	ok(!answer("HTTP/1.1 200 OK"), "status line only");
	ok(!answer_n("", 0), "nothing");
	ok(!answer("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n"), "bad header name");
	ok(!answer("HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n"), "control in a value");
	ok(!answer("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"), "header without colon");
	ok(status == -1 && body_len == (size_t) -1,
	   "nothing reported for a bad answer");

	{
		static const char *const bad[] = {
			"HTTP/2 200 OK\r\n\r\n",	   "HTTP/2.0 200 OK\r\n\r\n",
			"HTTP/1.2 200 OK\r\n\r\n",	   "HTTP/1.1 20 OK\r\n\r\n",
			"HTTP/1.1 2000\r\n\r\n",	   "HTTP/1.1 2000 OK\r\n\r\n",
			"HTTP/1.1 099 X\r\n\r\n",	   "HTTP/1.1 600 X\r\n\r\n",
			"HTTP/1.1 999 X\r\n\r\n",	   "HTTP/1.1 abc X\r\n\r\n",
			"HTTP/1.1 2a0 X\r\n\r\n",	   "HTTP/1.1  200 OK\r\n\r\n",
			"HTTP/1.1\t200 OK\r\n\r\n",	   "HTTP/1.1 200\tOK\r\n\r\n",
			"http/1.1 200 OK\r\n\r\n",	   "HTTPS/1.1 200 OK\r\n\r\n",
			"HTTP/1.1 -20 OK\r\n\r\n",	   "HTTP/1.1\r\n\r\n",
			" HTTP/1.1 200 OK\r\n\r\n",	   "\r\n\r\n",
			"HTTP/1.1 200 OK\n\r\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ok(!answer(bad[i]), "bad status line refused: %.*s",
			   (int) strcspn(bad[i], "\r\n"), bad[i]);
	}

	/* the size bound */
	big = malloc(CM_HTTP_ANSWER_MAX + 1);
	memset(big, 'b', CM_HTTP_ANSWER_MAX + 1);
	memcpy(big, head, strlen(head));
	ok(answer_n(big, CM_HTTP_ANSWER_MAX), "answer of %d bytes",
	   CM_HTTP_ANSWER_MAX);
	is_int(body_len, CM_HTTP_ANSWER_MAX - strlen(head), "its body length");
	ok(!answer_n(big, CM_HTTP_ANSWER_MAX + 1), "answer of %d bytes refused",
	   CM_HTTP_ANSWER_MAX + 1);
	free(big);
}

int
main(void)
{
	test_request_ok();
	test_request_incomplete();
	test_request_large();
	test_request_bad();
	test_request_methods();
	test_request_host();
	test_request_body();
	test_request_order();
	test_request_other_methods();
	test_request_canonical();
	test_request_versions();
	test_request_header_shape();
	test_answer();
	test_answer_transfer_encoding();
	return done_testing();
}
