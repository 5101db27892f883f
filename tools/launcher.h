/* launcher.h - one antd launcher: a stack file in a temp run folder, antd started, ready, stopped, its log shown. */
#ifndef ANT_LAUNCHER_H
#define ANT_LAUNCHER_H

#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * One antd on one run folder.  The caller sets the first fields (a zeroed
 * struct takes the defaults), then: launcher_prepare, launcher_write_stack
 * (or writes stack_path itself), launcher_start; later launcher_stop, which
 * may be followed by launcher_start again on the same folder, and
 * launcher_remove.  A failing function returns -1 and says why in error
 * (without a program name); it never prints or exits.
 */
struct launcher {
	const char *antd_path;          /* rw: a path, or a name looked up in $PATH ("antd") */
	const char *server_path;        /* rw: antd's --server-path (NULL: none given) */
	int start_timeout_ms;           /* rw: until ready (0: 10 s) */
	int stop_timeout_ms;            /* rw: from SIGTERM to SIGKILL (0: 5 s) */
	volatile sig_atomic_t *stop;    /* rw: if set, waits give up once it is nonzero */
	char dir[256];                  /* ro: the run folder */
	char stack_path[320];           /* ro: DIR/stack.json */
	char log_path[320];             /* ro: DIR/antd.log: antd's stdout and stderr */
	pid_t antd;                     /* ro: 0 when not running (or reaped) */
	int status;                     /* ro: antd's wait status once reaped */
	char error[512];                /* ro: why the last call failed */
	int exec_failed;                /* ro: launcher_start failed because exec did */
	int log_shown;                  /* private: launcher_show_log ran (it shows once) */
};

/* Make the run folder from template (mkdtemp: it ends in XXXXXX) and name the
 * stack file and log in it.  Returns 0 or -1. */
int launcher_prepare(struct launcher *l, const char *template);

/* Write text to l->stack_path.  Returns 0 or -1. */
int launcher_write_stack(struct launcher *l, const char *text);

/*
 * Start antd --foreground on the stack file, in its own process group, its
 * output into the log (it dies with this process: PR_SET_PDEATHSIG), and
 * wait until it is ready: app.sock takes a connection and the control
 * socket's status says every server is running.  Returns 0; or -1, antd
 * then either reaped (it ended, or exec failed) or left for launcher_stop.
 */
int launcher_start(struct launcher *l);

/* Reap antd if it has ended; returns 1 if it has (or was not running). */
int launcher_ended(struct launcher *l);

/* SIGTERM antd, wait (then SIGKILL), reap it.  Returns 0 if it exited 0 (or
 * was not running), else -1 (error says how it ended). */
int launcher_stop(struct launcher *l);

/* Remove what a run leaves in the folder (stack file, log, lock, pid file,
 * sockets) and the folder itself.  Returns 0 or -1.  No-op if never prepared. */
int launcher_remove(struct launcher *l);

/* Copy the log to f under a heading naming prog, only its first and last
 * lines when it is long (a server restarted without limit logs thousands).
 * Only the first call shows it: the reason a stack failed is said once. */
void launcher_show_log(struct launcher *l, FILE *f, const char *prog);

/* "exit status 1", "signal 15" */
const char *launcher_how_ended(int status, char *buf, size_t len);

#endif
