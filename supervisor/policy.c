/* policy.c - a server's supervision policy: restart, intensity, backoff, strategy, replay, deadlines. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"

void policy_defaults(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "default");
	p->restart = RESTART_PERMANENT;
	p->max_restarts = 10;
	p->period_s = 10;
	p->on_give_up = GIVE_UP_FAIL_CALLS;
	p->backoff_initial_ms = 0;
	p->backoff_base_ms = 10;
	p->backoff_cap_ms = 1000;
	p->backoff_jitter = 0.1;
	p->strategy = STRATEGY_ONE_FOR_ONE;
	p->replay = REPLAY_ALWAYS;
	p->poison_kills = 3;
	p->deadline_ms = 10000;
	p->io_deadline_ms = 60000;
	p->ready_timeout_ms = 5000;
	p->standby = 0;
}

static const char *const restart_names[] = { "permanent", "transient", "temporary", NULL };
static const char *const give_up_names[] = { "fail_calls", "stop_stack", NULL };
static const char *const strategy_names[] = { "one_for_one", "rest_for_one", "one_for_all", NULL };
static const char *const replay_names[] = { "always", "idempotent", "never", NULL };

const char *policy_restart_name(enum restart_type t) { return restart_names[t]; }
const char *policy_strategy_name(enum restart_strategy s) { return strategy_names[s]; }
const char *policy_replay_name(enum replay_mode m) { return replay_names[m]; }

struct ctx {
	const char *file, *prefix;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail(const struct ctx *c, const char *key, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s%s%s: %s", c->file, c->prefix,
		 c->prefix[0] && key[0] ? "." : "", key[0] || c->prefix[0] ? key : "(root)", what);
	return -1;
}

static int get_enum(const struct ctx *c, const char *key, json_t *v, const char *const *names,
		    int *out)
{
	if (json_is_string(v)) {
		for (int i = 0; names[i]; i++) {
			if (strcmp(json_string_value(v), names[i]) == 0) {
				*out = i;
				return 0;
			}
		}
	}
	char list[128] = "";
	for (int i = 0; names[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 names[i]);
	return fail(c, key, "must be one of %s", list);
}

static int get_uint(const struct ctx *c, const char *key, json_t *v, unsigned min, unsigned max,
		    unsigned *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(c, key, "must be an integer from %u to %u", min, max);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static int get_real(const struct ctx *c, const char *key, json_t *v, double min, double max,
		    double *out)
{
	if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
		return fail(c, key, "must be a number from %g to %g", min, max);
	*out = json_number_value(v);
	return 0;
}

static int get_ops(const struct ctx *c, const char *key, json_t *v,
		   char ops[POLICY_OPS_MAX][ANT_OP_MAX], unsigned *n)
{
	if (!json_is_array(v) || json_array_size(v) > POLICY_OPS_MAX)
		return fail(c, key, "must be an array of at most %u op names", POLICY_OPS_MAX);
	size_t i;
	json_t *o;
	json_array_foreach(v, i, o) {
		if (!json_is_string(o) || !json_string_length(o) ||
		    json_string_length(o) >= ANT_OP_MAX) {
			char k[64];
			snprintf(k, sizeof(k), "%s[%zu]", key, i);
			return fail(c, k, "must be an op name of 1 to %u bytes", ANT_OP_MAX - 1);
		}
		snprintf(ops[i], ANT_OP_MAX, "%s", json_string_value(o));
	}
	*n = (unsigned)json_array_size(v);
	return 0;
}

static int check_keys(const struct ctx *c, const char *where, json_t *obj,
		      const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		int ok = 0;
		for (int i = 0; keys[i] && !ok; i++)
			ok = strcmp(keys[i], k) == 0;
		if (!ok)
			return fail(c, where, "unknown key \"%.40s\"", k);
	}
	return 0;
}

int policy_apply(struct policy *p, json_t *obj, const char *file, const char *prefix,
		 char *err, size_t errlen)
{
	static const char *const keys[] = {
		"description", "restart", "intensity", "on_give_up", "backoff", "strategy",
		"replay", "idempotent_ops", "never_replay_ops", "poison_kills", "deadline_ms",
		"io_deadline_ms", "ready_timeout_ms", "standby", NULL
	};
	struct ctx c = { file, prefix ? prefix : "", err, errlen };
	if (!json_is_object(obj))
		return fail(&c, "", "must be an object");
	if (check_keys(&c, "", obj, keys) < 0)
		return -1;
	json_t *v;
	int e;
	if ((v = json_object_get(obj, "description")) && !json_is_string(v))
		return fail(&c, "description", "must be a string");
	if ((v = json_object_get(obj, "restart"))) {
		if (get_enum(&c, "restart", v, restart_names, &e) < 0)
			return -1;
		p->restart = (enum restart_type)e;
	}
	if ((v = json_object_get(obj, "intensity"))) {
		static const char *const ik[] = { "max_restarts", "period_s", NULL };
		if (!json_is_object(v))
			return fail(&c, "intensity", "must be an object");
		if (check_keys(&c, "intensity", v, ik) < 0)
			return -1;
		json_t *f;
		if ((f = json_object_get(v, "max_restarts")) &&
		    get_uint(&c, "intensity.max_restarts", f, 0, 1000, &p->max_restarts) < 0)
			return -1;
		if ((f = json_object_get(v, "period_s")) &&
		    get_real(&c, "intensity.period_s", f, 0.001, 86400, &p->period_s) < 0)
			return -1;
	}
	if ((v = json_object_get(obj, "on_give_up"))) {
		if (get_enum(&c, "on_give_up", v, give_up_names, &e) < 0)
			return -1;
		p->on_give_up = (enum give_up_action)e;
	}
	if ((v = json_object_get(obj, "backoff"))) {
		static const char *const bk[] = { "initial_ms", "base_ms", "cap_ms", "jitter", NULL };
		if (!json_is_object(v))
			return fail(&c, "backoff", "must be an object");
		if (check_keys(&c, "backoff", v, bk) < 0)
			return -1;
		json_t *f;
		if ((f = json_object_get(v, "initial_ms")) &&
		    get_uint(&c, "backoff.initial_ms", f, 0, 3600000, &p->backoff_initial_ms) < 0)
			return -1;
		if ((f = json_object_get(v, "base_ms")) &&
		    get_uint(&c, "backoff.base_ms", f, 0, 3600000, &p->backoff_base_ms) < 0)
			return -1;
		if ((f = json_object_get(v, "cap_ms")) &&
		    get_uint(&c, "backoff.cap_ms", f, 0, 3600000, &p->backoff_cap_ms) < 0)
			return -1;
		if ((f = json_object_get(v, "jitter")) &&
		    get_real(&c, "backoff.jitter", f, 0, 1, &p->backoff_jitter) < 0)
			return -1;
	}
	if ((v = json_object_get(obj, "strategy"))) {
		if (get_enum(&c, "strategy", v, strategy_names, &e) < 0)
			return -1;
		p->strategy = (enum restart_strategy)e;
	}
	if ((v = json_object_get(obj, "replay"))) {
		if (get_enum(&c, "replay", v, replay_names, &e) < 0)
			return -1;
		p->replay = (enum replay_mode)e;
	}
	if ((v = json_object_get(obj, "idempotent_ops")) &&
	    get_ops(&c, "idempotent_ops", v, p->idempotent_ops, &p->nidempotent) < 0)
		return -1;
	if ((v = json_object_get(obj, "never_replay_ops")) &&
	    get_ops(&c, "never_replay_ops", v, p->never_ops, &p->nnever) < 0)
		return -1;
	if ((v = json_object_get(obj, "poison_kills")) &&
	    get_uint(&c, "poison_kills", v, 1, 1000, &p->poison_kills) < 0)
		return -1;
	if ((v = json_object_get(obj, "deadline_ms")) &&
	    get_uint(&c, "deadline_ms", v, 0, 86400000, &p->deadline_ms) < 0)
		return -1;
	if ((v = json_object_get(obj, "io_deadline_ms")) &&
	    get_uint(&c, "io_deadline_ms", v, 0, 86400000, &p->io_deadline_ms) < 0)
		return -1;
	if ((v = json_object_get(obj, "ready_timeout_ms")) &&
	    get_uint(&c, "ready_timeout_ms", v, 1, 3600000, &p->ready_timeout_ms) < 0)
		return -1;
	if ((v = json_object_get(obj, "standby")) &&
	    get_uint(&c, "standby", v, 0, 1, &p->standby) < 0)
		return -1;
	return 0;
}

int policy_load(struct policy *p, const char *name, const char *search, const char *where,
		char *err, size_t errlen)
{
	for (const char *n = name; *n; n++) {
		if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_' || *n == '-')) {
			snprintf(err, errlen, "%s: \"%.40s\" is not a policy name (a-z, 0-9, _ and -)",
				 where, name);
			return -1;
		}
	}
	const char *dir = search ? search : "";
	while (*dir) {
		size_t len = strcspn(dir, ":");
		char path[4096];
		if (len > 0 && snprintf(path, sizeof(path), "%.*s/%s.json", (int)len, dir, name) <
				       (int)sizeof(path)) {
			json_error_t je;
			FILE *f = fopen(path, "re");
			if (f) {
				json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
				fclose(f);
				if (!root) {
					snprintf(err, errlen, "%s: line %d column %d: %s", path, je.line,
						 je.column, je.text);
					return -1;
				}
				int r = policy_apply(p, root, path, "", err, errlen);
				json_decref(root);
				if (r == 0)
					snprintf(p->name, sizeof(p->name), "%s", name);
				return r;
			}
		}
		dir += len;
		if (*dir == ':')
			dir++;
	}
	snprintf(err, errlen, "%s: no policy \"%s\" (looked for %s.json in %s)", where, name, name,
		 search && *search ? search : "no folder");
	return -1;
}

static int op_in(const char ops[][ANT_OP_MAX], unsigned n, const char *op)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(ops[i], op) == 0)
			return 1;
	return 0;
}

int policy_may_replay(const struct policy *p, const char *op)
{
	if (op_in(p->never_ops, p->nnever, op))
		return 0;
	switch (p->replay) {
	case REPLAY_ALWAYS:     return 1;
	case REPLAY_IDEMPOTENT: return op_in(p->idempotent_ops, p->nidempotent, op);
	case REPLAY_NEVER:      return 0;
	}
	return 0;
}

unsigned policy_backoff_ms(const struct policy *p, unsigned n, unsigned random)
{
	double ms;
	if (n <= 1) {
		ms = p->backoff_initial_ms;
	} else {
		ms = p->backoff_base_ms;
		for (unsigned i = 2; i < n && ms < p->backoff_cap_ms; i++)
			ms *= 2;
		if (ms > p->backoff_cap_ms)
			ms = p->backoff_cap_ms;
	}
	/* random in [0, 2^32): a factor in [1 - jitter, 1 + jitter]. */
	double f = 1.0 + p->backoff_jitter * (2.0 * ((double)random / 4294967296.0) - 1.0);
	ms *= f;
	return ms < 0 ? 0 : (unsigned)(ms + 0.5);
}
