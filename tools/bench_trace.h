/* bench_trace.h - ant-bench chain --trace: where a call's time goes, as the scheduler saw it (eBPF). */
#ifndef ANT_BENCH_TRACE_H
#define ANT_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "bench.h"

/* Traced calls of each kind by default (fewer if the timed run made fewer). */
#define TRACE_CALLS 2000

/* One kind of call to trace: what it is, and how to make one. */
struct trace_target {
	const char *mode;           /* "sequential", "direct": its key in the JSON */
	const char *label;          /* its name in the table */
	int messages;               /* messages one call's path implies */
	/* Make call number seq (synchronous, checked); 0, or -1 after
	 * printing why. */
	int (*call)(void *ctx, uint64_t seq);
	void *ctx;
};

/*
 * Trace calls calls of each of the nt targets made against the running
 * stack s: load trace/trace.bpf.c, tell it the processes of interest
 * (this one, antd and its servers, asked of antd's status), attach it to
 * sched_waking, sched_switch, sock_send_length and sock_recv_length, make
 * a few calls to learn who is on a CPU, then the calls, timed one by one;
 * detach, and attribute the events to the calls: per process, its time on
 * a CPU, messages sent and wake-ups, per call; per hop (message) of the
 * usual path, whether it woke its receiver, the wake-up latency, and the
 * receiver's time on a CPU until the next hop.
 *
 * Returns 0 with *out a new object (chain's JSON "trace"); 1 if tracing
 * cannot run here (not built with eBPF, not root, no BTF, ...: said on
 * stderr, *out NULL), and the bench goes on without it; -1 if a call
 * failed or a signal came (printed), as a timed call would.
 */
int bench_trace_calls(const struct bench_stack *s, const struct trace_target *t, size_t nt,
		      long calls, json_t **out);

/* Print trace (as bench_trace_calls made it) on stdout, as lines of chain's table. */
void bench_trace_print(const json_t *trace);

#endif
