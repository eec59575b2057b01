/*
 * cm_hba_load.h
 *		The worker's copy of the server's pg_hba.conf, read at start and on
 *		SIGHUP.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HBA_LOAD_H
#define CM_HBA_LOAD_H

#include "cm_hba_match.h"
#include "cm_ident_match.h"

extern void cm_hba_reload(void);
extern CmHbaFile *cm_hba_parse_server_file(int elevel);
extern const CmHbaFile *cm_hba_current(void);
extern const CmIdentFile *cm_ident_current(void);
/*
 * The host's addresses as they are now, for samehost and samenet: read
 * again at each call when the rules in use name them, else none.  Valid
 * until the next call.  A failed read is logged and gives none.
 */
extern const CmHbaInterface *cm_hba_interfaces(int *count);

#endif /* CM_HBA_LOAD_H */
