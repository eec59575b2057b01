/*
 * readonly.c
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
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "replication/walsender.h"
#include "storage/lockdefs.h"
#include "tcop/utility.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/regproc.h"

#include "cm_readonly.h"
#include "cm_stats.h"

#define LOCK_DETAIL "The session was opened with " CM_READONLY_SETTING " on."

/*
 * Built-in functions that change something durable (or visible to other
 * sessions) although the transaction is read-only: core does not check
 * XactReadOnly in them, and fmgr_hook never sees built-ins.  The object
 * access hook sees every call made from SQL, from aggregates and from the
 * fast-path protocol, so a locked session is refused them there.
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
	F_PG_REPLICATION_ORIGIN_CREATE,
	F_PG_REPLICATION_ORIGIN_DROP,
	F_PG_REPLICATION_ORIGIN_ADVANCE,
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

static void
object_access_locked(ObjectAccessType access, Oid classId, Oid objectId,
					 int subId, void *arg)
{
	if (session_locked && access == OAT_FUNCTION_EXECUTE &&
		classId == ProcedureRelationId)
	{
		for (int i = 0; i < lengthof(refused_functions); i++)
		{
			if (refused_functions[i] == objectId)
				ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
								errmsg("cannot execute function %s in a read-only "
									   "session",
									   format_procedure(objectId)),
								errdetail(LOCK_DETAIL)));
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
