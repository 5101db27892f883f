/* bench_floor.c - what this machine's own IPC costs (pipe, SEQPACKET, futex, kill, spawn), the peers run in bench-peers, and the clocks, loop, children and JSON both programs share. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ant-config.h"

#define STATIC_CHILD "bench-static-child"   /* tools/bench_static_child.c */
#define PEERS_HELPER "bench-peers"          /* tools/bench_peers.c */
#define IDLE_WAIT_US 1000000               /* a killed child is asleep within this */

/* ---- clocks ------------------------------------------------------------------ */

/* ---- what the floors and the peers share ------------------------------------ */

void bench_measure_fail(struct bench_measure *m, int failed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	m->ok = 0;
	m->failed = failed;
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
}

/* The argument of call number seq: a counter, so that a stale reply cannot pass. */
static void make_arg(unsigned char *arg, size_t size, uint64_t seq)
{
	for (size_t i = 0; i < size; i++)
		arg[i] = (unsigned char)('a' + (i + seq) % 26);
	memcpy(arg, &seq, size < sizeof(seq) ? size : sizeof(seq));
}

void bench_time_echo(long n, long warmup, size_t size, bench_echo_fn *echo, void *ctx,
		     struct bench_measure *m)
{
	uint64_t *ns = calloc((size_t)n, sizeof(*ns)), *tsc = calloc((size_t)n, sizeof(*tsc));
	unsigned char arg[BENCH_ECHO_SIZE], reply[BENCH_ECHO_SIZE];
	if (!ns || !tsc) {
		bench_measure_fail(m, 1, "out of memory for %ld samples", n);
		goto out;
	}
	for (long i = -warmup; i < n; i++) {
		if (bench_interrupted) {
			bench_measure_fail(m, 1, "interrupted");
			goto out;
		}
		make_arg(arg, size, (uint64_t)(i + warmup + 1));
		memset(reply, 0, size);
		uint64_t a = bench_now_ns(), ca = bench_tsc();
		int r = echo(ctx, arg, reply, size, m);
		uint64_t cb = bench_tsc(), b = bench_now_ns();
		if (r < 0)
			goto out;
		if (memcmp(reply, arg, size) != 0) {
			bench_measure_fail(m, 1, "round trip %ld: the reply is not the argument",
					   i + warmup + 1);
			goto out;
		}
		if (i >= 0) {
			ns[i] = b - a;
			tsc[i] = cb - ca;
		}
	}
	m->s = bench_stats(ns, tsc, (size_t)n);
	m->samples = n;
	m->ok = 1;
	m->failed = 0;
	m->why[0] = '\0';
out:
	free(ns);
	free(tsc);
}

pid_t bench_fork_child(struct bench_measure *m)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		bench_measure_fail(m, 1, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)    /* the parent died before the line above */
			_exit(0);
	}
	return pid;
}

void bench_kill_child(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

ssize_t bench_read_line(int fd, int timeout_ms, char *buf, size_t len)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
	size_t got = 0;
	while (got < len - 1) {
		uint64_t now = bench_now_ns();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r < 0 && errno == EINTR && !bench_interrupted)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			continue;   /* the deadline, seen above */
		ssize_t k = read(fd, buf + got, len - 1 - got);
		if (k < 0 && errno == EINTR && !bench_interrupted)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		char *nl = memchr(buf + got, '\n', (size_t)k);
		got += (size_t)k;
		if (nl) {
			got = (size_t)(nl - buf);
			break;
		}
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

int bench_child_ready(int fd, const char *who, struct bench_measure *m)
{
	char line[128];
	ssize_t n = bench_read_line(fd, BENCH_WAIT_MS, line, sizeof(line));
	if (n == 2 && memcmp(line, "ok", 2) == 0)
		return 0;
	if (n > 0)
		bench_measure_fail(m, 0, "%s: %s", who, line);
	else if (n == 0)
		bench_measure_fail(m, 1, "%s ended before it was ready", who);
	else if (errno == ETIMEDOUT)
		bench_measure_fail(m, 1, "%s not ready within %d ms", who, BENCH_WAIT_MS);
	else
		bench_measure_fail(m, 1, "%s", bench_interrupted ? "interrupted" : strerror(errno));
	return -1;
}

json_t *bench_measure_json(const struct bench_measure *m, uint64_t ref_ns, const char *ratio_key)
{
	if (!m->ok)
		return json_pack("{s:b, s:s}", "available", 0, "why", m->why);
	json_t *o = json_pack("{s:b, s:I}", "available", 1, "samples", (json_int_t)m->samples);
	json_t *s = bench_stats_json(&m->s, 0);
	if (!o || !s) {
		json_decref(o);
		json_decref(s);
		return NULL;
	}
	json_object_update(o, s);
	json_decref(s);
	if (ref_ns > 0)
		json_object_set_new(o, ratio_key, json_real((double)m->s.median_ns / (double)ref_ns));
	return o;
}

/* ---- round trips: pipe, SEQPACKET, futex -------------------------------------- */

struct fd_pair {
	int out, in;    /* to the child, from it */
	int socket;     /* 1: send with MSG_NOSIGNAL; 0: a pipe (the caller blocks SIGPIPE) */
};

/* Send, then receive, through EINTR unless interrupted.  Returns 0, or -1 with m failed. */
static int fd_echo(void *ctx, const unsigned char *arg, unsigned char *reply, size_t size,
		   struct bench_measure *m)
{
	const struct fd_pair *p = ctx;
	ssize_t n;
	while ((n = p->socket ? send(p->out, arg, size, MSG_NOSIGNAL) : write(p->out, arg, size)) < 0 &&
	       errno == EINTR && !bench_interrupted)
		;
	if (n == (ssize_t)size)
		while ((n = read(p->in, reply, size)) < 0 && errno == EINTR && !bench_interrupted)
			;
	if (n == (ssize_t)size)
		return 0;
	if (n < 0)
		bench_measure_fail(m, 1, "%s", errno == EINTR ? "interrupted" : strerror(errno));
	else
		bench_measure_fail(m, 1, "the echo child ended (%zd bytes)", n);
	return -1;
}

/* The child of the pipe and SEQPACKET floors: what comes on in goes back on
 * out, one read at a time, until EOF. */
static _Noreturn void echo_child(int in, int out)
{
	unsigned char buf[BENCH_ECHO_SIZE];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write(out, buf, (size_t)n) != n)
			_exit(0);
	}
}

void bench_floor_pipe(long n, long warmup, struct bench_measure *m)
{
	int to[2], from[2];
	if (pipe2(to, O_CLOEXEC) < 0) {
		bench_measure_fail(m, 1, "pipe: %s", strerror(errno));
		return;
	}
	if (pipe2(from, O_CLOEXEC) < 0) {
		bench_measure_fail(m, 1, "pipe: %s", strerror(errno));
		close(to[0]);
		close(to[1]);
		return;
	}
	pid_t pid = bench_fork_child(m);
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		echo_child(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	if (pid > 0) {
		/* A write to a pipe whose child died raises SIGPIPE, which would end
		 * this program: blocked in this thread meanwhile, and taken back if
		 * it came. */
		sigset_t pipe_sig, old, pending;
		sigemptyset(&pipe_sig);
		sigaddset(&pipe_sig, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
		struct fd_pair p = { .out = to[1], .in = from[0] };
		bench_time_echo(n, warmup, 1, fd_echo, &p, m);
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE) && !sigismember(&old, SIGPIPE))
			sigtimedwait(&pipe_sig, NULL, &(struct timespec){ 0, 0 });
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	close(to[1]);
	close(from[0]);
	bench_kill_child(pid);
}

void bench_floor_seqpacket(long n, long warmup, struct bench_measure *m)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		bench_measure_fail(m, 1, "socketpair: %s", strerror(errno));
		return;
	}
	pid_t pid = bench_fork_child(m);
	if (pid == 0) {
		close(sv[0]);
		echo_child(sv[1], sv[1]);
	}
	close(sv[1]);
	if (pid > 0) {
		struct fd_pair p = { .out = sv[0], .in = sv[0], .socket = 1 };
		bench_time_echo(n, warmup, BENCH_ECHO_SIZE, fd_echo, &p, m);
	}
	close(sv[0]);
	bench_kill_child(pid);
}

/* The futex floor's shared page.  The parent writes req and bumps ping;
 * the child writes rep and sets pong to ping; each sleeps on the word the
 * other bumps. */
struct futex_page {
	_Atomic uint32_t ping;      /* parent: a request is in req */
	_Atomic uint32_t pong;      /* child: the reply to request pong is in rep */
	unsigned char req[BENCH_ECHO_SIZE], rep[BENCH_ECHO_SIZE];
};

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, timeout, NULL, 0);
}

static int futex_echo(void *ctx, const unsigned char *arg, unsigned char *reply, size_t size,
		      struct bench_measure *m)
{
	struct futex_page *pg = ctx;
	uint32_t seq = atomic_load_explicit(&pg->ping, memory_order_relaxed) + 1, v;
	memcpy(pg->req, arg, size);
	atomic_store_explicit(&pg->ping, seq, memory_order_release);
	futex(&pg->ping, FUTEX_WAKE, 1, NULL);
	const struct timespec limit = { BENCH_WAIT_MS / 1000, (BENCH_WAIT_MS % 1000) * 1000000L };
	while ((v = atomic_load_explicit(&pg->pong, memory_order_acquire)) != seq) {
		if (futex(&pg->pong, FUTEX_WAIT, v, &limit) == 0 || errno == EAGAIN)
			continue;
		if (errno == EINTR && !bench_interrupted)
			continue;
		if (errno == ETIMEDOUT)
			bench_measure_fail(m, 1, "no reply within %d ms", BENCH_WAIT_MS);
		else
			bench_measure_fail(m, 1, "%s", errno == EINTR ? "interrupted"
							: strerror(errno));
		return -1;
	}
	memcpy(reply, pg->rep, size);
	return 0;
}

static _Noreturn void futex_child(struct futex_page *pg)
{
	uint32_t seen = 0, v;
	for (;;) {
		while ((v = atomic_load_explicit(&pg->ping, memory_order_acquire)) == seen)
			futex(&pg->ping, FUTEX_WAIT, seen, NULL);   /* the parent kills us */
		memcpy(pg->rep, pg->req, sizeof(pg->rep));
		atomic_store_explicit(&pg->pong, v, memory_order_release);
		futex(&pg->pong, FUTEX_WAKE, 1, NULL);
		seen = v;
	}
}

void bench_floor_futex(long n, long warmup, struct bench_measure *m)
{
	struct futex_page *pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pg == MAP_FAILED) {
		bench_measure_fail(m, 1, "mmap: %s", strerror(errno));
		return;
	}
	pid_t pid = bench_fork_child(m);
	if (pid == 0)
		futex_child(pg);
	if (pid > 0)
		bench_time_echo(n, warmup, BENCH_ECHO_SIZE, futex_echo, pg, m);
	bench_kill_child(pid);
	munmap(pg, sizeof(*pg));
}

/* ---- kill and spawn: the static child; where the helpers are ------------------ */

/* The helper program name next to this program (the build folder), else
 * where it is installed.  Returns 0 with path, or -1 with m not available. */
static int helper_path(const char *name, char *path, size_t len, struct bench_measure *m)
{
	char self[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[k > 0 ? k : 0] = '\0';
	char *slash = strrchr(self, '/');
	if (slash) {
		*slash = '\0';
		snprintf(path, len, "%s/%s", self, name);
		if (access(path, X_OK) == 0)
			return 0;
	}
	snprintf(path, len, "%s/%s", ANT_LIBEXECDIR, name);
	if (access(path, X_OK) == 0)
		return 0;
	bench_measure_fail(m, 0, "%s is neither next to this program nor in %s", name,
			   ANT_LIBEXECDIR);
	return -1;
}

/* The static child, ready to start: a pipe whose write end becomes its fd 3. */
struct static_child {
	char *argv[3];                  /* its path, "--pause" or NULL */
	int rd, wr;                     /* the pipe: ours, its fd 3 (closed once started) */
	posix_spawn_file_actions_t fa;
	pid_t pid;                      /* 0 until started */
};

extern char **environ;

/* Make the pipe and the file actions for path (not copied), to run idle
 * (--pause: it sleeps after its byte until killed) or not.  Returns 0, or
 * -1 with m failed; static_child_end must follow a success. */
static int static_child_prepare(struct static_child *c, char *path, int idle,
				struct bench_measure *m)
{
	*c = (struct static_child){ .argv = { path, idle ? "--pause" : NULL, NULL } };
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		bench_measure_fail(m, 1, "pipe: %s", strerror(errno));
		return -1;
	}
	if (p[1] == 3) {
		/* dup2(3, 3) would leave it close-on-exec: move it. */
		int w = fcntl(p[1], F_DUPFD_CLOEXEC, 4);
		close(p[1]);
		p[1] = w;
	}
	c->rd = p[0];
	c->wr = p[1];
	int r = c->wr < 0 ? errno : posix_spawn_file_actions_init(&c->fa);
	if (r == 0 && (r = posix_spawn_file_actions_adddup2(&c->fa, c->wr, 3)) != 0)
		posix_spawn_file_actions_destroy(&c->fa);
	if (r == 0)
		return 0;
	bench_measure_fail(m, 1, "pipe for %s: %s", STATIC_CHILD, strerror(r));
	close(c->rd);
	if (c->wr >= 0)
		close(c->wr);
	return -1;
}

/* posix_spawn it and close our copy of its fd 3.  Returns 0 or an errno. */
static int static_child_start(struct static_child *c)
{
	int r = posix_spawn(&c->pid, c->argv[0], &c->fa, NULL, c->argv, environ);
	close(c->wr);
	c->wr = -1;
	if (r != 0)
		c->pid = 0;
	return r;
}

/* Close the pipe, kill (if asked) and reap the child if started. */
static void static_child_end(struct static_child *c, int kill_it)
{
	if (c->wr >= 0)
		close(c->wr);
	close(c->rd);
	posix_spawn_file_actions_destroy(&c->fa);
	if (c->pid > 0 && kill_it)
		kill(c->pid, SIGKILL);
	if (c->pid > 0)
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
}

/* Samples of the kill and spawn floors. */
struct samples {
	uint64_t *ns, *tsc;
};

/* One sample: returns 0 with *ns and *tsc, or -1 with m. */
typedef int sample_fn(char *path, uint64_t *ns, uint64_t *tsc, struct bench_measure *m);

/* The static child's path, one untimed sample (the binary into the page
 * cache), then n timed; fills m either way. */
static void time_samples(long n, sample_fn *once, struct bench_measure *m)
{
	char path[PATH_MAX];
	uint64_t ns, tsc;
	if (helper_path(STATIC_CHILD, path, sizeof(path), m) < 0)
		return;
	struct samples sm = { calloc((size_t)n, sizeof(uint64_t)), calloc((size_t)n, sizeof(uint64_t)) };
	int ok = sm.ns && sm.tsc;
	if (!ok)
		bench_measure_fail(m, 1, "out of memory for %ld samples", n);
	ok = ok && once(path, &ns, &tsc, m) == 0;
	for (long i = 0; ok && i < n; i++) {
		if (bench_interrupted) {
			bench_measure_fail(m, 1, "interrupted");
			ok = 0;
			break;
		}
		ok = once(path, &sm.ns[i], &sm.tsc[i], m) == 0;
	}
	if (ok) {
		m->s = bench_stats(sm.ns, sm.tsc, (size_t)n);
		m->samples = n;
		m->ok = 1;
		m->failed = 0;
		m->why[0] = '\0';
	}
	free(sm.ns);
	free(sm.tsc);
}

/* Until pid sleeps (state S in /proc/PID/stat), for up to IDLE_WAIT_US: it
 * wrote its byte just before pause(), which it may not have reached. */
static void wait_asleep(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (long waited = 0; waited < IDLE_WAIT_US && !bench_interrupted; waited += 20) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (k <= 0)
			return;
		buf[k] = '\0';
		const char *paren = strrchr(buf, ')');     /* the name may hold ") " */
		if (paren && paren[1] == ' ' && paren[2] == 'S')
			return;
		bench_sleep_us(20);
	}
}

/* Read the child's byte within BENCH_WAIT_MS.  Returns 1, 0 at EOF, or -1
 * with errno (ETIMEDOUT). */
static int read_byte(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;
	int r;
	while ((r = poll(&p, 1, BENCH_WAIT_MS)) < 0 && errno == EINTR && !bench_interrupted)
		;
	if (r == 0)
		errno = ETIMEDOUT;
	if (r <= 0)
		return -1;
	ssize_t k;
	while ((k = read(fd, &c, 1)) < 0 && errno == EINTR && !bench_interrupted)
		;
	return k < 0 ? -1 : (int)k;
}

/* SIGKILL pid until pfd, its pidfd, polls readable: *ns and *tsc.
 * Returns 0, or -1 with m failed. */
static int time_kill(pid_t pid, int pfd, uint64_t *ns, uint64_t *tsc, struct bench_measure *m)
{
	struct pollfd pl = { .fd = pfd, .events = POLLIN };
	uint64_t a = bench_now_ns(), ca = bench_tsc();
	int r = kill(pid, SIGKILL);
	if (r == 0)
		while ((r = poll(&pl, 1, BENCH_WAIT_MS)) < 0 && errno == EINTR)
			;   /* it dies anyway: wait for it even after Ctrl-C */
	uint64_t cb = bench_tsc(), b = bench_now_ns();
	*ns = b - a;
	*tsc = cb - ca;
	if (r == 0)
		bench_measure_fail(m, 1, "the killed child's pidfd was not readable within %d ms",
				   BENCH_WAIT_MS);
	else if (r < 0)
		bench_measure_fail(m, 1, "kill or poll: %s", strerror(errno));
	return r == 1 ? 0 : -1;
}

/* One kill: start the child idle, open its pidfd once it sleeps, time the
 * kill, reap it. */
static int kill_once(char *path, uint64_t *ns, uint64_t *tsc, struct bench_measure *m)
{
	struct static_child c;
	if (static_child_prepare(&c, path, 1, m) < 0)
		return -1;
	int r = static_child_start(&c), ok = 0;
	if (r != 0) {
		bench_measure_fail(m, 1, "posix_spawn %s: %s", path, strerror(r));
	} else if ((r = read_byte(c.rd)) != 1) {
		bench_measure_fail(m, 1, "%s: %s", STATIC_CHILD, r == 0 ? "ended before it was ready" :
				   bench_interrupted ? "interrupted" : strerror(errno));
	} else {
		wait_asleep(c.pid);
		int pfd = (int)syscall(SYS_pidfd_open, c.pid, 0);
		if (pfd < 0)
			bench_measure_fail(m, errno != ENOSYS, "pidfd_open: %s%s", strerror(errno),
					   errno == ENOSYS ? " (it came with Linux 5.3)" : "");
		else
			ok = time_kill(c.pid, pfd, ns, tsc, m) == 0;
		if (pfd >= 0)
			close(pfd);
	}
	static_child_end(&c, 1);
	return ok ? 0 : -1;
}

void bench_floor_kill(long n, struct bench_measure *m)
{
	time_samples(n, kill_once, m);
}

/* One spawn: timed from posix_spawn until the child's byte is read; reaped after. */
static int spawn_once(char *path, uint64_t *ns, uint64_t *tsc, struct bench_measure *m)
{
	struct static_child c;
	if (static_child_prepare(&c, path, 0, m) < 0)
		return -1;
	char byte;
	ssize_t k = -1;
	uint64_t a = bench_now_ns(), ca = bench_tsc();
	int r = static_child_start(&c);
	if (r == 0)
		while ((k = read(c.rd, &byte, 1)) < 0 && errno == EINTR)
			;   /* it writes and ends anyway: read it even after Ctrl-C */
	uint64_t cb = bench_tsc(), b = bench_now_ns();
	int e = errno;
	static_child_end(&c, 0);
	if (r != 0)
		bench_measure_fail(m, 1, "posix_spawn %s: %s", path, strerror(r));
	else if (k != 1)
		bench_measure_fail(m, 1, "%s ended without writing its byte%s%s", path,
				   k < 0 ? ": " : "", k < 0 ? strerror(e) : "");
	*ns = b - a;
	*tsc = cb - ca;
	return r == 0 && k == 1 ? 0 : -1;
}

void bench_floor_spawn(long n, struct bench_measure *m)
{
	time_samples(n, spawn_once, m);
}

/* ---- the peers, timed by bench-peers ------------------------------------------------ */

/* Take bench-peers's line ("ok SAMPLES MEDIAN_NS P99_NS MEDIAN_TSC P99_TSC",
 * "unavailable WHY", "failed WHY") into m.  Returns 0, or -1 if it is none. */
static int peer_result(const char *line, struct bench_measure *m)
{
	unsigned long long v[4];
	long samples;
	int end = 0;
	if (sscanf(line, "ok %ld %llu %llu %llu %llu%n", &samples, &v[0], &v[1], &v[2], &v[3],
		   &end) == 5 && line[end] == '\0' && samples > 0) {
		*m = (struct bench_measure){ .ok = 1, .samples = samples,
					     .s = { .median_ns = v[0], .p99_ns = v[1],
						    .median_tsc = v[2], .p99_tsc = v[3] } };
		return 0;
	}
	if (strncmp(line, "unavailable ", 12) == 0)
		bench_measure_fail(m, 0, "%s", line + 12);
	else if (strncmp(line, "failed ", 7) == 0)
		bench_measure_fail(m, 1, "%s", line + 7);
	else
		return -1;
	return 0;
}

/* Until fd's EOF, a line into buf (the rest dropped).  On Ctrl-C, SIGTERM
 * to pid (it cleans up and says "failed interrupted"), then SIGKILL if it
 * is not gone BENCH_WAIT_MS later.  Returns the line's length. */
static size_t peer_read(int fd, pid_t pid, char *buf, size_t len)
{
	size_t got = 0;
	uint64_t kill_at = 0;
	for (;;) {
		if (bench_interrupted && !kill_at) {
			kill(pid, SIGTERM);
			kill_at = bench_now_ns() + (uint64_t)BENCH_WAIT_MS * 1000000u;
		}
		if (kill_at && bench_now_ns() > kill_at)
			kill(pid, SIGKILL);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 100);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;   /* EINTR: Ctrl-C, seen above; 0: look again */
		char chunk[256];
		ssize_t k = read(fd, chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		size_t take = (size_t)k < len - 1 - got ? (size_t)k : len - 1 - got;
		memcpy(buf + got, chunk, take);
		got += take;
	}
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strlen(buf);
}

/* Run bench-peers peer n warmup and take its result into m. */
static void run_peer(const char *peer, long n, long warmup, struct bench_measure *m)
{
	char path[PATH_MAX], ns[24], ws[24], line[256];
	int p[2];
	if (helper_path(PEERS_HELPER, path, sizeof(path), m) < 0)
		return;
	if (pipe2(p, O_CLOEXEC) < 0) {
		bench_measure_fail(m, 1, "pipe: %s", strerror(errno));
		return;
	}
	snprintf(ns, sizeof(ns), "%ld", n);
	snprintf(ws, sizeof(ws), "%ld", warmup);
	/* Forked, not posix_spawn'ed: it then dies with us, as every child. */
	pid_t pid = bench_fork_child(m);
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) == STDOUT_FILENO)
			execl(path, path, peer, ns, ws, (char *)NULL);
		dprintf(p[1], "failed cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	if (pid > 0) {
		size_t len = peer_read(p[0], pid, line, sizeof(line));
		int status = 0;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (len == 0 || peer_result(line, m) < 0)
			bench_measure_fail(m, 1, "%s %s %s %d without a result%s%s", path, peer,
					   WIFSIGNALED(status) ? "was killed by signal" : "exited",
					   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
					   len ? ": " : "", line);
	}
	close(p[0]);
}

void bench_peer_dbus(long n, long warmup, struct bench_measure *m)
{
	run_peer("dbus", n, warmup, m);
}

void bench_peer_zeromq(long n, long warmup, struct bench_measure *m)
{
	run_peer("zeromq", n, warmup, m);
}
