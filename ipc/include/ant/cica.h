/* cica.h - the control ICA: one page holding a call's header and its stack of frames. */
#ifndef ANT_CICA_H
#define ANT_CICA_H

#include <stddef.h>
#include <stdint.h>

/*
 * Layout (all offsets are byte offsets from the start of the page, all fields
 * host-endian, every frame 8-byte aligned):
 *
 *   0                hdr_size                                  used      4096
 *   | ant_cica_hdr   | frame 0 | params | frame 1 | params |... | result | free |
 *                      ^ prev=0          ^ prev=off(frame 0)
 *                                                  ^ currentp
 *
 * The header holds what the paper's table 1 keeps for the whole call (caller
 * process and user, return value, data ICA, flags); the per-stage fields of
 * table 1 (callee, parameter area and size, sync/return-needed/I-O-wait
 * flags) live in each frame, because a multi-stage call pushes one frame per
 * stage onto the same page.  currentp points at the newest frame; each frame's
 * prev points at the one below it, so offsets strictly decrease along the
 * chain (which is what the validator relies on to reject cycles).
 *
 * Who writes what: the caller fills a frame (callee, op, params, flags); antd
 * fills the id, caller pid/uid/gid, frame caller ids and the trace, and never
 * trusts those fields from a peer.  A server replying writes retval and the
 * result area (ret_off/ret_size) after its own frame.
 */

#define ANT_CICA_SIZE      4096u
#define ANT_CICA_MAGIC     0x41434931u /* "1ICA" little-endian */
#define ANT_CICA_VERSION   3u   /* 3: 128-byte header (call_id) */
#define ANT_FRAMES_MAX     16u   /* stages of one multi-stage call */
#define ANT_OP_MAX         16u   /* op name, NUL included */
#define ANT_TRACE_MAX      32u   /* peers the call was delivered to, in order */
#define ANT_SERVERS_MAX    63u   /* server ids are 1..63; 0 is "an application" */
#define ANT_PEER_APP       0u

/* Frame flags (per stage). */
#define ANT_FF_SYNC          0x01u /* caller blocks for the result (else async) */
#define ANT_FF_RETURN_NEEDED 0x02u /* result goes back to this frame's caller */
#define ANT_FF_IO_WAIT       0x04u /* callee waits for I/O: longer deadline */
#define ANT_FF_ALL           0x07u

/* Header flags (whole call). */
#define ANT_CF_DIRECT_HINT   0x01u /* caller asks relays for direct return */
#define ANT_CF_TRACE_FULL    0x02u /* trace overflowed; later hops not recorded */
#define ANT_CF_REPLAY        0x04u /* set by antd: handed over again after a server died */
#define ANT_CF_ALL           0x07u

/* Data ICA flags, for the data ICA travelling with the call. */
#define ANT_DF_RO            0x01u /* receiver gets it read-only (sealed) */
#define ANT_DF_DETACH        0x02u /* sender gives up its mapping on send */
#define ANT_DF_ALL           0x03u

/* An ICA's identity: (index, generation). gen == 0 means "no ICA". */
struct ant_ica_ref {
	uint32_t index;
	uint32_t gen;
	uint64_t size;   /* bytes, a whole number of pages */
};

struct ant_cica_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;      /* sizeof(struct ant_cica_hdr) */
	uint32_t used;          /* bytes in use: header, frames, result */
	uint32_t flags;         /* ANT_CF_* */
	uint32_t id_index;      /* this control ICA's id, set by antd */
	uint32_t id_gen;
	uint64_t ticket;        /* caller's ticket, echoed with the result */
	uint16_t currentp;      /* offset of the newest frame (paper: currentp) */
	uint16_t nframes;
	uint32_t caller_pid;    /* table 1: caller process, set by antd */
	uint32_t caller_uid;    /* table 1: caller user, set by antd */
	uint32_t caller_gid;
	int32_t  retval;        /* table 1: return value (>= 0 or ANT_E_*) */
	uint16_t ret_off;       /* result bytes (0/0: none) */
	uint16_t ret_size;
	struct ant_ica_ref data;/* table 1: the data ICA (gen 0: none) */
	uint32_t data_flags;    /* ANT_DF_* */
	uint16_t trace_len;
	uint8_t  trace[ANT_TRACE_MAX];
	uint8_t  pad[2];
	uint32_t deadline_ms;   /* caller's deadline for each stage (0: the server's own) */
	uint32_t reserved;      /* 0 */
	uint64_t call_id;       /* the call's identity across replays and adoptions
				   (ant_item.call_id), set by antd or by a lane's receiver */
};

struct ant_frame {
	uint16_t prev;          /* offset of the frame below, 0 for the first */
	uint16_t size;          /* frame + parameter area, multiple of 8 */
	uint16_t caller;        /* peer id that pushed it (0: application), set by antd */
	uint16_t callee;        /* table 1: callee (server id 1..63) */
	uint32_t flags;         /* ANT_FF_* */
	uint16_t param_off;     /* table 1: parameter area (absolute offset) */
	uint16_t param_size;    /* table 1: its size */
	char     op[ANT_OP_MAX];/* NUL-terminated op name */
};

/* Why a control ICA was rejected; ANT_CICA_OK (0) means valid. */
enum ant_cica_fault {
	ANT_CICA_OK = 0,
	ANT_CICA_TRUNCATED,      /* shorter than a header */
	ANT_CICA_TOO_LONG,       /* longer than a page */
	ANT_CICA_BAD_MAGIC,
	ANT_CICA_BAD_VERSION,
	ANT_CICA_BAD_HDR_SIZE,
	ANT_CICA_BAD_USED,       /* used beyond the bytes received / page */
	ANT_CICA_BAD_FLAGS,      /* unknown header, frame or data flags */
	ANT_CICA_NO_FRAMES,      /* nframes is 0 or currentp is 0 */
	ANT_CICA_TOO_MANY_FRAMES,
	ANT_CICA_FRAME_OUTSIDE,  /* a frame lies (partly) outside the used page */
	ANT_CICA_FRAME_MISALIGNED,
	ANT_CICA_CYCLE,          /* the prev chain loops or does not descend */
	ANT_CICA_CHAIN_LENGTH,   /* the chain's length differs from nframes */
	ANT_CICA_PARAM_OUTSIDE,  /* parameter area outside its frame */
	ANT_CICA_BAD_OP,         /* op empty or not NUL-terminated */
	ANT_CICA_UNKNOWN_CALLEE, /* callee not a server of this stack */
	ANT_CICA_RESULT_OUTSIDE, /* result area overlaps frames or lies past used */
	ANT_CICA_BAD_TRACE,      /* trace_len beyond ANT_TRACE_MAX */
	ANT_CICA_FAULT_MAX
};

/*
 * Checks the first len bytes of a control ICA received from an untrusted
 * peer.  nservers is the number of servers in the stack (callee must be in
 * 1..nservers).  Never reads outside page[0..len).  Returns ANT_CICA_OK or
 * the first fault found.
 */
enum ant_cica_fault ant_cica_validate(const void *page, size_t len, unsigned nservers);

/* "frame outside the page", ...: never NULL. */
const char *ant_cica_fault_str(enum ant_cica_fault f);

/* Start a call: clear page, write a header and a first frame for callee/op
 * with params.  Returns 0 or -EINVAL (op too long) / -E2BIG (params do not fit). */
int ant_cica_init(void *page, unsigned callee, const char *op,
		  const void *params, size_t nparams, uint32_t frame_flags);

/* Push a frame for the next stage (multi-stage call).  Drops any result area.
 * Returns 0, -E2BIG (no room / too many frames) or -EINVAL. */
int ant_cica_push(void *page, unsigned callee, const char *op,
		  const void *params, size_t nparams, uint32_t frame_flags);

/* The newest frame of a page that passed ant_cica_validate. */
struct ant_frame *ant_cica_current(void *page);
const struct ant_frame *ant_cica_current_const(const void *page);
/* The frame below f, or NULL for the first frame. */
struct ant_frame *ant_cica_prev(void *page, const struct ant_frame *f);

/* Write the result (retval, bytes) after the newest frame.  Returns 0 or
 * -E2BIG if the bytes do not fit in the page. */
int ant_cica_set_result(void *page, int32_t retval, const void *bytes, size_t n);

/* Pop the newest frame, keeping the result: moves the result bytes to just
 * after the new newest frame.  The page must have >= 2 frames. */
void ant_cica_pop(void *page);

/* Append peer id to the trace (sets ANT_CF_TRACE_FULL when full). */
void ant_cica_trace(void *page, unsigned peer);

#endif
