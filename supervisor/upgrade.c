/* upgrade.c - live upgrade of a server: the new version beside the old, a drain, the state handed over, the switch, probation and rollback. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "antd.h"
#include "log.h"
#include "refusal.h"
#include "supervise.h"
#include "upgrade.h"

#define UPGRADE_TIMEOUT_MS 10000u    /* the default for getting to the switch */
#define UPGRADE_PROBATION_MS 1000u   /* the default probation */

static double mono_s(void)
{
	return (double)mono_ns() / 1e9;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

void upgrade_init(struct antd *d, struct server *s)
{
	memset(&s->up, 0, sizeof(s->up));
	s->up.d = d;
	ev_timer_init(&s->up.timer, on_timer, 0., 0.);
	s->up.timer.data = s;
}

/* Let go of the areas of an exported state. */
static void drop_refs(struct antd *d, struct ant_ica_ref **refs, unsigned *n, unsigned *cap)
{
	for (unsigned i = 0; i < *n; i++)
		ica_unref(&d->icas, &(*refs)[i]);
	free(*refs);
	*refs = NULL;
	*n = *cap = 0;
}

void upgrade_fini(struct antd *d, struct server *s)
{
	ev_timer_stop(d->loop, &s->up.timer);
	drop_refs(d, &s->up.refs, &s->up.nrefs, &s->up.caprefs);
	drop_refs(d, &s->up.vrefs, &s->up.nvrefs, &s->up.capvrefs);
}

const char *upgrade_phase_name(const struct server *s)
{
	static const char *const names[] = {
		[UP_NONE] = NULL, [UP_STARTING] = "starting the new version",
		[UP_DRAINING] = "draining", [UP_EXPORTING] = "exporting its state",
		[UP_IMPORTING] = "importing its state", [UP_VERIFYING] = "verifying the state",
		[UP_PROBATION] = "probation",
	};
	return names[s->up.phase];
}

int upgrade_holds_requests(const struct server *s)
{
	return s->up.phase >= UP_DRAINING && s->up.phase <= UP_VERIFYING;
}

/* The outcome to whoever asked (antctl upgrade waits for it). */
static void answer(struct antd *d, struct server *s, int ok, const char *what, const char *why)
{
	struct peer *p = s->up.requester ? peer_by_key(d, s->up.requester) : NULL;
	s->up.requester = 0;
	if (!p)
		return;
	char args[512];
	exec_spec_args(&s->cur->exec, args, sizeof(args));
	json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "ok", ok, "server",
			      s->conf->name, "outcome", what, "exec", exec_spec_path(&s->cur->exec),
			      "args", args, "generation", (int)s->generation, "pid",
			      (int)s->cur->pid, "version", s->cur->version);
	if (why)
		json_object_set_new(o, "error", json_string(why));
	json_object_set_new(o, "seconds", json_real((double)(long)((mono_s() - s->up.started) *
								     1000) / 1000.0));
	peer_send_json(p, o);
}

/* Before the switch: the new process goes, the old one serves on. */
static void give_up(struct antd *d, struct server *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void give_up(struct antd *d, struct server *s, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ev_timer_stop(d->loop, &s->up.timer);
	enum upgrade_phase was = s->up.phase;
	s->up.phase = UP_NONE;   /* before the pump below: the requests go to the old one */
	drop_refs(d, &s->up.refs, &s->up.nrefs, &s->up.caprefs);
	drop_refs(d, &s->up.vrefs, &s->up.nvrefs, &s->up.capvrefs);
	if (instance_alive(s->spare))
		supervise_retire(d, s, s->spare, "its upgrade was given up");
	log_warn(s->up.rollback ? "rollback-refused" : "upgrade-refused", s->conf->name,
		 "%s of %s refused while %s: %s; the old version serves on",
		 s->up.rollback ? "rollback" : "upgrade", exec_spec_path(&s->up.exec),
		 was == UP_STARTING ? "starting the new version" :
		 was == UP_DRAINING ? "draining" : was == UP_EXPORTING ? "exporting its state" :
		 was == UP_IMPORTING ? "importing its state" : "verifying the state", why);
	answer(d, s, 0, "refused", why);
	calls_pump(d, s);   /* the requests that waited */
}

/* The new version takes over: the queues are its own now. */
static void switch_over(struct antd *d, struct server *s)
{
	ev_timer_stop(d->loop, &s->up.timer);
	drop_refs(d, &s->up.refs, &s->up.nrefs, &s->up.caprefs);
	drop_refs(d, &s->up.vrefs, &s->up.nvrefs, &s->up.capvrefs);
	s->prev_exec = s->exec;
	s->has_prev = 1;
	s->exec = s->up.exec;
	s->generation++;
	pid_t old = s->cur->pid;
	/* Out of the drain before the switch: its pump hands the new one the
	 * requests that waited. */
	s->up.phase = s->up.probation_ms ? UP_PROBATION : UP_NONE;
	supervise_switch(d, s);   /* the same switch as a failover's */
	s->up.switched = mono_s();
	char args[512];
	exec_spec_args(&s->exec, args, sizeof(args));
	log_fields(LOG_INFO, s->up.rollback ? "rolled-back" : "upgraded", s->conf->name,
		   json_pack("{s:i, s:i, s:i}", "pid", (int)s->cur->pid, "old_pid", (int)old,
			     "generation", (int)s->generation),
		   "pid %d (%s%s%s%s%s) took over from pid %d after %.1f ms (requests waited "
		   "%.2f ms); generation %u%s",
		   (int)s->cur->pid, exec_spec_path(&s->exec), args[0] ? " " : "", args,
		   s->cur->version[0] ? ", version " : "", s->cur->version, (int)old,
		   (s->up.switched - s->up.started) * 1000, (s->up.switched - s->up.drained) * 1000,
		   s->generation, s->up.probation_ms ? ", on probation" : "");
	if (s->up.probation_ms) {
		ev_timer_set(&s->up.timer, s->up.probation_ms / 1000.0, 0.);
		ev_timer_start(d->loop, &s->up.timer);
	} else {
		supervise_retire(d, s, s->spare, "upgraded");
		answer(d, s, 1, s->up.rollback ? "rolled back" : "upgraded", NULL);
	}
}

/* Ask p's process for its state. */
static void ask_export(struct antd *d, struct server *s, struct instance *in)
{
	struct ant_m_export m = { .seq = ++s->up.seq };
	s->up.got_all = 0;
	peer_send(in->peer, ANT_M_EXPORT, 0, &m, sizeof(m), -1);
}

/* Hand the old version's state to the new process. */
static void hand_over(struct antd *d, struct server *s)
{
	struct instance *in = s->spare;
	s->up.phase = UP_IMPORTING;
	for (unsigned i = 0; i < s->up.nrefs; i++) {
		const struct ant_ica_ref *ref = &s->up.refs[i];
		int had = ica_holds(&d->icas, ref, peer_key(in->peer)) >= 0;
		int fd = ica_hold(&d->icas, ref, peer_key(in->peer), 0);
		if (fd < 0) {
			give_up(d, s, "cannot hand area %u:%u of the state over: %s", ref->index,
				ref->gen, strerror(-fd));
			return;
		}
		if (!had)
			calls_count_hold(d, in->peer, ref, +1);
		struct ant_m_import_ica m = { .ref = *ref };
		peer_send(in->peer, ANT_M_IMPORT_ICA, 0, &m, sizeof(m), fd);
	}
	struct ant_m_import m = { .seq = s->up.seq, .version = s->up.version,
				  .nareas = s->up.nrefs };
	memcpy(m.format, s->up.format, sizeof(m.format));
	peer_send(in->peer, ANT_M_IMPORT, 0, &m, sizeof(m), -1);
}

/* Are two exported states the same: format, version, areas and their bytes? */
static int same_state(struct antd *d, struct server *s, char *why, size_t len)
{
	struct upgrade *u = &s->up;
	if (strcmp(u->format, u->vformat) != 0 || u->version != u->vversion) {
		snprintf(why, len, "the new version exports %s version %u, the old one exported %s "
			 "version %u", u->vformat[0] ? u->vformat : "no state", u->vversion,
			 u->format[0] ? u->format : "no state", u->version);
		return 0;
	}
	if (u->nrefs != u->nvrefs) {
		snprintf(why, len, "the new version exports %u areas, the old one %u", u->nvrefs,
			 u->nrefs);
		return 0;
	}
	static unsigned char a[65536], b[65536];
	for (unsigned i = 0; i < u->nrefs; i++) {
		const struct ica_entry *ea = ica_lookup(&d->icas, &u->refs[i]);
		const struct ica_entry *eb = ica_lookup(&d->icas, &u->vrefs[i]);
		if (!ea || !eb || ea->fd < 0 || eb->fd < 0 || ea->size != eb->size) {
			snprintf(why, len, "area %u differs in size", i);
			return 0;
		}
		if (ea == eb)
			continue;   /* the very same area went over */
		for (size_t off = 0; off < ea->size; off += sizeof(a)) {
			ssize_t na = pread(ea->fd, a, sizeof(a), (off_t)off);
			ssize_t nb = pread(eb->fd, b, sizeof(b), (off_t)off);
			if (na != nb || na < 0 || memcmp(a, b, (size_t)na) != 0) {
				snprintf(why, len, "area %u differs near byte %zu", i, off);
				return 0;
			}
		}
	}
	return 1;
}

void upgrade_poke(struct antd *d, struct server *s)
{
	if (s->up.phase != UP_DRAINING)
		return;
	struct instance *old = s->cur;
	/* What it holds, what waits to go back to it, and what is still out
	 * that will come back to it (its own calls; stages it forwarded with
	 * "return needed"). */
	if (s->held || callq_first(&s->results) || calls_owed_to(d, s) || lanes_held(d, s))
		return;
	if (s->up.no_state) {
		switch_over(d, s);
		return;
	}
	s->up.phase = UP_EXPORTING;
	ask_export(d, s, old);
}

void upgrade_on_spare_ready(struct antd *d, struct server *s)
{
	if (s->up.phase != UP_STARTING)
		return;
	log_info("upgrade-drain", s->conf->name, "new version ready (pid %d): pid %d finishes "
		 "the %u request(s) it holds; new requests wait", (int)s->spare->pid,
		 (int)s->cur->pid, s->held);
	s->up.phase = UP_DRAINING;
	s->up.drained = mono_s();
	upgrade_poke(d, s);
}

void upgrade_on_spare_gone(struct antd *d, struct server *s, const char *why)
{
	if (s->up.phase >= UP_STARTING && s->up.phase <= UP_VERIFYING)
		give_up(d, s, "the new version's process ended: %s", why);
}

int upgrade_on_crash(struct antd *d, struct server *s, const char *why)
{
	if (s->up.phase == UP_NONE)
		return 0;
	if (s->up.phase != UP_PROBATION) {
		give_up(d, s, "the old version's process ended: %s", why);
		return 0;
	}
	ev_timer_stop(d->loop, &s->up.timer);
	s->up.phase = UP_NONE;
	if (s->spare->phase != INST_READY || !s->spare->peer) {
		answer(d, s, 0, "failed", why);
		return 0;   /* no old version to go back to: restart as usual */
	}
	/* Back to the old version, which never stopped: its program, its
	 * process, and the calls the new one held (replayed to it). */
	struct exec_spec newer = s->exec;
	s->exec = s->prev_exec;
	s->prev_exec = newer;
	s->generation++;
	supervise_switch(d, s);
	log_fields(LOG_ERROR, "rolled-back", s->conf->name,
		   json_pack("{s:i, s:i}", "pid", (int)s->cur->pid, "generation", (int)s->generation),
		   "the new version failed on probation (%s): pid %d (%s) serves again; "
		   "generation %u", why, (int)s->cur->pid, exec_spec_path(&s->exec), s->generation);
	answer(d, s, 0, "rolled back", why);
	return 1;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	struct antd *d = s->up.d;
	if (s->up.phase == UP_PROBATION) {
		s->up.phase = UP_NONE;
		log_info("upgrade-done", s->conf->name, "pid %d passed its probation of %u ms; the "
			 "old version (pid %d) stops", (int)s->cur->pid, s->up.probation_ms,
			 (int)s->spare->pid);
		supervise_retire(d, s, s->spare, "upgraded: probation passed");
		answer(d, s, 1, s->up.rollback ? "rolled back" : "upgraded", NULL);
	} else if (s->up.phase != UP_NONE) {
		give_up(d, s, "not done within %u ms (--timeout)", s->up.timeout_ms);
	}
	(void)loop;
	(void)revents;
}

/* ---- what servers say ------------------------------------------------------- */

static int append(struct ant_ica_ref **refs, unsigned *n, unsigned *cap,
		  const struct ant_ica_ref *add, unsigned k)
{
	if (*n + k > ANT_STATE_AREAS_MAX)
		return -E2BIG;
	if (*n + k > *cap) {
		unsigned c = *cap ? *cap : 64;
		while (c < *n + k)
			c *= 2;
		struct ant_ica_ref *p = realloc(*refs, c * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*refs = p;
		*cap = c;
	}
	memcpy(*refs + *n, add, k * sizeof(*add));
	*n += k;
	return 0;
}

void upgrade_on_state(struct peer *p, const struct ant_m_state *m)
{
	struct antd *d = p->d;
	struct server *s = &d->servers[p->server_id];
	struct upgrade *u = &s->up;
	int from_old = p->inst == s->cur && u->phase == UP_EXPORTING;
	int from_new = p->inst == s->spare && u->phase == UP_VERIFYING;
	if ((!from_old && !from_new) || m->seq != u->seq || m->nrefs > ANT_STATE_REFS_MAX) {
		peer_cut_off(p, "sent a STATE nobody asked for");
		return;
	}
	/* Each area must be one it holds: antd keeps it alive from now on. */
	for (unsigned i = 0; i < m->nrefs; i++)
		if (ica_holds(&d->icas, &m->refs[i], peer_key(p)) < 0) {
			peer_cut_off(p, "exported data ICA %u:%u it does not hold", m->refs[i].index,
				     m->refs[i].gen);
			return;
		}
	struct ant_ica_ref **refs = from_old ? &u->refs : &u->vrefs;
	unsigned *n = from_old ? &u->nrefs : &u->nvrefs, *cap = from_old ? &u->caprefs : &u->capvrefs;
	int r = append(refs, n, cap, m->refs, m->nrefs);
	if (r < 0) {
		give_up(d, s, "its state is too big (over %u areas)", ANT_STATE_AREAS_MAX);
		return;
	}
	for (unsigned i = 0; i < m->nrefs; i++)
		ica_ref(&d->icas, &m->refs[i]);
	char *fmt = from_old ? u->format : u->vformat;
	memcpy(fmt, m->format, ANT_STATE_FORMAT_MAX);
	fmt[ANT_STATE_FORMAT_MAX - 1] = '\0';
	*(from_old ? &u->version : &u->vversion) = m->version;
	if (!m->last)
		return;
	if (from_old) {
		if (fmt[0] == '!') {
			give_up(d, s, "the old version refused to export its state");
			return;
		}
		log_info("upgrade-state", s->conf->name, "pid %d exported %s%s%u area(s)%s",
			 (int)s->cur->pid, fmt[0] ? fmt : "no state", fmt[0] ? " " : ", ", *n,
			 fmt[0] ? "" : "");
		hand_over(d, s);
		return;
	}
	char why[200];
	if (!same_state(d, s, why, sizeof(why))) {
		give_up(d, s, "--verify-state: %s", why);
		return;
	}
	log_info("upgrade-verified", s->conf->name, "pid %d exports the very state it imported "
		 "(%s, %u area(s))", (int)s->spare->pid, u->format[0] ? u->format : "no state",
		 u->nrefs);
	switch_over(d, s);
}

void upgrade_on_imported(struct peer *p, const struct ant_m_imported *m)
{
	struct antd *d = p->d;
	struct server *s = &d->servers[p->server_id];
	struct upgrade *u = &s->up;
	if (p->inst != s->spare || u->phase != UP_IMPORTING || m->seq != u->seq) {
		peer_cut_off(p, "sent an IMPORTED nobody asked for");
		return;
	}
	char text[sizeof(m->text)];
	memcpy(text, m->text, sizeof(text));
	text[sizeof(text) - 1] = '\0';
	if (m->result < 0) {
		give_up(d, s, "the new version refused the state (%s version %u): %s",
			u->format[0] ? u->format : "no state", u->version, text);
		return;
	}
	if (u->verify) {
		u->phase = UP_VERIFYING;
		ask_export(d, s, s->spare);
		return;
	}
	switch_over(d, s);
}

void upgrade_on_version(struct peer *p, const struct ant_m_version *m)
{
	if (!p->inst)
		return;
	memcpy(p->inst->version, m->version, sizeof(p->inst->version));
	p->inst->version[sizeof(p->inst->version) - 1] = '\0';
	for (char *c = p->inst->version; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			*c = '?';   /* it goes into logs and JSON as text */
}

/* ---- the commands --------------------------------------------------------------- */


/* Can the server's user run path?  "" if so, else why not. */
static void exec_problem(const char *path, char *why, size_t len)
{
	why[0] = '\0';
	if (path[0] != '/')
		snprintf(why, len, "--exec %s: give an absolute path", path);
	else if (access(path, F_OK) < 0)
		snprintf(why, len, "--exec %s: %s", path, strerror(errno));
	else if (access(path, X_OK) < 0)
		snprintf(why, len, "--exec %s: not executable", path);
}

json_t *upgrade_cmd(struct antd *d, json_t *req, struct peer *p, int rollback)
{
	const char *name = json_string_value(json_object_get(req, "server"));
	struct server *s = server_named(d, name);
	if (!name)
		return refusal(1, "missing \"server\"");
	if (!s)
		return refusal(1, "unknown server \"%s\"", name);
	if (s->up.phase != UP_NONE)
		return refusal(0, "%s is being upgraded already (%s)", name, upgrade_phase_name(s));
	if (s->state != SRV_RUNNING || !s->cur->peer)
		return refusal(0, "%s is %s: only a running server is upgraded", name,
			      server_state_name(s->state));
	if (d->stopping)
		return refusal(0, "the stack is stopping");
	struct upgrade *u = &s->up;
	struct exec_spec exec = s->exec;
	if (rollback) {
		if (!s->has_prev)
			return refusal(0, "%s was never upgraded: nothing to roll back to", name);
		exec = s->prev_exec;
	}
	const char *path = json_string_value(json_object_get(req, "exec"));
	json_t *args = json_object_get(req, "args");
	if (!rollback && (path || args)) {
		char why[512];
		if (path) {
			exec_problem(path, why, sizeof(why));
			if (why[0])
				return refusal(0, "%s", why);
		}
		char *argv[STACK_ARGS_MAX + 1];
		unsigned argc = 0;
		if (args) {
			size_t i;
			json_t *a;
			if (!json_is_array(args) || json_array_size(args) > STACK_ARGS_MAX)
				return refusal(1, "args: an array of at most %d strings", STACK_ARGS_MAX);
			json_array_foreach(args, i, a) {
				if (!json_is_string(a))
					return refusal(1, "args[%zu]: a string", i);
				argv[argc++] = (char *)json_string_value(a);
			}
		} else {   /* the same arguments */
			const char *a = exec.text + strlen(exec.text) + 1;
			for (; *a && argc < STACK_ARGS_MAX; a += strlen(a) + 1)
				argv[argc++] = (char *)a;
		}
		char cur_path[ANT_FORK_EXEC_MAX];
		snprintf(cur_path, sizeof(cur_path), "%s", exec_spec_path(&exec));
		if (exec_spec_set(&exec, path ? path : cur_path, argv, argc) < 0)
			return refusal(1, "the program and its arguments take over %u bytes",
				      ANT_FORK_EXEC_MAX);
	}
	json_t *j = json_object_get(req, "probation_ms");
	json_t *t = json_object_get(req, "timeout_ms");
	if ((j && (!json_is_integer(j) || json_integer_value(j) < 0 ||
		   json_integer_value(j) > 3600000)) ||
	    (t && (!json_is_integer(t) || json_integer_value(t) < 1 ||
		   json_integer_value(t) > 3600000)))
		return refusal(1, "probation_ms and timeout_ms: milliseconds, at most 3600000");
	upgrade_fini(d, s);
	upgrade_init(d, s);
	u->exec = exec;
	u->rollback = rollback;
	u->no_state = json_is_true(json_object_get(req, "no_state"));
	u->verify = json_is_true(json_object_get(req, "verify_state"));
	u->probation_ms = j ? (unsigned)json_integer_value(j) : UPGRADE_PROBATION_MS;
	u->timeout_ms = t ? (unsigned)json_integer_value(t) : UPGRADE_TIMEOUT_MS;
	u->requester = peer_key(p);
	u->started = mono_s();
	/* The spare slot takes the new version (a warm spare of the old one
	 * goes: it would be of the wrong version). */
	u->phase = UP_STARTING;
	/* Requests must wait in antd while the old version drains. */
	lanes_off(d, "a live upgrade (antctl upgrade)");
	char argtext[512];
	exec_spec_args(&u->exec, argtext, sizeof(argtext));
	log_info(rollback ? "rollback" : "upgrade", s->conf->name, "%s to %s%s%s (pid %d serves "
		 "meanwhile)%s%s", rollback ? "rolling back" : "upgrading", exec_spec_path(&u->exec),
		 argtext[0] ? " " : "", argtext, (int)s->cur->pid, u->no_state ? ", no state" : "",
		 u->verify ? ", verifying the state" : "");
	ev_timer_set(&u->timer, u->timeout_ms / 1000.0, 0.);
	ev_timer_start(d->loop, &u->timer);
	if (instance_alive(s->spare)) {
		/* A warm spare of the old version gives up its slot first. */
		supervise_retire(d, s, s->spare, "its slot goes to the new version");
		return NULL;
	}
	char why[160];
	if (supervise_spawn_spare(d, s, &u->exec, why, sizeof(why)) < 0) {
		u->requester = 0;
		u->phase = UP_NONE;
		ev_timer_stop(d->loop, &u->timer);
		return refusal(0, "cannot start the new version: %s", why);
	}
	return NULL;
}

int upgrade_on_slot_free(struct antd *d, struct server *s)
{
	if (s->up.phase != UP_STARTING || instance_alive(s->spare))
		return 0;
	char why[160];
	if (supervise_spawn_spare(d, s, &s->up.exec, why, sizeof(why)) < 0)
		give_up(d, s, "cannot start the new version: %s", why);
	return 1;
}
