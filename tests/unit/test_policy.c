/* Unit tests for the policy loader (policy/policy.c) and policy/default.json. */
#include <jansson.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"
#include "shared/cleanup.h"
#include "shared/jsonfield.h"
#include "shared/util.h"

/* The repository's top directory: tests run from it (tests/run.sh), but also
 * work from build-dir/tests and with AL_TOP set. */
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

static json_t *default_json(void)
{
	json_error_t je;
	json_t *j = json_load_file(top_file("policy/default.json"), JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(j != NULL, "default.json: %s", je.text);
	return j;
}

/* Object at a dotted path ("profiles.python_sandbox.limits"). */
static json_t *at(json_t *root, const char *path)
{
	char buf[256];
	json_t *cur = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
		cur = json_object_get(cur, k);
		ck_assert_msg(cur != NULL, "no %s in test policy", path);
	}
	return cur;
}

static json_t *rule(json_t *root, size_t i)
{
	return json_array_get(json_object_get(root, "rules"), i);
}

static int load_json(json_t *j, struct al_policy **p, al_err *e)
{
	cleanup_free char *s = json_dumps(j, JSON_COMPACT);
	ck_assert_ptr_nonnull(s);
	return al_policy_load_buf(s, strlen(s), "policy.json", p, e);
}

static int load_str(const char *s, struct al_policy **p, al_err *e)
{
	return al_policy_load_buf(s, strlen(s), "policy.json", p, e);
}

#define assert_has(msg, sub)                                                                       \
	ck_assert_msg(strstr((msg), (sub)) != NULL, "\"%s\" not in \"%s\"", (sub), (msg))

/* Load j (consumed) and expect a failure whose message has both parts. */
static void expect_reject(json_t *j, const char *field, const char *reason)
{
	struct al_policy *p = NULL;
	al_err e = {0};

	ck_assert_int_lt(load_json(j, &p, &e), 0);
	ck_assert_ptr_null(p);
	json_decref(j);
	ck_assert_msg(strncmp(e.msg, "policy.json: ", 13) == 0, "no file name in \"%s\"", e.msg);
	assert_has(e.msg, field);
	if (reason)
		assert_has(e.msg, reason);
}

static void expect_reject_str(const char *s, const char *part1, const char *part2)
{
	struct al_policy *p = NULL;
	al_err e = {0};

	ck_assert_int_lt(load_str(s, &p, &e), 0);
	ck_assert_ptr_null(p);
	ck_assert_msg(strncmp(e.msg, "policy.json: ", 13) == 0, "no file name in \"%s\"", e.msg);
	assert_has(e.msg, part1);
	if (part2)
		assert_has(e.msg, part2);
}

static const char MINI[] =
    "{\"version\": \"2.0\", \"profiles\": {\"p\": {\"fs\": {\"cwd\": \"/work\", "
    "\"workspace\": \"/w/{identity}\"}, \"syscall_profile\": \"s\"}},"
    " \"syscall_profiles\": {\"s\": {\"default\": \"allow\"}},"
    " \"rules\": [{\"id\": \"r1\", \"effect\": \"allow\", \"profile\": \"p\"}]}";

/* ---- the shipped default --------------------------------------------- */

START_TEST(default_loads)
{
	struct al_policy *p = NULL;
	al_err e = {0};
	const char *order[] = {"deny_credentials", "deny_find_actions", "python_code",
			       "read_only_tools",  "git_read_only",	"python3_command"};

	ck_assert_msg(al_policy_load_file(top_file("policy/default.json"), &p, &e) == 0, "%s",
		      e.msg);
	ck_assert_str_eq(p->version, "2.0");
	ck_assert(!p->audit_mode);
	ck_assert_int_eq(p->default_effect, AL_EFFECT_DENY);
	ck_assert_int_eq(p->rate_max, 120);
	ck_assert_int_eq(p->rate_window_sec, 60);
	ck_assert_uint_eq(p->n_rules, 6);
	for (size_t i = 0; i < 6; i++) {
		ck_assert_str_eq(p->rules[i].id, order[i]);
		ck_assert_ptr_nonnull(p->rules[i].reason);
	}
	ck_assert_int_eq(p->rules[0].effect, AL_EFFECT_DENY);
	ck_assert_int_eq(p->rules[1].effect, AL_EFFECT_DENY);
	ck_assert_int_eq(p->rules[2].kind, AL_KIND_CODE);
	ck_assert_str_eq(p->rules[2].profile, "python_sandbox");
	ck_assert_ptr_eq(p->rules[2].prof, al_policy_find_profile(p, "python_sandbox"));
	ck_assert_ptr_eq(p->rules[3].prof, al_policy_find_profile(p, "command_default"));

	const struct al_profile *py = al_policy_find_profile(p, "python_sandbox");
	ck_assert_ptr_nonnull(py);
	ck_assert_str_eq(py->language, "python");
	ck_assert_str_eq(py->interpreter, "/usr/bin/python3");
	ck_assert_ptr_null(py->interpreter_sha256);
	ck_assert(py->deny_spawn_processes);
	ck_assert_str_eq(py->network, "none");
	ck_assert_str_eq(py->fs.cwd, "/work");
	ck_assert_str_eq(py->fs.workspace, "/var/lib/agentlaunch/work/{identity}");
	ck_assert_uint_eq(py->fs.read_only.n, 8);
	ck_assert_str_eq(py->fs.tmpfs.v[0], "/tmp");
	ck_assert_ptr_null(py->fs.tmpfs.v[1]);
	ck_assert_int_eq(py->limits.timeout_sec, 30);
	ck_assert_int_eq(py->limits.mem_max_mb, 512);
	ck_assert_int_eq(py->limits.max_stdout_bytes, 200000);
	ck_assert_int_eq(py->limits.max_open_files, AL_LIMIT_UNSET);
	ck_assert_ptr_nonnull(py->sc);
	ck_assert_str_eq(py->sc->name, "restricted");
	ck_assert(py->sc->default_allow);
	ck_assert_int_eq(py->sc->deny_errno, EPERM);
	ck_assert_uint_eq(py->sc->deny.n, 49);

	const struct al_profile *cd = al_policy_find_profile(p, "command_default");
	ck_assert_ptr_nonnull(cd);
	ck_assert_ptr_null(cd->language);
	ck_assert_str_eq(cd->path, "/usr/local/bin:/usr/bin:/bin");
	ck_assert(!cd->shell);
	ck_assert(!cd->deny_spawn_processes);
	ck_assert_int_eq(cd->limits.timeout_sec, 60);
	ck_assert_ptr_eq(cd->sc, py->sc);
	ck_assert_ptr_null(al_policy_find_profile(p, "nope"));
	al_policy_free(p);
}
END_TEST

static bool rule_re(const struct al_match_re *m, const char *s)
{
	return !m->set || regexec(&m->re, s, 0, NULL, 0) == 0;
}

START_TEST(default_patterns)
{
	struct al_policy *p = NULL;
	al_err e = {0};

	ck_assert_msg(al_policy_load_file(top_file("policy/default.json"), &p, &e) == 0, "%s",
		      e.msg);
	const struct al_rule *cred = &p->rules[0], *find = &p->rules[1], *tools = &p->rules[3],
			     *git = &p->rules[4], *py = &p->rules[5];
	ck_assert(rule_re(&cred->args, "/home/u/.ssh/id_rsa"));
	ck_assert(rule_re(&cred->args, ".env"));
	ck_assert(rule_re(&cred->args, "-n 3 /work/.env.local"));
	ck_assert(rule_re(&cred->args, "/etc/shadow"));
	ck_assert(rule_re(&cred->args, "~/.aws/credentials"));
	ck_assert(!rule_re(&cred->args, "README.md environment"));
	ck_assert(!rule_re(&cred->args, "src/shadowing.c"));
	ck_assert(rule_re(&find->args, ". -name x -exec rm {} ;"));
	ck_assert(rule_re(&find->args, ". -delete"));
	ck_assert(!rule_re(&find->args, ". -name -executable"));
	ck_assert(rule_re(&tools->executable, "ls"));
	ck_assert(!rule_re(&tools->executable, "lsblk"));
	ck_assert(rule_re(&tools->path, "/usr/bin/ls"));
	ck_assert(!rule_re(&tools->path, "/tmp/x/ls"));
	ck_assert(rule_re(&git->args, "status"));
	ck_assert(rule_re(&git->args, "log --oneline"));
	ck_assert(rule_re(&git->args, "branch"));
	ck_assert(rule_re(&git->args, "branch -a -v"));
	ck_assert(!rule_re(&git->args, "branch -D main"));
	ck_assert(!rule_re(&git->args, "push"));
	ck_assert(!rule_re(&git->args, "-c core.pager=sh log"));
	ck_assert(!rule_re(&git->args, "statusx"));
	ck_assert(rule_re(&py->path, "/usr/bin/python3.11"));
	ck_assert(!rule_re(&py->path, "/work/python3"));
	al_policy_free(p);
}
END_TEST

START_TEST(default_sha256)
{
	struct al_policy *p = NULL;
	al_err e = {0};
	char cmd[4200], line[128] = "";
	const char *f = top_file("policy/default.json");

	ck_assert_msg(al_policy_load_file(f, &p, &e) == 0, "%s", e.msg);
	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", f);
	FILE *sp = popen(cmd, "r");
	ck_assert_ptr_nonnull(sp);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), sp));
	pclose(sp);
	line[64] = '\0';
	ck_assert_str_eq(p->sha256, line);
	ck_assert_str_eq(p->file, f);
	al_policy_free(p);
}
END_TEST

START_TEST(minimal_policy)
{
	struct al_policy *p = NULL;
	al_err e = {0};

	ck_assert_msg(load_str(MINI, &p, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(p->default_effect, AL_EFFECT_DENY); /* safe defaults */
	ck_assert(!p->audit_mode);
	ck_assert_int_eq(p->rate_max, 0);
	ck_assert_str_eq(p->profiles[0].path, "/usr/local/bin:/usr/bin:/bin");
	ck_assert_str_eq(p->profiles[0].network, "none");
	ck_assert_uint_eq(p->profiles[0].fs.read_only.n, 0);
	ck_assert_ptr_nonnull(p->profiles[0].fs.read_only.v);
	ck_assert_int_eq(p->rules[0].kind, AL_KIND_ANY);
	ck_assert(!p->rules[0].executable.set);
	ck_assert_str_eq(p->file, "policy.json");
	al_policy_free(p);
	al_policy_free(NULL);
}
END_TEST

/* ---- rejections ------------------------------------------------------ */

START_TEST(reject_wrong_type)
{
	json_t *j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox.limits"), "mem_max_mb",
			    json_string("512"));
	expect_reject(j, "policy.json: profiles.python_sandbox.limits.mem_max_mb: ",
		      "must be an integer between 4 and 1048576");
}
END_TEST

START_TEST(reject_unknown_top)
{
	json_t *j = default_json();
	json_object_set_new(j, "rulez", json_array());
	expect_reject(j, "policy.json: rulez: unknown field", "version");
}
END_TEST

START_TEST(reject_unknown_in_profile)
{
	json_t *j = default_json();
	json_object_set_new(at(j, "profiles.command_default"), "netwrk", json_string("none"));
	expect_reject(j, "profiles.command_default.netwrk: unknown field", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.command_default.fs"), "ro", json_array());
	expect_reject(j, "profiles.command_default.fs.ro: unknown field", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.command_default.limits"), "memory", json_integer(1));
	expect_reject(j, "profiles.command_default.limits.memory: unknown field", NULL);

	j = default_json();
	json_object_set_new(json_object_get(rule(j, 0), "match"), "exe", json_string("x"));
	expect_reject(j, "rules[0].match.exe: unknown field", NULL);

	j = default_json();
	json_object_set_new(at(j, "syscall_profiles.restricted"), "kill", json_true());
	expect_reject(j, "syscall_profiles.restricted.kill: unknown field", NULL);
}
END_TEST

START_TEST(reject_unknown_syscall)
{
	json_t *j = default_json();
	json_array_append_new(at(j, "syscall_profiles.restricted.deny"), json_string("frobnicate"));
	expect_reject(
	    j, "syscall_profiles.restricted.deny[49]: ", "unknown system call \"frobnicate\"");

	j = default_json();
	json_array_append_new(at(j, "syscall_profiles.restricted.deny"), json_string("socketcall"));
	expect_reject(j, "syscall_profiles.restricted.deny[49]: ", "not a system call on this");

	j = default_json();
	json_array_append_new(at(j, "syscall_profiles.restricted.deny"), json_string("ptrace"));
	expect_reject(j, "syscall_profiles.restricted.deny[49]: ", "listed twice");

	j = default_json();
	json_object_set_new(at(j, "syscall_profiles.restricted"), "errno", json_string("EIO"));
	expect_reject(j, "syscall_profiles.restricted.errno: ", "\"EPERM\", \"ENOSYS\" or");

	j = default_json();
	json_object_set_new(at(j, "syscall_profiles.restricted"), "allow",
			    json_pack("[s]", "read"));
	expect_reject(j, "syscall_profiles.restricted.allow: ", "no effect");
}
END_TEST

START_TEST(reject_bad_regex)
{
	json_t *j = default_json();
	json_object_set_new(json_object_get(rule(j, 3), "match"), "executable",
			    json_string("^(ls|cat$"));
	expect_reject(
	    j, "rules[3].match.executable: invalid regular expression \"^(ls|cat$\": ", NULL);
}
END_TEST

START_TEST(reject_missing_profile)
{
	json_t *j = default_json();
	json_object_set_new(rule(j, 4), "profile", json_string("git_profile"));
	expect_reject(j, "rules[4].profile: ", "no profile named \"git_profile\"");

	j = default_json();
	json_object_set_new(at(j, "profiles.command_default"), "syscall_profile",
			    json_string("strict"));
	expect_reject(
	    j, "profiles.command_default.syscall_profile: ", "no syscall profile named \"strict\"");

	j = default_json();
	json_object_del(at(j, "profiles.command_default"), "syscall_profile");
	expect_reject(j, "profiles.command_default.syscall_profile: is required", NULL);

	/* a code rule needs a code profile */
	j = default_json();
	json_object_set_new(rule(j, 2), "profile", json_string("command_default"));
	expect_reject(j, "rules[2].profile: ", "needs a code profile");
}
END_TEST

START_TEST(reject_duplicate_rule_id)
{
	json_t *j = default_json();
	json_object_set_new(rule(j, 4), "id", json_string("read_only_tools"));
	expect_reject(j, "rules[4].id: ", "duplicate rule id \"read_only_tools\" (also rules[3])");

	j = default_json();
	json_object_set_new(rule(j, 1), "id", json_string("bad id"));
	expect_reject(j, "rules[1].id: ", "not a valid rule id");

	j = default_json();
	json_object_del(rule(j, 1), "id");
	expect_reject(j, "rules[1].id: is required", NULL);

	j = default_json();
	json_object_del(rule(j, 1), "effect");
	expect_reject(j, "rules[1].effect: is required", NULL);

	j = default_json();
	json_object_set_new(rule(j, 1), "effect", json_string("permit"));
	expect_reject(j, "rules[1].effect: must be \"allow\" or \"deny\"", NULL);

	j = default_json();
	json_object_set_new(json_object_get(rule(j, 1), "match"), "kind", json_string("shell"));
	expect_reject(j, "rules[1].match.kind: must be \"command\" or \"code\"", NULL);
}
END_TEST

START_TEST(reject_duplicate_json_key)
{
	expect_reject_str("{\"version\": \"2.0\",\n \"mode\": \"enforce\",\n \"mode\": \"audit\"}",
			  "line 3", "duplicate object key near '\"mode\"'");
}
END_TEST

START_TEST(reject_missing_file)
{
	struct al_policy *p = (struct al_policy *)1;
	al_err e = {0};

	ck_assert_int_lt(al_policy_load_file("/nonexistent/dir/policy.json", &p, &e), 0);
	ck_assert_ptr_null(p);
	assert_has(e.msg, "/nonexistent/dir/policy.json");
	assert_has(e.msg, "No such file or directory");
	ck_assert_int_eq(e.errnum, ENOENT);
}
END_TEST

START_TEST(reject_fs_paths)
{
	json_t *j = default_json();
	json_array_set_new(at(j, "profiles.python_sandbox.fs.read_only"), 1, json_string("lib"));
	expect_reject(j, "profiles.python_sandbox.fs.read_only[1]: must be an absolute path",
		      "\"lib\"");

	j = default_json();
	json_array_append_new(at(j, "profiles.python_sandbox.fs.read_write"),
			      json_string("/work/../etc"));
	expect_reject(j, "profiles.python_sandbox.fs.read_write[0]: ", "\"..\"");

	j = default_json();
	json_array_set_new(at(j, "profiles.command_default.fs.tmpfs"), 0, json_string("/tmp/"));
	expect_reject(j, "profiles.command_default.fs.tmpfs[0]: ", "must not end with \"/\"");

	j = default_json();
	json_array_append_new(at(j, "profiles.command_default.fs.deny"), json_string("/a//b"));
	expect_reject(j, "profiles.command_default.fs.deny[0]: ", "\"//\"");

	j = default_json();
	json_object_set_new(at(j, "profiles.command_default.fs"), "cwd", json_string("work"));
	expect_reject(j, "profiles.command_default.fs.cwd: must be an absolute path", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.command_default.fs"), "workspace",
			    json_string("/var/lib/./x"));
	expect_reject(j, "profiles.command_default.fs.workspace: ", "\".\" components");

	j = default_json();
	json_object_del(at(j, "profiles.command_default.fs"), "workspace");
	expect_reject(j, "profiles.command_default.fs.workspace: is required", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.command_default"), "path",
			    json_string("/usr/bin::/bin"));
	expect_reject(j, "profiles.command_default.path: ", "no empty entry");

	j = default_json();
	json_object_set_new(at(j, "profiles.command_default"), "path", json_string("/usr/bin:bin"));
	expect_reject(j, "profiles.command_default.path: ", "entry \"bin\"");

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox"), "interpreter",
			    json_string("python3"));
	expect_reject(j, "profiles.python_sandbox.interpreter: must be an absolute path", NULL);
}
END_TEST

START_TEST(reject_out_of_range)
{
	static const struct {
		const char *key;
		long long bad;
		const char *range;
	} cases[] = {
	    {"timeout_sec", 0, "between 1 and 86400"},
	    {"timeout_sec", 86401, "between 1 and 86400"},
	    {"cpu_max_percent", 6401, "between 1 and 6400"},
	    {"mem_max_mb", 3, "between 4 and 1048576"},
	    {"pids_max", 100001, "between 1 and 100000"},
	    {"max_stdout_bytes", -1, "between 0 and 1073741824"},
	    {"max_stderr_bytes", 1073741825, "between 0 and 1073741824"},
	    {"max_file_mb", 1048577, "between 0 and 1048576"},
	    {"max_open_files", 15, "between 16 and 65536"},
	    {"tmpfs_size_mb", 0, "between 1 and 65536"},
	};
	char field[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = default_json();
		json_object_set_new(at(j, "profiles.python_sandbox.limits"), cases[i].key,
				    json_integer(cases[i].bad));
		snprintf(field, sizeof(field), "profiles.python_sandbox.limits.%s: ", cases[i].key);
		expect_reject(j, field, cases[i].range);
	}
	json_t *j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox.limits"), "pids_max", json_real(64.0));
	expect_reject(j, "limits.pids_max: must be an integer", NULL);

	j = default_json();
	json_object_set_new(at(j, "rate_limit"), "max_commands", json_integer(0));
	expect_reject(j, "rate_limit.max_commands: must be an integer between 1", NULL);

	j = default_json();
	json_object_del(at(j, "rate_limit"), "window_seconds");
	expect_reject(j, "rate_limit.window_seconds: is required", NULL);
}
END_TEST

START_TEST(reject_nul_in_string)
{
	json_t *j = default_json();
	json_object_set_new(rule(j, 0), "reason", json_stringn("a\0b", 3));
	expect_reject(j, "rules[0].reason: must not contain NUL bytes", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox"), "interpreter",
			    json_stringn("/usr/bin/python3\0x", 18));
	expect_reject(j, "profiles.python_sandbox.interpreter: must not contain NUL", NULL);

	j = default_json();
	json_array_append_new(at(j, "syscall_profiles.restricted.deny"),
			      json_stringn("ptrace\0", 7));
	expect_reject(j, "syscall_profiles.restricted.deny[49]: must not contain NUL", NULL);

	j = default_json();
	json_object_set_new(json_object_get(rule(j, 3), "match"), "executable",
			    json_stringn("^ls$\0|.*", 8));
	expect_reject(j, "rules[3].match.executable: must not contain NUL", NULL);
}
END_TEST

START_TEST(reject_truncated_json)
{
	expect_reject_str("{\"version\": \"2.0\",\n \"rules\": [\n  {\"id\": \"x\"",
			  "policy.json: line 3, column ", "invalid JSON");
	expect_reject_str("", "line 1, column 0", "invalid JSON");
	expect_reject_str("[]", "must be a JSON object", NULL);
}
END_TEST

START_TEST(reject_misc)
{
	json_t *j = default_json();
	json_object_set_new(j, "version", json_string("2.1"));
	expect_reject(j, "policy.json: version: unsupported policy version \"2.1\"", "\"2.0\"");

	j = default_json();
	json_object_del(j, "version");
	expect_reject(j, "version: is required", NULL);

	j = default_json();
	json_object_set_new(j, "mode", json_string("permissive"));
	expect_reject(j, "mode: must be \"enforce\" or \"audit\"", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox"), "network", json_string("host"));
	expect_reject(j, "profiles.python_sandbox.network: ", "not supported yet");

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox"), "language", json_string("ruby"));
	expect_reject(j, "profiles.python_sandbox.language: ", "only \"python\"");

	j = default_json();
	json_object_del(at(j, "profiles.python_sandbox"), "interpreter");
	expect_reject(j, "profiles.python_sandbox.interpreter: is required", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox"), "interpreter_sha256",
			    json_string("abc"));
	expect_reject(j, "profiles.python_sandbox.interpreter_sha256: ", "64 hexadecimal");

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox"), "shell", json_string("yes"));
	expect_reject(j, "profiles.python_sandbox.shell: must be true or false", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox"), "fs", json_array());
	expect_reject(j, "profiles.python_sandbox.fs: must be an object", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles.python_sandbox.fs"), "tmpfs", json_string("/tmp"));
	expect_reject(j, "profiles.python_sandbox.fs.tmpfs: must be an array", NULL);

	j = default_json();
	json_object_set_new(j, "rules", json_object());
	expect_reject(j, "policy.json: rules: must be an array", NULL);

	j = default_json();
	json_object_set_new(at(j, "profiles"), "bad/name",
			    json_deep_copy(at(j, "profiles.command_default")));
	expect_reject(j, "profiles.bad/name: ", "not a valid profile name");
}
END_TEST

START_TEST(reject_too_large)
{
	size_t n = (4u << 20) + 1;
	char *big = malloc(n);
	struct al_policy *p = NULL;
	al_err e = {0};
	char path[] = "/tmp/al-test-policy-XXXXXX";
	int fd;

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', n);
	ck_assert_int_lt(al_policy_load_buf(big, n, "big.json", &p, &e), 0);
	assert_has(e.msg, "big.json");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(al_write_all(fd, big, n), 0);
	close(fd);
	ck_assert_int_lt(al_policy_load_file(path, &p, &e), 0);
	assert_has(e.msg, path);
	ck_assert_int_eq(e.errnum, EFBIG);
	unlink(path);
	free(big);
}
END_TEST

/* ---- fixtures in tests/policies ------------------------------------- */

START_TEST(fixtures)
{
	static const struct {
		const char *file;
		const char *want; /* NULL = must load */
	} cases[] = {
	    {"tests/policies/good_minimal.json", NULL},
	    {"tests/policies/good_audit.json", NULL},
	    {"tests/policies/bad_unknown_field.json", "profiles.p.fs.read_onyl: unknown field"},
	    {"tests/policies/bad_syscall.json", "syscall_profiles.s.deny[1]: unknown system call"},
	    {"tests/policies/bad_regex.json", "rules[0].match.args_pattern: invalid regular"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct al_policy *p = NULL;
		al_err e = {0};
		int r = al_policy_load_file(top_file(cases[i].file), &p, &e);
		if (cases[i].want == NULL) {
			ck_assert_msg(r == 0, "%s: %s", cases[i].file, e.msg);
			al_policy_free(p);
		} else {
			ck_assert_msg(r < 0, "%s loaded", cases[i].file);
			assert_has(e.msg, cases[i].want);
			assert_has(e.msg, cases[i].file);
		}
	}
}
END_TEST

/* ---- al_policy_load_profiles: the compiled-patterns marker ------------ */

START_TEST(profiles_load_marker)
{
	char base[] = "/tmp/al-marker-XXXXXX", dir[128], good[128], bad[128], cmd[512];
	char sha[65], name[65], mpath[256];
	struct al_policy *p = NULL;
	al_err e = {0};

	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(dir, sizeof(dir), "%s/ok", base);
	snprintf(good, sizeof(good), "%s/good.json", base);
	snprintf(bad, sizeof(bad), "%s/bad.json", base);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", top_file("policy/default.json"), good);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", top_file("tests/policies/bad_regex.json"), bad);
	ck_assert_int_eq(system(cmd), 0);

	/* a good policy: loads whole, comes back without rules, leaves its
	 * marker (root only) */
	ck_assert_int_eq(al_policy_load_profiles(good, dir, &p, &e), 0);
	ck_assert_int_eq(p->n_rules, 0);
	ck_assert_ptr_null(p->rules);
	ck_assert_ptr_nonnull(al_policy_find_profile(p, "python_sandbox"));
	al_policy_free(p);
	if (geteuid() != 0) {
		ck_assert_int_ne(access(dir, F_OK), 0);
		goto out;
	}
	struct al_policy *q = NULL;
	ck_assert_int_eq(al_policy_load_file(good, &q, &e), 0);
	al_policy_marker_name(q->sha256, name);
	al_policy_free(q);
	char goodm[256];
	snprintf(goodm, sizeof(goodm), "%s/%s", dir, name);
	ck_assert_int_eq(access(goodm, F_OK), 0);
	ck_assert_int_eq(al_policy_load_profiles(good, dir, &p, &e), 0); /* through the marker */
	ck_assert_int_eq(p->n_rules, 0);
	ck_assert_ptr_nonnull(al_policy_find_profile(p, "command_default"));
	ck_assert_ptr_nonnull(al_policy_find_profile(p, "python_sandbox")->sc);
	al_policy_free(p);

	/* a bad pattern is refused, again and again, and leaves no marker */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_lt(al_policy_load_profiles(bad, dir, &p, &e), 0);
		assert_has(e.msg, "rules[0].match.args_pattern: invalid regular");
	}
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", dir);
	ck_assert_int_eq(system(cmd), 0);

	/* The marker is what skips the load: one planted for the bad bytes in
	 * the root-only directory (a copy of the good one) lets them through,
	 * without rules ... */
	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", bad);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%64s", sha), 1);
	pclose(f);
	al_policy_marker_name(sha, name);
	snprintf(mpath, sizeof(mpath), "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd), "echo garbage > '%s'", mpath); /* unreadable: full load */
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_lt(al_policy_load_profiles(bad, dir, &p, &e), 0);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", goodm, mpath);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(al_policy_load_profiles(bad, dir, &p, &e), 0);
	ck_assert_int_eq(p->n_rules, 0);
	ck_assert_ptr_nonnull(al_policy_find_profile(p, "python_sandbox"));
	al_policy_free(p);
	/* ... and counts for nothing where another user could have put it:
	 * a group- or world-writable directory, one not owned by root, a
	 * marker not owned by root, a symlink */
	static const char *const spoil[][2] = {
	    {"chmod 0777", "chmod 0700"},
	    {"chmod 0720", "chmod 0700"},
	    {"chown 65534", "chown 0"},
	};
	for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s '%s'", spoil[i][0], dir);
		ck_assert_int_eq(system(cmd), 0);
		ck_assert_msg(al_policy_load_profiles(bad, dir, &p, &e) < 0, "%s: loaded",
			      spoil[i][0]);
		snprintf(cmd, sizeof(cmd), "%s '%s'", spoil[i][1], dir);
		ck_assert_int_eq(system(cmd), 0);
	}
	/* still trusted once the directory is root's alone again */
	ck_assert_int_eq(al_policy_load_profiles(bad, dir, &p, &e), 0);
	al_policy_free(p);
	snprintf(cmd, sizeof(cmd), "chown 65534 '%s'", mpath);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_lt(al_policy_load_profiles(bad, dir, &p, &e), 0);
	snprintf(cmd, sizeof(cmd), "rm '%s' && touch '%s/x' && ln -s x '%s'", mpath, dir, mpath);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_lt(al_policy_load_profiles(bad, dir, &p, &e), 0);

	/* at most 64 markers: 70 different policies leave fewer than 64 */
	json_t *j = default_json();
	for (int i = 0; i < 70; i++) {
		char pf[128];
		snprintf(pf, sizeof(pf), "%s/p%d.json", base, i);
		json_object_set_new(j, "rate_limit",
				    json_pack("{s:i,s:i}", "max_commands", 100 + i, "window_seconds", 60));
		ck_assert_int_eq(json_dump_file(j, pf, 0), 0);
		ck_assert_int_eq(al_policy_load_profiles(pf, dir, &p, &e), 0);
		al_policy_free(p);
	}
	json_decref(j);
	snprintf(cmd, sizeof(cmd), "n=$(ls '%s' | wc -l); test $n -ge 1 -a $n -le 64", dir);
	ck_assert_int_eq(system(cmd), 0);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- limits ---------------------------------------------------------- */

START_TEST(limits_clamp)
{
	struct al_limits ceil, req, out;

	al_limits_init(&ceil);
	al_limits_init(&req);
	ceil.timeout_sec = 60;
	ceil.mem_max_mb = 512;
	ceil.pids_max = 64;
	ceil.cpu_max_percent = 100;

	/* nothing asked: the ceilings, and defaults where the profile has none */
	al_limits_effective(&ceil, &req, &out);
	ck_assert_int_eq(out.timeout_sec, 60);
	ck_assert_int_eq(out.mem_max_mb, 512);
	ck_assert_int_eq(out.pids_max, 64);
	ck_assert_int_eq(out.cpu_max_percent, 100);
	ck_assert_int_eq(out.max_stdout_bytes, AL_DEFAULT_MAX_OUTPUT_BYTES);
	ck_assert_int_eq(out.max_stderr_bytes, AL_DEFAULT_MAX_OUTPUT_BYTES);
	ck_assert_int_eq(out.max_file_mb, AL_DEFAULT_MAX_FILE_MB);
	ck_assert_int_eq(out.max_open_files, AL_DEFAULT_MAX_OPEN_FILES);
	ck_assert_int_eq(out.tmpfs_size_mb, AL_DEFAULT_TMPFS_SIZE_MB);

	/* lower is kept, higher is clamped */
	req.timeout_sec = 5;
	req.mem_max_mb = 4096;
	req.pids_max = 64;
	req.max_stdout_bytes = 10;
	req.max_open_files = 100000;
	al_limits_effective(&ceil, &req, &out);
	ck_assert_int_eq(out.timeout_sec, 5);
	ck_assert_int_eq(out.mem_max_mb, 512);
	ck_assert_int_eq(out.pids_max, 64);
	ck_assert_int_eq(out.max_stdout_bytes, 10);
	ck_assert_int_eq(out.max_open_files, AL_DEFAULT_MAX_OPEN_FILES);

	/* below the minimum is raised to it */
	req.mem_max_mb = 1;
	req.timeout_sec = 0;
	al_limits_effective(&ceil, &req, &out);
	ck_assert_int_eq(out.mem_max_mb, 4);
	ck_assert_int_eq(out.timeout_sec, 1);

	/* unset ceilings: the defaults are the ceilings; no CPU quota unless asked */
	al_limits_init(&ceil);
	al_limits_init(&req);
	req.timeout_sec = 1000;
	req.mem_max_mb = 100;
	al_limits_effective(&ceil, &req, &out);
	ck_assert_int_eq(out.timeout_sec, AL_DEFAULT_TIMEOUT_SEC);
	ck_assert_int_eq(out.mem_max_mb, 100);
	ck_assert_int_eq(out.pids_max, AL_DEFAULT_PIDS_MAX);
	ck_assert_int_eq(out.cpu_max_percent, AL_LIMIT_UNSET);
	req.cpu_max_percent = 50;
	al_limits_effective(&ceil, &req, &out);
	ck_assert_int_eq(out.cpu_max_percent, 50);
	al_limits_effective(NULL, NULL, &out);
	ck_assert_int_eq(out.timeout_sec, AL_DEFAULT_TIMEOUT_SEC);

	/* idempotent: clamping an effective set again changes nothing */
	struct al_limits again;
	al_limits_effective(&ceil, &out, &again);
	ck_assert_mem_eq(&again, &out, sizeof(out));
}
END_TEST

START_TEST(limits_json)
{
	struct al_limits l, back;
	al_err e = {0};

	al_limits_init(&l);
	l.timeout_sec = 9;
	l.max_stdout_bytes = 0;
	json_t *j = al_limits_to_json(&l);
	ck_assert_uint_eq(json_object_size(j), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "timeout_sec")), 9);
	ck_assert_int_eq(al_limits_from_json(j, "req", &back, &e), 0);
	ck_assert_mem_eq(&l, &back, sizeof(l));
	json_object_set_new(j, "timeout", json_integer(1));
	ck_assert_int_lt(al_limits_from_json(j, "req", &back, &e), 0);
	ck_assert_str_eq(e.msg, "req.timeout: unknown field (expected one of: timeout_sec, "
				"cpu_max_percent, mem_max_mb, pids_max, max_stdout_bytes, "
				"max_stderr_bytes, max_file_mb, max_open_files, tmpfs_size_mb)");
	json_decref(j);
}
END_TEST

/* ---- identities, workspaces, paths ---------------------------------- */

START_TEST(workspace_and_identity)
{
	char out[256], long_id[66];
	al_err e = {0};

	ck_assert_int_eq(al_workspace_path("/var/lib/agentlaunch/work/{identity}", "agent-1", out,
					   sizeof(out), &e),
			 0);
	ck_assert_str_eq(out, "/var/lib/agentlaunch/work/agent-1");
	ck_assert_int_eq(
	    al_workspace_path("/w/{identity}/x-{identity}", "a.b_c", out, sizeof(out), &e), 0);
	ck_assert_str_eq(out, "/w/a.b_c/x-a.b_c");
	ck_assert_int_eq(al_workspace_path("/w/fixed", "a", out, sizeof(out), &e), 0);
	ck_assert_str_eq(out, "/w/fixed");
	ck_assert_int_lt(al_workspace_path("/w/{identity}", "agent-1", out, 8, &e), 0);

	const char *bad[] = {"../x", "", "a/b", ".", "..", "a b", "ä", "a\n", NULL};
	for (int i = 0; bad[i]; i++) {
		ck_assert_msg(!al_identity_valid(bad[i]), "\"%s\" accepted", bad[i]);
		ck_assert_int_lt(al_workspace_path("/w/{identity}", bad[i], out, sizeof(out), &e),
				 0);
		assert_has(e.msg, "invalid identity");
	}
	ck_assert(!al_identity_valid(NULL));
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	ck_assert(!al_identity_valid(long_id));
	ck_assert_int_lt(al_workspace_path("/w/{identity}", long_id, out, sizeof(out), &e), 0);
	long_id[64] = '\0';
	ck_assert(al_identity_valid(long_id));
	ck_assert(al_identity_valid("..."));
	ck_assert(al_identity_valid("Agent_1.x-y"));
}
END_TEST

START_TEST(path_check)
{
	ck_assert_ptr_null(al_path_check("/"));
	ck_assert_ptr_null(al_path_check("/usr"));
	ck_assert_ptr_null(al_path_check("/a/b.c/..d/.e"));
	ck_assert_ptr_nonnull(al_path_check(""));
	ck_assert_ptr_nonnull(al_path_check(NULL));
	ck_assert_ptr_nonnull(al_path_check("usr"));
	ck_assert_ptr_nonnull(al_path_check("/usr/"));
	ck_assert_ptr_nonnull(al_path_check("//usr"));
	ck_assert_ptr_nonnull(al_path_check("/a/../b"));
	ck_assert_ptr_nonnull(al_path_check("/a/.."));
	ck_assert_ptr_nonnull(al_path_check("/.."));
	ck_assert_ptr_nonnull(al_path_check("/./a"));
	ck_assert_ptr_nonnull(al_path_check("/a/."));
}
END_TEST

/* ---- round trips ----------------------------------------------------- */

START_TEST(profile_round_trip)
{
	struct al_policy *p = NULL;
	al_err e = {0};

	ck_assert_msg(al_policy_load_file(top_file("policy/default.json"), &p, &e) == 0, "%s",
		      e.msg);
	for (size_t i = 0; i < p->n_profiles; i++) {
		const struct al_profile *a = &p->profiles[i];
		struct al_profile b, c;
		json_t *ja = al_profile_to_json(a);
		ck_assert_ptr_nonnull(ja);
		ck_assert_msg(al_profile_from_json(ja, "x", &b, &e) == 0, "%s", e.msg);
		json_t *jb = al_profile_to_json(&b);
		ck_assert(json_equal(ja, jb));
		ck_assert_ptr_null(b.name);
		ck_assert_ptr_null(b.sc);
		ck_assert_mem_eq(&a->limits, &b.limits, sizeof(a->limits));
		ck_assert_str_eq(a->fs.workspace, b.fs.workspace);
		ck_assert_str_eq(a->path, b.path);
		ck_assert_int_eq(a->deny_spawn_processes, b.deny_spawn_processes);
		ck_assert_uint_eq(a->fs.read_only.n, b.fs.read_only.n);
		for (size_t k = 0; k < a->fs.read_only.n; k++)
			ck_assert_str_eq(a->fs.read_only.v[k], b.fs.read_only.v[k]);

		ck_assert_int_eq(al_profile_copy(&c, a, &e), 0);
		ck_assert_str_eq(c.name, a->name);
		ck_assert_ptr_eq(c.sc, a->sc);
		json_t *jc = al_profile_to_json(&c);
		ck_assert(json_equal(ja, jc));
		json_decref(ja);
		json_decref(jb);
		json_decref(jc);
		al_profile_free(&b);
		al_profile_free(&c);
	}

	const struct al_syscall_profile *sc = &p->syscall_profiles[0];
	struct al_syscall_profile s2, s3;
	json_t *j1 = al_syscall_profile_to_json(sc);
	ck_assert_int_eq(al_syscall_profile_from_json(j1, "sc", &s2, &e), 0);
	json_t *j2 = al_syscall_profile_to_json(&s2);
	ck_assert(json_equal(j1, j2));
	ck_assert_int_eq(s2.default_allow, sc->default_allow);
	ck_assert_int_eq(s2.deny_errno, sc->deny_errno);
	ck_assert_uint_eq(s2.deny.n, sc->deny.n);
	ck_assert_int_eq(al_syscall_profile_copy(&s3, sc, &e), 0);
	ck_assert_str_eq(s3.name, "restricted");
	ck_assert_uint_eq(s3.deny.n, sc->deny.n);
	json_decref(j1);
	json_decref(j2);
	al_syscall_profile_free(&s2);
	al_syscall_profile_free(&s3);
	al_policy_free(p);

	/* default deny with an allow list, ENOSYS */
	json_t *o = json_pack("{s:s, s:[s,s], s:s}", "default", "deny", "allow", "read", "write",
			      "errno", "ENOSYS");
	ck_assert_int_eq(al_syscall_profile_from_json(o, "sc", &s2, &e), 0);
	ck_assert(!s2.default_allow);
	ck_assert_int_eq(s2.deny_errno, ENOSYS);
	j1 = al_syscall_profile_to_json(&s2);
	ck_assert_str_eq(json_string_value(json_object_get(j1, "errno")), "ENOSYS");
	json_decref(j1);
	al_syscall_profile_free(&s2);
	json_decref(o);
}
END_TEST

/* ---- the JSON field helpers (shared/jsonfield.c) --------------------- */

START_TEST(json_fields)
{
	static const char *const choices[] = {"a", "b", "c", NULL};
	static const char *const keys[] = {"x", "y", NULL};
	json_t *o = json_pack("{s:s, s:i, s:b, s:n}", "x", "b", "y", 5, "z", 1, "n");
	al_err e = {0};
	int idx = -1;
	int64_t v = 0;
	bool b = false;
	char *str = NULL;
	size_t len = 0;

	ck_assert_int_eq(al_jf_enum(o, "top", "x", true, choices, &idx, &e), 1);
	ck_assert_int_eq(idx, 1);
	ck_assert_int_lt(al_jf_enum(o, "top", "y", true, choices, &idx, &e), 0);
	ck_assert_str_eq(e.msg, "top.y: must be \"a\", \"b\" or \"c\"");
	ck_assert_int_eq(e.errnum, EINVAL);
	ck_assert_int_eq(al_jf_enum(o, "top", "missing", false, choices, &idx, &e), 0);
	ck_assert_int_lt(al_jf_enum(o, "top", "missing", true, choices, &idx, &e), 0);
	ck_assert_str_eq(e.msg, "top.missing: is required");
	ck_assert_int_eq(al_jf_int(o, "", "y", true, 0, 5, &v, &e), 1);
	ck_assert_int_eq(v, 5);
	ck_assert_int_lt(al_jf_int(o, "", "y", true, 6, 9, &v, &e), 0);
	ck_assert_str_eq(e.msg, "y: must be an integer between 6 and 9");
	ck_assert_int_eq(al_jf_bool(o, NULL, "z", true, &b, &e), 1);
	ck_assert(b);
	ck_assert_int_eq(al_jf_string(o, "t", "n", AL_JF_NULL_OK, &str, &len, &e), 0);
	ck_assert_int_lt(al_jf_string(o, "t", "n", 0, &str, &len, &e), 0);
	ck_assert_str_eq(e.msg, "t.n: must be a string");
	ck_assert_int_eq(al_jf_string(o, "t", "x", 0, &str, &len, &e), 1);
	ck_assert_str_eq(str, "b");
	ck_assert_uint_eq(len, 1);
	free(str);
	json_object_set_new(o, "s", json_stringn("a\0b", 3));
	ck_assert_int_lt(al_jf_string(o, "t", "s", 0, &str, &len, &e), 0);
	ck_assert_int_eq(al_jf_string(o, "t", "s", AL_JF_NUL_OK, &str, &len, &e), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(str, "a\0b", 3);
	free(str);
	ck_assert_int_lt(al_jf_known_keys(o, "t", keys, &e), 0);
	ck_assert_str_eq(e.msg, "t.z: unknown field (expected one of: x, y)");
	json_decref(o);

	/* control characters in keys never reach the message */
	o = json_pack("{s:i}", "a\x1b[2Jb", 1);
	ck_assert_int_lt(al_jf_known_keys(o, "t", keys, &e), 0);
	ck_assert_str_eq(e.msg, "t.a?[2Jb: unknown field (expected one of: x, y)");
	json_decref(o);

	/* over-long paths are cut with "..." */
	char big[600], fp[AL_JF_PATH_MAX];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	al_jf_path(fp, sizeof(fp), "base", big);
	ck_assert_uint_eq(strlen(fp), sizeof(fp) - 1);
	ck_assert_str_eq(fp + sizeof(fp) - 4, "...");
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, default_loads);
	tcase_add_test(tc, default_patterns);
	tcase_add_test(tc, default_sha256);
	tcase_add_test(tc, minimal_policy);
	tcase_add_test(tc, reject_wrong_type);
	tcase_add_test(tc, reject_unknown_top);
	tcase_add_test(tc, reject_unknown_in_profile);
	tcase_add_test(tc, reject_unknown_syscall);
	tcase_add_test(tc, reject_bad_regex);
	tcase_add_test(tc, reject_missing_profile);
	tcase_add_test(tc, reject_duplicate_rule_id);
	tcase_add_test(tc, reject_duplicate_json_key);
	tcase_add_test(tc, reject_missing_file);
	tcase_add_test(tc, reject_fs_paths);
	tcase_add_test(tc, reject_out_of_range);
	tcase_add_test(tc, reject_nul_in_string);
	tcase_add_test(tc, reject_truncated_json);
	tcase_add_test(tc, reject_misc);
	tcase_add_test(tc, reject_too_large);
	tcase_add_test(tc, fixtures);
	tcase_add_test(tc, profiles_load_marker);
	tcase_add_test(tc, limits_clamp);
	tcase_add_test(tc, limits_json);
	tcase_add_test(tc, workspace_and_identity);
	tcase_add_test(tc, path_check);
	tcase_add_test(tc, profile_round_trip);
	tcase_add_test(tc, json_fields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
