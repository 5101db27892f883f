/* spawn.c - start a server's instance as a child without waiting for it, watch its spawn channel and its end. */
#include <errno.h>
#include <limits.h>
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
#include "output.h"
#include "sandbox_serve.h"
#include "server.h"

/* A child that has neither exec'd nor failed by then is killed. */
#define SPAWN_TIMEOUT_S 5.0
/* antd's copies of the fds a child gets stay above the ones it dup2s to (3..11). */
#define CHILD_FD_FLOOR 16

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
static void child_exec(const struct child_setup *cs, int sock, int chan, int outfd, pid_t parent)
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
	/* Everything else antd had open stays behind at exec; chan is
	 * close-on-exec already: its end tells antd that exec worked. */
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
	int r = sandbox_enter(&conf->sandbox, cs->filter, cs->switch_user, cs->uid, cs->gid, chan,
			      &stage);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	stage = "exec";
	execv(conf->exec_path, argv);
fail:;
	struct ant_m_spawn_error se = { .err = errno };
	snprintf(se.stage, sizeof(se.stage), "%s", stage);
	ant_msg_send(chan, ANT_M_SPAWN_ERROR, 0, &se, sizeof(se), -1);
	_exit(127);
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents);
static void on_chan(struct ev_loop *loop, ev_io *w, int revents);
static void on_spawn_timeout(struct ev_loop *loop, ev_timer *w, int revents);

/* The files a server may use: antd opens them (the server could not: no
 * openat in its sandbox), above the fds the child dup2s them to.  Returns 0,
 * or -errno with in->exec_error saying which. */
static int open_files(struct antd *d, struct instance *in, struct child_setup *cs)
{
	const struct stack_server *conf = in->srv->conf;
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
		int hi = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, CHILD_FD_FLOOR) : -1;
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (hi < 0) {
			snprintf(in->exec_error, sizeof(in->exec_error), "files[%u]: %s: %s", i, path,
				 strerror(e));
			while (i-- > 0)
				close(cs->files[i]);
			return -ENOENT;
		}
		cs->files[i] = hi;
	}
	return 0;
}

/* Everything the child needs, computed before fork.  Returns 0, or -errno
 * with in->exec_error (nothing to free then). */
static int prepare(struct antd *d, struct instance *in, struct child_setup *cs)
{
	const struct stack_server *conf = in->srv->conf;
	char why[256];
	if (sandbox_user(&conf->sandbox, conf->id, &cs->uid, &cs->gid, &cs->switch_user, why,
			 sizeof(why)) < 0) {
		snprintf(in->exec_error, sizeof(in->exec_error), "sandbox: %s", why);
		return -EINVAL;
	}
	if (conf->sandbox.enabled && !(cs->filter = sandbox_filter(&conf->sandbox, why, sizeof(why)))) {
		snprintf(in->exec_error, sizeof(in->exec_error), "sandbox: %s", why);
		return -EINVAL;
	}
	int r = open_files(d, in, cs);
	if (r < 0)
		sandbox_filter_free(cs->filter);
	return r;
}

static void release(const struct child_setup *cs)
{
	for (unsigned i = 0; i < cs->conf->nfiles; i++)
		close(cs->files[i]);
	sandbox_filter_free(cs->filter);
}

/* fds[0] antd's end, fds[1] the child's, both close-on-exec and above the
 * fds the child dup2s to.  Returns 0 or -errno. */
static int pair_above(int fds[2])
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	fds[0] = sp[0];
	fds[1] = fcntl(sp[1], F_DUPFD_CLOEXEC, CHILD_FD_FLOOR);
	int e = -errno;
	close(sp[1]);
	if (fds[1] < 0) {
		close(sp[0]);
		return e;
	}
	return 0;
}

/* Forked: the parent's side of a new instance.  Consumes sock, chan. */
static int adopt_child(struct antd *d, struct instance *in, pid_t pid, int sock, int chan,
		       const struct child_setup *cs)
{
	struct server *s = in->srv;
	int pidfd = pidfd_open(pid, 0);
	struct peer *p = pidfd >= 0 ? peer_new(d, sock, PEER_SERVER, s->id) : NULL;
	if (!p) {
		int e = pidfd < 0 ? -errno : -ENOMEM;
		snprintf(in->exec_error, sizeof(in->exec_error), "pidfd_open or peer: %s",
			 strerror(-e));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);   /* just killed: at once */
		if (pidfd >= 0)
			close(pidfd);
		else
			close(sock);
		close(chan);
		return e;
	}
	p->pid = pid;
	p->uid = cs->uid;
	p->gid = cs->gid;
	p->inst = in;
	in->pid = pid;
	in->gen = cs->instance;
	in->phase = INST_SPAWNING;
	in->pidfd = pidfd;
	in->chan = chan;
	in->peer = p;
	in->want = 0;
	in->started_ns = mono_ns();
	in->exec_error[0] = '\0';
	in->kill = KILL_NONE;
	in->kill_why[0] = '\0';
	ev_io_init(&in->pidw, on_pidfd, pidfd, EV_READ);
	in->pidw.data = in;
	ev_io_start(d->loop, &in->pidw);
	ev_io_init(&in->chanw, on_chan, chan, EV_READ);
	in->chanw.data = in;
	ev_io_start(d->loop, &in->chanw);
	ev_timer_init(&in->spawn_timer, on_spawn_timeout, SPAWN_TIMEOUT_S, 0.);
	in->spawn_timer.data = in;
	ev_timer_start(d->loop, &in->spawn_timer);
	peer_welcome(p);
	log_info(in == s->spare ? "start-spare" : "start", s->conf->name, "pid %d: %s", (int)pid,
		 s->conf->exec_path);
	return 0;
}

int instance_spawn(struct antd *d, struct instance *in)
{
	struct server *s = in->srv;
	const struct stack_server *conf = s->conf;
	struct child_setup cs = { .conf = conf, .run_dir = d->run_dir, .instance = ++s->spawns };
	in->exec_error[0] = '\0';
	int r = prepare(d, in, &cs);
	if (r < 0)
		return r;
	int sock[2], chan[2];
	if ((r = pair_above(sock)) < 0) {
		snprintf(in->exec_error, sizeof(in->exec_error), "socketpair: %s", strerror(-r));
		release(&cs);
		return r;
	}
	if ((r = pair_above(chan)) < 0) {
		close(sock[0]);
		close(sock[1]);
		snprintf(in->exec_error, sizeof(in->exec_error), "socketpair: %s", strerror(-r));
		release(&cs);
		return r;
	}
	/* Its stdout and stderr (without a pipe it prints to antd's stderr). */
	int out[2] = { -1, -1 };
	if (output_pipe(out) < 0)
		log_warn("output", conf->name, "no pipe for its output: it goes to antd's stderr");
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		child_exec(&cs, sock[1], chan[1], out[1], parent);
	int e = -errno;
	close(sock[1]);
	close(chan[1]);
	if (out[0] >= 0)
		close(out[1]);
	release(&cs);
	if (pid < 0) {
		close(sock[0]);
		close(chan[0]);
		if (out[0] >= 0)
			close(out[0]);
		snprintf(in->exec_error, sizeof(in->exec_error), "fork: %s", strerror(-e));
		return e;
	}
	if (out[0] >= 0)
		output_watch(d->loop, out[0], conf->name, pid);
	return adopt_child(d, in, pid, sock[0], chan[0], &cs);
}

static void close_chan(struct antd *d, struct instance *in)
{
	ev_timer_stop(d->loop, &in->spawn_timer);
	if (in->chan < 0)
		return;
	ev_io_stop(d->loop, &in->chanw);
	close(in->chan);
	in->chan = -1;
}

/*
 * Read what the child says before exec: its notification fd (watched from
 * now on, so that its exec and its loader's calls are answered by the loop),
 * or why it failed.  End of file: exec happened.  Returns 1 when the channel
 * is done (closed), 0 while it is open.
 */
static int read_chan(struct antd *d, struct instance *in)
{
	static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	for (int i = 0; i < 4; i++) {
		int fd;
		ssize_t n = ant_msg_recv(in->chan, buf, &fd);
		if (n == -EAGAIN || n == -EINTR)
			return 0;
		if (n == 0) {
			close_chan(d, in);
			return 1;
		}
		struct ant_msg h;
		memcpy(&h, buf, n > 0 ? sizeof(h) : 0);
		if (n > 0 && h.type == ANT_M_SPAWN_NOTIFY && fd >= 0 && in->notify_fd < 0) {
			sandbox_watch(d, in, fd);
			continue;
		}
		if (n > 0 && h.type == ANT_M_SPAWN_ERROR) {
			struct ant_m_spawn_error se;
			memcpy(&se, buf + sizeof(h), sizeof(se));
			se.stage[sizeof(se.stage) - 1] = '\0';
			snprintf(in->exec_error, sizeof(in->exec_error), "%s %s failed: %s", se.stage,
				 in->srv->conf->exec_path, strerror(se.err));
		} else {
			snprintf(in->exec_error, sizeof(in->exec_error), "spawn channel: %s",
				 n < 0 ? strerror((int)-n) : "unexpected message");
		}
		if (fd >= 0)
			close(fd);
		/* It ends by itself after a SPAWN_ERROR; make sure in any case. */
		instance_signal(in, SIGKILL);
		close_chan(d, in);
		return 1;
	}
	return 0;
}

static void on_chan(struct ev_loop *loop, ev_io *w, int revents)
{
	struct instance *in = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	if (read_chan(d, in) && !in->exec_error[0] && in->phase == INST_SPAWNING) {
		in->phase = INST_STARTING;
		supervise_event(d, in->srv, in, EV_SPAWNED, NULL);
	}
}

static void on_spawn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct instance *in = w->data;
	snprintf(in->exec_error, sizeof(in->exec_error), "exec %s (no answer in %.0f s)",
		 in->srv->conf->exec_path, SPAWN_TIMEOUT_S);
	instance_signal(in, SIGKILL);
	close_chan((struct antd *)ev_userdata(loop), in);
}

void instance_signal(struct instance *in, int sig)
{
	if (in->pid > 0 && in->pidfd >= 0)
		pidfd_send_signal(in->pidfd, sig, NULL, 0);
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
	struct instance *in = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)in->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return;
	ev_io_stop(loop, w);
	close(in->pidfd);
	in->pidfd = -1;
	sandbox_watch(d, in, -1);
	/* Died before exec was confirmed: the channel says whether exec failed
	 * (its SPAWN_ERROR was sent before the exit) or happened. */
	if (in->chan >= 0)
		read_chan(d, in);
	close_chan(d, in);
	struct server *s = in->srv;
	if (in->exec_error[0]) {
		supervise_event(d, s, in, EV_EXEC_FAILED, NULL);
		return;
	}
	char how[96];
	describe_exit(&si, how, sizeof(how));
	if (in == s->cur)
		snprintf(s->last_exit, sizeof(s->last_exit), "%s", how);
	struct sv_detail dt = { .si = &si, .why = how };
	supervise_event(d, s, in, EV_EXITED, &dt);
}

void instance_clear(struct antd *d, struct instance *in)
{
	close_chan(d, in);
	sandbox_watch(d, in, -1);
	ev_timer_stop(d->loop, &in->ready_timer);
	ev_timer_stop(d->loop, &in->eof_timer);
	if (in->pidfd >= 0) {
		ev_io_stop(d->loop, &in->pidw);
		close(in->pidfd);
		in->pidfd = -1;
	}
	in->pid = 0;
	in->phase = INST_NONE;
	in->peer = NULL;
	in->want = 0;
}

void instances_reap_all(struct antd *d)
{
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		for (int k = 0; k < 2; k++) {
			struct instance *in = &s->slot[k];
			if (in->pid > 0) {
				kill(in->pid, SIGKILL);
				waitpid(in->pid, NULL, 0);
			}
			in->peer = NULL;
			instance_clear(d, in);
		}
	}
}
