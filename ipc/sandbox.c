/* sandbox.c - a server tightens its own sandbox after its init (a second seccomp filter). */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ant/sandbox.h"

#if defined(__x86_64__)
#define ANT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ANT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

size_t ant_sandbox_base(int *nrs, size_t max)
{
	static const int base[] = {
		SYS_recvmsg, SYS_sendmsg, SYS_poll, SYS_ppoll, SYS_mmap, SYS_munmap, SYS_close,
		SYS_brk, SYS_futex, SYS_exit, SYS_exit_group, SYS_rt_sigreturn, SYS_getrandom,
		SYS_write, SYS_fstat, SYS_newfstatat, SYS_clock_gettime,
	};
	size_t n = sizeof(base) / sizeof(base[0]);
	for (size_t i = 0; i < n && i < max; i++)
		nrs[i] = base[i];
	return n < max ? n : max;
}

int ant_sandbox_restrict(const int *nrs, size_t n)
{
#ifndef ANT_AUDIT_ARCH
	(void)nrs;
	(void)n;
	return -ENOSYS;
#else
	if (n > 1000)
		return -E2BIG;
	/* arch check, load nr, one compare per allowed syscall, kill. */
	size_t len = 4 + 2 * n + 1;
	struct sock_filter *f = calloc(len, sizeof(*f));
	if (!f)
		return -ENOMEM;
	size_t k = 0;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ANT_AUDIT_ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (size_t i = 0; i < n; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	struct sock_fprog prog = { .len = (unsigned short)k, .filter = f };
	/* Under antd no_new_privs is set already and prctl is not allowed;
	 * elsewhere set it first. */
	int r = 0;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			r = -errno;
	}
	free(f);
	return r;
#endif
}
