/* notify.h - tell the service manager how antd is doing: systemd's sd_notify protocol. */
#ifndef ANTD_NOTIFY_H
#define ANTD_NOTIFY_H

#include <ev.h>

/*
 * When antd runs under systemd with Type=notify, $NOTIFY_SOCKET names a
 * datagram socket (a path, or "@name" for an abstract one) to which it
 * sends lines such as READY=1, STATUS=..., RELOADING=1, STOPPING=1 and
 * WATCHDOG=1 (sd_notify(3); the protocol is stable and documented, so antd
 * speaks it without libsystemd).  Without $NOTIFY_SOCKET every call here
 * does nothing.  Servers never see $NOTIFY_SOCKET (forker.c leaves it out of
 * their environment), so no server can speak for antd.
 */

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC once.  Returns 1 if there is a
 * service manager to tell, 0 if not, < 0 (-errno) if $NOTIFY_SOCKET is
 * unusable (the caller logs it; antd runs on). */
int notify_open(void);
/* Send one message ("READY=1\nSTATUS=..."); printf-like.  0 or -errno. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* If $WATCHDOG_USEC is set (for this pid): ping the manager at half the
 * interval from loop, for as long as the loop runs. */
void notify_watchdog_start(struct ev_loop *loop);
void notify_close(void);

#endif
