/* bench_upgrade.c - ant-bench upgrade: the pause a live upgrade of a server, and a re-exec of antd, cost the calls going through the server, beside the chain's own p99. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ant/ant.h"
#include "bench.h"
#include "tool_common.h"

#define TARGET_PAUSE_P99_US 2000   /* the live upgrade issue's target for a relay */
#define TARGET_REEXEC_P99_US 5000  /* ... and for a re-exec of antd */
#define UPGRADES_MAX 100000L
#define QUIET_CALLS 2000
#define CALLS_MAX (4u << 20)
#define REEXEC_QUIET_MS 5000       /* antd waits this long for a moment no process is started */
/* Then antd asks the new binary what it reads (2 s at most), and answers. */
#define REEXEC_WAIT_MS (REEXEC_QUIET_MS + 2000 + CTL_TIMEOUT_MS)
#define REEXEC_GAP_US 30000        /* after a re-exec: past the new antd's start of its forker */
#define EXEC_FLOOR_RUNS 21
#define OPT_EXEC_STAMP 0x100       /* hidden: the child of the exec floor */

static long reexecs_opt = -1;      /* --reexecs; -1: as many as upgrades */
static int upgrades_given;         /* --upgrades was on the command line */

static void upgrade_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench upgrade [OPTIONS]\n"
		"Start a private stack relay1 -> relay2 -> relay3 and call relay1 without\n"
		"pause from a thread of this program, while the main thread upgrades relay2\n"
		"again and again (antctl upgrade relay2 --probation 0: the same program, its\n"
		"state handed over), then has antd re-execute itself again and again (antctl\n"
		"reexec: the same antd, every server and call kept).  First %d calls with no\n"
		"upgrade give the chain's own median and p99.  The pause of one upgrade or\n"
		"re-exec is the longest call that overlapped it, less the quiet median: what\n"
		"a caller lost to it.  Prints the pauses' median and p99 beside the targets\n"
		"(p99 at most %d us for an upgrade, %d us for a re-exec) and the chain's p99\n"
		"of the same run; for the re-execs also antd's own timing of its pause (the\n"
		"medians of the time it took to write its state, to execute itself, and to\n"
		"take over), and a floor timed in the same run: an exec of this program in\n"
		"place of itself, up to its main.  A re-exec that antd refuses or that fails\n"
		"ends the run with exit status 1.\n"
		"\n"
		"  --upgrades N       upgrades (default 100)\n"
		"  --reexecs N        re-execs of antd after the upgrades (default: as many as\n"
		"                     upgrades; 0: none)\n"
		"  --json             one JSON object: upgrade.pause_median_us,\n"
		"                     upgrade.pause_p99_us, reexec.pause_median_us,\n"
		"                     reexec.pause_p99_us, reexec.exec_floor_us,\n"
		"                     chain_p99_us, ... (\"reexec\": null with --reexecs 0)\n"
		"  --antd PATH        the antd to run (default: ../supervisor/antd next to\n"
		"                     this program, else antd in $PATH)\n"
		"  --server-path DIRS where antd finds relay (default: ../servers next to\n"
		"                     this program)\n"
		"  --cpu N            run everything on CPU N\n",
		QUIET_CALLS, TARGET_PAUSE_P99_US, TARGET_REEXEC_P99_US);
	bench_usage_fast_path(f);
	bench_usage_progress(f);
	fprintf(f, "  --help             this text\n  --version          the version\n");
}

/* The caller thread: sync calls, each one's start and end. */
struct caller {
	const char *run_dir;
	volatile int stop;
	volatile int quiet_done;   /* the first QUIET_CALLS are done */
	uint64_t *t0, *t1;
	size_t n;
	long errors, wrong;
	int last_error;
};

static void *call_loop(void *arg)
{
	struct caller *k = arg;
	struct ant_conn *c;
	if (ant_connect(k->run_dir, &c) < 0) {
		k->errors++;
		k->quiet_done = 1;
		return NULL;
	}
	static struct ant_result res;
	while (!k->stop && k->n < CALLS_MAX) {
		char arg_[32];
		int len = snprintf(arg_, sizeof(arg_), "call %zu", k->n);
		struct ant_call x = { .server = "relay1", .op = "echo", .arg = arg_,
				      .arglen = (size_t)len };
		uint64_t a = bench_now_ns();
		int r = ant_call_sync(c, &x, &res);
		uint64_t b = bench_now_ns();
		if (r < 0) {
			k->errors++;
			k->last_error = r;
		} else if (res.len != (size_t)len || memcmp(res.bytes, arg_, (size_t)len) != 0) {
			k->wrong++;
		}
		k->t0[k->n] = a;
		k->t1[k->n] = b;
		k->n++;
		if (k->n == QUIET_CALLS)
			k->quiet_done = 1;
	}
	ant_close(c);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The pause of each of n windows [win0, win1] (sorted ascending into
 * pause): the longest call that overlapped it, less the quiet median. */
static void window_pauses(const struct caller *k, const uint64_t *win0, const uint64_t *win1,
			  long n, uint64_t quiet_med, uint64_t *pause)
{
	size_t from = QUIET_CALLS;
	for (long i = 0; i < n; i++) {
		uint64_t worst = 0;
		while (from < k->n && k->t1[from] < win0[i])
			from++;
		for (size_t j = from; j < k->n && k->t0[j] <= win1[i]; j++)
			if (k->t1[j] - k->t0[j] > worst)
				worst = k->t1[j] - k->t0[j];
		pause[i] = worst > quiet_med ? worst - quiet_med : 0;
	}
	qsort(pause, (size_t)n, sizeof(pause[0]), cmp_u64);
}

/* ---- the floor of a re-exec: an exec in place of this program, up to its main ---- */

/* The child's side (ant-bench upgrade --exec-floor-stamp=NS, reached from
 * main through the option parser): how long since NS, on stdout. */
static void exec_floor_child(const char *stamp)
{
	uint64_t now = bench_now_ns();
	unsigned long long t0 = strtoull(stamp, NULL, 10);
	printf("%llu\n", (unsigned long long)now - t0);
	fflush(stdout);
	_exit(0);
}

/* v in decimal into buf (at least 21 bytes), with no library call: after fork. */
static void u64_text(uint64_t v, char *buf)
{
	char tmp[21];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*buf++ = tmp[--n];
	*buf = '\0';
}

/* One exec of this program in place of a child of it: the time from just
 * before execve to its main, in *ns.  Returns 0, or -1 after printing why. */
static int exec_floor_once(uint64_t *ns)
{
	static const char opt[] = "--exec-floor-stamp=";
	char arg[sizeof(opt) + 21];
	memcpy(arg, opt, sizeof(opt));
	char *argv[] = { PROG, "upgrade", arg, NULL };
	extern char **environ;
	int p[2];
	if (pipe(p) < 0) {
		fprintf(stderr, "%s: upgrade: the exec floor: pipe: %s\n", PROG, strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: upgrade: the exec floor: fork: %s\n", PROG, strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (p[1] != 1) {
			dup2(p[1], 1);
			close(p[1]);
		}
		u64_text(bench_now_ns(), arg + sizeof(opt) - 1);
		execve("/proc/self/exe", argv, environ);
		_exit(127);
	}
	close(p[1]);
	char buf[64];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR && !bench_interrupted)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *end;
	unsigned long long v = strtoull(buf, &end, 10);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || end == buf || *end != '\n') {
		if (!bench_interrupted)
			fprintf(stderr, "%s: upgrade: the exec floor: /proc/self/exe did not say how "
				"long its exec took (exit status %d, said \"%.20s\")\n", PROG,
				WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), buf);
		return -1;
	}
	*ns = v;
	return 0;
}

/* The median of EXEC_FLOOR_RUNS of them, in *ns.  Returns 0, or -1 (printed). */
static int exec_floor(uint64_t *ns)
{
	uint64_t v[EXEC_FLOOR_RUNS], p99;
	for (int i = 0; i < EXEC_FLOOR_RUNS; i++)
		if (bench_interrupted || exec_floor_once(&v[i]) < 0)
			return -1;
	bench_median_p99(v, EXEC_FLOOR_RUNS, ns, &p99);
	return 0;
}

/* ---- the stack, the requests ---- */

static json_t *upgrade_stack(const struct opts *o)
{
	json_t *servers = json_pack("[{s:s, s:s, s:[s], s:[s]}, {s:s, s:s, s:[s], s:[s]}, {s:s, s:s}]",
				    "name", "relay1", "exec", "relay", "args", "relay2", "calls",
				    "relay2", "name", "relay2", "exec", "relay", "args", "relay3",
				    "calls", "relay3", "name", "relay3", "exec", "relay");
	return servers ? bench_stack_json("ant-bench-upgrade", servers, "relay1", o) : NULL;
}

/* Re-exec i of n over c: antd's reply, once the new antd has taken over
 * (the connection is kept across the exec); or NULL after printing why
 * (silently when interrupted): a refusal or a failure included. */
static json_t *reexec_ask(struct ctl_conn *c, long i, long n)
{
	json_t *req = json_pack("{s:s, s:i}", "cmd", "reexec", "timeout_ms", REEXEC_QUIET_MS);
	json_t *rep = NULL;
	char why[160] = "";
	int r = req ? ctl_request(c, req, REEXEC_WAIT_MS, &rep, why, sizeof(why)) : -ENOMEM;
	json_decref(req);
	if (r < 0) {
		if (bench_interrupted)
			return NULL;
		if (r == -ETIMEDOUT)
			fprintf(stderr, "%s: upgrade: re-exec %ld of %ld: antd did not answer within "
				"%d ms\n", PROG, i + 1, n, REEXEC_WAIT_MS);
		else if (r == -EBADMSG)
			fprintf(stderr, "%s: upgrade: re-exec %ld of %ld: antd answered with something "
				"that is not JSON: %s\n", PROG, i + 1, n, why);
		else
			fprintf(stderr, "%s: upgrade: re-exec %ld of %ld: control socket: %s\n", PROG,
				i + 1, n, r == -ECONNRESET ? "antd closed it" : strerror(-r));
		return NULL;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		fprintf(stderr, "%s: upgrade: re-exec %ld of %ld: %s: %s\n", PROG, i + 1, n,
			ctl_str(rep, "outcome"), ctl_str(rep, "error"));
		json_decref(rep);
		return NULL;
	}
	return rep;
}

/* A count of antd's in milliseconds, kept as nanoseconds for bench_median_p99. */
static uint64_t ms_ns(const json_t *o, const char *key)
{
	double ms = ctl_num(o, key);
	return ms > 0 ? (uint64_t)(ms * 1e6 + 0.5) : 0;
}

static uint64_t median_of(uint64_t *v, size_t n)
{
	uint64_t med, p99;
	bench_median_p99(v, n, &med, &p99);
	return med;
}

static int upgrade_main(const struct opts *o)
{
	long n_up = o->kills;   /* --upgrades shares the failover's count */
	long n_re = reexecs_opt;
	/* The floor first, while this program is alone and small. */
	uint64_t floor_ns = 0;
	if (n_re > 0 && exec_floor(&floor_ns) < 0) {
		fprintf(stderr, "%s: upgrade: %s\n", PROG, bench_interrupted ? "interrupted" :
			"could not time the exec floor");
		return 1;
	}
	struct caller k = { 0 };
	k.t0 = malloc(CALLS_MAX * sizeof(uint64_t));
	k.t1 = malloc(CALLS_MAX * sizeof(uint64_t));
	uint64_t *win0 = calloc((size_t)n_up, sizeof(uint64_t));
	uint64_t *win1 = calloc((size_t)n_up, sizeof(uint64_t));
	uint64_t *pause = calloc((size_t)n_up, sizeof(uint64_t));
	/* The re-execs: their windows, pauses, and antd's own counts. */
	size_t nr = n_re > 0 ? (size_t)n_re : 1;
	uint64_t *rwin0 = calloc(nr, sizeof(uint64_t)), *rwin1 = calloc(nr, sizeof(uint64_t));
	uint64_t *rpause = calloc(nr, sizeof(uint64_t)), *antd_pause = calloc(nr, sizeof(uint64_t));
	uint64_t *split[3];
	static const char *const split_keys[3] = { "state_ms", "exec_ms", "take_over_ms" };
	for (int s = 0; s < 3; s++)
		split[s] = calloc(nr, sizeof(uint64_t));
	if (!k.t0 || !k.t1 || !win0 || !win1 || !pause || !rwin0 || !rwin1 || !rpause ||
	    !antd_pause || !split[0] || !split[1] || !split[2]) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return 1;
	}
	struct bench_stack sr;
	struct ctl_conn ctl = { .fd = -1 };
	json_t *stack = upgrade_stack(o);
	int ok = bench_stack_start(&sr, o, stack, "relay1") == 0 && bench_ctl_open(&ctl, &sr) == 0;
	json_decref(stack);
	pthread_t t;
	long done = 0, re_done = 0;
	int reexec_failed = 0;
	if (ok) {
		k.run_dir = sr.run.dir;
		ok = pthread_create(&t, NULL, call_loop, &k) == 0;
	}
	if (ok) {
		while (!k.quiet_done && !bench_interrupted)
			bench_sleep_us(1000);
		struct progress p;
		progress_begin(&p, o->progress, "upgrade", "upgrades", n_up);
		for (long i = 0; ok && i < n_up && !bench_interrupted; i++) {
			win0[i] = bench_now_ns();
			json_t *rep = bench_ctl_ask(&ctl, json_pack("{s:s, s:s, s:i}", "cmd", "upgrade",
								    "server", "relay2",
								    "probation_ms", 0));
			win1[i] = bench_now_ns();
			ok = rep != NULL;
			json_decref(rep);
			done = i + 1;
			progress_at(&p, i + 1, win1[i]);
			bench_sleep_us(2000);   /* calls between upgrades: each window on its own */
		}
		progress_end(&p);
		if (n_re > 0)
			progress_begin(&p, o->progress, "re-exec of antd", "re-execs", n_re);
		for (long i = 0; ok && i < n_re && !bench_interrupted; i++) {
			rwin0[i] = bench_now_ns();
			json_t *rep = reexec_ask(&ctl, i, n_re);
			rwin1[i] = bench_now_ns();
			if (!rep) {
				ok = 0;
				reexec_failed = !bench_interrupted;
				break;
			}
			antd_pause[i] = ms_ns(rep, "pause_ms");
			for (int s = 0; s < 3; s++)
				split[s][i] = ms_ns(json_object_get(rep, "split"), split_keys[s]);
			json_decref(rep);
			re_done = i + 1;
			progress_at(&p, i + 1, rwin1[i]);
			/* Calls between re-execs, each window on its own, and each
			 * re-exec finds antd as it usually is: with its forker, which
			 * the new antd starts 20 ms after it took over. */
			bench_sleep_us(REEXEC_GAP_US);
		}
		if (n_re > 0)
			progress_end(&p);
		k.stop = 1;
		pthread_join(t, NULL);
		if (!ok && !bench_interrupted)
			bench_stack_show_log(&sr);
	}
	ctl_close(&ctl);
	if (bench_stack_stop(&sr) < 0)
		ok = 0;
	if (!ok || done < 1 || (n_re > 0 && re_done < n_re) || k.n < QUIET_CALLS) {
		fprintf(stderr, "%s: upgrade: %s\n", PROG, bench_interrupted ? "interrupted" :
			reexec_failed ? "a re-exec of antd did not go through (above)" :
			"the stack did not run its upgrades through");
		return 1;
	}
	/* The chain quiet: its first calls. */
	uint64_t *lat = malloc(QUIET_CALLS * sizeof(uint64_t));
	for (size_t i = 0; i < QUIET_CALLS; i++)
		lat[i] = k.t1[i] - k.t0[i];
	uint64_t quiet_med, quiet_p99;
	bench_median_p99(lat, QUIET_CALLS, &quiet_med, &quiet_p99);
	free(lat);
	/* Each upgrade's and re-exec's pause: the longest call overlapping its window. */
	uint64_t med, p99, rmed = 0, rp99 = 0, antd_med = 0, split_med[3] = { 0 };
	window_pauses(&k, win0, win1, done, quiet_med, pause);
	bench_median_p99(pause, (size_t)done, &med, &p99);
	int met = p99 <= (uint64_t)TARGET_PAUSE_P99_US * 1000, rmet = 0;
	json_t *rj = json_null();
	if (re_done > 0) {
		window_pauses(&k, rwin0, rwin1, re_done, quiet_med, rpause);
		bench_median_p99(rpause, (size_t)re_done, &rmed, &rp99);
		rmet = rp99 <= (uint64_t)TARGET_REEXEC_P99_US * 1000;
		antd_med = median_of(antd_pause, (size_t)re_done);
		for (int s = 0; s < 3; s++)
			split_med[s] = median_of(split[s], (size_t)re_done);
		rj = json_pack("{s:f, s:f, s:f, s:i, s:b, s:i, s:f, s:{s:f, s:f, s:f}, s:f, s:f}",
			       "pause_median_us", rmed / 1e3, "pause_p99_us", rp99 / 1e3,
			       "pause_max_us", rpause[re_done - 1] / 1e3,
			       "target_p99_us", TARGET_REEXEC_P99_US, "met", rmet,
			       "reexecs", (int)re_done, "antd_pause_median_ms", antd_med / 1e6,
			       "split_median_ms", "state_ms", split_med[0] / 1e6, "exec_ms",
			       split_med[1] / 1e6, "take_over_ms", split_med[2] / 1e6,
			       "exec_floor_us", floor_ns / 1e3, "ratio_to_floor",
			       floor_ns ? (double)rmed / (double)floor_ns : 0.0);
	}
	if (o->json) {
		json_t *j = json_pack("{s:s, s:i, s:{s:f, s:f, s:f, s:i, s:b}, s:f, s:f, s:o, s:I, s:I, s:I}",
				      "benchmark", "upgrade", "upgrades", (int)done,
				      "upgrade", "pause_median_us", med / 1e3, "pause_p99_us", p99 / 1e3,
				      "pause_max_us", pause[done - 1] / 1e3,
				      "target_p99_us", TARGET_PAUSE_P99_US, "met", met,
				      "chain_median_us", quiet_med / 1e3, "chain_p99_us", quiet_p99 / 1e3,
				      "reexec", rj, "calls", (json_int_t)k.n,
				      "errors", (json_int_t)k.errors, "wrong", (json_int_t)k.wrong);
		char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
		printf("%s\n", s);
		free(s);
		json_decref(j);
	} else {
		char res[64] = "";
		if (re_done > 0)
			snprintf(res, sizeof(res), " and %ld re-execs of antd", re_done);
		printf("ant-bench upgrade: %ld upgrades of relay2%s in relay1 -> relay2 -> relay3, "
		       "%zu calls (%ld failed, %ld wrong)\n", done, res, k.n, k.errors, k.wrong);
		printf("  the chain, quiet:     median %.0f us, p99 %.0f us\n", quiet_med / 1e3,
		       quiet_p99 / 1e3);
		printf("  pause of an upgrade:  median %.0f us, p99 %.0f us, max %.0f us\n", med / 1e3,
		       p99 / 1e3, pause[done - 1] / 1e3);
		printf("  target: pause p99 at most %d us: %s (%.1fx the chain's own p99)\n",
		       TARGET_PAUSE_P99_US, met ? "met" : "MISSED",
		       quiet_p99 ? (double)p99 / (double)quiet_p99 : 0.0);
		if (re_done > 0) {
			printf("  pause of a re-exec:   median %.0f us, p99 %.0f us, max %.0f us\n",
			       rmed / 1e3, rp99 / 1e3, rpause[re_done - 1] / 1e3);
			printf("  target: re-exec pause p99 at most %d us: %s (%.1fx the chain's own "
			       "p99)\n", TARGET_REEXEC_P99_US, rmet ? "met" : "MISSED",
			       quiet_p99 ? (double)rp99 / (double)quiet_p99 : 0.0);
			printf("  antd's own timing:    pause median %.2f ms: writing its state %.2f ms, "
			       "the exec %.2f ms, taking over %.2f ms\n", antd_med / 1e6,
			       split_med[0] / 1e6, split_med[1] / 1e6, split_med[2] / 1e6);
			printf("  floor: an exec of this program in place of itself, up to its main: "
			       "median %.0f us; a re-exec's median pause is %.1fx it\n", floor_ns / 1e3,
			       floor_ns ? (double)rmed / (double)floor_ns : 0.0);
		} else {
			printf("  a re-exec of antd: not measured (--reexecs 0)\n");
		}
	}
	free(k.t0);
	free(k.t1);
	free(win0);
	free(win1);
	free(pause);
	free(rwin0);
	free(rwin1);
	free(rpause);
	free(antd_pause);
	for (int s = 0; s < 3; s++)
		free(split[s]);
	return k.errors || k.wrong ? 1 : 0;
}

static const struct option upgrade_opts[] = {
	{ "upgrades", required_argument, NULL, 'u' },
	{ "reexecs", required_argument, NULL, 'x' },
	{ "exec-floor-stamp", required_argument, NULL, OPT_EXEC_STAMP },
	BENCH_COMMON_OPTS,
};

static void upgrade_option(int ch, struct opts *o)
{
	if (ch == OPT_EXEC_STAMP)
		exec_floor_child(optarg);   /* does not return */
	if (ch == 'u') {
		if (tool_parse_long(optarg, 1, UPGRADES_MAX, &o->kills) < 0)
			tool_usage_error(PROG, "--upgrades: expected 1 to %ld, got '%s'",
					 UPGRADES_MAX, optarg);
		upgrades_given = 1;
	}
	if (ch == 'x' && tool_parse_long(optarg, 0, UPGRADES_MAX, &reexecs_opt) < 0)
		tool_usage_error(PROG, "--reexecs: expected 0 to %ld, got '%s'", UPGRADES_MAX, optarg);
}

static void upgrade_finish(struct opts *o)
{
	if (!upgrades_given)   /* the failover's default is 200: ours is 100 */
		o->kills = 100;
	if (reexecs_opt < 0)
		reexecs_opt = o->kills;
}

const struct bench_command bench_upgrade = {
	.name = "upgrade", .usage = upgrade_usage, .opts = upgrade_opts,
	.option = upgrade_option, .finish = upgrade_finish, .run = upgrade_main,
};
