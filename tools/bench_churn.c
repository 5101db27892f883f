/* bench_churn.c - ant-bench chain --churn: bystander servers restarted one after another, from a thread of their own. */
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define RESTART_TIMEOUT_MS 10000   /* a restarted bystander runs again within this */
#define CHURN_POLL_US      1000    /* between two looks at its state */

json_t *churn_servers(long n)
{
	json_t *servers = json_array();
	for (long i = 1; servers && i <= n; i++) {
		char name[24];
		snprintf(name, sizeof(name), "churn%ld", i);
		json_array_append_new(servers, json_pack("{s:s, s:s}", "name", name, "exec", "echo"));
	}
	return servers;
}

/* The pid of server name in a status reply (0 if none runs). */
static long pid_of(const json_t *status, const char *name)
{
	return (long)json_integer_value(json_object_get(ctl_status_server(status, name), "pid"));
}

/* Status until name runs as another pid than old.  Returns 0, or -1 (printed). */
static int wait_running(struct ctl_conn *ctl, const char *name, long old)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)RESTART_TIMEOUT_MS * 1000000u;
	for (;;) {
		json_t *st = bench_ctl_ask(ctl, json_pack("{s:s}", "cmd", "status"));
		if (!st)
			return -1;
		json_t *s = ctl_status_server(st, name);
		const char *state = json_string_value(json_object_get(s, "state"));
		int done = state && strcmp(state, "running") == 0 && pid_of(st, name) != old;
		json_decref(st);
		if (done)
			return 0;
		if (bench_interrupted)
			return -1;
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "%s: churn: %s not running again %d ms after its restart\n",
				PROG, name, RESTART_TIMEOUT_MS);
			return -1;
		}
		bench_sleep_us(CHURN_POLL_US);
	}
}

/* The thread: restart churn1, churn2, ... churnN, churn1, ... each as soon
 * as the one before runs again, until told to stop. */
static void *churn_loop(void *arg)
{
	struct churn *c = arg;
	struct ctl_conn ctl = { .fd = -1 };
	int r = ctl_open(&ctl, c->run_dir), ok = r == 0;
	ctl.stop = &bench_interrupted;
	if (!ok)
		fprintf(stderr, "%s: churn: %s: %s\n", PROG, ctl.path, strerror(-r));
	for (long i = 0; ok && !atomic_load(&c->stop) && !bench_interrupted; i++) {
		char name[24];
		snprintf(name, sizeof(name), "churn%ld", i % c->servers + 1);
		json_t *st = bench_ctl_ask(&ctl, json_pack("{s:s}", "cmd", "status"));
		long old = st ? pid_of(st, name) : 0;
		json_decref(st);
		json_t *rep = st ? bench_ctl_ask(&ctl, json_pack("{s:s, s:s}", "cmd", "restart",
								 "server", name)) : NULL;
		ok = rep != NULL;
		json_decref(rep);
		atomic_store(&c->requested, 1);
		ok = ok && wait_running(&ctl, name, old) == 0;
		if (ok)
			atomic_fetch_add(&c->restarts, 1);
	}
	ctl_close(&ctl);
	atomic_store(&c->failed, !ok && !bench_interrupted);
	atomic_store(&c->requested, 1);
	return NULL;
}

extern char **environ;

int bench_spawn_init(struct bench_spawn *s, const char *exec_path)
{
	int r = posix_spawn_file_actions_init(&s->fa);
	if (r != 0)
		return r;
	r = posix_spawn_file_actions_addopen(&s->fa, 1, "/dev/null", O_WRONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_addopen(&s->fa, 2, "/dev/null", O_WRONLY, 0);
	if (r != 0)
		posix_spawn_file_actions_destroy(&s->fa);
	s->argv[0] = (char *)exec_path;
	s->argv[1] = "--help";
	s->argv[2] = NULL;
	return r;
}

int bench_spawn_start(struct bench_spawn *s, pid_t *pid)
{
	return posix_spawn(pid, s->argv[0], &s->fa, NULL, s->argv, environ);
}

void bench_spawn_fini(struct bench_spawn *s)
{
	posix_spawn_file_actions_destroy(&s->fa);
}

/* The floor's thread: exec_path --help, again and again, no antd. */
static void *outside_loop(void *arg)
{
	struct churn *c = arg;
	struct bench_spawn sp;
	int r = bench_spawn_init(&sp, c->exec_path), ready = r == 0, ok = ready;
	uint64_t t0 = bench_now_ns();
	for (long n = 0; ok && !atomic_load(&c->stop) && !bench_interrupted; n++) {
		/* At the rate asked: the n-th start is due at n / rate seconds. */
		uint64_t due = c->rate > 0 ? t0 + (uint64_t)((double)n * 1e9 / c->rate) : 0;
		for (uint64_t now = bench_now_ns(); due > now && !atomic_load(&c->stop);
		     now = bench_now_ns())
			bench_sleep_us((long)((due - now) / 1000 < 10000 ? (due - now) / 1000 : 10000));
		if (atomic_load(&c->stop))
			break;
		pid_t pid;
		r = bench_spawn_start(&sp, &pid);
		atomic_store(&c->requested, 1);
		if (r != 0) {
			ok = 0;
			break;
		}
		waitpid(pid, NULL, 0);
		atomic_fetch_add(&c->restarts, 1);
	}
	if (r != 0)
		fprintf(stderr, "%s: churn floor: %s: %s\n", PROG, c->exec_path, strerror(r));
	if (ready)
		bench_spawn_fini(&sp);
	atomic_store(&c->failed, !ok);
	atomic_store(&c->requested, 1);
	return NULL;
}

const char *churn_echo_path(const struct opts *o)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (o->server_path)
		snprintf(path, sizeof(path), "%.*s/echo", (int)strcspn(o->server_path, ":"),
			 o->server_path);
	else
		snprintf(path, sizeof(path), "%s/../servers/echo", self);
	return path;
}

static int start_thread(struct churn *c, void *(*fn)(void *))
{
	int r = pthread_create(&c->thread, NULL, fn, c);
	if (r != 0) {
		fprintf(stderr, "%s: churn: pthread_create: %s\n", PROG, strerror(r));
		return -1;
	}
	c->running = 1;
	while (!atomic_load(&c->requested) && !bench_interrupted)
		bench_sleep_us(100);
	return atomic_load(&c->failed) ? -1 : 0;
}

int churn_start(struct churn *c, const char *run_dir, long servers)
{
	*c = (struct churn){ .run_dir = run_dir, .servers = servers };
	return start_thread(c, churn_loop);
}

int churn_start_outside(struct churn *c, const char *exec_path, double rate)
{
	*c = (struct churn){ .exec_path = exec_path, .rate = rate };
	return start_thread(c, outside_loop);
}

long churn_stop(struct churn *c)
{
	if (!c->running)
		return -1;
	atomic_store(&c->stop, 1);
	pthread_join(c->thread, NULL);
	c->running = 0;
	return atomic_load(&c->failed) ? -1 : atomic_load(&c->restarts);
}
