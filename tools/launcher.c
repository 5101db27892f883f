/* launcher.c - one antd launcher: a stack file in a temp run folder, antd started, ready, stopped, its log shown. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ctl_client.h"
#include "launcher.h"

#define POLL_MS   10
#define LOG_HEAD  20   /* a long log: its first lines ... */
#define LOG_TAIL  40   /* ... and its last */

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);   /* a signal cuts it short: the callers look at l->stop */
}

static int fail(struct launcher *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct launcher *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->error, sizeof(l->error), fmt, ap);
	va_end(ap);
	return -1;
}

static int stopped(const struct launcher *l)
{
	return l->stop && *l->stop;
}

int launcher_prepare(struct launcher *l, const char *template)
{
	if (snprintf(l->dir, sizeof(l->dir), "%s", template) >= (int)sizeof(l->dir) ||
	    !mkdtemp(l->dir)) {
		fail(l, "mkdtemp %s: %s", l->dir, strerror(errno ? errno : ENAMETOOLONG));
		l->dir[0] = '\0';
		return -1;
	}
	snprintf(l->stack_path, sizeof(l->stack_path), "%s/stack.json", l->dir);
	snprintf(l->log_path, sizeof(l->log_path), "%s/antd.log", l->dir);
	return 0;
}

int launcher_write_stack(struct launcher *l, const char *text)
{
	FILE *f = fopen(l->stack_path, "we");
	if (!f)
		return fail(l, "cannot write %s: %s", l->stack_path, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0)
		return fail(l, "cannot write %s: %s", l->stack_path, strerror(errno));
	return 0;
}

const char *launcher_how_ended(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	return buf;
}

int launcher_ended(struct launcher *l)
{
	if (l->antd <= 0)
		return 1;
	pid_t r = waitpid(l->antd, &l->status, WNOHANG);
	if (r == l->antd || (r < 0 && errno == ECHILD)) {
		l->antd = 0;
		return 1;
	}
	return 0;
}

/* In the forked child: become antd.  Only async-signal-safe calls. */
static void __attribute__((noreturn)) exec_antd(const struct launcher *l, const char *antd,
						int logfd, int errfd, pid_t parent)
{
	/* Never outlive the parent, whatever ends it (the check closes the race). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	/* Its own process group: Ctrl-C reaches only the parent, which then
	 * stops antd in order instead of racing it. */
	setpgid(0, 0);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0)
		dup2(devnull, 0);
	/* stdout too: a parent printing JSON must hold nothing but its object. */
	dup2(logfd, 1);
	dup2(logfd, 2);
	char *argv[10];
	int n = 0;
	argv[n++] = (char *)antd;
	argv[n++] = "--foreground";
	argv[n++] = "--run-dir";
	argv[n++] = (char *)l->dir;
	if (l->server_path) {
		argv[n++] = "--server-path";
		argv[n++] = (char *)l->server_path;
	}
	argv[n++] = (char *)l->stack_path;
	argv[n] = NULL;
	if (strchr(antd, '/'))
		execv(antd, argv);
	else
		execvp(antd, argv);
	int e = errno;
	ssize_t w = write(errfd, &e, sizeof(e));
	(void)w;
	_exit(127);
}

/* Fork and exec antd; learn through a close-on-exec pipe whether exec
 * worked (EOF) or failed (its errno).  Returns 0 or -1. */
static int spawn(struct launcher *l)
{
	const char *antd = l->antd_path ? l->antd_path : "antd";
	int logfd = open(l->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		return fail(l, "%s: %s", l->log_path, strerror(errno));
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(logfd);
		return fail(l, "pipe: %s", strerror(errno));
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		exec_antd(l, antd, logfd, ep[1], parent);
	int fork_errno = errno;
	close(logfd);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		return fail(l, "fork: %s", strerror(fork_errno));
	}
	l->antd = pid;
	int e = 0;
	ssize_t n;
	while ((n = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(ep[0]);
	l->exec_failed = n == (ssize_t)sizeof(e);
	if (l->exec_failed) {
		waitpid(l->antd, &l->status, 0);
		l->antd = 0;
		return fail(l, "cannot run %s: %s", antd, strerror(e));
	}
	return 0;
}

/* Is the stack ready: app.sock takes a connection, every server runs?
 * Returns 1 or 0; *why says what is missing. */
static int ready(struct launcher *l, char *why, size_t len)
{
	struct ant_conn *c;
	int r = ant_connect(l->dir, &c);
	if (r < 0) {
		snprintf(why, len, "%s", ant_strerror(r));
		return 0;
	}
	ant_close(c);
	json_t *req = json_pack("{s:s}", "cmd", "status"), *st;
	r = ctl_request_once(l->dir, req, 5000, &st, NULL, 0);
	json_decref(req);
	if (r < 0) {
		snprintf(why, len, "control socket: %s", strerror(-r));
		return 0;
	}
	char pending[256];
	int n = ctl_not_running(st, pending, sizeof(pending));
	json_decref(st);
	if (n)
		snprintf(why, len, "not running: %s", pending);
	return n == 0;
}

int launcher_start(struct launcher *l)
{
	if (spawn(l) < 0)
		return -1;
	int timeout_ms = l->start_timeout_ms ? l->start_timeout_ms : 10000;
	long long deadline = mono_ms() + timeout_ms;
	char why[320] = "";
	while (!ready(l, why, sizeof(why))) {
		if (launcher_ended(l)) {
			char how[32];
			return fail(l, "antd ended at start-up (%s)",
				    launcher_how_ended(l->status, how, sizeof(how)));
		}
		if (stopped(l))
			return fail(l, "interrupted");
		if (mono_ms() > deadline)
			return fail(l, "no stack in %s after %d s (last: %s)", l->dir,
				    timeout_ms / 1000, why);
		sleep_ms(POLL_MS);
	}
	return 0;
}

int launcher_stop(struct launcher *l)
{
	if (l->antd <= 0)
		return 0;
	int timeout_ms = l->stop_timeout_ms ? l->stop_timeout_ms : 5000;
	kill(l->antd, SIGTERM);
	long long deadline = mono_ms() + timeout_ms;
	while (!launcher_ended(l)) {
		if (mono_ms() > deadline) {
			kill(l->antd, SIGKILL);
			waitpid(l->antd, &l->status, 0);
			l->antd = 0;
			return fail(l, "antd still running %d s after SIGTERM: killed it",
				    timeout_ms / 1000);
		}
		sleep_ms(5);
	}
	if (!WIFEXITED(l->status) || WEXITSTATUS(l->status) != 0) {
		char how[32];
		return fail(l, "antd did not stop cleanly (%s)",
			    launcher_how_ended(l->status, how, sizeof(how)));
	}
	return 0;
}

int launcher_remove(struct launcher *l)
{
	if (!l->dir[0])
		return 0;
	/* What antd leaves (lock file always; sockets and pid file if it died). */
	static const char *const files[] = {
		"stack.json", "antd.log", "antd.lock", "antd.pid", "app.sock", "control.sock",
	};
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", l->dir, files[i]);
		unlink(path);
	}
	int r = 0;
	if (rmdir(l->dir) < 0)
		r = fail(l, "cannot remove %s: %s", l->dir, strerror(errno));
	l->dir[0] = '\0';
	return r;
}

void launcher_show_log(struct launcher *l, FILE *to, const char *prog)
{
	FILE *f = l->log_shown || !l->log_path[0] ? NULL : fopen(l->log_path, "re");
	if (!f)
		return;
	l->log_shown = 1;
	char line[1024];
	long total = 0;
	while (fgets(line, sizeof(line), f))
		total += strchr(line, '\n') != NULL;
	rewind(f);
	int skipping = 0, mid = 0;   /* mid: inside a line longer than the buffer */
	for (long n = 0; fgets(line, sizeof(line), f); ) {
		int nl = strchr(line, '\n') != NULL;
		if (n == 0 && !mid)
			fprintf(to, "%s: antd's log (%s):\n", prog, l->log_path);
		if (total > LOG_HEAD + LOG_TAIL && n >= LOG_HEAD && n < total - LOG_TAIL) {
			if (!skipping)
				fprintf(to, "  ... %ld lines left out ...\n",
					total - LOG_HEAD - LOG_TAIL);
			skipping = 1;
		} else {
			fprintf(to, "%s%s%s", mid ? "" : "  ", line, nl || !feof(f) ? "" : "\n");
		}
		mid = !nl;
		n += nl;
	}
	fclose(f);
}
