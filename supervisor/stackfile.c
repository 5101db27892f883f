/* stackfile.c - read and check a stack file (JSON) into a struct stack. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "stackfile.h"
/* After everything that includes ev.h: seccomp.h pulls in elf.h (EV_NONE). */
#include <seccomp.h>

#define MAX_INFLIGHT_MAX 64
#define WHY_MAX          128        /* "is not executable", or ": <strerror>" */

/* A stack or server name: [a-z0-9_-]{1,31}. */
static int read_name(const struct config_err *e, const char *key, const json_t *v,
		     char out[ANT_NAME_MAX])
{
	if (config_string_copy(e, key, v, out, ANT_NAME_MAX) < 0)
		return -1;
	if (!config_is_name(out))
		return config_fail(e, key, "%s is not a valid name (use only a-z, 0-9, '_' and '-')",
				   config_quote(out).s);
	return 0;
}

/* Users (names or numbers) or groups being read into ids. */
struct id_list {
	unsigned *ids;
	unsigned *n;
	int groups;
};

static int read_id(const struct config_err *e, const char *key, json_t *v, size_t i, void *base)
{
	struct id_list *l = base;
	const char *what = l->groups ? "group" : "user";
	const char *name = json_string_value(v);
	struct passwd *pw;
	struct group *g;

	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < 4294967295LL)
		l->ids[i] = (unsigned)json_integer_value(v);
	else if (!name)
		return config_fail(e, key, "must be a %s name or number", what);
	else if (l->groups && (g = getgrnam(name)))
		l->ids[i] = g->gr_gid;
	else if (!l->groups && (pw = getpwnam(name)))
		l->ids[i] = pw->pw_uid;
	else
		return config_fail(e, key, "no %s %s", what, config_quote(name).s);
	*l->n = (unsigned)i + 1;
	return 0;
}

static int read_ids(const struct config_err *e, const char *key, json_t *v, int groups,
		    unsigned *ids, unsigned *n)
{
	struct id_list l = { ids, n, groups };

	*n = 0;
	return config_array(e, key, v, STACK_IDS_MAX,
			    groups ? "group names or numbers" : "user names or numbers", read_id, &l);
}

/* ---- servers[i] ---- */

static int read_server_name(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack_server *sv = base;

	return read_name(e, key, v, sv->name);
}

static int read_args(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack_server *sv = base;
	size_t i, n;

	if (!json_is_array(v))
		return config_fail(e, key, "must be an array of strings, got %s",
				   config_type_name(v));
	n = json_array_size(v);
	if (n > STACK_ARGS_MAX)
		return config_fail(e, key, "too many arguments (%zu, at most %d)", n, STACK_ARGS_MAX);
	for (i = 0; i < n; i++) {
		struct config_key k = config_index(key, i);
		/* An empty argument is a legitimate argv entry. */
		const char *arg = config_string(e, k.s, json_array_get(v, i), 1);

		if (!arg)
			return -1;
		if (!(sv->args[i] = strdup(arg)))
			return config_fail(e, k.s, "out of memory");
		sv->nargs++;
	}
	return 0;
}

static int read_injectable_one(const struct config_err *e, const char *key, json_t *v, size_t i,
			       void *base)
{
	struct stack_server *sv = base;
	const char *name = config_string(e, key, v, 0);
	if (!name)
		return -1;
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR || nr < 0)
		return config_fail(e, key, "unknown system call \"%s\"", name);
	/* Their rules look at arguments, or are added in the child: antd, which
	 * sees only the number, could not keep those limits. */
	if (strcmp(name, "fcntl") == 0 || strcmp(name, "tgkill") == 0)
		return config_fail(e, key, "%s cannot be injectable (its sandbox rule looks at "
				   "its arguments)", name);
	/* The new process hands antd its notification fd with sendmsg: that
	 * one call must not wait for an answer from antd, which has no fd yet. */
	if (strcmp(name, "sendmsg") == 0)
		return config_fail(e, key, "sendmsg cannot be injectable (it hands antd the "
				   "server's seccomp notifications, before antd could answer it)");
	sv->injectable[i] = nr;
	sv->ninjectable = (unsigned)i + 1;
	return 0;
}

static int read_injectable(const struct config_err *e, const char *key, json_t *v, void *base)
{
	return config_array(e, key, v, SANDBOX_INJECTABLE_MAX, "system call names",
			    read_injectable_one, base);
}

static int read_app_uids(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack_server *sv = base;

	sv->app_uids_set = 1;
	return read_ids(e, key, v, 0, sv->app_uids, &sv->napp_uids);
}

static const struct config_field file_fields[] = {
	{ .key = "path", .type = CONFIG_STRDUP, .required = 1,
	  .offset = offsetof(struct stack_file, path) },
	{ .key = "write", .type = CONFIG_BOOL, .offset = offsetof(struct stack_file, write) },
	{ .key = "create", .type = CONFIG_BOOL, .offset = offsetof(struct stack_file, create) },
	{ .key = NULL }
};

static int read_file(const struct config_err *e, const char *key, json_t *v, size_t i,
		     void *base)
{
	struct stack_server *sv = base;
	struct stack_file *f = &sv->files[i];

	sv->nfiles = (unsigned)i + 1;
	if (config_read(e, key, v, file_fields, f) < 0)
		return -1;
	if (f->create && !f->write)
		return config_fail(e, config_key(key, "create").s,
				   "needs \"write\": true (an empty read-only file is no use)");
	return 0;
}

static int read_files(const struct config_err *e, const char *key, json_t *v, void *base)
{
	return config_array(e, key, v, STACK_FILES_MAX, "files", read_file, base);
}

/* "sandbox": a policy name, or an inline policy (read by stack_resolve_policies). */
static int read_sandbox(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack_server *sv = base;

	if (!json_is_object(v))
		return config_string_copy(e, key, v, sv->sandbox_name, sizeof(sv->sandbox_name));
	sv->sandbox_inline = json_incref(v);
	return 0;
}

static int read_supervision(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack_server *sv = base;
	struct policy scratch;

	/* Checked here against the defaults, so that a bad key is reported with
	 * the stack file's own errors; applied for real by stack_resolve_policies. */
	policy_defaults(&scratch);
	if (policy_apply(&scratch, v, e->file, key, e->buf, e->len) < 0)
		return -1;
	sv->supervision = json_incref(v);
	return 0;
}

/* Every key of servers[i] (docs/stack-file.md); "calls" needs every
 * server's name first (a server may call one listed after it). */
static const struct config_field server_fields[] = {
	{ .key = "name", .type = CONFIG_CUSTOM, .required = 1, .read = read_server_name },
	{ .key = "exec", .type = CONFIG_STRDUP, .required = 1,
	  .offset = offsetof(struct stack_server, exec) },
	{ .key = "args", .type = CONFIG_CUSTOM, .read = read_args },
	{ .key = "calls", .type = CONFIG_ANY },
	{ .key = "max_inflight", .type = CONFIG_UINT, .min = 1, .max = MAX_INFLIGHT_MAX,
	  .offset = offsetof(struct stack_server, max_inflight) },
	{ .key = "policy", .type = CONFIG_STRING,
	  .offset = offsetof(struct stack_server, policy_name),
	  .size = sizeof(((struct stack_server *)0)->policy_name) },
	{ .key = "app_uids", .type = CONFIG_CUSTOM, .read = read_app_uids },
	{ .key = "files", .type = CONFIG_CUSTOM, .read = read_files },
	{ .key = "sandbox", .type = CONFIG_CUSTOM, .read = read_sandbox },
	{ .key = "injectable", .type = CONFIG_CUSTOM, .read = read_injectable },
	{ .key = "supervision", .type = CONFIG_CUSTOM, .read = read_supervision },
	{ .key = NULL }
};

/* Everything of servers[i] except "calls". */
static int parse_server(const struct config_err *e, struct stack *s, unsigned i, json_t *v)
{
	struct stack_server *sv = &s->servers[i];
	struct config_key key = config_index("servers", i);
	unsigned j;

	sv->id = i + 1;
	sv->max_inflight = 1;
	policy_defaults(&sv->policy);
	if (config_read(e, key.s, v, server_fields, sv) < 0)
		return -1;
	for (j = 0; j < i; j++)
		if (strcmp(s->servers[j].name, sv->name) == 0)
			return config_fail(e, config_key(key.s, "name").s, "duplicate server name %s",
					   config_quote(sv->name).s);
	return 0;
}

/*
 * A list of server names (servers[i].calls or apps.calls) into ids.  self is
 * the id of the calling server, or ANT_PEER_APP for applications.
 */
static int parse_calls(const struct config_err *e, const struct stack *s, const char *key,
		       const json_t *v, unsigned self, unsigned *ids, unsigned *nids)
{
	size_t i, n;

	if (!json_is_array(v))
		return config_fail(e, key, "must be an array of server names, got %s",
				   config_type_name(v));
	n = json_array_size(v);
	for (i = 0; i < n; i++) {
		struct config_key k = config_index(key, i);
		const struct stack_server *callee;
		const char *name;

		if (!(name = config_string(e, k.s, json_array_get(v, i), 0)))
			return -1;
		callee = stack_find(s, name);
		if (!callee)
			return config_fail(e, k.s, "unknown server %s", config_quote(name).s);
		if (callee->id == self)
			return config_fail(e, k.s, "server %s cannot call itself", config_quote(name).s);
		for (unsigned j = 0; j < *nids; j++)
			if (ids[j] == callee->id)
				return config_fail(e, k.s, "server %s is listed twice",
						   config_quote(name).s);
		/* Unique ids of known servers: the list can never outgrow the array. */
		if (*nids >= ANT_SERVERS_MAX)
			return config_fail(e, k.s, "too many servers");
		ids[(*nids)++] = callee->id;
	}
	return 0;
}

static int parse_servers(const struct config_err *e, struct stack *s, json_t *servers)
{
	size_t n, i;

	if (!json_is_array(servers))
		return config_fail(e, "servers", "must be an array, got %s",
				   config_type_name(servers));
	n = json_array_size(servers);
	if (n == 0)
		return config_fail(e, "servers", "must list at least one server");
	if (n > ANT_SERVERS_MAX)
		return config_fail(e, "servers", "too many servers (%zu, at most %u)", n,
				   ANT_SERVERS_MAX);
	for (i = 0; i < n; i++)
		if (parse_server(e, s, (unsigned)i, json_array_get(servers, i)) < 0)
			return -1;
	s->nservers = (unsigned)n;

	for (i = 0; i < n; i++) {
		struct stack_server *sv = &s->servers[i];
		json_t *calls = json_object_get(json_array_get(servers, i), "calls");
		struct config_key k = config_key(config_index("servers", i).s, "calls");

		if (calls && parse_calls(e, s, k.s, calls, sv->id, sv->calls, &sv->ncalls) < 0)
			return -1;
	}
	return 0;
}

/* ---- the root and "apps" ---- */

static int read_app_uid_list(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack *s = base;

	return read_ids(e, key, v, 0, s->app_uids, &s->napp_uids);
}

static int read_app_gid_list(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack *s = base;

	return read_ids(e, key, v, 1, s->app_gids, &s->napp_gids);
}

static const struct config_field apps_fields[] = {
	{ .key = "calls", .type = CONFIG_ANY },
	{ .key = "uids", .type = CONFIG_CUSTOM, .read = read_app_uid_list },
	{ .key = "gids", .type = CONFIG_CUSTOM, .read = read_app_gid_list },
	{ .key = NULL }
};

static int parse_apps(const struct config_err *e, struct stack *s, json_t *v)
{
	json_t *calls;

	if (config_read(e, "apps", v, apps_fields, s) < 0)
		return -1;
	/* "apps" present: applications may call exactly what it lists, maybe nothing. */
	s->app_calls_all = 0;
	calls = json_object_get(v, "calls");
	if (!calls)
		return 0;
	return parse_calls(e, s, "apps.calls", calls, ANT_PEER_APP, s->app_calls, &s->napp_calls);
}

static int read_stack_name(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack *s = base;

	return read_name(e, key, v, s->name);
}

static int read_cpus(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct stack *s = base;
	size_t i;
	json_t *c;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return config_fail(e, key, "must be a non-empty array of CPU numbers, got %s",
				   config_type_name(v));
	json_array_foreach(v, i, c) {
		struct config_key k = config_index(key, i);

		if (!json_is_integer(c) || json_integer_value(c) < 0 ||
		    json_integer_value(c) >= STACK_CPUS_MAX)
			return config_fail(e, k.s, "must be a CPU number from 0 to %d",
					   STACK_CPUS_MAX - 1);
		CPU_SET((int)json_integer_value(c), &s->cpus);
	}
	s->ncpus = (unsigned)json_array_size(v);
	return 0;
}

/* Every key of the root (docs/stack-file.md); "servers" and "apps" are
 * read after, by parse_servers and parse_apps. */
#define LIM(f) offsetof(struct stack, limits.f)
static const struct config_field limits_fields[] = {
	{ .key = "calls_per_peer", .type = CONFIG_UINT, .offset = LIM(calls_per_peer), .min = 1,
	  .max = 1000000 },
	{ .key = "icas_per_peer", .type = CONFIG_UINT, .offset = LIM(icas_per_peer), .min = 1,
	  .max = 1000000 },
	{ .key = "ica_bytes_per_peer", .type = CONFIG_LONG, .offset = LIM(ica_bytes_per_peer),
	  .min = 4096, .max = (long)1 << 40 },
	{ .key = "connections_per_user", .type = CONFIG_UINT, .offset = LIM(conns_per_uid),
	  .min = 1, .max = 100000 },
	{ .key = NULL }
};
#undef LIM

static const struct config_field root_fields[] = {
	{ .key = "name", .type = CONFIG_CUSTOM, .required = 1, .read = read_stack_name },
	{ .key = "run_dir", .type = CONFIG_STRDUP, .offset = offsetof(struct stack, run_dir) },
	{ .key = "cpu_affinity", .type = CONFIG_CUSTOM, .read = read_cpus },
	{ .key = "busy_poll_us", .type = CONFIG_UINT, .max = 10000,
	  .offset = offsetof(struct stack, busy_poll_us) },
	{ .key = "fast_path", .type = CONFIG_BOOL, .offset = offsetof(struct stack, fast_path) },
	{ .key = "lane_spin_us", .type = CONFIG_UINT, .max = 1000,
	  .offset = offsetof(struct stack, lane_spin_us) },
	{ .key = "servers", .type = CONFIG_ANY, .required = 1 },
	{ .key = "apps", .type = CONFIG_ANY },
	{ .key = "limits", .type = CONFIG_OBJECT, .fields = limits_fields },
	{ .key = NULL }
};

static int parse_root(const struct config_err *e, struct stack *s, json_t *root)
{
	json_t *apps;

	s->limits = (struct stack_limits){ .calls_per_peer = 1024, .icas_per_peer = 4096,
					   .ica_bytes_per_peer = (long)4 << 30,
					   .conns_per_uid = 256 };
	if (config_read(e, "", root, root_fields, s) < 0 ||
	    parse_servers(e, s, json_object_get(root, "servers")) < 0)
		return -1;
	s->app_calls_all = 1;
	if ((apps = json_object_get(root, "apps")) && parse_apps(e, s, apps) < 0)
		return -1;
	return 0;
}

/* The stack of a parsed file; consumes root (may be NULL: then NULL). */
static struct stack *stack_of(json_t *root, const char *path, char *err, size_t errlen)
{
	struct config_err e = { path, err, errlen };
	struct stack *s;

	if (!root)
		return NULL;
	s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(path))) {
		config_fail(&e, NULL, "out of memory");
		free(s);
		s = NULL;
	} else if (parse_root(&e, s, root) < 0) {
		stack_free(s);
		s = NULL;
	}
	json_decref(root);
	return s;
}

struct stack *stack_parse(const char *json, const char *path, char *err, size_t errlen)
{
	const char *name = path ? path : "(stack)";

	return stack_of(config_parse(json, strlen(json), name, err, errlen), name, err, errlen);
}

struct stack *stack_load(const char *path, char *err, size_t errlen)
{
	return stack_of(config_load(path, err, errlen), path, err, errlen);
}

struct stack *stack_load_keep(const char *path, char **text, char *err, size_t errlen)
{
	*text = NULL;
	struct stack *s = stack_of(config_load_keep(path, text, err, errlen), path, err, errlen);
	if (!s) {
		free(*text);
		*text = NULL;
	}
	return s;
}

void stack_free(struct stack *s)
{
	unsigned i, j;

	if (!s)
		return;
	/* Walk every slot, not nservers: a half-parsed stack is freed the same way. */
	for (i = 0; i < ANT_SERVERS_MAX; i++) {
		struct stack_server *sv = &s->servers[i];

		free(sv->exec);
		free(sv->exec_path);
		json_decref(sv->supervision);
		for (j = 0; j < STACK_FILES_MAX; j++)
			free(sv->files[j].path);
		json_decref(sv->sandbox_inline);
		for (j = 0; j < STACK_ARGS_MAX; j++)
			free(sv->args[j]);
	}
	free(s->run_dir);
	free(s->path);
	free(s);
}

const struct stack_server *stack_find(const struct stack *s, const char *name)
{
	unsigned i;

	if (!s || !name)
		return NULL;
	for (i = 0; i < s->nservers; i++)
		if (strcmp(s->servers[i].name, name) == 0)
			return &s->servers[i];
	return NULL;
}

static int id_in(const unsigned *ids, unsigned n, unsigned id)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int stack_may_call(const struct stack *s, unsigned caller, unsigned callee)
{
	const struct stack_server *sv;

	if (!s || callee < 1 || callee > s->nservers)
		return 0;
	if (caller == ANT_PEER_APP)
		return s->app_calls_all || id_in(s->app_calls, s->napp_calls, callee);
	if (caller > s->nservers)
		return 0;
	sv = &s->servers[caller - 1];
	return id_in(sv->calls, sv->ncalls, callee);
}

int stack_app_uid_may_call(const struct stack *s, uid_t uid, unsigned callee)
{
	if (callee < 1 || callee > s->nservers)
		return 0;
	const struct stack_server *sv = &s->servers[callee - 1];
	if (!sv->app_uids_set)
		return 1;
	for (unsigned i = 0; i < sv->napp_uids; i++)
		if (sv->app_uids[i] == uid)
			return 1;
	return 0;
}

int stack_app_may_connect(const struct stack *s, uid_t uid, gid_t gid, uid_t antd_uid)
{
	if (uid == 0 || uid == antd_uid)
		return 1;
	for (unsigned i = 0; i < s->napp_uids; i++)
		if (s->app_uids[i] == uid)
			return 1;
	for (unsigned i = 0; i < s->napp_gids; i++)
		if (s->app_gids[i] == gid)
			return 1;
	return 0;
}

/* "injectable" needs a sandbox that asks antd (action kill), and only calls
 * it allows: antd lets an injectable call through, so it must not widen it. */
static int resolve_injectable(const struct stack *s, struct stack_server *sv, const char *key,
			      char *err, size_t errlen)
{
	struct sandbox *sb = &sv->sandbox;
	sb->ninjectable = 0;
	if (!sv->ninjectable)
		return 0;
	if (!sb->enabled || sb->action != SANDBOX_KILL) {
		snprintf(err, errlen, "%s: %s.injectable: needs a sandbox with action \"kill\" "
			 "(antd answers injectable calls through its seccomp notifications)",
			 s->path, key);
		return -1;
	}
	for (unsigned i = 0; i < sv->ninjectable; i++) {
		int nr = sv->injectable[i];
		int allowed = 0;
		for (unsigned k = 0; k < sb->nrules; k++)
			allowed |= sb->rules[k].nr == nr && !sb->rules[k].err;
		if (!allowed) {
			snprintf(err, errlen, "%s: %s.injectable[%u]: %s is not allowed by sandbox "
				 "%s (only allowed calls can be made to fail)", s->path, key, i,
				 sandbox_syscall_name(nr), sb->name);
			return -1;
		}
		sb->injectable[sb->ninjectable++] = nr;
	}
	return 0;
}

int stack_resolve_policies(struct stack *s, const char *search, char *err, size_t errlen)
{
	for (unsigned i = 0; i < s->nservers; i++) {
		struct stack_server *sv = &s->servers[i];
		struct config_key server = config_index("servers", i);
		struct config_key sup = config_key(server.s, "supervision");
		struct config_key sbx = config_key(server.s, "sandbox");
		char where[PATH_MAX + CONFIG_KEY_MAX];

		policy_defaults(&sv->policy);
		snprintf(where, sizeof(where), "%s: %s.policy", s->path, server.s);
		if (sv->policy_name[0] &&
		    policy_load(&sv->policy, sv->policy_name, search, where, err, errlen) < 0)
			return -1;
		if (sv->supervision &&
		    policy_apply(&sv->policy, sv->supervision, s->path, sup.s, err, errlen) < 0)
			return -1;
		if (sandbox_load(&sv->sandbox, sv->sandbox_name[0] ? sv->sandbox_name : "default",
				 sv->sandbox_inline, search, s->path, sbx.s, err, errlen) < 0)
			return -1;
		if (resolve_injectable(s, sv, server.s, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Why path cannot be exec'd ("" when it can), as the tail of a message. */
static void exec_problem(const char *path, char *why, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		snprintf(why, len, ": %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, len, " is not a regular file");
	else if (access(path, X_OK) < 0)
		snprintf(why, len, " is not executable");
	else
		why[0] = '\0';
}

/* out = realpath(dir) "/" name; -1 with errno set on failure. */
static int join_real(const char *dir, const char *name, char out[PATH_MAX])
{
	char real[PATH_MAX];
	int n;

	if (!realpath(dir, real))
		return -1;
	/* "./relay" reads better in logs as "<dir>/relay". */
	while (name[0] == '.' && name[1] == '/')
		for (name += 2; *name == '/'; name++)
			;
	n = snprintf(out, PATH_MAX, "%s%s%s", real, strcmp(real, "/") ? "/" : "", name);
	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* exec contains a '/': absolute as is, else relative to the stack file's folder. */
static int resolve_path(const struct config_err *e, const char *where, const struct stack *s,
			const char *exec, char out[PATH_MAX])
{
	char why[WHY_MAX];

	if (exec[0] == '/') {
		if (strlen(exec) >= PATH_MAX) {
			config_fail(e, where, "%s: %s", config_quote(exec).s, strerror(ENAMETOOLONG));
			return -1;
		}
		strcpy(out, exec);
	} else {
		char *copy = strdup(s->path);
		int r;

		if (!copy) {
			config_fail(e, where, "out of memory");
			return -1;
		}
		r = join_real(dirname(copy), exec, out);
		free(copy);
		if (r < 0) {
			config_fail(e, where, "%s: cannot resolve it next to %s: %s", config_quote(exec).s,
			     s->path, strerror(errno));
			return -1;
		}
	}
	exec_problem(out, why, sizeof why);
	if (why[0]) {
		if (strcmp(out, exec) == 0)
			config_fail(e, where, "%s%s", config_quote(exec).s, why);
		else
			config_fail(e, where, "%s (%s)%s", config_quote(exec).s, out, why);
		return -1;
	}
	return 0;
}

/* A bare name: the first executable dir/name along search_path, like execvp. */
static int resolve_search(const struct config_err *e, const char *where, const char *name,
			  const char *search_path, char out[PATH_MAX])
{
	char rejected[PATH_MAX + WHY_MAX + 4] = "";
	const char *cursor = search_path;
	char dir[PATH_MAX], why[WHY_MAX];
	int any_dir = 0;

	while (config_search_next(&cursor, dir, sizeof dir)) {
		any_dir = 1;
		/* A missing or unreadable folder just has no such file. */
		if (join_real(dir, name, out) < 0)
			continue;
		exec_problem(out, why, sizeof why);
		if (!why[0])
			return 0;
		if (!rejected[0] && why[0] == ' ')
			snprintf(rejected, sizeof rejected, " (%s%s)", out, why);
	}
	if (!any_dir)
		return config_fail(e, where, "%s not found: the search path is empty",
				   config_quote(name).s);
	return config_fail(e, where, "%s not found in %s%s", config_quote(name).s, search_path,
			   rejected);
}

int stack_resolve_execs(struct stack *s, const char *search_path, char *err, size_t errlen)
{
	struct config_err e = { s->path, err, errlen };
	unsigned i;

	for (i = 0; i < s->nservers; i++) {
		struct stack_server *sv = &s->servers[i];
		struct config_key where = config_key(config_index("servers", i).s, "exec");
		char out[PATH_MAX];
		int r;

		if (strchr(sv->exec, '/'))
			r = resolve_path(&e, where.s, s, sv->exec, out);
		else
			r = resolve_search(&e, where.s, sv->exec, search_path, out);
		if (r < 0)
			return -1;
		free(sv->exec_path);
		if (!(sv->exec_path = strdup(out))) {
			config_fail(&e, where.s, "out of memory");
			return -1;
		}
		/* antd hands the forker the program and its arguments in one message. */
		size_t len = strlen(out) + 2;
		for (unsigned a = 0; a < sv->nargs; a++)
			len += strlen(sv->args[a]) + 1;
		if (len > ANT_FORK_EXEC_MAX) {
			struct config_key args = config_key(config_index("servers", i).s, "args");
			config_fail(&e, args.s, "the program's path and its arguments take %zu bytes, "
				    "at most %u", len, ANT_FORK_EXEC_MAX);
			return -1;
		}
	}
	return 0;
}
