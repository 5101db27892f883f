/* follow.c - the control connections that follow antd's log (antctl log -f): each new event goes to each. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "antd.h"
#include "follow.h"
#include "log.h"

static struct antd *followed;
static uint64_t followers[FOLLOWERS_MAX];   /* peer keys, 0: free */

static void on_log_event(const json_t *event, void *arg)
{
	struct antd *d = arg;
	static int busy;
	if (busy)
		return;   /* an event logged while sending one */
	busy = 1;
	json_t *msg = json_pack("{s:O}", "event", event);
	char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	for (unsigned i = 0; s && i < FOLLOWERS_MAX; i++) {
		struct peer *p = followers[i] ? peer_by_key(d, followers[i]) : NULL;
		if (!p) {
			followers[i] = 0;
			continue;
		}
		if (peer_send_raw(p, s, strlen(s)) < 0) {
			/* Too slow or gone: rather than go quiet, hang up on it. */
			followers[i] = 0;
			peer_hang_up(p);
		}
	}
	free(s);
	busy = 0;
}

int follow_add(struct peer *p)
{
	if (followed != p->d) {
		followed = p->d;
		log_set_hook(on_log_event, p->d);
	}
	for (unsigned i = 0; i < FOLLOWERS_MAX; i++) {
		if (!followers[i] || !peer_by_key(p->d, followers[i])) {
			followers[i] = peer_key(p);
			return 0;
		}
	}
	return -1;
}

unsigned follow_keys(struct antd *d, uint64_t *keys, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < FOLLOWERS_MAX && n < max; i++)
		if (followed == d && followers[i] && peer_by_key(d, followers[i]))
			keys[n++] = followers[i];
	return n;
}

int follow_key(struct antd *d, uint64_t key)
{
	struct peer *p = peer_by_key(d, key);
	return p && p->kind == PEER_CONTROL ? follow_add(p) : -1;
}
