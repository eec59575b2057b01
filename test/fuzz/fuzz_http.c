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
 * method of token characters that HEAD and other_method describe; an
 * unfinished head is reported incomplete only while it fits; a parsed
 * answer has a status from 100 to 599 and a body that is the tail of the
 * buffer.
 */
#include "cm_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                           \
	do                                                                        \
	{                                                                         \
		if (!(cond))                                                          \
		{                                                                     \
			fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__,      \
					__LINE__, #cond);                                         \
			abort();                                                          \
		}                                                                     \
	} while (0)

static void
check_request(const char *buf, size_t len, CmHttpParse r,
			  const CmHttpRequest *req)
{
	size_t path_len;
	size_t method_len;
	CmHttpRequest again;

	CHECK(r == CM_HTTP_INCOMPLETE || r == CM_HTTP_DONE || r == CM_HTTP_BAD ||
		  r == CM_HTTP_TOO_LARGE || r == CM_HTTP_URI_LONG ||
		  r == CM_HTTP_VERSION);
	if (r == CM_HTTP_INCOMPLETE)
		CHECK(len < CM_HTTP_REQUEST_MAX);
	if (r != CM_HTTP_DONE)
	{
		/* nothing half-filled for the caller to misuse */
		CHECK(req->path[0] == '\0' && req->method[0] == '\0');
		CHECK(!req->head && !req->other_method);
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
	CHECK(req->other_method == (!req->head && strcmp(req->method, "GET") != 0));

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
	}
	return 0;
}
