/* harness.h - integration tests: start a real antd with real servers in a temp folder, stop it. */
#ifndef ANT_TEST_HARNESS_H
#define ANT_TEST_HARNESS_H

#include <sys/types.h>
#include <jansson.h>
#include "ant/ant.h"
#include "launcher.h"

struct harness {
	char dir[256];         /* ro: run folder: sockets, stack.json, antd.log, server logs */
	char stack_path[320];  /* ro */
	pid_t antd;            /* ro: 0 when not running */
	struct launcher run;   /* private: the antd behind the three fields above */
};

/* The folder every test of this program works under (made by harness_base_setup). */
void harness_base_setup(void);
/* Make a fresh folder under that one (removed with it even if a test
 * fails); template is e.g. "user-XXXXXX", dir gets the path. */
void harness_mkdtemp(char *dir, size_t len, const char *template);
void harness_base_teardown(void);

/*
 * Write stack_json to DIR/stack.json (the text may use "@DIR@", replaced by
 * DIR/files, a folder servers may write in, e.g. for --log files; harness_read
 * looks there first), start antd --foreground on it and
 * wait until app.sock answers.  Fails the test on any error.
 */
void harness_start(struct harness *h, const char *stack_json);
/* The same in steps: make the folder and stack.json; let prepare (may be
 * NULL) add files to it; start antd. */
void harness_start_prepared(struct harness *h, const char *stack_json,
			    void (*prepare)(struct harness *h));
void harness_prepare(struct harness *h, const char *stack_json);
void harness_launch(struct harness *h);
/* SIGTERM antd, wait for it (asserting a clean exit, sockets removed). */
void harness_stop(struct harness *h);
/* Wait (up to 2 s) for antd to end by itself, e.g. after antctl shutdown;
 * fails the test if it does not.  Returns its wait status. */
int harness_wait_exit(struct harness *h);
/* Connect an application; fails the test on error. */
struct ant_conn *harness_connect(struct harness *h);
/* antd's status (control socket), or fails the test. Caller decrefs. */
json_t *harness_status(struct harness *h);
/* Arm a fault in server (antctl inject): opts is a JSON object of its
 * settings ("{\"point\":\"fs.after_commit\",\"count\":0}") or NULL.
 * Returns the fault's id; fails the test if antd refuses. */
long harness_inject(struct harness *h, const char *server, const char *fault, const char *opts);
/* pid of a server by name from the status, or fails. */
pid_t harness_server_pid(struct harness *h, const char *name);
/* The same, but 0 while the server has no process (it is being restarted). */
pid_t harness_server_pid_now(struct harness *h, const char *name);
/* Contents of DIR/name (NUL-terminated, malloc'd; "" if absent). */
char *harness_read(struct harness *h, const char *name);
/* Run a command, return its exit status (or -1); stdout+stderr to out (malloc'd) if given. */
int harness_run(char *const argv[], char **out);
/* Run antctl with the arguments that follow (NULL-terminated, at most 22):
 * its exit status; its stdout and stderr in *out if out (malloc'd). */
int harness_antctl(char **out, const char *a0, ...);
/* Start argv[0] with its stdout and stderr on a pipe; *fd reads it (caller
 * closes), the caller reaps the pid.  The child dies with the test. */
pid_t harness_spawn(char *const argv[], int *fd);
/* Paths of the built programs. */
const char *harness_antd(void);
const char *harness_tool(const char *name);

/* The path of a system program in /usr/sbin or /sbin (mkfs.ext4, e2fsck);
 * fails the test if there is none.  Static: valid until the next call. */
const char *harness_sbin(const char *name);

/* Sleep ms milliseconds. */
void harness_sleep_ms(int ms);
/* The status entry of server name (caller decrefs); fails if there is none. */
json_t *harness_server_status(struct harness *h, const char *name);
/* A number from it (restarts, replays, inflight, standby_pid...); 0 if absent. */
long harness_server_num(struct harness *h, const char *name, const char *key);
/* Is a yes/no of it (standby_ready...) true? */
int harness_server_true(struct harness *h, const char *name, const char *key);
/* Is server name in state? */
int harness_server_state_is(struct harness *h, const char *name, const char *state);
/* Wait (up to 5 s) until server name is in state and, if pid_not, runs as
 * another pid; returns its pid.  Fails the test on a time-out. */
pid_t harness_wait_state(struct harness *h, const char *name, const char *state, pid_t pid_not);
/* Call server's echo with arg and check the reply is arg. */
void harness_expect_echo(struct ant_conn *c, const char *server, const char *arg);
/* No other result arrives for c within 300 ms (no call answered twice). */
void harness_expect_no_more_results(struct ant_conn *c);
/* Open fds of process pid (but the fast path's lanes and bells). */
int harness_count_fds(pid_t pid);

/* Simple sync call with a string argument: returns retval, fills res. */
int harness_call(struct ant_conn *c, const char *server, const char *op, const char *arg,
		 unsigned call_flags, struct ant_result *res);
/* The trace of res as "app relay1 relay2 app". */
void harness_trace(struct ant_conn *c, const struct ant_result *res, char *buf, size_t len);

#endif
