/* cache.c - the buffer cache: blocks kept in data ICAs it holds, handed out read-only, misses coalesced. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ant/proto.h"
#include "areas.h"
#include "fill.h"
#include "server_main.h"
#include "testops.h"
#include "txn.h"

/*
 * Ops (text parameters, as the disk driver's):
 *   read  "BLOCK"  -> the block's data ICA, read-only (no copy: the cache keeps
 *                     it and hands the same pages to every reader); retval =
 *                     valid bytes (fewer at the end of the image)
 *   fill "SRC LEN ..." -> the runs of the image (fill.h) into the call's own
 *                     data ICA: copied from the blocks if the cache has every
 *                     one of them, else forwarded to the disk, which fills
 *                     it; either answers the caller directly (retval = bytes)
 *   write "BLOCK"  <- BLOCK_SIZE bytes in the call's data ICA; written through
 *                     to the disk before the answer, so the cache never holds
 *                     the only copy of a block: a crash of the cache loses
 *                     nothing
 *   flush ""       -> the disk's flush
 *   commit ""      <- a transaction (txn.h) in the call's data ICA: the cached
 *                     copies of the blocks it touches are dropped, then it
 *                     goes on to the disk, which answers the caller directly
 *   txnstatus ...  -> forwarded to the disk, which answers directly
 *   stats ""       -> "hits H misses M coalesced C evictions E blocks B
 *                     readaheads R fills F fills_to_disk D"
 * It calls the disk asynchronously (I/O wait), so it serves a hit on block B
 * while a miss on block A is out, and every read of A that comes meanwhile
 * waits on that one disk read (the paper's figures 7 and 9): it holds several
 * control ICAs, so its stack file gives it max_inflight > 1.
 */

struct waiter {
	struct waiter *next;
	struct ant_item it;          /* a read held until its block arrives */
};

struct block {
	uint64_t no;
	struct ant_ica *ica;         /* NULL while the disk read is out */
	int32_t valid;               /* bytes the disk returned */
	uint64_t ticket;             /* the disk read, while pending */
	uint64_t used;               /* LRU clock */
	int stale;                   /* a write came while the disk read was out:
					its bytes go to the waiters, not the cache */
	struct waiter *waiters;
	struct block *next;
};

/* A write held until the disk has it. */
struct pending_write {
	struct pending_write *next;
	uint64_t ticket;
	uint64_t block;
	struct ant_item it;
};

static struct {
	const char *disk;
	unsigned block_size;
	unsigned max_blocks;
	unsigned nblocks;
	struct block *blocks;
	struct pending_write *writes;
	uint64_t clock;
	unsigned readahead;          /* blocks read ahead after a miss */
	uint64_t hits, misses, coalesced, evictions, readaheads;
	uint64_t fills, fills_on;    /* fills answered here; sent on to the disk */
	struct areas areas;          /* the fills' areas, kept (areas.h) */
} C = { .block_size = 65536, .max_blocks = 256 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cache [OPTIONS] DISK\n"
		"An ant server (started by antd): a buffer cache in front of the disk server\n"
		"DISK.  Ops: read BLOCK, fill SRC LEN..., write BLOCK, commit, txnstatus,\n"
		"flush, stats.\n"
		"\n"
		"  --block-size N  bytes per block (default 65536, a multiple of 4096)\n"
		"  --blocks N      blocks kept at most (default 256); least recently used go\n"
		"  --readahead N   after a miss on block B, also read B+1..B+N (default 0)\n"
		SERVER_HELP
		TESTOPS_HELP
		"  --help          this text\n");
}

static struct block *find(uint64_t no)
{
	for (struct block *b = C.blocks; b; b = b->next)
		if (b->no == no && !b->stale)
			return b;
	return NULL;
}

static void drop(struct ant_conn *c, struct block *b)
{
	for (struct block **pp = &C.blocks; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	ant_ica_release(c, b->ica);
	free(b);
	C.nblocks--;
}

/* Make room: drop the least recently used block nobody waits for. */
static void evict(struct ant_conn *c)
{
	while (C.nblocks >= C.max_blocks) {
		struct block *lru = NULL;
		for (struct block *b = C.blocks; b; b = b->next)
			if (b->ica && !b->waiters && (!lru || b->used < lru->used))
				lru = b;
		if (!lru)
			return;   /* everything is pending: go over the limit for a while */
		drop(c, lru);
		C.evictions++;
	}
}

/* Block no is about to change on the disk: drop the cached copy (it was
 * handed out sealed read-only, so it cannot be updated), or mark the disk read
 * that is out for it stale, so that its bytes are not kept: a later read then
 * asks the disk again, after the write. */
static void invalidate(struct ant_conn *c, uint64_t no)
{
	struct block *b = find(no);
	if (!b)
		return;
	if (b->ica)
		drop(c, b);
	else
		b->stale = 1;
}

static int parse_block(const struct ant_item *it, uint64_t *no)
{
	return server_param_numbers(it, 10, no, 1) < 0 || *no > UINT64_MAX / C.block_size ? -1 : 0;
}

static int reply_text(struct ant_conn *c, struct ant_item *it, int32_t rv, const char *text)
{
	return ant_reply(c, it, rv, text, text ? strlen(text) : 0, NULL, ANT_DF_DETACH);
}

/* The block's pages, read-only, to a reader; the cache keeps its hold. */
static int serve(struct ant_conn *c, struct ant_item *it, struct block *b)
{
	b->used = ++C.clock;
	return ant_reply(c, it, b->valid, NULL, 0, b->ica, ANT_DF_RO);
}

static int disk_call(struct ant_conn *c, const char *op, uint64_t no, struct ant_ica *data,
		     uint64_t *ticket)
{
	char arg[64];
	int n = snprintf(arg, sizeof(arg), "%" PRIu64 " %u", no * C.block_size, C.block_size);
	struct ant_call call = { .server = C.disk, .op = op, .arg = arg, .arglen = (size_t)n,
				 .data = data, .frame_flags = ANT_FF_IO_WAIT };
	return ant_call_async(c, &call, ticket);
}

static int do_read(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	uint64_t no;
	if (parse_block(it, &no) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "read wants a block number");
	struct block *b = find(no);
	if (b && b->ica) {
		C.hits++;
		return serve(c, it, b);
	}
	struct waiter *w = malloc(sizeof(*w));
	if (!w)
		return reply_text(c, it, -ENOMEM, NULL);
	ant_item_copy(&w->it, it);
	if (b) {   /* the disk read of this block is out already: wait for it too */
		C.coalesced++;
		w->next = b->waiters;
		b->waiters = w;
		return 0;
	}
	C.misses++;
	evict(c);
	b = calloc(1, sizeof(*b));
	if (!b) {
		free(w);
		return reply_text(c, it, -ENOMEM, NULL);
	}
	b->no = no;
	ANT_FAILPOINT(c, "cache.before_disk_read");
	int r = disk_call(c, "read", no, NULL, &b->ticket);
	if (r < 0) {
		free(b);
		free(w);
		return reply_text(c, it, r, "the disk cannot be called");
	}
	w->next = NULL;
	b->waiters = w;
	b->next = C.blocks;
	C.blocks = b;
	C.nblocks++;
	/* Read ahead: the blocks after it are asked for now, nobody waits for
	 * them; a sequential reader then finds them here or on their way. */
	for (unsigned k = 1; k <= C.readahead && C.nblocks < C.max_blocks; k++) {
		if (no + k < no || (no + k) > UINT64_MAX / C.block_size || find(no + k))
			continue;
		struct block *ra = calloc(1, sizeof(*ra));
		if (!ra || disk_call(c, "read", no + k, NULL, &ra->ticket) < 0) {
			free(ra);
			break;
		}
		ra->no = no + k;
		ra->used = ++C.clock;
		ra->next = C.blocks;
		C.blocks = ra;
		C.nblocks++;
		C.readaheads++;
	}
	return 0;
}

/* Does the cache hold every byte of [src, src+len), valid? */
static int have(uint64_t src, uint64_t len)
{
	for (uint64_t no = src / C.block_size; no * C.block_size < src + len; no++) {
		struct block *b = find(no);
		uint64_t want = src + len - no * C.block_size;   /* the valid bytes it needs */
		if (want > C.block_size)
			want = C.block_size;
		if (!b || !b->ica || b->valid < 0 || (uint64_t)b->valid < want)
			return 0;
	}
	return 1;
}

/* Does the cache hold every block of the fill's runs? */
static int all_here(const struct fill *f)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->run[i].src != FILL_ZERO && !have(f->run[i].src, f->run[i].len))
			return 0;
	return 1;
}

/* A run's bytes from the blocks (all_here said they are all here). */
static int copy_blocks(uint64_t src, size_t len, unsigned char *dst, void *arg)
{
	(void)arg;
	while (len) {
		struct block *b = find(src / C.block_size);
		if (!b || !b->ica)
			return -EIO;
		size_t in = (size_t)(src % C.block_size), n = C.block_size - in < len ? C.block_size - in : len;
		int r = fill_pread(ant_ica_fd(b->ica), dst, n, in);
		if (r < 0)
			return r;
		b->used = ++C.clock;
		src += n;
		dst += n;
		len -= n;
	}
	return 0;
}

/* A read into the reader's own area: from the blocks when all are here (a
 * hit), else the disk fills it; the reader gets the answer directly. */
static int do_fill(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	struct fill f;
	const char *why;
	struct ant_ica *area = fill_request(&C.areas, c, it, &f, all_here, &why);
	if (!area)
		return reply_text(c, it, ANT_E_BAD_REQUEST, why);
	if (all_here(&f)) {
		int r = fill_apply(&f, area->addr, copy_blocks, NULL);
		if (r < 0)
			return reply_text(c, it, r, "cannot copy from the cache's blocks");
		C.fills++;
		return ant_reply(c, it, (int32_t)f.total, NULL, 0, area, 0);
	}
	/* Not every block is here: the disk reads the runs straight into the
	 * area (a miss makes no block here: no fresh pages, no second copy). */
	C.fills_on++;
	struct ant_forward fw = { .server = C.disk, .return_needed = 0, .frame_flags = ANT_FF_IO_WAIT,
				  .data = area };
	return ant_forward(c, it, &fw);
}

static int do_write(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	uint64_t no;
	if (parse_block(it, &no) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "write wants a block number");
	if (!it->data || it->data->size < C.block_size)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "write wants a data ICA of one block");
	struct pending_write *pw = malloc(sizeof(*pw));
	if (!pw)
		return reply_text(c, it, -ENOMEM, NULL);
	invalidate(c, no);
	int r = disk_call(c, "write", no, it->data, &pw->ticket);
	if (r < 0) {
		free(pw);
		return reply_text(c, it, r, "the disk cannot be called");
	}
	pw->block = no;
	ant_item_copy(&pw->it, it);
	pw->next = C.writes;
	C.writes = pw;
	return 0;
}

/* A disk answer: a block arrived (serve its waiters) or a write is done. */
static int result(struct ant_conn *c, struct ant_item *res)
{
	for (struct pending_write **pp = &C.writes; *pp; pp = &(*pp)->next) {
		struct pending_write *pw = *pp;
		if (pw->ticket != res->ticket)
			continue;
		*pp = pw->next;
		int r = ant_reply(c, &pw->it, res->retval, NULL, 0, NULL, ANT_DF_DETACH);
		free(pw);
		return r;
	}
	for (struct block *b = C.blocks; b; b = b->next) {
		if (b->ica || b->ticket != res->ticket)
			continue;
		struct waiter *w = b->waiters;
		b->waiters = NULL;
		int r = 0;
		if (res->retval < 0 || !res->data) {
			/* Nothing to keep: every waiter gets the disk's error. */
			for (; w; w = b->waiters) {
				b->waiters = w->next;
				if (r == 0)
					r = ant_reply(c, &w->it, res->retval < 0 ? res->retval : -EIO, NULL, 0,
						      NULL, ANT_DF_DETACH);
				free(w);
			}
			ant_ica_release(c, res->data);
			drop(c, b);
			return r;
		}
		b->ica = res->data;
		b->valid = res->retval;
		while (w) {
			struct waiter *n = w->next;
			if (r == 0)
				r = serve(c, &w->it, b);
			free(w);
			w = n;
		}
		if (b->stale)
			drop(c, b);   /* its waiters asked before the write: they have it */
		return r;
	}
	ant_ica_release(c, res->data);   /* an answer nobody waits for */
	return 0;
}

/* A transaction: drop what it changes, then the disk applies it and answers
 * the caller (direct return).  The disk serves its requests in order, so a
 * read of a changed block sent after this reaches the disk after it. */
static int do_commit(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	if (!it->data)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "commit wants a transaction in a data ICA");
	int r = ant_ica_map(c, it->data);   /* the one area the cache reads */
	if (r < 0)
		return reply_text(c, it, r, "cannot map the transaction");
	const char *bad = txn_check(it->data->addr, it->data->size, 0);
	if (bad)
		return reply_text(c, it, ANT_E_BAD_REQUEST, bad);
	const struct txn_hdr *t = it->data->addr;
	const uint64_t *off = txn_offs(t);
	uint64_t last = UINT64_MAX;
	for (uint32_t i = 0; i < t->nunits; i++) {
		uint64_t no = off[i] / C.block_size;
		if (no != last)
			invalidate(c, no);
		last = no;
	}
	/* The transaction goes on to the disk; the cache keeps no hold on it
	 * (else one fd and mapping per commit would pile up here). */
	struct ant_forward fw = { .server = C.disk, .return_needed = 0, .frame_flags = ANT_FF_IO_WAIT,
				  .data_flags = ANT_DF_DETACH };
	return ant_forward(c, it, &fw);
}

/* flush and txnstatus: the disk answers the caller directly. */
static int to_disk(struct server *s, struct ant_item *it)
{
	struct ant_forward fw = { .server = C.disk, .return_needed = 0, .frame_flags = ANT_FF_IO_WAIT };
	return ant_forward(s->c, it, &fw);
}

static int do_stats(struct server *s, struct ant_item *it)
{
	char buf[240];
	snprintf(buf, sizeof(buf), "hits %" PRIu64 " misses %" PRIu64 " coalesced %" PRIu64
		 " evictions %" PRIu64 " blocks %u readaheads %" PRIu64 " fills %" PRIu64
		 " fills_to_disk %" PRIu64, C.hits, C.misses, C.coalesced, C.evictions, C.nblocks,
		 C.readaheads, C.fills, C.fills_on);
	return reply_text(s->c, it, 0, buf);
}

static const struct server_op ops[] = {
	{ "read", do_read },
	{ "fill", do_fill },
	{ "write", do_write },
	{ "commit", do_commit },
	{ "flush", to_disk },
	{ "txnstatus", to_disk },
	{ "stats", do_stats },
	{ NULL, NULL },
};

static int on_result(struct server *s, struct ant_item *it)
{
	return result(s->c, it);
}

/* ---- live upgrade: the blocks themselves go to the next version -------- */

#define STATE_FORMAT "ant-cache-blocks"

/* The first area of the state: this, then one entry per block; the blocks'
 * own areas follow it in the same order (moved, not copied). */
struct cache_state {
	char magic[24];
	uint32_t block_size, nblocks;
	uint64_t clock, hits, misses, coalesced, evictions, readaheads;
};
struct cache_state_entry {
	uint64_t no, used;
	int32_t valid;
	uint32_t pad;
};

static struct ant_ica *exported;   /* the last export's first area */

static int cache_export(struct ant_conn *c, struct ant_state_out *out, void *arg)
{
	ant_ica_release(c, exported);
	exported = NULL;
	unsigned n = 0;
	for (struct block *b = C.blocks; b; b = b->next)
		n += b->ica && !b->stale;
	size_t size = sizeof(struct cache_state) + n * sizeof(struct cache_state_entry);
	struct ant_ica *m;
	int r = ant_ica_alloc(c, size, &m);
	if (r < 0)
		return r;
	struct cache_state st = {
		.block_size = C.block_size, .nblocks = n, .clock = C.clock, .hits = C.hits,
		.misses = C.misses, .coalesced = C.coalesced, .evictions = C.evictions,
		.readaheads = C.readaheads,
	};
	snprintf(st.magic, sizeof(st.magic), "%s", STATE_FORMAT);
	memcpy(m->addr, &st, sizeof(st));
	struct cache_state_entry *e = (void *)((char *)m->addr + sizeof(st));
	exported = m;
	if ((r = ant_state_begin(out, STATE_FORMAT, 1)) < 0 || (r = ant_state_add(out, m)) < 0)
		return r;
	for (struct block *b = C.blocks; b; b = b->next) {
		if (!b->ica || b->stale)
			continue;
		*e++ = (struct cache_state_entry){ .no = b->no, .used = b->used, .valid = b->valid };
		if ((r = ant_state_add(out, b->ica)) < 0)
			return r;
	}
	return 0;
}

static int cache_import(struct ant_conn *c, const char *format, uint32_t version,
			struct ant_ica *const *areas, unsigned n, char *why, size_t len, void *arg)
{
	if (!format[0])
		return 0;
	if (strcmp(format, STATE_FORMAT) != 0 || version != 1 || n < 1) {
		snprintf(why, len, "unknown state %s version %u (this cache reads %s 1)", format,
			 version, STATE_FORMAT);
		return ANT_E_BAD_REQUEST;
	}
	if (ant_ica_map(c, areas[0]) < 0 || areas[0]->size < sizeof(struct cache_state)) {
		snprintf(why, len, "cannot read its first area");
		return ANT_E_BAD_REQUEST;
	}
	struct cache_state st;
	memcpy(&st, areas[0]->addr, sizeof(st));
	if (st.block_size != C.block_size || st.nblocks != n - 1 ||
	    sizeof(st) + (size_t)st.nblocks * sizeof(struct cache_state_entry) > areas[0]->size) {
		snprintf(why, len, "its blocks are of %u bytes, this cache's of %u (or the state is "
			 "torn)", st.block_size, C.block_size);
		return ANT_E_BAD_REQUEST;
	}
	const struct cache_state_entry *e = (const void *)((const char *)areas[0]->addr + sizeof(st));
	struct block **tail = &C.blocks;   /* in the old one's order: its export's again */
	while (*tail)
		tail = &(*tail)->next;
	for (unsigned i = 0; i < st.nblocks; i++) {
		struct block *b = calloc(1, sizeof(*b));
		if (!b) {
			snprintf(why, len, "out of memory");
			return -ENOMEM;   /* libant releases the areas not taken */
		}
		b->no = e[i].no;
		b->used = e[i].used;
		b->valid = e[i].valid;
		b->ica = areas[i + 1];
		*tail = b;
		tail = &b->next;
		C.nblocks++;
	}
	C.clock = st.clock;
	C.hits = st.hits;
	C.misses = st.misses;
	C.coalesced = st.coalesced;
	C.evictions = st.evictions;
	C.readaheads = st.readaheads;
	ant_ica_release(c, areas[0]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct server_opt opts[] = {
		{ "--readahead", SERVER_NUMBER, &C.readahead, 0, 256, 0, NULL },
		{ "--blocks", SERVER_NUMBER, &C.max_blocks, 1, 1000000, 0, NULL },
		{ "--block-size", SERVER_NUMBER, &C.block_size, 4096, 64u << 20, 4096, NULL },
		{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
	};
	struct server s = {
		.prog = "cache", .usage = usage, .opts = { opts, testops_opts },
		.operand = "DISK", .operand_out = &C.disk,
		.ops = ops, .on_result = on_result, .take = testops_take,
	};
	if (server_parse(&s, argc, argv) != 0)
		return 2;
	server_connect(&s);
	/* The cache never reads a block's bytes: it keeps and hands out the
	 * areas unmapped (only a commit's transaction is mapped, to read it). */
	ant_set_lazy_map(s.c, 1);
	ant_set_state_handlers(s.c, cache_export, cache_import, &s);
	if (server_peer(&s, C.disk) < 0)
		return 1;
	return server_run(&s);
}
