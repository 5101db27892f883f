/* server.c - a server's states, by name (for the log, the status and the docs), and what its processes run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "antd.h"
#include "server.h"

const char *server_state_name(enum server_state st)
{
	static const char *const names[SRV_NSTATES] = {
		[SRV_STOPPED] = "stopped", [SRV_SPAWNING] = "spawning", [SRV_STARTING] = "starting",
		[SRV_RUNNING] = "running", [SRV_RESTARTING] = "restarting", [SRV_FAILED] = "failed",
		[SRV_STOPPING] = "stopping",
	};
	return (unsigned)st < SRV_NSTATES ? names[st] : "?";
}

int exec_spec_set(struct exec_spec *e, const char *path, char *const *args, unsigned nargs)
{
	if (!path || !*path)
		return -EINVAL;
	size_t o = 0;
	for (unsigned i = 0; i <= nargs; i++) {
		const char *a = i == 0 ? path : args[i - 1];
		size_t n = strlen(a) + 1;
		if (o + n + 1 > sizeof(e->text))
			return -E2BIG;
		memcpy(e->text + o, a, n);
		o += n;
	}
	e->text[o++] = '\0';
	e->len = o;
	return 0;
}

void exec_spec_args(const struct exec_spec *e, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	const char *a = e->text + strlen(e->text) + 1;
	for (; *a && o < len; a += strlen(a) + 1)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " " : "", a);
}

struct server *server_named(struct antd *d, const char *name)
{
	for (unsigned id = 1; name && id <= d->stack->nservers; id++)
		if (strcmp(d->servers[id].conf->name, name) == 0)
			return &d->servers[id];
	return NULL;
}
