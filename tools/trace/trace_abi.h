/* trace_abi.h - what trace.bpf.c and bench_trace.c share: the roles map and the event layout. */
#ifndef ANT_TRACE_ABI_H
#define ANT_TRACE_ABI_H

/*
 * Included by the BPF program (types from vmlinux.h) and by ant-bench
 * (types from <linux/types.h>); private to ant-bench's --trace.
 *
 * Who writes what:
 *   roles[tgid]   ant-bench alone, before it attaches the program: the
 *                 processes of interest (the bench, antd, the servers), each
 *                 with its role, 1 and up.  A process not in it has role 0.
 *   events        the program alone: one sched_event per wake-up of a
 *                 traced process, per switch to or from one, and per
 *                 message one sends or receives on a unix socket.
 *   lost          the program alone: events the ring buffer had no room for.
 */

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TRACE_ROLES_MAX 128u
/* ant-bench reads the buffer between calls, every few dozen; a call
 * makes forty to sixty events of 56 bytes (with the ring's header). */
#define TRACE_RINGBUF   (4u * 1024u * 1024u)

enum sched_event_kind {
	TRACE_WAKING = 1,       /* a = the waker (whatever runs: current), b = the woken */
	TRACE_SWITCH = 2,       /* a = prev, off the CPU; b = next, on it */
	TRACE_SEND = 3,         /* a = the sender: one message on a unix socket */
	TRACE_RECV = 4,         /* a = the receiver: one message from a unix socket */
};

struct sched_event {
	__u64 ns;               /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 kind;             /* enum sched_event_kind */
	__u32 cpu;
	__u32 a_tid, b_tid;     /* thread ids (0: the idle task) */
	__u32 a_role, b_role;   /* their processes' roles (0: not traced) */
	__u32 prev_state;       /* switch: prev's state; 0: still runnable */
	__u32 preempt;          /* switch: prev was preempted (it did not sleep) */
	__u32 bytes;            /* send, receive: the message's length */
	__u32 pad;
};

#endif
