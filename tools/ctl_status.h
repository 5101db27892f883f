/* ctl_status.h - antd's status in words: the table of servers, one server's detail, the watch screen. */
#ifndef ANT_CTL_STATUS_H
#define ANT_CTL_STATUS_H

#include <jansson.h>

/*
 * The table `antctl status` prints for a status reply st: a heading line on
 * the stack and antd, one row per server, then what does not fit a column.
 * prev: the reply of dt seconds before (status --watch), or NULL; with it a
 * CPU% column says how busy each server was since.
 */
void status_print_table(const json_t *st, const json_t *prev, double dt);

/* `antctl status SERVER`: everything antd says of server s. */
void status_print_server(const json_t *s);

/* Durations the way the table writes them: "12.3s", "5m02s", "3h04m",
 * "2d07h"; and "85us", "1.2ms", "12ms", "1.50s" for service times. */
void status_fmt_duration(double s, char *buf, size_t len);
void status_fmt_us(double us, char *buf, size_t len);

#endif
