/*
 * cm_port.h
 *		The kinds of client port the connection manager serves.
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
