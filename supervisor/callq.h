/* callq.h - FIFO queues of calls: each server's request queue and result queue (a <sys/queue.h> TAILQ). */
#ifndef ANTD_CALLQ_H
#define ANTD_CALLQ_H

#include <sys/queue.h>

struct call;

/* Intrusive: a call is in at most one queue at a time (its `qlink`; its `q`
 * says which, NULL when in none). */
struct callq {
	TAILQ_HEAD(callq_head, call) q;
	unsigned len;
};

/* An empty queue (a zeroed one is not: call this first). */
void callq_init(struct callq *q);
void callq_push(struct callq *q, struct call *c);
/* Put c first (a call that must go before the others, e.g. a replay). */
void callq_push_head(struct callq *q, struct call *c);
/* First call, or NULL. */
struct call *callq_pop(struct callq *q);
/* First call without taking it, or NULL. */
struct call *callq_first(const struct callq *q);
/* Remove c if it is queued in q (O(1)); returns 1 if it was, 0 if not. */
int callq_remove(struct callq *q, struct call *c);

#endif
