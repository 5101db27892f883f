/* follow.h - the control connections that follow antd's log (antctl log -f): each new event goes to each. */
#ifndef ANTD_FOLLOW_H
#define ANTD_FOLLOW_H

#include <stdint.h>

struct antd;
struct peer;

/* p (a control connection) gets every event logged from now on, one JSON
 * datagram {"event": ...} each; one too slow to take them is hung up on.
 * Returns 0, or -1 if FOLLOWERS_MAX follow already. */
#define FOLLOWERS_MAX 64
int follow_add(struct peer *p);
/* A re-exec of antd: the keys of the connections following (at most max),
 * and one of them following again in the new antd (0, or -1 if it is not a
 * control connection or there is no room). */
unsigned follow_keys(struct antd *d, uint64_t *keys, unsigned max);
int follow_key(struct antd *d, uint64_t key);

#endif
