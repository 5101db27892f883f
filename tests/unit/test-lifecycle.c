/* test-lifecycle.c - the server lifecycle table (supervise.c) driven by events, with a fake process layer and no daemon. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "ant/errors.h"
#include "check_main.h"
#include "fake_core.h"

/* One server "a" (policy keys inline) and a bystander "b". */
static struct antd *stack_with(const char *supervision)
{
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"name\": \"t\", \"servers\": ["
		 "{\"name\": \"a\", \"exec\": \"echo\", \"supervision\": %s},"
		 "{\"name\": \"b\", \"exec\": \"echo\"}]}",
		 supervision);
	return fake_antd_new(json);
}

START_TEST(start_goes_spawning_starting_running)
{
	struct antd *d = stack_with("{}");
	struct server *a = &d->servers[1];
	ck_assert_int_eq(a->state, SRV_STOPPED);
	fake_launch(d, a);
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	ck_assert(instance_alive(a->cur));
	ck_assert(server_accepts(a));   /* calls wait in its queues meanwhile */
	fake_spawned(d, a->cur);
	ck_assert_int_eq(a->state, SRV_STARTING);
	fake_next(a->cur->peer, 1);
	ck_assert_int_eq(a->state, SRV_RUNNING);
	ck_assert_int_eq(a->cur->phase, INST_READY);
	ck_assert_uint_eq(a->cur->want, 1);
	ck_assert_int_eq(d->ever_ready, 0);   /* b is not running yet */
	fake_run(d, &d->servers[2], 1);
	ck_assert_int_eq(d->ever_ready, 1);
	fake_antd_free(d);
}
END_TEST

/* A NEXT can overtake the end of the spawn channel: ready then, not lost. */
START_TEST(ready_before_spawned_is_ready)
{
	struct antd *d = stack_with("{}");
	struct server *a = &d->servers[1];
	fake_launch(d, a);
	fake_next(a->cur->peer, 1);
	ck_assert_int_eq(a->state, SRV_RUNNING);
	fake_spawned(d, a->cur);   /* late: changes nothing */
	ck_assert_int_eq(a->state, SRV_RUNNING);
	fake_antd_free(d);
}
END_TEST

/* A NEXT can overtake the forker's answer (the pid): it is ready once its
 * pid is known, and the call that waited for it goes to it then. */
START_TEST(ready_before_its_pid_gets_the_waiting_call)
{
	struct antd *d = stack_with("{}");
	struct server *a = &d->servers[1];
	fake_launch(d, a);
	struct peer *app = fake_app(d);
	fake_call(app, 1, "echo", ANT_FF_SYNC | ANT_FF_RETURN_NEEDED);
	pid_t pid = a->cur->pid;
	a->cur->pid = 0;                  /* the forker has not answered yet */
	fake_next(a->cur->peer, 1);
	ck_assert_int_ne(a->state, SRV_RUNNING);
	ck_assert_int_eq(a->requests.len, 1);
	a->cur->pid = pid;                /* its answer: as spawn.c's forked() */
	a->cur->ready_early = 0;
	supervise_event(d, a, a->cur, EV_READY, NULL);
	ck_assert_int_eq(a->state, SRV_RUNNING);
	ck_assert_int_eq(a->requests.len, 0);
	ck_assert_uint_eq(a->held, 1);
	ck_assert_uint_eq(fake_last(a->cur->peer)->type, ANT_M_REQUEST);
	fake_antd_free(d);
}
END_TEST

START_TEST(crash_restarts_at_once_with_a_new_instance)
{
	struct antd *d = stack_with("{\"backoff\": {\"initial_ms\": 0}}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	unsigned gen = a->cur->gen, spawns = fake.spawns;
	fake_exit(d, a->cur, 0, SIGSEGV);
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	ck_assert_uint_eq(fake.spawns, spawns + 1);
	ck_assert_uint_gt(a->cur->gen, gen);
	ck_assert_uint_eq(a->restarts, 1);
	ck_assert_uint_eq(a->nhistory, 1);
	ck_assert_ptr_nonnull(strstr(a->last_exit, "signal"));
	fake_antd_free(d);
}
END_TEST

START_TEST(backoff_waits_then_restarts)
{
	struct antd *d = stack_with("{\"backoff\": {\"initial_ms\": 30, \"base_ms\": 30, "
				    "\"jitter\": 0}}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	unsigned spawns = fake.spawns;
	fake_exit(d, a->cur, 1, 0);
	ck_assert_int_eq(a->state, SRV_RESTARTING);
	ck_assert(!instance_alive(a->cur));
	ck_assert_uint_eq(fake.spawns, spawns);
	fake_run_loop(d, 80);
	ck_assert_uint_eq(fake.spawns, spawns + 1);
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	fake_antd_free(d);
}
END_TEST

START_TEST(intensity_exceeded_gives_up)
{
	struct antd *d = stack_with("{\"intensity\": {\"max_restarts\": 2, \"period_s\": 60}, "
				    "\"backoff\": {\"initial_ms\": 0, \"base_ms\": 0}}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	for (int i = 0; i < 2; i++) {
		fake_spawned(d, a->cur);
		fake_exit(d, a->cur, 1, 0);
		ck_assert_int_eq(a->state, SRV_SPAWNING);
	}
	unsigned reports = fake.exited_reports;
	fake_exit(d, a->cur, 1, 0);
	ck_assert_int_eq(a->state, SRV_FAILED);
	ck_assert(!server_accepts(a));
	ck_assert_uint_eq(fake.exited_reports, reports + 1);
	/* The operator can bring it back, with a fresh series. */
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_START, NULL), 0);
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	ck_assert_uint_eq(a->nhistory, 0);
	fake_antd_free(d);
}
END_TEST

/* on_give_up retry: a given-up server is tried again after retry_after_s,
 * the delay doubling each time it is given up again. */
START_TEST(a_given_up_server_is_retried)
{
	struct antd *d = stack_with("{\"intensity\": {\"max_restarts\": 1, \"period_s\": 60}, "
				    "\"backoff\": {\"initial_ms\": 0}, \"on_give_up\": \"retry\", "
				    "\"retry_after_s\": 0.05, \"retry_max_s\": 0.08}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	fake_run(d, &d->servers[2], 1);
	fake_exit(d, a->cur, 1, 0);            /* restarted */
	fake_spawned(d, a->cur);
	fake_exit(d, a->cur, 1, 0);            /* given up */
	ck_assert_int_eq(a->state, SRV_FAILED);
	ck_assert(ev_is_active(&a->retry_timer));
	ck_assert_double_eq_tol(ev_timer_remaining(d->loop, &a->retry_timer), 0.05, 0.02);
	fake_run_loop(d, 80);
	ck_assert_int_eq(a->state, SRV_SPAWNING);  /* tried again, a fresh series */
	ck_assert_uint_eq(a->nhistory, 0);
	fake_spawned(d, a->cur);
	fake_exit(d, a->cur, 1, 0);
	fake_spawned(d, a->cur);
	fake_exit(d, a->cur, 1, 0);            /* given up again: 0.1 s, capped at 0.08 */
	ck_assert_int_eq(a->state, SRV_FAILED);
	ck_assert_double_eq_tol(ev_timer_remaining(d->loop, &a->retry_timer), 0.08, 0.02);
	/* The operator's start ends the waiting. */
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_START, NULL), 0);
	ck_assert(!ev_is_active(&a->retry_timer));
	ck_assert_uint_eq(a->give_ups, 0);
	fake_antd_free(d);
}
END_TEST

START_TEST(temporary_and_transient_policies)
{
	struct antd *d = stack_with("{\"restart\": \"transient\"}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	fake_exit(d, a->cur, 0, 0);          /* a clean exit: not restarted */
	ck_assert_int_eq(a->state, SRV_STOPPED);
	fake_antd_free(d);

	d = stack_with("{\"restart\": \"transient\", \"backoff\": {\"initial_ms\": 0}}");
	a = &d->servers[1];
	fake_run(d, a, 1);
	fake_exit(d, a->cur, 3, 0);          /* a failure: restarted */
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	fake_antd_free(d);

	d = stack_with("{\"restart\": \"temporary\"}");
	a = &d->servers[1];
	fake_run(d, a, 1);
	fake_exit(d, a->cur, 0, SIGKILL);
	ck_assert_int_eq(a->state, SRV_STOPPED);
	fake_antd_free(d);
}
END_TEST

START_TEST(operator_stop_start_restart)
{
	struct antd *d = stack_with("{}");
	struct server *a = &d->servers[1];
	char why[256];
	struct sv_detail dt = { .reply = why, .replylen = sizeof(why) };
	fake_run(d, a, 1);
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_START, &dt), -EALREADY);
	ck_assert_str_eq(why, "a is already running");
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_STOP, &dt), 0);
	ck_assert_int_eq(a->state, SRV_STOPPING);
	ck_assert_int_eq(fake.last_sig, SIGTERM);
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_STOP, &dt), -EALREADY);
	fake_exit(d, a->cur, 0, SIGTERM);
	ck_assert_int_eq(a->state, SRV_STOPPED);
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_STOP, &dt), -EALREADY);
	ck_assert_str_eq(why, "a is already stopped");
	/* restart of a stopped server starts it */
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_RESTART, &dt), 0);
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	/* restart of a running one: killed, and its death is no failure */
	unsigned spawns = fake.spawns;
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_RESTART, &dt), 0);
	ck_assert_int_eq(fake.last_sig, SIGKILL);
	ck_assert_int_eq(a->state, SRV_RESTARTING);
	fake_exit(d, a->cur, 0, SIGKILL);
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	ck_assert_uint_eq(fake.spawns, spawns + 1);
	ck_assert_uint_eq(a->nhistory, 0);   /* not counted toward the intensity */
	fake_antd_free(d);
}
END_TEST

START_TEST(faults_kill_with_their_reason)
{
	struct antd *d = stack_with("{\"backoff\": {\"initial_ms\": 0}}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	struct instance *in = a->cur;
	supervise_fault(d, in, EV_DEADLINE, "hang: deadline exceeded");
	ck_assert_int_eq(a->state, SRV_RESTARTING);
	ck_assert_int_eq(fake.last_sig, SIGKILL);
	ck_assert_int_eq(in->kill, KILL_FAULT);
	ck_assert_str_eq(in->kill_why, "hang: deadline exceeded");
	/* a second fault does not change what its death is reported with */
	supervise_fault(d, in, EV_PROTOCOL_FAULT, "cut off: garbage");
	ck_assert_str_eq(in->kill_why, "hang: deadline exceeded");
	fake_exit(d, in, 0, SIGKILL);
	ck_assert_int_eq(a->state, SRV_SPAWNING);
	ck_assert_int_eq(in->kill, KILL_NONE);

	/* a sandbox violation: the signal it asks for */
	fake_spawned(d, a->cur);
	fake_next(a->cur->peer, 1);
	struct sv_detail dt = { .sig = SIGSYS, .why = "sandbox violation: ptrace (101)" };
	supervise_event(d, a, a->cur, EV_SANDBOX, &dt);
	ck_assert_int_eq(fake.last_sig, SIGSYS);
	fake_antd_free(d);
}
END_TEST

START_TEST(ready_timeout_kills_without_blame)
{
	struct antd *d = stack_with("{\"ready_timeout_ms\": 20}");
	struct server *a = &d->servers[1];
	fake_launch(d, a);
	fake_spawned(d, a->cur);
	fake_run_loop(d, 60);
	ck_assert_int_eq(a->state, SRV_RESTARTING);
	ck_assert_int_eq(a->cur->kill, KILL_NOBLAME);
	ck_assert_ptr_nonnull(strstr(a->cur->kill_why, "not ready within 20 ms"));
	fake_antd_free(d);
}
END_TEST

START_TEST(disconnect_then_kill_if_still_alive)
{
	struct antd *d = stack_with("{}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	unsigned signals = fake.signals;
	peer_close(a->cur->peer, "closed by peer");
	ck_assert_ptr_null(a->cur->peer);
	ck_assert_uint_eq(fake.signals, signals);   /* a moment to exit by itself */
	fake_run_loop(d, 300);
	ck_assert_uint_eq(fake.signals, signals + 1);
	ck_assert_str_eq(a->cur->kill_why, "closed its connection to antd");
	fake_antd_free(d);
}
END_TEST

START_TEST(exec_failure_before_ready_stops_the_stack)
{
	struct antd *d = stack_with("{}");
	struct server *a = &d->servers[1];
	fake.spawn_fail = 1;
	fake_launch(d, a);
	ck_assert_int_eq(a->state, SRV_FAILED);
	ck_assert_uint_eq(fake.start_failures, 1);
	ck_assert_ptr_nonnull(strstr(a->last_exit, "exec /fake/a failed"));
	fake_antd_free(d);
}
END_TEST

START_TEST(exec_failure_after_ready_is_a_failure)
{
	struct antd *d = stack_with("{\"backoff\": {\"initial_ms\": 0, \"base_ms\": 10, "
				    "\"jitter\": 0}}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	fake_run(d, &d->servers[2], 1);
	ck_assert(d->ever_ready);
	fake.spawn_fail = 1;
	fake_exit(d, a->cur, 1, 0);     /* restart now: its exec fails */
	ck_assert_uint_eq(fake.start_failures, 0);
	ck_assert_int_eq(a->state, SRV_RESTARTING);
	ck_assert_uint_eq(a->nhistory, 2);   /* the crash and the failed start */
	fake_antd_free(d);
}
END_TEST

START_TEST(spare_takes_over_by_a_swap)
{
	struct antd *d = stack_with("{\"standby\": 1}");
	struct server *a = &d->servers[1];
	fake_run(d, a, 1);
	struct instance *first = a->cur, *spare = a->spare;
	ck_assert(instance_alive(spare));        /* made once the server is ready */
	fake_spawned(d, spare);
	fake_next(spare->peer, 1);
	ck_assert_int_eq(spare->phase, INST_READY);
	ck_assert_int_eq(a->state, SRV_RUNNING);
	/* a spare takes no work */
	unsigned cuts = fake.cut_offs;
	fake_call(spare->peer, 2, "echo", ANT_FF_SYNC | ANT_FF_RETURN_NEEDED);
	ck_assert_uint_eq(fake.cut_offs, cuts + 1);
	ck_assert_ptr_nonnull(strstr(fake.cut_off_why, "spare"));
	ck_assert_ptr_eq(a->cur, first);          /* the serving instance unharmed */
	ck_assert_ptr_eq(fake.last_signalled, spare);
	fake_exit(d, spare, 0, SIGKILL);
	ck_assert(!instance_alive(a->spare));
	fake_run_loop(d, 150);                     /* the spare is re-made */
	spare = a->spare;
	ck_assert(instance_alive(spare));
	fake_spawned(d, spare);
	fake_next(spare->peer, 1);
	unsigned spawns = fake.spawns;
	fake_exit(d, first, 0, SIGKILL);
	ck_assert_ptr_eq(a->cur, spare);           /* swapped, not copied */
	ck_assert_ptr_eq(a->spare, first);
	ck_assert_int_eq(a->state, SRV_RUNNING);
	ck_assert_uint_eq(a->failovers, 1);
	ck_assert_uint_eq(fake.spawns, spawns);    /* no fork for the takeover */
	fake_run_loop(d, 30);
	ck_assert_uint_eq(fake.spawns, spawns + 1);   /* the next spare, a moment later */
	ck_assert(instance_alive(a->spare));
	fake_antd_free(d);
}
END_TEST

START_TEST(shutdown_stops_everything)
{
	struct antd *d = stack_with("{}");
	struct server *a = &d->servers[1], *b = &d->servers[2];
	fake_run(d, a, 1);
	d->stopping = 1;
	supervise_event(d, a, NULL, EV_SHUTDOWN, NULL);
	supervise_event(d, b, NULL, EV_SHUTDOWN, NULL);
	ck_assert_int_eq(a->state, SRV_STOPPING);
	ck_assert_int_eq(b->state, SRV_STOPPED);
	ck_assert_int_eq(supervise_event(d, a, NULL, EV_OP_RESTART, NULL), -ESHUTDOWN);
	unsigned spawns = fake.spawns;
	fake_exit(d, a->cur, 0, SIGTERM);
	ck_assert_int_eq(a->state, SRV_STOPPED);
	ck_assert_uint_eq(fake.spawns, spawns);
	fake_antd_free(d);
}
END_TEST

/* Every event in every state: no crash, a known state after, and an
 * instance only where the state says one may be alive. */
START_TEST(every_event_in_every_state)
{
	for (int st = 0; st < SRV_NSTATES; st++) {
		for (int ev = 0; ev < EV_NEVENTS; ev++) {
			struct antd *d = stack_with("{\"backoff\": {\"initial_ms\": 5}}");
			struct server *a = &d->servers[1];
			fake_launch(d, a);   /* a process even where none is expected */
			a->state = st;   /* put there by hand: the table must cope */
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			si.si_code = CLD_KILLED;
			si.si_status = SIGKILL;
			char why[128];
			struct sv_detail dt = { .si = &si, .why = "test", .reply = why,
						.replylen = sizeof(why) };
			if (ev == EV_EXEC_FAILED)
				snprintf(a->cur->exec_error, sizeof(a->cur->exec_error), "test");
			supervise_event(d, a, ev == EV_EXITED || ev == EV_EXEC_FAILED ? a->cur : NULL,
					ev, &dt);
			ck_assert_int_lt(a->state, SRV_NSTATES);
			if (ev == EV_EXITED || ev == EV_EXEC_FAILED)
				ck_assert_msg(!instance_alive(a->cur) || a->cur->pid != 10001,
					      "%s in %s left the ended process in its slot",
					      supervise_event_name(ev), server_state_name(st));
			if ((a->state == SRV_STOPPED || a->state == SRV_FAILED) &&
			    st != SRV_STOPPED && st != SRV_FAILED)
				ck_assert_msg(!instance_alive(a->cur) || ev == EV_OP_STOP ||
					      st == SRV_STOPPING,
					      "%s in %s left %s with a live instance",
					      supervise_event_name(ev), server_state_name(st),
					      server_state_name(a->state));
			fake_run_loop(d, 1);
			fake_antd_free(d);
		}
	}
}
END_TEST

static Suite *lifecycle_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("table");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, start_goes_spawning_starting_running);
	tcase_add_test(tc, ready_before_its_pid_gets_the_waiting_call);
	tcase_add_test(tc, ready_before_spawned_is_ready);
	tcase_add_test(tc, crash_restarts_at_once_with_a_new_instance);
	tcase_add_test(tc, backoff_waits_then_restarts);
	tcase_add_test(tc, intensity_exceeded_gives_up);
	tcase_add_test(tc, temporary_and_transient_policies);
	tcase_add_test(tc, a_given_up_server_is_retried);
	tcase_add_test(tc, operator_stop_start_restart);
	tcase_add_test(tc, faults_kill_with_their_reason);
	tcase_add_test(tc, ready_timeout_kills_without_blame);
	tcase_add_test(tc, disconnect_then_kill_if_still_alive);
	tcase_add_test(tc, exec_failure_before_ready_stops_the_stack);
	tcase_add_test(tc, exec_failure_after_ready_is_a_failure);
	tcase_add_test(tc, spare_takes_over_by_a_swap);
	tcase_add_test(tc, shutdown_stops_everything);
	tcase_add_test(tc, every_event_in_every_state);
	suite_add_tcase(s, tc);
	return s;
}

ANT_TEST_MAIN(lifecycle_suite)
