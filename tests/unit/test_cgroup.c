/* cgroup module: real groups on this host (root required: cgroupfs is
 * root-owned) and the v2 backend over a fake cgroupfs in a temp dir. */
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

#define PARENT "agentlaunch-test"

static const char *const hier[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};

static struct al_limits lim(int64_t mem_mb, int64_t pids, int64_t cpu_pct)
{
	struct al_limits l = {
	    .timeout_sec = AL_LIMIT_UNSET,
	    .cpu_max_percent = cpu_pct,
	    .mem_max_mb = mem_mb,
	    .pids_max = pids,
	    .max_stdout_bytes = AL_LIMIT_UNSET,
	    .max_stderr_bytes = AL_LIMIT_UNSET,
	    .max_file_mb = AL_LIMIT_UNSET,
	    .max_open_files = AL_LIMIT_UNSET,
	    .tmpfs_size_mb = AL_LIMIT_UNSET,
	};
	return l;
}

static void run_id(char *buf, size_t sz, const char *tag)
{
	static int n;
	snprintf(buf, sz, "t-%s-%d-%d", tag, (int)getpid(), n++);
}

/* Contents of a small file without trailing newlines ("" on error). */
static const char *slurp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *slurp(const char *fmt, ...)
{
	static char buf[4096];
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void put(int dfd, const char *file, const char *val)
{
	int fd = openat(dfd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "create %s: %s", file, strerror(errno));
	ck_assert_int_eq(write(fd, val, strlen(val)), (ssize_t)strlen(val));
	close(fd);
}

static void require_root(void)
{
	ck_assert_msg(geteuid() == 0,
		      "these tests create real cgroups and need root (run as root)");
}

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
	char p[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	return access(p, F_OK) == 0;
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
	const int N = 50;
	int64_t tc = 0, td = 0, first;

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
		if (i == 0) {
			first = t1 - t0;
			continue;
		}
		tc += t1 - t0;
		td += t2 - t1;
	}
	printf("cgroup %s timing: first create %" PRId64 " us (one-time init included); "
	       "create %" PRId64 " us, destroy %" PRId64 " us (mean of %d, memory+pids+cpu+"
	       "cpuacct%s)\n",
	       al_cgroup_version_name(caps.version), first, tc / N, td / N, N,
	       caps.version == AL_CG_V1 ? "+freezer" : "");
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

/* ---- v2 over a fake cgroupfs ---------------------------------------------- */

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

	/* A delegated subtree: system.slice/agentgw.service, with the gateway
	 * itself in a leaf beside ours. */
	fake_setup("cpu memory pids\n");
	int r = open(fake_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(r, "cgroup.subtree_control", "cpu memory pids");
	ck_assert_int_eq(fake_mkdirat(r, "system.slice", &fk), 0);
	int s = openat(r, "system.slice", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(s, "cgroup.subtree_control", "memory pids cpu");
	ck_assert_int_eq(fake_mkdirat(s, "agentgw.service", &fk), 0);
	close(s);
	close(r);

	ck_assert_int_eq(
	    al_cgroup_testing_v2_probe(fake_root, "system.slice/agentgw.service", &caps, &err), 0);
	ck_assert(caps.memory && caps.pids && caps.cpu && caps.swap_max && caps.peak && caps.kill);
	ck_assert_msg(al_cgroup_testing_v2_create(fake_root, "system.slice/agentgw.service",
						  &fakefs, "agentlaunch", "r-1", &l, &cg,
						  &err) == 0,
		      "create: %s", err.msg);
	ck_assert_str_eq(slurp("%s/cgroup.subtree_control", fake_root), "cpu memory pids");
	ck_assert_str_eq(slurp("%s/system.slice/agentgw.service/cgroup.subtree_control", fake_root),
			 "+memory +pids +cpu");
	ck_assert_str_eq(
	    slurp("%s/system.slice/agentgw.service/agentlaunch/r-1/cpu.max", fake_root),
	    "25000 100000");
	ck_assert_msg(al_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg);

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
	TCase *fake = tcase_create("fake_v2");

	tcase_set_timeout(real, 60);
	tcase_add_test(real, test_probe);
	tcase_add_test(real, test_create_limits_readback);
	tcase_add_test(real, test_bad_arguments);
	tcase_add_test(real, test_attach_cpu_time);
	tcase_add_test(real, test_oom_kill);
	tcase_add_test(real, test_pids_limit_and_destroy_kills);
	tcase_add_test(real, test_sweep);
	tcase_add_test(real, test_clone_into_cgroup);
	tcase_add_test(real, test_timing);
	tcase_add_test(real, test_real_v2_fail_closed);
	tcase_add_test(fake, test_fake_v2_create_values);
	tcase_add_test(fake, test_fake_v2_stats);
	tcase_add_test(fake, test_fake_v2_peak_fallback);
	tcase_add_test(fake, test_fake_v2_fail_closed);
	tcase_add_test(fake, test_fake_v2_base);
	tcase_add_test(fake, test_fake_v2_sweep);
	tcase_add_unchecked_fixture(fake, fake_base_make, fake_base_remove);
	suite_add_tcase(s, real);
	suite_add_tcase(s, fake);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_test_parent();
	return failed ? 1 : 0;
}
