/* sandbox.c - a server's sandbox: seccomp allowlist from named syscall groups, its user, its rlimits. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ant/proto.h"
#include "config.h"
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

/* config_read stores an enum as an int. */
_Static_assert(sizeof(enum sandbox_action) == sizeof(int), "sandbox_action must be int-sized");

/* A sandbox policy being read, and the groups.json it draws on. */
struct reading {
	struct sandbox *sb;
	json_t *pol;              /* the policy object */
	struct config_err pe;     /* its file: the policy file, or the stack file if inline */
	const char *root;         /* its key in that file: "" or "servers[0].sandbox" */
	json_t *groups;           /* groups.json */
	struct config_err ge;     /* groups.json's path */
};

static int errno_named(const char *name)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strcmp(name, errnos[i].name) == 0)
			return errnos[i].err;
	return 0;
}

/* nr to the loader list, once. */
static int add_loader(struct sandbox *sb, int nr, const struct config_err *e, const char *key)
{
	for (unsigned i = 0; i < sb->nloader; i++)
		if (sb->loader[i] == nr)
			return 0;
	if (sb->nloader == SANDBOX_RULES_MAX)
		return config_fail(e, key, "too many syscalls");
	sb->loader[sb->nloader++] = nr;
	return 0;
}

/* nr (allowed, or failing with errno err) to the rules, once. */
static int add_rule(struct sandbox *sb, int nr, int err, const struct config_err *e,
		    const char *key)
{
	for (unsigned i = 0; i < sb->nrules; i++) {
		if (sb->rules[i].nr == nr) {
			if (!err)
				sb->rules[i].err = 0;   /* allowed wins over an errno */
			return 0;
		}
	}
	if (sb->nrules == SANDBOX_RULES_MAX)
		return config_fail(e, key, "too many syscalls");
	sb->rules[sb->nrules].nr = nr;
	sb->rules[sb->nrules].err = err;
	sb->nrules++;
	return 0;
}

/* Add "name" or "name=ERRNO", found at key of e's file, to the rules (or
 * to the loader list). */
static int add_syscall(struct sandbox *sb, const char *entry, int loader,
		       const struct config_err *e, const char *key)
{
	char name[64];
	const char *eq = strchr(entry, '=');
	size_t n = eq ? (size_t)(eq - entry) : strlen(entry);
	int nr, err = 0;

	if (n == 0 || n >= sizeof(name))
		return config_fail(e, key, "%s is not a syscall name", config_quote(entry).s);
	memcpy(name, entry, n);
	name[n] = '\0';
	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return config_fail(e, key, "unknown syscall %s", config_quote(name).s);
	if (eq && !(err = errno_named(eq + 1)))
		return config_fail(e, key, "%s: unknown errno %s", config_quote(entry).s,
				   config_quote(eq + 1).s);
	return loader ? add_loader(sb, nr, e, key) : add_rule(sb, nr, err, e, key);
}

/* Every syscall of groups.json's group (named at key of the policy). */
static int add_group(struct reading *r, const char *group, int loader, const char *key)
{
	json_t *g = json_object_get(r->groups, group), *list, *s;
	size_t i;

	if (!g)
		return config_fail(&r->pe, key, "unknown syscall group %s (groups are in %s)",
				   config_quote(group).s, r->ge.file);
	list = json_object_get(g, "syscalls");
	if (!json_is_array(list) || !json_is_string(json_object_get(g, "reason")))
		return config_fail(&r->ge, group, "needs \"reason\" (a string) and \"syscalls\" "
				   "(an array)");
	json_array_foreach(list, i, s) {
		struct config_key k = config_index(config_key(group, "syscalls").s, i);
		const char *name = config_string(&r->ge, k.s, s, 0);

		if (!name || add_syscall(r->sb, name, loader, &r->ge, k.s) < 0)
			return -1;
	}
	return 0;
}

/* The policy's "groups" (group names, at least one) or "extra" (syscall names). */
static int add_listed(struct reading *r, const char *member, int groups)
{
	struct config_key key = config_key(r->root, member);
	json_t *list = json_object_get(r->pol, member), *v;
	const char *what = groups ? "group" : "syscall";
	size_t i;

	if (!list && !groups)
		return 0;
	if (!json_is_array(list) || (groups && json_array_size(list) == 0))
		return config_fail(&r->pe, key.s, "must be a %sarray of %s names",
				   groups ? "non-empty " : "", what);
	json_array_foreach(list, i, v) {
		struct config_key k = config_index(key.s, i);
		const char *name = json_string_value(v);

		if (!name)
			return config_fail(&r->pe, k.s, "must be a %s name, got %s", what,
					   config_type_name(v));
		if ((groups ? add_group(r, name, 0, k.s) : add_syscall(r->sb, name, 0, &r->pe, k.s)) < 0)
			return -1;
	}
	return 0;
}

/* "user": "auto", "root", a user name, or a uid. */
static int read_user(const struct config_err *e, const char *key, json_t *v, void *base)
{
	struct sandbox *sb = base;

	if (json_is_string(v) && json_string_length(v) && json_string_length(v) < sizeof(sb->user))
		snprintf(sb->user, sizeof(sb->user), "%s", json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		 json_integer_value(v) < 4294967295LL)
		snprintf(sb->user, sizeof(sb->user), "%lld", (long long)json_integer_value(v));
	else
		return config_fail(e, key, "must be \"auto\", \"root\", a user name or a uid");
	return 0;
}

static const char *const action_names[] = { "kill", "log", "errno", NULL };

#define AT(field) offsetof(struct sandbox, field)

static const struct config_field rlimit_fields[] = {
	{ .key = "nofile", .type = CONFIG_LONG, .offset = AT(nofile), .min = -1, .max = LLONG_MAX },
	{ .key = "core_bytes", .type = CONFIG_LONG, .offset = AT(core_bytes), .min = -1,
	  .max = LLONG_MAX },
	{ .key = "as_bytes", .type = CONFIG_LONG, .offset = AT(as_bytes), .min = -1,
	  .max = LLONG_MAX },
	{ .key = NULL }
};

/* Every key of a sandbox policy (docs/security.md); "groups" and "extra"
 * are read by add_listed, in the order the rules are built. */
static const struct config_field sandbox_fields[] = {
	{ .key = "description", .type = CONFIG_TEXT },
	{ .key = "groups", .type = CONFIG_ANY },
	{ .key = "extra", .type = CONFIG_ANY },
	{ .key = "action", .type = CONFIG_ENUM, .offset = AT(action), .names = action_names },
	{ .key = "user", .type = CONFIG_CUSTOM, .read = read_user },
	{ .key = "rlimits", .type = CONFIG_OBJECT, .fields = rlimit_fields },
	{ .key = NULL }
};

#undef AT

/* The policy's keys into r->sb, then its syscalls: its groups, "ant" (every
 * server talks to antd, whatever its policy lists), its extra calls, and the
 * loader's. */
static int read_policy(struct reading *r)
{
	if (config_read(&r->pe, r->root, r->pol, sandbox_fields, r->sb) < 0 ||
	    add_listed(r, "groups", 1) < 0 || add_group(r, "ant", 0, r->root) < 0 ||
	    add_listed(r, "extra", 0) < 0 || add_group(r, "loader", 1, r->root) < 0)
		return -1;
#if defined(__SANITIZE_ADDRESS__)
	/* A sanitized antd runs sanitized servers: their run-time needs more. */
	if (add_group(r, "sanitizer", 0, r->root) < 0 ||
	    add_group(r, "sanitizer-start", 1, r->root) < 0)
		return -1;
#endif
	return 0;
}

/* Find file along search and load it (its path into path); NULL with err
 * at key of e's file when no folder has it. */
static json_t *load_found(const struct config_err *e, const char *key, const char *file,
			  const char *search, char *path, size_t plen)
{
	if (config_find(search, file, path, plen) < 0) {
		config_fail(e, key, "no %s in %s", file, search && *search ? search : "no folder");
		return NULL;
	}
	return config_load(path, e->buf, e->len);
}

int sandbox_load(struct sandbox *sb, const char *name, json_t *inline_obj, const char *search,
		 const char *file, const char *key, char *err, size_t errlen)
{
	struct config_err se = { file, err, errlen };
	char ppath[PATH_MAX], gpath[PATH_MAX], pfile[128];
	struct reading r = { .sb = sb, .pe = se, .root = "", .ge = { gpath, err, errlen } };
	int ret = -1;

	sandbox_defaults(sb);
	if (!inline_obj && strcmp(name, "none") == 0) {
		snprintf(sb->name, sizeof(sb->name), "none");
		sb->enabled = 0;
		return 0;
	}
	if (inline_obj) {
		r.pol = json_incref(inline_obj);
		r.root = key;
		snprintf(sb->name, sizeof(sb->name), "inline");
	} else {
		if (!config_is_name(name) || strlen(name) >= sizeof(sb->name))
			return config_fail(&se, key, "%s is not a sandbox policy name",
					   config_quote(name).s);
		snprintf(pfile, sizeof(pfile), "sandbox/%s.json", name);
		if (!(r.pol = load_found(&se, key, pfile, search, ppath, sizeof(ppath))))
			return -1;
		r.pe.file = ppath;
		snprintf(sb->name, sizeof(sb->name), "%s", name);
	}
	r.groups = load_found(&se, key, "sandbox/groups.json", search, gpath, sizeof(gpath));
	if (r.groups)
		ret = read_policy(&r);
	json_decref(r.groups);
	json_decref(r.pol);
	return ret;
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

int sandbox_injectable(const struct sandbox *sb, int nr)
{
	for (unsigned i = 0; i < sb->ninjectable; i++)
		if (sb->injectable[i] == nr)
			return 1;
	return 0;
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

/* The seccomp filter for sb as a libseccomp context, or NULL with err. */
static scmp_filter_ctx sandbox_filter(const struct sandbox *sb, char *err, size_t errlen)
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
		/* An injectable call has no rule: the default action (notify,
		 * with action kill) brings it to antd, which lets it run (or
		 * fails it with an injected errno). */
		if (act == SCMP_ACT_ALLOW && sandbox_injectable(sb, nr))
			continue;
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

/* The pid sandbox_program writes into tgkill's rule, for the child to
 * find and replace with its own: no syscall number, action or architecture
 * token has this value. */
#define PID_MARK 0x5ec0f1d5u

int sandbox_program(const struct sandbox *sb, struct sandbox_prog *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->pid_at = -1;
	scmp_filter_ctx ctx = sandbox_filter(sb, err, errlen);
	if (!ctx)
		return -1;
	int r = 0, fd = -1;
	/* tgkill (raise, abort) only to itself, never to other processes. */
	int own_pid = sandbox_rule_allows(sb, SCMP_SYS(tgkill));
	if (own_pid)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)PID_MARK));
	if (r == 0 && (fd = memfd_create("ant-seccomp", MFD_CLOEXEC)) < 0)
		r = -errno;
	if (r == 0)
		r = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	off_t size = r == 0 ? lseek(fd, 0, SEEK_END) : -1;
	if (r == 0 && (size <= 0 || size % sizeof(struct sock_filter) ||
		       size / sizeof(struct sock_filter) > BPF_MAXINSNS))
		r = -EINVAL;
	if (r == 0 && !(p->insns = malloc((size_t)size)))
		r = -ENOMEM;
	if (r == 0 && pread(fd, p->insns, (size_t)size, 0) != size)
		r = -EIO;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(-r));
		sandbox_program_free(p);
		return -1;
	}
	p->len = (unsigned short)(size / sizeof(struct sock_filter));
	p->notify = sb->action == SANDBOX_KILL;
	struct sock_filter *f = p->insns;
	unsigned marks = 0;
	for (unsigned i = 0; i < p->len; i++)
		if (f[i].k == PID_MARK && BPF_CLASS(f[i].code) == BPF_JMP) {
			p->pid_at = (int)i;
			marks++;
		}
	if (own_pid && marks != 1) {
		snprintf(err, errlen, "seccomp filter: tgkill's pid check is not where antd looks for "
			 "it (%u places; a libseccomp that builds filters differently)", marks);
		sandbox_program_free(p);
		return -1;
	}
	if (!own_pid)
		p->pid_at = -1;
	return 0;
}

void sandbox_program_free(struct sandbox_prog *p)
{
	free(p->insns);
	p->insns = NULL;
	p->len = 0;
}

int sandbox_enter(const struct sandbox *sb, struct sandbox_prog *prog, int sw, uid_t uid,
		  gid_t gid, int sock, const char **stage)
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
	if (!sb->enabled || !prog || !prog->insns)
		return 0;
	*stage = "seccomp";
	if (prog->pid_at >= 0)
		((struct sock_filter *)prog->insns)[prog->pid_at].k = (uint32_t)getpid();
	struct sock_fprog fp = { .len = prog->len, .filter = prog->insns };
	long nfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			   prog->notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0u, &fp);
	if (nfd < 0)
		return -errno;
	if (!prog->notify)
		return 0;
	/* antd serves this fd: every call outside the allowlist waits on it. */
	*stage = "notify fd hand-over";
	int r2 = ant_msg_send(sock, ANT_M_SPAWN_NOTIFY, 0, NULL, 0, (int)nfd);
	close((int)nfd);
	return r2;
}
