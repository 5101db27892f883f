/* antctl.c - the operator's tool: status, restart/stop/start, log and wait-ready over antd's control socket. */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ant-config.h"
#include "ant/cica.h"
#include "ant/proto.h"
#include "ctl_client.h"
#include "ctl_metrics.h"
#include "ctl_status.h"
#include "ctl_time.h"
#include "fault.h"
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
	struct ctl_conn conn;       /* the socket; conn.raw: the last message, as sent */
	int json;                   /* ro: --json */
	int unreachable;            /* log: why antd could not be reached (-errno), or 0 */
};

/* What the command line said beyond the command's name. */
struct args {
	const char *server;         /* restart, stop, start */
	long lines;                 /* log */
	int follow;                 /* log */
	const char *only_server;    /* log --server */
	const char *only_event;     /* output: only this event ("output") */
	int min_level;              /* log --level: 0 debug, 1 info, 2 warn, 3 error */
	int has_since;              /* log --since given ... */
	double since;               /* ... this time, s since the epoch */
	int watch;                  /* status --watch */
	double interval_s;          /* status --interval */
	long count;                 /* status --count: refreshes (0: until stopped) */
	double timeout_s;           /* wait-ready, shutdown */
	const char *arg2;           /* inject: the fault */
	char **rest;                /* upgrade: the new arguments (after --) ... */
	int nrest;                  /* ... how many; -1: none given */
	const char *exec;           /* upgrade --exec */
	long probation_ms, up_timeout_ms;   /* upgrade; -1: antd's default */
	int no_state, verify_state; /* upgrade */
	enum { INJ_ARM, INJ_LIST, INJ_CLEAR, INJ_VOCABULARY } inj_mode;
	json_t *inj;                /* inject: its settings, as antd takes them */
	int timeout_given;          /* --timeout was given */
};

struct command {
	const char *name;
	const char *synopsis;       /* after "antctl NAME" */
	const char *summary;        /* one line for the global help */
	const char *help;           /* the command's own text for NAME --help */
	const struct option *opts;  /* its own options (global ones are added) */
	const char *shortopts;
	int nargs;                  /* positional arguments: exactly this many (-1: one or none,
				       -2: up to two) */
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
	char dir[sizeof(c->conn.path)], dead[sizeof(c->conn.path) + 200];
	snprintf(dir, sizeof(dir), "%s", c->conn.path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (e == -ECONNREFUSED && tool_stack_dead(dir, dead, sizeof(dead)))
		fprintf(stderr, "antctl: %s\n", dead);
	else
		fprintf(stderr, "antctl: cannot reach antd at %s: %s%s\n", c->conn.path,
			strerror(-e), connect_hint(e));
	exit(EXIT_UNREACHABLE);
}

/* Report a failed receive and exit: unreachable, or a reply we cannot read. */
static void __attribute__((noreturn)) die_recv(const struct ctl *c, int r, const char *why)
{
	if (r == -EBADMSG) {
		fprintf(stderr, "antctl: antd at %s sent a reply that is not a JSON object: %s\n",
			c->conn.path, why);
		exit(EXIT_FAILED);
	}
	if (r == -ETIMEDOUT)
		fprintf(stderr, "antctl: antd at %s did not answer within %d s\n", c->conn.path,
			REQUEST_TIMEOUT_MS / 1000);
	else if (r == -ECONNRESET || r == -EPIPE)
		fprintf(stderr, "antctl: antd at %s closed the connection without answering "
			"(it admits only root and its own user; or it is stopping)\n", c->conn.path);
	else
		fprintf(stderr, "antctl: talking to antd at %s: %s\n", c->conn.path, strerror(-r));
	exit(EXIT_UNREACHABLE);
}

/* Send req (consumed) and return antd's reply, or exit saying why not. */
/* The same, waiting up to timeout_ms for the answer (an upgrade's). */
static json_t *ctl_call_wait(struct ctl *c, json_t *req, int timeout_ms)
{
	int r = ctl_send(&c->conn, req);
	json_decref(req);
	if (r < 0)
		die_recv(c, r == -EPIPE ? -ECONNRESET : r, NULL);
	json_t *rep;
	char why[160];
	r = ctl_recv(&c->conn, timeout_ms, &rep, why, sizeof(why));
	if (r < 0)
		die_recv(c, r, why);
	return rep;
}

static json_t *ctl_call(struct ctl *c, json_t *req)
{
	return ctl_call_wait(c, req, REQUEST_TIMEOUT_MS);
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
	printf("%s\n", c->conn.raw);
}

/* status --watch: the table again every interval, until interrupted, antd
 * goes, or --count refreshes. */
static int watch_status(struct ctl *c, const struct args *a)
{
	int tty = isatty(STDOUT_FILENO);
	json_t *prev = NULL;
	double prev_t = 0;
	for (long i = 0; !a->count || i < a->count; i++) {
		if (i)
			sleep_ms((int)(a->interval_s * 1000));
		json_t *rep = ctl_call(c, json_pack("{s:s}", "cmd", "status"));
		double t = mono_s();
		if (!reply_ok(rep, "status")) {
			json_decref(rep);
			json_decref(prev);
			return EXIT_FAILED;
		}
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
		if (tty)   /* home, clear: the table redrawn in place */
			printf("\033[H\033[2J");
		else if (i)
			putchar('\n');
		printf("%s, every %.1f s%s\n", stamp, a->interval_s, tty ? " (Ctrl-C to quit)" : "");
		if (c->json)
			print_raw(c);
		else
			status_print_table(rep, prev, prev ? t - prev_t : 0);
		fflush(stdout);
		json_decref(prev);
		prev = rep;
		prev_t = t;
	}
	json_decref(prev);
	return EXIT_OK;
}

static int cmd_status(struct ctl *c, const struct command *cmd, const struct args *a)
{
	if (a->watch && a->server)
		tool_usage_error("antctl status", "--watch shows every server; leave out '%s'",
				 a->server);
	if ((a->count || a->interval_s != 1.0) && !a->watch)
		tool_usage_error("antctl status", "--interval and --count go with --watch");
	if (a->watch)
		return watch_status(c, a);
	json_t *rep = ctl_call(c, json_pack("{s:s}", "cmd", "status"));
	int ok = reply_ok(rep, "status");
	const json_t *one = a->server && ok ? ctl_status_server(rep, a->server) : NULL;
	if (ok && a->server && !one) {
		fprintf(stderr, "antctl: status: no server named '%s' in this stack\n", a->server);
		json_decref(rep);
		return EXIT_FAILED;
	}
	if (c->json && one) {
		char *text = json_dumps(one, JSON_COMPACT | JSON_REAL_PRECISION(6));
		if (text)
			printf("%s\n", text);
		free(text);
	} else if (c->json) {
		print_raw(c);
	} else if (one) {
		status_print_server(one);
	} else if (ok) {
		status_print_table(rep, NULL, 0);
	}
	json_decref(rep);
	return ok ? EXIT_OK : EXIT_FAILED;
}

/* ---- metrics ---------------------------------------------------------------- */

static int cmd_metrics(struct ctl *c, const struct command *cmd, const struct args *a)
{
	if (c->json)
		tool_usage_error("antctl metrics", "--json: the metrics are text; antctl status "
				 "--json has the same counters as JSON");
	json_t *rep = ctl_call(c, json_pack("{s:s}", "cmd", "status"));
	int ok = reply_ok(rep, "metrics");
	if (ok && metrics_print(stdout, rep) < 0) {
		fprintf(stderr, "antctl: metrics: antd's status reply is not one antctl knows\n");
		ok = 0;
	}
	json_decref(rep);
	if (fflush(stdout) != 0) {
		perror("antctl: metrics");
		return EXIT_FAILED;
	}
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

/* ---- output --------------------------------------------------------------------------- */

static int cmd_log(struct ctl *c, const struct command *cmd, const struct args *a);

/* antctl output SERVER: what the server printed (antd logs each line of its
 * stdout and stderr as an "output" event). */
static int cmd_output(struct ctl *c, const struct command *cmd, const struct args *a)
{
	struct args o = *a;
	o.only_server = a->server;
	o.only_event = "output";
	return cmd_log(c, cmd, &o);
}

/* ---- inject ---------------------------------------------------------------------------- */

/* antctl inject --vocabulary: the faults, from the one table. */
static int inject_vocabulary(const struct ctl *c)
{
	size_t n;
	const struct fault_kind *k = fault_kinds(&n);
	json_t *all = json_array();
	if (!c->json)
		printf("%-22s %-28s %s\n", "FAULT", "VIA", "WHAT THE SERVER DOES");
	for (size_t i = 0; i < n; i++) {
		char name[48], vias[64];
		fault_kind_usage(&k[i], name, sizeof(name));
		fault_vias_format(k[i].vias, vias, sizeof(vias));
		if (c->json)
			json_array_append_new(all, json_pack("{s:s, s:s, s:s}", "fault", name, "via",
							     vias, "does", k[i].does));
		else
			printf("%-22s %-28s %s\n", name, vias, k[i].does);
	}
	if (c->json) {
		char *s = json_dumps(all, JSON_COMPACT);
		printf("%s\n", s ? s : "[]");
		free(s);
	}
	json_decref(all);
	return EXIT_OK;
}

/* One armed fault in a line. */
static void print_inject(const json_t *f)
{
	printf("fault %.0f: %s on %s by %s, %s", ctl_num(f, "id"), ctl_str(f, "fault"),
	       ctl_str(f, "server"), ctl_str(f, "via"), ctl_str(f, "trigger"));
	if (json_is_true(json_object_get(f, "waiting")))
		printf(" (waiting)");
	printf("\n");
}

static int cmd_inject(struct ctl *c, const struct command *cmd, const struct args *a)
{
	json_t *req;
	const char *what = "inject";
	switch (a->inj_mode) {
	case INJ_VOCABULARY:
		return inject_vocabulary(c);
	case INJ_LIST:
		if (a->arg2)
			tool_usage_error("antctl inject", "--list takes at most a SERVER");
		req = json_pack("{s:s}", "cmd", "inject-list");
		if (a->server)
			json_object_set_new(req, "server", json_string(a->server));
		what = "inject --list";
		break;
	case INJ_CLEAR: {
		if (a->arg2)
			tool_usage_error("antctl inject", "--clear takes at most a SERVER or an ID");
		req = json_pack("{s:s}", "cmd", "inject-clear");
		long id;
		if (a->server && tool_parse_long(a->server, 1, 1L << 32, &id) == 0)
			json_object_set_new(req, "id", json_integer(id));
		else if (a->server)
			json_object_set_new(req, "server", json_string(a->server));
		what = "inject --clear";
		break;
	}
	default: {
		if (!a->server || !a->arg2)
			tool_usage_error("antctl inject", "expected SERVER FAULT (antctl inject "
					 "--vocabulary lists the faults)");
		struct fault_spec f;
		char why[512];
		if (fault_parse(a->arg2, &f, why, sizeof(why)) < 0)
			tool_usage_error("antctl inject", "%s", why);
		req = a->inj ? json_deep_copy(a->inj) : json_object();
		json_object_set_new(req, "cmd", json_string("inject"));
		json_object_set_new(req, "server", json_string(a->server));
		json_object_set_new(req, "fault", json_string(a->arg2));
		break;
	}
	}
	if (a->inj_mode != INJ_ARM && a->inj && json_object_size(a->inj))
		tool_usage_error("antctl inject", "--list and --clear take no trigger options");
	json_t *rep = ctl_call(c, req);
	if (!json_is_true(json_object_get(rep, "ok"))) {
		int usage = json_is_true(json_object_get(rep, "usage"));
		fprintf(stderr, "antctl %s: %s\n", what, ctl_str(rep, "error"));
		if (c->json)
			print_raw(c);
		json_decref(rep);
		return usage ? EXIT_USAGE : EXIT_FAILED;
	}
	if (c->json) {
		print_raw(c);
	} else if (a->inj_mode == INJ_LIST) {
		const json_t *all = json_object_get(rep, "faults");
		if (!json_array_size(all))
			printf("no fault armed%s%s\n", a->server ? " on " : "",
			       a->server ? a->server : "");
		else
			printf("%-4s %-12s %-18s %-10s %6s %6s  %s\n", "ID", "SERVER", "FAULT", "VIA",
			       "SEEN", "FIRED", "TRIGGER");
		size_t i;
		const json_t *f;
		json_array_foreach(all, i, f)
			printf("%-4.0f %-12s %-18s %-10s %6.0f %6.0f  %s%s\n", ctl_num(f, "id"),
			       ctl_str(f, "server"), ctl_str(f, "fault"), ctl_str(f, "via"),
			       ctl_num(f, "seen"), ctl_num(f, "fired"), ctl_str(f, "trigger"),
			       json_is_true(json_object_get(f, "waiting")) ? " (waiting)" : "");
	} else if (a->inj_mode == INJ_CLEAR) {
		printf("cleared %.0f fault(s)\n", ctl_num(rep, "cleared"));
	} else {
		const json_t *f = json_object_get(rep, "inject");
		print_inject(f);
		if (ctl_num(f, "fired") > 0)
			printf("fired at once; the log has it (antctl log --server %s)\n",
			       ctl_str(f, "server"));
	}
	json_decref(rep);
	return EXIT_OK;
}

/* ---- upgrade, rollback ------------------------------------------------------------------ */

/* antctl upgrade / rollback SERVER: antd answers when it is over (upgraded,
 * rolled back or refused). */
static int cmd_upgrade(struct ctl *c, const struct command *cmd, const struct args *a)
{
	int rollback = strcmp(cmd->name, "rollback") == 0;
	if (rollback && (a->exec || a->nrest >= 0))
		tool_usage_error("antctl rollback", "rollback goes back to the version before: no "
				 "--exec or arguments");
	if (a->exec && a->exec[0] != '/')
		tool_usage_error("antctl upgrade", "--exec: give an absolute path, got '%s'", a->exec);
	json_t *req = json_pack("{s:s, s:s}", "cmd", cmd->name, "server", a->server);
	if (a->exec)
		json_object_set_new(req, "exec", json_string(a->exec));
	if (a->nrest >= 0) {
		json_t *args = json_array();
		for (int i = 0; i < a->nrest; i++)
			json_array_append_new(args, json_string(a->rest[i]));
		json_object_set_new(req, "args", args);
	}
	if (a->probation_ms >= 0)
		json_object_set_new(req, "probation_ms", json_integer(a->probation_ms));
	if (a->up_timeout_ms >= 0)
		json_object_set_new(req, "timeout_ms", json_integer(a->up_timeout_ms));
	if (a->no_state)
		json_object_set_new(req, "no_state", json_true());
	if (a->verify_state)
		json_object_set_new(req, "verify_state", json_true());
	long wait = (a->up_timeout_ms >= 0 ? a->up_timeout_ms : 10000) +
		    (a->probation_ms >= 0 ? a->probation_ms : 1000) + 5000;
	json_t *rep = ctl_call_wait(c, req, (int)wait);
	int ok = json_is_true(json_object_get(rep, "ok"));
	if (c->json)
		print_raw(c);
	if (!ok) {
		fprintf(stderr, "antctl %s: %s: %s: %s\n", cmd->name, a->server,
			ctl_str(rep, "outcome"), ctl_str(rep, "error"));
		int usage = json_is_true(json_object_get(rep, "usage"));
		json_decref(rep);
		return usage ? EXIT_USAGE : EXIT_FAILED;
	}
	if (!c->json)
		printf("%s %s: %s%s%s, pid %.0f, generation %.0f%s%s (%.0f ms)\n", a->server,
		       ctl_str(rep, "outcome"), ctl_str(rep, "exec"), *ctl_str(rep, "args") ? " " : "",
		       json_string_value(json_object_get(rep, "args")) ? ctl_str(rep, "args") : "",
		       ctl_num(rep, "pid"), ctl_num(rep, "generation"),
		       *ctl_str(rep, "version") && strcmp(ctl_str(rep, "version"), "-") ?
		       ", version " : "",
		       strcmp(ctl_str(rep, "version"), "-") ? ctl_str(rep, "version") : "",
		       ctl_num(rep, "seconds") * 1000);
	json_decref(rep);
	return EXIT_OK;
}

/* ---- reexec ---------------------------------------------------------------------------- */

/* antctl reexec: antd answers from the new binary (or from the old one,
 * with the reason it goes on). */
static int cmd_reexec(struct ctl *c, const struct command *cmd, const struct args *a)
{
	char path[PATH_MAX];
	json_t *req = json_pack("{s:s}", "cmd", "reexec");
	if (a->exec) {
		if (!realpath(a->exec, path))
			tool_usage_error("antctl reexec", "--exec %s: %s", a->exec, strerror(errno));
		json_object_set_new(req, "exec", json_string(path));
	}
	if (a->up_timeout_ms >= 0)
		json_object_set_new(req, "timeout_ms", json_integer(a->up_timeout_ms));
	long wait = (a->up_timeout_ms >= 0 ? a->up_timeout_ms : 5000) + 15000;
	json_t *rep = ctl_call_wait(c, req, (int)wait);
	int ok = json_is_true(json_object_get(rep, "ok"));
	if (c->json)
		print_raw(c);
	if (!ok) {
		fprintf(stderr, "antctl reexec: %s: %s\n", ctl_str(rep, "outcome"),
			ctl_str(rep, "error"));
		int usage = json_is_true(json_object_get(rep, "usage"));
		json_decref(rep);
		return usage ? EXIT_USAGE : EXIT_FAILED;
	}
	if (!c->json)
		printf("antd re-executed: %s, antd %s, pid %.0f, re-exec %.0f, pause %.2f ms, %.0f "
		       "calls in flight kept\n", ctl_str(rep, "exec"), ctl_str(rep, "version"),
		       ctl_num(rep, "pid"), ctl_num(rep, "reexecs"), ctl_num(rep, "pause_ms"),
		       ctl_num(rep, "calls_in_flight"));
	json_decref(rep);
	(void)cmd;
	return EXIT_OK;
}

/* ---- list ---------------------------------------------------------------------------- */

/* The stacks under the run base (/run/ant): running, dead or stopped. */
static int cmd_list(struct ctl *c, const struct command *cmd, const struct args *a)
{
	char names[256][TOOL_NAME_MAX];
	int n = tool_list_stacks(names, 256);
	if (!n && !c->json) {
		printf("no stack under %s\n", tool_run_base());
		return EXIT_OK;
	}
	json_t *all = json_array();
	if (!c->json)
		printf("%-24s %-8s %s\n", "STACK", "STATE", "RUN FOLDER");
	for (int i = 0; i < n; i++) {
		char dir[PATH_MAX], why[PATH_MAX + 200];
		snprintf(dir, sizeof(dir), "%s/%s", tool_run_base(), names[i]);
		struct ctl_conn conn;
		const char *state = "stopped";
		if (ctl_init(&conn, dir) == 0 && ctl_connect(&conn) == 0) {
			state = "running";
			ctl_close(&conn);
		} else if (tool_stack_dead(dir, why, sizeof(why))) {
			state = "dead";
		}
		if (c->json)
			json_array_append_new(all, json_pack("{s:s, s:s, s:s}", "name", names[i],
							     "state", state, "run_dir", dir));
		else
			printf("%-24s %-8s %s\n", names[i], state, dir);
	}
	if (c->json) {
		char *text = json_dumps(all, JSON_COMPACT);
		if (text)
			printf("%s\n", text);
		free(text);
	}
	json_decref(all);
	return EXIT_OK;
}

/* ---- shutdown ------------------------------------------------------------------------ */

/* Stop the whole stack and wait until antd is done (its antd.pid gone). */
static int cmd_shutdown(struct ctl *c, const struct command *cmd, const struct args *a)
{
	double grace = a->timeout_given ? a->timeout_s : 3.0;
	json_t *rep = ctl_call(c, json_pack("{s:s, s:I}", "cmd", "shutdown", "timeout_ms",
					    (json_int_t)(grace * 1000.0)));
	int ok = reply_ok(rep, "shutdown");
	if (c->json)
		print_raw(c);
	if (!ok) {
		json_decref(rep);
		return EXIT_FAILED;
	}
	char pidfile[PATH_MAX];
	snprintf(pidfile, sizeof(pidfile), "%s/antd.pid", c->run_dir);
	double deadline = mono_s() + grace + 5.0;
	while (access(pidfile, F_OK) == 0 && mono_s() < deadline)
		usleep(20000);
	int done = access(pidfile, F_OK) != 0;
	if (!c->json && done)
		printf("stack %s stopped (antd pid %.0f)\n", ctl_str(rep, "stack"), ctl_num(rep, "pid"));
	else if (!done)
		fprintf(stderr, "antctl: shutdown: antd pid %.0f still running %.1f s later\n",
			ctl_num(rep, "pid"), grace + 5.0);
	json_decref(rep);
	return done ? EXIT_OK : EXIT_FAILED;
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
		snprintf(when, sizeof(when), "%s", ctl_str(ev, "time"));
	}
	const char *server = json_string_value(json_object_get(ev, "server"));
	if (server)
		printf("%s %s %s [%s] %s\n", when, ctl_str(ev, "level"), ctl_str(ev, "event"), server,
		       ctl_str(ev, "msg"));
	else
		printf("%s %s %s %s\n", when, ctl_str(ev, "level"), ctl_str(ev, "event"), ctl_str(ev, "msg"));
}

static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };

static int level_of(const char *name)
{
	for (int i = 0; name && level_names[i]; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

/* Does ev pass log's --server and --level? */
static int keep_event(const json_t *ev, const struct args *a)
{
	const char *server = json_string_value(json_object_get(ev, "server"));
	if (a->only_server && (!server || strcmp(server, a->only_server) != 0))
		return 0;
	const char *event = json_string_value(json_object_get(ev, "event"));
	if (a->only_event && (!event || strcmp(event, a->only_event) != 0))
		return 0;
	if (a->has_since && ctl_event_time(ev) < a->since)
		return 0;
	return level_of(json_string_value(json_object_get(ev, "level"))) >= a->min_level;
}

/* One line of antd.log as an event: a JSON line, or "TIME antd LEVEL EVENT
 * [SERVER] MSG".  NULL if it is neither. */
static json_t *event_of_line(char *line)
{
	line[strcspn(line, "\n")] = '\0';
	if (line[0] == '{')
		return json_loads(line, 0, NULL);
	char when[64], level[16], event[64];
	int n = 0;
	if (sscanf(line, "%63s antd %15s %63s %n", when, level, event, &n) < 3 || !n)
		return NULL;
	const char *rest = line + n, *server = NULL;
	char name[64] = "";
	if (rest[0] == '[' && strchr(rest, ']')) {
		size_t len = (size_t)(strchr(rest, ']') - rest - 1);
		snprintf(name, sizeof(name), "%.*s", (int)len, rest + 1);
		server = name;
		rest = strchr(rest, ']') + 1;
		rest += *rest == ' ';
	}
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", level, "event",
			       event, "msg", rest);
	if (ev && server)
		json_object_set_new(ev, "server", json_string(server));
	return ev;
}

/* antd is not running: the last events of DIR/antd.log, filtered. */
static int log_from_file(struct ctl *c, const struct args *a)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/antd.log", c->run_dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	fprintf(stderr, "antctl: antd is not running; reading %s\n", path);
	json_t *kept = json_array();
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		json_t *ev = event_of_line(line);
		if (ev && keep_event(ev, a))
			json_array_append(kept, ev);
		json_decref(ev);
		while (json_array_size(kept) > (size_t)a->lines)
			json_array_remove(kept, 0);
	}
	fclose(f);
	size_t i;
	json_t *ev;
	json_array_foreach(kept, i, ev)
		print_event(ev, c->json);
	json_decref(kept);
	return 0;
}

static int cmd_log(struct ctl *c, const struct command *cmd, const struct args *a)
{
	if (c->conn.fd < 0) {   /* antd is gone: its log file is still there */
		if (log_from_file(c, a) == 0)
			return EXIT_OK;
		die_unreachable(c, c->unreachable);
	}
	int filtered = a->only_server || a->only_event || a->min_level > 0 || a->has_since;
	json_t *rep = ctl_call(c, json_pack("{s:s, s:I, s:b}", "cmd", "log", "lines",
					    (json_int_t)(filtered ? 1000 : a->lines), "follow",
					    a->follow));
	if (!reply_ok(rep, "log")) {
		if (c->json)
			print_raw(c);
		json_decref(rep);
		return EXIT_FAILED;
	}
	/* The last N events that pass the filters. */
	json_t *kept = json_array();
	size_t i;
	json_t *ev;
	const json_t *events = json_object_get(rep, "events");
	if (a->has_since && json_array_size(events) >= 1000 &&
	    ctl_event_time(json_array_get(events, 0)) > a->since)
		fprintf(stderr, "antctl: antd keeps only its last 1000 events, the oldest from after "
			"--since; all of them are in %s/antd.log\n", c->run_dir);
	json_array_foreach(events, i, ev)
		if (keep_event(ev, a))
			json_array_append(kept, ev);
	while (json_array_size(kept) > (size_t)a->lines)
		json_array_remove(kept, 0);
	json_array_foreach(kept, i, ev)
		print_event(ev, c->json);
	json_decref(kept);
	json_decref(rep);
	if (!a->follow)
		return EXIT_OK;
	/* Following: antd sends {"event": {...}} per new event until we hang up. */
	for (;;) {
		char why[160];
		int r = ctl_recv(&c->conn, -1, &rep, why, sizeof(why));
		if (r == -ECONNRESET) {
			fprintf(stderr, "antctl: antd at %s closed the log stream (stack stopped?)\n",
				c->conn.path);
			return EXIT_OK;
		}
		if (r < 0)
			die_recv(c, r, why);
		ev = json_object_get(rep, "event");
		if (json_is_object(ev)) {
			if (keep_event(ev, a))
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

/* One status within what is left until deadline, connecting first if need
 * be.  Returns 0 with *rep, or < 0 (the connection is then closed and
 * *last_err says why) for another round; exits if antd cannot be reached
 * for good or answers something that is not JSON. */
static int ask_status(struct ctl *c, double deadline, json_t **rep, int *last_err)
{
	/* antd may not be up yet, or may be restarting: keep trying until the deadline. */
	if (c->conn.fd < 0) {
		*last_err = ctl_connect(&c->conn);
		if (*last_err < 0 && *last_err != -ENOENT && *last_err != -ECONNREFUSED)
			die_unreachable(c, *last_err);
		if (*last_err < 0)
			return *last_err;
	}
	json_t *req = json_pack("{s:s}", "cmd", "status");
	double left = deadline - mono_s();
	int ms = left * 1000.0 < REQUEST_TIMEOUT_MS ? (int)(left * 1000.0) + 1 : REQUEST_TIMEOUT_MS;
	char why[160];
	int r = ctl_request(&c->conn, req, ms, rep, why, sizeof(why));
	json_decref(req);
	if (r == -EBADMSG)
		die_recv(c, r, why);
	if (r < 0) {
		/* Gone or silent: reconnect on the next round. */
		ctl_close(&c->conn);
		*last_err = r;
	}
	return r;
}

static int cmd_wait_ready(struct ctl *c, const struct command *cmd, const struct args *a)
{
	double deadline = mono_s() + a->timeout_s;
	int last_err = 0;          /* why the last round failed */
	char *st = NULL;           /* the last status, as antd sent it */
	char pending[1024] = "";
	for (;;) {
		json_t *rep;
		if (ask_status(c, deadline, &rep, &last_err) == 0) {
			if (!reply_ok(rep, "wait-ready: status")) {
				json_decref(rep);
				free(st);
				return EXIT_FAILED;
			}
			free(st);
			st = strdup(c->conn.raw);
			int waiting = ctl_not_running(rep, pending, sizeof(pending));
			json_decref(rep);
			if (!waiting)
				break;
		}
		if (mono_s() >= deadline)
			break;
		double left = deadline - mono_s();
		sleep_ms(left * 1000.0 < WAIT_POLL_MS ? (int)(left * 1000.0) + 1 : WAIT_POLL_MS);
	}
	if (!st) {
		fprintf(stderr, "antctl: wait-ready: no status from antd at %s within %gs: %s%s\n",
			c->conn.path, a->timeout_s, strerror(-last_err), connect_hint(last_err));
		return EXIT_UNREACHABLE;
	}
	if (c->json)
		printf("%s\n", st);
	free(st);
	if (!pending[0])
		return EXIT_OK;
	fprintf(stderr, "antctl: wait-ready: not ready after %gs: %s\n", a->timeout_s, pending);
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
	{ "server", required_argument, NULL, 'S' },
	{ "level", required_argument, NULL, 'L' },
	{ "since", required_argument, NULL, 'T' },
	{ NULL, 0, NULL, 0 },
};
static const struct option wait_opts[] = {
	{ "timeout", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};
static const struct option status_opts[] = {
	{ "watch", no_argument, NULL, 'w' },
	{ "interval", required_argument, NULL, 'i' },
	{ "count", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};
static const struct option no_opts[] = { { NULL, 0, NULL, 0 } };

enum { UP_OPT_EXEC = 1100, UP_OPT_PROBATION, UP_OPT_NO_STATE, UP_OPT_VERIFY, UP_OPT_TIMEOUT };
static const struct option upgrade_opts[] = {
	{ "exec", required_argument, NULL, UP_OPT_EXEC },
	{ "probation", required_argument, NULL, UP_OPT_PROBATION },
	{ "no-state", no_argument, NULL, UP_OPT_NO_STATE },
	{ "verify-state", no_argument, NULL, UP_OPT_VERIFY },
	{ "timeout", required_argument, NULL, UP_OPT_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

static const struct option reexec_opts[] = {
	{ "exec", required_argument, NULL, UP_OPT_EXEC },
	{ "timeout", required_argument, NULL, UP_OPT_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

static void upgrade_option(const char *prog, int ch, const char *v, struct args *a)
{
	switch (ch) {
	case UP_OPT_EXEC:
		a->exec = v;
		break;
	case UP_OPT_PROBATION:
		if (tool_parse_long(v, 0, 3600000, &a->probation_ms) < 0)
			tool_usage_error(prog, "--probation: expected milliseconds from 0 to 3600000, "
					 "got '%s'", v);
		break;
	case UP_OPT_TIMEOUT:
		if (tool_parse_long(v, 1, 3600000, &a->up_timeout_ms) < 0)
			tool_usage_error(prog, "--timeout: expected milliseconds from 1 to 3600000, "
					 "got '%s'", v);
		break;
	case UP_OPT_NO_STATE: a->no_state = 1; break;
	case UP_OPT_VERIFY: a->verify_state = 1; break;
	}
}

enum { INJ_OPT_NTH = 1000, INJ_OPT_PROB, INJ_OPT_AFTER, INJ_OPT_OP, INJ_OPT_COUNT,
       INJ_OPT_SYSCALL, INJ_OPT_SEED, INJ_OPT_VIA, INJ_OPT_POINT, INJ_OPT_LIST, INJ_OPT_CLEAR,
       INJ_OPT_VOCABULARY, INJ_OPT_MATCH, INJ_OPT_FRESH };
static const struct option inject_opts[] = {
	{ "nth", required_argument, NULL, INJ_OPT_NTH },
	{ "prob", required_argument, NULL, INJ_OPT_PROB },
	{ "after", required_argument, NULL, INJ_OPT_AFTER },
	{ "op", required_argument, NULL, INJ_OPT_OP },
	{ "count", required_argument, NULL, INJ_OPT_COUNT },
	{ "syscall", required_argument, NULL, INJ_OPT_SYSCALL },
	{ "seed", required_argument, NULL, INJ_OPT_SEED },
	{ "via", required_argument, NULL, INJ_OPT_VIA },
	{ "point", required_argument, NULL, INJ_OPT_POINT },
	{ "list", no_argument, NULL, INJ_OPT_LIST },
	{ "clear", no_argument, NULL, INJ_OPT_CLEAR },
	{ "vocabulary", no_argument, NULL, INJ_OPT_VOCABULARY },
	{ "match", required_argument, NULL, INJ_OPT_MATCH },
	{ "fresh", no_argument, NULL, INJ_OPT_FRESH },
	{ NULL, 0, NULL, 0 },
};

/* One of inject's options, checked here so that bad input is told before
 * antd is asked (exit 2, nothing armed). */
static void inject_option(const char *prog, int ch, const char *v, struct args *a)
{
	if (!a->inj)
		a->inj = json_object();
	long n;
	switch (ch) {
	case INJ_OPT_NTH:
		if (tool_parse_long(v, 1, 1L << 53, &n) < 0)
			tool_usage_error(prog, "--nth: expected a count from 1, got '%s'", v);
		json_object_set_new(a->inj, "nth", json_integer(n));
		break;
	case INJ_OPT_PROB: {
		char *end;
		errno = 0;
		double p = strtod(v, &end);
		if (errno || end == v || *end || !(p > 0 && p <= 1))
			tool_usage_error(prog, "--prob: expected a probability above 0, at most 1, "
					 "got '%s'", v);
		json_object_set_new(a->inj, "prob", json_real(p));
		break;
	}
	case INJ_OPT_AFTER:
		if (tool_parse_long(v, 0, 86400000, &n) < 0)
			tool_usage_error(prog, "--after: expected milliseconds from 0 to 86400000, "
					 "got '%s'", v);
		json_object_set_new(a->inj, "after_ms", json_integer(n));
		break;
	case INJ_OPT_COUNT:
		if (tool_parse_long(v, 0, 1000000000, &n) < 0)
			tool_usage_error(prog, "--count: expected a count from 0 (0: until cleared), "
					 "got '%s'", v);
		json_object_set_new(a->inj, "count", json_integer(n));
		break;
	case INJ_OPT_SEED:
		if (tool_parse_long(v, 0, 1L << 53, &n) < 0)
			tool_usage_error(prog, "--seed: expected a whole number from 0, got '%s'", v);
		json_object_set_new(a->inj, "seed", json_integer(n));
		break;
	case INJ_OPT_SYSCALL:
		if (fault_syscall_of(v) < 0)
			tool_usage_error(prog, "--syscall: unknown system call '%s'", v);
		json_object_set_new(a->inj, "syscall", json_string(v));
		break;
	case INJ_OPT_VIA:
		if (fault_via_parse(v) < 0)
			tool_usage_error(prog, "--via: expected auto, failpoint, seccomp, bpf or signal, "
					 "got '%s'", v);
		json_object_set_new(a->inj, "via", json_string(v));
		break;
	case INJ_OPT_OP:
		if (!*v || strlen(v) >= ANT_OP_MAX)
			tool_usage_error(prog, "--op: expected an op name of 1 to %u bytes, got '%s'",
					 ANT_OP_MAX - 1, v);
		json_object_set_new(a->inj, "op", json_string(v));
		break;
	case INJ_OPT_POINT:
		if (!*v || strlen(v) >= ANT_FAULT_POINT_MAX || strcmp(v, "now") == 0)
			tool_usage_error(prog, "--point: expected a failpoint name of 1 to %u bytes, "
					 "got '%s'", ANT_FAULT_POINT_MAX - 1, v);
		json_object_set_new(a->inj, "point", json_string(v));
		break;
	case INJ_OPT_MATCH:
		if (!*v || strlen(v) >= 64)
			tool_usage_error(prog, "--match: expected text of 1 to 63 bytes, got '%s'", v);
		json_object_set_new(a->inj, "match", json_string(v));
		break;
	case INJ_OPT_FRESH:
		json_object_set_new(a->inj, "fresh", json_true());
		break;
	case INJ_OPT_LIST: a->inj_mode = INJ_LIST; break;
	case INJ_OPT_CLEAR: a->inj_mode = INJ_CLEAR; break;
	case INJ_OPT_VOCABULARY: a->inj_mode = INJ_VOCABULARY; break;
	}
}

static const struct command commands[] = {
	{ "status", "[SERVER] [-w] [--interval S] [--count N]",
	  "servers: state, restarts, replays, calls, service time, CPU, memory",
	  "Print one line per server: its pid, state (spawning, starting, running,\n"
	  "restarting, failed, stopping, stopped) and for how long, restarts,\n"
	  "replayed calls, control ICAs it holds now (in flight), requests waiting\n"
	  "for it (queued), replies it has sent (served), errors (replies with an\n"
	  "error, and calls antd failed at it), the median and 99th percentile of its\n"
	  "service time over its last 1024 answers, CPU time and resident memory.\n"
	  "With SERVER, everything antd says of that one: its instance, policy,\n"
	  "sandbox, counters, warm spare, and its last ends with their times and\n"
	  "causes (a deadline, an operator's restart, a sandbox violation...).\n"
	  "With --json, antd's status object (of SERVER: its part) as antd sent it.\n"
	  "\n"
	  "  -w, --watch          refresh every S seconds until interrupted, with each\n"
	  "                       server's CPU% since the last refresh; on a terminal\n"
	  "                       the screen is redrawn in place, elsewhere each table\n"
	  "                       follows the last after a line with the time\n"
	  "  --interval S         seconds between refreshes (default 1; from 0.1)\n"
	  "  --count N            stop after N refreshes (default: never)\n",
	  status_opts, "hw", -1, cmd_status },
	{ "metrics", "", "antd's counters in the Prometheus text format",
	  "Print antd's counters as metrics in the Prometheus text exposition format\n"
	  "(0.0.4), for Prometheus or the node exporter's textfile collector: calls\n"
	  "per server and op, errors by code, restarts, replays, failovers, sandbox\n"
	  "violations, calls in flight and queued, data ICAs and their bytes, CPU and\n"
	  "memory, and each server's service time as a histogram\n"
	  "(ant_server_service_seconds).  Every sample has the label stack, and per\n"
	  "server the label server.  The same counters as antctl status --json.\n"
	  "For the textfile collector, write to a temporary file and rename it:\n"
	  "  antctl metrics > DIR/ant.prom.$$ && mv DIR/ant.prom.$$ DIR/ant.prom\n",
	  no_opts, "h", 0, cmd_metrics },
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
	{ "log", "[-f] [-n N] [--server NAME] [--level L] [--since TIME]",
	  "the last supervision events; -f: keep following",
	  "Print antd's last N supervision events (starts, exits, restarts, cut-offs),\n"
	  "one a line: TIME LEVEL EVENT [SERVER] MESSAGE.  With --json, one JSON object\n"
	  "a line.  When antd is not running, the events are read from the run\n"
	  "folder's antd.log (and antctl says so).\n"
	  "\n"
	  "  -n, --lines N        how many past events (default 50; 0 with -f: only new)\n"
	  "  -f, --follow         then print each new event as it happens, until\n"
	  "                       interrupted or antd stops\n"
	  "  --server NAME        only the events of server NAME\n"
	  "  --level L            only events of level L or above (debug, info, warn,\n"
	  "                       error)\n"
	  "  --since TIME         only events at or after TIME: '2026-12-05 13:40[:19]'\n"
	  "                       or with a T, fractions and Z (UTC) as antd writes\n"
	  "                       them; '13:40' (today); '10m ago', '-30s', '2h' (s, m,\n"
	  "                       h, d); 'today', 'yesterday'.  Local time unless Z.\n",
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
	{ "output", "SERVER [-f] [-n N] [--since TIME]", "what SERVER printed on stdout and stderr",
	  "Print the last N lines SERVER wrote to its stdout and stderr (antd logs\n"
	  "them, escaped and rate-limited, as \"output\" events), then with -f each new\n"
	  "one.  Read from antd.log when antd is not running.\n"
	  "\n"
	  "  -n, --lines N        how many past lines (default 50)\n"
	  "  -f, --follow         then print each new line as it comes\n"
	  "  --since TIME         only lines at or after TIME (as for antctl log)\n",
	  log_opts, "hfn:", 1, cmd_output },
	{ "list", "", "the stacks under /run/ant ($ANT_RUN_BASE) and their state",
	  "Print every stack whose run folder is under /run/ant (or $ANT_RUN_BASE):\n"
	  "its name, its state (running: antd answers; dead: antd is gone and left\n"
	  "its files; stopped: it stopped cleanly) and its run folder.\n",
	  no_opts, "h", 0, cmd_list },
	{ "inject", "SERVER FAULT [TRIGGER...] | --list [SERVER] | --clear [SERVER|ID] | --vocabulary",
	  "inject a fault into a server of the running stack",
	  "Arm FAULT in SERVER without restarting anything (antctl inject --vocabulary\n"
	  "lists the faults and how each can get in).  By default it fires once: on the\n"
	  "next request handed to SERVER (by failpoint), or at once (kill, segv and\n"
	  "abort, by signal).  Every arming, firing and clearing is in antctl log\n"
	  "(inject-armed, injected, inject-cleared, with the server's pid).\n"
	  "\n"
	  "  --nth N              on the Nth request handed to SERVER from now (or the\n"
	  "                       Nth hit of --point)\n"
	  "  --prob P             with probability P (0 to 1) per request or hit ...\n"
	  "  --seed S             ... drawn from seed S: the same seed fires at the same\n"
	  "                       requests\n"
	  "  --after MS           not before MS milliseconds from now\n"
	  "  --op OP              only requests of op OP\n"
	  "  --match TEXT         only requests whose parameters contain TEXT\n"
	  "  --fresh              only requests handed over the first time (not antd's\n"
	  "                       replays of them)\n"
	  "  --count K            fire K times, then disarm (default 1; 0: until cleared)\n"
	  "  --point NAME         at the named failpoint NAME of SERVER's code\n"
	  "  --syscall NAME       at system call NAME (--via bpf)\n"
	  "  --via WAY            auto (default), failpoint, seccomp, bpf or signal\n"
	  "  --list               the armed faults (of SERVER), how often each fired\n"
	  "  --clear              disarm every fault, SERVER's, or the one of ID\n"
	  "  --vocabulary         the faults, their arguments and ways in\n"
	  "\n"
	  "Bad input (an unknown fault, server or system call, a trigger the way in\n"
	  "cannot do) exits 2 and arms nothing.\n",
	  inject_opts, "h", -2, cmd_inject },
	{ "upgrade", "SERVER [--exec PATH] [--probation MS] [--no-state] [--verify-state] "
	  "[--timeout MS] [-- ARGS...]", "replace SERVER's program while it serves",
	  "Start the new version of SERVER beside the old one (its program, or PATH,\n"
	  "with its arguments, or ARGS), wait until it is ready, let the old one finish\n"
	  "what it holds while new requests wait in antd, hand its state to the new one,\n"
	  "and switch.  The old version waits, not serving, through the probation: a\n"
	  "crash, hang or sandbox violation of the new one then switches back to it and\n"
	  "replays the request.  antctl waits for the outcome: exit 0 upgraded, 1 refused\n"
	  "or rolled back (the reason on stderr and in --json), 2 bad usage.\n"
	  "\n"
	  "  --exec PATH          the new program (default: the same, e.g. rebuilt)\n"
	  "  --probation MS       how long the old version stays ready (default 1000)\n"
	  "  --no-state           hand no state over\n"
	  "  --verify-state       the new version exports what it imported; antd compares\n"
	  "                       it with the old one's export and refuses on a difference\n"
	  "  --timeout MS         give up unless switched within MS (default 10000)\n"
	  "  -- ARGS...           the new version's arguments (default: the same)\n",
	  upgrade_opts, "h", -3, cmd_upgrade },
	{ "rollback", "SERVER", "go back to SERVER's version before its last upgrade",
	  "Upgrade SERVER back to its program before the last upgrade, with the state\n"
	  "its current version exports, the same way (probation included).\n"
	  "\n"
	  "  --probation MS, --no-state, --verify-state, --timeout MS: as for upgrade\n",
	  upgrade_opts, "h", 1, cmd_upgrade },
	{ "reexec", "[--exec PATH] [--timeout MS]", "antd executes itself again, keeping everything",
	  "antd executes its binary again (or PATH, e.g. a new version of antd) and\n"
	  "hands it its whole state: every server keeps running with the same pid,\n"
	  "every connection stays open, every call in flight is answered once.  antd\n"
	  "first asks PATH which state versions it reads and refuses one that cannot\n"
	  "take over; a new antd that still fails to take over hands back to the one\n"
	  "before, which answers with the reason.  Refused while a server is being\n"
	  "upgraded, while faults are armed, or while antd stops.  antctl waits for the\n"
	  "outcome: exit 0 re-executed, 1 refused or failed (the reason on stderr and\n"
	  "in --json), 2 bad usage.\n"
	  "\n"
	  "  --exec PATH          the antd binary to run (default: the one running now,\n"
	  "                       as its path reads now: a rebuilt or reinstalled one)\n"
	  "  --timeout MS         wait at most MS for a moment when no server process\n"
	  "                       is being started (default 5000)\n",
	  reexec_opts, "h", 0, cmd_reexec },
	{ "shutdown", "[--timeout S]", "stop the whole stack, and antd",
	  "Stop the stack gracefully: antd takes no new calls, fails the calls in\n"
	  "flight with ANT_E_SHUTDOWN, sends every server SIGTERM and, after S seconds\n"
	  "(default 3; fractions allowed), SIGKILL to what is left; then it exits:\n"
	  "status 0, or 3 if a server had to be killed.  antctl waits until antd is\n"
	  "done and exits 0, or 1 if it was still running S + 5 seconds later.\n"
	  "\n"
	  "  --timeout S          the servers' grace time after SIGTERM\n",
	  wait_opts, "h", 0, cmd_shutdown },
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
		char head[512];
		snprintf(head, sizeof(head), "%s %s", cmd->name, cmd->synopsis);
		if (strlen(head) > 25)   /* a long synopsis gets a line of its own */
			fprintf(f, "  %s\n  %-25s %s\n", head, "", cmd->summary);
		else
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

/* Global options up to the command's name; returns its index in argv. */
static int parse_globals(int argc, char **argv, struct globals *g)
{
	static const struct option gopts[] = { GLOBAL_OPTS, { NULL, 0, NULL, 0 } };
	/* "+": stop at the command's name. */
	const struct tool_cli cli = { .prog = "antctl", .opts = gopts, .shortopts = "+:h",
				      .run_dir = &g->run_dir };
	int ch;
	while ((ch = tool_getopt(&cli, argc, argv)) != -1)
		global_option(ch, g);
	return optind;
}

/* The command's own options and the global ones, anywhere after its name
 * (argv[0]); its positional arguments into a. */
static void parse_command(const struct command *cmd, const char *prog, int argc, char **argv,
			  struct globals *g, struct args *a)
{
	struct option opts[NGLOBAL_OPTS + 24] = { GLOBAL_OPTS };
	size_t nopts = NGLOBAL_OPTS;
	for (const struct option *o = cmd->opts; o->name; o++)
		opts[nopts++] = *o;
	char shortopts[16];
	snprintf(shortopts, sizeof(shortopts), ":%s", cmd->shortopts);
	const struct tool_cli cli = { .prog = prog, .opts = opts, .shortopts = shortopts,
				      .run_dir = &g->run_dir };
	int ch;
	optind = 0;   /* glibc: start over, on the command's arguments */
	while ((ch = tool_getopt(&cli, argc, argv)) != -1) {
		if (global_option(ch, g))
			continue;
		switch (ch) {
		case 'f': a->follow = 1; break;
		case 'w': a->watch = 1; break;
		case INJ_OPT_NTH: case INJ_OPT_PROB: case INJ_OPT_AFTER: case INJ_OPT_OP:
		case INJ_OPT_COUNT: case INJ_OPT_SYSCALL: case INJ_OPT_SEED: case INJ_OPT_VIA:
		case INJ_OPT_POINT: case INJ_OPT_LIST: case INJ_OPT_CLEAR: case INJ_OPT_VOCABULARY:
		case INJ_OPT_MATCH: case INJ_OPT_FRESH:
		case UP_OPT_EXEC: case UP_OPT_PROBATION: case UP_OPT_NO_STATE: case UP_OPT_VERIFY:
		case UP_OPT_TIMEOUT:
			if (ch >= UP_OPT_EXEC)
				upgrade_option(prog, ch, optarg, a);
			else
				inject_option(prog, ch, optarg, a);
			break;
		case 'T': {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			if (ctl_parse_since(optarg, (double)now.tv_sec + (double)now.tv_nsec / 1e9,
					    &a->since) < 0)
				tool_usage_error(prog, "--since: expected a time like '2026-12-05 13:40', "
						 "'13:40', '10m ago', '-30s', 'today'; got '%s'", optarg);
			a->has_since = 1;
			break;
		}
		case 'i': {
			char *end;
			errno = 0;
			a->interval_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(a->interval_s >= 0.1 && a->interval_s <= 86400))
				tool_usage_error(prog, "--interval: expected seconds from 0.1 to 86400, got "
						 "'%s'", optarg);
			break;
		}
		case 'c':
			if (tool_parse_long(optarg, 1, 100000000, &a->count) < 0)
				tool_usage_error(prog, "--count: expected a count from 1, got '%s'", optarg);
			break;
		case 'S': a->only_server = optarg; break;
		case 'L':
			if ((a->min_level = level_of(optarg)) < 0)
				tool_usage_error(prog, "--level: expected debug, info, warn or error, "
						 "got '%s'", optarg);
			break;
		case 'n':
			if (tool_parse_long(optarg, 0, 1000000, &a->lines) < 0)
				tool_usage_error(prog, "--lines: expected a count from 0 to 1000000, got '%s'",
						 optarg);
			break;
		case 't': {
			char *end;
			errno = 0;
			a->timeout_s = strtod(optarg, &end);
			a->timeout_given = 1;
			if (errno || end == optarg || *end || !(a->timeout_s >= 0 && a->timeout_s <= 86400))
				tool_usage_error(prog, "--timeout: expected seconds from 0 to 86400, got '%s'",
						 optarg);
			break;
		}
		}
	}
	if (g->help)
		return;
	int npos = argc - optind;
	if (cmd->nargs == -3) {   /* SERVER [-- ARGS...] */
		if (npos < 1)
			tool_usage_error(prog, "expected %s", cmd->synopsis);
		a->server = argv[optind];
		a->rest = argv + optind + 1;
		a->nrest = npos - 1;
		int dashdash = 0;
		for (int i = 1; i < argc; i++)
			dashdash |= strcmp(argv[i], "--") == 0;
		if (!dashdash && a->nrest > 0)
			tool_usage_error(prog, "unexpected argument '%s' (new arguments go after --)",
					 a->rest[0]);
		if (!dashdash)
			a->nrest = -1;   /* the arguments stay as they are */
		return;
	}
	int want = cmd->nargs == -1 ? (npos ? 1 : 0) : cmd->nargs == -2 ? (npos > 2 ? 2 : npos)
								       : cmd->nargs;
	if (npos < want)
		tool_usage_error(prog, "expected %s", cmd->synopsis);
	if (npos > want)
		tool_usage_error(prog, "unexpected argument '%s'", argv[optind + want]);
	if (want)
		a->server = argv[optind];
	if (want > 1)
		a->arg2 = argv[optind + 1];
}

/* "antctl help [COMMAND]" */
static int help(int argc, char **argv)
{
	/* "antctl help --help", "antctl help -h": the general text. */
	int general = argc <= 1 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
	const struct command *cmd = general ? NULL : find_command(argv[1]);
	if (!general && !cmd)
		tool_usage_error("antctl", "help: unknown command '%s'", argv[1]);
	if (cmd)
		command_usage(cmd, stdout);
	else
		usage(stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct globals g = { 0 };
	int at = parse_globals(argc, argv, &g);
	if (at >= argc) {
		if (g.help) {
			usage(stdout);
			return EXIT_OK;
		}
		tool_usage_error("antctl", "expected a command");
	}
	if (strcmp(argv[at], "help") == 0)
		return help(argc - at, argv + at);
	const struct command *cmd = find_command(argv[at]);
	if (!cmd)
		tool_usage_error("antctl", "unknown command '%s'", argv[at]);
	char prog[64];
	snprintf(prog, sizeof(prog), "antctl %s", cmd->name);
	struct args a = { .lines = 50, .timeout_s = 30.0, .interval_s = 1.0, .probation_ms = -1,
			  .up_timeout_ms = -1, .nrest = -1 };
	parse_command(cmd, prog, argc - at, argv + at, &g, &a);
	if (g.help) {
		command_usage(cmd, stdout);
		return EXIT_OK;
	}

	struct ctl c = { .json = g.json };
	if (cmd->run == cmd_list)   /* every stack: no one run folder */
		return cmd_list(&c, cmd, &a);
	if (cmd->run == cmd_inject && a.inj_mode == INJ_VOCABULARY) {
		json_decref(a.inj);
		return inject_vocabulary(&c);   /* needs no stack */
	}
	c.run_dir = tool_run_dir(g.run_dir);
	if (!c.run_dir) {
		char why[1024];
		tool_no_run_dir(why, sizeof(why));
		fprintf(stderr, "antctl: %s\n", why);
		return EXIT_UNREACHABLE;
	}
	if (ctl_init(&c.conn, c.run_dir) < 0) {
		fprintf(stderr, "antctl: %s/control.sock: path too long for a socket (at most %zu bytes)\n",
			c.run_dir, sizeof(c.conn.path) - 1);
		return EXIT_UNREACHABLE;
	}
	/* wait-ready connects itself: antd may not be there yet. */
	if (cmd->run != cmd_wait_ready) {
		int r = ctl_connect(&c.conn);
		if (r < 0 && (cmd->run == cmd_log || cmd->run == cmd_output)) {   /* antd.log instead */
			c.conn.fd = -1;
			c.unreachable = r;
		} else if (r < 0) {
			die_unreachable(&c, r);
		}
	}
	int rc = cmd->run(&c, cmd, &a);
	ctl_close(&c.conn);
	json_decref(a.inj);
	return rc;
}
