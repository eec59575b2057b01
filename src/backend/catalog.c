/*
 * backend/catalog.c
 *		Role secrets and role membership for pre-authentication, read from
 *		the local node's shared catalogs through the catalog caches.  Each
 *		lookup runs in its own short transaction; an error is caught,
 *		logged and turned into a value, and the transaction aborted, so the
 *		worker's event loop never sees it.  On a standby the caches follow
 *		replayed changes through invalidation, so a changed password is
 *		seen at once.
 *
 * A name that is no role leaves a negative entry in the cache, and the
 * workers live long: clients trying names would grow it without end.  So
 * each miss is forgotten at once; the next lookup of that name reads the
 * catalog again, as a backend's first would.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "access/xact.h"
#include "libpq/crypt.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "cm_catalog.h"

/* Drops the cache's negative entry for a name that is no role. */
static void
forget_if_no_role(const char *name)
{
	Datum key = CStringGetDatum(name);

	if (!SearchSysCacheExists1(AUTHNAME, key))
		SysCacheInvalidate(AUTHNAME, GetSysCacheHashValue1(AUTHNAME, key));
}

/* Runs after an error was caught: leave no transaction or state behind. */
static void
catalog_recover(const char *what)
{
	ErrorData *edata;

	MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	ereport(LOG, (errmsg("connection_manager: could not look up %s: %s", what,
						 edata->message)));
	FreeErrorData(edata);
}

CmRoleLookup
cm_catalog_role_secret(const char *role, char *secret, size_t secretlen)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile CmRoleLookup result = CM_ROLE_NO_SECRET;

	PG_TRY();
	{
		const char *logdetail = NULL;
		char *shadow;

		QueryCancelPending = false;
		StartTransactionCommand();
		shadow = get_role_password(role, &logdetail);
		if (shadow != NULL && strlen(shadow) < secretlen)
		{
			strlcpy(secret, shadow, secretlen);
			result = CM_ROLE_FOUND;
		}
		else if (shadow == NULL)
			forget_if_no_role(role);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		catalog_recover("a role's secret");
		result = CM_ROLE_ERROR;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	return result;
}

/* Membership as the server's pg_hba.conf reads it: direct or indirect. */
int
cm_catalog_is_member(const char *role, const char *group)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile int result = 0;

	PG_TRY();
	{
		Oid roleid;
		Oid groupid;

		QueryCancelPending = false;
		StartTransactionCommand();
		roleid = get_role_oid(role, true);
		groupid = get_role_oid(group, true);
		if (OidIsValid(roleid) && OidIsValid(groupid))
			result = is_member_of_role_nosuper(roleid, groupid) ? 1 : 0;
		if (!OidIsValid(roleid))
			forget_if_no_role(role);
		if (!OidIsValid(groupid))
			forget_if_no_role(group);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		catalog_recover("role membership");
		result = -1;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	return result;
}
