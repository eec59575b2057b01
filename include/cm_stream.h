/*
 * cm_stream.h
 *		One socket in the event loop and the bytes read from it: its watch,
 *		TLS over it with what a TLS call waits for, and a buffer holding
 *		what was read until it is passed on to the other side of a session.
 *
 * Buffers come from a pool of the process when bytes arrive and go back
 * as soon as they are empty, so an idle connection holds none, and the
 * pool keeps a bounded number of free ones, so relaying allocates nothing.
 * A buffer outlives its socket: what a peer sent before it went away can
 * still be passed on.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#ifndef CM_STREAM_H
#define CM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_event.h"
#include "cm_tls.h"

#define CM_STREAM_BUF_SIZE 16384
/* free buffers the pool keeps; more are freed */
#define CM_STREAM_POOL_MAX 64

/*
 * Bytes read from a socket.  [start, scan) may be passed on; [scan, end)
 * was read but not yet inspected (a message split across reads while a
 * session logs in).  Once relaying, scan follows end.
 */
typedef struct CmStreamBuf
{
	struct CmStreamBuf *next; /* in the pool's free list */
	uint32_t start;
	uint32_t scan;
	uint32_t end;
	uint32_t high; /* the furthest end since taken: wiped when given back */
	uint8_t data[CM_STREAM_BUF_SIZE];
} CmStreamBuf;

typedef struct CmStream
{
	CmWatch watch;			  /* fd -1 once closed */
	CmTls *tls;				  /* TLS on this socket, or NULL */
	uint32_t tls_read_wants;  /* a TLS read (or handshake) waits for this */
	uint32_t tls_write_wants; /* a TLS write waits for this */
	bool tls_pending;		  /* OpenSSL holds bytes epoll cannot see */
	CmStreamBuf *buf;		  /* NULL while nothing is buffered */
} CmStream;

/* The socket */
extern void
cm_stream_init(CmStream *st, int fd, CmWatchHandler handler, void *arg);
extern void cm_stream_close(CmStream *st);
extern bool cm_stream_watch(CmStream *st, uint32_t events);
extern CmTlsStatus cm_stream_handshake(CmStream *st, char *err, size_t errlen);
extern bool cm_stream_should_read(const CmStream *st, uint32_t events);
extern bool cm_stream_read(CmStream *st);
extern bool cm_stream_forward(CmStream *from, CmStream *to);

/* The buffer: messages of ours */
extern bool cm_stream_append(CmStream *st, const void *bytes, size_t len);
extern bool cm_stream_prepend(CmStream *st, const void *bytes, size_t len);
extern uint8_t *cm_stream_reserve(CmStream *st, size_t *room);
extern void cm_stream_commit(CmStream *st, size_t len);

/* The buffer: what was read, inspected in place */
extern uint8_t *cm_stream_unscanned(CmStream *st, uint32_t *len);
extern void cm_stream_pass(CmStream *st, uint32_t len);
extern uint32_t cm_stream_pass_all(CmStream *st);
extern bool cm_stream_make_room(CmStream *st, uint32_t len);
extern void cm_stream_cut(CmStream *st, uint32_t len);
extern void cm_stream_consume(CmStream *st, uint32_t len);
extern void cm_stream_drop_unscanned(CmStream *st);
extern void cm_stream_compact(CmStream *st);
extern void cm_stream_clear(CmStream *st);

/* The pool, for tests and the curious */
extern int cm_stream_pool_free(void);
extern int cm_stream_pool_in_use(void);

/* Whether a read would find room (a full buffer compacts first). */
static inline bool
cm_stream_has_room(const CmStream *st)
{
	return st->buf == NULL || st->buf->end < CM_STREAM_BUF_SIZE ||
		   st->buf->start > 0;
}

/* Whether bytes wait to be passed on. */
static inline bool
cm_stream_has_output(const CmStream *st)
{
	return st->buf != NULL && st->buf->start < st->buf->scan;
}

/* Bytes buffered, passed on or not. */
static inline uint32_t
cm_stream_buffered(const CmStream *st)
{
	return st->buf == NULL ? 0 : st->buf->end - st->buf->start;
}

#endif /* CM_STREAM_H */
