/*
 * cm_cancel.h
 *		Forwarding a client's CancelRequest to the server backend its key
 *		names (proxy/cancel.c).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CANCEL_H
#define CM_CANCEL_H

#include "postgres.h"

extern bool cm_cancel_forward(int32 pid, int32 key);
extern void cm_cancel_free_done(void);

#endif /* CM_CANCEL_H */
