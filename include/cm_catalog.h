/*
 * cm_catalog.h
 *		The only catalog access of the proxy workers: a role's secret and
 *		role membership, each read in a short transaction whose errors are
 *		caught, so that no lookup can take the worker down.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CATALOG_H
#define CM_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum CmRoleLookup
{
	CM_ROLE_FOUND,	   /* secret copied out */
	CM_ROLE_NO_SECRET, /* no such role, no password, or expired */
	CM_ROLE_ERROR	   /* the lookup failed; logged */
} CmRoleLookup;

extern CmRoleLookup
cm_catalog_role_secret(const char *role, char *secret, size_t secretlen);
/*
 * 1 when role is group or a member of it (directly or through other
 * roles), 0 when not or when either role does not exist, -1 when the
 * lookup failed (logged): callers must then refuse, never treat it as 0.
 */
extern int cm_catalog_is_member(const char *role, const char *group);

#endif /* CM_CATALOG_H */
