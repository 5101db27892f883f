/* msg.c - framing of wire messages: exact-length checks on receipt, fds passed with SCM_RIGHTS. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ant/proto.h"

/* Every message type, once: its name, its payload and how many fds may
 * come with it.  PAGE: a control page of 1..ANT_CICA_SIZE bytes. */
#define PAGE (-1)
static const struct msg_desc {
	const char *name;
	int payload;
	int fd;
} descs[ANT_M_TYPE_MAX] = {
	[ANT_M_CALL] = { "CALL", PAGE, 0 },
	[ANT_M_FORWARD] = { "FORWARD", PAGE, 0 },
	[ANT_M_REPLY] = { "REPLY", PAGE, 0 },
	[ANT_M_NEXT] = { "NEXT", sizeof(struct ant_m_next), 0 },
	[ANT_M_ALLOC] = { "ALLOC", sizeof(struct ant_m_alloc), 0 },
	[ANT_M_RELEASE] = { "RELEASE", sizeof(struct ant_m_release), 0 },
	[ANT_M_CANCEL] = { "CANCEL", sizeof(struct ant_m_cancel), 0 },
	[ANT_M_FIRED] = { "FIRED", sizeof(struct ant_m_fired), 0 },
	[ANT_M_STATE] = { "STATE", sizeof(struct ant_m_state), 0 },
	[ANT_M_IMPORTED] = { "IMPORTED", sizeof(struct ant_m_imported), 0 },
	[ANT_M_VERSION] = { "VERSION", sizeof(struct ant_m_version), 0 },
	[ANT_M_WELCOME] = { "WELCOME", sizeof(struct ant_m_welcome), 0 },
	[ANT_M_REQUEST] = { "REQUEST", PAGE, 1 },
	[ANT_M_RESULT] = { "RESULT", PAGE, 1 },
	[ANT_M_ALLOC_OK] = { "ALLOC_OK", sizeof(struct ant_m_alloc_ok), 1 },
	[ANT_M_ERROR] = { "ERROR", sizeof(struct ant_m_error), 0 },
	[ANT_M_FAULT] = { "FAULT", sizeof(struct ant_m_fault), 0 },
	[ANT_M_FAULT_CLEAR] = { "FAULT_CLEAR", sizeof(struct ant_m_fault_clear), 0 },
	[ANT_M_EXPORT] = { "EXPORT", sizeof(struct ant_m_export), 0 },
	[ANT_M_IMPORT_ICA] = { "IMPORT_ICA", sizeof(struct ant_m_import_ica), 1 },
	[ANT_M_IMPORT] = { "IMPORT", sizeof(struct ant_m_import), 0 },
	[ANT_M_ADOPT] = { "ADOPT", PAGE, 0 },
	[ANT_M_CHECK] = { "CHECK", sizeof(struct ant_m_cancel), 0 },
	[ANT_M_BELL] = { "BELL", 0, 1 },
	[ANT_M_LANE] = { "LANE", sizeof(struct ant_m_lane), 3 },
	[ANT_M_LANE_DROP] = { "LANE_DROP", sizeof(struct ant_m_lane_drop), 0 },
	[ANT_M_SPAWN_NOTIFY] = { "SPAWN_NOTIFY", 0, 1 },
	[ANT_M_SPAWN_ERROR] = { "SPAWN_ERROR", sizeof(struct ant_m_spawn_error), 0 },
	[ANT_M_FORK] = { "FORK", sizeof(struct ant_m_fork), ANT_MSG_FDS_MAX },
	[ANT_M_FORKED] = { "FORKED", sizeof(struct ant_m_forked), 1 },
};

static const struct msg_desc *desc_of(unsigned type)
{
	return type < ANT_M_TYPE_MAX && descs[type].name ? &descs[type] : NULL;
}

int ant_msg_may_carry_fd(unsigned type)
{
	const struct msg_desc *m = desc_of(type);
	return m && m->fd;
}

int ant_msg_payload_size(unsigned type)
{
	const struct msg_desc *m = desc_of(type);
	return m ? m->payload : -2;
}

const char *ant_msg_name(unsigned type)
{
	const struct msg_desc *m = desc_of(type);
	return m ? m->name : "?";
}

static void close_fds_in(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

static ssize_t msg_recv(int sock, void *buf, int *fds, unsigned *nfds_out, int rflags)
{
	/* Room for several fds so that a hostile sender's extra fds are
	 * received (and closed) rather than left to MSG_CTRUNC. */
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = ANT_MSG_MAX };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	*nfds_out = 0;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | rflags);
	if (n < 0)
		return -errno;
	if (n == 0 && mh.msg_controllen == 0)
		return 0;

	unsigned nfds = 0;
	int got[ANT_MSG_FDS_MAX];
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++, nfds++)
			if (nfds < ANT_MSG_FDS_MAX)
				memcpy(&got[nfds], CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
	}
	struct ant_msg h;
	int bad = 0;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || (size_t)n < sizeof(h)) {
		bad = 1;
	} else {
		memcpy(&h, buf, sizeof(h));
		const struct msg_desc *m = desc_of(h.type);
		size_t payload = (size_t)n - sizeof(h);
		if (!m || h.len != (size_t)n || (h.flags & ~ANT_MF_ALL))
			bad = 1;
		else if (m->payload == PAGE && (payload == 0 || payload > ANT_CICA_SIZE))
			bad = 1;
		else if (m->payload >= 0 && payload != (size_t)m->payload)
			bad = 1;
		else if (!!(h.flags & ANT_MF_FD) != (nfds > 0) || nfds > (unsigned)m->fd)
			bad = 1;
	}
	if (bad) {
		close_fds_in(&mh);
		return -EPROTO;
	}
	memcpy(fds, got, nfds * sizeof(int));
	*nfds_out = nfds;
	return n;
}

ssize_t ant_msg_recv_fds(int sock, void *buf, int fds[ANT_MSG_FDS_MAX], unsigned *nfds)
{
	return msg_recv(sock, buf, fds, nfds, MSG_DONTWAIT);
}

ssize_t ant_msg_recv_fds_wait(int sock, void *buf, int fds[ANT_MSG_FDS_MAX], unsigned *nfds)
{
	return msg_recv(sock, buf, fds, nfds, 0);
}

/* One fd at most: what every peer of antd may send. */
static ssize_t recv_one(int sock, void *buf, int *fd_out, int rflags)
{
	int fds[ANT_MSG_FDS_MAX];
	unsigned nfds;
	*fd_out = -1;
	ssize_t n = msg_recv(sock, buf, fds, &nfds, rflags);
	if (n > 0 && nfds > 1) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	if (n > 0 && nfds == 1)
		*fd_out = fds[0];
	return n;
}

ssize_t ant_msg_recv(int sock, void *buf, int *fd_out)
{
	return recv_one(sock, buf, fd_out, MSG_DONTWAIT);
}

ssize_t ant_msg_recv_wait(int sock, void *buf, int *fd_out)
{
	return recv_one(sock, buf, fd_out, 0);
}

int ant_msg_send_fds(int sock, unsigned type, unsigned flags, const void *payload, size_t n,
		     const int *fds, unsigned nfds)
{
	struct ant_msg h = {
		.type = (uint16_t)type,
		.flags = (uint16_t)(flags | (nfds ? ANT_MF_FD : 0)),
		.len = (uint32_t)(sizeof(h) + n),
	};
	if (n > ANT_CICA_SIZE)
		return -EMSGSIZE;
	if (nfds > ANT_MSG_FDS_MAX)
		return -EINVAL;
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = n },
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * ANT_MSG_FDS_MAX)];
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n ? 2 : 1 };
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0)
		return -errno;
	return 0;
}

int ant_msg_send(int sock, unsigned type, unsigned flags, const void *payload, size_t n, int fd)
{
	return ant_msg_send_fds(sock, type, flags, payload, n, &fd, fd >= 0 ? 1 : 0);
}
