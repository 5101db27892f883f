/* ant-fs.c - the file stack from the shell: ls, cat, stat, put, rm, mkdir against the fs server of a running stack. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "fs_proto.h"
#include "ant-config.h"
#include "tool_common.h"

#define PROG "ant-fs"
#define CHUNK (4u << 20)   /* cat reads the file in pieces of this many bytes */

/* A subcommand: its name, what follows it, what it does (for --help). */
struct command {
	const char *name;
	int (*fn)(const char *path);
	const char *args;
	const char *help;
};

static const struct command commands[];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ant-fs [OPTIONS] COMMAND PATH [FILE]\n"
		"Use the file server (servers/fs) of a running stack.  PATH is absolute.\n"
		"\n"
		"Commands:\n");
	for (const struct command *c = commands; c->name; c++) {
		char head[32];
		snprintf(head, sizeof(head), "%s %s", c->name, c->args);
		fprintf(f, "  %-17s %s\n", head, c->help);
	}
	fprintf(f,
		"\n"
		"Options:\n"
		"  --run-dir DIR   the stack's run folder (default: $ANT_RUN_DIR, else the only\n"
		"                  stack under /run/ant)\n"
		"  --server NAME   the file server's name in the stack (default: fs)\n"
		"  --help          this text\n"
		"  --version       the version\n"
		"\n"
		"Times are local (TZ).  On an error ant-fs prints\n"
		"\"ant-fs: COMMAND PATH: what went wrong\" on standard error.\n"
		"\n"
		"Exit status: 0 on success; 1 if an operation failed (for ls: any entry);\n"
		"2 on bad usage; 3 if the stack cannot be reached.\n");
}

static struct ant_conn *conn;
static const char *server = "fs";
static const char *cmd_name;      /* the subcommand, for messages */

/* One call of op with rq's arguments (written into arg, FS_ARG_MAX bytes)
 * and data, given away, if not NULL.  Returns fs's retval, or -ENAMETOOLONG
 * if the arguments do not fit. */
static int try_call(enum fs_op op, const struct fs_req *rq, struct ant_ica *data,
		    struct ant_result *res, char *arg)
{
	res->data = NULL;
	res->len = 0;
	int n = fs_req_encode(op, rq, arg, FS_ARG_MAX);
	/* A long argument text goes in the data ICA (fs_arg_place): in one of
	 * its own, or after a write's bytes if there is room. */
	char small[64];
	const char *param = arg;
	size_t plen = 0;
	if (n >= 0)
		n = fs_arg_place(conn, arg, (size_t)n, &data, op == FS_WRITE ? (size_t)rq->num[1] : 0,
				 small, sizeof(small), &param, &plen);
	if (n < 0) {
		ant_ica_release(conn, data);
		return n;
	}
	struct ant_call c = { .server = server, .op = fs_op_name(op), .arg = param, .arglen = plen,
			      .data = data, .data_flags = data ? ANT_DF_DETACH : 0 };
	return ant_call_sync(conn, &c, res);
}

/* Errors whose strerror text says it all: fs's own text beside them only
 * repeats it in libext2fs's words ("File not found by ext2_lookup"). */
static int says_all(int r)
{
	switch (-r) {
	case ENOENT: case ENOTDIR: case EISDIR: case EEXIST: case ENOTEMPTY:
	case EROFS: case ENAMETOOLONG: case ENOSPC: case EACCES: case EPERM:
		return 1;
	}
	return 0;
}

/*
 * "ant-fs: COMMAND PATH: why" for r on path.  why is strerror's text; fs's
 * own text follows in parentheses when it adds something (EIO: "cache:
 * timed out"; EINVAL: "not a regular file"), and the name of an ant error
 * (ANT_E_DEADLINE...) that no errno has.  res: the failed call's result, or
 * NULL.
 */
static void report(const char *path, int r, const struct ant_result *res)
{
	fprintf(stderr, "%s: %s %s: %s", PROG, cmd_name, path, ant_strerror(r));
	const char *t = res && res->len ? res->bytes : NULL;
	size_t n = t ? res->len : 0, plen = strlen(path);
	if (n > plen + 2 && memcmp(t, path, plen) == 0 && memcmp(t + plen, ": ", 2) == 0)
		t += plen + 2, n -= plen + 2;   /* fs names the path too: once is enough */
	if (!ant_is_errno(r))
		fprintf(stderr, " (%s%s%.*s)", ant_errname(r), n ? ": " : "", (int)n, t ? t : "");
	else if (n && !says_all(r))
		fprintf(stderr, " (%.*s)", (int)n, t);
	fputc('\n', stderr);
}

/* One call; on an error report it and exit 1. */
static int32_t call(enum fs_op op, const struct fs_req *rq, struct ant_result *res)
{
	char arg[FS_ARG_MAX];
	int r = try_call(op, rq, NULL, res, arg);
	if (r < 0) {
		report(rq->path, r, res);
		ant_close(conn);
		exit(1);
	}
	return r;
}

/* path's attributes (of a symlink itself) into a: 0, or < 0 reported. */
static int get_attr(const char *path, struct fs_attr *a)
{
	static struct ant_result res;
	char arg[FS_ARG_MAX];
	int r = try_call(FS_STAT, &(struct fs_req){ .path = path }, NULL, &res, arg);
	if (r >= 0 && fs_attr_parse(res.bytes, res.len, a) < 0)
		r = -EBADMSG;   /* an answer without a mode */
	if (r < 0)
		report(path, r, &res);
	ant_ica_release(conn, res.data);
	return r < 0 ? r : 0;
}

/* A symlink's target into out (size bytes, NUL-ended, cut if longer);
 * "?" if fs cannot say. */
static void get_target(const char *path, char *out, size_t size)
{
	static struct ant_result res;
	char arg[FS_ARG_MAX];
	int r = try_call(FS_READLINK, &(struct fs_req){ .path = path }, NULL, &res, arg);
	size_t len = 0;
	const char *p = r >= 0 ? fs_reply_bytes(&res, &len) : "?";
	snprintf(out, size, "%.*s", r >= 0 ? (int)len : 1, p);
	ant_ica_release(conn, res.data);
}

/* "-rw-r--r--", "drwxr-xr-x", "lrwxrwxrwx": ls -l's mode column. */
static void mode_string(uint32_t mode, char s[11])
{
	static const char types[] = "?pc?d?b?-?l?s???";   /* by mode's S_IFMT nibble */
	s[0] = types[(mode >> 12) & 017];
	for (int i = 0; i < 9; i++)
		s[1 + i] = mode & (0400u >> i) ? "rwx"[i % 3] : '-';
	if (mode & S_ISUID)
		s[3] = s[3] == 'x' ? 's' : 'S';
	if (mode & S_ISGID)
		s[6] = s[6] == 'x' ? 's' : 'S';
	if (mode & S_ISVTX)
		s[9] = s[9] == 'x' ? 't' : 'T';
	s[10] = '\0';
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symbolic link";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	case S_IFSOCK: return "socket";
	}
	return "unknown";
}

/* t as local time in strftime's fmt into buf; the bare seconds if the
 * date cannot be written. */
static const char *date(int64_t t, const char *fmt, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm) || strftime(buf, size, fmt, &tm) == 0)
		snprintf(buf, size, "%" PRId64, t);
	return buf;
}

/* A name as ls shows it on a terminal: control characters as '?', so
 * that a name with a newline cannot forge a line of the listing. */
static void print_name(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
}

/* The listing's columns: the header and each row share these widths. */
#define LS_ROW "%-10s  %5s  %12s  %-16s  "

static void ls_row(const char *path, const char *name, const struct fs_attr *a)
{
	char mode[11], links[16], size[24], mtime[32];
	mode_string(a->mode, mode);
	snprintf(links, sizeof(links), "%" PRIu32, a->nlink);
	snprintf(size, sizeof(size), "%" PRIu64, a->size);
	printf(LS_ROW, mode, links, size, date(a->mtime, "%Y-%m-%d %H:%M", mtime, sizeof(mtime)));
	print_name(name);
	if (S_ISLNK(a->mode)) {
		char target[FS_PATH_MAX + 1];
		get_target(path, target, sizeof(target));
		fputs(" -> ", stdout);
		print_name(target);
	}
	putchar('\n');
}

/*
 * ls: a header, then one row per entry of the folder (fs's order: by
 * name).  readdir gives names, inodes and types only, so each entry is
 * stat'ed too.  An entry that cannot be stat'ed is reported and skipped
 * (exit 1, as ls does); PATH a file: its own row, as ls does.
 */
static int cmd_ls(const char *path)
{
	static struct ant_result res;
	char arg[FS_ARG_MAX];
	struct fs_attr a;
	int r = try_call(FS_READDIR, &(struct fs_req){ .path = path }, NULL, &res, arg);
	if (r == -ENOTDIR) {
		ant_ica_release(conn, res.data);
		if (get_attr(path, &a) < 0)
			return 1;
		printf(LS_ROW "NAME\n", "MODE", "LINKS", "SIZE", "MTIME");
		ls_row(path, path, &a);
		return 0;
	}
	if (r < 0) {
		report(path, r, &res);
		return 1;
	}
	printf(LS_ROW "NAME\n", "MODE", "LINKS", "SIZE", "MTIME");
	size_t len, plen = strlen(path);
	const char *p = fs_reply_bytes(&res, &len), *end = p + len;
	const char *sep = path[plen - 1] == '/' ? "" : "/";
	int failed = 0;
	struct fs_dirent d;
	while (fs_dirent_next(&p, end, &d)) {
		char name[256], child[FS_PATH_MAX + 256 + 2];
		if (fs_dirent_name(&d, name, sizeof(name)) < 0) {
			fprintf(stderr, "%s: ls %s: an entry's name is too long: %.*s\n", PROG, path,
				(int)d.name_len, d.name);
			failed = 1;
			continue;
		}
		snprintf(child, sizeof(child), "%s%s%s", path, sep, name);
		if (get_attr(child, &a) < 0) {
			failed = 1;
			continue;
		}
		ls_row(child, name, &a);
	}
	ant_ica_release(conn, res.data);
	return failed;
}

static int cmd_cat(const char *path)
{
	static struct ant_result res;
	for (uint64_t off = 0;; off += CHUNK) {
		int32_t n = call(FS_READ, &(struct fs_req){ .path = path, .num = { off, CHUNK } }, &res);
		if (n > 0 && res.data && fwrite(res.data->addr, 1, (size_t)n, stdout) != (size_t)n) {
			fprintf(stderr, "%s: cat %s: writing standard output: %s\n", PROG, path,
				strerror(errno));
			return 1;
		}
		ant_ica_release(conn, res.data);
		if ((uint32_t)n < CHUNK)
			break;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "%s: cat %s: writing standard output: %s\n", PROG, path, strerror(errno));
		return 1;
	}
	return 0;
}

/* stat: one labelled field a line, "label:  value", times as local dates
 * with the seconds since 1970 beside them. */
static int cmd_stat(const char *path)
{
	struct fs_attr a;
	if (get_attr(path, &a) < 0)
		return 1;
	char mode[11], when[64];
	mode_string(a.mode, mode);
	printf("path:   %s\n", path);
	printf("type:   %s\n", type_name(a.mode));
	if (S_ISLNK(a.mode)) {
		char target[FS_PATH_MAX + 1];
		get_target(path, target, sizeof(target));
		printf("target: %s\n", target);
	}
	printf("mode:   %s (%04o)\n", mode, (unsigned)(a.mode & 07777));
	printf("size:   %" PRIu64 " bytes\n", a.size);
	printf("links:  %" PRIu32 "\n", a.nlink);
	printf("inode:  %" PRIu64 "\n", a.ino);
	printf("uid:    %" PRIu32 "\n", a.uid);
	printf("gid:    %" PRIu32 "\n", a.gid);
	if (a.have & FS_HAVE_BLOCKS)
		printf("blocks: %" PRIu64 " (of 512 bytes)\n", a.blocks);
	static const char fmt[] = "%Y-%m-%d %H:%M:%S %z";
	printf("mtime:  %s (%" PRId64 ")\n", date(a.mtime, fmt, when, sizeof(when)), a.mtime);
	if (a.have & FS_HAVE_ATIME)
		printf("atime:  %s (%" PRId64 ")\n", date(a.atime, fmt, when, sizeof(when)), a.atime);
	if (a.have & FS_HAVE_CTIME)
		printf("ctime:  %s (%" PRId64 ")\n", date(a.ctime, fmt, when, sizeof(when)), a.ctime);
	return 0;
}

static const char *put_source;   /* put's FILE, or NULL: standard input */

/* put: create (or empty) PATH, then write the bytes in CHUNK-sized calls. */
static int cmd_put(const char *path)
{
	static struct ant_result res;
	const char *from = put_source ? put_source : "standard input";
	FILE *in = put_source ? fopen(put_source, "rb") : stdin;
	if (!in) {
		fprintf(stderr, "%s: put %s: %s: %s\n", PROG, path, from, strerror(errno));
		return 1;
	}
	char arg[FS_ARG_MAX];
	/* A new file, or the old one emptied: put replaces, as cp does. */
	struct fs_req create = { .path = path, .num = { 0644 } };
	int r = try_call(FS_CREATE, &create, NULL, &res, arg);
	ant_ica_release(conn, res.data);
	if (r == -EEXIST)
		call(FS_TRUNCATE, &(struct fs_req){ .path = path }, &res);
	else if (r < 0)
		call(FS_CREATE, &create, &res);   /* reports the error and exits */
	uint64_t off = 0;
	for (;;) {
		struct ant_ica *ica;
		r = ant_ica_alloc(conn, CHUNK, &ica);
		if (r < 0) {
			fprintf(stderr, "%s: put %s: no data ICA: %s\n", PROG, path, ant_strerror(r));
			return 1;
		}
		size_t n = fread(ica->addr, 1, CHUNK, in);
		if (n == 0) {
			ant_ica_release(conn, ica);
			break;
		}
		struct fs_req w = { .path = path, .num = { off, n } };
		r = try_call(FS_WRITE, &w, ica, &res, arg);
		if (r < 0)
			report(path, r, &res);
		ant_ica_release(conn, res.data);
		if (r < 0)
			return 1;
		off += n;
	}
	int bad = ferror(in);
	if (in != stdin)
		fclose(in);
	if (bad) {
		fprintf(stderr, "%s: put %s: reading %s: %s\n", PROG, path, from, strerror(errno));
		return 1;
	}
	return 0;
}

static int cmd_rm(const char *path)
{
	static struct ant_result res;
	char arg[FS_ARG_MAX];
	struct fs_req rq = { .path = path };
	int r = try_call(FS_UNLINK, &rq, NULL, &res, arg);
	ant_ica_release(conn, res.data);
	if (r == -EISDIR)
		call(FS_RMDIR, &rq, &res);
	else if (r < 0)
		call(FS_UNLINK, &rq, &res);   /* reports the error and exits */
	return 0;
}

static int cmd_mkdir(const char *path)
{
	static struct ant_result res;
	call(FS_MKDIR, &(struct fs_req){ .path = path, .num = { 0755 } }, &res);
	return 0;
}

static const struct command commands[] = {
	{ "ls", cmd_ls, "PATH", "list a folder: MODE LINKS SIZE MTIME NAME, a header\n"
	  "                    first (PATH a file: that file's row)" },
	{ "cat", cmd_cat, "PATH", "write the file's bytes to standard output" },
	{ "stat", cmd_stat, "PATH", "type, mode, size, links, inode, owner and times of\n"
	  "                    PATH (a symbolic link itself, with its target)" },
	{ "put", cmd_put, "PATH [FILE]", "write FILE (default: standard input) to PATH,\n"
	  "                    replacing what PATH held (a new file has mode 0644)" },
	{ "rm", cmd_rm, "PATH", "remove a file, a symbolic link or an empty folder" },
	{ "mkdir", cmd_mkdir, "PATH", "make a folder (mode 0755)" },
	{ NULL, NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		TOOL_OPT_RUN_DIR,
		{ "server", required_argument, NULL, 's' },
		TOOL_OPT_HELP,
		TOOL_OPT_VERSION,
		TOOL_OPT_END,
	};
	const char *run_dir = NULL;
	const struct tool_cli cli = { .prog = PROG, .opts = opts, .shortopts = "+hV", .version = ANT_VERSION, .usage = usage,
				      .run_dir = &run_dir,
				      .bad_format = "unknown or incomplete option '%s'" };
	int ch;
	while ((ch = tool_getopt(&cli, argc, argv)) != -1)
		if (ch == 's')
			server = optarg;
	if (argc == optind) {   /* nothing to do: say what can be done */
		usage(stderr);
		return 2;
	}
	const struct command *cmd = commands;
	while (cmd->name && strcmp(cmd->name, argv[optind]) != 0)
		cmd++;
	if (!cmd->name)
		tool_usage_error(PROG, "unknown command '%s'; commands: ls, cat, stat, put, rm, mkdir",
				 argv[optind]);
	cmd_name = cmd->name;
	if (argc - optind < 2)
		tool_usage_error(PROG, "%s needs a PATH", cmd_name);
	if (argc - optind > (cmd->fn == cmd_put ? 3 : 2))
		tool_usage_error(PROG, "too many arguments for %s", cmd_name);
	const char *path = argv[optind + 1];
	if (cmd->fn == cmd_put && argc - optind == 3)
		put_source = argv[optind + 2];
	if (strlen(path) > FS_PATH_MAX || path[0] != '/')
		tool_usage_error(PROG, "PATH must be absolute and at most %u bytes", FS_PATH_MAX);
	conn = tool_connect(PROG, run_dir, server);
	int r = cmd->fn(path);
	ant_close(conn);
	return r;
}
