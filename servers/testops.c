/* testops.c - what the example servers do at the end of a chain, and their shared options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ant/proto.h"
#include "testops.h"

int testopts_parse(struct testopts *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	if (strcmp(a, "--pause-ms") == 0 || strcmp(a, "--log") == 0) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", o->self, a);
			return -1;
		}
		const char *v = argv[++*i];
		if (a[2] == 'p') {
			char *end;
			unsigned long ms = strtoul(v, &end, 10);
			if (*end || !*v || ms > 600000) {
				fprintf(stderr, "%s: --pause-ms: not a number of ms: %s\n", o->self, v);
				return -1;
			}
			o->pause_ms = (unsigned)ms;
		} else {
			o->log = fopen(v, "ae");
			if (!o->log) {
				fprintf(stderr, "%s: --log %s: %s\n", o->self, v, strerror(errno));
				return -1;
			}
			setvbuf(o->log, NULL, _IOLBF, 0);
		}
		return 1;
	}
	return 0;
}

static unsigned long data_ino(const struct ant_ica *ica)
{
	struct stat st;
	if (!ica || fstat(ica->fd, &st) < 0)
		return 0;
	return (unsigned long)st.st_ino;
}

void testops_take(struct testopts *o, struct ant_conn *c, const struct ant_item *it)
{
	static const char *const kinds[] = { "?", "REQUEST", "RETURN", "RESULT" };
	if (o->log) {
		int n = (int)(it->nparams > 64 ? 64 : it->nparams);
		fprintf(o->log, "%s %s %.*s", kinds[it->kind <= 3 ? it->kind : 0], it->op, n,
			it->params ? (const char *)it->params : "");
		if (it->data)
			fprintf(o->log, " ino=%lu", data_ino(it->data));
		fputc('\n', o->log);
	}
	if (it->kind == ANT_ITEM_REQUEST && o->pause_ms) {
		struct timespec ts = { o->pause_ms / 1000, (long)(o->pause_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	(void)c;
}

int testops_targets_me(const struct testopts *o, const struct ant_item *it)
{
	if (strcmp(it->op, "corrupt") != 0 && strcmp(it->op, "garbage") != 0)
		return 0;
	size_t n = strlen(o->self);
	return it->nparams == n && memcmp(it->params, o->self, n) == 0;
}

int testops_misbehave(struct testopts *o, struct ant_conn *c, struct ant_item *it)
{
	(void)o;
	if (strcmp(it->op, "garbage") == 0) {
		unsigned char junk[57];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 37 + 11);
		if (write(ant_fd(c), junk, sizeof(junk)) < 0)
			return -errno;
		return 0;
	}
	/* corrupt: point the current frame's prev at itself (a cycle). */
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)it->page;
	struct ant_frame *f = ant_cica_current(it->page);
	f->prev = h->currentp;
	return ant_msg_send(ant_fd(c), ANT_M_REPLY, 0, it->page, h->used, -1);
}

int testops_answer(struct testopts *o, struct ant_conn *c, struct ant_item *it)
{
	if (testops_targets_me(o, it))
		return testops_misbehave(o, c, it);
	if (strcmp(it->op, "echo") == 0)
		return ant_reply(c, it, 0, it->params, it->nparams, NULL, ANT_DF_DETACH);
	if (strcmp(it->op, "corrupt") == 0 || strcmp(it->op, "garbage") == 0)
		return ant_reply(c, it, 0, "ok", 2, NULL, ANT_DF_DETACH);
	if (strcmp(it->op, "fill") == 0) {
		if (!it->data || !it->data->writable || it->nparams < 1)
		{
			static const char msg[] = "fill needs a writable data ICA and a byte";
			return ant_reply(c, it, ANT_E_BAD_REQUEST, msg, sizeof(msg) - 1, NULL,
					 ANT_DF_DETACH);
		}
		memset(it->data->addr, ((const unsigned char *)it->params)[0], it->data->size);
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "ino=%lu", data_ino(it->data));
		return ant_reply(c, it, 0, buf, (size_t)n, NULL, ANT_DF_DETACH);
	}
	return ant_reply(c, it, ANT_E_NO_OP, NULL, 0, NULL, ANT_DF_DETACH);
}
