/* testops.h - what the example servers do at the end of a chain, and their shared options. */
#ifndef ANT_SERVERS_TESTOPS_H
#define ANT_SERVERS_TESTOPS_H

#include <stdio.h>
#include "ant/ant.h"

enum fail_mode {
	FAIL_NONE, FAIL_SEGV, FAIL_ABORT, FAIL_EXIT3, FAIL_HANG, FAIL_CORRUPT, FAIL_EXIT0,
	FAIL_OPENAT, FAIL_SOCKET, FAIL_EXECVE, FAIL_PTRACE, FAIL_JUNK, FAIL_TGKILL, FAIL_SETOWN,
};

struct testopts {
	const char *self;      /* this server's name ($ANT_SERVER) */
	unsigned pause_ms;     /* sleep before handling each request */
	FILE *log;             /* one line per item taken, or NULL */
	enum fail_mode fail;   /* --fail: what to do ... */
	unsigned fail_nth;     /* ... on this process's Nth request (0: not by count) */
	const char *fail_marker;/* ... or on a request whose argument contains this */
	const char *fail_once; /* ... only if this file can still be created */
	unsigned fail_instance;/* ... only in the Nth process antd starts for this server */
	int fail_fresh;        /* ... only on requests that are not replays */
	unsigned taken;        /* requests taken by this process */
	void (*usage)(FILE *); /* the server's --help text (testopts_parse prints it) */
};

/* This server's name: $ANT_SERVER, or prog outside antd. */
const char *testops_self(const char *prog);

/* Handle a shared option at argv[*i] (--pause-ms N, --log FILE, ...; --help
 * prints o->usage and exits 0); advances *i.  Returns 1 if handled, 0 if not
 * ours, -1 on a bad value (message printed). */
int testopts_parse(struct testopts *o, int argc, char **argv, int *i);
#define TESTOPTS_HELP \
	"  --pause-ms N    sleep N ms before handling each request\n" \
	"  --log FILE      append one line per item taken (kind, op, argument)\n" \
	"  --say TEXT      print TEXT on stderr and stdout at start (antd logs it)\n" \
	"  --fail WHAT@N   fail on this process's Nth request, or\n" \
	"  --fail WHAT:MARK  on every request whose argument contains MARK; WHAT is\n" \
	"                  segv, abort, exit3 (exit code 3), exit0 (a clean exit),\n" \
	"                  hang (never answer), openat, socket, execve, ptrace (make\n" \
	"                  that system call: a sandbox violation), tgkill (signal 0 to\n" \
	"                  init), setown (F_SETOWN init on its socket), junk (send antd a\n" \
	"                  bad message: which one depends on $ANT_INSTANCE) or\n" \
	"                  corrupt (send back a control ICA with a cycle in it)\n" \
	"  --fail-instance N  fail only in the Nth process antd starts for this\n" \
	"                  server ($ANT_INSTANCE; 1: the first, so not after a restart)\n" \
	"  --fail-fresh    fail only on requests handed over the first time (not on\n" \
	"                  antd's replay of one after a server died)\n" \
	"  --fail-once F   fail only once per file F (it is created when failing;\n" \
	"                  a relative F is taken in the stack's run folder; needs a\n" \
	"                  sandbox that allows openat)\n"

/* If argv[*i] is option name, parse its value (argv[*i + 1]) as a whole
 * number in [min, max] and, if multiple, a multiple of it, into *out and
 * advance *i.  Returns 1 if done, 0 if argv[*i] is not name, -1 (message
 * printed) on a bad or missing value. */
int testopts_number(const struct testopts *o, int argc, char **argv, int *i, const char *name,
		    unsigned long min, unsigned long max, unsigned long multiple, unsigned *out);

/* Open this server's connection to antd; on failure print why (naming prog)
 * and exit 1: a server started by hand, outside antd, ends here. */
struct ant_conn *testops_connect(const struct testopts *o, const char *prog);

/* Log the item, pause if it is a request, and fail as --fail says.  Returns
 * 1 if the item was used up (a corrupt answer went out), else 0. */
int testops_take(struct testopts *o, struct ant_conn *c, struct ant_item *it);

/* Does this request ask *this* server to misbehave (ops corrupt, garbage)? */
int testops_targets_me(const struct testopts *o, const struct ant_item *it);

/*
 * Answer a request as the last server of a chain:
 *   echo ARG      reply ARG unchanged (and the data ICA, if any)
 *   fill BYTE     fill the data ICA with BYTE, reply "ino=N" (its memfd inode)
 *   corrupt NAME  NAME sends back a control ICA with a cycle in its frame chain
 *   garbage NAME  NAME sends antd a malformed message
 *   (anything else: ANT_E_NO_OP)
 * Returns 0 or < 0 if antd is gone.
 */
int testops_answer(struct testopts *o, struct ant_conn *c, struct ant_item *it);

/* Misbehave as asked (corrupt / garbage). */
int testops_misbehave(struct testopts *o, struct ant_conn *c, struct ant_item *it);

#endif
