/* lanes.c - libant's fast path: calls posted in lanes, results and requests taken from them, the bell (docs/fastpath.md). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ant/lane.h"
#include "ant/proto.h"
#include "conn.h"

static uint64_t mono_us(void);

static struct conn_lane *lane_by_id(struct ant_conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nlanes; i++)
		if (c->lanes[i].id == id)
			return &c->lanes[i];
	return NULL;
}

static void lane_close(struct conn_lane *cl)
{
	if (cl->l.bell >= 0)
		close(cl->l.bell);
	ant_lane_unmap(&cl->l);
	close(cl->post_fd);
	close(cl->ack_fd);
}

static void lane_drop(struct ant_conn *c, uint32_t id)
{
	for (unsigned i = 0; i < c->nlanes; i++)
		if (c->lanes[i].id == id) {
			lane_close(&c->lanes[i]);
			c->lanes[i] = c->lanes[--c->nlanes];
			return;
		}
}

static int on_lane(struct ant_conn *c, const struct ant_m_lane *m, int *fds, unsigned nfds)
{
	unsigned role = m->role & ~ANT_LANE_ROLE_RESULTS;
	int sender = role == ANT_LANE_ROLE_SENDER;
	if ((!sender && role != ANT_LANE_ROLE_RECEIVER) || nfds < 2 || m->id == 0 ||
	    (m->role & ~(ANT_LANE_ROLE_RESULTS | 3u)))
		return ANT_E_PROTOCOL;
	lane_drop(c, m->id);   /* a new instance of antd's lane replaces the old */
	if (c->nlanes == c->caplanes) {
		unsigned cap = c->caplanes ? 2 * c->caplanes : 8;
		struct conn_lane *n = realloc(c->lanes, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->lanes = n;
		c->caplanes = cap;
	}
	struct conn_lane *cl = &c->lanes[c->nlanes];
	memset(cl, 0, sizeof(*cl));
	int r = ant_lane_map(&cl->l, fds[0], fds[1], sender ? ANT_LANE_SENDER : ANT_LANE_RECEIVER);
	if (r < 0)
		return r;
	cl->id = m->id;
	cl->role = (int)role;
	cl->results = !!(m->role & ANT_LANE_ROLE_RESULTS);
	c->spin_us = m->spin_us > 1000 ? 1000 : m->spin_us;
	memcpy(&cl->who, &cl->l.ack_hdr->who, sizeof(cl->who));
	cl->peer = m->peer;
	cl->post_fd = fds[0];
	cl->ack_fd = fds[1];
	cl->l.bell = sender && nfds > 2 ? fds[2] : -1;
	if (!sender && nfds > 2)
		close(fds[2]);
	fds[0] = fds[1] = -1;
	if (nfds > 2)
		fds[2] = -1;
	c->nlanes++;
	return 0;
}

int conn_lanes_on_msg(struct ant_conn *c, unsigned type, const void *payload, int *fds,
		      unsigned nfds)
{
	int r = 0;
	switch (type) {
	case ANT_M_BELL:
		if (nfds != 1)
			return ANT_E_PROTOCOL;
		if (c->bell >= 0)
			close(c->bell);
		c->bell = fds[0];
		fds[0] = -1;
		if (!c->rng && getrandom(&c->rng, sizeof(c->rng), 0) != sizeof(c->rng))
			c->rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)c;
		return 0;
	case ANT_M_LANE: {
		struct ant_m_lane m;
		memcpy(&m, payload, sizeof(m));
		r = on_lane(c, &m, fds, nfds);
		break;
	}
	case ANT_M_LANE_DROP: {
		struct ant_m_lane_drop m;
		memcpy(&m, payload, sizeof(m));
		lane_drop(c, m.id);
		break;
	}
	default:
		r = ANT_E_PROTOCOL;
	}
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

void conn_lanes_fini(struct ant_conn *c)
{
	for (unsigned i = 0; i < c->nlanes; i++)
		lane_close(&c->lanes[i]);
	for (unsigned i = 0; i < c->nouts; i++)
		free(c->outs[i].fwd);
	free(c->lanes);
	free(c->outs);
	c->lanes = NULL;
	c->outs = NULL;
	c->nlanes = c->nouts = 0;
	if (c->bell >= 0)
		close(c->bell);
	c->bell = -1;
}

/* xorshift64*: tokens need only be unguessable by a server that never
 * held the call, not cryptographic. */
static uint64_t next_token(struct ant_conn *c)
{
	uint64_t x = c->rng ? c->rng : 0x2545f4914f6cdd1dull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void classify_outs(struct ant_conn *c);

/* Post a call of ours (page, ticket) in our request lane to callee, and
 * remember it (fwd: the held call it forwards, owned from now on). */
static int post_call(struct ant_conn *c, unsigned callee, const void *page, size_t len,
		     uint64_t ticket, struct ant_item *fwd)
{
	struct conn_lane *cl = NULL;
	for (unsigned i = 0; i < c->nlanes; i++)
		if (c->lanes[i].role == ANT_LANE_ROLE_SENDER && !c->lanes[i].results &&
		    c->lanes[i].peer == callee) {
			cl = &c->lanes[i];
			break;
		}
	if (!cl)
		return -ENOENT;
	if (c->nouts == c->capouts) {
		unsigned cap = c->capouts ? 2 * c->capouts : 16;
		struct lane_out *n = realloc(c->outs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->outs = n;
		c->capouts = cap;
	}
	struct ant_lane_slot head = { .kind = ANT_LANE_REQUEST, .ticket = ticket,
				      .token = next_token(c) };
	if (fwd)   /* which held call this forwards (antd: its holder waits, not hangs) */
		head.about = ant_lane_link(fwd->lane_id, fwd->lane_slot, fwd->lane_seq);
	classify_outs(c);   /* before a post may reuse a slot antd marked */
	int r = ant_lane_post(&cl->l, &head, page, len);
	if (r < 0)
		return r;
	c->outs[c->nouts++] = (struct lane_out){
		.ticket = ticket, .token = head.token, .lane = cl->id, .slot = (uint32_t)r,
		.seq = __atomic_load_n(&cl->l.slot[r].seq, __ATOMIC_RELAXED), .fwd = fwd };
	c->lane_calls++;
	return 0;
}

int conn_lanes_call(struct ant_conn *c, unsigned callee, const void *page, size_t len,
		    uint64_t ticket)
{
	return post_call(c, callee, page, len, ticket, NULL);
}

int conn_lanes_forward(struct ant_conn *c, struct ant_item *it, unsigned callee, const char *op,
		       const void *params, size_t nparams, unsigned frame_flags)
{
	/* The next stage as a call of ours with one frame: the callee needs
	 * no frame below its own (its answer comes back here), and this
	 * server keeps its own copy of the call (fwd) to answer it then. */
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	int r = ant_cica_init(page, callee, op, params, nparams,
			      (frame_flags & ANT_FF_IO_WAIT) | ANT_FF_RETURN_NEEDED);
	if (r < 0)
		return r;
	const struct ant_cica_hdr *ih = (const void *)it->page;
	struct ant_cica_hdr *h = (void *)page;
	h->flags = ih->flags & ANT_CF_DIRECT_HINT;
	h->deadline_ms = ih->deadline_ms;
	h->ticket = c->last_ticket + 1;
	struct ant_item *fwd = malloc(sizeof(*fwd));
	if (!fwd)
		return -ENOMEM;
	ant_item_copy(fwd, it);
	r = post_call(c, callee, page, h->used, h->ticket, fwd);
	if (r < 0) {
		free(fwd);
		return r;
	}
	c->last_ticket++;
	/* Still taken in its lane (done only with the answer), but not worked
	 * on here: it does not count against max_inflight meanwhile. */
	if (c->lane_held)
		c->lane_held--;
	it->kind = 0;
	it->lane_id = 0;
	return 0;
}

/* Is (ticket, token) an unanswered lane call?  Then it is answered now
 * (*fwd: the call it forwarded, or NULL). */
static int claim(struct ant_conn *c, uint64_t ticket, const uint64_t *token, struct ant_item **fwd)
{
	for (unsigned i = 0; i < c->nouts; i++)
		if (c->outs[i].ticket == ticket && (!token || c->outs[i].token == *token)) {
			*fwd = c->outs[i].fwd;
			c->outs[i] = c->outs[--c->nouts];
			return 1;
		}
	return 0;
}

/*
 * The answer (res, len bytes, data ICA fd or -1) of a forward comes back:
 * the call it forwarded (fwd, freed here) is handed to the server as a
 * RETURN, with the answer's retval, bytes and data ICA on its own frame,
 * and its way so far in the trace.  Returns 1, or 0 (out of memory: the
 * call stays taken in its lane, and its deadline ends it).
 */
static int fwd_return(struct ant_conn *c, struct ant_item *fwd, const unsigned char *res,
		      size_t len, int fd)
{
	struct ant_cica_hdr rh;
	memcpy(&rh, res, sizeof(rh));
	unsigned char *pg = fwd->page;
	struct ant_cica_hdr *h = (void *)pg;
	const void *bytes = NULL;
	size_t n = 0;
	if (rh.ret_size && (size_t)rh.ret_off + rh.ret_size <= len) {
		bytes = res + rh.ret_off;
		n = rh.ret_size;
	}
	if (ant_cica_set_result(pg, rh.retval, bytes, n) < 0)
		ant_cica_set_result(pg, ANT_E_TOO_BIG, NULL, 0);
	h->data = rh.data;   /* the answer's data ICA, if any (fd with it) */
	h->data_flags = rh.data_flags;
	unsigned last = c->self_id;
	for (unsigned k = 1; k < rh.trace_len && k < sizeof(rh.trace) / sizeof(rh.trace[0]); k++)
		ant_cica_trace(pg, last = rh.trace[k]);   /* its hops past this server */
	if (last != c->self_id)   /* (antd names the receiver of what it delivers) */
		ant_cica_trace(pg, c->self_id);
	struct qmsg *m = malloc(sizeof(*m) + h->used);
	if (!m) {
		free(fwd);
		return 0;
	}
	memset(m, 0, sizeof(*m));
	memcpy(m->page, pg, h->used);
	m->len = h->used;
	m->fd = fd;
	m->type = ANT_M_RESULT;   /* not its own call's: a RETURN (fill_item) */
	m->lane_id = fwd->lane_id;
	m->lane_slot = fwd->lane_slot;
	m->lane_seq = fwd->lane_seq;
	m->lane_token = fwd->lane_token;
	m->lane_taken_us = mono_us();   /* its service time goes on from here */
	TAILQ_INSERT_TAIL(&c->results, m, link);
	c->lane_held++;   /* worked on here again */
	free(fwd);
	return 1;
}

int conn_lanes_claim(struct ant_conn *c, const void *page, size_t len, int *fd)
{
	const struct ant_cica_hdr *h = page;
	if (!(h->call_id >> 63))
		return 1;   /* not a lane call (antd numbers its own calls below 2^63) */
	struct ant_item *fwd = NULL;
	if (!claim(c, h->ticket, NULL, &fwd))
		return 0;
	if (!fwd)
		return 1;
	int taken = *fd;
	*fd = -1;
	if (!fwd_return(c, fwd, page, len, taken) && taken >= 0)
		close(taken);
	return 0;   /* handed on as a RETURN */
}

static struct qmsg *qmsg_new(const struct ant_lane_slot *s, unsigned type)
{
	struct qmsg *m = malloc(sizeof(*m) + s->len);
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	memcpy(m->page, s->page, s->len);
	m->len = s->len;
	m->fd = -1;
	m->type = type;
	return m;
}

/* A slot its sender wrote against the rules: skip it, so that the lane
 * goes on (the call in it is its sender's loss). */
static void skip_slot(struct ant_lane *l, unsigned idx)
{
	uint64_t seq = __atomic_load_n(&l->slot[idx].seq, __ATOMIC_ACQUIRE);
	__atomic_store_n(&l->ack[idx].taken, seq, __ATOMIC_RELEASE);
	ant_lane_done(l, idx, seq);
}

/* The oldest slot posted by the rules (slots written against them are
 * skipped), copied into *s: its index, or < 0 if none. */
static int take_one(struct conn_lane *cl, struct ant_lane_slot *s)
{
	/* Bounded: a sender that tears slots as fast as we skip them gets
	 * its lane looked at again on the next round, not a receiver stuck here. */
	for (unsigned k = 0; k <= 2 * cl->l.nslots; k++) {
		unsigned bad;
		int idx = ant_lane_take(&cl->l, s, &bad);
		if (idx != ANT_LANE_TORN)
			return idx;
		skip_slot(&cl->l, bad);
	}
	return -EAGAIN;
}

static unsigned poll_results(struct ant_conn *c, struct conn_lane *cl)
{
	unsigned n = 0;
	struct ant_lane_slot s;
	for (;;) {
		int idx = take_one(cl, &s);
		if (idx < 0)
			return n;
		ant_lane_done(&cl->l, (unsigned)idx, s.seq);   /* copied out */
		const struct ant_cica_hdr *h = (const void *)s.page;
		struct ant_item *fwd = NULL;
		if (s.kind != ANT_LANE_RESULT ||
		    ant_cica_validate(s.page, s.len, c->nservers) != ANT_CICA_OK || h->nframes != 1 ||
		    h->ticket != s.ticket || h->data.gen || !claim(c, s.ticket, &s.token, &fwd)) {
			c->lane_dropped++;
			continue;   /* not an answer to a call of ours in its lane */
		}
		if (fwd) {
			n += (unsigned)fwd_return(c, fwd, s.page, s.len, -1);
			continue;
		}
		struct qmsg *m = qmsg_new(&s, ANT_M_RESULT);
		if (!m)
			continue;
		ant_cica_trace(m->page, c->is_server ? c->self_id : ANT_PEER_APP);
		m->len = ((struct ant_cica_hdr *)m->page)->used;
		TAILQ_INSERT_TAIL(&c->results, m, link);
		n++;
	}
}

static unsigned poll_requests(struct ant_conn *c, struct conn_lane *cl)
{
	unsigned n = 0;
	struct ant_lane_slot s;
	/* Results before requests: one due on the socket may have come
	 * while a request waited in a lane.  (What comes may be a LANE_DROP:
	 * the lane is looked up again after each message.) */
	uint32_t id = cl->id;
	while (c->awaiting && ant_lane_posted(&cl->l)) {
		uint64_t before = c->received;
		int r = conn_pump_now(c);
		if (!(cl = lane_by_id(c, id)))
			return n;
		if (r < 0 || c->received == before)
			break;
	}
	if (!TAILQ_EMPTY(&c->results))
		return 0;   /* they go first; the lane waits for the next look */
	while (c->lane_held < (c->max_inflight ? c->max_inflight : 1)) {
		int idx = take_one(cl, &s);
		if (idx < 0)
			return n;
		if (s.kind != ANT_LANE_REQUEST || cl->who.to != c->self_id ||
		    ant_lane_request_fix(s.page, s.len, &cl->who, c->nservers, s.ticket) !=
			    ANT_CICA_OK) {
			ant_lane_done(&cl->l, (unsigned)idx, s.seq);   /* its app's garbage */
			c->lane_dropped++;
			continue;
		}
		struct ant_cica_hdr *h = (void *)s.page;
		h->id_index = cl->id;   /* what an ADOPT names */
		h->id_gen = (uint32_t)idx;
		struct qmsg *m = qmsg_new(&s, ANT_M_REQUEST);
		if (!m) {
			ant_lane_done(&cl->l, (unsigned)idx, s.seq);
			continue;
		}
		m->len = h->used;
		m->lane_id = cl->id;
		m->lane_slot = (uint32_t)idx;
		m->lane_seq = s.seq;
		m->lane_token = s.token;
		m->lane_taken_us = mono_us();
		TAILQ_INSERT_TAIL(&c->requests, m, link);
		c->lane_held++;
		n++;
	}
	return n;
}

/*
 * Is the request slot of this unanswered call done, and not by antd?  What
 * antd wrote in the slot (ANT_LANE_F_ANTD) is read once, as soon as the slot
 * is seen done, and kept: the slot is ours to post in again after that, and
 * conn_lanes_call runs this before each post.
 */
static int out_done(struct ant_conn *c, struct lane_out *o)
{
	if (o->antd)
		return 0;
	struct conn_lane *cl = lane_by_id(c, o->lane);
	if (!cl || o->slot >= cl->l.nslots ||
	    __atomic_load_n(&cl->l.ack[o->slot].done, __ATOMIC_ACQUIRE) < o->seq)
		return 0;
	if (__atomic_load_n(&cl->l.slot[o->slot].flags, __ATOMIC_RELAXED) & ANT_LANE_F_ANTD) {
		o->antd = 1;   /* its answer comes on the socket */
		return 0;
	}
	return 1;
}

static void classify_outs(struct ant_conn *c)
{
	for (unsigned i = 0; i < c->nouts; i++)
		(void)out_done(c, &c->outs[i]);
}

static unsigned drain_results(struct ant_conn *c)
{
	unsigned n = 0;
	for (unsigned i = 0; i < c->nlanes; i++)
		if (c->lanes[i].role == ANT_LANE_ROLE_RECEIVER && c->lanes[i].results)
			n += poll_results(c, &c->lanes[i]);
	return n;
}

/*
 * Calls of ours whose request slot is done while no answer came in the
 * lane.  A server publishes its answer before it marks the slot done, so
 * once the slot is seen done, one more look at the result lanes finds the
 * answer if there is one; if not, antd took the call over (its answer comes
 * on the socket) or the server dropped it.  antd is asked once (CHECK) and
 * answers the call if it does not hold it.  Returns the answers found.
 */
static unsigned check_done(struct ant_conn *c)
{
	int any = 0;
	for (unsigned i = 0; i < c->nouts && !any; i++)
		any = !c->outs[i].checked && out_done(c, &c->outs[i]);
	if (!any)
		return 0;
	unsigned n = drain_results(c);
	for (unsigned i = 0; i < c->nouts; i++) {
		struct lane_out *o = &c->outs[i];
		if (o->checked || !out_done(c, o))
			continue;
		struct ant_m_cancel m = { .ticket = o->ticket };
		if (conn_send(c, ANT_M_CHECK, 0, &m, sizeof(m), -1) == 0)
			o->checked = 1;
	}
	return n;
}

unsigned conn_lanes_poll(struct ant_conn *c)
{
	/* Results first (a server's own calls'), then requests. */
	unsigned n = drain_results(c);
	if (c->nouts)
		n += check_done(c);
	if (!c->is_server)
		return n;
	for (unsigned i = 0; i < c->nlanes; i++) {
		struct conn_lane *cl = &c->lanes[i];
		if (cl->role == ANT_LANE_ROLE_RECEIVER && !cl->results)
			n += poll_requests(c, cl);
	}
	return n;
}

static void sleeping(struct ant_conn *c, int on)
{
	for (unsigned i = 0; i < c->nlanes; i++)
		if (c->lanes[i].role == ANT_LANE_ROLE_RECEIVER)
			ant_lane_sleeping(&c->lanes[i].l, on);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int conn_lanes_wait(struct ant_conn *c, int timeout_ms)
{
	/* lane_spin_us: the answer or the next request often comes within a
	 * few microseconds, sooner than a sleep and a wake-up take (and its
	 * sender then rings no bell). */
	if (c->spin_us && timeout_ms != 0) {
		uint64_t spin = c->spin_us;
		if (timeout_ms > 0 && (uint64_t)timeout_ms * 1000u < spin)
			spin = (uint64_t)timeout_ms * 1000u;   /* never past the caller's wait */
		uint64_t end = mono_us() + spin;
		do {
			if (conn_lanes_poll(c))
				return 0;
			for (int k = 0; k < 64; k++)
				cpu_relax();
		} while (mono_us() < end);
	}
	uint64_t before = c->received;
	sleeping(c, 1);
	if (conn_lanes_poll(c) || c->received != before) {
		sleeping(c, 0);
		return 0;   /* something new to look at */
	}
	struct pollfd pfd[2] = { { .fd = c->sock, .events = POLLIN },
				 { .fd = c->bell, .events = POLLIN } };
	/* A peer with calls in lanes looks again every 100 ms: a request marked
	 * done without an answer rings no bell (check_done). */
	int wait = timeout_ms;
	int short_wait = c->nouts && (wait < 0 || wait > 100);
	if (short_wait)
		wait = 100;
	int pr = poll(pfd, 2, wait);
	sleeping(c, 0);
	if (pr < 0)
		return errno == EINTR ? 0 : -errno;
	if (pr == 0)
		return short_wait ? 0 : -ETIMEDOUT;   /* the caller's clock decides */
	if (pfd[1].revents & POLLIN) {
		uint64_t v;
		if (read(c->bell, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
		return conn_pump_now(c);
	return 0;
}

int conn_lanes_reply(struct ant_conn *c, struct ant_item *it)
{
	struct conn_lane *req = lane_by_id(c, it->lane_id);
	struct conn_lane *res = lane_by_id(c, it->lane_id + 1);
	if (req && !res)
		return -ENOENT;   /* antd carries the answer */
	if (!req) {
		/* Its app is gone (antd dropped the lanes): nobody to answer. */
		if (c->lane_held)
			c->lane_held--;
		it->kind = 0;
		it->lane_id = 0;
		return 0;
	}
	const struct ant_cica_hdr *h = (const void *)it->page;
	uint64_t svc = it->lane_taken_us ? mono_us() - it->lane_taken_us : 0;
	struct ant_lane_slot head = { .kind = ANT_LANE_RESULT, .ticket = it->ticket,
				      .token = it->lane_token,
				      .about = it->lane_seq << 8 | it->lane_slot,
				      .svc_us = svc > UINT32_MAX ? UINT32_MAX : (uint32_t)svc };
	int r = ant_lane_post(&res->l, &head, it->page, h->used);
	if (r < 0)
		return r;
	if (h->retval < 0)   /* its header is in the post area, ours to write */
		__atomic_fetch_add(&((struct ant_lane_hdr *)res->l.hdr)->failed, 1, __ATOMIC_RELAXED);
	/* Done only once the answer is published: a death between the two
	 * leaves antd an answered request, which it does not replay. */
	ant_lane_done(&req->l, it->lane_slot, it->lane_seq);
	if (c->lane_held)
		c->lane_held--;
	c->lane_calls++;
	it->kind = 0;
	it->lane_id = 0;
	return 0;
}

int conn_lanes_adopt(struct ant_conn *c, struct ant_item *it)
{
	/* The call as it was taken: its one frame, without the result or the
	 * data ICA an answer may have put on the page since (only this rare
	 * path pays for the copy, not every answer in a lane). */
	unsigned char req[ANT_CICA_SIZE] __attribute__((aligned(8)));
	const struct ant_cica_hdr *ih = (const void *)it->page;
	memcpy(req, it->page, ih->used);
	struct ant_cica_hdr *h = (void *)req;
	const struct ant_frame *f = ant_cica_current_const(req);
	memset(&h->data, 0, sizeof(h->data));
	h->data_flags = 0;
	h->retval = 0;
	h->ret_off = h->ret_size = 0;
	h->used = (uint32_t)h->currentp + f->size;
	int r = conn_send(c, ANT_M_ADOPT, 0, req, h->used, -1);
	if (r < 0)
		return r;
	/* antd marks the slot done as it takes the call over (not us: it
	 * checks that we still hold it). */
	if (c->lane_held)
		c->lane_held--;
	it->lane_id = 0;
	return 0;
}
