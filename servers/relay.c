/* relay.c - a server that hands each call on to the next server, or answers it if it is last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ant/ant.h"
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
		"  --return MODE   sequential: the result comes back through this server;\n"
		"                  direct: it skips this server (no return needed);\n"
		"                  caller (default): direct if the caller asked for it\n"
		TESTOPTS_HELP
		"  --help          this text\n");
}

int main(int argc, char **argv)
{
	struct testopts o = { .self = getenv("ANT_SERVER") ? getenv("ANT_SERVER") : "relay" };
	enum ret_mode mode = RET_CALLER;
	const char *next = NULL;
	for (int i = 1; i < argc; i++) {
		int r = testopts_parse(&o, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--return") == 0 && i + 1 < argc) {
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

	struct ant_conn *c;
	int r = ant_server_open(&c);
	if (r < 0) {
		fprintf(stderr, "%s: cannot reach antd: %s (relay runs under antd)\n", o.self,
			ant_strerror(r));
		return 1;
	}
	int next_id = 0;
	if (next && (next_id = ant_server_id(c, next)) < 0) {
		fprintf(stderr, "%s: no server named '%s' in this stack\n", o.self, next);
		return 1;
	}

	struct ant_item it;
	while ((r = ant_next(c, &it, -1)) == 0) {
		testops_take(&o, c, &it);
		switch (it.kind) {
		case ANT_ITEM_REQUEST:
			if (testops_targets_me(&o, &it)) {
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
			break;
		}
		if (r < 0)
			break;
	}
	ant_close(c);
	return r == -ECONNRESET ? 0 : (r < 0 ? 1 : 0);
}
