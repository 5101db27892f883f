/* fs_read.c - the file manager's ops that only read: stat, lookup, readdir, read, readlink, statfs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "areas.h"
#include "fill.h"
#include "fs.h"

static struct areas areas;   /* the readers' areas, kept (areas.h) */

errcode_t resolve(const char *path, int follow, ext2_ino_t *ino)
{
	F.io_err = 0;
	/* A name longer than ext4 keeps is ENAMETOOLONG, as the kernel's
	 * ext4 says, not "not found". */
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n > EXT2_NAME_LEN)
			return ENAMETOOLONG;
		p += n + (p[n] == '/');
	}
	if (follow)
		return ext2fs_namei_follow(F.fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
	return ext2fs_namei(F.fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, ino);
}

errcode_t read_inode(ext2_ino_t ino, struct ext2_inode_large *inode)
{
	memset(inode, 0, sizeof(*inode));
	return ext2fs_read_inode_full(F.fs, ino, (struct ext2_inode *)inode, sizeof(*inode));
}

errcode_t resolve_inode(const char *path, int follow, ext2_ino_t *ino,
			struct ext2_inode_large *inode)
{
	errcode_t e = resolve(path, follow, ino);
	return e ? e : read_inode(*ino, inode);
}


/* Why an inode of mode is not of type want ('f' a regular file, 'd' a
 * folder, 'l' a symbolic link, 0 any): a text and *rv; NULL if it is. */
static const char *wrong_type(unsigned mode, char want, int32_t *rv)
{
	*rv = -EINVAL;
	if (want == 'd' && !LINUX_S_ISDIR(mode))
		return *rv = -ENOTDIR, "not a directory";
	if (want == 'l' && !LINUX_S_ISLNK(mode))
		return "not a symbolic link";
	if (want == 'f' && LINUX_S_ISDIR(mode))
		return *rv = -EISDIR, "is a directory";
	if (want == 'f' && !LINUX_S_ISREG(mode))
		return "not a regular file";
	return NULL;
}

/* PATH's inode (following a last symlink if follow), of type want (see
 * wrong_type; inode NULL: not read, any type).  On an error the call is
 * answered and *answered holds ant_reply's result. */
static int load_inode(struct ant_conn *c, struct ant_item *it, const char *path, int follow,
		      char want, ext2_ino_t *ino, struct ext2_inode_large *inode, int *answered)
{
	errcode_t e = resolve(path, follow, ino);
	if (!e && inode)
		e = read_inode(*ino, inode);
	if (e) {
		*answered = reply_err(c, it, e, path);
		return -1;
	}
	int32_t rv;
	const char *why = inode ? wrong_type(inode->i_mode, want, &rv) : NULL;
	if (why) {
		*answered = reply_text(c, it, rv, why);
		return -1;
	}
	return 0;
}

/* A device inode's number, as ext4 keeps it (the old 16-bit encoding in
 * i_block[0], else the new one in i_block[1]); 0 for other inodes. */
static uint64_t inode_rdev(const struct ext2_inode_large *inode)
{
	if (!LINUX_S_ISCHR(inode->i_mode) && !LINUX_S_ISBLK(inode->i_mode))
		return 0;
	uint32_t old = inode->i_block[0], new = inode->i_block[1];
	if (old)
		return makedev((old >> 8) & 0xff, old & 0xff);
	return makedev((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00));
}

int do_stat(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, rq->path, 0, 0, &ino, &inode, &answered) < 0)
		return answered;
	struct fs_attr a = {
		.ino = ino, .mode = inode.i_mode, .size = EXT2_I_SIZE(&inode),
		.nlink = inode.i_links_count,
		.uid = inode_uid(inode), .gid = inode_gid(inode),
		.blocks = ext2fs_get_stat_i_blocks(F.fs, (struct ext2_inode *)&inode),
		.rdev = inode_rdev(&inode),
	};
	inode_time_get(&inode, 'a', &a.atime, &a.atime_ns);
	inode_time_get(&inode, 'm', &a.mtime, &a.mtime_ns);
	inode_time_get(&inode, 'c', &a.ctime, &a.ctime_ns);
	char text[320];
	fs_attr_format(text, sizeof(text), &a);
	return reply_text(c, it, 0, text);
}

int do_lookup(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	ext2_ino_t ino;
	int answered;
	if (load_inode(c, it, rq->path, 0, 0, &ino, NULL, &answered) < 0)
		return answered;
	char text[32];
	fs_ino_format(text, sizeof(text), ino);
	return reply_text(c, it, 0, text);
}

struct dent {
	char *name;
	ext2_ino_t ino;
	char type;   /* f, d, l, p, s, c, b, ? or 0: the entry does not say */
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
	case EXT2_FT_FIFO:
		return 'p';
	case EXT2_FT_SOCK:
		return 's';
	case EXT2_FT_CHRDEV:
		return 'c';
	case EXT2_FT_BLKDEV:
		return 'b';
	default:
		return '?';
	}
}

static char mode_letter(unsigned mode)
{
	return LINUX_S_ISREG(mode) ? 'f' : LINUX_S_ISDIR(mode) ? 'd' : LINUX_S_ISLNK(mode) ? 'l' :
	       LINUX_S_ISFIFO(mode) ? 'p' : LINUX_S_ISSOCK(mode) ? 's' : LINUX_S_ISCHR(mode) ? 'c' :
	       LINUX_S_ISBLK(mode) ? 'b' : '?';
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

static int dent_less(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name) < 0;
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

/* Send a result too big for the control ICA in a data ICA of this server's,
 * given to the caller (detached); retval = its bytes. */
static int reply_in_ica(struct ant_conn *c, struct ant_item *it, const char *bytes, size_t n)
{
	struct ant_ica *ica;
	int r = ant_ica_alloc(c, n, &ica);
	if (r < 0)
		return reply_text(c, it, r, "no data ICA for the answer");
	memcpy(ica->addr, bytes, n);
	return ant_reply(c, it, (int32_t)n, NULL, 0, ica, ANT_DF_DETACH);
}

int reply_bytes(struct ant_conn *c, struct ant_item *it, const void *bytes, size_t n)
{
	/* In the control ICA's result area when they fit there (about 3 KB of
	 * the page); else in a data ICA. */
	int r = n <= FS_INLINE_MAX ? ant_reply(c, it, (int32_t)n, bytes, n, NULL, ANT_DF_DETACH) : -E2BIG;
	return r == -E2BIG ? reply_in_ica(c, it, bytes, n) : r;
}

int do_readdir(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, rq->path, 1, 'd', &ino, &inode, &answered) < 0)
		return answered;
	struct listing l = { 0 };
	errcode_t e = ext2fs_dir_iterate2(F.fs, ino, 0, NULL, collect, &l);
	if (!e)
		e = l.err;
	struct text t = { 0 };
	int r;
	if (e) {
		r = reply_err(c, it, e, rq->path);
		goto out;
	}
	struct dent *tmp = l.n > 1 ? malloc(l.n * sizeof(*tmp)) : NULL;
	if (l.n > 1 && !tmp) {
		r = reply_err(c, it, EXT2_ET_NO_MEMORY, rq->path);
		goto out;
	}
	fs_sort(l.v, tmp, l.n, sizeof(*l.v), dent_less);
	free(tmp);
	for (size_t i = 0; i < l.n && !e; i++) {
		struct dent *d = &l.v[i];
		if (!d->type) {
			/* No file type in the entry (a file system without the
			 * filetype feature): ask the inode. */
			struct ext2_inode_large di;
			d->type = read_inode(d->ino, &di) == 0 ? mode_letter(di.i_mode) : '?';
		}
		char line[FS_DIRENT_MAX];
		int n = fs_dirent_format(line, sizeof(line), d->name, d->ino, d->type);
		if (n < 0 || text_add(&t, line, (size_t)n) < 0)
			e = EXT2_ET_NO_MEMORY;
	}
	if (e) {
		r = reply_err(c, it, e, rq->path);
	} else if (t.len > INT32_MAX) {
		r = reply_text(c, it, -EFBIG, "listing too long");
	} else {
		r = reply_bytes(c, it, t.s, t.len);
	}
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].name);
	free(l.v);
	free(t.s);
	return r;
}

/* What walk_extents does with each run of a file's bytes: src is where
 * the run lies on the image, or FILL_ZERO for a hole; 0 or an errcode_t. */
typedef errcode_t run_fn(uint64_t src, uint64_t len, void *arg);

/*
 * A regular file's bytes [off, off+n) by its extents, as runs that each lie
 * together on the image (holes and unwritten extents: zeros), in order.
 * Only for extent-mapped files (ext4's default); the rest go through
 * ext2fs_file_read.
 */
static errcode_t walk_extents(ext2_ino_t ino, struct ext2_inode_large *inode, uint64_t off, uint64_t n,
			      run_fn *fn, void *arg)
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
		uint64_t take, src = FILL_ZERO;
		if (g == EXT2_ET_EXTENT_NOT_FOUND || (!g && (lblk < ex.e_lblk || lblk >= ex.e_lblk + ex.e_len))) {
			take = (lblk + 1) * bs - pos;   /* a hole: this block reads as zeros */
		} else if (g) {
			e = g;
			break;
		} else {
			take = (ex.e_lblk + ex.e_len) * bs - pos;
			if (!(ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT))
				src = ex.e_pblk * bs + (pos - ex.e_lblk * bs);
		}
		if (take > end - pos)
			take = end - pos;
		e = fn(src, take, arg);
		pos += take;
	}
	ext2fs_extent_free(h);
	return e;
}

/* walk_extents's runs copied into memory: each run that lies together on
 * the image in one image_pread, not one io_manager call per 4 KiB block. */
struct copy_to {
	unsigned char *dst;
};

static errcode_t copy_run(uint64_t src, uint64_t len, void *arg)
{
	struct copy_to *t = arg;
	if (src == FILL_ZERO) {
		memset(t->dst, 0, (size_t)len);
	} else {
		int r = image_pread(src, (size_t)len, t->dst);
		if (r < 0) {
			F.io_err = r;
			return io_error(r);
		}
	}
	t->dst += len;
	return 0;
}

/* walk_extents's runs as a fill (fill.h); *held stays 1 while fs holds
 * every cache block of them. */
struct plan {
	struct fill f;
	int held;
};

static errcode_t plan_run(uint64_t src, uint64_t len, void *arg)
{
	struct plan *p = arg;
	if (src != FILL_ZERO && p->held && !image_held(src, len))
		p->held = 0;
	return fill_add(&p->f, src, len) < 0 ? EXT2_ET_INVALID_ARGUMENT : 0;   /* too many runs */
}

/*
 * The read as the paper's multi-stage call: fs forwards it to the cache as a
 * fill of the file's runs with the reader's own area, and the cache (or the
 * disk after it) fills the area and answers the reader directly.  Not when
 * fs holds every block itself (copying them here costs no call), nor when
 * the runs are too many for one control ICA.  Returns 1 if forwarded (the
 * call is no longer fs's), 0 if fs should read it itself, or < 0.
 */
static int forward_fill(struct ant_conn *c, struct ant_item *it, ext2_ino_t ino,
			struct ext2_inode_large *inode, uint64_t off, uint64_t n, struct ant_ica *area)
{
	static struct plan p;   /* 1 KiB of runs: not on the stack of every read */
	memset(&p, 0, sizeof(p));
	p.held = 1;
	if (walk_extents(ino, inode, off, n, plan_run, &p) || p.held || p.f.total != n)
		return 0;
	char text[FILL_TEXT_MAX];
	int len = fill_format(&p.f, text, sizeof(text));
	if (len < 0)
		return 0;
	struct ant_forward fw = { .server = F.cache, .op = "fill", .params = text, .nparams = (size_t)len,
				  .return_needed = 0, .frame_flags = ANT_FF_IO_WAIT, .data = area };
	int r = ant_forward(c, it, &fw);
	if (r == -E2BIG)
		return 0;   /* no room for another frame: read it here */
	if (r == 0)
		F.fills++;
	return r < 0 ? r : 1;
}

static int read_into(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq,
		     struct ant_ica *given)
{
	const char *path = rq->path;
	uint64_t off = rq->num[0], len = rq->num[1];
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, path, 1, 'f', &ino, &inode, &answered) < 0)
		return answered;
	uint64_t size = EXT2_I_SIZE(&inode);
	if (off >= size || len == 0)
		return reply_text(c, it, 0, NULL);   /* past the end: nothing, no ICA */
	uint64_t n = size - off < len ? size - off : len;
	int extents = (inode.i_flags & EXT4_EXTENTS_FL) && !(inode.i_flags & EXT4_INLINE_DATA_FL);
	/* The caller's own area (kept here, see areas.h) if it is big enough:
	 * no new area per read.  Else one of fs's, given away. */
	struct ant_ica *ica = given && given->size >= n ? given : NULL, *fresh = NULL;
	if (ica && extents) {
		int r = forward_fill(c, it, ino, &inode, off, n, ica);
		if (r != 0)
			return r < 0 ? r : 0;
	}
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
	if (extents) {
		struct copy_to t = { .dst = ica->addr };
		e = walk_extents(ino, &inode, off, n, copy_run, &t);
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

int do_read(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	return read_into(c, it, rq, areas_take(&areas, c, it));
}

int do_readlink(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	int answered;
	if (load_inode(c, it, rq->path, 0, 'l', &ino, &inode, &answered) < 0)
		return answered;
	uint64_t size = EXT2_I_SIZE(&inode);
	if (size >= F.fs->blocksize || size > FS_INLINE_MAX)
		return reply_text(c, it, -EUCLEAN, "symbolic link too long");
	char target[FS_INLINE_MAX + 1];
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
		return reply_err(c, it, e, rq->path);
	return ant_reply(c, it, (int32_t)size, target, (size_t)size, NULL, ANT_DF_DETACH);
}

int do_statfs(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	struct ext2_super_block *sb = F.fs->super;
	blk64_t bfree = ext2fs_free_blocks_count(sb), res = ext2fs_r_blocks_count(sb);
	struct fs_statfs st = {
		.bsize = F.fs->blocksize, .blocks = ext2fs_blocks_count(sb), .bfree = bfree,
		.bavail = bfree > res ? bfree - res : 0, .files = sb->s_inodes_count,
		.ffree = sb->s_free_inodes_count, .namelen = EXT2_NAME_LEN,
	};
	char text[200];
	fs_statfs_format(text, sizeof(text), &st);
	return reply_text(c, it, 0, text);
}
