/* listen.c - antd's two listening sockets: app.sock for applications, control.sock for operators. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ant/errors.h"
#include "antd.h"
#include "lanes.h"
#include "listen.h"
#include "log.h"

static int listen_on(const char *path, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	unlink(path);   /* a stale socket: the lock says nobody owns it */
	mode_t old = umask(0777 & ~mode);
	int r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	/* The umask above gave the socket its mode: no chmod by name after bind,
	 * which a swapped-in symlink could redirect. */
	if (r < 0 || listen(s, 128) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	return s;
}

/* How long accepting pauses when antd is out of file descriptors. */
#define ACCEPT_PAUSE_S 0.1

/*
 * Out of fds (EMFILE, ENFILE): the listening socket stays readable, so
 * accepting again at once would spin and log without end.  Stop listening
 * for a moment instead; the connections wait in the backlog.  Said once per
 * episode, with how many pauses it took when it is over.
 */
static void pause_accepting(struct antd *d, int err)
{
	ev_io_stop(d->loop, &d->app_w);
	ev_io_stop(d->loop, &d->control_w);
	if (!d->accept_pauses)
		log_warn("accept", NULL, "out of file descriptors (%s): not accepting "
			 "connections for %.0f ms at a time", strerror(err), ACCEPT_PAUSE_S * 1000);
	d->accept_pauses++;
	ev_timer_set(&d->accept_timer, ACCEPT_PAUSE_S, 0.);
	ev_timer_start(d->loop, &d->accept_timer);
}

static void on_accept_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct antd *d = w->data;
	if (d->app_listen >= 0)
		ev_io_start(loop, &d->app_w);
	if (d->control_listen >= 0)
		ev_io_start(loop, &d->control_w);
}

/* Application connections of uid (p among them). */
static unsigned conns_of(const struct antd *d, uid_t uid)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < d->npeers; i++)
		n += d->peers[i] && d->peers[i]->kind == PEER_APP && d->peers[i]->uid == uid;
	return n;
}

/* One user may not take every fd antd has: past limits.connections_per_user
 * a connection is refused with ANT_E_LIMIT (said in the log at 1, 2, 4, 8...
 * refusals, not for each). */
static int over_conns(struct antd *d, struct peer *p)
{
	unsigned limit = d->stack->limits.conns_per_uid;
	if (conns_of(d, p->uid) <= limit)
		return 0;
	d->conns_refused++;
	if ((d->conns_refused & (d->conns_refused - 1)) == 0)
		log_warn("limit", NULL, "connection of uid %u refused: over limits.connections_per_user "
			 "(%u); %llu refused so far", (unsigned)p->uid, limit,
			 (unsigned long long)d->conns_refused);
	struct ant_m_error e = { .code = ANT_E_LIMIT };
	snprintf(e.text, sizeof(e.text), "uid %u has %u connections to this stack already "
		 "(limits.connections_per_user)", (unsigned)p->uid, limit);
	peer_send(p, ANT_M_ERROR, 0, &e, sizeof(e), -1);
	peer_close(p, "over its user's connection limit");
	return 1;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct antd *d = w->data;
	int is_control = w == &d->control_w;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			pause_accepting(d, errno);
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept", NULL, "accept on %s: %s",
					 is_control ? "control.sock" : "app.sock", strerror(errno));
			return;
		}
		if (d->accept_pauses) {
			log_info("accept", NULL, "accepting connections again (after %u pauses)",
				 d->accept_pauses);
			d->accept_pauses = 0;
		}
		struct peer *p = peer_new(d, fd, is_control ? PEER_CONTROL : PEER_APP, 0);
		if (!p)
			continue;
		if (is_control) {
			if (p->uid != 0 && p->uid != d->uid) {
				log_warn("denied", NULL, "control connection from uid %u refused",
					 (unsigned)p->uid);
				peer_close(p, "not allowed");
			}
			continue;
		}
		if (!stack_app_may_connect(d->stack, p->uid, p->gid, d->uid)) {
			log_warn("denied", NULL, "app connection from uid %u gid %u refused (apps.uids, "
				 "apps.gids)", (unsigned)p->uid, (unsigned)p->gid);
			peer_close(p, "not allowed");
			continue;
		}
		if (over_conns(d, p))
			continue;
		lanes_app_welcome(d, p);
	}
	(void)loop;
}

void listen_close(struct antd *d)
{
	ev_timer_stop(d->loop, &d->accept_timer);
	if (d->app_listen >= 0) {
		ev_io_stop(d->loop, &d->app_w);
		close(d->app_listen);
		d->app_listen = -1;
		unlink(d->app_path);
	}
	if (d->control_listen >= 0) {
		ev_io_stop(d->loop, &d->control_w);
		close(d->control_listen);
		d->control_listen = -1;
		unlink(d->control_path);
	}
}

int listen_open(struct antd *d, char *err, size_t errlen)
{
	/* Other users reach app.sock only if the stack file names them; antd
	 * checks each one's credentials when it connects. */
	d->app_listen = listen_on(d->app_path,
				  d->stack->napp_uids || d->stack->napp_gids ? 0666 : 0600);
	d->control_listen = d->app_listen >= 0 ? listen_on(d->control_path, 0600) : -1;
	if (d->app_listen < 0 || d->control_listen < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s",
			 d->app_listen < 0 ? d->app_path : d->control_path,
			 strerror(-(d->app_listen < 0 ? d->app_listen : d->control_listen)));
		listen_close(d);
		return -1;
	}
	listen_adopt(d, d->app_listen, d->control_listen);
	return 0;
}

void listen_adopt(struct antd *d, int app_fd, int control_fd)
{
	d->app_listen = app_fd;
	d->control_listen = control_fd;
	ev_timer_init(&d->accept_timer, on_accept_timer, ACCEPT_PAUSE_S, 0.);
	d->accept_timer.data = d;
	ev_io_init(&d->app_w, on_accept, d->app_listen, EV_READ);
	d->app_w.data = d;
	ev_io_start(d->loop, &d->app_w);
	ev_io_init(&d->control_w, on_accept, d->control_listen, EV_READ);
	d->control_w.data = d;
	ev_io_start(d->loop, &d->control_w);
}
