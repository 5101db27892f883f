/* antd.h - the inner core's shared state: peers, servers, calls in flight. */
#ifndef ANTD_ANTD_H
#define ANTD_ANTD_H

#include <stdint.h>
#include <signal.h>
#include <sys/types.h>
#include <ev.h>

#include "ant/cica.h"
#include "ant/proto.h"
#include "callq.h"
#include "ica_table.h"
#include "stackfile.h"

struct antd;

/* ---- peers: one SEQPACKET connection each (peer.c) ----------------------- */

enum peer_kind { PEER_SERVER = 1, PEER_APP, PEER_CONTROL };

/* Calls one peer may have in flight at once (each holds a page in antd). */
#define PEER_CALLS_MAX 16384u

struct outmsg {
	struct outmsg *next;
	int fd;                     /* dup'ed fd to send with it, or -1 */
	size_t len;
	unsigned char buf[];
};

struct peer {
	uint32_t idx, gen;          /* ro: key = peer_key() */
	enum peer_kind kind;        /* ro */
	unsigned server_id;         /* ro: 1..n for servers, 0 for apps */
	int standby;                /* a server's warm spare (takes no work) */
	int fd;                     /* private */
	ev_io rio, wio;             /* private */
	struct outmsg *out_h, *out_t;
	unsigned nout;
	size_t out_bytes;
	unsigned calls_out;         /* calls it made that are still in flight */
	pid_t pid;                  /* SO_PEERCRED (apps) or the child (servers) */
	uid_t uid;
	gid_t gid;
	struct antd *d;
};

static inline uint64_t peer_key(const struct peer *p)
{
	return ((uint64_t)p->idx << 32) | p->gen;
}

/* Take over fd (consumes it) as a new peer and start reading it. */
struct peer *peer_new(struct antd *d, int fd, enum peer_kind kind, unsigned server_id);
/* The live peer with this key, or NULL. */
struct peer *peer_by_key(struct antd *d, uint64_t key);
/* Queue or send one message (fd is not consumed).  On a dead or hopelessly
 * backed-up peer returns < 0 and schedules the peer's close. */
int peer_send(struct peer *p, unsigned type, unsigned flags, const void *payload,
	      size_t n, int fd);
/* Take every message already waiting on p (a server that just died). */
void peer_drain(struct peer *p);
/* Close now: stop watchers, close fd, forget it (calls peer_gone hooks). */
void peer_close(struct peer *p, const char *why);
void peers_close_all(struct antd *d);
/* Name for logs: the server's name, "app pid N", "control pid N". */
const char *peer_name(const struct peer *p);

/* ---- servers (spawn.c) --------------------------------------------------- */

enum server_state {
	SRV_STOPPED,     /* not running and not to be restarted (stop, temporary, clean exit) */
	SRV_STARTING,    /* started, not ready yet: its calls wait in its queues */
	SRV_RUNNING,     /* ready: takes work */
	SRV_RESTARTING,  /* dead, a restart is scheduled (backoff) */
	SRV_FAILED,      /* given up (intensity exceeded, or it cannot start) */
	SRV_STOPPING,    /* being stopped */
};

struct call;

/* A warm spare: started and ready, given no work until it takes over. */
struct standby {
	pid_t pid;                         /* 0: none */
	int pidfd;
	ev_io pidw;
	struct peer *peer;
	int ready;                         /* said NEXT */
	unsigned want;
	uint64_t started_ns;
	int notify_fd;                     /* its seccomp notifications, or -1 */
	ev_io notifyw;
};

#define RESTART_HISTORY 1024

struct server {
	const struct stack_server *conf;   /* ro */
	unsigned id;                       /* ro */
	enum server_state state;
	pid_t pid;                         /* the serving instance, 0 if none */
	int pidfd;
	ev_io pidw;
	struct peer *peer;                 /* NULL when not connected */
	unsigned instance;                 /* counts every start (or failover) */
	unsigned spawns;                   /* processes started for it, spares included */
	int ever_ready;                    /* this instance said ready */
	struct callq requests;             /* calls waiting for this server */
	struct callq results;              /* results waiting to be handed to it */
	unsigned want;                     /* items it asked for (NEXT) */
	unsigned held;                     /* control ICAs it holds now */
	uint64_t served;                   /* replies sent */
	uint64_t restarts, replays, failovers;
	uint64_t started_ns;
	char last_exit[96];                /* how it last ended */
	char kill_why[160];                /* why antd killed it, if it did */
	int kill_counts;                   /* that kill counts against its requests */
	int restart_asked;                 /* restart at once when it is gone (antctl, strategy) */
	int stop_asked;                    /* do not restart (antctl stop) */
	unsigned probation;                /* replays left to hand over one at a time */
	double history[RESTART_HISTORY];   /* times of recent restarts (monotonic s) */
	unsigned nhistory;
	ev_timer restart_timer;            /* backoff before the next start */
	ev_timer ready_timer;              /* a start must say ready in time */
	ev_timer spare_timer;              /* re-make a spare that died */
	ev_timer eof_timer;                /* it closed its socket: give it a moment to exit */
	struct standby spare;
	unsigned spare_failures;           /* spares that died in a row */
	int notify_fd;                     /* the serving instance's seccomp notifications */
	ev_io notifyw;
	char violation[96];                /* the last sandbox violation */
	uint64_t violations;
};

/* Start the serving instance (spare = 0) or the warm spare (spare = 1).
 * Returns 0 or -errno (exec failure is logged as a start-up failure). */
int server_spawn(struct antd *d, struct server *s, int spare);
/* Signal the serving instance; its pidfd watcher sees it end. */
void server_stop(struct antd *d, struct server *s, int sig);
const char *server_state_name(enum server_state st);
/* The ready spare becomes the serving instance (failover). */
void server_adopt_spare(struct antd *d, struct server *s);
/* Close every fd of the serving instance and the spare (antd exiting). */
void server_reap_all(struct antd *d);

/* ---- sandbox enforcement (sandbox_serve.c) --------------------------------- */

/* Watch notify_fd (consumed; -1: stop watching and close) for the serving
 * instance (spare 0) or the spare (1). */
void sandbox_watch(struct antd *d, struct server *s, int spare, int notify_fd);
/* Answer the pending seccomp notification on fd from pid: a loader call
 * before ready goes on; anything else is a sandbox violation: logged, the
 * process killed with SIGSYS.  starting: called from the spawn path. */
void sandbox_serve(struct antd *d, struct server *s, int spare, int fd, pid_t pid, int starting);

/* ---- supervision: restart policy, failover, replay (supervise.c) ---------- */

void supervise_init(struct antd *d, struct server *s);
/* The serving instance ended; how is in si. */
void supervise_exited(struct antd *d, struct server *s, const siginfo_t *si);
/* The spare ended. */
void supervise_spare_exited(struct antd *d, struct server *s);
/* The serving instance said ready (its first NEXT). */
void supervise_ready(struct antd *d, struct server *s);
/* antd kills the serving instance: why goes to the log; counts: the requests
 * it held count this death against them (poison detection). */
void supervise_kill(struct antd *d, struct server *s, int counts, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Operator commands. Return 0 or -errno with a reason in why. */
int supervise_restart(struct antd *d, struct server *s, char *why, size_t len);
int supervise_stop(struct antd *d, struct server *s, char *why, size_t len);
int supervise_start(struct antd *d, struct server *s, char *why, size_t len);
/* The serving instance closed its connection: it is killed unless it exits
 * by itself at once (a crash closes the socket just before the exit shows). */
void supervise_disconnected(struct antd *d, struct server *s);
/* Is the server taking work now, or will it after a restart? */
int supervise_accepts(const struct server *s);

/* ---- calls in flight (calls.c) ------------------------------------------- */

enum call_state {
	CALL_QUEUED,      /* in server `at`'s request queue */
	CALL_HELD,        /* held by server `at` (a REQUEST or RETURN handed over) */
	CALL_RESULTQ,     /* in server `at`'s result queue */
};

struct call {
	uint32_t index, gen;
	enum call_state state;
	unsigned at;                  /* server id queued at / held by */
	unsigned held_as;             /* ANT_M_REQUEST or ANT_M_RESULT (a RETURN) */
	unsigned kills;               /* deaths of servers while they held it */
	uint64_t origin;              /* peer key of frame 0's caller */
	unsigned origin_server;       /* 0: an application */
	unsigned origin_instance;     /* that server's instance when it called */
	struct ant_ica_ref data;      /* the data ICA this call keeps alive */
	struct call *next;            /* queue link */
	ev_timer deadline;            /* while held: the holder's deadline */
	struct antd *d;
	size_t len;                   /* bytes of page in use */
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8))); /* antd's own copy */
};

struct call_table {
	struct call **c;
	uint32_t n, cap;
	uint32_t free_head;           /* index+1 */
	uint32_t next_gen;
	unsigned live;
};

void calls_init(struct antd *d);
void calls_fini(struct antd *d);

/* Message handlers, called by peer.c with a checked message. */
void calls_on_call(struct peer *p, unsigned char *page, size_t len);
void calls_on_forward(struct peer *p, unsigned char *page, size_t len, unsigned mflags);
void calls_on_reply(struct peer *p, unsigned char *page, size_t len, unsigned mflags);
void calls_on_next(struct peer *p, unsigned count);
void calls_on_alloc(struct peer *p, uint64_t size);
void calls_on_release(struct peer *p, const struct ant_ica_ref *ref);

/* The serving instance of s died: the calls it held go back to the head of
 * its queues (replay) unless its policy or the poison count says no, then
 * they fail.  counts: this death counts against them.  Results of its own
 * calls are dropped (the next instance did not make them). */
void calls_server_died(struct antd *d, struct server *s, int counts);
/* s will not serve again (given up, stopped): fail everything queued for it. */
void calls_fail_queued(struct antd *d, struct server *s, int error);
/* An application connection is gone. */
void calls_app_gone(struct antd *d, struct peer *p);
/* A server became ready (first NEXT) or got more credit: hand it work. */
void calls_pump(struct antd *d, struct server *s);
/* Fail every call in flight with error (shutdown). */
void calls_fail_all(struct antd *d, int error);

/* Cut off a peer that broke the protocol: a server is killed, an app closed. */
void antd_cut_off(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the daemon ---------------------------------------------------------- */

struct antd {
	struct ev_loop *loop;
	struct stack *stack;
	char *run_dir;
	char app_path[108], control_path[108], pid_path[4096];
	int app_listen, control_listen, lock_fd;
	ev_io app_w, control_w;
	ev_signal sigterm_w, sigint_w;
	ev_timer stop_timer;
	ev_idle stock_w;                    /* fills the ICA stock when idle */
	int stopping;
	int done;                           /* the loop is to end */
	int ever_ready;                     /* every server was running once */
	int exit_status;                    /* antd's, when it stops */
	int ready_fd;                       /* daemon mode: tell the parent we are up */
	uid_t uid;                          /* antd's own uid (control socket check) */
	struct server servers[ANT_SERVERS_MAX + 1]; /* index = server id */
	struct peer **peers;
	uint32_t npeers, peers_cap, peer_gen;
	struct call_table calls;
	struct ica_table icas;
	uint64_t calls_total;
	uint64_t events;                    /* messages read: the busy-poll loop's sign of life */
};

/* Send WELCOME (protocol version, its id, the server table) to a new peer. */
void antd_send_welcome(struct antd *d, struct peer *p);

/* Control socket commands (control.c). */
void control_on_message(struct peer *p, const char *req, size_t len);

/* Called when every server is running (first time): daemon readiness. */
void antd_check_ready(struct antd *d);
/* A server (or its spare) is gone for good, or antd is stopping and one more
 * child ended: stopping completes, or start-up failure is reported. */
void antd_server_exited(struct antd *d, struct server *s);
/* Stop the whole stack (SIGTERM, or a server given up with stop_stack). */
void antd_stop(struct antd *d, const char *why);

#endif
