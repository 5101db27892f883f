/* test-ctl_time.c - the times an operator types for antctl log --since, and the times of antd's events. */
#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "check_main.h"
#include "ctl_time.h"

/* 2026-12-05 13:40:19 UTC; the tests run with TZ=UTC, so local time is UTC. */
#define NOW 1796478019.5

static double since(const char *s)
{
	double t = -12345;
	ck_assert_msg(ctl_parse_since(s, NOW, &t) == 0, "'%s' refused", s);
	return t;
}

static void refused(const char *s)
{
	double t;
	ck_assert_msg(ctl_parse_since(s, NOW, &t) == -1, "'%s' taken", s);
}

START_TEST(absolute_times)
{
	ck_assert_double_eq(since("2026-12-05 13:40:19"), 1796478019);
	ck_assert_double_eq(since("2026-12-05 13:40"), 1796478000);
	ck_assert_double_eq(since("2026-12-05"), 1796428800);
	ck_assert_double_eq(since("2026-12-05T13:40:19Z"), 1796478019);
	ck_assert_double_eq_tol(since("2026-12-05T13:40:19.275Z"), 1796478019.275, 1e-6);
	ck_assert_double_eq(since("13:40"), 1796478000);      /* today */
	ck_assert_double_eq(since("13:40:19"), 1796478019);
	ck_assert_double_eq(since("2026-12-05T00:00:00Z"), since("2026-12-05"));
}
END_TEST

START_TEST(relative_times)
{
	ck_assert_double_eq(since("10m ago"), NOW - 600);
	ck_assert_double_eq(since("-10m"), NOW - 600);
	ck_assert_double_eq(since("10m"), NOW - 600);
	ck_assert_double_eq(since("30s"), NOW - 30);
	ck_assert_double_eq(since("2 hours ago"), NOW - 7200);
	ck_assert_double_eq(since("1d"), NOW - 86400);
	ck_assert_double_eq(since("1.5min"), NOW - 90);
	ck_assert_double_eq(since("now"), NOW);
	ck_assert_double_eq(since("today"), 1796428800);
	ck_assert_double_eq(since("yesterday"), 1796428800 - 86400);
}
END_TEST

START_TEST(nonsense_is_refused)
{
	const char *bad[] = { "", "soon", "10", "10x", "10m ago ago", "-", "25:00", "13:60",
			      "2026-13-01", "2026-12-32", "2026-12-05 13", "2026-12-05X13:40",
			      "2026-12-05 13:40:19 junk", "13:40:99", "1e99s", "-5-m" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i]);
	double t;
	ck_assert_int_eq(ctl_parse_since(NULL, NOW, &t), -1);
}
END_TEST

START_TEST(event_times_from_socket_and_file)
{
	json_t *a = json_pack("{s:f}", "time", 1796478019.25);
	json_t *b = json_pack("{s:s}", "time", "2026-12-05T13:40:19.250Z");
	json_t *c = json_pack("{s:s}", "time", "garbage");
	json_t *d = json_object();
	ck_assert_double_eq_tol(ctl_event_time(a), 1796478019.25, 1e-6);
	ck_assert_double_eq_tol(ctl_event_time(b), 1796478019.25, 1e-6);
	ck_assert_double_eq(ctl_event_time(c), -1);
	ck_assert_double_eq(ctl_event_time(d), -1);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
}
END_TEST

static Suite *ctl_time_suite(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	Suite *s = suite_create("ctl_time");
	TCase *tc = tcase_create("since");
	tcase_add_test(tc, absolute_times);
	tcase_add_test(tc, relative_times);
	tcase_add_test(tc, nonsense_is_refused);
	tcase_add_test(tc, event_times_from_socket_and_file);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(ctl_time_suite)
