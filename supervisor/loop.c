/* loop.c - antd's event loop: run it (optionally busy-polling), and how long antd is busy per wake-up. */
#include <time.h>

#include "antd.h"
#include "log.h"
#include "loop.h"

/* After the poll, before the callbacks. */
static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
	struct loop_stats *st = w->data;
	st->t0 = mono_ns();
}

/* Before the next poll: the callbacks are done. */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct loop_stats *st = w->data;
	log_flush();    /* what this iteration logged, before antd sleeps */
	if (!st->t0)
		return;
	uint64_t busy = mono_ns() - st->t0;
	st->t0 = 0;
	st->wakeups++;
	if (busy > st->busy_max_ns)
		st->busy_max_ns = busy;
	st->over_1ms += busy > 1000000u;
	st->over_10ms += busy > 10000000u;
}

static void watch(struct antd *d)
{
	struct loop_stats *st = &d->loop_stats;
	ev_check_init(&st->checkw, on_check);
	st->checkw.data = st;
	ev_check_start(d->loop, &st->checkw);
	ev_prepare_init(&st->preparew, on_prepare);
	st->preparew.data = st;
	ev_prepare_start(d->loop, &st->preparew);
	/* Neither keeps the loop alive: only real work does. */
	ev_unref(d->loop);
	ev_unref(d->loop);
}

/*
 * With "busy_poll_us" (stack file), antd keeps polling for that long after
 * each message before it sleeps: the next message of a call chain then finds
 * it awake, which saves the wake-up of an idle CPU (a VM exit here) on every
 * hop, at the price of that CPU time.
 */
static void run(struct antd *d)
{
	unsigned spin_us = d->stack->busy_poll_us;
	if (!spin_us) {
		ev_run(d->loop, 0);
		return;
	}
	while (!d->done) {
		uint64_t seen = d->events, t0 = mono_ns();
		for (;;) {
			ev_run(d->loop, EVRUN_NOWAIT);
			if (d->done)
				return;
			uint64_t t1 = mono_ns();
			if (d->events != seen) {
				seen = d->events;
				t0 = t1;
			}
			if (t1 - t0 > (uint64_t)spin_us * 1000)
				break;
		}
		ev_run(d->loop, EVRUN_ONCE);
	}
}

void loop_run(struct antd *d)
{
	watch(d);
	/* Log lines of an iteration are written when it ends (on_prepare). */
	log_defer(1);
	run(d);
	log_defer(0);
}
