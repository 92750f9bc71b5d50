/* cgroup v1 (libcgroup) and v2 (directory fds) groups for sandboxed runs.
 * See cgroup.h for the layout, the locking and the fail-closed rules. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <libcgroup.h>

#include "cleanup.h"
#include "util.h"

#define CG_PERIOD_US 100000
#define CG_EMPTY_WAIT_US 1000000 /* destroy: wait this long for the group to empty */
#define CG_KILL_WAIT_US 1000000	 /* kill loops stop after this long */
#define CG_FREEZE_WAIT_US 100000 /* how long a freeze may take before we kill anyway */
#define CG_LOCK_WAIT_US 2000000	 /* sweep: wait this long for creators to finish */
#define CG_MAX_DEPTH 16		 /* nested groups removed on destroy/sweep */
#define CG_COMPONENT_MAX 64
#define CG_REL_MAX 256
#define CG_PATH_MAX 512

/* v1 hierarchies a group lives in, in creation order (memory first: its
 * directory carries the ownership lock). */
enum ctl { C_MEMORY, C_PIDS, C_CPUACCT, C_CPU, C_FREEZER, C_N };
static const char *const ctl_name[C_N] = {"memory", "pids", "cpuacct", "cpu", "freezer"};

/* v2 controllers a group needs, as a mask. */
enum { M_MEMORY = 1, M_PIDS = 2, M_CPU = 4 };

struct host {
	struct al_cg_caps caps;
	char v1_mnt[C_N][CG_PATH_MAX]; /* v1 mount point per controller, "" if none */
	char v2_base[CG_REL_MAX];      /* validated $AGENTLAUNCH_CGROUP_BASE, "" = root */
};

struct cg_hier {
	int fd;		 /* owned: O_PATH|O_DIRECTORY of the group in this hierarchy */
	const char *ctl; /* borrowed static name (v1), "" on v2 */
	char path[CG_PATH_MAX];
};

struct al_cgroup {
	enum al_cg_version version;
	struct cg_hier h[C_N]; /* v2: h[0] only; v1: one per distinct mount */
	size_t n;
	int idx[C_N];		       /* v1: index into h per controller, -1 if absent */
	int lockfd;		       /* owned: O_RDONLY fd of the group holding LOCK_EX */
	int parentfd;		       /* owned (v2): O_PATH fd of the parent directory */
	struct cgroup *lcg;	       /* owned (v1): libcgroup handle */
	const struct al_cg_fakefs *fs; /* borrowed (tests only), NULL in production */
	char name[CG_COMPONENT_MAX + 1];
	char rel[CG_REL_MAX]; /* path as /proc/PID/cgroup shows it */
	bool has_swap_max, has_peak, has_kill, has_freeze, has_oom_group; /* v2 */
	int64_t peak_seen; /* v2 without memory.peak: largest memory.current read */
};

/* ---- small helpers --------------------------------------------------- */

/* snprintf that reports truncation: 0 or -ENAMETOOLONG. */
__attribute__((format(printf, 3, 4))) static int pathf(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sz ? -ENAMETOOLONG : 0;
}

static ssize_t read_at(int dfd, const char *file, char *buf, size_t sz)
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

static int write_at(int dfd, const char *file, const char *val)
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

static bool exists_at(int dfd, const char *file)
{
	return faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Is tok in a whitespace-separated list (a leading '+' in the list is
 * ignored, as a fake subtree_control may hold what was written)? */
static bool has_token(const char *list, const char *tok)
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
static bool keyed_i64(const char *buf, const char *key, int64_t *out)
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

static int read_i64_at(int dfd, const char *file, int64_t *out)
{
	char buf[64];
	ssize_t n = read_at(dfd, file, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = '\0';
	return al_parse_i64(buf, 0, INT64_MAX, out) ? 0 : -EINVAL;
}

static void nap(long *us)
{
	struct timespec ts = {0, *us * 1000};

	nanosleep(&ts, NULL);
	if (*us < 5000)
		*us *= 2;
}

static int flock_retry(int fd, int op)
{
	int rc;

	do
		rc = flock(fd, op);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static bool valid_component(const char *s, size_t n)
{
	if (n == 0 || n > CG_COMPONENT_MAX || (n == 1 && s[0] == '.') ||
	    (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* "a/b/c": components as above, no empty ones, no leading or trailing '/'. */
static bool valid_relpath(const char *s)
{
	if (strlen(s) >= CG_REL_MAX / 2)
		return false;
	for (;;) {
		size_t n = strcspn(s, "/");
		if (!valid_component(s, n))
			return false;
		if (s[n] == '\0')
			return true;
		s += n + 1;
	}
}

static int check_names(const char *parent, const char *name, al_err *err)
{
	if (parent == NULL || !valid_relpath(parent))
		return al_err_set(err, EINVAL,
				  "cgroup parent \"%s\" is not a relative path of [A-Za-z0-9._-] "
				  "components",
				  parent ? parent : "(null)");
	if (name == NULL || !valid_component(name, strlen(name)))
		return al_err_set(err, EINVAL,
				  "cgroup name \"%s\" is not 1-64 characters of [A-Za-z0-9._-]",
				  name ? name : "(null)");
	return 0;
}

static int check_limits(const struct al_limits *l, al_err *err)
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

static int kernel_version(void)
{
	struct utsname u;
	unsigned a = 0, b = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &a, &b) != 2)
		return 0;
	return (int)(a * 1000 + b);
}

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

static void parse_mountinfo_line(char *line, struct host *h)
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
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
		for (int c = 0; c < C_N; c++)
			if (strcmp(o, ctl_name[c]) == 0 && h->v1_mnt[c][0] == '\0')
				snprintf(h->v1_mnt[c], sizeof(h->v1_mnt[c]), "%s", mnt);
}

/* v2 part of the probe, over any root (real or fake).  sample_own: also look
 * at our own cgroup for the optional files. */
static int v2_probe(const char *root, const char *base, bool sample_own, struct al_cg_caps *caps,
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
	ssize_t n = read_at(basefd, "cgroup.controllers", buf, sizeof(buf));
	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/%s/cgroup.controllers", root,
				  base && *base ? base : ".");
	caps->version = AL_CG_V2;
	snprintf(caps->v2_root, sizeof(caps->v2_root), "%s", root);
	caps->memory = has_token(buf, "memory");
	caps->cpu = has_token(buf, "cpu");
	caps->pids = has_token(buf, "pids");
	caps->cpuacct = true; /* cpu.stat usage_usec exists in every non-root group */
	caps->memsw = false;
	if (base && *base && exists_at(basefd, "memory.max"))
		sample = basefd;
	if (sample < 0 && sample_own) {
		char self[1024];
		if (read_at(AT_FDCWD, "/proc/self/cgroup", self, sizeof(self)) > 0) {
			char *p = strstr(self, "0::/");
			if (p && (p == self || p[-1] == '\n') && p[4] != '\n' && p[4] != '\0') {
				p[4 + strcspn(p + 4, "\n")] = '\0';
				own = openat(rootfd, p + 4, O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (own >= 0 && exists_at(own, "memory.max"))
					sample = own;
			}
		}
	}
	if (sample >= 0) {
		caps->swap_max = exists_at(sample, "memory.swap.max");
		caps->peak = exists_at(sample, "memory.peak");
		caps->kill = exists_at(sample, "cgroup.kill");
	} else {
		int kv = kernel_version();
		caps->swap_max = caps->memory;
		caps->peak = caps->memory && kv >= 5019;
		caps->kill = kv >= 5014;
	}
	return 0;
}

static int probe_host(struct host *h, al_err *err)
{
	cleanup_free char *mi = NULL;

	memset(h, 0, sizeof(*h));
	if (al_read_file("/proc/self/mountinfo", 4 << 20, &mi, NULL, err) < 0)
		return al_err_wrap(err, "probe cgroups");
	for (char *save = NULL, *line = strtok_r(mi, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		parse_mountinfo_line(line, h);

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
		if (len > 0 && !valid_relpath(h->v2_base))
			return al_err_set(
			    err, EINVAL,
			    "AGENTLAUNCH_CGROUP_BASE=%s is not a path of plain "
			    "components relative to the cgroup2 root %s: fix or unset it",
			    getenv("AGENTLAUNCH_CGROUP_BASE"), c->v2_root);
	}
	char root[sizeof(c->v2_root)];
	memcpy(root, c->v2_root, sizeof(root));
	return v2_probe(root, h->v2_base, true, c, err);
}

int al_cgroup_probe(struct al_cg_caps *caps, al_err *err)
{
	struct host h;

	if (probe_host(&h, err) < 0)
		return -1;
	*caps = h.caps;
	return 0;
}

int al_cgroup_testing_v2_probe(const char *root, const char *base, struct al_cg_caps *caps,
			       al_err *err)
{
	memset(caps, 0, sizeof(*caps));
	if (base && *base && !valid_relpath(base))
		return al_err_set(err, EINVAL, "cgroup v2 base \"%s\" is not a relative path",
				  base);
	return v2_probe(root, base ? base : "", false, caps, err);
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

/* The host probe, once per process. */
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static struct host host_cache;
static al_err host_err;
static int host_rc;

static void host_init(void)
{
	host_rc = probe_host(&host_cache, &host_err);
}

static const struct host *host_get(al_err *err)
{
	pthread_once(&host_once, host_init);
	if (host_rc < 0) {
		if (err)
			*err = host_err;
		return NULL;
	}
	return &host_cache;
}

/* libcgroup, initialised once per process; its log lines are kept (per
 * thread) for our error messages instead of going to stderr. */
static pthread_once_t lcg_once = PTHREAD_ONCE_INIT;
static int lcg_rc;
static __thread char lcg_msg[256];

__attribute__((format(printf, 3, 0))) static void lcg_log(void *ud, int level, const char *fmt,
							  va_list ap)
{
	vsnprintf(lcg_msg, sizeof(lcg_msg), fmt, ap);
	lcg_msg[strcspn(lcg_msg, "\n")] = '\0';
}

static void lcg_init(void)
{
	cgroup_set_logger(lcg_log, CGROUP_LOG_WARNING, NULL);
	lcg_rc = cgroup_init();
}

static int lcg_fail(al_err *err, int rc, const char *what)
{
	int e = rc == ECGOTHER ? cgroup_get_last_errno() : 0;

	if (rc == ECGROUPNOTOWNER)
		e = EPERM;
	return al_err_set(err, e ? e : EIO, "%s: libcgroup: %s%s%s%s", what, cgroup_strerror(rc),
			  lcg_msg[0] ? " (" : "", lcg_msg, lcg_msg[0] ? ")" : "");
}

/* ---- directories: creation, removal, processes -------------------------- */

static int do_mkdirat(const struct al_cg_fakefs *fs, int dfd, const char *name)
{
	int rc = fs ? fs->mkdirat(dfd, name, fs->arg) : mkdirat(dfd, name, 0755);
	return rc < 0 ? -errno : 0;
}

static int do_rmdirat(const struct al_cg_fakefs *fs, int dfd, const char *name)
{
	int rc = fs ? fs->rmdirat(dfd, name, fs->arg) : unlinkat(dfd, name, AT_REMOVEDIR);
	return rc < 0 ? -errno : 0;
}

/* Remove dfd/name and the groups nested in it.  0 or -errno. */
static int rm_tree(const struct al_cg_fakefs *fs, int dfd, const char *name, int depth)
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
		if (rm_tree(fs, dirfd(d), e->d_name, depth + 1) < 0)
			break;
	}
	closedir(d);
	if (!any)
		return rc;
	rc = do_rmdirat(fs, dfd, name);
	return rc == -ENOENT ? 0 : rc;
}

/* Call cb for every pid in dfd/cgroup.procs; returns the number of pids
 * or -errno.  No allocation: the file is read in chunks. */
static int for_each_pid(int dfd, void (*cb)(pid_t, void *), void *arg)
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

/* Is pid, right now, in the group (rel as in /proc/PID/cgroup) of the
 * hierarchy of controller ctl ("" for v2)? */
static bool pid_in_group(pid_t pid, const char *ctl, const char *rel)
{
	char path[48], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_at(AT_FDCWD, path, buf, sizeof(buf)) <= 0)
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
		if (read_at(cg->h[0].fd, "cgroup.events", buf, sizeof(buf)) > 0 &&
		    keyed_i64(buf, "populated", &pop))
			return pop ? 1 : 0;
	}
	for (size_t i = 0; i < cg->n; i++) {
		int c = for_each_pid(cg->h[i].fd, NULL, NULL);
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
		struct kill_ctx k = {cg->h[i].ctl, cg->rel, verify};
		int c = for_each_pid(cg->h[i].fd, kill_one, &k);
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

	if (write_at(fd, file, val) < 0 || !freeze)
		return false;
	for (;;) {
		char buf[256];
		int64_t frozen = 0;
		if (cg->version == AL_CG_V1) {
			if (read_at(fd, "freezer.state", buf, sizeof(buf)) > 0 &&
			    strncmp(buf, "FROZEN", 6) == 0)
				return true;
		} else if (read_at(fd, "cgroup.events", buf, sizeof(buf)) > 0 &&
			   keyed_i64(buf, "frozen", &frozen) && frozen) {
			return true;
		}
		if (al_now_us() > deadline)
			return false;
		nap(&us);
	}
}

int al_cgroup_kill(struct al_cgroup *cg, al_err *err)
{
	int64_t deadline = al_now_us() + CG_KILL_WAIT_US;
	long us = 50;
	int pop;

	if (cg->version == AL_CG_V2 && cg->has_kill) {
		int rc = write_at(cg->h[0].fd, "cgroup.kill", "1");
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
		nap(&us);
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
		nap(&us);
	if (pop < 0)
		return al_err_set(err, -pop, "cgroup %s: read its processes", cg->h[0].path);
	if (pop > 0)
		return al_err_set(err, EBUSY,
				  "cgroup %s still has processes %d ms after SIGKILL (stuck in the "
				  "kernel?): it is left for al_cgroup_sweep",
				  cg->h[0].path, CG_EMPTY_WAIT_US / 1000);
	return 0;
}

static void cg_free(struct al_cgroup *cg)
{
	for (size_t i = 0; i < cg->n; i++)
		if (cg->h[i].fd >= 0)
			close(cg->h[i].fd);
	if (cg->lockfd >= 0)
		close(cg->lockfd);
	if (cg->parentfd >= 0)
		close(cg->parentfd);
	if (cg->lcg)
		cgroup_free(&cg->lcg);
	free(cg);
}

static struct al_cgroup *cg_alloc(enum al_cg_version v, const char *name)
{
	struct al_cgroup *cg = calloc(1, sizeof(*cg));

	if (cg == NULL)
		return NULL;
	cg->version = v;
	cg->lockfd = cg->parentfd = -1;
	for (int i = 0; i < C_N; i++) {
		cg->h[i].fd = -1;
		cg->idx[i] = -1;
	}
	snprintf(cg->name, sizeof(cg->name), "%s", name);
	return cg;
}

/* Take the group's ownership lock (fd of its directory, exclusive). */
static int cg_lock(struct al_cgroup *cg, int dfd, const char *name, al_err *err)
{
	cg->lockfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->lockfd < 0)
		return al_err_set(err, errno, "open cgroup %s", cg->h[0].path);
	if (flock_retry(cg->lockfd, LOCK_EX | LOCK_NB) < 0)
		return al_err_set(err, errno, "lock cgroup %s (owned by another process?)",
				  cg->h[0].path);
	return 0;
}

static int enable_controllers(int dfd, const char *path, unsigned need, al_err *err);

/* Walk (creating) the components of rel below *dfd, replacing *dfd by an
 * O_PATH fd of the last one; path grows along.  v2 (need != 0): before
 * descending, the controllers in need are enabled in each level's
 * cgroup.subtree_control. */

static int walk_create(const struct al_cg_fakefs *fs, int *dfd, const char *rel, char *path,
		       size_t pathsz, unsigned need, al_err *err)
{
	char comp[CG_COMPONENT_MAX + 1];

	for (const char *s = rel; *s;) {
		size_t n = strcspn(s, "/");
		memcpy(comp, s, n);
		comp[n] = '\0';
		s += n + (s[n] == '/');
		if (need && enable_controllers(*dfd, path, need, err) < 0)
			return -1;
		int rc = do_mkdirat(fs, *dfd, comp);
		size_t pl = strlen(path);
		if (pathf(path + pl, pathsz - pl, "/%s", comp) < 0)
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

/* Lock the parent (shared for creators, exclusive for sweeps). */
static int lock_parent(int pfd, const char *path, int op, al_err *err)
{
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t deadline = al_now_us() + CG_LOCK_WAIT_US;
	long us = 100;

	if (fd < 0)
		return al_err_set(err, errno, "open cgroup %s", path);
	while (flock_retry(fd, op | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || al_now_us() > deadline) {
			int e = errno;
			close(fd);
			return al_err_set(err, e, "lock cgroup %s", path);
		}
		nap(&us);
	}
	return fd;
}

/* ---- cgroup v2 ------------------------------------------------------------ */

static const char *const v2_ctl[3] = {"memory", "pids", "cpu"};

static int enable_controllers(int dfd, const char *path, unsigned need, al_err *err)
{
	char cur[512], req[64] = "";
	ssize_t n = read_at(dfd, "cgroup.subtree_control", cur, sizeof(cur));

	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/cgroup.subtree_control", path);
	for (int i = 0; i < 3; i++)
		if ((need & (1u << i)) && !has_token(cur, v2_ctl[i])) {
			size_t l = strlen(req);
			snprintf(req + l, sizeof(req) - l, "%s+%s", l ? " " : "", v2_ctl[i]);
		}
	if (req[0] == '\0')
		return 0;
	int rc = write_at(dfd, "cgroup.subtree_control", req);
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
	int rc = write_at(cg->h[0].fd, file, val);

	if (rc < 0)
		return al_err_set(err, -rc, "set %s/%s to %s%s", cg->h[0].path, file, val,
				  rc == -ENOENT ? " (controller not enabled for the group)" : "");
	return 0;
}

static int v2_create(const char *root, const char *base, const struct al_cg_fakefs *fs,
		     const char *parent, const char *name, const struct al_limits *l,
		     struct al_cgroup **out, al_err *err)
{
	char path[CG_PATH_MAX], buf[512], v[64];
	unsigned need = M_MEMORY | M_PIDS | (l->cpu_max_percent != AL_LIMIT_UNSET ? M_CPU : 0);
	cleanup_close int cur = -1, plock = -1;
	int rc;

	*out = NULL;
	base = base ? base : "";
	if (pathf(path, sizeof(path), "%s%s%s", root, *base ? "/" : "", base) < 0)
		return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", root, base);
	cur = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return al_err_set(
		    err, errno, "open cgroup v2 base %s%s", path,
		    *base ? " (AGENTLAUNCH_CGROUP_BASE): create it or fix the variable" : "");
	ssize_t n = read_at(cur, "cgroup.controllers", buf, sizeof(buf));
	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/cgroup.controllers", path);
	buf[strcspn(buf, "\n")] = '\0';
	for (int i = 0; i < 3; i++) {
		if (!(need & (1u << i)) || has_token(buf, v2_ctl[i]))
			continue;
		if (*base)
			return al_err_set(err, ENOTSUP,
					  "cgroup v2: the %s controller is not available in %s "
					  "(cgroup.controllers: \"%s\"): enable it in the parent "
					  "group's cgroup.subtree_control (echo +%s > "
					  "<parent>/cgroup.subtree_control), or give the service "
					  "Delegate=yes",
					  v2_ctl[i], path, buf, v2_ctl[i]);
		return al_err_set(
		    err, ENOTSUP,
		    "cgroup v2: the %s controller is not available in the hierarchy "
		    "at %s (cgroup.controllers: \"%s\"; bound to a cgroup v1 mount or "
		    "disabled): enable the %s controller (boot with "
		    "systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all)",
		    v2_ctl[i], path, buf, v2_ctl[i]);
	}
	if (walk_create(fs, &cur, parent, path, sizeof(path), need, err) < 0 ||
	    enable_controllers(cur, path, need, err) < 0)
		return -1;
	plock = lock_parent(cur, path, LOCK_SH, err);
	if (plock < 0)
		return -1;
	rc = do_mkdirat(fs, cur, name);
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
		do_rmdirat(fs, cur, name);
		return al_err_set(err, ENOMEM, "create cgroup");
	}
	cg->fs = fs;
	cg->n = 1;
	cg->h[0].ctl = "";
	cg->parentfd = TAKE_FD(cur);
	if (pathf(cg->h[0].path, sizeof(cg->h[0].path), "%s/%s", path, name) < 0 ||
	    pathf(cg->rel, sizeof(cg->rel), "/%s%s%s/%s", base, *base ? "/" : "", parent, name) <
		0) {
		al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", path, name);
		goto fail;
	}
	cg->h[0].fd = openat(cg->parentfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cg->h[0].fd < 0) {
		al_err_set(err, errno, "open cgroup %s", cg->h[0].path);
		goto fail;
	}
	if (cg_lock(cg, cg->parentfd, name, err) < 0)
		goto fail;
	int fd = cg->h[0].fd;
	cg->has_swap_max = exists_at(fd, "memory.swap.max");
	cg->has_peak = exists_at(fd, "memory.peak");
	cg->has_kill = exists_at(fd, "cgroup.kill");
	cg->has_freeze = exists_at(fd, "cgroup.freeze");
	cg->has_oom_group = exists_at(fd, "memory.oom.group");

	snprintf(v, sizeof(v), "%" PRId64, l->mem_max_mb << 20);
	if (v2_set(cg, "memory.max", v, err) < 0 ||
	    (cg->has_swap_max && v2_set(cg, "memory.swap.max", "0", err) < 0) ||
	    (cg->has_oom_group && v2_set(cg, "memory.oom.group", "1", err) < 0))
		goto fail;
	snprintf(v, sizeof(v), "%" PRId64, l->pids_max);
	if (v2_set(cg, "pids.max", v, err) < 0)
		goto fail;
	if (need & M_CPU) {
		snprintf(v, sizeof(v), "%" PRId64 " %d", l->cpu_max_percent * (CG_PERIOD_US / 100),
			 CG_PERIOD_US);
		if (v2_set(cg, "cpu.max", v, err) < 0)
			goto fail;
	}
	*out = cg;
	return 0;
fail:
	rm_tree(fs, cg->parentfd, name, 0);
	cg_free(cg);
	return -1;
}

int al_cgroup_testing_v2_create(const char *root, const char *base, const struct al_cg_fakefs *fs,
				const char *parent, const char *name, const struct al_limits *l,
				struct al_cgroup **out, al_err *err)
{
	if (check_names(parent, name, err) < 0 || check_limits(l, err) < 0)
		return -1;
	if (base && *base && !valid_relpath(base))
		return al_err_set(err, EINVAL, "cgroup v2 base \"%s\" is not a relative path",
				  base);
	return v2_create(root, base, fs, parent, name, l, out, err);
}

/* ---- cgroup v1 (libcgroup) --------------------------------------------- */

static int v1_create(const struct host *hs, const char *parent, const char *name,
		     const struct al_limits *l, struct al_cgroup **out, al_err *err)
{
	bool want[C_N] = {true, true, true, l->cpu_max_percent != AL_LIMIT_UNSET,
			  hs->v1_mnt[C_FREEZER][0] != '\0'};
	char path[CG_PATH_MAX], gname[CG_REL_MAX];
	cleanup_close int cur = -1, plock = -1;

	for (int c = 0; c < C_N; c++)
		if (want[c] && hs->v1_mnt[c][0] == '\0')
			return al_err_set(
			    err, ENOTSUP,
			    "cgroup v1: the %s controller is not mounted (no cgroup "
			    "hierarchy with \"%s\" in /proc/self/mountinfo): mount it "
			    "(mkdir -p /sys/fs/cgroup/%s && mount -t cgroup -o %s cgroup "
			    "/sys/fs/cgroup/%s), or boot with cgroup v2 "
			    "(systemd.unified_cgroup_hierarchy=1)",
			    ctl_name[c], ctl_name[c], ctl_name[c], ctl_name[c], ctl_name[c]);
	pthread_once(&lcg_once, lcg_init);
	if (lcg_rc != 0)
		return lcg_fail(err, lcg_rc, "cgroup v1: cannot initialise libcgroup");

	/* The parent in the memory hierarchy carries the creators' lock. */
	snprintf(path, sizeof(path), "%s", hs->v1_mnt[C_MEMORY]);
	cur = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return al_err_set(err, errno, "open %s", path);
	if (walk_create(NULL, &cur, parent, path, sizeof(path), 0, err) < 0)
		return -1;
	plock = lock_parent(cur, path, LOCK_SH, err);
	if (plock < 0)
		return -1;
	if (exists_at(cur, name))
		return al_err_set(
		    err, EEXIST,
		    "cgroup %s/%s already exists: run ids must be unique (a leftover of "
		    "a crashed run is removed by al_cgroup_sweep)",
		    path, name);

	struct al_cgroup *cg = cg_alloc(AL_CG_V1, name);
	if (cg == NULL)
		return al_err_set(err, ENOMEM, "create cgroup");
	if (pathf(gname, sizeof(gname), "%s/%s", parent, name) < 0 ||
	    pathf(cg->rel, sizeof(cg->rel), "/%s", gname) < 0 ||
	    pathf(cg->h[0].path, sizeof(cg->h[0].path), "%s/%s", path, name) < 0) {
		cg_free(cg);
		return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", path, name);
	}
	lcg_msg[0] = '\0';
	cg->lcg = cgroup_new_cgroup(gname);
	if (cg->lcg == NULL) {
		cg_free(cg);
		return al_err_set(err, ENOMEM, "libcgroup: new cgroup %s", gname);
	}
	struct cgroup_controller *ctl[C_N] = {0};
	for (int c = 0; c < C_N; c++) {
		if (want[c] && (ctl[c] = cgroup_add_controller(cg->lcg, ctl_name[c])) == NULL) {
			cg_free(cg);
			return al_err_set(err, ENOMEM, "libcgroup: add controller %s", ctl_name[c]);
		}
	}
	int rc =
	    cgroup_add_value_int64(ctl[C_MEMORY], "memory.limit_in_bytes", l->mem_max_mb << 20);
	/* No swap: memsw equal to the limit (set after it: memsw >= limit), or
	 * without swap accounting at least no swapping on limit reclaim. */
	if (rc == 0 && hs->caps.memsw)
		rc = cgroup_add_value_int64(ctl[C_MEMORY], "memory.memsw.limit_in_bytes",
					    l->mem_max_mb << 20);
	else if (rc == 0)
		rc = cgroup_add_value_int64(ctl[C_MEMORY], "memory.swappiness", 0);
	if (rc == 0)
		rc = cgroup_add_value_int64(ctl[C_PIDS], "pids.max", l->pids_max);
	if (rc == 0 && want[C_CPU])
		rc = cgroup_add_value_int64(ctl[C_CPU], "cpu.cfs_period_us", CG_PERIOD_US);
	if (rc == 0 && want[C_CPU])
		rc = cgroup_add_value_int64(ctl[C_CPU], "cpu.cfs_quota_us",
					    l->cpu_max_percent * (CG_PERIOD_US / 100));
	if (rc != 0) {
		cg_free(cg);
		return lcg_fail(err, rc, "libcgroup: set up the values");
	}
	rc = cgroup_create_cgroup(cg->lcg, 1);
	if (rc != 0) {
		lcg_fail(err, rc, "cgroup v1: create");
		al_err_wrap(err,
			    "cannot create cgroup %s (run as root; the limits are %" PRId64
			    " MB, %" PRId64 " pids)",
			    cg->h[0].path, l->mem_max_mb, l->pids_max);
		cgroup_delete_cgroup_ext(cg->lcg, CGFLAG_DELETE_EMPTY_ONLY);
		cg_free(cg);
		return -1;
	}
	/* Directory fds per distinct mount (cpu and cpuacct are often one). */
	for (int c = 0; c < C_N; c++) {
		if (!want[c])
			continue;
		for (size_t i = 0; i < (size_t)c && cg->idx[c] < 0; i++)
			if (cg->idx[i] >= 0 && strcmp(hs->v1_mnt[i], hs->v1_mnt[c]) == 0)
				cg->idx[c] = cg->idx[i];
		if (cg->idx[c] >= 0)
			continue;
		struct cg_hier *h = &cg->h[cg->n];
		h->ctl = ctl_name[c];
		if (pathf(h->path, sizeof(h->path), "%s/%s", hs->v1_mnt[c], gname) < 0) {
			al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", hs->v1_mnt[c], gname);
			goto fail;
		}
		h->fd = open(h->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		cg->idx[c] = (int)cg->n++;
		if (h->fd < 0) {
			al_err_set(err, errno, "open cgroup %s", h->path);
			goto fail;
		}
	}
	if (cg_lock(cg, cur, name, err) < 0)
		goto fail;
	*out = cg;
	return 0;
fail:
	cgroup_delete_cgroup_ext(cg->lcg, CGFLAG_DELETE_EMPTY_ONLY);
	cg_free(cg);
	return -1;
}

/* ---- public API -------------------------------------------------------- */

int al_cgroup_create(const char *parent, const char *name, const struct al_limits *l,
		     struct al_cgroup **out, al_err *err)
{
	*out = NULL;
	if (check_names(parent, name, err) < 0 || check_limits(l, err) < 0)
		return -1;
	const struct host *hs = host_get(err);
	if (hs == NULL)
		return -1;
	switch (hs->caps.version) {
	case AL_CG_V1:
		return v1_create(hs, parent, name, l, out, err);
	case AL_CG_V2:
		return v2_create(hs->caps.v2_root, hs->v2_base, NULL, parent, name, l, out, err);
	case AL_CG_NONE:
		break;
	}
	return al_err_set(err, ENOTSUP,
			  "no cgroup filesystem is mounted (neither cgroup2 nor v1 memory/pids in "
			  "/proc/self/mountinfo): mount cgroup2 (mount -t cgroup2 none "
			  "/sys/fs/cgroup)");
}

int al_cgroup_attach(struct al_cgroup *cg, pid_t pid, al_err *err)
{
	char v[24];

	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++) {
		int rc = write_at(cg->h[i].fd, "cgroup.procs", v);
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
	int rc = read_i64_at(h->fd, file, out);

	if (rc < 0)
		return al_err_set(err, -rc, "read %s/%s", h->path, file);
	return 0;
}

static int stat_keyed(const struct cg_hier *h, const char *file, const char *key, int64_t *out,
		      al_err *err)
{
	char buf[2048];
	ssize_t n = read_at(h->fd, file, buf, sizeof(buf));

	if (n < 0)
		return al_err_set(err, (int)-n, "read %s/%s", h->path, file);
	if (!keyed_i64(buf, key, out))
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

/* Delete a v1 group in every hierarchy through libcgroup (no task
 * migration: the group is empty), then check; whatever is left (nested
 * groups) is removed directly. */
static int v1_remove(struct al_cgroup *cg, al_err *err)
{
	lcg_msg[0] = '\0';
	int lrc = cgroup_delete_cgroup_ext(cg->lcg, CGFLAG_DELETE_EMPTY_ONLY);

	for (size_t i = 0; i < cg->n; i++) {
		if (access(cg->h[i].path, F_OK) < 0 && errno == ENOENT)
			continue;
		char dir[CG_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", cg->h[i].path);
		*strrchr(dir, '/') = '\0';
		cleanup_close int pfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		int r = pfd < 0 ? -errno : rm_tree(NULL, pfd, cg->name, 0);
		if (r == 0 && access(cg->h[i].path, F_OK) == 0)
			r = -EEXIST;
		if (r < 0)
			return al_err_set(err, -r, "remove cgroup %s%s%s%s", cg->h[i].path,
					  lrc ? " (libcgroup: " : "",
					  lrc ? cgroup_strerror(lrc) : "", lrc ? ")" : "");
	}
	return 0;
}

int al_cgroup_destroy(struct al_cgroup *cg, al_err *err)
{
	int rc = 0;

	if (cg == NULL)
		return 0;
	/* Usually empty already (the runner reaped its pid namespace's init). */
	if (cg_population(cg) != 0) {
		al_cgroup_kill(cg, err); /* whether it worked shows in wait_empty */
		if (wait_empty(cg, err) < 0) {
			cg_free(cg);
			return -1;
		}
	}
	if (cg->version == AL_CG_V1) {
		rc = v1_remove(cg, err);
	} else {
		int r = rm_tree(cg->fs, cg->parentfd, cg->name, 0);
		if (r == 0 && exists_at(cg->parentfd, cg->name))
			r = -EEXIST;
		if (r < 0)
			rc = al_err_set(err, -r, "remove cgroup %s", cg->h[0].path);
	}
	cg_free(cg);
	return rc;
}

/* ---- sweeping ---------------------------------------------------------- */

/* Processes in dfd/name and below (v1) or its populated flag (v2). */
static int tree_population(int dfd, const char *name, bool v2, int depth)
{
	cleanup_close int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[256];
	int64_t pop;

	if (fd < 0)
		return -errno;
	if (v2 && read_at(fd, "cgroup.events", buf, sizeof(buf)) > 0 &&
	    keyed_i64(buf, "populated", &pop))
		return pop ? 1 : 0;
	int total = for_each_pid(fd, NULL, NULL);
	if (total != 0 || depth >= CG_MAX_DEPTH)
		return total;
	DIR *d = fdopendir(dup(fd));
	if (d == NULL)
		return -ENOMEM;
	for (struct dirent *e; total == 0 && (e = readdir(d)) != NULL;)
		if (e->d_type == DT_DIR && e->d_name[0] != '.')
			total = tree_population(fd, e->d_name, v2, depth + 1);
	closedir(d);
	return total;
}

/* Sweep the children of pfd (path for messages); ownership locks live in
 * the same-named children of lockdir. */
static int sweep_dir(const struct al_cg_fakefs *fs, int pfd, int lockdir, const char *path, bool v2,
		     al_err *err)
{
	int removed = 0, fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return al_err_set(err, errno, "list cgroup %s", path);
	}
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_type != DT_DIR || !valid_component(e->d_name, strlen(e->d_name)))
			continue;
		cleanup_close int lk =
		    openat(lockdir, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lk >= 0 && flock_retry(lk, LOCK_EX | LOCK_NB) < 0)
			continue; /* a live process owns it */
		if (tree_population(pfd, e->d_name, v2, 0) != 0)
			continue; /* processes left (or unreadable): not ours to judge */
		int rc = rm_tree(fs, pfd, e->d_name, 0);
		if (rc < 0) {
			closedir(d);
			return al_err_set(err, -rc, "remove stale cgroup %s/%s", path, e->d_name);
		}
		removed++;
	}
	closedir(d);
	return removed;
}

static int v2_sweep(const char *root, const char *base, const struct al_cg_fakefs *fs,
		    const char *parent, al_err *err)
{
	char path[CG_PATH_MAX];
	cleanup_close int pfd = -1, plock = -1;

	base = base ? base : "";
	if (pathf(path, sizeof(path), "%s%s%s/%s", root, *base ? "/" : "", base, parent) < 0)
		return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", root, parent);
	pfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : al_err_set(err, errno, "open cgroup %s", path);
	plock = lock_parent(pfd, path, LOCK_EX, err);
	if (plock < 0)
		return -1;
	return sweep_dir(fs, pfd, pfd, path, true, err);
}

static int v1_sweep(const struct host *hs, const char *parent, al_err *err)
{
	char path[CG_PATH_MAX];
	cleanup_close int mem = -1, plock = -1;
	int removed = 0;

	if (hs->v1_mnt[C_MEMORY][0] == '\0')
		return 0;
	/* Creators make memory/<parent> first and lock it: lock it too (making
	 * it if needed) so no group being created can look stale. */
	snprintf(path, sizeof(path), "%s", hs->v1_mnt[C_MEMORY]);
	mem = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mem < 0)
		return al_err_set(err, errno, "open %s", path);
	if (walk_create(NULL, &mem, parent, path, sizeof(path), 0, err) < 0)
		return -1;
	plock = lock_parent(mem, path, LOCK_EX, err);
	if (plock < 0)
		return -1;
	for (int c = 0; c < C_N; c++) {
		bool dup_mnt = false;
		for (int i = 0; i < c; i++)
			dup_mnt |= strcmp(hs->v1_mnt[i], hs->v1_mnt[c]) == 0;
		if (hs->v1_mnt[c][0] == '\0' || dup_mnt)
			continue;
		if (pathf(path, sizeof(path), "%s/%s", hs->v1_mnt[c], parent) < 0)
			return al_err_set(err, ENAMETOOLONG, "cgroup path %s/%s", hs->v1_mnt[c],
					  parent);
		cleanup_close int pfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0) {
			if (errno == ENOENT)
				continue;
			return al_err_set(err, errno, "open cgroup %s", path);
		}
		int r = sweep_dir(NULL, pfd, mem, path, false, err);
		if (r < 0)
			return -1;
		removed += r;
	}
	return removed;
}

int al_cgroup_sweep(const char *parent, al_err *err)
{
	if (parent == NULL || !valid_relpath(parent))
		return al_err_set(err, EINVAL, "cgroup parent \"%s\" is not a relative path",
				  parent ? parent : "(null)");
	const struct host *hs = host_get(err);
	if (hs == NULL)
		return -1;
	switch (hs->caps.version) {
	case AL_CG_V1:
		return v1_sweep(hs, parent, err);
	case AL_CG_V2:
		return v2_sweep(hs->caps.v2_root, hs->v2_base, NULL, parent, err);
	case AL_CG_NONE:
		break;
	}
	return 0;
}

int al_cgroup_testing_v2_sweep(const char *root, const char *base, const struct al_cg_fakefs *fs,
			       const char *parent, al_err *err)
{
	if (parent == NULL || !valid_relpath(parent) || (base && *base && !valid_relpath(base)))
		return al_err_set(err, EINVAL, "cgroup sweep: bad parent or base");
	return v2_sweep(root, base, fs, parent, err);
}
