/*
 * cm_guc.h
 *		The connection_manager.* settings and the values derived from them.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_GUC_H
#define CM_GUC_H

#include <sys/socket.h>

#include "cm_port.h"
extern char *cm_listen_addresses;
extern char *cm_nodes;
extern int cm_read_write_port;
extern int cm_read_only_port;
extern int cm_http_port;
extern int cm_workers;
extern int cm_rw_max_client_connections;
extern int cm_rw_max_server_connections;
extern int cm_ro_max_client_connections;
extern int cm_ro_max_server_connections;
extern int cm_read_only_max_lag;
extern int cm_read_only_fallback;
extern int cm_server_sslmode; /* CmSslMode */
extern char *cm_server_source_addresses;

typedef enum CmReadOnlyFallback
{
	CM_RO_FALLBACK_LEADER,
	CM_RO_FALLBACK_REFUSE
} CmReadOnlyFallback;
extern int cm_leader_wait_timeout;
extern int cm_read_write_consensus_timeout;
extern int cm_read_only_consensus_timeout;
extern int cm_server_connect_timeout;
extern int cm_probe_interval;
/* microseconds a proxy worker polls before it sleeps (event/busy_poll.c) */
#define CM_BUSY_POLL_DEFAULT 200
extern int cm_busy_poll;
extern bool cm_log_connections;
extern bool cm_use_https;

extern void cm_guc_define(void);
extern int cm_guc_rw_port(void);
extern int cm_guc_worker_count(void);
extern const char *cm_guc_listen_addresses(void);
extern int cm_guc_ro_port(void);
extern int cm_guc_http_port(void);
extern int cm_guc_peer_http_port(int pg_port);
extern int cm_guc_peer_rw_port(int pg_port);
extern const char *cm_server_sslmode_name(void);
extern int cm_guc_max_clients(CmPortKind kind);
extern int cm_guc_max_servers(CmPortKind kind);

/*
 * The local address to bind before connecting to target, from
 * server_source_addresses: the first of target's family that is a loopback
 * address exactly when target is.  False when none applies.
 */
extern bool
cm_guc_source_address(const struct sockaddr_storage *target,
					  struct sockaddr_storage *out, socklen_t *outlen);

#endif /* CM_GUC_H */
