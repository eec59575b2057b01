/*
 * pure/http_proto.c
 *		Reading HTTP requests and answers (see cm_http.h).  Lines end in
 *		CRLF or a bare LF; header lines must be "name: value" with a token
 *		for a name and no control characters.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_http.h"

#include <string.h>
#include <strings.h>

/* Finds the end of the head: the blank line; returns its length or 0. */
static size_t
head_length(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		   (c >= '0' && c <= '9') ||
		   (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Length of the line starting at p (without its CRLF or LF), or -1. */
static long
line_length(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t) (end - p));

	if (nl == NULL)
		return -1;
	if (nl > p && nl[-1] == '\r')
		nl--;
	return nl - p;
}

static const char *
next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t) (end - p));

	return nl ? nl + 1 : end;
}

/* What the header lines say that framing depends on. */
typedef struct Headers
{
	long content_length; /* -1: none */
	int hosts;			 /* Host lines */
	bool transfer_encoding;
} Headers;

static bool
is_header(const char *p, const char *colon, const char *name)
{
	size_t len = strlen(name);

	return (size_t) (colon - p) == len && strncasecmp(p, name, len) == 0;
}

/* Checks the header lines between p and end, noting what framing needs. */
static bool
check_headers(const char *p, const char *end, Headers *h)
{
	long *cl = &h->content_length;

	memset(h, 0, sizeof(*h));
	*cl = -1;
	while (p < end)
	{
		long n = line_length(p, end);
		const char *colon;

		if (n < 0)
			return false;
		if (n == 0)
			return true;
		colon = memchr(p, ':', (size_t) n);
		if (colon == NULL || colon == p)
			return false;
		for (const char *c = p; c < colon; c++)
			if (!is_tchar(*c))
				return false;
		for (const char *c = colon + 1; c < p + n; c++)
			if (((unsigned char) *c < 0x20 && *c != '\t') || *c == 0x7f)
				return false;
		if (is_header(p, colon, "host"))
			h->hosts++;
		else if (is_header(p, colon, "transfer-encoding"))
			h->transfer_encoding = true;
		else if (is_header(p, colon, "content-length"))
		{
			const char *v = colon + 1;
			long value = 0;

			while (v < p + n && (*v == ' ' || *v == '\t'))
				v++;
			if (v == p + n || *cl >= 0)
				return false;
			for (; v < p + n && *v != ' ' && *v != '\t'; v++)
			{
				if (*v < '0' || *v > '9' || value > CM_HTTP_ANSWER_MAX)
					return false;
				value = value * 10 + (*v - '0');
			}
			for (; v < p + n; v++)
				if (*v != ' ' && *v != '\t')
					return false;
			*cl = value;
		}
		p = next_line(p, end);
	}
	return false;
}

CmHttpParse
cm_http_parse_request(const char *buf, size_t len, CmHttpRequest *out)
{
	size_t head = head_length(buf, len);
	const char *end;
	const char *sp1;
	const char *sp2;
	const char *target;
	size_t path_len;
	size_t query_len = 0;
	long line;
	Headers h;

	memset(out, 0, sizeof(*out));
	if (head == 0)
		return len >= CM_HTTP_REQUEST_MAX ? CM_HTTP_TOO_LARGE
										  : CM_HTTP_INCOMPLETE;
	if (head > CM_HTTP_REQUEST_MAX)
		return CM_HTTP_TOO_LARGE;
	end = buf + head;
	line = line_length(buf, end);
	if (line <= 0)
		return CM_HTTP_BAD;
	sp1 = memchr(buf, ' ', (size_t) line);
	if (sp1 == NULL || sp1 == buf || sp1 - buf >= (long) sizeof(out->method))
		return CM_HTTP_BAD;
	for (const char *c = buf; c < sp1; c++)
		if (!is_tchar(*c))
			return CM_HTTP_BAD;
	target = sp1 + 1;
	sp2 = memchr(target, ' ', (size_t) (buf + line - target));
	if (sp2 == NULL || sp2 == target || *target != '/')
		return CM_HTTP_BAD;
	/* the version may be shorter than "HTTP/": compare only bytes held */
	if (buf + line - (sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return buf + line - (sp2 + 1) >= 5 && memcmp(sp2 + 1, "HTTP/", 5) == 0
				   ? CM_HTTP_VERSION
				   : CM_HTTP_BAD;
	if (sp2[8] != '0' && sp2[8] != '1')
		return CM_HTTP_VERSION;
	for (const char *c = target; c < sp2; c++)
		if ((unsigned char) *c <= 0x20 || (unsigned char) *c >= 0x7f)
			return CM_HTTP_BAD;
	path_len = (size_t) (sp2 - target);
	{
		const char *q = memchr(target, '?', path_len);

		if (q)
		{
			query_len = (size_t) (sp2 - q - 1);
			path_len = (size_t) (q - target);
		}
	}
	if (path_len >= sizeof(out->path) || query_len >= sizeof(out->query))
		return CM_HTTP_URI_LONG;
	/*
	 * No request here has a body, so one announced is refused, and with it
	 * any way to smuggle a second request; HTTP/1.1 requires one Host.
	 */
	if (!check_headers(next_line(buf, end), end, &h) || h.content_length > 0 ||
		h.transfer_encoding || h.hosts > 1 || (h.hosts == 0 && sp2[8] == '1'))
		return CM_HTTP_BAD;
	memcpy(out->method, buf, (size_t) (sp1 - buf));
	memcpy(out->path, target, path_len);
	memcpy(out->query, target + path_len + 1, query_len);
	out->head = strcmp(out->method, "HEAD") == 0;
	out->options = strcmp(out->method, "OPTIONS") == 0;
	out->other_method =
		!out->head && !out->options && strcmp(out->method, "GET") != 0;
	return CM_HTTP_DONE;
}

bool
cm_http_parse_answer(const char *buf, size_t len, int *status,
					 const char **body, size_t *body_len)
{
	size_t head = head_length(buf, len);
	long line;
	Headers h;

	if (head == 0 || len > CM_HTTP_ANSWER_MAX)
		return false;
	line = line_length(buf, buf + head);
	/* "HTTP/1.x NNN" and an optional reason */
	if (line < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
		(buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
		(line > 12 && buf[12] != ' '))
		return false;
	for (int i = 9; i < 12; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return false;
	if (buf[9] < '1' || buf[9] > '5')
		return false;
	if (!check_headers(next_line(buf, buf + head), buf + head, &h) ||
		h.transfer_encoding)
		return false; /* answers are read to the close, never chunked */
	if (h.content_length >= 0 && (size_t) h.content_length != len - head)
		return false;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	*body = buf + head;
	*body_len = len - head;
	return true;
}
