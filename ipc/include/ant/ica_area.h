/* ica_area.h - page-granular areas of shared memory (memfd): create, scrub, seal, map. */
#ifndef ANT_ICA_AREA_H
#define ANT_ICA_AREA_H

#include <stddef.h>

/* size rounded up to whole pages (0 stays 0). */
size_t ant_area_round(size_t size);

/* Create an area of ant_area_round(size) bytes: a memfd, close-on-exec,
 * sealed against shrinking and growing.  Returns the fd or -errno. */
int ant_area_create(size_t size);
/* The same under another name (/proc/PID/maps shows "memfd:NAME"). */
int ant_area_create_named(size_t size, const char *name);

/* Zero every byte of the area and give its pages back (hole punch), so a
 * recycled area shows nothing of an earlier request.  Returns 0 or -errno. */
int ant_area_scrub(int fd, size_t size);

/* Make the area read-only for every mapping made from now on, through any
 * fd, including a reopen of /proc/self/fd/N (F_SEAL_FUTURE_WRITE).  Mappings
 * that exist stay as they are.  Irreversible.  Returns 0 or -errno. */
int ant_area_seal_ro(int fd);

/* 1 if the area is sealed read-only, 0 if not, -errno. */
int ant_area_is_sealed_ro(int fd);

/* A new O_RDONLY fd for the same area (the caller owns it), or -errno. */
int ant_area_reopen_ro(int fd);

/* Map size bytes of fd shared, read-write or read-only.  Returns 0 or -errno. */
/* Areas up to this size are mapped with all their pages present (MAP_POPULATE). */
#define ANT_AREA_POPULATE_MAX (64u << 20)
int ant_area_map(int fd, size_t size, int writable, void **addr);

#endif
