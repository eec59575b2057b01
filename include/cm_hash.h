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
 * Whoever submits a job names what to call when it is done and with what;
 * this module knows nothing of sessions or authentication.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_HASH_H
#define CM_HASH_H

#include "cm_scram.h"

typedef struct CmHashJob CmHashJob;

/*
 * Called in the loop's thread, when the eventfd says jobs are done, with
 * the salted password (NULL when it could not be made).  Not called for a
 * job whose owner forgot it.
 */
typedef void (*CmHashDone)(void *owner, const uint8_t *salted);

typedef enum CmHashSubmit
{
	CM_HASH_QUEUED,		/* done(owner, ...) follows */
	CM_HASH_BUSY,		/* too many checks waiting: refuse the login */
	CM_HASH_UNAVAILABLE /* no thread: check in the loop */
} CmHashSubmit;

extern bool cm_hash_start(void);

/* Queues password against secret's salt and iterations; *job when queued. */
extern CmHashSubmit
cm_hash_submit(const char *password, const CmScramSecret *secret,
			   CmHashDone done, void *owner, CmHashJob **job);

/* The owner goes away: its job, queued or running, is dropped; *job = NULL. */
extern void cm_hash_forget(CmHashJob **job);

extern void cm_hash_stop(void);

#endif /* CM_HASH_H */
