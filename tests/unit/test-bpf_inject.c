/* test-bpf_inject.c - the eBPF injector on real processes: Nth call, any call, seeded chance, slots. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "bpf_inject.h"
#include "check_main.h"

/*
 * Every test starts children that wait on a pipe, arms, then lets them go:
 * each child counts its completed loop rounds in memory shared with the
 * test, so the test knows at which call a signal stopped it.  A child is
 * armed only once it sits in that read(), so the calls a slot counts are
 * exactly the loop's.  A failing check kills and reaps every child before
 * Check ends the test (expect*()).
 */

enum work {
	W_GETPPID,     /* getppid() per round */
	W_MIX,         /* getuid() then getppid() per round */
};

struct shared {
	volatile long done;        /* rounds completed */
	volatile int nsig;         /* SIGUSR1s handled */
	volatile long at[8];       /* the getppid() (from 1) each SIGUSR1 came after */
};

struct kid {
	pid_t pid;
	int go;                    /* write end: one byte lets it start */
	struct shared *sh;
	int reaped, status;
};

#define MAX_KIDS 8
static struct kid kids[MAX_KIDS];
static int nkids;
static struct bpf_injector *inj;

static void kids_kill_all(void)
{
	for (int i = 0; i < nkids; i++) {
		if (kids[i].reaped)
			continue;
		kill(kids[i].pid, SIGKILL);
		while (waitpid(kids[i].pid, &kids[i].status, 0) < 0 && errno == EINTR)
			;
		kids[i].reaped = 1;
	}
}

/* Fail the test, having reaped every child first. */
#define expect(cond, ...)                                                     \
	do {                                                                  \
		if (!(cond)) {                                                \
			kids_kill_all();                                      \
			ck_abort_msg(__VA_ARGS__);                            \
		}                                                             \
	} while (0)
#define expect_eq(a, b)                                                       \
	do {                                                                  \
		long long a_ = (long long)(a), b_ = (long long)(b);           \
		expect(a_ == b_, "%s == %s: %lld, not %lld", #a, #b, a_, b_); \
	} while (0)

static struct shared *child_sh;

/* In a test child: where the signal came is all the test wants to know. */
static void on_usr1(int sig)
{
	child_sh->at[child_sh->nsig++ % 8] = child_sh->done + 1;
}

/* Start a child that, once let go, does calls rounds of w, then exits 0. */
static struct kid *kid_start(enum work w, long calls, int handle_usr1)
{
	expect(nkids < MAX_KIDS, "too many children");
	struct kid *k = &kids[nkids];
	memset(k, 0, sizeof(*k));
	k->sh = mmap(NULL, sizeof(*k->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	expect(k->sh != MAP_FAILED, "mmap: %s", strerror(errno));
	int p[2];
	expect(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	pid_t parent = getpid();
	k->pid = fork();
	expect(k->pid >= 0, "fork: %s", strerror(errno));
	if (k->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		child_sh = k->sh;
		if (handle_usr1) {
			struct sigaction sa = { .sa_handler = on_usr1 };
			sigaction(SIGUSR1, &sa, NULL);
		}
		close(p[1]);
		char c;
		if (read(p[0], &c, 1) != 1)
			_exit(98);
		/* From here on, only the calls the test counts. */
		for (long i = 0; i < calls; i++) {
			if (w == W_MIX)
				syscall(SYS_getuid);
			syscall(SYS_getppid);
			k->sh->done++;
		}
		_exit(0);
	}
	k->go = p[1];
	nkids++;
	/* Until the kernel shows it inside read(p[0], ...): "0 0x<fd> ...". */
	char path[64], want[32], got[32];
	snprintf(path, sizeof(path), "/proc/%d/syscall", k->pid);
	snprintf(want, sizeof(want), "0 0x%x ", p[0]);
	close(p[0]);
	for (int ms = 0;; ms++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		expect(fd >= 0, "%s: %s", path, strerror(errno));
		ssize_t n = read(fd, got, sizeof(got) - 1);
		close(fd);
		got[n > 0 ? n : 0] = '\0';
		if (strncmp(got, want, strlen(want)) == 0)
			break;
		expect(ms < 5000, "child %d not in its read() after 5 s: %s", k->pid, got);
		struct timespec ms1 = { 0, 1000000 };
		nanosleep(&ms1, NULL);
	}
	return k;
}

static void kid_go(struct kid *k)
{
	expect(write(k->go, "g", 1) == 1, "write: %s", strerror(errno));
	close(k->go);
	k->go = -1;
}

/* Wait up to 10 s for k to exit, die or (stopped) stop; its wait status. */
static int kid_wait(struct kid *k, int stopped)
{
	for (int ms = 0; ms < 10000; ms++) {
		pid_t r = waitpid(k->pid, &k->status, WNOHANG | (stopped ? WUNTRACED : 0));
		if (r == k->pid) {
			if (!WIFSTOPPED(k->status))
				k->reaped = 1;
			return k->status;
		}
		expect(r == 0, "waitpid: %s", strerror(errno));
		struct timespec ms1 = { 0, 1000000 };
		nanosleep(&ms1, NULL);
	}
	expect(0, "child %d still running after 10 s (done %ld)", k->pid, k->sh->done);
	return -1;
}

#define expect_killed_by(k, sig)                                              \
	do {                                                                  \
		int st_ = kid_wait((k), 0);                                   \
		expect(WIFSIGNALED(st_) && WTERMSIG(st_) == (sig),            \
		       "child status 0x%x, not killed by %s", st_, strsignal(sig)); \
	} while (0)
#define expect_exited_0(k)                                                    \
	do {                                                                  \
		int st_ = kid_wait((k), 0);                                   \
		expect(WIFEXITED(st_) && WEXITSTATUS(st_) == 0,               \
		       "child status 0x%x, not exit 0", st_);                 \
	} while (0)

struct evlog {
	int n;
	struct bpf_inject_event ev[64];
};

static void on_event(void *arg, const struct bpf_inject_event *ev)
{
	struct evlog *l = arg;
	if (l->n < 64)
		l->ev[l->n++] = *ev;
}

static int drain(struct evlog *l)
{
	memset(l, 0, sizeof(*l));
	int n = bpf_injector_poll(inj, on_event, l);
	expect(n >= 0, "poll: %s", strerror(-n));
	expect_eq(n, l->n);
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void setup(void)
{
	char why[256];
	nkids = 0;
	int e = bpf_injector_open(&inj, why, sizeof(why));
	ck_assert_msg(e == 0, "bpf_injector_open: %d: %s", e, why);
}

static void teardown(void)
{
	kids_kill_all();
	bpf_injector_close(inj);
	inj = NULL;
}

START_TEST(nth_call_of_a_named_syscall_kills_that_process_only)
{
	struct kid *a = kid_start(W_MIX, 100, 0), *b = kid_start(W_MIX, 100, 0);
	struct bpf_inject_spec s = {
		.pid = a->pid, .syscall_nr = bpf_syscall_nr("getppid"), .nth = 10, .signal = SIGKILL,
	};
	unsigned slot = 99;
	uint64_t t0 = now_ns();
	expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
	expect(slot < BPF_INJECT_SLOTS, "slot %u", slot);
	kid_go(a);
	kid_go(b);
	expect_killed_by(a, SIGKILL);
	expect_eq(a->sh->done, 9);      /* the 10th getppid() ran; its round did not end */
	expect_exited_0(b);
	expect_eq(b->sh->done, 100);

	struct pollfd pfd = { .fd = bpf_injector_fd(inj), .events = POLLIN };
	expect_eq(poll(&pfd, 1, 1000), 1);
	struct evlog l;
	expect_eq(drain(&l), 1);
	expect_eq(l.ev[0].slot, slot);
	expect_eq(l.ev[0].pid, a->pid);
	expect_eq(l.ev[0].tid, a->pid);
	expect_eq(l.ev[0].syscall_nr, SYS_getppid);
	expect_eq(l.ev[0].signal, SIGKILL);
	expect_eq(l.ev[0].k, 10);
	expect_eq(l.ev[0].error, 0);
	expect_eq(l.ev[0].disarmed, 1);
	expect_eq(l.ev[0].stale, 0);
	expect(l.ev[0].ktime_ns >= t0 && l.ev[0].ktime_ns <= now_ns(), "ktime_ns off the clock");
	expect_eq(drain(&l), 0);
	/* It disarmed itself: the slot is free. */
	expect_eq(bpf_injector_disarm(inj, slot), -ENOENT);
}
END_TEST

START_TEST(nth_of_any_syscall_counts_every_call)
{
	struct kid *a = kid_start(W_MIX, 100, 0);
	struct bpf_inject_spec s = { .pid = a->pid, .syscall_nr = -1, .nth = 7, .signal = SIGKILL };
	unsigned slot;
	expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
	kid_go(a);
	expect_killed_by(a, SIGKILL);
	/* getuid, getppid, getuid, ...: the 7th call is the 4th getuid(). */
	expect_eq(a->sh->done, 3);
	struct evlog l;
	expect_eq(drain(&l), 1);
	expect_eq(l.ev[0].syscall_nr, SYS_getuid);
	expect_eq(l.ev[0].k, 7);
	expect_eq(l.ev[0].disarmed, 1);
}
END_TEST

START_TEST(sigstop_freezes_it_at_the_call)
{
	struct kid *a = kid_start(W_GETPPID, 100, 0);
	struct bpf_inject_spec s = {
		.pid = a->pid, .syscall_nr = SYS_getppid, .nth = 5, .signal = SIGSTOP,
	};
	unsigned slot;
	expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
	kid_go(a);
	int st = kid_wait(a, 1);
	expect(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "status 0x%x, not stopped", st);
	expect_eq(a->sh->done, 4);
	kill(a->pid, SIGCONT);
	expect_exited_0(a);
	expect_eq(a->sh->done, 100);
	struct evlog l;
	expect_eq(drain(&l), 1);
	expect_eq(l.ev[0].k, 5);
	expect_eq(l.ev[0].signal, SIGSTOP);
}
END_TEST

/*
 * The documented draw, written again from bpf_inject.h: the test holds the
 * library to its header, not to its own code.  splitmix64 from state 0
 * gives 0xe220a8397b1dcdaf first.
 */
static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The first n k in 1..calls where the draw for seed fires at prob; how many. */
static int predict(uint64_t seed, uint32_t prob, long calls, long *ks, int n)
{
	int got = 0;
	for (long k = 1; k <= calls && got < n; k++)
		if (splitmix64(seed + (uint64_t)k) % 1000000 < prob)
			ks[got++] = k;
	return got;
}

START_TEST(a_seed_fires_at_the_same_calls_count_times)
{
	enum { CALLS = 5000, PROB = 2000, COUNT = 3 };
	const uint64_t seed1 = 42, seed2 = 4242;
	long want1[COUNT], want2[COUNT];

	expect(splitmix64(0) == 0xe220a8397b1dcdafULL, "splitmix64 oracle wrong");
	expect_eq(predict(seed1, PROB, CALLS, want1, COUNT), COUNT);
	expect_eq(predict(seed2, PROB, CALLS, want2, COUNT), COUNT);
	expect(memcmp(want1, want2, sizeof(want1)) != 0, "pick seeds whose draws differ");

	/* a and b: the same seed; c: another.  SIGUSR1, handled: they go on. */
	struct kid *kid3[3] = {
		kid_start(W_GETPPID, CALLS, 1), kid_start(W_GETPPID, CALLS, 1),
		kid_start(W_GETPPID, CALLS, 1),
	};
	unsigned slots[3];
	for (int i = 0; i < 3; i++) {
		struct bpf_inject_spec s = {
			.pid = kid3[i]->pid, .syscall_nr = SYS_getppid, .prob_ppm = PROB,
			.seed = i < 2 ? seed1 : seed2, .signal = SIGUSR1, .count = COUNT,
		};
		expect_eq(bpf_injector_arm(inj, &s, &slots[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		kid_go(kid3[i]);
	for (int i = 0; i < 3; i++) {
		expect_exited_0(kid3[i]);
		expect_eq(kid3[i]->sh->done, CALLS);
		expect_eq(kid3[i]->sh->nsig, COUNT);
	}

	struct evlog l;
	expect_eq(drain(&l), 3 * COUNT);
	for (int i = 0; i < 3; i++) {
		const long *want = i < 2 ? want1 : want2;
		int seen = 0;
		for (int j = 0; j < l.n; j++) {
			const struct bpf_inject_event *ev = &l.ev[j];
			if (ev->pid != kid3[i]->pid)
				continue;
			expect_eq(ev->slot, slots[i]);
			expect_eq(ev->k, want[seen]);
			expect_eq(ev->signal, SIGUSR1);
			expect_eq(ev->disarmed, seen == COUNT - 1);
			seen++;
		}
		expect_eq(seen, COUNT);
		/* The handler saw each signal right after that getppid(). */
		for (int j = 0; j < COUNT; j++)
			expect_eq(kid3[i]->sh->at[j], want[j]);
		expect_eq(bpf_injector_disarm(inj, slots[i]), -ENOENT);
	}
}
END_TEST

START_TEST(retarget_follows_a_restarted_process_and_counts_anew)
{
	/* The first incarnation makes 3 of its 5 calls, then exits. */
	struct kid *a = kid_start(W_GETPPID, 3, 0);
	struct bpf_inject_spec s = {
		.pid = a->pid, .syscall_nr = SYS_getppid, .nth = 5, .signal = SIGKILL,
	};
	unsigned slot;
	expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
	kid_go(a);
	expect_exited_0(a);
	expect_eq(a->sh->done, 3);

	struct kid *b = kid_start(W_GETPPID, 100, 0);
	expect_eq(bpf_injector_retarget(inj, slot, b->pid), 0);
	kid_go(b);
	expect_killed_by(b, SIGKILL);
	expect_eq(b->sh->done, 4);       /* its own 5th, not the 2nd */
	struct evlog l;
	expect_eq(drain(&l), 1);
	expect_eq(l.ev[0].pid, b->pid);
	expect_eq(l.ev[0].k, 5);
	expect_eq(l.ev[0].disarmed, 1);
	expect_eq(bpf_injector_retarget(inj, slot, a->pid), -ENOENT);
}
END_TEST

START_TEST(disarm_stops_it_and_unpolled_events_say_stale)
{
	struct kid *a = kid_start(W_GETPPID, 100, 0);
	struct bpf_inject_spec s = {
		.pid = a->pid, .syscall_nr = SYS_getppid, .nth = 5, .signal = SIGKILL,
	};
	unsigned slot;
	expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
	expect_eq(bpf_injector_disarm(inj, slot), 0);
	expect_eq(bpf_injector_disarm(inj, slot), -ENOENT);
	expect_eq(bpf_injector_retarget(inj, slot, a->pid), -ENOENT);
	kid_go(a);
	expect_exited_0(a);
	expect_eq(a->sh->done, 100);
	struct evlog l;
	expect_eq(drain(&l), 0);

	/* b dies at its 1st call; its slot is disarmed and armed again (for
	 * c, which never runs) before anyone polls. */
	struct kid *b = kid_start(W_GETPPID, 100, 0), *c = kid_start(W_GETPPID, 100, 0);
	s.pid = b->pid;
	s.nth = 1;
	expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
	kid_go(b);
	expect_killed_by(b, SIGKILL);
	expect_eq(bpf_injector_retarget(inj, slot, c->pid), -ENOENT);   /* it fired its last */
	expect_eq(bpf_injector_disarm(inj, slot), 0);
	unsigned again;
	s.pid = c->pid;
	expect_eq(bpf_injector_arm(inj, &s, &again), 0);
	expect_eq(again, slot);
	expect_eq(drain(&l), 1);
	expect_eq(l.ev[0].pid, b->pid);
	expect_eq(l.ev[0].stale, 1);
	expect_eq(l.ev[0].disarmed, 0);
	expect_eq(bpf_injector_disarm(inj, again), 0);   /* c's arming stands */
}
END_TEST

START_TEST(slots_run_out_and_bad_specs_are_refused)
{
	struct kid *a = kid_start(W_GETPPID, 1, 0);   /* never let go */
	struct bpf_inject_spec s = {
		.pid = a->pid, .syscall_nr = SYS_getppid, .nth = UINT64_MAX, .signal = SIGKILL,
	};
	unsigned slot, used = 0;
	for (unsigned i = 0; i < BPF_INJECT_SLOTS; i++) {
		expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
		expect(!(used & (1u << slot)), "slot %u given twice", slot);
		used |= (1u << slot);
	}
	expect_eq(bpf_injector_arm(inj, &s, &slot), -ENOSPC);
	expect_eq(bpf_injector_disarm(inj, 3), 0);
	expect_eq(bpf_injector_arm(inj, &s, &slot), 0);
	expect_eq(slot, 3);
	expect_eq(bpf_injector_disarm(inj, BPF_INJECT_SLOTS), -EINVAL);
	expect_eq(bpf_injector_retarget(inj, BPF_INJECT_SLOTS, a->pid), -EINVAL);
	expect_eq(bpf_injector_retarget(inj, 0, 0), -EINVAL);
	for (unsigned i = 0; i < BPF_INJECT_SLOTS; i++)
		expect_eq(bpf_injector_disarm(inj, i), 0);

	static const struct { const char *what; struct bpf_inject_spec s; } bad[] = {
		{ "no trigger", { .pid = 1, .syscall_nr = -1, .signal = SIGKILL } },
		{ "prob over 1e6", { .pid = 1, .syscall_nr = -1, .prob_ppm = 1000001, .signal = SIGKILL } },
		{ "signal 0", { .pid = 1, .syscall_nr = -1, .nth = 1, .signal = 0 } },
		{ "signal 65", { .pid = 1, .syscall_nr = -1, .nth = 1, .signal = 65 } },
		{ "signal -9", { .pid = 1, .syscall_nr = -1, .nth = 1, .signal = -9 } },
		{ "pid 0", { .pid = 0, .syscall_nr = -1, .nth = 1, .signal = SIGKILL } },
		{ "pid -1", { .pid = -1, .syscall_nr = -1, .nth = 1, .signal = SIGKILL } },
		{ "syscall -2", { .pid = 1, .syscall_nr = -2, .nth = 1, .signal = SIGKILL } },
		{ "syscall 100000", { .pid = 1, .syscall_nr = 100000, .nth = 1, .signal = SIGKILL } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(bpf_injector_arm(inj, &bad[i].s, &slot) == -EINVAL, "%s: not EINVAL", bad[i].what);
	/* The edges that are fine. */
	struct bpf_inject_spec ok = { .pid = a->pid, .syscall_nr = -1, .prob_ppm = 1000000, .signal = 64 };
	expect_eq(bpf_injector_arm(inj, &ok, &slot), 0);
	expect_eq(bpf_injector_disarm(inj, slot), 0);
}
END_TEST

START_TEST(syscall_names_and_numbers)
{
	ck_assert_int_eq(bpf_syscall_nr("getppid"), SYS_getppid);
	ck_assert_int_eq(bpf_syscall_nr("read"), 0);
	ck_assert_int_eq(bpf_syscall_nr("openat"), SYS_openat);
	ck_assert_int_eq(bpf_syscall_nr("no_such_call"), -ENOENT);
	ck_assert_int_eq(bpf_syscall_nr("socketcall"), -ENOENT);   /* i386's, not x86_64's */
	ck_assert_str_eq(bpf_syscall_name(SYS_getppid), "getppid");
	ck_assert_str_eq(bpf_syscall_name(0), "read");
	ck_assert_ptr_null(bpf_syscall_name(-1));
	ck_assert_ptr_null(bpf_syscall_name(100000));
}
END_TEST

/* Root that gave up its uid (and so its capabilities) is refused, and told why. */
START_TEST(without_privileges_open_says_eperm_and_why)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		char why[256] = "";
		struct bpf_injector *b = (void *)1;
		int e = -1;
		if (setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0)
			e = bpf_injector_open(&b, why, sizeof(why));
		dprintf(p[1], "%d %d %s", e, b == NULL, why);
		_exit(0);
	}
	close(p[1]);
	char out[320] = "";
	ssize_t n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_gt(n, 0);
	int e = 0, null = 0, off = 0;
	ck_assert_int_eq(sscanf(out, "%d %d %n", &e, &null, &off), 2);
	ck_assert_msg(e == -EPERM, "open gave %d: %s", e, out + off);
	ck_assert_int_eq(null, 1);
	ck_assert_msg(strncmp(out + off, "eBPF needs root (CAP_BPF and CAP_PERFMON): ", 43) == 0,
		      "why: %s", out + off);
}
END_TEST

/* Whether the tests that load the program can run here; why not in *why. */
static int can_load(const char **why)
{
	static char buf[300];
	if (geteuid() != 0) {
		*why = "eBPF needs root";
		return 0;
	}
	struct bpf_injector *b;
	char reason[256];
	int e = bpf_injector_open(&b, reason, sizeof(reason));
	bpf_injector_close(b);
	if (e == -EPERM) {
		snprintf(buf, sizeof(buf), "%s", reason);
		*why = buf;
		return 0;
	}
	return 1;   /* any other failure fails the tests, with its reason */
}

static Suite *bpf_inject_suite(void)
{
	const char *why = NULL;
	int ok = can_load(&why);
	Suite *s = suite_create("bpf_inject");
	TCase *tc = tcase_create("bpf_inject");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	ant_tcase_add_test_if(tc, nth_call_of_a_named_syscall_kills_that_process_only, ok, why);
	ant_tcase_add_test_if(tc, nth_of_any_syscall_counts_every_call, ok, why);
	ant_tcase_add_test_if(tc, sigstop_freezes_it_at_the_call, ok, why);
	ant_tcase_add_test_if(tc, a_seed_fires_at_the_same_calls_count_times, ok, why);
	ant_tcase_add_test_if(tc, retarget_follows_a_restarted_process_and_counts_anew, ok, why);
	ant_tcase_add_test_if(tc, disarm_stops_it_and_unpolled_events_say_stale, ok, why);
	ant_tcase_add_test_if(tc, slots_run_out_and_bad_specs_are_refused, ok, why);
	suite_add_tcase(s, tc);

	TCase *plain = tcase_create("no program");
	tcase_add_test(plain, syscall_names_and_numbers);
	ant_tcase_add_test_if(plain, without_privileges_open_says_eperm_and_why, geteuid() == 0,
			      "needs root, to give it up");
	suite_add_tcase(s, plain);
	return s;
}

ANT_TEST_MAIN(bpf_inject_suite)
