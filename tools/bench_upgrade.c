/* bench_upgrade.c - ant-bench upgrade: the pause a live upgrade costs the calls going through the server, beside the chain's own p99. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ant/ant.h"
#include "bench.h"
#include "tool_common.h"

#define TARGET_PAUSE_P99_US 2000   /* the live upgrade issue's target for a relay */
#define UPGRADES_MAX 100000L
#define QUIET_CALLS 2000
#define CALLS_MAX (4u << 20)

static void upgrade_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench upgrade [OPTIONS]\n"
		"Start a private stack relay1 -> relay2 -> relay3 and call relay1 without\n"
		"pause from a thread of this program, while the main thread upgrades relay2\n"
		"again and again (antctl upgrade relay2 --probation 0: the same program, its\n"
		"state handed over).  First %d calls with no upgrade give the chain's own\n"
		"median and p99.  The pause of one upgrade is the longest call that overlapped\n"
		"it, less the quiet median: what a caller lost to it.  Prints the pauses'\n"
		"median and p99 beside the target (p99 at most %d us) and the chain's p99 of\n"
		"the same run.  (A re-exec of antd is not measured: antctl reexec does not\n"
		"exist yet.)\n"
		"\n"
		"  --upgrades N       upgrades (default 100)\n"
		"  --json             one JSON object: upgrade.pause_median_us,\n"
		"                     upgrade.pause_p99_us, chain_p99_us, ...\n"
		"  --antd PATH        the antd to run (default: ../supervisor/antd next to\n"
		"                     this program, else antd in $PATH)\n"
		"  --server-path DIRS where antd finds relay (default: ../servers next to\n"
		"                     this program)\n"
		"  --cpu N            run everything on CPU N\n",
		QUIET_CALLS, TARGET_PAUSE_P99_US);
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

static json_t *upgrade_stack(const struct opts *o)
{
	json_t *servers = json_pack("[{s:s, s:s, s:[s], s:[s]}, {s:s, s:s, s:[s], s:[s]}, {s:s, s:s}]",
				    "name", "relay1", "exec", "relay", "args", "relay2", "calls",
				    "relay2", "name", "relay2", "exec", "relay", "args", "relay3",
				    "calls", "relay3", "name", "relay3", "exec", "relay");
	return servers ? bench_stack_json("ant-bench-upgrade", servers, "relay1", o) : NULL;
}

static int upgrade_main(const struct opts *o)
{
	long n_up = o->kills;   /* --upgrades shares the failover's count */
	struct caller k = { 0 };
	k.t0 = malloc(CALLS_MAX * sizeof(uint64_t));
	k.t1 = malloc(CALLS_MAX * sizeof(uint64_t));
	uint64_t *win0 = calloc((size_t)n_up, sizeof(uint64_t));
	uint64_t *win1 = calloc((size_t)n_up, sizeof(uint64_t));
	uint64_t *pause = calloc((size_t)n_up, sizeof(uint64_t));
	if (!k.t0 || !k.t1 || !win0 || !win1 || !pause) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return 1;
	}
	struct bench_stack sr;
	struct ctl_conn ctl = { .fd = -1 };
	json_t *stack = upgrade_stack(o);
	int ok = bench_stack_start(&sr, o, stack, "relay1") == 0 && bench_ctl_open(&ctl, &sr) == 0;
	json_decref(stack);
	pthread_t t;
	long done = 0;
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
		k.stop = 1;
		pthread_join(t, NULL);
		if (!ok && !bench_interrupted)
			bench_stack_show_log(&sr);
	}
	ctl_close(&ctl);
	if (bench_stack_stop(&sr) < 0)
		ok = 0;
	if (!ok || done < 1 || k.n < QUIET_CALLS) {
		fprintf(stderr, "%s: upgrade: %s\n", PROG, bench_interrupted ? "interrupted" :
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
	/* Each upgrade's pause: the longest call overlapping its window. */
	size_t from = QUIET_CALLS;
	for (long i = 0; i < done; i++) {
		uint64_t worst = 0;
		while (from < k.n && k.t1[from] < win0[i])
			from++;
		for (size_t j = from; j < k.n && k.t0[j] <= win1[i]; j++)
			if (k.t1[j] - k.t0[j] > worst)
				worst = k.t1[j] - k.t0[j];
		pause[i] = worst > quiet_med ? worst - quiet_med : 0;
	}
	uint64_t med, p99;
	qsort(pause, (size_t)done, sizeof(pause[0]), cmp_u64);
	bench_median_p99(pause, (size_t)done, &med, &p99);
	int met = p99 <= (uint64_t)TARGET_PAUSE_P99_US * 1000;
	if (o->json) {
		json_t *j = json_pack("{s:s, s:i, s:{s:f, s:f, s:f, s:i, s:b}, s:f, s:f, s:n, s:I, s:I, s:I}",
				      "benchmark", "upgrade", "upgrades", (int)done,
				      "upgrade", "pause_median_us", med / 1e3, "pause_p99_us", p99 / 1e3,
				      "pause_max_us", pause[done - 1] / 1e3,
				      "target_p99_us", TARGET_PAUSE_P99_US, "met", met,
				      "chain_median_us", quiet_med / 1e3, "chain_p99_us", quiet_p99 / 1e3,
				      "reexec", "calls", (json_int_t)k.n, "errors", (json_int_t)k.errors,
				      "wrong", (json_int_t)k.wrong);
		char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
		printf("%s\n", s);
		free(s);
		json_decref(j);
	} else {
		printf("ant-bench upgrade: %ld upgrades of relay2 in relay1 -> relay2 -> relay3, %zu "
		       "calls (%ld failed, %ld wrong)\n", done, k.n, k.errors, k.wrong);
		printf("  the chain, quiet:     median %.0f us, p99 %.0f us\n", quiet_med / 1e3,
		       quiet_p99 / 1e3);
		printf("  pause of an upgrade:  median %.0f us, p99 %.0f us, max %.0f us\n", med / 1e3,
		       p99 / 1e3, pause[done - 1] / 1e3);
		printf("  target: pause p99 at most %d us: %s (%.1fx the chain's own p99)\n",
		       TARGET_PAUSE_P99_US, met ? "met" : "MISSED",
		       quiet_p99 ? (double)p99 / (double)quiet_p99 : 0.0);
		printf("  a re-exec of antd: not measured (antctl reexec does not exist yet)\n");
	}
	free(k.t0);
	free(k.t1);
	free(win0);
	free(win1);
	free(pause);
	return k.errors || k.wrong ? 1 : 0;
}

static const struct option upgrade_opts[] = {
	{ "upgrades", required_argument, NULL, 'u' },
	BENCH_COMMON_OPTS,
};

static void upgrade_option(int ch, struct opts *o)
{
	if (ch == 'u' && tool_parse_long(optarg, 1, UPGRADES_MAX, &o->kills) < 0)
		tool_usage_error(PROG, "--upgrades: expected 1 to %ld, got '%s'", UPGRADES_MAX, optarg);
}

static void upgrade_finish(struct opts *o)
{
	if (o->kills == 200)   /* the failover's default: ours is 100 */
		o->kills = 100;
}

const struct bench_command bench_upgrade = {
	.name = "upgrade", .usage = upgrade_usage, .opts = upgrade_opts,
	.option = upgrade_option, .finish = upgrade_finish, .run = upgrade_main,
};
