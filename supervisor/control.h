/* control.h - the operator's control socket: one JSON request per message, one JSON reply. */
#ifndef ANTD_CONTROL_H
#define ANTD_CONTROL_H

#include <stddef.h>

struct peer;

/* The handler of control peers (installed by antd.c): req is one request,
 * NUL-terminated, len bytes. */
void control_on_message(struct peer *p, unsigned char *req, size_t len, int fd);

#endif
