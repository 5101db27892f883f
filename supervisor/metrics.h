/* metrics.h - a server's counters for scrapers: answers by op, errors by code, service-time histogram. */
#ifndef ANTD_METRICS_H
#define ANTD_METRICS_H

#include <stdint.h>
#include <jansson.h>

#include "ant/cica.h"

#define METRICS_OPS 32       /* ops counted by name; later ones count as "(other)" */
#define METRICS_CODES 16     /* error codes counted by name; later ones as "(other)" */
#define METRICS_BUCKETS 16   /* service-time buckets, the last one +Inf */

/* The buckets' upper bounds in microseconds (the +Inf bucket has none). */
extern const uint32_t metrics_le_us[METRICS_BUCKETS - 1];

/* Plain data (a re-exec copies it as bytes). */
struct server_metrics {
	struct {
		char op[ANT_OP_MAX];
		uint64_t answered, errors;   /* answers through antd, of them with retval < 0 */
	} ops[METRICS_OPS];
	uint32_t nops;
	uint64_t other_answered, other_errors;
	struct {
		int32_t code;
		uint64_t n;
	} codes[METRICS_CODES];
	uint32_t ncodes;
	uint64_t other_codes;
	uint64_t hist[METRICS_BUCKETS];    /* service times per bucket (not cumulative) */
	uint64_t hist_sum_us, hist_n;
};

/* The server answered a call of op through antd with retval. */
void metrics_answered(struct server_metrics *m, const char *op, int32_t retval);
/* One service time (a request or RETURN handed over -> answered or forwarded). */
void metrics_took(struct server_metrics *m, uint32_t us);
/* {"ops": {OP: {"answered": N, "errors": N}}, "error_codes": {NAME: N},
 *  "service_us": {"le": [...], "counts": [...], "sum": N, "count": N}}
 * ("counts" not cumulative, one more than "le": the last is +Inf). */
json_t *metrics_json(const struct server_metrics *m);

#endif
