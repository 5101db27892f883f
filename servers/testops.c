/* testops.c - the example servers' test behaviour: a hostile repertoire (--junk), misbehaving on request, answering at the end of a chain. */
#include <errno.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ant/lane.h"
#include "ant/proto.h"
#include "../ipc/conn.h"   /* --forge-lanes writes the lanes by hand */
#include "testops.h"

/* --junk MARK: the hostile repertoire, on requests whose argument holds MARK. */
static const char *junk_marker;
/* --forge-lanes: before each answer in a lane, forged ones beside it. */
static int forge_lanes;

const struct server_opt testops_opts[] = {
	{ "--junk", SERVER_TEXT, &junk_marker, 0, 0, 0, NULL },
	{ "--forge-lanes", SERVER_FLAG, &forge_lanes, 0, 0, 0, NULL },
	{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
};

/* A hostile server's repertoire: each process sends one kind of bad message. */
static void send_junk(struct ant_conn *c, struct ant_item *it)
{
	const char *inst = getenv("ANT_INSTANCE");
	unsigned kind = inst ? (unsigned)strtoul(inst, NULL, 10) : 1;
	int sock = ant_fd(c);
	unsigned char buf[9000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + kind * 7);
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)it->page;
	switch (kind % 8) {
	case 1:   /* random bytes */
		send(sock, buf, 57, MSG_NOSIGNAL);
		break;
	case 2:   /* oversized */
		send(sock, buf, sizeof(buf), MSG_NOSIGNAL);
		break;
	case 3:   /* truncated header */
		send(sock, buf, 3, MSG_NOSIGNAL);
		break;
	case 4:   /* an fd attached to a reply (its own stdout) */
		ant_cica_set_result(it->page, 0, "x", 1);
		ant_msg_send(sock, ANT_M_REPLY, 0, it->page, h->used, 1);
		break;
	case 5:   /* the wrong control ICA id */
		h->id_gen ^= 0x5555;
		ant_cica_set_result(it->page, 0, "x", 1);
		ant_msg_send(sock, ANT_M_REPLY, 0, it->page, h->used, -1);
		break;
	case 6:   /* a data ICA it was never given */
		h->data = (struct ant_ica_ref){ .index = 7, .gen = 77777, .size = 4096 };
		ant_cica_set_result(it->page, 0, "x", 1);
		ant_msg_send(sock, ANT_M_REPLY, 0, it->page, h->used, -1);
		break;
	case 7: { /* a header that lies about the length */
		struct ant_msg m = { .type = ANT_M_REPLY, .flags = 0, .len = 4000 };
		send(sock, &m, sizeof(m), MSG_NOSIGNAL);
		break;
	}
	default:  /* an unknown message type */
		ant_msg_send(sock, 99, 0, NULL, 0, -1);
		break;
	}
}

/* A hostile server in the fast path: into the result lane of a request it
 * took, answers the app must drop (another ticket, the right ticket with a
 * wrong token, a page that is no control ICA, a result with a data ICA it
 * cannot have), and its bell rung for nothing; the true answer follows. */
static void forge_results(struct ant_conn *c, struct ant_item *it)
{
	struct conn_lane *res = NULL;
	for (unsigned i = 0; i < c->nlanes; i++)
		if (c->lanes[i].id == it->lane_id + 1)
			res = &c->lanes[i];
	if (!res)
		return;
	unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)page;
	for (int k = 0; k < 4; k++) {
		memcpy(page, it->page, ((struct ant_cica_hdr *)it->page)->used);
		ant_cica_set_result(page, 0, "forged", 6);
		struct ant_lane_slot head = { .kind = ANT_LANE_RESULT, .ticket = it->ticket,
					      .token = it->lane_token,
					      .about = it->lane_seq << 8 | it->lane_slot };
		size_t len = h->used;
		if (k == 0) {
			head.ticket = it->ticket + 1;
			h->ticket = head.ticket;
		} else if (k == 1) {
			head.token ^= 1;
		} else if (k == 2) {
			memset(page, 0x5a, 256);
			len = 256;
		} else {
			h->data = (struct ant_ica_ref){ .index = 1, .gen = 1, .size = 4096 };
		}
		(void)ant_lane_post(&res->l, &head, page, len);
	}
	for (int k = 0; k < 100 && res->l.bell >= 0; k++)
		ant_bell_ring(res->l.bell);
}

/* --forge-lanes, on a request whose argument says "vanish": mark its slot
 * done and never answer (a server that lies to its lane). */
static int vanish(struct ant_conn *c, struct ant_item *it)
{
	if (!it->params || !memmem(it->params, it->nparams, "vanish", 6))
		return 0;
	for (unsigned i = 0; i < c->nlanes; i++)
		if (c->lanes[i].id == it->lane_id) {
			ant_lane_done(&c->lanes[i].l, it->lane_slot, it->lane_seq);
			if (c->lane_held)
				c->lane_held--;
			return 1;
		}
	return 0;
}

int testops_take(struct server *s, struct ant_item *it)
{
	if (forge_lanes && it->kind == ANT_ITEM_REQUEST && it->lane_id) {
		if (vanish(s->c, it))
			return 1;
		forge_results(s->c, it);
	}
	if (!junk_marker || it->kind != ANT_ITEM_REQUEST || !it->params ||
	    !memmem(it->params, it->nparams, junk_marker, strlen(junk_marker)))
		return 0;
	if (s->log)
		fprintf(s->log, "JUNK\n");
	send_junk(s->c, it);
	return 1;
}

int testops_targets_me(const struct server *s, const struct ant_item *it)
{
	if (strcmp(it->op, "corrupt") != 0 && strcmp(it->op, "garbage") != 0)
		return 0;
	size_t n = strlen(s->self);
	return it->nparams == n && memcmp(it->params, s->self, n) == 0;
}

int testops_misbehave(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	if (strcmp(it->op, "garbage") == 0) {
		unsigned char junk[57];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 37 + 11);
		if (write(ant_fd(c), junk, sizeof(junk)) < 0)
			return -errno;
		return 0;
	}
	/* corrupt: point the current frame's prev at itself (a cycle). */
	struct ant_cica_hdr *h = (struct ant_cica_hdr *)it->page;
	struct ant_frame *f = ant_cica_current(it->page);
	f->prev = h->currentp;
	return ant_msg_send(ant_fd(c), ANT_M_REPLY, 0, it->page, h->used, -1);
}

int testops_answer(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	if (testops_targets_me(s, it))
		return testops_misbehave(s, it);
	if (strcmp(it->op, "echo") == 0)
		return ant_reply(c, it, 0, it->params, it->nparams, NULL, ANT_DF_DETACH);
	if (strcmp(it->op, "gettid") == 0) {
		/* N gettid system calls: what one costs here (with "injectable":
		 * ["gettid"] in the stack file, each goes through antd). */
		char arg[16] = "";
		memcpy(arg, it->params, it->nparams < sizeof(arg) - 1 ? it->nparams : sizeof(arg) - 1);
		long n = strtol(arg, NULL, 10);
		if (n < 1 || n > 10000000)
			n = 1000;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (long i = 0; i < n; i++)
			syscall(SYS_gettid);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		char buf[64];
		double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n;
		int len = snprintf(buf, sizeof(buf), "%ld gettid: %.0f ns each", n, ns);
		return ant_reply(c, it, 0, buf, (size_t)len, NULL, ANT_DF_DETACH);
	}
	if (strcmp(it->op, "corrupt") == 0 || strcmp(it->op, "garbage") == 0)
		return ant_reply(c, it, 0, "ok", 2, NULL, ANT_DF_DETACH);
	if (strcmp(it->op, "fill") == 0) {
		if (!it->data || !it->data->writable || it->nparams < 1)
		{
			static const char msg[] = "fill needs a writable data ICA and a byte";
			return ant_reply(c, it, ANT_E_BAD_REQUEST, msg, sizeof(msg) - 1, NULL,
					 ANT_DF_DETACH);
		}
		memset(it->data->addr, ((const unsigned char *)it->params)[0], it->data->size);
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "ino=%lu", server_ica_ino(it->data));
		return ant_reply(c, it, 0, buf, (size_t)n, NULL, ANT_DF_DETACH);
	}
	return ant_reply(c, it, ANT_E_NO_OP, NULL, 0, NULL, ANT_DF_DETACH);
}
