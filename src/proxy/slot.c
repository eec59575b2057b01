/*
 * proxy/slot.c
 *		Session slots in shared memory (see cm_slot.h).  Each worker takes
 *		slots from its own partition only; any worker reads any slot to
 *		match a CancelRequest, under the slot's spinlock.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "port.h"

#include "cm_cancel_key.h"
#include "cm_route.h"
#include "cm_slot.h"

static int next_free_slot_hint = 0;

static bool
keys_equal(int32 a, int32 b)
{
	/* no early exit: the time taken must not depend on the key */
	volatile uint32 diff = (uint32) a ^ (uint32) b;

	return diff == 0;
}

/*
 * Takes a free slot of this worker's partition, with a fresh cancel key,
 * for a session going to target.  -1 when the partition is full or no
 * random key could be had.
 */
int
cm_slot_acquire(const CmTarget *target)
{
	int per = cm_shared->slots_per_worker;
	int base = cm_proxy_worker_index * per;

	for (int i = 0; i < per; i++)
	{
		int idx = base + (next_free_slot_hint + i) % per;
		CmSessionSlot *slot = cm_slot_get(idx);
		int32 key;

		if (slot->in_use)
			continue;
		if (!pg_strong_random(&key, sizeof(key)))
			return -1;
		SpinLockAcquire(&slot->mutex);
		slot->in_use = true;
		slot->server_key_known = false;
		slot->client_key = key;
		memcpy(&slot->server_addr, &target->addr, target->addrlen);
		slot->server_addrlen = target->addrlen;
		SpinLockRelease(&slot->mutex);
		next_free_slot_hint = (idx - base + 1) % per;
		return idx;
	}
	return -1;
}

void
cm_slot_release(int slot)
{
	CmSessionSlot *s = cm_slot_get(slot);

	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	s->in_use = false;
	s->server_key_known = false;
	s->client_key = 0;
	SpinLockRelease(&s->mutex);
}

/*
 * The server's BackendKeyData came: kept for cancels.  Gives the one the
 * client gets instead: a process id naming this node and the slot
 * (cm_cancel_key.h), and our key.
 */
void
cm_slot_set_server_key(int slot, int32 server_pid, int32 server_key,
					   int32 *client_pid, int32 *client_key)
{
	CmSessionSlot *s = cm_slot_get(slot);

	*client_pid = cm_cancel_pid(cm_route_self_node(), slot);
	*client_key = 0;
	if (s == NULL)
		return;
	SpinLockAcquire(&s->mutex);
	s->server_pid = server_pid;
	s->server_key = server_key;
	s->server_key_known = true;
	*client_key = s->client_key;
	SpinLockRelease(&s->mutex);
}

/*
 * Whether a client's CancelRequest names a session of this node whose
 * server key is known: slot is the one its process id names, key its key.
 * Then where its server is, and the server's own process id and key to
 * send it.
 */
bool
cm_slot_cancel_target(int slot, int32 client_key, struct sockaddr_storage *addr,
					  socklen_t *addrlen, int32 *server_pid, int32 *server_key)
{
	CmSessionSlot *s = cm_slot_get(slot);
	bool match;

	if (s == NULL)
		return false;
	SpinLockAcquire(&s->mutex);
	match = s->in_use && s->server_key_known &&
			keys_equal(s->client_key, client_key);
	if (match)
	{
		memcpy(addr, &s->server_addr, s->server_addrlen);
		*addrlen = s->server_addrlen;
		*server_pid = s->server_pid;
		*server_key = s->server_key;
	}
	SpinLockRelease(&s->mutex);
	return match;
}

/*
 * Where the server of this worker's own session in slot is, with the
 * server's process id and key, for cancelling its statement; false while
 * the server's key is not known.
 */
bool
cm_slot_server_target(int slot, struct sockaddr_storage *addr,
					  socklen_t *addrlen, int32 *server_pid, int32 *server_key)
{
	CmSessionSlot *s = cm_slot_get(slot);
	bool known;

	if (s == NULL)
		return false;
	SpinLockAcquire(&s->mutex);
	known = s->in_use && s->server_key_known;
	if (known)
	{
		memcpy(addr, &s->server_addr, s->server_addrlen);
		*addrlen = s->server_addrlen;
		*server_pid = s->server_pid;
		*server_key = s->server_key;
	}
	SpinLockRelease(&s->mutex);
	return known;
}
