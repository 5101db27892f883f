/* test-fswrite.c - changes through fs: each one a transaction, whole on the image across kills. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Restart at once, and do not give up: the kill tests restart servers often. */
#define SUP "\"supervision\":{\"intensity\":{\"max_restarts\":1000,\"period_s\":60}," \
	    "\"backoff\":{\"initial_ms\":0,\"base_ms\":0},\"poison_kills\":50}"

/* disk <- cache <- fs, 64 KiB cache blocks.  %s: the disk's extra
 * arguments, %s: fs's.  Without "--redo-log" in the disk's the log file is
 * handed over but unused. */
static const char fsw_stack[] =
	"{ \"name\": \"t-fsw\", \"servers\": ["
	" {\"name\":\"disk\",\"exec\":\"disk\",\"sandbox\":\"blockio\",\"args\":[%s],"
	"  \"files\":[{\"path\":\"@DIR@/fs.img\",\"write\":true},"
	"             {\"path\":\"@DIR@/fs.log\",\"write\":true,\"create\":true}]," SUP "},"
	" {\"name\":\"cache\",\"exec\":\"cache\",\"max_inflight\":32,\"calls\":[\"disk\"],"
	"  \"sandbox\":{\"groups\":[\"ant\",\"stdio\",\"mem\",\"time\"],\"rlimits\":{\"nofile\":1024}},"
	"  \"args\":[\"--block-size\",\"65536\",\"--blocks\",\"64\",\"--readahead\",\"2\",\"disk\"],"
	SUP "},"
	" {\"name\":\"fs\",\"exec\":\"fs\",\"calls\":[\"cache\"],"
	"  \"args\":[%s\"--block-size\",\"65536\",\"cache\"]," SUP "} ]}";

/* DIR/files/fs.img: an empty ext4 of 64 MiB with a file and a folder. */
static void make_image(struct harness *h)
{
	char tree[400], img[400], path[500];
	snprintf(tree, sizeof(tree), "%s/files/tree", h->dir);
	snprintf(img, sizeof(img), "%s/files/fs.img", h->dir);
	ck_assert(mkdir(tree, 0755) == 0);
	snprintf(path, sizeof(path), "%s/old.txt", tree);
	FILE *f = fopen(path, "w");
	ck_assert(f && fputs("made by mkfs\n", f) >= 0 && fclose(f) == 0);
	snprintf(path, sizeof(path), "%s/keep", tree);
	ck_assert(mkdir(path, 0755) == 0);
	char *out = NULL;
	char *argv[] = { (char *)harness_sbin("mkfs.ext4"), "-q", "-F", "-b", "4096", "-d", tree, img, "64M", NULL };
	int st = harness_run(argv, &out);
	ck_assert_msg(st == 0, "mkfs.ext4 failed (%d): %s", st, out);
	free(out);
}

static void start(struct harness *h, const char *disk_args, const char *fs_args)
{
	char stack[4096];
	snprintf(stack, sizeof(stack), fsw_stack, disk_args, fs_args);
	harness_start_prepared(h, stack, make_image);
}

/* e2fsck -fn finds the image clean (exit status 0). */
static void expect_fsck_clean(struct harness *h)
{
	char img[400];
	snprintf(img, sizeof(img), "%s/files/fs.img", h->dir);
	char *out = NULL;
	char *argv[] = { (char *)harness_sbin("e2fsck"), "-fn", img, NULL };
	int st = harness_run(argv, &out);
	ck_assert_msg(st == 0, "e2fsck -fn: status %d:\n%s", st, out);
	free(out);
}

/* ---- calling fs ---------------------------------------------------------- */

static struct ant_result res;

static const char *res_text(void)
{
	static char buf[ANT_CICA_SIZE + 1];
	size_t n = res.len < ANT_CICA_SIZE ? res.len : ANT_CICA_SIZE;
	if (n)
		memcpy(buf, res.bytes, n);
	buf[n] = '\0';
	return buf;
}

static int fs_call(struct ant_conn *c, const char *op, const char *arg)
{
	int r = harness_call(c, "fs", op, arg, 0, &res);
	if (res.data) {
		ant_ica_release(c, res.data);
		res.data = NULL;
	}
	return r;
}

/* fs_call that must succeed. */
static int fs_ok(struct ant_conn *c, const char *op, const char *arg)
{
	int r = fs_call(c, op, arg);
	ck_assert_msg(r >= 0, "%s %s: %s %s", op, arg, ant_errname(r), res_text());
	return r;
}

/* A stat key's number, or fails. */
static unsigned long long stat_key(struct ant_conn *c, const char *path, const char *key)
{
	fs_ok(c, "stat", path);
	char want[40];
	snprintf(want, sizeof(want), " %s=", key);
	char line[ANT_CICA_SIZE + 2] = " ";
	strcat(line, res_text());
	const char *p = strstr(line, want);
	ck_assert_msg(p != NULL, "stat %s: no %s in '%s'", path, key, line);
	return strtoull(p + strlen(want), NULL, strcmp(key, "mode") == 0 ? 8 : 10);
}

static unsigned char pattern(unsigned seed, uint64_t i)
{
	return (unsigned char)((i * 31 + seed * 7 + i / 4096) & 0xff);
}

/* Write n bytes of pattern seed at off into path. */
static int fs_write(struct ant_conn *c, const char *path, uint64_t off, size_t n, unsigned seed)
{
	struct ant_ica *ica;
	ck_assert_int_eq(ant_ica_alloc(c, n ? n : 1, &ica), 0);
	for (size_t i = 0; i < n; i++)
		((unsigned char *)ica->addr)[i] = pattern(seed, off + i);
	char arg[600];
	snprintf(arg, sizeof(arg), "%s %" PRIu64 " %zu", path, off, n);
	struct ant_call call = { .server = "fs", .op = "write", .arg = arg, .arglen = strlen(arg),
				 .data = ica, .data_flags = ANT_DF_DETACH };
	int r = ant_call_sync(c, &call, &res);
	if (res.data) {
		ant_ica_release(c, res.data);
		res.data = NULL;
	}
	return r;
}

/* setxattr with arg "PATH\nNAME\nFLAGS SIZE" and n bytes of value. */
static int fs_setxattr(struct ant_conn *c, const char *arg, const char *value, size_t n)
{
	struct ant_ica *ica;
	ck_assert_int_eq(ant_ica_alloc(c, n ? n : 1, &ica), 0);
	memcpy(ica->addr, value, n);
	struct ant_call call = { .server = "fs", .op = "setxattr", .arg = arg, .arglen = strlen(arg),
				 .data = ica, .data_flags = ANT_DF_DETACH };
	int r = ant_call_sync(c, &call, &res);
	if (res.data) {
		ant_ica_release(c, res.data);
		res.data = NULL;
	}
	return r;
}

/* path's bytes [off, off+n) are pattern seed (at their own offsets). */
static void expect_pattern(struct ant_conn *c, const char *path, uint64_t off, size_t n, unsigned seed)
{
	char arg[600];
	snprintf(arg, sizeof(arg), "%s %" PRIu64 " %zu", path, off, n);
	int r = harness_call(c, "fs", "read", arg, 0, &res);
	ck_assert_msg(r == (int)n, "read %s: %d (%s), wanted %zu", arg, r, res_text(), n);
	ck_assert(res.data != NULL);
	const unsigned char *p = res.data->addr;
	size_t i = 0;
	while (i < n && p[i] == pattern(seed, off + i))
		i++;   /* (not ck_assert per byte: check records each one) */
	ck_assert_msg(i == n, "%s: byte %" PRIu64 " differs", path, off + i);
	ant_ica_release(c, res.data);
	res.data = NULL;
}

/* The number of entries readdir lists. */
static unsigned entries(struct ant_conn *c, const char *path)
{
	int r = harness_call(c, "fs", "readdir", path, 0, &res);
	ck_assert_msg(r >= 0, "readdir %s: %s", path, ant_errname(r));
	const char *p = res.data ? res.data->addr : res.bytes;
	unsigned n = 0;
	for (int i = 0; i < r; i++)
		n += p[i] == '\n';
	if (res.data) {
		ant_ica_release(c, res.data);
		res.data = NULL;
	}
	return n;
}

/* ---- tests --------------------------------------------------------------- */

/* Every change op does what it says, the image stays clean, and it all is
 * still there after the stack is stopped and started again. */
START_TEST(test_changes_persist)
{
	struct harness h;
	start(&h, "\"--redo-log\"", "");
	struct ant_conn *c = harness_connect(&h);
	fs_ok(c, "mkdir", "/d 0755");
	fs_ok(c, "create", "/d/f 0644");
	ck_assert_msg(strncmp(res_text(), "ino=", 4) == 0, "create: %s", res_text());
	ck_assert_int_eq(fs_call(c, "create", "/d/f 0644"), -EEXIST);
	ck_assert_int_eq(fs_write(c, "/d/f", 0, 200000, 1), 200000);
	expect_pattern(c, "/d/f", 0, 200000, 1);
	/* Past the end: a hole, then 5000 bytes. */
	ck_assert_int_eq(fs_write(c, "/d/f", 1000000, 5000, 1), 5000);
	ck_assert_uint_eq(stat_key(c, "/d/f", "size"), 1005000);
	expect_pattern(c, "/d/f", 1000000, 5000, 1);
	fs_ok(c, "truncate", "/d/f 100000");
	ck_assert_uint_eq(stat_key(c, "/d/f", "size"), 100000);
	/* Overwrite in the middle, across a 64 KiB cache block boundary. */
	ck_assert_int_eq(fs_write(c, "/d/f", 60000, 10000, 1), 10000);
	expect_pattern(c, "/d/f", 0, 100000, 1);
	fs_ok(c, "symlink", "f\n/d/l");
	ck_assert_int_eq(fs_ok(c, "readlink", "/d/l"), 1);
	ck_assert_str_eq(res_text(), "f");
	fs_ok(c, "rename", "/d/f\n/d/g");
	ck_assert_int_eq(fs_call(c, "stat", "/d/f"), -ENOENT);
	fs_ok(c, "chmod", "/d/g 0600");
	ck_assert_uint_eq(stat_key(c, "/d/g", "mode"), 0100600);
	fs_ok(c, "utimens", "/d/g 1000 0 2000 0");
	ck_assert_uint_eq(stat_key(c, "/d/g", "atime"), 1000);
	ck_assert_uint_eq(stat_key(c, "/d/g", "mtime"), 2000);
	fs_ok(c, "create", "/d/gone 0644");
	fs_ok(c, "unlink", "/d/gone");
	ck_assert_int_eq(fs_call(c, "unlink", "/d/gone"), -ENOENT);
	/* A folder moved into another: its ".." follows, link counts too. */
	fs_ok(c, "mkdir", "/e 0700");
	fs_ok(c, "create", "/e/inside 0644");
	fs_ok(c, "rename", "/e\n/d/e");
	fs_ok(c, "lookup", "/d");
	char dino[32];
	snprintf(dino, sizeof(dino), "%s", res_text());
	fs_ok(c, "lookup", "/d/e/..");
	ck_assert_str_eq(res_text(), dino);
	ck_assert_uint_eq(stat_key(c, "/d", "nlink"), 3);
	ck_assert_int_eq(fs_call(c, "rename", "/d\n/d/e/x"), -EINVAL);   /* into itself */
	ck_assert_int_eq(fs_call(c, "rmdir", "/d/e"), -ENOTEMPTY);
	ck_assert_int_eq(fs_call(c, "unlink", "/d/e"), -EISDIR);
	fs_ok(c, "unlink", "/d/e/inside");
	fs_ok(c, "rmdir", "/d/e");
	ck_assert_uint_eq(stat_key(c, "/d", "nlink"), 2);
	/* Replacing rename. */
	fs_ok(c, "create", "/old2 0644");
	fs_ok(c, "rename", "/old2\n/old.txt");
	ck_assert_uint_eq(stat_key(c, "/old.txt", "size"), 0);
	/* 300 names: the folder grows by blocks.  Neither fs nor the cache
	 * keeps anything per change (a transaction's ICA passes through the
	 * cache): their fd counts do not grow with the changes. */
	fs_ok(c, "mkdir", "/d/many 0755");
	pid_t cache_pid = harness_server_pid(&h, "cache"), fs_pid = harness_server_pid(&h, "fs");
	pid_t disk_pid = harness_server_pid(&h, "disk");
	int cache_fds = 0, fs_fds = 0, disk_fds = 0;
	for (unsigned i = 0; i < 300; i++) {
		if (i == 20) {
			cache_fds = harness_count_fds(cache_pid);
			fs_fds = harness_count_fds(fs_pid);
			disk_fds = harness_count_fds(disk_pid);
		}
		char arg[128];
		snprintf(arg, sizeof(arg), "/d/many/a-longer-file-name-so-the-folder-grows-%03u 0644", i);
		fs_ok(c, "create", arg);
	}
	ck_assert_uint_eq(entries(c, "/d/many"), 300);
	/* (the cache may hold more blocks now, each an fd: at most its 64) */
	ck_assert_int_le(harness_count_fds(cache_pid), cache_fds + 64);
	ck_assert_int_le(harness_count_fds(fs_pid), fs_fds + 64);   /* fs maps up to 64 blocks */
	ck_assert_int_le(harness_count_fds(disk_pid), disk_fds + 2);
	/* Bad parameters are refused, not half-done. */
	ck_assert_int_eq(fs_call(c, "create", "/d/x"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "rename", "/d/g"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "chmod", "/d/g 99999"), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fs_call(c, "mkdir", "/nope/x 0755"), -ENOENT);
	ck_assert_uint_eq(harness_server_num(&h, "fs", "restarts"), 0);
	ant_close(c);
	harness_stop(&h);
	expect_fsck_clean(&h);

	harness_launch(&h);
	c = harness_connect(&h);
	expect_pattern(c, "/d/g", 0, 100000, 1);
	ck_assert_uint_eq(stat_key(c, "/d/g", "mode"), 0100600);
	ck_assert_uint_eq(entries(c, "/d/many"), 300);
	ck_assert_int_eq(fs_ok(c, "read", "/keep/../old.txt 0 100"), 0);
	ant_close(c);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* The POSIX ops as ext4 does them: owners, setgid folders, chown, hard
 * links, special files, times to the nanosecond, any byte in a name. */
START_TEST(test_posix_ops)
{
	struct harness h;
	start(&h, "\"--redo-log\"", "");
	struct ant_conn *c = harness_connect(&h);
	/* A new inode is its maker's; a setgid folder gives its group, and
	 * setgid to a folder made in it. */
	fs_ok(c, "mkdir", "/p 0777 @1000:100");
	ck_assert_uint_eq(stat_key(c, "/p", "uid"), 1000);
	ck_assert_uint_eq(stat_key(c, "/p", "gid"), 100);
	fs_ok(c, "chmod", "/p 02777");
	fs_ok(c, "create", "/p/f 0640 @65534:65534");
	ck_assert_uint_eq(stat_key(c, "/p/f", "uid"), 65534);
	ck_assert_uint_eq(stat_key(c, "/p/f", "gid"), 100);
	fs_ok(c, "mkdir", "/p/sub 0755 @65534:65534");
	ck_assert_uint_eq(stat_key(c, "/p/sub", "mode"), 042755);
	ck_assert_uint_eq(stat_key(c, "/p/sub", "gid"), 100);
	fs_ok(c, "symlink", "f\n/p/l\n@7:8");
	ck_assert_uint_eq(stat_key(c, "/p/l", "uid"), 7);
	/* chown: 4294967295 leaves an id; on a symlink, the link itself. */
	fs_ok(c, "chown", "/p/f 42 4294967295");
	ck_assert_uint_eq(stat_key(c, "/p/f", "uid"), 42);
	ck_assert_uint_eq(stat_key(c, "/p/f", "gid"), 100);
	fs_ok(c, "chown", "/p/l 9 9");
	ck_assert_uint_eq(stat_key(c, "/p/l", "uid"), 9);
	ck_assert_uint_eq(stat_key(c, "/p/f", "uid"), 42);
	/* Hard links: counted both ways; not of a folder. */
	fs_ok(c, "link", "/p/f\n/p/g");
	fs_ok(c, "link", "/p/g\n/h");
	ck_assert_uint_eq(stat_key(c, "/p/f", "nlink"), 3);
	ck_assert_uint_eq(stat_key(c, "/h", "ino"), stat_key(c, "/p/f", "ino"));
	fs_ok(c, "unlink", "/p/f");
	ck_assert_uint_eq(stat_key(c, "/h", "nlink"), 2);
	ck_assert_int_eq(fs_call(c, "link", "/p/sub\n/sub2"), -EPERM);
	ck_assert_int_eq(fs_call(c, "link", "/h\n/p/g"), -EEXIST);
	/* Special files: a FIFO, a character device (old number form), a block
	 * device (new form); not a folder. */
	fs_ok(c, "mknod", "/fifo 010600 0 @1:2");
	ck_assert_uint_eq(stat_key(c, "/fifo", "mode"), 010600);
	ck_assert_uint_eq(stat_key(c, "/fifo", "gid"), 2);
	fs_ok(c, "mknod", "/null 020666 259");          /* makedev(1, 3) */
	ck_assert_uint_eq(stat_key(c, "/null", "rdev"), 259);
	char arg[64];
	unsigned long long big = makedev(300, 70000);
	snprintf(arg, sizeof(arg), "/blk 060600 %llu", big);
	fs_ok(c, "mknod", arg);
	ck_assert_uint_eq(stat_key(c, "/blk", "rdev"), big);
	ck_assert_int_eq(fs_call(c, "mknod", "/d2 040755 0"), -EINVAL);
	/* Times to the nanosecond, past 2038; "now" and "leave it". */
	fs_ok(c, "utimens", "/h 4000000000 123456789 5 999999999");
	ck_assert_uint_eq(stat_key(c, "/h", "atime"), 4000000000ull);
	ck_assert_uint_eq(stat_key(c, "/h", "atime_ns"), 123456789);
	ck_assert_uint_eq(stat_key(c, "/h", "mtime_ns"), 999999999);
	fs_ok(c, "utimens", "/h 0 1073741822 0 1073741823");   /* OMIT, NOW */
	ck_assert_uint_eq(stat_key(c, "/h", "atime"), 4000000000ull);
	ck_assert_uint_ge(stat_key(c, "/h", "mtime"), (unsigned long long)time(NULL) - 60);
	ck_assert_int_eq(fs_call(c, "utimens", "/h 1 1000000000 1 0"), ANT_E_BAD_REQUEST);
	/* A name with a newline and a backslash, through rename (escaped). */
	fs_ok(c, "create", "/x 0644");
	fs_ok(c, "rename", "/x\n/a\\nb\\\\c");
	fs_ok(c, "stat", "/a\nb\\c");
	char name[300] = "/";
	memset(name + 1, 'n', 256);
	name[257] = '\0';
	ck_assert_int_eq(fs_call(c, "stat", name), -ENAMETOOLONG);
	/* Extended attributes: set (create, replace), read, listed, removed;
	 * ACLs refused (ant-fuse does not have the kernel enforce them). */
	ck_assert_int_eq(fs_setxattr(c, "/h\nuser.color\n1 4", "blue", 4), 0);
	ck_assert_int_eq(fs_setxattr(c, "/h\nuser.color\n1 3", "red", 3), -EEXIST);
	ck_assert_int_eq(fs_setxattr(c, "/h\nuser.size\n2 1", "L", 1), -ENODATA);
	ck_assert_int_eq(fs_ok(c, "getxattr", "/h\nuser.color"), 4);
	ck_assert_str_eq(res_text(), "blue");
	fs_ok(c, "setxattr", "/h\nuser.empty\n0 0");
	ck_assert_int_eq(fs_ok(c, "getxattr", "/h\nuser.empty"), 0);
	ck_assert_int_eq(fs_ok(c, "listxattr", "/h"), (int)sizeof("user.color\0user.empty"));
	ck_assert(memcmp(res.bytes, "user.color\0user.empty\0", res.len) == 0);
	fs_ok(c, "removexattr", "/h\nuser.color");
	ck_assert_int_eq(fs_call(c, "getxattr", "/h\nuser.color"), -ENODATA);
	ck_assert_int_eq(fs_call(c, "removexattr", "/h\nuser.color"), -ENODATA);
	ck_assert_int_eq(fs_setxattr(c, "/h\nsystem.posix_acl_access\n0 4", "\2\0\0\0", 4),
			 -EOPNOTSUPP);
	ck_assert_int_eq(fs_call(c, "setxattr", "/h\nuser.missing\n0 10"), ANT_E_BAD_REQUEST);
	/* Replayed after its commit: answered from the record, not EEXIST. */
	harness_inject(&h, "fs", "kill", "{\"point\":\"fs.after_commit\",\"count\":1}");
	fs_ok(c, "link", "/h\n/h2");
	ck_assert_msg(strncmp(res_text(), "ino=", 4) == 0, "link replayed: %s", res_text());
	ck_assert_uint_eq(stat_key(c, "/h", "nlink"), 3);
	ant_close(c);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* fs dies after its commit, before its answer: antd replays the change, and
 * fs answers it from the disk's record instead of doing it again. */
START_TEST(test_replay_of_applied_change)
{
	struct harness h;
	start(&h, "\"--redo-log\"", "");
	/* Every change commits, fs dies, its replay is answered from the record. */
	harness_inject(&h, "fs", "kill", "{\"point\":\"fs.after_commit\",\"count\":0}");
	struct ant_conn *c = harness_connect(&h);
	fs_ok(c, "create", "/MARK-file 0644");   /* not EEXIST */
	ck_assert_msg(strncmp(res_text(), "ino=", 4) == 0, "create: %s", res_text());
	ck_assert_int_eq(fs_write(c, "/MARK-file", 0, 70000, 3), 70000);
	fs_ok(c, "mkdir", "/MARK-dir 0755");
	fs_ok(c, "rename", "/MARK-dir\n/keep/MARK-moved");
	fs_ok(c, "unlink", "/MARK-file");          /* not ENOENT */
	ck_assert_int_eq(fs_call(c, "stat", "/MARK-file"), -ENOENT);
	fs_ok(c, "stat", "/keep/MARK-moved");
	ck_assert_uint_eq(harness_server_num(&h, "fs", "restarts"), 5);
	fs_ok(c, "stats", "");
	ck_assert_msg(strstr(res_text(), "replays_skipped 1") != NULL, "%s", res_text());
	ant_close(c);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* The disk dies half-way through writing a transaction to the image: the
 * next disk applies it again from its redo log, and the replayed commit is
 * not applied twice. */
START_TEST(test_disk_dies_mid_commit)
{
	struct harness h;
	start(&h, "\"--redo-log\"", "");
	harness_inject(&h, "disk", "kill", "{\"point\":\"disk.mid_commit\",\"nth\":2}");
	struct ant_conn *c = harness_connect(&h);
	fs_ok(c, "create", "/x 0644");                                /* commit 1 */
	ck_assert_int_eq(fs_write(c, "/x", 0, 300000, 5), 300000);    /* commit 2: dies */
	ck_assert_uint_eq(harness_server_num(&h, "disk", "restarts"), 1);
	expect_pattern(c, "/x", 0, 300000, 5);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "applying the transaction a dead driver left") != NULL, "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* A read can fill the caller's own data ICA (ant-fuse keeps one per
 * thread): the same area comes back, with the bytes, and fs keeps no hold. */
START_TEST(test_read_into_callers_ica)
{
	struct harness h;
	start(&h, "\"--redo-log\"", "");
	struct ant_conn *c = harness_connect(&h);
	fs_ok(c, "create", "/r 0644");
	ck_assert_int_eq(fs_write(c, "/r", 0, 300000, 9), 300000);
	struct ant_ica *mine;
	ck_assert_int_eq(ant_ica_alloc(c, 1 << 20, &mine), 0);
	pid_t fs_pid = harness_server_pid(&h, "fs");
	int fds = 0;
	for (int i = 0; i < 20; i++) {
		if (i == 2)
			fds = harness_count_fds(fs_pid);
		memset(mine->addr, 0, mine->size);
		struct ant_call call = { .server = "fs", .op = "read", .arg = "/r 1000 250000",
					 .arglen = strlen("/r 1000 250000"), .data = mine };
		ck_assert_int_eq(ant_call_sync(c, &call, &res), 250000);
		ck_assert_ptr_eq(res.data, mine);
		size_t k = 0;
		while (k < 250000 && ((unsigned char *)mine->addr)[k] == pattern(9, 1000 + k))
			k++;
		ck_assert_uint_eq(k, 250000);
	}
	ck_assert_int_le(harness_count_fds(fs_pid), fds + 2);   /* not one per read */
	/* At or past the end, and for a missing file: no bytes, no ICA back,
	 * and fs gives up only its own hold (it once freed it twice here). */
	static const char *const ends[] = { "/r 300000 4096", "/r 999999 10", "/nope 0 10" };
	for (unsigned i = 0; i < 3; i++) {
		struct ant_call e = { .server = "fs", .op = "read", .arg = ends[i],
				      .arglen = strlen(ends[i]), .data = mine };
		int r = ant_call_sync(c, &e, &res);
		ck_assert_int_eq(r, i < 2 ? 0 : -ENOENT);
		ck_assert_ptr_null(res.data);
	}
	memset(mine->addr, 1, 4096);   /* still ours, still mapped */
	ck_assert_uint_eq(harness_server_num(&h, "fs", "restarts"), 0);
	/* Too small an area: fs uses one of its own instead. */
	struct ant_ica *small;
	ck_assert_int_eq(ant_ica_alloc(c, 4096, &small), 0);
	struct ant_call call = { .server = "fs", .op = "read", .arg = "/r 0 100000",
				 .arglen = strlen("/r 0 100000"), .data = small };
	ck_assert_int_eq(ant_call_sync(c, &call, &res), 100000);
	ck_assert(res.data != NULL && res.data != small);
	ant_ica_release(c, res.data);
	ant_ica_release(c, small);
	ant_ica_release(c, mine);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* --sync (fdatasync between the steps of a commit) changes nothing a
 * caller sees: the same changes, the same clean image. */
START_TEST(test_sync_commits)
{
	struct harness h;
	start(&h, "\"--redo-log\",\"--sync\"", "");
	struct ant_conn *c = harness_connect(&h);
	fs_ok(c, "mkdir", "/s 0755");
	for (unsigned i = 0; i < 20; i++) {
		char path[64], arg[80];
		snprintf(path, sizeof(path), "/s/f%u", i);
		snprintf(arg, sizeof(arg), "%s 0644", path);
		fs_ok(c, "create", arg);
		ck_assert_int_eq(fs_write(c, path, 0, 5000 * i, i), (int)(5000 * i));
	}
	fs_ok(c, "flush", "");
	for (unsigned i = 1; i < 20; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/s/f%u", i);
		expect_pattern(c, path, 0, 5000 * i, i);
	}
	ant_close(c);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* A disk without a redo log takes no transactions: changes fail with a
 * clear error and the image is untouched. */
START_TEST(test_no_redo_log)
{
	struct harness h;
	start(&h, "", "");
	struct ant_conn *c = harness_connect(&h);
	ck_assert_int_eq(fs_call(c, "create", "/x 0644"), -EOPNOTSUPP);
	ck_assert_int_eq(fs_call(c, "stat", "/x"), -ENOENT);
	fs_ok(c, "stat", "/old.txt");
	ant_close(c);
	harness_stop(&h);
	expect_fsck_clean(&h);
}
END_TEST

/* ---- changes under random kills ------------------------------------------ */

#define KILLS 36

/* The writer: files of growing size in a few folders, some renamed, some
 * removed, until told to stop (stop_fd readable); then it reads back what
 * it should find.  Every call must succeed: a kill only makes it slower. */
static void writer(struct harness *h, int stop_fd)
{
	struct ant_conn *c = harness_connect(h);
	static char alive[4000];
	static unsigned sizes[4000];
	unsigned n = 0;
	char path[128], arg[300];
	for (;; n++) {
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(stop_fd, &fds);
		struct timeval tv = { 0, 0 };
		if (n >= 4000 || select(stop_fd + 1, &fds, NULL, NULL, &tv) > 0)
			break;
		if (n % 20 == 0) {
			snprintf(arg, sizeof(arg), "/w%u 0755", n / 20);
			fs_ok(c, "mkdir", arg);
		}
		snprintf(path, sizeof(path), "/w%u/f%u", n / 20, n);
		snprintf(arg, sizeof(arg), "%s 0644", path);
		fs_ok(c, "create", arg);
		sizes[n] = (n * 7919u) % 150000u;
		int r = fs_write(c, path, 0, sizes[n], n);
		ck_assert_msg(r == (int)sizes[n], "write %s: %s", path, ant_errname(r));
		alive[n] = 1;
		if (n % 5 == 4) {   /* rename the one before */
			snprintf(arg, sizeof(arg), "/w%u/f%u\n/w%u/g%u", (n - 1) / 20, n - 1, (n - 1) / 20, n - 1);
			fs_ok(c, "rename", arg);
			alive[n - 1] = 2;
		}
		if (n % 7 == 6) {   /* remove the one two back, if still a plain f */
			if (alive[n - 2] == 1) {
				snprintf(arg, sizeof(arg), "/w%u/f%u", (n - 2) / 20, n - 2);
				fs_ok(c, "unlink", arg);
				alive[n - 2] = 0;
			}
		}
	}
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/w%u/%c%u", i / 20, alive[i] == 2 ? 'g' : 'f', i);
		if (!alive[i]) {
			ck_assert_int_eq(fs_call(c, "stat", path), -ENOENT);
			continue;
		}
		ck_assert_uint_eq(stat_key(c, path, "size"), sizes[i]);
		if (sizes[i])
			expect_pattern(c, path, 0, sizes[i], i);
	}
	printf("writer: %u files written under kills\n", n);
	fflush(stdout);
	ant_close(c);
}

START_TEST(test_changes_under_kills)
{
	struct harness h;
	start(&h, "\"--redo-log\"", "");
	int stop[2];
	ck_assert(pipe(stop) == 0);
	pid_t w = fork();
	ck_assert(w >= 0);
	if (w == 0) {
		close(stop[1]);
		writer(&h, stop[0]);
		_exit(0);
	}
	close(stop[0]);
	static const char *const names[] = { "disk", "cache", "fs" };
	unsigned kills = 0, per[3] = { 0 };
	srand((unsigned)getpid());
	harness_sleep_ms(100);
	while (kills < KILLS) {
		harness_sleep_ms(40 + rand() % 60);
		unsigned k = (unsigned)rand() % 3;
		/* 0 while it is being restarted (slow under a sanitizer): then
		 * the next round picks again. */
		pid_t pid = harness_server_pid_now(&h, names[k]);
		if (pid > 0 && kill(pid, SIGKILL) == 0) {
			kills++;
			per[k]++;
		}
		int st;
		ck_assert_msg(waitpid(w, &st, WNOHANG) == 0, "the writer ended early (status 0x%x)", st);
	}
	ck_assert(write(stop[1], "x", 1) == 1);
	int st = 0;
	ck_assert(waitpid(w, &st, 0) == w);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer failed: 0x%x\n%s", st,
		      harness_read(&h, "antd.log"));
	printf("kills: disk %u, cache %u, fs %u\n", per[0], per[1], per[2]);
	ck_assert(per[0] && per[1] && per[2]);
	harness_stop(&h);
	expect_fsck_clean(&h);
	close(stop[1]);
}
END_TEST

static Suite *fswrite_suite(void)
{
	Suite *s = suite_create("fswrite");
	TCase *tc = tcase_create("fswrite");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_changes_persist);
	tcase_add_test(tc, test_replay_of_applied_change);
	tcase_add_test(tc, test_posix_ops);
	tcase_add_test(tc, test_disk_dies_mid_commit);
	tcase_add_test(tc, test_no_redo_log);
	tcase_add_test(tc, test_sync_commits);
	tcase_add_test(tc, test_read_into_callers_ica);
	tcase_add_test(tc, test_changes_under_kills);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(fswrite_suite)
