/* test-fuse.c - the file stack mounted with ant-fuse: a whole tree read and written through the kernel, under kills too. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "harness.h"

/*
 * Cleaning up when a test fails: Check ends a failed test's process with
 * _exit (no atexit, no checked teardown), and kills its process group.  So
 * ant-fuse runs in a process group of its own with a parent-death SIGTERM:
 * whatever way the test process ends, ant-fuse gets SIGTERM and unmounts
 * (-f).  As a last resort the unchecked teardown, in the runner's process,
 * detaches every mount still under mnt_root before the folders go.
 */

/* Restart at once, and do not give up: the kill test restarts servers often. */
#define SUP "\"supervision\":{\"intensity\":{\"max_restarts\":1000,\"period_s\":60}," \
	    "\"backoff\":{\"initial_ms\":0,\"base_ms\":0},\"poison_kills\":50}"

/* disk (with a redo log) <- cache <- fs, 64 KiB blocks. */
/* The file stack on @DIR@/fs.img; disk_extra: more keys of disk, each
 * followed by a comma. */
#define FUSE_STACK(name, disk_extra) FUSE_STACK_RA(name, disk_extra, "8")
/* ra: the cache's read-ahead in blocks. */
#define FUSE_STACK_RA(name, disk_extra, ra)                                               \
	"{ \"name\": \"" name "\", \"servers\": ["                                          \
	" {\"name\":\"disk\",\"exec\":\"disk\",\"sandbox\":\"blockio\",\"args\":[\"--redo-log\"]," \
	disk_extra                                                                         \
	"  \"files\":[{\"path\":\"@DIR@/fs.img\",\"write\":true},"                          \
	"             {\"path\":\"@DIR@/fs.log\",\"write\":true,\"create\":true}]," SUP "},"   \
	" {\"name\":\"cache\",\"exec\":\"cache\",\"max_inflight\":32,\"calls\":[\"disk\"],"  \
	"  \"sandbox\":{\"groups\":[\"ant\",\"stdio\",\"mem\",\"time\"],\"rlimits\":{\"nofile\":4096}}," \
	"  \"args\":[\"--block-size\",\"65536\",\"--blocks\",\"512\",\"--readahead\",\"" ra "\",\"disk\"]," \
	SUP "},"                                                                           \
	" {\"name\":\"fs\",\"exec\":\"fs\",\"calls\":[\"cache\"],"                         \
	"  \"args\":[\"--block-size\",\"65536\",\"cache\"]," SUP "} ]}"

static const char fuse_stack[] = FUSE_STACK("t-fuse", "");

/* The same, with disk's reads of the image (sendfile) injectable. */
/* Without read-ahead: the first disk read after a fault is armed is one a
 * reader waits for, not the tail of the mount's read-ahead (which swallowed
 * the fault now and then: the reader read the whole file). */
static const char fuse_stack_injectable[] =
	FUSE_STACK_RA("t-fuse-inj", "  \"injectable\":[\"sendfile\",\"pread64\",\"pwrite64\"],", "0");

static const char *const servers[] = { "disk", "cache", "fs" };

/* Every mount point lives under this folder (made in the runner's process). */
static char mnt_root[300];

/* A path made of parts, in one of 8 rotating buffers: enough for one
 * call's arguments, not to keep (copy it). */
static const char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *pathf(const char *fmt, ...)
{
	static char buf[8][1024];
	static unsigned i;
	i = (i + 1) % 8;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf[i], sizeof(buf[i]), fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && (size_t)n < sizeof(buf[i]));
	return buf[i];
}

/* DIR/files/rel: where the tree, the image and the model live. */
static const char *files_at(struct harness *h, const char *rel)
{
	return pathf("%s/files/%s", h->dir, rel);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the tree ------------------------------------------------------------ */

/* Numbered files: NUMBERED_MANY of them in one folder that spans several
 * blocks, the rest spread over the other folders. */
#define NUMBERED      540
#define NUMBERED_MANY 150

static const char *const folders[] = {
	"a", "a/s0", "a/s0/deep", "a/s0/deep/deeper", "a/s1", "a/s2",
	"b", "b/x", "b/x/y", "b/x/y/z", "b/x/y/z/w",
	"c", "c/one", "c/two", "c/two/three",
	"d", "d/many", "e", "e/empty", "big", "names",
};
#define SPREAD_FOLDERS 19   /* folders[] but "d/many" and "e/empty" */

/* Named files, at the sizes the reads and changes below care about. */
static const struct { const char *path; size_t size; } named[] = {
	{ "big/one-mib-plus-one", (1u << 20) + 1 },
	{ "big/huge.bin", (2u << 20) + 12345 },
	{ "a/s0/deep/deeper/one-and-a-half", (3u << 19) + 7 },
	{ "c/two/three/exactly-64k", 65536 },       /* one cache block */
	{ "c/two/three/4k", 4096 },                 /* one ext4 block */
	{ "c/one/append-me", 5000 },
	{ "c/one/victim", 100 },
	{ "d/overwrite-me", 20000 },
	{ "b/x/remove-me", 3000 },
	{ "e/notes", 0 },
};

#define LONG_TARGET "../../../../a/s0/deep/deeper/../../../s0/deep/deeper/../deeper/one-and-a-half"

static const struct { const char *path, *target; } symlinks[] = {
	{ "a/to-big", "../big/huge.bin" },
	{ "c/dir-link", "one" },
	{ "d/dangling", "nowhere/at/all" },
	{ "b/x/y/z/long-link", LONG_TARGET },     /* > 60 bytes: kept in a block */
};

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	return x ^ (x >> 16);
}

/* Numbered file i: its path under the tree and its size (empty, small, or
 * a few cache blocks long). */
static const char *numbered_path(unsigned i)
{
	if (i < NUMBERED_MANY)
		return pathf("d/many/a-rather-long-name-so-that-the-folder-needs-several-blocks-%03u", i);
	const char *folder = NULL;
	unsigned want = i % SPREAD_FOLDERS, f = 0;
	for (size_t j = 0; j < sizeof(folders) / sizeof(folders[0]) && !folder; j++) {
		if (strcmp(folders[j], "d/many") == 0 || strcmp(folders[j], "e/empty") == 0)
			continue;
		if (f++ == want)
			folder = folders[j];
	}
	if (i % 50 == 7)
		return pathf("%s/with space %u", folder, i);
	if (i % 97 == 3)
		return pathf("%s/caf\xc3\xa9-%u.txt", folder, i);
	return pathf("%s/f%03u", folder, i);
}

static size_t numbered_size(unsigned i)
{
	uint32_t r = mix(i + 1);
	if (i % 37 == 0)
		return 0;
	if (i % 9 == 0)
		return 20000 + r % 60000;
	return r % 12000;
}

/* size bytes that depend on seed only. */
static void put_file(const char *path, size_t size, uint64_t seed, mode_t mode)
{
	static unsigned char buf[65536];
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	while (size) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);
		for (size_t k = 0; k < n; k += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + k, &x, 8);
		}
		ck_assert(fwrite(buf, 1, n, f) == n);
		size -= n;
	}
	ck_assert(fclose(f) == 0);
	ck_assert(chmod(path, mode) == 0);
}

/* The source tree: folders 5 deep, NUMBERED + named files (about 10 MiB,
 * three over 1 MiB, some empty), names with spaces and UTF-8, symlinks. */
static void make_tree(const char *root)
{
	ck_assert(mkdir(root, 0755) == 0 && chmod(root, 0755) == 0);
	for (size_t j = 0; j < sizeof(folders) / sizeof(folders[0]); j++)
		ck_assert(mkdir(pathf("%s/%s", root, folders[j]), 0755) == 0);
	ck_assert(chmod(pathf("%s/b/x/y", root), 0700) == 0);
	for (unsigned i = 0; i < NUMBERED; i++)
		put_file(pathf("%s/%s", root, numbered_path(i)), numbered_size(i), i,
			 i % 11 == 0 ? 0600 : i % 13 == 0 ? 0755 : 0644);
	for (size_t j = 0; j < sizeof(named) / sizeof(named[0]); j++)
		put_file(pathf("%s/%s", root, named[j].path), named[j].size, 1000 + j, 0644);
	for (size_t j = 0; j < sizeof(symlinks) / sizeof(symlinks[0]); j++)
		ck_assert(symlink(symlinks[j].target, pathf("%s/%s", root, symlinks[j].path)) == 0);
}

/* Prepare: DIR/files/tree, and DIR/files/fs.img made from it. */
static void make_image(struct harness *h)
{
	char tree[400], img[400];
	snprintf(tree, sizeof(tree), "%s", files_at(h, "tree"));
	snprintf(img, sizeof(img), "%s", files_at(h, "fs.img"));
	make_tree(tree);
	char *out = NULL;
	char *argv[] = { (char *)harness_sbin("mkfs.ext4"), "-q", "-F", "-b", "4096", "-d", tree, img, "256M", NULL };
	int st = harness_run(argv, &out);
	ck_assert_msg(st == 0, "mkfs.ext4 failed (%d): %s", st, out);
	free(out);
}

/* e2fsck -fn finds the image clean (exit status 0). */
static void expect_fsck_clean(struct harness *h)
{
	char *out = NULL;
	char *argv[] = { (char *)harness_sbin("e2fsck"), "-fn", (char *)files_at(h, "fs.img"), NULL };
	int st = harness_run(argv, &out);
	ck_assert_msg(st == 0, "e2fsck -fn: status %d:\n%s", st, out);
	free(out);
}

/* ---- listings of a tree, to compare -------------------------------------- */

/* The output (stdout and stderr) of a shell script run with $1 = dir. */
static char *run_script(const char *script, const char *dir)
{
	char *out = NULL;
	char *argv[] = { "/bin/sh", "-c", (char *)script, "sh", (char *)dir, NULL };
	harness_run(argv, &out);
	return out ? out : strdup("(no output)");
}

/* "SHA256  ./PATH" of every file under dir, sorted by path: each file read
 * whole, by 3 readers at once (so several ant-fuse threads serve them).  A
 * read error shows up as a message of find or sha256sum: the comparison
 * fails. */
static char *list_sums(const char *dir)
{
	return run_script("cd \"$1\" && find . -type f -print0 | xargs -0 -r -P 3 -n 32 sha256sum | "
			  "LC_ALL=C sort -k 2", dir);
}

/* Type, mode, size and, with times, mtime (files), target (symlinks) and
 * path of everything under dir but lost+found, sorted. */
static char *list_meta(const char *dir, int times)
{
	return run_script(times ? "cd \"$1\" && find . -path ./lost+found -prune -o "
				  "-type d -printf 'd %m %p\\n' -o -type l -printf 'l %l %p\\n' -o "
				  "-printf '%y %m %s %Ts %p\\n' | LC_ALL=C sort"
				: "cd \"$1\" && find . -path ./lost+found -prune -o "
				  "-type d -printf 'd %m %p\\n' -o -type l -printf 'l %l %p\\n' -o "
				  "-printf '%y %m %s %p\\n' | LC_ALL=C sort", dir);
}

static unsigned count_lines(const char *text)
{
	unsigned n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* text without the lines that contain what (in place). */
static char *drop_lines(char *text, const char *what)
{
	char *o = text;
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		n += p[n] == '\n';
		const char *hit = strstr(p, what);
		if (!hit || hit >= p + n) {
			memmove(o, p, n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	return text;
}

/* 0 if want and got are the same text; else -1 and the first line that
 * differs, in why. */
static int text_diff(const char *want, const char *got, char *why, size_t len)
{
	const char *w = want, *g = got;
	unsigned line = 1;
	while (*w && *w == *g) {
		line += *w == '\n';
		w++, g++;
	}
	if (!*w && !*g)
		return 0;
	while (w > want && w[-1] != '\n')
		w--;
	while (g > got && g[-1] != '\n')
		g--;
	snprintf(why, len, "line %u (of %u wanted, %u got): wanted '%.*s', got '%.*s'", line,
		 count_lines(want), count_lines(got), (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
	return -1;
}

/* got_dir has the same files, bytes and metadata (with times: mtimes too)
 * as want_dir. */
static void expect_same_tree(const char *want_dir, const char *got_dir, int times)
{
	char why[1500];
	char *want = list_sums(want_dir), *got = list_sums(got_dir);
	ck_assert_msg(text_diff(want, got, why, sizeof(why)) == 0, "checksums of %s: %s", got_dir, why);
	free(want);
	free(got);
	want = list_meta(want_dir, times);
	got = list_meta(got_dir, times);
	ck_assert_msg(text_diff(want, got, why, sizeof(why)) == 0, "metadata of %s: %s", got_dir, why);
	free(want);
	free(got);
}

/* ---- the mount ----------------------------------------------------------- */

struct mount {
	char dir[400];   /* the mount point, under mnt_root */
	pid_t pid;       /* ant-fuse -f; 0 when not running */
};

/* Mount points in /proc/self/mountinfo, with their types, one by one
 * (0 at the end).  Octal escapes (\040 ...) undone. */
static int next_mount(FILE *f, char *mp, size_t len, char *type, size_t tlen)
{
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS] - TYPE SOURCE ..." */
		int at = 0;
		if (sscanf(line, "%*d %*d %*u:%*u %*s %n", &at) != 0 || !at)
			continue;
		size_t k = 0;
		const char *p = line + at;
		for (; *p && *p != ' ' && k + 1 < len; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
			    p[3] >= '0' && p[3] <= '7') {
				mp[k++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				mp[k++] = *p;
			}
		}
		mp[k] = '\0';
		const char *dash = strstr(p, " - ");
		snprintf(type, tlen, "%.*s", dash ? (int)strcspn(dash + 3, " ") : 0, dash ? dash + 3 : "");
		return 1;
	}
	return 0;
}

/* Is the last mount on dir an ant-fuse one? */
static int is_mounted(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	ck_assert(f != NULL);
	char mp[1024], type[64];
	int yes = 0;
	while (next_mount(f, mp, sizeof(mp), type, sizeof(type)))
		if (strcmp(mp, dir) == 0)
			yes = strcmp(type, "fuse.ant") == 0;
	fclose(f);
	return yes;
}

/* Detach every mount under mnt_root (the teardown's last resort). */
static void detach_leftovers(void)
{
	size_t n = strlen(mnt_root);
	for (int round = 0; n && round < 50; round++) {
		FILE *f = fopen("/proc/self/mountinfo", "re");
		if (!f)
			return;
		char mp[1024], type[64], found[1024] = "";
		while (next_mount(f, mp, sizeof(mp), type, sizeof(type)))
			if (strncmp(mp, mnt_root, n) == 0 && mp[n] == '/')
				snprintf(found, sizeof(found), "%s", mp);
		fclose(f);
		if (!found[0])
			return;
		fprintf(stderr, "test-fuse: detaching %s, left mounted\n", found);
		umount2(found, MNT_DETACH);
	}
}

/* Start ant-fuse -f on the stack of h (with one more option, opt, unless
 * NULL) and wait until its mount is there.  The mount point is made on the
 * first call and kept for the next ones. */
static void mount_start(struct harness *h, struct mount *m, const char *opt)
{
	if (!m->dir[0]) {
		snprintf(m->dir, sizeof(m->dir), "%s/XXXXXX", mnt_root);
		ck_assert_msg(mkdtemp(m->dir) != NULL, "mkdtemp %s: %s", m->dir, strerror(errno));
	}
	const char *log = pathf("%s/fuse.log", h->dir);
	pid_t parent = getpid();
	m->pid = fork();
	ck_assert(m->pid >= 0);
	if (m->pid == 0) {
		/* See the top: out of the test's process group, and SIGTERM
		 * (which unmounts) when the test process ends. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		const char *tool = harness_tool("ant-fuse");
		if (opt)
			execl(tool, "ant-fuse", "--run-dir", h->dir, "-f", opt, m->dir, (char *)NULL);
		else
			execl(tool, "ant-fuse", "--run-dir", h->dir, "-f", m->dir, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", tool, strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (is_mounted(m->dir))
			return;
		int st;
		if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
			m->pid = 0;
			ck_abort_msg("ant-fuse ended before mounting (status 0x%x): %s", st,
				     harness_read(h, "fuse.log"));
		}
		harness_sleep_ms(10);
	}
	ck_abort_msg("ant-fuse: no mount on %s after 10 s: %s", m->dir, harness_read(h, "fuse.log"));
}

/* The file stack started on a fresh image, mounted with opts (NULL: none):
 * the sums of the tree the image was made of (list_sums; the caller frees). */
static char *start_mounted(struct harness *h, struct mount *m, const char *opts)
{
	harness_start_prepared(h, fuse_stack, make_image);
	mount_start(h, m, opts);
	char tree[400];
	snprintf(tree, sizeof(tree), "%s", files_at(h, "tree"));
	return list_sums(tree);
}

/* Unmount (umount(2), as `umount` as root would) and wait for ant-fuse to
 * end with status 0. */
static void mount_stop(struct harness *h, struct mount *m)
{
	if (m->pid <= 0)
		return;
	int r = -1, err = 0;
	for (int i = 0; i < 250; i++) {   /* EBUSY while a finished reader's files close */
		r = umount2(m->dir, 0);
		err = errno;
		if (r == 0 || err != EBUSY)
			break;
		harness_sleep_ms(20);
	}
	if (r < 0)
		umount2(m->dir, MNT_DETACH);
	int st = 0, ended = 0;
	for (int i = 0; i < 500 && !ended; i++) {
		ended = waitpid(m->pid, &st, WNOHANG) == m->pid;
		if (!ended)
			harness_sleep_ms(20);
	}
	if (!ended) {
		kill(m->pid, SIGKILL);
		waitpid(m->pid, &st, 0);
	}
	m->pid = 0;
	ck_assert_msg(r == 0, "umount %s: %s", m->dir, strerror(err));
	ck_assert_msg(ended, "ant-fuse still ran 10 s after the unmount");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ant-fuse ended with status 0x%x: %s", st,
		      harness_read(h, "fuse.log"));
	ck_assert_msg(!is_mounted(m->dir), "%s still mounted", m->dir);
}

/* Under the mount point. */
static const char *mnt(const struct mount *m, const char *rel)
{
	return pathf("%s/%s", m->dir, rel);
}

/* antd's log lines about servers that ended or failed (the last 2500
 * bytes of them: Check keeps messages short); malloc'd. */
static char *log_trouble(struct harness *h)
{
	char *log = harness_read(h, "antd.log"), *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
		if (!strstr(line, " info ") || strstr(line, "server-exit"))
			fprintf(m, "%s\n", line);
	fclose(m);
	free(log);
	if (len > 2500)
		memmove(out, out + len - 2500, 2501);
	return out;
}

/* None of the servers restarted (nothing crashed and was hidden by a replay). */
static void expect_no_restarts(struct harness *h)
{
	for (int i = 0; i < 3; i++)
		ck_assert_msg(harness_server_num(h, servers[i], "restarts") == 0, "%s restarted:\n%s",
			      servers[i], log_trouble(h));
}

/* ---- 1: a whole tree read ------------------------------------------------ */

START_TEST(test_tree_reads_whole)
{
	struct harness h;
	harness_start_prepared(&h, fuse_stack, make_image);
	struct mount m = { 0 };
	mount_start(&h, &m, NULL);
	char tree[400];
	snprintf(tree, sizeof(tree), "%s", files_at(&h, "tree"));
	char *want = list_sums(tree);
	ck_assert_uint_ge(count_lines(want), 500);
	double t0 = now_s();
	char *got = list_sums(m.dir);
	double t1 = now_s();
	char why[1500];
	ck_assert_msg(text_diff(want, got, why, sizeof(why)) == 0, "checksums: %s", why);
	printf("read %u files through the mount in %.0f ms\n", count_lines(got), (t1 - t0) * 1000);
	free(want);
	free(got);
	expect_same_tree(tree, m.dir, 1);   /* metadata; the sums again, from the page cache */
	char target[200] = "";
	ck_assert_int_eq(readlink(mnt(&m, "b/x/y/z/long-link"), target, sizeof(target) - 1),
			 (int)strlen(LONG_TARGET));
	ck_assert_str_eq(target, LONG_TARGET);
	expect_no_restarts(&h);
	mount_stop(&h, &m);
	harness_stop(&h);
}
END_TEST

/* ---- 2: changes through the mount persist -------------------------------- */

static unsigned char pattern_at(uint64_t off, unsigned seed)
{
	return (unsigned char)(off * 31 + seed * 7 + off / 4096);
}

/* Write n bytes of pattern seed to fd at off (-1: at the file offset). */
static void put_pattern(int fd, const char *path, off_t off, size_t n, unsigned seed)
{
	static unsigned char buf[70000];
	ck_assert(n <= sizeof(buf));
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern_at(i, seed);
	ssize_t w = off < 0 ? write(fd, buf, n) : pwrite(fd, buf, n, off);
	ck_assert_msg(w == (ssize_t)n, "write %s: %zd, %s", path, w, strerror(errno));
}

#define OK(call, path) ck_assert_msg((call) == 0, "%s: %s: %s", #call, path, strerror(errno))

static void cp(const char *flags, const char *from, const char *to)
{
	char *out = NULL;
	char *argv[] = { "/bin/cp", (char *)flags, (char *)from, (char *)to, NULL };
	int st = harness_run(argv, &out);
	ck_assert_msg(st == 0, "cp %s %s %s: status %d: %s", flags, from, to, st, out);
	free(out);
}

/* The same changes, made under root (a copy of the tree, or the mount):
 * cp of files (one of 2 MiB, one empty) and of a folder, mkdir, renames of a
 * file, a folder and over a file, rm, rmdir, truncate both ways, append,
 * overwrites in place and with O_TRUNC, symlink, chmod. */
static void apply_changes(const char *root, const char *tree)
{
	const char *p;
	OK(mkdir(p = pathf("%s/new", root), 0755), p);
	cp("-T", pathf("%s/big/huge.bin", tree), pathf("%s/new/huge.bin", root));
	cp("-T", pathf("%s/c/two/three/4k", tree), pathf("%s/new/small", root));
	cp("-T", pathf("%s/e/notes", tree), pathf("%s/new/empty", root));
	cp("-T", pathf("%s/a/s0/deep/deeper/one-and-a-half", tree), pathf("%s/new/big-copy", root));
	cp("-r", pathf("%s/c", tree), pathf("%s/new/c-copy", root));
	OK(mkdir(p = pathf("%s/new/sub", root), 0755), p);
	OK(mkdir(p = pathf("%s/new/sub/deeper", root), 0750), p);
	OK(rename(p = pathf("%s/new/small", root), pathf("%s/new/sub/deeper/moved", root)), p);
	OK(rename(p = pathf("%s/a/s1", root), pathf("%s/e/renamed-s1", root)), p);
	OK(unlink(p = pathf("%s/b/x/remove-me", root)), p);
	OK(rmdir(p = pathf("%s/e/empty", root)), p);
	OK(truncate(p = pathf("%s/big/one-mib-plus-one", root), 100000), p);   /* shorter */
	OK(truncate(p = pathf("%s/new/empty", root), 300000), p);               /* a hole */

	int fd = open(p = pathf("%s/c/one/append-me", root), O_WRONLY | O_APPEND);
	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	put_pattern(fd, p, -1, 35000, 1);
	put_pattern(fd, p, -1, 35000, 2);
	OK(close(fd), p);
	/* Across a 64 KiB cache block boundary, in the middle of the copy. */
	fd = open(p = pathf("%s/new/huge.bin", root), O_WRONLY);
	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	put_pattern(fd, p, 65536 - 1000, 5000, 3);
	OK(close(fd), p);
	fd = open(p = pathf("%s/d/overwrite-me", root), O_WRONLY | O_TRUNC);
	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	put_pattern(fd, p, -1, 3000, 4);
	OK(fsync(fd), p);
	OK(close(fd), p);

	OK(symlink("sub/deeper/moved", p = pathf("%s/new/link", root)), p);
	OK(chmod(p = pathf("%s/new/huge.bin", root), 0600), p);
	OK(rename(p = pathf("%s/new/huge.bin", root), pathf("%s/big/huge.bin", root)), p);   /* replaces */
}

START_TEST(test_changes_persist)
{
	struct harness h;
	harness_start_prepared(&h, fuse_stack, make_image);
	char tree[400], model[400];
	snprintf(tree, sizeof(tree), "%s", files_at(&h, "tree"));
	snprintf(model, sizeof(model), "%s", files_at(&h, "model"));
	cp("-a", tree, model);
	apply_changes(model, tree);

	struct mount m = { 0 };
	mount_start(&h, &m, NULL);
	apply_changes(m.dir, tree);
	expect_same_tree(model, m.dir, 0);
	expect_no_restarts(&h);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);

	/* A new stack on the same image, a new mount: all still there. */
	harness_launch(&h);
	mount_start(&h, &m, NULL);
	expect_same_tree(model, m.dir, 0);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* ---- 3: reads and writes under kills ------------------------------------- */

#define KILLS 30

/* One pass of a worker: 0, or -1 with the reason in why. */
typedef int pass_fn(void *arg, unsigned n, char *why, size_t len);

/* A child process that does passes until asked to stop (it then ends
 * after the pass it is in). */
struct worker {
	pid_t pid;
	int stop;          /* write end: one byte asks it to stop */
	int done;          /* read end (non-blocking): one byte per pass done */
	unsigned passes;   /* bytes read from done so far */
	char why[400];     /* the file where it says why it failed */
};

static void worker_start(struct harness *h, struct worker *w, pass_fn *pass, void *arg)
{
	int stop[2], done[2];
	ck_assert(pipe2(stop, O_CLOEXEC) == 0 && pipe2(done, O_CLOEXEC | O_NONBLOCK) == 0);
	snprintf(w->why, sizeof(w->why), "%s/worker.err", h->dir);
	unlink(w->why);
	w->passes = 0;
	pid_t parent = getpid();
	w->pid = fork();
	ck_assert(w->pid >= 0);
	if (w->pid == 0) {
		/* No ck_assert here: the outcome travels as the exit status. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		for (unsigned n = 0;; n++) {
			char why[2000];
			if (pass(arg, n, why, sizeof(why)) < 0) {
				FILE *f = fopen(w->why, "w");
				if (f) {
					fprintf(f, "pass %u: %s", n, why);
					fclose(f);
				}
				_exit(1);
			}
			if (write(done[1], "p", 1) != 1)
				_exit(2);
			struct pollfd pfd = { .fd = stop[0], .events = POLLIN };
			if (poll(&pfd, 1, 0) > 0)
				_exit(0);
		}
	}
	close(stop[0]);
	close(done[1]);
	w->stop = stop[1];
	w->done = done[0];
}

/* Passes done so far. */
static unsigned worker_passes(struct worker *w)
{
	char buf[64];
	ssize_t n;
	while ((n = read(w->done, buf, sizeof(buf))) > 0)
		w->passes += (unsigned)n;
	return w->passes;
}

/* antd's log, on stderr: what the stack did when a worker failed. */
static void dump_antd_log(struct harness *h)
{
	char *log = harness_read(h, "antd.log");
	size_t n = log ? strlen(log) : 0;
	fprintf(stderr, "antd.log (last 20000 bytes):\n%s\n", n > 20000 ? log + n - 20000 : log ? log : "");
	free(log);
}

/* Fails the test if the worker has ended (it only ends when asked to). */
static void worker_expect_running(struct harness *h, struct worker *w)
{
	int st;
	if (waitpid(w->pid, &st, WNOHANG) != w->pid)
		return;
	w->pid = 0;
	char *why = harness_read(h, "worker.err");
	dump_antd_log(h);
	ck_abort_msg("the worker failed (status 0x%x) after %u passes: %s", st, worker_passes(w), why);
}

/* Ask it to stop, wait (up to 2 min) for its last pass; its passes. */
static unsigned worker_finish(struct harness *h, struct worker *w)
{
	ck_assert(write(w->stop, "s", 1) == 1);
	int st = 0, ended = 0;
	for (int i = 0; i < 6000 && !ended; i++) {
		ended = waitpid(w->pid, &st, WNOHANG) == w->pid;
		if (!ended)
			harness_sleep_ms(20);
	}
	if (!ended) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, &st, 0);
	}
	w->pid = 0;
	unsigned passes = worker_passes(w);
	close(w->stop);
	close(w->done);
	if (!ended || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		dump_antd_log(h);
	ck_assert_msg(ended, "the worker's last pass did not end within 2 minutes");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the worker failed (status 0x%x): %s", st,
		      harness_read(h, "worker.err"));
	return passes;
}

/* SIGKILL server name if it is running; 1 if it was killed. */
static int kill_server(struct harness *h, const char *name)
{
	json_t *s = harness_server_status(h, name);
	const char *state = json_string_value(json_object_get(s, "state"));
	pid_t pid = (pid_t)json_integer_value(json_object_get(s, "pid"));
	int killed = state && strcmp(state, "running") == 0 && pid > 0 && kill(pid, SIGKILL) == 0;
	json_decref(s);
	return killed;
}

/*
 * SIGKILL disk, cache and fs at random moments (every 30-120 ms), KILLS in
 * all and each at least once, and on until the worker has finished 2 passes,
 * so that at least one whole pass ran under kills.  Fails if the worker
 * fails meanwhile, or if that takes over 2 minutes.
 */
static void kill_while_working(struct harness *h, struct worker *w, const char *what)
{
	unsigned kills = 0, per[3] = { 0 };
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	srand(seed);
	double t0 = now_s();
	while (kills < KILLS || !per[0] || !per[1] || !per[2] || worker_passes(w) < 2) {
		harness_sleep_ms(30 + rand() % 90);
		unsigned k = (unsigned)rand() % 3;
		for (unsigned j = 0; j < 3 && kills + 3 >= KILLS; j++)
			if (!per[j])
				k = j;
		if (kill_server(h, servers[k])) {
			kills++;
			per[k]++;
		}
		worker_expect_running(h, w);
		ck_assert_msg(now_s() - t0 < 120, "%s: %u passes in 2 minutes under %u kills", what,
			      worker_passes(w), kills);
	}
	printf("%s: %u passes under %u kills (disk %u, cache %u, fs %u) in %.1f s, seed %u\n", what,
	       worker_passes(w), kills, per[0], per[1], per[2], now_s() - t0, seed);
}

struct read_pass {
	const char *dir;    /* read this whole tree */
	const char *want;   /* its list_sums */
};

static int read_pass(void *arg, unsigned n, char *why, size_t len)
{
	(void)n;
	struct read_pass *rp = arg;
	char *got = list_sums(rp->dir);
	int r = text_diff(rp->want, got, why, len);
	free(got);
	return r;
}

struct copy_pass {
	const char *from;   /* a folder of the source tree */
	const char *want;   /* its list_sums */
	const char *into;   /* copy n goes to INTO/n */
};

/* Copy the folder with cp -r (which must succeed) and read the copy back. */
static int copy_pass(void *arg, unsigned n, char *why, size_t len)
{
	struct copy_pass *cpp = arg;
	char to[600];
	snprintf(to, sizeof(to), "%s/%u", cpp->into, n);
	char *out = NULL;
	char *argv[] = { "/bin/cp", "-r", (char *)cpp->from, to, NULL };
	int st = harness_run(argv, &out);
	if (st != 0) {
		snprintf(why, len, "cp -r %s %s: status %d: %.1000s", cpp->from, to, st, out);
		free(out);
		return -1;
	}
	free(out);
	char *got = list_sums(to);
	int r = text_diff(cpp->want, got, why, len);
	free(got);
	return r;
}

/* ---- the cache upgraded while the tree is read ----------------------------- */

/* The cache's hits and misses (its op stats): block reads it served from
 * its blocks or not, and fills it made from its blocks or sent on to the
 * disk. */
static void cache_counts(struct harness *h, double *hits, double *misses)
{
	struct ant_conn *c = harness_connect(h);
	static struct ant_result res;
	ck_assert_int_eq(harness_call(c, "cache", "stats", NULL, 0, &res), 0);
	char buf[320] = "";
	memcpy(buf, res.bytes, res.len < sizeof(buf) - 1 ? res.len : sizeof(buf) - 1);
	double fills, fills_on, skip;
	ck_assert_msg(sscanf(buf, "hits %lf misses %lf coalesced %lf evictions %lf blocks %lf "
			     "readaheads %lf fills %lf fills_to_disk %lf", hits, misses, &skip, &skip,
			     &skip, &skip, &fills, &fills_on) == 8, "cache stats: %s", buf);
	*hits += fills;
	*misses += fills_on;
	ant_close(c);
}

/* The share of the cache's lookups that hit during one read of the tree. */
static double hit_rate_of_a_pass(struct harness *h, const char *dir, const char *want)
{
	double h0, m0, h1, m1;
	cache_counts(h, &h0, &m0);
	char *got = list_sums(dir), why[1500];
	ck_assert_msg(text_diff(want, got, why, sizeof(why)) == 0, "checksums: %s", why);
	free(got);
	cache_counts(h, &h1, &m1);
	return (h1 - h0) * 100.0 / (h1 - h0 + m1 - m0 > 0 ? h1 - h0 + m1 - m0 : 1);
}

/* The inodes of the memfds process pid holds (its data ICAs), sorted. */
static unsigned memfd_inodes(pid_t pid, unsigned long *ino, unsigned max)
{
	unsigned n = 0;
	for (int fd = 0; fd < 8192 && n < max; fd++) {
		char link[64], target[128];
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		struct stat st;
		/* Its areas; not its lanes (the fast path), which are the
		 * instance's own and made anew for the next one. */
		if (strncmp(target, "/memfd:", 7) == 0 && strncmp(target, "/memfd:ant-lane", 15) != 0 &&
		    stat(link, &st) == 0)
			ino[n++] = (unsigned long)st.st_ino;
	}
	return n;
}

/* Drop from ino[0..n) those in other[0..nother); returns how many stay. */
static unsigned drop_inodes(unsigned long *ino, unsigned n, const unsigned long *other, unsigned nother)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned j = 0;
		while (j < nother && other[j] != ino[i])
			j++;
		if (j == nother)
			ino[k++] = ino[i];
	}
	return k;
}

/*
 * antctl upgrade cache: its blocks move to the new version (the same memfd
 * inodes, no block copied), the same reads hit as often after as before, and
 * under a reader through ant-fuse no read fails or reads wrong.
 */
/* Three antctl commands (each a string of words, at most 7), 100 ms apart,
 * while a reader reads the tree under dir through the mount again and
 * again: each command succeeds, and every read is right (2 passes at least). */
static void under_a_reader(struct harness *h, const char *dir, const char *want, const char *c1,
			   const char *c2, const char *c3)
{
	struct read_pass rp = { .dir = dir, .want = want };
	struct worker w;
	worker_start(h, &w, read_pass, &rp);
	const char *cmds[] = { c1, c2, c3 };
	for (int i = 0; i < 3; i++) {
		harness_sleep_ms(100);
		char words[256], *a[12] = { (char *)harness_tool("antctl"), "--run-dir", h->dir };
		snprintf(words, sizeof(words), "%s", cmds[i]);
		int n = 3;
		for (char *t = strtok(words, " "); t && n < 11; t = strtok(NULL, " "))
			a[n++] = t;
		a[n] = NULL;
		char *out = NULL;
		ck_assert_msg(harness_run(a, &out) == 0, "antctl %s: %s", cmds[i], out);
		free(out);
		worker_expect_running(h, &w);
	}
	while (worker_passes(&w) < 2)
		harness_sleep_ms(50);
	ck_assert_uint_ge(worker_finish(h, &w), 2);
}

START_TEST(test_cache_upgrade_keeps_its_blocks)
{
	struct harness h;
	struct mount m = { 0 };
	char *want = start_mounted(&h, &m, "--uncached");
	hit_rate_of_a_pass(&h, m.dir, want);   /* the cache warms up */
	double before = hit_rate_of_a_pass(&h, m.dir, want);
	pid_t old = harness_server_pid(&h, "cache");
	static unsigned long old_ino[4096], new_ino[4096], reader_ino[4096];
	/* Its blocks: not the areas of ant-fuse's that it keeps for the reads
	 * it fills (the readers' own, not the cache's state). */
	unsigned nreader = memfd_inodes(m.pid, reader_ino, 4096);
	unsigned nold = memfd_inodes(old, old_ino, 4096);
	nold = drop_inodes(old_ino, nold, reader_ino, nreader);
	ck_assert_uint_ge(nold, 10);
	char *out = NULL;
	char *up[] = { (char *)harness_tool("antctl"), "--run-dir", h.dir, "upgrade", "cache",
		       "--verify-state", "--probation", "200", NULL };
	ck_assert_msg(harness_run(up, &out) == 0, "%s", out);
	free(out);
	pid_t now = harness_server_pid(&h, "cache");
	ck_assert_int_ne(now, old);
	unsigned nnew = memfd_inodes(now, new_ino, 4096);
	unsigned kept = 0;
	for (unsigned i = 0; i < nold; i++)
		for (unsigned k = 0; k < nnew; k++)
			if (old_ino[i] == new_ino[k]) {
				kept++;
				break;
			}
	/* Every block area the old cache held, the new one holds (only the old
	 * one's last export manifest may be missing). */
	ck_assert_msg(kept + 1 >= nold, "the new cache holds %u of the old one's %u areas", kept,
		      nold);
	double after = hit_rate_of_a_pass(&h, m.dir, want);
	ck_assert_msg(after > before - 5 && after < before + 5,
		      "hit rate %.1f%% before the upgrade, %.1f%% after", before, after);
	printf("cache upgrade: %u of %u areas kept, hit rate %.1f%% before, %.1f%% after\n", kept,
	       nold, before, after);

	/* Under a reader: upgrades and a rollback, every read right. */
	under_a_reader(&h, m.dir, want, "upgrade cache --probation 100", "upgrade cache --probation 100",
		       "rollback cache --probation 100");
	ck_assert_int_eq(harness_server_num(&h, "cache", "restarts"), 0);
	free(want);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* antd re-executes itself three times under a reader of the tree through
 * ant-fuse: the mount never notices (every read right), no server restarts,
 * the same pids. */
START_TEST(test_antd_reexec_under_mount)
{
	struct harness h;
	struct mount m = { 0 };
	char *want = start_mounted(&h, &m, "--uncached");
	pid_t pids[3];
	for (int k = 0; k < 3; k++)
		pids[k] = harness_server_pid(&h, servers[k]);
	under_a_reader(&h, m.dir, want, "reexec", "reexec", "reexec");
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(harness_server_pid(&h, servers[k]), pids[k]);
		ck_assert_int_eq(harness_server_num(&h, servers[k], "restarts"), 0);
	}
	free(want);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

START_TEST(test_reads_and_writes_under_kills)
{
	struct harness h;
	harness_start_prepared(&h, fuse_stack, make_image);
	struct mount m = { 0 };
	/* No page cache: every pass's reads (and lookups) reach the stack. */
	mount_start(&h, &m, "--uncached");
	char tree[400];
	snprintf(tree, sizeof(tree), "%s", files_at(&h, "tree"));

	struct read_pass rp = { .dir = m.dir, .want = list_sums(tree) };
	struct worker w;
	worker_start(&h, &w, read_pass, &rp);
	kill_while_working(&h, &w, "reads");
	unsigned passes = worker_finish(&h, &w);
	ck_assert_uint_ge(passes, 2);

	char from[400], into[400];
	snprintf(from, sizeof(from), "%s/c", tree);
	snprintf(into, sizeof(into), "%s", mnt(&m, "copies"));
	ck_assert(mkdir(into, 0755) == 0);
	struct copy_pass cpp = { .from = from, .want = list_sums(from), .into = into };
	ck_assert_uint_ge(count_lines(cpp.want), 50);
	worker_start(&h, &w, copy_pass, &cpp);
	kill_while_working(&h, &w, "copies");
	unsigned copies = worker_finish(&h, &w);
	ck_assert_uint_ge(copies, 2);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);

	/* On the image, after a restart: every copy, and the tree untouched. */
	harness_launch(&h);
	mount_start(&h, &m, "--uncached");
	for (unsigned i = 0; i < copies; i++) {
		char *got = list_sums(pathf("%s/%u", into, i)), why[1500];
		ck_assert_msg(text_diff(cpp.want, got, why, sizeof(why)) == 0, "copy %u: %s", i, why);
		free(got);
	}
	char *all = list_sums(m.dir), why[1500];
	ck_assert_uint_eq(count_lines(all), count_lines(rp.want) + count_lines(cpp.want) * copies);
	ck_assert_msg(text_diff(rp.want, drop_lines(all, "  ./copies/"), why, sizeof(why)) == 0,
		      "the tree besides the copies: %s", why);
	free(all);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);
	free((char *)rp.want);
	free((char *)cpp.want);
}
END_TEST

/* ---- 4: errors through the mount ----------------------------------------- */

/* call fails with errno e. */
#define EXPECT_ERR(call, e)                                                                      \
	do {                                                                                     \
		errno = 0;                                                                       \
		long r_ = (long)(call);                                                          \
		int e_ = errno;                                                                  \
		ck_assert_msg(r_ == -1 && e_ == (e), "%s: %ld, errno %d (%s), wanted %s", #call, \
			      r_, e_, strerror(e_), #e);                                         \
	} while (0)

/* An fs op called directly, behind the kernel's back; must succeed. */
static void fs_direct(struct ant_conn *c, const char *op, const char *arg)
{
	struct ant_result res;
	int r = harness_call(c, "fs", op, arg, 0, &res);
	if (res.data)
		ant_ica_release(c, res.data);
	ck_assert_msg(r >= 0, "fs %s %s: %s", op, arg, ant_errname(r));
}

/* An errno fault on disk's reads (antctl inject disk errno:sendfile:EIO)
 * reaches the reading program as EIO, never as wrong bytes; the stack goes
 * on serving, nothing restarts, and the image stays clean. */
START_TEST(test_injected_eio_reaches_the_reader)
{
	struct harness h;
	harness_start_prepared(&h, fuse_stack_injectable, make_image);
	struct mount m = { 0 };
	mount_start(&h, &m, NULL);
	char *out = NULL;
	char *inject[] = { (char *)harness_tool("antctl"), "--run-dir", h.dir, "inject", "disk",
			   "errno:sendfile:EIO", NULL };
	ck_assert_msg(harness_run(inject, &out) == 0, "%s", out);
	free(out);
	char want_path[400];
	snprintf(want_path, sizeof(want_path), "%s", files_at(&h, "tree/big/huge.bin"));
	int wfd = open(want_path, O_RDONLY);
	ck_assert_int_ge(wfd, 0);
	static char want[(2u << 20) + 12345], got[sizeof(want)];
	ck_assert_int_eq(read(wfd, want, sizeof(want)), (int)sizeof(want));
	close(wfd);
	/* The first read of the image may be the file's inode (open) or its data.
	 * O_DIRECT: each read goes to ant-fuse as it is asked for.  Through the
	 * page cache, a read the kernel makes ahead that fails is only retried
	 * later (and then works: the fault fires once), so the reader would
	 * never see the EIO. */
	int fd = open(mnt(&m, "big/huge.bin"), O_RDONLY | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(mnt(&m, "big/huge.bin"), O_RDONLY);
	size_t done = 0;
	int err = fd < 0 ? errno : 0;
	while (fd >= 0 && done < sizeof(got)) {
		ssize_t n = read(fd, got + done, sizeof(got) - done);
		if (n < 0) {
			err = errno;
			break;
		}
		ck_assert_msg(n > 0, "end of file at %zu", done);
		done += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	ck_assert_msg(err == EIO, "open and read: %zu bytes, then %s (wanted EIO)", done,
		      strerror(err));
	ck_assert_msg(memcmp(got, want, done) == 0, "the bytes read before the error are wrong");
	/* The fault fired once: the same file reads whole now. */
	fd = open(mnt(&m, "big/huge.bin"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	done = 0;
	ssize_t n;
	while ((n = read(fd, got + done, sizeof(got) - done)) > 0)
		done += (size_t)n;
	close(fd);
	ck_assert_msg(n == 0 && done == sizeof(want) && memcmp(got, want, done) == 0,
		      "second read: %zu bytes, last %zd (%s)", done, n, strerror(errno));
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "injected [disk] fault 1 errno:sendfile:EIO fails call"), "%s", log);
	free(log);
	expect_no_restarts(&h);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

START_TEST(test_errors)
{
	struct harness h;
	harness_start_prepared(&h, fuse_stack, make_image);
	struct mount m = { 0 };
	mount_start(&h, &m, NULL);
	struct stat st;
	char buf[64], file[500], dir[500];
	snprintf(file, sizeof(file), "%s", mnt(&m, "c/two/three/4k"));
	snprintf(dir, sizeof(dir), "%s", mnt(&m, "c/one"));

	/* ENOENT: the kernel's lookup, then fs's own answer for a name the
	 * kernel still believes in (removed behind its back). */
	EXPECT_ERR(stat(mnt(&m, "missing"), &st), ENOENT);
	EXPECT_ERR(open(mnt(&m, "missing"), O_RDONLY), ENOENT);
	EXPECT_ERR(open(mnt(&m, "no/such/x"), O_WRONLY | O_CREAT, 0644), ENOENT);
	EXPECT_ERR(unlink(mnt(&m, "missing")), ENOENT);
	EXPECT_ERR(rmdir(mnt(&m, "missing")), ENOENT);
	EXPECT_ERR(rename(mnt(&m, "missing"), mnt(&m, "elsewhere")), ENOENT);
	EXPECT_ERR(readlink(mnt(&m, "missing"), buf, sizeof(buf)), ENOENT);
	struct ant_conn *c = harness_connect(&h);
	OK(stat(mnt(&m, "c/one/victim"), &st), "victim");
	fs_direct(c, "unlink", "/c/one/victim");
	EXPECT_ERR(unlink(mnt(&m, "c/one/victim")), ENOENT);

	/* ENOTEMPTY: only fs knows. */
	EXPECT_ERR(rmdir(dir), ENOTEMPTY);
	OK(mkdir(mnt(&m, "fresh"), 0755), "fresh");
	EXPECT_ERR(rename(mnt(&m, "fresh"), dir), ENOTEMPTY);

	/* EEXIST, also from fs for a name made behind the kernel's back
	 * after it cached the name as missing. */
	EXPECT_ERR(mkdir(dir, 0755), EEXIST);
	EXPECT_ERR(mkdir(file, 0755), EEXIST);
	EXPECT_ERR(open(file, O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	EXPECT_ERR(symlink("x", file), EEXIST);
	EXPECT_ERR(stat(mnt(&m, "racy"), &st), ENOENT);
	fs_direct(c, "mkdir", "/racy 0755");
	EXPECT_ERR(mkdir(mnt(&m, "racy"), 0755), EEXIST);
	ant_close(c);

	/* EISDIR and ENOTDIR. */
	EXPECT_ERR(open(dir, O_WRONLY), EISDIR);
	EXPECT_ERR(unlink(dir), EISDIR);
	EXPECT_ERR(rename(file, dir), EISDIR);
	EXPECT_ERR(stat(mnt(&m, "c/two/three/4k/x"), &st), ENOTDIR);
	EXPECT_ERR(mkdir(mnt(&m, "c/two/three/4k/x"), 0755), ENOTDIR);
	EXPECT_ERR(rmdir(file), ENOTDIR);
	EXPECT_ERR(rename(dir, file), ENOTDIR);
	EXPECT_ERR(open(file, O_RDONLY | O_DIRECTORY), ENOTDIR);

	/* Names over 255 bytes, which ext4 cannot hold. */
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = '\0';
	EXPECT_ERR(open(mnt(&m, longname), O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	EXPECT_ERR(mkdir(mnt(&m, longname), 0755), ENAMETOOLONG);
	EXPECT_ERR(rename(file, mnt(&m, longname)), ENAMETOOLONG);

	/* POSIX through the mount: a hard link counted under both names at
	 * once, chown, a FIFO, a device, nanoseconds, an extended attribute. */
	OK(link(file, mnt(&m, "hard")), "hard");
	struct stat hs;
	OK(stat(file, &st), file);
	OK(stat(mnt(&m, "hard"), &hs), "hard");
	ck_assert_uint_eq(st.st_nlink, 2);
	ck_assert_uint_eq(hs.st_nlink, 2);
	ck_assert_uint_eq(st.st_ino, hs.st_ino);
	OK(chown(mnt(&m, "hard"), 65534, 65533), "chown");
	OK(stat(file, &st), file);   /* the other name sees it at once */
	ck_assert_uint_eq(st.st_uid, 65534);
	ck_assert_uint_eq(st.st_gid, 65533);
	OK(unlink(mnt(&m, "hard")), "unlink hard");
	OK(mkfifo(mnt(&m, "fifo"), 0600), "mkfifo");
	OK(mknod(mnt(&m, "null"), S_IFCHR | 0666, makedev(1, 3)), "mknod");
	OK(lstat(mnt(&m, "null"), &st), "null");
	ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	OK(lstat(mnt(&m, "fifo"), &st), "fifo");
	ck_assert(S_ISFIFO(st.st_mode));
	struct timespec ts[2] = { { 4000000000, 123456789 }, { 1, 999999999 } };
	OK(utimensat(AT_FDCWD, file, ts, 0), "utimensat");
	OK(stat(file, &st), file);
	ck_assert(st.st_atim.tv_sec == 4000000000 && st.st_atim.tv_nsec == 123456789 &&
		  st.st_mtim.tv_sec == 1 && st.st_mtim.tv_nsec == 999999999);
	OK(setxattr(file, "user.k", "v1", 2, XATTR_CREATE), "setxattr");
	char xv[8] = "";
	ck_assert_int_eq(getxattr(file, "user.k", xv, sizeof(xv)), 2);
	ck_assert(memcmp(xv, "v1", 2) == 0);
	EXPECT_ERR(setxattr(file, "system.posix_acl_access", "\2\0\0\0", 4, 0), EOPNOTSUPP);
	OK(unlink(mnt(&m, "fifo")), "fifo");
	OK(unlink(mnt(&m, "null")), "null");
	/* A path of 3,000 bytes and more (the argument text goes in a data
	 * ICA): made, written, read back, removed. */
	char deep[3400];
	size_t dl = (size_t)snprintf(deep, sizeof(deep), "%s", mnt(&m, "deep-paths"));
	OK(mkdir(deep, 0755), deep);
	while (dl < 3000) {
		dl += (size_t)snprintf(deep + dl, sizeof(deep) - dl, "/%0200d", (int)dl);
		OK(mkdir(deep, 0755), "deep mkdir");
	}
	strcat(deep, "/file");
	int dfd = open(deep, O_WRONLY | O_CREAT, 0644);
	ck_assert_msg(dfd >= 0, "open a %zu-byte path: %s", strlen(deep), strerror(errno));
	ck_assert_int_eq(write(dfd, "deep", 4), 4);
	close(dfd);
	dfd = open(deep, O_RDONLY);
	ck_assert_int_ge(dfd, 0);
	char back[8] = "";
	ck_assert_int_eq(read(dfd, back, sizeof(back)), 4);
	close(dfd);
	ck_assert(memcmp(back, "deep", 4) == 0);
	OK(unlink(deep), "deep unlink");

	/* Nothing half-done: everything still reads as it should. */
	OK(rmdir(mnt(&m, "fresh")), "fresh");
	OK(rmdir(mnt(&m, "racy")), "racy");
	OK(stat(file, &st), file);
	ck_assert_int_eq(st.st_size, 4096);
	expect_no_restarts(&h);
	mount_stop(&h, &m);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* ---- 5: antd stopped and started under the mount ------------------------- */

/* While antd is away every op fails with EIO; once it is back the mount
 * works again by itself, on every ant-fuse thread: none keeps a
 * connection the old antd hung up on. */
START_TEST(test_antd_restart_under_mount)
{
	struct harness h;
	struct mount m = { 0 };
	char *want = start_mounted(&h, &m, "--uncached"), *got = list_sums(m.dir), why[1500];
	ck_assert_msg(text_diff(want, got, why, sizeof(why)) == 0, "checksums: %s", why);
	free(got);

	harness_stop(&h);
	struct stat st;
	char buf[16];
	EXPECT_ERR(stat(mnt(&m, "c/one/append-me"), &st), EIO);
	EXPECT_ERR(stat(mnt(&m, "never-looked-up"), &st), EIO);
	EXPECT_ERR(readlink(mnt(&m, "c/dir-link"), buf, sizeof(buf)), EIO);

	harness_launch(&h);
	for (int pass = 0; pass < 2; pass++) {
		got = list_sums(m.dir);
		ck_assert_msg(text_diff(want, got, why, sizeof(why)) == 0, "pass %d: %s", pass, why);
		free(got);
	}
	free(want);
	mount_stop(&h, &m);
	harness_stop(&h);
}
END_TEST

/* ---- the suite ----------------------------------------------------------- */

static void fuse_setup(void)
{
	harness_base_setup();
	harness_mkdtemp(mnt_root, sizeof(mnt_root), "mnt-XXXXXX");
}

static void fuse_teardown(void)
{
	detach_leftovers();
	harness_base_teardown();
}

/* Why no test can mount here, or NULL if they can: ant-fuse mounts with
 * mount(2) and the tests unmount with umount(2), both root's, on FUSE. */
static const char *why_no_mount(char *buf, size_t len)
{
	if (geteuid() != 0)
		return "needs root: ant-fuse mounts, the tests unmount";
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(buf, len, "needs FUSE: cannot open /dev/fuse: %s", strerror(errno));
		return buf;
	}
	close(fd);
	return NULL;
}

static Suite *fuse_suite(void)
{
	char buf[128];
	const char *no = why_no_mount(buf, sizeof(buf));
	Suite *s = suite_create("fuse");
	TCase *tc = tcase_create("fuse");
	tcase_add_unchecked_fixture(tc, fuse_setup, fuse_teardown);
	tcase_set_timeout(tc, 300);
	ant_tcase_add_test_if(tc, test_tree_reads_whole, !no, no);
	ant_tcase_add_test_if(tc, test_changes_persist, !no, no);
	ant_tcase_add_test_if(tc, test_reads_and_writes_under_kills, !no, no);
	ant_tcase_add_test_if(tc, test_errors, !no, no);
	ant_tcase_add_test_if(tc, test_injected_eio_reaches_the_reader, !no, no);
	ant_tcase_add_test_if(tc, test_cache_upgrade_keeps_its_blocks, !no, no);
	ant_tcase_add_test_if(tc, test_antd_restart_under_mount, !no, no);
	ant_tcase_add_test_if(tc, test_antd_reexec_under_mount, !no, no);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(fuse_suite)
