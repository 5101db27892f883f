/* fs_state.c - what every part of fs shares: its state, the answers of an op (errno, text), a sort. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <et/com_err.h>
#include "fs.h"

/* ---- answers -------------------------------------------------------------- */

int err_to_errno(errcode_t e)
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

int reply_text(struct ant_conn *c, struct ant_item *it, int32_t rv, const char *text)
{
	int r = ant_reply(c, it, rv, text, text ? strlen(text) : 0, NULL, ANT_DF_DETACH);
	if (r == -E2BIG && rv < 0)
		r = ant_reply(c, it, rv, NULL, 0, NULL, ANT_DF_DETACH);
	return r;
}

int reply_err(struct ant_conn *c, struct ant_item *it, errcode_t e, const char *what)
{
	char text[320];
	if (F.io_err)   /* a cache call failed under it: say that */
		snprintf(text, sizeof(text), "%.200s: cache: %s", what, ant_strerror(F.io_err));
	else
		snprintf(text, sizeof(text), "%.200s: %s", what,
			 e > 0 && e < 4096 ? ant_strerror(-(int)e) : error_message(e));
	return reply_text(c, it, err_to_errno(e), text);
}


void fs_sort(void *v, void *tmp, size_t n, size_t size, int (*less)(const void *a, const void *b))
{
	if (n < 2)
		return;
	unsigned char *a = v, *t = tmp;
	size_t h = n / 2, i = 0, j = h, k = 0;
	fs_sort(a, tmp, h, size, less);
	fs_sort(a + h * size, tmp, n - h, size, less);
	while (i < h && j < n) {
		size_t from = less(a + j * size, a + i * size) ? j++ : i++;
		memcpy(t + k++ * size, a + from * size, size);
	}
	memcpy(t + k * size, a + i * size, (h - i) * size);   /* a[j..n) is in place already */
	memcpy(a, t, (k + h - i) * size);
}


/* The one file system this process serves (see fs.h: who writes which field). */
struct fs_state F = { .block_size = 4096 };
