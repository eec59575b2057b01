/*
 * cm_hash.h
 *		Password hashing off the event loop.  Checking a cleartext password
 *		against a SCRAM secret runs PBKDF2 with the secret's iteration count:
 *		milliseconds during which every other session of the worker would
 *		wait.  One helper thread per worker does it instead; the loop learns
 *		of finished jobs through an eventfd it watches.
 *
 * The thread runs only OpenSSL's PBKDF2 on the job's own bytes: no server
 * function, no memory context, no signal (all blocked in the thread).
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HASH_H
#define CM_HASH_H

#include "cm_session.h"
#include "cm_scram.h"

typedef struct CmHashJob
{
	dlist_node node;
	CmSession *owner; /* NULL once the session went away */
	char password[1025];
	uint8 salt[CM_SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	int32 iterations;
	uint8 salted[CM_SCRAM_KEY_LEN];
	bool ok;
} CmHashJob;

extern bool cm_hash_start(void);
typedef enum CmHashSubmit
{
	CM_HASH_QUEUED,		/* cm_auth_password_hashed() follows */
	CM_HASH_BUSY,		/* too many checks waiting: refuse the login */
	CM_HASH_UNAVAILABLE /* no thread: check in the loop */
} CmHashSubmit;

extern CmHashSubmit
cm_hash_submit(CmSession *s, const char *password, const CmScramSecret *secret);
extern void cm_hash_forget(CmSession *s);
extern void cm_hash_stop(void);

#endif /* CM_HASH_H */
