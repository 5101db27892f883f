/* sandbox.h - a server tightens its own sandbox after its init (a second seccomp filter). */
#ifndef ANT_SANDBOX_H
#define ANT_SANDBOX_H

#include <stddef.h>

/*
 * antd starts every server under its policy's filter (policies/sandbox/).
 * Once its init is done a server may add a stricter filter of its own: only
 * the syscalls in nrs (SYS_* numbers) stay allowed; any other ends the
 * process with SIGSYS.  Filters only add up: the stricter answer wins, so
 * this can never allow what antd's filter forbids.  Sets no_new_privs.
 * Returns 0 or -errno.
 */
int ant_sandbox_restrict(const int *nrs, size_t n);

/* The syscalls libant itself needs to serve (talk to antd, map ICAs, exit):
 * a base for ant_sandbox_restrict.  Returns how many, written to nrs (at
 * most max). */
size_t ant_sandbox_base(int *nrs, size_t max);

#endif
