/* calls.h - the inner core's routing: control ICAs in flight, request and result queues, direct return, replay. */
#ifndef ANTD_CALLS_H
#define ANTD_CALLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <ev.h>

#include "ant/cica.h"
#include "callq.h"

struct antd;
struct peer;
struct server;

enum call_state {
	CALL_QUEUED,      /* in server `at`'s request queue */
	CALL_HELD,        /* held by server `at` (a REQUEST or RETURN handed over) */
	CALL_RESULTQ,     /* in server `at`'s result queue */
};

struct call {
	uint32_t index, gen;          /* ro: its id (gen 0: a free slot) */
	enum call_state state;
	unsigned at;                  /* server id queued at / held by */
	unsigned held_as;             /* ANT_M_REQUEST or ANT_M_RESULT (a RETURN) */
	unsigned kills;               /* deaths of servers while they held it */
	int cancelled;                /* its caller gave up (CANCEL, or gone): its result
					 is dropped and it is not replayed */
	uint64_t origin;              /* peer key of frame 0's caller */
	unsigned origin_server;       /* 0: an application */
	unsigned origin_gen;          /* the calling server's instance (its gen) */
	struct ant_ica_ref data;      /* the data ICA this call keeps alive */
	TAILQ_ENTRY(call) qlink;      /* private (callq.c) */
	struct callq *q;              /* private (callq.c): the queue it is in */
	uint32_t free_next;           /* private: free list, index+1 */
	ev_timer deadline;            /* while held: the holder's deadline */
	uint64_t held_ns;             /* when its holder got it (mono_ns) */
	struct antd *d;
	size_t len;                   /* bytes of page in use */
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8))); /* antd's own copy */
};

struct call_table {
	struct call **c;              /* by index; NULL: an empty slot (its memory freed) */
	uint32_t n, cap;
	uint32_t free_head;           /* index+1: slots whose memory is kept */
	uint32_t kept;
	uint32_t *empty;              /* empty slots, a stack */
	uint32_t nempty;
	uint32_t next_gen;
	unsigned live;
	int trim_due;                 /* many were in flight: trim when none is */
};

void calls_init(struct antd *d);
void calls_fini(struct antd *d);

/*
 * The handlers of framed peers (servers and apps), installed by antd.c in
 * the transport's table: one checked message (ant_msg_recv checked type,
 * length and fd rules), dispatched by type; anything a peer of that kind may
 * not send cuts it off (peer_cut_off), never antd.  fd: an fd that came with
 * it (closed here: peers never send fds to antd after their start).
 */
void calls_on_message(struct peer *p, unsigned char *msg, size_t len, int fd);
/* An application's connection is gone: calls it made that no server holds
 * yet are dropped; those held go on, cancelled (results dropped, no replay). */
void calls_on_app_close(struct peer *p, const char *why);

/* The serving instance of s died: the calls it held go back to the head of
 * its queues (replay) unless its policy or the poison count says no, then
 * they fail.  counts: this death counts against them.  Results of its own
 * calls are dropped (the next instance did not make them).  Returns the
 * origin (peer key of its first caller) of the one call the death was
 * blamed on, or 0 if none was. */
uint64_t calls_server_died(struct antd *d, struct server *s, int counts);
/* s will not serve again (given up, stopped): fail everything queued for it. */
void calls_fail_queued(struct antd *d, struct server *s, int error);
/* A server became ready or got more credit: hand it work, results first. */
void calls_pump(struct antd *d, struct server *s);
/* p's holds of data ICAs, counted against its limits: +1 when it takes a
 * hold it did not have, -1 before it gives one up. */
void calls_count_hold(struct antd *d, struct peer *p, const struct ant_ica_ref *ref, int delta);
/* Does s's serving process still have something coming back to it: a call
 * of its own, or a stage it forwarded and wants the result of?  (An
 * upgrade's drain waits for none.) */
int calls_owed_to(struct antd *d, const struct server *s);
/* A re-exec of antd (reexec_state.c): a call of the antd before, in its
 * slot index under its gen (NULL: taken, or out of memory); every call
 * adopted, the table's generation goes on from next_gen; a held call's
 * deadline, remaining seconds from now. */
struct call *calls_adopt(struct antd *d, uint32_t index, uint32_t gen);
void calls_adopt_done(struct antd *d, uint32_t next_gen);
void calls_adopt_deadline(struct antd *d, struct call *c, double remaining);
/* Fail every call in flight with error (shutdown). */
void calls_fail_all(struct antd *d, int error);

/* lanes.c: a request taken over from a lane (page fixed by
 * ant_lane_request_fix; call_id kept) as a call from its caller (an app,
 * or a server's instance): held by s, or only marked queued at s (then
 * calls_enqueue).  NULL: out of memory. */
struct lane_caller;
struct call *calls_from_lane(struct antd *d, struct server *s, const struct lane_caller *from,
			     const unsigned char *page, int held);
/* Queue c at its callee, or fail it if the callee takes no work. */
void calls_enqueue(struct antd *d, struct call *c);
/* How long s may hold a request with this (valid) page. */
unsigned calls_page_deadline_ms(const struct server *s, const void *page);

#endif
