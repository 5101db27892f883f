/* txn.c - the transaction format shared by fs, cache and disk: layout and checks. */
#include "txn.h"

#include <string.h>

size_t txn_data_off(uint32_t n)
{
	size_t b = sizeof(struct txn_hdr) + (size_t)n * sizeof(uint64_t);
	return (b + TXN_UNIT - 1) / TXN_UNIT * TXN_UNIT;
}

const char *txn_check(const void *p, size_t len, uint64_t image_size)
{
	struct txn_hdr h;
	if (len < sizeof(h))
		return "shorter than a transaction header";
	memcpy(&h, p, sizeof(h));
	if (h.magic != TXN_MAGIC)
		return "not a transaction (bad magic)";
	if (h.version != TXN_VERSION)
		return "unknown transaction version";
	if (h.nunits == 0 || h.nunits > TXN_MAX_UNITS)
		return "no units, or too many";
	if (h.data_off != txn_data_off(h.nunits))
		return "data offset does not match the unit count";
	if (h.total != h.data_off + (uint64_t)h.nunits * TXN_UNIT || h.total > len)
		return "total size wrong, or longer than its data ICA";
	const uint64_t *off = txn_offs(p);
	for (uint32_t i = 0; i < h.nunits; i++) {
		if (off[i] % TXN_UNIT)
			return "a unit offset is not a multiple of 4096";
		if (i && off[i] <= off[i - 1])
			return "unit offsets not strictly increasing";
		if (off[i] > UINT64_MAX - TXN_UNIT || (image_size && off[i] + TXN_UNIT > image_size))
			return "a unit lies past the end of the image";
	}
	return NULL;
}

const uint64_t *txn_offs(const void *p)
{
	return (const uint64_t *)((const unsigned char *)p + sizeof(struct txn_hdr));
}

const void *txn_unit(const void *p, uint32_t i)
{
	const struct txn_hdr *h = p;
	return (const unsigned char *)p + h->data_off + (size_t)i * TXN_UNIT;
}

uint64_t txn_sum(const void *p, size_t n, uint64_t seed)
{
	/* Word at a time: multiply-rotate, fast enough for megabytes per op. */
	const unsigned char *b = p;
	uint64_t h = seed ^ 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		h ^= w * 0xff51afd7ed558ccdull;
		h = (h << 31 | h >> 33) * 0xc4ceb9fe1a85ec53ull;
	}
	h ^= h >> 29;
	return h;
}
