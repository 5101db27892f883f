/* inject.c - antd's armed faults: what antctl inject asks for, when each fires, and how it gets in. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "antd.h"
#include "inject.h"
#include "log.h"
#include "refusal.h"
#include "supervise.h"

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *srv_name(const struct antd *d, unsigned id)
{
	return id && id <= d->stack->nservers ? d->servers[id].conf->name : "?";
}

static struct inject *by_id(struct antd *d, uint32_t id)
{
	for (unsigned i = 0; id && i < INJECT_MAX; i++)
		if (d->inject.slot[i].id == id)
			return &d->inject.slot[i];
	return NULL;
}

/* "nth 3 op echo", "prob 0.25 seed 7", "after 200 ms", "next request"... */
static void trigger_text(const struct inject *in, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
#define ADD(...) (o += o < len ? (size_t)snprintf(buf + o, len - o, __VA_ARGS__) : 0)
	if (in->nth)
		ADD("nth %llu", (unsigned long long)in->nth);
	else if (in->prob_ppm)
		ADD("prob %g seed %llu", in->prob_ppm / 1e6, (unsigned long long)in->seed);
	else if (in->via == VIA_SIGNAL)
		ADD("now");
	else if (in->via == VIA_SECCOMP)
		ADD("next call");
	else if (in->via == VIA_BPF)
		ADD("next system call");
	else if (in->point[0])
		ADD("first hit");
	else
		ADD("next request");
	if (in->point[0])
		ADD(" of point %s", in->point);
	if (in->via == VIA_SECCOMP)
		ADD(" of %s", in->f.syscall);
	if (in->via == VIA_BPF && in->syscall_nr >= 0)
		ADD(" %s %s", in->nth || in->prob_ppm ? "of" : "is",
		    fault_syscall_name(in->syscall_nr));
	if (in->op[0])
		ADD(" op %s", in->op);
	if (in->match[0])
		ADD(" matching \"%s\"", in->match);
	if (in->fresh)
		ADD(" fresh");
	if (in->after_ms)
		ADD(" after %u ms", in->after_ms);
	if (in->count != 1)
		ADD(in->count ? ", %u times" : ", until cleared", in->count);
#undef ADD
}

static void fault_text(const struct inject *in, char *buf, size_t len)
{
	fault_format(&in->f, buf, len);
}

static json_t *inject_json(const struct inject *in)
{
	char fault[64], trig[160];
	fault_text(in, fault, sizeof(fault));
	trigger_text(in, trig, sizeof(trig));
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:b}",
			      "id", (json_int_t)in->id, "server", srv_name(in->d, in->server),
			      "fault", fault, "via", fault_via_name(in->via), "trigger", trig,
			      "count", (json_int_t)in->count, "seen", (json_int_t)in->seen,
			      "sent", (json_int_t)in->sent, "fired", (json_int_t)in->fired,
			      "armed_at", in->armed_at, "waiting", in->waiting);
	if (in->nth)
		json_object_set_new(o, "nth", json_integer((json_int_t)in->nth));
	if (in->prob_ppm) {
		json_object_set_new(o, "prob", json_real(in->prob_ppm / 1e6));
		json_object_set_new(o, "seed", json_integer((json_int_t)in->seed));
	}
	if (in->after_ms)
		json_object_set_new(o, "after_ms", json_integer(in->after_ms));
	if (in->op[0])
		json_object_set_new(o, "op", json_string(in->op));
	if (in->match[0])
		json_object_set_new(o, "match", json_string(in->match));
	if (in->fresh)
		json_object_set_new(o, "fresh", json_true());
	if (in->point[0])
		json_object_set_new(o, "point", json_string(in->point));
	return o;
}

/* The fields every inject event carries, for a study to line them up with
 * the detection, restart and replay events of the same server and pid. */
static json_t *event_fields(const struct inject *in, pid_t pid)
{
	char fault[64], trig[160];
	fault_text(in, fault, sizeof(fault));
	trigger_text(in, trig, sizeof(trig));
	json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "inject_id", (json_int_t)in->id,
			      "fault", fault, "trigger", trig, "via", fault_via_name(in->via));
	if (pid > 0)
		json_object_set_new(o, "pid", json_integer(pid));
	return o;
}

static pid_t cur_pid(const struct antd *d, unsigned server)
{
	return d->servers[server].cur->pid;
}

static void free_slot(struct antd *d, struct inject *in)
{
	ev_timer_stop(d->loop, &in->after_w);
	if (in->via == VIA_BPF)
		inject_bpf_disarm(d, in);
	memset(in, 0, sizeof(*in));
	in->after_w.data = NULL;
	d->inject.live--;
}

/* Disarm in, telling its server if it holds part of it (a named point). */
static void disarm(struct antd *d, struct inject *in, const char *why)
{
	struct server *s = &d->servers[in->server];
	if (in->point[0] && s->cur->peer) {
		struct ant_m_fault_clear m = { .id = in->id };
		peer_send(s->cur->peer, ANT_M_FAULT_CLEAR, 0, &m, sizeof(m), -1);
	}
	char fault[64];
	fault_text(in, fault, sizeof(fault));
	log_fields(LOG_INFO, "inject-cleared", s->conf->name, event_fields(in, cur_pid(d, in->server)),
		   "fault %u (%s) disarmed: %s; set off %llu time(s), fired %llu", in->id, fault, why,
		   (unsigned long long)in->sent, (unsigned long long)in->fired);
	free_slot(d, in);
}

/* Has in done what it was armed for? */
static int spent(const struct inject *in)
{
	return in->count && in->sent >= in->count;
}

/* One more request (or system call) seen by in: does its trigger go off on
 * it (the Nth; or drawn with its probability from its seed; or each)? */
static int triggered(struct inject *in)
{
	uint64_t k = ++in->seen;
	if (in->nth)
		return k == in->nth;
	return in->prob_ppm ? ant_fault_draw(in->seed, k) % 1000000u < in->prob_ppm : 1;
}

/* --via signal: antd sends it now. */
static int signal_now(struct antd *d, struct inject *in, char *err, size_t errlen)
{
	struct server *s = &d->servers[in->server];
	const struct fault_kind *k = fault_kind_of(in->f.kind);
	char why[96], fault[64];
	fault_text(in, fault, sizeof(fault));
	snprintf(why, sizeof(why), "injected fault %u (%s)", in->id, fault);
	pid_t pid = cur_pid(d, in->server);
	struct sv_detail dt = { .sig = k->signal, .why = why, .reply = err, .replylen = errlen };
	int r = supervise_event(d, s, NULL, EV_INJECTED, &dt);
	if (r < 0)
		return r;
	in->sent++;
	in->fired++;
	log_fields(LOG_INFO, "injected", s->conf->name, event_fields(in, pid),
		   "fault %u %s by signal SIG%s to pid %d", in->id, fault, sigabbrev_np(k->signal),
		   (int)pid);
	return 0;
}

/* A named failpoint: the server counts its hits itself. */
static void send_point(struct antd *d, struct inject *in)
{
	struct instance *cur = d->servers[in->server].cur;
	if (!cur->peer || cur->phase != INST_READY)
		return;   /* armed when it is ready (inject_on_ready) */
	struct ant_m_fault m = {
		.id = in->id, .kind = (uint16_t)in->f.kind, .arg = in->f.arg,
		.count = in->count ? (uint32_t)(in->count - in->fired) : 0,
		.nth = in->nth, .prob_ppm = in->prob_ppm, .seed = in->seed,
	};
	if (in->nth && in->fired)
		return;   /* it fired already */
	memcpy(m.point, in->point, sizeof(m.point));
	peer_send(cur->peer, ANT_M_FAULT, 0, &m, sizeof(m), -1);
}

/* --via bpf: arm in's slot for the serving process of its server, if it
 * has one yet (else inject_on_ready does).  0, or -1 with err. */
static int bpf_arm_now(struct antd *d, struct inject *in, char *err, size_t errlen)
{
	pid_t pid = cur_pid(d, in->server);
	if (pid <= 0)
		return 0;
	return inject_bpf_arm(d, in, pid, fault_kind_of(in->f.kind)->signal, err, errlen);
}

static void on_after(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct inject *in = w->data;
	struct antd *d = in->d;
	in->waiting = 0;
	if (in->via == VIA_BPF) {
		char err[300];
		if (bpf_arm_now(d, in, err, sizeof(err)) < 0) {
			log_warn("inject-missed", srv_name(d, in->server), "fault %u: %s", in->id, err);
			disarm(d, in, "eBPF refused it");
		}
	} else if (in->via == VIA_SIGNAL) {
		char err[160];
		if (signal_now(d, in, err, sizeof(err)) < 0)
			log_warn("inject-missed", srv_name(d, in->server), "fault %u: %s", in->id, err);
		disarm(d, in, in->sent ? "done" : "no process to signal");
	} else if (in->point[0]) {
		send_point(d, in);
	}
	(void)loop;
	(void)revents;
}

static void on_bpf_event(struct antd *d, unsigned slot, int pid, int syscall_nr, uint64_t k,
			 int signal, int error, int disarmed, int stale);

void inject_init(struct antd *d)
{
	memset(&d->inject, 0, sizeof(d->inject));
	d->inject.bpf_event = on_bpf_event;
}

void inject_fini(struct antd *d)
{
	for (unsigned i = 0; i < INJECT_MAX; i++)
		if (d->inject.slot[i].id)
			free_slot(d, &d->inject.slot[i]);
	inject_bpf_fini(d);
}

void inject_before_exit(struct antd *d)
{
	inject_bpf_poll(d);
}

static void on_bpf_event(struct antd *d, unsigned slot, int pid, int syscall_nr, uint64_t k,
			 int signal, int error, int disarmed, int stale)
{
	struct inject *in = NULL;
	for (unsigned i = 0; i < INJECT_MAX && !in; i++)
		if (d->inject.slot[i].id && d->inject.slot[i].via == VIA_BPF &&
		    d->inject.slot[i].bpf_slot == (int)slot)
			in = &d->inject.slot[i];
	if (!in || stale) {
		log_debug("injected", NULL, "eBPF slot %u fired in pid %d (%s): an arming that is "
			  "gone", slot, pid, stale ? "stale" : "no fault");
		return;
	}
	struct server *s = &d->servers[in->server];
	char fault[64];
	fault_text(in, fault, sizeof(fault));
	const char *call = fault_syscall_name(syscall_nr);
	json_t *fields = event_fields(in, pid);
	json_object_set_new(fields, "syscall", json_string(call));
	json_object_set_new(fields, "nth_call", json_integer((json_int_t)k));
	if (error) {
		log_fields(LOG_WARN, "inject-missed", s->conf->name, fields, "fault %u %s: eBPF "
			   "could not signal pid %d at call %llu (%s): %s", in->id, fault, pid,
			   (unsigned long long)k, call, strerror(-error));
	} else {
		in->sent++;
		in->fired++;
		log_fields(LOG_INFO, "injected", s->conf->name, fields, "fault %u %s by eBPF: "
			   "SIG%s to pid %d at its call %llu (%s)", in->id, fault, sigabbrev_np(signal),
			   pid, (unsigned long long)k, call);
		if (signal != SIGSTOP && s->cur->pid == pid) {
			char why[96];
			snprintf(why, sizeof(why), "injected fault %u (%s)", in->id, fault);
			supervise_dying_of(s->cur, why);
		}
	}
	if (disarmed) {
		in->bpf_slot = -1;   /* the injector freed it */
		disarm(d, in, "done");
	}
}

void inject_on_request(struct antd *d, struct server *s, struct call *c)
{
	struct instance *cur = s->cur;
	const struct ant_frame *f = ant_cica_current_const(c->page);
	for (unsigned i = 0; i < INJECT_MAX && d->inject.live; i++) {
		struct inject *in = &d->inject.slot[i];
		if (!in->id || in->server != s->id || in->via != VIA_FAILPOINT || in->point[0] ||
		    in->waiting || spent(in) || !cur->peer)
			continue;
		if (in->op[0] && strcmp(in->op, f->op) != 0)
			continue;
		if (in->fresh && (((const struct ant_cica_hdr *)c->page)->flags & ANT_CF_REPLAY))
			continue;
		if (in->match[0] && !memmem((const char *)c->page + f->param_off, f->param_size,
					    in->match, strlen(in->match)))
			continue;
		if (!triggered(in))
			continue;
		struct ant_m_fault m = {
			.id = in->id, .kind = (uint16_t)in->f.kind, .arg = in->f.arg,
			.call_id = ((const struct ant_cica_hdr *)c->page)->call_id,
		};
		peer_send(cur->peer, ANT_M_FAULT, 0, &m, sizeof(m), -1);
		in->sent++;
		return;   /* one fault per request */
	}
}

int inject_on_syscall(struct antd *d, struct server *s, int nr, pid_t pid)
{
	for (unsigned i = 0; i < INJECT_MAX && d->inject.live; i++) {
		struct inject *in = &d->inject.slot[i];
		if (!in->id || in->server != s->id || in->via != VIA_SECCOMP ||
		    in->f.syscall_nr != nr || in->waiting || spent(in))
			continue;
		if (!triggered(in))
			continue;
		in->sent++;
		in->fired++;
		char fault[64];
		fault_text(in, fault, sizeof(fault));
		json_t *fields = event_fields(in, pid);
		json_object_set_new(fields, "syscall", json_string(in->f.syscall));
		uint64_t k = in->seen;   /* the call it fails is the one just seen */
		json_object_set_new(fields, "nth_call", json_integer((json_int_t)k));
		log_fields(LOG_INFO, "injected", s->conf->name, fields,
			   "fault %u %s fails call %llu of %s in pid %d with %s", in->id, fault,
			   (unsigned long long)k, in->f.syscall, (int)pid, strerrorname_np(in->f.arg));
		int err = in->f.arg;
		if (spent(in))
			disarm(d, in, "done");
		return err;
	}
	return 0;
}

void inject_on_fired(struct peer *p, const struct ant_m_fired *m)
{
	struct antd *d = p->d;
	const char *name = srv_name(d, p->server_id);
	pid_t pid = p->inst ? p->inst->pid : 0;
	struct inject *in = by_id(d, m->id);
	char at[64] = "";
	if (m->call_id)
		snprintf(at, sizeof(at), " on control ICA %u:%u", (unsigned)(m->call_id & 0xffffffffu),
			 (unsigned)(m->call_id >> 32));
	else if (m->point[0])
		snprintf(at, sizeof(at), " at point %.31s", m->point);
	if (!in || in->server != p->server_id) {
		/* Cleared meanwhile, or not ours: still what happened. */
		struct fault_spec f = { .kind = m->kind < ANT_FAULT_MAX ? m->kind : ANT_FAULT_NONE,
					.arg = m->arg };
		char fault[64];
		fault_format(&f, fault, sizeof(fault));
		log_fields(LOG_INFO, "injected", name,
			   json_pack("{s:I, s:s, s:s, s:i}", "inject_id", (json_int_t)m->id, "fault",
				     fault, "via", "failpoint", "pid", (int)pid),
			   "fault %u %s fires in pid %d%s", m->id, fault, (int)pid, at);
		return;
	}
	in->fired++;
	char fault[64];
	fault_text(in, fault, sizeof(fault));
	json_t *fields = event_fields(in, pid);
	if (m->call_id)
		json_object_set_new(fields, "call", json_sprintf("%u:%u",
				    (unsigned)(m->call_id & 0xffffffffu), (unsigned)(m->call_id >> 32)));
	log_fields(LOG_INFO, "injected", name, fields, "fault %u %s fires in pid %d%s", in->id,
		   fault, (int)pid, at);
	if (p->inst && (in->f.kind == ANT_FAULT_KILL || in->f.kind == ANT_FAULT_SEGV ||
			in->f.kind == ANT_FAULT_ABORT || in->f.kind == ANT_FAULT_EXIT)) {
		char why[96];
		snprintf(why, sizeof(why), "injected fault %u (%s)", in->id, fault);
		supervise_dying_of(p->inst, why);
	}
	if (in->point[0]) {
		/* The server counts a point's hits: it disarms itself when done. */
		if (in->nth || (in->count && in->fired >= in->count))
			disarm(d, in, "done");
	} else if (spent(in) && in->fired >= in->sent) {
		disarm(d, in, "done");
	}
}

void inject_on_ready(struct antd *d, struct server *s)
{
	for (unsigned i = 0; i < INJECT_MAX && d->inject.live; i++) {
		struct inject *in = &d->inject.slot[i];
		if (!in->id || in->server != s->id)
			continue;
		if (!in->point[0] && spent(in)) {
			/* Set off in a process that ended before it took that request. */
			disarm(d, in, "its process ended before the fault fired");
			continue;
		}
		if (in->point[0] && !in->waiting)
			send_point(d, in);
		if (in->via == VIA_BPF && !in->waiting) {
			/* The new process meets the same fault, counted afresh. */
			char err[300];
			if (in->bpf_slot >= 0)
				inject_bpf_retarget(d, in, s->cur->pid);
			else if (bpf_arm_now(d, in, err, sizeof(err)) < 0)
				log_warn("inject-missed", s->conf->name, "fault %u: %s", in->id, err);
		}
	}
}

/* ---- the commands ------------------------------------------------------------- */


static unsigned server_of(struct antd *d, const char *name)
{
	struct server *s = server_named(d, name);
	return s ? s->id : 0;
}

/* An optional whole number of req in lo..hi: 0 and *v if there, 1 if
 * absent, -1 if not such a number. */
static int opt_int(json_t *req, const char *key, json_int_t lo, json_int_t hi, json_int_t *v)
{
	json_t *j = json_object_get(req, key);
	if (!j)
		return 1;
	if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi)
		return -1;
	*v = json_integer_value(j);
	return 0;
}

/* The via "auto" means: the only way the fault has, or the one its
 * triggers call for. */
static unsigned auto_via(const struct fault_kind *k, const struct inject *in, int has_syscall)
{
	if (k->vias == VIA_SECCOMP || k->vias == VIA_FAILPOINT)
		return k->vias;
	if (has_syscall)
		return VIA_BPF;
	if (in->point[0] || in->nth || in->prob_ppm || in->op[0] || in->match[0] || in->fresh ||
	    in->count != 1)
		return VIA_FAILPOINT;
	/* A crash comes now, by signal; a hang holds the next request. */
	return (k->vias & VIA_SIGNAL) && k->kind != ANT_FAULT_HANG ? VIA_SIGNAL : VIA_FAILPOINT;
}

json_t *inject_cmd_arm(struct antd *d, json_t *req)
{
	struct inject in = { 0 };
	char why[512];
	const char *sname = json_string_value(json_object_get(req, "server"));
	const char *ftext = json_string_value(json_object_get(req, "fault"));
	if (!sname || !ftext)
		return refusal(1, "inject needs \"server\" and \"fault\"");
	in.server = server_of(d, sname);
	if (!in.server)
		return refusal(1, "unknown server \"%s\"", sname);
	if (fault_parse(ftext, &in.f, why, sizeof(why)) < 0)
		return refusal(1, "%s", why);
	const struct fault_kind *k = fault_kind_of(in.f.kind);

	json_int_t v = 0;
	int r;
	if ((r = opt_int(req, "nth", 1, (json_int_t)1 << 53, &v)) < 0)
		return refusal(1, "nth: expected a count from 1");
	in.nth = r == 0 ? (uint64_t)v : 0;
	json_t *prob = json_object_get(req, "prob");
	if (prob) {
		double p = json_number_value(prob);
		if (!json_is_number(prob) || !(p > 0 && p <= 1))
			return refusal(1, "prob: expected a probability above 0, at most 1");
		in.prob_ppm = (uint32_t)(p * 1e6 + 0.5);
		if (!in.prob_ppm)
			in.prob_ppm = 1;
	}
	if (in.nth && in.prob_ppm)
		return refusal(1, "nth and prob: choose one trigger");
	if ((r = opt_int(req, "seed", 0, (json_int_t)1 << 53, &v)) < 0)
		return refusal(1, "seed: expected a whole number from 0");
	in.seed = r == 0 ? (uint64_t)v : 0;
	if (r == 0 && !in.prob_ppm)
		return refusal(1, "seed goes with prob");
	if ((r = opt_int(req, "after_ms", 0, 86400000, &v)) < 0)
		return refusal(1, "after_ms: expected milliseconds from 0 to 86400000");
	in.after_ms = r == 0 ? (unsigned)v : 0;
	in.count = 1;
	if ((r = opt_int(req, "count", 0, 1000000000, &v)) < 0)
		return refusal(1, "count: expected a count from 0 (0: until cleared)");
	if (r == 0)
		in.count = (uint32_t)v;
	const char *op = json_string_value(json_object_get(req, "op"));
	if (op && (!*op || strlen(op) >= sizeof(in.op)))
		return refusal(1, "op: expected an op name of 1 to %zu bytes", sizeof(in.op) - 1);
	if (op)
		snprintf(in.op, sizeof(in.op), "%s", op);
	const char *match = json_string_value(json_object_get(req, "match"));
	if (match && (!*match || strlen(match) >= sizeof(in.match)))
		return refusal(1, "match: expected text of 1 to %zu bytes", sizeof(in.match) - 1);
	if (match)
		snprintf(in.match, sizeof(in.match), "%s", match);
	json_t *fresh = json_object_get(req, "fresh");
	if (fresh && !json_is_boolean(fresh))
		return refusal(1, "fresh: expected true or false");
	in.fresh = json_is_true(fresh);
	const char *point = json_string_value(json_object_get(req, "point"));
	if (point && (!*point || strlen(point) >= sizeof(in.point) || strcmp(point, "now") == 0))
		return refusal(1, "point: expected a failpoint name of 1 to %zu bytes",
			      sizeof(in.point) - 1);
	if (point)
		snprintf(in.point, sizeof(in.point), "%s", point);
	const char *syscall = json_string_value(json_object_get(req, "syscall"));
	if (syscall && fault_syscall_of(syscall) < 0)
		return refusal(1, "syscall: unknown system call \"%s\"", syscall);
	const char *vname = json_string_value(json_object_get(req, "via"));
	int via = vname ? fault_via_parse(vname) : 0;
	if (via < 0)
		return refusal(1, "via: expected auto, failpoint, seccomp, bpf or signal; got \"%s\"",
			      vname);
	in.via = via ? (unsigned)via : auto_via(k, &in, syscall != NULL);
	if (!(k->vias & in.via)) {
		char can[64];
		fault_vias_format(k->vias, can, sizeof(can));
		return refusal(1, "fault %s cannot get in by --via %s (it can by: %s)", k->name,
			      fault_via_name(in.via), can);
	}
	switch (in.via) {
	case VIA_SIGNAL:
		if (in.nth || in.prob_ppm || in.op[0] || in.match[0] || in.fresh || in.point[0] ||
		    syscall || in.count != 1)
			return refusal(1, "--via signal fires now or --after MS, once; for the Nth "
				      "request, a probability or an op use --via failpoint, for a "
				      "system call --via bpf");
		break;
	case VIA_SECCOMP:
		if (in.op[0] || in.match[0] || in.fresh || in.point[0] || syscall)
			return refusal(1, "an errno fault counts the calls of its own system call: "
				      "--op, --match, --fresh, --point and --syscall do not go with it");
		if (!sandbox_injectable(&d->servers[in.server].conf->sandbox, in.f.syscall_nr))
			return refusal(1, "%s of %s is not injectable: list it in the stack file's "
				      "\"injectable\" of %s (its calls then go through antd)",
				      in.f.syscall, sname, sname);
		break;
	case VIA_FAILPOINT:
		if (syscall)
			return refusal(1, "--syscall goes with --via bpf (a signal at that system "
				      "call) or an errno: fault");
		if (in.point[0] && (in.op[0] || in.match[0] || in.fresh))
			return refusal(1, "--op, --match and --fresh pick requests; a named point "
				      "counts its own hits");
		break;
	case VIA_BPF:
		if (in.op[0] || in.match[0] || in.fresh || in.point[0])
			return refusal(1, "--via bpf counts system calls: --op, --match, --fresh and "
				      "--point do not go with it");
		in.syscall_nr = syscall ? fault_syscall_of(syscall) : -1;
		break;
	default:
		return refusal(0, "--via %s is not available in this antd", fault_via_name(in.via));
	}
	struct inject *slot = NULL;
	for (unsigned i = 0; i < INJECT_MAX && !slot; i++)
		if (!d->inject.slot[i].id)
			slot = &d->inject.slot[i];
	if (!slot)
		return refusal(0, "%d faults are armed already: clear some first", INJECT_MAX);

	if (in.via != VIA_BPF)
		in.syscall_nr = -1;
	in.bpf_slot = -1;
	if (++d->inject.next_id == 0)
		d->inject.next_id = 1;
	in.id = d->inject.next_id;
	in.d = d;
	in.armed_at = wall_s();
	*slot = in;
	d->inject.live++;
	ev_timer_init(&slot->after_w, on_after, slot->after_ms / 1000.0, 0.);
	slot->after_w.data = slot;
	char fault[64], trig[160];
	fault_text(slot, fault, sizeof(fault));
	trigger_text(slot, trig, sizeof(trig));
	log_fields(LOG_INFO, "inject-armed", sname, event_fields(slot, cur_pid(d, slot->server)),
		   "fault %u %s armed by %s: %s", slot->id, fault, fault_via_name(slot->via), trig);
	/* A fault that picks requests must see each one: the fast path's
	 * requests travel past antd, so it goes off for the rest of the run. */
	if (slot->via == VIA_FAILPOINT && !slot->point[0])
		lanes_off(d, "a fault is armed on requests (antctl inject)");
	if (slot->after_ms) {
		slot->waiting = 1;
		ev_timer_start(d->loop, &slot->after_w);
	} else if (slot->via == VIA_BPF) {
		char err[300];
		if (bpf_arm_now(d, slot, err, sizeof(err)) < 0) {
			disarm(d, slot, "eBPF refused it");
			return refusal(0, "%s", err);
		}
	} else if (slot->via == VIA_SIGNAL) {
		char err[160] = "";
		json_t *o = inject_json(slot);
		if (signal_now(d, slot, err, sizeof(err)) < 0) {
			json_decref(o);
			disarm(d, slot, "no process to signal");
			return refusal(0, "%s", err);
		}
		json_object_set_new(o, "fired", json_integer(1));
		json_object_set_new(o, "sent", json_integer(1));
		disarm(d, slot, "done");
		return json_pack("{s:b, s:o}", "ok", 1, "inject", o);
	} else if (slot->point[0]) {
		send_point(d, slot);
	}
	return json_pack("{s:b, s:o}", "ok", 1, "inject", inject_json(slot));
}

json_t *inject_cmd_list(struct antd *d, json_t *req)
{
	const char *sname = json_string_value(json_object_get(req, "server"));
	unsigned only = sname ? server_of(d, sname) : 0;
	if (sname && !only)
		return refusal(1, "unknown server \"%s\"", sname);
	json_t *all = json_array();
	for (unsigned i = 0; i < INJECT_MAX; i++) {
		const struct inject *in = &d->inject.slot[i];
		if (in->id && (!only || in->server == only))
			json_array_append_new(all, inject_json(in));
	}
	return json_pack("{s:b, s:o}", "ok", 1, "faults", all);
}

json_t *inject_cmd_clear(struct antd *d, json_t *req)
{
	const char *sname = json_string_value(json_object_get(req, "server"));
	json_t *jid = json_object_get(req, "id");
	unsigned only = sname ? server_of(d, sname) : 0;
	if (sname && !only)
		return refusal(1, "unknown server \"%s\"", sname);
	if (jid && (!json_is_integer(jid) || json_integer_value(jid) < 1))
		return refusal(1, "id: expected a fault's id (antctl inject --list)");
	uint32_t id = jid ? (uint32_t)json_integer_value(jid) : 0;
	if (id && !by_id(d, id))
		return refusal(0, "no fault %u is armed", id);
	unsigned n = 0;
	for (unsigned i = 0; i < INJECT_MAX; i++) {
		struct inject *in = &d->inject.slot[i];
		if (!in->id || (id && in->id != id) || (only && in->server != only))
			continue;
		disarm(d, in, "cleared by the operator");
		n++;
	}
	return json_pack("{s:b, s:i}", "ok", 1, "cleared", (int)n);
}
