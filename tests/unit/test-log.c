/* test-log.c - antd's log: each kind of event rate-limited (what is dropped is counted and said), the file rotated past its size. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "log.h"

static char dir[] = "/tmp/ant-test-log-XXXXXX";
static char path[128];

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/antd.log", dir);
	ck_assert_int_eq(log_open(0, path), 0);
}

static void teardown(void)
{
	log_close();
	char p1[160];
	snprintf(p1, sizeof(p1), "%s.1", path);
	unlink(p1);
	unlink(path);
	rmdir(dir);
}

/* Lines of the log file that contain what. */
static int lines_with(const char *file, const char *what)
{
	FILE *f = fopen(file, "r");
	char line[2048];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return n;
}

START_TEST(a_flood_of_one_kind_is_cut_and_counted)
{
	for (int i = 0; i < 5000; i++)
		log_warn("flood", NULL, "line %d", i);
	log_info("other", "srv", "another kind still gets through");
	int flood = lines_with(path, " flood ");
	ck_assert_msg(flood >= 1000 && flood < 1100, "%d flood lines", flood);
	ck_assert_int_eq(lines_with(path, "another kind still gets through"), 1);
	ck_assert_int_eq(lines_with(path, "log-dropped"), 0);   /* said once it may log again */
	struct timespec ts = { 0, 50 * 1000000 };
	nanosleep(&ts, NULL);
	log_warn("flood", NULL, "after a pause");
	ck_assert_int_eq(lines_with(path, "after a pause"), 1);
	ck_assert_int_eq(lines_with(path, "log-dropped"), 1);
	ck_assert_msg(lines_with(path, "lines of event flood were not logged") == 1, "no count");
}
END_TEST

START_TEST(the_file_is_rotated_past_its_size)
{
	log_set_max_bytes(4000);
	for (int i = 0; i < 200; i++)
		log_info("rot", NULL, "line %d of the rotation test", i);
	char p1[160];
	snprintf(p1, sizeof(p1), "%s.1", path);
	struct stat a, b;
	ck_assert_int_eq(stat(path, &a), 0);
	ck_assert_int_eq(stat(p1, &b), 0);
	ck_assert_int_lt(a.st_size, 4000 + 200);
	ck_assert_int_lt(b.st_size, 4000 + 200);
	ck_assert_int_eq(lines_with(path, "line 199 of the rotation test"), 1);
	log_set_max_bytes(LOG_MAX_BYTES);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_flood_of_one_kind_is_cut_and_counted);
	tcase_add_test(tc, the_file_is_rotated_past_its_size);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(log_suite)
