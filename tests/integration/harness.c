/* harness.c - integration tests: start a real antd with real servers in a temp folder, stop it. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_client.h"
#include "harness.h"

static char base[256];

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

const char *harness_antd(void) { return env_or("ANTD", "antd"); }

const char *harness_sbin(const char *name)
{
	static char path[2][64];
	static int i;
	i = !i;
	snprintf(path[i], sizeof(path[i]), "/usr/sbin/%s", name);
	if (access(path[i], X_OK) == 0)
		return path[i];
	snprintf(path[i], sizeof(path[i]), "/sbin/%s", name);
	ck_assert_msg(access(path[i], X_OK) == 0, "no %s (install e2fsprogs)", name);
	return path[i];
}

const char *harness_tool(const char *name)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", env_or("ANT_TOOLS_DIR", "."), name);
	return buf[i];
}

void harness_base_setup(void)
{
	snprintf(base, sizeof(base), "/tmp/ant-test-XXXXXX");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		abort();
	}
}

void harness_mkdtemp(char *dir, size_t len, const char *template)
{
	ck_assert_msg(base[0], "harness_base_setup not run");
	snprintf(dir, len, "%s/%s", base, template);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
	ck_assert(chmod(base, 0755) == 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void harness_base_teardown(void)
{
	/* ANT_TEST_KEEP=1: leave the folders (antd.log, images...) to look at. */
	if (base[0] && getenv("ANT_TEST_KEEP"))
		fprintf(stderr, "ANT_TEST_KEEP: kept %s\n", base);
	else if (base[0])
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	base[0] = '\0';
}

/* Replace every @DIR@ in text with dir. */
static char *expand(const char *text, const char *dir)
{
	size_t n = strlen(text) + 1, dl = strlen(dir);
	for (const char *p = text; (p = strstr(p, "@DIR@")); p += 5)
		n += dl;
	char *out = malloc(n), *o = out;
	for (const char *p = text; *p;) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			memcpy(o, dir, dl);
			o += dl;
			p += 5;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* Check refuses long failure messages: keep the end of a log. */
static const char *tail_of(const char *text)
{
	size_t n = strlen(text);
	return n > 3000 ? text + n - 3000 : text;
}

void harness_start(struct harness *h, const char *stack_json)
{
	harness_start_prepared(h, stack_json, NULL);
}

void harness_start_prepared(struct harness *h, const char *stack_json,
			    void (*prepare)(struct harness *h))
{
	harness_prepare(h, stack_json);
	if (prepare)
		prepare(h);
	harness_launch(h);
}

void harness_prepare(struct harness *h, const char *stack_json)
{
	ck_assert_msg(base[0], "harness_base_setup not run");
	char template[300];
	snprintf(template, sizeof(template), "%s/run-XXXXXX", base);
	h->run = (struct launcher){
		.antd_path = harness_antd(),
		.server_path = env_or("ANT_SERVERS_DIR", "."),
		.start_timeout_ms = 10000,
		.stop_timeout_ms = 10000,
	};
	ck_assert_msg(launcher_prepare(&h->run, template) == 0, "%s", h->run.error);
	snprintf(h->dir, sizeof(h->dir), "%s", h->run.dir);
	snprintf(h->stack_path, sizeof(h->stack_path), "%s", h->run.stack_path);
	h->antd = 0;
	/* Servers run under uids of their own (antd runs as root here): the
	 * test servers' --log files go into DIR/files, which they may write
	 * (antd refuses a run folder others can write). */
	char files[320];
	snprintf(files, sizeof(files), "%s/files", h->dir);
	ck_assert(chmod(base, 0755) == 0 && chmod(h->dir, 0755) == 0);
	ck_assert(mkdir(files, 0755) == 0 && chmod(files, 01777) == 0);
	char *text = expand(stack_json, files);
	ck_assert_msg(launcher_write_stack(&h->run, text) == 0, "%s", h->run.error);
	free(text);
}

void harness_launch(struct harness *h)
{
	/* Ready once a connection gets its WELCOME and every server runs. */
	int r = launcher_start(&h->run);
	h->antd = h->run.antd;
	if (r < 0)
		ck_abort_msg("%s: %s", h->run.error, tail_of(harness_read(h, "antd.log")));
}

void harness_stop(struct harness *h)
{
	if (h->antd <= 0)
		return;
	int r = launcher_stop(&h->run);
	h->antd = 0;
	ck_assert_msg(r == 0, "%s (status 0x%x): %s", h->run.error, h->run.status,
		      tail_of(harness_read(h, "antd.log")));
	char path[400];
	snprintf(path, sizeof(path), "%s/app.sock", h->dir);
	ck_assert_msg(access(path, F_OK) != 0, "app.sock left behind");
	snprintf(path, sizeof(path), "%s/control.sock", h->dir);
	ck_assert_msg(access(path, F_OK) != 0, "control.sock left behind");
}

int harness_wait_exit(struct harness *h)
{
	for (int i = 0; i < 200 && !launcher_ended(&h->run); i++)
		harness_sleep_ms(10);
	ck_assert_msg(launcher_ended(&h->run), "antd (pid %d) did not end", (int)h->antd);
	h->antd = 0;
	return h->run.status;
}

struct ant_conn *harness_connect(struct harness *h)
{
	struct ant_conn *c;
	int r = ant_connect(h->dir, &c);
	ck_assert_msg(r == 0, "ant_connect: %s", ant_strerror(r));
	return c;
}

json_t *harness_status(struct harness *h)
{
	json_t *req = json_pack("{s:s}", "cmd", "status"), *o;
	char why[160] = "";
	int r = ctl_request_once(h->dir, req, 5000, &o, why, sizeof(why));
	json_decref(req);
	ck_assert_msg(r != -ETIMEDOUT, "no status reply");
	ck_assert_msg(r == 0, "%s/control.sock: status: %s %s", h->dir, strerror(-r), why);
	return o;
}

long harness_inject(struct harness *h, const char *server, const char *fault, const char *opts)
{
	json_error_t jerr;
	json_t *req = opts ? json_loads(opts, 0, &jerr) : json_object();
	ck_assert_msg(req, "inject options %s: %s", opts, jerr.text);
	json_object_set_new(req, "cmd", json_string("inject"));
	json_object_set_new(req, "server", json_string(server));
	json_object_set_new(req, "fault", json_string(fault));
	json_t *o = NULL;
	char why[160] = "";
	int r = ctl_request_once(h->dir, req, 5000, &o, why, sizeof(why));
	json_decref(req);
	ck_assert_msg(r == 0, "inject %s %s: %s %s", server, fault, strerror(-r), why);
	ck_assert_msg(json_is_true(json_object_get(o, "ok")), "inject %s %s: %s", server, fault,
		      json_string_value(json_object_get(o, "error")));
	long id = (long)json_integer_value(json_object_get(json_object_get(o, "inject"), "id"));
	json_decref(o);
	return id;
}

int harness_server_true(struct harness *h, const char *name, const char *key)
{
	json_t *s = harness_server_status(h, name);
	int yes = json_is_true(json_object_get(s, key));
	json_decref(s);
	return yes;
}

pid_t harness_server_pid_now(struct harness *h, const char *name)
{
	json_t *s = harness_server_status(h, name);
	pid_t pid = (pid_t)json_integer_value(json_object_get(s, "pid"));
	json_decref(s);
	return pid > 0 ? pid : 0;
}

pid_t harness_server_pid(struct harness *h, const char *name)
{
	pid_t pid = harness_server_pid_now(h, name);
	ck_assert_msg(pid > 0, "no running server %s", name);
	return pid;
}

char *harness_read(struct harness *h, const char *name)
{
	char path[400];
	/* A server's file (DIR/files), else antd's own (DIR). */
	snprintf(path, sizeof(path), "%s/files/%s", h->dir, name);
	if (access(path, F_OK) != 0)
		snprintf(path, sizeof(path), "%s/%s", h->dir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return strdup("");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

pid_t harness_spawn(char *const argv[], int *fd)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

int harness_run(char *const argv[], char **out)
{
	int fd;
	pid_t pid = harness_spawn(argv, &fd);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		fwrite(chunk, 1, (size_t)n, m);
	close(fd);
	fclose(m);
	int status;
	waitpid(pid, &status, 0);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int harness_antctl(char **out, const char *a0, ...)
{
	char *argv[24] = { (char *)harness_tool("antctl") };
	va_list ap;
	va_start(ap, a0);
	int n = 1;
	for (const char *a = a0; a && n < 23; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	char *dummy = NULL;
	int rc = harness_run(argv, out ? out : &dummy);
	free(dummy);
	return rc;
}

int harness_call(struct ant_conn *c, const char *server, const char *op, const char *arg,
		 unsigned call_flags, struct ant_result *res)
{
	struct ant_call call = {
		.server = server, .op = op, .arg = arg, .arglen = arg ? strlen(arg) : 0,
		.call_flags = call_flags,
	};
	return ant_call_sync(c, &call, res);
}

void harness_trace(struct ant_conn *c, const struct ant_result *res, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < res->trace_len && o < len; i++) {
		const char *n = res->trace[i] ? ant_server_name(c, res->trace[i]) : "app";
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? " " : "", n ? n : "?");
	}
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

json_t *harness_server_status(struct harness *h, const char *name)
{
	json_t *st = harness_status(h);
	json_t *found = json_incref(ctl_status_server(st, name));
	json_decref(st);
	ck_assert_msg(found, "no server %s in the status", name);
	return found;
}

long harness_server_num(struct harness *h, const char *name, const char *key)
{
	json_t *s = harness_server_status(h, name);
	long v = (long)json_integer_value(json_object_get(s, key));
	json_decref(s);
	return v;
}

int harness_server_state_is(struct harness *h, const char *name, const char *state)
{
	json_t *s = harness_server_status(h, name);
	int yes = strcmp(json_string_value(json_object_get(s, "state")), state) == 0;
	json_decref(s);
	return yes;
}

pid_t harness_wait_state(struct harness *h, const char *name, const char *state, pid_t pid_not)
{
	for (int i = 0; i < 500; i++) {
		json_t *s = harness_server_status(h, name);
		int ok = strcmp(json_string_value(json_object_get(s, "state")), state) == 0;
		pid_t pid = (pid_t)json_integer_value(json_object_get(s, "pid"));
		json_decref(s);
		if (ok && (!pid_not || pid != pid_not))
			return pid;
		harness_sleep_ms(10);
	}
	ck_abort_msg("%s never reached state %s", name, state);
	return 0;
}

void harness_expect_echo(struct ant_conn *c, const char *server, const char *arg)
{
	static struct ant_result res;
	int r = harness_call(c, server, "echo", arg, 0, &res);
	ck_assert_msg(r == 0, "%s echo %s: %s (%.*s)", server, arg, ant_errname(r), (int)res.len,
		      res.bytes ? (const char *)res.bytes : "");
	ck_assert(res.len == strlen(arg) && memcmp(res.bytes, arg, res.len) == 0);
}

void harness_expect_no_more_results(struct ant_conn *c)
{
	static struct ant_result res;
	int r = ant_wait(c, 0, &res, 300);
	ck_assert_msg(r == -ETIMEDOUT, "an extra result arrived (ticket %llu)",
		      (unsigned long long)res.ticket);
}

int harness_count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		/* The fast path's lanes and bells (docs/fastpath.md) come and go
		 * with the stack's apps and are dropped by a re-exec on purpose. */
		char link[PATH_MAX], fdp[96];
		snprintf(fdp, sizeof(fdp), "%s/%s", path, e->d_name);
		ssize_t k = readlink(fdp, link, sizeof(link) - 1);
		if (k > 0) {
			link[k] = '\0';
			if (strstr(link, "memfd:ant-lane") || strcmp(link, "anon_inode:[eventfd]") == 0)
				continue;
		}
		n++;
	}
	closedir(d);
	return n;
}
