/* bench_all.c - ant-bench all: every benchmark, run as this program's own commands, its figures and issue 15's ratios with their spread over several runs. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "tool_common.h"

extern char **environ;

#define RUNS_MAX 20

static struct {
	long runs;
	int quick;
} A = { .runs = 1 };

static void all_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench all [OPTIONS]\n"
		"Run every benchmark (floors and peers, chain of 1, 3 and 8 relays in both\n"
		"return modes, lanes of 3 relays, data ICAs of 0 to 64 MiB, load with 1,\n"
		"4 and 16 apps, failover cold and warm) as this program's own commands,\n"
		"each on its own private stack, and compute the ratios issue 15 sets\n"
		"targets for, each against a floor or peer of the same run.  With --runs\n"
		"N the whole set runs N times; every ratio is then the median of the N\n"
		"runs, with their minimum and maximum (the spread).\n"
		"\n"
		"  --runs N           how many times (default 1, at most %d)\n"
		"  --quick            fewer samples (a smoke test: figures are rough)\n"
		"  --json             one JSON object: the ratios by name (for example\n"
		"                     chain3.direct.ratio_to_floor), \"spread\" (min, max\n"
		"                     and every run's value of each), \"targets\" (each\n"
		"                     bound and whether the median meets it), \"machine\",\n"
		"                     and \"runs\" (every command's own JSON)\n"
		"  --antd PATH, --server-path DIRS, --cpu N   passed to every command\n",
		RUNS_MAX);
	bench_usage_fast_path(f);
	bench_usage_progress(f);
	fprintf(f,
		"  --help             this text\n"
		"\n"
		"Exit status: 0 if every command ran (whether or not targets are met);\n"
		"1 if one failed; 2 on bad usage.\n");
}

/* ---- running one command --------------------------------------------------------------- */

/* Run this program with args (NULL-terminated, without the program name)
 * plus --json, --quiet, o's --cpu and, for a command that starts a stack
 * (stack), o's --antd and --server-path; parse its stdout.  Returns the
 * object, or NULL after printing why. */
static json_t *run_json(const struct opts *o, const char *const *args, int stack)
{
	const char *argv[48];
	size_t n = 0;
	char cpu[16];
	argv[n++] = "ant-bench";
	for (; *args && n < 36; args++)
		argv[n++] = *args;
	argv[n++] = "--json";
	argv[n++] = "--quiet";
	if (stack && o->antd) {
		argv[n++] = "--antd";
		argv[n++] = o->antd;
	}
	if (stack && o->server_path) {
		argv[n++] = "--server-path";
		argv[n++] = o->server_path;
	}
	char spin[16];
	if (stack && o->fast_path)
		argv[n++] = "--fast-path";
	if (stack && o->lane_spin_us) {
		snprintf(spin, sizeof(spin), "%ld", o->lane_spin_us);
		argv[n++] = "--lane-spin";
		argv[n++] = spin;
	}
	if (o->cpu >= 0) {
		snprintf(cpu, sizeof(cpu), "%ld", o->cpu);
		argv[n++] = "--cpu";
		argv[n++] = cpu;
	}
	argv[n] = NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "%s: pipe: %s\n", PROG, strerror(errno));
		return NULL;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	pid_t pid;
	int r = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (r != 0) {
		fprintf(stderr, "%s: cannot run myself: %s\n", PROG, strerror(r));
		close(pfd[0]);
		return NULL;
	}
	/* Read it all, then parse: a command's JSON is a few KB. */
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t k;
	while (buf && (k = read(pfd[0], buf + len, cap - len - 1)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)k;
		if (cap - len < 1024) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(pfd[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	json_t *root = NULL;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && buf) {
		buf[len] = '\0';
		json_error_t e;
		root = json_loads(buf, 0, &e);
		if (!root)
			fprintf(stderr, "%s: ant-bench %s printed no JSON (%s)\n", PROG, argv[1], e.text);
	} else if (!bench_interrupted) {
		fprintf(stderr, "%s: ant-bench %s %s failed (exit %d)\n", PROG, argv[1],
			argv[2] ? argv[2] : "", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	free(buf);
	return root;
}

/* ---- the figures ----------------------------------------------------------------------------- */

/* The number at a dotted path in root ("floors.kill.median_ns"); NAN if absent. */
static double at(const json_t *root, const char *path)
{
	char key[128];
	const json_t *v = root;
	const char *p = path;
	while (v && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key))
			return NAN;
		memcpy(key, p, n);
		key[n] = '\0';
		v = json_object_get(v, key);
		p = dot ? dot + 1 : p + n;
	}
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* One ratio of issue 15: its name, how to get it from a run, and its target. */
struct ratio {
	const char *name;
	double (*get)(const json_t *run);
	const char *bound;          /* "at_most" or "at_least", or NULL: no target */
	double target;
};

static double div_(double a, double b)
{
	return isnan(a) || isnan(b) || b == 0 ? NAN : a / b;
}

static double r_c3d(const json_t *r) { return at(r, "chain3.direct.ratio_to_floor"); }
static double r_c3s(const json_t *r) { return at(r, "chain3.sequential.ratio_to_floor"); }
static double r_c3q(const json_t *r) { return at(r, "chain3.direct_over_sequential"); }
static double r_c1(const json_t *r) { return at(r, "chain1.direct.ratio_to_floor"); }
static double r_c8d(const json_t *r) { return at(r, "chain8.direct.ratio_to_floor"); }
static double r_c8s(const json_t *r) { return at(r, "chain8.sequential.ratio_to_floor"); }
static double r_dbus(const json_t *r)
{
	return div_(at(r, "chain1.direct.median_ns"), at(r, "floors.peers.dbus.median_ns"));
}
static double r_zmq(const json_t *r)
{
	return div_(at(r, "chain1.direct.median_ns"), at(r, "floors.peers.zeromq.median_ns"));
}
static double r_tp(const json_t *r) { return at(r, "load.throughput.apps16_over_apps1"); }
static double r_d4k(const json_t *r) { return at(r, "data.data64m.over_4k"); }
static double r_dcp(const json_t *r) { return at(r, "data.data64m.copy_over_ica"); }
static double r_warm(const json_t *r)
{
	return div_(at(r, "failover.warm.median_us") * 1e3, at(r, "floors.floors.kill.median_ns"));
}
static double r_cold(const json_t *r)
{
	return div_(at(r, "failover.cold.median_us") * 1e3,
		    at(r, "floors.floors.spawn.median_ns") + at(r, "floors.floors.kill.median_ns"));
}
static double r_warm_p99(const json_t *r)
{
	return div_(at(r, "failover.warm.p99_us"), at(r, "failover.warm.median_us"));
}
static double r_cold_p99(const json_t *r)
{
	return div_(at(r, "failover.cold.p99_us"), at(r, "failover.cold.median_us"));
}
static double r_l3d(const json_t *r) { return at(r, "lanes3.direct.ratio_to_floor"); }
static double r_l3s(const json_t *r) { return at(r, "lanes3.sequential.ratio_to_floor"); }
static double r_cpu(const json_t *r) { return at(r, "load.throughput.antd_cpu_us_per_call"); }
static double r_mem(const json_t *r) { return at(r, "load.memory.antd_kb_per_call_in_flight"); }

static const struct ratio ratios[] = {
	{ "chain3.direct.ratio_to_floor", r_c3d, "at_most", 2.5 },
	{ "chain3.sequential.ratio_to_floor", r_c3s, "at_most", 3.5 },
	{ "chain3.direct_over_sequential", r_c3q, "at_most", 0.67 },
	{ "chain1.ratio_to_floor", r_c1, NULL, 0 },
	{ "chain8.direct.ratio_to_floor", r_c8d, NULL, 0 },
	{ "chain8.sequential.ratio_to_floor", r_c8s, NULL, 0 },
	{ "depth1.over_dbus", r_dbus, "at_most", 0.2 },
	{ "depth1.over_zeromq", r_zmq, "at_most", 1.0 },
	{ "throughput.apps16_over_apps1", r_tp, "at_least", 1.5 },
	{ "data64m.over_4k", r_d4k, "at_most", 2.0 },
	{ "data64m.copy_over_ica", r_dcp, "at_least", 20.0 },
	{ "failover.warm.over_kill_floor", r_warm, "at_most", 2.0 },
	{ "failover.cold.over_spawn_and_kill_floor", r_cold, "at_most", 1.5 },
	{ "failover.warm.p99_over_median", r_warm_p99, "at_most", 3.0 },
	{ "failover.cold.p99_over_median", r_cold_p99, "at_most", 3.0 },
	{ "lanes3.direct.ratio_to_floor", r_l3d, NULL, 0 },
	{ "lanes3.sequential.ratio_to_floor", r_l3s, NULL, 0 },
	{ "antd.cpu_us_per_call", r_cpu, NULL, 0 },
	{ "antd.kb_per_call_in_flight", r_mem, NULL, 0 },
};
#define NRATIOS (sizeof(ratios) / sizeof(ratios[0]))

/* ---- one run of everything --------------------------------------------------------------------- */

/* Every command once; a new object {floors, chain1, chain3, chain8, data,
 * load, failover}, or NULL (printed) if one failed. */
static json_t *run_once(const struct opts *o, long run)
{
	const int q = A.quick;
	const char *rt = q ? "2000" : "20000", *wu = q ? "200" : "1000";
	struct step {
		const char *key, *what;
		const char *args[12];
	} steps[] = {
		{ "floors", "floors and peers", { "floors", "--iterations", rt, "--warmup", wu,
						  "--kills", q ? "30" : "200", NULL } },
		{ "chain1", "chain of 1", { "chain", "--depth", "1", "--return", "both",
					    "--iterations", rt, "--warmup", wu, NULL } },
		{ "chain3", "chain of 3", { "chain", "--depth", "3", "--return", "both",
					    "--iterations", rt, "--warmup", wu, NULL } },
		{ "chain8", "chain of 8", { "chain", "--depth", "8", "--return", "both",
					    "--iterations", q ? "1000" : "10000", "--warmup", wu,
					    NULL } },
		{ "lanes3", "lanes (the fast path's design, no antd)",
		  { "lanes", "--depth", "3", "--iterations", rt, "--warmup", wu, NULL } },
		{ "data", "data ICAs", { "data", "--iterations", q ? "200" : "2000", NULL } },
		{ "load", "load", { "load", "--seconds", q ? "0.5" : "3", "--inflight",
				    q ? "200" : "1000", NULL } },
		{ "failover", "failover", { "failover", "--both", "--kills", q ? "30" : "200",
					    NULL } },
	};
	json_t *out = json_object();
	for (size_t k = 0; out && k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct progress p;
		char what[80];
		snprintf(what, sizeof(what), "run %ld of %ld: %s", run, A.runs, steps[k].what);
		progress_begin(&p, o->progress, what, NULL, 0);
		json_t *one = bench_interrupted ? NULL : run_json(o, steps[k].args,
							       strcmp(steps[k].key, "floors") != 0 &&
							       strcmp(steps[k].key, "lanes3") != 0);
		progress_end(&p);
		if (!one) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, steps[k].key, one);
	}
	return out;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct figure {
	double median, min, max;
	double v[RUNS_MAX];
	long n;                     /* runs that had it */
};

static void figure_of(const struct ratio *r, json_t *const *runs, long nruns, struct figure *f)
{
	double s[RUNS_MAX];
	f->n = 0;
	for (long i = 0; i < nruns; i++) {
		f->v[i] = r->get(runs[i]);
		if (!isnan(f->v[i]))
			s[f->n++] = f->v[i];
	}
	if (!f->n) {
		f->median = f->min = f->max = NAN;
		return;
	}
	qsort(s, (size_t)f->n, sizeof(double), cmp_d);
	f->median = f->n % 2 ? s[f->n / 2] : (s[f->n / 2 - 1] + s[f->n / 2]) / 2;
	f->min = s[0];
	f->max = s[f->n - 1];
}

static int met(const struct ratio *r, double v)
{
	return strcmp(r->bound, "at_most") == 0 ? v <= r->target : v >= r->target;
}

/* Put v at the dotted path name of root, making objects on the way. */
static void set_path(json_t *root, const char *name, json_t *v)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", name);
	json_t *o = root;
	char *p = buf, *dot;
	while ((dot = strchr(p, '.'))) {
		*dot = '\0';
		json_t *next = json_object_get(o, p);
		if (!json_is_object(next)) {
			next = json_object();
			json_object_set_new(o, p, next);
		}
		o = next;
		p = dot + 1;
	}
	json_object_set_new(o, p, v);
}

static json_t *num(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *machine_json(void)
{
	struct utsname u;
	uname(&u);
	return json_pack("{s:s, s:s, s:s, s:I}", "node", u.nodename, "kernel", u.release,
			 "arch", u.machine, "cpus", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN));
}

static int all_main(const struct opts *o)
{
	json_t *runs[RUNS_MAX];
	long n = 0;
	for (; n < A.runs; n++)
		if (!(runs[n] = run_once(o, n + 1)))
			break;
	int ok = n == A.runs;
	if (bench_interrupted)
		fprintf(stderr, "%s: interrupted\n", PROG);
	if (ok) {
		struct figure f[NRATIOS];
		for (size_t k = 0; k < NRATIOS; k++)
			figure_of(&ratios[k], runs, n, &f[k]);
		if (o->json) {
			json_t *root = json_pack("{s:s, s:I, s:b, s:o}", "benchmark", "all", "runs",
						 (json_int_t)n, "quick", A.quick, "machine",
						 machine_json());
			json_t *spread = json_object(), *targets = json_object(), *raw = json_array();
			for (size_t k = 0; k < NRATIOS; k++) {
				set_path(root, ratios[k].name, num(f[k].median));
				json_t *vals = json_array();
				for (long i = 0; i < n; i++)
					json_array_append_new(vals, num(f[k].v[i]));
				json_object_set_new(spread, ratios[k].name, json_pack(
					"{s:o, s:o, s:o}", "min", num(f[k].min), "max", num(f[k].max),
					"values", vals));
				if (ratios[k].bound)
					json_object_set_new(targets, ratios[k].name, json_pack(
						"{s:f, s:o}", ratios[k].bound, ratios[k].target, "met",
						isnan(f[k].median) ? json_null() :
						json_boolean(met(&ratios[k], f[k].median))));
			}
			for (long i = 0; i < n; i++)
				json_array_append(raw, runs[i]);
			json_object_set_new(root, "spread", spread);
			json_object_set_new(root, "targets", targets);
			json_object_set_new(root, "details", raw);
			ok = bench_print_json(root, 4) == 0;
		} else {
			printf("ant-bench all: %ld run%s%s; each ratio against a floor or peer of the "
			       "same run\n", n, n == 1 ? "" : "s", A.quick ? " (quick: rough)" : "");
			printf("  %-42s %9s %19s %18s\n", "", "median", "spread (min-max)", "target");
			for (size_t k = 0; k < NRATIOS; k++) {
				printf("  %-42s %9.3f %9.3f-%-9.3f", ratios[k].name, f[k].median, f[k].min,
				       f[k].max);
				if (ratios[k].bound)
					printf(" %s %-5g %s\n", strcmp(ratios[k].bound, "at_most") == 0 ?
					       "<=" : ">=", ratios[k].target,
					       isnan(f[k].median) ? "n/a" :
					       met(&ratios[k], f[k].median) ? "met" : "MISSED");
				else
					printf("\n");
			}
		}
	}
	for (long i = 0; i < n; i++)
		json_decref(runs[i]);
	return ok ? 0 : 1;
}

static const struct option all_opts[] = {
	{ "runs", required_argument, NULL, 'n' },
	{ "quick", no_argument, NULL, 'Q' },
	BENCH_COMMON_OPTS,
};

static void all_option(int ch, struct opts *o)
{
	(void)o;
	switch (ch) {
	case 'n': A.runs = bench_opt_long("runs", 1, RUNS_MAX, ""); break;
	case 'Q': A.quick = 1; break;
	}
}

const struct bench_command bench_all = {
	.name = "all", .usage = all_usage, .opts = all_opts,
	.option = all_option, .run = all_main,
};
