/* stackfile.h - the stack file (JSON): which servers a stack runs and who may call whom. */
#ifndef ANTD_STACKFILE_H
#define ANTD_STACKFILE_H

#include <sched.h>
#include <stddef.h>
#include <sys/types.h>
#include "ant/cica.h"
#include "ant/proto.h"
#include "policy.h"
#include "sandbox.h"

#define STACK_ARGS_MAX 32
#define STACK_CPUS_MAX 1024
#define STACK_IDS_MAX 64
#define STACK_FILES_MAX 8

struct stack_server {
	char name[ANT_NAME_MAX];     /* [a-z0-9_-], 1..31 bytes, unique */
	char *exec;                  /* as written in the file */
	char *exec_path;             /* resolved absolute path (stack_resolve_execs) */
	char *args[STACK_ARGS_MAX + 1]; /* argv[1..], NULL-terminated */
	unsigned nargs;
	unsigned id;                 /* 1..nservers, in file order */
	unsigned max_inflight;       /* 1..64, default 1 */
	unsigned ncalls;
	unsigned calls[ANT_SERVERS_MAX]; /* server ids this one may call */
	char policy_name[64];        /* "policy": a file in the policy folders, or "" */
	json_t *supervision;         /* "supervision": inline policy keys, or NULL */
	struct policy policy;        /* resolved (stack_resolve_policies) */
	char sandbox_name[64];       /* "sandbox": a policy name, "none", or "" (default) */
	json_t *sandbox_inline;      /* "sandbox": an inline object, or NULL */
	struct sandbox sandbox;      /* resolved (stack_resolve_policies) */
	unsigned nfiles;             /* "files": opened by antd, handed over as fds 4.. */
	struct stack_file {
		char *path;          /* as written (relative: to the stack file's folder) */
		int write;           /* opened read-write, else read-only */
		int create;          /* created (empty, mode 0600) if missing; needs write */
	} files[STACK_FILES_MAX];
	unsigned ninjectable;        /* "injectable": system calls an errno fault may fail */
	int injectable[SANDBOX_INJECTABLE_MAX];
	int app_uids_set;            /* "app_uids": only these app users may call it */
	unsigned napp_uids;
	uid_t app_uids[STACK_IDS_MAX];
};

/* "limits": what one connection (or one user's connections) may take of
 * antd; past a limit a request is refused with ANT_E_LIMIT. */
struct stack_limits {
	unsigned calls_per_peer;     /* calls in flight from one connection */
	unsigned icas_per_peer;      /* data ICAs one connection holds */
	long ica_bytes_per_peer;     /* ... and their bytes */
	unsigned conns_per_uid;      /* application connections of one user */
};

struct stack {
	char *path;                  /* the stack file */
	char name[ANT_NAME_MAX];
	char *run_dir;               /* "run_dir" or NULL */
	unsigned nservers;
	struct stack_server servers[ANT_SERVERS_MAX];
	unsigned napp_calls;         /* servers applications may call ... */
	unsigned app_calls[ANT_SERVERS_MAX];
	int app_calls_all;           /* ... or all of them (no "apps" key) */
	unsigned napp_uids, napp_gids; /* "apps": who may connect to app.sock besides */
	uid_t app_uids[STACK_IDS_MAX];  /* root and antd's own user */
	gid_t app_gids[STACK_IDS_MAX];
	unsigned ncpus;              /* "cpu_affinity": CPUs antd and every server run on */
	cpu_set_t cpus;              /* (ncpus 0: wherever the kernel puts them) */
	unsigned busy_poll_us;       /* antd polls this long after a message before sleeping */
	int fast_path;               /* "fast_path": apps call servers in lanes (docs/fastpath.md) */
	unsigned lane_spin_us;       /* a peer with lanes looks at them this long before it sleeps */
	struct stack_limits limits;  /* "limits" */
};

/*
 * Parse a stack file.  On error returns NULL and writes one line to err
 * naming the file, the key (JSON path such as servers[1].calls[0]) and what
 * is wrong, e.g.
 *   "chain.json: servers[1].calls[0]: unknown server \"relay9\"".
 */
struct stack *stack_load(const char *path, char *err, size_t errlen);
/* Same, and the file's text (*text, the caller's to free): what antd reads
 * again after a re-exec, whatever the file holds by then. */
struct stack *stack_load_keep(const char *path, char **text, char *err, size_t errlen);
/* Same, from a string (path is only used in messages). */
struct stack *stack_parse(const char *json, const char *path, char *err, size_t errlen);
void stack_free(struct stack *s);   /* accepts NULL */

/* Server by name, or NULL. */
const struct stack_server *stack_find(const struct stack *s, const char *name);
/* May an application running as uid call server callee (its "app_uids")? */
int stack_app_uid_may_call(const struct stack *s, uid_t uid, unsigned callee);
/* May a process of uid/gid connect to app.sock ("apps": "uids", "gids")? */
int stack_app_may_connect(const struct stack *s, uid_t uid, gid_t gid, uid_t antd_uid);

/* May caller (server id, or ANT_PEER_APP) call callee (server id)? */
int stack_may_call(const struct stack *s, unsigned caller, unsigned callee);

/*
 * Resolve each server's exec to an executable file: a path containing '/'
 * is taken relative to the stack file's folder; a bare name is searched in
 * the ':'-separated dirs of search_path.  Returns 0, or -1 with err naming
 * the server and what was tried.
 */
int stack_resolve_execs(struct stack *s, const char *search_path, char *err, size_t errlen);

/*
 * Resolve each server's supervision policy: the defaults, then the policy
 * file it names (NAME.json in the ':'-separated dirs of search), then its
 * inline "supervision" keys; and its sandbox (sandbox/NAME.json, "default"
 * when the server names none).  Returns 0, or -1 with err naming the file
 * and key.
 */
int stack_resolve_policies(struct stack *s, const char *search, char *err, size_t errlen);

#endif
