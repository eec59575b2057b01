/*
 * mark_file.c
 *		The timeline mark survives the monitor: it is kept in
 *		$PGDATA/connection_manager.timeline_mark, one decimal number, written
 *		whole (a temporary file, fsync, rename, fsync of the directory) each
 *		time it rises.  A missing or unreadable file reads as 0, with a LOG
 *		line when it exists but is damaged.  To lower the mark (a cluster
 *		rebuilt from an old backup), stop the server and delete the file.
 */
#include "postgres.h"

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
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
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
	bool ok;

	if (fd < 0)
		goto fail;
	ok = write(fd, buf, len) == len && fsync(fd) == 0;
	if (close(fd) != 0 || !ok || rename(MARK_TEMP, MARK_FILE) != 0)
		goto fail;
	dir = open(".", O_RDONLY | O_CLOEXEC);
	if (dir >= 0)
	{
		(void) fsync(dir);
		close(dir);
	}
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
