/*
 * monitor/mark_file.c
 *		The timeline mark survives the monitor: it is kept in
 *		$PGDATA/connection_manager.timeline_mark, one decimal number, written
 *		whole (a temporary file, fsync, rename, fsync of the directory) each
  *		time it rises.  A missing file reads as 0; one that cannot be read,
 *		or is damaged, stops the choice of a write leader until it is
 *		repaired.  The fsyncs run in the monitor's loop: a mark rises only at
 *		a failover, and then once.  To lower the mark (a cluster rebuilt
 *		from an old backup), stop the server and delete the file.
 *
 * Copyright (c) 2026, The connection_manager Authors; see LICENSE.
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "miscadmin.h"

#include "cm_monitor.h"

#define MARK_FILE "connection_manager.timeline_mark"
#define MARK_TEMP "connection_manager.timeline_mark.tmp"

/*
 * Reads the mark into *mark.  A missing file is 0 (a node that never saw a
 * failover).  A file that cannot be read, or holds anything but one
 * decimal number, is false: without the mark, a primary left behind on an
 * older timeline could pass for the write leader, so the monitor chooses
 * none until the file is repaired.  log says whether to tell why.
 */
bool
cm_mark_load(uint32 *mark, bool log)
{
	char buf[32];
	int fd = open(MARK_FILE, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	unsigned long value;
	char *end;

	*mark = 0;
	if (fd < 0 && errno == ENOENT)
		return true;
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0)
	{
		if (log)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("connection_manager: could not read \"%s/%s\": %m",
							DataDir, MARK_FILE),
					 errdetail("No write leader is chosen until it can be read."),
					 errhint(
						 "Make the file readable by the server's user; the monitor reads it again every probe interval.")));
		return false;
	}
	buf[n] = '\0';
	errno = 0;
	value = strtoul(buf, &end, 10);
	/* a full buffer is a longer file: its tail was not read, nor checked */
	if (n == sizeof(buf) - 1 || errno != 0 || end == buf || buf[0] == '-' ||
		(*end != '\n' && *end != '\0') || (*end == '\n' && end[1] != '\0') ||
		value > PG_UINT32_MAX)
	{
		if (log)
			ereport(LOG,
					(errmsg("connection_manager: the timeline mark file \"%s/%s\" is damaged",
							DataDir, MARK_FILE),
					 errdetail(
						 "It holds the highest timeline this node has seen; without it a primary left behind on an older timeline could pass for the write leader, so no write leader is chosen."),
					 errhint(
						 "Write the cluster's highest timeline into it as one decimal number (on the current primary: SELECT timeline_id FROM pg_control_checkpoint()), or remove it to learn the mark from the other nodes again; the monitor reads it again every probe interval.")));
		return false;
	}
	*mark = (uint32) value;
	return true;
}

/* Writes the mark; false, said in the log, when it could not. */
bool
cm_mark_store(uint32 mark)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%u\n", mark);
	int fd = open(MARK_TEMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int dir;
	int saved;
	ssize_t written;

	if (fd < 0)
		goto fail;
	errno = 0;
	written = write(fd, buf, len);
	if (written != len || fsync(fd) != 0)
	{
		saved = errno ? errno : ENOSPC; /* a short write sets none */
		close(fd);
		errno = saved;
		goto fail;
	}
	if (close(fd) != 0 || rename(MARK_TEMP, MARK_FILE) != 0)
		goto fail;
	/* the rename is durable once the directory is */
	dir = open(".", O_RDONLY | O_CLOEXEC);
	if (dir < 0 || fsync(dir) != 0)
	{
		saved = errno;
		if (dir >= 0)
			close(dir);
		errno = saved;
		goto fail;
	}
	close(dir);
	return true;

fail:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("connection_manager: could not write \"%s/%s\": %m",
					DataDir, MARK_FILE),
			 errdetail("The timeline mark %u is kept in memory only.", mark)));
	(void) unlink(MARK_TEMP);
	return false;
}
