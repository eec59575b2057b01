/*
 * pure/conf_regex.c
 *		Regular expressions of pg_hba.conf and pg_ident.conf: the server's
 *		ARE syntax translated into a POSIX ERE of the same meaning (or
 *		refused), then compiled and run in the C locale.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_conf_regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * Compiles tok->text after its leading '/' and makes tok a regex token.
 * Returns NULL, or the error message for the line.
 */
const char *
cm_conf_regex_compile(CmConfStore *store, CmConfToken *tok, bool want_groups)
{
	const char *pattern = tok->text + 1;
	size_t plen = strlen(pattern);
	locale_t c_locale = cm_conf_c_locale(store);
	char *ere;
	const char *refused;
	regex_t *re;
	locale_t old;
	int rc;

	if (c_locale == (locale_t) 0)
		return "could not create the C locale for regular expressions";
	ere = malloc(plen * 14 + 1);
	re = cm_conf_alloc(store, sizeof(regex_t));
	if (ere == NULL || re == NULL)
	{
		free(ere);
		cm_conf_note_out_of_memory(store);
		return "out of memory";
	}
	refused = translate_are(pattern, ere);
	if (refused != NULL)
	{
		free(ere);
		return cm_conf_printf(store, "invalid regular expression \"%s\": %s",
							  pattern, refused);
	}
	old = uselocale(c_locale);
	rc = regcomp(re, ere, REG_EXTENDED | (want_groups ? 0 : REG_NOSUB));
	uselocale(old);
	free(ere);
	if (rc != 0)
	{
		char errbuf[128];

		regerror(rc, re, errbuf, sizeof(errbuf));
		return cm_conf_printf(store, "invalid regular expression \"%s\": %s",
							  pattern, errbuf);
	}
	if (!cm_conf_keep_regex(store, re))
		return "out of memory";
	tok->regex = re;
	tok->kind = CM_CONF_TOKEN_REGEX;
	return NULL;
}

int
cm_conf_regex_exec(const CmConfStore *store, const regex_t *re,
				   const char *subject, size_t nmatch, regmatch_t *match)
{
	locale_t old = uselocale(cm_conf_c_locale(store));
	int rc = regexec(re, subject, nmatch, match, 0);

	uselocale(old);
	return rc;
}
