/* supervise.h - a server's lifecycle: one state x event table; other files only post events. */
#ifndef ANTD_SUPERVISE_H
#define ANTD_SUPERVISE_H

#include <signal.h>
#include <stddef.h>

struct antd;
struct server;
struct instance;
struct exec_spec;

/* What can happen to a server or to one of its instances. */
enum sv_event {
	EV_SPAWNED,         /* (spawn.c) its exec happened */
	EV_EXEC_FAILED,     /* (spawn.c) it could not start: in->exec_error says why */
	EV_READY,           /* (calls.c) it said NEXT for the first time */
	EV_EXITED,          /* (spawn.c) the process ended: detail.si says how */
	EV_DISCONNECTED,    /* (antd.c) it closed its connection while alive */
	EV_EOF_TIMEOUT,     /* (timer) ... and did not exit by itself in time */
	EV_DEADLINE,        /* (calls.c) held a request past its deadline: a hang */
	EV_PROTOCOL_FAULT,  /* (peer.c via antd.c) broke the protocol: cut off */
	EV_SANDBOX,         /* (sandbox_serve.c) made a call outside its sandbox */
	EV_READY_TIMEOUT,   /* (timer) did not say ready in time */
	EV_OP_RESTART,      /* (control.c) antctl restart */
	EV_OP_STOP,         /* (control.c) antctl stop */
	EV_OP_START,        /* (control.c) antctl start */
	EV_PEER_FAILED,     /* (strategy) a server it goes down with failed */
	EV_BACKOFF_EXPIRED, /* (timer) time to start it again */
	EV_RETRY_EXPIRED,   /* (timer) on_give_up retry: time to try a given-up server again */
	EV_SHUTDOWN,        /* (antd.c) the stack is stopping */
	EV_INJECTED,        /* (inject.c) a fault by signal: detail.sig, detail.why */
	EV_NEVENTS
};

/* What comes with an event; every field is optional. */
struct sv_detail {
	const siginfo_t *si;   /* EV_EXITED: how it ended */
	int oom;               /* EV_EXITED: the SIGKILL was the kernel's OOM killer's */
	int sig;               /* kill events: the signal (0: SIGKILL) */
	const char *why;       /* kill events: the cause, for the log and its callers */
	char *reply;           /* operator events: why one was refused (out) */
	size_t replylen;
};

/* Set up s's timers and slots (before anything else touches it). */
void supervise_init(struct antd *d, struct server *s);
/*
 * Post ev for s; in is the instance it is about (NULL: the server as a
 * whole, e.g. operator commands and timers).  An event about an instance
 * that is no longer s's serving one goes to the spare's handling, or is
 * dropped if the instance is stale.  Returns 0, or -errno for an operator
 * event that was refused, with the reason in dt->reply.
 */
int supervise_event(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		    struct sv_detail *dt);
/* The same with only a reason (kill events). */
void supervise_fault(struct antd *d, struct instance *in, enum sv_event ev, const char *why);
/* in says an injected fault ends it now (inject.c, on FIRED): its death is
 * reported with why, and counts as a fault of its own even if it is a
 * SIGKILL it sent itself. */
void supervise_dying_of(struct instance *in, const char *why);
/* The spare slot's process takes over from the serving one, which moves to
 * the spare slot (a failover, an upgrade's switch, a rollback). */
void supervise_switch(struct antd *d, struct server *s);
/* Start a process of exec in s's (free) spare slot.  0, or -1 with why. */
int supervise_spawn_spare(struct antd *d, struct server *s, const struct exec_spec *exec,
			  char *why, size_t len);
/* End in on purpose (SIGKILL): not a failure of s. */
void supervise_retire(struct antd *d, struct server *s, struct instance *in, const char *why);
/* Start s for the first time (antd's start-up). */
void supervise_launch(struct antd *d, struct server *s);
/* Event names for logs and docs ("exited"). */
const char *supervise_event_name(enum sv_event ev);

#endif
