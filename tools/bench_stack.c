/* bench_stack.c - ant-bench's private stack: a stack file in a /tmp run folder, antd found next to this program. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* This program's folder (for its siblings), or "." if unknown. */
static const char *self_dir(void)
{
	static char dir[PATH_MAX];
	if (!dir[0]) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = '\0';
		snprintf(dir, sizeof(dir), "%s", n > 0 ? dirname(self) : ".");
	}
	return dir;
}

json_t *bench_relay_chain(long depth, const char *mode, const char *arg)
{
	json_t *servers = json_array();
	for (long i = 1; servers && i <= depth; i++) {
		char name[24], next[24];   /* "relay16" */
		snprintf(name, sizeof(name), "relay%ld", i);
		snprintf(next, sizeof(next), "relay%ld", i + 1);
		json_t *args = json_array();
		if (i < depth) {
			json_array_append_new(args, json_string(next));
			json_array_append_new(args, json_string("--return"));
			json_array_append_new(args, json_string(mode));
		}
		if (arg)
			json_array_append_new(args, json_string(arg));
		json_t *s = json_pack("{s:s, s:s, s:o}", "name", name, "exec", "relay", "args", args);
		if (s && i < depth)
			json_object_set_new(s, "calls", json_pack("[s]", next));
		json_array_append_new(servers, s);
	}
	return servers;
}

json_t *bench_stack_json(const char *name, json_t *servers, const char *app_calls,
			 const struct opts *o)
{
	json_t *root = json_pack("{s:s, s:o, s:{s:[s]}}", "name", name, "servers", servers,
				 "apps", "calls", app_calls);
	if (root && o->cpu >= 0)
		json_object_set_new(root, "cpu_affinity", json_pack("[I]", (json_int_t)o->cpu));
	if (root && o->busy_poll_us > 0)
		json_object_set_new(root, "busy_poll_us", json_integer(o->busy_poll_us));
	if (root && o->fast_path)
		json_object_set_new(root, "fast_path", json_true());
	if (root && o->lane_spin_us)
		json_object_set_new(root, "lane_spin_us", json_integer(o->lane_spin_us));
	return root;
}

int bench_stack_start(struct bench_stack *s, const struct opts *o, const json_t *stack,
		      const char *first)
{
	static char server_path[PATH_MAX], sibling[PATH_MAX];
	if (o->server_path)
		snprintf(server_path, sizeof(server_path), "%s", o->server_path);
	else
		snprintf(server_path, sizeof(server_path), "%s/../servers", self_dir());
	snprintf(sibling, sizeof(sibling), "%s/../supervisor/antd", self_dir());
	s->run = (struct launcher){
		.antd_path = o->antd ? o->antd : access(sibling, X_OK) == 0 ? sibling : "antd",
		.server_path = server_path,
		.start_timeout_ms = START_TIMEOUT_S * 1000,
		.stop_timeout_ms = STOP_TIMEOUT_S * 1000,
		.stop = &bench_interrupted,
	};
	s->conn = NULL;
	s->progress = o->progress;
	char *text = stack ? json_dumps(stack, JSON_INDENT(2)) : NULL;
	int r = text ? 0 : -1;
	if (r < 0)
		fprintf(stderr, "%s: cannot make the stack file\n", PROG);
	if (r == 0 && (launcher_prepare(&s->run, "/tmp/ant-bench.XXXXXX") < 0 ||
		       launcher_write_stack(&s->run, text) < 0)) {
		fprintf(stderr, "%s: %s\n", PROG, s->run.error);
		r = -1;
	}
	free(text);
	if (r == 0) {
		/* antd waits until every server runs: seconds with many of them. */
		struct progress p;
		char what[64];
		size_t n = json_array_size(json_object_get(stack, "servers"));
		snprintf(what, sizeof(what), "starting antd and %zu server%s", n, n == 1 ? "" : "s");
		progress_begin(&p, o->progress, what, NULL, 0);
		r = launcher_start(&s->run) < 0 ? -1 : 0;
		progress_end(&p);
		if (r < 0 && !bench_interrupted) {
			fprintf(stderr, "%s: %s%s\n", PROG, s->run.error,
				s->run.exec_failed && !o->antd ? " (give --antd PATH)" : "");
			bench_stack_show_log(s);
		}
	}
	if (r == 0 && (r = ant_connect(s->run.dir, &s->conn)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, s->run.dir, ant_strerror(r));
		bench_stack_show_log(s);
		return -1;
	}
	if (r == 0 && ant_server_id(s->conn, first) < 0) {
		fprintf(stderr, "%s: the stack in %s has no %s\n", PROG, s->run.dir, first);
		return -1;
	}
	return r;
}

void bench_stack_show_log(struct bench_stack *s)
{
	launcher_show_log(&s->run, stderr, PROG);
}

int bench_stack_end(struct bench_stack *s, int ok)
{
	if (!ok && !bench_interrupted)
		bench_stack_show_log(s);
	if (bench_interrupted)
		fprintf(stderr, "%s: interrupted\n", PROG);
	return bench_stack_stop(s) < 0 ? 0 : ok;
}

int bench_stack_stop(struct bench_stack *s)
{
	int ret = 0;
	ant_close(s->conn);
	s->conn = NULL;
	/* antd gives its servers up to 3 s to end. */
	struct progress p;
	progress_begin(&p, s->run.antd > 0 ? s->progress : PROGRESS_NEVER, "stopping antd", NULL, 0);
	int stopped = launcher_stop(&s->run) == 0;
	progress_end(&p);
	if (!stopped) {
		fprintf(stderr, "%s: %s\n", PROG, s->run.error);
		bench_stack_show_log(s);
		ret = -1;
	}
	if (launcher_remove(&s->run) < 0) {
		fprintf(stderr, "%s: %s\n", PROG, s->run.error);
		ret = -1;
	}
	return ret;
}

int bench_ctl_open(struct ctl_conn *c, const struct bench_stack *s)
{
	int r = ctl_open(c, s->run.dir);
	c->stop = &bench_interrupted;
	if (r < 0)
		fprintf(stderr, "%s: %s: %s\n", PROG, c->path, strerror(-r));
	return r < 0 ? -1 : 0;
}

json_t *bench_ctl_ask(struct ctl_conn *c, json_t *req)
{
	char *text = json_dumps(req, JSON_COMPACT);
	json_t *rep = NULL;
	char why[160] = "";
	int r = ctl_request(c, req, CTL_TIMEOUT_MS, &rep, why, sizeof(why));
	json_decref(req);
	if (r == -ETIMEDOUT)
		fprintf(stderr, "%s: antd did not answer %s within %d ms\n", PROG, text,
			CTL_TIMEOUT_MS);
	else if (r == -EBADMSG)
		fprintf(stderr, "%s: antd answered %s with something that is not JSON: %s\n", PROG,
			text, why);
	else if (r < 0 && !bench_interrupted)
		fprintf(stderr, "%s: control socket: %s\n", PROG,
			r == -ECONNRESET ? "antd closed it" : strerror(-r));
	if (rep && !json_is_true(json_object_get(rep, "ok"))) {
		const char *e = json_string_value(json_object_get(rep, "error"));
		fprintf(stderr, "%s: antd answered %s with %s\n", PROG, text,
			e ? e : "no \"ok\": true");
		json_decref(rep);
		rep = NULL;
	}
	free(text);
	return rep;
}

int bench_antd_loop(const struct bench_stack *s, struct antd_loop *out)
{
	struct ctl_conn c;
	if (bench_ctl_open(&c, s) < 0)
		return -1;
	json_t *st = bench_ctl_ask(&c, json_pack("{s:s}", "cmd", "status"));
	ctl_close(&c);
	json_t *loop = json_object_get(st, "loop");
	if (!json_is_object(loop)) {
		if (st)
			fprintf(stderr, "%s: antd's status has no \"loop\"\n", PROG);
		json_decref(st);
		return -1;
	}
	*out = (struct antd_loop){
		.wakeups = (uint64_t)json_integer_value(json_object_get(loop, "wakeups")),
		.over_1ms = (uint64_t)json_integer_value(json_object_get(loop, "over_1ms")),
		.over_10ms = (uint64_t)json_integer_value(json_object_get(loop, "over_10ms")),
		.busy_max_us = (uint64_t)json_integer_value(json_object_get(loop, "busy_max_us")),
	};
	json_decref(st);
	return 0;
}
