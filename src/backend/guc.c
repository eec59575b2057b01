/*
 * backend/guc.c
 *		Every connection_manager.* setting, defined in one place, and the
 *		values derived from them (ports from the server's port, limits from
 *		max_connections, the worker count from the number of CPUs).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <unistd.h>

#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "cm_cluster.h"
#include "cm_guc.h"
#include "cm_tls.h"

#define CM_MAX_WORKERS_SETTING 64
#define CM_AUTO_WORKERS_CAP	   4

char *cm_listen_addresses = NULL;
char *cm_nodes = NULL;
int cm_read_write_port = -1;
int cm_read_only_port = -1;
int cm_http_port = -1;
int cm_workers = -1;
int cm_rw_max_client_connections = -1;
int cm_rw_max_server_connections = -1;
int cm_ro_max_client_connections = -1;
int cm_ro_max_server_connections = -1;
int cm_read_only_max_lag = -1;
int cm_read_only_fallback = CM_RO_FALLBACK_LEADER;

int cm_server_sslmode = CM_SSLMODE_PREFER;
char *cm_server_source_addresses = NULL;

#define CM_MAX_SOURCE_ADDRESSES 16

/* server_source_addresses, parsed by its check hook */
typedef struct SourceAddresses
{
	int n;
	struct sockaddr_storage addrs[CM_MAX_SOURCE_ADDRESSES];
} SourceAddresses;

static const SourceAddresses *source_addresses = NULL;

static const struct config_enum_entry sslmode_options[] =
	{{"disable", CM_SSLMODE_DISABLE, false},
	 {"allow", CM_SSLMODE_ALLOW, false},
	 {"prefer", CM_SSLMODE_PREFER, false},
	 {"require", CM_SSLMODE_REQUIRE, false},
	 {"verify-ca", CM_SSLMODE_VERIFY_CA, false},
	 {"verify-full", CM_SSLMODE_VERIFY_FULL, false},
	 {NULL, 0, false}};

static const struct config_enum_entry fallback_options[] =
	{{"leader", CM_RO_FALLBACK_LEADER, false},
	 {"refuse", CM_RO_FALLBACK_REFUSE, false},
	 {NULL, 0, false}};
int cm_leader_wait_timeout = 5000;
int cm_read_write_consensus_timeout = 0;
int cm_read_only_consensus_timeout = 0;
int cm_server_connect_timeout = 5000;
int cm_probe_interval = 1000;
int cm_busy_poll = CM_BUSY_POLL_DEFAULT;
bool cm_log_connections = false;
bool cm_use_https = false;

/*
 * nodes is "name=host:port, ...": the monitor probes every entry.  The
 * syntax is checked here so that a typo is refused at once.
 */
static bool
check_nodes(char **newval, void **extra, GucSource source)
{
	CmNodeConf conf[CM_MAX_NODES];
	char err[CM_CLUSTER_REASON_LEN];

	if (*newval == NULL)
		return true;
	if (cm_nodes_parse(*newval, conf, CM_MAX_NODES, err, sizeof(err)) < 0)
	{
		GUC_check_errdetail("%s.", err);
		GUC_check_errhint(
			"Each entry has the form name=host:port, with the node's PostgreSQL port.");
		return false;
	}
	return true;
}

static bool
is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *) a)->sin_addr.s_addr) >>
				24) == 127;
	return a->ss_family == AF_INET6 &&
		   IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *) a)->sin6_addr);
}

/* A list of numeric IPv4 and IPv6 addresses, at most 16. */
static bool
check_source_addresses(char **newval, void **extra, GucSource source)
{
	char *raw = pstrdup(*newval ? *newval : "");
	List *items = NIL;
	ListCell *lc;
	SourceAddresses *list;

	bool ok = true;

	if (!SplitGUCList(raw, ',', &items))
	{
		GUC_check_errdetail("List syntax is invalid.");
		ok = false;
	}
	else if (list_length(items) > CM_MAX_SOURCE_ADDRESSES)
	{
		GUC_check_errdetail("At most %d addresses can be given.",
							CM_MAX_SOURCE_ADDRESSES);
		ok = false;
	}
	list = ok ? calloc(1, sizeof(SourceAddresses)) : NULL;
	if (ok && list == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errdetail("Out of memory.");
		ok = false;
	}
	if (!ok)
	{
		list_free(items);
		pfree(raw);
		return false;
	}
	foreach (lc, items)
	{
		const char *item = (const char *) lfirst(lc);
		struct sockaddr_storage *a = &list->addrs[list->n];
		struct sockaddr_in *in4 = (struct sockaddr_in *) a;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) a;

		if (inet_pton(AF_INET, item, &in4->sin_addr) == 1)
			a->ss_family = AF_INET;
		else if (inet_pton(AF_INET6, item, &in6->sin6_addr) == 1)
			a->ss_family = AF_INET6;
		else
		{
			GUC_check_errdetail("\"%s\" is not a numeric IP address.", item);
			ok = false;
			break;
		}
		list->n++;
	}
	list_free(items);
	pfree(raw);
	if (!ok)
	{
		free(list);
		return false;
	}
	*extra = list;
	return true;
}

static void
assign_source_addresses(const char *newval, void *extra)
{
	source_addresses = (const SourceAddresses *) extra;
}

bool
cm_guc_source_address(const struct sockaddr_storage *target,
					  struct sockaddr_storage *out, socklen_t *outlen)
{
	const SourceAddresses *list = source_addresses;

	if (list == NULL)
		return false;
	for (int i = 0; i < list->n; i++)
	{
		const struct sockaddr_storage *a = &list->addrs[i];

		if (a->ss_family != target->ss_family ||
			is_loopback(a) != is_loopback(target))
			continue;
		memcpy(out, a, sizeof(*out));
		*outlen = a->ss_family == AF_INET ? sizeof(struct sockaddr_in)
										  : sizeof(struct sockaddr_in6);
		return true;
	}
	return false;
}

void
cm_guc_define(void)
{
	DefineCustomStringVariable("connection_manager.listen_addresses",
							   "Addresses the connection manager listens on.",
							   "Empty means the server's listen_addresses.",
							   &cm_listen_addresses, "", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_write_port",
							"TCP port of the read-write listener.",
							"-1 means the server's port + 1000; 0 disables it.",
							&cm_read_write_port, -1, -1, 65535, PGC_POSTMASTER,
							0, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_only_port",
							"TCP port of the read-only listener.",
							"-1 means the read-write port + 1; 0 disables it.",
							&cm_read_only_port, -1, -1, 65535, PGC_POSTMASTER,
							0, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.http_port",
							"TCP port of the HTTP listener.",
							"-1 means the read-write port + 2; 0 disables it.",
							&cm_http_port, -1, -1, 65535, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.workers",
							"Number of proxy worker processes.",
							"-1 means one per CPU, at most 4.", &cm_workers,
							-1, -1, CM_MAX_WORKERS_SETTING, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("connection_manager.nodes",
							   "The cluster's nodes, as name=host:port entries.",
							   "Empty means this node runs alone.", &cm_nodes,
							   "", PGC_SIGHUP, 0, check_nodes, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_write_max_client_connections",
							"Client sessions accepted on the read-write port.",
							"-1 means max_connections.",
							&cm_rw_max_client_connections, -1, -1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_write_max_server_connections",
							"Server connections opened for read-write sessions, in total.",
							"-1 means max_connections minus superuser_reserved_connections.",
							&cm_rw_max_server_connections, -1, -1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_only_max_client_connections",
							"Client sessions accepted on the read-only port.",
							"-1 means max_connections.",
							&cm_ro_max_client_connections, -1, -1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_only_max_server_connections",
							"Server connections opened for read-only sessions, in total.",
							"-1 means max_connections minus superuser_reserved_connections.",
							&cm_ro_max_server_connections, -1, -1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_only_max_lag",
							"Most replay lag of a standby that takes read-only sessions.",
							"-1 means no limit.", &cm_read_only_max_lag, -1,
							-1, INT_MAX, PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL,
							NULL);
	DefineCustomEnumVariable("connection_manager.read_only_fallback",
							 "Where read-only sessions go when no standby qualifies.",
							 "leader: to the write leader, still locked read-only; refuse: nowhere.",
							 &cm_read_only_fallback, CM_RO_FALLBACK_LEADER,
							 fallback_options, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("connection_manager.server_sslmode",
							 "TLS on the connection manager's own connections to nodes.",
							 "As libpq's sslmode; allow connects without TLS.",
							 &cm_server_sslmode, CM_SSLMODE_PREFER,
							 sslmode_options, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("connection_manager.server_source_addresses",
							   "Local addresses the connection manager connects to nodes from.",
							   "For each node, the first address of the same family and "
							   "the same loopback-ness as the node's; empty lets the "
							   "kernel choose.",
							   &cm_server_source_addresses, "", PGC_SIGHUP, 0,
							   check_source_addresses, assign_source_addresses,
							   NULL);
	DefineCustomIntVariable("connection_manager.leader_wait_timeout",
							"How long a new read-write session waits for a write leader.",
							NULL, &cm_leader_wait_timeout, 5000, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_write_consensus_timeout",
							"How long read-write sessions still go to the last write leader once this node reaches fewer than a majority of the nodes.",
							"0 stops them at once.",
							&cm_read_write_consensus_timeout, 0, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.read_only_consensus_timeout",
							"How long read-only sessions still go to the last read-only pool once this node reaches fewer than a majority of the nodes.",
							"0 stops them at once.",
							&cm_read_only_consensus_timeout, 0, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.server_connect_timeout",
							"How long connecting to a target node may take.",
							NULL, &cm_server_connect_timeout, 5000, 100,
							3600000, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.probe_interval",
							"How often the monitor reads the state of the nodes.",
							NULL, &cm_probe_interval, 1000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("connection_manager.busy_poll",
							"How long, in microseconds, a proxy worker polls for its sessions' next message before it sleeps.",
							"Only while at least half a core of the machine idles; 0 sleeps at once.",
							&cm_busy_poll, CM_BUSY_POLL_DEFAULT, 0, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("connection_manager.log_connections",
							 "Logs each session of the connection manager's ports.",
							 "A line when a session is handed to its client, and one when it ends, with how.",
							 &cm_log_connections, false, PGC_SIGHUP, 0, NULL,
							 NULL, NULL);
	DefineCustomBoolVariable("connection_manager.use_https",
							 "Serves the HTTP port over TLS.",
							 "With the server's ssl_cert_file and ssl_key_file, whatever ssl says.",
							 &cm_use_https, false, PGC_POSTMASTER, 0, NULL,
							 NULL, NULL);
	MarkGUCPrefixReserved("connection_manager");
}

int
cm_guc_rw_port(void)
{
	if (cm_read_write_port >= 0)
		return cm_read_write_port;
	return PostPortNumber + 1000 <= 65535 ? PostPortNumber + 1000 : 0;
}

int
cm_guc_worker_count(void)
{
	long cpus;

	if (cm_workers > 0)
		return cm_workers;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	return (int) Min(cpus, CM_AUTO_WORKERS_CAP);
}

const char *
cm_guc_listen_addresses(void)
{
	if (cm_listen_addresses != NULL && cm_listen_addresses[0] != '\0')
		return cm_listen_addresses;
	return ListenAddresses ? ListenAddresses : "";
}

int
cm_guc_ro_port(void)
{
	int rw = cm_guc_rw_port();

	if (cm_read_only_port >= 0)
		return cm_read_only_port;
	if (rw > 0)
		return rw + 1 <= 65535 ? rw + 1 : 0;
	return PostPortNumber + 1001 <= 65535 ? PostPortNumber + 1001 : 0;
}

int
cm_guc_http_port(void)
{
	int rw = cm_guc_rw_port();

	if (cm_http_port >= 0)
		return cm_http_port;
	if (rw > 0)
		return rw + 2 <= 65535 ? rw + 2 : 0;
	return PostPortNumber + 1002 <= 65535 ? PostPortNumber + 1002 : 0;
}

/*
 * The other nodes' manager ports are not in nodes: each is taken to sit at
 * the same distance from its PostgreSQL port as this node's does (own), or
 * at the default distance when this node has the port off.
 */
static int
peer_port(int pg_port, int own, int default_offset)
{
	int port = pg_port + (own > 0 ? own - PostPortNumber : default_offset);

	return port > 0 && port <= 65535 ? port : 0;
}

/* Where a node serves its state (1002 above its PostgreSQL port by default). */
int
cm_guc_peer_http_port(int pg_port)
{
	return peer_port(pg_port, cm_guc_http_port(), 1002);
}

/* Where a node's manager takes read-write sessions and cancel requests. */
int
cm_guc_peer_rw_port(int pg_port)
{
	return peer_port(pg_port, cm_guc_rw_port(), 1000);
}

int
cm_guc_max_clients(CmPortKind kind)
{
	int v = kind == CM_PORT_READ_ONLY ? cm_ro_max_client_connections
									  : cm_rw_max_client_connections;

	return v >= 0 ? v : MaxConnections;
}

int
cm_guc_max_servers(CmPortKind kind)
{
	int v = kind == CM_PORT_READ_ONLY ? cm_ro_max_server_connections
									  : cm_rw_max_server_connections;

	if (v >= 0)
		return v;
	return Max(MaxConnections - ReservedBackends, 1);
}

const char *
cm_server_sslmode_name(void)
{
	for (int i = 0; sslmode_options[i].name; i++)
	{
		if (sslmode_options[i].val == cm_server_sslmode)
			return sslmode_options[i].name;
	}
	return "prefer";
}
