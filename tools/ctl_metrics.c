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

/* One family with one sample per server, from the server's key (scaled). */
static void per_server(FILE *f, const char *stack, const json_t *servers, const char *name,
		       const char *type, const char *help, const char *key, double scale)
{
	family(f, name, type, help);
	size_t i;
	json_t *s;
	json_array_foreach(servers, i, s) {
		const json_t *v = json_object_get(s, key);
		if (json_is_number(v))
			sample(f, name, stack, json_string_value(json_object_get(s, "name")), NULL, NULL,
			       json_number_value(v) * scale);
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
	const json_t *calls = json_object_get(st, "calls"), *icas = json_object_get(st, "icas");
	const json_t *loop = json_object_get(st, "loop"), *antd = json_object_get(st, "antd");

	family(f, "ant_calls_total", "counter", "Calls antd took from applications and servers.");
	sample(f, "ant_calls_total", stack, NULL, NULL, NULL, num(calls, "total"));
	family(f, "ant_calls_in_flight", "gauge", "Calls antd holds now (queued, held or on their way).");
	sample(f, "ant_calls_in_flight", stack, NULL, NULL, NULL, num(calls, "in_flight"));
	family(f, "ant_icas", "gauge", "Data ICAs alive now.");
	sample(f, "ant_icas", stack, NULL, NULL, NULL, num(icas, "live"));
	family(f, "ant_ica_bytes", "gauge", "Bytes of the data ICAs alive now.");
	sample(f, "ant_ica_bytes", stack, NULL, NULL, NULL, num(icas, "live_bytes"));
	family(f, "ant_ica_pooled_bytes", "gauge", "Bytes of data ICAs kept for reuse.");
	sample(f, "ant_ica_pooled_bytes", stack, NULL, NULL, NULL, num(icas, "pooled_bytes"));
	family(f, "ant_antd_wakeups_total", "counter", "Times antd's event loop woke up.");
	sample(f, "ant_antd_wakeups_total", stack, NULL, NULL, NULL, num(loop, "wakeups"));
	family(f, "ant_antd_reexecs_total", "counter", "Times antd executed itself again (antctl reexec).");
	sample(f, "ant_antd_reexecs_total", stack, NULL, NULL, NULL, num(antd, "reexecs"));

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
	per_server(f, stack, servers, "ant_server_answered_total", "counter",
		   "Answers a server sent through antd (all ops).", "served", 1);
	per_server(f, stack, servers, "ant_server_lane_answered_total", "counter",
		   "Answers a server sent in the fast path's lanes, past antd.", "lane_served", 1);
	per_server(f, stack, servers, "ant_server_failed_calls_total", "counter",
		   "Calls antd ended with an error at a server (not replayed, poison, refused).",
		   "failed", 1);
	per_server(f, stack, servers, "ant_server_restarts_total", "counter",
		   "Times antd started a server again.", "restarts", 1);
	per_server(f, stack, servers, "ant_server_replays_total", "counter",
		   "Calls handed to a server again after an instance died holding them.", "replays", 1);
	per_server(f, stack, servers, "ant_server_failovers_total", "counter",
		   "Times a warm spare took over from a server's instance.", "failovers", 1);
	family(f, "ant_server_sandbox_violations_total", "counter",
	       "System calls outside a server's sandbox.");
	json_array_foreach(servers, i, s) {
		const json_t *v = json_object_get(json_object_get(s, "sandbox"), "violations");
		if (json_is_number(v))
			sample(f, "ant_server_sandbox_violations_total", stack,
			       json_string_value(json_object_get(s, "name")), NULL, NULL,
			       json_number_value(v));
	}
	per_server(f, stack, servers, "ant_server_calls_in_flight", "gauge",
		   "Calls a server holds now.", "inflight", 1);
	per_server(f, stack, servers, "ant_server_calls_queued", "gauge",
		   "Calls waiting for a server.", "queued", 1);
	per_server(f, stack, servers, "ant_server_cpu_seconds_total", "counter",
		   "CPU time of a server's serving instance (starts at 0 with each instance).",
		   "cpu_s", 1);
	per_server(f, stack, servers, "ant_server_resident_bytes", "gauge",
		   "Resident memory of a server's serving instance.", "rss_kb", 1024);
	histograms(f, stack, servers);
	return 0;
}
