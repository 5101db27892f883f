/* test-sandbox.c - servers in their sandboxes: violations named and survived, own uids, hostile servers. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "harness.h"

/* A field of /proc/PID/status, e.g. "Uid", as its text. */
static void proc_status(pid_t pid, const char *field, char *out, size_t len)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert(f != NULL);
	out[0] = '\0';
	size_t fl = strlen(field);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			char *v = line + fl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, len, "%s", v);
		}
	}
	fclose(f);
}

START_TEST(forbidden_syscalls_are_named_killed_restarted_and_replayed)
{
	static const char *const calls[] = { "openat", "socket", "execve", "ptrace", "tgkill", "fcntl" };
	static const char *const faults[] = { "sandbox:openat", "sandbox", "sandbox:execve",
					      "sandbox:ptrace", "sandbox:tgkill", "sandbox:setown" };
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-violate\", \"servers\": ["
			  " {\"name\":\"v-openat\",\"exec\":\"echo\"}, {\"name\":\"v-socket\",\"exec\":\"echo\"},"
			  " {\"name\":\"v-execve\",\"exec\":\"echo\"}, {\"name\":\"v-ptrace\",\"exec\":\"echo\"},"
			  " {\"name\":\"v-tgkill\",\"exec\":\"echo\"}, {\"name\":\"v-fcntl\",\"exec\":\"echo\"} ]}");
	for (int i = 0; i < 6; i++) {
		char server[32];
		snprintf(server, sizeof(server), "v-%s", calls[i]);
		harness_inject(&h, server, faults[i], "{\"match\":\"BAD\"}");
	}
	struct ant_conn *c = harness_connect(&h);
	for (int i = 0; i < 6; i++) {
		char server[32];
		snprintf(server, sizeof(server), "v-%s", calls[i]);
		/* The call is answered: by the restarted server, from the replay. */
		harness_expect_echo(c, server, "a BAD request");
		json_t *s = harness_server_status(&h, server);
		const char *viol = json_string_value(json_object_get(s, "last_violation"));
		const char *last = json_string_value(json_object_get(s, "last_exit"));
		char want[64];
		snprintf(want, sizeof(want), "sandbox violation: %s (", calls[i]);
		ck_assert_msg(viol && strncmp(viol, want, strlen(want)) == 0, "%s: %s", server, viol);
		ck_assert_msg(last && strstr(last, "SIGSYS"), "%s last exit: %s", server, last);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "restarts")), 1);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "replays")), 1);
		json_t *sb = json_object_get(s, "sandbox");
		ck_assert_str_eq(json_string_value(json_object_get(sb, "policy")), "default");
		ck_assert_int_gt(json_integer_value(json_object_get(sb, "syscalls_allowed")), 20);
		json_decref(s);
	}
	/* v-tgkill now runs as a restarted instance, with the filter the
	 * forker made once and the child's own pid written into it: it may
	 * still signal itself (abort: SIGABRT, no violation), and still no
	 * other process, restart after restart. */
	for (int round = 0; round < 2; round++) {
		harness_inject(&h, "v-tgkill", "abort", "{\"match\":\"SELF\"}");
		harness_expect_echo(c, "v-tgkill", "a SELF request");
		json_t *s = harness_server_status(&h, "v-tgkill");
		const char *last = json_string_value(json_object_get(s, "last_exit"));
		ck_assert_msg(last && strstr(last, "SIGABRT"), "v-tgkill last exit: %s", last);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "restarts")), 2 + 2 * round);
		json_decref(s);
		harness_inject(&h, "v-tgkill", "sandbox:tgkill", "{\"match\":\"BAD\"}");
		harness_expect_echo(c, "v-tgkill", "a BAD request");
		s = harness_server_status(&h, "v-tgkill");
		last = json_string_value(json_object_get(s, "last_exit"));
		const char *viol = json_string_value(json_object_get(s, "last_violation"));
		ck_assert_msg(last && strstr(last, "SIGSYS"), "v-tgkill last exit: %s", last);
		ck_assert_msg(viol && strncmp(viol, "sandbox violation: tgkill (", 27) == 0, "%s", viol);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "restarts")), 3 + 2 * round);
		json_decref(s);
	}
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "sandbox-violation [v-openat]") &&
		      strstr(log, "sandbox violation: socket (41)") &&
		      strstr(log, "sandbox violation: execve (59)") &&
		      strstr(log, "sandbox violation: ptrace (101)"), "%s", log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(servers_run_as_their_own_users_without_capabilities)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-users\", \"servers\": ["
			  " {\"name\":\"auto\",\"exec\":\"echo\"},"
			  " {\"name\":\"nob\",\"exec\":\"echo\",\"sandbox\":{\"groups\":[\"stdio\",\"mem\",\"time\"],"
			  "   \"user\":\"nobody\"}} ]}");
	struct { const char *name; const char *uid; } want[] = {
		{ "auto", "61001\t61001\t61001\t61001" }, { "nob", "65534\t65534\t65534\t65534" },
	};
	for (int i = 0; i < 2; i++) {
		pid_t pid = harness_server_pid(&h, want[i].name);
		char v[256];
		proc_status(pid, "Uid", v, sizeof(v));
		ck_assert_str_eq(v, want[i].uid);
		proc_status(pid, "Gid", v, sizeof(v));
		ck_assert_str_eq(v, want[i].uid);
		proc_status(pid, "CapEff", v, sizeof(v));
		ck_assert_str_eq(v, "0000000000000000");
		proc_status(pid, "CapPrm", v, sizeof(v));
		ck_assert_str_eq(v, "0000000000000000");
		proc_status(pid, "NoNewPrivs", v, sizeof(v));
		ck_assert_str_eq(v, "1");
		proc_status(pid, "Seccomp", v, sizeof(v));
		ck_assert_str_eq(v, "2");
	}
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "nob", "as nobody");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(unknown_user_is_a_clear_error)
{
	char dir[400];
	harness_mkdtemp(dir, sizeof(dir), "user-XXXXXX");
	char stack[512];
	snprintf(stack, sizeof(stack), "%s/stack.json", dir);
	FILE *f = fopen(stack, "w");
	fputs("{ \"name\": \"t-nouser\", \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\","
	      " \"sandbox\":{\"groups\":[\"stdio\"],\"user\":\"no-such-user-here\"}} ]}", f);
	fclose(f);
	char *out = NULL;
	char *const argv[] = { (char *)harness_antd(), "--foreground", "--run-dir", dir,
			       "--server-path", getenv("ANT_SERVERS_DIR"), stack, NULL };
	ck_assert_int_ne(harness_run(argv, &out), 0);
	ck_assert_msg(strstr(out, "user \"no-such-user-here\" does not exist"), "%s", out);
	free(out);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(bad_sandbox_policies_are_refused_at_load)
{
	char dir[400];
	harness_mkdtemp(dir, sizeof(dir), "sbx-XXXXXX");
	static const char *const cases[][2] = {
		{ "{\"groups\":[\"stdio\",\"teleport\"]}", "unknown syscall group \"teleport\"" },
		{ "{\"groups\":[\"stdio\"],\"extra\":[\"frobnicate\"]}", "unknown syscall \"frobnicate\"" },
		{ "{\"groups\":[\"stdio\"],\"action\":\"explode\"}", "action: must be one of kill, log, errno" },
		{ "{\"groups\":[]}", "groups: must be a non-empty array" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char stack[512];
		snprintf(stack, sizeof(stack), "%s/stack.json", dir);
		FILE *f = fopen(stack, "w");
		fprintf(f, "{ \"name\": \"t-bad\", \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\","
			   " \"sandbox\": %s} ]}", cases[i][0]);
		fclose(f);
		char *out = NULL;
		char *const argv[] = { (char *)harness_antd(), "--foreground", "--run-dir", dir,
				       "--server-path", getenv("ANT_SERVERS_DIR"), stack, NULL };
		ck_assert_int_ne(harness_run(argv, &out), 0);
		ck_assert_msg(strstr(out, "servers[0].sandbox") && strstr(out, cases[i][1]),
			      "case %zu: %s", i, out);
		free(out);
	}
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(control_socket_refuses_other_users)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-ctl\", \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	char path[400];
	snprintf(path, sizeof(path), "%s/control.sock", h.dir);
	for (int open_mode = 0; open_mode < 2; open_mode++) {
		/* Second round: even with the file mode opened up, the peer check holds. */
		if (open_mode)
			ck_assert_int_eq(chmod(path, 0666), 0);
		pid_t pid = fork();
		ck_assert(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(10);
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
			int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
			if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
				_exit(errno == EACCES ? 0 : 11);
			const char *req = "{\"cmd\":\"status\"}";
			send(s, req, strlen(req), MSG_NOSIGNAL);
			char buf[256];
			ssize_t n = recv(s, buf, sizeof(buf), 0);
			_exit(n <= 0 ? 0 : 12);   /* hung up on, no status */
		}
		int st;
		waitpid(pid, &st, 0);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %d: status 0x%x", open_mode, st);
	}
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "control connection from uid 65534 refused"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

START_TEST(hostile_server_is_cut_off_and_antd_leaks_nothing)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-hostile-srv\", \"servers\": ["
			  " {\"name\":\"bad\",\"exec\":\"echo\",\"args\":[\"--junk\",\"JUNK\"],"
			  "   \"supervision\":{\"poison_kills\":9,\"intensity\":{\"max_restarts\":100,\"period_s\":60},"
			  "   \"backoff\":{\"initial_ms\":0,\"base_ms\":0}}},"
			  " {\"name\":\"good\",\"exec\":\"echo\"} ]}");
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "good", "warm up");
	harness_expect_echo(c, "bad", "warm up");
	harness_sleep_ms(100);
	int base = harness_count_fds(h.antd);
	static struct ant_result res;
	/* Each process of "bad" answers JUNK with another kind of bad message:
	 * random bytes, oversized, truncated, an fd, a wrong ICA id, an ICA it
	 * does not hold, a lying length, an unknown type.  Cut off each time;
	 * after 9 deaths the request is poison. */
	ck_assert_int_eq(harness_call(c, "bad", "echo", "JUNK", 0, &res), ANT_E_SERVER_FAILED);
	ck_assert_msg(memmem(res.bytes, res.len, "poison", 6), "%.*s", (int)res.len,
		      (const char *)res.bytes);
	harness_expect_echo(c, "good", "still serving");
	harness_expect_echo(c, "bad", "and bad too, for good requests");
	ck_assert_int_eq(harness_server_num(&h, "bad", "restarts"), 9);
	harness_sleep_ms(200);
	ck_assert_int_eq(harness_count_fds(h.antd), base);
	char *log = harness_read(&h, "antd.log");
	const char *reasons[] = { "malformed message", "sent control ICA", "sent data ICA" };
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		ck_assert_msg(strstr(log, reasons[i]), "no \"%s\" in the log: %s", reasons[i],
			      strlen(log) > 3000 ? log + strlen(log) - 3000 : log);
	free(log);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* As uid, connect and call server; the exit code tells what happened. */
static int app_as(struct harness *h, uid_t uid, const char *server)
{
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(10);
		struct ant_conn *c;
		if (ant_connect(h->dir, &c) < 0)
			_exit(20);   /* refused */
		static struct ant_result res;
		int r = harness_call(c, server, "echo", "hi", 0, &res);
		_exit(r == 0 ? 0 : r == ANT_E_DENIED ? 30 : 40);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(app_socket_lets_in_only_the_users_named)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-apps\", \"apps\": {\"uids\": [65534], \"calls\": [\"open\", \"locked\"]}, \"servers\": ["
			  " {\"name\":\"open\",\"exec\":\"echo\"},"
			  " {\"name\":\"locked\",\"exec\":\"echo\",\"app_uids\":[0]} ]}");
	ck_assert_int_eq(app_as(&h, 65534, "open"), 0);      /* named: in, and served */
	ck_assert_int_eq(app_as(&h, 65534, "locked"), 30);   /* not for this server */
	ck_assert_int_eq(app_as(&h, 65533, "open"), 20);     /* not named: refused */
	struct ant_conn *c = harness_connect(&h);          /* root may call both */
	harness_expect_echo(c, "locked", "root");
	ant_close(c);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "app connection from uid 65533") &&
		      strstr(log, "from uid 65534 refused: not in app_uids"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

START_TEST(server_can_tighten_its_own_sandbox)
{
	/* "tight" drops sleeping from its own filter after start-up: a call that
	 * makes it pause (nanosleep, allowed by antd's policy) now kills it. */
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-tight\", \"servers\": ["
			  " {\"name\":\"tight\",\"exec\":\"echo\",\"args\":[\"--tighten\"]},"
			  " {\"name\":\"loose\",\"exec\":\"echo\",\"supervision\":{\"deadline_ms\":200}} ]}");
	/* Both hang (nanosleep) on requests holding SLEEP, not on the replays. */
	harness_inject(&h, "tight", "hang", "{\"match\":\"SLEEP\",\"fresh\":true,\"count\":0}");
	harness_inject(&h, "loose", "hang", "{\"match\":\"SLEEP\",\"fresh\":true,\"count\":0}");
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "tight", "still serves");
	pid_t pid = harness_server_pid(&h, "tight");
	char v[64];
	proc_status(pid, "Seccomp_filters", v, sizeof(v));
	ck_assert_str_eq(v, "2");
	/* Sleeping: forbidden by tight's own filter (killed at once, SIGSYS), only
	 * slow for loose (antd's policy allows it: killed by its deadline). */
	harness_expect_echo(c, "tight", "SLEEP now");
	json_t *s = harness_server_status(&h, "tight");
	ck_assert_msg(strstr(json_string_value(json_object_get(s, "last_exit")), "SIGSYS"), "%s",
		      json_string_value(json_object_get(s, "last_exit")));
	json_decref(s);
	harness_expect_echo(c, "loose", "SLEEP now");
	s = harness_server_status(&h, "loose");
	ck_assert_msg(strstr(json_string_value(json_object_get(s, "last_exit")), "SIGKILL"), "%s",
		      json_string_value(json_object_get(s, "last_exit")));
	json_decref(s);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(violation_after_a_failover_is_judged_too)
{
	/* The spare's seccomp notifications move with it when it takes over. */
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-sbx-standby\", \"servers\": ["
			  " {\"name\":\"hot\",\"exec\":\"echo\",\"policy\":\"hot-standby\"} ]}");
	harness_inject(&h, "hot", "sandbox:openat", "{\"match\":\"BAD\",\"fresh\":true,\"count\":0}");
	struct ant_conn *c = harness_connect(&h);
	for (int round = 1; round <= 3; round++) {
		/* A spare that said ready: else the violation is a cold restart. */
		for (int i = 0; i < 500 && !harness_server_true(&h, "hot", "standby_ready"); i++)
			harness_sleep_ms(10);
		harness_expect_echo(c, "hot", "BAD again");
		ck_assert_int_eq(harness_server_num(&h, "hot", "failovers"), round);
	}
	json_t *s = harness_server_status(&h, "hot");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(s, "sandbox"), "violations")), 3);
	json_decref(s);
	ant_close(c);
	harness_stop(&h);
}
END_TEST

START_TEST(run_folder_others_can_write_is_refused)
{
	char dir[400];
	harness_mkdtemp(dir, sizeof(dir), "runmode-XXXXXX");
	ck_assert_int_eq(chmod(dir, 01777), 0);
	char stack[512];
	snprintf(stack, sizeof(stack), "%s.json", dir);
	FILE *f = fopen(stack, "w");
	fputs("{ \"name\": \"t-mode\", \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\"} ]}", f);
	fclose(f);
	char *out = NULL;
	char *const argv[] = { (char *)harness_antd(), "--foreground", "--run-dir", dir,
			       "--server-path", getenv("ANT_SERVERS_DIR"), stack, NULL };
	ck_assert_int_ne(harness_run(argv, &out), 0);
	ck_assert_msg(strstr(out, "writable by it alone") && strstr(out, "mode 1777"), "%s", out);
	free(out);
	unlink(stack);
	ck_assert_int_eq(rmdir(dir), 0);   /* antd made nothing in it */
}
END_TEST

/* Switching users and being another user's peer are root's: without root
 * those tests are named as skipped, one by one, and the rest run. */
/* Under a hard limit of 1024 open files (a container, LimitNOFILE=1024),
 * the default sandbox's nofile of 4096 is clamped, not a start failure. */
START_TEST(a_low_fd_limit_still_serves)
{
	struct rlimit rl = { .rlim_cur = 1024, .rlim_max = 1024 };
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);   /* this test's process alone */
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-nofile\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "e", "with 1024 fds");
	ant_close(c);
	char *log = harness_read(&h, "antd.log");
	/* Clamped where antd may not raise its limit (said so), raised where it may. */
	ck_assert_msg(!strstr(log, "warn rlimit") || strstr(log, "it gets 1024"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

static Suite *sandbox_suite(void)
{
	int root = geteuid() == 0;
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("sandbox");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, forbidden_syscalls_are_named_killed_restarted_and_replayed);
	ant_tcase_add_test_if(tc, servers_run_as_their_own_users_without_capabilities, root,
			      "needs root: antd switches servers to their own users");
	ant_tcase_add_test_if(tc, unknown_user_is_a_clear_error, root,
			      "needs root: antd looks a server's user up only when it can switch to it");
	tcase_add_test(tc, bad_sandbox_policies_are_refused_at_load);
	ant_tcase_add_test_if(tc, control_socket_refuses_other_users, root,
			      "needs root: the test connects as uid 65534");
	ant_tcase_add_test_if(tc, app_socket_lets_in_only_the_users_named, root,
			      "needs root: the test connects as uids 65534 and 65533");
	tcase_add_test(tc, server_can_tighten_its_own_sandbox);
	tcase_add_test(tc, violation_after_a_failover_is_judged_too);
	tcase_add_test(tc, run_folder_others_can_write_is_refused);
	tcase_add_test(tc, a_low_fd_limit_still_serves);
	tcase_add_test(tc, hostile_server_is_cut_off_and_antd_leaks_nothing);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(sandbox_suite)
