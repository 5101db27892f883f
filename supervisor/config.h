/* config.h - one reader for antd's JSON config files: load, search path, keys, typed fields, errors. */
#ifndef ANTD_CONFIG_H
#define ANTD_CONFIG_H

#include <stddef.h>
#include <jansson.h>

#define CONFIG_FILE_MAX  (1u << 20) /* config files are a few hundred bytes; refuse junk */
#define CONFIG_KEY_MAX   256        /* a key path such as "servers[1].calls[0]" */
#define CONFIG_QUOTE_MAX 48         /* bytes of a value shown in a message */

/*
 * Where an error goes.  Every message is one line,
 *   "FILE: KEY: what is wrong"   (KEY "" is written "(root)"), or
 *   "FILE: what is wrong"        (KEY NULL: the file as a whole),
 * cut to fit buf.  buf may be NULL: the error is then only returned.
 * Nothing here logs or exits.
 */
struct config_err {
	const char *file;
	char *buf;
	size_t len;
};

/* A key path, or a quoted value: small strings returned by value. */
struct config_key {
	char s[CONFIG_KEY_MAX];
};
struct config_quoted {
	char s[2 + 4 * CONFIG_QUOTE_MAX + 4]; /* quotes, every byte as \xNN, "..." and NUL */
};

/* Fill e->buf with "FILE: KEY: what" (see struct config_err).  Returns -1. */
__attribute__((format(printf, 3, 4)))
int config_fail(const struct config_err *e, const char *key, const char *fmt, ...);

/* "parent.key", or "key" when parent is NULL or "". */
struct config_key config_key(const char *parent, const char *key);
/* "parent[i]". */
struct config_key config_index(const char *parent, size_t i);
/* s in double quotes for a message: '"' and '\' escaped, control bytes as
 * \xNN, cut with "..." after CONFIG_QUOTE_MAX bytes. */
struct config_quoted config_quote(const char *s);
/* "an object", "a string", "an integer", ... for "got %s". */
const char *config_type_name(const json_t *v);
/* Is s a name of [a-z0-9_-], at least one byte?  (It may be used as a file name.) */
int config_is_name(const char *s);

/*
 * Parse len bytes of JSON (duplicate keys are an error; any value, not only
 * an object, is accepted so that the caller can say "must be an object").
 * Returns a new reference, or NULL with "NAME: line L column C: why".
 */
json_t *config_parse(const char *buf, size_t len, const char *name, char *err, size_t errlen);

/*
 * Read and parse the file path (at most CONFIG_FILE_MAX bytes).  Returns a
 * new reference, or NULL with "PATH: <strerror>", "PATH: file too large ..."
 * or the syntax error of config_parse.
 */
json_t *config_load(const char *path, char *err, size_t errlen);
/* The same, and the file's text (*text, NUL-terminated, the caller's to
 * free) when it parses. */
json_t *config_load_keep(const char *path, char **text, char *err, size_t errlen);

/*
 * Walk the ':'-separated folders of search (NULL: none): start with
 * *cursor = search.  Returns 1 with the next non-empty folder in dir, or 0
 * at the end.  A folder too long for dir is skipped.
 */
int config_search_next(const char **cursor, char *dir, size_t dirlen);

/*
 * path = "DIR/file" for the first folder DIR of search where that file is
 * readable.  Returns 0, or -1 when no folder has it (the caller says what
 * it was looking for: only it knows the context).
 */
int config_find(const char *search, const char *file, char *path, size_t plen);

/* Each of the typed readers below checks one value v found at key, and
 * returns 0, or -1 with an error naming e->file, key and what is wrong. */

/* obj must be an object ("must be an object, got an array"). */
int config_object(const struct config_err *e, const char *key, const json_t *obj);
/* Typo protection: every key of obj must be in the NULL-terminated allowed
 * list ("unknown key \"sever\""). */
int config_check_keys(const struct config_err *e, const char *key, const json_t *obj,
		      const char *const *allowed);
/* An integer from min to max ("must be an integer from 1 to 64, got 0"). */
int config_int(const struct config_err *e, const char *key, const json_t *v, long long min,
	       long long max, long long *out);
/* A number (integer or real) from min to max. */
int config_real(const struct config_err *e, const char *key, const json_t *v, double min,
		double max, double *out);
/* true or false, as 1 or 0. */
int config_bool(const struct config_err *e, const char *key, const json_t *v, int *out);
/* A string equal to one of the NULL-terminated names; *out = its index. */
int config_enum(const struct config_err *e, const char *key, const json_t *v,
		const char *const *names, int *out);
/* A string, non-empty unless allow_empty.  Returns it (owned by v), or NULL.
 * No NUL can hide inside it: jansson rejects "\u0000" without JSON_ALLOW_NUL. */
const char *config_string(const struct config_err *e, const char *key, const json_t *v,
			  int allow_empty);
/* A non-empty string copied into buf ("is too long (N bytes, at most M)"). */
int config_string_copy(const struct config_err *e, const char *key, const json_t *v, char *buf,
		       size_t size);

/* Called by config_array for item i (found at key "KEY[i]") of an array. */
typedef int config_item_fn(const struct config_err *e, const char *key, json_t *v, size_t i,
			   void *base);

/*
 * v must be an array of at most max items ("must be an array of at most 8
 * files, got 9"; what names the items).  Calls item for each one in order
 * and stops at the first that returns -1.  Returns 0 or -1.
 */
int config_array(const struct config_err *e, const char *key, json_t *v, size_t max,
		 const char *what, config_item_fn *item, void *base);

/*
 * A table of the keys an object may have, and where each value goes in the
 * struct the table describes.  Read by config_read.
 */
enum config_type {
	CONFIG_ANY,     /* allowed; the caller reads it itself */
	CONFIG_TEXT,    /* a string, checked and not kept ("description") */
	CONFIG_STRING,  /* a non-empty string, copied into char[size] */
	CONFIG_STRDUP,  /* a non-empty string, into a malloc'd char * (the old one is freed) */
	CONFIG_UINT,    /* an integer from min to max, into unsigned */
	CONFIG_LONG,    /* an integer from min to max, into long */
	CONFIG_REAL,    /* a number from rmin to rmax, into double */
	CONFIG_BOOL,    /* true or false, into int */
	CONFIG_ENUM,    /* one of names, its index into int (or an enum of int's size) */
	CONFIG_OBJECT,  /* an object with the keys of fields, read into the same struct */
	CONFIG_CUSTOM,  /* read by read() */
};

struct config_field;
typedef int config_read_fn(const struct config_err *e, const char *key, json_t *v, void *base);

struct config_field {
	const char *key;                    /* NULL ends a table */
	enum config_type type;
	int required;                       /* absent: "missing key" */
	size_t offset;                      /* of the value in the struct */
	size_t size;                        /* CONFIG_STRING: of the char array */
	long long min, max;                 /* CONFIG_UINT, CONFIG_LONG */
	double rmin, rmax;                  /* CONFIG_REAL */
	const char *const *names;           /* CONFIG_ENUM */
	const struct config_field *fields;  /* CONFIG_OBJECT */
	config_read_fn *read;               /* CONFIG_CUSTOM: gets base, not base + offset */
};

/*
 * Read obj (found at key; "" for a file's root) into base by the table:
 * obj must be an object with only the table's keys; then, in table order,
 * each required key must be there and each key present is checked and
 * stored.  Keys absent leave base as it was, so that layers can be applied
 * one over another.  Returns 0, or -1 at the first error (base may then
 * be partly written).
 */
int config_read(const struct config_err *e, const char *key, json_t *obj,
		const struct config_field *fields, void *base);

#endif
