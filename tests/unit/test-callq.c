/* test-callq.c - the request and result queues: FIFO order, head insertion, removal anywhere. */
#include <check.h>
#include <stdlib.h>

#include "antd.h"
#include "callq.h"

static struct call *calls;

static void setup(void)
{
	calls = calloc(8, sizeof(*calls));
	for (unsigned i = 0; i < 8; i++)
		calls[i].index = i;
}

static void teardown(void)
{
	free(calls);
}

/* The queue's order as a string of indexes, checking len and tail too. */
static const char *order(struct callq *q)
{
	static char buf[16];
	unsigned n = 0;
	struct call *last = NULL;
	struct call *c;
	TAILQ_FOREACH(c, &q->q, qlink) {
		buf[n++] = (char)('0' + c->index);
		last = c;
	}
	buf[n] = '\0';
	ck_assert_uint_eq(n, q->len);
	ck_assert_ptr_eq(TAILQ_LAST(&q->q, callq_head), last);
	return buf;
}

START_TEST(fifo)
{
	struct callq q;
	callq_init(&q);
	ck_assert_ptr_null(callq_pop(&q));
	for (unsigned i = 0; i < 5; i++)
		callq_push(&q, &calls[i]);
	ck_assert_str_eq(order(&q), "01234");
	ck_assert_ptr_eq(callq_pop(&q), &calls[0]);
	ck_assert_ptr_eq(callq_pop(&q), &calls[1]);
	ck_assert_ptr_null(calls[1].q);   /* in no queue */
	callq_push(&q, &calls[5]);
	ck_assert_str_eq(order(&q), "2345");
	while (callq_pop(&q))
		;
	ck_assert_str_eq(order(&q), "");
	ck_assert_ptr_null(TAILQ_LAST(&q.q, callq_head));
	callq_push(&q, &calls[6]);   /* usable again once empty */
	ck_assert_str_eq(order(&q), "6");
}
END_TEST

START_TEST(push_head)
{
	struct callq q;
	callq_init(&q);
	callq_push_head(&q, &calls[1]);       /* into an empty queue: tail too */
	ck_assert_str_eq(order(&q), "1");
	callq_push(&q, &calls[2]);
	callq_push_head(&q, &calls[0]);
	ck_assert_str_eq(order(&q), "012");
	ck_assert_ptr_eq(callq_pop(&q), &calls[0]);
}
END_TEST

START_TEST(remove_anywhere)
{
	struct callq q;
	callq_init(&q);
	for (unsigned i = 0; i < 5; i++)
		callq_push(&q, &calls[i]);
	ck_assert_int_eq(callq_remove(&q, &calls[2]), 1);   /* middle */
	ck_assert_str_eq(order(&q), "0134");
	ck_assert_int_eq(callq_remove(&q, &calls[4]), 1);   /* tail */
	ck_assert_str_eq(order(&q), "013");
	callq_push(&q, &calls[5]);                           /* tail still right */
	ck_assert_str_eq(order(&q), "0135");
	ck_assert_int_eq(callq_remove(&q, &calls[0]), 1);   /* head */
	ck_assert_str_eq(order(&q), "135");
	ck_assert_int_eq(callq_remove(&q, &calls[7]), 0);   /* not queued */
	ck_assert_str_eq(order(&q), "135");
	ck_assert_int_eq(callq_remove(&q, &calls[1]), 1);
	ck_assert_int_eq(callq_remove(&q, &calls[3]), 1);
	ck_assert_int_eq(callq_remove(&q, &calls[5]), 1);
	ck_assert_str_eq(order(&q), "");
}
END_TEST

START_TEST(two_queues_do_not_mix)
{
	struct callq req, res;
	callq_init(&req);
	callq_init(&res);
	callq_push(&req, &calls[0]);
	callq_push(&res, &calls[1]);
	callq_push(&req, &calls[2]);
	ck_assert_int_eq(callq_remove(&res, &calls[0]), 0);
	ck_assert_str_eq(order(&req), "02");
	ck_assert_str_eq(order(&res), "1");
}
END_TEST

static Suite *callq_suite(void)
{
	Suite *s = suite_create("callq");
	TCase *tc = tcase_create("callq");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fifo);
	tcase_add_test(tc, push_head);
	tcase_add_test(tc, remove_anywhere);
	tcase_add_test(tc, two_queues_do_not_mix);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(callq_suite)
