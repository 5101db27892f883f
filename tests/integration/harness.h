/* harness.h - integration tests: start a real antd with real servers in a temp folder, stop it. */
#ifndef ANT_TEST_HARNESS_H
#define ANT_TEST_HARNESS_H

#include <sys/types.h>
#include <jansson.h>
#include "ant/ant.h"

struct harness {
	char dir[256];         /* run folder: sockets, stack.json, antd.log, server logs */
	char stack_path[320];
	pid_t antd;
};

/* The folder every test of this program works under (made by harness_base_setup). */
void harness_base_setup(void);
void harness_base_teardown(void);

/*
 * Write stack_json to DIR/stack.json (the text may use "@DIR@", replaced by
 * DIR/files, a folder servers may write in, e.g. for --log files; harness_read
 * looks there first), start antd --foreground on it and
 * wait until app.sock answers.  Fails the test on any error.
 */
void harness_start(struct harness *h, const char *stack_json);
/* SIGTERM antd, wait for it (asserting a clean exit, sockets removed). */
void harness_stop(struct harness *h);
/* Connect an application; fails the test on error. */
struct ant_conn *harness_connect(struct harness *h);
/* antd's status (control socket), or fails the test. Caller decrefs. */
json_t *harness_status(struct harness *h);
/* pid of a server by name from the status, or fails. */
pid_t harness_server_pid(struct harness *h, const char *name);
/* Contents of DIR/name (NUL-terminated, malloc'd; "" if absent). */
char *harness_read(struct harness *h, const char *name);
/* Run a command, return its exit status (or -1); stdout+stderr to out (malloc'd) if given. */
int harness_run(char *const argv[], char **out);
/* Paths of the built programs. */
const char *harness_antd(void);
const char *harness_tool(const char *name);

/* Simple sync call with a string argument: returns retval, fills res. */
int harness_call(struct ant_conn *c, const char *server, const char *op, const char *arg,
		 unsigned call_flags, struct ant_result *res);
/* The trace of res as "app relay1 relay2 app". */
void harness_trace(struct ant_conn *c, const struct ant_result *res, char *buf, size_t len);

#endif
