/* stackfile.c - read and check a stack file (JSON) into a struct stack. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stackfile.h"

#define STACK_FILE_MAX   (1u << 20) /* a stack file is a few hundred bytes; refuse junk */
#define MAX_INFLIGHT_MAX 64
#define QUOTE_MAX        48         /* bytes of a value shown in a message */
#define WHY_MAX          128        /* "is not executable", or ": <strerror>" */

/* Where an error goes; every message is "<path>: <where>: <what>". */
struct errbuf {
	const char *path;
	char *buf;                      /* may be NULL */
	size_t len;
};

/* A JSON key path such as "servers[1].calls[0]", or a quoted value. */
struct text {
	char s[2 + 4 * QUOTE_MAX + 4]; /* quotes, every byte as \xNN, "..." and NUL */
};

/*
 * The message must stay one line whatever the file holds (a key with a
 * newline, jansson's "near '...'" echoing input): blank out control bytes.
 */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

__attribute__((format(printf, 3, 4)))
static void fail(const struct errbuf *e, const char *where, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!e->buf || e->len == 0)
		return;
	if (where)
		n = snprintf(e->buf, e->len, "%s: %s: ", e->path, where);
	else
		n = snprintf(e->buf, e->len, "%s: ", e->path);
	if (n >= 0 && (size_t)n < e->len) {
		va_start(ap, fmt);
		vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	one_line(e->buf);
}

__attribute__((format(printf, 1, 2)))
static struct text keypath(const char *fmt, ...)
{
	struct text t;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t.s, sizeof t.s, fmt, ap);
	va_end(ap);
	return t;
}

/* s (len bytes, may hold NULs) in double quotes, escaped, cut after QUOTE_MAX bytes. */
static struct text quote_n(const char *s, size_t len)
{
	struct text t;
	size_t o = 0, i;

	t.s[o++] = '"';
	for (i = 0; i < len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			t.s[o++] = '\\';
			t.s[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(t.s + o, sizeof t.s - o, "\\x%02x", c);
		} else {
			t.s[o++] = (char)c;
		}
	}
	if (i < len) {
		memcpy(t.s + o, "...", 3);
		o += 3;
	}
	t.s[o++] = '"';
	t.s[o] = '\0';
	return t;
}

static struct text quote(const char *s)
{
	return quote_n(s, strlen(s));
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return "an object";
	case JSON_ARRAY:   return "an array";
	case JSON_STRING:  return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL:    return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:   return "a boolean";
	case JSON_NULL:    return "null";
	}
	return "an unknown value";
}

static int need_object(const struct errbuf *e, const char *where, const json_t *v)
{
	if (json_is_object(v))
		return 0;
	fail(e, where, "must be an object, got %s", type_name(v));
	return -1;
}

/* Typo protection: every key of obj must be in the NULL-terminated list. */
static int check_keys(const struct errbuf *e, const char *where, json_t *obj,
		      const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *a;

		for (a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (!*a) {
			fail(e, where, "unknown key %s", quote(key).s);
			return -1;
		}
	}
	return 0;
}

static json_t *need_key(const struct errbuf *e, const char *where, json_t *obj,
			const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		fail(e, where, "missing key %s", quote(key).s);
	return v;
}

/*
 * A string.  No NUL byte can hide inside it and cut it short in C: without
 * JSON_ALLOW_NUL jansson rejects "\u0000" as a syntax error.
 */
static const char *get_string(const struct errbuf *e, const char *where, const json_t *v,
			      int allow_empty)
{
	const char *s;

	if (!json_is_string(v)) {
		fail(e, where, "must be a string, got %s", type_name(v));
		return NULL;
	}
	s = json_string_value(v);
	if (!allow_empty && s[0] == '\0') {
		fail(e, where, "must not be empty");
		return NULL;
	}
	return s;
}

static char *dup_string(const struct errbuf *e, const char *where, const json_t *v,
			int allow_empty)
{
	const char *s = get_string(e, where, v, allow_empty);
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		fail(e, where, "out of memory");
	return d;
}

/* A stack or server name: [a-z0-9_-]{1,31}. */
static int get_name(const struct errbuf *e, const char *where, const json_t *v,
		    char out[ANT_NAME_MAX])
{
	const char *s = get_string(e, where, v, 0);
	size_t len, i;

	if (!s)
		return -1;
	len = strlen(s);
	if (len >= ANT_NAME_MAX) {
		fail(e, where, "%s is too long (%zu bytes, at most %u)", quote(s).s, len,
		     ANT_NAME_MAX - 1);
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			fail(e, where, "%s is not a valid name (use only a-z, 0-9, '_' and '-')",
			     quote(s).s);
			return -1;
		}
	}
	memcpy(out, s, len + 1);
	return 0;
}

static int parse_args(const struct errbuf *e, const char *where, const json_t *v,
		      struct stack_server *sv)
{
	size_t i, n;

	if (!json_is_array(v)) {
		fail(e, where, "must be an array of strings, got %s", type_name(v));
		return -1;
	}
	n = json_array_size(v);
	if (n > STACK_ARGS_MAX) {
		fail(e, where, "too many arguments (%zu, at most %d)", n, STACK_ARGS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct text w = keypath("%s[%zu]", where, i);

		/* An empty argument is a legitimate argv entry. */
		sv->args[i] = dup_string(e, w.s, json_array_get(v, i), 1);
		if (!sv->args[i])
			return -1;
		sv->nargs++;
	}
	return 0;
}

static int parse_max_inflight(const struct errbuf *e, const char *where, const json_t *v,
			      unsigned *out)
{
	json_int_t n;

	if (!json_is_integer(v)) {
		fail(e, where, "must be an integer from 1 to %d, got %s", MAX_INFLIGHT_MAX,
		     type_name(v));
		return -1;
	}
	n = json_integer_value(v);
	if (n < 1 || n > MAX_INFLIGHT_MAX) {
		fail(e, where, "must be an integer from 1 to %d, got %" JSON_INTEGER_FORMAT,
		     MAX_INFLIGHT_MAX, n);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

/* A list of users (names or numbers) or groups into ids. */
static int parse_ids(const struct errbuf *e, const char *where, const json_t *v, int groups,
		     unsigned *ids, unsigned *n)
{
	size_t i;
	json_t *x;
	if (!json_is_array(v) || json_array_size(v) > STACK_IDS_MAX) {
		fail(e, where, "must be an array of at most %d %s names or numbers", STACK_IDS_MAX,
		     groups ? "group" : "user");
		return -1;
	}
	json_array_foreach(v, i, x) {
		struct text w = keypath("%s[%zu]", where, i);
		if (json_is_integer(x) && json_integer_value(x) >= 0 &&
		    json_integer_value(x) < 4294967295LL) {
			ids[i] = (unsigned)json_integer_value(x);
		} else if (json_is_string(x)) {
			const char *name = json_string_value(x);
			if (groups) {
				struct group *g = getgrnam(name);
				if (!g) {
					fail(e, w.s, "no group %s", quote(name).s);
					return -1;
				}
				ids[i] = g->gr_gid;
			} else {
				struct passwd *pw = getpwnam(name);
				if (!pw) {
					fail(e, w.s, "no user %s", quote(name).s);
					return -1;
				}
				ids[i] = pw->pw_uid;
			}
		} else {
			fail(e, w.s, "must be a %s name or number", groups ? "group" : "user");
			return -1;
		}
	}
	*n = (unsigned)json_array_size(v);
	return 0;
}

/*
 * Everything of servers[i] except "calls", which needs every server's name
 * first (a server may call one listed after it).
 */
static int parse_server(const struct errbuf *e, struct stack *s, unsigned i, json_t *v)
{
	static const char *const keys[] = {
		"name", "exec", "args", "calls", "max_inflight", "policy", "supervision", "sandbox",
		"app_uids", "files", NULL
	};
	struct stack_server *sv = &s->servers[i];
	struct text where = keypath("servers[%u]", i);
	struct text w;
	json_t *f;
	unsigned j;

	if (need_object(e, where.s, v) < 0 || check_keys(e, where.s, v, keys) < 0)
		return -1;

	sv->id = i + 1;
	sv->max_inflight = 1;

	if (!(f = need_key(e, where.s, v, "name")))
		return -1;
	w = keypath("%s.name", where.s);
	if (get_name(e, w.s, f, sv->name) < 0)
		return -1;
	for (j = 0; j < i; j++) {
		if (strcmp(s->servers[j].name, sv->name) == 0) {
			fail(e, w.s, "duplicate server name %s", quote(sv->name).s);
			return -1;
		}
	}

	if (!(f = need_key(e, where.s, v, "exec")))
		return -1;
	w = keypath("%s.exec", where.s);
	if (!(sv->exec = dup_string(e, w.s, f, 0)))
		return -1;

	if ((f = json_object_get(v, "args"))) {
		w = keypath("%s.args", where.s);
		if (parse_args(e, w.s, f, sv) < 0)
			return -1;
	}

	if ((f = json_object_get(v, "max_inflight"))) {
		w = keypath("%s.max_inflight", where.s);
		if (parse_max_inflight(e, w.s, f, &sv->max_inflight) < 0)
			return -1;
	}

	policy_defaults(&sv->policy);
	if ((f = json_object_get(v, "policy"))) {
		const char *name;
		w = keypath("%s.policy", where.s);
		if (!(name = get_string(e, w.s, f, 0)))
			return -1;
		if (strlen(name) >= sizeof(sv->policy_name)) {
			fail(e, w.s, "policy name too long");
			return -1;
		}
		strcpy(sv->policy_name, name);
	}
	if ((f = json_object_get(v, "app_uids"))) {
		w = keypath("%s.app_uids", where.s);
		if (parse_ids(e, w.s, f, 0, sv->app_uids, &sv->napp_uids) < 0)
			return -1;
		sv->app_uids_set = 1;
	}
	if ((f = json_object_get(v, "files"))) {
		size_t k;
		json_t *x;
		w = keypath("%s.files", where.s);
		if (!json_is_array(f) || json_array_size(f) > STACK_FILES_MAX) {
			fail(e, w.s, "must be an array of at most %d files", STACK_FILES_MAX);
			return -1;
		}
		json_array_foreach(f, k, x) {
			static const char *const fkeys[] = { "path", "write", "create", NULL };
			struct text wf = keypath("%s[%zu]", w.s, k);
			json_t *path, *wr;
			if (need_object(e, wf.s, x) < 0 || check_keys(e, wf.s, x, fkeys) < 0 ||
			    !(path = need_key(e, wf.s, x, "path")))
				return -1;
			struct text wp = keypath("%s.path", wf.s);
			if (!(sv->files[k].path = dup_string(e, wp.s, path, 0)))
				return -1;
			sv->nfiles = (unsigned)k + 1;
			if ((wr = json_object_get(x, "write"))) {
				if (!json_is_boolean(wr)) {
					struct text ww = keypath("%s.write", wf.s);
					fail(e, ww.s, "must be true or false");
					return -1;
				}
				sv->files[k].write = json_is_true(wr);
			}
			if ((wr = json_object_get(x, "create"))) {
				struct text ww = keypath("%s.create", wf.s);
				if (!json_is_boolean(wr)) {
					fail(e, ww.s, "must be true or false");
					return -1;
				}
				sv->files[k].create = json_is_true(wr);
				if (sv->files[k].create && !sv->files[k].write) {
					fail(e, ww.s, "needs \"write\": true (an empty read-only file is no use)");
					return -1;
				}
			}
		}
	}
	if ((f = json_object_get(v, "sandbox"))) {
		w = keypath("%s.sandbox", where.s);
		if (json_is_object(f)) {
			sv->sandbox_inline = json_incref(f);
		} else {
			const char *name = get_string(e, w.s, f, 0);
			if (!name)
				return -1;
			if (strlen(name) >= sizeof(sv->sandbox_name)) {
				fail(e, w.s, "sandbox policy name too long");
				return -1;
			}
			strcpy(sv->sandbox_name, name);
		}
	}
	if ((f = json_object_get(v, "supervision"))) {
		/* Checked here against the defaults, so that a bad key is reported
		 * with the stack file's own error; applied for real later. */
		struct policy scratch;
		policy_defaults(&scratch);
		w = keypath("%s.supervision", where.s);
		char why[512];
		if (policy_apply(&scratch, f, e->path, w.s, why, sizeof(why)) < 0) {
			if (e->buf)
				snprintf(e->buf, e->len, "%s", why);
			return -1;
		}
		sv->supervision = json_incref(f);
	}
	return 0;
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

int stack_resolve_policies(struct stack *s, const char *search, char *err, size_t errlen)
{
	for (unsigned i = 0; i < s->nservers; i++) {
		struct stack_server *sv = &s->servers[i];
		char where[512];
		policy_defaults(&sv->policy);
		snprintf(where, sizeof(where), "%s: servers[%u].policy", s->path, i);
		if (sv->policy_name[0] &&
		    policy_load(&sv->policy, sv->policy_name, search, where, err, errlen) < 0)
			return -1;
		snprintf(where, sizeof(where), "servers[%u].supervision", i);
		if (sv->supervision &&
		    policy_apply(&sv->policy, sv->supervision, s->path, where, err, errlen) < 0)
			return -1;
		snprintf(where, sizeof(where), "%s: servers[%u].sandbox", s->path, i);
		if (sandbox_load(&sv->sandbox, sv->sandbox_name[0] ? sv->sandbox_name : "default",
				 sv->sandbox_inline, search, where, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/*
 * A list of server names (servers[i].calls or apps.calls) into ids.  self is
 * the id of the calling server, or ANT_PEER_APP for applications.
 */
static int parse_calls(const struct errbuf *e, const struct stack *s, const char *where,
		       const json_t *v, unsigned self, unsigned *ids, unsigned *nids)
{
	size_t i, n;

	if (!json_is_array(v)) {
		fail(e, where, "must be an array of server names, got %s", type_name(v));
		return -1;
	}
	n = json_array_size(v);
	for (i = 0; i < n; i++) {
		struct text w = keypath("%s[%zu]", where, i);
		const struct stack_server *callee;
		const char *name;
		unsigned j;

		if (!(name = get_string(e, w.s, json_array_get(v, i), 0)))
			return -1;
		callee = stack_find(s, name);
		if (!callee) {
			fail(e, w.s, "unknown server %s", quote(name).s);
			return -1;
		}
		if (callee->id == self) {
			fail(e, w.s, "server %s cannot call itself", quote(name).s);
			return -1;
		}
		for (j = 0; j < *nids; j++) {
			if (ids[j] == callee->id) {
				fail(e, w.s, "server %s is listed twice", quote(name).s);
				return -1;
			}
		}
		/* Unique ids of known servers: the list can never outgrow the array. */
		if (*nids >= ANT_SERVERS_MAX) {
			fail(e, w.s, "too many servers");
			return -1;
		}
		ids[(*nids)++] = callee->id;
	}
	return 0;
}

static int parse_apps(const struct errbuf *e, struct stack *s, json_t *v)
{
	static const char *const keys[] = { "calls", "uids", "gids", NULL };
	json_t *calls, *f;

	if (need_object(e, "apps", v) < 0 || check_keys(e, "apps", v, keys) < 0)
		return -1;
	if ((f = json_object_get(v, "uids")) &&
	    parse_ids(e, "apps.uids", f, 0, s->app_uids, &s->napp_uids) < 0)
		return -1;
	if ((f = json_object_get(v, "gids")) &&
	    parse_ids(e, "apps.gids", f, 1, s->app_gids, &s->napp_gids) < 0)
		return -1;
	/* "apps" present: applications may call exactly what it lists, maybe nothing. */
	s->app_calls_all = 0;
	calls = json_object_get(v, "calls");
	if (!calls)
		return 0;
	return parse_calls(e, s, "apps.calls", calls, ANT_PEER_APP, s->app_calls, &s->napp_calls);
}

static int parse_cpus(const struct errbuf *e, struct stack *s, const json_t *v)
{
	size_t i;
	json_t *c;

	if (!json_is_array(v) || json_array_size(v) == 0) {
		fail(e, "cpu_affinity", "must be a non-empty array of CPU numbers, got %s",
		     type_name(v));
		return -1;
	}
	json_array_foreach(v, i, c) {
		struct text w = keypath("cpu_affinity[%zu]", i);
		if (!json_is_integer(c) || json_integer_value(c) < 0 ||
		    json_integer_value(c) >= STACK_CPUS_MAX) {
			fail(e, w.s, "must be a CPU number from 0 to %d", STACK_CPUS_MAX - 1);
			return -1;
		}
		CPU_SET((int)json_integer_value(c), &s->cpus);
	}
	s->ncpus = (unsigned)json_array_size(v);
	return 0;
}

static int parse_root(const struct errbuf *e, struct stack *s, json_t *root)
{
	static const char *const keys[] = { "name", "run_dir", "apps", "servers", "cpu_affinity",
					    "busy_poll_us", NULL };
	json_t *f, *servers;
	size_t n, i;

	if (need_object(e, "(root)", root) < 0 || check_keys(e, "(root)", root, keys) < 0)
		return -1;

	if (!(f = need_key(e, "(root)", root, "name")) || get_name(e, "name", f, s->name) < 0)
		return -1;

	if ((f = json_object_get(root, "run_dir")) && !(s->run_dir = dup_string(e, "run_dir", f, 0)))
		return -1;

	if ((f = json_object_get(root, "cpu_affinity")) && parse_cpus(e, s, f) < 0)
		return -1;
	if ((f = json_object_get(root, "busy_poll_us"))) {
		if (!json_is_integer(f) || json_integer_value(f) < 0 || json_integer_value(f) > 10000) {
			fail(e, "busy_poll_us", "must be an integer from 0 to 10000 (microseconds)");
			return -1;
		}
		s->busy_poll_us = (unsigned)json_integer_value(f);
	}

	if (!(servers = need_key(e, "(root)", root, "servers")))
		return -1;
	if (!json_is_array(servers)) {
		fail(e, "servers", "must be an array, got %s", type_name(servers));
		return -1;
	}
	n = json_array_size(servers);
	if (n == 0) {
		fail(e, "servers", "must list at least one server");
		return -1;
	}
	if (n > ANT_SERVERS_MAX) {
		fail(e, "servers", "too many servers (%zu, at most %u)", n, ANT_SERVERS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (parse_server(e, s, (unsigned)i, json_array_get(servers, i)) < 0)
			return -1;
	s->nservers = (unsigned)n;

	for (i = 0; i < n; i++) {
		struct stack_server *sv = &s->servers[i];
		json_t *calls = json_object_get(json_array_get(servers, i), "calls");
		struct text w = keypath("servers[%zu].calls", i);

		if (calls && parse_calls(e, s, w.s, calls, sv->id, sv->calls, &sv->ncalls) < 0)
			return -1;
	}

	s->app_calls_all = 1;
	if ((f = json_object_get(root, "apps")) && parse_apps(e, s, f) < 0)
		return -1;
	return 0;
}

static struct stack *parse_buffer(const char *buf, size_t len, const char *path,
				  char *err, size_t errlen)
{
	struct errbuf e = { path ? path : "(stack)", err, errlen };
	json_error_t jerr;
	struct stack *s;
	json_t *root;

	/* DECODE_ANY so that "42" is reported as "not an object" like "[]" is. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		if (jerr.line > 0)
			fail(&e, NULL, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		else
			fail(&e, NULL, "%s", jerr.text);
		return NULL;
	}

	s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(e.path))) {
		fail(&e, NULL, "out of memory");
		free(s);
		json_decref(root);
		return NULL;
	}
	if (parse_root(&e, s, root) < 0) {
		stack_free(s);
		s = NULL;
	}
	json_decref(root);
	return s;
}

struct stack *stack_parse(const char *json, const char *path, char *err, size_t errlen)
{
	return parse_buffer(json, strlen(json), path, err, errlen);
}

/* The whole file into a malloc'd buffer; NULL with errno set (EFBIG: too large). */
static char *read_file(const char *path, size_t *lenp)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;

		if (len == cap || !buf) {
			char *nbuf;

			if (buf)
				cap *= 2;
			if (cap > STACK_FILE_MAX + 1)
				cap = STACK_FILE_MAX + 1;
			if (len == cap) {
				errno = EFBIG;
				goto fail;
			}
			if (!(nbuf = realloc(buf, cap)))
				goto fail;
			buf = nbuf;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	*lenp = len;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

struct stack *stack_load(const char *path, char *err, size_t errlen)
{
	struct errbuf e = { path, err, errlen };
	struct stack *s;
	size_t len;
	char *buf;

	buf = read_file(path, &len);
	if (!buf) {
		if (errno == EFBIG)
			fail(&e, NULL, "file too large (more than %u bytes)", STACK_FILE_MAX);
		else
			fail(&e, NULL, "%s", strerror(errno));
		return NULL;
	}
	s = parse_buffer(buf, len, path, err, errlen);
	free(buf);
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
static int resolve_path(const struct errbuf *e, const char *where, const struct stack *s,
			const char *exec, char out[PATH_MAX])
{
	char why[WHY_MAX];

	if (exec[0] == '/') {
		if (strlen(exec) >= PATH_MAX) {
			fail(e, where, "%s: %s", quote(exec).s, strerror(ENAMETOOLONG));
			return -1;
		}
		strcpy(out, exec);
	} else {
		char *copy = strdup(s->path);
		int r;

		if (!copy) {
			fail(e, where, "out of memory");
			return -1;
		}
		r = join_real(dirname(copy), exec, out);
		free(copy);
		if (r < 0) {
			fail(e, where, "%s: cannot resolve it next to %s: %s", quote(exec).s,
			     s->path, strerror(errno));
			return -1;
		}
	}
	exec_problem(out, why, sizeof why);
	if (why[0]) {
		if (strcmp(out, exec) == 0)
			fail(e, where, "%s%s", quote(exec).s, why);
		else
			fail(e, where, "%s (%s)%s", quote(exec).s, out, why);
		return -1;
	}
	return 0;
}

/* A bare name: the first executable dir/name along search_path, like execvp. */
static int resolve_search(const struct errbuf *e, const char *where, const char *name,
			  const char *search_path, char out[PATH_MAX])
{
	char rejected[PATH_MAX + WHY_MAX + 4] = "";
	const char *p = search_path ? search_path : "";
	int any_dir = 0;

	while (*p) {
		size_t n = strcspn(p, ":");
		char dir[PATH_MAX];
		char why[WHY_MAX];

		if (n > 0 && n < sizeof dir) {
			memcpy(dir, p, n);
			dir[n] = '\0';
			any_dir = 1;
			/* A missing or unreadable folder just has no such file. */
			if (join_real(dir, name, out) == 0) {
				exec_problem(out, why, sizeof why);
				if (!why[0])
					return 0;
				if (!rejected[0] && why[0] == ' ')
					snprintf(rejected, sizeof rejected, " (%s%s)", out, why);
			}
		}
		p += n;
		if (*p == ':')
			p++;
	}
	if (!any_dir)
		fail(e, where, "%s not found: the search path is empty", quote(name).s);
	else
		fail(e, where, "%s not found in %s%s", quote(name).s, search_path, rejected);
	return -1;
}

int stack_resolve_execs(struct stack *s, const char *search_path, char *err, size_t errlen)
{
	struct errbuf e = { s->path, err, errlen };
	unsigned i;

	for (i = 0; i < s->nservers; i++) {
		struct stack_server *sv = &s->servers[i];
		struct text where = keypath("servers[%u].exec", i);
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
			fail(&e, where.s, "out of memory");
			return -1;
		}
	}
	return 0;
}
