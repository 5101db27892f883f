/* test-cica.c - the control ICA: building pages, and rejecting every malformed one. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "ant/cica.h"
#include "ant/errors.h"

#define NSERVERS 4u
#define HDR      ((uint32_t)sizeof(struct ant_cica_hdr))
#define FRM      ((uint32_t)sizeof(struct ant_frame))

/* Field access through memcpy, as a peer's buffer would need. */
#define HDR_GET(pg, field)                                                    \
	({                                                                    \
		__typeof__(((struct ant_cica_hdr *)0)->field) get_v_;             \
		memcpy(&get_v_, (const char *)(pg) + offsetof(struct ant_cica_hdr, field), sizeof(get_v_)); \
		get_v_;                                                           \
	})
#define HDR_SET(pg, field, val)                                               \
	do {                                                                  \
		__typeof__(((struct ant_cica_hdr *)0)->field) set_v_ = (val);     \
		memcpy((char *)(pg) + offsetof(struct ant_cica_hdr, field), &set_v_, sizeof(set_v_)); \
	} while (0)
#define FRAME_GET(pg, off, field)                                             \
	({                                                                    \
		__typeof__(((struct ant_frame *)0)->field) get_v_;                \
		memcpy(&get_v_, (const char *)(pg) + (off) + offsetof(struct ant_frame, field), sizeof(get_v_)); \
		get_v_;                                                           \
	})
#define FRAME_SET(pg, off, field, val)                                        \
	do {                                                                  \
		__typeof__(((struct ant_frame *)0)->field) set_v_ = (val);        \
		memcpy((char *)(pg) + (off) + offsetof(struct ant_frame, field), &set_v_, sizeof(set_v_)); \
	} while (0)

static _Alignas(8) unsigned char page[ANT_CICA_SIZE];

/* Offsets of the three frames of the standard page, bottom to top. */
static uint16_t f0, f1, f2;

static const unsigned char result_bytes[] = "forty-two, and some more bytes";

/*
 * The standard page: three frames with parameters (callees 1, 2, 3 of
 * NSERVERS) and a result after the top frame.  Every fault test corrupts
 * exactly one thing of it.
 */
static void make_std_page(void)
{
	static const char p0[] = "params of stage zero";
	static const char p1[] = "one";
	static const char p2[] = "stage two has eleven+";

	ck_assert_int_eq(ant_cica_init(page, 1, "open", p0, sizeof(p0), ANT_FF_SYNC), 0);
	ck_assert_int_eq(ant_cica_push(page, 2, "lookup", p1, sizeof(p1),
				       ANT_FF_SYNC | ANT_FF_RETURN_NEEDED), 0);
	ck_assert_int_eq(ant_cica_push(page, 3, "read", p2, sizeof(p2), ANT_FF_IO_WAIT), 0);
	ck_assert_int_eq(ant_cica_set_result(page, 7, result_bytes, sizeof(result_bytes)), 0);
	f2 = HDR_GET(page, currentp);
	f1 = FRAME_GET(page, f2, prev);
	f0 = FRAME_GET(page, f1, prev);
	ck_assert_uint_eq(f0, HDR);
	ck_assert_uint_eq(FRAME_GET(page, f0, prev), 0);
	ck_assert_int_eq(ant_cica_validate(page, ANT_CICA_SIZE, NSERVERS), ANT_CICA_OK);
}

static enum ant_cica_fault check_std(void)
{
	return ant_cica_validate(page, ANT_CICA_SIZE, NSERVERS);
}

#define ck_fault(expr, want)                                                  \
	do {                                                                  \
		enum ant_cica_fault got_ = (expr);                            \
		ck_assert_msg(got_ == (want), "got %d (%s), want %d (%s)",    \
			      got_, ant_cica_fault_str(got_), (want),         \
			      ant_cica_fault_str(want));                      \
	} while (0)

/* ---- one test per fault ------------------------------------------------- */

START_TEST(test_valid_std)
{
	make_std_page();
	ck_fault(check_std(), ANT_CICA_OK);
	/* Exactly the used bytes are enough. */
	ck_fault(ant_cica_validate(page, HDR_GET(page, used), NSERVERS), ANT_CICA_OK);
	/* So is any unaligned copy: validate must not assume alignment. */
	unsigned char *buf = malloc(ANT_CICA_SIZE + 1);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf + 1, page, ANT_CICA_SIZE);
	ck_fault(ant_cica_validate(buf + 1, ANT_CICA_SIZE, NSERVERS), ANT_CICA_OK);
	free(buf);
}
END_TEST

START_TEST(test_truncated)
{
	make_std_page();
	for (size_t len = 0; len < HDR; len++) {
		/* Exactly len bytes, so ASan catches any read past them. */
		unsigned char *buf = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, page, len);
		ck_fault(ant_cica_validate(buf, len, NSERVERS), ANT_CICA_TRUNCATED);
		free(buf);
	}
	ck_fault(ant_cica_validate(NULL, 0, NSERVERS), ANT_CICA_TRUNCATED);
}
END_TEST

START_TEST(test_too_long)
{
	static _Alignas(8) unsigned char big[2 * ANT_CICA_SIZE];

	make_std_page();
	memcpy(big, page, sizeof(page));
	ck_fault(ant_cica_validate(big, ANT_CICA_SIZE + 1, NSERVERS), ANT_CICA_TOO_LONG);
	ck_fault(ant_cica_validate(big, sizeof(big), NSERVERS), ANT_CICA_TOO_LONG);
}
END_TEST

START_TEST(test_bad_magic)
{
	make_std_page();
	HDR_SET(page, magic, ANT_CICA_MAGIC ^ 1u);
	ck_fault(check_std(), ANT_CICA_BAD_MAGIC);
}
END_TEST

START_TEST(test_bad_version)
{
	make_std_page();
	HDR_SET(page, version, ANT_CICA_VERSION + 1);
	ck_fault(check_std(), ANT_CICA_BAD_VERSION);
	HDR_SET(page, version, 0);
	ck_fault(check_std(), ANT_CICA_BAD_VERSION);
}
END_TEST

START_TEST(test_bad_hdr_size)
{
	make_std_page();
	HDR_SET(page, hdr_size, HDR - 8);
	ck_fault(check_std(), ANT_CICA_BAD_HDR_SIZE);
	HDR_SET(page, hdr_size, HDR + 8);
	ck_fault(check_std(), ANT_CICA_BAD_HDR_SIZE);
}
END_TEST

START_TEST(test_bad_used)
{
	make_std_page();
	uint32_t used = HDR_GET(page, used);

	/* Fewer bytes received than used claims. */
	ck_fault(ant_cica_validate(page, used - 1, NSERVERS), ANT_CICA_BAD_USED);
	HDR_SET(page, used, HDR - 1);
	ck_fault(check_std(), ANT_CICA_BAD_USED);
	HDR_SET(page, used, ANT_CICA_SIZE + 1);
	ck_fault(check_std(), ANT_CICA_BAD_USED);
	HDR_SET(page, used, UINT32_MAX);
	ck_fault(check_std(), ANT_CICA_BAD_USED);
}
END_TEST

START_TEST(test_bad_flags_header)
{
	make_std_page();
	HDR_SET(page, flags, ANT_CF_ALL + 1);
	ck_fault(check_std(), ANT_CICA_BAD_FLAGS);
}
END_TEST

START_TEST(test_bad_flags_data)
{
	make_std_page();
	HDR_SET(page, data_flags, 0x80000000u);
	ck_fault(check_std(), ANT_CICA_BAD_FLAGS);
}
END_TEST

START_TEST(test_bad_flags_frame)
{
	make_std_page();
	FRAME_SET(page, f1, flags, ANT_FF_ALL + 1);
	ck_fault(check_std(), ANT_CICA_BAD_FLAGS);
}
END_TEST

START_TEST(test_bad_trace)
{
	make_std_page();
	HDR_SET(page, trace_len, ANT_TRACE_MAX);
	ck_fault(check_std(), ANT_CICA_OK);
	HDR_SET(page, trace_len, ANT_TRACE_MAX + 1);
	ck_fault(check_std(), ANT_CICA_BAD_TRACE);
}
END_TEST

START_TEST(test_no_frames_nframes)
{
	make_std_page();
	HDR_SET(page, nframes, 0);
	ck_fault(check_std(), ANT_CICA_NO_FRAMES);
}
END_TEST

START_TEST(test_no_frames_currentp)
{
	make_std_page();
	HDR_SET(page, currentp, 0);
	ck_fault(check_std(), ANT_CICA_NO_FRAMES);
}
END_TEST

START_TEST(test_too_many_frames)
{
	make_std_page();
	HDR_SET(page, nframes, ANT_FRAMES_MAX + 1);
	ck_fault(check_std(), ANT_CICA_TOO_MANY_FRAMES);
	HDR_SET(page, nframes, UINT16_MAX);
	ck_fault(check_std(), ANT_CICA_TOO_MANY_FRAMES);
}
END_TEST

START_TEST(test_misaligned_currentp)
{
	make_std_page();
	HDR_SET(page, currentp, f2 + 4);
	ck_fault(check_std(), ANT_CICA_FRAME_MISALIGNED);
}
END_TEST

START_TEST(test_misaligned_prev)
{
	make_std_page();
	FRAME_SET(page, f2, prev, f1 + 2);
	ck_fault(check_std(), ANT_CICA_FRAME_MISALIGNED);
}
END_TEST

START_TEST(test_frame_in_header)
{
	make_std_page();
	FRAME_SET(page, f1, prev, 8);   /* aligned, below, but inside the header */
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
}
END_TEST

START_TEST(test_frame_past_used)
{
	make_std_page();
	uint32_t used = HDR_GET(page, used);

	/* currentp at the last aligned offset below used: no room for a frame. */
	HDR_SET(page, currentp, (uint16_t)((used - 8) & ~7u));
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
}
END_TEST

START_TEST(test_frame_beyond_page)
{
	make_std_page();
	/* A frame claimed at the very end of the page, used covering it. */
	HDR_SET(page, used, ANT_CICA_SIZE);
	HDR_SET(page, ret_off, 0);
	HDR_SET(page, ret_size, 0);
	HDR_SET(page, currentp, ANT_CICA_SIZE - 8);
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
	/* Fits its struct but its size runs past the page. */
	make_std_page();
	HDR_SET(page, used, ANT_CICA_SIZE);
	HDR_SET(page, ret_off, 0);
	HDR_SET(page, ret_size, 0);
	FRAME_SET(page, f2, size, (uint16_t)(ANT_CICA_SIZE - f2 + 8));
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
}
END_TEST

START_TEST(test_frame_size_small)
{
	make_std_page();
	FRAME_SET(page, f1, size, FRM - 8);
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
	make_std_page();
	FRAME_SET(page, f1, size, 0);
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
}
END_TEST

START_TEST(test_frame_size_odd)
{
	make_std_page();
	FRAME_SET(page, f0, size, FRAME_GET(page, f0, size) - 4);
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
}
END_TEST

START_TEST(test_frame_overlaps_above)
{
	make_std_page();
	/* Frame 1 grows into frame 2. */
	FRAME_SET(page, f1, size, FRAME_GET(page, f1, size) + 8);
	ck_fault(check_std(), ANT_CICA_FRAME_OUTSIDE);
}
END_TEST

START_TEST(test_cycle_self)
{
	make_std_page();
	FRAME_SET(page, f2, prev, f2);
	ck_fault(check_std(), ANT_CICA_CYCLE);
	make_std_page();
	FRAME_SET(page, f0, prev, f0);
	ck_fault(check_std(), ANT_CICA_CYCLE);
}
END_TEST

START_TEST(test_cycle_upward)
{
	make_std_page();
	FRAME_SET(page, f1, prev, f2);   /* f2 -> f1 -> f2 -> ... */
	ck_fault(check_std(), ANT_CICA_CYCLE);
	make_std_page();
	FRAME_SET(page, f0, prev, f1);
	ck_fault(check_std(), ANT_CICA_CYCLE);
}
END_TEST

START_TEST(test_chain_length)
{
	make_std_page();
	HDR_SET(page, nframes, 2);
	ck_fault(check_std(), ANT_CICA_CHAIN_LENGTH);
	HDR_SET(page, nframes, 4);
	ck_fault(check_std(), ANT_CICA_CHAIN_LENGTH);
	/* Cutting the chain short is a length fault, too. */
	make_std_page();
	FRAME_SET(page, f1, prev, 0);
	ck_fault(check_std(), ANT_CICA_CHAIN_LENGTH);
}
END_TEST

START_TEST(test_param_outside)
{
	uint16_t poff;

	make_std_page();
	poff = FRAME_GET(page, f1, param_off);
	ck_assert_uint_eq(poff, f1 + FRM);
	FRAME_SET(page, f1, param_off, poff - 1);   /* overlaps the frame struct */
	ck_fault(check_std(), ANT_CICA_PARAM_OUTSIDE);

	make_std_page();
	FRAME_SET(page, f1, param_size, FRAME_GET(page, f1, size) - FRM + 1);
	ck_fault(check_std(), ANT_CICA_PARAM_OUTSIDE);

	make_std_page();
	FRAME_SET(page, f0, param_off, f1 + FRM);   /* another frame's params */
	ck_fault(check_std(), ANT_CICA_PARAM_OUTSIDE);

	make_std_page();
	FRAME_SET(page, f2, param_off, 0);   /* size without an area */
	ck_fault(check_std(), ANT_CICA_PARAM_OUTSIDE);

	make_std_page();
	FRAME_SET(page, f2, param_off, UINT16_MAX);
	FRAME_SET(page, f2, param_size, UINT16_MAX);
	ck_fault(check_std(), ANT_CICA_PARAM_OUTSIDE);

	/* 0/0 is "no parameters"; an empty area inside the frame is fine. */
	make_std_page();
	FRAME_SET(page, f2, param_off, 0);
	FRAME_SET(page, f2, param_size, 0);
	ck_fault(check_std(), ANT_CICA_OK);
	FRAME_SET(page, f2, param_off, f2 + FRAME_GET(page, f2, size));
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_bad_op)
{
	char op[ANT_OP_MAX];

	make_std_page();
	FRAME_SET(page, f1, op[0], '\0');
	ck_fault(check_std(), ANT_CICA_BAD_OP);

	make_std_page();
	memset(op, 'x', sizeof(op));
	memcpy(page + f1 + offsetof(struct ant_frame, op), op, sizeof(op));
	ck_fault(check_std(), ANT_CICA_BAD_OP);

	/* ANT_OP_MAX - 1 characters and a NUL is the longest valid op. */
	op[ANT_OP_MAX - 1] = '\0';
	memcpy(page + f1 + offsetof(struct ant_frame, op), op, sizeof(op));
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_unknown_callee_zero)
{
	make_std_page();
	FRAME_SET(page, f0, callee, 0);
	ck_fault(check_std(), ANT_CICA_UNKNOWN_CALLEE);
}
END_TEST

START_TEST(test_unknown_callee_too_big)
{
	make_std_page();
	/* Callee 3 is valid with 3 servers, not with 2. */
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 3), ANT_CICA_OK);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 2), ANT_CICA_UNKNOWN_CALLEE);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 0), ANT_CICA_UNKNOWN_CALLEE);
	FRAME_SET(page, f1, callee, NSERVERS + 1);
	ck_fault(check_std(), ANT_CICA_UNKNOWN_CALLEE);
	/* Never beyond ANT_SERVERS_MAX, whatever nservers says. */
	FRAME_SET(page, f1, callee, ANT_SERVERS_MAX + 1);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 1000), ANT_CICA_UNKNOWN_CALLEE);
	FRAME_SET(page, f1, callee, ANT_SERVERS_MAX);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 1000), ANT_CICA_OK);
}
END_TEST

START_TEST(test_unknown_caller)
{
	make_std_page();
	FRAME_SET(page, f1, caller, ANT_SERVERS_MAX);
	ck_fault(check_std(), ANT_CICA_OK);
	FRAME_SET(page, f1, caller, ANT_SERVERS_MAX + 1);
	ck_fault(check_std(), ANT_CICA_UNKNOWN_CALLEE);
}
END_TEST

START_TEST(test_result_outside)
{
	uint16_t roff;

	make_std_page();
	roff = HDR_GET(page, ret_off);
	ck_assert_uint_eq(roff, f2 + FRAME_GET(page, f2, size));
	HDR_SET(page, ret_off, roff - 1);   /* overlaps the top frame */
	ck_fault(check_std(), ANT_CICA_RESULT_OUTSIDE);

	make_std_page();
	HDR_SET(page, ret_size, HDR_GET(page, ret_size) + 1);   /* past used */
	ck_fault(check_std(), ANT_CICA_RESULT_OUTSIDE);

	make_std_page();
	HDR_SET(page, ret_off, 0);   /* size without an area */
	ck_fault(check_std(), ANT_CICA_RESULT_OUTSIDE);

	make_std_page();
	HDR_SET(page, ret_off, UINT16_MAX);
	HDR_SET(page, ret_size, UINT16_MAX);
	ck_fault(check_std(), ANT_CICA_RESULT_OUTSIDE);

	make_std_page();
	HDR_SET(page, ret_off, 0);
	HDR_SET(page, ret_size, 0);
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_fault_str)
{
	for (int i = 0; i < ANT_CICA_FAULT_MAX; i++) {
		const char *s = ant_cica_fault_str((enum ant_cica_fault)i);

		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, "unknown fault");
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(s, ant_cica_fault_str((enum ant_cica_fault)j));
	}
	ck_assert_str_eq(ant_cica_fault_str(ANT_CICA_FRAME_OUTSIDE), "frame outside the page");
	ck_assert_str_eq(ant_cica_fault_str(ANT_CICA_CYCLE), "cycle in the frame chain");
	ck_assert_str_eq(ant_cica_fault_str(ANT_CICA_FAULT_MAX), "unknown fault");
	ck_assert_str_eq(ant_cica_fault_str((enum ant_cica_fault)-1), "unknown fault");
	ck_assert_str_eq(ant_cica_fault_str((enum ant_cica_fault)1000), "unknown fault");
}
END_TEST

/* ---- building pages ------------------------------------------------------ */

START_TEST(test_init_layout)
{
	static const char params[] = "abc";

	memset(page, 0xa5, sizeof(page));
	ck_assert_int_eq(ant_cica_init(page, 5, "stat", params, 3, ANT_FF_SYNC), 0);
	ck_assert_uint_eq(HDR_GET(page, magic), ANT_CICA_MAGIC);
	ck_assert_uint_eq(HDR_GET(page, version), ANT_CICA_VERSION);
	ck_assert_uint_eq(HDR_GET(page, hdr_size), HDR);
	ck_assert_uint_eq(HDR_GET(page, currentp), HDR);
	ck_assert_uint_eq(HDR_GET(page, nframes), 1);
	ck_assert_uint_eq(HDR_GET(page, used), HDR + FRM + 8);
	ck_assert_uint_eq(HDR_GET(page, ret_off), 0);
	ck_assert_uint_eq(HDR_GET(page, ret_size), 0);
	ck_assert_uint_eq(FRAME_GET(page, HDR, size), FRM + 8);
	ck_assert_uint_eq(FRAME_GET(page, HDR, prev), 0);
	ck_assert_uint_eq(FRAME_GET(page, HDR, callee), 5);
	ck_assert_uint_eq(FRAME_GET(page, HDR, caller), 0);
	ck_assert_uint_eq(FRAME_GET(page, HDR, flags), ANT_FF_SYNC);
	ck_assert_uint_eq(FRAME_GET(page, HDR, param_off), HDR + FRM);
	ck_assert_uint_eq(FRAME_GET(page, HDR, param_size), 3);
	ck_assert_mem_eq(page + HDR + FRM, "abc", 3);
	ck_assert_str_eq((const char *)page + HDR + offsetof(struct ant_frame, op), "stat");
	/* Everything else is cleared. */
	for (size_t i = HDR + FRM + 3; i < sizeof(page); i++)
		ck_assert_uint_eq(page[i], 0);
	ck_assert_ptr_eq(ant_cica_current(page), (void *)(page + HDR));
	ck_assert_ptr_eq(ant_cica_current_const(page), (const void *)(page + HDR));
	ck_assert_ptr_null(ant_cica_prev(page, ant_cica_current(page)));
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 5), ANT_CICA_OK);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 4), ANT_CICA_UNKNOWN_CALLEE);

	/* No parameters: 0/0. */
	ck_assert_int_eq(ant_cica_init(page, 1, "x", NULL, 0, 0), 0);
	ck_assert_uint_eq(FRAME_GET(page, HDR, param_off), 0);
	ck_assert_uint_eq(FRAME_GET(page, HDR, param_size), 0);
	ck_assert_uint_eq(HDR_GET(page, used), HDR + FRM);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 1), ANT_CICA_OK);
}
END_TEST

START_TEST(test_init_args)
{
	static char big[ANT_CICA_SIZE];
	char op15[ANT_OP_MAX], op16[ANT_OP_MAX + 1];

	memset(op15, 'o', sizeof(op15));
	op15[ANT_OP_MAX - 1] = '\0';
	memset(op16, 'o', sizeof(op16));
	op16[ANT_OP_MAX] = '\0';

	ck_assert_int_eq(ant_cica_init(page, 1, NULL, NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_init(page, 1, "", NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_init(page, 1, op16, NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_init(page, 0, "op", NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_init(page, ANT_SERVERS_MAX + 1, "op", NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_init(page, 1, "op", NULL, 0, ANT_FF_ALL + 1), -EINVAL);
	ck_assert_int_eq(ant_cica_init(page, 1, "op", NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_init(page, 1, op15, NULL, 0, ANT_FF_ALL), 0);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 1), ANT_CICA_OK);

	/* The parameters fill the page exactly, then one byte too many. */
	size_t fit = ANT_CICA_SIZE - HDR - FRM;
	ck_assert_int_eq(ant_cica_init(page, 1, "op", big, fit, 0), 0);
	ck_assert_uint_eq(HDR_GET(page, used), ANT_CICA_SIZE);
	ck_fault(ant_cica_validate(page, ANT_CICA_SIZE, 1), ANT_CICA_OK);
	ck_assert_int_eq(ant_cica_init(page, 1, "op", big, fit + 1, 0), -E2BIG);
	ck_assert_int_eq(ant_cica_init(page, 1, "op", big, SIZE_MAX, 0), -E2BIG);
}
END_TEST

/* Build a valid page of n frames; params of varying length. */
static void make_page_of(unsigned n)
{
	char params[24];

	memset(params, 'p', sizeof(params));
	ck_assert_int_eq(ant_cica_init(page, 1, "s0", params, 0, ANT_FF_SYNC), 0);
	for (unsigned i = 1; i < n; i++) {
		char op[8] = "s";
		op[1] = (char)('a' + i);
		ck_assert_int_eq(ant_cica_push(page, 1 + i % NSERVERS, op, params,
					       i % sizeof(params), ANT_FF_SYNC), 0);
	}
}

START_TEST(test_valid_1_to_16)
{
	for (unsigned n = 1; n <= ANT_FRAMES_MAX; n++) {
		make_page_of(n);
		ck_fault(check_std(), ANT_CICA_OK);
		ck_assert_uint_eq(HDR_GET(page, nframes), n);

		unsigned count = 0;
		uintptr_t last = UINTPTR_MAX;
		for (struct ant_frame *f = ant_cica_current(page); f; f = ant_cica_prev(page, f)) {
			ck_assert_uint_lt((uintptr_t)f, last);
			last = (uintptr_t)f;
			count++;
		}
		ck_assert_uint_eq(count, n);
	}
}
END_TEST

START_TEST(test_push_too_many)
{
	static unsigned char copy[ANT_CICA_SIZE];

	make_page_of(ANT_FRAMES_MAX);
	memcpy(copy, page, sizeof(page));
	ck_assert_int_eq(ant_cica_push(page, 1, "more", NULL, 0, 0), -E2BIG);
	ck_assert_mem_eq(page, copy, sizeof(page));
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_push_beyond_page)
{
	static char big[ANT_CICA_SIZE];
	static unsigned char copy[ANT_CICA_SIZE];
	size_t first = 3000;

	ck_assert_int_eq(ant_cica_init(page, 1, "big", big, first, 0), 0);
	uint32_t room = ANT_CICA_SIZE - HDR_GET(page, used);
	memcpy(copy, page, sizeof(page));
	ck_assert_int_eq(ant_cica_push(page, 2, "next", big, room - FRM + 1, 0), -E2BIG);
	ck_assert_mem_eq(page, copy, sizeof(page));
	ck_assert_int_eq(ant_cica_push(page, 2, "next", big, SIZE_MAX, 0), -E2BIG);
	ck_assert_mem_eq(page, copy, sizeof(page));
	/* Exactly the remaining room fits. */
	ck_assert_int_eq(ant_cica_push(page, 2, "next", big, room - FRM, 0), 0);
	ck_assert_uint_eq(HDR_GET(page, used), ANT_CICA_SIZE);
	ck_fault(check_std(), ANT_CICA_OK);
	/* Nothing more, not even an empty frame. */
	ck_assert_int_eq(ant_cica_push(page, 2, "next", NULL, 0, 0), -E2BIG);
	/* A result does not fit either, but an empty one does. */
	ck_assert_int_eq(ant_cica_set_result(page, 1, "x", 1), -E2BIG);
	ck_assert_int_eq(ant_cica_set_result(page, 1, NULL, 0), 0);
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_push_args)
{
	make_page_of(2);
	ck_assert_int_eq(ant_cica_push(page, 0, "op", NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_push(page, 1, "", NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_push(page, 1, NULL, NULL, 0, 0), -EINVAL);
	ck_assert_int_eq(ant_cica_push(page, 1, "op", NULL, 0, 8), -EINVAL);
	ck_assert_uint_eq(HDR_GET(page, nframes), 2);
}
END_TEST

START_TEST(test_push_drops_result)
{
	make_std_page();
	uint32_t used = HDR_GET(page, used);
	ck_assert_int_eq(ant_cica_push(page, 4, "w", NULL, 0, 0), 0);
	ck_assert_uint_eq(HDR_GET(page, ret_off), 0);
	ck_assert_uint_eq(HDR_GET(page, ret_size), 0);
	uint32_t nused = HDR_GET(page, used);
	ck_assert_uint_eq(nused, f2 + FRAME_GET(page, f2, size) + FRM);
	/* The dropped result's bytes do not linger past the new frame. */
	for (uint32_t i = nused; i < used; i++)
		ck_assert_uint_eq(page[i], 0);
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

/* Forwarding the current frame's parameters to the next stage. */
START_TEST(test_push_params_from_page)
{
	make_std_page();
	uint16_t poff = FRAME_GET(page, f2, param_off);
	uint16_t psize = FRAME_GET(page, f2, param_size);
	unsigned char want[64];

	memcpy(want, page + poff, psize);
	ck_assert_int_eq(ant_cica_push(page, 1, "fwd", page + poff, psize, 0), 0);
	const struct ant_frame *top = ant_cica_current_const(page);
	ck_assert_mem_eq(page + top->param_off, want, psize);
	ck_fault(check_std(), ANT_CICA_OK);

	/* Forwarding the result as the next stage's parameters. */
	make_std_page();
	uint16_t roff = HDR_GET(page, ret_off), rsize = HDR_GET(page, ret_size);
	ck_assert_int_eq(ant_cica_push(page, 1, "fwd", page + roff, rsize, 0), 0);
	top = ant_cica_current_const(page);
	ck_assert_mem_eq(page + top->param_off, result_bytes, sizeof(result_bytes));
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_result_pop)
{
	make_std_page();
	ck_assert_int_eq(HDR_GET(page, retval), 7);
	ck_assert_uint_eq(HDR_GET(page, ret_size), sizeof(result_bytes));

	ant_cica_pop(page);
	ck_fault(check_std(), ANT_CICA_OK);
	ck_assert_uint_eq(HDR_GET(page, nframes), 2);
	ck_assert_uint_eq(HDR_GET(page, currentp), f1);
	uint16_t roff = HDR_GET(page, ret_off);
	ck_assert_uint_eq(roff, f1 + FRAME_GET(page, f1, size));
	ck_assert_uint_eq(HDR_GET(page, ret_size), sizeof(result_bytes));
	ck_assert_mem_eq(page + roff, result_bytes, sizeof(result_bytes));
	ck_assert_uint_eq(HDR_GET(page, used), roff + sizeof(result_bytes));
	ck_assert_int_eq(HDR_GET(page, retval), 7);

	ant_cica_pop(page);
	ck_fault(check_std(), ANT_CICA_OK);
	ck_assert_uint_eq(HDR_GET(page, nframes), 1);
	roff = HDR_GET(page, ret_off);
	ck_assert_uint_eq(roff, f0 + FRAME_GET(page, f0, size));
	ck_assert_mem_eq(page + roff, result_bytes, sizeof(result_bytes));
	/* Everything past used was wiped. */
	for (size_t i = HDR_GET(page, used); i < sizeof(page); i++)
		ck_assert_uint_eq(page[i], 0);

	/* The last frame is never popped. */
	ant_cica_pop(page);
	ck_assert_uint_eq(HDR_GET(page, nframes), 1);
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_pop_without_result)
{
	make_std_page();
	ck_assert_int_eq(ant_cica_set_result(page, -3, NULL, 0), 0);
	ck_assert_uint_eq(HDR_GET(page, ret_off), 0);
	ck_assert_uint_eq(HDR_GET(page, ret_size), 0);
	ck_assert_uint_eq(HDR_GET(page, used), f2 + FRAME_GET(page, f2, size));
	ant_cica_pop(page);
	ck_fault(check_std(), ANT_CICA_OK);
	ck_assert_uint_eq(HDR_GET(page, used), f1 + FRAME_GET(page, f1, size));
	ck_assert_uint_eq(HDR_GET(page, ret_off), 0);
	ck_assert_int_eq(HDR_GET(page, retval), -3);
}
END_TEST

START_TEST(test_set_result_replaces)
{
	make_std_page();
	/* A shorter second result leaves no trace of the first. */
	ck_assert_int_eq(ant_cica_set_result(page, 1, "ab", 2), 0);
	uint16_t roff = HDR_GET(page, ret_off);
	ck_assert_uint_eq(HDR_GET(page, used), roff + 2u);
	for (size_t i = roff + 2u; i < sizeof(page); i++)
		ck_assert_uint_eq(page[i], 0);
	ck_fault(check_std(), ANT_CICA_OK);
	/* The largest result that fits, then one byte more. */
	static char big[ANT_CICA_SIZE];
	size_t room = ANT_CICA_SIZE - roff;
	ck_assert_int_eq(ant_cica_set_result(page, 1, big, room + 1), -E2BIG);
	ck_assert_int_eq(ant_cica_set_result(page, 1, big, room), 0);
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

START_TEST(test_trace)
{
	make_std_page();
	for (unsigned i = 0; i < ANT_TRACE_MAX; i++)
		ant_cica_trace(page, i % (ANT_SERVERS_MAX + 1));
	ck_assert_uint_eq(HDR_GET(page, trace_len), ANT_TRACE_MAX);
	ck_assert_uint_eq(HDR_GET(page, flags) & ANT_CF_TRACE_FULL, 0);
	ck_assert_uint_eq(HDR_GET(page, trace[5]), 5);
	ant_cica_trace(page, 9);
	ck_assert_uint_eq(HDR_GET(page, trace_len), ANT_TRACE_MAX);
	ck_assert_uint_eq(HDR_GET(page, flags) & ANT_CF_TRACE_FULL, ANT_CF_TRACE_FULL);
	ck_fault(check_std(), ANT_CICA_OK);
}
END_TEST

/* ---- fuzzing ------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure replays. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint32_t rnd_below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

/* An independent re-check of what a valid page promises its users. */
static void assert_invariants(const unsigned char *pg, size_t len, unsigned nservers)
{
	struct ant_cica_hdr h;

	ck_assert_uint_ge(len, sizeof(h));
	ck_assert_uint_le(len, ANT_CICA_SIZE);
	memcpy(&h, pg, sizeof(h));
	ck_assert_uint_le(h.used, len);
	ck_assert_uint_ge(h.nframes, 1);
	ck_assert_uint_le(h.nframes, ANT_FRAMES_MAX);
	ck_assert_uint_le(h.trace_len, ANT_TRACE_MAX);

	uint32_t off = h.currentp, above = 0, top_end = 0;
	unsigned count = 0;
	while (off != 0) {
		struct ant_frame f;
		uint32_t limit = above ? above : h.used;   /* the frame above, or used */

		ck_assert_uint_le(++count, h.nframes);
		ck_assert_uint_eq(off % 8, 0);
		ck_assert_uint_ge(off, h.hdr_size);
		ck_assert_uint_lt(off, limit);
		ck_assert_uint_le(off + sizeof(f), limit);
		memcpy(&f, pg + off, sizeof(f));
		ck_assert_uint_le(off + f.size, limit);
		ck_assert_uint_eq(f.size % 8, 0);
		ck_assert_uint_ge(f.size, sizeof(f));
		if (count == 1)
			top_end = off + f.size;
		if (f.param_size) {
			ck_assert_uint_ge(f.param_off, off + sizeof(f));
			ck_assert_uint_le(f.param_off + f.param_size, off + f.size);
		}
		ck_assert_ptr_nonnull(memchr(f.op, 0, sizeof(f.op)));
		ck_assert_uint_ne(f.op[0], 0);
		ck_assert_uint_ge(f.callee, 1);
		ck_assert_uint_le(f.callee, nservers);
		ck_assert_uint_eq(f.flags & ~ANT_FF_ALL, 0);
		above = off;
		off = f.prev;
	}
	ck_assert_uint_eq(count, h.nframes);
	if (h.ret_size) {
		ck_assert_uint_ge(h.ret_off, top_end);
		ck_assert_uint_le(h.ret_off + h.ret_size, h.used);
	}
}

/* A random valid page: 1..6 frames, random params, maybe a result. */
static void make_random_page(void)
{
	unsigned char params[200];
	unsigned n = 1 + rnd_below(6);

	for (size_t i = 0; i < sizeof(params); i++)
		params[i] = (unsigned char)rnd();
	ck_assert_int_eq(ant_cica_init(page, 1 + rnd_below(NSERVERS), "op", params,
				       rnd_below(sizeof(params)), rnd() & ANT_FF_ALL), 0);
	for (unsigned i = 1; i < n; i++)
		ck_assert_int_eq(ant_cica_push(page, 1 + rnd_below(NSERVERS), "stage",
					       params, rnd_below(sizeof(params)),
					       rnd() & ANT_FF_ALL), 0);
	if (rnd() & 1)
		ck_assert_int_eq(ant_cica_set_result(page, (int32_t)rnd(), params,
						     rnd_below(sizeof(params))), 0);
}

/* Mutations aimed where the validator looks: header and frame fields. */
static void mutate(void)
{
	uint32_t used = HDR_GET(page, used);
	uint32_t span = used + 64 < ANT_CICA_SIZE ? used + 64 : ANT_CICA_SIZE;
	uint16_t cur = HDR_GET(page, currentp);
	uint16_t v16 = (uint16_t)rnd();

	switch (rnd_below(10)) {
	case 0: /* a random byte anywhere near the used part */
		page[rnd_below(span)] = (unsigned char)rnd();
		break;
	case 1: /* a random bit in the header */
		page[rnd_below(HDR)] ^= (unsigned char)(1u << rnd_below(8));
		break;
	case 2: /* a header offset field, small delta or any value */
		v16 = (rnd() & 1) ? (uint16_t)(HDR_GET(page, currentp) + (int)rnd_below(33) - 16) : v16;
		switch (rnd_below(4)) {
		case 0: HDR_SET(page, currentp, v16); break;
		case 1: HDR_SET(page, ret_off, v16); break;
		case 2: HDR_SET(page, ret_size, v16); break;
		default: HDR_SET(page, nframes, (uint16_t)rnd_below(20)); break;
		}
		break;
	case 3:
		HDR_SET(page, used, (rnd() & 1) ? used + (int)rnd_below(33) - 16 : rnd());
		break;
	default: { /* a field of a random frame of the chain */
		uint32_t off = cur;
		for (unsigned k = rnd_below(4); k > 0 && off >= HDR && off + FRM <= ANT_CICA_SIZE; k--) {
			uint16_t p = FRAME_GET(page, off, prev);
			if (p == 0)
				break;
			off = p;
		}
		if (off + FRM > ANT_CICA_SIZE)
			break;
		uint16_t delta = (uint16_t)((int)rnd_below(33) - 16);
		switch (rnd_below(7)) {
		case 0: FRAME_SET(page, off, prev, (rnd() & 1) ? (uint16_t)(FRAME_GET(page, off, prev) + delta) : v16); break;
		case 1: FRAME_SET(page, off, size, (rnd() & 1) ? (uint16_t)(FRAME_GET(page, off, size) + delta) : v16); break;
		case 2: FRAME_SET(page, off, param_off, (uint16_t)(FRAME_GET(page, off, param_off) + delta)); break;
		case 3: FRAME_SET(page, off, param_size, (uint16_t)(FRAME_GET(page, off, param_size) + delta)); break;
		case 4: FRAME_SET(page, off, callee, (uint16_t)rnd_below(8)); break;
		case 5: FRAME_SET(page, off, flags, 1u << rnd_below(5)); break;
		default: page[off + offsetof(struct ant_frame, op) + rnd_below(ANT_OP_MAX)] = (unsigned char)rnd_below(3); break;
		}
		break;
	}
	}
}

START_TEST(test_fuzz)
{
	static _Alignas(8) unsigned char work[ANT_CICA_SIZE];
	unsigned ok = 0, rejected = 0;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int iter = 0; iter < 20000; iter++) {
		make_random_page();
		for (unsigned m = 1 + rnd_below(3); m > 0; m--)
			mutate();

		/* Hand over exactly len bytes, sometimes unaligned, so ASan
		 * catches any read outside page[0..len). */
		size_t used = HDR_GET(page, used);
		size_t len;
		switch (rnd_below(4)) {
		case 0: len = ANT_CICA_SIZE; break;
		case 1: len = used <= ANT_CICA_SIZE ? used : ANT_CICA_SIZE; break;
		case 2: len = rnd_below(ANT_CICA_SIZE + 1); break;
		default: len = used > 8 && used <= ANT_CICA_SIZE ? used - rnd_below(8) : used % ANT_CICA_SIZE; break;
		}
		unsigned shift = rnd() & 1 ? 1 : 0;
		unsigned char *buf = malloc(len + shift ? len + shift : 1);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf + shift, page, len);
		enum ant_cica_fault f = ant_cica_validate(buf + shift, len, NSERVERS);
		ck_assert_int_ge(f, ANT_CICA_OK);
		ck_assert_int_lt(f, ANT_CICA_FAULT_MAX);
		if (f != ANT_CICA_OK) {
			rejected++;
			free(buf);
			continue;
		}
		ok++;
		assert_invariants(buf + shift, len, NSERVERS);

		/* Editing a valid page keeps it valid. */
		memset(work, 0, sizeof(work));
		memcpy(work, buf + shift, len);
		free(buf);
		switch (rnd_below(4)) {
		case 0:
			ant_cica_pop(work);
			break;
		case 1:
			(void)ant_cica_set_result(work, 1, "result", rnd_below(7));
			break;
		case 2:
			(void)ant_cica_push(work, 1 + rnd_below(NSERVERS), "p", "xyz",
					    rnd_below(4), 0);
			break;
		default:
			ant_cica_trace(work, rnd_below(ANT_SERVERS_MAX + 1));
			break;
		}
		ck_fault(ant_cica_validate(work, ANT_CICA_SIZE, NSERVERS), ANT_CICA_OK);
		assert_invariants(work, ANT_CICA_SIZE, NSERVERS);
	}
	/* The mutations must exercise both outcomes. */
	ck_assert_uint_gt(ok, 1000);
	ck_assert_uint_gt(rejected, 1000);
}
END_TEST

/* ---- error names --------------------------------------------------------- */

START_TEST(test_errname)
{
	static const struct { int code; const char *name, *desc; } tab[] = {
		{ ANT_E_SERVER_FAILED, "ANT_E_SERVER_FAILED", "server failed while holding the call" },
		{ ANT_E_DEADLINE, "ANT_E_DEADLINE", "deadline exceeded" },
		{ ANT_E_NO_SERVER, "ANT_E_NO_SERVER", "no such server" },
		{ ANT_E_NO_OP, "ANT_E_NO_OP", "no such op" },
		{ ANT_E_DENIED, "ANT_E_DENIED", "denied: caller may not call this server" },
		{ ANT_E_BAD_REQUEST, "ANT_E_BAD_REQUEST", "bad request" },
		{ ANT_E_SHUTDOWN, "ANT_E_SHUTDOWN", "stack shutting down" },
		{ ANT_E_PROTOCOL, "ANT_E_PROTOCOL", "protocol violation" },
		{ ANT_E_NO_ICA, "ANT_E_NO_ICA", "no ICA available" },
		{ ANT_E_TOO_BIG, "ANT_E_TOO_BIG", "answer does not fit the control ICA" },
		{ ANT_E_LIMIT, "ANT_E_LIMIT", "over a limit of the stack" },
		{ ANT_E_SERVER_STOPPED, "ANT_E_SERVER_STOPPED", "server stopped by the operator" },
		{ ANT_E_CANCELLED, "ANT_E_CANCELLED", "call cancelled by its caller" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		ck_assert_str_eq(ant_errname(tab[i].code), tab[i].name);
		ck_assert_str_eq(ant_strerror(tab[i].code), tab[i].desc);
	}
	ck_assert_str_eq(ant_errname(-ENOENT), "ENOENT");
	ck_assert_str_eq(ant_errname(-EINVAL), "EINVAL");
	ck_assert_str_eq(ant_errname(-E2BIG), "E2BIG");
	ck_assert_str_eq(ant_strerror(-ENOENT), "No such file or directory");
	ck_assert_str_eq(ant_strerror(-EINVAL), "Invalid argument");

	static const int unknown[] = { 0, 1, ENOENT, 5000, -1000, -1014, -5000, INT_MIN, INT_MAX };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		ck_assert_str_eq(ant_errname(unknown[i]), "UNKNOWN");
		ck_assert_str_eq(ant_strerror(unknown[i]), "unknown error");
	}
}
END_TEST

Suite *cica_suite(void);

Suite *cica_suite(void)
{
	Suite *s = suite_create("cica");
	TCase *tc;

	tc = tcase_create("faults");
	tcase_add_test(tc, test_valid_std);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_too_long);
	tcase_add_test(tc, test_bad_magic);
	tcase_add_test(tc, test_bad_version);
	tcase_add_test(tc, test_bad_hdr_size);
	tcase_add_test(tc, test_bad_used);
	tcase_add_test(tc, test_bad_flags_header);
	tcase_add_test(tc, test_bad_flags_data);
	tcase_add_test(tc, test_bad_flags_frame);
	tcase_add_test(tc, test_bad_trace);
	tcase_add_test(tc, test_no_frames_nframes);
	tcase_add_test(tc, test_no_frames_currentp);
	tcase_add_test(tc, test_too_many_frames);
	tcase_add_test(tc, test_misaligned_currentp);
	tcase_add_test(tc, test_misaligned_prev);
	tcase_add_test(tc, test_frame_in_header);
	tcase_add_test(tc, test_frame_past_used);
	tcase_add_test(tc, test_frame_beyond_page);
	tcase_add_test(tc, test_frame_size_small);
	tcase_add_test(tc, test_frame_size_odd);
	tcase_add_test(tc, test_frame_overlaps_above);
	tcase_add_test(tc, test_cycle_self);
	tcase_add_test(tc, test_cycle_upward);
	tcase_add_test(tc, test_chain_length);
	tcase_add_test(tc, test_param_outside);
	tcase_add_test(tc, test_bad_op);
	tcase_add_test(tc, test_unknown_callee_zero);
	tcase_add_test(tc, test_unknown_callee_too_big);
	tcase_add_test(tc, test_unknown_caller);
	tcase_add_test(tc, test_result_outside);
	tcase_add_test(tc, test_fault_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_test(tc, test_init_layout);
	tcase_add_test(tc, test_init_args);
	tcase_add_test(tc, test_valid_1_to_16);
	tcase_add_test(tc, test_push_too_many);
	tcase_add_test(tc, test_push_beyond_page);
	tcase_add_test(tc, test_push_args);
	tcase_add_test(tc, test_push_drops_result);
	tcase_add_test(tc, test_push_params_from_page);
	tcase_add_test(tc, test_result_pop);
	tcase_add_test(tc, test_pop_without_result);
	tcase_add_test(tc, test_set_result_replaces);
	tcase_add_test(tc, test_trace);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fuzz);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_errname);
	suite_add_tcase(s, tc);

	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(cica_suite)
