/* forker.c - the one process that forks servers for antd, so that antd itself never forks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "antd.h"
#include "forker.h"
#include "log.h"

/*
 * Why a process of its own: a fork copies antd's page tables and marks its
 * pages copy-on-write, and here (a 2-vCPU VM) that stalled antd's loop for
 * 2-7 ms a fork under load (preempted inside copy_page_range, then TLB
 * shootdowns), every call in the stack waiting meanwhile.  The forker is
 * forked once, when the stack is loaded; it forks each server with
 * CLONE_PARENT, so that antd is the server's parent (its pidfd works with
 * waitid, PR_SET_PDEATHSIG follows antd), and hands antd the pidfd.  It
 * keeps no state: a request carries the server id and generation, the
 * config is its copy of antd's, taken at fork.
 */

/* antd's copies of the fds a child gets stay above the ones it dup2s to (3..11). */
#define CHILD_FD_FLOOR 16

/* How the child is set up: computed in antd before fork. */
struct child_setup {
	const struct stack_server *conf;
	char *argv[STACK_ARGS_MAX + 2];/* what it runs: from the FORK (path first) */
	const char *run_dir;
	unsigned instance;            /* $ANT_INSTANCE: the how-many-th process of this server */
	int files[STACK_FILES_MAX];   /* "files", opened by antd; the child gets them at 4.. */
	struct sandbox_prog *prog;    /* seccomp filter (cached, see program_of), or NULL */
	char **envp;                  /* the forker's environment and the ANT_* of this
					 server (make_env) */
	int switch_user;
	uid_t uid;
	gid_t gid;
};

/*
 * In the child, between clone and exec.  The child shares the forker's
 * memory (CLONE_VM | CLONE_VFORK, as posix_spawn does: no page of the
 * forker is copied, and the forker waits until the exec), so it only makes
 * system calls: no malloc, no setenv (its environment is made before, in
 * make_env), nothing the forker would see changed but the one instruction
 * of the cached seccomp program that holds the child's pid.
 */
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
	/* Last: from here on every call outside the allowlist is antd's to judge. */
	int r = sandbox_enter(&conf->sandbox, cs->prog, cs->switch_user, cs->uid, cs->gid, chan,
			      &stage);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	stage = "exec";
	execve(cs->argv[0], cs->argv, cs->envp);
fail:;
	struct ant_m_spawn_error se = { .err = errno };
	snprintf(se.stage, sizeof(se.stage), "%s", stage);
	ant_msg_send(chan, ANT_M_SPAWN_ERROR, 0, &se, sizeof(se), -1);
	_exit(127);
}

/* The files a server may use: opened here (the server could not: no
 * openat in its sandbox), above the fds the child dup2s them to.  Returns 0,
 * or -errno with why saying which. */
/* What a file of a server may be, or why not. */
static const char *kind_refused(mode_t m)
{
	if (S_ISREG(m) || S_ISBLK(m))
		return NULL;
	return S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ?
	       "a character device" : S_ISDIR(m) ? "a folder" : "not a regular file";
}

/*
 * Open one of a server's files: without blocking (a FIFO or a device that
 * waits must not stop the forker, and with it every later start), without
 * following a final symbolic link (the forker runs as root: a link swapped
 * in would hand a server any file), and only a regular file or a block
 * device (what the disk server needs).  Returns the fd, above the fds the
 * child dup2s to, or -1 with why.
 */
static int open_one(const char *path, const struct stack_file *f, unsigned i, char *why,
		    size_t len)
{
	int fd = open(path, (f->write ? O_RDWR : O_RDONLY) | (f->create ? O_CREAT : 0) |
			    O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(why, len, "files[%u]: %s: %s", i, path,
			 errno == ELOOP ? "a symbolic link (not followed)" : strerror(errno));
		return -1;
	}
	struct stat st;
	const char *refused = fstat(fd, &st) < 0 ? strerror(errno) : kind_refused(st.st_mode);
	if (refused) {
		snprintf(why, len, "files[%u]: %s: %s; only regular files and block devices", i,
			 path, refused);
		close(fd);
		return -1;
	}
	/* The server gets it blocking, as the stack file's owner meant it. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, CHILD_FD_FLOOR);
	if (hi < 0)
		snprintf(why, len, "files[%u]: %s: %s", i, path, strerror(errno));
	close(fd);
	return hi;
}

static int open_files(const struct stack *st, struct child_setup *cs, char *why, size_t len)
{
	const struct stack_server *conf = cs->conf;
	for (unsigned i = 0; i < conf->nfiles; i++) {
		const struct stack_file *f = &conf->files[i];
		char path[PATH_MAX];
		const char *dir = st->path;
		const char *slash = strrchr(dir, '/');
		if (f->path[0] == '/' || !slash)
			snprintf(path, sizeof(path), "%s", f->path);
		else
			snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - dir), dir, f->path);
		int hi = open_one(path, f, i, why, len);
		if (hi < 0) {
			while (i-- > 0)
				close(cs->files[i]);
			return -ENOENT;
		}
		cs->files[i] = hi;
	}
	return 0;
}

/* Each server's seccomp program, made at its first start and again only if
 * its sandbox changed since (sandbox_program: made here, not in each child). */
static struct cached_prog {
	struct sandbox sb;
	struct sandbox_prog prog;
} *progs[ANT_SERVERS_MAX + 1];

static struct sandbox_prog *program_of(const struct stack_server *conf, char *err, size_t len)
{
	if (conf->id > ANT_SERVERS_MAX) {
		snprintf(err, len, "server id %u out of range", conf->id);
		return NULL;
	}
	struct cached_prog *cp = progs[conf->id];
	if (cp && memcmp(&cp->sb, &conf->sandbox, sizeof(cp->sb)) == 0)
		return &cp->prog;
	if (!cp && !(cp = progs[conf->id] = calloc(1, sizeof(*cp)))) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	sandbox_program_free(&cp->prog);
	memset(&cp->sb, 0, sizeof(cp->sb));
	if (sandbox_program(&conf->sandbox, &cp->prog, err, len) < 0)
		return NULL;
	cp->sb = conf->sandbox;
	return &cp->prog;
}

/*
 * The child's environment: the forker's, with ANT_FD, ANT_SERVER,
 * ANT_SERVER_ID, ANT_RUN_DIR, ANT_INSTANCE and (if it has files) ANT_FILES
 * set for this server (any of them the forker had is replaced), and without
 * the service manager's NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (they
 * are antd's: a server must not speak for it, notify.h).  In static
 * storage, made anew for each child.  Returns the array, or NULL if it does
 * not fit.
 */
static char **make_env(const struct child_setup *cs)
{
	enum { ENV_MAX = 512, ENV_BYTES = 16384 };
	static char *envp[ENV_MAX + 8];
	static char text[ENV_BYTES];
	static const char *const ours[] = { "ANT_FD=", "ANT_SERVER=", "ANT_SERVER_ID=",
					     "ANT_RUN_DIR=", "ANT_INSTANCE=", "ANT_FILES=",
					     "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=" };
	const struct stack_server *conf = cs->conf;
	unsigned n = 0;
	for (char **e = environ; *e; e++) {
		int mine = 0;
		for (unsigned k = 0; k < sizeof(ours) / sizeof(ours[0]) && !mine; k++)
			mine = strncmp(*e, ours[k], strlen(ours[k])) == 0;
		if (mine)
			continue;
		if (n == ENV_MAX)
			return NULL;
		envp[n++] = *e;
	}
	char *p = text;
	size_t room = sizeof(text);
#define PUT(...)                                                          \
	do {                                                              \
		int k_ = snprintf(p, room, __VA_ARGS__);                  \
		if (k_ < 0 || (size_t)k_ >= room)                         \
			return NULL;                                      \
		envp[n++] = p;                                            \
		p += k_ + 1;                                              \
		room -= (size_t)k_ + 1;                                   \
	} while (0)
	PUT("ANT_FD=%d", 3);
	PUT("ANT_SERVER=%s", conf->name);
	PUT("ANT_SERVER_ID=%u", conf->id);
	PUT("ANT_RUN_DIR=%s", cs->run_dir);
	PUT("ANT_INSTANCE=%u", cs->instance);
	if (conf->nfiles)
		PUT("ANT_FILES=%u", conf->nfiles);
#undef PUT
	envp[n] = NULL;
	return envp;
}

/* Everything the child needs, computed before fork.  Returns 0, or -errno
 * with why (nothing to free then). */
static int prepare(const struct stack *st, struct child_setup *cs, char *why, size_t len)
{
	const struct stack_server *conf = cs->conf;
	char e[256];
	if (sandbox_user(&conf->sandbox, conf->id, &cs->uid, &cs->gid, &cs->switch_user, e,
			 sizeof(e)) < 0) {
		snprintf(why, len, "sandbox: %s", e);
		return -EINVAL;
	}
	if (!(cs->envp = make_env(cs))) {
		snprintf(why, len, "the environment is too large to pass on");
		return -E2BIG;
	}
	if (conf->sandbox.enabled && !(cs->prog = program_of(conf, e, sizeof(e)))) {
		snprintf(why, len, "sandbox: %s", e);
		return -EINVAL;
	}
	return open_files(st, cs, why, len);
}

static void release(const struct child_setup *cs)
{
	for (unsigned i = 0; i < cs->conf->nfiles; i++)
		close(cs->files[i]);
}


#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* What the child runs with (clone's argument). */
struct child_start {
	const struct child_setup *cs;
	int sock, chan, outfd;
	pid_t parent;
};

static int child_main(void *arg)
{
	const struct child_start *st = arg;
	child_exec(st->cs, st->sock, st->chan, st->outfd, st->parent);
	return 127;   /* (child_exec never returns) */
}

/* The child's stack while it shares the forker's memory (it runs on it
 * from the clone to the exec, the forker waiting meanwhile). */
static unsigned char child_stack[256 * 1024] __attribute__((aligned(64)));

/* Move fd above the fds a child dup2s to; consumes fd.  Returns the new fd or -1. */
static int lift(int fd)
{
	if (fd < 0 || fd >= CHILD_FD_FLOOR)
		return fd;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, CHILD_FD_FLOOR);
	close(fd);
	return hi;
}

/* One request: fork the server's child (antd its parent), answer with its
 * pidfd or why not.  Consumes fds. */
static void fork_one(struct antd *d, int sock, const struct ant_m_fork *rq, int *fds,
		     unsigned nfds, pid_t antd_pid)
{
	struct ant_m_forked rep = { .server_id = rq->server_id, .gen = rq->gen };
	int pidfd = -1;
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = lift(fds[i]);
	if (rq->server_id == 0 || rq->server_id > d->stack->nservers || nfds < 2 ||
	    fds[0] < 0 || fds[1] < 0) {
		rep.pid = -EINVAL;
		snprintf(rep.why, sizeof(rep.why), "forker: bad request for server %u",
			 rq->server_id);
		goto answer;
	}
	struct child_setup cs = { .conf = &d->stack->servers[rq->server_id - 1],
				  .run_dir = d->run_dir, .instance = rq->gen };
	/* Its program and arguments: "path\0arg\0...\0\0" in rq->exec. */
	static char exec[ANT_FORK_EXEC_MAX];
	memcpy(exec, rq->exec, sizeof(exec));
	exec[sizeof(exec) - 1] = exec[sizeof(exec) - 2] = '\0';
	unsigned argc = 0;
	for (char *a = exec; *a && argc < STACK_ARGS_MAX + 1; a += strlen(a) + 1)
		cs.argv[argc++] = a;
	cs.argv[argc] = NULL;
	if (argc == 0) {
		rep.pid = -EINVAL;
		snprintf(rep.why, sizeof(rep.why), "forker: no program to run for server %u",
			 rq->server_id);
		goto answer;
	}
	int r = prepare(d->stack, &cs, rep.why, sizeof(rep.why));
	if (r < 0) {
		rep.pid = r;
		goto answer;
	}
	/* antd its parent (CLONE_PARENT), its pidfd for antd; CLONE_VM and
	 * CLONE_VFORK: no copy of the forker's memory (child_exec). */
	struct child_start start = { .cs = &cs, .sock = fds[0], .chan = fds[1],
				     .outfd = nfds > 2 ? fds[2] : -1, .parent = antd_pid };
	pid_t pid = clone(child_main, child_stack + sizeof(child_stack),
			  CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD, &start, &pidfd);
	rep.pid = pid < 0 ? -errno : pid;
	if (pid < 0)
		snprintf(rep.why, sizeof(rep.why), "fork: %s", strerror(errno));
	release(&cs);
answer:
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ant_msg_send(sock, ANT_M_FORKED, 0, &rep, sizeof(rep), pidfd);
	if (pidfd >= 0)
		close(pidfd);
}

/* The forker's life: one request at a time, until antd goes. */
static void __attribute__((noreturn)) forker_main(struct antd *d, int sock, pid_t antd_pid)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != antd_pid)
		_exit(0);
	prctl(PR_SET_NAME, "antd-forker");
	sock = lift(sock);
	/* Nothing of antd's but stdin, stdout, stderr and this socket. */
	for (int fd = 3; fd < CHILD_FD_FLOOR; fd++)
		close(fd);
	close_range(CHILD_FD_FLOOR, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0u, 0);
	static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	for (;;) {
		struct pollfd pf = { .fd = sock, .events = POLLIN };
		if (poll(&pf, 1, -1) < 0 && errno != EINTR)
			_exit(1);
		int fds[ANT_MSG_FDS_MAX];
		unsigned nfds = 0;
		ssize_t n = ant_msg_recv_fds(sock, buf, fds, &nfds);
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n <= 0)
			_exit(0);   /* antd closed its end: it is stopping */
		struct ant_msg h;
		memcpy(&h, buf, sizeof(h));
		if (h.type != ANT_M_FORK) {
			for (unsigned i = 0; i < nfds; i++)
				close(fds[i]);
			continue;
		}
		struct ant_m_fork rq;
		memcpy(&rq, buf + sizeof(h), sizeof(rq));
		fork_one(d, sock, &rq, fds, nfds, antd_pid);
	}
}

int pidfd_reaped(int pidfd, siginfo_t *si)
{
	memset(si, 0, sizeof(*si));
	return waitid(P_PIDFD, (id_t)pidfd, si, WEXITED | WNOHANG) == 0 && si->si_pid != 0;
}

/* ---- antd's side ------------------------------------------------------------- */

static void on_reply(struct ev_loop *loop, ev_io *w, int revents)
{
	struct antd *d = w->data;
	static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	for (int i = 0; i < 16; i++) {
		int fd;
		ssize_t n = ant_msg_recv(d->forker.sock, buf, &fd);
		if (n == -EAGAIN || n == -EINTR)
			return;
		struct ant_msg h;
		if (n > 0)
			memcpy(&h, buf, sizeof(h));
		if (n <= 0 || h.type != ANT_M_FORKED) {
			if (fd >= 0)
				close(fd);
			if (n > 0)
				continue;
			/* Gone: its pidfd watcher says how, and starts another. */
			ev_io_stop(loop, w);
			return;
		}
		struct ant_m_forked rep;
		memcpy(&rep, buf + sizeof(h), sizeof(rep));
		rep.why[sizeof(rep.why) - 1] = '\0';
		d->forker.on_forked(d, &rep, fd);
	}
}

static void on_forker_exit(struct ev_loop *loop, ev_io *w, int revents);

static void forker_close(struct antd *d)
{
	struct forker *f = &d->forker;
	if (f->sock >= 0) {
		ev_io_stop(d->loop, &f->replyw);
		close(f->sock);
		f->sock = -1;
	}
	if (f->pidfd >= 0) {
		ev_io_stop(d->loop, &f->pidw);
		close(f->pidfd);
		f->pidfd = -1;
	}
}

int forker_start(struct antd *d, forker_reply_fn *on_forked)
{
	struct forker *f = &d->forker;
	f->on_forked = on_forked;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	pid_t antd_pid = getpid();
	fflush(NULL);   /* the log's buffered lines are antd's to write, not the forker's too */
	pid_t pid = fork();   /* the one fork of antd, at start-up (and if the forker dies) */
	if (pid < 0) {
		int e = -errno;
		close(sp[0]);
		close(sp[1]);
		return e;
	}
	if (pid == 0) {
		close(sp[0]);
		forker_main(d, sp[1], antd_pid);
	}
	close(sp[1]);
	f->pid = pid;
	f->sock = sp[0];
	f->pidfd = pidfd_open(pid, 0);
	if (f->pidfd < 0) {
		int e = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(f->sock);
		f->sock = -1;
		return e;
	}
	fcntl(f->sock, F_SETFL, O_NONBLOCK);
	ev_io_init(&f->replyw, on_reply, f->sock, EV_READ);
	f->replyw.data = d;
	ev_io_start(d->loop, &f->replyw);
	ev_io_init(&f->pidw, on_forker_exit, f->pidfd, EV_READ);
	f->pidw.data = d;
	ev_io_start(d->loop, &f->pidw);
	log_debug("forker", NULL, "forker pid %d", (int)pid);
	return 0;
}

static void on_forker_exit(struct ev_loop *loop, ev_io *w, int revents)
{
	struct antd *d = w->data;
	struct forker *f = &d->forker;
	siginfo_t si;
	if (!pidfd_reaped(f->pidfd, &si))
		return;
	/* Whatever it still had to say about forks it made. */
	if (f->sock >= 0)
		on_reply(loop, &f->replyw, EV_READ);
	forker_close(d);
	log_error("forker", NULL, "the forker (pid %d) ended (%s %d): starting another",
		  (int)f->pid, si.si_code == CLD_EXITED ? "exit" : "signal", si.si_status);
	f->pid = 0;
	f->restarts++;
	/* Requests it never answered are failed by their spawn timeout. */
	if (f->restarts > 100 || forker_start(d, f->on_forked) < 0)
		log_error("forker", NULL, "cannot start the forker: servers cannot be started");
}

int forker_request(struct antd *d, unsigned server_id, unsigned gen, const char *exec,
		   size_t len, const int *fds, unsigned nfds)
{
	struct forker *f = &d->forker;
	if (f->sock < 0 && (!f->on_forked || f->pid > 0 || forker_start(d, f->on_forked) < 0))
		return -ECHILD;
	static struct ant_m_fork rq;
	if (len > sizeof(rq.exec))
		return -E2BIG;
	memset(&rq, 0, sizeof(rq));
	rq.server_id = server_id;
	rq.gen = gen;
	memcpy(rq.exec, exec, len);
	return ant_msg_send_fds(f->sock, ANT_M_FORK, 0, &rq, sizeof(rq), fds, nfds);
}

void forker_kill(struct antd *d)
{
	struct forker *f = &d->forker;
	if (f->pidfd >= 0) {
		log_error("forker", NULL, "the forker (pid %d) did not answer in time: killed",
			  (int)f->pid);
		pidfd_send_signal(f->pidfd, SIGKILL, NULL, 0);
	}
}

int forker_abandon(struct antd *d, pid_t *pid)
{
	struct forker *f = &d->forker;
	int pidfd = f->pidfd;
	*pid = f->pid;
	if (f->sock >= 0) {
		ev_io_stop(d->loop, &f->replyw);
		close(f->sock);
		f->sock = -1;
	}
	if (pidfd >= 0) {
		ev_io_stop(d->loop, &f->pidw);
		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	}
	f->pidfd = -1;
	f->pid = 0;
	return pidfd;
}

void forker_stop(struct antd *d)
{
	struct forker *f = &d->forker;
	pid_t pid = f->pid;
	forker_close(d);   /* its end of file: it exits */
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		f->pid = 0;
	}
}
