/* server_main.h - what every example server does to start and to serve: its name, its options, its connection to antd, its loop. */
#ifndef ANT_SERVERS_SERVER_MAIN_H
#define ANT_SERVERS_SERVER_MAIN_H

#include <stdio.h>

#include "ant/ant.h"

/* How an option's value is taken. */
enum server_opt_kind {
	SERVER_FLAG,     /* no value: *(int *)out = 1 */
	SERVER_NUMBER,   /* a whole number in [min, max], a multiple of step if step: *(unsigned *)out */
	SERVER_TEXT,     /* *(const char **)out = the value (argv's: not copied) */
	SERVER_CALL,     /* parse(out, self, value): 0, or -1 with a message printed */
};

/* One command-line option of a server; a table of them ends with a NULL name. */
struct server_opt {
	const char *name;                 /* "--blocks" */
	enum server_opt_kind kind;
	void *out;
	unsigned long min, max, step;     /* SERVER_NUMBER */
	int (*parse)(void *out, const char *self, const char *value);   /* SERVER_CALL */
};

struct server;

/* A handler of one kind of item; returns 0, or < 0 to end the loop (antd gone). */
typedef int server_item_fn(struct server *s, struct ant_item *it);

/* One op a server answers: a request naming it goes to fn.  A table of
 * them ends with a NULL name. */
struct server_op {
	const char *name;
	server_item_fn *fn;
};

/* One server process.  The server fills the first part, server_parse and
 * server_connect the rest. */
struct server {
	const char *prog;                 /* ro: "cache"; the name outside antd, and in messages */
	void (*usage)(FILE *);            /* ro: --help prints it and exits 0 */
	const struct server_opt *opts[3]; /* ro: the server's option tables besides the shared ones */
	const char *operand;              /* ro: "CACHE": the one operand it takes (NULL: none) */
	const char **operand_out;         /* ro: where the operand goes */
	int operand_optional;             /* ro: the operand may be left out */
	const struct server_op *ops;      /* ro: its ops, by name (NULL: none) */
	server_item_fn *on_request;       /* ro: a request for an op not in ops (NULL: ANT_E_NO_OP) */
	server_item_fn *on_return;        /* ro: a result coming back through it (NULL: ignored) */
	server_item_fn *on_result;        /* ro: the result of its own call (NULL: its data ICA is released) */
	server_item_fn *take;             /* ro: every item, logged: 1 if it is used up (testops_take) */

	const char *self;                 /* this server's name: $ANT_SERVER, else prog */
	struct ant_conn *c;               /* the connection to antd (server_connect) */
	FILE *log;                        /* --log: one line per item taken, or NULL */
	unsigned pause_ms;                /* --pause-ms: sleep before handling each request */
	unsigned taken;                   /* requests taken by this process */
	/* server_state.c: what an upgrade carries over, and the test knobs */
	unsigned long long carried;       /* requests taken by its earlier versions */
	const char *version_name;         /* --version-name: what it tells antd */
	unsigned state_version;           /* --state-version: of its counter state */
	int refuse_state, skew_state;     /* --refuse-state, --skew-state */
	unsigned crash_on;                /* --crash-on-request N (0: never) */
	struct ant_ica *exported;         /* its last export's area */
};

/* The shared options' help lines, for each server's usage text. */
#define SERVER_HELP \
	"  --pause-ms N    sleep N ms before handling each request\n" \
	"  --log FILE      append one line per item taken (kind, op, argument)\n" \
	"  --say TEXT      print TEXT on stderr and stdout at start (antd logs it)\n" \
	"  --version-name TEXT  the version it tells antd (default: ant's)\n" \
	"Across a live upgrade (antctl upgrade) it hands over how many requests its\n" \
	"versions took (op state-count asks it; format ant-example-counter):\n" \
	"  --state-version N  the version of that state it writes, and the newest it\n" \
	"                  reads (default 1)\n" \
	"  --refuse-state  testing: refuse any state handed to it\n" \
	"  --skew-state    testing: take the state one off (a state that comes back\n" \
	"                  different)\n" \
	"  --crash-on-request N  testing: a buggy version: crash (SIGSEGV) on its Nth\n" \
	"                  request\n"

/* server_state.c: the shared options above, a table for server_parse. */
extern const struct server_opt *server_state_opts(struct server *s);
/* server_state.c: tell antd the version, take the counter state's handlers
 * (a server with a state of its own sets its handlers after this). */
void server_state_connect(struct server *s);
/* server_state.c: op state-count, and --crash-on-request, for a request it
 * took: 1 if it was answered here. */
int server_state_request(struct server *s, struct ant_item *it);

/*
 * Parse the command line: the shared options (--pause-ms, --log, --say,
 * --help), then s->opts, then the operand.  Sets s->self first.  Returns 0,
 * or 2 (the exit status for bad usage) with a message printed.  --help
 * prints s->usage and exits 0.
 */
int server_parse(struct server *s, int argc, char **argv);

/* Open s->c, the connection to antd; on failure print why and exit 1: a
 * server started by hand, outside antd, ends here. */
void server_connect(struct server *s);

/* The id of server name in this stack, or -1 with a message printed. */
int server_peer(const struct server *s, const char *name);

/* Serve until antd hangs up: each item is logged, paused for and passed to
 * s->take, then to the handler of its kind (a request: of its op).  Closes s->c.  Returns the exit
 * status: 0 when antd hung up, 1 on an error. */
int server_run(struct server *s);

/* A request's argument as a C string in buf (size bytes).  0, or -1 if
 * it has none, does not fit, or has a NUL in it (it is not text). */
int server_param_text(const struct ant_item *it, char *buf, size_t size);

/* A request's argument as n whole numbers (strtoull in base), each but the
 * last followed by one space, into v.  0, or -1 if it is not that. */
int server_param_numbers(const struct ant_item *it, int base, uint64_t *v, unsigned n);

/* The inode of ica's memfd (0 for none): what the logs and the tests use to
 * tell areas apart. */
unsigned long server_ica_ino(const struct ant_ica *ica);

#endif
