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

#include "log.h"

static struct {
	FILE *out;
	int json;
	enum log_level min;
	json_t *ring[LOG_RING];        /* the supervision events, for antctl log */
	unsigned head, count;
	void (*hook)(const json_t *event, void *arg);
	void *hook_arg;
} lg = { .min = LOG_INFO };

json_t *log_recent(unsigned n)
{
	json_t *a = json_array();
	if (n > lg.count)
		n = lg.count;
	for (unsigned i = lg.count - n; i < lg.count; i++)
		json_array_append(a, lg.ring[(lg.head + LOG_RING - lg.count + i) % LOG_RING]);
	return a;
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
		setvbuf(f, NULL, _IOLBF, 0);
		lg.out = f;
	}
	return 0;
}

void log_set_level(enum log_level min) { lg.min = min; }

void log_close(void)
{
	for (unsigned i = 0; i < LOG_RING; i++) {
		json_decref(lg.ring[i]);
		lg.ring[i] = NULL;
	}
	lg.count = lg.head = 0;
	if (lg.out && lg.out != stderr)
		fclose(lg.out);
	lg.out = NULL;
}

void log_event(enum log_level lvl, const char *event, const char *server, const char *fmt, ...)
{
	if (lvl < lg.min)
		return;
	FILE *out = lg.out ? lg.out : stderr;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

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
	if (o && lvl >= LOG_INFO) {
		json_decref(lg.ring[lg.head]);
		lg.ring[lg.head] = json_incref(o);
		lg.head = (lg.head + 1) % LOG_RING;
		if (lg.count < LOG_RING)
			lg.count++;
		if (lg.hook)
			lg.hook(o, lg.hook_arg);
	}
	if (lg.json) {
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(out, "%s\n", s);
		free(s);
	} else if (server) {
		fprintf(out, "%s antd %s %s [%s] %s\n", when, level_names[lvl], event, server, msg);
	} else {
		fprintf(out, "%s antd %s %s %s\n", when, level_names[lvl], event, msg);
	}
	json_decref(o);
	fflush(out);
}
