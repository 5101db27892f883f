/* upgrade.h - live upgrade of a server: the new version beside the old, a drain, the state handed over, the switch, probation and rollback. */
#ifndef ANTD_UPGRADE_H
#define ANTD_UPGRADE_H

#include <jansson.h>
#include "ant/proto.h"

struct antd;
struct peer;
struct server;

void upgrade_init(struct antd *d, struct server *s);
void upgrade_fini(struct antd *d, struct server *s);

/* control.c: "upgrade" and "rollback".  Returns a reply now (a refusal,
 * with "usage": true for bad input), or NULL: the reply comes to the
 * requesting connection p when the upgrade ends (upgraded, rolled back or
 * refused). */
json_t *upgrade_cmd(struct antd *d, json_t *req, struct peer *p, int rollback);

/* calls.c: hand s no requests now (it is draining for an upgrade)? */
int upgrade_holds_requests(const struct server *s);
/* calls.c, after s's queues moved: the drain may be over. */
void upgrade_poke(struct antd *d, struct server *s);
/* calls.c: what servers say during an upgrade. */
void upgrade_on_state(struct peer *p, const struct ant_m_state *m);
void upgrade_on_imported(struct peer *p, const struct ant_m_imported *m);
void upgrade_on_version(struct peer *p, const struct ant_m_version *m);

/* supervise.c: the spare slot is free again (a retired process ended): the
 * new version starts there if an upgrade waits for it (1), else 0. */
int upgrade_on_slot_free(struct antd *d, struct server *s);
/* supervise.c: the new process (in the spare slot) is ready, or is gone
 * before it took over. */
void upgrade_on_spare_ready(struct antd *d, struct server *s);
void upgrade_on_spare_gone(struct antd *d, struct server *s, const char *why);
/* supervise.c: the serving process of s died (its calls are back in the
 * queues).  During probation the old version takes over again at once: 1.
 * Before the switch the upgrade is given up (the old one was serving): 0. */
int upgrade_on_crash(struct antd *d, struct server *s, const char *why);

/* For the status: "probation", "draining"... or NULL. */
const char *upgrade_phase_name(const struct server *s);

#endif
