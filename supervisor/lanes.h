/* lanes.h - the fast path on antd's side: the lanes it makes between each app and the servers it may call, hands out, watches, and takes back (docs/fastpath.md). */
#ifndef ANTD_LANES_H
#define ANTD_LANES_H

#include <stdint.h>
#include <ev.h>

#include "ant/cica.h"

struct antd;
struct peer;
struct server;
struct lane_pair;

/* Who makes the calls of a pair's request lane: an application
 * connection, or a server's serving instance (its own calls). */
struct lane_caller {
	uint64_t key;                 /* its peer key */
	unsigned server;              /* 0: an application; else its server id ... */
	uint32_t gen;                 /* ... and the instance */
};

/*
 * With "fast_path": true, every application connection gets two lanes per
 * server it may call: a request lane (app -> server) and a result lane
 * (server -> app), in memfds antd creates and maps itself.  A call without
 * a data ICA travels in them and never wakes antd; antd keeps its authority
 * by reading them: a server that dies with a request taken and unanswered
 * has it adopted into antd's table and replayed as any other; a request
 * held past its deadline gets its server killed; a step the lanes cannot
 * carry (a forward, a data ICA) is handed to antd (ANT_M_ADOPT).  While antd
 * must see every request (a fault armed by request count, an upgrade, a
 * re-exec, a follower), it switches the lanes off: calls take the slow path.
 */
struct lanes {
	struct lane_pair *pairs;
	uint32_t next_pair;           /* lane ids: 2 * pair for requests, + 1 for results */
	uint32_t next_serial;         /* app connections with lanes so far (call ids) */
	int on;                       /* the stack's fast_path, and not switched off */
	char off_why[96];             /* why it was switched off, "" */
	int server_bell[ANT_SERVERS_MAX + 1];  /* each server's bell (-1: none yet) */
	ev_timer scan;                /* deadlines and stragglers, while lanes exist */
	double scan_s;
	uint64_t adopted;             /* requests taken over from lanes (ADOPT, deaths) */
	uint64_t served_gone[ANT_SERVERS_MAX + 1]; /* answers in the lanes of callers gone */
	uint64_t failed_gone[ANT_SERVERS_MAX + 1]; /* ... of them with an error */
};

void lanes_init(struct antd *d);
/* Pairs of lanes whose caller is an application (servers 0) or a server. */
unsigned lanes_pairs(const struct antd *d, int servers);
void lanes_fini(struct antd *d);

/* An application connected: WELCOME it, with its bell and lanes if the
 * stack has the fast path on. */
void lanes_app_welcome(struct antd *d, struct peer *app);
/* It is gone: its lanes go; each server forgets them (LANE_DROP). */
void lanes_app_gone(struct antd *d, struct peer *app);
/* s's serving instance is ready: hand it its bell and its lanes (once per
 * instance), and open its request lanes. */
void lanes_give(struct antd *d, struct server *s);
/* s died: each request its lanes show taken and not answered becomes a call
 * held by s in antd's table (so the replay decides as for any other). */
void lanes_server_died(struct antd *d, struct server *s);
/* s takes no more work (stopped, given up): its request lanes close and
 * what waits in them becomes calls queued at s (failed by the caller). */
void lanes_server_closed(struct antd *d, struct server *s);
/* Switch the fast path off for good (why: for the log and status). */
void lanes_off(struct antd *d, const char *why);
/* Requests taken in s's lanes and not done; posted and not taken yet. */
unsigned lanes_held(struct antd *d, const struct server *s);
unsigned lanes_queued(struct antd *d, const struct server *s);
/* Answers s posted in its result lanes since antd started (their slots'
 * sequence numbers add up to the posts; those of apps gone are kept). */
uint64_t lanes_served(struct antd *d, const struct server *s);
/* Take the service times of the answers in lanes since the last look
 * (every scan, and before status). */
void lanes_sample(struct antd *d);
/* Of them, answered with an error (as the server counts them). */
uint64_t lanes_failed(struct antd *d, const struct server *s);
/* The same, each as "lane L:S" (its lane's id, its slot) appended to arr
 * (a JSON array: antctl status's "holding"). */
#include <jansson.h>
void lanes_holding(struct antd *d, const struct server *s, json_t *arr);

/*
 * ADOPT from s: the request it took in slot `slot` of its request lane
 * `lane_id` (page: its copy).  Checks the slot is taken and not done by s,
 * checks and fixes the page (ant_lane_request_fix), marks the slot done.
 * Returns 1 with page fixed and *from its caller, or 0 with why filled.
 */
int lanes_adopt(struct antd *d, struct server *s, uint32_t lane_id, uint32_t slot,
		unsigned char *page, size_t len, struct lane_caller *from, char *why, size_t whylen);

/* CANCEL of a ticket antd has no call for: if it waits or runs in one of
 * app's lanes, it is marked cancelled (not replayed, its ADOPT dropped)
 * and *page gets the call's page to answer with ANT_E_CANCELLED: 1; else 0. */
int lanes_cancel(struct antd *d, struct peer *app, uint64_t ticket, unsigned char *page);
/* Was the lane call of this app and ticket cancelled? */
int lanes_cancelled(struct antd *d, uint64_t app, uint64_t ticket);

#endif
