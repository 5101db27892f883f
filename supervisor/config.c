/* config.c - one reader for antd's JSON config files: load, search path, keys, typed fields, errors. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/*
 * The message must stay one line whatever the file holds (a key with a
 * newline, jansson's "near '...'" echoing input): blank out control bytes.
 */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

int config_fail(const struct config_err *e, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!e->buf || e->len == 0)
		return -1;
	if (key)
		n = snprintf(e->buf, e->len, "%s: %s: ", e->file, key[0] ? key : "(root)");
	else
		n = snprintf(e->buf, e->len, "%s: ", e->file);
	if (n >= 0 && (size_t)n < e->len) {
		va_start(ap, fmt);
		vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	one_line(e->buf);
	return -1;
}

struct config_key config_key(const char *parent, const char *key)
{
	struct config_key k;

	if (parent && parent[0])
		snprintf(k.s, sizeof k.s, "%s.%s", parent, key);
	else
		snprintf(k.s, sizeof k.s, "%s", key);
	return k;
}

struct config_key config_index(const char *parent, size_t i)
{
	struct config_key k;

	snprintf(k.s, sizeof k.s, "%s[%zu]", parent, i);
	return k;
}

struct config_quoted config_quote(const char *s)
{
	struct config_quoted t;
	size_t o = 0, i, len = strlen(s);

	t.s[o++] = '"';
	for (i = 0; i < len && i < CONFIG_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			t.s[o++] = '\\';
			t.s[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(t.s + o, sizeof t.s - o, "\\x%02x", c);
		} else {
			t.s[o++] = (char)c;
		}
	}
	if (i < len) {
		memcpy(t.s + o, "...", 3);
		o += 3;
	}
	t.s[o++] = '"';
	t.s[o] = '\0';
	return t;
}

const char *config_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return "an object";
	case JSON_ARRAY:   return "an array";
	case JSON_STRING:  return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL:    return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:   return "a boolean";
	case JSON_NULL:    return "null";
	}
	return "an unknown value";
}

int config_is_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

json_t *config_parse(const char *buf, size_t len, const char *name, char *err, size_t errlen)
{
	struct config_err e = { name, err, errlen };
	json_error_t je;
	json_t *root;

	/* DECODE_ANY so that "42" is reported as "not an object" like "[]" is. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!root) {
		if (je.line > 0)
			config_fail(&e, NULL, "line %d column %d: %s", je.line, je.column, je.text);
		else
			config_fail(&e, NULL, "%s", je.text);
	}
	return root;
}

/* The whole file into a malloc'd buffer; NULL with errno set (EFBIG: too large). */
static char *read_all(const char *path, size_t *lenp)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;

		if (len == cap || !buf) {
			char *nbuf;

			if (buf)
				cap *= 2;
			if (cap > CONFIG_FILE_MAX + 1)
				cap = CONFIG_FILE_MAX + 1;
			if (len == cap) {
				errno = EFBIG;
				goto fail;
			}
			if (!(nbuf = realloc(buf, cap)))
				goto fail;
			buf = nbuf;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	*lenp = len;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

json_t *config_load(const char *path, char *err, size_t errlen)
{
	return config_load_keep(path, NULL, err, errlen);
}

json_t *config_load_keep(const char *path, char **text, char *err, size_t errlen)
{
	struct config_err e = { path, err, errlen };
	json_t *root;
	size_t len;
	char *buf;

	buf = read_all(path, &len);
	if (!buf) {
		if (errno == EFBIG)
			config_fail(&e, NULL, "file too large (more than %u bytes)", CONFIG_FILE_MAX);
		else
			config_fail(&e, NULL, "%s", strerror(errno));
		return NULL;
	}
	root = config_parse(buf, len, path, err, errlen);
	char *t = root && text ? realloc(buf, len + 1) : NULL;
	if (t) {
		t[len] = '\0';
		*text = t;
	} else {
		free(buf);
	}
	return root;
}

int config_search_next(const char **cursor, char *dir, size_t dirlen)
{
	const char *p = *cursor ? *cursor : "";

	while (*p) {
		size_t n = strcspn(p, ":");
		int ok = n > 0 && n < dirlen;

		if (ok) {
			memcpy(dir, p, n);
			dir[n] = '\0';
		}
		p += n;
		if (*p == ':')
			p++;
		if (ok) {
			*cursor = p;
			return 1;
		}
	}
	*cursor = p;
	return 0;
}

int config_find(const char *search, const char *file, char *path, size_t plen)
{
	const char *cursor = search;
	char dir[PATH_MAX];

	while (config_search_next(&cursor, dir, sizeof dir)) {
		int n = snprintf(path, plen, "%s/%s", dir, file);

		if (n > 0 && (size_t)n < plen && access(path, R_OK) == 0)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

int config_object(const struct config_err *e, const char *key, const json_t *obj)
{
	if (json_is_object(obj))
		return 0;
	return config_fail(e, key, "must be an object, got %s", config_type_name(obj));
}

static int unknown_key(const struct config_err *e, const char *key, const char *name)
{
	return config_fail(e, key, "unknown key %s", config_quote(name).s);
}

int config_check_keys(const struct config_err *e, const char *key, const json_t *obj,
		      const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) {
		const char *const *a;

		for (a = allowed; *a; a++)
			if (strcmp(*a, k) == 0)
				break;
		if (!*a)
			return unknown_key(e, key, k);
	}
	return 0;
}

int config_int(const struct config_err *e, const char *key, const json_t *v, long long min,
	       long long max, long long *out)
{
	char range[64];
	json_int_t n;

	if (max == LLONG_MAX)
		snprintf(range, sizeof range, "an integer of at least %lld", min);
	else
		snprintf(range, sizeof range, "an integer from %lld to %lld", min, max);
	if (!json_is_integer(v))
		return config_fail(e, key, "must be %s, got %s", range, config_type_name(v));
	n = json_integer_value(v);
	if (n < min || n > max)
		return config_fail(e, key, "must be %s, got %" JSON_INTEGER_FORMAT, range, n);
	*out = n;
	return 0;
}

int config_real(const struct config_err *e, const char *key, const json_t *v, double min,
		double max, double *out)
{
	double x;

	if (!json_is_number(v))
		return config_fail(e, key, "must be a number from %g to %g, got %s", min, max,
				   config_type_name(v));
	x = json_number_value(v);
	if (!(x >= min && x <= max))
		return config_fail(e, key, "must be a number from %g to %g, got %g", min, max, x);
	*out = x;
	return 0;
}

int config_bool(const struct config_err *e, const char *key, const json_t *v, int *out)
{
	if (!json_is_boolean(v))
		return config_fail(e, key, "must be true or false, got %s", config_type_name(v));
	*out = json_is_true(v);
	return 0;
}

int config_enum(const struct config_err *e, const char *key, const json_t *v,
		const char *const *names, int *out)
{
	char list[256] = "";
	size_t used = 0;
	int i;

	for (i = 0; json_is_string(v) && names[i]; i++) {
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	for (i = 0; names[i] && used < sizeof list; i++) {
		int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);

		if (n > 0)
			used += (size_t)n;
	}
	if (json_is_string(v))
		return config_fail(e, key, "must be one of %s, got %s", list,
				   config_quote(json_string_value(v)).s);
	return config_fail(e, key, "must be one of %s, got %s", list, config_type_name(v));
}

const char *config_string(const struct config_err *e, const char *key, const json_t *v,
			  int allow_empty)
{
	const char *s;

	if (!json_is_string(v)) {
		config_fail(e, key, "must be a string, got %s", config_type_name(v));
		return NULL;
	}
	s = json_string_value(v);
	if (!allow_empty && s[0] == '\0') {
		config_fail(e, key, "must not be empty");
		return NULL;
	}
	return s;
}

int config_string_copy(const struct config_err *e, const char *key, const json_t *v, char *buf,
		       size_t size)
{
	const char *s = config_string(e, key, v, 0);
	size_t len;

	if (!s)
		return -1;
	len = strlen(s);
	if (len >= size)
		return config_fail(e, key, "%s is too long (%zu bytes, at most %zu)",
				   config_quote(s).s, len, size - 1);
	memcpy(buf, s, len + 1);
	return 0;
}

int config_array(const struct config_err *e, const char *key, json_t *v, size_t max,
		 const char *what, config_item_fn *item, void *base)
{
	size_t i;
	json_t *x;

	if (!json_is_array(v))
		return config_fail(e, key, "must be an array of at most %zu %s, got %s", max, what,
				   config_type_name(v));
	if (json_array_size(v) > max)
		return config_fail(e, key, "must be an array of at most %zu %s, got %zu", max, what,
				   json_array_size(v));
	json_array_foreach(v, i, x) {
		struct config_key k = config_index(key, i);

		if (item(e, k.s, x, i, base) < 0)
			return -1;
	}
	return 0;
}

static int read_strdup(const struct config_err *e, const char *key, const json_t *v, char **out)
{
	const char *s = config_string(e, key, v, 0);
	char *d;

	if (!s)
		return -1;
	if (!(d = strdup(s)))
		return config_fail(e, key, "out of memory");
	free(*out);
	*out = d;
	return 0;
}

/* One value v of field f (found at key) into base. */
static int read_field(const struct config_err *e, const char *key, json_t *v,
		      const struct config_field *f, void *base)
{
	char *at = (char *)base + f->offset;
	long long n;
	int i;

	switch (f->type) {
	case CONFIG_ANY:
		return 0;
	case CONFIG_TEXT:
		return config_string(e, key, v, 1) ? 0 : -1;
	case CONFIG_STRING:
		return config_string_copy(e, key, v, at, f->size);
	case CONFIG_STRDUP:
		return read_strdup(e, key, v, (char **)(void *)at);
	case CONFIG_UINT:
	case CONFIG_LONG:
		if (config_int(e, key, v, f->min, f->max, &n) < 0)
			return -1;
		if (f->type == CONFIG_UINT)
			*(unsigned *)(void *)at = (unsigned)n;
		else
			*(long *)(void *)at = (long)n;
		return 0;
	case CONFIG_REAL:
		return config_real(e, key, v, f->rmin, f->rmax, (double *)(void *)at);
	case CONFIG_BOOL:
		return config_bool(e, key, v, (int *)(void *)at);
	case CONFIG_ENUM:
		if (config_enum(e, key, v, f->names, &i) < 0)
			return -1;
		*(int *)(void *)at = i;
		return 0;
	case CONFIG_OBJECT:
		return config_read(e, key, v, f->fields, base);
	case CONFIG_CUSTOM:
		return f->read(e, key, v, base);
	}
	return config_fail(e, key, "bad field table");
}

int config_read(const struct config_err *e, const char *key, json_t *obj,
		const struct config_field *fields, void *base)
{
	const struct config_field *f;
	const char *k;
	json_t *v;

	if (config_object(e, key, obj) < 0)
		return -1;
	json_object_foreach(obj, k, v) {
		for (f = fields; f->key; f++)
			if (strcmp(f->key, k) == 0)
				break;
		if (!f->key)
			return unknown_key(e, key, k);
	}
	for (f = fields; f->key; f++) {
		struct config_key fk = config_key(key, f->key);

		v = json_object_get(obj, f->key);
		if (!v && f->required)
			return config_fail(e, key, "missing key %s", config_quote(f->key).s);
		if (v && read_field(e, fk.s, v, f, base) < 0)
			return -1;
	}
	return 0;
}
