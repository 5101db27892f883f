/* bench_stats.c - ant-bench's statistics and output: median and p99, grouped digits, JSON. */
#include <stdlib.h>
#include <stdio.h>

#include "bench.h"

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
}
