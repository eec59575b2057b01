/*
 * cm_conf_token.h
 *		The lines of pg_hba.conf and pg_ident.conf as the server splits them:
 *		fields of tokens, with continuations, comments, quotes, comma lists,
 *		@file inclusion and (16+) include directives, and the loop that
 *		hands each line to the parser of one file format.
 *
 * Known differences from the server, all in what makes it reject a file
 * (the caller then keeps the previous rules, as the server does): NUL bytes
 * are refused; lines, tokens per line, file sizes and include depth are
 * bounded, and so are @file reads (1000; see the limits below; the server
 * bounds only tokens, to 10239 bytes on 15, and nesting, to 10 on 16); on
 * 16+, "include_dir" is refused.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CONF_TOKEN_H
#define CM_CONF_TOKEN_H

#include "cm_conf_store.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* Limits.  Exceeding one is an error on the line or file concerned. */
#define CM_CONF_MAX_FILE_SIZE	  (16 * 1024 * 1024) /* one file, bytes */
#define CM_CONF_MAX_INCLUDE_BYTES (64 * 1024 * 1024) /* all @files, bytes */
#define CM_CONF_MAX_LINE_LEN	  65536 /* a line with its continuations */
#define CM_CONF_MAX_LINE_TOKENS	  4096	/* tokens on a line, @files expanded */
#define CM_CONF_MAX_INCLUDE_DEPTH 10	/* nested @file / include levels */
#define CM_CONF_PG15_MAX_TOKEN	  10239 /* the server's own limit on 15 */

/*
 * What a database or role token means.  Keywords count only unquoted, and
 * only in the field where the server knows them: "sameuser" in the role
 * field is a role name, "+x" in the database field a database name.  The
 * tokenizer leaves every token a name; the file's parser classifies it.
 */
typedef enum CmConfTokenKind
{
	CM_CONF_TOKEN_NAME, /* a literal name */
	CM_CONF_TOKEN_ALL,
	CM_CONF_TOKEN_SAMEUSER,
	CM_CONF_TOKEN_SAMEROLE, /* samerole or samegroup */
	CM_CONF_TOKEN_REPLICATION,
	CM_CONF_TOKEN_GROUP, /* +role: members of the role after the '+' */
	CM_CONF_TOKEN_REGEX	 /* /regex: the pattern after the '/' */
} CmConfTokenKind;

typedef struct CmConfToken
{
	const char *text; /* as written, quotes removed */
	bool quoted;	  /* a quote came before any character */
	CmConfTokenKind kind;
	const char *include; /* the @file it was read from, or NULL */
	regex_t *regex;		 /* CM_CONF_TOKEN_REGEX only */
} CmConfToken;

/* A message as the server writes it, and where: errcontext material. */
typedef struct CmConfError
{
	const char *file;
	int line; /* 0: about the whole file */
	const char *message;
} CmConfError;

/*
 * Reads a whole file for @file and include.  path is already resolved the
 * way the server resolves it (relative to the including file's directory).
 * Returns 0 with a malloc'd buffer that the parser frees, or an errno
 * value (ENOENT for a missing file) that goes into the error message.
 */
typedef int (*CmConfReadFn)(void *arg, const char *path, char **data,
							size_t *len);

/* How to read the files a file includes, and for which server. */
typedef struct CmConfReader
{
	int server_major;		/* 15: token limit; 16+: include directives */
	CmConfReadFn read_file; /* NULL: every @file fails with ENOENT */
	void *read_arg;
} CmConfReader;

typedef struct CmConfField
{
	int ntokens;
	CmConfToken *tokens;
} CmConfField;

/* A line as the tokenizer leaves it: fields of tokens, or an error. */
typedef struct CmConfLine
{
	const char *file;
	int line; /* its first line number */
	const char *raw;
	int nfields;
	CmConfField *fields;
	const char *error;
} CmConfLine;

/*
 * A file format: how one line without a tokenizer error becomes one entry
 * (entry_size bytes, zeroed), given the store and the caller's arg.
 * parse_line returns NULL, or the line's error; the entry is kept only
 * without an error.
 */
typedef struct CmConfFormat
{
	const char *(*parse_line)(CmConfStore *store, const void *arg,
							  const CmConfLine *line, void *entry);
	size_t entry_size;
	bool need_entries; /* a file without an entry is an error */
} CmConfFormat;

/* What a file became; everything is in the store. */
typedef struct CmConfParsed
{
	void *entries; /* nentries of entry_size bytes */
	int nentries;
	CmConfError *errors;
	int nerrors;
} CmConfParsed;

/*
 * Reads a whole file: path names it in messages and anchors relative
 * @file names.  With nerrors > 0 the server would refuse the file; out of
 * memory, the result is no entries and the single error "out of memory".
 */
extern void cm_conf_parse_file(CmConfStore *store, const char *text, size_t len,
							   const char *path, const CmConfReader *reader,
							   const CmConfFormat *format, const void *arg,
							   CmConfParsed *out);

#endif /* CM_CONF_TOKEN_H */
