/* fill.c - the fill op's runs: made, written, read and applied (fill.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "areas.h"
#include "fill.h"

#define FILL_LEN_MAX (64ull << 20)   /* a fill moves at most 64 MiB, as fs's read */

int fill_add(struct fill *f, uint64_t src, uint64_t len)
{
	if (len == 0)
		return 0;
	if (f->n) {
		struct fill_run *last = &f->run[f->n - 1];
		if ((src == FILL_ZERO && last->src == FILL_ZERO) ||
		    (src != FILL_ZERO && last->src != FILL_ZERO && last->src + last->len == src)) {
			last->len += len;
			f->total += len;
			return 0;
		}
	}
	if (f->n == FILL_RUNS_MAX)
		return -E2BIG;
	f->run[f->n++] = (struct fill_run){ .src = src, .len = len };
	f->total += len;
	return 0;
}

int fill_format(const struct fill *f, char *buf, size_t size)
{
	size_t at = 0;
	for (unsigned i = 0; i < f->n; i++) {
		int n = f->run[i].src == FILL_ZERO
				? snprintf(buf + at, size - at, "%sz %" PRIu64, i ? " " : "", f->run[i].len)
				: snprintf(buf + at, size - at, "%s%" PRIu64 " %" PRIu64, i ? " " : "",
					   f->run[i].src, f->run[i].len);
		if (n < 0 || (size_t)n >= size - at)
			return -E2BIG;
		at += (size_t)n;
	}
	return (int)at;
}

/* A whole number of decimal digits only (no sign, no spaces), at most max. */
static const char *number(const char *p, const char *end, uint64_t max, uint64_t *v)
{
	if (p == end || *p < '0' || *p > '9')
		return NULL;
	uint64_t x = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (x > (max - (uint64_t)(*p - '0')) / 10)
			return NULL;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return p;
}

int fill_parse(const struct ant_item *it, struct fill *f, const char **why)
{
	static const char shape[] = "fill wants \"SRC LEN\" pairs (SRC an image offset or z), "
				    "at most 64 of them and 64 MiB";
	const char *p = it->params, *end = p ? p + it->nparams : NULL;
	memset(f, 0, sizeof(*f));
	*why = shape;
	if (!p || p == end)
		return -1;
	while (p < end) {
		uint64_t src, len;
		if (*p == 'z') {
			src = FILL_ZERO;
			p++;
		} else if (!(p = number(p, end, INT64_MAX, &src))) {
			return -1;
		}
		if (p == end || *p++ != ' ' || !(p = number(p, end, FILL_LEN_MAX, &len)) || len == 0)
			return -1;
		if (src != FILL_ZERO && src > INT64_MAX - len)
			return -1;   /* past any image */
		if (f->total + len > FILL_LEN_MAX || f->n == FILL_RUNS_MAX)
			return -1;
		f->run[f->n++] = (struct fill_run){ .src = src, .len = len };
		f->total += len;
		if (p < end && (*p++ != ' ' || p == end))
			return -1;
	}
	*why = NULL;
	return 0;
}

int fill_pread(int fd, void *dst, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, (char *)dst + got, n - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (size_t)k;
	}
	return 0;
}

int fill_apply(const struct fill *f, unsigned char *area, fill_copy_fn *copy, void *arg)
{
	unsigned char *dst = area;
	for (unsigned i = 0; i < f->n; i++) {
		const struct fill_run *r = &f->run[i];
		if (r->src == FILL_ZERO) {
			memset(dst, 0, (size_t)r->len);
		} else {
			int e = copy(r->src, (size_t)r->len, dst, arg);
			if (e < 0)
				return e;
		}
		dst += r->len;
	}
	return 0;
}

struct ant_ica *fill_request(struct areas *a, struct ant_conn *c, struct ant_item *it,
			     struct fill *f, int (*map)(const struct fill *f), const char **why)
{
	if (fill_parse(it, f, why) < 0)
		return NULL;
	struct ant_ica *area = areas_take(a, c, it);
	if (!area) {
		*why = "fill wants a writable data ICA for the bytes";
		return NULL;
	}
	if (area->size < f->total) {
		*why = "fill's data ICA is smaller than its runs";
		return NULL;
	}
	if ((!map || map(f)) && (ant_ica_map(c, area) < 0 || !area->writable)) {
		*why = "cannot map fill's data ICA writable";
		return NULL;
	}
	return area;
}
