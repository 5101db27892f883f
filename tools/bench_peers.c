/* bench_peers.c - bench-peers, the helper of ant-bench floors that times what users would pick instead of ant: D-Bus through a private dbus-daemon, ZeroMQ REQ/REP over ipc://.  A program of its own so that ant-bench links neither library. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#if defined(HAVE_DBUS) || defined(HAVE_ZMQ)

/* A folder of one peer's own under /tmp: its socket, config and log. */
struct tmp_dir {
	char path[64];              /* "" until made */
};

/* Returns 0, or -1 with m failed. */
static int tmp_make(struct tmp_dir *d, const char *peer, struct bench_measure *m)
{
	snprintf(d->path, sizeof(d->path), "/tmp/ant-bench-%s.XXXXXX", peer);
	if (mkdtemp(d->path))
		return 0;
	bench_measure_fail(m, 1, "mkdtemp %s: %s", d->path, strerror(errno));
	d->path[0] = '\0';
	return -1;
}

/* Remove what is in it (only what the peer made: no subfolders), then it. */
static void tmp_remove(struct tmp_dir *d)
{
	if (!d->path[0])
		return;
	DIR *dir = opendir(d->path);
	struct dirent *e;
	while (dir && (e = readdir(dir)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(dir), e->d_name, 0);
	if (dir)
		closedir(dir);
	rmdir(d->path);
	d->path[0] = '\0';
}

#endif

/* ---- D-Bus -------------------------------------------------------------------------- */

#ifdef HAVE_DBUS
#include <dbus/dbus.h>

#define ECHO_NAME   "org.ant.Bench"
#define ECHO_PATH   "/org/ant/Bench"
#define ECHO_IFACE  "org.ant.Bench"
#define ECHO_METHOD "Echo"

/* The private bus: a socket in our folder, the session bus's policy (anyone
 * may own any name and send anything), no activation, no syslog. */
static const char bus_conf[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <type>session</type>\n"
	"  <listen>unix:path=%s/bus</listen>\n"
	"  <auth>EXTERNAL</auth>\n"
	"  <policy context=\"default\">\n"
	"    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
	"    <allow eavesdrop=\"true\"/>\n"
	"    <allow own=\"*\"/>\n"
	"  </policy>\n"
	"</busconfig>\n";

struct dbus_run {
	struct tmp_dir dir;
	pid_t daemon, child;        /* 0: not started */
	DBusConnection *conn;       /* ours, private: closed and unreffed at the end */
	char addr[512];             /* the bus's, as dbus-daemon printed it */
};

/* The first line of file into buf ("" if none). */
static void first_line(const char *file, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *f = fopen(file, "re");
	if (f && fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* dbus-daemon with our config, its address read from its stdout.  Returns
 * 0, or -1 with m: not available if it cannot run or start, failed on an
 * error of ours. */
static int daemon_start(struct dbus_run *d, struct bench_measure *m)
{
	char conf[PATH_MAX], log[PATH_MAX], conf_arg[PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/bus.conf", d->dir.path);
	snprintf(log, sizeof(log), "%s/daemon.log", d->dir.path);
	snprintf(conf_arg, sizeof(conf_arg), "--config-file=%s", conf);
	FILE *f = fopen(conf, "we");
	int bad = !f || fprintf(f, bus_conf, d->dir.path) < 0;
	if (f && fclose(f) != 0)
		bad = 1;
	if (bad) {
		bench_measure_fail(m, 1, "%s: %s", conf, strerror(errno));
		return -1;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		bench_measure_fail(m, 1, "pipe: %s", strerror(errno));
		return -1;
	}
	/* Forked rather than posix_spawn'ed: it then dies with us as the
	 * children do, and ignores Ctrl-C (we kill it ourselves). */
	d->daemon = bench_fork_child(m);
	if (d->daemon == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (nul < 0 || logfd < 0 || dup2(nul, 0) < 0 || dup2(p[1], 1) < 0 ||
		    dup2(logfd, 2) < 0) {
			dprintf(p[1], "dbus-daemon's fds: %s\n", strerror(errno));
			_exit(127);
		}
		execlp("dbus-daemon", "dbus-daemon", conf_arg, "--print-address", "--nofork",
		       "--nopidfile", "--nosyslog", (char *)NULL);
		dprintf(1, "cannot run dbus-daemon: %s\n", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	ssize_t n = d->daemon > 0 ? bench_read_line(p[0], BENCH_WAIT_MS, d->addr, sizeof(d->addr)) : -2;
	int e = errno;
	close(p[0]);
	if (n > 0 && strncmp(d->addr, "unix:", 5) == 0)
		return 0;
	if (n > 0) {
		bench_measure_fail(m, 0, "%s", d->addr);
	} else if (n == 0) {
		char why[128];
		first_line(log, why, sizeof(why));
		bench_measure_fail(m, 0, "dbus-daemon ended at once: %s", why[0] ? why : "it said nothing");
	} else if (n == -1) {
		bench_measure_fail(m, 1, "dbus-daemon: %s", bench_interrupted ? "interrupted" :
				   e == ETIMEDOUT ? "no address printed within 5 s" : strerror(e));
	}
	return -1;
}

/* A reply to the Echo call call with its bytes, or an error if it has none. */
static void echo_answer(DBusConnection *c, DBusMessage *call)
{
	const unsigned char *bytes;
	int len;
	DBusMessage *rep;
	if (dbus_message_get_args(call, NULL, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &bytes, &len,
				  DBUS_TYPE_INVALID)) {
		rep = dbus_message_new_method_return(call);
		if (rep && !dbus_message_append_args(rep, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &bytes,
						     len, DBUS_TYPE_INVALID)) {
			dbus_message_unref(rep);
			rep = NULL;
		}
	} else {
		rep = dbus_message_new_error(call, DBUS_ERROR_INVALID_ARGS,
					     "expected one array of bytes");
	}
	if (rep) {
		dbus_connection_send(c, rep, NULL);
		dbus_connection_flush(c);
		dbus_message_unref(rep);
	}
}

/* The echo child: connect to the bus at addr, own ECHO_NAME, say "ok" on
 * ready (or why not), answer Echo calls until the bus goes away. */
static _Noreturn void echo_serve(const char *addr, int ready)
{
	DBusError err;
	dbus_error_init(&err);
	dbus_connection_set_change_sigpipe(FALSE);
	DBusConnection *c = dbus_connection_open_private(addr, &err);
	if (!c || !dbus_bus_register(c, &err) ||
	    dbus_bus_request_name(c, ECHO_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE, &err) !=
	    DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
		dprintf(ready, "%s\n", dbus_error_is_set(&err) ? err.message :
			"cannot own the name " ECHO_NAME);
		_exit(1);
	}
	dprintf(ready, "ok\n");
	close(ready);
	while (dbus_connection_read_write(c, -1)) {
		DBusMessage *msg;
		while ((msg = dbus_connection_pop_message(c))) {
			if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected"))
				_exit(0);
			if (dbus_message_is_method_call(msg, ECHO_IFACE, ECHO_METHOD))
				echo_answer(c, msg);
			dbus_message_unref(msg);
		}
	}
	_exit(0);
}

/* Our connection to the bus.  Returns 0, or -1 with m failed. */
static int client_open(struct dbus_run *d, struct bench_measure *m)
{
	DBusError err;
	dbus_error_init(&err);
	dbus_connection_set_change_sigpipe(FALSE);     /* it sends with MSG_NOSIGNAL anyway */
	d->conn = dbus_connection_open_private(d->addr, &err);
	if (d->conn && dbus_bus_register(d->conn, &err))
		return 0;
	bench_measure_fail(m, 1, "connecting to the private bus: %s",
			   dbus_error_is_set(&err) ? err.message : "out of memory");
	dbus_error_free(&err);
	return -1;
}

static int bus_echo(void *ctx, const unsigned char *arg, unsigned char *reply, size_t size,
		     struct bench_measure *m)
{
	DBusConnection *c = ctx;
	DBusError err;
	dbus_error_init(&err);
	DBusMessage *call = dbus_message_new_method_call(ECHO_NAME, ECHO_PATH, ECHO_IFACE,
							 ECHO_METHOD);
	if (!call || !dbus_message_append_args(call, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &arg,
					       (int)size, DBUS_TYPE_INVALID)) {
		if (call)
			dbus_message_unref(call);
		bench_measure_fail(m, 1, "out of memory for a D-Bus call");
		return -1;
	}
	DBusMessage *rep = dbus_connection_send_with_reply_and_block(c, call, BENCH_WAIT_MS, &err);
	dbus_message_unref(call);
	const unsigned char *bytes = NULL;
	int len = -1;
	int ok = rep && dbus_message_get_args(rep, &err, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &bytes,
					      &len, DBUS_TYPE_INVALID) && len == (int)size;
	if (ok)
		memcpy(reply, bytes, size);
	else if (dbus_error_is_set(&err))
		bench_measure_fail(m, 1, "the D-Bus call: %s: %s", err.name, err.message);
	else
		bench_measure_fail(m, 1, "the D-Bus call: a reply of %d bytes", len);
	dbus_error_free(&err);
	if (rep)
		dbus_message_unref(rep);
	return ok ? 0 : -1;
}

static void peer_dbus(long n, long warmup, struct bench_measure *m)
{
	struct dbus_run d = { .daemon = 0, .conn = NULL };
	int ready[2];
	if (tmp_make(&d.dir, "dbus", m) == 0 && daemon_start(&d, m) == 0) {
		if (pipe2(ready, O_CLOEXEC) < 0) {
			bench_measure_fail(m, 1, "pipe: %s", strerror(errno));
		} else {
			d.child = bench_fork_child(m);
			if (d.child == 0) {
				close(ready[0]);
				echo_serve(d.addr, ready[1]);
			}
			close(ready[1]);
			if (d.child > 0 && bench_child_ready(ready[0], "the D-Bus echo child", m) == 0 &&
			    client_open(&d, m) == 0)
				bench_time_echo(n, warmup, BENCH_ECHO_SIZE, bus_echo, d.conn, m);
			close(ready[0]);
		}
	}
	if (d.conn) {
		dbus_connection_close(d.conn);
		dbus_connection_unref(d.conn);
	}
	bench_kill_child(d.child);
	bench_kill_child(d.daemon);
	tmp_remove(&d.dir);
}

#else

static void peer_dbus(long n, long warmup, struct bench_measure *m)
{
	bench_measure_fail(m, 0, "built without libdbus-1 (install libdbus-1-dev and dbus-daemon, "
			   "then reconfigure)");
}

#endif

/* ---- ZeroMQ ------------------------------------------------------------------------- */

#ifdef HAVE_ZMQ
#include <zmq.h>

/* The echo child: a REP socket bound to endpoint; says "ok" on ready (or
 * why not), then sends back every message it gets. */
static _Noreturn void rep_serve(const char *endpoint, int ready)
{
	void *ctx = zmq_ctx_new();
	void *s = ctx ? zmq_socket(ctx, ZMQ_REP) : NULL;
	if (!s || zmq_bind(s, endpoint) != 0) {
		dprintf(ready, "%s: %s\n", endpoint, zmq_strerror(zmq_errno()));
		_exit(1);
	}
	dprintf(ready, "ok\n");
	close(ready);
	unsigned char buf[BENCH_ECHO_SIZE];
	for (;;) {
		int k = zmq_recv(s, buf, sizeof(buf), 0);
		if (k < 0 && zmq_errno() == EINTR)
			continue;
		if (k < 0)
			_exit(1);
		size_t len = (size_t)k < sizeof(buf) ? (size_t)k : sizeof(buf);
		while (zmq_send(s, buf, len, 0) < 0)
			if (zmq_errno() != EINTR)
				_exit(1);
	}
}

/* Our REQ socket, connected to endpoint.  Returns 0, or -1 with m failed. */
static int req_open(void **ctx, void **sock, const char *endpoint, struct bench_measure *m)
{
	int linger = 0, wait_ms = BENCH_WAIT_MS;
	*ctx = zmq_ctx_new();
	*sock = *ctx ? zmq_socket(*ctx, ZMQ_REQ) : NULL;
	if (*sock && zmq_setsockopt(*sock, ZMQ_LINGER, &linger, sizeof(linger)) == 0 &&
	    zmq_setsockopt(*sock, ZMQ_RCVTIMEO, &wait_ms, sizeof(wait_ms)) == 0 &&
	    zmq_setsockopt(*sock, ZMQ_SNDTIMEO, &wait_ms, sizeof(wait_ms)) == 0 &&
	    zmq_connect(*sock, endpoint) == 0)
		return 0;
	bench_measure_fail(m, 1, "ZeroMQ REQ socket to %s: %s", endpoint, zmq_strerror(zmq_errno()));
	return -1;
}

static int req_echo(void *ctx, const unsigned char *arg, unsigned char *reply, size_t size,
		    struct bench_measure *m)
{
	void *s = ctx;
	int k;
	while ((k = zmq_send(s, arg, size, 0)) < 0 && zmq_errno() == EINTR && !bench_interrupted)
		;
	if (k == (int)size)
		while ((k = zmq_recv(s, reply, size, 0)) < 0 && zmq_errno() == EINTR &&
		       !bench_interrupted)
			;
	if (k == (int)size)
		return 0;
	if (k >= 0)
		bench_measure_fail(m, 1, "ZeroMQ: a reply of %d bytes", k);
	else if (zmq_errno() == EAGAIN)
		bench_measure_fail(m, 1, "ZeroMQ: no reply within %d ms", BENCH_WAIT_MS);
	else
		bench_measure_fail(m, 1, "%s", zmq_errno() == EINTR ? "interrupted" :
				   zmq_strerror(zmq_errno()));
	return -1;
}

static void peer_zeromq(long n, long warmup, struct bench_measure *m)
{
	struct tmp_dir dir = { "" };
	char endpoint[128];
	pid_t child = 0;
	void *ctx = NULL, *sock = NULL;
	int ready[2];
	if (tmp_make(&dir, "zmq", m) == 0) {
		snprintf(endpoint, sizeof(endpoint), "ipc://%s/echo", dir.path);
		if (pipe2(ready, O_CLOEXEC) < 0) {
			bench_measure_fail(m, 1, "pipe: %s", strerror(errno));
		} else {
			/* Forked before our context exists: its threads would not be
			 * in the child. */
			child = bench_fork_child(m);
			if (child == 0) {
				close(ready[0]);
				rep_serve(endpoint, ready[1]);
			}
			close(ready[1]);
			if (child > 0 && bench_child_ready(ready[0], "the ZeroMQ echo child", m) == 0 &&
			    req_open(&ctx, &sock, endpoint, m) == 0)
				bench_time_echo(n, warmup, BENCH_ECHO_SIZE, req_echo, sock, m);
			close(ready[0]);
		}
	}
	if (sock)
		zmq_close(sock);
	if (ctx)
		zmq_ctx_term(ctx);
	bench_kill_child(child);
	tmp_remove(&dir);
}

#else

static void peer_zeromq(long n, long warmup, struct bench_measure *m)
{
	bench_measure_fail(m, 0, "built without libzmq (install libzmq3-dev, then reconfigure)");
}

#endif

/* ---- main: bench-peers PEER N WARMUP ------------------------------------------------- */

volatile sig_atomic_t bench_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

/* A whole number in [min, LONG_MAX], or -1. */
static long count(const char *s, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || end == s || *end || v < min ? -1 : v;
}

/*
 * Run by ant-bench (bench_peer_dbus, bench_peer_zeromq in bench_floor.c):
 * time PEER (dbus or zeromq), N round trips after WARMUP, and print one
 * line on stdout: "ok SAMPLES MEDIAN_NS P99_NS MEDIAN_TSC P99_TSC", or
 * "unavailable WHY", or "failed WHY".  SIGTERM, SIGINT and SIGHUP end it
 * early (failed, interrupted), cleaned up as always.  Exit status 0 once
 * that line is written, 2 on bad usage.
 */
int main(int argc, char **argv)
{
	void (*peer)(long, long, struct bench_measure *) = NULL;
	if (argc == 4 && strcmp(argv[1], "dbus") == 0)
		peer = peer_dbus;
	else if (argc == 4 && strcmp(argv[1], "zeromq") == 0)
		peer = peer_zeromq;
	long n = argc == 4 ? count(argv[2], 1) : -1, warmup = argc == 4 ? count(argv[3], 0) : -1;
	if (!peer || n < 0 || warmup < 0) {
		fprintf(stderr, "usage: bench-peers dbus|zeromq N WARMUP  (ant-bench floors runs it)\n");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	struct bench_measure m;
	memset(&m, 0, sizeof(m));
	peer(n, warmup, &m);
	if (m.ok) {
		printf("ok %ld %llu %llu %llu %llu\n", m.samples, (unsigned long long)m.s.median_ns,
		       (unsigned long long)m.s.p99_ns, (unsigned long long)m.s.median_tsc,
		       (unsigned long long)m.s.p99_tsc);
	} else {
		m.why[strcspn(m.why, "\n")] = '\0';     /* one line */
		printf("%s %s\n", m.failed ? "failed" : "unavailable", m.why);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
