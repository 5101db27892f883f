/* inject_bpf.c - antd's side of the eBPF injector (--via bpf): opened when first asked for, slots armed and retargeted, its events in the loop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "antd.h"
#include "inject.h"

#ifdef ANT_HAVE_BPF
#include "bpf_inject.h"

static void on_event(void *arg, const struct bpf_inject_event *ev)
{
	struct antd *d = arg;
	d->inject.bpf_event(d, ev->slot, ev->pid, ev->syscall_nr, ev->k, ev->signal, ev->error,
			    ev->disarmed, ev->stale);
}

static void on_ring(struct ev_loop *loop, ev_io *w, int revents)
{
	inject_bpf_poll((struct antd *)ev_userdata(loop));
	(void)w;
	(void)revents;
}

/* The injector, opened the first time --via bpf is asked for: loading it
 * costs ~20 ms and needs root, and a stack that never asks pays nothing. */
static struct bpf_injector *injector(struct antd *d, char *err, size_t errlen)
{
	struct inject_table *t = &d->inject;
	if (t->bpf)
		return t->bpf;
	struct bpf_injector *b;
	char why[256];
	int r = bpf_injector_open(&b, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "--via bpf: %s", why);
		return NULL;
	}
	t->bpf = b;
	ev_io_init(&t->bpf_w, on_ring, bpf_injector_fd(b), EV_READ);
	ev_io_start(d->loop, &t->bpf_w);
	return b;
}

int inject_bpf_arm(struct antd *d, struct inject *in, pid_t pid, int signal, char *err,
		   size_t errlen)
{
	struct bpf_injector *b = injector(d, err, errlen);
	if (!b)
		return -1;
	struct bpf_inject_spec s = {
		.pid = pid, .syscall_nr = in->syscall_nr, .nth = in->nth ? in->nth : 1,
		.prob_ppm = in->prob_ppm, .seed = in->seed, .signal = signal, .count = in->count,
	};
	if (in->prob_ppm && !in->nth)
		s.nth = 0;
	unsigned slot;
	int r = bpf_injector_arm(b, &s, &slot);
	if (r < 0) {
		snprintf(err, errlen, "--via bpf: %s", r == -ENOSPC ?
			 "its 16 slots are taken: clear some faults first" : strerror(-r));
		return -1;
	}
	in->bpf_slot = (int)slot;
	return 0;
}

void inject_bpf_retarget(struct antd *d, struct inject *in, pid_t pid)
{
	if (d->inject.bpf && in->bpf_slot >= 0)
		bpf_injector_retarget(d->inject.bpf, (unsigned)in->bpf_slot, pid);
}

void inject_bpf_disarm(struct antd *d, struct inject *in)
{
	if (d->inject.bpf && in->bpf_slot >= 0)
		bpf_injector_disarm(d->inject.bpf, (unsigned)in->bpf_slot);
	in->bpf_slot = -1;
}

void inject_bpf_poll(struct antd *d)
{
	if (d->inject.bpf)
		bpf_injector_poll(d->inject.bpf, on_event, d);
}

void inject_bpf_fini(struct antd *d)
{
	if (!d->inject.bpf)
		return;
	ev_io_stop(d->loop, &d->inject.bpf_w);
	bpf_injector_close(d->inject.bpf);
	d->inject.bpf = NULL;
}

#else   /* built without -Dbpf */

int inject_bpf_arm(struct antd *d, struct inject *in, pid_t pid, int signal, char *err,
		   size_t errlen)
{
	snprintf(err, errlen, "--via bpf: this antd was built without the eBPF injector "
		 "(meson -Dbpf=enabled; it needs clang, bpftool and libbpf)");
	return -1;
}

void inject_bpf_retarget(struct antd *d, struct inject *in, pid_t pid) {}
void inject_bpf_disarm(struct antd *d, struct inject *in) { in->bpf_slot = -1; }
void inject_bpf_poll(struct antd *d) {}
void inject_bpf_fini(struct antd *d) {}

#endif
