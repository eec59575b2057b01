/*
 * cm_ident_parse.h
 *		pg_ident.conf user maps, read the way the server reads them, for
 *		"cert ... map=" rules.
 *
 * A line is "map system-user database-user".  A system user starting with
 * "/" is a regular expression (quoted or not, on every version), and "\1"
 * in the database user is replaced by its first parenthesized group.  On
 * 15 the database user is a plain name; from 16 on it may also be "all",
 * "+group" or a "/regex", as in pg_hba.conf.  The tokenizer and its limits
 * are cm_conf_token.h's, the regular expression dialect cm_conf_regex.h's.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_IDENT_PARSE_H
#define CM_IDENT_PARSE_H

#include "cm_conf_store.h"
#include "cm_conf_token.h"
#include "cm_hba_parse.h"

#include <stddef.h>

typedef struct CmIdentLine
{
	const char *file;
	int line;
	const char *map;
	CmConfToken system_user; /* CM_CONF_TOKEN_NAME or CM_CONF_TOKEN_REGEX */
	CmConfToken db_user;	 /* NAME on 15; also ALL, GROUP, REGEX on 16+ */
} CmIdentLine;

/*
 * A parsed file.  With nerrors > 0 the server refuses the whole file and
 * keeps its previous maps; so must the caller.  An empty file is valid.
 */
typedef struct CmIdentFile
{
	int server_major;
	int nlines;
	CmIdentLine *lines;
	int nerrors;
	CmConfError *errors;
	CmConfStore *store;
} CmIdentFile;

/* Parses pg_ident.conf text; NULL only when out of memory. */
extern CmIdentFile *
cm_ident_parse(const char *text, size_t len, const char *path,
			   const CmHbaParseOptions *opts);
extern void cm_ident_free(CmIdentFile *file);

#endif /* CM_IDENT_PARSE_H */
