/* test-antctl.c - the operator's tool against a real antd: status, wait-ready, ping, usage and reach errors. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* app -> relay1 -> relay2 -> relay3, and one echo on the side. */
static const char chain3[] =
	"{ \"name\": \"t-antctl\", \"servers\": ["
	" {\"name\":\"relay1\",\"exec\":\"relay\",\"args\":[\"relay2\"],\"calls\":[\"relay2\"]},"
	" {\"name\":\"relay2\",\"exec\":\"relay\",\"args\":[\"relay3\"],\"calls\":[\"relay3\"]},"
	" {\"name\":\"relay3\",\"exec\":\"relay\"},"
	" {\"name\":\"other\",\"exec\":\"echo\"}"
	"]}";

static const char *const chain3_names[] = { "relay1", "relay2", "relay3", "other" };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The line of text that starts with the word w, or NULL. */
static const char *row_of(const char *text, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, w, n) == 0 && p[n] == ' ')
			return p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* The line at p with each run of spaces made one space. */
static void words_of_line(const char *p, char *buf, size_t len)
{
	size_t o = 0;
	for (; *p && *p != '\n' && o + 1 < len; p++)
		if (*p != ' ' || (o && buf[o - 1] != ' '))
			buf[o++] = *p;
	while (o && buf[o - 1] == ' ')
		o--;
	buf[o] = 0;
}

static const json_t *server_of(const json_t *st, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(st, "servers"), i, s)
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
			return s;
	return NULL;
}

START_TEST(status_table_lists_every_server)
{
	struct harness h;
	harness_start(&h, chain3);
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", NULL), 0);
	char head[256];
	ck_assert_msg(row_of(out, "SERVER"), "no header: %s", out);
	words_of_line(row_of(out, "SERVER"), head, sizeof(head));
	ck_assert_str_eq(head, "SERVER PID STATE FOR RESTARTS REPLAYS IN FLIGHT QUEUED SERVED "
			 "ERRORS P50 P99 CPU RSS");
	ck_assert_msg(strstr(out, "stack t-antctl"), "%s", out);
	for (size_t i = 0; i < sizeof(chain3_names) / sizeof(*chain3_names); i++) {
		const char *row = row_of(out, chain3_names[i]);
		ck_assert_msg(row, "no row for %s: %s", chain3_names[i], out);
		char name[64], state[64], uptime[64];
		int pid;
		ck_assert_int_eq(sscanf(row, "%63s %d %63s %63s", name, &pid, state, uptime), 4);
		ck_assert_int_eq(pid, harness_server_pid(&h, chain3_names[i]));
		ck_assert_str_eq(state, "running");
		ck_assert_msg(uptime[strlen(uptime) - 1] == 's', "uptime '%s'", uptime);
	}
	free(out);
	/* Served counts show up: three calls through relay1, served by relay3,
	 * and one op it does not serve: an error. */
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(harness_call(c, "relay1", "echo", "x", 0, &res), 0);
	ck_assert_int_eq(harness_call(c, "relay1", "frob", "x", 0, &res), ANT_E_NO_OP);
	ant_close(c);
	ck_assert_int_eq(harness_antctl(&out, "status", "--run-dir", h.dir, NULL), 0);
	int pid, restarts, replays, inflight, queued, served, errors;
	char name[64], state[64], since[64], p50[64], p99[64], cpu[64], rss[64];
	ck_assert_int_eq(sscanf(row_of(out, "relay3"), "%63s %d %63s %63s %d %d %d %d %d %d %63s "
				"%63s %63s %63s", name, &pid, state, since, &restarts, &replays,
				&inflight, &queued, &served, &errors, p50, p99, cpu, rss), 14);
	ck_assert_int_eq(served, 4);
	ck_assert_int_eq(errors, 1);
	ck_assert_int_eq(inflight, 0);
	ck_assert_int_eq(queued, 0);
	ck_assert_msg(strstr(p50, "us") || strstr(p50, "ms"), "p50 '%s'", p50);
	ck_assert_msg(strstr(p99, "us") || strstr(p99, "ms"), "p99 '%s'", p99);
	ck_assert_msg(cpu[strlen(cpu) - 1] == 's', "cpu '%s'", cpu);
	ck_assert_msg(strchr("KMG", rss[strlen(rss) - 1]), "rss '%s'", rss);
	ck_assert_int_eq(sscanf(row_of(out, "other"), "%63s %d %63s %63s %d %d %d %d %d %d %63s "
				"%63s", name, &pid, state, since, &restarts, &replays, &inflight,
				&queued, &served, &errors, p50, p99), 12);
	ck_assert_msg(served == 0 && strcmp(p50, "-") == 0 && strcmp(p99, "-") == 0,
		      "other served nothing, so no service time: %s", out);
	free(out);
	/* One server's detail says the same in words. */
	ck_assert_int_eq(harness_antctl(&out, "status", "relay3", "--run-dir", h.dir, NULL), 0);
	ck_assert_msg(strstr(out, "relay3: running for ") && strstr(out, "served 4 (1 with an "
		      "error), failed by antd 0, in flight 0, queued 0\n") &&
		      strstr(out, "answered or forwarded it), last 4: p50 ") &&
		      strstr(out, "  cpu "), "%s", out);
	free(out);
	harness_stop(&h);
}
END_TEST

static int count_of(const char *text, const char *w)
{
	int n = 0;
	for (const char *p = strstr(text, w); p; p = strstr(p + 1, w))
		n++;
	return n;
}

/* status --watch: a table per refresh, CPU% from the second on; off a
 * terminal no escape sequences, each table after a line with the time. */
START_TEST(status_watch_refreshes_until_its_count)
{
	struct harness h;
	harness_start(&h, chain3);
	char *out;
	double t0 = now_s();
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", "--watch", "--interval", "0.2",
				"--count", "3", NULL), 0);
	double took = now_s() - t0;
	ck_assert_msg(took >= 0.35 && took < 5, "3 refreshes 0.2 s apart took %.2f s", took);
	ck_assert_int_eq(count_of(out, ", every 0.2 s\n"), 3);
	ck_assert_int_eq(count_of(out, "\nSERVER "), 3);
	ck_assert_int_eq(count_of(out, " CPU%  "), 2);
	ck_assert_msg(!strchr(out, '\033'), "escape sequences off a terminal: %s", out);
	ck_assert_int_eq(count_of(out, "\nrelay2 "), 3);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", "--watch", "relay1", NULL), 2);
	ck_assert_msg(strstr(out, "--watch shows every server; leave out 'relay1'"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", "--count", "2", NULL), 2);
	ck_assert_msg(strstr(out, "--interval and --count go with --watch"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", "-w", "--interval", "0.01",
				NULL), 2);
	ck_assert_msg(strstr(out, "--interval: expected seconds from 0.1 to 86400, got '0.01'"),
		      "%s", out);
	free(out);
	harness_stop(&h);
}
END_TEST

/* docs/antctl.md and the --help texts say the same: a heading with each
 * command's synopsis exactly as its --help gives it, and every option of
 * its --help named in the page. */
START_TEST(docs_match_every_commands_help)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/antctl.md", getenv("ANT_SOURCE_ROOT"));
	FILE *f = fopen(path, "re");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	char *doc = NULL;
	size_t len = 0;
	ck_assert(getdelim(&doc, &len, '\0', f) > 0);
	fclose(f);
	char *top;
	ck_assert_int_eq(harness_antctl(&top, "--help", NULL), 0);
	int commands = 0;
	for (char *line = strstr(top, "Commands:\n"); line && (line = strchr(line, '\n'));) {
		line++;
		if (*line == '\n')
			break;   /* the end of the list */
		char name[64];
		if (strncmp(line, "  ", 2) != 0 || line[2] == ' ' ||
		    sscanf(line, " %63s", name) != 1 || strcmp(name, "help") == 0)
			continue;
		commands++;
		char *help;
		ck_assert_msg(harness_antctl(&help, name, "--help", NULL) == 0, "%s --help: %s", name, help);
		/* "usage: antctl [OPTIONS] NAME SYNOPSIS" */
		const char *u = strstr(help, "[OPTIONS] ");
		ck_assert_msg(u, "%s", help);
		u += strlen("[OPTIONS] ");
		char want[256];
		snprintf(want, sizeof(want), "`%.*s`", (int)strcspn(u, "\n"), u);
		int in_heading = 0;
		for (const char *p = strstr(doc, want); p && !in_heading; p = strstr(p + 1, want)) {
			const char *bol = p;
			while (bol > doc && bol[-1] != '\n')
				bol--;
			in_heading = strncmp(bol, "### ", 4) == 0;
		}
		ck_assert_msg(in_heading, "docs/antctl.md has no heading with %s", want);
		/* Each option of its own (lines "  -x, --opt" or "  --opt"). */
		for (const char *o = strstr(help, "\n  -"); o; o = strstr(o + 1, "\n  -")) {
			const char *dd = strstr(o, "--");
			if (!dd || dd > strchr(o + 1, '\n'))
				continue;
			char opt[64];
			ck_assert_int_eq(sscanf(dd, "%63[a-z-]", opt), 1);
			if (strstr("--run-dir --json --help --version", opt))
				continue;
			ck_assert_msg(strstr(doc, opt), "docs/antctl.md never names %s of %s", opt, name);
		}
		free(help);
	}
	ck_assert_int_ge(commands, 10);
	free(top);
	free(doc);
}
END_TEST

START_TEST(status_json_is_antds_object)
{
	struct harness h;
	harness_start(&h, chain3);
	char *out;
	/* Global options after the command work too. */
	ck_assert_int_eq(harness_antctl(&out, "status", "--json", "--run-dir", h.dir, NULL), 0);
	json_error_t jerr;
	json_t *st = json_loads(out, 0, &jerr);
	ck_assert_msg(st, "not JSON (%s): %s", jerr.text, out);
	ck_assert(json_is_true(json_object_get(st, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(st, "stack")), "t-antctl");
	ck_assert_int_eq(json_array_size(json_object_get(st, "servers")), 4);
	for (size_t i = 0; i < sizeof(chain3_names) / sizeof(*chain3_names); i++) {
		const json_t *s = server_of(st, chain3_names[i]);
		ck_assert_msg(s, "no %s in %s", chain3_names[i], out);
		ck_assert_int_eq(json_integer_value(json_object_get(s, "pid")),
				 harness_server_pid(&h, chain3_names[i]));
		ck_assert_str_eq(json_string_value(json_object_get(s, "state")), "running");
		ck_assert(json_is_integer(json_object_get(s, "inflight")));
		ck_assert(json_is_integer(json_object_get(s, "served")));
		ck_assert(json_is_integer(json_object_get(s, "errors")));
		ck_assert(json_is_integer(json_object_get(s, "failed")));
		ck_assert(json_is_integer(json_object_get(s, "rss_kb")));
		ck_assert(json_integer_value(json_object_get(s, "rss_kb")) > 0);
		ck_assert(json_is_number(json_object_get(s, "cpu_s")));
		ck_assert(json_is_number(json_object_get(s, "state_for_s")));
		ck_assert(json_is_object(json_object_get(s, "service")));
	}
	/* Durations to the millisecond: no float noise in the text. */
	const char *u = strstr(out, "\"uptime_s\":");
	ck_assert_ptr_nonnull(u);
	for (; u; u = strstr(u + 1, "\"uptime_s\":")) {
		const char *v = u + strlen("\"uptime_s\":");
		size_t digits = strspn(v, "0123456789");
		const char *frac = v[digits] == '.' ? v + digits + 1 : v + digits;
		ck_assert_msg(strspn(frac, "0123456789") <= 3 && v[digits] != 'e',
			      "uptime_s with noise: %.30s", v);
	}
	json_decref(st);
	free(out);
	harness_stop(&h);
}
END_TEST

START_TEST(wait_ready_and_ping_on_a_ready_stack)
{
	struct harness h;
	harness_start(&h, chain3);
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "wait-ready", NULL), 0);
	ck_assert_msg(out[0] == '\0', "wait-ready said: %s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "wait-ready", "--timeout", "2.5", "--json",
				NULL), 0);
	json_t *st = json_loads(out, 0, NULL);
	ck_assert_msg(st && json_array_size(json_object_get(st, "servers")) == 4, "%s", out);
	json_decref(st);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "ping", NULL), 0);
	ck_assert_msg(strstr(out, "answers"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "--json", "ping", NULL), 0);
	ck_assert_msg(strstr(out, "\"ok\":true"), "%s", out);
	free(out);
	harness_stop(&h);
}
END_TEST

START_TEST(unknown_server_fails_clearly)
{
	struct harness h;
	harness_start(&h, chain3);
	const char *verbs[] = { "restart", "stop", "start" };
	for (int i = 0; i < 3; i++) {
		char *out;
		/* Whether this antd knows the command yet or not: exit 1, saying why. */
		ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, verbs[i], "nosuchserver", NULL), 1);
		ck_assert_msg(strstr(out, "nosuchserver") && strstr(out, "antd says: unknown"),
			      "%s: %s", verbs[i], out);
		free(out);
	}
	/* And the stack is as it was. */
	json_t *st = harness_status(&h);
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(st, "servers"), i, s)
		ck_assert_str_eq(json_string_value(json_object_get(s, "state")), "running");
	json_decref(st);
	harness_stop(&h);
}
END_TEST

START_TEST(usage_errors_exit_2_naming_the_culprit)
{
	/* Usage is checked before antd is looked for: no stack needed, and never 3. */
	static const struct {
		const char *args[4];
		const char *says;
	} cases[] = {
		{ { "frobnicate" }, "unknown command 'frobnicate'" },
		{ { "status", "--bogus" }, "'--bogus'" },
		{ { "--bogus", "status" }, "'--bogus'" },
		{ { "log", "-x" }, "'-x'" },
		{ { "log", "--lines", "many" }, "'many'" },
		{ { "status", "--json=yes" }, "--json" },
		{ { "restart" }, "SERVER" },
		{ { "restart", "a", "b" }, "'b'" },
		{ { "wait-ready", "--timeout", "-1" }, "'-1'" },
		{ { "log", "-n" }, "'-n'" },
		{ { NULL }, "expected a command" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *out;
		int rc = harness_antctl(&out, "--run-dir", "/nonexistent", cases[i].args[0], cases[i].args[1],
				cases[i].args[2], cases[i].args[3], NULL);
		ck_assert_msg(rc == 2, "case %zu exited %d: %s", i, rc, out);
		ck_assert_msg(strstr(out, cases[i].says), "case %zu: '%s' not in: %s", i,
			      cases[i].says, out);
		free(out);
	}
	/* Help, global and per command, and the version: exit 0 on stdout. */
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--help", NULL), 0);
	ck_assert_msg(strstr(out, "wait-ready") && strstr(out, "Exit status"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "status", "--help", NULL), 0);
	ck_assert_msg(strstr(out, "usage: antctl [OPTIONS] status"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "help", "log", NULL), 0);
	ck_assert_msg(strstr(out, "--follow"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--version", NULL), 0);
	ck_assert_msg(strncmp(out, "antctl ", 7) == 0, "%s", out);
	free(out);
}
END_TEST

START_TEST(unreachable_antd_exits_3_saying_why)
{
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", "/nonexistent", "status", NULL), 3);
	ck_assert_msg(strstr(out, "/nonexistent/control.sock") && strstr(out, strerror(ENOENT)),
		      "%s", out);
	free(out);
	/* A socket nobody listens on (antd died and left it). */
	char dir[] = "/tmp/antctl-test-XXXXXX", path[128];
	ck_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	int rc = harness_antctl(&out, "--run-dir", dir, "ping", NULL);
	unlink(path);
	rmdir(dir);
	ck_assert_int_eq(rc, 3);
	ck_assert_msg(strstr(out, strerror(ECONNREFUSED)), "%s", out);
	free(out);
	/* wait-ready waits for antd to appear, then gives up with 3. */
	double t0 = now_s();
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", "/nonexistent", "wait-ready", "--timeout", "0.3",
				NULL), 3);
	double took = now_s() - t0;
	ck_assert_msg(took >= 0.25 && took < 5, "took %.2f s", took);
	ck_assert_msg(strstr(out, "/nonexistent/control.sock"), "%s", out);
	free(out);
}
END_TEST

/* antd killed by SIGKILL leaves antd.pid and its sockets: antctl and the
 * tools say the stack is dead (not merely unreachable), and a new antd on
 * the same folder starts over them. */
START_TEST(a_killed_antd_is_said_to_be_dead)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-dead\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	pid_t antd = h.antd;
	ck_assert_int_eq(kill(antd, SIGKILL), 0);
	harness_sleep_ms(100);
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", NULL), 3);
	char pid[32];
	snprintf(pid, sizeof(pid), "(pid %d) is gone", (int)antd);
	ck_assert_msg(strstr(out, "is dead") && strstr(out, pid) && strstr(out, "stale"), "%s", out);
	free(out);
	char *const call[] = { (char *)harness_tool("ant-call"), "--run-dir", h.dir, "e", "echo",
			       "x", NULL };
	ck_assert_int_eq(harness_run(call, &out), 3);
	ck_assert_msg(strstr(out, "is dead"), "%s", out);
	free(out);
	/* Reaped here (it died); a new antd on the same folder serves. */
	harness_wait_exit(&h);
	harness_launch(&h);
	struct ant_conn *c = harness_connect(&h);
	harness_expect_echo(c, "e", "after the stale files");
	ant_close(c);
	harness_stop(&h);
}
END_TEST

/* antctl shutdown stops the whole stack and waits for antd, which exits 0;
 * antd started detached says in one line that the stack is ready; antd
 * --check judges a stack file without starting anything. */
START_TEST(shutdown_ready_line_and_check)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-shut\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "shutdown", "--timeout", "2", NULL), 0);
	ck_assert_msg(strstr(out, "stack t-shut stopped (antd pid"), "%s", out);
	free(out);
	int st = harness_wait_exit(&h);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	/* Detached: the one line when ready, then shut down again. */
	char *const start[] = { (char *)harness_antd(), "--run-dir", h.dir, "--server-path",
				getenv("ANT_SERVERS_DIR"), h.stack_path, NULL };
	ck_assert_int_eq(harness_run(start, &out), 0);
	char want[512];
	snprintf(want, sizeof(want), "stack t-shut ready: 1 server, pid ");
	ck_assert_msg(strstr(out, want) && strstr(out, "/antd.log"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "shutdown", NULL), 0);
	free(out);
	/* --check: fine, or what is wrong, and nothing started either way. */
	char *const good[] = { (char *)harness_antd(), "--check", "--server-path",
			       getenv("ANT_SERVERS_DIR"), h.stack_path, NULL };
	ck_assert_int_eq(harness_run(good, &out), 0);
	ck_assert_msg(strstr(out, "stack t-shut, 1 server: fine"), "%s", out);
	free(out);
	char bad[400];
	snprintf(bad, sizeof(bad), "%s/bad.json", h.dir);
	FILE *f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"name\":\"b\",\"servers\":[{\"name\":\"a\",\"exec\":\"echo\","
	      "\"supervision\":{\"restrt\":\"always\"}}]}", f);
	fclose(f);
	char *const badrun[] = { (char *)harness_antd(), "--check", "--server-path",
				 getenv("ANT_SERVERS_DIR"), bad, NULL };
	ck_assert_int_eq(harness_run(badrun, &out), 1);
	ck_assert_msg(strstr(out, "servers[0].supervision: unknown key \"restrt\""), "%s", out);
	free(out);
}
END_TEST

/* antctl status SERVER: one server's detail, with its last ends and their
 * causes as antd knows them; a planned restart is logged at info level, a
 * crash at error; numbers in --json carry no float noise. */
START_TEST(status_of_one_server_says_what_happened)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-detail\", \"servers\": ["
			  " {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	char *out;
	pid_t pid = harness_server_pid(&h, "e");
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "restart", "e", NULL), 0);
	free(out);
	pid = harness_wait_state(&h, "e", "running", pid);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	harness_wait_state(&h, "e", "running", pid);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", "e", NULL), 0);
	ck_assert_msg(strstr(out, "e: running for ") && strstr(out, "restarts 2") &&
		      strstr(out, "killed by signal SIGKILL: restart asked by the operator") &&
		      strstr(out, "killed by signal SIGKILL: a signal from outside antd"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", "nosuch", NULL), 1);
	ck_assert_msg(strstr(out, "no server named 'nosuch'"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "--json", "status", "e", NULL), 0);
	ck_assert_msg(strstr(out, "\"name\":\"e\"") && strstr(out, "\"exits\":[") &&
		      !strstr(out, "99999"), "%s", out);
	free(out);
	char *log = harness_read(&h, "antd.log");
	ck_assert_msg(strstr(log, "info kill [e]") && strstr(log, "info server-exit [e]") &&
		      strstr(log, "error server-exit [e]"), "%s", log);
	free(log);
	harness_stop(&h);
}
END_TEST

/* antctl log filters by server and level, and reads antd.log once antd
 * has stopped (saying so). */
START_TEST(log_filters_and_the_file_after_a_stop)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-logf\", \"servers\": ["
			  " {\"name\":\"a\",\"exec\":\"echo\"}, {\"name\":\"b\",\"exec\":\"echo\"} ]}");
	char *out;
	pid_t pid = harness_server_pid(&h, "b");
	/* --since: a point after the start, in the form antd writes (UTC). */
	harness_sleep_ms(1100);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char mark[64];
	strftime(mark, sizeof(mark), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(mark + strlen(mark), sizeof(mark) - strlen(mark), ".%03ldZ", ts.tv_nsec / 1000000);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "restart", "b", NULL), 0);
	free(out);
	harness_wait_state(&h, "b", "running", pid);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "--since", mark, NULL), 0);
	ck_assert_msg(strstr(out, "restart asked") && !strstr(out, "stack-ready"), "since %s: %s",
		      mark, out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "--since", "1h ago", NULL), 0);
	ck_assert_msg(strstr(out, "restart asked") && strstr(out, "stack-ready"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "--since", "soon", NULL), 2);
	ck_assert_msg(strstr(out, "--since: expected a time like") && strstr(out, "got 'soon'"),
		      "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "--server", "b", NULL), 0);
	ck_assert_msg(strstr(out, "[b]") && !strstr(out, "[a]") && strstr(out, "restart asked"),
		      "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "--level", "warn", NULL), 0);
	ck_assert_msg(!strstr(out, " info "), "%s", out);   /* a planned restart is no trouble */
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "shutdown", NULL), 0);
	free(out);
	harness_wait_exit(&h);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "-n", "1", NULL), 0);
	ck_assert_msg(strstr(out, "antd is not running; reading") && strstr(out, "stack t-logf stopped"),
		      "%s", out);
	free(out);
	/* The file's lines carry their times too. */
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "--since", mark, NULL), 0);
	ck_assert_msg(strstr(out, "restart asked") && !strstr(out, "stack-ready") &&
		      strstr(out, "stack t-logf stopped"), "since %s: %s", mark, out);
	free(out);
}
END_TEST

/* antctl list names the stacks under the run base (/run/ant, here
 * $ANT_RUN_BASE) and their state; with several and no --run-dir, antctl
 * names them and says how to choose. */
START_TEST(list_and_choosing_among_several_stacks)
{
	struct harness one, two;
	harness_start(&one, "{ \"name\": \"t-one\", \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	harness_start(&two, "{ \"name\": \"t-two\", \"servers\": [ {\"name\":\"e\",\"exec\":\"echo\"} ]}");
	char base[256], link[300];
	harness_mkdtemp(base, sizeof(base), "base-XXXXXX");
	snprintf(link, sizeof(link), "%s/one", base);
	ck_assert_int_eq(symlink(one.dir, link), 0);
	snprintf(link, sizeof(link), "%s/two", base);
	ck_assert_int_eq(symlink(two.dir, link), 0);
	setenv("ANT_RUN_BASE", base, 1);
	unsetenv("ANT_RUN_DIR");
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "list", NULL), 0);
	ck_assert_msg(strstr(out, "one") && strstr(out, "two") && strstr(out, "running"), "%s",
		      out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "status", NULL), 3);
	ck_assert_msg(strstr(out, "2 stacks run under") && strstr(out, " one two;") &&
		      strstr(out, "--run-dir"), "%s", out);
	free(out);
	harness_stop(&two);
	ck_assert_int_eq(harness_antctl(&out, "list", NULL), 0);
	ck_assert_msg(strstr(out, "stopped"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "status", NULL), 0);   /* the only one left */
	ck_assert_msg(strstr(out, "stack t-one"), "%s", out);
	free(out);
	harness_stop(&one);
}
END_TEST

/* antctl output SERVER: that server's stdout and stderr lines only, also
 * once antd has stopped. */
START_TEST(output_of_one_server)
{
	struct harness h;
	harness_start(&h, "{ \"name\": \"t-out\", \"servers\": ["
			  " {\"name\":\"talker\",\"exec\":\"echo\",\"args\":[\"--say\",\"words of talker\"]},"
			  " {\"name\":\"quiet\",\"exec\":\"echo\"} ]}");
	char *out;
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "output", "talker", NULL), 0);
	ck_assert_msg(strstr(out, "[talker]") && strstr(out, "words of talker"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "output", "quiet", NULL), 0);
	ck_assert_msg(!strstr(out, "words of talker") && !strstr(out, " start "), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "shutdown", NULL), 0);
	free(out);
	harness_wait_exit(&h);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "output", "talker", NULL), 0);
	ck_assert_msg(strstr(out, "words of talker") && strstr(out, "reading"), "%s", out);
	free(out);
}
END_TEST

/* The same conventions in every program: -h and --help print the usage
 * (exit 0), --version the version (exit 0). */
START_TEST(every_program_has_help_and_version)
{
	const char *tools[] = { "antctl", "ant-call", "ant-fs", "ant-fuse", "ant-bench" };
	for (size_t i = 0; i <= sizeof(tools) / sizeof(tools[0]); i++) {
		const char *path = i < sizeof(tools) / sizeof(tools[0]) ? harness_tool(tools[i])
									: harness_antd();
		const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		if (access(path, X_OK) != 0)
			continue;   /* not built here (the file stack is a meson option) */
		const char *flags[] = { "-h", "--help", "--version" };
		for (int f = 0; f < 3; f++) {
			char *const argv[] = { (char *)path, (char *)flags[f], NULL };
			char *out = NULL;
			int rc = harness_run(argv, &out);
			ck_assert_msg(rc == 0, "%s %s: exit %d: %s", name, flags[f], rc, out);
			ck_assert_msg(strstr(out, f < 2 ? "usage:" : name), "%s %s: %s", name, flags[f],
				      out);
			free(out);
		}
	}
}
END_TEST

/*
 * A stand-in for antd's control socket in a new folder: answers every request
 * with reply.  For what a real antd will not do on demand (a server that
 * never gets ready, a reply that is not JSON).  The child dies with the test.
 */
struct fake {
	char dir[64];
	pid_t pid;
};

static void fake_start(struct fake *f, const char *reply)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/antctl-fake-XXXXXX");
	ck_assert(mkdtemp(f->dir) != NULL);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", f->dir);
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(ls, 8), 0);
	pid_t parent = getpid();
	f->pid = fork();
	ck_assert(f->pid >= 0);
	if (f->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		for (;;) {
			int c = accept(ls, NULL, NULL);
			if (c < 0)
				_exit(1);
			char buf[4096];
			while (recv(c, buf, sizeof(buf), 0) > 0)
				if (send(c, reply, strlen(reply), MSG_NOSIGNAL) < 0)
					break;
			close(c);
		}
	}
	close(ls);
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/control.sock", f->dir);
	unlink(path);
	rmdir(f->dir);
}

START_TEST(wait_ready_times_out_naming_servers_not_running)
{
	struct fake f;
	fake_start(&f, "{\"ok\":true,\"stack\":\"s\",\"servers\":["
		       "{\"name\":\"up\",\"pid\":10,\"state\":\"running\"},"
		       "{\"name\":\"slowpoke\",\"pid\":11,\"state\":\"starting\"},"
		       "{\"name\":\"broken\",\"state\":\"failed\"}]}");
	char *out;
	double t0 = now_s();
	int rc = harness_antctl(&out, "--run-dir", f.dir, "wait-ready", "--timeout", "0.3", NULL);
	double took = now_s() - t0;
	fake_stop(&f);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(took >= 0.25 && took < 5, "took %.2f s", took);
	ck_assert_msg(strstr(out, "slowpoke (starting)") && strstr(out, "broken (failed)") &&
		      !strstr(out, "up ("), "%s", out);
	free(out);
}
END_TEST

START_TEST(replies_antd_should_not_send_are_named)
{
	struct fake f;
	char *out;
	fake_start(&f, "hello, I am not JSON");
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", f.dir, "status", NULL), 1);
	fake_stop(&f);
	ck_assert_msg(strstr(out, "not a JSON object") && strstr(out, "hello, I am not JSON"), "%s", out);
	free(out);
	/* What an antd without operator commands answers. */
	fake_start(&f, "{\"ok\":false,\"error\":\"unknown command: restart\"}");
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", f.dir, "restart", "relay1", NULL), 1);
	fake_stop(&f);
	ck_assert_msg(strstr(out, "restart relay1: antd says: unknown command: restart") &&
		      strstr(out, "does not implement"), "%s", out);
	free(out);
	/* Missing numbers read as 0 and missing strings as "-". */
	fake_start(&f, "{\"ok\":true,\"servers\":[{\"name\":\"bare\"}]}");
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", f.dir, "status", NULL), 0);
	fake_stop(&f);
	const char *row = row_of(out, "bare");
	ck_assert_msg(row && strncmp(row, "bare", 4) == 0, "%s", out);
	char name[64], pid[64], state[64], uptime[64];
	int restarts, replays, inflight, served;
	ck_assert_int_eq(sscanf(row, "%63s %63s %63s %63s %d %d %d %d", name, pid, state, uptime,
				&restarts, &replays, &inflight, &served), 8);
	ck_assert_str_eq(pid, "-");
	ck_assert_str_eq(state, "-");
	ck_assert_int_eq(restarts + replays + inflight + served, 0);
	free(out);
}
END_TEST

/* Read fd into buf until it holds what, or 5 s pass.  Returns 1 if found. */
static int read_until(int fd, char *buf, size_t len, const char *what)
{
	size_t n = strlen(buf);
	double end = now_s() + 5;
	while (!strstr(buf, what) && now_s() < end && n + 1 < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t r = read(fd, buf + n, len - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	return strstr(buf, what) != NULL;
}

START_TEST(restart_and_log)
{
	struct harness h;
	harness_start(&h, chain3);
	char *out;
	/* Someone follows the log meanwhile. */
	int ffd;
	char *const follow[] = { (char *)harness_tool("antctl"), "--run-dir", h.dir, "log", "-f",
				 "--lines", "0", NULL };
	pid_t follower = harness_spawn(follow, &ffd);
	usleep(200000);

	pid_t before = harness_server_pid(&h, "relay2");
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "restart", "relay2", NULL), 0);
	ck_assert_msg(strstr(out, "relay2: restart requested"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "wait-ready", "--timeout", "10", NULL), 0);
	free(out);
	pid_t after = harness_server_pid(&h, "relay2");
	ck_assert_int_ne(before, after);
	ck_assert_int_ne(kill(before, 0), 0);
	/* It serves again, and the table counts the restart. */
	struct ant_conn *c = harness_connect(&h);
	static struct ant_result res;
	ck_assert_int_eq(harness_call(c, "relay1", "echo", "again", 0, &res), 0);
	ant_close(c);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "status", NULL), 0);
	const char *row = row_of(out, "relay2");
	int pid, restarts;
	char name[64], state[64], uptime[64];
	ck_assert_int_eq(sscanf(row, "%63s %d %63s %63s %d", name, &pid, state, uptime, &restarts), 5);
	ck_assert_int_eq(pid, after);
	ck_assert_int_ge(restarts, 1);
	free(out);

	/* The past events name it, in text and as JSON lines. */
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "-n", "50", NULL), 0);
	ck_assert_msg(strstr(out, "[relay2]"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "log", "--json", NULL), 0);
	int lines = 0, relay2 = 0;
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"), lines++) {
		json_t *ev = json_loads(l, 0, NULL);
		ck_assert_msg(json_is_object(ev) && json_string_value(json_object_get(ev, "event")),
			      "not an event: %s", l);
		const char *srv = json_string_value(json_object_get(ev, "server"));
		relay2 += srv && strcmp(srv, "relay2") == 0;
		json_decref(ev);
	}
	ck_assert_int_gt(lines, 0);
	ck_assert_int_gt(relay2, 0);
	free(out);

	/* Stopped stays stopped: wait-ready names it; start brings it back. */
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "stop", "relay3", NULL), 0);
	ck_assert_msg(strstr(out, "relay3: stop requested"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "wait-ready", "--timeout", "0.3", NULL), 1);
	ck_assert_msg(strstr(out, "relay3 (st"), "%s", out);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "start", "relay3", NULL), 0);
	free(out);
	ck_assert_int_eq(harness_antctl(&out, "--run-dir", h.dir, "wait-ready", "--timeout", "10", NULL), 0);
	free(out);

	/* The follower saw it all as it happened. */
	static char seen[1 << 16];
	ck_assert_msg(read_until(ffd, seen, sizeof(seen), "[relay2]"), "follower: %s", seen);
	ck_assert_msg(read_until(ffd, seen, sizeof(seen), "[relay3]"), "follower: %s", seen);
	harness_stop(&h);
	/* antd gone: the follower ends by itself, exit 0. */
	ck_assert_msg(read_until(ffd, seen, sizeof(seen), "closed the log stream"), "follower: %s", seen);
	int status;
	ck_assert_int_eq(waitpid(follower, &status, 0), follower);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ffd);
}
END_TEST

static Suite *antctl_suite(void)
{
	Suite *s = suite_create("antctl");
	TCase *tc = tcase_create("antctl");
	tcase_add_unchecked_fixture(tc, harness_base_setup, harness_base_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, status_table_lists_every_server);
	tcase_add_test(tc, status_json_is_antds_object);
	tcase_add_test(tc, status_watch_refreshes_until_its_count);
	tcase_add_test(tc, docs_match_every_commands_help);
	tcase_add_test(tc, wait_ready_and_ping_on_a_ready_stack);
	tcase_add_test(tc, unknown_server_fails_clearly);
	tcase_add_test(tc, usage_errors_exit_2_naming_the_culprit);
	tcase_add_test(tc, unreachable_antd_exits_3_saying_why);
	tcase_add_test(tc, a_killed_antd_is_said_to_be_dead);
	tcase_add_test(tc, shutdown_ready_line_and_check);
	tcase_add_test(tc, every_program_has_help_and_version);
	tcase_add_test(tc, status_of_one_server_says_what_happened);
	tcase_add_test(tc, log_filters_and_the_file_after_a_stop);
	tcase_add_test(tc, list_and_choosing_among_several_stacks);
	tcase_add_test(tc, output_of_one_server);
	tcase_add_test(tc, wait_ready_times_out_naming_servers_not_running);
	tcase_add_test(tc, replies_antd_should_not_send_are_named);
	tcase_add_test(tc, restart_and_log);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(antctl_suite)
