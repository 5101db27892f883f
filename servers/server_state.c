/* server_state.c - what the example servers carry across a live upgrade (a counter of requests), and their test knobs for it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ant-config.h"
#include "server_main.h"

#define COUNTER_FORMAT "ant-example-counter"

/* The state: one page, this at its start. */
struct counter_state {
	char magic[24];               /* COUNTER_FORMAT */
	unsigned long long total;     /* requests taken by every version so far */
};

const struct server_opt *server_state_opts(struct server *s)
{
	static struct server_opt opts[6];
	const struct server_opt o[6] = {
		{ "--version-name", SERVER_TEXT, &s->version_name, 0, 0, 0, NULL },
		{ "--state-version", SERVER_NUMBER, &s->state_version, 1, 1000000, 0, NULL },
		{ "--refuse-state", SERVER_FLAG, &s->refuse_state, 0, 0, 0, NULL },
		{ "--skew-state", SERVER_FLAG, &s->skew_state, 0, 0, 0, NULL },
		{ "--crash-on-request", SERVER_NUMBER, &s->crash_on, 1, 1000000, 0, NULL },
		{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
	};
	memcpy(opts, o, sizeof(opts));
	return opts;
}

static int counter_export(struct ant_conn *c, struct ant_state_out *out, void *arg)
{
	struct server *s = arg;
	ant_ica_release(c, s->exported);   /* the last one's: antd has it, or it is gone */
	s->exported = NULL;
	struct ant_ica *ica;
	int r = ant_ica_alloc(c, 4096, &ica);
	if (r < 0)
		return r;
	struct counter_state st = { .total = s->carried + s->taken };
	snprintf(st.magic, sizeof(st.magic), "%s", COUNTER_FORMAT);
	memcpy(ica->addr, &st, sizeof(st));
	s->exported = ica;
	if ((r = ant_state_begin(out, COUNTER_FORMAT, s->state_version ? s->state_version : 1)) < 0)
		return r;
	return ant_state_add(out, ica);
}

static int counter_import(struct ant_conn *c, const char *format, uint32_t version,
			  struct ant_ica *const *areas, unsigned n, char *why, size_t whylen,
			  void *arg)
{
	struct server *s = arg;
	unsigned knows = s->state_version ? s->state_version : 1;
	if (s->refuse_state) {
		snprintf(why, whylen, "it refuses any state (--refuse-state)");
		return ANT_E_BAD_REQUEST;
	}
	if (!format[0])
		return 0;   /* a version that kept none: start from nothing */
	if (strcmp(format, COUNTER_FORMAT) != 0 || n != 1 || !areas[0]->addr ||
	    areas[0]->size < sizeof(struct counter_state)) {
		snprintf(why, whylen, "unknown state format %s (this program reads %s)", format,
			 COUNTER_FORMAT);
		return ANT_E_BAD_REQUEST;
	}
	if (version > knows) {
		snprintf(why, whylen, "%s version %u is newer than this program reads (%u)", format,
			 version, knows);
		return ANT_E_BAD_REQUEST;
	}
	struct counter_state st;
	memcpy(&st, areas[0]->addr, sizeof(st));
	s->carried = st.total + (s->skew_state ? 1 : 0);
	ant_ica_release(c, areas[0]);
	return 0;
}

void server_state_connect(struct server *s)
{
	ant_set_version(s->c, s->version_name ? s->version_name : ANT_VERSION);
	ant_set_state_handlers(s->c, counter_export, counter_import, s);
}

int server_state_request(struct server *s, struct ant_item *it)
{
	if (s->crash_on && s->taken == s->crash_on) {
		fprintf(stderr, "%s: --crash-on-request %u: crashing\n", s->self, s->crash_on);
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
	}
	if (strcmp(it->op, "state-count") != 0)
		return 0;
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%llu", s->carried + s->taken);
	ant_reply(s->c, it, 0, buf, (size_t)n, NULL, ANT_DF_DETACH);
	return 1;
}
