/* server.h - a server and its instances (the processes that serve it); starting and signalling them (spawn.c). */
#ifndef ANTD_SERVER_H
#define ANTD_SERVER_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>

#include "callq.h"
#include "metrics.h"
#include "stackfile.h"

struct antd;
struct peer;
struct server;

/* Where one process of a server is in its own start. */
enum instance_phase {
	INST_NONE,       /* the slot is empty */
	INST_SPAWNING,   /* forked; exec not confirmed yet (its spawn channel is open) */
	INST_STARTING,   /* exec done; it has not said ready (no NEXT yet) */
	INST_READY,      /* said NEXT once */
};

/* Why antd killed an instance, which says what its death means. */
enum kill_kind {
	KILL_NONE,       /* antd did not kill it: its death is its own */
	KILL_FAULT,      /* a fault of its own: counts against the request it held */
	KILL_NOBLAME,    /* a failure, but no request is to blame (not ready in time) */
	KILL_ASKED,      /* a restart asked for (operator, strategy): not a failure */
};

/*
 * One process of a server.  A server has two slots, `cur` (the serving
 * instance) and `spare` (a warm spare); failover swaps the two pointers, so
 * an instance never moves in memory and its watchers stay valid.  All fields
 * are antd's; spawn.c fills them, supervise.c decides what happens to them.
 */
/* A program and its arguments, as a FORK carries them: "path\0arg\0...\0\0". */
struct exec_spec {
	char text[ANT_FORK_EXEC_MAX];
	size_t len;                  /* bytes in use, the final NUL included */
};
/* Fill e; -E2BIG if it does not fit (ANT_FORK_EXEC_MAX), -EINVAL without a path. */
int exec_spec_set(struct exec_spec *e, const char *path, char *const *args, unsigned nargs);
static inline const char *exec_spec_path(const struct exec_spec *e)
{
	return e->text;
}
/* Its arguments, space-separated, for logs and status. */
void exec_spec_args(const struct exec_spec *e, char *buf, size_t len);

/* A live upgrade of one server (upgrade.c). */
enum upgrade_phase {
	UP_NONE,
	UP_STARTING,     /* the new process starts in the spare slot; the old one serves */
	UP_DRAINING,     /* requests wait in antd; the old one finishes what it holds */
	UP_EXPORTING,    /* the old one writes its state out */
	UP_IMPORTING,    /* the new one takes it */
	UP_VERIFYING,    /* --verify-state: the new one writes it out again, to compare */
	UP_PROBATION,    /* the new one serves; the old one waits in the spare slot */
};

struct upgrade {
	enum upgrade_phase phase;
	struct exec_spec exec;        /* the version going in */
	int rollback;                 /* antctl rollback: back to the version before */
	int no_state, verify;
	unsigned probation_ms, timeout_ms;
	uint64_t requester;           /* the control connection waiting for the outcome */
	ev_timer timer;               /* the time limit of a phase; the end of probation */
	uint32_t seq;                 /* of the last EXPORT */
	char format[ANT_STATE_FORMAT_MAX];  /* the old version's state ... */
	uint32_t version;
	struct ant_ica_ref *refs;     /* ... its areas (antd keeps each alive) */
	unsigned nrefs, caprefs;
	int got_all;                  /* its last STATE came */
	char vformat[ANT_STATE_FORMAT_MAX]; /* --verify-state: the new one's export */
	uint32_t vversion;
	struct ant_ica_ref *vrefs;
	unsigned nvrefs, capvrefs;
	double started;               /* mono s */
	double drained;               /* mono s: requests began to wait */
	double switched;              /* mono s: the new one took over */
	struct antd *d;
};

struct instance {
	struct server *srv;          /* ro */
	pid_t pid;                   /* its process; 0 while the forker has not answered */
	unsigned gen;                /* ro while alive: the how-many-th process of its server */
	enum instance_phase phase;
	int pidfd;                   /* private (spawn.c) */
	ev_io pidw;                  /* private: the end of the process */
	int chan;                    /* private: spawn channel until exec, then -1 */
	ev_io chanw;                 /* private */
	int chan_eof;                /* private: exec seen before the forker's answer */
	int out_fd;                  /* private: its output pipe until its pid is known */
	int pending_sig;             /* private: a signal for it before its pid is known */
	int ready_early;             /* private: said ready (NEXT) before its pid was known */
	ev_timer spawn_timer;        /* private: exec must happen in time */
	char exec_error[96];         /* why it could not start, "" if it did */
	struct peer *peer;           /* its connection, NULL once closed */
	struct exec_spec exec;       /* what it runs (the server's at its spawn) */
	char version[32];            /* what it says it is (ant_set_version), "" */
	int retiring;                /* antd ends it on purpose (an upgrade's old or new one) */
	unsigned want;               /* NEXT credit: items it asked for and was not given */
	int lanes_given;             /* (lanes.c) it has its bell and lanes */
	uint64_t started_ns;
	int notify_fd;               /* its seccomp notifications, or -1 (sandbox_serve.c) */
	ev_io notifyw;
	ev_timer ready_timer;        /* (supervise.c) a start must say ready in time */
	ev_timer eof_timer;          /* (supervise.c) closed its socket: a moment to exit */
	enum kill_kind kill;         /* antd killed it, and why */
	char kill_why[160];
};

enum server_state {
	SRV_STOPPED,     /* not running and not to be restarted (stop, temporary, clean exit) */
	SRV_SPAWNING,    /* its process is forked, exec not confirmed: calls wait in its queues */
	SRV_STARTING,    /* started, not ready yet: its calls wait in its queues */
	SRV_RUNNING,     /* ready: takes work */
	SRV_RESTARTING,  /* dead or doomed; a restart follows (at once, or after backoff) */
	SRV_FAILED,      /* given up (intensity exceeded, or it cannot start) */
	SRV_STOPPING,    /* being stopped (SIGTERM sent) */
	SRV_NSTATES
};

#define RESTART_HISTORY 1024
#define SERVER_EXITS 8
#define SERVER_SVC_SAMPLES 1024   /* service times kept per server, for p50/p99 */

struct server {
	const struct stack_server *conf;   /* ro */
	unsigned id;                       /* ro */
	enum server_state state;           /* supervise.c's alone */
	struct instance slot[2];           /* private: storage of cur and spare */
	struct instance *cur;              /* the serving instance (pid 0: none) */
	struct instance *spare;            /* the warm spare (pid 0: none) */
	unsigned spawns;                   /* processes started for it, spares included */
	struct callq requests;             /* calls waiting for this server */
	struct callq results;              /* results waiting to be handed to it */
	unsigned held;                     /* control ICAs it holds now (calls.c) */
	unsigned probation;                /* replays left to hand over one at a time (calls.c) */
	struct exec_spec exec;             /* what its next process runs (the stack file's,
					      until an upgrade) */
	unsigned generation;               /* upgrades and rollbacks so far */
	struct exec_spec prev_exec;        /* the version before the last upgrade ... */
	int has_prev;                      /* ... if there was one (antctl rollback) */
	struct upgrade up;
	uint64_t served;                   /* replies sent */
	uint64_t errors;                   /* ... of them with an error (retval < 0) */
	uint64_t failed;                   /* calls antd ended with an error at it: not
					      replayed, poison, refused (stopped, failed) */
	uint64_t state_ns;                 /* when state last changed (mono_ns) */
	uint32_t svc_us[SERVER_SVC_SAMPLES];/* its last service times (a request or RETURN
					      handed over -> its REPLY or FORWARD), a ring */
	uint64_t svc_n;                    /* service times taken in all */
	struct server_metrics metrics;     /* by op, by error code, a histogram (metrics.h) */
	uint64_t restarts, replays, failovers;
	char last_exit[96];                /* how it last ended */
	struct exit_rec {
		double when;               /* wall clock (s since the epoch) */
		char how[96];              /* "killed by signal SIGKILL", "exited with code 1" */
		char cause[160];           /* why antd ended it, or why it could not start; "" */
	} exits[SERVER_EXITS];             /* its last ends, a ring (exits_n counts them all) */
	unsigned exits_n;
	struct failure {
		double t;                  /* when (monotonic s) */
		uint64_t blamed;           /* the caller (peer key) of the request it was blamed on, or 0 */
	} history[RESTART_HISTORY];        /* recent failures counted toward the intensity */
	unsigned nhistory;
	ev_timer restart_timer;            /* backoff before the next start */
	ev_timer spare_timer;              /* (re)make the spare */
	ev_timer retry_timer;              /* on_give_up retry: try a given-up server again */
	unsigned give_ups;                 /* given up in a row (the retry delay doubles) */
	int op_stopped;                    /* stopped by the operator (antctl stop), not by itself */
	double last_failure;               /* when the last failure was counted (monotonic s) */
	unsigned spare_failures;           /* spares that died in a row */
	char violation[96];                /* the last sandbox violation */
	uint64_t violations;
};

/* The server of the stack named name, or NULL. */
struct server *server_named(struct antd *d, const char *name);

/* Is the server taking work now, or will it after a restart? */
static inline int server_accepts(const struct server *s)
{
	return s->state == SRV_SPAWNING || s->state == SRV_STARTING || s->state == SRV_RUNNING ||
	       s->state == SRV_RESTARTING;
}

/* Is the slot holding a process (or one on its way from the forker)? */
/* One service time of s (us): its ring of samples (p50/p99) and its histogram. */
static inline void server_took(struct server *s, uint32_t us)
{
	s->svc_us[s->svc_n++ % SERVER_SVC_SAMPLES] = us;
	metrics_took(&s->metrics, us);
}

static inline int instance_alive(const struct instance *in)
{
	return in->phase != INST_NONE;
}

/* The same, running exec rather than the server's program of now. */
int instance_spawn_exec(struct antd *d, struct instance *in, const struct exec_spec *exec);

/* Start the forker (forker.c): call once, before the first instance_spawn. */
int spawn_init(struct antd *d);
/* The same after_s from now (a re-exec: the calls waiting in the sockets
 * go first; a spawn asked for before then starts the forker itself). */
void spawn_init_later(struct antd *d, double after_s);
/*
 * Start a process in the empty slot in: its socket and spawn channel are
 * made here, the fork, the sandbox and the exec by the forker.  Never waits:
 * the forker's answer (its pid), the exec's outcome, its seccomp
 * notification fd and its end arrive as events (supervise_event: EV_SPAWNED,
 * EV_EXEC_FAILED, EV_EXITED).  Returns 0 (in is SPAWNING), or -errno with
 * in->exec_error saying why nothing was started.
 */
int instance_spawn(struct antd *d, struct instance *in);
/* Signal a live instance (by its pidfd: never a recycled pid; before its
 * pid is known, when it is). */
void instance_signal(struct instance *in, int sig);
/* A re-exec of antd: in is the process pid (started, its pidfd and its
 * seccomp notification fd, or -1, taken over) of the antd before; the rest
 * of in is filled by the caller. */
void instance_adopt(struct antd *d, struct instance *in, pid_t pid, int pidfd, int notify_fd);
/* Processes the forker made for nobody, being reaped now (a re-exec waits
 * for none). */
unsigned spawn_strays(void);
/* Kill pid (its pidfd consumed) and reap it when it ends: a process nobody
 * waits for (the forker of the antd before a re-exec, a late fork). */
void spawn_adopt_stray(struct antd *d, pid_t pid, int pidfd);
/* Close what is left of an ended instance and empty its slot (the peer must
 * be closed already). */
void instance_clear(struct antd *d, struct instance *in);
/* antd is ending: SIGKILL, reap and close every instance of every server. */
void instances_reap_all(struct antd *d);
const char *server_state_name(enum server_state st);

#endif
