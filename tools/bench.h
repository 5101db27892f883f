/* bench.h - what ant-bench's commands share: options, clocks, the private stack, statistics. */
#ifndef ANT_BENCH_H
#define ANT_BENCH_H

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#include "ant/ant.h"
#include "ctl_client.h"
#include "launcher.h"

#define PROG            "ant-bench"
#define START_TIMEOUT_S 10
#define STOP_TIMEOUT_S  5       /* antd itself gives its servers 3 s */
#define CTL_TIMEOUT_MS  2000    /* antd answers a control request within this */

enum ret_mode { RET_SEQUENTIAL, RET_DIRECT, RET_BOTH };
/* Progress on stderr: when it is a terminal, never (--quiet), always (--progress). */
enum progress_when { PROGRESS_AUTO, PROGRESS_NEVER, PROGRESS_ALWAYS };

/* The command line of every command; each reads the fields it has options for. */
struct opts {
	/* every command */
	int json;
	const char *antd;           /* NULL: next to this binary, else $PATH */
	const char *server_path;    /* NULL: next to this binary */
	long cpu;                   /* -1, or the one CPU for the bench, the floor and the stack */
	long busy_poll_us;          /* the stack's busy_poll_us (0: antd sleeps at once) */
	int fast_path;              /* the stack's "fast_path" (docs/fastpath.md) */
	long lane_spin_us;          /* the stack's lane_spin_us */
	enum progress_when progress;    /* --quiet, --progress: the last one given */
	/* chain */
	long depth, iterations, warmup;
	enum ret_mode ret;
	long churn;                 /* bystander servers restarted during a second timed run */
	int trace;                  /* --trace: then trace more calls with eBPF (bench_trace.h) */
	/* failover */
	long kills;                 /* kills per mode */
	int cold, warm;             /* the modes to run */
	int no_sandbox;             /* the victim runs with "sandbox": "none" */
};

/* One command: its name, help, own options, and what runs it. */
struct bench_command {
	const char *name;
	void (*usage)(FILE *f);
	const struct option *opts;  /* its own and the common ones (bench_common_option) */
	/* Take option ch (optarg); exits 2 on a bad value. */
	void (*option)(int ch, struct opts *o);
	/* After the last option: settle what the options imply. */
	void (*finish)(struct opts *o);
	int (*run)(const struct opts *o);   /* the exit status */
};

extern const struct bench_command bench_chain, bench_failover, bench_upgrade, bench_floors,
	bench_data, bench_load, bench_all, bench_lanes;

/* Set by SIGINT/SIGTERM/SIGHUP; the loops stop at the next call and clean up. */
extern volatile sig_atomic_t bench_interrupted;

/* The long options of a command that starts no stack (no --antd nor
 * --server-path), to close its table with. */
#define BENCH_NOSTACK_OPTS                                     \
	{ "json", no_argument, NULL, 'j' },                    \
	{ "cpu", required_argument, NULL, 'c' },               \
	{ "quiet", no_argument, NULL, 'q' },                   \
	{ "progress", no_argument, NULL, 'P' },                \
	TOOL_OPT_HELP,                                         \
	TOOL_OPT_VERSION,                                      \
	TOOL_OPT_END

/* The long options every command that starts a stack takes, to close its
 * table with. */
#define BENCH_COMMON_OPTS                                      \
	{ "antd", required_argument, NULL, 'a' },              \
	{ "fast-path", no_argument, NULL, 'F' },               \
	{ "lane-spin", required_argument, NULL, 'L' },         \
	{ "server-path", required_argument, NULL, 's' },       \
	BENCH_NOSTACK_OPTS

/* Print the help of the options every command takes for how it talks to
 * the operator (--quiet, --progress). */
void bench_usage_progress(FILE *f);
/* The same for --fast-path and --lane-spin, which every command that starts
 * a stack takes. */
void bench_usage_fast_path(FILE *f);

/* An option's whole number in [min, max] (optarg), or exit 2 saying so:
 * "--name: expected MIN to MAX[what], got 'X'". */
long bench_opt_long(const char *name, long min, long max, const char *what);
/* An option's comma-separated list (optarg) of at most max items, each
 * parsed by parse (< 0: not one), into out; the count.  Exits 2 naming the
 * option and the item (what says what an item should be) on a bad one, an
 * empty list or too many. */
size_t bench_opt_list(const char *name, long long (*parse)(const char *item), long long *out,
		      size_t max, const char *what);
/* A chain of relays relay1 -> ... -> relayN for a stack file's "servers":
 * each but the last calls the next and passes results back as mode says
 * ("sequential", "direct" or "caller"), each with the extra argument arg
 * (or none: NULL).  A new array, or NULL. */
json_t *bench_relay_chain(long depth, const char *mode, const char *arg);

/* ---- clocks (bench_stats.c: ant-bench and bench-peers both link it) ---- */

uint64_t bench_now_ns(void);
void bench_sleep_us(long us);

static inline uint64_t bench_tsc(void)
{
#if HAVE_TSC
	return __rdtsc();
#else
	return 0;
#endif
}

/* ---- the private stack (bench_stack.c) ---- */

struct bench_stack {
	struct launcher run;        /* run folder, stack file, antd */
	struct ant_conn *conn;      /* this program's connection, once started */
	enum progress_when progress;    /* private: o's, for bench_stack_stop */
};

/*
 * Make a run folder under /tmp, write stack (not consumed) into it, start
 * the antd of o (--antd, --server-path) on it, wait until every server runs,
 * connect, and check the stack has server first.  Returns 0, or -1 after
 * printing why; bench_stack_stop cleans up either way.
 */
int bench_stack_start(struct bench_stack *s, const struct opts *o, const json_t *stack,
		      const char *first);
/* Close the connection, stop antd, remove the run folder.  Returns 0, or -1
 * (printed) if antd did not end cleanly.  Safe after a partial start. */
int bench_stack_stop(struct bench_stack *s);
/* End a command's run on s: if it failed (ok 0) and was not interrupted,
 * show antd's log; say so if interrupted; stop the stack.  Returns ok, or
 * 0 if antd did not end cleanly. */
int bench_stack_end(struct bench_stack *s, int ok);
/* Show antd's log on stderr (once): the reason a stack failed is in there. */
void bench_stack_show_log(struct bench_stack *s);
/* The stack file's frame: {"name": name, "servers": servers (consumed),
 * "apps": {"calls": [app_calls]}}, with o's cpu_affinity and busy_poll_us. */
json_t *bench_stack_json(const char *name, json_t *servers, const char *app_calls,
			 const struct opts *o);

/* Open a control connection to s's antd (ctl_close closes it).  Returns 0,
 * or -1 after printing why. */
int bench_ctl_open(struct ctl_conn *c, const struct bench_stack *s);
/* One request (consumed) over c: antd's reply, a new object that says
 * "ok": true; or NULL after printing why (silently when interrupted). */
json_t *bench_ctl_ask(struct ctl_conn *c, json_t *req);

/* antd's own wake-ups, from status's "loop": how long it was busy. */
struct antd_loop {
	uint64_t wakeups, over_1ms, over_10ms, busy_max_us;
};
/* Read them now.  Returns 0, or -1 (printed). */
int bench_antd_loop(const struct bench_stack *s, struct antd_loop *out);

/* ---- churn (bench_churn.c) ---- */

/* Bystanders restarted over the control socket by a thread of their own. */
struct churn {
	const char *run_dir;        /* ro: the stack's */
	long servers;               /* ro: churn1 .. churnN */
	pthread_t thread;           /* private */
	int running;                /* private: the thread was started and not joined */
	atomic_int stop;            /* private: set by churn_stop */
	atomic_int requested;       /* private: the first restart was asked for (or it failed) */
	atomic_int failed;          /* private: the thread gave up (printed why) */
	atomic_long restarts;       /* private: restarts done: asked for and running again */
	const char *exec_path;      /* ro: set: start this binary instead (the floor) */
	double rate;                /* ro: ... this many a second (0: as fast as it goes) */
};

/* The stack file's entries for n bystanders churn1..churnN: the echo
 * server, default sandbox, no spare.  A new array, or NULL. */
json_t *churn_servers(long n);
/* Start the thread and return once it has asked for its first restart, so
 * that what follows is timed under churn.  Returns 0, or -1 (printed);
 * churn_stop must follow either way. */
int churn_start(struct churn *c, const char *run_dir, long servers);
/* The floor of churn: the same kind of process started and ended at rate a
 * second (0: as fast as it goes), outside antd (exec_path --help, output to
 * /dev/null), so that what the machine's process creation costs the chain
 * is measured apart from what antd adds.  Like churn_start. */
int churn_start_outside(struct churn *c, const char *exec_path, double rate);
/* Let the restart under way finish, stop the thread.  Returns the restarts
 * (or processes) done since the start, or -1 if the thread failed (printed)
 * or never ran. */
long churn_stop(struct churn *c);
/* The echo server the bystanders run, for churn_start_outside. */
const char *churn_echo_path(const struct opts *o);

/* exec_path --help with its output to /dev/null: the process that the
 * floors of churn and of a cold restart start again and again. */
struct bench_spawn {
	posix_spawn_file_actions_t fa;  /* private */
	char *argv[3];                  /* private */
};
/* Prepare s for exec_path (not copied: it must outlive s).  Returns 0, or
 * an errno; bench_spawn_fini must follow a success. */
int bench_spawn_init(struct bench_spawn *s, const char *exec_path);
/* Start one process; the caller waits for *pid.  Returns 0, or an errno. */
int bench_spawn_start(struct bench_spawn *s, pid_t *pid);
void bench_spawn_fini(struct bench_spawn *s);

/* ---- statistics and output (bench_stats.c) ---- */

struct stats {
	uint64_t median_ns, p99_ns, median_tsc, p99_tsc;
};

/* Median (mean of the middle two) and nearest-rank p99 of n > 0 values; sorts v. */
void bench_median_p99(uint64_t *v, size_t n, uint64_t *median, uint64_t *p99);
/* Both of the samples ns and tsc (sorted). */
struct stats bench_stats(uint64_t *ns, uint64_t *tsc, size_t n);
/* 149600 -> "149,600" */
const char *bench_grouped(uint64_t v, char *buf, size_t len);
/* {"median_ns", "p99_ns", "median_tsc", "p99_tsc"} of s, and "ratio_to_floor"
 * (its median over floor_ns) if floor_ns > 0. */
json_t *bench_stats_json(const struct stats *s, uint64_t floor_ns);
/* Microseconds rounded to 0.1 us. */
json_t *bench_us_json(uint64_t ns);
/* Print root (consumed) on stdout, indented, keys in order; 0 or -1. */
int bench_print_json(json_t *root, int precision);
/* "  everything on CPU N (who)" or where the kernel put them, and busy-polling. */
void bench_print_placement(const struct opts *o, const char *who);

/*
 * A long step's progress on stderr, for the operator waiting on it: on a
 * terminal one line rewritten in place ("ant-bench: failover warm: 120/300
 * kills, 14 s") at most 10 times a second and cleared at the end; with
 * --progress on anything else, one line per tenth of the way; with
 * --quiet, or stderr not a terminal and no --progress, nothing.  stdout
 * (the table, --json) is never touched.
 */
struct progress {
	int style;                  /* private: 0 off, 1 in place, 2 a line per tenth */
	const char *what, *unit;    /* private: "failover warm", "kills" */
	long total;                 /* private: 0: a step without a count */
	uint64_t t0, next_ns;       /* private: its start, the next update in place */
	long next_tenth;            /* private: the next line of style 2 */
	int shown;                  /* private: a line in place is up */
};
/* Start one: what (not copied) has done of total units (total 0: a step
 * that only says it is under way, as "starting antd").  Shows it at once. */
void progress_begin(struct progress *p, enum progress_when when, const char *what,
		    const char *unit, long total);
/* done units by now_ns (a time the caller has anyway: a timed loop passes
 * the end of the interval it just took, so progress reads no clock and
 * writes only between intervals).  Cheap when there is nothing to show. */
void progress_at(struct progress *p, long done, uint64_t now_ns);
/* Clear the line in place, if any; p may be ended twice. */
void progress_end(struct progress *p);

/* ---- floors and peers (bench_floor.c, bench_peers.c) ---- */

/*
 * What this machine's own IPC costs (the floors) and what users would pick
 * instead of ant (the peers: D-Bus, ZeroMQ), for `ant-bench floors` and any
 * other command that wants them beside its own figures.
 *
 * Every bench_floor_* and bench_peer_* below is self-contained: it starts
 * what it needs (child processes, a private dbus-daemon, a folder under
 * /tmp), and before it returns it has killed and reaped every process it
 * started, closed every fd it opened, unmapped what it mapped and removed
 * its folder, whatever the outcome.  It never prints and never exits; it
 * changes no signal disposition of this process (libdbus is told to leave
 * SIGPIPE alone).  Children die with the thread that forked them
 * (PR_SET_PDEATHSIG): call these from a thread that outlives the call.
 * Ctrl-C (bench_interrupted) ends one before its next sample, failed,
 * why "interrupted".
 */

#define BENCH_ECHO_SIZE  64     /* bytes of a round trip's argument, echoed back */
#define BENCH_WAIT_MS    5000   /* a child is ready, a reply comes, within this */

/* One measurement, or why there is none. */
struct bench_measure {
	int ok;             /* 1: s holds the figures of samples timed intervals */
	int failed;         /* ok 0: 1 if it went wrong (a wrong or missing reply, a
			     * system call failed, interrupted: an error); 0 if it
			     * cannot be had here (not built in, no dbus-daemon, no
			     * pidfd: "not available") */
	long samples;
	struct stats s;
	char why[160];      /* ok 0: why not, without "not available: " */
};

/* Round trips of one byte: a forked child reads it from one pipe and writes
 * it back on another.  n timed (n > 0) after warmup untimed. */
void bench_floor_pipe(long n, long warmup, struct bench_measure *m);
/* Round trips of BENCH_ECHO_SIZE bytes over a SOCK_SEQPACKET socketpair to
 * a forked echo child (the floor of ant-bench chain). */
void bench_floor_seqpacket(long n, long warmup, struct bench_measure *m);
/* Round trips of BENCH_ECHO_SIZE bytes through a MAP_SHARED page: copied
 * in, a futex word bumped and woken (FUTEX_WAKE, shared: not _PRIVATE),
 * the forked child copies them to the reply area and bumps and wakes the
 * other word, on which the caller sleeps (FUTEX_WAIT).  No spinning, and
 * a wake every time even if nobody sleeps: a floor, not a fast lock. */
void bench_floor_futex(long n, long warmup, struct bench_measure *m);
/* SIGKILL of an idle static child (bench-static-child --pause, asleep in
 * pause(), seen in /proc) until its pidfd (pidfd_open, Linux 5.3) polls
 * readable: the death a supervisor must notice.  Its start, the pidfd and
 * the reaping are outside the timed interval.  A small static binary (as
 * small as antd's servers, which link only libc) rather than a fork of this
 * program: its death then costs the same whatever this program links (a fork of a program with libzmq's and
 * libdbus's 30 libraries mapped took 1.7 times as long to die here).  One
 * untimed kill first, then n timed. */
void bench_floor_kill(long n, struct bench_measure *m);
/* posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) + execve) of the static
 * child, bench-static-child, until its first byte is read from a pipe (its
 * fd 3): the least a cold start costs.  The pipe is made and the child
 * reaped outside the timed interval.  One untimed spawn first, then n
 * timed.  Both this and bench_floor_kill look for the child next to this
 * program (the build folder), then in ANT_LIBEXECDIR; not available if in
 * neither. */
void bench_floor_spawn(long n, struct bench_measure *m);
/*
 * The peers are timed by a helper program, bench-peers (bench_peers.c),
 * found as bench-static-child is, so that ant-bench links neither libdbus
 * nor libzmq: their 30 libraries would triple ant-bench's start and slow a
 * forked child's death, both timed as floors by other commands.  The
 * helper runs as a child of this one (dies with it; on Ctrl-C it gets
 * SIGTERM and cleans up) and hands back its figures on a pipe; its clock
 * and TSC are this machine's, as ours.  Not available if it is missing.
 */
/* D-Bus method calls (argument and reply: one "ay" of BENCH_ECHO_SIZE
 * bytes) with dbus_connection_send_with_reply_and_block, through a private
 * dbus-daemon (a config of its own in a temp folder) to a forked child that
 * owns a name and answers with the same bytes.  The timed interval holds
 * building the call, the bus's two hops and reading the reply.  Not
 * available if built without libdbus-1 or if the daemon does not start. */
void bench_peer_dbus(long n, long warmup, struct bench_measure *m);
/* ZeroMQ REQ/REP round trips of BENCH_ECHO_SIZE bytes over ipc:// in a temp
 * folder; a forked child's REP socket echoes.  Not available if built
 * without libzmq. */
void bench_peer_zeromq(long n, long warmup, struct bench_measure *m);

/* {"available": true, "samples", "median_ns", "p99_ns", "median_tsc",
 * "p99_tsc"} and ratio_key: m's median over ref_ns (if ref_ns > 0); or
 * {"available": false, "why"}.  A new object, or NULL. */
json_t *bench_measure_json(const struct bench_measure *m, uint64_t ref_ns, const char *ratio_key);

/* What the floors and the peers share (bench_floor.c, linked by ant-bench
 * and by bench-peers). */

/* Set m to not available (failed 0) or failed (1), why from fmt. */
void bench_measure_fail(struct bench_measure *m, int failed, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One round trip: send arg (size bytes), fill reply with what comes back.
 * Returns 0, or -1 with m failed (bench_measure_fail). */
typedef int bench_echo_fn(void *ctx, const unsigned char *arg, unsigned char *reply,
			  size_t size, struct bench_measure *m);
/* warmup untimed then n timed calls of echo with arguments of size bytes
 * (1 to BENCH_ECHO_SIZE) that differ from one call to the next, each reply
 * checked; fills m either way. */
void bench_time_echo(long n, long warmup, size_t size, bench_echo_fn *echo, void *ctx,
		     struct bench_measure *m);
/* fork for a floor or a peer.  In the child (0): SIGINT ignored (the
 * parent handles Ctrl-C and kills it), SIGTERM and SIGHUP default, killed
 * when the forking thread ends; it must end with _exit.  In the parent: its
 * pid, or -1 with m failed. */
pid_t bench_fork_child(struct bench_measure *m);
/* SIGKILL pid (if > 0) and reap it. */
void bench_kill_child(pid_t pid);
/* Wait for a child's "ok" line on fd, which it writes once it is ready, or
 * its error instead if it cannot start.  Returns 0, or -1 with m: not
 * available if the child said why (who: its error), failed if it ended or
 * said nothing within BENCH_WAIT_MS. */
int bench_child_ready(int fd, const char *who, struct bench_measure *m);
/* Read one line (a child's "ok", its error, dbus-daemon's address) from fd
 * within timeout_ms, without its newline, into buf (len > 1).  Returns its
 * length; 0 if fd reached EOF first with nothing read; -1 with errno
 * (ETIMEDOUT; EINTR when bench_interrupted). */
ssize_t bench_read_line(int fd, int timeout_ms, char *buf, size_t len);

#endif
