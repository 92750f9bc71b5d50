/* Unit tests for policy/match.c: rule matching and executable resolution.
 * Policies are built by hand so these tests do not depend on policy.c. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/match.h"
#include "shared/cleanup.h"

/* ---- hand-built policies ------------------------------------------------ */

#define MAX_RULES 8

struct test_policy {
	struct al_policy p;
	struct al_rule rules[MAX_RULES];
	struct al_profile profile;
};

/* Every compiled pattern, freed after each test. */
static regex_t *compiled[64];
static size_t n_compiled;

static void set_re(struct al_match_re *m, const char *src)
{
	if (src == NULL)
		return;
	m->set = true;
	m->src = (char *)src;
	ck_assert_int_eq(regcomp(&m->re, src, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_uint_lt(n_compiled, 64);
	compiled[n_compiled++] = &m->re;
}

static void free_patterns(void)
{
	while (n_compiled > 0)
		regfree(compiled[--n_compiled]);
}

static struct al_rule *add_rule(struct test_policy *t, const char *id, enum al_kind kind,
				const char *exe, const char *path, const char *args,
				const char *identity, enum al_effect effect, const char *reason)
{
	ck_assert_uint_lt(t->p.n_rules, MAX_RULES);
	struct al_rule *r = &t->rules[t->p.n_rules++];
	memset(r, 0, sizeof(*r));
	r->id = (char *)id;
	r->kind = kind;
	set_re(&r->executable, exe);
	set_re(&r->path, path);
	set_re(&r->args, args);
	set_re(&r->identity, identity);
	r->effect = effect;
	r->reason = (char *)reason;
	return r;
}

/* One policy at a time, static so the fixture can free its patterns. */
static struct test_policy tp;

static void init_policy(struct test_policy *t, enum al_effect def, bool audit)
{
	free_patterns();
	memset(t, 0, sizeof(*t));
	t->p.file = (char *)"<test>";
	t->p.default_effect = def;
	t->p.audit_mode = audit;
	t->p.rules = t->rules;
	t->profile.name = (char *)"command_default";
}

static struct al_request_view cmd(const char *exe, const char *args, const char *identity)
{
	char *path = NULL;
	struct al_request_view rq = {
	    .kind = AL_KIND_COMMAND, .executable = exe, .args = args, .identity = identity};
	static char buf[8][PATH_MAX];
	static int slot;

	path = buf[slot++ % 8];
	snprintf(path, PATH_MAX, "/usr/bin/%s", exe);
	rq.path = path;
	return rq;
}

/* ---- decisions ---------------------------------------------------------- */

START_TEST(first_match_wins)
{
	struct al_decision d;

	init_policy(&tp, AL_EFFECT_DENY, false);
	add_rule(&tp, "no_rm", AL_KIND_ANY, "^rm$", NULL, NULL, NULL, AL_EFFECT_DENY,
		 "rm is never allowed");
	struct al_rule *r1 = add_rule(&tp, "tools", AL_KIND_ANY, "^(ls|rm|cat)$", NULL, NULL, NULL,
				      AL_EFFECT_ALLOW, "basic tools");
	r1->prof = &tp.profile;
	add_rule(&tp, "allow_all", AL_KIND_ANY, NULL, NULL, NULL, NULL, AL_EFFECT_ALLOW, NULL);

	struct al_request_view rq = cmd("rm", "-rf /", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	ck_assert_str_eq(d.reason, "rm is never allowed");
	ck_assert(!d.audit_mode_override);

	rq = cmd("ls", "-la", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[1]);
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);
	ck_assert_ptr_eq(d.profile, &tp.profile);

	/* the anchors are the pattern's: "lsx" does not match ^(ls|rm|cat)$ */
	rq = cmd("lsx", "", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[2]);
	ck_assert_ptr_null(d.reason);
	ck_assert_ptr_null(d.profile);
}
END_TEST

START_TEST(empty_rule_matches_everything)
{
	struct al_decision d;

	init_policy(&tp, AL_EFFECT_ALLOW, false);
	add_rule(&tp, "deny_all", AL_KIND_ANY, NULL, NULL, NULL, NULL, AL_EFFECT_DENY, "closed");
	struct al_request_view rq = cmd("true", NULL, NULL);
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	rq = (struct al_request_view){.kind = AL_KIND_CODE};
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);
}
END_TEST

START_TEST(identity_and_args)
{
	struct al_decision d;

	init_policy(&tp, AL_EFFECT_DENY, false);
	add_rule(&tp, "git_read_only", AL_KIND_COMMAND, "^git$", NULL, "^(status|log|diff)( |$)",
		 "^dev-", AL_EFFECT_ALLOW, "read-only git");

	struct al_request_view rq = cmd("git", "status", "dev-1");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);

	rq = cmd("git", "log --oneline", "dev-alice");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);

	rq = cmd("git", "statusx", "dev-1");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);

	rq = cmd("git", "push origin", "dev-1");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);

	rq = cmd("git", "status", "prod-1");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
	ck_assert_str_eq(d.reason, "no rule matched (default deny)");

	rq = cmd("git", "status", "xdev-1");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);

	/* a missing identity is matched as "" */
	rq = cmd("git", "status", NULL);
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);

	/* args NULL = no arguments = "": ^(status..)( |$) does not match */
	rq = cmd("git", NULL, "dev-1");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
}
END_TEST

START_TEST(kind_filter)
{
	struct al_decision d;

	init_policy(&tp, AL_EFFECT_DENY, false);
	add_rule(&tp, "python_code", AL_KIND_CODE, "^python3$", NULL, NULL, NULL, AL_EFFECT_ALLOW,
		 "code");
	add_rule(&tp, "echo_cmd", AL_KIND_COMMAND, "^echo$", NULL, NULL, NULL, AL_EFFECT_ALLOW,
		 "echo");

	/* python3 as a command is not covered by the code rule */
	struct al_request_view rq = cmd("python3", "-c pass", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);

	rq = (struct al_request_view){.kind = AL_KIND_CODE,
				      .executable = "python3",
				      .path = "/usr/bin/python3.11",
				      .identity = "a"};
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);

	rq.executable = "echo";
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);

	rq = cmd("echo", "hi", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[1]);
}
END_TEST

START_TEST(defaults)
{
	struct al_decision d;

	init_policy(&tp, AL_EFFECT_ALLOW, false);
	struct al_request_view rq = cmd("anything", "x", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);
	ck_assert_str_eq(d.reason, "no rule matched (default allow)");
	ck_assert_ptr_null(d.profile);
	ck_assert(!d.audit_mode_override);

	init_policy(&tp, AL_EFFECT_DENY, false);
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	ck_assert_str_eq(d.reason, "no rule matched (default deny)");

	al_policy_decide(NULL, &rq, &d);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
}
END_TEST

START_TEST(audit_mode)
{
	struct al_decision d;

	init_policy(&tp, AL_EFFECT_DENY, true);
	add_rule(&tp, "no_curl", AL_KIND_ANY, "^curl$", NULL, NULL, NULL, AL_EFFECT_DENY,
		 "no network tools");
	add_rule(&tp, "ls", AL_KIND_ANY, "^ls$", NULL, NULL, NULL, AL_EFFECT_ALLOW, "ls");

	struct al_request_view rq = cmd("curl", "x", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	ck_assert(d.audit_mode_override);
	ck_assert_str_eq(d.reason, "no network tools");

	rq = cmd("ls", "", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);
	ck_assert(!d.audit_mode_override);

	/* a default denial also runs in audit mode */
	rq = cmd("wget", "", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	ck_assert(d.audit_mode_override);

	/* enforce mode never overrides */
	tp.p.audit_mode = false;
	rq = cmd("curl", "x", "a");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert(!d.audit_mode_override);
}
END_TEST

START_TEST(named_path_needs_path_rule)
{
	struct al_decision d;

	init_policy(&tp, AL_EFFECT_DENY, false);
	add_rule(&tp, "echo", AL_KIND_ANY, "^echo$", NULL, NULL, NULL, AL_EFFECT_ALLOW, "echo");
	struct al_request_view rq = {.kind = AL_KIND_COMMAND,
				     .executable = "echo",
				     .path = "/usr/bin/echo",
				     .args = "hi",
				     .identity = "a",
				     .named_path = true};

	/* "/usr/bin/echo hi" is not "echo hi" for an executable-only rule */
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	ck_assert_ptr_nonnull(strstr(d.reason, "\"path\" pattern"));

	/* the bare name is */
	rq.named_path = false;
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);

	/* a later rule with a path pattern allows the named path */
	add_rule(&tp, "usr_bin", AL_KIND_ANY, NULL, "^/usr/bin/", NULL, NULL, AL_EFFECT_ALLOW,
		 "system binaries");
	rq.named_path = true;
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[1]);
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);

	/* deny rules still apply to named paths, first match */
	init_policy(&tp, AL_EFFECT_ALLOW, false);
	add_rule(&tp, "no_echo", AL_KIND_ANY, "^echo$", NULL, NULL, NULL, AL_EFFECT_DENY, "no");
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_eq(d.rule, &tp.rules[0]);

	/* default allow does not allow a named path */
	init_policy(&tp, AL_EFFECT_ALLOW, false);
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_ptr_null(d.rule);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	rq.named_path = false;
	al_policy_decide(&tp.p, &rq, &d);
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);
}
END_TEST

START_TEST(args_join)
{
	char *argv[] = {"git", "log", "a b", "", "x", NULL};
	cleanup_free char *s = al_args_join(argv, 1);
	ck_assert_str_eq(s, "log a b  x");
	cleanup_free char *e = al_args_join(argv, 5);
	ck_assert_str_eq(e, "");
	char *one[] = {"ls", NULL};
	cleanup_free char *o = al_args_join(one, 1);
	ck_assert_str_eq(o, "");
}
END_TEST

/* ---- path containment --------------------------------------------------- */

START_TEST(path_inside)
{
	ck_assert(al_path_inside("/usr/bin/ls", "/usr"));
	ck_assert(al_path_inside("/usr", "/usr"));
	ck_assert(al_path_inside("/usr/bin/ls", "/usr/"));
	ck_assert(al_path_inside("/usr/bin/ls", "/usr/bin"));
	ck_assert(!al_path_inside("/usrx/ls", "/usr"));
	ck_assert(!al_path_inside("/us", "/usr"));
	ck_assert(!al_path_inside("/usr/bin/ls", "/usr/bin/l"));
	ck_assert(al_path_inside("/anything", "/"));
	ck_assert(!al_path_inside("/usr/bin/ls", "usr"));
	ck_assert(!al_path_inside("usr/bin/ls", "/usr"));
	ck_assert(!al_path_inside("/etc/shadow", "/usr/../etc"));
	ck_assert(!al_path_inside("/usr/bin", "/usr/./bin"));
	ck_assert(!al_path_inside("/usr/bin", "//usr"));
	ck_assert(!al_path_inside("/usr/bin", ""));
	ck_assert(!al_path_inside(NULL, "/usr"));
	ck_assert(al_path_inside("/a/..b/c", "/a/..b"));
}
END_TEST

/* ---- resolution --------------------------------------------------------- */

static char tmp[256];
static char *sys_mounts_v[] = {"/usr", "/lib", "/lib64", "/bin", "/etc/ssl", NULL};
static const struct al_strv sys_mounts = {sys_mounts_v, 5};

static void mkfile(const char *rel, mode_t mode, const char *content)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	ck_assert_int_eq(chmod(p, mode), 0);
}

static void mkd(const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void mklink(const char *target, const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	ck_assert_int_eq(symlink(target, p), 0);
}

static void copy_file(const char *from, const char *rel)
{
	cleanup_close int in = open(from, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(in, 0);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	cleanup_close int out = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_int_ge(out, 0);
	char buf[65536];
	ssize_t r;
	while ((r = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)r), r);
}

static void setup_tree(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/al-test-match-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	/* a realpath'd tmp, so expected strings compare equal */
	char *r = realpath(tmp, NULL);
	ck_assert_ptr_nonnull(r);
	snprintf(tmp, sizeof(tmp), "%s", r);
	free(r);
	mkd("ro");
	mkd("ro/bin");
	mkd("ro/bin/dir");
	mkd("rox");
	mkd("out");
	mkd("a");
	mkd("x");
	mkfile("ro/bin/tool", 0755, "#!/bin/sh\n");
	mkfile("ro/bin/noexec", 0644, "data\n");
	mkfile("rox/tool", 0755, "#!/bin/sh\n");
	mkfile("out/tool", 0755, "#!/bin/sh\n");
	mkfile("a/tool", 0755, "#!/bin/sh\n");
	mklink("../../out/tool", "ro/bin/evil");
	mklink("/usr/bin/ls", "x/ls");
	mklink("nowhere", "ro/bin/dangling");
	copy_file("/bin/echo", "x/echo");
}

static void teardown_tree(void)
{
	char cmdline[PATH_MAX + 16];
	snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmdline), 0);
}

static int resolve(const char *name, const char *path_list, const struct al_strv *mounts,
		   const char *cwd, char *out, bool *named, al_err *err)
{
	return al_resolve_executable(name, path_list, mounts, cwd, out, PATH_MAX, named, err);
}

START_TEST(bare_name_in_default_path)
{
	char out[PATH_MAX];
	bool named = true;
	al_err err = {0};
	cleanup_free char *want = realpath("/usr/bin/echo", NULL);

	ck_assert_int_eq(resolve("echo", NULL, &sys_mounts, NULL, out, &named, &err), 0);
	ck_assert_str_eq(out, want);
	ck_assert(!named);
	ck_assert_int_eq(resolve("echo", "", &sys_mounts, NULL, out, &named, &err), 0);
	ck_assert_str_eq(out, want);

	ck_assert_int_eq(resolve("no-such-command-xyz", NULL, &sys_mounts, NULL, out, &named, &err),
			 -1);
	ck_assert_int_eq(err.errnum, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "not found in PATH /usr/local/bin:/usr/bin:/bin"));
}
END_TEST

START_TEST(merged_usr_symlink)
{
	char out[PATH_MAX];
	bool named = false;
	al_err err = {0};
	char *only_usr_v[] = {"/usr", NULL};
	struct al_strv only_usr = {only_usr_v, 1};
	cleanup_free char *want = realpath("/bin/ls", NULL);

	ck_assert_ptr_nonnull(want);
	/* /bin/ls is judged by its real path */
	int r = resolve("/bin/ls", NULL, &only_usr, NULL, out, &named, &err);
	if (strncmp(want, "/usr/", 5) == 0) {
		ck_assert_msg(r == 0, "%s", err.msg);
		ck_assert_str_eq(out, want);
		ck_assert(named);
	} else {
		ck_assert_int_eq(r, -1); /* not a merged-/usr system */
		ck_assert_int_eq(err.errnum, EACCES);
	}
}
END_TEST

START_TEST(copy_outside_mounts_is_not_echo)
{
	char out[PATH_MAX];
	char name[PATH_MAX];
	bool named = false;
	al_err err = {0};

	snprintf(name, sizeof(name), "%s/x/echo", tmp);
	ck_assert_int_eq(resolve(name, NULL, &sys_mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);
	ck_assert(named);
	ck_assert_ptr_nonnull(strstr(err.msg, "outside the profile's read-only mounts"));
	ck_assert_ptr_nonnull(strstr(err.msg, "/usr, /lib"));
	ck_assert_str_eq(out, "");

	/* relative ./echo in that directory, likewise */
	snprintf(name, sizeof(name), "%s/x", tmp);
	ck_assert_int_eq(resolve("./echo", NULL, &sys_mounts, name, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);
	ck_assert(named);

	/* a relative name with no working directory */
	ck_assert_int_eq(resolve("./echo", NULL, &sys_mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EINVAL);
	ck_assert_int_eq(resolve("./echo", NULL, &sys_mounts, "relative", out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EINVAL);
}
END_TEST

START_TEST(relative_names)
{
	char out[PATH_MAX];
	bool named = false;
	al_err err = {0};
	cleanup_free char *echo = realpath("/usr/bin/echo", NULL);
	cleanup_free char *ls = realpath("/usr/bin/ls", NULL);

	ck_assert_int_eq(resolve("./echo", NULL, &sys_mounts, "/usr/bin", out, &named, &err), 0);
	ck_assert_str_eq(out, echo);
	ck_assert(named);
	ck_assert_int_eq(resolve("../bin/ls", NULL, &sys_mounts, "/usr/share", out, &named, &err),
			 0);
	ck_assert_str_eq(out, ls);
	/* ".." escapes are judged after resolution */
	ck_assert_int_eq(resolve("../../../../../../../etc/passwd", NULL, &sys_mounts, "/usr/bin",
				 out, &named, &err),
			 -1);
	ck_assert_int_eq(err.errnum, EACCES);
}
END_TEST

START_TEST(symlinks_into_and_out_of_mounts)
{
	char out[PATH_MAX], name[PATH_MAX], mnt[PATH_MAX], path[PATH_MAX];
	bool named = false;
	al_err err = {0};
	cleanup_free char *ls = realpath("/usr/bin/ls", NULL);

	/* tmp/x/ls -> /usr/bin/ls: resolves into the allowed tree */
	snprintf(name, sizeof(name), "%s/x/ls", tmp);
	ck_assert_msg(resolve(name, NULL, &sys_mounts, NULL, out, &named, &err) == 0, "%s",
		      err.msg);
	ck_assert_str_eq(out, ls);

	/* tmp/ro/bin/evil -> tmp/out/tool: inside by name, outside for real */
	snprintf(mnt, sizeof(mnt), "%s/ro", tmp);
	char *mv[] = {mnt, NULL};
	struct al_strv mounts = {mv, 1};
	snprintf(path, sizeof(path), "%s/ro/bin", tmp);
	ck_assert_int_eq(resolve("evil", path, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);
	ck_assert(!named);
	ck_assert_ptr_nonnull(strstr(err.msg, "/out/tool"));

	/* the genuine file in the mount is fine */
	ck_assert_int_eq(resolve("tool", path, &mounts, NULL, out, &named, &err), 0);
	snprintf(name, sizeof(name), "%s/ro/bin/tool", tmp);
	ck_assert_str_eq(out, name);

	/* ro does not hold rox/tool (whole components) */
	snprintf(name, sizeof(name), "%s/rox/tool", tmp);
	ck_assert_int_eq(resolve(name, NULL, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);

	/* a dangling symlink in PATH is skipped like a missing file */
	ck_assert_int_eq(resolve("dangling", path, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENOENT);
	snprintf(name, sizeof(name), "%s/ro/bin/dangling", tmp);
	ck_assert_int_eq(resolve(name, path, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENOENT);

	/* no mounts at all hold nothing */
	ck_assert_int_eq(resolve("tool", path, NULL, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);
}
END_TEST

START_TEST(path_search_rules)
{
	char out[PATH_MAX], list[3 * PATH_MAX], mnt[PATH_MAX], want[PATH_MAX];
	bool named = false;
	al_err err = {0};
	char *mv[] = {mnt, NULL};
	struct al_strv mounts = {mv, 1};

	snprintf(mnt, sizeof(mnt), "%s", tmp);
	/* order: the first directory wins */
	snprintf(list, sizeof(list), "%s/a:%s/ro/bin", tmp, tmp);
	ck_assert_int_eq(resolve("tool", list, &mounts, NULL, out, &named, &err), 0);
	snprintf(want, sizeof(want), "%s/a/tool", tmp);
	ck_assert_str_eq(out, want);

	/* the first hit outside the mounts is an error, not a fall-through */
	snprintf(mnt, sizeof(mnt), "%s/ro", tmp);
	ck_assert_int_eq(resolve("tool", list, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);

	/* non-executable files and directories are skipped */
	snprintf(list, sizeof(list), "%s/ro/bin", tmp);
	ck_assert_int_eq(resolve("noexec", list, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENOENT);
	ck_assert_int_eq(resolve("dir", list, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENOENT);
	/* named, they are refused as such */
	snprintf(want, sizeof(want), "%s/ro/bin/noexec", tmp);
	ck_assert_int_eq(resolve(want, list, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);
	ck_assert_ptr_nonnull(strstr(err.msg, "not executable"));
	snprintf(want, sizeof(want), "%s/ro/bin/dir", tmp);
	ck_assert_int_eq(resolve(want, list, &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));

	/* empty, "." and relative PATH entries never search the cwd */
	snprintf(want, sizeof(want), "%s/ro/bin", tmp);
	ck_assert_int_eq(chdir(want), 0);
	ck_assert_int_eq(resolve("tool", "::.:bin:ro/bin", &mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENOENT);
	ck_assert_int_eq(chdir("/"), 0);
}
END_TEST

START_TEST(hostile_names)
{
	char out[PATH_MAX];
	bool named = false;
	al_err err = {0};
	static char longname[PATH_MAX + 10];

	ck_assert_int_eq(resolve("", NULL, &sys_mounts, "/", out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EINVAL);
	ck_assert_int_eq(resolve(NULL, NULL, &sys_mounts, "/", out, &named, &err), -1);
	ck_assert_int_eq(resolve("..", NULL, &sys_mounts, "/", out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EINVAL);
	ck_assert_int_eq(resolve(".", NULL, &sys_mounts, "/", out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EINVAL);
	/* directories are not commands */
	ck_assert_int_eq(resolve("../", NULL, &sys_mounts, "/usr/bin", out, &named, &err), -1);
	ck_assert_int_eq(resolve("/usr/bin", NULL, &sys_mounts, NULL, out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, EACCES);

	memset(longname, 'a', PATH_MAX + 5);
	ck_assert_int_eq(resolve(longname, NULL, &sys_mounts, "/", out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENAMETOOLONG);
	longname[300] = '\0';
	ck_assert_int_eq(resolve(longname, NULL, &sys_mounts, "/", out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENAMETOOLONG);
	/* a long relative path that does not fit with the cwd */
	memset(longname, 'a', PATH_MAX + 5);
	longname[PATH_MAX - 3] = '\0';
	longname[0] = '.';
	longname[1] = '/';
	ck_assert_int_eq(resolve(longname, NULL, &sys_mounts, "/usr/bin", out, &named, &err), -1);
	ck_assert_int_eq(err.errnum, ENAMETOOLONG);
	/* long but well-formed: resolves or fails cleanly */
	char deep[PATH_MAX];
	size_t off = 0;
	while (off + 8 < 3000)
		off += (size_t)snprintf(deep + off, sizeof(deep) - off, "/usr/..");
	snprintf(deep + off, sizeof(deep) - off, "/usr/bin/ls");
	ck_assert_int_eq(resolve(deep, NULL, &sys_mounts, NULL, out, &named, &err), 0);

	/* the result buffer is respected */
	char small[4];
	ck_assert_int_eq(al_resolve_executable("echo", NULL, &sys_mounts, NULL, small,
					       sizeof(small), &named, &err),
			 -1);
	ck_assert_int_eq(err.errnum, ENAMETOOLONG);
	ck_assert_str_eq(small, "");
}
END_TEST

/* ---- with a policy from the loader (policy.c) --------------------------- */

static const char policy_json[] =
    "{\"version\": \"2.0\", \"mode\": \"enforce\", \"default\": \"deny\", \"rules\": ["
    " {\"id\": \"git_read_only\", \"match\": {\"executable\": \"^git$\", \"args_pattern\":"
    "  \"^(status|log|diff)( |$)\", \"identity\": \"^dev-\"}, \"effect\": \"allow\","
    "  \"reason\": \"read-only git\", \"profile\": \"command_default\"},"
    " {\"id\": \"no_rm\", \"match\": {\"executable\": \"^rm$\"}, \"effect\": \"deny\","
    "  \"reason\": \"no rm\"},"
    " {\"id\": \"py\", \"match\": {\"kind\": \"code\"}, \"effect\": \"allow\","
    "  \"profile\": \"python_sandbox\"},"
    " {\"id\": \"echo\", \"match\": {\"kind\": \"command\", \"executable\": \"^echo$\"},"
    "  \"effect\": \"allow\", \"profile\": \"command_default\"},"
    " {\"id\": \"usr_bin_path\", \"match\": {\"kind\": \"command\", \"path\": \"^/usr/bin/ls$\"},"
    "  \"effect\": \"allow\"}],"
    " \"profiles\": {"
    "  \"python_sandbox\": {\"language\": \"python\", \"interpreter\": \"/usr/bin/python3\","
    "   \"fs\": {\"cwd\": \"/work\", \"workspace\": \"/var/lib/agentlaunch/work/{identity}\","
    "   \"read_only\": [\"/usr\", \"/lib\"], \"tmpfs\": [\"/tmp\"]},"
    "   \"limits\": {\"timeout_sec\": 30}, \"syscall_profile\": \"restricted\"},"
    "  \"command_default\": {\"path\": \"/usr/local/bin:/usr/bin:/bin\", \"shell\": false,"
    "   \"network\": \"none\", \"fs\": {\"cwd\": \"/work\","
    "   \"workspace\": \"/var/lib/agentlaunch/work/{identity}\","
    "   \"read_only\": [\"/usr\", \"/lib\", \"/lib64\", \"/bin\", \"/etc/ssl\"],"
    "   \"tmpfs\": [\"/tmp\"]}, \"limits\": {\"timeout_sec\": 60},"
    "   \"syscall_profile\": \"restricted\"}},"
    " \"syscall_profiles\": {\"restricted\": {\"default\": \"allow\","
    "  \"deny\": [\"ptrace\", \"mount\", \"bpf\"]}}}";

/* Resolve a command with the command_default profile and decide on it. */
static int decide_cmd(const struct al_policy *p, const char *name, const char *args,
		      const char *identity, struct al_decision *d, char *resolved)
{
	const struct al_profile *prof = al_policy_find_profile(p, "command_default");
	bool named = false;
	al_err err = {0};

	ck_assert_ptr_nonnull(prof);
	if (al_resolve_executable(name, prof->path, &prof->fs.read_only, NULL, resolved, PATH_MAX,
				  &named, &err) < 0)
		return -1;
	const char *base = strrchr(resolved, '/') + 1;
	struct al_request_view rq = {.kind = AL_KIND_COMMAND,
				     .executable = base,
				     .path = resolved,
				     .args = args,
				     .identity = identity,
				     .named_path = named};
	al_policy_decide(p, &rq, d);
	return 0;
}

START_TEST(with_loaded_policy)
{
	struct al_policy *p = NULL;
	struct al_decision d;
	al_err err = {0};
	char resolved[PATH_MAX];
	char copy[PATH_MAX];

	ck_assert_msg(al_policy_load_buf(policy_json, strlen(policy_json), "<test>", &p, &err) == 0,
		      "%s", err.msg);
	ck_assert_int_eq(decide_cmd(p, "echo", "hi", "a", &d, resolved), 0);
	ck_assert_str_eq(d.rule->id, "echo");
	ck_assert_int_eq(d.effect, AL_EFFECT_ALLOW);
	ck_assert_ptr_eq(d.profile, al_policy_find_profile(p, "command_default"));

	/* /usr/bin/echo names a path: the executable-only rule does not allow it */
	ck_assert_int_eq(decide_cmd(p, "/usr/bin/echo", "hi", "a", &d, resolved), 0);
	ck_assert_ptr_null(d.rule);
	ck_assert_int_eq(d.effect, AL_EFFECT_DENY);
	/* but a path rule does */
	ck_assert_int_eq(decide_cmd(p, "/usr/bin/ls", "-l", "a", &d, resolved), 0);
	ck_assert_str_eq(d.rule->id, "usr_bin_path");
	ck_assert_int_eq(decide_cmd(p, "ls", "-l", "a", &d, resolved), 0);
	ck_assert_str_eq(d.rule->id, "usr_bin_path");

	ck_assert_int_eq(decide_cmd(p, "rm", "-rf /", "dev-1", &d, resolved), 0);
	ck_assert_str_eq(d.rule->id, "no_rm");
	ck_assert_str_eq(d.reason, "no rm");

	/* a copy of echo outside the read-only mounts never resolves */
	snprintf(copy, sizeof(copy), "%s/x/echo", tmp);
	ck_assert_int_eq(decide_cmd(p, copy, "hi", "a", &d, resolved), -1);

	/* code requests match kind "code" rules only */
	struct al_request_view rq = {.kind = AL_KIND_CODE,
				     .executable = "python3",
				     .path = "/usr/bin/python3",
				     .identity = "a"};
	al_policy_decide(p, &rq, &d);
	ck_assert_str_eq(d.rule->id, "py");
	ck_assert_str_eq(d.profile->name, "python_sandbox");
	rq.executable = "echo";
	al_policy_decide(p, &rq, &d);
	ck_assert_str_eq(d.rule->id, "py");
	al_policy_free(p);
}
END_TEST

static Suite *match_suite(void)
{
	Suite *s = suite_create("match");
	TCase *tc = tcase_create("decide");

	tcase_add_checked_fixture(tc, NULL, free_patterns);
	tcase_add_test(tc, first_match_wins);
	tcase_add_test(tc, empty_rule_matches_everything);
	tcase_add_test(tc, identity_and_args);
	tcase_add_test(tc, kind_filter);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, audit_mode);
	tcase_add_test(tc, named_path_needs_path_rule);
	tcase_add_test(tc, args_join);
	tcase_add_test(tc, path_inside);
	suite_add_tcase(s, tc);

	tc = tcase_create("resolve");
	tcase_add_unchecked_fixture(tc, setup_tree, teardown_tree);
	tcase_add_test(tc, bare_name_in_default_path);
	tcase_add_test(tc, merged_usr_symlink);
	tcase_add_test(tc, copy_outside_mounts_is_not_echo);
	tcase_add_test(tc, relative_names);
	tcase_add_test(tc, symlinks_into_and_out_of_mounts);
	tcase_add_test(tc, path_search_rules);
	tcase_add_test(tc, hostile_names);
	tcase_add_test(tc, with_loaded_policy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(match_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
