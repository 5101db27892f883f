/* bench_floors_cmd.c - ant-bench floors: this machine's own IPC floors and the peers users would pick instead, side by side. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "ant-config.h"
#include "tool_common.h"

#define ITER_MAX  1000000L
#define KILLS_MAX 100000L

/* One row of the table: its JSON group and key, its label, and what measures
 * it: rt with --iterations after --warmup, or once with --kills. */
struct floor_row {
	const char *group, *key, *label;
	void (*rt)(long n, long warmup, struct bench_measure *m);
	void (*once)(long n, struct bench_measure *m);
};

static const struct floor_row rows[] = {
	{ "floors", "pipe", "pipe round trip (1 byte)", bench_floor_pipe, NULL },
	{ "floors", "seqpacket", "SEQPACKET round trip", bench_floor_seqpacket, NULL },
	{ "floors", "futex", "futex round trip (shared page)", bench_floor_futex, NULL },
	{ "floors", "kill", "SIGKILL to pidfd readable", NULL, bench_floor_kill },
	{ "floors", "spawn", "spawn to first byte (static)", NULL, bench_floor_spawn },
	{ "peers", "dbus", "D-Bus method call", bench_peer_dbus, NULL },
	{ "peers", "zeromq", "ZeroMQ REQ/REP (ipc://)", bench_peer_zeromq, NULL },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))
#define SEQPACKET 1     /* rows[SEQPACKET]: the reference of the ratios */

static void floors_usage(FILE *f)
{
	fprintf(f,
		"usage: ant-bench floors [OPTIONS]\n"
		"Time what this machine's own IPC costs, and what users would pick instead\n"
		"of ant, each against a child process of this one, with no antd:\n"
		"  floors: a 1-byte round trip over two pipes; a %d-byte round trip over a\n"
		"    SOCK_SEQPACKET socketpair (the floor of ant-bench chain); a %d-byte\n"
		"    round trip through a shared page, each side sleeping on a futex\n"
		"    (FUTEX_WAIT/FUTEX_WAKE); SIGKILL of an idle child until its pidfd is\n"
		"    readable (the death a supervisor notices); posix_spawn of a static\n"
		"    binary until its first byte is read (fork, exec and first message)\n"
		"  peers: a D-Bus method call (one array of %d bytes, echoed) through a\n"
		"    private dbus-daemon to a child owning a name; a ZeroMQ REQ/REP round\n"
		"    trip of %d bytes over ipc://\n"
		"Prints median and p99 in microseconds, the median in TSC cycles, and each\n"
		"median over the SEQPACKET round trip's.  The static binary is\n"
		"bench-static-child; the peers are timed by bench-peers (so that this\n"
		"program links neither libdbus nor libzmq); both are looked for next to\n"
		"this program, then in\n"
		"  %s\n"
		"A peer bench-peers was built without, or whose daemon does not start, is\n"
		"\"not available\" with the reason, never a number.  Every child, the\n"
		"dbus-daemon and the temporary folders are gone before it exits.\n"
		"\n"
		"  --iterations K     timed round trips of each kind (default 20000)\n"
		"  --warmup W         untimed round trips first (default 1000)\n"
		"  --kills N          timed kills, and as many timed spawns (default 200)\n"
		"  --json             print one JSON object instead of the table: under\n"
		"                     \"floors\" pipe, seqpacket, futex, kill, spawn and under\n"
		"                     \"peers\" dbus, zeromq, each {median_ns, p99_ns,\n"
		"                     median_tsc, p99_tsc, ratio_to_seqpacket, samples,\n"
		"                     \"available\": true} or {\"available\": false, \"why\"}\n"
		"  --cpu N            run this program and every child (and dbus-daemon) on\n"
		"                     CPU N; default: wherever the kernel places them\n",
		BENCH_ECHO_SIZE, BENCH_ECHO_SIZE, BENCH_ECHO_SIZE, BENCH_ECHO_SIZE, ANT_LIBEXECDIR);
	bench_usage_progress(f);
	fprintf(f,
		"  --help             this text\n"
		"\n"
		"Exit status: 0 on success, also when a peer is not available; 1 if a\n"
		"measurement went wrong (a wrong or missing reply) or was interrupted;\n"
		"2 on bad usage.\n");
}

/* Every row, in order; stops at the first that went wrong.  Returns 0, or
 * -1 (printed). */
static int measure_rows(const struct opts *o, struct bench_measure *m)
{
	for (size_t k = 0; k < NROWS; k++) {
		char what[80];
		snprintf(what, sizeof(what), "floors: %s", rows[k].label);
		struct progress p;
		progress_begin(&p, o->progress, what, NULL, 0);
		if (rows[k].rt)
			rows[k].rt(o->iterations, o->warmup, &m[k]);
		else
			rows[k].once(o->kills, &m[k]);
		progress_end(&p);
		if (!m[k].ok && m[k].failed) {
			fprintf(stderr, "%s: %s: %s\n", PROG, rows[k].label, m[k].why);
			return -1;
		}
	}
	return 0;
}

static void print_table(const struct opts *o, const struct bench_measure *m)
{
	double ref = m[SEQPACKET].ok ? (double)m[SEQPACKET].s.median_ns : 0;
	int width = 0;
	for (size_t k = 0; k < NROWS; k++) {
		int w = (int)strlen(rows[k].label);
		width = w > width ? w : width;
	}
	printf("ant-bench floors: %ld round trips of %d bytes each (the pipe's: 1) after %ld "
	       "warm-up; %ld kills, %ld spawns\n", o->iterations, BENCH_ECHO_SIZE, o->warmup,
	       o->kills, o->kills);
	bench_print_placement(o, "bench and every child");
	printf("    %-*s %10s %11s %12s %12s\n", width, "", "median", "p99", "median TSC",
	       "x SEQPACKET");
	for (size_t k = 0; k < NROWS; k++) {
		if (k == 0 || strcmp(rows[k].group, rows[k - 1].group) != 0)
			printf("  %s\n", rows[k].group);
		if (!m[k].ok) {
			printf("    %-*s not available: %s\n", width, rows[k].label, m[k].why);
			continue;
		}
		char tsc[32];
		const struct stats *s = &m[k].s;
		printf("    %-*s %7.1f us %8.1f us %12s ", width, rows[k].label, s->median_ns / 1e3,
		       s->p99_ns / 1e3, HAVE_TSC ? bench_grouped(s->median_tsc, tsc, sizeof(tsc)) : "-");
		if (ref > 0)
			printf("%11.2fx\n", (double)s->median_ns / ref);
		else
			printf("%12s\n", "-");
	}
	printf("  spawn: posix_spawn (glibc: clone with CLONE_VM|CLONE_VFORK, then execve) of a "
	       "static binary until its byte is read\n"
	       "  kill: SIGKILL of the same binary asleep in pause() until its pidfd is readable\n");
	if (!HAVE_TSC)
		printf("  TSC: not available on this CPU (cycles reported as 0)\n");
}

static int print_json(const struct opts *o, const struct bench_measure *m)
{
	uint64_t ref = m[SEQPACKET].ok ? m[SEQPACKET].s.median_ns : 0;
	/* "o" takes the reference of cpu, even if it fails. */
	json_t *root = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:{}, s:{}}", "benchmark", "floors",
				 "iterations", (json_int_t)o->iterations,
				 "warmup", (json_int_t)o->warmup, "kills", (json_int_t)o->kills,
				 "arg_bytes", (json_int_t)BENCH_ECHO_SIZE,
				 "cpu", o->cpu >= 0 ? json_integer(o->cpu) : json_null(),
				 "floors", "peers");
	if (!root)
		return -1;
	for (size_t k = 0; k < NROWS; k++)
		json_object_set_new(json_object_get(root, rows[k].group), rows[k].key,
				    bench_measure_json(&m[k], ref, "ratio_to_seqpacket"));
	return bench_print_json(root, 4);
}

static int floors_main(const struct opts *o)
{
	struct bench_measure m[NROWS];
	memset(m, 0, sizeof(m));
	int ok = measure_rows(o, m) == 0;
	if (bench_interrupted)
		fprintf(stderr, "%s: interrupted\n", PROG);
	if (!ok)
		return 1;
	if (o->json)
		return print_json(o, m) == 0 ? 0 : 1;
	print_table(o, m);
	return 0;
}

/* ---- command line ----------------------------------------------------------- */

/* Not BENCH_COMMON_OPTS: no stack, so no --antd nor --server-path. */
static const struct option floors_opts[] = {
	{ "iterations", required_argument, NULL, 'i' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "kills", required_argument, NULL, 'k' },
	BENCH_NOSTACK_OPTS,
};

static void floors_option(int ch, struct opts *o)
{
	switch (ch) {
	case 'i': o->iterations = bench_opt_long("iterations", 1, ITER_MAX, ""); break;
	case 'w': o->warmup = bench_opt_long("warmup", 0, ITER_MAX, ""); break;
	case 'k': o->kills = bench_opt_long("kills", 1, KILLS_MAX, ""); break;
	}
}

const struct bench_command bench_floors = {
	.name = "floors", .usage = floors_usage, .opts = floors_opts,
	.option = floors_option, .run = floors_main,
};
