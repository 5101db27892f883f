/* test-ica.c - data ICAs: memfd areas (ipc/ica_area.c) and antd's table of them
 * (supervisor/ica_table.c): sizes, scrubbing, the read-only hand-over and its
 * /proc reopen trap, who can reach an area, ids, holders, refs, the pool. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ant/ica_area.h"
#include "ant/proto.h"
#include "ica_table.h"

#define BIG ((size_t)1 << 40)

static size_t ps(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- helpers ---------------------------------------------------------------- */

/* Entries of /proc/self/fd; with memfd_only, only those of our areas. */
static int count_fds(int memfd_only)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (memfd_only) {
			char path[300], link[256];
			snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
			ssize_t l = readlink(path, link, sizeof(link) - 1);
			if (l < 0)
				continue;
			link[l] = '\0';
			if (!strstr(link, "memfd:ant-ica"))
				continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

static struct stat stat_of(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return st;
}

static int all_bytes(const void *p, size_t n, unsigned char v)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != v)
			return 0;
	return 1;
}

static void *map_or_fail(int fd, size_t size, int writable)
{
	void *p = NULL;
	int r = ant_area_map(fd, size, writable, &p);
	ck_assert_msg(r == 0, "ant_area_map(%d, %zu, %d): %s", fd, size, writable, strerror(-r));
	return p;
}

/* 1 if a read-write shared mapping of fd can be made (it is then undone). */
static int can_map_rw(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 0;
	munmap(p, size);
	return 1;
}

/* 1 if a read-only shared mapping of fd can be turned writable. */
static int can_mprotect_rw(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 0;
	int r = mprotect(p, size, PROT_READ | PROT_WRITE);
	munmap(p, size);
	return r == 0;
}

/* 1 if any way of writing through fd (write, pwrite, hole punch) works. */
static int can_write(int fd)
{
	char c = 'X';
	if (write(fd, &c, 1) >= 0)
		return 1;
	if (pwrite(fd, &c, 1, 0) >= 0)
		return 1;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)ps()) == 0)
		return 1;
	return 0;
}

static int is_rdonly(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_ACCMODE) == O_RDONLY;
}

static int reopen_rw(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDWR | O_CLOEXEC);
}

static int wait_child(pid_t pid)
{
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child did not exit normally (status 0x%x)", st);
	return WEXITSTATUS(st);
}

/* ---- areas ------------------------------------------------------------------ */

START_TEST(test_round)
{
	size_t p = ps();
	ck_assert_uint_eq(ant_area_round(0), 0);
	ck_assert_uint_eq(ant_area_round(1), p);
	ck_assert_uint_eq(ant_area_round(p - 1), p);
	ck_assert_uint_eq(ant_area_round(p), p);
	ck_assert_uint_eq(ant_area_round(p + 1), 2 * p);
	ck_assert_uint_eq(ant_area_round(5 * p - 3), 5 * p);
	/* The largest page multiple is representable; beyond it, overflow is 0. */
	size_t top = SIZE_MAX - p + 1;
	ck_assert_uint_eq(ant_area_round(top - 1), top);
	ck_assert_uint_eq(ant_area_round(top), top);
	ck_assert_uint_eq(ant_area_round(top + 1), 0);
	ck_assert_uint_eq(ant_area_round(SIZE_MAX), 0);
}
END_TEST

START_TEST(test_create)
{
	size_t p = ps();
	const size_t sizes[] = { 1, p - 1, p, p + 1, 3 * p + 5 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int fd = ant_area_create(sizes[i]);
		ck_assert_int_ge(fd, 0);
		struct stat st = stat_of(fd);
		ck_assert_uint_eq((size_t)st.st_size, ant_area_round(sizes[i]));
		ck_assert_int_eq((size_t)st.st_size % p, 0);

		int seals = fcntl(fd, F_GET_SEALS);
		ck_assert_int_ge(seals, 0);
		ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
		ck_assert_int_eq(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE), 0);
		ck_assert_int_eq(ant_area_is_sealed_ro(fd), 0);

		errno = 0;
		ck_assert_int_eq(ftruncate(fd, st.st_size - (off_t)p), -1);
		ck_assert_int_eq(errno, EPERM);
		errno = 0;
		ck_assert_int_eq(ftruncate(fd, st.st_size + (off_t)p), -1);
		ck_assert_int_eq(errno, EPERM);
		ck_assert_int_eq(ftruncate(fd, 0), -1);
		ck_assert_int_eq(stat_of(fd).st_size, st.st_size);

		/* close-on-exec, and still writable */
		ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
		ck_assert_int_eq(pwrite(fd, "x", 1, 0), 1);
		ck_assert(can_map_rw(fd, (size_t)st.st_size));
		close(fd);
	}
	ck_assert_int_eq(ant_area_create(0), -EINVAL);
	ck_assert_int_eq(ant_area_create(SIZE_MAX), -EINVAL);
	ck_assert_int_eq(ant_area_is_sealed_ro(-1), -EBADF);
}
END_TEST

START_TEST(test_scrub)
{
	size_t size = 4 * ps();
	int fd = ant_area_create(size);
	ck_assert_int_ge(fd, 0);
	unsigned char *m = map_or_fail(fd, size, 1);
	memset(m, 0xA5, size);
	ck_assert_int_gt(stat_of(fd).st_blocks, 0);

	ck_assert_int_eq(ant_area_scrub(fd, size), 0);
	/* pages given back (checked before anything faults them in again) */
	ck_assert_int_eq(stat_of(fd).st_blocks, 0);
	ck_assert_uint_eq((size_t)stat_of(fd).st_size, size);

	unsigned char *buf = malloc(size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, size, 0), (ssize_t)size);
	ck_assert(all_bytes(buf, size, 0));
	/* the very mapping that held the pattern, and a fresh one */
	ck_assert(all_bytes(m, size, 0));
	unsigned char *m2 = map_or_fail(fd, size, 0);
	ck_assert(all_bytes(m2, size, 0));

	/* still usable afterwards: both mappings are the same pages */
	m[size - 1] = 7;
	ck_assert_int_eq(m2[size - 1], 7);

	munmap(m, size);
	munmap(m2, size);
	free(buf);
	close(fd);
	ck_assert_int_eq(ant_area_scrub(fd, size), -EBADF);
}
END_TEST

/* The read-only hand-over: nothing reachable from a read-only fd writes. */
START_TEST(test_seal_ro_trap)
{
	size_t size = 2 * ps();
	int fd = ant_area_create(size);
	ck_assert_int_ge(fd, 0);
	unsigned char *w = map_or_fail(fd, size, 1);   /* made before the seal */
	memset(w, 'A', size);

	ck_assert_int_eq(ant_area_seal_ro(fd), 0);
	ck_assert_int_eq(ant_area_is_sealed_ro(fd), 1);
	ck_assert_int_ne(fcntl(fd, F_GET_SEALS) & F_SEAL_FUTURE_WRITE, 0);
	ck_assert_int_eq(ant_area_seal_ro(fd), 0);  /* again: harmless */

	int ro = ant_area_reopen_ro(fd);
	ck_assert_int_ge(ro, 0);
	ck_assert_int_ne(ro, fd);
	ck_assert(is_rdonly(ro));
	ck_assert_int_ne(fcntl(ro, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_uint_eq(stat_of(ro).st_ino, stat_of(fd).st_ino);
	ck_assert_int_eq(ant_area_is_sealed_ro(ro), 1);

	/* The read-only fd itself. */
	errno = 0;
	ck_assert_ptr_eq(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), MAP_FAILED);
	ck_assert_int_eq(errno, EACCES);
	void *dummy = NULL;
	ck_assert_int_lt(ant_area_map(ro, size, 1, &dummy), 0);
	ck_assert(!can_mprotect_rw(ro, size));
	ck_assert(!can_write(ro));
	ck_assert_int_lt(ant_area_scrub(ro, size), 0);
	ck_assert_int_lt(ftruncate(ro, 0), 0);

	/* The trap: reopen it read-write through /proc (root may open it). */
	int rw = reopen_rw(ro);
	if (rw >= 0) {
		ck_assert(!can_map_rw(rw, size));
		ck_assert(!can_mprotect_rw(rw, size));
		ck_assert(!can_write(rw));
		ck_assert_int_lt(ant_area_scrub(rw, size), 0);
		close(rw);
	} else {
		ck_assert_int_eq(errno, EACCES);
	}
	/* The table's own read-write fd is held to the seal as well. */
	ck_assert(!can_map_rw(fd, size));
	ck_assert(!can_mprotect_rw(fd, size));
	ck_assert(!can_write(fd));

	/* A private writable mapping is allowed, but is a copy: never the area. */
	unsigned char *priv = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	ck_assert_ptr_ne(priv, MAP_FAILED);
	memset(priv, 'P', size);

	/* Nothing above changed a byte. */
	unsigned char *r = map_or_fail(ro, size, 0);
	ck_assert(all_bytes(r, size, 'A'));

	/* The mapping made before the seal still writes, into the same pages. */
	memset(w, 'B', size);
	ck_assert(all_bytes(r, size, 'B'));
	char c = 0;
	ck_assert_int_eq(pread(ro, &c, 1, (off_t)size - 1), 1);
	ck_assert_int_eq(c, 'B');

	munmap(priv, size);
	munmap(r, size);
	munmap(w, size);
	close(ro);
	close(fd);
}
END_TEST

/* A child that was given nothing has no way to the area. */
START_TEST(test_child_without_fd)
{
	size_t size = ps();
	int fd = ant_area_create(size);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(count_fds(1), 1);

	/* As spawn.c does: close everything but the socket before exec. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (close_range(3, ~0u, 0) < 0)
			_exit(10);
		if (count_fds(1) != 0)
			_exit(11);
		void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED || errno != EBADF)
			_exit(12);
		_exit(0);
	}
	ck_assert_int_eq(wait_child(pid), 0);

	/* An exec'd child: areas are close-on-exec.  The shell exits 3 if it
	 * finds one of ours among its fds. */
	static const char script[] =
		"for f in /proc/$$/fd/*; do "
		"case \"$(readlink \"$f\")\" in *memfd:ant-ica*) exit 3;; esac; "
		"done; exit 0";
	for (int leak = 0; leak <= 1; leak++) {
		/* leak: a copy without close-on-exec, to show the scan finds it */
		int extra = leak ? fcntl(fd, F_DUPFD, 3) : -1;
		if (leak)
			ck_assert_int_ge(extra, 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			execl("/bin/sh", "sh", "-c", script, (char *)NULL);
			_exit(127);
		}
		ck_assert_int_eq(wait_child(pid), leak ? 3 : 0);
		if (extra >= 0)
			close(extra);
	}
	close(fd);
}
END_TEST

enum { CHILD_RW, CHILD_RO };

/* Child side of the hand-over tests: returns an exit code (0 = as expected). */
static int child_receive(int sock, int mode, const struct ant_ica_ref *want, size_t size)
{
	/* keep only the socket: whatever reaches the area arrives on it */
	if ((sock > 3 && close_range(3, (unsigned)sock - 1, 0) < 0) ||
	    close_range((unsigned)sock + 1, ~0u, 0) < 0)
		return 20;
	if (count_fds(1) != 0)
		return 21;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1)
		return 22;
	static unsigned char buf[ANT_MSG_MAX];
	int fd = -1;
	ssize_t n = ant_msg_recv(sock, buf, &fd);
	if (n != (ssize_t)(sizeof(struct ant_msg) + sizeof(struct ant_m_alloc_ok)) || fd < 0)
		return 23;
	struct ant_msg h;
	struct ant_m_alloc_ok ok;
	memcpy(&h, buf, sizeof(h));
	memcpy(&ok, buf + sizeof(h), sizeof(ok));
	if (h.type != ANT_M_ALLOC_OK || memcmp(&ok.ref, want, sizeof(*want)) != 0)
		return 24;
	if (count_fds(1) != 1)
		return 25;

	void *p = NULL;
	if (mode == CHILD_RW) {
		if (ant_area_map(fd, size, 1, &p) < 0)
			return 26;
		unsigned char *m = p;
		if (!all_bytes(m, size / 2, 0x11))
			return 27;
		memset(m + size / 2, 0x22, size / 2);  /* the parent must see it */
		return 0;
	}
	/* read-only: reading works, nothing writes */
	if (ant_area_map(fd, size, 1, &p) == 0)
		return 30;
	if (ant_area_map(fd, size, 0, &p) < 0)
		return 31;
	if (!all_bytes(p, size, 0x33))
		return 32;
	if (can_mprotect_rw(fd, size) || can_write(fd))
		return 33;
	int rw = reopen_rw(fd);
	if (rw >= 0 && (can_map_rw(rw, size) || can_mprotect_rw(rw, size) || can_write(rw)))
		return 34;
	return 0;
}

static void hand_over(int mode)
{
	size_t size = 2 * ps();
	int fd = ant_area_create(size);
	ck_assert_int_ge(fd, 0);
	unsigned char *m = map_or_fail(fd, size, 1);
	memset(m, mode == CHILD_RW ? 0x11 : 0x33, size);
	int send_fd = fd;
	if (mode == CHILD_RO) {
		ck_assert_int_eq(ant_area_seal_ro(fd), 0);
		send_fd = ant_area_reopen_ro(fd);
		ck_assert_int_ge(send_fd, 0);
	}
	struct ant_m_alloc_ok ok = { .ref = { .index = 7, .gen = 9, .size = size } };

	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		munmap(m, size);
		close(sv[0]);
		_exit(child_receive(sv[1], mode, &ok.ref, size));
	}
	close(sv[1]);
	ck_assert_int_eq(ant_msg_send(sv[0], ANT_M_ALLOC_OK, 0, &ok, sizeof(ok), send_fd), 0);
	ck_assert_int_eq(wait_child(pid), 0);
	if (mode == CHILD_RW) {
		/* the child's bytes are in our pages: same memory, no copy */
		ck_assert(all_bytes(m, size / 2, 0x11));
		ck_assert(all_bytes(m + size / 2, size / 2, 0x22));
	} else {
		ck_assert(all_bytes(m, size, 0x33));
		close(send_fd);
	}
	close(sv[0]);
	munmap(m, size);
	close(fd);
}

START_TEST(test_child_scm_rights_rw)
{
	hand_over(CHILD_RW);
}
END_TEST

START_TEST(test_child_scm_rights_ro)
{
	hand_over(CHILD_RO);
}
END_TEST

/* ---- the table ---------------------------------------------------------------- */

static struct ant_ica_ref alloc_ok(struct ica_table *t, size_t size, uint64_t holder, int *fd)
{
	struct ant_ica_ref ref;
	int r = ica_alloc(t, size, holder, &ref, fd);
	ck_assert_msg(r == 0, "ica_alloc(%zu): %s", size, strerror(-r));
	ck_assert_uint_ne(ref.gen, 0);
	ck_assert_int_ge(*fd, 0);
	return ref;
}

START_TEST(test_alloc)
{
	size_t p = ps();
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	struct { size_t ask, want; } cases[] = {
		{ 1, p }, { p, p }, { p + 1, 2 * p }, { 3 * p + 1, 4 * p },
		{ 4 * p, 4 * p }, { 5 * p, 8 * p }, { 100 * p, 128 * p },
	};
	unsigned n = sizeof(cases) / sizeof(cases[0]);
	struct ant_ica_ref refs[sizeof(cases) / sizeof(cases[0])];
	size_t live = 0;
	for (unsigned i = 0; i < n; i++) {
		int fd = -1;
		refs[i] = alloc_ok(&t, cases[i].ask, 100 + i, &fd);
		ck_assert_uint_eq(refs[i].size, cases[i].want);
		ck_assert_uint_ge(refs[i].size, cases[i].ask);
		ck_assert_uint_lt(refs[i].index, t.n);
		ck_assert_uint_eq((size_t)stat_of(fd).st_size, cases[i].want);
		struct ica_entry *e = ica_lookup(&t, &refs[i]);
		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq(e->fd, fd);
		ck_assert_int_eq(e->sealed, 0);
		ck_assert_int_eq(ant_area_is_sealed_ro(fd), 0);
		ck_assert(can_map_rw(fd, refs[i].size));
		ck_assert_int_eq(ica_holds(&t, &refs[i], 100 + i), 0);
		ck_assert_int_eq(ica_holds(&t, &refs[i], 999), -1);
		for (unsigned j = 0; j < i; j++) {
			ck_assert_uint_ne(refs[j].gen, refs[i].gen);
			ck_assert_uint_ne(refs[j].index, refs[i].index);
			ck_assert_int_eq(ica_holds(&t, &refs[j], 100 + i), -1);
		}
		live += cases[i].want;
		ck_assert_uint_eq(ica_live_count(&t), i + 1);
	}
	ck_assert_uint_eq(t.live_bytes, live);
	ck_assert_uint_eq(t.created, n);
	ck_assert_uint_eq(t.recycled, 0);

	/* bad sizes change nothing */
	struct ant_ica_ref ref;
	int fd = -1;
	ck_assert_int_eq(ica_alloc(&t, 0, 1, &ref, &fd), -EINVAL);
	ck_assert_int_eq(ica_alloc(&t, SIZE_MAX, 1, &ref, &fd), -EINVAL);
	size_t top = ((size_t)1 << (ICA_CLASSES - 1)) * p;
	ck_assert_int_eq(ica_alloc(&t, top + 1, 1, &ref, &fd), -EFBIG);
	ck_assert_uint_eq(ica_live_count(&t), n);
	ck_assert_uint_eq(t.created, n);
	/* the largest class itself is fine (sparse) */
	ref = alloc_ok(&t, top, 1, &fd);
	ck_assert_uint_eq(ref.size, top);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_lookup_rejects)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	struct ant_ica_ref ok = alloc_ok(&t, 1, 1, &fd);
	ck_assert_ptr_nonnull(ica_lookup(&t, &ok));

	struct ant_ica_ref bad[6];
	for (unsigned i = 0; i < 6; i++)
		bad[i] = ok;
	bad[0].gen = ok.gen + 1;          /* stale / future generation */
	bad[1].gen = 0;                   /* "no ICA" */
	bad[2].size = ok.size * 2;        /* wrong size */
	bad[3].size = ok.size - 1;
	bad[4].index = t.n;               /* out of range */
	bad[5].index = UINT32_MAX;
	for (unsigned i = 0; i < 6; i++) {
		ck_assert_msg(ica_lookup(&t, &bad[i]) == NULL, "bad ref %u accepted", i);
		ck_assert_int_eq(ica_holds(&t, &bad[i], 1), -1);
		ck_assert_int_eq(ica_hold(&t, &bad[i], 2, 0), -ENOENT);
		ck_assert_int_eq(ica_hold(&t, &bad[i], 2, 1), -ENOENT);
		ica_ref(&t, &bad[i]);
		ica_unref(&t, &bad[i]);
		ica_unhold(&t, &bad[i], 1);
	}
	/* none of it touched the real entry */
	struct ica_entry *e = ica_lookup(&t, &ok);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->refs, 0);
	ck_assert_uint_eq(e->nholders, 1);
	ck_assert_int_eq(e->sealed, 0);
	ck_assert_int_eq(ica_holds(&t, &ok, 1), 0);

	/* an unref without a ref does not free a held area either */
	ica_unref(&t, &ok);
	ck_assert_uint_eq(ica_live_count(&t), 1);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_hold_ro_seals)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	struct ant_ica_ref ref = alloc_ok(&t, 2 * ps(), 1, &fd);
	size_t size = ref.size;
	unsigned char *w = map_or_fail(fd, size, 1);  /* the writer's own mapping */
	memset(w, 'W', size);

	int ro = ica_hold(&t, &ref, 2, 1);
	ck_assert_int_ge(ro, 0);
	ck_assert_int_ne(ro, fd);
	ck_assert(is_rdonly(ro));
	ck_assert_uint_eq(stat_of(ro).st_ino, stat_of(fd).st_ino);
	ck_assert_int_eq(ant_area_is_sealed_ro(fd), 1);
	ck_assert_int_eq(ica_lookup(&t, &ref)->sealed, 1);
	ck_assert_int_eq(ica_holds(&t, &ref, 2), 1);
	ck_assert_int_eq(ica_holds(&t, &ref, 1), 0);   /* the allocator keeps its hold */

	/* holding again: the same fd, no second entry */
	ck_assert_int_eq(ica_hold(&t, &ref, 2, 1), ro);
	ck_assert_uint_eq(ica_lookup(&t, &ref)->nholders, 2);

	/* sealed cannot be written again: a read-write request gets read-only */
	ck_assert_int_eq(ica_hold(&t, &ref, 3, 0), ro);
	ck_assert_int_eq(ica_holds(&t, &ref, 3), 1);
	ck_assert_uint_eq(ica_lookup(&t, &ref)->nholders, 3);

	/* and nothing handed out maps writable */
	ck_assert(!can_map_rw(ro, size));
	ck_assert(!can_map_rw(fd, size));
	ck_assert(!can_mprotect_rw(ro, size));
	int rw = reopen_rw(ro);
	if (rw >= 0) {
		ck_assert(!can_map_rw(rw, size));
		ck_assert(!can_write(rw));
		close(rw);
	}
	/* the writer's earlier mapping still writes the pages readers see */
	unsigned char *r = map_or_fail(ro, size, 0);
	ck_assert(all_bytes(r, size, 'W'));
	memset(w, 'V', size);
	ck_assert(all_bytes(r, size, 'V'));
	munmap(r, size);
	munmap(w, size);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_hold_rw)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	struct ant_ica_ref ref = alloc_ok(&t, 1, 1, &fd);
	/* a read-write hand-over: the same fd, not sealed */
	ck_assert_int_eq(ica_hold(&t, &ref, 2, 0), fd);
	ck_assert_int_eq(ica_holds(&t, &ref, 2), 0);
	ck_assert_int_eq(ant_area_is_sealed_ro(fd), 0);
	ck_assert_int_eq(ica_lookup(&t, &ref)->ro_fd, -1);
	/* the allocator asking again changes nothing */
	ck_assert_int_eq(ica_hold(&t, &ref, 1, 0), fd);
	ck_assert_uint_eq(ica_lookup(&t, &ref)->nholders, 2);
	/* a later read-only hand-over seals, but never downgrades a holder */
	int ro = ica_hold(&t, &ref, 2, 1);
	ck_assert_int_ge(ro, 0);
	ck_assert_int_ne(ro, fd);
	ck_assert_int_eq(ant_area_is_sealed_ro(fd), 1);
	ck_assert_int_eq(ica_holds(&t, &ref, 2), 0);
	ck_assert_int_eq(ica_holds(&t, &ref, 1), 0);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_free_and_recycle)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);

	/* An area two peers held is destroyed when both let go: the first could
	 * still have it mapped, so nobody may get it again. */
	int fd;
	struct ant_ica_ref shared = alloc_ok(&t, 3 * ps(), 1, &fd);
	ck_assert_int_eq(ica_hold(&t, &shared, 2, 0), fd);
	ica_unhold(&t, &shared, 1);
	ck_assert_uint_eq(ica_live_count(&t), 1);      /* 2 still holds it */
	ck_assert_int_eq(ica_holds(&t, &shared, 1), -1);
	ck_assert_int_eq(ica_holds(&t, &shared, 2), 0);
	ica_unhold(&t, &shared, 1);                    /* not a holder: no-op */
	ck_assert_uint_eq(ica_live_count(&t), 1);
	ica_unhold(&t, &shared, 2);
	ck_assert_uint_eq(ica_live_count(&t), 0);
	ck_assert_uint_eq(t.live_bytes, 0);
	ck_assert_ptr_null(ica_lookup(&t, &shared));
	ck_assert_uint_eq(t.pooled_bytes, 0);

	/* An area only its allocator held goes to the pool, scrubbed. */
	struct ant_ica_ref old = alloc_ok(&t, 3 * ps(), 1, &fd);
	size_t size = old.size;
	ino_t ino = stat_of(fd).st_ino;
	unsigned char *m = map_or_fail(fd, size, 1);
	memset(m, 0x5A, size);   /* an earlier request's bytes */
	munmap(m, size);
	ica_unhold(&t, &old, 1);
	ck_assert_uint_eq(t.pooled_bytes, size);
	ck_assert_int_eq(stat_of(fd).st_blocks, 0);    /* scrubbed in the pool */

	/* a different class does not take it, nor another peer */
	int fd2;
	struct ant_ica_ref other = alloc_ok(&t, 1, 1, &fd2);
	ck_assert_uint_ne(other.index, old.index);
	struct ant_ica_ref stranger = alloc_ok(&t, size - 1, 3, &fd2);
	ck_assert_uint_ne(stranger.index, old.index);
	ck_assert_uint_ne(stat_of(fd2).st_ino, ino);
	ck_assert_uint_eq(t.recycled, 0);
	ck_assert_uint_eq(t.created, 4);

	/* the same class, same peer does: same slot and area, new generation */
	int fd3;
	struct ant_ica_ref neu = alloc_ok(&t, size - 1, 1, &fd3);
	ck_assert_uint_eq(neu.index, old.index);
	ck_assert_uint_eq(neu.size, old.size);
	ck_assert_uint_ne(neu.gen, old.gen);
	ck_assert_uint_eq(t.recycled, 1);
	ck_assert_uint_eq(t.created, 4);
	ck_assert_uint_eq(t.pooled_bytes, 0);
	ck_assert_uint_eq(stat_of(fd3).st_ino, ino);

	/* the old id is dead for good */
	ck_assert_ptr_null(ica_lookup(&t, &old));
	ck_assert_int_eq(ica_holds(&t, &old, 1), -1);
	ck_assert_int_eq(ica_hold(&t, &old, 1, 0), -ENOENT);
	ica_unhold(&t, &old, 1);
	ica_ref(&t, &old);
	ck_assert_uint_eq(ica_lookup(&t, &neu)->refs, 0);
	ck_assert_int_eq(ica_holds(&t, &neu, 1), 0);
	ck_assert_int_eq(ica_holds(&t, &neu, 3), -1);

	/* nothing of the earlier request's bytes */
	unsigned char *n = map_or_fail(fd3, neu.size, 1);
	ck_assert(all_bytes(n, neu.size, 0));
	munmap(n, neu.size);

	/* A peer that is gone takes its pooled areas with it. */
	ica_unhold(&t, &neu, 1);
	ck_assert_uint_eq(t.pooled_bytes, size);
	ica_unhold_all(&t, 1);
	ck_assert_uint_eq(t.pooled_bytes, 0);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_sealed_not_recycled)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int base = count_fds(0);
	int fd;
	struct ant_ica_ref ref = alloc_ok(&t, 1, 1, &fd);
	ino_t ino = stat_of(fd).st_ino;
	ck_assert_int_ge(ica_hold(&t, &ref, 2, 1), 0);
	ck_assert_int_eq(count_fds(0), base + 2);     /* rw fd + ro fd */
	ica_unhold(&t, &ref, 2);
	ica_unhold(&t, &ref, 1);
	ck_assert_uint_eq(ica_live_count(&t), 0);
	ck_assert_uint_eq(t.pooled_bytes, 0);
	ck_assert_int_eq(count_fds(0), base);         /* destroyed, both fds */

	int fd2;
	struct ant_ica_ref neu = alloc_ok(&t, 1, 3, &fd2);
	ck_assert_uint_eq(neu.index, ref.index);      /* the slot is reused... */
	ck_assert_uint_ne(neu.gen, ref.gen);
	ck_assert_ptr_null(ica_lookup(&t, &ref));
	ck_assert_uint_ne(stat_of(fd2).st_ino, ino);  /* ...the area is not */
	ck_assert_uint_eq(t.recycled, 0);
	ck_assert_uint_eq(t.created, 2);
	ck_assert_int_eq(ant_area_is_sealed_ro(fd2), 0);
	ck_assert_int_eq(ica_lookup(&t, &neu)->sealed, 0);
	ck_assert_int_eq(ica_lookup(&t, &neu)->ro_fd, -1);
	ck_assert(can_map_rw(fd2, neu.size));
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_refs)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	struct ant_ica_ref ref = alloc_ok(&t, 1, 1, &fd);
	ica_ref(&t, &ref);
	ica_ref(&t, &ref);
	ck_assert_uint_eq(ica_lookup(&t, &ref)->refs, 2);
	ica_unhold(&t, &ref, 1);
	/* no holder, but calls in flight carry it */
	ck_assert_ptr_nonnull(ica_lookup(&t, &ref));
	ck_assert_uint_eq(ica_live_count(&t), 1);
	ck_assert_int_eq(ica_holds(&t, &ref, 1), -1);
	ica_unref(&t, &ref);
	ck_assert_ptr_nonnull(ica_lookup(&t, &ref));
	ica_unref(&t, &ref);
	ck_assert_ptr_null(ica_lookup(&t, &ref));
	ck_assert_uint_eq(ica_live_count(&t), 0);
	ck_assert_uint_eq(t.live_bytes, 0);
	ica_unref(&t, &ref);                         /* stale: no-op */

	/* a holder keeps it after the last unref too */
	ref = alloc_ok(&t, 1, 1, &fd);
	ica_ref(&t, &ref);
	ica_unref(&t, &ref);
	ck_assert_ptr_nonnull(ica_lookup(&t, &ref));
	ica_unhold(&t, &ref, 1);
	ck_assert_ptr_null(ica_lookup(&t, &ref));
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_live_limit)
{
	size_t p = ps();
	struct ica_table t;
	ica_table_init(&t, 2 * p, BIG);
	int fd;
	struct ant_ica_ref a = alloc_ok(&t, 1, 1, &fd);
	alloc_ok(&t, p, 1, &fd);
	struct ant_ica_ref r;
	fd = -1;
	ck_assert_int_eq(ica_alloc(&t, 1, 1, &r, &fd), -ENOSPC);
	ck_assert_int_eq(fd, -1);
	ck_assert_uint_eq(ica_live_count(&t), 2);
	ck_assert_uint_eq(t.created, 2);
	ica_unhold(&t, &a, 1);
	ck_assert_int_eq(ica_alloc(&t, 2 * p, 1, &r, &fd), -ENOSPC);
	alloc_ok(&t, 1, 1, &fd);                     /* room again */
	ck_assert_uint_eq(t.recycled, 1);
	ck_assert_int_eq(ica_alloc(&t, 1, 1, &r, &fd), -ENOSPC);
	ica_table_fini(&t);

	/* the limit counts the size class, not the size asked for */
	ica_table_init(&t, 3 * p, BIG);
	ck_assert_int_eq(ica_alloc(&t, 3 * p, 1, &r, &fd), -ENOSPC);
	ck_assert_int_eq(ica_alloc(&t, 2 * p, 1, &r, &fd), 0);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_pool_limit)
{
	size_t p = ps();
	struct ica_table t;
	/* 0: nothing is pooled, every area is made anew and destroyed */
	ica_table_init(&t, BIG, 0);
	int base = count_fds(0);
	ino_t prev = 0;
	for (unsigned i = 0; i < 3; i++) {
		int fd;
		struct ant_ica_ref ref = alloc_ok(&t, 1, 1, &fd);
		ino_t ino = stat_of(fd).st_ino;
		ck_assert_uint_ne(ino, prev);
		prev = ino;
		ica_unhold(&t, &ref, 1);
		ck_assert_int_eq(count_fds(0), base);
		ck_assert_uint_eq(t.pooled_bytes, 0);
	}
	ck_assert_uint_eq(t.created, 3);
	ck_assert_uint_eq(t.recycled, 0);
	ck_assert_uint_eq(t.n, 1);                   /* one slot, reused */
	ica_table_fini(&t);

	/* one page: one area of one page stays, the second goes */
	ica_table_init(&t, BIG, p);
	base = count_fds(0);
	int fa, fb;
	struct ant_ica_ref a = alloc_ok(&t, 1, 1, &fa);
	struct ant_ica_ref b = alloc_ok(&t, 1, 1, &fb);
	struct ant_ica_ref c = alloc_ok(&t, 2 * p, 1, &fb);
	ica_unhold(&t, &c, 1);                       /* too big for the pool */
	ica_unhold(&t, &a, 1);
	ica_unhold(&t, &b, 1);
	ck_assert_uint_eq(t.pooled_bytes, p);
	ck_assert_int_eq(count_fds(0), base + 1);
	alloc_ok(&t, 1, 1, &fb);
	alloc_ok(&t, 1, 1, &fb);
	ck_assert_uint_eq(t.recycled, 1);
	ck_assert_uint_eq(t.created, 4);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_unhold_all)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	struct ant_ica_ref r[5];
	for (unsigned i = 0; i < 5; i++)
		r[i] = alloc_ok(&t, (i + 1) * ps(), 1, &fd);
	ck_assert_int_ge(ica_hold(&t, &r[0], 2, 0), 0);
	ck_assert_int_ge(ica_hold(&t, &r[1], 2, 1), 0);
	ica_ref(&t, &r[2]);
	struct ant_ica_ref mine = alloc_ok(&t, 1, 2, &fd);  /* 1 never held it */
	ck_assert_uint_eq(ica_live_count(&t), 6);

	ica_unhold_all(&t, 1);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(ica_holds(&t, &r[i], 1), -1);
	ck_assert_ptr_nonnull(ica_lookup(&t, &r[0]));
	ck_assert_ptr_nonnull(ica_lookup(&t, &r[1]));
	ck_assert_ptr_nonnull(ica_lookup(&t, &r[2]));     /* in flight */
	ck_assert_ptr_null(ica_lookup(&t, &r[3]));
	ck_assert_ptr_null(ica_lookup(&t, &r[4]));
	ck_assert_int_eq(ica_holds(&t, &r[0], 2), 0);
	ck_assert_int_eq(ica_holds(&t, &r[1], 2), 1);
	ck_assert_int_eq(ica_holds(&t, &mine, 2), 0);
	ck_assert_uint_eq(ica_live_count(&t), 4);

	ica_unhold_all(&t, 2);
	ck_assert_uint_eq(ica_live_count(&t), 1);
	ica_unref(&t, &r[2]);
	ck_assert_uint_eq(ica_live_count(&t), 0);
	ck_assert_uint_eq(t.live_bytes, 0);
	ica_unhold_all(&t, 2);                        /* nothing left: no-op */
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_many_holders)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	struct ant_ica_ref ref = alloc_ok(&t, 1, 0, &fd);
	for (uint64_t k = 1; k < 40; k++)
		ck_assert_int_eq(ica_hold(&t, &ref, k << 32 | k, 0), fd);
	ck_assert_uint_eq(ica_lookup(&t, &ref)->nholders, 40);
	for (uint64_t k = 39; k >= 1; k--) {
		ica_unhold(&t, &ref, k << 32 | k);
		ck_assert_int_eq(ica_holds(&t, &ref, k << 32 | k), -1);
		ck_assert_int_eq(ica_holds(&t, &ref, 0), 0);
	}
	ica_unhold(&t, &ref, 0);
	ck_assert_uint_eq(ica_live_count(&t), 0);

	/* many areas: the slot array grows, ids stay valid */
	struct ant_ica_ref refs[200];
	for (unsigned i = 0; i < 200; i++)
		refs[i] = alloc_ok(&t, 1, i, &fd);
	for (unsigned i = 0; i < 200; i++)
		ck_assert_int_eq(ica_holds(&t, &refs[i], i), 0);
	ck_assert_uint_eq(ica_live_count(&t), 200);
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_gen_wrap)
{
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	t.next_gen = UINT32_MAX - 1;
	int fd;
	struct ant_ica_ref a = alloc_ok(&t, 1, 1, &fd);
	struct ant_ica_ref b = alloc_ok(&t, 1, 1, &fd);
	ck_assert_uint_eq(a.gen, UINT32_MAX);
	ck_assert_uint_eq(b.gen, 1);                 /* 0 is skipped */
	ica_table_fini(&t);
}
END_TEST

START_TEST(test_fini_closes)
{
	int base = count_fds(0);
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	struct ant_ica_ref pooled = alloc_ok(&t, 1, 1, &fd);
	struct ant_ica_ref sealed = alloc_ok(&t, 1, 1, &fd);
	alloc_ok(&t, 4 * ps(), 1, &fd);
	struct ant_ica_ref dead = alloc_ok(&t, 1, 1, &fd);
	ck_assert_int_ge(ica_hold(&t, &sealed, 2, 1), 0);
	ck_assert_int_ge(ica_hold(&t, &dead, 2, 1), 0);
	ica_unhold(&t, &pooled, 1);
	ica_unhold_all(&t, 2);
	ica_unhold(&t, &dead, 1);
	ck_assert_int_gt(count_fds(0), base);
	ica_table_fini(&t);
	ck_assert_int_eq(count_fds(0), base);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_ptr_null(t.e);
	ck_assert_uint_eq(ica_live_count(&t), 0);
}
END_TEST

/* The stock: areas of a size asked for are made ahead with their pages
 * allocated, handed to the next asker of that size (any peer: nobody saw
 * them), zeroed and whole; small sizes are not stocked; fini closes them. */
START_TEST(test_stock)
{
	int base = count_fds(0);
	struct ica_table t;
	ica_table_init(&t, BIG, BIG);
	int fd;
	ck_assert_int_eq(ica_stock_one(&t), 0);          /* nothing asked for yet */
	alloc_ok(&t, 1, 1, &fd);                          /* one page: not stocked */
	ck_assert_int_eq(ica_stock_one(&t), 0);
	alloc_ok(&t, 1 << 20, 1, &fd);                    /* 1 MiB: now wanted */
	unsigned made = 0;
	while (ica_stock_one(&t))
		made++;
	ck_assert_uint_eq(made, ICA_STOCK_PER_CLASS);
	ck_assert_uint_eq(t.stock_bytes, (size_t)ICA_STOCK_PER_CLASS << 20);
	/* Its pages are there already (fallocate), and it is all zeros. */
	struct stat st;
	ck_assert_int_eq(fstat(t.stock[8][0], &st), 0);
	ck_assert_int_ge(st.st_blocks * 512, 1 << 20);
	struct ant_ica_ref r = alloc_ok(&t, 1 << 20, 7, &fd);   /* another peer */
	ck_assert_uint_eq(t.stocked, 1);
	ck_assert_uint_eq(r.size, 1 << 20);
	unsigned char *m = mmap(NULL, 1 << 20, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert(m != MAP_FAILED);
	size_t k = 0;
	while (k < (1u << 20) && m[k] == 0)
		k++;
	ck_assert_uint_eq(k, 1u << 20);
	munmap(m, 1 << 20);
	ck_assert_int_eq(ica_stock_one(&t), 1);          /* topped up again */
	ck_assert_int_eq(ica_stock_one(&t), 0);
	ica_table_fini(&t);
	ck_assert_int_eq(count_fds(0), base);
}
END_TEST

static Suite *ica_suite(void)
{
	Suite *s = suite_create("ica");
	TCase *tc = tcase_create("area");
	tcase_add_test(tc, test_round);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_scrub);
	tcase_add_test(tc, test_seal_ro_trap);
	tcase_add_test(tc, test_child_without_fd);
	tcase_add_test(tc, test_child_scm_rights_rw);
	tcase_add_test(tc, test_child_scm_rights_ro);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_alloc);
	tcase_add_test(tc, test_lookup_rejects);
	tcase_add_test(tc, test_hold_ro_seals);
	tcase_add_test(tc, test_hold_rw);
	tcase_add_test(tc, test_free_and_recycle);
	tcase_add_test(tc, test_sealed_not_recycled);
	tcase_add_test(tc, test_refs);
	tcase_add_test(tc, test_live_limit);
	tcase_add_test(tc, test_pool_limit);
	tcase_add_test(tc, test_unhold_all);
	tcase_add_test(tc, test_many_holders);
	tcase_add_test(tc, test_gen_wrap);
	tcase_add_test(tc, test_fini_closes);
	tcase_add_test(tc, test_stock);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(ica_suite)
