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
#include <sys/stat.h>
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
	long busy_poll_us;          /* the stack's busy_poll_us (0: antd sleeps at once) */
	/* failover */
	long kills;                 /* kills per mode */
	int cold, warm;             /* the modes to run */
	int no_sandbox;             /* the victim runs with "sandbox": "none" */
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
		"  --busy-poll US     the stack's busy_poll_us: antd polls US microseconds\n"
		"                     after each message before it sleeps (default 0)\n"
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
		"  --sandbox WHICH    the victim's sandbox: default (sandbox/default.json; antd\n"
		"                     judges its loader's calls at every start) or none\n"
		"                     (default: default)\n"
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
static int write_stack_file(const char *path, long depth, const char *mode, long cpu,
			    long busy_poll_us)
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
	if (root && busy_poll_us > 0)
		json_object_set_new(root, "busy_poll_us", json_integer(busy_poll_us));
	int r = root ? json_dump_file(root, path, JSON_INDENT(2)) : -1;
	json_decref(root);
	if (r < 0)
		fprintf(stderr, "%s: cannot write %s\n", PROG, path);
	return r;
}

#define LOG_HEAD 20   /* a long log: its first lines ... */
#define LOG_TAIL 40   /* ... and its last */

/* Copy antd's log to stderr: the reason a stack failed is in there.  A
 * server restarted without limit (failover) can log thousands of lines:
 * then only the first and the last are shown. */
static void show_log(struct stack_run *sr)
{
	FILE *f = sr->log_shown ? NULL : fopen(sr->log_path, "re");
	if (!f)
		return;
	sr->log_shown = 1;
	char line[1024];
	long total = 0;
	while (fgets(line, sizeof(line), f))
		total += strchr(line, '\n') != NULL;
	rewind(f);
	int skipping = 0, mid = 0;   /* mid: inside a line longer than the buffer */
	for (long n = 0; fgets(line, sizeof(line), f); ) {
		int nl = strchr(line, '\n') != NULL;
		if (n == 0 && !mid)
			fprintf(stderr, "%s: antd's log (%s):\n", PROG, sr->log_path);
		if (total > LOG_HEAD + LOG_TAIL && n >= LOG_HEAD && n < total - LOG_TAIL) {
			if (!skipping)
				fprintf(stderr, "  ... %ld lines left out ...\n",
					total - LOG_HEAD - LOG_TAIL);
			skipping = 1;
		} else {
			fprintf(stderr, "%s%s%s", mid ? "" : "  ", line, nl || !feof(f) ? "" : "\n");
		}
		mid = !nl;
		n += nl;
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

/* Make the run folder (sr->dir) and name the stack file and log in it.
 * Returns 0, or -1 after printing why. */
static int stack_prepare(struct stack_run *sr)
{
	snprintf(sr->dir, sizeof(sr->dir), "/tmp/ant-bench.XXXXXX");
	if (!mkdtemp(sr->dir)) {
		fprintf(stderr, "%s: mkdtemp %s: %s\n", PROG, sr->dir, strerror(errno));
		sr->dir[0] = '\0';
		return -1;
	}
	snprintf(sr->stack_path, sizeof(sr->stack_path), "%s/stack.json", sr->dir);
	snprintf(sr->log_path, sizeof(sr->log_path), "%s/antd.log", sr->dir);
	return 0;
}

/* Start antd on the stack file stack_prepare named, connect, check that the
 * stack has server first.  Returns 0, or -1 after printing why; stack_stop
 * cleans up either way. */
static int stack_launch(struct stack_run *sr, const struct opts *o, const char *first)
{
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
	if (ant_server_id(sr->conn, first) < 0) {
		fprintf(stderr, "%s: the stack in %s has no %s\n", PROG, sr->dir, first);
		return -1;
	}
	return 0;
}

/* The chain: run folder, stack file of relays, antd. */
static int stack_start(struct stack_run *sr, const struct opts *o)
{
	if (stack_prepare(sr) < 0)
		return -1;
	/* With both modes the relays follow the caller's ANT_CF_DIRECT_HINT. */
	const char *relay_mode = o->ret == RET_BOTH ? "caller" : ret_names[o->ret];
	if (write_stack_file(sr->stack_path, o->depth, relay_mode, o->cpu, o->busy_poll_us) < 0)
		return -1;
	return stack_launch(sr, o, "relay1");
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
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
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
	if (o->busy_poll_us)
		printf("  antd busy-polls %ld us after each message (busy_poll_us)\n", o->busy_poll_us);
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
	json_object_set_new(root, "busy_poll_us", json_integer(o->busy_poll_us));
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

/* ---- failover: kill the server holding a call, time the replayed answer ----- */

enum fo_mode { FO_COLD, FO_WARM };
static const char *const fo_names[] = { "cold", "warm" };
static const char *const fo_labels[] = { "cold restart", "warm standby" };

struct fo_result {
	int ran;
	uint64_t median_ns, p99_ns, max_ns;
	long restarts, failovers, replays;  /* victim's counters at the end */
	int counts_ok;                      /* they say every kill went as the mode says */
};

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);   /* a signal cuts it short: the callers look at interrupted */
}

/*
 * One server, victim: echo that hangs on any argument holding HANG when it is
 * handed over the first time (--fail-fresh: antd's replay of it, flagged
 * ANT_CF_REPLAY, is answered).  Restarted at once and without limit
 * (intensity: at most 1000, antd's maximum, in 1 ms, its shortest period: a
 * restart takes longer than that), the call replayed every time
 * (poison_kills 1000), with or without a warm spare.  Its sandbox is the
 * default one, as every example server's: a start costs what it costs every
 * server, antd judging its loader's calls.
 */
static int write_failover_stack(const struct stack_run *sr, enum fo_mode mode, long cpu,
				int no_sandbox)
{
	json_t *sandbox = json_string(no_sandbox ? "none" : "default");
	json_t *sup = json_pack("{s:{s:i, s:f}, s:{s:i, s:i, s:i, s:i}, s:i, s:i}",
				"intensity", "max_restarts", 1000, "period_s", 0.001,
				"backoff", "initial_ms", 0, "base_ms", 0, "cap_ms", 0, "jitter", 0,
				"poison_kills", 1000, "standby", mode == FO_WARM ? 1 : 0);
	json_t *root = NULL;
	if (sup && sandbox) {
		/* "o" takes both references, even if it fails. */
		root = json_pack("{s:s, s:[{s:s, s:s, s:[s, s, s], s:o, s:o}], s:{s:[s]}}",
				 "name", "ant-bench-failover",
				 "servers", "name", "victim", "exec", "echo",
				 "args", "--fail", "hang:HANG", "--fail-fresh",
				 "supervision", sup, "sandbox", sandbox,
				 "apps", "calls", "victim");
	} else {
		json_decref(sup);
		json_decref(sandbox);
	}
	if (root && cpu >= 0)
		json_object_set_new(root, "cpu_affinity", json_pack("[I]", (json_int_t)cpu));
	int r = root ? json_dump_file(root, sr->stack_path, JSON_INDENT(2)) : -1;
	json_decref(root);
	if (r < 0)
		fprintf(stderr, "%s: cannot write %s\n", PROG, sr->stack_path);
	return r;
}

/* Connect to DIR/control.sock.  Returns the fd, or -1 after printing why. */
static int ctl_open(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", dir) >=
	    (int)sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: %s/control.sock: path too long\n", PROG, dir);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	fprintf(stderr, "%s: %s: %s\n", PROG, sa.sun_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* One request over the control socket; antd's reply, a new object that says
 * "ok": true, or NULL after printing why (or on interruption). */
static json_t *ctl_ask(int fd, const char *req)
{
	ssize_t n;
	while ((n = send(fd, req, strlen(req), MSG_NOSIGNAL)) < 0 && errno == EINTR &&
	       !interrupted)
		;
	if (n < 0) {
		if (!interrupted)
			fprintf(stderr, "%s: control socket: %s\n", PROG, strerror(errno));
		return NULL;
	}
	uint64_t deadline = now_ns() + (uint64_t)CTL_TIMEOUT_MS * 1000000u;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	for (;;) {
		uint64_t now = now_ns();
		int left = now < deadline ? (int)((deadline - now) / 1000000u) + 1 : 0;
		int r = poll(&pfd, 1, left);
		if (r > 0)
			break;
		if (interrupted)
			return NULL;
		if (r == 0) {
			fprintf(stderr, "%s: antd did not answer %s within %d ms\n", PROG, req,
				CTL_TIMEOUT_MS);
			return NULL;
		}
		if (errno != EINTR) {
			fprintf(stderr, "%s: control socket: %s\n", PROG, strerror(errno));
			return NULL;
		}
	}
	/* A SOCK_SEQPACKET message comes whole: learn its size first. */
	ssize_t size;
	while ((size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC)) < 0 && errno == EINTR)
		;
	char *buf = size > 0 ? malloc((size_t)size) : NULL;
	if (buf) {
		while ((n = recv(fd, buf, (size_t)size, 0)) < 0 && errno == EINTR)
			;
	}
	if (!buf || n <= 0) {
		fprintf(stderr, "%s: control socket: %s\n", PROG,
			size == 0 || n == 0 ? "antd closed it" : strerror(errno));
		free(buf);
		return NULL;
	}
	json_error_t jerr;
	json_t *o = json_loadb(buf, (size_t)n, 0, &jerr);
	free(buf);
	if (!o || !json_is_true(json_object_get(o, "ok"))) {
		const char *why = json_string_value(json_object_get(o, "error"));
		fprintf(stderr, "%s: antd answered %s with %s\n", PROG, req,
			why ? why : o ? "no \"ok\": true" : "something that is not JSON");
		json_decref(o);
		return NULL;
	}
	return o;
}

/* What antd's status says about victim. */
struct victim {
	long pid, inflight, standby_pid, restarts, replays, failovers;
	int running;
};

static long int_of(json_t *o, const char *key)
{
	return (long)json_integer_value(json_object_get(o, key));   /* 0 if absent */
}

/* Returns 0, or -1 after printing why. */
static int victim_status(int ctl, struct victim *v)
{
	json_t *st = ctl_ask(ctl, "{\"cmd\":\"status\"}");
	if (!st)
		return -1;
	json_t *servers = json_object_get(st, "servers"), *s;
	size_t i;
	int found = 0;
	json_array_foreach(servers, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		if (!name || strcmp(name, "victim") != 0)
			continue;
		const char *state = json_string_value(json_object_get(s, "state"));
		*v = (struct victim){
			.pid = int_of(s, "pid"), .inflight = int_of(s, "inflight"),
			.standby_pid = int_of(s, "standby_pid"), .restarts = int_of(s, "restarts"),
			.replays = int_of(s, "replays"), .failovers = int_of(s, "failovers"),
			.running = state && strcmp(state, "running") == 0,
		};
		found = 1;
	}
	json_decref(st);
	if (!found)
		fprintf(stderr, "%s: antd's status lists no server victim\n", PROG);
	return found ? 0 : -1;
}

/* Has antd logged that spare pid is ready?  1 yes, 0 not yet, -1 (printed). */
static int spare_ready_logged(int ctl, long pid)
{
	json_t *r = ctl_ask(ctl, "{\"cmd\":\"log\",\"lines\":50}");
	if (!r)
		return -1;
	char want[64];
	snprintf(want, sizeof(want), "spare pid %ld ready", pid);
	json_t *ev = json_object_get(r, "events"), *e;
	size_t i;
	int found = 0;
	json_array_foreach(ev, i, e) {
		const char *event = json_string_value(json_object_get(e, "event"));
		const char *msg = json_string_value(json_object_get(e, "msg"));
		if (event && msg && strcmp(event, "spare-ready") == 0 && strcmp(msg, want) == 0)
			found = 1;
	}
	json_decref(r);
	return found;
}

/*
 * Wait until the victim has a ready spare, so that the next kill is a
 * failover and not a cold restart.  The status shows standby_pid from the
 * spare's fork on, well before it is ready (exec, connect, NEXT), and has
 * no field for readiness; antd logs "spare-ready" when the spare asks for
 * work, which is exactly when it will fail over to it (spare.ready), so
 * that event, read back over the control socket, is the signal.  Returns 0,
 * or -1 after printing why.
 */
static int wait_spare_ready(int ctl)
{
	uint64_t deadline = now_ns() + (uint64_t)SPARE_TIMEOUT_MS * 1000000u;
	struct victim v = { 0 };
	for (;;) {
		if (victim_status(ctl, &v) < 0)
			return -1;
		if (v.standby_pid > 0 && v.running) {
			int r = spare_ready_logged(ctl, v.standby_pid);
			if (r < 0)
				return -1;
			if (r > 0)
				return 0;
		}
		if (interrupted)
			return -1;
		if (now_ns() > deadline) {
			fprintf(stderr, "%s: victim has no ready spare after %d ms (standby_pid %ld)\n",
				PROG, SPARE_TIMEOUT_MS, v.standby_pid);
			return -1;
		}
		sleep_us(POLL_US);
	}
}

/* ant_wait for up to timeout_ms, in slices so that Ctrl-C is seen (libant
 * waits on through EINTR); a slice ends as soon as the answer comes.
 * Returns what ant_wait does; -ETIMEDOUT also when interrupted. */
static int wait_answer(struct ant_conn *c, uint64_t ticket, struct ant_result *res,
		       int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	int r;
	do
		r = ant_wait(c, ticket, res, 50);
	while (r == -ETIMEDOUT && !interrupted && now_ns() < deadline);
	return r;
}

/*
 * Kill number i: make the victim hold a call it hangs on, kill it, and time
 * SIGKILL to the replayed answer reaching us.  Returns 0 with *lat_ns, or -1
 * after printing why.
 */
static int one_kill(struct stack_run *sr, int ctl, enum fo_mode mode, long i, uint64_t *lat_ns)
{
	if (mode == FO_WARM && wait_spare_ready(ctl) < 0)
		return -1;

	char arg[32];
	int arglen = snprintf(arg, sizeof(arg), "HANG %ld", i);
	struct ant_call call = { .server = "victim", .op = "echo", .arg = arg,
				 .arglen = (size_t)arglen };
	uint64_t ticket;
	int r = ant_call_async(sr->conn, &call, &ticket);
	if (r < 0) {
		fprintf(stderr, "%s: kill %ld: call failed: %s (%s)\n", PROG, i, ant_errname(r),
			ant_strerror(r));
		return -1;
	}
	/* Held: antd handed the call over (inflight 1).  Whether the victim read
	 * it yet or not, the kill makes antd replay it and the replay is answered. */
	struct victim v = { 0 };
	uint64_t deadline = now_ns() + (uint64_t)HOLD_TIMEOUT_MS * 1000000u;
	for (;;) {
		if (victim_status(ctl, &v) < 0)
			return -1;
		if (v.inflight == 1 && v.pid > 0)
			break;
		if (interrupted)
			return -1;
		if (now_ns() > deadline) {
			fprintf(stderr, "%s: kill %ld: the victim did not take the call within %d ms "
				"(pid %ld, inflight %ld)\n", PROG, i, HOLD_TIMEOUT_MS, v.pid, v.inflight);
			return -1;
		}
		sleep_us(POLL_US);
	}

	static struct ant_result res;   /* a whole page: keep it off the stack */
	uint64_t t0 = now_ns();
	if (kill((pid_t)v.pid, SIGKILL) < 0) {
		fprintf(stderr, "%s: kill %ld: kill %ld: %s\n", PROG, i, v.pid, strerror(errno));
		return -1;
	}
	r = wait_answer(sr->conn, ticket, &res, REPLY_TIMEOUT_MS);
	uint64_t t1 = now_ns();
	if (r == 0 && res.data)
		ant_ica_release(sr->conn, res.data);
	if (r < 0) {
		if (r == -ETIMEDOUT && !interrupted)
			fprintf(stderr, "%s: kill %ld: no answer within %d ms of the kill\n", PROG, i,
				REPLY_TIMEOUT_MS);
		else if (!interrupted)
			fprintf(stderr, "%s: kill %ld: waiting for the answer: %s (%s)\n", PROG, i,
				ant_errname(r), ant_strerror(r));
		return -1;
	}
	if (res.retval != 0) {
		fprintf(stderr, "%s: kill %ld: the call failed: %s (%.*s)\n", PROG, i,
			ant_errname(res.retval), (int)(res.len > 200 ? 200 : res.len),
			(const char *)res.bytes);
		return -1;
	}
	if (res.len != (size_t)arglen || memcmp(res.bytes, arg, (size_t)arglen) != 0) {
		fprintf(stderr, "%s: kill %ld: the answer (%zu bytes) is not the argument '%s'\n",
			PROG, i, res.len, arg);
		return -1;
	}
	*lat_ns = t1 - t0;
	return 0;
}

/* One stack, o->kills kills in mode.  Returns 0 with *res, or -1 (printed). */
static int run_failover(const struct opts *o, enum fo_mode mode, struct fo_result *res)
{
	uint64_t *lat = calloc((size_t)o->kills, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "%s: out of memory for %ld samples\n", PROG, o->kills);
		return -1;
	}
	struct stack_run sr = { .antd = 0 };
	int ok = 0, ctl = -1;
	if (stack_prepare(&sr) == 0 &&
	    write_failover_stack(&sr, mode, o->cpu, o->no_sandbox) == 0 &&
	    stack_launch(&sr, o, "victim") == 0 && (ctl = ctl_open(sr.dir)) >= 0) {
		/* One plain call first: the victim runs and answers.  antd takes
		 * apps before its servers are ready, so this waits for that too. */
		static struct ant_result r0;
		struct ant_call call = { .server = "victim", .op = "echo", .arg = "ping", .arglen = 4 };
		uint64_t ticket;
		int r = ant_call_async(sr.conn, &call, &ticket);
		if (r == 0)
			r = wait_answer(sr.conn, ticket, &r0, START_TIMEOUT_S * 1000);
		if (r == 0 && r0.data)
			ant_ica_release(sr.conn, r0.data);
		if (r == 0 && r0.retval == 0 && r0.len == 4 && memcmp(r0.bytes, "ping", 4) == 0)
			ok = 1;
		else if (!interrupted)
			fprintf(stderr, "%s: the victim does not answer%s: %s\n", PROG,
				r == -ETIMEDOUT ? " (is it starting at all?)" : "",
				r == -ETIMEDOUT ? "no answer within 10 s" : r < 0 ? ant_strerror(r) :
				r0.retval ? ant_strerror(r0.retval) : "wrong answer");
		for (long i = 0; ok && i < o->kills; i++)
			ok = !interrupted && one_kill(&sr, ctl, mode, i + 1, &lat[i]) == 0;
		struct victim v;
		if (ok && victim_status(ctl, &v) == 0) {
			res->restarts = v.restarts;
			res->failovers = v.failovers;
			res->replays = v.replays;
			/* Every kill a restart and a replay; warm: every one a failover. */
			res->counts_ok = v.restarts == o->kills && v.replays == o->kills &&
					 v.failovers == (mode == FO_WARM ? o->kills : 0);
			if (!res->counts_ok)
				fprintf(stderr, "%s: warning: %s: %ld kills, but antd counts %ld "
					"restarts, %ld failovers, %ld replays (expected %ld, %ld, %ld)\n",
					PROG, fo_labels[mode], o->kills, v.restarts, v.failovers,
					v.replays, o->kills, mode == FO_WARM ? o->kills : 0, o->kills);
		} else {
			ok = 0;
		}
		if (!ok && !interrupted)
			show_log(&sr);
	}
	if (ctl >= 0)
		close(ctl);
	if (stack_stop(&sr) < 0)
		ok = 0;
	if (ok) {
		uint64_t median, p99;
		median_p99(lat, (size_t)o->kills, &median, &p99);   /* sorts */
		res->ran = 1;
		res->median_ns = median;
		res->p99_ns = p99;
		res->max_ns = lat[o->kills - 1];
	}
	free(lat);
	return ok ? 0 : -1;
}

static int meets_targets(enum fo_mode mode, const struct fo_result *r)
{
	uint64_t median_us = mode == FO_WARM ? TARGET_WARM_MEDIAN_US : TARGET_COLD_MEDIAN_US;
	return r->median_ns <= median_us * 1000u && r->p99_ns <= TARGET_P99_US * 1000u;
}

static void print_failover_table(const struct opts *o, const struct fo_result *r)
{
	printf("ant-bench failover: %ld kills per mode; time from SIGKILL of the server holding "
	       "a call to its replayed answer reaching the app\n", o->kills);
	if (o->cpu >= 0)
		printf("  everything on CPU %ld (bench, antd, servers)\n", o->cpu);
	else
		printf("  processes placed by the kernel (--cpu N pins them all to one CPU)\n");
	if (o->busy_poll_us)
		printf("  antd busy-polls %ld us after each message (busy_poll_us)\n", o->busy_poll_us);
	printf("  the victim's sandbox: %s\n", o->no_sandbox ? "none" :
	       "default (antd judges its loader's calls at every start)");
	printf("  %-13s %11s %11s %11s %9s %9s %8s  %s\n", "", "median", "p99", "max",
	       "restarts", "failovers", "replays", "targets");
	for (int m = FO_COLD; m <= FO_WARM; m++) {
		if (!r[m].ran)
			continue;
		printf("  %-13s %8.1f us %8.1f us %8.1f us %9ld %9ld %8ld  %s%s\n", fo_labels[m],
		       r[m].median_ns / 1e3, r[m].p99_ns / 1e3, r[m].max_ns / 1e3, r[m].restarts,
		       r[m].failovers, r[m].replays, meets_targets(m, &r[m]) ? "met" : "MISSED",
		       r[m].counts_ok ? "" : " (counts differ from the kills)");
	}
	printf("  targets: median <= %d us cold, <= %d us warm; p99 <= %d us\n",
	       TARGET_COLD_MEDIAN_US, TARGET_WARM_MEDIAN_US, TARGET_P99_US);
}

/* Microseconds to 0.1 us. */
static json_t *us_json(uint64_t ns)
{
	return json_real((double)((ns + 50) / 100) / 10.0);
}

static int print_failover_json(const struct opts *o, const struct fo_result *r)
{
	json_t *root = json_pack("{s:s, s:I}", "benchmark", "failover", "kills",
				 (json_int_t)o->kills);
	if (!root)
		return -1;
	json_object_set_new(root, "cpu", o->cpu >= 0 ? json_integer(o->cpu) : json_null());
	json_object_set_new(root, "sandbox", json_string(o->no_sandbox ? "none" : "default"));
	for (int m = FO_COLD; m <= FO_WARM; m++) {
		if (!r[m].ran)
			continue;
		json_t *one = json_object();
		json_object_set_new(one, "median_us", us_json(r[m].median_ns));
		json_object_set_new(one, "p99_us", us_json(r[m].p99_ns));
		json_object_set_new(one, "max_us", us_json(r[m].max_ns));
		json_object_set_new(one, "meets_targets", json_boolean(meets_targets(m, &r[m])));
		json_object_set_new(one, "restarts", json_integer(r[m].restarts));
		json_object_set_new(one, "failovers", json_integer(r[m].failovers));
		json_object_set_new(one, "replays", json_integer(r[m].replays));
		json_object_set_new(one, "counts_match_kills", json_boolean(r[m].counts_ok));
		json_object_set_new(root, fo_names[m], one);
	}
	json_object_set_new(root, "targets", json_pack(
		"{s:i, s:i, s:i}", "cold_median_us", TARGET_COLD_MEDIAN_US,
		"warm_median_us", TARGET_WARM_MEDIAN_US, "p99_us", TARGET_P99_US));
	int ret = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
			     JSON_REAL_PRECISION(12));
	json_decref(root);
	if (ret == 0)
		putchar('\n');
	return ret;
}

static int failover_main(const struct opts *o)
{
	struct fo_result r[2];
	memset(r, 0, sizeof(r));
	int ok = 1;
	if (o->cold)
		ok = run_failover(o, FO_COLD, &r[FO_COLD]) == 0;
	if (ok && o->warm)
		ok = run_failover(o, FO_WARM, &r[FO_WARM]) == 0;
	if (interrupted)
		fprintf(stderr, "%s: interrupted\n", PROG);
	if (!ok)
		return 1;
	if (o->json)
		return print_failover_json(o, r) == 0 ? 0 : 1;
	print_failover_table(o, r);
	return 0;
}

/* ---- command line ----------------------------------------------------------- */

/* After getopt_long said '?': name the bad option and exit 2. */
static void __attribute__((noreturn)) bad_option(char **argv)
{
	/* A long option: optind has moved past it; optopt is set only when it
	 * is known but lacks its value. */
	const char *bad = argv[optind - 1];
	if (strncmp(bad, "--", 2) == 0 && optopt)
		tool_usage_error(PROG, "option '%s' needs a value", bad);
	if (strncmp(bad, "--", 2) == 0 || !optopt)
		tool_usage_error(PROG, "unknown option '%s'", bad);
	tool_usage_error(PROG, "unknown option '-%c'", optopt);
}

/* The options every command takes: --json, --antd, --server-path, --cpu. */
static void common_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'j': o->json = 1; break;
	case 'a': o->antd = optarg; break;
	case 's': o->server_path = optarg; break;
	case 'c':
		if (tool_parse_long(optarg, 0, CPU_SETSIZE - 1, &o->cpu) < 0)
			tool_usage_error(PROG, "--cpu: expected a CPU number, got '%s'", optarg);
		break;
	}
}

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
		{ "busy-poll", required_argument, NULL, 'b' },
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
		case 'j': case 'a': case 's': case 'c':
			common_option(ch, o);
			break;
		case 'b':
			if (tool_parse_long(optarg, 0, 10000, &o->busy_poll_us) < 0)
				tool_usage_error(PROG, "--busy-poll: expected 0 to 10000 us, got '%s'", optarg);
			break;
		case 'h': usage_chain(stdout); exit(0);
		default: bad_option(argv);
		}
	}
	if (optind < argc)
		tool_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
}

static void parse_failover(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "kills", required_argument, NULL, 'k' },
		{ "standby", no_argument, NULL, 'S' },
		{ "both", no_argument, NULL, 'B' },
		{ "sandbox", required_argument, NULL, 'X' },
		{ "json", no_argument, NULL, 'j' },
		{ "antd", required_argument, NULL, 'a' },
		{ "server-path", required_argument, NULL, 's' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, standby = 0, both = 0;
	opterr = 0;
	/* argv[0] is the command, "failover". */
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (tool_parse_long(optarg, 1, KILLS_MAX, &o->kills) < 0)
				tool_usage_error(PROG, "--kills: expected 1 to %ld, got '%s'",
						 KILLS_MAX, optarg);
			break;
		case 'S': standby = 1; break;
		case 'B': both = 1; break;
		case 'X':
			if (strcmp(optarg, "default") != 0 && strcmp(optarg, "none") != 0)
				tool_usage_error(PROG, "--sandbox: expected default or none, got '%s'",
						 optarg);
			o->no_sandbox = strcmp(optarg, "none") == 0;
			break;
		case 'j': case 'a': case 's': case 'c':
			common_option(ch, o);
			break;
		case 'h': usage_failover(stdout); exit(0);
		default: bad_option(argv);
		}
	}
	if (optind < argc)
		tool_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	/* --both covers --standby. */
	o->cold = both || !standby;
	o->warm = both || standby;
}

static int chain_main(const struct opts *op);

int main(int argc, char **argv)
{
	struct opts o = { .depth = 3, .iterations = 20000, .warmup = 1000, .ret = RET_DIRECT,
			  .cpu = -1, .kills = 200 };
	if (argc < 2)
		tool_usage_error(PROG, "expected a command (chain or failover)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (argv[1][0] == '-')
		tool_usage_error(PROG, "unknown option '%s' (the command, chain or failover, "
				 "comes first)", argv[1]);
	int failover = strcmp(argv[1], "failover") == 0;
	if (!failover && strcmp(argv[1], "chain") != 0)
		tool_usage_error(PROG, "unknown command '%s' (known: chain, failover)", argv[1]);
	if (failover)
		parse_failover(argc - 1, argv + 1, &o);
	else
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

	return failover ? failover_main(&o) : chain_main(&o);
}

static int chain_main(const struct opts *op)
{
	struct opts o = *op;
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
