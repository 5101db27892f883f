/* fill.h - the fill op: a file's bytes put straight into the reader's own area, run by run, by whichever server has them (fs -> cache -> disk). */
#ifndef ANT_SERVERS_FILL_H
#define ANT_SERVERS_FILL_H

#include <stddef.h>
#include <stdint.h>

#include "ant/ant.h"

/*
 * A read of a file is a list of runs of the image (from its extents): each
 * run's bytes go into the reader's area right after the last run's, and a
 * hole's run reads as zeros.  fs forwards the read as "fill" with these runs
 * and the reader's own area; the cache fills it from its blocks if it has all
 * of them, else forwards it on to the disk, which fills it from the image;
 * whoever fills it answers the reader directly (the paper's multi-stage call
 * with direct return): no server copies the bytes twice, no fresh area is
 * made for them.
 *
 * The argument is text, as the disk's and the cache's other ops: "SRC LEN"
 * pairs, space-separated, SRC a byte offset in the image or "z" for zeros:
 *   "1052672 1048576"            1 MiB from the image at 1052672
 *   "8192 4096 z 4096 16384 100" a block, a hole of 4 KiB, then 100 bytes
 * The answer's retval is the total of the LENs; the area comes back with it.
 */

#define FILL_RUNS_MAX 64u     /* runs in one fill */
#define FILL_TEXT_MAX 1536u   /* its argument, at most (with its NUL) */
#define FILL_ZERO UINT64_MAX  /* a run's src: zeros (a hole) */

struct fill_run {
	uint64_t src;   /* offset in the image, or FILL_ZERO */
	uint64_t len;
};

struct fill {
	struct fill_run run[FILL_RUNS_MAX];
	unsigned n;
	uint64_t total;   /* the LENs added up */
};

/* Add a run after the others; one that goes on where the last one ends (on
 * the image, or zeros after zeros) extends it.  0, or -E2BIG when full. */
int fill_add(struct fill *f, uint64_t src, uint64_t len);

/* The argument text into buf: its length, or -E2BIG if it does not fit. */
int fill_format(const struct fill *f, char *buf, size_t size);

/* The runs of a request's argument; 0, or -1 with *why saying what is wrong
 * (for the answer's text). */
int fill_parse(const struct ant_item *it, struct fill *f, const char **why);

/* Where a server gets a run's bytes from: copy [src, src+len) of the image
 * into dst; 0 or < 0 (the fill's answer). */
typedef int fill_copy_fn(uint64_t src, size_t len, unsigned char *dst, void *arg);

/* n bytes of fd at off into dst, whole (pread again after a short one):
 * 0, -errno, or -EIO if the file ends first. */
int fill_pread(int fd, void *dst, size_t n, uint64_t off);

/* Put the runs into area (at least f->total bytes): holes zeroed, the rest
 * by copy.  0, or copy's error. */
int fill_apply(const struct fill *f, unsigned char *area, fill_copy_fn *copy, void *arg);

/*
 * A fill request as a server takes it: its runs into *f, and its area (the
 * call's data ICA, kept: areas.h), at least f->total bytes, mapped writable
 * if map(f) says the server copies into it itself (map NULL: always).  The
 * area, or NULL with *why (the answer's text) if the request is malformed or
 * has no area fit for it.
 */
struct areas;
struct ant_ica *fill_request(struct areas *a, struct ant_conn *c, struct ant_item *it,
			     struct fill *f, int (*map)(const struct fill *f), const char **why);

#endif
