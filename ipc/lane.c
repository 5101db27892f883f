/* lane.c - a lane's slots in shared memory: create, map, post, take, done; the bell (eventfd). */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ant/ica_area.h"
#include "ant/lane.h"

_Static_assert(sizeof(struct ant_lane_hdr) == 64, "lane header is 64 bytes");
_Static_assert(sizeof(struct ant_lane_slot) == 64 + ANT_CICA_SIZE, "slot header is 64 bytes");
_Static_assert(sizeof(struct ant_lane_ack_hdr) == 64, "ack header is 64 bytes");
_Static_assert(sizeof(struct ant_lane_who) == 20, "who is 20 bytes");

#define LOAD_ACQ(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RLX(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_REL(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define FENCE()          __atomic_thread_fence(__ATOMIC_SEQ_CST)

size_t ant_lane_post_size(unsigned nslots)
{
	return ant_area_round(sizeof(struct ant_lane_hdr) +
			      (size_t)nslots * sizeof(struct ant_lane_slot));
}

size_t ant_lane_ack_size(unsigned nslots)
{
	return ant_area_round(sizeof(struct ant_lane_ack_hdr) +
			      (size_t)nslots * sizeof(struct ant_lane_ack));
}

int ant_lane_create(unsigned nslots, unsigned from, unsigned to, int *post_fd, int *ack_fd)
{
	if (nslots < 1 || nslots > ANT_LANE_SLOTS_MAX || from > UINT16_MAX || to > UINT16_MAX)
		return -EINVAL;
	size_t ps = ant_lane_post_size(nslots);
	int pf = ant_area_create_named(ps, "ant-lane"), af = -1, r;
	if (pf < 0)
		return pf;
	af = ant_area_create_named(ant_lane_ack_size(nslots), "ant-lane");
	if (af < 0) {
		close(pf);
		return af;
	}
	/* A new memfd reads back as zeros: every slot is free (seq 0 == done 0).
	 * Only the header needs writing. */
	struct ant_lane_hdr h = { .magic = ANT_LANE_MAGIC, .version = ANT_LANE_VERSION,
				  .nslots = (uint16_t)nslots, .from = (uint16_t)from,
				  .to = (uint16_t)to };
	if (pwrite(pf, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		r = errno ? -errno : -EIO;
		close(pf);
		close(af);
		return r;
	}
	*post_fd = pf;
	*ack_fd = af;
	return 0;
}

static int map_area(int fd, size_t size, int writable, void **out)
{
	void *p = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

static int area_size(int fd, size_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (size_t)st.st_size;
	return 0;
}

int ant_lane_map(struct ant_lane *l, int post_fd, int ack_fd, enum ant_lane_role role)
{
	memset(l, 0, sizeof(*l));
	l->bell = -1;
	size_t psz = 0, asz = 0;
	int r = area_size(post_fd, &psz);
	if (r < 0 || (r = area_size(ack_fd, &asz)) < 0)
		return r;
	if (psz < sizeof(struct ant_lane_hdr) || asz < sizeof(struct ant_lane_ack_hdr))
		return -EPROTO;
	void *post = NULL, *ack = NULL;
	if ((r = map_area(post_fd, psz, role != ANT_LANE_RECEIVER, &post)) < 0)
		return r;
	if ((r = map_area(ack_fd, asz, role != ANT_LANE_SENDER, &ack)) < 0) {
		munmap(post, psz);
		return r;
	}
	l->hdr = post;
	l->post_size = psz;
	l->ack_size = asz;
	l->ack_hdr = ack;
	/* The header is antd's and never changes: read it once. */
	struct ant_lane_hdr h;
	memcpy(&h, post, sizeof(h));
	if (h.magic != ANT_LANE_MAGIC || h.version != ANT_LANE_VERSION || h.nslots < 1 ||
	    h.nslots > ANT_LANE_SLOTS_MAX || ant_lane_post_size(h.nslots) != psz ||
	    ant_lane_ack_size(h.nslots) != asz) {
		ant_lane_unmap(l);
		return -EPROTO;
	}
	l->nslots = h.nslots;
	l->slot = (struct ant_lane_slot *)((char *)post + sizeof(struct ant_lane_hdr));
	l->ack = (struct ant_lane_ack *)((char *)ack + sizeof(struct ant_lane_ack_hdr));
	/* A sender that takes a lane over (a restarted process) counts on from
	 * the highest post in it. */
	for (unsigned i = 0; i < l->nslots; i++)
		if (l->slot[i].order > l->posted)
			l->posted = l->slot[i].order;
	return 0;
}

void ant_lane_unmap(struct ant_lane *l)
{
	if (l->hdr)
		munmap(l->hdr, l->post_size);
	if (l->ack_hdr)
		munmap(l->ack_hdr, l->ack_size);
	l->hdr = NULL;
	l->ack_hdr = NULL;
	l->slot = NULL;
	l->ack = NULL;
}

int ant_lane_post(struct ant_lane *l, const struct ant_lane_slot *head, const void *page,
		  size_t len)
{
	if (len < 1 || len > ANT_CICA_SIZE)
		return -EINVAL;
	if (LOAD_ACQ(&l->ack_hdr->closed))
		return -EPIPE;
	/* Round robin from the last one used: the receiver looks in the same
	 * order, so calls are taken about in the order they were posted. */
	for (unsigned k = 0; k < l->nslots; k++) {
		unsigned i = (l->next + k) % l->nslots;
		struct ant_lane_slot *s = &l->slot[i];
		uint64_t seq = LOAD_RLX(&s->seq);
		if (LOAD_ACQ(&l->ack[i].done) != seq)
			continue;           /* posted, or taken and not done */
		s->kind = head->kind;
		s->len = (uint32_t)len;
		s->ticket = head->ticket;
		s->token = head->token;
		s->about = head->about;
		s->maker_gen = head->maker_gen;
		s->flags = head->flags;
		s->svc_us = head->svc_us;
		s->order = ++l->posted;
		memcpy(s->page, page, len);
		STORE_REL(&s->seq, seq + 1);
		l->next = (i + 1) % l->nslots;
		FENCE();            /* publish before we look at sleeping */
		if (LOAD_RLX(&l->ack_hdr->sleeping) && l->bell >= 0)
			ant_bell_ring(l->bell);
		return (int)i;
	}
	return -EAGAIN;
}

int ant_lane_take(struct ant_lane *l, struct ant_lane_slot *out, unsigned *bad_slot)
{
	/* The oldest posted slot: every slot is looked at (at most 64), so
	 * the order of posts holds whatever slots the sender had to use. */
	if (LOAD_ACQ(&l->ack_hdr->closed))
		return -EAGAIN;             /* antd takes what is left in it */
	unsigned best = l->nslots;
	uint64_t best_order = 0, best_seq = 0, best_taken = 0;
	/* A post published into a slot this scan has passed already can be
	 * older than one it finds later: when the one found is not the next
	 * after the last taken (orders are consecutive), look once more. */
	for (int pass = 0; pass < 2; pass++) {
	if (pass == 1 && (best == l->nslots || best_order == l->took + 1))
		break;
	for (unsigned i = 0; i < l->nslots; i++) {
		struct ant_lane_slot *s = &l->slot[i];
		uint64_t seq = LOAD_ACQ(&s->seq);
		uint64_t taken = l->ack[i].taken, done = l->ack[i].done;
		if (seq == taken)
			continue;           /* nothing new here */
		if (taken != done || seq != taken + 1) {
			/* The sender reused a slot we still work on, or skipped
			 * counts: either way not a post by the rules. */
			*bad_slot = i;
			return ANT_LANE_TORN;
		}
		uint64_t order = LOAD_RLX(&s->order);
		if (best == l->nslots || order < best_order) {
			best = i;
			best_order = order;
			best_seq = seq;
			best_taken = taken;
		}
	}
	}
	if (best == l->nslots)
		return -EAGAIN;
	struct ant_lane_slot *s = &l->slot[best];
	/* Copy the header first, then only the bytes in use. */
	memcpy(out, s, sizeof(*out) - ANT_CICA_SIZE);
	if (out->len < 1 || out->len > ANT_CICA_SIZE) {
		*bad_slot = best;
		return ANT_LANE_TORN;
	}
	memcpy(out->page, s->page, out->len);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (LOAD_RLX(&s->seq) != best_seq) {
		*bad_slot = best;   /* rewritten while we copied */
		return ANT_LANE_TORN;
	}
	out->seq = best_seq;
	/* antd may take a posted slot of a closed lane at the same time: the
	 * one whose exchange succeeds has it. */
	if (!__atomic_compare_exchange_n(&l->ack[best].taken, &best_taken, best_seq, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	l->took = best_order;
	return (int)best;
}

int ant_lane_claim(struct ant_lane *l, unsigned idx, uint64_t seq)
{
	uint64_t was = seq - 1;
	if (idx >= l->nslots || LOAD_ACQ(&l->ack[idx].done) != was)
		return -1;
	return __atomic_compare_exchange_n(&l->ack[idx].taken, &was, seq, 0, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE) ? 0 : -1;
}

void ant_lane_done(struct ant_lane *l, unsigned idx, uint64_t seq)
{
	if (idx < l->nslots)
		STORE_REL(&l->ack[idx].done, seq);
}

void ant_lane_sleeping(struct ant_lane *l, int sleeping)
{
	__atomic_store_n(&l->ack_hdr->sleeping, sleeping ? 1u : 0u, __ATOMIC_RELAXED);
	FENCE();                    /* say it before we look at the slots again */
}

unsigned ant_lane_posted(const struct ant_lane *l)
{
	unsigned n = 0;
	for (unsigned i = 0; i < l->nslots; i++)
		n += LOAD_ACQ(&l->slot[i].seq) != LOAD_ACQ(&l->ack[i].taken);
	return n;
}

unsigned ant_lane_taken(const struct ant_lane *l)
{
	unsigned n = 0;
	for (unsigned i = 0; i < l->nslots; i++)
		n += LOAD_ACQ(&l->ack[i].taken) != LOAD_ACQ(&l->ack[i].done);
	return n;
}

enum ant_cica_fault ant_lane_request_fix(void *page, size_t len, const struct ant_lane_who *lh,
					 unsigned nservers, uint64_t ticket)
{
	enum ant_cica_fault f = ant_cica_validate(page, len, nservers);
	if (f != ANT_CICA_OK)
		return f;
	struct ant_cica_hdr *h = page;
	struct ant_frame *fr = ant_cica_current(page);
	if (h->nframes != 1 || fr->callee != lh->to || h->data.gen ||
	    (h->flags & ~(ANT_CF_DIRECT_HINT | ANT_CF_TRACE_FULL | ANT_CF_REPLAY)))
		return ANT_CICA_FAULT_MAX;
	fr->caller = lh->from;
	h->id_index = h->id_gen = 0;
	h->call_id = ant_lane_call_id(lh->serial, ticket);
	h->ticket = ticket;
	h->caller_pid = lh->caller_pid;
	h->caller_uid = lh->caller_uid;
	h->caller_gid = lh->caller_gid;
	h->retval = 0;
	h->ret_off = h->ret_size = 0;
	h->data_flags = 0;
	h->flags &= ~(ANT_CF_TRACE_FULL | ANT_CF_REPLAY);
	h->trace_len = 0;
	memset(h->trace, 0, sizeof(h->trace));
	h->pad[0] = h->pad[1] = 0;
	h->reserved = 0;
	ant_cica_trace(page, lh->from);
	ant_cica_trace(page, lh->to);
	return ANT_CICA_OK;
}

int ant_bell_create(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void ant_bell_ring(int bell)
{
	uint64_t one = 1;
	/* EAGAIN only if the counter is near 2^64: the bell is rung anyway. */
	ssize_t n = write(bell, &one, sizeof(one));
	(void)n;
}

int ant_bell_wait(int bell)
{
	uint64_t v;
	if (read(bell, &v, sizeof(v)) < 0)
		return -errno;
	return 0;
}
