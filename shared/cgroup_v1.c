/* cgroup v1 backend: <mount>/<parent>/<name> in every hierarchy used
 * (memory, pids, cpuacct, cpu with a CPU quota, freezer when mounted), driven
 * with plain mkdirat/openat/write on directory fds, like the v2 backend.
 *
 * Why not libcgroup (a project dependency, still linked for other users):
 * agentrun creates one group per run and its budget is bubblewrap's whole
 * spawn time (~3 ms).  libcgroup 2.0.2 re-reads /proc/mounts on every mkdir
 * and every value it writes: a group of memory+pids+cpuacct+cpu+freezer took
 * 620-720 us to create, plus ~650 us of cgroup_init() once per process.
 * Here the mounts are probed once per process (the cached host probe in
 * cgroup.c: statfs for the usual layout, else /proc/self/mountinfo) and a
 * create is ~15 syscalls per hierarchy;
 * the numbers are printed by tests/unit/test_cgroup.c ("cgroup v1 timing").
 *
 * Migration speed (al_cgroup_fast_attach_prepare): writing a pid to a v1
 * cgroup.procs takes cgroup_threadgroup_rwsem for writing; in its default
 * mode that percpu rwsem waits for an RCU grace period per writer, 5-10 ms
 * per hierarchy on the 6.18 kernel this was measured on.  The kernel's
 * "favordynmods" mode (a hierarchy flag; the rwsem is switched for the whole
 * system while any hierarchy root carries it) makes a migration 0.2-0.4 ms.
 * A v1 hierarchy can carry the flag without any controller, so we mount an
 * empty named one (name=agentlaunch) once per boot and leave it mounted.
 * The price, host-wide: fork, exit and exec take the rwsem's slower
 * (shared-atomic) read path, a few percent on fork-heavy workloads.  Kernels
 * before 6.0 have no such option and need none (that was their only mode).
 * See docs/cgroups.md.  Opt out with AGENTLAUNCH_NO_FAVORDYNMODS=1. */
#include "cgroup_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

const char *const cg_ctl_name[C_N] = {"memory", "pids", "cpuacct", "cpu", "freezer"};

/* ---- favordynmods --------------------------------------------------------- */

#define FAVOR_RUN "/run/agentlaunch"
#define FAVOR_DIR FAVOR_RUN "/cgfavor"
#define FAVOR_OPTS "none,name=agentlaunch,favordynmods"
/* The kernel release that refused FAVOR_OPTS (so later runs do not retry
 * and log a kernel message each time; /run is emptied at boot). */
#define FAVOR_REFUSED FAVOR_RUN "/cgfavor.refused"

static pthread_mutex_t favor_lock = PTHREAD_MUTEX_INITIALIZER;
static int favor_state = -1; /* -1: not tried in this process; else the result */
static al_err favor_err;     /* why favor_state is 0 */

/* A cgroup v1 filesystem is mounted on FAVOR_DIR (only we mount one there). */
static bool favor_mounted(void)
{
	struct stat dir, up;
	struct statfs fs;

	return stat(FAVOR_DIR, &dir) == 0 && stat(FAVOR_RUN, &up) == 0 && dir.st_dev != up.st_dev &&
	       statfs(FAVOR_DIR, &fs) == 0 && fs.f_type == CGROUP_SUPER_MAGIC;
}

static int favor_mount(al_err *err)
{
	struct utsname u;
	char refused[sizeof(u.release) + 1] = "";

	if (uname(&u) < 0)
		u.release[0] = '\0';
	if ((mkdir(FAVOR_RUN, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(FAVOR_DIR, 0755) < 0 && errno != EEXIST)) {
		al_err_set(err, errno, "favordynmods: mkdir %s", FAVOR_DIR);
		return 0;
	}
	/* Serialise concurrent first runs, or each would stack a mount. */
	cleanup_close int lk = open(FAVOR_RUN, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lk < 0 || cg_flock_retry(lk, LOCK_EX) < 0) {
		al_err_set(err, errno, "favordynmods: lock %s", FAVOR_RUN);
		return 0;
	}
	if (favor_mounted())
		return 1;
	if (cg_read_at(AT_FDCWD, FAVOR_REFUSED, refused, sizeof(refused)) > 0 &&
	    strcmp(refused, u.release) == 0) {
		al_err_set(err, 0, "favordynmods: kernel %s refused it before (%s)", u.release,
			   FAVOR_REFUSED);
		return 0;
	}
	if (mount("cgroup", FAVOR_DIR, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, FAVOR_OPTS) <
	    0) {
		int e = errno;
		if (e == EINVAL) {
			cleanup_close int fd =
			    open(FAVOR_REFUSED,
				 O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd >= 0)
				(void)!al_write_all(fd, u.release, strlen(u.release));
		}
		al_err_set(err, e, "favordynmods: mount -t cgroup -o %s cgroup %s", FAVOR_OPTS,
			   FAVOR_DIR);
		return 0;
	}
	return 1;
}

int al_cgroup_fast_attach_prepare(al_err *err)
{
	const char *opt = getenv("AGENTLAUNCH_NO_FAVORDYNMODS");
	al_err ignored;

	if (opt && strcmp(opt, "1") == 0)
		return 0;
	const struct cg_host *hs = cg_host_get(&ignored);
	if (hs == NULL || hs->caps.version != AL_CG_V1)
		return 0;
	if (hs->favor_mounted)
		return 1; /* seen in mountinfo: no syscall at all (not on the fast path) */
	pthread_mutex_lock(&favor_lock);
	if (favor_state < 0)
		favor_state = favor_mounted() ? 1 : favor_mount(&favor_err);
	int rc = favor_state;
	if (rc == 0 && err)
		*err = favor_err;
	pthread_mutex_unlock(&favor_lock);
	return rc;
}

/* ---- groups ---------------------------------------------------------------- */

/* An O_PATH fd of <mnt>/<parent> (path receives its name), created when
 * missing if create; else -2 when missing.  -1 with err set on errors. */
static int open_parent(const char *mnt, const char *parent, bool create, char *path, size_t sz,
		       al_err *err)
{
	int fd;

	if (cg_pathf(path, sz, "%s/%s", mnt, parent) < 0)
		return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", mnt, parent);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return al_err_set(err, errno, "open cgroup %s", path);
	if (!create)
		return -2;
	snprintf(path, sz, "%s", mnt);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return al_err_set(err, errno, "open %s", path);
	if (cg_walk_create(NULL, &fd, parent, path, sz, 0, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Is controller c the first one of its mount (cpu,cpuacct may share one)? */
static bool first_of_mount(const struct cg_host *hs, int c)
{
	if (hs->v1_mnt[c][0] == '\0')
		return false;
	for (int i = 0; i < c; i++)
		if (strcmp(hs->v1_mnt[i], hs->v1_mnt[c]) == 0)
			return false;
	return true;
}

static int v1_set(const struct al_cgroup *cg, int c, const char *file, int64_t val, al_err *err)
{
	const struct cg_hier *h = &cg->h[cg->idx[c]];
	char v[24];

	snprintf(v, sizeof(v), "%" PRId64, val);
	int rc = cg_write_at(h->fd, file, v);
	if (rc < 0)
		return al_err_set(err, -rc, "set %s/%s to %s", h->path, file, v);
	return 0;
}

/* Remove the group's directories, memory last (see enum cg_ctl), closing
 * the fd of each one removed; stop at the first failure.  0, or -errno with
 * err set (-EBUSY: processes left in a hierarchy). */
int cg_v1_remove(struct al_cgroup *cg, al_err *err)
{
	for (size_t i = cg->n; i-- > 0;) {
		struct cg_hier *h = &cg->h[i];
		if (h->fd < 0)
			continue; /* removed by an earlier call */
		int r = cg_rm_tree(NULL, h->pfd, cg->name, 0);
		if (r < 0) {
			al_err_set(err, -r, "remove cgroup %s", h->path);
			return r;
		}
		close(h->fd);
		h->fd = -1;
	}
	return 0;
}

/* Make the group's directory in controller c's hierarchy (or note that it
 * shares an earlier one's mount). */
static int v1_mkdir(struct al_cgroup *cg, const struct cg_host *hs, int c, const char *parent,
		    const struct al_limits *l, int *plock, al_err *err)
{
	char ppath[CG_PATH_MAX];

	for (int i = 0; i < c; i++)
		if (cg->idx[i] >= 0 && strcmp(hs->v1_mnt[i], hs->v1_mnt[c]) == 0) {
			cg->idx[c] = cg->idx[i];
			return 0;
		}
	struct cg_hier *h = &cg->h[cg->n];
	h->ctl = cg_ctl_name[c];
	h->pfd = open_parent(hs->v1_mnt[c], parent, true, ppath, sizeof(ppath), err);
	if (h->pfd < 0) {
		h->pfd = -1;
		return -1;
	}
	/* The parent in the memory hierarchy carries the creators' lock. */
	if (c == C_MEMORY && (*plock = cg_lock_parent(h->pfd, ppath, LOCK_SH, err)) < 0)
		return -1;
	if (cg_pathf(h->path, sizeof(h->path), "%s/%s", ppath, cg->name) < 0)
		return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", ppath, cg->name);
	if (mkdirat(h->pfd, cg->name, 0755) < 0) {
		if (errno == EEXIST)
			return al_err_set(
			    err, EEXIST,
			    "cgroup %s already exists: run ids must be unique (a "
			    "leftover of a crashed run is removed by al_cgroup_sweep)",
			    h->path);
		return al_err_set(err, errno,
				  "cannot create cgroup %s (run as root; the limits are %" PRId64
				  " MB, %" PRId64 " pids)",
				  h->path, l->mem_max_mb, l->pids_max);
	}
	cg->idx[c] = (int)cg->n++;
	/* memory: O_RDONLY, as it also holds the ownership lock (lockfd -1) */
	h->fd =
	    openat(h->pfd, cg->name, (c == C_MEMORY ? O_RDONLY : O_PATH) | O_DIRECTORY | O_CLOEXEC);
	if (h->fd < 0)
		return al_err_set(err, errno, "open cgroup %s", h->path);
	if (c == C_MEMORY && cg_flock_retry(h->fd, LOCK_EX | LOCK_NB) < 0)
		return al_err_set(err, errno, "lock cgroup %s (owned by another process?)",
				  h->path);
	return 0;
}

/* l's limits into cg's files: memory without swap (memsw equal to the
 * limit, and memsw >= limit at every step: a raise writes memsw first, a
 * lowering last), pids, the CPU quota when l has one (the group needs the
 * cpu controller then).  fresh: a group just made, unlimited: nothing to
 * read to know the order. */
static int v1_write_limits(struct al_cgroup *cg, const struct cg_host *hs,
			   const struct al_limits *l, bool fresh, al_err *err)
{
	int64_t mem = l->mem_max_mb << 20, cur = 0;
	bool raise = !fresh &&
		     cg_read_i64_at(cg->h[cg->idx[C_MEMORY]].fd, "memory.limit_in_bytes", &cur) == 0 &&
		     mem > cur;

	if (hs->caps.memsw && raise &&
	    v1_set(cg, C_MEMORY, "memory.memsw.limit_in_bytes", mem, err) < 0)
		return -1;
	if (v1_set(cg, C_MEMORY, "memory.limit_in_bytes", mem, err) < 0)
		return -1;
	if (hs->caps.memsw && !raise &&
	    v1_set(cg, C_MEMORY, "memory.memsw.limit_in_bytes", mem, err) < 0)
		return -1;
	if (v1_set(cg, C_PIDS, "pids.max", l->pids_max, err) < 0)
		return -1;
	if (l->cpu_max_percent == AL_LIMIT_UNSET)
		return 0;
	if (cg->idx[C_CPU] < 0)
		return al_err_set(err, EINVAL, "cgroup %s has no cpu controller", cg->rel);
	return v1_set(cg, C_CPU, "cpu.cfs_quota_us", l->cpu_max_percent * (CG_PERIOD_US / 100),
		      err);
}

int cg_v1_create(const struct cg_host *hs, const char *parent, const char *name,
		 const struct al_limits *l, unsigned flags, struct al_cgroup **out, al_err *err)
{
	bool want[C_N] = {true, true, (flags & AL_CG_ACCOUNT) != 0,
			  l->cpu_max_percent != AL_LIMIT_UNSET,
			  (flags & AL_CG_FREEZER) && hs->v1_mnt[C_FREEZER][0] != '\0'};
	cleanup_close int plock = -1;

	for (int c = 0; c < C_N; c++)
		if (want[c] && hs->v1_mnt[c][0] == '\0')
			return al_err_set(
			    err, ENOTSUP,
			    "cgroup v1: the %s controller is not mounted (no cgroup "
			    "hierarchy with \"%s\" in /proc/self/mountinfo): mount it "
			    "(mkdir -p /sys/fs/cgroup/%s && mount -t cgroup -o %s cgroup "
			    "/sys/fs/cgroup/%s), or boot with cgroup v2 "
			    "(systemd.unified_cgroup_hierarchy=1)",
			    cg_ctl_name[c], cg_ctl_name[c], cg_ctl_name[c], cg_ctl_name[c],
			    cg_ctl_name[c]);
	al_cgroup_fast_attach_prepare(NULL); /* an optimisation: never fails the run */

	struct al_cgroup *cg = cg_alloc(AL_CG_V1, name);
	if (cg == NULL)
		return al_err_set(err, ENOMEM, "create cgroup");
	if (cg_pathf(cg->rel, sizeof(cg->rel), "/%s/%s", parent, name) < 0) {
		al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", parent, name);
		goto fail;
	}
	for (int c = 0; c < C_N; c++)
		if (want[c] && v1_mkdir(cg, hs, c, parent, l, &plock, err) < 0)
			goto fail;

	/* Without swap accounting at least no swapping on limit reclaim. */
	if ((!hs->caps.memsw && v1_set(cg, C_MEMORY, "memory.swappiness", 0, err) < 0) ||
	    (want[C_CPU] && v1_set(cg, C_CPU, "cpu.cfs_period_us", CG_PERIOD_US, err) < 0) ||
	    v1_write_limits(cg, hs, l, true, err) < 0)
		goto fail;
	*out = cg;
	return 0;
fail:
	cg_v1_remove(cg, NULL);
	cg_free(cg);
	return -1;
}

/* Does any hierarchy hold processes in the group `name`?  mem: the memory
 * parent; pfd: the other hierarchies' parents (-1: absent). */
static bool v1_populated(int mem, const int pfd[C_N], const char *name)
{
	if (cg_tree_population(mem, name, false, 0) != 0)
		return true; /* processes left (or unreadable): not ours to judge */
	for (int c = 0; c < C_N; c++) {
		int p = pfd[c] < 0 ? 0 : cg_tree_population(pfd[c], name, false, 0);
		if (p != 0 && p != -ENOENT)
			return true;
	}
	return false;
}

/* Only memory/<parent> is listed (see enum cg_ctl): a sweep with nothing to
 * do costs one directory read; the other hierarchies are opened only when a
 * stale group is found. */
int cg_v1_sweep(const struct cg_host *hs, const char *parent, al_err *err)
{
	char path[CG_PATH_MAX], opath[CG_PATH_MAX];
	cleanup_close int mem = -1, plock = -1;
	int pfd[C_N] = {-1, -1, -1, -1, -1};
	bool opened = false;
	int removed = 0, rc = 0;

	if (hs->v1_mnt[C_MEMORY][0] == '\0')
		return 0;
	mem = open_parent(hs->v1_mnt[C_MEMORY], parent, false, path, sizeof(path), err);
	if (mem == -2)
		return 0; /* no parent, no leftovers */
	if (mem < 0)
		return -1;
	/* Creators hold it shared while they create: no group being created
	 * can look stale. */
	plock = cg_lock_parent(mem, path, LOCK_EX, err);
	if (plock < 0)
		return -1;
	int dfd = openat(mem, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return al_err_set(err, errno, "list cgroup %s", path);
	}
	for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
		const char *n = e->d_name;
		if (e->d_type != DT_DIR || !cg_valid_component(n, strlen(n)))
			continue;
		cleanup_close int lk = openat(mem, n, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lk >= 0 && cg_flock_retry(lk, LOCK_EX | LOCK_NB) < 0)
			continue; /* a live process owns it */
		for (int c = 1; !opened && c < C_N; c++) {
			if (!first_of_mount(hs, c) ||
			    strcmp(hs->v1_mnt[c], hs->v1_mnt[C_MEMORY]) == 0)
				continue;
			pfd[c] =
			    open_parent(hs->v1_mnt[c], parent, false, opath, sizeof(opath), err);
			if (pfd[c] == -1)
				rc = -1;
		}
		opened = true;
		if (rc < 0 || v1_populated(mem, pfd, n))
			continue;
		for (int c = C_N; rc == 0 && c-- > 0;) {
			int dir = c == C_MEMORY ? mem : pfd[c];
			if (dir < 0 || !cg_exists_at(dir, n))
				continue;
			int r = cg_rm_tree(NULL, dir, n, 0);
			if (r < 0)
				rc = al_err_set(err, -r, "remove stale cgroup %s/%s/%s",
						hs->v1_mnt[c], parent, n);
			else
				removed++;
		}
	}
	closedir(d);
	for (int c = 0; c < C_N; c++)
		if (pfd[c] >= 0)
			close(pfd[c]);
	return rc < 0 ? -1 : removed;
}

int cg_v1_set_limits(struct al_cgroup *cg, const struct cg_host *hs, const struct al_limits *l,
		     al_err *err)
{
	return v1_write_limits(cg, hs, l, false, err);
}
