/*
 * pure/ident_match.c
 *		The server's check of a system user (a certificate's CN or DN)
 *		against a database user through a pg_ident.conf user map.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_ident_match.h"
#include "cm_conf_regex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static void
say(char *message, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (message == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(message, len, fmt, ap);
	va_end(ap);
}

/*
 * The database user a regex line allows: its text with the first "\1"
 * replaced by the first group of the match.  Returns a malloc'd string,
 * or NULL with *err set.
 */
static char *
substitute_group(const CmIdentLine *line, const char *system_user,
				 const regmatch_t *match, const char **err)
{
	const char *text = line->db_user.text;
	const char *at = strstr(text, "\\1");
	size_t group_len;
	size_t head;
	char *out;

	*err = NULL;
	if (match[1].rm_so < 0)
	{
		*err = "no group";
		return NULL;
	}
	group_len = (size_t) (match[1].rm_eo - match[1].rm_so);
	head = (size_t) (at - text);
	out = malloc(strlen(text) - 2 + group_len + 1);
	if (out == NULL)
	{
		*err = "out of memory";
		return NULL;
	}
	memcpy(out, text, head);
	memcpy(out + head, system_user + match[1].rm_so, group_len);
	strcpy(out + head + group_len, at + 2);
	return out;
}

/*
 * One line of the map against the pair: 1 allowed, 0 not, -1 error
 * (message set).
 */
static int
check_line(const CmIdentFile *file, const CmIdentLine *line,
		   const char *system_user, const char *db_user,
		   CmHbaIsMemberFn is_member, void *arg, char *message,
		   size_t message_len)
{
	regmatch_t match[2];
	const CmConfToken *db = &line->db_user;
	int r;

	if (line->system_user.kind != CM_CONF_TOKEN_REGEX)
	{
		if (strcmp(line->system_user.text, system_user) != 0)
			return 0;
	}
	else
	{
		int rc = cm_conf_regex_exec(file->store, line->system_user.regex,
									system_user, 2, match);

		if (rc == REG_NOMATCH)
			return 0;
		if (rc != 0)
		{
			char errbuf[128];

			regerror(rc, line->system_user.regex, errbuf, sizeof(errbuf));
			say(message, message_len,
				"regular expression match for \"%s\" failed: %s",
				line->system_user.text + 1, errbuf);
			return -1;
		}
		/* on 16+ "+group" and "/regex" keep their meaning: no "\1" there */
		if (db->kind != CM_CONF_TOKEN_GROUP &&
			db->kind != CM_CONF_TOKEN_REGEX && strstr(db->text, "\\1") != NULL)
		{
			const char *err;
			char *expanded = substitute_group(line, system_user, match, &err);

			if (expanded == NULL)
			{
				if (strcmp(err, "no group") == 0)
					say(message, message_len,
						"regular expression \"%s\" has no subexpressions as "
						"requested by backreference in \"%s\"",
						line->system_user.text + 1, db->text);
				else
					say(message, message_len, "%s", err);
				return -1;
			}
			/* the result is a literal name, never a keyword */
			r = strcmp(expanded, db_user) == 0;
			free(expanded);
			return r;
		}
	}
	r = cm_hba_role_token_matches(file->store, db, db_user, is_member, arg);
	if (r < 0)
		say(message, message_len,
			"could not check membership of role \"%s\" in \"%s\"", db_user,
			db->text + 1);
	return r;
}

CmIdentResult
cm_ident_check(const CmIdentFile *file, const char *map, const char *system_user,
			   const char *db_user, CmHbaIsMemberFn is_member, void *arg,
			   char *message, size_t message_len)
{
	if (message != NULL && message_len > 0)
		message[0] = '\0';
	if (system_user == NULL || db_user == NULL)
	{
		say(message, message_len, "no user name to check");
		return CM_IDENT_ERROR;
	}
	if (map == NULL || map[0] == '\0')
	{
		if (strcmp(db_user, system_user) == 0)
			return CM_IDENT_MATCH;
		say(message, message_len,
			"provided user name (%s) and authenticated user name (%s) do not "
			"match",
			db_user, system_user);
		return CM_IDENT_NO_MATCH;
	}
	if (file == NULL || file->nerrors > 0)
	{
		say(message, message_len, "the user map file is not loaded");
		return CM_IDENT_ERROR;
	}
	for (int i = 0; i < file->nlines; i++)
	{
		int r;

		if (strcmp(file->lines[i].map, map) != 0)
			continue;
		r = check_line(file, &file->lines[i], system_user, db_user, is_member,
					   arg, message, message_len);
		if (r > 0)
			return CM_IDENT_MATCH;
		if (r < 0)
			return CM_IDENT_ERROR;
	}
	say(message, message_len,
		"no match in usermap \"%s\" for user \"%s\" authenticated as \"%s\"",
		map, db_user, system_user);
	return CM_IDENT_NO_MATCH;
}
