/* fault.h - the fault vocabulary: names, arguments, and which way (--via) each fault can get in. */
#ifndef ANT_FAULTINJECT_FAULT_H
#define ANT_FAULTINJECT_FAULT_H

#include <stddef.h>
#include "ant/fault.h"

/* The ways a fault gets into a server. */
enum fault_via {
	VIA_FAILPOINT = 1u << 0,  /* libant's serving loop, or a named point in its code */
	VIA_SECCOMP = 1u << 1,    /* antd answers the server's system call with an errno */
	VIA_BPF = 1u << 2,        /* an eBPF program signals it at a system call */
	VIA_SIGNAL = 1u << 3,     /* antd signals it, now or after a delay */
};

/* One row of the vocabulary. */
struct fault_kind {
	enum ant_fault kind;
	const char *name;         /* "delay" */
	const char *arg;          /* what follows "name:", NULL if nothing: "MS", "CODE", "MB",
				     "SYSCALL:ERRNO" */
	unsigned vias;            /* enum fault_via bits */
	int signal;               /* the signal it is by --via signal or bpf (0: none) */
	const char *does;         /* what the server does */
};

/* The table, in the order the docs show it; n rows. */
const struct fault_kind *fault_kinds(size_t *n);
const struct fault_kind *fault_kind_of(enum ant_fault kind);

/* A fault as the command line names it: "kill", "exit:3", "delay:200",
 * "leak:16", "errno:pread64:EIO". */
struct fault_spec {
	enum ant_fault kind;
	int arg;                  /* exit code, ms, MiB; for errno the errno */
	int syscall_nr;           /* errno: the system call (x86_64), else -1 */
	char syscall[32];         /* its name */
};

/* How the command line writes a row's fault: "delay:MS", "sandbox[:CALL]". */
void fault_kind_usage(const struct fault_kind *k, char *buf, size_t len);

/* Parse text into *out.  Returns 0, or -1 with why saying what is wrong
 * (an unknown name lists the known ones). */
int fault_parse(const char *text, struct fault_spec *out, char *why, size_t whylen);
/* Back to text: "delay:200". */
void fault_format(const struct fault_spec *f, char *buf, size_t len);

/* "failpoint", "seccomp", "bpf", "signal"; "auto" for 0. */
const char *fault_via_name(unsigned via);
/* The via of a name ("auto" is 0); -1 if none. */
int fault_via_parse(const char *name);
/* "failpoint, signal, bpf" into buf: the vias of mask. */
void fault_vias_format(unsigned mask, char *buf, size_t len);

/* An errno's name ("EIO") to its number, and a system call's name to its
 * number on this machine; -1 if unknown. */
int fault_errno_of(const char *name);
int fault_syscall_of(const char *name);
/* A system call's name by its number ("?" if unknown). */
const char *fault_syscall_name(int nr);

#endif
