/*
 * pure/status_text.c
 *		The small pieces the HTTP answers are built with (see cm_status.h):
 *		a bounded growing text, JSON and Prometheus escaping, the names of
 *		refusals and methods, and the lag limit of the Patroni-style checks.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cm_text_init(CmText *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
}

void
cm_text_free(CmText *t)
{
	free(t->data);
	memset(t, 0, sizeof(*t));
}

/* Room for len more bytes and a NUL; false (and overflow) when not. */
static bool
text_reserve(CmText *t, size_t len)
{
	size_t need;
	size_t cap;
	char *data;

	if (t->overflow)
		return false;
	if (len > t->max || t->len + len + 1 > t->max)
	{
		t->overflow = true;
		return false;
	}
	need = t->len + len + 1;
	if (need <= t->cap)
		return true;
	cap = t->cap ? t->cap : 1024;
	while (cap < need)
		cap *= 2;
	if (cap > t->max)
		cap = t->max;
	data = realloc(t->data, cap);
	if (data == NULL)
	{
		t->overflow = true;
		return false;
	}
	t->data = data;
	t->cap = cap;
	return true;
}

void
cm_text_append(CmText *t, const char *s, size_t len)
{
	if (!text_reserve(t, len))
		return;
	memcpy(t->data + t->len, s, len);
	t->len += len;
	t->data[t->len] = '\0';
}

void
cm_text_puts(CmText *t, const char *s)
{
	cm_text_append(t, s, strlen(s));
}

void
cm_text_printf(CmText *t, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
	{
		t->overflow = true;
		return;
	}
	if ((size_t) n < sizeof(small))
	{
		cm_text_append(t, small, (size_t) n);
		return;
	}
	if (!text_reserve(t, (size_t) n))
		return;
	va_start(ap, fmt);
	(void) vsnprintf(t->data + t->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t) n;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t
utf8_length(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		(cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void
cm_text_json_string(CmText *t, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	cm_text_append(t, "\"", 1);
	while (*p)
	{
		size_t n = utf8_length(p);

		if (n == 0)
		{
			cm_text_puts(t, "\\ufffd");
			p++;
		}
		else if (n > 1)
		{
			cm_text_append(t, (const char *) p, n);
			p += n;
		}
		else if (*p == '"' || *p == '\\')
		{
			char esc[2] = {'\\', (char) *p};

			cm_text_append(t, esc, 2);
			p++;
		}
		else if (*p < 0x20 || *p == 0x7f)
		{
			cm_text_printf(t, "\\u%04x", *p);
			p++;
		}
		else
		{
			/* "</" could end a script element the page is embedded in */
			if (*p == '/' && p > (const unsigned char *) s && p[-1] == '<')
				cm_text_append(t, "\\", 1);
			cm_text_append(t, (const char *) p, 1);
			p++;
		}
	}
	cm_text_append(t, "\"", 1);
}

void
cm_text_label_value(CmText *t, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	while (*p)
	{
		size_t n = utf8_length(p);

		if (n == 0)
		{
			cm_text_puts(t, "\xef\xbf\xbd"); /* U+FFFD */
			p++;
			continue;
		}
		if (*p == '\\' || *p == '"')
		{
			char esc[2] = {'\\', (char) *p};

			cm_text_append(t, esc, 2);
		}
		else if (*p == '\n')
			cm_text_puts(t, "\\n");
		else if (*p < 0x20 || *p == 0x7f)
			cm_text_puts(t, "?");
		else
			cm_text_append(t, (const char *) p, n);
		p += n;
	}
}

const char *
cm_refusal_name(CmRefusal r)
{
	static const char *const names[CM_REFUSALS] = {
		"too_many_clients", "too_many_servers", "no_target", "authentication",
		"protocol",			"timeout",			"server",	 "other",
	};

	return (int) r >= 0 && r < CM_REFUSALS ? names[r] : "other";
}

CmRefusal
cm_refusal_of(const char *sqlstate, const char *message)
{
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return CM_REFUSED_OTHER;
	if (strcmp(sqlstate, "53300") == 0)
		return message && strstr(message, "server connections")
				   ? CM_REFUSED_TOO_MANY_SERVERS
				   : CM_REFUSED_TOO_MANY_CLIENTS;
	if (strcmp(sqlstate, "57P03") == 0)
		return CM_REFUSED_NO_TARGET;
	if (strncmp(sqlstate, "28", 2) == 0)
		return CM_REFUSED_AUTHENTICATION;
	if (strcmp(sqlstate, "08P01") == 0 || strcmp(sqlstate, "0A000") == 0)
		return CM_REFUSED_PROTOCOL;
	if (message && strstr(message, "timeout"))
		return CM_REFUSED_TIMEOUT;
	if (strncmp(sqlstate, "08", 2) == 0)
		return CM_REFUSED_SERVER;
	return CM_REFUSED_OTHER;
}

const char *
cm_auth_method_label(int method)
{
	static const char *const names[CM_AUTH_METHODS] = {
		"trust", "reject", "md5",	 "password", "scram-sha-256",
		"cert",	 "gss",	   "sspi",	 "ident",	 "peer",
		"pam",	 "ldap",   "radius", "bsd",		 "none",
	};

	return method >= 0 && method < CM_AUTH_METHODS ? names[method] : "none";
}

double
cm_probe_bucket_le(int i)
{
	static const double le[CM_PROBE_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01,
													0.025, 0.1,	   0.5};

	return i >= 0 && i < CM_PROBE_BUCKETS - 1 ? le[i] : -1;
}

bool
cm_parse_byte_size(const char *text, int64_t *bytes)
{
	static const struct
	{
		const char *unit;
		int shift;
	} units[] = {{"", 0},	 {"B", 0},	 {"kB", 10},
				 {"MB", 20}, {"GB", 30}, {"TB", 40}};
	int64_t value = 0;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
	{
		if (value > (INT64_MAX - (*p - '0')) / 10)
			return false;
		value = value * 10 + (*p - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
	{
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (value > (INT64_MAX >> units[i].shift))
			return false;
		*bytes = value << units[i].shift;
		return true;
	}
	return false;
}

int
cm_query_param(const char *query, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = query;

	while (p && *p)
	{
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t) (end - p) : strlen(p);

		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
		{
			size_t vlen = len - nlen - 1;

			if (vlen >= outlen)
				return -1;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return 1;
		}
		if (len == nlen && strncmp(p, name, nlen) == 0)
		{
			if (outlen == 0)
				return -1;
			out[0] = '\0';
			return 1;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}
