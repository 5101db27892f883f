/* test-fs.c - the file manager: an ext4 image read through fs -> cache -> disk. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define BIG_SIZE (3u << 20)
#define MIB (1u << 20)

/*
 * The stack: disk <- cache <- fs.  %s: extra arguments for the cache.
 * The cache keeps an fd for every block it holds (libant keeps each data
 * ICA's fd open), and a server's RLIMIT_NOFILE is 256: with 256 blocks it
 * would run out of fds, fail to take the next one antd sends, and exit.
 * Hence its own sandbox here: the default one with room for 1024 fds.
 */
static const char fs_stack[] =
	"{ \"name\": \"t-fs\", \"servers\": ["
	" {\"name\":\"disk\",\"exec\":\"disk\",\"sandbox\":\"blockio\","
	"  \"files\":[{\"path\":\"@DIR@/fs.img\",\"write\":true}]},"
	" {\"name\":\"cache\",\"exec\":\"cache\",\"max_inflight\":32,\"calls\":[\"disk\"],"
	"  \"sandbox\":{\"groups\":[\"ant\",\"stdio\",\"mem\",\"time\"],\"rlimits\":{\"nofile\":1024}},"
	"  \"args\":[%s\"--block-size\",\"4096\",\"--blocks\",\"256\",\"disk\"]},"
	" {\"name\":\"fs\",\"exec\":\"fs\",\"calls\":[\"cache\"],\"args\":[\"--read-only\",\"cache\"]} ]}";

/* ---- the tree the image is made from ------------------------------------- */

static unsigned char big_byte(unsigned i)
{
	return (unsigned char)((i * 7 + i / 4096 * 13 + i / 65536) & 0xff);
}

#define SPARSE_SIZE (2u * MIB + 12345u)

/* sparse.bin's bytes: data in [0, 8 KiB) and [1 MiB, 1 MiB + 4 KiB), else a hole. */
static unsigned char sparse_byte(unsigned i)
{
	if (i < 8192 || (i >= MIB && i < MIB + 4096))
		return (unsigned char)((i * 11 + 1) % 251 + 1);
	return 0;
}

static void put_file(const char *dir, const char *name, const void *bytes, size_t n)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert(n == 0 || fwrite(bytes, 1, n, f) == n);
	ck_assert(fclose(f) == 0);
}

static void put_dir(const char *dir, const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_msg(mkdir(path, 0755) == 0, "%s: %s", path, strerror(errno));
}

/* A small file of n bytes; its text depends on seed. */
static void put_text(const char *dir, const char *name, unsigned seed, size_t n)
{
	char *b = malloc(n + 1);
	for (size_t j = 0; j < n; j++)
		b[j] = (j % 64 == 63) ? '\n' : (char)('a' + (seed * 7 + j) % 26);
	put_file(dir, name, b, n);
	free(b);
}

/* Extra mkfs.ext4 features for the next image ("^filetype"), or NULL. */
static const char *mkfs_features;

/*
 * DIR/files/tree: hello.txt, empty.txt, a symlink to hello.txt, the 3 MiB
 * big.bin, docs/ (20 notes of 1 byte to 9 KB), src/ with a nested folder,
 * an empty folder, and many/ (120 files with long names: its listing is
 * too long for the control ICA).  Then DIR/files/fs.img made from it.
 */
static void make_tree(struct harness *h)
{
	char tree[400], img[400];
	snprintf(tree, sizeof(tree), "%s/files/tree", h->dir);
	snprintf(img, sizeof(img), "%s/files/fs.img", h->dir);
	ck_assert(mkdir(tree, 0755) == 0 && chmod(tree, 0755) == 0);
	put_file(tree, "hello.txt", "hello, world\n", 13);
	put_file(tree, "empty.txt", "", 0);
	char path[600];
	snprintf(path, sizeof(path), "%s/link", tree);
	ck_assert(symlink("hello.txt", path) == 0);
	unsigned char *big = malloc(BIG_SIZE);
	for (unsigned i = 0; i < BIG_SIZE; i++)
		big[i] = big_byte(i);
	put_file(tree, "big.bin", big, BIG_SIZE);
	free(big);
	/* sparse.bin: 8 KiB, a hole up to 1 MiB, 4 KiB, a hole to its end. */
	snprintf(path, sizeof(path), "%s/sparse.bin", tree);
	int sfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert(sfd >= 0);
	for (unsigned i = 0; i < SPARSE_SIZE; i += 4096) {
		unsigned char blk[4096];
		if (sparse_byte(i) == 0)
			continue;
		for (unsigned k = 0; k < 4096; k++)
			blk[k] = sparse_byte(i + k);
		ck_assert(pwrite(sfd, blk, 4096, i) == 4096);
	}
	ck_assert(ftruncate(sfd, SPARSE_SIZE) == 0 && close(sfd) == 0);
	put_dir(tree, "docs");
	put_dir(tree, "src");
	put_dir(tree, "src/deep");
	put_dir(tree, "src/deep/nested");
	put_dir(tree, "empty");
	put_dir(tree, "many");
	for (unsigned i = 0; i < 20; i++) {
		char name[64];
		snprintf(name, sizeof(name), "docs/note-%02u.txt", i);
		put_text(tree, name, i, (i * 523u) % 9000u + 1);
	}
	static const char *const src[] = { "main.c", "util.c", "util.h", "Makefile", "README" };
	for (unsigned i = 0; i < 5; i++) {
		char name[64];
		snprintf(name, sizeof(name), "src/%s", src[i]);
		put_text(tree, name, 100 + i, 200 + i * 1500);
	}
	put_text(tree, "src/deep/nested/file.c", 7, 4096);   /* exactly one block */
	put_text(tree, "src/deep/nested/file2.c", 8, 4097);  /* one byte more */
	for (unsigned i = 0; i < 120; i++) {
		char name[96];
		snprintf(name, sizeof(name), "many/a-file-with-a-fairly-long-name-number-%03u.txt", i);
		put_file(tree, name, name, strlen(name));
	}
	char *out = NULL;
	char *argv[] = { (char *)harness_sbin("mkfs.ext4"), "-q", "-F", "-b", "4096", "-d", tree, img, "32M", NULL, NULL,
			 NULL };
	if (mkfs_features) {
		argv[9] = "-O";
		argv[10] = (char *)mkfs_features;
	}
	int st = harness_run(argv, &out);
	ck_assert_msg(st == 0, "mkfs.ext4 failed (%d): %s", st, out);
	free(out);
	ck_assert(chmod(img, 0644) == 0);
}

static void start_fs(struct harness *h, const char *cache_args)
{
	char stack[2048];
	snprintf(stack, sizeof(stack), fs_stack, cache_args);
	harness_start_prepared(h, stack, make_tree);
}

/* No server died along the way: antd restarts and replays so well that a
 * crash would otherwise go unseen (only the cache's counters would reset). */
static void expect_no_restarts(struct harness *h)
{
	static const char *const names[] = { "disk", "cache", "fs" };
	for (unsigned i = 0; i < 3; i++) {
		if (harness_server_num(h, names[i], "restarts") == 0)
			continue;
		char *log = harness_read(h, "antd.log");
		size_t n = strlen(log);
		ck_abort_msg("%s was restarted: %s", names[i], n > 2000 ? log + n - 2000 : log);
	}
}

/* ---- calling fs ---------------------------------------------------------- */

static struct ant_result res;

static int fs_call(struct ant_conn *c, const char *op, const char *arg)
{
	return harness_call(c, "fs", op, arg, 0, &res);
}

/* The result's text as a C string (static). */
static const char *res_text(void)
{
	static char buf[ANT_CICA_SIZE + 1];
	size_t n = res.len < ANT_CICA_SIZE ? res.len : ANT_CICA_SIZE;
	if (n)
		memcpy(buf, res.bytes, n);
	buf[n] = '\0';
	return buf;
}

/* Read path [off, off+len) through fs: returns retval; *out a malloc'd copy. */
static int fs_read(struct ant_conn *c, const char *path, uint64_t off, uint64_t len,
		   unsigned char **out)
{
	char arg[700];
	snprintf(arg, sizeof(arg), "%s %" PRIu64 " %" PRIu64, path, off, len);
	int r = fs_call(c, "read", arg);
	*out = NULL;
	if (r > 0) {
		ck_assert_msg(res.data != NULL, "read %s: no data ICA", arg);
		ck_assert_uint_ge(res.data->size, (size_t)r);
		*out = malloc((size_t)r);
		memcpy(*out, res.data->addr, (size_t)r);
	}
	if (res.data)
		ant_ica_release(c, res.data);
	return r;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		if (k == 0)
			break;
		n += k;
	}
	fclose(f);
	*len = n;
	return buf;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The cache's counters. */
static void cache_stats(struct ant_conn *c, unsigned long *hits, unsigned long *misses)
{
	ck_assert_int_eq(harness_call(c, "cache", "stats", "", 0, &res), 0);
	const char *t = res_text();
	ck_assert_msg(sscanf(t, "hits %lu misses %lu", hits, misses) == 2, "stats: %s", t);
}

/* ---- walking the source tree -------------------------------------------- */

static struct {
	struct ant_conn *c;
	const char *root;        /* DIR/files/tree */
	size_t rootlen;
	unsigned files, dirs, checked;
} W;

/* The image's path of a source path ("/" for the tree itself). */
static const char *image_path(const char *src)
{
	static char p[600];
	snprintf(p, sizeof(p), "%s", src[W.rootlen] ? src + W.rootlen : "/");
	return p;
}

static char type_of(mode_t m)
{
	return S_ISREG(m) ? 'f' : S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '?';
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* readdir of a source folder through fs equals its listing (sorted, with
 * types and the inodes lookup gives); the image's root also has lost+found. */
static void check_dir(const char *src, unsigned *subdirs)
{
	char ipath[600];
	snprintf(ipath, sizeof(ipath), "%s", image_path(src));
	DIR *d = opendir(src);
	ck_assert(d != NULL);
	char *names[256];
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		ck_assert(n < 255);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (strcmp(ipath, "/") == 0)
		names[n++] = strdup("lost+found");
	qsort(names, n, sizeof(names[0]), name_cmp);

	int r = fs_call(W.c, "readdir", ipath);
	ck_assert_msg(r >= 0, "readdir %s: %s %s", ipath, ant_errname(r), res_text());
	char *text = malloc((size_t)r + 1);
	int had_ica = res.data != NULL;
	if (res.data) {
		/* Too long for the control ICA: it came in a data ICA. */
		ck_assert_uint_gt((unsigned)r, 2048);
		ck_assert_uint_ge(res.data->size, (size_t)r);
		memcpy(text, res.data->addr, (size_t)r);
		ant_ica_release(W.c, res.data);
	} else {
		ck_assert_uint_eq(res.len, (size_t)r);
		if (r)
			memcpy(text, res.bytes, (size_t)r);
	}
	text[r] = '\0';
	if (strcmp(ipath, "/many") == 0)
		ck_assert_msg(r > 4096 && had_ica, "many/: listing of %d bytes", r);

	*subdirs = 0;
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	for (unsigned i = 0; i < n; i++, line = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(line != NULL, "readdir %s: %u entries, expected %u", ipath, i, n);
		char name[300], type;
		unsigned ino;
		ck_assert_msg(sscanf(line, "%299[^\t]\t%u\t%c", name, &ino, &type) == 3, "line '%s'", line);
		ck_assert_str_eq(name, names[i]);
		char child[700], ichild[700];
		snprintf(child, sizeof(child), "%s/%s", src, names[i]);
		snprintf(ichild, sizeof(ichild), "%s%s%s", ipath, strcmp(ipath, "/") ? "/" : "", names[i]);
		struct stat st;
		if (strcmp(child + W.rootlen, "/lost+found") == 0)
			st.st_mode = S_IFDIR | 0700;
		else
			ck_assert(lstat(child, &st) == 0);
		ck_assert_msg(type == type_of(st.st_mode), "%s: type %c", ichild, type);
		*subdirs += type == 'd';
		ck_assert_int_eq(fs_call(W.c, "lookup", ichild), 0);
		char want[32];
		snprintf(want, sizeof(want), "ino=%u", ino);
		ck_assert_str_eq(res_text(), want);
		free(names[i]);
	}
	ck_assert_msg(line == NULL, "readdir %s: extra entry '%s'", ipath, line);
	free(text);
}

/* stat through fs equals lstat of the source (mode, size, mtime; nlink). */
static void check_stat(const char *src, const struct stat *st, unsigned subdirs)
{
	const char *ip = image_path(src);
	int r = fs_call(W.c, "stat", ip);
	ck_assert_msg(r == 0, "stat %s: %s %s", ip, ant_errname(r), res_text());
	unsigned ino, mode, nlink;
	unsigned long long size;
	long long mtime;
	ck_assert_msg(sscanf(res_text(), "ino=%u mode=%o size=%llu nlink=%u mtime=%lld", &ino, &mode,
			     &size, &nlink, &mtime) == 5, "stat %s: %s", ip, res_text());
	char octal[16];
	ck_assert(strstr(res_text(), " mode=0") != NULL);
	snprintf(octal, sizeof(octal), "mode=0%o ", (unsigned)st->st_mode);
	ck_assert_msg(strstr(res_text(), octal), "stat %s: %s, wanted %s", ip, res_text(), octal);
	ck_assert_uint_eq(mode, (unsigned)st->st_mode);
	if (!S_ISDIR(st->st_mode))
		ck_assert_uint_eq(size, (unsigned long long)st->st_size);
	/* mkfs adds lost+found to the root after copying it: its mtime is mkfs's. */
	if (strcmp(ip, "/") == 0)
		ck_assert_msg(mtime >= (long long)st->st_mtime, "stat /: mtime %lld", mtime);
	else
		ck_assert_msg(mtime == (long long)st->st_mtime, "stat %s: mtime %lld, source %lld", ip,
			      mtime, (long long)st->st_mtime);
	/* A folder's links: ".", its name above, and each subfolder's "..". */
	ck_assert_uint_eq(nlink, S_ISDIR(st->st_mode) ? 2 + subdirs : 1);
	ck_assert_int_eq(fs_call(W.c, "lookup", ip), 0);
	char want[32];
	snprintf(want, sizeof(want), "ino=%u", ino);
	ck_assert_str_eq(res_text(), want);
}

static void check_file(const char *src, const struct stat *st)
{
	size_t n;
	unsigned char *want = slurp(src, &n);
	unsigned char *got;
	int r = fs_read(W.c, image_path(src), 0, 64u << 20, &got);
	ck_assert_msg(r == (int)n, "read %s: %d (%s), wanted %zu", image_path(src), r, ant_errname(r), n);
	ck_assert_msg(n == 0 || memcmp(got, want, n) == 0, "read %s: the bytes differ", image_path(src));
	free(got);
	free(want);
}

static int visit_stat(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	unsigned subdirs = 0;
	if (flag == FTW_D) {
		check_dir(path, &subdirs);
		W.dirs++;
	}
	check_stat(path, st, subdirs);
	W.checked++;
	return 0;
}

static int visit_read(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F && S_ISREG(st->st_mode) && st->st_size < (off_t)MIB) {
		check_file(path, st);
		W.files++;
	}
	return 0;
}

static void walk(struct harness *h, struct ant_conn *c,
		 int (*fn)(const char *, const struct stat *, int, struct FTW *))
{
	static char root[400];
	snprintf(root, sizeof(root), "%s/files/tree", h->dir);
	W.c = c;
	W.root = root;
	W.rootlen = strlen(root);
	ck_assert_int_eq(nftw(root, fn, 16, FTW_PHYS), 0);
}

/* ---- the tests ----------------------------------------------------------- */

/* ---- ant-fs ------------------------------------------------------------- */

/* Run ant-fs --run-dir DIR a b [c] (c may be NULL); returns its exit
 * status, *out what it printed on stdout and stderr (malloc'd). */
static int ant_fs(struct harness *h, char **out, const char *a, const char *b, const char *c)
{
	char *const argv[] = { (char *)harness_tool("ant-fs"), "--run-dir", h->dir, (char *)a, (char *)b,
			       (char *)c, NULL };
	return harness_run(argv, out);
}

/* ls -l's mode column for a mode of the tree (no setuid bits there). */
static void mode_column(mode_t m, char s[11])
{
	s[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '-';
	for (int i = 0; i < 9; i++)
		s[1 + i] = m & (0400u >> i) ? "rwx"[i % 3] : '-';
	s[10] = '\0';
}

/* The source of the image's /name: its lstat, and its mtime as a local
 * date in strftime's fmt (static). */
static const char *source_date(struct harness *h, const char *name, const char *fmt, struct stat *st)
{
	static char buf[64];
	char path[600];
	snprintf(path, sizeof(path), "%s/files/tree/%s", h->dir, name);
	ck_assert_msg(lstat(path, st) == 0, "%s: %s", path, strerror(errno));
	struct tm tm;
	ck_assert(localtime_r(&st->st_mtime, &tm) != NULL);
	ck_assert(strftime(buf, sizeof(buf), fmt, &tm) > 0);
	return buf;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

#define LS_HEADER "MODE        LINKS          SIZE  MTIME             NAME\n"

START_TEST(ant_fs_tool_lists_cats_and_stats)
{
	struct harness h;
	start_fs(&h, "");
	char *out = NULL, want[600], mode[11];
	struct stat st;

	ck_assert_int_eq(ant_fs(&h, &out, "cat", "/big.bin", NULL), 0);
	for (unsigned i = 0; i < BIG_SIZE; i++)
		if ((unsigned char)out[i] != big_byte(i))
			ck_abort_msg("ant-fs cat: byte %u differs", i);
	free(out);

	/* ls: the header, then a row per entry with the size in bytes and the
	 * mtime as a local date; a symlink shows its target. */
	ck_assert_int_eq(ant_fs(&h, &out, "ls", "/", NULL), 0);
	ck_assert_msg(strncmp(out, LS_HEADER, strlen(LS_HEADER)) == 0, "ls /:\n%s", out);
	const char *date = source_date(&h, "big.bin", "%Y-%m-%d %H:%M", &st);
	mode_column(st.st_mode, mode);
	snprintf(want, sizeof(want), "\n%s      1       3145728  %s  big.bin\n", mode, date);
	ck_assert_msg(strstr(out, want), "ls /: no line '%s' in\n%s", want + 1, out);
	snprintf(want, sizeof(want), "            13  %s  hello.txt\n",
		 source_date(&h, "hello.txt", "%Y-%m-%d %H:%M", &st));
	ck_assert_msg(strstr(out, want), "ls /: no '%s' in\n%s", want, out);
	ck_assert_msg(strstr(out, "  link -> hello.txt\n") && strstr(out, "\ndrwx"), "ls /:\n%s", out);
	/* big.bin docs empty empty.txt hello.txt link lost+found many sparse.bin src */
	ck_assert_msg(count_lines(out) == 1 + 10, "ls /:\n%s", out);
	free(out);
	/* A listing that comes in a data ICA: every entry stat'ed too. */
	ck_assert_int_eq(ant_fs(&h, &out, "ls", "/many/", NULL), 0);
	ck_assert_msg(count_lines(out) == 1 + 120 && strstr(out, "  a-file-with-a-fairly-long-name-number-119.txt\n"),
		      "ls /many/:\n%s", out);
	free(out);
	/* ls of a file: its own row, as ls does. */
	ck_assert_int_eq(ant_fs(&h, &out, "ls", "/hello.txt", NULL), 0);
	date = source_date(&h, "hello.txt", "%Y-%m-%d %H:%M", &st);
	mode_column(st.st_mode, mode);
	snprintf(want, sizeof(want), LS_HEADER "%s      1            13  %s  /hello.txt\n", mode, date);
	ck_assert_str_eq(out, want);
	free(out);

	/* stat: labelled fields, mode symbolic and octal, times as dates. */
	ck_assert_int_eq(ant_fs(&h, &out, "stat", "/big.bin", NULL), 0);
	date = source_date(&h, "big.bin", "%Y-%m-%d %H:%M:%S %z", &st);
	mode_column(st.st_mode, mode);
	snprintf(want, sizeof(want), "mtime:  %s (%lld)\n", date, (long long)st.st_mtime);
	ck_assert_msg(strstr(out, want), "stat: no '%s' in\n%s", want, out);
	snprintf(want, sizeof(want), "mode:   %s (%04o)\n", mode, (unsigned)(st.st_mode & 07777));
	ck_assert_msg(strstr(out, want), "stat: no '%s' in\n%s", want, out);
	ck_assert_msg(strncmp(out, "path:   /big.bin\ntype:   regular file\n", 37) == 0 &&
		      strstr(out, "\nsize:   3145728 bytes\n") && strstr(out, "\nlinks:  1\n"), "stat:\n%s", out);
	free(out);
	ck_assert_int_eq(ant_fs(&h, &out, "stat", "/link", NULL), 0);
	ck_assert_msg(strstr(out, "type:   symbolic link\ntarget: hello.txt\nmode:   lrwxrwxrwx (0777)\n"),
		      "stat /link:\n%s", out);
	free(out);

	/* Errors: the command, the path and strerror's words; exit 1. */
	static const char *const errors[][3] = {
		{ "cat", "/nope", "ant-fs: cat /nope: No such file or directory\n" },
		{ "ls", "/nope", "ant-fs: ls /nope: No such file or directory\n" },
		{ "stat", "/docs/nope", "ant-fs: stat /docs/nope: No such file or directory\n" },
		{ "cat", "/docs", "ant-fs: cat /docs: Is a directory\n" },
		{ "ls", "/hello.txt/x", "ant-fs: ls /hello.txt/x: Not a directory\n" },
		{ "put", "/x", "ant-fs: put /x: Read-only file system\n" },
		{ "rm", "/hello.txt", "ant-fs: rm /hello.txt: Read-only file system\n" },
		{ "mkdir", "/new", "ant-fs: mkdir /new: Read-only file system\n" },
	};
	for (unsigned i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		int r = ant_fs(&h, &out, errors[i][0], errors[i][1], NULL);
		ck_assert_msg(r == 1 && strcmp(out, errors[i][2]) == 0, "ant-fs %s %s: exit %d, '%s'",
			      errors[i][0], errors[i][1], r, out);
		free(out);
	}

	/* Bad usage: exit 2 and a word on what is wrong. */
	char *const bare[] = { (char *)harness_tool("ant-fs"), NULL };
	ck_assert_int_eq(harness_run(bare, &out), 2);
	ck_assert_msg(strncmp(out, "usage: ant-fs ", 14) == 0, "%s", out);
	free(out);
	ck_assert_int_eq(ant_fs(&h, &out, "frob", "/", NULL), 2);
	ck_assert_msg(strstr(out, "unknown command 'frob'"), "%s", out);
	free(out);
	ck_assert_int_eq(ant_fs(&h, &out, "ls", "docs", NULL), 2);
	ck_assert_msg(strstr(out, "PATH must be absolute"), "%s", out);
	free(out);
	ck_assert_int_eq(ant_fs(&h, &out, "cat", "/a", "/b"), 2);
	free(out);
	char *const bad[] = { (char *)harness_tool("ant-fs"), "--bogus", NULL };
	ck_assert_int_eq(harness_run(bad, &out), 2);
	free(out);
	harness_stop(&h);
}
END_TEST

START_TEST(stat_lookup_and_readdir_match_the_tree)
{
	struct harness h;
	start_fs(&h, "");
	struct ant_conn *c = harness_connect(&h);
	memset(&W, 0, sizeof(W));
	walk(&h, c, visit_stat);
	ck_assert_uint_eq(W.dirs, 7);      /* root, docs, src, deep, nested, empty, many */
	ck_assert_uint_eq(W.checked, 159);  /* every entry of the tree, the root too */

	/* A symlink is not followed by stat and lookup. */
	ck_assert_int_eq(fs_call(c, "stat", "/link"), 0);
	ck_assert_msg(strstr(res_text(), "mode=0120777 size=9 "), "%s", res_text());
	ck_assert_int_eq(fs_call(c, "stat", "/"), 0);
	ck_assert_msg(strncmp(res_text(), "ino=2 mode=040755 ", 18) == 0, "%s", res_text());
	ck_assert_int_eq(fs_call(c, "readdir", "/empty"), 0);
	ck_assert_uint_eq(res.len, 0);

	/* Errors. */
	ck_assert_int_eq(fs_call(c, "stat", "/missing"), -ENOENT);
	ck_assert_msg(strstr(res_text(), "/missing"), "%s", res_text());
	ck_assert_int_eq(fs_call(c, "lookup", "/docs/missing.txt"), -ENOENT);
	ck_assert_int_eq(fs_call(c, "readdir", "/nowhere"), -ENOENT);
	ck_assert_int_eq(fs_call(c, "stat", "/hello.txt/x"), -ENOTDIR);
	ck_assert_int_eq(fs_call(c, "readdir", "/hello.txt"), -ENOTDIR);
	ck_assert_int_eq(fs_call(c, "read", "/docs 0 10"), -EISDIR);
	ck_assert_int_eq(fs_call(c, "read", "/missing 0 10"), -ENOENT);
	ck_assert_int_eq(fs_call(c, "stat", "hello.txt"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "stat", ""), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "read", "/hello.txt 0"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "read", "/hello.txt x 10"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "read", "/hello.txt 0 67108865"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "frobnicate", "/"), ANT_E_NO_OP);
	/* fs is where its stack file put it: its own user, the default sandbox. */
	json_t *s = harness_server_status(&h, "fs");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "sandbox"), "policy")),
			 "default");
	json_decref(s);
	expect_no_restarts(&h);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* Without the filetype feature the entries carry no type: fs asks the inodes. */
START_TEST(an_image_without_file_types_still_lists_them)
{
	struct harness h;
	mkfs_features = "^filetype";
	start_fs(&h, "");
	mkfs_features = NULL;
	struct ant_conn *c = harness_connect(&h);
	memset(&W, 0, sizeof(W));
	walk(&h, c, visit_stat);
	ck_assert_uint_eq(W.checked, 159);
	expect_no_restarts(&h);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(reads_match_the_source_bytes)
{
	struct harness h;
	start_fs(&h, "");
	struct ant_conn *c = harness_connect(&h);
	memset(&W, 0, sizeof(W));
	walk(&h, c, visit_read);
	ck_assert_uint_ge(W.files, 140);

	/* The 3 MiB file in 1 MiB pieces, then in one piece, timed. */
	unsigned char *got;
	double t0 = now_ms();
	for (unsigned k = 0; k < 3; k++) {
		ck_assert_int_eq(fs_read(c, "/big.bin", (uint64_t)k * MIB, MIB, &got), (int)MIB);
		for (unsigned i = 0; i < MIB; i++)
			if (got[i] != big_byte(k * MIB + i))
				ck_abort_msg("big.bin piece %u byte %u differs", k, i);
		free(got);
	}
	double t1 = now_ms();
	ck_assert_int_eq(fs_read(c, "/big.bin", 0, BIG_SIZE, &got), (int)BIG_SIZE);
	double t2 = now_ms();
	for (unsigned i = 0; i < BIG_SIZE; i++)
		if (got[i] != big_byte(i))
			ck_abort_msg("big.bin byte %u differs", i);
	free(got);
	ck_assert_int_eq(fs_call(c, "stats", ""), 0);
	fprintf(stderr, "test-fs: 3 MiB through fs<-cache<-disk: 3 x 1 MiB in %.1f ms, "
		"one piece in %.1f ms (%.1f MiB/s); fs %s\n", t1 - t0, t2 - t1,
		3.0 / ((t2 - t1) / 1e3), res_text());

	/* Pieces that straddle blocks. */
	ck_assert_int_eq(fs_read(c, "/big.bin", 4095, 8194, &got), 8194);
	for (unsigned i = 0; i < 8194; i++)
		ck_assert_uint_eq(got[i], big_byte(4095 + i));
	free(got);

	/* Reads at the end are short; past it, 0 and no ICA. */
	ck_assert_int_eq(fs_read(c, "/big.bin", BIG_SIZE - 100, MIB, &got), 100);
	for (unsigned i = 0; i < 100; i++)
		ck_assert_uint_eq(got[i], big_byte(BIG_SIZE - 100 + i));
	free(got);
	ck_assert_int_eq(fs_read(c, "/hello.txt", 7, 100, &got), 6);
	ck_assert(memcmp(got, "world\n", 6) == 0);
	free(got);
	ck_assert_int_eq(fs_call(c, "read", "/hello.txt 13 10"), 0);
	ck_assert_ptr_null(res.data);
	ck_assert_int_eq(fs_call(c, "read", "/hello.txt 1000000 10"), 0);
	ck_assert_ptr_null(res.data);
	ck_assert_int_eq(fs_call(c, "read", "/empty.txt 0 10"), 0);
	/* read follows a symlink. */
	ck_assert_int_eq(fs_read(c, "/link", 0, 100, &got), 13);
	ck_assert(memcmp(got, "hello, world\n", 13) == 0);
	free(got);
	expect_no_restarts(&h);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(the_cache_serves_a_second_pass_from_memory)
{
	struct harness h;
	start_fs(&h, "");
	struct ant_conn *c = harness_connect(&h);
	unsigned long h0, m0, h1, m1, h2, m2;
	cache_stats(c, &h0, &m0);
	memset(&W, 0, sizeof(W));
	walk(&h, c, visit_read);   /* every small file: about 150 blocks, all fit */
	cache_stats(c, &h1, &m1);
	double t0 = now_ms();
	walk(&h, c, visit_read);
	double t1 = now_ms();
	cache_stats(c, &h2, &m2);
	fprintf(stderr, "test-fs: %u small files: first pass hits %lu misses %lu; second pass "
		"hits %lu misses %lu (%.1f ms)\n", W.files / 2, h1 - h0, m1 - m0, h2 - h1, m2 - m1,
		t1 - t0);
	ck_assert_uint_ge(m1 - m0, W.files / 2);      /* the first pass went to the disk */
	ck_assert_uint_ge(h2 - h1, W.files / 2);      /* at least a block a file from memory */
	ck_assert_uint_le(m2 - m1, (h2 - h1) / 20);   /* and almost nothing else */

	/* The 3 MiB file is 768 blocks, three times the cache's 256: an LRU
	 * cache keeps none of a sequential scan that long (only metadata hits). */
	unsigned char *got;
	ck_assert_int_eq(fs_read(c, "/big.bin", 0, BIG_SIZE, &got), (int)BIG_SIZE);
	free(got);
	cache_stats(c, &h1, &m1);
	ck_assert_int_eq(fs_read(c, "/big.bin", 0, BIG_SIZE, &got), (int)BIG_SIZE);
	free(got);
	cache_stats(c, &h2, &m2);
	fprintf(stderr, "test-fs: second read of big.bin: hits %lu misses %lu\n", h2 - h1, m2 - m1);
	ck_assert_uint_ge(m2 - m1, 768);
	expect_no_restarts(&h);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(a_cache_crash_in_the_middle_of_a_read_loses_nothing)
{
	struct harness h;
	/* The cache takes 1 ms a request: the 3 MiB read lasts about a second. */
	start_fs(&h, "\"--pause-ms\",\"1\",");
	struct ant_conn *c = harness_connect(&h);
	pid_t fs_pid = harness_server_pid(&h, "fs");
	pid_t cache_pid = harness_server_pid(&h, "cache");
	unsigned long hits, m0, m;
	cache_stats(c, &hits, &m0);
	char arg[64];
	snprintf(arg, sizeof(arg), "/big.bin 0 %u", BIG_SIZE);
	struct ant_call x = { .server = "fs", .op = "read", .arg = arg, .arglen = strlen(arg) };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
	do {
		harness_sleep_ms(20);
		cache_stats(c, &hits, &m);
	} while (m < m0 + 200);   /* a quarter of the file read */
	static struct ant_result r;
	ck_assert_int_eq(ant_wait(c, t, &r, 0), -ETIMEDOUT);   /* still reading */
	ck_assert_int_eq(kill(cache_pid, SIGKILL), 0);
	ck_assert_int_eq(ant_wait(c, t, &r, 30000), 0);
	ck_assert_int_eq(r.retval, (int)BIG_SIZE);
	ck_assert_ptr_nonnull(r.data);
	const unsigned char *p = r.data->addr;
	for (unsigned i = 0; i < BIG_SIZE; i++)
		if (p[i] != big_byte(i))
			ck_abort_msg("big.bin byte %u differs after the cache crash", i);
	ant_ica_release(c, r.data);
	/* The cache was restarted and its held call replayed; fs never noticed. */
	ck_assert_int_ge(harness_server_num(&h, "cache", "restarts"), 1);
	ck_assert_int_ne(harness_server_pid(&h, "cache"), cache_pid);
	ck_assert_int_eq(harness_server_pid(&h, "fs"), fs_pid);
	ck_assert_int_eq(harness_server_num(&h, "fs", "restarts"), 0);
	/* And it goes on serving. */
	unsigned char *got;
	ck_assert_int_eq(fs_read(c, "/hello.txt", 0, 100, &got), 13);
	ck_assert(memcmp(got, "hello, world\n", 13) == 0);
	free(got);
	harness_expect_no_more_results(c);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* A read into the caller's own area (as ant-fuse reads): 1 if the bytes
 * are right, with the trace in trace. */
static void area_read(struct ant_conn *c, const char *path, uint64_t off, uint64_t len,
		      struct ant_ica *area, int32_t want, unsigned char (*byte)(unsigned),
		      char *trace, size_t tlen)
{
	char arg[700];
	snprintf(arg, sizeof(arg), "%s %" PRIu64 " %" PRIu64, path, off, len);
	memset(area->addr, 0xee, area->size);
	struct ant_call x = { .server = "fs", .op = "read", .arg = arg, .arglen = strlen(arg), .data = area };
	ck_assert_int_eq(ant_call_sync(c, &x, &res), want);
	ck_assert_ptr_eq(res.data, area);   /* its own area comes back, filled */
	const unsigned char *p = area->addr;
	for (unsigned i = 0; i < (unsigned)want; i++)
		if (p[i] != byte((unsigned)off + i))
			ck_abort_msg("read %s: byte %u is %u, not %u", arg, i, p[i], byte((unsigned)off + i));
	harness_trace(c, &res, trace, tlen);
}

static uint64_t fs_fills(struct ant_conn *c)
{
	ck_assert_int_eq(fs_call(c, "stats", ""), 0);
	const char *f = strstr(res_text(), "fills ");
	ck_assert_msg(f != NULL, "fs stats: %s", res_text());
	return strtoull(f + 6, NULL, 10);
}

/*
 * A read that brings the caller's own area is the paper's multi-stage call:
 * fs forwards it to the cache as a fill of the file's runs (holes as zeros),
 * the disk fills the area and answers the caller directly.  A cache killed
 * while it holds the fill: antd replays it, the caller gets one answer.
 */
START_TEST(a_read_into_the_callers_area_is_a_multi_stage_call)
{
	struct harness h;
	start_fs(&h, "\"--pause-ms\",\"100\",");   /* the cache waits 100 ms a request */
	struct ant_conn *c = harness_connect(&h);
	struct ant_ica *area;
	ck_assert_int_eq(ant_ica_alloc(c, MIB + 8192, &area), 0);
	char trace[128];
	uint64_t f0 = fs_fills(c);
	area_read(c, "/big.bin", 4095, MIB + 100, area, (int32_t)(MIB + 100), big_byte, trace,
		  sizeof(trace));
	ck_assert_str_eq(trace, "app fs cache disk app");
	ck_assert_uint_eq(fs_fills(c), f0 + 1);
	/* A file with holes: its runs are bytes, zeros, bytes, zeros. */
	area_read(c, "/sparse.bin", 4096, MIB + 4096, area, (int32_t)(MIB + 4096), sparse_byte, trace,
		  sizeof(trace));
	ck_assert_str_eq(trace, "app fs cache disk app");
	ck_assert_uint_eq(fs_fills(c), f0 + 2);
	/* Only a hole: nothing to fill from the image, fs answers itself. */
	area_read(c, "/sparse.bin", SPARSE_SIZE - 5000, MIB, area, 5000, sparse_byte, trace,
		  sizeof(trace));
	ck_assert_str_eq(trace, "app fs app");
	ck_assert_uint_eq(fs_fills(c), f0 + 2);

	/* The cache killed while it holds a fill. */
	pid_t cache_pid = harness_server_pid(&h, "cache"), fs_pid = harness_server_pid(&h, "fs");
	char arg[64];
	snprintf(arg, sizeof(arg), "/big.bin %u %u", MIB, MIB);
	memset(area->addr, 0xee, area->size);
	struct ant_call x = { .server = "fs", .op = "read", .arg = arg, .arglen = strlen(arg), .data = area };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
	while (harness_server_num(&h, "cache", "inflight") < 1)
		harness_sleep_ms(5);
	ck_assert_int_eq(kill(cache_pid, SIGKILL), 0);
	ck_assert_int_eq(ant_wait(c, t, &res, 30000), 0);
	ck_assert_int_eq(res.retval, (int)MIB);
	ck_assert_ptr_eq(res.data, area);
	for (unsigned i = 0; i < MIB; i++)
		if (((unsigned char *)area->addr)[i] != big_byte(MIB + i))
			ck_abort_msg("big.bin byte %u differs after the cache was killed", MIB + i);
	ck_assert_int_ge(harness_server_num(&h, "cache", "restarts"), 1);
	ck_assert_int_eq(harness_server_pid(&h, "fs"), fs_pid);
	ck_assert_int_eq(harness_server_num(&h, "fs", "restarts"), 0);
	harness_expect_no_more_results(c);
	ant_ica_release(c, area);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(write_ops_are_refused_when_served_read_only)
{
	struct harness h;
	start_fs(&h, "");
	struct ant_conn *c = harness_connect(&h);
	static const char *const ops[][2] = {
		{ "write", "/hello.txt 0 5" }, { "create", "/new.txt" }, { "mkdir", "/newdir" },
		{ "unlink", "/hello.txt" }, { "rmdir", "/empty" }, { "rename", "/hello.txt /bye.txt" },
		{ "truncate", "/hello.txt 0" }, { "symlink", "/hello.txt /l2" },
	};
	struct ant_ica *w;
	ck_assert_int_eq(ant_ica_alloc(c, 4096, &w), 0);
	memcpy(w->addr, "HELLO", 5);
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct ant_call x = { .server = "fs", .op = ops[i][0], .arg = ops[i][1],
				      .arglen = strlen(ops[i][1]), .data = i == 0 ? w : NULL };
		ck_assert_msg(ant_call_sync(c, &x, &res) == -EROFS, "%s: %s", ops[i][0],
			      ant_errname(res.retval));
		if (res.data && res.data != w)
			ant_ica_release(c, res.data);
	}
	ant_ica_release(c, w);
	unsigned char *got;
	ck_assert_int_eq(fs_read(c, "/hello.txt", 0, 100, &got), 13);
	ck_assert(memcmp(got, "hello, world\n", 13) == 0);
	free(got);
	ck_assert_int_eq(fs_call(c, "stat", "/new.txt"), -ENOENT);
	expect_no_restarts(&h);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(odd_requests_get_answers_and_leave_nothing_behind)
{
	struct harness h;
	start_fs(&h, "");
	struct ant_conn *c = harness_connect(&h);
	/* Long paths: up to 2048 bytes go in the control ICA and are looked
	 * up; the answer always fits in what is left of it. */
	static char path[4200];
	path[0] = '/';
	for (size_t i = 1; i < 2048; i++)
		path[i] = i % 200 == 0 ? '/' : 'a';
	path[2048] = '\0';
	ck_assert_int_eq(fs_call(c, "stat", path), -ENOENT);
	ck_assert_msg(strstr(res_text(), ": File not found"), "%s", res_text());
	/* Longer ones in the data ICA ("@data OFF LEN"), up to 4095 bytes;
	 * a name over 255 bytes is ENAMETOOLONG, as ext4 says. */
	struct ant_ica *ica;
	ck_assert_int_eq(ant_ica_alloc(c, 8192, &ica), 0);
	for (size_t i = 1; i < 4095; i++)
		path[i] = i % 200 == 0 ? '/' : 'a';
	path[4095] = '\0';
	memcpy((char *)ica->addr + 100, path, 4095);
	struct ant_call call = { .server = "fs", .op = "stat", .arg = "@data 100 4095",
				 .arglen = strlen("@data 100 4095"), .data = ica };
	ck_assert_int_eq(ant_call_sync(c, &call, &res), -ENOENT);
	call.arg = "@data 100 9000";     /* past the area */
	call.arglen = strlen(call.arg);
	ck_assert_int_eq(ant_call_sync(c, &call, &res), ANT_E_BAD_REQUEST);
	call.arg = "@data 100 4095";
	call.data = NULL;                /* no area at all */
	ck_assert_int_eq(ant_call_sync(c, &call, &res), ANT_E_BAD_REQUEST);
	ant_ica_release(c, ica);
	memset(path + 1, 'a', 3000);
	path[3001] = '\0';
	ck_assert_int_eq(fs_call(c, "stat", path), -ENAMETOOLONG);
	ck_assert_int_eq(fs_call(c, "read", "/hello.txt 99999999999999999999 1"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "read", "/hello.txt 0 -1"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "stat", "/../../hello.txt"), 0);   /* the root's ".." is the root */

	/* Requests that bring a data ICA along: fs keeps no hold on it (an fd
	 * each, and a server has 256), whatever it answers. */
	pid_t fs_pid = harness_server_pid(&h, "fs");
	ck_assert_int_eq(fs_call(c, "stat", "/hello.txt"), 0);   /* opened already */
	int fds = 0;
	for (int i = 0; i < 96; i++) {
		/* fs keeps up to 64 cache blocks mapped (an fd each): count after
		 * every op has run once, then the count must not grow. */
		if (i == 8)
			fds = harness_count_fds(fs_pid);
		struct ant_ica *w;
		ck_assert_int_eq(ant_ica_alloc(c, 4096, &w), 0);
		static const char *const ops[][2] = {
			{ "stat", "/hello.txt" }, { "read", "/hello.txt 0 5" }, { "readdir", "/many" },
			{ "write", "/hello.txt 0 5" },
		};
		const char *const *o = ops[i % 4];
		struct ant_call x = { .server = "fs", .op = o[0], .arg = o[1], .arglen = strlen(o[1]),
				      .data = w, .data_flags = i % 8 < 4 ? ANT_DF_DETACH : 0 };
		int r = ant_call_sync(c, &x, &res);
		ck_assert_msg(i % 4 == 3 ? r == -EROFS : r >= 0, "%s: %s", o[0], ant_errname(r));
		if (res.data && res.data != w)
			ant_ica_release(c, res.data);
		if (i % 8 >= 4)
			ant_ica_release(c, w);
	}
	/* (fs keeps up to 8 of its callers' read areas mapped: no more) */
	ck_assert_int_le(harness_count_fds(fs_pid), fds + 8);
	expect_no_restarts(&h);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* fs told 4096-byte blocks, the cache using 64 KiB ones: -EIO, not wrong bytes. */
START_TEST(a_cache_with_other_blocks_is_an_error)
{
	struct harness h;
	static const char stack[] =
		"{ \"name\": \"t-fs\", \"servers\": ["
		" {\"name\":\"disk\",\"exec\":\"disk\",\"sandbox\":\"blockio\","
		"  \"files\":[{\"path\":\"@DIR@/fs.img\",\"write\":true}]},"
		" {\"name\":\"cache\",\"exec\":\"cache\",\"max_inflight\":32,\"calls\":[\"disk\"],"
		"  \"args\":[\"--block-size\",\"65536\",\"--blocks\",\"16\",\"disk\"]},"
		" {\"name\":\"fs\",\"exec\":\"fs\",\"calls\":[\"cache\"],\"args\":[\"--read-only\",\"cache\"]} ]}";
	harness_start_prepared(&h, stack, make_tree);
	struct ant_conn *c = harness_connect(&h);
	ck_assert_int_eq(fs_call(c, "stat", "/hello.txt"), -EIO);
	ck_assert_msg(strstr(res_text(), "cannot open the file system"), "%s", res_text());
	ck_assert_int_eq(fs_call(c, "stats", ""), 0);
	ck_assert_msg(strstr(res_text(), "opens 0"), "%s", res_text());
	expect_no_restarts(&h);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

static Suite *fs_suite(void)
{
	Suite *s = suite_create("fs");
	TCase *tc = tcase_create("fs");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stat_lookup_and_readdir_match_the_tree);
	tcase_add_test(tc, ant_fs_tool_lists_cats_and_stats);
	tcase_add_test(tc, an_image_without_file_types_still_lists_them);
	tcase_add_test(tc, reads_match_the_source_bytes);
	tcase_add_test(tc, the_cache_serves_a_second_pass_from_memory);
	tcase_add_test(tc, a_cache_crash_in_the_middle_of_a_read_loses_nothing);
	tcase_add_test(tc, a_read_into_the_callers_area_is_a_multi_stage_call);
	tcase_add_test(tc, write_ops_are_refused_when_served_read_only);
	tcase_add_test(tc, odd_requests_get_answers_and_leave_nothing_behind);
	tcase_add_test(tc, a_cache_with_other_blocks_is_an_error);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(fs_suite)
