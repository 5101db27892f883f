/* notify.c - tell the service manager how antd is doing: systemd's sd_notify protocol. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static struct {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
	double watchdog_s;       /* the manager's watchdog interval, 0: none */
	ev_timer watchdog;
} nt = { .fd = -1 };

int notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	size_t len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(nt.addr.sun_path))
		return -EINVAL;
	memset(&nt.addr, 0, sizeof(nt.addr));
	nt.addr.sun_family = AF_UNIX;
	memcpy(nt.addr.sun_path, path, len);
	if (path[0] == '@')
		nt.addr.sun_path[0] = '\0';   /* abstract: no terminating NUL counted */
	nt.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
	if (nt.fd < 0)
		nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (nt.fd < 0)
		return -errno;
	/* The watchdog is for us only if WATCHDOG_PID is absent or ours. */
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	unsigned long long us = usec ? strtoull(usec, &end, 10) : 0;
	if (usec && *end == '\0' && us > 0 && (!pid || atol(pid) == (long)getpid()))
		nt.watchdog_s = (double)us / 1e6;
	return 1;
}

int notify_send(const char *fmt, ...)
{
	if (nt.fd < 0)
		return 0;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	ssize_t w = sendto(nt.fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&nt.addr,
			   nt.addrlen);
	return w < 0 ? -errno : 0;
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	notify_send("WATCHDOG=1");
}

void notify_watchdog_start(struct ev_loop *loop)
{
	if (nt.fd < 0 || nt.watchdog_s <= 0)
		return;
	ev_timer_init(&nt.watchdog, on_watchdog, 0., nt.watchdog_s / 2);
	ev_timer_again(loop, &nt.watchdog);
	ev_unref(loop);   /* the ping alone does not keep the loop running */
	on_watchdog(loop, &nt.watchdog, 0);
}

void notify_close(void)
{
	if (nt.fd >= 0)
		close(nt.fd);
	nt.fd = -1;
}
