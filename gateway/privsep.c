/* Privilege separation (openssh's model).
 *
 * The privileged process loads the policy and tokens, probes the host, binds
 * the listeners and loads the TLS key, then forks:
 *   - the child, the HTTP front end, drops everything before it reads a
 *     byte from the network: bounding set, uid/gid (nobody or
 *     --privsep-user), supplementary groups, capabilities, no_new_privs,
 *     not dumpable, a Landlock domain with no filesystem access at all (and
 *     no TCP bind/connect, no signals or abstract sockets outside it), and
 *     a seccomp filter (below);
 *   - the parent, the monitor, opens the audit log only now (so its key
 *     never exists in the front end's memory) and serves the front end's
 *     messages (monitor.c).
 *
 * The front end's seccomp filter (built by shared/seccomp.c: native ABI
 * only, other ABIs kill the process; TIOCSTI/TIOCLINUX refused) denies with
 * EPERM: creating processes or threads (the front end has none), executing,
 * namespaces and mounts, tracing and other processes' memory, module and
 * kexec loading, BPF and perf, keyrings, userfaultfd, io_uring, identity
 * changes, socket creation (it only accepts on the listeners it was
 * given).  Knowingly left open: what an event loop with TLS needs (read,
 * write, accept4, epoll, timers, memory, getrandom, close, ...) and
 * prctl/seccomp (they can only restrict further). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "../policy/policy.h"
#include "../shared/landlock.h"
#include "../shared/seccomp.h"
#include "../shared/util.h"
#include "ipc.h"
#include "serve.h"

static const char *const front_deny[] = {
    "execve",
    "execveat",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "bpf",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "personality",
    "socket",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "capset",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "name_to_handle_at",
    "open_by_handle_at",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "sethostname",
    "setdomainname",
    "uselib",
    "vhangup",
    "lookup_dcookie",
    NULL,
};

int gw_privsep_user(const char *spec, struct gw_drop *out, al_err *err)
{
	int64_t u, g;
	char buf[128];

	memset(out, 0, sizeof(*out));
	if (geteuid() != 0)
		return 0; /* nothing to change to */
	snprintf(buf, sizeof(buf), "%s", spec);
	char *colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (al_parse_i64(buf, 1, 4294967294LL, &u)) {
		g = u;
		if (colon && !al_parse_i64(colon + 1, 1, 4294967294LL, &g))
			return al_err_set(err, EINVAL, "--privsep-user %s: want NAME or UID[:GID]",
					  spec);
	} else {
		struct passwd *pw = getpwnam(buf);
		if (pw == NULL)
			return al_err_set(err, ENOENT,
					  "--privsep-user %s: no such user (the front end runs as "
					  "it; default nobody)",
					  buf);
		u = pw->pw_uid;
		g = pw->pw_gid;
		if (colon && !al_parse_i64(colon + 1, 1, 4294967294LL, &g))
			return al_err_set(err, EINVAL, "--privsep-user %s: bad GID", spec);
	}
	if (u == 0 || g == 0)
		return al_err_set(err, EINVAL,
				  "--privsep-user %s: the front end must not run as root", spec);
	out->change_ids = true;
	out->uid = (uid_t)u;
	out->gid = (gid_t)g;
	return 0;
}

static int drop_caps(al_err *err)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return al_err_set(err, errno, "capset (drop all capabilities)");
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

int gw_privsep_confine(const struct gw_drop *d, al_err *err)
{
	struct rlimit zero = {0, 0};
	int abi = 0;

	/* bounding set first: dropping it needs CAP_SETPCAP, gone after setuid */
	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL)
			break;
	if (d->change_ids) {
		if (setgroups(0, NULL) < 0)
			return al_err_set(err, errno, "setgroups");
		if (setresgid(d->gid, d->gid, d->gid) < 0)
			return al_err_set(err, errno, "setresgid %u", (unsigned)d->gid);
		if (setresuid(d->uid, d->uid, d->uid) < 0)
			return al_err_set(err, errno, "setresuid %u", (unsigned)d->uid);
		if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0)
			return al_err_set(err, EPERM, "could not drop root");
	}
	if (drop_caps(err) < 0)
		return -1;
	setrlimit(RLIMIT_CORE, &zero);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return al_err_set(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	if (al_landlock_apply(NULL, 0, true, true, &abi, err) < 0) {
		if (err->errnum != EOPNOTSUPP)
			return al_err_wrap(err, "landlock");
		gw_log("WARNING: this kernel has no Landlock: the front end keeps the filesystem "
		       "access of uid %u",
		       (unsigned)getuid());
	}

	struct al_syscall_profile sc = {
	    .name = (char *)"agentgw-front",
	    .default_allow = true,
	    .deny = {(char **)front_deny, sizeof(front_deny) / sizeof(front_deny[0]) - 1},
	    .deny_errno = EPERM,
	};
	struct al_bpf bpf = {0};
	if (al_seccomp_build(&sc, 0, &bpf, err) < 0)
		return al_err_wrap(err, "front end seccomp filter");
	int r = al_seccomp_load(&bpf, 0, NULL, err);
	al_bpf_free(&bpf);
	if (r < 0)
		return al_err_wrap(err, "front end seccomp filter");
	gw_debug("front end confined: uid %u gid %u, no capabilities, no_new_privs, landlock ABI "
		 "%d, seccomp",
		 (unsigned)getuid(), (unsigned)getgid(), abi);
	return 0;
}

static void report(const char *what, int rc)
{
	const char *name = rc == 0 ? "ok" : strerrorname_np(errno);
	gw_log("privsep-selftest: %s: %s", what, name ? name : "?");
}

void gw_privsep_selftest(pid_t monitor_pid, const char *policy_file)
{
	char what[300];
	int fd;

	gw_log("privsep-selftest: uid=%u gid=%u euid=%u groups=%d", (unsigned)getuid(),
	       (unsigned)getgid(), (unsigned)geteuid(), getgroups(0, NULL));
	fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	report("open(/etc/passwd)", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	snprintf(what, sizeof(what), "open(policy %s)", policy_file);
	fd = open(policy_file, O_RDONLY | O_CLOEXEC);
	report(what, fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	report("open(/)", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	fd = open("/tmp/agentgw-selftest", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	report("create(/tmp/agentgw-selftest)", fd < 0 ? -1 : 0);
	if (fd >= 0) {
		close(fd);
		unlink("/tmp/agentgw-selftest");
	}
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	report("fork()", p < 0 ? -1 : 0);
	report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	report("unshare(CLONE_NEWNET)", unshare(CLONE_NEWNET));
	report("setns(0, CLONE_NEWNET)", setns(0, CLONE_NEWNET));
	report("mount(tmpfs, /tmp)", mount("none", "/tmp", "tmpfs", 0, NULL));
	report("ptrace(PTRACE_TRACEME)", (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	report("socket(AF_INET)", fd < 0 ? -1 : 0);
	if (fd >= 0)
		close(fd);
	snprintf(what, sizeof(what), "kill(monitor %d, 0)", (int)monitor_pid);
	report(what, kill(monitor_pid, 0));
	report("setuid(0)", setuid(0));
	char *const argv[] = {(char *)"true", NULL};
	char *const envp[] = {NULL};
	/* last: if this were allowed the front end would become /bin/true and
	 * the gateway would stop (loudly) */
	report("execve(/bin/true)", execve("/bin/true", argv, envp));
}

/* ---- start-up and the split ------------------------------------------------ */

static int find_runner(const struct gw_config *cfg, char *out, size_t n, al_err *err)
{
	char self[PATH_MAX];

	if (cfg->runner) {
		if (cfg->runner[0] != '/' || access(cfg->runner, X_OK) < 0)
			return al_err_set(err, errno ? errno : EINVAL,
					  "--runner %s: want an executable absolute path",
					  cfg->runner);
		snprintf(out, n, "%s", cfg->runner);
		return 0;
	}
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l > 0) {
		self[l] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(out, n, "%s/agentrun", self);
			if (access(out, X_OK) == 0)
				return 0;
			snprintf(out, n, "%s/../libexec/agentlaunch/agentrun", self);
			char real[PATH_MAX];
			if (realpath(out, real) && access(real, X_OK) == 0) {
				snprintf(out, n, "%s", real);
				return 0;
			}
		}
	}
	return al_err_set(err, ENOENT,
			  "agentrun not found next to agentgw or in ../libexec/agentlaunch: give "
			  "--runner PATH");
}

/* In the front end: close every inherited fd but stdio, the listeners and
 * the channel. */
static void close_others(const struct gw_shared *sh, int keep_ipc)
{
	int keep[GW_MAX_LISTEN + 4];
	size_t nk = 0;

	keep[nk++] = 0;
	keep[nk++] = 1;
	keep[nk++] = 2;
	keep[nk++] = keep_ipc;
	for (size_t i = 0; i < sh->nls; i++)
		keep[nk++] = sh->ls[i].fd;
	for (size_t i = 1; i < nk; i++) /* sort */
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned lo = 0;
	for (size_t i = 0; i < nk; i++) {
		if ((unsigned)keep[i] > lo)
			syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, lo, ~0U, 0);
}

int gw_serve(const struct gw_config *cfg)
{
	struct gw_shared sh;
	struct gw_drop drop;
	al_err err = {0};
	int sv[2];

	memset(&sh, 0, sizeof(sh));
	sh.cfg = cfg;
	sh.start_ms = al_now_ms();
	signal(SIGPIPE, SIG_IGN);
	struct rlimit nf;
	if (getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur < nf.rlim_max) {
		nf.rlim_cur = nf.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nf);
	}
	/* everything OpenSSL reads from disk, read now: the front end cannot.
	 * Without TLS OpenSSL is not used at all (idle RSS). */
	if (cfg->tls_cert)
		OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_LOAD_SSL_STRINGS, NULL);

	if (strcmp(cfg->audit_file, GW_DEFAULT_AUDIT) == 0 &&
	    al_mkdir_p("/var/log/agentlaunch", 0750, &err) < 0)
		al_bail(1, GW_PROG, "%s: give --audit FILE in a directory that exists", err.msg);
	if (al_policy_load_file(cfg->policy_file, &sh.policy, &err) < 0)
		al_bail(1, GW_PROG, "policy refused: %s", err.msg);
	if (cfg->tokens_file && gw_auth_load_file(&sh.auth, cfg->tokens_file, &err) < 0)
		al_bail(1, GW_PROG, "%s", err.msg);
	if (cfg->token_fd >= 0 && gw_auth_load_fd(&sh.auth, cfg->token_fd, &err) < 0)
		al_bail(1, GW_PROG, "%s", err.msg);
	if (sh.auth.enabled && sh.auth.n == 0)
		gw_log("WARNING: token authentication is on but no token is registered: every "
		       "request will be refused (401)");
	gw_caps_probe(&sh.caps, cfg->pretend_missing, &err);
	for (size_t i = 0; i < sh.policy->n_profiles; i++) {
		char why[512];
		if (!gw_caps_profile_ok(&sh.caps, &sh.policy->profiles[i], why, sizeof(why)))
			gw_log("profile %s cannot be enforced on this host (missing %s): its runs "
			       "will be refused with 503 unenforceable",
			       sh.policy->profiles[i].name, why);
	}
	if (find_runner(cfg, sh.runner, sizeof(sh.runner), &err) < 0)
		al_bail(1, GW_PROG, "%s", err.msg);
	if (cfg->tls_cert &&
	    (sh.ssl = gw_tls_new(cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, &err)) == NULL)
		al_bail(1, GW_PROG, "%s", err.msg);
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (gw_listen_open(cfg->listen[i], sh.ssl != NULL, &sh.ls[i], &err) < 0) {
			for (size_t j = 0; j < i; j++)
				gw_listen_close(&sh.ls[j], true);
			al_bail(1, GW_PROG, "%s", err.msg);
		}
		sh.nls++;
	}
	if (gw_privsep_user(cfg->privsep_user, &drop, &err) < 0)
		al_bail(1, GW_PROG, "%s", err.msg);
	if (!drop.change_ids)
		gw_log("WARNING: not running as root: the front end keeps uid %u (no separate "
		       "unprivileged user); other confinement still applies",
		       (unsigned)getuid());
	if (gw_ipc_socketpair(sv, &err) < 0)
		al_bail(1, GW_PROG, "%s", err.msg);

	pid_t monitor = getpid();
	pid_t pid = fork();
	if (pid < 0)
		al_bail(1, GW_PROG, "fork: %s", strerror(errno));
	if (pid == 0) {
		gw_log_role(GW_PROG "[front]");
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != monitor)
			_exit(1);
		signal(SIGINT, SIG_IGN); /* the monitor coordinates shutdown */
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		close_others(&sh, sv[1]);
		if (gw_privsep_confine(&drop, &err) < 0)
			al_bail(1, GW_PROG "[front]", "cannot confine the front end: %s", err.msg);
		if (cfg->privsep_selftest)
			gw_privsep_selftest(monitor, cfg->policy_file);
		_exit(gw_front_run(&sh, sv[1]));
	}
	close(sv[1]);
	/* the front end has the listeners; the monitor keeps only their paths */
	return gw_monitor_run(&sh, sv[0], pid);
}
