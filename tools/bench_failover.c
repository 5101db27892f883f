/* bench_failover.c - ant-bench failover: kill the server holding a call, time the replayed answer against the targets and a floor of the same run. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "tool_common.h"

/* failover: the supervision issue's targets, in microseconds. */
#define TARGET_COLD_MEDIAN_US 3000
#define TARGET_WARM_MEDIAN_US 500
#define TARGET_P99_US         10000
#define KILLS_MAX        100000L
#define HOLD_TIMEOUT_MS  2000    /* the victim holds the hanging call within this */
#define SPARE_TIMEOUT_MS 5000    /* a new spare is ready within this */
#define REPLY_TIMEOUT_MS 5000    /* the replayed answer comes within this */
#define POLL_US          100     /* between two looks at antd's status */

static void failover_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench failover [OPTIONS]\n"
		"Start a private stack with one echo server, victim, and kill it again and\n"
		"again while it holds a call: each time the app makes an async call that\n"
		"makes the victim hang, waits until antd says the victim holds it, sends the\n"
		"victim SIGKILL and waits for the replayed answer.  The time from the kill\n"
		"to the answer reaching the app is timed: median, p99 and max, in\n"
		"microseconds, beside the supervision targets (median at most %d us with\n"
		"a cold restart and %d us with a warm standby, p99 at most %d us) and a\n"
		"floor timed in the same run, one sample before each kill: for a cold\n"
		"restart, fork+exec+exit of the same echo binary (echo --help, no antd);\n"
		"for a warm standby, SIGKILL of an idle child until it is reaped.  The\n"
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
		"                     kernel places them\n",
		TARGET_COLD_MEDIAN_US, TARGET_WARM_MEDIAN_US, TARGET_P99_US);
	bench_usage_fast_path(f);
	bench_usage_progress(f);
	fprintf(f,
		"  --help             this text\n"
		"\n"
		"Reading a target's line: each mode's median and p99 are set against their\n"
		"target and against the same statistic of the mode's floor, e.g.\n"
		"  cold restart median 8.4 ms MISSED target 3.0 ms: 4.9x floor\n"
		"  (fork+exec+exit of echo: median 1.7 ms in this run; the target is 1.8x\n"
		"  it; at 4.9x it holds only where that floor is <= 612 us)\n"
		"The median missed 3 ms.  It took 4.9 times what starting and ending the same\n"
		"binary took on this machine during the run; the target leaves 1.8 times that\n"
		"floor here.  The same ratio would meet the target on a machine whose floor\n"
		"is at most 612 us.  A target that leaves little over 1x the floor says the\n"
		"machine is too slow for it; a ratio far above what the target leaves says\n"
		"the time goes to what antd adds (noticing the death, the sandbox, the start,\n"
		"the replay).  A target below 1x its floor (\"below the floor: out of reach\n"
		"here\") cannot be met on this machine as loaded during the run, however\n"
		"little antd adds.  The floor is timed between the kills, so a busy machine\n"
		"slows both alike: on a noisy machine, compare the ratios rather than the\n"
		"times.  --json has the same under each mode's \"target_results\" (value_us,\n"
		"target_us, met, floor, floor_us, ratio_to_floor, target_ratio_to_floor,\n"
		"floor_needed_us).\n"
		"\n"
		"Missing a target is reported, not an error.  Exit status: 0 on success; 1\n"
		"if the stack failed, an answer was wrong or did not come; 2 on bad usage.\n");
}

enum fo_mode { FO_COLD, FO_WARM };
static const char *const fo_names[] = { "cold", "warm" };
static const char *const fo_labels[] = { "cold restart", "warm standby" };
/* What each mode cannot do without, timed in the same run. */
static const char *const fo_floors[] = { "fork+exec+exit of echo", "SIGKILL to pidfd readable of a child" };

struct fo_result {
	int ran;
	uint64_t median_ns, p99_ns, max_ns;
	uint64_t floor_median_ns, floor_p99_ns;
	long restarts, failovers, replays;  /* victim's counters at the end */
	int counts_ok;                      /* they say every kill went as the mode says */
};

/*
 * One server, victim: echo that hangs on any argument holding HANG when it is
 * handed over the first time (a fault armed once it runs, arm_victim: antd's
 * replay of it, flagged ANT_CF_REPLAY, is answered).  Restarted at once and without limit
 * (intensity: at most 1000, antd's maximum, in 1 ms, its shortest period: a
 * restart takes longer than that), the call replayed every time
 * (poison_kills 1000), with or without a warm spare.  Its sandbox is the
 * default one, as every example server's: a start costs what it costs every
 * server, antd judging its loader's calls.
 */
static json_t *failover_stack(enum fo_mode mode, const struct opts *o)
{
	json_t *sandbox = json_string(o->no_sandbox ? "none" : "default");
	json_t *sup = json_pack("{s:{s:i, s:f}, s:{s:i, s:i, s:i, s:i}, s:i, s:i}",
				"intensity", "max_restarts", 1000, "period_s", 0.001,
				"backoff", "initial_ms", 0, "base_ms", 0, "cap_ms", 0, "jitter", 0,
				"poison_kills", 1000, "standby", mode == FO_WARM ? 1 : 0);
	/* "o" takes both references, even if it fails. */
	json_t *servers = json_pack("[{s:s, s:s, s:o, s:o}]", "name", "victim", "exec", "echo",
				    "supervision", sup, "sandbox", sandbox);
	return servers ? bench_stack_json("ant-bench-failover", servers, "victim", o) : NULL;
}

/* antctl inject victim hang --match HANG --fresh --count 0: it holds every
 * call whose argument says HANG, the first time.  Returns 0 or -1. */
static int arm_victim(struct ctl_conn *ctl)
{
	json_t *rep = bench_ctl_ask(ctl, json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "cmd",
						   "inject", "server", "victim", "fault", "hang",
						   "match", "HANG", "fresh", 1, "count", 0));
	json_decref(rep);
	return rep ? 0 : -1;
}

/* What antd's status says about victim. */
struct victim {
	long pid, inflight, standby_pid, restarts, replays, failovers;
	int running, standby_ready;
};

static long int_of(json_t *o, const char *key)
{
	return (long)json_integer_value(json_object_get(o, key));   /* 0 if absent */
}

/* Returns 0, or -1 after printing why. */
static int victim_status(struct ctl_conn *ctl, struct victim *v)
{
	json_t *st = bench_ctl_ask(ctl, json_pack("{s:s}", "cmd", "status"));
	if (!st)
		return -1;
	json_t *s = ctl_status_server(st, "victim");
	if (s) {
		const char *state = json_string_value(json_object_get(s, "state"));
		*v = (struct victim){
			.pid = int_of(s, "pid"), .inflight = int_of(s, "inflight"),
			.standby_pid = int_of(s, "standby_pid"), .restarts = int_of(s, "restarts"),
			.replays = int_of(s, "replays"), .failovers = int_of(s, "failovers"),
			.running = state && strcmp(state, "running") == 0,
			.standby_ready = json_is_true(json_object_get(s, "standby_ready")),
		};
	}
	json_decref(st);
	if (!s)
		fprintf(stderr, "%s: antd's status lists no server victim\n", PROG);
	return s ? 0 : -1;
}

/*
 * Wait until the victim has a ready spare, so that the next kill is a
 * failover and not a cold restart.  The status shows standby_pid from the
 * spare's fork on, well before it is ready (exec, connect, NEXT), and
 * standby_ready once the spare has asked for work, which is exactly when
 * antd will fail over to it.  Not antd's "spare-ready" log line: it can
 * come before antd knows the spare's pid (the forker's answer comes after
 * the spare's first message) and then names pid 0.  Returns 0, or -1 after
 * printing why.
 */
static int wait_spare_ready(struct ctl_conn *ctl)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)SPARE_TIMEOUT_MS * 1000000u;
	struct victim v = { 0 };
	for (;;) {
		if (victim_status(ctl, &v) < 0)
			return -1;
		if (v.standby_pid > 0 && v.standby_ready && v.running)
			return 0;
		if (bench_interrupted)
			return -1;
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "%s: victim has no ready spare after %d ms (standby_pid %ld)\n",
				PROG, SPARE_TIMEOUT_MS, v.standby_pid);
			return -1;
		}
		bench_sleep_us(POLL_US);
	}
}

/* ant_wait for up to timeout_ms, in slices so that Ctrl-C is seen (libant
 * waits on through EINTR); a slice ends as soon as the answer comes.
 * Returns what ant_wait does; -ETIMEDOUT also when bench_interrupted. */
static int wait_answer(struct ant_conn *c, uint64_t ticket, struct ant_result *res,
		       int timeout_ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int r;
	do
		r = ant_wait(c, ticket, res, 50);
	while (r == -ETIMEDOUT && !bench_interrupted && bench_now_ns() < deadline);
	return r;
}

/* waitpid through EINTR: the child is on its way out, Ctrl-C or not. */
static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/*
 * The floor of a warm failover: SIGKILL of an idle child until its pidfd is
 * readable, the death antd must notice before it hands the call to the
 * spare (bench_floor_kill: a small static child, as the servers are, so
 * that what this program links does not weigh on its death).  Returns 0
 * with *ns, or -1 after printing why.
 */
static int kill_floor(uint64_t *ns)
{
	struct bench_measure m;
	memset(&m, 0, sizeof(m));
	bench_floor_kill(1, &m);
	if (!m.ok) {
		if (!bench_interrupted)
			fprintf(stderr, "%s: floor: %s\n", PROG, m.why);
		return -1;
	}
	*ns = m.s.median_ns;
	return 0;
}

/* The floor of a cold restart: sp's binary started, run and reaped.
 * Returns 0 with *ns, or -1 after printing why. */
static int spawn_floor(struct bench_spawn *sp, uint64_t *ns)
{
	pid_t pid;
	uint64_t t0 = bench_now_ns();
	int r = bench_spawn_start(sp, &pid);
	if (r == 0)
		reap(pid);
	*ns = bench_now_ns() - t0;
	if (r != 0)
		fprintf(stderr, "%s: floor: %s: %s\n", PROG, sp->argv[0], strerror(r));
	return r == 0 ? 0 : -1;
}

/*
 * Kill number i: make the victim hold a call it hangs on, kill it, and time
 * SIGKILL to the replayed answer reaching us; before that, with the stack
 * at rest, one sample of mode's floor (sp: cold's binary).  Returns 0 with
 * *lat_ns and *floor_ns, or -1 after printing why.
 */
static int one_kill(struct bench_stack *sr, struct ctl_conn *ctl, enum fo_mode mode,
		    struct bench_spawn *sp, long i, uint64_t *lat_ns, uint64_t *floor_ns)
{
	if (mode == FO_WARM && wait_spare_ready(ctl) < 0)
		return -1;
	if ((mode == FO_WARM ? kill_floor(floor_ns) : spawn_floor(sp, floor_ns)) < 0)
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
	uint64_t deadline = bench_now_ns() + (uint64_t)HOLD_TIMEOUT_MS * 1000000u;
	for (;;) {
		if (victim_status(ctl, &v) < 0)
			return -1;
		if (v.inflight == 1 && v.pid > 0)
			break;
		if (bench_interrupted)
			return -1;
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "%s: kill %ld: the victim did not take the call within %d ms "
				"(pid %ld, inflight %ld)\n", PROG, i, HOLD_TIMEOUT_MS, v.pid, v.inflight);
			return -1;
		}
		bench_sleep_us(POLL_US);
	}

	static struct ant_result res;   /* a whole page: keep it off the stack */
	uint64_t t0 = bench_now_ns();
	if (kill((pid_t)v.pid, SIGKILL) < 0) {
		fprintf(stderr, "%s: kill %ld: kill %ld: %s\n", PROG, i, v.pid, strerror(errno));
		return -1;
	}
	r = wait_answer(sr->conn, ticket, &res, REPLY_TIMEOUT_MS);
	uint64_t t1 = bench_now_ns();
	if (r == 0 && res.data)
		ant_ica_release(sr->conn, res.data);
	if (r < 0) {
		if (r == -ETIMEDOUT && !bench_interrupted)
			fprintf(stderr, "%s: kill %ld: no answer within %d ms of the kill\n", PROG, i,
				REPLY_TIMEOUT_MS);
		else if (!bench_interrupted)
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

/* One plain call first: the victim runs and answers.  Returns 0, or -1
 * after printing why. */
static int victim_answers(struct bench_stack *sr)
{
	static struct ant_result r0;
	struct ant_call call = { .server = "victim", .op = "echo", .arg = "ping", .arglen = 4 };
	uint64_t ticket;
	int r = ant_call_async(sr->conn, &call, &ticket);
	if (r == 0)
		r = wait_answer(sr->conn, ticket, &r0, START_TIMEOUT_S * 1000);
	if (r == 0 && r0.data)
		ant_ica_release(sr->conn, r0.data);
	if (r == 0 && r0.retval == 0 && r0.len == 4 && memcmp(r0.bytes, "ping", 4) == 0)
		return 0;
	if (!bench_interrupted)
		fprintf(stderr, "%s: the victim does not answer%s: %s\n", PROG,
			r == -ETIMEDOUT ? " (is it starting at all?)" : "",
			r == -ETIMEDOUT ? "no answer within 10 s" : r < 0 ? ant_strerror(r) :
			r0.retval ? ant_strerror(r0.retval) : "wrong answer");
	return -1;
}

/* antd's counts for the victim after the kills, into res; a mismatch with
 * the kills is a warning.  Returns 0, or -1 (printed). */
static int read_counts(struct ctl_conn *ctl, const struct opts *o, enum fo_mode mode,
		       struct fo_result *res)
{
	struct victim v;
	if (victim_status(ctl, &v) < 0)
		return -1;
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
	return 0;
}

/* One stack, o->kills kills in mode, with as many samples of its floor.
 * Returns 0 with *res, or -1 (printed). */
static int run_failover(const struct opts *o, enum fo_mode mode, struct fo_result *res)
{
	uint64_t *lat = calloc((size_t)o->kills, sizeof(*lat));
	uint64_t *fl = calloc((size_t)o->kills, sizeof(*fl));
	if (!lat || !fl) {
		fprintf(stderr, "%s: out of memory for %ld samples\n", PROG, o->kills);
		free(lat);
		free(fl);
		return -1;
	}
	struct bench_spawn sp;
	int r = mode == FO_COLD ? bench_spawn_init(&sp, churn_echo_path(o)) : 0;
	if (r != 0) {
		fprintf(stderr, "%s: floor: %s\n", PROG, strerror(r));
		free(lat);
		free(fl);
		return -1;
	}
	struct bench_stack sr = { .conn = NULL };
	struct ctl_conn ctl = { .fd = -1 };
	json_t *stack = failover_stack(mode, o);
	int ok = 0;
	if (bench_stack_start(&sr, o, stack, "victim") == 0 && bench_ctl_open(&ctl, &sr) == 0 &&
	    arm_victim(&ctl) == 0) {
		char what[32];
		snprintf(what, sizeof(what), "failover %s", fo_names[mode]);
		struct progress p;
		progress_begin(&p, o->progress, what, "kills", o->kills);
		ok = victim_answers(&sr) == 0;
		for (long i = 0; ok && i < o->kills; i++) {
			ok = !bench_interrupted && one_kill(&sr, &ctl, mode, &sp, i + 1, &lat[i],
							    &fl[i]) == 0;
			progress_at(&p, i + 1, bench_now_ns());
		}
		progress_end(&p);
		ok = ok && read_counts(&ctl, o, mode, res) == 0;
		if (!ok && !bench_interrupted)
			bench_stack_show_log(&sr);
	}
	json_decref(stack);
	ctl_close(&ctl);
	if (bench_stack_stop(&sr) < 0)
		ok = 0;
	if (mode == FO_COLD)
		bench_spawn_fini(&sp);
	if (ok) {
		bench_median_p99(lat, (size_t)o->kills, &res->median_ns, &res->p99_ns);   /* sorts */
		bench_median_p99(fl, (size_t)o->kills, &res->floor_median_ns, &res->floor_p99_ns);
		res->ran = 1;
		res->max_ns = lat[o->kills - 1];
	}
	free(lat);
	free(fl);
	return ok ? 0 : -1;
}

/* One target a mode is held to: a statistic of its samples, at most so
 * long, beside the same statistic of its floor. */
struct fo_target {
	const char *stat;           /* "median", "p99" */
	uint64_t value_ns, floor_ns;
	long target_us;
	int met;
	double ratio;               /* value over floor */
	double allows;              /* target over floor: what the target leaves here */
	double needed_ns;           /* the floor at which ratio would meet the target */
};

/* As reported (rounded to 0.1 us), so that the table, value_us and met agree. */
static int at_most(uint64_t ns, long target_us)
{
	return (ns + 50) / 100 <= (uint64_t)target_us * 10;
}

/* mode's two targets, median and p99, into t. */
static void fo_targets(enum fo_mode mode, const struct fo_result *r, struct fo_target t[2])
{
	t[0] = (struct fo_target){ .stat = "median", .value_ns = r->median_ns,
				   .floor_ns = r->floor_median_ns,
				   .target_us = mode == FO_WARM ? TARGET_WARM_MEDIAN_US
								: TARGET_COLD_MEDIAN_US };
	t[1] = (struct fo_target){ .stat = "p99", .value_ns = r->p99_ns,
				   .floor_ns = r->floor_p99_ns, .target_us = TARGET_P99_US };
	for (int k = 0; k < 2; k++) {
		double floor_ns = t[k].floor_ns ? (double)t[k].floor_ns : 1.0;   /* 0: cannot be */
		t[k].met = at_most(t[k].value_ns, t[k].target_us);
		t[k].ratio = (double)t[k].value_ns / floor_ns;
		t[k].allows = (double)t[k].target_us * 1e3 / floor_ns;
		t[k].needed_ns = t[k].ratio > 0 ? (double)t[k].target_us * 1e3 / t[k].ratio : 0;
	}
}

static int meets_targets(enum fo_mode mode, const struct fo_result *r)
{
	struct fo_target t[2];
	fo_targets(mode, r, t);
	return t[0].met && t[1].met;
}

/* 612 us, 8.4 ms */
static const char *duration(double ns, char *buf, size_t len)
{
	if (ns >= 1e6)
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.0f us", ns / 1e3);
	return buf;
}

/* "cold restart median 8.4 ms MISSED target 3.0 ms: 4.9x floor (...)":
 * the target, the floor and what the target asks of this machine. */
static void print_target(enum fo_mode mode, const struct fo_target *t)
{
	char v[32], tg[32], fl[32], need[32];
	printf("  %s %s %s %s target %s: %.1fx floor (%s: %s %s in this run; the target is "
	       "%.1fx it", fo_labels[mode], t->stat, duration((double)t->value_ns, v, sizeof(v)),
	       t->met ? "met" : "MISSED", duration(t->target_us * 1e3, tg, sizeof(tg)), t->ratio,
	       fo_floors[mode], t->stat, duration((double)t->floor_ns, fl, sizeof(fl)), t->allows);
	if (!t->met && t->allows < 1)
		printf(", below the floor: out of reach here");
	if (!t->met)
		printf("; at %.1fx it holds only where that floor is <= %s", t->ratio,
		       duration(t->needed_ns, need, sizeof(need)));
	printf(")\n");
}

static void print_failover_table(const struct opts *o, const struct fo_result *r)
{
	printf("ant-bench failover: %ld kills per mode; time from SIGKILL of the server holding "
	       "a call to its replayed answer reaching the app\n", o->kills);
	bench_print_placement(o, "bench, antd, servers");
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
	printf("  each target against a floor timed in this run, one sample before each kill:\n");
	for (int m = FO_COLD; m <= FO_WARM; m++) {
		struct fo_target t[2];
		fo_targets(m, &r[m], t);
		for (int k = 0; k < 2 && r[m].ran; k++)
			print_target(m, &t[k]);
	}
}

/* [{"stat", "value_us", "target_us", "met", "floor", "floor_us",
 *   "ratio_to_floor", "target_ratio_to_floor", "floor_needed_us"}, ...]:
 * print_target's figures. */
static json_t *target_results_json(enum fo_mode mode, const struct fo_result *r)
{
	struct fo_target t[2];
	fo_targets(mode, r, t);
	json_t *a = json_array();
	for (int k = 0; a && k < 2; k++)
		json_array_append_new(a, json_pack(
			"{s:s, s:o, s:I, s:b, s:s, s:o, s:f, s:f, s:o}", "stat", t[k].stat,
			"value_us", bench_us_json(t[k].value_ns),
			"target_us", (json_int_t)t[k].target_us, "met", t[k].met,
			"floor", fo_floors[mode], "floor_us", bench_us_json(t[k].floor_ns),
			"ratio_to_floor", t[k].ratio, "target_ratio_to_floor", t[k].allows,
			"floor_needed_us", bench_us_json((uint64_t)t[k].needed_ns)));
	return a;
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
		json_object_set_new(one, "median_us", bench_us_json(r[m].median_ns));
		json_object_set_new(one, "p99_us", bench_us_json(r[m].p99_ns));
		json_object_set_new(one, "max_us", bench_us_json(r[m].max_ns));
		json_object_set_new(one, "meets_targets", json_boolean(meets_targets(m, &r[m])));
		json_object_set_new(one, "restarts", json_integer(r[m].restarts));
		json_object_set_new(one, "failovers", json_integer(r[m].failovers));
		json_object_set_new(one, "replays", json_integer(r[m].replays));
		json_object_set_new(one, "counts_match_kills", json_boolean(r[m].counts_ok));
		json_object_set_new(one, "floor", json_pack(
			"{s:s, s:o, s:o, s:I}", "name", fo_floors[m],
			"median_us", bench_us_json(r[m].floor_median_ns),
			"p99_us", bench_us_json(r[m].floor_p99_ns), "samples", (json_int_t)o->kills));
		json_object_set_new(one, "target_results", target_results_json(m, &r[m]));
		json_object_set_new(root, fo_names[m], one);
	}
	json_object_set_new(root, "targets", json_pack(
		"{s:i, s:i, s:i}", "cold_median_us", TARGET_COLD_MEDIAN_US,
		"warm_median_us", TARGET_WARM_MEDIAN_US, "p99_us", TARGET_P99_US));
	return bench_print_json(root, 12);
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
	if (bench_interrupted)
		fprintf(stderr, "%s: interrupted\n", PROG);
	if (!ok)
		return 1;
	if (o->json)
		return print_failover_json(o, r) == 0 ? 0 : 1;
	print_failover_table(o, r);
	return 0;
}

static const struct option failover_opts[] = {
	{ "kills", required_argument, NULL, 'k' },
	{ "standby", no_argument, NULL, 'S' },
	{ "both", no_argument, NULL, 'B' },
	{ "sandbox", required_argument, NULL, 'X' },
	BENCH_COMMON_OPTS,
};

static void failover_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'k':
		if (tool_parse_long(optarg, 1, KILLS_MAX, &o->kills) < 0)
			tool_usage_error(PROG, "--kills: expected 1 to %ld, got '%s'",
					 KILLS_MAX, optarg);
		break;
	case 'S': o->warm = 1; break;
	case 'B': o->cold = o->warm = 2; break;
	case 'X':
		if (strcmp(optarg, "default") != 0 && strcmp(optarg, "none") != 0)
			tool_usage_error(PROG, "--sandbox: expected default or none, got '%s'",
					 optarg);
		o->no_sandbox = strcmp(optarg, "none") == 0;
		break;
	}
}

/* --standby: warm only; --both (which covers --standby): cold and warm. */
static void failover_finish(struct opts *o)
{
	o->cold = o->cold || !o->warm;
}

const struct bench_command bench_failover = {
	.name = "failover", .usage = failover_usage, .opts = failover_opts,
	.option = failover_option, .finish = failover_finish, .run = failover_main,
};
