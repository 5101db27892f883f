/* control.h - the operator's control socket: one JSON request per message, one JSON reply. */
#ifndef ANTD_CONTROL_H
#define ANTD_CONTROL_H

#include <stddef.h>

struct peer;

/* The handler of control peers (installed by antd.c): req is one request,
 * NUL-terminated, len bytes. */
void control_on_message(struct peer *p, unsigned char *req, size_t len, int fd);

/* Send a JSON reply (o is stolen) to the control connection p. */
#include <jansson.h>
#include <stdint.h>
struct antd;
void control_reply(struct peer *p, json_t *o);
/* A re-exec of antd: the connections following the log (at most max of
 * their keys), and one of them following again in the new antd (0, or -1
 * if it is not a control connection or there is no room). */
unsigned control_followers(struct antd *d, uint64_t *keys, unsigned max);
int control_follow_key(struct antd *d, uint64_t key);

#endif
