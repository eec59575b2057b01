/*
 * cm_worker.h
 *		Entry points of the connection manager's background workers.
 */
#ifndef CM_WORKER_H
#define CM_WORKER_H

#include "postgres.h"

extern PGDLLEXPORT void cm_proxy_main(Datum arg);
extern PGDLLEXPORT void cm_monitor_main(Datum arg);

#endif /* CM_WORKER_H */
