/* test-config.c - unit tests of the JSON config reader (supervisor/config.c). */
#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char err[1024];
static const struct config_err e = { "c.json", err, sizeof err };

/* A struct and its table, to read with config_read. */
enum colour { RED, GREEN, BLUE };
static const char *const colour_names[] = { "red", "green", "blue", NULL };

struct thing {
	char name[8];
	char *label;
	unsigned count;
	long limit;
	double ratio;
	int on;
	int colour;
	unsigned depth;
};

static const struct config_field inner_fields[] = {
	{ .key = "depth", .type = CONFIG_UINT, .offset = offsetof(struct thing, depth), .max = 9 },
	{ .key = NULL }
};

static const struct config_field thing_fields[] = {
	{ .key = "description", .type = CONFIG_TEXT },
	{ .key = "name", .type = CONFIG_STRING, .required = 1, .offset = offsetof(struct thing, name),
	  .size = sizeof(((struct thing *)0)->name) },
	{ .key = "label", .type = CONFIG_STRDUP, .offset = offsetof(struct thing, label) },
	{ .key = "count", .type = CONFIG_UINT, .offset = offsetof(struct thing, count), .min = 1,
	  .max = 64 },
	{ .key = "limit", .type = CONFIG_LONG, .offset = offsetof(struct thing, limit), .min = -1,
	  .max = LLONG_MAX },
	{ .key = "ratio", .type = CONFIG_REAL, .offset = offsetof(struct thing, ratio), .rmax = 1 },
	{ .key = "on", .type = CONFIG_BOOL, .offset = offsetof(struct thing, on) },
	{ .key = "colour", .type = CONFIG_ENUM, .offset = offsetof(struct thing, colour),
	  .names = colour_names },
	{ .key = "inner", .type = CONFIG_OBJECT, .fields = inner_fields },
	{ .key = "later", .type = CONFIG_ANY },
	{ .key = NULL }
};

/* Test JSON is written with single quotes to stay readable. */
static json_t *json_of(const char *sq)
{
	char *j = strdup(sq);
	json_t *v;

	ck_assert_ptr_nonnull(j);
	for (char *p = j; *p; p++)
		if (*p == '\'')
			*p = '"';
	err[0] = '\0';
	v = config_parse(j, strlen(j), "c.json", err, sizeof err);
	free(j);
	ck_assert_msg(v != NULL, "test JSON: %s", err);
	return v;
}

/* Read sq into t (zeroed first); returns config_read's result. */
static int read_thing(const char *sq, struct thing *t)
{
	json_t *v = json_of(sq);
	int r;

	memset(t, 0, sizeof(*t));
	r = config_read(&e, "", v, thing_fields, t);
	json_decref(v);
	return r;
}

static void expect_error(const char *sq, const char *want)
{
	struct thing t;

	ck_assert_int_eq(read_thing(sq, &t), -1);
	ck_assert_str_eq(err, want);
	free(t.label);
}

START_TEST(reads_every_type)
{
	struct thing t;

	ck_assert_msg(read_thing("{'description':'x','name':'abc','label':'L','count':64,"
				 "'limit':-1,'ratio':0.5,'on':true,'colour':'blue',"
				 "'inner':{'depth':9},'later':[1]}", &t) == 0, "%s", err);
	ck_assert_str_eq(t.name, "abc");
	ck_assert_str_eq(t.label, "L");
	ck_assert_uint_eq(t.count, 64);
	ck_assert_int_eq(t.limit, -1);
	ck_assert(t.ratio == 0.5);
	ck_assert_int_eq(t.on, 1);
	ck_assert_int_eq(t.colour, BLUE);
	ck_assert_uint_eq(t.depth, 9);
	free(t.label);
}
END_TEST

START_TEST(unknown_key_is_named)
{
	expect_error("{'name':'a','cuont':1}", "c.json: (root): unknown key \"cuont\"");
	expect_error("{'name':'a','inner':{'dpeth':1}}", "c.json: inner: unknown key \"dpeth\"");
	/* A control byte in the key does not break the line. */
	expect_error("{'name':'a','x\\ny':1}", "c.json: (root): unknown key \"x\\x0ay\"");
}
END_TEST

START_TEST(missing_key_is_named)
{
	expect_error("{'count':1}", "c.json: (root): missing key \"name\"");
}
END_TEST

START_TEST(wrong_type_names_key_and_type)
{
	expect_error("{'name':3}", "c.json: name: must be a string, got an integer");
	expect_error("{'name':''}", "c.json: name: must not be empty");
	expect_error("{'name':'a','count':'4'}",
		     "c.json: count: must be an integer from 1 to 64, got a string");
	expect_error("{'name':'a','count':4.0}",
		     "c.json: count: must be an integer from 1 to 64, got a real number");
	expect_error("{'name':'a','on':1}", "c.json: on: must be true or false, got an integer");
	expect_error("{'name':'a','colour':2}",
		     "c.json: colour: must be one of red, green, blue, got an integer");
	expect_error("{'name':'a','inner':[]}", "c.json: inner: must be an object, got an array");
	expect_error("[1]", "c.json: (root): must be an object, got an array");
	expect_error("{'name':'a','description':false}",
		     "c.json: description: must be a string, got a boolean");
}
END_TEST

START_TEST(out_of_range_is_refused)
{
	expect_error("{'name':'a','count':0}", "c.json: count: must be an integer from 1 to 64, got 0");
	expect_error("{'name':'a','count':65}",
		     "c.json: count: must be an integer from 1 to 64, got 65");
	expect_error("{'name':'a','limit':-2}",
		     "c.json: limit: must be an integer of at least -1, got -2");
	expect_error("{'name':'a','ratio':1.5}", "c.json: ratio: must be a number from 0 to 1, got 1.5");
	expect_error("{'name':'a','inner':{'depth':10}}",
		     "c.json: inner.depth: must be an integer from 0 to 9, got 10");
	expect_error("{'name':'abcdefgh'}", "c.json: name: \"abcdefgh\" is too long (8 bytes, at most 7)");
	expect_error("{'name':'a','colour':'pink'}",
		     "c.json: colour: must be one of red, green, blue, got \"pink\"");
}
END_TEST

START_TEST(absent_keys_leave_values)
{
	struct thing t;
	json_t *v = json_of("{'name':'b','count':2}");

	memset(&t, 0, sizeof(t));
	t.limit = 77;
	t.colour = GREEN;
	ck_assert_int_eq(config_read(&e, "", v, thing_fields, &t), 0);
	ck_assert_uint_eq(t.count, 2);
	ck_assert_int_eq(t.limit, 77);
	ck_assert_int_eq(t.colour, GREEN);
	json_decref(v);
}
END_TEST

START_TEST(keys_below_a_prefix)
{
	struct config_err f = { "s.json", err, sizeof err };
	json_t *v = json_of("{'name':'a','inner':{'depth':-1}}");
	struct thing t;

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(config_read(&f, "servers[0].thing", v, thing_fields, &t), -1);
	ck_assert_str_eq(err, "s.json: servers[0].thing.inner.depth: must be an integer from 0 to 9, got -1");
	json_decref(v);
	ck_assert_str_eq(config_key("", "a").s, "a");
	ck_assert_str_eq(config_key("a", "b").s, "a.b");
	ck_assert_str_eq(config_index("a.b", 3).s, "a.b[3]");
}
END_TEST

static int count_item(const struct config_err *ce, const char *key, json_t *v, size_t i, void *base)
{
	unsigned *n = base;

	if (!json_is_integer(v))
		return config_fail(ce, key, "must be an integer");
	*n += (unsigned)i + 1;
	return 0;
}

START_TEST(arrays_name_their_items)
{
	json_t *v = json_of("[5,6,'x']");
	unsigned n = 0;

	ck_assert_int_eq(config_array(&e, "list", v, 3, "numbers", count_item, &n), -1);
	ck_assert_str_eq(err, "c.json: list[2]: must be an integer");
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(config_array(&e, "list", v, 2, "numbers", count_item, &n), -1);
	ck_assert_str_eq(err, "c.json: list: must be an array of at most 2 numbers, got 3");
	json_decref(v);
	v = json_of("{}");
	ck_assert_int_eq(config_array(&e, "list", v, 2, "numbers", count_item, &n), -1);
	ck_assert_str_eq(err, "c.json: list: must be an array of at most 2 numbers, got an object");
	json_decref(v);
}
END_TEST

START_TEST(check_keys_and_names)
{
	static const char *const allowed[] = { "a", "b", NULL };
	json_t *v = json_of("{'a':1,'c':2}");

	ck_assert_int_eq(config_check_keys(&e, "x", v, allowed), -1);
	ck_assert_str_eq(err, "c.json: x: unknown key \"c\"");
	json_decref(v);
	ck_assert(config_is_name("hot-standby_2"));
	ck_assert(!config_is_name(""));
	ck_assert(!config_is_name("../etc/passwd"));
	ck_assert(!config_is_name("Default"));
}
END_TEST

START_TEST(malformed_json_names_its_line)
{
	const char *bad = "{\n  \"a\": 1,\n  \"b\": [,]\n}";

	ck_assert_ptr_null(config_parse(bad, strlen(bad), "c.json", err, sizeof err));
	ck_assert_msg(strncmp(err, "c.json: line 3 column ", 22) == 0, "%s", err);
	ck_assert_msg(strchr(err, '\n') == NULL, "not one line: %s", err);
	ck_assert_ptr_null(config_parse("{\"a\":1,\"a\":2}", 13, "c.json", err, sizeof err));
	ck_assert_msg(strstr(err, "c.json: line 1 ") && strstr(err, "duplicate"), "%s", err);
}
END_TEST

START_TEST(no_error_buffer)
{
	struct config_err quiet = { "c.json", NULL, 0 };
	char small[8];
	struct config_err cut = { "c.json", small, sizeof small };

	ck_assert_int_eq(config_fail(&quiet, "k", "what %d", 1), -1);
	ck_assert_int_eq(config_fail(&cut, "k", "what %d", 1), -1);
	ck_assert_str_eq(small, "c.json:");
	ck_assert_ptr_null(config_parse("[", 1, "c.json", NULL, 0));
}
END_TEST

/* ---- files: a temp folder per test ---- */

static char tmp_dir[256];

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmp_dir, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void files_setup(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[PATH_MAX];

	snprintf(tmp_dir, sizeof tmp_dir, "%s/test-config.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
	snprintf(path, sizeof path, "%s/one", tmp_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/two", tmp_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

/* Everything a test of this file may create, deepest first. */
static const char *const made[] = {
	"one/p.json", "two/p.json", "bad.json", "good.json", "big.json", "one", "two", "",
};

static void files_teardown(void)
{
	char path[PATH_MAX];

	for (size_t i = 0; tmp_dir[0] && i < sizeof(made) / sizeof(made[0]); i++) {
		snprintf(path, sizeof path, "%s/%s", tmp_dir, made[i]);
		remove(path);
	}
	tmp_dir[0] = '\0';
}

START_TEST(search_path_takes_the_first_folder_in_order)
{
	char search[3 * PATH_MAX], path[PATH_MAX], want[PATH_MAX];
	const char *cursor;
	char dir[PATH_MAX];

	put("two/p.json", "{}");
	snprintf(search, sizeof search, "%s/nonexistent::%s/one:%s/two", tmp_dir, tmp_dir, tmp_dir);
	ck_assert_int_eq(config_find(search, "p.json", path, sizeof path), 0);
	snprintf(want, sizeof want, "%s/two/p.json", tmp_dir);
	ck_assert_str_eq(path, want);
	/* Once the earlier folder has it too, that one wins. */
	put("one/p.json", "{}");
	ck_assert_int_eq(config_find(search, "p.json", path, sizeof path), 0);
	snprintf(want, sizeof want, "%s/one/p.json", tmp_dir);
	ck_assert_str_eq(path, want);
	ck_assert_int_eq(config_find(search, "q.json", path, sizeof path), -1);
	ck_assert_int_eq(config_find(NULL, "p.json", path, sizeof path), -1);
	ck_assert_int_eq(config_find("", "p.json", path, sizeof path), -1);
	/* The walk skips empty entries. */
	cursor = "::a::b:";
	ck_assert_int_eq(config_search_next(&cursor, dir, sizeof dir), 1);
	ck_assert_str_eq(dir, "a");
	ck_assert_int_eq(config_search_next(&cursor, dir, sizeof dir), 1);
	ck_assert_str_eq(dir, "b");
	ck_assert_int_eq(config_search_next(&cursor, dir, sizeof dir), 0);
}
END_TEST

/* config_load of tmp_dir/rel fails with "<path>: <start>...". */
static void expect_load_error(const char *rel, const char *start)
{
	char path[PATH_MAX], want[PATH_MAX + 64];

	snprintf(path, sizeof path, "%s/%s", tmp_dir, rel);
	snprintf(want, sizeof want, "%s: %s", path, start);
	ck_assert_ptr_null(config_load(path, err, sizeof err));
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error \"%s\" does not start with \"%s\"",
		      err, want);
	ck_assert_msg(strchr(err, '\n') == NULL, "not one line: %s", err);
}

START_TEST(missing_file_is_named)
{
	expect_load_error("none.json", "No such file or directory");
	/* Nothing after the reason. */
	ck_assert_str_eq(strrchr(err, '/'), "/none.json: No such file or directory");
	expect_load_error("one", "Is a directory");
}
END_TEST

START_TEST(file_syntax_error_names_file_and_line)
{
	char path[PATH_MAX];
	json_t *v;

	put("bad.json", "{\n  \"a\": 1,\n  \"b\": 2,,\n}\n");
	expect_load_error("bad.json", "line 3 column ");
	put("good.json", "{\"a\": [1, 2]}");
	snprintf(path, sizeof path, "%s/good.json", tmp_dir);
	v = config_load(path, err, sizeof err);
	ck_assert_msg(v != NULL, "%s", err);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "a")), 2);
	json_decref(v);
}
END_TEST

START_TEST(file_too_large_is_refused)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/big.json", tmp_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputc('[', f);
	for (unsigned i = 0; i < CONFIG_FILE_MAX / 2; i++)
		fputs("0,", f);
	fputs("0]", f);
	fclose(f);
	ck_assert_ptr_null(config_load(path, err, sizeof err));
	ck_assert_msg(strstr(err, ": file too large (more than 1048576 bytes)"), "%s", err);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *fields = tcase_create("fields");
	TCase *files = tcase_create("files");

	tcase_add_test(fields, reads_every_type);
	tcase_add_test(fields, unknown_key_is_named);
	tcase_add_test(fields, missing_key_is_named);
	tcase_add_test(fields, wrong_type_names_key_and_type);
	tcase_add_test(fields, out_of_range_is_refused);
	tcase_add_test(fields, absent_keys_leave_values);
	tcase_add_test(fields, keys_below_a_prefix);
	tcase_add_test(fields, arrays_name_their_items);
	tcase_add_test(fields, check_keys_and_names);
	tcase_add_test(fields, malformed_json_names_its_line);
	tcase_add_test(fields, no_error_buffer);
	suite_add_tcase(s, fields);
	tcase_add_checked_fixture(files, files_setup, files_teardown);
	tcase_add_test(files, search_path_takes_the_first_folder_in_order);
	tcase_add_test(files, missing_file_is_named);
	tcase_add_test(files, file_syntax_error_names_file_and_line);
	tcase_add_test(files, file_too_large_is_refused);
	suite_add_tcase(s, files);
	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(config_suite)
