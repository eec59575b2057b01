/*
 * cm_hba_match.h
 *		The choice of the pg_hba.conf rule that decides a client connection,
 *		made the way the server makes it, and the names shown for rules.
 *
 * What only the caller knows (role membership, the host's interfaces)
 * comes in through callbacks and arrays.
 *
 * Skipped rules (see cm_hba_parse.h).  "local" and "hostgssenc" rules never
 * match a connection that reaches the proxy, exactly as the server never
 * matches them for a TCP connection without GSS encryption, so they change
 * nothing.  Any other skipped rule that matches a connection STOPS the
 * search: cm_hba_match() answers CM_HBA_MATCH_SKIPPED with its index and
 * the caller refuses the client.  Going on to later rules would let the
 * proxy admit a client through a rule the server never reaches for it (an
 * "ldap" line followed by a "trust" line would become trust): a different
 * decision, and a wider one.  Stopping keeps SPEC promise 6: whenever the
 * server's first matching rule is one we honour, cm_hba_match() returns
 * that same rule; otherwise the client is refused.  A host-name rule stops
 * the search as soon as its connection type, database and role match,
 * because whether the address matches cannot be known without DNS.
 *
 * Addresses.  The server listens on IPv6 sockets with IPV6_V6ONLY, so an
 * IPv4 client always reaches it as AF_INET, and an IPv6 rule (even
 * ::ffff:127.0.0.1/128) never matches it.  The matcher therefore reads a
 * v4-mapped IPv6 client address (::ffff:a.b.c.d, as a dual-stack proxy
 * socket reports it) as the IPv4 client it is; then families must be
 * equal, as in the server.  Masks apply bit by bit, non-contiguous ones
 * too, and host bits under a CIDR mask are ignored.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HBA_MATCH_H
#define CM_HBA_MATCH_H

#include "cm_conf_store.h"
#include "cm_conf_token.h"
#include "cm_hba_parse.h"

#include <stdbool.h>
#include <sys/socket.h>

/* One address of the host, with its netmask (samehost, samenet). */
typedef struct CmHbaInterface
{
	struct sockaddr_storage addr;
	struct sockaddr_storage netmask;
} CmHbaInterface;

/*
 * Reads the host's interface addresses with getifaddrs(), as the server
 * does.  Returns 0 and a malloc'd array, or an errno value.
 */
extern int cm_hba_interfaces_from_system(CmHbaInterface **out, int *count);

/*
 * Does any rule name samehost or samenet?  Only then must the caller read
 * the interfaces for a connection.  The server reads them each time such a
 * rule is checked, so a list kept from an earlier connection (or from the
 * load) would keep matching an address that has moved away.  An empty
 * list, as after a failed read, makes those rules match nobody, which is
 * what the server does when it cannot read them.
 */
extern bool cm_hba_uses_interfaces(const CmHbaFile *file);

/*
 * Is role a member of group?  1 yes, 0 no, negative on failure.  Answer
 * as the server's is_member(): 0 when either role does not exist; 1 when
 * role is group itself or a member directly or through other roles (also
 * without INHERIT); superuser status does not make a role a member.
 */
typedef int (*CmHbaIsMemberFn)(void *arg, const char *role, const char *group);

typedef struct CmHbaConn
{
	const struct sockaddr *addr; /* AF_INET or AF_INET6 (AF_UNIX: local) */
	bool ssl;					 /* TLS is in use on the client side */
	bool physical_replication;	 /* replication=true, not =database */
	const char *role;
	const char *database;
} CmHbaConn;

typedef struct CmHbaMatchContext
{
	CmHbaIsMemberFn is_member; /* NULL: a membership question is an error */
	void *is_member_arg;
	const CmHbaInterface *interfaces; /* for samehost and samenet */
	int ninterfaces;
} CmHbaMatchContext;

typedef enum CmHbaMatchResult
{
	CM_HBA_MATCH,		  /* *rule is the server's rule: honour it */
	CM_HBA_MATCH_SKIPPED, /* *rule would decide but is skipped: refuse */
	CM_HBA_NO_MATCH,	  /* no rule matches: the server's implicit reject */
	CM_HBA_MATCH_ERROR	  /* file with errors, bad address, or is_member
						   * failed: refuse */
} CmHbaMatchResult;

/*
 * The server's first-match search.  The major version the file was parsed
 * for decides what a leading "/" means, so it is not asked again here.
 * *rule is the rule's index, or -1.
 */
extern CmHbaMatchResult
cm_hba_match(const CmHbaFile *file, const CmHbaConn *conn,
			 const CmHbaMatchContext *ctx, int *rule);

extern const char *cm_hba_conn_type_name(CmHbaConnType type);
extern const char *cm_hba_method_name(CmHbaMethod method);
/* Why a rule is skipped, for the log and the view; NULL when it is not. */
extern const char *cm_hba_skip_reason(const CmHbaRule *rule);

/*
 * One role token against the role name: 1, 0, or -1 when is_member
 * failed.  Also the database-user check of pg_ident.conf on 16+.
 */
extern int cm_hba_role_token_matches(const CmConfStore *store,
									 const CmConfToken *tok, const char *role,
									 CmHbaIsMemberFn is_member, void *arg);

#endif /* CM_HBA_MATCH_H */
