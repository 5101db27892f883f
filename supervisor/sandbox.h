/* sandbox.h - a server's sandbox: seccomp allowlist from named syscall groups, its user, its rlimits. */
#ifndef ANTD_SANDBOX_H
#define ANTD_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#define SANDBOX_RULES_MAX 512
#define SANDBOX_INJECTABLE_MAX 32

enum sandbox_action {
	SANDBOX_KILL,    /* antd reports "sandbox violation: NAME (NR)" and kills it with SIGSYS */
	SANDBOX_LOG,     /* allowed, and logged by the kernel (SCMP_ACT_LOG): writing a policy */
	SANDBOX_ERRNO,   /* the call fails with EPERM */
};

struct sandbox_rule {
	int nr;          /* syscall number on this architecture */
	int err;         /* 0: allowed; else the call fails with this errno */
};

struct sandbox {
	char name[64];                    /* policy file name, "inline" or "none" */
	int enabled;                      /* 0: "sandbox": "none" */
	enum sandbox_action action;
	unsigned nrules;                  /* allowed after ready */
	struct sandbox_rule rules[SANDBOX_RULES_MAX];
	unsigned nloader;                 /* allowed before ready too (loader, sanitizer) */
	int loader[SANDBOX_RULES_MAX];
	char user[64];                    /* "auto", "root", a name or a number */
	long nofile;                      /* RLIMIT_NOFILE (-1: leave) */
	long core_bytes;                  /* RLIMIT_CORE */
	long as_bytes;                    /* RLIMIT_AS (-1: unlimited) */
	unsigned ninjectable;             /* allowed calls that go through antd, so that an
					     errno fault can fail them (the stack file's
					     "injectable", set by stack_resolve_policies) */
	int injectable[SANDBOX_INJECTABLE_MAX];
};

/* Is system call nr one of sb's injectable ones? */
int sandbox_injectable(const struct sandbox *sb, int nr);

/* Defaults: enabled, policy "default" not yet loaded, kill, user auto,
 * nofile 4096 (a cache keeps one fd per block), no core files, no address-space
 * limit. */
void sandbox_defaults(struct sandbox *sb);

/*
 * Fill sb from a sandbox policy: NAME (sandbox/NAME.json in the ':'-separated
 * dirs of search) or inline_obj (then NAME is ignored and may be NULL), with
 * the groups of sandbox/groups.json from the same dirs.  "none" disables the
 * sandbox.  file and key say where the stack file names the policy (say
 * "chain.json", "servers[0].sandbox"): errors about finding it, and about an
 * inline policy, are written there.  Returns 0, or -1 with err naming the
 * file, the key and the unknown group or syscall.  sb holds no resources.
 */
int sandbox_load(struct sandbox *sb, const char *name, json_t *inline_obj, const char *search,
		 const char *file, const char *key, char *err, size_t errlen);

/* Number of distinct syscalls allowed once ready (for antctl status). */
unsigned sandbox_size(const struct sandbox *sb);

/* Is nr allowed before the server says ready (the loader's needs)? */
int sandbox_loader_allows(const struct sandbox *sb, int nr);

/* The uid/gid a server runs as: 0 = leave as antd's own.  Returns 0, or -1
 * with err ("user \"x\" does not exist"). */
int sandbox_user(const struct sandbox *sb, unsigned server_id, uid_t *uid, gid_t *gid,
		 int *switch_user, char *err, size_t errlen);

/*
 * A server's seccomp filter as the kernel takes it (classic BPF), made from
 * its sandbox with libseccomp once, before any fork, and installed in each
 * child with one system call: libseccomp run in a freshly forked child cost
 * about 2 ms a start (copy-on-write faults on its tables), most of a cold
 * restart's time in the sandbox.  tgkill is allowed to the process itself
 * only: its pid, unknown before the fork, is written into the one
 * instruction that compares it (pid_at) in the child.
 */
struct sandbox_prog {
	void *insns;         /* struct sock_filter[len] */
	unsigned short len;
	int pid_at;          /* the instruction that holds tgkill's pid, -1: none */
	int notify;          /* installed with a listener, for antd to judge calls */
};

/* Make p for sb (in the forker, before fork).  0, or -1 with err. */
int sandbox_program(const struct sandbox *sb, struct sandbox_prog *p, char *err, size_t errlen);
void sandbox_program_free(struct sandbox_prog *p);

/*
 * In the child, between fork and exec: rlimits, user switch, no_new_privs,
 * the seccomp filter prog (NULL: none; its pid is written in, in the child's
 * copy); then the filter's notification fd goes to antd over sock.  Returns
 * 0 or -errno with *stage naming what failed.
 */
int sandbox_enter(const struct sandbox *sb, struct sandbox_prog *prog, int sw, uid_t uid,
		  gid_t gid, int sock, const char **stage);

/* Name of syscall nr ("openat"), or "?" */
const char *sandbox_syscall_name(int nr);

#endif
