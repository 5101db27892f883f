/* areas.h - the callers' data ICAs a server keeps between calls, so that the next call bringing the same area costs no fd, mmap or munmap. */
#ifndef ANT_SERVERS_AREAS_H
#define ANT_SERVERS_AREAS_H

#include <stdint.h>

#include "ant/ant.h"

#define AREAS_MAX 8u   /* areas kept at once (ant-fuse sends one per thread) */

/*
 * A caller that reads into an area of its own (ant-fuse: one per thread)
 * sends the same area with every read.  A server that keeps its hold on it
 * is not handed its fd again (antd sees it holds it), and keeps its mapping:
 * the next read that brings it costs nothing to receive.  At most AREAS_MAX,
 * the least recently used given up first.
 */
struct areas {
	struct {
		struct ant_ica *ica;
		uint64_t used;
	} v[AREAS_MAX];
	unsigned n;
	uint64_t clock;
};

/*
 * Take the call's data ICA out of it (ant_item_take_data) and keep it if it
 * is writable; a read-only one is released (no use for bytes put into it).
 * Returns the area, or NULL if the call brought none or a read-only one.
 */
struct ant_ica *areas_take(struct areas *a, struct ant_conn *c, struct ant_item *it);

#endif
