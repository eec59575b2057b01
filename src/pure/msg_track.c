/*
 * pure/msg_track.c
 *		Message boundaries of a relayed direction (see cm_msg_track.h).
 *
 * The relay calls this on every chunk it reads, so the common case is a
 * few comparisons per message: a body is skipped in one step whatever its
 * size, and only the five header bytes are looked at one by one.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "cm_msg_track.h"

#include <string.h>

void
cm_msg_track_init(CmMsgTrack *t, bool from_server)
{
	memset(t, 0, sizeof(*t));
	t->from_server = from_server;
	t->status = 'I';
}

/* A whole header came: the message starts. */
static void
track_header(CmMsgTrack *t)
{
	uint32_t length = ((uint32_t) t->head[1] << 24) |
					  ((uint32_t) t->head[2] << 16) |
					  ((uint32_t) t->head[3] << 8) | (uint32_t) t->head[4];
	char type = (char) t->head[0];

	t->head_have = 0;
	if (length < 4)
	{
		t->broken = true;
		return;
	}
	t->left = length - 4;
	t->type = type;
	if (t->from_server)
	{
		if (type == 'Z')
		{
			t->readies++;
			t->want_status = t->left == 1;
		}
	}
	else if (type == 'Q' || type == 'S' || type == 'F')
		t->syncs++;
}

/*
 * Scans the next len bytes of the direction and returns how many it took:
 * all of them, unless stop_at_end is set and a message ends earlier (then
 * up to that end), or the stream broke (a length under 4; then up to the
 * bad header, and nothing more is ever taken).
 */
size_t
cm_msg_track_scan(CmMsgTrack *t, const uint8_t *p, size_t len, bool stop_at_end)
{
	size_t i = 0;

	while (i < len && !t->broken)
	{
		if (t->left > 0)
		{
			size_t take = len - i < t->left ? len - i : t->left;

			if (t->want_status)
			{
				t->status = (char) p[i];
				t->want_status = false;
			}
			i += take;
			t->left -= (uint32_t) take;
			if (t->left == 0 && stop_at_end)
				break;
			continue;
		}
		t->head[t->head_have++] = p[i++];
		if (t->head_have < sizeof(t->head))
			continue;
		track_header(t);
		if (t->left == 0 && stop_at_end)
			break;
	}
	return i;
}
