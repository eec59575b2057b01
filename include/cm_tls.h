/*
 * cm_tls.h
 *		TLS for the connection manager: the server-side context built from
 *		the server's own ssl_* settings, the client-side context for the hop
 *		to a target node, and non-blocking TLS connections that the event
 *		loop drives.  OpenSSL stays behind this interface; nothing here ever
 *		raises an error, every failure is a return value.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_TLS_H
#define CM_TLS_H

#include <sys/types.h>

/* One TLS connection over a socket the caller owns (and closes). */
typedef struct CmTls CmTls;

typedef enum CmTlsStatus
{
	CM_TLS_OK,
	CM_TLS_WANT_READ,  /* retry the same call once the socket is readable */
	CM_TLS_WANT_WRITE, /* retry the same call once the socket is writable */
	CM_TLS_CLOSED,	   /* the peer ended the connection */
	CM_TLS_ERROR	   /* protocol or socket error: give up the connection */
} CmTlsStatus;

/* libpq's sslmode values, for the hop to a target node. */
typedef enum CmSslMode
{
	CM_SSLMODE_DISABLE,
	CM_SSLMODE_ALLOW,
	CM_SSLMODE_PREFER,
	CM_SSLMODE_REQUIRE,
	CM_SSLMODE_VERIFY_CA,
	CM_SSLMODE_VERIFY_FULL
} CmSslMode;

/* Room for any tls-server-end-point hash (EVP_MAX_MD_SIZE). */
#define CM_TLS_END_POINT_MAX 64

/* Contexts: at worker start and after each SIGHUP. */
extern bool cm_tls_load(void);
extern bool cm_tls_enabled(void);
extern bool cm_tls_load_https(void);

/* Server side, towards clients. */
extern CmTls *cm_tls_accept_new(int fd);
extern bool cm_tls_is_direct_start(const void *buf, size_t len);
extern CmTls *cm_tls_accept_direct(int fd, const void *prefix, size_t len);
extern CmTls *cm_tls_accept_https(int fd);

/* Client side, towards a target node. */
extern bool cm_tls_parse_sslmode(const char *name, CmSslMode *mode);
extern CmTls *
cm_tls_connect_new(int fd, const char *sslmode, const char *servername);

/*
 * Whether certificates of nodes would be checked against the system's
 * roots (ssl_ca_file empty).  Then verify-ca is refused, as libpq 16
 * refuses sslrootcert=system with it: any publicly issued certificate,
 * for any name, would pass.
 */
extern bool cm_tls_system_roots(void);

/* Both sides. */
extern CmTlsStatus cm_tls_handshake(CmTls *tls, char *err, size_t errlen);
extern ssize_t cm_tls_read(CmTls *tls, void *buf, size_t len, CmTlsStatus *st);
extern ssize_t
cm_tls_write(CmTls *tls, const void *buf, size_t len, CmTlsStatus *st);
extern bool cm_tls_pending(CmTls *tls);
extern const char *cm_tls_last_error(CmTls *tls);
extern void cm_tls_free(CmTls *tls);

/* What the connection negotiated. */
extern bool cm_tls_peer_certificate(CmTls *tls, char *cn, size_t cnlen,
									char *dn, size_t dnlen, bool *verified);
extern bool
cm_tls_server_end_point(CmTls *tls, unsigned char *out, size_t *outlen);
extern const char *cm_tls_version(CmTls *tls);
extern const char *cm_tls_cipher(CmTls *tls);

#endif /* CM_TLS_H */
