/*
 * pure/hba_match.c
 *		The server's first-match search over parsed pg_hba.conf rules, and
 *		the names shown for rules in the log and the view.
 *
 * Checks run in the server's order (connection type, address, database,
 * role), so the caller's is_member() is asked exactly what the server
 * would ask.  How skipped rules end the search is explained in
 * cm_hba_match.h.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_hba_match.h"
#include "cm_conf_regex.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The client address as the server would see it; false if unusable. */
static bool
client_address(const struct sockaddr *in, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (in == NULL)
		return false;
	if (in->sa_family == AF_INET)
	{
		memcpy(out, in, sizeof(struct sockaddr_in));
		return true;
	}
	if (in->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) in;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		{
			/* an IPv4 client on a dual-stack socket: see cm_hba_match.h */
			struct sockaddr_in *v4 = (struct sockaddr_in *) out;

			v4->sin_family = AF_INET;
			v4->sin_port = in6->sin6_port;
			memcpy(&v4->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
		}
		else
			memcpy(out, in, sizeof(struct sockaddr_in6));
		return true;
	}
	if (in->sa_family == AF_UNIX)
	{
		out->ss_family = AF_UNIX;
		return true;
	}
	return false;
}

/*
 * Is addr inside net under mask?  Families must all be equal, as in the
 * server; masks apply bit by bit.
 */
static bool
address_in(const struct sockaddr_storage *addr,
		   const struct sockaddr_storage *net,
		   const struct sockaddr_storage *mask)
{
	const uint8_t *a;
	const uint8_t *n;
	const uint8_t *m;
	size_t len;

	if (addr->ss_family != net->ss_family || mask->ss_family != net->ss_family)
		return false;
	if (addr->ss_family == AF_INET)
	{
		a = (const uint8_t *) &((const struct sockaddr_in *) addr)->sin_addr;
		n = (const uint8_t *) &((const struct sockaddr_in *) net)->sin_addr;
		m = (const uint8_t *) &((const struct sockaddr_in *) mask)->sin_addr;
		len = 4;
	}
	else if (addr->ss_family == AF_INET6)
	{
		a = ((const struct sockaddr_in6 *) addr)->sin6_addr.s6_addr;
		n = ((const struct sockaddr_in6 *) net)->sin6_addr.s6_addr;
		m = ((const struct sockaddr_in6 *) mask)->sin6_addr.s6_addr;
		len = 16;
	}
	else
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (((a[i] ^ n[i]) & m[i]) != 0)
			return false;
	}
	return true;
}

/* An all-ones mask for the family. */
static void
full_mask(struct sockaddr_storage *mask, int family)
{
	memset(mask, 0, sizeof(*mask));
	mask->ss_family = (sa_family_t) family;
	if (family == AF_INET)
		memset(&((struct sockaddr_in *) mask)->sin_addr, 0xff, 4);
	else if (family == AF_INET6)
		memset(((struct sockaddr_in6 *) mask)->sin6_addr.s6_addr, 0xff, 16);
}

/*
 * The interface's netmask as the server uses it: a missing, zero or
 * other-family mask counts as all ones.
 */
static void
interface_mask(const CmHbaInterface *ifc, struct sockaddr_storage *mask)
{
	static const uint8_t zero[16];
	const struct sockaddr_storage *m = &ifc->netmask;
	bool usable = m->ss_family == ifc->addr.ss_family;

	if (usable && m->ss_family == AF_INET)
		usable =
			memcmp(&((const struct sockaddr_in *) m)->sin_addr, zero, 4) != 0;
	else if (usable && m->ss_family == AF_INET6)
		usable = memcmp(((const struct sockaddr_in6 *) m)->sin6_addr.s6_addr,
						zero, 16) != 0;
	if (usable)
		*mask = *m;
	else
		full_mask(mask, ifc->addr.ss_family);
}

static bool
same_host_or_net(const struct sockaddr_storage *client, bool samenet,
				 const CmHbaMatchContext *ctx)
{
	for (int i = 0; i < ctx->ninterfaces; i++)
	{
		const CmHbaInterface *ifc = &ctx->interfaces[i];
		struct sockaddr_storage mask;

		if (samenet)
			interface_mask(ifc, &mask);
		else
			full_mask(&mask, ifc->addr.ss_family);
		if (address_in(client, &ifc->addr, &mask))
			return true;
	}
	return false;
}

static int
is_member(const CmHbaMatchContext *ctx, const char *role, const char *group)
{
	int r;

	if (ctx->is_member == NULL)
		return -1;
	r = ctx->is_member(ctx->is_member_arg, role, group);
	return r < 0 ? -1 : r > 0;
}

/*
 * One role token against the role name: 1, 0, or -1 when is_member
 * failed.  Also the database-user check of pg_ident.conf on 16+.
 */
int
cm_hba_role_token_matches(const CmConfStore *store, const CmConfToken *tok,
						  const char *role, CmHbaIsMemberFn member_fn, void *arg)
{
	int r;

	switch (tok->kind)
	{
		case CM_CONF_TOKEN_GROUP:
			if (member_fn == NULL)
				return -1;
			r = member_fn(arg, role, tok->text + 1);
			return r < 0 ? -1 : r > 0;
		case CM_CONF_TOKEN_ALL:
			return 1;
		case CM_CONF_TOKEN_REGEX:
			/* a failing regexec() is no match, as in the server */
			return cm_conf_regex_exec(store, tok->regex, role, 0, NULL) == 0;
		default:
			return strcmp(tok->text, role) == 0;
	}
}

static int
check_databases(const CmHbaFile *file, const CmHbaRule *rule,
				const CmHbaConn *conn, const CmHbaMatchContext *ctx)
{
	for (int i = 0; i < rule->ndatabases; i++)
	{
		const CmConfToken *tok = &rule->databases[i];
		int r;

		/* physical replication matches the replication keyword only */
		if (conn->physical_replication)
		{
			if (tok->kind == CM_CONF_TOKEN_REPLICATION)
				return 1;
			continue;
		}
		switch (tok->kind)
		{
			case CM_CONF_TOKEN_ALL:
				return 1;
			case CM_CONF_TOKEN_SAMEUSER:
				if (strcmp(conn->database, conn->role) == 0)
					return 1;
				break;
			case CM_CONF_TOKEN_SAMEROLE:
				r = is_member(ctx, conn->role, conn->database);
				if (r != 0)
					return r;
				break;
			case CM_CONF_TOKEN_REPLICATION:
				break;
			case CM_CONF_TOKEN_REGEX:
				if (cm_conf_regex_exec(file->store, tok->regex, conn->database,
									   0, NULL) == 0)
					return 1;
				break;
			default:
				if (strcmp(tok->text, conn->database) == 0)
					return 1;
				break;
		}
	}
	return 0;
}

static int
check_roles(const CmHbaFile *file, const CmHbaRule *rule,
			const CmHbaConn *conn, const CmHbaMatchContext *ctx)
{
	for (int i = 0; i < rule->nroles; i++)
	{
		int r =
			cm_hba_role_token_matches(file->store, &rule->roles[i], conn->role,
									  ctx->is_member, ctx->is_member_arg);

		if (r != 0)
			return r;
	}
	return 0;
}

/* Does the rule's connection type and address admit the client? */
static bool
check_connection(const CmHbaRule *rule, const CmHbaConn *conn,
				 const struct sockaddr_storage *client,
				 const CmHbaMatchContext *ctx, bool *undecided)
{
	*undecided = false;
	if (rule->conn_type == CM_HBA_CONN_LOCAL)
		return client->ss_family == AF_UNIX;
	if (client->ss_family == AF_UNIX)
		return false;
	if (conn->ssl ? rule->conn_type == CM_HBA_CONN_HOSTNOSSL
				  : rule->conn_type == CM_HBA_CONN_HOSTSSL)
		return false;
	/* clients of the proxy never have GSSAPI encryption */
	if (rule->conn_type == CM_HBA_CONN_HOSTGSSENC)
		return false;
	switch (rule->addr_kind)
	{
		case CM_HBA_ADDR_ALL:
			return true;
		case CM_HBA_ADDR_SAMEHOST:
			return same_host_or_net(client, false, ctx);
		case CM_HBA_ADDR_SAMENET:
			return same_host_or_net(client, true, ctx);
		case CM_HBA_ADDR_MASK:
			return address_in(client, &rule->addr, &rule->mask);
		case CM_HBA_ADDR_HOSTNAME:
			*undecided = true; /* only DNS could tell */
			return true;
		default:
			return false;
	}
}

CmHbaMatchResult
cm_hba_match(const CmHbaFile *file, const CmHbaConn *conn,
			 const CmHbaMatchContext *ctx, int *rule)
{
	static const CmHbaMatchContext no_context = {0};
	struct sockaddr_storage client;

	*rule = -1;
	if (ctx == NULL)
		ctx = &no_context;
	if (file == NULL || file->nerrors > 0 || conn == NULL || conn->role == NULL ||
		conn->database == NULL || !client_address(conn->addr, &client))
		return CM_HBA_MATCH_ERROR;
	for (int i = 0; i < file->nrules; i++)
	{
		const CmHbaRule *r = &file->rules[i];
		bool undecided;
		int ok;

		if (!check_connection(r, conn, &client, ctx, &undecided))
			continue;
		ok = check_databases(file, r, conn, ctx);
		if (ok == 0)
			continue;
		if (ok > 0)
			ok = check_roles(file, r, conn, ctx);
		if (ok == 0)
			continue;
		*rule = i;
		if (ok < 0)
			return CM_HBA_MATCH_ERROR;
		if (undecided || r->skip != CM_HBA_SKIP_NONE)
			return CM_HBA_MATCH_SKIPPED;
		return CM_HBA_MATCH;
	}
	return CM_HBA_NO_MATCH;
}

bool
cm_hba_uses_interfaces(const CmHbaFile *file)
{
	if (file == NULL)
		return false;
	for (int i = 0; i < file->nrules; i++)
	{
		if (file->rules[i].addr_kind == CM_HBA_ADDR_SAMEHOST ||
			file->rules[i].addr_kind == CM_HBA_ADDR_SAMENET)
			return true;
	}
	return false;
}

int
cm_hba_interfaces_from_system(CmHbaInterface **out, int *count)
{
	struct ifaddrs *list;
	int n = 0;
	CmHbaInterface *v;

	*out = NULL;
	*count = 0;
	if (getifaddrs(&list) != 0)
		return errno != 0 ? errno : EIO;
	for (struct ifaddrs *a = list; a != NULL; a = a->ifa_next)
	{
		if (a->ifa_addr != NULL && (a->ifa_addr->sa_family == AF_INET ||
									a->ifa_addr->sa_family == AF_INET6))
			n++;
	}
	v = calloc(n > 0 ? (size_t) n : 1, sizeof(CmHbaInterface));
	if (v == NULL)
	{
		freeifaddrs(list);
		return ENOMEM;
	}
	n = 0;
	for (struct ifaddrs *a = list; a != NULL; a = a->ifa_next)
	{
		size_t len;

		if (a->ifa_addr == NULL || (a->ifa_addr->sa_family != AF_INET &&
									a->ifa_addr->sa_family != AF_INET6))
			continue;
		len = a->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
												: sizeof(struct sockaddr_in6);
		memcpy(&v[n].addr, a->ifa_addr, len);
		if (a->ifa_netmask != NULL &&
			a->ifa_netmask->sa_family == a->ifa_addr->sa_family)
			memcpy(&v[n].netmask, a->ifa_netmask, len);
		n++;
	}
	freeifaddrs(list);
	*out = v;
	*count = n;
	return 0;
}

const char *
cm_hba_conn_type_name(CmHbaConnType type)
{
	switch (type)
	{
		case CM_HBA_CONN_LOCAL:
			return "local";
		case CM_HBA_CONN_HOST:
			return "host";
		case CM_HBA_CONN_HOSTSSL:
			return "hostssl";
		case CM_HBA_CONN_HOSTNOSSL:
			return "hostnossl";
		case CM_HBA_CONN_HOSTGSSENC:
			return "hostgssenc";
		case CM_HBA_CONN_HOSTNOGSSENC:
			return "hostnogssenc";
	}
	return "unknown";
}

const char *
cm_hba_method_name(CmHbaMethod method)
{
	switch (method)
	{
		case CM_HBA_METHOD_TRUST:
			return "trust";
		case CM_HBA_METHOD_REJECT:
			return "reject";
		case CM_HBA_METHOD_MD5:
			return "md5";
		case CM_HBA_METHOD_PASSWORD:
			return "password";
		case CM_HBA_METHOD_SCRAM:
			return "scram-sha-256";
		case CM_HBA_METHOD_CERT:
			return "cert";
		case CM_HBA_METHOD_GSS:
			return "gss";
		case CM_HBA_METHOD_SSPI:
			return "sspi";
		case CM_HBA_METHOD_IDENT:
			return "ident";
		case CM_HBA_METHOD_PEER:
			return "peer";
		case CM_HBA_METHOD_PAM:
			return "pam";
		case CM_HBA_METHOD_LDAP:
			return "ldap";
		case CM_HBA_METHOD_RADIUS:
			return "radius";
		case CM_HBA_METHOD_BSD:
			return "bsd";
	}
	return "unknown";
}

const char *
cm_hba_skip_reason(const CmHbaRule *rule)
{
	switch (rule->skip)
	{
		case CM_HBA_SKIP_NONE:
			return NULL;
		case CM_HBA_SKIP_LOCAL:
			return "\"local\" rules apply to Unix-domain socket connections "
				   "only, which the connection manager does not accept";
		case CM_HBA_SKIP_HOSTGSSENC:
			return "\"hostgssenc\" rules need GSSAPI encryption, which the "
				   "connection manager does not offer";
		case CM_HBA_SKIP_HOSTNAME:
			return "host names need DNS lookups, which the connection "
				   "manager does not do; a connection this rule could match "
				   "is refused";
		case CM_HBA_SKIP_METHOD:
			break;
	}
	switch (rule->method)
	{
		case CM_HBA_METHOD_GSS:
			return "authentication method \"gss\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		case CM_HBA_METHOD_SSPI:
			return "authentication method \"sspi\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		case CM_HBA_METHOD_IDENT:
			return "authentication method \"ident\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		case CM_HBA_METHOD_PEER:
			return "authentication method \"peer\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		case CM_HBA_METHOD_PAM:
			return "authentication method \"pam\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		case CM_HBA_METHOD_LDAP:
			return "authentication method \"ldap\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		case CM_HBA_METHOD_RADIUS:
			return "authentication method \"radius\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		case CM_HBA_METHOD_BSD:
			return "authentication method \"bsd\" is not supported by the "
				   "connection manager; a connection this rule matches is "
				   "refused";
		default:
			return "the connection manager cannot honour this rule";
	}
}
