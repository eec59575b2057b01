/*
 * cm_ident_match.h
 *		The server's check of a system user against a database user
 *		through a pg_ident.conf user map (see cm_ident_parse.h).
 *
 * Names compare case-sensitively, as for cert authentication (the
 * case-insensitive form the server uses for some GSSAPI setups is not
 * offered).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_IDENT_MATCH_H
#define CM_IDENT_MATCH_H

#include "cm_hba_match.h"
#include "cm_ident_parse.h"

#include <stddef.h>

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

#endif /* CM_IDENT_MATCH_H */
