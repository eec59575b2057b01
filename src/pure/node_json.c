/*
 * pure/node_json.c
 *		The state a node serves on GET /node/state, written and read.  The
 *		reader takes bytes from the network: one JSON object whose known
 *		keys hold strings, unsigned integers or booleans, each at most once;
 *		the values of unknown keys (what a newer version may add) are
 *		checked for shape and skipped, nested at most CM_JSON_MAX_DEPTH deep.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum
{
	F_NAME = 1 << 0,
	F_SYSID = 1 << 1,
	F_RECOVERY = 1 << 2,
	F_TIMELINE = 1 << 3,
	F_LSN = 1 << 4,
	F_STREAMING = 1 << 5,
	F_SESSIONS = 1 << 6,
	F_INSTANCE = 1 << 7,
	F_PORT = 1 << 8,
	F_MARK = 1 << 9,
	F_ALL = (1 << 10) - 1, /* every state has every field above */
	/* the vote: both or neither (a node without them votes for nobody) */
	F_VOTE = 1 << 10,
	F_VOTE_TIMELINE = 1 << 11,
	F_VOTE_BOTH = F_VOTE | F_VOTE_TIMELINE,
	F_VOTE_HOLD = 1 << 12 /* optional: without it, the vote promises no hold */
};

#define CM_JSON_MAX_DEPTH 8

bool
cm_node_state_format(const CmNodeState *s, char *buf, size_t len)
{
	char name[2 * CM_NODE_NAME_LEN];
	size_t o = 0;
	int n;

	/*
	 * names come from cluster_name: escape what JSON requires.  A byte takes
	 * at most two, so 2 * CM_NODE_NAME_LEN holds a whole name and its NUL.
	 */
	for (const char *c = s->name; *c && o + 2 < sizeof(name); c++)
	{
		unsigned char ch = (unsigned char) *c;

		if (ch == '"' || ch == '\\')
		{
			name[o++] = '\\';
			name[o++] = (char) ch;
		}
		else if (ch >= 0x20 && ch < 0x7f)
			name[o++] = (char) ch;
		else
			name[o++] = '?';
	}
	name[o] = '\0';
	n = snprintf(buf, len,
				 "{\"name\":\"%s\",\"system_identifier\":\"%" PRIu64
				 "\",\"port\":%d,\"in_recovery\":%s,\"timeline\":%" PRIu32
				 ",\"timeline_mark\":%" PRIu32
				 ",\"wal_lsn\":\"%X/%X\",\"streaming\":%s,\"sessions\":%" PRIu32
				 ",\"instance\":\"%016" PRIx64 "\",\"vote\":\"%016" PRIx64
				 "\",\"vote_timeline\":%" PRIu32 ",\"vote_hold_ms\":%" PRIu32
				 "}",
				 name, s->system_identifier, s->port,
				 s->in_recovery ? "true" : "false", s->timeline,
				 s->timeline_mark, (unsigned) (s->wal_lsn >> 32),
				 (unsigned) s->wal_lsn, s->streaming ? "true" : "false",
				 s->sessions, s->instance, s->vote_instance, s->vote_timeline,
				 s->vote_hold_ms);
	return n > 0 && (size_t) n < len;
}

typedef struct Reader
{
	const char *p;
	const char *end;
} Reader;

static void
skip_ws(Reader *r)
{
	while (r->p < r->end &&
		   (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
expect(Reader *r, char c)
{
	skip_ws(r);
	if (r->p >= r->end || *r->p != c)
		return false;
	r->p++;
	return true;
}

/*
 * A string into out.  strict: printable ASCII with \" and \\ escapes only,
 * and it must fit.  Otherwise (a key, an unknown key's value) any escape
 * and any byte from 0x20 up are taken, and *cut is set when a byte did not
 * fit or an escape was seen: such a key is not one of ours.
 */
static bool
read_string(Reader *r, char *out, size_t outlen, bool strict, bool *cut)
{
	size_t o = 0;

	*cut = false;
	if (!expect(r, '"'))
		return false;
	while (r->p < r->end && *r->p != '"')
	{
		unsigned char c = (unsigned char) *r->p++;

		if (c == '\\')
		{
			*cut = !strict; /* an escaped key is never a known one */
			if (r->p >= r->end || (strict && *r->p != '"' && *r->p != '\\') ||
				(unsigned char) *r->p < 0x20)
				return false;
			c = (unsigned char) *r->p++;
		}
		else if (c < 0x20 || (strict && c >= 0x7f))
			return false;
		if (o + 1 >= outlen)
		{
			if (strict)
				return false;
			*cut = true;
			continue;
		}
		out[o++] = (char) c;
	}
	if (r->p >= r->end)
		return false;
	r->p++;
	out[o] = '\0';
	return true;
}

/* Skips any JSON value (of an unknown key), checking its shape. */
static bool
skip_value(Reader *r, int depth)
{
	char scratch[8];
	bool cut;
	char open;

	skip_ws(r);
	if (r->p >= r->end)
		return false;
	if (*r->p == '"')
		return read_string(r, scratch, sizeof(scratch), false, &cut);
	if (*r->p != '{' && *r->p != '[')
	{
		const char *start = r->p;

		/* true, false, null or a number: its characters, loosely */
		while (r->p < r->end && ((*r->p >= 'a' && *r->p <= 'z') ||
								 (*r->p >= '0' && *r->p <= '9') || *r->p == '-' ||
								 *r->p == '+' || *r->p == '.' || *r->p == 'E'))
			r->p++;
		return r->p > start;
	}
	if (depth > CM_JSON_MAX_DEPTH)
		return false; /* containers nested deeper than that */
	open = *r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == (open == '{' ? '}' : ']'))
	{
		r->p++;
		return true;
	}
	for (;;)
	{
		if (open == '{' &&
			(!read_string(r, scratch, sizeof(scratch), false, &cut) ||
			 !expect(r, ':')))
			return false;
		if (!skip_value(r, depth + 1))
			return false;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',')
		{
			r->p++;
			continue;
		}
		return expect(r, open == '{' ? '}' : ']');
	}
}

/* Decimal digits into a uint64, refusing overflow and leading zeros. */
static bool
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t) (*s - '0');
	}
	*out = v;
	return true;
}

static bool
parse_hex32(const char *s, size_t len, uint32_t *out)
{
	uint32_t v = 0;

	if (len == 0 || len > 8)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char c = s[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t) (c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t) (c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t) (c - 'a' + 10);
		else
			return false;
		v = (v << 4) | d;
	}
	*out = v;
	return true;
}

/* "X/Y" as PostgreSQL prints an LSN. */
static bool
parse_lsn(const char *s, uint64_t *out)
{
	const char *slash = strchr(s, '/');
	uint32_t hi;
	uint32_t lo;

	if (slash == NULL || !parse_hex32(s, (size_t) (slash - s), &hi) ||
		!parse_hex32(slash + 1, strlen(slash + 1), &lo))
		return false;
	*out = ((uint64_t) hi << 32) | lo;
	return true;
}

/* A value that is not a string: true, false or an unsigned integer. */
static bool
read_bare(Reader *r, char *out, size_t outlen)
{
	size_t o = 0;

	skip_ws(r);
	while (r->p < r->end &&
		   ((*r->p >= 'a' && *r->p <= 'z') || (*r->p >= '0' && *r->p <= '9')))
	{
		if (o + 1 >= outlen)
			return false;
		out[o++] = *r->p++;
	}
	out[o] = '\0';
	return o > 0;
}

static bool
read_bool(const char *v, bool *out)
{
	if (strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* 16 hexadecimal digits, as instances are written */
static bool
parse_instance(const char *value, uint64_t *out)
{
	uint32_t hi;
	uint32_t lo;

	if (strlen(value) != 16 || !parse_hex32(value, 8, &hi) ||
		!parse_hex32(value + 8, 8, &lo))
		return false;
	*out = ((uint64_t) hi << 32) | lo;
	return true;
}

/* Stores one known field; false on a bad value or a repeated key. */
static bool
store_field(const char *key, const char *value, bool quoted, CmNodeState *s,
			unsigned *seen)
{
	uint64_t n;
	unsigned flag;
	bool ok;

	if (strcmp(key, "name") == 0)
	{
		flag = F_NAME;
		ok = quoted && strlen(value) < CM_NODE_NAME_LEN;
		if (ok)
			strcpy(s->name, value);
	}
	else if (strcmp(key, "system_identifier") == 0)
	{
		flag = F_SYSID;
		ok = quoted && parse_u64(value, &s->system_identifier);
	}
	else if (strcmp(key, "wal_lsn") == 0)
	{
		flag = F_LSN;
		ok = quoted && parse_lsn(value, &s->wal_lsn);
	}
	else if (strcmp(key, "instance") == 0 || strcmp(key, "vote") == 0)
	{
		flag = key[0] == 'i' ? F_INSTANCE : F_VOTE;
		ok = quoted &&
			 parse_instance(value, flag == F_INSTANCE ? &s->instance
													  : &s->vote_instance);
	}
	else if (strcmp(key, "in_recovery") == 0)
	{
		flag = F_RECOVERY;
		ok = !quoted && read_bool(value, &s->in_recovery);
	}
	else if (strcmp(key, "streaming") == 0)
	{
		flag = F_STREAMING;
		ok = !quoted && read_bool(value, &s->streaming);
	}
	else if (strcmp(key, "timeline") == 0 || strcmp(key, "timeline_mark") == 0 ||
			 strcmp(key, "vote_timeline") == 0 ||
			 strcmp(key, "sessions") == 0 || strcmp(key, "vote_hold_ms") == 0)
	{
		flag = strcmp(key, "timeline") == 0		   ? F_TIMELINE
			   : strcmp(key, "vote_timeline") == 0 ? F_VOTE_TIMELINE
			   : strcmp(key, "vote_hold_ms") == 0  ? F_VOTE_HOLD
			   : key[0] == 't'					   ? F_MARK
												   : F_SESSIONS;
		ok = !quoted && parse_u64(value, &n) && n <= UINT32_MAX;
		if (ok && flag == F_TIMELINE)
			s->timeline = (uint32_t) n;
		else if (ok && flag == F_MARK)
			s->timeline_mark = (uint32_t) n;
		else if (ok && flag == F_VOTE_TIMELINE)
			s->vote_timeline = (uint32_t) n;
		else if (ok && flag == F_VOTE_HOLD)
			s->vote_hold_ms = (uint32_t) n;
		else if (ok)
			s->sessions = (uint32_t) n;
	}
	else if (strcmp(key, "port") == 0)
	{
		flag = F_PORT;
		ok = !quoted && parse_u64(value, &n) && n >= 1 && n <= 65535;
		if (ok)
			s->port = (int) n;
	}
	else
		return false; /* not a known key: the caller skips it */
	if (!ok || (*seen & flag))
		return false;
	*seen |= flag;
	return true;
}

static bool
known_key(const char *key)
{
	static const char *const keys[] = {"name",		  "system_identifier",
									   "port",		  "in_recovery",
									   "timeline",	  "timeline_mark",
									   "wal_lsn",	  "streaming",
									   "sessions",	  "instance",
									   "vote",		  "vote_timeline",
									   "vote_hold_ms"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

bool
cm_node_state_parse(const char *body, size_t len, CmNodeState *out)
{
	Reader r = {body, body + len};
	unsigned seen = 0;
	CmNodeState s;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if (len > CM_NODE_STATE_MAX || !expect(&r, '{'))
		return false;
	skip_ws(&r);
	if (r.p < r.end && *r.p == '}')
		return false;
	for (;;)
	{
		char key[32];
		char value[CM_NODE_NAME_LEN + 8];
		bool quoted;
		bool cut;

		if (!read_string(&r, key, sizeof(key), false, &cut) || !expect(&r, ':'))
			return false;
		if (cut || !known_key(key))
		{
			if (!skip_value(&r, 1))
				return false;
		}
		else
		{
			skip_ws(&r);
			quoted = r.p < r.end && *r.p == '"';
			if (!(quoted ? read_string(&r, value, sizeof(value), true, &cut)
						 : read_bare(&r, value, sizeof(value))))
				return false;
			if (!store_field(key, value, quoted, &s, &seen))
				return false;
		}
		skip_ws(&r);
		if (r.p < r.end && *r.p == ',')
		{
			r.p++;
			continue;
		}
		if (!expect(&r, '}'))
			return false;
		break;
	}
	skip_ws(&r);
	if (r.p != r.end || (seen & F_ALL) != F_ALL ||
		((seen & F_VOTE_BOTH) != 0 && (seen & F_VOTE_BOTH) != F_VOTE_BOTH))
		return false;
	s.reachable = true;
	*out = s;
	return true;
}
