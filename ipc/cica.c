/* cica.c - build, check and edit the control ICA page (layout in ant/cica.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ant/cica.h"

/*
 * Frames and the header are whole multiples of 8 so that the first frame,
 * placed right after the header, and every frame after it stay 8-aligned.
 */
_Static_assert(sizeof(struct ant_cica_hdr) % 8 == 0, "header size must be a multiple of 8");
_Static_assert(sizeof(struct ant_frame) % 8 == 0, "frame size must be a multiple of 8");
_Static_assert(sizeof(struct ant_cica_hdr) == 128, "header layout changed");
_Static_assert(sizeof(struct ant_frame) == 32, "frame layout changed");
/* Offsets are uint16_t; a page must be addressable by them. */
_Static_assert(ANT_CICA_SIZE <= UINT16_MAX, "page too large for 16-bit offsets");
_Static_assert(ANT_SERVERS_MAX <= UINT8_MAX, "trace holds peer ids as bytes");

#define HDR_SIZE   ((uint32_t)sizeof(struct ant_cica_hdr))
#define FRAME_SIZE ((uint32_t)sizeof(struct ant_frame))

/*
 * The page may come straight out of a receive buffer with no alignment
 * guarantee, so every field access inside this file goes through memcpy into
 * a local copy instead of casting the page.
 */
static void hdr_load(const void *page, struct ant_cica_hdr *h)
{
	memcpy(h, page, sizeof(*h));
}

static void hdr_store(void *page, const struct ant_cica_hdr *h)
{
	memcpy(page, h, sizeof(*h));
}

static void frame_load(const void *page, uint32_t off, struct ant_frame *f)
{
	memcpy(f, (const char *)page + off, sizeof(*f));
}

static void frame_store(void *page, uint32_t off, const struct ant_frame *f)
{
	memcpy((char *)page + off, f, sizeof(*f));
}

static uint32_t round8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

/* Checks of one frame that do not depend on its neighbours. */
static enum ant_cica_fault check_frame_body(const struct ant_frame *f, uint32_t off,
					    unsigned nservers)
{
	if (f->flags & ~ANT_FF_ALL)
		return ANT_CICA_BAD_FLAGS;

	if (!(f->param_off == 0 && f->param_size == 0)) {
		uint32_t poff = f->param_off, pend = poff + f->param_size;

		if (poff < off + FRAME_SIZE || pend > off + f->size)
			return ANT_CICA_PARAM_OUTSIDE;
	}

	if (f->op[0] == '\0' || memchr(f->op, '\0', sizeof(f->op)) == NULL)
		return ANT_CICA_BAD_OP;

	unsigned max_callee = nservers < ANT_SERVERS_MAX ? nservers : ANT_SERVERS_MAX;
	if (f->callee == 0 || f->callee > max_callee)
		return ANT_CICA_UNKNOWN_CALLEE;
	if (f->caller > ANT_SERVERS_MAX)
		return ANT_CICA_UNKNOWN_CALLEE;

	return ANT_CICA_OK;
}

enum ant_cica_fault ant_cica_validate(const void *page, size_t len, unsigned nservers)
{
	struct ant_cica_hdr h;

	if (len < sizeof(h))
		return ANT_CICA_TRUNCATED;
	if (len > ANT_CICA_SIZE)
		return ANT_CICA_TOO_LONG;
	hdr_load(page, &h);

	if (h.magic != ANT_CICA_MAGIC)
		return ANT_CICA_BAD_MAGIC;
	if (h.version != ANT_CICA_VERSION)
		return ANT_CICA_BAD_VERSION;
	if (h.hdr_size != HDR_SIZE)
		return ANT_CICA_BAD_HDR_SIZE;
	if (h.used < h.hdr_size || h.used > len)
		return ANT_CICA_BAD_USED;
	if ((h.flags & ~ANT_CF_ALL) || (h.data_flags & ~ANT_DF_ALL))
		return ANT_CICA_BAD_FLAGS;
	if (h.trace_len > ANT_TRACE_MAX)
		return ANT_CICA_BAD_TRACE;
	if (h.nframes == 0 || h.currentp == 0)
		return ANT_CICA_NO_FRAMES;
	if (h.nframes > ANT_FRAMES_MAX)
		return ANT_CICA_TOO_MANY_FRAMES;

	/*
	 * Walk from the newest frame down.  Every prev must be strictly below
	 * the frame holding it, so the walk always ends; it is still cut off
	 * as soon as it exceeds nframes (<= ANT_FRAMES_MAX), which bounds the
	 * work to ANT_FRAMES_MAX + 1 frames whatever the page says.
	 */
	uint32_t used = h.used;
	uint32_t off = h.currentp;
	uint32_t above = 0;      /* offset of the frame above off; 0 at the top */
	uint32_t top_end = 0;
	unsigned count = 0;

	for (;;) {
		struct ant_frame f;
		enum ant_cica_fault fault;

		if (++count > h.nframes)
			return ANT_CICA_CHAIN_LENGTH;
		if (off % 8 != 0)
			return ANT_CICA_FRAME_MISALIGNED;
		/* used <= len was checked, so this bounds every read below. */
		if (off < h.hdr_size || off + FRAME_SIZE > used)
			return ANT_CICA_FRAME_OUTSIDE;
		frame_load(page, off, &f);
		if (f.size < FRAME_SIZE || f.size % 8 != 0 || off + f.size > used)
			return ANT_CICA_FRAME_OUTSIDE;
		if (above != 0 && off + f.size > above)
			return ANT_CICA_FRAME_OUTSIDE;

		fault = check_frame_body(&f, off, nservers);
		if (fault != ANT_CICA_OK)
			return fault;

		if (above == 0)
			top_end = off + f.size;
		if (f.prev == 0)
			break;
		if (f.prev >= off)
			return ANT_CICA_CYCLE;
		above = off;
		off = f.prev;
	}
	if (count != h.nframes)
		return ANT_CICA_CHAIN_LENGTH;

	if (!(h.ret_off == 0 && h.ret_size == 0)) {
		uint32_t rend = (uint32_t)h.ret_off + h.ret_size;

		if (h.ret_off < top_end || rend > used)
			return ANT_CICA_RESULT_OUTSIDE;
	}
	return ANT_CICA_OK;
}

const char *ant_cica_fault_str(enum ant_cica_fault f)
{
	static const char *const str[ANT_CICA_FAULT_MAX] = {
		[ANT_CICA_OK]              = "valid",
		[ANT_CICA_TRUNCATED]       = "shorter than a header",
		[ANT_CICA_TOO_LONG]        = "longer than a page",
		[ANT_CICA_BAD_MAGIC]       = "bad magic",
		[ANT_CICA_BAD_VERSION]     = "unsupported version",
		[ANT_CICA_BAD_HDR_SIZE]    = "bad header size",
		[ANT_CICA_BAD_USED]        = "used size out of bounds",
		[ANT_CICA_BAD_FLAGS]       = "unknown flags",
		[ANT_CICA_NO_FRAMES]       = "no frames",
		[ANT_CICA_TOO_MANY_FRAMES] = "too many frames",
		[ANT_CICA_FRAME_OUTSIDE]   = "frame outside the page",
		[ANT_CICA_FRAME_MISALIGNED] = "misaligned frame",
		[ANT_CICA_CYCLE]           = "cycle in the frame chain",
		[ANT_CICA_CHAIN_LENGTH]    = "frame chain length differs from nframes",
		[ANT_CICA_PARAM_OUTSIDE]   = "parameter area out of bounds",
		[ANT_CICA_BAD_OP]          = "bad op name",
		[ANT_CICA_UNKNOWN_CALLEE]  = "unknown callee",
		[ANT_CICA_RESULT_OUTSIDE]  = "result area out of bounds",
		[ANT_CICA_BAD_TRACE]       = "trace too long",
	};

	if ((unsigned)f >= ANT_CICA_FAULT_MAX || str[f] == NULL)
		return "unknown fault";
	return str[f];
}

/* Shared argument checks of init and push. */
static int check_frame_args(unsigned callee, const char *op, const void *params,
			    size_t nparams, uint32_t frame_flags)
{
	if (callee == 0 || callee > ANT_SERVERS_MAX)
		return -EINVAL;
	if (op == NULL || op[0] == '\0' || strnlen(op, ANT_OP_MAX) >= ANT_OP_MAX)
		return -EINVAL;
	if (frame_flags & ~ANT_FF_ALL)
		return -EINVAL;
	if (nparams > 0 && params == NULL)
		return -EINVAL;
	return 0;
}

/*
 * Write a frame at off (8-aligned) with its parameters right after it; the
 * caller has checked that the frame fits.  Returns the frame's end.
 * params may point into the page (a relay forwarding the result or the
 * parameters it received), so they are moved (memmove) into place before
 * anything else in the frame area is written; the padding is then zeroed so
 * no stale bytes (a dropped result, an old frame) travel on to the next
 * server.
 */
static uint32_t write_frame(void *page, uint32_t off, uint32_t fsize, uint16_t prev,
			    unsigned callee, const char *op, const void *params,
			    size_t nparams, uint32_t frame_flags)
{
	char *base = (char *)page + off;
	struct ant_frame f;

	/* Build the frame (op copied) before touching the page: op, too, may
	 * point into it. */
	memset(&f, 0, sizeof(f));
	f.prev = prev;
	f.size = (uint16_t)fsize;
	f.caller = ANT_PEER_APP;   /* antd fills it */
	f.callee = (uint16_t)callee;
	f.flags = frame_flags;
	if (nparams > 0) {
		f.param_off = (uint16_t)(off + FRAME_SIZE);
		f.param_size = (uint16_t)nparams;
	}
	memcpy(f.op, op, strlen(op));   /* < ANT_OP_MAX: the rest stays NUL */

	if (nparams > 0)
		memmove(base + FRAME_SIZE, params, nparams);
	memset(base + FRAME_SIZE + nparams, 0, fsize - FRAME_SIZE - nparams);
	frame_store(page, off, &f);
	return off + fsize;
}

/* Frame size for nparams, or 0 if it could never fit in a page. */
static uint32_t frame_size_for(size_t nparams)
{
	if (nparams > ANT_CICA_SIZE)
		return 0;
	return round8(FRAME_SIZE + (uint32_t)nparams);
}

int ant_cica_init(void *page, unsigned callee, const char *op,
		  const void *params, size_t nparams, uint32_t frame_flags)
{
	struct ant_cica_hdr h;
	int r;

	r = check_frame_args(callee, op, params, nparams, frame_flags);
	if (r < 0)
		return r;
	uint32_t fsize = frame_size_for(nparams);
	if (fsize == 0 || HDR_SIZE + fsize > ANT_CICA_SIZE)
		return -E2BIG;

	uint32_t end = write_frame(page, HDR_SIZE, fsize, 0, callee, op,
				   params, nparams, frame_flags);
	memset((char *)page + end, 0, ANT_CICA_SIZE - end);

	memset(&h, 0, sizeof(h));
	h.magic = ANT_CICA_MAGIC;
	h.version = ANT_CICA_VERSION;
	h.hdr_size = (uint16_t)HDR_SIZE;
	h.used = end;
	h.currentp = (uint16_t)HDR_SIZE;
	h.nframes = 1;
	hdr_store(page, &h);
	return 0;
}

int ant_cica_push(void *page, unsigned callee, const char *op,
		  const void *params, size_t nparams, uint32_t frame_flags)
{
	struct ant_cica_hdr h;
	struct ant_frame top;
	int r;

	r = check_frame_args(callee, op, params, nparams, frame_flags);
	if (r < 0)
		return r;
	hdr_load(page, &h);
	if (h.nframes >= ANT_FRAMES_MAX)
		return -E2BIG;
	uint32_t fsize = frame_size_for(nparams);
	frame_load(page, h.currentp, &top);
	uint32_t off = (uint32_t)h.currentp + top.size;
	if (fsize == 0 || off + fsize > ANT_CICA_SIZE)
		return -E2BIG;

	uint32_t old_used = h.used;
	uint32_t end = write_frame(page, off, fsize, h.currentp, callee, op,
				   params, nparams, frame_flags);
	/* The dropped result may reach past the new frame: clear it. */
	if (old_used > end)
		memset((char *)page + end, 0, old_used - end);

	h.currentp = (uint16_t)off;
	h.nframes++;
	h.ret_off = 0;
	h.ret_size = 0;
	h.used = end;
	hdr_store(page, &h);
	return 0;
}

/*
 * The accessors hand out struct pointers into the page, so unlike the rest of
 * this file they need the page 8-aligned (a mapped ICA or a local page is).
 */
struct ant_frame *ant_cica_current(void *page)
{
	struct ant_cica_hdr h;

	hdr_load(page, &h);
	return (struct ant_frame *)((char *)page + h.currentp);
}

const struct ant_frame *ant_cica_current_const(const void *page)
{
	struct ant_cica_hdr h;

	hdr_load(page, &h);
	return (const struct ant_frame *)((const char *)page + h.currentp);
}

struct ant_frame *ant_cica_prev(void *page, const struct ant_frame *f)
{
	uint16_t prev;

	memcpy(&prev, &f->prev, sizeof(prev));
	if (prev == 0)
		return NULL;
	return (struct ant_frame *)((char *)page + prev);
}

/* End of the newest frame: where a result starts. */
static uint32_t top_end(const void *page, const struct ant_cica_hdr *h)
{
	struct ant_frame top;

	frame_load(page, h->currentp, &top);
	return (uint32_t)h->currentp + top.size;
}

int ant_cica_set_result(void *page, int32_t retval, const void *bytes, size_t n)
{
	struct ant_cica_hdr h;

	hdr_load(page, &h);
	uint32_t start = top_end(page, &h);
	if (start > ANT_CICA_SIZE || n > ANT_CICA_SIZE - start)
		return -E2BIG;
	if (n > 0 && bytes == NULL)
		return -EINVAL;

	uint32_t old_used = h.used;
	if (n > 0)
		memmove((char *)page + start, bytes, n);   /* bytes may lie in page */
	uint32_t end = start + (uint32_t)n;
	if (old_used > end)
		memset((char *)page + end, 0, old_used - end);

	h.retval = retval;
	h.ret_off = n > 0 ? (uint16_t)start : 0;
	h.ret_size = (uint16_t)n;
	h.used = end;
	hdr_store(page, &h);
	return 0;
}

void ant_cica_pop(void *page)
{
	struct ant_cica_hdr h;
	struct ant_frame top;

	hdr_load(page, &h);
	if (h.nframes < 2)
		return;
	frame_load(page, h.currentp, &top);
	if (top.prev == 0)
		return;

	h.currentp = top.prev;
	h.nframes--;
	uint32_t start = top_end(page, &h);
	uint32_t old_used = h.used;

	if (h.ret_size > 0) {
		memmove((char *)page + start, (char *)page + h.ret_off, h.ret_size);
		h.ret_off = (uint16_t)start;
		h.used = start + h.ret_size;
	} else {
		h.ret_off = 0;
		h.used = start;
	}
	/* Wipe the popped frame and the result's old place. */
	if (old_used > h.used)
		memset((char *)page + h.used, 0, old_used - h.used);
	hdr_store(page, &h);
}

void ant_cica_trace(void *page, unsigned peer)
{
	struct ant_cica_hdr h;

	hdr_load(page, &h);
	if (h.trace_len < ANT_TRACE_MAX)
		h.trace[h.trace_len++] = (uint8_t)peer;
	else
		h.flags |= ANT_CF_TRACE_FULL;
	hdr_store(page, &h);
}
