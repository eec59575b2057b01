/*
 * test_msg_track.c
 *		Unit tests for the relay's message boundaries (src/pure/msg_track.c):
 *		whole streams, every split of them, stopping at each message's end,
 *		ReadyForQuery's status, the counts that say a session waits for an
 *		answer, and a broken length.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_msg_track.h"

#include <stdlib.h>

#include "tap.h"

static size_t
put_msg(uint8_t *out, char type, const char *body, uint32_t body_len)
{
	uint32_t len = body_len + 4;

	out[0] = (uint8_t) type;
	out[1] = (uint8_t) (len >> 24);
	out[2] = (uint8_t) (len >> 16);
	out[3] = (uint8_t) (len >> 8);
	out[4] = (uint8_t) len;
	memcpy(out + 5, body, body_len);
	return 5 + body_len;
}

/* A server's answer to a query, in a transaction it leaves open. */
static size_t
server_stream(uint8_t *buf, size_t *ends, int *nends)
{
	size_t n = 0;
	int k = 0;

	n += put_msg(buf + n, 'C', "BEGIN", 6);
	ends[k++] = n;
	n += put_msg(buf + n, 'Z', "T", 1);
	ends[k++] = n;
	n += put_msg(buf + n, 'S', "a\0b", 4); /* ParameterStatus: not a sync */
	ends[k++] = n;
	n += put_msg(buf + n, 'T', "\0\0", 2);
	ends[k++] = n;
	n += put_msg(buf + n, 'D', "0123456789012345678901234567890123456789", 40);
	ends[k++] = n;
	n += put_msg(buf + n, 'n', "", 0); /* empty body */
	ends[k++] = n;
	n += put_msg(buf + n, 'Z', "E", 1);
	ends[k++] = n;
	*nends = k;
	return n;
}

static bool
same(const CmMsgTrack *a, const CmMsgTrack *b)
{
	return a->left == b->left && a->head_have == b->head_have &&
		   a->broken == b->broken && a->status == b->status &&
		   a->readies == b->readies && a->syncs == b->syncs &&
		   a->type == b->type && memcmp(a->head, b->head, a->head_have) == 0;
}

static void
test_whole(void)
{
	uint8_t buf[256];
	size_t ends[16];
	int nends;
	size_t n = server_stream(buf, ends, &nends);
	CmMsgTrack t;

	cm_msg_track_init(&t, true);
	ok(cm_msg_track_at_boundary(&t), "a new direction is at a boundary");
	is_int(t.status, 'I', "and idle");
	is_int(cm_msg_track_scan(&t, buf, n, false), n, "all bytes taken");
	ok(cm_msg_track_at_boundary(&t), "the stream ends with a whole message");
	is_int(t.status, 'E', "the last ReadyForQuery says the transaction failed");
	is_int(t.readies, 2, "two ReadyForQuery messages");
	is_int(t.syncs, 0, "ParameterStatus is not counted as a Sync");
	is_int(t.type, 'Z', "the last message was a ReadyForQuery");
	is_int(cm_msg_track_scan(&t, buf, n - 1, false), n - 1, "again, short");
	ok(!cm_msg_track_at_boundary(&t), "one byte short is no boundary");
	is_int(t.status, 'T', "the status of the ReadyForQuery that came whole");
}

/* Every split into two and three pieces ends in the same state. */
static void
test_splits(void)
{
	uint8_t buf[256];
	size_t ends[16];
	int nends;
	size_t n = server_stream(buf, ends, &nends);
	CmMsgTrack whole;
	int bad = 0;
	int boundary_wrong = 0;

	cm_msg_track_init(&whole, true);
	(void) cm_msg_track_scan(&whole, buf, n, false);
	for (size_t a = 0; a <= n; a++)
		for (size_t b = a; b <= n; b++)
		{
			CmMsgTrack t;
			bool at_a;
			bool expect_a = a == 0;

			cm_msg_track_init(&t, true);
			(void) cm_msg_track_scan(&t, buf, a, false);
			at_a = cm_msg_track_at_boundary(&t);
			for (int k = 0; k < nends; k++)
				expect_a |= ends[k] == a;
			boundary_wrong += at_a != expect_a;
			(void) cm_msg_track_scan(&t, buf + a, b - a, false);
			(void) cm_msg_track_scan(&t, buf + b, n - b, false);
			bad += !same(&t, &whole);
		}
	is_int(bad, 0, "every split into three pieces gives the same state");
	is_int(boundary_wrong, 0, "a boundary exactly where a message ends");
}

/* stop_at_end hands back each message's end in turn. */
static void
test_stop_at_end(void)
{
	uint8_t buf[256];
	size_t ends[16];
	int nends;
	size_t n = server_stream(buf, ends, &nends);
	CmMsgTrack t;
	size_t at = 0;
	int k = 0;
	int wrong = 0;

	cm_msg_track_init(&t, true);
	while (at < n)
	{
		at += cm_msg_track_scan(&t, buf + at, n - at, true);
		wrong += k >= nends || at != ends[k] || !cm_msg_track_at_boundary(&t);
		k++;
	}
	is_int(k, nends, "one stop per message");
	is_int(wrong, 0, "each stop at the end of a message");

	/* in pieces of 3 bytes: stops only at ends or at the piece's end */
	cm_msg_track_init(&t, true);
	at = 0;
	wrong = 0;
	while (at < n)
	{
		size_t piece = n - at < 3 ? n - at : 3;
		size_t took = cm_msg_track_scan(&t, buf + at, piece, true);
		bool at_end = false;

		at += took;
		for (int j = 0; j < nends; j++)
			at_end |= ends[j] == at;
		wrong += took == 0 || (took < piece && !at_end) ||
				 cm_msg_track_at_boundary(&t) != at_end;
	}
	is_int(wrong, 0, "split reads stop at message ends only");
}

static void
test_client_counts(void)
{
	uint8_t buf[256];
	size_t n = 0;
	CmMsgTrack c;
	CmMsgTrack s;

	n += put_msg(buf + n, 'P', "\0select 1\0\0\0", 12);
	n += put_msg(buf + n, 'B', "\0\0\0\0\0\0\0", 7);
	n += put_msg(buf + n, 'E', "\0\0\0\0\0", 5);
	n += put_msg(buf + n, 'S', "", 0);
	n += put_msg(buf + n, 'Q', "select 2\0", 9);
	n += put_msg(buf + n, 'F', "\0\0\0\0", 4);
	cm_msg_track_init(&c, false);
	cm_msg_track_init(&s, true);
	(void) cm_msg_track_scan(&c, buf, n, false);
	is_int(c.syncs, 3, "Sync, Query and FunctionCall each owe a ReadyForQuery");
	ok(cm_msg_track_waiting(&c, &s), "the session waits for answers");
	n = put_msg(buf, 'Z', "I", 1);
	n += put_msg(buf + n, 'Z', "T", 1);
	(void) cm_msg_track_scan(&s, buf, n, false);
	ok(cm_msg_track_waiting(&c, &s), "two answers of three: still waiting");
	(void) cm_msg_track_scan(&s, buf, n / 2, false);
	ok(!cm_msg_track_waiting(&c, &s), "the third: idle");
	is_int(s.status, 'I', "idle, outside a transaction");
}

static void
test_broken(void)
{
	uint8_t buf[32] = {'Q', 0, 0, 0, 3, 'x', 'y', 'z'};
	CmMsgTrack t;

	cm_msg_track_init(&t, false);
	is_int(cm_msg_track_scan(&t, buf, 8, false), 5,
		   "taken up to the bad header");
	ok(t.broken && !cm_msg_track_at_boundary(&t), "broken: no boundary");
	is_int(cm_msg_track_scan(&t, buf + 5, 3, false), 0, "nothing after");

	/* a length of exactly 4 is an empty body, not broken */
	buf[4] = 4;
	cm_msg_track_init(&t, false);
	is_int(cm_msg_track_scan(&t, buf, 5, true), 5, "an empty message");
	ok(cm_msg_track_at_boundary(&t), "ends at once");

	/* the largest length is skipped without overflow */
	memcpy(buf, "d\xff\xff\xff\xff", 5);
	cm_msg_track_init(&t, false);
	is_int(cm_msg_track_scan(&t, buf, 10, false), 10, "a huge body starts");
	is_int(t.left, 0xffffffffu - 4 - 5, "and is counted down");
}

/* Random streams of random messages read in random pieces. */
static void
test_random(void)
{
	static uint8_t buf[1 << 16];
	int bad = 0;

	srand(7);
	for (int round = 0; round < 300; round++)
	{
		size_t n = 0;
		uint32_t readies = 0;
		char status = 'I';
		CmMsgTrack t;
		size_t at = 0;

		while (n < sizeof(buf) - 600)
		{
			char type = "ZDCTSEN"[rand() % 7];
			uint32_t body = type == 'Z' ? 1 : (uint32_t) (rand() % 512);
			char b[512];

			memset(b, "ITE"[rand() % 3], sizeof(b));
			if (type == 'Z')
			{
				readies++;
				status = b[0];
			}
			n += put_msg(buf + n, type, b, body);
		}
		cm_msg_track_init(&t, true);
		while (at < n)
		{
			size_t piece = (size_t) (rand() % 700);

			if (piece > n - at)
				piece = n - at;
			at += cm_msg_track_scan(&t, buf + at, piece, rand() % 2);
		}
		bad += !cm_msg_track_at_boundary(&t) || t.readies != readies ||
			   t.status != status;
	}
	is_int(bad, 0, "300 random streams in random pieces tracked exactly");
}

int
main(void)
{
	test_whole();
	test_splits();
	test_stop_at_end();
	test_client_counts();
	test_broken();
	test_random();
	return done_testing();
}
