/*
 * pure/hba_parse.c
 *		pg_hba.conf lines into rules, with the server's checks and messages:
 *		connection type, databases, roles, address and mask, method (its
 *		options are hba_options.c's), and why the proxy may skip a rule.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_hba_parse.h"
#include "cm_conf_regex.h"
#include "cm_hba_options.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct HbaParser
{
	CmConfStore *store;
	const CmHbaParseOptions *opts;
} HbaParser;

static const struct
{
	const char *name;
	CmHbaMethod method;
	unsigned needs; /* CM_HBA_BUILD_* the server needs for it */
} methods[] = {
	{"trust", CM_HBA_METHOD_TRUST, 0},
	{"ident", CM_HBA_METHOD_IDENT, 0},
	{"peer", CM_HBA_METHOD_PEER, 0},
	{"password", CM_HBA_METHOD_PASSWORD, 0},
	{"gss", CM_HBA_METHOD_GSS, CM_HBA_BUILD_GSS},
	{"sspi", CM_HBA_METHOD_SSPI, CM_HBA_BUILD_SSPI},
	{"reject", CM_HBA_METHOD_REJECT, 0},
	{"md5", CM_HBA_METHOD_MD5, 0},
	{"scram-sha-256", CM_HBA_METHOD_SCRAM, 0},
	{"pam", CM_HBA_METHOD_PAM, CM_HBA_BUILD_PAM},
	{"bsd", CM_HBA_METHOD_BSD, CM_HBA_BUILD_BSD},
	{"ldap", CM_HBA_METHOD_LDAP, CM_HBA_BUILD_LDAP},
	{"cert", CM_HBA_METHOD_CERT, CM_HBA_BUILD_SSL},
	{"radius", CM_HBA_METHOD_RADIUS, 0},
};

static bool
is_keyword(const CmConfToken *tok, const char *word)
{
	return !tok->quoted && strcmp(tok->text, word) == 0;
}

static const char *
classify_databases(HbaParser *p, CmConfField *field)
{
	for (int i = 0; i < field->ntokens; i++)
	{
		CmConfToken *tok = &field->tokens[i];

		if (is_keyword(tok, "all"))
			tok->kind = CM_CONF_TOKEN_ALL;
		else if (is_keyword(tok, "sameuser"))
			tok->kind = CM_CONF_TOKEN_SAMEUSER;
		else if (is_keyword(tok, "samerole") || is_keyword(tok, "samegroup"))
			tok->kind = CM_CONF_TOKEN_SAMEROLE;
		else if (is_keyword(tok, "replication"))
			tok->kind = CM_CONF_TOKEN_REPLICATION;
		else if (p->opts->server_major >= 16 && tok->text[0] == '/')
		{
			const char *err = cm_conf_regex_compile(p->store, tok, false);

			if (err != NULL)
				return err;
		}
		else
			tok->kind = CM_CONF_TOKEN_NAME;
	}
	return NULL;
}

/*
 * A role token of pg_hba.conf, and on 16+ the database-user token of
 * pg_ident.conf: +group, all, /regex (16+), or a name.  Returns NULL, or
 * the error of a bad regular expression.
 */
const char *
cm_hba_classify_role(CmConfStore *store, int server_major, CmConfToken *tok)
{
	if (!tok->quoted && tok->text[0] == '+')
		tok->kind = CM_CONF_TOKEN_GROUP;
	else if (is_keyword(tok, "all"))
		tok->kind = CM_CONF_TOKEN_ALL;
	else if (server_major >= 16 && tok->text[0] == '/')
		return cm_conf_regex_compile(store, tok, false);
	else
		tok->kind = CM_CONF_TOKEN_NAME;
	return NULL;
}

/* The mask of numbits ones (all of them when NULL), or -1 if invalid. */
static int
cidr_mask(struct sockaddr_storage *mask, const char *numbits, int family)
{
	long bits;

	memset(mask, 0, sizeof(*mask));
	if (numbits == NULL)
		bits = family == AF_INET ? 32 : 128;
	else
	{
		char *end;

		bits = strtol(numbits, &end, 10);
		if (*numbits == '\0' || *end != '\0')
			return -1;
	}
	if (family == AF_INET)
	{
		struct sockaddr_in *m = (struct sockaddr_in *) mask;
		uint32_t ones;

		if (bits < 0 || bits > 32)
			return -1;
		ones = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
		m->sin_family = AF_INET;
		m->sin_addr.s_addr = htonl(ones);
		return 0;
	}
	if (family == AF_INET6)
	{
		struct sockaddr_in6 *m = (struct sockaddr_in6 *) mask;

		if (bits < 0 || bits > 128)
			return -1;
		m->sin6_family = AF_INET6;
		for (int i = 0; i < 16; i++, bits -= 8)
		{
			if (bits >= 8)
				m->sin6_addr.s6_addr[i] = 0xff;
			else if (bits > 0)
				m->sin6_addr.s6_addr[i] = (uint8_t) (0xff << (8 - bits));
		}
		return 0;
	}
	return -1;
}

/*
 * getaddrinfo() with AI_NUMERICHOST, as the server calls it, so every
 * spelling it accepts ("127.1", "0x7f.0.0.1") means the same here.
 */
static int
numeric_address(const char *text, struct sockaddr_storage *out)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_family = AF_UNSPEC;
	rc = getaddrinfo(text, NULL, &hints, &res);
	if (rc == 0 && res == NULL)
		rc = EAI_FAIL;
	if (rc == 0)
	{
		size_t n =
			res->ai_addrlen < sizeof(*out) ? res->ai_addrlen : sizeof(*out);

		memset(out, 0, sizeof(*out));
		memcpy(out, res->ai_addr, n);
	}
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

/* The address field, and the netmask field after it if one is needed. */
static const char *
parse_address(HbaParser *p, const CmConfLine *tl, int *fi, CmHbaRule *rule)
{
	const CmConfToken *tok;
	char *str;
	char *slash;
	int rc;

	if (*fi >= tl->nfields)
		return "end-of-line before IP address specification";
	if (tl->fields[*fi].ntokens > 1)
		return "multiple values specified for host address";
	tok = &tl->fields[*fi].tokens[0];
	rule->address = tok->text;
	if (is_keyword(tok, "all"))
	{
		rule->addr_kind = CM_HBA_ADDR_ALL;
		return NULL;
	}
	if (is_keyword(tok, "samehost"))
	{
		rule->addr_kind = CM_HBA_ADDR_SAMEHOST;
		return NULL;
	}
	if (is_keyword(tok, "samenet"))
	{
		rule->addr_kind = CM_HBA_ADDR_SAMENET;
		return NULL;
	}
	str = cm_conf_strdup(p->store, tok->text);
	if (str == NULL)
		return "out of memory";
	slash = strchr(str, '/');
	if (slash != NULL)
		*slash = '\0';
	rc = numeric_address(str, &rule->addr);
	if (rc == 0)
		rule->addr_kind = CM_HBA_ADDR_MASK;
	else if (rc == EAI_NONAME)
	{
		rule->addr_kind = CM_HBA_ADDR_HOSTNAME;
		rule->hostname = str;
	}
	else
		return cm_conf_printf(p->store, "invalid IP address \"%s\": %s", str,
							  gai_strerror(rc));
	if (slash != NULL)
	{
		if (rule->hostname != NULL)
			return cm_conf_printf(p->store,
								  "specifying both host name and CIDR mask is "
								  "invalid: \"%s\"",
								  tok->text);
		if (cidr_mask(&rule->mask, slash + 1, rule->addr.ss_family) < 0)
			return cm_conf_printf(p->store,
								  "invalid CIDR mask in address \"%s\"",
								  tok->text);
	}
	else if (rule->hostname == NULL)
	{
		(*fi)++;
		if (*fi >= tl->nfields)
			return "end-of-line before netmask specification";
		if (tl->fields[*fi].ntokens > 1)
			return "multiple values specified for netmask";
		tok = &tl->fields[*fi].tokens[0];
		rule->netmask = tok->text;
		rc = numeric_address(tok->text, &rule->mask);
		if (rc != 0)
			return cm_conf_printf(p->store, "invalid IP mask \"%s\": %s",
								  tok->text, gai_strerror(rc));
		if (rule->addr.ss_family != rule->mask.ss_family)
			return "IP address and mask do not match";
	}
	return NULL;
}

static const char *
parse_method(HbaParser *p, const CmConfLine *tl, int fi, CmHbaRule *rule)
{
	const char *name;
	size_t i;

	if (fi >= tl->nfields)
		return "end-of-line before authentication method";
	if (tl->fields[fi].ntokens > 1)
		return "multiple values specified for authentication type";
	name = tl->fields[fi].tokens[0].text;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
	{
		if (strcmp(name, methods[i].name) == 0)
			break;
	}
	if (i == sizeof(methods) / sizeof(methods[0]))
		return cm_conf_printf(p->store, "invalid authentication method \"%s\"",
							  name);
	if ((methods[i].needs & p->opts->build) != methods[i].needs)
		return cm_conf_printf(p->store,
							  "invalid authentication method \"%s\": not "
							  "supported by this build",
							  name);
	rule->method = methods[i].method;
	if (rule->conn_type == CM_HBA_CONN_LOCAL &&
		rule->method == CM_HBA_METHOD_IDENT)
		rule->method = CM_HBA_METHOD_PEER; /* the server's compatibility */
	if (rule->conn_type == CM_HBA_CONN_LOCAL && rule->method == CM_HBA_METHOD_GSS)
		return "gssapi authentication is not supported on local sockets";
	if (rule->conn_type != CM_HBA_CONN_LOCAL &&
		rule->method == CM_HBA_METHOD_PEER)
		return "peer authentication is only supported on local sockets";
	if (rule->conn_type != CM_HBA_CONN_HOSTSSL &&
		rule->method == CM_HBA_METHOD_CERT)
		return "cert authentication is only supported on hostssl connections";
	return NULL;
}

static const char *
parse_conn_type(HbaParser *p, const CmConfLine *tl, CmHbaRule *rule)
{
	static const struct
	{
		const char *name;
		CmHbaConnType type;
	} types[] = {
		{"local", CM_HBA_CONN_LOCAL},
		{"host", CM_HBA_CONN_HOST},
		{"hostssl", CM_HBA_CONN_HOSTSSL},
		{"hostnossl", CM_HBA_CONN_HOSTNOSSL},
		{"hostgssenc", CM_HBA_CONN_HOSTGSSENC},
		{"hostnogssenc", CM_HBA_CONN_HOSTNOGSSENC},
	};
	const char *name;

	if (tl->fields[0].ntokens > 1)
		return "multiple values specified for connection type";
	name = tl->fields[0].tokens[0].text;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
	{
		if (strcmp(name, types[i].name) != 0)
			continue;
		rule->conn_type = types[i].type;
		if (rule->conn_type == CM_HBA_CONN_HOSTSSL &&
			!(p->opts->build & CM_HBA_BUILD_SSL))
			rule->warning = "hostssl record cannot match because SSL is not "
							"supported by this build";
		else if (rule->conn_type == CM_HBA_CONN_HOSTSSL && !p->opts->ssl_enabled)
			rule->warning =
				"hostssl record cannot match because SSL is disabled";
		else if (rule->conn_type == CM_HBA_CONN_HOSTGSSENC &&
				 !(p->opts->build & CM_HBA_BUILD_GSS))
			rule->warning = "hostgssenc record cannot match because GSSAPI "
							"is not supported by this build";
		return NULL;
	}
	return cm_conf_printf(p->store, "invalid connection type \"%s\"", name);
}

static CmHbaSkip
skip_of(const CmHbaRule *rule)
{
	if (rule->conn_type == CM_HBA_CONN_LOCAL)
		return CM_HBA_SKIP_LOCAL;
	if (rule->conn_type == CM_HBA_CONN_HOSTGSSENC)
		return CM_HBA_SKIP_HOSTGSSENC;
	switch (rule->method)
	{
		case CM_HBA_METHOD_TRUST:
		case CM_HBA_METHOD_REJECT:
		case CM_HBA_METHOD_MD5:
		case CM_HBA_METHOD_PASSWORD:
		case CM_HBA_METHOD_SCRAM:
		case CM_HBA_METHOD_CERT:
			break;
		default:
			return CM_HBA_SKIP_METHOD;
	}
	if (rule->addr_kind == CM_HBA_ADDR_HOSTNAME)
		return CM_HBA_SKIP_HOSTNAME;
	return CM_HBA_SKIP_NONE;
}

/*
 * One tokenized line into a rule (entry), in the server's order of checks:
 * the CmConfFormat of pg_hba.conf, with the CmHbaParseOptions as arg.
 */
static const char *
parse_hba_line(CmConfStore *store, const void *arg, const CmConfLine *tl,
			   void *entry)
{
	HbaParser parser = {store, arg};
	HbaParser *p = &parser;
	CmHbaRule *rule = entry;
	const char *err;
	int fi = 1;

	rule->file = tl->file;
	rule->line = tl->line;
	rule->raw_line = tl->raw;
	err = parse_conn_type(p, tl, rule);
	if (err != NULL)
		return err;
	if (fi >= tl->nfields)
		return "end-of-line before database specification";
	err = classify_databases(p, &tl->fields[fi]);
	if (err != NULL)
		return err;
	rule->ndatabases = tl->fields[fi].ntokens;
	rule->databases = tl->fields[fi].tokens;
	if (++fi >= tl->nfields)
		return "end-of-line before role specification";
	for (int i = 0; i < tl->fields[fi].ntokens; i++)
	{
		err = cm_hba_classify_role(p->store, p->opts->server_major,
								   &tl->fields[fi].tokens[i]);
		if (err != NULL)
			return err;
	}
	rule->nroles = tl->fields[fi].ntokens;
	rule->roles = tl->fields[fi].tokens;
	fi++;
	if (rule->conn_type != CM_HBA_CONN_LOCAL)
	{
		err = parse_address(p, tl, &fi, rule);
		if (err != NULL)
			return err;
		fi++;
	}
	err = parse_method(p, tl, fi, rule);
	if (err != NULL)
		return err;
	err = cm_hba_options_parse(p->store, tl, fi + 1, rule);
	if (err != NULL)
		return err;
	if (rule->method == CM_HBA_METHOD_CERT)
		rule->clientcert = CM_HBA_CLIENTCERT_VERIFY_FULL;
	rule->skip = skip_of(rule);
	return NULL;
}

void
cm_hba_parse_options_init(CmHbaParseOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->server_major = 15;
	opts->ssl_enabled = true;
	opts->build = CM_HBA_BUILD_DEFAULT;
}

CmConfStore *
cm_hba_parse_format(const char *text, size_t len, const char *path,
					const CmHbaParseOptions *opts, const CmConfFormat *format,
					int *server_major, CmConfParsed *out)
{
	CmHbaParseOptions defaults;
	CmConfStore *store = cm_conf_store_new();
	CmConfReader reader;

	if (store == NULL)
		return NULL;
	if (opts == NULL)
	{
		cm_hba_parse_options_init(&defaults);
		opts = &defaults;
	}
	reader.server_major = opts->server_major;
	reader.read_file = opts->read_file;
	reader.read_arg = opts->read_arg;
	*server_major = opts->server_major;
	cm_conf_parse_file(store, text, len, path, &reader, format, opts, out);
	return store;
}

CmHbaFile *
cm_hba_parse(const char *text, size_t len, const char *path,
			 const CmHbaParseOptions *opts)
{
	static const CmConfFormat format = {parse_hba_line, sizeof(CmHbaRule), true};
	CmHbaFile *file = calloc(1, sizeof(CmHbaFile));
	CmConfParsed parsed;

	if (file == NULL)
		return NULL;
	file->store =
		cm_hba_parse_format(text, len, path != NULL ? path : "pg_hba.conf",
							opts, &format, &file->server_major, &parsed);
	if (file->store == NULL)
	{
		free(file);
		return NULL;
	}
	file->nrules = parsed.nentries;
	file->rules = parsed.entries;
	file->nerrors = parsed.nerrors;
	file->errors = parsed.errors;
	return file;
}

void
cm_hba_free(CmHbaFile *file)
{
	if (file == NULL)
		return;
	cm_conf_store_free(file->store);
	free(file);
}
