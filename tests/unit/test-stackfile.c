/* test-stackfile.c - unit tests of the stack file parser (supervisor/stackfile.c). */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stackfile.h"

static char err[1024];

/*
 * Test JSON is written with single quotes to stay readable; this turns it
 * into real JSON.  Caller frees.
 */
static char *json_of(const char *sq)
{
	char *j = strdup(sq);
	char *p;

	ck_assert_ptr_nonnull(j);
	for (p = j; *p; p++)
		if (*p == '\'')
			*p = '"';
	return j;
}

static struct stack *parse_ok(const char *sq)
{
	char *json = json_of(sq);
	struct stack *s;

	err[0] = '\0';
	s = stack_parse(json, "chain.json", err, sizeof err);
	free(json);
	ck_assert_msg(s != NULL, "unexpected error: %s", err);
	return s;
}

/* Checks the error is one line "chain.json: <keypath>: ...<what>...". */
static void check_error(const char *keypath, const char *what)
{
	char prefix[256];

	snprintf(prefix, sizeof prefix, "chain.json: %s: ", keypath);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "error \"%s\" does not start with \"%s\"", err, prefix);
	ck_assert_msg(strstr(err + strlen(prefix), what) != NULL,
		      "error \"%s\" does not say \"%s\"", err, what);
	ck_assert_msg(strchr(err, '\n') == NULL, "error is not one line: \"%s\"", err);
}

static void expect_error(const char *sq, const char *keypath, const char *what)
{
	char *json = json_of(sq);
	struct stack *s;

	err[0] = '\0';
	s = stack_parse(json, "chain.json", err, sizeof err);
	free(json);
	ck_assert_msg(s == NULL, "parsed; expected an error at %s", keypath);
	check_error(keypath, what);
}

/* A syntax error: "chain.json: line <line> column <n>: <jansson's text>". */
static void expect_syntax_error(const char *sq, int line, const char *what)
{
	char *json = json_of(sq);
	char prefix[64];
	struct stack *s;

	err[0] = '\0';
	s = stack_parse(json, "chain.json", err, sizeof err);
	free(json);
	ck_assert_msg(s == NULL, "parsed; expected a syntax error on line %d", line);
	snprintf(prefix, sizeof prefix, "chain.json: line %d column ", line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "error \"%s\" does not start with \"%s\"", err, prefix);
	ck_assert_msg(strstr(err, what) != NULL, "error \"%s\" does not say \"%s\"", err, what);
	ck_assert_msg(strchr(err, '\n') == NULL, "error is not one line: \"%s\"", err);
}

#define SERVER1 "{'name':'relay1','exec':'relay'}"

/* ---- malformed files ---- */

START_TEST(test_syntax_error)
{
	expect_syntax_error("{\n  'name': 'chain3',\n  'servers': [,]\n}", 3, "");
	ck_assert_msg(strstr(err, "line 3 column 15: ") != NULL, "%s", err);
}
END_TEST

START_TEST(test_duplicate_json_key)
{
	expect_syntax_error("{'name':'a','name':'b','servers':[" SERVER1 "]}", 1, "duplicate");
}
END_TEST

START_TEST(test_empty_input)
{
	expect_syntax_error("", 1, "");
}
END_TEST

START_TEST(test_not_object)
{
	expect_error("['name']", "(root)", "must be an object, got an array");
	expect_error("42", "(root)", "must be an object, got an integer");
}
END_TEST

START_TEST(test_busy_poll_us)
{
	struct stack *s = parse_ok("{'name':'c','busy_poll_us':50,'servers':[" SERVER1 "]}");
	ck_assert_uint_eq(s->busy_poll_us, 50);
	stack_free(s);
	s = parse_ok("{'name':'c','servers':[" SERVER1 "]}");
	ck_assert_uint_eq(s->busy_poll_us, 0);
	stack_free(s);
	expect_error("{'name':'c','busy_poll_us':-1,'servers':[" SERVER1 "]}", "busy_poll_us",
		     "from 0 to 10000");
	expect_error("{'name':'c','busy_poll_us':'50','servers':[" SERVER1 "]}", "busy_poll_us",
		     "from 0 to 10000");
}
END_TEST

START_TEST(test_fast_path_keys)
{
	struct stack *s = parse_ok("{'name':'c','fast_path':true,'lane_spin_us':50,'servers':["
				   SERVER1 "]}");
	ck_assert_int_eq(s->fast_path, 1);
	ck_assert_uint_eq(s->lane_spin_us, 50);
	stack_free(s);
	s = parse_ok("{'name':'c','servers':[" SERVER1 "]}");
	ck_assert_int_eq(s->fast_path, 0);
	ck_assert_uint_eq(s->lane_spin_us, 0);
	stack_free(s);
	expect_error("{'name':'c','fast_path':'yes','servers':[" SERVER1 "]}", "fast_path",
		     "true or false");
	expect_error("{'name':'c','lane_spin_us':1001,'servers':[" SERVER1 "]}", "lane_spin_us",
		     "from 0 to 1000");
}
END_TEST

START_TEST(test_files)
{
	struct stack *s = parse_ok("{'name':'c','servers':[{'name':'d','exec':'disk','files':"
				   "[{'path':'a.img','write':true},{'path':'a.log','write':true,"
				   "'create':true},{'path':'ro'}]}]}");
	ck_assert_uint_eq(s->servers[0].nfiles, 3);
	ck_assert_str_eq(s->servers[0].files[1].path, "a.log");
	ck_assert(s->servers[0].files[0].write && !s->servers[0].files[0].create);
	ck_assert(s->servers[0].files[1].write && s->servers[0].files[1].create);
	ck_assert(!s->servers[0].files[2].write && !s->servers[0].files[2].create);
	stack_free(s);
	expect_error("{'name':'c','servers':[{'name':'d','exec':'disk','files':[{'path':'l',"
		     "'create':true}]}]}", "servers[0].files[0].create", "needs \"write\": true");
	expect_error("{'name':'c','servers':[{'name':'d','exec':'disk','files':[{'path':'l',"
		     "'write':true,'create':1}]}]}", "servers[0].files[0].create", "true or false");
	expect_error("{'name':'c','servers':[{'name':'d','exec':'disk','files':[{'path':'l',"
		     "'mode':1}]}]}", "servers[0].files[0]", "mode");
}
END_TEST

/* "injectable": known system calls the server's sandbox allows, never one
 * whose rule looks at arguments, and only with a sandbox that asks antd. */
static void resolve_error(const char *sq, const char *what)
{
	struct stack *s = parse_ok(sq);
	const char *search = getenv("ANT_POLICY_PATH");
	ck_assert_int_eq(stack_resolve_policies(s, search ? search : "policies", err, sizeof err), -1);
	ck_assert_msg(strstr(err, what), "error \"%s\" does not say \"%s\"", err, what);
	stack_free(s);
}

START_TEST(test_injectable)
{
	struct stack *s = parse_ok("{'name':'c','servers':[{'name':'d','exec':'disk','sandbox':'blockio',"
				   "'injectable':['pread64','sendfile']}]}");
	ck_assert_uint_eq(s->servers[0].ninjectable, 2);
	const char *search = getenv("ANT_POLICY_PATH");
	ck_assert_msg(stack_resolve_policies(s, search ? search : "policies", err, sizeof err) == 0,
		      "%s", err);
	ck_assert(sandbox_injectable(&s->servers[0].sandbox, s->servers[0].injectable[0]));
	stack_free(s);
	expect_error("{'name':'c','servers':[{'name':'d','exec':'disk','injectable':['nosuch']}]}",
		     "servers[0].injectable[0]", "unknown system call \"nosuch\"");
	expect_error("{'name':'c','servers':[{'name':'d','exec':'disk','injectable':['fcntl']}]}",
		     "servers[0].injectable[0]", "fcntl cannot be injectable");
	expect_error("{'name':'c','servers':[{'name':'d','exec':'disk','injectable':['read','sendmsg']}]}",
		     "servers[0].injectable[1]", "sendmsg cannot be injectable");
	expect_error("{'name':'c','servers':[{'name':'d','exec':'disk','injectable':'pread64'}]}",
		     "servers[0].injectable", "must be an array");
	resolve_error("{'name':'c','servers':[{'name':'d','exec':'disk','injectable':['socket']}]}",
		      "socket is not allowed by sandbox default");
	resolve_error("{'name':'c','servers':[{'name':'d','exec':'disk','sandbox':'none',"
		      "'injectable':['read']}]}", "needs a sandbox with action \"kill\"");
}
END_TEST

START_TEST(test_cpu_affinity)
{
	struct stack *s = parse_ok("{'name':'c','cpu_affinity':[0,1],'servers':[" SERVER1 "]}");
	ck_assert_uint_eq(s->ncpus, 2);
	ck_assert(CPU_ISSET(0, &s->cpus) && CPU_ISSET(1, &s->cpus) && !CPU_ISSET(2, &s->cpus));
	stack_free(s);
	s = parse_ok("{'name':'c','servers':[" SERVER1 "]}");
	ck_assert_uint_eq(s->ncpus, 0);
	stack_free(s);
	expect_error("{'name':'c','cpu_affinity':[],'servers':[" SERVER1 "]}", "cpu_affinity",
		     "non-empty array");
	expect_error("{'name':'c','cpu_affinity':3,'servers':[" SERVER1 "]}", "cpu_affinity",
		     "non-empty array");
	expect_error("{'name':'c','cpu_affinity':[0,-1],'servers':[" SERVER1 "]}", "cpu_affinity[1]",
		     "CPU number");
	expect_error("{'name':'c','cpu_affinity':['0'],'servers':[" SERVER1 "]}", "cpu_affinity[0]",
		     "CPU number");
	expect_error("{'name':'c','cpu_affinity':[4096],'servers':[" SERVER1 "]}", "cpu_affinity[0]",
		     "CPU number");
}
END_TEST

START_TEST(test_missing_name)
{
	expect_error("{'servers':[" SERVER1 "]}", "(root)", "missing key \"name\"");
	ck_assert_str_eq(err, "chain.json: (root): missing key \"name\"");
}
END_TEST

START_TEST(test_name_bad_chars)
{
	expect_error("{'name':'Chain 3','servers':[" SERVER1 "]}", "name",
		     "\"Chain 3\" is not a valid name");
}
END_TEST

START_TEST(test_name_too_long)
{
	/* 32 bytes: one more than fits in ANT_NAME_MAX with its NUL. */
	expect_error("{'name':'abcdefghijklmnopqrstuvwxyz012345','servers':[" SERVER1 "]}",
		     "name", "too long (32 bytes, at most 31)");
}
END_TEST

START_TEST(test_name_empty)
{
	expect_error("{'name':'','servers':[" SERVER1 "]}", "name", "must not be empty");
}
END_TEST

START_TEST(test_name_not_string)
{
	expect_error("{'name':3,'servers':[" SERVER1 "]}", "name",
		     "must be a string, got an integer");
}
END_TEST

START_TEST(test_missing_servers)
{
	expect_error("{'name':'x'}", "(root)", "missing key \"servers\"");
}
END_TEST

START_TEST(test_empty_servers)
{
	expect_error("{'name':'x','servers':[]}", "servers", "at least one server");
}
END_TEST

START_TEST(test_servers_not_array)
{
	expect_error("{'name':'x','servers':{'relay1':{}}}", "servers",
		     "must be an array, got an object");
}
END_TEST

START_TEST(test_server_not_object)
{
	expect_error("{'name':'x','servers':[" SERVER1 ",'relay2']}", "servers[1]",
		     "must be an object, got a string");
}
END_TEST

START_TEST(test_missing_exec)
{
	expect_error("{'name':'x','servers':[{'name':'relay1'}]}", "servers[0]",
		     "missing key \"exec\"");
	ck_assert_str_eq(err, "chain.json: servers[0]: missing key \"exec\"");
}
END_TEST

START_TEST(test_missing_server_name)
{
	expect_error("{'name':'x','servers':[" SERVER1 ",{'exec':'relay'}]}", "servers[1]",
		     "missing key \"name\"");
}
END_TEST

START_TEST(test_server_name_bad_chars)
{
	expect_error("{'name':'x','servers':[{'name':'relay/1','exec':'relay'}]}",
		     "servers[0].name", "is not a valid name");
}
END_TEST

START_TEST(test_exec_not_string)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':['relay']}]}",
		     "servers[0].exec", "must be a string, got an array");
}
END_TEST

START_TEST(test_exec_empty)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':''}]}",
		     "servers[0].exec", "must not be empty");
}
END_TEST

START_TEST(test_exec_nul_byte)
{
	/* jansson refuses it, so no C string is ever cut short by a NUL. */
	expect_syntax_error("{'name':'x','servers':[{'name':'relay1','exec':'re\\u0000lay'}]}",
			    1, "is not allowed");
}
END_TEST

START_TEST(test_args_not_array)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay','args':'-v'}]}",
		     "servers[0].args", "must be an array of strings, got a string");
}
END_TEST

START_TEST(test_args_not_strings)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'args':['--n',2]}]}",
		     "servers[0].args[1]", "must be a string, got an integer");
}
END_TEST

START_TEST(test_too_many_args)
{
	char json[1024] = "{'name':'x','servers':[{'name':'relay1','exec':'relay','args':[";
	int i;

	for (i = 0; i < STACK_ARGS_MAX + 1; i++)
		strcat(json, i ? ",'a'" : "'a'");
	strcat(json, "]}]}");
	expect_error(json, "servers[0].args", "too many arguments (33, at most 32)");
}
END_TEST

START_TEST(test_calls_unknown_server)
{
	expect_error("{'name':'x','servers':[" SERVER1 ","
		     "{'name':'relay2','exec':'relay','calls':['relay9']}]}",
		     "servers[1].calls[0]", "unknown server \"relay9\"");
	ck_assert_str_eq(err, "chain.json: servers[1].calls[0]: unknown server \"relay9\"");
}
END_TEST

START_TEST(test_calls_itself)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'calls':['relay1']}]}",
		     "servers[0].calls[0]", "cannot call itself");
}
END_TEST

START_TEST(test_calls_duplicate)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'calls':['relay2','relay2']},{'name':'relay2','exec':'relay'}]}",
		     "servers[0].calls[1]", "\"relay2\" is listed twice");
}
END_TEST

START_TEST(test_calls_not_array)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'calls':'relay2'},{'name':'relay2','exec':'relay'}]}",
		     "servers[0].calls", "must be an array of server names");
}
END_TEST

START_TEST(test_calls_not_string)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'calls':[2]},{'name':'relay2','exec':'relay'}]}",
		     "servers[0].calls[0]", "must be a string, got an integer");
}
END_TEST

START_TEST(test_max_inflight_zero)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'max_inflight':0}]}",
		     "servers[0].max_inflight", "must be an integer from 1 to 64, got 0");
	ck_assert_str_eq(err, "chain.json: servers[0].max_inflight: "
			      "must be an integer from 1 to 64, got 0");
}
END_TEST

START_TEST(test_max_inflight_65)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'max_inflight':65}]}",
		     "servers[0].max_inflight", "must be an integer from 1 to 64, got 65");
}
END_TEST

START_TEST(test_max_inflight_string)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'max_inflight':'4'}]}",
		     "servers[0].max_inflight", "must be an integer from 1 to 64, got a string");
}
END_TEST

START_TEST(test_max_inflight_real)
{
	expect_error("{'name':'x','servers':[{'name':'relay1','exec':'relay',"
		     "'max_inflight':4.0}]}",
		     "servers[0].max_inflight", "got a real number");
}
END_TEST

START_TEST(test_duplicate_server_name)
{
	expect_error("{'name':'x','servers':[" SERVER1 ",{'name':'relay2','exec':'relay'},"
		     SERVER1 "]}",
		     "servers[2].name", "duplicate server name \"relay1\"");
	ck_assert_str_eq(err, "chain.json: servers[2].name: duplicate server name \"relay1\"");
}
END_TEST

START_TEST(test_unknown_key_root)
{
	expect_error("{'name':'x','sever':[" SERVER1 "]}", "(root)", "unknown key \"sever\"");
	ck_assert_str_eq(err, "chain.json: (root): unknown key \"sever\"");
}
END_TEST

START_TEST(test_unknown_key_server)
{
	expect_error("{'name':'x','servers':[" SERVER1 ",{'name':'relay2','exec':'relay',"
		     "'max_inflght':2}]}",
		     "servers[1]", "unknown key \"max_inflght\"");
}
END_TEST

START_TEST(test_unknown_key_apps)
{
	expect_error("{'name':'x','apps':{'call':['relay1']},'servers':[" SERVER1 "]}",
		     "apps", "unknown key \"call\"");
}
END_TEST

START_TEST(test_unknown_key_one_line)
{
	/* A newline inside a key must not break the one-line error. */
	expect_error("{'name':'x','na\\nme':1,'servers':[" SERVER1 "]}", "(root)",
		     "unknown key \"na\\x0ame\"");
}
END_TEST

START_TEST(test_apps_not_object)
{
	expect_error("{'name':'x','apps':['relay1'],'servers':[" SERVER1 "]}", "apps",
		     "must be an object, got an array");
}
END_TEST

START_TEST(test_apps_calls_unknown)
{
	expect_error("{'name':'x','apps':{'calls':['relay1','relay3']},'servers':["
		     SERVER1 "]}",
		     "apps.calls[1]", "unknown server \"relay3\"");
}
END_TEST

START_TEST(test_apps_calls_duplicate)
{
	expect_error("{'name':'x','apps':{'calls':['relay1','relay1']},'servers':["
		     SERVER1 "]}",
		     "apps.calls[1]", "listed twice");
}
END_TEST

START_TEST(test_run_dir_empty)
{
	expect_error("{'name':'x','run_dir':'','servers':[" SERVER1 "]}", "run_dir",
		     "must not be empty");
}
END_TEST

START_TEST(test_run_dir_not_string)
{
	expect_error("{'name':'x','run_dir':true,'servers':[" SERVER1 "]}", "run_dir",
		     "must be a string, got a boolean");
}
END_TEST

/* {"name":"x","servers":[ n servers named s1..sn ]}; caller frees. */
static char *n_servers(unsigned n)
{
	size_t cap = 64 + (size_t)n * 48;
	char *json = malloc(cap);
	size_t len;
	unsigned i;

	ck_assert_ptr_nonnull(json);
	len = (size_t)snprintf(json, cap, "{'name':'x','servers':[");
	for (i = 1; i <= n; i++)
		len += (size_t)snprintf(json + len, cap - len, "%s{'name':'s%u','exec':'relay'}",
					i > 1 ? "," : "", i);
	snprintf(json + len, cap - len, "]}");
	return json;
}

START_TEST(test_too_many_servers)
{
	char *json = n_servers(ANT_SERVERS_MAX + 1);

	expect_error(json, "servers", "too many servers (64, at most 63)");
	free(json);
}
END_TEST

START_TEST(test_load_missing_file)
{
	struct stack *s = stack_load("/nonexistent-ant-dir/chain.json", err, sizeof err);

	ck_assert_ptr_null(s);
	ck_assert_str_eq(err, "/nonexistent-ant-dir/chain.json: No such file or directory");
}
END_TEST

START_TEST(test_small_or_no_err_buffer)
{
	char small[12];

	ck_assert_ptr_null(stack_parse("{}", "chain.json", small, sizeof small));
	ck_assert_str_eq(small, "chain.json:");
	ck_assert_ptr_null(stack_parse("{}", "chain.json", NULL, 0));
}
END_TEST

/* ---- valid files ---- */

START_TEST(test_defaults)
{
	struct stack *s = parse_ok("{'name':'one','servers':[" SERVER1 "]}");

	ck_assert_str_eq(s->path, "chain.json");
	ck_assert_str_eq(s->name, "one");
	ck_assert_ptr_null(s->run_dir);
	ck_assert_uint_eq(s->nservers, 1);
	ck_assert_int_eq(s->app_calls_all, 1);
	ck_assert_uint_eq(s->napp_calls, 0);
	ck_assert_str_eq(s->servers[0].name, "relay1");
	ck_assert_str_eq(s->servers[0].exec, "relay");
	ck_assert_ptr_null(s->servers[0].exec_path);
	ck_assert_uint_eq(s->servers[0].id, 1);
	ck_assert_uint_eq(s->servers[0].max_inflight, 1);
	ck_assert_uint_eq(s->servers[0].nargs, 0);
	ck_assert_ptr_null(s->servers[0].args[0]);
	ck_assert_uint_eq(s->servers[0].ncalls, 0);
	stack_free(s);
}
END_TEST

static const char chain3[] =
	"{\n"
	"  'name': 'chain3',\n"
	"  'run_dir': '/tmp/chain3',\n"
	"  'apps': { 'calls': ['relay1'] },\n"
	"  'servers': [\n"
	"    { 'name': 'relay1', 'exec': 'relay', 'args': ['--next', 'relay2', ''],\n"
	"      'calls': ['relay2'], 'max_inflight': 4 },\n"
	"    { 'name': 'relay2', 'exec': './relay', 'calls': ['relay3', 'relay1'],\n"
	"      'max_inflight': 64 },\n"
	"    { 'name': 'relay3', 'exec': '/usr/bin/relay', 'args': [], 'calls': [] }\n"
	"  ]\n"
	"}\n";

START_TEST(test_chain)
{
	struct stack *s = parse_ok(chain3);
	const struct stack_server *r1 = &s->servers[0], *r2 = &s->servers[1], *r3 = &s->servers[2];

	ck_assert_str_eq(s->name, "chain3");
	ck_assert_str_eq(s->run_dir, "/tmp/chain3");
	ck_assert_uint_eq(s->nservers, 3);
	ck_assert_int_eq(s->app_calls_all, 0);
	ck_assert_uint_eq(s->napp_calls, 1);
	ck_assert_uint_eq(s->app_calls[0], 1);

	ck_assert_uint_eq(r1->id, 1);
	ck_assert_uint_eq(r2->id, 2);
	ck_assert_uint_eq(r3->id, 3);
	ck_assert_uint_eq(r1->max_inflight, 4);
	ck_assert_uint_eq(r2->max_inflight, 64);
	ck_assert_uint_eq(r3->max_inflight, 1);

	ck_assert_uint_eq(r1->nargs, 3);
	ck_assert_str_eq(r1->args[0], "--next");
	ck_assert_str_eq(r1->args[1], "relay2");
	ck_assert_str_eq(r1->args[2], "");
	ck_assert_ptr_null(r1->args[3]);
	ck_assert_uint_eq(r3->nargs, 0);

	ck_assert_uint_eq(r1->ncalls, 1);
	ck_assert_uint_eq(r1->calls[0], 2);
	ck_assert_uint_eq(r2->ncalls, 2);
	ck_assert_uint_eq(r2->calls[0], 3);
	ck_assert_uint_eq(r2->calls[1], 1);
	ck_assert_uint_eq(r3->ncalls, 0);

	ck_assert_ptr_eq(stack_find(s, "relay2"), r2);
	ck_assert_ptr_null(stack_find(s, "relay4"));
	ck_assert_ptr_null(stack_find(s, ""));
	stack_free(s);
}
END_TEST

START_TEST(test_may_call)
{
	struct stack *s = parse_ok(chain3);

	/* Applications: only what apps.calls lists. */
	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 1), 1);
	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 2), 0);
	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 3), 0);
	/* Servers: only their own calls list, one way. */
	ck_assert_int_eq(stack_may_call(s, 1, 2), 1);
	ck_assert_int_eq(stack_may_call(s, 2, 1), 1);
	ck_assert_int_eq(stack_may_call(s, 2, 3), 1);
	ck_assert_int_eq(stack_may_call(s, 3, 2), 0);
	ck_assert_int_eq(stack_may_call(s, 1, 3), 0);
	ck_assert_int_eq(stack_may_call(s, 1, 1), 0);
	/* Out of range either side. */
	ck_assert_int_eq(stack_may_call(s, 1, 0), 0);
	ck_assert_int_eq(stack_may_call(s, 1, 4), 0);
	ck_assert_int_eq(stack_may_call(s, 4, 1), 0);
	ck_assert_int_eq(stack_may_call(s, 1000, 2), 0);
	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 64), 0);
	ck_assert_int_eq(stack_may_call(NULL, ANT_PEER_APP, 1), 0);
	stack_free(s);
}
END_TEST

START_TEST(test_may_call_apps_default)
{
	struct stack *s = parse_ok("{'name':'x','servers':[" SERVER1 ",{'name':'relay2',"
				   "'exec':'relay'}]}");

	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 1), 1);
	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 2), 1);
	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 3), 0);
	ck_assert_int_eq(stack_may_call(s, 1, 2), 0);
	stack_free(s);
}
END_TEST

START_TEST(test_apps_empty)
{
	struct stack *s = parse_ok("{'name':'x','apps':{},'servers':[" SERVER1 "]}");

	ck_assert_int_eq(s->app_calls_all, 0);
	ck_assert_uint_eq(s->napp_calls, 0);
	ck_assert_int_eq(stack_may_call(s, ANT_PEER_APP, 1), 0);
	stack_free(s);
}
END_TEST

START_TEST(test_63_servers)
{
	char *json = n_servers(ANT_SERVERS_MAX);
	struct stack *s = parse_ok(json);

	ck_assert_uint_eq(s->nservers, ANT_SERVERS_MAX);
	ck_assert_str_eq(s->servers[62].name, "s63");
	ck_assert_uint_eq(s->servers[62].id, 63);
	ck_assert_ptr_eq(stack_find(s, "s63"), &s->servers[62]);
	stack_free(s);
	free(json);
}
END_TEST

START_TEST(test_name_31_bytes)
{
	struct stack *s = parse_ok("{'name':'abcdefghijklmnopqrstuvwxyz-_012',"
				   "'servers':[" SERVER1 "]}");

	ck_assert_str_eq(s->name, "abcdefghijklmnopqrstuvwxyz-_012");
	stack_free(s);
}
END_TEST

START_TEST(test_free_null)
{
	stack_free(NULL);
}
END_TEST

/* ---- files on disk and exec resolution (a temp folder per test case) ---- */

static char tmp_dir[256];        /* as created; short, so paths built on it fit */
static char tmp_real[PATH_MAX];  /* realpath of it: what resolved paths start with */

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0); /* not subject to the umask */
	close(fd);
}

static void files_setup(void)
{
	char path[PATH_MAX];

	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int n;

	n = snprintf(tmp_dir, sizeof tmp_dir, "%s/test-stackfile.XXXXXX", base);
	ck_assert_msg(n > 0 && (size_t)n < sizeof tmp_dir, "TMPDIR too long: %s", base);
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
	ck_assert_ptr_nonnull(realpath(tmp_dir, tmp_real));
	snprintf(path, sizeof path, "%s/bin", tmp_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/bin/sub", tmp_dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	write_file("bin/relay", "#!/bin/sh\nexit 0\n", 0755);
	write_file("bin/plain", "not a program\n", 0644);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void files_teardown(void)
{
	if (tmp_dir[0])
		nftw(tmp_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	tmp_dir[0] = '\0';
}

/* Parse as if the file were <tmp>/chain.json (relative execs start there). */
static struct stack *parse_in_tmp(const char *sq)
{
	char path[PATH_MAX];
	char *json = json_of(sq);
	struct stack *s;

	snprintf(path, sizeof path, "%s/chain.json", tmp_dir);
	s = stack_parse(json, path, err, sizeof err);
	free(json);
	ck_assert_msg(s != NULL, "unexpected error: %s", err);
	return s;
}

static void expect_resolve_error(struct stack *s, const char *search, const char *keypath,
				 const char *what)
{
	char prefix[PATH_MAX + 64];

	err[0] = '\0';
	ck_assert_int_eq(stack_resolve_execs(s, search, err, sizeof err), -1);
	snprintf(prefix, sizeof prefix, "%s: %s: ", s->path, keypath);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "error \"%s\" does not start with \"%s\"", err, prefix);
	ck_assert_msg(strstr(err, what) != NULL, "error \"%s\" does not say \"%s\"", err, what);
	ck_assert_msg(strchr(err, '\n') == NULL, "error is not one line: \"%s\"", err);
}

static void assert_in_tmp(const char *got, const char *rel)
{
	char want[PATH_MAX + 64];

	snprintf(want, sizeof want, "%s/%s", tmp_real, rel);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
}

START_TEST(test_load_file)
{
	char path[PATH_MAX];
	char *json = json_of(chain3);
	struct stack *s;

	write_file("chain.json", json, 0644);
	free(json);
	snprintf(path, sizeof path, "%s/chain.json", tmp_dir);
	s = stack_load(path, err, sizeof err);
	ck_assert_msg(s != NULL, "unexpected error: %s", err);
	ck_assert_str_eq(s->path, path);
	ck_assert_str_eq(s->name, "chain3");
	ck_assert_uint_eq(s->nservers, 3);
	stack_free(s);
}
END_TEST

START_TEST(test_load_file_error_names_file)
{
	char path[PATH_MAX], want[PATH_MAX + 64];

	write_file("bad.json", "{\"name\": \"x\", \"servers\": [{\"name\": \"relay1\"}]}", 0644);
	snprintf(path, sizeof path, "%s/bad.json", tmp_dir);
	ck_assert_ptr_null(stack_load(path, err, sizeof err));
	snprintf(want, sizeof want, "%s: servers[0]: missing key \"exec\"", path);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_load_directory)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/bin", tmp_dir);
	ck_assert_ptr_null(stack_load(path, err, sizeof err));
	ck_assert_msg(strstr(err, ": Is a directory") != NULL, "%s", err);
}
END_TEST

START_TEST(test_resolve_relative_with_slash)
{
	struct stack *s = parse_in_tmp("{'name':'x','servers':["
				       "{'name':'a','exec':'bin/relay'},"
				       "{'name':'b','exec':'./bin/relay'}]}");

	ck_assert_int_eq(stack_resolve_execs(s, NULL, err, sizeof err), 0);
	assert_in_tmp(s->servers[0].exec_path, "bin/relay");
	assert_in_tmp(s->servers[1].exec_path, "bin/relay");
	ck_assert_str_eq(s->servers[0].exec, "bin/relay");
	/* Resolving again replaces, and does not leak, the old paths. */
	ck_assert_int_eq(stack_resolve_execs(s, NULL, err, sizeof err), 0);
	assert_in_tmp(s->servers[1].exec_path, "bin/relay");
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_absolute)
{
	char sq[PATH_MAX + 128], want[PATH_MAX + 64];
	struct stack *s;

	snprintf(want, sizeof want, "%s/bin/relay", tmp_dir);
	snprintf(sq, sizeof sq, "{'name':'x','servers':[{'name':'a','exec':'%s'}]}", want);
	s = parse_in_tmp(sq);
	ck_assert_int_eq(stack_resolve_execs(s, "", err, sizeof err), 0);
	ck_assert_str_eq(s->servers[0].exec_path, want);
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_search_path)
{
	char search[PATH_MAX + 64];
	struct stack *s = parse_in_tmp("{'name':'x','servers':[{'name':'a','exec':'relay'}]}");

	/* Empty entries are skipped, missing folders hold nothing. */
	snprintf(search, sizeof search, ":/nonexistent-ant-dir::%s/bin/sub:%s/bin:", tmp_dir,
		 tmp_dir);
	ck_assert_int_eq(stack_resolve_execs(s, search, err, sizeof err), 0);
	assert_in_tmp(s->servers[0].exec_path, "bin/relay");
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_not_found)
{
	struct stack *s = parse_ok("{'name':'x','servers':[{'name':'a','exec':'relay9'}]}");

	ck_assert_int_eq(stack_resolve_execs(s, "/a:/b", err, sizeof err), -1);
	ck_assert_str_eq(err, "chain.json: servers[0].exec: \"relay9\" not found in /a:/b");
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_empty_search_path)
{
	struct stack *s = parse_ok("{'name':'x','servers':[{'name':'a','exec':'relay'}]}");

	expect_resolve_error(s, "::", "servers[0].exec", "search path is empty");
	expect_resolve_error(s, NULL, "servers[0].exec", "search path is empty");
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_search_not_executable)
{
	char search[PATH_MAX + 16];
	struct stack *s = parse_in_tmp("{'name':'x','servers':[{'name':'a','exec':'plain'}]}");

	snprintf(search, sizeof search, "%s/bin", tmp_dir);
	expect_resolve_error(s, search, "servers[0].exec", "\"plain\" not found in ");
	ck_assert_msg(strstr(err, "/bin/plain is not executable)") != NULL, "%s", err);
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_relative_not_executable)
{
	struct stack *s = parse_in_tmp("{'name':'x','servers':[{'name':'a','exec':'bin/relay'},"
				       "{'name':'b','exec':'bin/plain'}]}");

	expect_resolve_error(s, NULL, "servers[1].exec", "\"bin/plain\" (");
	ck_assert_msg(strstr(err, "/bin/plain) is not executable") != NULL, "%s", err);
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_absolute_not_executable)
{
	char sq[PATH_MAX + 128], want[PATH_MAX + 64];
	struct stack *s;

	snprintf(sq, sizeof sq, "{'name':'x','servers':[{'name':'a','exec':'%s/bin/plain'}]}",
		 tmp_dir);
	s = parse_in_tmp(sq);
	snprintf(want, sizeof want, "\"%s/bin/plain\" is not executable", tmp_dir);
	expect_resolve_error(s, NULL, "servers[0].exec", want);
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_directory)
{
	struct stack *s = parse_in_tmp("{'name':'x','servers':[{'name':'a','exec':'bin/sub'}]}");

	expect_resolve_error(s, NULL, "servers[0].exec", "is not a regular file");
	stack_free(s);
}
END_TEST

START_TEST(test_resolve_missing_relative)
{
	struct stack *s = parse_in_tmp("{'name':'x','servers':[{'name':'a','exec':'bin/nope'}]}");

	expect_resolve_error(s, NULL, "servers[0].exec", "No such file or directory");
	stack_free(s);
}
END_TEST

Suite *stackfile_suite(void);

Suite *stackfile_suite(void)
{
	Suite *s = suite_create("stackfile");
	TCase *bad = tcase_create("malformed");
	TCase *good = tcase_create("valid");
	TCase *files = tcase_create("files");

	tcase_add_test(bad, test_syntax_error);
	tcase_add_test(bad, test_duplicate_json_key);
	tcase_add_test(bad, test_empty_input);
	tcase_add_test(bad, test_not_object);
	tcase_add_test(bad, test_missing_name);
	tcase_add_test(bad, test_cpu_affinity);
	tcase_add_test(bad, test_files);
	tcase_add_test(bad, test_injectable);
	tcase_add_test(bad, test_busy_poll_us);
	tcase_add_test(bad, test_fast_path_keys);
	tcase_add_test(bad, test_name_bad_chars);
	tcase_add_test(bad, test_name_too_long);
	tcase_add_test(bad, test_name_empty);
	tcase_add_test(bad, test_name_not_string);
	tcase_add_test(bad, test_missing_servers);
	tcase_add_test(bad, test_empty_servers);
	tcase_add_test(bad, test_servers_not_array);
	tcase_add_test(bad, test_server_not_object);
	tcase_add_test(bad, test_missing_exec);
	tcase_add_test(bad, test_missing_server_name);
	tcase_add_test(bad, test_server_name_bad_chars);
	tcase_add_test(bad, test_exec_not_string);
	tcase_add_test(bad, test_exec_empty);
	tcase_add_test(bad, test_exec_nul_byte);
	tcase_add_test(bad, test_args_not_array);
	tcase_add_test(bad, test_args_not_strings);
	tcase_add_test(bad, test_too_many_args);
	tcase_add_test(bad, test_calls_unknown_server);
	tcase_add_test(bad, test_calls_itself);
	tcase_add_test(bad, test_calls_duplicate);
	tcase_add_test(bad, test_calls_not_array);
	tcase_add_test(bad, test_calls_not_string);
	tcase_add_test(bad, test_max_inflight_zero);
	tcase_add_test(bad, test_max_inflight_65);
	tcase_add_test(bad, test_max_inflight_string);
	tcase_add_test(bad, test_max_inflight_real);
	tcase_add_test(bad, test_duplicate_server_name);
	tcase_add_test(bad, test_unknown_key_root);
	tcase_add_test(bad, test_unknown_key_server);
	tcase_add_test(bad, test_unknown_key_apps);
	tcase_add_test(bad, test_unknown_key_one_line);
	tcase_add_test(bad, test_apps_not_object);
	tcase_add_test(bad, test_apps_calls_unknown);
	tcase_add_test(bad, test_apps_calls_duplicate);
	tcase_add_test(bad, test_run_dir_empty);
	tcase_add_test(bad, test_run_dir_not_string);
	tcase_add_test(bad, test_too_many_servers);
	tcase_add_test(bad, test_load_missing_file);
	tcase_add_test(bad, test_small_or_no_err_buffer);
	suite_add_tcase(s, bad);

	tcase_add_test(good, test_defaults);
	tcase_add_test(good, test_chain);
	tcase_add_test(good, test_may_call);
	tcase_add_test(good, test_may_call_apps_default);
	tcase_add_test(good, test_apps_empty);
	tcase_add_test(good, test_63_servers);
	tcase_add_test(good, test_name_31_bytes);
	tcase_add_test(good, test_free_null);
	suite_add_tcase(s, good);

	/* Unchecked fixtures run in the parent: the folder goes even if a test dies. */
	tcase_add_unchecked_fixture(files, files_setup, files_teardown);
	tcase_add_test(files, test_load_file);
	tcase_add_test(files, test_load_file_error_names_file);
	tcase_add_test(files, test_load_directory);
	tcase_add_test(files, test_resolve_relative_with_slash);
	tcase_add_test(files, test_resolve_absolute);
	tcase_add_test(files, test_resolve_search_path);
	tcase_add_test(files, test_resolve_not_found);
	tcase_add_test(files, test_resolve_empty_search_path);
	tcase_add_test(files, test_resolve_search_not_executable);
	tcase_add_test(files, test_resolve_relative_not_executable);
	tcase_add_test(files, test_resolve_absolute_not_executable);
	tcase_add_test(files, test_resolve_directory);
	tcase_add_test(files, test_resolve_missing_relative);
	suite_add_tcase(s, files);

	return s;
}

#include "check_main.h"
ANT_TEST_MAIN(stackfile_suite)
