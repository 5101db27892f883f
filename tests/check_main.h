/* check_main.h - the one main() every Check test program uses, and tests that skip one by one. */
#ifndef ANT_CHECK_MAIN_H
#define ANT_CHECK_MAIN_H
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * Check has no skip of its own.  A test that cannot run here is not added to
 * its suite; it is named instead, one line each on stdout:
 *
 *	skipped: NAME (REASON)
 *
 * which `./ant test` counts.  A program whose every test was skipped exits 77
 * (meson's SKIP); one that ran some says how many it skipped after Check's
 * own summary.
 */
static int ant_tests_skipped;

/* Say that test name does not run here, and why; counted. */
static inline void ant_test_skip(const char *name, const char *why)
{
	/* Flushed now: Check forks for each test, and a line still in the
	 * buffer would be printed again by every child. */
	printf("skipped: %s (%s)\n", name, why);
	fflush(stdout);
	ant_tests_skipped++;
}

/* Add test tf to tc if runnable, else name it as skipped for why. */
#define ant_tcase_add_test_if(tc, tf, runnable, why)                          \
	do {                                                                 \
		if (runnable)                                                \
			tcase_add_test((tc), tf);                            \
		else                                                         \
			ant_test_skip(#tf, (why));                           \
	} while (0)

/* Run suite s: EXIT_FAILURE if a test failed, 77 if every test was skipped,
 * else EXIT_SUCCESS. */
static inline int ant_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int run = srunner_ntests_run(sr);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (ant_tests_skipped)
		printf("%d ran, %d not run here (named above)\n", run, ant_tests_skipped);
	if (failed)
		return EXIT_FAILURE;
	return run == 0 && ant_tests_skipped ? 77 : EXIT_SUCCESS;
}

#define ANT_TEST_MAIN(suite_fn)                                              \
	int main(void)                                                       \
	{                                                                    \
		return ant_run_suite(suite_fn());                            \
	}
#endif
