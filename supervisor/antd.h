/* antd.h - the inner core's shared state (struct antd) and the daemon's own lifecycle. */
#ifndef ANTD_ANTD_H
#define ANTD_ANTD_H

#include <stdint.h>
#include <sys/types.h>
#include <ev.h>

#include "ant/cica.h"
#include "ant/proto.h"
#include "calls.h"
#include "callq.h"
#include "forker.h"
#include "loop.h"
#include "ica_table.h"
#include "inject.h"
#include "lanes.h"
#include "upgrade.h"
#include "peer.h"
#include "reexec.h"
#include "server.h"
#include "stackfile.h"
#include "supervise.h"

/*
 * What the lifecycle tells the daemon about the stack as a whole (filled by
 * antd.c; supervise.c calls them, and never names antd.c).
 *   ready:        every server is running (the first time: the stack is ready);
 *   server_gone:  a server will not run again, or one more child ended while
 *                 antd stops;
 *   start_failed: a server could not be started before the stack was ready;
 *   stop:         stop the whole stack (a server given up with stop_stack).
 */
struct antd_hooks {
	void (*ready)(struct antd *d);
	void (*server_gone)(struct antd *d, struct server *s);
	void (*start_failed)(struct antd *d, struct server *s, const char *why);
	void (*stop)(struct antd *d, const char *why);
};

/* How antd ended (its exit status). */
enum {
	ANTD_EXIT_OK = 0,        /* stopped as asked (SIGTERM, SIGINT, antctl shutdown), cleanly */
	ANTD_EXIT_FAILED = 1,    /* it could not start, or a stop_stack server was given up */
	ANTD_EXIT_USAGE = 2,     /* bad command line */
	ANTD_EXIT_KILLED = 3,    /* stopped, but servers had to be killed after the grace time */
};

struct antd {
	struct antd_hooks hooks;            /* ro: the daemon's side of the lifecycle */
	struct ev_loop *loop;
	struct stack *stack;
	char *run_dir;
	char app_path[108], control_path[108], pid_path[4096];
	char log_path[4096];                /* the log file, "" for stderr */
	int app_listen, control_listen, lock_fd;
	ev_io app_w, control_w;
	ev_timer accept_timer;              /* out of fds: accepting resumes (listen.c) */
	unsigned accept_pauses;             /* pauses in the current episode */
	uint64_t conns_refused;             /* over limits.connections_per_user (listen.c) */
	ev_signal sigterm_w, sigint_w;
	ev_timer stop_timer;
	ev_idle stock_w;                    /* fills the ICA stock when idle */
	int stopping;
	int done;                           /* the loop is to end */
	int ever_ready;                     /* every server was running once */
	int exit_status;                    /* antd's, when it stops (ANTD_EXIT_*) */
	double stop_grace_s;                /* servers get this long after SIGTERM */
	int ready_fd;                       /* daemon mode: tell the parent we are up */
	int foreground;                     /* start-up errors go to stderr too */
	uid_t uid;                          /* antd's own uid (control socket check) */
	struct server servers[ANT_SERVERS_MAX + 1]; /* index = server id */
	struct peer **peers;
	uint32_t npeers, peers_cap, peer_gen;
	struct peer_handlers handlers[PEER_KINDS];
	struct forker forker;               /* forks every server (forker.c) */
	struct loop_stats loop_stats;       /* how long antd is busy per wake-up (loop.c) */
	struct call_table calls;
	struct ica_table icas;
	struct inject_table inject;         /* armed faults (inject.c) */
	struct lanes lanes;                 /* the fast path (lanes.c) */
	uint64_t calls_total;
	uint64_t events;                    /* messages read: the busy-poll loop's sign of life */
	/* re-executing itself (reexec.c) */
	char *stack_text;                   /* the stack file as read at start (a re-exec
					       reads this, not the file again) */
	char **argv;                        /* antd's command line, without --resume */
	int argc;
	unsigned reexecs;                   /* times antd re-executed itself so far */
	double started_wall;                /* when the first antd of this run started */
	struct reexec reexec;               /* antctl reexec under way */
	json_t *resume;                     /* the new antd: the state it takes over ... */
	unsigned char *resume_blob;         /* ... with its pages and messages */
	size_t resume_blob_len;
	int resume_fd, resume_exe;          /* the state's memfd, the binary before (-1) */
	uint64_t resume_t0;                 /* mono_ns when the antd before stopped serving */
	uint64_t resume_main;               /* mono_ns when the new one's main began */
};

#endif
