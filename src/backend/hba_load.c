/*
 * backend/hba_load.c
 *		Reads the server's hba_file with our own parser, in each proxy
 *		worker, at start and on SIGHUP.  A file that does not parse keeps
 *		the rules in use and logs why, as the server does; a worker that
 *		never had a good file refuses every client.  Rules that cannot be
 *		honoured are logged once per load.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <sys/stat.h>

#include "libpq/hba.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "cm_hba_load.h"

#define CM_HBA_FILE_MAX (16 * 1024 * 1024)

static CmHbaFile *current = NULL;
static CmIdentFile *current_ident = NULL;
static CmHbaInterface *interfaces = NULL;
static int ninterfaces = 0;

/* Reads a whole file with malloc; 0 or an errno value. */
static int
read_whole_file(void *arg, const char *path, char **data, size_t *len)
{
	FILE *f;
	struct stat st;
	size_t got;

	(void) arg;
	*data = NULL;
	*len = 0;
	f = fopen(path, "r");
	if (f == NULL)
		return errno ? errno : ENOENT;
	if (fstat(fileno(f), &st) < 0 || st.st_size > CM_HBA_FILE_MAX)
	{
		fclose(f);
		return EFBIG;
	}
	*data = malloc((size_t) st.st_size + 1);
	if (*data == NULL)
	{
		fclose(f);
		return ENOMEM;
	}
	got = fread(*data, 1, (size_t) st.st_size, f);
	fclose(f);
	(*data)[got] = '\0';
	*len = got;
	return 0;
}

static void
log_skipped_rules(const CmHbaFile *file)
{
	for (int i = 0; i < file->nrules; i++)
	{
		const char *why = cm_hba_skip_reason(&file->rules[i]);

		if (why != NULL)
			ereport(WARNING,
					(errmsg("connection_manager: skipping the rule at line %d of \"%s\": %s",
							file->rules[i].line, file->rules[i].file, why)));
	}
}

/* Each error of a file, the way the server reports its own. */
static void
log_errors(const CmConfError *errors, int n)
{
	for (int i = 0; i < n; i++)
		ereport(LOG, (errmsg("connection_manager: %s", errors[i].message),
					  errcontext("line %d of configuration file \"%s\"",
								 errors[i].line, errors[i].file)));
}

/* pg_ident.conf, for cert rules with map=; the same keep-on-error rule. */
static void
ident_reload(void)
{
	CmHbaParseOptions opts;
	CmIdentFile *file;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = read_whole_file(NULL, IdentFileName, &text, &len);
	if (rc != 0)
	{
		ereport(LOG, (errmsg("connection_manager: could not read \"%s\": %s",
							 IdentFileName, strerror(rc))));
		return;
	}
	cm_hba_parse_options_init(&opts);
	opts.server_major = PG_VERSION_NUM / 10000;
	opts.read_file = read_whole_file;
	file = cm_ident_parse(text, len, IdentFileName, &opts);
	free(text);
	if (file == NULL)
		return;
	if (file->nerrors > 0)
	{
		log_errors(file->errors, file->nerrors);
		if (current_ident != NULL)
		{
			cm_ident_free(file);
			return;
		}
	}
	if (current_ident != NULL)
		cm_ident_free(current_ident);
	current_ident = file;
}

const CmIdentFile *
cm_ident_current(void)
{
	return current_ident;
}

/*
 * The server's hba_file as our parser reads it, or NULL after logging why
 * it could not be read (at elevel).  The caller frees it.
 */
CmHbaFile *
cm_hba_parse_server_file(int elevel)
{
	CmHbaParseOptions opts;
	CmHbaFile *file;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = read_whole_file(NULL, HbaFileName, &text, &len);
	if (rc != 0)
	{
		ereport(elevel, (errmsg("connection_manager: could not read \"%s\": %s",
								HbaFileName, strerror(rc))));
		return NULL;
	}
	cm_hba_parse_options_init(&opts);
	opts.server_major = PG_VERSION_NUM / 10000;
	opts.ssl_enabled = EnableSSL;
	opts.read_file = read_whole_file;
	file = cm_hba_parse(text, len, HbaFileName, &opts);
	free(text);
	if (file == NULL)
		ereport(elevel,
				(errmsg("connection_manager: out of memory reading \"%s\"",
						HbaFileName)));
	return file;
}

void
cm_hba_reload(void)
{
	CmHbaFile *file;
	ident_reload();

	file = cm_hba_parse_server_file(LOG);
	if (file == NULL)
		return; /* the rules in use are kept */
	if (file->nerrors > 0)
	{
		log_errors(file->errors, file->nerrors);
		if (current != NULL)
		{
			ereport(LOG,
					(errmsg("connection_manager: \"%s\" has errors, the rules in use were kept",
							HbaFileName)));
			cm_hba_free(file);
			return;
		}
	}
	log_skipped_rules(file);
	if (current != NULL)
		cm_hba_free(current);
	current = file;
}

const CmHbaFile *
cm_hba_current(void)
{
	return current;
}

/*
 * Read for every connection judged, as the server reads them: a floating
 * address that moves to or from this host changes what samehost and
 * samenet match at once, without a reload.  Only a file that names them
 * pays for getifaddrs().
 */
const CmHbaInterface *
cm_hba_interfaces(int *count)
{
	int rc;

	free(interfaces);
	interfaces = NULL;
	ninterfaces = 0;
	*count = 0;
	if (!cm_hba_uses_interfaces(current))
		return NULL;
	rc = cm_hba_interfaces_from_system(&interfaces, &ninterfaces);
	if (rc != 0)
	{
		ereport(LOG,
				(errmsg("connection_manager: could not enumerate network interfaces: %s",
						strerror(rc)),
				 errdetail(
					 "Rules with samehost or samenet match no client until they can be read, as in the server.")));
		interfaces = NULL;
		ninterfaces = 0;
		return NULL;
	}
	*count = ninterfaces;
	return interfaces;
}
