/* fake_core.c - a fake transport and process layer for antd's routing and lifecycle: unit tests without a daemon. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_core.h"
#include "log.h"

struct fake_log fake;

/* A peer and what was sent to it; every one is kept until fake_antd_free. */
struct fake_peer {
	struct peer p;
	struct fake_sent sent[FAKE_SENT_MAX];
	unsigned nsent;
	struct fake_peer *all_next;
};
static struct fake_peer *all_peers;

static struct peer *fake_peer_new(struct antd *d, enum peer_kind kind, unsigned server_id)
{
	struct fake_peer *fp = calloc(1, sizeof(*fp));
	ck_assert_ptr_nonnull(fp);
	if (d->npeers == d->peers_cap) {
		d->peers_cap = d->peers_cap ? d->peers_cap * 2 : 16;
		d->peers = realloc(d->peers, d->peers_cap * sizeof(*d->peers));
		ck_assert_ptr_nonnull(d->peers);
	}
	struct peer *p = &fp->p;
	p->idx = d->npeers;
	d->peers[d->npeers++] = p;
	p->gen = ++d->peer_gen;
	p->kind = kind;
	p->server_id = server_id;
	p->fd = 1000 + (int)p->idx;   /* "open": never used as an fd */
	p->d = d;
	p->pid = 4242;
	fp->all_next = all_peers;
	all_peers = fp;
	return p;
}

/* ---- the transport (peer.c's API) ------------------------------------------ */

struct peer *peer_by_key(struct antd *d, uint64_t key)
{
	return peer_lookup(d->peers, d->npeers, key);
}

const char *peer_name(const struct peer *p)
{
	return p->kind == PEER_SERVER ? p->d->servers[p->server_id].conf->name : "app";
}

int peer_send(struct peer *p, unsigned type, unsigned flags, const void *payload, size_t n, int fd)
{
	struct fake_peer *fp = (struct fake_peer *)p;
	if (p->fd < 0)
		return -EPIPE;
	ck_assert_uint_lt(fp->nsent, FAKE_SENT_MAX);
	struct fake_sent *m = &fp->sent[fp->nsent++];
	m->type = type;
	m->len = n < sizeof(m->page) ? n : sizeof(m->page);
	memcpy(m->page, payload, m->len);
	m->with_fd = fd >= 0;
	return 0;
}

/* Control replies (an upgrade's outcome): nobody reads them here. */
int peer_send_fds(struct peer *p, unsigned type, unsigned flags, const void *payload, size_t n,
		  const int *fds, unsigned nfds)
{
	return peer_send(p, type, flags, payload, n, nfds ? fds[0] : -1);
}

void peer_welcome(struct peer *p)
{
	peer_welcome_lanes(p, 0);
}

void peer_welcome_lanes(struct peer *p, uint32_t lanes)
{
	struct ant_m_welcome w = { .version = ANT_PROTO_VERSION, .lanes = lanes };
	peer_send(p, ANT_M_WELCOME, 0, &w, sizeof(w), -1);
}

int peer_send_raw(struct peer *p, const void *buf, size_t n)
{
	return p->fd < 0 ? -EPIPE : 0;
}

void peer_send_json(struct peer *p, json_t *o)
{
	json_decref(o);
}

void peer_close(struct peer *p, const char *why)
{
	struct antd *d = p->d;
	if (!p || p->idx >= d->npeers || d->peers[p->idx] != p)
		return;
	d->peers[p->idx] = NULL;
	p->fd = -1;
	ica_unhold_all(&d->icas, peer_key(p));
	/* What antd.c's handlers do. */
	if (p->kind == PEER_SERVER) {
		struct instance *in = p->inst;
		if (in && in->peer == p) {
			in->peer = NULL;
			in->want = 0;
			if (instance_alive(in))
				supervise_event(d, in->srv, in, EV_DISCONNECTED, NULL);
		}
	} else if (p->kind == PEER_APP) {
		calls_on_app_close(p, why);
	}
}

void peer_cut_off(struct peer *p, const char *fmt, ...)
{
	if (p->fd < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fake.cut_off_why, sizeof(fake.cut_off_why), fmt, ap);
	va_end(ap);
	fake.cut_offs++;
	if (p->kind == PEER_SERVER) {
		char cause[300];
		snprintf(cause, sizeof(cause), "cut off: %s", fake.cut_off_why);
		supervise_fault(p->d, p->inst, EV_PROTOCOL_FAULT, cause);
	}
	peer_close(p, fake.cut_off_why);
}

void peer_drain(struct peer *p)
{
	(void)p;
}

/* ---- the process layer (spawn.c's API) --------------------------------------- */

int instance_spawn(struct antd *d, struct instance *in)
{
	return instance_spawn_exec(d, in, &in->srv->exec);
}

int instance_spawn_exec(struct antd *d, struct instance *in, const struct exec_spec *exec)
{
	struct server *s = in->srv;
	in->exec = *exec;
	fake.spawns++;
	if (fake.spawn_fail) {
		snprintf(in->exec_error, sizeof(in->exec_error), "exec /fake/%s failed: %s",
			 s->conf->name, strerror(ENOENT));
		return -ENOENT;
	}
	in->pid = (pid_t)(10000 + fake.spawns);
	in->gen = ++s->spawns;
	in->phase = INST_SPAWNING;
	in->exec_error[0] = '\0';
	in->want = 0;
	in->kill = KILL_NONE;
	in->kill_why[0] = '\0';
	struct peer *p = fake_peer_new(d, PEER_SERVER, s->id);
	p->inst = in;
	p->pid = in->pid;
	in->peer = p;
	return 0;
}

void instance_signal(struct instance *in, int sig)
{
	if (!instance_alive(in))
		return;
	fake.signals++;
	fake.last_sig = sig;
	fake.last_signalled = in;
}

void instance_clear(struct antd *d, struct instance *in)
{
	ev_timer_stop(d->loop, &in->ready_timer);
	ev_timer_stop(d->loop, &in->eof_timer);
	in->pid = 0;
	in->phase = INST_NONE;
	in->peer = NULL;
	in->want = 0;
}

/* ---- the daemon (antd.c's API) ------------------------------------------------ */

static void fake_check_ready(struct antd *d)
{
	fake.ready_checks++;
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		if (d->servers[id].state != SRV_RUNNING)
			return;
	d->ever_ready = 1;
}

static void fake_server_exited(struct antd *d, struct server *s)
{
	fake.exited_reports++;
}

static void fake_start_failed(struct antd *d, struct server *s, const char *why)
{
	fake.start_failures++;
}

static void fake_stop(struct antd *d, const char *why)
{
	fake.stops++;
}

/* ---- the test's side ------------------------------------------------------------ */

struct antd *fake_antd_new(const char *json)
{
	memset(&fake, 0, sizeof(fake));
	log_set_level(LOG_ERROR);
	char err[1024];
	struct antd *d = calloc(1, sizeof(*d));
	ck_assert_ptr_nonnull(d);
	d->stack = stack_parse(json, "fake.json", err, sizeof(err));
	ck_assert_msg(d->stack != NULL, "%s", err);
	const char *search = getenv("ANT_POLICY_PATH");
	ck_assert_msg(stack_resolve_policies(d->stack, search ? search : "policies", err,
					     sizeof(err)) == 0, "%s", err);
	d->loop = ev_loop_new(EVFLAG_AUTO);
	ev_set_userdata(d->loop, d);
	ica_table_init(&d->icas, (size_t)1 << 30, (size_t)16 << 20);
	calls_init(d);
	inject_init(d);
	d->app_listen = d->control_listen = d->lock_fd = d->ready_fd = -1;
	d->hooks = (struct antd_hooks){ .ready = fake_check_ready,
					.server_gone = fake_server_exited,
					.start_failed = fake_start_failed, .stop = fake_stop };
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		s->id = id;
		s->conf = &d->stack->servers[id - 1];
		supervise_init(d, s);
	}
	return d;
}

void fake_antd_free(struct antd *d)
{
	inject_fini(d);
	calls_fini(d);
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		ev_timer_stop(d->loop, &s->restart_timer);
		ev_timer_stop(d->loop, &s->spare_timer);
		ev_timer_stop(d->loop, &s->retry_timer);
		for (int k = 0; k < 2; k++)
			instance_clear(d, &s->slot[k]);
	}
	ica_table_fini(&d->icas);
	ev_loop_destroy(d->loop);
	stack_free(d->stack);
	free(d->peers);
	free(d);
	while (all_peers) {
		struct fake_peer *n = all_peers->all_next;
		free(all_peers);
		all_peers = n;
	}
}

struct peer *fake_app(struct antd *d)
{
	return fake_peer_new(d, PEER_APP, 0);
}

const struct fake_sent *fake_sent(const struct peer *p, unsigned *n)
{
	const struct fake_peer *fp = (const struct fake_peer *)p;
	*n = fp->nsent;
	return fp->sent;
}

const struct fake_sent *fake_last(const struct peer *p)
{
	const struct fake_peer *fp = (const struct fake_peer *)p;
	ck_assert_msg(fp->nsent > 0, "nothing was sent to %s", peer_name(p));
	return &fp->sent[fp->nsent - 1];
}

void fake_clear_sent(struct peer *p)
{
	((struct fake_peer *)p)->nsent = 0;
}

void fake_launch(struct antd *d, struct server *s)
{
	supervise_launch(d, s);
}

void fake_spawned(struct antd *d, struct instance *in)
{
	in->phase = INST_STARTING;
	supervise_event(d, in->srv, in, EV_SPAWNED, NULL);
}

void fake_next(struct peer *p, unsigned n)
{
	struct ant_m_next nx = { .count = n };
	unsigned char buf[sizeof(struct ant_msg) + sizeof(nx)];
	struct ant_msg h = { .type = ANT_M_NEXT, .len = sizeof(buf) };
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &nx, sizeof(nx));
	calls_on_message(p, buf, sizeof(buf), -1);
}

void fake_run(struct antd *d, struct server *s, unsigned credit)
{
	fake_launch(d, s);
	fake_spawned(d, s->cur);
	fake_next(s->cur->peer, credit);
	ck_assert_int_eq(s->state, SRV_RUNNING);
}

static void fake_end(struct antd *d, struct instance *in, int code, int sig, int oom)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_code = sig ? CLD_KILLED : CLD_EXITED;
	si.si_status = sig ? sig : code;
	char how[96];
	if (sig)
		snprintf(how, sizeof(how), "killed by signal %d", sig);
	else
		snprintf(how, sizeof(how), "exited with code %d", code);
	struct server *s = in->srv;
	if (in == s->cur)
		snprintf(s->last_exit, sizeof(s->last_exit), "%s", how);
	struct sv_detail dt = { .si = &si, .why = how, .oom = oom };
	supervise_event(d, s, in, EV_EXITED, &dt);
}

void fake_exit(struct antd *d, struct instance *in, int code, int sig)
{
	fake_end(d, in, code, sig, 0);
}

void fake_exit_oom(struct antd *d, struct instance *in)
{
	fake_end(d, in, 0, SIGKILL, 1);
}

void fake_send_page(struct peer *p, unsigned type, unsigned flags, const void *page, size_t len)
{
	static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	struct ant_msg h = { .type = (uint16_t)type, .flags = (uint16_t)flags,
			     .len = (uint32_t)(sizeof(h) + len) };
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), page, len);
	calls_on_message(p, buf, sizeof(h) + len, -1);
}

static size_t page_used(const void *page)
{
	struct ant_cica_hdr h;
	memcpy(&h, page, sizeof(h));
	return h.used;
}

void fake_call(struct peer *p, unsigned callee, const char *op, uint32_t frame_flags)
{
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	ck_assert_int_eq(ant_cica_init(page, callee, op, "x", 1, frame_flags), 0);
	fake_send_page(p, ANT_M_CALL, 0, page, page_used(page));
}

/* The last page handed to server peer p, to answer or forward. */
static void last_page(const struct peer *p, unsigned char *page)
{
	const struct fake_sent *m = fake_last(p);
	ck_assert_msg(m->type == ANT_M_REQUEST || m->type == ANT_M_RESULT,
		      "%s was last sent %s", peer_name(p), ant_msg_name(m->type));
	memcpy(page, m->page, m->len);
}

void fake_reply(struct peer *p, int32_t retval, unsigned mflags)
{
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	last_page(p, page);
	ck_assert_int_eq(ant_cica_set_result(page, retval, NULL, 0), 0);
	fake_send_page(p, ANT_M_REPLY, mflags, page, page_used(page));
}

void fake_forward(struct peer *p, unsigned callee, const char *op, uint32_t frame_flags,
		  unsigned mflags)
{
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	last_page(p, page);
	ck_assert_int_eq(ant_cica_push(page, callee, op, NULL, 0, frame_flags), 0);
	fake_send_page(p, ANT_M_FORWARD, mflags, page, page_used(page));
}

void fake_run_loop(struct antd *d, unsigned ms)
{
	struct timespec until, now;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	do {
		ev_run(d->loop, EVRUN_NOWAIT);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec < until.tv_sec ||
		 (now.tv_sec == until.tv_sec && now.tv_nsec < until.tv_nsec));
}
