/* test-fs_proto.c - the file server's wire format: what a client encodes, fs decodes the same; answers parse back. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs_proto.h"

/* Encode rq for op, decode it again, and expect the same request back. */
static void round_trip(enum fs_op op, const struct fs_req *rq, const char *text)
{
	char buf[FS_ARG_MAX];
	int n = fs_req_encode(op, rq, buf, sizeof(buf));
	ck_assert_int_eq(n, (int)strlen(text));
	ck_assert_str_eq(buf, text);
	struct fs_req back;
	ck_assert_int_eq(fs_req_decode(op, buf, &back), 0);
	ck_assert_str_eq(back.path, rq->path);
	if (rq->other)
		ck_assert_str_eq(back.other, rq->other);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(back.num[i], rq->num[i]);
	ck_assert_int_eq(back.has_owner, rq->has_owner);
	ck_assert_uint_eq(back.uid, rq->uid);
	ck_assert_uint_eq(back.gid, rq->gid);
}

START_TEST(every_shape_round_trips)
{
	round_trip(FS_STAT, &(struct fs_req){ .path = "/a b/c" }, "/a b/c");
	round_trip(FS_READ, &(struct fs_req){ .path = "/x 1", .num = { 7, 4096 } }, "/x 1 7 4096");
	round_trip(FS_WRITE, &(struct fs_req){ .path = "/x", .num = { 0, 1 } }, "/x 0 1");
	round_trip(FS_CREATE, &(struct fs_req){ .path = "/f", .num = { 0644 } }, "/f 0644");
	round_trip(FS_CHMOD, &(struct fs_req){ .path = "/f", .num = { 07777 } }, "/f 07777");
	round_trip(FS_TRUNCATE, &(struct fs_req){ .path = "/f", .num = { 0 } }, "/f 0");
	round_trip(FS_UTIMENS, &(struct fs_req){ .path = "/f", .num = { 1, 999999999, FS_TIME_MAX,
									 FS_TIME_OMIT } },
		   "/f 1 999999999 17179869183 1073741822");
	round_trip(FS_RENAME, &(struct fs_req){ .path = "/a", .other = "/b" }, "/a\n/b");
	round_trip(FS_SYMLINK, &(struct fs_req){ .path = "/l", .other = "../t x" }, "../t x\n/l");
	/* Any byte but NUL in a name, in the two-path ops too: escaped. */
	round_trip(FS_RENAME, &(struct fs_req){ .path = "/a\nb\\", .other = "/c\\n" },
		   "/a\\nb\\\\\n/c\\\\n");
	round_trip(FS_LINK, &(struct fs_req){ .path = "/old", .other = "/new @1:2" },
		   "/old\n/new @1:2");
	/* The owner of what is made. */
	round_trip(FS_CREATE, &(struct fs_req){ .path = "/f @9:9", .num = { 0640 }, .has_owner = 1,
						.uid = 65534, .gid = 100 }, "/f @9:9 0640 @65534:100");
	round_trip(FS_MKDIR, &(struct fs_req){ .path = "/d", .num = { 02755 } }, "/d 02755");
	round_trip(FS_SYMLINK, &(struct fs_req){ .path = "/l", .other = "t\nu", .has_owner = 1,
						 .uid = 7, .gid = 8 }, "t\\nu\n/l\n@7:8");
	round_trip(FS_MKNOD, &(struct fs_req){ .path = "/p", .num = { 010644, 0 }, .has_owner = 1,
					       .uid = 1, .gid = 1 }, "/p 010644 0 @1:1");
	round_trip(FS_MKNOD, &(struct fs_req){ .path = "/c", .num = { 020600, 0x12345 } },
		   "/c 020600 74565");
	round_trip(FS_CHOWN, &(struct fs_req){ .path = "/f", .num = { 65534, FS_NO_ID } },
		   "/f 65534 4294967295");
	round_trip(FS_GETXATTR, &(struct fs_req){ .path = "/f 1", .other = "user.a b\nc" },
		   "/f 1\nuser.a b\\nc");
	round_trip(FS_SETXATTR, &(struct fs_req){ .path = "/f", .other = "user.x",
						  .num = { FS_XATTR_CREATE, 65536 } },
		   "/f\nuser.x\n1 65536");
	round_trip(FS_REMOVEXATTR, &(struct fs_req){ .path = "/f", .other = "trusted.t" },
		   "/f\ntrusted.t");
	char buf[8];
	ck_assert_int_eq(fs_req_encode(FS_STATFS, &(struct fs_req){ 0 }, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	static const struct {
		enum fs_op op;
		const char *text;
	} bad[] = {
		{ FS_STAT, "relative" },        { FS_READ, "/x 1" },         { FS_READ, "/x 0 67108865" },
		{ FS_READ, "/x -1 5" },         { FS_CREATE, "/f 010000" },  { FS_CREATE, "/f 9" },
		{ FS_UTIMENS, "/f 1 4294967296" }, { FS_RENAME, "/a\n/b\n/c" }, { FS_RENAME, "/a\nb" },
		{ FS_SYMLINK, "\n/l" },         { FS_SYMLINK, "t\nl" },      { FS_TRUNCATE, "/f" },
		{ FS_UTIMENS, "/f 1 1000000000 0 0" }, { FS_UTIMENS, "/f 17179869184 0 0 0" },
		{ FS_RENAME, "/a\\x\n/b" },   { FS_RENAME, "/a\\\n/b" },  { FS_CREATE, "/f 0644 @1" },
		{ FS_CREATE, "/f 0644 @x:1" },  { FS_CREATE, "/f 0644 @4294967295:0" },
		{ FS_MKNOD, "/n 0200000 0" },   { FS_MKNOD, "/n 010644" },   { FS_CHOWN, "/f 1" },
		{ FS_CHOWN, "/f 1 4294967296" }, { FS_SYMLINK, "t\n/l\n@1" },
		{ FS_GETXATTR, "/f" },          { FS_GETXATTR, "/f\n" },     { FS_SETXATTR, "/f\nu.x\n3 1" },
		{ FS_SETXATTR, "/f\nu.x\n0 65537" }, { FS_SETXATTR, "/f\nu.x" }, { FS_SETXATTR, "/f\nu.x\n0" },
		{ FS_SETXATTR, "/f\nu.x\n4 0" }, { FS_REMOVEXATTR, "f\nu.x" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[64];
		struct fs_req rq;
		snprintf(buf, sizeof(buf), "%s", bad[i].text);
		ck_assert_msg(fs_req_decode(bad[i].op, buf, &rq) < 0, "%s '%s' was taken",
			      fs_op_name(bad[i].op), bad[i].text);
	}
	char big[FS_PATH_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	char out[FS_ARG_MAX];
	ck_assert_int_eq(fs_req_encode(FS_STAT, &(struct fs_req){ .path = big }, out, sizeof(out)),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fs_path_check("/a\nb"), 0);
}
END_TEST

START_TEST(op_names_are_one_table)
{
	for (int op = 0; op < FS_NOPS; op++)
		ck_assert_int_eq(fs_op_find(fs_op_name((enum fs_op)op)), op);
	ck_assert_int_eq(fs_op_find("hardlink"), -1);
	ck_assert_ptr_null(fs_op_name(FS_NOPS));
}
END_TEST

START_TEST(answers_parse_back)
{
	struct fs_attr a = { .ino = 12, .mode = 0100644, .size = 5, .nlink = 1, .mtime = -3,
			     .uid = 1000, .gid = 100, .atime = 4, .ctime = 5, .blocks = 8 }, b;
	char text[320];
	int n = fs_attr_format(text, sizeof(text), &a);
	a.mtime_ns = 999999999, a.atime_ns = 1, a.rdev = 0x801;
	n = fs_attr_format(text, sizeof(text), &a);
	ck_assert_str_eq(text, "ino=12 mode=0100644 size=5 nlink=1 mtime=-3 uid=1000 gid=100 "
			       "atime=4 ctime=5 blocks=8 atime_ns=1 mtime_ns=999999999 ctime_ns=0 "
			       "rdev=2049");
	ck_assert_int_eq(fs_attr_parse(text, (size_t)n, &b), 0);
	ck_assert_uint_eq(b.have, FS_HAVE_MODE | FS_HAVE_ATIME | FS_HAVE_CTIME | FS_HAVE_BLOCKS);
	ck_assert(b.ino == a.ino && b.mode == a.mode && b.size == a.size && b.nlink == a.nlink &&
		  b.mtime == a.mtime && b.uid == a.uid && b.gid == a.gid && b.atime == a.atime &&
		  b.ctime == a.ctime && b.blocks == a.blocks && b.mtime_ns == a.mtime_ns &&
		  b.atime_ns == a.atime_ns && b.ctime_ns == 0 && b.rdev == a.rdev);
	ck_assert_int_eq(fs_attr_parse("ino=1 size=2", 12, &b), -1);   /* no mode */

	struct fs_statfs s = { 4096, 100, 50, 40, 64, 32, 255 }, t;
	n = fs_statfs_format(text, sizeof(text), &s);
	fs_statfs_parse(text, (size_t)n, &t);
	ck_assert_int_eq(memcmp(&s, &t, sizeof(s)), 0);

	char line[FS_DIRENT_MAX], name[64];
	n = fs_dirent_format(line, sizeof(line), "a\tb\\c\n", 7, 'f');
	ck_assert_str_eq(line, "a\\tb\\\\c\\n\t7\tf\n");
	const char *p = line;
	struct fs_dirent d;
	ck_assert_int_eq(fs_dirent_next(&p, line + n, &d), 1);
	ck_assert_uint_eq(d.ino, 7);
	ck_assert_int_eq(d.type, 'f');
	ck_assert_int_eq(fs_dirent_name(&d, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "a\tb\\c\n");
	ck_assert_int_eq(fs_dirent_next(&p, line + n, &d), 0);
}
END_TEST

static Suite *fs_proto_suite(void)
{
	Suite *s = suite_create("fs_proto");
	TCase *tc = tcase_create("fs_proto");
	tcase_add_test(tc, every_shape_round_trips);
	tcase_add_test(tc, bad_arguments_are_refused);
	tcase_add_test(tc, op_names_are_one_table);
	tcase_add_test(tc, answers_parse_back);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(fs_proto_suite)
