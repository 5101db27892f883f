/* bench.h - what ant-bench's commands share: options, clocks, the private stack, statistics. */
#ifndef ANT_BENCH_H
#define ANT_BENCH_H

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
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

/* The command line of every command; each reads the fields it has options for. */
struct opts {
	/* every command */
	int json;
	const char *antd;           /* NULL: next to this binary, else $PATH */
	const char *server_path;    /* NULL: next to this binary */
	long cpu;                   /* -1, or the one CPU for the bench, the floor and the stack */
	long busy_poll_us;          /* the stack's busy_poll_us (0: antd sleeps at once) */
	/* chain */
	long depth, iterations, warmup;
	enum ret_mode ret;
	long churn;                 /* bystander servers restarted during a second timed run */
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

extern const struct bench_command bench_chain, bench_failover;

/* Set by SIGINT/SIGTERM/SIGHUP; the loops stop at the next call and clean up. */
extern volatile sig_atomic_t bench_interrupted;

/* The long options every command takes, to close its table with. */
#define BENCH_COMMON_OPTS                                      \
	{ "json", no_argument, NULL, 'j' },                    \
	{ "antd", required_argument, NULL, 'a' },              \
	{ "server-path", required_argument, NULL, 's' },       \
	{ "cpu", required_argument, NULL, 'c' },               \
	TOOL_OPT_HELP,                                         \
	TOOL_OPT_VERSION,                                      \
	TOOL_OPT_END

/* ---- clocks (ant-bench.c) ---- */

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

#endif
