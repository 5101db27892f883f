/* testops.c - the example servers' test behaviour: failing on demand, misbehaving, answering at the end of a chain. */
#include <errno.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ant/proto.h"
#include "testops.h"

enum fail_mode {
	FAIL_NONE, FAIL_SEGV, FAIL_ABORT, FAIL_EXIT3, FAIL_HANG, FAIL_CORRUPT, FAIL_EXIT0,
	FAIL_OPENAT, FAIL_SOCKET, FAIL_EXECVE, FAIL_PTRACE, FAIL_JUNK, FAIL_TGKILL, FAIL_SETOWN,
};

/* What --fail and its companions said (one set per process). */
struct testops {
	enum fail_mode fail;   /* --fail: what to do ... */
	unsigned fail_nth;     /* ... on this process's Nth request (0: not by count) */
	const char *fail_marker;/* ... or on a request whose argument contains this */
	const char *fail_once; /* ... only if this file can still be created */
	unsigned fail_instance;/* ... only in the Nth process antd starts for this server */
	int fail_fresh;        /* ... only on requests that are not replays */
};

static struct testops T;

static int parse_fail_value(struct testops *o, const char *v)
{
	static const char *const names[] = { "", "segv", "abort", "exit3", "hang", "corrupt", "exit0",
					     "openat", "socket", "execve", "ptrace", "junk", "tgkill", "setown" };
	size_t n = strcspn(v, "@:");
	for (int m = 1; m <= FAIL_SETOWN; m++) {
		if (strlen(names[m]) != n || strncmp(v, names[m], n) != 0)
			continue;
		o->fail = (enum fail_mode)m;
		if (v[n] == '@') {
			char *end;
			unsigned long k = strtoul(v + n + 1, &end, 10);
			if (*end || k == 0 || k > 1000000)
				return -1;
			o->fail_nth = (unsigned)k;
			return 0;
		}
		if (v[n] == ':' && v[n + 1]) {
			o->fail_marker = v + n + 1;
			return 0;
		}
		return -1;
	}
	return -1;
}

/* --fail WHAT@N or WHAT:MARK. */
static int parse_fail(void *out, const char *self, const char *v)
{
	if (parse_fail_value(out, v) < 0) {
		fprintf(stderr, "%s: --fail: expected segv|abort|exit3|exit0|hang|corrupt|openat|socket|execve|ptrace|junk, then "
			"@N or :MARKER, got '%s'\n", self, v);
		return -1;
	}
	return 0;
}

const struct server_opt testops_opts[] = {
	{ "--fail", SERVER_CALL, &T, 0, 0, 0, parse_fail },
	{ "--fail-instance", SERVER_NUMBER, &T.fail_instance, 1, 1000000, 0, NULL },
	{ "--fail-fresh", SERVER_FLAG, &T.fail_fresh, 0, 0, 0, NULL },
	{ "--fail-once", SERVER_TEXT, &T.fail_once, 0, 0, 0, NULL },
	{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
};

/* A hostile server's repertoire: each process sends one kind of bad message. */
static void send_junk(struct ant_conn *c, struct ant_item *it)
{
	const char *inst = getenv("ANT_INSTANCE");
	unsigned kind = inst ? (unsigned)strtoul(inst, NULL, 10) : 1;
	int sock = ant_fd(c);
	unsigned char buf[9000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + kind * 7);
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)it->page;
	switch (kind % 8) {
	case 1:   /* random bytes */
		send(sock, buf, 57, MSG_NOSIGNAL);
		break;
	case 2:   /* oversized */
		send(sock, buf, sizeof(buf), MSG_NOSIGNAL);
		break;
	case 3:   /* truncated header */
		send(sock, buf, 3, MSG_NOSIGNAL);
		break;
	case 4:   /* an fd attached to a reply (its own stdout) */
		ant_cica_set_result(it->page, 0, "x", 1);
		ant_msg_send(sock, ANT_M_REPLY, 0, it->page, h->used, 1);
		break;
	case 5:   /* the wrong control ICA id */
		h->id_gen ^= 0x5555;
		ant_cica_set_result(it->page, 0, "x", 1);
		ant_msg_send(sock, ANT_M_REPLY, 0, it->page, h->used, -1);
		break;
	case 6:   /* a data ICA it was never given */
		h->data = (struct ant_ica_ref){ .index = 7, .gen = 77777, .size = 4096 };
		ant_cica_set_result(it->page, 0, "x", 1);
		ant_msg_send(sock, ANT_M_REPLY, 0, it->page, h->used, -1);
		break;
	case 7: { /* a header that lies about the length */
		struct ant_msg m = { .type = ANT_M_REPLY, .flags = 0, .len = 4000 };
		send(sock, &m, sizeof(m), MSG_NOSIGNAL);
		break;
	}
	default:  /* an unknown message type */
		ant_msg_send(sock, 99, 0, NULL, 0, -1);
		break;
	}
}

static int should_fail(const struct testops *o, const struct server *s, const struct ant_item *it)
{
	if (o->fail == FAIL_NONE || it->kind != ANT_ITEM_REQUEST)
		return 0;
	if (o->fail_fresh && it->replay)
		return 0;
	if (o->fail_nth)
		return s->taken == o->fail_nth;
	return it->params && memmem(it->params, it->nparams, o->fail_marker,
				    strlen(o->fail_marker)) != NULL;
}

/* Fail as mode says.  Returns 1 if the item was used up, else 0 (the
 * sandbox may have let the system call pass). */
static int fail_now(enum fail_mode mode, struct ant_conn *c, struct ant_item *it)
{
	switch (mode) {
	case FAIL_SEGV:
		/* The default action, even under a sanitizer that catches SEGV. */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		break;
	case FAIL_ABORT:
		signal(SIGABRT, SIG_DFL);
		abort();
	/* _exit: the exit code is exactly this, even under LeakSanitizer. */
	case FAIL_EXIT3:
		_exit(3);
	case FAIL_EXIT0:
		_exit(0);
	case FAIL_HANG:
		/* nanosleep, not pause: the sandbox's time group allows it. */
		for (;;) {
			struct timespec ts = { 3600, 0 };
			nanosleep(&ts, NULL);
		}
	case FAIL_CORRUPT: {
		struct ant_cica_hdr *h = (struct ant_cica_hdr *)it->page;
		struct ant_frame *f = ant_cica_current(it->page);
		f->prev = h->currentp;
		ant_msg_send(ant_fd(c), ANT_M_REPLY, 0, it->page, h->used, -1);
		return 1;
	}
	case FAIL_OPENAT: {
		int fd = open("/etc/hostname", O_RDONLY);
		if (fd >= 0)
			close(fd);
		break;
	}
	case FAIL_SOCKET: {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0)
			close(fd);
		break;
	}
	case FAIL_EXECVE: {
		char *const argv[] = { "/bin/true", NULL };
		execv(argv[0], argv);
		break;
	}
	case FAIL_PTRACE:
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case FAIL_JUNK:
		send_junk(c, it);
		return 1;
	case FAIL_TGKILL:   /* a signal (0: harmless) to another process: init */
		syscall(SYS_tgkill, 1, 1, 0);
		break;
	case FAIL_SETOWN:   /* SIGIO of its socket to another process: a way to signal it */
		fcntl(ant_fd(c), F_SETOWN, 1);
		break;
	case FAIL_NONE:
		break;
	}
	return 0;
}

int testops_take(struct server *s, struct ant_item *it)
{
	const struct testops *o = &T;
	struct ant_conn *c = s->c;
	if (!should_fail(o, s, it))
		return 0;
	if (o->fail_instance) {
		const char *inst = getenv("ANT_INSTANCE");
		if (!inst || strtoul(inst, NULL, 10) != o->fail_instance)
			return 0;
	}
	if (o->fail_once) {
		/* A relative name is taken in the stack's run folder. */
		char path[4096];
		const char *dir = getenv("ANT_RUN_DIR");
		if (o->fail_once[0] != '/' && dir)
			snprintf(path, sizeof(path), "%s/%s", dir, o->fail_once);
		else
			snprintf(path, sizeof(path), "%s", o->fail_once);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return 0;   /* failed once already */
		close(fd);
	}
	if (s->log)
		fprintf(s->log, "FAIL %d\n", (int)o->fail);
	return fail_now(o->fail, c, it);
}


int testops_targets_me(const struct server *s, const struct ant_item *it)
{
	if (strcmp(it->op, "corrupt") != 0 && strcmp(it->op, "garbage") != 0)
		return 0;
	size_t n = strlen(s->self);
	return it->nparams == n && memcmp(it->params, s->self, n) == 0;
}

int testops_misbehave(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	if (strcmp(it->op, "garbage") == 0) {
		unsigned char junk[57];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 37 + 11);
		if (write(ant_fd(c), junk, sizeof(junk)) < 0)
			return -errno;
		return 0;
	}
	/* corrupt: point the current frame's prev at itself (a cycle). */
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)it->page;
	struct ant_frame *f = ant_cica_current(it->page);
	f->prev = h->currentp;
	return ant_msg_send(ant_fd(c), ANT_M_REPLY, 0, it->page, h->used, -1);
}

int testops_answer(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	if (testops_targets_me(s, it))
		return testops_misbehave(s, it);
	if (strcmp(it->op, "echo") == 0)
		return ant_reply(c, it, 0, it->params, it->nparams, NULL, ANT_DF_DETACH);
	if (strcmp(it->op, "gettid") == 0) {
		/* N gettid system calls: what one costs here (with "injectable":
		 * ["gettid"] in the stack file, each goes through antd). */
		char arg[16] = "";
		memcpy(arg, it->params, it->nparams < sizeof(arg) - 1 ? it->nparams : sizeof(arg) - 1);
		long n = strtol(arg, NULL, 10);
		if (n < 1 || n > 10000000)
			n = 1000;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < n; i++)
			syscall(SYS_gettid);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		char buf[64];
		double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n;
		int len = snprintf(buf, sizeof(buf), "%ld gettid: %.0f ns each", n, ns);
		return ant_reply(c, it, 0, buf, (size_t)len, NULL, ANT_DF_DETACH);
	}
	if (strcmp(it->op, "corrupt") == 0 || strcmp(it->op, "garbage") == 0)
		return ant_reply(c, it, 0, "ok", 2, NULL, ANT_DF_DETACH);
	if (strcmp(it->op, "fill") == 0) {
		if (!it->data || !it->data->writable || it->nparams < 1)
		{
			static const char msg[] = "fill needs a writable data ICA and a byte";
			return ant_reply(c, it, ANT_E_BAD_REQUEST, msg, sizeof(msg) - 1, NULL,
					 ANT_DF_DETACH);
		}
		memset(it->data->addr, ((const unsigned char *)it->params)[0], it->data->size);
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "ino=%lu", server_ica_ino(it->data));
		return ant_reply(c, it, 0, buf, (size_t)n, NULL, ANT_DF_DETACH);
	}
	return ant_reply(c, it, ANT_E_NO_OP, NULL, 0, NULL, ANT_DF_DETACH);
}
