/*
 * cm_server.h
 *		The server's side of a session until the relay (proxy/server.c):
 *		connecting to the target the route chose, SSL, and the login.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_SERVER_H
#define CM_SERVER_H

#include "cm_session.h"

extern void cm_server_connect(CmSession *s);
extern bool cm_server_connecting_event(CmSession *s, uint32 *events);
extern void cm_server_scan_login(CmSession *s);

#endif /* CM_SERVER_H */
