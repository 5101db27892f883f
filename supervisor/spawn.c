/* spawn.c - start a server as a child with its socketpair, watch its pidfd, report how it ended. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "antd.h"
#include "log.h"
#include "output.h"

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

/* What the child reports through the close-on-exec pipe when it fails. */
struct start_error {
	int err;
	char stage[28];
};

/* How the child is set up: computed in antd before fork. */
struct child_setup {
	const struct stack_server *conf;
	const char *run_dir;
	unsigned instance;            /* $ANT_INSTANCE: the how-many-th process of this server */
	int files[STACK_FILES_MAX];   /* "files", opened by antd; the child gets them at 4.. */
	void *filter;                 /* seccomp filter, or NULL */
	int switch_user;
	uid_t uid;
	gid_t gid;
};

/* In the child, between fork and exec (antd is single-threaded, so the
 * libseccomp calls in sandbox_enter are safe here). */
static void child_exec(const struct child_setup *cs, int sock, int errfd, int outfd, pid_t parent)
{
	const struct stack_server *conf = cs->conf;
	const char *stage = "setup";
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
	/* stdout and stderr: the pipe antd reads and logs under our name. */
	if (outfd >= 0 && (dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0))
		goto fail;
	if (dup2(sock, 3) < 0)
		goto fail;
	/* Its files at 4, 5...: antd's copies are above 10 (F_DUPFD_CLOEXEC). */
	stage = "files";
	for (unsigned i = 0; i < conf->nfiles; i++)
		if (dup2(cs->files[i], 4 + (int)i) < 0)
			goto fail;
	/* Everything else antd had open stays behind at exec; errfd is
	 * close-on-exec already and tells the parent whether exec worked. */
	close_range(4 + conf->nfiles, ~0u, CLOSE_RANGE_CLOEXEC);
	if (conf->nfiles) {
		char nf[16];
		snprintf(nf, sizeof(nf), "%u", conf->nfiles);
		setenv("ANT_FILES", nf, 1);
	}
	char fdnum[16], idnum[16];
	snprintf(fdnum, sizeof(fdnum), "%d", 3);
	snprintf(idnum, sizeof(idnum), "%u", conf->id);
	setenv("ANT_FD", fdnum, 1);
	setenv("ANT_SERVER", conf->name, 1);
	setenv("ANT_SERVER_ID", idnum, 1);
	setenv("ANT_RUN_DIR", cs->run_dir, 1);
	char instnum[16];
	snprintf(instnum, sizeof(instnum), "%u", cs->instance);
	setenv("ANT_INSTANCE", instnum, 1);
	char *argv[STACK_ARGS_MAX + 2];
	argv[0] = conf->exec_path;
	for (unsigned i = 0; i < conf->nargs; i++)
		argv[i + 1] = conf->args[i];
	argv[conf->nargs + 1] = NULL;
	/* Last: from here on every call outside the allowlist is antd's to judge. */
	int r = sandbox_enter(&conf->sandbox, cs->filter, cs->switch_user, cs->uid, cs->gid, 3, &stage);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	stage = "exec";
	execv(conf->exec_path, argv);
fail:;
	struct start_error se = { .err = errno };
	snprintf(se.stage, sizeof(se.stage), "%s", stage);
	ssize_t w = write(errfd, &se, sizeof(se));
	(void)w;
	_exit(127);
}

/* Receive the seccomp notification fd the child sends before exec.  Returns
 * the fd, or -1 if the child ended first (its reason is in the pipe). */
static int recv_notify_fd(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		return -1;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	char tag;
	struct iovec iov = { .iov_base = &tag, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1 || tag != 'N')
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents);
static void on_spare_pidfd(struct ev_loop *loop, ev_io *w, int revents);
static int spawn_child(struct antd *d, struct server *s, int spare, const struct child_setup *cs);

int server_spawn(struct antd *d, struct server *s, int spare)
{
	const struct stack_server *conf = s->conf;
	struct child_setup cs = { .conf = conf, .run_dir = d->run_dir, .instance = ++s->spawns };
	char why[256];
	if (sandbox_user(&conf->sandbox, conf->id, &cs.uid, &cs.gid, &cs.switch_user, why,
			 sizeof(why)) < 0) {
		snprintf(s->last_exit, sizeof(s->last_exit), "sandbox: %s", why);
		log_error("start-failed", conf->name, "start-up failure: %s", s->last_exit);
		return -EINVAL;
	}
	if (conf->sandbox.enabled && !(cs.filter = sandbox_filter(&conf->sandbox, why, sizeof(why)))) {
		snprintf(s->last_exit, sizeof(s->last_exit), "sandbox: %s", why);
		log_error("start-failed", conf->name, "start-up failure: %s", s->last_exit);
		return -EINVAL;
	}
	/* The files it may use: antd opens them, the server could not (no
	 * openat in its sandbox). */
	for (unsigned i = 0; i < conf->nfiles; i++) {
		const struct stack_file *f = &conf->files[i];
		char path[PATH_MAX];
		const char *dir = d->stack->path;
		const char *slash = strrchr(dir, '/');
		if (f->path[0] == '/' || !slash)
			snprintf(path, sizeof(path), "%s", f->path);
		else
			snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - dir), dir, f->path);
		int fd = open(path, (f->write ? O_RDWR : O_RDONLY) | (f->create ? O_CREAT : 0) |
				    O_CLOEXEC | O_NOCTTY, 0600);
		int hi = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 10) : -1;
		if (fd >= 0)
			close(fd);
		if (hi < 0) {
			snprintf(s->last_exit, sizeof(s->last_exit), "files[%u]: %s: %s", i, path,
				 strerror(errno));
			log_error("start-failed", conf->name, "start-up failure: %s", s->last_exit);
			for (unsigned k = 0; k < i; k++)
				close(cs.files[k]);
			sandbox_filter_free(cs.filter);
			return -ENOENT;
		}
		cs.files[i] = hi;
	}
	int r = spawn_child(d, s, spare, &cs);
	for (unsigned i = 0; i < conf->nfiles; i++)
		close(cs.files[i]);
	sandbox_filter_free(cs.filter);
	return r;
}

static int spawn_child(struct antd *d, struct server *s, int spare, const struct child_setup *cs)
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
	/* Its stdout and stderr (without a pipe it prints to antd's stderr). */
	int out[2] = { -1, -1 };
	if (output_pipe(out) < 0)
		log_warn("output", conf->name, "no pipe for its output: it goes to antd's stderr");
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(csock);
		close(cerr);
		close(sp[0]);
		close(ep[0]);
		if (out[0] >= 0) {
			close(out[0]);
			close(out[1]);
		}
		return e;
	}
	if (pid == 0)
		child_exec(cs, csock, cerr, out[1], parent);
	close(csock);
	close(cerr);
	if (out[0] >= 0) {
		close(out[1]);
		output_watch(d->loop, out[0], conf->name, pid);
	}

	/* With a sandbox that kills, the child first hands antd its seccomp
	 * notification fd; from then on its exec and its loader's calls wait on
	 * antd, which serves them here until exec is done. */
	int nfd = -1;
	if (cs->filter && conf->sandbox.action == SANDBOX_KILL)
		nfd = recv_notify_fd(sp[0]);

	/* Wait for exec: EOF means it happened, a start_error means it failed.
	 * This is the one place antd waits, for the few hundred microseconds
	 * from fork to exec; it tells "could not start" apart from "crashed". */
	struct start_error se = { 0 };
	ssize_t n = 0;
	for (;;) {
		struct pollfd pf[2] = { { .fd = ep[0], .events = POLLIN },
					{ .fd = nfd, .events = POLLIN } };
		int pr = poll(pf, nfd >= 0 ? 2 : 1, 5000);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			se.err = ETIMEDOUT;
			snprintf(se.stage, sizeof(se.stage), "exec (no answer in 5 s)");
			n = sizeof(se);
			kill(pid, SIGKILL);
			break;
		}
		if (nfd >= 0 && (pf[1].revents & POLLIN))
			sandbox_serve(d, s, spare, nfd, pid, 1);
		if (pf[0].revents) {
			do
				n = read(ep[0], &se, sizeof(se));
			while (n < 0 && errno == EINTR);
			break;
		}
	}
	close(ep[0]);
	if (n == (ssize_t)sizeof(se)) {
		waitpid(pid, NULL, 0);
		close(sp[0]);
		if (nfd >= 0)
			close(nfd);
		snprintf(s->last_exit, sizeof(s->last_exit), "%s %s failed: %s", se.stage,
			 conf->exec_path, strerror(se.err));
		log_error("start-failed", conf->name, "start-up failure%s: %s",
			  spare ? " (spare)" : "", s->last_exit);
		return -se.err;
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
		if (nfd >= 0)
			close(nfd);
		return -ENOMEM;
	}
	p->pid = pid;
	p->uid = cs->uid;
	p->gid = cs->gid;
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
		sandbox_watch(d, s, 1, nfd);
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
		sandbox_watch(d, s, 0, nfd);
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
	sandbox_watch(d, s, 0, -1);
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
	sandbox_watch(d, s, 1, -1);
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
	/* The spare's notification fd moves with it: stop watching it as the
	 * spare's before watching it as the server's (never two watchers). */
	int nfd = sb->notify_fd;
	if (nfd >= 0)
		ev_io_stop(d->loop, &sb->notifyw);
	sb->notify_fd = -1;
	sandbox_watch(d, s, 0, nfd);
	s->want = sb->want;
	s->held = 0;
	s->state = SRV_RUNNING;
	s->ever_ready = 1;
	s->instance++;
	s->started_ns = sb->started_ns;
	s->kill_why[0] = '\0';
	s->kill_counts = 0;
	ev_io notifyw = sb->notifyw;
	memset(sb, 0, sizeof(*sb));
	sb->notifyw = notifyw;
	sb->pidfd = -1;
	sb->notify_fd = -1;
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
