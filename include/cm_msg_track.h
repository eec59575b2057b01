/*
 * cm_msg_track.h
 *		Where the messages of one direction of a relayed session begin and
 *		end, from their headers alone (type byte and length): bodies are
 *		skipped, never copied.  The server's direction also keeps the
 *		transaction status of its last ReadyForQuery, and both count the
 *		messages that the server answers with a ReadyForQuery, so that a
 *		session knows whether it is idle, in a transaction, or waiting.
 *
 * Plain C without the server's headers: unit-tested and fuzzed.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_MSG_TRACK_H
#define CM_MSG_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct CmMsgTrack
{
	uint32_t left;	   /* body bytes of the current message still to come */
	uint8_t head[5];   /* a header split across reads */
	uint8_t head_have; /* how much of it came */
	bool from_server;  /* the backend's direction */
	bool want_status;  /* the next body byte is a ReadyForQuery status */
	bool broken;	   /* a length under 4: no boundary can be known */
	char status;	   /* server: 'I', 'T' or 'E' of the last ReadyForQuery */
	char type;		   /* the type of the last message that began */
	uint32_t readies;  /* server: ReadyForQuery messages seen (wraps) */
	uint32_t syncs;	   /* client: Query, Sync and FunctionCall seen (wraps) */
} CmMsgTrack;

extern void cm_msg_track_init(CmMsgTrack *t, bool from_server);
extern size_t cm_msg_track_scan(CmMsgTrack *t, const uint8_t *p, size_t len,
								bool stop_at_end);

/* Whether what was scanned ends with a whole message. */
static inline bool
cm_msg_track_at_boundary(const CmMsgTrack *t)
{
	return t->left == 0 && t->head_have == 0 && !t->broken;
}

/*
 * Whether the server owes the client a ReadyForQuery: the client sent a
 * message the server answers with one, and it has not come yet.
 */
static inline bool
cm_msg_track_waiting(const CmMsgTrack *client, const CmMsgTrack *server)
{
	return client->syncs != server->readies;
}

#endif /* CM_MSG_TRACK_H */
