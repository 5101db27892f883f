/* lanes.c - the fast path on antd's side: lanes made per app and server, handed out, scanned for hangs, taken back after a death (docs/fastpath.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ant/ica_area.h"
#include "ant/lane.h"
#include "ant/proto.h"
#include "antd.h"
#include "calls.h"
#include "lanes.h"
#include "log.h"
#include "peer.h"
#include "server.h"
#include "stackfile.h"
#include "upgrade.h"

/* Slots per lane: calls one app may have in one server's lane at once
 * (more take the slow path). */
#define LANE_SLOTS 16u

#define LOAD_ACQ(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)

struct lane_end {                 /* one lane as antd holds it */
	uint32_t id;
	int post, ack;                /* antd's read-write fds */
	int post_ro, ack_ro;          /* what the reader of each area gets */
	struct ant_lane l;            /* antd's mapping (owner) */
};

struct lane_pair {                /* a caller and one server it may call */
	struct lane_pair *next;
	struct lane_caller caller;    /* an app connection, or a server's instance */
	unsigned server;
	int caller_bell;              /* a dup of the caller's bell */
	struct lane_end req, res;     /* caller -> server, server -> caller */
	struct ant_lane_who who;      /* the request lane's sender, as antd saw it */
	uint64_t seen_seq[LANE_SLOTS];/* a taken slot's seq when antd first saw it ... */
	uint64_t seen_ns[LANE_SLOTS]; /* ... and when */
	uint64_t cancelled[LANE_SLOTS]; /* tickets the app cancelled while in the lane */
	uint64_t res_seen[LANE_SLOTS];  /* result slots' seq whose service time antd took */
	uint64_t post_seq[LANE_SLOTS];  /* a posted, untaken slot's seq when antd first saw it ... */
	uint64_t post_ns[LANE_SLOTS];   /* ... and when */
	unsigned ncancelled;
};

unsigned lanes_pairs(const struct antd *d, int servers)
{
	unsigned n = 0;
	for (const struct lane_pair *p = d->lanes.pairs; p; p = p->next)
		n += servers ? p->caller.server != 0 : p->caller.server == 0;
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void scan_cb(struct ev_loop *loop, ev_timer *w, int revents);
static uint64_t pair_served(const struct lane_pair *p);

void lanes_init(struct antd *d)
{
	struct lanes *L = &d->lanes;
	memset(L, 0, sizeof(*L));
	for (unsigned i = 0; i <= ANT_SERVERS_MAX; i++)
		L->server_bell[i] = -1;
	const char *env = getenv("ANT_FAST_PATH");   /* the test suites' switch */
	L->on = env && *env ? strcmp(env, "0") != 0 : d->stack->fast_path;
	/* Deadlines are checked a few times within the shortest one. */
	unsigned shortest = 0;
	for (unsigned i = 1; i <= d->stack->nservers; i++) {
		unsigned ms = d->stack->servers[i - 1].policy.deadline_ms;
		if (ms && (!shortest || ms < shortest))
			shortest = ms;
	}
	double s = shortest ? shortest / 4000.0 : 0.1;
	L->scan_s = s < 0.005 ? 0.005 : s > 0.1 ? 0.1 : s;
	ev_timer_init(&L->scan, scan_cb, L->scan_s, L->scan_s);
	L->scan.data = d;
}

static void end_close(struct lane_end *e)
{
	ant_lane_unmap(&e->l);
	int *fds[4] = { &e->post, &e->ack, &e->post_ro, &e->ack_ro };
	for (unsigned i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static void pair_free(struct lane_pair *p)
{
	end_close(&p->req);
	end_close(&p->res);
	if (p->caller_bell >= 0)
		close(p->caller_bell);
	free(p);
}

void lanes_fini(struct antd *d)
{
	struct lanes *L = &d->lanes;
	ev_timer_stop(d->loop, &L->scan);
	while (L->pairs) {
		struct lane_pair *p = L->pairs;
		L->pairs = p->next;
		pair_free(p);
	}
	for (unsigned i = 0; i <= ANT_SERVERS_MAX; i++) {
		if (L->server_bell[i] >= 0)
			close(L->server_bell[i]);
		L->server_bell[i] = -1;
	}
}

static int end_make(struct lane_end *e, uint32_t id, unsigned from, unsigned to)
{
	e->post = e->ack = e->post_ro = e->ack_ro = -1;
	e->id = id;
	int r = ant_lane_create(LANE_SLOTS, from, to, &e->post, &e->ack);
	if (r < 0)
		return r;
	if ((e->post_ro = ant_area_reopen_ro(e->post)) < 0 ||
	    (e->ack_ro = ant_area_reopen_ro(e->ack)) < 0 ||
	    (r = ant_lane_map(&e->l, e->post, e->ack, ANT_LANE_OWNER)) < 0) {
		r = r < 0 ? r : -errno;
		end_close(e);
		return r ? r : -EIO;
	}
	return 0;
}

static int server_bell(struct antd *d, unsigned id)
{
	struct lanes *L = &d->lanes;
	if (L->server_bell[id] < 0)
		L->server_bell[id] = ant_bell_create();
	return L->server_bell[id];
}

/* Hand one lane to a peer: the sender gets its post area read-write, the
 * ack area read-only and the receiver's bell; the receiver the other way.
 * results: a result lane (else a request lane). */
static void send_lane(struct peer *to, const struct lane_end *e, int sender, unsigned other,
		      int bell, int results)
{
	struct ant_m_lane m = { .id = e->id, .peer = (uint16_t)other,
				.role = (uint16_t)((sender ? ANT_LANE_ROLE_SENDER : ANT_LANE_ROLE_RECEIVER) |
						   (results ? ANT_LANE_ROLE_RESULTS : 0)),
				.spin_us = to->d->stack->lane_spin_us };
	int fds[3] = { sender ? e->post : e->post_ro, sender ? e->ack_ro : e->ack, bell };
	peer_send_fds(to, ANT_M_LANE, 0, &m, sizeof(m), fds, sender && bell >= 0 ? 3 : 2);
}

/* The server's side of p: its result lane and its request lane. */
static void give_pair(struct antd *d, struct peer *srv, struct lane_pair *p)
{
	/* The result lane first: a request is never taken before the lane
	 * its answer goes back in is there. */
	send_lane(srv, &p->res, 1, p->caller.server, p->caller_bell, 1);
	send_lane(srv, &p->req, 0, p->caller.server, -1, 0);
	(void)d;
}

/* The caller's side of p. */
static void give_caller(struct antd *d, struct peer *caller, struct lane_pair *p)
{
	send_lane(caller, &p->req, 1, p->server, d->lanes.server_bell[p->server], 0);
	send_lane(caller, &p->res, 0, p->server, -1, 1);
}

/*
 * A pair of lanes from a caller to server `id` (who: the caller as antd saw
 * it; bell: the caller's, duplicated), its request lane closed while the
 * server takes no work.  NULL after logging why (the caller then calls
 * through antd).
 */
static struct lane_pair *pair_make(struct antd *d, const struct lane_caller *caller,
				   unsigned id, const struct ant_lane_who *who, int bell,
				   const char *caller_name)
{
	struct lanes *L = &d->lanes;
	struct lane_pair *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->caller = *caller;
	p->server = id;
	p->caller_bell = -1;
	p->req.post = p->req.ack = p->req.post_ro = p->req.ack_ro = -1;
	p->res.post = p->res.ack = p->res.post_ro = p->res.ack_ro = -1;
	uint32_t pid = ++L->next_pair;
	int r = end_make(&p->req, 2 * pid, caller->server, id);
	if (r == 0 && (r = end_make(&p->res, 2 * pid + 1, id, caller->server)) < 0)
		end_close(&p->req);
	if (r == 0 && (p->caller_bell = fcntl(bell, F_DUPFD_CLOEXEC, 0)) < 0)
		r = -errno;
	if (r < 0) {
		log_warn("lanes", NULL, "no lanes for %s to %s (%s): it calls through antd",
			 caller_name, d->servers[id].conf->name, strerror(-r));
		if (p->caller_bell >= 0)
			close(p->caller_bell);
		end_close(&p->req);
		end_close(&p->res);
		free(p);
		return NULL;
	}
	/* Who the caller is, as antd saw it: the receiver writes it into each
	 * request (a server that forwards vouches for it further). */
	p->who = *who;
	p->req.l.ack_hdr->who = p->who;
	if (!server_accepts(&d->servers[id]))
		STORE_REL(&p->req.l.ack_hdr->closed, 1u);
	return p;
}

static void timer_update(struct antd *d)
{
	struct lanes *L = &d->lanes;
	if (L->pairs && !ev_is_active(&L->scan))
		ev_timer_start(d->loop, &L->scan);
	else if (!L->pairs && ev_is_active(&L->scan))
		ev_timer_stop(d->loop, &L->scan);
}

void lanes_app_welcome(struct antd *d, struct peer *app)
{
	struct lanes *L = &d->lanes;
	int bell = L->on && app->kind == PEER_APP ? ant_bell_create() : -1;
	if (bell < 0) {
		if (L->on)
			log_warn("lanes", NULL, "no bell for %s (%s): it calls through antd",
				 peer_name(app), strerror(-bell));
		peer_welcome(app);
		return;
	}
	uint32_t serial = ++L->next_serial;
	struct lane_pair *made = NULL;
	unsigned nmade = 0;
	struct lane_caller caller = { .key = peer_key(app) };
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		if (!stack_may_call(d->stack, ANT_PEER_APP, id) ||
		    !stack_app_uid_may_call(d->stack, app->uid, id) || server_bell(d, id) < 0)
			continue;
		struct ant_lane_who who = { .from = ANT_PEER_APP, .to = (uint16_t)id,
					    .serial = serial, .caller_pid = (uint32_t)app->pid,
					    .caller_uid = app->uid, .caller_gid = app->gid };
		struct lane_pair *p = pair_make(d, &caller, id, &who, bell, peer_name(app));
		if (!p)
			continue;
		p->next = made;
		made = p;
		nmade++;
	}
	/* WELCOME says how many LANEs follow, so that the app has them all
	 * before its first call. */
	peer_welcome_lanes(app, 2 * nmade);
	if (nmade)
		peer_send(app, ANT_M_BELL, 0, NULL, 0, bell);
	close(bell);
	while (made) {
		struct lane_pair *p = made;
		made = p->next;
		struct server *s = &d->servers[p->server];
		give_caller(d, app, p);
		p->next = L->pairs;
		L->pairs = p;
		if (s->cur->lanes_given && s->cur->peer)
			give_pair(d, s->cur->peer, p);
		else if (s->state == SRV_RUNNING && s->cur->peer)
			lanes_give(d, s);
	}
	timer_update(d);
}

/* Drop the pairs of one caller (its peer key, or every instance of server
 * `server`): each callee forgets them (LANE_DROP). */
static void drop_pairs(struct antd *d, uint64_t key, unsigned server)
{
	struct lanes *L = &d->lanes;
	for (struct lane_pair **pp = &L->pairs; *pp;) {
		struct lane_pair *p = *pp;
		if (server ? p->caller.server != server : p->caller.key != key) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		L->served_gone[p->server] += pair_served(p);
		L->failed_gone[p->server] += LOAD_ACQ(&p->res.l.hdr->failed);
		struct instance *in = d->servers[p->server].cur;
		if (in->lanes_given && in->peer) {
			struct ant_m_lane_drop m = { .id = p->req.id };
			peer_send(in->peer, ANT_M_LANE_DROP, 0, &m, sizeof(m), -1);
			m.id = p->res.id;
			peer_send(in->peer, ANT_M_LANE_DROP, 0, &m, sizeof(m), -1);
		}
		pair_free(p);
	}
	timer_update(d);
}

void lanes_app_gone(struct antd *d, struct peer *app)
{
	drop_pairs(d, peer_key(app), 0);
}

/*
 * The serving instance of s, a caller: a pair of lanes to each server the
 * stack file lets it call, its side handed to it, the callee's side to the
 * callee if that runs with its lanes (else it gets them with the rest).
 */
static void callers_make(struct antd *d, struct server *s)
{
	struct lanes *L = &d->lanes;
	struct instance *in = s->cur;
	int bell = server_bell(d, s->id);
	if (bell < 0)
		return;
	uint32_t serial = ++L->next_serial;
	struct lane_caller caller = { .key = peer_key(in->peer), .server = s->id, .gen = in->gen };
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		if (id == s->id || !stack_may_call(d->stack, s->id, id) || server_bell(d, id) < 0)
			continue;
		struct ant_lane_who who = { .from = (uint16_t)s->id, .to = (uint16_t)id,
					    .serial = serial, .caller_pid = (uint32_t)in->pid,
					    .caller_uid = in->peer->uid, .caller_gid = in->peer->gid };
		struct lane_pair *p = pair_make(d, &caller, id, &who, bell, s->conf->name);
		if (!p)
			continue;
		p->next = L->pairs;
		L->pairs = p;
		give_caller(d, in->peer, p);
		struct server *t = &d->servers[id];
		if (t->cur->lanes_given && t->cur->peer)
			give_pair(d, t->cur->peer, p);
		else if (t->state == SRV_RUNNING && t->cur->peer)
			lanes_give(d, t);
	}
}

void lanes_give(struct antd *d, struct server *s)
{
	struct lanes *L = &d->lanes;
	struct instance *in = s->cur;
	if (in->lanes_given || !in->peer || (!L->pairs && !L->on))
		return;
	in->lanes_given = 1;
	int bell = server_bell(d, s->id);
	if (bell < 0)
		return;
	peer_send(in->peer, ANT_M_BELL, 0, NULL, 0, bell);
	for (struct lane_pair *p = L->pairs; p; p = p->next) {
		if (p->server != s->id)
			continue;
		if (L->on)
			STORE_REL(&p->req.l.ack_hdr->closed, 0u);
		give_pair(d, in->peer, p);
	}
	if (L->on)
		callers_make(d, s);
	timer_update(d);
}

/* The slot's request as the receiver would hold it; 0, or -1 if the app
 * wrote something no receiver would take. */
static int slot_page(struct lane_pair *p, unsigned i, unsigned char *page, size_t *len,
		     uint64_t *ticket, unsigned nservers)
{
	const struct ant_lane_slot *sl = &p->req.l.slot[i];
	uint32_t n = LOAD_ACQ(&sl->len);
	*ticket = sl->ticket;
	if (n < 1 || n > ANT_CICA_SIZE)
		return -1;
	memcpy(page, sl->page, n);
	*len = n;
	return ant_lane_request_fix(page, n, &p->who, nservers, *ticket) == ANT_CICA_OK ? 0 : -1;
}

/* Did the server publish an answer to request slot i (taken with seq)? */
static int answered(struct lane_pair *p, unsigned i, uint64_t seq)
{
	const struct ant_lane *r = &p->res.l;
	uint64_t about = seq << 8 | i;
	for (unsigned j = 0; j < r->nslots; j++) {
		uint64_t sseq = LOAD_ACQ(&r->slot[j].seq);
		if (sseq != LOAD_ACQ(&r->ack[j].done) && r->slot[j].kind == ANT_LANE_RESULT &&
		    r->slot[j].about == about)
			return 1;
	}
	return 0;
}

static int is_cancelled(const struct lane_pair *p, uint64_t ticket)
{
	for (unsigned k = 0; k < p->ncancelled; k++)
		if (p->cancelled[k] == ticket)
			return 1;
	return 0;
}

static void forget_cancel(struct lane_pair *p, uint64_t ticket)
{
	for (unsigned k = 0; k < p->ncancelled; k++)
		if (p->cancelled[k] == ticket) {
			p->cancelled[k] = p->cancelled[--p->ncancelled];
			return;
		}
}

/* Take slot i of p's request lane into antd's table: held by its server
 * (it took it) or queued for it (it never did). */
static void take_over(struct antd *d, struct lane_pair *p, unsigned i, int held)
{
	struct ant_lane *l = &p->req.l;
	uint64_t seq = held ? LOAD_ACQ(&l->ack[i].taken) : LOAD_ACQ(&l->slot[i].seq);
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	size_t len = 0;
	uint64_t ticket = 0;
	int ok = slot_page(p, i, page, &len, &ticket, d->stack->nservers) == 0;
	if (!held && ant_lane_claim(l, i, seq) < 0)
		return;   /* its receiver took it first */
	__atomic_fetch_or(&l->slot[i].flags, ANT_LANE_F_ANTD, __ATOMIC_RELAXED);
	STORE_REL(&l->ack[i].done, seq);
	struct server *s = &d->servers[p->server];
	if (!ok) {
		log_warn("lanes", s->conf->name, "request in slot %u of lane %u is not a valid call: "
			 "dropped (its app wrote it)", i, l->hdr ? p->req.id : 0);
		return;
	}
	if (is_cancelled(p, ticket)) {
		forget_cancel(p, ticket);
		return;   /* answered already (ANT_E_CANCELLED) */
	}
	struct call *c = calls_from_lane(d, s, &p->caller, page, held);
	if (c)
		d->lanes.adopted++;
	else
		log_error("lanes", s->conf->name, "out of memory taking over a lane call");
	if (c && !held)
		calls_enqueue(d, c);
}

void lanes_server_died(struct antd *d, struct server *s)
{
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next) {
		if (p->server != s->id)
			continue;
		struct ant_lane *l = &p->req.l;
		for (unsigned i = 0; i < l->nslots; i++) {
			uint64_t taken = LOAD_ACQ(&l->ack[i].taken), done = LOAD_ACQ(&l->ack[i].done);
			if (taken == done)
				continue;
			if (answered(p, i, taken)) {
				STORE_REL(&l->ack[i].done, taken);
				continue;
			}
			take_over(d, p, i, 1);
		}
	}
	/* The lanes of its own calls go with it: what it was doing is
	 * replayed from the requests it held, so nothing in them is owed. */
	drop_pairs(d, 0, s->id);
}

/* Posted slots of a closed request lane become calls (queued, or failed if
 * the server takes no work). */
static void sweep_closed(struct antd *d, struct lane_pair *p)
{
	struct ant_lane *l = &p->req.l;
	for (unsigned i = 0; i < l->nslots; i++) {
		uint64_t seq = LOAD_ACQ(&l->slot[i].seq), taken = LOAD_ACQ(&l->ack[i].taken);
		if (seq != taken && taken == LOAD_ACQ(&l->ack[i].done) && seq == taken + 1)
			take_over(d, p, i, 0);
	}
}

void lanes_server_closed(struct antd *d, struct server *s)
{
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next) {
		if (p->server != s->id)
			continue;
		STORE_REL(&p->req.l.ack_hdr->closed, 1u);
		sweep_closed(d, p);
	}
}

void lanes_off(struct antd *d, const char *why)
{
	struct lanes *L = &d->lanes;
	if (!L->on)
		return;
	L->on = 0;
	snprintf(L->off_why, sizeof(L->off_why), "%s", why);
	log_info("lanes", NULL, "fast path off: %s; calls go through antd", why);
	for (struct lane_pair *p = L->pairs; p; p = p->next) {
		STORE_REL(&p->req.l.ack_hdr->closed, 1u);
		sweep_closed(d, p);
	}
}

unsigned lanes_held(struct antd *d, const struct server *s)
{
	unsigned n = 0;
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next)
		if (p->server == s->id)
			n += ant_lane_taken(&p->req.l);
	return n;
}

unsigned lanes_queued(struct antd *d, const struct server *s)
{
	unsigned n = 0;
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next)
		if (p->server == s->id)
			n += ant_lane_posted(&p->req.l);
	return n;
}

/* The service times of the answers posted in s's result lanes since the
 * last look, into s's samples (for p50/p99).  A sample: an answer whose
 * slot was posted again before antd looked is not counted. */
void lanes_sample(struct antd *d)
{
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next) {
		struct server *s = &d->servers[p->server];
		const struct ant_lane *r = &p->res.l;
		for (unsigned j = 0; j < r->nslots && j < LANE_SLOTS; j++) {
			uint64_t seq = LOAD_ACQ(&r->slot[j].seq);
			if (!seq || seq == p->res_seen[j])
				continue;
			p->res_seen[j] = seq;
			server_took(s, r->slot[j].svc_us);
		}
	}
}

uint64_t lanes_failed(struct antd *d, const struct server *s)
{
	uint64_t n = d->lanes.failed_gone[s->id];
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next)
		if (p->server == s->id)
			n += LOAD_ACQ(&p->res.l.hdr->failed);
	return n;
}

static uint64_t pair_served(const struct lane_pair *p)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < p->res.l.nslots; i++)
		n += LOAD_ACQ(&p->res.l.slot[i].seq);
	return n;
}

uint64_t lanes_served(struct antd *d, const struct server *s)
{
	uint64_t n = d->lanes.served_gone[s->id];
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next)
		if (p->server == s->id)
			n += pair_served(p);
	return n;
}

void lanes_holding(struct antd *d, const struct server *s, json_t *arr)
{
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next) {
		if (p->server != s->id)
			continue;
		const struct ant_lane *l = &p->req.l;
		for (unsigned i = 0; i < l->nslots; i++)
			if (LOAD_ACQ(&l->ack[i].taken) != LOAD_ACQ(&l->ack[i].done))
				json_array_append_new(arr, json_sprintf("lane %u:%u", p->req.id, i));
	}
}

static struct lane_pair *pair_of_req(struct antd *d, uint32_t lane_id)
{
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next)
		if (p->req.id == lane_id)
			return p;
	return NULL;
}

int lanes_adopt(struct antd *d, struct server *s, uint32_t lane_id, uint32_t slot,
		unsigned char *page, size_t len, struct lane_caller *from, char *why, size_t whylen)
{
	struct lane_pair *p = pair_of_req(d, lane_id);
	if (!p || p->server != s->id) {
		/* Its app may be gone already: nothing to carry on. */
		snprintf(why, whylen, "%s", p ? "ADOPT of another server's lane" : "");
		return 0;
	}
	struct ant_lane *l = &p->req.l;
	uint64_t taken = slot < l->nslots ? LOAD_ACQ(&l->ack[slot].taken) : 0;
	if (slot >= l->nslots || taken == LOAD_ACQ(&l->ack[slot].done)) {
		snprintf(why, whylen, "ADOPT of slot %u of lane %u, which it does not hold", slot,
			 lane_id);
		return 0;
	}
	const struct ant_cica_hdr *ch = (const void *)page;
	uint64_t ticket = len >= sizeof(*ch) ? ch->ticket : 0;
	enum ant_cica_fault f = ant_lane_request_fix(page, len, &p->who, d->stack->nservers, ticket);
	if (f != ANT_CICA_OK) {
		/* The slot stays taken: the cut-off's death replays it. */
		snprintf(why, whylen, "ADOPT of an invalid request: %s",
			 f == ANT_CICA_FAULT_MAX ? "not a call of its lane" : ant_cica_fault_str(f));
		return 0;
	}
	__atomic_fetch_or(&l->slot[slot].flags, ANT_LANE_F_ANTD, __ATOMIC_RELAXED);
	STORE_REL(&l->ack[slot].done, taken);
	d->lanes.adopted++;
	*from = p->caller;
	return 1;
}

int lanes_cancel(struct antd *d, struct peer *app, uint64_t ticket, unsigned char *page)
{
	uint64_t key = peer_key(app);
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next) {
		if (p->caller.key != key)
			continue;
		struct ant_lane *l = &p->req.l;
		for (unsigned i = 0; i < l->nslots; i++) {
			uint64_t seq = LOAD_ACQ(&l->slot[i].seq);
			if (seq == LOAD_ACQ(&l->ack[i].done) || l->slot[i].ticket != ticket)
				continue;
			size_t len;
			uint64_t t;
			if (slot_page(p, i, page, &len, &t, d->stack->nservers) < 0 ||
			    p->ncancelled >= LANE_SLOTS)
				return 0;
			p->cancelled[p->ncancelled++] = ticket;
			return 1;
		}
	}
	return 0;
}

int lanes_cancelled(struct antd *d, uint64_t app, uint64_t ticket)
{
	for (struct lane_pair *p = d->lanes.pairs; p; p = p->next)
		if (p->caller.key == app && is_cancelled(p, ticket)) {
			forget_cancel(p, ticket);
			return 1;
		}
	return 0;
}

/* Has s forwarded the request named link in one of its own lanes, and
 * that stage is not done? */
static int forwarded_on(struct antd *d, const struct server *s, uint64_t link)
{
	for (const struct lane_pair *p = d->lanes.pairs; p; p = p->next) {
		if (p->caller.server != s->id)
			continue;
		const struct ant_lane *l = &p->req.l;
		for (unsigned i = 0; i < l->nslots; i++)
			if (LOAD_ACQ(&l->slot[i].seq) != LOAD_ACQ(&l->ack[i].done) &&
			    l->slot[i].about == link)
				return 1;
	}
	return 0;
}

/* How long key (0: nothing to time) has stood since antd first saw it, in
 * ns; 0 the first time.  *seen_key, *seen_ns: antd's memory of the slot. */
static uint64_t age_ns(uint64_t *seen_key, uint64_t *seen_ns, uint64_t key, uint64_t now)
{
	if (*seen_key != key) {
		*seen_key = key;
		*seen_ns = now;
		return 0;
	}
	return key ? now - *seen_ns : 0;
}

/* A request of p left untaken past s's deadline while s has room for it:
 * s does not look at its lanes (stopped, or hung while idle).  1 if s is
 * killed for it. */
static int scan_untaken(struct antd *d, struct lane_pair *p, struct server *s, uint64_t now)
{
	const struct ant_lane *l = &p->req.l;
	unsigned ms = s->conf->policy.deadline_ms;
	int room = -1;   /* looked up once, and only for a slot that waits */
	for (unsigned i = 0; i < l->nslots; i++) {
		uint64_t seq = LOAD_ACQ(&l->slot[i].seq);
		if (seq != LOAD_ACQ(&l->ack[i].taken) && room < 0)
			room = s->held + lanes_held(d, s) < s->conf->max_inflight;
		uint64_t waits = seq != LOAD_ACQ(&l->ack[i].taken) && room > 0 ? seq : 0;
		uint64_t age = age_ns(&p->post_seq[i], &p->post_ns[i], waits, now);
		if (!age || !ms || age < (uint64_t)ms * 1000000u)
			continue;
		char why[160];
		snprintf(why, sizeof(why), "hang: deadline %u ms exceeded without taking a request "
			 "of lane %u, with room for it", ms, p->req.id);
		p->post_seq[i] = 0;
		supervise_fault(d, s->cur, EV_DEADLINE, why);
		return 1;
	}
	return 0;
}

/* A request of p taken by s longer than its deadline (timed from when antd
 * first saw it taken, so no sender can age it), unless s waits for the
 * stage it forwarded (which has its own clock).  1 if s is killed for it. */
static int scan_held(struct antd *d, struct lane_pair *p, struct server *s, uint64_t now)
{
	const struct ant_lane *l = &p->req.l;
	for (unsigned i = 0; i < l->nslots; i++) {
		uint64_t taken = LOAD_ACQ(&l->ack[i].taken);
		uint64_t held = taken != LOAD_ACQ(&l->ack[i].done) ? taken : 0;
		uint64_t age = age_ns(&p->seen_seq[i], &p->seen_ns[i], held, now);
		if (!age || forwarded_on(d, s, ant_lane_link(p->req.id, i, taken)))
			continue;
		unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
		size_t len;
		uint64_t ticket;
		int valid = slot_page(p, i, page, &len, &ticket, d->stack->nservers) == 0;
		unsigned ms = valid ? calls_page_deadline_ms(s, page) : s->conf->policy.deadline_ms;
		if (!ms || age < (uint64_t)ms * 1000000u)
			continue;
		char why[160];
		snprintf(why, sizeof(why), "hang: deadline %u ms exceeded holding a request of "
			 "lane %u (op %s)", ms, p->req.id, valid ? ant_cica_current_const(page)->op : "?");
		p->seen_seq[i] = 0;
		supervise_fault(d, s->cur, EV_DEADLINE, why);
		return 1;   /* the death takes the rest */
	}
	return 0;
}

/* Every few ms while lanes exist: deadlines (scan_untaken, scan_held), the
 * lanes' service times, and posted slots of closed lanes to the slow path. */
static void scan_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct antd *d = w->data;
	uint64_t now = now_ns();
	lanes_sample(d);
	for (struct lane_pair *p = d->lanes.pairs, *next; p; p = next) {
		next = p->next;
		struct server *s = &d->servers[p->server];
		if (LOAD_ACQ(&p->req.l.ack_hdr->closed))
			sweep_closed(d, p);
		if (s->up.phase == UP_DRAINING)
			upgrade_poke(d, s);   /* its lane requests may all be done now */
		if (!s->cur->lanes_given || s->state != SRV_RUNNING)
			continue;
		if (scan_untaken(d, p, s, now))
			return;   /* the pairs may change with the death */
		scan_held(d, p, s, now);
	}
	(void)loop;
	(void)revents;
}
