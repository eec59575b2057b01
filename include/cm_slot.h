/*
 * cm_slot.h
 *		A proxy worker's session slots in shared memory (cm_shmem.h): each
 *		session that reaches a server holds one, with the cancel key we gave
 *		its client and the server's own, so that a CancelRequest arriving at
 *		any worker finds the server backend to cancel.
 *
 * The process id a client sees names the node and the slot
 * (cm_cancel_key.h); the key is a random secret.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_SLOT_H
#define CM_SLOT_H

#include "cm_shmem.h"

extern int cm_slot_acquire(const CmTarget *target);
extern void cm_slot_release(int slot);
extern void cm_slot_set_server_key(int slot, int32 server_pid, int32 server_key,
								   int32 *client_pid, int32 *client_key);
extern bool
cm_slot_cancel_target(int slot, int32 client_key, struct sockaddr_storage *addr,
					  socklen_t *addrlen, int32 *server_pid, int32 *server_key);
extern bool cm_slot_server_target(int slot, struct sockaddr_storage *addr,
								  socklen_t *addrlen, int32 *server_pid,
								  int32 *server_key);

#endif /* CM_SLOT_H */
