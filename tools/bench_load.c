/* bench_load.c - ant-bench load: calls per second through a chain with 1, 4, 16 apps at once, antd's CPU per call, and the memory of antd and its servers, per server and per call in flight. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/proto.h"
#include "bench.h"
#include "tool_common.h"

#define APPS_MAX      64
#define MAX_COUNTS    8
#define INFLIGHT_MAX  1000     /* under antd's 1024 calls in flight per peer */
#define HOLD_MS       3000     /* the holder sleeps on its first call this long */

static struct {
	long long apps[MAX_COUNTS];
	size_t napps;
	double seconds;
	long inflight;
	int seconds_given;
} L = { .napps = 0, .seconds = 2.0, .inflight = INFLIGHT_MAX };

static void load_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench load [OPTIONS]\n"
		"Start a private stack of relays relay1 -> ... -> relayN (direct return)\n"
		"and a holder, then:\n"
		"  - for each count of apps, that many threads, each with its own\n"
		"    connection, make sync calls to relay1 without pause for a few\n"
		"    seconds: calls per second in all, and antd's CPU time per call\n"
		"    (from /proc: user + system);\n"
		"  - the memory (PSS, /proc/PID/smaps_rollup) of antd and of each server\n"
		"    at rest, and antd's growth per call in flight: one app sends async\n"
		"    calls to the holder, which sleeps %d ms on the first, so that the\n"
		"    others wait in antd's request queue; (antd's PSS with them - without)\n"
		"    / calls; then they are cancelled.\n"
		"\n"
		"  --apps LIST        comma-separated counts of apps (default 1,4,16; each\n"
		"                     1 to %d)\n"
		"  --seconds S        how long each count runs (default 2, 0.2 to 60)\n"
		"  --inflight K       calls in flight for the memory figure (default %d,\n"
		"                     1 to %d)\n"
		"  --depth N          relays in the chain (default 3)\n"
		"  --json             one JSON object; throughput.apps16_over_apps1 when\n"
		"                     1 and 16 were measured\n"
		"  --antd PATH, --server-path DIRS, --cpu N   as for ant-bench chain\n",
		HOLD_MS, APPS_MAX, INFLIGHT_MAX, INFLIGHT_MAX);
	bench_usage_fast_path(f);
	bench_usage_progress(f);
	fprintf(f,
		"  --help             this text\n"
		"\n"
		"Exit status: 0 on success; 1 if the stack failed or a reply was wrong;\n"
		"2 on bad usage.\n");
}

/* ---- /proc ---------------------------------------------------------------------- */

/* utime + stime of pid, in ns; 0 if unreadable. */
static uint64_t proc_cpu_ns(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');   /* the name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return 0;
	long hz = sysconf(_SC_CLK_TCK);
	return (uint64_t)(ut + st) * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
}

/* A field in kB of /proc/PID/FILE ("Pss:"); -1 if unreadable. */
static long proc_kb(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0) {
			v = strtol(line + kl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* ---- many apps at once ------------------------------------------------------------- */

struct app_thread {
	pthread_t t;
	const char *run_dir;
	atomic_int *go, *stop;
	long calls;
	int failed;
	char why[160];
};

static void *app_main(void *arg)
{
	struct app_thread *a = arg;
	static __thread struct ant_result res;
	struct ant_conn *c = NULL;
	int r = ant_connect(a->run_dir, &c);
	if (r < 0) {
		snprintf(a->why, sizeof(a->why), "connect: %s", ant_strerror(r));
		a->failed = 1;
		return NULL;
	}
	while (!atomic_load(a->go) && !atomic_load(a->stop))
		bench_sleep_us(100);
	char arg_[32];
	for (uint64_t seq = 1; !atomic_load(a->stop); seq++) {
		int n = snprintf(arg_, sizeof(arg_), "load %llu", (unsigned long long)seq);
		struct ant_call call = { .server = "relay1", .op = "echo", .arg = arg_,
					 .arglen = (size_t)n, .call_flags = ANT_CF_DIRECT_HINT };
		r = ant_call_sync(c, &call, &res);
		if (r < 0 || res.len != (size_t)n || memcmp(res.bytes, arg_, (size_t)n) != 0) {
			snprintf(a->why, sizeof(a->why), "call %llu: %s", (unsigned long long)seq,
				 r < 0 ? ant_strerror(r) : "the reply is not the argument");
			a->failed = 1;
			break;
		}
		a->calls++;
	}
	ant_close(c);
	return NULL;
}

struct rate_row {
	long apps;
	long calls;
	double seconds;
	double per_s;
	double antd_cpu_us_per_call;
};

static int run_apps(const struct opts *o, struct bench_stack *sr, long apps, struct rate_row *row)
{
	struct app_thread *a = calloc((size_t)apps, sizeof(*a));
	atomic_int go = 0, stop = 0;
	if (!a) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return -1;
	}
	long started = 0;
	for (; started < apps; started++) {
		a[started] = (struct app_thread){ .run_dir = sr->run.dir, .go = &go, .stop = &stop };
		if (pthread_create(&a[started].t, NULL, app_main, &a[started]) != 0) {
			fprintf(stderr, "%s: cannot start app thread %ld\n", PROG, started + 1);
			break;
		}
	}
	int ok = started == apps;
	char what[48];
	snprintf(what, sizeof(what), "load, %ld app%s", apps, apps == 1 ? "" : "s");
	struct progress p;
	progress_begin(&p, o->progress, what, NULL, 0);
	/* Let every thread connect and make its first calls, then count. */
	atomic_store(&go, 1);
	bench_sleep_us(200000);
	long c0 = 0, c1 = 0;
	for (long i = 0; i < started; i++)
		c0 += __atomic_load_n(&a[i].calls, __ATOMIC_RELAXED);
	uint64_t cpu0 = proc_cpu_ns(sr->run.antd), t0 = bench_now_ns();
	uint64_t end = t0 + (uint64_t)(L.seconds * 1e9);
	while (ok && !bench_interrupted && bench_now_ns() < end)
		bench_sleep_us(20000);
	for (long i = 0; i < started; i++)
		c1 += __atomic_load_n(&a[i].calls, __ATOMIC_RELAXED);
	uint64_t t1 = bench_now_ns(), cpu1 = proc_cpu_ns(sr->run.antd);
	atomic_store(&stop, 1);
	for (long i = 0; i < started; i++) {
		pthread_join(a[i].t, NULL);
		if (a[i].failed) {
			fprintf(stderr, "%s: app %ld: %s\n", PROG, i + 1, a[i].why);
			ok = 0;
		}
	}
	progress_end(&p);
	free(a);
	if (bench_interrupted)
		ok = 0;
	if (ok) {
		row->apps = apps;
		row->calls = c1 - c0;
		row->seconds = (double)(t1 - t0) / 1e9;
		row->per_s = (double)row->calls / row->seconds;
		row->antd_cpu_us_per_call = row->calls ? (double)(cpu1 - cpu0) / 1e3 / (double)row->calls : 0;
	}
	return ok ? 0 : -1;
}

/* ---- memory ---------------------------------------------------------------------------- */

struct mem {
	long antd_pss_kb;
	long n;
	struct { char name[ANT_NAME_MAX]; long pss_kb, rss_kb; } srv[ANT_SERVERS_MAX];
	long inflight;
	double antd_kb_per_call;
};

static int read_servers(struct bench_stack *sr, struct mem *m)
{
	struct ctl_conn c;
	if (bench_ctl_open(&c, sr) < 0)
		return -1;
	json_t *st = bench_ctl_ask(&c, json_pack("{s:s}", "cmd", "status"));
	ctl_close(&c);
	json_t *arr = json_object_get(st, "servers"), *v;
	size_t i;
	m->n = 0;
	json_array_foreach(arr, i, v) {
		if (m->n == ANT_SERVERS_MAX)
			break;
		pid_t pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
		snprintf(m->srv[m->n].name, ANT_NAME_MAX, "%s",
			 json_string_value(json_object_get(v, "name")) ?: "?");
		m->srv[m->n].pss_kb = pid > 0 ? proc_kb(pid, "smaps_rollup", "Pss:") : -1;
		m->srv[m->n].rss_kb = pid > 0 ? proc_kb(pid, "status", "VmRSS:") : -1;
		m->n++;
	}
	json_decref(st);
	return st ? 0 : -1;
}

/* Calls queued in antd: their cost to antd, from its PSS. */
static int measure_inflight(const struct opts *o, struct bench_stack *sr, struct mem *m)
{
	uint64_t *tickets = calloc((size_t)L.inflight, sizeof(uint64_t));
	if (!tickets)
		return -1;
	struct progress p;
	progress_begin(&p, o->progress, "memory per call in flight", NULL, 0);
	long before = proc_kb(sr->run.antd, "smaps_rollup", "Pss:");
	long sent = 0;
	int ok = 1;
	for (; ok && sent < L.inflight; sent++) {
		char arg[32];
		int n = snprintf(arg, sizeof(arg), "held %ld", sent);
		struct ant_call call = { .server = "holder", .op = "echo", .arg = arg,
					 .arglen = (size_t)n };
		int r = ant_call_async(sr->conn, &call, &tickets[sent]);
		if (r < 0) {
			fprintf(stderr, "%s: async call %ld: %s\n", PROG, sent + 1, ant_strerror(r));
			ok = 0;
		}
	}
	bench_sleep_us(100000);     /* let antd take them all in */
	long after = proc_kb(sr->run.antd, "smaps_rollup", "Pss:");
	/* Every call gets exactly one result: cancelled, or the held one's. */
	for (long i = 0; i < sent; i++)
		ant_cancel(sr->conn, tickets[i]);
	static struct ant_result res;
	for (long i = 0; ok && i < sent; i++) {
		int r = ant_wait(sr->conn, tickets[i], &res, HOLD_MS + 5000);
		if (r < 0) {
			fprintf(stderr, "%s: result of cancelled call %ld: %s\n", PROG, i + 1,
				ant_strerror(r));
			ok = 0;
		} else if (res.data) {
			ant_ica_release(sr->conn, res.data);
		}
	}
	progress_end(&p);
	free(tickets);
	m->inflight = sent;
	m->antd_kb_per_call = sent && before >= 0 && after >= 0 ? (double)(after - before) / (double)sent : 0;
	return ok ? 0 : -1;
}

/* ---- the run ----------------------------------------------------------------------------- */

static json_t *load_stack(const struct opts *o)
{
	json_t *servers = bench_relay_chain(o->depth, "direct", NULL);
	char pause[16];
	snprintf(pause, sizeof(pause), "%d", HOLD_MS);
	json_array_append_new(servers, json_pack("{s:s, s:s, s:[s, s], s:{s:i}}", "name", "holder",
						 "exec", "relay", "args", "--pause-ms", pause,
						 "supervision", "deadline_ms", HOLD_MS * 4));
	json_t *root = servers ? bench_stack_json("ant-bench-load", servers, "relay1", o) : NULL;
	json_t *calls = json_object_get(json_object_get(root, "apps"), "calls");
	json_array_append_new(calls, json_string("holder"));
	return root;
}

static const struct rate_row *find_rate(const struct rate_row *r, size_t n, long apps)
{
	for (size_t k = 0; k < n; k++)
		if (r[k].apps == apps)
			return &r[k];
	return NULL;
}

static void print_table(const struct opts *o, const struct rate_row *r, size_t n,
			const struct mem *m)
{
	printf("ant-bench load: %ld relays, direct return, %.1f s per count of apps\n", o->depth,
	       L.seconds);
	bench_print_placement(o, "apps, antd, relays");
	printf("  %-6s %12s %10s %16s\n", "apps", "calls/s", "x 1 app", "antd CPU/call");
	const struct rate_row *one = find_rate(r, n, 1);
	for (size_t k = 0; k < n; k++) {
		printf("  %-6ld %12.0f", r[k].apps, r[k].per_s);
		if (one)
			printf(" %9.2fx", r[k].per_s / one->per_s);
		else
			printf(" %10s", "-");
		printf(" %13.1f us\n", r[k].antd_cpu_us_per_call);
	}
	printf("  memory at rest (PSS, RSS): antd %ld kB", m->antd_pss_kb);
	for (long i = 0; i < m->n; i++)
		printf("; %s %ld kB, %ld kB", m->srv[i].name, m->srv[i].pss_kb, m->srv[i].rss_kb);
	printf("\n  antd per call in flight: %.2f kB (%ld calls queued)\n", m->antd_kb_per_call,
	       m->inflight);
}

static int print_json(const struct opts *o, const struct rate_row *r, size_t n, const struct mem *m)
{
	json_t *root = json_pack("{s:s, s:I, s:f}", "benchmark", "load", "depth",
				 (json_int_t)o->depth, "seconds", L.seconds);
	json_t *rows = json_array(), *tp = json_object();
	for (size_t k = 0; k < n; k++) {
		json_array_append_new(rows, json_pack("{s:I, s:I, s:f, s:f, s:f}", "apps",
			(json_int_t)r[k].apps, "calls", (json_int_t)r[k].calls, "seconds", r[k].seconds,
			"calls_per_s", r[k].per_s, "antd_cpu_us_per_call", r[k].antd_cpu_us_per_call));
	}
	json_object_set_new(tp, "rows", rows);
	const struct rate_row *one = find_rate(r, n, 1), *sixteen = find_rate(r, n, 16);
	if (one && sixteen)
		json_object_set_new(tp, "apps16_over_apps1", json_real(sixteen->per_s / one->per_s));
	if (one)
		json_object_set_new(tp, "antd_cpu_us_per_call", json_real(one->antd_cpu_us_per_call));
	json_object_set_new(root, "throughput", tp);
	json_t *srv = json_object();
	for (long i = 0; i < m->n; i++)
		json_object_set_new(srv, m->srv[i].name, json_pack("{s:I, s:I}", "pss_kb",
			(json_int_t)m->srv[i].pss_kb, "rss_kb", (json_int_t)m->srv[i].rss_kb));
	json_object_set_new(root, "memory", json_pack("{s:I, s:o, s:I, s:f}",
		"antd_pss_kb", (json_int_t)m->antd_pss_kb, "servers", srv,
		"inflight_calls", (json_int_t)m->inflight,
		"antd_kb_per_call_in_flight", m->antd_kb_per_call));
	return bench_print_json(root, 4);
}

static int load_main(const struct opts *o)
{
	static const long default_apps[] = { 1, 4, 16 };
	size_t n = L.napps ? L.napps : 3;
	struct rate_row rows[MAX_COUNTS];
	struct mem m;
	memset(rows, 0, sizeof(rows));
	memset(&m, 0, sizeof(m));
	struct bench_stack sr = { .conn = NULL };
	json_t *stack = load_stack(o);
	int ok = bench_stack_start(&sr, o, stack, "relay1") == 0;
	json_decref(stack);
	for (size_t k = 0; ok && k < n; k++)
		ok = run_apps(o, &sr, L.napps ? L.apps[k] : default_apps[k], &rows[k]) == 0;
	if (ok) {
		m.antd_pss_kb = proc_kb(sr.run.antd, "smaps_rollup", "Pss:");
		ok = read_servers(&sr, &m) == 0 && measure_inflight(o, &sr, &m) == 0;
	}
	ok = bench_stack_end(&sr, ok);
	if (!ok)
		return 1;
	if (o->json)
		return print_json(o, rows, n, &m) == 0 ? 0 : 1;
	print_table(o, rows, n, &m);
	return 0;
}

static const struct option load_opts[] = {
	{ "apps", required_argument, NULL, 'A' },
	{ "seconds", required_argument, NULL, 'T' },
	{ "inflight", required_argument, NULL, 'I' },
	{ "depth", required_argument, NULL, 'd' },
	BENCH_COMMON_OPTS,
};

/* A count of apps, or -1. */
static long long parse_apps(const char *t)
{
	long v;
	return tool_parse_long(t, 1, APPS_MAX, &v) < 0 ? -1 : v;
}

static void load_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'A':
		L.napps = bench_opt_list("apps", parse_apps, L.apps, MAX_COUNTS,
					 "a count of apps of 1 to 64");
		break;
	case 'T': {
		char *end;
		errno = 0;
		double s = strtod(optarg, &end);
		if (errno || end == optarg || *end || !(s >= 0.2 && s <= 60))
			tool_usage_error(PROG, "--seconds: expected 0.2 to 60, got '%s'", optarg);
		L.seconds = s;
		break;
	}
	case 'I': L.inflight = bench_opt_long("inflight", 1, INFLIGHT_MAX, " calls"); break;
	case 'd': o->depth = bench_opt_long("depth", 1, ANT_FRAMES_MAX - 1, " relays"); break;
	}
}

const struct bench_command bench_load = {
	.name = "load", .usage = load_usage, .opts = load_opts,
	.option = load_option, .run = load_main,
};
