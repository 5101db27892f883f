/* fault.c - the fault vocabulary: names, arguments, and which way (--via) each fault can get in. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "fault.h"

#define FP VIA_FAILPOINT
static const struct fault_kind kinds[] = {
	{ ANT_FAULT_KILL, "kill", NULL, FP | VIA_SIGNAL | VIA_BPF, SIGKILL, "dies by SIGKILL" },
	{ ANT_FAULT_SEGV, "segv", NULL, FP | VIA_SIGNAL | VIA_BPF, SIGSEGV, "crashes by SIGSEGV" },
	{ ANT_FAULT_ABORT, "abort", NULL, FP | VIA_SIGNAL | VIA_BPF, SIGABRT, "crashes by SIGABRT" },
	{ ANT_FAULT_EXIT, "exit", "CODE", FP, 0, "exits with CODE" },
	{ ANT_FAULT_HANG, "hang", NULL, FP | VIA_SIGNAL | VIA_BPF, SIGSTOP,
	  "stops answering and stays alive (by signal or bpf: SIGSTOP)" },
	{ ANT_FAULT_SPIN, "spin", NULL, FP, 0, "burns CPU without answering" },
	{ ANT_FAULT_DELAY, "delay", "MS", FP, 0, "answers MS milliseconds later" },
	{ ANT_FAULT_DROP, "drop", NULL, FP, 0, "never answers the request, keeps serving others" },
	{ ANT_FAULT_CORRUPT, "corrupt", NULL, FP, 0,
	  "sends back a control ICA with damaged frames" },
	{ ANT_FAULT_CORRUPT_DATA, "corrupt-data", NULL, FP, 0,
	  "flips bits in the data ICA it answers with (only one it may write)" },
	{ ANT_FAULT_SANDBOX, "sandbox", "[CALL]", FP, 0,
	  "makes a system call its sandbox forbids: socket, or CALL (openat, execve, ptrace, "
	  "tgkill, setown)" },
	{ ANT_FAULT_LEAK, "leak", "MB", FP, 0, "grows its memory by MB per request" },
	{ ANT_FAULT_EXHAUST, "exhaust", NULL, FP, 0, "asks antd for data ICAs until refused" },
	{ ANT_FAULT_ERRNO, "errno", "SYSCALL:ERRNO", VIA_SECCOMP, 0,
	  "that system call of the server fails with ERRNO" },
};
#undef FP

/* sandbox:CALL, in the order of enum ant_sandbox_call (ant/fault.h). */
static const char *const sandbox_calls[] = { "socket", "openat", "execve", "ptrace", "tgkill",
					     "setown" };

const struct fault_kind *fault_kinds(size_t *n)
{
	*n = sizeof(kinds) / sizeof(kinds[0]);
	return kinds;
}

const struct fault_kind *fault_kind_of(enum ant_fault kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == kind)
			return &kinds[i];
	return NULL;
}

void fault_kind_usage(const struct fault_kind *k, char *buf, size_t len)
{
	if (!k->arg)
		snprintf(buf, len, "%s", k->name);
	else if (k->arg[0] == '[')   /* optional: "[CALL]" */
		snprintf(buf, len, "%s[:%.*s]", k->name, (int)strlen(k->arg) - 2, k->arg + 1);
	else
		snprintf(buf, len, "%s:%s", k->name, k->arg);
}

int fault_errno_of(const char *name)
{
	for (int e = 1; e < 134; e++) {
		const char *n = strerrorname_np(e);
		if (n && strcmp(n, name) == 0)
			return e;
	}
	return -1;
}

int fault_syscall_of(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);
	return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

const char *fault_syscall_name(int nr)
{
	static char buf[64];   /* libseccomp's name is malloc'd: keep the last one */
	char *n = nr >= 0 ? seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr) : NULL;
	snprintf(buf, sizeof(buf), "%s", n ? n : "?");
	free(n);
	return buf;
}

/* A whole decimal number from lo to hi, or -1. */
static long number(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	return v;
}

int fault_parse(const char *text, struct fault_spec *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	out->syscall_nr = -1;
	size_t n = strcspn(text, ":");
	const char *arg = text[n] == ':' ? text + n + 1 : NULL;
	const struct fault_kind *k = NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == n && strncmp(text, kinds[i].name, n) == 0)
			k = &kinds[i];
	if (!k) {
		size_t o = (size_t)snprintf(why, whylen, "unknown fault '%.*s' (known:", (int)n, text);
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && o < whylen; i++) {
			char u[48];
			fault_kind_usage(&kinds[i], u, sizeof(u));
			o += (size_t)snprintf(why + o, whylen - o, " %s", u);
		}
		if (o < whylen)
			snprintf(why + o, whylen - o, ")");
		return -1;
	}
	out->kind = k->kind;
	if (!k->arg && arg) {
		snprintf(why, whylen, "fault %s takes no argument, got '%s'", k->name, arg);
		return -1;
	}
	int optional = k->arg && k->arg[0] == '[';
	if (k->arg && !arg && !optional) {
		snprintf(why, whylen, "fault %s needs its argument: %s:%s", k->name, k->name, k->arg);
		return -1;
	}
	long v = 0;
	switch (k->kind) {
	case ANT_FAULT_EXIT:
		v = number(arg, 0, 255);
		if (v < 0)
			snprintf(why, whylen, "exit:CODE: expected an exit code from 0 to 255, got '%s'", arg);
		break;
	case ANT_FAULT_DELAY:
		v = number(arg, 1, 3600000);
		if (v < 0)
			snprintf(why, whylen, "delay:MS: expected milliseconds from 1 to 3600000, got '%s'", arg);
		break;
	case ANT_FAULT_LEAK:
		v = number(arg, 1, 65536);
		if (v < 0)
			snprintf(why, whylen, "leak:MB: expected MiB from 1 to 65536, got '%s'", arg);
		break;
	case ANT_FAULT_SANDBOX:
		v = arg ? -1 : 0;
		for (size_t i = 0; arg && i < sizeof(sandbox_calls) / sizeof(sandbox_calls[0]); i++)
			if (strcmp(arg, sandbox_calls[i]) == 0)
				v = (long)i;
		if (v < 0)
			snprintf(why, whylen, "sandbox:CALL: expected socket, openat, execve, ptrace, "
				 "tgkill or setown, got '%s'", arg);
		break;
	case ANT_FAULT_ERRNO: {
		size_t m = strcspn(arg, ":");
		if (!arg[m] || m == 0 || m >= sizeof(out->syscall)) {
			snprintf(why, whylen, "errno:SYSCALL:ERRNO: expected e.g. errno:pread64:EIO, got "
				 "'%s'", text);
			return -1;
		}
		memcpy(out->syscall, arg, m);
		out->syscall[m] = '\0';
		out->syscall_nr = fault_syscall_of(out->syscall);
		if (out->syscall_nr < 0) {
			snprintf(why, whylen, "errno: unknown system call '%s'", out->syscall);
			return -1;
		}
		const char *e = arg + m + 1;
		v = fault_errno_of(e);
		if (v < 0)
			v = number(e, 1, 133);
		if (v < 0)
			snprintf(why, whylen, "errno: unknown errno '%s' (a name like EIO, or 1 to 133)", e);
		break;
	}
	default:
		break;
	}
	if (v < 0)
		return -1;
	out->arg = (int)v;
	return 0;
}

void fault_format(const struct fault_spec *f, char *buf, size_t len)
{
	const struct fault_kind *k = fault_kind_of(f->kind);
	if (!k)
		snprintf(buf, len, "?");
	else if (f->kind == ANT_FAULT_ERRNO)
		snprintf(buf, len, "errno:%s:%s", f->syscall,
			 strerrorname_np(f->arg) ? strerrorname_np(f->arg) : "?");
	else if (f->kind == ANT_FAULT_SANDBOX)
		snprintf(buf, len, "sandbox%s%s", f->arg ? ":" : "",
			 f->arg ? sandbox_calls[(size_t)f->arg % 6] : "");
	else if (k->arg)
		snprintf(buf, len, "%s:%d", k->name, f->arg);
	else
		snprintf(buf, len, "%s", k->name);
}

static const char *const via_names[] = { "failpoint", "seccomp", "bpf", "signal" };

const char *fault_via_name(unsigned via)
{
	for (unsigned i = 0; i < 4; i++)
		if (via == 1u << i)
			return via_names[i];
	return "auto";
}

int fault_via_parse(const char *name)
{
	if (strcmp(name, "auto") == 0)
		return 0;
	for (unsigned i = 0; i < 4; i++)
		if (strcmp(name, via_names[i]) == 0)
			return (int)(1u << i);
	return -1;
}

void fault_vias_format(unsigned mask, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < 4 && o < len; i++)
		if (mask & (1u << i))
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", via_names[i]);
}
