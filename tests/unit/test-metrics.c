/* test-metrics.c - a server's counters for scrapers (supervisor/metrics.c): ops, codes, histogram, bounds. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ant/errors.h"
#include "metrics.h"

static json_int_t op_count(json_t *j, const char *op, const char *what)
{
	return json_integer_value(json_object_get(json_object_get(json_object_get(j, "ops"), op), what));
}

START_TEST(answers_are_counted_by_op_and_errors_by_code)
{
	static struct server_metrics m;
	memset(&m, 0, sizeof(m));
	metrics_answered(&m, "read", 4096);
	metrics_answered(&m, "read", 0);
	metrics_answered(&m, "read", -5);                 /* EIO */
	metrics_answered(&m, "write", ANT_E_NO_OP);
	metrics_answered(&m, "write", -5000);             /* a server's own code: no name */
	json_t *j = metrics_json(&m);
	ck_assert_int_eq(op_count(j, "read", "answered"), 3);
	ck_assert_int_eq(op_count(j, "read", "errors"), 1);
	ck_assert_int_eq(op_count(j, "write", "answered"), 2);
	ck_assert_int_eq(op_count(j, "write", "errors"), 2);
	json_t *codes = json_object_get(j, "error_codes");
	ck_assert_int_eq(json_object_size(codes), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(codes, "EIO")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(codes, "ANT_E_NO_OP")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(codes, "-5000")), 1);
	json_decref(j);
}
END_TEST

START_TEST(past_the_table_ops_and_codes_count_as_other)
{
	static struct server_metrics m;
	memset(&m, 0, sizeof(m));
	char op[32];
	for (int i = 0; i < METRICS_OPS + 5; i++) {
		snprintf(op, sizeof(op), "op%d", i);
		metrics_answered(&m, op, -(1000 + i));   /* each its own code too */
	}
	metrics_answered(&m, "op0", 1);                 /* a known op still counts as itself */
	json_t *j = metrics_json(&m);
	ck_assert_int_eq(json_object_size(json_object_get(j, "ops")), METRICS_OPS + 1);
	ck_assert_int_eq(op_count(j, "op0", "answered"), 2);
	ck_assert_int_eq(op_count(j, "(other)", "answered"), 5);
	ck_assert_int_eq(op_count(j, "(other)", "errors"), 5);
	json_t *codes = json_object_get(j, "error_codes");
	ck_assert_int_eq(json_object_size(codes), METRICS_CODES + 1);
	json_int_t sum = 0;
	const char *k;
	json_t *v;
	json_object_foreach(codes, k, v)
		sum += json_integer_value(v);
	ck_assert_int_eq(sum, METRICS_OPS + 5);        /* no error lost */
	json_decref(j);
}
END_TEST

START_TEST(an_op_of_any_bytes_becomes_a_printable_key)
{
	static struct server_metrics m;
	memset(&m, 0, sizeof(m));
	metrics_answered(&m, "\xff\xfe" "bad", 0);
	metrics_answered(&m, "\x01\x02" "bad", 0);     /* the same key once printable: added up */
	char longest[ANT_OP_MAX + 8];
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	metrics_answered(&m, longest, 0);               /* cut at ANT_OP_MAX - 1 */
	json_t *j = metrics_json(&m);
	ck_assert_int_eq(op_count(j, "??bad", "answered"), 2);
	ck_assert_int_eq(json_object_size(json_object_get(j, "ops")), 2);
	char *text = json_dumps(j, 0);
	ck_assert_ptr_nonnull(text);                   /* valid JSON, every key UTF-8 */
	free(text);
	json_decref(j);
}
END_TEST

START_TEST(service_times_fall_in_their_buckets)
{
	static struct server_metrics m;
	memset(&m, 0, sizeof(m));
	metrics_took(&m, 0);
	metrics_took(&m, 25);              /* on a bound: that bucket */
	metrics_took(&m, 26);
	metrics_took(&m, 10000000);        /* the last finite bound */
	metrics_took(&m, 10000001);        /* +Inf */
	metrics_took(&m, UINT32_MAX);
	ck_assert_uint_eq(m.hist[0], 2);
	ck_assert_uint_eq(m.hist[1], 1);
	ck_assert_uint_eq(m.hist[METRICS_BUCKETS - 2], 1);
	ck_assert_uint_eq(m.hist[METRICS_BUCKETS - 1], 2);
	ck_assert_uint_eq(m.hist_n, 6);
	ck_assert_uint_eq(m.hist_sum_us, 0 + 25 + 26 + 10000000ull + 10000001ull + UINT32_MAX);
	for (unsigned b = 1; b < METRICS_BUCKETS - 1; b++)
		ck_assert_uint_gt(metrics_le_us[b], metrics_le_us[b - 1]);
	json_t *j = metrics_json(&m);
	json_t *h = json_object_get(j, "service_us");
	ck_assert_int_eq(json_array_size(json_object_get(h, "le")), METRICS_BUCKETS - 1);
	ck_assert_int_eq(json_array_size(json_object_get(h, "counts")), METRICS_BUCKETS);
	ck_assert_int_eq(json_integer_value(json_object_get(h, "count")), 6);
	json_decref(j);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, answers_are_counted_by_op_and_errors_by_code);
	tcase_add_test(tc, past_the_table_ops_and_codes_count_as_other);
	tcase_add_test(tc, an_op_of_any_bytes_becomes_a_printable_key);
	tcase_add_test(tc, service_times_fall_in_their_buckets);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(metrics_suite)
