/* The sandbox's root filesystem, built in the child's private mount
 * namespace: a tmpfs root holding only the profile's read-only binds, a
 * fresh /proc (with the dangerous parts read-only or masked), a minimal
 * /dev, size-capped tmpfs mounts, the writable workspace, and empty masks
 * over `deny` entries.  Then pivot_root and detach the old root.
 *
 * Runs in the sandbox's pid-1 before anything untrusted exists; single
 * threaded, may allocate. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/mount.h>

#include "run.h"
#include "shared/util.h"

#define RO_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV)

static int joinpath(char *out, size_t n, const char *root, const char *p)
{
	int r = snprintf(out, n, "%s%s", root, p);
	return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

static int joinpath3(char *out, size_t n, const char *a, const char *b, const char *c)
{
	int r = snprintf(out, n, "%s%s%s", a, b, c);
	return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

static int bind(const char *src, const char *dst, unsigned long flags, al_err *err)
{
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return al_err_set(err, errno, "bind %s on %s", src, dst);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		return al_err_set(err, errno, "remount %s", dst);
	return 0;
}

/* The place in the root for host path p: a mount point of its type, or for
 * a symlink (merged-/usr systems have /bin -> usr/bin) the same link, whose
 * target comes from its own entry.  0: bind p there; 1: nothing to bind
 * (a link, or p missing: optional paths are skipped). */
static int host_mountpoint(const char *root, const char *p, char *dst, size_t dstsz, al_err *err)
{
	struct stat st;

	if (lstat(p, &st) < 0) {
		if (errno == ENOENT)
			return 1;
		return al_err_set(err, errno, "stat %s", p);
	}
	if (joinpath(dst, dstsz, root, p) < 0)
		return al_err_set(err, ENAMETOOLONG, "%s", p);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(p, target, sizeof(target) - 1);
		if (n < 0)
			return al_err_set(err, errno, "readlink %s", p);
		target[n] = '\0';
		if (symlink(target, dst) == 0 || errno == EEXIST)
			return 1;
		if (errno != ENOENT)
			return al_err_set(err, errno, "symlink %s", dst);
		if (al_make_mountpoint(dst, true, err) < 0) /* its parents are missing */
			return -1;
		rmdir(dst);
		if (symlink(target, dst) < 0 && errno != EEXIST)
			return al_err_set(err, errno, "symlink %s", dst);
		return 1;
	}
	return al_make_mountpoint(dst, S_ISDIR(st.st_mode), err) < 0 ? -1 : 0;
}

static int mount_tmpfs(const char *dst, int64_t size_mb, const char *mode, unsigned long flags,
		       al_err *err)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%lldm,mode=%s", (long long)size_mb, mode);
	if (mount("tmpfs", dst, "tmpfs", flags, opts) < 0)
		return al_err_set(err, errno, "mount tmpfs on %s", dst);
	return 0;
}

static int setup_proc(const char *root, al_err *err)
{
	static const char *const ro_self[] = {"sys", "sysrq-trigger", "irq", "bus", "fs", NULL};
	static const char *const masked[] = {"kcore", "kmsg",	       "timer_list", "sched_debug",
					     "keys",  "latency_stats", NULL};
	char dst[PATH_MAX], p[PATH_MAX];

	joinpath(dst, sizeof(dst), root, "/proc");
	if (mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return al_err_set(err, errno, "mount proc on %s", dst);
	for (size_t i = 0; ro_self[i]; i++) {
		if (joinpath3(p, sizeof(p), dst, "/", ro_self[i]) < 0 || access(p, F_OK) < 0)
			continue;
		if (bind(p, p, RO_FLAGS | MS_NOEXEC, err) < 0)
			return -1;
	}
	for (size_t i = 0; masked[i]; i++) {
		struct stat st;
		if (joinpath3(p, sizeof(p), dst, "/", masked[i]) < 0 || lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", p, "tmpfs", RO_FLAGS | MS_NOEXEC, "size=4k,mode=0555") <
			    0)
				return al_err_set(err, errno, "mask %s", p);
		} else if (bind("/dev/null", p, RO_FLAGS | MS_NOEXEC, err) < 0) {
			return -1;
		}
	}
	return 0;
}

static int setup_dev(const char *root, al_err *err)
{
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", NULL};
	static const unsigned minor[] = {3, 5, 7, 8, 9}; /* major 1: devices.txt */
	static const char *const links[][2] = {{"fd", "/proc/self/fd"},
					       {"stdin", "/proc/self/fd/0"},
					       {"stdout", "/proc/self/fd/1"},
					       {"stderr", "/proc/self/fd/2"}};
	char dst[PATH_MAX], p[PATH_MAX], src[64];

	joinpath(dst, sizeof(dst), root, "/dev");
	if (mount_tmpfs(dst, 1, "0755", MS_NOSUID | MS_NOEXEC, err) < 0)
		return -1;
	/* The nodes are made here (one mknod each, the tmpfs is remounted
	 * read-only below); where mknod is not allowed (no CAP_MKNOD in a
	 * container) the host's nodes are bound instead. */
	mode_t um = umask(0);
	for (size_t i = 0; nodes[i]; i++) {
		joinpath3(p, sizeof(p), dst, "/", nodes[i]);
		if (mknod(p, S_IFCHR | 0666, makedev(1, minor[i])) == 0)
			continue;
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		if (al_make_mountpoint(p, false, err) < 0 ||
		    bind(src, p, MS_NOSUID | MS_NOEXEC, err) < 0) {
			umask(um);
			return -1;
		}
	}
	umask(um);
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		joinpath3(p, sizeof(p), dst, "/", links[i][0]);
		if (symlink(links[i][1], p) < 0)
			return al_err_set(err, errno, "symlink %s", p);
	}
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		return al_err_set(err, errno, "remount %s read-only", dst);
	return 0;
}

static int mask_path(const char *root, const char *p, al_err *err)
{
	char dst[PATH_MAX];
	struct stat st;

	if (joinpath(dst, sizeof(dst), root, p) < 0)
		return al_err_set(err, ENAMETOOLONG, "%s", p);
	if (lstat(dst, &st) < 0)
		return 0; /* not visible: nothing to hide */
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", dst, "tmpfs", RO_FLAGS | MS_NOEXEC, "size=4k,mode=0000") < 0)
			return al_err_set(err, errno, "deny %s", p);
		return 0;
	}
	return bind("/dev/null", dst, RO_FLAGS | MS_NOEXEC, err);
}

/* p is dir or inside it */
static bool under(const char *p, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

int al_mounts_setup(const struct al_child_ctx *c, al_err *err)
{
	const struct al_profile *pr = &c->spec->profile;
	const struct al_strv *ro = &pr->fs.read_only, *rw = &pr->fs.read_write;
	const char *root = c->root_dir;
	char dst[PATH_MAX];
	bool bind_ro[64] = {false}, bind_rw[64] = {false};

	if (ro->n > 64 || rw->n > 64)
		return al_err_set(err, E2BIG, "more than 64 read_only or read_write paths");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return al_err_set(err, errno, "make / private");
	if (mount_tmpfs(root, 16, "0755", MS_NOSUID | MS_NODEV, err) < 0)
		return -1;
	/* Every mount point first, in the bare tmpfs: nothing below is ever
	 * created inside a host bind, and after the read-only binds the whole
	 * tree becomes read-only in one call.  (A point under a read-only
	 * path is covered by its bind; mounting there then needs the path on
	 * the host, and fails closed without it.) */
	for (size_t i = 0; i < ro->n; i++) {
		int r = host_mountpoint(root, ro->v[i], dst, sizeof(dst), err);
		if (r < 0)
			return -1;
		bind_ro[i] = r == 0;
	}
	for (size_t i = 0; i < rw->n; i++) {
		int r = host_mountpoint(root, rw->v[i], dst, sizeof(dst), err);
		if (r < 0)
			return -1;
		bind_rw[i] = r == 0;
	}
	const char *dirs[] = {"/proc", "/dev", pr->fs.cwd};
	for (size_t i = 0; i < 3 + pr->fs.tmpfs.n; i++) {
		const char *d = i < 3 ? dirs[i] : pr->fs.tmpfs.v[i - 3];
		if (joinpath(dst, sizeof(dst), root, d) < 0)
			return al_err_set(err, ENAMETOOLONG, "%s", d);
		if (al_make_mountpoint(dst, true, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < ro->n; i++) {
		if (!bind_ro[i])
			continue;
		joinpath(dst, sizeof(dst), root, ro->v[i]);
		if (mount(ro->v[i], dst, NULL, MS_BIND, NULL) < 0)
			return al_err_set(err, errno, "bind %s on %s", ro->v[i], dst);
	}
	struct mount_attr ra = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	if (syscall(SYS_mount_setattr, AT_FDCWD, root, AT_RECURSIVE, &ra, sizeof(ra)) < 0)
		return al_err_set(err, errno, "make %s read-only", root);
	for (size_t i = 0; i < rw->n; i++) {
		if (!bind_rw[i])
			continue;
		joinpath(dst, sizeof(dst), root, rw->v[i]);
		if (bind(rw->v[i], dst, MS_NOSUID | MS_NODEV, err) < 0)
			return -1;
	}
	if (setup_proc(root, err) < 0 || setup_dev(root, err) < 0)
		return -1;
	for (size_t i = 0; i < pr->fs.tmpfs.n; i++) {
		joinpath(dst, sizeof(dst), root, pr->fs.tmpfs.v[i]);
		if (mount_tmpfs(dst, c->spec->limits.tmpfs_size_mb, "1777",
				MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0)
			return -1;
	}
	/* The workspace's mount point (made above) stays empty: the workspace
	 * is moved in at dispatch (al_mounts_dispatch), as a detached mount
	 * made by the supervisor from an fd it checked. */
	for (size_t i = 0; i < pr->fs.deny.n; i++)
		if (!under(pr->fs.deny.v[i], pr->fs.cwd) && mask_path(root, pr->fs.deny.v[i], err) < 0)
			return -1;

	if (chdir(root) < 0)
		return al_err_set(err, errno, "chdir %s", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return al_err_set(err, errno, "pivot_root %s", root);
	if (umount2(".", MNT_DETACH) < 0)
		return al_err_set(err, errno, "detach the old root");
	if (chdir("/") < 0)
		return al_err_set(err, errno, "chdir /");
	return 0;
}

int al_mounts_dispatch(const struct al_child_ctx *c, int ws_tree, int64_t tmpfs_size_mb,
		       al_err *err)
{
	const struct al_profile *pr = &c->spec->profile;

	if (syscall(SYS_move_mount, ws_tree, "", AT_FDCWD, pr->fs.cwd, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return al_err_set(err, errno, "workspace: move_mount onto %s", pr->fs.cwd);
	for (size_t i = 0; i < pr->fs.deny.n; i++)
		if (under(pr->fs.deny.v[i], pr->fs.cwd) && mask_path("", pr->fs.deny.v[i], err) < 0)
			return -1;
	if (tmpfs_size_mb != c->spec->limits.tmpfs_size_mb) {
		char opts[64];
		snprintf(opts, sizeof(opts), "size=%lldm", (long long)tmpfs_size_mb);
		for (size_t i = 0; i < pr->fs.tmpfs.n; i++)
			if (mount(NULL, pr->fs.tmpfs.v[i], NULL,
				  MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
				return al_err_set(err, errno, "resize tmpfs %s", pr->fs.tmpfs.v[i]);
	}
	return 0;
}
