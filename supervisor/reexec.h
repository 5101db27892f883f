/* reexec.h - antd re-executes itself (antctl reexec): its whole state handed to the new binary, every server, call and connection kept. */
#ifndef ANTD_REEXEC_H
#define ANTD_REEXEC_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>
#include <jansson.h>

struct antd;
struct peer;

/* The state format antd writes before it re-executes, and the versions of
 * it this antd reads (antd --state-format prints "antd-state MIN MAX"). */
#define ANTD_STATE_FORMAT      "antd-state"
#define ANTD_STATE_VERSION     1
#define ANTD_STATE_VERSION_MIN 1

/* An antctl reexec under way, before antd executes the new binary. */
struct reexec {
	int active;
	uint64_t requester;          /* the control connection waiting for the outcome */
	char exec[PATH_MAX];         /* the binary to execute */
	unsigned timeout_ms;         /* how long to wait for a moment without starts */
	double asked;                /* mono s */
	pid_t probe_pid;             /* EXEC --state-format, while it runs ... */
	int probe_out, probe_in;     /* ... what it prints (antd's end, the child's) */
	int probing;                 /* the thread that spawns it is to be joined */
	int spawn_error;             /* why it could not be spawned (an errno), 0 */
	pthread_t thread;
	ev_io probe_w;
	char probe_buf[128];
	size_t probe_len;
	ev_timer timer;              /* the probe's time limit; then retries */
};

/* control.c: "reexec" {"exec": PATH, "timeout_ms": N}.  A refusal now, or
 * NULL: the outcome comes to p later (from the new antd, or from this one
 * if the new one could not be started or could not take over). */
json_t *reexec_cmd(struct antd *d, json_t *req, struct peer *p);

/* antd.c, started with --resume=STATEFD:EXEFD: read the state the antd
 * before wrote (into d: the stack's text, the command line it ran with...)
 * and check it.  0, or -1 with err saying why (then reexec_fall_back). */
int reexec_read(struct antd *d, const char *fds, char *err, size_t errlen);
/* Once the loop is open and the servers are initialised: take over every
 * table, connection and process.  0, or -1 with err. */
int reexec_take_over(struct antd *d, char *err, size_t errlen);
/* The new antd is running: say so to the requester and in the log, close
 * what was only for the hand-over. */
void reexec_done(struct antd *d);
/* The new antd cannot take over: execute the binary before it again (its
 * fd), with the same state and argv and the reason in ANT_REEXEC_FAILED.
 * Returns only if that is impossible too. */
void reexec_fall_back(struct antd *d, char **argv, const char *why);

/* reexec_state.c: every table of d into root (fds named by number, kept
 * open across the exec: each added to fds) and blob (pages, queued
 * messages, partial lines); and back, in the new antd. */
struct reexec_blob {
	unsigned char *p;
	size_t n, cap;
};
struct reexec_fds {
	int *fd;
	unsigned n, cap;
};
int reexec_state_save(struct antd *d, json_t *root, struct reexec_blob *b, struct reexec_fds *fds);
int reexec_state_load(struct antd *d, json_t *root, const unsigned char *blob, size_t n,
		      char *err, size_t errlen);
/* Messages the antd before could not send yet, sent now (once the new
 * antd has taken over: a fall-back would send them twice). */
int reexec_state_requeue(struct antd *d, json_t *root, const unsigned char *blob, size_t n);
int reexec_fds_add(struct reexec_fds *f, int fd);

#endif
