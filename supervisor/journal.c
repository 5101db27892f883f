/* journal.c - antd's log as structured entries of systemd's journal (its native protocol). */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "journal.h"

/* Entries kept for one flush at most (more are sent at once). */
#define JOURNAL_PENDING 64
#define JOURNAL_ENTRY_MAX 8192

static struct {
	int fd;
	char *pending[JOURNAL_PENDING];
	size_t pending_len[JOURNAL_PENDING];
	unsigned npending;
	unsigned long failed;    /* entries the socket refused (the journal is gone, full) */
} jl = { .fd = -1 };

int journal_is_stderr(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!v || sscanf(v, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int journal_open(const char *path)
{
	if (!path)
		path = JOURNAL_SOCKET;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	journal_close();
	jl.fd = fd;
	return 0;
}

int journal_on(void)
{
	return jl.fd >= 0;
}

/* Append field KEY=value to buf (the binary form if value holds a newline). */
static size_t put(char *buf, size_t at, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);
	if (at + klen + vlen + 10 > JOURNAL_ENTRY_MAX)
		return at;   /* dropped: the entry keeps what fits */
	memcpy(buf + at, key, klen);
	at += klen;
	if (!memchr(value, '\n', vlen)) {
		buf[at++] = '=';
	} else {
		buf[at++] = '\n';
		uint64_t le = (uint64_t)vlen;   /* little-endian on the machines antd runs on */
		memcpy(buf + at, &le, 8);
		at += 8;
	}
	memcpy(buf + at, value, vlen);
	at += vlen;
	buf[at++] = '\n';
	return at;
}

static void send_one(const char *buf, size_t len)
{
	if (send(jl.fd, buf, len, MSG_NOSIGNAL) < 0)
		jl.failed++;
}

void journal_flush(void)
{
	for (unsigned i = 0; i < jl.npending; i++) {
		if (jl.fd >= 0)
			send_one(jl.pending[i], jl.pending_len[i]);
		free(jl.pending[i]);
	}
	jl.npending = 0;
}

void journal_entry(int priority, const char *event, const char *server, const char *msg,
		   json_t *fields, int defer)
{
	if (jl.fd < 0)
		return;
	char *buf = malloc(JOURNAL_ENTRY_MAX);
	if (!buf)
		return;
	char num[32];
	snprintf(num, sizeof(num), "%d", priority);
	/* MESSAGE as the plain log's line reads, without its time and level. */
	char line[1200];
	snprintf(line, sizeof(line), "%s%s%s%s %s", event, server ? " [" : "", server ? server : "",
		 server ? "]" : "", msg);
	size_t n = put(buf, 0, "MESSAGE", line);
	n = put(buf, n, "PRIORITY", num);
	n = put(buf, n, "SYSLOG_IDENTIFIER", "antd");
	n = put(buf, n, "ANT_EVENT", event);
	if (server)
		n = put(buf, n, "ANT_SERVER", server);
	const char *key;
	json_t *v;
	json_object_foreach(fields, key, v) {
		static const char *const said[] = { "time", "level", "event", "msg", "server" };
		int skip = 0;
		for (unsigned i = 0; i < sizeof(said) / sizeof(said[0]); i++)
			skip |= strcmp(key, said[i]) == 0;
		if (skip)
			continue;   /* MESSAGE, PRIORITY, ANT_EVENT, ANT_SERVER say them */
		char k[64] = "ANT_", val[256];
		size_t kl = 4;
		for (const char *c = key; *c && kl < sizeof(k) - 1; c++)
			k[kl++] = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
		k[kl] = '\0';
		if (json_is_string(v))
			snprintf(val, sizeof(val), "%s", json_string_value(v));
		else if (json_is_integer(v))
			snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(val, sizeof(val), "%g", json_real_value(v));
		else if (json_is_boolean(v))
			snprintf(val, sizeof(val), "%s", json_is_true(v) ? "true" : "false");
		else
			continue;   /* arrays and objects stay in the JSON log */
		n = put(buf, n, k, val);
	}
	if (!defer) {
		send_one(buf, n);
		free(buf);
		return;
	}
	if (jl.npending == JOURNAL_PENDING)
		journal_flush();
	jl.pending[jl.npending] = buf;
	jl.pending_len[jl.npending++] = n;
}

void journal_close(void)
{
	journal_flush();
	if (jl.fd >= 0)
		close(jl.fd);
	jl.fd = -1;
}
