/*
 * cm_cancel.h
 *		Forwarding a client's CancelRequest to the server backend its key
 *		names, or to the node whose manager holds the session
 *		(proxy/cancel.c).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CANCEL_H
#define CM_CANCEL_H

#include "postgres.h"

#include <sys/socket.h>

#include "cm_port.h"

extern void cm_cancel_request(CmPortKind port, int32 pid, int32 key,
							  const struct sockaddr_storage *from);
extern void cm_cancel_session(int slot);
extern void cm_cancel_free_done(void);

#endif /* CM_CANCEL_H */
