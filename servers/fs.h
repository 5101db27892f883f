/* fs.h - what the parts of the file manager (fs.c, fs_io.c, fs_read.c, fs_write.c) share. */
#ifndef ANT_SERVERS_FS_H
#define ANT_SERVERS_FS_H

#include <stdint.h>

#include <ext2fs/ext2fs.h>

#include "ant/ant.h"
#include "fs_proto.h"

#define PARAM_MAX FS_ARG_MAX   /* an op's argument text at most, with its NUL (fs_proto.h) */

/*
 * The server's state.  One process serves one file system, one request at a
 * time, so the parts share this one instance (defined in fs.c) instead of
 * passing it down through libext2fs's callbacks, which cannot carry it.
 */
struct fs_state {
	struct ant_conn *c;          /* ro after main's start-up */
	const char *cache;           /* ro: the cache server's name */
	unsigned block_size;         /* ro: the cache's block size */
	uint64_t run_id;             /* ro: $ANT_RUN_ID, names transactions with a call id */
	int read_only;               /* --read-only, or set by fs_open: every change is -EROFS */
	ext2_filsys fs;              /* fs_open / fs_discard (fs_io.c); NULL until opened */
	int io_err;                  /* the last failed cache call's retval (for texts); 0: none */
	uint64_t cache_reads, cache_bytes, opens, commits, committed_bytes, replays_skipped;
	uint64_t fills;              /* reads forwarded as fills (fill.h) */
};
extern struct fs_state F;

/* What a changing op answers on success: a retval and a short text. */
struct fs_answer {
	int32_t rv;
	char text[64];
};

/* ---- fs.c: answers ---- */

/* libext2fs's errcode_t as -errno (EXT2_ET_* codes are not errnos). */
int err_to_errno(errcode_t e);

/* Answer with a short text (NULL: none); an error's text is dropped rather
 * than the answer if the control ICA has no room left for it.  Returns
 * ant_reply's result. */
int reply_text(struct ant_conn *c, struct ant_item *it, int32_t rv, const char *text);

/* Answer a libext2fs error: -errno and "WHAT: why" (the cache's error if a
 * cache call failed under it, F.io_err). */
int reply_err(struct ant_conn *c, struct ant_item *it, errcode_t e, const char *what);

/*
 * Sort the n elements of size bytes at v by less (a stable merge sort), with
 * tmp (room for n elements) as scratch.  Not qsort(3): glibc 2.36's asks
 * sysconf(_SC_PHYS_PAGES) for any array over 1 KB, which is the sysinfo
 * system call, and the default sandbox kills a server for that.
 */
void fs_sort(void *v, void *tmp, size_t n, size_t size, int (*less)(const void *a, const void *b));

/* ---- fs_io.c: the image through the cache, and this op's overlay ---- */

/* Open the file system through the cache (if not open yet).  0 or an
 * errcode_t; F.io_err says whether a cache call failed. */
errcode_t fs_open(void);

/* Forget the file system as libext2fs has it in memory, and the overlay:
 * after an op that failed half-way they may not match the image any more.
 * The next request opens it again from the image. */
void fs_discard(void);

/* A call to the cache that wants no data ICA back (commit, txnstatus,
 * flush: the disk answers); data, if any, is given away.  Returns the
 * retval. */
int cache_call(const char *op, const char *arg, struct ant_ica *data);

/* An ant call's error as an errcode_t: -errno stays an errno, ANT_E_* is EIO. */
errcode_t io_error(int r);

/* The image's bytes [off, off+len) (any length) into p, straight from the
 * cache blocks' memfds with pread; past the end of the image, zeros.  Not
 * for a changing op (it does not look at the overlay).  0 or < 0. */
int image_pread(uint64_t off, size_t len, unsigned char *p);

/* Does fs hold every cache block of the image's bytes [off, off+len)?  Then
 * image_pread reads them without a call. */
int image_held(uint64_t off, uint64_t len);

/* End of a changing op: libext2fs's metadata into the overlay, and the
 * overlay to the cache as one transaction tagged (F.run_id, call_id),
 * applied whole by the disk before this returns.  0 or an errcode_t (then
 * the caller discards the file system: the image has none of the op). */
errcode_t commit_op(uint64_t call_id);

/* ---- fs_read.c: the ops that only read, and the lookups all ops use ---- */

/* Look up path (follow: also a symlink at its end) from the root. */
errcode_t resolve(const char *path, int follow, ext2_ino_t *ino);

/* Inode ino, zeroed past what the file system stores. */
errcode_t read_inode(ext2_ino_t ino, struct ext2_inode_large *inode);

/* resolve, then read_inode. */
errcode_t resolve_inode(const char *path, int follow, ext2_ino_t *ino,
			struct ext2_inode_large *inode);

/* Answer n bytes (retval n): inline if they fit, else in a data ICA of
 * this server's, given away. */
int reply_bytes(struct ant_conn *c, struct ant_item *it, const void *bytes, size_t n);

int do_stat(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);
int do_lookup(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);
int do_readdir(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);
int do_read(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);
int do_readlink(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);
int do_statfs(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);

/* ---- fs_inode.c: an inode's times (to the nanosecond) and owner ---- */

/* Time which ('a', 'm' or 'c') of the inode: seconds with ext4's epoch
 * bits, nanoseconds where the inode has room for them (else 0). */
void inode_time_get(const struct ext2_inode_large *in, char which, int64_t *sec, uint32_t *nsec);
void inode_time_set(struct ext2_inode_large *in, char which, int64_t sec, uint32_t nsec);
/* Now, into the times asked for. */
void inode_time_now(struct ext2_inode_large *in, int a, int m, int c);
void inode_owner_set(struct ext2_inode_large *in, uint32_t uid, uint32_t gid);

/* ---- fs_write.c: the changes, each one transaction ---- */

/* An op that changes the file system: do it in libext2fs (its writes go to
 * the overlay) and fill a on success.  data: write's mapped bytes, else
 * NULL.  Returns 0 or an errcode_t (EXT2_ET_INVALID_ARGUMENT: bad
 * parameters); the caller commits or discards. */
typedef errcode_t fs_change_fn(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
			       struct fs_answer *a);
fs_change_fn op_write, op_create, op_remove, op_rename, op_attr, op_link;

/* ---- fs_xattr.c: extended attributes ---- */

int do_getxattr(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);
int do_listxattr(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);
fs_change_fn op_xattr;   /* setxattr, removexattr */

/*
 * Serve a changing op whose argument text is buf (decoded here): refused
 * on a read-only file system, answered from the disk's record on a replay
 * of an applied one, else done by change and committed.
 */
int do_change(struct ant_conn *c, struct ant_item *it, enum fs_op op, char *buf,
	      fs_change_fn *change);

/* flush: the disk's fsync of everything answered so far. */
int do_flush(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);

#endif
