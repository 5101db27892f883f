/* bench_data.c - ant-bench data: a data ICA of 0 B to 64 MiB through a chain of relays that touch none of its pages, against copying as many bytes through a socket. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "tool_common.h"

#define MAX_SIZES   8
#define SIZE_MAX_MB 1024
#define ITER_MAX    1000000L

static const size_t default_sizes[] = { 0, 4096, 1u << 20, 64u << 20 };

struct data_opts {
	size_t sizes[MAX_SIZES];
	size_t nsizes;
	int iterations_given, warmup_given;
	const char *plot;           /* --plot FILE (.svg or .png), or NULL */
};
static struct data_opts D = { .nsizes = 0 };

static void data_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench data [OPTIONS]\n"
		"Start a private stack of relays relay1 -> ... -> relayN (direct return;\n"
		"each takes data ICAs unmapped and passes them on without touching a\n"
		"page), and time sync calls that carry a data ICA of each size there and\n"
		"back (the app keeps its own mapping; size 0: no data ICA).  Beside each,\n"
		"the floor of the same run: as many bytes copied through a SOCK_STREAM\n"
		"socketpair to a child that reads them all and answers one byte.\n"
		"Prints median and p99 of both, the ICA call over the 4 KiB one, and the\n"
		"copy over the ICA call.\n"
		"\n"
		"  --sizes LIST       comma-separated sizes, each a number with an optional\n"
		"                     K or M suffix, at most %d MiB (default 0,4K,1M,64M)\n"
		"  --depth N          relays in the chain (default 3)\n"
		"  --iterations K     timed calls per size (default 2000; the copies: as\n"
		"                     many as move about the same bytes as 1,000 calls of\n"
		"                     4 KiB, at least 10, at most K)\n"
		"  --warmup W         untimed calls per size first (default 100)\n"
		"  --json             one JSON object: sizes[], and data64m.over_4k and\n"
		"                     data64m.copy_over_ica when 4K and 64M were measured\n"
		"  --plot FILE        also draw time against size, the ICA call beside the\n"
		"                     copy (log-log; FILE ends in .svg or .png; gnuplot)\n"
		"  --antd PATH, --server-path DIRS, --cpu N   as for ant-bench chain\n",
		SIZE_MAX_MB);
	bench_usage_fast_path(f);
	bench_usage_progress(f);
	fprintf(f,
		"  --help             this text\n"
		"\n"
		"Exit status: 0 on success; 1 if the stack failed or a reply was wrong;\n"
		"2 on bad usage.\n");
}

/* "64M" -> 67108864; -1 if not a size within limits. */
static long long parse_size(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || v > (long long)SIZE_MAX_MB << 20)
		return -1;
	return v;
}

static const char *size_label(size_t n, char *buf, size_t len)
{
	if (n == 0)
		snprintf(buf, len, "0 (no data ICA)");
	else if (n % (1u << 20) == 0)
		snprintf(buf, len, "%zu MiB", n >> 20);
	else if (n % 1024 == 0)
		snprintf(buf, len, "%zu KiB", n >> 10);
	else
		snprintf(buf, len, "%zu B", n);
	return buf;
}

/* ---- the floor: copying n bytes through a socket ------------------------------- */

/* A child that reads size bytes from fd, then writes one byte back; again
 * until EOF.  Returns our end, or -1 (printed). */
static int copy_child_start(size_t size, pid_t *pid_out)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "%s: socketpair: %s\n", PROG, strerror(errno));
		return -1;
	}
	struct bench_measure m = { 0 };
	pid_t pid = bench_fork_child(&m);
	if (pid < 0) {
		fprintf(stderr, "%s: %s\n", PROG, m.why);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		static char buf[1 << 20];
		for (;;) {
			size_t got = 0;
			while (got < size) {
				size_t want = size - got < sizeof(buf) ? size - got : sizeof(buf);
				ssize_t n = read(sv[1], buf, want);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					_exit(0);
				got += (size_t)n;
			}
			if (write(sv[1], "k", 1) != 1)
				_exit(0);
		}
	}
	close(sv[1]);
	*pid_out = pid;
	return sv[0];
}

/* One copy of size bytes of src; 0 or -1 (printed unless interrupted). */
static int copy_once(int fd, const char *src, size_t size)
{
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(fd, src + off, size - off);
		if (n < 0 && errno == EINTR && !bench_interrupted)
			continue;
		if (n <= 0) {
			if (!bench_interrupted)
				fprintf(stderr, "%s: copy through a socket: %s\n", PROG,
					n < 0 ? strerror(errno) : "short write");
			return -1;
		}
		off += (size_t)n;
	}
	char k;
	ssize_t n;
	while ((n = read(fd, &k, 1)) < 0 && errno == EINTR && !bench_interrupted)
		;
	if (n != 1) {
		if (!bench_interrupted)
			fprintf(stderr, "%s: copy through a socket: the child did not answer\n", PROG);
		return -1;
	}
	return 0;
}

/* Time n copies of size bytes (after one untimed).  Returns 0 or -1. */
static int time_copies(size_t size, long n, struct stats *out)
{
	pid_t pid = 0;
	int fd = copy_child_start(size, &pid);
	if (fd < 0)
		return -1;
	char *src = malloc(size);
	uint64_t *ns = calloc((size_t)n, sizeof(uint64_t)), *tsc = calloc((size_t)n, sizeof(uint64_t));
	int ok = src && ns && tsc;
	if (!ok)
		fprintf(stderr, "%s: out of memory for %zu bytes to copy\n", PROG, size);
	if (ok)
		memset(src, 'x', size);     /* pages of our own, faulted in before timing */
	ok = ok && copy_once(fd, src, size) == 0;
	for (long i = 0; ok && i < n; i++) {
		uint64_t a = bench_now_ns(), ca = bench_tsc();
		ok = !bench_interrupted && copy_once(fd, src, size) == 0;
		ns[i] = bench_now_ns() - a;
		tsc[i] = bench_tsc() - ca;
	}
	if (ok)
		*out = bench_stats(ns, tsc, (size_t)n);
	close(fd);
	waitpid(pid, NULL, 0);
	free(src);
	free(ns);
	free(tsc);
	return ok ? 0 : -1;
}

/* ---- the ant calls ---------------------------------------------------------------- */

static struct ant_result res;   /* a page: off the stack */

/* One sync call to relay1 with ica (or none); the result must echo arg and
 * bring no area but ica back.  0 or -1 (printed). */
static int ica_call(struct ant_conn *c, struct ant_ica *ica, uint64_t seq)
{
	char arg[32];
	int n = snprintf(arg, sizeof(arg), "data %llu", (unsigned long long)seq);
	struct ant_call call = { .server = "relay1", .op = "echo", .arg = arg, .arglen = (size_t)n,
				 .data = ica, .call_flags = ANT_CF_DIRECT_HINT };
	int r = ant_call_sync(c, &call, &res);
	if (r < 0) {
		if (!bench_interrupted)
			fprintf(stderr, "%s: data call failed: %s (%s)\n", PROG, ant_errname(r),
				ant_strerror(r));
		return -1;
	}
	if (res.len != (size_t)n || memcmp(res.bytes, arg, (size_t)n) != 0) {
		fprintf(stderr, "%s: data call: the reply is not the argument\n", PROG);
		return -1;
	}
	if (res.data && res.data != ica) {
		/* An area came back that is not the one we still hold: a copy, or
		 * antd handed ours over again.  Either would be a bug. */
		fprintf(stderr, "%s: data call: a different data ICA came back (%u.%u)\n", PROG,
			res.data->ref.index, res.data->ref.gen);
		ant_ica_release(c, res.data);
		return -1;
	}
	return 0;
}

struct data_row {
	size_t size;
	struct stats ica, copy;
	long copies;
	int has_copy;
};

static int measure_size(const struct opts *o, struct bench_stack *sr, struct data_row *row)
{
	struct ant_ica *ica = NULL;
	if (row->size) {
		int r = ant_ica_alloc(sr->conn, row->size, &ica);
		if (r < 0) {
			fprintf(stderr, "%s: data ICA of %zu bytes: %s\n", PROG, row->size,
				ant_strerror(r));
			return -1;
		}
		/* Touch every page once, as a writer would have: not timed. */
		memset(ica->addr, 'd', row->size);
	}
	uint64_t *ns = calloc((size_t)o->iterations, sizeof(uint64_t));
	uint64_t *tsc = calloc((size_t)o->iterations, sizeof(uint64_t));
	int ok = ns && tsc;
	char what[64], lab[32];
	snprintf(what, sizeof(what), "data %s", size_label(row->size, lab, sizeof(lab)));
	struct progress p;
	progress_begin(&p, o->progress, what, "calls", o->warmup + o->iterations);
	uint64_t seq = 0;
	for (long i = 0; ok && i < o->warmup; i++) {
		ok = !bench_interrupted && ica_call(sr->conn, ica, ++seq) == 0;
		progress_at(&p, i + 1, bench_now_ns());
	}
	for (long i = 0; ok && i < o->iterations; i++) {
		uint64_t a = bench_now_ns(), ca = bench_tsc();
		ok = !bench_interrupted && ica_call(sr->conn, ica, ++seq) == 0;
		uint64_t b = bench_now_ns();
		ns[i] = b - a;
		tsc[i] = bench_tsc() - ca;
		progress_at(&p, o->warmup + i + 1, b);
	}
	progress_end(&p);
	if (ok)
		row->ica = bench_stats(ns, tsc, (size_t)o->iterations);
	free(ns);
	free(tsc);
	ant_ica_release(sr->conn, ica);
	if (ok && row->size) {
		/* As many bytes as 1,000 calls of 4 KiB, 10 copies at least. */
		long n = (long)((4096ull * 1000) / row->size);
		n = n < 10 ? 10 : n > o->iterations ? o->iterations : n;
		row->copies = n;
		ok = time_copies(row->size, n, &row->copy) == 0;
		row->has_copy = ok;
	}
	return ok ? 0 : -1;
}

static json_t *data_stack(const struct opts *o)
{
	json_t *servers = bench_relay_chain(o->depth, "direct", "--lazy-map");
	return servers ? bench_stack_json("ant-bench-data", servers, "relay1", o) : NULL;
}

static const struct data_row *find_row(const struct data_row *rows, size_t n, size_t size)
{
	for (size_t k = 0; k < n; k++)
		if (rows[k].size == size)
			return &rows[k];
	return NULL;
}

static void print_table(const struct opts *o, const struct data_row *rows, size_t n)
{
	printf("ant-bench data: %ld relays, direct return, %ld calls per size (after %ld "
	       "warm-up); the relays touch no page of the data ICA\n", o->depth, o->iterations,
	       o->warmup);
	bench_print_placement(o, "bench, copy child, antd, relays");
	printf("  %-16s %10s %10s %12s %12s %10s\n", "data ICA", "median", "p99", "copy median",
	       "copy p99", "copy/ICA");
	for (size_t k = 0; k < n; k++) {
		char lab[32];
		printf("  %-16s %7.1f us %7.1f us", size_label(rows[k].size, lab, sizeof(lab)),
		       rows[k].ica.median_ns / 1e3, rows[k].ica.p99_ns / 1e3);
		if (rows[k].has_copy)
			printf(" %9.1f us %9.1f us %9.1fx\n", rows[k].copy.median_ns / 1e3,
			       rows[k].copy.p99_ns / 1e3,
			       (double)rows[k].copy.median_ns / (double)rows[k].ica.median_ns);
		else
			printf(" %12s %12s %10s\n", "-", "-", "-");
	}
	const struct data_row *k4 = find_row(rows, n, 4096), *m64 = find_row(rows, n, 64u << 20);
	if (k4 && m64)
		printf("  64 MiB over 4 KiB: %.2f (target at most 2); copying 64 MiB through a "
		       "socket over the 64 MiB ICA call: %.1fx (target at least 20x)\n",
		       (double)m64->ica.median_ns / (double)k4->ica.median_ns,
		       (double)m64->copy.median_ns / (double)m64->ica.median_ns);
}

static int print_json(const struct opts *o, const struct data_row *rows, size_t n)
{
	json_t *root = json_pack("{s:s, s:I, s:s, s:I, s:I}", "benchmark", "data",
				 "depth", (json_int_t)o->depth, "return", "direct",
				 "iterations", (json_int_t)o->iterations,
				 "warmup", (json_int_t)o->warmup);
	json_t *arr = json_array();
	for (size_t k = 0; root && arr && k < n; k++) {
		json_t *one = json_pack("{s:I, s:o}", "bytes", (json_int_t)rows[k].size, "ica",
					bench_stats_json(&rows[k].ica, 0));
		if (rows[k].has_copy) {
			json_t *cp = bench_stats_json(&rows[k].copy, 0);
			json_object_set_new(cp, "samples", json_integer(rows[k].copies));
			json_object_set_new(one, "socket_copy", cp);
			json_object_set_new(one, "copy_over_ica",
					    json_real((double)rows[k].copy.median_ns /
						      (double)rows[k].ica.median_ns));
		}
		json_array_append_new(arr, one);
	}
	json_object_set_new(root, "sizes", arr);
	const struct data_row *k4 = find_row(rows, n, 4096), *m64 = find_row(rows, n, 64u << 20);
	if (k4 && m64)
		json_object_set_new(root, "data64m", json_pack("{s:f, s:f}",
			"over_4k", (double)m64->ica.median_ns / (double)k4->ica.median_ns,
			"copy_over_ica", (double)m64->copy.median_ns / (double)m64->ica.median_ns));
	return bench_print_json(root, 4);
}

/* Median (and p99 as error bars) of the ICA call and of the copy against
 * the size, log-log, by gnuplot into D.plot.  Returns 0 or -1 (printed). */
static int plot(const struct opts *o, const struct data_row *rows, size_t n)
{
	const char *ext = strrchr(D.plot, '.');
	const char *term = ext && strcmp(ext, ".png") == 0 ? "pngcairo size 800,500" :
			   "svg size 800,500 dynamic";
	FILE *gp = popen("gnuplot", "w");
	if (!gp) {
		fprintf(stderr, "%s: --plot: cannot run gnuplot: %s\n", PROG, strerror(errno));
		return -1;
	}
	fprintf(gp, "set terminal %s\nset output '%s'\nset logscale xy\nset grid\n"
		"set key top left\nset xlabel 'bytes carried'\nset ylabel 'us per call'\n"
		"set title 'A data ICA through %ld relays (none touches a page) vs. copying "
		"through a socket'\n"
		"plot '-' using 1:2:3 with yerrorlines title 'ant call with a data ICA "
		"(median, p99)', '-' using 1:2:3 with yerrorlines title 'copy through a "
		"SOCK_STREAM socketpair (median, p99)'\n", term, D.plot, o->depth);
	for (size_t k = 0; k < n; k++)
		if (rows[k].size)
			fprintf(gp, "%zu %.3f %.3f\n", rows[k].size, rows[k].ica.median_ns / 1e3,
				rows[k].ica.p99_ns / 1e3);
	fprintf(gp, "e\n");
	for (size_t k = 0; k < n; k++)
		if (rows[k].has_copy)
			fprintf(gp, "%zu %.3f %.3f\n", rows[k].size, rows[k].copy.median_ns / 1e3,
				rows[k].copy.p99_ns / 1e3);
	fprintf(gp, "e\n");
	int st = pclose(gp);
	if (st != 0) {
		fprintf(stderr, "%s: --plot: gnuplot failed (is it installed? apt-get install "
			"gnuplot-nox)\n", PROG);
		return -1;
	}
	return 0;
}

static int data_main(const struct opts *o)
{
	struct data_row rows[MAX_SIZES];
	size_t n = D.nsizes ? D.nsizes : sizeof(default_sizes) / sizeof(default_sizes[0]);
	memset(rows, 0, sizeof(rows));
	for (size_t k = 0; k < n; k++)
		rows[k].size = D.nsizes ? D.sizes[k] : default_sizes[k];
	struct bench_stack sr = { .conn = NULL };
	json_t *stack = data_stack(o);
	int ok = bench_stack_start(&sr, o, stack, "relay1") == 0;
	json_decref(stack);
	if (ok)
		ant_set_lazy_map(sr.conn, 0);   /* our own areas are mapped by alloc anyway */
	for (size_t k = 0; ok && k < n; k++)
		ok = measure_size(o, &sr, &rows[k]) == 0;
	ok = bench_stack_end(&sr, ok);
	if (!ok)
		return 1;
	if (D.plot && plot(o, rows, n) < 0)
		return 1;
	if (o->json)
		return print_json(o, rows, n) == 0 ? 0 : 1;
	print_table(o, rows, n);
	return 0;
}

static const struct option data_opts[] = {
	{ "sizes", required_argument, NULL, 'S' },
	{ "depth", required_argument, NULL, 'd' },
	{ "iterations", required_argument, NULL, 'i' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "plot", required_argument, NULL, 'p' },
	BENCH_COMMON_OPTS,
};

static void data_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'S': {
		long long sizes[MAX_SIZES];
		D.nsizes = bench_opt_list("sizes", parse_size, sizes, MAX_SIZES,
					  "a size of at most 1024 MiB (a number, K or M)");
		for (size_t k = 0; k < D.nsizes; k++)
			D.sizes[k] = (size_t)sizes[k];
		break;
	}
	case 'p': {
		const char *ext = strrchr(optarg, '.');
		if (!ext || (strcmp(ext, ".svg") != 0 && strcmp(ext, ".png") != 0))
			tool_usage_error(PROG, "--plot: '%s' should end in .svg or .png", optarg);
		D.plot = optarg;
		break;
	}
	case 'd': o->depth = bench_opt_long("depth", 1, ANT_FRAMES_MAX, " relays"); break;
	case 'i':
		o->iterations = bench_opt_long("iterations", 1, ITER_MAX, "");
		D.iterations_given = 1;
		break;
	case 'w':
		o->warmup = bench_opt_long("warmup", 0, ITER_MAX, "");
		D.warmup_given = 1;
		break;
	}
}

/* This command's own defaults, where they differ from chain's. */
static void data_finish(struct opts *o)
{
	if (!D.iterations_given)
		o->iterations = 2000;
	if (!D.warmup_given)
		o->warmup = 100;
}

const struct bench_command bench_data = {
	.name = "data", .usage = data_usage, .opts = data_opts,
	.option = data_option, .finish = data_finish, .run = data_main,
};
