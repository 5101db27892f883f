/* antctl.c - the operator's tool: status, restart/stop/start, log and wait-ready over antd's control socket. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ant-config.h"
#include "tool_common.h"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,       /* antd said no, unknown server, timeout, bad reply */
	EXIT_USAGE = 2,        /* tool_usage_error() */
	EXIT_UNREACHABLE = 3,  /* no socket, refused, permission, antd silent */
};

#define REQUEST_TIMEOUT_MS 10000
#define WAIT_POLL_MS 50

/* One connection to DIR/control.sock. */
struct ctl {
	const char *run_dir;        /* ro */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* ro: DIR/control.sock */
	int fd;                     /* -1 while not connected */
	int json;                   /* ro: --json */
	char *raw;                  /* private: the last message received, as sent */
};

/* What the command line said beyond the command's name. */
struct args {
	const char *server;         /* restart, stop, start */
	long lines;                 /* log */
	int follow;                 /* log */
	double timeout_s;           /* wait-ready */
};

struct command {
	const char *name;
	const char *synopsis;       /* after "antctl NAME" */
	const char *summary;        /* one line for the global help */
	const char *help;           /* the command's own text for NAME --help */
	const struct option *opts;  /* its own options (global ones are added) */
	const char *shortopts;
	int nargs;                  /* positional arguments: exactly this many */
	int (*run)(struct ctl *c, const struct command *cmd, const struct args *a);
};

/* ---- time ------------------------------------------------------------------ */

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the control socket ------------------------------------------------------ */

/* Connect c to its control.sock.  Returns 0 or -errno; c->fd stays -1 on error. */
static int ctl_connect(struct ctl *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, c->path, sizeof(sa.sun_path));
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	c->fd = fd;
	return 0;
}

static void ctl_disconnect(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Why connecting failed, in words an operator can act on. */
static const char *connect_hint(int e)
{
	switch (e) {
	case -ENOENT:
		return " (is the stack running, and is this its run folder?)";
	case -ECONNREFUSED:
		return " (nobody listens: antd is gone and left its socket behind)";
	case -EACCES:
	case -EPERM:
		return " (control.sock admits only root and the user antd runs as)";
	default:
		return "";
	}
}

static void __attribute__((noreturn)) die_unreachable(const struct ctl *c, int e)
{
	fprintf(stderr, "antctl: cannot reach antd at %s: %s%s\n", c->path, strerror(-e),
		connect_hint(e));
	exit(EXIT_UNREACHABLE);
}

static int ctl_send(struct ctl *c, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	ssize_t w;
	do
		w = send(c->fd, s, n, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	int e = w < 0 ? -errno : 0;
	free(s);
	return e;
}

/* Printable excerpt of bytes that were meant to be JSON. */
static void excerpt(const char *p, size_t n, char *buf, size_t len)
{
	size_t o = 0, i;
	for (i = 0; i < n && o + 8 < len; i++) {
		unsigned char b = (unsigned char)p[i];
		if (b >= 32 && b < 127)
			buf[o++] = (char)b;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", b);
	}
	if (i < n)
		o += (size_t)snprintf(buf + o, len - o, "...");
	buf[o] = '\0';
}

/*
 * Receive one message within timeout_ms (-1: no limit) and parse it.
 * Returns 0 with *out a new JSON object (caller decrefs; c->raw holds the
 * text as sent), -ETIMEDOUT, -ECONNRESET when antd closed the connection,
 * -EBADMSG when it is not a JSON object (why names it), or -errno.
 */
static int ctl_recv(struct ctl *c, int timeout_ms, json_t **out, char *why, size_t whylen)
{
	*out = NULL;
	double deadline = mono_s() + timeout_ms / 1000.0;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	for (;;) {
		int left = timeout_ms < 0 ? -1 : (int)((deadline - mono_s()) * 1000.0) + 1;
		int n = poll(&pfd, 1, timeout_ms < 0 ? -1 : left > 0 ? left : 0);
		if (n > 0)
			break;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
	/* A SOCK_SEQPACKET message comes whole: learn its size first. */
	ssize_t size;
	do
		size = recv(c->fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (size < 0 && errno == EINTR);
	if (size < 0)
		return errno == ECONNRESET ? -ECONNRESET : -errno;
	if (size == 0)
		return -ECONNRESET;
	free(c->raw);
	c->raw = malloc((size_t)size + 1);
	if (!c->raw)
		return -ENOMEM;
	ssize_t got;
	do
		got = recv(c->fd, c->raw, (size_t)size, 0);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return got == 0 ? -ECONNRESET : -errno;
	c->raw[got] = '\0';
	json_error_t jerr;
	json_t *o = json_loadb(c->raw, (size_t)got, 0, &jerr);
	if (!o || !json_is_object(o)) {
		char ex[96];
		excerpt(c->raw, (size_t)got, ex, sizeof(ex));
		snprintf(why, whylen, "'%s' (%s)", ex, o ? "not an object" : jerr.text);
		json_decref(o);
		return -EBADMSG;
	}
	*out = o;
	return 0;
}

/* Report a failed receive and exit: unreachable, or a reply we cannot read. */
static void __attribute__((noreturn)) die_recv(const struct ctl *c, int r, const char *why)
{
	if (r == -EBADMSG) {
		fprintf(stderr, "antctl: antd at %s sent a reply that is not a JSON object: %s\n",
			c->path, why);
		exit(EXIT_FAILED);
	}
	if (r == -ETIMEDOUT)
		fprintf(stderr, "antctl: antd at %s did not answer within %d s\n", c->path,
			REQUEST_TIMEOUT_MS / 1000);
	else if (r == -ECONNRESET || r == -EPIPE)
		fprintf(stderr, "antctl: antd at %s closed the connection without answering "
			"(it admits only root and its own user; or it is stopping)\n", c->path);
	else
		fprintf(stderr, "antctl: talking to antd at %s: %s\n", c->path, strerror(-r));
	exit(EXIT_UNREACHABLE);
}

/* Send req (consumed) and return antd's reply, or exit saying why not. */
static json_t *ctl_call(struct ctl *c, json_t *req)
{
	int r = ctl_send(c, req);
	json_decref(req);
	if (r < 0)
		die_recv(c, r == -EPIPE ? -ECONNRESET : r, NULL);
	json_t *rep;
	char why[160];
	r = ctl_recv(c, REQUEST_TIMEOUT_MS, &rep, why, sizeof(why));
	if (r < 0)
		die_recv(c, r, why);
	return rep;
}

/*
 * Did antd say ok?  If not, print its error naming what was asked (e.g.
 * "restart relay2") and return 0.
 */
static int reply_ok(const json_t *rep, const char *what)
{
	if (json_is_true(json_object_get(rep, "ok")))
		return 1;
	const char *err = json_string_value(json_object_get(rep, "error"));
	fprintf(stderr, "antctl: %s: antd says: %s", what, err ? err : "(failed, no reason given)");
	/* An antd older than this antctl: say so rather than leave the operator guessing. */
	if (err && strncmp(err, "unknown command", 15) == 0)
		fprintf(stderr, " (this antd does not implement it)");
	fputc('\n', stderr);
	return 0;
}

static void print_raw(const struct ctl *c)
{
	printf("%s\n", c->raw);
}

/* ---- reading antd's objects leniently: what is missing reads as 0 or "-" ---- */

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

/* 12.3s, 5m02s, 3h04m, 2d07h. */
static void fmt_uptime(double s, char *buf, size_t len)
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

/* ---- status -------------------------------------------------------------------- */

enum { COL_NAME, COL_PID, COL_STATE, COL_UPTIME, COL_RESTARTS, COL_REPLAYS, COL_INFLIGHT,
       COL_SERVED, NCOLS };
static const char *const col_head[NCOLS] = { "SERVER", "PID", "STATE", "UPTIME", "RESTARTS",
					     "REPLAYS", "IN FLIGHT", "SERVED" };

static void print_status_table(const json_t *st)
{
	const json_t *servers = json_object_get(st, "servers");
	const json_t *calls = json_object_get(st, "calls");
	printf("stack %s, antd pid %.0f, calls in flight %.0f (%.0f in all)\n", str(st, "stack"),
	       num(st, "pid"), num(calls, "in_flight"), num(calls, "total"));
	size_t n = json_array_size(servers);
	char (*cell)[NCOLS][64] = calloc(n + 1, sizeof(*cell));
	if (!cell)
		err(EXIT_FAILED, "status");
	int width[NCOLS];
	for (int k = 0; k < NCOLS; k++) {
		snprintf(cell[0][k], sizeof(cell[0][k]), "%s", col_head[k]);
		width[k] = (int)strlen(col_head[k]);
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(servers, i);
		char (*row)[64] = cell[i + 1];
		double pid = num(s, "pid");
		snprintf(row[COL_NAME], 64, "%s", str(s, "name"));
		if (pid > 0)
			snprintf(row[COL_PID], 64, "%.0f", pid);
		else
			snprintf(row[COL_PID], 64, "-");
		snprintf(row[COL_STATE], 64, "%s", str(s, "state"));
		if (pid > 0)
			fmt_uptime(num(s, "uptime_s"), row[COL_UPTIME], 64);
		else
			snprintf(row[COL_UPTIME], 64, "-");
		snprintf(row[COL_RESTARTS], 64, "%.0f", num(s, "restarts"));
		snprintf(row[COL_REPLAYS], 64, "%.0f", num(s, "replays"));
		snprintf(row[COL_INFLIGHT], 64, "%.0f", num(s, "inflight"));
		snprintf(row[COL_SERVED], 64, "%.0f", num(s, "served"));
		for (int k = 0; k < NCOLS; k++)
			if ((int)strlen(row[k]) > width[k])
				width[k] = (int)strlen(row[k]);
	}
	for (size_t i = 0; i <= n; i++) {
		for (int k = 0; k < NCOLS; k++) {
			/* Names and states read left to right; numbers line up on the right. */
			int left = k == COL_NAME || k == COL_STATE;
			const char *sep = k == NCOLS - 1 ? "" : "  ";
			if (left)
				printf("%-*s%s", k == NCOLS - 1 ? 0 : width[k], cell[i][k], sep);
			else
				printf("%*s%s", width[k], cell[i][k], sep);
		}
		putchar('\n');
	}
	free(cell);
	/* What does not fit a column: a warm spare, and how a server last ended. */
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(servers, i);
		if (num(s, "standby_pid") > 0)
			printf("%s: warm spare pid %.0f\n", str(s, "name"), num(s, "standby_pid"));
		if (json_string_value(json_object_get(s, "last_exit")))
			printf("%s: last exit: %s\n", str(s, "name"), str(s, "last_exit"));
		if (json_string_value(json_object_get(s, "last_violation")))
			printf("%s: last %s\n", str(s, "name"), str(s, "last_violation"));
	}
}

static int cmd_status(struct ctl *c, const struct command *cmd, const struct args *a)
{
	json_t *rep = ctl_call(c, json_pack("{s:s}", "cmd", "status"));
	int ok = reply_ok(rep, "status");
	if (c->json)
		print_raw(c);
	else if (ok)
		print_status_table(rep);
	json_decref(rep);
	return ok ? EXIT_OK : EXIT_FAILED;
}

/* ---- restart, stop, start -------------------------------------------------- */

static int cmd_server(struct ctl *c, const struct command *cmd, const struct args *a)
{
	json_t *rep = ctl_call(c, json_pack("{s:s, s:s}", "cmd", cmd->name, "server", a->server));
	char what[128];
	snprintf(what, sizeof(what), "%s %s", cmd->name, a->server);
	int ok = reply_ok(rep, what);
	if (c->json)
		print_raw(c);
	else if (ok)
		printf("%s: %s requested\n", a->server, cmd->name);
	json_decref(rep);
	return ok ? EXIT_OK : EXIT_FAILED;
}

/* ---- ping ------------------------------------------------------------------------ */

static int cmd_ping(struct ctl *c, const struct command *cmd, const struct args *a)
{
	double t0 = mono_s();
	json_t *rep = ctl_call(c, json_pack("{s:s}", "cmd", "ping"));
	int ok = reply_ok(rep, "ping");
	if (c->json)
		print_raw(c);
	else if (ok)
		printf("antd at %s answers (%.1f ms)\n", c->run_dir, (mono_s() - t0) * 1000.0);
	json_decref(rep);
	return ok ? EXIT_OK : EXIT_FAILED;
}

/* ---- log ---------------------------------------------------------------------------- */

/* One event: "time level event [server] msg", or its JSON on one line. */
static void print_event(const json_t *ev, int as_json)
{
	if (as_json) {
		char *s = json_dumps(ev, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		return;
	}
	const json_t *t = json_object_get(ev, "time");
	char when[64];
	if (json_is_number(t)) {
		/* Seconds since the epoch: show them as antd's own log lines do. */
		double v = json_number_value(t);
		time_t sec = (time_t)v;
		struct tm tm;
		gmtime_r(&sec, &tm);
		snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)((v - (double)sec) * 1000.0));
	} else {
		snprintf(when, sizeof(when), "%s", str(ev, "time"));
	}
	const char *server = json_string_value(json_object_get(ev, "server"));
	if (server)
		printf("%s %s %s [%s] %s\n", when, str(ev, "level"), str(ev, "event"), server,
		       str(ev, "msg"));
	else
		printf("%s %s %s %s\n", when, str(ev, "level"), str(ev, "event"), str(ev, "msg"));
}

static int cmd_log(struct ctl *c, const struct command *cmd, const struct args *a)
{
	json_t *rep = ctl_call(c, json_pack("{s:s, s:I, s:b}", "cmd", "log", "lines",
					    (json_int_t)a->lines, "follow", a->follow));
	if (!reply_ok(rep, "log")) {
		if (c->json)
			print_raw(c);
		json_decref(rep);
		return EXIT_FAILED;
	}
	size_t i;
	json_t *ev;
	json_array_foreach(json_object_get(rep, "events"), i, ev)
		print_event(ev, c->json);
	json_decref(rep);
	if (!a->follow)
		return EXIT_OK;
	/* Following: antd sends {"event": {...}} per new event until we hang up. */
	for (;;) {
		char why[160];
		int r = ctl_recv(c, -1, &rep, why, sizeof(why));
		if (r == -ECONNRESET) {
			fprintf(stderr, "antctl: antd at %s closed the log stream (stack stopped?)\n",
				c->path);
			return EXIT_OK;
		}
		if (r < 0)
			die_recv(c, r, why);
		ev = json_object_get(rep, "event");
		if (json_is_object(ev)) {
			print_event(ev, c->json);
		} else if (json_is_false(json_object_get(rep, "ok"))) {
			reply_ok(rep, "log");
			json_decref(rep);
			return EXIT_FAILED;
		}
		/* Anything else is from a newer antd: skip it. */
		json_decref(rep);
	}
}

/* ---- wait-ready ------------------------------------------------------------------- */

/* Names and states of the servers not running, as "a (starting), b (failed)";
 * empty if all run. */
static void not_ready(const json_t *st, char *buf, size_t len)
{
	size_t o = 0, i;
	json_t *s;
	buf[0] = '\0';
	json_array_foreach(json_object_get(st, "servers"), i, s) {
		if (strcmp(str(s, "state"), "running") == 0 || o >= len)
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%s (%s)", o ? ", " : "", str(s, "name"),
				      str(s, "state"));
	}
}

static int cmd_wait_ready(struct ctl *c, const struct command *cmd, const struct args *a)
{
	double deadline = mono_s() + a->timeout_s;
	int last_err = 0;          /* why the last connect failed */
	json_t *st = NULL;         /* the last status */
	char pending[1024] = "";
	for (;;) {
		/* antd may not be up yet, or may be restarting: keep trying until the deadline. */
		if (c->fd < 0) {
			last_err = ctl_connect(c);
			if (last_err < 0 && last_err != -ENOENT && last_err != -ECONNREFUSED)
				die_unreachable(c, last_err);
		}
		if (c->fd >= 0) {
			json_t *req = json_pack("{s:s}", "cmd", "status");
			int r = ctl_send(c, req);
			json_decref(req);
			double left = deadline - mono_s();
			int ms = left * 1000.0 < REQUEST_TIMEOUT_MS ? (int)(left * 1000.0) + 1
								    : REQUEST_TIMEOUT_MS;
			json_t *rep = NULL;
			char why[160];
			if (r == 0)
				r = ctl_recv(c, ms, &rep, why, sizeof(why));
			if (r == -EBADMSG)
				die_recv(c, r, why);
			if (r == 0 && !reply_ok(rep, "wait-ready: status")) {
				json_decref(rep);
				json_decref(st);
				return EXIT_FAILED;
			}
			if (r == 0) {
				json_decref(st);
				st = rep;
				not_ready(st, pending, sizeof(pending));
				if (!pending[0]) {
					if (c->json)
						print_raw(c);
					json_decref(st);
					return EXIT_OK;
				}
			} else {
				/* Gone or silent: reconnect on the next round. */
				ctl_disconnect(c);
				last_err = r;
			}
		}
		if (mono_s() >= deadline)
			break;
		double left = deadline - mono_s();
		sleep_ms(left * 1000.0 < WAIT_POLL_MS ? (int)(left * 1000.0) + 1 : WAIT_POLL_MS);
	}
	if (!st) {
		fprintf(stderr, "antctl: wait-ready: no status from antd at %s within %gs: %s%s\n",
			c->path, a->timeout_s, strerror(-last_err), connect_hint(last_err));
		return EXIT_UNREACHABLE;
	}
	if (c->json)
		print_raw(c);
	fprintf(stderr, "antctl: wait-ready: not ready after %gs: %s\n", a->timeout_s, pending);
	json_decref(st);
	return EXIT_FAILED;
}

/* ---- the command line -------------------------------------------------------------- */

/* Options every command takes, before or after its name. */
#define GLOBAL_OPTS                                            \
	{ "run-dir", required_argument, NULL, 'r' },           \
	{ "json", no_argument, NULL, 'j' },                    \
	{ "help", no_argument, NULL, 'h' },                    \
	{ "version", no_argument, NULL, 'V' }
#define NGLOBAL_OPTS 4

static const struct option log_opts[] = {
	{ "follow", no_argument, NULL, 'f' },
	{ "lines", required_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 },
};
static const struct option wait_opts[] = {
	{ "timeout", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};
static const struct option no_opts[] = { { NULL, 0, NULL, 0 } };

static const struct command commands[] = {
	{ "status", "", "servers: pid, state, uptime, restarts, replays, calls",
	  "Print one line per server: its pid, state (starting, running, restarting,\n"
	  "failed, stopping, stopped), uptime, restarts, replayed calls, control ICAs\n"
	  "it holds now (in flight) and replies it has sent (served).  With --json,\n"
	  "antd's status object as it sent it.\n",
	  no_opts, "h", 0, cmd_status },
	{ "restart", "SERVER", "stop SERVER and start it again",
	  "Ask antd to restart SERVER now.  antd replies at once; the restart itself\n"
	  "follows (see antctl status, antctl log).\n",
	  no_opts, "h", 1, cmd_server },
	{ "stop", "SERVER", "stop SERVER; it stays stopped until started",
	  "Ask antd to stop SERVER and not restart it.  Calls queued for it fail.\n",
	  no_opts, "h", 1, cmd_server },
	{ "start", "SERVER", "start a stopped or failed SERVER",
	  "Ask antd to start SERVER again after stop, or after it was given up.\n",
	  no_opts, "h", 1, cmd_server },
	{ "log", "[-f] [-n N]", "the last supervision events; -f: keep following",
	  "Print antd's last N supervision events (starts, exits, restarts, cut-offs),\n"
	  "one a line: TIME LEVEL EVENT [SERVER] MESSAGE.  With --json, one JSON object\n"
	  "a line.\n"
	  "\n"
	  "  -n, --lines N        how many past events (default 50; 0 with -f: only new)\n"
	  "  -f, --follow         then print each new event as it happens, until\n"
	  "                       interrupted or antd stops\n",
	  log_opts, "hfn:", 0, cmd_log },
	{ "wait-ready", "[--timeout S]", "wait until every server is running",
	  "Ask antd for its status every 50 ms until every server is running, and\n"
	  "exit 0.  Waits for antd itself too, if its socket is not there yet.  After\n"
	  "S seconds (default 30; fractions allowed) exit 1 naming the servers not\n"
	  "running and their states, or 3 if antd never answered.  With --json, print\n"
	  "the last status.\n"
	  "\n"
	  "  --timeout S          give up after S seconds\n",
	  wait_opts, "h", 0, cmd_wait_ready },
	{ "ping", "", "check that antd answers", "Ask antd for a sign of life.\n",
	  no_opts, "h", 0, cmd_ping },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL },
};

static const char global_opts_help[] =
	"Options, before or after the command:\n"
	"  --run-dir DIR        the stack's run folder (default: $ANT_RUN_DIR, else the\n"
	"                       only stack under /run/ant)\n"
	"  --json               print antd's JSON instead of text\n"
	"  --help               this text; after a command, that command's\n"
	"  --version            antctl's version\n";

static const char exit_help[] =
	"Exit status: 0 success; 1 the command failed (antd said no, unknown server,\n"
	"timeout, a reply that is not JSON); 2 bad usage; 3 antd cannot be reached\n"
	"(no socket, permission denied, no answer within 10 s).\n";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: antctl [--run-dir DIR] [--json] COMMAND [ARGS]\n"
		"Operate a running stack through antd's control socket, DIR/control.sock.\n"
		"\n"
		"Commands:\n");
	for (const struct command *cmd = commands; cmd->name; cmd++) {
		char head[64];
		snprintf(head, sizeof(head), "%s %s", cmd->name, cmd->synopsis);
		fprintf(f, "  %-25s %s\n", head, cmd->summary);
	}
	fprintf(f, "  %-25s %s\n", "help [COMMAND]", "this text, or COMMAND's");
	fprintf(f, "\n%s\n%s", global_opts_help, exit_help);
}

static void command_usage(const struct command *cmd, FILE *f)
{
	fprintf(f, "usage: antctl [OPTIONS] %s%s%s\n%s\n%s\n%s", cmd->name,
		cmd->synopsis[0] ? " " : "", cmd->synopsis, cmd->help, global_opts_help, exit_help);
}

static const struct command *find_command(const char *name)
{
	for (const struct command *cmd = commands; cmd->name; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

/* Say which option getopt could not take (ch '?' or ':'), as typed, and exit 2. */
static void __attribute__((noreturn)) option_error(const char *prog, int ch, char *const argv[],
						   const struct option *opts)
{
	const char *typed = argv[optind - 1];
	if (ch == ':')
		tool_usage_error(prog, "option '%s' needs a value", typed);
	if (!optopt)
		tool_usage_error(prog, "unknown option '%s'", typed);
	/* A known long option given a value it does not take ("--json=1")... */
	for (const struct option *o = opts; o->name; o++) {
		size_t n = strlen(o->name);
		if (o->val == optopt && strncmp(typed, "--", 2) == 0 &&
		    strncmp(typed + 2, o->name, n) == 0 && typed[2 + n] == '=')
			tool_usage_error(prog, "option '--%s' takes no value", o->name);
	}
	/* ... else an unknown short option, maybe inside a cluster such as -fx. */
	tool_usage_error(prog, "unknown option '-%c'", optopt);
}

struct globals {
	const char *run_dir;
	int json, help;
};

/* Take a global option; returns 0 if ch is not one. */
static int global_option(int ch, struct globals *g)
{
	switch (ch) {
	case 'r': g->run_dir = optarg; return 1;
	case 'j': g->json = 1; return 1;
	case 'h': g->help = 1; return 1;
	case 'V':
		printf("antctl %s\n", ANT_VERSION);
		exit(EXIT_OK);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option gopts[] = { GLOBAL_OPTS, { NULL, 0, NULL, 0 } };
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct globals g = { 0 };
	int ch;
	opterr = 0;
	/* Global options up to the command's name ("+": stop there). */
	while ((ch = getopt_long(argc, argv, "+:h", gopts, NULL)) != -1) {
		if (global_option(ch, &g))
			continue;
		option_error("antctl", ch, argv, gopts);
	}
	if (optind >= argc) {
		if (g.help) {
			usage(stdout);
			return EXIT_OK;
		}
		tool_usage_error("antctl", "expected a command (status, restart, stop, start, log, "
			       "wait-ready, ping)");
	}
	const char *name = argv[optind];
	if (strcmp(name, "help") == 0) {
		const struct command *cmd = optind + 1 < argc ? find_command(argv[optind + 1]) : NULL;
		if (optind + 1 < argc && !cmd)
			tool_usage_error("antctl", "help: unknown command '%s'", argv[optind + 1]);
		if (cmd)
			command_usage(cmd, stdout);
		else
			usage(stdout);
		return EXIT_OK;
	}
	const struct command *cmd = find_command(name);
	if (!cmd)
		tool_usage_error("antctl", "unknown command '%s'", name);
	char prog[64];
	snprintf(prog, sizeof(prog), "antctl %s", cmd->name);

	/* The command's own options and the global ones, anywhere after its name. */
	struct option opts[NGLOBAL_OPTS + 8] = { GLOBAL_OPTS };
	size_t nopts = NGLOBAL_OPTS;
	for (const struct option *o = cmd->opts; o->name; o++)
		opts[nopts++] = *o;
	char shortopts[16];
	snprintf(shortopts, sizeof(shortopts), ":%s", cmd->shortopts);
	struct args a = { .lines = 50, .timeout_s = 30.0 };
	int cargc = argc - optind;
	char **cargv = argv + optind;
	optind = 0;   /* glibc: start over, on the command's arguments */
	while ((ch = getopt_long(cargc, cargv, shortopts, opts, NULL)) != -1) {
		if (global_option(ch, &g))
			continue;
		switch (ch) {
		case 'f': a.follow = 1; break;
		case 'n':
			if (tool_parse_long(optarg, 0, 1000000, &a.lines) < 0)
				tool_usage_error(prog, "--lines: expected a count from 0 to 1000000, got '%s'",
						 optarg);
			break;
		case 't': {
			char *end;
			errno = 0;
			a.timeout_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(a.timeout_s >= 0 && a.timeout_s <= 86400))
				tool_usage_error(prog, "--timeout: expected seconds from 0 to 86400, got '%s'",
						 optarg);
			break;
		}
		default:
			option_error(prog, ch, cargv, opts);
		}
	}
	if (g.help) {
		command_usage(cmd, stdout);
		return EXIT_OK;
	}
	int npos = cargc - optind;
	if (npos < cmd->nargs)
		tool_usage_error(prog, "expected %s", cmd->synopsis);
	if (npos > cmd->nargs)
		tool_usage_error(prog, "unexpected argument '%s'", cargv[optind + cmd->nargs]);
	if (cmd->nargs)
		a.server = cargv[optind];

	struct ctl c = { .fd = -1, .json = g.json };
	c.run_dir = tool_run_dir(g.run_dir);
	if (!c.run_dir) {
		fprintf(stderr, "antctl: no run folder: give --run-dir DIR or set ANT_RUN_DIR "
			"(/run/ant holds no stack, or several)\n");
		return EXIT_UNREACHABLE;
	}
	if (snprintf(c.path, sizeof(c.path), "%s/control.sock", c.run_dir) >= (int)sizeof(c.path)) {
		fprintf(stderr, "antctl: %s/control.sock: path too long for a socket (at most %zu bytes)\n",
			c.run_dir, sizeof(c.path) - 1);
		return EXIT_UNREACHABLE;
	}
	/* wait-ready connects itself: antd may not be there yet. */
	if (cmd->run != cmd_wait_ready) {
		int r = ctl_connect(&c);
		if (r < 0)
			die_unreachable(&c, r);
	}
	int rc = cmd->run(&c, cmd, &a);
	ctl_disconnect(&c);
	free(c.raw);
	return rc;
}
