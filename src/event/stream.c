/*
 * event/stream.c
 *		A socket and the bytes read from it (see cm_stream.h): reads into a
 *		buffer taken from the pool, with TLS when the socket has it, and
 *		passes them on to another socket, in part when that one is full.
 *
 * Plain C without the server's headers: the unit tests link it, with TLS
 * left out.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cm_stream.h"

static CmStreamBuf *pool; /* free buffers, a list through next */
static int pool_nfree;
static int pool_nused;

static CmStreamBuf *
buf_take(void)
{
	CmStreamBuf *b = pool;

	if (b != NULL)
	{
		pool = b->next;
		pool_nfree--;
	}
	else
	{
		b = malloc(sizeof(CmStreamBuf));
		if (b == NULL)
			return NULL;
	}
	b->next = NULL;
	b->start = b->scan = b->end = b->high = 0;
	pool_nused++;
	return b;
}

/*
 * Back to the pool, wiped as far as it was ever filled: authentication
 * messages pass through buffers, and the next owner is another session.
 */
static void
buf_give(CmStreamBuf *b)
{
	explicit_bzero(b->data, b->high);
	pool_nused--;
	if (pool_nfree >= CM_STREAM_POOL_MAX)
	{
		free(b);
		return;
	}
	b->next = pool;
	pool = b;
	pool_nfree++;
}

/* The stream's buffer, taken from the pool if it has none; NULL: no memory. */
static CmStreamBuf *
stream_buf(CmStream *st)
{
	if (st->buf == NULL)
		st->buf = buf_take();
	return st->buf;
}

static void
stream_release_if_empty(CmStream *st)
{
	if (st->buf != NULL && st->buf->start == st->buf->end)
	{
		buf_give(st->buf);
		st->buf = NULL;
	}
}

static void
buf_filled(CmStreamBuf *b, uint32_t n)
{
	b->end += n;
	if (b->end > b->high)
		b->high = b->end;
}

void
cm_stream_init(CmStream *st, int fd, CmWatchHandler handler, void *arg)
{
	cm_watch_init(&st->watch, fd, handler, arg);
	st->tls = NULL;
	st->tls_read_wants = st->tls_write_wants = 0;
	st->tls_pending = false;
	st->buf = NULL;
}

/*
 * Frees the TLS object and closes the socket, which also takes it out of
 * the loop.  The buffer stays: what was read may still be passed on.
 */
void
cm_stream_close(CmStream *st)
{
	if (st->tls)
		cm_tls_free(st->tls);
	st->tls = NULL;
	st->tls_read_wants = st->tls_write_wants = 0;
	st->tls_pending = false;
	if (st->watch.fd >= 0)
	{
		cm_watch_forget(&st->watch);
		close(st->watch.fd);
	}
	st->watch.fd = -1;
}

/*
 * Waits for events, and for what a pending TLS call waits for.  True on a
 * closed stream; false with errno when epoll refuses.
 */
bool
cm_stream_watch(CmStream *st, uint32_t events)
{
	if (st->watch.fd < 0)
		return true;
	return cm_watch_set(&st->watch,
						events | st->tls_read_wants | st->tls_write_wants);
}

/* One step of the TLS handshake; the stream watches for what it waits for. */
CmTlsStatus
cm_stream_handshake(CmStream *st, char *err, size_t errlen)
{
	CmTlsStatus status = cm_tls_handshake(st->tls, err, errlen);

	if (status == CM_TLS_OK)
	{
		st->tls_read_wants = 0;
		/* what came behind the handshake's last record, read ahead */
		st->tls_pending = cm_tls_pending(st->tls);
	}
	else if (status == CM_TLS_WANT_READ)
		st->tls_read_wants = CM_EV_READ;
	else if (status == CM_TLS_WANT_WRITE)
		st->tls_read_wants = CM_EV_WRITE;
	return status;
}

/*
 * Whether the events call for a read: the socket is readable while we
 * read, a TLS read waits for the socket to be writable, or TLS holds
 * decrypted bytes that did not fit the buffer last time.
 */
bool
cm_stream_should_read(const CmStream *st, uint32_t events)
{
	return ((events & (CM_EV_READ | CM_EV_ERROR)) &&
			(st->watch.events & CM_EV_READ)) ||
		   (st->tls_read_wants && (events & CM_EV_WRITE)) ||
		   (st->tls_pending && cm_stream_has_room(st));
}

/*
 * TLS reads decrypt whole records: what a record held beyond the room we
 * gave is kept by OpenSSL, where epoll cannot see it.  So a TLS read loops
 * while such bytes remain and the buffer has room, and notes when they do
 * not fit (tls_pending) so that the owner reads again once it drains.
 */
static bool
stream_read_tls(CmStream *st, CmStreamBuf *b)
{
	for (;;)
	{
		CmTlsStatus status;
		ssize_t n;

		if (b->end == CM_STREAM_BUF_SIZE)
			cm_stream_compact(st);
		if (b->end == CM_STREAM_BUF_SIZE)
		{
			st->tls_pending = cm_tls_pending(st->tls);
			return true;
		}
		n = cm_tls_read(st->tls, b->data + b->end, CM_STREAM_BUF_SIZE - b->end,
						&status);
		st->tls_read_wants = 0;
		st->tls_pending = false;
		if (n > 0)
		{
			buf_filled(b, (uint32_t) n);
			if (cm_tls_pending(st->tls))
				continue;
			return true;
		}
		stream_release_if_empty(st);
		if (status == CM_TLS_WANT_READ)
			return true;
		if (status == CM_TLS_WANT_WRITE)
		{
			st->tls_read_wants = CM_EV_WRITE;
			return true;
		}
		return false;
	}
}

/*
 * Reads what the socket has into the buffer.  False on EOF, a hard error,
 * or no memory for a buffer: the stream cannot go on.
 */
bool
cm_stream_read(CmStream *st)
{
	CmStreamBuf *b = stream_buf(st);
	ssize_t n;

	if (b == NULL)
		return false;
	if (st->tls)
		return stream_read_tls(st, b);
	if (b->end == CM_STREAM_BUF_SIZE)
		cm_stream_compact(st);
	if (b->end == CM_STREAM_BUF_SIZE)
		return true;
	n = recv(st->watch.fd, b->data + b->end, CM_STREAM_BUF_SIZE - b->end, 0);
	if (n > 0)
	{
		buf_filled(b, (uint32_t) n);
		return true;
	}
	stream_release_if_empty(st);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return true;
	return false;
}

/*
 * Writes what from's buffer holds ready to to's socket, as much as it
 * takes; the buffer goes back to the pool once empty.  False on a hard
 * error of to.
 */
bool
cm_stream_forward(CmStream *from, CmStream *to)
{
	CmStreamBuf *b = from->buf;
	ssize_t n;

	if (!cm_stream_has_output(from))
		return true;
	if (to->tls)
	{
		CmTlsStatus status;

		n = cm_tls_write(to->tls, b->data + b->start, b->scan - b->start,
						 &status);
		to->tls_write_wants = 0;
		if (n < 0)
		{
			if (status == CM_TLS_WANT_READ)
				to->tls_write_wants = CM_EV_READ;
			return status == CM_TLS_WANT_READ || status == CM_TLS_WANT_WRITE;
		}
	}
	else
	{
		n = send(to->watch.fd, b->data + b->start, b->scan - b->start,
				 MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	}
	b->start += (uint32_t) n;
	stream_release_if_empty(from);
	return true;
}

/* Moves what is buffered to the front, so that reads have room. */
void
cm_stream_compact(CmStream *st)
{
	CmStreamBuf *b = st->buf;

	if (b == NULL || b->start == 0)
		return;
	memmove(b->data, b->data + b->start, b->end - b->start);
	b->scan -= b->start;
	b->end -= b->start;
	b->start = 0;
}

/*
 * Room for a message of ours at the end of the buffer, compacted first:
 * the place and (in *room) how many bytes fit, to be followed by
 * cm_stream_commit().  NULL when no buffer could be had.
 */
uint8_t *
cm_stream_reserve(CmStream *st, size_t *room)
{
	CmStreamBuf *b = stream_buf(st);

	*room = 0;
	if (b == NULL)
		return NULL;
	cm_stream_compact(st);
	*room = CM_STREAM_BUF_SIZE - b->end;
	return b->data + b->end;
}

/* The len bytes written after cm_stream_reserve() are whole: pass them on. */
void
cm_stream_commit(CmStream *st, size_t len)
{
	if (st->buf == NULL)
		return;
	buf_filled(st->buf, (uint32_t) len);
	st->buf->scan = st->buf->end;
	stream_release_if_empty(st);
}

/*
 * Queues a whole message of ours behind what is buffered.  False when it
 * does not fit, or no buffer could be had.
 */
bool
cm_stream_append(CmStream *st, const void *bytes, size_t len)
{
	size_t room;
	uint8_t *at = cm_stream_reserve(st, &room);

	if (at == NULL || room < len)
	{
		stream_release_if_empty(st);
		return false;
	}
	memcpy(at, bytes, len);
	cm_stream_commit(st, len);
	return true;
}

/*
 * Puts bytes ahead of everything buffered, to be passed on first; what
 * was buffered stays as it was, scanned or not.  False when it does not
 * fit, or no buffer could be had.
 */
bool
cm_stream_prepend(CmStream *st, const void *bytes, size_t len)
{
	CmStreamBuf *b = stream_buf(st);
	uint32_t pending;
	uint32_t scanned;

	if (b == NULL)
		return false;
	pending = b->end - b->start;
	scanned = b->scan - b->start;
	if (len > CM_STREAM_BUF_SIZE - pending)
	{
		stream_release_if_empty(st);
		return false;
	}
	memmove(b->data + len, b->data + b->start, pending);
	memcpy(b->data, bytes, len);
	b->start = 0;
	b->scan = (uint32_t) len + scanned;
	b->end = 0;
	buf_filled(b, (uint32_t) len + pending);
	return true;
}

/*
 * The bytes read but not yet inspected, and how many (0 and NULL when
 * none).  They may be changed in place.
 */
uint8_t *
cm_stream_unscanned(CmStream *st, uint32_t *len)
{
	if (st->buf == NULL)
	{
		*len = 0;
		return NULL;
	}
	*len = st->buf->end - st->buf->scan;
	return st->buf->data + st->buf->scan;
}

/* The next len unscanned bytes were inspected: they may be passed on. */
void
cm_stream_pass(CmStream *st, uint32_t len)
{
	if (st->buf != NULL)
		st->buf->scan += len;
}

/* Everything read may be passed on; returns how many bytes that adds. */
uint32_t
cm_stream_pass_all(CmStream *st)
{
	uint32_t n;

	if (st->buf == NULL)
		return 0;
	n = st->buf->end - st->buf->scan;
	st->buf->scan = st->buf->end;
	return n;
}

/*
 * Whether a message of len bytes at the scan point can be whole in the
 * buffer, compacting it if that makes the room.
 */
bool
cm_stream_make_room(CmStream *st, uint32_t len)
{
	if (len > CM_STREAM_BUF_SIZE)
		return false;
	if (st->buf != NULL && st->buf->scan + len > CM_STREAM_BUF_SIZE)
		cm_stream_compact(st);
	return st->buf == NULL || st->buf->scan + len <= CM_STREAM_BUF_SIZE;
}

/* Removes the first len unscanned bytes: a message that goes no further. */
void
cm_stream_cut(CmStream *st, uint32_t len)
{
	CmStreamBuf *b = st->buf;

	if (b == NULL)
		return;
	if (len > b->end - b->scan)
		len = b->end - b->scan;
	memmove(b->data + b->scan, b->data + b->scan + len, b->end - b->scan - len);
	b->end -= len;
	stream_release_if_empty(st);
}

/* Takes len bytes off the front: they were used here, not passed on. */
void
cm_stream_consume(CmStream *st, uint32_t len)
{
	CmStreamBuf *b = st->buf;

	if (b == NULL)
		return;
	if (len > b->end - b->start)
		len = b->end - b->start;
	b->start += len;
	if (b->scan < b->start)
		b->scan = b->start;
	stream_release_if_empty(st);
}

/* Drops what was read but not yet inspected (a partial message). */
void
cm_stream_drop_unscanned(CmStream *st)
{
	if (st->buf == NULL)
		return;
	st->buf->end = st->buf->scan;
	stream_release_if_empty(st);
}

/* Drops everything buffered, and gives the buffer back. */
void
cm_stream_clear(CmStream *st)
{
	if (st->buf == NULL)
		return;
	buf_give(st->buf);
	st->buf = NULL;
}

int
cm_stream_pool_free(void)
{
	return pool_nfree;
}

int
cm_stream_pool_in_use(void)
{
	return pool_nused;
}
