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
#include <sys/resource.h>
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
#include "listen.h"
#include "loop.h"
#include "journal.h"
#include "log.h"
#include "notify.h"
#include "output.h"
#include "rundir.h"

#define STOP_GRACE_S 3.0

/* antd's options: getopt's table and --help's text in one place. */
static const struct antd_option {
	struct option opt;
	const char *arg;        /* the value's name in --help, or NULL */
	const char *help;       /* lines after the first are indented */
} options[] = {
	{ { "run-dir", required_argument, NULL, 'r' }, "DIR",
	  "sockets, pid and log go here (default: the stack file's\n"
	  "\"run_dir\", else $ANT_RUN_BASE/<stack name>, else\n"
	  "/run/ant/<stack name>)" },
	{ { "foreground", no_argument, NULL, 'f' }, NULL,
	  "stay in the foreground, log to stderr (default: detach\n"
	  "once every server is ready, log to DIR/antd.log)" },
	{ { "log-json", no_argument, NULL, 'j' }, NULL, "log one JSON object per line" },
	{ { "log-file", required_argument, NULL, 'l' }, "FILE", "log to FILE instead" },
	{ { "log-journal", optional_argument, NULL, 'J' }, "[=SOCKET]",
	  "log to systemd's journal, each event with its fields\n"
	  "(ANT_EVENT, ANT_SERVER, ANT_PID...); SOCKET: the journal's\n"
	  "socket (default /run/systemd/journal/socket).  The default\n"
	  "with --foreground when stderr is the journal ($JOURNAL_STREAM)" },
	{ { "server-path", required_argument, NULL, 's' }, "DIRS",
	  "':'-separated folders where bare server names are looked\n"
	  "up (prepended to $ANT_SERVER_PATH and the built-in ones)" },
	{ { "policy-path", required_argument, NULL, 'p' }, "DIRS",
	  "':'-separated folders where policy files (NAME.json) are\n"
	  "looked up (before $ANT_POLICY_PATH, the stack file's\n"
	  "folder, its policies/ and ../policies/, the installed ones)" },
	{ { "verbose", no_argument, NULL, 'v' }, NULL, "log debug events too" },
	{ { "check", no_argument, NULL, 'c' }, NULL,
	  "check STACK.json, its servers' binaries and its policies,\n"
	  "say what is wrong or that it is fine, and exit (0 or 1)\n"
	  "without starting anything" },
	{ { "state-format", no_argument, NULL, 'F' }, NULL,
	  "print the versions of antd's state this antd can take\n"
	  "over (antctl reexec asks the new binary) and exit" },
	{ { "resume", required_argument, NULL, 'R' }, "FDS",
	  "antd's own, for antctl reexec: take over from the antd\n"
	  "before, whose state is in these fds" },
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
		const char *arg = options[i].arg;
		snprintf(head, sizeof(head), "--%s%s%s", options[i].opt.name,
			 arg && arg[0] != '[' ? " " : "", arg ? arg : "");
		fprintf(f, "  %-18s ", head);
		for (const char *l = options[i].help; *l; ) {
			size_t n = strcspn(l, "\n");
			fprintf(f, "%s%.*s\n", l == options[i].help ? "" : "                     ",
				(int)n, l);
			l += n + (l[n] == '\n');
		}
	}
	fprintf(f, "\nCreates DIR/app.sock (applications; mode 0600, or 0666 when the stack file's\n"
		   "\"apps\" names other users or groups, whose credentials antd checks) and\n"
		   "DIR/control.sock (operators, 0600).  Restarts servers that fail, as their\n"
		   "policies say.  Stops cleanly on SIGTERM or SIGINT.  Under systemd\n"
		   "(antd@.service) it reports readiness with sd_notify.\n");
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

static void antd_check_ready(struct antd *d);
static void antd_server_exited(struct antd *d, struct server *s);
static void antd_start_failed(struct antd *d, struct server *s, const char *why);
static void antd_stop(struct antd *d, const char *why);

static void install_handlers(struct antd *d)
{
	d->hooks = (struct antd_hooks){ .ready = antd_check_ready,
					.server_gone = antd_server_exited,
					.start_failed = antd_start_failed, .stop = antd_stop };
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

static void antd_check_ready(struct antd *d)
{
	if (d->ever_ready)
		return;
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		if (d->servers[id].state != SRV_RUNNING)
			return;
	d->ever_ready = 1;
	log_info("stack-ready", NULL, "stack %s ready: %u servers, %s", d->stack->name,
		 d->stack->nservers, d->app_path);
	notify_send("READY=1\nMAINPID=%d\nSTATUS=stack %s: %u server%s running", (int)getpid(),
		    d->stack->name, d->stack->nservers, d->stack->nservers == 1 ? "" : "s");
	char msg[PATH_MAX + 160];
	snprintf(msg, sizeof(msg), "ok stack %s ready: %u server%s, pid %d, log %s\n",
		 d->stack->name, d->stack->nservers, d->stack->nservers == 1 ? "" : "s",
		 (int)getpid(), journal_on() ? "(the journal)" : d->log_path[0] ? d->log_path : "(stderr)");
	report_ready(d, msg);
}

static void begin_stop(struct antd *d, const char *why);

static int children_left(const struct antd *d)
{
	int n = 0;
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		n += instance_alive(d->servers[id].cur) + instance_alive(d->servers[id].spare);
	return n;
}

static void antd_server_exited(struct antd *d, struct server *s)
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
		notify_send("STATUS=server %s failed before the stack was ready: %s", s->conf->name,
			    s->last_exit);
		begin_stop(d, "a server failed at start-up");
	}
}

static void antd_stop(struct antd *d, const char *why)
{
	begin_stop(d, why);
}

static void antd_start_failed(struct antd *d, struct server *s, const char *why)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "server %s: %s\n", s->conf->name, why);
	report_ready(d, msg);
	notify_send("STATUS=server %s could not be started: %s", s->conf->name, why);
	if (d->foreground)
		fprintf(stderr, "antd: %s", msg);
	begin_stop(d, "a server could not be started");
}

static void on_stop_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct antd *d = w->data;
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		if (instance_alive(s->cur) || instance_alive(s->spare)) {
			log_warn("stop", s->conf->name, "still running after %g s: SIGKILL",
				 d->stop_grace_s);
			d->exit_status = ANTD_EXIT_KILLED;
		}
	}
	instances_reap_all(d);
	ev_break(loop, EVBREAK_ALL);
	d->done = 1;
}


static void begin_stop(struct antd *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("stopping", NULL, "stack %s stopping: %s", d->stack->name, why);
	notify_send("STOPPING=1\nSTATUS=stack %s stopping: %s", d->stack->name, why);
	listen_close(d);
	calls_fail_all(d, ANT_E_SHUTDOWN);
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		supervise_event(d, &d->servers[id], NULL, EV_SHUTDOWN, NULL);
	int running = children_left(d);
	if (!running) {
		ev_break(d->loop, EVBREAK_ALL), d->done = 1;
		return;
	}
	ev_timer_init(&d->stop_timer, on_stop_timer, d->stop_grace_s, 0.);
	d->stop_timer.data = d;
	ev_timer_start(d->loop, &d->stop_timer);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct antd *d = w->data;
	begin_stop(d, w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}






#ifndef ANT_LIBEXECDIR_FROM_SBIN
#define ANT_LIBEXECDIR_FROM_SBIN ANT_LIBEXECDIR
#endif
#ifndef ANT_POLICYDIR_FROM_SBIN
#define ANT_POLICYDIR_FROM_SBIN ANT_POLICYDIR
#endif

/* The folder antd's own program is in (empty if /proc is not there). */
static void self_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
}

/* A search path being built: folders joined by ':'. */
struct search_path {
	char *s;
	size_t len;
	int failed;
};

static void path_add(struct search_path *p, const char *a, const char *b)
{
	if (!a || !*a || p->failed)
		return;
	size_t n = strlen(a) + (b ? strlen(b) : 0) + 2;
	char *s = realloc(p->s, p->len + n);
	if (!s) {
		p->failed = 1;
		return;
	}
	p->s = s;
	p->len += (size_t)snprintf(s + p->len, n, "%s%s%s", p->len ? ":" : "", a, b ? b : "");
}

/* The installed folder rel relative to antd's folder dir (an install under
 * a DESTDIR or a moved prefix), if it is there and is not the configured one. */
static void path_add_moved(struct search_path *p, const char *dir, const char *rel,
			   const char *configured)
{
	char buf[PATH_MAX], real[PATH_MAX], conf[PATH_MAX];
	struct stat st;
	if (rel[0] == '/' || snprintf(buf, sizeof(buf), "%s/%s", dir, rel) >= (int)sizeof(buf) ||
	    stat(buf, &st) != 0 || !S_ISDIR(st.st_mode) || !realpath(buf, real))
		return;
	if (realpath(configured, conf) && strcmp(real, conf) == 0)
		return;
	path_add(p, real, NULL);
}

/* Folders searched for bare server names: --server-path, $ANT_SERVER_PATH,
 * the build tree's servers/ (an antd run from its build folder), antd's own
 * folder, libexecdir/ant relative to antd, libexecdir/ant as configured. */
static char *server_search_path(const char *extra)
{
	char dir[PATH_MAX];
	self_dir(dir, sizeof(dir));
	struct search_path p = { 0 };
	path_add(&p, extra, NULL);
	path_add(&p, getenv("ANT_SERVER_PATH"), NULL);
	path_add(&p, dir, "/../servers");
	path_add(&p, dir, NULL);
	path_add_moved(&p, dir, ANT_LIBEXECDIR_FROM_SBIN, ANT_LIBEXECDIR);
	path_add(&p, ANT_LIBEXECDIR, NULL);
	if (p.failed) {
		free(p.s);
		return NULL;
	}
	return p.s;
}

/* Folders searched for policy files: --policy-path, $ANT_POLICY_PATH, the
 * stack file's folder and its policies/ and ../policies/, the installed ones
 * (relative to antd, then as configured), the source tree's. */
static char *policy_search_path(const char *stack_path, const char *extra)
{
	char buf[PATH_MAX], self[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", stack_path);
	const char *dir = dirname(buf);
	self_dir(self, sizeof(self));
	struct search_path p = { 0 };
	path_add(&p, extra, NULL);
	path_add(&p, getenv("ANT_POLICY_PATH"), NULL);
	path_add(&p, dir, NULL);
	path_add(&p, dir, "/policies");
	path_add(&p, dir, "/../policies");
	path_add_moved(&p, self, ANT_POLICYDIR_FROM_SBIN, ANT_POLICYDIR);
	path_add(&p, ANT_POLICYDIR, NULL);
	path_add(&p, ANT_SRC_POLICYDIR, NULL);
	if (p.failed) {
		free(p.s);
		return NULL;
	}
	return p.s;
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

/*
 * File descriptors: antd holds one per connection and per data ICA, so its
 * own soft limit goes up to its hard limit.  A server's sandbox asks for its
 * own RLIMIT_NOFILE (4096 by default), which it cannot get above antd's hard
 * limit unless antd may raise it (CAP_SYS_RESOURCE; containers and services
 * with LimitNOFILE= often may not): then it is clamped, with a warning,
 * rather than every server failing to start.
 */
static void fit_fd_limits(struct antd *d)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = rl.rlim_max;
	for (unsigned i = 0; i < d->stack->nservers; i++) {
		long n = d->stack->servers[i].sandbox.nofile;
		if (n >= 0 && (rlim_t)n > want)
			want = (rlim_t)n;
	}
	if (want > rl.rlim_max) {
		struct rlimit up = { .rlim_cur = want, .rlim_max = want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	for (unsigned i = 0; i < d->stack->nservers; i++) {
		struct stack_server *conf = &d->stack->servers[i];
		if (conf->sandbox.nofile < 0 || (rlim_t)conf->sandbox.nofile <= rl.rlim_max)
			continue;
		log_warn("rlimit", conf->name, "sandbox nofile %ld is above antd's hard limit "
			 "of %llu open files, which antd may not raise: it gets %llu",
			 conf->sandbox.nofile, (unsigned long long)rl.rlim_max,
			 (unsigned long long)rl.rlim_max);
		conf->sandbox.nofile = (long)rl.rlim_max;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* What the command line says. */
struct args {
	const char *run_dir, *log_file, *server_path, *policy_path, *stack_file, *resume;
	const char *journal_socket;   /* --log-journal=SOCKET */
	int foreground, log_json, log_journal, verbose, check;
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
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'r': a->run_dir = optarg; break;
		case 'f': a->foreground = 1; break;
		case 'j': a->log_json = 1; break;
		case 'l': a->log_file = optarg; break;
		case 'J': a->log_journal = 1, a->journal_socket = optarg; break;
		case 's': a->server_path = optarg; break;
		case 'p': a->policy_path = optarg; break;
		case 'v': a->verbose = 1; break;
		case 'c': a->check = 1; break;
		case 'R': a->resume = optarg; break;
		case 'F':
			printf("%s %u %u\n", ANTD_STATE_FORMAT, ANTD_STATE_VERSION_MIN,
			       ANTD_STATE_VERSION);
			return 0;
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
	if (d->stack_text)   /* a re-exec: the stack as the first antd read it */
		d->stack = stack_parse(d->stack_text, a->stack_file, err, sizeof(err));
	else
		d->stack = stack_load_keep(a->stack_file, &d->stack_text, err, sizeof(err));
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

/* The journal as antd's log (--log-journal, or --foreground with stderr the
 * journal's stream): 1 if it is, 0 if not; a journal that cannot be reached
 * leaves the log where it was, with a warning. */
static int open_journal(const struct args *a)
{
	int want = a->log_journal || (a->foreground && !a->log_file && journal_is_stderr());
	if (!want)
		return 0;
	int r = journal_open(a->journal_socket);
	if (r < 0) {
		log_warn("start", NULL, "the journal (%s): %s; logging to %s instead",
			 a->journal_socket ? a->journal_socket : JOURNAL_SOCKET, strerror(-r),
			 a->log_file ? a->log_file : a->foreground ? "stderr" : "the run folder");
		return 0;
	}
	return 1;
}

/* Claim the run folder, open the log, detach.  Returns 0 or -1 (said why). */
static int settle_in(struct antd *d, const struct args *a)
{
	char err[1024], defdir[PATH_MAX], logpath[PATH_MAX];
	const char *run_dir = a->run_dir ? a->run_dir : d->stack->run_dir;
	if (!run_dir) {
		const char *base = getenv("ANT_RUN_BASE");   /* as the tools look for it */
		snprintf(defdir, sizeof(defdir), "%s/%s", base && *base ? base : "/run/ant",
			 d->stack->name);
		run_dir = defdir;
	}
	d->run_dir = strdup(run_dir);
	set_run_id();
	if (rundir_claim(d, err, sizeof(err)) < 0) {
		fprintf(stderr, "antd: %s\n", err);
		return -1;
	}
	const char *log_file = a->log_file;
	if (!log_file && !a->foreground) {
		snprintf(logpath, sizeof(logpath), "%s/antd.log", d->run_dir);
		log_file = logpath;
	}
	if (log_file)
		snprintf(d->log_path, sizeof(d->log_path), "%s", log_file);
	int r = log_open(a->log_json, log_file);
	if (r < 0) {
		fprintf(stderr, "antd: %s: %s\n", log_file, strerror(-r));
		return -1;
	}
	if (a->verbose)
		log_set_level(LOG_DEBUG);
	open_journal(a);
	if (!a->foreground && (r = rundir_detach(d, log_file)) < 0) {
		fprintf(stderr, "antd: cannot detach: %s\n", strerror(-r));
		return -1;
	}
	rundir_write_pid(d);
	return 0;
}

/* A re-exec: the run folder is antd's already (its lock fd came across),
 * the pid is the same; only the log is opened again. */
static int settle_in_again(struct antd *d, const struct args *a, char *err, size_t errlen)
{
	const char *run_dir = json_string_value(json_object_get(d->resume, "run_dir"));
	const char *log_path = json_string_value(json_object_get(d->resume, "log_path"));
	if (!run_dir || !log_path) {
		snprintf(err, errlen, "the state lacks the run folder");
		return -1;
	}
	d->run_dir = strdup(run_dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s", log_path);
	int r = log_open(a->log_json, log_path[0] ? log_path : NULL);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", log_path, strerror(-r));
		return -1;
	}
	if (a->verbose)
		log_set_level(LOG_DEBUG);
	open_journal(a);
	return 0;
}

/* The event loop, the two listening sockets, the signals.  Returns 0 or -1
 * (logged and reported). */
static int open_loop(struct antd *d, int resume)
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
	lanes_init(d);
	inject_init(d);
	install_handlers(d);
	d->forker.sock = d->forker.pidfd = -1;
	char err[1024];
	if (!resume && listen_open(d, err, sizeof(err)) < 0) {
		log_error("start", NULL, "%s", err);
		strcat(err, "\n");
		report_ready(d, err);
		if (d->foreground)
			fprintf(stderr, "antd: %s", err);
		return -1;
	}
	ev_idle_init(&d->stock_w, on_stock_idle);
	d->stock_w.data = d;
	ev_signal_init(&d->sigterm_w, on_signal, SIGTERM);
	d->sigterm_w.data = d;
	ev_signal_start(d->loop, &d->sigterm_w);
	ev_signal_init(&d->sigint_w, on_signal, SIGINT);
	d->sigint_w.data = d;
	ev_signal_start(d->loop, &d->sigint_w);
	return 0;
}

/* The service manager ($NOTIFY_SOCKET), if there is one: it hears of
 * readiness, status and stopping (notify.h), and gets its watchdog pings. */
static void start_notify(struct antd *d)
{
	int r = notify_open();
	if (r < 0)
		log_warn("start", NULL, "NOTIFY_SOCKET=%s cannot be used (%s): the service manager "
			 "will not hear from antd", getenv("NOTIFY_SOCKET"), strerror(-r));
	else
		notify_watchdog_start(d->loop);
}

/* Everything antd holds, once the loop is over. */
static void tear_down(struct antd *d)
{
	listen_close(d);
	peers_close_all(d);
	instances_reap_all(d);
	forker_stop(d);
	output_close_all(d->loop);   /* the servers' last lines, then their pipes */
	log_info("stopped", NULL, "stack %s stopped", d->stack->name);
	notify_close();
	unlink(d->pid_path);
	inject_fini(d);
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		upgrade_fini(d, &d->servers[id]);
	lanes_fini(d);
	calls_fini(d);
	ev_idle_stop(d->loop, &d->stock_w);
	ica_table_fini(&d->icas);
	ev_loop_destroy(d->loop);
	free(d->peers);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->run_dir);
	stack_free(d->stack);
	free(d->stack_text);
	free(d->argv);
	log_close();
}

/* antd's command line without --resume (what a re-exec runs again). */
static void keep_argv(struct antd *d, int argc, char **argv)
{
	d->argv = calloc((size_t)argc + 1, sizeof(*d->argv));
	if (!d->argv)
		return;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strncmp(argv[i], "--resume", 8) == 0) {
			if (!strchr(argv[i], '=') && i + 1 < argc)
				i++;
			continue;
		}
		d->argv[d->argc++] = argv[i];
	}
}

/* Started by antctl reexec: take over from the antd before, or go back to
 * it.  Returns antd's exit status. */
static int resume(struct antd *d, const struct args *a, char **argv)
{
	char err[1024] = "";
	d->resume_main = mono_ns();
	signal(SIGPIPE, SIG_IGN);
	if (reexec_read(d, a->resume, err, sizeof(err)) < 0 || load_stack(d, a) < 0 ||
	    settle_in_again(d, a, err, sizeof(err)) < 0)
		goto back;
	fit_fd_limits(d);
	if (open_loop(d, 1) < 0) {
		snprintf(err, sizeof(err), "cannot open the event loop");
		goto back;
	}
	/* The lanes of the antd before were closed and drained before it
	 * re-executed; the connections it hands over keep the slow path. */
	if (d->lanes.on) {
		d->lanes.on = 0;
		snprintf(d->lanes.off_why, sizeof(d->lanes.off_why), "antd re-executed");
	}
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		s->id = id;
		s->conf = &d->stack->servers[id - 1];
		supervise_init(d, s);
	}
	if (reexec_take_over(d, err, sizeof(err)) < 0)
		goto back;
	spawn_init_later(d, 0.02);
	reexec_done(d);
	start_notify(d);
	notify_send("READY=1\nMAINPID=%d\nSTATUS=stack %s: re-executed, %u server%s", (int)getpid(),
		    d->stack->name, d->stack->nservers, d->stack->nservers == 1 ? "" : "s");
	loop_run(d);
	int status = d->exit_status;
	tear_down(d);
	return status;
back:
	if (d->resume_exe < 0) {   /* not started by antctl reexec at all */
		fprintf(stderr, "antd: %s\n", err);
		return ANTD_EXIT_USAGE;
	}
	if (!err[0])
		snprintf(err, sizeof(err), "the stack file or the policies cannot be read again");
	fprintf(stderr, "antd: re-exec: %s\n", err);
	reexec_fall_back(d, argv, err);
	fprintf(stderr, "antd: re-exec: there is no antd to go back to: the stack is lost\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	log_buffer_stderr();
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		return r;
	static struct antd d;
	d.app_listen = d.control_listen = d.lock_fd = d.ready_fd = -1;
	d.uid = geteuid();
	d.stop_grace_s = STOP_GRACE_S;
	d.foreground = a.foreground;
	d.resume_fd = d.resume_exe = -1;
	keep_argv(&d, argc, argv);
	if (a.resume)
		return resume(&d, &a, argv);
	d.started_wall = (double)time(NULL);
	if (load_stack(&d, &a) < 0)
		return 1;
	if (a.check) {
		printf("%s: stack %s, %u server%s: fine\n", a.stack_file, d.stack->name,
		       d.stack->nservers, d.stack->nservers == 1 ? "" : "s");
		stack_free(d.stack);
		return 0;
	}
	if (settle_in(&d, &a) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	fit_fd_limits(&d);
	if (open_loop(&d, 0) < 0)
		return 1;
	start_notify(&d);
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
	int status = !d.ever_ready ? 1 : d.exit_status;
	tear_down(&d);
	return status;
}
