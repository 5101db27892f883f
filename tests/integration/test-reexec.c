/* test-reexec.c - antd re-executes itself (antctl reexec) under load: same server pids, every call answered once, the same fds; refusals and the way back. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/errors.h"
#include "check_main.h"
#include "harness.h"
#include "load.h"

#define APPS 4

static const char stack[] =
	"{ \"name\": \"t-reexec\", \"servers\": ["
	" {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"relay2\"],\"calls\":[\"relay2\"]},"
	" {\"name\":\"relay2\",\"exec\":\"relay\",\"args\":[\"relay3\"],\"calls\":[\"relay3\"]},"
	" {\"name\":\"relay3\",\"exec\":\"relay\"},"
	" {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"300\"]} ],"
	" \"apps\": { \"calls\": [\"relay1\", \"relay2\", \"relay3\", \"slow\"] } }";

static const char *const names[] = { "relay1", "relay2", "relay3", "slow" };
#define NSERVERS 4

static long antd_num(struct harness *h, const char *key)
{
	json_t *st = harness_status(h);
	long v = (long)json_integer_value(json_object_get(json_object_get(st, "antd"), key));
	json_decref(st);
	return v;
}

/* antd's open fds, once the forker of the antd before is reaped and the new
 * one runs (both take a moment after a re-exec). */
static int settled_fds(struct harness *h, int want)
{
	int n = harness_count_fds(h->antd);
	for (int i = 0; i < 100 && n != want; i++) {
		harness_sleep_ms(20);
		n = harness_count_fds(h->antd);
	}
	return n;
}

/* 20 re-execs under 4 apps calling through the 3-chain: every server keeps
 * its pid, antd its pid and its fd count; no call is lost or answered
 * twice; the counters go on. */
START_TEST(twenty_reexecs_under_load_lose_nothing)
{
	struct harness h;
	harness_start(&h, stack);
	pid_t pids[NSERVERS];
	for (int k = 0; k < NSERVERS; k++)
		pids[k] = harness_server_pid(&h, names[k]);
	struct load l;
	load_start(&l, &h, APPS, 0);
	load_expect_progress(&l, 200);
	int fds = harness_count_fds(h.antd);
	long served = harness_server_num(&h, "relay1", "served");
	for (int i = 1; i <= 20; i++) {
		load_expect_progress(&l, 20);
		char *out;
		int rc = harness_antctl(&out, "--run-dir", h.dir, "reexec", NULL);
		ck_assert_msg(rc == 0, "re-exec %d: exit %d: %s", i, rc, out);
		ck_assert_msg(strstr(out, "antd re-executed: "), "%s", out);
		free(out);
		ck_assert_int_eq(antd_num(&h, "reexecs"), i);
		for (int k = 0; k < NSERVERS; k++)
			ck_assert_int_eq(harness_server_pid(&h, names[k]), pids[k]);
		long now = harness_server_num(&h, "relay1", "served");
		ck_assert_msg(now >= served, "relay1 served %ld before, %ld after", served, now);
		served = now;
	}
	load_expect_progress(&l, 200);
	/* (the apps' connections still open: they count) */
	int after = settled_fds(&h, fds);
	ck_assert_msg(after == fds, "antd had %d fds before the re-execs, %d after", fds, after);
	struct load_app sum;
	load_stop(&l, &sum);
	ck_assert_msg(sum.wrong == 0 && sum.errors == 0 && sum.ok > 1000,
		      "%ld right, %ld wrong, %ld errors (last %s)", sum.ok, sum.wrong, sum.errors,
		      ant_errname((int)sum.last_error));
	for (int k = 0; k < NSERVERS; k++)
		ck_assert_int_eq(harness_server_num(&h, names[k], "restarts"), 0);
	ck_assert_int_eq(kill(h.antd, 0), 0);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "reexec-done") && strstr(log, "(re-exec 20)"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

/* Calls that a server holds, and calls queued behind it, at the moment of
 * the exec: each answered once, by the same server process. */
START_TEST(calls_held_and_queued_cross_the_exec)
{
	struct harness h;
	harness_start(&h, stack);
	struct ant_conn *c = harness_connect(&h);
	uint64_t t[5];
	for (int i = 0; i < 5; i++) {
		char arg[8];
		snprintf(arg, sizeof(arg), "s%d", i);
		struct ant_call x = { .server = "slow", .op = "echo", .arg = arg, .arglen = strlen(arg) };
		ck_assert_int_eq(ant_call_async(c, &x, &t[i]), 0);
	}
	harness_sleep_ms(100);   /* slow holds the first, the others wait in antd */
	json_t *s = harness_server_status(&h, "slow");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "inflight")), 1);
	ck_assert_int_ge(json_integer_value(json_object_get(s, "queued")), 1);
	json_decref(s);
	char *out;
	int rc = harness_antctl(&out, "--run-dir", h.dir, "--json", "reexec", NULL);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
	json_t *rep = json_loads(out, 0, NULL);
	ck_assert_msg(rep && json_integer_value(json_object_get(rep, "calls_in_flight")) >= 4, "%s",
		      out);
	json_decref(rep);
	free(out);
	int seen[5] = { 0 };
	for (int i = 0; i < 5; i++) {
		static struct ant_result res;
		ck_assert_int_eq(ant_wait(c, 0, &res, 10000), 0);
		ck_assert_int_eq(res.retval, 0);
		int k;
		for (k = 0; k < 5 && t[k] != res.ticket; k++)
			;
		ck_assert_msg(k < 5 && !seen[k], "ticket %llu: unknown or twice",
			      (unsigned long long)res.ticket);
		seen[k] = 1;
		char want[8];
		snprintf(want, sizeof(want), "s%d", k);
		ck_assert(res.len == strlen(want) && memcmp(res.bytes, want, res.len) == 0);
	}
	harness_expect_no_more_results(c);
	ck_assert_int_eq(harness_server_num(&h, "slow", "restarts"), 0);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* What cannot re-execute is refused with the reason, and antd goes on as
 * it was. */
START_TEST(refusals_change_nothing)
{
	struct harness h;
	harness_start(&h, stack);
	pid_t relay = harness_server_pid(&h, "relay2");
	char *out;
	/* A binary that does not read antd's state. */
	int rc = harness_antctl(&out, "--run-dir", h.dir, "reexec", "--exec", "/bin/true", NULL);
	ck_assert_msg(rc == 1 && strstr(out, "cannot take over"), "exit %d: %s", rc, out);
	free(out);
	/* One that is not there (antctl says it before asking). */
	rc = harness_antctl(&out, "--run-dir", h.dir, "reexec", "--exec", "/nonexistent/antd", NULL);
	ck_assert_msg(rc == 2 && strstr(out, "No such file"), "exit %d: %s", rc, out);
	free(out);
	/* One that is not executable. */
	rc = harness_antctl(&out, "--run-dir", h.dir, "reexec", "--exec", h.stack_path, NULL);
	ck_assert_msg(rc == 1 && strstr(out, "not executable"), "exit %d: %s", rc, out);
	free(out);
	/* While a fault is armed. */
	ck_assert_int_gt(harness_inject(&h, "relay3", "delay:50", "{\"nth\": 1000}"), 0);
	rc = harness_antctl(&out, "--run-dir", h.dir, "reexec", NULL);
	ck_assert_msg(rc == 1 && strstr(out, "armed"), "exit %d: %s", rc, out);
	free(out);
	rc = harness_antctl(&out, "--run-dir", h.dir, "inject", "--clear", NULL);
	ck_assert_msg(rc == 0, "%s", out);
	free(out);
	ck_assert_int_eq(antd_num(&h, "reexecs"), 0);
	ck_assert_int_eq(harness_server_pid(&h, "relay2"), relay);
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "relay1", "still");
	/* And now it can. */
	rc = harness_antctl(&out, "--run-dir", h.dir, "reexec", NULL);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
	free(out);
	harness_expect_echo(c, "relay1", "after");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

#ifndef ANT_NO_FAILPOINTS
/* A new antd that reads the state but cannot take over goes back to the
 * binary before, with the same state: the operator hears why, nothing was
 * lost, no fd left behind.  how: the test switch's value (a reason: it
 * fails at once; "late": once every table but the last server is taken). */
static void hand_back(const char *how, const char *says)
{
	setenv("ANTD_TEST_RESUME_FAIL", how, 1);
	struct harness h;
	harness_start(&h, stack);
	unsetenv("ANTD_TEST_RESUME_FAIL");
	pid_t relay = harness_server_pid(&h, "relay2");
	struct load l;
	load_start(&l, &h, 2, 0);
	load_expect_progress(&l, 100);
	int fds = harness_count_fds(h.antd);
	char *out;
	for (int i = 0; i < 3; i++) {
		int rc = harness_antctl(&out, "--run-dir", h.dir, "reexec", NULL);
		ck_assert_msg(rc == 1 && strstr(out, "could not take over") && strstr(out, says),
			      "exit %d: %s", rc, out);
		free(out);
		load_expect_progress(&l, 50);
	}
	int after = settled_fds(&h, fds);
	ck_assert_msg(after == fds, "antd had %d fds before, %d after", fds, after);
	struct load_app sum;
	load_stop(&l, &sum);
	ck_assert_msg(sum.wrong == 0 && sum.errors == 0, "%ld right, %ld wrong, %ld errors", sum.ok,
		      sum.wrong, sum.errors);
	ck_assert_int_eq(antd_num(&h, "reexecs"), 0);
	ck_assert_int_eq(harness_server_pid(&h, "relay2"), relay);
	ck_assert_int_eq(kill(h.antd, 0), 0);
	harness_stop(&h);
}

START_TEST(a_new_antd_that_cannot_take_over_hands_back)
{
	hand_back("testing: this antd will not take over", "this antd will not take over");
}
END_TEST

START_TEST(a_take_over_that_fails_half_way_hands_back)
{
	hand_back("late", "processes of slow are malformed");
}
END_TEST
#endif

static Suite *reexec_suite(void)
{
	Suite *s = suite_create("reexec");
	TCase *tc = tcase_create("reexec");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_add_test(tc, refusals_change_nothing);
	tcase_add_test(tc, calls_held_and_queued_cross_the_exec);
#ifndef ANT_NO_FAILPOINTS
	tcase_add_test(tc, a_new_antd_that_cannot_take_over_hands_back);
	tcase_add_test(tc, a_take_over_that_fails_half_way_hands_back);
#endif
	tcase_add_test(tc, twenty_reexecs_under_load_lose_nothing);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(reexec_suite)
