/*
 * test_http.c
 *		Unit tests of the HTTP framing (src/http_proto.c): the requests the
 *		monitor serves and the answers its probes read.
 *
 * Every parse reads an exactly sized heap copy of its input, so that
 * AddressSanitizer sees any read past the bytes given.
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

	is_int(request("HEAD /connection/is-live HTTP/1.1\r\n\r\n"), CM_HTTP_DONE,
		   "HEAD without headers");
	is_str(req.method, "HEAD", "HEAD method");
	is_str(req.path, "/connection/is-live", "HEAD path");
	ok(req.head, "head set");
	ok(!req.other_method, "HEAD is not another method");

	is_int(request("GET /status HTTP/1.0\nHost: x\n\n"), CM_HTTP_DONE,
		   "bare LF, HTTP/1.0");
	is_str(req.path, "/status", "bare LF path");
	is_int(request("GET / HTTP/1.1\n\n"), CM_HTTP_DONE, "bare LF, no header");
	is_str(req.path, "/", "root path");
	is_int(request("GET / HTTP/1.1\r\nA: b\n\r\n"), CM_HTTP_DONE,
		   "CRLF and LF mixed");
	is_int(request("GET / HTTP/1.1\nA: b\r\n\n"), CM_HTTP_DONE,
		   "LF and CRLF mixed");

	is_int(request("GET /status?verbose=1&x HTTP/1.1\r\n\r\n"), CM_HTTP_DONE,
		   "query string");
	is_str(req.path, "/status", "query stripped");
	is_int(request("GET /?a?b HTTP/1.1\r\n\r\n"), CM_HTTP_DONE,
		   "two question marks");
	is_str(req.path, "/", "stripped at the first");
	is_int(request("GET /a? HTTP/1.1\r\n\r\n"), CM_HTTP_DONE, "empty query");
	is_str(req.path, "/a", "path before an empty query");
	is_int(request("GET /a%20b/c;d=e HTTP/1.1\r\n\r\n"), CM_HTTP_DONE,
		   "escapes and semicolons kept");
	is_str(req.path, "/a%20b/c;d=e", "path as sent");

	is_int(request("GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\ta\tb \r\n"
				   "Content-Length: 0\r\n!#$%&'*+-.^_`|~09az: v\r\n\r\n"),
		   CM_HTTP_DONE, "empty value, tabs, Content-Length, token name");
	is_int(request("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n"), CM_HTTP_DONE,
		   "non-ASCII bytes in a header value");
	is_int(request("GET / HTTP/1.1\r\n\r\nbody bytes\r\n\r\nmore"),
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
	is_int(request("GET / HTTP/1.1\r\n"), CM_HTTP_INCOMPLETE,
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
	const char *line = "GET / HTTP/1.1\r\n";
	size_t o;
	char path[CM_HTTP_PATH_MAX + 64];

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
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET %.*s HTTP/1.1\r\n\r\n",
			 CM_HTTP_PATH_MAX - 1, path);
	is_int(request(buf), CM_HTTP_DONE, "path of %d bytes", CM_HTTP_PATH_MAX - 1);
	is_int(strlen(req.path), CM_HTTP_PATH_MAX - 1, "path kept whole");
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET %.*s HTTP/1.1\r\n\r\n",
			 CM_HTTP_PATH_MAX, path);
	is_int(request(buf), CM_HTTP_URI_LONG, "path of %d bytes", CM_HTTP_PATH_MAX);
	is_str(req.path, "", "no path reported");
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET /?%.*s HTTP/1.1\r\n\r\n",
			 CM_HTTP_PATH_MAX + 32, path);
	is_int(request(buf), CM_HTTP_DONE, "long query after a short path");
	is_str(req.path, "/", "query stripped");
	snprintf(buf, CM_HTTP_REQUEST_MAX, "GET %.*s?q HTTP/1.1\r\n\r\n",
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
		{" / HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "no method"},
		{"GET  / HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "two spaces"},
		{"GET /  HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "two spaces after the path"},
		{"GET / HTTP/1.1 \r\n\r\n", CM_HTTP_VERSION, "space after the version"},
		{"GET / HTTP/1.1 x\r\n\r\n", CM_HTTP_VERSION, "words after the version"},
		{"GET\t/ HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "tab as separator"},
		{"GET x HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "path not starting with /"},
		{"GET * HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "asterisk form"},
		{"GET http://h/ HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "absolute form"},
		{"GET / http/1.1\r\n\r\n", CM_HTTP_BAD, "lower-case version"},
		{"GET / FOO/1.1\r\n\r\n", CM_HTTP_BAD, "not HTTP"},
		{"GET / HTTP1.1\r\n\r\n", CM_HTTP_BAD, "no slash in the version"},
		{"GE(T / HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "( in the method"},
		{"G\x01T / HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "control in the method"},
		{"GET /a\x01 HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "control in the path"},
		{"GET /a\x7f HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "DEL in the path"},
		{"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "UTF-8 in the path"},
		{"GET /a\rb HTTP/1.1\r\n\r\n", CM_HTTP_BAD, "CR in the path"},
		{"GET / HTTP/1.1\r\nNoColon\r\n\r\n", CM_HTTP_BAD, "header, no colon"},
		{"GET / HTTP/1.1\r\n: v\r\n\r\n", CM_HTTP_BAD, "empty header name"},
		{"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", CM_HTTP_BAD,
		 "space in a header name"},
		{"GET / HTTP/1.1\r\nHost : v\r\n\r\n", CM_HTTP_BAD,
		 "space before the colon"},
		{"GET / HTTP/1.1\r\nX(: v\r\n\r\n", CM_HTTP_BAD, "( in a header name"},
		{"GET / HTTP/1.1\r\nX\xc3\xa9: v\r\n\r\n", CM_HTTP_BAD,
		 "UTF-8 in a header name"},
		{"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", CM_HTTP_BAD,
		 "control in a header value"},
		{"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", CM_HTTP_BAD,
		 "CR inside a header value"},
		{"GET / HTTP/1.1\r\nX: a\r\n continued\r\n\r\n", CM_HTTP_BAD,
		 "obsolete line folding"},
		{"GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n",
		 CM_HTTP_BAD, "Content-Length twice"},
		{"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", CM_HTTP_BAD,
		 "Content-Length not a number"},
		{"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", CM_HTTP_BAD,
		 "Content-Length empty"},
		{"GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", CM_HTTP_BAD,
		 "Content-Length of two numbers"},
		{"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", CM_HTTP_BAD,
		 "Content-Length negative"},
		{"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
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
	is_int(request("ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n"), CM_HTTP_DONE,
		   "method of 15 bytes");
	is_str(req.method, "ABCDEFGHIJKLMNO", "kept whole");
	ok(req.other_method, "another method");
	is_int(request("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n"), CM_HTTP_BAD,
		   "method of 16 bytes");
}

static void
test_request_methods(void)
{
	static const char *const others[] = {"POST",	"PUT",	  "DELETE",
										 "OPTIONS", "get",	  "Head",
										 "GETX",	"HEADER", "M-SEARCH"};

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
	{
		char buf[128];

		snprintf(buf, sizeof(buf), "%s /status HTTP/1.1\r\n\r\n", others[i]);
		is_int(request(buf), CM_HTTP_DONE, "%s parsed", others[i]);
		ok(req.other_method && !req.head, "%s flagged as another method",
		   others[i]);
		is_str(req.method, others[i], "%s kept", others[i]);
		is_str(req.path, "/status", "%s path", others[i]);
	}
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
	test_answer();
	return done_testing();
}
