/* al-helper — one static program that attempts exactly one thing per call,
 * for the sandbox escape tests (in the style of crun's tests/init.c and
 * bubblewrap's try-syscall.c).
 *
 *   al-helper CMD [ARGS...]        al-helper help   lists the commands
 *
 * Contract, for every command:
 *   - it prints ONE line on stdout: "OK <detail>" when the attempted action
 *     succeeded, "BLOCKED <ERRNO-NAME> <detail>" when it did not;
 *   - it exits 0 on success (0 = the escape WORKED), 1 when blocked,
 *     2 on a usage error (message on stderr, no OK/BLOCKED line).
 * Exceptions, all documented in the table below: exec-type commands that
 * succeed become the target program (its output and status; the self
 * targets run "al-helper marker TEXT" which prints "OK TEXT" and exits 0);
 * print-bytes puts its status line on stderr so stdout is exactly N bytes;
 * caps always exits 0.  A process killed by a seccomp "kill" action prints
 * nothing and the shell sees 128+31 = 159 (SIGSYS).
 *
 * Every probe does the real thing — no simulation.  Where the real thing
 * would damage the host when run bare as root (pivot_root, kexec_load,
 * init_module, umount without our own mount, TIOCLINUX), the probe passes
 * arguments the kernel rejects only AFTER its permission checks; an errno
 * other than EPERM/EACCES/ENOSYS then means the call got through seccomp and
 * the capability checks, and is reported as "OK reached <ERRNO>" (exit 0).
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -static
 *        -pthread -o build/bin/al-helper tests/helper/helper.c */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Command functions share one signature; many ignore their argument. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef TIOCL_GETSHIFTSTATE
#define TIOCL_GETSHIFTSTATE 6
#endif
#define X32_SYSCALL_BIT 0x40000000L
#define I386_NR_EXECVE 11

#define SELF_EXE "/proc/self/exe"

/* ---------------------------------------------------------------- output */

static const char *errname(int err)
{
	static char buf[16];
	const char *n = strerrorname_np(err);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

static void vline(const char *head, const char *fmt, va_list ap)
{
	fputs(head, stdout);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	fflush(stdout); /* before any fork or exec that may follow */
}

__attribute__((format(printf, 1, 2))) static int ok(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("OK ", fmt, ap);
	va_end(ap);
	return 0;
}

__attribute__((format(printf, 2, 3))) static int blocked(int err, const char *fmt, ...)
{
	char head[40];
	va_list ap;

	snprintf(head, sizeof(head), "BLOCKED %s ", errname(err));
	va_start(ap, fmt);
	vline(head, fmt, ap);
	va_end(ap);
	return 1;
}

/* "BLOCKED SIGSYS child killed" style, for a child that died of a signal. */
static int blocked_sig(int sig, const char *what)
{
	const char *n = sigabbrev_np(sig);

	printf("BLOCKED SIG%s %s\n", n ? n : "?", what);
	fflush(stdout);
	return 1;
}

__attribute__((format(printf, 1, 2))) static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("al-helper: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (al-helper help lists the commands)\n", stderr);
	return 2;
}

/* rc < 0 with errno set → BLOCKED, else OK. */
static int verdict(long rc, int err, const char *what)
{
	if (rc < 0)
		return blocked(err, "%s", what);
	return ok("%s", what);
}

/* For probes that pass arguments the kernel rejects after its permission
 * checks: EPERM/EACCES/ENOSYS mean stopped before that point. */
static int reached(long rc, int err, const char *what)
{
	if (rc >= 0)
		return ok("%s succeeded", what);
	if (err == EPERM || err == EACCES || err == ENOSYS)
		return blocked(err, "%s", what);
	return ok("reached %s %s (got past seccomp and permission checks)", errname(err), what);
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for a child; describe how it ended.  Returns 0 if it exited 0. */
static int reap(pid_t pid, char *desc, size_t descsz)
{
	int st;

	while (waitpid(pid, &st, __WALL) < 0) {
		if (errno != EINTR) {
			snprintf(desc, descsz, "waitpid: %s", errname(errno));
			return -1;
		}
	}
	if (WIFEXITED(st)) {
		snprintf(desc, descsz, "exit %d", WEXITSTATUS(st));
		return WEXITSTATUS(st) == 0 ? 0 : -1;
	}
	snprintf(desc, descsz, "signal %d", WTERMSIG(st));
	return -1;
}

/* A scratch directory for mount/mknod probes; "" when none can be made. */
static void scratch_dir(char *out, size_t outsz)
{
	const char *bases[] = {getenv("TMPDIR"), "/tmp", "."};

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (!bases[i] || !*bases[i])
			continue;
		snprintf(out, outsz, "%s/al-helper.XXXXXX", bases[i]);
		if (mkdtemp(out))
			return;
	}
	out[0] = '\0';
}

/* ------------------------------------------------------ try-syscall probes */

static int p_ptrace(void)
{
	/* TRACEME is the one ptrace request that is always applicable and
	 * harmless (the caller's parent becomes its tracer); a filter keyed on
	 * the syscall number blocks it like any other request. */
	long rc = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return verdict(rc, errno, "ptrace(PTRACE_TRACEME)");
}

static int p_mount(void)
{
	char dir[PATH_MAX];
	int rc, err;

	scratch_dir(dir, sizeof(dir));
	if (!dir[0]) {
		/* No directory to mount on: an unknown fs type is rejected only
		 * after may_mount() (ENODEV = permitted). */
		rc = mount("none", "/proc/self/fd", "al-no-such-fstype", 0, NULL);
		return reached(rc, errno, "mount(fstype al-no-such-fstype) on /proc/self/fd");
	}
	rc = mount("al-helper", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m");
	err = errno;
	if (rc == 0)
		umount2(dir, MNT_DETACH);
	rmdir(dir);
	if (rc < 0)
		return blocked(err, "mount tmpfs on %s", dir);
	return ok("mounted tmpfs on %s (and unmounted it)", dir);
}

static int p_umount(void)
{
	char dir[PATH_MAX];
	int rc, err;

	scratch_dir(dir, sizeof(dir));
	if (dir[0] && mount("al-helper", dir, "tmpfs", 0, "size=1m") == 0) {
		rc = umount2(dir, 0);
		err = errno;
		if (rc < 0)
			umount2(dir, MNT_DETACH);
		rmdir(dir);
		return verdict(rc, err, "umount2 of our own tmpfs");
	}
	if (dir[0])
		rmdir(dir);
	/* Not a mount point: EINVAL comes after the permission check. */
	rc = umount2("/proc/self/fd", UMOUNT_NOFOLLOW);
	return reached(rc, errno, "umount2(/proc/self/fd)");
}

static int p_unshare(int flags, const char *what)
{
	long rc = unshare(flags);
	return verdict(rc, errno, what);
}
static int p_unshare_user(void)
{
	return p_unshare(CLONE_NEWUSER, "unshare(CLONE_NEWUSER)");
}
static int p_unshare_net(void)
{
	return p_unshare(CLONE_NEWNET, "unshare(CLONE_NEWNET)");
}
static int p_unshare_mount(void)
{
	return p_unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)");
}

static int p_setns(void)
{
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	long rc;
	int err;

	if (fd < 0)
		return blocked(errno, "open /proc/self/ns/net (setns not attempted)");
	rc = setns(fd, CLONE_NEWNET);
	err = errno;
	close(fd);
	return verdict(rc, err, "setns(own net namespace)");
}

static int p_keyctl(void)
{
	/* The process keyring dies with the process: nothing is left behind. */
	long key =
	    syscall(SYS_add_key, "user", "al-helper-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
	int err = errno;

	if (key < 0)
		return blocked(err, "add_key(user) into the process keyring");
	syscall(SYS_keyctl, KEYCTL_INVALIDATE, key, 0, 0, 0);
	return ok("add_key(user) serial %ld", key);
}

static int p_keyctl_raw(void)
{
	long rc = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0);
	return verdict(rc, errno, "keyctl(KEYCTL_GET_KEYRING_ID, session)");
}

static int p_bpf(void)
{
	struct bpf_insn insns[2];
	union bpf_attr attr;
	char log[256] = "";
	long fd;

	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
	insns[0].dst_reg = BPF_REG_0;
	insns[1].code = BPF_JMP | BPF_EXIT;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = 2;
	attr.license = (uint64_t)(uintptr_t) "GPL";
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0)
		return blocked(errno, "bpf(BPF_PROG_LOAD socket filter)");
	close((int)fd);
	return ok("bpf(BPF_PROG_LOAD socket filter) fd %ld", fd);
}

static int p_io_uring(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(SYS_io_uring_setup, 4, &p);
	if (fd < 0)
		return blocked(errno, "io_uring_setup(4)");
	close((int)fd);
	return ok("io_uring_setup(4) fd %ld", fd);
}

static int p_perf(void)
{
	struct perf_event_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_SOFTWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return blocked(errno, "perf_event_open(cpu-clock, self)");
	close((int)fd);
	return ok("perf_event_open(cpu-clock, self) fd %ld", fd);
}

static int p_userfaultfd(void)
{
	/* User-mode-only faults are allowed to unprivileged callers even with
	 * vm.unprivileged_userfaultfd=0, so only a filter stops this. */
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return blocked(errno, "userfaultfd(UFFD_USER_MODE_ONLY)");
	close((int)fd);
	return ok("userfaultfd fd %ld", fd);
}

/* First readable address of /proc/PID/maps, 0 if none. */
static uintptr_t first_mapping(pid_t pid)
{
	char path[64], line[256];
	unsigned long start = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char perms[8];
		if (sscanf(line, "%lx-%*x %7s", &start, perms) == 2 && perms[0] == 'r')
			break;
		start = 0;
	}
	fclose(f);
	return start;
}

static int p_process_vm_readv(void)
{
	static volatile char secret[8] = "al-self";
	char buf[8];
	struct iovec local = {buf, sizeof(buf)}, remote;
	pid_t ppid = getppid();
	uintptr_t addr = ppid > 1 ? first_mapping(ppid) : 0;
	ssize_t n;

	if (addr) {
		remote.iov_base = (void *)addr;
		remote.iov_len = sizeof(buf);
		n = process_vm_readv(ppid, &local, 1, &remote, 1, 0);
		if (n > 0)
			return ok("process_vm_readv of parent pid %d read %zd bytes", (int)ppid, n);
	}
	/* The kernel always lets a process read itself: only a filter stops it. */
	remote.iov_base = (void *)secret;
	remote.iov_len = sizeof(buf);
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (n < 0)
		return blocked(errno, "process_vm_readv of self");
	return ok("process_vm_readv of self read %zd bytes", n);
}

static int p_chroot(void)
{
	long rc = chroot("/"); /* same root: no change, but needs CAP_SYS_CHROOT */
	return verdict(rc, errno, "chroot(/)");
}

static int p_pivot_root(void)
{
	/* may_mount() is checked before the path lookups: ENOENT = permitted. */
	long rc = syscall(SYS_pivot_root, "/al-helper-no-such-dir", "/al-helper-no-such-dir");
	return reached(rc, errno, "pivot_root(nonexistent)");
}

static int p_kexec_load(void)
{
	/* The permission check comes before the segment count check (max 16). */
	long rc = syscall(SYS_kexec_load, 0UL, 1000UL, NULL, 0UL);
	return reached(rc, errno, "kexec_load(1000 segments)");
}

static int p_init_module(void)
{
	/* may_init_module() first, then the image is too short: ENOEXEC. */
	long rc = syscall(SYS_init_module, NULL, 0UL, "");
	return reached(rc, errno, "init_module(empty image)");
}

static int p_finit_module(void)
{
	long rc = syscall(SYS_finit_module, -1, "", 0);
	return reached(rc, errno, "finit_module(fd -1)");
}

static int p_personality_set(unsigned long add, const char *what)
{
	int old = personality(0xffffffff);
	int rc, now;

	rc = personality(PER_LINUX | add);
	if (rc < 0)
		return blocked(errno, "personality(%s)", what);
	now = personality(0xffffffff);
	if (old >= 0)
		personality((unsigned long)old);
	if (now < 0 || ((unsigned long)now & add) != add || (now & PER_MASK) != PER_LINUX)
		return blocked(EPERM, "personality(%s) returned but did not take (now 0x%x)", what,
			       now);
	return ok("personality(%s) took (0x%x)", what, now);
}
static int p_personality(void)
{
	return p_personality_set(READ_IMPLIES_EXEC, "READ_IMPLIES_EXEC");
}
static int p_personality32(void)
{
	int old = personality(0xffffffff);
	int rc = personality(PER_LINUX32);
	int err = errno, now = personality(0xffffffff);

	if (old >= 0)
		personality((unsigned long)old);
	if (rc < 0)
		return blocked(err, "personality(PER_LINUX32)");
	if (now < 0 || (now & PER_MASK) != PER_LINUX32)
		return blocked(EPERM, "personality(PER_LINUX32) did not take (now 0x%x)", now);
	return ok("personality(PER_LINUX32) took");
}

/* A terminal to inject into: stdin when it is one (the real threat: the
 * user's terminal), otherwise a fresh pty made our controlling tty. */
static int open_tty(bool want_pty, int *master, const char **desc)
{
	int m, s;

	*master = -1;
	/* Closing the master of our controlling pty would SIGHUP us. */
	signal(SIGHUP, SIG_IGN);
	if (!want_pty && isatty(STDIN_FILENO)) {
		*desc = "stdin";
		return STDIN_FILENO;
	}
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -1;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || !ptsname(m)) {
		int e = errno;
		close(m);
		errno = e;
		return -1;
	}
	setsid(); /* may fail (already a session leader): then maybe no ctty */
	s = open(ptsname(m), O_RDWR | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		close(m);
		errno = e;
		return -1;
	}
	*master = m;
	*desc = "new pty";
	return s;
}

static int p_tiocsti_common(bool want_pty)
{
	const char *desc = "?";
	int master, fd = open_tty(want_pty, &master, &desc);
	char c = ' ';
	int rc, err;

	if (fd < 0)
		return blocked(errno, "no terminal to inject into (posix_openpt/open)");
	rc = ioctl(fd, TIOCSTI, &c);
	err = errno;
	if (rc == 0)
		tcflush(fd, TCIFLUSH); /* take the injected byte back out */
	if (master >= 0) {
		close(fd);
		close(master);
	}
	if (rc < 0)
		return blocked(err, "ioctl(TIOCSTI) on %s", desc);
	return ok("ioctl(TIOCSTI) injected a byte into %s", desc);
}
static int p_tiocsti(void)
{
	return p_tiocsti_common(false);
}
static int p_tiocsti_pty(void)
{
	return p_tiocsti_common(true);
}

static int p_tioclinux(void)
{
	char sub = TIOCL_GETSHIFTSTATE; /* a read-only subcode */
	int rc = ioctl(STDIN_FILENO, TIOCLINUX, &sub);
	int err = errno;

	/* ENOTTY/EINVAL on a non-VT still means the request got through. */
	if (rc < 0 && err == ENOTTY)
		return ok("reached ENOTTY ioctl(TIOCLINUX) on stdin (not a VT; the ioctl was not "
			  "filtered)");
	return reached(rc, err, "ioctl(TIOCLINUX) on stdin");
}

static int p_socket(int family, int type, int proto, const char *what)
{
	int fd = socket(family, type | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return blocked(errno, "socket(%s)", what);
	close(fd);
	return ok("socket(%s) fd %d", what, fd);
}
static int p_sock_packet(void)
{
	return p_socket(AF_PACKET, SOCK_RAW, htons(0x0003), "AF_PACKET, SOCK_RAW");
}
static int p_sock_raw(void)
{
	return p_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP, "AF_INET, SOCK_RAW");
}
static int p_sock_alg(void)
{
	return p_socket(AF_ALG, SOCK_SEQPACKET, 0, "AF_ALG");
}
static int p_sock_vsock(void)
{
	return p_socket(AF_VSOCK, SOCK_STREAM, 0, "AF_VSOCK");
}
static int p_sock_key(void)
{
	return p_socket(AF_KEY, SOCK_RAW, 2 /* PF_KEY_V2 */, "AF_KEY");
}
static int p_sock_netlink(void)
{
	return p_socket(AF_NETLINK, SOCK_RAW, 0, "AF_NETLINK route");
}
static int p_sock_unix(void)
{
	return p_socket(AF_UNIX, SOCK_STREAM, 0, "AF_UNIX");
}
static int p_sock_inet(void)
{
	return p_socket(AF_INET, SOCK_STREAM, 0, "AF_INET, SOCK_STREAM");
}

static int p_mknod(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	int rc, err;

	scratch_dir(dir, sizeof(dir));
	if (!dir[0])
		return blocked(errno, "no scratch directory for mknod");
	snprintf(path, sizeof(path), "%s/null", dir);
	rc = mknod(path, S_IFCHR | 0600, makedev(1, 3));
	err = errno;
	unlink(path);
	rmdir(dir);
	return verdict(rc, err, "mknod(char 1:3)");
}

static int p_setuid_root(void)
{
	long rc = setresuid(0, 0, 0);
	return verdict(rc, errno, "setresuid(0,0,0)");
}

static int p_open_by_handle_at(void)
{
	/* The "shocker" container escape: needs CAP_DAC_READ_SEARCH. */
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	int mount_id, mfd, fd, e;
	bool forged = false;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mount_id, 0) < 0) {
		/* Forge one as shocker did: inode 2 (an ext* root), generation 0. */
		uint32_t ino_gen[2] = {2, 0};
		h.fh.handle_bytes = sizeof(ino_gen);
		h.fh.handle_type = 1; /* FILEID_INO32_GEN */
		memcpy(h.fh.f_handle, ino_gen, sizeof(ino_gen));
		forged = true;
	}
	mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return blocked(errno, "open(/)");
	fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_CLOEXEC);
	e = errno;
	close(mfd);
	if (fd >= 0)
		close(fd);
	if (forged) /* a wrong forged handle fails with ESTALE after the check */
		return reached(fd, e, "open_by_handle_at(forged handle; name_to_handle_at failed)");
	return verdict(fd, e, "open_by_handle_at(handle of /)");
}

static int p_fsopen(void)
{
	long fd = syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fd < 0)
		return blocked(errno, "fsopen(tmpfs)");
	close((int)fd);
	return ok("fsopen(tmpfs) fd %ld", fd);
}

static int p_open_tree(void)
{
	/* A detached clone of / that disappears when the fd is closed. */
	long fd = syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		return blocked(errno, "open_tree(/, OPEN_TREE_CLONE)");
	close((int)fd);
	return ok("open_tree(/, OPEN_TREE_CLONE) fd %ld", fd);
}

static int p_sethostname(void)
{
	struct utsname u;

	if (uname(&u) < 0)
		return blocked(errno, "uname");
	/* The same name again: needs CAP_SYS_ADMIN, changes nothing. */
	long rc = sethostname(u.nodename, strlen(u.nodename));
	return verdict(rc, errno, "sethostname(same name)");
}

struct probe {
	const char *name;
	int (*fn)(void);
};

static const struct probe probes[] = {
    {"ptrace", p_ptrace},
    {"mount", p_mount},
    {"umount", p_umount},
    {"unshare-user", p_unshare_user},
    {"unshare-net", p_unshare_net},
    {"unshare-mount", p_unshare_mount},
    {"setns", p_setns},
    {"keyctl", p_keyctl},
    {"keyctl-raw", p_keyctl_raw},
    {"bpf", p_bpf},
    {"io_uring_setup", p_io_uring},
    {"perf_event_open", p_perf},
    {"userfaultfd", p_userfaultfd},
    {"process_vm_readv", p_process_vm_readv},
    {"chroot", p_chroot},
    {"pivot_root", p_pivot_root},
    {"kexec_load", p_kexec_load},
    {"init_module", p_init_module},
    {"finit_module", p_finit_module},
    {"personality", p_personality},
    {"personality32", p_personality32},
    {"tiocsti", p_tiocsti},
    {"tiocsti-pty", p_tiocsti_pty},
    {"tioclinux", p_tioclinux},
    {"socket-packet", p_sock_packet},
    {"socket-raw", p_sock_raw},
    {"socket-alg", p_sock_alg},
    {"socket-vsock", p_sock_vsock},
    {"socket-key", p_sock_key},
    {"socket-netlink", p_sock_netlink},
    {"socket-unix", p_sock_unix},
    {"socket-inet", p_sock_inet},
    {"mknod", p_mknod},
    {"setuid-root", p_setuid_root},
    {"open_by_handle_at", p_open_by_handle_at},
    {"fsopen", p_fsopen},
    {"open_tree", p_open_tree},
    {"sethostname", p_sethostname},
};

static int cmd_try_syscall(char **argv)
{
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (strcmp(argv[1], probes[i].name) == 0)
			return probes[i].fn();
	fprintf(stderr, "al-helper: unknown syscall probe '%s'; known:", argv[1]);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		fprintf(stderr, " %s", probes[i].name);
	fputc('\n', stderr);
	return 2;
}

/* ------------------------------------------------------------------- exec */

/* argv for re-executing ourselves as "al-helper marker TEXT". */
static char *marker_argv[] = {"al-helper", "marker", NULL, NULL};

static int cmd_marker(char **argv)
{
	return ok("%s", argv[1] ? argv[1] : "marker");
}

static int cmd_exec(char **argv)
{
	execve(argv[1], &argv[1], environ);
	return blocked(errno, "execve(%s)", argv[1]);
}

static int cmd_exec_self(char **argv)
{
	marker_argv[2] = "exec-self-ran";
	execve(SELF_EXE, marker_argv, environ);
	return blocked(errno, "execve(%s marker)", SELF_EXE);
}

/* Copy a file into a memfd, for execveat(AT_EMPTY_PATH). */
static int memfd_copy(const char *src)
{
	char buf[65536];
	ssize_t n;
	int in, fd;

	fd = memfd_create("al-helper", MFD_CLOEXEC | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("al-helper", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			goto fail;
	if (n < 0)
		goto fail;
	close(in);
	return fd;
fail:;
	int e = errno;
	if (in >= 0)
		close(in);
	close(fd);
	errno = e;
	return -1;
}

static int cmd_execveat_memfd(char **argv)
{
	/* Our own (static) image runs anywhere; /bin/true needs a loader. */
	const char *src = access(SELF_EXE, R_OK) == 0 ? SELF_EXE : "/bin/true";
	char *true_argv[] = {"true", NULL};
	int fd;

	fd = memfd_copy(src);
	if (fd < 0)
		return blocked(errno, "memfd copy of %s (execveat not attempted)", src);
	marker_argv[2] = "execveat-memfd-ran";
	syscall(SYS_execveat, fd, "", strcmp(src, SELF_EXE) == 0 ? marker_argv : true_argv, environ,
		AT_EMPTY_PATH);
	return blocked(errno, "execveat(memfd copy of %s, AT_EMPTY_PATH)", src);
}

static int cmd_exec_i386(char **argv)
{
	/* int 0x80 takes 32-bit pointers: put path and argv below 4 GiB. */
	const char *path = access(SELF_EXE, X_OK) == 0 ? SELF_EXE : "/bin/true";
	const char *args[] = {"al-helper", "marker", "exec-i386-ran"};
	char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	uint32_t *av;
	char *p;
	long ret;

	if (low == MAP_FAILED)
		return blocked(errno, "mmap(MAP_32BIT)");
	av = (uint32_t *)low;
	p = low + 64;
	strcpy(p, path);
	if (strcmp(path, SELF_EXE) == 0) {
		char *q = p + strlen(p) + 1;
		for (int i = 0; i < 3; i++) {
			strcpy(q, args[i]);
			av[i] = (uint32_t)(uintptr_t)q;
			q += strlen(q) + 1;
		}
		av[3] = 0;
	} else {
		av[0] = (uint32_t)(uintptr_t)p;
		av[1] = 0;
	}
	/* The kernel may clobber r8-r11 on the compat entry path. */
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(I386_NR_EXECVE), "b"((uint32_t)(uintptr_t)p),
			   "c"((uint32_t)(uintptr_t)av), "d"(0)
			 : "memory", "r8", "r9", "r10", "r11");
	ret = (int)ret; /* a compat syscall returns a 32-bit value */
	if (ret < 0 && ret > -4096)
		return blocked((int)-ret, "i386 execve via int 0x80 (%s)", path);
	return blocked(EINVAL, "i386 execve returned %ld", ret);
}

static int cmd_x32_getpid(char **argv)
{
	long rc;

	rc = syscall(X32_SYSCALL_BIT | SYS_getpid);
	if (rc < 0)
		return blocked(errno, "x32 getpid (nr 0x%lx)", X32_SYSCALL_BIT | SYS_getpid);
	return ok("x32 getpid returned %ld", rc);
}

struct race {
	double deadline;
	atomic_long attempts;
	atomic_int last_errno;
};

static void race_once(struct race *r, int i)
{
	marker_argv[2] = "exec-race-won";
	if (i & 1)
		syscall(SYS_execveat, AT_FDCWD, SELF_EXE, marker_argv, environ, 0);
	else
		execve(SELF_EXE, marker_argv, environ);
	atomic_store(&r->last_errno, errno);
	atomic_fetch_add(&r->attempts, 1);
}

static void *race_thread(void *arg)
{
	struct race *r = arg;

	for (int i = 0; now_s() < r->deadline; i++)
		race_once(r, i);
	return NULL;
}

static int cmd_exec_race(char **argv)
{
	struct race r = {.deadline = now_s() + 1.0};
	pthread_t tids[256];
	pthread_attr_t attr;
	long n;
	int made = 0;

	if (parse_long(argv[1], 1, 256, &n) < 0)
		return usage_err("exec-race N: N must be 1..256");
	atomic_init(&r.attempts, 0);
	atomic_init(&r.last_errno, 0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++)
		if (pthread_create(&tids[made], &attr, race_thread, &r) == 0)
			made++;
	for (int i = 0; now_s() < r.deadline; i++)
		race_once(&r, i);
	for (int i = 0; i < made; i++)
		pthread_join(tids[i], NULL);
	return blocked(atomic_load(&r.last_errno),
		       "exec-race: %d threads + main, %ld execve attempts, none ran", made,
		       atomic_load(&r.attempts));
}

/* ------------------------------------------------------------- processes */

static int cmd_fork(char **argv)
{
	char desc[64];
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return blocked(errno, "fork");
	if (pid == 0)
		_exit(0);
	reap(pid, desc, sizeof(desc));
	return ok("fork: child %d %s", (int)pid, desc);
}

static int cmd_fork_raw(char **argv)
{
	char desc[64];
	long pid;

	pid = syscall(SYS_fork);
	if (pid < 0)
		return blocked(errno, "fork syscall (nr %d)", SYS_fork);
	if (pid == 0)
		_exit(0);
	reap((pid_t)pid, desc, sizeof(desc));
	return ok("fork syscall: child %ld %s", pid, desc);
}

static int cmd_vfork(char **argv)
{
	char desc[64];
	pid_t pid;

	pid = vfork();
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return blocked(errno, "vfork");
	reap(pid, desc, sizeof(desc));
	return ok("vfork: child %d %s", (int)pid, desc);
}

static int clone_child(void *arg)
{
	(void)arg;
	return 0;
}

static int do_clone(int flags, const char *what)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	char desc[64];
	pid_t pid = clone(clone_child, stack + sizeof(stack), flags | SIGCHLD, NULL);

	if (pid < 0)
		return blocked(errno, "%s", what);
	reap(pid, desc, sizeof(desc));
	return ok("%s: child %d %s", what, (int)pid, desc);
}

static int cmd_clone_process(char **argv)
{
	return do_clone(0, "clone(SIGCHLD) without CLONE_THREAD");
}

static int cmd_clone_vfork(char **argv)
{
	return do_clone(CLONE_VM | CLONE_VFORK, "clone(CLONE_VM|CLONE_VFORK) as posix_spawn does");
}

struct clone_args_v0 { /* struct clone_args, CLONE_ARGS_SIZE_VER0 */
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int cmd_clone3(char **argv)
{
	struct clone_args_v0 ca;
	char desc[64];
	long pid;

	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return blocked(errno, "clone3 (process)");
	if (pid == 0)
		_exit(0);
	reap((pid_t)pid, desc, sizeof(desc));
	return ok("clone3: child %ld %s", pid, desc);
}

static int cmd_posix_spawn(char **argv)
{
	char *path = argv[1] ? argv[1] : "/bin/true";
	char *args[] = {path, NULL};
	char desc[64];
	pid_t pid;
	int rc;

	rc = posix_spawn(&pid, path, NULL, NULL, args, environ);
	if (rc != 0)
		return blocked(rc, "posix_spawn(%s)", path);
	if (reap(pid, desc, sizeof(desc)) < 0)
		return blocked(ECHILD, "posix_spawn(%s) child %s", path, desc);
	return ok("posix_spawn(%s): child %d %s", path, (int)pid, desc);
}

static int cmd_system(char **argv)
{
	const char *cmd = argv[1] ? argv[1] : "true";
	int st, err;

	errno = 0;
	st = system(cmd);
	err = errno ? errno : ECHILD; /* glibc reports a failed spawn as exit 127 */
	if (st < 0)
		return blocked(err, "system(%s)", cmd);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return ok("system(%s) exit 0", cmd);
	if (WIFEXITED(st))
		return blocked(err, "system(%s) exit %d (127: the shell did not run)", cmd,
			       WEXITSTATUS(st));
	return blocked_sig(WTERMSIG(st), "system() child");
}

static atomic_int threads_ran;

static void *thread_work(void *arg)
{
	volatile unsigned long sum = 0;

	for (unsigned long i = 0; i < 100000; i++)
		sum += i ^ (uintptr_t)arg;
	atomic_fetch_add(&threads_ran, 1);
	return NULL;
}

static int cmd_threads(char **argv)
{
	pthread_t tids[1024];
	pthread_attr_t attr;
	long n;
	int made = 0, rc = 0;

	if (parse_long(argv[1], 1, 1024, &n) < 0)
		return usage_err("threads N: N must be 1..1024");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++) {
		rc = pthread_create(&tids[made], &attr, thread_work, (void *)(uintptr_t)i);
		if (rc != 0)
			break;
		made++;
	}
	for (int i = 0; i < made; i++)
		pthread_join(tids[i], NULL);
	if (made < n)
		return blocked(rc, "pthread_create: %d of %ld threads started", made, n);
	if (atomic_load(&threads_ran) != n)
		return blocked(ECHILD, "only %d of %ld threads ran", atomic_load(&threads_ran), n);
	return ok("%ld threads ran and joined", n);
}

/* ------------------------------------------------------------ filesystem */

/* Print up to 32 bytes as text, non-printables as '.'. */
static void printable(const char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n && i < 32; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '.';
	out[i] = '\0';
}

static int cmd_read(char **argv)
{
	const char *path = argv[1];
	char buf[32], shown[33];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return blocked(errno, "open(%s, O_RDONLY)", path);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		DIR *d = fdopendir(fd);
		int count = 0;
		if (!d)
			return blocked(errno, "fdopendir(%s)", path);
		errno = 0;
		while (readdir(d))
			count++;
		if (errno) {
			int e = errno;
			closedir(d);
			return blocked(e, "readdir(%s)", path);
		}
		closedir(d);
		return ok("%s is a readable directory (%d entries)", path, count);
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		int e = errno;
		close(fd);
		if (e == EAGAIN) /* opened, nothing to read yet: still readable */
			return ok("%s opened for reading (no data yet)", path);
		return blocked(e, "read(%s)", path);
	}
	close(fd);
	printable(buf, (size_t)n, shown);
	return ok("read %zd bytes from %s: %s", n, path, shown);
}

static int cmd_write(char **argv)
{
	const char *path = argv[1], *data = argv[2];
	struct stat st;
	int fd, e;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* A directory: create a fresh file in it, write, remove it. */
		char file[PATH_MAX];
		snprintf(file, sizeof(file), "%s/.al-helper-write.%d", path, (int)getpid());
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return blocked(errno, "create a file in %s", path);
		e = write(fd, "x", 1) == 1 ? 0 : errno;
		close(fd);
		unlink(file);
		if (e)
			return blocked(e, "write in %s", path);
		return ok("created, wrote and removed a file in %s", path);
	}
	if (access(path, F_OK) == 0) {
		/* An existing file: opening it for writing is the test; only
		 * append when asked to (never damage a host file by default). */
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			return blocked(errno, "open(%s, O_WRONLY)", path);
		e = 0;
		if (data && write(fd, data, strlen(data)) != (ssize_t)strlen(data))
			e = errno;
		close(fd);
		if (e)
			return blocked(e, "append to %s", path);
		return ok("%s %s", data ? "appended to" : "opened for writing", path);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return blocked(errno, "create %s", path);
	e = 0;
	if (data && write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		e = errno;
	close(fd);
	if (!data) /* a bare probe leaves nothing behind */
		unlink(path);
	if (e)
		return blocked(e, "write %s", path);
	return ok("%s %s", data ? "created and wrote" : "created (and removed)", path);
}

static int cmd_ls(char **argv)
{
	char names[200] = "";
	size_t used = 0;
	struct dirent *de;
	int count = 0;
	DIR *d;

	d = opendir(argv[1]);
	if (!d)
		return blocked(errno, "opendir(%s)", argv[1]);
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		count++;
		if (used + strlen(de->d_name) + 2 < sizeof(names))
			used +=
			    (size_t)snprintf(names + used, sizeof(names) - used, " %s", de->d_name);
	}
	if (errno) {
		int e = errno;
		closedir(d);
		return blocked(e, "readdir(%s)", argv[1]);
	}
	closedir(d);
	return ok("%d entries in %s:%s", count, argv[1], names);
}

/* --------------------------------------------------------------- network */

static int parse_addr(const char *host, const char *port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	long p;

	if (parse_long(port, 0, 65535, &p) < 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static int cmd_connect(char **argv)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len, elen = sizeof(int);
	int fd, err = 0, rc;

	if (parse_addr(argv[1], argv[2], &ss, &len) < 0)
		return usage_err("connect HOST PORT: HOST must be a numeric IPv4/IPv6 address");
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return blocked(errno, "socket for connect %s:%s", argv[1], argv[2]);
	rc = connect(fd, (struct sockaddr *)&ss, len);
	if (rc < 0 && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		return blocked(err, "connect %s:%s", argv[1], argv[2]);
	}
	if (rc < 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, 2000);
		if (rc == 0) {
			close(fd);
			return blocked(ETIMEDOUT, "connect %s:%s (no answer in 2 s)", argv[1],
				       argv[2]);
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
	close(fd);
	if (err)
		return blocked(err, "connect %s:%s", argv[1], argv[2]);
	return ok("connected to %s:%s", argv[1], argv[2]);
}

/* "env:NAME" means the value of environment variable NAME. */
static const char *arg_or_env(const char *s)
{
	if (strncmp(s, "env:", 4) == 0)
		return getenv(s + 4);
	return s;
}

/* Split "HOST:PORT" / "[V6]:PORT" (in place copy) and connect with a 2 s
 * timeout.  Returns the fd, or -1 with errno. */
static int connect_hostport(const char *hp, char *shown, size_t shownsz)
{
	char buf[256], *host, *port;
	struct sockaddr_storage ss;
	socklen_t len, elen = sizeof(int);
	struct pollfd pfd;
	int fd, err = 0, rc;

	snprintf(buf, sizeof(buf), "%s", hp);
	snprintf(shown, shownsz, "%s", hp);
	if (buf[0] == '[') {
		char *end = strchr(buf, ']');
		if (end == NULL || end[1] != ':')
			return errno = EINVAL, -1;
		*end = '\0';
		host = buf + 1;
		port = end + 2;
	} else {
		port = strrchr(buf, ':');
		if (port == NULL)
			return errno = EINVAL, -1;
		*port++ = '\0';
		host = buf;
	}
	if (parse_addr(host, port, &ss, &len) < 0)
		return errno = EINVAL, -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&ss, len);
	if (rc < 0 && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		return errno = err, -1;
	}
	if (rc < 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, 2000);
		if (rc == 0)
			err = ETIMEDOUT;
		else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
	if (err) {
		close(fd);
		return errno = err, -1;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

static int cmd_env(char **argv)
{
	const char *v = getenv(argv[1]);

	if (v == NULL)
		return blocked(ENOENT, "%s is not set", argv[1]);
	return ok("%s=%s", argv[1], v);
}

static int cmd_connect_to(char **argv)
{
	const char *hp = arg_or_env(argv[1]);
	char shown[256];
	int fd;

	if (hp == NULL)
		return blocked(ENOENT, "%s is not set", argv[1] + 4);
	fd = connect_hostport(hp, shown, sizeof(shown));
	if (fd < 0)
		return blocked(errno, "connect %s", shown);
	close(fd);
	return ok("connected to %s", shown);
}

/* One HTTP/1.1 request (Authorization: Bearer $AGENTGW_TOKEN when set);
 * prints "OK HTTP <status> <body, first 300 bytes>". */
static int http_request(const char *method, const char *url_arg, const char *path, const char *body)
{
	const char *url = arg_or_env(url_arg);
	const char *tok = getenv("AL_HELPER_NO_TOKEN") ? NULL : getenv("AGENTGW_TOKEN");
	char hp[256], shown[256], req[8192], resp[65536], line[400];
	size_t n = 0;
	int fd;

	if (url == NULL)
		return blocked(ENOENT, "%s is not set", url_arg + 4);
	if (strncmp(url, "http://", 7) == 0)
		url += 7; /* else HOST:PORT[/PATH] */
	snprintf(hp, sizeof(hp), "%s", url);
	char *slash = strchr(hp, '/');
	if (slash) {
		if (path == NULL)
			path = url + (slash - hp);
		*slash = '\0';
	}
	if (path == NULL)
		path = "/";
	fd = connect_hostport(hp, shown, sizeof(shown));
	if (fd < 0)
		return blocked(errno, "connect %s", shown);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int len = snprintf(req, sizeof(req),
			   "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%sContent-Type: application/json\r\n"
			   "Content-Length: %zu\r\n\r\n%s",
			   method, path, hp, tok ? "Authorization: Bearer " : "", tok ? tok : "",
			   tok ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
	if (len < 0 || (size_t)len >= sizeof(req) || write(fd, req, (size_t)len) != len) {
		int e = errno ? errno : EMSGSIZE;
		close(fd);
		return blocked(e, "send the request to %s", shown);
	}
	for (;;) {
		ssize_t r = read(fd, resp + n, sizeof(resp) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		resp[n] = '\0';
		char *end = strstr(resp, "\r\n\r\n");
		char *cl = strcasestr(resp, "\r\nContent-Length:");
		if (end && cl && cl < end &&
		    n >= (size_t)(end + 4 - resp) + strtoul(cl + 17, NULL, 10))
			break;
		if (n == sizeof(resp) - 1)
			break;
	}
	close(fd);
	resp[n] = '\0';
	int status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return blocked(EPROTO, "no HTTP answer from %s (%zu bytes)", shown, n);
	char *b = strstr(resp, "\r\n\r\n");
	snprintf(line, sizeof(line), "%.300s", b ? b + 4 : "");
	for (char *q = line; *q; q++)
		if (*q == '\n' || *q == '\r')
			*q = ' ';
	return ok("HTTP %d %s%s %s", status, shown, path, line);
}

static int cmd_http_get(char **argv)
{
	return http_request("GET", argv[1], argv[2], NULL);
}

static int cmd_http_post(char **argv)
{
	return http_request("POST", argv[1], argv[2], argv[3]);
}

static int cmd_connect_unix(char **argv)
{
	struct sockaddr_un sa;
	const char *path = argv[1];
	size_t n = strlen(path);
	socklen_t len;
	int fd;

	if (n == 0 || n >= sizeof(sa.sun_path))
		return usage_err("connect-unix PATH: 1..107 bytes ('@name' = abstract)");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return blocked(errno, "socket(AF_UNIX)");
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;
		close(fd);
		return blocked(e, "connect unix %s", path);
	}
	close(fd);
	return ok("connected to unix %s", path);
}

static int cmd_udp(char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (parse_addr(argv[1], argv[2], &ss, &len) < 0)
		return usage_err("udp HOST PORT: HOST must be a numeric IPv4/IPv6 address");
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return blocked(errno, "socket(SOCK_DGRAM)");
	if (sendto(fd, "al-helper", 9, 0, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;
		close(fd);
		return blocked(e, "sendto udp %s:%s", argv[1], argv[2]);
	}
	close(fd);
	return ok("sent a udp datagram to %s:%s (sent, not necessarily received)", argv[1],
		  argv[2]);
}

static int cmd_listen(char **argv)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	long port;
	int fd, one = 1;

	if (parse_long(argv[1], 0, 65535, &port) < 0)
		return usage_err("listen PORT: 0..65535");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return blocked(errno, "socket(AF_INET)");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return blocked(e, "bind/listen 0.0.0.0:%ld", port);
	}
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ok("listening on 0.0.0.0:%d", ntohs(sa.sin_port));
}

/* ------------------------------------------------------ resources, timing */

static int cmd_memhog(char **argv)
{
	long mb;

	if (parse_long(argv[1], 1, 1L << 20, &mb) < 0)
		return usage_err("memhog MB: a positive number of MiB");
	for (long i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);
		if (!p)
			return blocked(ENOMEM, "malloc failed after %ld MiB", i);
		memset(p, (int)(i & 0x7f) | 1, 1 << 20); /* touch every page */
	}
	return ok("allocated and touched %ld MiB", mb);
}

static int cmd_forkbomb(char **argv)
{
	long n, hold = 0, made = 0;
	int gate[2], err = 0;
	pid_t *pids;
	char c;

	if (parse_long(argv[1], 1, 100000, &n) < 0)
		return usage_err("forkbomb N [HOLD_SECONDS]: N must be 1..100000");
	if (argv[2] && parse_long(argv[2], 0, 5, &hold) < 0)
		return usage_err("forkbomb N [HOLD_SECONDS]: HOLD must be 0..5");
	pids = calloc((size_t)n, sizeof(*pids));
	if (!pids || pipe2(gate, O_CLOEXEC) < 0)
		return blocked(errno, "forkbomb setup");
	for (; made < n; made++) {
		pid_t pid = fork();
		if (pid < 0) {
			err = errno;
			break;
		}
		if (pid == 0) {
			/* Child: wait until the parent lets go (or dies), 5 s at most. */
			close(gate[1]);
			alarm(5);
			while (read(gate[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		pids[made] = pid;
	}
	if (hold > 0)
		sleep((unsigned)hold);
	close(gate[1]); /* EOF releases every child */
	close(gate[0]);
	for (long i = 0; i < made; i++) {
		kill(pids[i], SIGKILL);
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	free(pids);
	if (made < n)
		return blocked(err, "%ld of %ld forks succeeded", made, n);
	return ok("%ld of %ld forks succeeded", made, n);
}

static int cmd_spin(char **argv)
{
	volatile unsigned long x = 0;
	double end;
	long s;

	if (parse_long(argv[1], 0, 86400, &s) < 0)
		return usage_err("spin SECONDS: 0..86400");
	end = now_s() + (double)s;
	while (now_s() < end)
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
	return ok("spun %ld s", s);
}

static int cmd_sleep(char **argv)
{
	struct timespec ts = {0, 0};
	long s;

	if (parse_long(argv[1], 0, 86400, &s) < 0)
		return usage_err("sleep SECONDS: 0..86400");
	ts.tv_sec = s;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return ok("slept %ld s", s);
}

/* Leave a setsid()'d grandchild sleeping; wait_too: the caller sleeps too.
 * Any extra argument (a unique marker) stays in the grandchild's cmdline for
 * pgrep -f.  The grandchild keeps stdout/stderr open on purpose. */
static int spawn_bg(char **argv, bool wait_too)
{
	struct timespec ts = {0, 0};
	int pfd[2];
	pid_t child, gc = -1;
	char desc[64];
	long s;

	if (parse_long(argv[1], 0, 3600, &s) < 0)
		return usage_err("%s SECONDS [MARKER]: 0..3600", argv[0]);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return blocked(errno, "pipe");
	child = fork();
	if (child < 0)
		return blocked(errno, "fork (first)");
	if (child == 0) {
		pid_t g = fork();
		if (g == 0) {
			close(pfd[0]);
			close(pfd[1]);
			setsid();
			ts.tv_sec = s;
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		if (write(pfd[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(g < 0 ? 1 : 0);
	}
	close(pfd[1]);
	if (read(pfd[0], &gc, sizeof(gc)) != sizeof(gc))
		gc = -1;
	close(pfd[0]);
	reap(child, desc, sizeof(desc));
	if (gc < 0)
		return blocked(EAGAIN, "fork (grandchild) failed");
	ok("grandchild pid %d sleeps %ld s in its own session", (int)gc, s);
	if (wait_too) {
		ts.tv_sec = s;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}

static int cmd_spawn_bg_sleep(char **argv)
{
	return spawn_bg(argv, false);
}
static int cmd_spawn_bg_sleep_wait(char **argv)
{
	return spawn_bg(argv, true);
}

static int cmd_print_bytes(char **argv)
{
	static char buf[1 << 20];
	long n, left;

	if (parse_long(argv[1], 0, LONG_MAX, &n) < 0)
		return usage_err("print-bytes N: N >= 0");
	memset(buf, 'x', sizeof(buf));
	for (left = n; left > 0;) {
		size_t chunk = left < (long)sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t w = write(STDOUT_FILENO, buf, chunk);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "BLOCKED %s wrote %ld of %ld bytes\n", errname(errno),
				n - left, n);
			return 1;
		}
		left -= w;
	}
	/* On stderr, so that stdout is exactly N bytes. */
	fprintf(stderr, "OK wrote %ld bytes\n", n);
	return 0;
}

/* --------------------------------------------------------------- identity */

static void status_field(const char *key, char *out, size_t outsz)
{
	char line[256];
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			char *v = line + kl + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, outsz, "%s", v);
			break;
		}
	}
	fclose(f);
}

static int cmd_caps(char **argv)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	char eff[32], prm[32], bnd[32], nnp[16], sec[16], filters[16] = "?";
	unsigned long long bmask = 0;

	/* From syscalls first, overridden by /proc when it is readable. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == 0) {
		snprintf(eff, sizeof(eff), "%016llx",
			 ((unsigned long long)data[1].effective << 32) | data[0].effective);
		snprintf(prm, sizeof(prm), "%016llx",
			 ((unsigned long long)data[1].permitted << 32) | data[0].permitted);
	} else {
		snprintf(eff, sizeof(eff), "?");
		snprintf(prm, sizeof(prm), "?");
	}
	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			bmask |= 1ULL << c;
	snprintf(bnd, sizeof(bnd), "%016llx", bmask);
	snprintf(nnp, sizeof(nnp), "%d", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	snprintf(sec, sizeof(sec), "%d", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	status_field("CapEff", eff, sizeof(eff));
	status_field("CapPrm", prm, sizeof(prm));
	status_field("CapBnd", bnd, sizeof(bnd));
	status_field("NoNewPrivs", nnp, sizeof(nnp));
	status_field("Seccomp", sec, sizeof(sec));
	status_field("Seccomp_filters", filters, sizeof(filters));
	return ok("uid=%d euid=%d gid=%d egid=%d CapEff=%s CapPrm=%s CapBnd=%s NoNewPrivs=%s "
		  "Seccomp=%s Seccomp_filters=%s",
		  (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid(), eff, prm, bnd, nnp,
		  sec, filters);
}

static int cmd_whoami(char **argv)
{
	gid_t groups[64];
	char list[400] = "";
	size_t used = 0;
	int n;

	n = getgroups(64, groups);
	for (int i = 0; i < n && used + 16 < sizeof(list); i++)
		used += (size_t)sprintf(list + used, "%s%d", i ? "," : "", (int)groups[i]);
	return ok("uid=%d euid=%d gid=%d egid=%d groups=%s pid=%d ppid=%d", (int)getuid(),
		  (int)geteuid(), (int)getgid(), (int)getegid(), list, (int)getpid(),
		  (int)getppid());
}

static int cmd_pids(char **argv)
{
	struct dirent *de;
	int count = 0;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return blocked(errno, "opendir(/proc)");
	while ((de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
		    strspn(de->d_name, "0123456789") == strlen(de->d_name))
			count++;
	closedir(d);
	return ok("%d procs", count);
}

static int cmd_hostname(char **argv)
{
	struct utsname u;

	if (uname(&u) < 0)
		return blocked(errno, "uname");
	return ok("%s", u.nodename);
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},	  {"KILL", SIGKILL}, {"TERM", SIGTERM},
		    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}};
	long v;

	if (parse_long(s, 0, 64, &v) == 0)
		return (int)v;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcmp(s, sigs[i].name) == 0)
			return sigs[i].sig;
	return -1;
}

static int cmd_kill(char **argv)
{
	long pid;
	int sig;

	if (parse_long(argv[1], INT_MIN, INT_MAX, &pid) < 0 || (sig = parse_signal(argv[2])) < 0)
		return usage_err(
		    "kill PID SIG: SIG is a number or HUP INT KILL TERM USR1 USR2 STOP CONT");
	if (kill((pid_t)pid, sig) < 0)
		return blocked(errno, "kill(%ld, %d)", pid, sig);
	return ok("kill(%ld, %d) delivered", pid, sig);
}

static int cmd_fds(char **argv)
{
	char list[400] = "";
	size_t used = 0;
	long max = sysconf(_SC_OPEN_MAX);
	int count = 0;

	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 0; fd < max; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			continue;
		count++;
		if (used + 12 < sizeof(list))
			used += (size_t)sprintf(list + used, " %d", fd);
	}
	return ok("%d fds:%s", count, list);
}

/* ------------------------------------------------------------------ table */

struct command {
	const char *name;
	int (*fn)(char **argv); /* argv[0] is the command, NULL-terminated */
	int min_args, max_args; /* after the command name; -1 = unbounded */
	const char *usage;
};

static int cmd_help(char **argv);

static const struct command commands[] = {
    {"try-syscall", cmd_try_syscall, 1, 1, "NAME  one probe (al-helper try-syscall list)"},
    {"exec", cmd_exec, 1, -1, "PATH [ARGS]  execve; on success PATH runs (its status)"},
    {"exec-self", cmd_exec_self, 0, 0, "execve of /proc/self/exe: prints 'OK exec-self-ran'"},
    {"exec-i386", cmd_exec_i386, 0, 0, "execve through int 0x80 (killed by SIGSYS: status 159)"},
    {"x32-getpid", cmd_x32_getpid, 0, 0, "getpid with the x32 bit (0x40000000|39)"},
    {"execveat-memfd", cmd_execveat_memfd, 0, 0, "memfd copy of self, execveat(AT_EMPTY_PATH)"},
    {"exec-race", cmd_exec_race, 1, 1, "N  N threads + main race execve for 1 s"},
    {"marker", cmd_marker, 0, 1, "[TEXT]  prints 'OK TEXT' (the self-exec target)"},
    {"fork", cmd_fork, 0, 0, "glibc fork()"},
    {"fork-raw", cmd_fork_raw, 0, 0, "the fork syscall itself"},
    {"vfork", cmd_vfork, 0, 0, "vfork()"},
    {"clone-process", cmd_clone_process, 0, 0, "clone(SIGCHLD) without CLONE_THREAD"},
    {"clone-vfork", cmd_clone_vfork, 0, 0, "clone(CLONE_VM|CLONE_VFORK)"},
    {"clone3", cmd_clone3, 0, 0, "raw clone3 making a process (sandbox: BLOCKED ENOSYS)"},
    {"posix-spawn", cmd_posix_spawn, 0, 1, "[PATH]  posix_spawn of PATH (/bin/true)"},
    {"system", cmd_system, 0, 1, "[CMD]  system(CMD) (true)"},
    {"threads", cmd_threads, 1, 1, "N  N pthreads do work and join (must work everywhere)"},
    {"read", cmd_read, 1, 1, "PATH  open+read (a directory: list it)"},
    {"write", cmd_write, 1, 2,
     "PATH [DATA]  dir: create+remove a file; file: open for write (append DATA); "
     "new: create (kept only with DATA)"},
    {"ls", cmd_ls, 1, 1, "PATH  list a directory"},
    {"connect", cmd_connect, 2, 2, "HOST PORT  TCP connect, 2 s timeout"},
    {"connect-unix", cmd_connect_unix, 1, 1, "PATH  unix stream connect ('@name' = abstract)"},
    {"connect-to", cmd_connect_to, 1, 1, "HOST:PORT|env:NAME  TCP connect, 2 s timeout"},
    {"env", cmd_env, 1, 1, "NAME  print an environment variable (BLOCKED ENOENT if unset)"},
    {"http-get", cmd_http_get, 1, 2,
     "URL|env:NAME [PATH]  HTTP GET (Bearer $AGENTGW_TOKEN if set and not "
     "$AL_HELPER_NO_TOKEN): 'OK HTTP <status> ...'"},
    {"http-post", cmd_http_post, 3, 3, "URL|env:NAME PATH JSON  HTTP POST, like http-get"},
    {"udp", cmd_udp, 2, 2, "HOST PORT  send one datagram"},
    {"listen", cmd_listen, 1, 1, "PORT  bind+listen on 0.0.0.0:PORT (0 = any)"},
    {"memhog", cmd_memhog, 1, 1, "MB  allocate and touch MB MiB in 1 MiB steps"},
    {"forkbomb", cmd_forkbomb, 1, 2, "N [HOLD]  fork N children held HOLD (<=5) s"},
    {"spin", cmd_spin, 1, 1, "SECONDS  busy loop"},
    {"sleep", cmd_sleep, 1, 1, "SECONDS  sleep"},
    {"spawn-bg-sleep", cmd_spawn_bg_sleep, 1, 2,
     "SECONDS [MARKER]  leave a setsid() grandchild sleeping, exit at once"},
    {"spawn-bg-sleep-wait", cmd_spawn_bg_sleep_wait, 1, 2,
     "SECONDS [MARKER]  the same, then sleep SECONDS too"},
    {"print-bytes", cmd_print_bytes, 1, 1, "N  N bytes of 'x' on stdout (status on stderr)"},
    {"caps", cmd_caps, 0, 0, "uid/gid, CapEff/CapPrm/CapBnd, NoNewPrivs, Seccomp (exit 0)"},
    {"whoami", cmd_whoami, 0, 0, "uid, gid, groups, pid, ppid"},
    {"pids", cmd_pids, 0, 0, "number of processes visible in /proc"},
    {"hostname", cmd_hostname, 0, 0, "uname nodename"},
    {"kill", cmd_kill, 2, 2, "PID SIG  kill(PID, SIG)"},
    {"fds", cmd_fds, 0, 0, "open file descriptors"},
    {"help", cmd_help, 0, 0, "this list"},
};

static int cmd_help(char **argv)
{
	printf("usage: al-helper CMD [ARGS]\n"
	       "prints one line 'OK ...' (exit 0: the action worked) or 'BLOCKED ERRNO ...' (exit "
	       "1);\n"
	       "exit 2 on usage errors.\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-20s %s\n", commands[i].name, commands[i].usage);
	printf("\ntry-syscall probes:");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		printf("%s%s", i % 8 ? " " : "\n  ", probes[i].name);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_err("no command");
	if (strcmp(argv[1], "try-syscall") == 0 && argc == 3 && strcmp(argv[2], "list") == 0) {
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			printf("%s\n", probes[i].name);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];
		int nargs = argc - 2;
		if (strcmp(argv[1], c->name) != 0)
			continue;
		if (nargs < c->min_args || (c->max_args >= 0 && nargs > c->max_args))
			return usage_err("usage: al-helper %s %s", c->name, c->usage);
		return c->fn(argv + 1);
	}
	return usage_err("unknown command '%s'", argv[1]);
}
