/* bench_trace.c - ant-bench chain --trace: trace a window of calls with eBPF (trace/trace.bpf.c), and say per process and per hop where a call's time went. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_trace.h"
#include "bench_trace_config.h"

#if BENCH_TRACE_BPF
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "trace_abi.h"
#include "trace.skel.h"

#define TRACE_WARMUP    50      /* calls of each kind before the window: who is on a CPU */
#define CONSUME_EVERY   32      /* calls between two reads of the ring buffer */
#define CALLS_MAX       10000L  /* traced calls of one kind, at most (1-2 kB each) */
#define NAME_LEN        32
#define ROLE_APP        1u      /* this program; 0 is every task not traced */
#define NO_CALL         (-1L)
#define LAT_NONE        UINT32_MAX

/*
 * How the events become figures.  The events are replayed in time order
 * against the calls' windows (CLOCK_MONOTONIC, the clock of
 * bpf_ktime_get_ns, read by this program around each call):
 *
 *   on a CPU    each traced thread is on a CPU from its switch in to its
 *               switch out; a process's time in a call is what of that
 *               falls inside the call's window.
 *   wake-ups    sched_waking of a thread that was off its CPU (one still on
 *               it, about to sleep, just goes on); its latency runs to its
 *               next switch in.
 *   hops        each message a traced process sends on a unix socket (the
 *               call goes app -> antd -> relay1 -> antd -> ...: one message
 *               in flight at a time); its receiver is the next traced
 *               process to receive one.  The send woke the receiver if the
 *               sender's last wake-up, made in the same run on its CPU, was
 *               of the receiver.  After the send the hop belongs to the
 *               receiver: its time on a CPU until the next send (or the
 *               call's end) is what it did with the message.
 */

/* ---- the processes of interest ------------------------------------------------ */

/* Role 0 is every other task; ROLE_APP this program; 2 antd; then the servers. */
struct roles {
	unsigned n;
	char name[TRACE_ROLES_MAX][NAME_LEN];
	int pid[TRACE_ROLES_MAX];
};

static void role_add(struct roles *r, const char *name, int pid)
{
	if (r->n >= TRACE_ROLES_MAX)
		return;
	snprintf(r->name[r->n], NAME_LEN, "%s", name);
	r->pid[r->n++] = pid;
}

/* Ask antd's status for its pid and its servers'.  0, or -1 (printed). */
static int roles_ask(const struct bench_stack *s, struct roles *r)
{
	struct ctl_conn c;
	if (bench_ctl_open(&c, s) < 0)
		return -1;
	json_t *st = bench_ctl_ask(&c, json_pack("{s:s}", "cmd", "status"));
	ctl_close(&c);
	int antd = (int)json_integer_value(json_object_get(st, "pid"));
	if (antd <= 0) {
		if (st)
			fprintf(stderr, "%s: antd's status has no \"pid\"\n", PROG);
		json_decref(st);
		return -1;
	}
	r->n = 0;
	role_add(r, "other", 0);
	role_add(r, "app", (int)getpid());
	role_add(r, "antd", antd);
	size_t i;
	json_t *srv;
	json_array_foreach(json_object_get(st, "servers"), i, srv) {
		const char *name = json_string_value(json_object_get(srv, "name"));
		int pid = (int)json_integer_value(json_object_get(srv, "pid"));
		if (name && pid > 0)
			role_add(r, name, pid);
	}
	json_decref(st);
	return 0;
}

/* ---- what is kept ------------------------------------------------------------- */

struct ev {
	struct sched_event e;
	uint32_t order;         /* arrival: breaks ties of time */
};

/* One message of a call. */
struct hop {
	uint8_t from, to;       /* roles of the sender and the receiver (0: not received) */
	uint8_t woke;           /* the send woke the receiver (else it was awake) */
	uint8_t woken;          /* private: the role the send woke */
	uint32_t lat_ns;        /* woke: until the receiver was on a CPU, or LAT_NONE */
	uint64_t sent_ns;
	uint64_t cpu_ns;        /* the receiver on a CPU from the send to the next */
	uint64_t to_cum;        /* private: the receiver's CPU so far, at the send */
};

struct call {
	uint64_t start, end;    /* around the call, as this program saw it */
	unsigned target;
	unsigned nhops;         /* messages sent in the call; the first hop_cap are kept */
	unsigned received;      /* hops whose receiver is known */
	uint64_t start_cpu;     /* the caller on a CPU from the start to its first send */
	struct hop *hops;       /* hop_cap of them */
	uint64_t *cpu;          /* per role: on a CPU during the call */
	uint32_t *wakes;        /* per role: woken during the call */
	uint32_t *sends;        /* per role: messages sent during the call */
};

/* One wake-up's latency, for the medians per process. */
struct lat {
	uint32_t call, role, ns;
};

struct tracer {
	struct trace_bpf *skel;         /* owns the program, its maps and links */
	struct ring_buffer *rb;
	struct roles roles;
	int messages;                   /* the kernel has the sock_*_length tracepoints */
	struct ev *ev;                  /* every event, as they came */
	size_t nev, evcap;
	struct call *calls;             /* in the order made: by time */
	size_t ncalls;
	unsigned hop_cap;
	struct hop *hop_pool;
	uint64_t *cpu_pool;
	uint32_t *wake_pool, *send_pool;
	struct lat *lats;
	size_t nlats, latcap;
	int oom;                        /* an event or a latency found no memory */
};

/* Append one element of size to *v (n used of *cap); 0 or -1. */
static int grow(void *v, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 65536;
		void *p = realloc(*(void **)v, c * size);
		if (!p)
			return -1;
		*(void **)v = p;
		*cap = c;
	}
	(*n)++;
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tracer *tr = ctx;
	if (size < sizeof(struct sched_event))
		return 0;       /* not from our program: cannot happen */
	if (grow(&tr->ev, &tr->nev, &tr->evcap, sizeof(*tr->ev)) < 0) {
		tr->oom = 1;
		return 0;
	}
	tr->ev[tr->nev - 1].e = *(const struct sched_event *)data;
	tr->ev[tr->nev - 1].order = (uint32_t)(tr->nev - 1);
	return 0;
}

/* ---- loading, running ----------------------------------------------------------- */

/* libbpf tells why it failed only through its print callback: the first
 * line of its first warning is kept (as faultinject/bpf/bpf_inject.c does),
 * and nothing reaches stderr. */
static char libbpf_said[200];

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg;
	if (level != LIBBPF_WARN || libbpf_said[0] || vasprintf(&msg, fmt, ap) < 0)
		return 0;
	if (!strstr(msg, "RLIMIT_MEMLOCK")) {
		const char *text = strncmp(msg, "libbpf: ", 8) == 0 ? msg + 8 : msg;
		snprintf(libbpf_said, sizeof(libbpf_said), "%.*s", (int)strcspn(text, "\n"), text);
	}
	free(msg);
	return 0;
}

static void tracer_close(struct tracer *tr)
{
	ring_buffer__free(tr->rb);
	trace_bpf__destroy(tr->skel);
	free(tr->ev);
	free(tr->calls);
	free(tr->hop_pool);
	free(tr->cpu_pool);
	free(tr->wake_pool);
	free(tr->send_pool);
	free(tr->lats);
}

/* Say why tracing cannot run here (on stderr) and return 1. */
static int cannot(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cannot(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: --trace: ", PROG);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "; the bench runs without it\n");
	va_end(ap);
	return 1;
}

/* sock_send_length and sock_recv_length came with Linux 6.3: without
 * them, no hops (the rest stands).  Whether this kernel has them. */
static int kernel_has_messages(void)
{
	struct btf *vm = btf__load_vmlinux_btf();
	int yes = vm &&
		btf__find_by_name_kind(vm, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF) > 0 &&
		btf__find_by_name_kind(vm, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) > 0;
	btf__free(vm);
	return yes;
}

/* Load the program, fill its roles, attach it.  0, or 1 (said why). */
static int tracer_open(struct tracer *tr, const struct bench_stack *s)
{
	static const char btf[] = "/sys/kernel/btf/vmlinux";
	if (access(btf, R_OK) < 0)
		return cannot("the kernel has no BTF (%s: %s), which the program's CO-RE needs", btf,
			      strerror(errno));
	if (roles_ask(s, &tr->roles) < 0)
		return cannot("cannot learn antd's and its servers' pids");

	const char *stage = "open";
	int err = 0;
	libbpf_said[0] = '\0';
	libbpf_print_fn_t old_print = libbpf_set_print(on_libbpf_print);
	tr->skel = trace_bpf__open();
	if (!tr->skel)
		err = -errno;
	if (!err) {
		tr->messages = kernel_has_messages();
		bpf_program__set_autoload(tr->skel->progs.on_send, tr->messages);
		bpf_program__set_autoload(tr->skel->progs.on_recv, tr->messages);
		stage = "load";
		err = trace_bpf__load(tr->skel);
	}
	for (unsigned i = 1; !err && i < tr->roles.n; i++) {
		stage = "roles map";
		__u32 tgid = (__u32)tr->roles.pid[i], role = i;
		err = bpf_map__update_elem(tr->skel->maps.roles, &tgid, sizeof(tgid), &role,
					   sizeof(role), BPF_ANY);
	}
	if (!err) {
		stage = "ring buffer";
		tr->rb = ring_buffer__new(bpf_map__fd(tr->skel->maps.events), on_event, tr, NULL);
		if (!tr->rb)
			err = -errno;
	}
	if (!err) {
		stage = "attach";
		err = trace_bpf__attach(tr->skel);
	}
	libbpf_set_print(old_print);
	if (!err)
		return 0;
	if (err > 0)
		err = -EINVAL;
	/* Without the privileges libbpf's first words are about probing
	 * features and RLIMIT_MEMLOCK: misleading, so not repeated. */
	if (err == -EPERM || err == -EACCES)
		return cannot("eBPF needs root (CAP_BPF and CAP_PERFMON): %s: %s", stage,
			      strerror(-err));
	if (libbpf_said[0])
		return cannot("eBPF: %s: %s (%s)", stage, libbpf_said, strerror(-err));
	return cannot("eBPF: %s: %s", stage, strerror(-err));
}

static int tracer_alloc(struct tracer *tr, const struct trace_target *t, size_t nt, long calls)
{
	int most = 0;
	for (size_t k = 0; k < nt; k++)
		most = t[k].messages > most ? t[k].messages : most;
	tr->hop_cap = 2 * (unsigned)most + 16;    /* room for strays */
	size_t n = nt * (size_t)calls, nr = tr->roles.n;
	tr->calls = calloc(n, sizeof(*tr->calls));
	tr->hop_pool = calloc(n * tr->hop_cap, sizeof(*tr->hop_pool));
	tr->cpu_pool = calloc(n * nr, sizeof(*tr->cpu_pool));
	tr->wake_pool = calloc(n * nr, sizeof(*tr->wake_pool));
	tr->send_pool = calloc(n * nr, sizeof(*tr->send_pool));
	if (!tr->calls || !tr->hop_pool || !tr->cpu_pool || !tr->wake_pool || !tr->send_pool)
		return -1;
	for (size_t i = 0; i < n; i++) {
		tr->calls[i].hops = tr->hop_pool + i * tr->hop_cap;
		tr->calls[i].cpu = tr->cpu_pool + i * nr;
		tr->calls[i].wakes = tr->wake_pool + i * nr;
		tr->calls[i].sends = tr->send_pool + i * nr;
	}
	return 0;
}

/* A few calls to learn the state of every thread, then the window: calls
 * of each target, each timed; the ring buffer is read between calls, so
 * that its reading adds nothing inside one.  0, or -1 (a call failed, or
 * a signal came). */
static int tracer_run(struct tracer *tr, const struct trace_target *t, size_t nt, long calls)
{
	uint64_t seq = 1ull << 40;      /* apart from the timed run's arguments */
	for (size_t k = 0; k < nt; k++)
		for (long i = 0; i < TRACE_WARMUP; i++)
			if (bench_interrupted || t[k].call(t[k].ctx, ++seq) < 0)
				return -1;
	ring_buffer__consume(tr->rb);
	for (size_t k = 0; k < nt; k++) {
		for (long i = 0; i < calls; i++) {
			struct call *c = &tr->calls[tr->ncalls];
			if (bench_interrupted)
				return -1;
			c->target = (unsigned)k;
			c->start = bench_now_ns();
			int r = t[k].call(t[k].ctx, ++seq);
			c->end = bench_now_ns();
			if (r < 0)
				return -1;
			tr->ncalls++;
			if (tr->ncalls % CONSUME_EVERY == 0)
				ring_buffer__consume(tr->rb);
		}
	}
	trace_bpf__detach(tr->skel);
	ring_buffer__consume(tr->rb);
	return 0;
}

/* ---- the replay ----------------------------------------------------------------- */

/* A traced thread, as the events so far show it. */
struct task {
	uint32_t tid;           /* 0: a free entry */
	unsigned role;
	int on;                 /* 1 on a CPU, 0 off, -1 not seen yet */
	uint64_t since;         /* on: since when */
	uint64_t in_ns;         /* its last switch onto a CPU */
	/* woken while off its CPU, not yet back on */
	int woken;
	uint64_t woken_ns;
	long woken_call;        /* the call it was woken in, or NO_CALL */
	long hop_call;          /* ... and the hop whose send woke it, or NO_CALL */
	unsigned hop;
	/* as a waker: its last wake-up of a sleeper, in this run on its CPU */
	int wake_valid;
	uint32_t wake_tid;
	uint64_t wake_ns;
};

#define TASKS 1024      /* threads of the traced processes; a power of 2 */

struct replay {
	struct tracer *tr;
	struct task task[TASKS];
	uint64_t first_ns;
	/* Each role's CPU up to t: closed + running * t - since_sum. */
	uint64_t closed[TRACE_ROLES_MAX], since_sum[TRACE_ROLES_MAX];
	uint64_t running[TRACE_ROLES_MAX];
	uint64_t snap[TRACE_ROLES_MAX];    /* every role's CPU at the last send */
	long cur;                           /* the call under way, or NO_CALL */
};

static struct task *task_of(struct replay *rp, uint32_t tid, unsigned role)
{
	for (unsigned i = (tid * 2654435761u) & (TASKS - 1), n = 0; n < TASKS;
	     i = (i + 1) & (TASKS - 1), n++) {
		struct task *x = &rp->task[i];
		if (x->tid == tid)
			return x;
		if (!x->tid) {
			*x = (struct task){ .tid = tid, .role = role, .on = -1,
					    .woken_call = NO_CALL, .hop_call = NO_CALL };
			return x;
		}
	}
	return NULL;    /* more threads than TASKS: the rest go uncounted */
}

/* Role r's time on a CPU up to t (t no earlier than the last event). */
static uint64_t cum(const struct replay *rp, unsigned r, uint64_t t)
{
	return rp->closed[r] + rp->running[r] * t - rp->since_sum[r];
}

static void set_on(struct replay *rp, struct task *x, uint64_t ns)
{
	if (x->on == 1)
		return;
	x->on = 1;
	x->since = x->in_ns = ns;
	rp->running[x->role]++;
	rp->since_sum[x->role] += ns;
}

static void set_off(struct replay *rp, struct task *x, uint64_t ns)
{
	if (x->on == 1) {
		rp->closed[x->role] += ns - x->since;
		rp->running[x->role]--;
		rp->since_sum[x->role] -= x->since;
	} else if (x->on < 0) {
		rp->closed[x->role] += ns - rp->first_ns;  /* on since the trace began, say */
	}
	x->on = 0;
	x->wake_valid = 0;
}

/* The last hop of c is over at t: its receiver's time on a CPU since the send. */
static void hop_close(struct replay *rp, struct call *c, uint64_t t)
{
	if (!c->nhops || c->nhops > rp->tr->hop_cap)
		return;
	struct hop *h = &c->hops[c->nhops - 1];
	if (h->to)
		h->cpu_ns = cum(rp, h->to, t) - h->to_cum;
}

/* Boundary b of the calls: even, the start of call b/2; odd, its end. */
static void boundary(struct replay *rp, size_t b)
{
	struct call *c = &rp->tr->calls[b / 2];
	unsigned nr = rp->tr->roles.n;
	if (b % 2 == 0) {
		/* Until the end, cpu[] holds each role's CPU so far. */
		for (unsigned r = 0; r < nr; r++)
			c->cpu[r] = cum(rp, r, c->start);
		c->start_cpu = c->cpu[ROLE_APP];
		rp->cur = (long)(b / 2);
		return;
	}
	for (unsigned r = 0; r < nr; r++)
		c->cpu[r] = cum(rp, r, c->end) - c->cpu[r];
	if (c->nhops)
		hop_close(rp, c, c->end);
	else
		c->start_cpu = c->cpu[ROLE_APP];
	rp->cur = NO_CALL;
}

static void on_waking(struct replay *rp, const struct sched_event *e)
{
	struct tracer *tr = rp->tr;
	struct task *y = task_of(rp, e->b_tid, e->b_role);
	struct task *x = e->a_role ? task_of(rp, e->a_tid, e->a_role) : NULL;
	if (!y)
		return;
	if (x)
		x->wake_valid = 0;
	if (y->on == 1)
		return;         /* still on its CPU, about to sleep: it goes on */
	if (rp->cur != NO_CALL)
		tr->calls[rp->cur].wakes[e->b_role]++;
	y->woken = 1;
	y->woken_ns = e->ns;
	y->woken_call = rp->cur;
	y->hop_call = NO_CALL;
	if (x) {
		x->wake_valid = 1;
		x->wake_tid = e->b_tid;
		x->wake_ns = e->ns;
	}
}

static void on_switch(struct replay *rp, const struct sched_event *e)
{
	struct tracer *tr = rp->tr;
	struct task *a = e->a_role && e->a_tid ? task_of(rp, e->a_tid, e->a_role) : NULL;
	struct task *b = e->b_role && e->b_tid ? task_of(rp, e->b_tid, e->b_role) : NULL;
	if (a)
		set_off(rp, a, e->ns);
	if (!b)
		return;
	set_on(rp, b, e->ns);
	if (!b->woken)
		return;
	uint32_t lat = (uint32_t)(e->ns - b->woken_ns);
	if (b->woken_call != NO_CALL) {
		if (grow(&tr->lats, &tr->nlats, &tr->latcap, sizeof(*tr->lats)) < 0)
			tr->oom = 1;
		else
			tr->lats[tr->nlats - 1] = (struct lat){ .call = (uint32_t)b->woken_call,
								.role = b->role, .ns = lat };
	}
	if (b->hop_call != NO_CALL)
		tr->calls[b->hop_call].hops[b->hop].lat_ns = lat;
	b->woken = 0;
	b->hop_call = NO_CALL;
}

static void on_send(struct replay *rp, const struct sched_event *e)
{
	struct tracer *tr = rp->tr;
	struct task *x = task_of(rp, e->a_tid, e->a_role);
	if (rp->cur == NO_CALL || !x)
		return;
	struct call *c = &tr->calls[rp->cur];
	c->sends[e->a_role]++;
	if (c->nhops)
		hop_close(rp, c, e->ns);
	else
		c->start_cpu = cum(rp, ROLE_APP, e->ns) - c->start_cpu;
	for (unsigned r = 0; r < tr->roles.n; r++)
		rp->snap[r] = cum(rp, r, e->ns);
	unsigned k = c->nhops++;
	if (k >= tr->hop_cap)
		return;
	struct hop *h = &c->hops[k];
	*h = (struct hop){ .from = (uint8_t)e->a_role, .sent_ns = e->ns, .lat_ns = LAT_NONE };
	if (x->wake_valid) {
		/* The wake-up came from this send (in the same system call). */
		struct task *y = task_of(rp, x->wake_tid, 0);
		h->woke = 1;
		h->woken = y ? (uint8_t)y->role : 0;
		if (y && y->woken) {
			y->hop_call = rp->cur;
			y->hop = k;
		} else if (y && y->in_ns >= x->wake_ns) {
			h->lat_ns = (uint32_t)(y->in_ns - x->wake_ns);   /* already on a CPU */
		}
	}
	x->wake_valid = 0;
}

static void on_recv(struct replay *rp, const struct sched_event *e)
{
	struct tracer *tr = rp->tr;
	if (rp->cur == NO_CALL)
		return;
	struct call *c = &tr->calls[rp->cur];
	if (c->received >= c->nhops || c->received >= tr->hop_cap)
		return;
	struct hop *h = &c->hops[c->received];
	if (h->from == e->a_role)
		return;         /* not the message in flight */
	h->to = (uint8_t)e->a_role;
	if (h->woke && h->woken != h->to) {
		h->woke = 0;    /* the sender woke someone else */
		h->lat_ns = LAT_NONE;
	}
	/* One message in flight: its send was the last one, unless the next
	 * came before this receive (then from now on). */
	h->to_cum = c->received + 1 == c->nhops ? rp->snap[h->to] : cum(rp, h->to, e->ns);
	c->received++;
}

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->e.ns != y->e.ns)
		return x->e.ns < y->e.ns ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static uint64_t boundary_ns(const struct tracer *tr, size_t b)
{
	return b % 2 ? tr->calls[b / 2].end : tr->calls[b / 2].start;
}

/* Replay the events in time order against the calls' windows.  0, or -1
 * (out of memory). */
static int attribute(struct tracer *tr)
{
	struct replay *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -1;
	rp->tr = tr;
	rp->cur = NO_CALL;
	qsort(tr->ev, tr->nev, sizeof(*tr->ev), cmp_ev);
	rp->first_ns = tr->nev ? tr->ev[0].e.ns : 0;
	size_t b = 0, nb = 2 * tr->ncalls;
	for (size_t i = 0; i < tr->nev; i++) {
		const struct sched_event *e = &tr->ev[i].e;
		if (e->a_role >= tr->roles.n || e->b_role >= tr->roles.n)
			continue;       /* not a role we gave: cannot happen */
		for (; b < nb && boundary_ns(tr, b) <= e->ns; b++)
			boundary(rp, b);
		switch (e->kind) {
		case TRACE_WAKING: on_waking(rp, e); break;
		case TRACE_SWITCH: on_switch(rp, e); break;
		case TRACE_SEND: on_send(rp, e); break;
		case TRACE_RECV: on_recv(rp, e); break;
		}
	}
	for (; b < nb; b++)
		boundary(rp, b);
	free(rp);
	return 0;
}

/* ---- statistics --------------------------------------------------------------- */

static json_t *median_json(uint64_t *v, size_t n)
{
	uint64_t m, p99;
	if (!n)
		return json_null();
	bench_median_p99(v, n, &m, &p99);
	return json_integer((json_int_t)m);
}

/* The calls of target k, as indices into tr->calls. */
static size_t calls_of(const struct tracer *tr, unsigned k, size_t *idx)
{
	size_t n = 0;
	for (size_t i = 0; i < tr->ncalls; i++)
		if (tr->calls[i].target == k)
			idx[n++] = i;
	return n;
}

/* Calls (indices into tr's) ordered by their path: the count of hops,
 * then who sent to whom. */
static int cmp_path(const void *a, const void *b, void *arg)
{
	const struct tracer *tr = arg;
	const struct call *x = &tr->calls[*(const size_t *)a];
	const struct call *y = &tr->calls[*(const size_t *)b];
	if (x->nhops != y->nhops)
		return x->nhops < y->nhops ? -1 : 1;
	for (unsigned j = 0; j < x->nhops && j < tr->hop_cap; j++) {
		int d = (x->hops[j].from - y->hops[j].from) * 256 + (x->hops[j].to - y->hops[j].to);
		if (d)
			return d;
	}
	return 0;
}

/* The path most calls took: its first call in idx (sorted by cmp_path)
 * and how many took it.  A call with more hops than kept is never it. */
static size_t usual_path(const struct tracer *tr, size_t *idx, size_t n, size_t *first)
{
	qsort_r(idx, n, sizeof(*idx), cmp_path, (void *)tr);
	size_t best = 0;
	*first = 0;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && cmp_path(&idx[i], &idx[j], (void *)tr) == 0; j++)
			;
		if (j - i > best && tr->calls[idx[i]].nhops <= tr->hop_cap) {
			best = j - i;
			*first = i;
		}
	}
	return best;
}

/* The hops of the n calls idx, which took one path; v and w scratch of n. */
static json_t *path_json(const struct tracer *tr, const size_t *idx, size_t n, uint64_t *v,
			 uint64_t *w)
{
	const struct call *c0 = &tr->calls[idx[0]];
	json_t *hops = json_array();
	for (size_t i = 0; i < n; i++)
		v[i] = tr->calls[idx[i]].start_cpu;
	json_t *path = json_pack("{s:I, s:o, s:o}", "calls", (json_int_t)n, "start_cpu_median_ns",
				 median_json(v, n), "hops", hops);
	for (unsigned j = 0; path && j < c0->nhops; j++) {
		size_t woke = 0, nl = 0;
		for (size_t i = 0; i < n; i++) {
			const struct call *c = &tr->calls[idx[i]];
			const struct hop *h = &c->hops[j];
			woke += h->woke;
			if (h->woke && h->lat_ns != LAT_NONE)
				w[nl++] = h->lat_ns;
		}
		json_t *lat = median_json(w, nl);
		for (size_t i = 0; i < n; i++) {
			const struct call *c = &tr->calls[idx[i]];
			uint64_t next = j + 1 < c->nhops ? c->hops[j + 1].sent_ns : c->end;
			v[i] = c->hops[j].cpu_ns;
			w[i] = next > c->hops[j].sent_ns ? next - c->hops[j].sent_ns : 0;
		}
		json_t *cpu = median_json(v, n), *span = median_json(w, n);
		json_array_append_new(hops, json_pack("{s:s, s:s, s:I, s:o, s:o, s:o}",
			"from", tr->roles.name[c0->hops[j].from],
			"to", c0->hops[j].to ? tr->roles.name[c0->hops[j].to] : "?",
			"woke", (json_int_t)woke, "latency_median_ns", lat,
			"cpu_median_ns", cpu, "span_median_ns", span));
	}
	return path;
}

/* Process r in the n calls idx: on a CPU, messages and wake-ups, per
 * call; NULL if it did nothing in them (a bystander). */
static json_t *process_json(const struct tracer *tr, unsigned r, const size_t *idx, size_t n,
			    unsigned k, uint64_t *v, uint64_t **w, size_t *wcap)
{
	uint64_t cpu = 0, wakes = 0, sends = 0;
	for (size_t i = 0; i < n; i++) {
		const struct call *c = &tr->calls[idx[i]];
		v[i] = c->cpu[r];
		cpu += c->cpu[r];
		wakes += c->wakes[r];
		sends += c->sends[r];
	}
	if (!cpu && !wakes && !sends)
		return NULL;
	size_t nl = 0;
	for (size_t i = 0; i < tr->nlats; i++) {
		const struct lat *l = &tr->lats[i];
		if (l->role != r || tr->calls[l->call].target != k)
			continue;
		if (nl == *wcap) {
			size_t cap = *wcap ? 2 * *wcap : 4096;
			uint64_t *p = realloc(*w, cap * sizeof(*p));
			if (!p)
				break;
			*w = p;
			*wcap = cap;
		}
		(*w)[nl++] = l->ns;
	}
	return json_pack("{s:o, s:I, s:o, s:f, s:o}", "cpu_median_ns", median_json(v, n),
			 "cpu_mean_ns", (json_int_t)(cpu / n),
			 "messages_per_call", tr->messages ? json_real((double)sends / (double)n)
							   : json_null(),
			 "wakeups_per_call", (double)wakes / (double)n,
			 "wakeup_latency_median_ns", median_json(*w, nl));
}

static json_t *target_json(const struct tracer *tr, const struct trace_target *t, unsigned k)
{
	size_t *idx = calloc(tr->ncalls, sizeof(*idx));
	uint64_t *v = calloc(tr->ncalls, sizeof(*v)), *w = NULL;
	size_t wcap = 0, n = idx ? calls_of(tr, k, idx) : 0;
	json_t *o = NULL;
	if (!idx || !v || !n)
		goto out;
	uint64_t wakes = 0, hops = 0;
	for (size_t i = 0; i < n; i++) {
		const struct call *c = &tr->calls[idx[i]];
		v[i] = c->end - c->start;
		hops += c->nhops;
		for (unsigned r = 1; r < tr->roles.n; r++)
			wakes += c->wakes[r];
	}
	json_t *procs = json_object();
	o = json_pack("{s:s, s:I, s:o, s:o, s:i, s:f, s:o}", "label", t->label,
		      "calls", (json_int_t)n, "call_median_ns", median_json(v, n),
		      "messages_per_call", tr->messages ? json_real((double)hops / (double)n)
							: json_null(),
		      "messages_implied", t->messages,
		      "wakeups_per_call", (double)wakes / (double)n, "processes", procs);
	for (unsigned r = 1; o && r < tr->roles.n; r++) {
		json_t *p = process_json(tr, r, idx, n, k, v, &w, &wcap);
		if (p)
			json_object_set_new(procs, tr->roles.name[r], p);
	}
	size_t first, m = tr->messages ? usual_path(tr, idx, n, &first) : 0;
	if (o && m) {
		uint64_t *w2 = realloc(w, n * sizeof(*w2));
		if (w2) {
			w = w2;
			json_object_set_new(o, "path", path_json(tr, idx + first, m, v, w));
		}
	}
out:
	free(idx);
	free(v);
	free(w);
	return o;
}

static json_t *trace_json(const struct tracer *tr, const struct trace_target *t, size_t nt,
			  long calls)
{
	json_t *pids = json_object(), *modes = json_array();
	for (unsigned r = 1; r < tr->roles.n; r++)
		json_object_set_new(pids, tr->roles.name[r], json_integer(tr->roles.pid[r]));
	json_t *o = json_pack("{s:I, s:I, s:I, s:o, s:o}", "calls", (json_int_t)calls, "events",
			      (json_int_t)tr->nev, "lost", (json_int_t)tr->skel->bss->lost,
			      "pids", pids, "modes", modes);
	for (size_t k = 0; o && k < nt; k++) {
		json_t *one = target_json(tr, &t[k], (unsigned)k);
		if (!one) {
			json_decref(o);
			return NULL;
		}
		json_array_append_new(modes, json_string(t[k].mode));
		json_object_set_new(o, t[k].mode, one);
	}
	return o;
}

int bench_trace_calls(const struct bench_stack *s, const struct trace_target *t, size_t nt,
		      long calls, json_t **out)
{
	struct tracer tr;
	memset(&tr, 0, sizeof(tr));
	*out = NULL;
	calls = calls < CALLS_MAX ? calls : CALLS_MAX;
	int r = tracer_open(&tr, s);
	if (r == 0 && tracer_alloc(&tr, t, nt, calls) < 0)
		r = cannot("out of memory for %ld calls", calls);
	if (r == 0 && tracer_run(&tr, t, nt, calls) < 0)
		r = -1;
	if (r == 0 && (attribute(&tr) < 0 || tr.oom))
		r = cannot("out of memory for the events");
	if (r == 0) {
		uint64_t lost = tr.skel->bss->lost;
		if (lost)
			fprintf(stderr, "%s: --trace: the ring buffer lost %llu events: the "
				"figures are incomplete\n", PROG, (unsigned long long)lost);
		if (!tr.messages)
			fprintf(stderr, "%s: --trace: this kernel has no sock_send_length "
				"tracepoint (Linux 6.3): no messages, no hops\n", PROG);
		*out = trace_json(&tr, t, nt, calls);
		if (!*out)
			r = cannot("out of memory for the results");
	}
	tracer_close(&tr);
	return r;
}

#else   /* !BENCH_TRACE_BPF */

int bench_trace_calls(const struct bench_stack *s, const struct trace_target *t, size_t nt,
		      long calls, json_t **out)
{
	*out = NULL;
	fprintf(stderr, "%s: --trace: tracing not built: ant-bench was built without eBPF (%s); "
		"the bench runs without it\n", PROG, BENCH_TRACE_MISSING);
	return 1;
}

#endif

/* ---- the table ------------------------------------------------------------------ */

/* "12.3 us" from a JSON number of nanoseconds, or "-" for null. */
static const char *us(const json_t *ns, char *buf, size_t len)
{
	if (!json_is_integer(ns))
		return "-";
	snprintf(buf, len, "%.1f us", (double)json_integer_value(ns) / 1e3);
	return buf;
}

/* "1.00" from a JSON real, or "-" for null. */
static const char *per_call(const json_t *x, char *buf, size_t len)
{
	if (!json_is_number(x))
		return "-";
	snprintf(buf, len, "%.2f", json_number_value(x));
	return buf;
}

static void print_path(const json_t *path)
{
	char a[32], b[32], c[32];
	long long n = json_integer_value(json_object_get(path, "calls"));
	printf("    the usual path (%lld of the calls), medians:\n", n);
	printf("      %-22s %9s %10s %12s %10s\n", "hop", "woke", "latency", "then on CPU",
	       "hop time");
	printf("      %-22s %9s %10s %12s\n", "app makes the call", "", "",
	       us(json_object_get(path, "start_cpu_median_ns"), a, sizeof(a)));
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(path, "hops"), i, h) {
		char hop[64], woke[16];
		snprintf(hop, sizeof(hop), "%s -> %s", json_string_value(json_object_get(h, "from")),
			 json_string_value(json_object_get(h, "to")));
		snprintf(woke, sizeof(woke), "%.0f%%",
			 n ? 100.0 * (double)json_integer_value(json_object_get(h, "woke")) / (double)n : 0.0);
		printf("      %-22s %9s %10s %12s %10s\n", hop, woke,
		       us(json_object_get(h, "latency_median_ns"), a, sizeof(a)),
		       us(json_object_get(h, "cpu_median_ns"), b, sizeof(b)),
		       us(json_object_get(h, "span_median_ns"), c, sizeof(c)));
	}
}

static void print_mode(const json_t *m)
{
	char a[32], b[32], c[32];
	printf("  %s: %lld traced calls, median %s; %s messages per call (the path implies "
	       "%lld), %.2f wake-ups\n", json_string_value(json_object_get(m, "label")),
	       json_integer_value(json_object_get(m, "calls")),
	       us(json_object_get(m, "call_median_ns"), a, sizeof(a)),
	       per_call(json_object_get(m, "messages_per_call"), b, sizeof(b)),
	       json_integer_value(json_object_get(m, "messages_implied")),
	       json_real_value(json_object_get(m, "wakeups_per_call")));
	printf("    %-10s %12s %14s %14s %16s\n", "process", "on CPU/call", "messages/call",
	       "wake-ups/call", "wake-up latency");
	const char *name;
	json_t *p;
	json_object_foreach(json_object_get(m, "processes"), name, p)
		printf("    %-10s %12s %14s %14.2f %16s\n", name,
		       us(json_object_get(p, "cpu_median_ns"), a, sizeof(a)),
		       per_call(json_object_get(p, "messages_per_call"), b, sizeof(b)),
		       json_real_value(json_object_get(p, "wakeups_per_call")),
		       us(json_object_get(p, "wakeup_latency_median_ns"), c, sizeof(c)));
	if (json_object_get(m, "path"))
		print_path(json_object_get(m, "path"));
}

void bench_trace_print(const json_t *trace)
{
	printf("  trace: %lld more calls of each kind under eBPF (sched_waking, sched_switch, "
	       "sock_send_length, sock_recv_length); a process's time on a CPU and a hop's are "
	       "medians over the calls\n", json_integer_value(json_object_get(trace, "calls")));
	size_t i;
	json_t *mode;
	json_array_foreach(json_object_get(trace, "modes"), i, mode)
		print_mode(json_object_get(trace, json_string_value(mode)));
	if (json_integer_value(json_object_get(trace, "lost")))
		printf("  trace: %lld events lost: the figures are incomplete\n",
		       json_integer_value(json_object_get(trace, "lost")));
}
