/* echo.c - a server that answers every call itself: op echo returns its argument unchanged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/syscall.h>

#include "ant/ant.h"
#include "ant/sandbox.h"
#include "testops.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: echo [OPTIONS]\n"
		"An ant server (started by antd) that answers every call: op echo returns\n"
		"its argument unchanged; fill fills the data ICA with a byte (see\n"
		"servers/testops.h).\n"
		"\n"
		TESTOPTS_HELP
		"  --tighten       after start-up, allow only what libant needs to serve\n"
		"                  (a second seccomp filter; sleeping is then forbidden)\n"
		"  --help          this text\n");
}

int main(int argc, char **argv)
{
	struct testopts o = { .self = testops_self("echo"), .usage = usage };
	int tighten = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tighten") == 0) {
			tighten = 1;
			continue;
		}
		int r = testopts_parse(&o, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		fprintf(stderr, "%s: unknown argument '%s' (see echo --help)\n", o.self, argv[i]);
		return 2;
	}
	struct ant_conn *c = testops_connect(&o, "echo");
	int r;
	if (tighten) {
		int nrs[64];
		size_t n = ant_sandbox_base(nrs, 64);
		r = ant_sandbox_restrict(nrs, n);
		if (r < 0) {
			fprintf(stderr, "%s: --tighten: %s\n", o.self, ant_strerror(r));
			return 1;
		}
	}
	struct ant_item it;
	while ((r = ant_next(c, &it, -1)) == 0) {
		if (testops_take(&o, c, &it))
			continue;
		if (it.kind == ANT_ITEM_REQUEST)
			r = testops_answer(&o, c, &it);
		else if (it.kind == ANT_ITEM_RESULT)
			ant_ica_release(c, it.data);
		if (r < 0)
			break;
	}
	ant_close(c);
	return r == -ECONNRESET ? 0 : (r < 0 ? 1 : 0);
}
