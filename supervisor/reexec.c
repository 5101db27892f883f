/* reexec.c - antd re-executes itself (antctl reexec): a check of the new binary, the state into a memfd, the exec, the take-over, and the way back when the new one cannot take over. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ant-config.h"
#include "antd.h"
#include "follow.h"
#include "listen.h"
#include "log.h"
#include "refusal.h"
#include "notify.h"
#include "reexec.h"

/*
 * systemd's daemon-reexec, for antd.  Servers never notice: they are not
 * antd's by fork (the forker made them with CLONE_PARENT) but by their
 * connection, pidfd and seccomp notification fd, and all of those are file
 * descriptors, which execve keeps when they are not close-on-exec.  So antd
 *   1. runs the new binary once as `EXEC --state-format` (posix_spawn, out
 *      of the loop's way) and goes on only if it reads the version of the
 *      state this antd writes: a binary that does not is refused, nothing
 *      changed;
 *   2. waits for a moment when no process is being started (a fork in
 *      flight lives in the forker, which does not cross the exec), stops the
 *      forker, writes every table into a memfd (reexec_state.c), clears
 *      close-on-exec on every fd the state names, and executes
 *      `EXEC --resume=STATEFD:EXEFD ARGS...` - same pid, same fds;
 *   3. the new antd reads the state, rebuilds its tables around the same
 *      fds, starts a forker of its own and answers the operator.
 * Messages that arrive meanwhile wait in the sockets.  If the new antd
 * cannot take over (a state it cannot read, a stack file its parser
 * refuses), it executes the binary before it again from EXEFD (an fd of
 * /proc/self/exe: even a binary deleted since still runs) with the same
 * state, and that antd answers the operator with the reason.
 */

static double mono_s(void)
{
	return (double)mono_ns() / 1e9;
}

static void answer(struct antd *d, json_t *o)
{
	struct reexec *x = &d->reexec;
	struct peer *p = x->requester ? peer_by_key(d, x->requester) : NULL;
	x->requester = 0;
	if (p)
		peer_send_json(p, o);
	else
		json_decref(o);
}


static void refuse_now(struct antd *d, const char *why)
{
	log_warn("reexec", NULL, "re-exec refused: %s", why);
	answer(d, refusal(0, "%s", why));
	d->reexec.active = 0;
}

/* What keeps antd from re-executing now: 2 for good (it is refused), 1 for
 * a moment (a process being started), 0 nothing. */
static int busy(struct antd *d, char *why, size_t len)
{
	if (d->stopping) {
		snprintf(why, len, "antd is stopping");
		return 2;
	}
	if (!d->stack_text) {
		snprintf(why, len, "antd did not keep its stack file's text (out of memory at start)");
		return 2;
	}
	if (!d->ever_ready) {
		snprintf(why, len, "the stack is still starting");
		return 2;
	}
	if (d->inject.live) {
		snprintf(why, len, "%u fault%s armed: clear %s first (antctl inject --clear)",
			 d->inject.live, d->inject.live == 1 ? " is" : "s are",
			 d->inject.live == 1 ? "it" : "them");
		return 2;
	}
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		if (s->up.phase != UP_NONE) {
			snprintf(why, len, "server %s is being upgraded (%s): wait for the upgrade to "
				 "end", s->conf->name, upgrade_phase_name(s));
			return 2;
		}
	}
	/* The new antd will not know the lanes: off now, and what servers
	 * took from them is answered before the switch. */
	if (d->lanes.pairs) {
		lanes_off(d, "a re-exec of antd (antctl reexec)");
		for (unsigned id = 1; id <= d->stack->nservers; id++) {
			unsigned n = lanes_held(d, &d->servers[id]);
			if (n) {
				snprintf(why, len, "%s holds %u request(s) from the fast path's lanes",
					 d->servers[id].conf->name, n);
				return 1;
			}
		}
	}
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		for (int k = 0; k < 2; k++)
			if (s->slot[k].phase == INST_SPAWNING || (instance_alive(&s->slot[k]) &&
								  s->slot[k].pid <= 0)) {
				snprintf(why, len, "server %s is starting a process", s->conf->name);
				return 1;
			}
	}
	if (spawn_strays()) {
		snprintf(why, len, "a process nobody waited for is being reaped");
		return 1;
	}
	return 0;
}

/* ---- 1. the new binary is asked what it reads -------------------------------- */

/* The probe is spawned from a thread of its own: posix_spawn suspends the
 * caller until the child has executed (CLONE_VFORK), which on this kind of
 * machine is milliseconds every call through the stack would wait. */
static void *probe_spawn(void *arg)
{
	struct reexec *x = arg;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, x->probe_in, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *argv[] = { x->exec, "--state-format", NULL };
	extern char **environ;
	pid_t pid = 0;
	x->spawn_error = posix_spawn(&pid, x->exec, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	x->probe_pid = x->spawn_error ? 0 : pid;
	close(x->probe_in);   /* its end of file is the child's now */
	return NULL;
}

static void probe_end(struct antd *d)
{
	struct reexec *x = &d->reexec;
	if (x->probe_out >= 0) {
		ev_io_stop(d->loop, &x->probe_w);
		close(x->probe_out);
		x->probe_out = -1;
	}
	if (x->probing) {
		pthread_join(x->thread, NULL);
		x->probing = 0;
	}
	if (x->probe_pid > 0) {
		kill(x->probe_pid, SIGKILL);
		waitpid(x->probe_pid, NULL, 0);
		x->probe_pid = 0;
	}
	ev_timer_stop(d->loop, &x->timer);
}

static void try_go(struct antd *d);

/* What `EXEC --state-format` said ("antd-state MIN MAX"). */
static void probe_said(struct antd *d)
{
	struct reexec *x = &d->reexec;
	x->probe_buf[x->probe_len] = '\0';
	char *nl = strchr(x->probe_buf, '\n');
	if (nl)
		*nl = '\0';
	unsigned lo, hi;
	char why[PATH_MAX + 256];
	if (x->spawn_error) {
		snprintf(why, sizeof(why), "%s: %s", x->exec, strerror(x->spawn_error));
		refuse_now(d, why);
		return;
	}
	if (sscanf(x->probe_buf, ANTD_STATE_FORMAT " %u %u", &lo, &hi) != 2) {
		snprintf(why, sizeof(why), "%s cannot take over from this antd: asked for the state "
			 "it reads (--state-format) it said \"%.60s\"", x->exec,
			 x->probe_len ? x->probe_buf : "nothing");
		refuse_now(d, why);
		return;
	}
	if (ANTD_STATE_VERSION < lo || ANTD_STATE_VERSION > hi) {
		snprintf(why, sizeof(why), "%s reads %s versions %u to %u; this antd writes version %u",
			 x->exec, ANTD_STATE_FORMAT, lo, hi, ANTD_STATE_VERSION);
		refuse_now(d, why);
		return;
	}
	try_go(d);
}

static void on_probe_out(struct ev_loop *loop, ev_io *w, int revents)
{
	struct antd *d = ev_userdata(loop);
	struct reexec *x = &d->reexec;
	ssize_t n = read(x->probe_out, x->probe_buf + x->probe_len,
			 sizeof(x->probe_buf) - 1 - x->probe_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		x->probe_len += (size_t)n;
		if (!memchr(x->probe_buf, '\n', x->probe_len) && x->probe_len < sizeof(x->probe_buf) - 1)
			return;
	}
	probe_end(d);
	probe_said(d);
	(void)w;
	(void)revents;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct antd *d = ev_userdata(loop);
	struct reexec *x = &d->reexec;
	if (x->probing || x->probe_out >= 0) {
		probe_end(d);
		char why[PATH_MAX + 64];
		snprintf(why, sizeof(why), "%s --state-format did not answer within 2 s", x->exec);
		refuse_now(d, why);
		return;
	}
	try_go(d);
	(void)w;
	(void)revents;
}

static int probe_start(struct antd *d, char *why, size_t len)
{
	struct reexec *x = &d->reexec;
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(why, len, "pipe: %s", strerror(errno));
		return -1;
	}
	x->probe_in = p[1];
	x->probe_out = p[0];
	x->probe_len = 0;
	x->probe_pid = 0;
	x->spawn_error = 0;
	int r = pthread_create(&x->thread, NULL, probe_spawn, x);
	if (r != 0) {
		close(p[0]);
		close(p[1]);
		x->probe_out = -1;
		snprintf(why, len, "cannot start a thread to run %s: %s", x->exec, strerror(r));
		return -1;
	}
	x->probing = 1;
	ev_io_init(&x->probe_w, on_probe_out, p[0], EV_READ);
	ev_io_start(d->loop, &x->probe_w);
	ev_timer_set(&x->timer, 2.0, 0.);
	ev_timer_start(d->loop, &x->timer);
	return 0;
}

/* ---- 2. the state out, the exec ---------------------------------------------- */

static void set_cloexec(const struct reexec_fds *f, int on)
{
	for (unsigned i = 0; i < f->n; i++) {
		int fl = fcntl(f->fd[i], F_GETFD);
		if (fl >= 0)
			fcntl(f->fd[i], F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
	}
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static json_t *strings(char **v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void go(struct antd *d)
{
	struct reexec *x = &d->reexec;
	uint64_t t0 = mono_ns();
	char why[PATH_MAX + 256];
	log_info("reexec", NULL, "antd re-executes itself: %s (re-exec %u)", x->exec, d->reexecs + 1);
	inject_bpf_fini(d);   /* nothing is armed: it loads again when asked */
	pid_t fpid;
	int fpidfd = forker_abandon(d, &fpid);   /* killed; the new antd reaps it */
	json_t *root = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:i, s:f, "
				 "s:I, s:I, s:s}",
				 "format", ANTD_STATE_FORMAT, "version", ANTD_STATE_VERSION,
				 "antd_version", ANT_VERSION, "stack_text", d->stack_text,
				 "stack_path", d->stack->path, "argv", strings(d->argv, d->argc),
				 "run_dir", d->run_dir, "app_path", d->app_path, "control_path",
				 d->control_path, "pid_path", d->pid_path, "log_path", d->log_path,
				 "reexecs", d->reexecs, "started_wall", d->started_wall,
				 "requester", (json_int_t)x->requester, "t0", (json_int_t)t0,
				 "exec", x->exec);
	struct reexec_blob b = { 0 };
	struct reexec_fds fds = { 0 };
	int statefd = -1, exefd = -1;
	char *text = NULL;
	if (root && fpidfd >= 0) {
		json_object_set_new(root, "forker", json_pack("{s:i, s:i}", "pid", (int)fpid,
							      "pidfd", fpidfd));
		reexec_fds_add(&fds, fpidfd);
	}
	if (!root || reexec_state_save(d, root, &b, &fds) < 0) {
		snprintf(why, sizeof(why), "cannot write the state: out of memory");
		goto fail;
	}
	json_t *fdl = json_array();
	for (unsigned i = 0; i < fds.n; i++)
		json_array_append_new(fdl, json_integer(fds.fd[i]));
	json_object_set_new(root, "fds", fdl);
	text = json_dumps(root, JSON_COMPACT);
	statefd = memfd_create("antd-state", MFD_CLOEXEC);
	exefd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	char head[96];
	int hn = snprintf(head, sizeof(head), "%s %u %zu %zu\n", ANTD_STATE_FORMAT,
			  ANTD_STATE_VERSION, text ? strlen(text) : 0, b.n);
	if (!text || statefd < 0 || exefd < 0 || write_all(statefd, head, (size_t)hn) < 0 ||
	    write_all(statefd, text, strlen(text)) < 0 || write_all(statefd, b.p, b.n) < 0) {
		snprintf(why, sizeof(why), "cannot write the state: %s", strerror(errno));
		goto fail;
	}
	reexec_fds_add(&fds, statefd);
	reexec_fds_add(&fds, exefd);
	char resume[64];
	snprintf(resume, sizeof(resume), "--resume=%d:%d", statefd, exefd);
	char **argv = calloc((size_t)d->argc + 2, sizeof(*argv));
	if (!argv) {
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	argv[0] = x->exec;
	argv[1] = resume;
	for (int i = 1; i < d->argc; i++)
		argv[i + 1] = d->argv[i];
	set_cloexec(&fds, 0);
	fflush(NULL);
	char at[32];
	snprintf(at, sizeof(at), "%llu", (unsigned long long)mono_ns());
	setenv("ANT_REEXEC_AT", at, 1);   /* when the exec began: the new antd's log says */
	notify_send("RELOADING=1\nSTATUS=re-executing %s", x->exec);
	execv(x->exec, argv);
	unsetenv("ANT_REEXEC_AT");
	notify_send("READY=1\nSTATUS=stack %s: the re-exec failed, the same antd goes on",
		    d->stack->name);
	/* Still here: nothing changed but the forker, which starts again. */
	int e = errno;
	set_cloexec(&fds, 1);
	free(argv);
	snprintf(why, sizeof(why), "cannot execute %s: %s", x->exec, strerror(e));
fail:
	free(text);
	if (statefd >= 0)
		close(statefd);
	if (exefd >= 0)
		close(exefd);
	free(b.p);
	free(fds.fd);
	json_decref(root);
	if (fpidfd >= 0)
		spawn_adopt_stray(d, fpid, fpidfd);
	int r = spawn_init(d);
	if (r < 0)
		log_error("forker", NULL, "cannot start the forker again: %s", strerror(-r));
	log_error("reexec", NULL, "re-exec failed: %s; antd %s goes on", why, ANT_VERSION);
	answer(d, json_pack("{s:b, s:s, s:s}", "ok", 0, "outcome", "failed", "error", why));
	x->active = 0;
}

static void try_go(struct antd *d)
{
	struct reexec *x = &d->reexec;
	char why[256];
	int b = busy(d, why, sizeof(why));
	if (b == 2) {
		refuse_now(d, why);
		return;
	}
	if (b == 1) {
		if ((mono_s() - x->asked) * 1000 > x->timeout_ms) {
			char msg[400];
			snprintf(msg, sizeof(msg), "no moment without a process being started came in "
				 "%u ms (%s)", x->timeout_ms, why);
			refuse_now(d, msg);
			return;
		}
		ev_timer_set(&x->timer, 0.005, 0.);
		ev_timer_start(d->loop, &x->timer);
		return;
	}
	go(d);
}

/* The binary antd runs now, as a path ("(deleted)" cut off: a package
 * upgrade replaced it, and its new version is what a re-exec should run). */
static int self_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *del = " (deleted)";
	size_t dl = strlen(del);
	if ((size_t)n > dl && strcmp(buf + n - dl, del) == 0)
		buf[n - dl] = '\0';
	return 0;
}

json_t *reexec_cmd(struct antd *d, json_t *req, struct peer *p)
{
	struct reexec *x = &d->reexec;
	json_t *ex = json_object_get(req, "exec"), *to = json_object_get(req, "timeout_ms");
	if ((ex && !json_is_string(ex)) ||
	    (to && (!json_is_integer(to) || json_integer_value(to) < 1 ||
		    json_integer_value(to) > 600000)))
		return refusal(1, "expected {\"cmd\": \"reexec\", \"exec\": PATH, \"timeout_ms\": "
			       "1..600000}");
	if (x->active)
		return refusal(0, "a re-exec is under way already");
	char why[PATH_MAX + 128];
	if (busy(d, why, sizeof(why)) == 2)
		return refusal(0, "%s", why);
	char path[PATH_MAX];
	if (ex) {
		snprintf(path, sizeof(path), "%s", json_string_value(ex));
		if (path[0] != '/')
			return refusal(1, "exec: an absolute path");
	} else if (self_path(path, sizeof(path)) < 0) {
		return refusal(0, "cannot tell which binary antd runs (/proc/self/exe)");
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
		snprintf(why, sizeof(why), "%s: %s", path,
			 stat(path, &st) < 0 ? strerror(errno) :
			 !S_ISREG(st.st_mode) ? "not a regular file" : "not executable");
		return refusal(0, "%s", why);
	}
	memset(x, 0, sizeof(*x));
	x->active = 1;
	x->requester = peer_key(p);
	snprintf(x->exec, sizeof(x->exec), "%s", path);
	x->timeout_ms = to ? (unsigned)json_integer_value(to) : 5000;
	x->asked = mono_s();
	x->probe_out = -1;
	ev_timer_init(&x->timer, on_timer, 0., 0.);
	if (probe_start(d, why, sizeof(why)) < 0) {
		x->active = 0;
		x->requester = 0;
		return refusal(0, "%s", why);
	}
	return NULL;
}

/* ---- 3. the new antd ---------------------------------------------------------- */

int reexec_read(struct antd *d, const char *arg, char *err, size_t errlen)
{
	int sfd, efd;
	char tail;
	d->resume_fd = d->resume_exe = -1;
	if (sscanf(arg, "%d:%d%c", &sfd, &efd, &tail) != 2 || sfd < 0 || efd < 0 ||
	    fcntl(sfd, F_GETFD) < 0 || fcntl(efd, F_GETFD) < 0) {
		snprintf(err, errlen, "--resume=%s: not two open fds (this option is antd's own, "
			 "for antctl reexec)", arg);
		return -1;
	}
	d->resume_fd = sfd;
	d->resume_exe = efd;
	struct stat st;
	if (fstat(sfd, &st) < 0 || st.st_size <= 0 || st.st_size > ((off_t)1 << 31)) {
		snprintf(err, errlen, "the state (fd %d) is empty or unreadable", sfd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	char *all = malloc(size + 1);
	if (!all || pread(sfd, all, size, 0) != (ssize_t)size) {
		free(all);
		snprintf(err, errlen, "cannot read the state: %s", strerror(errno));
		return -1;
	}
	all[size] = '\0';
	unsigned version;
	size_t jl, bl;
	int hl = 0;
	if (sscanf(all, ANTD_STATE_FORMAT " %u %zu %zu\n%n", &version, &jl, &bl, &hl) != 3 || !hl ||
	    (size_t)hl + jl + bl != size) {
		free(all);
		snprintf(err, errlen, "the state is not %s (or is cut short)", ANTD_STATE_FORMAT);
		return -1;
	}
	if (version < ANTD_STATE_VERSION_MIN || version > ANTD_STATE_VERSION) {
		free(all);
		snprintf(err, errlen, "the state is version %u; this antd reads %u to %u", version,
			 ANTD_STATE_VERSION_MIN, ANTD_STATE_VERSION);
		return -1;
	}
	json_error_t je;
	json_t *root = json_loadb(all + hl, jl, 0, &je);
	if (!root) {
		free(all);
		snprintf(err, errlen, "the state is not JSON: %s", je.text);
		return -1;
	}
	d->resume_blob = malloc(bl ? bl : 1);
	if (!d->resume_blob) {
		free(all);
		json_decref(root);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(d->resume_blob, all + hl + jl, bl);
	d->resume_blob_len = bl;
	free(all);
	d->resume = root;
	/* The log's recent events first: whatever the new antd logs comes after. */
	json_int_t lo, ln;
	if (json_unpack(json_object_get(root, "log"), "[I, I]", &lo, &ln) == 0 && lo >= 0 && ln >= 0 &&
	    (size_t)lo <= bl && (size_t)ln <= bl - (size_t)lo)
		log_ring_restore((const char *)d->resume_blob + lo, (size_t)ln);
#ifndef ANT_NO_FAILPOINTS
	/* Tests: a new antd that cannot take over (the way back is tested):
	 * at once, with this text; or "late", with the last server's processes
	 * spoiled, so that it fails when everything else is taken over. */
	const char *fail = getenv("ANTD_TEST_RESUME_FAIL");
	if (fail && *fail && !getenv("ANT_REEXEC_FAILED")) {
		json_t *servers = json_object_get(root, "servers");
		size_t n = json_array_size(servers);
		if (strcmp(fail, "late") == 0 && n) {
			json_object_set_new(json_array_get(servers, n - 1), "slots",
					    json_string("spoiled"));
		} else {
			snprintf(err, errlen, "%s", fail);
			return -1;
		}
	}
#endif
	const char *text = json_string_value(json_object_get(root, "stack_text"));
	json_t *argv = json_object_get(root, "argv");
	json_int_t t0, reexecs;
	if (!text || json_unpack(root, "{s:I, s:I}", "t0", &t0, "reexecs", &reexecs) < 0 ||
	    !json_is_array(argv)) {
		snprintf(err, errlen, "the state lacks the stack file, the command line or its counters");
		return -1;
	}
	d->stack_text = strdup(text);
	d->reexecs = (unsigned)reexecs;
	d->started_wall = json_number_value(json_object_get(root, "started_wall"));
	d->resume_t0 = (uint64_t)t0;
	return d->stack_text ? 0 : -1;
}

int reexec_take_over(struct antd *d, char *err, size_t errlen)
{
	json_t *root = d->resume;
	const char *ap = json_string_value(json_object_get(root, "app_path"));
	const char *cp = json_string_value(json_object_get(root, "control_path"));
	const char *pp = json_string_value(json_object_get(root, "pid_path"));
	json_int_t lock;
	int al, cl;
	if (!ap || !cp || !pp ||
	    json_unpack(root, "{s:[i, i], s:I}", "listen", &al, &cl, "lock_fd", &lock) < 0 ||
	    fcntl(al, F_GETFD) < 0 || fcntl(cl, F_GETFD) < 0) {
		snprintf(err, errlen, "the state lacks the sockets antd listens on");
		return -1;
	}
	snprintf(d->app_path, sizeof(d->app_path), "%s", ap);
	snprintf(d->control_path, sizeof(d->control_path), "%s", cp);
	snprintf(d->pid_path, sizeof(d->pid_path), "%s", pp);
	d->lock_fd = (int)lock;
	listen_adopt(d, al, cl);
	return reexec_state_load(d, root, d->resume_blob, d->resume_blob_len, err, errlen);
}

void reexec_done(struct antd *d)
{
	json_t *root = d->resume;
	reexec_state_requeue(d, root, d->resume_blob, d->resume_blob_len);
	struct reexec_fds fds = { 0 };
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(root, "fds"), i, v)
		reexec_fds_add(&fds, (int)json_integer_value(v));
	set_cloexec(&fds, 1);
	free(fds.fd);
	close(d->resume_fd);
	close(d->resume_exe);
	d->resume_fd = d->resume_exe = -1;
	d->reexec.requester = (uint64_t)json_integer_value(json_object_get(root, "requester"));
	const char *exec = json_string_value(json_object_get(root, "exec"));
	const char *before = json_string_value(json_object_get(root, "antd_version"));
	uint64_t now = mono_ns();
	double pause_ms = (double)(now - d->resume_t0) / 1e6;
	const char *at = getenv("ANT_REEXEC_AT");
	uint64_t t_exec = at ? strtoull(at, NULL, 10) : 0;
	if (t_exec < d->resume_t0 || t_exec > now)
		t_exec = d->resume_t0;
	unsetenv("ANT_REEXEC_AT");
	/* Where the pause went: the state written, the exec (the new binary
	 * loaded, up to its main), the take-over. */
	json_t *split = json_pack("{s:f, s:f, s:f}", "state_ms", (double)(t_exec - d->resume_t0) / 1e6,
				  "exec_ms", (double)(d->resume_main - t_exec) / 1e6, "take_over_ms",
				  (double)(now - d->resume_main) / 1e6);
	const char *failed = getenv("ANT_REEXEC_FAILED");
	if (failed) {
		char why[512];
		snprintf(why, sizeof(why), "the new antd (%s) could not take over: %s; antd %s goes on, "
			 "nothing changed", exec ? exec : "?", failed, ANT_VERSION);
		log_error("reexec", NULL, "re-exec failed: %s", why);
		answer(d, json_pack("{s:b, s:s, s:s, s:f}", "ok", 0, "outcome", "rolled-back", "error",
				    why, "pause_ms", pause_ms));
		unsetenv("ANT_REEXEC_FAILED");
	} else {
		d->reexecs++;
		log_fields(LOG_INFO, "reexec-done", NULL,
			   json_pack("{s:f, s:i, s:s, s:O}", "pause_ms", pause_ms, "reexecs", d->reexecs,
				     "from", before ? before : "?", "split", split),
			   "antd %s took over from antd %s (re-exec %u) in %.2f ms: %u calls in "
			   "flight, %u connections kept", ANT_VERSION, before ? before : "?",
			   d->reexecs, pause_ms, d->calls.live, (unsigned)json_array_size(
				   json_object_get(root, "peers")));
		answer(d, json_pack("{s:b, s:s, s:i, s:s, s:s, s:i, s:f, s:O, s:i}", "ok", 1,
				    "outcome", "reexecuted", "pid", (int)getpid(), "version",
				    ANT_VERSION, "exec", exec ? exec : "", "reexecs", d->reexecs,
				    "pause_ms", pause_ms, "split", split, "calls_in_flight",
				    d->calls.live));
	}
	json_decref(split);
	json_decref(root);
	d->resume = NULL;
	free(d->resume_blob);
	d->resume_blob = NULL;
}

void reexec_fall_back(struct antd *d, char **argv, const char *why)
{
	if (d->resume_exe < 0 || getenv("ANT_REEXEC_FAILED"))
		return;   /* no binary before, or this is it already */
	setenv("ANT_REEXEC_FAILED", why, 1);
	extern char **environ;
	fflush(NULL);
	syscall(SYS_execveat, d->resume_exe, "", argv, environ, AT_EMPTY_PATH);
	unsetenv("ANT_REEXEC_FAILED");
}
