/* ica_table.h - antd's table of data ICAs: ids, holders, in-flight references, the pool. */
#ifndef ANTD_ICA_TABLE_H
#define ANTD_ICA_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include "ant/cica.h"

/*
 * antd owns every data ICA.  An entry lives while some process holds it
 * (a holder: a peer key, see peer.h) or some call in flight refers to it (a
 * ref).  When neither is left the area is scrubbed (zeroed, pages freed) and
 * kept in a pool by size class, to be handed out again under a new
 * generation.  Only to the same peer, and only if no other peer ever held it:
 * a holder can keep its fd or mapping past its release (a faulty or hostile
 * process need not unmap), so an area that two peers saw is destroyed rather
 * than handed to anyone later, and an area sealed read-only (it cannot be
 * made writable again) is destroyed too.
 */

struct ica_holder {
	uint64_t key;     /* peer key */
	uint8_t ro;       /* holds a read-only fd */
};

struct ica_entry {
	uint32_t gen;              /* 0 while free */
	size_t size;
	int fd;                    /* antd's read-write fd, -1 if none */
	int ro_fd;                 /* read-only fd, made on first read-only hand-over */
	int sealed;                /* sealed read-only */
	int shared;                /* some peer besides owner held it */
	uint64_t owner;            /* the peer that allocated it */
	unsigned refs;             /* calls in flight that carry it */
	unsigned nholders, cap;
	struct ica_holder *holders;
	uint32_t next_free;        /* free-slot list / pool list link, index+1 */
};

#define ICA_CLASSES 24         /* 2^0 .. 2^23 pages (32 GiB) */
#define ICA_STOCK_MIN_CLASS 4  /* areas of 16 pages (64 KiB) and more are stocked ... */
#define ICA_STOCK_MAX_CLASS 10 /* ... up to 1024 pages (4 MiB) */
#define ICA_STOCK_PER_CLASS 16 /* at most this many ready per class */
#define ICA_STOCK_BYTES (32u << 20) /* and this many bytes in all */

struct ica_table {
	struct ica_entry *e;
	uint32_t n, cap;
	uint32_t free_slots;       /* list of slots without an area (index+1) */
	uint32_t pool[ICA_CLASSES];/* scrubbed areas ready for reuse (index+1) */
	size_t pooled_bytes, pool_limit;
	size_t live_bytes, live_limit;
	uint64_t created, recycled;/* counters */
	/* Fresh areas made ahead, their pages already allocated (fallocate),
	 * for the classes peers have asked for: an ALLOC takes one instead of
	 * making an area whose every page the peer would then fault in.  Never
	 * seen by any peer, so they go to anyone. */
	int stock[ICA_CLASSES][ICA_STOCK_PER_CLASS];
	unsigned nstock[ICA_CLASSES];
	uint8_t stock_wanted[ICA_CLASSES];
	size_t stock_bytes;
	uint64_t stocked;          /* allocations served from the stock */
	uint32_t next_gen;         /* last generation handed out */
};

void ica_table_init(struct ica_table *t, size_t live_limit, size_t pool_limit);
void ica_table_fini(struct ica_table *t);

/* New area of at least size bytes held read-write by holder.  *fd_out is
 * the table's fd (do not close).  Returns 0, -ENOSPC (limit), -errno. */
int ica_alloc(struct ica_table *t, size_t size, uint64_t holder,
	      struct ant_ica_ref *ref, int *fd_out);

/* Make one stocked area for a class that is short of them.  Returns 1 if it
 * made one (more may be wanted), 0 if the stock is full.  antd calls it when
 * it has nothing else to do. */
int ica_stock_one(struct ica_table *t);

/* The live entry for ref, or NULL (unknown, stale generation or size). */
struct ica_entry *ica_lookup(struct ica_table *t, const struct ant_ica_ref *ref);

/* How holder holds ref: -1 not at all, 0 read-write, 1 read-only. */
int ica_holds(struct ica_table *t, const struct ant_ica_ref *ref, uint64_t holder);

/* Make holder hold ref (ro: read-only; a read-write hold is never
 * downgraded).  Returns the fd to send (owned by the table), or -errno.
 * A read-only hold seals the area first. */
int ica_hold(struct ica_table *t, const struct ant_ica_ref *ref, uint64_t holder, int ro);

/* Drop holder's hold on ref / on every ICA (a peer that is gone: its pooled
 * areas are destroyed too); frees what nobody needs. */
void ica_unhold(struct ica_table *t, const struct ant_ica_ref *ref, uint64_t holder);
void ica_unhold_all(struct ica_table *t, uint64_t holder);

/* In-flight references held by calls. */
void ica_ref(struct ica_table *t, const struct ant_ica_ref *ref);
void ica_unref(struct ica_table *t, const struct ant_ica_ref *ref);

/* A re-exec of antd (reexec_state.c): an area of the antd before in slot
 * idx, as src describes it (its fds are taken over; a generation of 0 is
 * a pooled area); a stocked area of class cls; then the free slots and the
 * generation to go on from.  Return 0 or -errno. */
int ica_adopt(struct ica_table *t, uint32_t idx, const struct ica_entry *src);
int ica_adopt_stock(struct ica_table *t, unsigned cls, int fd);
void ica_adopt_done(struct ica_table *t, uint32_t next_gen);

/* Number of live areas. */
unsigned ica_live_count(const struct ica_table *t);

#endif
