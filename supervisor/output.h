/* output.h - what servers print: each server's stdout and stderr, logged line by line under its name. */
#ifndef ANTD_OUTPUT_H
#define ANTD_OUTPUT_H

#include <sys/types.h>
#include <ev.h>

/* A pipe for one child's stdout and stderr: fds[0] antd's end (non-blocking),
 * fds[1] the child's (above 10, close-on-exec: dup2 it to 1 and 2).
 * Returns 0 or -errno. */
int output_pipe(int fds[2]);

/* Log what comes through fd (consumed) as "output" events of server name,
 * pid: one per line, control characters escaped, at most OUTPUT_LINES_PER_S
 * lines a second (the rest are counted and dropped).  Until EOF. */
void output_watch(struct ev_loop *loop, int fd, const char *name, pid_t pid);

/* antd re-executes (reexec_state.c): each watch, oldest first, with the
 * line it is gathering; and a watch taken over (fd consumed). */
void output_each(void (*fn)(void *arg, int fd, const char *name, pid_t pid, const char *line,
			    size_t len), void *arg);
void output_adopt(struct ev_loop *loop, int fd, const char *name, pid_t pid, const char *line,
		  size_t len);

/* Stop and free every watch (antd is ending). */
void output_close_all(struct ev_loop *loop);

#define OUTPUT_LINE_MAX    1000u
#define OUTPUT_LINES_PER_S 200u

#endif
