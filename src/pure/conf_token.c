/*
 * pure/conf_token.c
 *		The tokenizer shared by pg_hba.conf and pg_ident.conf: lines,
 *		continuations, comments, quotes, comma lists, @file and include
 *		reading as the server does them, and the loop that turns a file's
 *		lines into the entries of its format.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_conf_token.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* At most this many @file and include reads per parse. */
#define MAX_INCLUDE_READS 1000

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
resolve_include(CmConfStore *store, const char *outer, const char *name)
{
	const char *slash = strrchr(outer, '/');
	size_t dirlen;
	char *path;

	if (name[0] == '/')
		return cm_conf_strdup(store, name);
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
	path = cm_conf_alloc(store, dirlen + strlen(name) + 2);
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
	CmConfLine *v;
	int n;
	int cap;
} LineVec;

typedef struct TokenVec
{
	CmConfToken *v;
	int n;
	int cap;
} TokenVec;

typedef struct Tokenizer
{
	CmConfStore *store;
	const CmConfReader *reader;
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
		cm_conf_note_out_of_memory(t->store);
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
	size_t max =
		t->reader->server_major >= 16 ? SIZE_MAX : CM_CONF_PG15_MAX_TOKEN;
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
append_token(Tokenizer *t, TokenVec *field, const CmConfToken *tok,
			 int *line_tokens, const char **err)
{
	if (*line_tokens >= CM_CONF_MAX_LINE_TOKENS)
	{
		*err = cm_conf_printf(t->store, "too many tokens on one line (limit %d)",
							  CM_CONF_MAX_LINE_TOKENS);
		return false;
	}
	field->v = cm_conf_grow(t->store, field->v, &field->cap, field->n + 1,
							sizeof(CmConfToken));
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
	if (depth > CM_CONF_MAX_INCLUDE_DEPTH)
	{
		*err =
			cm_conf_printf(t->store,
						   "could not open file \"%s\": maximum nesting depth exceeded",
						   path);
		return ELOOP;
	}
	if (t->include_reads >= MAX_INCLUDE_READS)
	{
		*err = cm_conf_printf(t->store,
							  "could not open file \"%s\": more than %d "
							  "included files",
							  path, MAX_INCLUDE_READS);
		return EMFILE;
	}
	t->include_reads++;
	if (t->reader->read_file == NULL)
		return ENOENT;
	rc = t->reader->read_file(t->reader->read_arg, path, data, len);
	if (rc == 0 && *data == NULL && *len > 0)
		rc = EIO;
	if (rc != 0)
	{
		free(*data);
		*data = NULL;
		return rc;
	}
	if (*len > CM_CONF_MAX_FILE_SIZE ||
		t->include_bytes + *len > CM_CONF_MAX_INCLUDE_BYTES)
	{
		free(*data);
		*data = NULL;
		*err = cm_conf_printf(t->store,
							  "could not open file \"%s\": included files "
							  "exceed %d bytes",
							  path, CM_CONF_MAX_INCLUDE_BYTES);
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
		if (t->reader->server_major >= 16)
			*err = cm_conf_printf(t->store, "could not open file \"%s\": %s",
								  path, strerror(rc));
		else
			*err = cm_conf_printf(t->store,
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
				CmConfToken tok = lines.v[i].fields[f].tokens[k];

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
			*err = cm_conf_printf(t->store,
								  "authentication file token too long, "
								  "skipping: \"%s\"",
								  t->tok);
			break;
		}
		if (r == 0)
			break;
		if (!initial_quote && t->tok[0] == '@' && t->tok[1] != '\0')
		{
			char *name = cm_conf_strdup(t->store, t->tok + 1);

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
			CmConfToken tok = {0};

			tok.text = cm_conf_strdup(t->store, t->tok);
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
emit_line(Tokenizer *t, LineVec *out, const CmConfLine *line)
{
	out->v = cm_conf_grow(t->store, out->v, &out->cap, out->n + 1,
						  sizeof(CmConfLine));
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
include_directive(Tokenizer *t, const CmConfLine *line, int depth,
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
		*err = cm_conf_printf(t->store,
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
			*err = cm_conf_printf(t->store, "could not open file \"%s\": %s",
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
		CmConfLine line = {0};
		const char *err = NULL;
		const char *lp;
		int line_tokens = 0;
		struct
		{
			CmConfField *v;
			int n;
			int cap;
		} fields = {0};

		line.file = file;
		line.line = line_number;
		line_number += continuations + 1;
		line.raw = cm_conf_strndup(t->store, t->line, t->line_len);
		if (line.raw == NULL ||
			!scratch_reserve(t, &t->tok, &t->tok_cap, t->line_len + 1))
		{
			t->failed = true;
			break;
		}
		if (has_nul)
			err = "line contains a NUL byte";
		else if (t->line_len > CM_CONF_MAX_LINE_LEN)
			err = cm_conf_printf(t->store, "line too long (limit %d bytes)",
								 CM_CONF_MAX_LINE_LEN);
		lp = line.raw;
		while (err == NULL && *lp != '\0')
		{
			TokenVec field = {0};

			next_field(t, &lp, file, depth, &field, &line_tokens, &err);
			if (field.n == 0)
				continue; /* end of line, a comment, or an empty @file */
			fields.v = cm_conf_grow(t->store, fields.v, &fields.cap,
									fields.n + 1, sizeof(CmConfField));
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
		if (err == NULL && fields.n == 2 && t->reader->server_major >= 16 &&
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
static int
tokenize(CmConfStore *store, const char *text, size_t len, const char *path,
		 const CmConfReader *reader, CmConfLine **lines)
{
	Tokenizer t = {0};
	LineVec out = {0};
	const char *file = cm_conf_strdup(store, path);

	*lines = NULL;
	if (file == NULL)
		return -1;
	t.store = store;
	t.reader = reader;
	tokenize_text(&t, text, len, file, 0, &out);
	free(t.line);
	free(t.tok);
	if (t.failed || cm_conf_out_of_memory(store))
		return -1;
	*lines = out.v;
	return out.n;
}


/* ----------------------------------------------------------------
 * A file: its lines into entries and errors.
 * ----------------------------------------------------------------
 */

static const CmConfError oom_error = {NULL, 0, "out of memory"};

/* Keeps an error in the store; false when out of memory. */
static bool
add_error(CmConfStore *store, CmConfParsed *out, int *cap, const char *file,
		  int line, const char *message)
{
	CmConfError *grown = cm_conf_grow(store, out->errors, cap,
									  out->nerrors + 1, sizeof(CmConfError));

	if (grown == NULL)
		return false;
	out->errors = grown;
	grown[out->nerrors].file = file;
	grown[out->nerrors].line = line;
	grown[out->nerrors].message = message != NULL ? message : "out of memory";
	out->nerrors++;
	return true;
}

void
cm_conf_parse_file(CmConfStore *store, const char *text, size_t len,
				   const char *path, const CmConfReader *reader,
				   const CmConfFormat *format, const void *arg,
				   CmConfParsed *out)
{
	CmConfLine *lines = NULL;
	int nlines = 0;
	int entries_cap = 0;
	int errors_cap = 0;
	bool ok = true;

	memset(out, 0, sizeof(*out));
	if (len > CM_CONF_MAX_FILE_SIZE)
		ok = add_error(store, out, &errors_cap, path, 0,
					   cm_conf_printf(store,
									  "configuration file \"%s\" is larger "
									  "than %d bytes",
									  path, CM_CONF_MAX_FILE_SIZE));
	else
		nlines = tokenize(store, text, len, path, reader, &lines);
	for (int i = 0; ok && i < nlines; i++)
	{
		const char *err = lines[i].error;

		if (err == NULL)
		{
			char *entry;

			out->entries = cm_conf_grow(store, out->entries, &entries_cap,
										out->nentries + 1, format->entry_size);
			ok = out->entries != NULL;
			if (!ok)
				break;
			entry = (char *) out->entries +
					(size_t) out->nentries * format->entry_size;
			memset(entry, 0, format->entry_size);
			err = format->parse_line(store, arg, &lines[i], entry);
		}
		if (err != NULL)
			ok = add_error(store, out, &errors_cap, lines[i].file,
						   lines[i].line, err);
		else
			out->nentries++;
	}
	if (ok && nlines >= 0 && format->need_entries && out->nerrors == 0 &&
		out->nentries == 0)
		ok = add_error(store, out, &errors_cap, path, 0,
					   cm_conf_printf(store,
									  "configuration file \"%s\" contains no "
									  "entries",
									  path));
	if (!ok || nlines < 0 || cm_conf_out_of_memory(store))
	{
		/* the arrays may be incomplete: keep only the one sure error */
		out->nentries = 0;
		out->entries = NULL;
		out->nerrors = 1;
		out->errors = (CmConfError *) &oom_error;
	}
}
