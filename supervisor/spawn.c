/* spawn.c - start a server's instance as a child without waiting for it, watch its spawn channel and its end. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "antd.h"
#include "forker.h"
#include "log.h"
#include "output.h"
#include "sandbox_serve.h"
#include "server.h"

/* A child that has neither exec'd nor failed by then is killed. */
#define SPAWN_TIMEOUT_S 5.0
/* antd's copies of the fds a child gets stay above the ones it dup2s to (3..11). */
#define CHILD_FD_FLOOR 16

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents);
static void on_chan(struct ev_loop *loop, ev_io *w, int revents);
static void on_spawn_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void close_chan(struct antd *d, struct instance *in);
static int oom_killed(const siginfo_t *si);

/* fds[0] antd's end, fds[1] the child's, both close-on-exec and above the
 * fds the child dup2s to.  Returns 0 or -errno. */
static int pair_above(int fds[2])
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	fds[0] = sp[0];
	fds[1] = fcntl(sp[1], F_DUPFD_CLOEXEC, CHILD_FD_FLOOR);
	int e = -errno;
	close(sp[1]);
	if (fds[1] < 0) {
		close(sp[0]);
		return e;
	}
	return 0;
}

int instance_spawn(struct antd *d, struct instance *in)
{
	return instance_spawn_exec(d, in, &in->srv->exec);
}

int instance_spawn_exec(struct antd *d, struct instance *in, const struct exec_spec *exec)
{
	struct server *s = in->srv;
	in->exec_error[0] = '\0';
	int sock[2], chan[2], r;
	if ((r = pair_above(sock)) < 0) {
		snprintf(in->exec_error, sizeof(in->exec_error), "socketpair: %s", strerror(-r));
		return r;
	}
	if ((r = pair_above(chan)) < 0) {
		close(sock[0]);
		close(sock[1]);
		snprintf(in->exec_error, sizeof(in->exec_error), "socketpair: %s", strerror(-r));
		return r;
	}
	/* Its stdout and stderr (without a pipe it prints to antd's stderr). */
	int out[2] = { -1, -1 };
	if (output_pipe(out) < 0)
		log_warn("output", s->conf->name, "no pipe for its output: it goes to antd's stderr");
	unsigned gen = ++s->spawns;
	int fds[3] = { sock[1], chan[1], out[1] };
	in->exec = *exec;
	r = forker_request(d, s->id, gen, in->exec.text, in->exec.len, fds, out[1] >= 0 ? 3 : 2);
	close(sock[1]);
	close(chan[1]);
	if (out[1] >= 0)
		close(out[1]);
	struct peer *p = r < 0 ? NULL : peer_new(d, sock[0], PEER_SERVER, s->id);
	if (!p) {
		if (r < 0)
			close(sock[0]);
		close(chan[0]);
		if (out[0] >= 0)
			close(out[0]);
		snprintf(in->exec_error, sizeof(in->exec_error), "%s",
			 r < 0 ? "the forker is gone" : "out of memory");
		return r < 0 ? r : -ENOMEM;
	}
	p->inst = in;
	in->pid = 0;             /* until the forker answers */
	in->pending_sig = 0;
	in->gen = gen;
	in->phase = INST_SPAWNING;
	in->chan = chan[0];
	in->chan_eof = 0;
	in->out_fd = out[0];
	in->peer = p;
	in->want = 0;
	in->started_ns = mono_ns();
	in->kill = KILL_NONE;
	in->kill_why[0] = '\0';
	ev_io_init(&in->chanw, on_chan, in->chan, EV_READ);
	in->chanw.data = in;
	ev_io_start(d->loop, &in->chanw);
	ev_timer_init(&in->spawn_timer, on_spawn_timeout, SPAWN_TIMEOUT_S, 0.);
	in->spawn_timer.data = in;
	ev_timer_start(d->loop, &in->spawn_timer);
	peer_welcome(p);
	return 0;
}

/* Processes the forker made for instances that are no longer waiting for
 * them (their start timed out): killed, and reaped when they end. */
struct stray {
	ev_io w;
	int pidfd;
};

static unsigned strays;   /* live: a re-exec waits for none */

unsigned spawn_strays(void)
{
	return strays;
}

static void on_stray_exit(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stray *st = (struct stray *)w;
	siginfo_t si;
	if (!pidfd_reaped(st->pidfd, &si))
		return;
	strays--;
	ev_io_stop(loop, w);
	close(st->pidfd);
	free(st);
}

void spawn_adopt_stray(struct antd *d, pid_t pid, int pidfd)
{
	pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	struct stray *st = malloc(sizeof(*st));
	if (!st) {
		waitpid(pid, NULL, 0);   /* just killed: at once */
		close(pidfd);
		return;
	}
	st->pidfd = pidfd;
	strays++;
	ev_io_init(&st->w, on_stray_exit, pidfd, EV_READ);
	ev_io_start(d->loop, &st->w);
}

/* The instance of server_id that waits for the process gen, or NULL. */
static struct instance *waiting_for(struct antd *d, unsigned server_id, unsigned gen)
{
	if (server_id == 0 || server_id > d->stack->nservers)
		return NULL;
	struct server *s = &d->servers[server_id];
	for (int k = 0; k < 2; k++) {
		struct instance *in = &s->slot[k];
		if (in->phase != INST_NONE && in->gen == gen && in->pid == 0 && in->pidfd < 0)
			return in;
	}
	return NULL;
}

static void on_chan_done(struct antd *d, struct instance *in);

/* The forker's answer: the instance has a process now, or never will. */
static void forked(struct antd *d, const struct ant_m_forked *rep, int pidfd)
{
	struct instance *in = waiting_for(d, rep->server_id, rep->gen);
	if (!in) {
		if (rep->pid > 0 && pidfd >= 0)
			spawn_adopt_stray(d, rep->pid, pidfd);
		else if (pidfd >= 0)
			close(pidfd);
		return;
	}
	struct server *s = in->srv;
	if (rep->pid <= 0 || pidfd < 0) {
		if (pidfd >= 0)
			close(pidfd);
		snprintf(in->exec_error, sizeof(in->exec_error), "%s",
			 rep->why[0] ? rep->why : "the forker could not fork");
		close_chan(d, in);
		supervise_event(d, s, in, EV_EXEC_FAILED, NULL);
		return;
	}
	in->pid = rep->pid;
	in->pidfd = pidfd;
	if (in->peer)   /* it may have closed its socket already */
		in->peer->pid = rep->pid;
	ev_io_init(&in->pidw, on_pidfd, pidfd, EV_READ);
	in->pidw.data = in;
	ev_io_start(d->loop, &in->pidw);
	if (in->out_fd >= 0) {
		output_watch(d->loop, in->out_fd, s->conf->name, in->pid);
		in->out_fd = -1;
	}
	log_fields(LOG_INFO, in == s->spare ? "start-spare" : "start", s->conf->name,
		   json_pack("{s:i}", "pid", (int)in->pid), "pid %d: %s",
		 (int)in->pid, exec_spec_path(&in->exec));
	if (in->pending_sig) {
		instance_signal(in, in->pending_sig);
		in->pending_sig = 0;
	}
	if (in->chan_eof)
		on_chan_done(d, in);
	if (in->ready_early && in->pid > 0) {
		in->ready_early = 0;
		supervise_event(d, s, in, EV_READY, NULL);
	}
}

int spawn_init(struct antd *d)
{
	siginfo_t none = { .si_code = CLD_EXITED };
	oom_killed(&none);   /* the count from now on */
	return forker_start(d, forked);
}

static ev_timer later_w;

static void on_later(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct antd *d = ev_userdata(loop);
	if (d->forker.sock >= 0)
		return;   /* a spawn started it already */
	int r = forker_start(d, forked);
	if (r < 0)
		log_error("forker", NULL, "cannot start the forker: %s", strerror(-r));
}

void spawn_init_later(struct antd *d, double after_s)
{
	siginfo_t none = { .si_code = CLD_EXITED };
	oom_killed(&none);
	d->forker.on_forked = forked;   /* a spawn before then starts it (forker_request) */
	ev_timer_init(&later_w, on_later, after_s, 0.);
	ev_timer_start(d->loop, &later_w);
}

static void close_chan(struct antd *d, struct instance *in)
{
	if (in->chan < 0)
		return;
	ev_io_stop(d->loop, &in->chanw);
	close(in->chan);
	in->chan = -1;
}

/*
 * Read what the child says before exec: its notification fd (watched from
 * now on, so that its exec and its loader's calls are answered by the loop),
 * or why it failed.  End of file: exec happened.  Returns 1 when the channel
 * is done (closed), 0 while it is open.
 */
static int read_chan(struct antd *d, struct instance *in)
{
	static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
	for (int i = 0; i < 4; i++) {
		int fd;
		ssize_t n = ant_msg_recv(in->chan, buf, &fd);
		if (n == -EAGAIN || n == -EINTR)
			return 0;
		if (n == 0) {
			close_chan(d, in);
			return 1;
		}
		struct ant_msg h;
		memcpy(&h, buf, n > 0 ? sizeof(h) : 0);
		if (n > 0 && h.type == ANT_M_SPAWN_NOTIFY && fd >= 0 && in->notify_fd < 0) {
			sandbox_watch(d, in, fd);
			continue;
		}
		if (n > 0 && h.type == ANT_M_SPAWN_ERROR) {
			struct ant_m_spawn_error se;
			memcpy(&se, buf + sizeof(h), sizeof(se));
			se.stage[sizeof(se.stage) - 1] = '\0';
			snprintf(in->exec_error, sizeof(in->exec_error), "%s %s failed: %s", se.stage,
				 exec_spec_path(&in->exec), strerror(se.err));
		} else {
			snprintf(in->exec_error, sizeof(in->exec_error), "spawn channel: %s",
				 n < 0 ? strerror((int)-n) : "unexpected message");
		}
		if (fd >= 0)
			close(fd);
		/* It ends by itself after a SPAWN_ERROR; make sure in any case. */
		instance_signal(in, SIGKILL);
		close_chan(d, in);
		return 1;
	}
	return 0;
}

/* The spawn channel is closed: if nothing failed, the exec happened (once
 * the forker has said which process it is).  The spawn timer runs until
 * both are known: a forker that never answers must not leave the instance
 * spawning for ever. */
static void on_chan_done(struct antd *d, struct instance *in)
{
	if (in->exec_error[0])
		return;   /* its end (or the timer) says the rest */
	if (in->pid == 0) {
		in->chan_eof = 1;
		return;
	}
	ev_timer_stop(d->loop, &in->spawn_timer);
	in->chan_eof = 0;
	/* (Ready already if its first NEXT overtook the end of the channel.) */
	if (in->phase == INST_SPAWNING) {
		in->phase = INST_STARTING;
		supervise_event(d, in->srv, in, EV_SPAWNED, NULL);
	}
}

static void on_chan(struct ev_loop *loop, ev_io *w, int revents)
{
	struct instance *in = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	if (read_chan(d, in))
		on_chan_done(d, in);
}

static void on_spawn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct instance *in = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	snprintf(in->exec_error, sizeof(in->exec_error), "exec %s (no answer in %.0f s)",
		 exec_spec_path(&in->exec), SPAWN_TIMEOUT_S);
	instance_signal(in, SIGKILL);
	close_chan(d, in);
	/* Without an answer from the forker there is no process to wait for,
	 * and a forker that does not answer is of no use to the next starts. */
	if (in->pid == 0) {
		snprintf(in->exec_error, sizeof(in->exec_error), "the forker did not answer in %.0f s",
			 SPAWN_TIMEOUT_S);
		forker_kill(d);
		supervise_event(d, in->srv, in, EV_EXEC_FAILED, NULL);
	}
}

void instance_signal(struct instance *in, int sig)
{
	if (in->pid > 0 && in->pidfd >= 0)
		pidfd_send_signal(in->pidfd, sig, NULL, 0);
	else if (in->phase != INST_NONE && (!in->pending_sig || sig == SIGKILL))
		in->pending_sig = sig;   /* sent when the forker says which process it is */
}

/* The kernel's count of processes its OOM killer ended (/proc/vmstat), or
 * -1 if it does not say. */
/* The kernel's count of OOM kills (/proc/vmstat's oom_kill), or -1.  Read on
 * every death, on the way to a failover: the file stays open and is read
 * whole in one pread, not line by line with sscanf (75-120 us -> 14-27 us
 * here). */
static long oom_kills(void)
{
	static int fd = -1;
	static char buf[16384];
	if (fd < 0 && (fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = buf[0] == 'o' && strncmp(buf, "oom_kill ", 9) == 0 ? buf - 1 :
			memmem(buf, (size_t)n, "\noom_kill ", 10);
	return p ? strtol(p + 10, NULL, 10) : -1;
}

/*
 * Was this SIGKILL the OOM killer's?  The kernel's count of OOM kills went
 * up since the last death antd saw.  Ambiguous when another process of the
 * machine was OOM-killed in between: then it counts as an OOM kill.
 */
static int oom_killed(const siginfo_t *si)
{
	static long seen = -1;
	long now = oom_kills();
	int oom = si->si_code != CLD_EXITED && si->si_status == SIGKILL && seen >= 0 &&
		  now > seen;
	seen = now;
	return oom;
}

/* How a child ended, in words. */
static void describe_exit(const siginfo_t *si, int oom, char *buf, size_t len)
{
	if (si->si_code == CLD_EXITED) {
		snprintf(buf, len, "exited with code %d", si->si_status);
	} else {
		const char *name = sigabbrev_np(si->si_status);
		snprintf(buf, len, "killed by signal SIG%s%s%s", name ? name : "?",
			 si->si_code == CLD_DUMPED ? " (core dumped)" : "",
			 oom ? " (out of memory)" : "");
	}
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
	struct instance *in = w->data;
	struct antd *d = (struct antd *)ev_userdata(loop);
	siginfo_t si;
	if (!pidfd_reaped(in->pidfd, &si))
		return;
	ev_io_stop(loop, w);
	inject_before_exit(d);   /* an eBPF injector's kill is known as one */
	close(in->pidfd);
	in->pidfd = -1;
	sandbox_watch(d, in, -1);
	/* Died before exec was confirmed: the channel says whether exec failed
	 * (its SPAWN_ERROR was sent before the exit) or happened. */
	if (in->chan >= 0)
		read_chan(d, in);
	close_chan(d, in);
	struct server *s = in->srv;
	if (in->exec_error[0]) {
		supervise_event(d, s, in, EV_EXEC_FAILED, NULL);
		return;
	}
	char how[96];
	int oom = oom_killed(&si);
	describe_exit(&si, oom, how, sizeof(how));
	if (in == s->cur)
		snprintf(s->last_exit, sizeof(s->last_exit), "%s", how);
	struct sv_detail dt = { .si = &si, .why = how, .oom = oom };
	supervise_event(d, s, in, EV_EXITED, &dt);
}

void instance_adopt(struct antd *d, struct instance *in, pid_t pid, int pidfd, int notify_fd)
{
	in->pid = pid;
	in->pidfd = pidfd;
	in->chan = in->out_fd = -1;
	ev_io_init(&in->pidw, on_pidfd, pidfd, EV_READ);
	in->pidw.data = in;
	ev_io_start(d->loop, &in->pidw);
	if (notify_fd >= 0)
		sandbox_watch(d, in, notify_fd);
}

void instance_clear(struct antd *d, struct instance *in)
{
	close_chan(d, in);
	ev_timer_stop(d->loop, &in->spawn_timer);
	if (in->out_fd >= 0) {
		close(in->out_fd);
		in->out_fd = -1;
	}
	in->pending_sig = 0;
	in->ready_early = 0;
	in->chan_eof = 0;
	sandbox_watch(d, in, -1);
	ev_timer_stop(d->loop, &in->ready_timer);
	ev_timer_stop(d->loop, &in->eof_timer);
	if (in->pidfd >= 0) {
		ev_io_stop(d->loop, &in->pidw);
		close(in->pidfd);
		in->pidfd = -1;
	}
	in->pid = 0;
	in->phase = INST_NONE;
	in->peer = NULL;
	in->want = 0;
	in->lanes_given = 0;   /* the next process here gets its lanes anew */
}

void instances_reap_all(struct antd *d)
{
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		for (int k = 0; k < 2; k++) {
			struct instance *in = &s->slot[k];
			if (in->pid > 0) {
				kill(in->pid, SIGKILL);
				waitpid(in->pid, NULL, 0);
			}
			in->peer = NULL;
			instance_clear(d, in);
		}
	}
}
