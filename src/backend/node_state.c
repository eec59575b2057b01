/*
 * backend/node_state.c
 *		This node describes itself from inside the server: system
 *		identifier, recovery state, current timeline, WAL position and the
 *		upstream it streams from.  With no other nodes configured, that
 *		description is also the routing rule: a primary takes read-write
 *		sessions itself, a standby sends them to its upstream.
 *
 * Targets are always reached over TCP, never over a Unix socket: there
 * the server would judge the manager's operating-system user (peer
 * authentication), not the client.  An upstream given as a socket
 * directory is on this machine, so it is reached on 127.0.0.1.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netdb.h>

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "libpq-fe.h"
#include "postmaster/postmaster.h"
#include "replication/walreceiver.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "cm_guc.h"
#include "cm_node_state.h"

/* Resolves host:port into target; on failure says why in reason. */
bool
cm_resolve_target(const char *host, int port, CmTarget *target, char *reason)
{
	struct addrinfo hints;
	struct addrinfo *res;
	char portstr[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0)
	{
		snprintf(reason, CM_REASON_LEN, "could not resolve \"%s\": %s", host,
				 gai_strerror(rc));
		return false;
	}
	memcpy(&target->addr, res->ai_addr, res->ai_addrlen);
	target->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (strchr(host, ':'))
		snprintf(target->name, CM_TARGET_NAME_LEN, "[%s]:%d", host, port);
	else
		snprintf(target->name, CM_TARGET_NAME_LEN, "%s:%d", host, port);
	target->valid = true;
	return true;
}

/* The address this node's manager uses to reach its own postmaster. */
static void
self_target(CmTarget *target, char *reason)
{
	char *raw = pstrdup(ListenAddresses ? ListenAddresses : "");
	List *hosts = NIL;
	const char *host;

	if (!SplitGUCList(raw, ',', &hosts) || hosts == NIL)
	{
		strlcpy(reason,
				"this node does not listen on TCP (listen_addresses is empty)",
				CM_REASON_LEN);
		pfree(raw);
		return;
	}
	host = linitial(hosts);
	if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	(void) cm_resolve_target(host, PostPortNumber, target, reason);
	list_free(hosts);
	pfree(raw);
}

/* Host and port of the first server named in primary_conninfo. */
static bool
upstream_from_conninfo(char *host, size_t hostlen, int *port)
{
	PQconninfoOption *opts;
	char *err = NULL;
	const char *h = NULL;
	const char *ha = NULL;
	const char *p = NULL;

	if (PrimaryConnInfo == NULL || PrimaryConnInfo[0] == '\0')
		return false;
	opts = PQconninfoParse(PrimaryConnInfo, &err);
	if (opts == NULL)
	{
		if (err)
			PQfreemem(err);
		return false;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			h = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			ha = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			p = o->val;
	}
	strlcpy(host, ha ? ha : (h ? h : ""), hostlen);
	host[strcspn(host, ",")] = '\0';
	*port = p ? atoi(p) : DEF_PGPORT;
	PQconninfoFree(opts);
	return true;
}

static void
upstream_target(CmRouting *out)
{
	char host[NAMEDATALEN * 4];
	int port = 0;
	bool known = false;
	const char *connect_host;

	SpinLockAcquire(&WalRcv->mutex);
	if (WalRcv->walRcvState == WALRCV_STREAMING && WalRcv->sender_host[0])
	{
		strlcpy(host, WalRcv->sender_host, sizeof(host));
		port = WalRcv->sender_port;
		known = true;
	}
	SpinLockRelease(&WalRcv->mutex);
	if (!known)
		known = upstream_from_conninfo(host, sizeof(host), &port);
	if (!known || port <= 0 || port > 65535)
	{
		strlcpy(out->no_leader_reason,
				"this node is a standby and its upstream is not known",
				CM_REASON_LEN);
		return;
	}
	connect_host = (host[0] == '\0' || host[0] == '/') ? "127.0.0.1" : host;
	snprintf(out->upstream, CM_TARGET_NAME_LEN, "%s:%d", host, port);
	(void) cm_resolve_target(connect_host, port, &out->read_write,
							 out->no_leader_reason);
}

/*
 * Bytes received from the upstream but not replayed yet; -1 when this
 * standby is not streaming, so its lag is unknown.
 */
static int64
replay_lag(XLogRecPtr replayed)
{
	XLogRecPtr received;
	bool streaming;

	SpinLockAcquire(&WalRcv->mutex);
	streaming = WalRcv->walRcvState == WALRCV_STREAMING;
	received = Max(WalRcv->flushedUpto, WalRcv->latestWalEnd);
	SpinLockRelease(&WalRcv->mutex);
	if (!streaming || XLogRecPtrIsInvalid(received))
		return -1;
	return received > replayed ? (int64) (received - replayed) : 0;
}

/*
 * Read-only sessions go to this node while it is a standby within
 * read_only_max_lag; otherwise, per read_only_fallback, to the write leader
 * (still locked read-only) or nowhere.
 */
static void
choose_read_only(CmRouting *out)
{
	if (out->in_recovery)
	{
		if (cm_read_only_max_lag < 0 ||
			(out->replay_lag >= 0 && out->replay_lag <= cm_read_only_max_lag))
		{
			strlcpy(out->read_only_reason, "this node is a standby",
					CM_REASON_LEN);
			self_target(&out->read_only, out->read_only_reason);
			return;
		}
		if (out->replay_lag < 0)
			snprintf(out->read_only_reason, CM_REASON_LEN,
					 "this standby is not streaming, so its lag is unknown and read_only_max_lag is %d bytes",
					 cm_read_only_max_lag);
		else
			snprintf(out->read_only_reason, CM_REASON_LEN,
					 "this standby's replay lag of " INT64_FORMAT
					 " bytes is over read_only_max_lag (%d bytes)",
					 out->replay_lag, cm_read_only_max_lag);
	}
	else
		strlcpy(out->read_only_reason,
				"this node is the primary and no standby is known",
				CM_REASON_LEN);

	if (cm_read_only_fallback == CM_RO_FALLBACK_LEADER && out->read_write.valid)
	{
		out->read_only = out->read_write;
		out->read_only_is_leader = true;
	}
}

/*
 * Describes this node; with targets, also resolves where its sessions go
 * when it runs alone (its own address, its upstream's), which may block on
 * DNS for a host name in primary_conninfo.
 */
void
cm_node_describe(CmRouting *out, bool targets)
{
	memset(out, 0, sizeof(*out));
	out->replay_lag = -1;
	out->system_identifier = GetSystemIdentifier();
	out->in_recovery = RecoveryInProgress();
	if (!out->in_recovery)
	{
		out->timeline = GetWALInsertionTimeLine();
		out->wal_position = GetFlushRecPtr(NULL);
		if (targets)
			self_target(&out->read_write, out->no_leader_reason);
	}
	else
	{
		TimeLineID tli = 0;

		out->wal_position = GetXLogReplayRecPtr(&tli);
		out->timeline = tli;
		if (targets)
			upstream_target(out);
		out->replay_lag = replay_lag(out->wal_position);
	}
	if (targets)
		choose_read_only(out);
}

/* Client backends of this node: the load the read-only pool balances. */
static uint32
client_sessions(void)
{
	uint32 n = 0;
	int total = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= total; i++)
	{
		LocalPgBackendStatus *b = pgstat_fetch_stat_local_beentry(i);

		if (b && b->backendStatus.st_backendType == B_BACKEND)
			n++;
	}
	pgstat_clear_backend_activity_snapshot();
	return n;
}

/* What this node serves about itself on GET /node/state. */
void
cm_node_self(const CmRouting *described, uint64 instance, CmNodeState *out)
{
	memset(out, 0, sizeof(*out));
	out->reachable = true;
	strlcpy(out->name, cluster_name ? cluster_name : "", sizeof(out->name));
	out->system_identifier = described->system_identifier;
	out->in_recovery = described->in_recovery;
	out->timeline = described->timeline;
	out->wal_lsn = described->wal_position;
	if (described->in_recovery)
	{
		SpinLockAcquire(&WalRcv->mutex);
		out->streaming = WalRcv->walRcvState == WALRCV_STREAMING;
		SpinLockRelease(&WalRcv->mutex);
	}
	out->sessions = client_sessions();
	out->instance = instance;
	out->port = PostPortNumber;
}
