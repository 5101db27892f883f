/* sandbox_serve.c - antd's side of each server's seccomp filter: judge the calls outside its allowlist. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "antd.h"
#include "log.h"
#include "sandbox_serve.h"
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

static void serve(struct antd *d, struct instance *in);

/*
 * Closing a dead server's notification fd frees its seccomp filter, the
 * kernel's compiled BPF image with it: 60-160 us here, and milliseconds now
 * and then, right on the way from a death to its failover.  A thread of
 * antd's own closes them instead (it only reads fd numbers and closes them:
 * no lock, no allocation).  If it cannot be started, antd closes them itself.
 */
static int closer_fd = -1;   /* the write end of its pipe */

static void *closer(void *arg)
{
	int rd = (int)(intptr_t)arg, fd;
	/* Only when a CPU has nothing else to do: never ahead of antd or a
	 * server (a wake-up of it would otherwise preempt antd mid-failover). */
	struct sched_param sp = { 0 };
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	while (read(rd, &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
		close(fd);
	return NULL;
}

/* Start the closer (once; with the first notification fd antd watches, so
 * that its pipe is there from the start, not made on the way to a failover). */
static void closer_start(void)
{
	static int tried;
	if (tried)
		return;
	tried = 1;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	/* A full pipe never blocks antd: it closes that fd itself. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	if (pthread_create(&t, &a, closer, (void *)(intptr_t)p[0]) == 0) {
		closer_fd = p[1];
	} else {
		close(p[0]);
		close(p[1]);
	}
	pthread_attr_destroy(&a);
}

static void close_later(int fd)
{
	if (closer_fd < 0 || write(closer_fd, &fd, sizeof(fd)) != (ssize_t)sizeof(fd))
		close(fd);
}

static void on_notify(struct ev_loop *loop, ev_io *w, int revents)
{
	serve((struct antd *)ev_userdata(loop), w->data);
}

void sandbox_watch(struct antd *d, struct instance *in, int notify_fd)
{
	if (in->notify_fd >= 0) {
		ev_io_stop(d->loop, &in->notifyw);
		close_later(in->notify_fd);
		in->notify_fd = -1;
	}
	if (notify_fd < 0)
		return;
	closer_start();
	in->notify_fd = notify_fd;
	ev_io_init(&in->notifyw, on_notify, notify_fd, EV_READ);
	in->notifyw.data = in;
	ev_io_start(d->loop, &in->notifyw);
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

/* Answer the notification waiting on in's fd: a loader call before ready
 * goes on; anything else is a violation, posted as EV_SANDBOX. */
static void serve(struct antd *d, struct instance *in)
{
	static struct seccomp_notif *req;
	static struct seccomp_notif_resp *resp;
	struct server *s = in->srv;
	int fd = in->notify_fd;
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
	int ready = in->phase == INST_READY;
	int spare = in != s->cur;
	memset(resp, 0, sizeof(*resp));
	resp->id = req->id;
	if (sandbox_injectable(&s->conf->sandbox, nr)) {
		/* Allowed, and antd's to fail when an errno fault says so. */
		int err = ready && !spare ? inject_on_syscall(d, s, nr, req->pid) : 0;
		if (err)
			resp->error = -err;
		else
			resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		seccomp_notify_respond(fd, resp);
		return;
	}
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
	struct sv_detail dt = { .sig = survives(req->pid, SIGSYS) ? SIGKILL : SIGSYS,
				.why = s->violation };
	supervise_event(d, s, in, EV_SANDBOX, &dt);
	/* The call itself never runs; it fails if the signal somehow does not
	 * end the process.  (Killing only signals: fd is still open.) */
	resp->error = -ENOSYS;
	seccomp_notify_respond(fd, resp);
}
