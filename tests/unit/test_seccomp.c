/* Unit tests for shared/seccomp.c and shared/notify.c.
 *
 * Check forks every test, so a test may load filters; tests that need a
 * clean process (controls, supervisors) fork once more.  Every protection
 * test has a control that shows the same call is not refused, or not
 * killed, without the filter (run as root, as the CI does). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/notify.h"
#include "shared/seccomp.h"
#include "shared/util.h"

#define CHILD_CHECK(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			dprintf(2, "child check failed at line %d: ", __LINE__);                   \
			dprintf(2, __VA_ARGS__);                                                   \
			dprintf(2, "\n");                                                          \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

static struct al_syscall_profile profile(bool default_allow, int deny_errno, char **deny,
					 char **allow)
{
	struct al_syscall_profile p = {
	    .name = "test", .default_allow = default_allow, .deny_errno = deny_errno};
	for (p.deny.v = deny; deny && deny[p.deny.n]; p.deny.n++)
		;
	for (p.allow.v = allow; allow && allow[p.allow.n]; p.allow.n++)
		;
	return p;
}

static void build_ok(const struct al_syscall_profile *sc, unsigned flags, struct al_bpf *b)
{
	al_err e = {0};
	ck_assert_msg(al_seccomp_build(sc, flags, b, &e) == 0, "build: %s", e.msg);
	ck_assert(b->len > 0 && b->insns != NULL);
}

/* In a child: no_new_privs, then the filter. */
static void child_load(const struct al_bpf *b, unsigned flags, int *lfd)
{
	al_err e = {0};
	CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
	CHILD_CHECK(al_seccomp_load(b, flags, lfd, &e) == 0, "load: %s", e.msg);
}

/* Run fn in a forked child (with bpf loaded first unless NULL); the wait
 * status. */
static int in_child(const struct al_bpf *bpf, void (*fn)(void *), void *arg)
{
	int st = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (bpf != NULL) {
			int lfd = -1;
			child_load(bpf, 0, &lfd);
		}
		fn(arg);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_exit0(int st)
{
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: status %#x", st);
}

static bool killed_by_sigsys(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

/* ---- profile deny list ---------------------------------------------------- */

static char *five[] = {"ptrace", "mount", "bpf", "keyctl", "unshare", NULL};

/* The five calls with arguments that are harmless if they run. */
static void five_calls(long rc[5], int en[5])
{
	errno = 0;
	rc[0] = syscall(SYS_ptrace, PTRACE_PEEKDATA, 1, 0, 0); /* ESRCH: not traced */
	en[0] = errno;
	errno = 0;
	rc[1] = syscall(SYS_mount, NULL, NULL, NULL, 0, NULL);
	en[1] = errno;
	errno = 0;
	rc[2] = syscall(SYS_bpf, -1, NULL, 0);
	en[2] = errno;
	errno = 0;
	rc[3] = syscall(SYS_keyctl, -1, 0, 0, 0, 0);
	en[3] = errno;
	errno = 0;
	rc[4] = syscall(SYS_unshare, 0);
	en[4] = errno;
}

static void five_denied(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	long rc[5];
	int en[5];

	five_calls(rc, en);
	for (int i = 0; i < 5; i++)
		CHILD_CHECK(rc[i] == -1 && en[i] == EPERM, "%s: rc %ld errno %d", five[i], rc[i],
			    en[i]);
	CHILD_CHECK(syscall(SYS_getpid) == getpid() && getpid() != pid, "getpid");
}

static void five_not_denied(void *arg)
{
	long rc[5];
	int en[5];

	(void)arg;
	five_calls(rc, en);
	for (int i = 0; i < 5; i++)
		CHILD_CHECK(!(rc[i] == -1 && en[i] == EPERM), "%s is EPERM without a filter",
			    five[i]);
}

START_TEST(test_profile_deny_eperm)
{
	struct al_syscall_profile p = profile(true, EPERM, five, NULL);
	struct al_bpf b = {0};
	pid_t me = getpid();

	build_ok(&p, 0, &b);
	assert_exit0(in_child(&b, five_denied, &me));
	al_bpf_free(&b);
}
END_TEST

START_TEST(test_profile_deny_control)
{
	ck_assert_msg(geteuid() == 0, "the control needs root");
	assert_exit0(in_child(NULL, five_not_denied, NULL));
}
END_TEST

START_TEST(test_unknown_name)
{
	char *deny[] = {"ptrace", "nosuchcall", NULL};
	char *allow[] = {"read", "nosuchcall", NULL};
	char *absent[] = {"ptrace", "socketcall", "ipc", NULL};
	struct al_syscall_profile p = profile(true, EPERM, deny, NULL);
	struct al_syscall_profile q = profile(false, EPERM, NULL, allow);
	struct al_syscall_profile r = profile(true, EPERM, absent, NULL);
	struct al_syscall_profile z = profile(true, 0, deny, NULL);
	struct al_bpf b = {0};
	al_err e = {0};

	ck_assert_int_lt(al_seccomp_build(&p, 0, &b, &e), 0);
	ck_assert_msg(strstr(e.msg, "\"nosuchcall\"") && strstr(e.msg, "deny"), "%s", e.msg);
	ck_assert_ptr_null(b.insns);
	ck_assert_int_lt(al_seccomp_build(&q, 0, &b, &e), 0);
	ck_assert_msg(strstr(e.msg, "\"nosuchcall\"") && strstr(e.msg, "allow"), "%s", e.msg);
	ck_assert_int_lt(al_seccomp_build_cached(&p, 0, "/nonexistent/x", &b, &e), 0);
	ck_assert_msg(strstr(e.msg, "nosuchcall") != NULL, "%s", e.msg);
	/* Known to libseccomp but not on x86_64: skipped. */
	build_ok(&r, 0, &b);
	al_bpf_free(&b);
	/* errno 0 would make denied calls "succeed". */
	ck_assert_int_lt(al_seccomp_build(&z, 0, &b, &e), 0);
	ck_assert_int_lt(al_seccomp_build(NULL, 0x80, &b, &e), 0);
}
END_TEST

/* ---- default-deny profile ------------------------------------------------ */

static int open_pty(int *master)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(m, 0);
	ck_assert_int_eq(grantpt(m), 0);
	ck_assert_int_eq(unlockpt(m), 0);
	int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(s, 0);
	*master = m;
	return s;
}

static void default_deny_body(void *arg)
{
	int tty = *(int *)arg;
	struct winsize ws;
	char c = 'x';

	errno = 0;
	CHILD_CHECK(syscall(SYS_getppid) == -1 && errno == EACCES, "getppid: errno %d", errno);
	CHILD_CHECK(syscall(SYS_getpid) > 0, "getpid");
	CHILD_CHECK(ioctl(tty, TIOCGWINSZ, &ws) == 0, "TIOCGWINSZ: errno %d", errno);
	errno = 0;
	CHILD_CHECK(ioctl(tty, TIOCSTI, &c) == -1 && errno == EPERM, "TIOCSTI errno %d", errno);
	errno = 0;
	CHILD_CHECK(syscall(SYS_ioctl, tty, (unsigned long)TIOCSTI | (1ul << 32), &c) == -1 &&
			errno == EPERM,
		    "TIOCSTI|1<<32 errno %d", errno);
	errno = 0;
	CHILD_CHECK(ioctl(tty, TIOCLINUX, &c) == -1 && errno == EPERM, "TIOCLINUX errno %d", errno);
}

START_TEST(test_default_deny_profile)
{
	char *allow[] = {"exit_group", "exit", "getpid", "write", "ioctl", NULL};
	char *allow_noioctl[] = {"exit_group", "exit", "getpid", "write", NULL};
	struct al_syscall_profile p = profile(false, EACCES, NULL, allow);
	struct al_syscall_profile q = profile(false, EACCES, NULL, allow_noioctl);
	struct al_bpf b = {0};
	int master, tty = open_pty(&master);

	build_ok(&p, 0, &b);
	printf("seccomp: default-deny profile with ioctl (minus TIOCSTI/TIOCLINUX): %u insns\n",
	       b.len);
	assert_exit0(in_child(&b, default_deny_body, &tty));
	al_bpf_free(&b);
	build_ok(&q, 0, &b);
	al_bpf_free(&b);
	close(tty);
	close(master);
}
END_TEST

/* ---- other ABIs ---------------------------------------------------------- */

static void int80_execve(void *arg)
{
	long ret;

	(void)arg;
	/* i386 execve(NULL, NULL, NULL): -EFAULT if it runs at all. */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(11L), "b"(0L), "c"(0L), "d"(0L) : "memory");
	_exit(ret == -EFAULT ? 0 : 2);
}

static void x32_getpid(void *arg)
{
	(void)arg;
	long r = syscall(0x40000000L | 39);
	_exit(r == -1 ? 0 : 3);
}

START_TEST(test_other_abis_killed)
{
	struct al_syscall_profile p = profile(true, EPERM, five, NULL);
	char *allow[] = {"exit_group", "write", NULL};
	struct al_syscall_profile q = profile(false, EPERM, NULL, allow);
	struct al_bpf b[4] = {{0}};
	al_err e = {0};

	build_ok(NULL, 0, &b[0]);
	build_ok(&p, AL_SC_SPAWN_LOCK, &b[1]);
	build_ok(&q, 0, &b[2]);
	ck_assert_msg(al_seccomp_build_agent_lock(&b[3], &e) == 0, "%s", e.msg);
	for (int i = 0; i < 4; i++) {
		/* The lock's filters notify; load them without a supervisor
		 * through a forked child that takes a listener. */
		int st;
		pid_t pid = fork();
		if (pid == 0) {
			int lfd = -1;
			child_load(&b[i], i == 1 || i == 3 ? AL_SC_LOAD_LISTENER : 0, &lfd);
			int80_execve(NULL);
		}
		waitpid(pid, &st, 0);
		ck_assert_msg(killed_by_sigsys(st), "filter %d: int 0x80 status %#x", i, st);
		pid = fork();
		if (pid == 0) {
			int lfd = -1;
			child_load(&b[i], i == 1 || i == 3 ? AL_SC_LOAD_LISTENER : 0, &lfd);
			x32_getpid(NULL);
		}
		waitpid(pid, &st, 0);
		ck_assert_msg(killed_by_sigsys(st), "filter %d: x32 status %#x", i, st);
		al_bpf_free(&b[i]);
	}
}
END_TEST

/* Without a filter the same calls return (or at worst fault): the kill
 * above comes from the arch check, not from the calls themselves. */
START_TEST(test_other_abis_control)
{
	int st = in_child(NULL, int80_execve, NULL);
	ck_assert_msg(!killed_by_sigsys(st), "int 0x80 killed by SIGSYS without a filter");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "int 0x80 execve(NULL) did not return -EFAULT (IA32 emulation off?) %#x", st);
	st = in_child(NULL, x32_getpid, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "x32 call without a filter: %#x", st);
}
END_TEST

/* ---- TIOCSTI ----------------------------------------------------------- */

static void tiocsti_calls(void *arg)
{
	int tty = ((int *)arg)[0];
	bool filtered = ((int *)arg)[1];
	char c = ' ';
	long r1, r2, r3;
	int e1, e2;
	struct winsize ws;

	errno = 0;
	r1 = ioctl(tty, TIOCSTI, &c);
	e1 = errno;
	errno = 0;
	r2 = syscall(SYS_ioctl, tty, (unsigned long)TIOCSTI | (0xdeadul << 32), &c);
	e2 = errno;
	r3 = ioctl(tty, TIOCGWINSZ, &ws);
	CHILD_CHECK(r3 == 0, "TIOCGWINSZ");
	if (filtered) {
		CHILD_CHECK(r1 == -1 && e1 == EPERM, "TIOCSTI: %ld errno %d", r1, e1);
		CHILD_CHECK(r2 == -1 && e2 == EPERM, "TIOCSTI|high bits: %ld errno %d", r2, e2);
		errno = 0;
		CHILD_CHECK(ioctl(tty, TIOCLINUX, &c) == -1 && errno == EPERM, "TIOCLINUX %d",
			    errno);
	} else {
		/* root may inject; the kernel ignores the high bits. */
		CHILD_CHECK(r1 == 0, "TIOCSTI without filter: errno %d", e1);
		CHILD_CHECK(r2 == 0, "TIOCSTI|high bits without filter: errno %d", e2);
	}
}

START_TEST(test_tiocsti)
{
	struct al_bpf b = {0};
	int master, arg[2];

	arg[0] = open_pty(&master);
	build_ok(NULL, 0, &b);
	arg[1] = 1;
	assert_exit0(in_child(&b, tiocsti_calls, arg));
	if (geteuid() == 0) {
		arg[1] = 0;
		assert_exit0(in_child(NULL, tiocsti_calls, arg));
	}
	al_bpf_free(&b);
	close(arg[0]);
	close(master);
}
END_TEST

/* ---- the spawn lock, end to end ------------------------------------------ */

struct seen {
	int n;
	char syscall[16][32];
	char path[16][4096];
	char argv[16][8192];
};

static void on_violation(const struct al_violation *v, void *arg)
{
	struct seen *s = arg;

	ck_assert_int_gt(v->pid, 0);
	if (s->n >= 16)
		return;
	snprintf(s->syscall[s->n], sizeof(s->syscall[0]), "%s", v->syscall);
	snprintf(s->path[s->n], sizeof(s->path[0]), "%s", v->path);
	snprintf(s->argv[s->n], sizeof(s->argv[0]), "%s", v->argv_json);
	s->n++;
}

static int seen_find(const struct seen *s, const char *sc, const char *path)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->syscall[i], sc) == 0 &&
		    (path == NULL || strcmp(s->path[i], path) == 0))
			return i;
	return -1;
}

/* Fork; the child loads bpf with a listener, hands it over, execs argv.
 * The parent supervises until the child exits.  Returns the wait status;
 * the child's stdout+stderr in out. */
static int run_locked_hook(const struct al_bpf *bpf, char *const argv[], void (*pre_exec)(void),
			   struct al_notify_state *st, struct seen *seen, char *out, size_t outcap)
{
	int sv[2], op[2], lfd = -1, status = 0;
	al_err e = {0};
	size_t outlen = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(pipe2(op, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int l = -1;
		close(sv[0]);
		close(op[0]);
		dup2(op[1], 1);
		dup2(op[1], 2);
		child_load(bpf, AL_SC_LOAD_LISTENER, &l);
		CHILD_CHECK((fcntl(l, F_GETFD) & FD_CLOEXEC) != 0, "listener is not O_CLOEXEC");
		CHILD_CHECK(al_send_fd(sv[1], l, &e) == 0, "%s", e.msg);
		close(l);
		close(sv[1]);
		if (pre_exec != NULL)
			pre_exec();
		execv(argv[0], argv);
		_exit(127);
	}
	close(sv[1]);
	close(op[1]);
	ck_assert_msg(al_recv_fd(sv[0], &lfd, &e) == 0, "%s", e.msg);
	ck_assert((fcntl(lfd, F_GETFD) & FD_CLOEXEC) != 0);
	close(sv[0]);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	ck_assert_int_ge(pidfd, 0);
	for (;;) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN},
				      {.fd = pidfd, .events = POLLIN}};
		int n = poll(p, 2, 20000);
		ck_assert_msg(n > 0, "supervisor timed out");
		if (p[0].revents & POLLIN) {
			ck_assert_msg(al_notify_handle(lfd, st, on_violation, seen, &e) == 0, "%s",
				      e.msg);
			continue;
		}
		if (p[1].revents & POLLIN)
			break;
		ck_assert_msg(!(p[0].revents & POLLERR), "listener error");
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* Once the only filtered task is reaped the listener hangs up. */
	struct pollfd hp = {.fd = lfd, .events = POLLIN};
	ck_assert_int_eq(poll(&hp, 1, 1000), 1);
	ck_assert_msg(hp.revents & POLLHUP, "no POLLHUP after reaping: %#x", hp.revents);
	for (;;) {
		ssize_t r = read(op[0], out + outlen, outcap - 1 - outlen);
		if (r <= 0)
			break;
		outlen += (size_t)r;
	}
	out[outlen] = '\0';
	close(op[0]);
	close(pidfd);
	close(lfd);
	return status;
}

static int run_locked(const struct al_bpf *bpf, char *const argv[], struct al_notify_state *st,
		      struct seen *seen, char *out, size_t outcap)
{
	return run_locked_hook(bpf, argv, NULL, st, seen, out, outcap);
}

START_TEST(test_spawn_lock_sh)
{
	struct al_bpf b = {0};
	struct al_notify_state st = {0};
	static struct seen seen;
	char out[4096];
	char *argv1[] = {"/bin/sh", "-c", "exec /bin/true", NULL};
	char *argv2[] = {"/bin/sh", "-c", "/bin/true; echo x", NULL};
	int status, i;

	build_ok(NULL, AL_SC_SPAWN_LOCK, &b);
	memset(&seen, 0, sizeof(seen));
	status = run_locked(&b, argv1, &st, &seen, out, sizeof(out));
	printf("seccomp: sh -c 'exec /bin/true' under the lock: status %#x, output: %s", status,
	       out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 127,
		      "status %#x: the first exec must work, the second fail", status);
	ck_assert(st.first_exec_used);
	ck_assert_uint_ge(st.violations, 1);
	i = seen_find(&seen, "execve", "/bin/true");
	ck_assert_msg(i >= 0, "no execve /bin/true violation seen (n=%d)", seen.n);
	ck_assert_str_eq(seen.argv[i], "[\"/bin/true\"]");

	memset(&seen, 0, sizeof(seen));
	memset(&st, 0, sizeof(st));
	status = run_locked(&b, argv2, &st, &seen, out, sizeof(out));
	printf("seccomp: sh -c '/bin/true; echo x' under the lock: status %#x, output: %s", status,
	       out);
	ck_assert(st.first_exec_used);
	ck_assert_uint_ge(st.violations, 1);
	ck_assert_msg(seen_find(&seen, "clone", NULL) >= 0 || seen_find(&seen, "fork", NULL) >= 0 ||
			  seen_find(&seen, "vfork", NULL) >= 0,
		      "no fork violation seen");
	ck_assert_str_eq(seen.path[0], "");
	ck_assert_msg(strstr(out, "fork") != NULL, "sh did not report a failed fork: %s", out);
	al_bpf_free(&b);
}
END_TEST

/* A first notification that is not an exec uses the allowance up: the
 * exec after it is denied too. */
static void fork_before_exec(void)
{
	errno = 0;
	CHILD_CHECK(fork() == -1 && errno == EPERM, "fork before exec: errno %d", errno);
}

START_TEST(test_spawn_lock_first_not_exec)
{
	struct al_bpf b = {0};
	struct al_notify_state st = {0};
	static struct seen seen;
	char out[4096];
	char *argv[] = {"/bin/true", NULL};
	int status;

	build_ok(NULL, AL_SC_SPAWN_LOCK, &b);
	memset(&seen, 0, sizeof(seen));
	status = run_locked_hook(&b, argv, fork_before_exec, &st, &seen, out, sizeof(out));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 127, "status %#x: %s", status,
		      out);
	ck_assert(st.first_exec_used);
	ck_assert_uint_eq(st.violations, 2);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_str_eq(seen.syscall[0], "clone");
	ck_assert_str_eq(seen.syscall[1], "execve");
	ck_assert_str_eq(seen.path[1], "/bin/true");
	al_bpf_free(&b);
}
END_TEST

static const char py_script[] =
    "import threading, os, socket, subprocess, ctypes\n"
    "t = threading.Thread(target=lambda: None); t.start(); t.join(); print('thread-ok')\n"
    "try:\n"
    "    os.fork(); print('fork-allowed')\n"
    "except PermissionError: print('fork-eperm')\n"
    "try:\n"
    "    subprocess.run(['/bin/true']); print('subprocess-allowed')\n"
    "except PermissionError: print('subprocess-eperm')\n"
    "try:\n"
    "    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('packet-allowed')\n"
    "except PermissionError: print('packet-eperm')\n"
    "socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(); print('inet-ok')\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.personality.argtypes = [ctypes.c_ulong]\n"
    "if libc.personality(0xffffffff) != -1: print('pers-query-ok')\n"
    "if libc.personality(0x0040000) == -1 and ctypes.get_errno() == 1: print('pers-eperm')\n"
    "args = [b'\\x1b[31mred', b'\\xff\\xfe', b'a' * 2000, b'q\"u\\\\'] + [b'x'] * 70\n"
    "try:\n"
    "    os.execv(b'/bin/true', args); print('exec-allowed')\n"
    "except PermissionError: print('exec-eperm')\n"
    "fd = os.memfd_create('evil\\x1b')\n"
    "os.write(fd, open('/bin/true', 'rb').read())\n"
    "try:\n"
    "    os.execve(fd, ['x'], {}); print('fexec-allowed')\n"
    "except PermissionError: print('fexec-eperm')\n";

START_TEST(test_spawn_lock_python)
{
	struct al_bpf b = {0};
	struct al_notify_state st = {0};
	static struct seen seen;
	char out[8192];
	char *argv[] = {"/usr/bin/python3", "-I", "-c", (char *)py_script, NULL};
	const char *want[] = {"thread-ok\n",	"fork-eperm\n", "subprocess-eperm\n",
			      "packet-eperm\n", "inet-ok\n",	"pers-query-ok\n",
			      "pers-eperm\n",	"exec-eperm\n", "fexec-eperm\n"};
	al_err e = {0};
	json_error_t je;
	int status, i;

	if (access("/usr/bin/python3", X_OK) != 0)
		return; /* nothing to run */
	ck_assert_msg(al_seccomp_build_agent_lock(&b, &e) == 0, "%s", e.msg);
	memset(&seen, 0, sizeof(seen));
	status = run_locked(&b, argv, &st, &seen, out, sizeof(out));
	printf("seccomp: python3 under the agent lock: status %#x, %u violations, output:\n%s",
	       status, st.violations, out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		ck_assert_msg(strstr(out, want[k]) != NULL, "missing %s", want[k]);
	ck_assert(st.first_exec_used);
	ck_assert_uint_ge(st.violations, 4);
	/* fexecve of a memfd: execveat(fd, "", AT_EMPTY_PATH), named by its
	 * hostile memfd name with the escape character neutralised. */
	i = seen_find(&seen, "execveat", NULL);
	ck_assert_msg(i >= 0, "no execveat violation seen");
	printf("seccomp: reported execveat path: %s\n", seen.path[i]);
	ck_assert_msg(strncmp(seen.path[i], "<fd ", 4) == 0 &&
			  strstr(seen.path[i], "memfd:evil\xef\xbf\xbd") != NULL,
		      "%s", seen.path[i]);
	ck_assert_str_eq(seen.argv[i], "[\"x\"]");

	/* The hostile argv came back bounded, escaped and valid JSON. */
	i = seen_find(&seen, "execve", "/bin/true");
	ck_assert_msg(i >= 0, "no execve violation seen");
	printf("seccomp: reported argv: %.300s...\n", seen.argv[i]);
	json_t *a = json_loads(seen.argv[i], 0, &je);
	ck_assert_msg(a != NULL && json_is_array(a), "argv_json is not a JSON array: %s", je.text);
	size_t n = json_array_size(a);
	ck_assert_uint_le(n, AL_VIOLATION_MAX_ARGS + 1);
	ck_assert_str_eq(json_string_value(json_array_get(a, 0)), "\x1b[31mred");
	ck_assert_str_eq(json_string_value(json_array_get(a, 1)), "\xef\xbf\xbd\xef\xbf\xbd");
	const char *big = json_string_value(json_array_get(a, 2));
	ck_assert_uint_eq(strlen(big), AL_VIOLATION_MAX_ARG_BYTES + strlen("...[truncated]"));
	ck_assert_str_eq(big + AL_VIOLATION_MAX_ARG_BYTES, "...[truncated]");
	ck_assert_str_eq(json_string_value(json_array_get(a, 3)), "q\"u\\");
	ck_assert_str_eq(json_string_value(json_array_get(a, n - 1)), "[truncated]");
	ck_assert_ptr_null(strchr(seen.argv[i], '\x1b'));
	json_decref(a);
	al_bpf_free(&b);
}
END_TEST

/* clone3 and threads under the lock, no supervisor (listener closed:
 * notified calls fail with ENOSYS, fail closed). */
static void *thread_fn(void *arg)
{
	return arg;
}

static void lock_threads_body(void *arg)
{
	bool filtered = *(bool *)arg;
	pthread_t t;
	void *ret = NULL;
	long r;

	errno = 0;
	r = syscall(SYS_clone3, NULL, 0);
	if (filtered) {
		CHILD_CHECK(r == -1 && errno == ENOSYS, "clone3: %ld errno %d", r, errno);
		errno = 0;
		r = syscall(SYS_clone, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_NEWNET, 0, 0,
			    0, 0);
		CHILD_CHECK(r == -1 && errno == EPERM, "thread+CLONE_NEWNET: %ld errno %d", r,
			    errno);
		errno = 0;
		CHILD_CHECK(fork() == -1 && errno == ENOSYS, "fork without supervisor: errno %d",
			    errno);
	} else {
		CHILD_CHECK(r == -1 && errno != ENOSYS, "clone3 without filter: errno %d", errno);
	}
	CHILD_CHECK(pthread_create(&t, NULL, thread_fn, (void *)0x1234) == 0, "pthread_create");
	CHILD_CHECK(pthread_join(t, &ret) == 0 && ret == (void *)0x1234, "pthread_join");
}

START_TEST(test_lock_clone3_threads)
{
	struct al_bpf b = {0};
	bool filtered = true;
	int st;

	build_ok(NULL, AL_SC_SPAWN_LOCK, &b);
	pid_t pid = fork();
	if (pid == 0) {
		int lfd = -1;
		child_load(&b, AL_SC_LOAD_LISTENER, &lfd);
		close(lfd);
		lock_threads_body(&filtered);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	assert_exit0(st);
	filtered = false;
	assert_exit0(in_child(NULL, lock_threads_body, &filtered));
	al_bpf_free(&b);
}
END_TEST

static void load_errors_body(void *arg)
{
	const struct al_bpf *b = arg;
	al_err e = {0};
	int lfd = -1;

	CHILD_CHECK(al_seccomp_load(b, 0, NULL, &e) < 0 && strstr(e.msg, "no_new_privs"), "%s",
		    e.msg);
	CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "nnp");
	CHILD_CHECK(al_seccomp_load(b, 0, NULL, &e) < 0 && strstr(e.msg, "AL_SC_LOAD_LISTENER"),
		    "%s", e.msg);
	CHILD_CHECK(al_seccomp_load(b, AL_SC_LOAD_LISTENER, NULL, &e) < 0, "NULL listener out");
	/* Nothing was installed: fork still works. */
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	CHILD_CHECK(p > 0, "fork after refused loads");
	waitpid(p, NULL, 0);
	CHILD_CHECK(al_seccomp_load(b, AL_SC_LOAD_LISTENER, &lfd, &e) == 0, "%s", e.msg);
	CHILD_CHECK(lfd >= 0 && (fcntl(lfd, F_GETFD) & FD_CLOEXEC), "listener fd flags");
}

START_TEST(test_load_errors)
{
	struct al_bpf b = {0};

	build_ok(NULL, AL_SC_SPAWN_LOCK, &b);
	assert_exit0(in_child(NULL, load_errors_body, &b));
	al_bpf_free(&b);
}
END_TEST

/* ---- the agent lock --------------------------------------------------------- */

static void agent_list_body(void *arg)
{
	bool filtered = *(bool *)arg;
	int natural = 0;

	for (size_t i = 0; al_sc_lock_denylist[i]; i++) {
		const char *name = al_sc_lock_denylist[i];
		long nr;
		if (strcmp(name, "personality") == 0)
			continue;
		char buf[32];
		nr = -1;
		for (long k = 0; k < 512 && nr < 0; k++)
			if (al_syscall_name((int)k, buf, sizeof(buf)) == 0 &&
			    strcmp(buf, name) == 0)
				nr = k;
		CHILD_CHECK(nr >= 0, "no number for %s", name);
		/* All arguments -1: invalid for every one of them. */
		errno = 0;
		long r = syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L);
		bool eperm = r == -1 && errno == EPERM;
		if (filtered)
			CHILD_CHECK(eperm, "%s: %ld errno %d", name, r, errno);
		else if (eperm)
			natural++;
	}
	if (!filtered)
		CHILD_CHECK(natural <= 3, "%d calls are EPERM without the filter", natural);
}

static void agent_personality_body(void *arg)
{
	bool filtered = *(bool *)arg;
	long cur = syscall(SYS_personality, 0xffffffffUL);
	unsigned long bad[] = {ADDR_NO_RANDOMIZE,
			       READ_IMPLIES_EXEC,
			       PER_LINUX32,
			       1UL << 31,
			       0x7fffffffUL,
			       0xfffffffeUL,
			       (1UL << 32) | ADDR_NO_RANDOMIZE};

	CHILD_CHECK(cur >= 0, "personality query");
	CHILD_CHECK(syscall(SYS_personality, 0UL) >= 0, "personality(0)");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		long r = syscall(SYS_personality, bad[i]);
		if (filtered)
			CHILD_CHECK(r == -1 && errno == EPERM, "personality(%#lx): %ld errno %d",
				    bad[i], r, errno);
		else if (i == 0)
			CHILD_CHECK(r >= 0, "personality(ADDR_NO_RANDOMIZE) without filter");
		syscall(SYS_personality, 0UL);
	}
}

static void agent_socket_body(void *arg)
{
	bool filtered = *(bool *)arg;

	for (long fam = -1; fam < 64; fam++) {
		bool ok = fam == AF_UNIX || fam == AF_INET || fam == AF_INET6 || fam == AF_NETLINK;
		errno = 0;
		long fd = syscall(SYS_socket, fam, SOCK_DGRAM, 0);
		int en = errno;
		if (fd >= 0)
			close((int)fd);
		if (filtered && !ok)
			CHILD_CHECK(fd == -1 && en == EPERM, "socket(%ld): %ld errno %d", fam, fd,
				    en);
		else
			CHILD_CHECK(!(fd == -1 && en == EPERM), "socket(%ld) EPERM", fam);
		int sv[2];
		errno = 0;
		long r = syscall(SYS_socketpair, fam, SOCK_STREAM, 0, sv);
		if (r == 0) {
			close(sv[0]);
			close(sv[1]);
		}
		if (filtered && !ok)
			CHILD_CHECK(r == -1 && errno == EPERM, "socketpair(%ld) errno %d", fam,
				    errno);
	}
	if (filtered) {
		errno = 0;
		CHILD_CHECK(syscall(SYS_socket, (1L << 32) | AF_PACKET, SOCK_RAW, 0) == -1 &&
				errno == EPERM,
			    "socket(AF_PACKET|1<<32)");
	} else {
		long fd = syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
		CHILD_CHECK(fd >= 0, "AF_PACKET as root without the filter: errno %d", errno);
	}
}

START_TEST(test_agent_lock)
{
	struct al_bpf b = {0};
	al_err e = {0};
	void (*bodies[])(void *) = {agent_list_body, agent_personality_body, agent_socket_body};

	ck_assert_msg(al_seccomp_build_agent_lock(&b, &e) == 0, "%s", e.msg);
	printf("seccomp: agent lock: %zu syscalls denied outright, %u insns\n",
	       al_sc_lock_denylist_count(), b.len);
	for (size_t k = 0; k < 3; k++) {
		bool filtered = true;
		int st;
		pid_t pid = fork();
		if (pid == 0) {
			int lfd = -1;
			child_load(&b, AL_SC_LOAD_LISTENER, &lfd);
			close(lfd);
			bodies[k](&filtered);
			_exit(0);
		}
		waitpid(pid, &st, 0);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "agent body %zu: %#x", k, st);
		filtered = false;
		if (geteuid() == 0)
			assert_exit0(in_child(NULL, bodies[k], &filtered));
	}
	al_bpf_free(&b);
}
END_TEST

/* ---- names, fd passing ---------------------------------------------------- */

START_TEST(test_names_and_fd_passing)
{
	char buf[32];
	int sv[2], fd = -1, got = -1;
	al_err e = {0};

	ck_assert_int_eq(al_syscall_name(59, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "execve");
	ck_assert_int_eq(al_syscall_name(467, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "open_tree_attr");
	ck_assert_int_eq(al_syscall_name(9999, buf, sizeof(buf)), -1);
	ck_assert_str_eq(buf, "syscall_9999");

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_msg(al_send_fd(sv[0], fd, &e) == 0, "%s", e.msg);
	ck_assert_msg(al_recv_fd(sv[1], &got, &e) == 0, "%s", e.msg);
	ck_assert_int_ge(got, 0);
	ck_assert_int_ne(got, fd);
	ck_assert(fcntl(got, F_GETFD) & FD_CLOEXEC);
	struct stat a, b;
	fstat(fd, &a);
	fstat(got, &b);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(got);
	/* A byte without an fd, then EOF: both errors. */
	ck_assert_int_eq(write(sv[0], "x", 1), 1);
	ck_assert_int_lt(al_recv_fd(sv[1], &got, &e), 0);
	ck_assert_int_eq(got, -1);
	close(sv[0]);
	ck_assert_int_lt(al_recv_fd(sv[1], &got, &e), 0);
	ck_assert_msg(strstr(e.msg, "closed") != NULL, "%s", e.msg);
	close(sv[1]);
	close(fd);
}
END_TEST

/* ---- cache ------------------------------------------------------------------ */

static char *restricted[] = {"ptrace", "mount", "bpf", NULL};

static bool same(const struct al_bpf *a, const struct al_bpf *b)
{
	return a->len == b->len && memcmp(a->insns, b->insns, a->len * sizeof(*a->insns)) == 0;
}

/* Plant a well-formed cache file for key holding prog (the file format is
 * the cache's: magic, key, length, reserved, hex sha256, instructions). */
static void plant(const char *dir, const char *key, const struct al_bpf *prog, mode_t mode)
{
	char path[512], tmp[520], digest[65];
	uint32_t len = prog->len, zero = 0;

	snprintf(path, sizeof(path), "%s/%s.bpf", dir, key);
	snprintf(tmp, sizeof(tmp), "%s.p", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	al_sha256_hex(prog->insns, prog->len * sizeof(*prog->insns), digest);
	ck_assert_int_eq(al_write_all(fd, "ALBPF\0\0\1", 8), 0);
	ck_assert_int_eq(al_write_all(fd, key, 64), 0);
	ck_assert_int_eq(al_write_all(fd, &len, 4), 0);
	ck_assert_int_eq(al_write_all(fd, &zero, 4), 0);
	ck_assert_int_eq(al_write_all(fd, digest, 64), 0);
	ck_assert_int_eq(al_write_all(fd, prog->insns, prog->len * sizeof(*prog->insns)), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	ck_assert_int_eq(rename(tmp, path), 0);
}

START_TEST(test_cache)
{
	struct al_syscall_profile p = profile(true, EPERM, restricted, NULL);
	struct al_bpf fresh = {0}, c1 = {0}, c2 = {0}, other = {0};
	char root[] = "/tmp/al-bpf-test.XXXXXX", dir[256], path[512], key[65];
	struct stat s1, s2;
	al_err e = {0};

	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/run/bpf", root);
	build_ok(&p, AL_SC_SPAWN_LOCK, &fresh);
	build_ok(NULL, 0, &other);
	ck_assert(!same(&fresh, &other));
	ck_assert_int_eq(al_seccomp_cache_key(&p, AL_SC_SPAWN_LOCK, key, &e), 0);
	snprintf(path, sizeof(path), "%s/%s.bpf", dir, key);

	/* Miss: built, stored 0600 in a 0700 directory. */
	ck_assert_msg(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, dir, &c1, &e) == 0, "%s",
		      e.msg);
	ck_assert(same(&c1, &fresh));
	ck_assert_int_eq(stat(dir, &s1), 0);
	ck_assert_int_eq(s1.st_mode & 07777, 0700);
	ck_assert_int_eq(stat(path, &s1), 0);
	ck_assert_int_eq(s1.st_mode & 07777, 0600);
	/* Hit: identical bytes, same file. */
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, dir, &c2, &e), 0);
	ck_assert(same(&c2, &fresh));
	ck_assert_int_eq(stat(path, &s2), 0);
	ck_assert(s1.st_ino == s2.st_ino);
	al_bpf_free(&c2);

	/* The cache is trusted when safe: a well-formed file is used as is
	 * (the control for the checks below). */
	plant(dir, key, &other, 0600);
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, dir, &c2, &e), 0);
	ck_assert(same(&c2, &other));
	al_bpf_free(&c2);
	/* Writable by others: ignored, rebuilt and replaced. */
	plant(dir, key, &other, 0666);
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, dir, &c2, &e), 0);
	ck_assert(same(&c2, &fresh));
	ck_assert_int_eq(stat(path, &s2), 0);
	ck_assert_int_eq(s2.st_mode & 07777, 0600);
	al_bpf_free(&c2);
	/* Owned by someone else: ignored. */
	plant(dir, key, &other, 0600);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, dir, &c2, &e), 0);
	ck_assert(same(&c2, &fresh));
	al_bpf_free(&c2);
	/* Corrupt: ignored. */
	plant(dir, key, &other, 0600);
	{
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		ck_assert_int_eq(pwrite(fd, "\x55", 1, 144 + 3), 1);
		close(fd);
	}
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, dir, &c2, &e), 0);
	ck_assert(same(&c2, &fresh));
	al_bpf_free(&c2);
	/* A directory others can write: not read, not written. */
	plant(dir, key, &other, 0600);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, dir, &c2, &e), 0);
	ck_assert(same(&c2, &fresh));
	al_bpf_free(&c2);
	/* Unusable cache directory: still builds. */
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, "/proc/al-nope", &c2, &e),
			 0);
	ck_assert(same(&c2, &fresh));
	al_bpf_free(&c2);

	/* Keys: order and duplicates do not matter, the errno does. */
	char *shuffled[] = {"bpf", "ptrace", "mount", "bpf", NULL};
	struct al_syscall_profile q = profile(true, EPERM, shuffled, NULL);
	struct al_syscall_profile r = profile(true, EACCES, restricted, NULL);
	char k2[65];
	ck_assert_int_eq(al_seccomp_cache_key(&q, AL_SC_SPAWN_LOCK, k2, &e), 0);
	ck_assert_str_eq(k2, key);
	ck_assert_int_eq(al_seccomp_cache_key(&r, AL_SC_SPAWN_LOCK, k2, &e), 0);
	ck_assert_str_ne(k2, key);
	ck_assert_int_eq(al_seccomp_cache_key(&p, 0, k2, &e), 0);
	ck_assert_str_ne(k2, key);

	al_bpf_free(&c1);
	al_bpf_free(&fresh);
	al_bpf_free(&other);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- measurements (printed, not asserted) ------------------------------------ */

static void load_time_body(void *arg)
{
	const struct al_bpf *b = arg;
	int lfd = -1;
	al_err e = {0};
	bool notifies = false;

	for (unsigned i = 0; i < b->len; i++)
		if (b->insns[i].code == (BPF_RET | BPF_K) && (b->insns[i].k >> 16) == 0x7fc0)
			notifies = true;
	CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "nnp");
	int64_t t0 = al_now_us();
	CHILD_CHECK(al_seccomp_load(b, notifies ? AL_SC_LOAD_LISTENER : 0, &lfd, &e) == 0, "%s",
		    e.msg);
	int64_t t1 = al_now_us();
	printf("seccomp:   kernel load of %u insns: %lld us\n", b->len, (long long)(t1 - t0));
	fflush(stdout);
}

START_TEST(test_measure)
{
	struct al_syscall_profile p = profile(true, EPERM, restricted, NULL);
	char root[] = "/tmp/al-bpf-measure.XXXXXX", cmd[300];
	struct al_bpf b = {0};
	al_err e = {0};
	const int rounds = 50;
	int64_t t0, t1;

	ck_assert_ptr_nonnull(mkdtemp(root));
	t0 = al_now_us();
	for (int i = 0; i < rounds; i++) {
		build_ok(&p, AL_SC_SPAWN_LOCK, &b);
		al_bpf_free(&b);
	}
	t1 = al_now_us();
	printf("seccomp: build 'restricted' + spawn lock: %.1f us\n", (double)(t1 - t0) / rounds);
	ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, root, &b, &e), 0);
	al_bpf_free(&b);
	t0 = al_now_us();
	for (int i = 0; i < rounds; i++) {
		ck_assert_int_eq(al_seccomp_build_cached(&p, AL_SC_SPAWN_LOCK, root, &b, &e), 0);
		if (i < rounds - 1)
			al_bpf_free(&b);
	}
	t1 = al_now_us();
	printf("seccomp: cached load 'restricted' + spawn lock: %.1f us, %u insns\n",
	       (double)(t1 - t0) / rounds, b.len);
	assert_exit0(in_child(NULL, load_time_body, &b));
	al_bpf_free(&b);

	build_ok(NULL, 0, &b);
	printf("seccomp: baseline only: %u insns\n", b.len);
	assert_exit0(in_child(NULL, load_time_body, &b));
	al_bpf_free(&b);

	t0 = al_now_us();
	ck_assert_int_eq(al_seccomp_build_agent_lock(&b, &e), 0);
	t1 = al_now_us();
	printf("seccomp: build agent lock: %lld us, %u insns\n", (long long)(t1 - t0), b.len);
	assert_exit0(in_child(NULL, load_time_body, &b));
	al_bpf_free(&b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seccomp");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	setvbuf(stdout, NULL, _IOLBF, 0); /* no buffered lines copied into forks */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_profile_deny_eperm);
	tcase_add_test(tc, test_profile_deny_control);
	tcase_add_test(tc, test_unknown_name);
	tcase_add_test(tc, test_default_deny_profile);
	tcase_add_test(tc, test_other_abis_killed);
	tcase_add_test(tc, test_other_abis_control);
	tcase_add_test(tc, test_tiocsti);
	tcase_add_test(tc, test_spawn_lock_sh);
	tcase_add_test(tc, test_spawn_lock_first_not_exec);
	tcase_add_test(tc, test_spawn_lock_python);
	tcase_add_test(tc, test_lock_clone3_threads);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_agent_lock);
	tcase_add_test(tc, test_names_and_fd_passing);
	tcase_add_test(tc, test_cache);
	tcase_add_test(tc, test_measure);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
