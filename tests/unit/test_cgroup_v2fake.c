/* The cgroup v2 backend over a fake cgroupfs in a temp dir (no root, no
 * cgroup2 mount needed): the same code as on a real v2 host, through the
 * al_cgroup_testing_v2_* entry points. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/cgroup.h"
#include "tests/unit/cgroup_test.h"

struct fake {
	bool peak;	 /* the fake kernel has memory.peak */
	char killed[16]; /* what cgroup.kill held when its group was removed */
	int rmdirs;
};

static bool has(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* mkdir as cgroupfs does it: the interface files of the controllers that
 * the parent's subtree_control enables. */
static int fake_mkdirat(int dfd, const char *name, void *arg)
{
	struct fake *f = arg;
	char sub[256] = "", ctl[256] = "";

	if (mkdirat(dfd, name, 0755) < 0)
		return -1;
	int fd = openat(dfd, "cgroup.subtree_control", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, sub, sizeof(sub) - 1);
		sub[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	for (char *s = NULL, *t = strtok_r(sub, " \n", &s); t; t = strtok_r(NULL, " \n", &s)) {
		size_t l = strlen(ctl);
		snprintf(ctl + l, sizeof(ctl) - l, "%s%s", l ? " " : "", t[0] == '+' ? t + 1 : t);
	}
	int d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(d, "cgroup.controllers", ctl);
	put(d, "cgroup.subtree_control", "");
	put(d, "cgroup.procs", "");
	put(d, "cgroup.events", "populated 0\nfrozen 0\n");
	put(d, "cgroup.kill", "");
	put(d, "cgroup.freeze", "0\n");
	put(d, "cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
	if (has(ctl, "memory")) {
		put(d, "memory.max", "max\n");
		put(d, "memory.current", "0\n");
		put(d, "memory.swap.max", "max\n");
		put(d, "memory.oom.group", "0\n");
		put(d, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
		if (f->peak)
			put(d, "memory.peak", "0\n");
	}
	if (has(ctl, "pids"))
		put(d, "pids.max", "max\n");
	if (has(ctl, "cpu"))
		put(d, "cpu.max", "max 100000\n");
	close(d);
	return 0;
}

/* rmdir as cgroupfs does it: refused while child groups exist; the
 * interface files go with the directory. */
static int fake_rmdirat(int dfd, const char *name, void *arg)
{
	struct fake *f = arg;
	int d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (d < 0)
		return -1;
	DIR *dir = fdopendir(d);
	for (struct dirent *e; (e = readdir(dir)) != NULL;) {
		if (e->d_type == DT_DIR && e->d_name[0] != '.') {
			closedir(dir);
			errno = EBUSY;
			return -1;
		}
	}
	snprintf(f->killed, sizeof(f->killed), "%s", "");
	int k = openat(dirfd(dir), "cgroup.kill", O_RDONLY | O_CLOEXEC);
	if (k >= 0) {
		ssize_t n = read(k, f->killed, sizeof(f->killed) - 1);
		f->killed[n > 0 ? n : 0] = '\0';
		close(k);
	}
	rewinddir(dir);
	for (struct dirent *e; (e = readdir(dir)) != NULL;)
		if (e->d_type == DT_REG)
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
	f->rmdirs++;
	return unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Every fake tree lives under fake_base, made and removed by the parent
 * (an unchecked fixture), so a failing test leaves nothing in /tmp. */
static char fake_base[64], fake_root[128];
static struct fake fk;
static const struct al_cg_fakefs fakefs = {fake_mkdirat, fake_rmdirat, &fk};

static void fake_base_make(void)
{
	snprintf(fake_base, sizeof(fake_base), "/tmp/cgfake.XXXXXX");
	if (mkdtemp(fake_base) == NULL)
		fake_base[0] = '\0';
}

static void fake_base_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_base);
	if (fake_base[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fake_base);
}

static void fake_setup(const char *controllers)
{
	ck_assert_msg(fake_base[0], "no temp dir");
	snprintf(fake_root, sizeof(fake_root), "%s/root.XXXXXX", fake_base);
	ck_assert_ptr_nonnull(mkdtemp(fake_root));
	int d = open(fake_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(d, "cgroup.controllers", controllers);
	put(d, "cgroup.subtree_control", "");
	put(d, "cgroup.procs", "1\n");
	close(d);
	memset(&fk, 0, sizeof(fk));
	fk.peak = true;
}

static void rm_rf(const char *path)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_fake_v2_create_values)
{
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, 50);
	struct al_cg_caps caps;
	al_err err = {0};
	struct stat a, b;

	fake_setup("cpuset cpu io memory hugetlb pids rdma misc\n");
	ck_assert_msg(al_cgroup_testing_v2_probe(fake_root, NULL, &caps, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(caps.version, AL_CG_V2);
	ck_assert(caps.memory && caps.pids && caps.cpu && caps.cpuacct && !caps.memsw);
	ck_assert_str_eq(caps.v2_root, fake_root);

	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-1",
						  &l, &cg, &err) == 0,
		      "create: %s", err.msg);
	ck_assert_str_eq(slurp("%s/cgroup.subtree_control", fake_root), "+memory +pids +cpu");
	ck_assert_str_eq(slurp("%s/agentlaunch/cgroup.subtree_control", fake_root),
			 "+memory +pids +cpu");
	ck_assert_str_eq(slurp("%s/agentlaunch/r-1/memory.max", fake_root), "33554432");
	ck_assert_str_eq(slurp("%s/agentlaunch/r-1/memory.swap.max", fake_root), "0");
	ck_assert_str_eq(slurp("%s/agentlaunch/r-1/memory.oom.group", fake_root), "1");
	ck_assert_str_eq(slurp("%s/agentlaunch/r-1/pids.max", fake_root), "16");
	ck_assert_str_eq(slurp("%s/agentlaunch/r-1/cpu.max", fake_root), "50000 100000");
	/* dirfd is the group's directory */
	char gp[128];
	snprintf(gp, sizeof(gp), "%s/agentlaunch/r-1", fake_root);
	ck_assert_int_eq(fstat(al_cgroup_dirfd(cg), &a), 0);
	ck_assert_int_eq(stat(gp, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	ck_assert_int_eq(fcntl(al_cgroup_dirfd(cg), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(fcntl(al_cgroup_dirfd(cg), F_GETFL) & O_PATH, O_PATH);
	ck_assert_str_eq(al_cgroup_path(cg), gp);

	/* The same id again: refused. */
	struct al_cgroup *again = NULL;
	ck_assert_int_lt(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-1",
						     &l, &again, &err),
			 0);
	ck_assert_int_eq(err.errnum, EEXIST);

	/* A second group, no CPU quota: cpu.max untouched, nothing more enabled. */
	struct al_cgroup *cg2 = NULL;
	l = lim(8, 4, AL_LIMIT_UNSET);
	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-2",
						  &l, &cg2, &err) == 0,
		      "create: %s", err.msg);
	ck_assert_str_eq(slurp("%s/agentlaunch/r-2/cpu.max", fake_root), "max 100000");
	ck_assert_str_eq(slurp("%s/agentlaunch/r-2/memory.max", fake_root), "8388608");
	ck_assert_str_eq(slurp("%s/agentlaunch/r-2/pids.max", fake_root), "4");

	/* kill goes through cgroup.kill; destroy removes the directory only */
	ck_assert_msg(al_cgroup_kill(cg, &err) == 0, "kill: %s", err.msg);
	ck_assert_str_eq(slurp("%s/cgroup.kill", gp), "1");
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	ck_assert_str_eq(fk.killed, "1");
	ck_assert(access(gp, F_OK) != 0);
	ck_assert_msg(al_cgroup_destroy(cg2, &err) == 0, "destroy: %s", err.msg);
	snprintf(gp, sizeof(gp), "%s/agentlaunch", fake_root);
	ck_assert(access(gp, F_OK) == 0);
	rm_rf(fake_root);
}
END_TEST

START_TEST(test_fake_v2_stats)
{
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, AL_LIMIT_UNSET);
	al_err err = {0};
	int64_t peak = -1, cpu = -1;
	bool oom = false;
	char g[128];

	fake_setup("cpu memory pids\n");
	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-1",
						  &l, &cg, &err) == 0,
		      "create: %s", err.msg);
	snprintf(g, sizeof(g), "%s/agentlaunch/r-1", fake_root);
	int d = open(g, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_msg(al_cgroup_stats(cg, &peak, &cpu, &oom, &err) == 0, "stats: %s", err.msg);
	ck_assert(peak == 0 && cpu == 0 && !oom);
	put(d, "memory.events", "low 0\nhigh 0\nmax 17\noom 1\noom_kill 1\noom_group_kill 0\n");
	put(d, "cpu.stat",
	    "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n"
	    "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n");
	put(d, "memory.peak", "41943040\n");
	ck_assert_msg(al_cgroup_stats(cg, &peak, &cpu, &oom, &err) == 0, "stats: %s", err.msg);
	ck_assert_int_eq(peak, 41943040);
	ck_assert_int_eq(cpu, 123456000);
	ck_assert(oom);
	/* Each output is optional. */
	ck_assert_int_eq(al_cgroup_stats(cg, NULL, NULL, NULL, &err), 0);
	/* Garbage is an error that names the file. */
	put(d, "cpu.stat", "user_usec 1\n");
	ck_assert_int_lt(al_cgroup_stats(cg, NULL, &cpu, NULL, &err), 0);
	ck_assert_msg(strstr(err.msg, "cpu.stat") && strstr(err.msg, "usage_usec"), "%s", err.msg);
	close(d);
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	rm_rf(fake_root);
}
END_TEST

START_TEST(test_fake_v2_peak_fallback)
{
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, AL_LIMIT_UNSET);
	al_err err = {0};
	int64_t peak = -1;
	char g[128];

	fake_setup("cpu memory pids\n");
	fk.peak = false; /* a kernel older than 5.19 */
	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-1",
						  &l, &cg, &err) == 0,
		      "create: %s", err.msg);
	snprintf(g, sizeof(g), "%s/agentlaunch/r-1", fake_root);
	int d = open(g, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *seq[] = {"1000\n", "500\n", "2000\n", "0\n"};
	const int64_t want[] = {1000, 1000, 2000, 2000};
	for (int i = 0; i < 4; i++) {
		put(d, "memory.current", seq[i]);
		ck_assert_msg(al_cgroup_stats(cg, &peak, NULL, NULL, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(peak, want[i]);
	}
	close(d);
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	rm_rf(fake_root);
}
END_TEST

START_TEST(test_fake_v2_fail_closed)
{
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, 50);
	al_err err = {0};

	fake_setup("cpuset cpu io memory\n"); /* no pids */
	ck_assert_int_lt(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-1",
						     &l, &cg, &err),
			 0);
	ck_assert_int_eq(err.errnum, ENOTSUP);
	ck_assert_msg(strstr(err.msg, "the pids controller is not available") != NULL, "%s",
		      err.msg);
	ck_assert(cg == NULL);
	ck_assert(!exists("%s/agentlaunch", fake_root));
	rm_rf(fake_root);

	/* cpu only matters when a CPU quota is asked for */
	fake_setup("memory pids\n");
	ck_assert_int_lt(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-1",
						     &l, &cg, &err),
			 0);
	ck_assert_msg(strstr(err.msg, "the cpu controller is not available") != NULL, "%s",
		      err.msg);
	l = lim(32, 16, AL_LIMIT_UNSET);
	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "r-1",
						  &l, &cg, &err) == 0,
		      "create: %s", err.msg);
	ck_assert_str_eq(slurp("%s/cgroup.subtree_control", fake_root), "+memory +pids");
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	rm_rf(fake_root);
}
END_TEST

START_TEST(test_fake_v2_base)
{
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, 25);
	struct al_cg_caps caps;
	al_err err = {0};

	/* A delegated subtree named like a systemd template instance
	 * (system.slice/agentlaunch@probe.service), with the gateway
	 * itself in a leaf beside ours. */
	fake_setup("cpu memory pids\n");
	int r = open(fake_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(r, "cgroup.subtree_control", "cpu memory pids");
	ck_assert_int_eq(fake_mkdirat(r, "system.slice", &fk), 0);
	int s = openat(r, "system.slice", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(s, "cgroup.subtree_control", "memory pids cpu");
	ck_assert_int_eq(fake_mkdirat(s, "agentlaunch@probe.service", &fk), 0);
	close(s);
	close(r);

	ck_assert_int_eq(
	    al_cgroup_testing_v2_probe(fake_root, "system.slice/agentlaunch@probe.service", &caps, &err), 0);
	ck_assert(caps.memory && caps.pids && caps.cpu && caps.swap_max && caps.peak && caps.kill);
	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, "system.slice/agentlaunch@probe.service",
						  &fakefs, "agentlaunch", "r-1", &l, &cg,
						  &err) == 0,
		      "create: %s", err.msg);
	ck_assert_str_eq(slurp("%s/cgroup.subtree_control", fake_root), "cpu memory pids");
	ck_assert_str_eq(slurp("%s/system.slice/agentlaunch@probe.service/cgroup.subtree_control", fake_root),
			 "+memory +pids +cpu");
	ck_assert_str_eq(
	    slurp("%s/system.slice/agentlaunch@probe.service/agentlaunch/r-1/cpu.max", fake_root),
	    "25000 100000");
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);

	/* Run names stay strict: '@' is for the operator's base only. */
	ck_assert_int_lt(al_cgroup_testing_v2_create(fake_root, "system.slice/agentlaunch@probe.service",
						     &fakefs, "agentlaunch", "r@1", &l, &cg, &err),
			 0);
	ck_assert_int_eq(err.errnum, EINVAL);

	/* A base that does not exist, or escapes the root: errors. */
	ck_assert_int_lt(al_cgroup_testing_v2_create(fake_root, "nope", &fakefs, "agentlaunch",
						     "r-1", &l, &cg, &err),
			 0);
	ck_assert_msg(strstr(err.msg, "AGENTLAUNCH_CGROUP_BASE") != NULL, "%s", err.msg);
	ck_assert_int_lt(al_cgroup_testing_v2_create(fake_root, "../etc", &fakefs, "agentlaunch",
						     "r-1", &l, &cg, &err),
			 0);
	ck_assert_int_eq(err.errnum, EINVAL);
	/* A delegated base without pids: fail closed, pointing at the parent. */
	r = open(fake_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_eq(fake_mkdirat(r, "nopids", &fk), 0);
	put(r, "nopids/cgroup.controllers", "cpu memory");
	close(r);
	ck_assert_int_lt(al_cgroup_testing_v2_create(fake_root, "nopids", &fakefs, "agentlaunch",
						     "r-1", &l, &cg, &err),
			 0);
	ck_assert_msg(strstr(err.msg, "pids") && strstr(err.msg, "Delegate=yes"), "%s", err.msg);
	rm_rf(fake_root);
}
END_TEST

START_TEST(test_fake_v2_sweep)
{
	struct al_cgroup *live = NULL;
	struct al_limits l = lim(32, 16, AL_LIMIT_UNSET);
	al_err err = {0};
	char p[128];

	fake_setup("cpu memory pids\n");
	/* No parent yet: nothing to do. */
	ck_assert_int_eq(al_cgroup_testing_v2_sweep(fake_root, NULL, &fakefs, "agentlaunch", &err),
			 0);
	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, NULL, &fakefs, "agentlaunch", "live",
						  &l, &live, &err) == 0,
		      "create: %s", err.msg);
	snprintf(p, sizeof(p), "%s/agentlaunch", fake_root);
	int pd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_eq(fake_mkdirat(pd, "stale", &fk), 0);
	ck_assert_int_eq(fake_mkdirat(pd, "busy", &fk), 0);
	put(pd, "busy/cgroup.events", "populated 1\nfrozen 0\n");
	/* a stale group with a nested (empty) child group */
	ck_assert_int_eq(fake_mkdirat(pd, "nested", &fk), 0);
	int nd = openat(pd, "nested", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_eq(fake_mkdirat(nd, "inner", &fk), 0);
	close(nd);

	ck_assert_int_eq(al_cgroup_testing_v2_sweep(fake_root, NULL, &fakefs, "agentlaunch", &err),
			 2);
	ck_assert(faccessat(pd, "stale", F_OK, 0) != 0);
	ck_assert(faccessat(pd, "nested", F_OK, 0) != 0);
	ck_assert(faccessat(pd, "busy", F_OK, 0) == 0);
	ck_assert(faccessat(pd, "live", F_OK, 0) == 0);
	put(pd, "busy/cgroup.events", "populated 0\nfrozen 0\n");
	ck_assert_int_eq(al_cgroup_testing_v2_sweep(fake_root, NULL, &fakefs, "agentlaunch", &err),
			 1);
	ck_assert(faccessat(pd, "busy", F_OK, 0) != 0);
	ck_assert_msg(al_cgroup_destroy(live, &err) == 0, "destroy: %s", err.msg);
	close(pd);
	rm_rf(fake_root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cgroup_v2fake");
	TCase *fake = tcase_create("fake_v2");

	tcase_add_test(fake, test_fake_v2_create_values);
	tcase_add_test(fake, test_fake_v2_stats);
	tcase_add_test(fake, test_fake_v2_peak_fallback);
	tcase_add_test(fake, test_fake_v2_fail_closed);
	tcase_add_test(fake, test_fake_v2_base);
	tcase_add_test(fake, test_fake_v2_sweep);
	tcase_add_unchecked_fixture(fake, fake_base_make, fake_base_remove);
	suite_add_tcase(s, fake);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
