/* log.h - antd's one logging sink: plain lines or JSON lines, to stderr or a file. */
#ifndef ANTD_LOG_H
#define ANTD_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* json: one JSON object per line; path: append to that file (NULL: stderr). */
int log_open(int json, const char *path);
void log_set_level(enum log_level min);
/* A log file past max bytes becomes FILE.1 and a new one starts (0: never);
 * LOG_MAX_BYTES by default. */
#define LOG_MAX_BYTES (64L << 20)
void log_set_max_bytes(long max);
void log_close(void);

/*
 * Deferred output: with on, a line goes into the log's buffer and reaches
 * the file (or stderr) at the next log_flush, not at once.  antd flushes
 * before its loop sleeps, so a failover's or a replay's work is not held up
 * by writing its own log lines (a write of a line took up to 1.8 ms on a
 * loaded machine, inside a warm failover); what a crash of antd itself can
 * lose is the lines of its last loop iteration.  Flush before a fork.
 */
void log_defer(int on);
/* Give stderr a buffer (call first, before anything is written to it): a
 * log on stderr is then deferred too; every line still ends with a flush
 * while log_defer is off. */
void log_buffer_stderr(void);
void log_flush(void);

/* event: a short stable word ("server-exit", "cut-off", ...); server may be NULL. */
void log_event(enum log_level lvl, const char *event, const char *server, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <jansson.h>
/* The same with more fields for JSON readers (fields: an object, stolen, or
 * NULL), e.g. {"pid": 4121, "fault": "kill"}; the text line shows msg only. */
void log_fields(enum log_level lvl, const char *event, const char *server, json_t *fields,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The last n events (at most LOG_RING), oldest first: a new JSON array. */
#define LOG_RING 1000
json_t *log_recent(unsigned n);
/* A re-exec of antd: the ring as records "LEN\nJSON" (malloc'd, *len
 * bytes; the events are kept as text too, so this is a copy, not a
 * serialisation), and the ring of the antd before taken back (each event
 * read when first asked for). */
char *log_ring_dump(size_t *len);
void log_ring_restore(const char *text, size_t len);
/* Called with every event logged from now on (NULL: none). */
void log_set_hook(void (*fn)(const json_t *event, void *arg), void *arg);

#define log_info(ev, srv, ...)  log_event(LOG_INFO, ev, srv, __VA_ARGS__)
#define log_warn(ev, srv, ...)  log_event(LOG_WARN, ev, srv, __VA_ARGS__)
#define log_error(ev, srv, ...) log_event(LOG_ERROR, ev, srv, __VA_ARGS__)
#define log_debug(ev, srv, ...) log_event(LOG_DEBUG, ev, srv, __VA_ARGS__)

#endif
