/*
 * backend/readonly.c
 *		The read-only session lock (see cm_readonly.h for the contract with
 *		the proxy).  A session that starts with
 *		connection_manager.session_read_only = on can never make a
 *		transaction read-write again, by any route, and is refused the side
 *		effects that core still allows inside read-only transactions.
 *
 * Why it takes more than executor hooks: StartTransaction() copies
 * default_transaction_read_only into XactReadOnly without asking anybody,
 * and fast-path calls reach functions such as nextval() without passing
 * through the executor or ProcessUtility.  So the lock works on the two
 * settings themselves: it forces default_transaction_read_only on at
 * PGC_S_OVERRIDE (which also becomes its RESET value), makes RESET of
 * transaction_read_only restore "on", and wraps both settings' check hooks
 * to refuse "off".  The executor and utility hooks re-assert XactReadOnly
 * before every statement as a second line of defence.
 *
 * This reaches into guc_tables.h, whose layout is PostgreSQL 15's; keep
 * every such dependency in this file.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "replication/walsender.h"
#include "storage/lockdefs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "cm_readonly.h"
#include "cm_stats.h"

#define LOCK_DETAIL "The session was opened with " CM_READONLY_SETTING " on."

/*
 * Built-in functions that change something durable (or visible to other
 * sessions) although the transaction is read-only: core does not check
 * XactReadOnly in them, and fmgr_hook never sees built-ins.  The object
 * access hook sees every call made from SQL, from aggregates and from the
 * fast-path protocol, so a locked session is refused them there.  The list
 * covers every function PostgreSQL 15 refuses during recovery except those
 * that only read; README, "The read-only session lock", says how it was
 * found and which functions are left alone.
 */
static const Oid refused_functions[] = {
	/* notifications reach other sessions */
	F_PG_NOTIFY,
	/* large objects */
	F_LO_CREAT,
	F_LO_CREATE,
	F_LO_FROM_BYTEA,
	F_LO_IMPORT_TEXT,
	F_LO_IMPORT_TEXT_OID,
	F_LO_EXPORT,
	F_LOWRITE,
	F_LO_PUT,
	F_LO_TRUNCATE,
	F_LO_TRUNCATE64,
	F_LO_UNLINK,
	/* assign a transaction id, hence a commit record */
	F_TXID_CURRENT,
	F_PG_CURRENT_XACT_ID,
	/* write WAL */
	F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_TEXT,
	F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_BYTEA,
	F_PG_SWITCH_WAL,
	F_PG_CREATE_RESTORE_POINT,
	/* a WAL switch and a checkpoint, a backup-end record: as CHECKPOINT */
	F_PG_BACKUP_START,
	F_PG_BACKUP_STOP,
	/* index maintenance: write index pages and WAL */
	F_BRIN_SUMMARIZE_NEW_VALUES,
	F_BRIN_SUMMARIZE_RANGE,
	F_BRIN_DESUMMARIZE_RANGE,
	F_GIN_CLEAN_PENDING_LIST,
	/* advances the OID counter (binary-upgrade support) */
	F_PG_NEXTOID,
	/* end recovery: turns a standby into a primary */
	F_PG_PROMOTE,
	/* catalog writes */
	F_PG_IMPORT_SYSTEM_COLLATIONS,
	/* replication slots and origins */
	F_PG_CREATE_PHYSICAL_REPLICATION_SLOT,
	F_PG_CREATE_LOGICAL_REPLICATION_SLOT,
	F_PG_DROP_REPLICATION_SLOT,
	F_PG_REPLICATION_SLOT_ADVANCE,
	F_PG_COPY_PHYSICAL_REPLICATION_SLOT_NAME_NAME,
	F_PG_COPY_PHYSICAL_REPLICATION_SLOT_NAME_NAME_BOOL,
	F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME,
	F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME_BOOL,
	F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME_BOOL_NAME,
	F_PG_LOGICAL_SLOT_GET_CHANGES,
	F_PG_LOGICAL_SLOT_GET_BINARY_CHANGES,
	/* decoding serializes snapshots and spills changes to files */
	F_PG_LOGICAL_SLOT_PEEK_CHANGES,
	F_PG_LOGICAL_SLOT_PEEK_BINARY_CHANGES,
	F_PG_REPLICATION_ORIGIN_CREATE,
	F_PG_REPLICATION_ORIGIN_DROP,
	F_PG_REPLICATION_ORIGIN_ADVANCE,
	/* take an origin from its apply worker, to stamp commits with it */
	F_PG_REPLICATION_ORIGIN_SESSION_SETUP,
	F_PG_REPLICATION_ORIGIN_SESSION_RESET,
	F_PG_REPLICATION_ORIGIN_XACT_SETUP,
	F_PG_REPLICATION_ORIGIN_XACT_RESET,
};

/*
 * Functions of contrib modules in Debian's postgresql-15 package that
 * write, or lock as a standby would refuse, although the transaction is
 * read-only.  They have no fixed OID, so a call is matched by the library
 * and the C symbol its pg_proc entry names, which stay the same whatever
 * the function's name or schema.
 */
typedef struct
{
	const char *library; /* file name without directory or ".so" */
	const char *symbol;
} c_function;

static const c_function refused_c_functions[] = {
	/* change heap tuples in place and write WAL */
	{"pg_surgery", "heap_force_kill"},
	{"pg_surgery", "heap_force_freeze"},
	/* truncates the visibility map and writes WAL */
	{"pg_visibility", "pg_truncate_visibility_map"},
	/* SHARE locks on the table and index: as LOCK TABLE IN SHARE MODE */
	{"amcheck", "bt_index_parent_check"},
	/* server files: as COPY to a file */
	{"adminpack", "pg_file_write"},
	{"adminpack", "pg_file_write_v1_1"},
	{"adminpack", "pg_file_rename"},
	{"adminpack", "pg_file_rename_v1_1"},
	{"adminpack", "pg_file_unlink"},
	{"adminpack", "pg_file_unlink_v1_1"},
};

/* The setting's variable; true from backend start to exit once locked. */
static bool session_read_only = false;

/*
 * Set by the setting's assign hook and never cleared.  Kept apart from the
 * variable, which guc.c owns (it writes it after the assign hook and could
 * roll it back with a transaction): the lock is one-way for the life of the
 * process.
 */
static bool session_locked = false;

static struct config_bool *transaction_read_only_conf;
static GucBoolCheckHook prev_check_transaction_read_only;
static GucBoolCheckHook prev_check_default_read_only;

static ExecutorStart_hook_type prev_executor_start;
static ProcessUtility_hook_type prev_process_utility;
static object_access_hook_type prev_object_access;

/*
 * The common part of both wrapped check hooks.  A parallel worker restoring
 * its leader's settings is let through: it only copies what the leader,
 * locked or not, already has.
 */
static bool
refuse_read_write(bool *newval)
{
	if (!session_locked || *newval || InitializingParallelWorker)
		return true;
	GUC_check_errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION);
	GUC_check_errmsg(
		"cannot set transaction read-write mode in a read-only session");
	GUC_check_errdetail(LOCK_DETAIL);
	return false;
}

static bool
check_transaction_read_only_locked(bool *newval, void **extra, GucSource source)
{
	if (!refuse_read_write(newval))
		return false;
	if (prev_check_transaction_read_only)
		return prev_check_transaction_read_only(newval, extra, source);
	return true;
}

static bool
check_default_read_only_locked(bool *newval, void **extra, GucSource source)
{
	if (!refuse_read_write(newval))
		return false;
	if (prev_check_default_read_only)
		return prev_check_default_read_only(newval, extra, source);
	return true;
}

/*
 * Once locked, a later "off" (say, twice in one startup packet) is refused.
 * A replication connection is never locked: walsender commands such as
 * CREATE_REPLICATION_SLOT do not pass through any of the hooks below.
 */
static bool
check_session_read_only(bool *newval, void **extra, GucSource source)
{
	if (session_locked && !*newval)
	{
		GUC_check_errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION);
		GUC_check_errmsg("a read-only session cannot be unlocked");
		return false;
	}
	if (*newval && am_walsender)
	{
		GUC_check_errcode(ERRCODE_FEATURE_NOT_SUPPORTED);
		GUC_check_errmsg("a replication connection cannot be a read-only "
						 "session");
		return false;
	}
	return true;
}

/*
 * Runs while the startup packet is applied, inside InitPostgres's
 * transaction, before pg_db_role_setting is read.  PGC_S_OVERRIDE outranks
 * the client's own options and the role and database settings that come
 * after, and makes "on" the value RESET, RESET ALL and DISCARD ALL return
 * to.  Setting another parameter from an assign hook is what core's
 * session_authorization does for is_superuser.
 */
static void
assign_session_read_only(bool newval, void *extra)
{
	if (!newval)
		return;
	session_locked = true;
	cm_stats_note_read_only();

	/* a parallel worker gets the leader's values with the rest of its state */
	if (InitializingParallelWorker)
		return;

	SetConfigOption("default_transaction_read_only", "on", PGC_SUSET,
					PGC_S_OVERRIDE);
	/* RESET transaction_read_only takes reset_val without any check hook */
	transaction_read_only_conf->reset_val = true;
	XactReadOnly = true;
}

static void
refuse_command(Node *stmt)
{
	bool refuse = false;

	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
			switch (((TransactionStmt *) stmt)->kind)
			{
				case TRANS_STMT_PREPARE:
				case TRANS_STMT_COMMIT_PREPARED:
				case TRANS_STMT_ROLLBACK_PREPARED:
					refuse = true;
					break;
				default:
					break;
			}
			break;
		case T_AlterSystemStmt:
		case T_VacuumStmt:
		case T_ClusterStmt:
		case T_ReindexStmt:
		case T_CheckPointStmt:
		case T_NotifyStmt:
			refuse = true;
			break;
		case T_LockStmt:
			/* the modes a standby would refuse: they block the primary's writers */
			refuse = ((LockStmt *) stmt)->mode > RowExclusiveLock;
			break;
		case T_CopyStmt:
			if (((CopyStmt *) stmt)->filename != NULL)
				ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
								errmsg("cannot execute COPY with a server file or "
									   "program in a read-only session"),
								errdetail(LOCK_DETAIL)));
			break;
		default:
			break;
	}
	if (refuse)
		ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
						errmsg("cannot execute %s in a read-only session",
							   CreateCommandName(stmt)),
						errdetail(LOCK_DETAIL)));
}

static void
executor_start_locked(QueryDesc *queryDesc, int eflags)
{
	if (session_locked)
		XactReadOnly = true;
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
process_utility_locked(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	if (session_locked)
	{
		refuse_command(pstmt->utilityStmt);
		XactReadOnly = true;
	}
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* Whether a C function's library and symbol are in refused_c_functions. */
static bool
refused_c_function(const char *probin, const char *prosrc)
{
	const char *library = last_dir_separator(probin);
	size_t length;

	library = library ? library + 1 : probin;
	length = strlen(library);
	if (length > 3 && strcmp(library + length - 3, ".so") == 0)
		length -= 3;
	for (int i = 0; i < lengthof(refused_c_functions); i++)
	{
		const c_function *f = &refused_c_functions[i];

		if (strlen(f->library) == length &&
			strncmp(f->library, library, length) == 0 &&
			strcmp(f->symbol, prosrc) == 0)
			return true;
	}
	return false;
}

static bool
refused_function(Oid funcid)
{
	HeapTuple tuple;
	bool refused = false;

	for (int i = 0; i < lengthof(refused_functions); i++)
	{
		if (refused_functions[i] == funcid)
			return true;
	}

	/* built-in functions are all above; extensions' come after initdb */
	if (funcid < FirstNormalObjectId)
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tuple))
		return false;
	if (((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId)
	{
		bool probin_null;
		bool prosrc_null;
		Datum probin =
			SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &probin_null);
		Datum prosrc =
			SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &prosrc_null);

		if (!probin_null && !prosrc_null)
			refused = refused_c_function(TextDatumGetCString(probin),
										 TextDatumGetCString(prosrc));
	}
	ReleaseSysCache(tuple);
	return refused;
}

/*
 * Catalog objects created or dropped outside any refused statement.  The
 * routes found are the session's temporary schema, which current_schema(),
 * current_schemas() and SET CONSTRAINTS create when search_path names
 * pg_temp first, and the leftovers of a crashed session that taking that
 * schema over drops.  A standby refuses both.  The post-create hook runs
 * after the row is inserted: the error rolls it back.
 */
static void
refuse_catalog_change(ObjectAccessType access, Oid classId)
{
	if (access == OAT_POST_CREATE && classId == NamespaceRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot create a temporary schema in a read-only "
						"session"),
				 errdetail(LOCK_DETAIL),
				 errhint("search_path names pg_temp first, and this session "
						 "has no temporary schema yet.")));
	if (access == OAT_POST_CREATE)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot create database objects in a read-only session"),
				 errdetail(LOCK_DETAIL)));
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("cannot drop database objects in a read-only session"),
			 errdetail(LOCK_DETAIL)));
}

static void
object_access_locked(ObjectAccessType access, Oid classId, Oid objectId,
					 int subId, void *arg)
{
	if (session_locked)
	{
		switch (access)
		{
			case OAT_FUNCTION_EXECUTE:
				if (classId == ProcedureRelationId && refused_function(objectId))
					ereport(ERROR,
							(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
							 errmsg("cannot execute function %s in a read-only "
									"session",
									format_procedure(objectId)),
							 errdetail(LOCK_DETAIL)));
				break;
			case OAT_POST_CREATE:
			case OAT_DROP:
				refuse_catalog_change(access, classId);
				break;
			default:
				break;
		}
	}
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
}

/*
 * The built-in records live in guc.c's static tables, so the pointers stay
 * valid for the life of the process.  Checking the bound variable guards
 * against a server whose table layout differs from the headers.
 */
static struct config_bool *
find_bool_setting(const char *name, bool *variable)
{
	struct config_generic **vars = get_guc_variables();
	int n = GetNumConfigOptions();

	for (int i = 0; i < n; i++)
	{
		if (vars[i]->vartype == PGC_BOOL && strcmp(vars[i]->name, name) == 0)
		{
			struct config_bool *conf = (struct config_bool *) vars[i];

			if (conf->variable != variable)
				break;
			return conf;
		}
	}
	ereport(ERROR, (errmsg_internal("connection_manager: setting \"%s\" not "
									"found where expected",
									name)));
	return NULL; /* keep the compiler quiet */
}

void
cm_readonly_init(void)
{
	struct config_bool *default_read_only;

	transaction_read_only_conf =
		find_bool_setting("transaction_read_only", &XactReadOnly);
	default_read_only = find_bool_setting("default_transaction_read_only",
										  &DefaultXactReadOnly);

	prev_check_transaction_read_only = transaction_read_only_conf->check_hook;
	transaction_read_only_conf->check_hook = check_transaction_read_only_locked;
	prev_check_default_read_only = default_read_only->check_hook;
	default_read_only->check_hook = check_default_read_only_locked;

	DefineCustomBoolVariable(CM_READONLY_SETTING,
							 "Locks this session read-only.",
							 "Set only in the startup packet; once on, no transaction of the "
							 "session can be read-write.",
							 &session_read_only, false, PGC_BACKEND,
							 GUC_REPORT | GUC_NOT_IN_SAMPLE |
								 GUC_DISALLOW_IN_FILE,
							 check_session_read_only, assign_session_read_only,
							 NULL);

	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = executor_start_locked;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = process_utility_locked;
	prev_object_access = object_access_hook;
	object_access_hook = object_access_locked;
}
