/* conn.h - libant's private view of a connection: its queues, its state, and the failpoints' hooks. */
#ifndef ANT_CONN_H
#define ANT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "ant/ant.h"
#include "ant/fault.h"
#include "ant/lane.h"
#include "ant/proto.h"

/* The faults antd armed in this server (failpoint.c). */
struct fp_state {
	struct ant_m_fault armed[ANT_FAULTS_ARMED_MAX]; /* id 0: a free slot */
	uint64_t hits[ANT_FAULTS_ARMED_MAX];   /* a named point's hits since armed */
	uint32_t fired[ANT_FAULTS_ARMED_MAX];
	unsigned narmed;
	struct ant_ica *leaked;                /* exhaust: the areas it took (held) */
};

/* A message received but not yet handed to the user. */
struct qmsg {
	TAILQ_ENTRY(qmsg) link;
	uint32_t lane_id, lane_slot;  /* a request taken from a lane (id 0: not) ... */
	uint64_t lane_seq, lane_token;
	uint64_t lane_taken_us;   /* when it was taken (or came back from a forward) */
	int fd;                 /* data ICA fd that came with it, or -1 */
	size_t len;             /* page bytes */
	unsigned type;
	unsigned char page[] __attribute__((aligned(8)));
};

/* Received messages in arrival order; a TAILQ because ant_wait takes its
 * result out of the middle. */
TAILQ_HEAD(queue, qmsg);

/* A lane this peer sends or receives in (lanes.c; docs/fastpath.md). */
struct conn_lane {
	uint32_t id;
	int role;                    /* ANT_LANE_ROLE_SENDER or _RECEIVER */
	int results;                 /* it carries results (else requests) */
	unsigned peer;               /* the other end */
	struct ant_lane l;
	struct ant_lane_who who;     /* receiver: from the ack area, when mapped */
	int post_fd, ack_fd;
};

/* A call of this peer (an application's, or a server's own) in a lane,
 * not answered yet. */
struct lane_out {
	uint64_t ticket, token;
	uint64_t seq;                /* the slot's seq once posted */
	uint32_t lane, slot;         /* the request lane (id) and slot it went in */
	int checked;                 /* done with no answer seen: antd was asked (CHECK) */
	int antd;                    /* antd took it over: its answer comes on the socket */
	struct ant_item *fwd;        /* a server's forward (sequential return) of the
					call it holds from a lane: that call, to be
					handed back as a RETURN with the answer; else NULL */
};

struct ant_conn {
	int sock;
	int is_server;
	unsigned self_id;
	unsigned nservers;
	unsigned max_inflight;
	char names[ANT_SERVERS_MAX][ANT_NAME_MAX];
	uint64_t last_ticket;
	unsigned credit;             /* NEXTs antd has not answered yet */
	struct queue results;        /* RESULT messages (RETURN or own results) */
	struct queue requests;       /* REQUEST messages */
	int lazy_map;                /* received ICAs are mapped on demand (ant_ica_map) */
	int alloc_state;             /* 0 idle, 1 waiting, 2 got ok, 3 got error */
	int alloc_fd;
	struct ant_m_alloc_ok alloc_ok;
	int alloc_err;
	struct ant_ica *icas;        /* data ICAs this process holds */
	int dead;                    /* antd closed the connection or broke protocol */
	struct fp_state fp;          /* failpoint.c: the faults antd armed in this server */
	/* state.c: live upgrade */
	ant_export_fn *export_fn;
	ant_import_fn *import_fn;
	void *state_arg;
	struct ant_ica **importing;  /* areas handed over for the next IMPORT */
	unsigned nimporting, capimporting;
	/* lanes.c: the fast path */
	int bell;                    /* my bell, -1: no lanes */
	struct conn_lane *lanes;
	unsigned nlanes, caplanes;
	struct lane_out *outs;       /* calls in lanes, unanswered */
	unsigned nouts, capouts;
	unsigned lane_held;          /* server: requests taken from lanes, unanswered */
	unsigned awaiting;           /* server: its calls and forwards whose results are
					due on the socket (taken before lane requests) */
	uint64_t received;           /* messages received on the socket */
	uint32_t sock_out[ANT_SERVERS_MAX + 1]; /* own calls to each server through antd,
					not answered yet: while any is out, calls to that
					server do not take its lane (they would overtake it) */
	uint64_t lane_calls;         /* calls made (app) or answered (server) in lanes */
	unsigned spin_us;            /* look at the lanes this long before sleeping */
	uint64_t lane_dropped;       /* slots taken and dropped: not a call or answer of ours */
	uint64_t rng;                /* tokens */
};

/* lanes.c, called by client.c. */
/* BELL, LANE, LANE_DROP from antd (fds consumed).  0 or ANT_E_PROTOCOL. */
int conn_lanes_on_msg(struct ant_conn *c, unsigned type, const void *payload, int *fds,
		      unsigned nfds);
/* Application: post a new call (page of len bytes, no data ICA) in the
 * lane to callee.  0, or < 0: take the slow path. */
int conn_lanes_call(struct ant_conn *c, unsigned callee, const void *page, size_t len,
		    uint64_t ticket);
/* Move what waits in the lanes into c's queues (results; requests while
 * under max_inflight).  Returns how many. */
unsigned conn_lanes_poll(struct ant_conn *c);
/* Wait for a lane, the socket (received into the queues) or timeout_ms
 * (-1: forever).  0, -ETIMEDOUT or an error of the connection. */
int conn_lanes_wait(struct ant_conn *c, int timeout_ms);
/* A RESULT that came on the socket, answering a call of this peer's own
 * (client.c tells those from a server's returns): 1 to keep it, 0 if it answers a lane
 * call already answered (dropped), or one taken here (the answer of a
 * forward, handed on as a RETURN: *fd taken too). */
int conn_lanes_claim(struct ant_conn *c, const void *page, size_t len, int *fd);
/* Server: forward the call it holds from a lane (it) to callee in its own
 * lane, as a call of its own with op and params; the answer comes back as
 * a RETURN of it.  0 (it is no longer held), or < 0: take the slow path. */
int conn_lanes_forward(struct ant_conn *c, struct ant_item *it, unsigned callee, const char *op,
		       const void *params, size_t nparams, unsigned frame_flags);
/* Server: answer a lane request with it->page (its result set) in the
 * lane back to the app; 0, or < 0: hand the call to antd instead. */
int conn_lanes_reply(struct ant_conn *c, struct ant_item *it);
/* Server: hand a lane request to antd (ADOPT with the page as taken: its
 * frame, no result, no data ICA); the item is then an ordinary held call.
 * 0 or -errno. */
int conn_lanes_adopt(struct ant_conn *c, struct ant_item *it);
void conn_lanes_fini(struct ant_conn *c);

/* Are faults armed in this server?  Compiled out with -Dfailpoints=false. */
#ifdef ANT_NO_FAILPOINTS
#define FP_ARMED(c) 0
#else
#define FP_ARMED(c) ((c)->fp.narmed)
#endif

/* Hold an ICA fd (consumes fd), mapped if map; and find one held. */
int conn_ica_adopt(struct ant_conn *c, const struct ant_ica_ref *ref, int fd, int writable,
		   int map, struct ant_ica **out);
struct ant_ica *conn_ica_find(struct ant_conn *c, const struct ant_ica_ref *ref);

/* state.c, called by client.c: antd asks for the state (EXPORT), hands an
 * area of the state to import (consumes fd), then IMPORT. */
void state_on_export(struct ant_conn *c, uint32_t seq);
int state_on_area(struct ant_conn *c, const struct ant_ica_ref *ref, int fd);
void state_on_import(struct ant_conn *c, const struct ant_m_import *m);
void state_fini(struct ant_conn *c);

/* Receive and sort one message if one waits (never blocks).  0 or an error. */
int conn_pump_now(struct ant_conn *c);

/* Send, waiting for room if the socket is full.  0 or -errno. */
int conn_send(struct ant_conn *c, unsigned type, unsigned flags, const void *p, size_t n, int fd);

/* failpoint.c, called by client.c: a FAULT or FAULT_CLEAR from antd; an
 * item about to be handed to the server's code (returns 1 if the item is
 * dropped: the server never sees it); a held page about to go back as a
 * REPLY or FORWARD with the data ICA data (a corrupt fault damages one). */
void fp_on_fault(struct ant_conn *c, const struct ant_m_fault *f);
void fp_on_clear(struct ant_conn *c, uint32_t id);
int fp_on_take(struct ant_conn *c, struct ant_item *it);
void fp_on_send(struct ant_conn *c, struct ant_item *it, struct ant_ica *data);
/* Free what the failpoints hold (at ant_close). */
void fp_fini(struct ant_conn *c);

#endif
