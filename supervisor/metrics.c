/* metrics.c - a server's counters for scrapers: answers by op, errors by code, service-time histogram. */
#include <stdio.h>
#include <string.h>

#include "ant/errors.h"
#include "metrics.h"

/* From 25 us (a hop on this kind of machine) to 10 s, about 2.5x apart. */
const uint32_t metrics_le_us[METRICS_BUCKETS - 1] = {
	25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
	10000000,
};

void metrics_answered(struct server_metrics *m, const char *op, int32_t retval)
{
	uint32_t i;
	for (i = 0; i < m->nops; i++)
		if (strncmp(m->ops[i].op, op, ANT_OP_MAX) == 0)
			break;
	if (i == m->nops && m->nops < METRICS_OPS) {
		strncpy(m->ops[i].op, op, ANT_OP_MAX - 1);
		m->ops[i].op[ANT_OP_MAX - 1] = '\0';
		m->nops++;
	}
	if (i < m->nops) {
		m->ops[i].answered++;
		m->ops[i].errors += retval < 0;
	} else {
		m->other_answered++;
		m->other_errors += retval < 0;
	}
	if (retval >= 0)
		return;
	for (i = 0; i < m->ncodes; i++)
		if (m->codes[i].code == retval)
			break;
	if (i == m->ncodes && m->ncodes < METRICS_CODES)
		m->codes[m->ncodes++].code = retval;
	if (i < m->ncodes)
		m->codes[i].n++;
	else
		m->other_codes++;
}

void metrics_took(struct server_metrics *m, uint32_t us)
{
	unsigned b = 0;
	while (b < METRICS_BUCKETS - 1 && us > metrics_le_us[b])
		b++;
	m->hist[b]++;
	m->hist_sum_us += us;
	m->hist_n++;
}

json_t *metrics_json(const struct server_metrics *m)
{
	json_t *ops = json_object(), *codes = json_object(), *le = json_array(), *counts = json_array();
	for (uint32_t i = 0; i < m->nops; i++) {
		/* An op is bytes a caller chose: what is not printable ASCII shows
		 * as '?' (a JSON key must be UTF-8), and ops that then look alike
		 * add up. */
		char op[ANT_OP_MAX];
		memcpy(op, m->ops[i].op, ANT_OP_MAX);
		op[ANT_OP_MAX - 1] = '\0';
		for (char *c = op; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		json_t *o = json_object_get(ops, op);
		json_int_t answered = (json_int_t)m->ops[i].answered, errors = (json_int_t)m->ops[i].errors;
		if (o) {
			answered += json_integer_value(json_object_get(o, "answered"));
			errors += json_integer_value(json_object_get(o, "errors"));
		}
		json_object_set_new(ops, op, json_pack("{s:I, s:I}", "answered", answered, "errors",
						      errors));
	}
	if (m->other_answered)
		json_object_set_new(ops, "(other)", json_pack("{s:I, s:I}", "answered",
							  (json_int_t)m->other_answered, "errors",
							  (json_int_t)m->other_errors));
	for (uint32_t i = 0; i < m->ncodes; i++) {
		/* By name; a code without one (a server's own) by its number. */
		char num[16];
		const char *name = ant_errname(m->codes[i].code);
		if (strcmp(name, "UNKNOWN") == 0) {
			snprintf(num, sizeof(num), "%d", (int)m->codes[i].code);
			name = num;
		}
		json_object_set_new(codes, name, json_integer((json_int_t)m->codes[i].n));
	}
	if (m->other_codes)
		json_object_set_new(codes, "(other)", json_integer((json_int_t)m->other_codes));
	for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
		if (b < METRICS_BUCKETS - 1)
			json_array_append_new(le, json_integer(metrics_le_us[b]));
		json_array_append_new(counts, json_integer((json_int_t)m->hist[b]));
	}
	return json_pack("{s:o, s:o, s:{s:o, s:o, s:I, s:I}}", "ops", ops, "error_codes", codes,
			 "service_us", "le", le, "counts", counts, "sum", (json_int_t)m->hist_sum_us,
			 "count", (json_int_t)m->hist_n);
}
