/* callq.c - FIFO queues of calls: each server's request queue and result queue. */
#include <stddef.h>

#include "antd.h"
#include "callq.h"

void callq_push(struct callq *q, struct call *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->len++;
}

void callq_push_head(struct callq *q, struct call *c)
{
	c->next = q->head;
	q->head = c;
	if (!q->tail)
		q->tail = c;
	q->len++;
}

struct call *callq_pop(struct callq *q)
{
	struct call *c = q->head;
	if (!c)
		return NULL;
	q->head = c->next;
	if (!q->head)
		q->tail = NULL;
	q->len--;
	c->next = NULL;
	return c;
}

int callq_remove(struct callq *q, struct call *c)
{
	struct call *prev = NULL;
	for (struct call *i = q->head; i; prev = i, i = i->next) {
		if (i != c)
			continue;
		if (prev)
			prev->next = c->next;
		else
			q->head = c->next;
		if (q->tail == c)
			q->tail = prev;
		q->len--;
		c->next = NULL;
		return 1;
	}
	return 0;
}
