/* lane.h - a lane: the slots of one sender to one receiver in shared memory, and its bell (docs/fastpath.md). */
#ifndef ANT_LANE_H
#define ANT_LANE_H

#include <stddef.h>
#include <stdint.h>

#include "ant/cica.h"

/*
 * A lane carries control pages from one peer (the sender) to another (the
 * receiver) without antd.  It is two memfd areas that antd creates:
 *
 *   post area (the sender writes; receiver and antd read)
 *     | ant_lane_hdr (64 B) | slot 0 | slot 1 | ... | slot n-1 |
 *       each slot: ant_lane_slot (64 B) + one control page (4096 B)
 *   ack area (the receiver writes; sender and antd read), one page
 *     | ant_lane_ack_hdr (64 B) | ant_lane_ack[n] |
 *
 * A slot's life, by sequence numbers (each only grows):
 *   free      slot.seq == ack.done         the sender may write it
 *   posted    slot.seq != ack.taken        published by the sender
 *   taken     ack.taken == slot.seq != ack.done   the receiver works on it
 *   done      ack.done == slot.seq         the receiver published what came of it
 * The sender writes the page, then stores slot.seq + 1 (release): the slot
 * is published.  Each post also carries the lane's count of posts (order),
 * and the receiver takes the posted slot with the lowest: a lane is FIFO
 * even when the sender had to skip a slot its receiver still held.  The receiver copies the slot out (it never works on memory
 * the sender can still write), checks that seq did not move during the copy,
 * and stores ack.taken; later ack.done.  A sender that moves the seq of a
 * slot that is taken, or rewrites it during the copy, is at fault: the
 * receiver says so (ANT_LANE_TORN) and antd judges.
 *
 * The bell is an eventfd of the receiver.  The receiver sets ack.sleeping
 * in each of its inbound lanes, looks at them once more, and blocks reading
 * its bell; a sender that published rings the bell only if the receiver
 * says it sleeps (both sides put a full fence between their store and
 * their load), so a busy receiver costs no system call per call.
 */

#define ANT_LANE_MAGIC     0x454e414cu   /* "LANE" little-endian */
#define ANT_LANE_VERSION   1u
#define ANT_LANE_SLOTS_MAX 64u

struct ant_lane_hdr {            /* antd writes it; both peers read */
	uint32_t magic;
	uint16_t version;
	uint16_t nslots;
	uint16_t from, to;           /* peer ids: server id, or ANT_PEER_APP */
	uint32_t reserved;           /* 0 */
	uint32_t from_gen, to_gen;   /* the instances the lane was made for */
	uint64_t failed;             /* a result lane: answers its sender posted with
					retval < 0 (the sender counts them: for status) */
	uint8_t  pad[32];
};

/* Who sends in a lane, as antd saw it (in the ack area: its sender cannot
 * write it; the receiver keeps a copy from when it mapped the lane). */
struct ant_lane_who {
	uint16_t from, to;           /* peer ids */
	uint32_t serial;             /* an app's lanes: its connection's serial (call ids) */
	uint32_t caller_pid;         /* ... and its credentials */
	uint32_t caller_uid, caller_gid;
};

struct ant_lane_slot {           /* the sender writes it */
	uint64_t seq;                /* publication: the slot's count of posts */
	uint32_t kind;               /* ANT_LANE_REQUEST or ANT_LANE_RESULT */
	uint32_t len;                /* bytes of page in use (1..4096) */
	uint64_t ticket;             /* the call: the app's ticket ... */
	uint64_t token;              /* ... and its random token */
	uint64_t about;              /* a result: the request slot it answers (lane-local);
					a server's forward: the request it holds and forwards
					(ant_lane_link), 0 for a call of its own */
	uint32_t maker_gen;          /* the sender's instance */
	uint32_t flags;
	uint64_t order;              /* the lane's count of posts at this one: the
					receiver takes the lowest first (FIFO) */
	uint32_t svc_us;             /* a result: how long its sender worked on the
					request (for status; antd samples it) */
	uint32_t pad;
	unsigned char page[ANT_CICA_SIZE];
};

enum { ANT_LANE_REQUEST = 1, ANT_LANE_RESULT = 2 };

/* A request slot named across lanes: lane id, slot, the slot's seq. */
static inline uint64_t ant_lane_link(uint32_t lane, uint32_t slot, uint64_t seq)
{
	return (uint64_t)lane << 40 | (seq & 0xffffffffu) << 8 | (slot & 0xffu);
}
/* Slot flags.  ANT_LANE_F_ANTD: antd took the request over (ADOPT, a death,
 * a closed lane) before it marked the slot done; its answer comes on the
 * socket.  Written by antd into the sender's slot, which the sender does
 * not touch until the slot is done. */
#define ANT_LANE_F_ANTD 0x1u

struct ant_lane_ack {
	uint64_t taken, done;
};

struct ant_lane_ack_hdr {        /* the receiver writes it (and antd) */
	uint32_t sleeping;           /* 1: ring my bell after you publish */
	uint32_t gen;                /* the receiver's instance */
	uint32_t closed;             /* antd: 1: senders take the slow path, and the
					receiver takes nothing more (here, where no
					sender can write) */
	struct ant_lane_who who;     /* antd */
	uint8_t  pad[32];
};

/* Bytes of the two areas for n slots (whole pages). */
size_t ant_lane_post_size(unsigned nslots);
size_t ant_lane_ack_size(unsigned nslots);

/*
 * antd: make the two areas of a lane from -> to with nslots (1..
 * ANT_LANE_SLOTS_MAX) slots, headers written, every slot free.  *post_fd and
 * *ack_fd are antd's read-write fds (close-on-exec).  Returns 0 or -errno.
 */
int ant_lane_create(unsigned nslots, unsigned from, unsigned to, int *post_fd, int *ack_fd);

enum ant_lane_role { ANT_LANE_SENDER, ANT_LANE_RECEIVER, ANT_LANE_OWNER };

/* One mapped lane, as one of its two peers or antd sees it. */
struct ant_lane {
	struct ant_lane_hdr *hdr;    /* ro: in the post area */
	struct ant_lane_slot *slot;  /* ro: slot[0..nslots) */
	struct ant_lane_ack_hdr *ack_hdr;
	struct ant_lane_ack *ack;    /* ack[0..nslots) */
	unsigned nslots;             /* ro: from the header, checked */
	unsigned next;               /* private: the sender's next slot to try */
	uint64_t posted;             /* private: the sender's count of posts */
	uint64_t took;               /* private: the receiver's last order taken */
	size_t post_size, ack_size;  /* private */
	int bell;                    /* the receiver's bell (eventfd), -1: none; not owned */
};

/*
 * Map a lane's areas for role: the sender maps post read-write and ack
 * read-only, the receiver the other way round, antd both read-write.  The
 * header is checked (magic, version, slot count against the areas' sizes):
 * -EPROTO if it is wrong.  Consumes neither fd.  Returns 0 or -errno.
 */
int ant_lane_map(struct ant_lane *l, int post_fd, int ack_fd, enum ant_lane_role role);
void ant_lane_unmap(struct ant_lane *l);

/*
 * Sender: publish a slot: kind, ticket, token, about, maker_gen, and the
 * first len bytes of page (1..ANT_CICA_SIZE).  Rings the bell if the
 * receiver sleeps.  Returns the slot index (>= 0), -EAGAIN if every slot is
 * in use, -EPIPE if the lane is closed (ack_hdr->closed), -EINVAL for a bad len.
 */
int ant_lane_post(struct ant_lane *l, const struct ant_lane_slot *head,
		  const void *page, size_t len);

/*
 * Receiver: take the oldest posted slot (lowest order) into *out (a private copy, page
 * included) and mark it taken.  Returns its index (>= 0), -EAGAIN if none is
 * posted, or ANT_LANE_TORN (< 0) if the sender broke the rules (a seq moved
 * under a taken slot, or during the copy, or a len out of range); *bad_slot
 * names the slot.
 */
#define ANT_LANE_TORN (-1000)
int ant_lane_take(struct ant_lane *l, struct ant_lane_slot *out, unsigned *bad_slot);

/* antd: take slot idx, posted with seq, as the receiver would (a closed
 * lane's leftovers): 0 if it is antd's now, -1 if the receiver has it. */
int ant_lane_claim(struct ant_lane *l, unsigned idx, uint64_t seq);

/* Receiver: slot idx (taken with seq) is done: its sender may reuse it. */
void ant_lane_done(struct ant_lane *l, unsigned idx, uint64_t seq);

/* Receiver: say "I sleep" (1) or "I am awake" (0) in this lane's ack area,
 * with a full fence after the store. */
void ant_lane_sleeping(struct ant_lane *l, int sleeping);

/* Slots posted and not yet taken, and taken and not yet done (antd's view). */
unsigned ant_lane_posted(const struct ant_lane *l);
unsigned ant_lane_taken(const struct ant_lane *l);

/*
 * A request taken from a lane (from an application): check it as antd checks
 * a CALL (ant_cica_validate, one frame, callee the lane's receiver, no data
 * ICA, known flags) and write what antd would have written: the frame's
 * caller, the caller's credentials (who: what antd wrote in the ack area),
 * the ticket of the slot, the call's id (ant_lane_call_id), a trace of
 * [caller, receiver]; no result, no replay mark.  The receiver and antd (when
 * it adopts the call) both run it, so both hold the same page.  Returns
 * ANT_CICA_OK, or the fault (ANT_CICA_FAULT_MAX for a page that is valid but
 * not a call this lane may carry).
 */
enum ant_cica_fault ant_lane_request_fix(void *page, size_t len, const struct ant_lane_who *who,
					 unsigned nservers, uint64_t ticket);

/* The id of an application's call made in a lane: its connection's serial
 * and its ticket, with the top bit set (antd's own ids never have it). */
static inline uint64_t ant_lane_call_id(uint32_t serial, uint64_t ticket)
{
	return 1ull << 63 | (uint64_t)(serial & 0x7fffffu) << 40 | (ticket & 0xffffffffffull);
}

/* The bell: an eventfd (close-on-exec, blocking).  Returns the fd or -errno. */
int ant_bell_create(void);
/* Ring it (never blocks: the count saturates long before a real overflow). */
void ant_bell_ring(int bell);
/* Block until it was rung (-EINTR on a signal); returns 0 or -errno. */
int ant_bell_wait(int bell);

#endif
