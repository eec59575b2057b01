/*
 * cm_auth.h
 *		Pre-authentication of a client with the server's own pg_hba.conf and
 *		role secrets, and the credential it leaves for logging into the
 *		target node as the client's role.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_AUTH_H
#define CM_AUTH_H

#include "cm_proof.h"
#include "cm_session.h"
#include "cm_scram.h"

/* What the client proved, to be forwarded to the target. */
typedef enum CmCredential
{
	CM_CRED_NONE,	  /* trust or cert: the target must admit us */
	CM_CRED_PASSWORD, /* the cleartext password */
	CM_CRED_MD5,	  /* the stored md5 hash */
	CM_CRED_SCRAM	  /* the ClientKey recovered from the proof */
} CmCredential;

typedef enum CmAuthStep
{
	CM_AUTH_AWAIT_PASSWORD,
	CM_AUTH_HASHING, /* the password is being hashed off the loop */
	CM_AUTH_AWAIT_MD5,
	CM_AUTH_AWAIT_SASL_INITIAL,
	CM_AUTH_AWAIT_SASL_RESPONSE,
	CM_AUTH_DONE
} CmAuthStep;

typedef struct CmAuth
{
	CmAuthStep step;
	int method;		 /* CmHbaMethod of the matching rule */
	int rule_line;	 /* for the log */
	bool have_scram; /* secret parsed (real or mock) */
	CmScramSecret secret;
	char md5_hash[40]; /* stored md5 hash, or "" */
	uint8 md5_salt[4];
	CmScramServer *scram_server;
	CmScramClient *scram_client; /* towards the target */
	CmCredential credential;
	char password[1025];
	uint8 client_key[CM_SCRAM_KEY_LEN];
	bool have_client_key; /* client_key is valid (SCRAM or hashed password) */
	/* cm_proof_role_digest() of the role secret read, or "" */
	char secret_digest[CM_PROOF_DIGEST_HEX_LEN + 1];
} CmAuth;

/* auth.c: towards the client */
extern void cm_auth_begin(CmSession *s);
extern void cm_auth_client_data(CmSession *s);
extern void cm_auth_free(CmSession *s);
extern void cm_auth_password_hashed(CmSession *s, const uint8 *salted);

/* login.c: towards the target */
extern bool cm_login_answer(CmSession *s, const uint8 *msg, uint32 total);

/*
 * Logs a WARNING, once per worker, when what (plural) is about to go to a
 * node that is not on loopback over a connection without SSL.
 */
extern void cm_login_note_plaintext(CmSession *s, const char *what);

#endif /* CM_AUTH_H */
