/*
 * pure/hba_options.c
 *		The name=value options at the end of a pg_hba.conf rule: each
 *		checked against the rule's method and connection type, LDAP URLs and
 *		RADIUS lists read, and what ldap and radius rules need checked once
 *		all options are in, with the server's messages.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_hba_options.h"

#include <stdlib.h>
#include <string.h>

/* What the options of one rule set, for the checks at the end. */
typedef struct OptionState
{
	bool ldapserver;
	bool ldapbasedn;
	bool ldapprefix;
	bool ldapsuffix;
	bool ldapbinddn;
	bool ldapbindpasswd;
	bool ldapsearchattribute;
	bool ldapsearchfilter;
	int radiusservers; /* list lengths; 0 when unset or empty */
	int radiussecrets;
	int radiusports;
	int radiusidentifiers;
} OptionState;

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/*
 * Splits a RADIUS list as the server's SplitGUCList() does: items
 * separated by commas, maybe double-quoted, spaces around them.  Returns
 * the item count, or -1 on a syntax error; *ports_ok tells whether every
 * item reads as a non-zero number (atoi).
 */
static int
split_list(CmConfStore *store, const char *val, bool *ports_ok)
{
	const char *p = val;
	int count = 0;

	*ports_ok = true;
	while (is_space(*p))
		p++;
	if (*p == '\0')
		return 0;
	for (;;)
	{
		char *item;

		if (*p == '"')
		{
			char *o;

			item = cm_conf_alloc(store, strlen(p) + 1);
			if (item == NULL)
				return -1;
			o = item;
			p++;
			for (;;)
			{
				if (*p == '\0')
					return -1; /* unterminated quote */
				if (*p == '"' && p[1] == '"')
				{
					*o++ = '"';
					p += 2;
				}
				else if (*p == '"')
				{
					p++;
					break;
				}
				else
					*o++ = *p++;
			}
		}
		else
		{
			const char *start = p;

			while (*p != '\0' && *p != ',' && !is_space(*p))
				p++;
			if (p == start)
				return -1; /* empty item */
			item = cm_conf_strndup(store, start, (size_t) (p - start));
			if (item == NULL)
				return -1;
		}
		if ((int) strtol(item, NULL, 10) == 0)
			*ports_ok = false;
		count++;
		while (is_space(*p))
			p++;
		if (*p == ',')
		{
			p++;
			while (is_space(*p))
				p++;
		}
		else if (*p == '\0')
			return count;
		else
			return -1;
	}
}

/*
 * What the server's OpenLDAP takes from an ldapurl, approximately: the
 * scheme, a host, a base DN after '/', then ?attributes?scope?filter.
 */
static const char *
parse_ldapurl(CmConfStore *store, const char *val, OptionState *st)
{
	const char *sep = strstr(val, "://");
	const char *q;
	size_t scheme_len;

	if (sep == NULL)
		return cm_conf_printf(store, "could not parse LDAP URL \"%s\"", val);
	scheme_len = (size_t) (sep - val);
	if (!((scheme_len == 4 && strncmp(val, "ldap", 4) == 0) ||
		  (scheme_len == 5 && strncmp(val, "ldaps", 5) == 0)))
	{
		if ((scheme_len == 5 && strncmp(val, "ldapi", 5) == 0) ||
			(scheme_len == 5 && strncmp(val, "cldap", 5) == 0))
			return cm_conf_printf(store, "unsupported LDAP URL scheme: %.*s",
								  (int) scheme_len, val);
		return cm_conf_printf(store, "could not parse LDAP URL \"%s\"", val);
	}
	q = sep + 3;
	while (*q != '\0' && *q != '/' && *q != '?')
		q++;
	if (q > sep + 3)
		st->ldapserver = true;
	if (*q != '/')
		return NULL;
	st->ldapbasedn = true;
	q = strchr(q, '?');
	if (q == NULL)
		return NULL;
	if (q[1] != '\0' && q[1] != '?')
		st->ldapsearchattribute = true;
	q = strchr(q + 1, '?'); /* scope */
	if (q != NULL)
		q = strchr(q + 1, '?'); /* filter */
	if (q != NULL && q[1] != '\0' && q[1] != '?')
		st->ldapsearchfilter = true;
	return NULL;
}

static const char *
option_only_for(CmConfStore *store, const char *name, const char *methods_text)
{
	return cm_conf_printf(store,
						  "authentication option \"%s\" is only valid for "
						  "authentication methods %s",
						  name, methods_text);
}

static bool
name_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
	{
		if (strcmp(name, *list) == 0)
			return true;
	}
	return false;
}

static const char *
parse_ldap_option(CmConfStore *store, CmHbaRule *rule, const char *name,
				  const char *val, OptionState *st)
{
	if (strcmp(name, "ldapurl") == 0)
		return parse_ldapurl(store, val, st);
	if (strcmp(name, "ldapscheme") == 0 && strcmp(val, "ldap") != 0 &&
		strcmp(val, "ldaps") != 0)
		rule->warning =
			cm_conf_printf(store, "invalid ldapscheme value: \"%s\"", val);
	if (strcmp(name, "ldapport") == 0 && (int) strtol(val, NULL, 10) == 0)
		return cm_conf_printf(store, "invalid LDAP port number: \"%s\"", val);
	st->ldapserver |= strcmp(name, "ldapserver") == 0;
	st->ldapbasedn |= strcmp(name, "ldapbasedn") == 0;
	st->ldapprefix |= strcmp(name, "ldapprefix") == 0;
	st->ldapsuffix |= strcmp(name, "ldapsuffix") == 0;
	st->ldapbinddn |= strcmp(name, "ldapbinddn") == 0;
	st->ldapbindpasswd |= strcmp(name, "ldapbindpasswd") == 0;
	st->ldapsearchattribute |= strcmp(name, "ldapsearchattribute") == 0;
	st->ldapsearchfilter |= strcmp(name, "ldapsearchfilter") == 0;
	return NULL;
}

static const char *
parse_radius_option(CmConfStore *store, const char *name, const char *val,
					OptionState *st)
{
	static const struct
	{
		const char *name;
		const char *what; /* as the server's message names the list */
		size_t offset;
	} lists[] = {
		{"radiusservers", "server", offsetof(OptionState, radiusservers)},
		{"radiusports", "port", offsetof(OptionState, radiusports)},
		{"radiussecrets", "secret", offsetof(OptionState, radiussecrets)},
		{"radiusidentifiers", "identifiers",
		 offsetof(OptionState, radiusidentifiers)},
	};
	bool numbers_ok;

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
	{
		int n;

		if (strcmp(name, lists[i].name) != 0)
			continue;
		n = split_list(store, val, &numbers_ok);
		if (n < 0)
			return cm_conf_printf(store, "could not parse RADIUS %s list \"%s\"",
								  lists[i].what, val);
		if (strcmp(name, "radiusports") == 0 && !numbers_ok)
			return cm_conf_printf(store, "invalid RADIUS port number: \"%s\"",
								  val);
		*(int *) ((char *) st + lists[i].offset) = n;
	}
	return NULL;
}

/* One name=value option of a rule; returns NULL or the error. */
static const char *
parse_option(CmConfStore *store, CmHbaRule *rule, const char *name,
			 const char *val, OptionState *st)
{
	static const char *const ldap_options[] = {"ldapurl",
											   "ldaptls",
											   "ldapscheme",
											   "ldapserver",
											   "ldapport",
											   "ldapbinddn",
											   "ldapbindpasswd",
											   "ldapsearchattribute",
											   "ldapsearchfilter",
											   "ldapbasedn",
											   "ldapprefix",
											   "ldapsuffix",
											   NULL};
	static const char *const radius_options[] = {"radiusservers",
												 "radiusports", "radiussecrets",
												 "radiusidentifiers", NULL};
	static const char *const pam_options[] = {"pamservice", "pam_use_hostname",
											  NULL};
	static const char *const gss_options[] = {"krb_realm", "include_realm",
											  NULL};
	static const char *const sspi_options[] = {"compat_realm", "upn_username",
											   NULL};
	CmHbaMethod m = rule->method;

	if (strcmp(name, "map") == 0)
	{
		if (m != CM_HBA_METHOD_IDENT && m != CM_HBA_METHOD_PEER &&
			m != CM_HBA_METHOD_GSS && m != CM_HBA_METHOD_SSPI &&
			m != CM_HBA_METHOD_CERT)
			return option_only_for(store, "map",
								   "ident, peer, gssapi, sspi, and cert");
		rule->map = val;
	}
	else if (strcmp(name, "clientcert") == 0)
	{
		if (rule->conn_type != CM_HBA_CONN_HOSTSSL)
			return "clientcert can only be configured for \"hostssl\" rows";
		if (strcmp(val, "verify-full") == 0)
			rule->clientcert = CM_HBA_CLIENTCERT_VERIFY_FULL;
		else if (strcmp(val, "verify-ca") == 0)
		{
			if (m == CM_HBA_METHOD_CERT)
				return "clientcert only accepts \"verify-full\" when using "
					   "\"cert\" authentication";
			rule->clientcert = CM_HBA_CLIENTCERT_VERIFY_CA;
		}
		else
			return cm_conf_printf(store,
								  "invalid value for clientcert: \"%s\"", val);
	}
	else if (strcmp(name, "clientname") == 0)
	{
		if (rule->conn_type != CM_HBA_CONN_HOSTSSL)
			return "clientname can only be configured for \"hostssl\" rows";
		if (strcmp(val, "CN") == 0)
			rule->clientname = CM_HBA_CLIENTNAME_CN;
		else if (strcmp(val, "DN") == 0)
			rule->clientname = CM_HBA_CLIENTNAME_DN;
		else
			return cm_conf_printf(store,
								  "invalid value for clientname: \"%s\"", val);
	}
	else if (name_in(name, pam_options))
	{
		if (m != CM_HBA_METHOD_PAM)
			return option_only_for(store, name, "pam");
	}
	else if (name_in(name, ldap_options))
	{
		if (m != CM_HBA_METHOD_LDAP)
			return option_only_for(store, name, "ldap");
		return parse_ldap_option(store, rule, name, val, st);
	}
	else if (name_in(name, gss_options))
	{
		if (m != CM_HBA_METHOD_GSS && m != CM_HBA_METHOD_SSPI)
			return option_only_for(store, name, "gssapi and sspi");
	}
	else if (name_in(name, sspi_options))
	{
		if (m != CM_HBA_METHOD_SSPI)
			return option_only_for(store, name, "sspi");
	}
	else if (name_in(name, radius_options))
	{
		if (m != CM_HBA_METHOD_RADIUS)
			return option_only_for(store, name, "radius");
		return parse_radius_option(store, name, val, st);
	}
	else
		return cm_conf_printf(store,
							  "unrecognized authentication option name: "
							  "\"%s\"",
							  name);
	return NULL;
}

/* What the server checks once all options of an ldap or radius rule are in. */
static const char *
check_method_options(CmConfStore *store, const CmHbaRule *rule,
					 const OptionState *st)
{
	if (rule->method == CM_HBA_METHOD_LDAP)
	{
		if (st->ldapprefix || st->ldapsuffix)
		{
			if (st->ldapbasedn || st->ldapbinddn || st->ldapbindpasswd ||
				st->ldapsearchattribute || st->ldapsearchfilter)
				return "cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, "
					   "ldapsearchattribute, ldapsearchfilter, or ldapurl "
					   "together with ldapprefix";
		}
		else if (!st->ldapbasedn)
			return "authentication method \"ldap\" requires argument "
				   "\"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be "
				   "set";
		if (st->ldapsearchattribute && st->ldapsearchfilter)
			return "cannot use ldapsearchattribute together with "
				   "ldapsearchfilter";
	}
	if (rule->method == CM_HBA_METHOD_RADIUS)
	{
		static const char *const fmt =
			"the number of RADIUS %s (%d) must be 1 or the same as the "
			"number of RADIUS servers (%d)";

		if (st->radiusservers == 0)
			return "authentication method \"radius\" requires argument "
				   "\"radiusservers\" to be set";
		if (st->radiussecrets == 0)
			return "authentication method \"radius\" requires argument "
				   "\"radiussecrets\" to be set";
		if (st->radiussecrets != 1 && st->radiussecrets != st->radiusservers)
			return cm_conf_printf(store, fmt, "secrets", st->radiussecrets,
								  st->radiusservers);
		if (st->radiusports > 1 && st->radiusports != st->radiusservers)
			return cm_conf_printf(store, fmt, "ports", st->radiusports,
								  st->radiusservers);
		if (st->radiusidentifiers > 1 &&
			st->radiusidentifiers != st->radiusservers)
			return cm_conf_printf(store, fmt, "identifiers",
								  st->radiusidentifiers, st->radiusservers);
	}
	return NULL;
}

const char *
cm_hba_options_parse(CmConfStore *store, const CmConfLine *tl, int fi,
					 CmHbaRule *rule)
{
	OptionState st = {0};
	int count = 0;
	CmHbaOption *options;
	const char *err;

	for (int f = fi; f < tl->nfields; f++)
		count += tl->fields[f].ntokens;
	options = cm_conf_alloc(store, sizeof(CmHbaOption) * (size_t) count);
	if (options == NULL)
		return "out of memory";
	for (int f = fi; f < tl->nfields; f++)
	{
		for (int k = 0; k < tl->fields[f].ntokens; k++)
		{
			const char *text = tl->fields[f].tokens[k].text;
			const char *eq = strchr(text, '=');
			CmHbaOption *opt = &options[rule->noptions];

			if (eq == NULL)
				return cm_conf_printf(store,
									  "authentication option not in "
									  "name=value format: %s",
									  text);
			opt->name = cm_conf_strndup(store, text, (size_t) (eq - text));
			opt->value = eq + 1;
			if (opt->name == NULL)
				return "out of memory";
			rule->noptions++;
			err = parse_option(store, rule, opt->name, opt->value, &st);
			if (err != NULL)
				return err;
		}
	}
	rule->options = options;
	return check_method_options(store, rule, &st);
}
