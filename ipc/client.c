/* client.c - libant's call API: applications call servers, servers take and answer items. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ant/ica_area.h"
#include "ant/proto.h"
#include "conn.h"

const char *ant_default_run_dir(void)
{
	const char *d = getenv("ANT_RUN_DIR");
	return d && *d ? d : NULL;
}

/* Empty q: every message freed, every fd it carried closed. */
static void q_free(struct queue *q)
{
	struct qmsg *m;
	while ((m = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, m, link);
		if (m->fd >= 0)
			close(m->fd);
		free(m);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int conn_send(struct ant_conn *c, unsigned type, unsigned flags,
		    const void *p, size_t n, int fd)
{
	for (;;) {
		int r = ant_msg_send(c->sock, type, flags, p, n, fd);
		if (r != -EAGAIN && r != -EINTR)
			return r;
		struct pollfd pfd = { .fd = c->sock, .events = POLLOUT };
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
	}
}

struct ant_ica *conn_ica_find(struct ant_conn *c, const struct ant_ica_ref *ref)
{
	for (struct ant_ica *i = c->icas; i; i = i->next)
		if (i->ref.index == ref->index && i->ref.gen == ref->gen)
			return i;
	return NULL;
}

/* Forget (unmap, close) a data ICA without telling antd. */
static void ica_drop(struct ant_conn *c, struct ant_ica *ica)
{
	for (struct ant_ica **pp = &c->icas; *pp; pp = &(*pp)->next) {
		if (*pp == ica) {
			*pp = ica->next;
			break;
		}
	}
	if (ica->addr)
		munmap(ica->addr, ica->size);
	if (ica->fd >= 0)
		close(ica->fd);
	free(ica);
}

/* Hold an ICA fd (consumes fd), mapped if map. */
int conn_ica_adopt(struct ant_conn *c, const struct ant_ica_ref *ref, int fd,
			int writable, int map, struct ant_ica **out)
{
	struct ant_ica *ica = calloc(1, sizeof(*ica));
	if (!ica) {
		close(fd);
		return -ENOMEM;
	}
	ica->ref = *ref;
	ica->size = ref->size;
	ica->fd = fd;
	ica->writable = writable;
	int r = map ? ant_area_map(fd, ica->size, writable, &ica->addr) : 0;
	if (r < 0 && writable) {
		/* Sealed read-only by someone along the way. */
		ica->writable = 0;
		r = ant_area_map(fd, ica->size, 0, &ica->addr);
	}
	if (r < 0) {
		ica->addr = NULL;
		close(fd);
		free(ica);
		return r;
	}
	ica->next = c->icas;
	c->icas = ica;
	*out = ica;
	return 0;
}

static int pump_one(struct ant_conn *c, int wait);

/* Receive and sort one message; waits at most timeout_ms (-1 forever). */
static int pump(struct ant_conn *c, int timeout_ms)
{
	if (c->dead)
		return -ECONNRESET;
	/* Waiting forever needs no poll(2): a blocking receive saves a system
	 * call on every message, which is most of a server's work. */
	if (timeout_ms >= 0) {
		struct pollfd pfd = { .fd = c->sock, .events = POLLIN };
		int pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0)
			return errno == EINTR ? 0 : -errno;
		if (pr == 0)
			return -ETIMEDOUT;
	}

	return pump_one(c, timeout_ms < 0);
}

int conn_pump_now(struct ant_conn *c)
{
	return c->dead ? -ECONNRESET : pump_one(c, 0);
}

/* Does a RESULT (page, len bytes, not checked yet) answer a call of this
 * peer's own, and to which server?  A server's RESULT may instead be the
 * return of a stage it forwarded (frames below, or another caller). */
static int own_answer(const struct ant_conn *c, const unsigned char *page, size_t len,
		      unsigned *callee)
{
	struct ant_cica_hdr h;
	struct ant_frame f;
	if (len < sizeof(h))
		return 0;
	memcpy(&h, page, sizeof(h));
	if (h.nframes != 1 || (size_t)h.currentp + sizeof(f) > len)
		return 0;
	memcpy(&f, page + h.currentp, sizeof(f));
	if ((c->is_server && f.caller != c->self_id) || f.callee > ANT_SERVERS_MAX)
		return 0;
	*callee = f.callee;
	return 1;
}

/* Receive and sort one message (blocking, or not). */
static int pump_one(struct ant_conn *c, int wait)
{
	unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	int fds[ANT_MSG_FDS_MAX];
	unsigned nfds = 0;
	ssize_t n = wait ? ant_msg_recv_fds_wait(c->sock, buf, fds, &nfds)
			 : ant_msg_recv_fds(c->sock, buf, fds, &nfds);
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	if (n <= 0) {
		c->dead = 1;
		return n == 0 ? -ECONNRESET : (int)n;
	}
	struct ant_msg h;
	memcpy(&h, buf, sizeof(h));
	const unsigned char *p = buf + sizeof(h);
	size_t plen = (size_t)n - sizeof(h);
	c->received++;
	if (h.type == ANT_M_RESULT && c->is_server && c->awaiting)
		c->awaiting--;
	unsigned callee = 0;
	int own = h.type == ANT_M_RESULT && own_answer(c, p, plen, &callee);
	/* One fewer of our calls through antd is out to that server (a lane
	 * call antd took over keeps its lane call id, at or above 2^63). */
	if (own && !(((const struct ant_cica_hdr *)(const void *)p)->call_id >> 63) &&
	    c->sock_out[callee])
		c->sock_out[callee]--;
	if (h.type == ANT_M_BELL || h.type == ANT_M_LANE || h.type == ANT_M_LANE_DROP) {
		int r = conn_lanes_on_msg(c, h.type, p, fds, nfds);
		if (r == ANT_E_PROTOCOL)
			c->dead = 1;
		return r == ANT_E_PROTOCOL ? r : 0;   /* a lane we cannot map: slow path */
	}
	if (nfds > 1) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		c->dead = 1;
		return ANT_E_PROTOCOL;
	}
	int fd = nfds ? fds[0] : -1;

	switch (h.type) {
	case ANT_M_REQUEST:
	case ANT_M_RESULT: {
		/* antd sent it against our NEXT, whatever becomes of it here (a
		 * server that counted a dropped answer as still owed would never
		 * ask again, and antd would never send it anything more). */
		if (c->credit && c->is_server)
			c->credit--;
		if (own && !conn_lanes_claim(c, p, plen, &fd)) {
			if (fd >= 0)
				close(fd);
			return 0;   /* a lane call answered already */
		}
		/* Only the used part of the page travels and is copied: every
		 * byte below `used` was written by antd. */
		struct qmsg *m = malloc(sizeof(*m) + plen);
		if (!m) {
			if (fd >= 0)
				close(fd);
			return -ENOMEM;
		}
		memcpy(m->page, p, plen);
		m->len = plen;
		m->lane_id = m->lane_slot = 0;   /* not from a lane */
		m->lane_seq = m->lane_token = 0;
		m->fd = fd;
		m->type = h.type;
		TAILQ_INSERT_TAIL(h.type == ANT_M_REQUEST ? &c->requests : &c->results, m, link);
		return 0;
	}
	case ANT_M_ALLOC_OK:
		if (c->alloc_state != 1 || fd < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		memcpy(&c->alloc_ok, p, sizeof(c->alloc_ok));
		c->alloc_fd = fd;
		c->alloc_state = 2;
		return 0;
	case ANT_M_ERROR: {
		struct ant_m_error e;
		memcpy(&e, p, sizeof(e));
		if (c->alloc_state == 1) {
			c->alloc_err = e.code < 0 ? e.code : ANT_E_PROTOCOL;
			c->alloc_state = 3;
			return 0;
		}
		c->dead = 1;
		return e.code < 0 ? e.code : ANT_E_PROTOCOL;
	}
	case ANT_M_WELCOME:
		if (fd >= 0)
			close(fd);
		return 0;   /* only expected once, at connect */
	case ANT_M_FAULT: {
		struct ant_m_fault f;
		memcpy(&f, p, sizeof(f));
		if (c->is_server)
			fp_on_fault(c, &f);
		return 0;
	}
	case ANT_M_EXPORT: {
		struct ant_m_export ex;
		memcpy(&ex, p, sizeof(ex));
		if (c->is_server)
			state_on_export(c, ex.seq);
		return 0;
	}
	case ANT_M_IMPORT_ICA: {
		struct ant_m_import_ica im;
		memcpy(&im, p, sizeof(im));
		if (!c->is_server || fd < 0) {
			if (fd >= 0)
				close(fd);
			return 0;
		}
		return state_on_area(c, &im.ref, fd);
	}
	case ANT_M_IMPORT: {
		struct ant_m_import im;
		memcpy(&im, p, sizeof(im));
		if (c->is_server)
			state_on_import(c, &im);
		return 0;
	}
	case ANT_M_FAULT_CLEAR: {
		struct ant_m_fault_clear fc;
		memcpy(&fc, p, sizeof(fc));
		fp_on_clear(c, fc.id);
		return 0;
	}
	default:
		break;
	}
	if (fd >= 0)
		close(fd);
	c->dead = 1;
	return ANT_E_PROTOCOL;
}

static int wait_welcome(struct ant_conn *c)
{
	unsigned char buf[ANT_MSG_MAX];
	struct pollfd pfd = { .fd = c->sock, .events = POLLIN };
	int pr = poll(&pfd, 1, 10000);
	if (pr <= 0)
		return pr == 0 ? -ETIMEDOUT : -errno;
	int fd;
	ssize_t n = ant_msg_recv(c->sock, buf, &fd);
	if (fd >= 0)
		close(fd);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return (int)n;
	struct ant_msg h;
	memcpy(&h, buf, sizeof(h));
	if (h.type == ANT_M_ERROR) {
		struct ant_m_error e;
		memcpy(&e, buf + sizeof(h), sizeof(e));
		return e.code < 0 ? e.code : ANT_E_PROTOCOL;
	}
	if (h.type != ANT_M_WELCOME)
		return ANT_E_PROTOCOL;
	struct ant_m_welcome w;
	memcpy(&w, buf + sizeof(h), sizeof(w));
	if (w.version != ANT_PROTO_VERSION || w.nservers > ANT_SERVERS_MAX)
		return ANT_E_PROTOCOL;
	c->self_id = w.self_id;
	c->nservers = w.nservers;
	c->max_inflight = w.max_inflight;
	memcpy(c->names, w.names, sizeof(c->names));
	for (unsigned i = 0; i < ANT_SERVERS_MAX; i++)
		c->names[i][ANT_NAME_MAX - 1] = '\0';
	/* The fast path's bell and lanes follow at once: take them before the
	 * first call, so that it can go in a lane. */
	if (w.lanes > 2 * ANT_SERVERS_MAX)
		return ANT_E_PROTOCOL;
	for (unsigned k = 0; k < w.lanes + 1 && w.lanes; k++) {
		struct pollfd lp = { .fd = c->sock, .events = POLLIN };
		if (poll(&lp, 1, 10000) <= 0)
			return -ETIMEDOUT;
		int r = conn_pump_now(c);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct ant_conn *conn_new(int sock, int is_server)
{
	struct ant_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->sock = sock;
	c->is_server = is_server;
	c->alloc_fd = -1;
	c->bell = -1;
	TAILQ_INIT(&c->results);
	TAILQ_INIT(&c->requests);
	return c;
}

int ant_sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	return s;
}

int ant_connect(const char *run_dir, struct ant_conn **out)
{
	*out = NULL;
	if (!run_dir)
		run_dir = ant_default_run_dir();
	if (!run_dir)
		return -EINVAL;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int len = snprintf(path, sizeof(path), "%s/app.sock", run_dir);
	if (len < 0 || (size_t)len >= sizeof(path))
		return -ENAMETOOLONG;
	int s = ant_sock_connect(path);
	if (s < 0)
		return s;
	struct ant_conn *c = conn_new(s, 0);
	if (!c) {
		close(s);
		return -ENOMEM;
	}
	int r = wait_welcome(c);
	if (r < 0) {
		ant_close(c);
		return r;
	}
	*out = c;
	return 0;
}

int ant_server_open(struct ant_conn **out)
{
	*out = NULL;
	const char *s = getenv("ANT_FD");
	if (!s || !*s)
		return -ENOENT;
	char *end;
	errno = 0;
	long fd = strtol(s, &end, 10);
	if (errno || *end || fd < 0 || fd > INT_MAX)
		return -EINVAL;
	int type = 0;
	socklen_t tl = sizeof(type);
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
		return -errno;
	if (type != SOCK_SEQPACKET)
		return -ENOTSOCK;
	struct ant_conn *c = conn_new((int)fd, 1);
	if (!c)
		return -ENOMEM;
	int r = wait_welcome(c);
	if (r < 0) {
		c->sock = -1;  /* not ours to close on failure */
		ant_close(c);
		return r;
	}
	*out = c;
	return 0;
}

void ant_close(struct ant_conn *c)
{
	if (!c)
		return;
	fp_fini(c);
	state_fini(c);
	conn_lanes_fini(c);
	while (c->icas)
		ica_drop(c, c->icas);
	q_free(&c->results);
	q_free(&c->requests);
	if (c->alloc_fd >= 0)
		close(c->alloc_fd);
	if (c->sock >= 0)
		close(c->sock);
	free(c);
}

int ant_fd(const struct ant_conn *c) { return c->sock; }
unsigned ant_self_id(const struct ant_conn *c) { return c->self_id; }
unsigned ant_max_inflight(const struct ant_conn *c) { return c->max_inflight; }
uint64_t ant_fast_calls(const struct ant_conn *c) { return c->lane_calls; }

int ant_server_id(const struct ant_conn *c, const char *name)
{
	if (!name)
		return ANT_E_NO_SERVER;
	for (unsigned i = 0; i < c->nservers; i++)
		if (strcmp(c->names[i], name) == 0)
			return (int)i + 1;
	return ANT_E_NO_SERVER;
}

const char *ant_server_name(const struct ant_conn *c, unsigned id)
{
	if (id == 0 || id > c->nservers)
		return NULL;
	return c->names[id - 1];
}

/* ---- data ICAs ---------------------------------------------------------- */

static int ica_alloc(struct ant_conn *c, size_t size, int map, struct ant_ica **out)
{
	*out = NULL;
	if (!size)
		return -EINVAL;
	struct ant_m_alloc a = { .size = size };
	int r = conn_send(c, ANT_M_ALLOC, 0, &a, sizeof(a), -1);
	if (r < 0)
		return r;
	c->alloc_state = 1;
	while (c->alloc_state == 1) {
		r = pump(c, -1);
		if (r < 0) {
			c->alloc_state = 0;
			return r;
		}
	}
	if (c->alloc_state == 3) {
		c->alloc_state = 0;
		return c->alloc_err;
	}
	c->alloc_state = 0;
	int fd = c->alloc_fd;
	c->alloc_fd = -1;
	return conn_ica_adopt(c, &c->alloc_ok.ref, fd, 1, map, out);
}

int ant_ica_alloc(struct ant_conn *c, size_t size, struct ant_ica **out)
{
	return ica_alloc(c, size, 1, out);
}

int ant_ica_alloc_unmapped(struct ant_conn *c, size_t size, struct ant_ica **out)
{
	return ica_alloc(c, size, 0, out);
}

int ant_ica_fd(const struct ant_ica *ica)
{
	return ica->fd;
}

void ant_set_lazy_map(struct ant_conn *c, int lazy)
{
	c->lazy_map = !!lazy;
}

int ant_ica_map(struct ant_conn *c, struct ant_ica *ica)
{
	(void)c;
	if (ica->addr)
		return 0;
	int r = ant_area_map(ica->fd, ica->size, ica->writable, &ica->addr);
	if (r < 0 && ica->writable) {
		ica->writable = 0;   /* sealed read-only by someone along the way */
		r = ant_area_map(ica->fd, ica->size, 0, &ica->addr);
	}
	if (r < 0)
		ica->addr = NULL;
	return r;
}

void ant_ica_release(struct ant_conn *c, struct ant_ica *ica)
{
	if (!ica)
		return;
	struct ant_m_release m = { .ref = ica->ref };
	ica_drop(c, ica);
	(void)conn_send(c, ANT_M_RELEASE, 0, &m, sizeof(m), -1);
}

/* Attach a data ICA to the page about to be sent. */
static int attach_data(struct ant_conn *c, void *page, struct ant_ica *data, unsigned flags)
{
	struct ant_cica_hdr *h = page;
	if (flags & ~ANT_DF_ALL)
		return -EINVAL;
	if (!data) {
		memset(&h->data, 0, sizeof(h->data));
		h->data_flags = 0;
		return 0;
	}
	if (conn_ica_find(c, &data->ref) != data)
		return -EINVAL;
	h->data = data->ref;
	h->data_flags = flags;
	return 0;
}

/* After a send that carried the page's data ICA with ANT_DF_DETACH. */
static void detach_after_send(struct ant_conn *c, const void *page)
{
	const struct ant_cica_hdr *h = page;
	if (h->data.gen && (h->data_flags & ANT_DF_DETACH)) {
		struct ant_ica *ica = conn_ica_find(c, &h->data);
		if (ica)
			ica_drop(c, ica);
	}
}

/* ---- calls -------------------------------------------------------------- */

static int resolve_server(const struct ant_conn *c, const char *name, unsigned id)
{
	if (name)
		return ant_server_id(c, name);
	if (id == 0 || id > c->nservers)
		return ANT_E_NO_SERVER;
	return (int)id;
}

int ant_call_async(struct ant_conn *c, const struct ant_call *call, uint64_t *ticket)
{
	if (c->dead)
		return -ECONNRESET;
	int callee = resolve_server(c, call->server, call->server_id);
	if (callee < 0)
		return callee;
	if ((call->call_flags & ~ANT_CF_DIRECT_HINT) || (call->frame_flags & ~ANT_FF_ALL))
		return -EINVAL;
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	unsigned ff = ANT_FF_RETURN_NEEDED | (call->frame_flags & ANT_FF_IO_WAIT);
	if (!c->is_server)
		ff |= ANT_FF_SYNC & call->frame_flags;
	int r = ant_cica_init(page, (unsigned)callee, call->op, call->arg, call->arglen, ff);
	if (r < 0)
		return r;
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)page;
	h->flags = call->call_flags;
	h->deadline_ms = call->deadline_ms;
	h->ticket = ++c->last_ticket;
	r = attach_data(c, page, call->data, call->data_flags);
	if (r < 0)
		return r;
	if (c->nlanes && !call->data && !c->sock_out[callee] &&
	    conn_lanes_call(c, (unsigned)callee, page, h->used, h->ticket) == 0) {
		if (ticket)
			*ticket = h->ticket;
		return 0;
	}
	r = conn_send(c, ANT_M_CALL, 0, page, h->used, -1);
	if (r < 0)
		return r;
	c->sock_out[callee]++;
	if (c->is_server)
		c->awaiting++;
	detach_after_send(c, page);
	if (ticket)
		*ticket = h->ticket;
	return 0;
}

/* Resolve the data ICA a received page carries: map the fd that came with
 * it, or find the one this process holds already. */
static int take_data(struct ant_conn *c, struct qmsg *m, struct ant_ica **out)
{
	const struct ant_cica_hdr *h = (const void *)m->page;
	*out = NULL;
	if (!h->data.gen) {
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		return 0;
	}
	struct ant_ica *held = conn_ica_find(c, &h->data);
	if (held) {
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		*out = held;
		return 0;
	}
	if (m->fd < 0) {
		/* antd sends an ICA's fd once, with the first message that carries
		 * it; that message may still be queued behind this one. */
		struct queue *qs[2] = { &c->results, &c->requests };
		for (int k = 0; k < 2 && m->fd < 0; k++) {
			struct qmsg *o;
			TAILQ_FOREACH(o, qs[k], link) {
				const struct ant_cica_hdr *oh = (const void *)o->page;
				if (o->fd >= 0 && oh->data.index == h->data.index &&
				    oh->data.gen == h->data.gen) {
					m->fd = o->fd;
					o->fd = -1;
					break;
				}
			}
		}
		if (m->fd < 0)
			return ANT_E_PROTOCOL;
	}
	int fd = m->fd;
	m->fd = -1;
	return conn_ica_adopt(c, &h->data, fd, !(h->data_flags & ANT_DF_RO), !c->lazy_map, out);
}

static void fill_result(struct ant_conn *c, struct qmsg *m, struct ant_result *res)
{
	memcpy(res->page, m->page, m->len);
	const struct ant_cica_hdr *h = (const void *)res->page;
	res->ticket = h->ticket;
	res->retval = h->retval;
	res->bytes = h->ret_size ? res->page + h->ret_off : NULL;
	res->len = h->ret_size;
	res->trace = h->trace;
	res->trace_len = h->trace_len;
	res->data = NULL;
	int r = take_data(c, m, &res->data);
	if (r < 0 && res->retval >= 0)
		res->retval = r;
}

/* Is a RESULT message the result of this peer's own call (not a RETURN)? */
static int is_own_result(const struct ant_conn *c, const struct qmsg *m)
{
	/* antd writes every frame's caller; a call this peer made has it as the
	 * caller of its only frame (even when it called itself and was denied). */
	const struct ant_cica_hdr *h = (const void *)m->page;
	const struct ant_frame *f = ant_cica_current_const(m->page);
	return h->nframes == 1 && f->caller == c->self_id;
}

/* Ask antd for one more item unless a request for one is outstanding. */
static int want_next(struct ant_conn *c)
{
	if (!c->is_server || c->credit)
		return 0;
	struct ant_m_next n = { .count = 1 };
	int r = conn_send(c, ANT_M_NEXT, 0, &n, sizeof(n), -1);
	if (r == 0)
		c->credit++;
	return r;
}

/* Which queued message a waiter wants, and its queue; NULL if none yet. */
typedef struct qmsg *pick_fn(struct ant_conn *c, uint64_t ticket, struct queue **q);

/* Wait until pick finds a message (asking antd for an item first when
 * serving), at most timeout_ms (-1 forever), and take it out of its queue:
 * *out is then the caller's to free.  Returns 0, -ETIMEDOUT, or another
 * error of the connection. */
static int await_msg(struct ant_conn *c, int timeout_ms, pick_fn *pick, uint64_t ticket,
		     struct qmsg **out)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
	for (;;) {
		struct queue *q;
		if (c->nlanes)
			conn_lanes_poll(c);
		struct qmsg *m = pick(c, ticket, &q);
		if (m) {
			TAILQ_REMOVE(q, m, link);
			*out = m;
			return 0;
		}
		int left = -1;
		if (deadline >= 0) {
			int64_t l = deadline - now_ms();
			if (l <= 0)
				return -ETIMEDOUT;
			left = (int)l;   /* at most the int timeout it came from */
		}
		int r = want_next(c);
		if (r < 0)
			return r;
		r = c->bell >= 0 ? conn_lanes_wait(c, left) : pump(c, left);
		if (r < 0 && r != -ETIMEDOUT)   /* the next round tells the deadline */
			return r;
	}
}

/* The first result of this peer's own calls (any, or the one of ticket). */
static struct qmsg *pick_result(struct ant_conn *c, uint64_t ticket, struct queue **q)
{
	struct qmsg *m;
	*q = &c->results;
	TAILQ_FOREACH(m, &c->results, link) {
		const struct ant_cica_hdr *h = (const void *)m->page;
		if (c->is_server && !is_own_result(c, m))
			continue;
		if (ticket && h->ticket != ticket)
			continue;
		return m;
	}
	return NULL;
}

int ant_wait(struct ant_conn *c, uint64_t ticket, struct ant_result *res, int timeout_ms)
{
	struct qmsg *m;
	int r = await_msg(c, timeout_ms, pick_result, ticket, &m);
	if (r < 0)
		return r;
	fill_result(c, m, res);
	free(m);
	return 0;
}

int ant_cancel(struct ant_conn *c, uint64_t ticket)
{
	if (c->dead)
		return -ECONNRESET;
	if (c->is_server || ticket == 0 || ticket > c->last_ticket)
		return -EINVAL;
	struct ant_m_cancel m = { .ticket = ticket };
	return conn_send(c, ANT_M_CANCEL, 0, &m, sizeof(m), -1);
}

int ant_call_sync(struct ant_conn *c, const struct ant_call *call, struct ant_result *res)
{
	uint64_t t;
	struct ant_call cc = *call;
	cc.frame_flags |= ANT_FF_SYNC;
	int r = ant_call_async(c, &cc, &t);
	if (r < 0)
		return r;
	r = ant_wait(c, t, res, -1);
	if (r < 0)
		return r;
	return res->retval;
}

/* ---- serving ------------------------------------------------------------ */

static void fill_item(struct ant_conn *c, struct qmsg *m, struct ant_item *it)
{
	memset(it, 0, offsetof(struct ant_item, page));
	memcpy(it->page, m->page, m->len);
	const struct ant_cica_hdr *h = (const void *)it->page;
	const struct ant_frame *f = ant_cica_current_const(it->page);
	if (m->type == ANT_M_REQUEST)
		it->kind = ANT_ITEM_REQUEST;
	else
		it->kind = is_own_result(c, m) ? ANT_ITEM_RESULT : ANT_ITEM_RETURN;
	it->caller = f->caller;
	it->op = f->op;
	it->params = f->param_size ? it->page + f->param_off : NULL;
	it->nparams = f->param_size;
	it->data_flags = h->data_flags;
	it->ticket = h->ticket;
	it->replay = !!(h->flags & ANT_CF_REPLAY);
	it->call_id = h->call_id;
	if (it->kind != ANT_ITEM_REQUEST) {
		it->retval = h->retval;
		it->ret = h->ret_size ? it->page + h->ret_off : NULL;
		it->ret_len = h->ret_size;
	}
	it->lane_id = m->lane_id;
	it->lane_slot = m->lane_slot;
	it->lane_seq = m->lane_seq;
	it->lane_token = m->lane_token;
	it->lane_taken_us = m->lane_taken_us;
	int r = take_data(c, m, &it->data);
	if (r < 0 && it->kind != ANT_ITEM_REQUEST && it->retval >= 0)
		it->retval = r;
}

void ant_item_copy(struct ant_item *dst, const struct ant_item *src)
{
	*dst = *src;
	const unsigned char *base = src->page;
	if (src->op)
		dst->op = (const char *)dst->page + ((const unsigned char *)src->op - base);
	if (src->params)
		dst->params = dst->page + ((const unsigned char *)src->params - base);
	if (src->ret)
		dst->ret = dst->page + ((const unsigned char *)src->ret - base);
}

/* A server's next item: results before requests (the paper, section 3.3.3). */
static struct qmsg *pick_item(struct ant_conn *c, uint64_t ticket, struct queue **q)
{
	(void)ticket;
	*q = TAILQ_EMPTY(&c->results) ? &c->requests : &c->results;
	return TAILQ_FIRST(*q);
}

int ant_next(struct ant_conn *c, struct ant_item *it, int timeout_ms)
{
	for (;;) {
		struct qmsg *m;
		int r = await_msg(c, timeout_ms, pick_item, 0, &m);
		if (r < 0)
			return r;
		fill_item(c, m, it);
		free(m);
		/* A fault antd armed for this request acts now; drop hides it. */
		if (!FP_ARMED(c) || it->kind != ANT_ITEM_REQUEST || !fp_on_take(c, it))
			return 0;
	}
}

/* Send the held page back to antd; asks for the next item on the way when
 * nothing is buffered, which saves the NEXT message of a serving loop. */
static int send_held(struct ant_conn *c, unsigned type, struct ant_item *it)
{
	const struct ant_cica_hdr *h = (const void *)it->page;
	unsigned flags = 0;
	if (!c->credit && TAILQ_EMPTY(&c->requests) && TAILQ_EMPTY(&c->results))
		flags |= ANT_MF_NEXT;
	int r = conn_send(c, type, flags, it->page, h->used, -1);
	if (r < 0)
		return r;
	if (flags & ANT_MF_NEXT)
		c->credit++;
	detach_after_send(c, it->page);
	it->kind = 0;   /* no longer held */
	return 0;
}

struct ant_ica *ant_item_take_data(struct ant_item *it)
{
	struct ant_ica *d = it->data;
	struct ant_cica_hdr *h = (void *)it->page;
	it->data = NULL;
	memset(&h->data, 0, sizeof(h->data));
	h->data_flags = 0;
	return d;
}

int ant_reply(struct ant_conn *c, struct ant_item *it, int32_t retval,
	      const void *bytes, size_t n, struct ant_ica *data, unsigned data_flags)
{
	if (it->kind != ANT_ITEM_REQUEST && it->kind != ANT_ITEM_RETURN)
		return -EINVAL;
	struct ant_cica_hdr *h = (void *)it->page;
	int r;
	if (data)
		r = attach_data(c, it->page, data, data_flags);
	else if (h->data.gen)
		r = attach_data(c, it->page, conn_ica_find(c, &h->data), data_flags);
	else
		r = 0;
	if (r < 0)
		return r;
	r = ant_cica_set_result(it->page, retval, bytes, n);
	if (r < 0)
		return r;
	if (FP_ARMED(c))
		fp_on_send(c, it, data ? data : (h->data.gen ? conn_ica_find(c, &h->data) : NULL));
	if (it->lane_id) {
		/* An answer without a data ICA goes back in the lane; anything
		 * else (or a full lane) goes through antd. */
		if (!h->data.gen && conn_lanes_reply(c, it) == 0)
			return 0;
		r = conn_lanes_adopt(c, it);
		if (r < 0)
			return r;
	}
	return send_held(c, ANT_M_REPLY, it);
}

int ant_forward(struct ant_conn *c, struct ant_item *it, const struct ant_forward *fw)
{
	if (it->kind != ANT_ITEM_REQUEST && it->kind != ANT_ITEM_RETURN)
		return -EINVAL;
	int callee = resolve_server(c, fw->server, fw->server_id);
	if (callee < 0)
		return callee;
	const struct ant_frame *f = ant_cica_current_const(it->page);
	const char *op = fw->op ? fw->op : f->op;
	const void *params = fw->params;
	size_t np = fw->nparams;
	unsigned char same[ANT_CICA_SIZE];
	if (!params && !np && f->param_size) {
		memcpy(same, it->page + f->param_off, f->param_size);
		params = same;
		np = f->param_size;
	}
	char opbuf[ANT_OP_MAX];
	snprintf(opbuf, sizeof(opbuf), "%s", op);
	unsigned ff = (fw->frame_flags & ANT_FF_IO_WAIT) |
		      (fw->return_needed ? ANT_FF_RETURN_NEEDED : 0);
	/* A stage whose result comes back here, without a data ICA, of a call
	 * held from a lane: in this server's lane to the callee, unless a call
	 * of its own to it is out through antd (it would overtake it). */
	if (it->lane_id && fw->return_needed && !fw->data && !FP_ARMED(c) &&
	    !((const struct ant_cica_hdr *)it->page)->data.gen && !c->sock_out[callee] &&
	    conn_lanes_forward(c, it, (unsigned)callee, opbuf, params, np, ff) == 0)
		return 0;
	if (it->lane_id) {
		/* Anything else: antd takes the call over. */
		int r = conn_lanes_adopt(c, it);
		if (r < 0)
			return r;
	}
	int r = ant_cica_push(it->page, (unsigned)callee, opbuf, params, np, ff);
	if (r < 0)
		return r;
	struct ant_cica_hdr *h = (void *)it->page;
	if (fw->data)
		r = attach_data(c, it->page, fw->data, fw->data_flags);
	else if (h->data.gen)
		r = attach_data(c, it->page, conn_ica_find(c, &h->data), fw->data_flags);
	if (r < 0)
		return r;
	if (FP_ARMED(c))
		fp_on_send(c, it, fw->data ? fw->data : (h->data.gen ? conn_ica_find(c, &h->data) : NULL));
	r = send_held(c, ANT_M_FORWARD, it);
	if (r == 0 && fw->return_needed)
		c->awaiting++;
	return r;
}
