/* conn.h - libant's private view of a connection: its queues, its state, and the failpoints' hooks. */
#ifndef ANT_CONN_H
#define ANT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "ant/ant.h"
#include "ant/fault.h"
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
	int fd;                 /* data ICA fd that came with it, or -1 */
	size_t len;             /* page bytes */
	unsigned type;
	unsigned char page[] __attribute__((aligned(8)));
};

/* Received messages in arrival order; a TAILQ because ant_wait takes its
 * result out of the middle. */
TAILQ_HEAD(queue, qmsg);

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
};

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
