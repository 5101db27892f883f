/* listen.h - antd's two listening sockets: app.sock for applications, control.sock for operators. */
#ifndef ANTD_LISTEN_H
#define ANTD_LISTEN_H

#include <stddef.h>

struct antd;

/* Listen on d->app_path (0600, or 0666 when the stack file lets other users
 * in: each connection's credentials are checked) and d->control_path
 * (0600: root or antd's own uid), and accept from the loop.  Returns 0, or
 * -1 with err (nothing left open). */
int listen_open(struct antd *d, char *err, size_t errlen);
/* Accept from two sockets that are listening already (a re-exec of antd). */
void listen_adopt(struct antd *d, int app_fd, int control_fd);
/* Stop listening and remove both sockets (idempotent). */
void listen_close(struct antd *d);

#endif
