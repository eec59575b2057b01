/*
 * test_hba.c
 *		Unit tests of the pg_hba.conf parser and matcher (src/pure/conf_*.c,
 *		hba_parse.c, hba_options.c, hba_match.c): tables of files and
 *		connections with the rule the server picks, and malformed files with
 *		the error and line it gives.
 *
 * Included files come from an in-memory table, plus one set read from
 * test/unit/data/hba/ through a reader like the extension's.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_hba_parse.h"
#include "cm_hba_match.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE	0		/* no rule matches */
#define SKIP(n) (-(n))	/* line n matches but is skipped */
#define ERR		(-1000) /* CM_HBA_MATCH_ERROR */
#define MAIN	"/etc/pg/pg_hba.conf"

typedef struct VFile
{
	const char *path;
	const char *text;
} VFile;

static const VFile vfiles[] =
	{{"/etc/pg/dbs", "db1\n\"all\"\n# a comment\ndb2, db3 \\\n  ,db4\n"},
	 {"/etc/pg/users", "+staff\ncarol"},
	 {"/etc/pg/keywords", "all"},
	 {"/etc/pg/empty", "# nothing here\n\n"},
	 {"/etc/pg/sub/a", "@b\n"},
	 {"/etc/pg/sub/b", "nested_db"},
	 {"/etc/other/abs", "abs_db"},
	 {"/etc/pg/loop", "@loop"},
	 {"/etc/pg/bad", "x\n\"" /* fine */ "\n@missing\n"},
	 {"/etc/pg/more.conf", "host all all 10.9.0.0/16 reject\n"},
	 {"/etc/pg/broken.conf", "host all all 10.9.0.0/16 nosuch\n"},
	 {NULL, NULL}};

static int
read_vfile(void *arg, const char *path, char **data, size_t *len)
{
	const VFile *v = arg;

	for (; v->path != NULL; v++)
	{
		if (strcmp(v->path, path) == 0)
		{
			*len = strlen(v->text);
			*data = malloc(*len + 1);
			memcpy(*data, v->text, *len + 1);
			return 0;
		}
	}
	return ENOENT;
}

/* Reads a real file, as the extension's reader does. */
static int
read_disk(void *arg, const char *path, char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long size;

	(void) arg;
	if (f == NULL)
		return errno;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	*data = malloc((size_t) size + 1);
	*len = fread(*data, 1, (size_t) size, f);
	fclose(f);
	return 0;
}

static CmHbaFile *
parse(int major, const char *text)
{
	CmHbaParseOptions opts;

	cm_hba_parse_options_init(&opts);
	opts.server_major = major;
	opts.read_file = read_vfile;
	opts.read_arg = (void *) vfiles;
	return cm_hba_parse(text, strlen(text), MAIN, &opts);
}

/* Roles that exist, and who is directly a member of whom. */
static const char *const roles[] = {"alice", "bob",	 "carol",  "dave",
									"staff", "team", "u1",	   "all",
									"/rx",	 "db1",	 "admins", NULL};
static const char *const grants[][2] = {{"bob", "staff"},
										{"dave", "team"},
										{"team", "staff"},
										{NULL, NULL}};
static int member_calls;

static int
role_exists(const char *name)
{
	for (int i = 0; roles[i] != NULL; i++)
	{
		if (strcmp(roles[i], name) == 0)
			return 1;
	}
	return 0;
}

static int
member_of(const char *role, const char *group, int depth)
{
	if (strcmp(role, group) == 0)
		return 1;
	if (depth > 10)
		return 0;
	for (int i = 0; grants[i][0] != NULL; i++)
	{
		if (strcmp(grants[i][0], role) == 0 &&
			member_of(grants[i][1], group, depth + 1))
			return 1;
	}
	return 0;
}

static int
is_member(void *arg, const char *role, const char *group)
{
	(void) arg;
	member_calls++;
	return role_exists(role) && role_exists(group) && member_of(role, group, 0);
}

static int
is_member_fails(void *arg, const char *role, const char *group)
{
	(void) arg;
	(void) role;
	(void) group;
	return -1;
}

static CmHbaInterface interfaces[4];

static void
set_addr(struct sockaddr_storage *ss, const char *text)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL)
	{
		struct sockaddr_in6 *a = (struct sockaddr_in6 *) ss;

		a->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1)
			abort();
	}
	else
	{
		struct sockaddr_in *a = (struct sockaddr_in *) ss;

		a->sin_family = AF_INET;
		if (inet_pton(AF_INET, text, &a->sin_addr) != 1)
			abort();
	}
}

static void
setup_interfaces(void)
{
	static const char *const spec[][2] = {{"127.0.0.1", "255.0.0.0"},
										  {"10.1.2.3", "255.255.0.0"},
										  {"::1", "ffff:ffff:ffff:ffff:ffff:"
												  "ffff:ffff:ffff"},
										  {"fe80::1", "ffff:ffff:ffff:ffff::"}};

	for (int i = 0; i < 4; i++)
	{
		set_addr(&interfaces[i].addr, spec[i][0]);
		set_addr(&interfaces[i].netmask, spec[i][1]);
	}
}

/* The line of the rule picked, NONE, SKIP(line) or ERR. */
static int
match_full(const CmHbaFile *f, const char *addr, bool ssl, bool repl,
		   const char *db, const char *user, CmHbaIsMemberFn member_fn)
{
	struct sockaddr_storage ss;
	CmHbaConn conn;
	CmHbaMatchContext ctx;
	int idx;
	CmHbaMatchResult r;

	set_addr(&ss, addr);
	conn.addr = (const struct sockaddr *) &ss;
	conn.ssl = ssl;
	conn.physical_replication = repl;
	conn.role = user;
	conn.database = db;
	ctx.is_member = member_fn;
	ctx.is_member_arg = NULL;
	ctx.interfaces = interfaces;
	ctx.ninterfaces = 4;
	r = cm_hba_match(f, &conn, &ctx, &idx);
	switch (r)
	{
		case CM_HBA_MATCH:
			return f->rules[idx].line;
		case CM_HBA_MATCH_SKIPPED:
			return SKIP(f->rules[idx].line);
		case CM_HBA_NO_MATCH:
			return idx == -1 ? NONE : ERR - 1;
		default:
			return ERR;
	}
}

typedef struct MatchCase
{
	const char *name;
	int major;
	const char *hba;
	const char *addr;
	bool ssl;
	const char *db;
	const char *user;
	int want;
} MatchCase;

#define TRUST_ALL "host all all 0.0.0.0/0 trust\n"

static const MatchCase match_cases[] = {
	/* connection types, SSL on and off */
	{"host, plain", 15, TRUST_ALL, "10.0.0.1", false, "d", "alice", 1},
	{"host, ssl", 15, TRUST_ALL, "10.0.0.1", true, "d", "alice", 1},
	{"hostssl, ssl", 15, "hostssl all all 0.0.0.0/0 trust", "10.0.0.1", true,
	 "d", "alice", 1},
	{"hostssl, plain", 15, "hostssl all all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "alice", NONE},
	{"hostnossl, ssl", 15, "hostnossl all all 0.0.0.0/0 trust", "10.0.0.1",
	 true, "d", "alice", NONE},
	{"hostnossl, plain", 15, "hostnossl all all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "alice", 1},
	{"hostgssenc never", 15, "hostgssenc all all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "alice", NONE},
	{"hostgssenc does not stop", 15,
	 "hostgssenc all all 0.0.0.0/0 trust\n" TRUST_ALL, "10.0.0.1", true, "d",
	 "alice", 2},
	{"hostnogssenc, ssl", 15, "hostnogssenc all all 0.0.0.0/0 trust",
	 "10.0.0.1", true, "d", "alice", 1},
	{"hostnogssenc, plain", 15, "hostnogssenc all all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "alice", 1},
	{"local never matches TCP", 15, "local all all trust\n" TRUST_ALL,
	 "10.0.0.1", false, "d", "alice", 2},
	{"first match: ssl", 15,
	 "hostssl all all 0.0.0.0/0 cert\nhost all all 0.0.0.0/0 md5", "10.0.0.1",
	 true, "d", "alice", 1},
	{"first match: plain", 15,
	 "hostssl all all 0.0.0.0/0 cert\nhost all all 0.0.0.0/0 md5", "10.0.0.1",
	 false, "d", "alice", 2},
	{"first match: reject first", 15,
	 "host all alice 0.0.0.0/0 reject\n" TRUST_ALL, "10.0.0.1", false, "d",
	 "alice", 1},
	{"first match: reject other", 15,
	 "host all alice 0.0.0.0/0 reject\n" TRUST_ALL, "10.0.0.1", false, "d",
	 "bob", 2},
	{"no rule", 15, "host all all 10.0.0.0/8 trust", "11.0.0.1", false, "d",
	 "alice", NONE},

	/* database keywords */
	{"db all", 15, TRUST_ALL, "10.0.0.1", false, "anything", "bob", 1},
	{"sameuser yes", 15, "host sameuser all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "bob", "bob", 1},
	{"sameuser no", 15, "host sameuser all 0.0.0.0/0 trust", "10.0.0.1", false,
	 "alice", "bob", NONE},
	{"samerole member", 15, "host samerole all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "staff", "bob", 1},
	{"samerole indirect", 15, "host samerole all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "staff", "dave", 1},
	{"samerole not member", 15, "host samerole all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "staff", "carol", NONE},
	{"samerole own name", 15, "host samerole all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "alice", "alice", 1},
	{"samerole no such role", 15, "host samerole all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "nobody", "nobody", NONE},
	{"samegroup is samerole", 15, "host samegroup all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "staff", "bob", 1},
	{"replication keyword, normal connection", 15,
	 "host replication all 0.0.0.0/0 trust", "10.0.0.1", false, "replication",
	 "bob", NONE},
	{"quoted \"all\" db: named all", 15, "host \"all\" all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "all", "bob", 1},
	{"quoted \"all\" db: others", 15, "host \"all\" all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "bob", NONE},
	{"quoted sameuser is a name", 15, "host \"sameuser\" all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "bob", "bob", NONE},
	{"quoted replication is a name", 15,
	 "host \"replication\" all 0.0.0.0/0 trust", "10.0.0.1", false,
	 "replication", "bob", 1},
	{"a\"ll\" is the keyword", 15, "host a\"ll\" all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "zzz", "bob", 1},
	{"keyword in a list", 15, "host db1,all all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "zzz", "bob", 1},
	{"sameuser in a list", 15, "host db1,sameuser all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "bob", "bob", 1},
	{"db list", 15, "host d1,d2 all 0.0.0.0/0 trust", "10.0.0.1", false, "d2",
	 "bob", 1},
	{"db list with space", 15, "host d1, d2 all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d2", "bob", 1},
	{"quoted comma is one name", 15, "host \"d1,d2\" all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d1,d2", "bob", 1},
	{"quoted comma: not d1", 15, "host \"d1,d2\" all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d1", "bob", NONE},
	{"space before comma ends the field", 15, "host d1 ,bob 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d1", "bob", 1},
	{"quoted space", 15, "host \"my db\" all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "my db", "bob", 1},
	{"quote escape", 15, "host \"a\"\"b\" all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "a\"b", "bob", 1},
	{"quoted #", 15, "host \"#x\" all 0.0.0.0/0 trust # real comment",
	 "10.0.0.1", false, "#x", "bob", 1},
	{"lone @ is a name", 15, "host @ all 0.0.0.0/0 trust", "10.0.0.1", false,
	 "@", "bob", 1},
	{"quoted @file is a name", 15, "host \"@dbs\" all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "@dbs", "bob", 1},

	/* role keywords */
	{"role all", 15, TRUST_ALL, "10.0.0.1", false, "d", "whoever", 1},
	{"quoted \"all\" role: named all", 15, "host all \"all\" 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "all", 1},
	{"quoted \"all\" role: others", 15, "host all \"all\" 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "bob", NONE},
	{"+group member", 15, "host all +staff 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "bob", 1},
	{"+group indirect", 15, "host all +staff 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "dave", 1},
	{"+group not member", 15, "host all +staff 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "carol", NONE},
	{"+role itself", 15, "host all +u1 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "u1", 1},
	{"+group missing group", 15, "host all +nogroup 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "bob", NONE},
	{"quoted +staff is a name", 15, "host all \"+staff\" 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "bob", NONE},
	{"quoted +staff: role named +staff", 15,
	 "host all \"+staff\" 0.0.0.0/0 trust", "10.0.0.1", false, "d", "+staff", 1},
	{"samerole in role field is a name", 15, "host all samerole 0.0.0.0/0 trust",
	 "10.0.0.1", false, "staff", "bob", NONE},
	{"role list", 15, "host all alice,bob 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "bob", 1},

	/* a leading slash: literal on 15, a regular expression on 16 */
	{"15: /rx literal", 15, "host all /rx 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "/rx", 1},
	{"15: /rx not a regex", 15, "host all /rx 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "rx", NONE},
	{"15: /^a literal", 15, "host all /^a 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "alice", NONE},
	{"16: /^a regex", 16, "host all /^a 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "alice", 1},
	{"16: /^a regex no", 16, "host all /^a 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "bob", NONE},
	{"16: regex unanchored", 16, "host all /li 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "alice", 1},
	{"16: quoted regex still regex", 16, "host all \"/^b\" 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "bob", 1},
	{"16: db regex \\d", 16, "host /^test_\\d+$ all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "test_12", "bob", 1},
	{"16: db regex \\d no", 16, "host /^test_\\d+$ all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "test_x", "bob", NONE},
	{"15: db regex literal", 15, "host /^test_\\d+$ all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "test_12", "bob", NONE},
	{"16: bracket \\d", 16, "host all /^x[\\d_]+$ 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "x1_2", 1},
	{"16: escaped dot", 16, "host all /^a\\.b$ 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "axb", NONE},
	{"16: escaped <", 16, "host all /^a\\<$ 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "a<", 1},
	{"16: \\w class", 16, "host all /^\\w+$ 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "a-b", NONE},
	{"16: alternation", 16, "host all /^(alice|carol)$ 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "carol", 1},
	{"16: bound", 16, "host all /^a{2}$ 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "aa", 1},
	{"16: bound range, quoted for the comma", 16,
	 "host all \"/^a{2,3}$\" 0.0.0.0/0 trust", "10.0.0.1", false, "d", "aaaa",
	 NONE},
	{"16: brace without digit is literal", 16,
	 "host all /^x{$ 0.0.0.0/0 trust", "10.0.0.1", false, "d", "x{", 1},
	{"16: many + in a row of atoms", 16,
	 "host all /^a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p+q+r+s+t$ 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d", "aabcdefghijklmnopqrst", 1},
	{"16: group repeated", 16, "host all /^(ab)+$ 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "ababab", 1},
	{"16: +group and all still keywords", 16,
	 "host all +staff 0.0.0.0/0 trust", "10.0.0.1", false, "d", "bob", 1},

	/* addresses */
	{"CIDR in", 15, "host all all 192.168.1.0/24 trust", "192.168.1.77", false,
	 "d", "bob", 1},
	{"CIDR out", 15, "host all all 192.168.1.0/24 trust", "192.168.2.1", false,
	 "d", "bob", NONE},
	{"CIDR host bits ignored", 15, "host all all 192.168.1.77/24 trust",
	 "192.168.1.5", false, "d", "bob", 1},
	{"/32", 15, "host all all 10.0.0.1/32 trust", "10.0.0.1", false, "d",
	 "bob", 1},
	{"/32 other", 15, "host all all 10.0.0.1/32 trust", "10.0.0.2", false, "d",
	 "bob", NONE},
	{"/0 not IPv6", 15, TRUST_ALL, "::1", false, "d", "bob", NONE},
	{"netmask field", 15, "host all all 10.0.0.0 255.0.0.0 trust",
	 "10.200.0.1", false, "d", "bob", 1},
	{"non-contiguous mask in", 15, "host all all 127.0.0.1 255.0.255.0 trust",
	 "127.5.0.9", false, "d", "bob", 1},
	{"non-contiguous mask out", 15, "host all all 127.0.0.1 255.0.255.0 trust",
	 "127.0.1.1", false, "d", "bob", NONE},
	{"short IPv4 form", 15, "host all all 127.1/32 trust", "127.0.0.1", false,
	 "d", "bob", 1},
	{"quoted address", 15, "host all all \"10.0.0.0/8\" trust", "10.1.1.1",
	 false, "d", "bob", 1},
	{"IPv6 /128", 15, "host all all ::1/128 trust", "::1", false, "d", "bob", 1},
	{"IPv6 prefix in", 15, "host all all 2001:db8::/32 trust", "2001:db8:1::5",
	 false, "d", "bob", 1},
	{"IPv6 prefix out", 15, "host all all 2001:db8::/32 trust", "2001:db9::1",
	 false, "d", "bob", NONE},
	{"IPv6 netmask field", 15, "host all all 2001:db8:: ffff:ffff:: trust",
	 "2001:db8:ab::1", false, "d", "bob", 1},
	{"IPv6 /0 not IPv4", 15, "host all all ::/0 trust", "10.0.0.1", false, "d",
	 "bob", NONE},
	{"mapped rule, IPv4 client", 15, "host all all ::ffff:127.0.0.1/128 trust",
	 "127.0.0.1", false, "d", "bob", NONE},
	{"mapped rule, mapped client", 15, "host all all ::ffff:127.0.0.1/128 trust",
	 "::ffff:127.0.0.1", false, "d", "bob", NONE},
	{"IPv4 rule, mapped client", 15, "host all all 10.0.0.0/8 trust",
	 "::ffff:10.1.1.1", false, "d", "bob", 1},
	{"IPv4 rule, mapped client out", 15, "host all all 10.0.0.0/8 trust",
	 "::ffff:11.1.1.1", false, "d", "bob", NONE},
	{"samehost loopback", 15, "host all all samehost trust", "127.0.0.1",
	 false, "d", "bob", 1},
	{"samehost other loopback", 15, "host all all samehost trust", "127.0.0.2",
	 false, "d", "bob", NONE},
	{"samehost interface", 15, "host all all samehost trust", "10.1.2.3",
	 false, "d", "bob", 1},
	{"samehost neighbour", 15, "host all all samehost trust", "10.1.9.9",
	 false, "d", "bob", NONE},
	{"samehost ::1", 15, "host all all samehost trust", "::1", false, "d",
	 "bob", 1},
	{"samenet neighbour", 15, "host all all samenet trust", "10.1.9.9", false,
	 "d", "bob", 1},
	{"samenet 127/8", 15, "host all all samenet trust", "127.9.9.9", false,
	 "d", "bob", 1},
	{"samenet outside", 15, "host all all samenet trust", "10.2.0.1", false,
	 "d", "bob", NONE},
	{"samenet IPv6", 15, "host all all samenet trust", "fe80::99", false, "d",
	 "bob", 1},
	{"samenet IPv6 outside", 15, "host all all samenet trust", "fe81::1",
	 false, "d", "bob", NONE},

	/* rules the proxy cannot honour */
	{"ldap stops the search", 15,
	 "host all all 0.0.0.0/0 ldap ldapbasedn=dc=x\n" TRUST_ALL, "10.0.0.1",
	 false, "d", "bob", SKIP(1)},
	{"pam for alice only", 15, "host all alice 0.0.0.0/0 pam\n" TRUST_ALL,
	 "10.0.0.1", false, "d", "alice", SKIP(1)},
	{"pam rule, other role", 15, "host all alice 0.0.0.0/0 pam\n" TRUST_ALL,
	 "10.0.0.1", false, "d", "bob", 2},
	{"gss", 15, "host all all 10.0.0.0/8 gss\n" TRUST_ALL, "10.0.0.1", false,
	 "d", "bob", SKIP(1)},
	{"gss other address", 15, "host all all 10.0.0.0/8 gss\n" TRUST_ALL,
	 "11.0.0.1", false, "d", "bob", 2},
	{"ident", 15, "host all all 0.0.0.0/0 ident map=m\n" TRUST_ALL, "10.0.0.1",
	 false, "d", "bob", SKIP(1)},
	{"radius", 15,
	 "host all all 0.0.0.0/0 radius radiusservers=r radiussecrets=s\n"
	 "host all all 0.0.0.0/0 trust\n",
	 "10.0.0.1", false, "d", "bob", SKIP(1)},
	{"host name stops when db and role match", 15,
	 "host all all db.example.com md5\n" TRUST_ALL, "10.0.0.1", false, "d",
	 "bob", SKIP(1)},
	{"host name, other db", 15, "host app all .example.com md5\n" TRUST_ALL,
	 "10.0.0.1", false, "d", "bob", 2},
	{"quoted all address is a host name", 15,
	 "host all all \"all\" md5\n" TRUST_ALL, "10.0.0.1", false, "d", "bob",
	 SKIP(1)},
	{"hostssl pam, plain client passes on", 15,
	 "hostssl all all 0.0.0.0/0 pam\n" TRUST_ALL, "10.0.0.1", false, "d",
	 "bob", 2},

	/* line continuation and comments */
	{"continuation", 15, "host all all \\\n   0.0.0.0/0 trust\n", "10.0.0.1",
	 false, "d", "bob", 1},
	{"continuation line numbers", 15,
	 "# c\nhost all \\\nalice \\\n0.0.0.0/0 trust\n" TRUST_ALL, "10.0.0.1",
	 false, "d", "bob", 5},
	{"continuation before CRLF", 15, "host all all \\\r\n0.0.0.0/0 trust\r\n",
	 "10.0.0.1", false, "d", "bob", 1},
	{"comment continues", 15,
	 "host all all 0.0.0.0/0 trust # note \\\nhost all all\n", "10.0.0.1",
	 false, "d", "bob", 1},
	{"continued inside quotes", 15, "host \"my \\\ndb\" all 0.0.0.0/0 trust\n",
	 "10.0.0.1", false, "my db", "bob", 1},
	{"tab separated, CR as blank", 15, "host\tall\rall\t0.0.0.0/0\ttrust\r",
	 "10.0.0.1", false, "d", "bob", 1},

	/* @file inclusion */
	{"@file db", 15, "host @dbs all 0.0.0.0/0 trust", "10.0.0.1", false, "db3",
	 "bob", 1},
	{"@file continued list", 15, "host @dbs all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "db4", "bob", 1},
	{"@file quoted all is a name", 15, "host @dbs all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "zzz", "bob", NONE},
	{"@file quoted all: db named all", 15, "host @dbs all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "all", "bob", 1},
	{"@file keyword stays a keyword", 15, "host @keywords all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "zzz", "bob", 1},
	{"@file +group", 15, "host all @users 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "dave", 1},
	{"@file name", 15, "host all @users 0.0.0.0/0 trust", "10.0.0.1", false,
	 "d", "carol", 1},
	{"@file not listed", 15, "host all @users 0.0.0.0/0 trust", "10.0.0.1",
	 false, "d", "alice", NONE},
	{"@file in a list", 15, "host x,@dbs,y all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "db2", "bob", 1},
	{"empty @file in a list", 15, "host d1,@empty all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "d1", "bob", 1},
	{"nested @file, relative to its file", 15, "host @sub/a all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "nested_db", "bob", 1},
	{"absolute @file", 15, "host @/etc/other/abs all 0.0.0.0/0 trust",
	 "10.0.0.1", false, "abs_db", "bob", 1},
	{"@\"quoted name\"", 15, "host @\"dbs\" all 0.0.0.0/0 trust", "10.0.0.1",
	 false, "db1", "bob", 1},
	{"16: include directive", 16,
	 "include more.conf\nhost all all 0.0.0.0/0 trust", "10.9.1.1", false, "d",
	 "bob", 1},
	{"16: include_if_exists missing", 16,
	 "include_if_exists nothere.conf\nhost all all 0.0.0.0/0 trust",
	 "10.9.1.1", false, "d", "bob", 2},
};

static void
test_match_table(void)
{
	setup_interfaces();
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++)
	{
		const MatchCase *c = &match_cases[i];
		CmHbaFile *f = parse(c->major, c->hba);

		if (!is_int(f->nerrors, 0, "%s: parses", c->name))
			printf("#   error: %s (line %d)\n", f->errors[0].message,
				   f->errors[0].line);
		is_int(match_full(f, c->addr, c->ssl, false, c->db, c->user, is_member),
			   c->want, "%s: %s %s %s@%s", c->name, c->addr,
			   c->ssl ? "ssl" : "plain", c->user, c->db);
		cm_hba_free(f);
	}
}

static void
test_replication(void)
{
	CmHbaFile *f = parse(15, "host all all 0.0.0.0/0 reject\n"
							 "host replication all 0.0.0.0/0 trust\n");

	is_int(match_full(f, "10.0.0.1", false, true, "replication", "bob",
					  is_member),
		   2, "physical replication skips \"all\", takes \"replication\"");
	is_int(match_full(f, "10.0.0.1", false, false, "replication", "bob",
					  is_member),
		   1, "a database named replication is matched by all");
	cm_hba_free(f);
	f = parse(15, "host \"replication\" all 0.0.0.0/0 trust\n");
	is_int(match_full(f, "10.0.0.1", false, true, "replication", "bob",
					  is_member),
		   NONE, "quoted replication does not admit physical replication");
	cm_hba_free(f);
}

static void
test_membership_calls(void)
{
	CmHbaFile *f = parse(15, "host all +staff 10.0.0.0/8 trust\n"
							 "host samerole all 0.0.0.0/0 trust\n");

	member_calls = 0;
	is_int(match_full(f, "11.0.0.1", false, false, "d", "bob", is_member),
		   NONE, "address mismatch first");
	is_int(member_calls, 1,
		   "is_member not asked for a rule whose address "
		   "fails (only samerole of line 2 asked)");
	is_int(match_full(f, "10.0.0.1", false, false, "d", "bob", is_member_fails),
		   ERR, "a failing is_member is an error");
	is_int(match_full(f, "10.0.0.1", false, false, "d", "bob", NULL), ERR,
		   "no is_member callback is an error when one is needed");
	cm_hba_free(f);
	f = parse(15, "host all all 0.0.0.0/0 trust\n");
	is_int(match_full(f, "10.0.0.1", false, false, "d", "bob", NULL), 1,
		   "no is_member callback needed without +group or samerole");
	cm_hba_free(f);
}

static void
test_rule_fields(void)
{
	CmHbaFile *f =
		parse(15, "hostssl app,\"all\" +staff,bob 10.1.0.0/16 cert map=certs "
				  "clientname=DN\n"
				  "host @dbs all 10.0.0.0 255.0.0.0 scram-sha-256 # c\n"
				  "local all all ident\n"
				  "host all all db.example.com md5\n"
				  "hostgssenc all all all gss include_realm=0 krb_realm=X\n"
				  "hostssl all all ::1/128 md5 clientcert=verify-ca\n");
	const CmHbaRule *r;

	is_int(f->nerrors, 0, "rule fields: parses");
	is_int(f->nrules, 6, "rule fields: six rules");
	if (f->nrules != 6)
	{
		cm_hba_free(f);
		return;
	}
	r = &f->rules[0];
	is_int(r->line, 1, "line number");
	is_int(r->conn_type, CM_HBA_CONN_HOSTSSL, "hostssl");
	is_int(r->ndatabases, 2, "two databases");
	is_int(r->databases[0].kind, CM_CONF_TOKEN_NAME, "app is a name");
	is_int(r->databases[1].kind, CM_CONF_TOKEN_NAME, "quoted all is a name");
	ok(r->databases[1].quoted, "quoted all keeps quoted");
	is_str(r->databases[1].text, "all", "quoted all text");
	is_int(r->roles[0].kind, CM_CONF_TOKEN_GROUP, "+staff is a group");
	is_str(r->roles[0].text, "+staff", "group text as written");
	is_int(r->addr_kind, CM_HBA_ADDR_MASK, "CIDR address");
	is_str(r->address, "10.1.0.0/16", "address text");
	is_int(r->method, CM_HBA_METHOD_CERT, "cert");
	is_int(r->clientcert, CM_HBA_CLIENTCERT_VERIFY_FULL,
		   "cert implies verify-full");
	is_int(r->clientname, CM_HBA_CLIENTNAME_DN, "clientname=DN");
	is_str(r->map, "certs", "map=");
	is_int(r->noptions, 2, "two options kept");
	is_str(r->options[1].name, "clientname", "option name");
	is_str(r->options[1].value, "DN", "option value");
	is_int(r->skip, CM_HBA_SKIP_NONE, "cert is honoured");
	ok(cm_hba_skip_reason(r) == NULL, "no skip reason");
	is_str(r->raw_line,
		   "hostssl app,\"all\" +staff,bob 10.1.0.0/16 cert map=certs "
		   "clientname=DN",
		   "raw line");

	r = &f->rules[1];
	is_int(r->ndatabases, 5, "@dbs expands to five names");
	is_str(r->databases[0].include, "/etc/pg/dbs", "token remembers @file");
	ok(r->databases[0].include != NULL && r->databases[4].include != NULL,
	   "every expanded token has its @file");
	is_str(r->netmask, "255.0.0.0", "netmask text");
	is_int(r->method, CM_HBA_METHOD_SCRAM, "scram-sha-256");
	is_int(r->clientcert, CM_HBA_CLIENTCERT_NONE, "no clientcert");

	r = &f->rules[2];
	is_int(r->conn_type, CM_HBA_CONN_LOCAL, "local");
	is_int(r->method, CM_HBA_METHOD_PEER, "ident on local becomes peer");
	is_int(r->addr_kind, CM_HBA_ADDR_NONE, "local has no address");
	is_int(r->skip, CM_HBA_SKIP_LOCAL, "local is skipped");
	ok(cm_hba_skip_reason(r) != NULL, "local has a reason");

	r = &f->rules[3];
	is_int(r->addr_kind, CM_HBA_ADDR_HOSTNAME, "host name");
	is_str(r->hostname, "db.example.com", "host name text");
	is_int(r->skip, CM_HBA_SKIP_HOSTNAME, "host name is skipped");
	ok(strstr(cm_hba_skip_reason(r), "DNS") != NULL, "reason names DNS");

	r = &f->rules[4];
	is_int(r->conn_type, CM_HBA_CONN_HOSTGSSENC, "hostgssenc");
	is_int(r->skip, CM_HBA_SKIP_HOSTGSSENC, "hostgssenc is skipped");
	is_int(r->method, CM_HBA_METHOD_GSS, "gss");

	r = &f->rules[5];
	is_int(r->clientcert, CM_HBA_CLIENTCERT_VERIFY_CA, "verify-ca");
	is_int(r->mask.ss_family, AF_INET6, "IPv6 mask");
	cm_hba_free(f);
}

static void
test_methods(void)
{
	static const struct
	{
		const char *line;
		CmHbaMethod method;
		CmHbaSkip skip;
		const char *reason_has;
	} cases[] = {
		{"host all all all trust", CM_HBA_METHOD_TRUST, CM_HBA_SKIP_NONE, NULL},
		{"host all all all reject", CM_HBA_METHOD_REJECT, CM_HBA_SKIP_NONE, NULL},
		{"host all all all md5", CM_HBA_METHOD_MD5, CM_HBA_SKIP_NONE, NULL},
		{"host all all all password", CM_HBA_METHOD_PASSWORD, CM_HBA_SKIP_NONE,
		 NULL},
		{"host all all all scram-sha-256", CM_HBA_METHOD_SCRAM,
		 CM_HBA_SKIP_NONE, NULL},
		{"hostssl all all all cert", CM_HBA_METHOD_CERT, CM_HBA_SKIP_NONE, NULL},
		{"host all all all gss", CM_HBA_METHOD_GSS, CM_HBA_SKIP_METHOD,
		 "\"gss\""},
		{"host all all all ident", CM_HBA_METHOD_IDENT, CM_HBA_SKIP_METHOD,
		 "\"ident\""},
		{"local all all peer", CM_HBA_METHOD_PEER, CM_HBA_SKIP_LOCAL, "local"},
		{"host all all all pam pamservice=x", CM_HBA_METHOD_PAM,
		 CM_HBA_SKIP_METHOD, "\"pam\""},
		{"host all all all ldap ldapserver=h ldapprefix=cn=", CM_HBA_METHOD_LDAP,
		 CM_HBA_SKIP_METHOD, "\"ldap\""},
		{"host all all all ldap ldapurl=ldap://h/dc=x?uid?sub",
		 CM_HBA_METHOD_LDAP, CM_HBA_SKIP_METHOD, "\"ldap\""},
		{"host all all all radius radiusservers=\"a,b\" radiussecrets=s "
		 "radiusports=\"1812,1813\"",
		 CM_HBA_METHOD_RADIUS, CM_HBA_SKIP_METHOD, "\"radius\""},
		{"\"host\" \"all\" all \"0.0.0.0/0\" \"trust\"", CM_HBA_METHOD_TRUST,
		 CM_HBA_SKIP_NONE, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		CmHbaFile *f = parse(15, cases[i].line);

		if (!is_int(f->nerrors, 0, "method: %s parses", cases[i].line))
		{
			printf("#   error: %s\n", f->errors[0].message);
			cm_hba_free(f);
			continue;
		}
		is_int(f->rules[0].method, cases[i].method, "method: %s", cases[i].line);
		is_int(f->rules[0].skip, cases[i].skip, "skip: %s", cases[i].line);
		if (cases[i].reason_has != NULL)
			ok(strstr(cm_hba_skip_reason(&f->rules[0]), cases[i].reason_has) !=
				   NULL,
			   "reason: %s", cases[i].line);
		cm_hba_free(f);
	}
}

typedef struct ErrorCase
{
	const char *name;
	int major;
	const char *hba;
	int line;
	const char *message; /* exact, or a prefix when it ends in '*' */
} ErrorCase;

static const ErrorCase error_cases[] = {
	{"missing database", 15, "host", 1,
	 "end-of-line before database specification"},
	{"missing role", 15, "host all", 1, "end-of-line before role specification"},
	{"missing address", 15, "host all all", 1,
	 "end-of-line before IP address specification"},
	{"missing method", 15, "host all all 10.0.0.0/8", 1,
	 "end-of-line before authentication method"},
	{"missing local method", 15, "local all all", 1,
	 "end-of-line before authentication method"},
	{"missing netmask", 15, "host all all 10.0.0.1", 1,
	 "end-of-line before netmask specification"},
	{"method read as netmask", 15, "host all all 10.0.0.1 trust", 1,
	 "invalid IP mask \"trust\": *"},
	{"CIDR too long", 15, "host all all 10.0.0.0/33 trust", 1,
	 "invalid CIDR mask in address \"10.0.0.0/33\""},
	{"CIDR not a number", 15, "host all all 10.0.0.0/ab trust", 1,
	 "invalid CIDR mask in address \"10.0.0.0/ab\""},
	{"CIDR empty", 15, "host all all 10.0.0.0/ trust", 1,
	 "invalid CIDR mask in address \"10.0.0.0/\""},
	{"CIDR negative", 15, "host all all 10.0.0.0/-1 trust", 1,
	 "invalid CIDR mask in address \"10.0.0.0/-1\""},
	{"IPv6 CIDR too long", 15, "host all all ::/129 trust", 1,
	 "invalid CIDR mask in address \"::/129\""},
	{"mask of the other family", 15, "host all all 10.0.0.0 ffff:: trust", 1,
	 "IP address and mask do not match"},
	{"two netmasks", 15, "host all all 10.0.0.0 255.0.0.0,255.0.0.0 trust", 1,
	 "multiple values specified for netmask"},
	{"host name with CIDR", 15, "host all all db.example.com/24 trust", 1,
	 "specifying both host name and CIDR mask is invalid: "
	 "\"db.example.com/24\""},
	{"unknown method", 15, "host all all 10.0.0.0/8 nosuch", 1,
	 "invalid authentication method \"nosuch\""},
	{"two methods", 15, "host all all 10.0.0.0/8 trust,md5", 1,
	 "multiple values specified for authentication type"},
	{"sspi not in this build", 15, "host all all 10.0.0.0/8 sspi", 1,
	 "invalid authentication method \"sspi\": not supported by this build"},
	{"bsd not in this build", 15, "host all all 10.0.0.0/8 bsd", 1,
	 "invalid authentication method \"bsd\": not supported by this build"},
	{"two connection types", 15, "host,local all all 10.0.0.0/8 trust", 1,
	 "multiple values specified for connection type"},
	{"unknown connection type", 15, "hots all all 10.0.0.0/8 trust", 1,
	 "invalid connection type \"hots\""},
	{"include is not a type on 15", 15, "include more.conf", 1,
	 "invalid connection type \"include\""},
	{"two addresses", 15, "host all all 10.0.0.0/8,10.1.0.0/16 trust", 1,
	 "multiple values specified for host address"},
	{"option without =", 15, "host all all 10.0.0.0/8 trust foo", 1,
	 "authentication option not in name=value format: foo"},
	{"unknown option", 15, "host all all 10.0.0.0/8 trust bar=1", 1,
	 "unrecognized authentication option name: \"bar\""},
	{"backslash then space", 15, "host all all 10.0.0.0/8 trust \\ \n", 1,
	 "authentication option not in name=value format: \\"},
	{"clientcert on host", 15,
	 "host all all 10.0.0.0/8 md5 clientcert=verify-full", 1,
	 "clientcert can only be configured for \"hostssl\" rows"},
	{"clientcert bad value", 15, "hostssl all all 10.0.0.0/8 md5 clientcert=1",
	 1, "invalid value for clientcert: \"1\""},
	{"cert with verify-ca", 15,
	 "hostssl all all 10.0.0.0/8 cert clientcert=verify-ca", 1,
	 "clientcert only accepts \"verify-full\" when using \"cert\" "
	 "authentication"},
	{"clientname on host", 15, "host all all 10.0.0.0/8 md5 clientname=CN", 1,
	 "clientname can only be configured for \"hostssl\" rows"},
	{"clientname bad value", 15, "hostssl all all 10.0.0.0/8 cert clientname=cn",
	 1, "invalid value for clientname: \"cn\""},
	{"cert on host", 15, "host all all 10.0.0.0/8 cert", 1,
	 "cert authentication is only supported on hostssl connections"},
	{"peer on host", 15, "host all all 10.0.0.0/8 peer", 1,
	 "peer authentication is only supported on local sockets"},
	{"gss on local", 15, "local all all gss", 1,
	 "gssapi authentication is not supported on local sockets"},
	{"map on md5", 15, "host all all 10.0.0.0/8 md5 map=x", 1,
	 "authentication option \"map\" is only valid for authentication methods "
	 "ident, peer, gssapi, sspi, and cert"},
	{"ldap option on md5", 15, "host all all 10.0.0.0/8 md5 ldapserver=x", 1,
	 "authentication option \"ldapserver\" is only valid for authentication "
	 "methods ldap"},
	{"ldap without base", 15, "host all all 10.0.0.0/8 ldap ldapserver=h", 1,
	 "authentication method \"ldap\" requires argument \"ldapbasedn\", "
	 "\"ldapprefix\", or \"ldapsuffix\" to be set"},
	{"ldap prefix and base", 15,
	 "host all all 10.0.0.0/8 ldap ldapprefix=a ldapbasedn=b", 1,
	 "cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, "
	 "ldapsearchattribute, ldapsearchfilter, or ldapurl together with "
	 "ldapprefix"},
	{"ldap attribute and filter", 15,
	 "host all all 10.0.0.0/8 ldap ldapbasedn=b ldapsearchattribute=uid "
	 "ldapsearchfilter=(x)",
	 1, "cannot use ldapsearchattribute together with ldapsearchfilter"},
	{"ldap bad port", 15,
	 "host all all 10.0.0.0/8 ldap ldapbasedn=b ldapport=abc", 1,
	 "invalid LDAP port number: \"abc\""},
	{"ldap bad url", 15, "host all all 10.0.0.0/8 ldap ldapurl=http//x", 1,
	 "could not parse LDAP URL \"http//x\""},
	{"pam option on md5", 15, "host all all 10.0.0.0/8 md5 pamservice=x", 1,
	 "authentication option \"pamservice\" is only valid for authentication "
	 "methods pam"},
	{"radius without servers", 15,
	 "host all all 10.0.0.0/8 radius radiussecrets=s", 1,
	 "authentication method \"radius\" requires argument \"radiusservers\" to "
	 "be set"},
	{"radius without secrets", 15,
	 "host all all 10.0.0.0/8 radius radiusservers=a", 1,
	 "authentication method \"radius\" requires argument \"radiussecrets\" to "
	 "be set"},
	{"radius secret count", 15,
	 "host all all 10.0.0.0/8 radius radiusservers=\"a,b\" "
	 "radiussecrets=\"x,y,z\"",
	 1,
	 "the number of RADIUS secrets (3) must be 1 or the same as the number "
	 "of RADIUS servers (2)"},
	{"radius bad list", 15,
	 "host all all 10.0.0.0/8 radius radiusservers=\"\"\"a\" radiussecrets=s",
	 1, "could not parse RADIUS server list \"\"a\""},
	{"radius bad port", 15,
	 "host all all 10.0.0.0/8 radius radiusservers=a radiussecrets=s "
	 "radiusports=x",
	 1, "invalid RADIUS port number: \"x\""},
	{"krb_realm on md5", 15, "host all all 10.0.0.0/8 md5 krb_realm=X", 1,
	 "authentication option \"krb_realm\" is only valid for authentication "
	 "methods gssapi and sspi"},
	{"error on line 3", 15, TRUST_ALL "# c\nhost all all 10.0.0.0/8 nosuch\n",
	 3, "invalid authentication method \"nosuch\""},
	{"double backslash, then an empty line", 15,
	 "host d\\\\\n\nhost all all 0.0.0.0/0 trust\n", 1,
	 "end-of-line before role specification"},
	{"error after continuation", 15,
	 "host all all \\\n 0.0.0.0/0 trust\nhost all\n", 3,
	 "end-of-line before role specification"},
	{"empty file", 15, "", 0,
	 "configuration file \"/etc/pg/pg_hba.conf\" contains no entries"},
	{"comments only", 15, "# nothing\n   \n\t# more\n", 0,
	 "configuration file \"/etc/pg/pg_hba.conf\" contains no entries"},
	{"missing @file", 15, TRUST_ALL "host @nofile all 0.0.0.0/0 trust", 2,
	 "could not open secondary authentication file \"@nofile\" as "
	 "\"/etc/pg/nofile\": No such file or directory"},
	{"16: missing @file", 16, "host @nofile all 0.0.0.0/0 trust", 1,
	 "could not open file \"/etc/pg/nofile\": No such file or directory"},
	{"@file including itself", 15, "host @loop all 0.0.0.0/0 trust", 1,
	 "could not open file \"/etc/pg/loop\": maximum nesting depth exceeded"},
	{"error inside an @file", 15, TRUST_ALL "host @bad all 0.0.0.0/0 trust", 2,
	 "could not open secondary authentication file \"@missing\" as*"},
	{"only an empty @file shifts fields", 15, "host @empty all 10.0.0.0/8 trust",
	 1, "end-of-line before authentication method"},
	{"NUL byte", 15, NULL, 2, "line contains a NUL byte"},
	{"16: bad regex", 16, "host all /( 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"(\": *"},
	{"16: non-greedy refused", 16, "host all /a*?b 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"a*?b\": non-greedy quantifiers are not "
	 "supported by the connection manager"},
	{"16: (? refused", 16, "host all /(?i)abc 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"(?i)abc\": *"},
	{"16: \\b refused", 16, "host all /\\bfoo 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"\\bfoo\": escapes other than*"},
	{"16: bound above 255", 16, "host all /^a{256}$ 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"^a{256}$\": invalid repetition count(s)"},
	{"16: non-greedy bound", 16, "host all /^a{2}?$ 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"^a{2}?$\": non-greedy*"},
	{"16: nested bounds too large", 16,
	 "host all /((a{100}){100}){100} 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"((a{100}){100}){100}\": repetition counts "
	 "are too large for the connection manager"},
	{"16: stacked quantifiers", 16, "host all /^a++$ 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"^a++$\": quantifier operand invalid"},
	{"16: quantifier after an anchor", 16, "host all /^*a 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"^*a\": quantifier operand invalid"},
	{"16: nested + too large", 16,
	 "host all "
	 "/((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+ "
	 "0.0.0.0/0 trust",
	 1, "invalid regular expression *"},
	{"16: bad db regex", 16, "host /[ all 0.0.0.0/0 trust", 1,
	 "invalid regular expression \"[\": *"},
	{"16: include missing", 16, "include nothere.conf", 1,
	 "could not open file \"/etc/pg/nothere.conf\": No such file or "
	 "directory"},
	{"16: include_dir refused", 16, "include_dir conf.d", 1,
	 "\"include_dir\" is not supported by the connection manager: "
	 "\"conf.d\""},
};

static void
check_error(const CmHbaFile *f, const ErrorCase *c)
{
	size_t n = strlen(c->message);

	if (!ok(f->nerrors >= 1, "%s: rejected", c->name))
		return;
	is_int(f->errors[0].line, c->line, "%s: line %d", c->name, c->line);
	if (c->message[n - 1] == '*')
	{
		if (!ok(strncmp(f->errors[0].message, c->message, n - 1) == 0,
				"%s: message", c->name))
			printf("#   got: %s\n", f->errors[0].message);
	}
	else
		is_str(f->errors[0].message, c->message, "%s: message", c->name);
}

static void
test_errors(void)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
	{
		const ErrorCase *c = &error_cases[i];
		CmHbaFile *f;

		if (c->hba == NULL)
		{
			/* a NUL byte cannot sit in a C string literal's table entry */
			static const char text[] = TRUST_ALL "host all\0all 0/0 trust\n";
			CmHbaParseOptions opts;

			cm_hba_parse_options_init(&opts);
			f = cm_hba_parse(text, sizeof(text) - 1, MAIN, &opts);
		}
		else
			f = parse(c->major, c->hba);
		check_error(f, c);
		is_int(match_full(f, "10.0.0.1", false, false, "d", "bob", is_member),
			   ERR, "%s: a file with errors decides nothing", c->name);
		cm_hba_free(f);
	}
}

/* Text made of head, count copies of unit, and tail; malloc'd. */
static char *
repeat(const char *head, const char *unit, int count, const char *tail)
{
	size_t len = strlen(head) + strlen(unit) * (size_t) count + strlen(tail);
	char *text = malloc(len + 1);
	char *p = text;

	p += sprintf(p, "%s", head);
	for (int i = 0; i < count; i++)
		p += sprintf(p, "%s", unit);
	sprintf(p, "%s", tail);
	return text;
}

static void
test_whole_file_semantics(void)
{
	CmHbaFile *f = parse(15, "host all all 10.0.0.0/8 trust\n"
							 "host all all 10.0.0.0/33 trust\n"
							 "host all all 10.0.0.0/8 md5\n"
							 "hots all all 10.0.0.0/8 md5\n");

	is_int(f->nerrors, 2, "every bad line is reported");
	is_int(f->errors[0].line, 2, "first error on line 2");
	is_int(f->errors[1].line, 4, "second error on line 4");
	is_str(f->errors[0].file, MAIN, "error names the file");
	is_int(f->nrules, 2, "good lines stay listed for display");
	cm_hba_free(f);

	f = parse(15, "hostssl all all 0.0.0.0/0 md5\n");
	ok(f->rules[0].warning == NULL, "no warning with ssl on");
	cm_hba_free(f);
	{
		CmHbaParseOptions opts;
		const char *text = "hostssl all all 0.0.0.0/0 md5\n";

		cm_hba_parse_options_init(&opts);
		opts.ssl_enabled = false;
		f = cm_hba_parse(text, strlen(text), MAIN, &opts);
		is_int(f->nerrors, 0, "hostssl with ssl off is still valid");
		is_str(f->rules[0].warning,
			   "hostssl record cannot match because SSL is disabled",
			   "the server's warning is kept");
		cm_hba_free(f);
		opts.ssl_enabled = true;
		opts.build = CM_HBA_BUILD_DEFAULT & ~CM_HBA_BUILD_LDAP;
		text = "host all all 0.0.0.0/0 ldap ldapbasedn=x\n";
		f = cm_hba_parse(text, strlen(text), MAIN, &opts);
		is_str(f->nerrors > 0 ? f->errors[0].message : NULL,
			   "invalid authentication method \"ldap\": not supported by "
			   "this build",
			   "a build without LDAP rejects ldap");
		cm_hba_free(f);
	}

	/* 16: include: rules keep the file they came from */
	f = parse(16, "include more.conf\nhost all all 0.0.0.0/0 trust\n");
	is_int(f->nrules, 2, "include adds the included rules");
	is_str(f->rules[0].file, "/etc/pg/more.conf", "included rule's file");
	is_int(f->rules[0].line, 1, "included rule's line");
	cm_hba_free(f);
	f = parse(16, "include broken.conf\nhost all all 0.0.0.0/0 trust\n");
	is_int(f->nerrors, 1, "error inside an included file");
	is_str(f->errors[0].file, "/etc/pg/broken.conf", "names the included file");
	cm_hba_free(f);

	/* 10239 bytes is the longest token 15.20 takes; 16 has no limit */
	{
		char *text = repeat("host ", "a", 10239, " all 0.0.0.0/0 trust");

		f = parse(15, text);
		is_int(f->nerrors, 0, "10239-byte token on 15");
		cm_hba_free(f);
		free(text);
		text = repeat("host ", "a", 10240, " all 0.0.0.0/0 trust");
		f = parse(15, text);
		ok(f->nerrors == 1 &&
			   strncmp(f->errors[0].message,
					   "authentication file token too long, skipping: \"aaa",
					   50) == 0,
		   "10240-byte token on 15 is too long");
		cm_hba_free(f);
		f = parse(16, text);
		is_int(f->nerrors, 0, "10240-byte token on 16");
		cm_hba_free(f);
		free(text);
	}
}

static void
test_limits(void)
{
	char *text;
	char *wide;
	CmHbaFile *f;
	CmHbaParseOptions opts;
	VFile files[3];

	text = repeat("host ", "a,", CM_CONF_MAX_LINE_TOKENS, "a all 0/0 trust");
	f = parse(15, text);
	is_str(f->nerrors > 0 ? f->errors[0].message : NULL,
		   "too many tokens on one line (limit 4096)", "tokens per line");
	cm_hba_free(f);
	free(text);

	text = repeat("host all all 0.0.0.0/0 trust #", "c", CM_CONF_MAX_LINE_LEN,
				  "\nhost all all 0.0.0.0/0 md5\n");
	f = parse(15, text);
	is_str(f->nerrors > 0 ? f->errors[0].message : NULL,
		   "line too long (limit 65536 bytes)", "line length");
	is_int(f->nerrors > 0 ? f->errors[0].line : 0, 1, "line length: line 1");
	cm_hba_free(f);
	free(text);

	/* more @file reads than allowed, each of them legal */
	wide = repeat("", "@leaf,", 1000, "@leaf");
	files[0].path = "/etc/pg/wide";
	files[0].text = wide;
	files[1].path = "/etc/pg/leaf";
	files[1].text = "l";
	files[2].path = NULL;
	cm_hba_parse_options_init(&opts);
	opts.read_file = read_vfile;
	opts.read_arg = files;
	text = "host @wide all 0.0.0.0/0 trust";
	f = cm_hba_parse(text, strlen(text), MAIN, &opts);
	ok(f->nerrors > 0 && strstr(f->errors[0].message, "more than 1000") != NULL,
	   "included file reads are bounded");
	cm_hba_free(f);
	wide[strlen(wide) - 12] = '\0'; /* 999 @leaf and wide: 1000 reads */
	f = cm_hba_parse(text, strlen(text), MAIN, &opts);
	is_int(f->nerrors, 0, "1000 reads are allowed");
	is_int(f->nrules > 0 ? f->rules[0].ndatabases : 0, 999,
		   "999 tokens from @leaf");
	cm_hba_free(f);
	free(wide);
}

static void
test_disk_fixture(void)
{
	const char *path = "test/unit/data/hba/pg_hba.conf";
	char *text = NULL;
	size_t len = 0;
	CmHbaParseOptions opts;
	CmHbaFile *f;

	if (read_disk(NULL, path, &text, &len) != 0)
	{
		ok(0, "fixture %s readable (run from the repository root)", path);
		return;
	}
	cm_hba_parse_options_init(&opts);
	opts.read_file = read_disk;
	f = cm_hba_parse(text, len, path, &opts);
	free(text);
	if (!is_int(f->nerrors, 0, "disk fixture parses"))
		printf("#   error: %s\n", f->errors[0].message);
	else
	{
		is_int(f->rules[0].nroles, 3, "nested @files give three admins");
		is_str(f->rules[0].roles[1].text, "bob smith", "quoted name with space");
		is_str(f->rules[0].roles[1].include, "test/unit/data/hba/more/admins",
			   "nested @file resolved next to its includer");
		is_int(match_full(f, "10.3.3.3", true, false, "d", "carol", is_member),
			   2, "disk fixture: carol over TLS is cert (line 2)");
		is_int(match_full(f, "10.3.3.3", false, false, "app", "carol", is_member),
			   3, "disk fixture: plain carol to app is scram (line 3)");
		is_int(match_full(f, "10.3.3.3", false, false, "all", "carol", is_member),
			   3, "disk fixture: quoted all in @dbs is a name");
		is_int(match_full(f, "10.1.7.7", false, false, "x", "carol", is_member),
			   4, "disk fixture: samenet");
	}
	cm_hba_free(f);
}

static void
test_interfaces(void)
{
	CmHbaInterface *list;
	int n;
	int loopback = 0;

	is_int(cm_hba_interfaces_from_system(&list, &n), 0, "getifaddrs works");
	for (int i = 0; i < n; i++)
	{
		struct sockaddr_in *a = (struct sockaddr_in *) &list[i].addr;

		if (a->sin_family == AF_INET && ntohl(a->sin_addr.s_addr) == 0x7f000001u)
			loopback = 1;
	}
	ok(loopback, "the host's interfaces include 127.0.0.1");
	free(list);
}

/* The line matched for a client of 10.9.9.9 when the host has list. */
static int
match_with_interfaces(const CmHbaFile *f, const CmHbaInterface *list, int n)
{
	struct sockaddr_storage ss;
	CmHbaConn conn = {0};
	CmHbaMatchContext ctx = {0};
	int idx;

	set_addr(&ss, "10.9.9.9");
	conn.addr = (const struct sockaddr *) &ss;
	conn.role = "alice";
	conn.database = "d";
	ctx.interfaces = list;
	ctx.ninterfaces = n;
	if (cm_hba_match(f, &conn, &ctx, &idx) != CM_HBA_MATCH)
		return NONE;
	return f->rules[idx].line;
}

/*
 * A floating address moving to and from the host: the same parsed file
 * decides with the list given for each connection, and an empty list (a
 * failed read) lets the next rule decide, as in the server.
 */
static void
test_interfaces_per_connection(void)
{
	CmHbaFile *f = parse(15, "host all all samehost scram-sha-256\n"
							 "host all all samenet md5\n"
							 "host all all 0.0.0.0/0 reject\n");
	CmHbaFile *plain = parse(15, "host all all 10.0.0.0/8 trust\n"
								 "hostgssenc all all samehost trust\n");
	CmHbaFile *none = parse(15, "host all all 10.0.0.0/8 trust\n");
	CmHbaInterface list[2];

	memset(list, 0, sizeof(list));
	set_addr(&list[0].addr, "127.0.0.1");
	set_addr(&list[0].netmask, "255.0.0.0");
	set_addr(&list[1].addr, "10.9.9.9");
	set_addr(&list[1].netmask, "255.255.255.0");

	ok(cm_hba_uses_interfaces(f), "samehost and samenet need the interfaces");
	ok(cm_hba_uses_interfaces(plain), "a hostgssenc samehost rule counts too");
	ok(!cm_hba_uses_interfaces(none), "address rules alone need none");
	ok(!cm_hba_uses_interfaces(NULL), "no file needs none");

	is_int(match_with_interfaces(f, list, 1), 3,
		   "the address is elsewhere: samehost and samenet miss");
	is_int(match_with_interfaces(f, list, 2), 1,
		   "the address arrives: samehost matches it");
	set_addr(&list[1].addr, "10.9.9.1");
	is_int(match_with_interfaces(f, list, 2), 2,
		   "it moves within the subnet: samenet matches");
	is_int(match_with_interfaces(f, list, 1), 3,
		   "it leaves: neither matches any more");
	is_int(match_with_interfaces(f, NULL, 0), 3,
		   "no list (a failed read): the next rule decides");
	cm_hba_free(f);
	cm_hba_free(plain);
	cm_hba_free(none);
}

static void
test_names(void)
{
	is_str(cm_hba_conn_type_name(CM_HBA_CONN_HOSTNOGSSENC), "hostnogssenc",
		   "connection type name");
	is_str(cm_hba_method_name(CM_HBA_METHOD_SCRAM), "scram-sha-256",
		   "method name");
	is_str(cm_hba_method_name(CM_HBA_METHOD_RADIUS), "radius", "radius name");
}

int
main(void)
{
	test_match_table();
	test_replication();
	test_membership_calls();
	test_rule_fields();
	test_methods();
	test_errors();
	test_whole_file_semantics();
	test_limits();
	test_disk_fixture();
	test_interfaces();
	test_interfaces_per_connection();
	test_names();
	return done_testing();
}
