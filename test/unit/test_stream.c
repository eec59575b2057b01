/*
 * test_stream.c
 *		Unit tests of the stream layer (src/event/stream.c) over socket
 *		pairs: a buffer is taken when bytes arrive and given back when they
 *		are passed on, so an idle stream holds none and the pool bounds what
 *		stays allocated; partial writes keep the rest; EOF and errors end a
 *		stream; our own messages go behind or ahead of what was read; the
 *		unscanned part is inspected, cut and passed in place; a long random
 *		run of buffer operations matches a plain model of the bytes.  TLS
 *		is not linked: its functions are stubs that must never be called.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_stream.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* TLS stubs: no stream here has TLS */
static int tls_calls;

CmTlsStatus
cm_tls_handshake(CmTls *tls, char *err, size_t errlen)
{
	(void) tls;
	(void) err;
	(void) errlen;
	tls_calls++;
	return CM_TLS_ERROR;
}

ssize_t
cm_tls_read(CmTls *tls, void *buf, size_t len, CmTlsStatus *st)
{
	(void) tls;
	(void) buf;
	(void) len;
	tls_calls++;
	*st = CM_TLS_ERROR;
	return -1;
}

ssize_t
cm_tls_write(CmTls *tls, const void *buf, size_t len, CmTlsStatus *st)
{
	(void) tls;
	(void) buf;
	(void) len;
	tls_calls++;
	*st = CM_TLS_ERROR;
	return -1;
}

bool
cm_tls_pending(CmTls *tls)
{
	(void) tls;
	tls_calls++;
	return false;
}

void
cm_tls_free(CmTls *tls)
{
	(void) tls;
	tls_calls++;
}

static void
no_handler(void *arg, uint32_t events)
{
	(void) arg;
	(void) events;
}

/* a: the stream's socket; b: the peer's end */
static void
pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0)
		abort();
}

static void
test_relay(void)
{
	int c[2];
	int s[2];
	CmStream client;
	CmStream server;
	char got[64];
	ssize_t n;

	pair(c);
	pair(s);
	cm_stream_init(&client, c[0], no_handler, NULL);
	cm_stream_init(&server, s[0], no_handler, NULL);
	ok(client.buf == NULL && cm_stream_has_room(&client),
	   "a new stream holds no buffer");

	ok(cm_stream_read(&client), "reading nothing is no error");
	ok(client.buf == NULL, "and holds no buffer");
	is_int(cm_stream_pool_in_use(), 0, "none in use");

	(void) write(c[1], "hello", 5);
	ok(cm_stream_read(&client), "a read");
	ok(client.buf != NULL && cm_stream_buffered(&client) == 5,
	   "takes a buffer for the bytes");
	ok(!cm_stream_has_output(&client), "not passed on before they are scanned");
	is_int((int) cm_stream_pass_all(&client), 5, "all five passed");
	ok(cm_stream_forward(&client, &server), "forwarded");
	n = read(s[1], got, sizeof(got));
	ok(n == 5 && memcmp(got, "hello", 5) == 0, "the peer got them");
	ok(client.buf == NULL, "the empty buffer went back");
	is_int(cm_stream_pool_in_use(), 0, "none in use");
	is_int(cm_stream_pool_free(), 1, "one kept free in the pool");

	/* EOF */
	close(c[1]);
	ok(!cm_stream_read(&client), "EOF ends the stream");
	ok(client.buf == NULL, "with no buffer left");
	cm_stream_close(&client);
	ok(client.watch.fd == -1, "closed");
	cm_stream_close(&server);
	close(s[1]);
	is_int(tls_calls, 0, "no TLS function was called");
}

static void
test_partial_write(void)
{
	int c[2];
	int s[2];
	CmStream client;
	CmStream server;
	int small = 4096;
	static uint8_t data[CM_STREAM_BUF_SIZE];
	static uint8_t got[CM_STREAM_BUF_SIZE * 2];
	size_t total = 0;
	size_t sent = 0;
	bool same = true;

	pair(c);
	pair(s);
	(void) setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	cm_stream_init(&client, c[0], no_handler, NULL);
	cm_stream_init(&server, s[0], no_handler, NULL);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t) (i * 7);
	(void) write(c[1], data, sizeof(data));
	ok(cm_stream_read(&client), "a full buffer's worth read");
	is_int((int) cm_stream_buffered(&client), (int) sizeof(data), "all of it");
	ok(!cm_stream_has_room(&client), "no room left");
	cm_stream_pass_all(&client);
	ok(cm_stream_forward(&client, &server), "a partial write is no error");
	ok(client.buf != NULL && cm_stream_has_output(&client), "the rest stays");
	ok(cm_stream_has_room(&client),
	   "and a read would find room after compacting");
	while (cm_stream_has_output(&client) && sent < 100)
	{
		ssize_t n;

		while ((n = read(s[1], got + total, sizeof(got) - total)) > 0)
			total += (size_t) n;
		(void) cm_stream_forward(&client, &server);
		sent++;
	}
	while (total < sizeof(data))
	{
		ssize_t n = read(s[1], got + total, sizeof(got) - total);

		if (n <= 0)
			break;
		total += (size_t) n;
	}
	is_int((int) total, (int) sizeof(data), "everything arrived");
	for (size_t i = 0; i < total; i++)
		same &= got[i] == data[i];
	ok(same, "in order");
	ok(client.buf == NULL, "and the buffer went back");

	/* a peer gone: a hard error */
	(void) write(c[1], "x", 1);
	(void) cm_stream_read(&client);
	cm_stream_pass_all(&client);
	close(s[1]);
	ok(!cm_stream_forward(&client, &server), "writing to a closed peer fails");
	cm_stream_clear(&client);
	ok(client.buf == NULL, "cleared");
	cm_stream_close(&client);
	cm_stream_close(&server);
	close(c[1]);
}

static void
test_messages(void)
{
	CmStream st;
	uint8_t *at;
	size_t room;
	uint32_t len;
	uint8_t *p;
	static uint8_t big[CM_STREAM_BUF_SIZE + 1];

	cm_stream_init(&st, -1, no_handler, NULL);
	ok(cm_stream_watch(&st, CM_EV_READ), "watching a closed stream is a no-op");
	ok(cm_stream_append(&st, "abc", 3), "appended");
	ok(cm_stream_has_output(&st), "ready to go");
	ok(cm_stream_prepend(&st, "12", 2), "prepended");
	p = st.buf->data + st.buf->start;
	ok(memcmp(p, "12abc", 5) == 0 && st.buf->scan - st.buf->start == 5,
	   "ahead of it, both passable");
	cm_stream_clear(&st);

	/* read-but-unscanned bytes stay unscanned behind a prepended message */
	ok(cm_stream_append(&st, "x", 1), "a byte");
	st.buf->scan = st.buf->start; /* as if read, not scanned */
	ok(cm_stream_prepend(&st, "REQ", 3), "a request ahead");
	is_int((int) (st.buf->scan - st.buf->start), 3, "only the request passes");
	p = cm_stream_unscanned(&st, &len);
	ok(len == 1 && p[0] == 'x', "the byte waits");
	cm_stream_clear(&st);

	ok(!cm_stream_append(&st, big, sizeof(big)), "too big for a buffer");
	ok(st.buf == NULL, "and no buffer kept for it");
	ok(!cm_stream_prepend(&st, big, sizeof(big)), "prepending too");
	ok(st.buf == NULL, "no buffer kept");

	at = cm_stream_reserve(&st, &room);
	ok(at != NULL && room == CM_STREAM_BUF_SIZE, "a whole buffer reserved");
	cm_stream_commit(&st, 0);
	ok(st.buf == NULL, "nothing committed, no buffer kept");

	/* the login's inspection: scan, cut, pass */
	ok(cm_stream_append(&st, "AAbbbCC", 7), "bytes");
	st.buf->scan = st.buf->start;
	p = cm_stream_unscanned(&st, &len);
	ok(len == 7 && p[0] == 'A', "all unscanned");
	cm_stream_pass(&st, 2);
	cm_stream_cut(&st, 3);
	p = cm_stream_unscanned(&st, &len);
	ok(len == 2 && memcmp(p, "CC", 2) == 0, "cut from the scan point");
	cm_stream_drop_unscanned(&st);
	is_int((int) cm_stream_buffered(&st), 2, "a partial message dropped");
	cm_stream_consume(&st, 2);
	ok(st.buf == NULL, "consumed, the buffer went back");
	cm_stream_consume(&st, 5);
	cm_stream_cut(&st, 5);
	cm_stream_drop_unscanned(&st);
	ok(st.buf == NULL && cm_stream_pass_all(&st) == 0,
	   "no buffer: nothing to do");

	/* room for a message at the scan point */
	ok(cm_stream_make_room(&st, CM_STREAM_BUF_SIZE),
	   "a whole buffer fits an empty stream");
	ok(!cm_stream_make_room(&st, CM_STREAM_BUF_SIZE + 1), "more never does");
	at = cm_stream_reserve(&st, &room);
	memset(at, 'z', room);
	cm_stream_commit(&st, room);
	cm_stream_consume(&st, 100);
	st.buf->scan = st.buf->start + 10;
	ok(cm_stream_make_room(&st, CM_STREAM_BUF_SIZE - 10),
	   "compacting makes room");
	is_int((int) st.buf->start, 0, "by moving to the front");
	cm_stream_clear(&st);
}

static void
test_pool_bound(void)
{
	CmStream st[CM_STREAM_POOL_MAX + 10];

	for (int i = 0; i < CM_STREAM_POOL_MAX + 10; i++)
	{
		cm_stream_init(&st[i], -1, no_handler, NULL);
		(void) cm_stream_append(&st[i], "m", 1);
	}
	is_int(cm_stream_pool_in_use(), CM_STREAM_POOL_MAX + 10, "each holds one");
	for (int i = 0; i < CM_STREAM_POOL_MAX + 10; i++)
		cm_stream_clear(&st[i]);
	is_int(cm_stream_pool_in_use(), 0, "all given back");
	is_int(cm_stream_pool_free(), CM_STREAM_POOL_MAX,
		   "the pool keeps its bound");
}

/*
 * The bytes a stream holds, kept apart as a plain array: what was read
 * (or queued) and not yet taken, and how many of them may be passed on.
 */
static uint8_t model[CM_STREAM_BUF_SIZE];
static uint32_t model_len;
static uint32_t model_scanned;

static bool
matches_model(CmStream *st)
{
	CmStreamBuf *b = st->buf;

	if (b == NULL)
		return model_len == 0;
	return model_len > 0 && b->start <= b->scan && b->scan <= b->end &&
		   b->end <= CM_STREAM_BUF_SIZE && b->end - b->start == model_len &&
		   b->scan - b->start == model_scanned &&
		   memcmp(b->data + b->start, model, model_len) == 0 &&
		   cm_stream_has_output(st) == (model_scanned > 0);
}

static void
test_random_operations(void)
{
	CmStream st;
	static uint8_t bytes[CM_STREAM_BUF_SIZE + 2];
	int steps = 200000;
	int bad_step = -1;
	uint32_t seed = 12345;

	cm_stream_init(&st, -1, no_handler, NULL);
	model_len = model_scanned = 0;
	for (int i = 0; i < steps && bad_step < 0; i++)
	{
		uint32_t r;
		uint32_t n;
		bool fits;

		seed = seed * 1103515245u + 12345u;
		r = seed >> 8;
		/* mostly small, now and then up to a whole buffer */
		n = (r >> 4) % (r % 7 == 0 ? CM_STREAM_BUF_SIZE + 2 : 600);
		for (uint32_t k = 0; k < n; k++)
			bytes[k] = (uint8_t) (r + k * 31 + i);
		fits = n <= CM_STREAM_BUF_SIZE - model_len;
		switch (r % 11)
		{
			case 0:
			case 1:
				if (n == 0)
					break;
				if (cm_stream_append(&st, bytes, n) != fits)
					bad_step = i;
				else if (fits)
				{
					memcpy(model + model_len, bytes, n);
					model_len += n;
					model_scanned = model_len;
				}
				break;
			case 2:
				if (n == 0)
					break;
				if (cm_stream_prepend(&st, bytes, n) != fits)
					bad_step = i;
				else if (fits)
				{
					memmove(model + n, model, model_len);
					memcpy(model, bytes, n);
					model_len += n;
					model_scanned += n;
				}
				break;
			case 3:
				n = n % (model_len - model_scanned + 1);
				cm_stream_pass(&st, n);
				model_scanned += n;
				break;
			case 4:
				if (cm_stream_pass_all(&st) != model_len - model_scanned)
					bad_step = i;
				model_scanned = model_len;
				break;
			case 5:
				cm_stream_cut(&st, n);
				n = n < model_len - model_scanned ? n
												  : model_len - model_scanned;
				memmove(model + model_scanned, model + model_scanned + n,
						model_len - model_scanned - n);
				model_len -= n;
				break;
			case 6:
				cm_stream_consume(&st, n);
				n = n < model_len ? n : model_len;
				memmove(model, model + n, model_len - n);
				model_len -= n;
				model_scanned = model_scanned > n ? model_scanned - n : 0;
				break;
			case 7:
				cm_stream_drop_unscanned(&st);
				model_len = model_scanned;
				break;
			case 8:
				cm_stream_compact(&st);
				break;
			case 9:
				(void) cm_stream_make_room(&st, n);
				break;
			case 10:
				if (r % 5 == 0)
				{
					cm_stream_clear(&st);
					model_len = model_scanned = 0;
				}
				break;
		}
		if (!matches_model(&st))
			bad_step = i;
	}
	ok(bad_step < 0, "%d random operations match the model (first bad: %d)",
	   steps, bad_step);
	is_int(cm_stream_pool_in_use(), st.buf ? 1 : 0,
		   "the pool counts the one buffer held");
	cm_stream_clear(&st);
}

int
main(void)
{
	test_relay();
	test_partial_write();
	test_messages();
	test_pool_bound();
	test_random_operations();
	return done_testing();
}
