/*
 * pure/hba_parse.c
 *		Tokenizer shared by pg_hba.conf and pg_ident.conf, and the parser
 *		that turns pg_hba.conf lines into rules.
 *
 * The tokenizer reads lines, backslash continuations, comments, quotes,
 * comma lists and @file inclusion exactly as the server does (see
 * cm_hba.h for the few deliberate differences).  Everything a parse
 * allocates lives in one CmAuthStore, freed in one call.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_hba.h"

#include <errno.h>
#include <locale.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At most this many @file and include reads per parse. */
#define MAX_INCLUDE_READS 1000

/* ----------------------------------------------------------------
 * The store: a bump allocator plus the compiled regexes.
 * ----------------------------------------------------------------
 */

typedef struct StoreChunk
{
	struct StoreChunk *next;
	size_t size;
	size_t used;
	max_align_t data[];
} StoreChunk;

struct CmAuthStore
{
	StoreChunk *chunks;
	regex_t **regexes; /* malloc'd: each needs regfree() */
	int nregexes;
	int regexes_cap;
	locale_t c_locale; /* regexes compile and run in the C locale */
	bool oom;
};

#define STORE_CHUNK_SIZE 16384

CmAuthStore *
cm_auth_store_new(void)
{
	return calloc(1, sizeof(CmAuthStore));
}

void
cm_auth_store_free(CmAuthStore *store)
{
	StoreChunk *chunk;

	if (store == NULL)
		return;
	for (int i = 0; i < store->nregexes; i++)
		regfree(store->regexes[i]);
	free(store->regexes);
	if (store->c_locale != (locale_t) 0)
		freelocale(store->c_locale);
	chunk = store->chunks;
	while (chunk != NULL)
	{
		StoreChunk *next = chunk->next;

		free(chunk);
		chunk = next;
	}
	free(store);
}

bool
cm_auth_out_of_memory(const CmAuthStore *store)
{
	return store->oom;
}

/* Zeroed memory that lives as long as the store; NULL when out of memory. */
void *
cm_auth_alloc(CmAuthStore *store, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	StoreChunk *chunk = store->chunks;
	void *p;

	if (size > SIZE_MAX / 2)
	{
		store->oom = true;
		return NULL;
	}
	size = (size + align - 1) / align * align;
	if (size == 0)
		size = align;
	if (chunk == NULL || chunk->size - chunk->used < size)
	{
		size_t want = size > STORE_CHUNK_SIZE ? size : STORE_CHUNK_SIZE;

		chunk = malloc(sizeof(StoreChunk) + want);
		if (chunk == NULL)
		{
			store->oom = true;
			return NULL;
		}
		chunk->size = want;
		chunk->used = 0;
		/* a big block gets its own chunk behind the current one */
		if (store->chunks != NULL && want > STORE_CHUNK_SIZE)
		{
			chunk->next = store->chunks->next;
			store->chunks->next = chunk;
		}
		else
		{
			chunk->next = store->chunks;
			store->chunks = chunk;
		}
	}
	p = (char *) chunk->data + chunk->used;
	chunk->used += size;
	memset(p, 0, size);
	return p;
}

static char *
store_strndup(CmAuthStore *store, const char *s, size_t len)
{
	char *copy = cm_auth_alloc(store, len + 1);

	if (copy != NULL)
	{
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	return copy;
}

char *
cm_auth_strdup(CmAuthStore *store, const char *s)
{
	return store_strndup(store, s, strlen(s));
}

char *
cm_auth_printf(CmAuthStore *store, const char *fmt, ...)
{
	va_list ap;
	int len;
	char *out;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return NULL;
	out = cm_auth_alloc(store, (size_t) len + 1);
	if (out == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(out, (size_t) len + 1, fmt, ap);
	va_end(ap);
	return out;
}

/*
 * Makes room for need elements in an array kept in the store, doubling;
 * returns the (maybe moved) array, or NULL when out of memory.
 */
void *
cm_auth_grow(CmAuthStore *store, void *array, int *cap, int need, size_t elsize)
{
	int newcap;
	void *bigger;

	if (need <= *cap)
		return array;
	newcap = *cap > 0 ? *cap : 8;
	while (newcap < need)
		newcap *= 2;
	bigger = cm_auth_alloc(store, (size_t) newcap * elsize);
	if (bigger == NULL)
		return NULL;
	if (array != NULL)
		memcpy(bigger, array, (size_t) *cap * elsize);
	*cap = newcap;
	return bigger;
}

const CmHbaError cm_auth_oom_error = {NULL, 0, "out of memory"};

/*
 * Keeps an error in an array of the store; false when out of memory (the
 * caller then reports cm_auth_oom_error instead).
 */
bool
cm_auth_add_error(CmAuthStore *store, CmHbaError **errors, int *n, int *cap,
				  const char *file, int line, const char *message)
{
	CmHbaError *grown =
		cm_auth_grow(store, *errors, cap, *n + 1, sizeof(CmHbaError));

	if (grown == NULL)
		return false;
	*errors = grown;
	grown[*n].file = file;
	grown[*n].line = line;
	grown[*n].message = message != NULL ? message : "out of memory";
	(*n)++;
	return true;
}

/* ----------------------------------------------------------------
 * Regular expressions: the server's ARE syntax translated to POSIX ERE.
 * ----------------------------------------------------------------
 */

/* Characters that need a backslash to be literal in an ERE. */
static bool
ere_special(char c)
{
	return c != '\0' && strchr(".[]()*+?{}|^$\\", c) != NULL;
}

static bool
is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		   (c >= 'A' && c <= 'Z');
}

/* The ERE for an ARE class escape outside brackets, or NULL. */
static const char *
class_escape(char c)
{
	switch (c)
	{
		case 'd':
			return "[0-9]";
		case 'D':
			return "[^0-9]";
		case 's':
			return "[[:space:]]";
		case 'S':
			return "[^[:space:]]";
		case 'w':
			return "[[:alnum:]_]";
		case 'W':
			return "[^[:alnum:]_]";
		default:
			return NULL;
	}
}

/*
 * How big glibc's compiled form of the pattern read so far gets: "a+"
 * becomes "aa*" and "a{3}" three copies of "a", so nested repetition
 * multiplies.  Sizes count atoms; a group counts what is inside it.
 */
#define MAX_GROUP_DEPTH 256
#define MAX_EXPANSION	100000

typedef struct ReSize
{
	long total[MAX_GROUP_DEPTH + 1]; /* per open group, outermost first */
	long last;						 /* size of the atom just read */
	int depth;
	bool after_quantifier;
} ReSize;

static void
size_atom(ReSize *z, long size)
{
	z->total[z->depth] += size;
	z->last = size;
	z->after_quantifier = false;
}

/* A quantifier repeating the last atom factor times (at most). */
static const char *
size_quantifier(ReSize *z, long factor)
{
	long sum = 0;

	/* an ARE refuses "a**" or "a+{2}": a quantifier needs an atom */
	if (z->after_quantifier || z->last == 0)
		return "quantifier operand invalid";
	if (factor > 1)
	{
		z->total[z->depth] += z->last * (factor - 1);
		z->last *= factor;
	}
	z->after_quantifier = true;
	for (int i = 0; i <= z->depth; i++)
		sum += z->total[i];
	if (sum > MAX_EXPANSION)
		return "repetition counts are too large for the connection manager";
	return NULL;
}

/*
 * A '{' at *pp outside brackets.  Not followed by a digit it is a literal
 * brace in an ARE; otherwise a bound {n}, {n,} or {n,m}, whose counts an
 * ARE limits to 255.
 */
static const char *
translate_bound(const char **pp, char **op, ReSize *z)
{
	const char *p = *pp + 1;
	long n = 0;
	long m = -1;

	if (*p < '0' || *p > '9')
	{
		*op += sprintf(*op, "\\{");
		*pp = p;
		size_atom(z, 1);
		return NULL;
	}
	while (*p >= '0' && *p <= '9' && n <= 255)
		n = n * 10 + (*p++ - '0');
	if (*p == ',')
	{
		p++;
		if (*p >= '0' && *p <= '9')
		{
			m = 0;
			while (*p >= '0' && *p <= '9' && m <= 255)
				m = m * 10 + (*p++ - '0');
		}
	}
	if (n > 255 || m > 255 || (*p >= '0' && *p <= '9'))
		return "invalid repetition count(s)";
	if (*p == '}')
		p++;
	/* copy "{...}" as written; regcomp judges what is left */
	while (*pp < p)
		*(*op)++ = *(*pp)++;
	return size_quantifier(z, m > n ? m : (n > 0 ? n : 1));
}

/* Copies a bracket expression at *pp, translating its escapes. */
static const char *
translate_bracket(const char **pp, char **op)
{
	const char *p = *pp;
	char *o = *op;

	*o++ = *p++; /* '[' */
	if (*p == '^')
		*o++ = *p++;
	if (*p == ']')
		*o++ = *p++;
	while (*p != '\0' && *p != ']')
	{
		if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '='))
		{
			char kind = p[1];
			const char *end = p + 2;

			while (*end != '\0' && !(end[0] == kind && end[1] == ']'))
				end++;
			if (*end == '\0')
				break; /* unterminated: regcomp complains */
			memcpy(o, p, (size_t) (end + 2 - p));
			o += end + 2 - p;
			p = end + 2;
		}
		else if (*p == '\\')
		{
			char n = p[1];

			if (n == 'd')
				o += sprintf(o, "[:digit:]");
			else if (n == 's')
				o += sprintf(o, "[:space:]");
			else if (n == 'w')
				o += sprintf(o, "[:alnum:]_");
			else if (n == '\\')
				*o++ = '\\'; /* literal inside ERE brackets */
			else if (n == '\0' || is_alnum(n) || n == ']' || n == '-' ||
					 n == '^' || n == '[')
				return "this escape inside brackets is not supported by the "
					   "connection manager";
			else
				*o++ = n;
			p += 2;
		}
		else
			*o++ = *p++;
	}
	if (*p == ']')
		*o++ = *p++;
	*pp = p;
	*op = o;
	return NULL;
}

/* An escape at *pp outside brackets. */
static const char *
translate_escape(const char **pp, char **op)
{
	char n = (*pp)[1];
	const char *cls = class_escape(n);
	char *o = *op;

	if (n == '\0')
	{
		*o++ = '\\'; /* regcomp reports the trailing backslash */
		*pp += 1;
		*op = o;
		return NULL;
	}
	if (cls != NULL)
		o += sprintf(o, "%s", cls);
	else if (n >= '1' && n <= '9')
	{
		if ((*pp)[2] >= '0' && (*pp)[2] <= '9')
			return "back-references above \\9 are not supported by the "
				   "connection manager";
		*o++ = '\\';
		*o++ = n;
	}
	else if (is_alnum(n))
		return "escapes other than \\d \\s \\w \\D \\S \\W and \\1 to \\9 are "
			   "not supported by the connection manager";
	else if (ere_special(n))
	{
		*o++ = '\\';
		*o++ = n;
	}
	else
		*o++ = n; /* "\<" is literal in an ARE, a GNU word edge in an ERE */
	*pp += 2;
	*op = o;
	return NULL;
}

/*
 * Translates an ARE into an ERE of the same meaning, into out (at least
 * 14 bytes per input byte plus one).  Returns NULL, or what is refused.
 */
static const char *
translate_are(const char *pat, char *out)
{
	const char *p = pat;
	char *o = out;
	ReSize *z = calloc(1, sizeof(ReSize));
	const char *refused = NULL;

	if (z == NULL)
		return "out of memory";
	if (strncmp(p, "***", 3) == 0)
		refused = "\"***\" directors are not supported by the connection "
				  "manager";
	while (refused == NULL && *p != '\0')
	{
		char c = *p;

		if (c == '\\')
		{
			refused = translate_escape(&p, &o);
			size_atom(z, 1);
		}
		else if (c == '[')
		{
			refused = translate_bracket(&p, &o);
			size_atom(z, 1);
		}
		else if (c == '{')
			refused = translate_bound(&p, &o, z);
		else if (c == '*' || c == '+' || c == '?')
		{
			if (c == '?' && z->after_quantifier)
				refused = "non-greedy quantifiers are not supported by the "
						  "connection manager";
			else
				refused = size_quantifier(z, c == '+' ? 2 : 1);
			*o++ = *p++;
		}
		else if (c == '(' && p[1] == '?')
			refused = "\"(?\" constructs are not supported by the "
					  "connection manager";
		else if (c == '(')
		{
			if (z->depth == MAX_GROUP_DEPTH)
				refused = "parentheses nested too deeply for the connection "
						  "manager";
			else
				z->total[++z->depth] = 0;
			z->last = 0;
			z->after_quantifier = false;
			*o++ = *p++;
		}
		else if (c == ')' && z->depth > 0)
		{
			long inner = z->total[z->depth--] + 1;

			size_atom(z, inner);
			*o++ = *p++;
		}
		else if (c == '|' || c == '^' || c == '$')
		{
			/* no atom: a quantifier cannot follow */
			z->last = 0;
			z->after_quantifier = false;
			*o++ = *p++;
		}
		else
		{
			size_atom(z, 1);
			*o++ = *p++;
		}
	}
	*o = '\0';
	free(z);
	return refused;
}

static bool
ensure_c_locale(CmAuthStore *store)
{
	if (store->c_locale == (locale_t) 0)
		store->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
	return store->c_locale != (locale_t) 0;
}

/*
 * Compiles tok->text after its leading '/' and makes tok a regex token.
 * Returns NULL, or the error message for the line.
 */
const char *
cm_auth_regex_compile(CmAuthStore *store, CmHbaToken *tok, bool want_groups)
{
	const char *pattern = tok->text + 1;
	size_t plen = strlen(pattern);
	char *ere;
	const char *refused;
	regex_t *re;
	locale_t old;
	int rc;

	if (!ensure_c_locale(store))
		return "could not create the C locale for regular expressions";
	ere = malloc(plen * 14 + 1);
	re = cm_auth_alloc(store, sizeof(regex_t));
	if (ere == NULL || re == NULL)
	{
		free(ere);
		store->oom = true;
		return "out of memory";
	}
	refused = translate_are(pattern, ere);
	if (refused != NULL)
	{
		free(ere);
		return cm_auth_printf(store, "invalid regular expression \"%s\": %s",
							  pattern, refused);
	}
	old = uselocale(store->c_locale);
	rc = regcomp(re, ere, REG_EXTENDED | (want_groups ? 0 : REG_NOSUB));
	uselocale(old);
	free(ere);
	if (rc != 0)
	{
		char errbuf[128];

		regerror(rc, re, errbuf, sizeof(errbuf));
		return cm_auth_printf(store, "invalid regular expression \"%s\": %s",
							  pattern, errbuf);
	}
	if (store->nregexes == store->regexes_cap)
	{
		int newcap = store->regexes_cap > 0 ? store->regexes_cap * 2 : 16;
		regex_t **bigger =
			realloc(store->regexes, (size_t) newcap * sizeof(regex_t *));

		if (bigger == NULL)
		{
			regfree(re);
			store->oom = true;
			return "out of memory";
		}
		store->regexes = bigger;
		store->regexes_cap = newcap;
	}
	store->regexes[store->nregexes++] = re;
	tok->regex = re;
	tok->kind = CM_HBA_TOKEN_REGEX;
	return NULL;
}

/* regexec() in the C locale; returns its result. */
int
cm_auth_regex_exec(const CmAuthStore *store, const regex_t *re,
				   const char *subject, size_t nmatch, regmatch_t *match)
{
	locale_t old = uselocale(store->c_locale);
	int rc = regexec(re, subject, nmatch, match, 0);

	uselocale(old);
	return rc;
}

/* ----------------------------------------------------------------
 * Paths of included files.
 * ----------------------------------------------------------------
 */

/*
 * Collapses "//", "/./" and "dir/.." and drops a trailing "/", in place,
 * as the server's canonicalize_path() does for our purposes.
 */
static void
canonicalize_path(char *path)
{
	bool absolute = path[0] == '/';
	char *out = path;
	char *p = path;
	size_t base;

	if (absolute)
		*out++ = *p++;
	base = (size_t) (out - path);
	while (*p != '\0')
	{
		char *seg = p;
		size_t len;

		while (*p != '\0' && *p != '/')
			p++;
		len = (size_t) (p - seg);
		while (*p == '/')
			p++;
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.')
		{
			char *last = out;
			bool have = (size_t) (out - path) > base;

			/* find the previous component, if any */
			while (last > path + base && last[-1] != '/')
				last--;
			if (have && strncmp(last, "..", (size_t) (out - last)) != 0)
			{
				out = last > path + base ? last - 1 : last;
				if (out == path + base)
					*out = '\0';
				continue;
			}
			if (absolute && !have)
				continue; /* nothing above the root */
		}
		if ((size_t) (out - path) > base)
			*out++ = '/';
		memmove(out, seg, len);
		out += len;
	}
	*out = '\0';
	if (path[0] == '\0')
		strcpy(path, ".");
}

/*
 * Where the server looks for an @file or include named name, written in
 * the file outer: absolute names as they are, others next to outer.
 */
static char *
resolve_include(CmAuthStore *store, const char *outer, const char *name)
{
	const char *slash = strrchr(outer, '/');
	size_t dirlen;
	char *path;

	if (name[0] == '/')
		return cm_auth_strdup(store, name);
	if (slash == NULL)
		dirlen = 0;
	else
	{
		/* the directory, without its trailing slashes; "/" stays */
		dirlen = (size_t) (slash - outer);
		while (dirlen > 0 && outer[dirlen - 1] == '/')
			dirlen--;
		if (dirlen == 0)
			dirlen = 1;
	}
	path = cm_auth_alloc(store, dirlen + strlen(name) + 2);
	if (path == NULL)
		return NULL;
	memcpy(path, outer, dirlen);
	if (dirlen > 0)
		path[dirlen++] = '/';
	strcpy(path + dirlen, name);
	canonicalize_path(path);
	return path;
}

/* ----------------------------------------------------------------
 * The tokenizer.
 * ----------------------------------------------------------------
 */

typedef struct LineVec
{
	CmAuthLine *v;
	int n;
	int cap;
} LineVec;

typedef struct TokenVec
{
	CmHbaToken *v;
	int n;
	int cap;
} TokenVec;

typedef struct Tokenizer
{
	CmAuthStore *store;
	const CmHbaParseOptions *opts;
	size_t include_bytes;
	int include_reads;
	char *line; /* scratch: the logical line being read */
	size_t line_len;
	size_t line_cap;
	char *tok; /* scratch: the token being read, as long as a line */
	size_t tok_cap;
	bool failed; /* out of memory */
} Tokenizer;

static void tokenize_text(Tokenizer *t, const char *text, size_t len,
						  const char *file, int depth, LineVec *out);

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool
scratch_reserve(Tokenizer *t, char **buf, size_t *cap, size_t need)
{
	size_t newcap;
	char *bigger;

	if (need <= *cap)
		return true;
	newcap = *cap > 0 ? *cap : 256;
	while (newcap < need)
		newcap *= 2;
	bigger = realloc(*buf, newcap);
	if (bigger == NULL)
	{
		t->failed = true;
		t->store->oom = true;
		return false;
	}
	*buf = bigger;
	*cap = newcap;
	return true;
}

/*
 * Reads the next logical line into t->line: physical lines joined while
 * one ends in a backslash.  The backslash must come after the point of the
 * previous join, and trailing CR and LF characters go first, as in the
 * server.  Returns false at the end of the text.
 */
static bool
next_logical_line(Tokenizer *t, const char *text, size_t len, size_t *pos,
				  int *continuations, bool *has_nul)
{
	size_t last_join = 0;
	bool got = false;

	t->line_len = 0;
	*continuations = 0;
	*has_nul = false;
	while (*pos < len)
	{
		const char *start = text + *pos;
		const char *nl = memchr(start, '\n', len - *pos);
		size_t n = nl != NULL ? (size_t) (nl - start) + 1 : len - *pos;

		if (memchr(start, '\0', n) != NULL)
			*has_nul = true;
		if (!scratch_reserve(t, &t->line, &t->line_cap, t->line_len + n + 1))
			return false;
		memcpy(t->line + t->line_len, start, n);
		t->line_len += n;
		*pos += n;
		got = true;
		while (t->line_len > 0 && (t->line[t->line_len - 1] == '\n' ||
								   t->line[t->line_len - 1] == '\r'))
			t->line_len--;
		if (t->line_len > last_join && t->line[t->line_len - 1] == '\\')
		{
			last_join = --t->line_len;
			(*continuations)++;
			continue;
		}
		break;
	}
	if (got)
		t->line[t->line_len] = '\0';
	return got;
}

/*
 * Reads one token at *lp into t->tok.  Returns 1 for a token, 0 at the end
 * of the line or a comment, -1 when it is too long for the server (15).
 * A quote before any character marks the token quoted; a comma ends it
 * and is left for the next call, which skips it.
 */
static int
next_token(Tokenizer *t, const char **lp, bool *initial_quote,
		   bool *terminating_comma)
{
	const char *p = *lp;
	size_t n = 0;
	size_t max = t->opts->server_major >= 16 ? SIZE_MAX : CM_HBA_PG15_MAX_TOKEN;
	bool in_quote = false;
	bool was_quote = false;
	bool saw_quote = false;

	*initial_quote = false;
	*terminating_comma = false;
	while (*p != '\0' && (is_blank(*p) || *p == ','))
		p++;
	while (*p != '\0' && (!is_blank(*p) || in_quote))
	{
		char c = *p;

		if (c == '#' && !in_quote)
		{
			p += strlen(p);
			break;
		}
		if (n >= max)
		{
			t->tok[n] = '\0';
			*lp = p + strlen(p);
			return -1;
		}
		if (c == ',' && !in_quote)
		{
			*terminating_comma = true;
			break;
		}
		/* "" inside quotes is one quote character */
		if (c != '"' || was_quote)
			t->tok[n++] = c;
		was_quote = in_quote && c == '"' ? !was_quote : false;
		if (c == '"')
		{
			in_quote = !in_quote;
			saw_quote = true;
			if (n == 0)
				*initial_quote = true;
		}
		p++;
	}
	t->tok[n] = '\0';
	*lp = p;
	return saw_quote || n > 0 ? 1 : 0;
}

static bool
append_token(Tokenizer *t, TokenVec *field, const CmHbaToken *tok,
			 int *line_tokens, const char **err)
{
	if (*line_tokens >= CM_HBA_MAX_LINE_TOKENS)
	{
		*err = cm_auth_printf(t->store, "too many tokens on one line (limit %d)",
							  CM_HBA_MAX_LINE_TOKENS);
		return false;
	}
	field->v = cm_auth_grow(t->store, field->v, &field->cap, field->n + 1,
							sizeof(CmHbaToken));
	if (field->v == NULL)
	{
		t->failed = true;
		*err = "out of memory";
		return false;
	}
	field->v[field->n++] = *tok;
	(*line_tokens)++;
	return true;
}

/*
 * Reads a file through the caller's callback.  Returns 0 with a malloc'd
 * buffer, or an errno value; *err is set for our own limits.
 */
static int
read_included(Tokenizer *t, const char *path, int depth, char **data,
			  size_t *len, const char **err)
{
	int rc;

	*data = NULL;
	*len = 0;
	if (depth > CM_HBA_MAX_INCLUDE_DEPTH)
	{
		*err =
			cm_auth_printf(t->store,
						   "could not open file \"%s\": maximum nesting depth exceeded",
						   path);
		return ELOOP;
	}
	if (t->include_reads >= MAX_INCLUDE_READS)
	{
		*err = cm_auth_printf(t->store,
							  "could not open file \"%s\": more than %d "
							  "included files",
							  path, MAX_INCLUDE_READS);
		return EMFILE;
	}
	t->include_reads++;
	if (t->opts->read_file == NULL)
		return ENOENT;
	rc = t->opts->read_file(t->opts->read_arg, path, data, len);
	if (rc == 0 && *data == NULL && *len > 0)
		rc = EIO;
	if (rc != 0)
	{
		free(*data);
		*data = NULL;
		return rc;
	}
	if (*len > CM_HBA_MAX_FILE_SIZE ||
		t->include_bytes + *len > CM_HBA_MAX_INCLUDE_BYTES)
	{
		free(*data);
		*data = NULL;
		*err = cm_auth_printf(t->store,
							  "could not open file \"%s\": included files "
							  "exceed %d bytes",
							  path, CM_HBA_MAX_INCLUDE_BYTES);
		return EFBIG;
	}
	t->include_bytes += *len;
	return 0;
}

/*
 * Expands "@name" into field: every token of every line of the file, in
 * order.  The first line with an error makes it the caller's error.
 */
static void
expand_at_file(Tokenizer *t, const char *outer, const char *name, int depth,
			   TokenVec *field, int *line_tokens, const char **err)
{
	char *path = resolve_include(t->store, outer, name);
	char *data;
	size_t len;
	int rc;
	LineVec lines = {0};

	if (path == NULL)
	{
		t->failed = true;
		*err = "out of memory";
		return;
	}
	rc = read_included(t, path, depth, &data, &len, err);
	if (rc != 0)
	{
		if (*err != NULL)
			return;
		if (t->opts->server_major >= 16)
			*err = cm_auth_printf(t->store, "could not open file \"%s\": %s",
								  path, strerror(rc));
		else
			*err = cm_auth_printf(t->store,
								  "could not open secondary authentication "
								  "file \"@%s\" as \"%s\": %s",
								  name, path, strerror(rc));
		return;
	}
	tokenize_text(t, data != NULL ? data : "", len, path, depth, &lines);
	free(data);
	for (int i = 0; i < lines.n && *err == NULL; i++)
	{
		if (lines.v[i].error != NULL)
		{
			*err = lines.v[i].error;
			break;
		}
		for (int f = 0; f < lines.v[i].nfields && *err == NULL; f++)
		{
			for (int k = 0; k < lines.v[i].fields[f].ntokens; k++)
			{
				CmHbaToken tok = lines.v[i].fields[f].tokens[k];

				if (tok.include == NULL)
					tok.include = path;
				if (!append_token(t, field, &tok, line_tokens, err))
					break;
			}
		}
	}
}

/*
 * Reads one field at *lp: tokens joined by commas, @files expanded.
 * Returns the tokens; *err is set on an error.
 */
static void
next_field(Tokenizer *t, const char **lp, const char *file, int depth,
		   TokenVec *field, int *line_tokens, const char **err)
{
	bool initial_quote;
	bool more;

	do
	{
		int r = next_token(t, lp, &initial_quote, &more);

		if (r < 0)
		{
			*err = cm_auth_printf(t->store,
								  "authentication file token too long, "
								  "skipping: \"%s\"",
								  t->tok);
			break;
		}
		if (r == 0)
			break;
		if (!initial_quote && t->tok[0] == '@' && t->tok[1] != '\0')
		{
			char *name = cm_auth_strdup(t->store, t->tok + 1);

			if (name == NULL)
			{
				t->failed = true;
				*err = "out of memory";
				break;
			}
			expand_at_file(t, file, name, depth + 1, field, line_tokens, err);
		}
		else
		{
			CmHbaToken tok = {0};

			tok.text = cm_auth_strdup(t->store, t->tok);
			tok.quoted = initial_quote;
			if (tok.text == NULL)
			{
				t->failed = true;
				*err = "out of memory";
				break;
			}
			append_token(t, field, &tok, line_tokens, err);
		}
	} while (more && *err == NULL);
}

static void
emit_line(Tokenizer *t, LineVec *out, const CmAuthLine *line)
{
	out->v = cm_auth_grow(t->store, out->v, &out->cap, out->n + 1,
						  sizeof(CmAuthLine));
	if (out->v == NULL)
	{
		t->failed = true;
		return;
	}
	out->v[out->n++] = *line;
}

/*
 * The include directives of 16 and later: a line of exactly two fields
 * whose first token is "include", "include_if_exists" or "include_dir".
 * Returns true when the line was one (lines read go to out; an error goes
 * to *err and the line is kept to carry it).
 */
static bool
include_directive(Tokenizer *t, const CmAuthLine *line, int depth,
				  LineVec *out, const char **err)
{
	const char *word = line->fields[0].tokens[0].text;
	const char *name = line->fields[1].tokens[0].text;
	bool missing_ok = strcmp(word, "include_if_exists") == 0;
	char *path;
	char *data;
	size_t len;
	int rc;

	if (strcmp(word, "include_dir") == 0)
	{
		*err = cm_auth_printf(t->store,
							  "\"include_dir\" is not supported by the "
							  "connection manager: \"%s\"",
							  name);
		return true;
	}
	if (strcmp(word, "include") != 0 && !missing_ok)
		return false;
	path = resolve_include(t->store, line->file, name);
	if (path == NULL)
	{
		t->failed = true;
		*err = "out of memory";
		return true;
	}
	rc = read_included(t, path, depth + 1, &data, &len, err);
	if (rc != 0)
	{
		if (*err == NULL && !(rc == ENOENT && missing_ok))
			*err = cm_auth_printf(t->store, "could not open file \"%s\": %s",
								  path, strerror(rc));
		return true;
	}
	tokenize_text(t, data != NULL ? data : "", len, path, depth + 1, out);
	free(data);
	return true;
}

static void
tokenize_text(Tokenizer *t, const char *text, size_t len, const char *file,
			  int depth, LineVec *out)
{
	size_t pos = 0;
	int line_number = 1;
	int continuations;
	bool has_nul;

	while (!t->failed &&
		   next_logical_line(t, text, len, &pos, &continuations, &has_nul))
	{
		CmAuthLine line = {0};
		const char *err = NULL;
		const char *lp;
		int line_tokens = 0;
		struct
		{
			CmAuthField *v;
			int n;
			int cap;
		} fields = {0};

		line.file = file;
		line.line = line_number;
		line_number += continuations + 1;
		line.raw = store_strndup(t->store, t->line, t->line_len);
		if (line.raw == NULL ||
			!scratch_reserve(t, &t->tok, &t->tok_cap, t->line_len + 1))
		{
			t->failed = true;
			break;
		}
		if (has_nul)
			err = "line contains a NUL byte";
		else if (t->line_len > CM_HBA_MAX_LINE_LEN)
			err = cm_auth_printf(t->store, "line too long (limit %d bytes)",
								 CM_HBA_MAX_LINE_LEN);
		lp = line.raw;
		while (err == NULL && *lp != '\0')
		{
			TokenVec field = {0};

			next_field(t, &lp, file, depth, &field, &line_tokens, &err);
			if (field.n == 0)
				continue; /* end of line, a comment, or an empty @file */
			fields.v = cm_auth_grow(t->store, fields.v, &fields.cap,
									fields.n + 1, sizeof(CmAuthField));
			if (fields.v == NULL)
			{
				t->failed = true;
				err = "out of memory";
				break;
			}
			fields.v[fields.n].ntokens = field.n;
			fields.v[fields.n].tokens = field.v;
			fields.n++;
		}
		if (fields.n == 0 && err == NULL)
			continue;
		line.nfields = fields.n;
		line.fields = fields.v;
		if (err == NULL && fields.n == 2 && t->opts->server_major >= 16 &&
			include_directive(t, &line, depth, out, &err) && err == NULL)
			continue;
		line.error = err;
		emit_line(t, out, &line);
	}
}

/*
 * Tokenizes a whole file (path names it and anchors @files).  Returns the
 * number of lines in *lines, or -1 when out of memory.
 */
int
cm_auth_tokenize(CmAuthStore *store, const char *text, size_t len,
				 const char *path, const CmHbaParseOptions *opts,
				 CmAuthLine **lines)
{
	Tokenizer t = {0};
	LineVec out = {0};
	const char *file = cm_auth_strdup(store, path);

	*lines = NULL;
	if (file == NULL)
		return -1;
	t.store = store;
	t.opts = opts;
	tokenize_text(&t, text, len, file, 0, &out);
	free(t.line);
	free(t.tok);
	if (t.failed || store->oom)
		return -1;
	*lines = out.v;
	return out.n;
}

/* ----------------------------------------------------------------
 * pg_hba.conf lines.
 * ----------------------------------------------------------------
 */

typedef struct OptionState
{
	bool ldapserver;
	bool ldapbasedn;
	bool ldapprefix;
	bool ldapsuffix;
	bool ldapbinddn;
	bool ldapbindpasswd;
	bool ldapsearchattribute;
	bool ldapsearchfilter;
	int radiusservers; /* list lengths; 0 when unset or empty */
	int radiussecrets;
	int radiusports;
	int radiusidentifiers;
} OptionState;

typedef struct HbaParser
{
	CmAuthStore *store;
	const CmHbaParseOptions *opts;
} HbaParser;

static const struct
{
	const char *name;
	CmHbaMethod method;
	unsigned needs; /* CM_HBA_BUILD_* the server needs for it */
} methods[] = {
	{"trust", CM_HBA_METHOD_TRUST, 0},
	{"ident", CM_HBA_METHOD_IDENT, 0},
	{"peer", CM_HBA_METHOD_PEER, 0},
	{"password", CM_HBA_METHOD_PASSWORD, 0},
	{"gss", CM_HBA_METHOD_GSS, CM_HBA_BUILD_GSS},
	{"sspi", CM_HBA_METHOD_SSPI, CM_HBA_BUILD_SSPI},
	{"reject", CM_HBA_METHOD_REJECT, 0},
	{"md5", CM_HBA_METHOD_MD5, 0},
	{"scram-sha-256", CM_HBA_METHOD_SCRAM, 0},
	{"pam", CM_HBA_METHOD_PAM, CM_HBA_BUILD_PAM},
	{"bsd", CM_HBA_METHOD_BSD, CM_HBA_BUILD_BSD},
	{"ldap", CM_HBA_METHOD_LDAP, CM_HBA_BUILD_LDAP},
	{"cert", CM_HBA_METHOD_CERT, CM_HBA_BUILD_SSL},
	{"radius", CM_HBA_METHOD_RADIUS, 0},
};

static bool
is_keyword(const CmHbaToken *tok, const char *word)
{
	return !tok->quoted && strcmp(tok->text, word) == 0;
}

static const char *
classify_databases(HbaParser *p, CmAuthField *field)
{
	for (int i = 0; i < field->ntokens; i++)
	{
		CmHbaToken *tok = &field->tokens[i];

		if (is_keyword(tok, "all"))
			tok->kind = CM_HBA_TOKEN_ALL;
		else if (is_keyword(tok, "sameuser"))
			tok->kind = CM_HBA_TOKEN_SAMEUSER;
		else if (is_keyword(tok, "samerole") || is_keyword(tok, "samegroup"))
			tok->kind = CM_HBA_TOKEN_SAMEROLE;
		else if (is_keyword(tok, "replication"))
			tok->kind = CM_HBA_TOKEN_REPLICATION;
		else if (p->opts->server_major >= 16 && tok->text[0] == '/')
		{
			const char *err = cm_auth_regex_compile(p->store, tok, false);

			if (err != NULL)
				return err;
		}
		else
			tok->kind = CM_HBA_TOKEN_NAME;
	}
	return NULL;
}

/*
 * A role token of pg_hba.conf, and on 16+ the database-user token of
 * pg_ident.conf: +group, all, /regex (16+), or a name.  Returns NULL, or
 * the error of a bad regular expression.
 */
const char *
cm_auth_classify_role(CmAuthStore *store, int server_major, CmHbaToken *tok)
{
	if (!tok->quoted && tok->text[0] == '+')
		tok->kind = CM_HBA_TOKEN_GROUP;
	else if (is_keyword(tok, "all"))
		tok->kind = CM_HBA_TOKEN_ALL;
	else if (server_major >= 16 && tok->text[0] == '/')
		return cm_auth_regex_compile(store, tok, false);
	else
		tok->kind = CM_HBA_TOKEN_NAME;
	return NULL;
}

/* The mask of numbits ones (all of them when NULL), or -1 if invalid. */
static int
cidr_mask(struct sockaddr_storage *mask, const char *numbits, int family)
{
	long bits;

	memset(mask, 0, sizeof(*mask));
	if (numbits == NULL)
		bits = family == AF_INET ? 32 : 128;
	else
	{
		char *end;

		bits = strtol(numbits, &end, 10);
		if (*numbits == '\0' || *end != '\0')
			return -1;
	}
	if (family == AF_INET)
	{
		struct sockaddr_in *m = (struct sockaddr_in *) mask;
		uint32_t ones;

		if (bits < 0 || bits > 32)
			return -1;
		ones = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
		m->sin_family = AF_INET;
		m->sin_addr.s_addr = htonl(ones);
		return 0;
	}
	if (family == AF_INET6)
	{
		struct sockaddr_in6 *m = (struct sockaddr_in6 *) mask;

		if (bits < 0 || bits > 128)
			return -1;
		m->sin6_family = AF_INET6;
		for (int i = 0; i < 16; i++, bits -= 8)
		{
			if (bits >= 8)
				m->sin6_addr.s6_addr[i] = 0xff;
			else if (bits > 0)
				m->sin6_addr.s6_addr[i] = (uint8_t) (0xff << (8 - bits));
		}
		return 0;
	}
	return -1;
}

/*
 * getaddrinfo() with AI_NUMERICHOST, as the server calls it, so every
 * spelling it accepts ("127.1", "0x7f.0.0.1") means the same here.
 */
static int
numeric_address(const char *text, struct sockaddr_storage *out)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_family = AF_UNSPEC;
	rc = getaddrinfo(text, NULL, &hints, &res);
	if (rc == 0 && res == NULL)
		rc = EAI_FAIL;
	if (rc == 0)
	{
		size_t n =
			res->ai_addrlen < sizeof(*out) ? res->ai_addrlen : sizeof(*out);

		memset(out, 0, sizeof(*out));
		memcpy(out, res->ai_addr, n);
	}
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

/* The address field, and the netmask field after it if one is needed. */
static const char *
parse_address(HbaParser *p, const CmAuthLine *tl, int *fi, CmHbaRule *rule)
{
	const CmHbaToken *tok;
	char *str;
	char *slash;
	int rc;

	if (*fi >= tl->nfields)
		return "end-of-line before IP address specification";
	if (tl->fields[*fi].ntokens > 1)
		return "multiple values specified for host address";
	tok = &tl->fields[*fi].tokens[0];
	rule->address = tok->text;
	if (is_keyword(tok, "all"))
	{
		rule->addr_kind = CM_HBA_ADDR_ALL;
		return NULL;
	}
	if (is_keyword(tok, "samehost"))
	{
		rule->addr_kind = CM_HBA_ADDR_SAMEHOST;
		return NULL;
	}
	if (is_keyword(tok, "samenet"))
	{
		rule->addr_kind = CM_HBA_ADDR_SAMENET;
		return NULL;
	}
	str = cm_auth_strdup(p->store, tok->text);
	if (str == NULL)
		return "out of memory";
	slash = strchr(str, '/');
	if (slash != NULL)
		*slash = '\0';
	rc = numeric_address(str, &rule->addr);
	if (rc == 0)
		rule->addr_kind = CM_HBA_ADDR_MASK;
	else if (rc == EAI_NONAME)
	{
		rule->addr_kind = CM_HBA_ADDR_HOSTNAME;
		rule->hostname = str;
	}
	else
		return cm_auth_printf(p->store, "invalid IP address \"%s\": %s", str,
							  gai_strerror(rc));
	if (slash != NULL)
	{
		if (rule->hostname != NULL)
			return cm_auth_printf(p->store,
								  "specifying both host name and CIDR mask is "
								  "invalid: \"%s\"",
								  tok->text);
		if (cidr_mask(&rule->mask, slash + 1, rule->addr.ss_family) < 0)
			return cm_auth_printf(p->store,
								  "invalid CIDR mask in address \"%s\"",
								  tok->text);
	}
	else if (rule->hostname == NULL)
	{
		(*fi)++;
		if (*fi >= tl->nfields)
			return "end-of-line before netmask specification";
		if (tl->fields[*fi].ntokens > 1)
			return "multiple values specified for netmask";
		tok = &tl->fields[*fi].tokens[0];
		rule->netmask = tok->text;
		rc = numeric_address(tok->text, &rule->mask);
		if (rc != 0)
			return cm_auth_printf(p->store, "invalid IP mask \"%s\": %s",
								  tok->text, gai_strerror(rc));
		if (rule->addr.ss_family != rule->mask.ss_family)
			return "IP address and mask do not match";
	}
	return NULL;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/*
 * Splits a RADIUS list as the server's SplitGUCList() does: items
 * separated by commas, maybe double-quoted, spaces around them.  Returns
 * the item count, or -1 on a syntax error; *ports_ok tells whether every
 * item reads as a non-zero number (atoi).
 */
static int
split_list(CmAuthStore *store, const char *val, bool *ports_ok)
{
	const char *p = val;
	int count = 0;

	*ports_ok = true;
	while (is_space(*p))
		p++;
	if (*p == '\0')
		return 0;
	for (;;)
	{
		char *item;

		if (*p == '"')
		{
			char *o;

			item = cm_auth_alloc(store, strlen(p) + 1);
			if (item == NULL)
				return -1;
			o = item;
			p++;
			for (;;)
			{
				if (*p == '\0')
					return -1; /* unterminated quote */
				if (*p == '"' && p[1] == '"')
				{
					*o++ = '"';
					p += 2;
				}
				else if (*p == '"')
				{
					p++;
					break;
				}
				else
					*o++ = *p++;
			}
		}
		else
		{
			const char *start = p;

			while (*p != '\0' && *p != ',' && !is_space(*p))
				p++;
			if (p == start)
				return -1; /* empty item */
			item = store_strndup(store, start, (size_t) (p - start));
			if (item == NULL)
				return -1;
		}
		if ((int) strtol(item, NULL, 10) == 0)
			*ports_ok = false;
		count++;
		while (is_space(*p))
			p++;
		if (*p == ',')
		{
			p++;
			while (is_space(*p))
				p++;
		}
		else if (*p == '\0')
			return count;
		else
			return -1;
	}
}

/*
 * What the server's OpenLDAP takes from an ldapurl, approximately: the
 * scheme, a host, a base DN after '/', then ?attributes?scope?filter.
 */
static const char *
parse_ldapurl(HbaParser *p, const char *val, OptionState *st)
{
	const char *sep = strstr(val, "://");
	const char *q;
	size_t scheme_len;

	if (sep == NULL)
		return cm_auth_printf(p->store, "could not parse LDAP URL \"%s\"", val);
	scheme_len = (size_t) (sep - val);
	if (!((scheme_len == 4 && strncmp(val, "ldap", 4) == 0) ||
		  (scheme_len == 5 && strncmp(val, "ldaps", 5) == 0)))
	{
		if ((scheme_len == 5 && strncmp(val, "ldapi", 5) == 0) ||
			(scheme_len == 5 && strncmp(val, "cldap", 5) == 0))
			return cm_auth_printf(p->store, "unsupported LDAP URL scheme: %.*s",
								  (int) scheme_len, val);
		return cm_auth_printf(p->store, "could not parse LDAP URL \"%s\"", val);
	}
	q = sep + 3;
	while (*q != '\0' && *q != '/' && *q != '?')
		q++;
	if (q > sep + 3)
		st->ldapserver = true;
	if (*q != '/')
		return NULL;
	st->ldapbasedn = true;
	q = strchr(q, '?');
	if (q == NULL)
		return NULL;
	if (q[1] != '\0' && q[1] != '?')
		st->ldapsearchattribute = true;
	q = strchr(q + 1, '?'); /* scope */
	if (q != NULL)
		q = strchr(q + 1, '?'); /* filter */
	if (q != NULL && q[1] != '\0' && q[1] != '?')
		st->ldapsearchfilter = true;
	return NULL;
}

static const char *
option_only_for(HbaParser *p, const char *name, const char *methods_text)
{
	return cm_auth_printf(p->store,
						  "authentication option \"%s\" is only valid for "
						  "authentication methods %s",
						  name, methods_text);
}

static bool
name_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
	{
		if (strcmp(name, *list) == 0)
			return true;
	}
	return false;
}

static const char *
parse_ldap_option(HbaParser *p, CmHbaRule *rule, const char *name,
				  const char *val, OptionState *st)
{
	if (strcmp(name, "ldapurl") == 0)
		return parse_ldapurl(p, val, st);
	if (strcmp(name, "ldapscheme") == 0 && strcmp(val, "ldap") != 0 &&
		strcmp(val, "ldaps") != 0)
		rule->warning =
			cm_auth_printf(p->store, "invalid ldapscheme value: \"%s\"", val);
	if (strcmp(name, "ldapport") == 0 && (int) strtol(val, NULL, 10) == 0)
		return cm_auth_printf(p->store, "invalid LDAP port number: \"%s\"", val);
	st->ldapserver |= strcmp(name, "ldapserver") == 0;
	st->ldapbasedn |= strcmp(name, "ldapbasedn") == 0;
	st->ldapprefix |= strcmp(name, "ldapprefix") == 0;
	st->ldapsuffix |= strcmp(name, "ldapsuffix") == 0;
	st->ldapbinddn |= strcmp(name, "ldapbinddn") == 0;
	st->ldapbindpasswd |= strcmp(name, "ldapbindpasswd") == 0;
	st->ldapsearchattribute |= strcmp(name, "ldapsearchattribute") == 0;
	st->ldapsearchfilter |= strcmp(name, "ldapsearchfilter") == 0;
	return NULL;
}

static const char *
parse_radius_option(HbaParser *p, const char *name, const char *val,
					OptionState *st)
{
	static const struct
	{
		const char *name;
		const char *what; /* as the server's message names the list */
		size_t offset;
	} lists[] = {
		{"radiusservers", "server", offsetof(OptionState, radiusservers)},
		{"radiusports", "port", offsetof(OptionState, radiusports)},
		{"radiussecrets", "secret", offsetof(OptionState, radiussecrets)},
		{"radiusidentifiers", "identifiers",
		 offsetof(OptionState, radiusidentifiers)},
	};
	bool numbers_ok;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
	{
		int n;

		if (strcmp(name, lists[i].name) != 0)
			continue;
		n = split_list(p->store, val, &numbers_ok);
		if (n < 0)
			return cm_auth_printf(p->store,
								  "could not parse RADIUS %s list \"%s\"",
								  lists[i].what, val);
		if (strcmp(name, "radiusports") == 0 && !numbers_ok)
			return cm_auth_printf(p->store,
								  "invalid RADIUS port number: \"%s\"", val);
		*(int *) ((char *) st + lists[i].offset) = n;
	}
	return NULL;
}

/* One name=value option of a rule; returns NULL or the error. */
static const char *
parse_option(HbaParser *p, CmHbaRule *rule, const char *name, const char *val,
			 OptionState *st)
{
	static const char *const ldap_options[] = {"ldapurl",
											   "ldaptls",
											   "ldapscheme",
											   "ldapserver",
											   "ldapport",
											   "ldapbinddn",
											   "ldapbindpasswd",
											   "ldapsearchattribute",
											   "ldapsearchfilter",
											   "ldapbasedn",
											   "ldapprefix",
											   "ldapsuffix",
											   NULL};
	static const char *const radius_options[] = {"radiusservers",
												 "radiusports", "radiussecrets",
												 "radiusidentifiers", NULL};
	static const char *const pam_options[] = {"pamservice", "pam_use_hostname",
											  NULL};
	static const char *const gss_options[] = {"krb_realm", "include_realm",
											  NULL};
	static const char *const sspi_options[] = {"compat_realm", "upn_username",
											   NULL};
	CmHbaMethod m = rule->method;

	if (strcmp(name, "map") == 0)
	{
		if (m != CM_HBA_METHOD_IDENT && m != CM_HBA_METHOD_PEER &&
			m != CM_HBA_METHOD_GSS && m != CM_HBA_METHOD_SSPI &&
			m != CM_HBA_METHOD_CERT)
			return option_only_for(p, "map",
								   "ident, peer, gssapi, sspi, and cert");
		rule->map = val;
	}
	else if (strcmp(name, "clientcert") == 0)
	{
		if (rule->conn_type != CM_HBA_CONN_HOSTSSL)
			return "clientcert can only be configured for \"hostssl\" rows";
		if (strcmp(val, "verify-full") == 0)
			rule->clientcert = CM_HBA_CLIENTCERT_VERIFY_FULL;
		else if (strcmp(val, "verify-ca") == 0)
		{
			if (m == CM_HBA_METHOD_CERT)
				return "clientcert only accepts \"verify-full\" when using "
					   "\"cert\" authentication";
			rule->clientcert = CM_HBA_CLIENTCERT_VERIFY_CA;
		}
		else
			return cm_auth_printf(p->store,
								  "invalid value for clientcert: \"%s\"", val);
	}
	else if (strcmp(name, "clientname") == 0)
	{
		if (rule->conn_type != CM_HBA_CONN_HOSTSSL)
			return "clientname can only be configured for \"hostssl\" rows";
		if (strcmp(val, "CN") == 0)
			rule->clientname = CM_HBA_CLIENTNAME_CN;
		else if (strcmp(val, "DN") == 0)
			rule->clientname = CM_HBA_CLIENTNAME_DN;
		else
			return cm_auth_printf(p->store,
								  "invalid value for clientname: \"%s\"", val);
	}
	else if (name_in(name, pam_options))
	{
		if (m != CM_HBA_METHOD_PAM)
			return option_only_for(p, name, "pam");
	}
	else if (name_in(name, ldap_options))
	{
		if (m != CM_HBA_METHOD_LDAP)
			return option_only_for(p, name, "ldap");
		return parse_ldap_option(p, rule, name, val, st);
	}
	else if (name_in(name, gss_options))
	{
		if (m != CM_HBA_METHOD_GSS && m != CM_HBA_METHOD_SSPI)
			return option_only_for(p, name, "gssapi and sspi");
	}
	else if (name_in(name, sspi_options))
	{
		if (m != CM_HBA_METHOD_SSPI)
			return option_only_for(p, name, "sspi");
	}
	else if (name_in(name, radius_options))
	{
		if (m != CM_HBA_METHOD_RADIUS)
			return option_only_for(p, name, "radius");
		return parse_radius_option(p, name, val, st);
	}
	else
		return cm_auth_printf(p->store,
							  "unrecognized authentication option name: "
							  "\"%s\"",
							  name);
	return NULL;
}

/* What the server checks once all options of an ldap or radius rule are in. */
static const char *
check_method_options(HbaParser *p, const CmHbaRule *rule, const OptionState *st)
{
	if (rule->method == CM_HBA_METHOD_LDAP)
	{
		if (st->ldapprefix || st->ldapsuffix)
		{
			if (st->ldapbasedn || st->ldapbinddn || st->ldapbindpasswd ||
				st->ldapsearchattribute || st->ldapsearchfilter)
				return "cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, "
					   "ldapsearchattribute, ldapsearchfilter, or ldapurl "
					   "together with ldapprefix";
		}
		else if (!st->ldapbasedn)
			return "authentication method \"ldap\" requires argument "
				   "\"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be "
				   "set";
		if (st->ldapsearchattribute && st->ldapsearchfilter)
			return "cannot use ldapsearchattribute together with "
				   "ldapsearchfilter";
	}
	if (rule->method == CM_HBA_METHOD_RADIUS)
	{
		static const char *const fmt =
			"the number of RADIUS %s (%d) must be 1 or the same as the "
			"number of RADIUS servers (%d)";

		if (st->radiusservers == 0)
			return "authentication method \"radius\" requires argument "
				   "\"radiusservers\" to be set";
		if (st->radiussecrets == 0)
			return "authentication method \"radius\" requires argument "
				   "\"radiussecrets\" to be set";
		if (st->radiussecrets != 1 && st->radiussecrets != st->radiusservers)
			return cm_auth_printf(p->store, fmt, "secrets", st->radiussecrets,
								  st->radiusservers);
		if (st->radiusports > 1 && st->radiusports != st->radiusservers)
			return cm_auth_printf(p->store, fmt, "ports", st->radiusports,
								  st->radiusservers);
		if (st->radiusidentifiers > 1 &&
			st->radiusidentifiers != st->radiusservers)
			return cm_auth_printf(p->store, fmt, "identifiers",
								  st->radiusidentifiers, st->radiusservers);
	}
	return NULL;
}

static const char *
parse_method(HbaParser *p, const CmAuthLine *tl, int fi, CmHbaRule *rule)
{
	const char *name;
	size_t i;

	if (fi >= tl->nfields)
		return "end-of-line before authentication method";
	if (tl->fields[fi].ntokens > 1)
		return "multiple values specified for authentication type";
	name = tl->fields[fi].tokens[0].text;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
	{
		if (strcmp(name, methods[i].name) == 0)
			break;
	}
	if (i == sizeof(methods) / sizeof(methods[0]))
		return cm_auth_printf(p->store, "invalid authentication method \"%s\"",
							  name);
	if ((methods[i].needs & p->opts->build) != methods[i].needs)
		return cm_auth_printf(p->store,
							  "invalid authentication method \"%s\": not "
							  "supported by this build",
							  name);
	rule->method = methods[i].method;
	if (rule->conn_type == CM_HBA_CONN_LOCAL &&
		rule->method == CM_HBA_METHOD_IDENT)
		rule->method = CM_HBA_METHOD_PEER; /* the server's compatibility */
	if (rule->conn_type == CM_HBA_CONN_LOCAL && rule->method == CM_HBA_METHOD_GSS)
		return "gssapi authentication is not supported on local sockets";
	if (rule->conn_type != CM_HBA_CONN_LOCAL &&
		rule->method == CM_HBA_METHOD_PEER)
		return "peer authentication is only supported on local sockets";
	if (rule->conn_type != CM_HBA_CONN_HOSTSSL &&
		rule->method == CM_HBA_METHOD_CERT)
		return "cert authentication is only supported on hostssl connections";
	return NULL;
}

static const char *
parse_conn_type(HbaParser *p, const CmAuthLine *tl, CmHbaRule *rule)
{
	static const struct
	{
		const char *name;
		CmHbaConnType type;
	} types[] = {
		{"local", CM_HBA_CONN_LOCAL},
		{"host", CM_HBA_CONN_HOST},
		{"hostssl", CM_HBA_CONN_HOSTSSL},
		{"hostnossl", CM_HBA_CONN_HOSTNOSSL},
		{"hostgssenc", CM_HBA_CONN_HOSTGSSENC},
		{"hostnogssenc", CM_HBA_CONN_HOSTNOGSSENC},
	};
	const char *name;

	if (tl->fields[0].ntokens > 1)
		return "multiple values specified for connection type";
	name = tl->fields[0].tokens[0].text;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
	{
		if (strcmp(name, types[i].name) != 0)
			continue;
		rule->conn_type = types[i].type;
		if (rule->conn_type == CM_HBA_CONN_HOSTSSL &&
			!(p->opts->build & CM_HBA_BUILD_SSL))
			rule->warning = "hostssl record cannot match because SSL is not "
							"supported by this build";
		else if (rule->conn_type == CM_HBA_CONN_HOSTSSL && !p->opts->ssl_enabled)
			rule->warning =
				"hostssl record cannot match because SSL is disabled";
		else if (rule->conn_type == CM_HBA_CONN_HOSTGSSENC &&
				 !(p->opts->build & CM_HBA_BUILD_GSS))
			rule->warning = "hostgssenc record cannot match because GSSAPI "
							"is not supported by this build";
		return NULL;
	}
	return cm_auth_printf(p->store, "invalid connection type \"%s\"", name);
}

static const char *
parse_options(HbaParser *p, const CmAuthLine *tl, int fi, CmHbaRule *rule)
{
	OptionState st = {0};
	int count = 0;
	CmHbaOption *options;
	const char *err;

	for (int f = fi; f < tl->nfields; f++)
		count += tl->fields[f].ntokens;
	options = cm_auth_alloc(p->store, sizeof(CmHbaOption) * (size_t) count);
	if (options == NULL)
		return "out of memory";
	for (int f = fi; f < tl->nfields; f++)
	{
		for (int k = 0; k < tl->fields[f].ntokens; k++)
		{
			const char *text = tl->fields[f].tokens[k].text;
			const char *eq = strchr(text, '=');
			CmHbaOption *opt = &options[rule->noptions];

			if (eq == NULL)
				return cm_auth_printf(p->store,
									  "authentication option not in "
									  "name=value format: %s",
									  text);
			opt->name = store_strndup(p->store, text, (size_t) (eq - text));
			opt->value = eq + 1;
			if (opt->name == NULL)
				return "out of memory";
			rule->noptions++;
			err = parse_option(p, rule, opt->name, opt->value, &st);
			if (err != NULL)
				return err;
		}
	}
	rule->options = options;
	return check_method_options(p, rule, &st);
}

static CmHbaSkip
skip_of(const CmHbaRule *rule)
{
	if (rule->conn_type == CM_HBA_CONN_LOCAL)
		return CM_HBA_SKIP_LOCAL;
	if (rule->conn_type == CM_HBA_CONN_HOSTGSSENC)
		return CM_HBA_SKIP_HOSTGSSENC;
	switch (rule->method)
	{
		case CM_HBA_METHOD_TRUST:
		case CM_HBA_METHOD_REJECT:
		case CM_HBA_METHOD_MD5:
		case CM_HBA_METHOD_PASSWORD:
		case CM_HBA_METHOD_SCRAM:
		case CM_HBA_METHOD_CERT:
			break;
		default:
			return CM_HBA_SKIP_METHOD;
	}
	if (rule->addr_kind == CM_HBA_ADDR_HOSTNAME)
		return CM_HBA_SKIP_HOSTNAME;
	return CM_HBA_SKIP_NONE;
}

/* One tokenized line into rule, in the server's order of checks. */
static const char *
parse_hba_line(HbaParser *p, const CmAuthLine *tl, CmHbaRule *rule)
{
	const char *err;
	int fi = 1;

	rule->file = tl->file;
	rule->line = tl->line;
	rule->raw_line = tl->raw;
	err = parse_conn_type(p, tl, rule);
	if (err != NULL)
		return err;
	if (fi >= tl->nfields)
		return "end-of-line before database specification";
	err = classify_databases(p, &tl->fields[fi]);
	if (err != NULL)
		return err;
	rule->ndatabases = tl->fields[fi].ntokens;
	rule->databases = tl->fields[fi].tokens;
	if (++fi >= tl->nfields)
		return "end-of-line before role specification";
	for (int i = 0; i < tl->fields[fi].ntokens; i++)
	{
		err = cm_auth_classify_role(p->store, p->opts->server_major,
									&tl->fields[fi].tokens[i]);
		if (err != NULL)
			return err;
	}
	rule->nroles = tl->fields[fi].ntokens;
	rule->roles = tl->fields[fi].tokens;
	fi++;
	if (rule->conn_type != CM_HBA_CONN_LOCAL)
	{
		err = parse_address(p, tl, &fi, rule);
		if (err != NULL)
			return err;
		fi++;
	}
	err = parse_method(p, tl, fi, rule);
	if (err != NULL)
		return err;
	err = parse_options(p, tl, fi + 1, rule);
	if (err != NULL)
		return err;
	if (rule->method == CM_HBA_METHOD_CERT)
		rule->clientcert = CM_HBA_CLIENTCERT_VERIFY_FULL;
	rule->skip = skip_of(rule);
	return NULL;
}

void
cm_hba_parse_options_init(CmHbaParseOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->server_major = 15;
	opts->ssl_enabled = true;
	opts->build = CM_HBA_BUILD_DEFAULT;
}

CmHbaFile *
cm_hba_parse(const char *text, size_t len, const char *path,
			 const CmHbaParseOptions *opts)
{
	CmHbaParseOptions defaults;
	CmHbaFile *file = calloc(1, sizeof(CmHbaFile));
	HbaParser p;
	CmAuthLine *lines = NULL;
	int nlines = 0;
	int rules_cap = 0;
	int errors_cap = 0;
	bool ok = true;

	if (opts == NULL)
	{
		cm_hba_parse_options_init(&defaults);
		opts = &defaults;
	}
	if (file == NULL)
		return NULL;
	file->server_major = opts->server_major;
	file->store = cm_auth_store_new();
	if (file->store == NULL)
	{
		free(file);
		return NULL;
	}
	p.store = file->store;
	p.opts = opts;
	if (path == NULL)
		path = "pg_hba.conf";
	if (len > CM_HBA_MAX_FILE_SIZE)
		ok = cm_auth_add_error(file->store, &file->errors, &file->nerrors,
							   &errors_cap, path, 0,
							   cm_auth_printf(file->store,
											  "configuration file \"%s\" is larger "
											  "than %d bytes",
											  path, CM_HBA_MAX_FILE_SIZE));
	else
		nlines = cm_auth_tokenize(file->store, text, len, path, opts, &lines);
	for (int i = 0; ok && i < nlines; i++)
	{
		CmHbaRule rule;
		const char *err = lines[i].error;

		memset(&rule, 0, sizeof(rule));
		if (err == NULL)
			err = parse_hba_line(&p, &lines[i], &rule);
		if (err != NULL)
		{
			ok = cm_auth_add_error(file->store, &file->errors, &file->nerrors,
								   &errors_cap, lines[i].file, lines[i].line,
								   err);
			continue;
		}
		file->rules = cm_auth_grow(file->store, file->rules, &rules_cap,
								   file->nrules + 1, sizeof(CmHbaRule));
		ok = file->rules != NULL;
		if (ok)
			file->rules[file->nrules++] = rule;
	}
	if (ok && nlines >= 0 && file->nerrors == 0 && file->nrules == 0)
		ok = cm_auth_add_error(file->store, &file->errors, &file->nerrors,
							   &errors_cap, path, 0,
							   cm_auth_printf(file->store,
											  "configuration file \"%s\" contains no "
											  "entries",
											  path));
	if (!ok || nlines < 0 || cm_auth_out_of_memory(file->store))
	{
		/* the arrays may be incomplete: keep only the one sure error */
		file->nrules = 0;
		file->rules = NULL;
		file->nerrors = 1;
		file->errors = (CmHbaError *) &cm_auth_oom_error;
	}
	return file;
}

void
cm_hba_free(CmHbaFile *file)
{
	if (file == NULL)
		return;
	cm_auth_store_free(file->store);
	free(file);
}
