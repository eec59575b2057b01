/*
 * monitor/mark_file.c
 *		The timeline mark survives the monitor: it is kept in
 *		$PGDATA/connection_manager.timeline_mark, one decimal number, written
 *		whole (a temporary file, fsync, rename, fsync of the directory) each
  *		time it rises.  A missing file reads as 0; one that cannot be read,
 *		or is damaged, too, with a LOG line.  The fsyncs run in the
 *		monitor's loop: a mark rises only at a failover, and then once.  To lower the mark (a cluster
 *		rebuilt from an old backup), stop the server and delete the file.
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

uint32
cm_mark_load(void)
{
	char buf[32];
	int fd = open(MARK_FILE, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	unsigned long value;
	char *end;

	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("connection_manager: could not open \"%s/%s\": %m",
							DataDir, MARK_FILE),
					 errdetail(
						 "The timeline mark starts from 0 and is learnt from the other nodes.")));
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	errno = 0;
	value = strtoul(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
		value > PG_UINT32_MAX)
	{
		ereport(LOG,
				(errmsg("connection_manager: ignoring the damaged file \"%s/%s\"",
						DataDir, MARK_FILE)));
		return 0;
	}
	return (uint32) value;
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
