/* cgroup v2 backend: <root>/<base>/<parent>/<name>, driven with plain *at()
 * syscalls on directory fds (not libcgroup): the same code then runs on a
 * fake tree in the unit tests, it yields the fd CLONE_INTO_CGROUP needs, and
 * it avoids libcgroup 2.0.2's v2 delete bug.  See cgroup.h. */
#include "cgroup_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cleanup.h"

const char *const cg_v2_ctl[3] = {"memory", "pids", "cpu"};

/* The v2 part of the probe, over any root (real or fake).  sample_own: also
 * look at our own cgroup for the optional files. */
int cg_v2_probe(const char *root, const char *base, bool sample_own, struct al_cg_caps *caps,
		al_err *err)
{
	char buf[512];
	cleanup_close int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int basefd = -1, own = -1;
	int sample = -1;

	if (rootfd < 0)
		return al_err_set(err, errno, "open cgroup2 root %s", root);
	basefd = openat(rootfd, base && *base ? base : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0)
		return al_err_set(
		    err, errno,
		    "cgroup v2 base %s/%s (AGENTLAUNCH_CGROUP_BASE) cannot be opened: "
		    "create it or fix the variable",
		    root, base);
	ssize_t n = cg_read_at(basefd, "cgroup.controllers", buf, sizeof(buf));
	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/%s/cgroup.controllers", root,
				  base && *base ? base : ".");
	caps->version = AL_CG_V2;
	snprintf(caps->v2_root, sizeof(caps->v2_root), "%s", root);
	caps->memory = cg_has_token(buf, "memory");
	caps->cpu = cg_has_token(buf, "cpu");
	caps->pids = cg_has_token(buf, "pids");
	caps->cpuacct = true; /* cpu.stat usage_usec exists in every non-root group */
	caps->memsw = false;
	if (base && *base && cg_exists_at(basefd, "memory.max"))
		sample = basefd;
	if (sample < 0 && sample_own) {
		char self[1024];
		if (cg_read_at(AT_FDCWD, "/proc/self/cgroup", self, sizeof(self)) > 0) {
			char *p = strstr(self, "0::/");
			if (p && (p == self || p[-1] == '\n') && p[4] != '\n' && p[4] != '\0') {
				p[4 + strcspn(p + 4, "\n")] = '\0';
				own = openat(rootfd, p + 4, O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (own >= 0 && cg_exists_at(own, "memory.max"))
					sample = own;
			}
		}
	}
	if (sample >= 0) {
		caps->swap_max = cg_exists_at(sample, "memory.swap.max");
		caps->peak = cg_exists_at(sample, "memory.peak");
		caps->kill = cg_exists_at(sample, "cgroup.kill");
	} else {
		int kv = cg_kernel_version();
		caps->swap_max = caps->memory;
		caps->peak = caps->memory && kv >= 5019;
		caps->kill = kv >= 5014;
	}
	return 0;
}

int cg_v2_enable_controllers(int dfd, const char *path, unsigned need, al_err *err)
{
	char cur[512], req[64] = "";
	ssize_t n = cg_read_at(dfd, "cgroup.subtree_control", cur, sizeof(cur));

	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/cgroup.subtree_control", path);
	for (int i = 0; i < 3; i++)
		if ((need & (1u << i)) && !cg_has_token(cur, cg_v2_ctl[i])) {
			size_t l = strlen(req);
			snprintf(req + l, sizeof(req) - l, "%s+%s", l ? " " : "", cg_v2_ctl[i]);
		}
	if (req[0] == '\0')
		return 0;
	int rc = cg_write_at(dfd, "cgroup.subtree_control", req);
	if (rc == 0)
		return 0;
	if (rc == -EBUSY)
		return al_err_set(
		    err, EBUSY,
		    "enable \"%s\" in %s/cgroup.subtree_control: that cgroup has "
		    "processes of its own and cgroup v2 puts controllers only above "
		    "leaf groups: move them (e.g. the gateway) into a child group, or "
		    "set AGENTLAUNCH_CGROUP_BASE to a dedicated subtree",
		    req, path);
	return al_err_set(
	    err, -rc, "enable \"%s\" in %s/cgroup.subtree_control (%s)", req, path,
	    rc == -EACCES || rc == -EPERM
		? "run as root, or give the service Delegate=yes and set "
		  "AGENTLAUNCH_CGROUP_BASE to its delegated subtree"
		: "is the controller enabled in the parent's cgroup.subtree_control?");
}

static int v2_set(struct al_cgroup *cg, const char *file, const char *val, al_err *err)
{
	int rc = cg_write_at(cg->h[0].fd, file, val);

	if (rc < 0)
		return al_err_set(err, -rc, "set %s/%s to %s%s", cg->h[0].path, file, val,
				  rc == -ENOENT ? " (controller not enabled for the group)" : "");
	return 0;
}

/* Fail closed: every controller in need is listed in base's
 * cgroup.controllers (buf). */
static int v2_check_controllers(const char *path, const char *base, char *buf, unsigned need,
				al_err *err)
{
	buf[strcspn(buf, "\n")] = '\0';
	for (int i = 0; i < 3; i++) {
		if (!(need & (1u << i)) || cg_has_token(buf, cg_v2_ctl[i]))
			continue;
		if (*base)
			return al_err_set(err, ENOTSUP,
					  "cgroup v2: the %s controller is not available in %s "
					  "(cgroup.controllers: \"%s\"): enable it in the parent "
					  "group's cgroup.subtree_control (echo +%s > "
					  "<parent>/cgroup.subtree_control), or give the service "
					  "Delegate=yes",
					  cg_v2_ctl[i], path, buf, cg_v2_ctl[i]);
		return al_err_set(
		    err, ENOTSUP,
		    "cgroup v2: the %s controller is not available in the hierarchy "
		    "at %s (cgroup.controllers: \"%s\"; bound to a cgroup v1 mount or "
		    "disabled): enable the %s controller (boot with "
		    "systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all)",
		    cg_v2_ctl[i], path, buf, cg_v2_ctl[i]);
	}
	return 0;
}

int cg_v2_create(const char *root, const char *base, const struct al_cg_fakefs *fs,
		 const char *parent, const char *name, const struct al_limits *l,
		 struct al_cgroup **out, al_err *err)
{
	char path[CG_PATH_MAX], buf[512];
	unsigned need = M_MEMORY | M_PIDS | (l->cpu_max_percent != AL_LIMIT_UNSET ? M_CPU : 0);
	cleanup_close int cur = -1, plock = -1;
	int rc;

	*out = NULL;
	base = base ? base : "";
	if (cg_pathf(path, sizeof(path), "%s%s%s", root, *base ? "/" : "", base) < 0)
		return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", root, base);
	cur = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return al_err_set(
		    err, errno, "open cgroup v2 base %s%s", path,
		    *base ? " (AGENTLAUNCH_CGROUP_BASE): create it or fix the variable" : "");
	ssize_t n = cg_read_at(cur, "cgroup.controllers", buf, sizeof(buf));
	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/cgroup.controllers", path);
	if (v2_check_controllers(path, base, buf, need, err) < 0)
		return -1;
	if (cg_walk_create(fs, &cur, parent, path, sizeof(path), need, err) < 0 ||
	    cg_v2_enable_controllers(cur, path, need, err) < 0)
		return -1;
	plock = cg_lock_parent(cur, path, LOCK_SH, err);
	if (plock < 0)
		return -1;
	rc = cg_mkdirat(fs, cur, name);
	if (rc == -EEXIST)
		return al_err_set(
		    err, EEXIST,
		    "cgroup %s/%s already exists: run ids must be unique (a leftover of "
		    "a crashed run is removed by al_cgroup_sweep)",
		    path, name);
	if (rc < 0)
		return al_err_set(err, -rc, "create cgroup %s/%s", path, name);

	struct al_cgroup *cg = cg_alloc(AL_CG_V2, name);
	if (cg == NULL) {
		cg_rm_tree(fs, cur, name, 0);
		return al_err_set(err, ENOMEM, "create cgroup");
	}
	cg->fs = fs;
	cg->n = 1;
	cg->h[0].ctl = "";
	cg->h[0].pfd = TAKE_FD(cur);
	if (cg_pathf(cg->h[0].path, sizeof(cg->h[0].path), "%s/%s", path, name) < 0 ||
	    cg_pathf(cg->rel, sizeof(cg->rel), "/%s%s%s/%s", base, *base ? "/" : "", parent, name) <
		0) {
		al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", path, name);
		goto fail;
	}
	cg->h[0].fd = openat(cg->h[0].pfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cg->h[0].fd < 0) {
		al_err_set(err, errno, "open cgroup %s", cg->h[0].path);
		goto fail;
	}
	if (cg_lock(cg, cg->h[0].pfd, name, err) < 0)
		goto fail;
	int fd = cg->h[0].fd;
	cg->has_swap_max = cg_exists_at(fd, "memory.swap.max");
	cg->has_peak = cg_exists_at(fd, "memory.peak");
	cg->has_kill = cg_exists_at(fd, "cgroup.kill");
	cg->has_freeze = cg_exists_at(fd, "cgroup.freeze");
	cg->has_oom_group = cg_exists_at(fd, "memory.oom.group");

	if ((cg->has_swap_max && v2_set(cg, "memory.swap.max", "0", err) < 0) ||
	    (cg->has_oom_group && v2_set(cg, "memory.oom.group", "1", err) < 0) ||
	    cg_v2_set_limits(cg, l, err) < 0)
		goto fail;
	*out = cg;
	return 0;
fail:
	cg_rm_tree(fs, cg->h[0].pfd, name, 0);
	cg_free(cg);
	return -1;
}

/* Remove the (empty) group and the groups nested in it, and check. */
int cg_v2_remove(struct al_cgroup *cg, al_err *err)
{
	int r = cg_rm_tree(cg->fs, cg->h[0].pfd, cg->name, 0);

	if (r == 0 && cg_exists_at(cg->h[0].pfd, cg->name))
		r = -EEXIST;
	if (r < 0)
		return al_err_set(err, -r, "remove cgroup %s", cg->h[0].path);
	return 0;
}

/* Remove the children of <root>/<base>/<parent> that no live process owns
 * and that are not populated: one directory to list. */
int cg_v2_sweep(const char *root, const char *base, const struct al_cg_fakefs *fs,
		const char *parent, al_err *err)
{
	char path[CG_PATH_MAX];
	cleanup_close int pfd = -1, plock = -1;
	int removed = 0;

	base = base ? base : "";
	if (cg_pathf(path, sizeof(path), "%s%s%s/%s", root, *base ? "/" : "", base, parent) < 0)
		return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", root, parent);
	pfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : al_err_set(err, errno, "open cgroup %s", path);
	plock = cg_lock_parent(pfd, path, LOCK_EX, err);
	if (plock < 0)
		return -1;
	DIR *d = fdopendir(pfd);
	if (d == NULL)
		return al_err_set(err, errno, "list cgroup %s", path);
	pfd = -1; /* owned by d now */
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_type != DT_DIR || !cg_valid_component(e->d_name, strlen(e->d_name)))
			continue;
		cleanup_close int lk =
		    openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lk >= 0 && cg_flock_retry(lk, LOCK_EX | LOCK_NB) < 0)
			continue; /* a live process owns it */
		if (cg_tree_population(dirfd(d), e->d_name, true, 0) != 0)
			continue; /* processes left (or unreadable): not ours to judge */
		int rc = cg_rm_tree(fs, dirfd(d), e->d_name, 0);
		if (rc < 0) {
			closedir(d);
			return al_err_set(err, -rc, "remove stale cgroup %s/%s", path, e->d_name);
		}
		removed++;
	}
	closedir(d);
	return removed;
}

/* memory.max, pids.max, and cpu.max when l has a quota (the group has the
 * cpu controller then: cg_v2_create enables it). */
int cg_v2_set_limits(struct al_cgroup *cg, const struct al_limits *l, al_err *err)
{
	char v[64];

	snprintf(v, sizeof(v), "%" PRId64, l->mem_max_mb << 20);
	if (v2_set(cg, "memory.max", v, err) < 0)
		return -1;
	snprintf(v, sizeof(v), "%" PRId64, l->pids_max);
	if (v2_set(cg, "pids.max", v, err) < 0)
		return -1;
	if (l->cpu_max_percent == AL_LIMIT_UNSET)
		return 0;
	snprintf(v, sizeof(v), "%" PRId64 " %d", l->cpu_max_percent * (CG_PERIOD_US / 100),
		 CG_PERIOD_US);
	return v2_set(cg, "cpu.max", v, err);
}
