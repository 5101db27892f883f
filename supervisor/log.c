/* log.c - antd's one logging sink: plain lines or JSON lines, to stderr or a file. */
#include <errno.h>
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
} lg = { NULL, 0, LOG_INFO };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_open(int json, const char *path)
{
	lg.json = json;
	if (path) {
		FILE *f = fopen(path, "ae");
		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
		lg.out = f;
	}
	return 0;
}

void log_set_level(enum log_level min) { lg.min = min; }

void log_close(void)
{
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
	if (lg.json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level",
				      level_names[lvl], "event", event, "msg", msg);
		if (o && server)
			json_object_set_new(o, "server", json_string(server));
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(out, "%s\n", s);
		free(s);
		json_decref(o);
	} else if (server) {
		fprintf(out, "%s antd %s %s [%s] %s\n", when, level_names[lvl], event, server, msg);
	} else {
		fprintf(out, "%s antd %s %s %s\n", when, level_names[lvl], event, msg);
	}
	fflush(out);
}
