/* fuzz-decode.c - libFuzzer target: antd's message decoder and the control ICA validator on hostile bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ant/cica.h"
#include "ant/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A page the validator accepted must stay valid through what antd does to it. */
static void exercise(const uint8_t *data, size_t size)
{
	static unsigned char page[ANT_CICA_SIZE] __attribute__((aligned(8)));
	if (ant_cica_validate(data, size, 7) != ANT_CICA_OK)
		return;
	memset(page, 0, sizeof(page));
	memcpy(page, data, size);
	const struct ant_cica_hdr *h = (const void *)page;
	unsigned frames = 0;
	for (struct ant_frame *f = ant_cica_current(page); f; f = ant_cica_prev(page, f))
		if (++frames > ANT_FRAMES_MAX)
			abort();
	if (frames != h->nframes)
		abort();
	ant_cica_trace(page, 3);
	if (ant_cica_set_result(page, -1, "result", 6) == 0 &&
	    ant_cica_validate(page, h->used, 7) != ANT_CICA_OK)
		abort();
	if (h->nframes >= 2) {
		ant_cica_pop(page);
		if (ant_cica_validate(page, h->used, 7) != ANT_CICA_OK)
			abort();
	}
	if (ant_cica_push(page, 2, "op", "p", 1, ANT_FF_RETURN_NEEDED) == 0 &&
	    ant_cica_validate(page, h->used, 7) != ANT_CICA_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int sv[2] = { -1, -1 };
	if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		abort();
	/* As antd gets it: one packet, through the real decoder. */
	if (size <= ANT_MSG_MAX + 64 && send(sv[1], data, size, MSG_DONTWAIT) == (ssize_t)size) {
		static unsigned char buf[ANT_MSG_MAX] __attribute__((aligned(8)));
		int fd = -1;
		ssize_t n = ant_msg_recv(sv[0], buf, &fd);
		if (fd >= 0)
			abort();   /* no fd was sent */
		if (n > 0) {
			struct ant_msg m;
			memcpy(&m, buf, sizeof(m));
			if (m.len != (size_t)n || ant_msg_payload_size(m.type) == -2)
				abort();   /* the decoder let a bad header through */
			if (ant_msg_payload_size(m.type) == -1)
				exercise(buf + sizeof(m), (size_t)n - sizeof(m));
		}
	}
	/* And the validator alone, on the raw bytes as a page. */
	if (size <= ANT_CICA_SIZE)
		exercise(data, size);
	return 0;
}
