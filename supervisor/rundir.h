/* rundir.h - antd's run folder: claim it (a lock), the pid file, and detaching from the caller. */
#ifndef ANTD_RUNDIR_H
#define ANTD_RUNDIR_H

#include <stddef.h>

struct antd;

/* Create d->run_dir if needed, check that only antd's uid may write it, and
 * take DIR/antd.lock (flock): a live antd holding it is named in err.  Sets
 * the socket and pid file paths.  Returns 0, or -1 with err. */
int rundir_claim(struct antd *d, char *err, size_t errlen);
/* DIR/antd.pid (a failure is only logged). */
void rundir_write_pid(struct antd *d);
/* Detach: the caller's process waits until the stack is ready (or failed,
 * printing why) and exits with that status, so that `antd STACK && ...`
 * works in scripts; this one goes on with stdin, stdout and stderr on
 * /dev/null and log_file.  Sets d->ready_fd.  Returns 0 or -errno. */
int rundir_detach(struct antd *d, const char *log_file);

#endif
