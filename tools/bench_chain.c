/* bench_chain.c - ant-bench chain: sync calls down a chain of relays against a bare SEQPACKET round trip, quiet and under churn. */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_trace.h"
#include "tool_common.h"

#define ARG_SIZE        64      /* bytes of every call's argument, as in the paper */
#define DEPTH_MAX       ANT_FRAMES_MAX /* one frame per relay on the control ICA */
#define ITER_MAX        1000000L
#define CHURN_MAX       32      /* bystanders: with the relays, within antd's 63 servers */
#define BLOCK           500     /* calls per target before switching to the next */

/* The AnT paper's chain of three servers on a 2.8 GHz Pentium 4. */
#define PAPER_SEQ_CYCLES 154707
#define PAPER_SEQ_US     55.3
#define PAPER_DIR_CYCLES 103992
#define PAPER_DIR_US     37.1

static const char *const ret_names[] = { "sequential", "direct", "both" };

static void chain_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench chain [OPTIONS]\n"
		"Start a private stack of relays relay1 -> ... -> relayN under antd, time\n"
		"sync calls (op echo, %d-byte argument) from this process to relay1, and\n"
		"time the floor in the same run: a %d-byte round trip to a child process\n"
		"over a SOCK_SEQPACKET socketpair.  Prints median and p99 of both, in\n"
		"nanoseconds and TSC cycles, beside the AnT paper's figures.  The stack is\n"
		"stopped and its temporary folder removed before it exits.\n"
		"\n"
		"  --depth N          relays in the chain, 1 to %d (default 3)\n"
		"  --return MODE      sequential: results come back through every relay;\n"
		"                     direct: from the last relay straight to the caller;\n"
		"                     both: one stack, the two modes in alternating blocks\n"
		"                     (the caller asks with ANT_CF_DIRECT_HINT)\n"
		"  --iterations K     timed calls per mode (default 20000)\n"
		"  --warmup W         untimed calls first (default 1000)\n"
		"  --json             print one JSON object instead of the table\n"
		"  --antd PATH        the antd to run (default: ../supervisor/antd next to\n"
		"                     this program, else antd in $PATH)\n"
		"  --server-path DIRS where antd finds relay (default: ../servers next to\n"
		"                     this program)\n"
		"  --cpu N            run everything (this program, the floor's child, antd\n"
		"                     and the relays: stack key cpu_affinity) on CPU N;\n"
		"                     default: wherever the kernel places them\n"
		"  --busy-poll US     the stack's busy_poll_us: antd polls US microseconds\n"
		"                     after each message before it sleeps (default 0)\n"
		"  --churn N          add N bystander echo servers (churn1..churnN) to the\n"
		"                     stack; after the timed calls, time the calls again\n"
		"                     while another thread restarts the bystanders one\n"
		"                     after another without pause (antctl restart, then\n"
		"                     wait until it runs again), then a third time while\n"
		"                     the same binary is started at the same rate with no\n"
		"                     antd (the floor: what process creation costs here);\n"
		"                     prints the three, antd's wake-ups over 1 ms during\n"
		"                     the churn, p99 with churn over p99 without and over\n"
		"                     p99 with the churn outside antd\n"
		"                     (1 to %d; default 0: no churn)\n"
		"  --trace            then make %d more calls of each mode (fewer if\n"
		"                     --iterations is smaller) under eBPF tracepoints\n"
		"                     (sched_waking, sched_switch, sock_send_length and\n"
		"                     sock_recv_length), and print per process its time\n"
		"                     on a CPU, messages and wake-ups per call, and per hop\n"
		"                     of the usual path whether it woke the receiver, the\n"
		"                     wake-up latency and the receiver's time on a CPU\n"
		"                     until the next hop (--json: \"trace\").  Needs\n"
		"                     root, kernel BTF and an ant-bench built with eBPF;\n"
		"                     without them it says why on stderr, and the bench\n"
		"                     runs without it (same exit status)\n",
		ARG_SIZE, ARG_SIZE, DEPTH_MAX, CHURN_MAX, TRACE_CALLS);
	bench_usage_fast_path(f);
	bench_usage_progress(f);
	fprintf(f,
		"  --help             this text\n"
		"\n"
		"Exit status: 0 on success; 1 if the stack failed or a reply was wrong;\n"
		"2 on bad usage.\n");
}

/* ---- what gets timed -------------------------------------------------------- */

struct target {
	const char *label;
	/* One round trip of arg (ARG_SIZE bytes); 0, or -1 after printing why. */
	int (*round_trip)(struct target *t, const unsigned char *arg);
	/* an ant call */
	struct ant_conn *conn;
	unsigned call_flags;
	unsigned want_trace;        /* peers a reply passes in this mode */
	/* the floor */
	int fd;
	/* samples, iterations of each */
	uint64_t *ns, *tsc;
};

static int ant_round_trip(struct target *t, const unsigned char *arg)
{
	static struct ant_result res;   /* a whole page: keep it off the stack */
	struct ant_call call = {
		.server = "relay1", .op = "echo", .arg = arg, .arglen = ARG_SIZE,
		.call_flags = t->call_flags,
	};
	int r = ant_call_sync(t->conn, &call, &res);
	if (res.data && r >= 0)
		ant_ica_release(t->conn, res.data);
	if (r < 0) {
		fprintf(stderr, "%s: %s: call failed: %s (%s)\n", PROG, t->label, ant_errname(r),
			ant_strerror(r));
		return -1;
	}
	if (res.len != ARG_SIZE || memcmp(res.bytes, arg, ARG_SIZE) != 0) {
		fprintf(stderr, "%s: %s: reply of %zu bytes differs from the %d-byte argument\n",
			PROG, t->label, res.len, ARG_SIZE);
		return -1;
	}
	/* The trace proves the return mode took effect (unless it overflowed). */
	const struct ant_cica_hdr *h = (const void *)res.page;
	if (!(h->flags & ANT_CF_TRACE_FULL) && res.trace_len != t->want_trace) {
		fprintf(stderr, "%s: %s: reply passed %u peers, expected %u: wrong return mode\n",
			PROG, t->label, res.trace_len, t->want_trace);
		return -1;
	}
	return 0;
}

static int floor_round_trip(struct target *t, const unsigned char *arg)
{
	unsigned char buf[ARG_SIZE * 2];
	ssize_t n;
	while ((n = send(t->fd, arg, ARG_SIZE, MSG_NOSIGNAL)) < 0 && errno == EINTR && !bench_interrupted)
		;
	if (n == ARG_SIZE) {
		while ((n = recv(t->fd, buf, sizeof(buf), 0)) < 0 && errno == EINTR && !bench_interrupted)
			;
	}
	if (n < 0 && errno == EINTR)
		return -1;      /* interrupted: main says so */
	if (n < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, t->label, strerror(errno));
		return -1;
	}
	if (n != ARG_SIZE || memcmp(buf, arg, ARG_SIZE) != 0) {
		fprintf(stderr, "%s: %s: echo child sent %zd bytes, not the argument back\n",
			PROG, t->label, n);
		return -1;
	}
	return 0;
}

/* Fork the floor's echo child; returns our end of the socketpair, or -1. */
static int floor_start(pid_t *pid_out)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "%s: socketpair: %s\n", PROG, strerror(errno));
		return -1;
	}
	struct bench_measure m = { 0 };
	pid_t pid = bench_fork_child(&m);
	if (pid < 0) {
		fprintf(stderr, "%s: %s\n", PROG, m.why);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* Ends on EOF; Ctrl-C is the parent's to handle. */
		close(sv[0]);
		unsigned char buf[ANT_CICA_SIZE];
		for (;;) {
			ssize_t n = recv(sv[1], buf, sizeof(buf), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || send(sv[1], buf, (size_t)n, MSG_NOSIGNAL) != n)
				_exit(0);
		}
	}
	close(sv[1]);
	*pid_out = pid;
	return sv[0];
}

static void floor_stop(int fd, pid_t pid)
{
	if (fd >= 0)
		close(fd);      /* the child sees EOF and exits */
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* The argument of call number seq: a counter, so a stale reply cannot pass. */
static void make_arg(unsigned char *arg, uint64_t seq)
{
	for (unsigned i = 0; i < ARG_SIZE; i++)
		arg[i] = (unsigned char)('a' + (i + seq) % 26);
	memcpy(arg, &seq, sizeof(seq));
}

/*
 * warmup untimed round trips of every target, then iterations timed ones,
 * in alternating blocks so that drift (frequency, noisy neighbours) hits
 * every target alike.  *span_ns and *span_tsc get the whole timed stretch.
 * p counts the calls, updated between two calls from the time the last one
 * ended.  Returns 0, or -1 (printed) on a failed round trip or interruption.
 */
static int time_calls(struct target *t, size_t nt, long iterations, long warmup,
		      struct progress *p, uint64_t *span_ns, uint64_t *span_tsc)
{
	unsigned char arg[ARG_SIZE];
	uint64_t seq = 0;
	long calls = 0;
	for (size_t k = 0; k < nt; k++) {
		for (long i = 0; i < warmup; i++) {
			make_arg(arg, ++seq);
			if (bench_interrupted || t[k].round_trip(&t[k], arg) < 0)
				return -1;
			progress_at(p, ++calls, bench_now_ns());
		}
	}
	uint64_t ns0 = bench_now_ns(), tsc0 = bench_tsc();
	for (long done = 0; done < iterations; done += BLOCK) {
		long n = iterations - done < BLOCK ? iterations - done : BLOCK;
		for (size_t k = 0; k < nt; k++) {
			for (long i = done; i < done + n; i++) {
				make_arg(arg, ++seq);
				if (bench_interrupted)
					return -1;
				uint64_t a = bench_now_ns(), ca = bench_tsc();
				int r = t[k].round_trip(&t[k], arg);
				uint64_t cb = bench_tsc(), b = bench_now_ns();
				if (r < 0)
					return -1;
				t[k].ns[i] = b - a;
				t[k].tsc[i] = cb - ca;
				progress_at(p, ++calls, b);
			}
		}
	}
	*span_tsc = bench_tsc() - tsc0;
	*span_ns = bench_now_ns() - ns0;
	return 0;
}

/* time_calls with o's progress on stderr, saying what runs. */
static int measure(const struct opts *o, const char *what, struct target *t, size_t nt,
		   long iterations, long warmup, uint64_t *span_ns, uint64_t *span_tsc)
{
	struct progress p;
	progress_begin(&p, o->progress, what, "calls", (long)nt * (warmup + iterations));
	int r = time_calls(t, nt, iterations, warmup, &p, span_ns, span_tsc);
	progress_end(&p);
	return r;
}

/* relay1 -> relay2 -> ... -> relayN, each passing results on as its mode
 * says (with both modes, as the caller's ANT_CF_DIRECT_HINT says), and the
 * churn's bystanders. */
static json_t *chain_stack(const struct opts *o)
{
	const char *mode = o->ret == RET_BOTH ? "caller" : ret_names[o->ret];
	json_t *servers = bench_relay_chain(o->depth, mode, NULL);
	if (servers && o->churn > 0) {
		json_t *more = churn_servers(o->churn);
		json_array_extend(servers, more);
		json_decref(more);
	}
	return servers ? bench_stack_json("ant-bench", servers, "relay1", o) : NULL;
}

/* ---- output ----------------------------------------------------------------- */

/* What the run measured: the targets and their statistics, quiet (the ant
 * call(s), then the floor) and under churn (the ant call(s) only). */
struct chain_run {
	struct target t[3], churned[2], outside[2];
	struct stats s[3], sc[2], so[2];
	size_t nt, nant;            /* targets in all; ant calls among them */
	double tsc_hz;
	long restarts;              /* during the timed calls under churn */
	long processes;             /* started outside antd during the floor of churn */
	uint64_t churn_ns, outside_ns;  /* how long those two timed runs took */
	struct antd_loop loop;      /* antd's wake-ups during the timed calls under churn */
	json_t *trace;              /* --trace's findings (bench_trace.c), or NULL */
};

static double p99_ratio(const struct chain_run *cr, size_t k)
{
	return (double)cr->sc[k].p99_ns / (double)cr->s[k].p99_ns;
}

/* p99 under churn through antd over p99 under the same process churn
 * outside antd: what antd adds to what the machine's process creation costs. */
static double p99_ratio_outside(const struct chain_run *cr, size_t k)
{
	return (double)cr->sc[k].p99_ns / (double)cr->so[k].p99_ns;
}

static void print_row(int width, const char *label, const struct stats *s, double floor_ns)
{
	char tsc[32];
	printf("  %-*s %7.1f us %8.1f us %12s %7.1fx\n", width, label, s->median_ns / 1e3,
	       s->p99_ns / 1e3, HAVE_TSC ? bench_grouped(s->median_tsc, tsc, sizeof(tsc)) : "-",
	       floor_ns > 0 ? (double)s->median_ns / floor_ns : 0.0);
}

static void print_churn_rows(const struct opts *o, const struct chain_run *cr, int width)
{
	const struct stats *fl = &cr->s[cr->nt - 1];
	for (size_t k = 0; k < cr->nant; k++) {
		char label[64];
		snprintf(label, sizeof(label), "%s, churn", cr->t[k].label);
		print_row(width, label, &cr->sc[k], (double)fl->median_ns);
	}
	for (size_t k = 0; k < cr->nant; k++) {
		char label[80];
		snprintf(label, sizeof(label), "%s, churn outside antd", cr->t[k].label);
		print_row(width, label, &cr->so[k], (double)fl->median_ns);
	}
	/* The runs' lengths: a slower mean call, not only a longer tail, shows there. */
	double calls = (double)o->iterations * (double)cr->nant;
	printf("  churn: %ld echo servers restarted one after another during the second timed "
	       "run: %ld restarts in %.1f s (mean call %.0f us)\n", o->churn, cr->restarts,
	       cr->churn_ns / 1e9, cr->churn_ns / 1e3 / calls);
	printf("  churn outside antd: echo --help started at the same rate during the third "
	       "timed run, no antd: %ld processes in %.1f s (mean call %.0f us)\n", cr->processes,
	       cr->outside_ns / 1e9, cr->outside_ns / 1e3 / calls);
	printf("  antd under churn: %llu of %llu wake-ups busy over 1 ms, %llu over 10 ms "
	       "(its longest since it started: %llu us)\n",
	       (unsigned long long)cr->loop.over_1ms, (unsigned long long)cr->loop.wakeups,
	       (unsigned long long)cr->loop.over_10ms, (unsigned long long)cr->loop.busy_max_us);
	for (size_t k = 0; k < cr->nant; k++) {
		printf("  %s: p99 with churn / without: %.2f\n", cr->t[k].label, p99_ratio(cr, k));
		printf("  %s: p99 with churn / with churn outside antd: %.2f\n", cr->t[k].label,
		       p99_ratio_outside(cr, k));
	}
}

static void print_table(const struct opts *o, const struct chain_run *cr)
{
	const struct stats *s = cr->s, *fl = &cr->s[cr->nt - 1];
	if (o->ret == RET_BOTH)
		printf("ant-bench chain: depth %ld, sequential and direct return in alternating "
		       "blocks, %ld calls each (after %ld warm-up)\n",
		       o->depth, o->iterations, o->warmup);
	else
		printf("ant-bench chain: depth %ld, %s return, %ld calls (after %ld warm-up)\n",
		       o->depth, ret_names[o->ret], o->iterations, o->warmup);
	bench_print_placement(o, "bench, floor, antd, relays");
	int width = 0;
	for (size_t k = 0; k < cr->nt; k++) {
		/* With churn, the ant calls' rows come again as "LABEL, churn". */
		int w = (int)strlen(cr->t[k].label) + (o->churn > 0 && k < cr->nant ? 20 : 0);
		width = w > width ? w : width;
	}
	printf("  %-*s %10s %11s %12s %8s\n", width, "", "median", "p99", "median TSC", "x floor");
	for (size_t k = 0; k < cr->nt; k++)
		print_row(width, cr->t[k].label, &s[k], (double)fl->median_ns);
	if (o->churn > 0)
		print_churn_rows(o, cr, width);
	if (cr->trace)
		bench_trace_print(cr->trace);
	if (o->ret == RET_BOTH)
		printf("  direct/sequential: %.2f here, %.2f in the paper\n",
		       (double)s[1].median_ns / (double)s[0].median_ns,
		       (double)PAPER_DIR_CYCLES / PAPER_SEQ_CYCLES);
	if (HAVE_TSC)
		printf("  TSC: %.3f GHz (TSC cycles / CLOCK_MONOTONIC ns over the run)\n",
		       cr->tsc_hz / 1e9);
	else
		printf("  TSC: not available on this CPU (cycles reported as 0)\n");
	printf("  AnT paper (P4 2.8 GHz, 3 servers): sequential 154,707 cycles (%.1f us), "
	       "direct 103,992 cycles (%.1f us), direct/sequential %.2f\n",
	       PAPER_SEQ_US, PAPER_DIR_US, (double)PAPER_DIR_CYCLES / PAPER_SEQ_CYCLES);
}

/* "churn": the first ant call's figures under churn, the servers, the
 * restarts and p99 with churn over p99 without; with both modes, the
 * direct ones in "direct". */
static json_t *churn_json(const struct opts *o, const struct chain_run *cr)
{
	uint64_t floor_ns = cr->s[cr->nt - 1].median_ns;
	json_t *c = json_pack("{s:I, s:I, s:{s:I, s:I, s:I, s:I}}", "servers",
			      (json_int_t)o->churn, "restarts", (json_int_t)cr->restarts,
			      "antd_loop", "wakeups", (json_int_t)cr->loop.wakeups,
			      "over_1ms", (json_int_t)cr->loop.over_1ms,
			      "over_10ms", (json_int_t)cr->loop.over_10ms,
			      "busy_max_us", (json_int_t)cr->loop.busy_max_us);
	for (size_t k = 0; c && k < cr->nant; k++) {
		json_t *one = bench_stats_json(&cr->sc[k], floor_ns);
		json_object_set_new(one, "p99_ratio", json_real(p99_ratio(cr, k)));
		json_t *out = bench_stats_json(&cr->so[k], floor_ns);
		json_object_set_new(out, "processes", json_integer((json_int_t)cr->processes));
		json_object_set_new(out, "run_ns", json_integer((json_int_t)cr->outside_ns));
		json_object_set_new(one, "run_ns", json_integer((json_int_t)cr->churn_ns));
		json_object_set_new(one, "outside", out);
		json_object_set_new(one, "p99_ratio_outside", json_real(p99_ratio_outside(cr, k)));
		if (k == 0) {
			json_object_update(c, one);
			json_decref(one);
		} else {
			json_object_set_new(c, "direct", one);
		}
	}
	return c;
}

static int print_json(const struct opts *o, const struct chain_run *cr)
{
	const struct stats *s = cr->s, *fl = &cr->s[cr->nt - 1];
	json_t *root = json_pack("{s:s, s:I, s:s, s:I, s:I}", "benchmark", "chain",
				 "depth", (json_int_t)o->depth, "return", ret_names[o->ret],
				 "iterations", (json_int_t)o->iterations,
				 "warmup", (json_int_t)o->warmup);
	if (!root)
		return -1;
	json_object_set_new(root, "cpu", o->cpu >= 0 ? json_integer(o->cpu) : json_null());
	json_object_set_new(root, "busy_poll_us", json_integer(o->busy_poll_us));
	json_object_set_new(root, "fast_path", json_boolean(o->fast_path));
	if (o->ret == RET_BOTH) {
		json_object_set_new(root, "sequential", bench_stats_json(&s[0], fl->median_ns));
		json_object_set_new(root, "direct", bench_stats_json(&s[1], fl->median_ns));
		json_object_set_new(root, "direct_over_sequential",
				    json_real((double)s[1].median_ns / (double)s[0].median_ns));
	} else {
		json_t *one = bench_stats_json(&s[0], fl->median_ns);
		json_object_update(root, one);
		json_decref(one);
	}
	json_object_set_new(root, "floor_median_ns", json_integer((json_int_t)fl->median_ns));
	json_object_set_new(root, "floor_p99_ns", json_integer((json_int_t)fl->p99_ns));
	json_object_set_new(root, "floor_median_tsc", json_integer((json_int_t)fl->median_tsc));
	json_object_set_new(root, "floor_p99_tsc", json_integer((json_int_t)fl->p99_tsc));
	json_object_set_new(root, "tsc_hz", json_integer((json_int_t)(cr->tsc_hz + 0.5)));
	if (o->churn > 0)
		json_object_set_new(root, "churn", churn_json(o, cr));
	if (o->trace)
		json_object_set_new(root, "trace", cr->trace ? json_incref(cr->trace) : json_null());
	json_object_set_new(root, "paper", json_pack(
		"{s:s, s:I, s:I, s:f, s:I, s:f, s:f}", "machine", "Pentium 4 2.8 GHz",
		"servers", (json_int_t)3,
		"sequential_cycles", (json_int_t)PAPER_SEQ_CYCLES, "sequential_us", PAPER_SEQ_US,
		"direct_cycles", (json_int_t)PAPER_DIR_CYCLES, "direct_us", PAPER_DIR_US,
		"direct_over_sequential", (double)PAPER_DIR_CYCLES / PAPER_SEQ_CYCLES));
	return bench_print_json(root, 4);
}

/* ---- the run ------------------------------------------------------------------ */

/* The targets: the ant call(s), then the floor, always last; and, with
 * churn, the ant call(s) again with samples of their own.  Exits on ENOMEM. */
static void make_targets(const struct opts *o, struct chain_run *cr, char label[2][48])
{
	const char *servers = o->depth == 1 ? "server" : "servers";
	unsigned seq_trace = 2 * (unsigned)o->depth + 1, dir_trace = (unsigned)o->depth + 2;
	struct target *t = cr->t;
	if (o->ret == RET_BOTH) {
		snprintf(label[0], 48, "sequential (%ld %s)", o->depth, servers);
		snprintf(label[1], 48, "direct (%ld %s)", o->depth, servers);
		t[cr->nt++] = (struct target){ .label = label[0], .round_trip = ant_round_trip,
					       .want_trace = seq_trace };
		t[cr->nt++] = (struct target){ .label = label[1], .round_trip = ant_round_trip,
					       .call_flags = ANT_CF_DIRECT_HINT,
					       .want_trace = dir_trace };
	} else {
		snprintf(label[0], 48, "ant call (%ld %s)", o->depth, servers);
		t[cr->nt++] = (struct target){ .label = label[0], .round_trip = ant_round_trip,
					       .want_trace = o->ret == RET_DIRECT ? dir_trace
										  : seq_trace };
	}
	cr->nant = cr->nt;
	t[cr->nt++] = (struct target){ .label = "SEQPACKET round trip",
				       .round_trip = floor_round_trip, .fd = -1 };
	for (size_t k = 0; k < cr->nant && o->churn > 0; k++)
		cr->churned[k] = cr->outside[k] = t[k];
	for (size_t k = 0; k < cr->nt + (o->churn > 0 ? 2 * cr->nant : 0); k++) {
		struct target *x = k < cr->nt ? &t[k] : k < cr->nt + cr->nant ?
			&cr->churned[k - cr->nt] : &cr->outside[k - cr->nt - cr->nant];
		x->ns = calloc((size_t)o->iterations, sizeof(uint64_t));
		x->tsc = calloc((size_t)o->iterations, sizeof(uint64_t));
		if (!x->ns || !x->tsc)
			errx(1, "out of memory for %ld samples", o->iterations);
	}
}

static void free_targets(struct chain_run *cr)
{
	for (size_t k = 0; k < cr->nt; k++) {
		free(cr->t[k].ns);
		free(cr->t[k].tsc);
	}
	for (size_t k = 0; k < cr->nant; k++) {
		free(cr->churned[k].ns);
		free(cr->churned[k].tsc);
		free(cr->outside[k].ns);
		free(cr->outside[k].tsc);
	}
}

/* The ant call(s) timed again while the bystanders are restarted.  Returns
 * 0, or -1 (printed). */
static int measure_churned(const struct opts *o, struct bench_stack *sr, struct chain_run *cr)
{
	struct churn ch;
	uint64_t span_ns, span_tsc;
	struct antd_loop before, after;
	for (size_t k = 0; k < cr->nant; k++)
		cr->churned[k].conn = cr->outside[k].conn = sr->conn;
	int ok = bench_antd_loop(sr, &before) == 0 &&
		 churn_start(&ch, sr->run.dir, o->churn) == 0 &&
		 measure(o, "chain under churn", cr->churned, cr->nant, o->iterations, 0,
			 &span_ns, &span_tsc) == 0;
	cr->restarts = churn_stop(&ch);
	ok = ok && cr->restarts >= 0 && bench_antd_loop(sr, &after) == 0;
	if (ok)
		cr->loop = (struct antd_loop){ .wakeups = after.wakeups - before.wakeups,
					       .over_1ms = after.over_1ms - before.over_1ms,
					       .over_10ms = after.over_10ms - before.over_10ms,
					       .busy_max_us = after.busy_max_us };
	/* The floor: as many processes a second, started outside antd. */
	cr->churn_ns = span_ns;
	double rate = span_ns ? (double)cr->restarts * 1e9 / (double)span_ns : 0.0;
	ok = ok && churn_start_outside(&ch, churn_echo_path(o), rate) == 0 &&
	     measure(o, "chain, churn outside antd", cr->outside, cr->nant, o->iterations, 0,
		     &span_ns, &span_tsc) == 0;
	cr->processes = churn_stop(&ch);
	cr->outside_ns = span_ns;
	return ok && cr->processes >= 0 ? 0 : -1;
}

/* One call of target ctx for bench_trace_calls. */
static int trace_call(void *ctx, uint64_t seq)
{
	unsigned char arg[ARG_SIZE];
	make_arg(arg, seq);
	return ((struct target *)ctx)->round_trip(ctx, arg);
}

/* --trace: the ant call(s) again, under the scheduler's eye.  Returns 0
 * (traced, or tracing cannot run here: said why), or -1 (a call failed). */
static int trace_chain(const struct opts *o, const struct bench_stack *sr, struct chain_run *cr)
{
	struct trace_target tt[2];
	for (size_t k = 0; k < cr->nant; k++) {
		int direct = o->ret == RET_DIRECT || (cr->t[k].call_flags & ANT_CF_DIRECT_HINT);
		/* Every message passes antd: the call, each relay's call down
		 * and antd's to the next; then, sequential, each result up
		 * through every relay, or, direct, from the last to the caller. */
		tt[k] = (struct trace_target){ .mode = direct ? "direct" : "sequential",
			.label = cr->t[k].label, .call = trace_call, .ctx = &cr->t[k],
			.messages = direct ? 2 * (int)o->depth + 2 : 4 * (int)o->depth };
	}
	long calls = o->iterations < TRACE_CALLS ? o->iterations : TRACE_CALLS;
	return bench_trace_calls(sr, tt, cr->nant, calls, &cr->trace) < 0 ? -1 : 0;
}

/* Start the floor's child and the stack, time every target.  Returns 0, or -1 (printed). */
static int chain_measure(const struct opts *o, struct chain_run *cr)
{
	int ok = 0;
	uint64_t span_ns = 0, span_tsc = 0;
	struct bench_stack sr = { .conn = NULL };
	pid_t floor_pid = 0;
	json_t *stack = chain_stack(o);
	/* The echo child first, so that it inherits none of the stack's fds. */
	int floor_fd = floor_start(&floor_pid);
	if (floor_fd >= 0 && bench_stack_start(&sr, o, stack, "relay1") == 0) {
		for (size_t k = 0; k < cr->nant; k++)
			cr->t[k].conn = sr.conn;
		cr->t[cr->nt - 1].fd = floor_fd;
		ok = measure(o, "chain", cr->t, cr->nt, o->iterations, o->warmup, &span_ns,
			     &span_tsc) == 0;
		if (ok && o->churn > 0)
			ok = measure_churned(o, &sr, cr) == 0;
		if (ok && o->trace)
			ok = trace_chain(o, &sr, cr) == 0;
		if (!ok && !bench_interrupted)
			bench_stack_show_log(&sr);
	}
	json_decref(stack);
	if (bench_interrupted)
		fprintf(stderr, "%s: interrupted\n", PROG);
	if (bench_stack_stop(&sr) < 0)
		ok = 0;
	floor_stop(floor_fd, floor_pid);
	cr->tsc_hz = span_ns ? (double)span_tsc * 1e9 / (double)span_ns : 0.0;
	return ok ? 0 : -1;
}

static int chain_main(const struct opts *o)
{
	struct chain_run cr;
	char label[2][48];
	memset(&cr, 0, sizeof(cr));
	make_targets(o, &cr, label);
	int ok = chain_measure(o, &cr) == 0;
	if (ok) {
		for (size_t k = 0; k < cr.nt; k++)
			cr.s[k] = bench_stats(cr.t[k].ns, cr.t[k].tsc, (size_t)o->iterations);
		for (size_t k = 0; k < cr.nant && o->churn > 0; k++) {
			cr.sc[k] = bench_stats(cr.churned[k].ns, cr.churned[k].tsc,
					       (size_t)o->iterations);
			cr.so[k] = bench_stats(cr.outside[k].ns, cr.outside[k].tsc,
					       (size_t)o->iterations);
		}
		if (o->json)
			ok = print_json(o, &cr) == 0;
		else
			print_table(o, &cr);
	}
	free_targets(&cr);
	json_decref(cr.trace);
	return ok ? 0 : 1;
}

/* ---- command line ----------------------------------------------------------- */

static const struct option chain_opts[] = {
	{ "depth", required_argument, NULL, 'd' },
	{ "return", required_argument, NULL, 'R' },
	{ "iterations", required_argument, NULL, 'i' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "busy-poll", required_argument, NULL, 'b' },
	{ "churn", required_argument, NULL, 'C' },
	{ "trace", no_argument, NULL, 'T' },
	BENCH_COMMON_OPTS,
};

static void chain_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'd': o->depth = bench_opt_long("depth", 1, DEPTH_MAX, " relays"); break;
	case 'R':
		if (strcmp(optarg, "sequential") == 0)
			o->ret = RET_SEQUENTIAL;
		else if (strcmp(optarg, "direct") == 0)
			o->ret = RET_DIRECT;
		else if (strcmp(optarg, "both") == 0)
			o->ret = RET_BOTH;
		else
			tool_usage_error(PROG, "--return: expected sequential, direct or "
					 "both, got '%s'", optarg);
		break;
	case 'i': o->iterations = bench_opt_long("iterations", 1, ITER_MAX, ""); break;
	case 'w': o->warmup = bench_opt_long("warmup", 0, ITER_MAX, ""); break;
	case 'b': o->busy_poll_us = bench_opt_long("busy-poll", 0, 10000, " us"); break;
	case 'C': o->churn = bench_opt_long("churn", 1, CHURN_MAX, " servers"); break;
	case 'T': o->trace = 1; break;
	}
}

const struct bench_command bench_chain = {
	.name = "chain", .usage = chain_usage, .opts = chain_opts,
	.option = chain_option, .run = chain_main,
};
