/* fs_proto.c - encode and decode the file server's arguments and answers (fs_proto.h), for fs and its clients. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_proto.h"

/* The wire's op table: each op's name and the shape of its argument. */
static const struct {
	const char *name;
	enum fs_args args;
} ops[FS_NOPS] = {
	[FS_STAT] = { "stat", FS_ARGS_PATH },
	[FS_LOOKUP] = { "lookup", FS_ARGS_PATH },
	[FS_READDIR] = { "readdir", FS_ARGS_PATH },
	[FS_READ] = { "read", FS_ARGS_RANGE },
	[FS_READLINK] = { "readlink", FS_ARGS_PATH },
	[FS_STATFS] = { "statfs", FS_ARGS_NONE },
	[FS_WRITE] = { "write", FS_ARGS_RANGE },
	[FS_CREATE] = { "create", FS_ARGS_MODE },
	[FS_MKDIR] = { "mkdir", FS_ARGS_MODE },
	[FS_SYMLINK] = { "symlink", FS_ARGS_LINK },
	[FS_UNLINK] = { "unlink", FS_ARGS_PATH },
	[FS_RMDIR] = { "rmdir", FS_ARGS_PATH },
	[FS_RENAME] = { "rename", FS_ARGS_TWO },
	[FS_TRUNCATE] = { "truncate", FS_ARGS_SIZE },
	[FS_CHMOD] = { "chmod", FS_ARGS_MODE },
	[FS_UTIMENS] = { "utimens", FS_ARGS_TIMES },
	[FS_FLUSH] = { "flush", FS_ARGS_NONE },
	[FS_STATS] = { "stats", FS_ARGS_NONE },
	[FS_CHOWN] = { "chown", FS_ARGS_OWNER },
	[FS_LINK] = { "link", FS_ARGS_TWO },
	[FS_MKNOD] = { "mknod", FS_ARGS_NODE },
	[FS_GETXATTR] = { "getxattr", FS_ARGS_XNAME },
	[FS_LISTXATTR] = { "listxattr", FS_ARGS_PATH },
	[FS_SETXATTR] = { "setxattr", FS_ARGS_XSET },
	[FS_REMOVEXATTR] = { "removexattr", FS_ARGS_XNAME },
};

const char *fs_op_name(enum fs_op op)
{
	return (unsigned)op < FS_NOPS ? ops[op].name : NULL;
}

int fs_op_find(const char *name)
{
	for (int i = 0; i < FS_NOPS; i++)
		if (strcmp(name, ops[i].name) == 0)
			return i;
	return -1;
}

enum fs_args fs_op_args(enum fs_op op)
{
	return (unsigned)op < FS_NOPS ? ops[op].args : FS_ARGS_NONE;
}

int fs_arg_in_data_format(char *buf, size_t size, uint64_t off, uint64_t len)
{
	return snprintf(buf, size, "@data %" PRIu64 " %" PRIu64, off, len);
}

int fs_arg_in_data_parse(const char *text, uint64_t *off, uint64_t *len)
{
	unsigned long long o, l;
	int n = -1;
	if (strncmp(text, "@data ", 6) != 0 || sscanf(text + 6, "%llu %llu%n", &o, &l, &n) != 2 ||
	    text[6 + n] != '\0' || l == 0 || l >= FS_ARG_MAX)
		return -1;
	*off = o;
	*len = l;
	return 0;
}

int fs_arg_place(struct ant_conn *c, const char *arg, size_t n, struct ant_ica **data, size_t off,
		 char *small, size_t small_size, const char **param, size_t *param_len)
{
	if (n <= FS_ARG_INLINE_MAX) {
		*param = arg;
		*param_len = n;
		return 0;
	}
	if (!*data) {
		int r = ant_ica_alloc(c, n, data);
		if (r < 0)
			return r;
		off = 0;
	} else if (!(*data)->addr || !(*data)->writable || off > (*data)->size ||
		   n > (*data)->size - off) {
		return -ENAMETOOLONG;
	}
	memcpy((char *)(*data)->addr + off, arg, n);
	int k = fs_arg_in_data_format(small, small_size, off, n);
	if (k < 0 || (size_t)k >= small_size)
		return -ENAMETOOLONG;
	*param = small;
	*param_len = (size_t)k;
	return 0;
}

int fs_path_check(const char *path)
{
	return strlen(path) > FS_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* p with a backslash as \\ and a newline as \n, at buf[at..size); the new
 * end, or size if it does not fit. */
static size_t put_escaped(char *buf, size_t at, size_t size, const char *p)
{
	for (; *p && at < size; p++) {
		const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : NULL;
		if (esc) {
			if (at + 2 > size)
				return size;
			buf[at++] = esc[0];
			buf[at++] = esc[1];
		} else {
			buf[at++] = *p;
		}
	}
	return at;
}

int fs_req_encode(enum fs_op op, const struct fs_req *rq, char *buf, size_t size)
{
	enum fs_args a = fs_op_args(op);
	int two = a == FS_ARGS_TWO || a == FS_ARGS_LINK;
	int xattr = a == FS_ARGS_XNAME || a == FS_ARGS_XSET;
	int r = a == FS_ARGS_NONE ? 0 : fs_path_check(rq->path);
	if (r == 0 && two)
		r = fs_path_check(rq->other);
	if (r == 0 && xattr && strlen(rq->other) > FS_XATTR_NAME_MAX)
		r = -ERANGE;
	if (r < 0)
		return r;
	unsigned long long n0 = rq->num[0], n1 = rq->num[1], n2 = rq->num[2], n3 = rq->num[3];
	char owner[32] = "";
	if (rq->has_owner)
		snprintf(owner, sizeof(owner), "%s@%u:%u", a == FS_ARGS_LINK ? "\n" : " ",
			 (unsigned)rq->uid, (unsigned)rq->gid);
	size_t at;
	switch (a) {
	case FS_ARGS_NONE: r = snprintf(buf, size, "%s", ""); break;
	case FS_ARGS_PATH: r = snprintf(buf, size, "%s", rq->path); break;
	case FS_ARGS_RANGE: r = snprintf(buf, size, "%s %llu %llu", rq->path, n0, n1); break;
	case FS_ARGS_TIMES:
		r = snprintf(buf, size, "%s %llu %llu %llu %llu", rq->path, n0, n1, n2, n3);
		break;
	case FS_ARGS_MODE: r = snprintf(buf, size, "%s 0%llo%s", rq->path, n0, owner); break;
	case FS_ARGS_SIZE: r = snprintf(buf, size, "%s %llu", rq->path, n0); break;
	case FS_ARGS_OWNER: r = snprintf(buf, size, "%s %llu %llu", rq->path, n0, n1); break;
	case FS_ARGS_NODE:
		r = snprintf(buf, size, "%s 0%llo %llu%s", rq->path, n0, n1, owner);
		break;
	case FS_ARGS_XNAME:
	case FS_ARGS_XSET:
		at = put_escaped(buf, 0, size, rq->path);
		if (at < size)
			buf[at++] = '\n';
		at = put_escaped(buf, at, size, rq->other);
		r = at >= size ? -1 : a == FS_ARGS_XNAME ? snprintf(buf + at, size - at, "%s", "") :
		    snprintf(buf + at, size - at, "\n%llu %llu", n0, n1);
		if (r >= 0)
			r += (int)at;
		break;
	case FS_ARGS_TWO:
	case FS_ARGS_LINK:
		/* rename, link: PATH then OTHER; symlink: OTHER (the target) first. */
		at = put_escaped(buf, 0, size, a == FS_ARGS_TWO ? rq->path : rq->other);
		if (at < size)
			buf[at++] = '\n';
		at = put_escaped(buf, at, size, a == FS_ARGS_TWO ? rq->other : rq->path);
		r = at < size ? snprintf(buf + at, size - at, "%s", owner) : -1;
		if (r >= 0)
			r += (int)at;
		break;
	}
	return r < 0 || (size_t)r >= size ? -ENAMETOOLONG : r;
}

static int is_path(const char *p)
{
	return p[0] == '/' && strlen(p) <= FS_PATH_MAX;
}

/* " @UID:GID" (sep ' ') or "\n@UID:GID" (sep '\n') as the last word of buf:
 * into rq (has_owner), and cut.  No owner is fine; a malformed one is not. */
static int decode_owner(char *buf, char sep, struct fs_req *rq)
{
	char *last = strrchr(buf, sep);      /* the last word (line) is the owner, if any */
	if (!last || last[1] != '@')
		return 0;
	char *at = last + 1;
	unsigned long long u, g;
	char *end;
	errno = 0;
	u = strtoull(at + 1, &end, 10);
	if (errno || end == at + 1 || *end != ':' || u >= FS_NO_ID)
		return -1;
	const char *gs = end + 1;
	g = strtoull(gs, &end, 10);
	if (errno || end == gs || *end || g >= FS_NO_ID)
		return -1;
	rq->has_owner = 1;
	rq->uid = (uint32_t)u;
	rq->gid = (uint32_t)g;
	at[-1] = '\0';
	return 0;
}

/* "PATH N..." : the last n words are numbers (base 8 if octal, else 10),
 * so that PATH may hold spaces.  Cuts buf after PATH. */
static int decode_tail(char *buf, unsigned n, int octal, uint64_t *v)
{
	for (unsigned i = n; i-- > 0;) {
		char *sp = strrchr(buf, ' ');
		if (!sp || sp == buf || sp[1] < '0' || sp[1] > '9')
			return -1;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(sp + 1, &end, octal && i == 0 ? 8 : 10);
		if (errno || *end || x > INT64_MAX)
			return -1;
		v[i] = x;
		*sp = '\0';
	}
	return is_path(buf) ? 0 : -1;
}

/* Undo put_escaped in place; -1 on a backslash before anything else. */
static int unescape(char *p)
{
	char *out = p;
	for (; *p; p++) {
		if (*p == '\\') {
			p++;
			if (*p != '\\' && *p != 'n')
				return -1;
			*out++ = *p == 'n' ? '\n' : '\\';
		} else {
			*out++ = *p;
		}
	}
	*out = '\0';
	return 0;
}

/* "A\nB[\n@UID:GID]": cuts buf at the newlines, undoes the escapes. */
static int decode_two(char *buf, const char **a, const char **b, struct fs_req *rq, int owner)
{
	if (owner && decode_owner(buf, '\n', rq) < 0)
		return -1;
	char *nl = strchr(buf, '\n');
	if (!nl || strchr(nl + 1, '\n'))
		return -1;
	*nl = '\0';
	if (unescape(buf) < 0 || unescape(nl + 1) < 0)
		return -1;
	*a = buf;
	*b = nl + 1;
	return 0;
}

/* utimens' times: seconds in range, nanoseconds below 10^9 or NOW/OMIT. */
static int times_ok(const uint64_t *v)
{
	for (int i = 0; i < 4; i += 2) {
		int special = v[i + 1] == FS_TIME_NOW || v[i + 1] == FS_TIME_OMIT;
		if (v[i] > FS_TIME_MAX || (v[i + 1] >= 1000000000u && !special))
			return 0;
	}
	return 1;
}

int fs_req_decode(enum fs_op op, char *buf, struct fs_req *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->path = buf;
	uint64_t *v = rq->num;
	switch (fs_op_args(op)) {
	case FS_ARGS_NONE:
		return 0;
	case FS_ARGS_PATH:
		return is_path(buf) ? 0 : -1;
	case FS_ARGS_RANGE:
		return decode_tail(buf, 2, 0, v) < 0 || v[1] > FS_IO_MAX ? -1 : 0;
	case FS_ARGS_MODE:
		return decode_owner(buf, ' ', rq) < 0 || decode_tail(buf, 1, 1, v) < 0 ||
		       v[0] > FS_MODE_MAX ? -1 : 0;
	case FS_ARGS_SIZE:
		return decode_tail(buf, 1, 0, v);
	case FS_ARGS_TIMES:
		return decode_tail(buf, 4, 0, v) < 0 || !times_ok(v) ? -1 : 0;
	case FS_ARGS_OWNER:
		return decode_tail(buf, 2, 0, v) < 0 || v[0] > FS_NO_ID || v[1] > FS_NO_ID ? -1 : 0;
	case FS_ARGS_NODE:
		return decode_owner(buf, ' ', rq) < 0 || decode_tail(buf, 2, 1, v) < 0 ||
		       v[0] > FS_NODE_MODE_MAX || v[1] > UINT32_MAX ? -1 : 0;
	case FS_ARGS_TWO:
		return decode_two(buf, &rq->path, &rq->other, rq, 0) < 0 || !is_path(rq->path) ||
		       !is_path(rq->other) ? -1 : 0;
	case FS_ARGS_LINK:
		return decode_two(buf, &rq->other, &rq->path, rq, 1) < 0 || !is_path(rq->path) ||
		       !*rq->other ? -1 : 0;
	case FS_ARGS_XSET: {
		/* The last line is "FLAGS SIZE"; what is before it, PATH\nNAME. */
		char *nl = strrchr(buf, '\n');
		if (!nl)
			return -1;
		char *end;
		errno = 0;
		unsigned long long flags = strtoull(nl + 1, &end, 10);
		if (errno || end == nl + 1 || *end != ' ' || flags > (FS_XATTR_CREATE | FS_XATTR_REPLACE) ||
		    flags == (FS_XATTR_CREATE | FS_XATTR_REPLACE))
			return -1;
		const char *sz = end + 1;
		unsigned long long n = strtoull(sz, &end, 10);
		if (errno || end == sz || *end || n > FS_XATTR_SIZE_MAX || *sz < '0' || *sz > '9')
			return -1;
		v[0] = flags;
		v[1] = n;
		*nl = '\0';
		__attribute__((fallthrough));   /* then PATH\nNAME, as XNAME */
	}
	case FS_ARGS_XNAME:
		return decode_two(buf, &rq->path, &rq->other, rq, 0) < 0 || !is_path(rq->path) ||
		       !*rq->other || strlen(rq->other) > FS_XATTR_NAME_MAX ? -1 : 0;
	}
	return -1;
}

int fs_attr_format(char *buf, size_t size, const struct fs_attr *a)
{
	return snprintf(buf, size, "ino=%" PRIu64 " mode=0%o size=%" PRIu64 " nlink=%u mtime=%" PRId64
			" uid=%u gid=%u atime=%" PRId64 " ctime=%" PRId64 " blocks=%" PRIu64
			" atime_ns=%u mtime_ns=%u ctime_ns=%u rdev=%" PRIu64,
			a->ino, (unsigned)a->mode, a->size, (unsigned)a->nlink, a->mtime,
			(unsigned)a->uid, (unsigned)a->gid, a->atime, a->ctime, a->blocks,
			(unsigned)a->atime_ns, (unsigned)a->mtime_ns, (unsigned)a->ctime_ns, a->rdev);
}

/*
 * The next "key=value" of text [*p, end) (words split by spaces and
 * newlines): key into key (cut to its size), the value as a number (base)
 * into *v.  Words without '=' or with a malformed number are skipped.
 * Returns 1, or 0 at the end.  base 0: the key decides (8 for "mode").
 */
static int next_kv(const char **p, const char *end, char *key, size_t ksize, long long *v)
{
	while (*p < end) {
		const char *w = *p;
		while (*p < end && **p != ' ' && **p != '\n')
			++*p;
		char word[96];
		size_t n = (size_t)(*p - w);
		if (*p < end)
			++*p;
		const char *eq = memchr(w, '=', n);
		if (!eq || n >= sizeof(word))
			continue;
		memcpy(word, w, n);
		word[n] = '\0';
		size_t kl = (size_t)(eq - w);
		word[kl] = '\0';
		snprintf(key, ksize, "%s", word);
		const char *val = word + kl + 1;
		char *stop;
		errno = 0;
		long long x = strtoll(val, &stop, strcmp(key, "mode") == 0 ? 8 : 10);
		if (errno || stop == val || (*stop && *stop != '.'))
			continue;
		*v = x;
		return 1;
	}
	return 0;
}

int fs_attr_parse(const char *text, size_t len, struct fs_attr *a)
{
	memset(a, 0, sizeof(*a));
	const char *p = text, *end = text + len;
	char k[16];
	long long v;
	while (next_kv(&p, end, k, sizeof(k), &v)) {
		if (strcmp(k, "ino") == 0)
			a->ino = (uint64_t)v;
		else if (strcmp(k, "mode") == 0)
			a->mode = (uint32_t)v, a->have |= FS_HAVE_MODE;
		else if (strcmp(k, "size") == 0)
			a->size = (uint64_t)v;
		else if (strcmp(k, "nlink") == 0)
			a->nlink = (uint32_t)v;
		else if (strcmp(k, "uid") == 0)
			a->uid = (uint32_t)v;
		else if (strcmp(k, "gid") == 0)
			a->gid = (uint32_t)v;
		else if (strcmp(k, "mtime") == 0)
			a->mtime = v;
		else if (strcmp(k, "atime") == 0)
			a->atime = v, a->have |= FS_HAVE_ATIME;
		else if (strcmp(k, "ctime") == 0)
			a->ctime = v, a->have |= FS_HAVE_CTIME;
		else if (strcmp(k, "blocks") == 0)
			a->blocks = (uint64_t)v, a->have |= FS_HAVE_BLOCKS;
		else if (strcmp(k, "atime_ns") == 0 && v >= 0 && v < 1000000000)
			a->atime_ns = (uint32_t)v;
		else if (strcmp(k, "mtime_ns") == 0 && v >= 0 && v < 1000000000)
			a->mtime_ns = (uint32_t)v;
		else if (strcmp(k, "ctime_ns") == 0 && v >= 0 && v < 1000000000)
			a->ctime_ns = (uint32_t)v;
		else if (strcmp(k, "rdev") == 0)
			a->rdev = (uint64_t)v;
	}
	return a->have & FS_HAVE_MODE ? 0 : -1;
}

int fs_statfs_format(char *buf, size_t size, const struct fs_statfs *s)
{
	return snprintf(buf, size, "bsize=%" PRIu64 " blocks=%" PRIu64 " bfree=%" PRIu64 " bavail=%" PRIu64
			" files=%" PRIu64 " ffree=%" PRIu64 " namelen=%" PRIu64, s->bsize, s->blocks,
			s->bfree, s->bavail, s->files, s->ffree, s->namelen);
}

void fs_statfs_parse(const char *text, size_t len, struct fs_statfs *s)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "bsize", offsetof(struct fs_statfs, bsize) },
		{ "blocks", offsetof(struct fs_statfs, blocks) },
		{ "bfree", offsetof(struct fs_statfs, bfree) },
		{ "bavail", offsetof(struct fs_statfs, bavail) },
		{ "files", offsetof(struct fs_statfs, files) },
		{ "ffree", offsetof(struct fs_statfs, ffree) },
		{ "namelen", offsetof(struct fs_statfs, namelen) },
	};
	memset(s, 0, sizeof(*s));
	s->namelen = 255;
	const char *p = text, *end = text + len;
	char k[16];
	long long v;
	while (next_kv(&p, end, k, sizeof(k), &v)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && v >= 0; i++)
			if (strcmp(k, keys[i].key) == 0)
				*(uint64_t *)((char *)s + keys[i].off) = (uint64_t)v;
	}
}

int fs_ino_format(char *buf, size_t size, uint64_t ino)
{
	return snprintf(buf, size, "ino=%" PRIu64, ino);
}

int fs_dirent_format(char *buf, size_t size, const char *name, uint64_t ino, char type)
{
	size_t k = 0;
	for (const char *p = name; *p; p++) {
		const char *esc = *p == '\t' ? "\\t" : *p == '\n' ? "\\n" : *p == '\\' ? "\\\\" : NULL;
		size_t n = esc ? 2 : 1;
		if (k + n >= size)
			return -1;
		memcpy(buf + k, esc ? esc : p, n);
		k += n;
	}
	int n = snprintf(buf + k, size - k, "\t%" PRIu64 "\t%c\n", ino, type);
	return n < 0 || (size_t)n >= size - k ? -1 : (int)(k + (size_t)n);
}

int fs_dirent_next(const char **p, const char *end, struct fs_dirent *d)
{
	while (*p < end) {
		const char *line = *p;
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *stop = nl ? nl : end;
		*p = nl ? nl + 1 : end;
		const char *t1 = memchr(line, '\t', (size_t)(stop - line));
		const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(stop - t1 - 1)) : NULL;
		if (!t2)
			continue;
		d->name = line;
		d->name_len = (size_t)(t1 - line);
		d->ino = strtoull(t1 + 1, NULL, 10);
		d->type = t2 + 1 < stop ? t2[1] : '?';
		return 1;
	}
	return 0;
}

int fs_dirent_name(const struct fs_dirent *d, char *out, size_t size)
{
	size_t k = 0;
	const char *end = d->name + d->name_len;
	for (const char *p = d->name; p < end; p++) {
		char ch = *p;
		if (ch == '\\' && p + 1 < end) {
			p++;
			ch = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
		}
		if (k + 1 >= size)
			return -1;
		out[k++] = ch;
	}
	out[k] = '\0';
	return 0;
}

const char *fs_reply_bytes(const struct ant_result *res, size_t *len)
{
	if (res->data) {
		size_t n = res->retval > 0 ? (size_t)res->retval : 0;
		*len = n < res->data->size ? n : res->data->size;
		return res->data->addr;
	}
	*len = res->len;
	return res->bytes;
}
