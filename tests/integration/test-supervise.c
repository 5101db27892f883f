/* test-supervise.c - servers that crash, hang or keep failing: restart, replay, poison, strategies, give-up. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(hang_past_deadline_is_killed_and_replayed)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-hang\", \"servers\": ["
			  " {\"name\":\"sleepy\",\"exec\":\"echo\","
			  "   \"supervision\": {\"deadline_ms\": 300}} ]}");
	harness_inject(&h, "sleepy", "hang", NULL);   /* its next request */
	struct ant_conn *c = harness_connect(&h);
	double t0 = now_ms();
	harness_expect_echo(c, "sleepy", "wake up");
	double took = now_ms() - t0;
	ck_assert_msg(took >= 300 && took < 3000, "answer after %.0f ms", took);
	ck_assert_int_eq(harness_server_num(&h, "sleepy", "restarts"), 1);
	ck_assert_int_eq(harness_server_num(&h, "sleepy", "replays"), 1);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "deadline 300 ms exceeded"), "%s", log);
	free(log);
	/* A call's own deadline overrides the server's. */
	struct ant_call x = { .server = "sleepy", .op = "echo", .arg = "quick", .arglen = 5,
			      .deadline_ms = 2000 };
	static struct ant_result res;
	ck_assert_int_eq(ant_call_sync(c, &x, &res), 0);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* antd's forker (the process that forks every server) dies: antd starts
 * another, and servers are restarted as before. */
START_TEST(a_dead_forker_is_replaced)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-forker\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	json_t *st = harness_status(&h);
	json_t *fk = json_object_get(st, "forker");
	pid_t forker = (pid_t)json_integer_value(json_object_get(fk, "pid"));
	json_decref(st);
	ck_assert_int_gt(forker, 0);
	ck_assert_int_eq(kill(forker, SIGKILL), 0);
	pid_t now = forker;
	for (int i = 0; i < 200 && now == forker; i++) {
		harness_sleep_ms(10);
		st = harness_status(&h);
		now = (pid_t)json_integer_value(json_object_get(json_object_get(st, "forker"), "pid"));
		json_decref(st);
	}
	ck_assert_int_gt(now, 0);
	ck_assert_int_ne(now, forker);
	/* A crash is restarted through the new forker, and serves. */
	pid_t e = harness_server_pid(&h, "e");
	ck_assert_int_eq(kill(e, SIGKILL), 0);
	harness_wait_state(&h, "e", "running", e);
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "e", "after the forker");
	ant_close(c);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "the forker (pid"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

/* A forker that stops answering (stuck in a lookup, say): the start it
 * holds fails after the spawn timeout, the forker is killed and replaced,
 * and the server is started again through the new one. */
START_TEST(a_stuck_forker_is_replaced)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-stuck\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	json_t *st = harness_status(&h);
	pid_t forker = (pid_t)json_integer_value(json_object_get(json_object_get(st, "forker"),
								  "pid"));
	json_decref(st);
	ck_assert_int_gt(forker, 0);
	ck_assert_int_eq(kill(forker, SIGSTOP), 0);
	pid_t e = harness_server_pid(&h, "e");
	ck_assert_int_eq(kill(e, SIGKILL), 0);
	pid_t now = 0;
	for (int i = 0; i < 1500 && !now; i++) {   /* the spawn timeout is 5 s */
		harness_sleep_ms(10);
		/* pid 0 while it is being restarted: not an error, not yet back. */
		pid_t p = harness_server_pid_now(&h, "e");
		if (p > 0 && p != e && harness_server_state_is(&h, "e", "running"))
			now = p;
	}
	ck_assert_msg(now > 0, "e did not come back after the forker was stuck");
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "e", "unstuck");
	ant_close(c);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "did not answer in time: killed") &&
		      strstr(log, "the forker did not answer in 5 s"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

/* A FIFO among a server's files: refused at once with the key named (it
 * would block the open, and no server may be handed one). */
static void make_fifo(struct harness *h)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/files/pipe", h->dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
}

START_TEST(a_fifo_among_the_files_is_refused_at_once)
{
	struct harness h;
	char *out = NULL;
	harness_prepare(&h, "{ \"name\": \"t-fifo\", \"servers\": ["
			    " {\"name\":\"reader\",\"exec\":\"echo\","
			    "  \"files\":[{\"path\":\"@DIR@/pipe\"}]} ]}");
	make_fifo(&h);
	char *const argv[] = { (char *)harness_antd(), "--foreground", "--run-dir", h.dir,
			       "--server-path", getenv("ANT_SERVERS_DIR"), h.stack_path, NULL };
	double t0 = now_ms();
	ck_assert_int_ne(harness_run(argv, &out), 0);
	ck_assert_msg(now_ms() - t0 < 3000, "refused after %.0f ms", now_ms() - t0);
	ck_assert_msg(strstr(out, "files[0]:") && strstr(out, "pipe: a FIFO; only regular files"),
		      "%s", out);
	free(out);
}
END_TEST

/* A symbolic link in files is not followed (antd runs as root). */
static void make_link(struct harness *h)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/files/link", h->dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
}

START_TEST(a_symbolic_link_among_the_files_is_refused)
{
	struct harness h;
	char *out = NULL;
	harness_prepare(&h, "{ \"name\": \"t-link\", \"servers\": ["
			    " {\"name\":\"reader\",\"exec\":\"echo\","
			    "  \"files\":[{\"path\":\"@DIR@/link\"}]} ]}");
	make_link(&h);
	char *const argv[] = { (char *)harness_antd(), "--foreground", "--run-dir", h.dir,
			       "--server-path", getenv("ANT_SERVERS_DIR"), h.stack_path, NULL };
	ck_assert_int_ne(harness_run(argv, &out), 0);
	ck_assert_msg(strstr(out, "files[0]:") && strstr(out, "a symbolic link (not followed)"),
		      "%s", out);
	free(out);
}
END_TEST

/* SIGKILLs from outside antd while a server holds a call say nothing about
 * the call: it is replayed each time and answered, never failed as poison
 * (poison_kills is 3; it is killed 4 times). */
static int holds_one(struct harness *h, const char *name)
{
	json_t *s = harness_server_status(h, name);
	int n = (int)json_array_size(json_object_get(s, "holding"));
	json_decref(s);
	return n == 1;
}

START_TEST(outside_kills_do_not_make_a_poison_request)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-outside\", \"servers\": ["
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"400\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	struct ant_call x = { .server = "slow", .op = "echo", .arg = "survives", .arglen = 8 };
	uint64_t ticket;
	ck_assert_int_eq(ant_call_async(c, &x, &ticket), 0);
	for (int k = 0; k < 4; k++) {
		int i;
		for (i = 0; i < 500 && !holds_one(&h, "slow"); i++)
			harness_sleep_ms(5);
		ck_assert_msg(i < 500, "slow never held the call (kill %d)", k);
		pid_t pid = harness_server_pid(&h, "slow");
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		harness_wait_state(&h, "slow", "running", pid);
	}
	static struct ant_result res;
	ck_assert_int_eq(ant_wait(c, ticket, &res, 10000), 0);
	ck_assert(res.len == 8 && memcmp(res.bytes, "survives", 8) == 0);
	ck_assert_int_eq(harness_server_num(&h, "slow", "replays"), 4);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* on_give_up retry: a given-up server comes back by itself after
 * retry_after_s, and the status says when meanwhile. */
START_TEST(a_given_up_server_is_tried_again)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-retry\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\",\"supervision\":{\"on_give_up\":\"retry\","
			  "  \"retry_after_s\":1,\"intensity\":{\"max_restarts\":1,\"period_s\":60}}} ]}");
	pid_t pid = harness_server_pid(&h, "e");
	ck_assert_int_eq(kill(pid, SIGSEGV), 0);
	pid = harness_wait_state(&h, "e", "running", pid);
	ck_assert_int_eq(kill(pid, SIGSEGV), 0);
	harness_wait_state(&h, "e", "failed", 0);
	json_t *s = harness_server_status(&h, "e");
	double in = json_real_value(json_object_get(s, "retry_in_s"));
	json_decref(s);
	ck_assert_msg(in > 0 && in <= 1, "retry_in_s %g", in);
	harness_wait_state(&h, "e", "running", pid);
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "e", "back by itself");
	ant_close(c);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "trying again in 1 s") && strstr(log, "retry [e]"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

START_TEST(poison_request_fails_after_k_attempts)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-poison\", \"servers\": ["
			  " {\"name\":\"front\",\"exec\":\"relay\",\"args\":[\"fragile\"],\"calls\":[\"fragile\"]},"
			  " {\"name\":\"fragile\",\"exec\":\"echo\"} ]}");
	/* Every request holding POISON, replays too, in every process. */
	harness_inject(&h, "fragile", "segv", "{\"match\":\"POISON\",\"count\":0}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	int sent = 0, answered = 0;
	sent++;
	ck_assert_int_eq(harness_call(c, "front", "echo", "a POISON pill", 0, &res),
			 ANT_E_SERVER_FAILED);
	answered++;
	ck_assert_msg(memmem(res.bytes, res.len, "poison request: fragile failed 3 times", 38) &&
		      memmem(res.bytes, res.len, "(last: injected fault 1 (segv))", 31),
		      "error text: %.*s", (int)res.len, (const char *)res.bytes);
	/* The next request is served, by the server that was killed 3 times. */
	for (int i = 0; i < 5; i++, sent++, answered++)
		harness_expect_echo(c, "front", "healthy");
	ck_assert_int_eq(sent, answered);
	ck_assert_int_eq(harness_server_num(&h, "fragile", "restarts"), 3);
	ck_assert_int_eq(harness_server_num(&h, "fragile", "replays"), 2);
	ck_assert_int_eq(harness_server_num(&h, "front", "restarts"), 0);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "poison [fragile]"), "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

static const char strategy_stack[] =
	"{ \"name\": \"t-strategy\", \"servers\": ["
	" {\"name\":\"s1\",\"exec\":\"echo\"},"
	" {\"name\":\"s2\",\"exec\":\"echo\",\"supervision\":{\"strategy\":\"%s\"}},"
	" {\"name\":\"s3\",\"exec\":\"echo\"} ]}";

static void check_strategy(const char *strategy, int s1_restarts, int s3_restarts)
{
	char stack[1024];
	snprintf(stack, sizeof(stack), strategy_stack, strategy);
	struct harness h;
	harness_start(&h, stack);
	pid_t p1 = harness_server_pid(&h, "s1"), p2 = harness_server_pid(&h, "s2"),
	      p3 = harness_server_pid(&h, "s3");
	ck_assert_int_eq(kill(p2, SIGKILL), 0);
	harness_wait_state(&h, "s2", "running", p2);
	if (s3_restarts)
		harness_wait_state(&h, "s3", "running", p3);
	if (s1_restarts)
		harness_wait_state(&h, "s1", "running", p1);
	harness_sleep_ms(200);
	ck_assert_int_eq(harness_server_num(&h, "s2", "restarts"), 1);
	ck_assert_int_eq(harness_server_num(&h, "s1", "restarts"), s1_restarts);
	ck_assert_int_eq(harness_server_num(&h, "s3", "restarts"), s3_restarts);
	ck_assert_int_eq(harness_server_pid(&h, "s1") != p1, s1_restarts);
	ck_assert_int_eq(harness_server_pid(&h, "s3") != p3, s3_restarts);
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "s1", "one");
	harness_expect_echo(c, "s2", "two");
	harness_expect_echo(c, "s3", "three");
	ant_close(c);
	harness_stop(&h);
}

START_TEST(one_for_one_restarts_only_the_failed_server)
{
	check_strategy("one_for_one", 0, 0);
}
END_TEST

START_TEST(rest_for_one_restarts_the_servers_started_after_it)
{
	check_strategy("rest_for_one", 0, 1);
}
END_TEST

START_TEST(one_for_all_restarts_every_server)
{
	check_strategy("one_for_all", 1, 1);
}
END_TEST

START_TEST(intensity_exceeded_gives_up_and_callers_fail_at_once)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-intensity\", \"servers\": ["
			  " {\"name\":\"front\",\"exec\":\"relay\",\"args\":[\"weak\"],\"calls\":[\"weak\"]},"
			  " {\"name\":\"weak\",\"exec\":\"echo\",\"supervision\":{"
			  "   \"intensity\":{\"max_restarts\":2,\"period_s\":30},"
			  "   \"backoff\":{\"initial_ms\":0,\"base_ms\":0}}} ]}");
	pid_t pid = 0;
	for (int i = 0; i < 2; i++) {
		pid = harness_server_pid(&h, "weak");
		kill(pid, SIGKILL);
		harness_wait_state(&h, "weak", "running", pid);
	}
	kill(harness_server_pid(&h, "weak"), SIGKILL);
	for (int i = 0; i < 200 && !harness_server_state_is(&h, "weak", "failed"); i++)
		harness_sleep_ms(10);
	ck_assert(harness_server_state_is(&h, "weak", "failed"));
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	double t0 = now_ms();
	ck_assert_int_eq(harness_call(c, "front", "echo", "x", 0, &res), ANT_E_SERVER_FAILED);
	ck_assert_int_eq(harness_call(c, "weak", "echo", "x", 0, &res), ANT_E_SERVER_FAILED);
	ck_assert_msg(now_ms() - t0 < 1000, "errors took %.0f ms", now_ms() - t0);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "give-up [weak]"), "%s", log);
	free(log);
	/* The operator can bring it back. */
	struct ant_conn *keep = c;
	(void)keep;
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(replay_never_fails_the_call)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-never\", \"servers\": ["
			  " {\"name\":\"once\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"1000\"],"
			  "   \"supervision\":{\"replay\":\"never\"}} ]}");
	struct ant_conn *c = harness_connect(&h);
	struct ant_call x = { .server = "once", .op = "echo", .arg = "x", .arglen = 1 };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
	harness_sleep_ms(200);
	kill(harness_server_pid(&h, "once"), SIGKILL);
	static struct ant_result res;
	ck_assert_int_eq(ant_wait(c, t, &res, 5000), 0);
	ck_assert_int_eq(res.retval, ANT_E_SERVER_FAILED);
	ck_assert_msg(memmem(res.bytes, res.len, "not replayed", 12), "%.*s", (int)res.len,
		      (const char *)res.bytes);
	harness_wait_state(&h, "once", "running", 0);
	ck_assert_int_eq(harness_server_num(&h, "once", "replays"), 0);
	ck_assert_int_eq(harness_server_num(&h, "once", "restarts"), 1);
	harness_expect_no_more_results(c);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(eight_held_requests_all_answered_once)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-eight\", \"servers\": ["
			  " {\"name\":\"cache\",\"exec\":\"relay\",\"max_inflight\":8,\"calls\":[\"slow\"]},"
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"300\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	uint64_t t[8];
	char args[8][32];
	for (int i = 0; i < 8; i++) {
		snprintf(args[i], sizeof(args[i]), "slow block-%d", i);
		struct ant_call x = { .server = "cache", .op = "ask", .arg = args[i],
				      .arglen = strlen(args[i]) };
		ck_assert_int_eq(ant_call_async(c, &x, &t[i]), 0);
	}
	harness_sleep_ms(100);
	ck_assert_int_eq(harness_server_num(&h, "cache", "inflight"), 8);
	kill(harness_server_pid(&h, "cache"), SIGKILL);
	int answered = 0;
	for (int i = 0; i < 8; i++) {
		static struct ant_result res;
		ck_assert_int_eq(ant_wait(c, t[i], &res, 10000), 0);
		char want[64];
		snprintf(want, sizeof(want), "slow said: block-%d", i);
		ck_assert_msg(res.retval == 0 && res.len == strlen(want) &&
			      memcmp(res.bytes, want, res.len) == 0, "call %d: %d '%.*s'", i,
			      res.retval, (int)res.len, (const char *)res.bytes);
		answered++;
	}
	ck_assert_int_eq(answered, 8);
	harness_expect_no_more_results(c);
	ck_assert_int_eq(harness_server_num(&h, "cache", "replays"), 8);
	/* They went back one at a time; once answered, 8 at a time again. */
	ck_assert_int_eq(harness_server_num(&h, "cache", "probation"), 0);
	for (int i = 0; i < 8; i++) {
		struct ant_call x = { .server = "cache", .op = "ask", .arg = args[i],
				      .arglen = strlen(args[i]) };
		ck_assert_int_eq(ant_call_async(c, &x, &t[i]), 0);
	}
	harness_sleep_ms(100);
	ck_assert_int_eq(harness_server_num(&h, "cache", "inflight"), 8);
	for (int i = 0; i < 8; i++) {
		static struct ant_result res;
		ck_assert_int_eq(ant_wait(c, t[i], &res, 10000), 0);
	}
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* One application process: n sync calls with unique arguments; exit 0 if all right. */
static void app_worker(struct harness *h, int id, int n)
{
	struct ant_conn *c;
	if (ant_connect(h->dir, &c) < 0)
		_exit(10);
	static struct ant_result res;
	for (int i = 0; i < n; i++) {
		char arg[48];
		snprintf(arg, sizeof(arg), "app %d call %d", id, i);
		struct ant_call x = { .server = "relay1", .op = "echo", .arg = arg, .arglen = strlen(arg) };
		int r = ant_call_sync(c, &x, &res);
		if (r != 0) {
			fprintf(stderr, "app %d call %d: %s %.*s\n", id, i, ant_errname(r),
				(int)res.len, res.bytes ? (const char *)res.bytes : "");
			_exit(11);
		}
		if (res.len != strlen(arg) || memcmp(res.bytes, arg, res.len) != 0)
			_exit(12);
	}
	if (ant_wait(c, 0, &res, 200) != -ETIMEDOUT)
		_exit(13);   /* a second answer to some call */
	ant_close(c);
	_exit(0);
}

START_TEST(thousand_calls_from_four_apps_while_killing_a_server)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-storm\", \"servers\": ["
			  " {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"relay2\"],\"calls\":[\"relay2\"]},"
			  " {\"name\":\"relay2\",\"exec\":\"relay\",\"args\":[\"--pause-ms\",\"2\",\"relay3\"],"
			  "   \"calls\":[\"relay3\"], \"supervision\": {"
			  "   \"intensity\":{\"max_restarts\":1000,\"period_s\":60},"
			  "   \"backoff\":{\"initial_ms\":0,\"base_ms\":0}, \"poison_kills\": 50}},"
			  " {\"name\":\"relay3\",\"exec\":\"relay\"} ]}");
	pid_t apps[4];
	for (int a = 0; a < 4; a++) {
		apps[a] = fork();
		ck_assert(apps[a] >= 0);
		if (apps[a] == 0)
			app_worker(&h, a, 250);
	}
	int kills = 0, done = 0, status[4] = { 0 }, finished[4] = { 0 };
	while (done < 4) {
		harness_sleep_ms(100);
		json_t *s = harness_server_status(&h, "relay2");
		pid_t pid = (pid_t)json_integer_value(json_object_get(s, "pid"));
		json_decref(s);
		if (pid > 0 && kill(pid, SIGKILL) == 0)
			kills++;
		for (int a = 0; a < 4; a++) {
			if (!finished[a] && waitpid(apps[a], &status[a], WNOHANG) == apps[a]) {
				finished[a] = 1;
				done++;
			}
		}
		ck_assert_msg(kills < 600, "calls did not finish");
	}
	for (int a = 0; a < 4; a++)
		ck_assert_msg(WIFEXITED(status[a]) && WEXITSTATUS(status[a]) == 0,
			      "app %d ended with status 0x%x", a, status[a]);
	ck_assert_msg(kills >= 5, "only %d kills during the run", kills);
	ck_assert_int_ge(harness_server_num(&h, "relay2", "restarts"), kills - 1);
	ck_assert_int_ge(harness_server_num(&h, "relay2", "replays"), 1);
	harness_stop(&h);
}
END_TEST

START_TEST(warm_standby_takes_over_without_a_start)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-standby\", \"servers\": ["
			  " {\"name\":\"hot\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"300\"],"
			  "   \"policy\":\"hot-standby\"} ]}");
	/* The spare is started once the server is ready. */
	pid_t spare = 0;
	for (int i = 0; i < 300 && !spare; i++) {
		spare = (pid_t)harness_server_num(&h, "hot", "standby_pid");
		if (!spare)
			harness_sleep_ms(10);
	}
	ck_assert_msg(spare > 0, "no spare started");
	harness_sleep_ms(100);
	struct ant_conn *c = harness_connect(&h);
	struct ant_call x = { .server = "hot", .op = "echo", .arg = "swap", .arglen = 4 };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
	harness_sleep_ms(100);
	pid_t active = harness_server_pid(&h, "hot");
	kill(active, SIGKILL);
	static struct ant_result res;
	ck_assert_int_eq(ant_wait(c, t, &res, 5000), 0);
	ck_assert(res.retval == 0 && res.len == 4 && memcmp(res.bytes, "swap", 4) == 0);
	/* The spare is the server now, and a new spare is on its way. */
	ck_assert_int_eq(harness_server_pid(&h, "hot"), spare);
	ck_assert_int_eq(harness_server_num(&h, "hot", "failovers"), 1);
	pid_t next = 0;
	for (int i = 0; i < 300 && !next; i++) {
		next = (pid_t)harness_server_num(&h, "hot", "standby_pid");
		if (!next)
			harness_sleep_ms(10);
	}
	ck_assert(next > 0 && next != spare && next != active);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "failover [hot]"), "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(operator_restart_stop_start)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-op\", \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	pid_t pid = harness_server_pid(&h, "e");
	char *out = NULL;
	char *const restart[] = { (char *)harness_tool("antctl"), "--run-dir", h.dir, "restart", "e", NULL };
	ck_assert_msg(access(restart[0], X_OK) == 0, "%s not built", restart[0]);
	ck_assert_int_eq(harness_run(restart, &out), 0);
	free(out);
	pid_t pid2 = harness_wait_state(&h, "e", "running", pid);
	ck_assert_int_ne(pid2, pid);
	/* An operator's restart is not a failure: no intensity, no replay count. */
	ck_assert_int_eq(harness_server_num(&h, "e", "replays"), 0);
	char *const stop[] = { (char *)harness_tool("antctl"), "--run-dir", h.dir, "stop", "e", NULL };
	ck_assert_int_eq(harness_run(stop, &out), 0);
	free(out);
	harness_wait_state(&h, "e", "stopped", 0);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	/* Stopped by the operator: said so, with how to bring it back. */
	ck_assert_int_eq(harness_call(c, "e", "echo", "x", 0, &res), ANT_E_SERVER_STOPPED);
	ck_assert_msg(memmem(res.bytes, res.len, "e is stopped (antctl stop); antctl start e", 42),
		      "%.*s", (int)res.len, (const char *)res.bytes);
	char *const start[] = { (char *)harness_tool("antctl"), "--run-dir", h.dir, "start", "e", NULL };
	ck_assert_int_eq(harness_run(start, &out), 0);
	free(out);
	harness_wait_state(&h, "e", "running", 0);
	harness_expect_echo(c, "e", "back");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(server_failing_at_start_up_is_told_apart)
{
	struct harness h;
	/* It exits before it ever says ready: a start-up failure, throttled,
	 * then given up, and a stack that never got ready stops with a reason. */
	char dir[400];
	harness_mkdtemp(dir, sizeof(dir), "startfail-XXXXXX");
	char stack[512];
	snprintf(stack, sizeof(stack), "%s/stack.json", dir);
	FILE *f = fopen(stack, "w");
	fputs("{ \"name\": \"t-startfail\", \"servers\": [ {\"name\":\"dud\",\"exec\":\"/bin/false\","
	      " \"supervision\":{\"intensity\":{\"max_restarts\":2,\"period_s\":10},"
	      " \"backoff\":{\"base_ms\":1}}} ]}", f);
	fclose(f);
	char *out = NULL;
	char *const argv[] = { (char *)harness_antd(), "--foreground", "--run-dir", dir, stack, NULL };
	int rc = harness_run(argv, &out);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(out, "start-failed [dud]") && strstr(out, "start-up failure") &&
		      strstr(out, "give-up [dud]"), "%s", out);
	free(out);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	(void)h;
}
END_TEST

/* An app that gives up cancels: a queued call goes at once, a held one runs
 * on but is neither answered nor replayed; each cancel answers its ticket
 * once with ANT_E_CANCELLED; ant-call --timeout cancels what it waited for. */
START_TEST(cancelled_calls_are_dropped_and_never_replayed)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-cancel\", \"servers\": ["
			  " {\"name\":\"srv\",\"exec\":\"echo\"},"
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"600\"]} ]}");
	harness_inject(&h, "srv", "hang", "{\"match\":\"STUCK\"}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	struct ant_call stuck = { .server = "srv", .op = "echo", .arg = "STUCK", .arglen = 5 };
	struct ant_call plain = { .server = "srv", .op = "echo", .arg = "b", .arglen = 1 };
	uint64_t ta, tb;
	pid_t pid = harness_wait_state(&h, "srv", "running", 0);
	ck_assert_int_eq(ant_call_async(c, &stuck, &ta), 0);
	for (int i = 0; i < 200 && harness_server_num(&h, "srv", "inflight") != 1; i++)
		harness_sleep_ms(10);
	ck_assert_int_eq(harness_server_num(&h, "srv", "inflight"), 1);
	ck_assert_int_eq(ant_call_async(c, &plain, &tb), 0);   /* queued behind it */

	ck_assert_int_eq(ant_cancel(c, tb), 0);
	ck_assert_int_eq(ant_wait(c, tb, &res, 2000), 0);
	ck_assert_int_eq(res.retval, ANT_E_CANCELLED);
	ck_assert_msg(res.len && memmem(res.bytes, res.len, "while queued for srv", 20),
		      "%.*s", (int)res.len, (const char *)res.bytes);
	ck_assert_int_eq(ant_cancel(c, ta), 0);
	ck_assert_int_eq(ant_wait(c, ta, &res, 2000), 0);
	ck_assert_int_eq(res.retval, ANT_E_CANCELLED);
	ck_assert_msg(res.len && memmem(res.bytes, res.len, "while srv held it", 17),
		      "%.*s", (int)res.len, (const char *)res.bytes);
	/* A second cancel of the same ticket, and one of no call: no answer. */
	ck_assert_int_eq(ant_cancel(c, ta), 0);
	ck_assert_int_eq(ant_cancel(c, 0), -EINVAL);
	ck_assert_int_eq(ant_cancel(c, tb + 1000), -EINVAL);

	/* Its holder dies: the cancelled call is not replayed. */
	kill(pid, SIGKILL);
	harness_wait_state(&h, "srv", "running", pid);
	harness_expect_echo(c, "srv", "after");
	ck_assert_int_eq(harness_server_num(&h, "srv", "replays"), 0);
	harness_expect_no_more_results(c);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "not replayed: its caller cancelled it"), "%s", log);
	ck_assert_msg(strstr(log, "cancelled while queued: dropped"), "%s", log);
	free(log);

	/* ant-call --timeout: says whom it waited for and how long, cancels. */
	long served = harness_server_num(&h, "slow", "served");
	char *const argv[] = { (char *)harness_tool("ant-call"), "--run-dir", h.dir, "--timeout", "200",
			       "slow", "echo", "late", NULL };
	char *out = NULL;
	int st = harness_run(argv, &out);
	ck_assert_msg(st == 1, "exit %d: %s", st, out);
	ck_assert_msg(strstr(out, "ant-call: no answer from slow (op echo) within 200 ms: 1 of 1 "
			     "call cancelled\n"), "%s", out);
	free(out);
	for (int i = 0; i < 200 && harness_server_num(&h, "slow", "served") == served; i++)
		harness_sleep_ms(10);
	ck_assert_int_eq(harness_server_num(&h, "slow", "served"), served + 1);
	log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "cancelled while slow held it: it runs on"), "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(third_stage_failure_replays_only_that_stage)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-stage\", \"servers\": ["
			  " {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"--log\",\"@DIR@/r1.log\",\"relay2\"],\"calls\":[\"relay2\"]},"
			  " {\"name\":\"relay2\",\"exec\":\"relay\",\"args\":[\"--log\",\"@DIR@/r2.log\",\"relay3\"],\"calls\":[\"relay3\"]},"
			  " {\"name\":\"relay3\",\"exec\":\"relay\",\"args\":[\"--log\",\"@DIR@/r3.log\"]} ]}");
	harness_inject(&h, "relay3", "hang", "{\"match\":\"STUCK\"}");
	struct ant_conn *c = harness_connect(&h);
	struct ant_call x = { .server = "relay1", .op = "echo", .arg = "STUCK here", .arglen = 10 };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
	for (int i = 0; i < 200 && harness_server_num(&h, "relay3", "inflight") != 1; i++)
		harness_sleep_ms(10);
	ck_assert_int_eq(harness_server_num(&h, "relay3", "inflight"), 1);
	kill(harness_server_pid(&h, "relay3"), SIGKILL);
	static struct ant_result res;
	ck_assert_int_eq(ant_wait(c, t, &res, 5000), 0);
	ck_assert(res.retval == 0 && res.len == 10 && memcmp(res.bytes, "STUCK here", 10) == 0);
	/* relay1 and relay2 took the request once and its result once. */
	const char *logs[2] = { "r1.log", "r2.log" };
	for (int i = 0; i < 2; i++) {
		char *l = harness_read(&h, logs[i]);
		ck_assert_msg(strcmp(l, "REQUEST echo STUCK here\nRETURN echo STUCK here\n") == 0,
			      "%s: %s", logs[i], l);
		free(l);
	}
	/* The first relay3 hung as it took the request (its code never saw
	 * it); the second took the replay. */
	char *l3 = harness_read(&h, "r3.log");
	ck_assert_msg(strcmp(l3, "REQUEST echo STUCK here (replay)\n") == 0, "r3.log: %s", l3);
	free(l3);
	ck_assert_int_eq(harness_server_num(&h, "relay1", "restarts") + harness_server_num(&h, "relay2", "restarts"), 0);
	ck_assert_int_eq(harness_server_num(&h, "relay3", "replays"), 1);
	harness_expect_no_more_results(c);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(replay_idempotent_replays_only_the_listed_ops)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-idem\", \"servers\": ["
			  " {\"name\":\"srv\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"600\"],"
			  "   \"supervision\":{\"replay\":\"idempotent\",\"idempotent_ops\":[\"echo\"]}} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	const char *ops[2] = { "echo", "fill" };
	int want[2] = { 0, ANT_E_SERVER_FAILED };
	for (int i = 0; i < 2; i++) {
		struct ant_call x = { .server = "srv", .op = ops[i], .arg = "A", .arglen = 1 };
		uint64_t t;
		pid_t pid = harness_wait_state(&h, "srv", "running", 0);
		ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
		for (int k = 0; k < 100 && harness_server_num(&h, "srv", "inflight") != 1; k++)
			harness_sleep_ms(5);
		kill(pid, SIGKILL);
		ck_assert_int_eq(ant_wait(c, t, &res, 5000), 0);
		ck_assert_msg(res.retval == want[i], "op %s: %s", ops[i], ant_errname(res.retval));
	}
	ck_assert_int_eq(harness_server_num(&h, "srv", "replays"), 1);
	harness_expect_no_more_results(c);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(restart_types_transient_and_temporary)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-types\", \"servers\": ["
			  " {\"name\":\"tr\",\"exec\":\"echo\",\"policy\":\"transient\"},"
			  " {\"name\":\"tr0\",\"exec\":\"echo\",\"policy\":\"transient\"},"
			  " {\"name\":\"tmp\",\"exec\":\"echo\",\"policy\":\"temporary\"} ]}");
	harness_inject(&h, "tr", "exit:3", "{\"match\":\"OOPS\"}");
	harness_inject(&h, "tr0", "exit:0", "{\"match\":\"BYE\",\"count\":0}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	/* transient, abnormal exit (code 3): restarted, its request replayed. */
	harness_expect_echo(c, "tr", "OOPS once");
	ck_assert_int_eq(harness_server_num(&h, "tr", "restarts"), 1);
	/* transient, clean exit 0: not restarted; the call fails. */
	ck_assert_int_eq(harness_call(c, "tr0", "echo", "BYE", 0, &res), ANT_E_SERVER_FAILED);
	ck_assert(harness_server_state_is(&h, "tr0", "stopped"));
	/* temporary: never restarted, whatever the cause. */
	kill(harness_server_pid(&h, "tmp"), SIGKILL);
	for (int i = 0; i < 200 && !harness_server_state_is(&h, "tmp", "stopped"); i++)
		harness_sleep_ms(10);
	ck_assert(harness_server_state_is(&h, "tmp", "stopped"));
	ck_assert_int_eq(harness_call(c, "tmp", "echo", "x", 0, &res), ANT_E_SERVER_FAILED);
	ck_assert_int_eq(harness_server_num(&h, "tmp", "restarts"), 0);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(crashes_of_every_kind_are_reported_and_survived)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-crash\", \"servers\": ["
			  " {\"name\":\"segv\",\"exec\":\"echo\"},"
			  " {\"name\":\"abrt\",\"exec\":\"echo\"},"
			  " {\"name\":\"exit3\",\"exec\":\"echo\"} ]}");
	harness_inject(&h, "segv", "segv", "{\"match\":\"X\"}");
	harness_inject(&h, "abrt", "abort", "{\"match\":\"X\"}");
	harness_inject(&h, "exit3", "exit:3", "{\"match\":\"X\"}");
	struct ant_conn *c = harness_connect(&h);
	const char *names[3] = { "segv", "abrt", "exit3" };
	const char *how[3] = { "killed by signal SIGSEGV", "killed by signal SIGABRT", "exited with code 3" };
	for (int i = 0; i < 3; i++) {
		harness_expect_echo(c, names[i], "X marks the spot");
		json_t *s = harness_server_status(&h, names[i]);
		const char *last = json_string_value(json_object_get(s, "last_exit"));
		ck_assert_msg(last && strstr(last, how[i]), "%s: %s", names[i], last);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "restarts")), 1);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "replays")), 1);
		json_decref(s);
	}
	ant_close(c);
	harness_stop(&h);
}
END_TEST

static Suite *supervise_suite(void)
{
	Suite *s = suite_create("supervise");
	TCase *tc = tcase_create("supervise");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hang_past_deadline_is_killed_and_replayed);
	tcase_add_test(tc, a_dead_forker_is_replaced);
	tcase_add_test(tc, a_fifo_among_the_files_is_refused_at_once);
	tcase_add_test(tc, a_symbolic_link_among_the_files_is_refused);
	tcase_add_test(tc, a_stuck_forker_is_replaced);
	tcase_add_test(tc, crashes_of_every_kind_are_reported_and_survived);
	tcase_add_test(tc, poison_request_fails_after_k_attempts);
	tcase_add_test(tc, outside_kills_do_not_make_a_poison_request);
	tcase_add_test(tc, a_given_up_server_is_tried_again);
	tcase_add_test(tc, third_stage_failure_replays_only_that_stage);
	tcase_add_test(tc, cancelled_calls_are_dropped_and_never_replayed);
	tcase_add_test(tc, one_for_one_restarts_only_the_failed_server);
	tcase_add_test(tc, rest_for_one_restarts_the_servers_started_after_it);
	tcase_add_test(tc, one_for_all_restarts_every_server);
	tcase_add_test(tc, intensity_exceeded_gives_up_and_callers_fail_at_once);
	tcase_add_test(tc, replay_never_fails_the_call);
	tcase_add_test(tc, restart_types_transient_and_temporary);
	tcase_add_test(tc, replay_idempotent_replays_only_the_listed_ops);
	tcase_add_test(tc, eight_held_requests_all_answered_once);
	tcase_add_test(tc, thousand_calls_from_four_apps_while_killing_a_server);
	tcase_add_test(tc, warm_standby_takes_over_without_a_start);
	tcase_add_test(tc, operator_restart_stop_start);
	tcase_add_test(tc, server_failing_at_start_up_is_told_apart);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(supervise_suite)
