/* ctl_client.h - one client of antd's control socket: connect, one JSON request, one JSON reply, follow. */
#ifndef ANT_CTL_CLIENT_H
#define ANT_CTL_CLIENT_H

#include <signal.h>
#include <sys/un.h>
#include <jansson.h>

/*
 * One connection to RUN_DIR/control.sock (SOCK_SEQPACKET: one message is one
 * JSON object).  Not thread-safe: a thread that wants its own requests opens
 * its own connection.  Every function returns 0 or -errno and never prints.
 */
struct ctl_conn {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* ro: DIR/control.sock */
	int fd;                          /* ro: -1 while not connected */
	char *raw;                       /* ro: the last message received, as sent, NUL-ended */
	volatile sig_atomic_t *stop;     /* rw: if set, a wait cut short by a signal
					  * while *stop is nonzero ends with -EINTR */
};

/* Name DIR/control.sock in c (not connected yet).  Returns 0, or
 * -ENAMETOOLONG (c->path then holds the start of the name). */
int ctl_init(struct ctl_conn *c, const char *run_dir);

/* Connect c (named by ctl_init).  Returns 0 or -errno; c->fd stays -1 on error. */
int ctl_connect(struct ctl_conn *c);

/* ctl_init and ctl_connect in one. */
int ctl_open(struct ctl_conn *c, const char *run_dir);

/* Close the connection (if any) and free c->raw; c may be connected again.  Accepts a
 * never-opened c set to { .fd = -1 }. */
void ctl_close(struct ctl_conn *c);

/* Send req (not consumed) as one message.  Returns 0 or -errno (-EPIPE: antd
 * hung up). */
int ctl_send(struct ctl_conn *c, const json_t *req);

/*
 * Receive one message within timeout_ms (-1: no limit) and parse it.
 * Returns 0 with *out a new JSON object (caller decrefs; c->raw holds the
 * text as sent), -ETIMEDOUT, -ECONNRESET when antd closed the connection,
 * -EBADMSG when it is not a JSON object (why, if given, names it: an
 * excerpt and the parser's complaint), -EINTR (see stop), or -errno.
 * Following antd's log is ctl_request for {"cmd":"log","follow":true},
 * then ctl_recv with -1 for each event.
 */
int ctl_recv(struct ctl_conn *c, int timeout_ms, json_t **out, char *why, size_t whylen);

/* ctl_send then ctl_recv: one request, its reply.  Does not look at "ok". */
int ctl_request(struct ctl_conn *c, const json_t *req, int timeout_ms, json_t **out,
		char *why, size_t whylen);

/* One request on a connection of its own: ctl_open, ctl_request, ctl_close.
 * Returns what ctl_open or ctl_request does; *out as ctl_recv's. */
int ctl_request_once(const char *run_dir, const json_t *req, int timeout_ms, json_t **out,
		     char *why, size_t whylen);

/* Reading antd's objects leniently: a missing number reads as 0, a missing
 * string as "-". */
double ctl_num(const json_t *o, const char *key);
const char *ctl_str(const json_t *o, const char *key);

/* The entry of server name in a status reply's "servers" (borrowed), or NULL. */
json_t *ctl_status_server(const json_t *status, const char *name);

/* The servers of a status reply that are not "running", written to buf as
 * "a (starting), b (failed)" ("" if none).  Returns how many there are. */
int ctl_not_running(const json_t *status, char *buf, size_t len);

#endif
