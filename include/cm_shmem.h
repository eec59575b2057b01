/*
 * cm_shmem.h
 *		Shared memory of the connection manager: the routing state the
 *		monitor publishes, connection counters per worker, and the session
 *		table that maps our cancel keys to server backends.
 *
 * Locking: the routing state is a seqlock (routing_seq, odd while the
 * monitor writes; see shmem.c); readers compare routing_generation first and
 * copy only when it moved.  Each session slot has its own spinlock; a slot
 * is allocated and freed only by the worker owning its partition.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_SHMEM_H
#define CM_SHMEM_H

#include <sys/socket.h>

#include "port/atomics.h"
#include "storage/spin.h"

#include "cm_cluster.h"
#include "cm_port.h"

#define CM_MAX_WORKERS	   64
#define CM_TARGET_NAME_LEN 128
#define CM_REASON_LEN	   256

/* A node the proxies can connect to, already resolved. */
typedef struct CmTarget
{
	bool valid;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char name[CM_TARGET_NAME_LEN]; /* "host:port", for messages */
	char node[CM_NODE_NAME_LEN];   /* its name in nodes, or "" */
} CmTarget;

/*
 * A node of the list, for cancel requests: its manager's read-write
 * address (its PostgreSQL address with the read-write port it is taken to
 * have, 0 when none), and whether this node answered there.
 */
typedef struct CmPeer
{
	struct sockaddr_storage addr;
	socklen_t addrlen; /* 0: its address did not resolve */
	bool self;
} CmPeer;

/* What the monitor knows about this node and where sessions go. */
typedef struct CmRouting
{
	CmTarget read_write;
	char no_leader_reason[CM_REASON_LEN];
	CmTarget read_only;					  /* where read-only sessions go now */
	bool read_only_is_leader;			  /* the fallback to the leader */
	char read_only_reason[CM_REASON_LEN]; /* why, or why none */
	int64 replay_lag; /* bytes; -1 unknown or not a standby */
	uint64 system_identifier;
	bool in_recovery;
	uint32 timeline;
	uint64 wal_position; /* flushed WAL, or replayed on a standby */
	char upstream[CM_TARGET_NAME_LEN]; /* "" on a primary */

	/*
	 * With nodes set: the write leader's name ("" when none or alone), and
	 * the standbys taking read-only sessions with the client sessions each
	 * had at the last probe; read_only is then only the fallback.
	 */
	char leader[CM_NODE_NAME_LEN];
	int64 valid_until; /* cm_now_ms(); 0: no end.  Past it, no target */
	int ro_pool_size;
	CmTarget ro_pool[CM_MAX_NODES];
	uint32 ro_load[CM_MAX_NODES];

	/*
	 * With nodes set, for cancel requests (cm_cancel_key.h): this node's
	 * position in the list, counted from 1 (0 until the monitor has found
	 * this node in it), and every node of the list, in its order.
	 */
	int self_node;
	int npeers;
	CmPeer peers[CM_MAX_NODES];
} CmRouting;

typedef struct CmSessionSlot
{
	slock_t mutex;
	bool in_use;
	bool server_key_known;
	int32 client_key; /* the secret we gave the client */
	int32 server_pid; /* the server's BackendKeyData */
	int32 server_key;
	struct sockaddr_storage server_addr;
	socklen_t server_addrlen;
} CmSessionSlot;

typedef struct CmShared
{
	pg_atomic_uint32 routing_seq;
	pg_atomic_uint64 routing_generation;
	CmRouting routing;

	/*
	 * Sessions and server connections, per worker and port kind: each
	 * worker writes only its own row and resets it when it starts, so a
	 * worker that died leaves nothing counted behind.
	 */
	pg_atomic_uint32 clients[CM_MAX_WORKERS][CM_PORT_KINDS];
	pg_atomic_uint32 servers[CM_MAX_WORKERS][CM_PORT_KINDS];

	int nworkers;
	int slots_per_worker;
	CmSessionSlot slots[FLEXIBLE_ARRAY_MEMBER];
} CmShared;

extern CmShared *cm_shared;

extern void cm_shmem_install_hooks(void);
extern bool cm_routing_read(CmRouting *out);
extern void cm_routing_repair(void);
extern void cm_routing_publish(const CmRouting *in);
extern CmSessionSlot *cm_slot_get(int index);
extern uint32 cm_shmem_total_clients(CmPortKind kind);
extern uint32 cm_shmem_total_servers(CmPortKind kind);
extern void cm_shmem_reset_worker(int worker);

/* which proxy worker this process is; -1 in every other process */
extern int cm_proxy_worker_index;

#endif /* CM_SHMEM_H */
