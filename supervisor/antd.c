/* antd.c - the supervisor: parse arguments, claim the run folder, start the stack, run the loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ant-config.h"
#include "ant/errors.h"
#include "antd.h"
#include "control.h"
#include "loop.h"
#include "log.h"
#include "output.h"

#define STOP_GRACE_S 3.0

/* antd's options: getopt's table and --help's text in one place. */
static const struct antd_option {
	struct option opt;
	const char *arg;        /* the value's name in --help, or NULL */
	const char *help;       /* lines after the first are indented */
} options[] = {
	{ { "run-dir", required_argument, NULL, 'r' }, "DIR",
	  "sockets, pid and log go here (default: the stack file's\n"
	  "\"run_dir\", else /run/ant/<stack name>)" },
	{ { "foreground", no_argument, NULL, 'f' }, NULL,
	  "stay in the foreground, log to stderr (default: detach\n"
	  "once every server is ready, log to DIR/antd.log)" },
	{ { "log-json", no_argument, NULL, 'j' }, NULL, "log one JSON object per line" },
	{ { "log-file", required_argument, NULL, 'l' }, "FILE", "log to FILE instead" },
	{ { "server-path", required_argument, NULL, 's' }, "DIRS",
	  "':'-separated folders where bare server names are looked\n"
	  "up (prepended to $ANT_SERVER_PATH and the built-in ones)" },
	{ { "policy-path", required_argument, NULL, 'p' }, "DIRS",
	  "':'-separated folders where policy files (NAME.json) are\n"
	  "looked up (before $ANT_POLICY_PATH, the stack file's\n"
	  "folder, its policies/ and ../policies/, the installed ones)" },
	{ { "verbose", no_argument, NULL, 'v' }, NULL, "log debug events too" },
	{ { "help", no_argument, NULL, 'h' }, NULL, "this text" },
	{ { "version", no_argument, NULL, 'V' }, NULL, "print the version" },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: antd [OPTIONS] STACK.json\n"
		   "Start the stack of servers described by STACK.json and supervise it.\n\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		char head[40];
		snprintf(head, sizeof(head), "--%s%s%s", options[i].opt.name,
			 options[i].arg ? " " : "", options[i].arg ? options[i].arg : "");
		fprintf(f, "  %-18s ", head);
		for (const char *l = options[i].help; *l; ) {
			size_t n = strcspn(l, "\n");
			fprintf(f, "%s%.*s\n", l == options[i].help ? "" : "                     ",
				(int)n, l);
			l += n + (l[n] == '\n');
		}
	}
	fprintf(f, "\nCreates DIR/app.sock (applications) and DIR/control.sock (operators), both\n"
		   "mode 0600.  Restarts servers that fail, as their policies say.\n"
		   "Stops cleanly on SIGTERM or SIGINT.\n");
}

/* ---- what antd does with each kind of peer -------------------------------- */

/* A server's connection broke the protocol: that is a fault of the server. */
static void on_server_fault(struct peer *p, const char *why)
{
	char cause[300];
	snprintf(cause, sizeof(cause), "cut off: %s", why);
	supervise_fault(p->d, p->inst, EV_PROTOCOL_FAULT, cause);
}

static void on_server_close(struct peer *p, const char *why)
{
	struct instance *in = p->inst;
	if (in->peer != p)
		return;
	in->peer = NULL;
	in->want = 0;
	if (instance_alive(in))
		supervise_event(p->d, in->srv, in, EV_DISCONNECTED, NULL);
}

static void install_handlers(struct antd *d)
{
	static const struct peer_handlers server = {
		.framed = 1, .on_message = calls_on_message, .on_fault = on_server_fault,
		.on_close = on_server_close,
	};
	static const struct peer_handlers app = {
		.framed = 1, .on_message = calls_on_message, .on_close = calls_on_app_close,
	};
	static const struct peer_handlers control = { .on_message = control_on_message };
	peer_set_handlers(d, PEER_SERVER, &server);
	peer_set_handlers(d, PEER_APP, &app);
	peer_set_handlers(d, PEER_CONTROL, &control);
}

/* ---- readiness and stopping ------------------------------------------------ */

static void report_ready(struct antd *d, const char *msg)
{
	if (d->ready_fd < 0)
		return;
	ssize_t w = write(d->ready_fd, msg, strlen(msg));
	(void)w;
	close(d->ready_fd);
	d->ready_fd = -1;
}

void antd_check_ready(struct antd *d)
{
	if (d->ever_ready)
		return;
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		if (d->servers[id].state != SRV_RUNNING)
			return;
	d->ever_ready = 1;
	log_info("stack-ready", NULL, "stack %s ready: %u servers, %s", d->stack->name,
		 d->stack->nservers, d->app_path);
	report_ready(d, "ok\n");
}

static void begin_stop(struct antd *d, const char *why);

static int children_left(const struct antd *d)
{
	int n = 0;
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		n += instance_alive(d->servers[id].cur) + instance_alive(d->servers[id].spare);
	return n;
}

void antd_server_exited(struct antd *d, struct server *s)
{
	if (d->stopping) {
		if (!children_left(d))
			ev_break(d->loop, EVBREAK_ALL), d->done = 1;
		return;
	}
	if (!d->ever_ready && (s->state == SRV_FAILED || s->state == SRV_STOPPED)) {
		char msg[256];
		snprintf(msg, sizeof(msg), "server %s failed before the stack was ready: %s\n",
			 s->conf->name, s->last_exit);
		report_ready(d, msg);
		begin_stop(d, "a server failed at start-up");
	}
}

void antd_stop(struct antd *d, const char *why)
{
	begin_stop(d, why);
}

void antd_start_failed(struct antd *d, struct server *s, const char *why)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "server %s: %s\n", s->conf->name, why);
	report_ready(d, msg);
	if (d->foreground)
		fprintf(stderr, "antd: %s", msg);
	begin_stop(d, "a server could not be started");
}

static void on_stop_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct antd *d = w->data;
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		if (instance_alive(s->cur) || instance_alive(s->spare))
			log_warn("stop", s->conf->name, "still running after %.0f s: SIGKILL",
				 STOP_GRACE_S);
	}
	instances_reap_all(d);
	ev_break(loop, EVBREAK_ALL);
	d->done = 1;
}

static void close_listeners(struct antd *d)
{
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

static void begin_stop(struct antd *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("stopping", NULL, "stack %s stopping: %s", d->stack->name, why);
	close_listeners(d);
	calls_fail_all(d, ANT_E_SHUTDOWN);
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		supervise_event(d, &d->servers[id], NULL, EV_SHUTDOWN, NULL);
	int running = children_left(d);
	if (!running) {
		ev_break(d->loop, EVBREAK_ALL), d->done = 1;
		return;
	}
	ev_timer_init(&d->stop_timer, on_stop_timer, STOP_GRACE_S, 0.);
	d->stop_timer.data = d;
	ev_timer_start(d->loop, &d->stop_timer);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct antd *d = w->data;
	begin_stop(d, w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- listening sockets ----------------------------------------------------- */

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

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct antd *d = w->data;
	int is_control = w == &d->control_w;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept", NULL, "accept on %s: %s",
					 is_control ? "control.sock" : "app.sock", strerror(errno));
			return;
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
		peer_welcome(p);
	}
	(void)loop;
}

/* ---- run folder ----------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Claim dir for this antd: flock on DIR/antd.lock.  Fails with a reason if
 * a live antd holds it. */
static int claim_run_dir(struct antd *d, char *err, size_t errlen)
{
	int r = mkdir_p(d->run_dir, 0755);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", d->run_dir, strerror(-r));
		return -1;
	}
	/* Only its owner may write in it: antd creates and removes files there
	 * as root, and a folder others can write would let them plant links. */
	struct stat st;
	if (lstat(d->run_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a folder", d->run_dir);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(err, errlen, "%s: must belong to uid %u and be writable by it alone "
			 "(it is uid %u, mode %04o)", d->run_dir, (unsigned)geteuid(),
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	char lock[PATH_MAX];
	snprintf(lock, sizeof(lock), "%s/antd.lock", d->run_dir);
	snprintf(d->pid_path, sizeof(d->pid_path), "%s/antd.pid", d->run_dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", lock, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		long pid = 0;
		FILE *f = fopen(d->pid_path, "re");
		if (f) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		close(fd);
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "%s holds a live stack already (antd pid %ld)",
				 d->run_dir, pid);
		else
			snprintf(err, errlen, "%s: %s", lock, strerror(e));
		return -1;
	}
	d->lock_fd = fd;
	if (snprintf(d->app_path, sizeof(d->app_path), "%s/app.sock", d->run_dir) >=
		    (int)sizeof(d->app_path) ||
	    snprintf(d->control_path, sizeof(d->control_path), "%s/control.sock",
		     d->run_dir) >= (int)sizeof(d->control_path)) {
		snprintf(err, errlen, "%s: path too long for a Unix socket", d->run_dir);
		return -1;
	}
	return 0;
}

static void write_pid_file(struct antd *d)
{
	int fd = open(d->pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		log_warn("pid-file", NULL, "%s: %s", d->pid_path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

/* Folders searched for bare server names. */
static char *server_search_path(const char *extra)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	char *dir = dirname(self);
	const char *env = getenv("ANT_SERVER_PATH");
	size_t len = strlen(dir) * 2 + 64 + (extra ? strlen(extra) : 0) +
		     (env ? strlen(env) : 0) + strlen(ANT_LIBEXECDIR);
	char *p = malloc(len);
	if (!p)
		return NULL;
	snprintf(p, len, "%s%s%s%s%s/../servers:%s:%s", extra ? extra : "", extra ? ":" : "",
		 env ? env : "", env ? ":" : "", dir, dir, ANT_LIBEXECDIR);
	return p;
}

/* Folders searched for policy files: --policy-path, $ANT_POLICY_PATH, the
 * stack file's folder and its policies/ and ../policies/, the installed ones. */
static char *policy_search_path(const char *stack_path, const char *extra)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", stack_path);
	const char *dir = dirname(buf);
	const char *env = getenv("ANT_POLICY_PATH");
	size_t len = strlen(dir) * 3 + 64 + (extra ? strlen(extra) : 0) +
		     (env ? strlen(env) : 0) + strlen(ANT_POLICYDIR) + strlen(ANT_SRC_POLICYDIR);
	char *p = malloc(len);
	if (!p)
		return NULL;
	snprintf(p, len, "%s%s%s%s%s:%s/policies:%s/../policies:%s:%s", extra ? extra : "",
		 extra ? ":" : "", env ? env : "", env ? ":" : "", dir, dir, dir, ANT_POLICYDIR,
		 ANT_SRC_POLICYDIR);
	return p;
}

/* Detach: the parent waits until the stack is ready (or failed) and exits
 * with that status, so `antd STACK && ant-call ...` works in scripts. */
static int daemonize(struct antd *d, const char *log_file)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		char buf[512];
		size_t got = 0;
		ssize_t n;
		while (got < sizeof(buf) - 1 &&
		       (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			got += (size_t)n;
		}
		buf[got] = '\0';
		if (strcmp(buf, "ok\n") == 0)
			_exit(0);
		fprintf(stderr, "antd: %s", got ? buf : "stopped before the stack was ready (see the log)\n");
		_exit(1);
	}
	close(p[0]);
	d->ready_fd = p[1];
	setsid();
	/* Nothing of ours, or of the servers we start, writes to the caller's
	 * terminal or pipe any more: their stdout and stderr go to the log. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	int out = log_file ? open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
	if (out < 0)
		out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (out >= 0) {
		dup2(out, 1);
		dup2(out, 2);
		close(out);
	}
	return 0;
}

/* Nothing else to do: make one stocked data ICA; stop when the stock is full. */
static void on_stock_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct antd *d = w->data;
	if (!d || !ica_stock_one(&d->icas))
		ev_idle_stop(loop, w);
}

/* ANT_RUN_ID: 16 hex digits, new for every run of antd, inherited by every
 * server.  With a call's id (the same across replays, but reused by a later
 * run) it names one call for good: fs tags its transactions with both. */
static void set_run_id(void)
{
	uint64_t id = 0;
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		id = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40);
	}
	char hex[24];
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)(id | 1));
	setenv("ANT_RUN_ID", hex, 1);
}

/* What the command line says. */
struct args {
	const char *run_dir, *log_file, *server_path, *policy_path, *stack_file;
	int foreground, log_json, verbose;
};

/* Returns -1 to go on, else the exit status (help, version, usage error). */
static int parse_args(int argc, char **argv, struct args *a)
{
	struct option opts[NOPTIONS + 1];
	for (size_t i = 0; i < NOPTIONS; i++)
		opts[i] = options[i].opt;
	opts[NOPTIONS] = (struct option){ NULL, 0, NULL, 0 };
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': a->run_dir = optarg; break;
		case 'f': a->foreground = 1; break;
		case 'j': a->log_json = 1; break;
		case 'l': a->log_file = optarg; break;
		case 's': a->server_path = optarg; break;
		case 'p': a->policy_path = optarg; break;
		case 'v': a->verbose = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("antd %s\n", ANT_VERSION); return 0;
		default:
			fprintf(stderr, "antd: unknown or incomplete option '%s' (see antd --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "antd: %s (see antd --help)\n",
			optind == argc ? "missing STACK.json" : "more than one stack file given");
		return 2;
	}
	a->stack_file = argv[optind];
	return -1;
}

/* The stack file, its servers' binaries and its policies.  Returns 0, or -1
 * after saying why on stderr. */
static int load_stack(struct antd *d, const struct args *a)
{
	char err[1024];
	d->stack = stack_load(a->stack_file, err, sizeof(err));
	if (!d->stack) {
		fprintf(stderr, "antd: %s\n", err);
		return -1;
	}
	char *search = server_search_path(a->server_path);
	int r = search ? stack_resolve_execs(d->stack, search, err, sizeof(err)) : -1;
	free(search);
	if (r < 0) {
		fprintf(stderr, "antd: %s\n", search ? err : "out of memory");
		return -1;
	}
	char *psearch = policy_search_path(d->stack->path, a->policy_path);
	r = psearch ? stack_resolve_policies(d->stack, psearch, err, sizeof(err)) : -1;
	if (r < 0) {
		fprintf(stderr, "antd: %s\n", psearch ? err : "out of memory");
		free(psearch);
		return -1;
	}
	free(psearch);
	return 0;
}

/* Claim the run folder, open the log, detach.  Returns 0 or -1 (said why). */
static int settle_in(struct antd *d, const struct args *a)
{
	char err[1024], defdir[PATH_MAX], logpath[PATH_MAX];
	const char *run_dir = a->run_dir ? a->run_dir : d->stack->run_dir;
	if (!run_dir) {
		snprintf(defdir, sizeof(defdir), "/run/ant/%s", d->stack->name);
		run_dir = defdir;
	}
	d->run_dir = strdup(run_dir);
	set_run_id();
	if (claim_run_dir(d, err, sizeof(err)) < 0) {
		fprintf(stderr, "antd: %s\n", err);
		return -1;
	}
	const char *log_file = a->log_file;
	if (!log_file && !a->foreground) {
		snprintf(logpath, sizeof(logpath), "%s/antd.log", d->run_dir);
		log_file = logpath;
	}
	int r = log_open(a->log_json, log_file);
	if (r < 0) {
		fprintf(stderr, "antd: %s: %s\n", log_file, strerror(-r));
		return -1;
	}
	if (a->verbose)
		log_set_level(LOG_DEBUG);
	if (!a->foreground && (r = daemonize(d, log_file)) < 0) {
		fprintf(stderr, "antd: cannot detach: %s\n", strerror(-r));
		return -1;
	}
	write_pid_file(d);
	return 0;
}

static void watch_io(struct antd *d, ev_io *w, void (*cb)(struct ev_loop *, ev_io *, int), int fd)
{
	ev_io_init(w, cb, fd, EV_READ);
	w->data = d;
	ev_io_start(d->loop, w);
}

/* The event loop, the two listening sockets, the signals.  Returns 0 or -1
 * (logged and reported). */
static int open_loop(struct antd *d)
{
	/* antd and, by inheritance, every server: a synchronous call chain pays
	 * for each cross-CPU wake-up (see docs/architecture.md, "CPU placement"). */
	if (d->stack->ncpus && sched_setaffinity(0, sizeof(d->stack->cpus), &d->stack->cpus) < 0)
		log_warn("start", NULL, "cpu_affinity: %s; running unpinned", strerror(errno));
	d->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_SIGNALFD);
	if (!d->loop) {
		log_error("start", NULL, "cannot create the event loop");
		report_ready(d, "cannot create the event loop\n");
		return -1;
	}
	ev_set_userdata(d->loop, d);
	ica_table_init(&d->icas, (size_t)16 << 30, (size_t)256 << 20);
	calls_init(d);
	install_handlers(d);
	d->forker.sock = d->forker.pidfd = -1;
	/* Other users reach app.sock only if the stack file names them; antd
	 * checks each one's credentials when it connects. */
	d->app_listen = listen_on(d->app_path,
				  d->stack->napp_uids || d->stack->napp_gids ? 0666 : 0600);
	d->control_listen = d->app_listen >= 0 ? listen_on(d->control_path, 0600) : -1;
	if (d->app_listen < 0 || d->control_listen < 0) {
		char err[1024];
		snprintf(err, sizeof(err), "cannot listen on %s: %s\n",
			 d->app_listen < 0 ? d->app_path : d->control_path,
			 strerror(-(d->app_listen < 0 ? d->app_listen : d->control_listen)));
		log_error("start", NULL, "%s", err);
		report_ready(d, err);
		if (d->foreground)
			fprintf(stderr, "antd: %s", err);
		close_listeners(d);
		return -1;
	}
	ev_idle_init(&d->stock_w, on_stock_idle);
	d->stock_w.data = d;
	watch_io(d, &d->app_w, on_accept, d->app_listen);
	watch_io(d, &d->control_w, on_accept, d->control_listen);
	ev_signal_init(&d->sigterm_w, on_signal, SIGTERM);
	d->sigterm_w.data = d;
	ev_signal_start(d->loop, &d->sigterm_w);
	ev_signal_init(&d->sigint_w, on_signal, SIGINT);
	d->sigint_w.data = d;
	ev_signal_start(d->loop, &d->sigint_w);
	return 0;
}

/* Everything antd holds, once the loop is over. */
static void tear_down(struct antd *d)
{
	close_listeners(d);
	peers_close_all(d);
	instances_reap_all(d);
	forker_stop(d);
	output_close_all(d->loop);   /* the servers' last lines, then their pipes */
	log_info("stopped", NULL, "stack %s stopped", d->stack->name);
	unlink(d->pid_path);
	calls_fini(d);
	ev_idle_stop(d->loop, &d->stock_w);
	ica_table_fini(&d->icas);
	ev_loop_destroy(d->loop);
	free(d->peers);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->run_dir);
	stack_free(d->stack);
	log_close();
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		return r;
	static struct antd d;
	d.app_listen = d.control_listen = d.lock_fd = d.ready_fd = -1;
	d.uid = geteuid();
	d.foreground = a.foreground;
	if (load_stack(&d, &a) < 0 || settle_in(&d, &a) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (open_loop(&d) < 0)
		return 1;
	log_info("start", NULL, "antd %s pid %ld: stack %s from %s, run folder %s", ANT_VERSION,
		 (long)getpid(), d.stack->name, d.stack->path, d.run_dir);
	if ((r = spawn_init(&d)) < 0) {
		log_error("start", NULL, "cannot start the forker: %s", strerror(-r));
		report_ready(&d, "cannot start the forker\n");
		tear_down(&d);
		return 1;
	}
	for (unsigned id = 1; id <= d.stack->nservers; id++) {
		struct server *s = &d.servers[id];
		s->id = id;
		s->conf = &d.stack->servers[id - 1];
		supervise_init(&d, s);
	}
	for (unsigned id = 1; id <= d.stack->nservers && !d.stopping; id++)
		supervise_launch(&d, &d.servers[id]);
	/* A stop begun before the loop runs (a server that could not start)
	 * has nothing to wait for if no child is left. */
	if (!d.stopping || children_left(&d))
		loop_run(&d);
	int status = d.ever_ready && !d.exit_status ? 0 : 1;
	tear_down(&d);
	return status;
}
