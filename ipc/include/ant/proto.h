/* proto.h - every message of the wire protocol between antd and its peers. */
#ifndef ANT_PROTO_H
#define ANT_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ant/cica.h"

/*
 * Transport: one SOCK_SEQPACKET connection per peer (a server's socketpair,
 * or an application's connection to app.sock).  One packet = one message:
 * an ant_msg header followed by exactly the payload its type prescribes.
 * The receiver checks the exact length for fixed payloads and the bounds for
 * control pages before it looks at a field; a message that fails is a fault
 * of its sender (antd cuts the sender off; it never crashes antd).
 *
 * At most one fd travels with a message (SCM_RIGHTS), only on the types
 * marked "+fd", and only when hdr.flags has ANT_MF_FD; only LANE (antd to a
 * peer) and FORK (between antd and its own forker) carry more (up to
 * ANT_MSG_FDS_MAX).
 */

#define ANT_PROTO_VERSION 2u   /* 2: the fast path (ADOPT, BELL, LANE, LANE_DROP; WELCOME.lanes) */
#define ANT_NAME_MAX      32u   /* server name, NUL included */

enum ant_msg_type {
	/* peer -> antd */
	ANT_M_CALL = 1,   /* page: a new call (frame 0 filled by the caller) */
	ANT_M_FORWARD,    /* page: the held call with a new frame pushed (servers) */
	ANT_M_REPLY,      /* page: the held call with a result (servers) */
	ANT_M_NEXT,       /* ant_m_next: ready for that many more items (servers) */
	ANT_M_ALLOC,      /* ant_m_alloc: a new data ICA please */
	ANT_M_RELEASE,    /* ant_m_release: drop my hold on a data ICA */
	ANT_M_CANCEL,     /* ant_m_cancel: I gave up on that call (applications) */
	ANT_M_FIRED,      /* ant_m_fired: a fault antd armed in me fires now (servers) */
	ANT_M_STATE,      /* ant_m_state: (part of) my exported state (servers) */
	ANT_M_IMPORTED,   /* ant_m_imported: I took the state, or why not (servers) */
	ANT_M_VERSION,    /* ant_m_version: the version of my program (servers) */
	ANT_M_ADOPT,      /* page: the request I took from a lane (id_index: the lane,
			     id_gen: its slot); my FORWARD or REPLY of it follows,
			     and antd carries the call on (servers; docs/fastpath.md) */
	ANT_M_CHECK,      /* ant_m_cancel: my call of that ticket was marked done in its
			     lane with no answer there: answer it if you do not hold it
			     (applications; docs/fastpath.md) */
	/* antd -> peer */
	ANT_M_WELCOME = 32, /* ant_m_welcome: protocol version, your id, the servers */
	ANT_M_REQUEST,    /* page (+fd): a call for you to serve */
	ANT_M_RESULT,     /* page (+fd): the result of a call you made or forwarded */
	ANT_M_ALLOC_OK,   /* ant_m_alloc_ok +fd: the data ICA you asked for */
	ANT_M_ERROR,      /* ant_m_error: your last ALLOC failed, or why you are cut off */
	ANT_M_FAULT,      /* ant_m_fault: a fault to inject into yourself (servers) */
	ANT_M_FAULT_CLEAR,/* ant_m_fault_clear: disarm one, or all */
	ANT_M_EXPORT,     /* ant_m_export: write your state out (live upgrade) */
	ANT_M_IMPORT_ICA, /* ant_m_import_ica +fd: one area of the state you will import */
	ANT_M_IMPORT,     /* ant_m_import: take this state (after its areas) */
	ANT_M_BELL,       /* +fd: your bell (an eventfd): lanes ring it (docs/fastpath.md) */
	ANT_M_LANE,       /* ant_m_lane +fds: a lane to send or receive in */
	ANT_M_LANE_DROP,  /* ant_m_lane_drop: forget that lane (its other peer is gone) */
	/* a child between fork and exec -> antd, on its spawn channel (never on
	 * the server socket): a close-on-exec SOCK_SEQPACKET socketpair whose
	 * end of file says "exec happened" */
	ANT_M_SPAWN_NOTIFY = 64, /* no payload, +fd: its seccomp user-notification fd */
	ANT_M_SPAWN_ERROR,       /* ant_m_spawn_error: what failed before exec */
	/* antd <-> its forker, the one process that forks servers for it */
	ANT_M_FORK,              /* ant_m_fork +fds: the child's socket, spawn channel, output */
	ANT_M_FORKED,            /* ant_m_forked (+pidfd): the child, or why there is none */
	ANT_M_TYPE_MAX
};

#define ANT_MF_FD   0x0001u  /* an fd travels with this message */
#define ANT_MF_NEXT 0x0002u  /* (FORWARD/REPLY) and count one NEXT */
#define ANT_MF_ALL  0x0003u

struct ant_msg {
	uint16_t type;    /* enum ant_msg_type */
	uint16_t flags;   /* ANT_MF_* */
	uint32_t len;     /* whole message, header included */
};

/*
 * A lane (docs/fastpath.md, ant/lane.h) between this peer and `peer`: fds
 * are its post area, its ack area and, for the sender, the receiver's bell.
 * The sender's post area and the receiver's ack area come read-write, the
 * other two read-only (reopened: they cannot be mapped writable).
 */
enum { ANT_LANE_ROLE_SENDER = 1, ANT_LANE_ROLE_RECEIVER = 2 };
/* Or'ed into role: the lane carries results (its sender answers calls its
 * receiver made); without it, requests. */
#define ANT_LANE_ROLE_RESULTS 0x100u
struct ant_m_lane {
	uint32_t id;      /* antd's id of the lane (1..) */
	uint16_t role;    /* ANT_LANE_ROLE_* */
	uint16_t peer;    /* the other end: server id, or 0 (the application) */
	uint32_t spin_us; /* the stack's lane_spin_us: look at the lanes this long
			     before sleeping (at most 1000) */
};

struct ant_m_lane_drop {
	uint32_t id;
	uint32_t pad;
};

struct ant_m_next {
	uint32_t count;   /* 1..ANT_NEXT_COUNT_MAX */
	uint32_t pad;
};

/* A NEXT asks for at most this many items, and a server's credit (items
 * asked for and not yet given) never exceeds ANT_NEXT_CREDIT_MAX: more is a
 * protocol fault. */
#define ANT_NEXT_COUNT_MAX  1024u
#define ANT_NEXT_CREDIT_MAX 4096u

struct ant_m_alloc {
	uint64_t size;    /* bytes; rounded up to whole pages */
};

struct ant_m_alloc_ok {
	struct ant_ica_ref ref;
};

struct ant_m_release {
	struct ant_ica_ref ref;
};

/* An application gives up on its call of that ticket.  antd answers it at
 * once with ANT_E_CANCELLED unless its result is already on the way; either
 * way exactly one RESULT for the ticket follows.  A call no server holds is
 * dropped; one a server holds runs on, but its result is dropped and it is
 * not replayed if its server dies. */
struct ant_m_cancel {
	uint64_t ticket;
};

/*
 * Fault injection by failpoint (ant/fault.h).  antd decides which request a
 * fault hits (its triggers: Nth request, probability, op...) and sends the
 * FAULT just before that REQUEST, naming its call; or arms a named failpoint
 * of the server's code with a trigger the server counts itself; or asks for
 * it at once.  Before it acts, the server sends FIRED, so antd can log the
 * injection even when the fault kills the process.
 */
#define ANT_FAULT_POINT_MAX 32u
#define ANT_FAULTS_ARMED_MAX 16u   /* faults a server keeps armed at once */
struct ant_m_fault {
	uint32_t id;         /* antd's id of the armed fault (1..) */
	uint16_t kind;       /* enum ant_fault (not ANT_FAULT_ERRNO) */
	uint16_t pad;
	int32_t arg;         /* exit code, ms, MiB */
	uint32_t count;      /* named point: fire this many times (0: until cleared) */
	uint64_t call_id;    /* the call it hits when handed over (ant_item.call_id), or 0 */
	uint64_t nth;        /* named point: fire on its Nth hit from now (0: see prob) */
	uint32_t prob_ppm;   /* named point: or with this probability per hit (1..1000000) */
	uint32_t pad2;
	uint64_t seed;       /* named point: the probability's seed */
	char point[ANT_FAULT_POINT_MAX]; /* "": the call, when handed over; "now"; or a
					    named failpoint; NUL-terminated */
};

struct ant_m_fault_clear {
	uint32_t id;         /* 0: every fault */
	uint32_t pad;
};

struct ant_m_fired {
	uint32_t id;
	uint16_t kind;
	uint16_t pad;
	int32_t arg;
	uint32_t pad2;
	uint64_t call_id;    /* the call it hit, or 0 */
	char point[ANT_FAULT_POINT_MAX];
};

/*
 * Live upgrade (docs/upgrade.md).  antd asks the old process for its state
 * (EXPORT); it answers with one or more STATE messages naming a format, a
 * version and the data ICAs that hold the state (it keeps its holds; antd
 * keeps the areas alive), the last one flagged.  antd hands each area to the
 * new process (IMPORT_ICA, with its fd), then IMPORT; the new one answers
 * IMPORTED: 0, or a refusal with why (a format it does not know).
 */
#define ANT_STATE_FORMAT_MAX 32u
#define ANT_STATE_REFS_MAX 128u     /* areas per STATE message */
#define ANT_STATE_AREAS_MAX 8192u   /* areas in one state */
struct ant_m_export {
	uint32_t seq;
	uint32_t pad;
};

struct ant_m_state {
	uint32_t seq;        /* the EXPORT's */
	uint32_t version;    /* the format's version */
	uint16_t nrefs;      /* areas in this message */
	uint16_t last;       /* 1: the last message of this state */
	uint32_t pad;
	char format[ANT_STATE_FORMAT_MAX]; /* "" : no state; NUL-terminated */
	struct ant_ica_ref refs[ANT_STATE_REFS_MAX];
};

struct ant_m_import_ica {
	struct ant_ica_ref ref;
};

struct ant_m_import {
	uint32_t seq;
	uint32_t version;
	uint32_t nareas;     /* IMPORT_ICA messages before this one */
	uint32_t pad;
	char format[ANT_STATE_FORMAT_MAX];
};

struct ant_m_imported {
	uint32_t seq;
	int32_t result;      /* 0, or < 0: refused (ANT_E_* or -errno) */
	char text[120];      /* why, NUL-terminated */
};

struct ant_m_version {
	char version[32];    /* NUL-terminated */
};

struct ant_m_error {
	int32_t code;     /* ANT_E_* or -errno */
	char text[124];   /* NUL-terminated */
};

struct ant_m_spawn_error {
	int32_t err;      /* errno */
	char stage[28];   /* what failed: "files", "seccomp", "exec"..., NUL-terminated */
};

/* Fds of a FORK, in this order: the server's end of its socket (its fd 3),
 * the child's end of its spawn channel, and (optional) the write end of its
 * output pipe (its stdout and stderr). */
#define ANT_MSG_FDS_MAX 3u

#define ANT_FORK_EXEC_MAX 2048u
struct ant_m_fork {
	uint32_t server_id;  /* 1..nservers */
	uint32_t gen;        /* $ANT_INSTANCE: the how-many-th process of that server */
	char exec[ANT_FORK_EXEC_MAX]; /* what it runs: the program's path, then its
					 arguments, each NUL-terminated, then an empty
					 string (a version after an upgrade may differ
					 from the stack file's) */
};

struct ant_m_forked {
	uint32_t server_id;
	uint32_t gen;
	int32_t pid;         /* > 0: forked, its pidfd comes with it; else -errno */
	uint32_t pad;
	char why[96];        /* pid <= 0: what failed before the fork, NUL-terminated */
};

struct ant_m_welcome {
	uint32_t version;    /* ANT_PROTO_VERSION */
	uint16_t self_id;    /* your peer id: server id, or 0 for applications */
	uint16_t nservers;
	uint32_t max_inflight;/* servers: how many requests you may hold */
	uint32_t lanes;      /* applications: LANE messages that follow at once (after
				a BELL), the fast path's (docs/fastpath.md) */
	char names[ANT_SERVERS_MAX][ANT_NAME_MAX]; /* names[i] is server id i+1 */
};

/* Largest message: header + one control page. */
#define ANT_MSG_MAX (sizeof(struct ant_msg) + ANT_CICA_SIZE)

/* Payload bytes a type must carry exactly, -1 for page types (1..4096),
 * -2 for an unknown type. */
int ant_msg_payload_size(unsigned type);
/* May this type carry an fd? */
int ant_msg_may_carry_fd(unsigned type);

/* Name of a message type for logs ("CALL"), "?" if unknown. */
const char *ant_msg_name(unsigned type);

/*
 * Receive one message into buf (ANT_MSG_MAX bytes) on a SEQPACKET socket.
 * *fd_out gets the fd that came with it or -1 (the caller owns it).  Checks
 * the header: known type, len equal to what arrived, payload size for the
 * type, ANT_MF_FD iff an fd arrived and the type may carry one; every fd is
 * closed on a rejected message.  Returns the message length, 0 on EOF,
 * -EAGAIN, -errno, or -EPROTO for a malformed message.
 */
ssize_t ant_msg_recv(int sock, void *buf, int *fd_out);
/* Same, but blocks until a message arrives (-EINTR if a signal comes first). */
ssize_t ant_msg_recv_wait(int sock, void *buf, int *fd_out);

/* Send type+payload (and fd >= 0, not consumed).  Returns 0 or -errno
 * (-EAGAIN on a full non-blocking socket: nothing was sent). */
int ant_msg_send(int sock, unsigned type, unsigned flags,
		 const void *payload, size_t n, int fd);
/* The same with nfds (0..ANT_MSG_FDS_MAX) fds, none consumed. */
int ant_msg_send_fds(int sock, unsigned type, unsigned flags, const void *payload, size_t n,
		     const int *fds, unsigned nfds);
/* ant_msg_recv for the types that carry several fds: fds[0..*nfds) are the
 * caller's (in the order sent). */
ssize_t ant_msg_recv_fds(int sock, void *buf, int fds[ANT_MSG_FDS_MAX], unsigned *nfds);
/* The same, blocking until a message arrives. */
ssize_t ant_msg_recv_fds_wait(int sock, void *buf, int fds[ANT_MSG_FDS_MAX], unsigned *nfds);

#endif
