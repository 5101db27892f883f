/* fs_xattr.c - a file's extended attributes: getxattr and listxattr (reads), setxattr and removexattr (changes). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

/*
 * POSIX ACLs are extended attributes too (system.posix_acl_access,
 * ..._default), but the kernel enforces them on a FUSE mount only if the
 * file system asks it to, and ant-fuse does not: an ACL stored and not
 * enforced would be a promise broken.  So they are refused (EOPNOTSUPP, as
 * on a file system mounted without ACLs: getfacl then shows the mode) and
 * not listed.
 */
static int is_acl(const char *name)
{
	return strncmp(name, "system.posix_acl_", 17) == 0;
}

/* libext2fs's answers about attributes as errnos. */
static errcode_t xattr_error(errcode_t e)
{
	switch (e) {
	case EXT2_ET_EA_KEY_NOT_FOUND:
		return ENODATA;
	case EXT2_ET_EA_NO_SPACE:
		return ENOSPC;
	default:
		return e;
	}
}

/* PATH's attributes, read: the handle to close with ext2fs_xattrs_close. */
static errcode_t open_xattrs(const char *path, ext2_ino_t *ino, struct ext2_xattr_handle **h)
{
	errcode_t e = resolve(path, 0, ino);
	if (!e)
		e = ext2fs_xattrs_open(F.fs, *ino, h);
	if (e)
		return e;
	e = ext2fs_xattrs_read(*h);
	if (e)
		ext2fs_xattrs_close(h);
	return e;
}

int do_getxattr(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	if (is_acl(rq->other))
		return reply_text(c, it, -EOPNOTSUPP, "no POSIX ACLs here");
	ext2_ino_t ino;
	struct ext2_xattr_handle *h;
	errcode_t e = open_xattrs(rq->path, &ino, &h);
	if (e)
		return reply_err(c, it, e, rq->path);
	void *value = NULL;
	size_t len = 0;
	e = xattr_error(ext2fs_xattr_get(h, rq->other, &value, &len));
	ext2fs_xattrs_close(&h);
	int r = e ? reply_err(c, it, e, rq->other) : reply_bytes(c, it, value, len);
	ext2fs_free_mem(&value);
	return r;
}

struct names {
	char buf[FS_XATTR_SIZE_MAX];
	size_t len;
	int full;
};

static int add_name(char *name, char *value, size_t value_len, void *data)
{
	struct names *n = data;
	size_t k = strlen(name) + 1;
	if (is_acl(name))
		return 0;
	if (n->len + k > sizeof(n->buf)) {
		n->full = 1;
		return XATTR_ABORT;
	}
	memcpy(n->buf + n->len, name, k);
	n->len += k;
	return 0;
}

int do_listxattr(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	ext2_ino_t ino;
	struct ext2_xattr_handle *h;
	errcode_t e = open_xattrs(rq->path, &ino, &h);
	if (e)
		return reply_err(c, it, e, rq->path);
	static struct names n;
	n.len = 0;
	n.full = 0;
	e = ext2fs_xattrs_iterate(h, add_name, &n);
	ext2fs_xattrs_close(&h);
	if (e)
		return reply_err(c, it, e, rq->path);
	if (n.full)
		return reply_text(c, it, -E2BIG, "the names do not fit 64 KiB");
	return reply_bytes(c, it, n.buf, n.len);
}

/* setxattr "PATH\nNAME\nFLAGS SIZE" (the value in the call's data ICA) and
 * removexattr "PATH\nNAME"; PATH's ctime is now. */
errcode_t op_xattr(enum fs_op op, const struct fs_req *rq, const struct ant_ica *data,
		   struct fs_answer *a)
{
	size_t len = (size_t)rq->num[1];
	if (op == FS_SETXATTR && len && (!data || data->size < len))
		return EXT2_ET_INVALID_ARGUMENT;   /* the value did not come */
	if (is_acl(rq->other))
		return EOPNOTSUPP;
	ext2_ino_t ino;
	struct ext2_xattr_handle *h;
	errcode_t e = open_xattrs(rq->path, &ino, &h);
	if (e)
		return e;
	void *old = NULL;
	size_t old_len;
	int there = ext2fs_xattr_get(h, rq->other, &old, &old_len) == 0;
	ext2fs_free_mem(&old);
	if (op == FS_REMOVEXATTR)
		e = there ? ext2fs_xattr_remove(h, rq->other) : ENODATA;
	else if (there && (rq->num[0] & FS_XATTR_CREATE))
		e = EEXIST;
	else if (!there && (rq->num[0] & FS_XATTR_REPLACE))
		e = ENODATA;
	else
		e = ext2fs_xattr_set(h, rq->other, len ? data->addr : "", len);
	errcode_t ce = ext2fs_xattrs_close(&h);
	e = xattr_error(e ? e : ce);
	struct ext2_inode_large inode;
	if (!e)
		e = read_inode(ino, &inode);
	if (!e) {
		inode_time_now(&inode, 0, 0, 1);
		e = ext2fs_write_inode_full(F.fs, ino, (struct ext2_inode *)&inode, sizeof(inode));
	}
	return e;
}
