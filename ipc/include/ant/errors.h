/* errors.h - the few errors an ant call can end with, and their names. */
#ifndef ANT_ERRORS_H
#define ANT_ERRORS_H

/*
 * A call's return value is >= 0 on success (the server's own value) or one of
 * these negative codes.  Library functions that are not calls return -errno;
 * the ANT_E* values sit far below every errno so both can share an int.
 */
enum ant_error {
	ANT_E_SERVER_FAILED = -1001, /* the server died or was cut off holding the call */
	ANT_E_DEADLINE      = -1002, /* the call exceeded its deadline */
	ANT_E_NO_SERVER     = -1003, /* no server of that name or id in this stack */
	ANT_E_NO_OP         = -1004, /* the server does not serve that op */
	ANT_E_DENIED        = -1005, /* the caller may not call that server */
	ANT_E_BAD_REQUEST   = -1006, /* malformed request (arguments, data ICA) */
	ANT_E_SHUTDOWN      = -1007, /* the stack is shutting down */
	ANT_E_PROTOCOL      = -1008, /* the peer broke the wire protocol */
	ANT_E_NO_ICA        = -1009, /* no ICA could be allocated */
	ANT_E_TOO_BIG       = -1010, /* the call's answer or next stage did not fit its control ICA */
	ANT_E_LIMIT         = -1011, /* over a limit of the stack (calls in flight of one peer...) */
	ANT_E_SERVER_STOPPED = -1012, /* the server was stopped by the operator (antctl stop) */
	ANT_E_CANCELLED     = -1013, /* the caller gave up on the call (ant_cancel) */
};

/* Codes above -ANT_ERRNO_MAX are -errno (a server's own answer, or a system
 * error); the ANT_E_* codes lie below.  One test for every caller. */
#define ANT_ERRNO_MAX 1000
static inline int ant_is_errno(int code)
{
	return code < 0 && code > -ANT_ERRNO_MAX;
}

/* "ANT_E_DENIED", "ENOENT", ...: a stable name for scripts. Never NULL. */
const char *ant_errname(int code);
/* A one-line human description of code (ANT_E* or -errno). Never NULL. */
const char *ant_strerror(int code);

#endif
