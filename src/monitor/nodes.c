/*
 * monitor/nodes.c
 *		The node list (connection_manager.nodes) as last read, and where
 *		each node is: its PostgreSQL address, where sessions go, and the
 *		same address with the HTTP port, where its state is read.  The HTTP
 *		server asks here which clients are nodes of the list.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <netinet/in.h>

#include "utils/memutils.h"

#include "cm_guc.h"
#include "cm_monitor.h"
#include "cm_node_state.h"

CmMonNodes cm_mon_nodes;

static char *nodes_text = NULL; /* the setting as last parsed */

/* Same IP address (the port aside)? */
static bool
same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
			   ((const struct sockaddr_in *) b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr,
					  &((const struct sockaddr_in6 *) b)->sin6_addr,
					  sizeof(struct in6_addr)) == 0;
	return false;
}

bool
cm_mon_is_node_address(const struct sockaddr_storage *addr)
{
	for (int i = 0; i < cm_mon_nodes.n; i++)
		if (cm_mon_nodes.target[i].valid &&
			same_ip(&cm_mon_nodes.target[i].addr, addr))
			return true;
	return false;
}

/*
 * Resolves every node: the HTTP address is the PostgreSQL address with the
 * HTTP port, so the state read and the sessions sent reach the same machine
 * even when a name has several addresses.  getaddrinfo() may block on DNS:
 * this runs only when the list is read (start, SIGHUP), and never during a
 * probe round, whose answers must match the addresses sessions go to.  With
 * keep_old, a name that does not resolve keeps its previous address.
 */
void
cm_mon_nodes_resolve(bool keep_old)
{
	CmMonNodes *l = &cm_mon_nodes;

	for (int i = 0; i < l->n; i++)
	{
		char reason[CM_REASON_LEN];
		int http_port = cm_guc_peer_http_port(l->conf[i].port);
		CmTarget t;
		struct sockaddr_storage http;
		socklen_t http_len = 0;

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
			}
			continue;
		}
		strlcpy(t.node, l->conf[i].name, CM_NODE_NAME_LEN);
		memcpy(&http, &t.addr, t.addrlen);
		if (http_port > 0 && http.ss_family == AF_INET)
		{
			((struct sockaddr_in *) &http)->sin_port = htons(http_port);
			http_len = t.addrlen;
		}
		else if (http_port > 0 && http.ss_family == AF_INET6)
		{
			((struct sockaddr_in6 *) &http)->sin6_port = htons(http_port);
			http_len = t.addrlen;
		}
		l->target[i] = t;
		l->http[i] = http;
		l->http_len[i] = http_len;
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
	cm_mon_nodes_resolve(false);
	return true;
}
