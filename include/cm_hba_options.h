/*
 * cm_hba_options.h
 *		The authentication options of a pg_hba.conf rule (name=value after
 *		the method), read and checked the way the server does.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HBA_OPTIONS_H
#define CM_HBA_OPTIONS_H

#include "cm_conf_store.h"
#include "cm_conf_token.h"
#include "cm_hba_parse.h"

/*
 * Reads the options in the fields of line from first on into rule, whose
 * connection type and method are already known.  Returns NULL, or the
 * error for the line.
 */
extern const char *
cm_hba_options_parse(CmConfStore *store, const CmConfLine *line, int first,
					 CmHbaRule *rule);

#endif /* CM_HBA_OPTIONS_H */
