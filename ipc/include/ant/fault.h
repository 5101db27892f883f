/* fault.h - the faults ant can inject into a server, and named failpoints in server code. */
#ifndef ANT_FAULT_H
#define ANT_FAULT_H

#include <stdint.h>

/*
 * One vocabulary for every way a fault gets in (antctl inject, failpoints,
 * seccomp, eBPF, signals from antd).  The names, their arguments and which
 * way each can take are one table, faultinject/fault.c; these numbers travel
 * in ANT_M_FAULT (proto.h), so they never change meaning.
 */
enum ant_fault {
	ANT_FAULT_NONE = 0,
	ANT_FAULT_KILL,          /* dies by SIGKILL */
	ANT_FAULT_SEGV,          /* crashes by SIGSEGV */
	ANT_FAULT_ABORT,         /* crashes by SIGABRT */
	ANT_FAULT_EXIT,          /* exits with arg */
	ANT_FAULT_HANG,          /* stops answering, stays alive */
	ANT_FAULT_SPIN,          /* burns CPU without answering */
	ANT_FAULT_DELAY,         /* answers arg ms later */
	ANT_FAULT_DROP,          /* never answers this request */
	ANT_FAULT_CORRUPT,       /* replies with a control ICA whose frames are damaged */
	ANT_FAULT_CORRUPT_DATA,  /* flips bits in the data ICA it answers with, if it may write it */
	ANT_FAULT_SANDBOX,       /* makes a system call its sandbox forbids */
	ANT_FAULT_LEAK,          /* grows its memory by arg MiB */
	ANT_FAULT_EXHAUST,       /* asks antd for data ICAs until refused */
	ANT_FAULT_ERRNO,         /* a system call fails with an errno (seccomp; not a failpoint) */
	ANT_FAULT_MAX
};

/* sandbox's argument: which forbidden call it makes. */
enum ant_sandbox_call {
	ANT_SANDBOX_SOCKET, ANT_SANDBOX_OPENAT, ANT_SANDBOX_EXECVE, ANT_SANDBOX_PTRACE,
	ANT_SANDBOX_TGKILL, ANT_SANDBOX_SETOWN,
};

struct ant_conn;

/* A fault's probability draw for its k-th request, hit or call: one step of
 * splitmix64 from seed + k, so that the same seed fires at the same k.
 * (antd's triggers and libant's named points both use it.) */
static inline uint64_t ant_fault_draw(uint64_t seed, uint64_t k)
{
	uint64_t z = seed + k * 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * A named failpoint in a server's own code, e.g. before the cache asks the
 * disk: ANT_FAILPOINT(c, "cache.before_disk_read").  Unarmed, it costs one
 * predictable branch.  Armed by antd (antctl inject SERVER FAULT --point
 * NAME), it fires as its trigger says (its Nth hit, a probability...): the
 * process dies, hangs, spins or sleeps there, as the fault says.  Names are
 * up to 31 bytes: SERVER.WHERE by convention.
 */
extern int ant_failpoints_armed;   /* private: nonzero while any point is armed */
void ant_failpoint_hit(struct ant_conn *c, const char *name);
#ifdef ANT_NO_FAILPOINTS   /* meson -Dfailpoints=false: to measure their cost */
#define ANT_FAILPOINT(c, name) ((void)(c), (void)(name))
#else
#define ANT_FAILPOINT(c, name)                                                   \
	do {                                                                     \
		if (__builtin_expect(ant_failpoints_armed, 0))                   \
			ant_failpoint_hit((c), (name));                           \
	} while (0)
#endif

#endif
