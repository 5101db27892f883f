/* ctl_client.c - one client of antd's control socket: connect, one JSON request, one JSON reply, follow. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ctl_client.h"

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_init(struct ctl_conn *c, const char *run_dir)
{
	c->fd = -1;
	c->raw = NULL;
	if (snprintf(c->path, sizeof(c->path), "%s/control.sock", run_dir) >= (int)sizeof(c->path))
		return -ENAMETOOLONG;
	return 0;
}

int ctl_connect(struct ctl_conn *c)
{
	int fd = ant_sock_connect(c->path);
	if (fd < 0)
		return fd;
	c->fd = fd;
	return 0;
}

int ctl_open(struct ctl_conn *c, const char *run_dir)
{
	int r = ctl_init(c, run_dir);
	return r < 0 ? r : ctl_connect(c);
}

void ctl_close(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->raw);
	c->raw = NULL;
}

int ctl_send(struct ctl_conn *c, const json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	ssize_t w;
	do
		w = send(c->fd, s, n, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR && !(c->stop && *c->stop));
	int e = w < 0 ? -errno : 0;
	free(s);
	return e;
}

/* Printable excerpt of bytes that were meant to be JSON. */
static void excerpt(const char *p, size_t n, char *buf, size_t len)
{
	size_t o = 0, i;
	for (i = 0; i < n && o + 8 < len; i++) {
		unsigned char b = (unsigned char)p[i];
		if (b >= 32 && b < 127)
			buf[o++] = (char)b;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", b);
	}
	if (i < n)
		o += (size_t)snprintf(buf + o, len - o, "...");
	buf[o] = '\0';
}

/* Wait until c->fd is readable.  Returns 0, -ETIMEDOUT, -EINTR or -errno. */
static int wait_readable(struct ctl_conn *c, int timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	for (;;) {
		long long left = deadline - mono_ms();
		int n = poll(&pfd, 1, timeout_ms < 0 ? -1 : left > 0 ? (int)left : 0);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
		if (c->stop && *c->stop)
			return -EINTR;
	}
}

int ctl_recv(struct ctl_conn *c, int timeout_ms, json_t **out, char *why, size_t whylen)
{
	*out = NULL;
	int r = wait_readable(c, timeout_ms);
	if (r < 0)
		return r;
	/* A SOCK_SEQPACKET message comes whole: learn its size first. */
	ssize_t size;
	do
		size = recv(c->fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (size < 0 && errno == EINTR);
	if (size < 0)
		return -errno;
	if (size == 0)
		return -ECONNRESET;
	free(c->raw);
	c->raw = malloc((size_t)size + 1);
	if (!c->raw)
		return -ENOMEM;
	ssize_t got;
	do
		got = recv(c->fd, c->raw, (size_t)size, 0);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return got == 0 ? -ECONNRESET : -errno;
	c->raw[got] = '\0';
	json_error_t jerr;
	json_t *o = json_loadb(c->raw, (size_t)got, 0, &jerr);
	if (!o || !json_is_object(o)) {
		char ex[96];
		excerpt(c->raw, (size_t)got, ex, sizeof(ex));
		if (why)
			snprintf(why, whylen, "'%s' (%s)", ex, o ? "not an object" : jerr.text);
		json_decref(o);
		return -EBADMSG;
	}
	*out = o;
	return 0;
}

int ctl_request(struct ctl_conn *c, const json_t *req, int timeout_ms, json_t **out,
		char *why, size_t whylen)
{
	*out = NULL;
	int r = ctl_send(c, req);
	return r < 0 ? r : ctl_recv(c, timeout_ms, out, why, whylen);
}

int ctl_request_once(const char *run_dir, const json_t *req, int timeout_ms, json_t **out,
		     char *why, size_t whylen)
{
	struct ctl_conn c;
	*out = NULL;
	int r = ctl_open(&c, run_dir);
	if (r == 0)
		r = ctl_request(&c, req, timeout_ms, out, why, whylen);
	ctl_close(&c);
	return r;
}

double ctl_num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

const char *ctl_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

json_t *ctl_status_server(const json_t *status, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(status, "servers"), i, s) {
		const char *n = json_string_value(json_object_get(s, "name"));
		if (n && strcmp(n, name) == 0)
			return s;
	}
	return NULL;
}

int ctl_not_running(const json_t *status, char *buf, size_t len)
{
	size_t o = 0, i;
	int count = 0;
	json_t *s;
	buf[0] = '\0';
	json_array_foreach(json_object_get(status, "servers"), i, s) {
		const char *state = json_string_value(json_object_get(s, "state"));
		const char *name = json_string_value(json_object_get(s, "name"));
		if (state && strcmp(state, "running") == 0)
			continue;
		count++;
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s (%s)", o ? ", " : "",
					      name ? name : "-", state ? state : "-");
	}
	return count;
}
