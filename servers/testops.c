/* testops.c - what the example servers do at the end of a chain, and their shared options. */
#include <errno.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ant/proto.h"
#include "testops.h"

static int parse_fail(struct testopts *o, const char *v)
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

const char *testops_self(const char *prog)
{
	const char *s = getenv("ANT_SERVER");
	return s && *s ? s : prog;
}

int testopts_parse(struct testopts *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	if (strcmp(a, "--help") == 0 && o->usage) {
		o->usage(stdout);
		exit(0);
	}
	if (strcmp(a, "--fail-fresh") == 0) {
		o->fail_fresh = 1;
		return 1;
	}
	if (strcmp(a, "--fail-instance") == 0) {
		char *end;
		unsigned long n = *i + 1 < argc ? strtoul(argv[*i + 1], &end, 10) : 0;
		if (!n || *end || n > 1000000) {
			fprintf(stderr, "%s: --fail-instance needs a number from 1\n", o->self);
			return -1;
		}
		o->fail_instance = (unsigned)n;
		++*i;
		return 1;
	}
	if (strcmp(a, "--say") == 0) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "%s: --say needs a text\n", o->self);
			return -1;
		}
		/* Printed now, on stderr and stdout: what antd logs of it. */
		fprintf(stderr, "%s\n", argv[++*i]);
		printf("%s\n", argv[*i]);
		fflush(stdout);
		return 1;
	}
	if (strcmp(a, "--fail-once") == 0) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "%s: --fail-once needs a file\n", o->self);
			return -1;
		}
		o->fail_once = argv[++*i];
		return 1;
	}
	if (strcmp(a, "--fail") == 0) {
		if (*i + 1 >= argc || parse_fail(o, argv[*i + 1]) < 0) {
			fprintf(stderr, "%s: --fail: expected segv|abort|exit3|exit0|hang|corrupt|openat|socket|execve|ptrace|junk, then "
				"@N or :MARKER, got '%s'\n", o->self, *i + 1 < argc ? argv[*i + 1] : "");
			return -1;
		}
		++*i;
		return 1;
	}
	if (strcmp(a, "--pause-ms") == 0 || strcmp(a, "--log") == 0) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", o->self, a);
			return -1;
		}
		const char *v = argv[++*i];
		if (a[2] == 'p') {
			char *end;
			unsigned long ms = strtoul(v, &end, 10);
			if (*end || !*v || ms > 600000) {
				fprintf(stderr, "%s: --pause-ms: not a number of ms: %s\n", o->self, v);
				return -1;
			}
			o->pause_ms = (unsigned)ms;
		} else {
			o->log = fopen(v, "ae");
			if (!o->log) {
				fprintf(stderr, "%s: --log %s: %s\n", o->self, v, strerror(errno));
				return -1;
			}
			setvbuf(o->log, NULL, _IOLBF, 0);
		}
		return 1;
	}
	return 0;
}

int testopts_number(const struct testopts *o, int argc, char **argv, int *i, const char *name,
		    unsigned long min, unsigned long max, unsigned long multiple, unsigned *out)
{
	if (strcmp(argv[*i], name) != 0)
		return 0;
	const char *v = *i + 1 < argc ? argv[*i + 1] : "";
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max || (multiple && n % multiple)) {
		if (multiple)
			fprintf(stderr, "%s: %s: expected a multiple of %lu from %lu to %lu, got '%s'\n",
				o->self, name, multiple, min, max, v);
		else
			fprintf(stderr, "%s: %s: expected a number from %lu to %lu, got '%s'\n", o->self,
				name, min, max, v);
		return -1;
	}
	*out = (unsigned)n;
	++*i;
	return 1;
}

struct ant_conn *testops_connect(const struct testopts *o, const char *prog)
{
	struct ant_conn *c;
	int r = ant_server_open(&c);
	if (r < 0) {
		fprintf(stderr, "%s: cannot reach antd: %s (%s runs under antd)\n", o->self,
			ant_strerror(r), prog);
		exit(1);
	}
	return c;
}

static unsigned long data_ino(const struct ant_ica *ica)
{
	struct stat st;
	if (!ica || fstat(ica->fd, &st) < 0)
		return 0;
	return (unsigned long)st.st_ino;
}

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

static int should_fail(struct testopts *o, const struct ant_item *it)
{
	if (o->fail == FAIL_NONE || it->kind != ANT_ITEM_REQUEST)
		return 0;
	if (o->fail_fresh && it->replay)
		return 0;
	if (o->fail_nth)
		return o->taken == o->fail_nth;
	return it->params && memmem(it->params, it->nparams, o->fail_marker,
				    strlen(o->fail_marker)) != NULL;
}

int testops_take(struct testopts *o, struct ant_conn *c, struct ant_item *it)
{
	if (it->kind == ANT_ITEM_REQUEST)
		o->taken++;
	static const char *const kinds[] = { "?", "REQUEST", "RETURN", "RESULT" };
	if (o->log) {
		int n = (int)(it->nparams > 64 ? 64 : it->nparams);
		fprintf(o->log, "%s %s %.*s", kinds[it->kind <= 3 ? it->kind : 0], it->op, n,
			it->params ? (const char *)it->params : "");
		if (it->data)
			fprintf(o->log, " ino=%lu", data_ino(it->data));
		if (it->replay)
			fputs(" (replay)", o->log);
		fputc('\n', o->log);
	}
	if (it->kind == ANT_ITEM_REQUEST && o->pause_ms) {
		struct timespec ts = { o->pause_ms / 1000, (long)(o->pause_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (!should_fail(o, it))
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
	if (o->log)
		fprintf(o->log, "FAIL %d\n", (int)o->fail);
	switch (o->fail) {
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

int testops_targets_me(const struct testopts *o, const struct ant_item *it)
{
	if (strcmp(it->op, "corrupt") != 0 && strcmp(it->op, "garbage") != 0)
		return 0;
	size_t n = strlen(o->self);
	return it->nparams == n && memcmp(it->params, o->self, n) == 0;
}

int testops_misbehave(struct testopts *o, struct ant_conn *c, struct ant_item *it)
{
	(void)o;
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

int testops_answer(struct testopts *o, struct ant_conn *c, struct ant_item *it)
{
	if (testops_targets_me(o, it))
		return testops_misbehave(o, c, it);
	if (strcmp(it->op, "echo") == 0)
		return ant_reply(c, it, 0, it->params, it->nparams, NULL, ANT_DF_DETACH);
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
		int n = snprintf(buf, sizeof(buf), "ino=%lu", data_ino(it->data));
		return ant_reply(c, it, 0, buf, (size_t)n, NULL, ANT_DF_DETACH);
	}
	return ant_reply(c, it, ANT_E_NO_OP, NULL, 0, NULL, ANT_DF_DETACH);
}
