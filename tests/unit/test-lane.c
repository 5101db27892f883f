/* test-lane.c - lanes (ipc/lane.c): layout, post/take/done, full and closed lanes, a sender
 * that breaks the rules, read-only mappings, two processes ringing bells, and a receiver
 * killed at a random moment leaving every request either answered or still held. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "ant/lane.h"

struct pair {
	int post_fd, ack_fd;
	struct ant_lane tx, rx, own;
};

static void pair_make(struct pair *p, unsigned nslots)
{
	ck_assert_int_eq(ant_lane_create(nslots, 0, 1, &p->post_fd, &p->ack_fd), 0);
	ck_assert_int_eq(ant_lane_map(&p->tx, p->post_fd, p->ack_fd, ANT_LANE_SENDER), 0);
	ck_assert_int_eq(ant_lane_map(&p->rx, p->post_fd, p->ack_fd, ANT_LANE_RECEIVER), 0);
	ck_assert_int_eq(ant_lane_map(&p->own, p->post_fd, p->ack_fd, ANT_LANE_OWNER), 0);
}

static void pair_free(struct pair *p)
{
	ant_lane_unmap(&p->tx);
	ant_lane_unmap(&p->rx);
	ant_lane_unmap(&p->own);
	close(p->post_fd);
	close(p->ack_fd);
}

/* Post a request whose page is the text "call N" and whose ticket is N. */
static int post_n(struct ant_lane *l, uint64_t n)
{
	char page[64];
	int len = snprintf(page, sizeof(page), "call %llu", (unsigned long long)n) + 1;
	struct ant_lane_slot h = { .kind = ANT_LANE_REQUEST, .ticket = n, .token = n * 7919 };
	return ant_lane_post(l, &h, page, (size_t)len);
}

static struct ant_lane_slot got;   /* a page and more: off the stack */

START_TEST(test_create_and_map)
{
	struct pair p;
	pair_make(&p, 8);
	ck_assert_uint_eq(p.rx.nslots, 8);
	ck_assert_uint_eq(p.tx.hdr->from, 0);
	ck_assert_uint_eq(p.tx.hdr->to, 1);
	ck_assert_uint_eq(ant_lane_posted(&p.own), 0);
	ck_assert_uint_eq(ant_lane_taken(&p.own), 0);
	ck_assert_uint_eq(ant_lane_post_size(8) % (size_t)sysconf(_SC_PAGESIZE), 0);
	ck_assert_int_eq(ant_lane_create(0, 0, 1, &p.post_fd, &p.ack_fd), -EINVAL);
	ck_assert_int_eq(ant_lane_create(ANT_LANE_SLOTS_MAX + 1, 0, 1, &p.post_fd, &p.ack_fd),
			 -EINVAL);
	pair_free(&p);
}
END_TEST

START_TEST(test_bad_header_refused)
{
	struct pair p;
	pair_make(&p, 4);
	uint32_t bad = 0xdeadbeef;
	ck_assert_int_eq(pwrite(p.post_fd, &bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	struct ant_lane l;
	ck_assert_int_eq(ant_lane_map(&l, p.post_fd, p.ack_fd, ANT_LANE_RECEIVER), -EPROTO);
	/* The ack area handed as the post area: sizes do not fit a header. */
	ck_assert_int_eq(ant_lane_map(&l, p.ack_fd, p.post_fd, ANT_LANE_RECEIVER), -EPROTO);
	pair_free(&p);
}
END_TEST

START_TEST(test_post_take_done_in_order)
{
	struct pair p;
	pair_make(&p, 4);
	unsigned bad;
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), -EAGAIN);
	for (uint64_t n = 1; n <= 4; n++)
		ck_assert_int_ge(post_n(&p.tx, n), 0);
	ck_assert_int_eq(post_n(&p.tx, 5), -EAGAIN);        /* full */
	ck_assert_uint_eq(ant_lane_posted(&p.own), 4);
	for (uint64_t n = 1; n <= 4; n++) {
		int i = ant_lane_take(&p.rx, &got, &bad);
		ck_assert_int_ge(i, 0);
		ck_assert_uint_eq(got.ticket, n);
		ck_assert_uint_eq(got.token, n * 7919);
		char want[64];
		snprintf(want, sizeof(want), "call %llu", (unsigned long long)n);
		ck_assert_str_eq((const char *)got.page, want);
		ck_assert_uint_eq(got.len, strlen(want) + 1);
	}
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), -EAGAIN);
	ck_assert_uint_eq(ant_lane_taken(&p.own), 4);
	/* Taken is not free: the sender waits for done. */
	ck_assert_int_eq(post_n(&p.tx, 5), -EAGAIN);
	ant_lane_done(&p.rx, 2, got.seq);   /* the last taken was slot 3; done slot 2's seq (1) */
	ck_assert_int_eq(post_n(&p.tx, 5), 2);
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), 2);
	ck_assert_uint_eq(got.ticket, 5);
	ck_assert_uint_eq(got.seq, 2);      /* slot 2's second post */
	pair_free(&p);
}
END_TEST

START_TEST(test_closed_and_bad_len)
{
	struct pair p;
	pair_make(&p, 2);
	struct ant_lane_slot h = { .kind = ANT_LANE_REQUEST };
	char page[ANT_CICA_SIZE + 1] = { 0 };
	ck_assert_int_eq(ant_lane_post(&p.tx, &h, page, 0), -EINVAL);
	ck_assert_int_eq(ant_lane_post(&p.tx, &h, page, ANT_CICA_SIZE + 1), -EINVAL);
	ck_assert_int_eq(ant_lane_post(&p.tx, &h, page, ANT_CICA_SIZE), 0);
	p.own.ack_hdr->closed = 1;
	ck_assert_int_eq(ant_lane_post(&p.tx, &h, page, 8), -EPIPE);
	pair_free(&p);
}
END_TEST

/* A sender that moves a taken slot's seq, or skips counts, or writes a len
 * out of range, is caught by the receiver, which names the slot. */
START_TEST(test_torn_slots)
{
	struct pair p;
	unsigned bad = 99;
	/* Reuse of a slot the receiver works on. */
	pair_make(&p, 4);
	ck_assert_int_eq(post_n(&p.tx, 1), 0);
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), 0);
	p.tx.slot[0].seq++;
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), ANT_LANE_TORN);
	ck_assert_uint_eq(bad, 0);
	pair_free(&p);
	/* Counts skipped. */
	pair_make(&p, 4);
	p.tx.slot[1].seq = 5;
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), ANT_LANE_TORN);
	ck_assert_uint_eq(bad, 1);
	pair_free(&p);
	/* A length out of range. */
	pair_make(&p, 4);
	p.tx.slot[2].len = ANT_CICA_SIZE + 1;
	p.tx.slot[2].seq = 1;
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), ANT_LANE_TORN);
	ck_assert_uint_eq(bad, 2);
	pair_free(&p);
}
END_TEST

/* Posts are taken in the order they were made, whatever slots they went
 * into: here the sender has to skip a slot its receiver still holds. */
START_TEST(test_fifo_across_skipped_slots)
{
	struct pair p;
	pair_make(&p, 3);
	unsigned bad;
	ck_assert_int_eq(post_n(&p.tx, 1), 0);
	ck_assert_int_eq(post_n(&p.tx, 2), 1);
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), 0);   /* 1: held, not done */
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), 1);   /* 2 */
	ant_lane_done(&p.rx, 1, got.seq);
	ck_assert_int_eq(post_n(&p.tx, 3), 2);
	ck_assert_int_eq(post_n(&p.tx, 4), 1);                   /* slot 0 still held */
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), 2);
	ck_assert_uint_eq(got.ticket, 3);
	ck_assert_int_eq(ant_lane_take(&p.rx, &got, &bad), 1);
	ck_assert_uint_eq(got.ticket, 4);
	/* A sender that maps the lane anew counts on. */
	struct ant_lane again;
	ck_assert_int_eq(ant_lane_map(&again, p.post_fd, p.ack_fd, ANT_LANE_SENDER), 0);
	ck_assert_uint_eq(again.posted, 4);
	ant_lane_unmap(&again);
	pair_free(&p);
}
END_TEST

/* The receiver's view of the post area is read-only, the sender's of the
 * ack area: a write there ends the process with SIGSEGV.  Tried in a child
 * with SIGSEGV's default action (a sanitizer's handler would abort). */
static void write_dies(volatile uint64_t *where)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		*where = 1;
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "the write went through");
}

START_TEST(test_read_only_views)
{
	struct pair p;
	pair_make(&p, 2);
	write_dies(&p.rx.slot[0].seq);
	write_dies(&p.tx.ack[0].done);
	write_dies((volatile uint64_t *)(void *)p.rx.hdr);   /* its header too */
	/* Their own sides are writable, and antd's both. */
	p.tx.slot[0].flags = 1;
	p.rx.ack[0].taken = 0;
	p.own.ack_hdr->closed = 0;
	pair_free(&p);
}
END_TEST

/* ---- two processes ---------------------------------------------------------- */

/* The child serves lane req (receiver) and answers each request on lane res
 * (sender), sleeping on its bell when there is nothing; the parent does the
 * opposite.  Every answer carries its request's ticket + 1. */
static void serve(struct pair *req, struct pair *res, int bell, long n)
{
	unsigned bad;
	for (long k = 0; k < n;) {
		int i = ant_lane_take(&req->rx, &got, &bad);
		if (i == -EAGAIN) {
			ant_lane_sleeping(&req->rx, 1);
			i = ant_lane_take(&req->rx, &got, &bad);
			if (i == -EAGAIN) {
				ant_bell_wait(bell);
				ant_lane_sleeping(&req->rx, 0);
				continue;
			}
			ant_lane_sleeping(&req->rx, 0);
		}
		if (i < 0)
			_exit(3);
		struct ant_lane_slot h = { .kind = ANT_LANE_RESULT, .ticket = got.ticket + 1,
					   .about = (uint64_t)i };
		while (ant_lane_post(&res->tx, &h, got.page, got.len) == -EAGAIN)
			sched_yield();
		ant_lane_done(&req->rx, (unsigned)i, got.seq);
		k++;
	}
}

START_TEST(test_two_processes_with_bells)
{
	struct pair req, res;
	pair_make(&req, 4);
	pair_make(&res, 4);
	int bell_child = ant_bell_create(), bell_parent = ant_bell_create();
	ck_assert_int_ge(bell_child, 0);
	ck_assert_int_ge(bell_parent, 0);
	req.tx.bell = bell_child;
	res.tx.bell = bell_parent;
	const long N = 20000;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		serve(&req, &res, bell_child, N);
		_exit(0);
	}
	unsigned bad;
	long sent = 0, answered = 0;
	uint64_t want = 1;
	while (answered < N) {
		/* Up to two calls in flight: both sides sleep and wake often. */
		while (sent < N && sent - answered < 2 && post_n(&req.tx, (uint64_t)sent + 1) >= 0)
			sent++;
		int i = ant_lane_take(&res.rx, &got, &bad);
		if (i == -EAGAIN) {
			ant_lane_sleeping(&res.rx, 1);
			if ((i = ant_lane_take(&res.rx, &got, &bad)) == -EAGAIN) {
				ant_bell_wait(bell_parent);
				ant_lane_sleeping(&res.rx, 0);
				continue;
			}
			ant_lane_sleeping(&res.rx, 0);
		}
		ck_assert_int_ge(i, 0);
		ck_assert_uint_eq(got.ticket, want + 1);    /* in order, none lost or twice */
		want++;
		ant_lane_done(&res.rx, (unsigned)i, got.seq);
		answered++;
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(ant_lane_posted(&req.own) + ant_lane_taken(&req.own), 0);
	close(bell_child);
	close(bell_parent);
	pair_free(&req);
	pair_free(&res);
}
END_TEST

/* Kill the receiver at a random moment: what the lanes say afterwards is
 * what a replay needs.  Every request is answered at most once, and a
 * request not answered is still posted or taken (antd hands it over again).
 * One answered but not yet marked done (killed between the two stores) is
 * both: the answer is published, so antd marks it done and does not replay
 * it; the result lane is the truth. */
START_TEST(test_receiver_killed_leaves_each_request_once)
{
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int round = 0; round < 20; round++) {
		struct pair req, res;
		pair_make(&req, 8);
		pair_make(&res, 8);
		int bell = ant_bell_create();
		req.tx.bell = bell;
		for (uint64_t n = 1; n <= 8; n++)
			ck_assert_int_ge(post_n(&req.tx, n), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			serve(&req, &res, bell, 1000000);
			_exit(0);
		}
		struct timespec ts = { 0, (long)(rand() % 300) * 1000 };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* Answered: in the result lane.  Held: a request slot not done. */
		int answered[9] = { 0 }, held[9] = { 0 };
		for (unsigned i = 0; i < res.own.nslots; i++)
			if (res.own.slot[i].seq != res.own.ack[i].done)
				answered[res.own.slot[i].ticket - 1]++;
		for (unsigned i = 0; i < req.own.nslots; i++)
			if (req.own.slot[i].seq != req.own.ack[i].done)
				held[req.own.slot[i].ticket]++;
		for (int n = 1; n <= 8; n++)
			ck_assert_msg(answered[n] <= 1 && held[n] <= 1 && answered[n] + held[n] >= 1,
				      "round %d: request %d answered %d times and held %d times",
				      round, n, answered[n], held[n]);
		close(bell);
		pair_free(&req);
		pair_free(&res);
	}
}
END_TEST

/* What a receiver (and antd, adopting) makes of a request an app wrote:
 * antd's fields written from who, anything but a plain call refused. */
START_TEST(test_request_fix)
{
	struct ant_lane_who who = { .from = 0, .to = 2, .serial = 7, .caller_pid = 1234,
				    .caller_uid = 1000, .caller_gid = 100 };
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	ck_assert_int_eq(ant_cica_init(page, 2, "echo", "abc", 3, ANT_FF_RETURN_NEEDED), 0);
	struct ant_cica_hdr *h = (void *)page;
	/* Lies an app might tell: ids, credentials, a replay mark, a result, a trace. */
	h->caller_uid = 0;
	h->caller_pid = 1;
	h->flags |= ANT_CF_REPLAY;
	h->call_id = 99;
	h->id_index = 5;
	ant_cica_current(page)->caller = 3;
	ant_cica_trace(page, 4);
	ck_assert_int_eq(ant_lane_request_fix(page, h->used, &who, 3, 42), ANT_CICA_OK);
	ck_assert_uint_eq(h->caller_uid, 1000);
	ck_assert_uint_eq(h->caller_gid, 100);
	ck_assert_uint_eq(h->caller_pid, 1234);
	ck_assert_uint_eq(h->ticket, 42);
	ck_assert_uint_eq(h->call_id, ant_lane_call_id(7, 42));
	ck_assert(h->call_id >> 63);
	ck_assert_uint_eq(h->id_index, 0);
	ck_assert(!(h->flags & ANT_CF_REPLAY));
	ck_assert_uint_eq(ant_cica_current(page)->caller, 0);
	ck_assert_uint_eq(h->trace_len, 2);
	ck_assert(h->trace[0] == 0 && h->trace[1] == 2);
	/* Fixing twice gives the same page (antd fixes the receiver's copy again). */
	unsigned char again[ANT_CICA_SIZE] __attribute__((aligned(8)));
	memcpy(again, page, h->used);
	ck_assert_int_eq(ant_lane_request_fix(again, h->used, &who, 3, 42), ANT_CICA_OK);
	ck_assert(memcmp(again, page, h->used) == 0);
	/* Another callee, two frames, a data ICA: not a call of this lane. */
	ck_assert_int_eq(ant_cica_init(page, 3, "echo", "x", 1, ANT_FF_RETURN_NEEDED), 0);
	ck_assert_int_eq(ant_lane_request_fix(page, h->used, &who, 3, 1), ANT_CICA_FAULT_MAX);
	ck_assert_int_eq(ant_cica_init(page, 2, "echo", "x", 1, ANT_FF_RETURN_NEEDED), 0);
	ck_assert_int_eq(ant_cica_push(page, 2, "echo", "y", 1, ANT_FF_RETURN_NEEDED), 0);
	ck_assert_int_eq(ant_lane_request_fix(page, h->used, &who, 3, 1), ANT_CICA_FAULT_MAX);
	ck_assert_int_eq(ant_cica_init(page, 2, "echo", "x", 1, ANT_FF_RETURN_NEEDED), 0);
	h->data.gen = 1;
	h->data.size = 4096;
	ck_assert_int_eq(ant_lane_request_fix(page, h->used, &who, 3, 1), ANT_CICA_FAULT_MAX);
	/* Garbage, and a page cut short. */
	memset(page, 0x5a, sizeof(page));
	ck_assert_int_ne(ant_lane_request_fix(page, sizeof(page), &who, 3, 1), ANT_CICA_OK);
	ck_assert_int_eq(ant_cica_init(page, 2, "echo", "x", 1, ANT_FF_RETURN_NEEDED), 0);
	ck_assert_int_ne(ant_lane_request_fix(page, 40, &who, 3, 1), ANT_CICA_OK);
}
END_TEST

static Suite *lane_suite(void)
{
	Suite *s = suite_create("lane");
	TCase *tc = tcase_create("one process");
	tcase_add_test(tc, test_create_and_map);
	tcase_add_test(tc, test_bad_header_refused);
	tcase_add_test(tc, test_post_take_done_in_order);
	tcase_add_test(tc, test_closed_and_bad_len);
	tcase_add_test(tc, test_torn_slots);
	tcase_add_test(tc, test_fifo_across_skipped_slots);
	tcase_add_test(tc, test_read_only_views);
	tcase_add_test(tc, test_request_fix);
	suite_add_tcase(s, tc);

	tc = tcase_create("two processes");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_two_processes_with_bells);
	tcase_add_test(tc, test_receiver_killed_leaves_each_request_once);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(lane_suite)
