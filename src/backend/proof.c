/*
 * backend/proof.c
 *		The backend side of the connection manager's proof (see cm_proof.h):
 *		the cluster secret file, the two settings, the authentication hook
 *		that refuses unproven "trust"/"cert" connections from the manager's
 *		addresses, the shared nonce table against replays, and the real
 *		client address each proven session stated.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "access/parallel.h"
#include "access/xlog.h"
#include "common/ip.h"
#include "libpq/auth.h"
#include "libpq/crypt.h"
#include "libpq/hba.h"
#include "libpq/ifaddr.h"
#include "libpq/libpq.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "replication/walsender.h"
#include "storage/backendid.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "cm_proof.h"

/*
 * Nonces are remembered until their token expires.  A nonce's slot is
 * found from its low bits (nonces are random) and the few after it; when
 * all of those are still live, the one expiring first is dropped, and a
 * replay of that proof would go unnoticed.  Nonces stay live about 60
 * seconds; simulated with random nonces, the first drops come at about
 * 200 proven logins a second on one node (12000 live nonces: 55 in a
 * million logins), 630 in a million at 300 a second, over 1% at 500
 * (1 MB of shared memory).  A node that has just started (or reset its
 * shared memory after a crash) remembers nothing: proofs dated before
 * that are refused.
 */
#define NONCE_SLOTS		  65536 /* a power of two */
#define NONCE_PROBES	  8
#define EVICTION_LOG_SECS 60

typedef struct ProofNonce
{
	uint64 nonce;
	int64 expires; /* unix seconds; live while >= now */
} ProofNonce;

/* What a proven session's token said about its client. */
typedef struct ProofClient
{
	slock_t mutex;
	int pid; /* 0 when the slot is free */
	int port;
	char addr[CM_PROOF_ADDR_MAX + 1];
} ProofClient;

typedef struct ProofShared
{
	slock_t nonce_lock;
	int64 nonces_since; /* unix seconds: the table is empty before */
	int64 last_eviction_log;
	uint64 evictions;
	ProofNonce nonces[NONCE_SLOTS];
	int nclients;
	ProofClient clients[FLEXIBLE_ARRAY_MEMBER]; /* by BackendId - 1 */
} ProofShared;

/* connection_manager.proof_required_from, parsed by its check hook */
typedef struct ProofNet
{
	struct sockaddr_storage addr;
	struct sockaddr_storage mask;
} ProofNet;

typedef struct ProofNetList
{
	int n;
	ProofNet nets[FLEXIBLE_ARRAY_MEMBER];
} ProofNetList;

/* Read by the postmaster, inherited by every process it forks. */
static uint8 cluster_secret[CM_PROOF_SECRET_LEN];
static bool secret_loaded = false;

static char *proof_setting = NULL;
static char *required_from_setting = NULL;
static const ProofNetList *required_from = NULL;

/* The token this backend verified, the only value the setting may take. */
static char verified_token[CM_PROOF_TOKEN_SIZE];

static ProofShared *proof_shared = NULL;

static ClientAuthentication_hook_type prev_client_authentication = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static void
secret_fail(const char *action, const char *path) pg_attribute_noreturn();
static void proof_refuse(const Port *port, bool required, const char *detail)
	pg_attribute_noreturn();

/* ---- the secret file ---- */

static void
secret_fail(const char *action, const char *path)
{
	ereport(FATAL, (errcode_for_file_access(),
					errmsg("connection_manager: could not %s file \"%s\": %m",
						   action, path)));
}

/*
 * Writes a new secret under a temporary name and links it into place:
 * link() never replaces a file, so a secret that appeared meanwhile wins
 * and nobody ever reads a half-written one.
 */
static void
secret_create(void)
{
	uint8 bytes[CM_PROOF_SECRET_LEN];
	char tmp[MAXPGPATH];
	int fd;

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(FATAL, (errmsg("connection_manager: could not generate the cluster "
							   "secret")));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", CM_PROOF_SECRET_FILE,
			 (int) getpid());
	(void) unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		secret_fail("create", tmp);
	errno = 0;
	if (write(fd, bytes, sizeof(bytes)) != (ssize_t) sizeof(bytes) ||
		pg_fsync(fd) != 0)
	{
		int save_errno = errno ? errno : ENOSPC;

		close(fd);
		(void) unlink(tmp);
		errno = save_errno;
		secret_fail("write", tmp);
	}
	explicit_bzero(bytes, sizeof(bytes));
	if (close(fd) != 0)
		secret_fail("write", tmp);
	if (link(tmp, CM_PROOF_SECRET_FILE) != 0 && errno != EEXIST)
	{
		int save_errno = errno;

		(void) unlink(tmp);
		errno = save_errno;
		secret_fail("create", CM_PROOF_SECRET_FILE);
	}
	(void) unlink(tmp);

	/* make the new directory entry durable */
	fd = open(".", O_RDONLY | PG_BINARY);
	if (fd < 0 || pg_fsync(fd) != 0)
		secret_fail("fsync", "data directory");
	close(fd);
	ereport(LOG, (errmsg("connection_manager: created the cluster secret \"%s\"",
						 CM_PROOF_SECRET_FILE),
				  errdetail("Every node of the cluster needs the same file: "
							"pg_basebackup copies it; copy it to nodes built "
							"otherwise.")));
}

/* The postmaster's working directory is the data directory. */
static void
secret_load(void)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(CM_PROOF_SECRET_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0 && errno == ENOENT)
	{
		secret_create();
		fd = open(CM_PROOF_SECRET_FILE, O_RDONLY | PG_BINARY);
	}
	if (fd < 0)
		secret_fail("open", CM_PROOF_SECRET_FILE);
	if (fstat(fd, &st) != 0)
		secret_fail("stat", CM_PROOF_SECRET_FILE);
	if (!S_ISREG(st.st_mode))
		ereport(FATAL, (errcode(ERRCODE_CONFIG_FILE_ERROR),
						errmsg("connection_manager: \"%s\" is not a regular file",
							   CM_PROOF_SECRET_FILE)));
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: secret file \"%s\" has group or "
						"world access",
						CM_PROOF_SECRET_FILE),
				 errhint("Make it readable by the server's user only: chmod "
						 "0600.")));
	if (st.st_size != CM_PROOF_SECRET_LEN)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: secret file \"%s\" has %lld "
						"bytes, expected %d",
						CM_PROOF_SECRET_FILE, (long long) st.st_size,
						CM_PROOF_SECRET_LEN),
				 errhint("Copy the file from another node of the cluster, "
						 "or remove it on a cluster's first node to have a "
						 "new one made.")));
	n = read(fd, cluster_secret, CM_PROOF_SECRET_LEN);
	if (n != CM_PROOF_SECRET_LEN)
	{
		if (n >= 0)
			errno = EIO;
		secret_fail("read", CM_PROOF_SECRET_FILE);
	}
	close(fd);
	secret_loaded = true;
}

/* ---- settings ---- */

static bool
check_required_from(char **newval, void **extra, GucSource source)
{
	char *raw = pstrdup(*newval ? *newval : "");
	List *items = NIL;
	ProofNetList *list;
	ListCell *lc;
	bool ok = true;

	if (!SplitGUCList(raw, ',', &items))
	{
		GUC_check_errdetail("List syntax is invalid.");
		pfree(raw);
		list_free(items);
		return false;
	}
	list = malloc(offsetof(ProofNetList, nets) +
				  Max(list_length(items), 1) * sizeof(ProofNet));
	if (list == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errdetail("Out of memory.");
		pfree(raw);
		list_free(items);
		return false;
	}
	list->n = 0;
	foreach (lc, items)
	{
		char *item = (char *) lfirst(lc);
		char *slash = strchr(item, '/');
		ProofNet *net = &list->nets[list->n];
		struct addrinfo hints;
		struct addrinfo *ai = NULL;
		int rc;

		if (slash != NULL)
			*slash = '\0';
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_NUMERICHOST;
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		rc = pg_getaddrinfo_all(item, NULL, &hints, &ai);
		if (rc != 0 || ai == NULL ||
			(ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
		{
			GUC_check_errdetail("\"%s\" is not a numeric IP address.", item);
			ok = false;
		}
		else
		{
			memset(&net->addr, 0, sizeof(net->addr));
			memcpy(&net->addr, ai->ai_addr, ai->ai_addrlen);
			if (pg_sockaddr_cidr_mask(&net->mask, slash ? slash + 1 : NULL,
									  net->addr.ss_family) < 0)
			{
				GUC_check_errdetail("\"%s\" is not a valid CIDR mask for "
									"address \"%s\".",
									slash + 1, item);
				ok = false;
			}
		}
		if (ai != NULL)
			pg_freeaddrinfo_all(hints.ai_family, ai);
		if (!ok)
			break;
		list->n++;
	}
	pfree(raw);
	list_free(items);
	if (!ok)
	{
		free(list);
		return false;
	}
	*extra = list;
	return true;
}

static void
assign_required_from(const char *newval, void *extra)
{
	required_from = (const ProofNetList *) extra;
}

/*
 * Only the token this backend verified may become the setting's value: a
 * token that reaches the setting another way ("-c" inside "options", a
 * role's settings) was never checked.  A parallel worker copies its
 * leader's value.
 */
static bool
check_proof_setting(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || InitializingParallelWorker)
		return true;
	if (verified_token[0] != '\0' && strcmp(*newval, verified_token) == 0)
		return true;
	GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
	GUC_check_errmsg("connection_manager: \"%s\" can only be set by a "
					 "connection manager, as a startup packet parameter",
					 CM_PROOF_SETTING);
	return false;
}

static void
define_settings(void)
{
	DefineCustomStringVariable(CM_PROOF_SETTING,
							   "Proof that a connection comes from a "
							   "connection manager of this cluster.",
							   "Sent by the connection manager in the "
							   "startup packet; checked at authentication.",
							   &proof_setting, "", PGC_BACKEND,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE |
								   GUC_SUPERUSER_ONLY | GUC_DISALLOW_IN_FILE,
							   check_proof_setting, NULL, NULL);
	DefineCustomStringVariable("connection_manager.proof_required_from",
							   "Client addresses whose trust or cert "
							   "connections must prove they come from a "
							   "connection manager.",
							   "A list of IP addresses or CIDR blocks; "
							   "empty requires no proof.",
							   &required_from_setting, "127.0.0.0/8, ::1/128",
							   PGC_SIGHUP, 0, check_required_from,
							   assign_required_from, NULL);
}

/* ---- shared memory ---- */

static Size
proof_shmem_size(void)
{
	return add_size(offsetof(ProofShared, clients),
					mul_size(MaxBackends, sizeof(ProofClient)));
}

static void
proof_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(proof_shmem_size());
}

static void
proof_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup)
		prev_shmem_startup();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	proof_shared =
		ShmemInitStruct("connection_manager proof", proof_shmem_size(), &found);
	if (!found)
	{
		memset(proof_shared, 0, proof_shmem_size());
		SpinLockInit(&proof_shared->nonce_lock);
		proof_shared->nonces_since = (int64) time(NULL);
		proof_shared->nclients = MaxBackends;
		for (int i = 0; i < MaxBackends; i++)
			SpinLockInit(&proof_shared->clients[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Remembers a nonce until its token expires; false when it is already
 * remembered, i.e. the token is a replay.
 */
static bool
nonce_remember(const uint8 nonce[CM_PROOF_NONCE_LEN], int64 seconds, int64 now)
{
	ProofNonce *table = proof_shared->nonces;
	uint64 key;
	uint32 start;
	int victim = -1;
	bool fresh = true;
	bool log_eviction = false;

	memcpy(&key, nonce, sizeof(key));
	start = (uint32) (key & (NONCE_SLOTS - 1));

	SpinLockAcquire(&proof_shared->nonce_lock);
	for (int i = 0; i < NONCE_PROBES; i++)
	{
		int slot = (start + i) & (NONCE_SLOTS - 1);

		if (table[slot].expires >= now && table[slot].nonce == key)
		{
			fresh = false;
			break;
		}
		if (victim < 0 || table[slot].expires < table[victim].expires)
			victim = slot;
	}
	if (fresh)
	{
		if (table[victim].expires >= now)
		{
			proof_shared->evictions++;
			if (now - proof_shared->last_eviction_log >= EVICTION_LOG_SECS)
			{
				proof_shared->last_eviction_log = now;
				log_eviction = true;
			}
		}
		table[victim].nonce = key;
		table[victim].expires = seconds + CM_PROOF_WINDOW_SECONDS;
	}
	SpinLockRelease(&proof_shared->nonce_lock);

	if (log_eviction)
		ereport(LOG, (errmsg("connection_manager: the proof nonce table is "
							 "full; a replay of a proof up to %d seconds old "
							 "may go unnoticed",
							 2 * CM_PROOF_WINDOW_SECONDS),
					  errdetail("The table holds %d nonces.", NONCE_SLOTS)));
	return fresh;
}

static void
client_slot_clear(int code, Datum arg)
{
	ProofClient *c = &proof_shared->clients[DatumGetInt32(arg)];

	SpinLockAcquire(&c->mutex);
	c->pid = 0;
	SpinLockRelease(&c->mutex);
}

static void
client_slot_set(const CmProofToken *t)
{
	int index = MyBackendId - 1;
	ProofClient *c;

	if (index < 0 || index >= proof_shared->nclients)
		return;
	c = &proof_shared->clients[index];
	SpinLockAcquire(&c->mutex);
	c->pid = MyProcPid;
	c->port = t->claims.client_port;
	strlcpy(c->addr, t->claims.client_addr, sizeof(c->addr));
	SpinLockRelease(&c->mutex);
	on_shmem_exit(client_slot_clear, Int32GetDatum(index));
}

bool
cm_proof_client_of(int pid, char *addr, size_t addrlen, int *port)
{
	if (proof_shared == NULL || pid <= 0)
		return false;
	for (int i = 0; i < proof_shared->nclients; i++)
	{
		volatile ProofClient *c = &proof_shared->clients[i];
		bool found = false;

		if (c->pid != pid)
			continue;
		SpinLockAcquire(&c->mutex);
		if (c->pid == pid)
		{
			strlcpy(addr, (const char *) c->addr, addrlen);
			*port = c->port;
			found = true;
		}
		SpinLockRelease(&c->mutex);
		if (found)
			return true;
	}
	return false;
}

/* ---- authentication ---- */

bool
cm_proof_required_from(const struct sockaddr_storage *addr)
{
	if (required_from == NULL)
		return false;
	for (int i = 0; i < required_from->n; i++)
	{
		const ProofNet *net = &required_from->nets[i];

		if (net->addr.ss_family == addr->ss_family &&
			pg_range_sockaddr(addr, &net->addr, &net->mask))
			return true;
	}
	return false;
}

/*
 * A physical replication connection is exempt: it matches only
 * "replication" lines of pg_hba.conf, never the line that admits the
 * connection manager, which itself refuses replication.
 */
static bool
proof_required(const Port *port)
{
	if (port->raddr.addr.ss_family != AF_INET &&
		port->raddr.addr.ss_family != AF_INET6)
		return false;
	if (port->hba == NULL ||
		(port->hba->auth_method != uaTrust && port->hba->auth_method != uaCert))
		return false;
	if (am_walsender && !am_db_walsender)
		return false;
	return cm_proof_required_from(&port->raddr.addr);
}

/* Ends the connection; what failed is told to the server log only. */
static void
proof_refuse(const Port *port, bool required, const char *detail)
{
	char *line = NULL;

	if (port->hba != NULL)
		line = psprintf("Connection matched pg_hba.conf line %d: \"%s\"",
						port->hba->linenumber, port->hba->rawline);
	if (required)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("connection_manager: connection from a connection "
						"manager address without a valid proof"),
				 errdetail_log("%s%s%s", detail, line ? "\n" : "",
							   line ? line : ""),
				 errhint("pg_hba.conf admits this address by \"trust\" or "
						 "\"cert\" for the connection manager only; connect "
						 "through the connection manager's port, or from "
						 "another address or method.")));
	ereport(FATAL,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("connection_manager: invalid connection manager proof"),
			 errdetail_log("%s%s%s", detail, line ? "\n" : "",
						   line ? line : "")));
}

static const char *
status_detail(CmProofStatus status, const CmProofToken *t, int64 now,
			  const Port *port)
{
	switch (status)
	{
		case CM_PROOF_MALFORMED:
			return "The proof is malformed.";
		case CM_PROOF_BAD_MAC:
			return psprintf("The proof's HMAC does not match user \"%s\", "
							"database \"%s\" and this node's secret file "
							"\"%s\" (is it the same on every node?).",
							port->user_name, port->database_name,
							CM_PROOF_SECRET_FILE);
		case CM_PROOF_TOO_OLD:
			return psprintf("The proof is %lld seconds old; at most %d are "
							"allowed (are the nodes' clocks synchronized?).",
							(long long) (now - t->seconds),
							CM_PROOF_WINDOW_SECONDS);
		case CM_PROOF_TOO_NEW:
			return psprintf("The proof is dated %lld seconds ahead of this "
							"node's clock; at most %d are allowed (are the "
							"nodes' clocks synchronized?).",
							(long long) (t->seconds - now),
							CM_PROOF_WINDOW_SECONDS);
		case CM_PROOF_INTERNAL:
			return "The proof's HMAC could not be computed.";
		case CM_PROOF_OK:
			break;
	}
	return "The proof is valid.";
}

/* The address a token's text names, with port; false if it names none. */
static bool
claim_sockaddr(const char *text, int port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *) out)->sin_addr) == 1)
	{
		out->ss_family = AF_INET;
		((struct sockaddr_in *) out)->sin_port = htons((uint16) port);
		return true;
	}
	if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *) out)->sin6_addr) == 1)
	{
		out->ss_family = AF_INET6;
		((struct sockaddr_in6 *) out)->sin6_port = htons((uint16) port);
		return true;
	}
	return false;
}

/*
 * Why the token is not for this node, or NULL when it is: the cluster's
 * system identifier, this server's port, and the local address the
 * connection arrived on.
 */
static const char *
target_mismatch(const Port *port, const CmProofClaims *c)
{
	char here[CM_PROOF_ADDR_MAX + 1];

	if (c->system_identifier != GetSystemIdentifier())
		return psprintf("The proof is for the cluster with system identifier "
						"%llu; this node's is %llu.",
						(unsigned long long) c->system_identifier,
						(unsigned long long) GetSystemIdentifier());
	if (c->target_port != PostPortNumber)
		return psprintf("The proof is for port %d; this node listens on %d.",
						c->target_port, PostPortNumber);
	if (!cm_proof_addr_text((const struct sockaddr *) &port->laddr.addr, here,
							sizeof(here)))
		return "The proof came over a Unix-domain socket, which a connection "
			   "manager never uses.";
	if (strcmp(here, c->target_addr) != 0)
		return psprintf("The proof is for address %s; the connection arrived "
						"on %s (do nodes reach each other through a NAT?).",
						c->target_addr, here);
	return NULL;
}

/*
 * Ends a proven session that this node's own pg_hba.conf does not allow.
 * password_refusal, when not NULL, is why the password claim failed: the
 * session then ends as a wrong password does (28P01), with that reason in
 * the log.
 */
static void
judge_refuse(const Port *client, const char *message, const char *how,
			 const char *password_refusal) pg_attribute_noreturn();

static void
judge_refuse(const Port *client, const char *message, const char *how,
			 const char *password_refusal)
{
	const HbaLine *hba = client->hba;
	const char *line = "";

	if (hba != NULL && hba->rawline != NULL)
		line = psprintf(" by line %d: \"%s\"", hba->linenumber, hba->rawline);
	ereport(FATAL,
			(errcode(password_refusal != NULL
						 ? ERRCODE_INVALID_PASSWORD
						 : ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("%s", message),
			 errdetail_log("A connection manager vouched for client host=%s "
						   "port=%s (%s); this node's pg_hba.conf judged "
						   "it%s.%s%s",
						   client->remote_host, client->remote_port, how, line,
						   password_refusal ? " " : "",
						   password_refusal ? password_refusal : "")));
}

/*
 * The password claim against a password line: the client proved the
 * password against the role secret this node has, valid and of a kind the
 * line can use, and the password itself unless the line is "md5" and the
 * secret an md5 hash (an md5 answer needs only the stored hash).  The entry
 * node checked the password against its own pg_authid: a standby that has
 * not replayed a password change (or its removal) must not open this node
 * with the old one.
 */
static const char *
judge_password(const Port *client, const CmProofClaims *c, UserAuth method,
			   const char **why)
{
	const char *password_refusal = NULL;
	const char *logdetail = NULL;
	char *shadow;
	char digest[CM_PROOF_DIGEST_HEX_LEN + 1];
	const char *failed = psprintf("password authentication failed for user "
								  "\"%s\"",
								  client->user_name);

	if (c->password == CM_PROOF_PW_NONE)
		return psprintf("connection_manager: this node requires %s "
						"authentication for user \"%s\", and the client "
						"proved no password to the connection manager",
						hba_authname(method), client->user_name);
	shadow = get_role_password(client->user_name, &logdetail);
	if (shadow == NULL)
		password_refusal = logdetail ? logdetail
									 : "The role has no valid password on "
									   "this node.";
	else if (!cm_proof_secret_digest(cluster_secret, client->user_name, shadow,
									 digest, sizeof(digest)) ||
			 strlen(c->secret_digest) != CM_PROOF_DIGEST_HEX_LEN ||
			 CRYPTO_memcmp(digest, c->secret_digest, CM_PROOF_DIGEST_HEX_LEN) !=
				 0)
		password_refusal = "The entry node checked the password against "
						   "another secret than this node's: the role's "
						   "password changed on one node and was not yet "
						   "replayed on the other.";
	else if (method == uaSCRAM &&
			 get_password_type(shadow) != PASSWORD_TYPE_SCRAM_SHA_256)
		password_refusal = psprintf("User \"%s\" does not have a valid SCRAM "
									"secret.",
									client->user_name);
	else if (c->password != CM_PROOF_PW_PROVEN &&
			 (method != uaMD5 || get_password_type(shadow) != PASSWORD_TYPE_MD5))
		password_refusal = "The client gave the connection manager an md5 "
						   "answer, which the stored hash alone can give, "
						   "where this node wants the password itself.";
	*why = password_refusal;
	return password_refusal ? failed : NULL;
}

/* The certificate claim against a line: verified, and named when needed. */
static const char *
judge_certificate(const Port *client, const CmProofClaims *c, bool need_name)
{
	const HbaLine *hba = client->hba;
	const char *name;

	/* the server's own checks, in its order (ClientAuthentication) */
	if (!secure_loaded_verify_locations())
		return "client certificates can only be checked if a root "
			   "certificate store is available";
	if (!c->cert)
		return "connection requires a valid client certificate";
	if (!need_name)
		return NULL;
	name = hba->clientcertname == clientCertDN ? c->cert_dn : c->cert_cn;
	if (name[0] == '\0' || check_usermap(hba->usermap, client->user_name, name,
										 false) != STATUS_OK)
		return psprintf("certificate authentication failed for user \"%s\"",
						client->user_name);
	return NULL;
}

/*
 * Every node judges its own sessions: the real client the token names
 * goes through this node's pg_hba.conf as if it had connected directly,
 * and the line it matches must ask for nothing more than the entry node
 * established.  The client's address is the one the entry node saw: a
 * client on its loopback is judged by this node's loopback lines, so that
 * with the same file on every node a client is judged alike wherever the
 * write leader is.
 */
static void
judge_client(const Port *port, const CmProofClaims *claims)
{
	Port client;
	struct sockaddr_storage addr;
	char host[CM_PROOF_ADDR_MAX + 1];
	CmProofClaims seen = *claims;
	const CmProofClaims *c = &seen;
	const char *enc;
	const char *how;
	const char *failure = NULL;
	const char *password_refusal = NULL; /* set by judge_password() */
	const HbaLine *hba;

	/*
	 * What this node could have seen of the client directly: without SSL
	 * no TLS at all (the server loads hostssl lines that then never match)
	 * and no certificate.  Without a root certificate store, certificates
	 * are refused below as the server refuses them.
	 */
	seen.tls = claims->tls && EnableSSL;
	seen.cert = seen.tls && claims->cert;
	enc = c->tls ? "SSL encryption" : "no encryption";

	if (!claim_sockaddr(c->client_addr, c->client_port, &addr))
		proof_refuse(port, true, "The proof's client address is not numeric.");
	if (!cm_proof_addr_text((const struct sockaddr *) &addr, host, sizeof(host)))
		proof_refuse(port, true, "The proof's client address is not usable.");

	memcpy(&client, port, sizeof(client));
	memset(&client.raddr, 0, sizeof(client.raddr));
	memcpy(&client.raddr.addr, &addr, sizeof(addr));
	client.raddr.salen = addr.ss_family == AF_INET
							 ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6);
	client.remote_host = pstrdup(host);
	client.remote_port = psprintf("%d", c->client_port);
	client.remote_hostname = NULL;
	client.remote_hostname_resolv = 0;
	client.remote_hostname_errcode = 0;
	client.ssl_in_use = c->tls;
	client.gss = NULL;
	client.hba = NULL;
	/* what the entry node vouched for */
	how = psprintf("%s%s%s", claims->tls ? "SSL" : "no SSL",
				   c->password == CM_PROOF_PW_PROVEN ? ", password proven"
				   : c->password == CM_PROOF_PW_MD5	 ? ", md5 answer proven"
													 : "",
				   claims->cert ? ", certificate verified" : "");

	hba_getauthmethod(&client);
	hba = client.hba;
	switch (hba->auth_method)
	{
		case uaImplicitReject:
		case uaReject:
			/* the server's own messages for these */
			judge_refuse(&client,
						 psprintf("%s for host \"%s\", user \"%s\", database "
								  "\"%s\", %s",
								  hba->auth_method == uaReject
									  ? "pg_hba.conf rejects connection"
									  : "no pg_hba.conf entry",
								  host, port->user_name, port->database_name,
								  enc),
						 how, NULL);
			break;
		case uaTrust:
		case uaCert:
			/* as for a direct connection: only a manager may use these */
			if (cm_proof_required_from(&addr))
				judge_refuse(&client,
							 "connection_manager: connection from a connection "
							 "manager address without a valid proof",
							 how, NULL);
			if (hba->auth_method == uaCert)
				failure = judge_certificate(&client, c, true);
			break;
		case uaPassword:
		case uaMD5:
		case uaSCRAM:
			failure =
				judge_password(&client, c, hba->auth_method, &password_refusal);
			break;
		default:
			failure = psprintf("connection_manager: this node requires %s "
							   "authentication for user \"%s\", which a "
							   "connection manager cannot vouch for",
							   hba_authname(hba->auth_method), port->user_name);
			break;
	}
	if (failure == NULL && hba->clientcert != clientCertOff &&
		hba->auth_method != uaCert)
		failure =
			judge_certificate(&client, c, hba->clientcert == clientCertFull);
	if (failure != NULL)
		judge_refuse(&client, failure, how, password_refusal);
}

static void
proof_client_authentication(Port *port, int status)
{
	const char *token = NULL;
	int ntokens = 0;
	bool required;
	CmProofToken t;
	CmProofStatus verdict;
	const char *mismatch;
	int64 now;

	if (prev_client_authentication)
		prev_client_authentication(port, status);
	/* a failed login fails anyway, with the server's own message */
	if (status != STATUS_OK)
		return;

	/* guc_options alternates names and values; names ignore case */
	for (int i = 0; i + 1 < list_length(port->guc_options); i += 2)
	{
		if (pg_strcasecmp((const char *) list_nth(port->guc_options, i),
						  CM_PROOF_SETTING) == 0)
		{
			token = (const char *) list_nth(port->guc_options, i + 1);
			ntokens++;
		}
	}

	required = proof_required(port);
	if (ntokens == 0)
	{
		if (required)
			proof_refuse(port, true,
						 "The startup packet carries no " CM_PROOF_SETTING ".");
		return;
	}
	if (ntokens > 1)
		proof_refuse(port, required,
					 "The startup packet carries " CM_PROOF_SETTING
					 " more than once.");
	if (!secret_loaded || proof_shared == NULL)
		proof_refuse(port, required,
					 "This server has no connection_manager secret: the "
					 "library must be in shared_preload_libraries.");

	now = (int64) time(NULL);
	verdict = cm_proof_verify(cluster_secret, token, port->user_name,
							  port->database_name, now, &t);
	if (verdict != CM_PROOF_OK)
		proof_refuse(port, required, status_detail(verdict, &t, now, port));
	/* made before the table began: it may have been used before */
	if (t.seconds < proof_shared->nonces_since)
		proof_refuse(port, required,
					 psprintf("The proof is dated before this node began "
							  "remembering proofs (%lld seconds earlier, at "
							  "its start or after a crash): it may be a "
							  "replay.",
							  (long long) (proof_shared->nonces_since -
										   t.seconds)));
	if (!nonce_remember(t.nonce, t.seconds, now))
		proof_refuse(port, required,
					 "The proof was used before on this node: a replay.");
	mismatch = target_mismatch(port, &t.claims);
	if (mismatch != NULL)
		proof_refuse(port, required, mismatch);
	judge_client(port, &t.claims);

	strlcpy(verified_token, token, sizeof(verified_token));
	client_slot_set(&t);
	if (Log_connections)
		ereport(LOG, (errmsg("connection_manager: connection proven to come from "
							 "a connection manager for client host=%s port=%d",
							 t.claims.client_addr, t.claims.client_port)));
}

/* ---- entry points ---- */

void
cm_proof_init(void)
{
	define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = proof_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = proof_shmem_startup;
	prev_client_authentication = ClientAuthentication_hook;
	ClientAuthentication_hook = proof_client_authentication;

	if (IsPostmasterEnvironment && !IsUnderPostmaster)
		secret_load();
}

bool
cm_proof_role_digest(const char *user, const char *rolpassword, char *out,
					 size_t outlen)
{
	char user_name[NAMEDATALEN];

	if (outlen > 0)
		out[0] = '\0';
	if (!secret_loaded || user == NULL || rolpassword == NULL)
		return false;
	strlcpy(user_name, user, sizeof(user_name));
	return cm_proof_secret_digest(cluster_secret, user_name, rolpassword, out,
								  outlen);
}

bool
cm_proof_make(const char *user, const char *database,
			  const CmProofClaims *claims, char *out, size_t outlen)
{
	char user_name[NAMEDATALEN];
	char database_name[NAMEDATALEN];
	uint8 nonce[CM_PROOF_NONCE_LEN];
	CmProofClaims c;

	if (outlen > 0)
		out[0] = '\0';
	if (!secret_loaded || user == NULL || claims == NULL)
		return false;
	/* the server's defaults and truncation (ProcessStartupPacket) */
	if (database == NULL || database[0] == '\0')
		database = user;
	strlcpy(user_name, user, sizeof(user_name));
	strlcpy(database_name, database, sizeof(database_name));
	c = *claims;
	c.system_identifier = GetSystemIdentifier();
	if (!pg_strong_random(nonce, sizeof(nonce)))
		return false;
	return cm_proof_format(cluster_secret, (int64) time(NULL), nonce,
						   user_name, database_name, &c, out, outlen);
}
