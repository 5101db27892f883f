/* server_main.c - the example servers' common start-up (name, options, connection) and serving loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server_main.h"

/* --log FILE: appended to, a line at a time. */
static int parse_log(void *out, const char *self, const char *v)
{
	FILE **log = out;
	*log = fopen(v, "ae");
	if (!*log) {
		fprintf(stderr, "%s: --log %s: %s\n", self, v, strerror(errno));
		return -1;
	}
	setvbuf(*log, NULL, _IOLBF, 0);
	return 0;
}

/* --say TEXT: printed now, on stderr and stdout: what antd logs of it. */
static int parse_say(void *out, const char *self, const char *v)
{
	fprintf(stderr, "%s\n", v);
	printf("%s\n", v);
	fflush(stdout);
	return 0;
}

/* The value of option o (argv[*i + 1]) into o->out; advances *i.  0, or -1
 * with a message printed. */
static int take_value(const struct server *s, const struct server_opt *o, int argc, char **argv,
		      int *i)
{
	if (o->kind == SERVER_FLAG) {
		*(int *)o->out = 1;
		return 0;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs a value\n", s->self, o->name);
		return -1;
	}
	const char *v = argv[++*i];
	if (o->kind == SERVER_TEXT) {
		*(const char **)o->out = v;
		return 0;
	}
	if (o->kind == SERVER_CALL)
		return o->parse(o->out, s->self, v);
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || errno || n < o->min || n > o->max || (o->step && n % o->step)) {
		if (o->step)
			fprintf(stderr, "%s: %s: expected a multiple of %lu from %lu to %lu, got '%s'\n",
				s->self, o->name, o->step, o->min, o->max, v);
		else
			fprintf(stderr, "%s: %s: expected a number from %lu to %lu, got '%s'\n", s->self,
				o->name, o->min, o->max, v);
		return -1;
	}
	*(unsigned *)o->out = (unsigned)n;
	return 0;
}

/* The option named name in the shared table or one of the server's; NULL if none. */
static const struct server_opt *find_opt(const struct server *s, const struct server_opt *shared,
					 const char *name)
{
	for (const struct server_opt *o = shared; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	for (unsigned t = 0; t < sizeof(s->opts) / sizeof(s->opts[0]) && s->opts[t]; t++)
		for (const struct server_opt *o = s->opts[t]; o->name; o++)
			if (strcmp(o->name, name) == 0)
				return o;
	return NULL;
}

/* argv[i], not an option: the operand, if the server takes one.  0 or -1. */
static int take_operand(struct server *s, const char *a)
{
	if (a[0] == '-' && s->operand) {
		fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", s->self, a, s->prog);
		return -1;
	}
	if (!s->operand) {
		fprintf(stderr, "%s: unknown argument '%s' (see %s --help)\n", s->self, a, s->prog);
		return -1;
	}
	if (*s->operand_out) {
		fprintf(stderr, "%s: more than one %s given\n", s->self, s->operand);
		return -1;
	}
	*s->operand_out = a;
	return 0;
}

int server_parse(struct server *s, int argc, char **argv)
{
	const char *env = getenv("ANT_SERVER");
	s->self = env && *env ? env : s->prog;
	const struct server_opt shared[] = {
		{ "--pause-ms", SERVER_NUMBER, &s->pause_ms, 0, 600000, 0, NULL },
		{ "--log", SERVER_CALL, &s->log, 0, 0, 0, parse_log },
		{ "--say", SERVER_CALL, NULL, 0, 0, 0, parse_say },
		{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
	};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			s->usage(stdout);
			exit(0);
		}
		const struct server_opt *o = find_opt(s, shared, argv[i]);
		if (!o)
			o = find_opt(s, server_state_opts(s), argv[i]);
		if (o ? take_value(s, o, argc, argv, &i) < 0 : take_operand(s, argv[i]) < 0)
			return 2;
	}
	if (s->operand && !s->operand_optional && !*s->operand_out) {
		fprintf(stderr, "%s: no %s given (see %s --help)\n", s->self, s->operand, s->prog);
		return 2;
	}
	return 0;
}

void server_connect(struct server *s)
{
	int r = ant_server_open(&s->c);
	if (r < 0) {
		fprintf(stderr, "%s: cannot reach antd: %s (%s runs under antd)\n", s->self,
			ant_strerror(r), s->prog);
		exit(1);
	}
	server_state_connect(s);
}

int server_peer(const struct server *s, const char *name)
{
	int id = ant_server_id(s->c, name);
	if (id < 0)
		fprintf(stderr, "%s: no server named '%s' in this stack\n", s->self, name);
	return id < 0 ? -1 : id;
}

int server_param_text(const struct ant_item *it, char *buf, size_t size)
{
	if (!it->params || !it->nparams || it->nparams >= size)
		return -1;
	memcpy(buf, it->params, it->nparams);
	buf[it->nparams] = '\0';
	return strlen(buf) == it->nparams ? 0 : -1;
}

int server_param_numbers(const struct ant_item *it, int base, uint64_t *v, unsigned n)
{
	char buf[96];
	if (server_param_text(it, buf, sizeof(buf)) < 0)
		return -1;
	const char *p = buf;
	for (unsigned i = 0; i < n; i++) {
		char *end;
		errno = 0;
		v[i] = strtoull(p, &end, base);
		if (errno || *end != (i + 1 < n ? ' ' : '\0'))
			return -1;
		p = end + 1;
	}
	return 0;
}

unsigned long server_ica_ino(const struct ant_ica *ica)
{
	struct stat st;
	if (!ica || fstat(ica->fd, &st) < 0)
		return 0;
	return (unsigned long)st.st_ino;
}

/* Count, log and pause for an item; then s->take.  1 if it is used up. */
static int take(struct server *s, struct ant_item *it)
{
	static const char *const kinds[] = { "?", "REQUEST", "RETURN", "RESULT" };
	if (it->kind == ANT_ITEM_REQUEST)
		s->taken++;
	if (s->log) {
		int n = (int)(it->nparams > 64 ? 64 : it->nparams);
		fprintf(s->log, "%s %s %.*s", kinds[it->kind <= 3 ? it->kind : 0], it->op, n,
			it->params ? (const char *)it->params : "");
		if (it->data)
			fprintf(s->log, " ino=%lu", server_ica_ino(it->data));
		if (it->replay)
			fputs(" (replay)", s->log);
		fputc('\n', s->log);
	}
	if (it->kind == ANT_ITEM_REQUEST && server_state_request(s, it))
		return 1;
	if (it->kind == ANT_ITEM_REQUEST && s->pause_ms) {
		struct timespec ts = { s->pause_ms / 1000, (long)(s->pause_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return s->take ? s->take(s, it) : 0;
}

/* A request's handler: its op's in s->ops, else s->on_request. */
static server_item_fn *request_fn(const struct server *s, const struct ant_item *it)
{
	for (const struct server_op *op = s->ops; op && op->name; op++)
		if (strcmp(op->name, it->op) == 0)
			return op->fn;
	return s->on_request;
}

/* The answer or the next stage of it did not fit its control ICA (libant
 * sent nothing): its caller is told so, and the server serves on. */
static int answer_too_big(struct server *s, struct ant_item *it)
{
	char msg[96];
	const char *name = getenv("ANT_SERVER");   /* its name in the stack */
	int n = snprintf(msg, sizeof(msg), "in %s: the call's %u-byte control ICA is full",
			 name ? name : s->prog, ANT_CICA_SIZE);
	int r = ant_reply(s->c, it, ANT_E_TOO_BIG, msg, (size_t)n, NULL, ANT_DF_DETACH);
	if (r == -E2BIG)
		r = ant_reply(s->c, it, ANT_E_TOO_BIG, NULL, 0, NULL, ANT_DF_DETACH);
	return r;
}

int server_run(struct server *s)
{
	struct ant_item it;
	int r;
	while ((r = ant_next(s->c, &it, -1)) == 0) {
		if (take(s, &it))
			continue;
		server_item_fn *fn = it.kind == ANT_ITEM_REQUEST ? request_fn(s, &it) :
				     it.kind == ANT_ITEM_RETURN ? s->on_return :
				     it.kind == ANT_ITEM_RESULT ? s->on_result : NULL;
		if (fn)
			r = fn(s, &it);
		else if (it.kind == ANT_ITEM_REQUEST)
			r = ant_reply(s->c, &it, ANT_E_NO_OP, NULL, 0, NULL, ANT_DF_DETACH);
		else if (it.kind == ANT_ITEM_RESULT)
			ant_ica_release(s->c, it.data);   /* no call of its own waits for it */
		if (r == -E2BIG && (it.kind == ANT_ITEM_REQUEST || it.kind == ANT_ITEM_RETURN))
			r = answer_too_big(s, &it);
		if (r < 0)
			break;
	}
	ant_close(s->c);
	s->c = NULL;
	return r == -ECONNRESET ? 0 : (r < 0 ? 1 : 0);
}
