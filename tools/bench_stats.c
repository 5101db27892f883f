/* bench_stats.c - ant-bench's clocks, statistics and output: median and p99, grouped digits, JSON, progress on stderr. */
#include <stdlib.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* ---- clocks ---- */

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);   /* a signal cuts it short: the callers look at bench_interrupted */
}

/* ---- statistics ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void bench_median_p99(uint64_t *v, size_t n, uint64_t *median, uint64_t *p99)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	*median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	size_t rank = (n * 99 + 99) / 100;   /* ceil(0.99 n) */
	*p99 = v[rank - 1];
}

struct stats bench_stats(uint64_t *ns, uint64_t *tsc, size_t n)
{
	struct stats s;
	bench_median_p99(ns, n, &s.median_ns, &s.p99_ns);
	bench_median_p99(tsc, n, &s.median_tsc, &s.p99_tsc);
	return s;
}

const char *bench_grouped(uint64_t v, char *buf, size_t len)
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

json_t *bench_stats_json(const struct stats *s, uint64_t floor_ns)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}",
			      "median_ns", (json_int_t)s->median_ns, "p99_ns", (json_int_t)s->p99_ns,
			      "median_tsc", (json_int_t)s->median_tsc,
			      "p99_tsc", (json_int_t)s->p99_tsc);
	if (o && floor_ns > 0)
		json_object_set_new(o, "ratio_to_floor",
				    json_real((double)s->median_ns / (double)floor_ns));
	return o;
}

json_t *bench_us_json(uint64_t ns)
{
	return json_real((double)((ns + 50) / 100) / 10.0);
}

int bench_print_json(json_t *root, int precision)
{
	if (!root)
		return -1;
	int r = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
			   JSON_REAL_PRECISION(precision));
	json_decref(root);
	if (r == 0)
		putchar('\n');
	return r;
}

void bench_print_placement(const struct opts *o, const char *who)
{
	if (o->cpu >= 0)
		printf("  everything on CPU %ld (%s)\n", o->cpu, who);
	else
		printf("  processes placed by the kernel (--cpu N pins them all to one CPU)\n");
	if (o->busy_poll_us)
		printf("  antd busy-polls %ld us after each message (busy_poll_us)\n", o->busy_poll_us);
	if (o->fast_path)
		printf("  fast path on: calls without a data ICA go in lanes past antd\n");
	if (o->lane_spin_us)
		printf("  peers look at their lanes %ld us before they sleep (lane_spin_us)\n",
		       o->lane_spin_us);
}

#define PROGRESS_EVERY_NS 100000000u    /* in place: at most 10 updates a second */

enum { PROGRESS_OFF, PROGRESS_IN_PLACE, PROGRESS_LINES };

static void progress_show(struct progress *p, long done, uint64_t now_ns)
{
	double s = (double)(now_ns - p->t0) / 1e9;
	/* In place: the cursor goes back to the start of the line, so that a
	 * message printed before the line is cleared writes over it. */
	if (p->style == PROGRESS_IN_PLACE && p->total)
		fprintf(stderr, "\r%s: %s: %ld/%ld %s, %.0f s\033[K\r", PROG, p->what, done,
			p->total, p->unit, s);
	else if (p->style == PROGRESS_IN_PLACE)
		fprintf(stderr, "\r%s: %s\033[K\r", PROG, p->what);
	else if (p->total)
		fprintf(stderr, "%s: %s: %ld/%ld %s, %.1f s\n", PROG, p->what, done, p->total,
			p->unit, s);
	else
		fprintf(stderr, "%s: %s\n", PROG, p->what);
	p->shown = p->style == PROGRESS_IN_PLACE;
}

void progress_begin(struct progress *p, enum progress_when when, const char *what,
		    const char *unit, long total)
{
	int tty = isatty(STDERR_FILENO);
	*p = (struct progress){
		.style = when == PROGRESS_NEVER || (when == PROGRESS_AUTO && !tty) ? PROGRESS_OFF :
			 tty ? PROGRESS_IN_PLACE : PROGRESS_LINES,
		.what = what, .unit = unit, .total = total > 0 ? total : 0,
	};
	if (p->style == PROGRESS_OFF)
		return;
	p->t0 = bench_now_ns();
	p->next_ns = p->t0 + PROGRESS_EVERY_NS;
	p->next_tenth = 1;
	progress_show(p, 0, p->t0);
}

void progress_at(struct progress *p, long done, uint64_t now_ns)
{
	if (p->style == PROGRESS_IN_PLACE && p->total && now_ns >= p->next_ns) {
		p->next_ns = now_ns + PROGRESS_EVERY_NS;
		progress_show(p, done, now_ns);
	} else if (p->style == PROGRESS_LINES && p->total && done * 10 >= p->next_tenth * p->total) {
		while (p->next_tenth <= 10 && done * 10 >= p->next_tenth * p->total)
			p->next_tenth++;
		progress_show(p, done, now_ns);
	}
}

void progress_end(struct progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	p->shown = 0;
	p->style = PROGRESS_OFF;
}
