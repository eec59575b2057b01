/*
 * cm_hba.h
 *		pg_hba.conf read the way the server reads it, and the choice of the
 *		rule that decides a client connection.
 *
 * Pure code: text in, rules or errors out, no server calls and no globals.
 * What only the caller knows (role membership, the host's interfaces, how
 * to read an @file) comes in through callbacks and arrays.  The behaviour
 * follows PostgreSQL 15's src/backend/libpq/hba.c, and 16's where the
 * major version changes it; none of its code is used.
 *
 * Skipped rules.  A rule the proxy cannot honour (local, hostgssenc, the
 * methods gss, sspi, ident, peer, pam, ldap, radius and bsd, a host name
 * that would need DNS) stays in the list with its reason, so the log and
 * the hba_file_rules view show it.  "local" and "hostgssenc" rules never
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
 * Regular expressions.  From PostgreSQL 16 on, a database or role name
 * starting with "/" is a regular expression (quoted or not); on 15 it is
 * part of a literal name.  pg_ident.conf system users starting with "/"
 * are regular expressions on every version.  The server uses its own
 * "advanced" regular expressions; we use POSIX regcomp(REG_EXTENDED) in
 * the C locale after a translation that keeps the meaning: \d \s \w and
 * their negations become bracket expressions, "\<" and the like become
 * the literal they are in an ARE, and constructs whose meaning would
 * differ or that ERE lacks (non-greedy quantifiers, "(?", "***"
 * directors, letter and digit escapes other than \d \s \w \D \S \W and
 * \1 to \9, and \] \- \^ \[ inside brackets) are refused as an invalid
 * regular expression, as are repetition counts above 255 (the server's
 * limit too) and counts that multiply to more than 100000 over a pattern
 * (glibc copies the repeated atom), so the file is rejected, not matched
 * differently.  Remaining differences: we match bytes where the server
 * matches characters of the database encoding (only non-ASCII names can
 * tell), and the error text of a bad pattern is glibc's.
 *
 * Other known differences, all in what makes the server reject a file
 * (the caller then keeps the previous rules, as the server does): NUL
 * bytes are refused; lines, tokens per line, file sizes and include depth
 * are bounded, and so are @file reads (1000; see the limits below; the
 * server bounds only tokens, to 10239 bytes on 15, and nesting, to 10 on
 * 16); RADIUS server names are not resolved and LDAP URLs are read only
 * approximately; on 16+, "include_dir" is refused; db_user_namespace is
 * taken as off.  The build features of the server (which methods it knows)
 * come from CmHbaParseOptions.build.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HBA_H
#define CM_HBA_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Limits.  Exceeding one is an error on the line or file concerned. */
#define CM_HBA_MAX_FILE_SIZE	 (16 * 1024 * 1024) /* one file, bytes */
#define CM_HBA_MAX_INCLUDE_BYTES (64 * 1024 * 1024) /* all @files, bytes */
#define CM_HBA_MAX_LINE_LEN		 65536 /* a line with its continuations */
#define CM_HBA_MAX_LINE_TOKENS	 4096  /* tokens on a line, @files expanded */
#define CM_HBA_MAX_INCLUDE_DEPTH 10	   /* nested @file / include levels */
#define CM_HBA_MAX_PATH			 4096
#define CM_HBA_PG15_MAX_TOKEN	 10239 /* the server's own limit on 15 */

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

/*
 * What a database or role token means.  Keywords count only unquoted, and
 * only in the field where the server knows them: "sameuser" in the role
 * field is a role name, "+x" in the database field a database name.
 */
typedef enum CmHbaTokenKind
{
	CM_HBA_TOKEN_NAME, /* a literal name */
	CM_HBA_TOKEN_ALL,
	CM_HBA_TOKEN_SAMEUSER,
	CM_HBA_TOKEN_SAMEROLE, /* samerole or samegroup */
	CM_HBA_TOKEN_REPLICATION,
	CM_HBA_TOKEN_GROUP, /* +role: members of the role after the '+' */
	CM_HBA_TOKEN_REGEX	/* /regex (16+): the pattern after the '/' */
} CmHbaTokenKind;

typedef struct CmHbaToken
{
	const char *text; /* as written, quotes removed */
	bool quoted;	  /* a quote came before any character */
	CmHbaTokenKind kind;
	const char *include; /* the @file it was read from, or NULL */
	regex_t *regex;		 /* CM_HBA_TOKEN_REGEX only */
} CmHbaToken;

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
	const CmHbaToken *databases;
	int nroles;
	const CmHbaToken *roles;
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

/* A message as the server writes it, and where: errcontext material. */
typedef struct CmHbaError
{
	const char *file;
	int line; /* 0: about the whole file */
	const char *message;
} CmHbaError;

typedef struct CmAuthStore CmAuthStore; /* private: memory and regexes */

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
	CmHbaError *errors;
	CmAuthStore *store;
} CmHbaFile;

/*
 * Reads a whole file for @file and include.  path is already resolved the
 * way the server resolves it (relative to the including file's directory).
 * Returns 0 with a malloc'd buffer that the parser frees, or an errno
 * value (ENOENT for a missing file) that goes into the error message.
 */
typedef int (*CmHbaReadFn)(void *arg, const char *path, char **data,
						   size_t *len);

typedef struct CmHbaParseOptions
{
	int server_major;	   /* 15, 16, ...: what a leading "/" means */
	bool ssl_enabled;	   /* the server's ssl setting (a warning only) */
	unsigned build;		   /* CM_HBA_BUILD_* */
	CmHbaReadFn read_file; /* NULL: every @file fails with ENOENT */
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
 * Shared by hba_parse.c, hba_match.c and ident.c; not for other callers.
 */
typedef struct CmAuthField
{
	int ntokens;
	CmHbaToken *tokens;
} CmAuthField;

/* A line as the tokenizer leaves it: fields of tokens, or an error. */
typedef struct CmAuthLine
{
	const char *file;
	int line;
	const char *raw;
	int nfields;
	CmAuthField *fields;
	const char *error;
} CmAuthLine;

extern CmAuthStore *cm_auth_store_new(void);
extern void cm_auth_store_free(CmAuthStore *store);
extern void *cm_auth_alloc(CmAuthStore *store, size_t size);
extern char *cm_auth_strdup(CmAuthStore *store, const char *s);
extern char *cm_auth_printf(CmAuthStore *store, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern bool cm_auth_out_of_memory(const CmAuthStore *store);
extern void *cm_auth_grow(CmAuthStore *store, void *array, int *cap, int need,
						  size_t elsize);
extern bool
cm_auth_add_error(CmAuthStore *store, CmHbaError **errors, int *n, int *cap,
				  const char *file, int line, const char *message);
extern const CmHbaError cm_auth_oom_error;
extern int cm_auth_tokenize(CmAuthStore *store, const char *text, size_t len,
							const char *path, const CmHbaParseOptions *opts,
							CmAuthLine **lines);
extern const char *
cm_auth_classify_role(CmAuthStore *store, int server_major, CmHbaToken *tok);
extern const char *
cm_auth_regex_compile(CmAuthStore *store, CmHbaToken *tok, bool want_groups);
extern int
cm_auth_regex_exec(const CmAuthStore *store, const regex_t *re,
				   const char *subject, size_t nmatch, regmatch_t *match);
extern int cm_hba_role_token_matches(const CmAuthStore *store,
									 const CmHbaToken *tok, const char *role,
									 CmHbaIsMemberFn is_member, void *arg);

#endif /* CM_HBA_H */
