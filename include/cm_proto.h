/*
 * cm_proto.h
 *		Wire-protocol framing: the client's first packet, message headers,
 *		and the few messages the connection manager writes itself.
 *
 * Pure code: bytes in, a struct or an error out.  No sockets, no server
 * calls, no globals, so it is unit-tested and fuzzed on its own.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_PROTO_H
#define CM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_out.h"

/* Request codes carried in place of a protocol version. */
#define CM_PROTO_CANCEL_CODE 80877102u
#define CM_PROTO_SSL_CODE	 80877103u
#define CM_PROTO_GSSENC_CODE 80877104u
#define CM_PROTO_VERSION_3_0 196608u

/* The server refuses startup packets above this size; so do we. */
#define CM_PROTO_MAX_STARTUP_LEN 10000u
#define CM_PROTO_MAX_PARAMS		 64

typedef enum CmPacketKind
{
	CM_PACKET_NEED_MORE, /* not enough bytes yet */
	CM_PACKET_ERROR,	 /* malformed: see error */
	CM_PACKET_SSL_REQUEST,
	CM_PACKET_GSSENC_REQUEST,
	CM_PACKET_CANCEL,
	CM_PACKET_STARTUP
} CmPacketKind;

typedef struct CmStartupParam
{
	const char *name;
	const char *value;
} CmStartupParam;

/*
 * A parsed first packet.  Strings point into the caller's buffer, which
 * must stay untouched while the struct is used.
 */
typedef struct CmFirstPacket
{
	CmPacketKind kind;
	uint32_t length;	/* whole packet, length word included */
	uint32_t version;	/* protocol version or request code */
	int32_t cancel_pid; /* CM_PACKET_CANCEL */
	int32_t cancel_key;
	int nparams; /* CM_PACKET_STARTUP */
	CmStartupParam params[CM_PROTO_MAX_PARAMS];
	const char *user;
	const char *database; /* defaults to user, as the server does */
	bool replication;	  /* asks for a replication connection */
	const char *error;	  /* CM_PACKET_ERROR: message for the client */
	const char *sqlstate; /* CM_PACKET_ERROR: its SQLSTATE */
} CmFirstPacket;

extern CmPacketKind
cm_proto_parse_first_packet(const uint8_t *buf, size_t len, CmFirstPacket *out);

/* Message header (type byte + length) of a post-startup message. */
typedef enum CmHeaderResult
{
	CM_HEADER_NEED_MORE,
	CM_HEADER_OK,
	CM_HEADER_BAD_LENGTH
} CmHeaderResult;

extern CmHeaderResult
cm_proto_parse_header(const uint8_t *buf, size_t len, uint32_t max_len,
					  char *type, uint32_t *total_len);

/* Builders.  Each returns the bytes written, or 0 when cap is too small. */
extern size_t
cm_proto_build_error(uint8_t *out, size_t cap, const char *severity,
					 const char *sqlstate, const char *message,
					 const char *detail, const char *hint);
extern size_t cm_proto_build_startup(uint8_t *out, size_t cap, uint32_t version,
									 const CmStartupParam *params, int nparams);
extern size_t
cm_proto_build_cancel(uint8_t *out, size_t cap, int32_t pid, int32_t key);
extern size_t
cm_proto_build_backend_key(uint8_t *out, size_t cap, int32_t pid, int32_t key);

/*
 * Writers into a bounded buffer (cm_out.h): an AuthenticationRequest ('R')
 * with its code and data, and a password-type message ('p') carrying data
 * (a password, an md5 response or a SASL message).
 */
extern void cm_proto_write_auth_request(CmOut *out, uint32_t code,
										const void *data, size_t len);
extern void
cm_proto_write_password_message(CmOut *out, const void *data, size_t len);

extern bool cm_proto_error_field(const uint8_t *msg, size_t total, char code,
								 char *out, size_t cap);

extern uint32_t cm_proto_get_u32(const uint8_t *p);
extern void cm_proto_put_u32(uint8_t *p, uint32_t v);

#endif /* CM_PROTO_H */
