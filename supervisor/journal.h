/* journal.h - antd's log as structured entries of systemd's journal (its native protocol). */
#ifndef ANTD_JOURNAL_H
#define ANTD_JOURNAL_H

#include <jansson.h>

/* The journal's socket when none is named. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Is stderr the journal's stream ($JOURNAL_STREAM names its device and
 * inode, as systemd sets it for a service whose output goes to the journal)? */
int journal_is_stderr(void);

/* Send entries to the journal's datagram socket at path (NULL: the default).
 * Returns 0 or -errno. */
int journal_open(const char *path);
int journal_on(void);

/*
 * One entry: MESSAGE (the plain log's line without time and level:
 * "server-exit [disk] pid 4121 killed by signal SIGKILL"), PRIORITY (syslog's: 7 debug,
 * 6 info, 4 warn, 3 error), SYSLOG_IDENTIFIER=antd, ANT_EVENT, ANT_SERVER
 * if any, and each scalar of fields as ANT_<KEY> (upper case, other bytes
 * as '_'; the log's own keys time, level, event, msg and server are said
 * by the fields above): `journalctl ANT_EVENT=server-exit ANT_SERVER=disk` finds them.
 * With defer, entries wait for journal_flush (log.h's deferred output).
 */
void journal_entry(int priority, const char *event, const char *server, const char *msg,
		   json_t *fields, int defer);
void journal_flush(void);
void journal_close(void);

#endif
