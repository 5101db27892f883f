/* policy.c - a server's supervision policy: restart, intensity, backoff, strategy, replay, deadlines. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

/*
 * The built-in defaults: the one source of truth.  A server that names no
 * policy gets exactly these, and antd needs no file for them (a stack may
 * run with no policy folder at all).  policies/default.json is these values
 * written out for people and for "policy": "default"; test-policy.c fails
 * when the two differ, so change both together.
 */
static const struct policy policy_builtin = {
	.name = "default",
	.restart = RESTART_PERMANENT,
	/* intensity */
	.max_restarts = 10, .period_s = 10,
	.on_give_up = GIVE_UP_FAIL_CALLS, .retry_after_s = 10, .retry_max_s = 600,
	/* backoff */
	.backoff_initial_ms = 0, .backoff_base_ms = 10, .backoff_cap_ms = 1000,
	.backoff_jitter = 0.1,
	.strategy = STRATEGY_ONE_FOR_ONE,
	.replay = REPLAY_ALWAYS,
	.poison_kills = 3,
	/* deadlines */
	.deadline_ms = 10000, .io_deadline_ms = 60000, .ready_timeout_ms = 5000,
	.standby = 0,
};

void policy_defaults(struct policy *p)
{
	/* memcpy, padding too: callers compare whole structs. */
	memcpy(p, &policy_builtin, sizeof(*p));
}

static const char *const restart_names[] = { "permanent", "transient", "temporary", NULL };
static const char *const give_up_names[] = { "fail_calls", "stop_stack", "retry", NULL };
static const char *const strategy_names[] = { "one_for_one", "rest_for_one", "one_for_all", NULL };
static const char *const replay_names[] = { "always", "idempotent", "never", NULL };

/* config_read stores an enum as an int. */
_Static_assert(sizeof(enum restart_type) == sizeof(int) &&
	       sizeof(enum give_up_action) == sizeof(int) &&
	       sizeof(enum restart_strategy) == sizeof(int) &&
	       sizeof(enum replay_mode) == sizeof(int), "policy enums must be int-sized");

const char *policy_restart_name(enum restart_type t) { return restart_names[t]; }
const char *policy_strategy_name(enum restart_strategy s) { return strategy_names[s]; }
const char *policy_replay_name(enum replay_mode m) { return replay_names[m]; }

/* An array of op names being read. */
struct op_list {
	char (*ops)[ANT_OP_MAX];
	unsigned *n;
};

static int read_op(const struct config_err *e, const char *key, json_t *v, size_t i, void *base)
{
	struct op_list *l = base;

	if (config_string_copy(e, key, v, l->ops[i], ANT_OP_MAX) < 0)
		return -1;
	*l->n = (unsigned)i + 1;
	return 0;
}

static int read_ops(const struct config_err *e, const char *key, json_t *v,
		    char ops[POLICY_OPS_MAX][ANT_OP_MAX], unsigned *n)
{
	struct op_list l = { ops, n };

	*n = 0;
	return config_array(e, key, v, POLICY_OPS_MAX, "op names", read_op, &l);
}

static int read_idempotent(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct policy *p = base;

	return read_ops(e, key, v, p->idempotent_ops, &p->nidempotent);
}

static int read_never(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct policy *p = base;

	return read_ops(e, key, v, p->never_ops, &p->nnever);
}

#define AT(field) offsetof(struct policy, field)

static const struct config_field intensity_fields[] = {
	{ .key = "max_restarts", .type = CONFIG_UINT, .offset = AT(max_restarts), .max = 1000 },
	{ .key = "period_s", .type = CONFIG_REAL, .offset = AT(period_s), .rmin = 0.001,
	  .rmax = 86400 },
	{ .key = NULL }
};

static const struct config_field backoff_fields[] = {
	{ .key = "initial_ms", .type = CONFIG_UINT, .offset = AT(backoff_initial_ms), .max = 3600000 },
	{ .key = "base_ms", .type = CONFIG_UINT, .offset = AT(backoff_base_ms), .max = 3600000 },
	{ .key = "cap_ms", .type = CONFIG_UINT, .offset = AT(backoff_cap_ms), .max = 3600000 },
	{ .key = "jitter", .type = CONFIG_REAL, .offset = AT(backoff_jitter), .rmax = 1 },
	{ .key = NULL }
};

/* Every key of a policy file (docs/supervision.md, section 5.2). */
static const struct config_field policy_fields[] = {
	{ .key = "description", .type = CONFIG_TEXT },
	{ .key = "restart", .type = CONFIG_ENUM, .offset = AT(restart), .names = restart_names },
	{ .key = "intensity", .type = CONFIG_OBJECT, .fields = intensity_fields },
	{ .key = "on_give_up", .type = CONFIG_ENUM, .offset = AT(on_give_up), .names = give_up_names },
	{ .key = "retry_after_s", .type = CONFIG_REAL, .offset = AT(retry_after_s), .rmin = 0.001,
	  .rmax = 86400 },
	{ .key = "retry_max_s", .type = CONFIG_REAL, .offset = AT(retry_max_s), .rmin = 0.001,
	  .rmax = 86400 },
	{ .key = "backoff", .type = CONFIG_OBJECT, .fields = backoff_fields },
	{ .key = "strategy", .type = CONFIG_ENUM, .offset = AT(strategy), .names = strategy_names },
	{ .key = "replay", .type = CONFIG_ENUM, .offset = AT(replay), .names = replay_names },
	{ .key = "idempotent_ops", .type = CONFIG_CUSTOM, .read = read_idempotent },
	{ .key = "never_replay_ops", .type = CONFIG_CUSTOM, .read = read_never },
	{ .key = "poison_kills", .type = CONFIG_UINT, .offset = AT(poison_kills), .min = 1,
	  .max = 1000 },
	{ .key = "deadline_ms", .type = CONFIG_UINT, .offset = AT(deadline_ms), .max = 86400000 },
	{ .key = "io_deadline_ms", .type = CONFIG_UINT, .offset = AT(io_deadline_ms),
	  .max = 86400000 },
	{ .key = "ready_timeout_ms", .type = CONFIG_UINT, .offset = AT(ready_timeout_ms), .min = 1,
	  .max = 3600000 },
	{ .key = "standby", .type = CONFIG_UINT, .offset = AT(standby), .max = 1 },
	{ .key = NULL }
};

#undef AT

int policy_apply(struct policy *p, json_t *obj, const char *file, const char *prefix,
		 char *err, size_t errlen)
{
	struct config_err e = { file, err, errlen };

	return config_read(&e, prefix ? prefix : "", obj, policy_fields, p);
}

int policy_load(struct policy *p, const char *name, const char *search, const char *where,
		char *err, size_t errlen)
{
	struct config_err e = { where, err, errlen };
	char file[128], path[PATH_MAX];
	json_t *root;
	int r;

	if (!config_is_name(name) || strlen(name) >= sizeof(p->name))
		return config_fail(&e, NULL, "%s is not a policy name (a-z, 0-9, _ and -)",
				   config_quote(name).s);
	snprintf(file, sizeof(file), "%s.json", name);
	if (config_find(search, file, path, sizeof(path)) < 0)
		return config_fail(&e, NULL, "no policy \"%s\" (looked for %s in %s)", name, file,
				   search && *search ? search : "no folder");
	if (!(root = config_load(path, err, errlen)))
		return -1;
	r = policy_apply(p, root, path, "", err, errlen);
	json_decref(root);
	if (r == 0)
		snprintf(p->name, sizeof(p->name), "%s", name);
	return r;
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
