/*
 * cm_readonly.h
 *		The read-only session lock, enforced inside the target backend.  The
 *		same library runs in every backend of every node; the lock is turned
 *		on per session by a backend-start setting.
 *
 * How the proxy asks for it: put
 *
 *		connection_manager.session_read_only = on
 *
 * in the backend's StartupMessage as a key/value pair (not inside "options";
 * key/value pairs are applied after "options", so a client "-c" cannot come
 * later).  The setting is PGC_BACKEND: SET, RESET, set_config(), ALTER ROLE
 * ... SET and ALTER DATABASE ... SET cannot change it, and once on it cannot
 * be turned off: a later "off" for it, default_transaction_read_only or
 * transaction_read_only in the same startup packet makes the connection fail
 * (FATAL, SQLSTATE 25006); an earlier one is overridden.  A replication
 * connection (replication=true/database) asking for the lock is refused
 * FATAL (SQLSTATE 0A000).
 *
 * How the proxy confirms it: the setting is GUC_REPORT.  The session is
 * locked if and only if the backend sends, before its first ReadyForQuery,
 *
 *		ParameterStatus  "connection_manager.session_read_only" = "on"
 *
 * Wait for exactly that.  The backend also reports
 * "default_transaction_read_only" = "on" (which is what libpq's
 * target_session_attrs=read-only looks at), but that alone proves nothing: a
 * server without this library preloaded accepts the startup option as a
 * placeholder, sends no ParameterStatus for it, and is not locked.  Unlocked
 * sessions report "off".
 *
 * What a locked session refuses, all with SQLSTATE 25006
 * (read_only_sql_transaction): any attempt to make a transaction read-write
 * (transaction_read_only and default_transaction_read_only can only be on);
 * PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED, ALTER SYSTEM, VACUUM,
 * ANALYZE, CLUSTER, REINDEX, CHECKPOINT, NOTIFY, COPY to or from a server
 * file or program, LOCK TABLE in a mode stronger than ROW EXCLUSIVE (as a
 * standby would); the functions that write although the transaction is
 * read-only (pg_notify, large-object writes, XID assignment, WAL messages,
 * switches and backups, BRIN and GIN maintenance, replication slots and
 * origins, pg_promote, and such contrib functions as pg_surgery's: every
 * function a standby refuses that does more than read, README lists them);
 * and creating or dropping catalog objects (the temporary schema that
 * current_schema() creates when search_path names pg_temp first).  The
 * refusals apply on a primary and on a standby alike.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_READONLY_H
#define CM_READONLY_H

/* Name of the setting, for the proxy's startup packet and ParameterStatus. */
#define CM_READONLY_SETTING "connection_manager.session_read_only"

/* Defines the setting and installs the hooks; call from _PG_init. */
extern void cm_readonly_init(void);

#endif /* CM_READONLY_H */
