/* control.c - the operator's control socket: one JSON request per message, one JSON reply. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ant-config.h"

#include "antd.h"
#include "control.h"
#include "log.h"
#include "follow.h"
#include "reexec.h"

/* Seconds to the millisecond, so that the JSON carries no float noise. */
static json_t *secs(uint64_t ns)
{
	return json_real((double)(ns / 1000000) / 1000.0);
}

/* CPU time (user + system, s) and resident memory (KiB) of process pid, from
 * /proc; -1 where it cannot be read (gone meanwhile). */
static void proc_usage(pid_t pid, double *cpu_s, long *rss_kb)
{
	char path[64], buf[1024];
	*cpu_s = -1;
	*rss_kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		/* After the name's closing parenthesis: state, then 10 fields, then
		 * utime and stime (fields 14 and 15 of proc(5)), in clock ticks. */
		const char *p = strrchr(buf, ')');
		unsigned long long ut, st;
		if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) == 2)
			*cpu_s = (double)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK)) /
				 1000.0;
	}
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "re");
	if (f) {
		long size, res;
		if (fscanf(f, "%ld %ld", &size, &res) == 2)
			*rss_kb = res * (sysconf(_SC_PAGESIZE) / 1024);
		fclose(f);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The index of the pct-th percentile of n sorted values, by nearest rank. */
static size_t rank(size_t n, unsigned pct)
{
	size_t r = (n * pct + 99) / 100;
	return r ? r - 1 : 0;
}

/* The median and 99th percentile of s's last service times (us). */
static json_t *service_json(const struct server *s)
{
	static uint32_t v[SERVER_SVC_SAMPLES];
	size_t n = s->svc_n < SERVER_SVC_SAMPLES ? (size_t)s->svc_n : SERVER_SVC_SAMPLES;
	if (n == 0)
		return json_pack("{s:i}", "samples", 0);
	memcpy(v, s->svc_us, n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), cmp_u32);
	return json_pack("{s:I, s:I, s:I, s:I}", "samples", (json_int_t)n,
			 "p50_us", (json_int_t)v[rank(n, 50)], "p99_us", (json_int_t)v[rank(n, 99)],
			 "max_us", (json_int_t)v[n - 1]);
}

static json_t *status_json(struct antd *d)
{
	json_t *servers = json_array();
	uint64_t now = mono_ns();
	lanes_sample(d);   /* the lanes' answers in the service times */
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		const struct instance *in = s->cur;
		json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:o, s:o}",
				      "name", s->conf->name, "id", (int)id, "pid", (int)in->pid,
				      "state", server_state_name(s->state),
				      "inflight", (int)(s->held + lanes_held(d, s)),
				      "queued", (int)(s->requests.len + lanes_queued(d, s)),
				      "results_queued",
				      (int)s->results.len, "served", (json_int_t)s->served,
				      "errors", (json_int_t)s->errors, "failed", (json_int_t)s->failed,
				      "uptime_s", secs(in->pid > 0 ? now - in->started_ns : 0),
				      "state_for_s", secs(now - s->state_ns));
		json_object_set_new(o, "service", service_json(s));
		json_object_set_new(o, "metrics", metrics_json(&s->metrics));
		if (in->pid > 0) {
			double cpu;
			long rss;
			proc_usage(in->pid, &cpu, &rss);
			if (cpu >= 0)
				json_object_set_new(o, "cpu_s", json_real(cpu));
			if (rss >= 0)
				json_object_set_new(o, "rss_kb", json_integer(rss));
		}
		/* Which control ICAs it holds right now, as index:generation. */
		json_t *holding = json_array();
		for (uint32_t i = 0; i < d->calls.n; i++) {
			const struct call *c = d->calls.c[i];
			if (c && c->gen && c->state == CALL_HELD && c->at == id)
				json_array_append_new(holding, json_sprintf("%u:%u", c->index, c->gen));
		}
		lanes_holding(d, s, holding);   /* and in its lanes, as lane:slot */
		json_object_set_new(o, "lane_served", json_integer((json_int_t)lanes_served(d, s)));
		json_object_set_new(o, "lane_errors", json_integer((json_int_t)lanes_failed(d, s)));
		json_object_set_new(o, "holding", holding);
		json_object_set_new(o, "restarts", json_integer((json_int_t)s->restarts));
		json_object_set_new(o, "replays", json_integer((json_int_t)s->replays));
		json_object_set_new(o, "failovers", json_integer((json_int_t)s->failovers));
		json_object_set_new(o, "probation", json_integer((json_int_t)s->probation));
		json_object_set_new(o, "policy", json_string(s->conf->policy.name));
		json_object_set_new(o, "sandbox", json_pack("{s:s, s:i, s:s, s:I}",
			"policy", s->conf->sandbox.name,
			"syscalls_allowed", (int)sandbox_size(&s->conf->sandbox),
			"action", s->conf->sandbox.action == SANDBOX_KILL ? "kill" :
				  s->conf->sandbox.action == SANDBOX_LOG ? "log" : "errno",
			"violations", (json_int_t)s->violations));
		if (s->violation[0])
			json_object_set_new(o, "last_violation", json_string(s->violation));
		if (instance_alive(s->spare)) {
			json_object_set_new(o, "standby_pid", json_integer(s->spare->pid));
			/* One being retired (an upgrade's old version) is no standby. */
			json_object_set_new(o, "standby_ready",
					    json_boolean(s->spare->phase == INST_READY &&
							 !s->spare->retiring));
		}
		if (ev_is_active(&s->retry_timer))
			json_object_set_new(o, "retry_in_s",
					    json_real(ev_timer_remaining(d->loop, &s->retry_timer)));
		if (s->give_ups)
			json_object_set_new(o, "give_ups", json_integer(s->give_ups));
		json_t *exits = json_array();
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		double nowr = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
		for (unsigned k = 0; k < s->exits_n && k < SERVER_EXITS; k++) {
			const struct exit_rec *r = &s->exits[(s->exits_n - 1 - k) % SERVER_EXITS];
			json_array_append_new(exits, json_pack("{s:I, s:I, s:s, s:s}",
				"time", (json_int_t)r->when, "ago_s", (json_int_t)(nowr - r->when),
				"how", r->how, "cause", r->cause));
		}
		json_object_set_new(o, "exits", exits);
		json_object_set_new(o, "instance", json_integer(in->gen));
		json_object_set_new(o, "exec", json_string(exec_spec_path(in->pid > 0 ? &in->exec : &s->exec)));
		json_object_set_new(o, "version", in->version[0] ? json_string(in->version) : json_null());
		json_object_set_new(o, "generation", json_integer(s->generation));
		json_object_set_new(o, "credit", json_integer(in->want));   /* items it asked for */
		if (upgrade_phase_name(s))
			json_object_set_new(o, "upgrade", json_string(upgrade_phase_name(s)));
		if (o && s->last_exit[0])
			json_object_set_new(o, "last_exit", json_string(s->last_exit));
		json_array_append_new(servers, o);
	}
	const struct loop_stats *ls = &d->loop_stats;
	json_t *st = json_pack("{s:s, s:i, s:s, s:o, s:{s:i, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:i, s:I}, "
			 "s:{s:I, s:I, s:I, s:I}, s:{s:i, s:i}}",
			 "stack", d->stack->name, "pid", (int)getpid(), "run_dir", d->run_dir,
			 "servers", servers,
			 "icas", "live", (int)ica_live_count(&d->icas),
			 "live_bytes", (json_int_t)d->icas.live_bytes,
			 "pooled_bytes", (json_int_t)d->icas.pooled_bytes,
			 "created", (json_int_t)d->icas.created,
			 "recycled", (json_int_t)d->icas.recycled,
			 "stocked", (json_int_t)d->icas.stocked,
			 "stock_bytes", (json_int_t)d->icas.stock_bytes,
			 "calls", "in_flight", (int)d->calls.live,
			 "total", (json_int_t)d->calls_total,
			 "loop", "wakeups", (json_int_t)ls->wakeups,
			 "busy_max_us", (json_int_t)(ls->busy_max_ns / 1000),
			 "over_1ms", (json_int_t)ls->over_1ms, "over_10ms", (json_int_t)ls->over_10ms,
			 "forker", "pid", (int)d->forker.pid, "restarts", (int)d->forker.restarts);
	/* The fast path (docs/fastpath.md): on or off (and why), its app lanes, the
	 * lane calls antd took over (ADOPT, deaths, closed lanes). */
	if (st) {
		json_object_set_new(st, "fast_path", json_pack("{s:b, s:s?, s:i, s:i, s:I}", "on",
			d->lanes.on, "off_why", d->lanes.off_why[0] ? d->lanes.off_why : NULL,
			"app_lanes", (int)lanes_pairs(d, 0), "server_lanes", (int)lanes_pairs(d, 1),
			"adopted", (json_int_t)d->lanes.adopted));
	}
	/* antd itself: its version, and how often it re-executed (antctl reexec) */
	if (st)
		json_object_set_new(st, "antd", json_pack("{s:s, s:i, s:f}", "version", ANT_VERSION,
							  "reexecs", (int)d->reexecs,
							  "started", d->started_wall));
	return st;
}

static void reply(struct peer *p, json_t *o) { peer_send_json(p, o); }

static struct server *find_server(struct antd *d, json_t *req, struct peer *p)
{
	const char *name = json_string_value(json_object_get(req, "server"));
	struct server *s = server_named(d, name);
	if (s)
		return s;
	if (name)
		reply(p, json_pack("{s:b, s:s++}", "ok", 0, "error", "unknown server \"", name, "\""));
	else
		reply(p, json_pack("{s:b, s:s}", "ok", 0, "error", "missing \"server\": the server's name"));
	return NULL;
}

/* ---- the commands: one function each, one table -------------------------- */

static void cmd_status(struct peer *p, json_t *req)
{
	json_t *st = status_json(p->d);
	json_object_set_new(st, "ok", json_true());
	reply(p, st);
}

/* restart, stop, start: an operator event for one server. */
static void cmd_server_op(struct peer *p, json_t *req, const char *cmd, enum sv_event ev)
{
	struct server *s = find_server(p->d, req, p);
	if (!s)
		return;
	char why[256] = "";
	struct sv_detail dt = { .reply = why, .replylen = sizeof(why) };
	if (supervise_event(p->d, s, NULL, ev, &dt) < 0)
		reply(p, json_pack("{s:b, s:s}", "ok", 0, "error", why));
	else
		reply(p, json_pack("{s:b, s:s, s:s}", "ok", 1, "server", s->conf->name,
				   "requested", cmd));
}

static void cmd_restart(struct peer *p, json_t *req) { cmd_server_op(p, req, "restart", EV_OP_RESTART); }
static void cmd_stop(struct peer *p, json_t *req) { cmd_server_op(p, req, "stop", EV_OP_STOP); }
static void cmd_start(struct peer *p, json_t *req) { cmd_server_op(p, req, "start", EV_OP_START); }

static void cmd_log(struct peer *p, json_t *req)
{
	json_t *n = json_object_get(req, "lines");
	json_int_t lines = json_is_integer(n) ? json_integer_value(n) : 50;
	int want_follow = json_is_true(json_object_get(req, "follow"));
	if (lines < 0 || lines > LOG_RING) {
		reply(p, json_pack("{s:b, s:s}", "ok", 0, "error", "lines: 0 to 1000"));
		return;
	}
	if (want_follow && follow_add(p) < 0) {
		reply(p, json_pack("{s:b, s:s}", "ok", 0, "error", "too many followers"));
		return;
	}
	/* One SEQPACKET message holds the reply: drop the oldest events until
	 * it fits comfortably in a socket buffer. */
	json_t *ev = log_recent((unsigned)lines);
	char *text;
	while ((text = json_dumps(ev, JSON_COMPACT)) && strlen(text) > 150000 &&
	       json_array_size(ev) > 0) {
		free(text);
		json_array_remove(ev, 0);
	}
	free(text);
	reply(p, json_pack("{s:b, s:o}", "ok", 1, "events", ev));
}

/* Stop the whole stack, gracefully: no new calls, calls in flight fail
 * with ANT_E_SHUTDOWN, servers get SIGTERM and timeout_ms (default 3000)
 * before SIGKILL.  Answered first; antd then exits (status 0, or 3 if a
 * server had to be killed). */
static void cmd_shutdown(struct peer *p, json_t *req)
{
	struct antd *d = p->d;
	json_t *t = json_object_get(req, "timeout_ms");
	if (t && (!json_is_integer(t) || json_integer_value(t) < 0 ||
		  json_integer_value(t) > 600000)) {
		reply(p, json_pack("{s:b, s:s}", "ok", 0, "error",
				   "timeout_ms: an integer from 0 to 600000"));
		return;
	}
	if (t)
		d->stop_grace_s = (double)json_integer_value(t) / 1000.0;
	reply(p, json_pack("{s:b, s:s, s:i}", "ok", 1, "stack", d->stack->name, "pid",
			   (int)getpid()));
	d->hooks.stop(d, "shutdown asked by the operator");
}

static void cmd_inject(struct peer *p, json_t *req) { reply(p, inject_cmd_arm(p->d, req)); }
static void cmd_inject_list(struct peer *p, json_t *req) { reply(p, inject_cmd_list(p->d, req)); }
static void cmd_inject_clear(struct peer *p, json_t *req) { reply(p, inject_cmd_clear(p->d, req)); }

static void cmd_upgrade_op(struct peer *p, json_t *req, int rollback)
{
	json_t *r = upgrade_cmd(p->d, req, p, rollback);
	if (r)
		reply(p, r);   /* else the outcome comes when the upgrade ends */
}
static void cmd_upgrade(struct peer *p, json_t *req) { cmd_upgrade_op(p, req, 0); }
static void cmd_rollback(struct peer *p, json_t *req) { cmd_upgrade_op(p, req, 1); }

static void cmd_reexec(struct peer *p, json_t *req)
{
	json_t *r = reexec_cmd(p->d, req, p);
	if (r)
		reply(p, r);   /* else the new antd answers */
}

static void cmd_ping(struct peer *p, json_t *req)
{
	reply(p, json_pack("{s:b}", "ok", 1));
}

static const struct command {
	const char *name;
	void (*run)(struct peer *p, json_t *req);
} commands[] = {
	{ "status", cmd_status },
	{ "restart", cmd_restart },
	{ "stop", cmd_stop },
	{ "start", cmd_start },
	{ "log", cmd_log },
	{ "ping", cmd_ping },
	{ "shutdown", cmd_shutdown },
	{ "inject", cmd_inject },
	{ "inject-list", cmd_inject_list },
	{ "inject-clear", cmd_inject_clear },
	{ "upgrade", cmd_upgrade },
	{ "rollback", cmd_rollback },
	{ "reexec", cmd_reexec },
};

void control_on_message(struct peer *p, unsigned char *req, size_t len, int fd)
{
	json_error_t jerr;
	json_t *o = json_loadb((const char *)req, len, 0, &jerr);
	const char *cmd = NULL;
	if (!o || json_unpack(o, "{s:s}", "cmd", &cmd) < 0) {
		reply(p, json_pack("{s:b, s:s}", "ok", 0, "error",
				   "bad request: expected {\"cmd\": \"...\"}"));
		json_decref(o);
		return;
	}
	size_t i;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			break;
	if (i < sizeof(commands) / sizeof(commands[0]))
		commands[i].run(p, o);
	else
		reply(p, json_pack("{s:b, s:s+}", "ok", 0, "error", "unknown command: ", cmd));
	json_decref(o);
}
