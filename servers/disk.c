/* disk.c - the disk driver (the paper's DK): block reads and writes on the image antd handed over. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ant/ant.h"
#include "testops.h"

/*
 * Ops (parameters are text, so that ant-call can drive it too):
 *   read  "OFFSET LENGTH"  -> a new data ICA holding the bytes; retval = bytes read
 *                             (fewer at the end of the image, 0 past it)
 *   write "OFFSET LENGTH"  <- the bytes in the call's data ICA; retval = bytes written
 *   flush ""               -> fsync; retval 0
 *   size  ""               -> the image's size in bytes, as text
 * The image is fd 4, opened by antd ("files" in the stack file): this server
 * cannot open files (sandbox policy blockio).  Requests to a driver are
 * synchronous with the I/O-wait flag (the caller sets it), as the paper says.
 */

#define MAX_IO (256u << 20)   /* one request moves at most 256 MiB */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: disk [OPTIONS]\n"
		"An ant server (started by antd): reads and writes the image file antd\n"
		"hands it as fd 4 (the stack file's \"files\").  Ops: read, write (OFFSET\n"
		"LENGTH as text; the bytes travel in a data ICA), flush, size.\n"
		"\n"
		"  --read-only     refuse writes\n"
		TESTOPTS_HELP
		"  --help          this text\n");
}

static int parse_range(const struct ant_item *it, uint64_t *off, uint64_t *len)
{
	char buf[64];
	if (!it->params || it->nparams == 0 || it->nparams >= sizeof(buf))
		return -1;
	memcpy(buf, it->params, it->nparams);
	buf[it->nparams] = '\0';
	char *end;
	errno = 0;
	unsigned long long o = strtoull(buf, &end, 10);
	if (errno || *end != ' ')
		return -1;
	unsigned long long l = strtoull(end + 1, &end, 10);
	if (errno || *end || l == 0 || l > MAX_IO || o > INT64_MAX - l)
		return -1;
	*off = o;
	*len = l;
	return 0;
}

static int reply_text(struct ant_conn *c, struct ant_item *it, int32_t rv, const char *text)
{
	return ant_reply(c, it, rv, text, text ? strlen(text) : 0, NULL, ANT_DF_DETACH);
}

static int do_read(struct ant_conn *c, struct ant_item *it, int img)
{
	uint64_t off, len;
	if (parse_range(it, &off, &len) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "read wants \"OFFSET LENGTH\"");
	struct ant_ica *ica;
	int r = ant_ica_alloc(c, len, &ica);
	if (r < 0)
		return reply_text(c, it, r, "no data ICA for the block");
	uint64_t got = 0;
	while (got < len) {
		ssize_t n = pread(img, (char *)ica->addr + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			ant_ica_release(c, ica);
			return reply_text(c, it, e, "pread failed");
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	/* The block goes to the caller; this driver keeps nothing (detach). */
	return ant_reply(c, it, (int32_t)got, NULL, 0, ica, ANT_DF_DETACH);
}

static int do_write(struct ant_conn *c, struct ant_item *it, int img, int read_only)
{
	uint64_t off, len;
	if (read_only)
		return reply_text(c, it, -EROFS, "the image is read-only");
	if (parse_range(it, &off, &len) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "write wants \"OFFSET LENGTH\"");
	if (!it->data || it->data->size < len)
		return reply_text(c, it, ANT_E_BAD_REQUEST, "write wants a data ICA of LENGTH bytes");
	uint64_t put = 0;
	while (put < len) {
		ssize_t n = pwrite(img, (const char *)it->data->addr + put, len - put, (off_t)(off + put));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return reply_text(c, it, n < 0 ? -errno : -EIO, "pwrite failed");
		put += (uint64_t)n;
	}
	return ant_reply(c, it, (int32_t)put, NULL, 0, NULL, ANT_DF_DETACH);
}

int main(int argc, char **argv)
{
	struct testopts o = { .self = getenv("ANT_SERVER") ? getenv("ANT_SERVER") : "disk" };
	int read_only = 0;
	for (int i = 1; i < argc; i++) {
		int r = testopts_parse(&o, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--read-only") == 0) {
			read_only = 1;
		} else {
			fprintf(stderr, "%s: unknown argument '%s' (see disk --help)\n", o.self, argv[i]);
			return 2;
		}
	}
	const char *nf = getenv("ANT_FILES");
	struct stat st;
	if (!nf || atoi(nf) < 1 || fstat(4, &st) < 0) {
		fprintf(stderr, "%s: no image: give it one in the stack file (\"files\": "
			"[{\"path\": \"disk.img\", \"write\": true}])\n", o.self);
		return 1;
	}
	int img = 4;
	struct ant_conn *c = testops_connect(&o, "disk");
	int r;
	struct ant_item it;
	while ((r = ant_next(c, &it, -1)) == 0) {
		if (testops_take(&o, c, &it))
			continue;
		if (it.kind == ANT_ITEM_RESULT) {
			ant_ica_release(c, it.data);
			continue;
		}
		if (it.kind != ANT_ITEM_REQUEST)
			continue;
		if (strcmp(it.op, "read") == 0) {
			r = do_read(c, &it, img);
		} else if (strcmp(it.op, "write") == 0) {
			r = do_write(c, &it, img, read_only);
		} else if (strcmp(it.op, "flush") == 0) {
			r = reply_text(c, &it, fsync(img) < 0 ? -errno : 0, NULL);
		} else if (strcmp(it.op, "size") == 0) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%" PRIu64,
				 fstat(img, &st) == 0 ? (uint64_t)st.st_size : 0);
			r = reply_text(c, &it, 0, buf);
		} else {
			r = reply_text(c, &it, ANT_E_NO_OP, NULL);
		}
		if (r < 0)
			break;
	}
	ant_close(c);
	return r == -ECONNRESET ? 0 : (r < 0 ? 1 : 0);
}
