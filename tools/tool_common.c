/* tool_common.c - what every command-line tool shares: run folder, numbers, usage errors. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool_common.h"

const char *tool_run_base(void)
{
	const char *b = getenv("ANT_RUN_BASE");
	return b && *b ? b : "/run/ant";
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

int tool_list_stacks(char names[][TOOL_NAME_MAX], int max)
{
	DIR *d = opendir(tool_run_base());
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= TOOL_NAME_MAX)
			continue;
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s/antd.lock", tool_run_base(), e->d_name);
		if (stat(path, &st) == 0)   /* an antd ran here once */
			snprintf(names[n++], TOOL_NAME_MAX, "%s", e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, TOOL_NAME_MAX, by_name);
	return n;
}

/* Those of names whose app.sock is there (a stack that runs, or died). */
static int with_socket(char names[][TOOL_NAME_MAX], int n, int *which)
{
	int found = 0;
	for (int i = 0; i < n; i++) {
		char sock[PATH_MAX];
		struct stat st;
		snprintf(sock, sizeof(sock), "%s/%s/app.sock", tool_run_base(), names[i]);
		if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			*which = i;
			found++;
		}
	}
	return found;
}

const char *tool_run_dir(const char *given)
{
	if (given)
		return given;
	const char *env = ant_default_run_dir();
	if (env)
		return env;
	static char only[PATH_MAX];
	char names[64][TOOL_NAME_MAX];
	int which = -1, n = tool_list_stacks(names, 64);
	if (with_socket(names, n, &which) != 1)
		return NULL;
	snprintf(only, sizeof(only), "%s/%s", tool_run_base(), names[which]);
	return only;
}

void tool_no_run_dir(char *why, size_t len)
{
	char names[64][TOOL_NAME_MAX];
	int which = -1, n = tool_list_stacks(names, 64);
	int live = with_socket(names, n, &which);
	if (!live) {
		snprintf(why, len, "no run folder: give --run-dir DIR or set ANT_RUN_DIR (no stack "
			 "runs under %s)", tool_run_base());
		return;
	}
	size_t at = (size_t)snprintf(why, len, "%d stacks run under %s:", live, tool_run_base());
	for (int i = 0; i < n && at < len; i++) {
		char sock[PATH_MAX];
		struct stat st;
		snprintf(sock, sizeof(sock), "%s/%s/app.sock", tool_run_base(), names[i]);
		if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
			at += (size_t)snprintf(why + at, len - at, " %s", names[i]);
	}
	if (at < len)
		snprintf(why + at, len - at, "; choose one with --run-dir %s/NAME or ANT_RUN_DIR",
			 tool_run_base());
}

int tool_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void tool_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", prog);
	exit(2);
}

int tool_getopt(const struct tool_cli *cli, int argc, char **argv)
{
	opterr = 0;
	for (;;) {
		int ch = getopt_long(argc, argv, cli->shortopts, cli->opts, NULL);
		if (ch == 'h' && cli->usage) {
			cli->usage(stdout);
			exit(0);
		}
		if (ch == 'V' && cli->version) {
			printf("%.*s %s\n", (int)strcspn(cli->prog, " "), cli->prog, cli->version);
			exit(0);
		}
		if (ch == 'r' && cli->run_dir) {
			*cli->run_dir = optarg;
			continue;
		}
		if (ch == '?' || ch == ':') {
			if (cli->bad_format)
				tool_usage_error(cli->prog, cli->bad_format, argv[optind - 1]);
			tool_option_error(cli->prog, ch, argv, cli->opts);
		}
		return ch;
	}
}

void tool_option_error(const char *prog, int ch, char *const argv[], const struct option *opts)
{
	const char *typed = argv[optind - 1];
	if (ch == ':')
		tool_usage_error(prog, "option '%s' needs a value", typed);
	/* An unknown long option: getopt has moved past it and leaves optopt 0. */
	if (!optopt)
		tool_usage_error(prog, "unknown option '%s'", typed);
	/* A known long option given a value it does not take ("--json=1"), or
	 * lacking the one it needs ("--depth" last, without ":" in shortopts)... */
	for (const struct option *o = opts; strncmp(typed, "--", 2) == 0 && o->name; o++) {
		if (o->val != optopt)
			continue;
		if (strchr(typed, '=') && o->has_arg == no_argument)
			tool_usage_error(prog, "option '--%s' takes no value", o->name);
		if (!strchr(typed, '=') && o->has_arg == required_argument)
			tool_usage_error(prog, "option '%s' needs a value", typed);
	}
	/* ... else an unknown short option, maybe inside a cluster such as -fx. */
	tool_usage_error(prog, "unknown option '-%c'", optopt);
}

/* A process that exists but is no antd any more: a zombie, or its pid
 * taken by another program. */
static int gone(pid_t pid)
{
	char path[64], stat[256] = "";
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
	if (f)
		fclose(f);
	stat[n] = '\0';
	const char *open = strchr(stat, '('), *close = strrchr(stat, ')');
	if (!open || !close)
		return 0;   /* cannot tell: alive */
	return close[1] != ' ' || close[2] == 'Z' || close[2] == 'X' ||
	       (size_t)(close - open - 1) != 4 || strncmp(open + 1, "antd", 4) != 0;
}

int tool_stack_dead(const char *run_dir, char *why, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/antd.pid", run_dir ? run_dir : ".");
	FILE *f = fopen(path, "re");
	long pid = 0;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid <= 0)
		return 0;   /* no pid file: it cannot say */
	int alive = kill((pid_t)pid, 0) == 0 ? !gone((pid_t)pid) : errno == EPERM;
	if (alive)
		return 0;
	snprintf(why, len, "the stack in %s is dead: its antd (pid %ld) is gone; antd.pid and "
		 "the sockets there are stale (the next antd started on this folder clears them)",
		 run_dir, pid);
	return 1;
}

struct ant_conn *tool_connect(const char *prog, const char *given, const char *server)
{
	const char *run_dir = tool_run_dir(given);
	struct ant_conn *c;
	int r = ant_connect(run_dir, &c);
	char dead[PATH_MAX + 200];
	if (r == -ECONNREFUSED && tool_stack_dead(run_dir, dead, sizeof(dead))) {
		fprintf(stderr, "%s: %s\n", prog, dead);
		exit(3);
	}
	if (r < 0) {
		fprintf(stderr, "%s: cannot reach the stack in %s: %s\n", prog,
			run_dir ? run_dir : "(no run folder: give --run-dir or set ANT_RUN_DIR)",
			ant_strerror(r));
		exit(3);
	}
	if (ant_server_id(c, server) < 0) {
		fprintf(stderr, "%s: ANT_E_NO_SERVER: no server named '%s' in this stack\n", prog,
			server);
		ant_close(c);
		exit(1);
	}
	return c;
}

int tool_load_file_ica(struct ant_conn *c, const char *path, struct ant_ica **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = errno ? -errno : -EINVAL;
		close(fd);
		return S_ISREG(st.st_mode) ? e : -EINVAL;
	}
	size_t size = st.st_size ? (size_t)st.st_size : 1;
	int r = ant_ica_alloc(c, size, out);
	if (r < 0) {
		close(fd);
		return r;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, (char *)(*out)->addr + got, (size_t)st.st_size - got);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			close(fd);
			ant_ica_release(c, *out);
			*out = NULL;
			return r;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

int tool_write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, (const char *)p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? -errno : -EIO;
			close(fd);
			return e;
		}
		done += (size_t)w;
	}
	return close(fd) < 0 ? -errno : 0;
}
