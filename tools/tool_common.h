/* tool_common.h - what every command-line tool shares: run folder, numbers, usage errors. */
#ifndef ANT_TOOL_COMMON_H
#define ANT_TOOL_COMMON_H

#include "ant/ant.h"

/* The run folder: the one given, else $ANT_RUN_DIR, else the only stack
 * under /run/ant; NULL if none can be chosen. */
const char *tool_run_dir(const char *given);

/* Parse a whole decimal number in [min, max].  Returns 0 or -1. */
int tool_parse_long(const char *s, long min, long max, long *out);

/* Print "PROG: message (see PROG --help)" and exit 2. */
void tool_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* Read a whole file into a new data ICA.  Returns 0 or < 0. */
int tool_load_file_ica(struct ant_conn *c, const char *path, struct ant_ica **out);

#endif
