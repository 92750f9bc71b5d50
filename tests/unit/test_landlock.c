/* Landlock module: every restriction is checked in a forked child, next to
 * a control child that shows the same operation works without it. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stddef.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/landlock.h"
#include "shared/util.h"

static int msg_fd = -1; /* the child's report pipe */

/* In a child: report why and exit 1. */
__attribute__((noreturn, format(printf, 1, 2))) static void child_fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(msg_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf)) < 0)
		_exit(2);
	_exit(1);
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			child_fail(__VA_ARGS__);                                                   \
	} while (0)

struct scenario {
	const struct al_ll_path *paths;
	size_t n;
	bool landlock; /* false: the control, run without Landlock */
	bool deny_tcp, scope;
	void (*body)(void *);
	void *arg;
};

/* Run s in a forked child (no_new_privs, then Landlock, then body); fail the
 * test with the child's message unless it exits 0. */
static void run(const struct scenario *s)
{
	int p[2], st;
	char msg[512] = "";

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		al_err err = {0};
		int abi = -1;
		close(p[0]);
		msg_fd = p[1];
		CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs: %m");
		if (s->landlock)
			CHECK(al_landlock_apply(s->paths, s->n, s->deny_tcp, s->scope, &abi,
						&err) == 0,
			      "apply: %s", err.msg);
		s->body(s->arg);
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s child: %s (status 0x%x)",
		      s->landlock ? "landlocked" : "control", msg, st);
}

static void require_abi(int min)
{
	int abi = al_landlock_abi();
	ck_assert_msg(abi >= min, "this test needs Landlock ABI >= %d, the kernel has %d", min,
		      abi);
}

/* Temp dirs live under base, made and removed by the parent (an unchecked
 * fixture), so a failing test leaves nothing in /tmp. */
static char base[64], tmp[128], outside[128];

static void base_make(void)
{
	snprintf(base, sizeof(base), "/tmp/lltest.XXXXXX");
	if (mkdtemp(base) == NULL)
		base[0] = '\0';
}

static void base_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (base[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", base);
}

static void make_dirs(void)
{
	ck_assert_msg(base[0], "no temp dir");
	snprintf(tmp, sizeof(tmp), "%s/rw.XXXXXX", base);
	snprintf(outside, sizeof(outside), "%s/out.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	ck_assert_ptr_nonnull(mkdtemp(outside));
}

static void rm_dirs(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", tmp, outside);
	ck_assert_int_eq(system(cmd), 0);
}

/* open(2) result as 0 or errno. */
static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static const char *secret(void)
{
	return access("/etc/hostname", R_OK) == 0 ? "/etc/hostname" : "/etc/passwd";
}

START_TEST(test_abi)
{
	int abi = al_landlock_abi();
	printf("landlock: kernel ABI %d\n", abi);
	ck_assert_int_ge(abi, 1);
}
END_TEST

/* ---- filesystem ---------------------------------------------------------- */

static void fs_body(void *arg)
{
	bool ll = *(bool *)arg;
	char p[128];
	int e;

	/* read beneath /usr: allowed either way */
	CHECK((e = try_open("/usr/lib/os-release", O_RDONLY)) == 0, "read /usr: %s", strerror(e));
	/* read outside the allowlist */
	e = try_open(secret(), O_RDONLY);
	CHECK(ll ? e == EACCES : e == 0, "read %s: %s", secret(), strerror(e));
	/* write in the read-write temp dir: allowed either way */
	snprintf(p, sizeof(p), "%s/ok.txt", tmp);
	CHECK((e = try_open(p, O_WRONLY | O_CREAT)) == 0, "write %s: %s", p, strerror(e));
	snprintf(p, sizeof(p), "%s/sub", tmp);
	CHECK(mkdir(p, 0755) == 0, "mkdir %s: %m", p);
	CHECK(rmdir(p) == 0, "rmdir %s: %m", p);
	/* write in a directory that is not listed */
	snprintf(p, sizeof(p), "%s/no.txt", outside);
	e = try_open(p, O_WRONLY | O_CREAT);
	CHECK(ll ? e == EACCES : e == 0, "write %s: %s", p, strerror(e));
	/* write in /usr (read-only): Landlock refuses before the DAC check */
	if (ll)
		CHECK((e = try_open("/usr/lltest-must-not-exist", O_WRONLY | O_CREAT)) == EACCES,
		      "write /usr: %s", strerror(e));
	else
		CHECK(access("/usr", W_OK) == 0, "control: /usr not writable for root?");
	/* listing / is not allowed */
	e = try_open("/", O_RDONLY | O_DIRECTORY);
	CHECK(ll ? e == EACCES : e == 0, "list /: %s", strerror(e));
}

START_TEST(test_fs_read_write)
{
	require_abi(1);
	make_dirs();
	struct al_ll_path paths[] = {
	    {"/usr", AL_LL_READ},
	    {tmp, AL_LL_READ | AL_LL_WRITE},
	    {"/nonexistent/lltest", AL_LL_READ | AL_LL_WRITE}, /* skipped */
	};
	bool ll = true, ctl = false;
	struct scenario s = {paths, 3, true, false, false, fs_body, &ll};
	run(&s);
	s.landlock = false;
	s.arg = &ctl;
	run(&s);
	rm_dirs();
}
END_TEST

static void file_rule_body(void *arg)
{
	bool ll = *(bool *)arg;
	char p[128];
	int e;

	snprintf(p, sizeof(p), "%s/allowed.txt", tmp);
	CHECK((e = try_open(p, O_RDWR)) == 0, "open %s rw: %s", p, strerror(e));
	CHECK(truncate(p, 0) == 0, "truncate %s: %m", p);
	snprintf(p, sizeof(p), "%s/sibling.txt", tmp);
	e = try_open(p, O_RDONLY);
	CHECK(ll ? e == EACCES : e == 0, "read %s: %s", p, strerror(e));
	snprintf(p, sizeof(p), "%s/new.txt", tmp);
	e = try_open(p, O_WRONLY | O_CREAT);
	CHECK(ll ? e == EACCES : e == 0, "create %s: %s", p, strerror(e));
}

/* A rule on a regular file gets only file rights (the kernel would refuse
 * directory rights with EINVAL) and grants nothing next to it. */
START_TEST(test_fs_file_rule)
{
	char p[128];

	require_abi(1);
	make_dirs();
	snprintf(p, sizeof(p), "%s/allowed.txt", tmp);
	ck_assert_int_eq(try_open(p, O_WRONLY | O_CREAT), 0);
	snprintf(p, sizeof(p), "%s/sibling.txt", tmp);
	ck_assert_int_eq(try_open(p, O_WRONLY | O_CREAT), 0);
	char allowed[128];
	snprintf(allowed, sizeof(allowed), "%s/allowed.txt", tmp);
	struct al_ll_path paths[] = {{allowed, AL_LL_READ | AL_LL_WRITE | AL_LL_EXEC}};
	bool ll = true, ctl = false;
	struct scenario s = {paths, 1, true, false, false, file_rule_body, &ll};
	run(&s);
	s.landlock = false;
	s.arg = &ctl;
	run(&s);
	rm_dirs();
}
END_TEST

static void exec_body(void *arg)
{
	int want = *(int *)arg; /* 0: exec must work, else the errno it must fail with */

	if (want == 0) {
		execv("/usr/bin/true", (char *const[]){"true", NULL});
		child_fail("exec /usr/bin/true: %m");
	}
	/* if this exec works, false exits 1 and the test fails */
	execv("/usr/bin/false", (char *const[]){"false", NULL});
	CHECK(errno == want, "exec /usr/bin/false: %m, want %s", strerror(want));
}

START_TEST(test_fs_exec)
{
	require_abi(1);
	/* READ alone does not allow execve; READ|EXEC does. */
	struct al_ll_path ro[] = {
	    {"/usr", AL_LL_READ}, {"/lib", AL_LL_READ}, {"/lib64", AL_LL_READ}};
	struct al_ll_path rx[] = {
	    {"/usr", AL_LL_READ | AL_LL_EXEC}, {"/lib", AL_LL_READ}, {"/lib64", AL_LL_READ}};
	int eacces = EACCES, ok = 0;
	struct scenario s = {ro, 3, true, false, false, exec_body, &eacces};
	run(&s);
	s.paths = rx;
	s.arg = &ok;
	run(&s);
}
END_TEST

/* ---- TCP ----------------------------------------------------------------- */

static void tcp_body(void *arg)
{
	const int *a = arg; /* {port, expected errno of connect} */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a[0])};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0, "socket: %m");
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = rc < 0 ? errno : 0;
	CHECK(e == a[1], "connect 127.0.0.1:%d: %s, want %s", a[0], e ? strerror(e) : "success",
	      a[1] ? strerror(a[1]) : "success");
	close(fd);
	/* bind is handled too */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = 0;
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = rc < 0 ? errno : 0;
	CHECK(e == a[1], "bind 127.0.0.1:0: %s", e ? strerror(e) : "success");
	close(fd);
}

START_TEST(test_deny_tcp)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	require_abi(1);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	int port = ntohs(sa.sin_port);

	struct al_ll_path paths[] = {{"/usr", AL_LL_READ}};
	int denied[2] = {port, EACCES}, allowed[2] = {port, 0};
	struct scenario s = {paths, 1, true, true, false, tcp_body, denied};
	if (al_landlock_abi() < 4) {
		/* best effort: deny_tcp is ignored before ABI 4 */
		printf("landlock: ABI %d < 4, deny_tcp must be ignored\n", al_landlock_abi());
		s.arg = allowed;
	}
	run(&s);
	/* control: no Landlock */
	s.landlock = false;
	s.arg = allowed;
	run(&s);
	/* and Landlock without deny_tcp leaves TCP alone */
	s.landlock = true;
	s.deny_tcp = false;
	run(&s);
	close(lfd);
}
END_TEST

/* ---- scoping ------------------------------------------------------------- */

struct scope_arg {
	pid_t target;
	int want;	  /* errno expected from kill() and connect() */
	const char *sock; /* abstract unix socket name (without the NUL) */
};

static void scope_body(void *arg)
{
	const struct scope_arg *a = arg;
	int e = kill(a->target, SIGUSR1) < 0 ? errno : 0;

	CHECK(e == a->want, "kill(%d, SIGUSR1): %s, want %s", (int)a->target,
	      e ? strerror(e) : "success", a->want ? strerror(a->want) : "success");
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	memcpy(su.sun_path + 1, a->sock, strlen(a->sock));
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sock));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	e = connect(fd, (struct sockaddr *)&su, sl) < 0 ? errno : 0;
	CHECK(e == a->want, "connect @%s: %s, want %s", a->sock, e ? strerror(e) : "success",
	      a->want ? strerror(a->want) : "success");
	close(fd);
}

START_TEST(test_scope_signal_and_abstract_unix)
{
	require_abi(1);
	/* A process outside the domain that ignores SIGUSR1. */
	signal(SIGUSR1, SIG_IGN);
	pid_t target = fork();
	ck_assert_int_ge(target, 0);
	if (target == 0) {
		for (;;)
			pause();
	}
	char name[64];
	snprintf(name, sizeof(name), "lltest-%d", (int)getpid());
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	memcpy(su.sun_path + 1, name, strlen(name));
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(
	    bind(lfd, (struct sockaddr *)&su,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))),
	    0);
	ck_assert_int_eq(listen(lfd, 8), 0);

	struct al_ll_path paths[] = {{"/usr", AL_LL_READ}};
	struct scope_arg denied = {target, EPERM, name}, allowed = {target, 0, name};
	struct scenario s = {paths, 1, true, false, true, scope_body, &denied};
	if (al_landlock_abi() < 6) {
		/* best effort: scope is ignored before ABI 6 */
		printf("landlock: ABI %d < 6, scope must be ignored\n", al_landlock_abi());
		s.arg = &allowed;
	}
	run(&s);
	s.landlock = false; /* control */
	s.arg = &allowed;
	run(&s);
	s.landlock = true; /* Landlock without scope: signals and sockets work */
	s.scope = false;
	run(&s);
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	close(lfd);
}
END_TEST

/* ---- errors and cost ----------------------------------------------------- */

START_TEST(test_errors)
{
	require_abi(1);
	/* without no_new_privs and without CAP_SYS_ADMIN: a clear error */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		al_err err = {0};
		struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
		if (syscall(SYS_capset, &hdr, data) < 0)
			_exit(3);
		if (al_landlock_apply(NULL, 0, false, false, NULL, &err) == 0)
			_exit(4);
		_exit(err.errnum == EPERM && strstr(err.msg, "no_new_privs") ? 0 : 5);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	/* a path that cannot be opened (not just a missing one) is an error */
	char longname[300];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	struct al_ll_path bad[] = {{longname, AL_LL_READ}};
	pid = fork();
	if (pid == 0) {
		al_err err = {0};
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		_exit(al_landlock_apply(bad, 1, false, false, NULL, &err) < 0 &&
			      err.errnum == ENAMETOOLONG
			  ? 0
			  : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
}
END_TEST

START_TEST(test_timing)
{
	const int N = 20;
	int p[2];
	int64_t total = 0;

	require_abi(1);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	for (int i = 0; i < N; i++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct al_ll_path paths[] = {{"/usr", AL_LL_READ | AL_LL_EXEC},
						     {"/lib", AL_LL_READ | AL_LL_EXEC},
						     {"/lib64", AL_LL_READ | AL_LL_EXEC},
						     {"/etc/ssl", AL_LL_READ},
						     {"/tmp", AL_LL_READ | AL_LL_WRITE}};
			al_err err = {0};
			prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
			int64_t t0 = al_now_us();
			int rc = al_landlock_apply(paths, 5, true, true, NULL, &err);
			int64_t dt = al_now_us() - t0;
			if (write(p[1], &dt, sizeof(dt)) != sizeof(dt))
				_exit(2);
			_exit(rc == 0 ? 0 : 1);
		}
		int st;
		int64_t dt;
		ck_assert_int_eq(read(p[0], &dt, sizeof(dt)), (ssize_t)sizeof(dt));
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		total += dt;
	}
	printf("landlock apply (5 paths, deny_tcp, scope, ABI %d): %" PRId64 " us (mean of %d)\n",
	       al_landlock_abi(), total / N, N);
	close(p[0]);
	close(p[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("landlock");
	TCase *tc = tcase_create("landlock");

	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, base_make, base_remove);
	tcase_add_test(tc, test_abi);
	tcase_add_test(tc, test_fs_read_write);
	tcase_add_test(tc, test_fs_file_rule);
	tcase_add_test(tc, test_fs_exec);
	tcase_add_test(tc, test_deny_tcp);
	tcase_add_test(tc, test_scope_signal_and_abstract_unix);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_timing);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
