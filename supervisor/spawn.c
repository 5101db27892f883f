/* spawn.c - start a server as a child with its socketpair, watch its pidfd, report how it ended. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "antd.h"
#include "log.h"

const char *server_state_name(enum server_state st)
{
	switch (st) {
	case SRV_STOPPED:  return "stopped";
	case SRV_STARTING: return "starting";
	case SRV_RUNNING:  return "running";
	case SRV_FAILED:   return "failed";
	case SRV_STOPPING: return "stopping";
	}
	return "?";
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child_exec(const struct stack_server *conf, int sock, int errfd, pid_t parent)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* A server never outlives antd (the check closes the fork/exit race). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0 && devnull != 0)
		dup2(devnull, 0);
	if (dup2(sock, 3) < 0)
		goto fail;
	/* Everything else antd had open stays behind at exec; errfd is
	 * close-on-exec already and tells the parent whether exec worked. */
	close_range(4, ~0u, CLOSE_RANGE_CLOEXEC);
	char fdnum[16], idnum[16];
	snprintf(fdnum, sizeof(fdnum), "%d", 3);
	snprintf(idnum, sizeof(idnum), "%u", conf->id);
	setenv("ANT_FD", fdnum, 1);
	setenv("ANT_SERVER", conf->name, 1);
	setenv("ANT_SERVER_ID", idnum, 1);
	char *argv[STACK_ARGS_MAX + 2];
	argv[0] = conf->exec_path;
	for (unsigned i = 0; i < conf->nargs; i++)
		argv[i + 1] = conf->args[i];
	argv[conf->nargs + 1] = NULL;
	execv(conf->exec_path, argv);
fail:;
	int e = errno;
	ssize_t w = write(errfd, &e, sizeof(e));
	(void)w;
	_exit(127);
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents);

int server_spawn(struct antd *d, struct server *s)
{
	const struct stack_server *conf = s->conf;
	int sp[2], ep[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		int e = -errno;
		close(sp[0]);
		close(sp[1]);
		return e;
	}
	/* Keep the child's ends clear of fd 3, its fixed socket fd. */
	int csock = fcntl(sp[1], F_DUPFD_CLOEXEC, 10);
	int cerr = fcntl(ep[1], F_DUPFD_CLOEXEC, 10);
	close(sp[1]);
	close(ep[1]);
	if (csock < 0 || cerr < 0) {
		int e = -errno;
		if (csock >= 0)
			close(csock);
		if (cerr >= 0)
			close(cerr);
		close(sp[0]);
		close(ep[0]);
		return e;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(csock);
		close(cerr);
		close(sp[0]);
		close(ep[0]);
		return e;
	}
	if (pid == 0)
		child_exec(conf, csock, cerr, parent);
	close(csock);
	close(cerr);

	/* Wait for exec: EOF means it happened, an int means it failed. */
	int err = 0;
	ssize_t n;
	do
		n = read(ep[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(err)) {
		waitpid(pid, NULL, 0);
		close(sp[0]);
		snprintf(s->last_exit, sizeof(s->last_exit), "exec %s failed: %s",
			 conf->exec_path, strerror(err));
		log_error("start-failed", conf->name, "%s", s->last_exit);
		s->state = SRV_FAILED;
		return -err;
	}

	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		int e = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sp[0]);
		return e;
	}
	s->pid = pid;
	s->pidfd = pidfd;
	s->state = SRV_STARTING;
	s->want = 0;
	s->held = 0;
	s->started_ns = mono_ns();
	ev_io_init(&s->pidw, on_pidfd, pidfd, EV_READ);
	s->pidw.data = s;
	ev_io_start(d->loop, &s->pidw);
	s->peer = peer_new(d, sp[0], PEER_SERVER, s->id);
	if (!s->peer) {
		kill(pid, SIGKILL);
		return -ENOMEM;
	}
	antd_send_welcome(d, s->peer);
	log_info("start", conf->name, "pid %d: %s", (int)pid, conf->exec_path);
	return 0;
}

void server_stop(struct antd *d, struct server *s, int sig)
{
	(void)d;
	if (s->pid > 0 && s->pidfd >= 0)
		pidfd_send_signal(s->pidfd, sig, NULL, 0);
}

/* How a child ended, in words. */
static void describe_exit(const siginfo_t *si, char *buf, size_t len)
{
	if (si->si_code == CLD_EXITED) {
		snprintf(buf, len, "exited with code %d", si->si_status);
	} else {
		const char *name = sigabbrev_np(si->si_status);
		snprintf(buf, len, "killed by signal SIG%s%s", name ? name : "?",
			 si->si_code == CLD_DUMPED ? " (core dumped)" : "");
	}
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return;
	describe_exit(&si, s->last_exit, sizeof(s->last_exit));
	ev_io_stop(loop, w);
	close(s->pidfd);
	s->pidfd = -1;
	int expected = s->state == SRV_STOPPING || d->stopping;
	if (expected)
		log_info("server-exit", s->conf->name, "pid %d %s", (int)s->pid, s->last_exit);
	else
		log_error("server-exit", s->conf->name, "pid %d %s", (int)s->pid, s->last_exit);
	s->pid = 0;
	if (s->peer)
		peer_close(s->peer, s->last_exit);
	s->state = expected ? SRV_STOPPED : SRV_FAILED;
	antd_server_exited(d, s);
}
