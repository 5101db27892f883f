/* fs_write.c - the file manager's changes (write, create, mkdir, symlink, mknod, link, unlink, rmdir, rename, truncate, chmod, chown, utimens, flush), each one transaction. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/sysmacros.h>

#include "fs.h"

#define FILE_SIZE_MAX ((uint64_t)1 << 44)   /* a file's size at most (16 TiB, ext4's with 4 KiB blocks) */

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
	inode_time_now(inode, a, m, c);
}

static errcode_t write_inode(ext2_ino_t ino, struct ext2_inode_large *inode)
{
	return ext2fs_write_inode_full(F.fs, ino, (struct ext2_inode *)inode, sizeof(*inode));
}

/* A changed folder's, or a written or truncated file's, mtime and ctime (a
 * file's after its handle is closed). */
static errcode_t touch(ext2_ino_t ino)
{
	struct ext2_inode_large inode;
	errcode_t e = read_inode(ino, &inode);
	if (e)
		return e;
	set_times(&inode, 0, 1, 1);
	return write_inode(ino, &inode);
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
	char parent[FS_PATH_MAX + 1];
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

static errcode_t add_once(ext2_ino_t dir, const char *name, ext2_ino_t ino, int ft, const char *target)
{
	if (target)
		return ext2fs_symlink(F.fs, dir, 0, name, (char *)target);
	return ino ? ext2fs_link(F.fs, dir, name, ino, ft) : ext2fs_mkdir(F.fs, dir, 0, name);
}

/* Add name to folder dir: a link to inode ino (of type ft), else a symlink
 * to target if not NULL, else a new folder.  libext2fs fails when the
 * folder's blocks are full: then it grows by a block and tries once more. */
static errcode_t add_entry(ext2_ino_t dir, const char *name, ext2_ino_t ino, int ft,
			   const char *target)
{
	errcode_t e = add_once(dir, name, ino, ft, target);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		e = ext2fs_expand_dir(F.fs, dir);
		if (!e)
			e = add_once(dir, name, ino, ft, target);
	}
	return e;
}

static int file_type(unsigned mode)
{
	return LINUX_S_ISDIR(mode) ? EXT2_FT_DIR : LINUX_S_ISLNK(mode) ? EXT2_FT_SYMLINK :
	       LINUX_S_ISREG(mode) ? EXT2_FT_REG_FILE : LINUX_S_ISFIFO(mode) ? EXT2_FT_FIFO :
	       LINUX_S_ISSOCK(mode) ? EXT2_FT_SOCK : LINUX_S_ISCHR(mode) ? EXT2_FT_CHRDEV :
	       LINUX_S_ISBLK(mode) ? EXT2_FT_BLKDEV : EXT2_FT_UNKNOWN;
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
	e = touch(dir);
	if (e)
		return e;
	if (inode->i_links_count > 1) {
		inode->i_links_count--;
		set_times(inode, 0, 0, 1);
		return write_inode(ino, inode);
	}
	return release_inode(ino, inode);
}

/* Who owns a new inode, and the bits it gets from its folder. */
struct owner {
	uint32_t uid, gid;
	int setgid_dir;      /* the folder is setgid: a new folder is too */
};

/* The owner of an inode made by rq in folder dir: rq's (root's if it names
 * none), with the folder's group if the folder is setgid (as ext4 does). */
static errcode_t owner_of(const struct fs_req *rq, ext2_ino_t dir, struct owner *o)
{
	struct ext2_inode_large pi;
	errcode_t e = read_inode(dir, &pi);
	if (e)
		return e;
	o->uid = rq->has_owner ? rq->uid : 0;
	o->gid = rq->has_owner ? rq->gid : 0;
	o->setgid_dir = (pi.i_mode & LINUX_S_ISGID) != 0;
	if (o->setgid_dir)
		o->gid = inode_gid(pi);
	return 0;
}

/* A new inode for a regular file, a symlink's place or a special file
 * (FIFO, socket, device rdev): mode, owner, times, extents (not for a
 * special file, which has no blocks). */
static errcode_t new_file(ext2_ino_t dir, const char *name, unsigned mode, const struct owner *o,
			  uint32_t rdev, ext2_ino_t *out)
{
	ext2_ino_t ino;
	errcode_t e = ext2fs_new_inode(F.fs, dir, (int)mode, NULL, &ino);
	if (e)
		return e;
	e = add_entry(dir, name, ino, file_type(mode), NULL);
	if (e)
		return e;
	ext2fs_inode_alloc_stats2(F.fs, ino, +1, 0);
	struct ext2_inode_large inode;
	memset(&inode, 0, sizeof(inode));
	inode.i_mode = (__u16)mode;
	inode.i_links_count = 1;
	inode_owner_set(&inode, o->uid, o->gid);
	if (EXT2_INODE_SIZE(F.fs->super) > EXT2_GOOD_OLD_INODE_SIZE)
		inode.i_extra_isize = sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	set_times(&inode, 1, 1, 1);
	int special = !LINUX_S_ISREG(mode) && !LINUX_S_ISLNK(mode);
	if (LINUX_S_ISCHR(mode) || LINUX_S_ISBLK(mode)) {
		/* As ext4 writes it: the old 16-bit form if it fits, else the new one. */
		unsigned maj = major(rdev), min = minor(rdev);
		if (maj < 256 && min < 256)
			inode.i_block[0] = (maj << 8) | min;
		else
			inode.i_block[1] = (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
	}
	if (!special && ext2fs_has_feature_extents(F.fs->super)) {
		ext2_extent_handle_t h;
		e = ext2fs_extent_open2(F.fs, ino, (struct ext2_inode *)&inode, &h);
		if (e)
			return e;
		ext2fs_extent_free(h);
	}
	/* write_new_inode keeps only the small inode's fields (it zeroes the
	 * rest): the large inode's (nanoseconds, epoch bits) are written after. */
	e = ext2fs_write_new_inode(F.fs, ino, (struct ext2_inode *)&inode);
	if (!e)
		e = write_inode(ino, &inode);
	*out = ino;
	return e;
}

/* A new folder name in dir, with mode's permission bits, owned by o. */
static errcode_t new_dir(ext2_ino_t dir, const char *name, unsigned mode, const struct owner *o,
			 ext2_ino_t *ino)
{
	errcode_t e = add_entry(dir, name, 0, EXT2_FT_DIR, NULL);
	struct ext2_inode_large inode;
	if (!e)
		e = lookup_in(dir, name, ino);
	if (!e)
		e = read_inode(*ino, &inode);
	if (!e) {
		inode.i_mode = (__u16)(LINUX_S_IFDIR | mode | (o->setgid_dir ? LINUX_S_ISGID : 0));
		inode_owner_set(&inode, o->uid, o->gid);
		set_times(&inode, 1, 1, 1);
		e = write_inode(*ino, &inode);
	}
	return e;
}

/* PATH's folder and last name, for an op that makes PATH:
 * EXT2_ET_FILE_EXISTS if it is there already. */
static errcode_t split_new(const char *path, ext2_ino_t *dir, char *name)
{
	ext2_ino_t ino;
	errcode_t e = split(path, dir, name);
	if (!e && lookup_in(*dir, name, &ino) == 0)
		e = EXT2_ET_FILE_EXISTS;
	return e;
}

static void answer_ino(struct fs_answer *a, ext2_ino_t ino)
{
	fs_ino_format(a->text, sizeof(a->text), ino);
}

/* create, mkdir "PATH MODE", symlink "TARGET\nPATH" and mknod "PATH MODE
 * RDEV" (each maybe with its owner): a new file, folder, symbolic link or
 * special file at PATH. */
errcode_t op_create(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
		    struct fs_answer *a)
{
	if (op == FS_SYMLINK && strlen(rq->other) >= F.fs->blocksize)
		return EXT2_ET_INVALID_ARGUMENT;
	unsigned mode = (unsigned)rq->num[0];
	if (op == FS_MKNOD && !LINUX_S_ISREG(mode) && !LINUX_S_ISFIFO(mode) && !LINUX_S_ISSOCK(mode) &&
	    !LINUX_S_ISCHR(mode) && !LINUX_S_ISBLK(mode))
		return EINVAL;   /* a folder or a link is not made by mknod */
	ext2_ino_t parent, ino;
	char name[EXT2_NAME_LEN + 1];
	struct owner o;
	errcode_t e = split_new(rq->path, &parent, name);
	if (!e)
		e = owner_of(rq, parent, &o);
	if (e)
		return e;
	if (op == FS_CREATE) {
		e = new_file(parent, name, LINUX_S_IFREG | mode, &o, 0, &ino);
	} else if (op == FS_MKNOD) {
		e = new_file(parent, name, mode, &o, (uint32_t)rq->num[1], &ino);
	} else if (op == FS_MKDIR) {
		e = new_dir(parent, name, mode, &o, &ino);
	} else {
		e = add_entry(parent, name, 0, 0, rq->other);
		if (!e)
			e = lookup_in(parent, name, &ino);
		struct ext2_inode_large inode;
		if (!e)
			e = read_inode(ino, &inode);
		if (!e) {
			inode_owner_set(&inode, o.uid, o.gid);
			set_times(&inode, 1, 1, 1);
			e = write_inode(ino, &inode);
		}
	}
	if (!e)
		e = touch(parent);
	if (!e)
		answer_ino(a, ino);
	return e;
}

/* link "OLD\nNEW": NEW names OLD's inode (not a folder) too. */
errcode_t op_link(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
		  struct fs_answer *a)
{
	ext2_ino_t ino, ddir;
	char name[EXT2_NAME_LEN + 1];
	struct ext2_inode_large inode;
	errcode_t e = resolve_inode(rq->path, 0, &ino, &inode);
	if (e)
		return e;
	if (LINUX_S_ISDIR(inode.i_mode))
		return EPERM;
	if (inode.i_links_count >= EXT2_LINK_MAX)
		return EMLINK;
	e = split_new(rq->other, &ddir, name);
	if (!e)
		e = add_entry(ddir, name, ino, file_type(inode.i_mode), NULL);
	if (!e)
		e = touch(ddir);
	if (e)
		return e;
	e = read_inode(ino, &inode);   /* add_entry may have moved things: read it again */
	if (e)
		return e;
	inode.i_links_count++;
	set_times(&inode, 0, 0, 1);
	e = write_inode(ino, &inode);
	if (!e)
		answer_ino(a, ino);
	return e;
}

/* May the entry of inode ino go, for an op on a folder (dir) or not?  0,
 * ENOTDIR, EISDIR, or ENOTEMPTY for a folder with entries. */
static errcode_t can_remove(ext2_ino_t ino, const struct ext2_inode_large *inode, int dir)
{
	int isdir = LINUX_S_ISDIR(inode->i_mode);
	if (dir && !isdir)
		return ENOTDIR;
	if (!dir && isdir)
		return EISDIR;
	if (!isdir)
		return 0;
	int empty;
	errcode_t e = dir_empty(ino, &empty);
	return e ? e : empty ? 0 : ENOTEMPTY;
}

/* unlink and rmdir "PATH". */
errcode_t op_remove(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
		    struct fs_answer *a)
{
	int dir = op == FS_RMDIR;
	ext2_ino_t parent, ino;
	char name[EXT2_NAME_LEN + 1];
	errcode_t e = split(rq->path, &parent, name);
	struct ext2_inode_large inode;
	if (!e)
		e = lookup_in(parent, name, &ino);
	if (!e)
		e = read_inode(ino, &inode);
	if (!e)
		e = can_remove(ino, &inode, dir);
	return e ? e : remove_entry(parent, name, ino, &inode);
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

/* Folder ino moved from sdir to ddir: its ".." now names its new parent,
 * and the link counts of the two parents follow. */
static errcode_t reparent(ext2_ino_t ino, ext2_ino_t sdir, ext2_ino_t ddir)
{
	struct dotdot dd = { .to = ddir };
	errcode_t e = ext2fs_dir_iterate2(F.fs, ino, DIRENT_FLAG_INCLUDE_EMPTY, NULL, set_dotdot, &dd);
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
	return e;
}

errcode_t op_rename(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
		    struct fs_answer *a)
{
	const char *from = rq->path, *to = rq->other;
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
		if (!e)
			e = can_remove(old, &oi, isdir);   /* replaced: by one of its kind */
		if (!e)
			e = remove_entry(ddir, dname, old, &oi);
		if (e)
			return e;
	}
	e = add_entry(ddir, dname, ino, file_type(inode.i_mode), NULL);
	if (!e)
		e = ext2fs_unlink(F.fs, sdir, sname, ino, 0);
	if (!e && isdir && sdir != ddir)
		e = reparent(ino, sdir, ddir);
	if (!e)
		e = touch(sdir);
	if (!e && ddir != sdir)
		e = touch(ddir);
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

/* Close a file open_for_write opened, after its change ended with e, and
 * touch it if all went well. */
static errcode_t close_written(ext2_file_t file, ext2_ino_t ino, errcode_t e)
{
	errcode_t ce = ext2fs_file_close(file);
	if (!e)
		e = ce;
	if (!e)
		e = touch(ino);
	return e;
}

/* Write len bytes of data at off into file. */
static errcode_t write_at(ext2_file_t file, const struct ant_ica *data, uint64_t off, uint64_t len)
{
	errcode_t e = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
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
	return e;
}

/* write "PATH OFFSET LENGTH" (the bytes in data) and truncate "PATH SIZE". */
errcode_t op_write(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
		   struct fs_answer *a)
{
	int trunc = op == FS_TRUNCATE;
	uint64_t off = rq->num[0], len = trunc ? 0 : rq->num[1];
	if (len && (!data || data->size < len))
		return EXT2_ET_INVALID_ARGUMENT;
	if (off + len > FILE_SIZE_MAX)
		return EXT2_ET_FILE_TOO_BIG;
	ext2_ino_t ino;
	ext2_file_t file;
	errcode_t e = open_for_write(rq->path, &ino, &file);
	if (e)
		return e;
	e = trunc ? ext2fs_file_set_size2(file, off) : write_at(file, data, off, len);
	a->rv = (int32_t)len;
	return close_written(file, ino, e);
}

/* chmod "PATH MODE", chown "PATH UID GID" and utimens "PATH ASEC ANSEC
 * MSEC MNSEC": the inode only; its ctime is now. */
errcode_t op_attr(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
		  struct fs_answer *a)
{
	const uint64_t *v = rq->num;
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	/* PATH itself, a symbolic link too: the kernel has followed what
	 * was to be followed before it asks (lchown, utimensat's
	 * AT_SYMLINK_NOFOLLOW). */
	errcode_t e = resolve_inode(rq->path, 0, &ino, &inode);
	if (e)
		return e;
	if (op == FS_UTIMENS) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		for (int i = 0; i < 2; i++) {
			char which = i == 0 ? 'a' : 'm';
			if (v[2 * i + 1] == FS_TIME_NOW)
				inode_time_set(&inode, which, now.tv_sec, (uint32_t)now.tv_nsec);
			else if (v[2 * i + 1] != FS_TIME_OMIT)
				inode_time_set(&inode, which, (int64_t)v[2 * i], (uint32_t)v[2 * i + 1]);
		}
	} else if (op == FS_CHOWN) {
		inode_owner_set(&inode, v[0] == FS_NO_ID ? inode_uid(inode) : (uint32_t)v[0],
				v[1] == FS_NO_ID ? inode_gid(inode) : (uint32_t)v[1]);
	} else {
		inode.i_mode = (__u16)((inode.i_mode & ~07777u) | v[0]);
	}
	set_times(&inode, 0, 0, 1);
	return write_inode(ino, &inode);
}

/*
 * A replayed change whose transaction the disk applied already (fs died
 * after its commit, before its answer): doing it again would fail (create:
 * EEXIST) or do it twice.  Answer what the first run would have.
 */
static int answer_applied(struct ant_conn *c, struct ant_item *it, enum fs_op op,
			  const struct fs_req *rq)
{
	F.replays_skipped++;
	if (op == FS_WRITE)
		return reply_text(c, it, (int32_t)rq->num[1], NULL);
	if (op != FS_CREATE && op != FS_MKDIR && op != FS_SYMLINK && op != FS_MKNOD && op != FS_LINK)
		return reply_text(c, it, 0, NULL);
	ext2_ino_t ino;
	errcode_t e = resolve(op == FS_LINK ? rq->other : rq->path, 0, &ino);
	if (e)
		return reply_err(c, it, e, rq->path);
	struct fs_answer ans;
	answer_ino(&ans, ino);
	return reply_text(c, it, 0, ans.text);
}

int do_change(struct ant_conn *c, struct ant_item *it, enum fs_op op, char *buf,
	      fs_change_fn *change)
{
	/* write's bytes: used here, never passed on (the answer carries none). */
	struct ant_ica *data = ant_item_take_data(it);
	if (data && ant_ica_map(c, data) < 0) {
		ant_ica_release(c, data);
		return reply_text(c, it, ANT_E_BAD_REQUEST, "cannot map the data ICA");
	}
	struct fs_req rq;
	int bad = fs_req_decode(op, buf, &rq) < 0;   /* cuts buf after the path */
	if (F.read_only || (it->replay && txn_applied(it->call_id) == 1)) {
		ant_ica_release(c, data);
		if (F.read_only)
			return reply_text(c, it, -EROFS, "the file system is served read-only");
		if (bad)
			return reply_text(c, it, ANT_E_BAD_REQUEST, NULL);
		return answer_applied(c, it, op, &rq);
	}
	struct fs_answer a = { 0 };
	F.io_err = 0;
	errcode_t e = bad ? EXT2_ET_INVALID_ARGUMENT : change(op, &rq, data, &a);
	ant_ica_release(c, data);
	if (!e)
		e = commit_op(it->call_id);
	if (!e)
		ANT_FAILPOINT(c, "fs.after_commit");
	if (e) {
		/* Nothing of it reached the image: forget libext2fs's memory of it. */
		fs_discard();
		if (e == EXT2_ET_INVALID_ARGUMENT && !F.io_err)
			return reply_text(c, it, ANT_E_BAD_REQUEST, "bad parameters (see fs --help)");
		return reply_err(c, it, e, it->op);
	}
	return reply_text(c, it, a.rv, a.text[0] ? a.text : NULL);
}

/* flush: everything answered so far is on the image already (one commit per
 * change); the disk's fsync makes it durable. */
int do_flush(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	int r = cache_call("flush", NULL, NULL);
	return reply_text(c, it, r < 0 ? -(int)io_error(r) : 0, r < 0 ? "the disk's flush failed" : NULL);
}
