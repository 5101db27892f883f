/* peer.c - antd's connections: read and check messages, dispatch by peer kind, queue output. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ant/errors.h"
#include "antd.h"
#include "log.h"

/* A peer that stops reading gets cut off rather than growing antd's memory. */
#define OUT_MAX_MSGS  16384u
#define OUT_MAX_BYTES (64u << 20)
/* Messages handled per wake-up of one peer.  One: the loop is level-triggered,
 * so a peer with more to say is reported again at once, and a call chain (one
 * message per wake-up) is spared the receive that would only say EAGAIN. */
#define READ_BUDGET   1

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);

/* A peer closed by a handler (its fd is gone). */
static int peer_broken(const struct peer *p) { return p->fd < 0; }

struct peer *peer_new(struct antd *d, int fd, enum peer_kind kind, unsigned server_id)
{
	uint32_t idx;
	for (idx = 0; idx < d->npeers; idx++)
		if (!d->peers[idx])
			break;
	if (idx == d->npeers) {
		if (d->npeers == d->peers_cap) {
			uint32_t cap = d->peers_cap ? d->peers_cap * 2 : 64;
			struct peer **np = realloc(d->peers, cap * sizeof(*np));
			if (!np) {
				close(fd);
				return NULL;
			}
			d->peers = np;
			d->peers_cap = cap;
		}
		d->peers[d->npeers++] = NULL;
	}
	struct peer *p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		return NULL;
	}
	if (++d->peer_gen == 0)
		d->peer_gen = 1;
	p->idx = idx;
	p->gen = d->peer_gen;
	p->kind = kind;
	p->server_id = server_id;
	p->fd = fd;
	p->d = d;
	p->pid = -1;
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (kind != PEER_SERVER && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0) {
		p->pid = cr.pid;
		p->uid = cr.uid;
		p->gid = cr.gid;
	}
	d->peers[idx] = p;
	ev_io_init(&p->rio, on_readable, fd, EV_READ);
	p->rio.data = p;
	ev_io_init(&p->wio, on_writable, fd, EV_WRITE);
	p->wio.data = p;
	ev_io_start(d->loop, &p->rio);
	return p;
}

struct peer *peer_by_key(struct antd *d, uint64_t key)
{
	uint32_t idx = (uint32_t)(key >> 32), gen = (uint32_t)key;
	if (idx >= d->npeers || !d->peers[idx] || d->peers[idx]->gen != gen)
		return NULL;
	return d->peers[idx];
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
	struct outmsg *m = p->out_h, *n;
	for (; m; m = n) {
		n = m->next;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
	}
	p->out_h = p->out_t = NULL;
	p->nout = 0;
	p->out_bytes = 0;
}

/* Mark for closing and let the read watcher do it outside the caller's stack. */
static void peer_break(struct peer *p)
{
	if (p->fd < 0)
		return;
	ev_io_stop(p->d->loop, &p->wio);
	shutdown(p->fd, SHUT_RDWR);
	ev_feed_event(p->d->loop, &p->rio, EV_READ);
}

int peer_send(struct peer *p, unsigned type, unsigned flags, const void *payload,
	      size_t n, int fd)
{
	if (p->fd < 0)
		return -EPIPE;
	if (!p->out_h) {
		int r = ant_msg_send(p->fd, type, flags, payload, n, fd);
		if (r == 0)
			return 0;
		if (r != -EAGAIN) {
			peer_break(p);
			return r;
		}
	}
	if (p->nout >= OUT_MAX_MSGS || p->out_bytes + n > OUT_MAX_BYTES) {
		log_warn("cut-off", NULL, "%s: not reading its messages (%u queued)",
			 peer_name(p), p->nout);
		peer_break(p);
		return -ENOBUFS;
	}
	struct outmsg *m = malloc(sizeof(*m) + n + sizeof(struct ant_msg));
	if (!m) {
		peer_break(p);
		return -ENOMEM;
	}
	m->next = NULL;
	m->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd >= 0 && m->fd < 0) {
		free(m);
		peer_break(p);
		return -EMFILE;
	}
	struct ant_msg h = { .type = (uint16_t)type, .flags = (uint16_t)flags, .len = 0 };
	memcpy(m->buf, &h, sizeof(h));
	memcpy(m->buf + sizeof(h), payload, n);
	m->len = n;
	if (p->out_t)
		p->out_t->next = m;
	else
		p->out_h = m;
	p->out_t = m;
	p->nout++;
	p->out_bytes += n;
	ev_io_start(p->d->loop, &p->wio);
	return 0;
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	while (p->out_h) {
		struct outmsg *m = p->out_h;
		struct ant_msg h;
		memcpy(&h, m->buf, sizeof(h));
		int r = ant_msg_send(p->fd, h.type, h.flags, m->buf + sizeof(h), m->len, m->fd);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			peer_break(p);
			return;
		}
		p->out_h = m->next;
		if (!p->out_h)
			p->out_t = NULL;
		p->nout--;
		p->out_bytes -= m->len;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
	}
	ev_io_stop(loop, w);
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
	if (p->kind == PEER_SERVER) {
		struct server *s = &d->servers[p->server_id];
		if (s->peer == p) {
			s->peer = NULL;
			s->want = 0;
			/* Alive but unreachable is no use: end it, and let its
			 * exit be handled like any other (replay, restart). */
			if (s->pid > 0 && !s->kill_why[0])
				supervise_disconnected(d, s);
		} else if (s->spare.peer == p) {
			s->spare.peer = NULL;
			s->spare.ready = 0;
			if (s->spare.pid > 0 && s->spare.pidfd >= 0)
				pidfd_send_signal(s->spare.pidfd, SIGKILL, NULL, 0);
		}
		log_debug("disconnect", s->conf->name, "connection closed: %s", why);
	} else if (p->kind == PEER_APP) {
		log_debug("disconnect", NULL, "%s: %s", peer_name(p), why);
		calls_app_gone(d, p);
	}
	free(p);
}

void peers_close_all(struct antd *d)
{
	for (uint32_t i = 0; i < d->npeers; i++)
		if (d->peers[i])
			peer_close(d->peers[i], "antd stopping");
}

/* One checked message from a server or an application. */
static void dispatch(struct peer *p, unsigned char *buf, size_t n, int fd)
{
	struct ant_msg h;
	memcpy(&h, buf, sizeof(h));
	unsigned char *payload = buf + sizeof(h);
	size_t plen = n - sizeof(h);
	int is_server = p->kind == PEER_SERVER;

	if (p->standby && h.type != ANT_M_NEXT && h.type != ANT_M_ALLOC && h.type != ANT_M_RELEASE) {
		if (fd >= 0)
			close(fd);
		antd_cut_off(p, "spare sent %s (a spare takes no work)", ant_msg_name(h.type));
		return;
	}
	if (fd >= 0) {   /* peers never send fds to antd */
		close(fd);
		antd_cut_off(p, "sent an fd with %s", ant_msg_name(h.type));
		return;
	}
	switch (h.type) {
	case ANT_M_CALL:
		if (h.flags & ANT_MF_NEXT)
			break;
		calls_on_call(p, payload, plen);
		return;
	case ANT_M_FORWARD:
		if (!is_server)
			break;
		calls_on_forward(p, payload, plen, h.flags);
		return;
	case ANT_M_REPLY:
		if (!is_server)
			break;
		calls_on_reply(p, payload, plen, h.flags);
		return;
	case ANT_M_NEXT: {
		if (!is_server || h.flags)
			break;
		struct ant_m_next nx;
		memcpy(&nx, payload, sizeof(nx));
		if (nx.count == 0 || nx.count > 1024)
			break;
		calls_on_next(p, nx.count);
		return;
	}
	case ANT_M_ALLOC: {
		if (h.flags)
			break;
		struct ant_m_alloc a;
		memcpy(&a, payload, sizeof(a));
		calls_on_alloc(p, a.size);
		return;
	}
	case ANT_M_RELEASE: {
		if (h.flags)
			break;
		struct ant_m_release rl;
		memcpy(&rl, payload, sizeof(rl));
		calls_on_release(p, &rl.ref);
		return;
	}
	default:
		break;
	}
	antd_cut_off(p, "unexpected %s message (flags 0x%x)", ant_msg_name(h.type), h.flags);
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
		dispatch(p, buf, (size_t)n, fd);
		if (!peer_by_key(d, key) || peer_broken(p))
			return;
	}
}

static void read_control(struct peer *p)
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
	control_on_message(p, buf, (size_t)n);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	struct antd *d = p->d;
	d->events++;
	uint64_t key = peer_key(p);
	if (p->kind == PEER_CONTROL) {
		read_control(p);
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
			antd_cut_off(p, "malformed message (bad type, length or fds)");
			return;
		}
		if (n < 0) {
			peer_close(p, strerror((int)-n));
			return;
		}
		dispatch(p, buf, (size_t)n, fd);
		/* The handler may have cut this peer off. */
		if (!peer_by_key(d, key) || peer_broken(p))
			return;
	}
	(void)loop;
}
