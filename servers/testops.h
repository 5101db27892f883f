/* testops.h - the example servers' test behaviour: a hostile repertoire (--junk), misbehaving on request, and answering at the end of a chain. */
#ifndef ANT_SERVERS_TESTOPS_H
#define ANT_SERVERS_TESTOPS_H

#include "ant/ant.h"
#include "server_main.h"

/* The --junk option, for struct server's opts.  (Faults of every kind are
 * injected at run time instead: antctl inject, docs/faultinject.md.) */
extern const struct server_opt testops_opts[];

#define TESTOPS_HELP \
	"  --forge-lanes   before each answer in a lane (the fast path), put forged\n" \
	"                  answers beside it and ring the app's bell for nothing; a\n" \
	"                  request whose argument says \"vanish\" is marked done and\n" \
	"                  never answered: a hostile server, for the tests\n" \
	"  --junk MARK     on every request whose argument contains MARK, send antd\n" \
	"                  a bad message instead of an answer (which one depends on\n" \
	"                  $ANT_INSTANCE: random bytes, oversized, truncated, an fd,\n" \
	"                  a wrong control ICA id, an ICA it does not hold, a lying\n" \
	"                  length, an unknown type): a hostile server, for the tests\n"

/* Send junk as --junk says, if it says so for this item (struct server's
 * take).  Returns 1 if the item was used up, else 0. */
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
