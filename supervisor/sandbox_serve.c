/* sandbox_serve.c - antd's side of each server's seccomp filter: judge the calls outside its allowlist. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "antd.h"
#include "log.h"
/* After ev.h: seccomp.h pulls in elf.h, whose EV_NONE macro would break it. */
#include <seccomp.h>

/*
 * Every syscall outside a server's allowlist stops the server and waits for
 * antd here (SCMP_ACT_NOTIFY).  Before the server says ready, the loader's
 * calls (execve, openat of its libraries...) are let through; after, any
 * such call is a violation: antd names the syscall (it has the number from
 * the kernel, not from the possibly compromised server) and ends the server
 * with SIGSYS, as a seccomp kill would.
 */

static void on_notify(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = w->data;
	int spare = w == &s->spare.notifyw;
	sandbox_serve((struct antd *)ev_userdata(loop), s, spare, w->fd,
		      spare ? s->spare.pid : s->pid, 0);
}

void sandbox_watch(struct antd *d, struct server *s, int spare, int notify_fd)
{
	int *pfd = spare ? &s->spare.notify_fd : &s->notify_fd;
	ev_io *w = spare ? &s->spare.notifyw : &s->notifyw;
	if (*pfd >= 0) {
		ev_io_stop(d->loop, w);
		close(*pfd);
		*pfd = -1;
	}
	if (notify_fd < 0)
		return;
	*pfd = notify_fd;
	ev_io_init(w, on_notify, notify_fd, EV_READ);
	w->data = s;
	ev_io_start(d->loop, w);
}

/* Would sig fail to end pid (caught, ignored or blocked)? */
static int survives(pid_t pid, int sig)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 1;   /* cannot tell: make sure */
	int yes = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long mask;
		if ((sscanf(line, "SigCgt: %llx", &mask) == 1 || sscanf(line, "SigIgn: %llx", &mask) == 1 ||
		     sscanf(line, "SigBlk: %llx", &mask) == 1) && (mask & (1ull << (sig - 1))))
			yes = 1;
	}
	fclose(f);
	return yes;
}

void sandbox_serve(struct antd *d, struct server *s, int spare, int fd, pid_t pid, int starting)
{
	static struct seccomp_notif *req;
	static struct seccomp_notif_resp *resp;
	if (!req && seccomp_notify_alloc(&req, &resp) < 0) {
		log_error("sandbox", s->conf->name, "cannot allocate a seccomp notification");
		return;
	}
	/* Never block antd: receive only what is there. */
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLIN))
		return;
	memset(req, 0, sizeof(*req));
	if (seccomp_notify_receive(fd, req) < 0)
		return;   /* the caller died meanwhile */
	int nr = req->data.nr;
	int ready = starting ? 0 : spare ? s->spare.ready : s->ever_ready;
	memset(resp, 0, sizeof(*resp));
	resp->id = req->id;
	if (!ready && sandbox_loader_allows(&s->conf->sandbox, nr)) {
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		seccomp_notify_respond(fd, resp);
		return;
	}
	const char *name = sandbox_syscall_name(nr);
	snprintf(s->violation, sizeof(s->violation), "sandbox violation: %s (%d)", name, nr);
	s->violations++;
	log_error("sandbox-violation", s->conf->name, "pid %d%s: %s%s", (int)req->pid,
		  spare ? " (spare)" : "", s->violation, ready ? "" : " before it was ready");
	int sig = survives(req->pid, SIGSYS) ? SIGKILL : SIGSYS;
	if (!spare && !starting && s->pid == pid && s->pidfd >= 0) {
		snprintf(s->kill_why, sizeof(s->kill_why), "%s", s->violation);
		s->kill_counts = 1;
		pidfd_send_signal(s->pidfd, sig, NULL, 0);
	} else {
		kill(pid, sig);
	}
	/* The call itself never ran; it fails if the signal somehow does not end it. */
	resp->error = -ENOSYS;
	seccomp_notify_respond(fd, resp);
}
