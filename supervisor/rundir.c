/* rundir.c - antd's run folder: claim it (a lock), the pid file, and detaching from the caller. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "antd.h"
#include "log.h"
#include "rundir.h"

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Claim dir for this antd: flock on DIR/antd.lock.  Fails with a reason if
 * a live antd holds it. */
int rundir_claim(struct antd *d, char *err, size_t errlen)
{
	int r = mkdir_p(d->run_dir, 0755);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", d->run_dir, strerror(-r));
		return -1;
	}
	/* Only its owner may write in it: antd creates and removes files there
	 * as root, and a folder others can write would let them plant links. */
	struct stat st;
	if (lstat(d->run_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a folder", d->run_dir);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(err, errlen, "%s: must belong to uid %u and be writable by it alone "
			 "(it is uid %u, mode %04o)", d->run_dir, (unsigned)geteuid(),
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	char lock[PATH_MAX];
	snprintf(lock, sizeof(lock), "%s/antd.lock", d->run_dir);
	snprintf(d->pid_path, sizeof(d->pid_path), "%s/antd.pid", d->run_dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", lock, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		long pid = 0;
		FILE *f = fopen(d->pid_path, "re");
		if (f) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		close(fd);
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "%s holds a live stack already (antd pid %ld)",
				 d->run_dir, pid);
		else
			snprintf(err, errlen, "%s: %s", lock, strerror(e));
		return -1;
	}
	d->lock_fd = fd;
	if (snprintf(d->app_path, sizeof(d->app_path), "%s/app.sock", d->run_dir) >=
		    (int)sizeof(d->app_path) ||
	    snprintf(d->control_path, sizeof(d->control_path), "%s/control.sock",
		     d->run_dir) >= (int)sizeof(d->control_path)) {
		snprintf(err, errlen, "%s: path too long for a Unix socket", d->run_dir);
		return -1;
	}
	return 0;
}

void rundir_write_pid(struct antd *d)
{
	int fd = open(d->pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		log_warn("pid-file", NULL, "%s: %s", d->pid_path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

/* Detach: the parent waits until the stack is ready (or failed) and exits
 * with that status, so `antd STACK && ant-call ...` works in scripts. */
int rundir_detach(struct antd *d, const char *log_file)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);   /* stderr is buffered (log.c): nothing written twice */
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		char buf[512];
		size_t got = 0;
		ssize_t n;
		while (got < sizeof(buf) - 1 &&
		       (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			got += (size_t)n;
		}
		buf[got] = '\0';
		if (strncmp(buf, "ok", 2) == 0 && (buf[2] == '\n' || buf[2] == ' ')) {
			fputs(buf[2] == ' ' ? buf + 3 : "", stdout);   /* the ready line */
			fflush(stdout);
			_exit(0);
		}
		fprintf(stderr, "antd: %s", got ? buf : "stopped before the stack was ready (see the log)\n");
		fflush(stderr);
		_exit(1);
	}
	close(p[0]);
	d->ready_fd = p[1];
	setsid();
	/* Nothing of ours, or of the servers we start, writes to the caller's
	 * terminal or pipe any more: their stdout and stderr go to the log. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	int out = log_file ? open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
	if (out < 0)
		out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (out >= 0) {
		dup2(out, 1);
		dup2(out, 2);
		close(out);
	}
	return 0;
}
