/* tool_common.h - what every command-line tool shares: run folder, numbers, usage errors. */
#ifndef ANT_TOOL_COMMON_H
#define ANT_TOOL_COMMON_H

#include <getopt.h>
#include <stdio.h>

#include "ant/ant.h"

/* The run folder: the one given, else $ANT_RUN_DIR, else the only stack
 * under /run/ant; NULL if none can be chosen. */
const char *tool_run_dir(const char *given);
/* Where stacks' run folders live by default: $ANT_RUN_BASE, else /run/ant. */
const char *tool_run_base(void);
/* The folders under tool_run_base() where an antd ran (antd.lock): up to
 * max names.  Returns how many. */
#define TOOL_NAME_MAX 64
int tool_list_stacks(char names[][TOOL_NAME_MAX], int max);
/* Why tool_run_dir found none: no stack runs, or several (named), and how
 * to choose. */
void tool_no_run_dir(char *why, size_t len);

/* Parse a whole decimal number in [min, max].  Returns 0 or -1. */
int tool_parse_long(const char *s, long min, long max, long *out);

/* Is the stack in run_dir dead (its socket refused a connection, and the
 * antd of DIR/antd.pid no longer exists)?  Then 1, with why saying so and
 * that the files left behind are stale; else 0. */
int tool_stack_dead(const char *run_dir, char *why, size_t len);

/* Print "PROG: message (see PROG --help)" and exit 2. */
void tool_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* A tool's command line, as tool_getopt takes it. */
/* getopt_long entries every tool spells the same way (tool_getopt takes
 * 'r' and 'h' itself), and the table's end. */
#define TOOL_OPT_RUN_DIR { "run-dir", required_argument, NULL, 'r' }
#define TOOL_OPT_HELP    { "help", no_argument, NULL, 'h' }
#define TOOL_OPT_VERSION { "version", no_argument, NULL, 'V' }
#define TOOL_OPT_END     { NULL, 0, NULL, 0 }

struct tool_cli {
	const char *prog;               /* in messages: "ant-call", "antctl status" */
	const struct option *opts;      /* getopt_long's table */
	const char *shortopts;          /* getopt_long's ("+": stop at the first operand;
					 * ":" first: a missing value is told apart) */
	void (*usage)(FILE *f);         /* --help (val 'h'): printed on stdout, exit 0;
					 * NULL: 'h' is returned */
	const char **run_dir;           /* --run-dir (val 'r') is stored here; NULL: returned */
	const char *version;            /* --version (val 'V') prints "PROG VERSION", exit 0;
					 * NULL: 'V' is returned */
	const char *bad_format;         /* NULL: tool_option_error says what is wrong; else
					 * usage error with this format and the word typed */
};

/*
 * getopt_long over argv with what every tool does alike: opterr off,
 * --help and --run-dir taken (see struct tool_cli), a bad option reported
 * (exit 2).  Returns the next option's val for the caller, or -1 after the
 * last option (optind then indexes the first operand).
 */
int tool_getopt(const struct tool_cli *cli, int argc, char **argv);

/* After getopt_long returned ch '?' or ':': name the option as typed and
 * what is wrong with it (unknown, needs a value, takes no value); exit 2. */
void tool_option_error(const char *prog, int ch, char *const argv[], const struct option *opts)
	__attribute__((noreturn));

/* Connect to the stack in tool_run_dir(given) and check that it has server.
 * On failure print why, naming prog, and exit: 3 if the stack cannot be
 * reached, 1 if it has no such server.  Returns the connection. */
struct ant_conn *tool_connect(const char *prog, const char *given, const char *server);

/* Read a whole file into a new data ICA; *len: the file's size (the area
 * may be larger).  Returns 0 or < 0. */
int tool_load_file_ica(struct ant_conn *c, const char *path, struct ant_ica **out, size_t *len);

/* Write n bytes to path (created mode 0644, or truncated).  Returns 0 or -errno. */
int tool_write_file(const char *path, const void *p, size_t n);

#endif
