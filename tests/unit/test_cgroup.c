/* cgroup module: real groups on this host (root required: cgroupfs is
 * root-owned), on whatever this host has (v1 hybrid or v2; the v2 VM runs
 * them too: tests/vm/cgroup_v2.sh).  The v2 backend over a fake cgroupfs is
 * tested in test_cgroup_v2fake.c. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared/cgroup.h"
#include "shared/util.h"
#include "tests/unit/cgroup_test.h"

#define PARENT "agentlaunch-test"

static const char *const hier[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};

static void run_id(char *buf, size_t sz, const char *tag)
{
	static int n;
	snprintf(buf, sz, "t-%s-%d-%d", tag, (int)getpid(), n++);
}

static void require_root(void)
{
	ck_assert_msg(geteuid() == 0,
		      "these tests create real cgroups and need root (run as root)");
}

/* Where v2 groups go: the root, or $AGENTLAUNCH_CGROUP_BASE below it. */
static const char *env_base(void)
{
	static char b[256];
	const char *e = getenv("AGENTLAUNCH_CGROUP_BASE");

	snprintf(b, sizeof(b), "%s", e ? e + strspn(e, "/") : "");
	for (size_t n = strlen(b); n > 0 && b[n - 1] == '/'; n--)
		b[n - 1] = '\0';
	return b;
}

static const char *v2dir(const struct al_cg_caps *caps)
{
	static char d[600];
	snprintf(d, sizeof(d), "%s%s%s", caps->v2_root, *env_base() ? "/" : "", env_base());
	return d;
}

/* No directory of the group is left in any hierarchy. */
static void assert_gone(const struct al_cg_caps *caps, const char *id)
{
	if (caps->version == AL_CG_V1) {
		for (size_t i = 0; i < sizeof(hier) / sizeof(hier[0]); i++)
			ck_assert_msg(!exists("/sys/fs/cgroup/%s/%s/%s", hier[i], PARENT, id),
				      "cgroup %s/%s left in %s", PARENT, id, hier[i]);
	} else {
		ck_assert_msg(!exists("%s/%s/%s", v2dir(caps), PARENT, id),
			      "cgroup %s/%s left behind", PARENT, id);
	}
}

static void probe(struct al_cg_caps *caps)
{
	al_err err = {0};
	ck_assert_msg(al_cgroup_probe(caps, &err) == 0, "probe: %s", err.msg);
	ck_assert_msg(caps->version != AL_CG_NONE, "no cgroups on this host");
}

/* A child that waits for a byte on a pipe, then runs fn. */
static pid_t spawn_waiting(int *go, void (*fn)(int), int arg)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(99);
		fn(arg);
		_exit(0);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static void release(int go)
{
	ck_assert_int_eq(write(go, "x", 1), 1);
	close(go);
}

/* The v1 favordynmods hierarchy is mounted (see cgroup_v1.c). */
static bool favor_in_mountinfo(void)
{
	char *mi = NULL;
	al_err err;
	bool found = false;

	if (al_read_file("/proc/self/mountinfo", 1 << 22, &mi, NULL, &err) < 0)
		return false;
	for (char *save = NULL, *line = strtok_r(mi, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save))
		found = strstr(line, " /run/agentlaunch/cgfavor ") && strstr(line, " - cgroup ") &&
			strstr(line, "name=agentlaunch");
	free(mi);
	return found;
}

/* ---- real cgroups -------------------------------------------------------- */

START_TEST(test_probe)
{
	struct al_cg_caps caps;
	probe(&caps);
	printf("cgroup probe: %s memory=%d cpu=%d cpuacct=%d pids=%d memsw=%d swap_max=%d "
	       "peak=%d kill=%d v2_root=\"%s\"\n",
	       al_cgroup_version_name(caps.version), caps.memory, caps.cpu, caps.cpuacct, caps.pids,
	       caps.memsw, caps.swap_max, caps.peak, caps.kill, caps.v2_root);
	ck_assert(caps.memory && caps.pids && caps.cpuacct);
	ck_assert_str_eq(al_cgroup_version_name(AL_CG_V1), "v1");
	ck_assert_str_eq(al_cgroup_version_name(AL_CG_V2), "v2");
	ck_assert_str_eq(al_cgroup_version_name(AL_CG_NONE), "none");
	if (caps.version == AL_CG_V1)
		ck_assert_str_eq(caps.v2_root, "");
	else
		ck_assert(caps.v2_root[0] == '/');
}
END_TEST

/* The statfs fast path and /proc/self/mountinfo agree (here and in the v2
 * VM both are standard layouts, so the fast path must be taken). */
START_TEST(test_probe_fast_matches_mountinfo)
{
	struct al_cg_caps a, b;
	char ma[5][512], mb[5][512];
	al_err err = {0};

	int fast = al_cgroup_testing_probe(true, &a, ma, &err);
	ck_assert_msg(fast >= 0, "fast probe: %s", err.msg);
	ck_assert_int_ge(al_cgroup_testing_probe(false, &b, mb, &err), 0);
	ck_assert_msg(fast == 1, "the fast path does not recognise this host's layout");
	ck_assert_int_eq(a.version, b.version);
	ck_assert_int_eq(a.memory, b.memory);
	ck_assert_int_eq(a.pids, b.pids);
	ck_assert_int_eq(a.cpu, b.cpu);
	ck_assert_int_eq(a.cpuacct, b.cpuacct);
	ck_assert_int_eq(a.memsw, b.memsw);
	ck_assert_int_eq(a.swap_max, b.swap_max);
	ck_assert_str_eq(a.v2_root, b.v2_root);
	for (int i = 0; i < 5; i++) {
		/* same mount (mountinfo names a co-mount by its first path) */
		struct stat sa, sb;
		ck_assert_int_eq(ma[i][0] == '\0', mb[i][0] == '\0');
		if (ma[i][0] == '\0')
			continue;
		ck_assert_int_eq(stat(ma[i], &sa), 0);
		ck_assert_int_eq(stat(mb[i], &sb), 0);
		ck_assert_msg(sa.st_dev == sb.st_dev, "controller %d: %s vs %s", i, ma[i], mb[i]);
	}
}
END_TEST

START_TEST(test_create_limits_readback)
{
	struct al_cg_caps caps;
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, 50);
	al_err err = {0};
	char id[64];

	require_root();
	probe(&caps);
	run_id(id, sizeof(id), "limits");
	ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s", err.msg);
	if (caps.version == AL_CG_V1) {
		const char *m = "/sys/fs/cgroup/memory/" PARENT;
		ck_assert_str_eq(slurp("%s/%s/memory.limit_in_bytes", m, id), "33554432");
		if (caps.memsw)
			ck_assert_str_eq(slurp("%s/%s/memory.memsw.limit_in_bytes", m, id),
					 "33554432");
		ck_assert_str_eq(slurp("/sys/fs/cgroup/pids/" PARENT "/%s/pids.max", id), "16");
		ck_assert_str_eq(slurp("/sys/fs/cgroup/cpu/" PARENT "/%s/cpu.cfs_quota_us", id),
				 "50000");
		ck_assert_str_eq(slurp("/sys/fs/cgroup/cpu/" PARENT "/%s/cpu.cfs_period_us", id),
				 "100000");
		ck_assert(exists("/sys/fs/cgroup/%s/%s/%s", "cpuacct", PARENT, id));
		ck_assert_int_eq(al_cgroup_dirfd(cg), -1);
		ck_assert(strstr(al_cgroup_path(cg), "/memory/" PARENT "/") != NULL);
	} else {
		const char *r = v2dir(&caps);
		ck_assert_str_eq(slurp("%s/" PARENT "/%s/memory.max", r, id), "33554432");
		if (caps.swap_max)
			ck_assert_str_eq(slurp("%s/" PARENT "/%s/memory.swap.max", r, id), "0");
		ck_assert_str_eq(slurp("%s/" PARENT "/%s/pids.max", r, id), "16");
		ck_assert_str_eq(slurp("%s/" PARENT "/%s/cpu.max", r, id), "50000 100000");
		ck_assert_int_ge(al_cgroup_dirfd(cg), 0);
	}
	/* The same name again is refused, not reused. */
	struct al_cgroup *again = NULL;
	ck_assert_int_lt(al_cgroup_create(PARENT, id, &l, &again, &err), 0);
	ck_assert_int_eq(err.errnum, EEXIST);
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	assert_gone(&caps, id);

	/* Without a CPU quota the group has none (v1: no cpu hierarchy). */
	l = lim(32, 16, AL_LIMIT_UNSET);
	ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s", err.msg);
	if (caps.version == AL_CG_V1)
		ck_assert(!exists("/sys/fs/cgroup/%s/%s/%s", "cpu", PARENT, id));
	else
		ck_assert_str_eq(slurp("%s/" PARENT "/%s/cpu.max", v2dir(&caps), id), "max 100000");
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	assert_gone(&caps, id);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, AL_LIMIT_UNSET);
	al_err err = {0};

	ck_assert_int_lt(al_cgroup_create(PARENT, "../x", &l, &cg, &err), 0);
	ck_assert_int_eq(err.errnum, EINVAL);
	ck_assert_int_lt(al_cgroup_create("/abs", "r", &l, &cg, &err), 0);
	ck_assert_int_lt(al_cgroup_create("a//b", "r", &l, &cg, &err), 0);
	ck_assert_int_lt(al_cgroup_create(PARENT, "a/b", &l, &cg, &err), 0);
	l.mem_max_mb = AL_LIMIT_UNSET;
	ck_assert_int_lt(al_cgroup_create(PARENT, "r", &l, &cg, &err), 0);
	ck_assert_msg(strstr(err.msg, "memory limit") != NULL, "%s", err.msg);
	l = lim(32, AL_LIMIT_UNSET, AL_LIMIT_UNSET);
	ck_assert_int_lt(al_cgroup_create(PARENT, "r", &l, &cg, &err), 0);
	ck_assert_msg(strstr(err.msg, "pids limit") != NULL, "%s", err.msg);
	ck_assert_int_lt(al_cgroup_sweep("../x", &err), 0);
	ck_assert_int_eq(al_cgroup_destroy(NULL, &err), 0);
}
END_TEST

static void burn_cpu(int ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

/* Touch 4 MiB (charged to the new group), then burn ms of CPU. */
static void work(int ms)
{
	char *p = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(3);
	memset(p, 1, 4 << 20);
	burn_cpu(ms);
}

START_TEST(test_attach_cpu_time)
{
	struct al_cg_caps caps;
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(64, 16, AL_LIMIT_UNSET);
	al_err err = {0};
	char id[64];
	int go, st;
	int64_t peak = -1, cpu = -1;
	bool oom = true;

	require_root();
	probe(&caps);
	run_id(id, sizeof(id), "attach");
	ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s", err.msg);
	pid_t pid = spawn_waiting(&go, work, 100);
	ck_assert_msg(al_cgroup_attach(cg, pid, &err) == 0, "attach: %s", err.msg);
	/* The child is in the group in every hierarchy. */
	const char *pc = slurp("/proc/%d/cgroup", (int)pid);
	char want[160];
	if (caps.version == AL_CG_V1) {
		const char *ctls[] = {":memory:", ":pids:", ":cpuacct:", ":freezer:"};
		for (int i = 0; i < 4; i++) {
			snprintf(want, sizeof(want), "%s/%s/%s\n", ctls[i], PARENT, id);
			ck_assert_msg(strstr(pc, want) != NULL, "%s not in %s", want, pc);
		}
	} else {
		snprintf(want, sizeof(want), "0::/%s%s%s/%s", env_base(), *env_base() ? "/" : "",
			 PARENT, id);
		ck_assert_msg(strstr(pc, want) != NULL, "%s not in %s", want, pc);
	}
	release(go);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_msg(al_cgroup_stats(cg, &peak, &cpu, &oom, &err) == 0, "stats: %s", err.msg);
	printf("cgroup attach: cpu_time %" PRId64 " ms, peak %" PRId64 " KiB, oom %d\n",
	       cpu / 1000000, peak / 1024, oom);
	ck_assert_msg(cpu >= 80 * 1000000LL && cpu < 2000 * 1000000LL, "cpu time %" PRId64, cpu);
	ck_assert(!oom);
	ck_assert_msg(peak >= (4 << 20) && peak < (64 << 20), "peak %" PRId64, peak);
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	assert_gone(&caps, id);
}
END_TEST

/* Touch 128 MiB, one MiB at a time. */
static void hog(int mb)
{
	for (int i = 0; i < mb; i++) {
		char *p =
		    mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(3);
		memset(p, 1, 1 << 20);
	}
	_exit(0);
}

START_TEST(test_oom_kill)
{
	struct al_cg_caps caps;
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 16, AL_LIMIT_UNSET);
	al_err err = {0};
	char id[64];
	int go, st;
	int64_t peak = -1, cpu = -1;
	bool oom = false;

	require_root();
	probe(&caps);
	run_id(id, sizeof(id), "oom");
	ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s", err.msg);
	ck_assert_msg(al_cgroup_stats(cg, &peak, &cpu, &oom, &err) == 0, "stats: %s", err.msg);
	ck_assert(!oom);
	pid_t pid = spawn_waiting(&go, hog, 128);
	ck_assert_msg(al_cgroup_attach(cg, pid, &err) == 0, "attach: %s", err.msg);
	release(go);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "the hog was not OOM-killed (status 0x%x)", st);
	ck_assert_msg(al_cgroup_stats(cg, &peak, &cpu, &oom, &err) == 0, "stats: %s", err.msg);
	printf("cgroup oom: peak %" PRId64 " KiB of a 32 MiB limit, oom_killed %d\n", peak / 1024,
	       oom);
	ck_assert(oom);
	ck_assert_msg(peak > (24 << 20) && peak <= (33 << 20), "peak %" PRId64, peak);
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	assert_gone(&caps, id);
}
END_TEST

static int report_fd = -1;

/* Fork until it fails; report how many children were made; keep them. */
static void fork_until_limit(int max)
{
	int made = 0;
	for (int i = 0; i < max; i++) {
		pid_t p = fork();
		if (p == 0) {
			for (;;)
				pause();
		}
		if (p < 0)
			break;
		made++;
	}
	if (write(report_fd, &made, sizeof(made)) != sizeof(made))
		_exit(4);
	for (;;)
		pause();
}

START_TEST(test_pids_limit_and_destroy_kills)
{
	struct al_cg_caps caps;
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(64, 8, AL_LIMIT_UNSET);
	al_err err = {0};
	char id[64];
	int go, st, made = -1, p[2];

	require_root();
	probe(&caps);
	/* Orphans come to us, so we can see how each one died. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	report_fd = p[1];
	run_id(id, sizeof(id), "pids");
	ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s", err.msg);
	pid_t pid = spawn_waiting(&go, fork_until_limit, 100);
	close(p[1]);
	ck_assert_msg(al_cgroup_attach(cg, pid, &err) == 0, "attach: %s", err.msg);
	release(go);
	ck_assert_int_eq(read(p[0], &made, sizeof(made)), (ssize_t)sizeof(made));
	printf("cgroup pids: pids.max 8, the child forked %d times before EAGAIN\n", made);
	ck_assert_int_eq(made, 7); /* 8 tasks: the child and 7 forks */

	int64_t t0 = al_now_us();
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	printf("cgroup destroy of a group with 8 live processes: %" PRId64 " us\n",
	       al_now_us() - t0);
	assert_gone(&caps, id);
	/* All 8 were SIGKILLed: the child and its 7 (reparented) children. */
	int killed = 0;
	pid_t w;
	while ((w = waitpid(-1, &st, WNOHANG)) > 0 || (w == 0 && killed < 8)) {
		if (w == 0) {
			usleep(1000);
			continue;
		}
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "pid %d: 0x%x", w, st);
		killed++;
	}
	ck_assert_int_eq(killed, 8);
}
END_TEST

START_TEST(test_sweep)
{
	struct al_cg_caps caps;
	struct al_cgroup *live = NULL;
	struct al_limits l = lim(32, 8, AL_LIMIT_UNSET);
	al_err err = {0};
	char stale[64], busy[64], owned[64], p[512];
	int go;

	require_root();
	probe(&caps);
	/* leftovers of earlier failed runs first */
	ck_assert_msg(al_cgroup_sweep(PARENT, &err) >= 0, "sweep: %s", err.msg);
	run_id(stale, sizeof(stale), "stale");
	run_id(busy, sizeof(busy), "busy");
	run_id(owned, sizeof(owned), "owned");
	/* An owned (live) group, empty. */
	ck_assert_msg(al_cgroup_create(PARENT, owned, &l, &live, &err) == 0, "create: %s", err.msg);
	/* A crashed run's leftovers: plain directories, one empty, one with a process. */
	pid_t pid = spawn_waiting(&go, burn_cpu, 0);
	size_t nh = caps.version == AL_CG_V1 ? 3 : 1;
	for (size_t i = 0; i < nh; i++) {
		const char *names[] = {stale, busy};
		for (int k = 0; k < 2; k++) {
			if (caps.version == AL_CG_V1)
				snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/%s", hier[i], PARENT,
					 names[k]);
			else
				snprintf(p, sizeof(p), "%s/%s/%s", v2dir(&caps), PARENT, names[k]);
			ck_assert_msg(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
		}
		/* p is now the busy group of this hierarchy */
		char procs[600];
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", p);
		int fd = open(procs, O_WRONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_gt(dprintf(fd, "%d", (int)pid), 0);
		close(fd);
	}
	int n = al_cgroup_sweep(PARENT, &err);
	ck_assert_msg(n >= 0, "sweep: %s", err.msg);
	printf("cgroup sweep: removed %d directories\n", n);
	ck_assert_int_eq(n, (int)nh);
	assert_gone(&caps, stale);
	if (caps.version == AL_CG_V1) {
		ck_assert(exists("/sys/fs/cgroup/%s/%s/%s", "memory", PARENT, busy));
		ck_assert(exists("/sys/fs/cgroup/%s/%s/%s", "memory", PARENT, owned));
	} else {
		ck_assert(exists("%s/%s/%s", v2dir(&caps), PARENT, busy));
		ck_assert(exists("%s/%s/%s", v2dir(&caps), PARENT, owned));
	}
	/* Once the process is gone, the busy group goes too; the owned one stays. */
	release(go);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	for (int i = 0; i < 100 && (n = al_cgroup_sweep(PARENT, &err)) == 0; i++)
		usleep(10000);
	ck_assert_int_eq(n, (int)nh);
	assert_gone(&caps, busy);
	ck_assert_int_eq(al_cgroup_sweep(PARENT, &err), 0);
	ck_assert_msg(al_cgroup_destroy(live, &err) == 0, "destroy: %s", err.msg);
	assert_gone(&caps, owned);
}
END_TEST

/* v2: a child is born in the group with clone3(CLONE_INTO_CGROUP). */
START_TEST(test_clone_into_cgroup)
{
	struct al_cg_caps caps;
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 8, AL_LIMIT_UNSET);
	al_err err = {0};
	char id[64];
	int st;

	require_root();
	probe(&caps);
	run_id(id, sizeof(id), "clone3");
	ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s", err.msg);
	if (caps.version != AL_CG_V2) {
		ck_assert_int_eq(al_cgroup_dirfd(cg), -1);
		printf("cgroup: v1 host, CLONE_INTO_CGROUP test skipped (dirfd is -1)\n");
	} else {
		/* plain, then with a new cgroup namespace: rooted at the group */
		for (int ns = 0; ns < 2; ns++) {
			struct clone_args ca = {.flags =
						    CLONE_INTO_CGROUP | (ns ? CLONE_NEWCGROUP : 0),
						.exit_signal = SIGCHLD,
						.cgroup = (uint64_t)al_cgroup_dirfd(cg)};
			char want[160];
			if (ns)
				snprintf(want, sizeof(want), "0::/\n");
			else
				snprintf(want, sizeof(want), "0::/%s%s%s/%s\n", env_base(),
					 *env_base() ? "/" : "", PARENT, id);
			pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
			ck_assert_msg(pid >= 0, "clone3: %s", strerror(errno));
			if (pid == 0) {
				char buf[512] = "";
				int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
				ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
				buf[n > 0 ? n : 0] = '\0';
				_exit(strcmp(buf, want) == 0 ? 0 : 1);
			}
			ck_assert_int_eq(waitpid(pid, &st, 0), pid);
			ck_assert_msg(
			    WIFEXITED(st) && WEXITSTATUS(st) == 0,
			    "clone3 %s: /proc/self/cgroup is not %s",
			    ns ? "CLONE_INTO_CGROUP|CLONE_NEWCGROUP" : "CLONE_INTO_CGROUP", want);
		}
		printf("cgroup: clone3(CLONE_INTO_CGROUP[|CLONE_NEWCGROUP]) puts the child in the "
		       "group (and roots its cgroup namespace there)\n");
	}
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	assert_gone(&caps, id);
}
END_TEST

START_TEST(test_timing)
{
	struct al_cg_caps caps;
	struct al_limits l = lim(64, 32, 50);
	al_err err = {0};
	char id[64];
	const int N = 50, NA = 10;
	int64_t tc = 0, td = 0, ts = 0, ta = 0, first;

	require_root();
	probe(&caps);
	for (int i = 0; i <= N; i++) {
		struct al_cgroup *cg = NULL;
		run_id(id, sizeof(id), "time");
		int64_t t0 = al_now_us();
		ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s",
			      err.msg);
		int64_t t1 = al_now_us();
		ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
		int64_t t2 = al_now_us();
		ck_assert_msg(al_cgroup_sweep(PARENT, &err) == 0, "sweep: %s", err.msg);
		int64_t t3 = al_now_us();
		if (i == 0) {
			first = t1 - t0;
			continue;
		}
		tc += t1 - t0;
		td += t2 - t1;
		ts += t3 - t2;
	}
	printf("cgroup %s timing: first create %" PRId64 " us (one-time init included); "
	       "create %" PRId64 " us, destroy %" PRId64 " us, sweep with nothing to sweep "
	       "%" PRId64 " us (mean of %d, memory+pids+cpu+cpuacct%s)\n",
	       al_cgroup_version_name(caps.version), first, tc / N, td / N, ts / N, N,
	       caps.version == AL_CG_V1 ? "+freezer" : "");
	/* Moving a process in (v1: one cgroup.procs write per hierarchy). */
	for (int i = 0; i < NA; i++) {
		struct al_cgroup *cg = NULL;
		int go;
		run_id(id, sizeof(id), "time-attach");
		ck_assert_msg(al_cgroup_create(PARENT, id, &l, &cg, &err) == 0, "create: %s",
			      err.msg);
		pid_t pid = spawn_waiting(&go, burn_cpu, 0);
		int64_t t0 = al_now_us();
		ck_assert_msg(al_cgroup_attach(cg, pid, &err) == 0, "attach: %s", err.msg);
		ta += al_now_us() - t0;
		release(go);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
		ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);
	}
	printf("cgroup %s attach: %" PRId64 " us (mean of %d; favordynmods %s)\n",
	       al_cgroup_version_name(caps.version), ta / NA, NA,
	       caps.version != AL_CG_V1 ? "not needed on v2"
	       : favor_in_mountinfo()	? "mounted"
					: "not mounted");
	/* a sanity ceiling (emulated VMs are ~10x slower), not the budget */
	ck_assert_msg((tc + td) / N < 50000, "create+destroy takes %" PRId64 " us", (tc + td) / N);
}
END_TEST

/* On a hybrid host the cgroup2 mount has no memory/pids: creating a group
 * there must fail closed, naming the controller. */
START_TEST(test_real_v2_fail_closed)
{
	const char *u = "/sys/fs/cgroup/unified";
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 8, AL_LIMIT_UNSET);
	al_err err = {0};
	char ctl[256];

	snprintf(ctl, sizeof(ctl), "%s", slurp("%s/cgroup.controllers", u));
	if (access(u, F_OK) != 0 || strstr(ctl, "memory") != NULL) {
		printf("cgroup: no controller-less cgroup2 mount here, real fail-closed test "
		       "skipped\n");
		return;
	}
	require_root();
	ck_assert_int_lt(al_cgroup_testing_v2_create(u, NULL, NULL, PARENT, "r-x", &l, &cg, &err),
			 0);
	ck_assert_int_eq(err.errnum, ENOTSUP);
	ck_assert_msg(strstr(err.msg, "memory controller is not available") != NULL, "%s", err.msg);
	ck_assert(!exists("%s/%s/%s", u, PARENT, "r-x"));
}
END_TEST

/* Hierarchies where PARENT/id exists (v1), or 1 / 0 (v2). */
static int dirs_of(const struct al_cg_caps *caps, const char *id)
{
	int n = 0;

	if (caps->version != AL_CG_V1)
		return exists("%s/%s/%s", v2dir(caps), PARENT, id) ? 1 : 0;
	for (size_t i = 0; i < sizeof(hier) / sizeof(hier[0]); i++)
		n += exists("/sys/fs/cgroup/%s/%s/%s", hier[i], PARENT, id);
	return n;
}

/* A runner killed mid-run: its group, whose sandbox is still alive, stays;
 * once the sandbox is gone the next sweep removes it in every hierarchy. */
START_TEST(test_sweep_killed_owner)
{
	struct al_cg_caps caps;
	struct al_limits l = lim(32, 8, AL_LIMIT_UNSET);
	al_err err = {0};
	char id[64];
	int p[2], st;
	pid_t sandbox = -1;

	require_root();
	probe(&caps);
	ck_assert_msg(al_cgroup_sweep(PARENT, &err) >= 0, "sweep: %s", err.msg);
	run_id(id, sizeof(id), "killed");
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t runner = fork();
	ck_assert_int_ge(runner, 0);
	if (runner == 0) {
		struct al_cgroup *cg = NULL;
		if (al_cgroup_create(PARENT, id, &l, &cg, &err) < 0)
			_exit(2);
		pid_t sb = fork();
		if (sb == 0)
			for (;;)
				pause(); /* outlives the runner */
		if (sb < 0 || al_cgroup_attach(cg, sb, &err) < 0)
			_exit(3);
		if (write(p[1], &sb, sizeof(sb)) != sizeof(sb))
			_exit(4);
		for (;;)
			pause(); /* killed with its group still there */
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &sandbox, sizeof(sandbox)), (ssize_t)sizeof(sandbox));
	close(p[0]);
	int n = dirs_of(&caps, id);
	ck_assert_int_ge(n, 1);
	kill(runner, SIGKILL);
	ck_assert_int_eq(waitpid(runner, &st, 0), runner);
	/* The owner is gone but its sandbox lives: not removed. */
	ck_assert_int_eq(al_cgroup_sweep(PARENT, &err), 0);
	ck_assert_int_eq(dirs_of(&caps, id), n);
	/* The sandbox (reparented to init) dies: removed everywhere. */
	ck_assert_int_eq(kill(sandbox, SIGKILL), 0);
	int r = 0;
	for (int i = 0; i < 200 && (r = al_cgroup_sweep(PARENT, &err)) == 0; i++)
		usleep(5000);
	ck_assert_msg(r == n, "sweep removed %d of %d directories: %s", r, n, r < 0 ? err.msg : "");
	assert_gone(&caps, id);
	printf("cgroup sweep: a killed runner's group (%d directories) removed once its "
	       "sandbox was gone\n",
	       n);
}
END_TEST

/* v1: a directory of that name in any hierarchy refuses the create (never
 * reused) and what was made before is removed. */
START_TEST(test_exists_in_one_hierarchy)
{
	struct al_cg_caps caps;
	struct al_cgroup *cg = NULL;
	struct al_limits l = lim(32, 8, AL_LIMIT_UNSET);
	al_err err = {0};
	char id[64], p[512];

	require_root();
	probe(&caps);
	if (caps.version != AL_CG_V1) {
		printf("cgroup: not v1, per-hierarchy EEXIST test skipped\n");
		return;
	}
	run_id(id, sizeof(id), "exists");
	snprintf(p, sizeof(p), "/sys/fs/cgroup/pids/%s", PARENT);
	ck_assert(mkdir(p, 0755) == 0 || errno == EEXIST);
	snprintf(p, sizeof(p), "/sys/fs/cgroup/pids/%s/%s", PARENT, id);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_lt(al_cgroup_create(PARENT, id, &l, &cg, &err), 0);
	ck_assert_int_eq(err.errnum, EEXIST);
	ck_assert_msg(strstr(err.msg, "already exists") && strstr(err.msg, "/pids/"), "%s",
		      err.msg);
	ck_assert(cg == NULL);
	ck_assert(!exists("/sys/fs/cgroup/memory/%s/%s", PARENT, id));
	ck_assert(exists("%s", p)); /* not ours: left alone */
	ck_assert_int_eq(rmdir(p), 0);
}
END_TEST

/* v1: the favordynmods hierarchy is mounted (or the kernel refused it, which
 * is no error); the opt-out is honoured; v2: a no-op. */
START_TEST(test_fast_attach_prepare)
{
	struct al_cg_caps caps;
	al_err err = {0};

	require_root();
	probe(&caps);
	if (caps.version != AL_CG_V1) {
		ck_assert_int_eq(al_cgroup_fast_attach_prepare(&err), 0);
		printf("cgroup: v2, fast attach prepare is a no-op\n");
		return;
	}
	setenv("AGENTLAUNCH_NO_FAVORDYNMODS", "1", 1);
	ck_assert_int_eq(al_cgroup_fast_attach_prepare(&err), 0);
	unsetenv("AGENTLAUNCH_NO_FAVORDYNMODS");
	bool before = favor_in_mountinfo();
	int64_t t0 = al_now_us();
	int rc = al_cgroup_fast_attach_prepare(&err);
	int64_t t1 = al_now_us();
	ck_assert_int_eq(al_cgroup_fast_attach_prepare(NULL), rc); /* cached */
	int64_t t2 = al_now_us();
	ck_assert_int_ge(rc, 0);
	if (rc == 1)
		ck_assert_msg(favor_in_mountinfo(), "prepare said 1 but nothing is mounted");
	else
		ck_assert_msg(!favor_in_mountinfo() && err.msg[0], "rc 0 without a reason");
	printf("cgroup: favordynmods hierarchy %s (first call %" PRId64 " us, then %" PRId64
	       " us)%s%s\n",
	       rc ? (before ? "already mounted" : "mounted now") : "not used", t1 - t0, t2 - t1,
	       rc ? "" : ": ", rc ? "" : err.msg);
}
END_TEST

/* Remove the test parent (empty once every test cleaned up after itself). */
static void remove_test_parent(void)
{
	struct al_cg_caps caps;
	al_err err;
	char p[512];

	if (al_cgroup_probe(&caps, &err) < 0)
		return;
	if (caps.version == AL_CG_V1) {
		for (size_t i = 0; i < sizeof(hier) / sizeof(hier[0]); i++) {
			snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", hier[i], PARENT);
			rmdir(p);
		}
	} else if (caps.version == AL_CG_V2) {
		snprintf(p, sizeof(p), "%s/%s", v2dir(&caps), PARENT);
		rmdir(p);
	}
}

int main(void)
{
	Suite *s = suite_create("cgroup");
	TCase *real = tcase_create("real");

	tcase_set_timeout(real, 60);
	tcase_add_test(real, test_probe);
	tcase_add_test(real, test_probe_fast_matches_mountinfo);
	tcase_add_test(real, test_fast_attach_prepare); /* first: it may mount */
	tcase_add_test(real, test_create_limits_readback);
	tcase_add_test(real, test_bad_arguments);
	tcase_add_test(real, test_attach_cpu_time);
	tcase_add_test(real, test_oom_kill);
	tcase_add_test(real, test_pids_limit_and_destroy_kills);
	tcase_add_test(real, test_sweep);
	tcase_add_test(real, test_sweep_killed_owner);
	tcase_add_test(real, test_exists_in_one_hierarchy);
	tcase_add_test(real, test_clone_into_cgroup);
	tcase_add_test(real, test_timing);
	tcase_add_test(real, test_real_v2_fail_closed);
	suite_add_tcase(s, real);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_test_parent();
	return failed ? 1 : 0;
}
