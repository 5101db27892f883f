/* ant-call.c - call a server of a running stack from the shell; print the reply and its path. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ant/cica.h"
#include "ant-config.h"
#include "tool_common.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ant-call [OPTIONS] SERVER OP [ARG...]\n"
		"Call SERVER of a running stack with OP; the ARGs, joined by spaces, are the\n"
		"call's parameters.  Prints the reply and the servers the call passed through.\n"
		"\n"
		"  --run-dir DIR        the stack's run folder (default: $ANT_RUN_DIR, else the\n"
		"                       only stack under /run/ant)\n"
		"  --async N            issue N calls at once, then wait for all of them\n"
		"  --data-file F        send the bytes of F along in a data ICA\n"
		"  --data-out F         write the data ICA that comes back to F (as many\n"
		"                       bytes as --data-file had if it is that area, else\n"
		"                       the whole area); not with --async\n"
		"  --return MODE        sequential (default) or direct: ask the relays for\n"
		"                       direct return\n"
		"  --timeout MS         give up after MS milliseconds in all (default: none):\n"
		"                       the calls not answered by then are cancelled (antd\n"
		"                       drops them, or drops their results) and it exits 1\n"
		"  --quiet              print only the reply\n"
		"  --help               this text\n"
		"  --version            print the version\n"
		"\n"
		"Exit status: 0 on success; 1 if a call failed (its error's name is printed,\n"
		"e.g. ANT_E_DENIED); 2 on bad usage; 3 if the stack cannot be reached.\n");
}

static void print_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	int printable = 1;
	for (size_t i = 0; i < n; i++)
		if ((b[i] < 32 && b[i] != '\n' && b[i] != '\t') || b[i] == 127)
			printable = 0;
	if (printable) {
		fwrite(b, 1, n, stdout);
		return;
	}
	printf("(%zu bytes:", n);
	for (size_t i = 0; i < n && i < 32; i++)
		printf(" %02x", b[i]);
	printf("%s)", n > 32 ? " ..." : "");
}

static void print_path(struct ant_conn *c, const struct ant_result *res)
{
	printf("path: ");
	for (unsigned i = 0; i < res->trace_len; i++) {
		const char *name = res->trace[i] ? ant_server_name(c, res->trace[i]) : "app";
		printf("%s%s", i ? " -> " : "", name ? name : "?");
	}
	const struct ant_cica_hdr *h = (const void *)res->page;
	printf("%s\n", (h->flags & ANT_CF_TRACE_FULL) ? " -> ..." : "");
}

/* Print one result; returns 0 if the call succeeded. */
static int report(struct ant_conn *c, const struct ant_result *res, int quiet, int async)
{
	if (async && !quiet)
		printf("ticket %llu: ", (unsigned long long)res->ticket);
	if (res->retval < 0) {
		printf("error %s: %s", ant_errname(res->retval), ant_strerror(res->retval));
		if (res->len) {
			printf(" (");
			print_bytes(res->bytes, res->len);
			printf(")");
		}
		putchar('\n');
		if (!quiet)
			print_path(c, res);
		return 1;
	}
	if (res->len)
		print_bytes(res->bytes, res->len);
	putchar('\n');
	if (!quiet) {
		if (res->retval > 0)
			printf("return value: %d\n", res->retval);
		if (res->data)
			printf("data: %zu bytes in data ICA %u:%u%s\n", res->data->size,
			       res->data->ref.index, res->data->ref.gen,
			       res->data->writable ? "" : " (read-only)");
		print_path(c, res);
	}
	return 0;
}

/* What the command line asks for. */
struct request {
	const char *run_dir, *data_file, *data_out, *server, *op;
	long nasync, timeout;       /* 0: one sync call; -1: wait without limit */
	int direct, quiet;
	char arg[ANT_CICA_SIZE];    /* the ARGs joined by spaces */
	size_t arglen;
};

static void parse(int argc, char **argv, struct request *q)
{
	static const struct option opts[] = {
		TOOL_OPT_RUN_DIR,
		{ "async", required_argument, NULL, 'a' },
		{ "data-file", required_argument, NULL, 'd' },
		{ "data-out", required_argument, NULL, 'o' },
		{ "return", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		TOOL_OPT_HELP,
		TOOL_OPT_VERSION,
		{ "quiet", no_argument, NULL, 'q' },
		TOOL_OPT_END,
	};
	const struct tool_cli cli = { .prog = "ant-call", .opts = opts, .shortopts = "+hV", .version = ANT_VERSION,
				      .usage = usage, .run_dir = &q->run_dir,
				      .bad_format = "unknown or incomplete option '%s'" };
	int ch;
	while ((ch = tool_getopt(&cli, argc, argv)) != -1) {
		switch (ch) {
		case 'a':
			if (tool_parse_long(optarg, 1, 100000, &q->nasync) < 0)
				tool_usage_error("ant-call", "--async: expected a count from 1 to 100000, got '%s'", optarg);
			break;
		case 'd': q->data_file = optarg; break;
		case 'o': q->data_out = optarg; break;
		case 'R':
			if (strcmp(optarg, "direct") == 0)
				q->direct = 1;
			else if (strcmp(optarg, "sequential") != 0)
				tool_usage_error("ant-call", "--return: expected sequential or direct, got '%s'", optarg);
			break;
		case 't':
			if (tool_parse_long(optarg, 0, 86400000, &q->timeout) < 0)
				tool_usage_error("ant-call", "--timeout: expected milliseconds, got '%s'", optarg);
			break;
		case 'q': q->quiet = 1; break;
		}
	}
	if (argc - optind < 2)
		tool_usage_error("ant-call", "expected SERVER and OP");
	if (q->data_out && q->nasync)
		tool_usage_error("ant-call", "--data-out takes the area of one call: not with --async");
	q->server = argv[optind];
	q->op = argv[optind + 1];
	if (strlen(q->op) >= ANT_OP_MAX)
		tool_usage_error("ant-call", "op '%s' is longer than %u bytes", q->op, ANT_OP_MAX - 1);
	for (int i = optind + 2; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (q->arglen + n + 1 > sizeof(q->arg))
			tool_usage_error("ant-call", "arguments longer than a control ICA (%u bytes)",
					 ANT_CICA_SIZE);
		if (i > optind + 2)
			q->arg[q->arglen++] = ' ';
		memcpy(q->arg + q->arglen, argv[i], n);
		q->arglen += n;
	}
	/* Told before anything is sent: the call's page must hold them. */
	static unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	if (ant_cica_init(page, 1, q->op, q->arg, q->arglen, 0) == -E2BIG)
		tool_usage_error("ant-call", "arguments of %zu bytes do not fit a call's control "
				 "ICA (%u bytes with its header and frame); each stage a call passes "
				 "through takes room in it too", q->arglen, ANT_CICA_SIZE);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --timeout ran out with `left` calls unanswered: cancel them, so that antd
 * neither keeps them queued nor replays them for a caller that is gone, and
 * take the one result each still gets (its answer, or ANT_E_CANCELLED). */
static void give_up(struct ant_conn *c, const struct request *q, const uint64_t *tickets,
		    const unsigned char *answered, long n, long left)
{
	fprintf(stderr, "ant-call: no answer from %s (op %s) within %ld ms: %ld of %ld call%s "
		"cancelled\n", q->server, q->op, q->timeout, left, n, n == 1 ? "" : "s");
	for (long i = 0; i < n; i++)
		if (!answered[i] && ant_cancel(c, tickets[i]) < 0)
			return;
	static struct ant_result res;
	for (long i = 0; i < n; i++) {
		if (answered[i] || ant_wait(c, tickets[i], &res, 1000) < 0)
			continue;
		if (res.retval != ANT_E_CANCELLED && !q->quiet)
			fprintf(stderr, "ant-call: ticket %llu answered as it was cancelled: %s\n",
				(unsigned long long)res.ticket,
				res.retval < 0 ? ant_errname(res.retval) : "ok");
		if (res.data)
			ant_ica_release(c, res.data);
	}
}

/* --data-out: the area that came back with a successful call, to q->data_out
 * (sent_len bytes of it if it is the area the call sent, else all of it).
 * Returns 0, or 1 with why on stderr. */
static int write_data_out(const struct request *q, const struct ant_result *res,
			  const struct ant_ica *sent, size_t sent_len)
{
	if (!res->data) {
		fprintf(stderr, "ant-call: --data-out %s: no data ICA came back\n", q->data_out);
		return 1;
	}
	if (!res->data->addr) {
		fprintf(stderr, "ant-call: --data-out %s: the area came back unmapped\n", q->data_out);
		return 1;
	}
	size_t n = res->data == sent ? sent_len : res->data->size;
	int r = tool_write_file(q->data_out, res->data->addr, n);
	if (r < 0) {
		fprintf(stderr, "ant-call: --data-out %s: %s\n", q->data_out, ant_strerror(r));
		return 1;
	}
	return 0;
}

/* Issue the call(s), then wait for and print every result.  Returns the exit status. */
static int run(struct ant_conn *c, const struct request *q, struct ant_ica *data, size_t data_len)
{
	struct ant_call call = {
		.server = q->server, .op = q->op, .arg = q->arg, .arglen = q->arglen,
		.data = data, .data_flags = 0,
		.call_flags = q->direct ? ANT_CF_DIRECT_HINT : 0,
	};
	static struct ant_result res;
	int failed = 0, r;
	long n = q->nasync ? q->nasync : 1;
	uint64_t *tickets = calloc((size_t)n, sizeof(*tickets));
	unsigned char *answered = calloc((size_t)n, 1);
	if (!tickets || !answered) {
		fprintf(stderr, "ant-call: out of memory\n");
		free(tickets);
		free(answered);
		return 1;
	}
	int64_t deadline = q->timeout >= 0 ? now_ms() + q->timeout : -1;
	for (long i = 0; i < n; i++) {
		r = ant_call_async(c, &call, &tickets[i]);
		if (r < 0) {
			fprintf(stderr, "ant-call: %s: %s\n", ant_errname(r), ant_strerror(r));
			free(tickets);
			free(answered);
			return 1;
		}
	}
	for (long got = 0; got < n; got++) {
		int wait_ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			wait_ms = left > 0 ? (int)left : 0;
		}
		r = ant_wait(c, 0, &res, wait_ms);
		if (r == -ETIMEDOUT) {
			give_up(c, q, tickets, answered, n, n - got);
			failed += (int)(n - got);
			break;
		}
		if (r < 0) {
			fprintf(stderr, "ant-call: %s while waiting for %s: %s\n", ant_errname(r),
				q->server, ant_strerror(r));
			failed = 1;
			break;
		}
		for (long i = 0; i < n; i++)
			if (tickets[i] == res.ticket)
				answered[i] = 1;
		if (report(c, &res, q->quiet, q->nasync > 0)) {
			failed++;
			if (!q->nasync)
				fprintf(stderr, "ant-call: %s\n", ant_errname(res.retval));
		} else if (q->data_out && write_data_out(q, &res, data, data_len)) {
			failed++;
		}
		if (res.data && res.data != data)
			ant_ica_release(c, res.data);
	}
	if (q->nasync && !q->quiet)
		printf("%ld calls, %d failed\n", n, failed);
	free(tickets);
	free(answered);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	static struct request q = { .timeout = -1 };
	parse(argc, argv, &q);
	struct ant_conn *c = tool_connect("ant-call", q.run_dir, q.server);
	struct ant_ica *data = NULL;
	size_t data_len = 0;
	if (q.data_file) {
		int r = tool_load_file_ica(c, q.data_file, &data, &data_len);
		if (r < 0) {
			fprintf(stderr, "ant-call: %s: %s\n", q.data_file, ant_strerror(r));
			ant_close(c);
			return 1;
		}
	}
	int rc = run(c, &q, data, data_len);
	ant_close(c);
	return rc;
}
