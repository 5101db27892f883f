/* fs_inode.c - an inode's times to the nanosecond (ext4's extra fields, epoch bits) and its owner. */
#include <stddef.h>
#include <time.h>

#include "fs.h"

/* Does the large inode store field (of size n at offset off)? */
static int fits(const struct ext2_inode_large *in, size_t off, size_t n)
{
	return EXT2_INODE_SIZE(F.fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	       EXT2_GOOD_OLD_INODE_SIZE + (size_t)in->i_extra_isize >= off + n;
}

/* The inode's seconds and extra word of time which ('a', 'm', 'c'). */
static void fields(struct ext2_inode_large *in, char which, __u32 **sec, __u32 **extra,
		   size_t *extra_off)
{
	switch (which) {
	case 'a':
		*sec = &in->i_atime, *extra = &in->i_atime_extra;
		*extra_off = offsetof(struct ext2_inode_large, i_atime_extra);
		break;
	case 'm':
		*sec = &in->i_mtime, *extra = &in->i_mtime_extra;
		*extra_off = offsetof(struct ext2_inode_large, i_mtime_extra);
		break;
	default:
		*sec = &in->i_ctime, *extra = &in->i_ctime_extra;
		*extra_off = offsetof(struct ext2_inode_large, i_ctime_extra);
		break;
	}
}

void inode_time_get(const struct ext2_inode_large *in, char which, int64_t *sec, uint32_t *nsec)
{
	__u32 *s, *x;
	size_t off;
	fields((struct ext2_inode_large *)in, which, &s, &x, &off);
	*sec = (int32_t)*s;
	*nsec = 0;
	if (fits(in, off, sizeof(*x))) {
		*sec += (int64_t)(*x & EXT4_EPOCH_MASK) << 32;
		*nsec = *x >> EXT4_EPOCH_BITS;
		if (*nsec >= 1000000000u)
			*nsec = 0;   /* not a time a kernel would write */
	}
}

void inode_time_set(struct ext2_inode_large *in, char which, int64_t sec, uint32_t nsec)
{
	__u32 *s, *x;
	size_t off;
	fields(in, which, &s, &x, &off);
	*s = (__u32)sec;
	if (fits(in, off, sizeof(*x)))
		*x = (__u32)((((uint64_t)(sec - (int32_t)sec) >> 32) & EXT4_EPOCH_MASK) |
			     ((uint64_t)nsec << EXT4_EPOCH_BITS));
}

void inode_time_now(struct ext2_inode_large *in, int a, int m, int c)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (a)
		inode_time_set(in, 'a', now.tv_sec, (uint32_t)now.tv_nsec);
	if (m)
		inode_time_set(in, 'm', now.tv_sec, (uint32_t)now.tv_nsec);
	if (c)
		inode_time_set(in, 'c', now.tv_sec, (uint32_t)now.tv_nsec);
}

void inode_owner_set(struct ext2_inode_large *in, uint32_t uid, uint32_t gid)
{
	in->i_uid = (__u16)uid;
	ext2fs_set_i_uid_high(*in, uid >> 16);
	in->i_gid = (__u16)gid;
	ext2fs_set_i_gid_high(*in, gid >> 16);
}
