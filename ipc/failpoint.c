/* failpoint.c - faults antd arms in a server, carried out inside it: at a handed-over call, at a named point, or at once. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ant/cica.h"
#include "conn.h"

int ant_failpoints_armed;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Tell antd first: a fault that ends the process leaves FIRED in its socket. */
static void fired(struct ant_conn *c, const struct ant_m_fault *f, uint64_t call_id)
{
	struct ant_m_fired m = { .id = f->id, .kind = f->kind, .arg = f->arg, .call_id = call_id };
	memcpy(m.point, f->point, sizeof(m.point));
	conn_send(c, ANT_M_FIRED, 0, &m, sizeof(m), -1);
}

/* A system call no server's sandbox allows (a violation: antd ends it). */
static void forbidden_call(struct ant_conn *c, int which)
{
	int fd;
	switch (which) {
	case ANT_SANDBOX_OPENAT:
		fd = open("/etc/hostname", O_RDONLY);
		if (fd >= 0)
			close(fd);
		break;
	case ANT_SANDBOX_EXECVE: {
		char *const argv[] = { "/bin/true", NULL };
		execv(argv[0], argv);
		break;
	}
	case ANT_SANDBOX_PTRACE:
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case ANT_SANDBOX_TGKILL:   /* signal 0 (harmless) to another process: init */
		syscall(SYS_tgkill, 1, 1, 0);
		break;
	case ANT_SANDBOX_SETOWN:   /* its socket's SIGIO to another process */
		fcntl(c->sock, F_SETOWN, 1);
		break;
	default:                   /* network sockets */
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0)
			close(fd);
		break;
	}
}

/* The faults that act where they fire: the process ends, stops answering,
 * sleeps, grows or takes areas.  (drop and corrupt act on the call itself:
 * fp_on_take, fp_on_send.) */
static void act(struct ant_conn *c, const struct ant_m_fault *f)
{
	switch (f->kind) {
	case ANT_FAULT_KILL:
		raise(SIGKILL);
		break;
	case ANT_FAULT_SEGV:
		/* The default action, even under a sanitizer that catches SEGV. */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		break;
	case ANT_FAULT_ABORT:
		signal(SIGABRT, SIG_DFL);
		abort();
	case ANT_FAULT_EXIT:
		_exit(f->arg);   /* exactly this code, even under LeakSanitizer */
	case ANT_FAULT_HANG:
		for (;;)   /* nanosleep: the sandbox's time group allows it */
			sleep_ms(3600 * 1000L);
	case ANT_FAULT_SPIN: {
		volatile unsigned long x = 0;
		for (;;)
			x++;
	}
	case ANT_FAULT_DELAY:
		sleep_ms(f->arg);
		break;
	case ANT_FAULT_SANDBOX:
		forbidden_call(c, f->arg);
		break;
	case ANT_FAULT_LEAK: {
		size_t n = (size_t)f->arg << 20;
		char *p = malloc(n);
		if (!p)
			abort();   /* as a leaking server would end, at its rlimit */
		memset(p, 0xa5, n);   /* touched: resident, not just reserved */
		break;   /* and never freed */
	}
	case ANT_FAULT_EXHAUST:
		/* Big areas, never touched (no page is used): the byte limit
		 * comes long before this process runs out of fds.  Kept. */
		for (int i = 0; i < 100000; i++) {
			struct ant_ica *ica;
			if (ant_ica_alloc_unmapped(c, (size_t)64 << 20, &ica) < 0)
				break;   /* refused: antd's limit holds, and we go on */
		}
		break;
	default:
		break;
	}
}

static void drop_slot(struct ant_conn *c, unsigned i)
{
	memset(&c->fp.armed[i], 0, sizeof(c->fp.armed[i]));
	c->fp.hits[i] = 0;
	c->fp.fired[i] = 0;
	c->fp.narmed--;
	unsigned points = 0;
	for (unsigned k = 0; k < ANT_FAULTS_ARMED_MAX; k++)
		points += c->fp.armed[k].id && c->fp.armed[k].point[0] &&
			  strcmp(c->fp.armed[k].point, "now") != 0;
	ant_failpoints_armed = points > 0;
}

void fp_on_fault(struct ant_conn *c, const struct ant_m_fault *in)
{
	struct ant_m_fault f = *in;
	f.point[sizeof(f.point) - 1] = '\0';
	if (f.id == 0 || f.kind == ANT_FAULT_NONE || f.kind >= ANT_FAULT_MAX ||
	    f.kind == ANT_FAULT_ERRNO)
		return;   /* not a fault this server can carry out */
	if (strcmp(f.point, "now") == 0) {
		fired(c, &f, 0);
		act(c, &f);
		return;
	}
	unsigned free_slot = ANT_FAULTS_ARMED_MAX;
	for (unsigned i = 0; i < ANT_FAULTS_ARMED_MAX; i++) {
		if (c->fp.armed[i].id == f.id && c->fp.armed[i].call_id == f.call_id) {
			free_slot = i;   /* armed again: replaced */
			c->fp.narmed--;
			break;
		}
		if (!c->fp.armed[i].id && free_slot == ANT_FAULTS_ARMED_MAX)
			free_slot = i;
	}
	if (free_slot == ANT_FAULTS_ARMED_MAX)
		return;   /* full: antd arms at most ANT_FAULTS_ARMED_MAX at once */
	c->fp.armed[free_slot] = f;
	c->fp.hits[free_slot] = 0;
	c->fp.fired[free_slot] = 0;
	c->fp.narmed++;
	if (f.point[0])
		ant_failpoints_armed = 1;
}

void fp_on_clear(struct ant_conn *c, uint32_t id)
{
	for (unsigned i = 0; i < ANT_FAULTS_ARMED_MAX; i++)
		if (c->fp.armed[i].id && (id == 0 || c->fp.armed[i].id == id))
			drop_slot(c, i);
}

/* The armed fault for this call (not a named point), or -1. */
static int for_call(struct ant_conn *c, uint64_t call_id, int on_send)
{
	for (unsigned i = 0; i < ANT_FAULTS_ARMED_MAX; i++) {
		const struct ant_m_fault *f = &c->fp.armed[i];
		if (!f->id || f->point[0] || f->call_id != call_id)
			continue;
		int sends = f->kind == ANT_FAULT_CORRUPT || f->kind == ANT_FAULT_CORRUPT_DATA;
		if (sends == on_send)
			return (int)i;
	}
	return -1;
}

int fp_on_take(struct ant_conn *c, struct ant_item *it)
{
	int i = for_call(c, it->call_id, 0);
	if (i < 0)
		return 0;
	struct ant_m_fault f = c->fp.armed[i];
	drop_slot(c, (unsigned)i);
	fired(c, &f, it->call_id);
	if (f.kind == ANT_FAULT_DROP) {
		/* Never answered: antd still counts it held, until its deadline. */
		if (it->data)
			it->data = NULL;   /* the hold stays; released with the connection */
		return 1;
	}
	act(c, &f);
	return 0;
}

void fp_on_send(struct ant_conn *c, struct ant_item *it, struct ant_ica *data)
{
	int i = for_call(c, it->call_id, 1);
	if (i < 0)
		return;
	struct ant_m_fault f = c->fp.armed[i];
	drop_slot(c, (unsigned)i);
	fired(c, &f, it->call_id);
	if (f.kind == ANT_FAULT_CORRUPT) {
		/* The newest frame points at itself: antd's check of the frames
		 * fails, and the server is cut off. */
		struct ant_cica_hdr *h = (struct ant_cica_hdr *)it->page;
		ant_cica_current(it->page)->prev = h->currentp;
		return;
	}
	/* corrupt-data: only an area this server may write, mapped. */
	if (data && data->writable && data->addr && data->size) {
		unsigned char *p = data->addr;
		for (size_t k = 0; k < data->size; k += 4096)
			p[k] ^= 0xff;
		p[data->size - 1] ^= 0x5a;
	}
}

void ant_failpoint_hit(struct ant_conn *c, const char *name)
{
	for (unsigned i = 0; c && i < ANT_FAULTS_ARMED_MAX; i++) {
		struct ant_m_fault *f = &c->fp.armed[i];
		if (!f->id || strcmp(f->point, name) != 0)
			continue;
		uint64_t k = ++c->fp.hits[i];
		int fire = 1;   /* neither: every hit, up to its count */
		if (f->nth) {
			fire = k == f->nth;
		} else if (f->prob_ppm) {
			fire = ant_fault_draw(f->seed, k) % 1000000u < f->prob_ppm;
		}
		if (!fire)
			continue;
		struct ant_m_fault now = *f;
		c->fp.fired[i]++;
		if ((f->count && c->fp.fired[i] >= f->count) || f->nth)
			drop_slot(c, i);
		fired(c, &now, 0);
		act(c, &now);
		return;
	}
}

void fp_fini(struct ant_conn *c)
{
	fp_on_clear(c, 0);
}
