/* bpf_inject.c - the eBPF injector's library: load inject.bpf.c, arm its slots, read its events. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <seccomp.h>

#include "bpf_inject.h"
#include "bpf_inject_abi.h"
#include "inject.skel.h"

_Static_assert(BPF_INJECT_SLOTS == INJECT_SLOTS, "bpf_inject.h and bpf_inject_abi.h disagree");
_Static_assert(INJECT_SLOTS <= 32, "a tgid's slots are a 32-bit mask");

/*
 * The library's copy of each slot is the truth about what is armed; the
 * program's copy (the slots map) adds its counters and the DONE it sets when
 * a slot fired its last.  A slot stays in_use until poll reports that last
 * event, or until disarmed: its number changes hands only through calls of
 * the caller's, so an event always means the arming the caller last made of
 * that slot, unless it says stale.  Meanwhile the tgid's bit still points at
 * a DONE slot, which the program skips.
 */
struct bpf_injector {
	struct inject_bpf *skel;        /* private: owns the program, maps, link */
	struct ring_buffer *rb;         /* private: owns the epoll fd */
	int slots_fd, tgids_fd;         /* private: the skeleton's */
	__u32 next_gen;                 /* private */
	struct {
		int in_use;
		struct inject_slot val; /* as last written to the map */
	} slot[INJECT_SLOTS];
	/* Set for the length of bpf_injector_poll() only. */
	void (*cb)(void *arg, const struct bpf_inject_event *ev);
	void *cb_arg;
};

static void say(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || !whylen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * libbpf tells why it failed only through its print callback, which is
 * global and takes no context.  For the length of bpf_injector_open() it
 * points here, and nothing reaches stderr.  Kept for `why': the first line
 * of the first warning (the later ones say "failed to load object", "...
 * skeleton"), but not the one that RLIMIT_MEMLOCK could not be raised, which
 * libbpf goes on without; and from a verifier log, its verdict, the line
 * before "processed N insns".  Single-threaded, like the rest of the API.
 */
static char libbpf_said[200], verifier_said[120];

static void keep_verdict(const char *log)
{
	const char *prev = NULL, *line = log;
	while (*line) {
		const char *end = line + strcspn(line, "\n");
		if (strncmp(line, "processed ", 10) == 0 && prev) {
			int len = (int)strcspn(prev, "\n");
			snprintf(verifier_said, sizeof(verifier_said), "%.*s", len, prev);
			return;
		}
		prev = line;
		line = *end ? end + 1 : end;
	}
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg;
	if (level != LIBBPF_WARN || vasprintf(&msg, fmt, ap) < 0)
		return 0;
	if (strstr(msg, "BEGIN PROG LOAD LOG"))
		keep_verdict(msg);
	else if (!libbpf_said[0] && !strstr(msg, "bump RLIMIT_MEMLOCK")) {
		const char *text = strncmp(msg, "libbpf: ", 8) == 0 ? msg + 8 : msg;
		snprintf(libbpf_said, sizeof(libbpf_said), "%.*s", (int)strcspn(text, "\n"), text);
	}
	free(msg);
	return 0;
}

static int write_slot(struct bpf_injector *b, unsigned i)
{
	__u32 key = i;
	return bpf_map_update_elem(b->slots_fd, &key, &b->slot[i].val, BPF_ANY);
}

/* Whether the program set slot i DONE under its current arming. */
static int slot_done(struct bpf_injector *b, unsigned i)
{
	__u32 key = i;
	struct inject_slot v;
	if (bpf_map_lookup_elem(b->slots_fd, &key, &v))
		return 0;
	return v.state == INJECT_DONE && v.gen == b->slot[i].val.gen;
}

/*
 * The program is attached only while some slot is taken.  An attached
 * raw_tp/sys_enter program costs every system call of every process, even
 * one the program leaves at its first test (bpf_inject_cost.c: idle); a
 * loaded one costs nothing.  libbpf is hushed here as in open.
 */
static int set_attached(struct bpf_injector *b, int on)
{
	struct bpf_link **link = &b->skel->links.on_sys_enter;
	int err = 0;

	if (on && !*link) {
		libbpf_print_fn_t old_print = libbpf_set_print(on_libbpf_print);
		*link = bpf_program__attach(b->skel->progs.on_sys_enter);
		if (!*link)
			err = -errno;
		libbpf_set_print(old_print);
	} else if (!on && *link) {
		bpf_link__destroy(*link);
		*link = NULL;
	}
	return err;
}

/*
 * Make pid's entry in the tgids map say which in-use slots target it (none:
 * no entry), and attach the program if it is needed now (release()
 * detaches it).  A slot's content is written while no bit points at it, so
 * that the program never reads one half-written; callers order their
 * writes around this.
 */
static int sync_tgid(struct bpf_injector *b, int pid)
{
	__u32 key = (__u32)pid, mask = 0;
	int err;

	for (unsigned i = 0; i < INJECT_SLOTS; i++)
		if (b->slot[i].in_use && b->slot[i].val.tgid == key)
			mask |= 1u << i;
	if (mask)
		err = bpf_map_update_elem(b->tgids_fd, &key, &mask, BPF_ANY);
	else {
		err = bpf_map_delete_elem(b->tgids_fd, &key);
		if (err == -ENOENT)
			err = 0;
	}
	int err2 = mask ? set_attached(b, 1) : 0;
	return err ? err : err2;
}

static int any_in_use(const struct bpf_injector *b)
{
	for (unsigned i = 0; i < INJECT_SLOTS; i++)
		if (b->slot[i].in_use)
			return 1;
	return 0;
}

/* Free slot i: first its tgid's bit, then its content.  Array updates of a
 * valid key do not fail; a tgids update that did leaves a bit pointing at a
 * FREE slot, which the program skips. */
static int release(struct bpf_injector *b, unsigned i)
{
	int pid = (int)b->slot[i].val.tgid;
	b->slot[i].in_use = 0;
	int err = sync_tgid(b, pid);
	memset(&b->slot[i].val, 0, sizeof(b->slot[i].val));
	int err2 = write_slot(b, i);
	if (!any_in_use(b))
		set_attached(b, 0);
	return err ? err : err2;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct bpf_injector *b = ctx;
	const struct inject_event *e = data;

	if (size != sizeof(*e) || e->slot >= INJECT_SLOTS)
		return 0;   /* not from our program: cannot happen */
	struct bpf_inject_event ev = {
		.slot = e->slot,
		.pid = (int)e->tgid,
		.tid = (int)e->tid,
		.syscall_nr = e->nr,
		.signal = (int)e->sig,
		.k = e->k,
		.ktime_ns = e->ktime_ns,
		.error = e->error,
	};
	/* The last firing of the arming still in place frees the slot; one of
	 * an arming since disarmed or retargeted frees nothing. */
	ev.stale = !b->slot[e->slot].in_use || b->slot[e->slot].val.gen != e->gen;
	if (e->last && !ev.stale) {
		release(b, e->slot);   /* a failure is harmless: see release() */
		ev.disarmed = 1;
	}
	if (b->cb)
		b->cb(b->cb_arg, &ev);
	return 0;
}

/*
 * RLIMIT_MEMLOCK: not raised here.  antd's limits are inherited by every
 * server it starts, and this kernel charges BPF memory to the memory cgroup
 * instead; libbpf 1.x raises the limit itself only on kernels that do not
 * (before 5.11), and goes on if it cannot.
 */
int bpf_injector_open(struct bpf_injector **out, char *why, size_t whylen)
{
	const char *stage = "open";
	int err;

	*out = NULL;
	struct bpf_injector *b = calloc(1, sizeof(*b));
	if (!b) {
		say(why, whylen, "out of memory");
		return -ENOMEM;
	}
	b->next_gen = 1;
	libbpf_said[0] = verifier_said[0] = '\0';
	libbpf_print_fn_t old_print = libbpf_set_print(on_libbpf_print);

	b->skel = inject_bpf__open();
	if (!b->skel) {
		err = -errno;
		goto fail;
	}
	stage = "load";
	err = inject_bpf__load(b->skel);
	if (err)
		goto fail;
	/* Attached once to see that the kernel takes it; from now on only
	 * while a slot is taken (set_attached()). */
	stage = "attach";
	err = set_attached(b, 1);
	if (err)
		goto fail;
	set_attached(b, 0);
	stage = "ring buffer";
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_sample, b, NULL);
	if (!b->rb) {
		err = -errno;
		goto fail;
	}
	libbpf_set_print(old_print);
	b->slots_fd = bpf_map__fd(b->skel->maps.slots);
	b->tgids_fd = bpf_map__fd(b->skel->maps.tgids);
	*out = b;
	return 0;

fail:
	libbpf_set_print(old_print);
	if (err >= 0)
		err = -EINVAL;   /* libbpf said nothing better */
	/* Without the privileges libbpf's first words are about a trivial
	 * program and RLIMIT_MEMLOCK: misleading, so not repeated. */
	if (err == -EPERM)
		say(why, whylen, "eBPF needs root (CAP_BPF and CAP_PERFMON): %s: %s", stage,
		    strerror(-err));
	else if (verifier_said[0])
		say(why, whylen, "eBPF injector: %s: %s; the verifier: %s", stage, libbpf_said,
		    verifier_said);
	else if (libbpf_said[0])
		say(why, whylen, "eBPF injector: %s: %s (%s)", stage, libbpf_said, strerror(-err));
	else
		say(why, whylen, "eBPF injector: %s: %s", stage, strerror(-err));
	bpf_injector_close(b);
	return err;
}

static int check_spec(const struct bpf_inject_spec *s)
{
	if (s->pid <= 0)
		return -EINVAL;
	if (s->syscall_nr != -1 && !bpf_syscall_name(s->syscall_nr))
		return -EINVAL;
	if (!s->nth && !s->prob_ppm)
		return -EINVAL;
	if (s->prob_ppm > INJECT_PPM)
		return -EINVAL;
	if (s->signal < 1 || s->signal >= NSIG)
		return -EINVAL;
	return 0;
}

int bpf_injector_arm(struct bpf_injector *b, const struct bpf_inject_spec *s, unsigned *slot)
{
	int err = check_spec(s);
	if (err)
		return err;

	unsigned i = 0;
	while (i < INJECT_SLOTS && b->slot[i].in_use)
		i++;
	if (i == INJECT_SLOTS)
		return -ENOSPC;

	b->slot[i].val = (struct inject_slot){
		.state = INJECT_ARMED,
		.gen = b->next_gen++,
		.tgid = (__u32)s->pid,
		.nr = s->syscall_nr,
		.nth = s->nth,
		.seed = s->seed,
		.prob_ppm = s->prob_ppm,
		.sig = (__u32)s->signal,
		.count = s->count,
	};
	err = write_slot(b, i);
	if (err)
		return err;
	b->slot[i].in_use = 1;
	err = sync_tgid(b, s->pid);
	if (err) {
		release(b, i);
		return err;
	}
	*slot = i;
	return 0;
}

int bpf_injector_retarget(struct bpf_injector *b, unsigned slot, int pid)
{
	if (slot >= INJECT_SLOTS || pid <= 0)
		return -EINVAL;
	if (!b->slot[slot].in_use)
		return -ENOENT;
	if (slot_done(b, slot))
		return -ENOENT;   /* fired its last: poll will say so */

	/* Off the old tgid first, so that nothing reads the slot mid-write.  A
	 * call of the old process already past that check can still count
	 * once into the new arming: only if it is alive and busy meanwhile. */
	b->slot[slot].in_use = 0;
	int err = sync_tgid(b, (int)b->slot[slot].val.tgid);
	b->slot[slot].val.tgid = (__u32)pid;
	b->slot[slot].val.state = INJECT_ARMED;
	b->slot[slot].val.gen = b->next_gen++;
	b->slot[slot].val.seen = 0;
	b->slot[slot].val.fired = 0;
	int err2 = write_slot(b, slot);
	b->slot[slot].in_use = 1;
	int err3 = sync_tgid(b, pid);
	return err ? err : err2 ? err2 : err3;
}

int bpf_injector_disarm(struct bpf_injector *b, unsigned slot)
{
	if (slot >= INJECT_SLOTS)
		return -EINVAL;
	if (!b->slot[slot].in_use)
		return -ENOENT;
	return release(b, slot);
}

int bpf_injector_fd(const struct bpf_injector *b)
{
	return ring_buffer__epoll_fd(b->rb);
}

int bpf_injector_poll(struct bpf_injector *b,
		      void (*cb)(void *arg, const struct bpf_inject_event *ev), void *arg)
{
	b->cb = cb;
	b->cb_arg = arg;
	int n = ring_buffer__consume(b->rb);
	b->cb = NULL;
	b->cb_arg = NULL;
	return n;
}

uint64_t bpf_injector_lost(const struct bpf_injector *b)
{
	return b->skel->bss->lost;
}

void bpf_injector_close(struct bpf_injector *b)
{
	if (!b)
		return;
	ring_buffer__free(b->rb);
	inject_bpf__destroy(b->skel);
	free(b);
}

int bpf_syscall_nr(const char *name)
{
	/* libseccomp also knows calls of other architectures, as negative
	 * pseudo-numbers: not x86_64's. */
	int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
	return nr < 0 ? -ENOENT : nr;
}

/* x86_64 numbers are below 512 (x32's start there); names resolved once. */
#define SYSCALL_NAMES 512

const char *bpf_syscall_name(int nr)
{
	static char *names[SYSCALL_NAMES];
	static unsigned char looked[SYSCALL_NAMES];

	if (nr < 0 || nr >= SYSCALL_NAMES)
		return NULL;
	if (!looked[nr]) {
		/* libseccomp hands over a malloc'd copy: kept for the process. */
		names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
		looked[nr] = 1;
	}
	return names[nr];
}
