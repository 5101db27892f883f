/* txn.h - one file-system operation's block writes, as fs sends them and the disk logs and applies them. */
#ifndef ANT_TXN_H
#define ANT_TXN_H

#include <stddef.h>
#include <stdint.h>

/*
 * A transaction is the set of 4 KiB units of the image that one fs operation
 * changes, with their new bytes.  fs builds it in a data ICA:
 *
 *   0            sizeof(txn_hdr)                     data_off          total
 *   | txn_hdr    | uint64_t off[nunits] | zero pad   | unit 0 | unit 1 |...|
 *
 * off[i] is the byte offset in the image of unit i (a multiple of TXN_UNIT,
 * strictly increasing, so no unit appears twice); data_off is the header and
 * the offsets rounded up to TXN_UNIT.  id names the operation for good: the
 * antd run ($ANT_RUN_ID) and the call's id within it, so a replayed operation
 * can ask the disk whether its transaction was applied already.  (0, 0) is
 * "no id".  The disk writes the transaction byte for byte to its redo log
 * before it touches the image: a transaction is applied whole or not at all.
 */

#define TXN_MAGIC    0x4e585441u   /* "ATXN" */
#define TXN_VERSION  1u
#define TXN_UNIT     4096u
#define TXN_MAX_UNITS (1u << 16)   /* 256 MiB of units */

struct txn_hdr {
	uint32_t magic;
	uint32_t version;
	uint64_t id[2];          /* run id, call id */
	uint32_t nunits;
	uint32_t data_off;
	uint64_t total;          /* bytes: data_off + nunits * TXN_UNIT */
};

/* Where unit data starts for n units. */
size_t txn_data_off(uint32_t n);

/* Check a transaction of len bytes (from a peer: never trusted).  image_size:
 * every unit must lie inside it (0: no check).  Returns NULL if it is sound,
 * else what is wrong. */
const char *txn_check(const void *p, size_t len, uint64_t image_size);

/* The offsets of a checked transaction, and unit i's bytes. */
const uint64_t *txn_offs(const void *p);
const void *txn_unit(const void *p, uint32_t i);

/* A 64-bit checksum of n bytes (n a multiple of 8), seeded: for the redo log. */
uint64_t txn_sum(const void *p, size_t n, uint64_t seed);

#endif
