/* test-txn.c - the transaction format fs sends and the disk logs: every malformed one is refused. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "txn.h"

/* A sound transaction of n units at offsets off (bytes), unit i filled with i. */
static unsigned char *make(uint32_t n, const uint64_t *off, size_t *len)
{
	size_t data_off = txn_data_off(n);
	*len = data_off + (size_t)n * TXN_UNIT;
	unsigned char *p = calloc(1, *len);
	struct txn_hdr h = { .magic = TXN_MAGIC, .version = TXN_VERSION, .id = { 7, 9 },
			     .nunits = n, .data_off = (uint32_t)data_off, .total = *len };
	memcpy(p, &h, sizeof(h));
	memcpy(p + sizeof(h), off, n * sizeof(*off));
	for (uint32_t i = 0; i < n; i++)
		memset(p + data_off + (size_t)i * TXN_UNIT, (int)i, TXN_UNIT);
	return p;
}

static const uint64_t offs[3] = { 0, 8192, 1 << 20 };

START_TEST(a_sound_transaction_passes)
{
	size_t len;
	unsigned char *p = make(3, offs, &len);
	ck_assert_ptr_null(txn_check(p, len, 2 << 20));
	ck_assert_ptr_null(txn_check(p, len, 0));   /* no image size known: no bound */
	ck_assert_uint_eq(txn_offs(p)[2], 1 << 20);
	ck_assert_uint_eq(((const unsigned char *)txn_unit(p, 2))[100], 2);
	ck_assert_uint_eq(txn_data_off(3), TXN_UNIT);
	ck_assert_uint_eq(txn_data_off(600), 2 * TXN_UNIT);   /* 32 + 4800 bytes */
	free(p);
}
END_TEST

/* Mangle one field of a sound transaction and expect words of the reason. */
static void expect_refused(void (*mangle)(unsigned char *p, size_t *len), const char *why)
{
	size_t len;
	unsigned char *p = make(3, offs, &len);
	mangle(p, &len);
	const char *r = txn_check(p, len, 2 << 20);
	ck_assert_msg(r != NULL, "accepted, wanted '%s'", why);
	ck_assert_msg(strstr(r, why) != NULL, "'%s', wanted '%s'", r, why);
	free(p);
}

static struct txn_hdr *H(unsigned char *p)
{
	return (struct txn_hdr *)p;
}

static void short_hdr(unsigned char *p, size_t *len) { *len = sizeof(struct txn_hdr) - 1; }
static void bad_magic(unsigned char *p, size_t *len) { H(p)->magic ^= 1; }
static void bad_version(unsigned char *p, size_t *len) { H(p)->version = 99; }
static void no_units(unsigned char *p, size_t *len) { H(p)->nunits = 0; }
static void many_units(unsigned char *p, size_t *len) { H(p)->nunits = TXN_MAX_UNITS + 1; }
static void bad_data_off(unsigned char *p, size_t *len) { H(p)->data_off += 8; }
static void bad_total(unsigned char *p, size_t *len) { H(p)->total += TXN_UNIT; }
static void cut_short(unsigned char *p, size_t *len) { *len -= 1; }
static void misaligned(unsigned char *p, size_t *len) { ((uint64_t *)(p + sizeof(struct txn_hdr)))[1] = 8193; }
static void unsorted(unsigned char *p, size_t *len) { ((uint64_t *)(p + sizeof(struct txn_hdr)))[1] = 0; }
static void past_end(unsigned char *p, size_t *len) { ((uint64_t *)(p + sizeof(struct txn_hdr)))[2] = 2 << 20; }
static void wraps(unsigned char *p, size_t *len) { ((uint64_t *)(p + sizeof(struct txn_hdr)))[2] = UINT64_MAX - 4095; }

START_TEST(every_malformed_transaction_is_refused_with_a_reason)
{
	expect_refused(short_hdr, "shorter than");
	expect_refused(bad_magic, "magic");
	expect_refused(bad_version, "version");
	expect_refused(no_units, "no units");
	expect_refused(many_units, "too many");
	expect_refused(bad_data_off, "data offset");
	expect_refused(bad_total, "total");
	expect_refused(cut_short, "longer than its data ICA");
	expect_refused(misaligned, "multiple of 4096");
	expect_refused(unsorted, "strictly increasing");
	expect_refused(past_end, "past the end");
	expect_refused(wraps, "past the end");
}
END_TEST

START_TEST(the_checksum_sees_every_word)
{
	unsigned char buf[4096] = { 0 };
	uint64_t a = txn_sum(buf, sizeof(buf), 3);
	ck_assert_uint_ne(a, txn_sum(buf, sizeof(buf), 4));       /* the seed counts */
	ck_assert_uint_ne(a, txn_sum(buf, sizeof(buf) - 8, 3));   /* the length counts */
	for (size_t i = 0; i < sizeof(buf); i += 331) {
		buf[i] ^= 0x40;
		ck_assert_uint_ne(a, txn_sum(buf, sizeof(buf), 3));
		buf[i] ^= 0x40;
	}
	ck_assert_uint_eq(a, txn_sum(buf, sizeof(buf), 3));
}
END_TEST

static Suite *txn_suite(void)
{
	Suite *s = suite_create("txn");
	TCase *tc = tcase_create("txn");
	tcase_add_test(tc, a_sound_transaction_passes);
	tcase_add_test(tc, every_malformed_transaction_is_refused_with_a_reason);
	tcase_add_test(tc, the_checksum_sees_every_word);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(txn_suite)
