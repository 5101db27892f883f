/* disk.c - the disk driver (the paper's DK): block reads and writes on the image antd handed over. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ant/ant.h"
#include "areas.h"
#include "fill.h"
#include "server_main.h"
#include "testops.h"
#include "txn.h"

/*
 * Ops (parameters are text, so that ant-call can drive it too):
 *   read  "OFFSET LENGTH"  -> a new data ICA holding the bytes; retval = bytes read
 *                             (fewer at the end of the image, 0 past it)
 *   write "OFFSET LENGTH"  <- the bytes in the call's data ICA; retval = bytes written
 *   fill  "SRC LEN ..."    -> the runs of the image (fill.h) into the call's own
 *                             data ICA, kept here for the next fill; retval = the
 *                             bytes; -EIO if a run goes past the end of the image
 *   flush ""               -> fsync (image and redo log); retval 0
 *   size  ""               -> the image's size in bytes, as text
 *   commit ""              <- a transaction (txn.h) in the call's data ICA:
 *                             applied whole or not at all; retval = its units
 *   txnstatus "RUN CALL"   -> 1 if the transaction with that id (hex) was
 *                             applied (among the last LOG_RING), else 0
 * The image is fd 4, opened by antd ("files" in the stack file): this server
 * cannot open files (sandbox policy blockio).  Requests to a driver are
 * synchronous with the I/O-wait flag (the caller sets it), as the paper says.
 *
 * The redo log (--redo-log: fd 5, the second of "files") makes a commit atomic
 * against the death of any process, this one included:
 *   1. the transaction is written to the log at LOG_REC_OFF;
 *   2. the log's header page is written with state COMMITTED, the record's
 *      length and checksum (one 4 KiB pwrite: a kill cannot tear it);
 *   3. the units are written to the image;
 *   4. the header goes back to state EMPTY, with the transaction's id added to
 *      the ring of applied ids.
 * At start the driver reads the header: COMMITTED with a record whose
 * checksum holds means a driver died in step 3 or 4, and it applies the
 * record again (the same bytes to the same places) before it serves anything.
 * A death before step 2 leaves nothing applied; antd hands the commit to the
 * next instance.  Against power loss the steps must also reach the disk in
 * order: --sync adds fdatasync after steps 1, 2 and 3 (slower).
 */

#define MAX_IO (256u << 20)   /* one request moves at most 256 MiB */

#define LOG_MAGIC   0x474f4c41u   /* "ALOG" */
#define LOG_VERSION 1u
#define LOG_REC_OFF 4096u
#define LOG_RING    128u
enum { LOG_EMPTY = 0, LOG_COMMITTED = 1 };

/* The redo log's first page. */
struct log_hdr {
	uint32_t magic, version;
	uint32_t state;
	uint32_t ring_next;      /* slot for the next applied id */
	uint64_t rec_len, rec_sum;
	uint64_t applied;        /* transactions applied, ever */
	uint64_t hdr_sum;        /* over the fields above */
	uint64_t ring[LOG_RING][2];
};

static struct {
	int img, log;            /* fds; log -1 without --log */
	int sync;
	int read_only;
	struct ant_conn *conn;   /* for the named failpoints */
	struct log_hdr h;
	uint64_t image_size;
	unsigned fill_ahead_mb;  /* --fill-ahead-mb: read ahead of fills in order */
} D = { .img = 4, .log = -1, .fill_ahead_mb = 16 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: disk [OPTIONS]\n"
		"An ant server (started by antd): reads and writes the image file antd\n"
		"hands it as fd 4 (the stack file's \"files\").  Ops: read, write (OFFSET\n"
		"LENGTH as text; the bytes travel in a data ICA), fill (SRC LEN pairs: the\n"
		"bytes go into the caller's own data ICA), flush, size, commit, txnstatus.\n"
		"\n"
		"  --read-only     refuse writes\n"
		"  --redo-log      fd 5 (the second of \"files\") is the redo log that makes\n"
		"                  each commit atomic; without it commits are refused\n"
		"  --sync          fdatasync between the steps of a commit (power-loss safe)\n"
		"  --fill-ahead-mb N  when fills come in order, have the kernel read the\n"
		"                  image N MiB ahead of them (default 16; 0: not at all)\n"
		"Named failpoint (antctl inject disk FAULT --point NAME): disk.mid_commit,\n"
		"half-way through writing a committed transaction to the image.\n"
		"\n"
		SERVER_HELP
		TESTOPS_HELP
		"  --help          this text\n");
}

static int parse_range(const struct ant_item *it, uint64_t *off, uint64_t *len)
{
	uint64_t v[2];
	if (server_param_numbers(it, 10, v, 2) < 0 || v[1] == 0 || v[1] > MAX_IO || v[0] > INT64_MAX - v[1])
		return -1;
	*off = v[0];
	*len = v[1];
	return 0;
}

static int reply_text(struct ant_conn *c, struct ant_item *it, int32_t rv, const char *text)
{
	return ant_reply(c, it, rv, text, text ? strlen(text) : 0, NULL, ANT_DF_DETACH);
}

/* Whole pwrite of n bytes at off: 0, -errno, or -EIO if nothing was
 * written.  (Whole preads: fill_pread.) */
static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

static int do_read(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	int img = D.img;
	uint64_t off, len;
	if (parse_range(it, &off, &len) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "read wants \"OFFSET LENGTH\"");
	/* The area is filled through its fd (sendfile: page cache to its pages)
	 * and never mapped here: no page is faulted in or unmapped by the driver. */
	struct ant_ica *ica;
	int r = ant_ica_alloc_unmapped(c, len, &ica);
	if (r < 0)
		return reply_text(c, it, r, "no data ICA for the block");
	int out = ant_ica_fd(ica);
	if (lseek(out, 0, SEEK_SET) < 0) {
		int e = -errno;
		ant_ica_release(c, ica);
		return reply_text(c, it, e, "lseek on the data ICA failed");
	}
	uint64_t got = 0;
	while (got < len) {
		off_t pos = (off_t)(off + got);
		ssize_t n = sendfile(out, img, &pos, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			ant_ica_release(c, ica);
			return reply_text(c, it, e, "sendfile from the image failed");
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	/* The block goes to the caller; this driver keeps nothing (detach). */
	return ant_reply(c, it, (int32_t)got, NULL, 0, ica, ANT_DF_DETACH);
}

static struct areas areas;   /* the fills' areas, kept (areas.h) */

/*
 * A reader that goes through a file in order makes fills that each start
 * where the last one ended: the kernel is then asked to read the image
 * ahead of it (posix_fadvise WILLNEED, which starts the reads and returns),
 * so that the next fill finds its bytes in memory instead of waiting for the
 * device: the driver serves one request at a time.
 */
static void fill_ahead(const struct fill *f)
{
	static uint64_t last_end, ahead_to;
	const struct fill_run *first = NULL, *last = NULL;
	for (unsigned i = 0; i < f->n; i++)
		if (f->run[i].src != FILL_ZERO) {
			if (!first)
				first = &f->run[i];
			last = &f->run[i];
		}
	uint64_t ahead = (uint64_t)D.fill_ahead_mb << 20;
	if (!first || !ahead)
		return;
	uint64_t end = last->src + last->len;
	int in_order = first->src == last_end || (first->src < ahead_to && first->src >= last_end);
	last_end = end;
	if (!in_order)
		return;
	if (ahead_to < end)
		ahead_to = end;
	if (ahead_to - end >= ahead / 2)
		return;   /* still far enough ahead */
	uint64_t to = end + ahead;
	if (posix_fadvise(D.img, (off_t)ahead_to, (off_t)(to - ahead_to), POSIX_FADV_WILLNEED) == 0)
		ahead_to = to;
}

static int fill_copy(uint64_t src, size_t len, unsigned char *dst, void *arg)
{
	(void)arg;
	return fill_pread(D.img, dst, len, src);
}

/* A read into the reader's own area, from the image: the last stage of a
 * fill (fill.h), answered to the reader directly. */
static int do_fill(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	struct fill f;
	const char *why;
	struct ant_ica *area = fill_request(&areas, c, it, &f, NULL, &why);
	if (!area)
		return reply_text(c, it, ANT_E_BAD_REQUEST, why);
	int r = fill_apply(&f, area->addr, fill_copy, NULL);
	if (r < 0)
		return reply_text(c, it, r, "pread of the image failed (or it ends first)");
	r = ant_reply(c, it, (int32_t)f.total, NULL, 0, area, 0);
	fill_ahead(&f);
	return r;
}

static int do_write(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	int img = D.img, read_only = D.read_only;
	uint64_t off, len;
	if (read_only)
		return reply_text(c, it, -EROFS, "the image is read-only");
	if (parse_range(it, &off, &len) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "write wants \"OFFSET LENGTH\"");
	if (!it->data || it->data->size < len)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "write wants a data ICA of LENGTH bytes");
	int r = pwrite_all(img, it->data->addr, len, off);
	if (r < 0)
		return reply_text(c, it, r, "pwrite failed");
	return ant_reply(c, it, (int32_t)len, NULL, 0, NULL, ANT_DF_DETACH);
}

static int maybe_sync(int fd)
{
	return D.sync && fdatasync(fd) < 0 ? -errno : 0;
}

static uint64_t hdr_sum(const struct log_hdr *h)
{
	return txn_sum(h, offsetof(struct log_hdr, hdr_sum), 1) ^
	       txn_sum(h->ring, sizeof(h->ring), 2);
}

static int write_hdr(void)
{
	D.h.hdr_sum = hdr_sum(&D.h);
	unsigned char page[LOG_REC_OFF] = { 0 };
	memcpy(page, &D.h, sizeof(D.h));
	return pwrite_all(D.log, page, sizeof(page), 0);
}

static int id_applied(const uint64_t id[2])
{
	if (!id[0] && !id[1])
		return 0;
	for (unsigned i = 0; i < LOG_RING; i++)
		if (D.h.ring[i][0] == id[0] && D.h.ring[i][1] == id[1])
			return 1;
	return 0;
}

/* Steps 3 and 4: the units to the image, then the log says EMPTY. */
static int apply(const void *txn)
{
	const struct txn_hdr *t = txn;
	const uint64_t *off = txn_offs(txn);
	for (uint32_t i = 0; i < t->nunits; i++) {
		if (i == t->nunits / 2 && D.conn)
			ANT_FAILPOINT(D.conn, "disk.mid_commit");
		int r = pwrite_all(D.img, txn_unit(txn, i), TXN_UNIT, off[i]);
		if (r < 0)
			return r;
	}
	int r = maybe_sync(D.img);
	if (r < 0)
		return r;
	if (t->id[0] || t->id[1]) {
		D.h.ring[D.h.ring_next][0] = t->id[0];
		D.h.ring[D.h.ring_next][1] = t->id[1];
		D.h.ring_next = (D.h.ring_next + 1) % LOG_RING;
	}
	D.h.state = LOG_EMPTY;
	D.h.applied++;
	return write_hdr();
}

/* At start: a new log gets a header; a COMMITTED one is applied again. */
static int recover(const char *self)
{
	unsigned char page[LOG_REC_OFF];
	struct stat st;
	if (fstat(D.log, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < LOG_REC_OFF) {
		memset(&D.h, 0, sizeof(D.h));
		D.h.magic = LOG_MAGIC;
		D.h.version = LOG_VERSION;
		return write_hdr();
	}
	int r = fill_pread(D.log, page, sizeof(page), 0);
	if (r < 0)
		return r;
	memcpy(&D.h, page, sizeof(D.h));
	if (D.h.magic != LOG_MAGIC || D.h.version != LOG_VERSION || D.h.hdr_sum != hdr_sum(&D.h) ||
	    D.h.ring_next >= LOG_RING) {
		fprintf(stderr, "%s: the redo log's header is damaged or not a redo log: refusing it "
			"(move it away to start with an empty one)\n", self);
		return -EUCLEAN;
	}
	if (D.h.state != LOG_COMMITTED)
		return 0;
	if (D.h.rec_len > (uint64_t)st.st_size - LOG_REC_OFF || D.h.rec_len > ((uint64_t)1 << 31)) {
		fprintf(stderr, "%s: the redo log's record is cut short: not applied\n", self);
		D.h.state = LOG_EMPTY;
		return write_hdr();
	}
	void *rec = malloc(D.h.rec_len ? D.h.rec_len : 1);
	if (!rec)
		return -ENOMEM;
	r = fill_pread(D.log, rec, D.h.rec_len, LOG_REC_OFF);
	const char *bad = r < 0 ? "unreadable" : txn_sum(rec, D.h.rec_len, 3) != D.h.rec_sum ?
					     "its checksum does not hold" :
					     txn_check(rec, D.h.rec_len, D.image_size);
	if (bad) {
		/* Only a power loss without --sync gets here: the header was
		 * written before the record reached the disk. */
		fprintf(stderr, "%s: the redo log's committed record is %s: not applied\n", self, bad);
		free(rec);
		D.h.state = LOG_EMPTY;
		return write_hdr();
	}
	fprintf(stderr, "%s: applying the transaction a dead driver left in the redo log (%u units)\n",
		self, ((const struct txn_hdr *)rec)->nunits);
	r = apply(rec);
	free(rec);
	return r;
}

static int do_commit(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	if (D.read_only)
		return reply_text(c, it, -EROFS, "the image is read-only");
	if (D.log < 0)
		return reply_text(c, it, -EOPNOTSUPP, "no redo log (start the driver with --redo-log)");
	if (!it->data)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "commit wants a transaction in a data ICA");
	const void *txn = it->data->addr;
	const char *bad = txn_check(txn, it->data->size, D.image_size);
	if (bad)
		return reply_text(c, it, ANT_E_BAD_REQUEST, bad);
	const struct txn_hdr *t = txn;
	int32_t n = (int32_t)t->nunits;
	D.conn = c;
	if (id_applied(t->id))   /* a replay of a commit that was done */
		return ant_reply(c, it, n, "applied already", 15, NULL, ANT_DF_DETACH);
	int r = pwrite_all(D.log, txn, t->total, LOG_REC_OFF);
	if (r == 0)
		r = maybe_sync(D.log);
	if (r == 0) {
		D.h.state = LOG_COMMITTED;
		D.h.rec_len = t->total;
		D.h.rec_sum = txn_sum(txn, t->total, 3);
		r = write_hdr();
	}
	if (r == 0)
		r = maybe_sync(D.log);
	if (r == 0)
		r = apply(txn);
	if (r < 0)
		return reply_text(c, it, r, "the redo log or the image cannot be written");
	return ant_reply(c, it, n, NULL, 0, NULL, ANT_DF_DETACH);
}

static int do_txnstatus(struct server *s, struct ant_item *it)
{
	struct ant_conn *c = s->c;
	uint64_t id[2];
	if (server_param_numbers(it, 16, id, 2) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "txnstatus wants \"RUN CALL\" in hex");
	return reply_text(c, it, id_applied(id), NULL);
}

static int do_flush(struct server *s, struct ant_item *it)
{
	int e = fsync(D.img) < 0 ? -errno : 0;
	if (!e && D.log >= 0 && fsync(D.log) < 0)
		e = -errno;
	return reply_text(s->c, it, e, NULL);
}

static int do_size(struct server *s, struct ant_item *it)
{
	struct stat st;
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, fstat(D.img, &st) == 0 ? (uint64_t)st.st_size : 0);
	return reply_text(s->c, it, 0, buf);
}

static const struct server_op ops[] = {
	{ "read", do_read },
	{ "fill", do_fill },
	{ "write", do_write },
	{ "commit", do_commit },
	{ "txnstatus", do_txnstatus },
	{ "flush", do_flush },
	{ "size", do_size },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	int redo_log = 0;
	const struct server_opt opts[] = {
		{ "--read-only", SERVER_FLAG, &D.read_only, 0, 0, 0, NULL },
		{ "--redo-log", SERVER_FLAG, &redo_log, 0, 0, 0, NULL },
		{ "--sync", SERVER_FLAG, &D.sync, 0, 0, 0, NULL },
		{ "--fill-ahead-mb", SERVER_NUMBER, &D.fill_ahead_mb, 0, 4096, 0, NULL },
		{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
	};
	struct server s = {
		.prog = "disk", .usage = usage, .opts = { opts, testops_opts },
		.ops = ops, .take = testops_take,
	};
	if (server_parse(&s, argc, argv) != 0)
		return 2;
	if (redo_log)
		D.log = 5;
	const char *nf = getenv("ANT_FILES");
	struct stat st;
	if (!nf || atoi(nf) < 1 || fstat(4, &st) < 0) {
		fprintf(stderr, "%s: no image: give it one in the stack file (\"files\": "
			"[{\"path\": \"disk.img\", \"write\": true}])\n", s.self);
		return 1;
	}
	D.image_size = (uint64_t)st.st_size;
	if (D.log >= 0) {
		struct stat ls;
		if (atoi(nf) < 2 || fstat(D.log, &ls) < 0 || !S_ISREG(ls.st_mode)) {
			fprintf(stderr, "%s: --redo-log: no redo log file as fd 5: give it as the second of "
				"\"files\" ({\"path\": \"disk.log\", \"write\": true, \"create\": true})\n",
				s.self);
			return 1;
		}
		int lr = recover(s.self);
		if (lr < 0) {
			fprintf(stderr, "%s: redo log: %s\n", s.self, strerror(-lr));
			return 1;
		}
	}
	server_connect(&s);
	return server_run(&s);
}
