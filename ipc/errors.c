/* errors.c - names and descriptions of ANT_E_* codes and -errno values. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* strerrorname_np, strerrordesc_np (glibc >= 2.32) */
#endif
#include <limits.h>
#include <string.h>

#include "ant/errors.h"

struct ant_error_info {
	int code;
	const char *name;
	const char *desc;
};

static const struct ant_error_info ant_errors[] = {
	{ ANT_E_SERVER_FAILED, "ANT_E_SERVER_FAILED", "server failed while holding the call" },
	{ ANT_E_DEADLINE,      "ANT_E_DEADLINE",      "deadline exceeded" },
	{ ANT_E_NO_SERVER,     "ANT_E_NO_SERVER",     "no such server" },
	{ ANT_E_NO_OP,         "ANT_E_NO_OP",         "no such op" },
	{ ANT_E_DENIED,        "ANT_E_DENIED",        "denied: caller may not call this server" },
	{ ANT_E_BAD_REQUEST,   "ANT_E_BAD_REQUEST",   "bad request" },
	{ ANT_E_SHUTDOWN,      "ANT_E_SHUTDOWN",      "stack shutting down" },
	{ ANT_E_PROTOCOL,      "ANT_E_PROTOCOL",      "protocol violation" },
	{ ANT_E_NO_ICA,        "ANT_E_NO_ICA",        "no ICA available" },
	{ ANT_E_TOO_BIG,       "ANT_E_TOO_BIG",       "answer does not fit the control ICA" },
	{ ANT_E_LIMIT,         "ANT_E_LIMIT",         "over a limit of the stack" },
	{ ANT_E_SERVER_STOPPED, "ANT_E_SERVER_STOPPED", "server stopped by the operator" },
	{ ANT_E_CANCELLED,     "ANT_E_CANCELLED",     "call cancelled by its caller" },
};

/*
 * Only negative codes are errors: 0 and positive values are a server's own
 * success values and have no name.  For -errno the glibc *_np functions are
 * used rather than strerror(): they return static, untranslated strings, so
 * the result is stable for scripts and safe to use from any thread.
 * desc picks the column: 0 the name, 1 the description.
 */
static const char *error_text(int code, int desc)
{
	for (size_t i = 0; i < sizeof(ant_errors) / sizeof(ant_errors[0]); i++)
		if (ant_errors[i].code == code)
			return desc ? ant_errors[i].desc : ant_errors[i].name;
	const char *s = NULL;
	if (code < 0 && code != INT_MIN)
		s = desc ? strerrordesc_np(-code) : strerrorname_np(-code);
	if (s == NULL)
		s = desc ? "unknown error" : "UNKNOWN";
	return s;
}

const char *ant_errname(int code)
{
	return error_text(code, 0);
}

const char *ant_strerror(int code)
{
	return error_text(code, 1);
}
