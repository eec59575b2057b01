/*
 * proxy/cancel.c
 *		Cancel requests.  Clients get a BackendKeyData of ours: the process
 *		id names a slot of the node's session table, the key is a random
 *		secret.  A CancelRequest that arrives on any worker is checked
 *		against the slot in constant time and, when it matches, sent on to
 *		the server backend with the server's own key.  Anything else
 *		reaches nothing, and the client is told nothing either way, as the
 *		server does.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <sys/epoll.h>
#include <unistd.h>

#include "cm_proto.h"
#include "cm_proxy.h"
#include "cm_shmem.h"

#define CM_CANCEL_TIMEOUT_MS 5000

static dlist_head cancels = DLIST_STATIC_INIT(cancels);

int32
cm_cancel_pid_for_slot(int slot)
{
	return (int32) (slot + 1);
}

static bool
keys_equal(int32 a, int32 b)
{
	/* no early exit: the time taken must not depend on the key */
	volatile uint32 diff = (uint32) a ^ (uint32) b;

	return diff == 0;
}

static void
cancel_finish(CmCancel *c)
{
	cm_ev_forget(&c->ep);
	c->done = true;
}

/* Whether the key matched a session (the request is then on its way). */
bool
cm_cancel_forward(int32 pid, int32 key)
{
	CmSessionSlot *slot = pid > 0 ? cm_slot_get(pid - 1) : NULL;
	CmCancel *c;
	bool match;
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	int32 server_pid = 0;
	int32 server_key = 0;

	if (slot == NULL)
		return false;
	SpinLockAcquire(&slot->mutex);
	match = slot->in_use && slot->server_key_known &&
			keys_equal(slot->client_key, key);
	if (match)
	{
		memcpy(&addr, &slot->server_addr, slot->server_addrlen);
		addrlen = slot->server_addrlen;
		server_pid = slot->server_pid;
		server_key = slot->server_key;
	}
	SpinLockRelease(&slot->mutex);
	if (!match)
		return false;

	c = calloc(1, sizeof(CmCancel));
	if (c == NULL)
		return true;
	c->ep.kind = CM_EP_CANCEL;
	c->ep.owner = c;
	c->ep.fd =
		socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->deadline_ms = cm_now_ms() + CM_CANCEL_TIMEOUT_MS;
	cm_proto_build_cancel(c->packet, sizeof(c->packet), server_pid, server_key);
	dlist_push_tail(&cancels, &c->node);
	if (c->ep.fd < 0 ||
		(connect(c->ep.fd, (struct sockaddr *) &addr, addrlen) < 0 &&
		 errno != EINPROGRESS) ||
		!cm_ev_watch(&c->ep, EPOLLOUT))
		cancel_finish(c);
	return true;
}

void
cm_cancel_handle(CmCancel *c, uint32 events)
{
	if (c->done)
		return;
	if (!(events & EPOLLERR) && (events & EPOLLOUT))
	{
		/* 16 bytes into an empty socket buffer: sent whole or not at all */
		if (send(c->ep.fd, c->packet, sizeof(c->packet), MSG_NOSIGNAL) !=
			(ssize_t) sizeof(c->packet))
			ereport(LOG,
					(errmsg(
						"connection_manager: could not forward a cancel request: %m")));
	}
	cancel_finish(c);
}

void
cm_cancel_check_timeouts(int64 now)
{
	dlist_iter iter;

	dlist_foreach (iter, &cancels)
	{
		CmCancel *c = dlist_container(CmCancel, node, iter.cur);

		if (!c->done && now >= c->deadline_ms)
			cancel_finish(c);
	}
}

void
cm_cancel_free_done(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &cancels)
	{
		CmCancel *c = dlist_container(CmCancel, node, iter.cur);

		if (c->done)
		{
			dlist_delete(&c->node);
			free(c);
		}
	}
}
