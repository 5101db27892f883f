/* fs.c - the file manager (the paper's FM): an ext2/3/4 file system read with libext2fs, blocks from the cache. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

#include "ant/ant.h"
#include "testops.h"

/*
 * Ops (text parameters, as the disk's and the cache's; PATH is absolute):
 *   stat    "PATH"                -> "ino=N mode=0100644 size=S nlink=L mtime=T"
 *                                    (mode in octal; a symlink is not followed)
 *   lookup  "PATH"                -> "ino=N" (a symlink is not followed)
 *   readdir "PATH"                -> one line per entry "NAME\tINO\tTYPE" (TYPE f, d,
 *                                    l or ?), sorted by name, no "." and ".."; retval =
 *                                    the listing's bytes.  A listing that does not fit
 *                                    in the control ICA's result area (about 3 KB)
 *                                    comes in a data ICA given to the caller (detached)
 *                                    instead: look at the result's data ICA first.
 *   read    "PATH OFFSET LENGTH"  -> a data ICA of this server's (detached to the caller)
 *                                    with the file's bytes; retval = bytes read, fewer at
 *                                    the end of the file, 0 (and no ICA) past it.
 *                                    LENGTH is at most 64 MiB.
 *   stats   ""                    -> "cache_reads R cache_bytes B opens O"
 * readdir and read follow a symlink at the end of PATH; every op follows the
 * ones inside it.  Errors are -errno with a short text (-ENOENT, -ENOTDIR,
 * -EISDIR, -EUCLEAN for a corrupt structure, -EIO when the cache failed);
 * ANT_E_BAD_REQUEST for bad parameters, ANT_E_NO_OP for an unknown op.
 *
 * This first version is read-only: the ops that would change the file system
 * (write, create, mkdir, unlink, ...) answer -EROFS.
 *
 * libext2fs does its I/O through an io_manager of this file's own ("ant-cache"):
 * every block it reads is a synchronous call "read BLOCK" to the cache server,
 * whose answer is the block's data ICA, read-only; the bytes are copied into
 * libext2fs's buffer and the ICA released (the cache keeps its own hold).
 * libant buffers whatever else arrives during such a call; with the default
 * max_inflight of 1 antd sends nothing but the result anyway.
 *
 * The file system is opened on the first request (the io_manager needs the
 * connection to antd, which is a global of this file), and again on a later
 * request if that failed.  Every op only reads, so antd may replay any of
 * them; this server keeps no cache state of its own that a cache restart could
 * make stale.
 */

#define MAX_READ     (64u << 20)  /* a read moves at most 64 MiB */
#define INLINE_MAX   3072u        /* results up to this size go in the control ICA */
#define PARAM_MAX    ANT_CICA_SIZE
#define PATH_MAX_LEN 2048u        /* leaves the result area room for an answer */

static struct {
	struct ant_conn *c;
	const char *cache;           /* the cache server's name */
	unsigned block_size;         /* the cache's block size */
	ext2_filsys fs;              /* NULL until opened */
	int io_err;                  /* the last failed cache call's retval (for texts) */
	uint64_t cache_reads, cache_bytes, opens;
} F = { .block_size = 4096 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fs [OPTIONS] CACHE\n"
		"An ant server (started by antd): the file manager.  Reads the ext2/3/4 file\n"
		"system whose blocks the cache server CACHE serves (read-only for now).\n"
		"Ops: stat PATH, lookup PATH, readdir PATH, read PATH OFFSET LENGTH, stats.\n"
		"\n"
		"  --block-size N  the cache's block size (default 4096, a multiple of 4096)\n"
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

/* An ant call's error as an errcode_t: -errno stays an errno (com_err keeps
 * errnos as they are), ANT_E_* (the cache failed, its deadline...) is EIO. */
static errcode_t io_error(int r)
{
	return r < 0 && r > -4096 ? (errcode_t)-r : EIO;
}

static errcode_t ant_io_open(const char *name, int flags, io_channel *channel)
{
	if (!name)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EXT2_ET_RO_FILSYS;   /* writes come in the next version */
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
 * Read count blocks of the channel's block size from block on (a negative
 * count is a byte count, as libext2fs uses for the superblock) into buf, one
 * cache block at a time.  The channel's block size (1024 while the superblock
 * is read, then the file system's) need not be the cache's.  Bytes past the
 * end of the image read as zeros and the answer is EXT2_ET_SHORT_READ, as
 * unix_io does it.
 */
static errcode_t ant_io_read_blk64(io_channel io, unsigned long long block, int count, void *buf)
{
	if (io->magic != EXT2_ET_MAGIC_IO_CHANNEL)
		return EXT2_ET_MAGIC_IO_CHANNEL;
	uint64_t len = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)io->block_size;
	if (block > (UINT64_MAX - len) / (uint64_t)io->block_size)
		return EXT2_ET_LLSEEK_FAILED;
	uint64_t off = block * (uint64_t)io->block_size;
	unsigned char *p = buf;
	size_t done = 0;
	int short_read = 0;
	while (done < len) {
		uint64_t cb = (off + done) / F.block_size;
		size_t in = (size_t)((off + done) % F.block_size);
		size_t want = F.block_size - in;
		if (want > len - done)
			want = (size_t)(len - done);
		struct ant_ica *ica;
		int valid = cache_read(cb, &ica);
		if (valid < 0) {
			errcode_t e = io_error(valid);
			if (io->read_error)
				return io->read_error(io, (unsigned long)block, count, buf, (size_t)len,
						      (int)done, e);
			return e;
		}
		size_t have = (size_t)valid < ica->size ? (size_t)valid : ica->size;
		have = have > in ? have - in : 0;
		if (have > want)
			have = want;
		memcpy(p + done, (const unsigned char *)ica->addr + in, have);
		ant_ica_release(F.c, ica);
		F.cache_bytes += have;
		if (have < want) {
			memset(p + done + have, 0, want - have);
			short_read = 1;
		}
		done += want;
	}
	return short_read ? EXT2_ET_SHORT_READ : 0;
}

static errcode_t ant_io_read_blk(io_channel io, unsigned long block, int count, void *buf)
{
	return ant_io_read_blk64(io, block, count, buf);
}

/* Read-only for now: the file system is opened without EXT2_FLAG_RW, so
 * libext2fs never writes; these answer anyone who tries anyway. */
static errcode_t ant_io_write_blk64(io_channel io, unsigned long long block, int count,
				    const void *buf)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t ant_io_write_blk(io_channel io, unsigned long block, int count, const void *buf)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t ant_io_write_byte(io_channel io, unsigned long offset, int count, const void *buf)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t ant_io_flush(io_channel io)
{
	return 0;   /* nothing is ever written */
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
	st.bytes_written = 0;
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
	 * them to a caller that only knows the legacy bitmaps. */
	errcode_t e = ext2fs_open2("ant-cache", NULL, EXT2_FLAG_64BITS, 0, 0, &ant_io_manager_s, &fs);
	if (e)
		return e;
	F.fs = fs;
	F.opens++;
	return 0;
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
	char text[160];
	snprintf(text, sizeof(text), "ino=%u mode=0%o size=%" PRIu64 " nlink=%u mtime=%" PRId64,
		 (unsigned)ino, (unsigned)inode.i_mode, (uint64_t)EXT2_I_SIZE(&inode),
		 (unsigned)inode.i_links_count, inode_mtime(&inode));
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

static int do_read(struct ant_conn *c, struct ant_item *it, char *buf)
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
	struct ant_ica *ica;
	int r = ant_ica_alloc(c, (size_t)n, &ica);
	if (r < 0)
		return reply_text(c, it, r, "no data ICA for the bytes");
	ext2_file_t file = NULL;
	errcode_t e = ext2fs_file_open2(F.fs, ino, (struct ext2_inode *)&inode, 0, &file);
	uint64_t got = 0;
	if (!e)
		e = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
	while (!e && got < n) {
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
		ant_ica_release(c, ica);
		return reply_err(c, it, e, path);
	}
	/* The bytes go to the caller; this server keeps nothing (detach). */
	return ant_reply(c, it, (int32_t)got, NULL, 0, ica, ANT_DF_DETACH);
}

/* The ops that would change the file system: refused while it is read-only. */
static int is_write_op(const char *op)
{
	static const char *const ops[] = { "write", "create", "mkdir", "unlink", "rmdir", "rename",
					   "symlink", "link", "truncate", "setattr", "chmod", "chown",
					   "utimens", NULL };
	for (int i = 0; ops[i]; i++)
		if (strcmp(op, ops[i]) == 0)
			return 1;
	return 0;
}

static int serve(struct ant_conn *c, struct ant_item *it)
{
	static char buf[PARAM_MAX];
	const char *op = it->op;
	int path_op = strcmp(op, "stat") == 0 || strcmp(op, "lookup") == 0 ||
		      strcmp(op, "readdir") == 0;
	if (strcmp(op, "stats") == 0) {
		char text[160];
		snprintf(text, sizeof(text), "cache_reads %" PRIu64 " cache_bytes %" PRIu64
			 " opens %" PRIu64, F.cache_reads, F.cache_bytes, F.opens);
		return reply_text(c, it, 0, text);
	}
	if (it->data) {
		/* No op of this version takes a data ICA: drop this server's hold
		 * (the answer then carries none, or one of this server's). */
		ant_ica_release(c, it->data);
		it->data = NULL;
	}
	if (is_write_op(op))
		return reply_text(c, it, -EROFS, "the file system is read-only");
	if (!path_op && strcmp(op, "read") != 0)
		return reply_text(c, it, ANT_E_NO_OP, NULL);
	if (param_text(it, buf) < 0 || (path_op && !is_path(buf)))
		return reply_text(c, it, ANT_E_BAD_REQUEST, "wants an absolute PATH (at most 2048 bytes)");
	F.io_err = 0;
	errcode_t e = fs_open();
	if (e) {
		log_open_error(e);
		return reply_err(c, it, e, "cannot open the file system");
	}
	if (strcmp(op, "stat") == 0)
		return do_stat(c, it, buf);
	if (strcmp(op, "lookup") == 0)
		return do_lookup(c, it, buf);
	if (strcmp(op, "readdir") == 0)
		return do_readdir(c, it, buf);
	return do_read(c, it, buf);
}

int main(int argc, char **argv)
{
	struct testopts o = { .self = getenv("ANT_SERVER") ? getenv("ANT_SERVER") : "fs" };
	for (int i = 1; i < argc; i++) {
		int r = testopts_parse(&o, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
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
	initialize_ext2_error_table();
	F.c = testops_connect(&o, "fs");
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
	if (F.fs)
		ext2fs_close_free(&F.fs);
	ant_close(F.c);
	return r == -ECONNRESET ? 0 : (r < 0 ? 1 : 0);
}
