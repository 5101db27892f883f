/* server.c - a server's states, by name (for the log, the status and the docs). */
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
