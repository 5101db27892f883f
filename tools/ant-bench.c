/* ant-bench.c - time sync calls down a chain of relays against a bare SEQPACKET round trip,
 * and the failover of a killed server (cold restart or warm standby) as the app sees it. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#include "ant/ant.h"
#include "tool_common.h"

#define PROG            "ant-bench"
#define ARG_SIZE        64      /* bytes of every call's argument, as in the paper */
#define DEPTH_MAX       ANT_FRAMES_MAX /* one frame per relay on the control ICA */
#define ITER_MAX        1000000L
#define BLOCK           500     /* calls per target before switching to the next */
#define START_TIMEOUT_S 10
#define STOP_TIMEOUT_S  5       /* antd itself gives its servers 3 s */

/* The AnT paper's chain of three servers on a 2.8 GHz Pentium 4. */
#define PAPER_SEQ_CYCLES 154707
#define PAPER_SEQ_US     55.3
#define PAPER_DIR_CYCLES 103992
#define PAPER_DIR_US     37.1

/* failover: the supervision issue's targets, in microseconds. */
#define TARGET_COLD_MEDIAN_US 3000
#define TARGET_WARM_MEDIAN_US 500
#define TARGET_P99_US         10000
#define KILLS_MAX        100000L
#define CTL_TIMEOUT_MS   2000    /* antd answers a control request within this */
#define HOLD_TIMEOUT_MS  2000    /* the victim holds the hanging call within this */
#define SPARE_TIMEOUT_MS 5000    /* a new spare is ready within this */
#define REPLY_TIMEOUT_MS 5000    /* the replayed answer comes within this */
#define POLL_US          100     /* between two looks at antd's status */

enum ret_mode { RET_SEQUENTIAL, RET_DIRECT, RET_BOTH };
static const char *const ret_names[] = { "sequential", "direct", "both" };

struct opts {
	long depth, iterations, warmup;
	enum ret_mode ret;
	int json;
	const char *antd;           /* NULL: next to this binary, else $PATH */
	const char *server_path;    /* NULL: next to this binary */
	long cpu;                   /* -1, or the one CPU for the bench, the floor and the stack */
	/* failover */
	long kills;                 /* kills per mode */
	int cold, warm;             /* the modes to run */
};

/* Set by SIGINT/SIGTERM/SIGHUP; the loops stop at the next call and clean up. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage_chain(FILE *f)
{
	fprintf(f,
		"usage: ant-bench chain [OPTIONS]\n"
		"Start a private stack of relays relay1 -> ... -> relayN under antd, time\n"
		"sync calls (op echo, %d-byte argument) from this process to relay1, and\n"
		"time the floor in the same run: a %d-byte round trip to a child process\n"
		"over a SOCK_SEQPACKET socketpair.  Prints median and p99 of both, in\n"
		"nanoseconds and TSC cycles, beside the AnT paper's figures.  The stack is\n"
		"stopped and its temporary folder removed before it exits.\n"
		"\n"
		"  --depth N          relays in the chain, 1 to %d (default 3)\n"
		"  --return MODE      sequential: results come back through every relay;\n"
		"                     direct: from the last relay straight to the caller;\n"
		"                     both: one stack, the two modes in alternating blocks\n"
		"                     (the caller asks with ANT_CF_DIRECT_HINT)\n"
		"  --iterations K     timed calls per mode (default 20000)\n"
		"  --warmup W         untimed calls first (default 1000)\n"
		"  --json             print one JSON object instead of the table\n"
		"  --antd PATH        the antd to run (default: ../supervisor/antd next to\n"
		"                     this program, else antd in $PATH)\n"
		"  --server-path DIRS where antd finds relay (default: ../servers next to\n"
		"                     this program)\n"
		"  --cpu N            run everything (this program, the floor's child, antd\n"
		"                     and the relays: stack key cpu_affinity) on CPU N;\n"
		"                     default: wherever the kernel places them\n"
		"  --help             this text\n"
		"\n"
		"Exit status: 0 on success; 1 if the stack failed or a reply was wrong;\n"
		"2 on bad usage.\n",
		ARG_SIZE, ARG_SIZE, DEPTH_MAX);
}

static void usage_failover(FILE *f)
{
	fprintf(f,
		"usage: ant-bench failover [OPTIONS]\n"
		"Start a private stack with one echo server, victim, and kill it again and\n"
		"again while it holds a call: each time the app makes an async call that\n"
		"makes the victim hang, waits until antd says the victim holds it, sends the\n"
		"victim SIGKILL and waits for the replayed answer.  The time from the kill\n"
		"to the answer reaching the app is timed: median, p99 and max, in\n"
		"microseconds, beside the supervision targets (median at most %d us with\n"
		"a cold restart and %d us with a warm standby, p99 at most %d us).  The\n"
		"stack is stopped and its temporary folder removed before it exits.\n"
		"\n"
		"  --kills N          kills per mode (default 200)\n"
		"  --standby          warm standby: antd keeps a started, ready spare and\n"
		"                     fails over to it (policy \"standby\": 1); default: a\n"
		"                     cold restart (fork, exec, ready) after every kill\n"
		"  --both             cold restart, then warm standby, on two stacks\n"
		"  --json             print one JSON object instead of the table\n"
		"  --antd PATH        the antd to run (default: ../supervisor/antd next to\n"
		"                     this program, else antd in $PATH)\n"
		"  --server-path DIRS where antd finds echo (default: ../servers next to\n"
		"                     this program)\n"
		"  --cpu N            run everything (this program, antd and the servers:\n"
		"                     stack key cpu_affinity) on CPU N; default: wherever the\n"
		"                     kernel places them\n"
		"  --help             this text\n"
		"\n"
		"Missing a target is reported, not an error.  Exit status: 0 on success; 1\n"
		"if the stack failed, an answer was wrong or did not come; 2 on bad usage.\n",
		TARGET_COLD_MEDIAN_US, TARGET_WARM_MEDIAN_US, TARGET_P99_US);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench chain [OPTIONS]     sync calls down a chain of relays\n"
		"       ant-bench failover [OPTIONS]  from a server's kill to the replayed answer\n"
		"       ant-bench COMMAND --help      that command's options\n"
		"\n");
	usage_chain(f);
	fputc('\n', f);
	usage_failover(f);
}

/* ---- clocks ----------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tsc_now(void)
{
#if HAVE_TSC
	return __rdtsc();
#else
	return 0;
#endif
}

/* ---- what gets timed -------------------------------------------------------- */

struct target {
	const char *label;
	/* One round trip of arg (ARG_SIZE bytes); 0, or -1 after printing why. */
	int (*round_trip)(struct target *t, const unsigned char *arg);
	/* an ant call */
	struct ant_conn *conn;
	unsigned call_flags;
	unsigned want_trace;        /* peers a reply passes in this mode */
	/* the floor */
	int fd;
	/* samples, iterations of each */
	uint64_t *ns, *tsc;
};

static int ant_round_trip(struct target *t, const unsigned char *arg)
{
	static struct ant_result res;   /* a whole page: keep it off the stack */
	struct ant_call call = {
		.server = "relay1", .op = "echo", .arg = arg, .arglen = ARG_SIZE,
		.call_flags = t->call_flags,
	};
	int r = ant_call_sync(t->conn, &call, &res);
	if (res.data && r >= 0)
		ant_ica_release(t->conn, res.data);
	if (r < 0) {
		fprintf(stderr, "%s: %s: call failed: %s (%s)\n", PROG, t->label, ant_errname(r),
			ant_strerror(r));
		return -1;
	}
	if (res.len != ARG_SIZE || memcmp(res.bytes, arg, ARG_SIZE) != 0) {
		fprintf(stderr, "%s: %s: reply of %zu bytes differs from the %d-byte argument\n",
			PROG, t->label, res.len, ARG_SIZE);
		return -1;
	}
	/* The trace proves the return mode took effect (unless it overflowed). */
	const struct ant_cica_hdr *h = (const void *)res.page;
	if (!(h->flags & ANT_CF_TRACE_FULL) && res.trace_len != t->want_trace) {
		fprintf(stderr, "%s: %s: reply passed %u peers, expected %u: wrong return mode\n",
			PROG, t->label, res.trace_len, t->want_trace);
		return -1;
	}
	return 0;
}

static int floor_round_trip(struct target *t, const unsigned char *arg)
{
	unsigned char buf[ARG_SIZE * 2];
	ssize_t n;
	while ((n = send(t->fd, arg, ARG_SIZE, MSG_NOSIGNAL)) < 0 && errno == EINTR && !interrupted)
		;
	if (n == ARG_SIZE) {
		while ((n = recv(t->fd, buf, sizeof(buf), 0)) < 0 && errno == EINTR && !interrupted)
			;
	}
	if (n < 0 && errno == EINTR)
		return -1;      /* interrupted: main says so */
	if (n < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, t->label, strerror(errno));
		return -1;
	}
	if (n != ARG_SIZE || memcmp(buf, arg, ARG_SIZE) != 0) {
		fprintf(stderr, "%s: %s: echo child sent %zd bytes, not the argument back\n",
			PROG, t->label, n);
		return -1;
	}
	return 0;
}

/* Fork the floor's echo child; returns our end of the socketpair, or -1. */
static int floor_start(pid_t *pid_out)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "%s: socketpair: %s\n", PROG, strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* Ends on EOF; Ctrl-C is the parent's to handle. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(sv[0]);
		unsigned char buf[ANT_CICA_SIZE];
		for (;;) {
			ssize_t n = recv(sv[1], buf, sizeof(buf), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || send(sv[1], buf, (size_t)n, MSG_NOSIGNAL) != n)
				_exit(0);
		}
	}
	close(sv[1]);
	*pid_out = pid;
	return sv[0];
}

static void floor_stop(int fd, pid_t pid)
{
	if (fd >= 0)
		close(fd);      /* the child sees EOF and exits */
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* ---- the stack: run folder, stack file, antd ---------------------------------- */

struct stack_run {
	char dir[64];               /* mkdtemp'd run folder, "" until made */
	char stack_path[PATH_MAX];
	char log_path[PATH_MAX];
	pid_t antd;                 /* 0: not running (or reaped) */
	struct ant_conn *conn;
	int log_shown;              /* show_log ran: do not repeat it */
};

/* This program's folder (for its siblings), or "." if unknown. */
static const char *self_dir(void)
{
	static char dir[PATH_MAX];
	if (!dir[0]) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = '\0';
		snprintf(dir, sizeof(dir), "%s", n > 0 ? dirname(self) : ".");
	}
	return dir;
}

/* relay1 -> relay2 -> ... -> relayN; each passes results on as mode says. */
static int write_stack_file(const char *path, long depth, const char *mode, long cpu)
{
	json_t *servers = json_array();
	for (long i = 1; i <= depth; i++) {
		char name[24], next[24];   /* "relay16" */
		snprintf(name, sizeof(name), "relay%ld", i);
		snprintf(next, sizeof(next), "relay%ld", i + 1);
		json_t *s = i < depth ?
			json_pack("{s:s, s:s, s:[s, s, s], s:[s]}", "name", name, "exec", "relay",
				  "args", next, "--return", mode, "calls", next) :
			json_pack("{s:s, s:s}", "name", name, "exec", "relay");
		json_array_append_new(servers, s);
	}
	json_t *root = json_pack("{s:s, s:o, s:{s:[s]}}", "name", "ant-bench", "servers", servers,
				 "apps", "calls", "relay1");
	if (root && cpu >= 0)
		json_object_set_new(root, "cpu_affinity", json_pack("[I]", (json_int_t)cpu));
	int r = root ? json_dump_file(root, path, JSON_INDENT(2)) : -1;
	json_decref(root);
	if (r < 0)
		fprintf(stderr, "%s: cannot write %s\n", PROG, path);
	return r;
}

/* Copy antd's log to stderr: the reason a stack failed is in there. */
static void show_log(struct stack_run *sr)
{
	FILE *f = sr->log_shown ? NULL : fopen(sr->log_path, "re");
	if (!f)
		return;
	sr->log_shown = 1;
	char line[1024];
	for (int n = 0; fgets(line, sizeof(line), f); n++) {
		if (n == 0)
			fprintf(stderr, "%s: antd's log (%s):\n", PROG, sr->log_path);
		fprintf(stderr, "  %s%s", line, strchr(line, '\n') ? "" : "\n");
	}
	fclose(f);
}

/* "exit status 1", "signal 15" */
static const char *how_ended(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	return buf;
}

/* Reap antd if it has ended; returns 1 if it has (and says how). */
static int antd_ended(struct stack_run *sr, int *status)
{
	if (sr->antd <= 0)
		return 1;
	pid_t r = waitpid(sr->antd, status, WNOHANG);
	if (r == sr->antd || (r < 0 && errno == ECHILD)) {
		sr->antd = 0;
		return 1;
	}
	return 0;
}

/* In the forked child: become antd.  Only async-signal-safe calls. */
static void antd_exec(const struct stack_run *sr, const char *antd, const char *server_path,
		      int logfd, int errfd, pid_t parent)
{
	/* Never outlive the bench, whatever ends it (the check closes the race). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	/* Its own process group: Ctrl-C reaches only the bench, which then stops
	 * antd in order instead of racing it. */
	setpgid(0, 0);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0)
		dup2(devnull, 0);
	/* stdout too: with --json ours must hold nothing but the object. */
	dup2(logfd, 1);
	dup2(logfd, 2);
	char *const argv[] = {
		(char *)antd, "--foreground", "--run-dir", (char *)sr->dir,
		"--server-path", (char *)server_path, (char *)sr->stack_path, NULL,
	};
	if (strchr(antd, '/'))
		execv(antd, argv);
	else
		execvp(antd, argv);
	int e = errno;
	ssize_t w = write(errfd, &e, sizeof(e));
	(void)w;
	_exit(127);
}

/* Make the run folder and stack file, start antd, connect.  Returns 0, or
 * -1 after printing why; stack_stop cleans up either way. */
static int stack_start(struct stack_run *sr, const struct opts *o)
{
	snprintf(sr->dir, sizeof(sr->dir), "/tmp/ant-bench.XXXXXX");
	if (!mkdtemp(sr->dir)) {
		fprintf(stderr, "%s: mkdtemp %s: %s\n", PROG, sr->dir, strerror(errno));
		sr->dir[0] = '\0';
		return -1;
	}
	snprintf(sr->stack_path, sizeof(sr->stack_path), "%s/stack.json", sr->dir);
	snprintf(sr->log_path, sizeof(sr->log_path), "%s/antd.log", sr->dir);
	/* With both modes the relays follow the caller's ANT_CF_DIRECT_HINT. */
	const char *relay_mode = o->ret == RET_BOTH ? "caller" : ret_names[o->ret];
	if (write_stack_file(sr->stack_path, o->depth, relay_mode, o->cpu) < 0)
		return -1;

	char server_path[PATH_MAX], sibling[PATH_MAX];
	if (o->server_path)
		snprintf(server_path, sizeof(server_path), "%s", o->server_path);
	else
		snprintf(server_path, sizeof(server_path), "%s/../servers", self_dir());
	snprintf(sibling, sizeof(sibling), "%s/../supervisor/antd", self_dir());
	const char *antd = o->antd ? o->antd : access(sibling, X_OK) == 0 ? sibling : "antd";
	int logfd = open(sr->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, sr->log_path, strerror(errno));
		return -1;
	}
	/* Close-on-exec pipe: an errno on it means exec failed, EOF that it worked. */
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0) {
		fprintf(stderr, "%s: pipe: %s\n", PROG, strerror(errno));
		close(logfd);
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		antd_exec(sr, antd, server_path, logfd, ep[1], parent);
	int fork_errno = errno;
	close(logfd);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		fprintf(stderr, "%s: fork: %s\n", PROG, strerror(fork_errno));
		return -1;
	}
	sr->antd = pid;
	int e = 0;
	ssize_t n;
	while ((n = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(sr->antd, NULL, 0);
		sr->antd = 0;
		fprintf(stderr, "%s: cannot run %s: %s%s\n", PROG, antd, strerror(e),
			o->antd ? "" : " (give --antd PATH)");
		return -1;
	}

	uint64_t deadline = now_ns() + (uint64_t)START_TIMEOUT_S * 1000000000u;
	for (;;) {
		int status = 0, r = ant_connect(sr->dir, &sr->conn);
		if (r == 0)
			break;
		if (antd_ended(sr, &status)) {
			char how[32];
			fprintf(stderr, "%s: antd ended at start-up (%s)\n", PROG,
				how_ended(status, how, sizeof(how)));
			show_log(sr);
			return -1;
		}
		if (interrupted)
			return -1;
		if (now_ns() > deadline) {
			fprintf(stderr, "%s: no stack in %s after %d s (last: %s)\n", PROG, sr->dir,
				START_TIMEOUT_S, ant_strerror(r));
			show_log(sr);
			return -1;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
	}
	if (ant_server_id(sr->conn, "relay1") < 0) {
		fprintf(stderr, "%s: the stack in %s has no relay1\n", PROG, sr->dir);
		return -1;
	}
	return 0;
}

/* Stop antd (SIGTERM, then SIGKILL), remove what the run left.  Returns 0,
 * or -1 if antd did not end cleanly.  Safe after a partial stack_start. */
static int stack_stop(struct stack_run *sr)
{
	int ret = 0, status = 0;
	ant_close(sr->conn);
	sr->conn = NULL;
	if (sr->antd > 0) {
		kill(sr->antd, SIGTERM);
		uint64_t deadline = now_ns() + (uint64_t)STOP_TIMEOUT_S * 1000000000u;
		while (!antd_ended(sr, &status)) {
			if (now_ns() > deadline) {
				fprintf(stderr, "%s: antd still running %d s after SIGTERM: SIGKILL\n",
					PROG, STOP_TIMEOUT_S);
				kill(sr->antd, SIGKILL);
				waitpid(sr->antd, &status, 0);
				sr->antd = 0;
				break;
			}
			nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			char how[32];
			fprintf(stderr, "%s: antd did not stop cleanly (%s)\n", PROG,
				how_ended(status, how, sizeof(how)));
			show_log(sr);
			ret = -1;
		}
	}
	if (!sr->dir[0])
		return ret;
	/* What antd leaves (lock file always; sockets and pid file if it died). */
	static const char *const files[] = {
		"stack.json", "antd.log", "antd.lock", "antd.pid", "app.sock", "control.sock",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", sr->dir, files[i]);
		unlink(path);
	}
	if (rmdir(sr->dir) < 0) {
		fprintf(stderr, "%s: cannot remove %s: %s\n", PROG, sr->dir, strerror(errno));
		ret = -1;
	}
	sr->dir[0] = '\0';
	return ret;
}

/* ---- measuring -------------------------------------------------------------- */

/* The argument of call number seq: a counter, so a stale reply cannot pass. */
static void make_arg(unsigned char *arg, uint64_t seq)
{
	for (unsigned i = 0; i < ARG_SIZE; i++)
		arg[i] = (unsigned char)('a' + (i + seq) % 26);
	memcpy(arg, &seq, sizeof(seq));
}

/*
 * warmup untimed round trips of every target, then iterations timed ones,
 * in alternating blocks so that drift (frequency, noisy neighbours) hits
 * every target alike.  *span_ns and *span_tsc get the whole timed stretch.
 * Returns 0, or -1 (printed) on a failed round trip or interruption.
 */
static int measure(struct target *t, size_t nt, long iterations, long warmup,
		   uint64_t *span_ns, uint64_t *span_tsc)
{
	unsigned char arg[ARG_SIZE];
	uint64_t seq = 0;
	for (size_t k = 0; k < nt; k++) {
		for (long i = 0; i < warmup; i++) {
			make_arg(arg, ++seq);
			if (interrupted || t[k].round_trip(&t[k], arg) < 0)
				return -1;
		}
	}
	uint64_t ns0 = now_ns(), tsc0 = tsc_now();
	for (long done = 0; done < iterations; done += BLOCK) {
		long n = iterations - done < BLOCK ? iterations - done : BLOCK;
		for (size_t k = 0; k < nt; k++) {
			for (long i = done; i < done + n; i++) {
				make_arg(arg, ++seq);
				if (interrupted)
					return -1;
				uint64_t a = now_ns(), ca = tsc_now();
				int r = t[k].round_trip(&t[k], arg);
				uint64_t cb = tsc_now(), b = now_ns();
				if (r < 0)
					return -1;
				t[k].ns[i] = b - a;
				t[k].tsc[i] = cb - ca;
			}
		}
	}
	*span_tsc = tsc_now() - tsc0;
	*span_ns = now_ns() - ns0;
	return 0;
}

struct stats {
	uint64_t median_ns, p99_ns, median_tsc, p99_tsc;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Median (mean of the middle two) and nearest-rank p99; sorts v. */
static void median_p99(uint64_t *v, size_t n, uint64_t *median, uint64_t *p99)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	*median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	size_t rank = (n * 99 + 99) / 100;   /* ceil(0.99 n) */
	*p99 = v[rank - 1];
}

static struct stats target_stats(struct target *t, size_t n)
{
	struct stats s;
	median_p99(t->ns, n, &s.median_ns, &s.p99_ns);
	median_p99(t->tsc, n, &s.median_tsc, &s.p99_tsc);
	return s;
}

/* ---- output ----------------------------------------------------------------- */

/* 149600 -> "149,600" */
static const char *grouped(uint64_t v, char *buf, size_t len)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	size_t o = 0;
	for (int i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

static void print_row(int width, const char *label, const struct stats *s, double floor_ns)
{
	char tsc[32];
	printf("  %-*s %7.1f us %8.1f us %12s %7.1fx\n", width, label, s->median_ns / 1e3,
	       s->p99_ns / 1e3, HAVE_TSC ? grouped(s->median_tsc, tsc, sizeof(tsc)) : "-",
	       floor_ns > 0 ? (double)s->median_ns / floor_ns : 0.0);
}

static void print_table(const struct opts *o, const struct target *t, const struct stats *s,
			size_t nt, double tsc_hz)
{
	const struct stats *fl = &s[nt - 1];
	if (o->ret == RET_BOTH)
		printf("ant-bench chain: depth %ld, sequential and direct return in alternating "
		       "blocks, %ld calls each (after %ld warm-up)\n",
		       o->depth, o->iterations, o->warmup);
	else
		printf("ant-bench chain: depth %ld, %s return, %ld calls (after %ld warm-up)\n",
		       o->depth, ret_names[o->ret], o->iterations, o->warmup);
	if (o->cpu >= 0)
		printf("  everything on CPU %ld (bench, floor, antd, relays)\n", o->cpu);
	else
		printf("  processes placed by the kernel (--cpu N pins them all to one CPU)\n");
	int width = 0;
	for (size_t k = 0; k < nt; k++)
		if ((int)strlen(t[k].label) > width)
			width = (int)strlen(t[k].label);
	printf("  %-*s %10s %11s %12s %8s\n", width, "", "median", "p99", "median TSC", "x floor");
	for (size_t k = 0; k < nt; k++)
		print_row(width, t[k].label, &s[k], (double)fl->median_ns);
	if (o->ret == RET_BOTH)
		printf("  direct/sequential: %.2f here, %.2f in the paper\n",
		       (double)s[1].median_ns / (double)s[0].median_ns,
		       (double)PAPER_DIR_CYCLES / PAPER_SEQ_CYCLES);
	if (HAVE_TSC)
		printf("  TSC: %.3f GHz (TSC cycles / CLOCK_MONOTONIC ns over the run)\n",
		       tsc_hz / 1e9);
	else
		printf("  TSC: not available on this CPU (cycles reported as 0)\n");
	printf("  AnT paper (P4 2.8 GHz, 3 servers): sequential 154,707 cycles (%.1f us), "
	       "direct 103,992 cycles (%.1f us), direct/sequential %.2f\n",
	       PAPER_SEQ_US, PAPER_DIR_US, (double)PAPER_DIR_CYCLES / PAPER_SEQ_CYCLES);
}

static json_t *stats_json(const struct stats *s, const struct stats *fl)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:f}",
			 "median_ns", (json_int_t)s->median_ns, "p99_ns", (json_int_t)s->p99_ns,
			 "median_tsc", (json_int_t)s->median_tsc, "p99_tsc", (json_int_t)s->p99_tsc,
			 "ratio_to_floor", (double)s->median_ns / (double)fl->median_ns);
}

static int print_json(const struct opts *o, const struct stats *s, size_t nt, double tsc_hz)
{
	const struct stats *fl = &s[nt - 1];
	json_t *root = json_pack("{s:s, s:I, s:s, s:I, s:I}", "benchmark", "chain",
				 "depth", (json_int_t)o->depth, "return", ret_names[o->ret],
				 "iterations", (json_int_t)o->iterations,
				 "warmup", (json_int_t)o->warmup);
	if (!root)
		return -1;
	json_object_set_new(root, "cpu", o->cpu >= 0 ? json_integer(o->cpu) : json_null());
	if (o->ret == RET_BOTH) {
		json_object_set_new(root, "sequential", stats_json(&s[0], fl));
		json_object_set_new(root, "direct", stats_json(&s[1], fl));
		json_object_set_new(root, "direct_over_sequential",
				    json_real((double)s[1].median_ns / (double)s[0].median_ns));
	} else {
		json_t *one = stats_json(&s[0], fl);
		json_object_update(root, one);
		json_decref(one);
	}
	json_object_set_new(root, "floor_median_ns", json_integer((json_int_t)fl->median_ns));
	json_object_set_new(root, "floor_p99_ns", json_integer((json_int_t)fl->p99_ns));
	json_object_set_new(root, "floor_median_tsc", json_integer((json_int_t)fl->median_tsc));
	json_object_set_new(root, "floor_p99_tsc", json_integer((json_int_t)fl->p99_tsc));
	json_object_set_new(root, "tsc_hz", json_integer((json_int_t)(tsc_hz + 0.5)));
	json_object_set_new(root, "paper", json_pack(
		"{s:s, s:I, s:I, s:f, s:I, s:f, s:f}", "machine", "Pentium 4 2.8 GHz",
		"servers", (json_int_t)3,
		"sequential_cycles", (json_int_t)PAPER_SEQ_CYCLES, "sequential_us", PAPER_SEQ_US,
		"direct_cycles", (json_int_t)PAPER_DIR_CYCLES, "direct_us", PAPER_DIR_US,
		"direct_over_sequential", (double)PAPER_DIR_CYCLES / PAPER_SEQ_CYCLES));
	int r = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
			   JSON_REAL_PRECISION(4));
	json_decref(root);
	if (r == 0)
		putchar('\n');
	return r;
}

/* ---- command line ----------------------------------------------------------- */

static void parse_chain(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "depth", required_argument, NULL, 'd' },
		{ "return", required_argument, NULL, 'R' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "antd", required_argument, NULL, 'a' },
		{ "server-path", required_argument, NULL, 's' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	opterr = 0;
	/* argv[0] is the command, "chain". */
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (tool_parse_long(optarg, 1, DEPTH_MAX, &o->depth) < 0)
				tool_usage_error(PROG, "--depth: expected 1 to %u relays, got '%s'",
						 DEPTH_MAX, optarg);
			break;
		case 'R':
			if (strcmp(optarg, "sequential") == 0)
				o->ret = RET_SEQUENTIAL;
			else if (strcmp(optarg, "direct") == 0)
				o->ret = RET_DIRECT;
			else if (strcmp(optarg, "both") == 0)
				o->ret = RET_BOTH;
			else
				tool_usage_error(PROG, "--return: expected sequential, direct or "
						 "both, got '%s'", optarg);
			break;
		case 'i':
			if (tool_parse_long(optarg, 1, ITER_MAX, &o->iterations) < 0)
				tool_usage_error(PROG, "--iterations: expected 1 to %ld, got '%s'",
						 ITER_MAX, optarg);
			break;
		case 'w':
			if (tool_parse_long(optarg, 0, ITER_MAX, &o->warmup) < 0)
				tool_usage_error(PROG, "--warmup: expected 0 to %ld, got '%s'",
						 ITER_MAX, optarg);
			break;
		case 'j': o->json = 1; break;
		case 'a': o->antd = optarg; break;
		case 's': o->server_path = optarg; break;
		case 'c':
			if (tool_parse_long(optarg, 0, CPU_SETSIZE - 1, &o->cpu) < 0)
				tool_usage_error(PROG, "--cpu: expected a CPU number, got '%s'", optarg);
			break;
		case 'h': usage(stdout); exit(0);
		default: {
			/* A long option: optind has moved past it; optopt is set only
			 * when it is known but lacks its value. */
			const char *bad = argv[optind - 1];
			if (strncmp(bad, "--", 2) == 0 && optopt)
				tool_usage_error(PROG, "option '%s' needs a value", bad);
			if (strncmp(bad, "--", 2) == 0 || !optopt)
				tool_usage_error(PROG, "unknown option '%s'", bad);
			tool_usage_error(PROG, "unknown option '-%c'", optopt);
		}
		}
	}
	if (optind < argc)
		tool_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
}

int main(int argc, char **argv)
{
	struct opts o = { .depth = 3, .iterations = 20000, .warmup = 1000, .ret = RET_DIRECT,
			  .cpu = -1 };
	if (argc < 2)
		tool_usage_error(PROG, "expected a command (chain)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (argv[1][0] == '-')
		tool_usage_error(PROG, "unknown option '%s' (the command, chain, comes first)",
				 argv[1]);
	if (strcmp(argv[1], "chain") != 0)
		tool_usage_error(PROG, "unknown command '%s' (known: chain)", argv[1]);
	parse_chain(argc - 1, argv + 1, &o);
	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((int)o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			fprintf(stderr, "%s: --cpu %ld: %s\n", PROG, o.cpu, strerror(errno));
			return 1;
		}
	}

	struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* Targets: the ant call(s), then the floor, always last. */
	struct target t[3];
	size_t nt = 0;
	char label[2][48];
	const char *servers = o.depth == 1 ? "server" : "servers";
	unsigned seq_trace = 2 * (unsigned)o.depth + 1, dir_trace = (unsigned)o.depth + 2;
	memset(t, 0, sizeof(t));
	if (o.ret == RET_BOTH) {
		snprintf(label[0], sizeof(label[0]), "sequential (%ld %s)", o.depth, servers);
		snprintf(label[1], sizeof(label[1]), "direct (%ld %s)", o.depth, servers);
		t[nt++] = (struct target){ .label = label[0], .round_trip = ant_round_trip,
					   .want_trace = seq_trace };
		t[nt++] = (struct target){ .label = label[1], .round_trip = ant_round_trip,
					   .call_flags = ANT_CF_DIRECT_HINT, .want_trace = dir_trace };
	} else {
		snprintf(label[0], sizeof(label[0]), "ant call (%ld %s)", o.depth, servers);
		t[nt++] = (struct target){ .label = label[0], .round_trip = ant_round_trip,
					   .want_trace = o.ret == RET_DIRECT ? dir_trace : seq_trace };
	}
	t[nt++] = (struct target){ .label = "SEQPACKET round trip", .round_trip = floor_round_trip,
				   .fd = -1 };
	for (size_t k = 0; k < nt; k++) {
		t[k].ns = calloc((size_t)o.iterations, sizeof(uint64_t));
		t[k].tsc = calloc((size_t)o.iterations, sizeof(uint64_t));
		if (!t[k].ns || !t[k].tsc)
			errx(1, "out of memory for %ld samples", o.iterations);
	}

	int ok = 0;
	uint64_t span_ns = 0, span_tsc = 0;
	struct stack_run sr = { .antd = 0 };
	pid_t floor_pid = 0;
	/* The echo child first, so that it inherits none of the stack's fds. */
	int floor_fd = floor_start(&floor_pid);
	if (floor_fd >= 0 && stack_start(&sr, &o) == 0) {
		for (size_t k = 0; k + 1 < nt; k++)
			t[k].conn = sr.conn;
		t[nt - 1].fd = floor_fd;
		ok = measure(t, nt, o.iterations, o.warmup, &span_ns, &span_tsc) == 0;
		if (!ok && !interrupted)
			show_log(&sr);
	}
	if (interrupted)
		fprintf(stderr, "%s: interrupted\n", PROG);
	if (stack_stop(&sr) < 0)
		ok = 0;
	floor_stop(floor_fd, floor_pid);

	if (ok) {
		struct stats s[3];
		for (size_t k = 0; k < nt; k++)
			s[k] = target_stats(&t[k], (size_t)o.iterations);
		double tsc_hz = span_ns ? (double)span_tsc * 1e9 / (double)span_ns : 0.0;
		if (o.json)
			ok = print_json(&o, s, nt, tsc_hz) == 0;
		else
			print_table(&o, t, s, nt, tsc_hz);
	}
	for (size_t k = 0; k < nt; k++) {
		free(t[k].ns);
		free(t[k].tsc);
	}
	return ok ? 0 : 1;
}
