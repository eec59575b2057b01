/*
 * cm_ident.h
 *		pg_ident.conf user maps, read and applied the way the server does,
 *		for "cert ... map=" rules.
 *
 * A line is "map system-user database-user".  A system user starting with
 * "/" is a regular expression (quoted or not, on every version), and "\1"
 * in the database user is replaced by its first parenthesized group.  On
 * 15 the database user is a plain name; from 16 on it may also be "all",
 * "+group" or a "/regex", as in pg_hba.conf.  The tokenizer, the regular
 * expression dialect and its limits are those of cm_hba.h.  Names compare
 * case-sensitively, as for cert authentication (the case-insensitive form
 * the server uses for some GSSAPI setups is not offered).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_IDENT_H
#define CM_IDENT_H

#include "cm_hba.h"

typedef struct CmIdentLine
{
	const char *file;
	int line;
	const char *map;
	CmHbaToken system_user; /* CM_HBA_TOKEN_NAME or CM_HBA_TOKEN_REGEX */
	CmHbaToken db_user;		/* NAME on 15; also ALL, GROUP, REGEX on 16+ */
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
	CmHbaError *errors;
	CmAuthStore *store;
} CmIdentFile;

/* Parses pg_ident.conf text; NULL only when out of memory. */
extern CmIdentFile *
cm_ident_parse(const char *text, size_t len, const char *path,
			   const CmHbaParseOptions *opts);
extern void cm_ident_free(CmIdentFile *file);

typedef enum CmIdentResult
{
	CM_IDENT_MATCH,	   /* system_user may log in as db_user */
	CM_IDENT_NO_MATCH, /* no line of the map allows it */
	CM_IDENT_ERROR	   /* the server fails the same way: refuse */
} CmIdentResult;

/*
 * May system_user (a certificate's CN or DN) log in as db_user through
 * map?  A NULL or empty map means the names must be equal.  The first
 * line of the map that allows it wins; a regular expression failure or a
 * "\1" without a group ends the search with CM_IDENT_ERROR, as in the
 * server.  is_member answers "+group" on 16+ (see CmHbaIsMemberFn).  When
 * message is not NULL it receives what the server logs for a refusal.
 */
extern CmIdentResult
cm_ident_check(const CmIdentFile *file, const char *map, const char *system_user,
			   const char *db_user, CmHbaIsMemberFn is_member, void *arg,
			   char *message, size_t message_len);

#endif /* CM_IDENT_H */
