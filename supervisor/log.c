/* log.c - antd's one logging sink: plain lines or JSON lines, to stderr or a file. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "journal.h"
#include "log.h"

/* Each kind of event may write LOG_BURST lines at once, then LOG_RATE a
 * second: a loop that logs cannot fill the disk.  What is dropped is
 * counted and said once a second. */
#define LOG_KINDS 64
#define LOG_RATE  200.0
#define LOG_BURST 1000.0

struct kind {
	const char *event;       /* (a string literal of the caller) */
	double tokens;
	double last;             /* when tokens were last refilled (monotonic s) */
	unsigned long dropped;   /* since it was last said */
};

/* The buffer of the log's stream: a loop iteration's lines, flushed before antd sleeps. */
#define LOG_BUFFER (64 << 10)

static struct {
	FILE *out;
	char *path;                    /* the file, to rotate it (NULL: stderr) */
	long max_bytes;                /* rotate past this (0: never) */
	int json;
	enum log_level min;
	json_t *ring[LOG_RING];        /* the supervision events, for antctl log ... */
	char *ring_text[LOG_RING];     /* ... and each as compact JSON (a re-exec copies
					  these instead of writing 1,000 objects out) */
	unsigned head, count;
	void (*hook)(const json_t *event, void *arg);
	void *hook_arg;
	struct kind kinds[LOG_KINDS];
	unsigned nkinds;
	int deferred;                  /* lines reach the file at log_flush only */
} lg = { .min = LOG_INFO, .max_bytes = LOG_MAX_BYTES };

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct kind *kind_of(const char *event)
{
	for (unsigned i = 0; i < lg.nkinds; i++)
		if (strcmp(lg.kinds[i].event, event) == 0)
			return &lg.kinds[i];
	if (lg.nkinds == LOG_KINDS)
		return NULL;   /* more kinds than antd has: not limited */
	struct kind *k = &lg.kinds[lg.nkinds++];
	*k = (struct kind){ .event = event, .tokens = LOG_BURST, .last = mono_s() };
	return k;
}

/* May one more line of event be written?  Says (once a second) how many
 * were dropped. */
static int allowed(const char *event)
{
	struct kind *k = kind_of(event);
	if (!k)
		return 1;
	double now = mono_s();
	double refill = (now - k->last) * LOG_RATE;
	if (refill >= 1) {
		k->tokens = k->tokens + refill > LOG_BURST ? LOG_BURST : k->tokens + refill;
		k->last = now;
	}
	if (k->tokens >= 1) {
		k->tokens -= 1;
		if (k->dropped) {
			unsigned long n = k->dropped;
			k->dropped = 0;
			log_event(LOG_WARN, "log-dropped", NULL, "%lu lines of event %s were not "
				  "logged (more than %.0f a second)", n, event, LOG_RATE);
		}
		return 1;
	}
	k->dropped++;
	return 0;
}

/* The file is past its size: it becomes FILE.1 (the last one replaced) and
 * a new one starts. */
static void rotate(void)
{
	if (!lg.path || !lg.out || lg.max_bytes <= 0 || ftell(lg.out) < lg.max_bytes)
		return;
	char old[4200];
	snprintf(old, sizeof(old), "%s.1", lg.path);
	if (rename(lg.path, old) < 0)
		return;
	int fd = open(lg.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;   /* go on writing FILE.1 */
	}
	setvbuf(f, NULL, _IOFBF, LOG_BUFFER);
	/* antd's own stdout and stderr (detached: the servers' too) follow. */
	if (fileno(lg.out) != STDERR_FILENO) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	fclose(lg.out);
	lg.out = f;
}

void log_set_max_bytes(long max)
{
	lg.max_bytes = max;
}

static unsigned slot(unsigned i);

json_t *log_recent(unsigned n)
{
	json_t *a = json_array();
	if (n > lg.count)
		n = lg.count;
	for (unsigned i = lg.count - n; i < lg.count; i++) {
		unsigned k = slot(i);
		if (!lg.ring[k] && lg.ring_text[k])
			lg.ring[k] = json_loads(lg.ring_text[k], 0, NULL);
		if (lg.ring[k])
			json_array_append(a, lg.ring[k]);
	}
	return a;
}

/* Into the ring: event, or (NULL) only its text, read when asked for (an
 * event of the antd before a re-exec); text: event as compact JSON, taken
 * (NULL: made here). */
static void keep(json_t *event, char *text)
{
	json_decref(lg.ring[lg.head]);
	free(lg.ring_text[lg.head]);
	lg.ring[lg.head] = event ? json_incref(event) : NULL;
	lg.ring_text[lg.head] = text || !event ? text : json_dumps(event, JSON_COMPACT);
	lg.head = (lg.head + 1) % LOG_RING;
	if (lg.count < LOG_RING)
		lg.count++;
}

/* Ring slots, oldest first. */
static unsigned slot(unsigned i)
{
	return (lg.head + LOG_RING - lg.count + i) % LOG_RING;
}

char *log_ring_dump(size_t *len)
{
	size_t n = 0;
	for (unsigned i = 0; i < lg.count; i++) {
		const char *t = lg.ring_text[slot(i)];
		n += (t ? strlen(t) : 2) + 24;
	}
	char *out = malloc(n + 1), *w = out;
	if (!out)
		return NULL;
	for (unsigned i = 0; i < lg.count; i++) {
		const char *t = lg.ring_text[slot(i)];
		if (!t)
			t = "{}";
		size_t k = strlen(t);
		w += sprintf(w, "%zu\n", k);
		memcpy(w, t, k);
		w += k;
	}
	*w = '\0';
	*len = (size_t)(w - out);
	return out;
}

void log_ring_restore(const char *text, size_t len)
{
	/* Records "LEN\nTEXT", oldest first: kept as text, read when asked for. */
	size_t at = 0;
	while (at < len) {
		char *end;
		const char *nl = memchr(text + at, '\n', len - at);
		unsigned long k = strtoul(text + at, &end, 10);
		if (!nl || end != nl || k > len - (size_t)(nl + 1 - text))
			return;   /* not records: what came so far is kept */
		char *t = strndup(nl + 1, k);
		if (!t)
			return;
		keep(NULL, t);
		at = (size_t)(nl + 1 - text) + k;
	}
}

void log_set_hook(void (*fn)(const json_t *event, void *arg), void *arg)
{
	lg.hook = fn;
	lg.hook_arg = arg;
}

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_open(int json, const char *path)
{
	lg.json = json;
	if (path) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!f) {
			int e = -errno;
			if (fd >= 0)
				close(fd);
			return e;
		}
		setvbuf(f, NULL, _IOFBF, LOG_BUFFER);
		lg.out = f;
		free(lg.path);
		lg.path = strdup(path);
	}
	return 0;
}

void log_set_level(enum log_level min) { lg.min = min; }

void log_close(void)
{
	for (unsigned i = 0; i < LOG_RING; i++) {
		json_decref(lg.ring[i]);
		free(lg.ring_text[i]);
		lg.ring[i] = NULL;
		lg.ring_text[i] = NULL;
	}
	lg.count = lg.head = 0;
	journal_close();
	if (lg.out && lg.out != stderr)
		fclose(lg.out);
	lg.out = NULL;
	free(lg.path);
	lg.path = NULL;
	lg.nkinds = 0;
}

static void vlog(enum log_level lvl, const char *event, const char *server, json_t *fields,
		 const char *fmt, va_list ap)
{
	if (lvl < lg.min || !allowed(event)) {
		json_decref(fields);
		return;
	}
	rotate();
	FILE *out = lg.out ? lg.out : stderr;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[64];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ts.tv_nsec / 1000000);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", level_names[lvl],
			      "event", event, "msg", msg);
	if (o && server)
		json_object_set_new(o, "server", json_string(server));
	if (o && fields)
		json_object_update_missing(o, fields);
	json_decref(fields);
	/* One serialisation for the ring and a JSON log line. */
	char *text = o && (lvl >= LOG_INFO || lg.json) ? json_dumps(o, JSON_COMPACT) : NULL;
	int kept = o && lvl >= LOG_INFO;
	if (kept) {
		keep(o, text);   /* the ring owns text now; it lives past this call */
		if (lg.hook)
			lg.hook(o, lg.hook_arg);
	}
	if (journal_on()) {
		static const int priority[] = { 7, 6, 4, 3 };   /* syslog's, by level */
		journal_entry(priority[lvl], event, server, msg, o, lg.deferred);
	} else if (lg.json) {
		if (text)
			fprintf(out, "%s\n", text);
	} else if (server) {
		fprintf(out, "%s antd %s %s [%s] %s\n", when, level_names[lvl], event, server, msg);
	} else {
		fprintf(out, "%s antd %s %s %s\n", when, level_names[lvl], event, msg);
	}
	if (!kept)
		free(text);
	json_decref(o);
	if (!lg.deferred)
		fflush(out);
}

void log_buffer_stderr(void)
{
	setvbuf(stderr, NULL, _IOFBF, LOG_BUFFER);
}

void log_defer(int on)
{
	lg.deferred = on;
	if (!on)
		log_flush();
}

void log_flush(void)
{
	journal_flush();
	fflush(lg.out ? lg.out : stderr);
}

void log_event(enum log_level lvl, const char *event, const char *server, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, event, server, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level lvl, const char *event, const char *server, json_t *fields,
		const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, event, server, fields, fmt, ap);
	va_end(ap);
}
