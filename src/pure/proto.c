/*
 * pure/proto.c
 *		Framing of the frontend/backend protocol: the first packet a client
 *		sends, the header of later messages, and builders for the messages
 *		the connection manager originates.
 *
 * Every length read from the network is checked before it is used.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_proto.h"

#include <string.h>
#include <strings.h>

uint32_t
cm_proto_get_u32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		   ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

void
cm_proto_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static CmPacketKind
packet_error(CmFirstPacket *out, const char *sqlstate, const char *message)
{
	out->kind = CM_PACKET_ERROR;
	out->sqlstate = sqlstate;
	out->error = message;
	return CM_PACKET_ERROR;
}

/*
 * The values the server reads as false for a boolean "replication": like
 * its parse_bool(), any case-insensitive prefix of "false" or "no", a
 * prefix of "off" of two letters at least, and "0".
 */
static bool
replication_value_is_false(const char *value)
{
	static const struct
	{
		const char *word;
		size_t min_len;
	} falses[] = {{"false", 1}, {"no", 1}, {"off", 2}, {"0", 1}};
	size_t len = strlen(value);

	for (size_t i = 0; i < sizeof(falses) / sizeof(falses[0]); i++)
	{
		if (len >= falses[i].min_len && len <= strlen(falses[i].word) &&
			strncasecmp(value, falses[i].word, len) == 0)
			return true;
	}
	return false;
}

/*
 * Parse the name/value pairs of a StartupMessage, which occupy
 * buf[8 .. length-1] and end with an empty name.
 */
static CmPacketKind
parse_startup_params(const uint8_t *buf, uint32_t length, CmFirstPacket *out)
{
	uint32_t pos = 8;

	if (buf[length - 1] != '\0')
		return packet_error(out, "08P01",
							"invalid startup packet layout: expected terminator as last byte");

	for (;;)
	{
		const char *name;
		const char *value;
		const uint8_t *end;

		if (pos >= length)
			return packet_error(out, "08P01",
								"invalid startup packet layout: missing terminator");
		if (buf[pos] == '\0')
		{
			if (pos != length - 1)
				return packet_error(out, "08P01",
									"invalid startup packet layout: bytes after the terminator");
			break;
		}
		name = (const char *) buf + pos;
		end = memchr(buf + pos, '\0', length - pos);
		/* the last byte is a NUL, so end is found; a value must follow it */
		pos = (uint32_t) (end - buf) + 1;
		if (pos >= length - 1)
			return packet_error(out, "08P01",
								"invalid startup packet layout: expected a value after a parameter name");
		value = (const char *) buf + pos;
		end = memchr(buf + pos, '\0', length - pos);
		pos = (uint32_t) (end - buf) + 1;

		if (out->nparams >= CM_PROTO_MAX_PARAMS)
			return packet_error(out, "08P01",
								"too many parameters in the startup packet");
		out->params[out->nparams].name = name;
		out->params[out->nparams].value = value;
		out->nparams++;

		if (strcmp(name, "user") == 0)
			out->user = value;
		else if (strcmp(name, "database") == 0)
			out->database = value;
		else if (strcmp(name, "replication") == 0)
			out->replication = !replication_value_is_false(value);
	}

	if (out->user == NULL || out->user[0] == '\0')
		return packet_error(out, "28000",
							"no PostgreSQL user name specified in startup packet");
	if (out->database == NULL || out->database[0] == '\0')
		out->database = out->user;
	return CM_PACKET_STARTUP;
}

CmPacketKind
cm_proto_parse_first_packet(const uint8_t *buf, size_t len, CmFirstPacket *out)
{
	uint32_t length;
	uint32_t code;

	memset(out, 0, sizeof(*out));
	out->kind = CM_PACKET_NEED_MORE;
	if (len < 4)
		return CM_PACKET_NEED_MORE;

	length = cm_proto_get_u32(buf);
	if (length < 8 || length > CM_PROTO_MAX_STARTUP_LEN)
		return packet_error(out, "08P01", "invalid length of startup packet");
	out->length = length;
	if (len < length)
		return CM_PACKET_NEED_MORE;

	code = cm_proto_get_u32(buf + 4);
	out->version = code;
	switch (code)
	{
		case CM_PROTO_SSL_CODE:
		case CM_PROTO_GSSENC_CODE:
			if (length != 8)
				return packet_error(out, "08P01",
									"invalid length of startup packet");
			out->kind = code == CM_PROTO_SSL_CODE ? CM_PACKET_SSL_REQUEST
												  : CM_PACKET_GSSENC_REQUEST;
			return out->kind;
		case CM_PROTO_CANCEL_CODE:
			if (length != 16)
				return packet_error(out, "08P01",
									"invalid length of cancel request packet");
			out->cancel_pid = (int32_t) cm_proto_get_u32(buf + 8);
			out->cancel_key = (int32_t) cm_proto_get_u32(buf + 12);
			out->kind = CM_PACKET_CANCEL;
			return out->kind;
		default:
			break;
	}

	/* Any 3.x is passed on: the server negotiates minor versions itself. */
	if ((code >> 16) != 3)
		return packet_error(out, "0A000",
							"unsupported frontend protocol: the connection manager supports protocol 3");
	out->kind = parse_startup_params(buf, length, out);
	return out->kind;
}

CmHeaderResult
cm_proto_parse_header(const uint8_t *buf, size_t len, uint32_t max_len,
					  char *type, uint32_t *total_len)
{
	uint32_t body;

	if (len < 5)
		return CM_HEADER_NEED_MORE;
	body = cm_proto_get_u32(buf + 1);
	if (body < 4 || body >= max_len)
		return CM_HEADER_BAD_LENGTH;
	*type = (char) buf[0];
	*total_len = body + 1;
	return CM_HEADER_OK;
}

/* An optional field of an ErrorResponse: its code and text. */
static void
put_field(CmOut *out, char code, const char *s)
{
	if (s == NULL)
		return;
	cm_out_byte(out, (uint8_t) code);
	cm_out_cstring(out, s);
}

/* What a builder returns: the bytes written, or 0 when they did not fit. */
static size_t
built(const CmOut *out)
{
	return out->overflow ? 0 : out->len;
}

size_t
cm_proto_build_error(uint8_t *buf, size_t cap, const char *severity,
					 const char *sqlstate, const char *message,
					 const char *detail, const char *hint)
{
	CmOut out;
	size_t length_at;

	cm_out_init(&out, buf, cap);
	length_at = cm_out_begin_message(&out, 'E');
	put_field(&out, 'S', severity);
	put_field(&out, 'V', severity);
	put_field(&out, 'C', sqlstate);
	put_field(&out, 'M', message);
	put_field(&out, 'D', detail);
	put_field(&out, 'H', hint);
	cm_out_byte(&out, '\0');
	cm_out_end_message(&out, length_at);
	return built(&out);
}

size_t
cm_proto_build_startup(uint8_t *buf, size_t cap, uint32_t version,
					   const CmStartupParam *params, int nparams)
{
	CmOut out;
	size_t length_at;

	cm_out_init(&out, buf, cap);
	length_at = cm_out_begin_message(&out, '\0');
	cm_out_u32(&out, version);
	for (int i = 0; i < nparams; i++)
	{
		cm_out_cstring(&out, params[i].name);
		cm_out_cstring(&out, params[i].value);
	}
	cm_out_byte(&out, '\0');
	cm_out_end_message(&out, length_at);
	return built(&out);
}

size_t
cm_proto_build_cancel(uint8_t *buf, size_t cap, int32_t pid, int32_t key)
{
	CmOut out;
	size_t length_at;

	cm_out_init(&out, buf, cap);
	length_at = cm_out_begin_message(&out, '\0');
	cm_out_u32(&out, CM_PROTO_CANCEL_CODE);
	cm_out_u32(&out, (uint32_t) pid);
	cm_out_u32(&out, (uint32_t) key);
	cm_out_end_message(&out, length_at);
	return built(&out);
}

size_t
cm_proto_build_backend_key(uint8_t *buf, size_t cap, int32_t pid, int32_t key)
{
	CmOut out;
	size_t length_at;

	cm_out_init(&out, buf, cap);
	length_at = cm_out_begin_message(&out, 'K');
	cm_out_u32(&out, (uint32_t) pid);
	cm_out_u32(&out, (uint32_t) key);
	cm_out_end_message(&out, length_at);
	return built(&out);
}

void
cm_proto_write_auth_request(CmOut *out, uint32_t code, const void *data,
							size_t len)
{
	size_t length_at = cm_out_begin_message(out, 'R');

	cm_out_u32(out, code);
	cm_out_bytes(out, data, len);
	cm_out_end_message(out, length_at);
}

void
cm_proto_write_password_message(CmOut *out, const void *data, size_t len)
{
	size_t length_at = cm_out_begin_message(out, 'p');

	cm_out_bytes(out, data, len);
	cm_out_end_message(out, length_at);
}

/*
 * The value of one field (code) of an ErrorResponse or NoticeResponse,
 * msg being the whole message, header included, and total its length:
 * copied into out (cap bytes, NUL-terminated) and true when the field is
 * there and the message well formed up to it.
 */
bool
cm_proto_error_field(const uint8_t *msg, size_t total, char code, char *out,
					 size_t cap)
{
	size_t at = 5;

	if (total < 6 || cap == 0)
		return false;
	while (at < total && msg[at] != '\0')
	{
		char field = (char) msg[at++];
		const uint8_t *end = memchr(msg + at, '\0', total - at);
		size_t len;

		if (end == NULL)
			return false;
		len = (size_t) (end - (msg + at));
		if (field == code)
		{
			if (len >= cap)
				len = cap - 1;
			memcpy(out, msg + at, len);
			out[len] = '\0';
			return true;
		}
		at += len + 1;
	}
	return false;
}
