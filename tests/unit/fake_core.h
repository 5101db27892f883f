/* fake_core.h - a fake transport and process layer for antd's routing and lifecycle: unit tests without a daemon. */
#ifndef ANT_FAKE_CORE_H
#define ANT_FAKE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "antd.h"

/* What antd sent one peer (peer_send), in order. */
#define FAKE_SENT_MAX 64
struct fake_sent {
	unsigned type;
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	size_t len;
	int with_fd;
};

/* Everything the fakes saw. */
struct fake_log {
	unsigned spawns;              /* instance_spawn calls */
	int spawn_fail;               /* make instance_spawn fail (exec_error set) */
	unsigned signals;             /* instance_signal calls ... */
	int last_sig;                 /* ... the last one's signal */
	const struct instance *last_signalled;
	unsigned cut_offs;
	char cut_off_why[256];
	unsigned ready_checks;        /* antd_check_ready */
	unsigned exited_reports;      /* antd_server_exited */
	unsigned start_failures;      /* antd_start_failed */
	unsigned stops;               /* antd_stop */
};
extern struct fake_log fake;

/* A daemon with the stack of json (policies resolved from $ANT_POLICY_PATH),
 * its servers initialised but not started.  Free with fake_antd_free. */
struct antd *fake_antd_new(const char *json);
void fake_antd_free(struct antd *d);

/* An application connected to d. */
struct peer *fake_app(struct antd *d);
/* The messages sent to p so far, and how many. */
const struct fake_sent *fake_sent(const struct peer *p, unsigned *n);
/* The last message sent to p (fails the test if none). */
const struct fake_sent *fake_last(const struct peer *p);
/* Forget what was sent to p. */
void fake_clear_sent(struct peer *p);

/* Drive a server: launch it, confirm its exec, make it say NEXT n times. */
void fake_launch(struct antd *d, struct server *s);
void fake_spawned(struct antd *d, struct instance *in);
void fake_next(struct peer *p, unsigned n);
/* Bring s all the way to running (launch, spawned, NEXT credit). */
void fake_run(struct antd *d, struct server *s, unsigned credit);
/* The instance ended: exit code (sig 0) or killed by sig. */
void fake_exit(struct antd *d, struct instance *in, int code, int sig);
/* The instance was killed by the kernel's OOM killer (a SIGKILL). */
void fake_exit_oom(struct antd *d, struct instance *in);

/* Messages from a peer, as the transport hands them over. */
void fake_send_page(struct peer *p, unsigned type, unsigned flags, const void *page, size_t len);
/* A new call from p to callee (a server id) for op; returns its page length. */
void fake_call(struct peer *p, unsigned callee, const char *op, uint32_t frame_flags);
/* The server answers the call it was handed last with retval; mflags
 * ANT_MF_NEXT asks for one more item with it. */
void fake_reply(struct peer *p, int32_t retval, unsigned mflags);
/* The server forwards the call it was handed last to callee. */
void fake_forward(struct peer *p, unsigned callee, const char *op, uint32_t frame_flags,
		  unsigned mflags);

/* Run the loop until nothing is pending (timers up to ms from now). */
void fake_run_loop(struct antd *d, unsigned ms);

#endif
