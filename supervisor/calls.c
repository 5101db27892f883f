/* calls.c - the inner core's routing: control ICAs in flight, request and result queues, direct return. */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/errors.h"
#include "ant/lane.h"
#include "antd.h"
#include "calls.h"
#include "lanes.h"
#include "log.h"
#include "peer.h"
#include "supervise.h"

/* ---- the table of control ICAs in flight --------------------------------- */

void calls_init(struct antd *d)
{
	memset(&d->calls, 0, sizeof(d->calls));
}

void calls_fini(struct antd *d)
{
	struct call_table *t = &d->calls;
	for (uint32_t i = 0; i < t->n; i++)
		free(t->c[i]);
	free(t->c);
	free(t->empty);
	memset(t, 0, sizeof(*t));
}

/* Slots whose call memory is kept for the next calls (the rest is freed):
 * a burst of calls does not leave its memory with antd for good. */
#define CALLS_KEPT_MAX 256u
/* After more calls than this were in flight at once, antd gives the freed
 * memory back to the system once they are done (malloc_trim). */
#define CALLS_TRIM_ABOVE 1024u

/* Room for one more slot (the table of calls and the stack of empty ones
 * grow together).  Returns 0 or -1 (out of memory). */
static int grow(struct call_table *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 64;
	struct call **nc = realloc(t->c, cap * sizeof(*nc));
	uint32_t *ne = nc ? realloc(t->empty, cap * sizeof(*ne)) : NULL;
	if (nc)
		t->c = nc;
	if (!ne)
		return -1;
	t->empty = ne;
	t->cap = cap;
	return 0;
}

/* A slot for a new call: one with its memory kept, else an empty one, else
 * a new one.  Returns its index, or -1 (out of memory). */
static int64_t take_slot(struct call_table *t)
{
	if (t->free_head) {
		uint32_t idx = t->free_head - 1;
		t->free_head = t->c[idx]->free_next;
		t->kept--;
		return idx;
	}
	uint32_t idx;
	if (t->nempty) {
		idx = t->empty[--t->nempty];
	} else {
		if (t->n == t->cap && grow(t) < 0)
			return -1;
		idx = t->n++;
		t->c[idx] = NULL;
	}
	if (!(t->c[idx] = malloc(sizeof(struct call)))) {
		t->empty[t->nempty++] = idx;
		return -1;
	}
	return idx;
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents);

static struct call *call_new(struct antd *d)
{
	struct call_table *t = &d->calls;
	int64_t slot = take_slot(t);
	if (slot < 0)
		return NULL;
	uint32_t idx = (uint32_t)slot;
	struct call *c = t->c[idx];
	memset(c, 0, offsetof(struct call, page));
	c->d = d;
	ev_timer_init(&c->deadline, on_deadline, 0., 0.);
	c->deadline.data = c;
	if (++t->next_gen == 0)
		t->next_gen = 1;
	c->index = idx;
	c->gen = t->next_gen;
	t->live++;
	if (t->live > CALLS_TRIM_ABOVE)
		t->trim_due = 1;
	d->calls_total++;
	return c;
}

static void call_free(struct antd *d, struct call *c)
{
	ev_timer_stop(d->loop, &c->deadline);
	struct call_table *t = &d->calls;
	struct peer *origin = peer_by_key(d, c->origin);
	if (origin && origin->calls_out)
		origin->calls_out--;
	if (c->data.gen)
		ica_unref(&d->icas, &c->data);
	c->gen = 0;
	t->live--;
	if (t->kept < CALLS_KEPT_MAX) {
		c->free_next = t->free_head;
		t->free_head = c->index + 1;
		t->kept++;
	} else {
		t->c[c->index] = NULL;
		t->empty[t->nempty++] = c->index;
		free(c);
	}
	if (t->trim_due && t->live == 0) {
		t->trim_due = 0;
		malloc_trim(0);   /* the burst is over: its memory goes back */
	}
}

struct call *calls_adopt(struct antd *d, uint32_t index, uint32_t gen)
{
	struct call_table *t = &d->calls;
	if (gen == 0 || index > (1u << 24))
		return NULL;
	while (t->n <= index) {
		if (t->n == t->cap && grow(t) < 0)
			return NULL;
		t->c[t->n++] = NULL;
	}
	if (t->c[index] || !(t->c[index] = malloc(sizeof(struct call))))
		return NULL;
	struct call *c = t->c[index];
	memset(c, 0, offsetof(struct call, page));
	c->d = d;
	ev_timer_init(&c->deadline, on_deadline, 0., 0.);
	c->deadline.data = c;
	c->index = index;
	c->gen = gen;
	t->live++;
	return c;
}

void calls_adopt_done(struct antd *d, uint32_t next_gen)
{
	struct call_table *t = &d->calls;
	t->nempty = 0;
	for (uint32_t i = t->n; i-- > 0; )
		if (!t->c[i])
			t->empty[t->nempty++] = i;
	t->next_gen = next_gen;
}

void calls_adopt_deadline(struct antd *d, struct call *c, double remaining)
{
	ev_timer_set(&c->deadline, remaining > 0 ? remaining : 0.001, 0.);
	ev_timer_start(d->loop, &c->deadline);
}

static struct call *call_lookup(struct antd *d, uint32_t index, uint32_t gen)
{
	struct call_table *t = &d->calls;
	if (gen == 0 || index >= t->n || !t->c[index] || t->c[index]->gen != gen)
		return NULL;
	return t->c[index];
}

/* ---- helpers -------------------------------------------------------------- */

static struct ant_cica_hdr *hdr_of(struct call *c)
{
	return (struct ant_cica_hdr *)c->page;
}

static struct ant_frame *top_of(struct call *c)
{
	return ant_cica_current(c->page);
}

/* Will s take this call, now or once it is back? */
static int server_alive(const struct server *s)
{
	return server_accepts(s);
}

/* Is c, in s's result queue, the result of a call s made itself (and not a
 * call s forwarded coming back to it, a RETURN)? */
static int is_own_result(const struct call *c, const struct server *s)
{
	const struct ant_frame *f = ant_cica_current_const(c->page);
	return f->caller == s->id && c->origin_server == s->id &&
	       ((const struct ant_cica_hdr *)c->page)->nframes == 1;
}

/* How long s may hold c before it counts as hung (0: no limit).  A caller's
 * own deadline can only lengthen the server's (a slow op), up to the longest
 * its policy allows: a caller can neither switch hang detection off nor get a
 * server killed early. */
static unsigned deadline_ms(const struct server *s, const struct call *c)
{
	return calls_page_deadline_ms(s, c->page);
}

unsigned calls_page_deadline_ms(const struct server *s, const void *page)
{
	const struct ant_cica_hdr *h = page;
	const struct ant_frame *f = ant_cica_current_const(page);
	const struct policy *p = &s->conf->policy;
	unsigned own = (f->flags & ANT_FF_IO_WAIT) ? p->io_deadline_ms : p->deadline_ms;
	if (h->deadline_ms && own) {
		/* Only longer (a slow op), never past the longest the policy allows,
		 * and never shorter: a caller cannot get a server killed early. */
		unsigned cap = p->io_deadline_ms > p->deadline_ms ? p->io_deadline_ms : p->deadline_ms;
		unsigned want = h->deadline_ms > cap ? cap : h->deadline_ms;
		return want > own ? want : own;
	}
	return own;
}

static void hold(struct antd *d, struct server *s, struct call *c, unsigned as)
{
	c->state = CALL_HELD;
	c->at = s->id;
	c->held_as = as;
	c->held_ns = mono_ns();
	s->held++;
	unsigned ms = deadline_ms(s, c);
	if (ms) {
		ev_timer_set(&c->deadline, ms / 1000.0, 0.);
		ev_timer_start(d->loop, &c->deadline);
	}
}

static void unhold(struct antd *d, struct server *s, struct call *c)
{
	ev_timer_stop(d->loop, &c->deadline);
	if (s->held)
		s->held--;
	/* A replayed call answered: one less to replay one at a time. */
	if ((hdr_of(c)->flags & ANT_CF_REPLAY) && s->probation)
		s->probation--;
}

/* s is done with its stage of c (it answered or forwarded it): how long it
 * took goes into its ring of service times. */
static void took(struct server *s, const struct call *c)
{
	uint64_t us = (mono_ns() - c->held_ns) / 1000;
	server_took(s, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;
	struct antd *d = c->d;
	if (c->state != CALL_HELD || !c->at)
		return;
	struct server *s = &d->servers[c->at];
	const struct ant_frame *f = ant_cica_current_const(c->page);
	char why[160];
	snprintf(why, sizeof(why), "hang: deadline %u ms exceeded holding control ICA %u:%u (op %s)",
		 deadline_ms(s, c), c->index, c->gen, f->op);
	supervise_fault(d, s->cur, EV_DEADLINE, why);
	(void)loop;
}

static const char *srv_name(struct antd *d, unsigned id)
{
	if (id == 0)
		return "app";
	if (id > d->stack->nservers)
		return "?";
	return d->servers[id].conf->name;
}

/* The current frame's call ends with error instead of a result. */
static void set_error(struct call *c, int error)
{
	ant_cica_set_result(c->page, error, NULL, 0);
}

/* The same, with a line saying why (e.g. which server failed and how). */
static void set_error_text(struct call *c, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error_text(struct call *c, int error, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (ant_cica_set_result(c->page, error, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1) < 0)
		set_error(c, error);
}

/* p's holds of data ICAs, counted against its limits: +1 when it takes a
 * hold it did not have, -1 before it gives one up. */
void calls_count_hold(struct antd *d, struct peer *p, const struct ant_ica_ref *ref, int delta)
{
	const struct ica_entry *e = ica_lookup(&d->icas, ref);
	size_t size = e ? e->size : 0;
	if (delta > 0) {
		p->icas++;
		p->ica_bytes += size;
	} else {
		p->icas -= p->icas ? 1 : 0;
		p->ica_bytes -= p->ica_bytes >= size ? size : p->ica_bytes;
	}
}

/* Hand page to peer as type; hands over the data ICA unless it holds it.
 * Returns -1 if the data ICA could not be handed over (nothing sent). */
static int deliver(struct antd *d, struct peer *p, struct call *c, unsigned type)
{
	struct ant_cica_hdr *h = hdr_of(c);
	ant_cica_trace(c->page, p->server_id);
	int fd = -1;
	if (h->data.gen && ica_holds(&d->icas, &h->data, peer_key(p)) < 0) {
		fd = ica_hold(&d->icas, &h->data, peer_key(p), !!(h->data_flags & ANT_DF_RO));
		if (fd >= 0)
			calls_count_hold(d, p, &h->data, +1);
		if (fd < 0) {
			log_error("ica", NULL, "cannot hand data ICA %u:%u to %s: %s", h->data.index,
				  h->data.gen, peer_name(p), strerror(-fd));
			if (type == ANT_M_REQUEST)
				return -1;
			/* A result still goes out, without its data and saying why. */
			memset(&h->data, 0, sizeof(h->data));
			h->data_flags = 0;
			if (h->retval >= 0)
				h->retval = ANT_E_NO_ICA;
			fd = -1;
		} else if (ica_holds(&d->icas, &h->data, peer_key(p)) == 1) {
			h->data_flags |= ANT_DF_RO;
		}
	}
	peer_send(p, type, 0, c->page, h->used, fd);
	return 0;
}

/* ---- result routing (direct return) --------------------------------------- */

static void deliver_to_origin(struct antd *d, struct call *c)
{
	if (c->cancelled) {
		call_free(d, c);   /* its caller has its answer (ANT_E_CANCELLED) or is gone */
		return;
	}
	if (c->origin_server) {
		struct server *s = &d->servers[c->origin_server];
		/* Only the instance that made the call may take its result. */
		if (server_alive(s) && s->cur->gen == c->origin_gen) {
			c->state = CALL_RESULTQ;
			c->at = s->id;
			callq_push(&s->results, c);
			calls_pump(d, s);
			return;
		}
		call_free(d, c);
		return;
	}
	struct peer *p = peer_by_key(d, c->origin);
	if (p)
		deliver(d, p, c, ANT_M_RESULT);
	call_free(d, c);
}

/*
 * Server `from` has answered the newest frame of c (or failed it).  Pop frames
 * until one needs its result: a frame without "return needed" is skipped, its
 * caller answering the frame below with the same result (direct return).
 */
static void route_result(struct antd *d, struct call *c, unsigned from)
{
	for (;;) {
		struct ant_cica_hdr *h = hdr_of(c);
		struct ant_frame *f = top_of(c);
		(void)from;
		if (h->nframes == 1) {
			if (!(f->flags & ANT_FF_RETURN_NEEDED)) {
				call_free(d, c);
				return;
			}
			deliver_to_origin(d, c);
			return;
		}
		unsigned caller = f->caller;
		int needed = !!(f->flags & ANT_FF_RETURN_NEEDED);
		ant_cica_pop(c->page);
		c->len = h->used;
		if (needed) {
			struct server *s = &d->servers[caller];
			if (server_alive(s)) {
				c->state = CALL_RESULTQ;
				c->at = caller;
				callq_push(&s->results, c);
				calls_pump(d, s);
				return;
			}
			/* The caller died meanwhile: its own frame fails. */
			set_error(c, ANT_E_SERVER_FAILED);
		}
		from = caller;
	}
}

/* c cannot be queued at callee: it ends at once with error. */
static void fail_now(struct antd *d, struct call *c, int error)
{
	set_error(c, error);
	route_result(d, c, top_of(c)->callee);
}

static void enqueue_request(struct antd *d, struct call *c)
{
	unsigned callee = top_of(c)->callee;
	struct server *s = &d->servers[callee];
	if (d->stopping) {
		fail_now(d, c, ANT_E_SHUTDOWN);
		return;
	}
	if (!server_accepts(s)) {
		const struct ant_frame *f = top_of(c);
		if (s->op_stopped) {
			log_warn("call-refused", s->conf->name, "call (op %s from %s) refused: stopped "
				 "by the operator", f->op, srv_name(d, f->caller));
			set_error_text(c, ANT_E_SERVER_STOPPED, "%s is stopped (antctl stop); antctl "
				       "start %s brings it back", s->conf->name, s->conf->name);
		} else {
			set_error_text(c, ANT_E_SERVER_FAILED, "%s is %s (%s)", s->conf->name,
				       server_state_name(s->state),
				       s->last_exit[0] ? s->last_exit : "no exit seen");
		}
		s->failed++;
		route_result(d, c, f->callee);
		return;
	}
	c->state = CALL_QUEUED;
	c->at = callee;
	callq_push(&s->requests, c);
	calls_pump(d, s);
}

/* Results before requests; requests only while under max_inflight. */
void calls_pump(struct antd *d, struct server *s)
{
	struct instance *in = s->cur;
	while (in->peer && in->want > 0 && s->state == SRV_RUNNING) {
		struct call *c = callq_pop(&s->results);
		if (c) {
			in->want--;
			if (is_own_result(c, s)) {
				deliver(d, in->peer, c, ANT_M_RESULT);
				call_free(d, c);
			} else {
				/* A RETURN: the call this server forwarded is its own again. */
				hold(d, s, c, ANT_M_RESULT);
				deliver(d, in->peer, c, ANT_M_RESULT);
			}
			continue;
		}
		/* After a death with several calls held, the replays go one at a
		 * time, so that a death can be blamed on the one call it held. */
		unsigned limit = s->probation ? 1 : s->conf->max_inflight;
		if (upgrade_holds_requests(s))
			limit = 0;   /* draining for an upgrade: requests wait here */
		if (!callq_first(&s->requests) || s->held >= limit)
			break;
		c = callq_pop(&s->requests);
		in->want--;
		if (d->inject.live)
			inject_on_request(d, s, c);
		hold(d, s, c, ANT_M_REQUEST);
		if (deliver(d, in->peer, c, ANT_M_REQUEST) < 0) {
			unhold(d, s, c);
			in->want++;
			fail_now(d, c, ANT_E_NO_ICA);
		}
	}
	/* Its lanes after what waits for it here: a new serving instance (a
	 * spare after a failover) gets the replayed calls first, and maps its
	 * lanes while their answers are on their way, not before. */
	if (!in->lanes_given && in->peer && s->state == SRV_RUNNING &&
	    (d->lanes.pairs || d->lanes.on))
		lanes_give(d, s);
	if (s->up.phase == UP_DRAINING)
		upgrade_poke(d, s);
}

/* ---- the data ICA carried by a page from peer p ---------------------------- */

/* Before anything of page is taken: the data ICA it names must be one p
 * holds.  Returns 0, or -1 after cutting p off. */
static int check_data(struct peer *p, const unsigned char *page)
{
	struct ant_cica_hdr in;
	memcpy(&in, page, sizeof(in));
	if (in.data.gen && ica_holds(&p->d->icas, &in.data, peer_key(p)) < 0) {
		peer_cut_off(p, "sent data ICA %u:%u it does not hold", in.data.index, in.data.gen);
		return -1;
	}
	return 0;
}

/* Take the (checked) data reference of c's page: keep the area alive while
 * the call carries it, and drop p's hold if it detached. */
static void adopt_data(struct antd *d, struct peer *p, struct call *c)
{
	struct ant_cica_hdr *h = hdr_of(c);
	uint64_t key = peer_key(p);
	if (h->data.gen) {
		if (ica_holds(&d->icas, &h->data, key) == 1)
			h->data_flags |= ANT_DF_RO;
	} else {
		h->data_flags = 0;
		memset(&h->data, 0, sizeof(h->data));
	}
	if (memcmp(&h->data, &c->data, sizeof(c->data)) != 0) {
		if (h->data.gen)
			ica_ref(&d->icas, &h->data);
		if (c->data.gen)
			ica_unref(&d->icas, &c->data);
		c->data = h->data;
	}
	if (h->data.gen && (h->data_flags & ANT_DF_DETACH)) {
		calls_count_hold(d, p, &h->data, -1);
		ica_unhold(&d->icas, &h->data, key);
	}
	h->data_flags &= ~ANT_DF_DETACH;
}

/* ---- handlers --------------------------------------------------------------- */

static int check_page(struct peer *p, const unsigned char *page, size_t len)
{
	enum ant_cica_fault f = ant_cica_validate(page, len, p->d->stack->nservers);
	if (f != ANT_CICA_OK) {
		peer_cut_off(p, "invalid control ICA: %s", ant_cica_fault_str(f));
		return -1;
	}
	return 0;
}

static void on_call(struct peer *p, unsigned char *page, size_t len)
{
	struct antd *d = p->d;
	if (check_page(p, page, len) < 0)
		return;
	struct ant_cica_hdr in;
	memcpy(&in, page, sizeof(in));
	if (in.nframes != 1) {
		peer_cut_off(p, "CALL with %u frames (a new call has one)", in.nframes);
		return;
	}
	if (check_data(p, page) < 0)
		return;
	unsigned cap = d->stack->limits.calls_per_peer;
	int over = p->calls_out >= cap;
	struct call *c = call_new(d);
	if (!c) {
		log_error("calls", NULL, "out of memory for a call from %s", peer_name(p));
		return;
	}
	memcpy(c->page, page, in.used);
	c->len = in.used;
	struct ant_cica_hdr *h = hdr_of(c);
	h->id_index = c->index;
	h->id_gen = c->gen;
	h->call_id = (uint64_t)c->gen << 32 | c->index;
	h->caller_pid = (uint32_t)p->pid;
	h->caller_uid = p->uid;
	h->caller_gid = p->gid;
	h->retval = 0;
	h->ret_off = h->ret_size = 0;
	h->trace_len = 0;
	h->pad[0] = h->pad[1] = 0;
	h->reserved = 0;
	h->flags &= ~(ANT_CF_TRACE_FULL | ANT_CF_REPLAY);   /* antd's to set */
	memset(h->trace, 0, sizeof(h->trace));
	ant_cica_trace(c->page, p->server_id);
	struct ant_frame *f = top_of(c);
	f->caller = (uint16_t)p->server_id;
	c->origin = peer_key(p);
	c->origin_server = p->server_id;
	c->origin_gen = p->server_id ? d->servers[p->server_id].cur->gen : 0;
	memset(&c->data, 0, sizeof(c->data));
	adopt_data(d, p, c);
	p->calls_out++;
	if (over) {
		/* Answered at once, and its memory given back: a peer that sends
		 * and never reads cannot make antd hold more than the cap. */
		set_error_text(c, ANT_E_LIMIT, "more than %u calls in flight from this connection "
			       "(limits.calls_per_peer)", cap);
		route_result(d, c, f->callee);
		return;
	}
	if (!stack_may_call(d->stack, p->server_id, f->callee)) {
		log_warn("denied", srv_name(d, p->server_id), "call to %s (op %s) refused: not in calls",
			 srv_name(d, f->callee), f->op);
		fail_now(d, c, ANT_E_DENIED);
		return;
	}
	if (p->kind == PEER_APP && !stack_app_uid_may_call(d->stack, p->uid, f->callee)) {
		log_warn("denied", srv_name(d, f->callee), "call (op %s) from uid %u refused: not in "
			 "app_uids", f->op, (unsigned)p->uid);
		fail_now(d, c, ANT_E_DENIED);
		return;
	}
	enqueue_request(d, c);
}

/* The call p sends back must be one it holds, with every frame below its
 * own unchanged.  Returns the call, or NULL after cutting p off. */
static struct call *held_call(struct peer *p, const unsigned char *page, size_t len, int push)
{
	struct antd *d = p->d;
	if (check_page(p, page, len) < 0)
		return NULL;
	struct ant_cica_hdr in;
	memcpy(&in, page, sizeof(in));
	/* Right after an ADOPT, the call is the one antd just made of it. */
	if (p->adopt_gen == ADOPT_DROP) {
		p->adopt_gen = 0;
		return NULL;   /* the step of a lane call whose app is gone */
	}
	struct call *c = p->adopt_gen ? call_lookup(d, p->adopt_index, p->adopt_gen)
				      : call_lookup(d, in.id_index, in.id_gen);
	p->adopt_gen = 0;
	if (d->stopping && (!c || c->state != CALL_HELD))
		return NULL;   /* its call was failed by the shutdown: nothing to answer */
	if (!c || c->state != CALL_HELD || c->at != p->server_id) {
		peer_cut_off(p, "sent control ICA %u:%u it does not hold", in.id_index, in.id_gen);
		return NULL;
	}
	struct ant_cica_hdr *old = hdr_of(c);
	const struct ant_frame *otop = top_of(c);
	size_t frames_end = (size_t)old->currentp + otop->size;
	struct ant_frame ntop;
	memcpy(&ntop, page + in.currentp, sizeof(ntop));
	if (frames_end > in.used) {
		peer_cut_off(p, "control ICA %u:%u corrupted: shorter than its frames",
			     in.id_index, in.id_gen);
		return NULL;
	}
	int shape_ok = push ? (in.nframes == old->nframes + 1 && ntop.prev == old->currentp)
			    : (in.nframes == old->nframes && in.currentp == old->currentp);
	if (!shape_ok || memcmp(page + old->hdr_size, c->page + old->hdr_size,
				frames_end - old->hdr_size) != 0) {
		peer_cut_off(p, "control ICA %u:%u corrupted: frames below its own changed",
			     in.id_index, in.id_gen);
		return NULL;
	}
	return c;
}

/* Take the peer's new page for c, keeping antd's own header fields. */
static void merge_page(struct call *c, const unsigned char *page)
{
	struct ant_cica_hdr keep = *hdr_of(c);
	struct ant_cica_hdr in;
	memcpy(&in, page, sizeof(in));
	memcpy(c->page, page, in.used);
	struct ant_cica_hdr *h = hdr_of(c);
	h->id_index = keep.id_index;
	h->id_gen = keep.id_gen;
	h->call_id = keep.call_id;
	h->ticket = keep.ticket;
	h->caller_pid = keep.caller_pid;
	h->caller_uid = keep.caller_uid;
	h->caller_gid = keep.caller_gid;
	h->flags = keep.flags;
	h->trace_len = keep.trace_len;
	memcpy(h->trace, keep.trace, sizeof(h->trace));
	h->deadline_ms = keep.deadline_ms;
	h->pad[0] = h->pad[1] = 0;
	h->reserved = 0;
	c->len = in.used;
}

/* A FORWARD (push) or REPLY: the held call, checked, with the server's new
 * page and data ICA taken; NULL after cutting p off. */
static struct call *take_back(struct peer *p, const unsigned char *page, size_t len, int push)
{
	struct call *c = held_call(p, page, len, push);
	if (!c || check_data(p, page) < 0)
		return NULL;
	merge_page(c, page);
	adopt_data(p->d, p, c);
	return c;
}

/* The NEXT a FORWARD or REPLY carries counts whatever becomes of the step
 * (one antd drops, of a lane call whose caller went, too): the server
 * counts on it. */
static void on_forward(struct peer *p, unsigned char *page, size_t len, unsigned mflags)
{
	struct antd *d = p->d;
	struct server *s = &d->servers[p->server_id];
	if (mflags & ANT_MF_NEXT)
		s->cur->want++;
	struct call *c = take_back(p, page, len, 1);
	if (!c) {
		calls_pump(d, s);
		return;
	}
	struct ant_frame *f = top_of(c);
	f->caller = (uint16_t)p->server_id;
	took(s, c);
	unhold(d, s, c);   /* before the replay mark goes: it ends the probation */
	hdr_of(c)->flags &= ~ANT_CF_REPLAY;   /* the next stage gets it for the first time */
	if (!stack_may_call(d->stack, p->server_id, f->callee)) {
		log_warn("denied", s->conf->name, "forward to %s (op %s) refused: not in calls",
			 srv_name(d, f->callee), f->op);
		fail_now(d, c, ANT_E_DENIED);
	} else {
		enqueue_request(d, c);
	}
	calls_pump(d, s);
}

static void on_reply(struct peer *p, unsigned char *page, size_t len, unsigned mflags)
{
	struct antd *d = p->d;
	struct server *s = &d->servers[p->server_id];
	if (mflags & ANT_MF_NEXT)
		s->cur->want++;
	struct call *c = take_back(p, page, len, 0);
	if (!c) {
		calls_pump(d, s);
		return;
	}
	took(s, c);
	unhold(d, s, c);
	hdr_of(c)->flags &= ~ANT_CF_REPLAY;
	s->served++;
	if (hdr_of(c)->retval < 0)
		s->errors++;
	metrics_answered(&s->metrics, ant_cica_current_const(c->page)->op, hdr_of(c)->retval);
	route_result(d, c, p->server_id);
	calls_pump(d, s);
}

struct call *calls_from_lane(struct antd *d, struct server *s, const struct lane_caller *from,
			     const unsigned char *page, int held)
{
	const struct ant_cica_hdr *in = (const void *)page;
	struct call *c = call_new(d);
	if (!c)
		return NULL;
	memcpy(c->page, page, in->used);
	c->len = in->used;
	struct ant_cica_hdr *h = hdr_of(c);
	h->id_index = c->index;
	h->id_gen = c->gen;   /* call_id stays the lane's */
	c->origin = from->key;
	c->origin_server = from->server;
	c->origin_gen = from->gen;
	struct peer *ap = peer_by_key(d, from->key);
	if (ap)
		ap->calls_out++;
	if (held) {
		hold(d, s, c, ANT_M_REQUEST);
	} else {
		c->state = CALL_QUEUED;
		c->at = s->id;
	}
	return c;
}

void calls_enqueue(struct antd *d, struct call *c)
{
	enqueue_request(d, c);
}

/* ADOPT: the request p took from a lane becomes a call antd holds for it;
 * its FORWARD or REPLY comes next. */
static void on_adopt(struct peer *p, unsigned char *page, size_t len, unsigned mflags)
{
	struct antd *d = p->d;
	struct server *s = &d->servers[p->server_id];
	struct ant_cica_hdr in;
	if (len < sizeof(in)) {
		peer_cut_off(p, "ADOPT of %zu bytes", len);
		return;
	}
	memcpy(&in, page, sizeof(in));
	char why[160] = "";
	struct lane_caller from;
	if (!lanes_adopt(d, s, in.id_index, in.id_gen, page, len, &from, why, sizeof(why))) {
		if (why[0])
			peer_cut_off(p, "%s", why);
		else
			p->adopt_gen = ADOPT_DROP;   /* its app is gone: the step that follows goes */
		return;
	}
	struct call *c = calls_from_lane(d, s, &from, page, 1);
	if (!c) {
		log_error("calls", s->conf->name, "out of memory adopting a lane call");
		return;
	}
	if (lanes_cancelled(d, from.key, hdr_of(c)->ticket))
		c->cancelled = 1;
	p->adopt_index = c->index;
	p->adopt_gen = c->gen;
	(void)mflags;
}

static void on_next(struct peer *p, unsigned count)
{
	struct antd *d = p->d;
	struct server *s = &d->servers[p->server_id];
	struct instance *in = p->inst;
	if (in->want + count > ANT_NEXT_CREDIT_MAX) {
		peer_cut_off(p, "asked for %u items at once", in->want + count);
		return;
	}
	in->want += count;
	if (in->phase != INST_READY)
		supervise_event(d, s, in, EV_READY, NULL);
	if (in == s->cur)
		calls_pump(d, s);
}

static void on_alloc(struct peer *p, uint64_t size)
{
	struct antd *d = p->d;
	const struct stack_limits *lim = &d->stack->limits;
	if (p->icas >= lim->icas_per_peer ||
	    p->ica_bytes + size > (uint64_t)lim->ica_bytes_per_peer) {
		/* Refused, not cut off: the peer may release some and go on. */
		log_warn("ica-limit", p->server_id ? srv_name(d, p->server_id) : NULL,
			 "%s asked for a data ICA of %llu bytes holding %u (%zu bytes): refused "
			 "(limits.icas_per_peer %u, ica_bytes_per_peer %ld)", peer_name(p),
			 (unsigned long long)size, p->icas, p->ica_bytes, lim->icas_per_peer,
			 lim->ica_bytes_per_peer);
		struct ant_m_error e = { .code = ANT_E_LIMIT };
		snprintf(e.text, sizeof(e.text), "holds %u data ICAs, %zu bytes: limits.icas_per_peer "
			 "%u, ica_bytes_per_peer %ld", p->icas, p->ica_bytes, lim->icas_per_peer,
			 lim->ica_bytes_per_peer);
		peer_send(p, ANT_M_ERROR, 0, &e, sizeof(e), -1);
		return;
	}
	struct ant_ica_ref ref;
	int fd;
	int r = size ? ica_alloc(&d->icas, (size_t)size, peer_key(p), &ref, &fd) : -EINVAL;
	if (r < 0) {
		struct ant_m_error e = { .code = r == -ENOSPC ? ANT_E_NO_ICA : r };
		snprintf(e.text, sizeof(e.text), "no data ICA of %llu bytes: %s",
			 (unsigned long long)size, strerror(-r));
		peer_send(p, ANT_M_ERROR, 0, &e, sizeof(e), -1);
		return;
	}
	calls_count_hold(d, p, &ref, +1);
	struct ant_m_alloc_ok ok = { .ref = ref };
	peer_send(p, ANT_M_ALLOC_OK, 0, &ok, sizeof(ok), fd);
	/* Make the next areas of this size ahead, when there is nothing to do. */
	if (!ev_is_active(&d->stock_w))
		ev_idle_start(d->loop, &d->stock_w);
}

static void on_release(struct peer *p, const struct ant_ica_ref *ref)
{
	struct antd *d = p->d;
	if (ica_holds(&d->icas, ref, peer_key(p)) < 0) {
		peer_cut_off(p, "released data ICA %u:%u it does not hold", ref->index, ref->gen);
		return;
	}
	calls_count_hold(d, p, ref, -1);
	ica_unhold(&d->icas, ref, peer_key(p));
}

/* ---- cancelling ------------------------------------------------------------ */

/* Tell p at once that its call c ended with ANT_E_CANCELLED: a copy of c
 * brought back to its first frame, without its data ICA (the app keeps
 * whatever hold it had; c itself, and its data, stay with the server). */
static void answer_cancelled(struct antd *d, struct peer *p, struct call *c, const char *where)
{
	static unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	memcpy(page, c->page, hdr_of(c)->used);
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)page;
	while (h->nframes > 1)
		ant_cica_pop(page);
	memset(&h->data, 0, sizeof(h->data));
	h->data_flags = 0;
	char text[128];
	int n = snprintf(text, sizeof(text), "cancelled by the caller %s", where);
	if (ant_cica_set_result(page, ANT_E_CANCELLED, text, n > 0 ? (size_t)n : 0) < 0)
		ant_cica_set_result(page, ANT_E_CANCELLED, NULL, 0);
	peer_send(p, ANT_M_RESULT, 0, page, h->used, -1);
	(void)d;
}

/* The call of p's ticket in flight in antd's table (cancelled ones too if
 * cancelled), or NULL. */
static struct call *app_call(struct peer *p, uint64_t ticket, int cancelled)
{
	struct call_table *t = &p->d->calls;
	uint64_t key = peer_key(p);
	for (uint32_t i = 0; i < t->n; i++) {
		struct call *c = t->c[i];
		if (c && c->gen && c->origin == key && (cancelled || !c->cancelled) &&
		    hdr_of(c)->ticket == ticket)
			return c;
	}
	return NULL;
}

/* An application gives up on its call of that ticket (ANT_M_CANCEL). */
static void on_cancel(struct peer *p, uint64_t ticket)
{
	struct antd *d = p->d;
	struct call *c = app_call(p, ticket, 0);
	if (c) {
		const char *srv = srv_name(d, c->at);
		const char *op = top_of(c)->op;
		char where[96];
		if (c->state == CALL_QUEUED && c->at && hdr_of(c)->nframes == 1) {
			/* No server has seen it: it goes, as if never made. */
			snprintf(where, sizeof(where), "while queued for %s", srv);
			callq_remove(&d->servers[c->at].requests, c);
			answer_cancelled(d, p, c, where);
			log_info("cancel", srv, "control ICA %u:%u (op %s from %s) cancelled while "
				 "queued: dropped", c->index, c->gen, op, peer_name(p));
			call_free(d, c);
			return;
		}
		snprintf(where, sizeof(where), "while %s %s it", srv,
			 c->state == CALL_HELD ? "held" : "had it queued");
		answer_cancelled(d, p, c, where);
		c->cancelled = 1;
		log_info("cancel", srv, "control ICA %u:%u (op %s from %s) cancelled %s: it runs on, "
			 "its result will be dropped and it is not replayed", c->index, c->gen, op,
			 peer_name(p), where);
		return;
	}
	/* In a lane: answered now; its lane result, if any, the app drops. */
	static unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	if (lanes_cancel(d, p, ticket, page)) {
		char text[] = "cancelled by the caller while in a lane";
		if (ant_cica_set_result(page, ANT_E_CANCELLED, text, sizeof(text) - 1) < 0)
			ant_cica_set_result(page, ANT_E_CANCELLED, NULL, 0);
		peer_send(p, ANT_M_RESULT, 0, page, ((struct ant_cica_hdr *)page)->used, -1);
		log_info("cancel", NULL, "%s cancelled ticket %llu in a lane: it runs on, its result "
			 "will be dropped", peer_name(p), (unsigned long long)ticket);
		return;
	}
	/* Not in flight: its result is on its way to p already. */
	log_debug("cancel", NULL, "%s cancelled ticket %llu, already answered", peer_name(p),
		  (unsigned long long)ticket);
}

/* CHECK: the app saw its lane call marked done with no answer in the lane
 * and no sign that antd took it over.  If antd holds it, its answer comes;
 * if not, it was answered already (and the app drops this one) or its
 * server dropped it: the app gets an error, never a wait without end. */
static void on_check(struct peer *p, uint64_t ticket)
{
	if (app_call(p, ticket, 1))
		return;
	static unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	if (ant_cica_init(page, 1, "lane", NULL, 0, ANT_FF_RETURN_NEEDED) < 0)
		return;
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)page;
	h->ticket = ticket;
	h->call_id = ant_lane_call_id(0, ticket);
	/* A server's own call: its frame says so (libant tells its own
	 * results from the returns of stages it forwarded by it). */
	ant_cica_current(page)->caller = (uint16_t)p->server_id;
	char text[] = "no answer: its server marked the call done in its lane without answering";
	if (ant_cica_set_result(page, ANT_E_SERVER_FAILED, text, sizeof(text) - 1) < 0)
		ant_cica_set_result(page, ANT_E_SERVER_FAILED, NULL, 0);
	peer_send(p, ANT_M_RESULT, 0, page, h->used, -1);
	log_warn("lane-no-answer", NULL, "%s: its lane call (ticket %llu) was marked done without "
		 "an answer: answered with %s", peer_name(p), (unsigned long long)ticket,
		 ant_errname(ANT_E_SERVER_FAILED));
}

/* ---- dispatch: the handler of framed peers -------------------------------- */

/* The payload of a fixed-size message, copied out (aligned). */
#define PAYLOAD(type, var, payload) type var; memcpy(&var, payload, sizeof(var))

static void on_call_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	on_call(p, payload, len);
}

static void on_next_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_next, nx, payload);
	if (nx.count == 0 || nx.count > ANT_NEXT_COUNT_MAX)
		peer_cut_off(p, "NEXT for %u items (1 to %u)", nx.count, ANT_NEXT_COUNT_MAX);
	else
		on_next(p, nx.count);
}

static void on_alloc_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_alloc, a, payload);
	on_alloc(p, a.size);
}

static void on_release_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_release, rl, payload);
	on_release(p, &rl.ref);
}

static void on_fired_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_fired, m, payload);
	m.point[sizeof(m.point) - 1] = '\0';
	inject_on_fired(p, &m);
}

static void on_state_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	static struct ant_m_state m;
	memcpy(&m, payload, sizeof(m));
	upgrade_on_state(p, &m);
}

static void on_imported_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_imported, m, payload);
	upgrade_on_imported(p, &m);
}

static void on_version_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_version, m, payload);
	upgrade_on_version(p, &m);
}

static void on_check_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_cancel, m, payload);
	on_check(p, m.ticket);
}

static void on_cancel_msg(struct peer *p, unsigned char *payload, size_t len, unsigned flags)
{
	PAYLOAD(struct ant_m_cancel, cn, payload);
	on_cancel(p, cn.ticket);
}

/* What each message may come from, with which flags, and who takes it.
 * Anything else cuts its sender off. */
static const struct msg_handler {
	unsigned servers_only;   /* not from applications */
	unsigned apps_only;      /* not from servers */
	unsigned spare_ok;       /* also from a warm spare (it takes no work) */
	unsigned flags;          /* ANT_MF_* allowed */
	void (*fn)(struct peer *p, unsigned char *payload, size_t len, unsigned flags);
} handlers[ANT_M_TYPE_MAX] = {
	[ANT_M_CALL] = { .fn = on_call_msg },
	[ANT_M_FORWARD] = { .servers_only = 1, .flags = ANT_MF_NEXT, .fn = on_forward },
	[ANT_M_REPLY] = { .servers_only = 1, .flags = ANT_MF_NEXT, .fn = on_reply },
	[ANT_M_NEXT] = { .servers_only = 1, .spare_ok = 1, .fn = on_next_msg },
	[ANT_M_ALLOC] = { .spare_ok = 1, .fn = on_alloc_msg },
	[ANT_M_RELEASE] = { .spare_ok = 1, .fn = on_release_msg },
	[ANT_M_CANCEL] = { .apps_only = 1, .fn = on_cancel_msg },
	[ANT_M_FIRED] = { .servers_only = 1, .fn = on_fired_msg },
	/* Live upgrade: the new version (in the spare slot) answers too. */
	[ANT_M_STATE] = { .servers_only = 1, .spare_ok = 1, .fn = on_state_msg },
	[ANT_M_IMPORTED] = { .servers_only = 1, .spare_ok = 1, .fn = on_imported_msg },
	[ANT_M_VERSION] = { .servers_only = 1, .spare_ok = 1, .fn = on_version_msg },
	[ANT_M_ADOPT] = { .servers_only = 1, .fn = on_adopt },
	[ANT_M_CHECK] = { .fn = on_check_msg },   /* apps', and servers' own lane calls */
};

void calls_on_message(struct peer *p, unsigned char *buf, size_t n, int fd)
{
	struct ant_msg h;
	memcpy(&h, buf, sizeof(h));
	int is_server = p->kind == PEER_SERVER;
	int spare = is_server && p->inst != p->d->servers[p->server_id].cur;
	const struct msg_handler *m = h.type < ANT_M_TYPE_MAX ? &handlers[h.type] : NULL;

	if (fd >= 0) {   /* peers never send fds to antd */
		close(fd);
		peer_cut_off(p, "sent an fd with %s", ant_msg_name(h.type));
		return;
	}
	if (m && m->fn && spare && !m->spare_ok) {
		peer_cut_off(p, "spare sent %s (a spare takes no work)", ant_msg_name(h.type));
		return;
	}
	if (!m || !m->fn || (m->servers_only && !is_server) || (m->apps_only && is_server) ||
	    (h.flags & ~m->flags)) {
		peer_cut_off(p, "unexpected %s message (flags 0x%x)", ant_msg_name(h.type), h.flags);
		return;
	}
	m->fn(p, buf + sizeof(h), n - sizeof(h), h.flags);
}

/* ---- failures ----------------------------------------------------------------- */

uint64_t calls_server_died(struct antd *d, struct server *s, int counts)
{
	uint64_t blamed = 0;
	struct call_table *t = &d->calls;
	const struct policy *pol = &s->conf->policy;
	lanes_server_died(d, s);   /* what it took from its lanes is held in the table now */
	/* The death is blamed on the call it held only if it held one; with
	 * several, nobody is blamed now and they are replayed one at a time. */
	unsigned held = 0;
	for (uint32_t i = 0; i < t->n; i++)
		held += t->c[i] && t->c[i]->gen && t->c[i]->at == s->id &&
			t->c[i]->state == CALL_HELD;
	if (held != 1)
		counts = 0;
	unsigned requeued = 0;
	struct call *order[64];
	unsigned norder = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		struct call *c = t->c[i];
		if (!c || !c->gen || c->at != s->id)
			continue;
		if (c->state == CALL_RESULTQ && is_own_result(c, s)) {
			callq_remove(&s->results, c);
			call_free(d, c);   /* the instance that asked is gone */
			continue;
		}
		if (c->state != CALL_HELD)
			continue;   /* queued calls wait for the next instance */
		ev_timer_stop(d->loop, &c->deadline);
		const struct ant_frame *f = top_of(c);
		const char *cause = s->cur->kill_why[0] ? s->cur->kill_why : s->last_exit;
		c->kills += counts ? 1 : 0;
		if (counts)
			blamed = c->origin;
		if (c->cancelled) {
			log_info("no-replay", s->conf->name, "control ICA %u:%u (op %s from %s) not "
				 "replayed: its caller cancelled it", c->index, c->gen, f->op,
				 srv_name(d, f->caller));
			c->at = 0;
			set_error_text(c, ANT_E_CANCELLED, "cancelled by its caller; %s failed (%s)",
				       s->conf->name, cause);
			route_result(d, c, s->id);
			continue;
		}
		if (!policy_may_replay(pol, f->op)) {
			log_warn("no-replay", s->conf->name,
				 "control ICA %u:%u (op %s from %s) not replayed (replay %s): fails",
				 c->index, c->gen, f->op, srv_name(d, f->caller),
				 policy_replay_name(pol->replay));
			c->at = 0;
			s->failed++;
			set_error_text(c, ANT_E_SERVER_FAILED, "%s failed (%s); op %s is not replayed",
				       s->conf->name, cause, f->op);
			route_result(d, c, s->id);
			continue;
		}
		if (c->kills >= pol->poison_kills) {
			int hang = strncmp(cause, "hang:", 5) == 0;
			log_error("poison", s->conf->name,
				  "control ICA %u:%u (op %s from %s) killed its server %u times: fails",
				  c->index, c->gen, f->op, srv_name(d, f->caller), c->kills);
			c->at = 0;
			s->failed++;
			set_error_text(c, hang ? ANT_E_DEADLINE : ANT_E_SERVER_FAILED,
				       "poison request: %s failed %u times holding it (last: %s)",
				       s->conf->name, c->kills, cause);
			route_result(d, c, s->id);
			continue;
		}
		/* Replay: antd's own copy, as it was handed over, goes first. */
		log_info("replay", s->conf->name, "control ICA %u:%u (op %s from %s) goes back to the "
			 "head of its %s queue", c->index, c->gen, f->op, srv_name(d, f->caller),
			 c->held_as == ANT_M_REQUEST ? "request" : "result");
		s->replays++;
		hdr_of(c)->flags |= ANT_CF_REPLAY;
		requeued++;
		if (norder < sizeof(order) / sizeof(order[0]))
			order[norder++] = c;
		else
			callq_push_head(c->held_as == ANT_M_REQUEST ? &s->requests : &s->results, c);
		c->state = c->held_as == ANT_M_REQUEST ? CALL_QUEUED : CALL_RESULTQ;
	}
	/* Back at the head of the queues, in the order they were handed over
	 * (call ids grow with time; the table index does not). */
	for (unsigned a = 1; a < norder; a++)
		for (unsigned b = a; b > 0 && order[b - 1]->gen < order[b]->gen; b--) {
			struct call *x = order[b];
			order[b] = order[b - 1];
			order[b - 1] = x;
		}
	for (unsigned a = 0; a < norder; a++)
		callq_push_head(order[a]->held_as == ANT_M_REQUEST ? &s->requests : &s->results,
				order[a]);
	/* A new death starts a new probation (or none): whatever was left of
	 * the last one is in these requeued calls. */
	s->probation = requeued > 1 ? requeued : 0;
	s->cur->want = 0;
	s->held = 0;
	return blamed;
}

void calls_fail_queued(struct antd *d, struct server *s, int error)
{
	struct call_table *t = &d->calls;
	lanes_server_closed(d, s);   /* what waits in its lanes is queued now */
	unsigned failed = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		struct call *c = t->c[i];
		if (!c || !c->gen || c->at != s->id)
			continue;
		if (c->state == CALL_QUEUED) {
			callq_remove(&s->requests, c);
		} else if (c->state == CALL_RESULTQ) {
			callq_remove(&s->results, c);
			if (is_own_result(c, s)) {
				call_free(d, c);
				continue;
			}
		} else {
			continue;
		}
		if ((hdr_of(c)->flags & ANT_CF_REPLAY) && s->probation)
			s->probation--;
		c->at = 0;
		failed++;
		set_error_text(c, error, "%s is %s (%s)", s->conf->name, server_state_name(s->state),
			       s->last_exit[0] ? s->last_exit : "no exit seen");
		route_result(d, c, s->id);
	}
	s->failed += failed;
	if (failed)
		log_warn("call-failed", s->conf->name, "%u queued call(s) failed with %s", failed,
			 ant_errname(error));
}

void calls_on_app_close(struct peer *p, const char *why)
{
	struct antd *d = p->d;
	(void)why;
	lanes_app_gone(d, p);
	/* Calls it made that no server holds yet are dropped (no one would take
	 * their results, and a reconnecting app must not pile up more); those
	 * held go on, their results dropped on arrival (no peer for the key). */
	struct call_table *t = &d->calls;
	uint64_t key = peer_key(p);
	unsigned dropped = 0, cancelled = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		struct call *c = t->c[i];
		if (!c || !c->gen || c->origin != key)
			continue;
		if (c->state != CALL_QUEUED || !c->at || hdr_of(c)->nframes != 1) {
			c->cancelled = 1;   /* held on: no replay for a caller that is gone */
			cancelled++;
			continue;
		}
		callq_remove(&d->servers[c->at].requests, c);
		call_free(d, c);
		dropped++;
	}
	if (dropped || cancelled)
		log_debug("disconnect", NULL, "%s gone: %u queued call(s) dropped, %u held cancelled",
			  peer_name(p), dropped, cancelled);
}

int calls_owed_to(struct antd *d, const struct server *s)
{
	struct call_table *t = &d->calls;
	for (uint32_t i = 0; i < t->n; i++) {
		struct call *c = t->c[i];
		if (!c || !c->gen)
			continue;
		if (c->origin_server == s->id && c->origin_gen == s->cur->gen)
			return 1;   /* its own call, not answered yet */
		/* A stage it forwarded with "return needed", still out. */
		const struct ant_cica_hdr *h = hdr_of(c);
		unsigned off = h->currentp, n = 0;
		while (off && n++ < h->nframes) {
			const struct ant_frame *f = (const struct ant_frame *)(c->page + off);
			if (f->caller == s->id && (f->flags & ANT_FF_RETURN_NEEDED))
				return 1;
			off = f->prev;
		}
	}
	return 0;
}

void calls_fail_all(struct antd *d, int error)
{
	struct call_table *t = &d->calls;
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		d->servers[id].held = 0;
		d->servers[id].cur->want = 0;
	}
	for (uint32_t i = 0; i < t->n; i++) {
		struct call *c = t->c[i];
		if (!c || !c->gen)
			continue;
		if (c->state == CALL_QUEUED)
			callq_remove(&d->servers[c->at].requests, c);
		else if (c->state == CALL_RESULTQ)
			callq_remove(&d->servers[c->at].results, c);
		while (hdr_of(c)->nframes > 1)
			ant_cica_pop(c->page);
		set_error(c, error);
		struct peer *p = c->origin_server ? NULL : peer_by_key(d, c->origin);
		if (p && (top_of(c)->flags & ANT_FF_RETURN_NEEDED))
			deliver(d, p, c, ANT_M_RESULT);
		call_free(d, c);
	}
}
