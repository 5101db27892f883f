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
	case SRV_RESTARTING: return "restarting";
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
static void child_exec(const struct stack_server *conf, const char *run_dir, int sock, int errfd,
		       pid_t parent)
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
	setenv("ANT_RUN_DIR", run_dir, 1);
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
static void on_spare_pidfd(struct ev_loop *loop, ev_io *w, int revents);

int server_spawn(struct antd *d, struct server *s, int spare)
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
		child_exec(conf, d->run_dir, csock, cerr, parent);
	close(csock);
	close(cerr);

	/* Wait for exec: EOF means it happened, an int means it failed.  This
	 * is the one place antd waits, for the few hundred microseconds from
	 * fork to exec; it tells "could not start" apart from "crashed". */
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
		log_error("start-failed", conf->name, "start-up failure%s: %s",
			  spare ? " (spare)" : "", s->last_exit);
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
	struct peer *p = peer_new(d, sp[0], PEER_SERVER, s->id);
	if (!p) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(pidfd);
		return -ENOMEM;
	}
	p->pid = pid;
	p->uid = getuid();
	p->gid = getgid();
	p->standby = spare;
	if (spare) {
		struct standby *sb = &s->spare;
		sb->pid = pid;
		sb->pidfd = pidfd;
		sb->peer = p;
		sb->ready = 0;
		sb->want = 0;
		sb->started_ns = mono_ns();
		ev_io_init(&sb->pidw, on_spare_pidfd, pidfd, EV_READ);
		sb->pidw.data = s;
		ev_io_start(d->loop, &sb->pidw);
	} else {
		s->pid = pid;
		s->pidfd = pidfd;
		s->peer = p;
		s->state = SRV_STARTING;
		s->ever_ready = 0;
		s->want = 0;
		s->held = 0;
		s->instance++;
		s->started_ns = mono_ns();
		s->kill_why[0] = '\0';
		s->kill_counts = 0;
		ev_io_init(&s->pidw, on_pidfd, pidfd, EV_READ);
		s->pidw.data = s;
		ev_io_start(d->loop, &s->pidw);
		ev_timer_set(&s->ready_timer, s->conf->policy.ready_timeout_ms / 1000.0, 0.);
		ev_timer_start(d->loop, &s->ready_timer);
	}
	antd_send_welcome(d, p);
	log_info(spare ? "start-spare" : "start", conf->name, "pid %d: %s", (int)pid,
		 conf->exec_path);
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

static int reap(int pidfd, siginfo_t *si)
{
	memset(si, 0, sizeof(*si));
	if (waitid(P_PIDFD, (id_t)pidfd, si, WEXITED | WNOHANG) < 0 || si->si_pid == 0)
		return -1;
	return 0;
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	siginfo_t si;
	if (reap(s->pidfd, &si) < 0)
		return;
	describe_exit(&si, s->last_exit, sizeof(s->last_exit));
	ev_io_stop(loop, w);
	close(s->pidfd);
	s->pidfd = -1;
	supervise_exited(d, s, &si);
}

static void on_spare_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	struct standby *sb = &s->spare;
	siginfo_t si;
	if (reap(sb->pidfd, &si) < 0)
		return;
	char how[96];
	describe_exit(&si, how, sizeof(how));
	ev_io_stop(loop, w);
	close(sb->pidfd);
	sb->pidfd = -1;
	log_info("spare-exit", s->conf->name, "spare pid %d %s", (int)sb->pid, how);
	sb->pid = 0;
	if (sb->peer)
		peer_close(sb->peer, how);
	sb->peer = NULL;
	supervise_spare_exited(d, s);
}

void server_adopt_spare(struct antd *d, struct server *s)
{
	struct standby *sb = &s->spare;
	s->pid = sb->pid;
	s->pidfd = sb->pidfd;
	ev_io_init(&s->pidw, on_pidfd, s->pidfd, EV_READ);
	s->pidw.data = s;
	ev_io_start(d->loop, &s->pidw);
	s->peer = sb->peer;
	s->peer->standby = 0;
	s->want = sb->want;
	s->held = 0;
	s->state = SRV_RUNNING;
	s->ever_ready = 1;
	s->instance++;
	s->started_ns = sb->started_ns;
	s->kill_why[0] = '\0';
	s->kill_counts = 0;
	memset(sb, 0, sizeof(*sb));
	sb->pidfd = -1;
}

void server_reap_all(struct antd *d)
{
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		pid_t pids[2] = { s->pid, s->spare.pid };
		for (int k = 0; k < 2; k++) {
			if (pids[k] > 0) {
				kill(pids[k], SIGKILL);
				waitpid(pids[k], NULL, 0);
			}
		}
		if (s->pidfd >= 0)
			close(s->pidfd);
		if (s->spare.pid > 0 && s->spare.pidfd >= 0)
			close(s->spare.pidfd);
		s->pid = s->spare.pid = 0;
		s->pidfd = -1;
	}
}
