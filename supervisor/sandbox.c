/* sandbox.c - a server's sandbox: seccomp allowlist from named syscall groups, its user, its rlimits. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ant/proto.h"
#include "sandbox.h"

void sandbox_defaults(struct sandbox *sb)
{
	memset(sb, 0, sizeof(*sb));
	snprintf(sb->name, sizeof(sb->name), "default");
	sb->enabled = 1;
	sb->action = SANDBOX_KILL;
	snprintf(sb->user, sizeof(sb->user), "auto");
	sb->nofile = 4096;   /* a cache holds one fd per block it keeps */
	sb->core_bytes = 0;
	sb->as_bytes = -1;
}

const char *sandbox_syscall_name(int nr)
{
	static char buf[32];
	char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	if (!n)
		return "?";
	snprintf(buf, sizeof(buf), "%s", n);
	free(n);
	return buf;
}

static const struct { const char *name; int err; } errnos[] = {
	{ "EPERM", EPERM }, { "EACCES", EACCES }, { "ENOTTY", ENOTTY }, { "ENOSYS", ENOSYS },
	{ "EINVAL", EINVAL }, { "ENOENT", ENOENT }, { "EAGAIN", EAGAIN },
};

/* Open FILE from the first dir of search that has it. */
static json_t *load_json(const char *file, const char *search, char *path, size_t plen,
			 char *err, size_t errlen)
{
	const char *dir = search ? search : "";
	while (*dir) {
		size_t len = strcspn(dir, ":");
		if (len && snprintf(path, plen, "%.*s/%s", (int)len, dir, file) < (int)plen &&
		    access(path, R_OK) == 0) {
			json_error_t je;
			json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
			if (!o)
				snprintf(err, errlen, "%s: line %d column %d: %s", path, je.line,
					 je.column, je.text);
			return o;
		}
		dir += len;
		if (*dir == ':')
			dir++;
	}
	snprintf(err, errlen, "no %s in %s", file, search && *search ? search : "no folder");
	return NULL;
}

/* Add "name" or "name=ERRNO" to rules (or to the loader list). */
static int add_syscall(struct sandbox *sb, const char *entry, int loader, const char *where,
		       char *err, size_t errlen)
{
	char name[64];
	const char *eq = strchr(entry, '=');
	size_t n = eq ? (size_t)(eq - entry) : strlen(entry);
	if (n == 0 || n >= sizeof(name)) {
		snprintf(err, errlen, "%s: \"%s\" is not a syscall name", where, entry);
		return -1;
	}
	memcpy(name, entry, n);
	name[n] = '\0';
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		snprintf(err, errlen, "%s: unknown syscall \"%s\"", where, name);
		return -1;
	}
	int e = 0;
	if (eq) {
		for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]) && !e; i++)
			if (strcmp(eq + 1, errnos[i].name) == 0)
				e = errnos[i].err;
		if (!e) {
			snprintf(err, errlen, "%s: \"%s\": unknown errno \"%s\"", where, entry, eq + 1);
			return -1;
		}
	}
	if (loader) {
		for (unsigned i = 0; i < sb->nloader; i++)
			if (sb->loader[i] == nr)
				return 0;
		if (sb->nloader == SANDBOX_RULES_MAX)
			goto full;
		sb->loader[sb->nloader++] = nr;
		return 0;
	}
	for (unsigned i = 0; i < sb->nrules; i++) {
		if (sb->rules[i].nr == nr) {
			if (!e)
				sb->rules[i].err = 0;   /* allowed wins over an errno */
			return 0;
		}
	}
	if (sb->nrules == SANDBOX_RULES_MAX)
		goto full;
	sb->rules[sb->nrules].nr = nr;
	sb->rules[sb->nrules].err = e;
	sb->nrules++;
	return 0;
full:
	snprintf(err, errlen, "%s: too many syscalls", where);
	return -1;
}

static int add_group(struct sandbox *sb, json_t *groups, const char *gpath, const char *group,
		     int loader, const char *where, char *err, size_t errlen)
{
	json_t *g = json_object_get(groups, group);
	if (!g) {
		snprintf(err, errlen, "%s: unknown syscall group \"%s\" (groups are in %s)", where,
			 group, gpath);
		return -1;
	}
	json_t *list = json_object_get(g, "syscalls");
	if (!json_is_array(list) || !json_is_string(json_object_get(g, "reason"))) {
		snprintf(err, errlen, "%s: group \"%s\": needs \"reason\" (a string) and "
			 "\"syscalls\" (an array)", gpath, group);
		return -1;
	}
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s) {
		char w[256];
		snprintf(w, sizeof(w), "%s: %s.syscalls[%zu]", gpath, group, i);
		if (!json_is_string(s)) {
			snprintf(err, errlen, "%s: must be a string", w);
			return -1;
		}
		if (add_syscall(sb, json_string_value(s), loader, w, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int sandbox_load(struct sandbox *sb, const char *name, json_t *inline_obj, const char *search,
		 const char *where, char *err, size_t errlen)
{
	sandbox_defaults(sb);
	if (name && strcmp(name, "none") == 0) {
		snprintf(sb->name, sizeof(sb->name), "none");
		sb->enabled = 0;
		return 0;
	}
	char ppath[4096], gpath[4096], why[512];
	json_t *pol;
	if (inline_obj) {
		pol = json_incref(inline_obj);
		snprintf(sb->name, sizeof(sb->name), "inline");
		snprintf(ppath, sizeof(ppath), "%s", where);
	} else {
		for (const char *c = name; *c; c++) {
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) {
				snprintf(err, errlen, "%s: \"%.40s\" is not a sandbox policy name", where, name);
				return -1;
			}
		}
		char file[128];
		snprintf(file, sizeof(file), "sandbox/%s.json", name);
		pol = load_json(file, search, ppath, sizeof(ppath), why, sizeof(why));
		if (!pol) {
			snprintf(err, errlen, "%s: %s", where, why);
			return -1;
		}
		snprintf(sb->name, sizeof(sb->name), "%s", name);
	}
	json_t *groups = load_json("sandbox/groups.json", search, gpath, sizeof(gpath), why,
				   sizeof(why));
	int r = -1;
	if (!groups) {
		snprintf(err, errlen, "%s: %s", where, why);
		goto out;
	}
	static const char *const keys[] = { "description", "groups", "extra", "action", "user",
					     "rlimits", NULL };
	const char *k;
	json_t *v;
	if (!json_is_object(pol)) {
		snprintf(err, errlen, "%s: must be an object", ppath);
		goto out;
	}
	json_object_foreach(pol, k, v) {
		int ok = 0;
		for (int i = 0; keys[i] && !ok; i++)
			ok = strcmp(keys[i], k) == 0;
		if (!ok) {
			snprintf(err, errlen, "%s: unknown key \"%.40s\"", ppath, k);
			goto out;
		}
	}
	json_t *gl = json_object_get(pol, "groups");
	if (!json_is_array(gl) || json_array_size(gl) == 0) {
		snprintf(err, errlen, "%s: groups: must be a non-empty array of group names", ppath);
		goto out;
	}
	size_t i;
	json_array_foreach(gl, i, v) {
		char w[512];
		snprintf(w, sizeof(w), "%s: groups[%zu]", ppath, i);
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: must be a group name", w);
			goto out;
		}
		if (add_group(sb, groups, gpath, json_string_value(v), 0, w, err, errlen) < 0)
			goto out;
	}
	/* Every server talks to antd, whatever its policy lists. */
	if (add_group(sb, groups, gpath, "ant", 0, ppath, err, errlen) < 0)
		goto out;
	if ((v = json_object_get(pol, "extra"))) {
		json_t *s;
		if (!json_is_array(v)) {
			snprintf(err, errlen, "%s: extra: must be an array of syscall names", ppath);
			goto out;
		}
		json_array_foreach(v, i, s) {
			char w[512];
			snprintf(w, sizeof(w), "%s: extra[%zu]", ppath, i);
			if (!json_is_string(s) || add_syscall(sb, json_string_value(s), 0, w, err, errlen) < 0) {
				if (!json_is_string(s))
					snprintf(err, errlen, "%s: must be a syscall name", w);
				goto out;
			}
		}
	}
	if (add_group(sb, groups, gpath, "loader", 1, ppath, err, errlen) < 0)
		goto out;
#if defined(__SANITIZE_ADDRESS__)
	/* A sanitized antd runs sanitized servers: their run-time needs more. */
	if (add_group(sb, groups, gpath, "sanitizer", 0, ppath, err, errlen) < 0 ||
	    add_group(sb, groups, gpath, "sanitizer-start", 1, ppath, err, errlen) < 0)
		goto out;
#endif
	if ((v = json_object_get(pol, "action"))) {
		const char *a = json_string_value(v);
		if (a && strcmp(a, "kill") == 0)
			sb->action = SANDBOX_KILL;
		else if (a && strcmp(a, "log") == 0)
			sb->action = SANDBOX_LOG;
		else if (a && strcmp(a, "errno") == 0)
			sb->action = SANDBOX_ERRNO;
		else {
			snprintf(err, errlen, "%s: action: must be one of kill, log, errno", ppath);
			goto out;
		}
	}
	if ((v = json_object_get(pol, "user"))) {
		if (json_is_string(v) && json_string_length(v) && json_string_length(v) < sizeof(sb->user))
			snprintf(sb->user, sizeof(sb->user), "%s", json_string_value(v));
		else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 4294967295LL)
			snprintf(sb->user, sizeof(sb->user), "%lld", (long long)json_integer_value(v));
		else {
			snprintf(err, errlen, "%s: user: must be \"auto\", \"root\", a user name or a uid",
				 ppath);
			goto out;
		}
	}
	if ((v = json_object_get(pol, "rlimits"))) {
		static const char *const rk[] = { "nofile", "core_bytes", "as_bytes", NULL };
		if (!json_is_object(v)) {
			snprintf(err, errlen, "%s: rlimits: must be an object", ppath);
			goto out;
		}
		json_t *x;
		json_object_foreach(v, k, x) {
			int idx = -1;
			for (int j = 0; rk[j]; j++)
				if (strcmp(rk[j], k) == 0)
					idx = j;
			if (idx < 0 || !json_is_integer(x) || json_integer_value(x) < -1) {
				snprintf(err, errlen, "%s: rlimits.%.40s: %s", ppath, k,
					 idx < 0 ? "unknown limit (nofile, core_bytes, as_bytes)"
						 : "must be an integer (-1: unlimited)");
				goto out;
			}
			long val = (long)json_integer_value(x);
			if (idx == 0)
				sb->nofile = val;
			else if (idx == 1)
				sb->core_bytes = val;
			else
				sb->as_bytes = val;
		}
	}
	r = 0;
out:
	json_decref(groups);
	json_decref(pol);
	return r;
}

static int sandbox_rule_allows(const struct sandbox *sb, int nr)
{
	for (unsigned i = 0; i < sb->nrules; i++)
		if (sb->rules[i].nr == nr && !sb->rules[i].err)
			return 1;
	return 0;
}

unsigned sandbox_size(const struct sandbox *sb)
{
	unsigned n = 0;
	for (unsigned i = 0; i < sb->nrules; i++)
		n += sb->rules[i].err == 0;
	return n;
}

int sandbox_loader_allows(const struct sandbox *sb, int nr)
{
	for (unsigned i = 0; i < sb->nloader; i++)
		if (sb->loader[i] == nr)
			return 1;
	for (unsigned i = 0; i < sb->nrules; i++)
		if (sb->rules[i].nr == nr)
			return 1;
	return 0;
}

int sandbox_user(const struct sandbox *sb, unsigned server_id, uid_t *uid, gid_t *gid,
		 int *switch_user, char *err, size_t errlen)
{
	*switch_user = 0;
	*uid = getuid();
	*gid = getgid();
	if (geteuid() != 0 || !sb->enabled || strcmp(sb->user, "root") == 0)
		return 0;
	if (strcmp(sb->user, "auto") == 0) {
		/* A uid of its own that no other process and no file owns. */
		*uid = *gid = (uid_t)(61000 + server_id);
		*switch_user = 1;
		return 0;
	}
	char *end;
	unsigned long n = strtoul(sb->user, &end, 10);
	if (*sb->user && !*end) {
		*uid = (uid_t)n;
		*gid = (gid_t)n;
		*switch_user = n != 0;
		return 0;
	}
	struct passwd *pw = getpwnam(sb->user);
	if (!pw) {
		snprintf(err, errlen, "user \"%s\" does not exist", sb->user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	*switch_user = pw->pw_uid != 0;
	return 0;
}

void *sandbox_filter(const struct sandbox *sb, char *err, size_t errlen)
{
	uint32_t def = sb->action == SANDBOX_KILL ? SCMP_ACT_NOTIFY :
		       sb->action == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_ERRNO(EPERM);
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return NULL;
	}
	for (unsigned i = 0; i < sb->nrules; i++) {
		uint32_t act = sb->rules[i].err ? SCMP_ACT_ERRNO((uint32_t)sb->rules[i].err) : SCMP_ACT_ALLOW;
		int nr = sb->rules[i].nr;
		int r;
		if (nr == SCMP_SYS(tgkill) && act == SCMP_ACT_ALLOW) {
			continue;   /* its own process only: added in the child (sandbox_enter) */
		} else if (nr == SCMP_SYS(fcntl) && act == SCMP_ACT_ALLOW) {
			/* Not F_SETOWN/F_SETSIG: signals to other processes. */
			static const int cmds[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD,
						    F_DUPFD_CLOEXEC, F_GET_SEALS, F_ADD_SEALS, F_GETLK,
						    F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK,
						    F_OFD_SETLKW };
			r = 0;
			for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]) && r == 0; k++)
				r = seccomp_rule_add(ctx, act, nr, 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmds[k]));
		} else {
			r = seccomp_rule_add(ctx, act, nr, 0);
		}
		if (r < 0) {
			snprintf(err, errlen, "seccomp rule for %s: %s", sandbox_syscall_name(sb->rules[i].nr),
				 strerror(-r));
			seccomp_release(ctx);
			return NULL;
		}
	}
	/* Without a supervisor to ask (log, errno), the loader's calls must be
	 * allowed outright; with one, they go to antd, which allows them only
	 * until the server says ready. */
	if (sb->action != SANDBOX_KILL) {
		for (unsigned i = 0; i < sb->nloader; i++)
			seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sb->loader[i], 0);
	}
	return ctx;
}

void sandbox_filter_free(void *filter)
{
	if (filter)
		seccomp_release(filter);
}

int sandbox_enter(const struct sandbox *sb, void *filter, int sw, uid_t uid, gid_t gid,
		  int sock, const char **stage)
{
	struct rlimit rl;
	*stage = "rlimits";
	if (sb->nofile >= 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)sb->nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	if (sb->core_bytes >= 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)sb->core_bytes;
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			return -errno;
	}
	if (sb->as_bytes >= 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)sb->as_bytes;
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			return -errno;
	}
	if (sw) {
		*stage = "user switch";
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
			return -errno;
	}
	*stage = "no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (!sb->enabled || !filter)
		return 0;
	*stage = "seccomp";
	/* tgkill (raise, abort) only to itself, never to other processes. */
	if (sandbox_rule_allows(sb, SCMP_SYS(tgkill))) {
		int r = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
					 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
		if (r < 0)
			return r;
	}
	int r = seccomp_load(filter);
	if (r < 0)
		return r;
	if (sb->action != SANDBOX_KILL)
		return 0;
	int nfd = seccomp_notify_fd(filter);
	if (nfd < 0)
		return nfd;
	/* antd serves this fd: every call outside the allowlist waits on it. */
	*stage = "notify fd hand-over";
	int r2 = ant_msg_send(sock, ANT_M_SPAWN_NOTIFY, 0, NULL, 0, nfd);
	close(nfd);
	return r2;
}
