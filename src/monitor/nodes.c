/*
 * monitor/nodes.c
 *		The node list (connection_manager.nodes) as last read, and where
 *		each node is: its PostgreSQL address, where sessions go, and the
 *		same address with the HTTP port, where its state is read; which
 *		entries are this node; and the list as the proxies need it to send
 *		cancel requests on.  The HTTP server asks here which clients are
 *		nodes of the list.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "cm_guc.h"
#include "cm_monitor.h"
#include "cm_node_state.h"
#include "cm_sock.h"

CmMonNodes cm_mon_nodes;

static char *nodes_text = NULL; /* the setting as last parsed */

bool
cm_mon_is_node_address(const struct sockaddr_storage *addr)
{
	for (int i = 0; i < cm_mon_nodes.n; i++)
		if (cm_mon_nodes.target[i].valid &&
			cm_sock_same_ip(&cm_mon_nodes.target[i].addr, addr))
			return true;
	return false;
}

/*
 * Resolves every node: the HTTP address is the PostgreSQL address with the
 * HTTP port, so the state read and the sessions sent reach the same machine
 * even when a name has several addresses.  getaddrinfo() may block on DNS:
 * this runs only when the list is read (start, SIGHUP), and never during a
 * probe round, whose answers must match the addresses sessions go to.  With
 * keep_old, a name that does not resolve keeps its previous address.  An
 * entry whose address changes is not known to be this node any more.
 */
void
cm_mon_nodes_resolve(bool keep_old)
{
	CmMonNodes *l = &cm_mon_nodes;

	for (int i = 0; i < l->n; i++)
	{
		char reason[CM_REASON_LEN];
		int http_port;
		CmTarget t;

		memset(&t, 0, sizeof(t));
		if (!cm_resolve_target(l->conf[i].host, l->conf[i].port, &t, reason))
		{
			ereport(LOG, (errmsg("connection_manager: node \"%s\": %s",
								 l->conf[i].name, reason),
						  keep_old && l->target[i].valid
							  ? errdetail("Its previous address \"%s\" is kept.",
										  l->target[i].name)
							  : 0));
			if (!keep_old)
			{
				memset(&l->target[i], 0, sizeof(CmTarget));
				l->http_len[i] = 0;
				l->self[i] = false;
			}
			continue;
		}
		strlcpy(t.node, l->conf[i].name, CM_NODE_NAME_LEN);
		http_port = cm_guc_peer_http_port(l->conf[i].port);
		if (!l->target[i].valid || t.addrlen != l->target[i].addrlen ||
			memcmp(&t.addr, &l->target[i].addr, t.addrlen) != 0)
			l->self[i] = false;
		l->target[i] = t;
		memcpy(&l->http[i], &t.addr, t.addrlen);
		l->http_len[i] =
			http_port > 0 && cm_sock_set_port(&l->http[i], http_port) ? t.addrlen
																	  : 0;
	}
}

/*
 * After a round: the entries that answered with this monitor's instance
 * are this node, the others that answered are not; an entry that did not
 * answer stays what it was known to be.
 */
void
cm_mon_nodes_note_self(const CmNodeState *states, uint64 instance)
{
	for (int i = 0; i < cm_mon_nodes.n; i++)
		if (states[i].reachable)
			cm_mon_nodes.self[i] = states[i].instance == instance;
}

/*
 * The list, as the proxies need it for cancel requests (CmRouting): port 0
 * where the read-write port of a node cannot be derived.
 */
void
cm_mon_nodes_peers(CmRouting *r)
{
	const CmMonNodes *l = &cm_mon_nodes;

	r->self_node = 0;
	r->npeers = l->n;
	memset(r->peers, 0, sizeof(r->peers));
	for (int i = 0; i < l->n; i++)
	{
		CmPeer *p = &r->peers[i];

		p->self = l->self[i];
		if (p->self && r->self_node == 0)
			r->self_node = i + 1;
		if (!l->target[i].valid)
			continue;
		memcpy(&p->addr, &l->target[i].addr, l->target[i].addrlen);
		p->addrlen = l->target[i].addrlen;
		(void) cm_sock_set_port(&p->addr, cm_guc_peer_rw_port(l->conf[i].port));
	}
}

/*
 * Takes the nodes setting: false when it is the list already held, else
 * parses it (an invalid one, which the setting's check refuses, leaves no
 * node) and resolves every node afresh.
 */
bool
cm_mon_nodes_set(const char *text)
{
	char err[CM_CLUSTER_REASON_LEN];
	char *copy;
	int n;

	if (nodes_text && strcmp(nodes_text, text) == 0)
		return false;
	copy = MemoryContextStrdup(TopMemoryContext, text);
	if (nodes_text)
		pfree(nodes_text);
	nodes_text = copy;
	n = cm_nodes_parse(text, cm_mon_nodes.conf, CM_MAX_NODES, err, sizeof(err));
	if (n < 0)
	{
		ereport(LOG, (errmsg("connection_manager: nodes is invalid: %s", err)));
		n = 0;
	}
	cm_mon_nodes.n = n;
	memset(cm_mon_nodes.self, 0, sizeof(cm_mon_nodes.self));
	cm_mon_nodes_resolve(false);
	return true;
}
