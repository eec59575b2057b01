/*
 * cm_client.h
 *		The client's side of a session until the relay (proxy/client.c):
 *		first packets, TLS, and authentication.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_CLIENT_H
#define CM_CLIENT_H

#include "cm_session.h"

extern void cm_client_input(CmSession *s);
extern void cm_client_tls_begin(CmSession *s, const uint8 *prefix, size_t len);
extern void cm_client_tls_step(CmSession *s);

#endif /* CM_CLIENT_H */
