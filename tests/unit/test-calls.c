/* test-calls.c - antd's routing (calls.c) through a fake transport: queues, results first, direct return, replay, poison. */
#include <check.h>
#include <signal.h>
#include <string.h>

#include "ant/errors.h"
#include "check_main.h"
#include "fake_core.h"

#define SYNC_RET (ANT_FF_SYNC | ANT_FF_RETURN_NEEDED)

/* a (1) may call b (2), b may call c (3); apps may call every server. */
static struct antd *chain(const char *a_supervision)
{
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"name\": \"t\", \"servers\": ["
		 "{\"name\": \"a\", \"exec\": \"relay\", \"calls\": [\"b\"], \"supervision\": %s},"
		 "{\"name\": \"b\", \"exec\": \"relay\", \"calls\": [\"c\"]},"
		 "{\"name\": \"c\", \"exec\": \"echo\"}]}",
		 a_supervision);
	return fake_antd_new(json);
}

static struct antd *running_chain(const char *a_supervision)
{
	struct antd *d = chain(a_supervision);
	for (unsigned id = 1; id <= 3; id++)
		fake_run(d, &d->servers[id], 1);
	return d;
}

static const struct ant_cica_hdr *hdr(const struct fake_sent *m)
{
	return (const struct ant_cica_hdr *)m->page;
}

static const struct ant_frame *top(const struct fake_sent *m)
{
	return ant_cica_current_const(m->page);
}

static struct peer *srv(struct antd *d, unsigned id)
{
	return d->servers[id].cur->peer;
}

static unsigned sent_count(const struct peer *p)
{
	unsigned n;
	fake_sent(p, &n);
	return n;
}

START_TEST(a_call_is_routed_and_answered)
{
	struct antd *d = running_chain("{}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "echo", SYNC_RET);
	const struct fake_sent *m = fake_last(srv(d, 1));
	ck_assert_uint_eq(m->type, ANT_M_REQUEST);
	ck_assert_str_eq(top(m)->op, "echo");
	ck_assert_uint_eq(top(m)->caller, 0);      /* antd's word, not the app's */
	ck_assert_uint_eq(d->servers[1].held, 1);
	fake_reply(srv(d, 1), 7, ANT_MF_NEXT);
	m = fake_last(app);
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_int_eq(hdr(m)->retval, 7);
	ck_assert_uint_eq(d->servers[1].held, 0);
	ck_assert_uint_eq(d->servers[1].served, 1);
	ck_assert_uint_eq(d->calls.live, 0);
	fake_antd_free(d);
}
END_TEST

START_TEST(calls_wait_until_the_server_is_ready)
{
	struct antd *d = chain("{}");
	struct server *a = &d->servers[1];
	fake_launch(d, a);
	struct peer *app = fake_app(d);
	fake_call(app, 1, "echo", SYNC_RET);
	ck_assert_uint_eq(a->requests.len, 1);
	ck_assert_uint_eq(sent_count(a->cur->peer), 0);
	fake_spawned(d, a->cur);
	ck_assert_uint_eq(sent_count(a->cur->peer), 0);
	fake_next(a->cur->peer, 1);
	ck_assert_uint_eq(fake_last(a->cur->peer)->type, ANT_M_REQUEST);
	ck_assert_uint_eq(a->requests.len, 0);
	fake_antd_free(d);
}
END_TEST

START_TEST(results_go_before_requests)
{
	struct antd *d = running_chain("{}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "first", SYNC_RET);
	/* a forwards with return needed, asking for nothing more yet */
	fake_forward(srv(d, 1), 2, "stage2", ANT_FF_RETURN_NEEDED, 0);
	fake_call(app, 1, "second", SYNC_RET);
	ck_assert_uint_eq(d->servers[1].requests.len, 1);
	fake_reply(srv(d, 2), 5, ANT_MF_NEXT);     /* b's result waits for a */
	ck_assert_uint_eq(d->servers[1].results.len, 1);
	fake_next(srv(d, 1), 1);                   /* room for one: the result */
	const struct fake_sent *m = fake_last(srv(d, 1));
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_str_eq(top(m)->op, "first");
	ck_assert_int_eq(hdr(m)->retval, 5);
	ck_assert_uint_eq(d->servers[1].requests.len, 1);
	/* a answers the first call; the second comes next */
	fake_reply(srv(d, 1), 6, ANT_MF_NEXT);
	ck_assert_int_eq(hdr(fake_last(app))->retval, 6);
	m = fake_last(srv(d, 1));
	ck_assert_uint_eq(m->type, ANT_M_REQUEST);
	ck_assert_str_eq(top(m)->op, "second");
	fake_antd_free(d);
}
END_TEST

START_TEST(direct_return_skips_the_forwarders)
{
	struct antd *d = running_chain("{}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "read", SYNC_RET);
	fake_forward(srv(d, 1), 2, "read", 0, ANT_MF_NEXT);   /* no return needed */
	fake_forward(srv(d, 2), 3, "read", 0, ANT_MF_NEXT);
	unsigned a_seen = sent_count(srv(d, 1)), b_seen = sent_count(srv(d, 2));
	const struct fake_sent *m = fake_last(srv(d, 3));
	ck_assert_uint_eq(hdr(m)->nframes, 3);
	fake_reply(srv(d, 3), 42, ANT_MF_NEXT);
	m = fake_last(app);
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_int_eq(hdr(m)->retval, 42);
	ck_assert_uint_eq(hdr(m)->nframes, 1);
	ck_assert_uint_eq(sent_count(srv(d, 1)), a_seen);   /* a and b see nothing */
	ck_assert_uint_eq(sent_count(srv(d, 2)), b_seen);
	ck_assert_uint_eq(d->calls.live, 0);
	fake_antd_free(d);
}
END_TEST

START_TEST(sequential_return_comes_back_through_each_stage)
{
	struct antd *d = running_chain("{}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "read", SYNC_RET);
	fake_forward(srv(d, 1), 2, "read", ANT_FF_RETURN_NEEDED, ANT_MF_NEXT);
	fake_reply(srv(d, 2), 3, ANT_MF_NEXT);
	const struct fake_sent *m = fake_last(srv(d, 1));
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_uint_eq(hdr(m)->nframes, 1);
	ck_assert_uint_eq(d->servers[1].held, 1);   /* a RETURN is held like a request */
	fake_reply(srv(d, 1), 4, ANT_MF_NEXT);
	ck_assert_int_eq(hdr(fake_last(app))->retval, 4);
	fake_antd_free(d);
}
END_TEST

START_TEST(a_call_held_by_a_dead_server_is_replayed)
{
	struct antd *d = running_chain("{\"backoff\": {\"initial_ms\": 0}}");
	struct server *a = &d->servers[1];
	struct peer *app = fake_app(d);
	fake_call(app, 1, "write", SYNC_RET);
	uint32_t id = hdr(fake_last(srv(d, 1)))->id_index;
	fake_exit(d, a->cur, 0, SIGSEGV);
	ck_assert_uint_eq(a->replays, 1);
	ck_assert_uint_eq(a->requests.len, 1);     /* at the head of its queue */
	ck_assert_uint_eq(sent_count(app), 0);     /* the caller waits, nothing lost */
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	const struct fake_sent *m = fake_last(a->cur->peer);
	ck_assert_uint_eq(m->type, ANT_M_REQUEST);
	ck_assert_uint_eq(hdr(m)->id_index, id);
	ck_assert(hdr(m)->flags & ANT_CF_REPLAY);
	fake_reply(a->cur->peer, 1, ANT_MF_NEXT);
	ck_assert_int_eq(hdr(fake_last(app))->retval, 1);
	fake_antd_free(d);
}
END_TEST

START_TEST(a_poison_request_fails_and_the_server_lives_on)
{
	struct antd *d = running_chain("{\"poison_kills\": 2, \"backoff\": {\"initial_ms\": 0}}");
	struct server *a = &d->servers[1];
	struct peer *app = fake_app(d);
	fake_call(app, 1, "boom", SYNC_RET);
	fake_exit(d, a->cur, 0, SIGSEGV);          /* first death: replayed */
	ck_assert_uint_eq(sent_count(app), 0);
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	fake_exit(d, a->cur, 0, SIGSEGV);          /* second: poison */
	const struct fake_sent *m = fake_last(app);
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_int_eq(hdr(m)->retval, ANT_E_SERVER_FAILED);
	ck_assert_uint_eq(d->calls.live, 0);
	ck_assert(server_accepts(a));           /* it serves the others */
	fake_antd_free(d);
}
END_TEST

/* One request killing its server again and again counts once toward the
 * intensity: it cannot give up a server that serves everyone else. */
START_TEST(a_poison_request_counts_once_toward_the_intensity)
{
	struct antd *d = running_chain("{\"poison_kills\": 3, \"intensity\": {\"max_restarts\": 2, "
				       "\"period_s\": 60}, \"backoff\": {\"initial_ms\": 0, "
				       "\"base_ms\": 0}}");
	struct server *a = &d->servers[1];
	struct peer *app = fake_app(d);
	fake_call(app, 1, "boom", SYNC_RET);
	for (int death = 0; death < 3; death++) {
		if (death) {
			fake_spawned(d, a->cur);
			fake_next(a->cur->peer, 1);
		}
		fake_exit(d, a->cur, 0, SIGSEGV);
	}
	ck_assert_int_eq(hdr(fake_last(app))->retval, ANT_E_SERVER_FAILED);   /* poison */
	ck_assert_int_ne(a->state, SRV_FAILED);
	ck_assert_uint_eq(a->nhistory, 1);
	/* Another request of the same app that kills it: not counted either. */
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	fake_call(app, 1, "boom2", SYNC_RET);
	fake_exit(d, a->cur, 0, SIGSEGV);
	ck_assert_uint_eq(a->nhistory, 1);
	/* A death no request is blamed for counts (boom2, replayed, is answered first). */
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	fake_reply(a->cur->peer, 0, ANT_MF_NEXT);
	ck_assert_uint_eq(a->held, 0);
	fake_exit(d, a->cur, 0, SIGSEGV);
	ck_assert_uint_eq(a->nhistory, 2);
	fake_antd_free(d);
}
END_TEST

/* A SIGKILL from outside antd (an operator, a test, a script) says nothing
 * about the request: replayed every time, never poison.  The OOM killer's
 * SIGKILL, like a crash, counts. */
START_TEST(outside_kills_are_not_blamed_but_oom_kills_are)
{
	struct antd *d = running_chain("{\"poison_kills\": 2, \"backoff\": {\"initial_ms\": 0, "
				       "\"base_ms\": 0}}");
	struct server *a = &d->servers[1];
	struct peer *app = fake_app(d);
	fake_call(app, 1, "utimens", SYNC_RET);
	for (int k = 0; k < 4; k++) {
		fake_exit(d, a->cur, 0, SIGKILL);
		fake_spawned(d, a->cur);
		fake_next(a->cur->peer, 1);
		ck_assert_uint_eq(fake_last(a->cur->peer)->type, ANT_M_REQUEST);   /* replayed */
	}
	ck_assert_uint_eq(sent_count(app), 0);
	fake_exit_oom(d, a->cur);
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	fake_exit_oom(d, a->cur);   /* the second blamed death: poison */
	ck_assert_int_eq(hdr(fake_last(app))->retval, ANT_E_SERVER_FAILED);
	fake_antd_free(d);
}
END_TEST

/* An app that sends and never reads: past PEER_CALLS_MAX calls in flight
 * each new one is refused at once with ANT_E_LIMIT (nothing more held for
 * it); when it goes, its calls go, and most of their memory with them. */
START_TEST(calls_in_flight_per_peer_are_capped_and_given_back)
{
	struct antd *d = chain("{}");
	fake_launch(d, &d->servers[1]);   /* not ready: every call waits */
	struct peer *app = fake_app(d);
	for (unsigned i = 0; i < PEER_CALLS_MAX + 40; i++)
		fake_call(app, 1, "x", SYNC_RET);
	ck_assert_uint_eq(d->calls.live, PEER_CALLS_MAX);
	unsigned n;
	const struct fake_sent *m = fake_sent(app, &n);
	ck_assert_uint_eq(n, 40);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(((const struct ant_cica_hdr *)m[i].page)->retval, ANT_E_LIMIT);
	peer_close(app, "closed by peer");
	ck_assert_uint_eq(d->calls.live, 0);
	ck_assert_uint_le(d->calls.kept, 256);
	uint32_t held = 0;
	for (uint32_t i = 0; i < d->calls.n; i++)
		held += d->calls.c[i] != NULL;
	ck_assert_uint_le(held, 256);   /* the rest was freed */
	/* And the table serves new calls from kept and empty slots alike. */
	struct peer *app2 = fake_app(d);
	for (unsigned i = 0; i < 600; i++)
		fake_call(app2, 1, "y", SYNC_RET);
	ck_assert_uint_eq(d->calls.live, 600);
	fake_antd_free(d);
}
END_TEST

START_TEST(replay_never_fails_the_call_at_once)
{
	struct antd *d = running_chain("{\"replay\": \"never\", \"backoff\": {\"initial_ms\": 0}}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "charge", SYNC_RET);
	fake_exit(d, d->servers[1].cur, 0, SIGKILL);
	ck_assert_int_eq(hdr(fake_last(app))->retval, ANT_E_SERVER_FAILED);
	ck_assert_uint_eq(d->servers[1].replays, 0);
	fake_antd_free(d);
}
END_TEST

START_TEST(a_forward_outside_calls_is_denied)
{
	struct antd *d = running_chain("{}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "x", SYNC_RET);
	fake_forward(srv(d, 1), 3, "x", ANT_FF_RETURN_NEEDED, ANT_MF_NEXT);   /* a may not call c */
	const struct fake_sent *m = fake_last(srv(d, 1));
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_int_eq(hdr(m)->retval, ANT_E_DENIED);
	ck_assert_uint_eq(sent_count(srv(d, 3)), 0);
	fake_antd_free(d);
}
END_TEST

START_TEST(answering_a_call_not_held_cuts_the_server_off)
{
	struct antd *d = running_chain("{}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "x", SYNC_RET);
	struct peer *b = srv(d, 2);
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	const struct fake_sent *m = fake_last(srv(d, 1));
	memcpy(page, m->page, m->len);
	ant_cica_set_result(page, 0, NULL, 0);
	fake_send_page(b, ANT_M_REPLY, 0, page, ((struct ant_cica_hdr *)page)->used);
	ck_assert_uint_eq(fake.cut_offs, 1);
	ck_assert_ptr_nonnull(strstr(fake.cut_off_why, "does not hold"));
	ck_assert_ptr_eq(fake.last_signalled, d->servers[2].cur);
	ck_assert_int_eq(d->servers[2].cur->kill, KILL_FAULT);
	ck_assert_uint_eq(d->servers[1].held, 1);  /* a's call is untouched */
	fake_antd_free(d);
}
END_TEST

START_TEST(a_dead_callers_results_are_dropped)
{
	struct antd *d = running_chain("{\"backoff\": {\"initial_ms\": 0}}");
	struct server *a = &d->servers[1];
	fake_call(a->cur->peer, 2, "own", SYNC_RET);   /* a server's own call */
	ck_assert_uint_eq(fake_last(srv(d, 2))->type, ANT_M_REQUEST);
	fake_exit(d, a->cur, 0, SIGKILL);
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	unsigned seen = sent_count(a->cur->peer);
	fake_reply(srv(d, 2), 9, ANT_MF_NEXT);
	ck_assert_uint_eq(sent_count(a->cur->peer), seen);   /* not for the new instance */
	ck_assert_uint_eq(d->calls.live, 0);
	fake_antd_free(d);
}
END_TEST

START_TEST(a_gone_app_leaves_nothing_queued)
{
	struct antd *d = chain("{}");
	fake_launch(d, &d->servers[1]);
	struct peer *app = fake_app(d);
	fake_call(app, 1, "x", SYNC_RET);
	fake_call(app, 1, "y", SYNC_RET);
	ck_assert_uint_eq(d->calls.live, 2);
	peer_close(app, "closed by peer");
	ck_assert_uint_eq(d->calls.live, 0);
	ck_assert_uint_eq(d->servers[1].requests.len, 0);
	fake_antd_free(d);
}
END_TEST

static void send_cancel(struct peer *p, uint64_t ticket)
{
	unsigned char buf[sizeof(struct ant_msg) + sizeof(struct ant_m_cancel)];
	struct ant_msg m = { .type = ANT_M_CANCEL, .len = sizeof(buf) };
	struct ant_m_cancel cn = { .ticket = ticket };
	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), &cn, sizeof(cn));
	calls_on_message(p, buf, sizeof(buf), -1);
}

/* A cancel answers the app at once; the stages already taken still get their
 * RETURN (with the error when the holder dies), nothing is replayed, and the
 * app hears nothing more.  A server may not send CANCEL. */
START_TEST(a_cancelled_call_is_answered_once_and_not_replayed)
{
	struct antd *d = running_chain("{}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "read", SYNC_RET);
	uint64_t ticket = hdr(fake_last(srv(d, 1)))->ticket;
	fake_forward(srv(d, 1), 2, "read", ANT_FF_RETURN_NEEDED, ANT_MF_NEXT);
	ck_assert_uint_eq(d->servers[2].held, 1);
	send_cancel(app, ticket);
	const struct fake_sent *m = fake_last(app);
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_int_eq(hdr(m)->retval, ANT_E_CANCELLED);
	ck_assert_uint_eq(hdr(m)->nframes, 1);
	ck_assert_uint_eq(hdr(m)->ticket, ticket);
	unsigned app_seen = sent_count(app);
	send_cancel(app, ticket);   /* again: no second answer */
	ck_assert_uint_eq(sent_count(app), app_seen);
	ck_assert_uint_eq(d->servers[2].held, 1);   /* b runs on */
	fake_exit(d, d->servers[2].cur, 0, SIGKILL);
	ck_assert_uint_eq(d->servers[2].replays, 0);
	m = fake_last(srv(d, 1));   /* a gets its RETURN, failed */
	ck_assert_uint_eq(m->type, ANT_M_RESULT);
	ck_assert_int_eq(hdr(m)->retval, ANT_E_CANCELLED);
	fake_reply(srv(d, 1), 7, ANT_MF_NEXT);
	ck_assert_uint_eq(sent_count(app), app_seen);
	ck_assert_uint_eq(d->calls.live, 0);
	ck_assert_uint_eq(fake.cut_offs, 0);
	send_cancel(srv(d, 1), 1);
	ck_assert_uint_eq(fake.cut_offs, 1);
	ck_assert_ptr_nonnull(strstr(fake.cut_off_why, "unexpected CANCEL"));
	fake_antd_free(d);
}
END_TEST

START_TEST(a_request_held_past_its_deadline_is_a_hang)
{
	struct antd *d = running_chain("{\"deadline_ms\": 20}");
	struct peer *app = fake_app(d);
	fake_call(app, 1, "slow", SYNC_RET);
	fake_run_loop(d, 60);
	ck_assert_ptr_eq(fake.last_signalled, d->servers[1].cur);
	ck_assert_ptr_nonnull(strstr(d->servers[1].cur->kill_why, "hang: deadline 20 ms"));
	ck_assert_int_eq(d->servers[1].state, SRV_RESTARTING);
	fake_antd_free(d);
}
END_TEST

START_TEST(next_credit_has_a_limit)
{
	struct antd *d = running_chain("{}");
	fake_next(srv(d, 3), ANT_NEXT_COUNT_MAX);
	ck_assert_uint_eq(fake.cut_offs, 0);
	fake_next(srv(d, 3), ANT_NEXT_COUNT_MAX + 1);   /* one NEXT asks too much */
	ck_assert_uint_eq(fake.cut_offs, 1);
	fake_antd_free(d);

	d = running_chain("{}");
	for (unsigned i = 0; i < ANT_NEXT_CREDIT_MAX / ANT_NEXT_COUNT_MAX; i++)
		fake_next(srv(d, 3), ANT_NEXT_COUNT_MAX);
	ck_assert_uint_eq(fake.cut_offs, 1);   /* 1 + 4096 > the credit limit */
	ck_assert_ptr_nonnull(strstr(fake.cut_off_why, "asked for"));
	fake_antd_free(d);
}
END_TEST

static Suite *calls_suite(void)
{
	Suite *s = suite_create("calls");
	TCase *tc = tcase_create("routing");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_call_is_routed_and_answered);
	tcase_add_test(tc, calls_wait_until_the_server_is_ready);
	tcase_add_test(tc, results_go_before_requests);
	tcase_add_test(tc, direct_return_skips_the_forwarders);
	tcase_add_test(tc, sequential_return_comes_back_through_each_stage);
	tcase_add_test(tc, a_call_held_by_a_dead_server_is_replayed);
	tcase_add_test(tc, a_poison_request_fails_and_the_server_lives_on);
	tcase_add_test(tc, a_poison_request_counts_once_toward_the_intensity);
	tcase_add_test(tc, outside_kills_are_not_blamed_but_oom_kills_are);
	tcase_add_test(tc, calls_in_flight_per_peer_are_capped_and_given_back);
	tcase_add_test(tc, replay_never_fails_the_call_at_once);
	tcase_add_test(tc, a_forward_outside_calls_is_denied);
	tcase_add_test(tc, answering_a_call_not_held_cuts_the_server_off);
	tcase_add_test(tc, a_cancelled_call_is_answered_once_and_not_replayed);
	tcase_add_test(tc, a_dead_callers_results_are_dropped);
	tcase_add_test(tc, a_gone_app_leaves_nothing_queued);
	tcase_add_test(tc, a_request_held_past_its_deadline_is_a_hang);
	tcase_add_test(tc, next_credit_has_a_limit);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(calls_suite)
