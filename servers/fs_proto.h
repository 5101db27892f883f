/* fs_proto.h - the file server's wire format: its ops, their text arguments and the layout of its answers. */
#ifndef ANT_SERVERS_FS_PROTO_H
#define ANT_SERVERS_FS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ant/ant.h"

/*
 * Every op's arguments are text in the control ICA (so ant-call can drive
 * fs too); docs/filestack.md has the table.  PATH is absolute, at most
 * FS_PATH_MAX bytes, any byte but NUL.  The two-path ops (rename, link,
 * symlink) put a newline between their paths and write each path with a
 * backslash as \\ and a newline as \n.  Numbers are decimal, a MODE
 * octal.  The ops that make an inode may end with " @UID:GID" (symlink:
 * "\n@UID:GID"): its owner, else root's.  Answers:
 *   stat             "ino=N mode=0100644 size=S nlink=L mtime=T uid=U gid=G
 *                    atime=A ctime=C blocks=B atime_ns=N mtime_ns=N
 *                    ctime_ns=N rdev=R" (struct fs_attr)
 *   lookup, create, mkdir, symlink, mknod, link  "ino=N"
 *   readdir          "NAME\tINO\tTYPE\n" lines (struct fs_dirent), inline or,
 *                    when longer than FS_INLINE_MAX, in a data ICA of fs's
 *                    (retval: the listing's bytes)
 *   read             the bytes in a data ICA (the caller's, lent with the
 *                    call, if it is writable and big enough; else fs's,
 *                    given away); retval: the bytes, 0 (no ICA) past the end
 *   readlink         the target (retval: its length)
 *   getxattr         the value; listxattr the names, each ended by a NUL (as
 *                    listxattr(2) gives them); both inline or, when longer
 *                    than FS_INLINE_MAX, in a data ICA of fs's (retval: the
 *                    bytes)
 *   statfs           "bsize=B blocks=N bfree=N bavail=N files=N ffree=N
 *                    namelen=255" (struct fs_statfs)
 *   write            retval LENGTH; the bytes travel in the call's data ICA
 *   the rest         0
 * Errors are -errno with a short text, or ANT_E_BAD_REQUEST / ANT_E_NO_OP.
 *
 * An argument text longer than FS_ARG_INLINE_MAX (long paths) does not fit
 * a control ICA beside the call's frames: it travels in the call's data ICA
 * instead, and the parameters say where: "@data OFF LEN" (the text is bytes
 * [OFF, OFF+LEN) of the data ICA; the op's own data, a write's bytes, a
 * setxattr's value, starts at 0 as always; a read's area is the reader's to
 * be filled, so its text is read before the read is done).
 */

#define FS_PATH_MAX   16383u                  /* a PATH's bytes at most: the kernel lets a program
						 name up to 4,095 bytes from its working folder,
						 and FUSE's paths start at the mount's root */
#define FS_ARG_MAX    (4 * FS_PATH_MAX + 160) /* an encoded argument's bytes at most, with its
						 NUL (two paths, every byte escaped) */
#define FS_ARG_INLINE_MAX 2048u               /* longer argument texts travel in the data ICA */
#define FS_IO_MAX     (64u << 20)             /* a read's or a write's LENGTH at most */
#define FS_INLINE_MAX 3072u                   /* answers up to this size come in the control ICA */
#define FS_MODE_MAX   07777u                  /* the permission bits a MODE may carry */
#define FS_NODE_MODE_MAX 0177777u             /* mknod's MODE: its type bits too */
#define FS_NO_ID      4294967295u             /* chown: leave this id as it is */
#define FS_TIME_NOW   ((1u << 30) - 1)        /* utimens: this time is now (UTIME_NOW) */
#define FS_TIME_OMIT  ((1u << 30) - 2)        /* utimens: leave this time (UTIME_OMIT) */
#define FS_TIME_MAX   ((1ull << 34) - 1)      /* utimens: seconds at most (ext4's 34 bits) */

enum fs_op {
	FS_STAT, FS_LOOKUP, FS_READDIR, FS_READ, FS_READLINK, FS_STATFS,
	FS_WRITE, FS_CREATE, FS_MKDIR, FS_SYMLINK, FS_UNLINK, FS_RMDIR, FS_RENAME,
	FS_TRUNCATE, FS_CHMOD, FS_UTIMENS, FS_FLUSH, FS_STATS,
	FS_CHOWN, FS_LINK, FS_MKNOD,
	FS_GETXATTR, FS_LISTXATTR, FS_SETXATTR, FS_REMOVEXATTR,
	FS_NOPS
};

/* The shape of an op's argument text. */
enum fs_args {
	FS_ARGS_NONE,    /* "" (anything sent is ignored) */
	FS_ARGS_PATH,    /* "PATH" */
	FS_ARGS_RANGE,   /* "PATH OFFSET LENGTH", LENGTH <= FS_IO_MAX */
	FS_ARGS_MODE,    /* "PATH MODE[ @UID:GID]", octal, <= FS_MODE_MAX */
	FS_ARGS_SIZE,    /* "PATH SIZE" */
	FS_ARGS_TIMES,   /* "PATH ASEC ANSEC MSEC MNSEC": seconds <= FS_TIME_MAX,
			    nanoseconds < 10^9, or FS_TIME_NOW / FS_TIME_OMIT */
	FS_ARGS_TWO,     /* "PATH\nOTHER": rename, link OLD to NEW (escaped) */
	FS_ARGS_LINK,    /* "OTHER\nPATH[\n@UID:GID]": a symlink at PATH to the
			    text OTHER (both escaped) */
	FS_ARGS_OWNER,   /* "PATH UID GID": FS_NO_ID leaves one as it is */
	FS_ARGS_NODE,    /* "PATH MODE RDEV[ @UID:GID]": MODE with its type bits
			    (<= FS_NODE_MODE_MAX), RDEV the device number */
	FS_ARGS_XNAME,   /* "PATH\nNAME" (escaped): an extended attribute's name */
	FS_ARGS_XSET,    /* "PATH\nNAME\nFLAGS SIZE": FLAGS FS_XATTR_CREATE or
			    FS_XATTR_REPLACE or 0, SIZE <= FS_XATTR_SIZE_MAX bytes
			    of value in the call's data ICA */
};

#define FS_XATTR_CREATE  1u                   /* setxattr: EEXIST if it is there */
#define FS_XATTR_REPLACE 2u                   /* setxattr: ENODATA if it is not */
#define FS_XATTR_SIZE_MAX 65536u              /* a value's bytes at most (Linux's) */
#define FS_XATTR_NAME_MAX 255u                /* a name's bytes at most (Linux's) */

/* One request's arguments, decoded (or to encode).  The numbers are the
 * ones the shape has, in its order; the rest are 0. */
struct fs_req {
	const char *path;
	const char *other;   /* FS_ARGS_TWO: the new path; FS_ARGS_LINK: the target */
	uint64_t num[4];
	int has_owner;       /* MODE, LINK, NODE: " @UID:GID" given (or to give) */
	uint32_t uid, gid;   /* ... the owner */
};

/* The op's name on the wire ("stat", ...); NULL for an op out of range. */
const char *fs_op_name(enum fs_op op);

/* The op named name, or -1 if fs has no such op. */
int fs_op_find(const char *name);

/* The shape of op's argument. */
enum fs_args fs_op_args(enum fs_op op);

/* "@data OFF LEN" into buf (snprintf's return); and back: 0 with *off and
 * *len, or -1 if text is not one. */
int fs_arg_in_data_format(char *buf, size_t size, uint64_t off, uint64_t len);
int fs_arg_in_data_parse(const char *text, uint64_t *off, uint64_t *len);

/*
 * A client's side of it: the argument text arg (n bytes) as a call's
 * parameters.  Up to FS_ARG_INLINE_MAX bytes: *param is arg itself.
 * Longer: arg is written into *data at off (a new ICA of n bytes if *data
 * is NULL; then off is 0 and the caller sends it detached) and *param is
 * "@data OFF N" in small (small_size bytes).  Returns 0, -ENAMETOOLONG if
 * *data has no room at off, or ant_ica_alloc's error.
 */
int fs_arg_place(struct ant_conn *c, const char *arg, size_t n, struct ant_ica **data, size_t off,
		 char *small, size_t small_size, const char **param, size_t *param_len);

/* Can path travel as a PATH?  0, or -ENAMETOOLONG (longer than FS_PATH_MAX). */
int fs_path_check(const char *path);

/*
 * Write op's argument text for rq into buf (size bytes, NUL-ended).
 * Returns its length (what goes in the call, without the NUL), or
 * -ENAMETOOLONG as fs_path_check says, or if buf is too small.  Paths are
 * not checked for being absolute: fs does that.
 */
int fs_req_encode(enum fs_op op, const struct fs_req *rq, char *buf, size_t size);

/*
 * Parse buf, an argument text of op (a C string, changed in place: rq's
 * pointers point into it, escapes undone).  Returns 0, or -1 if it has not
 * op's shape or a number is out of its range.
 */
int fs_req_decode(enum fs_op op, char *buf, struct fs_req *rq);

/* stat's answer.  have: the FS_HAVE_* keys that were in the text. */
struct fs_attr {
	uint64_t ino, size, blocks, rdev;
	uint32_t mode, nlink, uid, gid;
	int64_t mtime, atime, ctime;
	uint32_t mtime_ns, atime_ns, ctime_ns;
	unsigned have;
};
#define FS_HAVE_MODE   0x01u
#define FS_HAVE_ATIME  0x02u
#define FS_HAVE_CTIME  0x04u
#define FS_HAVE_BLOCKS 0x08u

/* a as stat's answer text into buf (snprintf's return). */
int fs_attr_format(char *buf, size_t size, const struct fs_attr *a);

/* stat's answer text (len bytes, not NUL-ended) into a, by key: unknown
 * keys are skipped, missing ones are 0 and not in a->have.  0, or -1
 * without a mode. */
int fs_attr_parse(const char *text, size_t len, struct fs_attr *a);

/* statfs's answer. */
struct fs_statfs {
	uint64_t bsize, blocks, bfree, bavail, files, ffree, namelen;
};

/* s as statfs's answer text into buf (snprintf's return). */
int fs_statfs_format(char *buf, size_t size, const struct fs_statfs *s);

/* statfs's answer text (len bytes) into s by key; missing keys are 0,
 * namelen 255. */
void fs_statfs_parse(const char *text, size_t len, struct fs_statfs *s);

/* "ino=N" (lookup, create, mkdir, symlink) into buf (snprintf's return). */
int fs_ino_format(char *buf, size_t size, uint64_t ino);

/* One line of a readdir listing.  name is as it travels: a tab, a newline
 * and a backslash in it are written \t, \n and \\ (fs_dirent_name undoes
 * that). */
struct fs_dirent {
	const char *name;    /* into the listing, not NUL-ended */
	size_t name_len;
	uint64_t ino;
	char type;           /* f, d, l or ? */
};

/* The longest line fs_dirent_format writes (a 255-byte name, all escaped). */
#define FS_DIRENT_MAX (2 * 255 + 32)

/* The line for an entry (name a C string) into buf; returns its length, or
 * -1 if buf is too small. */
int fs_dirent_format(char *buf, size_t size, const char *name, uint64_t ino, char type);

/* The next entry of the listing [*p, end) into d, and *p past its line.
 * Malformed lines are skipped.  Returns 1, or 0 at the end. */
int fs_dirent_next(const char **p, const char *end, struct fs_dirent *d);

/* d's name, unescaped, into out (size bytes, NUL-ended); -1 if too long. */
int fs_dirent_name(const struct fs_dirent *d, char *out, size_t size);

/* An answer's bytes: in the data ICA that came back (its first retval
 * bytes), else inline in the result. */
const char *fs_reply_bytes(const struct ant_result *res, size_t *len);

#endif
