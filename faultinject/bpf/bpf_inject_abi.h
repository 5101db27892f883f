/* bpf_inject_abi.h - what inject.bpf.c and bpf_inject.c share: the slot and event layouts, the firing rule. */
#ifndef ANT_BPF_INJECT_ABI_H
#define ANT_BPF_INJECT_ABI_H

/*
 * Included by the BPF program (types from vmlinux.h) and by the library
 * (types from <linux/types.h>); private to faultinject/bpf/.  antd sees
 * bpf_inject.h only.
 *
 * Who writes what:
 *   slots[i]      the library writes a whole slot while no tgid's bit points
 *                 at it (arm, retarget, disarm); the program only adds to
 *                 seen and fired, and sets state DONE when the slot has
 *                 fired its last.
 *   tgids[tgid]   the library alone: bit i set while slot i targets tgid.
 *                 The program is attached only while there are any, and
 *                 looks its process up here first.
 *   lost          the program alone: events the ring buffer had no room for.
 */

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define INJECT_SLOTS    16u
#define INJECT_PPM      1000000u
#define INJECT_RINGBUF  (256u * 1024u)

enum inject_state {
	INJECT_FREE = 0,
	INJECT_ARMED = 1,
	INJECT_DONE = 2,        /* fired its last: the program disarmed it */
};

struct inject_slot {
	__u32 state;            /* enum inject_state */
	__u32 gen;              /* new at every arm and retarget; echoed in events */
	__u32 tgid;
	__s32 nr;               /* system call number, -1 for any */
	__u64 nth;              /* fire at k == nth; 0: never by position */
	__u64 seed;
	__u32 prob_ppm;         /* fire where draw(seed, k) < prob_ppm; 0: never by chance */
	__u32 sig;
	__u32 count;            /* fire this many times, then DONE; 0: until disarmed */
	__u32 fired;            /* rw by the program (atomic) */
	__u64 seen;             /* rw by the program (atomic): k of the last match */
};

struct inject_event {
	__u32 slot;
	__u32 gen;
	__u32 tgid;
	__u32 tid;
	__s32 nr;
	__u32 sig;
	__u64 k;
	__u64 ktime_ns;         /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__s32 error;            /* bpf_send_signal()'s result: 0 or -errno */
	__u32 last;             /* this firing set the slot DONE */
};

/* splitmix64 (Steele, Lea, Flood 2014), one step from state x. */
static inline __u64 inject_splitmix64(__u64 x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * Whether the k-th matching system call (k from 1) fires: it is the nth, or
 * its draw falls under prob_ppm.  The draw depends on seed and k alone, so a
 * process that makes the same calls in the same order fires at the same k.
 */
static inline int inject_fires(__u64 nth, __u32 prob_ppm, __u64 seed, __u64 k)
{
	if (nth && k == nth)
		return 1;
	return prob_ppm && inject_splitmix64(seed + k) % INJECT_PPM < prob_ppm;
}

#endif
