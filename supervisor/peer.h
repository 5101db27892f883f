/* peer.h - antd's connections (transport): framed messages in, queued messages out, handlers per kind of peer. */
#ifndef ANTD_PEER_H
#define ANTD_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <ev.h>

struct antd;
struct instance;

enum peer_kind { PEER_SERVER = 1, PEER_APP, PEER_CONTROL, PEER_KINDS };

#define ADOPT_DROP 0xffffffffu

/* The default of the stack file's limits.calls_per_peer: calls one peer may
 * have in flight at once (each holds a 4 KiB page in antd); more are
 * refused with ANT_E_LIMIT. */
#define PEER_CALLS_MAX 1024u

struct outmsg {
	STAILQ_ENTRY(outmsg) link;
	int fds[3];                 /* dup'ed fds to send with it (ANT_MSG_FDS_MAX) */
	unsigned nfds;
	size_t len;
	unsigned char buf[];
};

struct peer {
	uint32_t idx, gen;          /* ro: key = peer_key() */
	enum peer_kind kind;        /* ro */
	unsigned server_id;         /* ro: 1..n for servers, 0 for apps */
	struct instance *inst;      /* ro: the server process at the other end (servers) */
	int fd;                     /* private */
	ev_io rio, wio;             /* private */
	STAILQ_HEAD(, outmsg) out;  /* private: what the socket would not take yet */
	unsigned nout;
	size_t out_bytes;
	unsigned calls_out;         /* rw (calls.c): calls it made that are still in flight */
	unsigned icas;              /* rw (calls.c): data ICAs it holds ... */
	size_t ica_bytes;           /* ... and their bytes */
	uint32_t adopt_index, adopt_gen; /* rw (calls.c): the call its last ADOPT made (its
					    FORWARD or REPLY follows); gen ADOPT_DROP: drop that */
	pid_t pid;                  /* SO_PEERCRED (apps) or the child (servers) */
	uid_t uid;
	gid_t gid;
	struct antd *d;             /* ro */
};

/*
 * What the layers above do with a kind of peer; antd.c fills one table per
 * kind at start-up (the transport never names them).  framed: messages are
 * ant_msg frames (servers, apps), checked by ant_msg_recv before on_message
 * sees them; else raw datagrams of at most 4095 bytes, NUL-terminated
 * (control).  fd is -1 or an fd that came with the message: on_message
 * owns it.  on_fault: the peer was cut off for breaking the protocol (before
 * its close).  on_close: the connection is gone, for whatever reason; the
 * peer is freed when it returns.
 */
struct peer_handlers {
	int framed;
	void (*on_message)(struct peer *p, unsigned char *msg, size_t len, int fd);
	void (*on_fault)(struct peer *p, const char *why);
	void (*on_close)(struct peer *p, const char *why);
};

static inline uint64_t peer_key(const struct peer *p)
{
	return ((uint64_t)p->idx << 32) | p->gen;
}

/* Install the handlers of kind (copied). */
void peer_set_handlers(struct antd *d, enum peer_kind kind, const struct peer_handlers *h);
/* Take over fd (consumes it, also on failure) as a new peer and start
 * reading it; apps and control peers get their credentials (SO_PEERCRED). */
struct peer *peer_new(struct antd *d, int fd, enum peer_kind kind, unsigned server_id);
/* A connection of the antd before a re-exec, in its old slot idx under
 * its old gen (so every key naming it still does): NULL if that slot is
 * taken or out of memory (fd is not consumed then). */
struct peer *peer_adopt(struct antd *d, int fd, enum peer_kind kind, unsigned server_id,
			uint32_t idx, uint32_t gen);
/* The live peer with this key, or NULL. */
struct peer *peer_by_key(struct antd *d, uint64_t key);
/* The lookup behind it, over any peer table (also the unit tests' fake). */
static inline struct peer *peer_lookup(struct peer *const *peers, uint32_t n, uint64_t key)
{
	uint32_t idx = (uint32_t)(key >> 32), gen = (uint32_t)key;
	return idx < n && peers[idx] && peers[idx]->gen == gen ? peers[idx] : NULL;
}
/* Queue or send one message (fd is not consumed).  On a dead or hopelessly
 * backed-up peer returns < 0 and schedules the peer's close. */
int peer_send(struct peer *p, unsigned type, unsigned flags, const void *payload,
	      size_t n, int fd);
/* The same with nfds (0..3) fds, none consumed (LANE). */
int peer_send_fds(struct peer *p, unsigned type, unsigned flags, const void *payload,
		  size_t n, const int *fds, unsigned nfds);
/* Send raw bytes now or never (control replies); returns 0 or -errno. */
int peer_send_raw(struct peer *p, const void *buf, size_t n);
/* One JSON object (stolen) as a raw datagram: a control reply (a lost one
 * is logged). */
#include <jansson.h>
void peer_send_json(struct peer *p, json_t *o);
/* Send WELCOME: protocol version, its id, the stack's server table. */
void peer_welcome(struct peer *p);
/* The same, saying that lanes LANE messages follow (after a BELL). */
void peer_welcome_lanes(struct peer *p, uint32_t lanes);
/* Take every message already waiting on p (a server that just died). */
void peer_drain(struct peer *p);
/* Cut off a peer that broke the protocol: an ERROR saying why, a log line,
 * its kind's on_fault, then its close. */
void peer_cut_off(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Close now: stop watchers, close fd, forget it (on_close, then free). */
void peer_close(struct peer *p, const char *why);
/* Hang up without closing here: its reader sees the end and closes it. */
void peer_hang_up(struct peer *p);
void peers_close_all(struct antd *d);
/* Name for logs: the server's name, "app pid N", "control pid N". */
const char *peer_name(const struct peer *p);

#endif
