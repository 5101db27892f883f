/* bpf_inject.h - the eBPF injector: signal a process at its Nth system call, or by a seeded draw. */
#ifndef ANT_BPF_INJECT_H
#define ANT_BPF_INJECT_H

#include <stddef.h>
#include <stdint.h>

/*
 * An eBPF program on raw_tp/sys_enter watches the system calls of the
 * processes that armed slots name.  When a slot's trigger says so, it sends
 * the process a signal (bpf_send_signal) and reports an event through a ring
 * buffer.  The signal arrives *after* that system call has run (on its way
 * back to user space): this kernel lets eBPF signal a process, not make a
 * call fail (for errors, see ANT_FAULT_ERRNO: seccomp).
 *
 * Counting.  A slot counts the matching calls of its process (every thread
 * of it; not its children) from the moment it is armed: the first is k = 1.
 * It fires at k == nth (nth != 0), and at every k where
 *	splitmix64(seed + k) % 1000000 < prob_ppm            (prob_ppm != 0)
 * where splitmix64(x) is one step of Steele, Lea and Flood's generator from
 * state x (bpf_inject_abi.h).  The draw depends on seed and k alone: a
 * process that makes the same calls in the same order fires at the same k
 * every run.  Threads racing get distinct k but in no promised order.
 *
 * Slots.  A slot disarms itself after count firings (count != 0), and after
 * its nth when it has no probability (it cannot fire again).  It stays
 * taken until bpf_injector_poll() has reported that last event (which says
 * disarmed) or bpf_injector_disarm() frees it: a slot number changes hands
 * only through the caller's own calls.  Should the ring buffer overflow
 * (bpf_injector_lost()), a last event can be lost: disarm such a slot.
 *
 * Pids are the kernel's (the initial pid namespace's), as antd sees them
 * when it is not itself in a pid namespace.  Only x86_64 system calls: a
 * 32-bit process's calls carry its ia32 numbers and match by those.
 *
 * Cost.  The program is attached only while some slot is taken; then
 * every system call of every process on the machine passes through it
 * (most stop at its first look-up: not a target).  With no slot taken,
 * loaded or not, nothing is paid.  Figures: bpf_inject_cost.c.
 *
 * Needs root: CAP_BPF and CAP_PERFMON (tracing, bpf_send_signal).  Its fds
 * are close-on-exec.  Single-threaded: all calls on one injector from one
 * thread.  Nothing here prints, logs or exits; failures return -errno.
 */

#define BPF_INJECT_SLOTS 16u

struct bpf_injector;

struct bpf_inject_spec {
	int pid;               /* the target process (tgid), > 0 */
	int syscall_nr;        /* x86_64 number (bpf_syscall_nr()), -1 for any call */
	uint64_t nth;          /* fire at the nth matching call; 0: not by position */
	uint32_t prob_ppm;     /* fire with this chance per call, parts per million
	                        * (0..1000000); 0: not by chance */
	uint64_t seed;         /* for the draw; the same seed, the same k */
	int signal;            /* sent to the process: SIGKILL, SIGSEGV, SIGABRT,
	                        * SIGSTOP, a handled SIGUSR1... (1..64) */
	uint32_t count;        /* fire this many times, then disarm; 0: until disarmed */
};

struct bpf_inject_event {
	unsigned slot;
	int pid;               /* tgid */
	int tid;               /* the thread that made the call */
	int syscall_nr;        /* the call at which it fired */
	int signal;
	uint64_t k;            /* the index of that call among the slot's matches, from 1 */
	uint64_t ktime_ns;     /* CLOCK_MONOTONIC */
	int error;             /* 0, or -errno: bpf_send_signal() failed, nothing was sent */
	int disarmed;          /* this firing was the slot's last; its number is free now */
	int stale;             /* it fired for an arming of this slot that the caller
	                        * has since disarmed or retargeted (not polled first) */
};

/*
 * Load the program, and attach it once to see that it works (it stays
 * attached only while a slot is taken).  On success *out is the injector
 * (free with bpf_injector_close()) and 0 is returned; on failure -errno,
 * *out is NULL and why says what went wrong: -EPERM "eBPF needs root
 * (CAP_BPF and CAP_PERFMON): ..." without the privileges, else libbpf's
 * reason (and the verifier's).  RLIMIT_MEMLOCK is left alone (see
 * bpf_inject.c).
 */
int bpf_injector_open(struct bpf_injector **out, char *why, size_t whylen);

/*
 * Arm a free slot with *s; its number in *slot.  -EINVAL for a bad spec:
 * pid <= 0, syscall_nr neither -1 nor a known x86_64 call, neither nth nor
 * prob_ppm, prob_ppm over 1000000, signal out of 1..64.  -ENOSPC when all
 * BPF_INJECT_SLOTS slots are taken.  nth and prob_ppm together: it fires at
 * the nth and wherever the draw says.
 */
int bpf_injector_arm(struct bpf_injector *b, const struct bpf_inject_spec *s, unsigned *slot);

/*
 * The process restarted: the same fault on pid now.  The counters restart
 * (k from 1, the count of firings from 0), as if the slot had just been
 * armed for pid: a restarted server meets its fault at the same call again.
 * -EINVAL for a bad slot number or pid <= 0, -ENOENT if the slot is not
 * armed: free, or it fired its last (poll, then arm it again).  Events of
 * the old pid not yet polled will say stale.
 */
int bpf_injector_retarget(struct bpf_injector *b, unsigned slot, int pid);

/*
 * Disarm a slot and free it: from now it fires no more.  Its events still
 * in the ring buffer are reported by bpf_injector_poll() all the same
 * (their signals were sent), as stale.  -EINVAL for a bad slot number,
 * -ENOENT if it is free; one that fired its last and was not polled yet is
 * freed, 0.
 */
int bpf_injector_disarm(struct bpf_injector *b, unsigned slot);

/* The ring buffer's epoll fd: readable when events wait.  Owned by b. */
int bpf_injector_fd(const struct bpf_injector *b);

/*
 * Report every event waiting, oldest first, through cb(arg, ev), without
 * blocking; ev lives for the call only.  cb may arm, retarget and disarm,
 * not poll.  Returns how many, or -errno.
 */
int bpf_injector_poll(struct bpf_injector *b,
		      void (*cb)(void *arg, const struct bpf_inject_event *ev), void *arg);

/* Events that fired (their signals were sent) but found the ring buffer full. */
uint64_t bpf_injector_lost(const struct bpf_injector *b);

/* Detach and unload; pending signals stay sent.  Accepts NULL. */
void bpf_injector_close(struct bpf_injector *b);

/* The x86_64 number of a system call by name (libseccomp's table), or -ENOENT. */
int bpf_syscall_nr(const char *name);

/* The name of x86_64 system call nr, or NULL if there is none.  The string
 * is the library's and lives as long as the process. */
const char *bpf_syscall_name(int nr);

#endif
