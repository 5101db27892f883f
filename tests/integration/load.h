/* load.h - integration tests: a steady load of applications calling relay1 echo and checking every answer. */
#ifndef ANT_TEST_LOAD_H
#define ANT_TEST_LOAD_H

#include <pthread.h>
#include "harness.h"

#define LOAD_APPS_MAX 8

/* One application: its thread, and what its calls ended in. */
struct load_app {
	pthread_t t;
	struct harness *h;
	int n;
	unsigned pause_us;
	volatile int *stop;
	long ok, wrong, errors, last_error;   /* wrong: a wrong answer, or one answered twice */
	double max_s;                         /* its slowest call */
};

struct load {
	struct load_app app[LOAD_APPS_MAX];
	int napps;
	volatile int stop;
};

/* napps applications, each on its own connection, calling relay1 echo with
 * an argument of its own and checking the answer, pause_us apart. */
void load_start(struct load *l, struct harness *h, int napps, unsigned pause_us);
/* Calls answered right so far. */
long load_ok(const struct load *l);
/* Wait (up to 3 s) until n more calls are answered right. */
void load_expect_progress(struct load *l, long n);
/* Stop; the totals into *sum (and each connection gets nothing more within
 * 200 ms of its last call: no answer came twice). */
void load_stop(struct load *l, struct load_app *sum);

#endif
