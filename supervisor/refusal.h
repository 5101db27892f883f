/* refusal.h - the control protocol's answer when antd will not do what was asked: one shape for every command. */
#ifndef ANTD_REFUSAL_H
#define ANTD_REFUSAL_H

#include <jansson.h>

/* {"ok": false, "outcome": "refused", "error": TEXT, "usage": usage}: a new
 * reply object.  usage: the request itself was malformed (antctl exits 2),
 * else antd said no for a reason of its own (exit 1). */
json_t *refusal(int usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
