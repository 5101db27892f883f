/* fs_io.c - the file manager's block access: libext2fs's io_manager over the cache's blocks, and the overlay a change writes to. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fill.h"
#include "fs.h"
#include "txn.h"

/*
 * libext2fs does its I/O through this file's io_manager ("ant-cache").  A
 * read is a synchronous call "read BLOCK" to the cache server, whose answer
 * is the block's data ICA, read-only; fs keeps up to HELD_MAX of them mapped
 * (most of libext2fs's reads are small pieces of one cache block) and copies
 * the bytes out.  A write goes to an overlay of 4 KiB units in this process,
 * which commit_op sends on as one transaction.
 */

#define HELD_MAX     64u          /* cache blocks held mapped at once */
#define OV_BUCKETS   1024u        /* the overlay's hash buckets */

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

/* ---- the io_manager: libext2fs's block I/O as calls to the cache ---------- */

/* The block layer's own state (F has what the ops share). */
static struct {
	struct held held[HELD_MAX];
	unsigned nheld;
	uint64_t clock;              /* LRU clock of held */
	struct unit *ov[OV_BUCKETS]; /* the overlay */
	uint32_t nunits;
} IO;

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
int cache_call(const char *op, const char *arg, struct ant_ica *data)
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
errcode_t io_error(int r)
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
	for (unsigned i = 0; i < IO.nheld; i++)
		if (IO.held[i].no == no)
			return &IO.held[i];
	return NULL;
}

static void held_drop(unsigned i)
{
	ant_ica_release(F.c, IO.held[i].ica);
	IO.held[i] = IO.held[--IO.nheld];
}

static void held_forget(uint64_t no)
{
	for (unsigned i = 0; i < IO.nheld; i++)
		if (IO.held[i].no == no) {
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
		if (IO.nheld == HELD_MAX) {   /* the least recently used goes */
			unsigned lru = 0;
			for (unsigned i = 1; i < IO.nheld; i++)
				if (IO.held[i].used < IO.held[lru].used)
					lru = i;
			held_drop(lru);
		}
		h = &IO.held[IO.nheld++];
		h->no = no;
		h->ica = ica;
		h->valid = (size_t)valid < ica->size ? (size_t)valid : ica->size;
	}
	h->used = ++IO.clock;
	*out = h;
	return 0;
}

/* ---- the overlay: this operation's writes, until its commit --------------- */

static struct unit *overlay_find(uint64_t off)
{
	for (struct unit *u = IO.ov[(off / TXN_UNIT) % OV_BUCKETS]; u; u = u->next)
		if (u->off == off)
			return u;
	return NULL;
}

static void overlay_clear(void)
{
	for (unsigned b = 0; b < OV_BUCKETS; b++) {
		while (IO.ov[b]) {
			struct unit *u = IO.ov[b];
			IO.ov[b] = u->next;
			free(u);
		}
	}
	IO.nunits = 0;
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
int image_pread(uint64_t off, size_t len, unsigned char *p)
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
		r = fill_pread(ant_ica_fd(h->ica), p, have, in);
		if (r < 0)
			return r;
		if (have < want)
			memset(p + have, 0, want - have);
		F.cache_bytes += have;
		off += want;
		p += want;
		len -= want;
	}
	return 0;
}

int image_held(uint64_t off, uint64_t len)
{
	for (uint64_t no = off / F.block_size; no * F.block_size < off + len; no++)
		if (!held_find(no))
			return 0;
	return 1;
}

/* Put bytes [off, off+len) (inside one unit) into this operation's overlay. */
static errcode_t image_write(uint64_t off, size_t len, const unsigned char *p)
{
	uint64_t uoff = off / TXN_UNIT * TXN_UNIT;
	struct unit *u = overlay_find(uoff);
	if (!u) {
		if (IO.nunits >= TXN_MAX_UNITS)
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
		u->next = IO.ov[b];
		IO.ov[b] = u;
		IO.nunits++;
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

/* ---- the file system ------------------------------------------------------ */

errcode_t fs_open(void)
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
void fs_discard(void)
{
	overlay_clear();
	if (F.fs)
		ext2fs_free(F.fs);
	F.fs = NULL;
}

static int u64_less(const void *a, const void *b)
{
	return *(const uint64_t *)a < *(const uint64_t *)b;
}

/*
 * End of a changing operation: libext2fs's bitmaps, group descriptors and
 * superblock go to the overlay too (ext2fs_flush), then the whole overlay
 * travels to the cache as one transaction in one data ICA, tagged with the
 * operation's id, and the disk applies it whole (redo log) before the answer
 * comes back.  On any failure the in-memory file system is dropped: the
 * image has none of the operation.
 */
errcode_t commit_op(uint64_t call_id)
{
	errcode_t e = ext2fs_flush2(F.fs, 0);
	if (e)
		return e;
	uint32_t n = IO.nunits;
	if (n == 0)
		return 0;
	uint64_t *offs = malloc(2 * (size_t)n * sizeof(*offs));
	if (!offs)
		return EXT2_ET_NO_MEMORY;
	uint32_t k = 0;
	for (unsigned b = 0; b < OV_BUCKETS; b++)
		for (struct unit *u = IO.ov[b]; u; u = u->next)
			offs[k++] = u->off;
	fs_sort(offs, offs + n, n, sizeof(*offs), u64_less);
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

