/*
 * backend/shmem.c
 *		Size, request and attach the connection manager's shared memory, and
 *		the small accessors that take its locks.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "cm_cancel_key.h"
#include "cm_guc.h"
#include "cm_shmem.h"
#include "cm_stats.h"
#include "cm_wakeup.h"

CmShared *cm_shared = NULL;
int cm_proxy_worker_index = -1;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Each worker owns a partition of session slots.  A session takes a slot
 * when it starts logging in, so the table only has to cover sessions that
 * hold a server connection.  The process id a client gets has room for
 * the largest table there can be (cm_cancel_key.h).
 */
StaticAssertDecl((int64) CM_MAX_WORKERS * 2 * MAX_BACKENDS <= CM_CANCEL_MAX_SLOTS,
				 "every slot has a process id");

static int
slots_per_worker(void)
{
	return Max(2 * MaxConnections, 1024);
}

static Size
cm_shmem_size(void)
{
	Size size = offsetof(CmShared, slots);

	size = add_size(size,
					mul_size(mul_size(cm_guc_worker_count(), slots_per_worker()),
							 sizeof(CmSessionSlot)));
	return size;
}

static void
cm_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(cm_shmem_size());
}

static void
cm_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	cm_shared = ShmemInitStruct("connection_manager", cm_shmem_size(), &found);
	if (!found)
	{
		int nslots;

		memset(cm_shared, 0, cm_shmem_size());
		pg_atomic_init_u32(&cm_shared->routing_seq, 0);
		pg_atomic_init_u64(&cm_shared->routing_generation, 0);
		for (int w = 0; w < CM_MAX_WORKERS; w++)
		{
			for (int k = 0; k < CM_PORT_KINDS; k++)
			{
				pg_atomic_init_u32(&cm_shared->clients[w][k], 0);
				pg_atomic_init_u32(&cm_shared->servers[w][k], 0);
			}
		}
		strlcpy(cm_shared->routing.no_leader_reason,
				"the monitor has not described this node yet", CM_REASON_LEN);
		cm_shared->nworkers = cm_guc_worker_count();
		cm_shared->slots_per_worker = slots_per_worker();
		nslots = cm_shared->nworkers * cm_shared->slots_per_worker;
		for (int i = 0; i < nslots; i++)
			SpinLockInit(&cm_shared->slots[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
cm_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cm_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cm_shmem_startup;
}

/*
 * The routing state is a seqlock: its only writer, the monitor, makes
 * routing_seq odd while it copies; a reader copies between two equal even
 * readings.  Readers never block the writer, and the writer never waits.
 * A reader gives up (false, out untouched) after about a second of odd or
 * moving counts, which only a writer stopped in the middle could cause.
 */
bool
cm_routing_read(CmRouting *out)
{
	static CmRouting copy; /* large: not on the stack */

	for (uint32 tries = 0; tries < 20000; tries++)
	{
		uint32 before = pg_atomic_read_u32(&cm_shared->routing_seq);

		if ((before & 1) == 0)
		{
			pg_read_barrier();
			memcpy(&copy, &cm_shared->routing, sizeof(CmRouting));
			pg_read_barrier();
			if (pg_atomic_read_u32(&cm_shared->routing_seq) == before)
			{
				memcpy(out, &copy, sizeof(CmRouting));
				return true;
			}
		}
		if (tries % 100 == 99)
			pg_usleep(5000L);
		else
			pg_spin_delay();
	}
	return false;
}

/* Publishes a new routing state and wakes every proxy worker. */
void
cm_routing_publish(const CmRouting *in)
{
	pg_atomic_fetch_add_u32(&cm_shared->routing_seq, 1); /* odd: writing */
	pg_write_barrier();
	memcpy(&cm_shared->routing, in, sizeof(CmRouting));
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&cm_shared->routing_seq, 1); /* even: done */
	pg_atomic_fetch_add_u64(&cm_shared->routing_generation, 1);
	cm_wakeup_all();
}

/* A starting monitor: an earlier one stopped while writing leaves it odd. */
void
cm_routing_repair(void)
{
	if (pg_atomic_read_u32(&cm_shared->routing_seq) & 1)
		pg_atomic_fetch_add_u32(&cm_shared->routing_seq, 1);
}

CmSessionSlot *
cm_slot_get(int index)
{
	if (index < 0 || index >= cm_shared->nworkers * cm_shared->slots_per_worker)
		return NULL;
	return &cm_shared->slots[index];
}

uint32
cm_shmem_total_clients(CmPortKind kind)
{
	uint32 total = 0;

	for (int w = 0; w < cm_shared->nworkers; w++)
		total += pg_atomic_read_u32(&cm_shared->clients[w][kind]);
	return total;
}

uint32
cm_shmem_total_servers(CmPortKind kind)
{
	uint32 total = 0;

	for (int w = 0; w < cm_shared->nworkers; w++)
		total += pg_atomic_read_u32(&cm_shared->servers[w][kind]);
	return total;
}

/*
 * A worker starts afresh: whatever a previous incarnation counted or held
 * in its partition of the session table is gone with its sockets.
 */
void
cm_shmem_reset_worker(int worker)
{
	int per = cm_shared->slots_per_worker;

	if (worker < 0 || worker >= cm_shared->nworkers)
		return;
	cm_stats_worker_start(worker);
	for (int k = 0; k < CM_PORT_KINDS; k++)
	{
		pg_atomic_write_u32(&cm_shared->clients[worker][k], 0);
		pg_atomic_write_u32(&cm_shared->servers[worker][k], 0);
	}
	for (int i = worker * per; i < (worker + 1) * per; i++)
	{
		CmSessionSlot *slot = &cm_shared->slots[i];

		SpinLockAcquire(&slot->mutex);
		slot->in_use = false;
		slot->server_key_known = false;
		slot->client_key = 0;
		SpinLockRelease(&slot->mutex);
	}
}
