/* sandbox_serve.h - antd's side of each server's seccomp filter: judge the calls outside its allowlist. */
#ifndef ANTD_SANDBOX_SERVE_H
#define ANTD_SANDBOX_SERVE_H

struct antd;
struct instance;

/* Watch notify_fd (consumed; -1: stop watching and close) for instance in.
 * Each notification is answered from the event loop as it comes: before the
 * instance is ready a loader call goes on; anything else is a sandbox
 * violation (EV_SANDBOX). */
void sandbox_watch(struct antd *d, struct instance *in, int notify_fd);

#endif
