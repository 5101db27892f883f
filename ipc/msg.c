/* msg.c - framing of wire messages: exact-length checks on receipt, fds passed with SCM_RIGHTS. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ant/proto.h"

/* Every message type, once: its name, its payload and whether an fd may
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
	[ANT_M_WELCOME] = { "WELCOME", sizeof(struct ant_m_welcome), 0 },
	[ANT_M_REQUEST] = { "REQUEST", PAGE, 1 },
	[ANT_M_RESULT] = { "RESULT", PAGE, 1 },
	[ANT_M_ALLOC_OK] = { "ALLOC_OK", sizeof(struct ant_m_alloc_ok), 1 },
	[ANT_M_ERROR] = { "ERROR", sizeof(struct ant_m_error), 0 },
	[ANT_M_SPAWN_NOTIFY] = { "SPAWN_NOTIFY", 0, 1 },
	[ANT_M_SPAWN_ERROR] = { "SPAWN_ERROR", sizeof(struct ant_m_spawn_error), 0 },
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

static ssize_t msg_recv(int sock, void *buf, int *fd_out, int rflags)
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
	*fd_out = -1;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | rflags);
	if (n < 0)
		return -errno;
	if (n == 0 && mh.msg_controllen == 0)
		return 0;

	int nfds = 0, fd = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			nfds += (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (fd < 0 && cm->cmsg_len >= CMSG_LEN(sizeof(int)))
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		}
	}
	struct ant_msg h;
	int bad = 0;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || (size_t)n < sizeof(h)) {
		bad = 1;
	} else {
		memcpy(&h, buf, sizeof(h));
		int want = ant_msg_payload_size(h.type);
		size_t payload = (size_t)n - sizeof(h);
		if (h.len != (size_t)n || (h.flags & ~ANT_MF_ALL))
			bad = 1;
		else if (want == -2)
			bad = 1;
		else if (want == -1 && (payload == 0 || payload > ANT_CICA_SIZE))
			bad = 1;
		else if (want >= 0 && payload != (size_t)want)
			bad = 1;
		else if (!!(h.flags & ANT_MF_FD) != (nfds > 0) || nfds > 1)
			bad = 1;
		else if (nfds && !ant_msg_may_carry_fd(h.type))
			bad = 1;
	}
	if (bad) {
		close_fds_in(&mh);
		return -EPROTO;
	}
	*fd_out = fd;
	return n;
}

ssize_t ant_msg_recv(int sock, void *buf, int *fd_out)
{
	return msg_recv(sock, buf, fd_out, MSG_DONTWAIT);
}

ssize_t ant_msg_recv_wait(int sock, void *buf, int *fd_out)
{
	return msg_recv(sock, buf, fd_out, 0);
}

int ant_msg_send(int sock, unsigned type, unsigned flags, const void *payload, size_t n, int fd)
{
	struct ant_msg h = {
		.type = (uint16_t)type,
		.flags = (uint16_t)(flags | (fd >= 0 ? ANT_MF_FD : 0)),
		.len = (uint32_t)(sizeof(h) + n),
	};
	if (n > ANT_CICA_SIZE)
		return -EMSGSIZE;
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = n },
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n ? 2 : 1 };
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0)
		return -errno;
	return 0;
}
