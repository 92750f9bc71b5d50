/* Unit tests for run specs and run results (shared/runspec.c). */
#include <jansson.h>

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/cleanup.h"
#include "shared/runspec.h"
#include "shared/util.h"

static const char *top_file(const char *rel)
{
	static char buf[4096];
	const char *env = getenv("AL_TOP");
	const char *prefixes[] = {"", "../", "../../", "../../../", NULL};

	if (env) {
		snprintf(buf, sizeof(buf), "%s/%s", env, rel);
		return buf;
	}
	for (int i = 0; prefixes[i]; i++) {
		snprintf(buf, sizeof(buf), "%s%s", prefixes[i], rel);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return rel;
}

#define assert_has(msg, sub)                                                                       \
	ck_assert_msg(strstr((msg), (sub)) != NULL, "\"%s\" not in \"%s\"", (sub), (msg))

static struct al_policy *pol;

static void load_policy(void)
{
	al_err e = {0};
	ck_assert_msg(al_policy_load_file(top_file("policy/default.json"), &pol, &e) == 0, "%s",
		      e.msg);
}

static void free_policy(void)
{
	al_policy_free(pol);
	pol = NULL;
}

static char **strv(const char *a, ...)
{
	va_list ap;
	size_t n = 0;
	char **v = calloc(16, sizeof(char *));

	va_start(ap, a);
	for (const char *s = a; s && n < 15; s = va_arg(ap, const char *))
		v[n++] = strdup(s);
	va_end(ap);
	return v;
}

/* A spec as the gateway would build it from the default policy. */
static void make_spec(struct al_run_spec *s, const char *profile)
{
	al_err e = {0};
	const struct al_profile *p = al_policy_find_profile(pol, profile);
	struct al_limits req;

	ck_assert_ptr_nonnull(p);
	al_run_spec_init(s);
	ck_assert_int_eq(al_profile_copy(&s->profile, p, &e), 0);
	ck_assert_int_eq(al_syscall_profile_copy(&s->sc, p->sc, &e), 0);
	s->profile.sc = &s->sc;
	al_limits_init(&req);
	req.mem_max_mb = 256;
	req.timeout_sec = 999;
	al_limits_effective(&p->limits, &req, &s->limits);
	s->run_id = strdup("r-0123456789abcdef");
	s->identity = strdup("agent-1");
	s->cwd = strdup("/work/sub");
	s->uid = 1000;
	s->gid = 1001;
	s->env = strv("HOME=/work", "LANG=C.UTF-8", "EMPTY=", "X=a=b", NULL);
	s->stdin_data = malloc(5);
	memcpy(s->stdin_data, "in\0pu", 5);
	s->stdin_len = 5;
}

/* to_json, dump, reload (NUL allowed, as agentrun reads it), from_json. */
static int reparse(const struct al_run_spec *s, struct al_run_spec *out, al_err *e)
{
	json_t *j = al_run_spec_to_json(s);
	ck_assert_ptr_nonnull(j);
	cleanup_free char *txt = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	ck_assert_ptr_nonnull(txt);
	json_t *back = json_loads(txt, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(back);
	int r = al_run_spec_from_json(back, out, e);
	json_decref(back);
	return r;
}

START_TEST(spec_round_trip_command)
{
	struct al_run_spec s, t;
	al_err e = {0};

	make_spec(&s, "command_default");
	s.argv = strv("/usr/bin/git", "log", "--oneline", "", NULL);
	ck_assert_msg(reparse(&s, &t, &e) == 0, "%s", e.msg);

	json_t *a = al_run_spec_to_json(&s), *b = al_run_spec_to_json(&t);
	ck_assert(json_equal(a, b));
	json_decref(a);
	json_decref(b);

	ck_assert_str_eq(t.run_id, "r-0123456789abcdef");
	ck_assert_str_eq(t.identity, "agent-1");
	ck_assert_str_eq(t.profile.name, "command_default");
	ck_assert_ptr_eq(t.profile.sc, &t.sc);
	ck_assert_str_eq(t.sc.name, "restricted");
	ck_assert_uint_eq(t.sc.deny.n, s.sc.deny.n);
	ck_assert_str_eq(t.profile.fs.workspace, "/var/lib/agentlaunch/work/{identity}");
	ck_assert_mem_eq(&t.limits, &s.limits, sizeof(s.limits));
	ck_assert_int_eq(t.limits.mem_max_mb, 256);
	ck_assert_int_eq(t.limits.timeout_sec, 60);
	ck_assert_str_eq(t.argv[0], "/usr/bin/git");
	ck_assert_str_eq(t.argv[3], "");
	ck_assert_ptr_null(t.argv[4]);
	ck_assert_ptr_null(t.code);
	ck_assert_uint_eq(t.stdin_len, 5);
	ck_assert_mem_eq(t.stdin_data, "in\0pu", 5);
	ck_assert_str_eq(t.env[0], "HOME=/work");
	ck_assert_str_eq(t.env[2], "EMPTY=");
	ck_assert_str_eq(t.env[3], "X=a=b");
	ck_assert_ptr_null(t.env[4]);
	ck_assert_str_eq(t.cwd, "/work/sub");
	ck_assert_int_eq(t.uid, 1000);
	ck_assert_int_eq(t.gid, 1001);
	al_run_spec_free(&s);
	al_run_spec_free(&t);
	al_run_spec_free(&t); /* idempotent */
}
END_TEST

START_TEST(spec_round_trip_code)
{
	struct al_run_spec s, t;
	al_err e = {0};
	const char code[] = "print('h\xc3\xa9llo')\nimport sys\n";

	make_spec(&s, "python_sandbox");
	s.code = strdup(code);
	s.code_len = strlen(code);
	ck_assert_msg(reparse(&s, &t, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(t.code_len, strlen(code));
	ck_assert_str_eq(t.code, code);
	ck_assert_ptr_null(t.argv);
	ck_assert_str_eq(t.profile.language, "python");
	ck_assert(t.profile.deny_spawn_processes);
	ck_assert_int_eq(t.limits.timeout_sec, 30);
	ck_assert_int_eq(t.limits.max_stdout_bytes, 200000);
	al_run_spec_free(&t);

	/* minimal spec: defaults for uid/gid, limits from the profile */
	json_t *j = al_run_spec_to_json(&s);
	json_object_del(j, "limits");
	json_object_del(j, "uid");
	json_object_del(j, "gid");
	json_object_del(j, "run_id");
	json_object_del(j, "identity");
	json_object_del(j, "env");
	json_object_del(j, "stdin");
	json_object_del(j, "cwd");
	json_object_del(j, "profile_name");
	ck_assert_msg(al_run_spec_from_json(j, &t, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(t.uid, 65534);
	ck_assert_int_eq(t.gid, 65534);
	ck_assert_int_eq(t.limits.timeout_sec, 30);
	ck_assert_int_eq(t.limits.mem_max_mb, 512);
	ck_assert_int_eq(t.limits.max_open_files, AL_DEFAULT_MAX_OPEN_FILES);
	ck_assert_ptr_null(t.run_id);
	ck_assert_ptr_null(t.env);
	ck_assert_ptr_null(t.stdin_data);
	ck_assert_ptr_null(t.profile.name);
	al_run_spec_free(&t);
	json_decref(j);
	al_run_spec_free(&s);
}
END_TEST

/* Modify one field of a valid spec and expect a rejection naming it. */
static void spec_reject(const char *key, json_t *value, const char *want)
{
	struct al_run_spec s, t;
	al_err e = {0};

	make_spec(&s, "command_default");
	s.argv = strv("/bin/echo", "hi", NULL);
	json_t *j = al_run_spec_to_json(&s);
	al_run_spec_free(&s);
	if (value)
		json_object_set_new(j, key, value);
	else
		json_object_del(j, key);
	ck_assert_msg(al_run_spec_from_json(j, &t, &e) < 0, "accepted %s", key);
	json_decref(j);
	assert_has(e.msg, want);
	ck_assert_ptr_null(t.argv);
	ck_assert_ptr_null(t.run_id);
	ck_assert_ptr_null(t.profile.fs.cwd);
}

START_TEST(spec_rejections)
{
	spec_reject("bogus", json_true(), "spec.bogus: unknown field");
	spec_reject("argv", json_array(), "spec.argv: must be a non-empty array");
	spec_reject("argv", NULL, "spec.argv: is required");
	spec_reject("argv", json_pack("[s,s]", "echo", "hi"), "spec.argv[0]: must be an absolute");
	spec_reject("argv", json_pack("[s,i]", "/bin/echo", 1), "spec.argv[1]: must be a string");
	spec_reject("argv", json_pack("[s,s%]", "/bin/echo", "a\0b", (size_t)3),
		    "spec.argv[1]: must be a string without NUL");
	spec_reject("code", json_stringn("print(1)\0", 9), "spec.code: must not contain NUL");
	spec_reject("code", json_string("print(1)"), "spec.code: needs a profile with a");
	spec_reject("run_id", json_string("x-12"), "spec.run_id: must be \"r-\"");
	spec_reject("run_id", json_string("r-ABC"), "spec.run_id");
	spec_reject("identity", json_string("../x"), "spec.identity: must be 1 to 64");
	spec_reject("cwd", json_string("work"), "spec.cwd: must be an absolute path");
	spec_reject("uid", json_integer(0), "spec.uid: must be an integer between 1");
	spec_reject("gid", json_string("1"), "spec.gid: must be an integer");
	spec_reject("limits", json_pack("{s:s}", "mem_max_mb", "1"),
		    "spec.limits.mem_max_mb: must be an integer between 4 and 1048576");
	spec_reject("profile", NULL, "spec.profile: is required");
	spec_reject("profile", json_pack("{s:s}", "network", "none"),
		    "spec.profile.fs: is required");
	spec_reject("syscall_profile",
		    json_pack("{s:s, s:[s]}", "default", "allow", "deny", "nope"),
		    "spec.syscall_profile.deny[0]: unknown system call \"nope\"");
	spec_reject("stdin", json_integer(1), "spec.stdin: must be a string");
}
END_TEST

START_TEST(spec_limits_clamped)
{
	struct al_run_spec s, t;
	al_err e = {0};

	make_spec(&s, "command_default");
	s.argv = strv("/bin/true", NULL);
	json_t *j = al_run_spec_to_json(&s);
	json_object_set_new(j, "limits",
			    json_pack("{s:i, s:i, s:i}", "mem_max_mb", 1048576, "pids_max", 100000,
				      "timeout_sec", 5));
	ck_assert_msg(al_run_spec_from_json(j, &t, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(t.limits.mem_max_mb, 512);
	ck_assert_int_eq(t.limits.pids_max, 64);
	ck_assert_int_eq(t.limits.timeout_sec, 5);
	json_decref(j);
	al_run_spec_free(&s);
	al_run_spec_free(&t);
}
END_TEST

static void env_reject(const char *k, json_t *v, const char *want)
{
	struct al_run_spec s, t;
	al_err e = {0};

	make_spec(&s, "command_default");
	s.argv = strv("/bin/env", NULL);
	json_t *j = al_run_spec_to_json(&s);
	al_run_spec_free(&s);
	json_object_set_new(json_object_get(j, "env"), k, v);
	ck_assert_msg(al_run_spec_from_json(j, &t, &e) < 0, "env %s accepted", k);
	json_decref(j);
	assert_has(e.msg, want);
	ck_assert_ptr_null(t.env);
}

START_TEST(env_rejections)
{
	env_reject("LD_PRELOAD", json_string("/work/x.so"), "spec.env.LD_PRELOAD: not allowed");
	env_reject("LD_LIBRARY_PATH", json_string("/work"),
		   "spec.env.LD_LIBRARY_PATH: not allowed");
	env_reject("LD_AUDIT", json_string("/work/a.so"), "spec.env.LD_AUDIT: not allowed");
	env_reject("LD_anything", json_string("1"), "spec.env.LD_anything: not allowed");
	env_reject("GLIBC_TUNABLES", json_string("x"), "spec.env.GLIBC_TUNABLES: not allowed");
	env_reject("BASH_ENV", json_string("/work/rc"), "spec.env.BASH_ENV: not allowed");
	env_reject("PYTHONPATH", json_string("/work"), "spec.env.PYTHONPATH: not allowed");
	env_reject("GIT_SSH_COMMAND", json_string("sh"), "spec.env.GIT_SSH_COMMAND: not allowed");
	env_reject("GIT_CONFIG_KEY_0", json_string("core.pager"), "spec.env.GIT_CONFIG_KEY_0");
	env_reject("1ABC", json_string("x"), "spec.env: invalid variable name \"1ABC\"");
	env_reject("A-B", json_string("x"), "spec.env: invalid variable name \"A-B\"");
	env_reject("", json_string("x"), "spec.env: invalid variable name \"\"");
	env_reject("A=B", json_string("x"), "spec.env: invalid variable name \"A=B\"");
	env_reject("OK", json_integer(1), "spec.env.OK: must be a string");
	env_reject("OK", json_stringn("a\0b", 3), "spec.env.OK: must be a string without NUL");

	/* accepted names */
	struct al_run_spec s, t;
	al_err e = {0};
	make_spec(&s, "command_default");
	s.argv = strv("/bin/env", NULL);
	json_t *j = al_run_spec_to_json(&s);
	json_object_set_new(json_object_get(j, "env"), "_x1", json_string("v"));
	json_object_set_new(json_object_get(j, "env"), "PYTHONUNBUFFERED", json_string("1"));
	json_object_set_new(json_object_get(j, "env"), "PATH", json_string("/usr/bin"));
	ck_assert_msg(al_run_spec_from_json(j, &t, &e) == 0, "%s", e.msg);
	json_decref(j);
	al_run_spec_free(&s);
	al_run_spec_free(&t);

	json_t *bad = json_pack("{s:o, s:o, s:[s], s:s}", "profile", json_object(),
				"syscall_profile", json_object(), "argv", "/bin/true", "env", "x");
	ck_assert_int_lt(al_run_spec_from_json(bad, &t, &e), 0);
	json_decref(bad);
	bad = json_string("x");
	ck_assert_int_lt(al_run_spec_from_json(bad, &t, &e), 0);
	assert_has(e.msg, "spec: must be a JSON object");
	json_decref(bad);
}
END_TEST

/* ---- results ----------------------------------------------------------- */

static void make_result(struct al_run_result *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->run_id, sizeof(r->run_id), "r-00ff");
	r->exit_code = 3;
	r->wall_time_ms = 12;
	r->cpu_time_ms = 3;
	r->peak_mem_mb = 2;
	r->truncated_stderr = true;
	r->out = strdup("hello\n");
	r->out_len = 6;
	r->errb = strdup("warn\n");
	r->err_len = 5;
	snprintf(r->layers, sizeof(r->layers), "ns:mnt,pid;seccomp");
	r->violations = 2;
}

START_TEST(result_fields)
{
	static const char *want[] = {
	    "run_id",		"exit_code",	    "signal",	   "stdout",	 "stderr",
	    "wall_time_ms",	"cpu_time_ms",	    "peak_mem_mb", "timed_out",	 "oom_killed",
	    "truncated_stdout", "truncated_stderr", "layers",	   "violations", NULL};
	struct al_run_result r;
	size_t n = 0;

	make_result(&r);
	json_t *j = al_run_result_to_json(&r);
	ck_assert_ptr_nonnull(j);
	for (n = 0; want[n]; n++)
		ck_assert_msg(json_object_get(j, want[n]) != NULL, "no %s", want[n]);
	ck_assert_uint_eq(json_object_size(j), n);
	ck_assert_ptr_null(json_object_get(j, "code_sha256"));
	ck_assert_str_eq(json_string_value(json_object_get(j, "run_id")), "r-00ff");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "exit_code")), 3);
	ck_assert(json_is_null(json_object_get(j, "signal")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "stdout")), "hello\n");
	ck_assert_str_eq(json_string_value(json_object_get(j, "stderr")), "warn\n");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "wall_time_ms")), 12);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "cpu_time_ms")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "peak_mem_mb")), 2);
	ck_assert(json_is_false(json_object_get(j, "timed_out")));
	ck_assert(json_is_false(json_object_get(j, "oom_killed")));
	ck_assert(json_is_false(json_object_get(j, "truncated_stdout")));
	ck_assert(json_is_true(json_object_get(j, "truncated_stderr")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "layers")), "ns:mnt,pid;seccomp");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "violations")), 2);
	json_decref(j);

	/* code runs add code_sha256 */
	al_sha256_hex("print(1)", 8, r.code_sha256);
	j = al_run_result_to_json(&r);
	ck_assert_uint_eq(json_object_size(j), n + 1);
	ck_assert_str_eq(json_string_value(json_object_get(j, "code_sha256")), r.code_sha256);
	json_decref(j);

	/* killed by a signal: 128+N and the signal number */
	r.exit_code = -1;
	r.signal = 9;
	j = al_run_result_to_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "exit_code")), 137);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "signal")), 9);
	struct al_run_result back;
	al_err e = {0};
	ck_assert_msg(al_run_result_from_json(j, &back, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(back.exit_code, 137);
	ck_assert_int_eq(back.signal, 9);
	json_decref(j);
	r.exit_code = 137; /* a runner may already have set 128+N */
	j = al_run_result_to_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "exit_code")), 137);
	json_decref(j);
	al_run_result_free(&back);
	al_run_result_free(&r);

	/* empty output is "" not null */
	memset(&r, 0, sizeof(r));
	j = al_run_result_to_json(&r);
	ck_assert_str_eq(json_string_value(json_object_get(j, "stdout")), "");
	ck_assert_str_eq(json_string_value(json_object_get(j, "run_id")), "");
	json_decref(j);
}
END_TEST

START_TEST(result_round_trip)
{
	struct al_run_result r, back;
	al_err e = {0};

	make_result(&r);
	free(r.out);
	r.out = malloc(4);
	memcpy(r.out, "a\0b\n", 4);
	r.out_len = 4;
	al_sha256_hex("x", 1, r.code_sha256);
	json_t *j = al_run_result_to_json(&r);
	cleanup_free char *txt = json_dumps(j, JSON_COMPACT);
	json_t *j2 = json_loads(txt, JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(j2);
	ck_assert_msg(al_run_result_from_json(j2, &back, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(back.run_id, r.run_id);
	ck_assert_int_eq(back.exit_code, 3);
	ck_assert_int_eq(back.signal, 0);
	ck_assert_uint_eq(back.out_len, 4);
	ck_assert_mem_eq(back.out, "a\0b\n", 4);
	ck_assert_str_eq(back.errb, "warn\n");
	ck_assert_str_eq(back.code_sha256, r.code_sha256);
	ck_assert_str_eq(back.layers, r.layers);
	ck_assert_int_eq(back.violations, 2);
	ck_assert(back.truncated_stderr);
	json_t *j3 = al_run_result_to_json(&back);
	ck_assert(json_equal(j, j3));
	json_decref(j);
	json_decref(j2);
	json_decref(j3);
	al_run_result_free(&r);
	al_run_result_free(&back);
}
END_TEST

START_TEST(result_invalid_utf8)
{
	/* lone continuation, invalid lead bytes, truncated sequence, an encoded
	 * surrogate, an overlong '/', and a 4-byte sequence cut at the end */
	static const char raw[] = "ok \xc3\xa9 \x80 \xff\xfe \xe2\x82 x \xed\xa0\x80 "
				  "\xc0\xaf \xf0\x9f\x98\x80 end \xf0\x9f\x98";
	struct al_run_result r, back;
	al_err e = {0};

	memset(&r, 0, sizeof(r));
	r.out = malloc(sizeof(raw) - 1);
	memcpy(r.out, raw, sizeof(raw) - 1);
	r.out_len = sizeof(raw) - 1;
	r.errb = strdup("\xff");
	r.err_len = 1;
	json_t *j = al_run_result_to_json(&r);
	ck_assert_ptr_nonnull(j);
	cleanup_free char *txt = json_dumps(j, JSON_COMPACT);
	ck_assert_ptr_nonnull(txt);
	json_decref(j);

	json_error_t je;
	j = json_loads(txt, 0, &je);
	ck_assert_msg(j != NULL, "%s", je.text);
	const char *out = json_string_value(json_object_get(j, "stdout"));
	ck_assert_str_eq(out, "ok \xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
			      "\xef\xbf\xbd\xef\xbf\xbd x \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
			      "\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80 end "
			      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	ck_assert_str_eq(json_string_value(json_object_get(j, "stderr")), "\xef\xbf\xbd");
	ck_assert_msg(al_run_result_from_json(j, &back, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(back.out, out);
	json_decref(j);
	al_run_result_free(&r);
	al_run_result_free(&back);
}
END_TEST

static void result_reject(const char *key, json_t *value, const char *want)
{
	struct al_run_result r, back;
	al_err e = {0};

	make_result(&r);
	json_t *j = al_run_result_to_json(&r);
	al_run_result_free(&r);
	if (value)
		json_object_set_new(j, key, value);
	else
		json_object_del(j, key);
	ck_assert_msg(al_run_result_from_json(j, &back, &e) < 0, "accepted %s", key);
	json_decref(j);
	assert_has(e.msg, want);
	ck_assert_ptr_null(back.out);
}

START_TEST(result_rejections)
{
	result_reject("extra", json_true(), "result.extra: unknown field");
	result_reject("exit_code", NULL, "result.exit_code: is required");
	result_reject("exit_code", json_integer(256), "result.exit_code: must be an integer");
	result_reject("signal", NULL, "result.signal: is required");
	result_reject("signal", json_integer(9), "result.exit_code: must be 128 + signal (137)");
	result_reject("signal", json_integer(0), "result.signal: must be an integer between 1");
	result_reject("stdout", json_null(), "result.stdout: must be a string");
	result_reject("timed_out", json_integer(0), "result.timed_out: must be true or false");
	result_reject("wall_time_ms", json_integer(-1), "result.wall_time_ms");
	result_reject("code_sha256", json_string("abc"), "result.code_sha256");
	result_reject("run_id", json_string("r-xyz"), "result.run_id");
}
END_TEST

static Suite *runspec_suite(void)
{
	Suite *s = suite_create("runspec");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, load_policy, free_policy);
	tcase_add_test(tc, spec_round_trip_command);
	tcase_add_test(tc, spec_round_trip_code);
	tcase_add_test(tc, spec_rejections);
	tcase_add_test(tc, spec_limits_clamped);
	tcase_add_test(tc, env_rejections);
	tcase_add_test(tc, result_fields);
	tcase_add_test(tc, result_round_trip);
	tcase_add_test(tc, result_invalid_utf8);
	tcase_add_test(tc, result_rejections);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(runspec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
