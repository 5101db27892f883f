/* peer.c - antd's connections: read and check messages, hand them to their kind's handlers, queue output. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "ant/errors.h"
#include "antd.h"
#include "log.h"
#include "peer.h"

/* A peer that stops reading gets cut off rather than growing antd's memory. */
#define OUT_MAX_MSGS  4096u
#define OUT_MAX_BYTES (16u << 20)
/* Messages handled per wake-up of one peer.  One: the loop is level-triggered,
 * so a peer with more to say is reported again at once, and a call chain (one
 * message per wake-up) is spared the receive that would only say EAGAIN. */
#define READ_BUDGET   1

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);

/* A peer closed by a handler (its fd is gone). */
static int peer_broken(const struct peer *p) { return p->fd < 0; }

void peer_set_handlers(struct antd *d, enum peer_kind kind, const struct peer_handlers *h)
{
	d->handlers[kind] = *h;
}

/* Room for slot idx in the table (NULL up to it).  Returns 0 or -ENOMEM. */
static int peers_reach(struct antd *d, uint32_t idx)
{
	while (idx >= d->npeers) {
		if (d->npeers == d->peers_cap) {
			uint32_t cap = d->peers_cap ? d->peers_cap * 2 : 64;
			struct peer **np = realloc(d->peers, cap * sizeof(*np));
			if (!np)
				return -ENOMEM;
			d->peers = np;
			d->peers_cap = cap;
		}
		d->peers[d->npeers++] = NULL;
	}
	return 0;
}

/* A peer in slot idx (free, and within the table) under gen, reading fd. */
static struct peer *place(struct antd *d, int fd, enum peer_kind kind, unsigned server_id,
			  uint32_t idx, uint32_t gen)
{
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->idx = idx;
	p->gen = gen;
	p->kind = kind;
	p->server_id = server_id;
	p->fd = fd;
	p->d = d;
	p->pid = -1;
	STAILQ_INIT(&p->out);
	d->peers[idx] = p;
	ev_io_init(&p->rio, on_readable, fd, EV_READ);
	p->rio.data = p;
	ev_io_init(&p->wio, on_writable, fd, EV_WRITE);
	p->wio.data = p;
	ev_io_start(d->loop, &p->rio);
	return p;
}

struct peer *peer_new(struct antd *d, int fd, enum peer_kind kind, unsigned server_id)
{
	uint32_t idx;
	for (idx = 0; idx < d->npeers; idx++)
		if (!d->peers[idx])
			break;
	if (peers_reach(d, idx) < 0) {
		close(fd);
		return NULL;
	}
	if (++d->peer_gen == 0)
		d->peer_gen = 1;
	struct peer *p = place(d, fd, kind, server_id, idx, d->peer_gen);
	if (!p) {
		close(fd);
		return NULL;
	}
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (kind != PEER_SERVER && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0) {
		p->pid = cr.pid;
		p->uid = cr.uid;
		p->gid = cr.gid;
	}
	return p;
}

struct peer *peer_adopt(struct antd *d, int fd, enum peer_kind kind, unsigned server_id,
			uint32_t idx, uint32_t gen)
{
	if (gen == 0 || kind < PEER_SERVER || kind >= PEER_KINDS || peers_reach(d, idx) < 0 ||
	    d->peers[idx])
		return NULL;
	return place(d, fd, kind, server_id, idx, gen);
}

struct peer *peer_by_key(struct antd *d, uint64_t key)
{
	return peer_lookup(d->peers, d->npeers, key);
}

const char *peer_name(const struct peer *p)
{
	static char buf[64];
	if (p->kind == PEER_SERVER)
		return p->d->servers[p->server_id].conf->name;
	snprintf(buf, sizeof(buf), "%s pid %d", p->kind == PEER_APP ? "app" : "control",
		 (int)p->pid);
	return buf;
}

static void out_free_all(struct peer *p)
{
	struct outmsg *m;
	while ((m = STAILQ_FIRST(&p->out))) {
		STAILQ_REMOVE_HEAD(&p->out, link);
		for (unsigned i = 0; i < m->nfds; i++)
			close(m->fds[i]);
		free(m);
	}
	p->nout = 0;
	p->out_bytes = 0;
}

void peer_hang_up(struct peer *p)
{
	if (p->fd < 0)
		return;
	ev_io_stop(p->d->loop, &p->wio);
	shutdown(p->fd, SHUT_RDWR);
	/* Its reader sees the end and closes it, outside the caller's stack. */
	ev_feed_event(p->d->loop, &p->rio, EV_READ);
}

int peer_send(struct peer *p, unsigned type, unsigned flags, const void *payload,
	      size_t n, int fd)
{
	return peer_send_fds(p, type, flags, payload, n, &fd, fd >= 0 ? 1 : 0);
}

int peer_send_fds(struct peer *p, unsigned type, unsigned flags, const void *payload,
		  size_t n, const int *fds, unsigned nfds)
{
	if (p->fd < 0)
		return -EPIPE;
	if (nfds > 3)
		return -EINVAL;
	if (STAILQ_EMPTY(&p->out)) {
		int r = ant_msg_send_fds(p->fd, type, flags, payload, n, fds, nfds);
		if (r == 0)
			return 0;
		if (r != -EAGAIN) {
			peer_hang_up(p);
			return r;
		}
	}
	if (p->nout >= OUT_MAX_MSGS || p->out_bytes + n > OUT_MAX_BYTES) {
		log_warn("cut-off", NULL, "%s: not reading its messages (%u queued)",
			 peer_name(p), p->nout);
		peer_hang_up(p);
		return -ENOBUFS;
	}
	struct outmsg *m = malloc(sizeof(*m) + n + sizeof(struct ant_msg));
	if (!m) {
		peer_hang_up(p);
		return -ENOMEM;
	}
	m->nfds = 0;
	for (unsigned i = 0; i < nfds; i++) {
		int dup = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (dup < 0) {
			while (m->nfds)
				close(m->fds[--m->nfds]);
			free(m);
			peer_hang_up(p);
			return -EMFILE;
		}
		m->fds[m->nfds++] = dup;
	}
	struct ant_msg h = { .type = (uint16_t)type, .flags = (uint16_t)flags, .len = 0 };
	memcpy(m->buf, &h, sizeof(h));
	memcpy(m->buf + sizeof(h), payload, n);
	m->len = n;
	STAILQ_INSERT_TAIL(&p->out, m, link);
	p->nout++;
	p->out_bytes += n;
	ev_io_start(p->d->loop, &p->wio);
	return 0;
}

int peer_send_raw(struct peer *p, const void *buf, size_t n)
{
	if (p->fd < 0)
		return -EPIPE;
	if (send(p->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

void peer_send_json(struct peer *p, json_t *o)
{
	/* 15 digits: a value rounded to the ms (secs) prints exactly as that. */
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
	json_decref(o);
	if (!s)
		return;
	int r = peer_send_raw(p, s, strlen(s));
	if (r < 0)
		log_warn("control", NULL, "reply to %s lost: %s", peer_name(p), strerror(-r));
	free(s);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	struct outmsg *m;
	while ((m = STAILQ_FIRST(&p->out))) {
		struct ant_msg h;
		memcpy(&h, m->buf, sizeof(h));
		int r = ant_msg_send_fds(p->fd, h.type, h.flags, m->buf + sizeof(h), m->len,
					 m->fds, m->nfds);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			peer_hang_up(p);
			return;
		}
		STAILQ_REMOVE_HEAD(&p->out, link);
		p->nout--;
		p->out_bytes -= m->len;
		for (unsigned i = 0; i < m->nfds; i++)
			close(m->fds[i]);
		free(m);
	}
	ev_io_stop(loop, w);
}

void peer_welcome(struct peer *p)
{
	peer_welcome_lanes(p, 0);
}

void peer_welcome_lanes(struct peer *p, uint32_t lanes)
{
	const struct stack *st = p->d->stack;
	struct ant_m_welcome w;
	memset(&w, 0, sizeof(w));
	w.version = ANT_PROTO_VERSION;
	w.self_id = (uint16_t)p->server_id;
	w.nservers = (uint16_t)st->nservers;
	w.max_inflight = p->server_id ? st->servers[p->server_id - 1].max_inflight : 0;
	w.lanes = lanes;
	for (unsigned i = 0; i < st->nservers; i++)
		memcpy(w.names[i], st->servers[i].name, ANT_NAME_MAX);
	peer_send(p, ANT_M_WELCOME, 0, &w, sizeof(w), -1);
}

void peer_cut_off(struct peer *p, const char *fmt, ...)
{
	if (p->fd < 0)
		return;   /* cut off or closed already */
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	struct ant_m_error e = { .code = ANT_E_PROTOCOL };
	snprintf(e.text, sizeof(e.text), "cut off: %s", why);
	peer_send(p, ANT_M_ERROR, 0, &e, sizeof(e), -1);
	if (p->kind == PEER_SERVER)
		log_error("cut-off", peer_name(p), "%s: %s",
			  p->inst && p->inst != p->inst->srv->cur ? "spare" : "server", why);
	else
		log_warn("cut-off", NULL, "%s disconnected: %s", peer_name(p), why);
	const struct peer_handlers *h = &p->d->handlers[p->kind];
	if (h->on_fault)
		h->on_fault(p, why);
	peer_close(p, why);
}

void peer_close(struct peer *p, const char *why)
{
	if (!p || p->d->peers[p->idx] != p)
		return;
	struct antd *d = p->d;
	ev_io_stop(d->loop, &p->rio);
	ev_io_stop(d->loop, &p->wio);
	out_free_all(p);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	d->peers[p->idx] = NULL;
	ica_unhold_all(&d->icas, peer_key(p));
	log_debug("disconnect", p->kind == PEER_SERVER ? peer_name(p) : NULL, "%s%s%s",
		  p->kind == PEER_SERVER ? "connection closed" : peer_name(p), ": ", why);
	const struct peer_handlers *h = &d->handlers[p->kind];
	if (h->on_close)
		h->on_close(p, why);
	free(p);
}

void peers_close_all(struct antd *d)
{
	for (uint32_t i = 0; i < d->npeers; i++)
		if (d->peers[i])
			peer_close(d->peers[i], "antd stopping");
}

/* One framed message: its kind's handler, unless the peer is gone by then. */
static void deliver(struct peer *p, unsigned char *buf, size_t n, int fd)
{
	const struct peer_handlers *h = &p->d->handlers[p->kind];
	if (h->on_message) {
		h->on_message(p, buf, n, fd);
		return;
	}
	if (fd >= 0)
		close(fd);
	peer_cut_off(p, "sent %s to a peer that takes no messages", ant_msg_name(((struct ant_msg *)buf)->type));
}

void peer_drain(struct peer *p)
{
	struct antd *d = p->d;
	uint64_t key = peer_key(p);
	static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	for (int i = 0; i < 4096; i++) {
		int fd;
		ssize_t n = ant_msg_recv(p->fd, buf, &fd);
		if (n <= 0)
			return;
		deliver(p, buf, (size_t)n, fd);
		if (!peer_by_key(d, key) || peer_broken(p))
			return;
	}
}

/* A raw datagram (control): NUL-terminated for its handler. */
static void read_raw(struct peer *p)
{
	char buf[4096];
	ssize_t n = recv(p->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		peer_close(p, n == 0 ? "closed" : strerror(errno));
		return;
	}
	buf[n] = '\0';
	const struct peer_handlers *h = &p->d->handlers[p->kind];
	if (h->on_message)
		h->on_message(p, (unsigned char *)buf, (size_t)n, -1);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	struct antd *d = p->d;
	d->events++;
	uint64_t key = peer_key(p);
	if (!d->handlers[p->kind].framed) {
		read_raw(p);
		return;
	}
	static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	for (int i = 0; i < READ_BUDGET; i++) {
		int fd;
		ssize_t n = ant_msg_recv(p->fd, buf, &fd);
		if (n == -EAGAIN || n == -EINTR)
			return;
		if (n == 0 || n == -ECONNRESET || n == -EPIPE) {
			peer_close(p, "closed by peer");
			return;
		}
		if (n == -EPROTO) {
			peer_cut_off(p, "malformed message (bad type, length or fds)");
			return;
		}
		if (n < 0) {
			peer_close(p, strerror((int)-n));
			return;
		}
		deliver(p, buf, (size_t)n, fd);
		/* The handler may have cut this peer off. */
		if (!peer_by_key(d, key) || peer_broken(p))
			return;
	}
	(void)loop;
}
