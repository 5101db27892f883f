/* test-disk.c - the disk driver: block reads and writes on an image antd opened and handed over. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

static const char cache_stack[] =
	"{ \"name\": \"t-cache\", \"servers\": ["
	" {\"name\":\"disk\",\"exec\":\"disk\",\"sandbox\":\"blockio\",\"args\":[\"--pause-ms\",\"%d\"],"
	"  \"files\":[{\"path\":\"@DIR@/disk.img\",\"write\":true}]},"
	" {\"name\":\"cache\",\"exec\":\"cache\",\"max_inflight\":32,\"calls\":[\"disk\"],"
	"  \"args\":[%s\"--block-size\",\"65536\",\"--blocks\",\"4\",\"disk\"]} ]}";

static void start_cache_with(struct harness *h, int disk_pause_ms, const char *extra_args)
{
	char stack[1024];
	snprintf(stack, sizeof(stack), cache_stack, disk_pause_ms, extra_args);
	harness_start_prepared(h, stack, make_image);
}

static void start_cache(struct harness *h, int disk_pause_ms)
{
	char stack[1024];
	snprintf(stack, sizeof(stack), cache_stack, disk_pause_ms, "");
	harness_start_prepared(h, stack, make_image);
}

static int cache_read(struct ant_conn *c, unsigned block, struct ant_result *res)
{
	char arg[32];
	snprintf(arg, sizeof(arg), "%u", block);
	struct ant_call x = { .server = "cache", .op = "read", .arg = arg, .arglen = strlen(arg) };
	return ant_call_sync(c, &x, res);
}

static void check_block(const struct ant_result *res, unsigned block)
{
	ck_assert_int_eq(res->retval, 65536);
	ck_assert_ptr_nonnull(res->data);
	const unsigned char *p = res->data->addr;
	for (unsigned i = 0; i < 65536; i++)
		if (p[i] != image_byte(block * 65536 + i))
			ck_abort_msg("block %u byte %u differs", block, i);
}

START_TEST(cached_blocks_reach_the_app_without_a_copy)
{
	struct harness h;
	start_cache(&h, 0);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result a, b;
	ck_assert_int_eq(cache_read(c, 3, &a), 65536);
	check_block(&a, 3);
	struct ant_ica *first = a.data;
	ck_assert_int_eq(cache_read(c, 3, &b), 65536);
	/* The second read is a hit: the same ICA (the same memfd pages the
	 * cache holds), handed read-only, and the disk read once. */
	ck_assert_ptr_eq(b.data, first);
	ck_assert(!first->writable);
	ck_assert_int_eq(harness_server_num(&h, "disk", "served"), 1);
	ck_assert_int_eq(mprotect(first->addr, 4096, PROT_READ | PROT_WRITE), -1);
	/* A second app gets the very same pages too. */
	struct ant_conn *c2 = harness_connect(&h);
	static struct ant_result d;
	ck_assert_int_eq(cache_read(c2, 3, &d), 65536);
	struct stat s1, s2;
	ck_assert_int_eq(fstat(first->fd, &s1), 0);
	ck_assert_int_eq(fstat(d.data->fd, &s2), 0);
	ck_assert_uint_eq(s1.st_ino, s2.st_ino);
	ck_assert_int_eq(harness_server_num(&h, "disk", "served"), 1);
	ant_close(c2);
	ant_ica_release(c, first);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(concurrent_misses_share_one_disk_read)
{
	struct harness h;
	start_cache(&h, 300);   /* the disk takes 300 ms a request */
	struct ant_conn *c = harness_connect(&h);
	uint64_t t[6];
	for (int i = 0; i < 6; i++) {
		/* Five readers of block 5, and one of block 1 (a second miss). */
		const char *arg = i == 3 ? "1" : "5";
		struct ant_call x = { .server = "cache", .op = "read", .arg = arg, .arglen = 1 };
		ck_assert_int_eq(ant_call_async(c, &x, &t[i]), 0);
	}
	static struct ant_result res;
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(ant_wait(c, t[i], &res, 5000), 0);
		check_block(&res, i == 3 ? 1 : 5);
	}
	ck_assert_int_eq(harness_server_num(&h, "disk", "served"), 2);
	static struct ant_result st;
	ck_assert_int_eq(harness_call(c, "cache", "stats", "", 0, &st), 0);
	ck_assert_msg(memmem(st.bytes, st.len, "misses 2 coalesced 4", 20), "%.*s", (int)st.len,
		      (const char *)st.bytes);
	harness_expect_no_more_results(c);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(lru_eviction_and_write_through)
{
	struct harness h;
	start_cache(&h, 0);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	/* Five blocks through a cache of four: block 0 is evicted. */
	for (unsigned b = 0; b < 5; b++) {
		ck_assert_int_eq(cache_read(c, b, &res), 65536);
		check_block(&res, b);
		ant_ica_release(c, res.data);
	}
	ck_assert_int_eq(cache_read(c, 4, &res), 65536);   /* a hit */
	ant_ica_release(c, res.data);
	ck_assert_int_eq(harness_server_num(&h, "disk", "served"), 5);
	ck_assert_int_eq(cache_read(c, 0, &res), 65536);   /* evicted: read again */
	ant_ica_release(c, res.data);
	ck_assert_int_eq(harness_server_num(&h, "disk", "served"), 6);

	/* A write goes through to the disk before it is answered. */
	struct ant_ica *w;
	ck_assert_int_eq(ant_ica_alloc(c, 65536, &w), 0);
	memset(w->addr, 0x5c, 65536);
	struct ant_call x = { .server = "cache", .op = "write", .arg = "2", .arglen = 1, .data = w };
	ck_assert_int_eq(ant_call_sync(c, &x, &res), 65536);
	ant_ica_release(c, w);
	char path[400];
	snprintf(path, sizeof(path), "%s/files/disk.img", h.dir);
	int fd = open(path, O_RDONLY);
	unsigned char byte = 0;
	ck_assert_int_eq(pread(fd, &byte, 1, 2 * 65536 + 100), 1);
	close(fd);
	ck_assert_uint_eq(byte, 0x5c);
	/* The cache forgot its stale copy: a read shows the new bytes. */
	ck_assert_int_eq(cache_read(c, 2, &res), 65536);
	ck_assert_uint_eq(((const unsigned char *)res.data->addr)[100], 0x5c);
	ant_ica_release(c, res.data);
	/* A crash of the cache loses nothing: the disk has every write. */
	kill(harness_server_pid(&h, "cache"), SIGKILL);
	ck_assert_int_eq(cache_read(c, 2, &res), 65536);
	ck_assert_uint_eq(((const unsigned char *)res.data->addr)[65535], 0x5c);
	ant_ica_release(c, res.data);
	/* flush goes on to the disk, which answers the app directly. */
	ck_assert_int_eq(harness_call(c, "cache", "flush", "", 0, &res), 0);
	char trace[128];
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, "app cache disk app");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(readahead_turns_a_sequential_scan_into_hits)
{
	struct harness h;
	start_cache_with(&h, 0, "\"--readahead\",\"3\",");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	ck_assert_int_eq(cache_read(c, 0, &res), 65536);
	check_block(&res, 0);
	ant_ica_release(c, res.data);
	/* Blocks 1-3 were asked for with block 0: reading them costs no disk read. */
	for (unsigned b = 1; b <= 3; b++) {
		ck_assert_int_eq(cache_read(c, b, &res), 65536);
		check_block(&res, b);
		ant_ica_release(c, res.data);
	}
	ck_assert_int_eq(harness_server_num(&h, "disk", "served"), 4);
	static struct ant_result st;
	ck_assert_int_eq(harness_call(c, "cache", "stats", "", 0, &st), 0);
	ck_assert_msg(memmem(st.bytes, st.len, "misses 1 ", 9) && memmem(st.bytes, st.len, "readaheads 3", 12),
		      "%.*s", (int)st.len, (const char *)st.bytes);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* A fill of the cache (or of the disk if server is "disk") into area. */
static int fill(struct ant_conn *c, const char *server, const char *arg, struct ant_ica *area,
		struct ant_result *res)
{
	struct ant_call x = { .server = server, .op = "fill", .arg = arg, .arglen = strlen(arg),
			      .data = area, .frame_flags = ANT_FF_IO_WAIT };
	return ant_call_sync(c, &x, res);
}

/* The runs "70000 5000 z 3000 200000 65536" in p: the image's bytes, zeros,
 * the image's bytes. */
static void check_fill(const unsigned char *p)
{
	for (unsigned i = 0; i < 5000; i++)
		if (p[i] != image_byte(70000 + i))
			ck_abort_msg("run 1 byte %u differs", i);
	for (unsigned i = 0; i < 3000; i++)
		if (p[5000 + i] != 0)
			ck_abort_msg("the hole's byte %u is not zero", i);
	for (unsigned i = 0; i < 65536; i++)
		if (p[8000 + i] != image_byte(200000 + i))
			ck_abort_msg("run 3 byte %u differs", i);
}

#define RUNS "70000 5000 z 3000 200000 65536"   /* check_fill's */

/* A fill of RUNS into area by server: its bytes right, the area back, and
 * the way it went (trace) want_trace. */
static void fill_and_check(struct ant_conn *c, const char *server, struct ant_ica *area,
			   const char *want_trace)
{
	static struct ant_result res;
	char trace[128];
	memset(area->addr, 0xee, area->size);
	ck_assert_int_eq(fill(c, server, RUNS, area, &res), 73536);
	ck_assert_ptr_eq(res.data, area);
	check_fill(area->addr);
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, want_trace);
}

static void expect_stats(struct ant_conn *c, const char *want)
{
	static struct ant_result st;
	ck_assert_int_eq(harness_call(c, "cache", "stats", "", 0, &st), 0);
	ck_assert_msg(memmem(st.bytes, st.len, want, strlen(want)), "want '%s' in '%.*s'", want,
		      (int)st.len, (const char *)st.bytes);
}

/*
 * fill: the bytes go into the caller's own area, which comes back with the
 * answer.  A miss goes on to the disk, which fills the area and answers the
 * caller directly; once the cache holds every block of the runs, it fills
 * the area itself.  Malformed fills get a clear error and change nothing.
 */
START_TEST(fills_put_the_bytes_in_the_callers_own_area)
{
	struct harness h;
	start_cache(&h, 0);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	static const char runs[] = RUNS;
	struct ant_ica *area;
	ck_assert_int_eq(ant_ica_alloc(c, 80000, &area), 0);

	/* A miss: the disk fills it, and answers the app. */
	fill_and_check(c, "cache", area, "app cache disk app");
	expect_stats(c, "misses 0 ");
	expect_stats(c, "fills 0 fills_to_disk 1");

	/* Blocks 1, 3 and 4 read into the cache: the next fill is the cache's. */
	for (unsigned b = 1; b <= 4; b += b == 1 ? 2 : 1) {
		static struct ant_result blk;
		ck_assert_int_eq(cache_read(c, b, &blk), 65536);
		ant_ica_release(c, blk.data);
	}
	int served = harness_server_num(&h, "disk", "served");
	fill_and_check(c, "cache", area, "app cache app");
	ck_assert_int_eq(harness_server_num(&h, "disk", "served"), served);
	expect_stats(c, "fills 1 fills_to_disk 1");

	/* The disk alone fills too. */
	fill_and_check(c, "disk", area, "app disk app");

	/* Malformed: each a clear error, the area untouched. */
	static const char *const bad[] = {
		"", "abc", "5", "5 0", " 5 5", "5  5", "5 5 ", "-1 5", "+1 5", "1 5x", "y 5",
		"18446744073709551615 1", "0 67108865", "z 67108864 z 1",
	};
	memset(area->addr, 0xee, area->size);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int d = 0; d < 2; d++) {
			int r = fill(c, d ? "disk" : "cache", bad[i], area, &res);
			ck_assert_msg(r == ANT_E_BAD_REQUEST, "fill '%s' of %s: %d", bad[i],
				      d ? "disk" : "cache", r);
			ck_assert_msg(res.len > 0 && memmem(res.bytes, res.len, "SRC LEN", 7),
				      "fill '%s': the answer says what is wrong: %.*s", bad[i],
				      (int)res.len, (const char *)res.bytes);
		}
	}
	char many[2048] = "";
	for (int i = 0; i < 65; i++)
		strcat(many, i ? " 0 1" : "0 1");
	ck_assert_int_eq(fill(c, "cache", many, area, &res), ANT_E_BAD_REQUEST);
	for (unsigned i = 0; i < area->size; i++)
		if (((unsigned char *)area->addr)[i] != 0xee)
			ck_abort_msg("a refused fill changed byte %u of the area", i);
	/* No area, or one too small for the runs. */
	ck_assert_int_eq(fill(c, "cache", runs, NULL, &res), ANT_E_BAD_REQUEST);
	ck_assert_int_eq(fill(c, "disk", runs, NULL, &res), ANT_E_BAD_REQUEST);
	struct ant_ica *small;
	ck_assert_int_eq(ant_ica_alloc(c, 4096, &small), 0);
	ck_assert_int_eq(fill(c, "cache", runs, small, &res), ANT_E_BAD_REQUEST);
	ck_assert_ptr_nonnull(memmem(res.bytes, res.len, "smaller", 7));
	ant_ica_release(c, small);
	/* Past the end of the image: the disk says EIO, through the cache. */
	char past[64];
	snprintf(past, sizeof(past), "%u 100", IMAGE_SIZE - 10);
	ck_assert_int_eq(fill(c, "cache", past, area, &res), -EIO);
	ant_ica_release(c, area);
	harness_expect_no_more_results(c);
	ant_close(c);
	harness_stop(&h);
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
	tcase_add_test(tc, cached_blocks_reach_the_app_without_a_copy);
	tcase_add_test(tc, concurrent_misses_share_one_disk_read);
	tcase_add_test(tc, lru_eviction_and_write_through);
	tcase_add_test(tc, readahead_turns_a_sequential_scan_into_hits);
	tcase_add_test(tc, fills_put_the_bytes_in_the_callers_own_area);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(disk_suite)
