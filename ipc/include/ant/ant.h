/* ant.h - libant: call servers of a running stack (applications) and serve calls (servers). */
#ifndef ANT_ANT_H
#define ANT_ANT_H

#include <stddef.h>
#include <stdint.h>
#include "ant/cica.h"
#include "ant/errors.h"
#include "ant/fault.h"   /* ANT_FAILPOINT: named failpoints in a server's code */

/*
 * Every function returns >= 0 on success and a negative code on failure:
 * -errno for system errors, ANT_E_* (errors.h) for call outcomes.  Nothing
 * here logs or exits.  A connection is used by one thread at a time.
 */

struct ant_conn;

/* A data ICA this process holds, mapped at addr. */
struct ant_ica {
	struct ant_ica_ref ref;  /* ro */
	void *addr;              /* ro: mapping, size bytes */
	size_t size;             /* ro */
	int writable;            /* ro: mapped read-write */
	int fd;                  /* private */
	struct ant_ica *next;    /* private */
};

/* ---- connecting ---------------------------------------------------------- */

/* The run directory tools use when given none: $ANT_RUN_DIR, else NULL. */
const char *ant_default_run_dir(void);

/* Connect an application to the stack whose app socket is in run_dir. */
int ant_connect(const char *run_dir, struct ant_conn **out);
/* Connect a SOCK_SEQPACKET Unix socket to path (close-on-exec, blocking).
 * Returns the fd, or -errno (-ENAMETOOLONG: path does not fit). */
int ant_sock_connect(const char *path);

/* Open a server's connection to antd, from the fd named in $ANT_FD. */
int ant_server_open(struct ant_conn **out);

/* Close; unmaps every data ICA this connection holds.  Accepts NULL. */
void ant_close(struct ant_conn *c);

/* The socket, for poll(2) in an application's own loop (readable: a result
 * through antd).  With the stack's fast path on, a result that comes back in
 * a lane does not make the socket readable: poll with a timeout and call
 * ant_wait(c, 0, &res, 0), which looks in both. */
int ant_fd(const struct ant_conn *c);
/* This peer's id (server id, or 0 for an application). */
unsigned ant_self_id(const struct ant_conn *c);
/* Server id (1..) of name, or ANT_E_NO_SERVER. */
int ant_server_id(const struct ant_conn *c, const char *name);
/* Name of server id, or NULL. */
const char *ant_server_name(const struct ant_conn *c, unsigned id);
/* How many requests antd lets this server hold at once (servers only). */
unsigned ant_max_inflight(const struct ant_conn *c);
/* Calls this connection made (application) or answered (server) in the
 * fast path's lanes, without antd (docs/fastpath.md); 0 if it has none. */
uint64_t ant_fast_calls(const struct ant_conn *c);

/* ---- data ICAs ----------------------------------------------------------- */

/* Ask antd for a data ICA of at least size bytes, mapped read-write, zeroed. */
int ant_ica_alloc(struct ant_conn *c, size_t size, struct ant_ica **out);
/* The same, not mapped (addr NULL): for a server that fills it through its
 * fd (ant_ica_fd) with pread-like system calls, e.g. copy_file_range from a
 * file, so that no page is mapped, faulted in or unmapped here. */
int ant_ica_alloc_unmapped(struct ant_conn *c, size_t size, struct ant_ica **out);
/* The fd of an ICA this process holds (valid until it is released). */
int ant_ica_fd(const struct ant_ica *ica);
/* Lazy mapping: data ICAs that arrive from now on are held but not mapped
 * (addr NULL) until ant_ica_map; for a server that passes areas on without
 * reading them (the cache), which saves mapping and unmapping every page. */
void ant_set_lazy_map(struct ant_conn *c, int lazy);
/* Map an ICA held unmapped (no-op if mapped).  Returns 0 or -errno. */
int ant_ica_map(struct ant_conn *c, struct ant_ica *ica);
/* Drop this process's hold: unmap, close, tell antd.  Accepts NULL. */
void ant_ica_release(struct ant_conn *c, struct ant_ica *ica);

/* ---- calls --------------------------------------------------------------- */

struct ant_call {
	const char *server;      /* callee by name, or NULL and server_id */
	unsigned server_id;
	const char *op;          /* up to ANT_OP_MAX-1 bytes */
	const void *arg;         /* parameter bytes, copied into the control ICA */
	size_t arglen;
	struct ant_ica *data;    /* data ICA to send along, or NULL */
	unsigned data_flags;     /* ANT_DF_RO, ANT_DF_DETACH */
	unsigned call_flags;     /* ANT_CF_DIRECT_HINT */
	unsigned frame_flags;    /* extra ANT_FF_* (ANT_FF_IO_WAIT) */
	unsigned deadline_ms;    /* how long each server may hold it (0: its own default) */
};

/* What came back.  bytes points into page; data is held by the connection
 * (release it with ant_ica_release when done; it stays valid until then). */
struct ant_result {
	uint64_t ticket;
	int32_t retval;          /* >= 0, or ANT_E_* */
	const void *bytes;
	size_t len;
	struct ant_ica *data;    /* data ICA that came back, or NULL */
	unsigned trace_len;      /* peers the call was delivered to, in order */
	const uint8_t *trace;    /* 0 = the calling application */
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8))); /* private */
};

/* Start a call; *ticket identifies its result.  Returns 0 or < 0 (nothing sent). */
int ant_call_async(struct ant_conn *c, const struct ant_call *call, uint64_t *ticket);

/* Wait for the result of ticket (0: any result) for at most timeout_ms
 * (-1: forever, 0: poll).  Returns 0 with *res filled, -ETIMEDOUT, or < 0. */
int ant_wait(struct ant_conn *c, uint64_t ticket, struct ant_result *res, int timeout_ms);

/* Give up on the call of ticket (applications; -EINVAL from a server).
 * antd drops it if no server holds it yet; if one does, it runs on there but
 * its result is dropped and it is not replayed should that server die.
 * Exactly one result for the ticket still comes: ant_wait(ticket) returns
 * soon with either its real result (it was on its way) or ANT_E_CANCELLED.
 * Returns 0 or -errno. */
int ant_cancel(struct ant_conn *c, uint64_t ticket);

/* Sync call: ant_call_async + ant_wait.  Returns res->retval, or < 0 if the
 * call could not be made. */
int ant_call_sync(struct ant_conn *c, const struct ant_call *call, struct ant_result *res);

/* ---- serving ------------------------------------------------------------- */

enum ant_item_kind {
	ANT_ITEM_REQUEST = 1,    /* a call to serve: reply or forward it */
	ANT_ITEM_RETURN,         /* a forwarded call came back with its result: the
				    call you held is yours again; reply or forward */
	ANT_ITEM_RESULT,         /* the result of a call you made with ant_call_async */
};

struct ant_item {
	enum ant_item_kind kind;
	unsigned caller;         /* peer id of the caller (0: application) */
	const char *op;          /* the held frame's op */
	const void *params;      /* the held frame's parameters */
	size_t nparams;
	struct ant_ica *data;    /* data ICA travelling with the call, or NULL */
	unsigned data_flags;
	/* RETURN and RESULT: what the callee answered */
	int32_t retval;
	const void *ret;
	size_t ret_len;
	uint64_t ticket;         /* RESULT: the ticket of your call */
	int replay;              /* antd hands this over again: a server died holding it */
	uint64_t call_id;        /* this call's id from antd: the same across replays,
				    unique within one run of antd ($ANT_RUN_ID) */
	uint32_t lane_id, lane_slot;   /* private: taken from a lane (docs/fastpath.md) */
	uint64_t lane_seq, lane_token; /* private */
	uint64_t lane_taken_us;        /* private */
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8))); /* private */
};

/* Copy an item to keep it past the next ant_next (op, params and ret point
 * into the item itself, so a plain struct copy would point into the old one). */
void ant_item_copy(struct ant_item *dst, const struct ant_item *src);

/* Take the next item, results before requests; blocks up to timeout_ms
 * (-1: forever).  Returns 0, -ETIMEDOUT, -ECONNRESET when antd is gone. */
int ant_next(struct ant_conn *c, struct ant_item *it, int timeout_ms);

/* Take the call's data ICA out of the item: the caller now owns this hold
 * (release it, or send it with a reply), and a reply without a data ICA no
 * longer carries it back.  Returns NULL if the call brought none. */
struct ant_ica *ant_item_take_data(struct ant_item *it);

/* Answer the held call (REQUEST or RETURN item) with retval and bytes, and
 * optionally a data ICA (data_flags ANT_DF_*).  With data NULL, the call's
 * own data ICA, if this server still holds it, goes back with the answer
 * (with data_flags: ANT_DF_DETACH gives up this server's hold).
 * Returns 0; -E2BIG if bytes do not fit the control ICA after the call's
 * frames (nothing is sent, the call is still held: answer it again, e.g.
 * with ANT_E_TOO_BIG); or another -errno. */
int ant_reply(struct ant_conn *c, struct ant_item *it, int32_t retval,
	      const void *bytes, size_t n, struct ant_ica *data, unsigned data_flags);

/* Hand the held call on to another server by pushing a frame (multi-stage).
 * return_needed: the result comes back to this server as an ANT_ITEM_RETURN;
 * 0: direct return, it goes straight to the nearest caller that needs it.
 * The data ICA travelling with the call goes on with it unless data is given. */
struct ant_forward {
	const char *server;
	unsigned server_id;
	const char *op;          /* NULL: the same op */
	const void *params;      /* NULL with nparams 0: the same parameters */
	size_t nparams;
	int return_needed;
	unsigned frame_flags;    /* extra ANT_FF_* */
	struct ant_ica *data;    /* NULL: keep the call's data ICA */
	unsigned data_flags;
};
/* Returns 0; -E2BIG if the new frame does not fit the control ICA (nothing
 * is sent, the call is still held: answer it instead); or another -errno. */
int ant_forward(struct ant_conn *c, struct ant_item *it, const struct ant_forward *fw);

/* ---- live upgrade: the state a server hands to its next version ---------- */

/*
 * antctl upgrade SERVER starts the new program beside the old, lets the old
 * finish what it holds, then asks it for its state and hands that to the new
 * one (docs/upgrade.md).  A server that keeps no state needs none of this;
 * one that does registers two callbacks.  Both run inside ant_next (or
 * whatever call of libant is waiting), the server holding no request.
 *
 * export: name the state's format and version (ant_state_begin), then add
 * the data ICAs that hold it (ant_state_add), in an order import will
 * understand.  The server keeps its holds: its areas move to the new
 * process without a byte copied (antd keeps them alive meanwhile).
 * Returns 0, or < 0 to refuse (the upgrade is refused; nothing changes).
 *
 * import: the state the old version exported, its areas in the order it
 * added them, held now by this process (mapped unless lazy mapping is on).
 * Returns 0; or < 0 with why (e.g. a format or version it does not know):
 * the upgrade is refused, the old version goes on serving, and the areas
 * are released.  An export of no state comes as format "" and n 0.
 */
struct ant_state_out;
typedef int ant_export_fn(struct ant_conn *c, struct ant_state_out *out, void *arg);
typedef int ant_import_fn(struct ant_conn *c, const char *format, uint32_t version,
			  struct ant_ica *const *areas, unsigned n, char *why, size_t whylen,
			  void *arg);
void ant_set_state_handlers(struct ant_conn *c, ant_export_fn *ex, ant_import_fn *im,
			    void *arg);
/* In export: the format's name (1..31 bytes) and version.  0 or -EINVAL. */
int ant_state_begin(struct ant_state_out *out, const char *format, uint32_t version);
/* In export: one more area (held by this process).  0, -EINVAL, or -E2BIG
 * past ANT_STATE_AREAS_MAX. */
int ant_state_add(struct ant_state_out *out, struct ant_ica *area);
/* Tell antd the version of this program (antctl status shows it): 1..31
 * bytes.  0 or -errno. */
int ant_set_version(struct ant_conn *c, const char *version);

#endif
