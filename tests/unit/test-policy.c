/* test-policy.c - supervision policies: defaults, files, inline keys, errors, backoff, replay choice. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

static char err[512];

static int apply(struct policy *p, const char *json)
{
	json_error_t je;
	json_t *o = json_loads(json, 0, &je);
	ck_assert_msg(o != NULL, "test JSON: %s", je.text);
	err[0] = '\0';
	int r = policy_apply(p, o, "s.json", "servers[0].supervision", err, sizeof(err));
	json_decref(o);
	return r;
}

static void expect_error(const char *json, const char *what)
{
	struct policy p;
	policy_defaults(&p);
	ck_assert_int_eq(apply(&p, json), -1);
	ck_assert_msg(strstr(err, what) != NULL, "error \"%s\" does not say \"%s\"", err, what);
	ck_assert_msg(strncmp(err, "s.json: servers[0].supervision", 30) == 0, "error: %s", err);
}

START_TEST(defaults_match_the_shipped_default_policy)
{
	struct policy d, f;
	policy_defaults(&d);
	policy_defaults(&f);
	/* Start from something else so that every key of the file must act. */
	f.restart = RESTART_TEMPORARY;
	f.max_restarts = 77;
	f.period_s = 77;
	f.on_give_up = GIVE_UP_STOP_STACK;
	f.retry_after_s = f.retry_max_s = 77;
	f.backoff_initial_ms = f.backoff_base_ms = f.backoff_cap_ms = 77;
	f.backoff_jitter = 0.77;
	f.strategy = STRATEGY_ONE_FOR_ALL;
	f.replay = REPLAY_NEVER;
	f.poison_kills = f.deadline_ms = f.io_deadline_ms = f.ready_timeout_ms = 77;
	f.standby = 1;
	snprintf(f.name, sizeof(f.name), "x");
	const char *dir = getenv("ANT_POLICY_PATH");
	ck_assert_msg(dir, "ANT_POLICY_PATH not set");
	ck_assert_msg(policy_load(&f, "default", dir, "test", err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(f.name, "default");
	ck_assert(memcmp(&d, &f, sizeof(d)) == 0);
}
END_TEST

START_TEST(every_shipped_policy_loads)
{
	const char *names[] = { "default", "critical", "transient", "temporary", "hot-standby" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct policy p;
		policy_defaults(&p);
		ck_assert_msg(policy_load(&p, names[i], getenv("ANT_POLICY_PATH"), "test", err,
					  sizeof(err)) == 0, "%s: %s", names[i], err);
		ck_assert_str_eq(p.name, names[i]);
	}
}
END_TEST

START_TEST(inline_keys_override)
{
	struct policy p;
	policy_defaults(&p);
	ck_assert_int_eq(apply(&p, "{\"restart\":\"transient\",\"intensity\":{\"max_restarts\":3,"
			  "\"period_s\":2.5},\"on_give_up\":\"stop_stack\",\"backoff\":{\"base_ms\":5},"
			  "\"strategy\":\"rest_for_one\",\"replay\":\"idempotent\","
			  "\"idempotent_ops\":[\"read\",\"stat\"],\"never_replay_ops\":[\"write\"],"
			  "\"poison_kills\":2,\"deadline_ms\":100,\"io_deadline_ms\":900,"
			  "\"ready_timeout_ms\":50,\"standby\":1}"), 0);
	ck_assert_int_eq(p.restart, RESTART_TRANSIENT);
	ck_assert_uint_eq(p.max_restarts, 3);
	ck_assert(p.period_s == 2.5);
	ck_assert_int_eq(p.on_give_up, GIVE_UP_STOP_STACK);
	ck_assert_uint_eq(p.backoff_base_ms, 5);
	ck_assert_uint_eq(p.backoff_cap_ms, 1000);   /* untouched */
	ck_assert_int_eq(p.strategy, STRATEGY_REST_FOR_ONE);
	ck_assert_int_eq(p.replay, REPLAY_IDEMPOTENT);
	ck_assert_uint_eq(p.nidempotent, 2);
	ck_assert_uint_eq(p.poison_kills, 2);
	ck_assert_uint_eq(p.deadline_ms, 100);
	ck_assert_uint_eq(p.io_deadline_ms, 900);
	ck_assert_uint_eq(p.ready_timeout_ms, 50);
	ck_assert_uint_eq(p.standby, 1);
	ck_assert(policy_may_replay(&p, "read") && policy_may_replay(&p, "stat"));
	ck_assert(!policy_may_replay(&p, "write") && !policy_may_replay(&p, "mkdir"));
}
END_TEST

START_TEST(bad_values_name_the_key)
{
	expect_error("{\"restrat\":\"permanent\"}", "unknown key \"restrat\"");
	expect_error("{\"restart\":\"sometimes\"}", "restart: must be one of permanent, transient, temporary");
	expect_error("{\"intensity\":{\"max_restarts\":-1}}", "intensity.max_restarts");
	expect_error("{\"intensity\":{\"period_s\":0}}", "intensity.period_s");
	expect_error("{\"intensity\":{\"burst\":1}}", "intensity: unknown key \"burst\"");
	expect_error("{\"backoff\":{\"jitter\":1.5}}", "backoff.jitter");
	expect_error("{\"backoff\":3}", "backoff: must be an object");
	expect_error("{\"strategy\":\"all_for_one\"}", "strategy: must be one of");
	expect_error("{\"replay\":true}", "replay: must be one of always, idempotent, never");
	expect_error("{\"idempotent_ops\":[\"\"]}", "idempotent_ops[0]");
	expect_error("{\"never_replay_ops\":\"write\"}", "never_replay_ops");
	expect_error("{\"poison_kills\":0}", "poison_kills");
	expect_error("{\"standby\":2}", "standby");
	expect_error("[]", "must be an object");
}
END_TEST

START_TEST(missing_or_broken_policy_files)
{
	struct policy p;
	policy_defaults(&p);
	ck_assert_int_eq(policy_load(&p, "nosuch", "/nonexistent:/tmp", "s.json: servers[0].policy",
				     err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no policy \"nosuch\"") && strstr(err, "/nonexistent:/tmp"), "%s", err);
	ck_assert_int_eq(policy_load(&p, "../etc/passwd", "/tmp", "w", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a policy name"), "%s", err);
	char dir[] = "/tmp/ant-policy-XXXXXX";
	ck_assert(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/broken.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"restart\": \"permanent\",, }", f);
	fclose(f);
	ck_assert_int_eq(policy_load(&p, "broken", dir, "w", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "broken.json: line 1"), "%s", err);
	f = fopen(path, "w");
	fputs("{\"standby\": 7}", f);
	fclose(f);
	ck_assert_int_eq(policy_load(&p, "broken", dir, "w", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "broken.json: standby: must be an integer from 0 to 1"), "%s", err);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(backoff_doubles_to_the_cap_with_jitter)
{
	struct policy p;
	policy_defaults(&p);
	p.backoff_initial_ms = 0;
	p.backoff_base_ms = 10;
	p.backoff_cap_ms = 100;
	p.backoff_jitter = 0;
	unsigned mid = 1u << 31;   /* random value that means "no jitter" */
	ck_assert_uint_eq(policy_backoff_ms(&p, 1, mid), 0);
	ck_assert_uint_eq(policy_backoff_ms(&p, 2, mid), 10);
	ck_assert_uint_eq(policy_backoff_ms(&p, 3, mid), 20);
	ck_assert_uint_eq(policy_backoff_ms(&p, 4, mid), 40);
	ck_assert_uint_eq(policy_backoff_ms(&p, 5, mid), 80);
	ck_assert_uint_eq(policy_backoff_ms(&p, 6, mid), 100);
	ck_assert_uint_eq(policy_backoff_ms(&p, 60, mid), 100);
	p.backoff_jitter = 0.5;
	ck_assert_uint_eq(policy_backoff_ms(&p, 4, 0), 20);            /* 40 * 0.5 */
	ck_assert_uint_eq(policy_backoff_ms(&p, 4, 0xffffffffu), 60);  /* 40 * 1.5 */
	unsigned lo = 1000, hi = 0;
	for (unsigned r = 0; r < 1000; r++) {
		unsigned v = policy_backoff_ms(&p, 4, r * 4294967u);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	ck_assert(lo >= 20 && hi <= 60 && hi - lo >= 30);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	tcase_add_test(tc, defaults_match_the_shipped_default_policy);
	tcase_add_test(tc, every_shipped_policy_loads);
	tcase_add_test(tc, inline_keys_override);
	tcase_add_test(tc, bad_values_name_the_key);
	tcase_add_test(tc, missing_or_broken_policy_files);
	tcase_add_test(tc, backoff_doubles_to_the_cap_with_jitter);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(policy_suite)
