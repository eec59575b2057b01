/*
 * proxy/cancel.c
 *		Cancel requests.  Clients get a BackendKeyData of ours: a process id
 *		naming the node that holds the session and its slot there
 *		(cm_cancel_key.h), and a random key.  A CancelRequest that names
 *		this node, on any worker, is checked against the slot in constant
 *		time and, when it matches, sent on to the server backend with the
 *		server's own key, over a connection of its own.  One that names
 *		another node of the list is relayed, unchanged and unchecked, to
 *		that node's manager, which does the same.  Anything else reaches
 *		nothing, and the client is told nothing either way, as the server
 *		does: its connection is closed before anything is looked at.
 *
 * A relay is never made for a request that came from the address of a node
 * of the list (a relayed request is never relayed again, so lists that
 * disagree make no loop), nor to this node; it connects from this node's
 * address in the list, which is what the other node checks; each worker
 * has at most CM_CANCEL_MAX_RELAYS on their way, and a request over that
 * is dropped, so one request makes at most one connection.  The key is not
 * looked at before a relay: what the client could time does not depend on
 * it.  Every connection has CM_CANCEL_TIMEOUT_MS to be made.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <unistd.h>

#include "lib/ilist.h"

#include "cm_cancel.h"
#include "cm_cancel_key.h"
#include "cm_proto.h"
#include "cm_route.h"
#include "cm_slot.h"
#include "cm_sock.h"
#include "cm_stats.h"

#define CM_CANCEL_TIMEOUT_MS 5000
#define CM_CANCEL_MAX_RELAYS 64

/* A CancelRequest on its way to a server backend or another manager. */
typedef struct CmCancel
{
	dlist_node node;
	CmWatch watch;
	CmTimer timer;
	uint8 packet[16];
	bool relay; /* counts in relays */
	bool done;
} CmCancel;

static dlist_head cancels = DLIST_STATIC_INIT(cancels);
static int relays = 0; /* relays of this worker on their way */

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
	if (c->relay)
		relays--;
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

/*
 * Starts sending a CancelRequest for pid and key to addr, from source when
 * it is a local address (else from the address the kernel chooses).
 */
static void
cancel_send(const struct sockaddr_storage *addr, socklen_t addrlen,
			const struct sockaddr_storage *source, socklen_t sourcelen,
			int32 pid, int32 key, bool relay)
{
	CmCancel *c;
	CmSockStep failed;
	int fd;

	c = calloc(1, sizeof(CmCancel));
	if (c == NULL)
		return;
	cm_proto_build_cancel(c->packet, sizeof(c->packet), pid, key);
	fd = cm_sock_connect((const struct sockaddr *) addr, addrlen,
						 (const struct sockaddr *) source, sourcelen, &failed);
	if (fd < 0 && source != NULL && failed == CM_SOCK_BIND)
		fd = cm_sock_connect((const struct sockaddr *) addr, addrlen, NULL, 0,
							 &failed);
	cm_watch_init(&c->watch, fd, cancel_ready, c);
	cm_timer_init(&c->timer, cancel_timed_out, c);
	c->relay = relay;
	if (relay)
		relays++;
	dlist_push_tail(&cancels, &c->node);
	if (c->watch.fd < 0 || !cm_watch_set(&c->watch, CM_EV_WRITE) ||
		!cm_timer_set(&c->timer, cm_now_ms() + CM_CANCEL_TIMEOUT_MS))
		cancel_finish(c);
}

/* A request for a slot of this node: whether its key matched the session. */
static bool
cancel_here(int slot, int32 key)
{
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	int32 server_pid = 0;
	int32 server_key = 0;

	if (!cm_slot_cancel_target(slot, key, &addr, &addrlen, &server_pid,
							   &server_key))
		return false;
	cancel_send(&addr, addrlen, NULL, 0, server_pid, server_key, false);
	return true;
}

/*
 * A request for another node of the list (peer): relayed, unless it came
 * from a node or too many relays are on their way.
 */
/*
 * Cancels the statement the session in slot (of this worker) runs on its
 * server: a fenced session's last statement should stop where it is, not
 * run on to its end on a node that no longer leads.
 */
void
cm_cancel_session(int slot)
{
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	int32 server_pid = 0;
	int32 server_key = 0;

	if (cm_slot_server_target(slot, &addr, &addrlen, &server_pid, &server_key))
		cancel_send(&addr, addrlen, NULL, 0, server_pid, server_key, false);
}

static bool
cancel_relay(const CmPeer *peer, int32 pid, int32 key,
			 const struct sockaddr_storage *from)
{
	const CmPeer *self = cm_route_peer(cm_route_self_node());
	struct sockaddr_storage source;

	if (peer->self || peer->addrlen == 0 || cm_sock_port(&peer->addr) == 0 ||
		cm_route_is_peer_address(from) || relays >= CM_CANCEL_MAX_RELAYS)
		return false;
	if (self == NULL || self->addrlen == 0)
	{
		cancel_send(&peer->addr, peer->addrlen, NULL, 0, pid, key, true);
		return true;
	}
	memcpy(&source, &self->addr, self->addrlen);
	(void) cm_sock_set_port(&source, 0);
	cancel_send(&peer->addr, peer->addrlen, &source, self->addrlen, pid, key,
				true);
	return true;
}

/* Where a request for slot of node goes, and what became of it. */
static CmCounter
cancel_route(int node, int slot, int32 pid, int32 key,
			 const struct sockaddr_storage *from)
{
	const CmPeer *peer = cm_route_peer(node);

	if (node != 0 && peer == NULL)
		return CM_C_CANCELS_UNMATCHED; /* past the list: no node gave it */
	/* this node, or any while this node does not know its own entry */
	if (node == 0 || peer->self || cm_route_self_node() == 0)
		return cancel_here(slot, key) ? CM_C_CANCELS_FORWARDED
									  : CM_C_CANCELS_UNMATCHED;
	return cancel_relay(peer, pid, key, from) ? CM_C_CANCELS_RELAYED
											  : CM_C_CANCELS_UNMATCHED;
}

/*
 * A client's CancelRequest (pid, key) from the address from, counted on
 * port.  The client's connection is closed already.
 */
void
cm_cancel_request(CmPortKind port, int32 pid, int32 key,
				  const struct sockaddr_storage *from)
{
	int node;
	int slot;

	cm_stat_add(port,
				cm_cancel_pid_parse(pid, &node, &slot)
					? cancel_route(node, slot, pid, key, from)
					: CM_C_CANCELS_UNMATCHED,
				1);
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
