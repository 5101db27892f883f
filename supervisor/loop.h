/* loop.h - antd's event loop: run it (optionally busy-polling), and how long antd is busy per wake-up. */
#ifndef ANTD_LOOP_H
#define ANTD_LOOP_H

#include <stdint.h>
#include <time.h>
#include <ev.h>

struct antd;

/* How long antd's callbacks ran per wake-up of the loop: antd never waits,
 * so a long one means work that kept every call of the stack waiting (or
 * antd itself preempted). */
struct loop_stats {
	uint64_t wakeups;        /* loop iterations that ran callbacks */
	uint64_t busy_max_ns;    /* the longest */
	uint64_t over_1ms;       /* how many took longer than 1 ms ... */
	uint64_t over_10ms;      /* ... and 10 ms */
	ev_check checkw;         /* private */
	ev_prepare preparew;     /* private */
	uint64_t t0;             /* private */
};

/* antd's clock for durations: CLOCK_MONOTONIC in ns. */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run until antd is done: with the stack's busy_poll_us, antd keeps
 * polling that long after each message before it sleeps. */
void loop_run(struct antd *d);

#endif
