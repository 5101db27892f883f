/* ica_table.c - antd's table of data ICAs: ids, holders, in-flight references, the pool. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/ica_area.h"
#include "ica_table.h"

void ica_table_init(struct ica_table *t, size_t live_limit, size_t pool_limit)
{
	memset(t, 0, sizeof(*t));
	t->live_limit = live_limit;
	t->pool_limit = pool_limit;
}

static void entry_close(struct ica_entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->ro_fd >= 0)
		close(e->ro_fd);
	e->fd = e->ro_fd = -1;
}

void ica_table_fini(struct ica_table *t)
{
	for (unsigned c = 0; c < ICA_CLASSES; c++)
		for (unsigned i = 0; i < t->nstock[c]; i++)
			close(t->stock[c][i]);
	for (uint32_t i = 0; i < t->n; i++) {
		entry_close(&t->e[i]);
		free(t->e[i].holders);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

int ica_stock_one(struct ica_table *t)
{
	long ps = sysconf(_SC_PAGESIZE);
	for (unsigned c = ICA_STOCK_MIN_CLASS; c <= ICA_STOCK_MAX_CLASS; c++) {
		size_t sz = ((size_t)1 << c) * (size_t)ps;
		if (!t->stock_wanted[c] || t->nstock[c] == ICA_STOCK_PER_CLASS ||
		    t->stock_bytes + sz > ICA_STOCK_BYTES)
			continue;
		int fd = ant_area_create(sz);
		if (fd < 0)
			return 0;
		/* Allocate its pages now, while antd is idle: the peer's first
		 * write then finds them (fresh zeroed pages, never seen by anyone). */
		if (fallocate(fd, 0, 0, (off_t)sz) < 0) {
			close(fd);
			t->stock_wanted[c] = 0;   /* no memory, or a file system without it */
			return 0;
		}
		t->stock[c][t->nstock[c]++] = fd;
		t->stock_bytes += sz;
		return 1;
	}
	return 0;
}

static unsigned size_class(size_t pages)
{
	unsigned c = 0;
	while (((size_t)1 << c) < pages)
		c++;
	return c;
}

/* Make room for one more element in arr (cap elements of size elem): doubles
 * cap, starting at first.  Returns the array, moved perhaps, with *cap
 * updated; NULL (arr and *cap untouched) when out of memory. */
/* Room for one more in *arr (an array of *cap elements of elem bytes, full):
 * doubles it (first: the first size).  Returns 0, or -ENOMEM (*arr unchanged). */
static int grow(void *arr, unsigned *cap, size_t elem, unsigned first)
{
	void **pa = arr;
	unsigned n = *cap ? *cap * 2 : first;
	if (n < *cap || n > SIZE_MAX / elem)
		return -ENOMEM;
	void *p = realloc(*pa, n * elem);
	if (!p)
		return -ENOMEM;
	*pa = p;
	*cap = n;
	return 0;
}

static int new_slot(struct ica_table *t, uint32_t *idx)
{
	if (t->free_slots) {
		*idx = t->free_slots - 1;
		t->free_slots = t->e[*idx].next_free;
		return 0;
	}
	if (t->n == t->cap && grow(&t->e, &t->cap, sizeof(*t->e), 64) < 0)
		return -ENOMEM;
	*idx = t->n++;
	memset(&t->e[*idx], 0, sizeof(t->e[*idx]));
	t->e[*idx].fd = t->e[*idx].ro_fd = -1;
	return 0;
}

static int add_holder(struct ica_entry *e, uint64_t key, int ro)
{
	for (unsigned i = 0; i < e->nholders; i++) {
		if (e->holders[i].key == key) {
			if (!ro)
				e->holders[i].ro = 0;
			return 0;
		}
	}
	if (e->nholders == e->cap && grow(&e->holders, &e->cap, sizeof(*e->holders), 4) < 0)
		return -ENOMEM;
	e->holders[e->nholders].key = key;
	e->holders[e->nholders].ro = (uint8_t)!!ro;
	e->nholders++;
	return 0;
}

int ica_alloc(struct ica_table *t, size_t size, uint64_t holder,
	      struct ant_ica_ref *ref, int *fd_out)
{
	size_t sz = ant_area_round(size);
	if (!sz)
		return -EINVAL;
	long ps = sysconf(_SC_PAGESIZE);
	unsigned cls = size_class(sz / (size_t)ps);
	if (cls >= ICA_CLASSES)
		return -EFBIG;
	sz = ((size_t)1 << cls) * (size_t)ps;
	if (t->live_bytes + sz > t->live_limit)
		return -ENOSPC;

	uint32_t idx = 0;
	struct ica_entry *e = NULL;
	/* A pooled area of this class that only this holder ever saw. */
	for (uint32_t *link = &t->pool[cls]; *link; link = &t->e[*link - 1].next_free) {
		if (t->e[*link - 1].owner == holder) {
			idx = *link - 1;
			e = &t->e[idx];
			*link = e->next_free;
			t->pooled_bytes -= e->size;
			t->recycled++;
			break;
		}
	}
	if (!e) {
		int r = new_slot(t, &idx);
		if (r < 0)
			return r;
		e = &t->e[idx];
		if (cls >= ICA_STOCK_MIN_CLASS && cls <= ICA_STOCK_MAX_CLASS)
			t->stock_wanted[cls] = 1;
		int fd;
		if (t->nstock[cls]) {
			fd = t->stock[cls][--t->nstock[cls]];
			t->stock_bytes -= sz;
			t->stocked++;
		} else {
			fd = ant_area_create(sz);
		}
		if (fd < 0) {
			e->next_free = t->free_slots;
			t->free_slots = idx + 1;
			return fd;
		}
		e->fd = fd;
		e->size = sz;
		t->created++;
	}
	/* Generations start at 1 and skip 0 on wrap: 0 means "no ICA". */
	if (++t->next_gen == 0)
		t->next_gen = 1;
	e->gen = t->next_gen;
	e->refs = 0;
	e->nholders = 0;
	e->sealed = 0;
	e->shared = 0;
	e->owner = holder;
	e->next_free = 0;
	int r = add_holder(e, holder, 0);
	if (r < 0) {
		e->gen = 0;
		e->next_free = t->free_slots;
		entry_close(e);
		t->free_slots = idx + 1;
		return r;
	}
	t->live_bytes += e->size;
	ref->index = idx;
	ref->gen = e->gen;
	ref->size = e->size;
	*fd_out = e->fd;
	return 0;
}

struct ica_entry *ica_lookup(struct ica_table *t, const struct ant_ica_ref *ref)
{
	if (ref->gen == 0 || ref->index >= t->n)
		return NULL;
	struct ica_entry *e = &t->e[ref->index];
	if (e->gen != ref->gen || e->size != ref->size)
		return NULL;
	return e;
}

int ica_holds(struct ica_table *t, const struct ant_ica_ref *ref, uint64_t holder)
{
	struct ica_entry *e = ica_lookup(t, ref);
	if (!e)
		return -1;
	for (unsigned i = 0; i < e->nholders; i++)
		if (e->holders[i].key == holder)
			return e->holders[i].ro;
	return -1;
}

/* Nobody holds or carries it: scrub it into the pool, or destroy it. */
static void maybe_free(struct ica_table *t, uint32_t idx)
{
	struct ica_entry *e = &t->e[idx];
	if (e->nholders || e->refs || !e->gen)
		return;
	t->live_bytes -= e->size;
	e->gen = 0;
	long ps = sysconf(_SC_PAGESIZE);
	unsigned cls = size_class(e->size / (size_t)ps);
	if (!e->sealed && !e->shared && t->pooled_bytes + e->size <= t->pool_limit &&
	    ant_area_scrub(e->fd, e->size) == 0) {
		if (e->ro_fd >= 0)
			close(e->ro_fd);
		e->ro_fd = -1;
		e->next_free = t->pool[cls];
		t->pool[cls] = idx + 1;
		t->pooled_bytes += e->size;
		return;
	}
	entry_close(e);
	e->size = 0;
	e->next_free = t->free_slots;
	t->free_slots = idx + 1;
}

int ica_hold(struct ica_table *t, const struct ant_ica_ref *ref, uint64_t holder, int ro)
{
	struct ica_entry *e = ica_lookup(t, ref);
	if (!e)
		return -ENOENT;
	if (e->sealed)
		ro = 1;
	if (ro && !e->sealed) {
		int r = ant_area_seal_ro(e->fd);
		if (r < 0)
			return r;
		e->sealed = 1;
	}
	if (ro && e->ro_fd < 0) {
		int fd = ant_area_reopen_ro(e->fd);
		if (fd < 0)
			return fd;
		e->ro_fd = fd;
	}
	int r = add_holder(e, holder, ro);
	if (r < 0)
		return r;
	if (holder != e->owner)
		e->shared = 1;
	return ro ? e->ro_fd : e->fd;
}

void ica_unhold(struct ica_table *t, const struct ant_ica_ref *ref, uint64_t holder)
{
	struct ica_entry *e = ica_lookup(t, ref);
	if (!e)
		return;
	for (unsigned i = 0; i < e->nholders; i++) {
		if (e->holders[i].key == holder) {
			e->holders[i] = e->holders[--e->nholders];
			break;
		}
	}
	maybe_free(t, ref->index);
}

/* Destroy the pooled areas that holder owned: nobody else may get them. */
static void purge_pool(struct ica_table *t, uint64_t holder)
{
	for (unsigned cls = 0; cls < ICA_CLASSES; cls++) {
		uint32_t *link = &t->pool[cls];
		while (*link) {
			struct ica_entry *e = &t->e[*link - 1];
			if (e->owner != holder) {
				link = &e->next_free;
				continue;
			}
			uint32_t idx = *link - 1;
			*link = e->next_free;
			t->pooled_bytes -= e->size;
			entry_close(e);
			e->size = 0;
			e->next_free = t->free_slots;
			t->free_slots = idx + 1;
		}
	}
}

void ica_unhold_all(struct ica_table *t, uint64_t holder)
{
	for (uint32_t i = 0; i < t->n; i++) {
		struct ica_entry *e = &t->e[i];
		if (!e->gen)
			continue;
		for (unsigned j = 0; j < e->nholders; j++) {
			if (e->holders[j].key == holder) {
				e->holders[j] = e->holders[--e->nholders];
				break;
			}
		}
		maybe_free(t, i);
	}
	purge_pool(t, holder);
}

void ica_ref(struct ica_table *t, const struct ant_ica_ref *ref)
{
	struct ica_entry *e = ica_lookup(t, ref);
	if (e)
		e->refs++;
}

void ica_unref(struct ica_table *t, const struct ant_ica_ref *ref)
{
	struct ica_entry *e = ica_lookup(t, ref);
	if (e && e->refs) {
		e->refs--;
		maybe_free(t, ref->index);
	}
}

unsigned ica_live_count(const struct ica_table *t)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < t->n; i++)
		n += t->e[i].gen != 0;
	return n;
}

/* ---- a re-exec of antd: the table rebuilt entry by entry -------------------- */

static int reach(struct ica_table *t, uint32_t idx)
{
	if (idx > (1u << 26))
		return -EINVAL;
	while (t->n <= idx) {
		if (t->n == t->cap && grow(&t->e, &t->cap, sizeof(*t->e), 64) < 0)
			return -ENOMEM;
		memset(&t->e[t->n], 0, sizeof(t->e[t->n]));
		t->e[t->n].fd = t->e[t->n].ro_fd = -1;
		t->n++;
	}
	return t->e[idx].fd >= 0 || t->e[idx].gen ? -EEXIST : 0;
}

int ica_adopt(struct ica_table *t, uint32_t idx, const struct ica_entry *src)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (src->fd < 0 || !src->size || src->size % (size_t)ps ||
	    size_class(src->size / (size_t)ps) >= ICA_CLASSES)
		return -EINVAL;
	int r = reach(t, idx);
	if (r < 0)
		return r;
	struct ica_entry *e = &t->e[idx];
	*e = *src;
	e->holders = NULL;
	e->nholders = e->cap = 0;
	e->next_free = 0;
	for (unsigned i = 0; i < src->nholders; i++)
		if ((r = add_holder(e, src->holders[i].key, src->holders[i].ro)) < 0)
			return r;
	if (e->gen) {
		t->live_bytes += e->size;
		return 0;
	}
	/* Scrubbed, in the pool of its class. */
	unsigned cls = size_class(e->size / (size_t)ps);
	e->next_free = t->pool[cls];
	t->pool[cls] = idx + 1;
	t->pooled_bytes += e->size;
	return 0;
}

int ica_adopt_stock(struct ica_table *t, unsigned cls, int fd)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (cls < ICA_STOCK_MIN_CLASS || cls > ICA_STOCK_MAX_CLASS ||
	    t->nstock[cls] == ICA_STOCK_PER_CLASS)
		return -EINVAL;
	t->stock[cls][t->nstock[cls]++] = fd;
	t->stock_bytes += ((size_t)1 << cls) * (size_t)ps;
	return 0;
}

void ica_adopt_done(struct ica_table *t, uint32_t next_gen)
{
	t->free_slots = 0;
	for (uint32_t i = t->n; i-- > 0; ) {
		struct ica_entry *e = &t->e[i];
		if (!e->gen && e->fd < 0) {
			e->next_free = t->free_slots;
			t->free_slots = i + 1;
		}
	}
	t->next_gen = next_gen;
}
