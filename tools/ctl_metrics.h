/* ctl_metrics.h - antd's status as metrics in the Prometheus text exposition format. */
#ifndef ANT_CTL_METRICS_H
#define ANT_CTL_METRICS_H

#include <stdio.h>
#include <jansson.h>

/*
 * Write the status reply st (antd's "status" command) to f as the Prometheus
 * text format 0.0.4 (what the node exporter's textfile collector and
 * Prometheus itself read; OpenMetrics parsers take it too): one # HELP and
 * one # TYPE line per family, every sample labelled with the stack and, per
 * server, the server; counters end in _total, durations are in seconds,
 * sizes in bytes.  Returns 0, or -1 if st is not a status reply.
 */
int metrics_print(FILE *f, const json_t *st);

#endif
