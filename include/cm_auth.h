/*
 * cm_auth.h
 *		Pre-authentication of a client with the server's own pg_hba.conf and
 *		role secrets (auth.c), and the login into the target node as the
 *		client's role with the credential it leaves (login.c).
 *
 * Both are steps: the session hands one what came in and a bounded buffer
 * for the reply (cm_out.h), and the step says what happened.  The session
 * sends the reply to the right side and acts on the outcome; the steps
 * never touch the session, its sockets or its buffers.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_AUTH_H
#define CM_AUTH_H

#include <sys/socket.h>

#include "cm_out.h"
#include "cm_proof.h"
#include "cm_scram.h"

/* The longest message a client may send while authenticating, or get. */
#define CM_AUTH_MESSAGE_MAX 8192
/* The longest answer to the target's authentication requests. */
#define CM_LOGIN_REPLY_MAX (4096 + 64)

typedef enum CmStepStatus
{
	CM_STEP_CONTINUE, /* more input is needed */
	CM_STEP_HASH,	  /* hash the password off the loop (CmAuth below) */
	CM_STEP_DONE,
	CM_STEP_FAILED /* see the CmStepFailure */
} CmStepStatus;

/*
 * Why a step failed: what the client is told (FATAL), and the LOG line
 * that goes before it, if any.  Empty strings stand for none.
 */
typedef struct CmStepFailure
{
	const char *sqlstate;
	char message[512];
	char detail[512];
	char log[1024];
	char log_detail[512];
} CmStepFailure;

/*
 * Fills in a failure without a LOG line (the caller may write one after)
 * and returns CM_STEP_FAILED.  In auth.c, for login.c too.
 */
extern CmStepStatus cm_step_fail(CmStepFailure *fail, const char *sqlstate,
								 const char *message, const char *detail);

/* What the client proved, to be forwarded to the target. */
typedef enum CmCredential
{
	CM_CRED_NONE,	  /* trust or cert: the target must admit us */
	CM_CRED_PASSWORD, /* the cleartext password */
	CM_CRED_MD5,	  /* the stored md5 hash */
	CM_CRED_SCRAM	  /* the ClientKey recovered from the proof */
} CmCredential;

typedef enum CmAuthState
{
	CM_AUTH_AWAIT_PASSWORD,
	CM_AUTH_HASHING, /* the password is being hashed off the loop */
	CM_AUTH_AWAIT_MD5,
	CM_AUTH_AWAIT_SASL_INITIAL,
	CM_AUTH_AWAIT_SASL_RESPONSE,
	CM_AUTH_DONE
} CmAuthState;

/*
 * The client as the session knows it.  The strings and the TLS object
 * belong to the session and must outlive the CmAuth that points to them.
 */
typedef struct CmAuthClient
{
	const struct sockaddr_storage *addr;
	const char *addr_text; /* numeric, for messages */
	struct CmTls *tls;	   /* NULL: no SSL */
	const char *user;
	const char *database;
} CmAuthClient;

typedef struct CmAuth
{
	CmAuthClient client;
	CmAuthState state;
	int method;		 /* CmHbaMethod of the matching rule, -1 before */
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

/*
 * auth.c: towards the client.  cm_auth_begin() matches pg_hba.conf and
 * starts the exchange (*auth is set, or NULL when out of memory).
 * cm_auth_client_data() takes at most one whole message from data and says
 * in *used how many bytes it took: none when the message is not complete,
 * or when the exchange waits for nothing from the client (hashing, done).
 * CM_STEP_HASH: a->password is to be checked against a->secret off the
 * loop; cm_auth_password_hashed() follows with the salted password (NULL:
 * it could not be made), or, with no thread to do it,
 * cm_auth_check_password() checks in place.  Replies go to the client, and
 * only when the step did not fail.
 */
extern CmStepStatus cm_auth_begin(const CmAuthClient *client, CmAuth **auth,
								  CmOut *reply, CmStepFailure *fail);
extern CmStepStatus
cm_auth_client_data(CmAuth *a, const uint8 *data, size_t len, size_t *used,
					CmOut *reply, CmStepFailure *fail);
extern CmStepStatus
cm_auth_password_hashed(CmAuth *a, const uint8 *salted, CmStepFailure *fail);
extern CmStepStatus cm_auth_check_password(CmAuth *a, CmStepFailure *fail);
extern void cm_auth_free(CmAuth *a);

/* The target node as the session knows it. */
typedef struct CmLoginTarget
{
	const char *name; /* as dialled, for messages */
	const char *user; /* the client's role */
	bool tls;		  /* the connection to it has SSL */
	bool loopback;	  /* it is on this host's loopback */
} CmLoginTarget;

/*
 * login.c: towards the target.  Answers one AuthenticationRequest (msg is
 * the whole 'R' message, total its length) with the credential in a:
 * CM_STEP_CONTINUE, with the answer (if any) in reply for the target, or
 * CM_STEP_FAILED.
 */
extern CmStepStatus
cm_login_answer(CmAuth *a, const CmLoginTarget *target, const uint8 *msg,
				uint32 total, CmOut *reply, CmStepFailure *fail);

/*
 * Logs a WARNING, once per worker, when what (plural) is about to go to a
 * node that is not on loopback over a connection without SSL.
 */
extern void
cm_login_note_plaintext(const CmLoginTarget *target, const char *what);

#endif /* CM_AUTH_H */
