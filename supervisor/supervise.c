/* supervise.c - a server's lifecycle as one state x event table: restart policy, intensity, backoff, strategy, failover. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ant/errors.h"
#include "antd.h"
#include "log.h"
#include "supervise.h"

/* An action: what one event does in one state.  in is the serving instance
 * (s->cur), whatever instance the event came with. */
typedef int action_fn(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		      struct sv_detail *dt);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *supervise_event_name(enum sv_event ev)
{
	static const char *const names[EV_NEVENTS] = {
		[EV_SPAWNED] = "spawned", [EV_EXEC_FAILED] = "exec-failed", [EV_READY] = "ready",
		[EV_EXITED] = "exited", [EV_DISCONNECTED] = "disconnected",
		[EV_EOF_TIMEOUT] = "eof-timeout", [EV_DEADLINE] = "deadline",
		[EV_PROTOCOL_FAULT] = "protocol-fault", [EV_SANDBOX] = "sandbox-violation",
		[EV_READY_TIMEOUT] = "ready-timeout", [EV_OP_RESTART] = "op-restart",
		[EV_OP_STOP] = "op-stop", [EV_OP_START] = "op-start", [EV_PEER_FAILED] = "peer-failed",
		[EV_BACKOFF_EXPIRED] = "backoff-expired", [EV_RETRY_EXPIRED] = "retry-expired",
		[EV_SHUTDOWN] = "shutdown", [EV_INJECTED] = "injected",
	};
	return (unsigned)ev < EV_NEVENTS ? names[ev] : "?";
}



static void set_state(struct server *s, enum server_state st)
{
	if (s->state != st) {
		log_debug("state", s->conf->name, "%s -> %s", server_state_name(s->state),
			  server_state_name(st));
		s->state_ns = mono_ns();
	}
	s->state = st;
}

/* ---- helpers the actions share --------------------------------------------- */

/* Remember how and why the serving instance ended, for antctl status. */
static void record_exit(struct server *s, const char *how, const char *cause)
{
	struct exit_rec *r = &s->exits[s->exits_n++ % SERVER_EXITS];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->when = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	snprintf(r->how, sizeof(r->how), "%s", how);
	snprintf(r->cause, sizeof(r->cause), "%s", cause ? cause : "");
}

/* Signal in as antd's decision: the first reason is the one its death is
 * reported with. */
static void kill_instance(struct server *s, struct instance *in, enum kill_kind kind, int sig,
			  const char *why)
{
	if (!instance_alive(in))
		return;
	if (in->kill == KILL_NONE || kind == KILL_ASKED) {
		in->kill = kind;
		snprintf(in->kill_why, sizeof(in->kill_why), "%s", why);
	}
	/* A restart asked for is planned: info; a fault is trouble: error. */
	log_fields(kind == KILL_ASKED ? LOG_INFO : kind == KILL_NOBLAME ? LOG_WARN : LOG_ERROR,
		   "kill", s->conf->name, json_pack("{s:i}", "pid", (int)in->pid),
		   "pid %d killed: %s", (int)in->pid, why);
	instance_signal(in, sig ? sig : SIGKILL);
}

static void spare_start(struct antd *d, struct server *s)
{
	if (d->stopping || !s->conf->policy.standby || instance_alive(s->spare) ||
	    s->state == SRV_STOPPED || s->state == SRV_FAILED || s->state == SRV_STOPPING)
		return;
	if (instance_spawn(d, s->spare) < 0) {
		log_error("start-failed", s->conf->name, "start-up failure (spare): %s",
			  s->spare->exec_error);
		ev_timer_set(&s->spare_timer, 1.0, 0.);
		ev_timer_start(d->loop, &s->spare_timer);
	}
}

/* The spare takes over at once: no fork, no exec, no waiting for ready.
 * The two slots swap; the empty one is the next spare's. */
void supervise_switch(struct antd *d, struct server *s)
{
	struct instance *old = s->cur;
	s->cur = s->spare;
	s->spare = old;
	set_state(s, SRV_RUNNING);
	inject_on_ready(d, s);
	calls_pump(d, s);
}

static void failover(struct antd *d, struct server *s)
{
	s->failovers++;
	s->restarts++;
	log_info("failover", s->conf->name, "spare pid %d takes over", (int)s->spare->pid);
	supervise_switch(d, s);
	/* The next spare a moment later: its fork and exec would otherwise
	 * compete with the replayed calls the new server is answering now. */
	ev_timer_set(&s->spare_timer, 0.005, 0.);
	ev_timer_start(d->loop, &s->spare_timer);
}

static void start_failed(struct antd *d, struct server *s, const char *why);

/* A new serving instance now (or the spare, if one is ready). */
static void restart_now(struct antd *d, struct server *s)
{
	ev_timer_stop(d->loop, &s->restart_timer);
	if (d->stopping || instance_alive(s->cur))
		return;
	if (s->conf->policy.standby && s->spare->phase == INST_READY) {
		failover(d, s);
		return;
	}
	s->restarts++;
	set_state(s, SRV_SPAWNING);
	if (instance_spawn(d, s->cur) < 0)
		start_failed(d, s, s->cur->exec_error);
}

/* s will not run again: fail what waits for it and tell the daemon. */
static void settle(struct antd *d, struct server *s, enum server_state st)
{
	set_state(s, st);
	calls_fail_queued(d, s, s->op_stopped ? ANT_E_SERVER_STOPPED : ANT_E_SERVER_FAILED);
	d->hooks.server_gone(d, s);
}

/* The delay before try number n (0-based) of a given-up server: after_s,
 * doubling, up to max_s. */
static double retry_delay(const struct policy *p, unsigned n)
{
	double t = p->retry_after_s;
	for (unsigned i = 0; i < n && t < p->retry_max_s; i++)
		t *= 2;
	return t < p->retry_max_s ? t : p->retry_max_s;
}

/* Too many failures: give s up, as its policy says. */
static void give_up(struct antd *d, struct server *s)
{
	const struct policy *p = &s->conf->policy;
	const char *name = s->conf->name;
	double retry = p->on_give_up == GIVE_UP_RETRY ? retry_delay(p, s->give_ups) : 0;
	char how[96];
	if (p->on_give_up == GIVE_UP_STOP_STACK)
		snprintf(how, sizeof(how), "stopping the stack");
	else if (retry > 0)
		snprintf(how, sizeof(how), "its callers get ANT_E_SERVER_FAILED; trying again in %g s",
			 retry);
	else
		snprintf(how, sizeof(how), "its callers get ANT_E_SERVER_FAILED");
	log_error("give-up", name, "%u restarts in %g s: giving up (%s)", s->nhistory,
		  p->period_s, how);
	settle(d, s, SRV_FAILED);
	if (p->on_give_up == GIVE_UP_STOP_STACK) {
		d->exit_status = ANTD_EXIT_FAILED;
		d->hooks.stop(d, "a server was given up");
	} else if (retry > 0 && !d->stopping) {
		s->give_ups++;
		ev_timer_set(&s->retry_timer, retry, 0.);
		ev_timer_start(d->loop, &s->retry_timer);
	}
}

/*
 * Intensity: at most max_restarts failures in period_s, else give up.  A
 * death blamed on a request of a caller that another counted death of this
 * period was blamed on already is not counted again: one caller's poison
 * requests (or one request killing it poison_kills times) cannot use up the
 * restarts of a server that serves everyone else.  Returns 1 if given up.
 */
static int over_intensity(struct antd *d, struct server *s, uint64_t blamed)
{
	const struct policy *p = &s->conf->policy;
	const char *name = s->conf->name;
	double now = now_s();
	unsigned keep = 0;
	for (unsigned i = 0; i < s->nhistory; i++)
		if (now - s->history[i].t < p->period_s)
			s->history[keep++] = s->history[i];
	s->nhistory = keep;
	if (s->give_ups && now - s->last_failure >= p->period_s)
		s->give_ups = 0;   /* a whole period without a failure since: a fresh start */
	s->last_failure = now;
	for (unsigned i = 0; blamed && i < s->nhistory; i++) {
		if (s->history[i].blamed == blamed) {
			log_info("not-counted", name, "death blamed on a caller already blamed "
				 "in the last %g s: not counted toward the intensity", p->period_s);
			return 0;
		}
	}
	if (s->nhistory >= p->max_restarts) {
		give_up(d, s);
		return 1;
	}
	if (s->nhistory == RESTART_HISTORY) {
		memmove(s->history, s->history + 1, sizeof(s->history[0]) * (RESTART_HISTORY - 1));
		s->nhistory--;
	}
	s->history[s->nhistory++] = (struct failure){ .t = now, .blamed = blamed };
	return 0;
}

/* Restart s now or after its backoff, or give up, as its policy says.
 * blamed: the caller the death was blamed on (over_intensity), or 0. */
static void decide(struct antd *d, struct server *s, int abnormal, uint64_t blamed)
{
	const struct policy *p = &s->conf->policy;
	const char *name = s->conf->name;
	if (p->restart == RESTART_TEMPORARY || (p->restart == RESTART_TRANSIENT && !abnormal)) {
		log_info("not-restarted", name, "not restarted (policy %s); it %s",
			 policy_restart_name(p->restart), s->last_exit);
		settle(d, s, SRV_STOPPED);
		return;
	}
	if (over_intensity(d, s, blamed))
		return;

	/* Strategy: the servers that depend on it go down and come back too. */
	if (p->strategy != STRATEGY_ONE_FOR_ONE) {
		char why[160];
		snprintf(why, sizeof(why), "%s: %s failed", policy_strategy_name(p->strategy), name);
		for (unsigned id = 1; id <= d->stack->nservers; id++) {
			struct server *t = &d->servers[id];
			if (t == s || (p->strategy == STRATEGY_REST_FOR_ONE && id < s->id))
				continue;
			struct sv_detail dt = { .why = why };
			supervise_event(d, t, NULL, EV_PEER_FAILED, &dt);
		}
	}

	unsigned delay = policy_backoff_ms(p, s->nhistory, (unsigned)random());
	set_state(s, SRV_RESTARTING);
	if (delay == 0) {
		restart_now(d, s);
		return;
	}
	log_info("restart-scheduled", name, "restart %u of this series in %u ms", s->nhistory, delay);
	ev_timer_set(&s->restart_timer, delay / 1000.0, 0.);
	ev_timer_start(d->loop, &s->restart_timer);
}

/* The serving instance could not be started: before the stack was ever
 * ready that stops the stack; later it is a failure like a crash. */
static void start_failed(struct antd *d, struct server *s, const char *why)
{
	snprintf(s->last_exit, sizeof(s->last_exit), "%s", why);
	log_error("start-failed", s->conf->name, "start-up failure: %s", s->last_exit);
	if (!d->ever_ready) {
		set_state(s, SRV_FAILED);
		d->hooks.start_failed(d, s, s->last_exit);
		return;
	}
	set_state(s, SRV_RESTARTING);
	decide(d, s, 1, 0);
}

/* ---- the actions --------------------------------------------------------------- */

static int a_ignore(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		    struct sv_detail *dt)
{
	log_debug("event", s->conf->name, "%s ignored while %s", supervise_event_name(ev),
		  server_state_name(s->state));
	return 0;
}

/* A process ended in a state that expected none: its slot is emptied, and
 * nothing else changes. */
static int a_gone(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		  struct sv_detail *dt)
{
	log_warn("event", s->conf->name, "pid %d ended while %s", (int)in->pid,
		 server_state_name(s->state));
	if (in->peer)
		peer_close(in->peer, "ended");
	instance_clear(d, in);
	return 0;
}

static int a_refuse(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		    struct sv_detail *dt)
{
	if (dt && dt->reply)
		snprintf(dt->reply, dt->replylen, "%s is already %s", s->conf->name,
			 server_state_name(s->state));
	return -EALREADY;
}

static int a_spawned(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		     struct sv_detail *dt)
{
	set_state(s, SRV_STARTING);
	ev_timer_set(&in->ready_timer, s->conf->policy.ready_timeout_ms / 1000.0, 0.);
	ev_timer_start(d->loop, &in->ready_timer);
	return 0;
}

static int a_exec_failed(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
			 struct sv_detail *dt)
{
	char why[96];
	snprintf(why, sizeof(why), "%s", in->exec_error);
	record_exit(s, "could not start", why);
	if (in->peer)
		peer_close(in->peer, why);
	instance_clear(d, in);
	start_failed(d, s, why);
	return 0;
}

static int a_ready(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		   struct sv_detail *dt)
{
	ev_timer_stop(d->loop, &in->ready_timer);
	in->phase = INST_READY;
	set_state(s, SRV_RUNNING);
	log_fields(LOG_INFO, "ready", s->conf->name, json_pack("{s:i}", "pid", (int)in->pid),
		   "pid %d ready%s", (int)in->pid,
		 s->restarts ? " (restarted)" : "");
	spare_start(d, s);
	inject_on_ready(d, s);
	d->hooks.ready(d);
	/* Its NEXT may have come before its pid (ready_early): the work that
	 * waited for it goes now, not at the next message. */
	calls_pump(d, s);
	return 0;
}

/*
 * Could the request the server held have caused this death?  An exit, a
 * crash signal, or the OOM killer: yes.  A signal from outside antd (a
 * SIGKILL or SIGTERM of an operator, a script, a test) says nothing about
 * the request, and does not count toward poison.  (antd's own kills carry
 * their kind: a fault of the server counts, a restart asked for does not.)
 */
static int self_inflicted(const struct sv_detail *dt)
{
	if (dt->si->si_code == CLD_EXITED)
		return 1;
	switch (dt->si->si_status) {
	case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGABRT: case SIGSYS:
	case SIGTRAP: case SIGXCPU: case SIGXFSZ:
		return 1;
	case SIGKILL:
		return dt->oom;
	default:
		return 0;
	}
}

/* The serving instance is gone: what it sent before it died still counts
 * (an answer already on its way is taken, not replayed), the calls it held
 * go back to its queues or fail, and then the policy decides. */
static int a_exited(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		    struct sv_detail *dt)
{
	int abnormal = !(dt->si->si_code == CLD_EXITED && dt->si->si_status == 0);
	/* First what it sent before it died (a FIRED says why it dies). */
	if (in->peer)
		peer_drain(in->peer);
	enum kill_kind kind = in->kill;
	int counts = kind == KILL_FAULT || (kind == KILL_NONE && self_inflicted(dt));
	int was_ready = in->phase == INST_READY;
	log_fields(kind == KILL_ASKED ? LOG_INFO : LOG_ERROR,
		   was_ready ? "server-exit" : "start-failed", s->conf->name,
		   json_pack("{s:i}", "pid", (int)in->pid), "pid %d %s%s%s%s",
		   (int)in->pid, s->last_exit,
		   was_ready ? "" : " before it was ready (start-up failure)",
		   in->kill_why[0] ? ": " : "", in->kill_why);
	record_exit(s, s->last_exit, in->kill_why[0] ? in->kill_why :
		    kind == KILL_NONE && !self_inflicted(dt) ? "a signal from outside antd" : "");
	set_state(s, SRV_RESTARTING);
	in->want = 0;
	if (in->peer)
		peer_close(in->peer, s->last_exit);
	uint64_t blamed = calls_server_died(d, s, counts);
	instance_clear(d, in);
	in->kill = KILL_NONE;
	in->kill_why[0] = '\0';
	/* On probation after an upgrade: the old version takes over again. */
	if (kind != KILL_ASKED && upgrade_on_crash(d, s, s->last_exit))
		return 0;
	if (kind == KILL_ASKED) {
		/* Asked for (antctl restart, or a sibling's strategy): not a failure. */
		restart_now(d, s);
		return 0;
	}
	decide(d, s, abnormal, blamed);
	return 0;
}

/* Stopped as asked: it ended, and stays down. */
static int a_exited_stopping(struct antd *d, struct server *s, struct instance *in,
			     enum sv_event ev, struct sv_detail *dt)
{
	log_fields(LOG_INFO, "server-exit", s->conf->name, json_pack("{s:i}", "pid", (int)in->pid),
		   "pid %d %s", (int)in->pid, s->last_exit);
	record_exit(s, s->last_exit, d->stopping ? "the stack stopped" : "stopped by the operator");
	if (in->peer)
		peer_close(in->peer, s->last_exit);
	instance_clear(d, in);
	in->kill = KILL_NONE;
	in->kill_why[0] = '\0';
	if (d->stopping) {
		set_state(s, SRV_STOPPED);
		d->hooks.server_gone(d, s);
		return 0;
	}
	calls_server_died(d, s, 0);
	log_info("stopped", s->conf->name, "stopped by the operator");
	settle(d, s, SRV_STOPPED);
	return 0;
}

/* antd ends the serving instance for a fault of its own (or a late start):
 * no more work for it, and the status says so at once. */
static int a_kill(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		  struct sv_detail *dt)
{
	if (!instance_alive(in))
		return 0;
	char why[160];
	if (ev == EV_READY_TIMEOUT)
		snprintf(why, sizeof(why), "not ready within %u ms", s->conf->policy.ready_timeout_ms);
	else if (ev == EV_EOF_TIMEOUT)
		snprintf(why, sizeof(why), "closed its connection to antd");
	else
		snprintf(why, sizeof(why), "%s", dt && dt->why ? dt->why : supervise_event_name(ev));
	kill_instance(s, in, ev == EV_READY_TIMEOUT ? KILL_NOBLAME : KILL_FAULT,
		      dt ? dt->sig : 0, why);
	if (s->state != SRV_STOPPING)
		set_state(s, SRV_RESTARTING);
	return 0;
}

/* A fault injected by signal (antctl inject ... --via signal): a crash it
 * did not cause itself, but one that stands for a crash of its own, so it
 * counts like one; SIGSTOP (hang) leaves it alive, for its deadline to find. */
static int a_injected(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		      struct sv_detail *dt)
{
	if (!instance_alive(in) || in->pid <= 0) {
		if (dt->reply)
			snprintf(dt->reply, dt->replylen, "%s has no process now (%s)", s->conf->name,
				 server_state_name(s->state));
		return -ESRCH;
	}
	if (dt->sig == SIGSTOP) {
		instance_signal(in, SIGSTOP);
		return 0;
	}
	kill_instance(s, in, KILL_FAULT, dt->sig, dt->why);
	set_state(s, SRV_RESTARTING);
	return 0;
}

/* It closed its connection: a crash closes it just before the exit shows,
 * so give it a moment; alive but unreachable after that is no use. */
static int a_disconnected(struct antd *d, struct server *s, struct instance *in,
			  enum sv_event ev, struct sv_detail *dt)
{
	if (in->kill != KILL_NONE)
		return 0;
	ev_timer_set(&in->eof_timer, 0.2, 0.);
	ev_timer_start(d->loop, &in->eof_timer);
	return 0;
}

/* The operator asked a dead server back (what: "start", "restart"). */
static void start_again(struct antd *d, struct server *s, const char *what)
{
	s->op_stopped = 0;
	ev_timer_stop(d->loop, &s->retry_timer);
	s->give_ups = 0;
	log_info(what, s->conf->name, "%s asked by the operator", what);
	set_state(s, SRV_RESTARTING);
	restart_now(d, s);
}

/* A restart asked for: the live instance is killed (its death is no
 * failure), or a dead server starts at once. */
static int a_restart(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		     struct sv_detail *dt)
{
	if (ev == EV_OP_RESTART)
		s->nhistory = 0;
	if (instance_alive(in)) {
		kill_instance(s, in, KILL_ASKED, SIGKILL,
			      ev == EV_OP_RESTART ? "restart asked by the operator" : dt->why);
		set_state(s, SRV_RESTARTING);
		return 0;
	}
	if (ev == EV_OP_RESTART)
		start_again(d, s, "restart");
	return 0;
}

static int a_start(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		   struct sv_detail *dt)
{
	if (instance_alive(in))
		return a_refuse(d, s, in, ev, dt);
	s->nhistory = 0;
	start_again(d, s, "start");
	return 0;
}

/* Stop (operator) or shutdown: SIGTERM to what runs, nothing restarts. */
static int a_stop(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		  struct sv_detail *dt)
{
	ev_timer_stop(d->loop, &s->restart_timer);
	ev_timer_stop(d->loop, &s->spare_timer);
	ev_timer_stop(d->loop, &s->retry_timer);
	ev_timer_stop(d->loop, &in->ready_timer);
	ev_timer_stop(d->loop, &in->eof_timer);
	instance_signal(s->spare, SIGTERM);
	if (ev == EV_OP_STOP) {
		log_info("stop", s->conf->name, "stop asked by the operator");
		s->op_stopped = 1;
	}
	if (instance_alive(in)) {
		set_state(s, SRV_STOPPING);
		instance_signal(in, SIGTERM);
		return 0;
	}
	if (ev == EV_SHUTDOWN) {
		if (s->state != SRV_FAILED)
			set_state(s, SRV_STOPPED);
		return 0;
	}
	log_info("stopped", s->conf->name, "stopped by the operator");
	settle(d, s, SRV_STOPPED);
	return 0;
}

/* on_give_up retry: a given-up server gets a fresh series. */
static int a_retry(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		   struct sv_detail *dt)
{
	s->nhistory = 0;
	log_info("retry", s->conf->name, "trying the given-up server again (try %u)", s->give_ups);
	set_state(s, SRV_RESTARTING);
	restart_now(d, s);
	return 0;
}

static int a_restart_now(struct antd *d, struct server *s, struct instance *in,
			 enum sv_event ev, struct sv_detail *dt)
{
	restart_now(d, s);
	return 0;
}

/* ---- the table ----------------------------------------------------------------- */

#define ALIVE_ROW                                                                         \
	[EV_EXITED] = a_exited, [EV_DISCONNECTED] = a_disconnected,                      \
	[EV_EOF_TIMEOUT] = a_kill, [EV_DEADLINE] = a_kill, [EV_PROTOCOL_FAULT] = a_kill, \
	[EV_SANDBOX] = a_kill, [EV_READY_TIMEOUT] = a_kill, [EV_OP_RESTART] = a_restart, \
	[EV_OP_STOP] = a_stop, [EV_PEER_FAILED] = a_restart,                             \
	[EV_SHUTDOWN] = a_stop, [EV_INJECTED] = a_injected

/* state x event -> action (NULL: the event means nothing in that state). */
static action_fn *const table[SRV_NSTATES][EV_NEVENTS] = {
	[SRV_STOPPED] = {
		[EV_OP_RESTART] = a_restart, [EV_OP_START] = a_start, [EV_OP_STOP] = a_refuse,
		[EV_SHUTDOWN] = a_stop,
	},
	/* A NEXT can overtake the end of the spawn channel: ready says exec happened. */
	[SRV_SPAWNING] = {
		ALIVE_ROW, [EV_SPAWNED] = a_spawned, [EV_EXEC_FAILED] = a_exec_failed,
		[EV_READY] = a_ready, [EV_OP_START] = a_refuse,
	},
	[SRV_STARTING] = {
		ALIVE_ROW, [EV_READY] = a_ready, [EV_EXEC_FAILED] = a_exec_failed,
		[EV_OP_START] = a_refuse,
	},
	[SRV_RUNNING] = { ALIVE_ROW, [EV_OP_START] = a_refuse },
	[SRV_RESTARTING] = {
		ALIVE_ROW, [EV_OP_START] = a_start, [EV_BACKOFF_EXPIRED] = a_restart_now,
		[EV_EXEC_FAILED] = a_exec_failed,
	},
	[SRV_FAILED] = {
		[EV_OP_RESTART] = a_restart, [EV_OP_START] = a_start, [EV_OP_STOP] = a_stop,
		[EV_SHUTDOWN] = a_stop, [EV_RETRY_EXPIRED] = a_retry,
	},
	[SRV_STOPPING] = {
		[EV_EXITED] = a_exited_stopping, [EV_EXEC_FAILED] = a_exited_stopping,
		[EV_DEADLINE] = a_kill, [EV_PROTOCOL_FAULT] = a_kill, [EV_SANDBOX] = a_kill,
		[EV_OP_RESTART] = a_restart, [EV_OP_STOP] = a_refuse, [EV_OP_START] = a_refuse,
	},
};

/* ---- the spare ------------------------------------------------------------------ */

/* The warm spare's own small lifecycle: it takes no work, so its events only
 * decide when it is ready, and when to make the next one. */
static void spare_event(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
			struct sv_detail *dt)
{
	switch (ev) {
	case EV_READY:
		in->phase = INST_READY;
		if (s->up.phase == UP_STARTING) {
			upgrade_on_spare_ready(d, s);
			return;
		}
		log_info("spare-ready", s->conf->name, "spare pid %d ready", (int)in->pid);
		s->spare_failures = 0;
		return;
	case EV_EXITED:
	case EV_EXEC_FAILED: {
		int retired = in->retiring;
		char why[128];
		snprintf(why, sizeof(why), "%s", ev == EV_EXITED ? dt->why : in->exec_error);
		if (retired)
			log_info("retired", s->conf->name, "pid %d %s", (int)in->pid, why);
		else if (ev == EV_EXITED)
			log_info("spare-exit", s->conf->name, "spare pid %d %s", (int)in->pid, why);
		else
			log_error("start-failed", s->conf->name, "start-up failure (spare): %s", why);
		if (in->peer)
			peer_close(in->peer, why);
		instance_clear(d, in);
		in->retiring = 0;
		if (d->stopping) {
			d->hooks.server_gone(d, s);
			return;
		}
		if (retired) {   /* on purpose: the slot is free for what comes next */
			if (!upgrade_on_slot_free(d, s))
				spare_start(d, s);
			return;
		}
		if (s->up.phase != UP_NONE && s->up.phase != UP_PROBATION) {
			upgrade_on_spare_gone(d, s, why);
			return;
		}
		/* A spare that keeps dying is re-made ever more slowly (0.1 s .. 10 s). */
		double delay = 0.1;
		for (unsigned i = 0; i < s->spare_failures && delay < 10; i++)
			delay *= 2;
		s->spare_failures++;
		ev_timer_set(&s->spare_timer, delay < 10 ? delay : 10, 0.);
		ev_timer_start(d->loop, &s->spare_timer);
		return;
	}
	case EV_DISCONNECTED:
	case EV_PROTOCOL_FAULT:
	case EV_SANDBOX:
		in->phase = in->phase == INST_READY ? INST_STARTING : in->phase;
		instance_signal(in, dt && dt->sig ? dt->sig : SIGKILL);
		return;
	default:
		return;
	}
}

/* ---- posting events ------------------------------------------------------------- */

int supervise_event(struct antd *d, struct server *s, struct instance *in, enum sv_event ev,
		    struct sv_detail *dt)
{
	if (ev == EV_READY && in && in->pid <= 0) {
		/* Its NEXT overtook the forker's answer: ready once its pid is
		 * known (spawn.c), so that logs and status never say pid 0. */
		in->ready_early = 1;
		return 0;
	}
	if (in && in != s->cur) {
		if (in == s->spare)
			spare_event(d, s, in, ev, dt);
		return 0;
	}
	if (d->stopping && (ev == EV_OP_RESTART || ev == EV_OP_START)) {
		if (dt && dt->reply)
			snprintf(dt->reply, dt->replylen, "the stack is stopping");
		return -ESHUTDOWN;
	}
	action_fn *act = table[s->state][ev];
	if (!act && (ev == EV_EXITED || ev == EV_EXEC_FAILED))
		act = a_gone;   /* whatever the state: an ended process leaves its slot */
	else if (!act)
		act = ev == EV_OP_STOP || ev == EV_OP_START ? a_refuse : a_ignore;
	struct sv_detail none = { 0 };
	return act(d, s, s->cur, ev, dt ? dt : &none);
}

void supervise_fault(struct antd *d, struct instance *in, enum sv_event ev, const char *why)
{
	struct sv_detail dt = { .why = why };
	supervise_event(d, in->srv, in, ev, &dt);
}

int supervise_spawn_spare(struct antd *d, struct server *s, const struct exec_spec *exec,
			  char *why, size_t len)
{
	if (instance_alive(s->spare)) {
		snprintf(why, len, "its spare slot is taken");
		return -1;
	}
	if (instance_spawn_exec(d, s->spare, exec) < 0) {
		snprintf(why, len, "%s", s->spare->exec_error);
		return -1;
	}
	return 0;
}

void supervise_retire(struct antd *d, struct server *s, struct instance *in, const char *why)
{
	if (!instance_alive(in))
		return;
	in->retiring = 1;
	kill_instance(s, in, KILL_ASKED, SIGKILL, why);
}

void supervise_dying_of(struct instance *in, const char *why)
{
	if (in->kill != KILL_NONE)
		return;   /* antd's own reason comes first */
	in->kill = KILL_FAULT;
	snprintf(in->kill_why, sizeof(in->kill_why), "%s", why);
}

void supervise_launch(struct antd *d, struct server *s)
{
	set_state(s, SRV_SPAWNING);
	if (instance_spawn(d, s->cur) < 0)
		start_failed(d, s, s->cur->exec_error);
}

/* ---- timers --------------------------------------------------------------------- */

static void on_restart_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	supervise_event((struct antd *)ev_userdata(loop), s, NULL, EV_BACKOFF_EXPIRED, NULL);
}

static void on_ready_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct instance *in = w->data;
	supervise_event((struct antd *)ev_userdata(loop), in->srv, in, EV_READY_TIMEOUT, NULL);
}

static void on_eof_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct instance *in = w->data;
	if (instance_alive(in) && !in->peer)
		supervise_event((struct antd *)ev_userdata(loop), in->srv, in, EV_EOF_TIMEOUT, NULL);
}

static void on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	supervise_event((struct antd *)ev_userdata(loop), s, NULL, EV_RETRY_EXPIRED, NULL);
}

static void on_spare_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	spare_start((struct antd *)ev_userdata(loop), w->data);
}

void supervise_init(struct antd *d, struct server *s)
{
	(void)d;
	/* The stack file's program (checked to fit when the stack was read). */
	exec_spec_set(&s->exec, s->conf->exec_path ? s->conf->exec_path : s->conf->exec,
		      s->conf->args, s->conf->nargs);
	for (int k = 0; k < 2; k++) {
		struct instance *in = &s->slot[k];
		memset(in, 0, sizeof(*in));
		in->srv = s;
		in->pidfd = in->chan = in->notify_fd = in->out_fd = -1;
		ev_timer_init(&in->ready_timer, on_ready_timer, 0., 0.);
		in->ready_timer.data = in;
		ev_timer_init(&in->eof_timer, on_eof_timer, 0., 0.);
		in->eof_timer.data = in;
	}
	s->cur = &s->slot[0];
	s->spare = &s->slot[1];
	upgrade_init(d, s);
	callq_init(&s->requests);
	callq_init(&s->results);
	ev_timer_init(&s->restart_timer, on_restart_timer, 0., 0.);
	s->restart_timer.data = s;
	ev_timer_init(&s->spare_timer, on_spare_timer, 0., 0.);
	s->spare_timer.data = s;
	ev_timer_init(&s->retry_timer, on_retry_timer, 0., 0.);
	s->retry_timer.data = s;
}
