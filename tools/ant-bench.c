/* ant-bench.c - time sync calls down a chain of relays against a bare SEQPACKET round trip,
 * the failover of a killed server (cold restart or warm standby) as the app sees it, and the
 * machine's own IPC floors beside D-Bus and ZeroMQ: the command table, the options every
 * command takes, and main. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ant-config.h"
#include "tool_common.h"

volatile sig_atomic_t bench_interrupted;

static const struct bench_command *const commands[] = { &bench_chain, &bench_failover,
							 &bench_upgrade, &bench_data, &bench_load, &bench_all, &bench_lanes,
							 &bench_floors };
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void on_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench chain [OPTIONS]     sync calls down a chain of relays\n"
		"       ant-bench failover [OPTIONS]  from a server's kill to the replayed answer\n"
		"       ant-bench upgrade [OPTIONS]   the pause a live upgrade costs a call\n"
		"       ant-bench floors [OPTIONS]    the machine's IPC floors, D-Bus, ZeroMQ\n"
		"       ant-bench data [OPTIONS]      data ICAs of 0 to 64 MiB vs. a socket copy\n"
		"       ant-bench load [OPTIONS]      calls/s with many apps; CPU and memory\n"
		"       ant-bench lanes [OPTIONS]     the fast path's design, no antd (lab)\n"
		"       ant-bench all [OPTIONS]       every one, issue 15's ratios and targets\n"
		"       ant-bench COMMAND --help      that command's options\n"
		"\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (i)
			fputc('\n', f);
		commands[i]->usage(f);
	}
}

void bench_usage_fast_path(FILE *f)
{
	fprintf(f,
		"  --fast-path        the stack has \"fast_path\": true: calls without a data\n"
		"                     ICA go in lanes past antd (docs/fastpath.md)\n"
		"  --lane-spin US     the stack's lane_spin_us (0 to 1000; implies\n"
		"                     --fast-path): peers look at their lanes this long\n"
		"                     before they sleep\n");
}

void bench_usage_progress(FILE *f)
{
	fprintf(f,
		"  -q, --quiet        no progress on stderr\n"
		"  --progress         progress on stderr even when it is not a terminal: a\n"
		"                     line per tenth of each long step (on a terminal: one\n"
		"                     line rewritten in place, at most 10 times a second,\n"
		"                     cleared at the end; the default there); the last of\n"
		"                     --quiet and --progress wins.  Progress never goes to\n"
		"                     stdout, and is written between timed intervals only.\n");
}

long bench_opt_long(const char *name, long min, long max, const char *what)
{
	long v;
	if (tool_parse_long(optarg, min, max, &v) < 0)
		tool_usage_error(PROG, "--%s: expected %ld to %ld%s, got '%s'", name, min, max,
				 what, optarg);
	return v;
}

size_t bench_opt_list(const char *name, long long (*parse)(const char *item), long long *out,
		      size_t max, const char *what)
{
	size_t n = 0;
	char *copy = strdup(optarg), *save = NULL;
	if (!copy)
		tool_usage_error(PROG, "--%s: out of memory", name);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		long long v = parse(t);
		if (v < 0)
			tool_usage_error(PROG, "--%s: '%s' is not %s", name, t, what);
		if (n == max)
			tool_usage_error(PROG, "--%s: at most %zu items", name, max);
		out[n++] = v;
	}
	free(copy);
	if (!n)
		tool_usage_error(PROG, "--%s: expected a comma-separated list (each %s)", name, what);
	return n;
}

/* The options every command takes: --json, --antd, --server-path, --cpu,
 * --quiet, --progress;
 * returns 0 if ch is not one of them. */
static int common_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'j': o->json = 1; return 1;
	case 'a': o->antd = optarg; return 1;
	case 'F': o->fast_path = 1; return 1;
	case 'L':
		o->lane_spin_us = bench_opt_long("lane-spin", 0, 1000, " us");
		o->fast_path = 1;
		return 1;
	case 's': o->server_path = optarg; return 1;
	case 'q': o->progress = PROGRESS_NEVER; return 1;
	case 'P': o->progress = PROGRESS_ALWAYS; return 1;
	case 'c':
		if (tool_parse_long(optarg, 0, CPU_SETSIZE - 1, &o->cpu) < 0)
			tool_usage_error(PROG, "--cpu: expected a CPU number, got '%s'", optarg);
		return 1;
	}
	return 0;
}

/* argv[0] is the command's name. */
static void parse(const struct bench_command *cmd, int argc, char **argv, struct opts *o)
{
	const struct tool_cli cli = { .prog = PROG, .opts = cmd->opts, .shortopts = "+hVq", .version = ANT_VERSION,
				      .usage = cmd->usage };
	int ch;
	while ((ch = tool_getopt(&cli, argc, argv)) != -1)
		if (!common_option(ch, o))
			cmd->option(ch, o);
	if (optind < argc)
		tool_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (cmd->finish)
		cmd->finish(o);
}

/* "chain, failover, ...": the commands' names, for messages. */
static const char *command_names(void)
{
	static char names[128];
	size_t len = 0;
	for (size_t i = 0; i < NCOMMANDS && len < sizeof(names); i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
					commands[i]->name);
	return names;
}

static const struct bench_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o = { .depth = 3, .iterations = 20000, .warmup = 1000, .ret = RET_DIRECT,
			  .cpu = -1, .kills = 200 };
	if (argc < 2)
		tool_usage_error(PROG, "expected a command (%s)", command_names());
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("%s %s\n", PROG, ANT_VERSION);
		return 0;
	}
	if (argv[1][0] == '-')
		tool_usage_error(PROG, "unknown option '%s' (the command, one of %s, "
				 "comes first)", argv[1], command_names());
	const struct bench_command *cmd = find_command(argv[1]);
	if (!cmd)
		tool_usage_error(PROG, "unknown command '%s' (known: %s)", argv[1], command_names());
	parse(cmd, argc - 1, argv + 1, &o);
	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((int)o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			fprintf(stderr, "%s: --cpu %ld: %s\n", PROG, o.cpu, strerror(errno));
			return 1;
		}
	}

	struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return cmd->run(&o);
}
