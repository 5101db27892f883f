/* bench_lanes.c - ant-bench lanes: the fast path's design measured before it is built: an app and N relays over lanes (ipc/lane.c), with every check a receiver makes, no antd, beside a SOCK_SEQPACKET round trip of the same run. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/lane.h"
#include "bench.h"
#include "tool_common.h"

#define DEPTH_MAX 8
#define ITER_MAX  1000000L

static struct {
	long depth;
} LN = { .depth = 3 };

static void lanes_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench lanes [OPTIONS]\n"
		"The fast path of docs/fastpath.md, measured before antd uses it: this\n"
		"process (the app) and N forked relays pass each call's control page\n"
		"through lanes (ipc/lane.c: slots in shared memory, an eventfd bell rung\n"
		"only for a receiver that sleeps), and every receiver does what the\n"
		"design asks of it: copy the page out of the sender's memory, check it\n"
		"(ant_cica_validate), push a frame or write the result, publish, mark\n"
		"done.  No antd, no sandbox: the least the design can cost here, to set\n"
		"against issue 15's targets.  Sequential and direct return, each beside\n"
		"a SOCK_SEQPACKET round trip timed in the same run.\n"
		"\n"
		"  --depth N          relays, 1 to %d (default 3)\n"
		"  --iterations K     timed calls per mode (default 20000)\n"
		"  --warmup W         untimed calls per mode first (default 1000)\n"
		"  --json             one JSON object: sequential, direct (each with\n"
		"                     ratio_to_floor), direct_over_sequential, floor\n"
		"  --cpu N            run this program and the relays on CPU N\n",
		DEPTH_MAX);
	bench_usage_progress(f);
	fprintf(f,
		"  --help             this text\n"
		"\n"
		"Exit status: 0 on success; 1 if a reply was wrong or a relay failed; 2 on\n"
		"bad usage.\n");
}

/* Lanes of one run: req[k] carries requests into relay k+1 (req[0] from
 * the app); res[k] carries results out of relay k+1 towards the app
 * (sequential: res[k] to relay k, res[0] to the app; direct: res[depth-1]
 * to the app).  bell[0] is the app's, bell[k] relay k's. */
struct chain {
	long depth;
	int direct;
	struct ant_lane req[DEPTH_MAX], res[DEPTH_MAX];
	int req_fd[DEPTH_MAX][2], res_fd[DEPTH_MAX][2];
	int bell[DEPTH_MAX + 1];
	pid_t pid[DEPTH_MAX];
};

static struct ant_lane_slot in;    /* a page and more: off the stack */

/* Take from the first lane that has something, in order (results before
 * requests); sleep on bell when none has.  Returns the lane's index in l[]
 * with its slot index in *slot, or -1 on a torn slot. */
static int take_any(struct ant_lane **l, int n, int bell, int *slot)
{
	unsigned bad;
	for (;;) {
		for (int pass = 0; pass < 2; pass++) {
			for (int k = 0; k < n; k++) {
				int i = ant_lane_take(l[k], &in, &bad);
				if (i >= 0 || i == ANT_LANE_TORN) {
					for (int j = 0; pass && j < n; j++)
						ant_lane_sleeping(l[j], 0);
					*slot = i;
					return i >= 0 ? k : -1;
				}
			}
			if (!pass)  /* say we sleep, then look once more */
				for (int k = 0; k < n; k++)
					ant_lane_sleeping(l[k], 1);
		}
		ant_bell_wait(bell);
		for (int k = 0; k < n; k++)
			ant_lane_sleeping(l[k], 0);
	}
}

static void post_wait(struct ant_lane *l, const struct ant_lane_slot *h, const void *page, size_t len)
{
	while (ant_lane_post(l, h, page, len) == -EAGAIN)
		sched_yield();   /* a slot is freed as soon as the receiver published */
}

/* Relay k (1..depth): serve until the app goes away (SIGKILL). */
static void relay(struct chain *c, int k)
{
	unsigned nservers = (unsigned)c->depth;
	int last = k == c->depth;
	struct ant_lane *inl[2];
	int nin = 0;
	if (!c->direct && !last)
		inl[nin++] = &c->res[k];        /* results from relay k+1 */
	inl[nin++] = &c->req[k - 1];
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	for (;;) {
		int slot, which = take_any(inl, nin, c->bell[k], &slot);
		if (which < 0)
			_exit(3);
		struct ant_lane *from = inl[which];
		memcpy(page, in.page, in.len);
		if (ant_cica_validate(page, in.len, nservers) != ANT_CICA_OK)
			_exit(4);
		struct ant_lane_slot h = { .ticket = in.ticket, .token = in.token,
					   .about = (uint64_t)slot };
		const struct ant_cica_hdr *hd = (const void *)page;
		if (from == &c->req[k - 1] && !last) {
			/* A request: push a frame for relay k+1 and hand it on. */
			const struct ant_frame *f = ant_cica_current_const(page);
			if (ant_cica_push(page, (unsigned)k + 1, f->op, page + f->param_off,
					  f->param_size, c->direct ? 0 : ANT_FF_RETURN_NEEDED) < 0)
				_exit(5);
			h.kind = ANT_LANE_REQUEST;
			post_wait(&c->req[k], &h, page, hd->used);
		} else if (from == &c->req[k - 1]) {
			/* The last relay answers: echo. */
			const struct ant_frame *f = ant_cica_current_const(page);
			unsigned char arg[ANT_CICA_SIZE];
			size_t n = f->param_size;
			memcpy(arg, page + f->param_off, n);
			if (ant_cica_set_result(page, 0, arg, n) < 0)
				_exit(6);
			h.kind = ANT_LANE_RESULT;
			post_wait(c->direct ? &c->res[c->depth - 1] : &c->res[k - 1], &h, page,
				  hd->used);
		} else {
			/* Sequential: a result from relay k+1 goes on to our caller. */
			ant_cica_pop(page);
			h.kind = ANT_LANE_RESULT;
			post_wait(&c->res[k - 1], &h, page, hd->used);
		}
		ant_lane_done(from, (unsigned)slot, in.seq);
	}
}

static void chain_free(struct chain *c)
{
	for (long k = 0; k < c->depth; k++) {
		if (c->pid[k] > 0)
			bench_kill_child(c->pid[k]);
		ant_lane_unmap(&c->req[k]);
		ant_lane_unmap(&c->res[k]);
		for (int j = 0; j < 2; j++) {
			if (c->req_fd[k][j] >= 0)
				close(c->req_fd[k][j]);
			if (c->res_fd[k][j] >= 0)
				close(c->res_fd[k][j]);
		}
	}
	for (long k = 0; k <= c->depth; k++)
		if (c->bell[k] >= 0)
			close(c->bell[k]);
}

/* Make the lanes and bells, fork the relays.  0, or -1 with m failed. */
static int chain_start(struct chain *c, long depth, int direct, struct bench_measure *m)
{
	memset(c, 0, sizeof(*c));
	c->depth = depth;
	c->direct = direct;
	memset(c->req_fd, -1, sizeof(c->req_fd));
	memset(c->res_fd, -1, sizeof(c->res_fd));
	for (long k = 0; k <= depth; k++)
		c->bell[k] = -1;
	for (long k = 0; k <= depth; k++)
		if ((c->bell[k] = ant_bell_create()) < 0) {
			bench_measure_fail(m, 1, "eventfd: %s", strerror(-c->bell[k]));
			return -1;
		}
	for (long k = 0; k < depth; k++) {
		/* res[k] goes to relay k (the app for k 0) sequentially; direct,
		 * only res[depth-1] is used, to the app. */
		int to_res = direct ? 0 : (int)k;
		int r = ant_lane_create(4, (unsigned)k, (unsigned)k + 1, &c->req_fd[k][0],
					&c->req_fd[k][1]);
		if (r == 0)
			r = ant_lane_create(4, (unsigned)k + 1, (unsigned)to_res, &c->res_fd[k][0],
					    &c->res_fd[k][1]);
		if (r == 0)
			r = ant_lane_map(&c->req[k], c->req_fd[k][0], c->req_fd[k][1], ANT_LANE_OWNER);
		if (r == 0)
			r = ant_lane_map(&c->res[k], c->res_fd[k][0], c->res_fd[k][1], ANT_LANE_OWNER);
		if (r < 0) {
			bench_measure_fail(m, 1, "lane: %s", strerror(-r));
			return -1;
		}
		c->req[k].bell = c->bell[k + 1];
		c->res[k].bell = c->bell[to_res];
	}
	for (long k = 1; k <= depth; k++) {
		pid_t pid = bench_fork_child(m);
		if (pid < 0)
			return -1;
		if (pid == 0)
			relay(c, (int)k);
		c->pid[k - 1] = pid;
	}
	return 0;
}

static int lanes_echo(void *ctx, const unsigned char *arg, unsigned char *reply, size_t size,
		      struct bench_measure *m)
{
	struct chain *c = ctx;
	static uint64_t ticket;
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	if (ant_cica_init(page, 1, "echo", arg, size, ANT_FF_SYNC | ANT_FF_RETURN_NEEDED) < 0) {
		bench_measure_fail(m, 1, "ant_cica_init");
		return -1;
	}
	const struct ant_cica_hdr *hd = (const void *)page;
	struct ant_lane_slot h = { .kind = ANT_LANE_REQUEST, .ticket = ++ticket };
	post_wait(&c->req[0], &h, page, hd->used);
	struct ant_lane *back = c->direct ? &c->res[c->depth - 1] : &c->res[0];
	int slot;
	if (take_any(&back, 1, c->bell[0], &slot) < 0) {
		bench_measure_fail(m, 1, "a relay broke the lane's rules");
		return -1;
	}
	memcpy(page, in.page, in.len);
	if (in.ticket != ticket || ant_cica_validate(page, in.len, (unsigned)c->depth) != ANT_CICA_OK ||
	    hd->retval != 0 || hd->ret_size != size) {
		bench_measure_fail(m, 1, "a wrong result came back");
		return -1;
	}
	memcpy(reply, page + hd->ret_off, size);
	ant_lane_done(back, (unsigned)slot, in.seq);
	return 0;
}

static void measure_mode(const struct opts *o, int direct, struct bench_measure *m)
{
	struct chain c;
	memset(m, 0, sizeof(*m));
	if (chain_start(&c, LN.depth, direct, m) == 0)
		bench_time_echo(o->iterations, o->warmup, BENCH_ECHO_SIZE, lanes_echo, &c, m);
	chain_free(&c);
}

static int lanes_main(const struct opts *o)
{
	struct bench_measure seq, dir, fl;
	const char *names[3] = { "sequential", "direct", "SEQPACKET round trip" };
	struct bench_measure *ms[3] = { &seq, &dir, &fl };
	struct progress p;
	progress_begin(&p, o->progress, "lanes", NULL, 0);
	memset(&fl, 0, sizeof(fl));
	measure_mode(o, 0, &seq);
	measure_mode(o, 1, &dir);
	bench_floor_seqpacket(o->iterations, o->warmup, &fl);
	progress_end(&p);
	for (int k = 0; k < 3; k++)
		if (!ms[k]->ok) {
			fprintf(stderr, "%s: lanes: %s: %s\n", PROG, names[k], ms[k]->why);
			return 1;
		}
	double f = (double)fl.s.median_ns;
	if (o->json) {
		json_t *root = json_pack("{s:s, s:I, s:I, s:I}", "benchmark", "lanes", "depth",
					 (json_int_t)LN.depth, "iterations", (json_int_t)o->iterations,
					 "warmup", (json_int_t)o->warmup);
		json_object_set_new(root, "sequential", bench_stats_json(&seq.s, fl.s.median_ns));
		json_object_set_new(root, "direct", bench_stats_json(&dir.s, fl.s.median_ns));
		json_object_set_new(root, "direct_over_sequential",
				    json_real((double)dir.s.median_ns / (double)seq.s.median_ns));
		json_object_set_new(root, "floor", bench_stats_json(&fl.s, 0));
		return bench_print_json(root, 4) == 0 ? 0 : 1;
	}
	printf("ant-bench lanes: app -> %ld relays over lanes, every receiver's checks, no antd; "
	       "%ld calls per mode (after %ld warm-up)\n", LN.depth, o->iterations, o->warmup);
	bench_print_placement(o, "this program and the relays");
	printf("  %-22s %10s %10s %10s\n", "", "median", "p99", "x floor");
	for (int k = 0; k < 3; k++)
		printf("  %-22s %7.1f us %7.1f us %9.2fx\n", names[k], ms[k]->s.median_ns / 1e3,
		       ms[k]->s.p99_ns / 1e3, (double)ms[k]->s.median_ns / f);
	printf("  direct/sequential: %.2f\n", (double)dir.s.median_ns / (double)seq.s.median_ns);
	return 0;
}

static const struct option lanes_opts[] = {
	{ "depth", required_argument, NULL, 'd' },
	{ "iterations", required_argument, NULL, 'i' },
	{ "warmup", required_argument, NULL, 'w' },
	BENCH_NOSTACK_OPTS,
};

static void lanes_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'd': LN.depth = bench_opt_long("depth", 1, DEPTH_MAX, " relays"); break;
	case 'i': o->iterations = bench_opt_long("iterations", 1, ITER_MAX, ""); break;
	case 'w': o->warmup = bench_opt_long("warmup", 0, ITER_MAX, ""); break;
	}
}

const struct bench_command bench_lanes = {
	.name = "lanes", .usage = lanes_usage, .opts = lanes_opts,
	.option = lanes_option, .run = lanes_main,
};
