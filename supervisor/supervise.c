/* supervise.c - what antd does when a server ends: restart policy, intensity, backoff, strategy, failover. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <time.h>

#include "ant/errors.h"
#include "antd.h"
#include "log.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void restart_now(struct antd *d, struct server *s);
static void decide(struct antd *d, struct server *s, int abnormal);

static void on_restart_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	restart_now((struct antd *)ev_userdata(loop), s);
}

static void on_ready_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	supervise_kill((struct antd *)ev_userdata(loop), s, 0,
		       "not ready within %u ms", s->conf->policy.ready_timeout_ms);
}

static void start_spare(struct antd *d, struct server *s)
{
	if (d->stopping || !s->conf->policy.standby || s->spare.pid > 0 ||
	    s->state == SRV_STOPPED || s->state == SRV_FAILED || s->state == SRV_STOPPING)
		return;
	if (server_spawn(d, s, 1) < 0) {
		ev_timer_set(&s->spare_timer, 1.0, 0.);
		ev_timer_start(d->loop, &s->spare_timer);
	}
}

static void on_spare_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	start_spare((struct antd *)ev_userdata(loop), w->data);
}

static void on_eof_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	if (s->pid > 0 && !s->peer)
		supervise_kill((struct antd *)ev_userdata(loop), s, 1, "closed its connection to antd");
}

void supervise_disconnected(struct antd *d, struct server *s)
{
	ev_timer_set(&s->eof_timer, 0.2, 0.);
	ev_timer_start(d->loop, &s->eof_timer);
}

void supervise_init(struct antd *d, struct server *s)
{
	s->notify_fd = -1;
	s->spare.notify_fd = -1;
	ev_timer_init(&s->eof_timer, on_eof_timer, 0., 0.);
	s->eof_timer.data = s;
	(void)d;
	s->pidfd = -1;
	s->spare.pidfd = -1;
	ev_timer_init(&s->restart_timer, on_restart_timer, 0., 0.);
	s->restart_timer.data = s;
	ev_timer_init(&s->ready_timer, on_ready_timeout, 0., 0.);
	s->ready_timer.data = s;
	ev_timer_init(&s->spare_timer, on_spare_timer, 0., 0.);
	s->spare_timer.data = s;
}

int supervise_accepts(const struct server *s)
{
	return s->state == SRV_STARTING || s->state == SRV_RUNNING || s->state == SRV_RESTARTING;
}

void supervise_ready(struct antd *d, struct server *s)
{
	ev_timer_stop(d->loop, &s->ready_timer);
	s->state = SRV_RUNNING;
	s->ever_ready = 1;
	log_info("ready", s->conf->name, "pid %d ready%s", (int)s->pid,
		 s->instance > 1 ? " (restarted)" : "");
	start_spare(d, s);
	antd_check_ready(d);
}

void supervise_kill(struct antd *d, struct server *s, int counts, const char *fmt, ...)
{
	if (s->pid <= 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->kill_why, sizeof(s->kill_why), fmt, ap);
	va_end(ap);
	s->kill_counts = counts;
	log_error("kill", s->conf->name, "pid %d killed: %s", (int)s->pid, s->kill_why);
	/* Doomed: no more work for it, and the status says so at once. */
	if (s->state == SRV_RUNNING || s->state == SRV_STARTING)
		s->state = SRV_RESTARTING;
	server_stop(d, s, SIGKILL);
}

/* The spare takes over at once: no fork, no exec, no waiting for ready. */
static void failover(struct antd *d, struct server *s)
{
	struct standby *sb = &s->spare;
	pid_t pid = sb->pid;
	ev_io_stop(d->loop, &sb->pidw);
	server_adopt_spare(d, s);
	s->failovers++;
	s->restarts++;
	log_info("failover", s->conf->name, "spare pid %d takes over", (int)pid);
	calls_pump(d, s);
	/* The next spare a moment later: its fork and exec would otherwise
	 * compete with the replayed calls the new server is answering now. */
	ev_timer_set(&s->spare_timer, 0.005, 0.);
	ev_timer_start(d->loop, &s->spare_timer);
}

static void restart_now(struct antd *d, struct server *s)
{
	ev_timer_stop(d->loop, &s->restart_timer);
	if (d->stopping || s->pid > 0)
		return;
	if (s->conf->policy.standby && s->spare.ready) {
		failover(d, s);
		return;
	}
	s->restarts++;
	int r = server_spawn(d, s, 0);
	if (r < 0) {
		/* Could not even start: a failure like a crash, throttled the same. */
		s->state = SRV_RESTARTING;
		decide(d, s, 1);
	}
}

/* Restart s now or after its backoff, or give up, as its policy says. */
static void decide(struct antd *d, struct server *s, int abnormal)
{
	const struct policy *p = &s->conf->policy;
	const char *name = s->conf->name;
	if (s->stop_asked) {
		s->state = SRV_STOPPED;
		log_info("stopped", name, "stopped by the operator");
		calls_fail_queued(d, s, ANT_E_SERVER_FAILED);
		antd_server_exited(d, s);
		return;
	}
	if (s->restart_asked) {
		/* Asked for (antctl restart, or a sibling's strategy): not a failure. */
		s->restart_asked = 0;
		restart_now(d, s);
		return;
	}
	if (p->restart == RESTART_TEMPORARY || (p->restart == RESTART_TRANSIENT && !abnormal)) {
		s->state = SRV_STOPPED;
		log_info("not-restarted", name, "not restarted (policy %s); it %s",
			 policy_restart_name(p->restart), s->last_exit);
		calls_fail_queued(d, s, ANT_E_SERVER_FAILED);
		antd_server_exited(d, s);
		return;
	}

	/* Intensity: at most max_restarts in period_s, else give up. */
	double now = now_s();
	unsigned keep = 0;
	for (unsigned i = 0; i < s->nhistory; i++)
		if (now - s->history[i] < p->period_s)
			s->history[keep++] = s->history[i];
	s->nhistory = keep;
	if (s->nhistory >= p->max_restarts) {
		s->state = SRV_FAILED;
		log_error("give-up", name, "%u restarts in %g s: giving up (%s)", s->nhistory,
			  p->period_s, p->on_give_up == GIVE_UP_STOP_STACK ?
			  "stopping the stack" : "its callers get ANT_E_SERVER_FAILED");
		calls_fail_queued(d, s, ANT_E_SERVER_FAILED);
		antd_server_exited(d, s);
		if (p->on_give_up == GIVE_UP_STOP_STACK) {
			d->exit_status = 1;
			antd_stop(d, "a server was given up");
		}
		return;
	}
	if (s->nhistory == RESTART_HISTORY) {
		memmove(s->history, s->history + 1, sizeof(s->history[0]) * (RESTART_HISTORY - 1));
		s->nhistory--;
	}
	s->history[s->nhistory++] = now;

	/* Strategy: the servers that depend on it go down and come back too. */
	if (p->strategy != STRATEGY_ONE_FOR_ONE) {
		for (unsigned id = 1; id <= d->stack->nservers; id++) {
			struct server *t = &d->servers[id];
			if (t == s || (p->strategy == STRATEGY_REST_FOR_ONE && id < s->id))
				continue;
			if (t->pid > 0 && t->state != SRV_STOPPING) {
				t->restart_asked = 1;
				supervise_kill(d, t, 0, "%s: %s failed", policy_strategy_name(p->strategy),
					       name);
			}
		}
	}

	unsigned delay = policy_backoff_ms(p, s->nhistory, (unsigned)random());
	s->state = SRV_RESTARTING;
	if (delay == 0) {
		restart_now(d, s);
		return;
	}
	log_info("restart-scheduled", name, "restart %u of this series in %u ms", s->nhistory, delay);
	ev_timer_set(&s->restart_timer, delay / 1000.0, 0.);
	ev_timer_start(d->loop, &s->restart_timer);
}

void supervise_exited(struct antd *d, struct server *s, const siginfo_t *si)
{
	pid_t pid = s->pid;
	s->pid = 0;
	ev_timer_stop(d->loop, &s->ready_timer);
	ev_timer_stop(d->loop, &s->eof_timer);
	int abnormal = !(si->si_code == CLD_EXITED && si->si_status == 0);
	int counts = s->kill_why[0] ? s->kill_counts : 1;

	if (d->stopping || s->state == SRV_STOPPING) {
		log_info("server-exit", s->conf->name, "pid %d %s", (int)pid, s->last_exit);
		if (s->peer)
			peer_close(s->peer, s->last_exit);
		if (!d->stopping) {
			calls_server_died(d, s, 0);
			decide(d, s, abnormal);
		} else {
			s->state = SRV_STOPPED;
			antd_server_exited(d, s);
		}
		return;
	}
	log_error(s->ever_ready ? "server-exit" : "start-failed", s->conf->name, "pid %d %s%s%s%s",
		  (int)pid, s->last_exit,
		  s->ever_ready ? "" : " before it was ready (start-up failure)",
		  s->kill_why[0] ? ": " : "", s->kill_why);
	/* What it sent before it died still counts: an answer already on its
	 * way is taken, not replayed.  No new work goes to it meanwhile. */
	s->state = SRV_RESTARTING;
	s->want = 0;
	if (s->peer)
		peer_drain(s->peer);
	if (s->peer)
		peer_close(s->peer, s->last_exit);
	calls_server_died(d, s, counts);
	decide(d, s, abnormal);
}

void supervise_spare_exited(struct antd *d, struct server *s)
{
	s->spare.ready = 0;
	s->spare.want = 0;
	if (d->stopping) {
		antd_server_exited(d, s);
		return;
	}
	/* A spare that keeps dying is re-made ever more slowly (0.1 s .. 10 s). */
	double delay = 0.1;
	for (unsigned i = 0; i < s->spare_failures && delay < 10; i++)
		delay *= 2;
	s->spare_failures++;
	ev_timer_set(&s->spare_timer, delay < 10 ? delay : 10, 0.);
	ev_timer_start(d->loop, &s->spare_timer);
}

int supervise_restart(struct antd *d, struct server *s, char *why, size_t len)
{
	if (d->stopping) {
		snprintf(why, len, "the stack is stopping");
		return -ESHUTDOWN;
	}
	s->stop_asked = 0;
	s->nhistory = 0;
	if (s->pid > 0) {
		s->restart_asked = 1;
		supervise_kill(d, s, 0, "restart asked by the operator");
		return 0;
	}
	log_info("restart", s->conf->name, "restart asked by the operator");
	s->state = SRV_RESTARTING;
	restart_now(d, s);
	return 0;
}

int supervise_stop(struct antd *d, struct server *s, char *why, size_t len)
{
	if (s->state == SRV_STOPPED || s->state == SRV_STOPPING) {
		snprintf(why, len, "%s is already %s", s->conf->name, server_state_name(s->state));
		return -EALREADY;
	}
	s->stop_asked = 1;
	ev_timer_stop(d->loop, &s->restart_timer);
	ev_timer_stop(d->loop, &s->spare_timer);
	if (s->spare.pid > 0 && s->spare.pidfd >= 0)
		pidfd_send_signal(s->spare.pidfd, SIGTERM, NULL, 0);
	log_info("stop", s->conf->name, "stop asked by the operator");
	if (s->pid > 0) {
		s->state = SRV_STOPPING;
		server_stop(d, s, SIGTERM);
		return 0;
	}
	decide(d, s, 0);
	return 0;
}

int supervise_start(struct antd *d, struct server *s, char *why, size_t len)
{
	if (d->stopping) {
		snprintf(why, len, "the stack is stopping");
		return -ESHUTDOWN;
	}
	if (s->pid > 0 || s->state == SRV_RUNNING || s->state == SRV_STARTING) {
		snprintf(why, len, "%s is already %s", s->conf->name, server_state_name(s->state));
		return -EALREADY;
	}
	s->stop_asked = 0;
	s->nhistory = 0;
	log_info("start", s->conf->name, "start asked by the operator");
	s->state = SRV_RESTARTING;
	restart_now(d, s);
	return 0;
}
