/* forker.h - the one process that forks servers for antd, so that antd itself never forks. */
#ifndef ANTD_FORKER_H
#define ANTD_FORKER_H

#include <signal.h>
#include <sys/types.h>
#include <ev.h>

#include "ant/proto.h"

struct antd;

/* Called in antd's loop with each answer: the child (rep->pid > 0, pidfd its
 * pidfd, the callee's to close) or why there is none (pidfd -1). */
typedef void forker_reply_fn(struct antd *d, const struct ant_m_forked *rep, int pidfd);

struct forker {
	pid_t pid;                  /* 0: none */
	int sock;                   /* private: requests out, answers in */
	int pidfd;                  /* private */
	ev_io replyw, pidw;         /* private */
	unsigned restarts;          /* times it died and was started again */
	forker_reply_fn *on_forked; /* ro */
};

/*
 * Fork the forker (antd's only fork; again if it ever dies).  Call once the
 * stack is loaded and antd has detached: the forker works from its copy of
 * antd's stack, taken now.  Returns 0 or -errno.
 */
int forker_start(struct antd *d, forker_reply_fn *on_forked);
/* Ask for a process of server_id, generation gen, running exec (its
 * program and arguments, struct exec_spec's text of len bytes), with fds
 * (not consumed): its socket end, its spawn channel end, its output pipe's
 * write end (or nfds 2: none).  The answer comes to on_forked.  Returns 0
 * or -errno. */
int forker_request(struct antd *d, unsigned server_id, unsigned gen, const char *exec,
		   size_t len, const int *fds, unsigned nfds);
/* The forker did not answer in time (stuck in a lookup, an open...): kill
 * it; its end starts another. */
void forker_kill(struct antd *d);
/* Reap the child of pidfd if it has ended: 1 (si says how), else 0. */
int pidfd_reaped(int pidfd, siginfo_t *si);
/* antd re-executes: close and kill the forker without waiting for its end;
 * returns its pidfd (the new antd reaps it) and its pid, or -1. */
int forker_abandon(struct antd *d, pid_t *pid);
/* antd is ending: close, kill and reap the forker. */
void forker_stop(struct antd *d);

#endif
