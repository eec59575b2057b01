/*
 * cm_worker.h
 *		Entry points of the connection manager's background workers.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_WORKER_H
#define CM_WORKER_H

#include "postgres.h"

/* How the workers are registered, and recognised when they are forked. */
#define CM_LIBRARY_NAME "connection_manager"
#define CM_PROXY_MAIN	"cm_proxy_main"
#define CM_MONITOR_MAIN "cm_monitor_main"

extern PGDLLEXPORT void cm_proxy_main(Datum arg);
extern PGDLLEXPORT void cm_monitor_main(Datum arg);

#endif /* CM_WORKER_H */
