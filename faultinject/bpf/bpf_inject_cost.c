/* bpf_inject_cost.c - what a system call pays for the eBPF injector: getppid() timed in six states. */
#include <err.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf_inject.h"

/*
 * bpf-inject-cost [CALLS [RUNS]]   (root; defaults 1000000 and 5)
 *
 * Times CALLS getppid() in this process (this thread's CPU time), RUNS
 * rounds of every state in turn (so that drift spreads over all of them),
 * and prints ns per call: the median of the runs, their spread, and the
 * median minus off's.  The states:
 *   off        the program not loaded
 *   idle       loaded, no slot armed: the program is not attached then,
 *              so this should cost what off does
 *   other      a slot armed for another process: the program runs, looks
 *              this process up and finds nothing
 *   self-nr    armed for this process on another call: plus reading the slot
 *   self       armed for this process on getppid, nth never reached: plus
 *              the atomic count and the draw
 *   closed     as off, after closing: how far off and closed differ is noise
 */

enum { OFF, IDLE, OTHER, SELF_NR, SELF, CLOSED, NSTATES };
static const char *const state_name[NSTATES] = {
	"off", "idle", "other", "self-nr", "self", "closed",
};

static double time_calls(long calls)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (long i = 0; i < calls; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (double)calls;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void arm(struct bpf_injector *b, int pid, int nr, unsigned *slot)
{
	struct bpf_inject_spec s = {
		.pid = pid, .syscall_nr = nr, .nth = UINT64_MAX, .signal = SIGKILL,
	};
	int e = bpf_injector_arm(b, &s, slot);
	if (e)
		errx(1, "arm: %s", strerror(-e));
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 1000000;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	if (calls <= 0 || runs <= 0 || runs > 100)
		errx(2, "usage: bpf-inject-cost [CALLS [RUNS (1..100)]]");

	/* One CPU: a migration in the middle of a run is noise. */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		warn("sched_setaffinity");

	pid_t other = fork();
	if (other < 0)
		err(1, "fork");
	if (other == 0) {
		pause();
		_exit(0);
	}

	double ns[NSTATES][100];
	for (int r = 0; r < runs; r++) {
		char why[256];
		struct bpf_injector *b;
		unsigned slot;

		ns[OFF][r] = time_calls(calls);
		int e = bpf_injector_open(&b, why, sizeof(why));
		if (e) {
			kill(other, SIGKILL);
			waitpid(other, NULL, 0);
			errx(1, "%s", why);
		}
		ns[IDLE][r] = time_calls(calls);
		arm(b, other, SYS_getppid, &slot);
		ns[OTHER][r] = time_calls(calls);
		bpf_injector_disarm(b, slot);
		arm(b, getpid(), SYS_getuid, &slot);
		ns[SELF_NR][r] = time_calls(calls);
		bpf_injector_disarm(b, slot);
		arm(b, getpid(), SYS_getppid, &slot);
		ns[SELF][r] = time_calls(calls);
		bpf_injector_disarm(b, slot);
		bpf_injector_close(b);
		ns[CLOSED][r] = time_calls(calls);
	}
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);

	printf("%ld getppid() per run, %d runs, ns per call\n", calls, runs);
	printf("%-8s %8s %8s %8s %10s  runs\n", "state", "median", "min", "max", "-off");
	double off_median = 0;
	for (int s = 0; s < NSTATES; s++) {
		double sorted[100];
		memcpy(sorted, ns[s], runs * sizeof(double));
		qsort(sorted, runs, sizeof(double), cmp_double);
		double median = runs % 2 ? sorted[runs / 2]
			: (sorted[runs / 2 - 1] + sorted[runs / 2]) / 2;
		if (s == OFF)
			off_median = median;
		printf("%-8s %8.1f %8.1f %8.1f %+10.1f ", state_name[s], median, sorted[0],
		       sorted[runs - 1], median - off_median);
		for (int r = 0; r < runs; r++)
			printf(" %.1f", ns[s][r]);
		printf("\n");
	}
	return 0;
}
