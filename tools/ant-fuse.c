/* ant-fuse.c - mount the file server (servers/fs) of a running stack with FUSE (libfuse3, high-level API). */
#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "fs_proto.h"
#include "tool_common.h"

#include "ant-config.h"

#define PROG "ant-fuse"

/*
 * Every FUSE op is one synchronous call to the file server (the contract is
 * the op table in docs/filestack.md): "stat PATH", "read PATH OFF LEN", ...
 * The kernel caches attributes and pages (only this mount changes the
 * files), so most repeated work never reaches the stack; --uncached turns
 * that off.
 *
 * Threads: libant's connection is used by one thread at a time, so each FUSE
 * worker thread has its own, made on its first op (a pthread key closes it
 * when libfuse retires the thread).  A connection that fails is closed and
 * the op answers EIO; the thread's next op connects again.  A connection
 * antd hung up on while its thread was idle (antd stopped, or restarted) is
 * replaced before the op, so it costs no EIO once antd is back.  antd
 * restarting the fs server needs none of this (antd replays the call);
 * antd itself going away does.
 */

#define IO_MAX      (1u << 20)   /* read/write requests we ask the kernel for (its usual cap) */

/* What every worker thread reads; set in main before the mount, then read-only. */
struct mount_ctx {
	const char *run_dir;         /* absolute: a daemon runs in "/" */
	const char *server;          /* the file server's name in the stack */
	int uncached;                /* --uncached: the kernel caches nothing */
	int user_timeouts;           /* -o named attr_timeout, entry_timeout or
					negative_timeout: those, not ours */
	pthread_key_t conn_key;      /* this thread's struct ant_conn * */
	pthread_key_t buf_key;       /* this thread's read ICA (on its connection) */
};

static struct mount_ctx *ctx(void)
{
	return fuse_get_context()->private_data;
}

/* ---- the connection of this thread ------------------------------------- */

static void on_thread_exit(void *conn)
{
	ant_close(conn);
}

static void conn_drop(struct ant_conn *c);

/* Has antd hung up on c (stopped, or restarted since c was made)?  Checked
 * before each op: a thread that sat idle while antd was restarted would
 * otherwise fail its next op with EIO although antd is back. */
static int conn_hung_up(struct ant_conn *c)
{
	struct pollfd p = { .fd = ant_fd(c), .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL));
}

/* This thread's connection, made on first use (or again when antd hung up
 * on the old one); NULL if the stack cannot be reached. */
static struct ant_conn *conn_get(void)
{
	struct mount_ctx *m = ctx();
	struct ant_conn *c = pthread_getspecific(m->conn_key);
	if (c && !conn_hung_up(c))
		return c;
	if (c)
		conn_drop(c);
	if (ant_connect(m->run_dir, &c) < 0)
		return NULL;
	if (pthread_setspecific(m->conn_key, c) != 0) {
		ant_close(c);
		return NULL;
	}
	return c;
}

/* The connection broke (or antd is gone): close it; the next op reconnects. */
static void conn_drop(struct ant_conn *c)
{
	pthread_setspecific(ctx()->conn_key, NULL);
	pthread_setspecific(ctx()->buf_key, NULL);   /* ant_close releases it */
	ant_close(c);
}

/* This thread's data ICA for reads (at least size bytes), which fs fills
 * and gives back: no new area, no fresh pages per read.  NULL if none. */
static struct ant_ica *read_buf(struct ant_conn *c, size_t size)
{
	struct ant_ica *b = pthread_getspecific(ctx()->buf_key);
	if (b && b->size >= size)
		return b;
	ant_ica_release(c, b);
	pthread_setspecific(ctx()->buf_key, NULL);
	if (ant_ica_alloc(c, size < IO_MAX ? IO_MAX : size, &b) < 0)
		return NULL;
	pthread_setspecific(ctx()->buf_key, b);
	return b;
}

/* A call's outcome as FUSE wants it: -errno from fs as it is; ANT_E_* codes
 * (the call itself failed) are EIO, except "fs does not serve that op yet". */
static int to_errno(int r)
{
	if (r >= 0 || ant_is_errno(r))
		return r;
	return r == ANT_E_NO_OP ? -ENOSYS : -EIO;
}

/*
 * One synchronous call to the file server on this thread's connection c:
 * op with rq's arguments (fs_proto.h).  data, if not NULL, was allocated on c
 * and is given away (sent detached, or released if the call is not sent),
 * unless keep: then it is only lent, and comes back as res->data.
 * Returns fs's retval mapped by to_errno (so < 0 is a -errno for FUSE);
 * -ENAMETOOLONG when the parameters do not fit in a control ICA.  res->data,
 * when not NULL, is the caller's to release with ant_ica_release(c, ...),
 * even on an error.  After a transport failure it is NULL and c is closed.
 */
static int fs_call(struct ant_conn *c, struct ant_ica *data, int keep, struct ant_result *res,
		   enum fs_op op, const struct fs_req *rq)
{
	static __thread char arg[FS_ARG_MAX];
	char small[64];
	res->data = NULL;
	int n = fs_req_encode(op, rq, arg, sizeof(arg));
	/* A long argument text goes in the data ICA: after a write's bytes or a
	 * setxattr's value (their callers leave room), at the start of a read's
	 * area (fs reads it before it fills the area), else in an area of its
	 * own, given away with the call. */
	const char *param = arg;
	size_t plen = 0;
	int own = data == NULL;
	if (n >= 0) {
		size_t off = op == FS_WRITE || op == FS_SETXATTR ? (size_t)rq->num[1] : 0;
		n = fs_arg_place(c, arg, (size_t)n, &data, off, small, sizeof(small), &param, &plen);
		if (n == 0 && own && data)
			keep = 0;   /* an area made here for the text: it goes with the call */
	}
	if (n < 0) {
		if (!keep)
			ant_ica_release(c, data);
		return n == -ENOMEM || n == -ENAMETOOLONG ? n : to_errno(n);
	}
	struct ant_call call = {
		.server = ctx()->server, .op = fs_op_name(op), .arg = param, .arglen = plen,
		.data = data, .data_flags = data && !keep ? ANT_DF_DETACH : 0,
	};
	uint64_t ticket;
	int r = ant_call_async(c, &call, &ticket);
	if (r < 0) {
		if (!keep)
			ant_ica_release(c, data);
		if (r == -E2BIG)
			return -ENAMETOOLONG;
		if (!ant_is_errno(r) || r == -EINVAL)
			return to_errno(r);     /* refused before sending: the connection is fine */
		conn_drop(c);
		return -EIO;
	}
	r = ant_wait(c, ticket, res, -1);
	if (r < 0) {
		res->data = NULL;
		conn_drop(c);
		return -EIO;
	}
	return to_errno(res->retval);
}

/* Room to leave after a write's bytes or a setxattr's value for the
 * argument text, when it is too long to go inline (fs_arg_place). */
static size_t arg_room(const char *path, const char *name)
{
	size_t n = 2 * (strlen(path) + strlen(name)) + 64;   /* escaped, with numbers */
	return n > FS_ARG_INLINE_MAX ? n : 0;
}

/* A call whose answer is just 0 or an error ("unlink PATH", "flush", ...). */
static int fs_simple(enum fs_op op, const struct fs_req *rq)
{
	struct ant_conn *c = conn_get();
	if (!c)
		return -EIO;
	struct ant_result res;
	int r = fs_call(c, NULL, 0, &res, op, rq);
	if (res.data)
		ant_ica_release(c, res.data);
	return r < 0 ? r : 0;
}

/* ---- attributes ---------------------------------------------------------- */

/*
 * stat's answer (fs_attr_parse) into st.  The keys an older fs does not
 * send get defaults (uid/gid 0, atime/ctime = mtime, blocks from the
 * size).  Returns 0, or -EIO without a mode.
 */
static int parse_stat(const char *text, size_t len, struct stat *st)
{
	struct fs_attr a;
	memset(st, 0, sizeof(*st));
	if (fs_attr_parse(text, len, &a) < 0)
		return -EIO;
	st->st_ino = (ino_t)a.ino;
	st->st_mode = (mode_t)a.mode;
	st->st_size = (off_t)a.size;
	st->st_nlink = a.nlink ? (nlink_t)a.nlink : 1;
	st->st_uid = (uid_t)a.uid;
	st->st_gid = (gid_t)a.gid;
	st->st_mtim.tv_sec = (time_t)a.mtime;
	st->st_atim.tv_sec = (time_t)(a.have & FS_HAVE_ATIME ? a.atime : a.mtime);
	st->st_ctim.tv_sec = (time_t)(a.have & FS_HAVE_CTIME ? a.ctime : a.mtime);
	st->st_mtim.tv_nsec = (long)a.mtime_ns;
	st->st_atim.tv_nsec = (long)(a.have & FS_HAVE_ATIME ? a.atime_ns : a.mtime_ns);
	st->st_ctim.tv_nsec = (long)(a.have & FS_HAVE_CTIME ? a.ctime_ns : a.mtime_ns);
	st->st_rdev = (dev_t)a.rdev;
	st->st_blocks = a.have & FS_HAVE_BLOCKS ? (blkcnt_t)a.blocks : (st->st_size + 511) / 512;
	st->st_blksize = 4096;
	return 0;
}

/*
 * A call whose answer is bytes (stat, readlink, getxattr, listxattr): rq's
 * path checked, the call made on this thread's connection, and take given
 * the bytes of a successful answer; returns take's result, or the call's
 * error.  The answer's data ICA, if any, is released after.
 */
typedef int answer_fn(const char *bytes, size_t len, void *arg);
static int fs_answer(enum fs_op op, const struct fs_req *rq, answer_fn *take, void *arg)
{
	int r = fs_path_check(rq->path);
	if (r < 0)
		return r;
	struct ant_conn *c = conn_get();
	if (!c)
		return -EIO;
	struct ant_result res;
	r = fs_call(c, NULL, 0, &res, op, rq);
	if (r >= 0) {
		size_t len;
		const char *p = fs_reply_bytes(&res, &len);
		r = take(p, len, arg);
	}
	if (res.data)
		ant_ica_release(c, res.data);
	return r;
}

static int take_stat(const char *text, size_t len, void *st)
{
	return parse_stat(text, len, st);
}

/* "stat PATH" into st. */
static int fs_stat(const char *path, struct stat *st)
{
	return fs_answer(FS_STAT, &(struct fs_req){ .path = path }, take_stat, st);
}

static int on_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	return fs_stat(path, st);
}

/* ---- folders ------------------------------------------------------------- */

static mode_t type_mode(char t)
{
	switch (t) {
	case 'd': return S_IFDIR;
	case 'f': return S_IFREG;
	case 'l': return S_IFLNK;
	case 'p': return S_IFIFO;
	case 's': return S_IFSOCK;
	case 'c': return S_IFCHR;
	case 'b': return S_IFBLK;
	}
	return 0;
}

/* The whole listing in one call, handed to the kernel with offset 0 (libfuse
 * keeps it and serves the kernel's reads of it in pieces). */
static int on_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off, (void)fi, (void)flags;
	int r = fs_path_check(path);
	if (r < 0)
		return r;
	struct ant_conn *c = conn_get();
	if (!c)
		return -EIO;
	struct ant_result res;
	r = fs_call(c, NULL, 0, &res, FS_READDIR, &(struct fs_req){ .path = path });
	if (r < 0)
		goto out;
	if (fill(buf, ".", NULL, 0, 0) || fill(buf, "..", NULL, 0, 0)) {
		r = -ENOMEM;
		goto out;
	}
	size_t len;
	const char *p = fs_reply_bytes(&res, &len), *end = p + len;
	struct fs_dirent d;
	r = 0;
	while (r == 0 && fs_dirent_next(&p, end, &d)) {
		char name[NAME_MAX * 2 + 2];
		if (fs_dirent_name(&d, name, sizeof(name)) == 0) {
			struct stat st = { 0 };
			st.st_ino = (ino_t)d.ino;
			st.st_mode = type_mode(d.type);
			if (fill(buf, name, &st, 0, 0))
				r = -ENOMEM;
		}
	}
out:
	if (res.data)
		ant_ica_release(c, res.data);
	return r;
}

/* A request that makes an inode: owned by the process that asked (FUSE
 * tells who); fs gives it the folder's group if the folder is setgid. */
static struct fs_req owned(const char *path, uint64_t n0, uint64_t n1)
{
	const struct fuse_context *fc = fuse_get_context();
	return (struct fs_req){ .path = path, .num = { n0, n1 }, .has_owner = 1,
				.uid = fc ? (uint32_t)fc->uid : 0, .gid = fc ? (uint32_t)fc->gid : 0 };
}

static int on_mkdir(const char *path, mode_t mode)
{
	int r = fs_path_check(path);
	struct fs_req rq = owned(path, mode & 07777, 0);
	return r < 0 ? r : fs_simple(FS_MKDIR, &rq);
}

/* FIFOs, sockets, devices (and a plain file, as mknod(2) may make one). */
static int on_mknod(const char *path, mode_t mode, dev_t rdev)
{
	int r = fs_path_check(path);
	if (r < 0)
		return r;
	if ((uint64_t)rdev > UINT32_MAX)
		return -EINVAL;
	struct fs_req rq = owned(path, mode & FS_NODE_MODE_MAX, (uint64_t)rdev);
	return fs_simple(FS_MKNOD, &rq);
}

static int on_rmdir(const char *path)
{
	int r = fs_path_check(path);
	return r < 0 ? r : fs_simple(FS_RMDIR, &(struct fs_req){ .path = path });
}

/* ---- files --------------------------------------------------------------- */

/* O_TRUNC normally never gets here: init turns atomic O_TRUNC off, so the
 * kernel truncates through setattr; honoured anyway in case it does.
 * The kernel opens only what its lookup found: a read-only open needs no
 * call at all (a tar of many small files saves one call per file). */
static int on_open(const char *path, struct fuse_file_info *fi)
{
	if (!(fi->flags & O_TRUNC) || (fi->flags & O_ACCMODE) == O_RDONLY)
		return 0;
	struct stat st;
	int r = fs_stat(path, &st);
	if (r < 0)
		return r;
	if (st.st_size)
		return fs_simple(FS_TRUNCATE, &(struct fs_req){ .path = path });
	return 0;
}

static int on_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int r = fs_path_check(path);
	if (r < 0)
		return r;
	struct fs_req rq = owned(path, mode & 07777, 0);
	r = fs_simple(FS_CREATE, &rq);
	/* Someone made it since the kernel's lookup: without O_EXCL that is a plain open. */
	if (r == -EEXIST && !(fi->flags & O_EXCL))
		return on_open(path, fi);
	return r;
}

/*
 * One call for the whole request (the kernel sends up to IO_MAX at once).
 * This thread's own area goes along, kept (not detached): fs fills it and it
 * comes back as the result's data ICA, *buf.  Returns the bytes (> 0, with
 * res->data holding them), 0 or -errno.  res->data, if not NULL and not
 * *buf, is fs's own area: the caller releases it.
 */
static int read_call(struct ant_conn *c, const char *path, size_t size, off_t off,
		     struct ant_result *res, struct ant_ica **buf)
{
	*buf = read_buf(c, size);
	struct fs_req rq = { .path = path, .num = { (uint64_t)off, size } };
	int r = fs_call(c, *buf, 1, res, FS_READ, &rq);
	if (pthread_getspecific(ctx()->buf_key) != *buf)
		*buf = NULL;   /* the connection broke: the area went with it */
	if (r > 0 && !res->data)
		return -EIO;   /* bytes promised but none came */
	if (r > 0) {
		size_t got = (size_t)r;
		if (got > res->data->size)
			got = res->data->size;
		if (got > size)
			got = size;
		r = (int)got;
	}
	return r;
}

/*
 * read, with the bytes handed to libfuse as this thread's area's fd: libfuse
 * splices them from the memfd's pages to /dev/fuse (with splice_write), so
 * they are not copied through this process.  The area stays this thread's
 * until its next read, after libfuse has sent this reply.
 */
static int on_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	struct fuse_bufvec *v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	*v = FUSE_BUFVEC_INIT(0);
	*bufp = v;
	int r = fs_path_check(path);
	if (r < 0 || size == 0)
		return r;
	struct ant_conn *c = conn_get();
	if (!c)
		return -EIO;
	struct ant_result res;
	struct ant_ica *buf;
	r = read_call(c, path, size, off, &res, &buf);
	if (r <= 0)
		goto out;
	if (res.data == buf) {
		v->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		v->buf[0].fd = ant_ica_fd(buf);
		v->buf[0].pos = 0;
		v->buf[0].size = (size_t)r;
	} else {
		void *mem = malloc((size_t)r);   /* fs sent one of its own */
		if (!mem) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(mem, res.data->addr, (size_t)r);
		v->buf[0].mem = mem;
		v->buf[0].size = (size_t)r;
	}
	v->buf[0].size = (size_t)r;
	r = 0;
out:
	if (res.data && res.data != buf)
		ant_ica_release(c, res.data);
	return r;
}

/* The bytes go in a data ICA of our own, given away with the call. */
static int on_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	int r = fs_path_check(path);
	if (r < 0)
		return r;
	if (size == 0)
		return 0;
	struct ant_conn *c = conn_get();
	if (!c)
		return -EIO;
	struct ant_ica *ica;
	r = ant_ica_alloc(c, size + arg_room(path, ""), &ica);
	if (r < 0) {
		if (r == -ENOMEM || r == ANT_E_NO_ICA)
			return -ENOMEM;
		if (ant_is_errno(r))
			conn_drop(c);   /* the socket failed */
		return -EIO;
	}
	memcpy(ica->addr, buf, size);
	struct ant_result res;
	struct fs_req rq = { .path = path, .num = { (uint64_t)off, size } };
	r = fs_call(c, ica, 0, &res, FS_WRITE, &rq);
	if (res.data)
		ant_ica_release(c, res.data);
	if (r > 0 && (size_t)r > size)
		r = -EIO;
	return r;
}

static int on_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)fi;
	int r = fs_path_check(path);
	return r < 0 ? r : fs_simple(FS_TRUNCATE, &(struct fs_req){ .path = path, .num = { (uint64_t)size } });
}

static int on_unlink(const char *path)
{
	int r = fs_path_check(path);
	return r < 0 ? r : fs_simple(FS_UNLINK, &(struct fs_req){ .path = path });
}

static int on_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags)
		return -EINVAL;   /* RENAME_NOREPLACE, RENAME_EXCHANGE: not in the contract */
	int r = fs_path_check(from);
	if (r == 0)
		r = fs_path_check(to);
	return r < 0 ? r : fs_simple(FS_RENAME, &(struct fs_req){ .path = from, .other = to });
}

/* A hard link: NEW names OLD's inode too.  libfuse's high-level API gives
 * each name a node of its own, so the kernel keeps OLD's attributes apart
 * from NEW's: OLD's (its link count, its ctime) are dropped now. */
static int on_link(const char *from, const char *to)
{
	int r = fs_path_check(from);
	if (r == 0)
		r = fs_path_check(to);
	if (r == 0)
		r = fs_simple(FS_LINK, &(struct fs_req){ .path = from, .other = to });
	if (r == 0)
		fuse_invalidate_path(fuse_get_context()->fuse, from);
	return r;
}

static int on_symlink(const char *target, const char *path)
{
	int r = fs_path_check(target);
	if (r == 0)
		r = fs_path_check(path);
	struct fs_req rq = owned(path, 0, 0);
	rq.other = target;
	return r < 0 ? r : fs_simple(FS_SYMLINK, &rq);
}

/* Where an answer's bytes go: buf of size bytes. */
struct into {
	char *buf;
	size_t size;
};

/* The target, cut to size-1 bytes and NUL-ended, as FUSE wants. */
static int take_link(const char *p, size_t len, void *arg)
{
	struct into *in = arg;
	if (len >= in->size)
		len = in->size - 1;
	memcpy(in->buf, p, len);
	in->buf[len] = '\0';
	return 0;
}

static int on_readlink(const char *path, char *buf, size_t size)
{
	if (size == 0)
		return -EINVAL;
	struct into in = { buf, size };
	return fs_answer(FS_READLINK, &(struct fs_req){ .path = path }, take_link, &in);
}

/* ---- attributes that change ---------------------------------------------- */

static int on_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)fi;
	int r = fs_path_check(path);
	return r < 0 ? r : fs_simple(FS_CHMOD, &(struct fs_req){ .path = path, .num = { mode & 07777 } });
}

/* The kernel checks who may change what (default_permissions) and clears
 * setuid and setgid itself, as a mode change. */
static int on_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)fi;
	int r = fs_path_check(path);
	struct fs_req rq = { .path = path, .num = { uid == (uid_t)-1 ? FS_NO_ID : (uint64_t)uid,
						    gid == (gid_t)-1 ? FS_NO_ID : (uint64_t)gid } };
	return r < 0 ? r : fs_simple(FS_CHOWN, &rq);
}

/* Times to the nanosecond; UTIME_NOW and UTIME_OMIT go to fs as they are
 * (fs's clock stamps "now", the same clock as the change's ctime). */
static int on_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)fi;
	int r = fs_path_check(path);
	if (r < 0)
		return r;
	uint64_t v[4];
	for (int i = 0; i < 2; i++) {
		long nsec = tv ? tv[i].tv_nsec : UTIME_NOW;
		if (nsec == UTIME_NOW || nsec == UTIME_OMIT) {
			v[2 * i] = 0;
			v[2 * i + 1] = nsec == UTIME_NOW ? FS_TIME_NOW : FS_TIME_OMIT;
		} else if (tv[i].tv_sec < 0 || (uint64_t)tv[i].tv_sec > FS_TIME_MAX || nsec < 0 ||
			   nsec >= 1000000000L) {
			return -EINVAL;
		} else {
			v[2 * i] = (uint64_t)tv[i].tv_sec;
			v[2 * i + 1] = (uint64_t)nsec;
		}
	}
	struct fs_req rq = { .path = path, .num = { v[0], v[1], v[2], v[3] } };
	return fs_simple(FS_UTIMENS, &rq);
}

/* ---- extended attributes ------------------------------------------------- */

static int on_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	int r = fs_path_check(path);
	if (r < 0)
		return r;
	if (size > FS_XATTR_SIZE_MAX)
		return -E2BIG;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	struct ant_conn *c = conn_get();
	if (!c)
		return -EIO;
	struct ant_ica *data = NULL;
	size_t room = arg_room(path, name);
	if (size || room) {
		r = ant_ica_alloc(c, size + room, &data);
		if (r < 0)
			return to_errno(r);
		memcpy(data->addr, value, size);
	}
	struct fs_req rq = { .path = path, .other = name,
			     .num = { (flags & XATTR_CREATE ? FS_XATTR_CREATE : 0) |
				      (flags & XATTR_REPLACE ? FS_XATTR_REPLACE : 0), size } };
	struct ant_result res;
	r = fs_call(c, data, 0, &res, FS_SETXATTR, &rq);
	if (res.data)
		ant_ica_release(c, res.data);
	return r < 0 ? r : 0;
}

/* getxattr and listxattr: the answer's bytes into buf (size 0: only how
 * many there are; too small: ERANGE). */
static int take_xattr(const char *p, size_t len, void *arg)
{
	struct into *in = arg;
	if (len > INT_MAX)
		return -E2BIG;
	if (in->size && len > in->size)
		return -ERANGE;
	if (in->size)
		memcpy(in->buf, p, len);
	return (int)len;
}

static int xattr_read(enum fs_op op, const char *path, const char *name, char *buf, size_t size)
{
	struct into in = { buf, size };
	return fs_answer(op, &(struct fs_req){ .path = path, .other = name }, take_xattr, &in);
}

static int on_getxattr(const char *path, const char *name, char *value, size_t size)
{
	return xattr_read(FS_GETXATTR, path, name, value, size);
}

static int on_listxattr(const char *path, char *list, size_t size)
{
	return xattr_read(FS_LISTXATTR, path, "", list, size);
}

static int on_removexattr(const char *path, const char *name)
{
	int r = fs_path_check(path);
	return r < 0 ? r : fs_simple(FS_REMOVEXATTR, &(struct fs_req){ .path = path, .other = name });
}

/* ---- the whole file system ----------------------------------------------- */

static int on_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof(*sv));
	struct ant_conn *c = conn_get();
	if (!c)
		return -EIO;
	struct ant_result res;
	int r = fs_call(c, NULL, 0, &res, FS_STATFS, &(struct fs_req){ 0 });
	if (r == -ENOSYS) {
		/* An fs without statfs yet: report nothing, so df still works. */
		sv->f_bsize = sv->f_frsize = 4096;
		sv->f_namemax = 255;
		r = 0;
	} else if (r >= 0) {
		size_t len;
		const char *text = fs_reply_bytes(&res, &len);
		struct fs_statfs f;
		fs_statfs_parse(text, len, &f);
		sv->f_bsize = sv->f_frsize = (unsigned long)f.bsize;
		sv->f_blocks = (fsblkcnt_t)f.blocks;
		sv->f_bfree = (fsblkcnt_t)f.bfree;
		sv->f_bavail = (fsblkcnt_t)f.bavail;
		sv->f_files = (fsfilcnt_t)f.files;
		sv->f_ffree = sv->f_favail = (fsfilcnt_t)f.ffree;
		sv->f_namemax = (unsigned long)f.namelen;
		r = 0;
	}
	if (res.data)
		ant_ica_release(c, res.data);
	return r;
}

/* fsync: everything written so far onto the image and synced.  fs's
 * "flush" is for the whole file system, not one file. */
static int on_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path, (void)datasync, (void)fi;
	return fs_simple(FS_FLUSH, &(struct fs_req){ 0 });
}

static int on_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	return on_fsync(path, datasync, fi);
}

/* close(2) sends FLUSH: deliberately nothing, so closing stays fast.  Every
 * write already went through fs to the disk server when it was answered;
 * only putting the image on stable storage waits for fsync. */
static int on_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path, (void)fi;
	return 0;
}

/* No per-open state: ops go by path. */
static int on_release(const char *path, struct fuse_file_info *fi)
{
	(void)path, (void)fi;
	return 0;
}

static void *on_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Big requests: one fs call per MiB rather than per 4 KiB or 128 KiB.
	 * libfuse has already capped max_write at its buffer (1 MiB with 4 KiB
	 * pages) and derives the kernel's max_pages from it; the kernel keeps
	 * the smaller of max_readahead and the mount's read_ahead_kb (see
	 * raise_readahead).  max_read stays 0 (no limit of ours): libfuse
	 * insists it equal the max_read= mount option. */
	if (conn->max_write > IO_MAX)
		conn->max_write = IO_MAX;
	conn->max_readahead = conn->max_write;
	/* O_TRUNC as a truncate (setattr) before the open, not a flag open must handle. */
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;   /* read_buf's fd goes by splice */
	/* readdir brings no attributes, so READDIRPLUS would only send more bytes. */
	conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	cfg->use_ino = 1;
	struct mount_ctx *m = ctx();
	if (m->uncached) {
		/* Every read, write, lookup and stat goes to fs: no page cache
		 * (direct I/O, so reads come in the application's sizes) and no
		 * attributes or names kept. */
		cfg->direct_io = 1;
		cfg->kernel_cache = 0;
		cfg->attr_timeout = cfg->entry_timeout = cfg->negative_timeout = 0;
		return m;
	}
	/* Only this mount changes the files: keep pages across opens and trust
	 * names for a second (missing names too).  Attributes are asked for
	 * each time: libfuse's high-level API gives each name of a file a
	 * node of its own, so with hard links the kernel would keep one set
	 * of attributes per name, and a chmod through one name would leave
	 * the others stale.  What -o gives (attr_timeout=...) wins. */
	cfg->kernel_cache = 1;
	if (!m->user_timeouts) {
		cfg->attr_timeout = 0;
		cfg->entry_timeout = 1.0;
		cfg->negative_timeout = 1.0;
	}
	return m;
}

static const struct fuse_operations ops = {
	.init = on_init,
	.getattr = on_getattr,
	.readlink = on_readlink,
	.mkdir = on_mkdir,
	.mknod = on_mknod,
	.unlink = on_unlink,
	.rmdir = on_rmdir,
	.symlink = on_symlink,
	.rename = on_rename,
	.link = on_link,
	.chmod = on_chmod,
	.chown = on_chown,
	.truncate = on_truncate,
	.open = on_open,
	.read_buf = on_read_buf,   /* (libfuse calls read_buf, never read, when it is set) */
	.write = on_write,
	.statfs = on_statfs,
	.flush = on_flush,
	.release = on_release,
	.fsync = on_fsync,
	.readdir = on_readdir,
	.fsyncdir = on_fsyncdir,
	.create = on_create,
	.utimens = on_utimens,
	.setxattr = on_setxattr,
	.getxattr = on_getxattr,
	.listxattr = on_listxattr,
	.removexattr = on_removexattr,
};

/* ---- start-up ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ant-fuse [OPTIONS] MOUNTPOINT\n"
		"Mount the file server (servers/fs) of a running stack on MOUNTPOINT with FUSE.\n"
		"\n"
		"Options:\n"
		"  --run-dir DIR   the stack's run folder (default: $ANT_RUN_DIR, else the\n"
		"                  only stack under /run/ant)\n"
		"  --server NAME   the file server's name in the stack (default: fs)\n"
		"  -f              stay in the foreground (default: detach once mounted)\n"
		"  -d              FUSE debug output on standard error (implies -f)\n"
		"  -s              one thread (default: one per busy request, each with its\n"
		"                  own connection to the stack)\n"
		"  --uncached      the kernel caches no pages, attributes or names: every\n"
		"                  access reaches the file server (slower; for tests, or\n"
		"                  when other clients change the files too)\n"
		"  -o OPTS         mount options for libfuse, comma-separated (allow_other,\n"
		"                  ro, ...); may be given more than once\n"
		"  --help          this text\n"
		"  --version       print ant-fuse's version and the libfuse version in use\n"
		"\n"
		"Stop it with `fusermount3 -u MOUNTPOINT` (or `umount MOUNTPOINT` as root);\n"
		"with -f, SIGINT (Ctrl-C) or SIGTERM unmounts too.\n"
		"\n"
		"Exit status: 0 after a clean unmount; 1 if FUSE is unavailable, mounting\n"
		"fails or the mount ends with an error; 2 on bad usage; 3 if the stack or\n"
		"its file server cannot be reached.\n");
}

/* The stack answers and has the server: checked once before mounting. */
static int check_stack(const char *run_dir, const char *server)
{
	struct ant_conn *c;
	int r = ant_connect(run_dir, &c);
	if (r < 0) {
		fprintf(stderr, "%s: cannot reach the stack in %s: %s\n", PROG, run_dir, ant_strerror(r));
		return -1;
	}
	if (ant_server_id(c, server) < 0) {
		fprintf(stderr, "%s: ANT_E_NO_SERVER: no server named '%s' in the stack in %s\n", PROG,
			server, run_dir);
		ant_close(c);
		return -1;
	}
	struct ant_call call = { .server = server, .op = "stat", .arg = "/", .arglen = 1 };
	struct ant_result res;
	r = ant_call_sync(c, &call, &res);
	if (r >= 0 && res.data)
		ant_ica_release(c, res.data);
	ant_close(c);
	if (r < 0) {
		fprintf(stderr, "%s: the file server '%s' cannot stat '/': %s: %s\n", PROG, server,
			ant_errname(r), ant_strerror(r));
		return -1;
	}
	return 0;
}

/* The mount's "MAJ:MIN" from /proc/self/mountinfo (the last mount on mnt);
 * no request to the file system, whose loop is not running yet.  0 or -1. */
static int mount_dev(const char *mnt, unsigned *maj, unsigned *min)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int found = -1;
	while (getline(&line, &cap, f) > 0) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...", the mount point with
		 * space, tab, newline and backslash as \ooo. */
		unsigned a, b;
		int at = 0;
		if (sscanf(line, "%*d %*d %u:%u %*s %n", &a, &b, &at) != 2 || !at)
			continue;
		char path[PATH_MAX];
		size_t k = 0;
		const char *p = line + at;
		for (; *p && *p != ' ' && *p != '\n' && k + 1 < sizeof(path); p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
			    p[3] >= '0' && p[3] <= '7') {
				path[k++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				path[k++] = *p;
			}
		}
		path[k] = '\0';
		if (strcmp(path, mnt) == 0) {
			*maj = a, *min = b;
			found = 0;
		}
	}
	free(line);
	fclose(f);
	return found;
}

/* The kernel starts a FUSE mount's readahead at 128 KiB and the INIT answer
 * can only lower it, so sequential reads would reach us in 128 KiB pieces.
 * As root, raise it to IO_MAX; anyone else keeps the kernel's (best effort). */
static void raise_readahead(const char *mnt)
{
	unsigned maj, min;
	if (mount_dev(mnt, &maj, &min) < 0)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	FILE *f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%u\n", IO_MAX / 1024);
	fclose(f);
}

/* "-o" strings joined with commas (NULL if none). */
static char *join_opts(char *have, const char *more)
{
	size_t n = (have ? strlen(have) + 1 : 0) + strlen(more) + 1;
	char *s = malloc(n);
	if (!s) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		exit(1);
	}
	snprintf(s, n, "%s%s%s", have ? have : "", have ? "," : "", more);
	free(have);
	return s;
}

/* What the command line says, with the mount point and run folder made absolute. */
struct cmdline {
	const char *run_dir, *server;
	int foreground, debug, single, uncached;
	char *user_opts;             /* -o, joined; NULL if none */
	char mnt[PATH_MAX], rdir[PATH_MAX];
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cl)
{
	static const struct option opts[] = {
		TOOL_OPT_RUN_DIR,
		{ "server", required_argument, NULL, 'S' },
		{ "uncached", no_argument, NULL, 'U' },
		TOOL_OPT_HELP,
		TOOL_OPT_VERSION,
		TOOL_OPT_END,
	};
	const struct tool_cli cli = { .prog = PROG, .opts = opts, .shortopts = "+:hVfdso:",
				      .usage = usage, .run_dir = &cl->run_dir };
	int ch;
	while ((ch = tool_getopt(&cli, argc, argv)) != -1) {
		switch (ch) {
		case 'S': cl->server = optarg; break;
		case 'f': cl->foreground = 1; break;
		case 'd': cl->debug = cl->foreground = 1; break;
		case 's': cl->single = 1; break;
		case 'U': cl->uncached = 1; break;
		case 'o': cl->user_opts = join_opts(cl->user_opts, optarg); break;
		case 'V': printf("%s %s (libfuse %s)\n", PROG, ANT_VERSION, fuse_pkgversion()); exit(0);
		}
	}
	if (argc - optind != 1)
		tool_usage_error(PROG, argc == optind ? "expected MOUNTPOINT" : "expected one MOUNTPOINT");
	if (!*cl->server || strlen(cl->server) >= 32)
		tool_usage_error(PROG, "--server NAME must have 1 to 31 characters");
}

/* Absolute paths (without -f the daemon runs in "/", and the unmount at the
 * end names the mount point again), a stack with the server, and FUSE.
 * Returns 0, or the exit status after printing why not. */
static int check_cmdline(const char *mountpoint, struct cmdline *cl)
{
	if (!realpath(mountpoint, cl->mnt)) {
		fprintf(stderr, "%s: mount point %s: %s\n", PROG, mountpoint, strerror(errno));
		return 1;
	}
	struct stat st;
	if (stat(cl->mnt, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: mount point %s: not a folder\n", PROG, cl->mnt);
		return 1;
	}
	const char *run_dir = tool_run_dir(cl->run_dir);
	if (!run_dir) {
		fprintf(stderr, "%s: no run folder: give --run-dir or set ANT_RUN_DIR\n", PROG);
		return 3;
	}
	if (!realpath(run_dir, cl->rdir)) {
		fprintf(stderr, "%s: cannot reach the stack in %s: %s\n", PROG, run_dir, strerror(errno));
		return 3;
	}
	if (check_stack(cl->rdir, cl->server) < 0)
		return 3;
	/* Say plainly when there is no FUSE at all; a permission problem is
	 * left to the mount, which may still succeed through fusermount3. */
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ENXIO || errno == ENODEV)) {
		fprintf(stderr, "%s: /dev/fuse: %s: FUSE is not available here (modprobe fuse; in a "
			"container, pass the device in)\n", PROG, strerror(errno));
		return 1;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* Mount f, detach unless -f, serve until unmounted or signalled, unmount.
 * Returns the exit status. */
static int serve(struct fuse *f, const struct cmdline *cl)
{
	int status = 1;
	if (fuse_mount(f, cl->mnt) != 0) {
		fprintf(stderr, "%s: cannot mount on %s (mounting needs root, or fusermount3 and "
			"access to /dev/fuse; libfuse's reason is above)\n", PROG, cl->mnt);
		return 1;
	}
	raise_readahead(cl->mnt);
	if (fuse_daemonize(cl->foreground) != 0) {
		fprintf(stderr, "%s: cannot detach: %s\n", PROG, strerror(errno));
		goto out_unmount;
	}
	struct fuse_session *se = fuse_get_session(f);
	if (fuse_set_signal_handlers(se) != 0) {
		fprintf(stderr, "%s: cannot set signal handlers\n", PROG);
		goto out_unmount;
	}
	int r;
	if (cl->single) {
		r = fuse_loop(f);
	} else {
		struct fuse_loop_config lc = { .clone_fd = 0, .max_idle_threads = 10 };
		r = fuse_loop_mt(f, &lc);
	}
	fuse_remove_signal_handlers(se);
	/* r > 0: the signal that ended the loop (SIGINT, SIGTERM, SIGHUP); 0:
	 * unmounted from outside; < 0: an error. */
	if (r < 0)
		fprintf(stderr, "%s: the FUSE loop ended: %s\n", PROG, strerror(-r));
	status = r < 0 ? 1 : 0;
out_unmount:
	fuse_unmount(f);
	return status;
}

int main(int argc, char **argv)
{
	/* libfuse takes a new buffer of the request's size (1 MiB) for every read;
	 * above glibc's default threshold each is a fresh mmap whose pages fault
	 * in zeroed and are unmapped after the reply.  Keep such buffers in the
	 * heap, reused from one read to the next. */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	static struct cmdline cl = { .server = "fs" };
	parse_cmdline(argc, argv, &cl);
	int status = check_cmdline(argv[optind], &cl);
	if (status)
		return status;

	struct mount_ctx m = { .run_dir = cl.rdir, .server = cl.server, .uncached = cl.uncached };
	m.user_timeouts = cl.user_opts && (strstr(cl.user_opts, "attr_timeout=") ||
					   strstr(cl.user_opts, "entry_timeout=") ||
					   strstr(cl.user_opts, "negative_timeout="));
	if (pthread_key_create(&m.buf_key, NULL) != 0 ||
	    pthread_key_create(&m.conn_key, on_thread_exit) != 0) {
		fprintf(stderr, "%s: pthread_key_create failed\n", PROG);
		return 1;
	}
	char own_opts[96];
	snprintf(own_opts, sizeof(own_opts), "default_permissions,fsname=ant-%s,subtype=ant",
		 cl.server);
	char *fargv[8];
	int fargc = 0;
	fargv[fargc++] = argv[0];
	if (cl.debug)
		fargv[fargc++] = "-d";
	fargv[fargc++] = "-o";
	fargv[fargc++] = own_opts;
	if (cl.user_opts) {
		fargv[fargc++] = "-o";
		fargv[fargc++] = cl.user_opts;
	}
	fargv[fargc] = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(fargc, fargv);
	struct fuse *f = fuse_new(&args, &ops, sizeof(ops), &m);
	if (!f) {
		fprintf(stderr, "%s: libfuse refused the options%s%s\n", PROG,
			cl.user_opts ? " given with -o: " : "", cl.user_opts ? cl.user_opts : "");
		fuse_opt_free_args(&args);
		free(cl.user_opts);
		return cl.user_opts ? 2 : 1;
	}
	status = serve(f, &cl);
	/* The loop's own thread (with -s, all work) keeps its connection here. */
	ant_close(pthread_getspecific(m.conn_key));
	fuse_destroy(f);
	fuse_opt_free_args(&args);
	free(cl.user_opts);
	return status;
}
