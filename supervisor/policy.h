/* policy.h - a server's supervision policy: restart, intensity, backoff, strategy, replay, deadlines. */
#ifndef ANTD_POLICY_H
#define ANTD_POLICY_H

#include <stddef.h>
#include <jansson.h>

#include "ant/cica.h"

enum restart_type { RESTART_PERMANENT, RESTART_TRANSIENT, RESTART_TEMPORARY };
enum give_up_action { GIVE_UP_FAIL_CALLS, GIVE_UP_STOP_STACK, GIVE_UP_RETRY };
enum restart_strategy { STRATEGY_ONE_FOR_ONE, STRATEGY_REST_FOR_ONE, STRATEGY_ONE_FOR_ALL };
enum replay_mode { REPLAY_ALWAYS, REPLAY_IDEMPOTENT, REPLAY_NEVER };

#define POLICY_OPS_MAX 32

struct policy {
	char name[64];                 /* the policy file's name, or "default" */
	enum restart_type restart;     /* permanent: always; transient: unless exit 0; temporary: never */
	unsigned max_restarts;         /* intensity: at most this many restarts ... */
	double period_s;               /* ... in this many seconds, else give up */
	enum give_up_action on_give_up;
	double retry_after_s;          /* on_give_up retry: try a given-up server again after this, */
	double retry_max_s;            /* doubling each time it is given up again, up to this */
	unsigned backoff_initial_ms;   /* delay before the first restart of a series */
	unsigned backoff_base_ms;      /* then base, 2 base, 4 base ... */
	unsigned backoff_cap_ms;       /* ... up to cap */
	double backoff_jitter;         /* +- this fraction, 0..1 */
	enum restart_strategy strategy;
	enum replay_mode replay;
	unsigned nidempotent;          /* ops safe to replay under "idempotent" */
	char idempotent_ops[POLICY_OPS_MAX][ANT_OP_MAX];
	unsigned nnever;               /* ops never replayed, whatever replay says */
	char never_ops[POLICY_OPS_MAX][ANT_OP_MAX];
	unsigned poison_kills;         /* a request that killed its server this often fails */
	unsigned deadline_ms;          /* a request held longer is a hang (0: none) */
	unsigned io_deadline_ms;       /* the same for requests flagged I/O wait */
	unsigned ready_timeout_ms;     /* a started server must say ready within this */
	unsigned standby;              /* warm spares kept started (0 or 1) */
};

/* Overwrite all of *p with the built-in defaults: policy.c's table, the one
 * source of truth (policies/default.json writes the same values out). */
void policy_defaults(struct policy *p);

/*
 * Apply the keys of obj (a policy file's root, or a stack file's inline
 * "supervision" object) over p.  Unknown keys and bad values are errors:
 * returns -1 with err = "FILE: KEYPATH: what is wrong" (prefix is the key
 * path of obj in FILE, "" for a file's root).
 */
int policy_apply(struct policy *p, json_t *obj, const char *file, const char *prefix,
		 char *err, size_t errlen);

/* Load NAME.json from the first of the ':'-separated dirs that has it, and
 * apply it over p.  Returns 0, or -1 with err naming the file and key, or
 * saying where NAME was looked for. */
int policy_load(struct policy *p, const char *name, const char *search, const char *where,
		char *err, size_t errlen);

/* Should a request for op held by a dying server be replayed? */
int policy_may_replay(const struct policy *p, const char *op);

/* Delay before restart number n (1-based) of a series, jitter applied. */
unsigned policy_backoff_ms(const struct policy *p, unsigned n, unsigned random);

const char *policy_restart_name(enum restart_type t);
const char *policy_strategy_name(enum restart_strategy s);
const char *policy_replay_name(enum replay_mode m);

#endif
