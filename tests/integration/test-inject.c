/* test-inject.c - antctl inject into a running stack under load: every fault of the vocabulary, and what the supervision rules promise after it. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ant/errors.h"
#include "ctl_client.h"
#include "check_main.h"
#include "harness.h"
#include "load.h"

#define APPS 3
#define LOAD_PAUSE_US 2000   /* between two calls of an application */

/* relay2 and the rest, shared by the two stacks below. */
#define INJECT_STACK_REST \
	" {\"name\":\"relay2\",\"exec\":\"relay\",\"args\":[\"relay3\"],\"calls\":[\"relay3\"]," \
	"  \"injectable\":[\"recvmsg\"]," \
	"  \"supervision\":{\"deadline_ms\":400,\"backoff\":{\"initial_ms\":0}}}," \
	" {\"name\":\"relay3\",\"exec\":\"relay\"}," \
	" {\"name\":\"e\",\"exec\":\"echo\"}" \
	"]}"

/* app -> relay1 -> relay2 -> relay3; relay2 is the target, hung after
 * 400 ms; e answers data ICAs. */
static const char stack[] =
	"{ \"name\": \"t-inject\", \"servers\": ["
	" {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"relay2\"],\"calls\":[\"relay2\"]},"
	INJECT_STACK_REST;

/* The same, but relay1 forwards with direct return: relay2 then takes every
 * call from antd's socket (recvmsg), also with the fast path on, where a
 * forward whose result comes back goes in relay1's lane to relay2. */
static const char direct_stack[] =
	"{ \"name\": \"t-inject-d\", \"servers\": ["
	" {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"--return\",\"direct\",\"relay2\"],"
	"  \"calls\":[\"relay2\"]},"
	INJECT_STACK_REST;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- antctl and antd's log ---------------------------------------------------- */

/* antd's last events (caller decrefs). */
static json_t *events(struct harness *h)
{
	json_t *req = json_pack("{s:s, s:i}", "cmd", "log", "lines", 1000);
	json_t *rep = NULL;
	char why[160];
	ck_assert_int_eq(ctl_request_once(h->dir, req, 5000, &rep, why, sizeof(why)), 0);
	json_decref(req);
	json_t *ev = json_incref(json_object_get(rep, "events"));
	json_decref(rep);
	return ev;
}

/* The first event named name of server with field key == v (an integer;
 * key NULL: any), after index from; its index, or -1. */
static long find_event(const json_t *ev, size_t from, const char *name, const char *server,
		       const char *key, long v)
{
	for (size_t i = from; i < json_array_size(ev); i++) {
		const json_t *e = json_array_get(ev, i);
		const char *en = json_string_value(json_object_get(e, "event"));
		const char *es = json_string_value(json_object_get(e, "server"));
		if (!en || strcmp(en, name) != 0 || (server && (!es || strcmp(es, server) != 0)))
			continue;
		if (key && json_integer_value(json_object_get(e, key)) != v)
			continue;
		return (long)i;
	}
	return -1;
}

/* Wait (up to 5 s) until event name of server with key == v is logged;
 * returns it (a new reference). */
static json_t *wait_event(struct harness *h, const char *name, const char *server,
			  const char *key, long v)
{
	for (int i = 0; i < 250; i++) {
		json_t *ev = events(h);
		long at = find_event(ev, 0, name, server, key, v);
		if (at >= 0) {
			json_t *e = json_incref(json_array_get(ev, (size_t)at));
			json_decref(ev);
			return e;
		}
		json_decref(ev);
		harness_sleep_ms(20);
	}
	ck_abort_msg("no %s event of %s with %s %ld", name, server, key ? key : "-", v);
	return NULL;
}

/* antctl inject ARGS... --json: the armed fault's id. */
static long inject(struct harness *h, const char *server, const char *fault, const char *opt,
		   const char *val)
{
	char *out;
	int rc = harness_antctl(&out, "--run-dir", h->dir, "--json", "inject", server, fault, opt, val,
			NULL);
	ck_assert_msg(rc == 0, "inject %s %s: exit %d: %s", server, fault, rc, out);
	json_error_t jerr;
	json_t *rep = json_loads(out, 0, &jerr);
	ck_assert_msg(rep, "not JSON: %s", out);
	long id = (long)json_integer_value(json_object_get(json_object_get(rep, "inject"), "id"));
	ck_assert_msg(id > 0, "%s", out);
	json_decref(rep);
	free(out);
	return id;
}

/* ---- the tests ------------------------------------------------------------------ */

/* What each fault must end in, relay2 being hit on a request of the load:
 * the process ends (or is killed as hung, or cut off) and the request is
 * replayed to the next one, whose answer is right. */
static const struct {
	const char *fault;
	const char *detected;   /* the event that follows "injected" for the same pid */
	const char *says;       /* in its message */
	const char *via;
} ending[] = {
	{ "kill", "server-exit", "killed by signal SIGKILL: injected fault", "failpoint" },
	{ "segv", "server-exit", "killed by signal SIGSEGV", "failpoint" },
	{ "abort", "server-exit", "killed by signal SIGABRT", "failpoint" },
	{ "exit:3", "server-exit", "exited with code 3", "failpoint" },
	{ "hang", "kill", "hang: deadline 400 ms exceeded", "failpoint" },
	{ "spin", "kill", "hang: deadline 400 ms exceeded", "failpoint" },
	{ "drop", "kill", "hang: deadline 400 ms exceeded", "failpoint" },
	{ "corrupt", "kill", "cut off: invalid control ICA", "failpoint" },
	{ "sandbox", "kill", "sandbox violation", "failpoint" },
	/* relay2's recvmsg fails: libant gives up and relay2 exits (1; under
	 * ASan its leak check at exit breaks the sandbox: SIGSYS either way). */
	{ "errno:recvmsg:EIO", "server-exit", "pid ", "seccomp" },
};

START_TEST(each_fault_ends_in_a_replayed_right_answer_under_load)
{
	struct harness h;
	harness_start(&h, stack);
	struct load l;
	load_start(&l, &h, APPS, LOAD_PAUSE_US);
	for (size_t i = 0; i < sizeof(ending) / sizeof(ending[0]); i++) {
		long restarts = harness_server_num(&h, "relay2", "restarts");
		int fp = strcmp(ending[i].via, "failpoint") == 0;
		long id = inject(&h, "relay2", ending[i].fault, fp ? "--op" : NULL, fp ? "echo" : NULL);
		json_t *hit = wait_event(&h, "injected", "relay2", "inject_id", id);
		long pid = (long)json_integer_value(json_object_get(hit, "pid"));
		ck_assert_msg(pid > 0 && json_object_get(hit, fp ? "call" : "syscall"), "%s: %s",
			      ending[i].fault, json_dumps(hit, 0));
		ck_assert_str_eq(json_string_value(json_object_get(hit, "via")), ending[i].via);
		json_t *det = wait_event(&h, ending[i].detected, "relay2", "pid", pid);
		const char *msg = json_string_value(json_object_get(det, "msg"));
		ck_assert_msg(strstr(msg, ending[i].says), "%s: %s", ending[i].fault, msg);
		harness_wait_state(&h, "relay2", "running", (pid_t)pid);
		ck_assert_int_eq(harness_server_num(&h, "relay2", "restarts"), restarts + 1);
		load_expect_progress(&l, 6);   /* the load goes on through the new relay2 */
		json_decref(hit);
		json_decref(det);
	}
	struct load_app sum;
	load_stop(&l, &sum);
	ck_assert_msg(sum.wrong == 0 && sum.errors == 0,
		      "%ld right, %ld wrong, %ld errors (last %s)", sum.ok, sum.wrong, sum.errors,
		      ant_errname((int)sum.last_error));
	/* Each failpoint fault hit a request relay2 held: it was replayed.  (The
	 * failed recvmsg may have been relay2 waiting for work, holding none.) */
	ck_assert_int_ge(harness_server_num(&h, "relay2", "replays"),
			 (long)(sizeof(ending) / sizeof(ending[0])) - 1);
	harness_stop(&h);
}
END_TEST

/* delay: a slower right answer, no restart; leak: the memory grows; exhaust:
 * antd refuses, the server and the stack go on. */
START_TEST(delay_leak_and_exhaust_leave_the_server_running)
{
	struct harness h;
	harness_start(&h, stack);
	struct load l;
	load_start(&l, &h, APPS, LOAD_PAUSE_US);
	pid_t pid = harness_server_pid(&h, "relay2");
	long id = inject(&h, "relay2", "delay:300", "--op", "echo");
	json_decref(wait_event(&h, "injected", "relay2", "inject_id", id));
	long rss0 = harness_server_num(&h, "relay2", "rss_kb");
	id = inject(&h, "relay2", "leak:16", "--count", "3");
	json_decref(wait_event(&h, "inject-cleared", "relay2", "inject_id", id));
	long rss1 = 0;   /* FIRED comes before the leak itself */
	for (int k = 0; k < 100 && (rss1 = harness_server_num(&h, "relay2", "rss_kb")) - rss0 < 45 * 1024; k++)
		harness_sleep_ms(20);
	ck_assert_msg(rss1 - rss0 >= 45 * 1024, "rss %ld kB -> %ld kB after 3 x 16 MiB", rss0, rss1);
	id = inject(&h, "relay2", "exhaust", NULL, NULL);
	json_decref(wait_event(&h, "injected", "relay2", "inject_id", id));
	json_decref(wait_event(&h, "ica-limit", "relay2", NULL, 0));
	load_expect_progress(&l, 6);
	struct load_app sum;
	load_stop(&l, &sum);
	ck_assert_msg(sum.wrong == 0 && sum.errors == 0, "%ld right, %ld wrong, %ld errors",
		      sum.ok, sum.wrong, sum.errors);
	ck_assert_msg(sum.max_s >= 0.3, "the delayed call took %.3f s", sum.max_s);
	ck_assert_int_eq(harness_server_pid(&h, "relay2"), pid);
	ck_assert_int_eq(harness_server_num(&h, "relay2", "restarts"), 0);
	harness_stop(&h);
}
END_TEST

/* corrupt-data flips bits of a data ICA the server may write, and only in
 * the call it hits. */
START_TEST(corrupt_data_flips_bits_of_the_answered_area)
{
	struct harness h;
	harness_start(&h, stack);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			inject(&h, "e", "corrupt-data", NULL, NULL);
		struct ant_ica *ica;
		ck_assert_int_eq(ant_ica_alloc(c, 16384, &ica), 0);
		struct ant_call x = { .server = "e", .op = "fill", .arg = "Z", .arglen = 1,
				      .data = ica };
		ck_assert_int_eq(ant_call_sync(c, &x, &res), 0);
		ck_assert_ptr_nonnull(res.data);
		const unsigned char *p = res.data->addr;
		size_t bad = 0;
		for (size_t k = 0; k < res.data->size; k++)
			bad += p[k] != 'Z';
		if (round == 0)
			ck_assert_uint_eq(bad, 0);
		else
			ck_assert_msg(bad >= 4, "%zu bytes changed", bad);
		if (res.data != ica)
			ant_ica_release(c, res.data);
		ant_ica_release(c, ica);
	}
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* Triggers: the Nth request of an op; a probability with a seed fires at the
 * same requests twice; --count; --list and --clear. */
START_TEST(triggers_count_requests_and_repeat_with_a_seed)
{
	struct harness h;
	harness_start(&h, stack);
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	/* nth 3 of op echo on e: the 3rd echo is delayed; frob calls do not count. */
	inject(&h, "e", "delay:250", "--nth", "3");
	for (int i = 1; i <= 4; i++) {
		double t0 = now_s();
		ck_assert_int_eq(ant_call_sync(c, &(struct ant_call){ .server = "e", .op = "echo",
						.arg = "x", .arglen = 1 }, &res), 0);
		double took = now_s() - t0;
		ck_assert_msg((i == 3) == (took >= 0.25), "call %d took %.3f s", i, took);
	}
	/* prob 0.3 seed 42, 30 calls, twice: the same calls are hit. */
	char hits[2][31];
	for (int run = 0; run < 2; run++) {
		char *out;
		ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "inject", "e", "delay:60", "--prob",
					"0.3", "--seed", "42", "--count", "0", NULL), 0);
		free(out);
		for (int i = 0; i < 30; i++) {
			double t0 = now_s();
			ck_assert_int_eq(ant_call_sync(c, &(struct ant_call){ .server = "e",
							.op = "echo", .arg = "y", .arglen = 1 }, &res), 0);
			hits[run][i] = now_s() - t0 >= 0.06 ? 'X' : '.';
		}
		hits[run][30] = '\0';
		ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "inject", "--list", NULL), 0);
		ck_assert_msg(strstr(out, "delay:60") && strstr(out, "prob 0.3 seed 42"), "%s", out);
		free(out);
		ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "inject", "--clear", "e", NULL), 0);
		ck_assert_msg(strstr(out, "cleared 1 fault(s)"), "%s", out);
		free(out);
	}
	ck_assert_str_eq(hits[0], hits[1]);
	int n = 0;
	for (int i = 0; i < 30; i++)
		n += hits[0][i] == 'X';
	ck_assert_msg(n >= 3 && n <= 20, "prob 0.3 hit %d of 30: %s", n, hits[0]);
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "inject", "--list", NULL), 0);
	ck_assert_msg(strstr(out, "no fault armed"), "%s", out);
	free(out);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* By signal: now, or after a delay; kill counts as a crash, hang (SIGSTOP)
 * is found by the deadline. */
START_TEST(signals_now_and_after)
{
	struct harness h;
	harness_start(&h, stack);
	pid_t pid = harness_server_pid(&h, "relay3");
	long id = inject(&h, "relay3", "abort", NULL, NULL);
	json_t *hit = wait_event(&h, "injected", "relay3", "inject_id", id);
	ck_assert_str_eq(json_string_value(json_object_get(hit, "via")), "signal");
	json_decref(hit);
	json_decref(wait_event(&h, "server-exit", "relay3", "pid", pid));
	pid = harness_wait_state(&h, "relay3", "running", pid);
	double t0 = now_s();
	id = inject(&h, "relay3", "kill", "--after", "300");
	json_decref(wait_event(&h, "server-exit", "relay3", "pid", pid));
	ck_assert_msg(now_s() - t0 >= 0.3, "after 300 ms: %.3f s", now_s() - t0);
	pid = harness_wait_state(&h, "relay3", "running", pid);
	/* hang by SIGSTOP: relay2's deadline (400 ms) kills it, the call is replayed. */
	pid_t r2 = harness_server_pid(&h, "relay2");
	inject(&h, "relay2", "hang", "--via", "signal");
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "relay1", "through a stopped relay2");
	json_t *k = wait_event(&h, "kill", "relay2", "pid", r2);
	ck_assert_msg(strstr(json_string_value(json_object_get(k, "msg")), "hang: deadline"), "%s",
		      json_string_value(json_object_get(k, "msg")));
	json_decref(k);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* --via bpf (root): a signal at the Nth call of a named system call, and by
 * a seeded draw, which fires at the same call of the same sequence again. */
START_TEST(bpf_signals_at_a_system_call)
{
	struct harness h;
	harness_start(&h, direct_stack);
	struct ant_conn *c = harness_connect(&h);
	long at[2];
	for (int round = 0; round < 3; round++) {
		pid_t pid = harness_server_pid(&h, "relay2");
		long id = round == 0 ? inject(&h, "relay2", "kill", "--syscall", "recvmsg")
				     : harness_inject(&h, "relay2", "kill", "{\"via\":\"bpf\","
						      "\"syscall\":\"recvmsg\",\"prob\":0.2,\"seed\":9}");
		/* Calls until it fires; each is answered, replayed if it must be. */
		json_t *hit = NULL;
		for (int i = 0; i < 100 && !hit; i++) {
			harness_expect_echo(c, "relay1", "through an eBPF injector");
			json_t *ev = events(&h);
			long k = find_event(ev, 0, "injected", "relay2", "inject_id", id);
			if (k >= 0)
				hit = json_incref(json_array_get(ev, (size_t)k));
			json_decref(ev);
		}
		ck_assert_msg(hit, "round %d: fault %ld never fired", round, id);
		ck_assert_str_eq(json_string_value(json_object_get(hit, "via")), "bpf");
		ck_assert_str_eq(json_string_value(json_object_get(hit, "syscall")), "recvmsg");
		ck_assert_int_eq(json_integer_value(json_object_get(hit, "pid")), pid);
		long k = (long)json_integer_value(json_object_get(hit, "nth_call"));
		if (round == 0)
			ck_assert_int_eq(k, 1);
		else
			at[round - 1] = k;
		json_decref(hit);
		json_t *det = wait_event(&h, "server-exit", "relay2", "pid", pid);
		ck_assert_msg(strstr(json_string_value(json_object_get(det, "msg")),
				     "killed by signal SIGKILL: injected fault"), "%s",
			      json_string_value(json_object_get(det, "msg")));
		json_decref(det);
		harness_wait_state(&h, "relay2", "running", pid);
	}
	ck_assert_msg(at[0] == at[1], "seed 9 fired at call %ld, then at %ld", at[0], at[1]);
	harness_expect_echo(c, "relay1", "after");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* Bad input exits 2 and arms nothing. */
START_TEST(bad_input_exits_2_and_arms_nothing)
{
	struct harness h;
	harness_start(&h, stack);
	static const struct {
		const char *args[8];
		const char *says;
	} bad[] = {
		{ { "inject", "relay2", "frob" }, "unknown fault 'frob'" },
		{ { "inject", "nosuch", "kill" }, "unknown server \"nosuch\"" },
		{ { "inject", "relay2", "delay" }, "fault delay needs its argument: delay:MS" },
		{ { "inject", "relay2", "exit:300" }, "expected an exit code from 0 to 255" },
		{ { "inject", "relay2", "errno:nosuchcall:EIO" }, "unknown system call 'nosuchcall'" },
		{ { "inject", "relay2", "errno:pread64:ENOPE" }, "unknown errno 'ENOPE'" },
		{ { "inject", "relay2", "errno:pread64:EIO" }, "pread64 of relay2 is not injectable" },
		{ { "inject", "relay2", "kill", "--via", "seccomp" }, "cannot get in by --via seccomp" },
		{ { "inject", "relay2", "spin", "--via", "signal" }, "cannot get in by --via signal" },
		{ { "inject", "relay2", "kill", "--via", "signal", "--nth", "2" }, "--via signal fires now" },
		{ { "inject", "relay2", "kill", "--nth", "2", "--prob", "0.5" }, "choose one trigger" },
		{ { "inject", "relay2", "kill", "--prob", "1.5" }, "--prob: expected a probability" },
		{ { "inject", "relay2", "kill", "--syscall", "nosuchcall" }, "unknown system call" },
		{ { "inject", "relay2", "kill", "--via", "nowhere" }, "--via: expected auto" },
		{ { "inject", "relay2" }, "expected SERVER FAULT" },
		{ { "inject", "--list", "--nth", "2" }, "take no trigger options" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[12] = { (char *)harness_tool("antctl"), "--run-dir", h.dir };
		int n = 3;
		for (int k = 0; bad[i].args[k]; k++)
			argv[n++] = (char *)bad[i].args[k];
		argv[n] = NULL;
		char *out;
		int rc = harness_run(argv, &out);
		ck_assert_msg(rc == 2 && strstr(out, bad[i].says), "case %zu: exit %d: %s", i, rc, out);
		free(out);
	}
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "inject", "--list", NULL), 0);
	ck_assert_msg(strstr(out, "no fault armed"), "%s", out);
	free(out);
	json_t *ev = events(&h);
	ck_assert_int_eq(find_event(ev, 0, "inject-armed", NULL, NULL, 0), -1);
	json_decref(ev);
	/* The vocabulary needs no stack; docs/faultinject.md has a row for
	 * each of its faults, as the command line writes it. */
	ck_assert_int_eq(harness_antctl(&out, "--json", "inject", "--vocabulary", NULL), 0);
	json_error_t jerr;
	json_t *voc = json_loads(out, 0, &jerr);
	ck_assert_msg(json_array_size(voc) == 14, "%s", out);
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/faultinject.md", getenv("ANT_SOURCE_ROOT"));
	FILE *f = fopen(path, "re");
	ck_assert_msg(f, "%s", path);
	char *doc = NULL;
	size_t len = 0;
	ck_assert(getdelim(&doc, &len, '\0', f) > 0);
	fclose(f);
	size_t i;
	json_t *row;
	json_array_foreach(voc, i, row) {
		char want[80];
		snprintf(want, sizeof(want), "\n| `%s`", json_string_value(json_object_get(row, "fault")));
		ck_assert_msg(strstr(doc, want), "docs/faultinject.md has no row %s", want + 1);
	}
	free(doc);
	json_decref(voc);
	free(out);
	harness_stop(&h);
}
END_TEST

static Suite *inject_suite(void)
{
	Suite *s = suite_create("inject");
	TCase *tc = tcase_create("inject");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_add_test(tc, bad_input_exits_2_and_arms_nothing);
	tcase_add_test(tc, each_fault_ends_in_a_replayed_right_answer_under_load);
	tcase_add_test(tc, delay_leak_and_exhaust_leave_the_server_running);
	tcase_add_test(tc, corrupt_data_flips_bits_of_the_answered_area);
	tcase_add_test(tc, triggers_count_requests_and_repeat_with_a_seed);
	tcase_add_test(tc, signals_now_and_after);
	const char *bpf = getenv("ANT_BPF");
	int have_bpf = bpf && strcmp(bpf, "1") == 0;
	ant_tcase_add_test_if(tc, bpf_signals_at_a_system_call, have_bpf && geteuid() == 0,
			      !have_bpf ? "antd built without -Dbpf" : "eBPF needs root");
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(inject_suite)
