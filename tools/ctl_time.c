/* ctl_time.c - the times an operator types (antctl log --since) and the times antd's events carry. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ctl_time.h"

/* "10m", "10 min", "2hours"...: seconds, or -1. */
static double duration_of(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !(v >= 0) || v > 1e9)
		return -1;
	while (*end == ' ')
		end++;
	static const struct { const char *name; double s; } units[] = {
		{ "s", 1 }, { "sec", 1 }, { "secs", 1 }, { "second", 1 }, { "seconds", 1 },
		{ "m", 60 }, { "min", 60 }, { "mins", 60 }, { "minute", 60 }, { "minutes", 60 },
		{ "h", 3600 }, { "hour", 3600 }, { "hours", 3600 },
		{ "d", 86400 }, { "day", 86400 }, { "days", 86400 },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].name) == 0)
			return v * units[i].s;
	return -1;
}

/* Local midnight of the day of t, days_back days before. */
static double midnight(double t, int days_back)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday -= days_back;
	tm.tm_isdst = -1;
	return (double)mktime(&tm);
}

/* Date and time, "YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z]", or "HH:MM[:SS]"
 * today.  Returns 0 with *out, or -1. */
static int absolute_of(const char *s, double now, double *out)
{
	struct tm tm = { 0 };
	int y = 0, mo = 0, d = 0, h = 0, mi = 0, n = 0;
	double sec = 0;
	const char *p = s;
	if (sscanf(p, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10) {
		p += n;
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		if (*p == ' ' || *p == 'T')
			p++;
		else if (*p && *p != 'Z')
			return -1;
	} else {
		time_t tt = (time_t)now;
		localtime_r(&tt, &tm);
	}
	if (*p && *p != 'Z') {
		n = 0;
		if (sscanf(p, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
			return -1;
		p += n;
		if (*p == ':') {
			char *end;
			sec = strtod(p + 1, &end);
			if (end == p + 1 || !isdigit((unsigned char)p[1]) || sec >= 61)
				return -1;
			p = end;
		}
	}
	int utc = *p == 'Z';
	if (utc)
		p++;
	if (*p || h > 23 || mi > 59 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31)
		return -1;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = (int)sec;
	tm.tm_isdst = -1;
	time_t t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (double)t + (sec - (int)sec);
	return 0;
}

int ctl_parse_since(const char *s, double now, double *out)
{
	if (!s || !*s)
		return -1;
	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
		*out = midnight(now, s[0] == 'y');
		return 0;
	}
	/* "-10m", "10m ago", "10m" */
	char rel[64];
	size_t n = strlen(s);
	if (n < sizeof(rel)) {
		const char *r = s[0] == '-' ? s + 1 : s;
		snprintf(rel, sizeof(rel), "%s", r);
		size_t m = strlen(rel);
		if (m > 4 && strcmp(rel + m - 4, " ago") == 0)
			rel[m - 4] = '\0';
		double dur = strchr(rel, '-') || strchr(rel, ':') ? -1 : duration_of(rel);
		if (dur >= 0) {
			*out = now - dur;
			return 0;
		}
	}
	return absolute_of(s, now, out);
}

double ctl_event_time(const json_t *ev)
{
	const json_t *t = json_object_get(ev, "time");
	if (json_is_number(t))
		return json_number_value(t);
	const char *s = json_string_value(t);
	double v;
	/* antd writes UTC with a Z; absolute_of needs no "now" for a full date. */
	if (s && strlen(s) > 10 && absolute_of(s, 0, &v) == 0)
		return v;
	return -1;
}
