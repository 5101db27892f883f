/* trace.bpf.c - ant-bench's calls as the kernel sees them: wake-ups of the traced processes, switches to and from them, their messages on unix sockets. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "trace_abi.h"

/* Tracing programs must be GPL-compatible to attach to tp_btf. */
char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TRACE_ROLES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} roles SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TRACE_RINGBUF);
} events SEC(".maps");

/* A global, so that ant-bench reads it through the skeleton's mapping. */
__u64 lost;

static __u32 role_of(__u32 tgid)
{
	__u32 *r = bpf_map_lookup_elem(&roles, &tgid);
	return r ? *r : 0;
}

static void emit(__u32 kind, __u32 a_tid, __u32 a_role, __u32 b_tid, __u32 b_role,
		 __u32 prev_state, __u32 preempt, __u32 bytes)
{
	struct sched_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return;
	}
	e->ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->cpu = bpf_get_smp_processor_id();
	e->a_tid = a_tid;
	e->b_tid = b_tid;
	e->a_role = a_role;
	e->b_role = b_role;
	e->prev_state = prev_state;
	e->preempt = preempt;
	e->bytes = bytes;
	/* ant-bench reads the buffer between calls and never sleeps on it:
	 * no wake-up (an interrupt on this CPU) for every event. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/*
 * sched_waking, not sched_wakeup: it fires in the waker's context (current
 * is the waker, unless an interrupt does the waking) and at the moment the
 * wake-up is asked for, so that the latency to the switch-in includes the
 * cross-CPU kick.  It fires only for a task that was waiting (its state
 * matched), also one not yet off its CPU.
 */
SEC("tp_btf/sched_waking")
int BPF_PROG(on_waking, struct task_struct *p)
{
	__u32 to = role_of(p->tgid);
	if (!to)
		return 0;
	__u64 cur = bpf_get_current_pid_tgid();
	emit(TRACE_WAKING, (__u32)cur, role_of(cur >> 32), p->pid, to, 0, 0, 0);
	return 0;
}

/* Every switch on the machine passes here; most stop at the two look-ups. */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 from = role_of(prev->tgid), to = role_of(next->tgid);
	if (!from && !to)
		return 0;
	emit(TRACE_SWITCH, prev->pid, from, next->pid, to, prev_state, preempt, 0);
	return 0;
}

#define AF_UNIX 1

/* A message sent or received by a traced process on a unix socket: the
 * hops of a call.  The wake-up a send causes comes before it (the
 * tracepoint fires once the message is queued). */
static void message(__u32 kind, struct sock *sk, int ret)
{
	if (ret <= 0 || sk->__sk_common.skc_family != AF_UNIX)
		return;
	__u64 cur = bpf_get_current_pid_tgid();
	__u32 role = role_of(cur >> 32);
	if (role)
		emit(kind, (__u32)cur, role, 0, 0, 0, 0, (__u32)ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret, int flags)
{
	message(TRACE_SEND, sk, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv, struct sock *sk, int ret, int flags)
{
	message(TRACE_RECV, sk, ret);
	return 0;
}
