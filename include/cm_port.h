/*
 * cm_port.h
 *		The kinds of client port the connection manager serves.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_PORT_H
#define CM_PORT_H

typedef enum CmPortKind
{
	CM_PORT_READ_WRITE = 0,
	CM_PORT_READ_ONLY,
	CM_PORT_KINDS
} CmPortKind;

extern const char *cm_port_kind_name(CmPortKind kind);

#endif /* CM_PORT_H */
