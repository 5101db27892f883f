/* ctl_metrics.c - antd's status as metrics in the Prometheus text exposition format. */
#include <string.h>

#include "ctl_metrics.h"

/* A label value, escaped as the format asks (backslash, quote, newline). */
static void put_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{stack="S"[,server="V"][,K="X"]} value */
static void sample(FILE *f, const char *name, const char *stack, const char *server,
		   const char *key, const char *val, double value)
{
	fprintf(f, "%s{stack=\"", name);
	put_value(f, stack);
	if (server) {
		fputs("\",server=\"", f);
		put_value(f, server);
	}
	if (key) {
		fprintf(f, "\",%s=\"", key);
		put_value(f, val);
	}
	fprintf(f, "\"} %.15g\n", value);
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* A family with one sample per server: the server's key (in its object obj,
 * if not NULL), times scale. */
struct per_server_family {
	const char *name, *type, *help, *obj, *key;
	double scale;
};

static void per_server(FILE *f, const char *stack, const json_t *servers,
		       const struct per_server_family *fam)
{
	family(f, fam->name, fam->type, fam->help);
	size_t i;
	json_t *s;
	json_array_foreach(servers, i, s) {
		const json_t *in = fam->obj ? json_object_get(s, fam->obj) : s;
		const json_t *v = json_object_get(in, fam->key);
		if (json_is_number(v))
			sample(f, fam->name, stack, json_string_value(json_object_get(s, "name")), NULL,
			       NULL, json_number_value(v) * fam->scale);
	}
}

static void histograms(FILE *f, const char *stack, const json_t *servers)
{
	const char *name = "ant_server_service_seconds";
	family(f, name, "histogram", "Time a server took with a request or a RETURN, from being "
	       "handed it to answering or forwarding it.");
	size_t i;
	json_t *s;
	json_array_foreach(servers, i, s) {
		const char *srv = json_string_value(json_object_get(s, "name"));
		const json_t *h = json_object_get(json_object_get(s, "metrics"), "service_us");
		const json_t *le = json_object_get(h, "le"), *counts = json_object_get(h, "counts");
		if (!json_is_array(le) || !json_is_array(counts) ||
		    json_array_size(counts) != json_array_size(le) + 1)
			continue;
		double cum = 0;
		for (size_t b = 0; b < json_array_size(counts); b++) {
			char bound[32];
			cum += json_number_value(json_array_get(counts, b));
			if (b < json_array_size(le))
				snprintf(bound, sizeof(bound), "%.15g",
					 json_number_value(json_array_get(le, b)) / 1e6);
			else
				snprintf(bound, sizeof(bound), "+Inf");
			fprintf(f, "%s_bucket{stack=\"", name);
			put_value(f, stack);
			fputs("\",server=\"", f);
			put_value(f, srv);
			fprintf(f, "\",le=\"%s\"} %.15g\n", bound, cum);
		}
		sample(f, "ant_server_service_seconds_sum", stack, srv, NULL, NULL, num(h, "sum") / 1e6);
		sample(f, "ant_server_service_seconds_count", stack, srv, NULL, NULL, num(h, "count"));
	}
}

/* A family labelled by server and one more key, from an object per server. */
static void by_key(FILE *f, const char *stack, const json_t *servers, const char *name,
		   const char *help, const char *obj, const char *label, const char *field)
{
	family(f, name, "counter", help);
	size_t i;
	json_t *s;
	json_array_foreach(servers, i, s) {
		const char *srv = json_string_value(json_object_get(s, "name"));
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(json_object_get(s, "metrics"), obj), k, v)
			sample(f, name, stack, srv, label, k,
			       field ? num(v, field) : json_number_value(v));
	}
}

int metrics_print(FILE *f, const json_t *st)
{
	const char *stack = json_string_value(json_object_get(st, "stack"));
	const json_t *servers = json_object_get(st, "servers");
	if (!stack || !json_is_array(servers))
		return -1;
	/* The stack's own: name, type, help, and where in the status it is. */
	static const struct {
		const char *name, *type, *help, *obj, *key;
	} stack_wide[] = {
		{ "ant_calls_total", "counter", "Calls antd took from applications and servers.",
		  "calls", "total" },
		{ "ant_calls_in_flight", "gauge", "Calls antd holds now (queued, held or on their way).",
		  "calls", "in_flight" },
		{ "ant_icas", "gauge", "Data ICAs alive now.", "icas", "live" },
		{ "ant_ica_bytes", "gauge", "Bytes of the data ICAs alive now.", "icas", "live_bytes" },
		{ "ant_ica_pooled_bytes", "gauge", "Bytes of data ICAs kept for reuse.", "icas",
		  "pooled_bytes" },
		{ "ant_antd_wakeups_total", "counter", "Times antd's event loop woke up.", "loop",
		  "wakeups" },
		{ "ant_antd_reexecs_total", "counter", "Times antd executed itself again (antctl reexec).",
		  "antd", "reexecs" },
	};
	for (size_t k = 0; k < sizeof(stack_wide) / sizeof(stack_wide[0]); k++) {
		family(f, stack_wide[k].name, stack_wide[k].type, stack_wide[k].help);
		sample(f, stack_wide[k].name, stack, NULL, NULL, NULL,
		       num(json_object_get(st, stack_wide[k].obj), stack_wide[k].key));
	}

	family(f, "ant_server_up", "gauge", "1 if the server is running (ready for calls), else 0.");
	size_t i;
	json_t *s;
	json_array_foreach(servers, i, s) {
		const char *state = json_string_value(json_object_get(s, "state"));
		sample(f, "ant_server_up", stack, json_string_value(json_object_get(s, "name")), NULL,
		       NULL, state && strcmp(state, "running") == 0);
	}
	by_key(f, stack, servers, "ant_server_calls_total",
	       "Calls a server answered through antd, by op.", "ops", "op", "answered");
	by_key(f, stack, servers, "ant_server_call_errors_total",
	       "Answers through antd with an error, by error code.", "error_codes", "code", NULL);
	static const struct per_server_family each[] = {
		{ "ant_server_answered_total", "counter",
		  "Answers a server sent through antd (all ops).", NULL, "served", 1 },
		{ "ant_server_lane_answered_total", "counter",
		  "Answers a server sent in the fast path's lanes, past antd.", NULL, "lane_served", 1 },
		{ "ant_server_failed_calls_total", "counter",
		  "Calls antd ended with an error at a server (not replayed, poison, refused).", NULL,
		  "failed", 1 },
		{ "ant_server_restarts_total", "counter", "Times antd started a server again.", NULL,
		  "restarts", 1 },
		{ "ant_server_replays_total", "counter",
		  "Calls handed to a server again after an instance died holding them.", NULL,
		  "replays", 1 },
		{ "ant_server_failovers_total", "counter",
		  "Times a warm spare took over from a server's instance.", NULL, "failovers", 1 },
		{ "ant_server_sandbox_violations_total", "counter",
		  "System calls outside a server's sandbox.", "sandbox", "violations", 1 },
		{ "ant_server_calls_in_flight", "gauge", "Calls a server holds now.", NULL, "inflight", 1 },
		{ "ant_server_calls_queued", "gauge", "Calls waiting for a server.", NULL, "queued", 1 },
		{ "ant_server_cpu_seconds_total", "counter",
		  "CPU time of a server's serving instance (starts at 0 with each instance).", NULL,
		  "cpu_s", 1 },
		{ "ant_server_resident_bytes", "gauge",
		  "Resident memory of a server's serving instance.", NULL, "rss_kb", 1024 },
	};
	for (size_t k = 0; k < sizeof(each) / sizeof(each[0]); k++)
		per_server(f, stack, servers, &each[k]);
	histograms(f, stack, servers);
	return 0;
}
