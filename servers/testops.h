/* testops.h - the example servers' test behaviour: failing on demand (--fail ...), misbehaving, and answering at the end of a chain. */
#ifndef ANT_SERVERS_TESTOPS_H
#define ANT_SERVERS_TESTOPS_H

#include "ant/ant.h"
#include "server_main.h"

/* The --fail options (one set per process), for struct server's opts. */
extern const struct server_opt testops_opts[];

#define TESTOPS_HELP \
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

/* Fail as --fail says, if it says so for this item (struct server's take).
 * Returns 1 if the item was used up (a corrupt answer or junk went out),
 * else 0. */
int testops_take(struct server *s, struct ant_item *it);

/* Does this request ask *this* server to misbehave (ops corrupt, garbage)? */
int testops_targets_me(const struct server *s, const struct ant_item *it);

/* Misbehave as asked (corrupt / garbage).  Returns 0 or < 0 if antd is gone. */
int testops_misbehave(struct server *s, struct ant_item *it);

/*
 * Answer a request as the last server of a chain:
 *   echo ARG      reply ARG unchanged (and the data ICA, if any)
 *   fill BYTE     fill the data ICA with BYTE, reply "ino=N" (its memfd inode)
 *   corrupt NAME  NAME sends back a control ICA with a cycle in its frame chain
 *   garbage NAME  NAME sends antd a malformed message
 *   (anything else: ANT_E_NO_OP)
 * Returns 0 or < 0 if antd is gone.
 */
int testops_answer(struct server *s, struct ant_item *it);

#endif
