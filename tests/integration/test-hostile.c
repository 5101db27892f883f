/* test-hostile.c - applications that send antd garbage: each is cut off, antd serves on, leaks no fd. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ant/proto.h"
#include "harness.h"

static const char stack[] =
	"{ \"name\": \"t-hostile\", \"servers\": ["
	" {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"echo1\"],\"calls\":[\"echo1\"]},"
	" {\"name\":\"echo1\",\"exec\":\"echo\"} ]}";

/* A raw connection to app.sock, WELCOME read. */
static int raw_connect(struct harness *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/app.sock", h->dir);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert(s >= 0);
	ck_assert(connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	char buf[ANT_MSG_MAX];
	ck_assert(recv(s, buf, sizeof(buf), 0) > 0);
	return s;
}

/* antd must close the connection (an ERROR message may come first). */
static void expect_cut_off(int s, const char *what)
{
	char buf[ANT_MSG_MAX];
	unsigned lanes = 0;
	for (int i = 0; i < 4; i++) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 5000) == 1, "%s: antd neither answered nor hung up", what);
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		if (n <= 0) {
			close(s);
			return;
		}
		struct ant_msg m;
		memcpy(&m, buf, sizeof(m));
		if ((m.type == ANT_M_BELL || m.type == ANT_M_LANE) && lanes++ < 2 * ANT_SERVERS_MAX) {
			i--;   /* the fast path's lanes, sent after WELCOME */
			continue;
		}
		ck_assert_msg(m.type == ANT_M_ERROR, "%s: got %s instead of a cut-off", what,
			      ant_msg_name(m.type));
	}
	ck_abort_msg("%s: connection not closed", what);
}

static void still_serves(struct harness *h)
{
	struct ant_conn *c = harness_connect(h);
	static struct ant_result res;
	ck_assert_int_eq(harness_call(c, "relay1", "echo", "alive", 0, &res), 0);
	ck_assert(res.len == 5 && memcmp(res.bytes, "alive", 5) == 0);
	ant_close(c);
}

static void valid_page(unsigned char *page, unsigned callee)
{
	ck_assert_int_eq(ant_cica_init(page, callee, "echo", "x", 1, ANT_FF_RETURN_NEEDED), 0);
}

START_TEST(hostile_applications_are_cut_off)
{
	struct harness h;
	harness_start(&h, stack);
	still_serves(&h);
	usleep(100000);
	int base = harness_count_fds(h.antd);

	unsigned char junk[8200];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	static unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	struct ant_msg hdr;

	/* 1. random bytes */
	int s = raw_connect(&h);
	ck_assert(send(s, junk, 57, 0) == 57);
	expect_cut_off(s, "random bytes");
	/* 2. truncated header */
	s = raw_connect(&h);
	ck_assert(send(s, junk, 3, 0) == 3);
	expect_cut_off(s, "3-byte message");
	/* 3. oversized packet */
	s = raw_connect(&h);
	ck_assert(send(s, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
	expect_cut_off(s, "8200-byte message");
	/* 4. a CALL whose control ICA has a bad magic */
	s = raw_connect(&h);
	valid_page(page, 1);
	((struct ant_cica_hdr *)page)->magic ^= 0xffff;
	ck_assert_int_eq(ant_msg_send(s, ANT_M_CALL, 0, page, ((struct ant_cica_hdr *)page)->used, -1), 0);
	expect_cut_off(s, "bad magic");
	/* 5. a CALL to a server id that does not exist */
	s = raw_connect(&h);
	valid_page(page, 9);
	ck_assert_int_eq(ant_msg_send(s, ANT_M_CALL, 0, page, ((struct ant_cica_hdr *)page)->used, -1), 0);
	expect_cut_off(s, "unknown callee");
	/* 6. a CALL carrying a data ICA it was never given (wrong id) */
	s = raw_connect(&h);
	valid_page(page, 1);
	((struct ant_cica_hdr *)page)->data = (struct ant_ica_ref){ .index = 0, .gen = 12345, .size = 4096 };
	ck_assert_int_eq(ant_msg_send(s, ANT_M_CALL, 0, page, ((struct ant_cica_hdr *)page)->used, -1), 0);
	expect_cut_off(s, "unheld data ICA");
	/* 7. a message with fds attached (antd takes none from peers) */
	s = raw_connect(&h);
	int p[2];
	ck_assert(pipe(p) == 0);
	valid_page(page, 1);
	ck_assert_int_eq(ant_msg_send(s, ANT_M_CALL, 0, page, ((struct ant_cica_hdr *)page)->used, p[0]), -0);
	close(p[0]);
	close(p[1]);
	expect_cut_off(s, "fd attached");
	/* 8. RELEASE of an ICA it does not hold */
	s = raw_connect(&h);
	struct ant_m_release rl = { .ref = { .index = 3, .gen = 3, .size = 4096 } };
	ck_assert_int_eq(ant_msg_send(s, ANT_M_RELEASE, 0, &rl, sizeof(rl), -1), 0);
	expect_cut_off(s, "release not held");
	/* 9. server-only messages from an application */
	s = raw_connect(&h);
	valid_page(page, 1);
	ck_assert_int_eq(ant_msg_send(s, ANT_M_REPLY, 0, page, ((struct ant_cica_hdr *)page)->used, -1), 0);
	expect_cut_off(s, "REPLY from an app");
	/* 10. a header that lies about the length */
	s = raw_connect(&h);
	hdr = (struct ant_msg){ .type = ANT_M_NEXT, .flags = 0, .len = 4000 };
	ck_assert(send(s, &hdr, sizeof(hdr), 0) == sizeof(hdr));
	expect_cut_off(s, "lying length");
	/* 11. many connections that vanish mid-call */
	for (int i = 0; i < 50; i++) {
		s = raw_connect(&h);
		valid_page(page, 1);
		ant_msg_send(s, ANT_M_CALL, 0, page, ((struct ant_cica_hdr *)page)->used, -1);
		close(s);
	}

	still_serves(&h);
	usleep(200000);
	ck_assert_int_eq(harness_count_fds(h.antd), base);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "cut-off") && strstr(log, "bad magic") &&
		      strstr(log, "unknown callee") && strstr(log, "does not hold"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

START_TEST(fuzzed_calls_never_crash_antd)
{
	struct harness h;
	harness_start(&h, stack);
	unsigned seed = 12345;
	static unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	for (int i = 0; i < 300; i++) {
		int s = raw_connect(&h);
		valid_page(page, 1 + (unsigned)(i % 2));
		size_t used = ((struct ant_cica_hdr *)page)->used;
		int flips = 1 + (int)(rand_r(&seed) % 4);
		for (int k = 0; k < flips; k++)
			page[rand_r(&seed) % used] ^= (unsigned char)(1u << (rand_r(&seed) % 8));
		ant_msg_send(s, ANT_M_CALL, 0, page, used, -1);
		/* Whatever antd makes of it: a result, an error, a hang-up. */
		struct pollfd p = { .fd = s, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 5000) == 1, "mutation %d: no answer at all", i);
		close(s);
	}
	still_serves(&h);
	harness_stop(&h);
}
END_TEST

/* A server's output cannot pass for antd's own lines: every line of it is an
 * "output" event with the server's name and pid, control bytes escaped. */
START_TEST(server_output_cannot_forge_antd_lines)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-say\", \"servers\": ["
			  " {\"name\":\"echo1\",\"exec\":\"echo\",\"args\":[\"--say\","
			  "  \"hello\\n2026-01-01T00:00:00.000Z antd error server-exit [relay9] forged"
			  "\\u001b[31m red\\rback\"]} ]}");
	pid_t pid = harness_server_pid(&h, "echo1");
	harness_stop(&h);
	char *log = harness_read(&h, "antd.log");
	char want[160];
	snprintf(want, sizeof(want), "output [echo1] pid %d: hello\n", (int)pid);
	ck_assert_msg(strstr(log, want) != NULL, "no '%s' in:\n%s", want, log);
	snprintf(want, sizeof(want), "output [echo1] pid %d: 2026-01-01T00:00:00.000Z antd error "
		 "server-exit [relay9] forged\\x1b[31m red\\x0dback\n", (int)pid);
	ck_assert_msg(strstr(log, want) != NULL, "no '%s' in:\n%s", want, log);
	/* Both streams (stderr and stdout), and no line that starts with the forgery. */
	const char *p = log;
	unsigned n = 0;
	while ((p = strstr(p, "pid ")) && (p = strstr(p, ": hello\n"))) {
		n++;
		p++;
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(strstr(log, "\n2026-01-01T00:00:00.000Z"));
	ck_assert_ptr_null(strstr(log, "\x1b"));
	free(log);
}
END_TEST

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* One app opens more connections than antd has file descriptors: antd
 * pauses accepting (no busy loop, no flood of its log) and serves again
 * once they are gone. */
START_TEST(running_out_of_fds_pauses_accepting)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-fds\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	/* antd alone gets a low limit (this test keeps its own). */
	struct rlimit low = { .rlim_cur = 48, .rlim_max = 48 };
	ck_assert_int_eq(prlimit(h.antd, RLIMIT_NOFILE, &low, NULL), 0);
	char app[400], log[400];
	snprintf(app, sizeof(app), "%s/app.sock", h.dir);
	snprintf(log, sizeof(log), "%s/antd.log", h.dir);
	enum { N = 120 };
	int fds[N];
	for (int i = 0; i < N; i++)
		fds[i] = ant_sock_connect(app);   /* the backlog takes what antd does not */
	harness_sleep_ms(200);
	long before = file_size(log);
	harness_sleep_ms(1000);
	long grew = file_size(log) - before;
	ck_assert_msg(grew < 16 * 1024, "antd.log grew by %ld bytes in a second", grew);
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* Serving again: the control socket and a call. */
	pid_t pid = harness_server_pid(&h, "e");
	ck_assert_int_gt(pid, 0);
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "e", "fds back");
	ant_close(c);
	char *text = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(text, "out of file descriptors") &&
		      strstr(text, "accepting connections again"), "%s", text);
	free(text);
	harness_stop(&h);
}
END_TEST

/* antd's resident memory, in KiB. */
static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* An app that sends calls and never reads: antd holds at most
 * limits.calls_per_peer of them (the rest are refused at once), so its
 * memory stays small, and what it held goes when the app goes. */
START_TEST(an_app_that_never_reads_is_held_to_its_calls_limit)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-noread\", \"servers\": ["
			  " {\"name\":\"slow\",\"exec\":\"echo\",\"args\":[\"--pause-ms\",\"1000\"]} ]}");
	struct ant_conn *c = harness_connect(&h);
	char arg[2000];
	memset(arg, 'z', sizeof(arg));
	struct ant_call x = { .server = "slow", .op = "echo", .arg = arg, .arglen = sizeof(arg) };
	for (int i = 0; i < 5000; i++) {
		uint64_t t;
		if (ant_call_async(c, &x, &t) < 0)
			break;
	}
	harness_sleep_ms(300);
	json_t *st = harness_status(&h);
	long in_flight = (long)json_integer_value(json_object_get(json_object_get(st, "calls"),
								  "in_flight"));
	json_decref(st);
	ck_assert_msg(in_flight <= 1024, "%ld calls in flight", in_flight);
	long kb = rss_kb(h.antd);
	ck_assert_msg(kb > 0 && kb < 40 * 1024, "antd RSS %ld KiB", kb);
	ant_close(c);
	harness_sleep_ms(300);
	st = harness_status(&h);
	in_flight = (long)json_integer_value(json_object_get(json_object_get(st, "calls"),
							     "in_flight"));
	json_decref(st);
	ck_assert_msg(in_flight <= 1, "%ld calls in flight after the app went", in_flight);
	harness_stop(&h);
}
END_TEST

/* One app allocating data ICAs without end is refused at its limit (and
 * may go on after releasing), while another app and the operator are
 * served, and antd's log barely grows. */
START_TEST(an_app_hoarding_icas_is_refused_at_its_limit)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;   /* this test holds hundreds of areas */
	setrlimit(RLIMIT_NOFILE, &rl);
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-hoard\", \"limits\": {\"icas_per_peer\": 300},"
			  " \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	char log[400];
	snprintf(log, sizeof(log), "%s/antd.log", h.dir);
	long before = file_size(log);
	struct ant_conn *hoarder = harness_connect(&h);
	static struct ant_ica *areas[25000];
	int n = 0, r = 0;
	while (n < 25000 && (r = ant_ica_alloc(hoarder, 4096, &areas[n])) == 0)
		n++;
	ck_assert_int_eq(n, 300);
	ck_assert_int_eq(r, ANT_E_LIMIT);
	/* Refused, not cut off: one released, one more allowed. */
	ant_ica_release(hoarder, areas[--n]);
	ck_assert_int_eq(ant_ica_alloc(hoarder, 4096, &areas[n++]), 0);
	/* The others are served meanwhile, at once. */
	struct ant_conn *other = harness_connect(&h);
	double t0 = now_ms();
	harness_expect_echo(other, "e", "not starved");
	json_t *st = harness_status(&h);
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	ck_assert_msg(now_ms() - t0 < 1000, "took %.0f ms", now_ms() - t0);
	ck_assert_msg(file_size(log) - before < 1024 * 1024, "antd.log grew by %ld bytes",
		      file_size(log) - before);
	ant_close(other);
	ant_close(hoarder);
	harness_stop(&h);
}
END_TEST

/* One user's connections are capped: past the limit a connection is
 * refused with ANT_E_LIMIT (said in the log, not once per refusal). */
START_TEST(one_users_connections_are_capped)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-conns\", \"limits\": {\"connections_per_user\": 20},"
			  " \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	struct ant_conn *c[40];
	int ok = 0, limited = 0;
	for (int i = 0; i < 40; i++) {
		int r = ant_connect(h.dir, &c[ok]);
		if (r == 0)
			ok++;
		else
			limited += r == ANT_E_LIMIT;
	}
	ck_assert_int_eq(ok, 20);
	ck_assert_int_eq(limited, 20);
	harness_expect_echo(c[0], "e", "one of the twenty");
	for (int i = 0; i < ok; i++)
		ant_close(c[i]);
	/* Room again, once antd has seen them go. */
	struct ant_conn *again = NULL;
	int r = -1;
	for (int i = 0; i < 200 && (r = ant_connect(h.dir, &again)) == ANT_E_LIMIT; i++)
		harness_sleep_ms(10);
	ck_assert_msg(r == 0, "connect after the others went: %s", ant_errname(r));
	ant_close(again);
	char *text = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(text, "over limits.connections_per_user (20); 16 refused so far") &&
		      !strstr(text, "17 refused so far"), "%s", text);
	free(text);
	harness_stop(&h);
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("hostile");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hostile_applications_are_cut_off);
	tcase_add_test(tc, fuzzed_calls_never_crash_antd);
	tcase_add_test(tc, server_output_cannot_forge_antd_lines);
	tcase_add_test(tc, running_out_of_fds_pauses_accepting);
	tcase_add_test(tc, an_app_hoarding_icas_is_refused_at_its_limit);
	tcase_add_test(tc, an_app_that_never_reads_is_held_to_its_calls_limit);
	tcase_add_test(tc, one_users_connections_are_capped);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(hostile_suite)
