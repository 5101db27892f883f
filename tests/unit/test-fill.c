/* test-fill.c - the fill op's runs (servers/fill.c): made, written and read back, every malformed one refused. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fill.h"

static int parse_text(const char *text, struct fill *f, const char **why)
{
	struct ant_item it;
	memset(&it, 0, sizeof(it));
	it.params = text;
	it.nparams = strlen(text);
	return fill_parse(&it, f, why);
}

START_TEST(runs_that_go_on_are_merged_and_read_back_the_same)
{
	struct fill f;
	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(fill_add(&f, 8192, 4096), 0);
	ck_assert_int_eq(fill_add(&f, 12288, 4096), 0);        /* goes on: merged */
	ck_assert_int_eq(fill_add(&f, FILL_ZERO, 4096), 0);
	ck_assert_int_eq(fill_add(&f, FILL_ZERO, 100), 0);     /* zeros after zeros: merged */
	ck_assert_int_eq(fill_add(&f, 1 << 20, 0), 0);         /* nothing: no run */
	ck_assert_int_eq(fill_add(&f, 1 << 20, 77), 0);
	ck_assert_uint_eq(f.n, 3);
	ck_assert_uint_eq(f.total, 8192 + 4196 + 77);
	char text[FILL_TEXT_MAX];
	int n = fill_format(&f, text, sizeof(text));
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(text, "8192 8192 z 4196 1048576 77");
	struct fill back;
	const char *why = "unset";
	ck_assert_int_eq(parse_text(text, &back, &why), 0);
	ck_assert_ptr_null(why);
	ck_assert_uint_eq(back.n, 3);
	ck_assert_uint_eq(back.total, f.total);
	ck_assert(memcmp(back.run, f.run, 3 * sizeof(f.run[0])) == 0);
	/* Too small a buffer for the text. */
	ck_assert_int_eq(fill_format(&f, text, 10), -E2BIG);
}
END_TEST

START_TEST(a_full_fill_takes_no_more_runs)
{
	struct fill f;
	memset(&f, 0, sizeof(f));
	for (unsigned i = 0; i < FILL_RUNS_MAX; i++)
		ck_assert_int_eq(fill_add(&f, (uint64_t)i * 8192, 4096), 0);   /* each apart */
	ck_assert_int_eq(fill_add(&f, 1 << 30, 1), -E2BIG);
	ck_assert_int_eq(fill_add(&f, (FILL_RUNS_MAX - 1) * 8192ull + 4096, 1), 0);   /* merges */
	char text[FILL_TEXT_MAX];
	ck_assert_int_gt(fill_format(&f, text, sizeof(text)), 0);
	struct fill back;
	const char *why;
	ck_assert_int_eq(parse_text(text, &back, &why), 0);
	ck_assert_uint_eq(back.n, FILL_RUNS_MAX);
}
END_TEST

START_TEST(every_malformed_fill_is_refused_with_a_reason)
{
	static const char *const bad[] = {
		"", " ", "z", "5", "5 ", "5 0", " 5 5", "5  5", "5 5 ", "5 5  6 6", "-1 5", "+1 5",
		"1 +5", "1 5x", "y 5", "zz 5", "z5", "0x10 5", "1 5\n",
		"9223372036854775807 1",          /* past any image */
		"99999999999999999999 1",         /* overflows */
		"0 67108865", "z 67108864 z 1",   /* over 64 MiB */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fill f;
		const char *why = NULL;
		ck_assert_msg(parse_text(bad[i], &f, &why) == -1, "'%s' was taken", bad[i]);
		ck_assert_ptr_nonnull(why);
		ck_assert_ptr_nonnull(strstr(why, "SRC LEN"));
	}
	/* 65 runs. */
	char many[1024] = "";
	for (int i = 0; i < 65; i++)
		strcat(many, i ? " 0 1" : "0 1");
	struct fill f;
	const char *why;
	ck_assert_int_eq(parse_text(many, &f, &why), -1);
	many[strlen(many) - 4] = '\0';   /* 64: taken */
	ck_assert_int_eq(parse_text(many, &f, &why), 0);
	ck_assert_uint_eq(f.n, 64);
	/* A NUL inside the text ends nothing: it is refused. */
	struct ant_item it;
	memset(&it, 0, sizeof(it));
	it.params = "0 5\0 7";
	it.nparams = 6;
	ck_assert_int_eq(fill_parse(&it, &f, &why), -1);
	ck_assert_int_eq(parse_text("z 64 9223372036854775806 1", &f, &why), 0);
}
END_TEST

/* The image is byte i = i % 253 here. */
static int copy_pattern(uint64_t src, size_t len, unsigned char *dst, void *arg)
{
	unsigned *calls = arg;
	(*calls)++;
	if (src == 666)
		return -5;
	for (size_t i = 0; i < len; i++)
		dst[i] = (unsigned char)((src + i) % 253);
	return 0;
}

START_TEST(applying_puts_each_run_after_the_last)
{
	struct fill f;
	const char *why;
	ck_assert_int_eq(parse_text("1000 300 z 200 5000 100", &f, &why), 0);
	unsigned char area[700];
	memset(area, 0xee, sizeof(area));
	unsigned calls = 0;
	ck_assert_int_eq(fill_apply(&f, area, copy_pattern, &calls), 0);
	ck_assert_uint_eq(calls, 2);   /* holes are not asked for */
	for (unsigned i = 0; i < 300; i++)
		ck_assert_uint_eq(area[i], (1000 + i) % 253);
	for (unsigned i = 300; i < 500; i++)
		ck_assert_uint_eq(area[i], 0);
	for (unsigned i = 500; i < 600; i++)
		ck_assert_uint_eq(area[i], (5000 + i - 500) % 253);
	ck_assert_uint_eq(area[600], 0xee);   /* nothing past the total */
	/* A copy that fails: its error is the fill's. */
	ck_assert_int_eq(parse_text("1 1 666 5", &f, &why), 0);
	ck_assert_int_eq(fill_apply(&f, area, copy_pattern, &calls), -5);
}
END_TEST

static Suite *fill_suite(void)
{
	Suite *s = suite_create("fill");
	TCase *tc = tcase_create("fill");
	tcase_add_test(tc, runs_that_go_on_are_merged_and_read_back_the_same);
	tcase_add_test(tc, a_full_fill_takes_no_more_runs);
	tcase_add_test(tc, every_malformed_fill_is_refused_with_a_reason);
	tcase_add_test(tc, applying_puts_each_run_after_the_last);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(fill_suite)
