/* callq.c - FIFO queues of calls: each server's request queue and result queue. */
#include <stddef.h>

#include "calls.h"
#include "callq.h"

void callq_init(struct callq *q)
{
	TAILQ_INIT(&q->q);
	q->len = 0;
}

void callq_push(struct callq *q, struct call *c)
{
	TAILQ_INSERT_TAIL(&q->q, c, qlink);
	c->q = q;
	q->len++;
}

void callq_push_head(struct callq *q, struct call *c)
{
	TAILQ_INSERT_HEAD(&q->q, c, qlink);
	c->q = q;
	q->len++;
}

struct call *callq_first(const struct callq *q)
{
	return TAILQ_FIRST(&q->q);
}

struct call *callq_pop(struct callq *q)
{
	struct call *c = TAILQ_FIRST(&q->q);
	if (c)
		callq_remove(q, c);
	return c;
}

int callq_remove(struct callq *q, struct call *c)
{
	if (c->q != q)
		return 0;
	TAILQ_REMOVE(&q->q, c, qlink);
	c->q = NULL;
	q->len--;
	return 1;
}
