/* cgroup module: the host probe (cached per process), the public API and
 * what both versions share (attach, statistics, kill, destroy).  The
 * backends are cgroup_v1.c and cgroup_v2.c; see cgroup.h for the layout, the
 * locking and the fail-closed rules, cgroup_int.h for the file map. */
#include "cgroup_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

/* ---- probing ----------------------------------------------------------- */

/* Undo the octal escapes (\040 etc.) of /proc/self/mountinfo in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static void parse_mountinfo_line(char *line, struct cg_host *h)
{
	char *tok[40], *save = NULL;
	size_t n = 0, dash;

	for (char *t = strtok_r(line, " ", &save); t && n < 40; t = strtok_r(NULL, " ", &save))
		tok[n++] = t;
	for (dash = 6; dash < n && strcmp(tok[dash], "-") != 0; dash++)
		;
	if (dash + 3 >= n || n < 5)
		return;
	char *mnt = tok[4], *fstype = tok[dash + 1], *opts = tok[dash + 3];
	unescape(mnt);
	if (strlen(mnt) >= sizeof(h->caps.v2_root))
		return;
	if (strcmp(fstype, "cgroup2") == 0) {
		if (h->caps.v2_root[0] == '\0')
			snprintf(h->caps.v2_root, sizeof(h->caps.v2_root), "%s", mnt);
		return;
	}
	if (strcmp(fstype, "cgroup") != 0)
		return;
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (strcmp(o, "name=agentlaunch") == 0)
			h->favor_mounted = true; /* see cgroup_v1.c */
		for (int c = 0; c < C_N; c++)
			if (strcmp(o, cg_ctl_name[c]) == 0 && h->v1_mnt[c][0] == '\0')
				snprintf(h->v1_mnt[c], sizeof(h->v1_mnt[c]), "%s", mnt);
	}
}

/* The usual layouts, recognised without reading /proc/self/mountinfo (a
 * tenth of a millisecond in a fresh agentrun): a cgroup2 file system on
 * /sys/fs/cgroup, or every v1 controller mounted at /sys/fs/cgroup/<name>.
 * A v1 hierarchy's root shows its controller by a file of its own for
 * memory, cpu and cpuacct (which may share one mount); pids and freezer
 * have none there, so theirs must be a mount of its own (a group's first
 * pids.max write would fail closed anyway).  0 when one of them is there;
 * -1 for anything else, which mountinfo then sorts out. */
static int probe_fast(struct cg_host *h)
{
	static const char *const file[C_N] = {"memory.limit_in_bytes", "", "cpuacct.usage",
					      "cpu.cfs_quota_us", ""};
	struct statfs fs;
	dev_t dev[C_N];

	if (statfs("/sys/fs/cgroup", &fs) < 0)
		return -1;
	if (fs.f_type == CGROUP2_SUPER_MAGIC) {
		snprintf(h->caps.v2_root, sizeof(h->caps.v2_root), "/sys/fs/cgroup");
		return 0;
	}
	if (fs.f_type != TMPFS_MAGIC)
		return -1;
	for (int c = 0; c < C_N; c++) {
		char p[96];
		struct stat st;
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", cg_ctl_name[c],
			 file[c][0] ? file[c] : "cgroup.clone_children");
		if (stat(p, &st) < 0 || statfs(p, &fs) < 0 || fs.f_type != CGROUP_SUPER_MAGIC)
			return -1;
		dev[c] = st.st_dev;
		snprintf(h->v1_mnt[c], sizeof(h->v1_mnt[c]), "/sys/fs/cgroup/%s", cg_ctl_name[c]);
		for (int i = 0; i < c; i++) {
			if (dev[i] != dev[c])
				continue;
			if (file[c][0] == '\0' || file[i][0] == '\0')
				return -1;
			memcpy(h->v1_mnt[c], h->v1_mnt[i], sizeof(h->v1_mnt[c]));
		}
	}
	return 0;
}

static int probe_host_mode(struct cg_host *h, bool fast, al_err *err)
{
	memset(h, 0, sizeof(*h));
	if (!fast || probe_fast(h) < 0) {
		cleanup_free char *mi = NULL;
		memset(h, 0, sizeof(*h));
		if (al_read_file("/proc/self/mountinfo", 4 << 20, &mi, NULL, err) < 0)
			return al_err_wrap(err, "probe cgroups");
		for (char *save = NULL, *line = strtok_r(mi, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			parse_mountinfo_line(line, h);
	}

	struct al_cg_caps *c = &h->caps;
	if (h->v1_mnt[C_MEMORY][0] || h->v1_mnt[C_PIDS][0]) {
		c->version = AL_CG_V1;
		c->v2_root[0] = '\0';
		c->memory = h->v1_mnt[C_MEMORY][0] != '\0';
		c->pids = h->v1_mnt[C_PIDS][0] != '\0';
		c->cpu = h->v1_mnt[C_CPU][0] != '\0';
		c->cpuacct = h->v1_mnt[C_CPUACCT][0] != '\0';
		if (c->memory) {
			char p[CG_PATH_MAX + 40];
			snprintf(p, sizeof(p), "%s/memory.memsw.limit_in_bytes",
				 h->v1_mnt[C_MEMORY]);
			c->memsw = access(p, F_OK) == 0;
		}
		return 0;
	}
	if (c->v2_root[0] == '\0')
		return 0; /* AL_CG_NONE */

	const char *env = getenv("AGENTLAUNCH_CGROUP_BASE");
	if (env && *env) {
		while (*env == '/')
			env++;
		snprintf(h->v2_base, sizeof(h->v2_base), "%s", env);
		size_t len = strlen(h->v2_base);
		while (len > 0 && h->v2_base[len - 1] == '/')
			h->v2_base[--len] = '\0';
		if (len > 0 && !cg_valid_base(h->v2_base))
			return al_err_set(
			    err, EINVAL,
			    "AGENTLAUNCH_CGROUP_BASE=%s is not a path of plain "
			    "components relative to the cgroup2 root %s: fix or unset it",
			    getenv("AGENTLAUNCH_CGROUP_BASE"), c->v2_root);
	}
	char root[sizeof(c->v2_root)];
	memcpy(root, c->v2_root, sizeof(root));
	return cg_v2_probe(root, h->v2_base, true, c, err);
}

static int probe_host(struct cg_host *h, al_err *err)
{
	return probe_host_mode(h, true, err);
}

int al_cgroup_testing_probe(bool fast, struct al_cg_caps *caps, char mnt[5][512], al_err *err)
{
	struct cg_host h;

	_Static_assert(C_N == 5 && CG_PATH_MAX == 512, "al_cgroup_testing_probe's array");
	if (probe_host_mode(&h, fast, err) < 0)
		return -1;
	*caps = h.caps;
	memcpy(mnt, h.v1_mnt, sizeof(h.v1_mnt));
	struct cg_host f;
	return probe_fast(memset(&f, 0, sizeof(f))) == 0;
}

/* The host probe, once per process for creates and sweeps.  A fresh
 * al_cgroup_probe() seeds it, so a caller that probes, then creates, reads
 * /proc/self/mountinfo once.  A failed probe is not cached. */
static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cg_host host_cache;
static bool host_ready;

const struct cg_host *cg_host_get(al_err *err)
{
	const struct cg_host *h = &host_cache;

	pthread_mutex_lock(&host_lock);
	if (!host_ready) {
		struct cg_host fresh;
		if (probe_host(&fresh, err) < 0) {
			h = NULL;
		} else {
			host_cache = fresh;
			host_ready = true;
		}
	}
	pthread_mutex_unlock(&host_lock);
	return h;
}

int al_cgroup_probe(struct al_cg_caps *caps, al_err *err)
{
	struct cg_host h;

	if (probe_host(&h, err) < 0)
		return -1;
	pthread_mutex_lock(&host_lock);
	if (!host_ready) {
		host_cache = h;
		host_ready = true;
	}
	pthread_mutex_unlock(&host_lock);
	*caps = h.caps;
	return 0;
}

int al_cgroup_testing_v2_probe(const char *root, const char *base, struct al_cg_caps *caps,
			       al_err *err)
{
	memset(caps, 0, sizeof(*caps));
	if (base && *base && !cg_valid_base(base))
		return al_err_set(err, EINVAL, "cgroup v2 base \"%s\" is not a relative path",
				  base);
	return cg_v2_probe(root, base ? base : "", false, caps, err);
}

const char *al_cgroup_version_name(enum al_cg_version v)
{
	switch (v) {
	case AL_CG_V1:
		return "v1";
	case AL_CG_V2:
		return "v2";
	case AL_CG_NONE:
		break;
	}
	return "none";
}

/* ---- processes: kill, wait ------------------------------------------------ */

/* Is pid, right now, in the group (rel as in /proc/PID/cgroup) of the
 * hierarchy of controller ctl ("" for v2)? */
static bool pid_in_group(pid_t pid, const char *ctl, const char *rel)
{
	char path[48], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (cg_read_at(AT_FDCWD, path, buf, sizeof(buf)) <= 0)
		return false;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		bool match = *ctl == '\0' && c1[1] == '\0';
		for (char *s2 = NULL, *o = *ctl ? strtok_r(c1 + 1, ",", &s2) : NULL; o;
		     o = strtok_r(NULL, ",", &s2))
			match |= strcmp(o, ctl) == 0;
		if (match)
			return strcmp(c2 + 1, rel) == 0;
	}
	return false;
}

struct kill_ctx {
	const char *ctl, *rel;
	bool verify; /* pids may be recycled: check membership through a pidfd */
};

static void kill_one(pid_t pid, void *arg)
{
	const struct kill_ctx *k = arg;

	if (!k->verify) {
		kill(pid, SIGKILL);
		return;
	}
	/* Take a pidfd first, then check that the pid is in the group, then
	 * signal through the pidfd: if the pid was recycled in between, the
	 * pidfd's process is dead and the signal goes nowhere. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0 && errno != ENOSYS)
		return;
	if (pid_in_group(pid, k->ctl, k->rel)) {
		if (pfd >= 0)
			syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
		else
			kill(pid, SIGKILL);
	}
	if (pfd >= 0)
		close(pfd);
}

/* Number of processes in the group (v2: populated flag), or -errno. */
static int cg_population(struct al_cgroup *cg)
{
	int total = 0;

	if (cg->version == AL_CG_V2) {
		char buf[256];
		int64_t pop;
		if (cg_read_at(cg->h[0].fd, "cgroup.events", buf, sizeof(buf)) > 0 &&
		    cg_keyed_i64(buf, "populated", &pop))
			return pop ? 1 : 0;
	}
	for (size_t i = 0; i < cg->n; i++) {
		if (cg->h[i].fd < 0)
			continue; /* v1: already removed */
		int c = cg_for_each_pid(cg->h[i].fd, NULL, NULL);
		if (c < 0)
			return c;
		total += c;
	}
	return total;
}

static int kill_round(struct al_cgroup *cg, bool verify)
{
	int total = 0;

	for (size_t i = 0; i < cg->n; i++) {
		if (cg->h[i].fd < 0)
			continue;
		struct kill_ctx k = {cg->h[i].ctl, cg->rel, verify};
		int c = cg_for_each_pid(cg->h[i].fd, kill_one, &k);
		if (c > 0)
			total += c;
	}
	return total;
}

/* Freeze (v1 freezer.state / v2 cgroup.freeze); true once frozen. */
static bool cg_freeze(struct al_cgroup *cg, bool freeze)
{
	int fd = cg->version == AL_CG_V1 ? cg->h[cg->idx[C_FREEZER]].fd : cg->h[0].fd;
	const char *file = cg->version == AL_CG_V1 ? "freezer.state" : "cgroup.freeze";
	const char *val =
	    cg->version == AL_CG_V1 ? (freeze ? "FROZEN" : "THAWED") : (freeze ? "1" : "0");
	int64_t deadline = al_now_us() + CG_FREEZE_WAIT_US;
	long us = 50;

	if (cg_write_at(fd, file, val) < 0 || !freeze)
		return false;
	for (;;) {
		char buf[256];
		int64_t frozen = 0;
		if (cg->version == AL_CG_V1) {
			if (cg_read_at(fd, "freezer.state", buf, sizeof(buf)) > 0 &&
			    strncmp(buf, "FROZEN", 6) == 0)
				return true;
		} else if (cg_read_at(fd, "cgroup.events", buf, sizeof(buf)) > 0 &&
			   cg_keyed_i64(buf, "frozen", &frozen) && frozen) {
			return true;
		}
		if (al_now_us() > deadline)
			return false;
		cg_nap(&us);
	}
}

int al_cgroup_kill(struct al_cgroup *cg, al_err *err)
{
	int64_t deadline = al_now_us() + CG_KILL_WAIT_US;
	long us = 50;
	int pop;

	if (cg->version == AL_CG_V2 && cg->has_kill) {
		int rc = cg_write_at(cg->h[0].fd, "cgroup.kill", "1");
		if (rc == 0)
			return 0;
		if (rc != -ENOENT && rc != -EINVAL)
			return al_err_set(err, -rc, "kill cgroup %s (cgroup.kill)", cg->h[0].path);
	}
	pop = cg_population(cg);
	if (pop == 0)
		return 0;
	bool can_freeze = cg->version == AL_CG_V1 ? cg->idx[C_FREEZER] >= 0 : cg->has_freeze;
	if (can_freeze) {
		/* Frozen processes can neither fork nor exit, so their pids are
		 * stable and one round kills them all. */
		bool frozen = cg_freeze(cg, true);
		kill_round(cg, !frozen);
		cg_freeze(cg, false);
	}
	while ((pop = cg_population(cg)) > 0 && al_now_us() < deadline) {
		kill_round(cg, true);
		cg_nap(&us);
	}
	if (pop < 0)
		return al_err_set(err, -pop, "kill cgroup %s: read its processes", cg->h[0].path);
	if (pop > 0)
		return al_err_set(err, EBUSY,
				  "kill cgroup %s: processes still there after %d ms of SIGKILL",
				  cg->h[0].path, CG_KILL_WAIT_US / 1000);
	return 0;
}

static int wait_empty(struct al_cgroup *cg, al_err *err)
{
	int64_t deadline = al_now_us() + CG_EMPTY_WAIT_US;
	long us = 20;
	int pop;

	while ((pop = cg_population(cg)) > 0 && al_now_us() < deadline)
		cg_nap(&us);
	if (pop < 0)
		return al_err_set(err, -pop, "cgroup %s: read its processes", cg->h[0].path);
	if (pop > 0)
		return al_err_set(err, EBUSY,
				  "cgroup %s still has processes %d ms after SIGKILL (stuck in the "
				  "kernel?): it is left for al_cgroup_sweep",
				  cg->h[0].path, CG_EMPTY_WAIT_US / 1000);
	return 0;
}

/* ---- public API -------------------------------------------------------- */

int al_cgroup_create(const char *parent, const char *name, const struct al_limits *l,
		     struct al_cgroup **out, al_err *err)
{
	return al_cgroup_create_flags(parent, name, l, AL_CG_ACCOUNT | AL_CG_FREEZER, out, err);
}

int al_cgroup_create_flags(const char *parent, const char *name, const struct al_limits *l,
			   unsigned flags, struct al_cgroup **out, al_err *err)
{
	*out = NULL;
	if (cg_check_names(parent, name, err) < 0 || cg_check_limits(l, err) < 0)
		return -1;
	const struct cg_host *hs = cg_host_get(err);
	if (hs == NULL)
		return -1;
	switch (hs->caps.version) {
	case AL_CG_V1:
		return cg_v1_create(hs, parent, name, l, flags, out, err);
	case AL_CG_V2:
		return cg_v2_create(hs->caps.v2_root, hs->v2_base, NULL, parent, name, l, out, err);
	case AL_CG_NONE:
		break;
	}
	return al_err_set(err, ENOTSUP,
			  "no cgroup filesystem is mounted (neither cgroup2 nor v1 memory/pids in "
			  "/proc/self/mountinfo): mount cgroup2 (mount -t cgroup2 none "
			  "/sys/fs/cgroup)");
}

int al_cgroup_testing_v2_create(const char *root, const char *base, const struct al_cg_fakefs *fs,
				const char *parent, const char *name, const struct al_limits *l,
				struct al_cgroup **out, al_err *err)
{
	*out = NULL;
	if (cg_check_names(parent, name, err) < 0 || cg_check_limits(l, err) < 0)
		return -1;
	if (base && *base && !cg_valid_base(base))
		return al_err_set(err, EINVAL, "cgroup v2 base \"%s\" is not a relative path",
				  base);
	return cg_v2_create(root, base, fs, parent, name, l, out, err);
}

int al_cgroup_set_limits(struct al_cgroup *cg, const struct al_limits *l, al_err *err)
{
	if (cg_check_limits(l, err) < 0)
		return -1;
	if (cg->version == AL_CG_V2)
		return cg_v2_set_limits(cg, l, err);
	const struct cg_host *hs = cg_host_get(err);
	if (hs == NULL)
		return -1;
	return cg_v1_set_limits(cg, hs, l, err);
}

int al_cgroup_attach(struct al_cgroup *cg, pid_t pid, al_err *err)
{
	char v[24];

	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++) {
		int rc = cg_write_at(cg->h[i].fd, "cgroup.procs", v);
		if (rc < 0)
			return al_err_set(err, -rc, "attach pid %d to cgroup %s%s", (int)pid,
					  cg->h[i].path,
					  rc == -ESRCH	 ? " (no such process)"
					  : rc == -EBUSY ? " (the group has child groups with "
							   "controllers enabled)"
							 : "");
	}
	return 0;
}

_Static_assert(C_N <= AL_CGROUP_MAX_HIER, "AL_CGROUP_MAX_HIER too small");

int al_cgroup_open_procs(const struct al_cgroup *cg, int fds[AL_CGROUP_MAX_HIER], al_err *err)
{
	for (size_t i = 0; i < cg->n; i++) {
		fds[i] = openat(cg->h[i].fd, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fds[i] < 0) {
			al_err_set(err, errno, "open %s/cgroup.procs", cg->h[i].path);
			while (i-- > 0)
				close(fds[i]);
			return -1;
		}
	}
	return (int)cg->n;
}

int al_cgroup_join(const int *fds, size_t n, al_err *err)
{
	for (size_t i = 0; i < n; i++) {
		ssize_t w = write(fds[i], "0", 1);
		if (w != 1)
			return al_err_set(err, w < 0 ? errno : EIO, "join the run's cgroup%s",
					  w < 0 && errno == EBUSY
					      ? " (the group has child groups with controllers enabled)"
					      : "");
	}
	return 0;
}

int al_cgroup_dirfd(const struct al_cgroup *cg)
{
	return cg->version == AL_CG_V2 ? cg->h[0].fd : -1;
}

const char *al_cgroup_path(const struct al_cgroup *cg)
{
	return cg->h[0].path;
}

static int stat_i64(const struct cg_hier *h, const char *file, int64_t *out, al_err *err)
{
	int rc = cg_read_i64_at(h->fd, file, out);

	if (rc < 0)
		return al_err_set(err, -rc, "read %s/%s", h->path, file);
	return 0;
}

static int stat_keyed(const struct cg_hier *h, const char *file, const char *key, int64_t *out,
		      al_err *err)
{
	char buf[2048];
	ssize_t n = cg_read_at(h->fd, file, buf, sizeof(buf));

	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/%s", h->path, file);
	if (!cg_keyed_i64(buf, key, out))
		return al_err_set(err, EINVAL, "%s/%s has no \"%s\" line", h->path, file, key);
	return 0;
}

int al_cgroup_stats(struct al_cgroup *cg, int64_t *peak_mem_bytes, int64_t *cpu_time_ns,
		    bool *oom_killed, al_err *err)
{
	int64_t v = 0;

	if (cg->version == AL_CG_V1) {
		const struct cg_hier *mem = &cg->h[cg->idx[C_MEMORY]];
		if (peak_mem_bytes &&
		    stat_i64(mem, "memory.max_usage_in_bytes", peak_mem_bytes, err) < 0)
			return -1;
		if (cpu_time_ns && cg->idx[C_CPUACCT] < 0)
			return al_err_set(err, ENOTSUP, "cgroup %s: made without CPU accounting",
					  mem->path);
		if (cpu_time_ns &&
		    stat_i64(&cg->h[cg->idx[C_CPUACCT]], "cpuacct.usage", cpu_time_ns, err) < 0)
			return -1;
		if (oom_killed) {
			if (stat_keyed(mem, "memory.oom_control", "oom_kill", &v, err) < 0)
				return -1;
			*oom_killed = v > 0;
		}
		return 0;
	}
	const struct cg_hier *h = &cg->h[0];
	if (peak_mem_bytes) {
		if (cg->has_peak) {
			if (stat_i64(h, "memory.peak", peak_mem_bytes, err) < 0)
				return -1;
		} else {
			if (stat_i64(h, "memory.current", &v, err) < 0)
				return -1;
			if (v > cg->peak_seen)
				cg->peak_seen = v;
			*peak_mem_bytes = cg->peak_seen;
		}
	}
	if (cpu_time_ns) {
		if (stat_keyed(h, "cpu.stat", "usage_usec", &v, err) < 0)
			return -1;
		*cpu_time_ns = v > INT64_MAX / 1000 ? INT64_MAX : v * 1000;
	}
	if (oom_killed) {
		if (stat_keyed(h, "memory.events", "oom_kill", &v, err) < 0)
			return -1;
		*oom_killed = v > 0;
	}
	return 0;
}

int al_cgroup_destroy(struct al_cgroup *cg, al_err *err)
{
	int rc = 0;

	if (cg == NULL)
		return 0;
	/* Usually empty already (the runner reaped its pid namespace's init).
	 * v1: just try; an rmdir fails with EBUSY while processes are left. */
	if (cg->version == AL_CG_V1) {
		al_err e;
		rc = cg_v1_remove(cg, &e);
		if (rc == 0 || rc != -EBUSY) {
			if (rc < 0 && err)
				*err = e;
			cg_free(cg);
			return rc < 0 ? -1 : 0;
		}
	}
	if (cg_population(cg) != 0) {
		al_cgroup_kill(cg, err); /* whether it worked shows in wait_empty */
		if (wait_empty(cg, err) < 0) {
			cg_free(cg);
			return -1;
		}
	}
	rc = cg->version == AL_CG_V1 ? cg_v1_remove(cg, err) : cg_v2_remove(cg, err);
	cg_free(cg);
	return rc < 0 ? -1 : 0;
}

int al_cgroup_sweep(const char *parent, al_err *err)
{
	if (parent == NULL || !cg_valid_relpath(parent))
		return al_err_set(err, EINVAL, "cgroup parent \"%s\" is not a relative path",
				  parent ? parent : "(null)");
	const struct cg_host *hs = cg_host_get(err);
	if (hs == NULL)
		return -1;
	switch (hs->caps.version) {
	case AL_CG_V1:
		return cg_v1_sweep(hs, parent, err);
	case AL_CG_V2:
		return cg_v2_sweep(hs->caps.v2_root, hs->v2_base, NULL, parent, err);
	case AL_CG_NONE:
		break;
	}
	return 0;
}

int al_cgroup_testing_v2_sweep(const char *root, const char *base, const struct al_cg_fakefs *fs,
			       const char *parent, al_err *err)
{
	if (parent == NULL || !cg_valid_relpath(parent) ||
	    (base && *base && !cg_valid_base(base)))
		return al_err_set(err, EINVAL, "cgroup sweep: bad parent or base");
	return cg_v2_sweep(root, base, fs, parent, err);
}
