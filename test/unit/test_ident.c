/*
 * test_ident.c
 *		Unit tests of pg_ident.conf maps (src/pure/ident_parse.c,
 *		ident_match.c): parsing, regular expressions with \1, the 15 and 16
 *		meanings of the database-user field, and malformed lines.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_ident_parse.h"
#include "cm_ident_match.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAP_FILE "/etc/pg/pg_ident.conf"

static int
read_users(void *arg, const char *path, char **data, size_t *len)
{
	static const char text[] = "alice\n";

	(void) arg;
	if (strcmp(path, "/etc/pg/certusers") != 0)
		return ENOENT;
	*len = sizeof(text) - 1;
	*data = malloc(sizeof(text));
	memcpy(*data, text, sizeof(text));
	return 0;
}

static CmIdentFile *
parse(int major, const char *text)
{
	CmHbaParseOptions opts;

	cm_hba_parse_options_init(&opts);
	opts.server_major = major;
	opts.read_file = read_users;
	return cm_ident_parse(text, strlen(text), MAP_FILE, &opts);
}

/* bob and dave are members of staff; nobody else of anything. */
static int
is_member(void *arg, const char *role, const char *group)
{
	(void) arg;
	if (strcmp(role, group) == 0)
		return 1;
	return strcmp(group, "staff") == 0 &&
		   (strcmp(role, "bob") == 0 || strcmp(role, "dave") == 0);
}

typedef struct CheckCase
{
	const char *name;
	int major;
	const char *ident;
	const char *map;
	const char *system_user;
	const char *db_user;
	CmIdentResult want;
} CheckCase;

#define MATCH CM_IDENT_MATCH
#define NO	  CM_IDENT_NO_MATCH
#define ERROR CM_IDENT_ERROR

static const CheckCase cases[] = {
	{"literal", 15, "m alice alice_db", "m", "alice", "alice_db", MATCH},
	{"literal, other db user", 15, "m alice alice_db", "m", "alice", "bob", NO},
	{"literal, other system user", 15, "m alice alice_db", "m", "bob",
	 "alice_db", NO},
	{"map name must match", 15, "m alice alice_db", "other", "alice",
	 "alice_db", NO},
	{"map name is case-sensitive", 15, "m alice alice_db", "M", "alice",
	 "alice_db", NO},
	{"user names are case-sensitive", 15, "m alice alice_db", "m", "Alice",
	 "alice_db", NO},
	{"second line of the map", 15, "m alice a\nother bob b\nm bob b", "m",
	 "bob", "b", MATCH},
	{"regex with \\1", 15, "m /^(.*)@example\\.com$ \\1", "m",
	 "bob@example.com", "bob", MATCH},
	{"regex with \\1, wrong user", 15, "m /^(.*)@example\\.com$ \\1", "m",
	 "bob@example.com", "alice", NO},
	{"regex with \\1, no match", 15, "m /^(.*)@example\\.com$ \\1", "m",
	 "bob@example.org", "bob", NO},
	{"\\1 inside a name", 15, "m /^cn=(\\w+)$ pre_\\1_suf", "m", "cn=carol",
	 "pre_carol_suf", MATCH},
	{"only the first \\1 is replaced", 15, "m /^(a+)$ \\1\\1", "m", "aa",
	 "aa\\1", MATCH},
	{"regex without \\1", 15, "m /^admin admin", "m", "administrator", "admin",
	 MATCH},
	{"regex is unanchored", 15, "m /min admin", "m", "administrator", "admin",
	 MATCH},
	{"quoted regex is a regex", 15, "m \"/^a\" anna", "m", "alice", "anna",
	 MATCH},
	{"\\1 without a group", 15, "m /^bob$ \\1", "m", "bob", "bob", ERROR},
	{"\\1 of a group that did not take part", 15, "m /^(x)?bob$ \\1", "m",
	 "bob", "", ERROR},
	{"error stops the search", 15, "m /^bob$ \\1\nm bob bob", "m", "bob",
	 "bob", ERROR},
	{"an earlier match wins over a later error", 15, "m bob bob\nm /^bob$ \\1",
	 "m", "bob", "bob", MATCH},
	{"\\1 when the system user is no regex", 15, "m bob \\1", "m", "bob",
	 "\\1", MATCH},
	{"@file for the system user", 15, "m @certusers alice", "m", "alice",
	 "alice", MATCH},
	{"continued line", 15, "m \\\nalice \\\nalice_db", "m", "alice",
	 "alice_db", MATCH},
	{"extra fields are ignored", 15, "m alice alice_db extra", "m", "alice",
	 "alice_db", MATCH},
	{"comment", 15, "# map\nm alice alice_db # note", "m", "alice", "alice_db",
	 MATCH},
	{"no map: equal names", 15, "m a b", NULL, "alice", "alice", MATCH},
	{"no map: different names", 15, "m a b", "", "alice", "bob", NO},
	{"empty file", 15, "", "m", "alice", "alice", NO},

	/* the database-user field: a name on 15, keywords too on 16 */
	{"15: +staff is a name", 15, "m bob +staff", "m", "bob", "bob", NO},
	{"15: +staff literal", 15, "m bob +staff", "m", "bob", "+staff", MATCH},
	{"16: +staff is a group", 16, "m bob +staff", "m", "bob", "bob", MATCH},
	{"16: +staff, not a member", 16, "m carol +staff", "m", "carol", "carol", NO},
	{"16: quoted +staff is a name", 16, "m bob \"+staff\"", "m", "bob", "bob",
	 NO},
	{"15: all is a name", 15, "m bob all", "m", "bob", "carol", NO},
	{"16: all is a keyword", 16, "m bob all", "m", "bob", "carol", MATCH},
	{"16: quoted all is a name", 16, "m bob \"all\"", "m", "bob", "carol", NO},
	{"15: /regex db user literal", 15, "m bob /^b", "m", "bob", "bob", NO},
	{"16: /regex db user", 16, "m bob /^b", "m", "bob", "bob", MATCH},
	{"16: regex system user, group db user", 16, "m /^(.*)@x$ +staff", "m",
	 "dave@x", "dave", MATCH},
	{"16: \\1 result is a literal, never a keyword", 16, "m /^(.*)@x$ \\1",
	 "m", "all@x", "all", MATCH},
	{"16: \\1 result all is no wildcard", 16, "m /^(.*)@x$ \\1", "m", "all@x",
	 "bob", NO},
	{"15: \\1 in +name is replaced", 15, "m /^(.*)@x$ +\\1", "m", "bob@x",
	 "+bob", MATCH},
	{"16: +\\1 is a group, no replacement", 16, "m /^(.*)@x$ +\\1", "m",
	 "bob@x", "+bob", NO},
};

static void
test_checks(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const CheckCase *c = &cases[i];
		CmIdentFile *f = parse(c->major, c->ident);
		char message[256];
		CmIdentResult r;

		if (!is_int(f->nerrors, 0, "%s: parses", c->name))
			printf("#   error: %s\n", f->errors[0].message);
		r = cm_ident_check(f, c->map, c->system_user, c->db_user, is_member,
						   NULL, message, sizeof(message));
		is_int(r, c->want, "%s: %s as %s", c->name, c->system_user, c->db_user);
		if (r != CM_IDENT_MATCH)
			ok(message[0] != '\0', "%s: says why", c->name);
		cm_ident_free(f);
	}
}

static void
test_messages(void)
{
	CmIdentFile *f = parse(15, "m /^bob$ \\1\nn alice a\n");
	char message[256];

	cm_ident_check(f, "m", "bob", "bob", NULL, NULL, message, sizeof(message));
	is_str(message,
		   "regular expression \"^bob$\" has no subexpressions as requested "
		   "by backreference in \"\\1\"",
		   "the server's message for \\1 without a group");
	cm_ident_check(f, "n", "alice", "b", NULL, NULL, message, sizeof(message));
	is_str(message,
		   "no match in usermap \"n\" for user \"b\" authenticated as "
		   "\"alice\"",
		   "the server's message for no match");
	cm_ident_check(f, NULL, "alice", "b", NULL, NULL, message, sizeof(message));
	is_str(message,
		   "provided user name (b) and authenticated user name (alice) do "
		   "not match",
		   "the server's message without a map");
	is_int(cm_ident_check(f, "n", "alice", "a", NULL, NULL, NULL, 0),
		   CM_IDENT_MATCH, "message buffer is optional");
	cm_ident_free(f);

	f = parse(16, "m bob +staff\n");
	is_int(cm_ident_check(f, "m", "bob", "bob", NULL, NULL, message,
						  sizeof(message)),
		   CM_IDENT_ERROR, "16: +group without is_member is an error");
	cm_ident_free(f);
}

static void
test_fields(void)
{
	CmIdentFile *f = parse(16, "# c\ncerts /^(.*)$ \\1\ncerts \"x y\" all\n");

	is_int(f->nlines, 2, "two map lines");
	is_int(f->lines[0].line, 2, "line number");
	is_str(f->lines[0].map, "certs", "map name");
	is_int(f->lines[0].system_user.kind, CM_CONF_TOKEN_REGEX,
		   "regex system user");
	is_int(f->lines[0].db_user.kind, CM_CONF_TOKEN_NAME, "\\1 is a name");
	is_str(f->lines[1].system_user.text, "x y", "quoted system user");
	is_int(f->lines[1].db_user.kind, CM_CONF_TOKEN_ALL, "16: all keyword");
	cm_ident_free(f);
}

typedef struct ErrorCase
{
	const char *name;
	int major;
	const char *ident;
	int line;
	const char *message; /* a prefix when it ends in '*' */
} ErrorCase;

static const ErrorCase errors[] = {
	{"only a map name", 15, "m", 1, "missing entry at end of line"},
	{"no database user", 15, "m alice", 1, "missing entry at end of line"},
	{"two map names", 15, "m,n alice a", 1, "multiple values in ident field"},
	{"two system users", 15, "m a,b c", 1, "multiple values in ident field"},
	{"two database users", 15, "m a b,c", 1, "multiple values in ident field"},
	{"error on line 3", 15, "m a a\n\nm b", 3, "missing entry at end of line"},
	{"bad regex", 15, "m /( a", 1, "invalid regular expression \"(\": *"},
	{"refused regex", 15, "m /^(.*?)$ \\1", 1,
	 "invalid regular expression \"^(.*?)$\": non-greedy*"},
	{"16: bad database-user regex", 16, "m a /[", 1,
	 "invalid regular expression \"[\": *"},
	{"missing @file", 15, "m @nofile a", 1,
	 "could not open secondary authentication file \"@nofile\" as "
	 "\"/etc/pg/nofile\": No such file or directory"},
};

static void
test_errors(void)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
	{
		const ErrorCase *c = &errors[i];
		CmIdentFile *f = parse(c->major, c->ident);
		size_t n = strlen(c->message);

		if (!ok(f->nerrors >= 1, "%s: rejected", c->name))
		{
			cm_ident_free(f);
			continue;
		}
		is_int(f->errors[0].line, c->line, "%s: line %d", c->name, c->line);
		if (c->message[n - 1] == '*')
		{
			if (!ok(strncmp(f->errors[0].message, c->message, n - 1) == 0,
					"%s: message", c->name))
				printf("#   got: %s\n", f->errors[0].message);
		}
		else
			is_str(f->errors[0].message, c->message, "%s: message", c->name);
		is_int(cm_ident_check(f, "m", "a", "a", is_member, NULL, NULL, 0),
			   CM_IDENT_ERROR, "%s: a file with errors maps nothing", c->name);
		cm_ident_free(f);
	}
}

int
main(void)
{
	test_checks();
	test_messages();
	test_fields();
	test_errors();
	return done_testing();
}
