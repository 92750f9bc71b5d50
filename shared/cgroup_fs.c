/* Small cgroupfs helpers shared by the v1 and v2 backends: interface files
 * read and written through directory fds, name and limit checks, directory
 * creation and removal (optionally through the tests' fake filesystem),
 * process lists and the ownership locks described in cgroup.h. */
#include "cgroup_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

/* ---- files -------------------------------------------------------------- */

/* snprintf that reports truncation: 0 or -ENAMETOOLONG. */
int cg_pathf(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sz ? -ENAMETOOLONG : 0;
}

ssize_t cg_read_at(int dfd, const char *file, char *buf, size_t sz)
{
	int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n < sz - 1) {
		ssize_t r = read(fd, buf + n, sz - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

int cg_write_at(int dfd, const char *file, const char *val)
{
	int fd = openat(dfd, file, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	int rc;

	if (fd < 0)
		return -errno;
	rc = al_write_all(fd, val, strlen(val));
	if (close(fd) < 0 && rc == 0 && errno != EINTR)
		rc = -errno;
	return rc;
}

bool cg_exists_at(int dfd, const char *file)
{
	return faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Is tok in a whitespace-separated list (a leading '+' in the list is
 * ignored, as a fake subtree_control may hold what was written)? */
bool cg_has_token(const char *list, const char *tok)
{
	size_t tl = strlen(tok);

	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\n' || *p == '\t')
			p++;
		if (*p == '+')
			p++;
		size_t n = strcspn(p, " \n\t");
		if (n == tl && strncmp(p, tok, tl) == 0)
			return true;
		p += n;
	}
	return false;
}

/* Find "key N" on a line of a flat keyed file (memory.events, cpu.stat). */
bool cg_keyed_i64(const char *buf, const char *key, int64_t *out)
{
	size_t kl = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) != 0 || p[kl] != ' ')
			continue;
		char num[24];
		size_t n = strcspn(p + kl + 1, "\n");
		if (n == 0 || n >= sizeof(num))
			return false;
		memcpy(num, p + kl + 1, n);
		num[n] = '\0';
		return al_parse_i64(num, 0, INT64_MAX, out);
	}
	return false;
}

int cg_read_i64_at(int dfd, const char *file, int64_t *out)
{
	char buf[64];
	ssize_t n = cg_read_at(dfd, file, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = '\0';
	return al_parse_i64(buf, 0, INT64_MAX, out) ? 0 : -EINVAL;
}

void cg_nap(long *us)
{
	struct timespec ts = {0, *us * 1000};

	nanosleep(&ts, NULL);
	if (*us < 5000)
		*us *= 2;
}

int cg_kernel_version(void)
{
	struct utsname u;
	unsigned a = 0, b = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &a, &b) != 2)
		return 0;
	return (int)(a * 1000 + b);
}

/* ---- names and limits ----------------------------------------------------- */

static bool component_ok(const char *s, size_t n, const char *extra)
{
	if (n == 0 || n > CG_COMPONENT_MAX || (n == 1 && s[0] == '.') ||
	    (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || (c != '\0' && extra && strchr(extra, c))))
			return false;
	}
	return true;
}

bool cg_valid_component(const char *s, size_t n)
{
	return component_ok(s, n, NULL);
}

static bool relpath_ok(const char *s, const char *extra)
{
	if (strlen(s) >= CG_REL_MAX / 2)
		return false;
	for (;;) {
		size_t n = strcspn(s, "/");
		if (!component_ok(s, n, extra))
			return false;
		if (s[n] == '\0')
			return true;
		s += n + 1;
	}
}

/* "a/b/c": components as above, no empty ones, no leading or trailing '/'. */
bool cg_valid_relpath(const char *s)
{
	return relpath_ok(s, NULL);
}

/* The v2 base (AGENTLAUNCH_CGROUP_BASE) is chosen by the operator or systemd
 * and may name units: also '@', ':', '+' and the '\' of escaped names
 * (system.slice/agentlaunch@a.service).  Run names stay strict. */
bool cg_valid_base(const char *s)
{
	return relpath_ok(s, "@:+\\");
}

int cg_check_names(const char *parent, const char *name, al_err *err)
{
	if (parent == NULL || !cg_valid_relpath(parent))
		return al_err_set(err, EINVAL,
				  "cgroup parent \"%s\" is not a relative path of [A-Za-z0-9._-] "
				  "components",
				  parent ? parent : "(null)");
	if (name == NULL || !cg_valid_component(name, strlen(name)))
		return al_err_set(err, EINVAL,
				  "cgroup name \"%s\" is not 1-64 characters of [A-Za-z0-9._-]",
				  name ? name : "(null)");
	return 0;
}

int cg_check_limits(const struct al_limits *l, al_err *err)
{
	if (l == NULL)
		return al_err_set(err, EINVAL, "cgroup limits missing");
	if (l->mem_max_mb < 1 || l->mem_max_mb > (INT64_MAX >> 21))
		return al_err_set(err, EINVAL,
				  "cgroup memory limit %" PRId64
				  " MB is unset or out of range: every "
				  "run needs one (fill the limits with al_limits_effective)",
				  l->mem_max_mb);
	if (l->pids_max < 1 || l->pids_max > 4194304)
		return al_err_set(err, EINVAL,
				  "cgroup pids limit %" PRId64
				  " is unset or out of range 1..4194304: "
				  "every run needs one (fill the limits with al_limits_effective)",
				  l->pids_max);
	if (l->cpu_max_percent != AL_LIMIT_UNSET &&
	    (l->cpu_max_percent < 1 || l->cpu_max_percent > 100000))
		return al_err_set(err, EINVAL, "cgroup CPU limit %" PRId64 "%% is out of range",
				  l->cpu_max_percent);
	return 0;
}

/* ---- directories ------------------------------------------------------- */

int cg_mkdirat(const struct al_cg_fakefs *fs, int dfd, const char *name)
{
	int rc = fs ? fs->mkdirat(dfd, name, fs->arg) : mkdirat(dfd, name, 0755);
	return rc < 0 ? -errno : 0;
}

static int do_rmdirat(const struct al_cg_fakefs *fs, int dfd, const char *name)
{
	int rc = fs ? fs->rmdirat(dfd, name, fs->arg) : unlinkat(dfd, name, AT_REMOVEDIR);
	return rc < 0 ? -errno : 0;
}

/* Remove dfd/name and the groups nested in it.  0 (also when it was not
 * there) or -errno. */
int cg_rm_tree(const struct al_cg_fakefs *fs, int dfd, const char *name, int depth)
{
	int rc = do_rmdirat(fs, dfd, name);

	if (rc == 0 || rc == -ENOENT)
		return 0;
	if ((rc != -EBUSY && rc != -ENOTEMPTY) || depth >= CG_MAX_DEPTH)
		return rc;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -ENOMEM;
	}
	bool any = false;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		any = true;
		if (cg_rm_tree(fs, dirfd(d), e->d_name, depth + 1) < 0)
			break;
	}
	closedir(d);
	if (!any)
		return rc;
	rc = do_rmdirat(fs, dfd, name);
	return rc == -ENOENT ? 0 : rc;
}

/* Walk (creating) the components of rel below *dfd, replacing *dfd by an
 * O_PATH fd of the last one; path grows along.  v2 (need != 0): before
 * descending, the controllers in need are enabled in each level's
 * cgroup.subtree_control. */
int cg_walk_create(const struct al_cg_fakefs *fs, int *dfd, const char *rel, char *path,
		   size_t pathsz, unsigned need, al_err *err)
{
	char comp[CG_COMPONENT_MAX + 1];

	for (const char *s = rel; *s;) {
		size_t n = strcspn(s, "/");
		memcpy(comp, s, n);
		comp[n] = '\0';
		s += n + (s[n] == '/');
		if (need && cg_v2_enable_controllers(*dfd, path, need, err) < 0)
			return -1;
		int rc = cg_mkdirat(fs, *dfd, comp);
		size_t pl = strlen(path);
		if (cg_pathf(path + pl, pathsz - pl, "/%s", comp) < 0)
			return al_err_set(err, ENAMETOOLONG, "cgroup path %s", path);
		if (rc < 0 && rc != -EEXIST)
			return al_err_set(err, -rc, "create cgroup %s%s", path,
					  rc == -EACCES || rc == -EPERM || rc == -EROFS
					      ? " (run as root, or under systemd give the service "
						"Delegate=yes and set AGENTLAUNCH_CGROUP_BASE to "
						"its delegated subtree)"
					      : "");
		int next = openat(*dfd, comp, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			return al_err_set(err, errno, "open cgroup %s", path);
		close(*dfd);
		*dfd = next;
	}
	return 0;
}

/* ---- processes ------------------------------------------------------------ */

/* Call cb for every pid in dfd/cgroup.procs; returns the number of pids
 * or -errno.  No allocation: the file is read in chunks. */
int cg_for_each_pid(int dfd, void (*cb)(pid_t, void *), void *arg)
{
	char buf[4096];
	int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	long cur = -1;
	int count = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				cur = (cur < 0 ? 0 : cur * 10) + (buf[i] - '0');
				if (cur > INT_MAX)
					cur = INT_MAX;
			} else if (cur >= 0) {
				if (cb)
					cb((pid_t)cur, arg);
				count++;
				cur = -1;
			}
		}
		if (r == 0)
			break;
	}
	if (cur >= 0) {
		if (cb)
			cb((pid_t)cur, arg);
		count++;
	}
	close(fd);
	return count;
}

/* Processes in dfd/name and below (v1) or its populated flag (v2); -errno
 * (-ENOENT when there is no such group). */
int cg_tree_population(int dfd, const char *name, bool v2, int depth)
{
	cleanup_close int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[256];
	int64_t pop;

	if (fd < 0)
		return -errno;
	if (v2 && cg_read_at(fd, "cgroup.events", buf, sizeof(buf)) > 0 &&
	    cg_keyed_i64(buf, "populated", &pop))
		return pop ? 1 : 0;
	int total = cg_for_each_pid(fd, NULL, NULL);
	if (total != 0 || depth >= CG_MAX_DEPTH)
		return total;
	DIR *d = fdopendir(dup(fd));
	if (d == NULL)
		return -ENOMEM;
	for (struct dirent *e; total == 0 && (e = readdir(d)) != NULL;)
		if (e->d_type == DT_DIR && e->d_name[0] != '.')
			total = cg_tree_population(fd, e->d_name, v2, depth + 1);
	closedir(d);
	return total;
}

/* ---- ownership locks ---------------------------------------------------- */

int cg_flock_retry(int fd, int op)
{
	int rc;

	do
		rc = flock(fd, op);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* Lock the parent (shared for creators, exclusive for sweeps); the locked
 * fd, or -1. */
int cg_lock_parent(int pfd, const char *path, int op, al_err *err)
{
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t deadline = al_now_us() + CG_LOCK_WAIT_US;
	long us = 100;

	if (fd < 0)
		return al_err_set(err, errno, "open cgroup %s", path);
	while (cg_flock_retry(fd, op | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || al_now_us() > deadline) {
			int e = errno;
			close(fd);
			return al_err_set(err, e, "lock cgroup %s", path);
		}
		cg_nap(&us);
	}
	return fd;
}

/* Take the group's ownership lock (fd of its directory, exclusive). */
int cg_lock(struct al_cgroup *cg, int dfd, const char *name, al_err *err)
{
	cg->lockfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->lockfd < 0)
		return al_err_set(err, errno, "open cgroup %s", cg->h[0].path);
	if (cg_flock_retry(cg->lockfd, LOCK_EX | LOCK_NB) < 0)
		return al_err_set(err, errno, "lock cgroup %s (owned by another process?)",
				  cg->h[0].path);
	return 0;
}

struct al_cgroup *cg_alloc(enum al_cg_version v, const char *name)
{
	struct al_cgroup *cg = calloc(1, sizeof(*cg));

	if (cg == NULL)
		return NULL;
	cg->version = v;
	cg->lockfd = -1;
	for (int i = 0; i < C_N; i++) {
		cg->h[i].fd = cg->h[i].pfd = -1;
		cg->idx[i] = -1;
	}
	snprintf(cg->name, sizeof(cg->name), "%s", name);
	return cg;
}

void cg_free(struct al_cgroup *cg)
{
	for (size_t i = 0; i < C_N; i++) {
		if (cg->h[i].fd >= 0)
			close(cg->h[i].fd);
		if (cg->h[i].pfd >= 0)
			close(cg->h[i].pfd);
	}
	if (cg->lockfd >= 0)
		close(cg->lockfd);
	free(cg);
}
