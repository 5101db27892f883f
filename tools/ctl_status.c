/* ctl_status.c - antd's status in words: the table of servers, one server's detail, the watch screen. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_client.h"
#include "ctl_status.h"

void status_fmt_duration(double s, char *buf, size_t len)
{
	if (s < 59.95) {
		snprintf(buf, len, "%.1fs", s < 0 ? 0.0 : s);
		return;
	}
	long t = (long)s;
	if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
}

void status_fmt_us(double us, char *buf, size_t len)
{
	if (us < 1000)
		snprintf(buf, len, "%.0fus", us);
	else if (us < 10000)
		snprintf(buf, len, "%.1fms", us / 1000);
	else if (us < 1000000)
		snprintf(buf, len, "%.0fms", us / 1000);
	else
		snprintf(buf, len, "%.2fs", us / 1e6);
}

/* 812K, 1.2M, 34M, 1.1G */
static void fmt_kb(double kb, char *buf, size_t len)
{
	if (kb < 1024)
		snprintf(buf, len, "%.0fK", kb);
	else if (kb < 10 * 1024)
		snprintf(buf, len, "%.1fM", kb / 1024);
	else if (kb < 1024 * 1024)
		snprintf(buf, len, "%.0fM", kb / 1024);
	else
		snprintf(buf, len, "%.1fG", kb / (1024 * 1024));
}

enum { COL_NAME, COL_PID, COL_STATE, COL_FOR, COL_RESTARTS, COL_REPLAYS, COL_INFLIGHT,
       COL_QUEUED, COL_SERVED, COL_ERRORS, COL_P50, COL_P99, COL_CPU, COL_CPUPCT, COL_RSS,
       NCOLS };
static const char *const col_head[NCOLS] = { "SERVER", "PID", "STATE", "FOR", "RESTARTS",
	"REPLAYS", "IN FLIGHT", "QUEUED", "SERVED", "ERRORS", "P50", "P99", "CPU", "CPU%", "RSS" };

/* One server's row; prev: its entry dt seconds before, or NULL. */
static void fill_row(char (*row)[64], const json_t *s, const json_t *prev, double dt)
{
	double pid = ctl_num(s, "pid");
	const json_t *svc = json_object_get(s, "service");
	snprintf(row[COL_NAME], 64, "%s", ctl_str(s, "name"));
	snprintf(row[COL_PID], 64, pid > 0 ? "%.0f" : "-", pid);
	snprintf(row[COL_STATE], 64, "%s", ctl_str(s, "state"));
	status_fmt_duration(ctl_num(s, "state_for_s"), row[COL_FOR], 64);
	snprintf(row[COL_RESTARTS], 64, "%.0f", ctl_num(s, "restarts"));
	snprintf(row[COL_REPLAYS], 64, "%.0f", ctl_num(s, "replays"));
	snprintf(row[COL_INFLIGHT], 64, "%.0f", ctl_num(s, "inflight"));
	snprintf(row[COL_QUEUED], 64, "%.0f", ctl_num(s, "queued"));
	/* answers through antd, and in the fast path's lanes */
	snprintf(row[COL_SERVED], 64, "%.0f", ctl_num(s, "served") + ctl_num(s, "lane_served"));
	snprintf(row[COL_ERRORS], 64, "%.0f", ctl_num(s, "errors") + ctl_num(s, "failed") +
		 ctl_num(s, "lane_errors"));
	if (ctl_num(svc, "samples") > 0) {
		status_fmt_us(ctl_num(svc, "p50_us"), row[COL_P50], 64);
		status_fmt_us(ctl_num(svc, "p99_us"), row[COL_P99], 64);
	} else {
		snprintf(row[COL_P50], 64, "-");
		snprintf(row[COL_P99], 64, "-");
	}
	const json_t *cpu = json_object_get(s, "cpu_s");
	if (cpu && ctl_num(s, "cpu_s") < 59.95)
		snprintf(row[COL_CPU], 64, "%.2fs", ctl_num(s, "cpu_s"));
	else if (cpu)
		status_fmt_duration(ctl_num(s, "cpu_s"), row[COL_CPU], 64);
	else
		snprintf(row[COL_CPU], 64, "-");
	/* CPU% only across two replies about the same process. */
	const json_t *pcpu = prev ? json_object_get(prev, "cpu_s") : NULL;
	if (cpu && pcpu && dt > 0 && ctl_num(prev, "pid") == pid)
		snprintf(row[COL_CPUPCT], 64, "%.0f",
			 (ctl_num(s, "cpu_s") - ctl_num(prev, "cpu_s")) * 100.0 / dt);
	else
		snprintf(row[COL_CPUPCT], 64, "-");
	if (json_object_get(s, "rss_kb"))
		fmt_kb(ctl_num(s, "rss_kb"), row[COL_RSS], 64);
	else
		snprintf(row[COL_RSS], 64, "-");
}

static const json_t *prev_entry(const json_t *prev, const json_t *s)
{
	return prev ? ctl_status_server(prev, ctl_str(s, "name")) : NULL;
}

/* "12:03:04 (5 s ago)" */
static void when(double t, double ago, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	char hms[16];
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	snprintf(buf, len, "%s (%.0f s ago)", hms, ago);
}

void status_print_table(const json_t *st, const json_t *prev, double dt)
{
	const json_t *servers = json_object_get(st, "servers");
	const json_t *calls = json_object_get(st, "calls");
	const json_t *loop = json_object_get(st, "loop");
	const json_t *antd = json_object_get(st, "antd");
	printf("stack %s, antd pid %.0f", ctl_str(st, "stack"), ctl_num(st, "pid"));
	if (antd)
		printf(" (antd %s, re-executed %.0f time%s)", ctl_str(antd, "version"),
		       ctl_num(antd, "reexecs"), ctl_num(antd, "reexecs") == 1 ? "" : "s");
	printf(", calls in flight %.0f (%.0f in all)\n", ctl_num(calls, "in_flight"),
	       ctl_num(calls, "total"));
	const json_t *fp = json_object_get(st, "fast_path");
	if (fp && json_is_true(json_object_get(fp, "on")))
		printf("fast path on: %.0f app lane pair%s, %.0f server lane pair%s, %.0f lane "
		       "call%s taken over by antd\n",
		       ctl_num(fp, "app_lanes"), ctl_num(fp, "app_lanes") == 1 ? "" : "s",
		       ctl_num(fp, "server_lanes"), ctl_num(fp, "server_lanes") == 1 ? "" : "s",
		       ctl_num(fp, "adopted"), ctl_num(fp, "adopted") == 1 ? "" : "s");
	else if (fp && json_is_string(json_object_get(fp, "off_why")))
		printf("fast path off: %s\n", ctl_str(fp, "off_why"));
	if (loop)   /* how long antd was busy per wake-up: every call waits meanwhile */
		printf("antd busy at most %.1f ms per wake-up; %.0f of %.0f wake-ups over 1 ms\n",
		       ctl_num(loop, "busy_max_us") / 1000.0, ctl_num(loop, "over_1ms"),
		       ctl_num(loop, "wakeups"));
	size_t n = json_array_size(servers);
	char (*cell)[NCOLS][64] = calloc(n + 1, sizeof(*cell));
	if (!cell)
		err(1, "status");
	int width[NCOLS], shown[NCOLS];
	for (int k = 0; k < NCOLS; k++) {
		snprintf(cell[0][k], sizeof(cell[0][k]), "%s", col_head[k]);
		width[k] = (int)strlen(col_head[k]);
		shown[k] = k != COL_CPUPCT || prev;   /* CPU% needs two replies */
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(servers, i);
		fill_row(cell[i + 1], s, prev_entry(prev, s), dt);
		for (int k = 0; k < NCOLS; k++)
			if ((int)strlen(cell[i + 1][k]) > width[k])
				width[k] = (int)strlen(cell[i + 1][k]);
	}
	int last = NCOLS - 1;
	for (size_t i = 0; i <= n; i++) {
		for (int k = 0; k < NCOLS; k++) {
			if (!shown[k])
				continue;
			/* Names and states read left to right; numbers line up on the right. */
			int left = k == COL_NAME || k == COL_STATE;
			const char *sep = k == last ? "" : "  ";
			if (left)
				printf("%-*s%s", width[k], cell[i][k], sep);
			else
				printf("%*s%s", width[k], cell[i][k], sep);
		}
		putchar('\n');
	}
	free(cell);
	/* What does not fit a column: a warm spare, and how a server last ended. */
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(servers, i);
		if (ctl_num(s, "standby_pid") > 0)
			printf("%s: warm spare pid %.0f\n", ctl_str(s, "name"), ctl_num(s, "standby_pid"));
		const json_t *e = json_array_get(json_object_get(s, "exits"), 0);
		if (e) {   /* the newest end, and why as antd knows it */
			char at[64];
			const char *cause = json_string_value(json_object_get(e, "cause"));
			when(ctl_num(e, "time"), ctl_num(e, "ago_s"), at, sizeof(at));
			printf("%s: last exit %s: %s%s%s\n", ctl_str(s, "name"), at, ctl_str(e, "how"),
			       cause && *cause ? ": " : "", cause ? cause : "");
		} else if (json_string_value(json_object_get(s, "last_exit"))) {
			printf("%s: last exit: %s\n", ctl_str(s, "name"), ctl_str(s, "last_exit"));
		}
		if (json_string_value(json_object_get(s, "last_violation")))
			printf("%s: last %s\n", ctl_str(s, "name"), ctl_str(s, "last_violation"));
		if (json_object_get(s, "retry_in_s"))
			printf("%s: given up %.0f time(s) in a row; trying again in %.1f s\n",
			       ctl_str(s, "name"), ctl_num(s, "give_ups"), ctl_num(s, "retry_in_s"));
	}
}

void status_print_server(const json_t *s)
{
	char up[32], since[32];
	status_fmt_duration(ctl_num(s, "uptime_s"), up, sizeof(up));
	status_fmt_duration(ctl_num(s, "state_for_s"), since, sizeof(since));
	if (ctl_num(s, "pid") > 0)
		printf("%s: %s for %s, pid %.0f (instance %.0f), up %s\n", ctl_str(s, "name"),
		       ctl_str(s, "state"), since, ctl_num(s, "pid"), ctl_num(s, "instance"), up);
	else
		printf("%s: %s for %s, no process (instance %.0f)\n", ctl_str(s, "name"),
		       ctl_str(s, "state"), since, ctl_num(s, "instance"));
	const char *version = json_string_value(json_object_get(s, "version"));
	printf("  runs %s%s%s, generation %.0f%s%s\n", ctl_str(s, "exec"),
	       version ? ", version " : "", version ? version : "", ctl_num(s, "generation"),
	       json_object_get(s, "upgrade") ? "; upgrade: " : "",
	       json_object_get(s, "upgrade") ? ctl_str(s, "upgrade") : "");
	const json_t *sb = json_object_get(s, "sandbox");
	printf("  policy %s; sandbox %s (%.0f system calls, %s), %.0f violations\n",
	       ctl_str(s, "policy"), ctl_str(sb, "policy"), ctl_num(sb, "syscalls_allowed"), ctl_str(sb, "action"),
	       ctl_num(sb, "violations"));
	printf("  served %.0f (%.0f with an error), failed by antd %.0f, in flight %.0f, "
	       "queued %.0f\n", ctl_num(s, "served") + ctl_num(s, "lane_served"),
	       ctl_num(s, "errors") + ctl_num(s, "lane_errors"), ctl_num(s, "failed"),
	       ctl_num(s, "inflight"), ctl_num(s, "queued"));
	if (ctl_num(s, "lane_served") > 0)
		printf("  of them %.0f in the fast path's lanes, past antd (their service times "
		       "sampled)\n", ctl_num(s, "lane_served"));
	printf("  restarts %.0f, replays %.0f, failovers %.0f\n", ctl_num(s, "restarts"),
	       ctl_num(s, "replays"), ctl_num(s, "failovers"));
	const json_t *svc = json_object_get(s, "service");
	if (ctl_num(svc, "samples") > 0) {
		char p50[16], p99[16], mx[16];
		status_fmt_us(ctl_num(svc, "p50_us"), p50, sizeof(p50));
		status_fmt_us(ctl_num(svc, "p99_us"), p99, sizeof(p99));
		status_fmt_us(ctl_num(svc, "max_us"), mx, sizeof(mx));
		printf("  service time (handed a request or RETURN -> answered or forwarded it), "
		       "last %.0f: p50 %s, p99 %s, max %s\n",
		       ctl_num(svc, "samples"), p50, p99, mx);
	}
	if (json_object_get(s, "cpu_s") || json_object_get(s, "rss_kb")) {
		char rss[16] = "-";
		if (json_object_get(s, "rss_kb"))
			fmt_kb(ctl_num(s, "rss_kb"), rss, sizeof(rss));
		printf("  cpu %.2f s, rss %s\n", ctl_num(s, "cpu_s"), rss);
	}
	if (ctl_num(s, "standby_pid") > 0)
		printf("  warm spare: pid %.0f, %s\n", ctl_num(s, "standby_pid"),
		       json_is_true(json_object_get(s, "standby_ready")) ? "ready" : "not ready");
	if (json_object_get(s, "retry_in_s"))
		printf("  given up %.0f time(s) in a row; trying again in %.1f s\n",
		       ctl_num(s, "give_ups"), ctl_num(s, "retry_in_s"));
	const json_t *exits = json_object_get(s, "exits");
	if (json_array_size(exits))
		printf("  last ends, newest first:\n");
	for (size_t i = 0; i < json_array_size(exits); i++) {
		const json_t *e = json_array_get(exits, i);
		char at[64];
		when(ctl_num(e, "time"), ctl_num(e, "ago_s"), at, sizeof(at));
		const char *cause = json_string_value(json_object_get(e, "cause"));
		printf("    %s  %s%s%s\n", at, ctl_str(e, "how"), cause && *cause ? ": " : "",
		       cause ? cause : "");
	}
}
