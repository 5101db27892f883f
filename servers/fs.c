/* fs.c - the file manager (the paper's FM): an ext2/3/4 file system read with libext2fs, blocks from the cache; its op table and main. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <et/com_err.h>

#include "fs.h"
#include "server_main.h"
#include "testops.h"

/*
 * Ops (text parameters, as the disk's and the cache's; PATH is absolute; the
 * full table is in docs/filestack.md):
 *   stat     "PATH"               -> "ino=N mode=0100644 size=S nlink=L mtime=T uid=U
 *                                    gid=G atime=A ctime=C blocks=B" (mode in octal,
 *                                    blocks of 512 bytes; a symlink is not followed)
 *   lookup   "PATH"               -> "ino=N" (a symlink is not followed)
 *   readdir  "PATH"               -> one line per entry "NAME\tINO\tTYPE" (TYPE f, d,
 *                                    l or ?), sorted by name, no "." and ".."; retval =
 *                                    the listing's bytes.  A listing that does not fit
 *                                    in the control ICA's result area (about 3 KB)
 *                                    comes in a data ICA given to the caller (detached)
 *                                    instead: look at the result's data ICA first.
 *   read     "PATH OFFSET LENGTH" -> a data ICA of this server's (detached to the caller)
 *                                    with the file's bytes; retval = bytes read, fewer at
 *                                    the end of the file, 0 (and no ICA) past it.
 *                                    LENGTH is at most 64 MiB.  A caller that sends
 *                                    a writable area of its own gets its bytes in it
 *                                    (fs forwards the read as a fill, fill.h: the cache
 *                                    or the disk fills the area and answers directly).
 *   readlink "PATH"               -> the target; statfs "" -> "bsize=.. blocks=.. ..."
 *   write    "PATH OFFSET LENGTH" <- the bytes in the call's data ICA; retval LENGTH
 *   create / mkdir "PATH MODE"    -> "ino=N" (MODE octal; -EEXIST if PATH exists)
 *   symlink  "TARGET\nPATH"       -> "ino=N"
 *   unlink / rmdir "PATH", rename "OLD\nNEW", truncate "PATH SIZE",
 *   chmod "PATH MODE", utimens "PATH ATIME MTIME" -> 0
 *   flush    ""                   -> 0 once the disk has fsync'ed
 *   stats    ""                   -> "cache_reads R ... commits C ..."
 * readdir and read follow a symlink at the end of PATH; every op follows the
 * ones inside it.  Errors are -errno with a short text (-ENOENT, -ENOTDIR,
 * -EISDIR, -EUCLEAN for a corrupt structure, -EIO when the cache failed);
 * ANT_E_BAD_REQUEST for bad parameters, ANT_E_NO_OP for an unknown op.
 *
 * libext2fs does its I/O through an io_manager of fs's own ("ant-cache",
 * fs_io.c): reads are calls to the cache server, writes go to an overlay of
 * 4 KiB units in this process.  The ops are in fs_read.c and fs_write.c, the
 * wire format in fs_proto.h; this file has the op table, answers and main.
 *
 * Each change is one transaction: when the op is done, libext2fs's bitmaps,
 * descriptors and superblock are flushed into the overlay too, and the whole
 * overlay goes to the cache in one data ICA ("commit"), which the disk
 * applies whole through its redo log.  Until then the image has none of it,
 * so a death of fs (or an error half-way, after which fs forgets libext2fs's
 * state and opens the image again) leaves the image as it was.
 *
 * Replay: reads are replayed freely.  A transaction carries the op's id
 * ($ANT_RUN_ID and the call's id, the same across replays); a replayed change
 * first asks the disk ("txnstatus") whether that transaction was applied, and
 * if so answers as the first run would have, without doing it again.
 *
 * The file system is opened on the first request (the io_manager needs the
 * connection to antd), and again on a later request if that failed.
 */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fs [OPTIONS] CACHE\n"
		"An ant server (started by antd): the file manager.  Serves the ext2/3/4 file\n"
		"system whose blocks the cache server CACHE serves; each change is one\n"
		"transaction the disk applies whole (its --redo-log).\n"
		"Ops: stat, lookup, readdir, read, readlink, statfs, write, create, mkdir,\n"
		"symlink, unlink, rmdir, rename, truncate, chmod, utimens, flush, stats.\n"
		"\n"
		"  --block-size N  the cache's block size (default 4096, a multiple of 4096)\n"
		"  --read-only     refuse every change with EROFS\n"
		"Named failpoint (antctl inject fs FAULT --point NAME): fs.after_commit,\n"
		"after a change's transaction is committed, before fs answers it.\n"
		SERVER_HELP
		TESTOPS_HELP
		"  --help          this text\n");
}


/* An op that only reads, or answers without the file system (stats). */
typedef int fs_serve_fn(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq);

#define OPF_DATA  0x1u   /* takes a data ICA with the call (else it is dropped) */
#define OPF_NO_FS 0x2u   /* answered without opening the file system */

static fs_serve_fn do_stats;

/* The ops, by their fs_proto.h number: each either reads (serve) or
 * writes (change: one transaction, see do_change).  bad: the answer's
 * text when a reading op's argument has not its shape. */
static const struct {
	fs_serve_fn *serve;
	fs_change_fn *change;
	unsigned flags;
	const char *bad;
} ops[FS_NOPS] = {
	[FS_STAT] = { .serve = do_stat },
	[FS_LOOKUP] = { .serve = do_lookup },
	[FS_READDIR] = { .serve = do_readdir },
	[FS_READ] = { .serve = do_read, .flags = OPF_DATA,
		      .bad = "read wants \"PATH OFFSET LENGTH\" (LENGTH at most 64 MiB)" },
	[FS_READLINK] = { .serve = do_readlink },
	[FS_STATFS] = { .serve = do_statfs },
	[FS_WRITE] = { .change = op_write, .flags = OPF_DATA },
	[FS_CREATE] = { .change = op_create },
	[FS_MKDIR] = { .change = op_create },
	[FS_SYMLINK] = { .change = op_create },
	[FS_UNLINK] = { .change = op_remove },
	[FS_RMDIR] = { .change = op_remove },
	[FS_RENAME] = { .change = op_rename },
	[FS_TRUNCATE] = { .change = op_write },
	[FS_CHMOD] = { .change = op_attr },
	[FS_UTIMENS] = { .change = op_attr },
	[FS_FLUSH] = { .serve = do_flush },
	[FS_STATS] = { .serve = do_stats, .flags = OPF_NO_FS },
	[FS_CHOWN] = { .change = op_attr },
	[FS_LINK] = { .change = op_link },
	[FS_MKNOD] = { .change = op_create },
	[FS_GETXATTR] = { .serve = do_getxattr },
	[FS_LISTXATTR] = { .serve = do_listxattr },
	[FS_SETXATTR] = { .change = op_xattr, .flags = OPF_DATA },
	[FS_REMOVEXATTR] = { .change = op_xattr },
};

static int do_stats(struct ant_conn *c, struct ant_item *it, const struct fs_req *rq)
{
	char text[288];
	snprintf(text, sizeof(text), "cache_reads %" PRIu64 " cache_bytes %" PRIu64
		 " opens %" PRIu64 " commits %" PRIu64 " committed_bytes %" PRIu64
		 " replays_skipped %" PRIu64 " fills %" PRIu64, F.cache_reads, F.cache_bytes, F.opens,
		 F.commits, F.committed_bytes, F.replays_skipped, F.fills);
	return reply_text(c, it, 0, text);
}

static void log_open_error(errcode_t e)
{
	fprintf(stderr, "fs: cannot open the file system through '%s': %s%s\n", F.cache,
		F.io_err ? "cache: " : "", F.io_err ? ant_strerror(F.io_err) : error_message(e));
}

/* The argument text of a call whose parameters are "@data OFF LEN"
 * (fs_proto.h: a long one), from its data ICA into buf.  0, or -1 if it is
 * not there as the parameters say. */
static int arg_from_data(struct ant_conn *c, struct ant_item *it, char *buf, size_t size)
{
	uint64_t off, len;
	if (fs_arg_in_data_parse(buf, &off, &len) < 0)
		return 0;   /* an argument text of its own */
	if (!it->data || ant_ica_map(c, it->data) < 0 || off > it->data->size ||
	    len > it->data->size - off || len >= size)
		return -1;
	memcpy(buf, (const char *)it->data->addr + off, len);
	buf[len] = '\0';
	return strlen(buf) == len ? 0 : -1;
}

static int serve(struct ant_conn *c, struct ant_item *it)
{
	static const char bad_path[] = "wants an absolute PATH (at most 16383 bytes)";
	static char buf[PARAM_MAX];
	int op = fs_op_find(it->op);
	if (op >= 0 && (ops[op].flags & OPF_NO_FS))
		return ops[op].serve(c, it, NULL);
	int text = op >= 0 && fs_op_args((enum fs_op)op) != FS_ARGS_NONE ?
		   server_param_text(it, buf, sizeof(buf)) : 0;
	if (text == 0 && op >= 0 && fs_op_args((enum fs_op)op) != FS_ARGS_NONE)
		text = arg_from_data(c, it, buf, sizeof(buf));
	if (it->data && (op < 0 || !(ops[op].flags & OPF_DATA))) {
		/* Only write, setxattr and read take a data ICA: drop this server's hold
		 * (the answer then carries none, or one of this server's). */
		ant_ica_release(c, ant_item_take_data(it));
	}
	if (op < 0)
		return reply_text(c, it, ANT_E_NO_OP, NULL);
	enum fs_args shape = fs_op_args((enum fs_op)op);
	struct fs_req rq;
	if (shape == FS_ARGS_NONE)
		buf[0] = '\0';
	else if (text < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, bad_path);
	else if (ops[op].serve && fs_req_decode((enum fs_op)op, buf, &rq) < 0)
		return reply_text(c, it, ANT_E_BAD_REQUEST, ops[op].bad ? ops[op].bad : bad_path);
	F.io_err = 0;
	errcode_t e = fs_open();
	if (e) {
		log_open_error(e);
		return reply_err(c, it, e, "cannot open the file system");
	}
	if (ops[op].change)
		return do_change(c, it, (enum fs_op)op, buf, ops[op].change);
	if (shape == FS_ARGS_NONE)
		fs_req_decode((enum fs_op)op, buf, &rq);
	return ops[op].serve(c, it, &rq);
}

static int on_request(struct server *s, struct ant_item *it)
{
	int r = serve(s->c, it);
	if (r < 0 && r != -ECONNRESET) {
		/* Not answered (no room, a bad ICA...): answer bare rather
		 * than hold it until the deadline. */
		r = ant_reply(s->c, it, r, NULL, 0, NULL, ANT_DF_DETACH);
	}
	return r;
}

int main(int argc, char **argv)
{
	static const struct server_opt opts[] = {
		{ "--read-only", SERVER_FLAG, &F.read_only, 0, 0, 0, NULL },
		{ "--block-size", SERVER_NUMBER, &F.block_size, 4096, 64u << 20, 4096, NULL },
		{ NULL, SERVER_FLAG, NULL, 0, 0, 0, NULL },
	};
	struct server s = {
		.prog = "fs", .usage = usage, .opts = { opts, testops_opts },
		.operand = "CACHE", .operand_out = &F.cache,
		.on_request = on_request, .take = testops_take,
	};
	if (server_parse(&s, argc, argv) != 0)
		return 2;
	const char *run = getenv("ANT_RUN_ID");
	F.run_id = run ? strtoull(run, NULL, 16) : 0;
	if (!F.run_id) {
		/* Not under antd, or an old one: transactions still work, but a
		 * replayed change cannot be told from a new one. */
		fprintf(stderr, "%s: no $ANT_RUN_ID: replayed changes are done again\n", s.self);
	}
	initialize_ext2_error_table();
	server_connect(&s);
	F.c = s.c;
	/* Areas that arrive are mapped only when fs reads or writes them by
	 * address: a large read copies cache blocks with pread, unmapped. */
	ant_set_lazy_map(F.c, 1);
	if (server_peer(&s, F.cache) < 0)
		return 1;
	int status = server_run(&s);
	fs_discard();   /* never ext2fs_close: it would write */
	return status;
}
