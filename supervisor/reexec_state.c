/* reexec_state.c - antd's tables written out for the antd that follows a re-exec, and read back by it: connections, ICAs, servers and their processes, calls and queues. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "antd.h"
#include "follow.h"
#include "log.h"
#include "output.h"
#include "reexec.h"

/*
 * The format is JSON (jansson), versioned by ANTD_STATE_VERSION, so that a
 * new antd whose structs differ reads it field by field; what is bulky or
 * binary (call pages, queued messages, service-time rings, partial output
 * lines) goes into a blob after it, named by offset and length.  File
 * descriptors are named by number: antd clears close-on-exec on each before
 * it executes the new binary, so they arrive under the same numbers.
 * Durations (timers) travel as the seconds left; instants as CLOCK_MONOTONIC
 * ns, which is the machine's and goes on across the exec.
 */

/* ---- writing ---------------------------------------------------------------- */

int reexec_fds_add(struct reexec_fds *f, int fd)
{
	if (fd < 0)
		return 0;
	if (f->n == f->cap) {
		unsigned cap = f->cap ? f->cap * 2 : 256;
		int *n = realloc(f->fd, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		f->fd = n;
		f->cap = cap;
	}
	f->fd[f->n++] = fd;
	return 0;
}

/* Bytes into the blob: [offset, length] for the JSON. */
static json_t *blob_put(struct reexec_blob *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->n + n)
			cap *= 2;
		unsigned char *np = realloc(b->p, cap);
		if (!np)
			return NULL;
		b->p = np;
		b->cap = cap;
	}
	json_t *ref = json_pack("[I, I]", (json_int_t)b->n, (json_int_t)n);
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return ref;
}

/* The seconds left of a running timer, or null. */
static json_t *timer_left(struct ev_loop *loop, ev_timer *w)
{
	return ev_is_active(w) ? json_real(ev_timer_remaining(loop, w)) : json_null();
}

static json_t *exec_save(const struct exec_spec *e)
{
	json_t *a = json_array();
	for (size_t i = 0; i < e->len && e->text[i]; i += strlen(e->text + i) + 1)
		json_array_append_new(a, json_string(e->text + i));
	return a;
}

static json_t *peers_save(struct antd *d, struct reexec_blob *b, struct reexec_fds *fds)
{
	json_t *a = json_array();
	for (uint32_t i = 0; i < d->npeers; i++) {
		struct peer *p = d->peers[i];
		if (!p || p->fd < 0)
			continue;
		json_t *out = json_array();
		struct outmsg *m;
		STAILQ_FOREACH(m, &p->out, link) {
			struct ant_msg h;
			memcpy(&h, m->buf, sizeof(h));
			if (m->nfds > 1)
				continue;   /* a LANE: the lanes are off and closed after a re-exec */
			int fd = m->nfds ? m->fds[0] : -1;
			json_array_append_new(out, json_pack("{s:i, s:i, s:o, s:i}", "type", h.type,
							     "flags", h.flags, "data",
							     blob_put(b, m->buf + sizeof(h), m->len),
							     "fd", fd));
			reexec_fds_add(fds, fd);
		}
		/* A server's connection names its slot even when the process
		 * there is another one now (a connection that outlived its
		 * process still gets its close handled). */
		int slot = p->kind == PEER_SERVER && p->inst ? (int)(p->inst - p->inst->srv->slot) : -1;
		json_array_append_new(a, json_pack("{s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
						   "s:i, s:I, s:o, s:i}",
						   "idx", (json_int_t)p->idx, "gen", (json_int_t)p->gen,
						   "kind", p->kind, "server", p->server_id, "fd", p->fd,
						   "pid", (int)p->pid, "uid", (int)p->uid, "gid", (int)p->gid,
						   "calls_out", p->calls_out, "icas", p->icas,
						   "ica_bytes", (json_int_t)p->ica_bytes, "out", out,
						   "slot", slot));
		reexec_fds_add(fds, p->fd);
	}
	return a;
}

static json_t *icas_save(struct antd *d, struct reexec_fds *fds)
{
	struct ica_table *t = &d->icas;
	json_t *e = json_array(), *stock = json_array(), *wanted = json_array();
	for (uint32_t i = 0; i < t->n; i++) {
		struct ica_entry *x = &t->e[i];
		if (x->fd < 0)
			continue;   /* a free slot */
		json_t *h = json_array();
		for (unsigned k = 0; k < x->nholders; k++)
			json_array_append_new(h, json_pack("[I, b]", (json_int_t)x->holders[k].key,
							   x->holders[k].ro));
		json_array_append_new(e, json_pack("{s:I, s:I, s:I, s:i, s:i, s:b, s:b, s:I, s:i, s:o}",
						   "idx", (json_int_t)i, "gen", (json_int_t)x->gen,
						   "size", (json_int_t)x->size, "fd", x->fd,
						   "ro_fd", x->ro_fd, "sealed", x->sealed, "shared",
						   x->shared, "owner", (json_int_t)x->owner, "refs",
						   x->refs, "holders", h));
		reexec_fds_add(fds, x->fd);
		reexec_fds_add(fds, x->ro_fd);
	}
	for (unsigned c = 0; c < ICA_CLASSES; c++) {
		json_array_append_new(wanted, json_boolean(t->stock_wanted[c]));
		for (unsigned k = 0; k < t->nstock[c]; k++) {
			json_array_append_new(stock, json_pack("[i, i]", c, t->stock[c][k]));
			reexec_fds_add(fds, t->stock[c][k]);
		}
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "next_gen",
			 (json_int_t)t->next_gen, "created", (json_int_t)t->created, "recycled",
			 (json_int_t)t->recycled, "stocked", (json_int_t)t->stocked, "entries", e,
			 "stock", stock, "stock_wanted", wanted);
}

static json_t *instance_save(struct antd *d, struct instance *in, struct reexec_fds *fds)
{
	if (!instance_alive(in))
		return json_null();
	reexec_fds_add(fds, in->pidfd);
	reexec_fds_add(fds, in->notify_fd);
	return json_pack("{s:i, s:i, s:i, s:i, s:I, s:o, s:s, s:b, s:i, s:I, s:i, s:o, s:o, "
			 "s:i, s:s, s:s}",
			 "phase", in->phase, "pid", (int)in->pid, "gen", in->gen, "pidfd", in->pidfd,
			 "peer", (json_int_t)(in->peer ? peer_key(in->peer) : 0), "exec",
			 exec_save(&in->exec), "version", in->version, "retiring", in->retiring,
			 "want", in->want, "started_ns", (json_int_t)in->started_ns, "notify_fd",
			 in->notify_fd, "ready_timer", timer_left(d->loop, &in->ready_timer),
			 "eof_timer", timer_left(d->loop, &in->eof_timer), "kill", in->kill,
			 "kill_why", in->kill_why, "exec_error", in->exec_error);
}

static json_t *queue_save(const struct callq *q)
{
	json_t *a = json_array();
	struct call *c;
	TAILQ_FOREACH(c, &q->q, qlink)
		json_array_append_new(a, json_integer(c->index));
	return a;
}

static json_t *server_save(struct antd *d, struct server *s, struct reexec_blob *b,
			   struct reexec_fds *fds)
{
	json_t *exits = json_array(), *hist = json_array();
	for (unsigned i = 0; i < SERVER_EXITS; i++)
		json_array_append_new(exits, json_pack("{s:f, s:s, s:s}", "when", s->exits[i].when,
						       "how", s->exits[i].how, "cause",
						       s->exits[i].cause));
	for (unsigned i = 0; i < s->nhistory && i < RESTART_HISTORY; i++)
		json_array_append_new(hist, json_pack("[f, I]", s->history[i].t,
						      (json_int_t)s->history[i].blamed));
	json_t *o = json_pack("{s:s, s:i, s:I, s:i, s:i, s:i, s:o, s:i, s:o, s:b, s:I, s:I, s:I, "
			      "s:I, s:I, s:I, s:I, s:s, s:o, s:i, s:o, s:i, s:i, s:f, s:i, s:s, "
			      "s:I}",
			      "name", s->conf->name, "state", s->state, "state_ns",
			      (json_int_t)s->state_ns, "spawns", s->spawns, "held", s->held,
			      "probation", s->probation, "exec", exec_save(&s->exec), "generation",
			      s->generation, "prev_exec", exec_save(&s->prev_exec), "has_prev",
			      s->has_prev, "served", (json_int_t)s->served, "errors",
			      (json_int_t)s->errors, "failed", (json_int_t)s->failed, "svc_n",
			      (json_int_t)s->svc_n, "restarts", (json_int_t)s->restarts, "replays",
			      (json_int_t)s->replays, "failovers", (json_int_t)s->failovers,
			      "last_exit", s->last_exit, "exits", exits, "exits_n", s->exits_n,
			      "history", hist, "give_ups", s->give_ups, "op_stopped", s->op_stopped,
			      "last_failure", s->last_failure, "spare_failures", s->spare_failures,
			      "violation", s->violation, "violations", (json_int_t)s->violations);
	json_object_set_new(o, "svc", blob_put(b, s->svc_us, sizeof(s->svc_us)));
	json_object_set_new(o, "metrics", blob_put(b, &s->metrics, sizeof(s->metrics)));
	json_object_set_new(o, "restart_timer", timer_left(d->loop, &s->restart_timer));
	json_object_set_new(o, "spare_timer", timer_left(d->loop, &s->spare_timer));
	json_object_set_new(o, "retry_timer", timer_left(d->loop, &s->retry_timer));
	json_object_set_new(o, "cur", json_integer(s->cur == &s->slot[1]));
	json_object_set_new(o, "slots", json_pack("[o, o]", instance_save(d, &s->slot[0], fds),
						  instance_save(d, &s->slot[1], fds)));
	json_object_set_new(o, "requests", queue_save(&s->requests));
	json_object_set_new(o, "results", queue_save(&s->results));
	return o;
}

static json_t *calls_save(struct antd *d, struct reexec_blob *b)
{
	struct call_table *t = &d->calls;
	json_t *a = json_array();
	for (uint32_t i = 0; i < t->n; i++) {
		struct call *c = t->c[i];
		if (!c || !c->gen)
			continue;
		json_array_append_new(a, json_pack(
			"{s:I, s:I, s:i, s:i, s:i, s:i, s:b, s:I, s:i, s:i, s:[I, I, I], s:I, s:o, s:o}",
			"index", (json_int_t)c->index, "gen", (json_int_t)c->gen, "state", c->state,
			"at", c->at, "held_as", c->held_as, "kills", c->kills, "cancelled", c->cancelled,
			"origin", (json_int_t)c->origin, "origin_server", c->origin_server,
			"origin_gen", c->origin_gen, "data", (json_int_t)c->data.index,
			(json_int_t)c->data.gen, (json_int_t)c->data.size, "held_ns",
			(json_int_t)c->held_ns, "deadline", timer_left(d->loop, &c->deadline), "page",
			blob_put(b, c->page, c->len)));
	}
	return json_pack("{s:I, s:o}", "next_gen", (json_int_t)t->next_gen, "list", a);
}

struct outputs_ctx {
	json_t *a;
	struct reexec_blob *b;
	struct reexec_fds *fds;
};

static void output_save_one(void *arg, int fd, const char *name, pid_t pid, const char *line,
			    size_t len)
{
	struct outputs_ctx *x = arg;
	json_array_append_new(x->a, json_pack("{s:i, s:s, s:i, s:o}", "fd", fd, "name", name, "pid",
					      (int)pid, "line", blob_put(x->b, line, len)));
	reexec_fds_add(x->fds, fd);
}

int reexec_state_save(struct antd *d, json_t *root, struct reexec_blob *b, struct reexec_fds *fds)
{
	json_t *servers = json_array();
	for (unsigned id = 1; id <= d->stack->nservers; id++)
		json_array_append_new(servers, server_save(d, &d->servers[id], b, fds));
	struct outputs_ctx oc = { json_array(), b, fds };
	output_each(output_save_one, &oc);
	uint64_t keys[64];
	unsigned nf = follow_keys(d, keys, 64);
	json_t *followers = json_array();
	for (unsigned i = 0; i < nf; i++)
		json_array_append_new(followers, json_integer((json_int_t)keys[i]));
	json_object_set_new(root, "listen", json_pack("[i, i]", d->app_listen, d->control_listen));
	json_object_set_new(root, "lock_fd", json_integer(d->lock_fd));
	reexec_fds_add(fds, d->app_listen);
	reexec_fds_add(fds, d->control_listen);
	reexec_fds_add(fds, d->lock_fd);
	json_object_set_new(root, "counters",
			    json_pack("{s:I, s:I, s:I, s:b}", "calls_total",
				      (json_int_t)d->calls_total, "conns_refused",
				      (json_int_t)d->conns_refused, "events", (json_int_t)d->events,
				      "ever_ready", d->ever_ready));
	json_object_set_new(root, "peer_gen", json_integer(d->peer_gen));
	json_object_set_new(root, "peers", peers_save(d, b, fds));
	json_object_set_new(root, "icas", icas_save(d, fds));
	json_object_set_new(root, "servers", servers);
	json_object_set_new(root, "calls", calls_save(d, b));
	json_object_set_new(root, "outputs", oc.a);
	json_object_set_new(root, "followers", followers);
	size_t loglen = 0;
	char *logtext = log_ring_dump(&loglen);
	if (logtext)
		json_object_set_new(root, "log", blob_put(b, logtext, loglen));
	free(logtext);
	return 0;
}

/* ---- reading ---------------------------------------------------------------- */

/* Everything below reads a state the antd before wrote, but checks it as it
 * would a stranger's: a field of the wrong type or out of range is an error
 * naming it, and the new antd then falls back to the binary before. */

struct rd {
	struct antd *d;
	const unsigned char *blob;
	size_t nblob;
	char *err;
	size_t errlen;
};

static int bad(struct rd *r, const char *fmt, const char *what)
{
	snprintf(r->err, r->errlen, fmt, what);
	return -1;
}

static int get_int(struct rd *r, json_t *o, const char *key, long long lo, long long hi,
		   long long *v)
{
	json_t *x = json_object_get(o, key);
	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return bad(r, "state: \"%s\" missing or out of range", key);
	*v = json_integer_value(x);
	return 0;
}
#define GET(o, key, lo, hi, dst) do { long long v_; \
	if (get_int(r, o, key, lo, hi, &v_) < 0) { return -1; } (dst) = v_; } while (0)
#define GETU64(o, key, dst) do { long long v_; \
	if (get_int(r, o, key, 0, INT64_MAX, &v_) < 0) { return -1; } (dst) = (uint64_t)v_; } while (0)

static int get_str(struct rd *r, json_t *o, const char *key, char *dst, size_t n)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		return bad(r, "state: \"%s\" missing", key);
	snprintf(dst, n, "%s", s);
	return 0;
}

static int get_fd(struct rd *r, json_t *o, const char *key, int may_be_none, int *fd)
{
	long long v;
	if (get_int(r, o, key, may_be_none ? -1 : 0, 1 << 30, &v) < 0)
		return -1;
	if (v >= 0 && fcntl((int)v, F_GETFD) < 0)
		return bad(r, "state: fd \"%s\" did not come across", key);
	*fd = (int)v;
	return 0;
}

/* The bytes of a [offset, length] of the blob. */
static const unsigned char *get_blob(struct rd *r, json_t *ref, size_t *len)
{
	json_int_t off, n;
	if (json_unpack(ref, "[I, I]", &off, &n) < 0 || off < 0 || n < 0 ||
	    (size_t)off > r->nblob || (size_t)n > r->nblob - (size_t)off) {
		bad(r, "state: a blob reference is %s", "out of range");
		return NULL;
	}
	*len = (size_t)n;
	return r->blob + off;
}

static double get_timer(json_t *o, const char *key)
{
	json_t *x = json_object_get(o, key);
	return json_is_number(x) ? json_number_value(x) : -1;
}

static void start_timer(struct antd *d, ev_timer *w, double left)
{
	if (left < 0)
		return;
	ev_timer_set(w, left > 0.0005 ? left : 0.0005, 0.);
	ev_timer_start(d->loop, w);
}

static int exec_load(struct rd *r, json_t *a, struct exec_spec *e)
{
	size_t n = json_array_size(a);
	if (!n || n > 256)
		return bad(r, "state: an exec is %s", "empty or too long");
	char *args[256];
	for (size_t i = 0; i < n; i++)
		if (!(args[i] = (char *)json_string_value(json_array_get(a, i))))
			return bad(r, "state: an exec is %s", "not strings");
	if (exec_spec_set(e, args[0], args + 1, (unsigned)(n - 1)) < 0)
		return bad(r, "state: an exec %s", "does not fit");
	return 0;
}

static int peers_load(struct rd *r, json_t *a)
{
	struct antd *d = r->d;
	size_t i;
	json_t *o;
	json_array_foreach(a, i, o) {
		long long idx, gen, kind, sid;
		int fd;
		if (get_int(r, o, "idx", 0, 1 << 24, &idx) < 0 ||
		    get_int(r, o, "gen", 1, UINT32_MAX, &gen) < 0 ||
		    get_int(r, o, "kind", PEER_SERVER, PEER_KINDS - 1, &kind) < 0 ||
		    get_int(r, o, "server", 0, d->stack->nservers, &sid) < 0 ||
		    get_fd(r, o, "fd", 0, &fd) < 0)
			return -1;
		struct peer *p = peer_adopt(d, fd, (enum peer_kind)kind, (unsigned)sid,
					    (uint32_t)idx, (uint32_t)gen);
		if (!p)
			return bad(r, "state: peer slot %s taken twice", "(or out of memory)");
		GET(o, "pid", -1, INT32_MAX, p->pid);
		GET(o, "uid", -1, UINT32_MAX, p->uid);
		GET(o, "gid", -1, UINT32_MAX, p->gid);
		GET(o, "calls_out", 0, UINT32_MAX, p->calls_out);
		GET(o, "icas", 0, UINT32_MAX, p->icas);
		GET(o, "ica_bytes", 0, INT64_MAX, p->ica_bytes);
		if (kind == PEER_SERVER) {
			long long slot;
			if (sid < 1 || get_int(r, o, "slot", 0, 1, &slot) < 0)
				return bad(r, "state: a server's connection names %s", "no server or slot");
			p->inst = &d->servers[sid].slot[slot];
		}
	}
	return 0;
}

static int icas_load(struct rd *r, json_t *o)
{
	struct ica_table *t = &r->d->icas;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(o, "entries"), i, e) {
		struct ica_entry x;
		memset(&x, 0, sizeof(x));
		long long idx;
		if (get_int(r, e, "idx", 0, 1 << 26, &idx) < 0)
			return -1;
		GET(e, "gen", 0, UINT32_MAX, x.gen);
		GET(e, "size", 1, INT64_MAX, x.size);
		if (get_fd(r, e, "fd", 0, &x.fd) < 0 || get_fd(r, e, "ro_fd", 1, &x.ro_fd) < 0)
			return -1;
		x.sealed = json_is_true(json_object_get(e, "sealed"));
		x.shared = json_is_true(json_object_get(e, "shared"));
		GETU64(e, "owner", x.owner);
		GET(e, "refs", 0, UINT32_MAX, x.refs);
		json_t *h = json_object_get(e, "holders");
		size_t k, nh = json_array_size(h);
		json_t *hv;
		struct ica_holder *hs = calloc(nh ? nh : 1, sizeof(*hs));
		if (!hs)
			return bad(r, "state: %s", "out of memory");
		json_array_foreach(h, k, hv) {
			json_int_t key;
			int ro;
			if (json_unpack(hv, "[I, b]", &key, &ro) < 0) {
				free(hs);
				return bad(r, "state: an ICA holder is %s", "malformed");
			}
			hs[k].key = (uint64_t)key;
			hs[k].ro = (uint8_t)ro;
		}
		x.holders = hs;
		x.nholders = (unsigned)nh;
		int ar = ica_adopt(t, (uint32_t)idx, &x);
		free(hs);
		if (ar < 0)
			return bad(r, "state: ICA entry %s", "cannot be taken over");
	}
	json_array_foreach(json_object_get(o, "stock"), i, e) {
		int cls, fd;
		if (json_unpack(e, "[i, i]", &cls, &fd) < 0 || fcntl(fd, F_GETFD) < 0 ||
		    ica_adopt_stock(t, (unsigned)cls, fd) < 0)
			return bad(r, "state: a stocked ICA %s", "cannot be taken over");
	}
	json_array_foreach(json_object_get(o, "stock_wanted"), i, e)
		if (i < ICA_CLASSES)
			t->stock_wanted[i] = (uint8_t)json_is_true(e);
	long long next_gen;
	if (get_int(r, o, "next_gen", 0, UINT32_MAX, &next_gen) < 0)
		return -1;
	GETU64(o, "created", t->created);
	GETU64(o, "recycled", t->recycled);
	GETU64(o, "stocked", t->stocked);
	ica_adopt_done(t, (uint32_t)next_gen);
	return 0;
}

static int instance_load(struct rd *r, struct server *s, struct instance *in, json_t *o)
{
	struct antd *d = r->d;
	if (json_is_null(o))
		return 0;
	long long phase, pid, key;
	int pidfd, notify;
	if (get_int(r, o, "phase", INST_STARTING, INST_READY, &phase) < 0 ||
	    get_int(r, o, "pid", 1, INT32_MAX, &pid) < 0 || get_fd(r, o, "pidfd", 0, &pidfd) < 0 ||
	    get_fd(r, o, "notify_fd", 1, &notify) < 0 || get_int(r, o, "peer", 0, INT64_MAX, &key) < 0)
		return -1;
	in->phase = (enum instance_phase)phase;
	GET(o, "gen", 0, UINT32_MAX, in->gen);
	if (exec_load(r, json_object_get(o, "exec"), &in->exec) < 0 ||
	    get_str(r, o, "version", in->version, sizeof(in->version)) < 0 ||
	    get_str(r, o, "kill_why", in->kill_why, sizeof(in->kill_why)) < 0 ||
	    get_str(r, o, "exec_error", in->exec_error, sizeof(in->exec_error)) < 0)
		return -1;
	in->retiring = json_is_true(json_object_get(o, "retiring"));
	GET(o, "want", 0, UINT32_MAX, in->want);
	GETU64(o, "started_ns", in->started_ns);
	GET(o, "kill", KILL_NONE, KILL_ASKED, in->kill);
	if (key) {
		struct peer *p = peer_by_key(d, (uint64_t)key);
		if (!p || p->kind != PEER_SERVER || p->server_id != s->id)
			return bad(r, "state: server %s names a connection that is not its own", s->conf->name);
		in->peer = p;
		p->inst = in;
		p->pid = (pid_t)pid;
	}
	instance_adopt(d, in, (pid_t)pid, pidfd, notify);
	start_timer(d, &in->ready_timer, get_timer(o, "ready_timer"));
	start_timer(d, &in->eof_timer, get_timer(o, "eof_timer"));
	return 0;
}

static int queue_load(struct rd *r, struct server *s, json_t *a, struct callq *q)
{
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x) {
		json_int_t idx = json_integer_value(x);
		struct call *c = json_is_integer(x) && idx >= 0 && (uint32_t)idx < r->d->calls.n ?
				 r->d->calls.c[idx] : NULL;
		if (!c || !c->gen || c->q)
			return bad(r, "state: a queue of %s names a call that is not there (or twice)",
				   s->conf->name);
		callq_push(q, c);
	}
	return 0;
}

static int server_load(struct rd *r, struct server *s, json_t *o)
{
	struct antd *d = r->d;
	char name[ANT_NAME_MAX];
	if (get_str(r, o, "name", name, sizeof(name)) < 0)
		return -1;
	if (strcmp(name, s->conf->name) != 0)
		return bad(r, "state: the servers differ from the stack's (%s)", name);
	GET(o, "state", SRV_STOPPED, SRV_NSTATES - 1, s->state);
	GETU64(o, "state_ns", s->state_ns);
	GET(o, "spawns", 0, UINT32_MAX, s->spawns);
	GET(o, "held", 0, UINT32_MAX, s->held);
	GET(o, "probation", 0, UINT32_MAX, s->probation);
	GET(o, "generation", 0, UINT32_MAX, s->generation);
	if (exec_load(r, json_object_get(o, "exec"), &s->exec) < 0)
		return -1;
	s->has_prev = json_is_true(json_object_get(o, "has_prev"));
	if (s->has_prev && exec_load(r, json_object_get(o, "prev_exec"), &s->prev_exec) < 0)
		return -1;
	GETU64(o, "served", s->served);
	GETU64(o, "errors", s->errors);
	GETU64(o, "failed", s->failed);
	GETU64(o, "svc_n", s->svc_n);
	GETU64(o, "restarts", s->restarts);
	GETU64(o, "replays", s->replays);
	GETU64(o, "failovers", s->failovers);
	GETU64(o, "violations", s->violations);
	GET(o, "exits_n", 0, UINT32_MAX, s->exits_n);
	GET(o, "give_ups", 0, UINT32_MAX, s->give_ups);
	GET(o, "spare_failures", 0, UINT32_MAX, s->spare_failures);
	s->op_stopped = json_is_true(json_object_get(o, "op_stopped"));
	s->last_failure = json_number_value(json_object_get(o, "last_failure"));
	if (get_str(r, o, "last_exit", s->last_exit, sizeof(s->last_exit)) < 0 ||
	    get_str(r, o, "violation", s->violation, sizeof(s->violation)) < 0)
		return -1;
	size_t i, len;
	json_t *x;
	json_array_foreach(json_object_get(o, "exits"), i, x) {
		if (i >= SERVER_EXITS)
			break;
		s->exits[i].when = json_number_value(json_object_get(x, "when"));
		get_str(r, x, "how", s->exits[i].how, sizeof(s->exits[i].how));
		get_str(r, x, "cause", s->exits[i].cause, sizeof(s->exits[i].cause));
	}
	json_array_foreach(json_object_get(o, "history"), i, x) {
		json_int_t blamed;
		double t;
		if (i >= RESTART_HISTORY || json_unpack(x, "[F, I]", &t, &blamed) < 0)
			return bad(r, "state: the failure history of %s is malformed", s->conf->name);
		s->history[i].t = t;
		s->history[i].blamed = (uint64_t)blamed;
		s->nhistory = (unsigned)i + 1;
	}
	const unsigned char *svc = get_blob(r, json_object_get(o, "svc"), &len);
	if (!svc || len != sizeof(s->svc_us))
		return bad(r, "state: the service times of %s are malformed", s->conf->name);
	memcpy(s->svc_us, svc, len);
	/* The counters for scrapers (absent from an older antd's state: they
	 * start again at zero, which a scraper reads as a counter reset). */
	json_t *mref = json_object_get(o, "metrics");
	if (mref) {
		const unsigned char *m = get_blob(r, mref, &len);
		if (!m || len != sizeof(s->metrics))
			return bad(r, "state: the metrics of %s are malformed", s->conf->name);
		memcpy(&s->metrics, m, len);
		if (s->metrics.nops > METRICS_OPS || s->metrics.ncodes > METRICS_CODES)
			return bad(r, "state: the metrics of %s are malformed", s->conf->name);
	}
	long long cur;
	if (get_int(r, o, "cur", 0, 1, &cur) < 0)
		return -1;
	s->cur = &s->slot[cur];
	s->spare = &s->slot[!cur];
	json_t *slots = json_object_get(o, "slots");
	if (json_array_size(slots) != 2 ||
	    instance_load(r, s, &s->slot[0], json_array_get(slots, 0)) < 0 ||
	    instance_load(r, s, &s->slot[1], json_array_get(slots, 1)) < 0)
		return r->err[0] ? -1 : bad(r, "state: the processes of %s are malformed", s->conf->name);
	start_timer(d, &s->restart_timer, get_timer(o, "restart_timer"));
	start_timer(d, &s->spare_timer, get_timer(o, "spare_timer"));
	start_timer(d, &s->retry_timer, get_timer(o, "retry_timer"));
	return 0;
}

static int calls_load(struct rd *r, json_t *o)
{
	struct antd *d = r->d;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(o, "list"), i, x) {
		long long index, gen;
		if (get_int(r, x, "index", 0, 1 << 24, &index) < 0 ||
		    get_int(r, x, "gen", 1, UINT32_MAX, &gen) < 0)
			return -1;
		struct call *c = calls_adopt(d, (uint32_t)index, (uint32_t)gen);
		if (!c)
			return bad(r, "state: call slot %s taken twice", "(or out of memory)");
		GET(x, "state", CALL_QUEUED, CALL_RESULTQ, c->state);
		GET(x, "at", 0, d->stack->nservers, c->at);
		GET(x, "held_as", 0, 65535, c->held_as);
		GET(x, "kills", 0, UINT32_MAX, c->kills);
		c->cancelled = json_is_true(json_object_get(x, "cancelled"));
		GETU64(x, "origin", c->origin);
		GET(x, "origin_server", 0, d->stack->nservers, c->origin_server);
		GET(x, "origin_gen", 0, UINT32_MAX, c->origin_gen);
		GETU64(x, "held_ns", c->held_ns);
		json_int_t di, dg, ds;
		if (json_unpack(json_object_get(x, "data"), "[I, I, I]", &di, &dg, &ds) < 0)
			return bad(r, "state: the data ICA of a call is %s", "malformed");
		c->data.index = (uint32_t)di;
		c->data.gen = (uint32_t)dg;
		c->data.size = (uint64_t)ds;
		size_t len;
		const unsigned char *page = get_blob(r, json_object_get(x, "page"), &len);
		if (!page || len > ANT_CICA_SIZE || len < sizeof(struct ant_cica_hdr))
			return bad(r, "state: the page of a call is %s", "malformed");
		memcpy(c->page, page, len);
		memset(c->page + len, 0, ANT_CICA_SIZE - len);
		c->len = len;
		double left = get_timer(x, "deadline");
		if (left >= 0)
			calls_adopt_deadline(d, c, left);
	}
	long long next_gen;
	if (get_int(r, o, "next_gen", 0, UINT32_MAX, &next_gen) < 0)
		return -1;
	calls_adopt_done(d, (uint32_t)next_gen);
	return 0;
}

int reexec_state_load(struct antd *d, json_t *root, const unsigned char *blob, size_t n,
		      char *err, size_t errlen)
{
	struct rd rr = { d, blob, n, err, errlen }, *r = &rr;
	err[0] = '\0';
	json_t *counters = json_object_get(root, "counters");
	GETU64(counters, "calls_total", d->calls_total);
	GETU64(counters, "conns_refused", d->conns_refused);
	GETU64(counters, "events", d->events);
	d->ever_ready = json_is_true(json_object_get(counters, "ever_ready"));
	GET(root, "peer_gen", 0, UINT32_MAX, d->peer_gen);
	if (icas_load(r, json_object_get(root, "icas")) < 0 ||
	    peers_load(r, json_object_get(root, "peers")) < 0 ||
	    calls_load(r, json_object_get(root, "calls")) < 0)
		return -1;
	json_t *servers = json_object_get(root, "servers");
	if (json_array_size(servers) != d->stack->nservers)
		return bad(r, "state: %s", "the number of servers differs from the stack's");
	for (unsigned id = 1; id <= d->stack->nservers; id++) {
		struct server *s = &d->servers[id];
		json_t *o = json_array_get(servers, id - 1);
		if (server_load(r, s, o) < 0 ||
		    queue_load(r, s, json_object_get(o, "requests"), &s->requests) < 0 ||
		    queue_load(r, s, json_object_get(o, "results"), &s->results) < 0)
			return -1;
	}
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(root, "outputs"), i, x) {
		int fd;
		long long pid;
		char name[ANT_NAME_MAX];
		size_t len;
		if (get_fd(r, x, "fd", 0, &fd) < 0 || get_int(r, x, "pid", 0, INT32_MAX, &pid) < 0 ||
		    get_str(r, x, "name", name, sizeof(name)) < 0)
			return -1;
		const unsigned char *line = get_blob(r, json_object_get(x, "line"), &len);
		if (!line)
			return -1;
		output_adopt(d->loop, fd, name, (pid_t)pid, (const char *)line, len);
	}
	json_t *fk = json_object_get(root, "forker");
	if (fk) {
		int fd;
		long long pid;
		if (get_fd(r, fk, "pidfd", 0, &fd) < 0 || get_int(r, fk, "pid", 1, INT32_MAX, &pid) < 0)
			return -1;
		spawn_adopt_stray(d, (pid_t)pid, fd);
	}
	json_array_foreach(json_object_get(root, "followers"), i, x)
		follow_key(d, (uint64_t)json_integer_value(x));

	return 0;
}

int reexec_state_requeue(struct antd *d, json_t *root, const unsigned char *blob, size_t n)
{
	/* Sent only once the new antd has taken over for good: a fall-back
	 * would send them again. */
	char err[128];
	struct rd rr = { d, blob, n, err, sizeof(err) }, *r = &rr;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(root, "peers"), i, o) {
		struct peer *p = peer_by_key(d, ((uint64_t)json_integer_value(json_object_get(o, "idx"))
						 << 32) |
					     (uint32_t)json_integer_value(json_object_get(o, "gen")));
		size_t k;
		json_t *m;
		json_array_foreach(json_object_get(o, "out"), k, m) {
			long long type, flags;
			int fd;
			size_t len;
			if (get_int(r, m, "type", 0, 65535, &type) < 0 ||
			    get_int(r, m, "flags", 0, 65535, &flags) < 0 || get_fd(r, m, "fd", 1, &fd) < 0)
				return -1;
			const unsigned char *data = get_blob(r, json_object_get(m, "data"), &len);
			if (data && p)
				peer_send(p, (unsigned)type, (unsigned)flags, data, len, fd);
			if (fd >= 0)
				close(fd);
		}
	}
	return 0;
}
