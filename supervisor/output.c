/* output.c - what servers print: each server's stdout and stderr, logged line by line under its name. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "ant/proto.h"
#include "log.h"

/*
 * A server's output used to go straight to antd's own stderr, so a server
 * could write lines that looked like antd's (a forged "server-exit", say) and
 * nobody could tell which server printed what.  Now each child's stdout and
 * stderr are one pipe that antd reads: every line becomes an "output" event
 * with the server's name and pid, and bytes that could fake a line break or
 * a terminal sequence are escaped.
 */

struct output {
	ev_io w;                     /* first: the callback gets it back */
	TAILQ_ENTRY(output) link;
	char name[ANT_NAME_MAX];
	pid_t pid;
	size_t len;                  /* bytes of the line being gathered */
	char line[OUTPUT_LINE_MAX + 1];
	ev_tstamp second;            /* the second lines are being counted in */
	unsigned lines, dropped;
};

/* Every live watch, oldest first (for output_close_all). */
static TAILQ_HEAD(outputs_head, output) outputs = TAILQ_HEAD_INITIALIZER(outputs);

int output_pipe(int fds[2])
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* The child's end blocks (a server that prints a lot waits for antd
	 * rather than losing its lines) and keeps clear of fds 3.. */
	int w = fcntl(p[1], F_DUPFD_CLOEXEC, 10);
	int e = errno;
	close(p[1]);
	if (w < 0) {
		close(p[0]);
		return -e;
	}
	fcntl(w, F_SETFL, fcntl(w, F_GETFL) & ~O_NONBLOCK);
	fds[0] = p[0];
	fds[1] = w;
	return 0;
}

/* One finished line: escaped, counted, logged. */
static void emit(struct ev_loop *loop, struct output *o)
{
	ev_tstamp now = ev_now(loop);
	if (now - o->second >= 1.0) {
		if (o->dropped)
			log_warn("output", o->name, "pid %d: %u lines dropped (more than %u a second)",
				 (int)o->pid, o->dropped, OUTPUT_LINES_PER_S);
		o->second = now;
		o->lines = o->dropped = 0;
	}
	if (++o->lines > OUTPUT_LINES_PER_S) {
		o->dropped++;
		o->len = 0;
		return;
	}
	char esc[OUTPUT_LINE_MAX * 4 + 1];
	size_t k = 0;
	for (size_t i = 0; i < o->len; i++) {
		unsigned char ch = (unsigned char)o->line[i];
		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			k += (size_t)snprintf(esc + k, sizeof(esc) - k, ch == '\\' ? "\\\\" : "\\x%02x", ch);
		else
			esc[k++] = (char)ch;
	}
	esc[k] = '\0';
	log_info("output", o->name, "pid %d: %s", (int)o->pid, esc);
	o->len = 0;
}

static void close_one(struct ev_loop *loop, struct output *o)
{
	ev_io_stop(loop, &o->w);
	close(o->w.fd);
	TAILQ_REMOVE(&outputs, o, link);
	free(o);
}

/* Read what the pipe holds and log its whole lines.  Returns 1 if it read
 * something, -1 if the pipe is empty for now, 0 at EOF (or an error), after
 * logging a last line that had no newline. */
static int take(struct ev_loop *loop, struct output *o)
{
	char buf[4096];
	ssize_t n = read(o->w.fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		if (o->len)
			emit(loop, o);
		return 0;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			emit(loop, o);
			continue;
		}
		o->line[o->len++] = buf[i];
		if (o->len == OUTPUT_LINE_MAX)   /* a very long line goes out in pieces */
			emit(loop, o);
	}
	return 1;
}

static void on_output(struct ev_loop *loop, ev_io *w, int revents)
{
	struct output *o = (struct output *)w;
	if (take(loop, o) == 0)   /* EOF: the server and all it started are gone */
		close_one(loop, o);
}

void output_watch(struct ev_loop *loop, int fd, const char *name, pid_t pid)
{
	struct output *o = calloc(1, sizeof(*o));
	if (!o) {
		close(fd);   /* the server's writes then fail (EPIPE); it runs on */
		return;
	}
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->pid = pid;
	o->second = ev_now(loop);
	ev_io_init(&o->w, on_output, fd, EV_READ);
	ev_io_start(loop, &o->w);
	TAILQ_INSERT_TAIL(&outputs, o, link);
}

void output_each(void (*fn)(void *arg, int fd, const char *name, pid_t pid, const char *line,
			    size_t len), void *arg)
{
	struct output *o;
	TAILQ_FOREACH(o, &outputs, link)
		fn(arg, o->w.fd, o->name, o->pid, o->line, o->len);
}

void output_adopt(struct ev_loop *loop, int fd, const char *name, pid_t pid, const char *line,
		  size_t len)
{
	output_watch(loop, fd, name, pid);
	struct output *o = TAILQ_LAST(&outputs, outputs_head);
	if (o && o->w.fd == fd && len && len < OUTPUT_LINE_MAX) {
		memcpy(o->line, line, len);
		o->len = len;
	}
}

void output_close_all(struct ev_loop *loop)
{
	struct output *o;
	while ((o = TAILQ_FIRST(&outputs)) != NULL) {
		/* What is still in the pipe is the last words of a server that is
		 * being stopped: log it, then let go. */
		while (take(loop, o) > 0)
			;
		if (o->len)
			emit(loop, o);
		close_one(loop, o);
	}
}
