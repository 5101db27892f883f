/* ctl_time.h - the times an operator types (antctl log --since) and the times antd's events carry. */
#ifndef ANT_CTL_TIME_H
#define ANT_CTL_TIME_H

#include <jansson.h>

/*
 * A point in time as journalctl's --since takes it, in seconds since the
 * epoch; now is the current time (s since the epoch).  Accepted:
 *   "2026-12-05", "2026-12-05 13:40", "2026-12-05 13:40:19" (local time),
 *   the same with a T for the space, fractions of a second and a final Z (UTC),
 *   "13:40", "13:40:19" (today, local time),
 *   "10m ago", "-10m", "10m" (also s, h, d; "min", "sec" and plurals),
 *   "today", "yesterday" (local midnight), "now".
 * Returns 0, or -1 if s is none of them.
 */
int ctl_parse_since(const char *s, double now, double *out);

/* The time of one of antd's events, s since the epoch: a number (antd's
 * control socket) or an ISO 8601 UTC string (its log file).  -1 if none. */
double ctl_event_time(const json_t *ev);

#endif
