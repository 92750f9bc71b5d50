/* The agent's two processes, from clone to exec (see launch.h).
 *
 * init — pid 1 of the agent's pid namespace, forked from the supervisor
 *   (still privileged in its namespaces, runs no untrusted code):
 *   PDEATHSIG, joins the agent's network namespace (isolated) or brings lo
 *   up and makes the relays' listening sockets (rootless), builds the
 *   filesystem view in its private mount namespace, forks the agent, then
 *   forwards SIGINT/SIGTERM/SIGHUP sent by the supervisor, reaps, and
 *   reports the agent's wait status.  When it exits the kernel kills
 *   whatever is left in the namespace; when the supervisor dies, PDEATHSIG
 *   kills init and so the agent.
 *
 * agent — closes inherited fds (close_range), enters the workdir, drops
 *   uid/gid/groups/capabilities (bounding set included), checks the
 *   workdir is writable, no_new_privs, Landlock, the seccomp lock with its
 *   listener sent to the supervisor, and execve of the resolved path: the
 *   one exec the lock lets through.  No thread exists before that exec, so
 *   no thread can race it.
 *
 * Filesystem view (mount namespace; Landlock adds the same rules again):
 *   - every mount read-only and nosuid (mount_setattr, recursive);
 *   - a fresh /proc for the pid namespace (/proc/sys, sysrq-trigger
 *     read-only);
 *   - private tmpfs on /tmp and /dev/shm;
 *   - empty read-only tmpfs over secrets and other people's data: /root,
 *     other users' homes, /run (runtime sockets: D-Bus, ssh-agent,
 *     the gateway's), /var/lib/agentlaunch (other agents' workspaces),
 *     /var/log/agentlaunch; /dev/null over /etc/shadow and friends;
 *   - the workdir bound read-write at its own path (and the agent binary
 *     read-only, if it lies in a hidden place).
 *
 * Errors go to the report pipe as "e MESSAGE\n" lines (verified facts
 * for -v as "v MESSAGE\n") and the process exits 125 (126/127 for an exec
 * that fails with EACCES/ENOENT). */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "shared/landlock.h"
#include "shared/privs.h"
#include "shared/seccomp.h"
#include "shared/util.h"

#define TMP_SIZE "size=1g"
#define SHM_SIZE "size=256m"

static void report(int fd, char kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(int fd, char kind, const char *fmt, ...)
{
	char buf[AL_ERR_MSG_MAX + 64];
	va_list ap;
	int n;

	buf[0] = kind;
	buf[1] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(buf + 2, sizeof(buf) - 3, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = (size_t)n > sizeof(buf) - 3 ? (int)sizeof(buf) - 3 : n;
	for (int i = 2; i < n + 2; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n + 2] = '\n';
	(void)al_write_all(fd, buf, (size_t)n + 3);
}

static __attribute__((noreturn)) void fail(const struct la_child *ch, int status, const al_err *e)
{
	report(ch->rep_fd, 'e', "%s", e->msg);
	_exit(status);
}

/* ------------------------------------------------------------ filesystem */

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int bind_at(const char *src, const char *dst, unsigned long flags, al_err *err)
{
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return al_err_set(err, errno, "bind %s on %s", src, dst);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		return al_err_set(err, errno, "remount %s", dst);
	return 0;
}

struct keep {
	const char *path; /* absolute, as on the host */
	int fd;		  /* O_PATH, opened in our mount namespace before anything hid it */
	bool dir, rw, done;
};

static int bind_keep(struct keep *k, al_err *err)
{
	char src[64];

	snprintf(src, sizeof(src), "/proc/self/fd/%d", k->fd);
	if (bind_at(src, k->path, k->rw ? (MS_NOSUID | MS_NODEV) : (MS_RDONLY | MS_NOSUID), err) <
	    0)
		return -1;
	k->done = true;
	return 0;
}

/* A tmpfs over dir; the keeps beneath it are bound back in.  ro: empty and
 * read-only (a mask), else writable 1777 (/tmp, /dev/shm). */
static int overlay(const char *dir, bool ro, const char *opts, struct keep *keeps, size_t nk,
		   unsigned *masked, al_err *err)
{
	struct stat st;
	char o[64];
	bool has_keep = false;

	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0; /* missing, or a symlink (its target is handled on its own) */
	for (size_t i = 0; i < nk; i++)
		if (!keeps[i].done && under(keeps[i].path, dir))
			has_keep = true;
	snprintf(o, sizeof(o), "%s,mode=%s", opts, ro ? (has_keep ? "0755" : "0000") : "1777");
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, o) < 0)
		return al_err_set(err, errno, "mount tmpfs on %s", dir);
	for (size_t i = 0; i < nk; i++) {
		if (keeps[i].done || !under(keeps[i].path, dir))
			continue;
		if (al_make_mountpoint(keeps[i].path, keeps[i].dir, err) < 0 ||
		    bind_keep(&keeps[i], err) < 0)
			return -1;
	}
	if (ro && mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			NULL) < 0)
		return al_err_set(err, errno, "remount %s read-only", dir);
	if (ro)
		(*masked)++;
	return 0;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (d == NULL)
		_exit(LA_EXIT_ERROR);
	return d;
}

/* Directories hidden from the agent: /root, other users' homes, /run,
 * the project's state; files: the shadow family.  Computed by init, in
 * parallel with the supervisor's network setup. */
static char **mask_dirs(const struct la_child *ch)
{
	static const char *const fixed[] = {"/root", "/run", "/var/lib/agentlaunch",
					    "/var/log/agentlaunch", "/var/run/agentlaunch"};
	size_t cap = 64, n = 0;
	char **v = calloc(cap + 1, sizeof(char *));

	if (v == NULL)
		_exit(LA_EXIT_ERROR);
#define ADD(p)                                                                                     \
	do {                                                                                       \
		bool dup = false;                                                                  \
		for (size_t i_ = 0; i_ < n; i_++)                                                  \
			dup = dup || strcmp(v[i_], (p)) == 0;                                      \
		if (!dup && n < cap)                                                               \
			v[n++] = xstrdup(p);                                                       \
	} while (0)
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ADD(fixed[i]);
	setpwent();
	for (struct passwd *pw; (pw = getpwent()) != NULL;) {
		const char *d = pw->pw_dir;
		if (pw->pw_uid == ch->uid || d == NULL || d[0] != '/' || strcmp(d, "/") == 0 ||
		    strcmp(d, ch->home) == 0 || strcmp(d, "/home") == 0)
			continue;
		/* real people's homes: /home/..., or any home of uid >= 1000 */
		if (strncmp(d, "/home/", 6) != 0 && (pw->pw_uid < 1000 || pw->pw_uid == 65534))
			continue;
		if (strncmp(d, "/nonexistent", 12) == 0)
			continue;
		ADD(d);
	}
	endpwent();
	DIR *dir = opendir("/home");
	if (dir != NULL) {
		for (struct dirent *de; (de = readdir(dir)) != NULL;) {
			char p[PATH_MAX];
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "/home/%s", de->d_name);
			if (strcmp(p, ch->home) != 0)
				ADD(p);
		}
		closedir(dir);
	}
#undef ADD
	return v;
}

static char **mask_files(void)
{
	static const char *const f[] = {"/etc/shadow", "/etc/shadow-", "/etc/gshadow",
					"/etc/gshadow-", "/etc/security/opasswd"};
	char **v = calloc(sizeof(f) / sizeof(f[0]) + 1, sizeof(char *));

	if (v == NULL)
		_exit(LA_EXIT_ERROR);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		v[i] = xstrdup(f[i]);
	return v;
}

static int setup_fs(const struct la_child *ch, char *rep, size_t repn, al_err *err)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};
	struct keep keeps[2];
	size_t nk = 0;
	struct stat st;
	unsigned masked = 0, masked_files = 0;
	const char *procnote = "fresh /proc";
	char **mdirs = mask_dirs(ch), **mfiles = mask_files();

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return al_err_set(err, errno, "make / private");
	/* Before anything is hidden: what must stay visible. */
	keeps[nk] = (struct keep){ch->workdir, -1, true, true, false};
	keeps[nk].fd = open(ch->workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (keeps[nk].fd < 0 || fstat(keeps[nk].fd, &st) < 0)
		return al_err_set(err, errno, "open workdir %s", ch->workdir);
	if (st.st_dev != ch->wd_dev || st.st_ino != ch->wd_ino)
		return al_err_set(err, EPERM, "workdir %s was replaced during start-up",
				  ch->workdir);
	nk++;
	if (!under(ch->agent_path, ch->workdir)) {
		keeps[nk] = (struct keep){ch->agent_path, -1, false, false, false};
		keeps[nk].fd = open(ch->agent_path, O_PATH | O_CLOEXEC);
		if (keeps[nk].fd >= 0)
			nk++;
	}

	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return al_err_set(err, errno, "make every mount read-only (mount_setattr)");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
		static const char *const ro[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
						 "/proc/bus"};
		for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
			if (access(ro[i], F_OK) == 0 &&
			    bind_at(ro[i], ro[i], MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				    err) < 0)
				return -1;
	} else if (ch->userns) {
		procnote = "host /proc kept (a fresh one was refused in the user namespace)";
	} else {
		return al_err_set(err, errno, "mount a fresh /proc");
	}

	/* The workdir first unless a tmpfs below hides its place (then it is
	 * bound back into that tmpfs): masks inside it still apply. */
	bool wd_hidden = under(ch->workdir, "/tmp") || under(ch->workdir, "/dev/shm");
	for (char **m = mdirs; m && *m; m++)
		wd_hidden = wd_hidden || under(ch->workdir, *m);
	if (!wd_hidden && bind_keep(&keeps[0], err) < 0)
		return -1;
	if (overlay("/tmp", false, TMP_SIZE, keeps, nk, &masked, err) < 0 ||
	    overlay("/dev/shm", false, SHM_SIZE, keeps, nk, &masked, err) < 0)
		return -1;
	for (char **m = mdirs; m && *m; m++)
		if (overlay(*m, true, "size=16k", keeps, nk, &masked, err) < 0)
			return -1;
	for (char **f = mfiles; f && *f; f++) {
		if (lstat(*f, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (bind_at("/dev/null", *f, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0)
			return -1;
		masked_files++;
	}
	for (size_t i = 0; i < nk; i++)
		close(keeps[i].fd);
	snprintf(rep, repn,
		 "fs: mount namespace: every mount read-only+nosuid, %s, private /tmp and "
		 "/dev/shm, %s read-write, %u directories and %u files masked",
		 procnote, ch->workdir, masked, masked_files);
	return 0;
}

/* ------------------------------------------------------------------ agent */

static int apply_landlock(const struct la_child *ch, int *abi, al_err *err)
{
	struct al_ll_path paths[] = {
	    {"/", AL_LL_READ | AL_LL_EXEC},
	    {ch->workdir, AL_LL_READ | AL_LL_WRITE},
	    {"/tmp", AL_LL_READ | AL_LL_WRITE},
	    {"/dev", AL_LL_READ | AL_LL_WRITE}, /* /dev/null, the terminal; /dev/shm */
	};

	return al_landlock_apply(paths, sizeof(paths) / sizeof(paths[0]), false, true, abi, err);
}

static __attribute__((noreturn)) void agent_main(struct la_child *ch)
{
	al_err err = {0};
	char priv[256];
	int listener = -1, abi = 0;
	sigset_t none;
	struct rlimit core = {0, 0};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Nothing inherited crosses the exec but 0-2; the report pipe and the
	 * control socket are close-on-exec already and used until then. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		al_err_set(&err, errno, "close_range"), fail(ch, LA_EXIT_ERROR, &err);
	signal(SIGPIPE, SIG_DFL);
	if (chdir(ch->workdir) < 0)
		al_err_set(&err, errno, "chdir %s", ch->workdir), fail(ch, LA_EXIT_ERROR, &err);
	setrlimit(RLIMIT_CORE, &core);
	if (al_drop_privileges(ch->uid, ch->gid, ch->userns ? AL_PRIV_USERNS : 0, &err) < 0)
		fail(ch, LA_EXIT_ERROR, &err);
	if (al_privileges_check(ch->uid, ch->gid, priv, sizeof(priv), &err) < 0)
		fail(ch, LA_EXIT_ERROR, &err);
	if (access(".", W_OK | X_OK) < 0) {
		al_err_set(&err, 0,
			   "the workdir %s is not writable by the agent's user %u:%u (%s): give a "
			   "--workdir that user can write, or another --user",
			   ch->workdir, (unsigned)ch->uid, (unsigned)ch->gid, strerror(errno));
		fail(ch, LA_EXIT_ERROR, &err);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		al_err_set(&err, errno, "no_new_privs"), fail(ch, LA_EXIT_ERROR, &err);
	if (apply_landlock(ch, &abi, &err) < 0 && abi > 0)
		fail(ch, LA_EXIT_ERROR, &err);
	if (ch->verbose) {
		report(ch->rep_fd, 'v', "privileges: %s no_new_privs=%d", priv,
		       prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
		if (abi > 0)
			report(ch->rep_fd, 'v',
			       "landlock: ABI %d: read+exec /, write only %s /tmp /dev; signals "
			       "and abstract unix sockets scoped to the agent",
			       abi, ch->workdir);
		else
			report(ch->rep_fd, 'v', "landlock: not available (mount namespace only)");
	}
	if (al_seccomp_load(ch->bpf, AL_SC_LOAD_LISTENER, &listener, &err) < 0)
		fail(ch, LA_EXIT_ERROR, &err);
	if (al_send_fd(ch->ctl_sock, listener, &err) < 0)
		fail(ch, LA_EXIT_ERROR, &err);
	close(listener);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The one exec the lock lets through (the supervisor answers it). */
	execve(ch->agent_path, ch->argv, ch->envp);
	int e = errno;
	al_err_set(&err, e, "execve %s", ch->agent_path);
	fail(ch, (e == ENOENT || e == ENOTDIR) ? LA_EXIT_NOTFOUND : LA_EXIT_NOEXEC, &err);
}

/* ------------------------------------------------------------------- init */

static volatile pid_t agent_pid;

static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* From the supervisor (kill/pidfd_send_signal): pass it on.  A signal
	 * the terminal generated (SI_KERNEL) reached the agent directly: it is
	 * in the same foreground process group. */
	if (agent_pid > 0 && si->si_code != SI_KERNEL && kill(agent_pid, sig) < 0)
		_exit(128 + sig); /* cannot signal it (no CAP_KILL): end the namespace, and it */
}

static int rootless_relays(const struct la_child *ch, al_err *err)
{
	if (la_net_lo_up(err) < 0)
		return -1;
	for (size_t i = 0; i < ch->n_relay_ports; i++) {
		int fd = la_net_listen_loopback(ch->relay_ports[i], err);
		if (fd < 0)
			return -1;
		int r = al_send_fd(ch->ctl_sock, fd, err);
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}

void la_init_main(struct la_child *ch)
{
	al_err err = {0};
	char rep[512];
	struct pollfd pfd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* getppid() is 0 in a new pid namespace: the supervisor's end of the
	 * control socket tells whether it died before PDEATHSIG was set. */
	pfd = (struct pollfd){.fd = ch->ctl_sock, .events = 0};
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
		_exit(LA_EXIT_ERROR);
	if (ch->userns) {
		char b;
		if (read(ch->sync_fd, &b, 1) != 1)
			_exit(LA_EXIT_ERROR); /* the supervisor died */
	}
	close(ch->sync_fd);
	/* isolated: the supervisor configures this namespace from outside */
	if (ch->rootless_net && rootless_relays(ch, &err) < 0)
		fail(ch, LA_EXIT_ERROR, &err);
	if (setup_fs(ch, rep, sizeof(rep), &err) < 0)
		fail(ch, LA_EXIT_ERROR, &err);
	if (ch->verbose)
		report(ch->rep_fd, 'v', "%s", rep);

	pid_t pid = fork();
	if (pid < 0)
		al_err_set(&err, errno, "fork the agent"), fail(ch, LA_EXIT_ERROR, &err);
	if (pid == 0)
		agent_main(ch);

	/* init: keep only the status pipe. */
	agent_pid = pid;
	int st_fd = fcntl(ch->status_fd, F_DUPFD_CLOEXEC, 3);
	if (st_fd < 0)
		_exit(LA_EXIT_ERROR);
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	syscall(SYS_close_range, 3, (unsigned)st_fd - 1, 0);
	syscall(SYS_close_range, (unsigned)st_fd + 1, ~0U, 0);
	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			_exit(LA_EXIT_ERROR);
		if (w == pid) {
			(void)al_write_all(st_fd, &st, sizeof(st));
			_exit(0);
		}
	}
}
