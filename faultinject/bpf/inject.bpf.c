/* inject.bpf.c - signal a chosen process at a chosen system call: its Nth, or by a seeded draw. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf_inject_abi.h"

/* bpf_send_signal() is a GPL-only helper. */
char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INJECT_SLOTS);
	__type(key, __u32);
	__type(value, struct inject_slot);
} slots SEC(".maps");

/* tgid -> bitmask of the slots that target it.  Every slot names one tgid,
 * so there are never more tgids than slots. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, INJECT_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, INJECT_RINGBUF);
} events SEC(".maps");

/* A global, so that the library reads it through the skeleton's mapping. */
__u64 lost;

static void report(__u32 i, const struct inject_slot *s, __u64 pid_tgid, long nr, __u64 k,
		   long error, int last)
{
	struct inject_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return;
	}
	e->slot = i;
	e->gen = s->gen;
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->nr = nr;
	e->sig = s->sig;
	e->k = k;
	e->ktime_ns = bpf_ktime_get_ns();
	e->error = error;
	e->last = last;
	bpf_ringbuf_submit(e, 0);
}

/* Count this call against slot i if the slot targets tgid and nr, and fire
 * if it is its turn.  Threads of one process race here: k comes from an
 * atomic counter, and so does the tally that stops at count. */
static void consider(__u32 i, __u64 pid_tgid, long nr)
{
	struct inject_slot *s = bpf_map_lookup_elem(&slots, &i);
	if (!s || s->state != INJECT_ARMED || s->tgid != pid_tgid >> 32)
		return;
	if (s->nr >= 0 && s->nr != nr)
		return;
	__u64 k = __sync_fetch_and_add(&s->seen, 1) + 1;
	if (!inject_fires(s->nth, s->prob_ppm, s->seed, k))
		return;
	__u32 fired = __sync_fetch_and_add(&s->fired, 1) + 1;
	if (s->count && fired > s->count)
		return;   /* another thread took the last one */
	/* Without a probability only the nth can fire: that was it. */
	int last = (s->count && fired == s->count) || !s->prob_ppm;
	if (last)
		s->state = INJECT_DONE;
	long error = bpf_send_signal(s->sig);
	report(i, s, pid_tgid, nr, k, error, last);
}

/* Attached only while some slot is taken (bpf_inject.c); even then most
 * calls on the machine stop at the look-up: not a target. */
SEC("raw_tp/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long nr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u32 *maskp = bpf_map_lookup_elem(&tgids, &tgid);
	if (!maskp)
		return 0;
	__u32 mask = *maskp;
	for (__u32 i = 0; i < INJECT_SLOTS; i++)
		if (mask & (1u << i))
			consider(i, pid_tgid, nr);
	return 0;
}
