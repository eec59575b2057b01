/*
 * event/tls.c
 *		TLS for proxy sessions, with OpenSSL.  The server-side context is
 *		built from the server's own ssl_* settings, the way the server builds
 *		its own (be-secure-openssl.c), and is rebuilt on every reload; a
 *		failed rebuild keeps the previous context.  Connections are
 *		non-blocking and report what they wait for instead of waiting.
 *
 * Sockets are written with send(MSG_NOSIGNAL) through our own BIO, so no
 * SIGPIPE can reach the worker whatever its signal disposition is.  Every
 * failure is a value or a LOG line: nothing here raises an ERROR.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <limits.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "libpq/libpq.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"

#include "cm_tls.h"

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "connection_manager needs OpenSSL 3.0 or later"
#endif

/* The server's prompt, which OpenSSL uses too. */
#define CM_TLS_PASSPHRASE_PROMPT "Enter PEM pass phrase:"
#define CM_TLS_ERROR_LEN		 256

typedef enum CmTlsKind
{
	CM_TLS_KIND_SERVER, /* after SSLRequest */
	CM_TLS_KIND_DIRECT, /* PostgreSQL 17 direct TLS: ALPN required */
	CM_TLS_KIND_HTTPS,	/* the HTTP API */
	CM_TLS_KIND_CLIENT	/* our hop to a target node */
} CmTlsKind;

struct CmTls
{
	SSL *ssl;
	int fd;
	CmTlsKind kind;
	bool failed;			/* a fatal error: no close_notify on free */
	bool last_read_was_eof; /* for the BIO's BIO_CTRL_EOF */
	int last_errno;			/* of the socket call that failed */
	uint8 *prefix;			/* bytes read before TLS began (direct TLS) */
	size_t prefix_len;
	size_t prefix_off;
	char error[CM_TLS_ERROR_LEN];
};

/* ALPN protocol lists, in wire format. */
static const unsigned char alpn_postgresql[] = "\x0apostgresql";
static const unsigned char alpn_http[] = "\x08http/1.1";

static SSL_CTX *server_context = NULL;
static SSL_CTX *client_context = NULL;
static SSL_CTX *https_context = NULL; /* the monitor's HTTP port */
static bool https_loaded_before = false;
static BIO_METHOD *socket_bio_method = NULL;
static bool openssl_initialized = false;
static bool loaded_before = false;
static bool no_passphrase_cb_called = false;

/* ------------------------------------------------------------------------
 * Error text
 * ------------------------------------------------------------------------
 */

/* OpenSSL's text for an error code, never NULL. */
static const char *
ssl_error_text(unsigned long ecode, char *buf, size_t len)
{
	const char *reason;

	if (ecode == 0)
		return "no SSL error reported";
	/* OpenSSL 3 does not always map system errors to text */
	if (ERR_SYSTEM_ERROR(ecode) && ERR_GET_REASON(ecode) != 0)
		return strerror(ERR_GET_REASON(ecode));
	reason = ERR_reason_error_string(ecode);
	if (reason != NULL)
		return reason;
	snprintf(buf, len, "SSL error code %lu", ecode);
	return buf;
}

/* The first queued OpenSSL error as text; the queue is left empty. */
static const char *
ssl_queue_text(char *buf, size_t len)
{
	const char *text = ssl_error_text(ERR_get_error(), buf, len);

	if (text != buf)
	{
		strlcpy(buf, text, len);
		text = buf;
	}
	ERR_clear_error();
	return text;
}

/* ------------------------------------------------------------------------
 * The socket BIO: recv/send with MSG_NOSIGNAL, and bytes read earlier
 * ------------------------------------------------------------------------
 */

static int
bio_read(BIO *bio, char *buf, int size)
{
	CmTls *tls = (CmTls *) BIO_get_data(bio);
	ssize_t n;

	BIO_clear_retry_flags(bio);
	tls->last_read_was_eof = false;
	if (size <= 0)
		return 0;
	if (tls->prefix_off < tls->prefix_len)
	{
		size_t take = Min((size_t) size, tls->prefix_len - tls->prefix_off);

		memcpy(buf, tls->prefix + tls->prefix_off, take);
		tls->prefix_off += take;
		return (int) take;
	}
	n = recv(tls->fd, buf, (size_t) size, 0);
	if (n < 0)
	{
		tls->last_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_read(bio);
		return -1;
	}
	if (n == 0)
		tls->last_read_was_eof = true;
	return (int) n;
}

static int
bio_write(BIO *bio, const char *buf, int size)
{
	CmTls *tls = (CmTls *) BIO_get_data(bio);
	ssize_t n;

	BIO_clear_retry_flags(bio);
	if (size <= 0)
		return 0;
	n = send(tls->fd, buf, (size_t) size, MSG_NOSIGNAL);
	if (n < 0)
	{
		tls->last_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_write(bio);
		return -1;
	}
	return (int) n;
}

static long
bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	CmTls *tls = (CmTls *) BIO_get_data(bio);

	switch (cmd)
	{
		case BIO_CTRL_EOF:
			/* OpenSSL 3 asks for EOF here too, not only through read */
			return tls != NULL && tls->last_read_was_eof;
		case BIO_CTRL_FLUSH:
			/* nothing is buffered, but libssl expects flush to work */
			return 1;
		default:
			return 0;
	}
}

static int
bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static BIO_METHOD *
bio_method(void)
{
	BIO_METHOD *m;
	int index;

	if (socket_bio_method != NULL)
		return socket_bio_method;
	index = BIO_get_new_index();
	if (index == -1)
		return NULL;
	m = BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "connection_manager socket");
	if (m == NULL)
		return NULL;
	if (!BIO_meth_set_read(m, bio_read) || !BIO_meth_set_write(m, bio_write) ||
		!BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create))
	{
		BIO_meth_free(m);
		return NULL;
	}
	socket_bio_method = m;
	return m;
}

/* ------------------------------------------------------------------------
 * Building the contexts
 * ------------------------------------------------------------------------
 */

/*
 * Runs ssl_passphrase_command.  It logs its own failures at LOG when told
 * this is not the server's start; the guard keeps anything else it might
 * raise (out of memory) from unwinding through OpenSSL's frames.
 */
static int
passphrase_cb(char *buf, int size, int rwflag, void *userdata)
{
	MemoryContext mcxt = CurrentMemoryContext;
	volatile int len = -1;

	PG_TRY();
	{
		len = run_ssl_passphrase_command(CM_TLS_PASSPHRASE_PROMPT, false, buf,
										 size);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(mcxt);
		EmitErrorReport();
		FlushErrorState();
		len = -1;
	}
	PG_END_TRY();
	return len;
}

/* Refuses a passphrase instead of prompting on a terminal we do not have. */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *userdata)
{
	no_passphrase_cb_called = true;
	if (size > 0)
		buf[0] = '\0';
	return 0;
}

static bool
is_set(const char *setting)
{
	return setting != NULL && setting[0] != '\0';
}

/* A setting's file, relative to the data directory unless absolute. */
static bool
resolve_path(const char *setting, const char *name, char *out, size_t len)
{
	int n;

	if (is_absolute_path(setting))
		n = snprintf(out, len, "%s", setting);
	else
		n = snprintf(out, len, "%s/%s", DataDir, setting);
	if (n < 0 || (size_t) n >= len)
	{
		ereport(LOG, (errcode(ERRCODE_CONFIG_FILE_ERROR),
					  errmsg("connection_manager: the path in \"%s\" is too long",
							 name)));
		return false;
	}
	return true;
}

static int
protocol_version_to_openssl(int v)
{
	switch (v)
	{
		case PG_TLS1_VERSION:
			return TLS1_VERSION;
		case PG_TLS1_1_VERSION:
			return TLS1_1_VERSION;
		case PG_TLS1_2_VERSION:
			return TLS1_2_VERSION;
		case PG_TLS1_3_VERSION:
			return TLS1_3_VERSION;
		default:
			return -1;
	}
}

static const char *
protocol_version_name(int v)
{
	switch (v)
	{
		case PG_TLS1_VERSION:
			return "TLSv1";
		case PG_TLS1_1_VERSION:
			return "TLSv1.1";
		case PG_TLS1_2_VERSION:
			return "TLSv1.2";
		case PG_TLS1_3_VERSION:
			return "TLSv1.3";
		default:
			return "(unknown)";
	}
}

static bool
set_protocol_range(SSL_CTX *ctx)
{
	int min = -1;
	int max = -1;

	if (ssl_min_protocol_version != PG_TLS_ANY)
	{
		min = protocol_version_to_openssl(ssl_min_protocol_version);
		if (min == -1 || !SSL_CTX_set_min_proto_version(ctx, min))
		{
			ereport(LOG,
					(errmsg(
						"connection_manager: could not set minimum SSL protocol version")));
			return false;
		}
	}
	if (ssl_max_protocol_version != PG_TLS_ANY)
	{
		max = protocol_version_to_openssl(ssl_max_protocol_version);
		if (max == -1 || !SSL_CTX_set_max_proto_version(ctx, max))
		{
			ereport(LOG,
					(errmsg(
						"connection_manager: could not set maximum SSL protocol version")));
			return false;
		}
	}
	if (min != -1 && max != -1 && min > max)
	{
		ereport(LOG,
				(errmsg("connection_manager: could not set SSL protocol version range"),
				 errdetail("\"%s\" cannot be higher than \"%s\"",
						   "ssl_min_protocol_version",
						   "ssl_max_protocol_version")));
		return false;
	}
	return true;
}

/* ssl_dh_params_file, or OpenSSL's RFC 7919 group for the key's strength. */
static bool
set_dh_params(SSL_CTX *ctx)
{
	char path[MAXPGPATH];
	char ebuf[CM_TLS_ERROR_LEN];
	BIO *bio;
	EVP_PKEY *params;
	EVP_PKEY_CTX *check;
	bool ok;

	if (!is_set(ssl_dh_params_file))
	{
		SSL_CTX_set_dh_auto(ctx, 1);
		return true;
	}
	if (!resolve_path(ssl_dh_params_file, "ssl_dh_params_file", path,
					  sizeof(path)))
		return false;
	bio = BIO_new_file(path, "r");
	if (bio == NULL)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: could not open DH parameters file \"%s\": %s",
						ssl_dh_params_file, ssl_queue_text(ebuf, sizeof(ebuf)))));
		return false;
	}
	params = PEM_read_bio_Parameters(bio, NULL);
	BIO_free(bio);
	if (params == NULL || !EVP_PKEY_is_a(params, "DH"))
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: could not load DH parameters file \"%s\": %s",
						ssl_dh_params_file,
						params ? "not DH parameters"
							   : ssl_queue_text(ebuf, sizeof(ebuf)))));
		EVP_PKEY_free(params);
		return false;
	}
	check = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
	ok = check != NULL && EVP_PKEY_param_check(check) == 1;
	EVP_PKEY_CTX_free(check);
	if (!ok)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: invalid DH parameters in file \"%s\": %s",
						ssl_dh_params_file, ssl_queue_text(ebuf, sizeof(ebuf)))));
		EVP_PKEY_free(params);
		return false;
	}
	/* the context owns params from here on success */
	if (SSL_CTX_set0_tmp_dh_pkey(ctx, params) != 1)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: DH: could not set DH parameters: %s",
						ssl_queue_text(ebuf, sizeof(ebuf)))));
		EVP_PKEY_free(params);
		return false;
	}
	return true;
}

static bool
load_client_ca(SSL_CTX *ctx)
{
	char path[MAXPGPATH];
	char ebuf[CM_TLS_ERROR_LEN];
	STACK_OF(X509_NAME) * names;

	if (!resolve_path(ssl_ca_file, "ssl_ca_file", path, sizeof(path)))
		return false;
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1 ||
		(names = SSL_load_client_CA_file(path)) == NULL)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: could not load root certificate file \"%s\": %s",
						ssl_ca_file, ssl_queue_text(ebuf, sizeof(ebuf)))));
		return false;
	}
	/* the context owns the list; clients use it to pick a certificate */
	SSL_CTX_set_client_CA_list(ctx, names);

	/*
	 * Ask for a certificate but accept a client that sends none, as the
	 * server does: pg_hba.conf decides later whether one was needed.  A
	 * certificate that is sent must verify.
	 */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, NULL);
	return true;
}

static bool
load_crl(SSL_CTX *ctx)
{
	char file[MAXPGPATH];
	char dir[MAXPGPATH];
	char ebuf[CM_TLS_ERROR_LEN];
	bool has_file = is_set(ssl_crl_file);
	bool has_dir = is_set(ssl_crl_dir);
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);

	if (!has_file && !has_dir)
		return true;
	if ((has_file &&
		 !resolve_path(ssl_crl_file, "ssl_crl_file", file, sizeof(file))) ||
		(has_dir && !resolve_path(ssl_crl_dir, "ssl_crl_dir", dir, sizeof(dir))))
		return false;
	if (store == NULL || X509_STORE_load_locations(store, has_file ? file : NULL,
												   has_dir ? dir : NULL) != 1)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: could not load SSL certificate revocation list file \"%s\" or directory \"%s\": %s",
						has_file ? ssl_crl_file : "", has_dir ? ssl_crl_dir : "",
						ssl_queue_text(ebuf, sizeof(ebuf)))));
		return false;
	}
	X509_STORE_set_flags(store,
						 X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	return true;
}

/*
 * ALPN: "postgresql" when the client offers it (PostgreSQL 17 clients do).
 * Over SSLRequest a client that offers only other protocols is served
 * without ALPN, as PostgreSQL 15 does; on a direct TLS connection, where
 * ALPN is what proves the client speaks our protocol, it is refused with
 * no_application_protocol, as PostgreSQL 17 does.  HTTPS takes http/1.1.
 */
static int
alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			   const unsigned char *in, unsigned int inlen, void *arg)
{
	CmTls *tls = (CmTls *) SSL_get_app_data(ssl);
	bool https = tls != NULL && tls->kind == CM_TLS_KIND_HTTPS;
	const unsigned char *ours = https ? alpn_http : alpn_postgresql;
	unsigned int ourlen =
		https ? sizeof(alpn_http) - 1 : sizeof(alpn_postgresql) - 1;
	unsigned char *selected = NULL;
	unsigned char selectedlen = 0;

	if (SSL_select_next_proto(&selected, &selectedlen, ours, ourlen, in,
							  inlen) == OPENSSL_NPN_NEGOTIATED &&
		selected != NULL)
	{
		*out = selected;
		*outlen = selectedlen;
		return SSL_TLSEXT_ERR_OK;
	}
	if (tls != NULL && tls->kind == CM_TLS_KIND_DIRECT)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_NOACK;
}

/*
 * The server-side context from the server's settings, or NULL after
 * logging why.  A passphrase is asked of ssl_passphrase_command at the
 * worker's first load, and on reloads only when the command supports it.
 */
static SSL_CTX *
build_server_context(bool first_load)
{
	SSL_CTX *ctx;
	char cert[MAXPGPATH];
	char key[MAXPGPATH];
	char ebuf[CM_TLS_ERROR_LEN];

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
	{
		ereport(LOG,
				(errmsg("connection_manager: could not create SSL context: %s",
						ssl_queue_text(ebuf, sizeof(ebuf)))));
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
							  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (is_set(ssl_passphrase_command) &&
		(first_load || ssl_passphrase_command_supports_reload))
		SSL_CTX_set_default_passwd_cb(ctx, passphrase_cb);
	else
		SSL_CTX_set_default_passwd_cb(ctx, no_passphrase_cb);

	if (!is_set(ssl_cert_file) || !is_set(ssl_key_file))
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg(
					 "connection_manager: ssl_cert_file and ssl_key_file must be set")));
		goto fail;
	}
	if (!resolve_path(ssl_cert_file, "ssl_cert_file", cert, sizeof(cert)) ||
		!resolve_path(ssl_key_file, "ssl_key_file", key, sizeof(key)))
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: could not load server certificate file \"%s\": %s",
						ssl_cert_file, ssl_queue_text(ebuf, sizeof(ebuf)))));
		goto fail;
	}
	if (!check_ssl_key_file_permissions(key, false))
		goto fail;
	no_passphrase_cb_called = false;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
	{
		if (no_passphrase_cb_called)
			ereport(LOG,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("connection_manager: private key file \"%s\" cannot be %s because it requires a passphrase",
							ssl_key_file, first_load ? "loaded" : "reloaded"),
					 errhint(
						 first_load
							 ? "Set ssl_passphrase_command."
							 : "Set ssl_passphrase_command_supports_reload, or restart the server.")));
		else
			ereport(LOG,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("connection_manager: could not load private key file \"%s\": %s",
							ssl_key_file, ssl_queue_text(ebuf, sizeof(ebuf)))));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: check of private key failed: %s",
						ssl_queue_text(ebuf, sizeof(ebuf)))));
		goto fail;
	}
	if (!set_protocol_range(ctx))
		goto fail;

	/* as the server: no tickets, no session cache, no renegotiation */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
								 SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

	if (!set_dh_params(ctx))
		goto fail;
	if (!is_set(SSLECDHCurve) || SSL_CTX_set1_groups_list(ctx, SSLECDHCurve) != 1)
	{
		ERR_clear_error();
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("connection_manager: ECDH: unrecognized curve name: %s",
						SSLECDHCurve ? SSLECDHCurve : "")));
		goto fail;
	}
	if (!is_set(SSLCipherSuites) ||
		SSL_CTX_set_cipher_list(ctx, SSLCipherSuites) != 1)
	{
		ERR_clear_error();
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg(
					 "connection_manager: could not set the cipher list (no valid ciphers available)")));
		goto fail;
	}
	if (SSLPreferServerCiphers)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (is_set(ssl_ca_file) && !load_client_ca(ctx))
		goto fail;
	if (!load_crl(ctx))
		goto fail;
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, NULL);
	return ctx;

fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * The client-side context for the hop to a target node.  Certificates are
 * verified (verify-ca, verify-full) against ssl_ca_file when it is set, the
 * cluster's own CA, otherwise against the system's roots (verify-full only:
 * cm_tls_system_roots()).
 */
static SSL_CTX *
build_client_context(void)
{
	SSL_CTX *ctx;
	char path[MAXPGPATH];
	char ebuf[CM_TLS_ERROR_LEN];

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
	{
		ereport(LOG,
				(errmsg("connection_manager: could not create SSL context: %s",
						ssl_queue_text(ebuf, sizeof(ebuf)))));
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
							  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
								 SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* libpq's default floor */
	(void) SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* as libpq 17 does; older servers ignore it (0 means success here) */
	(void) SSL_CTX_set_alpn_protos(ctx, alpn_postgresql,
								   sizeof(alpn_postgresql) - 1);

	if (is_set(ssl_ca_file))
	{
		if (!resolve_path(ssl_ca_file, "ssl_ca_file", path, sizeof(path)) ||
			SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
		{
			/* without roots, verify-ca and verify-full fail, others work */
			ereport(LOG,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("connection_manager: could not load root certificate file \"%s\" for connections to nodes: %s",
							ssl_ca_file, ssl_queue_text(ebuf, sizeof(ebuf)))));
		}
	}
	else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		ereport(LOG,
				(errmsg("connection_manager: could not load the system's root certificates: %s",
						ssl_queue_text(ebuf, sizeof(ebuf)))));
	ERR_clear_error();
	return ctx;
}

static void
openssl_init(void)
{
	if (!openssl_initialized)
	{
		OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
		openssl_initialized = true;
	}
}

/*
 * (Re)builds both contexts from the server's current settings.  Returns
 * whether clients can be offered TLS now.  With ssl = off the server-side
 * context is dropped; a context that fails to build leaves the previous
 * one in place, as the server does on reload.  Connections already open
 * keep the context they were made with.
 */
bool
cm_tls_load(void)
{
	bool first_load = !loaded_before;
	SSL_CTX *ctx;

	loaded_before = true;
	openssl_init();

	ctx = build_client_context();
	if (ctx != NULL)
	{
		if (client_context != NULL)
			SSL_CTX_free(client_context);
		client_context = ctx;
	}

	if (!EnableSSL)
	{
		if (server_context != NULL)
			SSL_CTX_free(server_context);
		server_context = NULL;
		return false;
	}
	ctx = build_server_context(first_load);
	if (ctx == NULL)
	{
		if (server_context != NULL)
			ereport(LOG,
					(errmsg("connection_manager: SSL configuration was not reloaded"),
					 errdetail("The previous SSL configuration stays in use.")));
		else
			ereport(LOG,
					(errmsg("connection_manager: SSL is not available"),
					 errdetail(
						 "Clients that ask for SSL are answered that the connection manager does not support it.")));
		return server_context != NULL;
	}
	if (server_context != NULL)
		SSL_CTX_free(server_context);
	server_context = ctx;
	return true;
}

/*
 * The HTTP port's context (use_https): the same certificate settings as
 * the server's, whatever ssl says.  On reload, one that fails to build
 * leaves the previous one in place.  Returns whether HTTPS can be served.
 */
bool
cm_tls_load_https(void)
{
	bool first_load = !https_loaded_before;
	SSL_CTX *ctx;

	https_loaded_before = true;
	openssl_init();
	ctx = build_server_context(first_load);
	if (ctx == NULL)
		return https_context != NULL;
	if (https_context != NULL)
		SSL_CTX_free(https_context);
	https_context = ctx;
	return true;
}

bool
cm_tls_enabled(void)
{
	return EnableSSL && server_context != NULL;
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------
 */

static CmTls *
tls_new(SSL_CTX *ctx, int fd, CmTlsKind kind, const void *prefix, size_t len)
{
	CmTls *tls;
	BIO_METHOD *method = bio_method();
	BIO *bio;

	if (ctx == NULL || method == NULL || fd < 0)
		return NULL;
	tls = calloc(1, sizeof(CmTls));
	if (tls == NULL)
		return NULL;
	tls->fd = fd;
	tls->kind = kind;
	if (len > 0)
	{
		tls->prefix = malloc(len);
		if (tls->prefix == NULL)
		{
			free(tls);
			return NULL;
		}
		memcpy(tls->prefix, prefix, len);
		tls->prefix_len = len;
	}
	ERR_clear_error();
	tls->ssl = SSL_new(ctx);
	bio = tls->ssl ? BIO_new(method) : NULL;
	if (bio == NULL)
	{
		ERR_clear_error();
		if (tls->ssl)
			SSL_free(tls->ssl);
		free(tls->prefix);
		free(tls);
		return NULL;
	}
	BIO_set_data(bio, tls);
	SSL_set_bio(tls->ssl, bio, bio);
	SSL_set_app_data(tls->ssl, tls);
	if (kind == CM_TLS_KIND_CLIENT)
		SSL_set_connect_state(tls->ssl);
	else
		SSL_set_accept_state(tls->ssl);

	/*
	 * A relayed client's records are read with one recv() each, not two
	 * (header, then body): OpenSSL reads what the socket has and keeps
	 * what is past the record, which cm_tls_pending() reports, and the
	 * stream reads on until it is gone.  The monitor's sockets read once
	 * per event and do not ask: not for them.
	 */
	if (kind == CM_TLS_KIND_SERVER || kind == CM_TLS_KIND_DIRECT)
		SSL_set_read_ahead(tls->ssl, 1);
	return tls;
}

/*
 * A client's TLS connection after it sent SSLRequest and we answered 'S'.
 * The caller must have refused any byte the client sent after SSLRequest.
 */
CmTls *
cm_tls_accept_new(int fd)
{
	if (!cm_tls_enabled())
		return NULL;
	return tls_new(server_context, fd, CM_TLS_KIND_SERVER, NULL, 0);
}

/*
 * Whether a client's first bytes start a TLS handshake record, i.e. a
 * PostgreSQL 17 client with sslnegotiation=direct.  No startup packet can
 * start with 0x16: its length would exceed any packet we accept.
 */
bool
cm_tls_is_direct_start(const void *buf, size_t len)
{
	return len >= 1 && ((const uint8 *) buf)[0] == 0x16;
}

/*
 * A direct TLS connection: prefix holds the bytes already read from the
 * socket (copied), which the handshake consumes first.  The handshake fails
 * unless the client negotiated ALPN "postgresql".
 */
CmTls *
cm_tls_accept_direct(int fd, const void *prefix, size_t len)
{
	if (!cm_tls_enabled())
		return NULL;
	return tls_new(server_context, fd, CM_TLS_KIND_DIRECT, prefix, len);
}

/* TLS for the HTTP API, with the same certificate. */
CmTls *
cm_tls_accept_https(int fd)
{
	return tls_new(https_context, fd, CM_TLS_KIND_HTTPS, NULL, 0);
}

bool
cm_tls_parse_sslmode(const char *name, CmSslMode *mode)
{
	static const struct
	{
		const char *name;
		CmSslMode mode;
	} modes[] = {
		{"disable", CM_SSLMODE_DISABLE},
		{"allow", CM_SSLMODE_ALLOW},
		{"prefer", CM_SSLMODE_PREFER},
		{"require", CM_SSLMODE_REQUIRE},
		{"verify-ca", CM_SSLMODE_VERIFY_CA},
		{"verify-full", CM_SSLMODE_VERIFY_FULL},
	};

	if (name == NULL)
		return false;
	for (int i = 0; i < lengthof(modes); i++)
	{
		if (strcmp(name, modes[i].name) == 0)
		{
			*mode = modes[i].mode;
			return true;
		}
	}
	return false;
}

static bool
is_ip_address(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, addr) == 1 ||
		   inet_pton(AF_INET6, host, addr) == 1;
}

/*
 * Our TLS connection to a target node, after the node answered 'S' to our
 * SSLRequest (and sent nothing more: the caller checks that).  servername
 * is the node's host as configured: sent as SNI unless it is an address,
 * and checked against the certificate for verify-full.  NULL for disable,
 * an unknown mode (logged) or a failure.
 */
bool
cm_tls_system_roots(void)
{
	return !is_set(ssl_ca_file);
}

CmTls *
cm_tls_connect_new(int fd, const char *sslmode, const char *servername)
{
	CmSslMode mode;
	CmTls *tls;
	bool ip;

	if (!cm_tls_parse_sslmode(sslmode, &mode))
	{
		ereport(LOG, (errmsg("connection_manager: invalid sslmode \"%s\"",
							 sslmode ? sslmode : "")));
		return NULL;
	}
	if (mode == CM_SSLMODE_DISABLE)
		return NULL;
	if (mode == CM_SSLMODE_VERIFY_CA && cm_tls_system_roots())
	{
		ereport(LOG, (errmsg("connection_manager: sslmode \"verify-ca\" cannot "
							 "use the system's root certificates")));
		return NULL;
	}
	if (mode == CM_SSLMODE_VERIFY_FULL &&
		(servername == NULL || servername[0] == '\0'))
	{
		ereport(LOG,
				(errmsg(
					"connection_manager: sslmode \"verify-full\" needs the node's host name")));
		return NULL;
	}
	tls = tls_new(client_context, fd, CM_TLS_KIND_CLIENT, NULL, 0);
	if (tls == NULL)
		return NULL;
	ip = servername != NULL && is_ip_address(servername);
	if (servername != NULL && servername[0] != '\0' && servername[0] != '/' &&
		!ip && SSL_set_tlsext_host_name(tls->ssl, servername) != 1)
		goto fail;
	if (mode >= CM_SSLMODE_VERIFY_CA)
		SSL_set_verify(tls->ssl, SSL_VERIFY_PEER, NULL);
	else
		SSL_set_verify(tls->ssl, SSL_VERIFY_NONE, NULL);
	if (mode == CM_SSLMODE_VERIFY_FULL)
	{
		SSL_set_hostflags(tls->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl),
											   servername) != 1
			   : SSL_set1_host(tls->ssl, servername) != 1)
			goto fail;
	}
	return tls;

fail:
	ERR_clear_error();
	cm_tls_free(tls);
	return NULL;
}

/*
 * Before each SSL call: the thread's error queue must be empty for
 * SSL_get_error to be right, and the socket state is per call.
 */
static void
tls_begin_call(CmTls *tls)
{
	ERR_clear_error();
	tls->last_errno = 0;
	tls->last_read_was_eof = false;
}

/* Whether an OpenSSL reason means the peer used a version we refuse. */
static bool
is_protocol_version_reason(int reason)
{
	switch (reason)
	{
		case SSL_R_NO_PROTOCOLS_AVAILABLE:
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_BAD_PROTOCOL_VERSION_NUMBER:
		case SSL_R_UNKNOWN_PROTOCOL:
		case SSL_R_UNKNOWN_SSL_VERSION:
		case SSL_R_UNSUPPORTED_SSL_VERSION:
		case SSL_R_WRONG_SSL_VERSION:
		case SSL_R_WRONG_VERSION_NUMBER:
		case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		case SSL_R_VERSION_TOO_HIGH:
		case SSL_R_VERSION_TOO_LOW:
			return true;
		default:
			return false;
	}
}

/*
 * Maps the result of a failed SSL call to a status, and puts the reason in
 * tls->error.  A fatal error marks the connection so that free does not
 * try to send close_notify, which OpenSSL forbids after one.
 */
static CmTlsStatus
tls_status(CmTls *tls, int ret, const char *what)
{
	int err = SSL_get_error(tls->ssl, ret);
	unsigned long ecode = ERR_get_error();
	char ebuf[CM_TLS_ERROR_LEN];
	CmTlsStatus st;

	switch (err)
	{
		case SSL_ERROR_WANT_READ:
			st = CM_TLS_WANT_READ;
			tls->error[0] = '\0';
			break;
		case SSL_ERROR_WANT_WRITE:
			st = CM_TLS_WANT_WRITE;
			tls->error[0] = '\0';
			break;
		case SSL_ERROR_ZERO_RETURN:
			/* close_notify: a clean end, and we may still answer it */
			st = CM_TLS_CLOSED;
			snprintf(tls->error, sizeof(tls->error), "%s: connection closed%s%s",
					 what, tls->last_errno ? ": " : "",
					 tls->last_errno ? strerror(tls->last_errno) : "");
			break;
		case SSL_ERROR_SYSCALL:
			tls->failed = true;
			if (ecode == 0 && tls->last_errno == 0)
			{
				st = CM_TLS_CLOSED;
				snprintf(tls->error, sizeof(tls->error), "%s: EOF detected",
						 what);
			}
			else
			{
				st = CM_TLS_ERROR;
				snprintf(tls->error, sizeof(tls->error), "%s: %s", what,
						 ecode ? ssl_error_text(ecode, ebuf, sizeof(ebuf))
							   : strerror(tls->last_errno));
			}
			break;
		case SSL_ERROR_SSL:
		default:
			tls->failed = true;
			if (ERR_GET_REASON(ecode) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			{
				/* libpq closes without close_notify: an ordinary end */
				st = CM_TLS_CLOSED;
				snprintf(tls->error, sizeof(tls->error), "%s: EOF detected",
						 what);
				break;
			}
			st = CM_TLS_ERROR;
			if (SSL_get_verify_result(tls->ssl) != X509_V_OK)
				snprintf(tls->error, sizeof(tls->error), "%s: %s: %s", what,
						 ssl_error_text(ecode, ebuf, sizeof(ebuf)),
						 X509_verify_cert_error_string(
							 SSL_get_verify_result(tls->ssl)));
			else if (tls->kind != CM_TLS_KIND_CLIENT &&
					 is_protocol_version_reason(ERR_GET_REASON(ecode)))
				snprintf(tls->error, sizeof(tls->error),
						 "%s: %s (the client may not support any SSL protocol version between %s and %s)",
						 what, ssl_error_text(ecode, ebuf, sizeof(ebuf)),
						 ssl_min_protocol_version
							 ? protocol_version_name(ssl_min_protocol_version)
							 : "TLSv1",
						 ssl_max_protocol_version
							 ? protocol_version_name(ssl_max_protocol_version)
							 : "TLSv1.3");
			else
				snprintf(tls->error, sizeof(tls->error), "%s: %s", what,
						 ssl_error_text(ecode, ebuf, sizeof(ebuf)));
			break;
	}
	ERR_clear_error();
	return st;
}

/* Refuses a client certificate whose names hide a NUL, as the server does. */
static bool
peer_names_are_clean(CmTls *tls)
{
	X509 *peer = SSL_get0_peer_certificate(tls->ssl);
	X509_NAME *name;
	BIO *bio;
	char *data;
	long len;
	int cnlen;
	bool clean;

	if (peer == NULL)
		return true;
	name = X509_get_subject_name(peer);
	cnlen = X509_NAME_get_text_by_NID(name, NID_commonName, NULL, 0);
	if (cnlen > 0)
	{
		char *cn = malloc((size_t) cnlen + 1);

		if (cn == NULL)
			return false;
		X509_NAME_get_text_by_NID(name, NID_commonName, cn, cnlen + 1);
		clean = strlen(cn) == (size_t) cnlen;
		free(cn);
		if (!clean)
		{
			strlcpy(tls->error,
					"SSL certificate's common name contains embedded null",
					sizeof(tls->error));
			return false;
		}
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		return false;
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(bio, &data);
	clean = len >= 0 && memchr(data, '\0', (size_t) len) == NULL;
	BIO_free(bio);
	if (!clean)
		strlcpy(tls->error,
				"SSL certificate's distinguished name contains embedded null",
				sizeof(tls->error));
	return clean;
}

/*
 * Advances the handshake.  WANT_READ/WANT_WRITE: call again once the socket
 * is ready.  OK: done.  Otherwise err says why (no trailing period).
 */
CmTlsStatus
cm_tls_handshake(CmTls *tls, char *err, size_t errlen)
{
	const char *what = tls->kind == CM_TLS_KIND_CLIENT
						   ? "could not establish SSL connection to the server"
						   : "could not accept SSL connection";
	int ret;
	CmTlsStatus st;

	tls_begin_call(tls);
	ret = SSL_do_handshake(tls->ssl);
	if (ret == 1)
	{
		st = CM_TLS_OK;
		tls->error[0] = '\0';
		if (tls->kind == CM_TLS_KIND_DIRECT)
		{
			const unsigned char *proto = NULL;
			unsigned int len = 0;

			SSL_get0_alpn_selected(tls->ssl, &proto, &len);
			if (len == 0)
			{
				strlcpy(tls->error,
						"received direct SSL connection request without ALPN protocol negotiation extension",
						sizeof(tls->error));
				st = CM_TLS_ERROR;
			}
		}
		if (st == CM_TLS_OK && tls->kind != CM_TLS_KIND_CLIENT &&
			!peer_names_are_clean(tls))
			st = CM_TLS_ERROR;
		ERR_clear_error();
	}
	else
		st = tls_status(tls, ret, what);
	if (err != NULL && errlen > 0)
		strlcpy(err, tls->error, errlen);
	return st;
}

/*
 * Reads decrypted bytes: >0, or -1 with *st saying what to wait for or why
 * to stop.  Even after a write-interest wakeup a read may want to write
 * (TLS 1.3 key updates): follow *st, not the direction of the call.
 */
ssize_t
cm_tls_read(CmTls *tls, void *buf, size_t len, CmTlsStatus *st)
{
	size_t n = 0;
	int ret;

	*st = CM_TLS_OK;
	if (len == 0)
		return 0;
	tls_begin_call(tls);
	ret = SSL_read_ex(tls->ssl, buf, Min(len, (size_t) INT_MAX), &n);
	if (ret == 1)
		return (ssize_t) n;
	*st = tls_status(tls, ret, "could not read from the SSL connection");
	return -1;
}

/*
 * Writes up to len bytes: >0 written (possibly fewer than len), or -1 with
 * *st.  After WANT_READ/WANT_WRITE the next call must offer the same bytes
 * again, at least as many; they may have moved in memory.
 */
ssize_t
cm_tls_write(CmTls *tls, const void *buf, size_t len, CmTlsStatus *st)
{
	size_t n = 0;
	int ret;

	*st = CM_TLS_OK;
	if (len == 0)
		return 0;
	tls_begin_call(tls);
	ret = SSL_write_ex(tls->ssl, buf, Min(len, (size_t) INT_MAX), &n);
	if (ret == 1)
		return (ssize_t) n;
	*st = tls_status(tls, ret, "could not write to the SSL connection");
	return -1;
}

/*
 * Whether bytes wait inside OpenSSL, decrypted or read ahead from the
 * socket: the socket is drained, so epoll will not report them.  Read
 * again before waiting.
 */
bool
cm_tls_pending(CmTls *tls)
{
	return tls != NULL && SSL_has_pending(tls->ssl);
}

/* Why the last handshake, read or write failed ("" if it did not). */
const char *
cm_tls_last_error(CmTls *tls)
{
	return tls ? tls->error : "";
}

/*
 * Frees the connection, first trying once to send close_notify when the
 * handshake had completed and no fatal error occurred.  The socket stays
 * open: the caller closes it.
 */
void
cm_tls_free(CmTls *tls)
{
	if (tls == NULL)
		return;
	if (tls->ssl != NULL)
	{
		ERR_clear_error();
		if (!tls->failed && SSL_is_init_finished(tls->ssl))
			(void) SSL_shutdown(tls->ssl);
		SSL_free(tls->ssl);
		ERR_clear_error();
	}
	free(tls->prefix);
	free(tls);
}

/* ------------------------------------------------------------------------
 * What was negotiated
 * ------------------------------------------------------------------------
 */

/*
 * The peer's certificate: subject CN and RFC 2253 DN (as the server prints
 * them for cert authentication and pg_ident.conf maps) and whether it
 * verified against ssl_ca_file.  False, with empty names, when there is no
 * certificate, a name does not fit the buffer or holds a NUL byte (as the
 * server refuses it).
 */
bool
cm_tls_peer_certificate(CmTls *tls, char *cn, size_t cnlen, char *dn,
						size_t dnlen, bool *verified)
{
	X509 *peer;
	X509_NAME *name;
	BIO *bio;
	char *data;
	long len;
	int n;
	bool ok = true;

	if (cnlen > 0)
		cn[0] = '\0';
	if (dnlen > 0)
		dn[0] = '\0';
	*verified = false;
	peer = tls ? SSL_get0_peer_certificate(tls->ssl) : NULL;
	if (peer == NULL)
		return false;
	name = X509_get_subject_name(peer);
	n = X509_NAME_get_text_by_NID(name, NID_commonName, NULL, 0);
	if (n >= 0)
	{
		if ((size_t) n >= cnlen)
			ok = false;
		else if (X509_NAME_get_text_by_NID(name, NID_commonName, cn,
										   (int) cnlen) != n ||
				 strlen(cn) != (size_t) n)
			ok = false; /* a NUL inside the name: "admin\0.example" */
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		ok = false;
	else
	{
		X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
		len = BIO_get_mem_data(bio, &data);
		if (len < 0 || (size_t) len >= dnlen || memchr(data, '\0', len))
			ok = false;
		else
		{
			memcpy(dn, data, (size_t) len);
			dn[len] = '\0';
		}
		BIO_free(bio);
	}
	ERR_clear_error();
	if (!ok)
	{
		if (cnlen > 0)
			cn[0] = '\0';
		if (dnlen > 0)
			dn[0] = '\0';
		return false;
	}
	*verified = SSL_get_verify_result(tls->ssl) == X509_V_OK;
	return true;
}

/*
 * tls-server-end-point channel binding data (RFC 5929): the hash of the
 * server's certificate with its signature's digest, SHA-256 for MD5 and
 * SHA-1.  Our own certificate towards clients, the node's on our hop to
 * it.  *outlen is the room in out on entry and the hash's length on exit.
 */
bool
cm_tls_server_end_point(CmTls *tls, unsigned char *out, size_t *outlen)
{
	X509 *cert;
	int md_nid;
	const EVP_MD *md;
	unsigned char hash[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	bool ok;

	if (tls == NULL)
		return false;
	cert = tls->kind == CM_TLS_KIND_CLIENT ? SSL_get0_peer_certificate(tls->ssl)
										   : SSL_get_certificate(tls->ssl);
	if (cert == NULL ||
		!X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL))
	{
		ERR_clear_error();
		return false;
	}
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md = EVP_sha256();
	else
		md = EVP_get_digestbynid(md_nid);
	ok = md != NULL && X509_digest(cert, md, hash, &len) == 1 && len <= *outlen;
	ERR_clear_error();
	if (!ok)
		return false;
	memcpy(out, hash, len);
	*outlen = len;
	return true;
}

const char *
cm_tls_version(CmTls *tls)
{
	return tls ? SSL_get_version(tls->ssl) : "";
}

const char *
cm_tls_cipher(CmTls *tls)
{
	const SSL_CIPHER *c = tls ? SSL_get_current_cipher(tls->ssl) : NULL;

	return c ? SSL_CIPHER_get_name(c) : "";
}
