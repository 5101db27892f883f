/* test-chain.c - a real antd with real servers: calls along chains, direct return, queues, data ICAs, faults. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* app -> relay1 -> relay2 -> relay3; each relay logs what it takes. */
static const char chain3[] =
	"{ \"name\": \"t-chain3\", \"servers\": ["
	" {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"--log\",\"@DIR@/relay1.log\",\"relay2\"],\"calls\":[\"relay2\"]},"
	" {\"name\":\"relay2\",\"exec\":\"relay\",\"args\":[\"--log\",\"@DIR@/relay2.log\",\"relay3\"],\"calls\":[\"relay3\"]},"
	" {\"name\":\"relay3\",\"exec\":\"relay\",\"args\":[\"--log\",\"@DIR@/relay3.log\"]},"
	" {\"name\":\"other\",\"exec\":\"echo\"}"
	"]}";

/* Mappings of this process whose line in /proc/self/maps contains what. */
static int count_maps(const char *what)
{
	FILE *f = fopen("/proc/self/maps", "r");
	ck_assert(f != NULL);
	char line[512];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, prefix, pl) == 0)
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

static const char *find_line(const char *text, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, prefix, pl) == 0)
			return p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

START_TEST(sync_call_through_three_servers)
{
	struct harness h;
	harness_start(&h, chain3);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	const char *arg = "the quick brown fox \x01\x02 jumps";
	int r = harness_call(c, "relay1", "echo", arg, 0, &res);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(res.len, strlen(arg));
	ck_assert(memcmp(res.bytes, arg, res.len) == 0);
	char trace[256];
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, "app relay1 relay2 relay3 relay2 relay1 app");
	/* Sequential return: relays 1 and 2 each took the result back. */
	char *l1 = harness_read(&h, "relay1.log"), *l2 = harness_read(&h, "relay2.log");
	ck_assert_int_eq(count_lines(l1, "RETURN echo"), 1);
	ck_assert_int_eq(count_lines(l2, "RETURN echo"), 1);
	free(l1);
	free(l2);
	/* 100 more, each with its own bytes. */
	for (int i = 0; i < 100; i++) {
		char a[32];
		snprintf(a, sizeof(a), "call %d", i);
		ck_assert_int_eq(harness_call(c, "relay1", "echo", a, 0, &res), 0);
		ck_assert(res.len == strlen(a) && memcmp(res.bytes, a, res.len) == 0);
	}
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(direct_return_skips_intermediate_servers)
{
	struct harness h;
	harness_start(&h, chain3);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(harness_call(c, "relay1", "echo", "direct!", ANT_CF_DIRECT_HINT, &res), 0);
		ck_assert(res.len == 7 && memcmp(res.bytes, "direct!", 7) == 0);
		char trace[256];
		harness_trace(c, &res, trace, sizeof(trace));
		ck_assert_str_eq(trace, "app relay1 relay2 relay3 app");
	}
	ant_close(c);
	char *l1 = harness_read(&h, "relay1.log"), *l2 = harness_read(&h, "relay2.log");
	/* They took the request, never the reply. */
	ck_assert_int_eq(count_lines(l1, "REQUEST echo direct!"), 20);
	ck_assert_int_eq(count_lines(l2, "REQUEST echo direct!"), 20);
	ck_assert_int_eq(count_lines(l1, "RETURN"), 0);
	ck_assert_int_eq(count_lines(l2, "RETURN"), 0);
	free(l1);
	free(l2);
	/* relay1 and relay2 replied to nothing: only relay3 served. */
	json_t *st = harness_status(&h);
	json_t *servers = json_object_get(st, "servers");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(servers, 0), "served")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(servers, 1), "served")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(servers, 2), "served")), 20);
	json_decref(st);
	harness_stop(&h);
}
END_TEST

START_TEST(async_calls_complete_out_of_order)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-async\", \"servers\": ["
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"400\"]},"
			  " {\"name\":\"fast\",\"exec\":\"echo\"} ]}");
	struct ant_conn *c = harness_connect(&h);
	struct ant_call a = { .server = "slow", .op = "echo", .arg = "AAAA", .arglen = 4 };
	struct ant_call b = { .server = "fast", .op = "echo", .arg = "BB", .arglen = 2 };
	uint64_t ta, tb;
	ck_assert_int_eq(ant_call_async(c, &a, &ta), 0);
	ck_assert_int_eq(ant_call_async(c, &b, &tb), 0);
	ck_assert(ta != tb);
	static struct ant_result r1, r2;
	ck_assert_int_eq(ant_wait(c, 0, &r1, 10000), 0);
	ck_assert_int_eq(ant_wait(c, 0, &r2, 10000), 0);
	/* The second call came back first, each with its own bytes. */
	ck_assert_uint_eq(r1.ticket, tb);
	ck_assert(r1.len == 2 && memcmp(r1.bytes, "BB", 2) == 0);
	ck_assert_uint_eq(r2.ticket, ta);
	ck_assert(r2.len == 4 && memcmp(r2.bytes, "AAAA", 4) == 0);
	/* Waiting for one ticket leaves the others queued. */
	uint64_t t[4];
	for (int i = 0; i < 4; i++) {
		char arg[2] = { (char)('0' + i), 0 };
		struct ant_call x = { .server = i % 2 ? "fast" : "slow", .op = "echo", .arg = arg, .arglen = 1 };
		ck_assert_int_eq(ant_call_async(c, &x, &t[i]), 0);
	}
	for (int i = 3; i >= 0; i--) {
		ck_assert_int_eq(ant_wait(c, t[i], &r1, 10000), 0);
		ck_assert_uint_eq(r1.ticket, t[i]);
		ck_assert(r1.len == 1 && ((const char *)r1.bytes)[0] == '0' + i);
	}
	/* Poll with nothing outstanding times out at once. */
	ck_assert_int_eq(ant_wait(c, 0, &r1, 0), -ETIMEDOUT);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(server_takes_results_before_requests)
{
	/*
	 * relay1 (max_inflight 1) pauses 300 ms on every request; slow answers
	 * after 200 ms.  A at t=0, B at t=50, C at t=400.  When relay1 forwards
	 * B (t~600), antd holds both C (queued at 400) and A's result (queued at
	 * ~500): relay1 must get A's result first, though C waited longer.
	 */
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-order\", \"servers\": ["
			  " {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"--return\",\"sequential\","
			  "   \"--pause-ms\",\"300\",\"--log\",\"@DIR@/relay1.log\",\"slow\"],\"calls\":[\"slow\"]},"
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"200\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	uint64_t t[3];
	const char *args[3] = { "A", "B", "C" };
	int at_ms[3] = { 0, 50, 400 };
	int now = 0;
	for (int i = 0; i < 3; i++) {
		harness_sleep_ms(at_ms[i] - now);
		now = at_ms[i];
		struct ant_call x = { .server = "relay1", .op = "echo", .arg = args[i], .arglen = 1 };
		ck_assert_int_eq(ant_call_async(c, &x, &t[i]), 0);
	}
	static struct ant_result res;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(ant_wait(c, t[i], &res, 10000), 0);
		ck_assert(res.len == 1 && ((const char *)res.bytes)[0] == args[i][0]);
	}
	ant_close(c);
	char *log = harness_read(&h, "relay1.log");
	const char *ret_a = find_line(log, "RETURN echo A"), *req_c = find_line(log, "REQUEST echo C");
	ck_assert_msg(ret_a && req_c, "log: %s", log);
	ck_assert_msg(ret_a < req_c, "request C was handed over before A's result:\n%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

START_TEST(data_ica_passes_three_servers_without_copy)
{
	struct harness h;
	harness_start(&h, chain3);
	struct ant_conn *c = harness_connect(&h);
	const size_t size = 16u << 20;
	struct ant_ica *ica;
	ck_assert_int_eq(ant_ica_alloc(c, size, &ica), 0);
	ck_assert(ica->size >= size && ica->writable);
	memset(ica->addr, 0x11, ica->size);
	/* Send it along, keeping our mapping; relay3 writes every byte. */
	struct ant_call call = { .server = "relay1", .op = "fill", .arg = "\x5a", .arglen = 1,
				 .data = ica };
	static struct ant_result res;
	ck_assert_int_eq(ant_call_sync(c, &call, &res), 0);
	/* Our own mapping shows relay3's bytes: the same pages, not a copy. */
	const unsigned char *p = ica->addr;
	for (size_t i = 0; i < ica->size; i += 4093)
		ck_assert_uint_eq(p[i], 0x5a);
	ck_assert_uint_eq(p[ica->size - 1], 0x5a);
	struct stat st;
	ck_assert_int_eq(fstat(ica->fd, &st), 0);
	char want[64];
	snprintf(want, sizeof(want), "ino=%lu", (unsigned long)st.st_ino);
	ck_assert_uint_eq(res.len, strlen(want));
	ck_assert(memcmp(res.bytes, want, res.len) == 0);
	ck_assert_ptr_eq(res.data, ica);   /* it came back as the one we hold */
	/* Every relay mapped that same memfd. */
	for (int i = 1; i <= 3; i++) {
		char name[32], line[96];
		snprintf(name, sizeof(name), "relay%d.log", i);
		snprintf(line, sizeof(line), "REQUEST fill Z %s", want);
		char *log = harness_read(&h, name);
		ck_assert_msg(find_line(log, line), "%s: %s", name, log);
		free(log);
	}
	ant_ica_release(c, ica);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(read_only_data_ica_cannot_be_written)
{
	struct harness h;
	harness_start(&h, chain3);
	struct ant_conn *c = harness_connect(&h);
	struct ant_ica *ica;
	ck_assert_int_eq(ant_ica_alloc(c, 8192, &ica), 0);
	memset(ica->addr, 0x33, ica->size);
	struct ant_call call = { .server = "other", .op = "fill", .arg = "\x44", .arglen = 1,
				 .data = ica, .data_flags = ANT_DF_RO };
	static struct ant_result res;
	/* The server got it read-only, so fill is refused and nothing changed. */
	ck_assert_int_eq(ant_call_sync(c, &call, &res), ANT_E_BAD_REQUEST);
	ck_assert_uint_eq(((unsigned char *)ica->addr)[0], 0x33);
	ck_assert_uint_eq(((unsigned char *)ica->addr)[8191], 0x33);
	ant_ica_release(c, ica);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(recycled_data_ica_shows_no_old_bytes)
{
	struct harness h;
	harness_start(&h, chain3);
	struct ant_conn *c = harness_connect(&h);
	struct ant_ica *a, *b;
	ck_assert_int_eq(ant_ica_alloc(c, 1 << 20, &a), 0);
	memset(a->addr, 0xee, a->size);
	struct ant_ica_ref old = a->ref;
	ant_ica_release(c, a);
	ck_assert_int_eq(ant_ica_alloc(c, 1 << 20, &b), 0);
	/* Same slot, new generation, and not one old byte. */
	ck_assert_uint_eq(b->ref.index, old.index);
	ck_assert_uint_ne(b->ref.gen, old.gen);
	const unsigned char *p = b->addr;
	for (size_t i = 0; i < b->size; i++)
		if (p[i])
			ck_abort_msg("byte %zu of a recycled ICA is 0x%02x", i, p[i]);
	json_t *st = harness_status(&h);
	ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(st, "icas"), "recycled")), 1);
	json_decref(st);
	ant_ica_release(c, b);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(call_outside_calls_list_is_refused)
{
	struct harness h;
	/* relay1 forwards to relay3, but may call only relay2; apps only relay1. */
	harness_start(&h, "{ \"name\": \"t-deny\", \"apps\": {\"calls\": [\"relay1\"]}, \"servers\": ["
			  " {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"relay3\"],\"calls\":[\"relay2\"]},"
			  " {\"name\":\"relay2\",\"exec\":\"relay\"},"
			  " {\"name\":\"relay3\",\"exec\":\"relay\",\"args\":[\"--log\",\"@DIR@/relay3.log\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	ck_assert_int_eq(harness_call(c, "relay1", "echo", "x", 0, &res), ANT_E_DENIED);
	ck_assert_int_eq(harness_call(c, "relay2", "echo", "x", 0, &res), ANT_E_DENIED);
	ant_close(c);
	char *log = harness_read(&h, "relay3.log");
	ck_assert_msg(log[0] == '\0', "relay3 saw a request: %s", log);
	free(log);
	/* Both servers live on. */
	json_t *st = harness_status(&h);
	json_t *servers = json_object_get(st, "servers"), *s;
	size_t i;
	json_array_foreach(servers, i, s)
		ck_assert_str_eq(json_string_value(json_object_get(s, "state")), "running");
	json_decref(st);
	harness_stop(&h);
}
END_TEST

/*
 * A server that misbehaves as asked is cut off and restarted; its request is
 * replayed, misbehaves again, and after 3 deaths it is a poison request: the
 * caller gets an error naming the server, and the server serves others.
 */
static void check_cut_off(const char *op, const char *reason)
{
	struct harness h;
	harness_start(&h, chain3);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	ck_assert_int_eq(harness_call(c, "relay1", op, "relay2", 0, &res), ANT_E_SERVER_FAILED);
	ck_assert_msg(res.len > 0 && memmem(res.bytes, res.len, "poison request: relay2", 22),
		      "error text: %.*s", (int)res.len, (const char *)res.bytes);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "cut-off [relay2]") && strstr(log, reason), "antd.log: %s", log);
	free(log);
	/* The stack serves on, through relay2 as well (once it is back). */
	ck_assert_int_eq(harness_call(c, "other", "echo", "still here", 0, &res), 0);
	ck_assert(res.len == 10 && memcmp(res.bytes, "still here", 10) == 0);
	ck_assert_int_eq(harness_call(c, "relay1", "echo", "via relay2", 0, &res), 0);
	ck_assert(res.len == 10 && memcmp(res.bytes, "via relay2", 10) == 0);
	/* Three deaths, three restarts, two replays (the third attempt failed). */
	ck_assert_int_eq(harness_server_num(&h, "relay2", "restarts"), 3);
	ck_assert_int_eq(harness_server_num(&h, "relay2", "replays"), 2);
	ant_close(c);
	harness_stop(&h);
}

/* Arguments from 900 to 3,000 bytes through the 3-chain: each call is
 * answered or refused with ANT_E_TOO_BIG (its frames and answer do not fit
 * the control ICA); no server dies, and a normal call works afterwards. */
START_TEST(large_arguments_are_answered_or_refused_and_nothing_dies)
{
	struct harness h;
	harness_start(&h, chain3);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	static char arg[3001];
	int answered = 0, refused = 0;
	for (int i = 0; i < 20; i++) {
		size_t n = 900 + (size_t)i * (3000 - 900) / 19;
		memset(arg, 'a' + i % 26, n);
		arg[n] = '\0';
		int r = harness_call(c, "relay1", "echo", arg, 0, &res);
		if (r == 0) {
			ck_assert_uint_eq(res.len, n);
			answered++;
		} else {
			ck_assert_msg(r == ANT_E_TOO_BIG, "%zu bytes: %s", n, ant_errname(r));
			ck_assert_msg(res.len && memmem(res.bytes, res.len, "control ICA is full", 19),
				      "%zu bytes: %.*s", n, (int)res.len, (const char *)res.bytes);
			refused++;
		}
	}
	ck_assert_int_gt(answered, 0);
	ck_assert_int_gt(refused, 0);
	const char *names[] = { "relay1", "relay2", "relay3" };
	for (int i = 0; i < 3; i++) {
		ck_assert(harness_server_state_is(&h, names[i], "running"));
		ck_assert_int_eq(harness_server_num(&h, names[i], "restarts"), 0);
	}
	harness_expect_echo(c, "relay1", "still serving");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(server_sending_garbage_is_cut_off)
{
	check_cut_off("garbage", "malformed message");
}
END_TEST

START_TEST(server_sending_corrupt_control_ica_is_cut_off)
{
	check_cut_off("corrupt", "cycle in the frame chain");
}
END_TEST

START_TEST(killed_server_is_restarted_and_its_call_replayed)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-death\", \"servers\": ["
			  " {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"victim\"],\"calls\":[\"victim\"]},"
			  " {\"name\":\"victim\",\"exec\":\"relay\",\"args\":[\"--pause-ms\",\"500\",\"last\"],"
			  "   \"calls\":[\"last\"]},"
			  " {\"name\":\"last\",\"exec\":\"echo\"} ]}");
	struct ant_conn *c = harness_connect(&h);
	pid_t victim = harness_server_pid(&h, "victim");
	struct ant_call x = { .server = "relay1", .op = "echo", .arg = "survives", .arglen = 8 };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
	harness_sleep_ms(200);
	ck_assert_int_eq(harness_server_num(&h, "victim", "inflight"), 1);
	ck_assert_int_eq(kill(victim, SIGKILL), 0);
	static struct ant_result res;
	ck_assert_int_eq(ant_wait(c, t, &res, 5000), 0);
	/* The caller sees a slower answer, not a lost one: the right bytes. */
	ck_assert_int_eq(res.retval, 0);
	ck_assert(res.len == 8 && memcmp(res.bytes, "survives", 8) == 0);
	char trace[256];
	harness_trace(c, &res, trace, sizeof(trace));
	ck_assert_str_eq(trace, "app relay1 victim victim last victim relay1 app");
	ck_assert_int_eq(harness_server_num(&h, "victim", "restarts"), 1);
	ck_assert_int_eq(harness_server_num(&h, "victim", "replays"), 1);
	ck_assert_int_ne(harness_server_pid(&h, "victim"), victim);
	/* relay1 never noticed: it took one request and one return. */
	ck_assert_int_eq(harness_server_num(&h, "relay1", "restarts"), 0);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "server-exit [victim]") && strstr(log, "killed by signal SIGKILL") &&
		      strstr(log, "replay [victim]"), "antd.log: %s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(antd_refuses_bad_stack_file_and_second_instance)
{
	struct harness h;
	harness_start(&h, chain3);
	/* A second antd on the same folder. */
	char *out = NULL;
	char *const again[] = { (char *)harness_antd(), "--foreground", "--run-dir", h.dir,
				"--server-path", getenv("ANT_SERVERS_DIR"), h.stack_path, NULL };
	ck_assert_int_ne(harness_run(again, &out), 0);
	ck_assert_msg(strstr(out, "holds a live stack already"), "output: %s", out);
	free(out);
	/* A bad stack file: one line naming the file and the key. */
	char bad[400];
	snprintf(bad, sizeof(bad), "%s/bad.json", h.dir);
	FILE *f = fopen(bad, "w");
	fputs("{\"name\":\"x\",\"servers\":[{\"name\":\"a\",\"exec\":\"relay\",\"max_inflight\":0}]}", f);
	fclose(f);
	char *const badrun[] = { (char *)harness_antd(), "--foreground", "--run-dir", h.dir, bad, NULL };
	ck_assert_int_ne(harness_run(badrun, &out), 0);
	ck_assert_msg(strstr(out, "bad.json: servers[0].max_inflight:"), "output: %s", out);
	free(out);
	char *const unknown[] = { (char *)harness_antd(), "--frobnicate", bad, NULL };
	ck_assert_int_eq(harness_run(unknown, &out), 2);
	ck_assert_msg(strstr(out, "--frobnicate"), "output: %s", out);
	free(out);
	/* The first stack is unharmed. */
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	ck_assert_int_eq(harness_call(c, "relay1", "echo", "fine", 0, &res), 0);
	ant_close(c);
	pid_t r1 = harness_server_pid(&h, "relay1");
	harness_stop(&h);
	/* Stopping stopped its children. */
	ck_assert_int_ne(kill(r1, 0), 0);
}
END_TEST

START_TEST(ant_call_tool_prints_reply_and_path)
{
	struct harness h;
	harness_start(&h, chain3);
	char *out = NULL;
	char *const seq[] = { (char *)harness_tool("ant-call"), "--run-dir", h.dir, "relay1", "echo",
			      "hello", "world", NULL };
	ck_assert_int_eq(harness_run(seq, &out), 0);
	ck_assert_msg(strstr(out, "hello world\n"), "%s", out);
	ck_assert_msg(strstr(out, "path: app -> relay1 -> relay2 -> relay3 -> relay2 -> relay1 -> app"), "%s", out);
	free(out);
	char *const dir[] = { (char *)harness_tool("ant-call"), "--run-dir", h.dir, "--return", "direct",
			      "relay1", "echo", "hi", NULL };
	ck_assert_int_eq(harness_run(dir, &out), 0);
	ck_assert_msg(strstr(out, "path: app -> relay1 -> relay2 -> relay3 -> app"), "%s", out);
	free(out);
	char *const many[] = { (char *)harness_tool("ant-call"), "--run-dir", h.dir, "--async", "50",
			       "relay1", "echo", "x", NULL };
	ck_assert_int_eq(harness_run(many, &out), 0);
	ck_assert_msg(strstr(out, "50 calls, 0 failed"), "%s", out);
	free(out);
	char *const noop[] = { (char *)harness_tool("ant-call"), "--run-dir", h.dir, "relay1", "nosuchop", NULL };
	ck_assert_int_eq(harness_run(noop, &out), 1);
	ck_assert_msg(strstr(out, "ANT_E_NO_OP"), "%s", out);
	free(out);
	char *const nosrv[] = { (char *)harness_tool("ant-call"), "--run-dir", h.dir, "nobody", "echo", NULL };
	ck_assert_int_eq(harness_run(nosrv, &out), 1);
	ck_assert_msg(strstr(out, "ANT_E_NO_SERVER"), "%s", out);
	free(out);
	char *const badflag[] = { (char *)harness_tool("ant-call"), "--bogus", NULL };
	ck_assert_int_eq(harness_run(badflag, &out), 2);
	free(out);
	harness_stop(&h);
}
END_TEST

START_TEST(server_calls_async_while_serving_others)
{
	/* asker (max_inflight 4) calls slow itself for each "ask" and holds the
	 * request meanwhile; a plain echo through it is served while they wait. */
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-ask\", \"servers\": ["
			  " {\"name\":\"asker\",\"exec\":\"relay\",\"max_inflight\":4,"
			  "   \"calls\":[\"slow\"]},"
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"300\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	uint64_t t[3], quick;
	const char *args[3] = { "slow one", "slow two", "slow three" };
	for (int i = 0; i < 3; i++) {
		struct ant_call x = { .server = "asker", .op = "ask", .arg = args[i],
				      .arglen = strlen(args[i]) };
		ck_assert_int_eq(ant_call_async(c, &x, &t[i]), 0);
	}
	harness_sleep_ms(100);
	json_t *st = harness_status(&h);
	json_t *asker = json_array_get(json_object_get(st, "servers"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(asker, "inflight")), 3);
	ck_assert_int_eq(json_array_size(json_object_get(asker, "holding")), 3);
	json_decref(st);
	struct ant_call e = { .server = "asker", .op = "echo", .arg = "now", .arglen = 3 };
	ck_assert_int_eq(ant_call_async(c, &e, &quick), 0);
	static struct ant_result res;
	/* The echo overtakes the three asks still waiting on slow. */
	ck_assert_int_eq(ant_wait(c, 0, &res, 5000), 0);
	ck_assert_uint_eq(res.ticket, quick);
	ck_assert(res.len == 3 && memcmp(res.bytes, "now", 3) == 0);
	for (int i = 0; i < 3; i++) {
		char want[64];
		snprintf(want, sizeof(want), "slow said: %s", args[i] + 5);
		ck_assert_int_eq(ant_wait(c, t[i], &res, 5000), 0);
		ck_assert_int_eq(res.retval, 0);
		ck_assert_msg(res.len == strlen(want) && memcmp(res.bytes, want, res.len) == 0,
			      "got '%.*s', want '%s'", (int)res.len, (const char *)res.bytes, want);
	}
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(detached_data_ica_leaves_the_sender)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-detach\", \"servers\": ["
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"300\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	struct ant_ica *ica;
	ck_assert_int_eq(ant_ica_alloc(c, 1 << 20, &ica), 0);
	memset(ica->addr, 0x77, ica->size);
	struct ant_ica_ref ref = ica->ref;
	ck_assert(count_maps("memfd:ant-ica") == 1);
	struct ant_call x = { .server = "slow", .op = "echo", .arg = "d", .arglen = 1,
			      .data = ica, .data_flags = ANT_DF_DETACH };
	uint64_t t;
	ck_assert_int_eq(ant_call_async(c, &x, &t), 0);
	/* Detached: while the call is out, this process maps nothing of it. */
	ck_assert_int_eq(count_maps("memfd:ant-ica"), 0);
	static struct ant_result res;
	ck_assert_int_eq(ant_wait(c, t, &res, 5000), 0);
	/* It came back with the result: the same ICA, the same bytes. */
	ck_assert_ptr_nonnull(res.data);
	ck_assert(res.data->ref.index == ref.index && res.data->ref.gen == ref.gen);
	ck_assert_uint_eq(((unsigned char *)res.data->addr)[12345], 0x77);
	ck_assert_int_eq(count_maps("memfd:ant-ica"), 1);
	ant_ica_release(c, res.data);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

static Suite *chain_suite(void)
{
	Suite *s = suite_create("chain");
	TCase *tc = tcase_create("chain");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sync_call_through_three_servers);
	tcase_add_test(tc, direct_return_skips_intermediate_servers);
	tcase_add_test(tc, async_calls_complete_out_of_order);
	tcase_add_test(tc, server_takes_results_before_requests);
	tcase_add_test(tc, data_ica_passes_three_servers_without_copy);
	tcase_add_test(tc, read_only_data_ica_cannot_be_written);
	tcase_add_test(tc, recycled_data_ica_shows_no_old_bytes);
	tcase_add_test(tc, call_outside_calls_list_is_refused);
	tcase_add_test(tc, large_arguments_are_answered_or_refused_and_nothing_dies);
	tcase_add_test(tc, server_sending_garbage_is_cut_off);
	tcase_add_test(tc, server_sending_corrupt_control_ica_is_cut_off);
	tcase_add_test(tc, killed_server_is_restarted_and_its_call_replayed);
	tcase_add_test(tc, antd_refuses_bad_stack_file_and_second_instance);
	tcase_add_test(tc, ant_call_tool_prints_reply_and_path);
	tcase_add_test(tc, server_calls_async_while_serving_others);
	tcase_add_test(tc, detached_data_ica_leaves_the_sender);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(chain_suite)
