/* test-fastpath.c - the fast path (docs/fastpath.md): calls in lanes past antd, and every guarantee kept: replay after kills, deadlines, cancel, stopped servers, hostile apps, antd taking over. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "../../ipc/conn.h"   /* a hostile app writes its lane by hand */

static const char echo_stack[] =
	"{ \"name\": \"t-fast\", \"fast_path\": true, \"servers\": ["
	" {\"name\":\"e\",\"exec\":\"echo\"} ]}";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct harness *cur;   /* the test's stack, for its log when a call fails */

static void call_echo(struct ant_conn *c, const char *server, const char *arg)
{
	static struct ant_result res;
	struct ant_call call = { .server = server, .op = "echo", .arg = arg, .arglen = strlen(arg) };
	int r = ant_call_sync(c, &call, &res);
	if (r != 0 && cur) {
		char *log = harness_read(cur, "antd.log");
		fprintf(stderr, "antd.log:\n%s\n", log);
		free(log);
	}
	ck_assert_msg(r == 0, "call %s(%s), ticket %llu: %d %s: %.*s", server, arg,
		      (unsigned long long)res.ticket, r, ant_errname(r),
		      (int)res.len, res.bytes ? (const char *)res.bytes : "");
	ck_assert_uint_eq(res.len, strlen(arg));
	ck_assert(memcmp(res.bytes, arg, res.len) == 0);
}

/* n sync calls "PREFIX i", each answered with its own bytes. */
static void echo_many(struct ant_conn *c, const char *server, const char *prefix, int n)
{
	for (int i = 0; i < n; i++) {
		char arg[64];
		snprintf(arg, sizeof(arg), "%s %d", prefix, i);
		call_echo(c, server, arg);
	}
}

/* n async calls at once, waited for last first, each with its own bytes
 * and no data ICA. */
static void async_round(struct ant_conn *c, const char *server, int n)
{
	static struct ant_result res;
	uint64_t t[16];
	ck_assert_int_le(n, 16);
	for (int i = 0; i < n; i++) {
		char arg[8];
		snprintf(arg, sizeof(arg), "a%d", i);
		struct ant_call call = { .server = server, .op = "echo", .arg = arg,
					 .arglen = strlen(arg) };
		ck_assert_int_eq(ant_call_async(c, &call, &t[i]), 0);
	}
	for (int i = n - 1; i >= 0; i--) {
		char arg[8];
		snprintf(arg, sizeof(arg), "a%d", i);
		ck_assert_int_eq(ant_wait(c, t[i], &res, 5000), 0);
		ck_assert_uint_eq(res.ticket, t[i]);
		ck_assert_int_eq(res.retval, 0);
		ck_assert(res.len == strlen(arg) && memcmp(res.bytes, arg, res.len) == 0);
		ck_assert(res.data == NULL);
	}
}

START_TEST(calls_travel_in_lanes_and_come_back_right)
{
	struct harness h;
	cur = &h;
	harness_start(&h, echo_stack);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	echo_many(c, "e", "call", 1000);
	echo_many(c, "e", "a longer argument, call", 1000);
	/* Every one of them in the lane: antd never routed one. */
	ck_assert_uint_eq(ant_fast_calls(c), 2000);
	ck_assert_int_eq(harness_server_num(&h, "e", "served"), 0);
	ck_assert_int_eq(harness_server_num(&h, "e", "lane_served"), 2000);
	/* The same trace a call through antd gets. */
	ck_assert_int_eq(harness_call(c, "e", "echo", "t", 0, &res), 0);
	char trace[128];
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, "app e app");
	/* Async calls, waited for in any order, each with its own bytes. */
	async_round(c, "e", 12);
	ck_assert_int_eq(ant_wait(c, 0, &res, 0), -ETIMEDOUT);
	ant_close(c);
	/* The count stays when the app is gone (its lanes with it). */
	struct ant_conn *c2 = harness_connect(&h);
	call_echo(c2, "e", "one more");
	ck_assert_int_eq(harness_server_num(&h, "e", "lane_served"), 2000 + 1 + 12 + 1);
	ant_close(c2);
	harness_stop(&h);
}
END_TEST

/* lane_spin_us: peers look at their lanes before they sleep; the calls are
 * the same, and a server killed while spinning is replaced as any other. */
START_TEST(spinning_peers_answer_the_same)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-spin\", \"fast_path\": true, \"lane_spin_us\": 100,"
			  " \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\","
			  "  \"supervision\":{\"backoff\":{\"initial_ms\":0}}} ]}");
	struct ant_conn *c = harness_connect(&h);
	for (int i = 0; i < 1000; i++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "spin %d", i);
		call_echo(c, "e", arg);
		if (i == 500)
			ck_assert_int_eq(kill(harness_server_pid(&h, "e"), SIGKILL), 0);
	}
	ck_assert_uint_eq(ant_fast_calls(c), 1000);
	ck_assert_int_eq(harness_server_num(&h, "e", "restarts"), 1);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(forwards_in_lanes_direct_and_data_icas_through_antd)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-chain\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"relay2\"],\"calls\":[\"relay2\"]},"
			  " {\"name\":\"relay2\",\"exec\":\"echo\"} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	/* relay1 takes the call from its lane and forwards it, the result to
	 * come back through it: in its own lane to relay2, past antd. */
	echo_many(c, "relay1", "through", 200);
	ck_assert_int_eq(harness_call(c, "relay1", "echo", "t", 0, &res), 0);
	char trace[128];
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, "app relay1 relay2 relay1 app");
	ck_assert_int_ge(harness_server_num(&h, "relay2", "lane_served"), 201);
	ck_assert_int_eq(harness_server_num(&h, "relay2", "served"), 0);
	/* Direct return: antd adopts the call and routes the answer. */
	ck_assert_int_eq(harness_call(c, "relay1", "echo", "d", ANT_CF_DIRECT_HINT, &res), 0);
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, "app relay1 relay2 app");
	ck_assert_int_eq(harness_server_num(&h, "relay2", "served"), 1);
	/* A call with a data ICA takes the slow path, the area intact. */
	struct ant_ica *ica;
	ck_assert_int_eq(ant_ica_alloc(c, 8192, &ica), 0);
	memset(ica->addr, 'q', 8192);
	uint64_t before = ant_fast_calls(c);
	struct ant_call call = { .server = "relay2", .op = "fill", .arg = "z", .arglen = 1,
				 .data = ica };
	ck_assert_int_eq(ant_call_sync(c, &call, &res), 0);
	ck_assert_uint_eq(ant_fast_calls(c), before);
	ck_assert(res.data != NULL);
	ck_assert_int_eq(((const char *)res.data->addr)[8191], 'z');
	ant_ica_release(c, res.data);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* Sequential forwards down a chain of three in lanes, while each of the
 * three is SIGKILLed in turn: every call answered once, rightly, and the
 * chain in lanes again afterwards. */
START_TEST(chain_in_lanes_under_kills)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-chain3\", \"fast_path\": true,"
			  " \"apps\": {\"calls\": [\"r1\"]}, \"servers\": ["
			  " {\"name\":\"r1\",\"exec\":\"relay\",\"args\":[\"r2\"],\"calls\":[\"r2\"],"
			  "  \"supervision\":{\"intensity\":{\"max_restarts\":1000},\"backoff\":{\"initial_ms\":0}}},"
			  " {\"name\":\"r2\",\"exec\":\"relay\",\"args\":[\"r3\"],\"calls\":[\"r3\"],"
			  "  \"supervision\":{\"intensity\":{\"max_restarts\":1000},\"backoff\":{\"initial_ms\":0}}},"
			  " {\"name\":\"r3\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"1\"],"
			  "  \"supervision\":{\"intensity\":{\"max_restarts\":1000},\"backoff\":{\"initial_ms\":0}}} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	char trace[128];
	ck_assert_int_eq(harness_call(c, "r1", "echo", "t", 0, &res), 0);
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, "app r1 r2 r3 r2 r1 app");
	const char *victims[] = { "r3", "r2", "r1" };
	double next_kill = now_s() + 0.03;
	unsigned kills = 0;
	for (int i = 0; i < 300; i++) {
		char arg[16];
		snprintf(arg, sizeof(arg), "c%d", i);
		call_echo(c, "r1", arg);
		if (now_s() > next_kill && kills < 12) {
			pid_t pid = harness_server_pid_now(&h, victims[kills % 3]);
			if (pid > 0 && kill(pid, SIGKILL) == 0)
				kills++;
			next_kill = now_s() + 0.03;
		}
	}
	ck_assert_int_ge(kills, 6);
	ck_assert_int_eq(ant_wait(c, 0, &res, 300), -ETIMEDOUT);   /* no second answer */
	long before = harness_server_num(&h, "r3", "lane_served");
	echo_many(c, "r1", "after", 20);
	ck_assert_int_ge(harness_server_num(&h, "r3", "lane_served"), before + 20);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* Tickets answered so far, to check that each is answered exactly once. */
#define KILL_CALLS 400
static unsigned char answered[KILL_CALLS + 1];

START_TEST(killed_server_lane_calls_answered_exactly_once)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-kill\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"3\"],"
			  "  \"max_inflight\": 4,"
			  "  \"supervision\":{\"intensity\":{\"max_restarts\":1000},\"backoff\":{\"initial_ms\":0}}} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	memset(answered, 0, sizeof(answered));
	uint64_t first = 0;
	unsigned sent = 0, got = 0, kills = 0;
	double next_kill = now_s() + 0.05;
	while (got < KILL_CALLS) {
		while (sent < KILL_CALLS && sent - got < 8) {
			char arg[16];
			snprintf(arg, sizeof(arg), "k%u", sent);
			struct ant_call call = { .server = "e", .op = "echo", .arg = arg,
						 .arglen = strlen(arg) };
			uint64_t t;
			ck_assert_int_eq(ant_call_async(c, &call, &t), 0);
			if (!first)
				first = t;
			ck_assert_uint_eq(t, first + sent);
			sent++;
		}
		int r = ant_wait(c, 0, &res, 20000);
		ck_assert_msg(r == 0, "no answer in 20 s (%d), %u of %u answered", r, got, sent);
		uint64_t k = res.ticket - first;
		ck_assert_uint_lt(k, KILL_CALLS);
		ck_assert_msg(!answered[k], "ticket %llu answered twice", (unsigned long long)res.ticket);
		answered[k] = 1;
		got++;
		char arg[16];
		snprintf(arg, sizeof(arg), "k%llu", (unsigned long long)k);
		ck_assert_int_eq(res.retval, 0);
		ck_assert(res.len == strlen(arg) && memcmp(res.bytes, arg, res.len) == 0);
		if (now_s() > next_kill && kills < 12) {
			pid_t pid = harness_server_pid_now(&h, "e");
			if (pid > 0 && kill(pid, SIGKILL) == 0)
				kills++;
			next_kill = now_s() + 0.05;
		}
	}
	ck_assert_int_ge(kills, 5);
	/* Nothing more comes: no second answer to any ticket. */
	ck_assert_int_eq(ant_wait(c, 0, &res, 300), -ETIMEDOUT);
	ck_assert_uint_gt(ant_fast_calls(c), KILL_CALLS / 2);
	ck_assert_int_gt(harness_server_num(&h, "e", "replays"), 0);
	/* Every call antd took over was known as such: the app never had to ask
	 * (CHECK) about a slot done without an answer. */
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(!strstr(log, "lane-no-answer"), "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(hung_lane_request_meets_its_deadline)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-hang\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"5000\"],"
			  "  \"supervision\":{\"deadline_ms\":300,\"backoff\":{\"initial_ms\":0}}} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	double t0 = now_s();
	struct ant_call call = { .server = "e", .op = "echo", .arg = "h", .arglen = 1 };
	int r = ant_call_sync(c, &call, &res);
	double took = now_s() - t0;
	/* Killed at each deadline, replayed, and failed as poison in the end:
	 * never a wait for the 5 s the server pauses. */
	ck_assert_int_eq(r, ANT_E_DEADLINE);
	ck_assert_msg(took < 4.5, "took %.2f s", took);
	ck_assert_uint_eq(ant_fast_calls(c), 1);
	ck_assert_int_ge(harness_server_num(&h, "e", "restarts"), 1);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "hang: deadline 300 ms exceeded holding a request of lane"),
		      "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(cancelled_lane_call_is_answered_once)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-cancel\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"400\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	struct ant_call call = { .server = "e", .op = "echo", .arg = "c", .arglen = 1 };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &call, &t), 0);
	ck_assert_uint_eq(ant_fast_calls(c), 1);
	harness_sleep_ms(50);
	double t0 = now_s();
	ck_assert_int_eq(ant_cancel(c, t), 0);
	ck_assert_int_eq(ant_wait(c, t, &res, 5000), 0);
	ck_assert_int_eq(res.retval, ANT_E_CANCELLED);
	ck_assert_msg(now_s() - t0 < 0.3, "cancel took %.2f s", now_s() - t0);
	/* Its real result comes in the lane later, and is dropped. */
	ck_assert_int_eq(ant_wait(c, 0, &res, 800), -ETIMEDOUT);
	call_echo(c, "e", "after");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(stopped_server_fails_lane_calls_and_comes_back)
{
	struct harness h;
	cur = &h;
	harness_start(&h, echo_stack);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	call_echo(c, "e", "before");
	ck_assert_int_eq(harness_antctl(NULL, "--run-dir", h.dir, "stop", "e", NULL), 0);
	struct ant_call call = { .server = "e", .op = "echo", .arg = "s", .arglen = 1 };
	ck_assert_int_eq(ant_call_sync(c, &call, &res), ANT_E_SERVER_STOPPED);
	ck_assert_int_eq(harness_antctl(NULL, "--run-dir", h.dir, "start", "e", NULL), 0);
	double t0 = now_s();
	while (!harness_server_state_is(&h, "e", "running") && now_s() - t0 < 5)
		harness_sleep_ms(10);
	uint64_t before = ant_fast_calls(c);
	for (int i = 0; i < 50; i++)
		call_echo(c, "e", "again");
	/* Its lanes opened again for the new process. */
	ck_assert_uint_ge(ant_fast_calls(c), before + 45);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* Five apps one after another, each making n async calls to server in its
 * lanes and going away wait_ms after them (then rest_ms more). */
static void apps_gone_mid_call(struct harness *h, const char *server, int n, int wait_ms,
			       int rest_ms)
{
	for (int round = 0; round < 5; round++) {
		struct ant_conn *c = harness_connect(h);
		for (int i = 0; i < n; i++) {
			struct ant_call call = { .server = server, .op = "echo", .arg = "g", .arglen = 1 };
			ck_assert_int_eq(ant_call_async(c, &call, NULL), 0);
		}
		if (wait_ms)
			harness_sleep_ms(wait_ms);
		ant_close(c);
		if (rest_ms)
			harness_sleep_ms(rest_ms);
	}
}

START_TEST(app_gone_with_calls_in_its_lanes)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-gone\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"20\"],"
			  "  \"max_inflight\": 4} ]}");
	pid_t pid = harness_server_pid(&h, "e");
	apps_gone_mid_call(&h, "e", 10, 0, 0);
	struct ant_conn *c = harness_connect(&h);
	call_echo(c, "e", "still here");
	ck_assert_uint_eq(ant_fast_calls(c), 1);
	ck_assert_int_eq(harness_server_pid(&h, "e"), pid);   /* nobody died of it */
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* The same through a relay that forwards: the app's lanes go (LANE_DROP)
 * while the relay holds its calls, drains its socket and forwards them (it
 * once read the dropped lane: SIGSEGV); it serves on unharmed. */
START_TEST(app_gone_before_the_forward_of_its_lane_call)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-gonefw\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"r\",\"exec\":\"relay\",\"args\":[\"--pause-ms\",\"20\",\"e\"],"
			  "  \"calls\":[\"e\"]},"
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	pid_t pid = harness_server_pid(&h, "r");
	/* r has taken the first and pauses before its forward as the app goes. */
	apps_gone_mid_call(&h, "r", 3, 5, 80);
	struct ant_conn *c = harness_connect(&h);
	echo_many(c, "r", "still here", 5);
	char *log = harness_read(&h, "antd.log");
	int same = harness_server_pid(&h, "r") == pid && !strstr(log, "deadline");
	if (!same)
		fprintf(stderr, "antd.log:\n%s\n", log);
	ck_assert_msg(same, "r was restarted (antd.log on stderr)");   /* nobody died of it */
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(hostile_app_writing_its_lane_hurts_only_itself)
{
	struct harness h;
	cur = &h;
	harness_start(&h, echo_stack);
	pid_t pid = harness_server_pid(&h, "e");
	struct ant_conn *bad = harness_connect(&h);
	struct ant_conn *good = harness_connect(&h);
	call_echo(bad, "e", "hello");
	struct conn_lane *cl = NULL;
	for (unsigned i = 0; i < bad->nlanes; i++)
		if (bad->lanes[i].role == ANT_LANE_ROLE_SENDER)
			cl = &bad->lanes[i];
	ck_assert(cl != NULL);
	/* Garbage pages, pages for another server, pages with a data ICA or
	 * too many frames, a slot whose seq skips, the closed flag it cannot
	 * write; between them good calls from another app. */
	/* The lane's header is in memory the app writes: what it says there
	 * about who it is counts for nothing (antd's copy is in the ack area). */
	cl->l.hdr->from = 7;
	cl->l.hdr->to = 9;
	memset(cl->l.hdr->pad, 0xff, sizeof(cl->l.hdr->pad));
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	for (int k = 0; k < 40; k++) {
		struct ant_lane_slot head = { .kind = ANT_LANE_REQUEST, .ticket = 1000 + k };
		ant_cica_init(page, 1, "echo", "x", 1, ANT_FF_RETURN_NEEDED);
		struct ant_cica_hdr *ph = (void *)page;
		switch (k % 5) {
		case 0: memset(page, 0xa5, sizeof(page)); break;
		case 1: ant_cica_current(page)->callee = 7; break;
		case 2: ph->data.gen = 3; ph->data.size = 4096; break;
		case 3: ant_cica_push(page, 1, "echo", "y", 1, ANT_FF_RETURN_NEEDED); break;
		case 4: head.kind = 77; break;
		}
		int r = ant_lane_post(&cl->l, &head, page, k % 5 == 0 ? sizeof(page) : ph->used);
		if (r >= 0 && k % 7 == 0)
			__atomic_add_fetch(&cl->l.slot[r].seq, 5, __ATOMIC_RELEASE);
		call_echo(good, "e", "good");
	}
	ck_assert_int_eq(harness_server_pid(&h, "e"), pid);
	ck_assert_uint_ge(ant_fast_calls(good), 40);
	ant_close(bad);
	call_echo(good, "e", "still good");
	ant_close(good);
	harness_stop(&h);
}
END_TEST

/* antd logged the call marked done without an answer; the stack goes. */
static void end_after_lost_call(struct harness *h, struct ant_conn *c)
{
	char *log = harness_read(h, "antd.log");
	ck_assert_msg(strstr(log, "was marked done without an answer"), "%s", log);
	free(log);
	ant_close(c);
	harness_stop(h);
}

START_TEST(forged_answers_in_a_lane_are_dropped)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-forge\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\",\"args\":[\"--forge-lanes\"],"
			  "  \"max_inflight\": 4} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	echo_many(c, "e", "true", 200);
	/* Several in flight: a forged answer names the next ticket too. */
	for (int round = 0; round < 20; round++)
		async_round(c, "e", 6);
	/* A call the server marks done and never answers: the app asks antd,
	 * which does not hold it, and answers with an error; no wait without end. */
	for (int k = 0; k < 5; k++) {
		struct ant_call call = { .server = "e", .op = "echo", .arg = "vanish", .arglen = 6 };
		int r = ant_call_sync(c, &call, &res);
		ck_assert_msg(r == ANT_E_SERVER_FAILED, "vanish ticket %llu: %d %.*s",
			      (unsigned long long)res.ticket, r, (int)res.len,
			      res.bytes ? (const char *)res.bytes : "");
		call_echo(c, "e", "after the lost call");
	}
	ck_assert_int_eq(ant_wait(c, 0, &res, 300), -ETIMEDOUT);
	ck_assert_uint_ge(ant_fast_calls(c), 300);
	/* The forgeries were there, and were dropped (four per call, but for a
	 * full lane now and then). */
	ck_assert_msg(c->lane_dropped >= 600, "%llu forged answers dropped",
		      (unsigned long long)c->lane_dropped);
	end_after_lost_call(&h, c);
}
END_TEST

/* Relay a asks b (op ask "b TEXT": its own call, no data ICA) and answers
 * "b said: TEXT"; the app may call only a. */
static void ask_b(struct ant_conn *c, const char *text)
{
	static struct ant_result res;
	char arg[64], want[80];
	snprintf(arg, sizeof(arg), "b %s", text);
	snprintf(want, sizeof(want), "b said: %s", text);
	struct ant_call call = { .server = "a", .op = "ask", .arg = arg, .arglen = strlen(arg) };
	int r = ant_call_sync(c, &call, &res);
	ck_assert_msg(r == 0, "ask %s: %d %s: %.*s", text, r, ant_errname(r), (int)res.len,
		      res.bytes ? (const char *)res.bytes : "");
	ck_assert_msg(res.len == strlen(want) && memcmp(res.bytes, want, res.len) == 0,
		      "ask %s: answered '%.*s'", text, (int)res.len, (const char *)res.bytes);
}

static const char ask_stack[] =
	"{ \"name\": \"t-fast-ask\", \"fast_path\": true, \"apps\": {\"calls\": [\"a\"]},"
	"  \"servers\": ["
	" {\"name\":\"a\",\"exec\":\"relay\",\"calls\":[\"b\"],\"max_inflight\":4,"
	"  \"supervision\":{\"intensity\":{\"max_restarts\":1000},\"backoff\":{\"initial_ms\":0}}},"
	" {\"name\":\"b\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"2\"],\"max_inflight\":4,"
	"  \"supervision\":{\"intensity\":{\"max_restarts\":1000},\"backoff\":{\"initial_ms\":0}}} ]}";

/* A server's own calls travel in lanes too (a pair of lanes per calls edge
 * of the stack file), and every guarantee holds when the callee or the
 * caller dies: each app call answered once, rightly. */
START_TEST(servers_call_servers_in_lanes)
{
	struct harness h;
	cur = &h;
	harness_start(&h, ask_stack);
	struct ant_conn *c = harness_connect(&h);
	for (int i = 0; i < 50; i++) {
		char t[16];
		snprintf(t, sizeof(t), "x%d", i);
		ask_b(c, t);
	}
	/* b answered a in their lane: antd carried none of them. */
	ck_assert_int_ge(harness_server_num(&h, "b", "lane_served"), 50);
	ck_assert_int_eq(harness_server_num(&h, "b", "served"), 0);
	json_t *st = harness_status(&h);
	json_t *fp = json_object_get(st, "fast_path");
	ck_assert_int_eq(json_integer_value(json_object_get(fp, "server_lanes")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(fp, "app_lanes")), 1);
	json_decref(st);

	/* Kill the callee, then the caller, again and again while calls run. */
	double next_kill = now_s() + 0.03;
	unsigned kills = 0;
	for (int i = 0; i < 240; i++) {
		char t[16];
		snprintf(t, sizeof(t), "k%d", i);
		ask_b(c, t);
		if (now_s() > next_kill && kills < 10) {
			pid_t pid = harness_server_pid_now(&h, kills % 2 ? "a" : "b");
			if (pid > 0 && kill(pid, SIGKILL) == 0)
				kills++;
			next_kill = now_s() + 0.03;
		}
	}
	ck_assert_int_ge(kills, 6);
	static struct ant_result res;
	ck_assert_int_eq(ant_wait(c, 0, &res, 300), -ETIMEDOUT);   /* no second answer */
	ck_assert_int_ge(harness_server_num(&h, "a", "restarts"), 3);
	ck_assert_int_ge(harness_server_num(&h, "b", "restarts"), 3);
	/* The new instances have their lanes again: the calls still go in them. */
	long before = harness_server_num(&h, "b", "lane_served");
	for (int i = 0; i < 20; i++)
		ask_b(c, "again");
	ck_assert_int_ge(harness_server_num(&h, "b", "lane_served"), before + 20);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* A callee that marks its caller's request done without answering (a
 * hostile one): the calling server asks antd and gets an error, no wait
 * without end. */
START_TEST(server_caller_of_a_vanishing_call_gets_an_error)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-askv\", \"fast_path\": true, \"apps\": {\"calls\": [\"a\"]},"
			  "  \"servers\": ["
			  " {\"name\":\"a\",\"exec\":\"relay\",\"calls\":[\"b\"]},"
			  " {\"name\":\"b\",\"exec\":\"echo\",\"args\":[\"--forge-lanes\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	ask_b(c, "before");
	struct ant_call call = { .server = "a", .op = "ask", .arg = "b vanish", .arglen = 8 };
	int r = ant_call_sync(c, &call, &res);
	ck_assert_msg(r == ANT_E_SERVER_FAILED, "vanish: %d %.*s", r, (int)res.len,
		      res.bytes ? (const char *)res.bytes : "");
	ask_b(c, "after");   /* forged answers beside each real one were dropped */
	end_after_lost_call(&h, c);
}
END_TEST

START_TEST(request_faults_switch_the_fast_path_off)
{
	struct harness h;
	cur = &h;
	harness_start(&h, "{ \"name\": \"t-fast-inject\", \"fast_path\": true, \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\","
			  "  \"supervision\":{\"backoff\":{\"initial_ms\":0}}} ]}");
	struct ant_conn *c = harness_connect(&h);
	call_echo(c, "e", "fast");
	ck_assert_uint_eq(ant_fast_calls(c), 1);
	json_t *st = harness_status(&h);
	json_t *fp = json_object_get(st, "fast_path");
	ck_assert(json_is_true(json_object_get(fp, "on")));
	ck_assert_int_eq(json_integer_value(json_object_get(fp, "app_lanes")), 1);
	json_decref(st);
	harness_inject(&h, "e", "kill", "{\"nth\":3}");
	for (int i = 0; i < 6; i++)
		call_echo(c, "e", "slow");   /* the third is killed and replayed */
	ck_assert_uint_eq(ant_fast_calls(c), 1);
	ck_assert_int_eq(harness_server_num(&h, "e", "restarts"), 1);
	ck_assert_int_eq(harness_server_num(&h, "e", "replays"), 1);
	st = harness_status(&h);
	fp = json_object_get(st, "fast_path");
	ck_assert(json_is_false(json_object_get(fp, "on")));
	ck_assert(strstr(json_string_value(json_object_get(fp, "off_why")), "antctl inject"));
	json_decref(st);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "fast path off: a fault is armed on requests"), "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

static Suite *fastpath_suite(void)
{
	Suite *s = suite_create("fastpath");
	TCase *tc = tcase_create("lanes");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, calls_travel_in_lanes_and_come_back_right);
	tcase_add_test(tc, spinning_peers_answer_the_same);
	tcase_add_test(tc, forwards_in_lanes_direct_and_data_icas_through_antd);
	tcase_add_test(tc, chain_in_lanes_under_kills);
	tcase_add_test(tc, killed_server_lane_calls_answered_exactly_once);
	tcase_add_test(tc, hung_lane_request_meets_its_deadline);
	tcase_add_test(tc, cancelled_lane_call_is_answered_once);
	tcase_add_test(tc, stopped_server_fails_lane_calls_and_comes_back);
	tcase_add_test(tc, app_gone_with_calls_in_its_lanes);
	tcase_add_test(tc, app_gone_before_the_forward_of_its_lane_call);
	tcase_add_test(tc, hostile_app_writing_its_lane_hurts_only_itself);
	tcase_add_test(tc, forged_answers_in_a_lane_are_dropped);
	tcase_add_test(tc, request_faults_switch_the_fast_path_off);
	tcase_add_test(tc, servers_call_servers_in_lanes);
	tcase_add_test(tc, server_caller_of_a_vanishing_call_gets_an_error);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(fastpath_suite)
