/* c_agent — the static C mock agent (tests/mock_agent/README.md).
 *
 * Run as the agent under agentlaunch, it behaves like a hostile agent that
 * knows Linux: it tries every syscall-level way out (exec and fork in every
 * form, privileged syscalls, other hosts and host ports, secrets on disk,
 * signals to processes outside) and checks that what an agent needs still
 * works (threads, computation, files in its workdir and /tmp, the gateway,
 * the allowed service).  Everything runs in this one process: under the
 * lock it cannot exec a helper.
 *
 * Output: one line per check,
 *     VERDICT LAYER KIND NAME DETAIL
 *   VERDICT  PASS | FAIL | SKIP (judged for a confined run)
 *   LAYER    seccomp | process | network | filesystem | gateway | policy
 *   KIND     escape (must be blocked) | works (must work)
 *   NAME     c.<check>
 * and a last line "c_agent: N passed, N failed, N skipped".  Exit 0 when
 * nothing failed.  run.sh collects the lines of every agent; with --bare it
 * re-judges them (an escape check must FAIL bare, proving it can fail).
 *
 * An exec that succeeds (bare) replaces this process: every exec check
 * execs this same binary with "--resume INDEX --tally P,F,S --self PATH",
 * and the new image reports the check as escaped and carries on with the
 * next one.  Checks that a confined run must survive come first; the two
 * probes that the lock answers by killing the process (the i386 and x32
 * ABIs) run only with "--only NAME" (run.sh starts them separately and
 * reads exit 159 = SIGSYS as blocked); the probes that would change this
 * process for good (ptrace TRACEME, unshare) come last.
 *
 * Environment (set by run.sh; a check whose input is missing is SKIP):
 *   AGENTGW_URL, AGENTGW_TOKEN, AGENTLAUNCH_SERVICE_<PORT>   (agentlaunch)
 *   MOCK_SERVICE_PORT, MOCK_SERVICE_TEXT   the allowed service and what
 *                                          GET /hello.txt returns
 *   MOCK_OUTSIDE_ADDR, MOCK_OUTSIDE_PORT   a listener in a test network
 *                                          namespace (198.18.0.2)
 *   MOCK_HOST_PORT                         a host listener on 0.0.0.0/[::]
 *   MOCK_OUTSIDE_HOST_ADDR                 the host end of the test veth
 *   MOCK_HOST_PIDS, MOCK_LAUNCHER_PID      host processes to signal (0)
 *   MOCK_OTHER_HOME, MOCK_AUDIT_KEY        secrets that must stay unreadable
 *
 * Host safety when run bare as root: probes pass arguments that make no
 * change (signal 0, chroot("/"), mount of a nonexistent fs type, setns
 * into its own namespace, a file created and removed at once). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
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
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#define X32_BIT 0x40000000L
#define I386_EXECVE 11

enum outcome { R_OPEN, R_BLOCKED, R_SKIP };

struct check {
	const char *layer;
	const char *name;
	bool escape;   /* true: must be blocked; false: must work */
	bool separate; /* may kill the process: only with --only */
	enum outcome (*fn)(char *d, size_t n);
};

static char self_path[PATH_MAX];
static int cur_index;
static unsigned n_pass, n_fail, n_skip;

/* ------------------------------------------------------------ utilities */

static const char *ename(int e)
{
	static char buf[16];
	const char *s = strerrorname_np(e);

	if (s)
		return s;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

__attribute__((format(printf, 4, 5))) static enum outcome say(enum outcome r, char *d, size_t n,
							       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d, n, fmt, ap);
	va_end(ap);
	return r;
}

/* rc < 0: blocked with errno e, else open. */
static enum outcome verdict(long rc, int e, char *d, size_t n, const char *what)
{
	if (rc < 0)
		return say(R_BLOCKED, d, n, "%s %s", ename(e), what);
	return say(R_OPEN, d, n, "%s succeeded", what);
}

/* For calls given arguments the kernel rejects only after its permission
 * checks: EPERM/EACCES/ENOSYS mean stopped before, anything else got past. */
static enum outcome reached(long rc, int e, char *d, size_t n, const char *what)
{
	if (rc >= 0)
		return say(R_OPEN, d, n, "%s succeeded", what);
	if (e == EPERM || e == EACCES || e == ENOSYS)
		return say(R_BLOCKED, d, n, "%s %s", ename(e), what);
	return say(R_OPEN, d, n, "%s reached the kernel past the permission checks (%s)", what,
		   ename(e));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env(const char *k)
{
	const char *v = getenv(k);
	return v && *v ? v : NULL;
}

static enum outcome need_env(const char *k, char *d, size_t n)
{
	return say(R_SKIP, d, n, "%s not set (run through tests/mock_agent/run.sh)", k);
}

/* Wait for a child we made; "exit N" / "signal N" into desc. */
static void reap(pid_t pid, char *desc, size_t n)
{
	int st;

	while (waitpid(pid, &st, __WALL) < 0)
		if (errno != EINTR) {
			snprintf(desc, n, "waitpid %s", ename(errno));
			return;
		}
	if (WIFEXITED(st))
		snprintf(desc, n, "exit %d", WEXITSTATUS(st));
	else
		snprintf(desc, n, "signal %d", WTERMSIG(st));
}

/* ---------------------------------------------------------------- exec */

/* "# attempt SYSCALL [PATH]": run.sh checks the audit log shows each. */
static void attempt(const char *syscall_name, const char *path)
{
	printf("# attempt %s%s%s\n", syscall_name, path ? " " : "", path ? path : "");
	fflush(stdout);
}

/* argv for re-entering this binary after a successful exec. */
static char resume_idx[16], resume_tally[48];
static char *resume_argv[] = {self_path,     "--resume", resume_idx, "--tally",
			      resume_tally, "--self",   self_path,  NULL, NULL};

static void prepare_resume(void)
{
	snprintf(resume_idx, sizeof(resume_idx), "%d", cur_index);
	snprintf(resume_tally, sizeof(resume_tally), "%u,%u,%u", n_pass, n_fail, n_skip);
	fflush(stdout);
}

static enum outcome c_execve_self(char *d, size_t n)
{
	attempt("execve", self_path);
	prepare_resume();
	execve(self_path, resume_argv, environ);
	return say(R_BLOCKED, d, n, "%s execve(%s)", ename(errno), self_path);
}

static enum outcome c_execve_sh(char *d, size_t n)
{
	/* The classic agent move: a shell command line. */
	char *argv[12] = {"sh", "-c", "exec \"$0\" \"$@\""};
	int k = 3;

	attempt("execve", "/bin/sh");
	prepare_resume();
	for (char **a = resume_argv; *a; a++)
		argv[k++] = *a;
	argv[k] = NULL;
	execve("/bin/sh", argv, environ);
	return say(R_BLOCKED, d, n, "%s execve(/bin/sh -c ...)", ename(errno));
}

static enum outcome c_execveat_path(char *d, size_t n)
{
	attempt("execveat", self_path);
	prepare_resume();
	syscall(SYS_execveat, AT_FDCWD, self_path, resume_argv, environ, 0);
	return say(R_BLOCKED, d, n, "%s execveat(AT_FDCWD, %s)", ename(errno), self_path);
}

static enum outcome c_execveat_memfd(char *d, size_t n)
{
	char buf[65536];
	ssize_t r;
	int in, fd;

	fd = memfd_create("c_agent", MFD_CLOEXEC | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("c_agent", MFD_CLOEXEC);
	if (fd < 0)
		return say(R_BLOCKED, d, n, "%s memfd_create", ename(errno));
	in = open(self_path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		int e = errno;
		close(fd);
		return say(R_SKIP, d, n, "cannot read %s for the memfd copy: %s", self_path, ename(e));
	}
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)r) != r)
			break;
	close(in);
	attempt("execveat", "<memfd>");
	prepare_resume();
	syscall(SYS_execveat, fd, "", resume_argv, environ, AT_EMPTY_PATH);
	int e = errno;
	close(fd);
	return say(R_BLOCKED, d, n, "%s execveat(memfd copy, AT_EMPTY_PATH)", ename(e));
}

struct race {
	double deadline;
	atomic_long tries;
	atomic_int last;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;

	/* Bounded: the launcher records the first 256 violations in full. */
	for (int i = 0; i < 12 && now_s() < r->deadline; i++) {
		if (i & 1)
			syscall(SYS_execveat, AT_FDCWD, self_path, resume_argv, environ, 0);
		else
			execve(self_path, resume_argv, environ);
		atomic_store(&r->last, errno);
		atomic_fetch_add(&r->tries, 1);
	}
	return NULL;
}

static enum outcome c_exec_race(char *d, size_t n)
{
	struct race r = {.deadline = now_s() + 0.5};
	pthread_t t[8];
	int made = 0;

	atomic_init(&r.tries, 0);
	atomic_init(&r.last, 0);
	attempt("execve", self_path);
	prepare_resume();
	for (int i = 0; i < 8; i++)
		if (pthread_create(&t[made], NULL, race_thread, &r) == 0)
			made++;
	race_thread(&r);
	for (int i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	return say(R_BLOCKED, d, n, "%s %ld execve/execveat from %d threads at once, none ran",
		   ename(atomic_load(&r.last)), atomic_load(&r.tries), made + 1);
}

static enum outcome c_exec_i386(char *d, size_t n)
{
	/* int 0x80 takes 32-bit pointers: path and argv below 4 GiB. */
	char *low = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
			 -1, 0);
	uint32_t *av;
	char *p;
	long ret;
	int k = 0;

	if (low == MAP_FAILED)
		return say(R_SKIP, d, n, "mmap(MAP_32BIT) %s", ename(errno));
	prepare_resume();
	av = (uint32_t *)low;
	p = low + 128;
	for (char **a = resume_argv; *a; a++) {
		strcpy(p, *a);
		av[k++] = (uint32_t)(uintptr_t)p;
		p += strlen(p) + 1;
	}
	strcpy(p, "--one");
	av[k++] = (uint32_t)(uintptr_t)p;
	p += strlen(p) + 1;
	av[k] = 0;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(I386_EXECVE), "b"(av[0]), "c"((uint32_t)(uintptr_t)av), "d"(0)
			 : "memory", "r8", "r9", "r10", "r11");
	ret = (int)ret;
	return say(R_BLOCKED, d, n, "%s i386 execve via int 0x80 returned",
		   ret < 0 && ret > -4096 ? ename((int)-ret) : "?");
}

static enum outcome c_x32(char *d, size_t n)
{
	long rc = syscall(X32_BIT | SYS_getpid);

	if (rc < 0 && errno == ENOSYS)
		return say(R_SKIP, d, n,
			   "ENOSYS: this kernel has no x32 ABI, the probe cannot escape here");
	return verdict(rc, errno, d, n, "x32 getpid");
}

/* ---------------------------------------------------------------- fork */

static enum outcome child_result(pid_t pid, int e, char *d, size_t n, const char *what)
{
	char desc[48];

	if (pid < 0)
		return say(R_BLOCKED, d, n, "%s %s", ename(e), what);
	reap(pid, desc, sizeof(desc));
	return say(R_OPEN, d, n, "%s made child %d (%s)", what, (int)pid, desc);
}

static enum outcome c_fork(char *d, size_t n)
{
	attempt("fork", NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	return child_result(pid, errno, d, n, "fork()");
}

static enum outcome c_fork_raw(char *d, size_t n)
{
	attempt("fork", NULL);
	long pid = syscall(SYS_fork);
	if (pid == 0)
		_exit(0);
	return child_result((pid_t)pid, errno, d, n, "fork syscall");
}

static enum outcome c_vfork(char *d, size_t n)
{
	attempt("fork", NULL);
	pid_t pid = vfork();
	if (pid == 0)
		_exit(0);
	return child_result(pid, errno, d, n, "vfork()");
}

static int clone_fn(void *arg)
{
	(void)arg;
	return 0;
}

static enum outcome do_clone(int flags, char *d, size_t n, const char *what)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));

	attempt("fork", NULL);
	pid_t pid = clone(clone_fn, stack + sizeof(stack), flags | SIGCHLD, NULL);
	return child_result(pid, errno, d, n, what);
}

static enum outcome c_clone(char *d, size_t n)
{
	return do_clone(0, d, n, "clone(SIGCHLD)");
}

static enum outcome c_clone_vfork(char *d, size_t n)
{
	return do_clone(CLONE_VM | CLONE_VFORK, d, n, "clone(CLONE_VM|CLONE_VFORK)");
}

static enum outcome c_clone3(char *d, size_t n)
{
	uint64_t ca[8] = {0}; /* struct clone_args, version 0 */

	ca[4] = SIGCHLD; /* exit_signal */
	fflush(stdout);
	long pid = syscall(SYS_clone3, ca, sizeof(ca));
	if (pid == 0)
		_exit(0);
	return child_result((pid_t)pid, errno, d, n, "clone3()");
}

static enum outcome c_posix_spawn(char *d, size_t n)
{
	char *argv[] = {"true", NULL};
	pid_t pid;

	attempt("fork", NULL);
	int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);

	return child_result(rc == 0 ? pid : -1, rc, d, n, "posix_spawn(/bin/true)");
}

static enum outcome c_system(char *d, size_t n)
{
	attempt("fork", NULL);
	errno = 0;
	int st = system("exit 7");
	int e = errno ? errno : ECHILD;

	if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 7)
		return say(R_OPEN, d, n, "system(\"exit 7\") ran a shell (status 7)");
	return say(R_BLOCKED, d, n, "%s system(\"exit 7\") status %d (the shell did not run)",
		   ename(e), st);
}

/* ---------------------------------------------------- privileged calls */

static enum outcome c_io_uring(char *d, size_t n)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	long fd = syscall(SYS_io_uring_setup, 4, &p);
	if (fd >= 0)
		close((int)fd);
	return verdict(fd, errno, d, n, "io_uring_setup(4)");
}

static enum outcome c_bpf(char *d, size_t n)
{
	struct bpf_insn insns[2];
	union bpf_attr a;

	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[1].code = BPF_JMP | BPF_EXIT;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = 2;
	a.license = (uint64_t)(uintptr_t) "GPL";
	long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	if (fd >= 0)
		close((int)fd);
	return verdict(fd, errno, d, n, "bpf(BPF_PROG_LOAD)");
}

static enum outcome c_perf(char *d, size_t n)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_SOFTWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd >= 0)
		close((int)fd);
	return verdict(fd, errno, d, n, "perf_event_open(cpu-clock)");
}

static enum outcome c_userfaultfd(char *d, size_t n)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd >= 0)
		close((int)fd);
	return verdict(fd, errno, d, n, "userfaultfd(UFFD_USER_MODE_ONLY)");
}

static enum outcome c_keyctl(char *d, size_t n)
{
	long k = syscall(SYS_add_key, "user", "c_agent", "x", 1, KEY_SPEC_PROCESS_KEYRING);
	int e = errno;
	if (k >= 0)
		syscall(SYS_keyctl, KEYCTL_INVALIDATE, k, 0, 0, 0);
	return verdict(k, e, d, n, "add_key(user, process keyring)");
}

static enum outcome c_process_vm_readv(char *d, size_t n)
{
	static volatile char secret[8] = "secret";
	char buf[8];
	struct iovec l = {buf, sizeof(buf)}, r = {(void *)secret, sizeof(buf)};
	ssize_t got = process_vm_readv(getpid(), &l, 1, &r, 1, 0);

	return verdict(got, errno, d, n, "process_vm_readv(self)");
}

static enum outcome c_mount(char *d, size_t n)
{
	/* may_mount() comes before the fs type lookup: ENODEV = allowed. */
	long rc = mount("none", "/proc/self/fd", "c-agent-no-such-fs", 0, NULL);
	return reached(rc, errno, d, n, "mount(unknown fs type)");
}

static enum outcome c_fsopen(char *d, size_t n)
{
	long fd = syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */);
	if (fd >= 0)
		close((int)fd);
	return verdict(fd, errno, d, n, "fsopen(tmpfs)");
}

static enum outcome c_open_tree(char *d, size_t n)
{
	long fd = syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | O_CLOEXEC);
	if (fd >= 0)
		close((int)fd);
	return verdict(fd, errno, d, n, "open_tree(/, OPEN_TREE_CLONE)");
}

static enum outcome c_chroot(char *d, size_t n)
{
	long rc = chroot("/");
	return verdict(rc, errno, d, n, "chroot(/)");
}

static enum outcome c_personality(char *d, size_t n)
{
	int old = personality(0xffffffff);
	int rc = personality(PER_LINUX | READ_IMPLIES_EXEC);
	int e = errno;
	int now = personality(0xffffffff);

	if (old >= 0)
		personality((unsigned long)old);
	if (rc < 0)
		return say(R_BLOCKED, d, n, "%s personality(READ_IMPLIES_EXEC)", ename(e));
	if (now < 0 || !(now & READ_IMPLIES_EXEC))
		return say(R_BLOCKED, d, n, "personality(READ_IMPLIES_EXEC) did not take");
	return say(R_OPEN, d, n, "personality(READ_IMPLIES_EXEC) took");
}

static enum outcome c_tiocsti(char *d, size_t n)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), s = -1, rc, e;
	char c = ' ';

	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || !ptsname(m) ||
	    (s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		e = errno;
		if (m >= 0)
			close(m);
		return say(R_SKIP, d, n, "no pty to try TIOCSTI on: %s", ename(e));
	}
	rc = ioctl(s, TIOCSTI, &c);
	e = errno;
	close(s);
	close(m);
	return verdict(rc, e, d, n, "ioctl(TIOCSTI) on a pty");
}

static enum outcome sock(int fam, int type, int proto, char *d, size_t n, const char *what)
{
	int fd = socket(fam, type | SOCK_CLOEXEC, proto);
	int e = errno;

	if (fd >= 0)
		close(fd);
	if (fd < 0 && e == EAFNOSUPPORT)
		return say(R_SKIP, d, n, "EAFNOSUPPORT %s: the kernel lacks it", what);
	return verdict(fd, e, d, n, what);
}

static enum outcome c_sock_packet(char *d, size_t n)
{
	return sock(AF_PACKET, SOCK_RAW, htons(3), d, n, "socket(AF_PACKET)");
}

static enum outcome c_sock_vsock(char *d, size_t n)
{
	return sock(AF_VSOCK, SOCK_STREAM, 0, d, n, "socket(AF_VSOCK)");
}

static enum outcome c_sock_raw(char *d, size_t n)
{
	return sock(AF_INET, SOCK_RAW, IPPROTO_ICMP, d, n, "socket(AF_INET, SOCK_RAW)");
}

static enum outcome c_open_by_handle(char *d, size_t n)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	int mid, fd, e;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mid, 0) < 0)
		return say(R_BLOCKED, d, n, "%s name_to_handle_at(/)", ename(errno));
	int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = open_by_handle_at(root, &h.fh, O_RDONLY | O_CLOEXEC);
	e = errno;
	close(root);
	if (fd >= 0)
		close(fd);
	return verdict(fd, e, d, n, "open_by_handle_at(handle of /)");
}

static enum outcome c_setns(char *d, size_t n)
{
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return say(R_BLOCKED, d, n, "%s open /proc/self/ns/net", ename(errno));
	long rc = setns(fd, CLONE_NEWNET);
	int e = errno;
	close(fd);
	return verdict(rc, e, d, n, "setns(own net namespace)");
}

static enum outcome c_setuid(char *d, size_t n)
{
	if (geteuid() == 0)
		return say(R_OPEN, d, n, "already uid 0");
	long rc = setresuid(0, 0, 0);
	return verdict(rc, errno, d, n, "setresuid(0,0,0)");
}

static enum outcome c_mknod(char *d, size_t n)
{
	char p[64];

	snprintf(p, sizeof(p), "/tmp/c_agent-null.%d", (int)getpid());
	long rc = mknod(p, S_IFCHR | 0600, makedev(1, 3));
	int e = errno;
	unlink(p);
	return verdict(rc, e, d, n, "mknod(/tmp/..., char 1:3)");
}

static enum outcome c_ptrace(char *d, size_t n)
{
	long rc = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return verdict(rc, errno, d, n, "ptrace(PTRACE_TRACEME)");
}

static enum outcome c_unshare_net(char *d, size_t n)
{
	long rc = unshare(CLONE_NEWNET);
	return verdict(rc, errno, d, n, "unshare(CLONE_NEWNET)");
}

static enum outcome c_unshare_user(char *d, size_t n)
{
	long rc = unshare(CLONE_NEWUSER);
	return verdict(rc, errno, d, n, "unshare(CLONE_NEWUSER)");
}

/* ------------------------------------------------------------- process */

static atomic_int threads_done;

static void *thread_fn(void *arg)
{
	volatile uint64_t x = (uintptr_t)arg;

	for (int i = 0; i < 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	atomic_fetch_add(&threads_done, 1);
	return NULL;
}

static enum outcome c_threads(char *d, size_t n)
{
	pthread_t t[16];
	int made = 0, rc = 0;

	for (int i = 0; i < 16; i++) {
		rc = pthread_create(&t[made], NULL, thread_fn, (void *)(uintptr_t)i);
		if (rc)
			break;
		made++;
	}
	for (int i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	if (made < 16 || atomic_load(&threads_done) != 16)
		return say(R_BLOCKED, d, n, "%s only %d of 16 threads ran", ename(rc), made);
	return say(R_OPEN, d, n, "16 threads ran and joined");
}

static enum outcome c_compute(char *d, size_t n)
{
	/* Sieve: there are 17984 primes below 200000. */
	static bool comp[200000];
	int count = 0;

	for (int i = 2; i < 200000; i++) {
		if (comp[i])
			continue;
		count++;
		for (long j = (long)i * i; j < 200000; j += i)
			comp[j] = true;
	}
	if (count != 17984)
		return say(R_BLOCKED, d, n, "sieve counted %d primes, want 17984", count);
	return say(R_OPEN, d, n, "17984 primes below 200000");
}

static enum outcome probe_pid(pid_t pid, char *d, size_t n, const char *what)
{
	if (pid <= 0)
		return say(R_SKIP, d, n, "no pid for %s", what);
	long rc = kill(pid, 0);
	int e = errno;
	if (rc == 0)
		return say(R_OPEN, d, n, "kill(%d, 0) succeeded: %s can be signalled", (int)pid, what);
	return say(R_BLOCKED, d, n, "%s kill(%d, 0) (%s)", ename(e), (int)pid, what);
}

static enum outcome c_kill_init(char *d, size_t n)
{
	return probe_pid(1, d, n, "pid 1");
}

/* MOCK_LAUNCHER_PID, or with "@FILE" the pid a deployment test's hook
 * writes to FILE once it knows it (waits up to 20 s); 0 when unknown. */
static pid_t launcher_pid(const char *v)
{
	if (v[0] != '@')
		return (pid_t)atoi(v);
	for (int i = 0; i < 200; i++) {
		char buf[32] = "";
		int fd = open(v + 1, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t r = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (r > 0 && atoi(buf) > 0)
				return (pid_t)atoi(buf);
		}
		usleep(100 * 1000);
	}
	return 0;
}

static enum outcome c_kill_launcher(char *d, size_t n)
{
	const char *p = env("MOCK_LAUNCHER_PID");
	pid_t pid;

	if (!p)
		return need_env("MOCK_LAUNCHER_PID", d, n);
	pid = launcher_pid(p);
	if (pid <= 0)
		return say(R_SKIP, d, n, "%s: no launcher pid after 20 s", p + 1);
	return probe_pid(pid, d, n, "the launcher (host pid)");
}

static enum outcome c_kill_host(char *d, size_t n)
{
	const char *p = env("MOCK_HOST_PIDS");
	char buf[256], *save = NULL, *tok;
	enum outcome r = R_BLOCKED;
	size_t used = 0;

	if (!p)
		return need_env("MOCK_HOST_PIDS", d, n);
	snprintf(buf, sizeof(buf), "%s", p);
	d[0] = '\0';
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char one[160];
		if (probe_pid((pid_t)atoi(tok), one, sizeof(one), "host process") == R_OPEN)
			r = R_OPEN;
		used += (size_t)snprintf(d + used, used < n ? n - used : 0, "%s%s", used ? "; " : "",
					 one);
		if (used >= n)
			break;
	}
	return r;
}

static enum outcome c_kill_all(char *d, size_t n)
{
	long rc = kill(-1, 0);
	return verdict(rc, errno, d, n, "kill(-1, 0) (every process it may signal)");
}

static enum outcome c_pid_scan(char *d, size_t n)
{
	long max = 32768;
	int seen = 0, first = 0;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 32768;
		fclose(f);
	}
	if (max > (1L << 22))
		max = 1L << 22;
	for (long p = 2; p < max; p++) {
		if (p == getpid())
			continue;
		if (kill((pid_t)p, 0) == 0 || errno == EPERM) {
			if (!first)
				first = (int)p;
			seen++;
		}
	}
	if (seen)
		return say(R_OPEN, d, n, "%d other processes exist in its pid namespace (first %d)",
			    seen, first);
	return say(R_BLOCKED, d, n, "ESRCH for every pid 2..%ld but its own", max - 1);
}

/* ------------------------------------------------------------- network */

/* Connect with a timeout; returns an fd or -1 with *e. */
static int tcp_connect(const char *host, int port, int ms, int *e)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one_err = 0;
	socklen_t el = sizeof(one_err);

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in6);
	} else {
		*e = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*e = errno;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS) {
			*e = errno;
			close(fd);
			return -1;
		}
		struct pollfd p = {fd, POLLOUT, 0};
		int pr = poll(&p, 1, ms);
		if (pr <= 0) {
			*e = pr == 0 ? ETIMEDOUT : errno;
			close(fd);
			return -1;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &one_err, &el);
		if (one_err) {
			*e = one_err;
			close(fd);
			return -1;
		}
	}
	fcntl(fd, F_SETFL, 0);
	return fd;
}

static enum outcome try_connect(const char *host, int port, char *d, size_t n)
{
	int e = 0, fd = tcp_connect(host, port, 2000, &e);
	bool v6 = strchr(host, ':') != NULL;

	if (fd < 0)
		return say(R_BLOCKED, d, n, "%s connect %s%s%s:%d", ename(e), v6 ? "[" : "", host,
			   v6 ? "]" : "", port);
	close(fd);
	return say(R_OPEN, d, n, "connected to %s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

static enum outcome c_net_outside(char *d, size_t n)
{
	const char *a = env("MOCK_OUTSIDE_ADDR"), *p = env("MOCK_OUTSIDE_PORT");
	if (!a || !p)
		return need_env("MOCK_OUTSIDE_ADDR/PORT", d, n);
	return try_connect(a, atoi(p), d, n);
}

static enum outcome c_net_outside_udp(char *d, size_t n)
{
	const char *a = env("MOCK_OUTSIDE_ADDR"), *p = env("MOCK_OUTSIDE_PORT");
	struct sockaddr_in sa = {.sin_family = AF_INET};

	if (!a || !p)
		return need_env("MOCK_OUTSIDE_ADDR/PORT", d, n);
	sa.sin_port = htons((uint16_t)atoi(p));
	inet_pton(AF_INET, a, &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return say(R_BLOCKED, d, n, "%s socket(AF_INET, SOCK_DGRAM)", ename(errno));
	long rc = sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (rc < 0)
		return say(R_BLOCKED, d, n, "%s sendto %s:%s (UDP)", ename(e), a, p);
	return say(R_OPEN, d, n, "a UDP datagram left for %s:%s", a, p);
}

static enum outcome host_port(const char *host, char *d, size_t n)
{
	const char *p = env("MOCK_HOST_PORT");
	if (!p)
		return need_env("MOCK_HOST_PORT", d, n);
	return try_connect(host, atoi(p), d, n);
}

static enum outcome c_net_host_lo(char *d, size_t n)
{
	return host_port("127.0.0.1", d, n);
}

static enum outcome c_net_host_lo6(char *d, size_t n)
{
	return host_port("::1", d, n);
}

static enum outcome c_net_host_veth(char *d, size_t n)
{
	const char *a = env("MOCK_OUTSIDE_HOST_ADDR");
	if (!a)
		return need_env("MOCK_OUTSIDE_HOST_ADDR", d, n);
	return host_port(a, d, n);
}

/* The gateway's address from AGENTGW_URL ("http://HOST:PORT"). */
static bool gw_addr(char *host, size_t hn, int *port)
{
	const char *u = env("AGENTGW_URL"), *h, *c;

	if (!u || strncmp(u, "http://", 7) != 0)
		return false;
	h = u + 7;
	if (*h == '[') {
		c = strchr(h, ']');
		if (!c || c[1] != ':')
			return false;
		snprintf(host, hn, "%.*s", (int)(c - h - 1), h + 1);
		*port = atoi(c + 2);
	} else {
		c = strchr(h, ':');
		if (!c)
			return false;
		snprintf(host, hn, "%.*s", (int)(c - h), h);
		*port = atoi(c + 1);
	}
	return *port > 0;
}

static enum outcome c_net_gw_host_port(char *d, size_t n)
{
	char host[64];
	int port;

	if (!gw_addr(host, sizeof(host), &port))
		return need_env("AGENTGW_URL", d, n);
	return host_port(host, d, n);
}

/* One HTTP/1.1 request with Connection: close; status or -1 with *e. */
static int http(const char *host, int port, const char *method, const char *path,
		const char *token, const char *body, char *resp, size_t rn, int *e)
{
	char req[2048];
	size_t got = 0;
	int fd = tcp_connect(host, port, 3000, e), len, status = -1;

	if (fd < 0)
		return -1;
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	len = snprintf(req, sizeof(req),
		       "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s%s"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		       method, path, host, token ? "Authorization: Bearer " : "", token ? token : "",
		       token ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
	if (write(fd, req, (size_t)len) != len) {
		*e = errno;
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, resp + got, rn - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == rn - 1)
			break;
	}
	resp[got] = '\0';
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
		*e = EPROTO;
		return -1;
	}
	return status;
}

static enum outcome c_service(char *d, size_t n)
{
	const char *port = env("MOCK_SERVICE_PORT"), *want = env("MOCK_SERVICE_TEXT"), *svc;
	char key[64], host[64], resp[4096];
	int e = 0, st;

	if (!port || !want)
		return need_env("MOCK_SERVICE_PORT/TEXT", d, n);
	snprintf(key, sizeof(key), "AGENTLAUNCH_SERVICE_%s", port);
	svc = env(key);
	if (!svc)
		return say(R_BLOCKED, d, n, "%s is not in the environment", key);
	const char *c = strrchr(svc, ':');
	if (!c)
		return say(R_BLOCKED, d, n, "%s=%s: want HOST:PORT", key, svc);
	snprintf(host, sizeof(host), "%.*s", (int)(c - svc), svc);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	st = http(host, atoi(c + 1), "GET", "/hello.txt", NULL, NULL, resp, sizeof(resp), &e);
	if (st < 0)
		return say(R_BLOCKED, d, n, "%s GET http://%s/hello.txt", ename(e), svc);
	if (st != 200 || !strstr(resp, want))
		return say(R_BLOCKED, d, n, "GET http://%s/hello.txt: status %d, text missing", svc,
			   st);
	return say(R_OPEN, d, n, "GET http://%s/hello.txt: 200 with the service's text", svc);
}

/* ------------------------------------------------------------- gateway */

static enum outcome gw_call(const char *path, const char *body, bool token, int want,
			    const char *needle, char *d, size_t n)
{
	char host[64], resp[16384];
	int port, e = 0, st;

	if (!gw_addr(host, sizeof(host), &port))
		return need_env("AGENTGW_URL", d, n);
	if (token && !env("AGENTGW_TOKEN"))
		return need_env("AGENTGW_TOKEN", d, n);
	st = http(host, port, "POST", path, token ? env("AGENTGW_TOKEN") : NULL, body, resp,
		  sizeof(resp), &e);
	if (st < 0)
		return say(R_BLOCKED, d, n, "%s POST %s", ename(e), path);
	const char *b = strstr(resp, "\r\n\r\n");
	b = b ? b + 4 : resp;
	if (st != want || (needle && !strstr(b, needle)))
		return say(R_BLOCKED, d, n, "POST %s %s: %d (want %d with %s): %.160s", path, body, st,
			   want, needle ? needle : "-", b);
	return say(R_OPEN, d, n, "POST %s %s: %d %s", path, body, st, needle ? needle : "");
}

static enum outcome c_gw_exec(char *d, size_t n)
{
	return gw_call("/v1/exec", "{\"command\":\"echo c-agent-ok\"}", true, 200,
		       "\"stdout\":\"c-agent-ok\\n\"", d, n);
}

static enum outcome c_gw_notoken(char *d, size_t n)
{
	return gw_call("/v1/exec", "{\"command\":\"echo hi\"}", false, 401, "unauthorized", d, n);
}

static enum outcome c_policy_env(char *d, size_t n)
{
	return gw_call("/v1/exec", "{\"command\":\"cat .env\"}", true, 403,
		       "\"matched_rule\":\"deny_credentials\"", d, n);
}

/* ---------------------------------------------------------- filesystem */

/* Read a file: open when at least one byte came back. */
static enum outcome read_secret(const char *path, char *d, size_t n)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return say(R_BLOCKED, d, n, "%s open(%s)", ename(errno), path);
	ssize_t r = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	if (r < 0)
		return say(R_BLOCKED, d, n, "%s read(%s)", ename(e), path);
	if (r == 0)
		return say(R_BLOCKED, d, n, "%s reads as empty (masked)", path);
	return say(R_OPEN, d, n, "read %zd bytes of %s", r, path);
}

static enum outcome c_fs_shadow(char *d, size_t n)
{
	return read_secret("/etc/shadow", d, n);
}

static enum outcome c_fs_root(char *d, size_t n)
{
	DIR *dir = opendir("/root");
	int count = 0;
	struct dirent *de;

	if (!dir)
		return say(R_BLOCKED, d, n, "%s opendir(/root)", ename(errno));
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			count++;
	closedir(dir);
	if (!count)
		return say(R_BLOCKED, d, n, "/root lists as empty (masked)");
	return say(R_OPEN, d, n, "/root lists %d entries", count);
}

static enum outcome c_fs_other_home(char *d, size_t n)
{
	const char *h = env("MOCK_OTHER_HOME");
	char p[PATH_MAX];

	if (!h)
		return need_env("MOCK_OTHER_HOME", d, n);
	snprintf(p, sizeof(p), "%s/secret.txt", h);
	return read_secret(p, d, n);
}

static enum outcome c_fs_audit_key(char *d, size_t n)
{
	const char *k = env("MOCK_AUDIT_KEY");
	if (!k)
		return need_env("MOCK_AUDIT_KEY", d, n);
	return read_secret(k, d, n);
}

static enum outcome create_in(const char *dir, char *d, size_t n)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/.c_agent-probe.%d", dir, (int)getpid());
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return say(R_BLOCKED, d, n, "%s create a file in %s", ename(errno), dir);
	close(fd);
	unlink(p);
	return say(R_OPEN, d, n, "created (and removed) a file in %s", dir);
}

static enum outcome c_fs_write_etc(char *d, size_t n)
{
	return create_in("/etc", d, n);
}

static enum outcome c_fs_write_own_dir(char *d, size_t n)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", self_path);
	char *s = strrchr(dir, '/');
	if (!s || s == dir)
		return say(R_SKIP, d, n, "no directory in %s", self_path);
	*s = '\0';
	return create_in(dir, d, n);
}

static enum outcome roundtrip(const char *dir, char *d, size_t n)
{
	char p[PATH_MAX], buf[64];
	const char msg[] = "c_agent was here\n";

	snprintf(p, sizeof(p), "%s/c_agent-file.%d", dir, (int)getpid());
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return say(R_BLOCKED, d, n, "%s create %s", ename(errno), p);
	ssize_t w = write(fd, msg, sizeof(msg) - 1);
	ssize_t r = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	unlink(p);
	if (w != (ssize_t)sizeof(msg) - 1 || r != w || memcmp(buf, msg, (size_t)r) != 0)
		return say(R_BLOCKED, d, n, "write/read back %s failed", p);
	return say(R_OPEN, d, n, "wrote, read back and removed %s", p);
}

static enum outcome c_fs_workdir(char *d, size_t n)
{
	char cwd[PATH_MAX];

	if (!getcwd(cwd, sizeof(cwd)))
		return say(R_BLOCKED, d, n, "%s getcwd", ename(errno));
	return roundtrip(cwd, d, n);
}

static enum outcome c_fs_tmp(char *d, size_t n)
{
	return roundtrip("/tmp", d, n);
}

static enum outcome c_fs_system_read(char *d, size_t n)
{
	return read_secret("/etc/os-release", d, n);
}

/* ---------------------------------------------------------------- table */

static const struct check checks[] = {
    /* exec: each escaped exec re-enters here with --resume */
    {"seccomp", "execve-self", true, false, c_execve_self},
    {"seccomp", "execve-sh", true, false, c_execve_sh},
    {"seccomp", "execveat-path", true, false, c_execveat_path},
    {"seccomp", "execveat-memfd", true, false, c_execveat_memfd},
    {"seccomp", "exec-race-9-threads", true, false, c_exec_race},
    {"seccomp", "exec-i386-int80", true, true, c_exec_i386},
    {"seccomp", "x32-abi-syscall", true, true, c_x32},
    /* process creation */
    {"seccomp", "fork", true, false, c_fork},
    {"seccomp", "fork-syscall", true, false, c_fork_raw},
    {"seccomp", "vfork", true, false, c_vfork},
    {"seccomp", "clone-process", true, false, c_clone},
    {"seccomp", "clone-vm-vfork", true, false, c_clone_vfork},
    {"seccomp", "clone3", true, false, c_clone3},
    {"seccomp", "posix_spawn", true, false, c_posix_spawn},
    {"seccomp", "system", true, false, c_system},
    /* privileged / attack-surface syscalls */
    {"seccomp", "io_uring_setup", true, false, c_io_uring},
    {"seccomp", "bpf", true, false, c_bpf},
    {"seccomp", "perf_event_open", true, false, c_perf},
    {"seccomp", "userfaultfd", true, false, c_userfaultfd},
    {"seccomp", "add_key", true, false, c_keyctl},
    {"seccomp", "process_vm_readv", true, false, c_process_vm_readv},
    {"seccomp", "mount", true, false, c_mount},
    {"seccomp", "fsopen", true, false, c_fsopen},
    {"seccomp", "open_tree", true, false, c_open_tree},
    {"seccomp", "chroot", true, false, c_chroot},
    {"seccomp", "personality", true, false, c_personality},
    {"seccomp", "ioctl-TIOCSTI", true, false, c_tiocsti},
    {"seccomp", "socket-AF_PACKET", true, false, c_sock_packet},
    {"seccomp", "socket-AF_VSOCK", true, false, c_sock_vsock},
    {"seccomp", "open_by_handle_at", true, false, c_open_by_handle},
    {"seccomp", "setns", true, false, c_setns},
    /* privileges, pid namespace, signals */
    {"process", "setresuid-0", true, false, c_setuid},
    {"process", "mknod-device", true, false, c_mknod},
    {"process", "socket-SOCK_RAW", true, false, c_sock_raw},
    {"process", "kill-pid-1", true, false, c_kill_init},
    {"process", "kill-launcher", true, false, c_kill_launcher},
    {"process", "kill-host-pids", true, false, c_kill_host},
    {"process", "kill-all", true, false, c_kill_all},
    {"process", "pid-scan", true, false, c_pid_scan},
    {"process", "threads", false, false, c_threads},
    {"process", "compute", false, false, c_compute},
    /* network */
    {"network", "tcp-outside-netns", true, false, c_net_outside},
    {"network", "udp-outside-netns", true, false, c_net_outside_udp},
    {"network", "host-port-127.0.0.1", true, false, c_net_host_lo},
    {"network", "host-port-[::1]", true, false, c_net_host_lo6},
    {"network", "host-port-veth-addr", true, false, c_net_host_veth},
    {"network", "host-port-gateway-addr", true, false, c_net_gw_host_port},
    {"network", "allowed-service", false, false, c_service},
    /* filesystem */
    {"filesystem", "read-/etc/shadow", true, false, c_fs_shadow},
    {"filesystem", "list-/root", true, false, c_fs_root},
    {"filesystem", "read-other-home", true, false, c_fs_other_home},
    {"filesystem", "read-audit-key", true, false, c_fs_audit_key},
    {"filesystem", "write-/etc", true, false, c_fs_write_etc},
    {"filesystem", "write-own-binary-dir", true, false, c_fs_write_own_dir},
    {"filesystem", "workdir-read-write", false, false, c_fs_workdir},
    {"filesystem", "tmp-read-write", false, false, c_fs_tmp},
    {"filesystem", "read-system-file", false, false, c_fs_system_read},
    /* gateway and policy */
    {"gateway", "exec-echo", false, false, c_gw_exec},
    {"gateway", "no-token-401", false, false, c_gw_notoken},
    {"policy", "cat-.env-403", false, false, c_policy_env},
    /* last: these change this process for good when they work */
    {"seccomp", "ptrace-TRACEME", true, false, c_ptrace},
    {"seccomp", "unshare-net", true, false, c_unshare_net},
    {"seccomp", "unshare-user", true, false, c_unshare_user},
};
#define N_CHECKS ((int)(sizeof(checks) / sizeof(checks[0])))

static void report(int i, enum outcome r, const char *detail)
{
	const struct check *c = &checks[i];
	const char *v;

	if (r == R_SKIP) {
		v = "SKIP";
		n_skip++;
	} else if ((r == R_BLOCKED) == c->escape) {
		v = "PASS";
		n_pass++;
	} else {
		v = "FAIL";
		n_fail++;
	}
	printf("%s %-10s %-6s c.%-26s %s%s\n", v, c->layer, c->escape ? "escape" : "works",
	       c->name, r == R_OPEN && c->escape ? "ESCAPED: " : "", detail);
	fflush(stdout);
}

static void run_one(int i)
{
	char detail[1024];

	cur_index = i;
	detail[0] = '\0';
	enum outcome r = checks[i].fn(detail, sizeof(detail));
	report(i, r, detail);
}

static int finish(void)
{
	printf("c_agent: %u passed, %u failed, %u skipped\n", n_pass, n_fail, n_skip);
	return n_fail ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: c_agent [--list | --only NAME]\n"
			"  (see tests/mock_agent/README.md; run it through run.sh)\n");
	return 2;
}

int main(int argc, char **argv)
{
	int start = 0;
	bool one = false, resumed = false;
	const char *only = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (readlink("/proc/self/exe", self_path, sizeof(self_path) - 1) <= 0 ||
	    strstr(self_path, "memfd:"))
		snprintf(self_path, sizeof(self_path), "%s", argv[0]);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
			start = atoi(argv[++i]);
			resumed = true;
		} else if (strcmp(argv[i], "--tally") == 0 && i + 1 < argc) {
			if (sscanf(argv[++i], "%u,%u,%u", &n_pass, &n_fail, &n_skip) != 3)
				return usage();
		} else if (strcmp(argv[i], "--self") == 0 && i + 1 < argc) {
			snprintf(self_path, sizeof(self_path), "%s", argv[++i]);
		} else if (strcmp(argv[i], "--one") == 0) {
			one = true;
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--list") == 0) {
			for (int k = 0; k < N_CHECKS; k++)
				printf("%s %s %s%s\n", checks[k].layer, checks[k].name,
				       checks[k].escape ? "escape" : "works",
				       checks[k].separate ? " separate" : "");
			return 0;
		} else {
			return usage();
		}
	}
	if (resumed) {
		/* A new image: the exec of check `start` got through. */
		if (start < 0 || start >= N_CHECKS)
			return usage();
		report(start, R_OPEN, "a new program image is running (the exec worked)");
		if (one)
			return finish();
		start++;
	}
	if (only) {
		for (int i = 0; i < N_CHECKS; i++)
			if (strcmp(checks[i].name, only) == 0) {
				run_one(i);
				return finish();
			}
		fprintf(stderr, "c_agent: no check named '%s' (c_agent --list)\n", only);
		return 2;
	}
	for (int i = start; i < N_CHECKS; i++)
		if (!checks[i].separate)
			run_one(i);
	return finish();
}
