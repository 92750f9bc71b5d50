/* The supervisor of one run (agentrun's own process, root).
 *
 * Two steps.  al_run_prepare needs only the profile: check what the host
 * can enforce (fail closed), load the filter, make the run's cgroup with
 * the profile's limits, clone the sandbox's init into fresh mount/pid/net/
 * ipc/uts namespaces and that group (it builds the root and waits).
 * al_run_start takes the request: workspace (a detached mount moved into
 * the waiting root), the request's limits, code, argv and env go to the
 * init in one dispatch; then capture output, feed stdin, answer the seccomp
 * listener, enforce the wall-clock timeout -- all in one poll loop -- and
 * finally collect the cgroup's numbers and remove every trace.  The gateway
 * keeps prepared sandboxes warm (agentrun --warm, spawn.c), so a request
 * pays only for the second step.  The CLI (al_run, al_run_keep) makes the
 * dispatch before the clone, so the init inherits it, and with al_run_exit
 * leaves the teardown to a helper once the status is known. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/sched.h>

#include "run.h"
#include "shared/cgroup.h"
#include "shared/cleanup.h"
#include "shared/landlock.h"
#include "shared/notify.h"
#include "shared/seccomp.h"
#include "shared/util.h"

#define ROOT_DIR "/run/agentlaunch/root"
#define CLEANUP_WAIT_MS 5000
#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

struct capbuf {
	char *buf;
	size_t len, cap;
	bool truncated;
};

static void capbuf_read(int *fd, struct capbuf *b)
{
	char tmp[65536];

	for (;;) {
		ssize_t r = read(*fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			close(*fd);
			*fd = -1;
			return;
		}
		size_t room = b->cap - b->len;
		size_t take = (size_t)r < room ? (size_t)r : room;
		if (take > 0) {
			memcpy(b->buf + b->len, tmp, take);
			b->len += take;
		}
		if ((size_t)r > take)
			b->truncated = true; /* keep draining: the writer must not block */
	}
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Create the workspace 0700 for uid:gid and open it (O_PATH) without
 * following a symlink at the last component; parents are root-owned 0755.
 * Returns the fd, checked to be owned by the run's uid, or -1. */
static int open_workspace(const struct al_run_spec *s, char *path, size_t pathsz, al_err *err)
{
	struct stat st;

	if (al_workspace_path(s->profile.fs.workspace, s->identity, path, pathsz, err) < 0)
		return -1;
	char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		if (al_mkdir_p(path, 0755, err) < 0)
			return al_err_wrap(err, "workspace parent");
		*slash = '/';
	}
	/* A new workspace appears whole: made under a temporary name, given to
	 * the run's uid, then renamed into place without replacing anything
	 * (two first runs of one identity race here; the loser uses the
	 * winner's). */
	if (access(path, F_OK) < 0) {
		char tmp[PATH_MAX];
		if (snprintf(tmp, sizeof(tmp), "%s.new-%d", path, (int)getpid()) >= (int)sizeof(tmp))
			return al_err_set(err, ENAMETOOLONG, "workspace %s", path);
		if (mkdir(tmp, 0700) < 0)
			return al_err_set(err, errno, "create workspace %s", tmp);
		if (chown(tmp, s->uid, s->gid) < 0) {
			al_err_set(err, errno, "chown workspace %s", tmp);
			rmdir(tmp);
			return -1;
		}
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
			int e = errno;
			rmdir(tmp);
			if (e != EEXIST)
				return al_err_set(err, e, "create workspace %s", path);
		}
	}
	int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return al_err_set(
		    err, errno, "open workspace %s (it must be a directory, not a symlink)", path);
	if (fstat(fd, &st) < 0 || st.st_uid != s->uid) {
		close(fd);
		return al_err_set(err, EPERM,
				  "workspace %s is not owned by uid %u: fix or remove it", path,
				  (unsigned)s->uid);
	}
	return fd;
}

static char **build_env(const struct al_run_spec *s)
{
	size_t n = 0;
	for (char **e = s->env; e && *e; e++)
		n++;
	char **env = calloc(n + 6, sizeof(char *));
	size_t k = 0;
	const char *cwd = s->cwd ? s->cwd : s->profile.fs.cwd;

	if (env == NULL)
		return NULL;
	if (asprintf(&env[k++], "PATH=%s",
		     s->profile.path ? s->profile.path : "/usr/local/bin:/usr/bin:/bin") < 0 ||
	    asprintf(&env[k++], "HOME=%s", cwd) < 0 || asprintf(&env[k++], "LANG=C.UTF-8") < 0 ||
	    asprintf(&env[k++], "TMPDIR=/tmp") < 0) {
		al_strv_free(env);
		return NULL;
	}
	for (char **e = s->env; e && *e; e++)
		env[k++] = strdup(*e);
	return env;
}

/* Code runs start Python isolated (-I: no PYTHON* variables, no user site)
 * and without the site module (-S): importing site costs ~30% of the
 * interpreter's start.  This bootstrap puts back what code expects from
 * site — the system dist-packages directories on sys.path, exit()/quit() —
 * and runs the code from fd 3 (the sealed memfd) as __main__; tracebacks
 * show the code's own line numbers (file "<string>"; an explicit compile()
 * with a file name costs 1.7 ms more here).  .pth files are not processed
 * (docs/policy.md). */
#define PY_BOOT                                                                                    \
	"import sys, builtins\n"                                                                   \
	"v = sys.version_info\n"                                                                   \
	"sys.path += ['/usr/local/lib/python3.%d/dist-packages' % v.minor,"                        \
	" '/usr/lib/python3/dist-packages', '/usr/lib/python3.%d/dist-packages' % v.minor]\n"      \
	"builtins.exit = builtins.quit = sys.exit\n"                                               \
	"sys.argv = ['<code>']\n"                                                                  \
	"with open(3, 'rb') as f:\n"                                                               \
	"    src = f.read()\n"                                                                     \
	"g = {'__name__': '__main__', '__builtins__': builtins}\n"                                  \
	"del v, f\n"                                                                               \
	"try:\n"                                                                                   \
	"    exec(src, g)\n"                                                                       \
	"except SystemExit:\n"                                                                     \
	"    raise\n"                                                                              \
	"except BaseException as e:\n"                                                             \
	"    import traceback\n"                                                                   \
	"    traceback.print_exception(type(e), e, e.__traceback__.tb_next)\n"                     \
	"    sys.exit(1)\n"

static char **build_argv(const struct al_run_spec *s)
{
	size_t n = 0;
	char **argv;

	if (s->code) {
		argv = calloc(6, sizeof(char *));
		if (argv == NULL)
			return NULL;
		argv[0] = strdup(s->profile.interpreter);
		argv[1] = strdup("-I");
		argv[2] = strdup("-S");
		argv[3] = strdup("-c");
		argv[4] = strdup(PY_BOOT);
		return argv;
	}
	while (s->argv[n])
		n++;
	argv = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; argv && i < n; i++)
		argv[i] = strdup(s->argv[i]);
	return argv;
}

struct violation_sink {
	struct al_run_result *res;
};

static void on_violation(const struct al_violation *v, void *arg)
{
	struct violation_sink *sink = arg;
	sink->res->violations++;
	fprintf(stderr, "agentrun: sandbox_violation pid=%d syscall=%s path=%s\n", (int)v->pid,
		v->syscall, v->path);
}

/* interpreter_sha256: open the interpreter once, hash what that fd holds,
 * and later exec exactly that fd (execveat AT_EMPTY_PATH), so the file
 * checked is the file run. */
static int open_pinned(const struct al_profile *pr, al_err *err)
{
	struct stat st;
	char hex[65];
	int fd = open(pr->interpreter, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return al_err_set(err, errno, "open interpreter %s", pr->interpreter);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return al_err_set(err, EACCES, "interpreter %s is not a regular file",
				  pr->interpreter);
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		close(fd);
		return al_err_set(err, errno, "read interpreter %s", pr->interpreter);
	}
	al_sha256_hex(m, (size_t)st.st_size, hex);
	munmap(m, (size_t)st.st_size);
	if (strcmp(hex, pr->interpreter_sha256) != 0) {
		close(fd);
		return al_err_set(
		    err, EPERM,
		    "interpreter %s has sha256 %s but profile %s pins %s: refusing to run it "
		    "(update interpreter_sha256 if the interpreter was upgraded on purpose)",
		    pr->interpreter, hex, pr->name ? pr->name : "?", pr->interpreter_sha256);
	}
	return fd;
}

static const char *cg_parent(const struct al_run_opts *opts)
{
	return opts->cgroup_parent ? opts->cgroup_parent : "agentlaunch";
}

static void sweep(const char *parent)
{
	al_err err = {0};
	if (al_cgroup_sweep(parent, &err) < 0)
		fprintf(stderr, "agentrun: sweeping stale cgroups: %s\n", err.msg);
}

static int create_cgroup(const struct al_run_spec *spec, const struct al_run_opts *opts,
			 struct al_cgroup **cg, enum al_run_failure *failure, al_err *err)
{
	/* No v1 freezer: every process of the run is in its pid namespace,
	 * which the kernel takes down whole when the init dies.  No CPU
	 * accounting when the caller reports no usage. */
	if (al_cgroup_create_flags(cg_parent(opts),
				   spec->run_id, &spec->limits, opts->no_usage ? 0 : AL_CG_ACCOUNT,
				   cg, err) < 0) {
		*failure = AL_RUN_UNENFORCEABLE;
		return -1;
	}
	return 0;
}

/* Everything of one sandbox between al_run_prepare and the end of
 * al_run_start / al_run_abandon. */
struct al_run_prep {
	const struct al_run_spec *proto; /* borrowed: the profile-level part */
	const struct al_run_opts *opts;
	struct al_cg_caps caps;
	struct al_cgroup *cg;
	struct al_bpf bpf;
	struct sock_fprog fprog;
	int code_fd, exec_fd, pidfd, listener, sig_fd;
	int join_fds[AL_CGROUP_MAX_HIER]; /* cgroup.procs for the init to join */
	size_t njoin;
	int in_p[2], out_p[2], err_p[2], sync_sk[2], errmsg_p[2], status_p[2], nsock[2];
	pid_t pid;
	bool want_listener, mask_set;
	bool sweep_after; /* sweep stale groups in the teardown helper */
	bool inherit;	  /* the init inherits the dispatch (al_run, al_run_keep) */
	char *dispatch;	  /* inherit: the dispatch, the workspace's detached mount */
	size_t dispatch_len;
	int ws_tree;
	int ll_abi;
	sigset_t oldmask;
};

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void prep_free(struct al_run_prep *p)
{
	if (p->pid > 0) {
		int st;
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
			;
		p->pid = -1;
	}
	if (p->cg) {
		al_err derr = {0};
		/* No kill round first: the init is reaped, and a pid namespace's
		 * init exits only after every process of the namespace is gone
		 * (the kernel kills and waits for them), so the group is empty
		 * unless someone else put a process there -- which destroy kills. */
		if (al_cgroup_destroy(p->cg, &derr) < 0)
			fprintf(stderr, "agentrun: %s\n", derr.msg);
		p->cg = NULL;
	}
	int *fds[] = {&p->in_p[0],     &p->in_p[1],	&p->out_p[0],	 &p->out_p[1],
		      &p->err_p[0],    &p->err_p[1],	&p->sync_sk[0],	 &p->sync_sk[1],
		      &p->errmsg_p[0], &p->errmsg_p[1], &p->status_p[0], &p->status_p[1],
		      &p->nsock[0],    &p->nsock[1],	&p->listener,	 &p->code_fd,
		      &p->exec_fd,     &p->pidfd,	&p->sig_fd,	 &p->ws_tree};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close_fd(fds[i]);
	for (size_t i = 0; i < AL_CGROUP_MAX_HIER; i++)
		close_fd(&p->join_fds[i]);
	al_bpf_free(&p->bpf);
	free(p->dispatch);
	if (p->mask_set)
		sigprocmask(SIG_SETMASK, &p->oldmask, NULL);
	free(p);
}

void al_run_abandon(struct al_run_prep *p)
{
	if (p)
		prep_free(p);
}

int al_run_prep_sigfd(const struct al_run_prep *p)
{
	return p->sig_fd;
}

int al_run_prep_pidfd(const struct al_run_prep *p)
{
	return p->pidfd;
}

int al_run_prep_died(struct al_run_prep *p, al_err *err)
{
	char msg[AL_ERR_MSG_MAX] = "";
	ssize_t r = -1;

	if (p->errmsg_p[0] >= 0) {
		set_nonblock(p->errmsg_p[0]);
		r = read(p->errmsg_p[0], msg, sizeof(msg) - 1);
	}
	msg[r > 0 ? r : 0] = '\0';
	return al_err_set(err, 0, "the prepared sandbox's init ended before the run%s%s",
			  msg[0] ? ": " : "", msg);
}

/* Before the clone: all the sandbox's init inherits.  The cgroup exists
 * before the init does: on v2 it is born in it (CLONE_INTO_CGROUP), on v1
 * it joins through cgroup.procs fds opened here, first thing, before it
 * forks anything (a migration by the parent would wait for the child). */
static int prep_setup(struct al_run_prep *p, enum al_run_failure *failure, al_err *err)
{
	const struct al_run_spec *proto = p->proto;
	const struct al_run_opts *opts = p->opts;

	if (geteuid() != 0)
		return al_err_set(err, EPERM,
				  "agentrun must run as root: it creates namespaces, mounts and "
				  "cgroups (run it through agentgw, or with sudo)");
	if (strcmp(proto->profile.network ? proto->profile.network : "none", "none") != 0) {
		*failure = AL_RUN_UNENFORCEABLE;
		return al_err_set(err, 0, "profile %s: network mode %s is not supported",
				  proto->profile.name, proto->profile.network);
	}
	if (al_cgroup_probe(&p->caps, err) < 0) {
		*failure = AL_RUN_UNENFORCEABLE;
		return -1;
	}
	/* Groups left by runners that were killed (SIGKILL, a crash) go now
	 * (the CLI's: after its run, in the teardown helper); a failure here
	 * is reported but does not stop this run. */
	if (!p->sweep_after)
		sweep(cg_parent(opts));
	p->ll_abi = al_landlock_abi();

	unsigned scflags = AL_SC_HARDEN | (p->want_listener ? AL_SC_SPAWN_LOCK : 0);
	if (al_seccomp_build_cached(proto->profile.sc, scflags, opts->bpf_cache_dir, &p->bpf, err) <
	    0)
		return al_err_wrap(err, "seccomp filter for profile %s", proto->profile.name);
	p->fprog = (struct sock_fprog){.len = p->bpf.len, .filter = p->bpf.insns};

	/* A code run's memfd exists from the start (the sandbox inherits it);
	 * the code is written and sealed at dispatch. */
	if (proto->code) {
		p->code_fd = memfd_create("agentrun-code", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (p->code_fd < 0)
			return al_err_set(err, errno, "memfd_create");
		if (proto->profile.interpreter_sha256 &&
		    (p->exec_fd = open_pinned(&proto->profile, err)) < 0) {
			*failure = AL_RUN_UNENFORCEABLE;
			return -1;
		}
	}
	if (al_mkdir_p(ROOT_DIR, 0755, err) < 0)
		return -1;
	if (create_cgroup(proto, opts, &p->cg, failure, err) < 0)
		return -1;
	if (p->caps.version != AL_CG_V2) {
		int n = al_cgroup_open_procs(p->cg, p->join_fds, err);
		if (n < 0)
			return -1;
		p->njoin = (size_t)n;
	}

	/* (an init that inherits its dispatch needs no socket to receive it) */
	if ((!p->inherit && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p->sync_sk) < 0) ||
	    pipe2(p->errmsg_p, O_CLOEXEC) < 0 || pipe2(p->status_p, O_CLOEXEC) < 0)
		return al_err_set(err, errno, "pipe");
	if (!opts->passthrough &&
	    (pipe2(p->in_p, O_CLOEXEC) < 0 || pipe2(p->out_p, O_CLOEXEC) < 0 ||
	     pipe2(p->err_p, O_CLOEXEC) < 0))
		return al_err_set(err, errno, "pipe");
	if (p->want_listener &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p->nsock) < 0)
		return al_err_set(err, errno, "socketpair");

	/* SIGTERM/SIGINT/SIGHUP (the gateway's shutdown, a user's ^C) end the
	 * run the same way a timeout does: kill the tree, clean up, report.
	 * Blocked before clone so none is lost; the child restores the mask. */
	sigset_t stop_sigs;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_sigs, &p->oldmask);
	p->mask_set = true;
	p->sig_fd = signalfd(-1, &stop_sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (p->sig_fd < 0)
		return al_err_set(err, errno, "signalfd");
	return 0;
}

/* Clone the init into its namespaces (and, v2, its group). */
static int prep_clone(struct al_run_prep *p, enum al_run_failure *failure, al_err *err)
{
	const struct al_run_spec *proto = p->proto;
	const struct al_run_opts *opts = p->opts;
	struct al_child_ctx c = {
	    .spec = proto,
	    .root_dir = ROOT_DIR,
	    .sync_fd = p->sync_sk[0],
	    .err_fd = p->errmsg_p[1],
	    .status_fd = p->status_p[1],
	    .notify_sock = p->nsock[1],
	    .code_fd = p->code_fd,
	    .exec_fd = p->exec_fd,
	    .join_fds = p->join_fds,
	    .njoin = p->njoin,
	    .dispatch = p->dispatch,
	    .dispatch_len = p->dispatch_len,
	    .ws_tree = p->ws_tree,
	    .filter = &p->fprog,
	    .want_listener = p->want_listener,
	    .landlock_abi = p->ll_abi,
	    .uid = proto->uid,
	    .gid = proto->gid,
	};
	if (opts->passthrough) {
		int in = opts->stdin_fd >= 0 ? opts->stdin_fd : STDIN_FILENO;
		c.stdio[0] = in;
		c.stdio[1] = STDOUT_FILENO;
		c.stdio[2] = STDERR_FILENO;
	} else {
		c.stdio[0] = p->in_p[0];
		c.stdio[1] = p->out_p[1];
		c.stdio[2] = p->err_p[1];
	}

	pid_t pid = -1;
	if (p->caps.version == AL_CG_V2) {
		struct clone_args ca = {.flags = NS_FLAGS | CLONE_INTO_CGROUP,
					.exit_signal = SIGCHLD,
					.cgroup = (uint64_t)al_cgroup_dirfd(p->cg)};
		pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
		/* clone3 filtered away (systemd's RestrictNamespaces=, an old
		 * seccomp profile): clone, and the child joins like on v1. */
		if (pid < 0 && errno == ENOSYS) {
			int n = al_cgroup_open_procs(p->cg, p->join_fds, err);
			if (n < 0)
				return -1;
			c.njoin = p->njoin = (size_t)n;
		}
	}
	if (p->caps.version != AL_CG_V2 || c.njoin > 0)
		pid = (pid_t)syscall(SYS_clone, NS_FLAGS | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		*failure = AL_RUN_UNENFORCEABLE;
		return al_err_set(err, errno, "clone the sandbox (mount/pid/net/ipc/uts namespaces)");
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &p->oldmask, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The supervisor's ends: a write end of the program's stdin kept
		 * open here would deny it EOF forever. */
		int *mine[] = {&p->sync_sk[1], &p->errmsg_p[0], &p->status_p[0], &p->nsock[0],
			       &p->in_p[1],    &p->out_p[0],	&p->err_p[0],	 &p->sig_fd};
		for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
			if (*mine[i] >= 0)
				close(*mine[i]);
		al_child_init(&c);
	}
	p->pid = pid;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int *theirs[] = {&p->sync_sk[0], &p->errmsg_p[1], &p->status_p[1], &p->nsock[1],
			 &p->in_p[0],	 &p->out_p[1],	  &p->err_p[1]};
	for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
		close_fd(theirs[i]);
	for (size_t i = 0; i < p->njoin; i++)
		close_fd(&p->join_fds[i]);
	close_fd(&p->ws_tree);
	if (p->pidfd < 0)
		return al_err_set(err, errno, "pidfd_open");
	return 0;
}

static struct al_run_prep *prep_new(const struct al_run_spec *proto,
				    const struct al_run_opts *opts)
{
	struct al_run_prep *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->proto = proto;
	p->opts = opts;
	p->code_fd = p->exec_fd = p->pidfd = p->listener = p->sig_fd = p->ws_tree = -1;
	p->pid = -1;
	int *pairs[] = {p->in_p, p->out_p, p->err_p, p->sync_sk, p->errmsg_p, p->status_p, p->nsock};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		pairs[i][0] = pairs[i][1] = -1;
	for (size_t i = 0; i < AL_CGROUP_MAX_HIER; i++)
		p->join_fds[i] = -1;
	p->want_listener = proto->profile.deny_spawn_processes;
	return p;
}

int al_run_prepare(const struct al_run_spec *proto, const struct al_run_opts *opts,
		   struct al_run_prep **out, enum al_run_failure *failure, al_err *err)
{
	struct al_run_prep *p = prep_new(proto, opts);

	*out = NULL;
	*failure = AL_RUN_ERROR;
	err->msg[0] = '\0';
	if (p == NULL)
		return al_err_set(err, ENOMEM, "prepare the sandbox");
	if (prep_setup(p, failure, err) < 0 || prep_clone(p, failure, err) < 0) {
		prep_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* The dispatch: what the init needs to start this run's payload (see
 * struct al_dispatch), as one malloc'd block of *len bytes. */
static char *build_dispatch(const struct al_run_spec *spec, char **argv, char **envp,
			    size_t *len)
{
	struct al_dispatch h = {
	    .magic = AL_DISPATCH_MAGIC,
	    .has_code = spec->code != NULL,
	    .uid = spec->uid,
	    .gid = spec->gid,
	    .max_file_mb = spec->limits.max_file_mb,
	    .max_open_files = spec->limits.max_open_files,
	    .tmpfs_size_mb = spec->limits.tmpfs_size_mb,
	};
	const char *cwd = spec->cwd ? spec->cwd : spec->profile.fs.cwd;
	size_t n = sizeof(h) + strlen(cwd) + 1;

	for (; argv[h.argc]; h.argc++)
		n += strlen(argv[h.argc]) + 1;
	for (; envp[h.envc]; h.envc++)
		n += strlen(envp[h.envc]) + 1;
	char *buf = malloc(n), *q = buf;
	if (buf == NULL)
		return NULL;
	memcpy(q, &h, sizeof(h));
	q += sizeof(h);
	for (uint32_t i = 0; i < h.argc + h.envc + 1; i++) {
		const char *str = i < h.argc ? argv[i] : i < h.argc + h.envc ? envp[i - h.argc] : cwd;
		size_t l = strlen(str) + 1;
		memcpy(q, str, l);
		q += l;
	}
	*len = n;
	return buf;
}

/* To an init that waits for it: in a sealed memfd over the sync socket,
 * with the workspace's detached mount. */
static int send_dispatch(struct al_run_prep *p, const char *buf, size_t len, int ws_tree,
			 al_err *err)
{
	cleanup_close int fd = memfd_create("agentrun-dispatch", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return al_err_set(err, errno, "memfd_create");
	if (al_write_all(fd, buf, len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return al_err_set(err, errno, "write the dispatch");
	if (al_send_fd(p->sync_sk[1], fd, err) < 0 || al_send_fd(p->sync_sk[1], ws_tree, err) < 0)
		return al_err_wrap(err, "start the sandbox");
	return 0;
}

/* The workspace as a detached mount (nosuid, nodev, noexec) to be moved
 * into the sandbox's root by its init. */
static int workspace_tree(int fd, const char *path, al_err *err)
{
	int t = (int)syscall(SYS_open_tree, fd, "",
			     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (t < 0)
		return al_err_set(err, errno, "open_tree workspace %s", path);
	/* private: a clone of a mount in a shared peer group joins that group,
	 * and mounts made over paths in the workspace (deny masks) would
	 * propagate back to the host (and host mounts into the sandbox) */
	struct mount_attr attr = {
	    .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	    .propagation = MS_PRIVATE};
	if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		al_err_set(err, errno, "mount_setattr workspace %s", path);
		close(t);
		return -1;
	}
	return t;
}

static bool same_limits(const struct al_limits *a, const struct al_limits *b)
{
	return a->mem_max_mb == b->mem_max_mb && a->pids_max == b->pids_max &&
	       a->cpu_max_percent == b->cpu_max_percent;
}

/* The request's part, for an init that waits for it, or (p->inherit, the
 * CLI) one about to be cloned, which finds it in its copy of our memory:
 * argv/env, the workspace, the code, the request's limits. */
static int run_dispatch(struct al_run_prep *p, const struct al_run_spec *spec,
			struct al_run_result *res, enum al_run_failure *failure, al_err *err)
{
	cleanup_strv char **argv = NULL;
	cleanup_strv char **envp = NULL;
	cleanup_close int ws_tree = -1, ws = -1;
	char ws_path[PATH_MAX];

	if ((spec->code != NULL) != (p->code_fd >= 0))
		return al_err_set(err, EINVAL, "the prepared sandbox is for %s runs",
				  p->code_fd >= 0 ? "code" : "command");
	argv = build_argv(spec);
	envp = build_env(spec);
	if (argv == NULL || envp == NULL)
		return al_err_set(err, ENOMEM, "prepare argv/env");
	if ((ws = open_workspace(spec, ws_path, sizeof(ws_path), err)) < 0 ||
	    (ws_tree = workspace_tree(ws, ws_path, err)) < 0)
		return -1;
	if (spec->code) {
		if (al_write_all(p->code_fd, spec->code, spec->code_len) < 0 ||
		    lseek(p->code_fd, 0, SEEK_SET) < 0 ||
		    fcntl(p->code_fd, F_ADD_SEALS,
			  F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
			return al_err_set(err, errno, "write code to memfd");
		al_sha256_hex(spec->code, spec->code_len, res->code_sha256);
	}
	if (!same_limits(&spec->limits, &p->proto->limits) &&
	    al_cgroup_set_limits(p->cg, &spec->limits, err) < 0) {
		*failure = AL_RUN_UNENFORCEABLE;
		return -1;
	}
	size_t len = 0;
	cleanup_free char *buf = build_dispatch(spec, argv, envp, &len);
	if (buf == NULL)
		return al_err_set(err, ENOMEM, "the dispatch");
	if (p->inherit) {
		p->dispatch = TAKE_PTR(buf);
		p->dispatch_len = len;
		p->ws_tree = TAKE_FD(ws_tree);
	} else if (send_dispatch(p, buf, len, ws_tree, err) < 0) {
		return -1;
	}
	close_fd(&p->sync_sk[1]);
	return 0;
}

/* From the dispatch to the result: the run's poll loop, then p is freed
 * (the teardown). */
static int supervise(struct al_run_prep *p, const struct al_run_spec *spec,
		     struct al_run_result *res, enum al_run_failure *failure, al_err *err,
		     struct al_run_prep **keep)
{
	const struct al_run_opts *opts = p->opts;
	int rc = -1;
	struct capbuf cout = {0}, cerr = {0};
	struct al_notify_state nstate = {0};
	struct violation_sink sink = {res};
	const struct al_limits *l = &spec->limits;
	char errmsg[AL_ERR_MSG_MAX] = "";
	size_t errmsg_len = 0, in_off = 0;
	int wstatus = -1;
	bool got_status = false, init_exited = false;
	int stop_sig = 0;
	int64_t t0 = al_now_us();
	pid_t pid = p->pid;

	/* The poll loop. */
	size_t cap_out = l->max_stdout_bytes >= 0 ? (size_t)l->max_stdout_bytes : 0;
	size_t cap_err = l->max_stderr_bytes >= 0 ? (size_t)l->max_stderr_bytes : 0;
	cout.cap = cap_out;
	cerr.cap = cap_err;
	if (!opts->passthrough) { /* else the output goes straight to ours */
		cout.buf = malloc(cap_out + 1);
		cerr.buf = malloc(cap_err + 1);
	}
	int64_t deadline = t0 + l->timeout_sec * 1000000;

	if (!opts->passthrough) {
		set_nonblock(p->out_p[0]);
		set_nonblock(p->err_p[0]);
		set_nonblock(p->in_p[1]);
		if (spec->stdin_len == 0)
			close_fd(&p->in_p[1]);
	}
	for (;;) {
		struct pollfd pfd[9];
		int n = 0, i_sig = -1, i_out = -1, i_err = -1, i_in = -1, i_msg = -1, i_st = -1,
		    i_ns = -1, i_l = -1, i_pid = -1;
#define ADD(var, fd, ev)                                                                           \
	do {                                                                                       \
		if ((fd) >= 0) {                                                                   \
			var = n;                                                                   \
			pfd[n++] = (struct pollfd){(fd), (ev), 0};                                 \
		}                                                                                  \
	} while (0)
		ADD(i_sig, p->sig_fd, POLLIN);
		ADD(i_out, p->out_p[0], POLLIN);
		ADD(i_err, p->err_p[0], POLLIN);
		ADD(i_in, p->in_p[1], POLLOUT);
		ADD(i_msg, p->errmsg_p[0], POLLIN);
		ADD(i_st, p->status_p[0], POLLIN);
		ADD(i_ns, p->nsock[0], POLLIN);
		ADD(i_l, p->listener, POLLIN);
		if (!init_exited)
			ADD(i_pid, p->pidfd, POLLIN);
#undef ADD
		bool io_open = p->out_p[0] >= 0 || p->err_p[0] >= 0 || p->errmsg_p[0] >= 0 ||
			       p->status_p[0] >= 0;
		if (init_exited && !io_open)
			break;
		/* the payload has exited and its output ended: the run is over
		 * (init's exit tears the namespaces down; nothing to wait for) */
		if (got_status && !io_open)
			break;
		int64_t now = al_now_us();
		int timeout_ms = -1;
		if (!res->timed_out) {
			if (now >= deadline) {
				res->timed_out = true;
				kill(pid, SIGKILL);
				al_cgroup_kill(p->cg, NULL);
				continue;
			}
			timeout_ms = (int)((deadline - now + 999) / 1000);
		} else if (init_exited) {
			timeout_ms = 1000; /* only draining is left */
		}
		int pr = poll(pfd, (nfds_t)n, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			al_err_set(err, errno, "poll");
			kill(pid, SIGKILL);
			goto reap;
		}
		if (pr == 0 && init_exited)
			break; /* a descendant escaped the kill? the cgroup kill below handles it */
		if (i_sig >= 0 && pfd[i_sig].revents) {
			struct signalfd_siginfo si;
			if (read(p->sig_fd, &si, sizeof(si)) == sizeof(si) && stop_sig == 0) {
				stop_sig = (int)si.ssi_signo;
				kill(pid, SIGKILL);
				al_cgroup_kill(p->cg, NULL);
			}
		}
		if (i_out >= 0 && pfd[i_out].revents)
			capbuf_read(&p->out_p[0], &cout);
		if (i_err >= 0 && pfd[i_err].revents)
			capbuf_read(&p->err_p[0], &cerr);
		if (i_in >= 0 && pfd[i_in].revents) {
			ssize_t w =
			    write(p->in_p[1], spec->stdin_data + in_off, spec->stdin_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    in_off >= spec->stdin_len)
				close_fd(&p->in_p[1]);
		}
		if (i_msg >= 0 && pfd[i_msg].revents) {
			ssize_t r = read(p->errmsg_p[0], errmsg + errmsg_len,
					 sizeof(errmsg) - 1 - errmsg_len);
			if (r > 0)
				errmsg_len += (size_t)r;
			else if (r == 0 || errno != EINTR)
				close_fd(&p->errmsg_p[0]);
		}
		if (i_st >= 0 && pfd[i_st].revents) {
			ssize_t r = read(p->status_p[0], &wstatus, sizeof(wstatus));
			if (r == sizeof(wstatus))
				got_status = true;
			close_fd(&p->status_p[0]);
		}
		if (i_ns >= 0 && pfd[i_ns].revents) {
			int fd = -1;
			al_recv_fd(p->nsock[0], &fd, NULL);
			if (fd >= 0 && p->listener < 0)
				p->listener = fd;
			else if (fd >= 0)
				close(fd);
			close_fd(&p->nsock[0]);
		}
		if (i_l >= 0 && pfd[i_l].revents) {
			if (pfd[i_l].revents & (POLLHUP | POLLERR))
				close_fd(&p->listener);
			else
				al_notify_handle(p->listener, &nstate, on_violation, &sink, NULL);
		}
		if (i_pid >= 0 && pfd[i_pid].revents) {
			init_exited = true;
			res->wall_time_ms = (al_now_us() - t0) / 1000;
			close_fd(&p->listener);
		}
	}

reap:
	/* The result is complete once the payload's status is in and its
	 * output has ended: it goes out (opts->on_result) before the teardown
	 * below -- the namespaces' and the group's removal take as long as the
	 * run of a small program. */
	if (res->wall_time_ms == 0)
		res->wall_time_ms = (al_now_us() - t0) / 1000;
	if (p->cg && (!opts->no_usage || !got_status)) {
		int64_t peak = 0, cpu_ns = 0;
		bool oom = false;
		if (al_cgroup_stats(p->cg, opts->no_usage ? NULL : &peak,
				    opts->no_usage ? NULL : &cpu_ns, &oom, NULL) == 0) {
			res->peak_mem_mb = (peak + (1 << 20) - 1) >> 20;
			res->cpu_time_ms = cpu_ns / 1000000;
			res->oom_killed = oom;
		}
	}
	if (err->msg[0] != '\0')
		goto out;
	if (stop_sig != 0) {
		al_err_set(err, 0, "stopped by signal %d (%s): the sandbox was killed", stop_sig,
			   strsignal(stop_sig));
		goto out;
	}
	if (errmsg_len > 0) {
		errmsg[errmsg_len] = '\0';
		al_err_set(err, 0, "sandbox setup failed: %s", errmsg);
		goto out;
	}
	if (got_status) {
		if (WIFEXITED(wstatus)) {
			res->exit_code = WEXITSTATUS(wstatus);
		} else if (WIFSIGNALED(wstatus)) {
			res->signal = WTERMSIG(wstatus);
			res->exit_code = 128 + res->signal;
		}
	} else if (res->timed_out || res->oom_killed) {
		/* Killed with the whole tree (timeout, or a v2 group OOM kill with
		 * memory.oom.group, which takes init too): SIGKILL is the truth. */
		res->signal = SIGKILL;
		res->exit_code = 128 + SIGKILL;
	} else {
		al_err_set(err, 0, "the sandbox's init died without a status");
		goto out;
	}
	res->truncated_stdout = cout.truncated;
	res->truncated_stderr = cerr.truncated;
	res->out = cout.buf;
	res->out_len = cout.len;
	res->errb = cerr.buf;
	res->err_len = cerr.len;
	cout.buf = cerr.buf = NULL;
	snprintf(res->layers, sizeof(res->layers),
		 "ns:mnt,pid,net,ipc,uts,cgroup;cgroup:%s;seccomp%s;landlock:%d;uid:%u",
		 al_cgroup_version_name(p->caps.version), p->want_listener ? "+spawn-lock" : "",
		 p->ll_abi, (unsigned)spec->uid);
	*failure = AL_RUN_OK;
	rc = 0;
	if (opts->on_result)
		opts->on_result(res, opts->result_arg);

out:
	free(cout.buf);
	free(cerr.buf);
	if (rc == 0 && keep != NULL) {
		*keep = p; /* al_run_exit does the teardown */
		return rc;
	}
	prep_free(p); /* the teardown: tree killed, init reaped, group removed */
	return rc;
}

static void result_init(struct al_run_result *res, const struct al_run_spec *spec,
			enum al_run_failure *failure, al_err *err)
{
	*failure = AL_RUN_ERROR;
	err->msg[0] = '\0';
	memset(res, 0, sizeof(*res));
	snprintf(res->run_id, sizeof(res->run_id), "%s", spec->run_id);
}

int al_run_start(struct al_run_prep *p, const struct al_run_spec *spec,
		 struct al_run_result *res, enum al_run_failure *failure, al_err *err)
{
	result_init(res, spec, failure, err);
	if (run_dispatch(p, spec, res, failure, err) < 0) {
		prep_free(p);
		return -1;
	}
	return supervise(p, spec, res, failure, err, NULL);
}

/* The CLI's run: the dispatch is made before the clone, so the init
 * finds it in its copy of our memory the moment its root is built. */
static int run_all(const struct al_run_spec *spec, const struct al_run_opts *opts,
		   struct al_run_result *res, enum al_run_failure *failure, al_err *err,
		   struct al_run_prep **keep)
{
	struct al_run_prep *p = prep_new(spec, opts);

	result_init(res, spec, failure, err);
	if (p == NULL)
		return al_err_set(err, ENOMEM, "prepare the sandbox");
	p->sweep_after = keep != NULL;
	p->inherit = true;
	if (prep_setup(p, failure, err) < 0 || run_dispatch(p, spec, res, failure, err) < 0 ||
	    prep_clone(p, failure, err) < 0) {
		prep_free(p);
		return -1;
	}
	return supervise(p, spec, res, failure, err, keep);
}

int al_run(const struct al_run_spec *spec, const struct al_run_opts *opts,
	   struct al_run_result *res, enum al_run_failure *failure, al_err *err)
{
	return run_all(spec, opts, res, failure, err, NULL);
}

int al_run_keep(const struct al_run_spec *spec, const struct al_run_opts *opts,
		struct al_run_result *res, enum al_run_failure *failure, al_err *err,
		struct al_run_prep **left)
{
	*left = NULL;
	return run_all(spec, opts, res, failure, err, left);
}

/* The detached teardown: wait for the init's exit through its pidfd (it is
 * not our child), then the usual teardown.  Runs on its own stack in the
 * memory of the process that exited: nothing else uses it any more. */
static int teardown_helper(void *arg)
{
	struct al_run_prep *p = arg;
	struct pollfd pf = {p->pidfd, POLLIN, 0};

	/* nothing of the caller's: a reader of our stdout gets its EOF now */
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	if (poll(&pf, 1, CLEANUP_WAIT_MS) != 1) {
		syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
		(void)poll(&pf, 1, CLEANUP_WAIT_MS);
	}
	p->pid = -1;	     /* exited; reaped by whoever inherits it */
	p->mask_set = false; /* SIGTERM & co. stay blocked until we are done */
	const char *parent = cg_parent(p->opts); /* not p's: it outlives prep_free */
	prep_free(p);
	sweep(parent);
	_exit(0);
}

void al_run_exit(struct al_run_prep *p, int status)
{
	static char stack[128 << 10] __attribute__((aligned(16)));

	fflush(NULL);
	if (p != NULL &&
	    clone(teardown_helper, stack + sizeof(stack), CLONE_VM | SIGCHLD, p) < 0)
		prep_free(p); /* no helper: the teardown here, as al_run does it */
	_exit(status);
}
