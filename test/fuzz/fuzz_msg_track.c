/*
 * fuzz_msg_track.c
 *		libFuzzer target for the relay's message boundaries in
 *		src/pure/msg_track.c, in both directions.
 *
 * Beyond "does not crash", it checks what the module promises: a scan
 * never takes more than it is given, and takes everything unless it stops
 * at a message's end or at a broken header; and reading the input in
 * pieces (sizes taken from the input itself), stopping at message ends or
 * not, ends in exactly the state of reading it whole.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_msg_track.h"

#include <string.h>

#include "fuzz_check.h"

static void
check_direction(const uint8_t *data, size_t size, bool from_server)
{
	CmMsgTrack whole;
	CmMsgTrack parts;
	size_t took;
	size_t at = 0;
	size_t k = 0;

	cm_msg_track_init(&whole, from_server);
	took = cm_msg_track_scan(&whole, data, size, false);
	CHECK(took <= size);
	CHECK(took == size || whole.broken);

	cm_msg_track_init(&parts, from_server);
	while (at < size && !parts.broken)
	{
		size_t piece = (size_t) (data[k++ % size] % 23) + 1;
		bool stop = (data[k++ % size] & 1) != 0;
		size_t n;

		if (piece > size - at)
			piece = size - at;
		n = cm_msg_track_scan(&parts, data + at, piece, stop);
		CHECK(n <= piece);
		CHECK(n == piece || parts.broken ||
			  (stop && cm_msg_track_at_boundary(&parts)));
		at += n;
	}
	CHECK(at == took);
	CHECK(parts.left == whole.left && parts.head_have == whole.head_have &&
		  parts.broken == whole.broken && parts.status == whole.status &&
		  parts.readies == whole.readies && parts.syncs == whole.syncs &&
		  parts.type == whole.type);
	CHECK(memcmp(parts.head, whole.head, whole.head_have) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	check_direction(data, size, true);
	check_direction(data, size, false);
	return 0;
}
