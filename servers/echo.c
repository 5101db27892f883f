/* echo.c - a server that answers every call itself: op echo returns its argument unchanged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/syscall.h>

#include "ant/ant.h"
#include "ant/sandbox.h"
#include "server_main.h"
#include "testops.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: echo [OPTIONS]\n"
		"An ant server (started by antd) that answers every call: op echo returns\n"
		"its argument unchanged; fill fills the data ICA with a byte (see\n"
		"servers/testops.h).\n"
		"\n"
		SERVER_HELP
		TESTOPS_HELP
		"  --tighten       after start-up, allow only what libant needs to serve\n"
		"                  (a second seccomp filter; sleeping is then forbidden)\n"
		"  --help          this text\n");
}

int main(int argc, char **argv)
{
	int tighten = 0;
	const struct server_opt opts[] = {
		{ "--tighten", SERVER_FLAG, &tighten, 0, 0, 0, NULL },
		{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
	};
	struct server s = {
		.prog = "echo", .usage = usage, .opts = { opts, testops_opts },
		.on_request = testops_answer, .take = testops_take,
	};
	if (server_parse(&s, argc, argv) != 0)
		return 2;
	server_connect(&s);
	if (tighten) {
		int nrs[64];
		size_t n = ant_sandbox_base(nrs, 64);
		int r = ant_sandbox_restrict(nrs, n);
		if (r < 0) {
			fprintf(stderr, "%s: --tighten: %s\n", s.self, ant_strerror(r));
			return 1;
		}
	}
	return server_run(&s);
}
