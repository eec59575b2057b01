/*
 * proxy/cancel.c
 *		Cancel requests.  Clients get a BackendKeyData of ours (cm_slot.h).
 *		A CancelRequest that arrives on any worker is checked against the
 *		slot it names in constant time and, when it matches, sent on to the
 *		server backend with the server's own key, over a connection of its
 *		own.  Anything else reaches nothing, and the client is told nothing
 *		either way, as the server does.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <unistd.h>

#include "lib/ilist.h"

#include "cm_cancel.h"
#include "cm_proto.h"
#include "cm_slot.h"
#include "cm_sock.h"

#define CM_CANCEL_TIMEOUT_MS 5000

/* A CancelRequest on its way to a server backend. */
typedef struct CmCancel
{
	dlist_node node;
	CmWatch watch;
	CmTimer timer;
	uint8 packet[16];
	bool done;
} CmCancel;

static dlist_head cancels = DLIST_STATIC_INIT(cancels);

/* Done, sent or not: freed at the end of the loop's turn. */
static void
cancel_finish(CmCancel *c)
{
	if (c->done)
		return;
	if (c->watch.fd >= 0)
	{
		cm_watch_forget(&c->watch);
		close(c->watch.fd);
		c->watch.fd = -1;
	}
	cm_timer_cancel(&c->timer);
	c->done = true;
}

/* The connection is made (or failed): the packet goes, the socket closes. */
static void
cancel_ready(void *arg, uint32 events)
{
	CmCancel *c = arg;

	if (c->done)
		return;
	if (!(events & EPOLLERR) && (events & CM_EV_WRITE))
	{
		/* 16 bytes into an empty socket buffer: sent whole or not at all */
		if (send(c->watch.fd, c->packet, sizeof(c->packet), MSG_NOSIGNAL) !=
			(ssize_t) sizeof(c->packet))
			ereport(LOG,
					(errmsg(
						"connection_manager: could not forward a cancel request: %m")));
	}
	cancel_finish(c);
}

static void
cancel_timed_out(void *arg)
{
	cancel_finish((CmCancel *) arg);
}

/* Whether the key matched a session (the request is then on its way). */
bool
cm_cancel_forward(int32 pid, int32 key)
{
	CmCancel *c;
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	int32 server_pid = 0;
	int32 server_key = 0;
	CmSockStep failed;

	if (!cm_slot_cancel_target(pid, key, &addr, &addrlen, &server_pid,
							   &server_key))
		return false;

	c = calloc(1, sizeof(CmCancel));
	if (c == NULL)
		return true;
	cm_proto_build_cancel(c->packet, sizeof(c->packet), server_pid, server_key);
	cm_watch_init(&c->watch,
				  cm_sock_connect((struct sockaddr *) &addr, addrlen, NULL, 0,
								  &failed),
				  cancel_ready, c);
	cm_timer_init(&c->timer, cancel_timed_out, c);
	dlist_push_tail(&cancels, &c->node);
	if (c->watch.fd < 0 || !cm_watch_set(&c->watch, CM_EV_WRITE) ||
		!cm_timer_set(&c->timer, cm_now_ms() + CM_CANCEL_TIMEOUT_MS))
		cancel_finish(c);
	return true;
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
