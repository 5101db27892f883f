/* relay.c - a server that hands each call on to the next server, or answers it if it is last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ant/ant.h"
#include "ant/proto.h"
#include "testops.h"

enum ret_mode { RET_CALLER, RET_SEQUENTIAL, RET_DIRECT };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: relay [OPTIONS] [NEXT]\n"
		"An ant server (started by antd): forwards every call to server NEXT by\n"
		"pushing a frame on its control ICA, or, with no NEXT, answers it (op echo\n"
		"returns its argument; see servers/testops.h for the other ops).\n"
		"\n"
		"Op ask (argument \"SERVER TEXT\") makes relay call SERVER itself, async,\n"
		"with op echo and TEXT, and keep serving others until the answer comes; it\n"
		"then replies \"SERVER said: TEXT\".  Give it max_inflight > 1 to overlap.\n"
		"\n"
		"  --return MODE   sequential: the result comes back through this server;\n"
		"                  direct: it skips this server (no return needed);\n"
		"                  caller (default): direct if the caller asked for it\n"
		TESTOPTS_HELP
		"  --help          this text\n");
}

/* Requests held while this server's own async call for them is out. */
struct pending {
	struct pending *next;
	uint64_t ticket;
	char server[ANT_NAME_MAX];
	struct ant_item it;
};

/* ask: call the named server ourselves and hold the request meanwhile. */
static int start_ask(struct ant_conn *c, struct ant_item *it, struct pending **list)
{
	const char *p = it->params ? it->params : "";
	const char *sp = memchr(p, ' ', it->nparams);
	size_t nlen = sp ? (size_t)(sp - p) : it->nparams;
	struct pending *pd = calloc(1, sizeof(*pd));
	if (!pd)
		return ant_reply(c, it, -ENOMEM, NULL, 0, NULL, ANT_DF_DETACH);
	if (nlen == 0 || nlen >= ANT_NAME_MAX) {
		free(pd);
		return ant_reply(c, it, ANT_E_BAD_REQUEST, "ask SERVER TEXT", 15, NULL, ANT_DF_DETACH);
	}
	memcpy(pd->server, p, nlen);
	struct ant_call call = {
		.server = pd->server, .op = "echo",
		.arg = sp ? sp + 1 : "", .arglen = sp ? it->nparams - nlen - 1 : 0,
	};
	int r = ant_call_async(c, &call, &pd->ticket);
	if (r < 0) {
		free(pd);
		return ant_reply(c, it, r, NULL, 0, NULL, ANT_DF_DETACH);
	}
	ant_item_copy(&pd->it, it);
	pd->next = *list;
	*list = pd;
	return 0;
}

static int finish_ask(struct ant_conn *c, struct ant_item *res, struct pending **list)
{
	for (struct pending **pp = list; *pp; pp = &(*pp)->next) {
		struct pending *pd = *pp;
		if (pd->ticket != res->ticket)
			continue;
		*pp = pd->next;
		int r;
		if (res->retval < 0) {
			r = ant_reply(c, &pd->it, res->retval, NULL, 0, NULL, ANT_DF_DETACH);
		} else {
			char buf[ANT_CICA_SIZE / 2];
			int n = snprintf(buf, sizeof(buf), "%s said: %.*s", pd->server,
					 (int)res->ret_len, res->ret ? (const char *)res->ret : "");
			r = ant_reply(c, &pd->it, 0, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1,
				      NULL, ANT_DF_DETACH);
		}
		free(pd);
		return r;
	}
	return 0;   /* not ours: nothing to answer */
}

int main(int argc, char **argv)
{
	struct testopts o = { .self = testops_self("relay"), .usage = usage };
	enum ret_mode mode = RET_CALLER;
	const char *next = NULL;
	for (int i = 1; i < argc; i++) {
		int r = testopts_parse(&o, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (strcmp(argv[i], "--return") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			if (strcmp(m, "sequential") == 0)
				mode = RET_SEQUENTIAL;
			else if (strcmp(m, "direct") == 0)
				mode = RET_DIRECT;
			else if (strcmp(m, "caller") == 0)
				mode = RET_CALLER;
			else {
				fprintf(stderr, "%s: --return: unknown mode '%s'\n", o.self, m);
				return 2;
			}
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "%s: unknown option '%s' (see relay --help)\n", o.self, argv[i]);
			return 2;
		} else if (!next) {
			next = argv[i];
		} else {
			fprintf(stderr, "%s: more than one NEXT server given\n", o.self);
			return 2;
		}
	}

	struct ant_conn *c = testops_connect(&o, "relay");
	int r;
	int next_id = 0;
	if (next && (next_id = ant_server_id(c, next)) < 0) {
		fprintf(stderr, "%s: no server named '%s' in this stack\n", o.self, next);
		return 1;
	}

	struct ant_item it;
	struct pending *pending = NULL;
	while ((r = ant_next(c, &it, -1)) == 0) {
		if (testops_take(&o, c, &it))
			continue;
		switch (it.kind) {
		case ANT_ITEM_REQUEST:
			if (strcmp(it.op, "ask") == 0) {
				r = start_ask(c, &it, &pending);
			} else if (testops_targets_me(&o, &it)) {
				r = testops_misbehave(&o, c, &it);
			} else if (next_id > 0) {
				const struct ant_cica_hdr *h = (const void *)it.page;
				int direct = mode == RET_DIRECT ||
					     (mode == RET_CALLER && (h->flags & ANT_CF_DIRECT_HINT));
				struct ant_forward fw = {
					.server_id = (unsigned)next_id,
					.return_needed = !direct,
					.data_flags = ANT_DF_DETACH,
				};
				r = ant_forward(c, &it, &fw);
			} else {
				r = testops_answer(&o, c, &it);
			}
			break;
		case ANT_ITEM_RETURN:
			/* Sequential return: pass the result on down the chain. */
			r = ant_reply(c, &it, it.retval, it.ret, it.ret_len, NULL, ANT_DF_DETACH);
			break;
		case ANT_ITEM_RESULT:
			ant_ica_release(c, it.data);
			r = finish_ask(c, &it, &pending);
			break;
		}
		if (r < 0)
			break;
	}
	ant_close(c);
	return r == -ECONNRESET ? 0 : (r < 0 ? 1 : 0);
}
