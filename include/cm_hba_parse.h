/*
 * cm_hba_parse.h
 *		pg_hba.conf read the way the server reads it: rules, or the errors
 *		that make the server refuse the file.
 *
 * Pure code: text in, rules or errors out, no server calls and no globals.
 * What only the caller knows (how to read an @file) comes in through a
 * callback.  The behaviour follows PostgreSQL 15's src/backend/libpq/hba.c,
 * and 16's where the major version changes it; none of its code is used.
 * The tokenizer and its limits are cm_conf_token.h's, the regular
 * expressions cm_conf_regex.h's.
 *
 * Skipped rules.  A rule the proxy cannot honour (local, hostgssenc, the
 * methods gss, sspi, ident, peer, pam, ldap, radius and bsd, a host name
 * that would need DNS) stays in the list with its reason, so the log and
 * the hba_file_rules view show it; cm_hba_match.h says how it ends the
 * search.
 *
 * Other known differences, in what makes the server reject a file (the
 * caller then keeps the previous rules, as the server does): RADIUS server
 * names are not resolved and LDAP URLs are read only approximately;
 * db_user_namespace is taken as off.  The build features of the server
 * (which methods it knows) come from CmHbaParseOptions.build.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HBA_PARSE_H
#define CM_HBA_PARSE_H

#include "cm_conf_store.h"
#include "cm_conf_token.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Features of the server build: a method it lacks is a parse error. */
#define CM_HBA_BUILD_SSL  0x01u
#define CM_HBA_BUILD_GSS  0x02u
#define CM_HBA_BUILD_PAM  0x04u
#define CM_HBA_BUILD_LDAP 0x08u
#define CM_HBA_BUILD_SSPI 0x10u /* Windows only */
#define CM_HBA_BUILD_BSD  0x20u /* OpenBSD only */
/* Debian's and most Linux builds: --with-openssl --with-gssapi --with-pam
 * --with-ldap */
#define CM_HBA_BUILD_DEFAULT                                                  \
	(CM_HBA_BUILD_SSL | CM_HBA_BUILD_GSS | CM_HBA_BUILD_PAM | CM_HBA_BUILD_LDAP)

typedef enum CmHbaConnType
{
	CM_HBA_CONN_LOCAL,
	CM_HBA_CONN_HOST,
	CM_HBA_CONN_HOSTSSL,
	CM_HBA_CONN_HOSTNOSSL,
	CM_HBA_CONN_HOSTGSSENC,
	CM_HBA_CONN_HOSTNOGSSENC
} CmHbaConnType;

typedef enum CmHbaMethod
{
	CM_HBA_METHOD_TRUST,
	CM_HBA_METHOD_REJECT,
	CM_HBA_METHOD_MD5,
	CM_HBA_METHOD_PASSWORD,
	CM_HBA_METHOD_SCRAM,
	CM_HBA_METHOD_CERT,
	CM_HBA_METHOD_GSS,
	CM_HBA_METHOD_SSPI,
	CM_HBA_METHOD_IDENT,
	CM_HBA_METHOD_PEER,
	CM_HBA_METHOD_PAM,
	CM_HBA_METHOD_LDAP,
	CM_HBA_METHOD_RADIUS,
	CM_HBA_METHOD_BSD
} CmHbaMethod;

typedef enum CmHbaAddrKind
{
	CM_HBA_ADDR_NONE, /* local rules */
	CM_HBA_ADDR_ALL,
	CM_HBA_ADDR_SAMEHOST,
	CM_HBA_ADDR_SAMENET,
	CM_HBA_ADDR_MASK, /* addr + mask, from CIDR or a netmask field */
	CM_HBA_ADDR_HOSTNAME
} CmHbaAddrKind;

typedef enum CmHbaClientCert
{
	CM_HBA_CLIENTCERT_NONE,
	CM_HBA_CLIENTCERT_VERIFY_CA,
	CM_HBA_CLIENTCERT_VERIFY_FULL
} CmHbaClientCert;

typedef enum CmHbaClientName
{
	CM_HBA_CLIENTNAME_CN,
	CM_HBA_CLIENTNAME_DN
} CmHbaClientName;

/* Why the proxy cannot honour a rule; see the header comment. */
typedef enum CmHbaSkip
{
	CM_HBA_SKIP_NONE,
	CM_HBA_SKIP_LOCAL,
	CM_HBA_SKIP_HOSTGSSENC,
	CM_HBA_SKIP_METHOD, /* gss sspi ident peer pam ldap radius bsd */
	CM_HBA_SKIP_HOSTNAME
} CmHbaSkip;

typedef struct CmHbaOption
{
	const char *name;
	const char *value;
} CmHbaOption;

typedef struct CmHbaRule
{
	const char *file; /* file the line is in (differs with "include") */
	int line;		  /* its first line number */
	const char *raw_line;
	CmHbaConnType conn_type;
	int ndatabases;
	const CmConfToken *databases;
	int nroles;
	const CmConfToken *roles;
	CmHbaAddrKind addr_kind;
	const char *address;		  /* the address token, NULL for local */
	const char *netmask;		  /* a separate netmask token, or NULL */
	struct sockaddr_storage addr; /* CM_HBA_ADDR_MASK */
	struct sockaddr_storage mask;
	const char *hostname; /* CM_HBA_ADDR_HOSTNAME */
	CmHbaMethod method;
	CmHbaClientCert clientcert; /* verify-full for cert */
	CmHbaClientName clientname;
	const char *map; /* map=, or NULL */
	int noptions;	 /* every name=value, in order */
	const CmHbaOption *options;
	CmHbaSkip skip;
	const char *warning; /* what the server logs for a kept line, or NULL */
} CmHbaRule;

/*
 * A parsed file.  With nerrors > 0 the server would refuse the whole file,
 * so must the caller (keep the previous rules); the rules that did parse
 * stay for display.  Everything is freed by cm_hba_free().
 */
typedef struct CmHbaFile
{
	int server_major;
	int nrules;
	CmHbaRule *rules;
	int nerrors;
	CmConfError *errors;
	CmConfStore *store;
} CmHbaFile;

typedef struct CmHbaParseOptions
{
	int server_major;		/* 15, 16, ...: what a leading "/" means */
	bool ssl_enabled;		/* the server's ssl setting (a warning only) */
	unsigned build;			/* CM_HBA_BUILD_* */
	CmConfReadFn read_file; /* NULL: every @file fails with ENOENT */
	void *read_arg;
} CmHbaParseOptions;

/* 15, ssl on, CM_HBA_BUILD_DEFAULT, no reader. */
extern void cm_hba_parse_options_init(CmHbaParseOptions *opts);

/*
 * Parses pg_hba.conf text; path names the file in messages and anchors
 * relative @file names.  Returns NULL only when out of memory.
 */
extern CmHbaFile *cm_hba_parse(const char *text, size_t len, const char *path,
							   const CmHbaParseOptions *opts);
extern void cm_hba_free(CmHbaFile *file);

/*
 * Parses text in pg_hba.conf's syntax with opts (the defaults when NULL)
 * into a new store, each line turned into an entry as format says: what
 * cm_hba_parse() does, and cm_ident_parse() with its own format.  The
 * format gets opts as its arg.  Returns the store, or NULL when out of
 * memory; *server_major is the version parsed for.
 */
extern CmConfStore *
cm_hba_parse_format(const char *text, size_t len, const char *path,
					const CmHbaParseOptions *opts, const CmConfFormat *format,
					int *server_major, CmConfParsed *out);

/*
 * A role token of pg_hba.conf, and on 16+ the database-user token of
 * pg_ident.conf: +group, all, /regex (16+), or a name.  Returns NULL, or
 * the error of a bad regular expression.
 */
extern const char *
cm_hba_classify_role(CmConfStore *store, int server_major, CmConfToken *tok);

#endif /* CM_HBA_PARSE_H */
