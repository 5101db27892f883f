/* relay.c - a server that hands each call on to the next server, or answers it if it is last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ant/ant.h"
#include "ant/proto.h"
#include "server_main.h"
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
		"  --lazy-map      take data ICAs unmapped and pass them on so: no page of\n"
		"                  them is mapped or touched here (ant-bench data)\n"
		SERVER_HELP
		TESTOPS_HELP
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

static struct {
	enum ret_mode mode;
	const char *next;          /* the NEXT server, or NULL: answer every call */
	int next_id;
	struct pending *pending;   /* asks out */
	int lazy_map;              /* --lazy-map */
} R;

/* --return sequential|direct|caller. */
static int parse_return(void *out, const char *self, const char *m)
{
	enum ret_mode *mode = out;
	if (strcmp(m, "sequential") == 0)
		*mode = RET_SEQUENTIAL;
	else if (strcmp(m, "direct") == 0)
		*mode = RET_DIRECT;
	else if (strcmp(m, "caller") == 0)
		*mode = RET_CALLER;
	else {
		fprintf(stderr, "%s: --return: unknown mode '%s'\n", self, m);
		return -1;
	}
	return 0;
}

static int on_ask(struct server *s, struct ant_item *it)
{
	return start_ask(s->c, it, &R.pending);
}

/* Every op but ask: forwarded to NEXT, or answered here at the end. */
static int on_request(struct server *s, struct ant_item *it)
{
	if (testops_targets_me(s, it))
		return testops_misbehave(s, it);
	if (R.next_id <= 0)
		return testops_answer(s, it);
	const struct ant_cica_hdr *h = (const void *)it->page;
	int direct = R.mode == RET_DIRECT || (R.mode == RET_CALLER && (h->flags & ANT_CF_DIRECT_HINT));
	struct ant_forward fw = {
		.server_id = (unsigned)R.next_id,
		.return_needed = !direct,
		.data_flags = ANT_DF_DETACH,
	};
	return ant_forward(s->c, it, &fw);
}

/* Sequential return: pass the result on down the chain. */
static int on_return(struct server *s, struct ant_item *it)
{
	return ant_reply(s->c, it, it->retval, it->ret, it->ret_len, NULL, ANT_DF_DETACH);
}

static int on_result(struct server *s, struct ant_item *it)
{
	ant_ica_release(s->c, it->data);
	return finish_ask(s->c, it, &R.pending);
}

int main(int argc, char **argv)
{
	static const struct server_op ops[] = {
		{ "ask", on_ask },
		{ NULL, NULL },
	};
	static const struct server_opt opts[] = {
		{ "--return", SERVER_CALL, &R.mode, 0, 0, 0, parse_return },
		{ "--lazy-map", SERVER_FLAG, &R.lazy_map, 0, 0, 0, NULL },
		{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
	};
	struct server s = {
		.prog = "relay", .usage = usage, .opts = { opts, testops_opts },
		.operand = "NEXT", .operand_out = &R.next, .operand_optional = 1,
		.ops = ops, .on_request = on_request, .on_return = on_return, .on_result = on_result,
		.take = testops_take,
	};
	if (server_parse(&s, argc, argv) != 0)
		return 2;
	server_connect(&s);
	ant_set_lazy_map(s.c, R.lazy_map);
	if (R.next && (R.next_id = server_peer(&s, R.next)) < 0)
		return 1;
	return server_run(&s);
}
