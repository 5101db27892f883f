/* ica_area.c - page-granular areas of shared memory (memfd): create, scrub, seal, map. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ant/ica_area.h"

static size_t page_size(void)
{
	static size_t ps;
	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

size_t ant_area_round(size_t size)
{
	size_t ps = page_size();
	if (size > SIZE_MAX - (ps - 1))
		return 0;
	return (size + ps - 1) / ps * ps;
}

int ant_area_create(size_t size)
{
	return ant_area_create_named(size, "ant-ica");
}

int ant_area_create_named(size_t size, const char *name)
{
	size_t sz = ant_area_round(size);
	if (!sz)
		return -EINVAL;
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)sz) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int ant_area_scrub(int fd, size_t size)
{
	/* A punched hole reads back as zeros and its pages go back to the
	 * kernel: cheaper than memset for large areas, and nothing of the
	 * previous holder's bytes survives in the page cache. */
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)size) < 0)
		return -errno;
	return 0;
}

int ant_area_seal_ro(int fd)
{
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0)
		return -errno;
	return 0;
}

int ant_area_is_sealed_ro(int fd)
{
	int s = fcntl(fd, F_GET_SEALS);
	if (s < 0)
		return -errno;
	return !!(s & (F_SEAL_FUTURE_WRITE | F_SEAL_WRITE));
}

int ant_area_reopen_ro(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	return ro < 0 ? -errno : ro;
}

int ant_area_map(int fd, size_t size, int writable, void **addr)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	/* Map every page now: a data ICA is nearly always used whole (a block,
	 * a read's bytes), and one populating mmap costs far less than a page
	 * fault per page (measured: faults were half of fs's time on a large
	 * read).  Not for huge areas, whose pages a peer may never touch. */
	int populate = size <= ANT_AREA_POPULATE_MAX ? MAP_POPULATE : 0;
	void *p = mmap(NULL, size, prot, MAP_SHARED | populate, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	return 0;
}
