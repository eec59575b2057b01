/*
 * fuzz_hba.c
 *		libFuzzer target for the pg_hba.conf and pg_ident.conf parsers and
 *		the matchers (src/pure/conf_*.c, hba_*.c, ident_*.c).
 *
 * The input is a main file and up to four @files, separated by lines
 * "%%", named a, b, c and d next to the main file; its first byte picks
 * the server version and build.  Beyond "does not crash or leak", it
 * checks what the modules promise: a file either has errors or rules, a
 * rule is honoured only if it can be, and the matcher returns a rule it
 * may return.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_hba_parse.h"
#include "cm_hba_match.h"
#include "cm_ident_parse.h"
#include "cm_ident_match.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

#define NFILES 5

typedef struct Files
{
	const char *text[NFILES];
	size_t len[NFILES];
} Files;

static const char *const paths[NFILES] = {"/f/pg_hba.conf", "/f/a", "/f/b",
										  "/f/c", "/f/d"};

static int
read_file(void *arg, const char *path, char **data, size_t *len)
{
	const Files *files = arg;

	for (int i = 1; i < NFILES; i++)
	{
		if (files->text[i] != NULL && strcmp(path, paths[i]) == 0)
		{
			*data = malloc(files->len[i] + 1);
			if (*data == NULL)
				return ENOMEM;
			memcpy(*data, files->text[i], files->len[i]);
			*len = files->len[i];
			return 0;
		}
	}
	return ENOENT;
}

/* The next "\n%%\n" in [p, end), or NULL. */
static const char *
find_separator(const char *p, const char *end)
{
	for (; end - p >= 4; p++)
	{
		if (memcmp(p, "\n%%\n", 4) == 0)
			return p;
	}
	return NULL;
}

static void
split(const uint8_t *data, size_t size, Files *files)
{
	const char *p = (const char *) data;
	const char *end = p + size;

	memset(files, 0, sizeof(*files));
	for (int i = 0; i < NFILES; i++)
	{
		const char *sep = i + 1 < NFILES ? find_separator(p, end) : NULL;

		files->text[i] = p;
		files->len[i] = sep != NULL ? (size_t) (sep - p) : (size_t) (end - p);
		if (sep == NULL)
			break;
		p = sep + 4;
	}
}

/* Members: a role is in itself, and everyone is in "staff". */
static int
is_member(void *arg, const char *role, const char *group)
{
	(void) arg;
	return strcmp(role, group) == 0 || strcmp(group, "staff") == 0;
}

static void
check_token(const CmConfToken *tok, int major)
{
	CHECK(tok->text != NULL);
	switch (tok->kind)
	{
		case CM_CONF_TOKEN_GROUP:
			CHECK(!tok->quoted && tok->text[0] == '+');
			break;
		case CM_CONF_TOKEN_REGEX:
			CHECK(major >= 16 && tok->text[0] == '/' && tok->regex != NULL);
			break;
		case CM_CONF_TOKEN_ALL:
			CHECK(!tok->quoted && strcmp(tok->text, "all") == 0);
			break;
		default:
			CHECK(tok->regex == NULL);
			break;
	}
}

static void
check_file(const CmHbaFile *f, int major)
{
	CHECK(f->nerrors >= 0 && f->nrules >= 0);
	CHECK(f->nerrors > 0 || f->nrules > 0);
	for (int i = 0; i < f->nerrors; i++)
		CHECK(f->errors[i].message != NULL && f->errors[i].message[0] != '\0');
	for (int i = 0; i < f->nrules; i++)
	{
		const CmHbaRule *r = &f->rules[i];
		bool honourable = r->conn_type != CM_HBA_CONN_LOCAL &&
						  r->conn_type != CM_HBA_CONN_HOSTGSSENC &&
						  r->addr_kind != CM_HBA_ADDR_HOSTNAME &&
						  (r->method == CM_HBA_METHOD_TRUST ||
						   r->method == CM_HBA_METHOD_REJECT ||
						   r->method == CM_HBA_METHOD_MD5 ||
						   r->method == CM_HBA_METHOD_PASSWORD ||
						   r->method == CM_HBA_METHOD_SCRAM ||
						   r->method == CM_HBA_METHOD_CERT);

		CHECK(r->line >= 1 && r->file != NULL && r->raw_line != NULL);
		CHECK(r->ndatabases >= 1 && r->nroles >= 1);
		CHECK((r->skip == CM_HBA_SKIP_NONE) == honourable);
		CHECK((cm_hba_skip_reason(r) == NULL) == honourable);
		CHECK((r->conn_type == CM_HBA_CONN_LOCAL) ==
			  (r->addr_kind == CM_HBA_ADDR_NONE));
		CHECK(r->method != CM_HBA_METHOD_CERT ||
			  (r->conn_type == CM_HBA_CONN_HOSTSSL &&
			   r->clientcert == CM_HBA_CLIENTCERT_VERIFY_FULL));
		CHECK(r->method != CM_HBA_METHOD_PEER ||
			  r->conn_type == CM_HBA_CONN_LOCAL);
		for (int k = 0; k < r->ndatabases; k++)
			check_token(&r->databases[k], major);
		for (int k = 0; k < r->nroles; k++)
			check_token(&r->roles[k], major);
	}
}

static void
set_addr(struct sockaddr_storage *ss, const char *text)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL)
	{
		ss->ss_family = AF_INET6;
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *) ss)->sin6_addr);
	}
	else
	{
		ss->ss_family = AF_INET;
		inet_pton(AF_INET, text, &((struct sockaddr_in *) ss)->sin_addr);
	}
}

static void
match_some(const CmHbaFile *f)
{
	static const struct
	{
		const char *addr;
		bool ssl;
		bool repl;
		const char *db;
		const char *role;
	} conns[] = {
		{"10.0.0.1", false, false, "postgres", "alice"},
		{"127.0.0.1", true, false, "staff", "bob"},
		{"::1", true, false, "db1", "db1"},
		{"::ffff:192.168.1.5", false, false, "all", "all"},
		{"10.1.2.3", false, true, "replication", "repl"},
	};
	CmHbaInterface ifs[2];
	CmHbaMatchContext ctx = {is_member, NULL, ifs, 2};

	set_addr(&ifs[0].addr, "10.1.2.3");
	set_addr(&ifs[0].netmask, "255.255.0.0");
	set_addr(&ifs[1].addr, "::1");
	for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++)
	{
		struct sockaddr_storage ss;
		CmHbaConn conn;
		int rule;
		CmHbaMatchResult r;

		set_addr(&ss, conns[i].addr);
		conn.addr = (const struct sockaddr *) &ss;
		conn.ssl = conns[i].ssl;
		conn.physical_replication = conns[i].repl;
		conn.role = conns[i].role;
		conn.database = conns[i].db;
		r = cm_hba_match(f, &conn, &ctx, &rule);
		switch (r)
		{
			case CM_HBA_MATCH:
				CHECK(rule >= 0 && rule < f->nrules);
				CHECK(f->rules[rule].skip == CM_HBA_SKIP_NONE);
				CHECK(!conn.ssl ||
					  f->rules[rule].conn_type != CM_HBA_CONN_HOSTNOSSL);
				CHECK(conn.ssl ||
					  f->rules[rule].conn_type != CM_HBA_CONN_HOSTSSL);
				break;
			case CM_HBA_MATCH_SKIPPED:
				CHECK(rule >= 0 && rule < f->nrules);
				CHECK(f->rules[rule].skip == CM_HBA_SKIP_METHOD ||
					  f->rules[rule].skip == CM_HBA_SKIP_HOSTNAME);
				break;
			case CM_HBA_NO_MATCH:
				CHECK(rule == -1 && f->nerrors == 0);
				break;
			case CM_HBA_MATCH_ERROR:
				CHECK(f->nerrors > 0);
				break;
		}
	}
}

static void
fuzz_ident(const Files *files, const CmHbaParseOptions *opts)
{
	static const char *const tries[][3] = {
		{"m", "alice", "alice"},
		{"m", "bob@example.com", "bob"},
		{"certs", "CN=x", "staff"},
		{"", "a", "a"},
	};
	CmIdentFile *f =
		cm_ident_parse(files->text[0], files->len[0], paths[0], opts);
	char message[64];

	if (f == NULL)
		return;
	CHECK(f->nerrors >= 0 && f->nlines >= 0);
	for (int i = 0; i < f->nlines; i++)
		CHECK(f->lines[i].map != NULL && f->lines[i].line >= 1);
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
	{
		CmIdentResult r =
			cm_ident_check(f, tries[i][0], tries[i][1], tries[i][2], is_member,
						   NULL, message, sizeof(message));

		CHECK(r == CM_IDENT_MATCH || r == CM_IDENT_NO_MATCH ||
			  r == CM_IDENT_ERROR);
		CHECK(r == CM_IDENT_MATCH || message[0] != '\0');
		CHECK(tries[i][0][0] == '\0' || f->nerrors == 0 || r == CM_IDENT_ERROR);
	}
	cm_ident_free(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CmHbaParseOptions opts;
	Files files;
	CmHbaFile *f;

	if (size < 1)
		return 0;
	cm_hba_parse_options_init(&opts);
	opts.server_major = (data[0] & 1) ? 16 : 15;
	opts.ssl_enabled = (data[0] & 2) == 0;
	if (data[0] & 4)
		opts.build = CM_HBA_BUILD_SSL;
	split(data + 1, size - 1, &files);
	opts.read_file = read_file;
	opts.read_arg = &files;

	f = cm_hba_parse(files.text[0], files.len[0], paths[0], &opts);
	if (f != NULL)
	{
		check_file(f, opts.server_major);
		match_some(f);
		cm_hba_free(f);
	}
	fuzz_ident(&files, &opts);
	return 0;
}
