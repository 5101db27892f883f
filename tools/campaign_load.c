/* campaign_load.c - ant-campaign's workload: applications calling a server with checkable payloads, every request classified by an oracle, one CSV row each. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ant/errors.h"
#include "fs_proto.h"
#include "tool_common.h"

#define PROG "ant-campaign-load"
#define APPS_MAX 64
#define INFLIGHT_MAX 256

/*
 * The oracle.  Every request carries a payload of its own, made from the
 * seed, the application and its number, and the stack's op (echo, through
 * any chain of relays) must bring exactly that back.  A request is:
 *   correct               answered once, right, never replayed;
 *   correct_after_replay  the same, but some server died holding it and
 *                         antd handed it over again (its trace shows that
 *                         server twice in a row);
 *   error                 answered once with an error (retval < 0);
 *   lost                  not answered within the deadline (then cancelled);
 *   duplicated            answered more than once;
 *   wrong                 answered once, with other bytes.
 * Exactly one class each: the counts add up to the requests made.
 */
enum cls { C_CORRECT, C_REPLAYED, C_ERROR, C_LOST, C_DUP, C_WRONG, C_PENDING, NCLS };
static const char *const cls_name[] = { "correct", "correct_after_replay", "error", "lost",
					"duplicated", "wrong", "pending" };

struct rq {
	uint64_t ticket;
	double t_send;        /* wall clock, s */
	uint64_t m_send;      /* monotonic ns */
	uint64_t latency_ns;  /* to its first answer (or to the deadline, lost) */
	int32_t retval;
	uint8_t cls, replayed, answers;
	uint8_t kind;         /* enum kind */
	uint16_t trace_len;
	uint32_t target;      /* the file (fs: its number, or the version written) */
};

/* What a request asks (the fs workload; the chain's is always K_ECHO). */
enum kind { K_ECHO, K_READ, K_STAT, K_WRITE, K_READ_OWN, NKINDS };
static const char *const kind_name[] = { "echo", "read", "stat", "write", "read-own" };

struct app {
	pthread_t t;
	int n;
	struct rq *rq;
	size_t nrq, caprq;
	uint64_t *hkey;       /* ticket -> request index + 1, open addressing */
	uint32_t *hval;
	size_t hcap, hn;
	size_t inflight[INFLIGHT_MAX];
	unsigned ninflight;
	int failed;           /* could not connect */
	/* fs: its own file /w/a<n>: the versions written that may be in it */
	uint32_t own_acked, own_tried;   /* last answered right; last sent */
	int own_busy;                    /* a write or read of it in flight */
};

static struct {
	const char *run_dir, *server, *op, *out, *make_tree;
	unsigned apps, inflight, deadline_ms, progress_ms, pause_us, files;
	int fs;               /* the file stack's workload */
	uint64_t seed;
} o = { .server = "relay1", .op = "echo", .apps = 1, .inflight = 1, .deadline_ms = 5000,
	.progress_ms = 500, .files = 64 };

/* ---- the file stack's workload --------------------------------------------------- */

#define OWN_SIZE 16384u   /* each application's own file, rewritten whole */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* File i of the tree (/t/f<i>): its size and bytes, from the seed. */
static size_t tree_size(unsigned i)
{
	return 1 + (size_t)(mix(o.seed ^ 0x74ee ^ ((uint64_t)i << 20)) % (192u << 10));
}

static void fill(uint64_t key, unsigned char *buf, size_t n)
{
	uint64_t x = mix(key);
	for (size_t k = 0; k < n; k++) {
		if (k % 8 == 0)
			x = mix(x + k);
		buf[k] = (unsigned char)(x >> (8 * (k % 8)));
	}
}

static void tree_bytes(unsigned i, unsigned char *buf, size_t n)
{
	fill(o.seed ^ ((uint64_t)i << 32) ^ 0x51e, buf, n);
}

/* Version v of application a's own file (v 0: zeros, as the tree has it). */
static void own_bytes(unsigned a, uint32_t v, unsigned char *buf)
{
	if (!v)
		memset(buf, 0, OWN_SIZE);
	else
		fill(o.seed ^ ((uint64_t)a << 40) ^ ((uint64_t)v << 8) ^ 0x0a, buf, OWN_SIZE);
}

/* --make-tree DIR: the tree an image is made of (mkfs.ext4 -d DIR). */
static int make_tree(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/t", dir);
	mkdir(dir, 0755);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(p, sizeof(p), "%s/w", dir);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	static unsigned char buf[192u << 10];
	for (unsigned i = 0; i < o.files + o.apps; i++) {
		int own = i >= o.files;
		size_t n = own ? OWN_SIZE : tree_size(i);
		if (own)
			own_bytes(i - o.files, 0, buf);
		else
			tree_bytes(i, buf, n);
		if (own)
			snprintf(p, sizeof(p), "%s/w/a%u", dir, i - o.files);
		else
			snprintf(p, sizeof(p), "%s/t/f%u", dir, i);
		FILE *f = fopen(p, "w");
		if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
			return -errno;
	}
	return 0;
}

static volatile int stopping;
static unsigned apps_ended;   /* applications whose connection is gone */
static uint64_t counts[NCLS];
static struct app apps[APPS_MAX];

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The payload of request i of application a: what the answer must be. */
static int payload(unsigned a, size_t i, char *buf, size_t len)
{
	uint64_t x = o.seed ^ ((uint64_t)a << 48) ^ (uint64_t)i * 0x9e3779b97f4a7c15ull;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	return snprintf(buf, len, "a%u-r%zu-%016" PRIx64, a, i, x);
}

static void count(int from, int to)
{
	if (from >= 0)
		__atomic_sub_fetch(&counts[from], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&counts[to], 1, __ATOMIC_RELAXED);
}

static int hash_put(struct app *a, uint64_t key, uint32_t val)
{
	if ((a->hn + 1) * 2 > a->hcap) {
		size_t cap = a->hcap ? a->hcap * 2 : 1024;
		uint64_t *k = calloc(cap, sizeof(*k));
		uint32_t *v = calloc(cap, sizeof(*v));
		if (!k || !v) {
			free(k);
			free(v);
			return -1;
		}
		for (size_t i = 0; i < a->hcap; i++) {
			if (!a->hval[i])
				continue;
			size_t j = (size_t)(a->hkey[i] * 0x9e3779b97f4a7c15ull) & (cap - 1);
			while (v[j])
				j = (j + 1) & (cap - 1);
			k[j] = a->hkey[i];
			v[j] = a->hval[i];
		}
		free(a->hkey);
		free(a->hval);
		a->hkey = k;
		a->hval = v;
		a->hcap = cap;
	}
	size_t j = (size_t)(key * 0x9e3779b97f4a7c15ull) & (a->hcap - 1);
	while (a->hval[j])
		j = (j + 1) & (a->hcap - 1);
	a->hkey[j] = key;
	a->hval[j] = val + 1;
	a->hn++;
	return 0;
}

/* The request of ticket, or NULL. */
static struct rq *hash_get(struct app *a, uint64_t key)
{
	if (!a->hcap)
		return NULL;
	size_t j = (size_t)(key * 0x9e3779b97f4a7c15ull) & (a->hcap - 1);
	while (a->hval[j]) {
		if (a->hkey[j] == key)
			return &a->rq[a->hval[j] - 1];
		j = (j + 1) & (a->hcap - 1);
	}
	return NULL;
}

static void drop_inflight(struct app *a, size_t idx)
{
	for (unsigned k = 0; k < a->ninflight; k++) {
		if (a->inflight[k] == idx) {
			a->inflight[k] = a->inflight[--a->ninflight];
			return;
		}
	}
}

/* A consecutive repeat in the trace: a server got the call twice in a row,
 * which only antd's replay does. */
static int replayed(const struct ant_result *res)
{
	for (unsigned i = 1; i < res->trace_len; i++)
		if (res->trace[i] && res->trace[i] == res->trace[i - 1])
			return 1;
	return 0;
}

static int echo_right(struct app *a, const struct rq *r, const struct ant_result *res)
{
	char want[64];
	int n = payload((unsigned)a->n, (size_t)(r - a->rq), want, sizeof(want));
	return res->len == (size_t)n && memcmp(res->bytes, want, (size_t)n) == 0;
}

/* Is what fs answered what the tree, or the application's own writes, say? */
static int fs_right(struct app *a, const struct rq *r, const struct ant_result *res)
{
	static __thread unsigned char want[192u << 10];
	size_t len;
	const char *got = fs_reply_bytes(res, &len);
	switch (r->kind) {
	case K_READ: {
		size_t n = tree_size(r->target);
		tree_bytes(r->target, want, n);
		return (size_t)res->retval == n && got && len == n && memcmp(got, want, n) == 0;
	}
	case K_STAT: {
		struct fs_attr at;
		return got && fs_attr_parse(got, len, &at) == 0 && at.size == tree_size(r->target);
	}
	case K_WRITE:
		if (res->retval == (int32_t)OWN_SIZE && r->target > a->own_acked)
			a->own_acked = r->target;
		return res->retval == (int32_t)OWN_SIZE;
	case K_READ_OWN:
		/* The last version written right; or the one after, whose answer
		 * did not come right (an error or lost: it may be in or not). */
		if ((size_t)res->retval != OWN_SIZE || !got || len != OWN_SIZE)
			return 0;
		for (uint32_t v = a->own_acked; v <= a->own_tried; v++) {
			own_bytes((unsigned)a->n, v, want);
			if (memcmp(got, want, OWN_SIZE) == 0)
				return 1;
		}
		return 0;
	}
	return 0;
}

static void answer_classify(struct app *a, struct rq *r, const struct ant_result *res);

static void answered(struct app *a, struct ant_conn *c, const struct ant_result *res)
{
	struct rq *r = hash_get(a, res->ticket);
	answer_classify(a, r, res);
	if (res->data)
		ant_ica_release(c, res->data);
}

static void answer_classify(struct app *a, struct rq *r, const struct ant_result *res)
{
	if (!r)
		return;   /* a ticket it never had: libant's own affair */
	r->answers++;
	if (r->answers > 1) {
		/* One answer each, also for a lost one (its late answer, or the
		 * one its cancellation brings): any other is one too many. */
		if (r->cls != C_DUP) {
			count(r->cls, C_DUP);
			r->cls = C_DUP;
		}
		return;
	}
	if (r->cls == C_LOST)
		return;   /* too late: lost it stays */
	r->latency_ns = mono_ns() - r->m_send;
	r->retval = res->retval;
	r->trace_len = (uint16_t)res->trace_len;
	r->replayed = (uint8_t)replayed(res);
	int right = o.fs ? fs_right(a, r, res) : echo_right(a, r, res);
	int cls = res->retval < 0 ? C_ERROR : !right ? C_WRONG : r->replayed ? C_REPLAYED : C_CORRECT;
	if (r->kind == K_WRITE || r->kind == K_READ_OWN)
		a->own_busy = 0;
	count(C_PENDING, cls);
	r->cls = (uint8_t)cls;
	drop_inflight(a, (size_t)(r - a->rq));
}

/* The fs workload's next request: reads (6 in 10) and stats (2) of the
 * tree's files; writes of the application's own file and reads of it back
 * (2), one at a time, since their answer depends on their order. */
static int fs_call(struct app *a, struct ant_conn *c, size_t i, struct rq *r, struct ant_call *x,
		   char *arg)
{
	uint64_t h = mix(o.seed ^ ((uint64_t)a->n << 48) ^ (uint64_t)i);
	unsigned pick = (unsigned)(h % 10);
	char path[64];
	struct fs_req rq = { .path = path };
	enum fs_op op;
	if (pick >= 8 && !a->own_busy) {
		snprintf(path, sizeof(path), "/w/a%d", a->n);
		a->own_busy = 1;
		if (pick == 8) {
			r->kind = K_WRITE;
			r->target = ++a->own_tried;
			struct ant_ica *ica;
			int e = ant_ica_alloc(c, OWN_SIZE, &ica);
			if (e < 0)
				return e;
			own_bytes((unsigned)a->n, r->target, ica->addr);
			x->data = ica;
			x->data_flags = ANT_DF_DETACH;
			op = FS_WRITE;
			rq.num[0] = 0;
			rq.num[1] = OWN_SIZE;
		} else {
			r->kind = K_READ_OWN;
			op = FS_READ;
			rq.num[0] = 0;
			rq.num[1] = OWN_SIZE;
		}
	} else {
		r->target = (uint32_t)((h >> 8) % o.files);
		snprintf(path, sizeof(path), "/t/f%u", r->target);
		if (pick >= 6 && pick < 8) {
			r->kind = K_STAT;
			op = FS_STAT;
		} else {
			r->kind = K_READ;
			op = FS_READ;
			rq.num[0] = 0;
			rq.num[1] = tree_size(r->target);
		}
	}
	int n = fs_req_encode(op, &rq, arg, FS_ARG_MAX);
	if (n < 0)
		return n;
	x->op = fs_op_name(op);
	x->arglen = (size_t)n;
	return 0;
}

static int issue(struct app *a, struct ant_conn *c)
{
	if (a->nrq == a->caprq) {
		size_t cap = a->caprq ? a->caprq * 2 : 4096;
		struct rq *n = realloc(a->rq, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		a->rq = n;
		a->caprq = cap;
	}
	size_t i = a->nrq;
	char arg[FS_ARG_MAX];
	struct rq *r = &a->rq[i];
	memset(r, 0, sizeof(*r));
	struct ant_call x = { .server = o.server, .op = o.op, .arg = arg };
	if (o.fs) {
		int e = fs_call(a, c, i, r, &x, arg);
		if (e < 0)
			return e;
	} else {
		x.arglen = (size_t)payload((unsigned)a->n, i, arg, sizeof(arg));
	}
	r->t_send = wall_s();
	r->m_send = mono_ns();
	r->cls = C_PENDING;
	int e = ant_call_async(c, &x, &r->ticket);
	if (e < 0)
		return e;
	a->nrq++;
	count(-1, C_PENDING);
	a->inflight[a->ninflight++] = i;
	return hash_put(a, r->ticket, (uint32_t)i);
}

/* Requests past their deadline: lost, and cancelled. */
static void expire(struct app *a, struct ant_conn *c)
{
	uint64_t now = mono_ns(), limit = (uint64_t)o.deadline_ms * 1000000u;
	for (unsigned k = 0; k < a->ninflight; ) {
		struct rq *r = &a->rq[a->inflight[k]];
		if (now - r->m_send < limit) {
			k++;
			continue;
		}
		r->latency_ns = limit;
		count(C_PENDING, C_LOST);
		r->cls = C_LOST;
		if (r->kind == K_WRITE || r->kind == K_READ_OWN)
			a->own_busy = 0;   /* (a lost write may be in the file or not) */
		ant_cancel(c, r->ticket);
		a->inflight[k] = a->inflight[--a->ninflight];
	}
}

static void *app_run(void *arg)
{
	struct app *a = arg;
	struct ant_conn *c;
	if (ant_connect(o.run_dir, &c) < 0) {
		a->failed = 1;
		__atomic_add_fetch(&apps_ended, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	static __thread struct ant_result res;
	while (!stopping || a->ninflight) {
		while (!stopping && a->ninflight < o.inflight) {
			int e = issue(a, c);
			if (e < 0) {
				fprintf(stderr, "%s: app %d: cannot call %s: %s\n", PROG, a->n, o.server,
					ant_strerror(e));
				stopping = 1;
				break;
			}
			if (o.pause_us)
				usleep(o.pause_us);
		}
		int r = ant_wait(c, 0, &res, 20);
		if (r == 0)
			answered(a, c, &res);
		else if (r != -ETIMEDOUT && r != -EINTR)
			break;   /* the connection is gone: what is in flight is lost */
		expire(a, c);
	}
	/* Anything more now is an answer too many. */
	uint64_t until = mono_ns() + 300000000u;
	while (mono_ns() < until && ant_wait(c, 0, &res, 50) == 0)
		answered(a, c, &res);
	/* Still in flight (the connection broke): lost. */
	for (unsigned k = 0; k < a->ninflight; k++) {
		struct rq *r = &a->rq[a->inflight[k]];
		count(C_PENDING, C_LOST);
		r->cls = C_LOST;
		r->latency_ns = mono_ns() - r->m_send;
	}
	a->ninflight = 0;
	ant_close(c);
	__atomic_add_fetch(&apps_ended, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void print_counts(FILE *f, int final)
{
	uint64_t total = 0;
	for (int k = 0; k < NCLS; k++)
		total += __atomic_load_n(&counts[k], __ATOMIC_RELAXED);
	fprintf(f, "{\"final\": %s, \"requests\": %" PRIu64, final ? "true" : "false", total);
	for (int k = 0; k < NCLS; k++)
		fprintf(f, ", \"%s\": %" PRIu64, cls_name[k], __atomic_load_n(&counts[k], __ATOMIC_RELAXED));
	fprintf(f, "}\n");
	fflush(f);
}

static int write_csv(void)
{
	FILE *f = fopen(o.out, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o.out, strerror(errno));
		return -1;
	}
	fprintf(f, "app,request,t_send,latency_us,class,error,replayed,trace_len,op\n");
	for (unsigned i = 0; i < o.apps; i++) {
		struct app *a = &apps[i];
		for (size_t k = 0; k < a->nrq; k++) {
			struct rq *r = &a->rq[k];
			fprintf(f, "%u,%zu,%.6f,%.1f,%s,%s,%u,%u,%s\n", i, k, r->t_send,
				(double)r->latency_ns / 1e3, cls_name[r->cls],
				r->cls == C_ERROR ? ant_errname(r->retval) : "", r->replayed, r->trace_len,
				kind_name[r->kind]);
		}
	}
	return fclose(f) == 0 ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --run-dir DIR --out FILE [OPTIONS]\n"
		"ant-campaign's workload: applications call SERVER's OP (echo) with a payload of\n"
		"their own each and check what comes back, until SIGTERM or SIGINT; then every\n"
		"request, classified (correct, correct_after_replay, error, lost, duplicated,\n"
		"wrong), is written to FILE as CSV.  Counts so far go to stdout as JSON lines.\n"
		"\n"
		"  --run-dir DIR      the stack's run folder\n"
		"  --out FILE         the CSV of every request\n"
		"  --server NAME      whom to call (default relay1)\n"
		"  --op OP            the op (default echo: must answer with the payload)\n"
		"  --apps N           applications, each on its own connection (default 1, at\n"
		"                     most %d)\n"
		"  --inflight K       calls each keeps in flight (default 1, at most %d)\n"
		"  --deadline MS      a call not answered within MS is lost (default 5000)\n"
		"  --pause-us US      pause between calls of one application (default 0)\n"
		"  --seed S           the payloads' seed (default 0)\n"
		"  --workload W       chain (default: echo payloads) or fs: the file stack's\n"
		"                     reads, stats and writes of a tree made by --make-tree,\n"
		"                     each checked against the bytes the seed says\n"
		"  --files N          fs: the tree's files (default 64)\n"
		"  --make-tree DIR    write the tree of --files, --apps and --seed into DIR\n"
		"                     (for mkfs.ext4 -d) and exit\n"
		"  --progress-ms MS   how often counts are printed (default 500; 0: never)\n"
		"  --help             this text\n", APPS_MAX, INFLIGHT_MAX);
}

static unsigned num(const char *opt, const char *v, long lo, long hi)
{
	long x;
	if (tool_parse_long(v, lo, hi, &x) < 0)
		tool_usage_error(PROG, "%s: expected a number from %ld to %ld, got '%s'", opt, lo, hi, v);
	return (unsigned)x;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run-dir", required_argument, NULL, 'r' }, { "out", required_argument, NULL, 'o' },
		{ "server", required_argument, NULL, 's' }, { "op", required_argument, NULL, 'p' },
		{ "apps", required_argument, NULL, 'a' }, { "inflight", required_argument, NULL, 'k' },
		{ "deadline", required_argument, NULL, 'd' }, { "pause-us", required_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 'S' },
		{ "progress-ms", required_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ "workload", required_argument, NULL, 'w' }, { "files", required_argument, NULL, 'F' },
		{ "make-tree", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 } };
	int ch;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': o.run_dir = optarg; break;
		case 'o': o.out = optarg; break;
		case 's': o.server = optarg; break;
		case 'p': o.op = optarg; break;
		case 'a': o.apps = num("--apps", optarg, 1, APPS_MAX); break;
		case 'k': o.inflight = num("--inflight", optarg, 1, INFLIGHT_MAX); break;
		case 'd': o.deadline_ms = num("--deadline", optarg, 1, 3600000); break;
		case 'u': o.pause_us = num("--pause-us", optarg, 0, 10000000); break;
		case 'P': o.progress_ms = num("--progress-ms", optarg, 0, 3600000); break;
		case 'S': {
			char *end;
			errno = 0;
			o.seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end)
				tool_usage_error(PROG, "--seed: expected a number, got '%s'", optarg);
			break;
		}
		case 'w':
			if (strcmp(optarg, "chain") != 0 && strcmp(optarg, "fs") != 0)
				tool_usage_error(PROG, "--workload: chain or fs, got '%s'", optarg);
			o.fs = strcmp(optarg, "fs") == 0;
			break;
		case 'F': o.files = num("--files", optarg, 1, 100000); break;
		case 'T': o.make_tree = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			tool_usage_error(PROG, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (o.make_tree) {
		int e = make_tree(o.make_tree);
		if (e < 0) {
			fprintf(stderr, "%s: --make-tree %s: %s\n", PROG, o.make_tree, strerror(-e));
			return 1;
		}
		return 0;
	}
	if (o.fs && strcmp(o.server, "relay1") == 0)
		o.server = "fs";
	if (!o.run_dir || !o.out || optind != argc)
		tool_usage_error(PROG, "%s", optind != argc ? "unexpected arguments" :
					     "--run-dir and --out are required");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);   /* the threads inherit it; main waits */
	for (unsigned i = 0; i < o.apps; i++) {
		apps[i].n = (int)i;
		if (pthread_create(&apps[i].t, NULL, app_run, &apps[i]) != 0) {
			fprintf(stderr, "%s: cannot start application %u\n", PROG, i);
			stopping = 1;
			o.apps = i;
			break;
		}
	}
	struct timespec tick = { .tv_sec = o.progress_ms ? o.progress_ms / 1000 : 1,
				 .tv_nsec = o.progress_ms ? (long)(o.progress_ms % 1000) * 1000000 : 0 };
	/* Its runner gone (killed), it ends as if told to: what it has is written. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		stopping = 1;
	while (!stopping) {
		if (__atomic_load_n(&apps_ended, __ATOMIC_RELAXED) == o.apps)
			break;   /* every connection is gone (antd stopped) */
		int sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			stopping = 1;
		else if (o.progress_ms)
			print_counts(stdout, 0);
	}
	int failed = 0;
	for (unsigned i = 0; i < o.apps; i++) {
		pthread_join(apps[i].t, NULL);
		failed += apps[i].failed;
	}
	if (failed)
		fprintf(stderr, "%s: %d application%s could not connect to %s\n", PROG, failed,
			failed == 1 ? "" : "s", o.run_dir);
	int r = write_csv();
	print_counts(stdout, 1);
	return r < 0 || failed ? 1 : 0;
}
