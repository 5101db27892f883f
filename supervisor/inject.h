/* inject.h - antd's armed faults: what antctl inject asks for, when each fires, and how it gets in. */
#ifndef ANTD_INJECT_H
#define ANTD_INJECT_H

#include <stdint.h>
#include <sys/types.h>
#include <ev.h>
#include <jansson.h>

#include "ant/cica.h"
#include "ant/proto.h"
#include "fault.h"

struct antd;
struct call;
struct peer;
struct server;

#define INJECT_MAX 64   /* faults armed at once, in the whole stack */

/*
 * One armed fault.  It belongs to the server, not to one of its processes:
 * a fault that fires on requests keeps counting them across restarts until
 * its count is reached or it is cleared.
 */
struct inject {
	uint32_t id;                  /* 0: a free slot */
	unsigned server;              /* server id */
	struct fault_spec f;
	unsigned via;                 /* one enum fault_via */
	uint64_t nth;                 /* fire on the Nth request (or hit) from arming; 0: not */
	uint32_t prob_ppm;            /* or with this probability each (parts per million) */
	uint64_t seed;
	unsigned after_ms;            /* not before this long after arming */
	uint32_t count;               /* fire this many times (0: until cleared) */
	char op[ANT_OP_MAX];          /* only requests of this op ("": any) */
	char match[64];               /* only requests whose parameters hold this ("": any) */
	int fresh;                    /* only requests handed over the first time (no replays) */
	char point[ANT_FAULT_POINT_MAX]; /* a named failpoint of the server ("": its requests) */
	int syscall_nr;               /* --via bpf: at this system call (-1: any) */
	int bpf_slot;                 /* --via bpf: the injector's slot, -1: none */
	uint64_t seen;                /* requests it looked at */
	uint64_t sent;                /* times it was set off (FAULT sent, signal sent) */
	uint64_t fired;               /* times the server said it fired (FIRED), or signals */
	double armed_at;              /* wall clock, s */
	int waiting;                  /* --after: not yet */
	ev_timer after_w;
	struct antd *d;
};

struct inject_table {
	struct inject slot[INJECT_MAX];
	uint32_t next_id;
	unsigned live;                /* armed now: the request hook's fast exit */
	void *bpf;                    /* the eBPF injector, once asked for (inject_bpf.c) */
	ev_io bpf_w;                  /* its ring buffer */
	/* where its events go (inject_on_bpf_event, set by inject_init) */
	void (*bpf_event)(struct antd *d, unsigned slot, int pid, int syscall_nr, uint64_t k,
			  int signal, int error, int disarmed, int stale);
};

void inject_init(struct antd *d);
void inject_fini(struct antd *d);

/* calls.c: request c is about to be handed to s: a fault armed for s's
 * requests may hit it (its FAULT goes first, on the same socket). */
void inject_on_request(struct antd *d, struct server *s, struct call *c);
/* calls.c: server peer p says a fault fires (FIRED). */
void inject_on_fired(struct peer *p, const struct ant_m_fired *m);
/* sandbox_serve.c: s's process pid makes system call nr, one of its
 * injectable ones: the errno an errno fault fails it with, or 0. */
int inject_on_syscall(struct antd *d, struct server *s, int nr, pid_t pid);
/* supervise.c: a new process of s is ready: its named points are armed again. */
void inject_on_ready(struct antd *d, struct server *s);

/* spawn.c: a process of s ended: events of the eBPF injector first, so that
 * a death it caused is known as one. */
void inject_before_exit(struct antd *d);

/* inject_bpf.c, the eBPF injector's side (stubs without -Dbpf): arm in's
 * slot for pid with signal (-1 and err if it cannot: no root, no BPF, no
 * slot), follow a restart, disarm, read its events (each goes to
 * inject_table.bpf_event), close it. */
int inject_bpf_arm(struct antd *d, struct inject *in, pid_t pid, int signal, char *err,
		   size_t errlen);
void inject_bpf_retarget(struct antd *d, struct inject *in, pid_t pid);
void inject_bpf_disarm(struct antd *d, struct inject *in);
void inject_bpf_poll(struct antd *d);
void inject_bpf_fini(struct antd *d);

/* control.c: inject, inject-list and inject-clear.  A new reply object
 * ({"ok": ...}); bad input says "usage": true, and nothing is armed. */
json_t *inject_cmd_arm(struct antd *d, json_t *req);
json_t *inject_cmd_list(struct antd *d, json_t *req);
json_t *inject_cmd_clear(struct antd *d, json_t *req);

#endif
