/* callq.h - FIFO queues of calls: each server's request queue and result queue. */
#ifndef ANTD_CALLQ_H
#define ANTD_CALLQ_H

struct call;

/* Intrusive: a call is in at most one queue at a time (its `next` link). */
struct callq {
	struct call *head, *tail;
	unsigned len;
};

void callq_push(struct callq *q, struct call *c);
/* Put c first (a call that must go before the others, e.g. a replay). */
void callq_push_head(struct callq *q, struct call *c);
/* First call, or NULL. */
struct call *callq_pop(struct callq *q);
/* Remove c wherever it is; returns 1 if it was queued here, 0 if not. */
int callq_remove(struct callq *q, struct call *c);

#endif
