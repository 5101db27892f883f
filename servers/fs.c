/* fs.c - the file manager (the paper's FM): an ext2/3/4 file system read with libext2fs, blocks from the cache. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

#include "ant/ant.h"
#include "testops.h"
#include "txn.h"

/*
 * Ops (text parameters, as the disk's and the cache's; PATH is absolute; the
 * full table is in docs/filestack.md):
 *   stat     "PATH"               -> "ino=N mode=0100644 size=S nlink=L mtime=T uid=U
 *                                    gid=G atime=A ctime=C blocks=B" (mode in octal,
 *                                    blocks of 512 bytes; a symlink is not followed)
 *   lookup   "PATH"               -> "ino=N" (a symlink is not followed)
 *   readdir  "PATH"               -> one line per entry "NAME\tINO\tTYPE" (TYPE f, d,
 *                                    l or ?), sorted by name, no "." and ".."; retval =
 *                                    the listing's bytes.  A listing that does not fit
 *                                    in the control ICA's result area (about 3 KB)
 *                                    comes in a data ICA given to the caller (detached)
 *                                    instead: look at the result's data ICA first.
 *   read     "PATH OFFSET LENGTH" -> a data ICA of this server's (detached to the caller)
 *                                    with the file's bytes; retval = bytes read, fewer at
 *                                    the end of the file, 0 (and no ICA) past it.
 *                                    LENGTH is at most 64 MiB.
 *   readlink "PATH"               -> the target; statfs "" -> "bsize=.. blocks=.. ..."
 *   write    "PATH OFFSET LENGTH" <- the bytes in the call's data ICA; retval LENGTH
 *   create / mkdir "PATH MODE"    -> "ino=N" (MODE octal; -EEXIST if PATH exists)
 *   symlink  "TARGET\nPATH"       -> "ino=N"
 *   unlink / rmdir "PATH", rename "OLD\nNEW", truncate "PATH SIZE",
 *   chmod "PATH MODE", utimens "PATH ATIME MTIME" -> 0
 *   flush    ""                   -> 0 once the disk has fsync'ed
 *   stats    ""                   -> "cache_reads R ... commits C ..."
 * readdir and read follow a symlink at the end of PATH; every op follows the
 * ones inside it.  Errors are -errno with a short text (-ENOENT, -ENOTDIR,
 * -EISDIR, -EUCLEAN for a corrupt structure, -EIO when the cache failed);
 * ANT_E_BAD_REQUEST for bad parameters, ANT_E_NO_OP for an unknown op.
 *
 * libext2fs does its I/O through an io_manager of this file's own ("ant-cache").
 * A read is a synchronous call "read BLOCK" to the cache server, whose answer
 * is the block's data ICA, read-only; fs keeps up to HELD_MAX of them mapped
 * (most of libext2fs's reads are small pieces of one cache block) and copies
 * the bytes out.  A write goes to an overlay of 4 KiB units in this process.
 *
 * Each change is one transaction: when the op is done, libext2fs's bitmaps,
 * descriptors and superblock are flushed into the overlay too, and the whole
 * overlay goes to the cache in one data ICA ("commit"), which the disk
 * applies whole through its redo log.  Until then the image has none of it,
 * so a death of fs (or an error half-way, after which fs forgets libext2fs's
 * state and opens the image again) leaves the image as it was.
 *
 * Replay: reads are replayed freely.  A transaction carries the op's id
 * ($ANT_RUN_ID and the call's id, the same across replays); a replayed change
 * first asks the disk ("txnstatus") whether that transaction was applied, and
 * if so answers as the first run would have, without doing it again.
 *
 * The file system is opened on the first request (the io_manager needs the
 * connection to antd, which is a global of this file), and again on a later
 * request if that failed.
 */

#define MAX_READ     (64u << 20)  /* a read moves at most 64 MiB */
#define INLINE_MAX   3072u        /* results up to this size go in the control ICA */
#define PARAM_MAX    ANT_CICA_SIZE
#define PATH_MAX_LEN 2048u        /* leaves the result area room for an answer */

#define HELD_MAX     64u          /* cache blocks held mapped at once */
#define OV_BUCKETS   1024u        /* the overlay's hash buckets */
#define AREAS_MAX    8u           /* callers' read areas kept mapped */

/* A cache block fs holds (read-only, mapped). */
struct held {
	uint64_t no;
	struct ant_ica *ica;
	size_t valid;                /* bytes the cache said are valid */
	uint64_t used;               /* LRU clock */
};

/* A 4 KiB unit of the image the current operation wrote. */
struct unit {
	struct unit *next;
	uint64_t off;                /* in the image, a multiple of TXN_UNIT */
	unsigned char bytes[TXN_UNIT];
};

static struct {
	struct ant_conn *c;
	const char *cache;           /* the cache server's name */
	unsigned block_size;         /* the cache's block size */
	int read_only;               /* --read-only: every change is -EROFS */
	const char *crash_mark;      /* --crash-after-commit: for the tests */
	ext2_filsys fs;              /* NULL until opened */
	int io_err;                  /* the last failed cache call's retval (for texts) */
	uint64_t run_id;             /* $ANT_RUN_ID: names transactions with a call id */
	struct held held[HELD_MAX];
	unsigned nheld;
	struct {
		struct ant_ica *ica;
		uint64_t used;
	} areas[AREAS_MAX];          /* callers' read areas kept mapped (area_keep) */
	unsigned nareas;
	uint64_t clock;
	struct unit *ov[OV_BUCKETS]; /* the overlay */
	uint32_t nunits;
	uint64_t cache_reads, cache_bytes, opens, commits, committed_bytes, replays_skipped;
} F = { .block_size = 4096 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fs [OPTIONS] CACHE\n"
		"An ant server (started by antd): the file manager.  Serves the ext2/3/4 file\n"
		"system whose blocks the cache server CACHE serves; each change is one\n"
		"transaction the disk applies whole (its --redo-log).\n"
		"Ops: stat, lookup, readdir, read, readlink, statfs, write, create, mkdir,\n"
		"symlink, unlink, rmdir, rename, truncate, chmod, utimens, flush, stats.\n"
		"\n"
		"  --block-size N  the cache's block size (default 4096, a multiple of 4096)\n"
		"  --read-only     refuse every change with EROFS\n"
		"  --crash-after-commit MARK  testing: die (SIGKILL) after the commit of a\n"
		"                  change whose parameters contain MARK, before answering\n"
		"                  (not when antd replays it)\n"
		TESTOPTS_HELP
		"  --help          this text\n");
}

/* ---- the io_manager: libext2fs's block I/O as calls to the cache ---------- */

static struct struct_io_manager ant_io_manager_s;

/* One cache block: its read-only data ICA and the valid bytes in it. */
static int cache_read(uint64_t block, struct ant_ica **ica)
{
	char arg[32];
	int n = snprintf(arg, sizeof(arg), "%" PRIu64, block);
	struct ant_call call = { .server = F.cache, .op = "read", .arg = arg, .arglen = (size_t)n };
	struct ant_result res;
	res.data = NULL;   /* left as it is when the call cannot be made */
	int r = ant_call_sync(F.c, &call, &res);
	if (r >= 0 && (!res.data || (unsigned)r > F.block_size))
		r = -EIO;   /* no block, or a cache with bigger blocks than --block-size */
	if (r < 0) {
		ant_ica_release(F.c, res.data);
		*ica = NULL;
		F.io_err = r;
		return r;
	}
	*ica = res.data;
	F.cache_reads++;
	return r;
}

/* A call to the cache that wants no data ICA back (commit, txnstatus,
 * flush: the disk answers): data, if any, is given away.  Returns the
 * retval. */
static int cache_call(const char *op, const char *arg, struct ant_ica *data)
{
	struct ant_call call = { .server = F.cache, .op = op, .arg = arg,
				 .arglen = arg ? strlen(arg) : 0, .data = data,
				 .data_flags = data ? ANT_DF_DETACH : 0, .frame_flags = ANT_FF_IO_WAIT };
	struct ant_result res;
	res.data = NULL;
	int r = ant_call_sync(F.c, &call, &res);
	ant_ica_release(F.c, res.data);
	return r;
}

/* An ant call's error as an errcode_t: -errno stays an errno (com_err keeps
 * errnos as they are), ANT_E_* (the cache failed, its deadline...) is EIO. */
static errcode_t io_error(int r)
{
	return ant_is_errno(r) ? (errcode_t)-r : EIO;
}

static errcode_t ant_io_open(const char *name, int flags, io_channel *channel)
{
	if (!name)
		return EXT2_ET_BAD_DEVICE_NAME;
	io_channel io = calloc(1, sizeof(*io));
	if (!io)
		return EXT2_ET_NO_MEMORY;
	io->name = strdup(name);
	if (!io->name) {
		free(io);
		return EXT2_ET_NO_MEMORY;
	}
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = &ant_io_manager_s;
	io->block_size = 1024;
	io->refcount = 1;
	*channel = io;
	return 0;
}

static errcode_t ant_io_close(io_channel io)
{
	if (io->magic != EXT2_ET_MAGIC_IO_CHANNEL)
		return EXT2_ET_MAGIC_IO_CHANNEL;
	if (--io->refcount > 0)
		return 0;
	free(io->name);
	free(io);
	return 0;
}

static errcode_t ant_io_set_blksize(io_channel io, int blksize)
{
	if (io->magic != EXT2_ET_MAGIC_IO_CHANNEL)
		return EXT2_ET_MAGIC_IO_CHANNEL;
	if (blksize <= 0)
		return EXT2_ET_INVALID_ARGUMENT;
	io->block_size = blksize;
	return 0;
}

/*
 * The cache blocks fs holds on to: their read-only data ICAs, mapped, so that
 * libext2fs's many small reads inside one cache block cost one call.  Nobody
 * but fs writes the file system, so a held block goes stale only through fs's
 * own commits, which drop the blocks they touch (held_forget).
 */
static struct held *held_find(uint64_t no)
{
	for (unsigned i = 0; i < F.nheld; i++)
		if (F.held[i].no == no)
			return &F.held[i];
	return NULL;
}

static void held_drop(unsigned i)
{
	ant_ica_release(F.c, F.held[i].ica);
	F.held[i] = F.held[--F.nheld];
}

static void held_forget(uint64_t no)
{
	for (unsigned i = 0; i < F.nheld; i++)
		if (F.held[i].no == no) {
			held_drop(i);
			return;
		}
}

/* Cache block no, held (read from the cache if it is not). */
static int held_get(uint64_t no, struct held **out)
{
	struct held *h = held_find(no);
	if (!h) {
		struct ant_ica *ica;
		int valid = cache_read(no, &ica);
		if (valid < 0)
			return valid;
		if (F.nheld == HELD_MAX) {   /* the least recently used goes */
			unsigned lru = 0;
			for (unsigned i = 1; i < F.nheld; i++)
				if (F.held[i].used < F.held[lru].used)
					lru = i;
			held_drop(lru);
		}
		h = &F.held[F.nheld++];
		h->no = no;
		h->ica = ica;
		h->valid = (size_t)valid < ica->size ? (size_t)valid : ica->size;
	}
	h->used = ++F.clock;
	*out = h;
	return 0;
}

/* ---- the overlay: this operation's writes, until its commit --------------- */

static struct unit *overlay_find(uint64_t off)
{
	for (struct unit *u = F.ov[(off / TXN_UNIT) % OV_BUCKETS]; u; u = u->next)
		if (u->off == off)
			return u;
	return NULL;
}

static void overlay_clear(void)
{
	for (unsigned b = 0; b < OV_BUCKETS; b++) {
		while (F.ov[b]) {
			struct unit *u = F.ov[b];
			F.ov[b] = u->next;
			free(u);
		}
	}
	F.nunits = 0;
}

/*
 * Copy the image's bytes [off, off+len) (inside one TXN_UNIT) into p: this
 * operation's own writes first, else the cache.  Returns the bytes that exist
 * (fewer at the end of the image), or < 0.
 */
static int image_read(uint64_t off, size_t len, unsigned char *p)
{
	struct unit *u = overlay_find(off / TXN_UNIT * TXN_UNIT);
	if (u) {
		memcpy(p, u->bytes + off % TXN_UNIT, len);
		return (int)len;
	}
	struct held *h;
	int r = held_get(off / F.block_size, &h);
	if (r == 0)
		r = ant_ica_map(F.c, h->ica);   /* blocks arrive unmapped (lazy) */
	if (r < 0)
		return r;
	size_t in = (size_t)(off % F.block_size);
	size_t have = h->valid > in ? h->valid - in : 0;
	if (have > len)
		have = len;
	memcpy(p, (const unsigned char *)h->ica->addr + in, have);
	F.cache_bytes += have;
	return (int)have;
}

/*
 * Copy the image's bytes [off, off+len) (any length) into p straight from
 * the cache blocks' memfds with pread: a large read maps no block.  Bytes
 * past the end of the image are zeros.  For reads only: it does not look at
 * the overlay, which is empty outside a changing op.  Returns 0 or < 0.
 */
static int image_pread(uint64_t off, size_t len, unsigned char *p)
{
	while (len) {
		struct held *h;
		int r = held_get(off / F.block_size, &h);
		if (r < 0)
			return r;
		size_t in = (size_t)(off % F.block_size);
		size_t want = F.block_size - in < len ? F.block_size - in : len;
		size_t have = h->valid > in ? h->valid - in : 0;
		if (have > want)
			have = want;
		size_t got = 0;
		while (got < have) {
			ssize_t n = pread(ant_ica_fd(h->ica), p + got, have - got, (off_t)(in + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			got += (size_t)n;
		}
		if (have < want)
			memset(p + have, 0, want - have);
		F.cache_bytes += have;
		off += want;
		p += want;
		len -= want;
	}
	return 0;
}

/* Put bytes [off, off+len) (inside one unit) into this operation's overlay. */
static errcode_t image_write(uint64_t off, size_t len, const unsigned char *p)
{
	uint64_t uoff = off / TXN_UNIT * TXN_UNIT;
	struct unit *u = overlay_find(uoff);
	if (!u) {
		if (F.nunits >= TXN_MAX_UNITS)
			return EXT2_ET_NO_MEMORY;
		u = malloc(sizeof(*u));
		if (!u)
			return EXT2_ET_NO_MEMORY;
		u->off = uoff;
		if (len < TXN_UNIT) {   /* a part of the unit: start from what is there */
			int r = image_read(uoff, TXN_UNIT, u->bytes);
			if (r < 0) {
				free(u);
				return io_error(r);
			}
			if ((size_t)r < TXN_UNIT) {   /* the image ends inside this unit */
				free(u);
				return EXT2_ET_SHORT_WRITE;
			}
		}
		unsigned b = (unsigned)((uoff / TXN_UNIT) % OV_BUCKETS);
		u->next = F.ov[b];
		F.ov[b] = u;
		F.nunits++;
	}
	memcpy(u->bytes + off % TXN_UNIT, p, len);
	return 0;
}

/* Bytes [off, off+len) of the image, in unit-sized pieces. */
static errcode_t range_io(io_channel io, uint64_t off, uint64_t len, void *buf, int write)
{
	unsigned char *p = buf;
	uint64_t done = 0;
	int short_read = 0;
	while (done < len) {
		size_t in = (size_t)((off + done) % TXN_UNIT);
		size_t want = TXN_UNIT - in;
		if (want > len - done)
			want = (size_t)(len - done);
		if (write) {
			errcode_t e = image_write(off + done, want, p + done);
			if (e)
				return e;
		} else {
			int got = image_read(off + done, want, p + done);
			if (got < 0) {
				errcode_t e = io_error(got);
				if (io->read_error)
					return io->read_error(io, (unsigned long)(off / io->block_size),
							      (int)(len / io->block_size), buf, (size_t)len,
							      (int)done, e);
				return e;
			}
			if ((size_t)got < want) {
				memset(p + done + got, 0, want - (size_t)got);
				short_read = 1;
			}
		}
		done += want;
	}
	return short_read ? EXT2_ET_SHORT_READ : 0;
}

/* A block range of the channel's block size (a negative count is a byte
 * count, as libext2fs uses for the superblock) as bytes. */
static errcode_t blk_range(io_channel io, unsigned long long block, int count, uint64_t *off,
			   uint64_t *len)
{
	if (io->magic != EXT2_ET_MAGIC_IO_CHANNEL)
		return EXT2_ET_MAGIC_IO_CHANNEL;
	*len = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)io->block_size;
	if (block > (UINT64_MAX - *len) / (uint64_t)io->block_size)
		return EXT2_ET_LLSEEK_FAILED;
	*off = block * (uint64_t)io->block_size;
	return 0;
}

/*
 * Read count blocks from block on into buf.  The channel's block size (1024
 * while the superblock is read, then the file system's) need not be the
 * cache's.  Bytes past the end of the image read as zeros and the answer is
 * EXT2_ET_SHORT_READ, as unix_io does it.
 */
static errcode_t ant_io_read_blk64(io_channel io, unsigned long long block, int count, void *buf)
{
	uint64_t off, len;
	errcode_t e = blk_range(io, block, count, &off, &len);
	return e ? e : range_io(io, off, len, buf, 0);
}

static errcode_t ant_io_read_blk(io_channel io, unsigned long block, int count, void *buf)
{
	return ant_io_read_blk64(io, block, count, buf);
}

/* Writes go to the overlay; the operation's commit sends them on as one
 * transaction (commit_op). */
static errcode_t ant_io_write_blk64(io_channel io, unsigned long long block, int count,
				    const void *buf)
{
	uint64_t off, len;
	errcode_t e = blk_range(io, block, count, &off, &len);
	return e ? e : range_io(io, off, len, (void *)buf, 1);
}

static errcode_t ant_io_write_blk(io_channel io, unsigned long block, int count, const void *buf)
{
	return ant_io_write_blk64(io, block, count, buf);
}

static errcode_t ant_io_write_byte(io_channel io, unsigned long offset, int count, const void *buf)
{
	if (io->magic != EXT2_ET_MAGIC_IO_CHANNEL)
		return EXT2_ET_MAGIC_IO_CHANNEL;
	if (count < 0)
		return EXT2_ET_INVALID_ARGUMENT;
	return range_io(io, offset, (uint64_t)count, (void *)buf, 1);
}

static errcode_t ant_io_flush(io_channel io)
{
	return 0;   /* the overlay is committed per operation, not here */
}

static errcode_t ant_io_set_option(io_channel io, const char *option, const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;   /* no options */
}

static errcode_t ant_io_get_stats(io_channel io, io_stats *stats)
{
	static struct struct_io_stats st;
	st.num_fields = 2;
	st.bytes_read = F.cache_bytes;
	st.bytes_written = F.committed_bytes;
	if (stats)
		*stats = &st;
	return 0;
}

static struct struct_io_manager ant_io_manager_s = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "ant cache I/O manager",
	.open = ant_io_open,
	.close = ant_io_close,
	.set_blksize = ant_io_set_blksize,
	.read_blk = ant_io_read_blk,
	.write_blk = ant_io_write_blk,
	.flush = ant_io_flush,
	.write_byte = ant_io_write_byte,
	.set_option = ant_io_set_option,
	.get_stats = ant_io_get_stats,
	.read_blk64 = ant_io_read_blk64,
	.write_blk64 = ant_io_write_blk64,
	/* discard, cache_readahead, zeroout: none (libext2fs copes with NULL) */
};

/* ---- errors --------------------------------------------------------------- */

/* libext2fs's errcode_t as -errno (EXT2_ET_* codes are not errnos). */
static int err_to_errno(errcode_t e)
{
	if (e > 0 && e < 4096)
		return -(int)e;   /* com_err passes errnos through as they are */
	switch (e) {
	case EXT2_ET_FILE_NOT_FOUND:
		return -ENOENT;
	case EXT2_ET_NO_DIRECTORY:
		return -ENOTDIR;
	case EXT2_ET_SYMLINK_LOOP:
		return -ELOOP;
	case EXT2_ET_RO_FILSYS:
	case EXT2_ET_FILE_RO:
		return -EROFS;
	case EXT2_ET_NO_MEMORY:
		return -ENOMEM;
	case EXT2_ET_FILE_TOO_BIG:
		return -EFBIG;
	case EXT2_ET_INVALID_ARGUMENT:
		return -EINVAL;
	case EXT2_ET_DIR_EXISTS:
	case EXT2_ET_FILE_EXISTS:
		return -EEXIST;
	case EXT2_ET_DIR_NO_SPACE:
	case EXT2_ET_BLOCK_ALLOC_FAIL:
	case EXT2_ET_INODE_ALLOC_FAIL:
		return -ENOSPC;
	case EXT2_ET_UNIMPLEMENTED:
	case EXT2_ET_OP_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case EXT2_ET_DIR_CORRUPTED:
	case EXT2_ET_BAD_INODE_NUM:
	case EXT2_ET_INODE_CSUM_INVALID:
	case EXT2_ET_EXTENT_CSUM_INVALID:
	case EXT2_ET_DIR_CSUM_INVALID:
	case EXT2_ET_BAD_MAGIC:
		return -EUCLEAN;   /* what the kernel's ext4 calls EFSCORRUPTED */
	default:
		return -EIO;       /* a short read, a failed cache call, the rest */
	}
}

/* Answer with a short text; an error's text is dropped rather than the
 * answer if the control ICA has no room left for it. */
static int reply_text(struct ant_conn *c, struct ant_item *it, int32_t rv, const char *text)
{
	int r = ant_reply(c, it, rv, text, text ? strlen(text) : 0, NULL, ANT_DF_DETACH);
	if (r == -E2BIG && rv < 0)
		r = ant_reply(c, it, rv, NULL, 0, NULL, ANT_DF_DETACH);
	return r;
}

/* Answer a libext2fs error: -errno and "WHAT: why". */
static int reply_err(struct ant_conn *c, struct ant_item *it, errcode_t e, const char *what)
{
	char text[320];
	if (F.io_err)   /* a cache call failed under it: say that */
		snprintf(text, sizeof(text), "%.200s: cache: %s", what, ant_strerror(F.io_err));
	else
		snprintf(text, sizeof(text), "%.200s: %s", what,
			 e > 0 && e < 4096 ? ant_strerror(-(int)e) : error_message(e));
	return reply_text(c, it, err_to_errno(e), text);
}

/* ---- the file system ------------------------------------------------------ */

static errcode_t fs_open(void)
{
	if (F.fs)
		return 0;
	ext2_filsys fs = NULL;
	/* 64BITS: mkfs.ext4 makes 64bit file systems, and libext2fs refuses
	 * them to a caller that only knows the legacy bitmaps.  MASTER_SB_ONLY:
	 * a commit writes the primary superblock and descriptors only, as the
	 * kernel does; e2fsck brings the backups up to date. */
	int flags = EXT2_FLAG_64BITS | (F.read_only ? 0 : EXT2_FLAG_RW | EXT2_FLAG_MASTER_SB_ONLY);
	errcode_t e = ext2fs_open2("ant-cache", NULL, flags, 0, 0, &ant_io_manager_s, &fs);
	if (e)
		return e;
	if (!F.read_only && ext2fs_has_feature_journal_needs_recovery(fs->super)) {
		/* A journal with transactions in it: writing past them would
		 * lose them.  fsck the image first (e2fsck -fy). */
		fprintf(stderr, "fs: the image's journal needs recovery: serving it read-only\n");
		ext2fs_free(fs);
		F.read_only = 1;
		return fs_open();
	}
	if (!F.read_only) {
		e = ext2fs_read_bitmaps(fs);
		if (e) {
			ext2fs_free(fs);
			return e;
		}
	}
	F.fs = fs;
	F.opens++;
	return 0;
}

/* Forget the file system as libext2fs has it in memory: after an operation
 * that failed half-way, its bitmaps and counters may not match the image
 * any more.  The next request opens it again from the image. */
static void fs_discard(void)
{
	overlay_clear();
	if (F.fs)
		ext2fs_free(F.fs);
	F.fs = NULL;
}

static void log_open_error(errcode_t e)
{
	fprintf(stderr, "fs: cannot open the file system through '%s': %s%s\n", F.cache,
		F.io_err ? "cache: " : "", F.io_err ? ant_strerror(F.io_err) : error_message(e));
}

/* The parameters as a C string in buf (PARAM_MAX), or -1 if absent or not text. */
static int param_text(const struct ant_item *it, char *buf)
{
	if (!it->params || !it->nparams || it->nparams >= PARAM_MAX)
		return -1;
	memcpy(buf, it->params, it->nparams);
	buf[it->nparams] = '\0';
	return strlen(buf) == it->nparams ? 0 : -1;
}

static int is_path(const char *p)
{
	return p[0] == '/' && strlen(p) <= PATH_MAX_LEN;
}

/* Look up path; follow: also a symlink at its end. */
static errcode_t resolve(const char *path, int follow, ext2_ino_t *ino)
{
	F.io_err = 0;
	if (follow)
		return ext2fs_namei_follow(F.fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
	return ext2fs_namei(F.fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
}

static errcode_t read_inode(ext2_ino_t ino, struct ext2_inode_large *inode)
{
	memset(inode, 0, sizeof(*inode));
	return ext2fs_read_inode_full(F.fs, ino, (struct ext2_inode *)inode, sizeof(*inode));
}

/* Seconds since the epoch, with the epoch bits of a large inode (after 2038). */
static int64_t inode_mtime(const struct ext2_inode_large *inode)
{
	int64_t t = (int32_t)inode->i_mtime;
	size_t extra_end = offsetof(struct ext2_inode_large, i_mtime_extra) + sizeof(inode->i_mtime_extra);
	if (EXT2_INODE_SIZE(F.fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	    EXT2_GOOD_OLD_INODE_SIZE + (size_t)inode->i_extra_isize >= extra_end)
		t += (int64_t)(inode->i_mtime_extra & EXT4_EPOCH_MASK) << 32;
	return t;
}

/* PATH's inode (following a last symlink if follow); on an error the call
 * is answered and *answered holds ant_reply's result. */
static int load_inode(struct ant_conn *c, struct ant_item *it, const char *path, int follow,
		      ext2_ino_t *ino, struct ext2_inode_large *inode, int *answered)
{
	errcode_t e = resolve(path, follow, ino);
	if (!e && inode)
		e = read_inode(*ino, inode);
	if (e) {
		*answered = reply_err(c, it, e, path);
		return -1;
	}
	return 0;
}

static int do_stat(struct ant_conn *c, struct ant_item *it, const char *path)
{
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, path, 0, &ino, &inode, &answered) < 0)
		return answered;
	char text[320];
	snprintf(text, sizeof(text), "ino=%u mode=0%o size=%" PRIu64 " nlink=%u mtime=%" PRId64
		 " uid=%u gid=%u atime=%" PRId64 " ctime=%" PRId64 " blocks=%llu",
		 (unsigned)ino, (unsigned)inode.i_mode, (uint64_t)EXT2_I_SIZE(&inode),
		 (unsigned)inode.i_links_count, inode_mtime(&inode), (unsigned)inode_uid(inode),
		 (unsigned)inode_gid(inode), (int64_t)(int32_t)inode.i_atime,
		 (int64_t)(int32_t)inode.i_ctime,
		 (unsigned long long)ext2fs_get_stat_i_blocks(F.fs, (struct ext2_inode *)&inode));
	return reply_text(c, it, 0, text);
}

static int do_lookup(struct ant_conn *c, struct ant_item *it, const char *path)
{
	ext2_ino_t ino;
	int answered;
	if (load_inode(c, it, path, 0, &ino, NULL, &answered) < 0)
		return answered;
	char text[32];
	snprintf(text, sizeof(text), "ino=%u", (unsigned)ino);
	return reply_text(c, it, 0, text);
}

struct dent {
	char *name;
	ext2_ino_t ino;
	char type;   /* f, d, l, ? or 0: the entry does not say */
};

struct listing {
	struct dent *v;
	size_t n, cap;
	errcode_t err;
};

static char ft_letter(int ft)
{
	switch (ft) {
	case EXT2_FT_REG_FILE:
		return 'f';
	case EXT2_FT_DIR:
		return 'd';
	case EXT2_FT_SYMLINK:
		return 'l';
	default:
		return '?';
	}
}

static char mode_letter(unsigned mode)
{
	return LINUX_S_ISREG(mode) ? 'f' : LINUX_S_ISDIR(mode) ? 'd' : LINUX_S_ISLNK(mode) ? 'l' : '?';
}

static int collect(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize,
		   char *buf, void *priv)
{
	struct listing *l = priv;
	int len = ext2fs_dirent_name_len(d);
	if ((len == 1 && d->name[0] == '.') || (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dent *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->err = EXT2_ET_NO_MEMORY;
			return DIRENT_ABORT;
		}
		l->v = v;
		l->cap = cap;
	}
	struct dent *e = &l->v[l->n];
	e->name = strndup(d->name, (size_t)len);
	if (!e->name) {
		l->err = EXT2_ET_NO_MEMORY;
		return DIRENT_ABORT;
	}
	e->ino = d->inode;
	int ft = ext2fs_dirent_file_type(d);
	e->type = ft == EXT2_FT_UNKNOWN ? 0 : ft_letter(ft);
	l->n++;
	return 0;
}

/*
 * Sort by name.  Not qsort(3): glibc 2.36's asks sysconf(_SC_PHYS_PAGES) for
 * any array over 1 KB, which is the sysinfo system call, and the default
 * sandbox kills a server for that.  A merge sort needs nothing but tmp.
 */
static void sort_dents(struct dent *v, struct dent *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2, i = 0, j = h, k = 0;
	sort_dents(v, tmp, h);
	sort_dents(v + h, tmp, n - h);
	while (i < h && j < n)
		tmp[k++] = strcmp(v[j].name, v[i].name) < 0 ? v[j++] : v[i++];
	while (i < h)
		tmp[k++] = v[i++];
	memcpy(v, tmp, k * sizeof(*v));   /* v[j..n) is in place already */
}

/* Append to a growing buffer; -1 when out of memory. */
struct text {
	char *s;
	size_t len, cap;
};

static int text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *p = realloc(t->s, cap);
		if (!p)
			return -1;
		t->s = p;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
	return 0;
}

/* A name with a tab, a newline or a backslash in it would break the line
 * format: those three are written as \t, \n and \\. */
static int text_add_name(struct text *t, const char *name)
{
	for (const char *p = name; *p; p++) {
		const char *esc = *p == '\t' ? "\\t" : *p == '\n' ? "\\n" : *p == '\\' ? "\\\\" : NULL;
		if (esc ? text_add(t, esc, 2) : text_add(t, p, 1))
			return -1;
	}
	return 0;
}

/* Send a result too big for the control ICA in a data ICA of this server's,
 * given to the caller (detached); retval = its bytes. */
static int reply_in_ica(struct ant_conn *c, struct ant_item *it, const char *bytes, size_t n)
{
	struct ant_ica *ica;
	int r = ant_ica_alloc(c, n, &ica);
	if (r < 0)
		return reply_text(c, it, r, "no data ICA for the listing");
	memcpy(ica->addr, bytes, n);
	return ant_reply(c, it, (int32_t)n, NULL, 0, ica, ANT_DF_DETACH);
}

static int do_readdir(struct ant_conn *c, struct ant_item *it, const char *path)
{
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, path, 1, &ino, &inode, &answered) < 0)
		return answered;
	if (!LINUX_S_ISDIR(inode.i_mode))
		return reply_text(c, it, -ENOTDIR, "not a directory");
	struct listing l = { 0 };
	errcode_t e = ext2fs_dir_iterate2(F.fs, ino, 0, NULL, collect, &l);
	if (!e)
		e = l.err;
	struct text t = { 0 };
	int r;
	if (e) {
		r = reply_err(c, it, e, path);
		goto out;
	}
	struct dent *tmp = l.n > 1 ? malloc(l.n * sizeof(*tmp)) : NULL;
	if (l.n > 1 && !tmp) {
		r = reply_err(c, it, EXT2_ET_NO_MEMORY, path);
		goto out;
	}
	sort_dents(l.v, tmp, l.n);
	free(tmp);
	for (size_t i = 0; i < l.n && !e; i++) {
		struct dent *d = &l.v[i];
		if (!d->type) {
			/* No file type in the entry (a file system without the
			 * filetype feature): ask the inode. */
			struct ext2_inode_large di;
			d->type = read_inode(d->ino, &di) == 0 ? mode_letter(di.i_mode) : '?';
		}
		char tail[32];
		int n = snprintf(tail, sizeof(tail), "\t%u\t%c\n", (unsigned)d->ino, d->type);
		if (text_add_name(&t, d->name) < 0 || text_add(&t, tail, (size_t)n) < 0)
			e = EXT2_ET_NO_MEMORY;
	}
	if (e) {
		r = reply_err(c, it, e, path);
	} else if (t.len > INT32_MAX) {
		r = reply_text(c, it, -EFBIG, "listing too long");
	} else {
		/* The listing travels in the control ICA's result area when it
		 * fits there (about 3 KB of the page); else in a data ICA. */
		r = t.len <= INLINE_MAX ? ant_reply(c, it, (int32_t)t.len, t.s, t.len, NULL, ANT_DF_DETACH)
					: -E2BIG;
		if (r == -E2BIG)
			r = reply_in_ica(c, it, t.s, t.len);
	}
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].name);
	free(l.v);
	free(t.s);
	return r;
}

/* "PATH OFFSET LENGTH": the two numbers are the last two words, so that
 * PATH may hold spaces.  Cuts buf after PATH. */
static int parse_read(char *buf, uint64_t *off, uint64_t *len)
{
	char *sp2 = strrchr(buf, ' ');
	if (!sp2 || sp2 == buf)
		return -1;
	*sp2 = '\0';
	char *sp1 = strrchr(buf, ' ');
	if (!sp1 || sp1 == buf)
		return -1;
	*sp1 = '\0';
	const char *o = sp1 + 1, *l = sp2 + 1;
	if (*o < '0' || *o > '9' || *l < '0' || *l > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long ov = strtoull(o, &end, 10);
	if (errno || *end)
		return -1;
	unsigned long long lv = strtoull(l, &end, 10);
	if (errno || *end || lv > MAX_READ || ov > INT64_MAX)
		return -1;
	*off = ov;
	*len = lv;
	return 0;
}

/*
 * A regular file's bytes [off, off+n) by its extents: each run of blocks
 * that lies together on the image is copied in one image_pread, instead of
 * libext2fs's one io_manager call per 4 KiB block.  Holes and unwritten
 * extents read as zeros.  Only for extent-mapped files (ext4's default);
 * the rest go through ext2fs_file_read.
 */
static errcode_t read_extents(ext2_ino_t ino, struct ext2_inode_large *inode, uint64_t off, uint64_t n,
			      unsigned char *dst)
{
	ext2_extent_handle_t h;
	errcode_t e = ext2fs_extent_open2(F.fs, ino, (struct ext2_inode *)inode, &h);
	if (e)
		return e;
	uint64_t bs = F.fs->blocksize, pos = off, end = off + n;
	while (!e && pos < end) {
		blk64_t lblk = pos / bs;
		struct ext2fs_extent ex;
		errcode_t g = ext2fs_extent_goto2(h, 0, lblk);
		if (!g)
			g = ext2fs_extent_get(h, EXT2_EXTENT_CURRENT, &ex);
		uint64_t take;
		if (g == EXT2_ET_EXTENT_NOT_FOUND || (!g && (lblk < ex.e_lblk || lblk >= ex.e_lblk + ex.e_len))) {
			/* A hole: this block reads as zeros. */
			take = (lblk + 1) * bs - pos;
			if (take > end - pos)
				take = end - pos;
			memset(dst + (pos - off), 0, (size_t)take);
		} else if (g) {
			e = g;
			break;
		} else {
			take = (ex.e_lblk + ex.e_len) * bs - pos;
			if (take > end - pos)
				take = end - pos;
			if (ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT) {
				memset(dst + (pos - off), 0, (size_t)take);
			} else {
				uint64_t phys = ex.e_pblk * bs + (pos - ex.e_lblk * bs);
				int r = image_pread(phys, (size_t)take, dst + (pos - off));
				if (r < 0) {
					F.io_err = r;
					e = io_error(r);
					break;
				}
			}
		}
		pos += take;
	}
	ext2fs_extent_free(h);
	return e;
}

/*
 * The areas callers send along with their reads (ant-fuse: one per thread),
 * kept mapped here between reads: the next read that brings the same area
 * costs no mmap and munmap of its pages.  At most AREAS_MAX, least recently
 * used given up first.  Keeps ica (or marks it used again if kept).
 */
static void area_keep(struct ant_ica *ica)
{
	for (unsigned i = 0; i < F.nareas; i++)
		if (F.areas[i].ica == ica) {
			F.areas[i].used = ++F.clock;
			return;
		}
	if (F.nareas == AREAS_MAX) {
		unsigned lru = 0;
		for (unsigned i = 1; i < F.nareas; i++)
			if (F.areas[i].used < F.areas[lru].used)
				lru = i;
		ant_ica_release(F.c, F.areas[lru].ica);
		F.areas[lru] = F.areas[--F.nareas];
	}
	F.areas[F.nareas].ica = ica;
	F.areas[F.nareas++].used = ++F.clock;
}

static int read_into(struct ant_conn *c, struct ant_item *it, char *buf, struct ant_ica *given)
{
	uint64_t off, len;
	if (parse_read(buf, &off, &len) < 0 || !is_path(buf))
		return reply_text(c, it, ANT_E_BAD_REQUEST,
				  "read wants \"PATH OFFSET LENGTH\" (LENGTH at most 64 MiB)");
	const char *path = buf;
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, path, 1, &ino, &inode, &answered) < 0)
		return answered;
	if (LINUX_S_ISDIR(inode.i_mode))
		return reply_text(c, it, -EISDIR, "is a directory");
	if (!LINUX_S_ISREG(inode.i_mode))
		return reply_text(c, it, -EINVAL, "not a regular file");
	uint64_t size = EXT2_I_SIZE(&inode);
	if (off >= size || len == 0)
		return reply_text(c, it, 0, NULL);   /* past the end: nothing, no ICA */
	uint64_t n = size - off < len ? size - off : len;
	/* The caller's own area (kept here, see area_keep) if it is big enough
	 * and writable: no new area per read.  Else one of fs's, given away. */
	struct ant_ica *ica = given && given->size >= n ? given : NULL, *fresh = NULL;
	if (ica && (ant_ica_map(c, ica) < 0 || !ica->writable))
		ica = NULL;   /* (a caller's area arrives unmapped: lazy mapping) */
	if (!ica) {
		int r = ant_ica_alloc(c, (size_t)n, &fresh);
		if (r < 0)
			return reply_text(c, it, r, "no data ICA for the bytes");
		ica = fresh;
	}
	ext2_file_t file = NULL;
	errcode_t e = 0;
	uint64_t got = 0;
	if ((inode.i_flags & EXT4_EXTENTS_FL) && !(inode.i_flags & EXT4_INLINE_DATA_FL)) {
		e = read_extents(ino, &inode, off, n, ica->addr);
		got = e ? 0 : n;
	} else {
		e = ext2fs_file_open2(F.fs, ino, (struct ext2_inode *)&inode, 0, &file);
		if (!e)
			e = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
	}
	while (!e && file && got < n) {
		unsigned int step = 0;
		e = ext2fs_file_read(file, (char *)ica->addr + got, (unsigned int)(n - got), &step);
		if (!e && step == 0)
			break;   /* the file ended sooner than its size said */
		got += step;
	}
	if (file) {
		errcode_t ce = ext2fs_file_close(file);
		if (!e)
			e = ce;
	}
	if (e) {
		ant_ica_release(c, fresh);
		return reply_err(c, it, e, path);
	}
	/* fs's own area goes to the caller (detach); the caller's stays kept. */
	return ant_reply(c, it, (int32_t)got, NULL, 0, ica, ica == fresh ? ANT_DF_DETACH : 0);
}

static int do_read(struct ant_conn *c, struct ant_item *it, char *buf)
{
	/* The caller's area, if it sent one; out of the page, so that an answer
	 * without it (an error, the end of the file) does not carry it back. */
	struct ant_ica *given = ant_item_take_data(it);
	if (given && given->writable)
		area_keep(given);
	else if (given) {
		ant_ica_release(c, given);   /* read-only: of no use for the bytes */
		given = NULL;
	}
	return read_into(c, it, buf, given);
}

/* ---- changes: each operation is one transaction ---------------------------- */

/* Sort unit offsets (merge sort; see sort_dents for why not qsort). */
static void sort_u64(uint64_t *v, uint64_t *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2, i = 0, j = h, k = 0;
	sort_u64(v, tmp, h);
	sort_u64(v + h, tmp, n - h);
	while (i < h && j < n)
		tmp[k++] = v[j] < v[i] ? v[j++] : v[i++];
	while (i < h)
		tmp[k++] = v[i++];
	memcpy(v, tmp, k * sizeof(*v));
}

/*
 * End of a changing operation: libext2fs's bitmaps, group descriptors and
 * superblock go to the overlay too (ext2fs_flush), then the whole overlay
 * travels to the cache as one transaction in one data ICA, tagged with the
 * operation's id, and the disk applies it whole (redo log) before the answer
 * comes back.  On any failure the in-memory file system is dropped: the
 * image has none of the operation.
 */
static errcode_t commit_op(uint64_t call_id)
{
	errcode_t e = ext2fs_flush2(F.fs, 0);
	if (e)
		return e;
	uint32_t n = F.nunits;
	if (n == 0)
		return 0;
	uint64_t *offs = malloc(2 * (size_t)n * sizeof(*offs));
	if (!offs)
		return EXT2_ET_NO_MEMORY;
	uint32_t k = 0;
	for (unsigned b = 0; b < OV_BUCKETS; b++)
		for (struct unit *u = F.ov[b]; u; u = u->next)
			offs[k++] = u->off;
	sort_u64(offs, offs + n, n);
	size_t data_off = txn_data_off(n);
	uint64_t total = data_off + (uint64_t)n * TXN_UNIT;
	struct ant_ica *ica;
	int r = ant_ica_alloc(F.c, (size_t)total, &ica);
	if (r < 0) {
		free(offs);
		F.io_err = r;
		return io_error(r);
	}
	struct txn_hdr *t = ica->addr;
	t->magic = TXN_MAGIC;
	t->version = TXN_VERSION;
	t->id[0] = F.run_id;
	t->id[1] = call_id;
	t->nunits = n;
	t->data_off = (uint32_t)data_off;
	t->total = total;
	memcpy((unsigned char *)ica->addr + sizeof(*t), offs, (size_t)n * sizeof(*offs));
	for (uint32_t i = 0; i < n; i++)
		memcpy((unsigned char *)ica->addr + data_off + (size_t)i * TXN_UNIT,
		       overlay_find(offs[i])->bytes, TXN_UNIT);
	/* The cache blocks fs holds that this changes are stale from now on. */
	for (uint32_t i = 0; i < n; i++)
		held_forget(offs[i] / F.block_size);
	free(offs);
	r = cache_call("commit", NULL, ica);
	if (r < 0) {
		if (r == ANT_E_NO_OP || r == -EOPNOTSUPP)
			fprintf(stderr, "fs: the cache or disk takes no transactions (%s): "
				"changes are refused\n", ant_strerror(r));
		F.io_err = r;
		return io_error(r);
	}
	F.commits++;
	F.committed_bytes += (uint64_t)n * TXN_UNIT;
	overlay_clear();
	return 0;
}

/* Was the transaction of call id applied already?  1, 0, or < 0 (unknown). */
static int txn_applied(uint64_t call_id)
{
	char arg[48];
	snprintf(arg, sizeof(arg), "%" PRIx64 " %" PRIx64, F.run_id, call_id);
	return cache_call("txnstatus", arg, NULL);
}

static uint32_t now32(void)
{
	return (uint32_t)time(NULL);
}

static void set_times(struct ext2_inode_large *inode, int a, int m, int c)
{
	uint32_t t = now32();
	if (a)
		inode->i_atime = t;
	if (m)
		inode->i_mtime = t;
	if (c)
		inode->i_ctime = t;
}

static errcode_t write_inode(ext2_ino_t ino, struct ext2_inode_large *inode)
{
	return ext2fs_write_inode_full(F.fs, ino, (struct ext2_inode *)inode, sizeof(*inode));
}

/* A changed directory's mtime and ctime. */
static errcode_t touch_dir(ext2_ino_t dir)
{
	struct ext2_inode_large inode;
	errcode_t e = read_inode(dir, &inode);
	if (e)
		return e;
	set_times(&inode, 0, 1, 1);
	return write_inode(dir, &inode);
}

/* PATH split into its folder's inode and its last name (in name, NUL-ended). */
static errcode_t split(const char *path, ext2_ino_t *dir, char *name)
{
	const char *slash = strrchr(path, '/');
	const char *last = slash + 1;
	size_t n = strlen(last);
	if (n == 0 || (n == 1 && last[0] == '.') || (n == 2 && last[0] == '.' && last[1] == '.'))
		return EXT2_ET_INVALID_ARGUMENT;
	if (n > EXT2_NAME_LEN)
		return ENAMETOOLONG;
	memcpy(name, last, n + 1);
	char parent[PATH_MAX_LEN + 1];
	size_t pl = (size_t)(slash - path);
	memcpy(parent, path, pl ? pl : 1);
	parent[pl ? pl : 1] = '\0';
	errcode_t e = resolve(parent, 1, dir);
	if (e)
		return e;
	struct ext2_inode_large inode;
	e = read_inode(*dir, &inode);
	if (!e && !LINUX_S_ISDIR(inode.i_mode))
		e = EXT2_ET_NO_DIRECTORY;
	return e;
}

static errcode_t lookup_in(ext2_ino_t dir, const char *name, ext2_ino_t *ino)
{
	return ext2fs_lookup(F.fs, dir, name, (int)strlen(name), NULL, ino);
}

/* ext2fs_link, growing the folder by a block when it is full. */
static errcode_t link_in(ext2_ino_t dir, const char *name, ext2_ino_t ino, int ft)
{
	errcode_t e = ext2fs_link(F.fs, dir, name, ino, ft);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		e = ext2fs_expand_dir(F.fs, dir);
		if (!e)
			e = ext2fs_link(F.fs, dir, name, ino, ft);
	}
	return e;
}

static int file_type(unsigned mode)
{
	return LINUX_S_ISDIR(mode) ? EXT2_FT_DIR : LINUX_S_ISLNK(mode) ? EXT2_FT_SYMLINK :
	       LINUX_S_ISREG(mode) ? EXT2_FT_REG_FILE : EXT2_FT_UNKNOWN;
}

/* An inode nothing links to any more: its blocks, extended-attribute block
 * and the inode itself go back to the free pool. */
static errcode_t release_inode(ext2_ino_t ino, struct ext2_inode_large *inode)
{
	errcode_t e = 0;
	if (ext2fs_inode_has_valid_blocks2(F.fs, (struct ext2_inode *)inode))
		e = ext2fs_punch(F.fs, ino, (struct ext2_inode *)inode, NULL, 0, ~0ULL);
	if (e)
		return e;
	blk64_t acl = ext2fs_file_acl_block(F.fs, (struct ext2_inode *)inode);
	if (acl) {
		__u32 count = 0;
		e = ext2fs_adjust_ea_refcount3(F.fs, acl, NULL, -1, &count, ino);
		if (e)
			return e;
		if (count == 0)
			ext2fs_block_alloc_stats2(F.fs, acl, -1);
		ext2fs_file_acl_block_set(F.fs, (struct ext2_inode *)inode, 0);
	}
	inode->i_links_count = 0;
	inode->i_dtime = now32();
	e = write_inode(ino, inode);
	if (!e)
		ext2fs_inode_alloc_stats2(F.fs, ino, -1, LINUX_S_ISDIR(inode->i_mode));
	return e;
}

struct empty_check {
	int entries;
};

static int count_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize,
		       char *buf, void *priv)
{
	struct empty_check *c = priv;
	int len = ext2fs_dirent_name_len(d);
	if (d->inode && !((len == 1 && d->name[0] == '.') ||
			  (len == 2 && d->name[0] == '.' && d->name[1] == '.'))) {
		c->entries++;
		return DIRENT_ABORT;
	}
	return 0;
}

static errcode_t dir_empty(ext2_ino_t dir, int *empty)
{
	struct empty_check c = { 0 };
	errcode_t e = ext2fs_dir_iterate2(F.fs, dir, 0, NULL, count_entry, &c);
	*empty = c.entries == 0;
	return e;
}

/* Remove name (inode ino, already read into inode) from dir. */
static errcode_t remove_entry(ext2_ino_t dir, const char *name, ext2_ino_t ino,
			      struct ext2_inode_large *inode)
{
	errcode_t e = ext2fs_unlink(F.fs, dir, name, ino, 0);
	if (e)
		return e;
	if (LINUX_S_ISDIR(inode->i_mode)) {
		/* Its ".." no longer counts for the parent. */
		struct ext2_inode_large pi;
		e = read_inode(dir, &pi);
		if (e)
			return e;
		if (pi.i_links_count > 1)
			pi.i_links_count--;
		set_times(&pi, 0, 1, 1);
		e = write_inode(dir, &pi);
		if (e)
			return e;
		return release_inode(ino, inode);
	}
	e = touch_dir(dir);
	if (e)
		return e;
	if (inode->i_links_count > 1) {
		inode->i_links_count--;
		set_times(inode, 0, 0, 1);
		return write_inode(ino, inode);
	}
	return release_inode(ino, inode);
}

/* A new inode for a regular file or a symlink's place: mode, times, extents. */
static errcode_t new_file(ext2_ino_t dir, const char *name, unsigned mode, ext2_ino_t *out)
{
	ext2_ino_t ino;
	errcode_t e = ext2fs_new_inode(F.fs, dir, (int)mode, NULL, &ino);
	if (e)
		return e;
	e = link_in(dir, name, ino, file_type(mode));
	if (e)
		return e;
	ext2fs_inode_alloc_stats2(F.fs, ino, +1, 0);
	struct ext2_inode_large inode;
	memset(&inode, 0, sizeof(inode));
	inode.i_mode = (__u16)mode;
	inode.i_links_count = 1;
	set_times(&inode, 1, 1, 1);
	if (EXT2_INODE_SIZE(F.fs->super) > EXT2_GOOD_OLD_INODE_SIZE)
		inode.i_extra_isize = sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	if (ext2fs_has_feature_extents(F.fs->super)) {
		ext2_extent_handle_t h;
		e = ext2fs_extent_open2(F.fs, ino, (struct ext2_inode *)&inode, &h);
		if (e)
			return e;
		ext2fs_extent_free(h);
	}
	e = ext2fs_write_new_inode(F.fs, ino, (struct ext2_inode *)&inode);
	if (!e)
		e = touch_dir(dir);
	*out = ino;
	return e;
}

/* "PATH MODE" / "PATH SIZE" / "PATH A B": the last n words are numbers
 * (base 8 if octal, else 10); cuts buf after PATH. */
static int parse_tail(char *buf, unsigned n, int octal, uint64_t *v)
{
	for (unsigned i = n; i-- > 0;) {
		char *sp = strrchr(buf, ' ');
		if (!sp || sp == buf || sp[1] < '0' || sp[1] > '9')
			return -1;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(sp + 1, &end, octal ? 8 : 10);
		if (errno || *end || x > INT64_MAX)
			return -1;
		v[i] = x;
		*sp = '\0';
	}
	return is_path(buf) ? 0 : -1;
}

/* "A\nB": two absolute paths; cuts buf at the newline. */
static int parse_two(char *buf, char **a, char **b)
{
	char *nl = strchr(buf, '\n');
	if (!nl)
		return -1;
	*nl = '\0';
	*a = buf;
	*b = nl + 1;
	return strchr(*b, '\n') ? -1 : 0;
}

/* What a changing op answers on success: a retval and a short text. */
struct answer {
	int32_t rv;
	char text[64];
};

static void answer_ino(struct answer *a, ext2_ino_t ino)
{
	snprintf(a->text, sizeof(a->text), "ino=%u", (unsigned)ino);
}

static errcode_t op_create(char *buf, int dir, struct answer *a)
{
	uint64_t mode;
	if (parse_tail(buf, 1, 1, &mode) < 0 || mode > 07777)
		return EXT2_ET_INVALID_ARGUMENT;
	ext2_ino_t parent, ino;
	char name[EXT2_NAME_LEN + 1];
	errcode_t e = split(buf, &parent, name);
	if (e)
		return e;
	if (lookup_in(parent, name, &ino) == 0)
		return EXT2_ET_FILE_EXISTS;
	if (!dir) {
		e = new_file(parent, name, LINUX_S_IFREG | (unsigned)mode, &ino);
	} else {
		e = ext2fs_mkdir(F.fs, parent, 0, name);
		if (e == EXT2_ET_DIR_NO_SPACE) {
			e = ext2fs_expand_dir(F.fs, parent);
			if (!e)
				e = ext2fs_mkdir(F.fs, parent, 0, name);
		}
		struct ext2_inode_large inode;
		if (!e)
			e = lookup_in(parent, name, &ino);
		if (!e)
			e = read_inode(ino, &inode);
		if (!e) {
			inode.i_mode = (__u16)(LINUX_S_IFDIR | mode);
			set_times(&inode, 1, 1, 1);
			e = write_inode(ino, &inode);
		}
		if (!e)
			e = touch_dir(parent);
	}
	if (!e)
		answer_ino(a, ino);
	return e;
}

static errcode_t op_symlink(char *buf, struct answer *a)
{
	char *target, *path;
	if (parse_two(buf, &target, &path) < 0 || !is_path(path) || !*target ||
	    strlen(target) >= F.fs->blocksize)
		return EXT2_ET_INVALID_ARGUMENT;
	ext2_ino_t parent, ino;
	char name[EXT2_NAME_LEN + 1];
	errcode_t e = split(path, &parent, name);
	if (e)
		return e;
	if (lookup_in(parent, name, &ino) == 0)
		return EXT2_ET_FILE_EXISTS;
	e = ext2fs_symlink(F.fs, parent, 0, name, target);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		e = ext2fs_expand_dir(F.fs, parent);
		if (!e)
			e = ext2fs_symlink(F.fs, parent, 0, name, target);
	}
	if (!e)
		e = lookup_in(parent, name, &ino);
	if (!e)
		e = touch_dir(parent);
	if (!e)
		answer_ino(a, ino);
	return e;
}

static errcode_t op_remove(char *buf, int dir)
{
	if (!is_path(buf))
		return EXT2_ET_INVALID_ARGUMENT;
	ext2_ino_t parent, ino;
	char name[EXT2_NAME_LEN + 1];
	errcode_t e = split(buf, &parent, name);
	struct ext2_inode_large inode;
	if (!e)
		e = lookup_in(parent, name, &ino);
	if (!e)
		e = read_inode(ino, &inode);
	if (e)
		return e;
	if (dir && !LINUX_S_ISDIR(inode.i_mode))
		return ENOTDIR;
	if (!dir && LINUX_S_ISDIR(inode.i_mode))
		return EISDIR;
	if (dir) {
		int empty;
		e = dir_empty(ino, &empty);
		if (e)
			return e;
		if (!empty)
			return ENOTEMPTY;
	}
	return remove_entry(parent, name, ino, &inode);
}

struct dotdot {
	ext2_ino_t to;
	int done;
};

static int set_dotdot(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize,
		      char *buf, void *priv)
{
	struct dotdot *dd = priv;
	if (entry == DIRENT_DOT_DOT_FILE) {
		d->inode = dd->to;
		dd->done = 1;
		return DIRENT_CHANGED | DIRENT_ABORT;
	}
	return 0;
}

/* Is dir (a folder) ino itself or inside it?  Walks up the ".." entries. */
static errcode_t inside(ext2_ino_t dir, ext2_ino_t ino, int *yes)
{
	*yes = 0;
	for (int depth = 0; depth < 4096; depth++) {
		if (dir == ino) {
			*yes = 1;
			return 0;
		}
		if (dir == EXT2_ROOT_INO)
			return 0;
		errcode_t e = ext2fs_lookup(F.fs, dir, "..", 2, NULL, &dir);
		if (e)
			return e;
	}
	return EXT2_ET_SYMLINK_LOOP;
}

static errcode_t op_rename(char *buf)
{
	char *from, *to;
	if (parse_two(buf, &from, &to) < 0 || !is_path(from) || !is_path(to))
		return EXT2_ET_INVALID_ARGUMENT;
	ext2_ino_t sdir, ddir, ino, old;
	char sname[EXT2_NAME_LEN + 1], dname[EXT2_NAME_LEN + 1];
	struct ext2_inode_large inode, oi;
	errcode_t e = split(from, &sdir, sname);
	if (!e)
		e = split(to, &ddir, dname);
	if (!e)
		e = lookup_in(sdir, sname, &ino);
	if (!e)
		e = read_inode(ino, &inode);
	if (e)
		return e;
	int isdir = LINUX_S_ISDIR(inode.i_mode);
	if (isdir) {
		int yes;
		e = inside(ddir, ino, &yes);
		if (e)
			return e;
		if (yes)
			return EINVAL;   /* a folder into itself */
	}
	if (lookup_in(ddir, dname, &old) == 0) {
		if (old == ino)
			return 0;   /* the same file: nothing to do */
		e = read_inode(old, &oi);
		if (e)
			return e;
		if (LINUX_S_ISDIR(oi.i_mode) && !isdir)
			return EISDIR;
		if (!LINUX_S_ISDIR(oi.i_mode) && isdir)
			return ENOTDIR;
		if (LINUX_S_ISDIR(oi.i_mode)) {
			int empty;
			e = dir_empty(old, &empty);
			if (e)
				return e;
			if (!empty)
				return ENOTEMPTY;
		}
		e = remove_entry(ddir, dname, old, &oi);
		if (e)
			return e;
	}
	e = link_in(ddir, dname, ino, file_type(inode.i_mode));
	if (!e)
		e = ext2fs_unlink(F.fs, sdir, sname, ino, 0);
	if (!e && isdir && sdir != ddir) {
		/* The folder's ".." now names its new parent; the link counts
		 * of the two parents follow. */
		struct dotdot dd = { .to = ddir };
		e = ext2fs_dir_iterate2(F.fs, ino, DIRENT_FLAG_INCLUDE_EMPTY, NULL, set_dotdot, &dd);
		if (!e && !dd.done)
			e = EXT2_ET_DIR_CORRUPTED;
		struct ext2_inode_large pi;
		if (!e)
			e = read_inode(sdir, &pi);
		if (!e) {
			if (pi.i_links_count > 1)
				pi.i_links_count--;
			e = write_inode(sdir, &pi);
		}
		if (!e)
			e = read_inode(ddir, &pi);
		if (!e) {
			pi.i_links_count++;
			e = write_inode(ddir, &pi);
		}
	}
	if (!e)
		e = touch_dir(sdir);
	if (!e && ddir != sdir)
		e = touch_dir(ddir);
	if (!e) {
		e = read_inode(ino, &inode);
		if (!e) {
			set_times(&inode, 0, 0, 1);
			e = write_inode(ino, &inode);
		}
	}
	return e;
}

/* A regular file of PATH (symlinks followed), opened for writing. */
static errcode_t open_for_write(const char *path, ext2_ino_t *ino, ext2_file_t *file)
{
	struct ext2_inode_large inode;
	errcode_t e = resolve(path, 1, ino);
	if (!e)
		e = read_inode(*ino, &inode);
	if (e)
		return e;
	if (LINUX_S_ISDIR(inode.i_mode))
		return EISDIR;
	if (!LINUX_S_ISREG(inode.i_mode))
		return EXT2_ET_INVALID_ARGUMENT;
	return ext2fs_file_open2(F.fs, *ino, (struct ext2_inode *)&inode, EXT2_FILE_WRITE, file);
}

/* A written or truncated file's mtime and ctime (after its handle is closed). */
static errcode_t touch_file(ext2_ino_t ino)
{
	struct ext2_inode_large inode;
	errcode_t e = read_inode(ino, &inode);
	if (e)
		return e;
	set_times(&inode, 0, 1, 1);
	return write_inode(ino, &inode);
}

static errcode_t op_write(char *buf, const struct ant_ica *data, struct answer *a)
{
	uint64_t off, len;
	if (parse_read(buf, &off, &len) < 0 || !is_path(buf))
		return EXT2_ET_INVALID_ARGUMENT;
	if (len && (!data || data->size < len))
		return EXT2_ET_INVALID_ARGUMENT;
	if (off + len > ((uint64_t)1 << 44))
		return EXT2_ET_FILE_TOO_BIG;
	ext2_ino_t ino;
	ext2_file_t file;
	errcode_t e = open_for_write(buf, &ino, &file);
	if (e)
		return e;
	e = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
	uint64_t put = 0;
	while (!e && put < len) {
		unsigned int step = 0;
		e = ext2fs_file_write(file, (const char *)data->addr + put, (unsigned int)(len - put), &step);
		if (!e && step == 0)
			e = EXT2_ET_SHORT_WRITE;
		put += step;
	}
	/* libext2fs grows i_size as it writes; make sure, for a write past the end. */
	__u64 size = 0;
	if (!e)
		e = ext2fs_file_get_lsize(file, &size);
	if (!e && size < off + len)
		e = ext2fs_file_set_size2(file, off + len);
	errcode_t ce = ext2fs_file_close(file);
	if (!e)
		e = ce;
	if (!e)
		e = touch_file(ino);
	a->rv = (int32_t)len;
	return e;
}

static errcode_t op_truncate(char *buf)
{
	uint64_t size;
	if (parse_tail(buf, 1, 0, &size) < 0)
		return EXT2_ET_INVALID_ARGUMENT;
	if (size > ((uint64_t)1 << 44))
		return EXT2_ET_FILE_TOO_BIG;
	ext2_ino_t ino;
	ext2_file_t file;
	errcode_t e = open_for_write(buf, &ino, &file);
	if (e)
		return e;
	e = ext2fs_file_set_size2(file, size);
	errcode_t ce = ext2fs_file_close(file);
	if (!e)
		e = ce;
	if (!e)
		e = touch_file(ino);
	return e;
}

/* chmod "PATH MODE" and utimens "PATH ATIME MTIME": the inode only. */
static errcode_t op_attr(char *buf, int times)
{
	uint64_t v[2];
	if (parse_tail(buf, times ? 2 : 1, !times, v) < 0 || (!times && v[0] > 07777) ||
	    (times && (v[0] > UINT32_MAX || v[1] > UINT32_MAX)))
		return EXT2_ET_INVALID_ARGUMENT;
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	errcode_t e = resolve(buf, 1, &ino);
	if (!e)
		e = read_inode(ino, &inode);
	if (e)
		return e;
	if (times) {
		inode.i_atime = (__u32)v[0];
		inode.i_mtime = (__u32)v[1];
	} else {
		inode.i_mode = (__u16)((inode.i_mode & ~07777u) | v[0]);
	}
	set_times(&inode, 0, 0, 1);
	return write_inode(ino, &inode);
}

/* The ops that change the file system. */
static int is_write_op(const char *op)
{
	static const char *const ops[] = { "write", "create", "mkdir", "unlink", "rmdir", "rename",
					   "symlink", "truncate", "chmod", "utimens", NULL };
	for (int i = 0; ops[i]; i++)
		if (strcmp(op, ops[i]) == 0)
			return 1;
	return 0;
}

/*
 * A replayed change whose transaction the disk applied already (fs died
 * after its commit, before its answer): doing it again would fail (create:
 * EEXIST) or do it twice.  Answer what the first run would have.
 */
static int answer_applied(struct ant_conn *c, struct ant_item *it, char *buf)
{
	F.replays_skipped++;
	const char *op = it->op;
	char *path = buf, *a, *b;
	uint64_t v[2];
	if (strcmp(op, "write") == 0) {
		uint64_t off, len;
		if (parse_read(buf, &off, &len) == 0)
			return reply_text(c, it, (int32_t)len, NULL);
	}
	if (strcmp(op, "create") == 0 || strcmp(op, "mkdir") == 0) {
		if (parse_tail(buf, 1, 1, v) < 0)
			return reply_text(c, it, ANT_E_BAD_REQUEST, NULL);
	} else if (strcmp(op, "symlink") == 0) {
		if (parse_two(buf, &a, &b) < 0)
			return reply_text(c, it, ANT_E_BAD_REQUEST, NULL);
		path = b;
	} else {
		return reply_text(c, it, 0, NULL);
	}
	ext2_ino_t ino;
	errcode_t e = resolve(path, 0, &ino);
	if (e)
		return reply_err(c, it, e, path);
	struct answer ans;
	answer_ino(&ans, ino);
	return reply_text(c, it, 0, ans.text);
}

static int do_change(struct ant_conn *c, struct ant_item *it, char *buf)
{
	/* write's bytes: used here, never passed on (the answer carries none). */
	struct ant_ica *data = ant_item_take_data(it);
	if (data && ant_ica_map(c, data) < 0) {
		ant_ica_release(c, data);
		return reply_text(c, it, ANT_E_BAD_REQUEST, "cannot map the data ICA");
	}
	if (F.read_only || (it->replay && txn_applied(it->call_id) == 1)) {
		ant_ica_release(c, data);
		if (F.read_only)
			return reply_text(c, it, -EROFS, "the file system is served read-only");
		return answer_applied(c, it, buf);
	}
	const char *op = it->op;
	struct answer a = { 0 };
	errcode_t e;
	F.io_err = 0;
	if (strcmp(op, "write") == 0)
		e = op_write(buf, data, &a);
	else if (strcmp(op, "create") == 0 || strcmp(op, "mkdir") == 0)
		e = op_create(buf, op[0] == 'm', &a);
	else if (strcmp(op, "symlink") == 0)
		e = op_symlink(buf, &a);
	else if (strcmp(op, "unlink") == 0 || strcmp(op, "rmdir") == 0)
		e = op_remove(buf, op[0] == 'r');
	else if (strcmp(op, "rename") == 0)
		e = op_rename(buf);
	else if (strcmp(op, "truncate") == 0)
		e = op_truncate(buf);
	else
		e = op_attr(buf, strcmp(op, "utimens") == 0);
	ant_ica_release(c, data);
	if (!e)
		e = commit_op(it->call_id);
	if (!e && F.crash_mark && !it->replay && strstr(buf, F.crash_mark)) {
		fprintf(stderr, "fs: --crash-after-commit: dying before the answer\n");
		raise(SIGKILL);
	}
	if (e) {
		/* Nothing of it reached the image: forget libext2fs's memory of it. */
		fs_discard();
		if (e == EXT2_ET_INVALID_ARGUMENT && !F.io_err)
			return reply_text(c, it, ANT_E_BAD_REQUEST, "bad parameters (see fs --help)");
		return reply_err(c, it, e, op);
	}
	return reply_text(c, it, a.rv, a.text[0] ? a.text : NULL);
}

static int do_readlink(struct ant_conn *c, struct ant_item *it, const char *path)
{
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, path, 0, &ino, &inode, &answered) < 0)
		return answered;
	if (!LINUX_S_ISLNK(inode.i_mode))
		return reply_text(c, it, -EINVAL, "not a symbolic link");
	uint64_t size = EXT2_I_SIZE(&inode);
	if (size >= F.fs->blocksize || size > INLINE_MAX)
		return reply_text(c, it, -EUCLEAN, "symbolic link too long");
	char target[INLINE_MAX + 1];
	errcode_t e = 0;
	if (ext2fs_is_fast_symlink((struct ext2_inode *)&inode)) {
		memcpy(target, inode.i_block, (size_t)size);
	} else if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		size_t n = 0;
		char tmp[EXT2_N_BLOCKS * 4 + 256];
		e = ext2fs_inline_data_size(F.fs, ino, &n);
		if (!e && n > sizeof(tmp))
			e = EXT2_ET_INLINE_DATA_NO_SPACE;
		if (!e)
			e = ext2fs_inline_data_get(F.fs, ino, (struct ext2_inode *)&inode, tmp, &n);
		if (!e)
			memcpy(target, tmp, (size_t)size < n ? (size_t)size : n);
	} else {
		ext2_file_t file;
		unsigned got = 0;
		e = ext2fs_file_open2(F.fs, ino, (struct ext2_inode *)&inode, 0, &file);
		if (!e) {
			e = ext2fs_file_read(file, target, (unsigned)size, &got);
			errcode_t ce = ext2fs_file_close(file);
			if (!e)
				e = ce;
		}
		if (!e && got != size)
			e = EXT2_ET_SHORT_READ;
	}
	if (e)
		return reply_err(c, it, e, path);
	return ant_reply(c, it, (int32_t)size, target, (size_t)size, NULL, ANT_DF_DETACH);
}

static int do_statfs(struct ant_conn *c, struct ant_item *it)
{
	struct ext2_super_block *sb = F.fs->super;
	blk64_t bfree = ext2fs_free_blocks_count(sb), res = ext2fs_r_blocks_count(sb);
	char text[200];
	snprintf(text, sizeof(text), "bsize=%u blocks=%llu bfree=%llu bavail=%llu files=%u ffree=%u "
		 "namelen=%u", (unsigned)F.fs->blocksize,
		 (unsigned long long)ext2fs_blocks_count(sb), (unsigned long long)bfree,
		 (unsigned long long)(bfree > res ? bfree - res : 0), (unsigned)sb->s_inodes_count,
		 (unsigned)sb->s_free_inodes_count, (unsigned)EXT2_NAME_LEN);
	return reply_text(c, it, 0, text);
}

/* flush: everything answered so far is on the image already (one commit per
 * change); the disk's fsync makes it durable. */
static int do_flush(struct ant_conn *c, struct ant_item *it)
{
	int r = cache_call("flush", NULL, NULL);
	return reply_text(c, it, r < 0 ? -(int)io_error(r) : 0, r < 0 ? "the disk's flush failed" : NULL);
}

static int serve(struct ant_conn *c, struct ant_item *it)
{
	static char buf[PARAM_MAX];
	const char *op = it->op;
	int path_op = strcmp(op, "stat") == 0 || strcmp(op, "lookup") == 0 ||
		      strcmp(op, "readdir") == 0 || strcmp(op, "readlink") == 0;
	int bare_op = strcmp(op, "statfs") == 0 || strcmp(op, "flush") == 0;
	int change = is_write_op(op);
	if (strcmp(op, "stats") == 0) {
		char text[256];
		snprintf(text, sizeof(text), "cache_reads %" PRIu64 " cache_bytes %" PRIu64
			 " opens %" PRIu64 " commits %" PRIu64 " committed_bytes %" PRIu64
			 " replays_skipped %" PRIu64, F.cache_reads, F.cache_bytes, F.opens,
			 F.commits, F.committed_bytes, F.replays_skipped);
		return reply_text(c, it, 0, text);
	}
	if (it->data && strcmp(op, "write") != 0 && strcmp(op, "read") != 0) {
		/* Only write and read take a data ICA: drop this server's hold
		 * (the answer then carries none, or one of this server's). */
		ant_ica_release(c, ant_item_take_data(it));
	}
	if (!path_op && !bare_op && !change && strcmp(op, "read") != 0)
		return reply_text(c, it, ANT_E_NO_OP, NULL);
	if (bare_op)
		buf[0] = '\0';
	else if (param_text(it, buf) < 0 || (path_op && !is_path(buf)))
		return reply_text(c, it, ANT_E_BAD_REQUEST, "wants an absolute PATH (at most 2048 bytes)");
	F.io_err = 0;
	errcode_t e = fs_open();
	if (e) {
		log_open_error(e);
		return reply_err(c, it, e, "cannot open the file system");
	}
	if (change)
		return do_change(c, it, buf);
	if (strcmp(op, "stat") == 0)
		return do_stat(c, it, buf);
	if (strcmp(op, "lookup") == 0)
		return do_lookup(c, it, buf);
	if (strcmp(op, "readdir") == 0)
		return do_readdir(c, it, buf);
	if (strcmp(op, "readlink") == 0)
		return do_readlink(c, it, buf);
	if (strcmp(op, "statfs") == 0)
		return do_statfs(c, it);
	if (strcmp(op, "flush") == 0)
		return do_flush(c, it);
	return do_read(c, it, buf);
}

int main(int argc, char **argv)
{
	struct testopts o = { .self = testops_self("fs"), .usage = usage };
	for (int i = 1; i < argc; i++) {
		int r = testopts_parse(&o, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (strcmp(argv[i], "--read-only") == 0) {
			F.read_only = 1;
		} else if (strcmp(argv[i], "--crash-after-commit") == 0 && i + 1 < argc) {
			F.crash_mark = argv[++i];
		} else if ((r = testopts_number(&o, argc, argv, &i, "--block-size", 4096, 64u << 20,
						4096, &F.block_size)) != 0) {
			if (r < 0)
				return 2;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "%s: unknown option '%s' (see fs --help)\n", o.self, argv[i]);
			return 2;
		} else if (!F.cache) {
			F.cache = argv[i];
		} else {
			fprintf(stderr, "%s: more than one CACHE given\n", o.self);
			return 2;
		}
	}
	if (!F.cache) {
		fprintf(stderr, "%s: which cache server? (see fs --help)\n", o.self);
		return 2;
	}
	const char *run = getenv("ANT_RUN_ID");
	F.run_id = run ? strtoull(run, NULL, 16) : 0;
	if (!F.run_id) {
		/* Not under antd, or an old one: transactions still work, but a
		 * replayed change cannot be told from a new one. */
		fprintf(stderr, "%s: no $ANT_RUN_ID: replayed changes are done again\n", o.self);
	}
	initialize_ext2_error_table();
	F.c = testops_connect(&o, "fs");
	/* Areas that arrive are mapped only when fs reads or writes them by
	 * address: a large read copies cache blocks with pread, unmapped. */
	ant_set_lazy_map(F.c, 1);
	int r;
	if (ant_server_id(F.c, F.cache) < 0) {
		fprintf(stderr, "%s: no server named '%s' in this stack\n", o.self, F.cache);
		return 1;
	}
	struct ant_item it;
	while ((r = ant_next(F.c, &it, -1)) == 0) {
		if (testops_take(&o, F.c, &it))
			continue;
		if (it.kind == ANT_ITEM_RESULT) {
			ant_ica_release(F.c, it.data);   /* no async calls: nothing waits for it */
			continue;
		}
		if (it.kind != ANT_ITEM_REQUEST)
			continue;
		r = serve(F.c, &it);
		if (r < 0 && r != -ECONNRESET && it.kind == ANT_ITEM_REQUEST) {
			/* Not answered (no room, a bad ICA...): answer bare rather
			 * than hold it until the deadline. */
			r = ant_reply(F.c, &it, r, NULL, 0, NULL, ANT_DF_DETACH);
		}
		if (r < 0)
			break;
	}
	fs_discard();   /* never ext2fs_close: it would write */
	ant_close(F.c);
	return r == -ECONNRESET ? 0 : (r < 0 ? 1 : 0);
}
