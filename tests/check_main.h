/* check_main.h - the one main() every Check test program uses. */
#ifndef ANT_CHECK_MAIN_H
#define ANT_CHECK_MAIN_H
#include <check.h>
#include <stdlib.h>
#define ANT_TEST_MAIN(suite_fn)                                              \
	int main(void)                                                       \
	{                                                                    \
		SRunner *sr = srunner_create(suite_fn());                    \
		srunner_run_all(sr, CK_NORMAL);                              \
		int failed = srunner_ntests_failed(sr);                      \
		srunner_free(sr);                                            \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;                 \
	}
#endif
