/*
 * pure/ident_parse.c
 *		pg_ident.conf into user maps, with the pg_hba.conf tokenizer: each
 *		line a map name, a system user (a name or a regular expression) and
 *		a database user.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_ident_parse.h"
#include "cm_conf_regex.h"

#include <stdlib.h>
#include <string.h>

/*
 * One tokenized line into a map line (entry): the CmConfFormat of
 * pg_ident.conf, with the CmHbaParseOptions as arg.  Returns NULL or the
 * error.
 */
static const char *
parse_ident_line(CmConfStore *store, const void *arg, const CmConfLine *tl,
				 void *entry)
{
	int server_major = ((const CmHbaParseOptions *) arg)->server_major;
	CmIdentLine *out = entry;

	/* extra fields after the third are ignored, as by the server */
	for (int f = 0; f < 3; f++)
	{
		if (f >= tl->nfields)
			return "missing entry at end of line";
		if (tl->fields[f].ntokens > 1)
			return "multiple values in ident field";
	}
	out->file = tl->file;
	out->line = tl->line;
	out->map = tl->fields[0].tokens[0].text;
	out->system_user = tl->fields[1].tokens[0];
	out->db_user = tl->fields[2].tokens[0];
	out->system_user.kind = CM_CONF_TOKEN_NAME;
	out->db_user.kind = CM_CONF_TOKEN_NAME;
	if (out->system_user.text[0] == '/')
	{
		const char *err = cm_conf_regex_compile(store, &out->system_user, true);

		if (err != NULL)
			return err;
	}
	if (server_major >= 16)
		return cm_hba_classify_role(store, server_major, &out->db_user);
	return NULL;
}

CmIdentFile *
cm_ident_parse(const char *text, size_t len, const char *path,
			   const CmHbaParseOptions *opts)
{
	static const CmConfFormat format = {parse_ident_line, sizeof(CmIdentLine),
										false};
	CmIdentFile *file = calloc(1, sizeof(CmIdentFile));
	CmConfParsed parsed;

	if (file == NULL)
		return NULL;
	file->store =
		cm_hba_parse_format(text, len, path != NULL ? path : "pg_ident.conf",
							opts, &format, &file->server_major, &parsed);
	if (file->store == NULL)
	{
		free(file);
		return NULL;
	}
	file->nlines = parsed.nentries;
	file->lines = parsed.entries;
	file->nerrors = parsed.nerrors;
	file->errors = parsed.errors;
	return file;
}

void
cm_ident_free(CmIdentFile *file)
{
	if (file == NULL)
		return;
	cm_conf_store_free(file->store);
	free(file);
}
