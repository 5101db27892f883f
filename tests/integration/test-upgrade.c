/* test-upgrade.c - live upgrade under load: antctl upgrade and rollback of a relay in the middle of a chain, with its state, probation and refusals. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/errors.h"
#include "check_main.h"
#include "ctl_client.h"
#include "harness.h"
#include "load.h"

#define APPS 4
#define LOAD_PAUSE_US 0      /* calls without pause */

static const char stack[] =
	"{ \"name\": \"t-upgrade\", \"servers\": ["
	" {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"relay2\"],\"calls\":[\"relay2\"]},"
	" {\"name\":\"relay2\",\"exec\":\"relay\",\"args\":[\"relay3\"],\"calls\":[\"relay3\"],"
	"  \"supervision\":{\"deadline_ms\":1000}},"
	" {\"name\":\"relay3\",\"exec\":\"relay\"} ],"
	" \"apps\": { \"calls\": [\"relay1\", \"relay2\", \"relay3\"] } }";

/* ---- antctl ----------------------------------------------------------------------- */

static long count_of(struct harness *h, const char *server)
{
	struct ant_conn *c = harness_connect(h);
	static struct ant_result res;
	ck_assert_int_eq(harness_call(c, server, "state-count", NULL, 0, &res), 0);
	char buf[32] = "";
	memcpy(buf, res.bytes, res.len < sizeof(buf) - 1 ? res.len : sizeof(buf) - 1);
	ant_close(c);
	return strtol(buf, NULL, 10);
}

/* ---- the tests -------------------------------------------------------------------- */

/* 20 upgrades of relay2 under 4 apps: no call lost or answered twice, its
 * counter state carried each time (with --verify-state), the generation
 * counting. */
START_TEST(twenty_upgrades_under_load_lose_nothing)
{
	struct harness h;
	harness_start(&h, stack);
	struct load l;
	load_start(&l, &h, APPS, LOAD_PAUSE_US);
	long before = 0;
	for (int i = 1; i <= 20; i++) {
		load_expect_progress(&l, 20);
		char version[32];
		snprintf(version, sizeof(version), "v%d", i);
		char *out;
		/* Every other one verifies the state. */
		int rc = i % 2 ? harness_antctl(&out, "--run-dir", h.dir, "upgrade", "relay2", "--probation",
					"50", "--verify-state", "--", "--version-name", version,
					"relay3", NULL)
			       : harness_antctl(&out, "--run-dir", h.dir, "upgrade", "relay2", "--probation",
					"50", "--", "--version-name", version, "relay3", NULL);
		ck_assert_msg(rc == 0, "upgrade %d: exit %d: %s", i, rc, out);
		ck_assert_msg(strstr(out, "relay2 upgraded: ") && strstr(out, version), "%s", out);
		free(out);
		json_t *s = harness_server_status(&h, "relay2");
		ck_assert_int_eq(json_integer_value(json_object_get(s, "generation")), i);
		ck_assert_str_eq(json_string_value(json_object_get(s, "version")), version);
		json_decref(s);
		long now = count_of(&h, "relay2");
		ck_assert_msg(now > before, "upgrade %d: the count went from %ld to %ld", i, before, now);
		before = now;
	}
	struct load_app sum;
	load_stop(&l, &sum);
	ck_assert_msg(sum.wrong == 0 && sum.errors == 0 && sum.ok > 1000,
		      "%ld right, %ld wrong, %ld errors (last %s)", sum.ok, sum.wrong, sum.errors,
		      ant_errname((int)sum.last_error));
	ck_assert_int_eq(harness_server_num(&h, "relay2", "restarts"), 0);
	harness_stop(&h);
}
END_TEST

/* A new version that crashes on its first request is rolled back; every
 * call is still answered, the one it crashed on by the old version. */
START_TEST(a_crashing_new_version_is_rolled_back_under_load)
{
	struct harness h;
	harness_start(&h, stack);
	struct load l;
	load_start(&l, &h, APPS, LOAD_PAUSE_US);
	harness_sleep_ms(100);
	pid_t old = harness_server_pid(&h, "relay2");
	char *out;
	int rc = harness_antctl(&out, "--run-dir", h.dir, "--json", "upgrade", "relay2", "--probation",
			"3000", "--", "--crash-on-request", "1", "relay3", NULL);
	ck_assert_msg(rc == 1 && strstr(out, "\"outcome\":\"rolled back\"") &&
		      strstr(out, "SIGSEGV"), "exit %d: %s", rc, out);
	free(out);
	ck_assert_int_eq(harness_server_pid(&h, "relay2"), old);
	ck_assert_int_eq(harness_server_num(&h, "relay2", "generation"), 2);
	load_expect_progress(&l, 20);
	struct load_app sum;
	load_stop(&l, &sum);
	ck_assert_msg(sum.wrong == 0 && sum.errors == 0, "%ld right, %ld wrong, %ld errors (last %s)",
		      sum.ok, sum.wrong, sum.errors, ant_errname((int)sum.last_error));
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "rolled-back [relay2] the new version failed on probation"), "%s",
		      log);
	free(log);
	harness_stop(&h);
}
END_TEST

/* Refusals change nothing: a state the new version refuses, a state that
 * comes back different, a program that is not there, an unknown or
 * stopped server, a rollback with nothing before. */
START_TEST(refused_upgrades_leave_the_old_version_serving)
{
	struct harness h;
	harness_start(&h, stack);
	pid_t old = harness_server_pid(&h, "relay2");
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "relay1", "before");
	long count = count_of(&h, "relay2");
	static const struct {
		const char *args[8];
		int rc;
		const char *says;
	} cases[] = {
		{ { "upgrade", "relay2", "--", "--refuse-state", "relay3" }, 1,
		  "the new version refused the state (ant-example-counter version 1): it refuses any state" },
		{ { "upgrade", "relay2", "--", "--state-version", "0", "relay3" }, 1,
		  "the new version's process ended" },
		{ { "upgrade", "relay2", "--verify-state", "--", "--skew-state", "relay3" }, 1,
		  "--verify-state: area 0 differs" },
		{ { "upgrade", "relay2", "--exec", "/nonexistent/relay" }, 1,
		  "--exec /nonexistent/relay: No such file or directory" },
		{ { "upgrade", "relay2", "--exec", "relative/relay" }, 2, "give an absolute path" },
		{ { "upgrade", "nosuch" }, 2, "unknown server \"nosuch\"" },
		{ { "rollback", "relay2" }, 1, "relay2 was never upgraded" },
		{ { "upgrade", "relay2", "extra" }, 2, "new arguments go after --" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16] = { (char *)harness_tool("antctl"), "--run-dir", h.dir };
		int n = 3;
		for (int k = 0; cases[i].args[k]; k++)
			argv[n++] = (char *)cases[i].args[k];
		argv[n] = NULL;
		char *out;
		int rc = harness_run(argv, &out);
		ck_assert_msg(rc == cases[i].rc && strstr(out, cases[i].says), "case %zu: exit %d: %s",
			      i, rc, out);
		free(out);
		ck_assert_int_eq(harness_server_pid(&h, "relay2"), old);
		harness_expect_echo(c, "relay1", "still the old version");
	}
	ck_assert_int_eq(harness_server_num(&h, "relay2", "generation"), 0);
	ck_assert_int_gt(count_of(&h, "relay2"), count);
	/* A stopped server is not upgraded. */
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "stop", "relay3", NULL), 0);
	free(out);
	for (int k = 0; k < 200 && !harness_server_state_is(&h, "relay3", "stopped"); k++)
		harness_sleep_ms(10);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "upgrade", "relay3", NULL), 1);
	ck_assert_msg(strstr(out, "relay3 is stopped: only a running server is upgraded"), "%s",
		      out);
	free(out);
	/* Upgrade, then rollback: back to the program before, state carried. */
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "upgrade", "relay2", "--probation", "0",
				"--", "--version-name", "two", "relay3", NULL), 0);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "rollback", "relay2", "--probation", "0",
				NULL), 0);
	ck_assert_msg(strstr(out, "relay2 rolled back: "), "%s", out);
	free(out);
	json_t *s = harness_server_status(&h, "relay2");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "generation")), 2);
	ck_assert_msg(!json_string_value(json_object_get(s, "version")) ||
		      strcmp(json_string_value(json_object_get(s, "version")), "two") != 0,
		      "still version two");
	json_decref(s);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* A server with a warm spare: the spare of the old version gives its slot
 * up, and after the probation the new spare runs the new version (a
 * failover keeps it). */
START_TEST(a_warm_standby_server_is_upgraded_spare_and_all)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-upgrade-hot\", \"servers\": ["
			  " {\"name\":\"hot\",\"exec\":\"echo\",\"policy\":\"hot-standby\"} ]}");
	for (int i = 0; i < 500 && !harness_server_true(&h, "hot", "standby_ready"); i++)
		harness_sleep_ms(10);
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "upgrade", "hot", "--probation", "200",
				"--", "--version-name", "v2", NULL), 0);
	free(out);
	for (int i = 0; i < 500 && !harness_server_true(&h, "hot", "standby_ready"); i++)
		harness_sleep_ms(10);
	ck_assert_int_eq(harness_server_true(&h, "hot", "standby_ready"), 1);
	pid_t pid = harness_server_pid(&h, "hot");
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "hot", "after a failover");
	json_t *s = harness_server_status(&h, "hot");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "failovers")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(s, "version")), "v2");
	ck_assert_int_ne(json_integer_value(json_object_get(s, "pid")), pid);
	json_decref(s);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

static Suite *upgrade_suite(void)
{
	Suite *s = suite_create("upgrade");
	TCase *tc = tcase_create("upgrade");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_add_test(tc, refused_upgrades_leave_the_old_version_serving);
	tcase_add_test(tc, a_crashing_new_version_is_rolled_back_under_load);
	tcase_add_test(tc, twenty_upgrades_under_load_lose_nothing);
	tcase_add_test(tc, a_warm_standby_server_is_upgraded_spare_and_all);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(upgrade_suite)
