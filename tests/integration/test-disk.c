/* test-disk.c - the disk driver: block reads and writes on an image antd opened and handed over. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define IMAGE_SIZE (8u << 20)

static const char disk_stack[] =
	"{ \"name\": \"t-disk\", \"servers\": ["
	" {\"name\":\"disk\",\"exec\":\"disk\",\"sandbox\":\"blockio\","
	"  \"files\":[{\"path\":\"@DIR@/disk.img\",\"write\":true}]} ]}";

/* An image of IMAGE_SIZE bytes, byte i = (i * 7 + i / 4096) & 0xff. */
static void make_image(struct harness *h)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/files/disk.img", h->dir);
	FILE *f = fopen(path, "w");
	ck_assert(f != NULL);
	for (unsigned i = 0; i < IMAGE_SIZE; i++)
		fputc((int)((i * 7 + i / 4096) & 0xff), f);
	fclose(f);
}

static unsigned char image_byte(unsigned i)
{
	return (unsigned char)((i * 7 + i / 4096) & 0xff);
}

static int call_disk(struct ant_conn *c, const char *op, const char *arg, struct ant_ica *data,
		     struct ant_result *res)
{
	struct ant_call x = { .server = "disk", .op = op, .arg = arg, .arglen = strlen(arg),
			      .data = data, .frame_flags = ANT_FF_IO_WAIT };
	return ant_call_sync(c, &x, res);
}

START_TEST(reads_writes_and_flushes_the_image)
{
	struct harness h;
	/* The image must exist before antd opens it: make the folder first. */
	harness_start_prepared(&h, disk_stack, make_image);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;

	ck_assert_int_eq(call_disk(c, "size", "", NULL, &res), 0);
	ck_assert(res.len == 7 && memcmp(res.bytes, "8388608", 7) == 0);

	/* A read: the bytes arrive in a data ICA the driver gave away. */
	ck_assert_int_eq(call_disk(c, "read", "4096 12288", NULL, &res), 12288);
	ck_assert_ptr_nonnull(res.data);
	const unsigned char *p = res.data->addr;
	for (unsigned i = 0; i < 12288; i++)
		if (p[i] != image_byte(4096 + i))
			ck_abort_msg("byte %u of the read differs", i);
	ant_ica_release(c, res.data);

	/* A write of 1 MiB, then flush, then the file on disk has it. */
	struct ant_ica *w;
	ck_assert_int_eq(ant_ica_alloc(c, 1 << 20, &w), 0);
	memset(w->addr, 0xab, 1 << 20);
	ck_assert_int_eq(call_disk(c, "write", "1048576 1048576", w, &res), 1 << 20);
	ck_assert_int_eq(call_disk(c, "flush", "", NULL, &res), 0);
	char path[400];
	snprintf(path, sizeof(path), "%s/files/disk.img", h.dir);
	int fd = open(path, O_RDONLY);
	ck_assert(fd >= 0);
	static unsigned char buf[1 << 20];
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 1 << 20), 1 << 20);
	for (unsigned i = 0; i < sizeof(buf); i++)
		if (buf[i] != 0xab)
			ck_abort_msg("byte %u of the written range is 0x%02x", i, buf[i]);
	unsigned char before;
	ck_assert_int_eq(pread(fd, &before, 1, (1 << 20) - 1), 1);
	ck_assert_uint_eq(before, image_byte((1 << 20) - 1));   /* its neighbour untouched */
	close(fd);
	ant_ica_release(c, res.data == w ? NULL : res.data);
	ant_ica_release(c, w);

	/* Reads at the end are short; bad requests are refused. */
	ck_assert_int_eq(call_disk(c, "read", "8388000 4096", NULL, &res), 608);
	ant_ica_release(c, res.data);
	ck_assert_int_eq(call_disk(c, "read", "nonsense", NULL, &res), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(call_disk(c, "write", "0 4096", NULL, &res), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(call_disk(c, "trim", "", NULL, &res), ANT_E_NO_OP);
	/* It runs as its own user, in the blockio sandbox. */
	json_t *s = harness_server_status(&h, "disk");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "sandbox"), "policy")),
			 "blockio");
	json_decref(s);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(a_missing_image_is_a_start_up_failure)
{
	struct harness h;
	char *out = NULL;
	harness_prepare(&h, disk_stack);
	char *const argv[] = { (char *)harness_antd(), "--foreground", "--run-dir", h.dir,
			       "--server-path", getenv("ANT_SERVERS_DIR"), h.stack_path, NULL };
	ck_assert_int_ne(harness_run(argv, &out), 0);
	ck_assert_msg(strstr(out, "files[0]:") && strstr(out, "disk.img: No such file"), "%s", out);
	free(out);
}
END_TEST

static Suite *disk_suite(void)
{
	Suite *s = suite_create("disk");
	TCase *tc = tcase_create("disk");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, reads_writes_and_flushes_the_image);
	tcase_add_test(tc, a_missing_image_is_a_start_up_failure);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(disk_suite)
