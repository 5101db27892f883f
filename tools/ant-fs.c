/* ant-fs.c - the file stack from the shell: ls, cat, stat, put, rm, mkdir against the fs server of a running stack. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/ant.h"
#include "fs_proto.h"
#include "ant-config.h"
#include "tool_common.h"

#define PROG "ant-fs"
#define CHUNK (4u << 20)   /* cat reads the file in pieces of this many bytes */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ant-fs [OPTIONS] COMMAND PATH [FILE]\n"
		"Use the file server (servers/fs) of a running stack.\n"
		"\n"
		"Commands:\n"
		"  ls PATH     list a folder: type, inode and name of each entry\n"
		"  cat PATH    write the file's bytes to standard output\n"
		"  stat PATH   inode, mode, size, links, modification time\n"
		"  put PATH [FILE]  write FILE (default: standard input) to PATH, replacing\n"
		"                   what PATH held (a new file is made with mode 0644)\n"
		"  rm PATH     remove a file, a symbolic link or an empty folder\n"
		"  mkdir PATH  make a folder (mode 0755)\n"
		"\n"
		"Options:\n"
		"  --run-dir DIR   the stack's run folder (default: $ANT_RUN_DIR, else the only\n"
		"                  stack under /run/ant)\n"
		"  --server NAME   the file server's name in the stack (default: fs)\n"
		"  --help          this text\n"
		"\n"
		"Exit status: 0 on success; 1 if the file server answered with an error\n"
		"(its name is printed, e.g. ENOENT); 2 on bad usage; 3 if the stack cannot\n"
		"be reached.\n");
}

static struct ant_conn *conn;
static const char *server = "fs";

/* One call of op with rq's arguments (written into arg, FS_ARG_MAX bytes)
 * and data, given away, if not NULL.  Returns fs's retval, or -ENAMETOOLONG
 * if the arguments do not fit. */
static int try_call(enum fs_op op, const struct fs_req *rq, struct ant_ica *data,
		    struct ant_result *res, char *arg)
{
	res->data = NULL;
	res->len = 0;
	int n = fs_req_encode(op, rq, arg, FS_ARG_MAX);
	if (n < 0) {
		ant_ica_release(conn, data);
		return n;
	}
	struct ant_call c = { .server = server, .op = fs_op_name(op), .arg = arg, .arglen = (size_t)n,
			      .data = data, .data_flags = data ? ANT_DF_DETACH : 0 };
	return ant_call_sync(conn, &c, res);
}

/* One call; on an error print it the way the other tools do and exit 1. */
static int32_t call(enum fs_op op, const struct fs_req *rq, struct ant_result *res)
{
	char arg[FS_ARG_MAX];
	int r = try_call(op, rq, NULL, res, arg);
	if (r < 0) {
		fprintf(stderr, "%s: %s %s: %s: %s", PROG, fs_op_name(op), arg, ant_errname(r),
			ant_strerror(r));
		if (res->len)
			fprintf(stderr, " (%.*s)", (int)res->len, (const char *)res->bytes);
		fputc('\n', stderr);
		ant_close(conn);
		exit(1);
	}
	return r;
}

static int cmd_ls(const char *path)
{
	static struct ant_result res;
	call(FS_READDIR, &(struct fs_req){ .path = path }, &res);
	size_t len;
	const char *p = fs_reply_bytes(&res, &len), *end = p + len;
	/* Print "TYPE INO NAME" like a short ls -i (the name as it travels). */
	struct fs_dirent d;
	while (fs_dirent_next(&p, end, &d))
		printf("%c %8" PRIu64 "  %.*s\n", d.type, d.ino, (int)d.name_len, d.name);
	ant_ica_release(conn, res.data);
	return 0;
}

static int cmd_cat(const char *path)
{
	static struct ant_result res;
	for (uint64_t off = 0;; off += CHUNK) {
		int32_t n = call(FS_READ, &(struct fs_req){ .path = path, .num = { off, CHUNK } }, &res);
		if (n > 0 && res.data && fwrite(res.data->addr, 1, (size_t)n, stdout) != (size_t)n) {
			fprintf(stderr, "%s: writing standard output: %s\n", PROG, strerror(errno));
			return 1;
		}
		ant_ica_release(conn, res.data);
		if ((uint32_t)n < CHUNK)
			break;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_stat(const char *path)
{
	static struct ant_result res;
	call(FS_STAT, &(struct fs_req){ .path = path }, &res);
	size_t len;
	const char *p = fs_reply_bytes(&res, &len);
	printf("%s: %.*s\n", path, (int)len, p);
	ant_ica_release(conn, res.data);
	return 0;
}

static const char *put_source;   /* put's FILE, or NULL: standard input */

/* put: create (or empty) PATH, then write the bytes in CHUNK-sized calls. */
static int cmd_put(const char *path)
{
	static struct ant_result res;
	FILE *in = put_source ? fopen(put_source, "rb") : stdin;
	if (!in) {
		fprintf(stderr, "%s: %s: %s\n", PROG, put_source, strerror(errno));
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
		call(FS_CREATE, &create, &res);   /* prints the error and exits */
	uint64_t off = 0;
	for (;;) {
		struct ant_ica *ica;
		r = ant_ica_alloc(conn, CHUNK, &ica);
		if (r < 0) {
			fprintf(stderr, "%s: no data ICA: %s\n", PROG, ant_strerror(r));
			return 1;
		}
		size_t n = fread(ica->addr, 1, CHUNK, in);
		if (n == 0) {
			ant_ica_release(conn, ica);
			break;
		}
		struct fs_req w = { .path = path, .num = { off, n } };
		r = try_call(FS_WRITE, &w, ica, &res, arg);
		ant_ica_release(conn, res.data);
		if (r < 0) {
			fprintf(stderr, "%s: write %s at %" PRIu64 ": %s: %s\n", PROG, path, off,
				ant_errname(r), ant_strerror(r));
			return 1;
		}
		off += n;
	}
	int bad = ferror(in);
	if (in != stdin)
		fclose(in);
	if (bad) {
		fprintf(stderr, "%s: reading %s: %s\n", PROG, put_source ? put_source : "standard input",
			strerror(errno));
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
		call(FS_UNLINK, &rq, &res);   /* prints the error and exits */
	return 0;
}

static int cmd_mkdir(const char *path)
{
	static struct ant_result res;
	call(FS_MKDIR, &(struct fs_req){ .path = path, .num = { 0755 } }, &res);
	return 0;
}

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
	if (argc - optind < 2)
		tool_usage_error(PROG, "expected COMMAND PATH");
	const char *cmd = argv[optind], *path = argv[optind + 1];
	int (*fn)(const char *) = strcmp(cmd, "ls") == 0 ? cmd_ls :
				  strcmp(cmd, "cat") == 0 ? cmd_cat :
				  strcmp(cmd, "stat") == 0 ? cmd_stat :
				  strcmp(cmd, "put") == 0 ? cmd_put :
				  strcmp(cmd, "rm") == 0 ? cmd_rm :
				  strcmp(cmd, "mkdir") == 0 ? cmd_mkdir : NULL;
	if (!fn)
		tool_usage_error(PROG, "unknown command '%s' (ls, cat, stat, put, rm, mkdir)", cmd);
	if (argc - optind > (fn == cmd_put ? 3 : 2))
		tool_usage_error(PROG, "too many arguments for %s", cmd);
	if (fn == cmd_put && argc - optind == 3)
		put_source = argv[optind + 2];
	if (strlen(path) > 2048 || path[0] != '/')
		tool_usage_error(PROG, "PATH must be absolute and at most 2048 bytes");
	conn = tool_connect(PROG, run_dir, server);
	int r = fn(path);
	ant_close(conn);
	return r;
}
