/* state.c - live upgrade in a server: its state exported for the next version, or imported from the last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ant/ant.h"
#include "ant/errors.h"
#include "conn.h"

struct ant_state_out {
	char format[ANT_STATE_FORMAT_MAX];
	uint32_t version;
	unsigned n;
	struct ant_ica_ref refs[ANT_STATE_AREAS_MAX];
};

void ant_set_state_handlers(struct ant_conn *c, ant_export_fn *ex, ant_import_fn *im, void *arg)
{
	c->export_fn = ex;
	c->import_fn = im;
	c->state_arg = arg;
}

int ant_state_begin(struct ant_state_out *out, const char *format, uint32_t version)
{
	if (!format || !*format || strlen(format) >= sizeof(out->format))
		return -EINVAL;
	snprintf(out->format, sizeof(out->format), "%s", format);
	out->version = version;
	return 0;
}

int ant_state_add(struct ant_state_out *out, struct ant_ica *area)
{
	if (!area || !out->format[0])
		return -EINVAL;
	if (out->n >= ANT_STATE_AREAS_MAX)
		return -E2BIG;
	out->refs[out->n++] = area->ref;
	return 0;
}

int ant_set_version(struct ant_conn *c, const char *version)
{
	struct ant_m_version m = { { 0 } };
	if (!version || !*version || strlen(version) >= sizeof(m.version))
		return -EINVAL;
	snprintf(m.version, sizeof(m.version), "%s", version);
	return conn_send(c, ANT_M_VERSION, 0, &m, sizeof(m), -1);
}

/* Send out as STATE messages (one if it holds no area). */
static void send_state(struct ant_conn *c, uint32_t seq, const struct ant_state_out *out)
{
	static struct ant_m_state m;
	unsigned sent = 0;
	do {
		memset(&m, 0, sizeof(m));
		m.seq = seq;
		m.version = out->version;
		memcpy(m.format, out->format, sizeof(m.format));
		unsigned k = out->n - sent < ANT_STATE_REFS_MAX ? out->n - sent : ANT_STATE_REFS_MAX;
		memcpy(m.refs, out->refs + sent, k * sizeof(m.refs[0]));
		m.nrefs = (uint16_t)k;
		sent += k;
		m.last = sent == out->n;
		if (conn_send(c, ANT_M_STATE, 0, &m, sizeof(m), -1) < 0)
			return;
	} while (sent < out->n);
}

void state_on_export(struct ant_conn *c, uint32_t seq)
{
	static struct ant_state_out out;
	memset(&out, 0, sizeof(out));
	if (c->export_fn && c->export_fn(c, &out, c->state_arg) < 0) {
		/* Refused: an empty state in a format nobody imports says so. */
		memset(&out, 0, sizeof(out));
		snprintf(out.format, sizeof(out.format), "!refused");
	}
	send_state(c, seq, &out);
}

int state_on_area(struct ant_conn *c, const struct ant_ica_ref *ref, int fd)
{
	if (c->nimporting == c->capimporting) {
		unsigned cap = c->capimporting ? c->capimporting * 2 : 16;
		struct ant_ica **p = realloc(c->importing, cap * sizeof(*p));
		if (!p) {
			close(fd);
			return -ENOMEM;
		}
		c->importing = p;
		c->capimporting = cap;
	}
	struct ant_ica *ica;
	int r = conn_ica_adopt(c, ref, fd, 1, !c->lazy_map, &ica);
	if (r < 0)
		return r;
	c->importing[c->nimporting++] = ica;
	return 0;
}

void state_on_import(struct ant_conn *c, const struct ant_m_import *m)
{
	struct ant_m_imported rep = { .seq = m->seq };
	char format[ANT_STATE_FORMAT_MAX];
	memcpy(format, m->format, sizeof(format));
	format[sizeof(format) - 1] = '\0';
	if (m->nareas != c->nimporting) {
		rep.result = ANT_E_PROTOCOL;
		snprintf(rep.text, sizeof(rep.text), "%u areas announced, %u came", m->nareas,
			 c->nimporting);
	} else if (c->import_fn) {
		rep.result = c->import_fn(c, format, m->version, c->importing, c->nimporting,
					  rep.text, sizeof(rep.text), c->state_arg);
		if (rep.result < 0 && !rep.text[0])
			snprintf(rep.text, sizeof(rep.text), "import refused it");
	} else if (format[0]) {
		rep.result = ANT_E_BAD_REQUEST;
		snprintf(rep.text, sizeof(rep.text), "this program imports no state (got %s "
			 "version %u)", format, m->version);
	}
	/* Refused: the areas go back (antd still has them for the old version). */
	if (rep.result < 0)
		for (unsigned i = 0; i < c->nimporting; i++)
			ant_ica_release(c, c->importing[i]);
	c->nimporting = 0;
	conn_send(c, ANT_M_IMPORTED, 0, &rep, sizeof(rep), -1);
}

void state_fini(struct ant_conn *c)
{
	free(c->importing);
	c->importing = NULL;
	c->nimporting = c->capimporting = 0;
}
