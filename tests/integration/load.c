/* load.c - integration tests: a steady load of applications calling relay1 echo and checking every answer. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *app_run(void *arg)
{
	struct load_app *a = arg;
	struct ant_conn *c;
	if (ant_connect(a->h->dir, &c) < 0) {
		a->errors++;
		return NULL;
	}
	static __thread struct ant_result res;
	for (long i = 0; !*a->stop; i++) {
		char want[64];
		int n = snprintf(want, sizeof(want), "app%d call %ld", a->n, i);
		struct ant_call x = { .server = "relay1", .op = "echo", .arg = want,
				      .arglen = (size_t)n };
		double t0 = now_s();
		int r = ant_call_sync(c, &x, &res);
		if (now_s() - t0 > a->max_s)
			a->max_s = now_s() - t0;
		if (r < 0) {
			a->errors++;
			a->last_error = r;
		} else if (res.len != (size_t)n || memcmp(res.bytes, want, (size_t)n) != 0) {
			a->wrong++;
		} else {
			a->ok++;
		}
		if (a->pause_us)
			usleep(a->pause_us);
	}
	/* Exactly once: nothing more comes for this connection. */
	if (ant_wait(c, 0, &res, 200) != -ETIMEDOUT)
		a->wrong++;
	ant_close(c);
	return NULL;
}

void load_start(struct load *l, struct harness *h, int napps, unsigned pause_us)
{
	memset(l, 0, sizeof(*l));
	l->napps = napps < LOAD_APPS_MAX ? napps : LOAD_APPS_MAX;
	for (int i = 0; i < l->napps; i++) {
		l->app[i] = (struct load_app){ .h = h, .n = i, .pause_us = pause_us, .stop = &l->stop };
		ck_assert_int_eq(pthread_create(&l->app[i].t, NULL, app_run, &l->app[i]), 0);
	}
}

long load_ok(const struct load *l)
{
	long n = 0;
	for (int i = 0; i < l->napps; i++)
		n += l->app[i].ok;
	return n;
}

void load_expect_progress(struct load *l, long n)
{
	long ok = load_ok(l);
	for (int k = 0; k < 300 && load_ok(l) < ok + n; k++)
		harness_sleep_ms(10);
	ck_assert_msg(load_ok(l) >= ok + n, "the load stopped: %ld calls in 3 s", load_ok(l) - ok);
}

void load_stop(struct load *l, struct load_app *sum)
{
	l->stop = 1;
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < l->napps; i++) {
		pthread_join(l->app[i].t, NULL);
		sum->ok += l->app[i].ok;
		sum->wrong += l->app[i].wrong;
		sum->errors += l->app[i].errors;
		if (l->app[i].last_error)
			sum->last_error = l->app[i].last_error;
		if (l->app[i].max_s > sum->max_s)
			sum->max_s = l->app[i].max_s;
	}
}
