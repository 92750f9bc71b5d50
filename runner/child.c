/* Inside the sandbox: the pid-1 init and the payload.
 *
 * init (pid 1 of the new pid namespace, still root, no untrusted code):
 *   join the run's cgroup (v1), build the root (mounts.c), wait for the
 *   supervisor's dispatch (argv, env, limits and the workspace), move the
 *   workspace in, enter a new cgroup namespace, fork
 *   the payload, then reap until the payload exits and report its wait
 *   status on status_fd.  When init exits the kernel kills everything left in the
 *   namespace — that is how background grandchildren die.
 * payload: new session (no controlling terminal), rlimits, drop groups,
 *   uid, gid and every capability, no_new_privs, Landlock, seccomp (last),
 *   execve.  Any setup failure is written to err_fd and exits 125.
 *
 * Between fork and exec nothing allocates: messages go through al_err's
 * fixed buffer. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "shared/cgroup.h"
#include "shared/landlock.h"
#include "shared/privs.h"
#include "shared/seccomp.h"
#include "shared/util.h"

static __attribute__((noreturn)) void child_fail(int err_fd, const al_err *e)
{
	(void)al_write_all(err_fd, e->msg, strnlen(e->msg, sizeof(e->msg)));
	_exit(125);
}

static int set_rlimit(int res, rlim_t v, const char *name, al_err *err)
{
	struct rlimit rl = {v, v};
	struct rlimit cur;

	if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < v)
		rl.rlim_cur = rl.rlim_max = cur.rlim_max; /* never raise a hard limit */
	if (setrlimit(res, &rl) < 0)
		return al_err_set(err, errno, "setrlimit %s", name);
	return 0;
}

static int apply_landlock(const struct al_child_ctx *c, al_err *err)
{
	const struct al_profile *pr = &c->spec->profile;
	struct al_ll_path paths[64];
	size_t n = 0;
	int abi = 0;

	paths[n++] = (struct al_ll_path){"/", AL_LL_READ};
	paths[n++] = (struct al_ll_path){"/dev", AL_LL_READ | AL_LL_WRITE};
	for (size_t i = 0; i < pr->fs.read_only.n && n < 60; i++)
		paths[n++] = (struct al_ll_path){pr->fs.read_only.v[i], AL_LL_READ | AL_LL_EXEC};
	/* Writable places are never executable: only binaries from the
	 * read-only system mounts can run. */
	for (size_t i = 0; i < pr->fs.read_write.n && n < 62; i++)
		paths[n++] = (struct al_ll_path){pr->fs.read_write.v[i], AL_LL_READ | AL_LL_WRITE};
	for (size_t i = 0; i < pr->fs.tmpfs.n && n < 63; i++)
		paths[n++] = (struct al_ll_path){pr->fs.tmpfs.v[i], AL_LL_READ | AL_LL_WRITE};
	paths[n++] = (struct al_ll_path){pr->fs.cwd, AL_LL_READ | AL_LL_WRITE};
	return al_landlock_apply(paths, n, true, true, &abi, err);
}

static __attribute__((noreturn)) void payload(struct al_child_ctx *shared)
{
	/* A copy: the payload may share init's memory until its exec (see
	 * start_payload) and renumbers fds below. */
	struct al_child_ctx ctx = *shared, *c = &ctx;
	al_err err = {0};
	const char *cwd = c->cwd;
	int listener = -1;

	if (setsid() < 0)
		al_err_set(&err, errno, "setsid"), child_fail(c->err_fd, &err);
	/* Move every fd we still need above the low numbers first, so the
	 * dup2s into 0..3 cannot clobber one of them; dup2 onto a fresh
	 * number always clears CLOEXEC. */
	int hi[4] = {c->stdio[0], c->stdio[1], c->stdio[2], c->code_fd};
	for (int i = 0; i < 4; i++)
		if (hi[i] >= 0 && (hi[i] = fcntl(hi[i], F_DUPFD_CLOEXEC, 100)) < 0)
			al_err_set(&err, errno, "dup fd"), child_fail(c->err_fd, &err);
	if (c->err_fd < 100 && (c->err_fd = fcntl(c->err_fd, F_DUPFD_CLOEXEC, 100)) < 0)
		_exit(125);
	if (c->notify_sock >= 0 && c->notify_sock < 100 &&
	    (c->notify_sock = fcntl(c->notify_sock, F_DUPFD_CLOEXEC, 100)) < 0)
		al_err_set(&err, errno, "dup fd"), child_fail(c->err_fd, &err);
	for (int i = 0; i < 4; i++)
		if (hi[i] >= 0 && dup2(hi[i], i) < 0)
			al_err_set(&err, errno, "dup2 stdio"), child_fail(c->err_fd, &err);
	/* Nothing else crosses the exec: whatever agentrun inherited is
	 * marked close-on-exec (the error pipe and notify socket stay usable
	 * until then). */
	if (syscall(SYS_close_range, c->code_fd >= 0 ? 4 : 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		al_err_set(&err, errno, "close_range"), child_fail(c->err_fd, &err);
	/* Only 0-2 (and the code fd) survive; the error pipe and the notify
	 * socket are CLOEXEC and needed until exec. */
	if (set_rlimit(RLIMIT_FSIZE, (rlim_t)c->max_file_mb << 20, "FSIZE", &err) < 0 ||
	    set_rlimit(RLIMIT_NOFILE, (rlim_t)c->max_open_files, "NOFILE", &err) < 0 ||
	    set_rlimit(RLIMIT_CORE, 0, "CORE", &err) < 0)
		child_fail(c->err_fd, &err);
	if (chdir(cwd) < 0)
		al_err_set(&err, errno, "chdir %s", cwd), child_fail(c->err_fd, &err);
	if (al_drop_privileges(c->uid, c->gid, 0, &err) < 0)
		child_fail(c->err_fd, &err);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		al_err_set(&err, errno, "no_new_privs"), child_fail(c->err_fd, &err);
	if (c->landlock_abi > 0 && apply_landlock(c, &err) < 0)
		child_fail(c->err_fd, &err);
	struct al_bpf prog = {.insns = c->filter->filter, .len = c->filter->len};
	if (al_seccomp_load(&prog, c->want_listener ? AL_SC_LOAD_LISTENER : 0, &listener, &err) < 0)
		child_fail(c->err_fd, &err);
	if (c->want_listener) {
		if (al_send_fd(c->notify_sock, listener, &err) < 0)
			child_fail(c->err_fd, &err);
		close(listener);
	}
	if (c->exec_fd >= 0)
		syscall(SYS_execveat, c->exec_fd, "", c->argv, c->envp, AT_EMPTY_PATH);
	else
		execve(c->argv[0], c->argv, c->envp);
	al_err_set(&err, errno, "execve %s", c->argv[0]);
	child_fail(c->err_fd, &err);
}

static int payload_entry(void *arg)
{
	payload(arg);
}

/* The payload shares init's memory until it execs (or fails: _exit), init
 * waiting meanwhile, as posix_spawn does: no copy of init's address space
 * for a process that is about to replace it.  The payload writes only its
 * own stack (a copy of the context) and, between fork and exec, allocates
 * nothing; init has no signal handlers that could run on the shared memory.
 * ASan builds fork (its runtime does not follow a stack switch). */
static pid_t start_payload(struct al_child_ctx *c)
{
#if defined(__SANITIZE_ADDRESS__)
	pid_t pid = fork();
	if (pid == 0)
		payload(c);
	return pid;
#else
	enum { STACK = 256 << 10, GUARD = 4096 };
	char *stack = mmap(NULL, STACK + GUARD, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	(void)mprotect(stack, GUARD, PROT_NONE);
	pid_t pid = clone(payload_entry, stack + STACK + GUARD, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
	int e = errno;
	munmap(stack, STACK + GUARD);
	errno = e;
	return pid;
#endif
}

/* The dispatch into c (from memory when the init inherited it, else over
 * sync_fd: run.c's send_dispatch); its tmpfs size.  EOF on the socket (the
 * supervisor gave up on this sandbox) exits quietly. */
static void read_dispatch(struct al_child_ctx *c, int *ws_tree, int64_t *tmpfs_mb)
{
	al_err err = {0};
	int fd = -1;
	struct stat st;
	struct al_dispatch h;
	const char *m = c->dispatch;
	size_t size = c->dispatch_len;

	if (m != NULL) {
		*ws_tree = c->ws_tree;
	} else {
		if (al_recv_fd(c->sync_fd, &fd, &err) < 0 || fd < 0)
			_exit(125);
		if (al_recv_fd(c->sync_fd, ws_tree, &err) < 0 || *ws_tree < 0)
			_exit(125);
		if (fstat(fd, &st) < 0 || st.st_size > (64 << 20))
			al_err_set(&err, EINVAL, "bad dispatch"), child_fail(c->err_fd, &err);
		size = (size_t)st.st_size;
		m = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
		close(fd);
		if (m == MAP_FAILED)
			al_err_set(&err, errno, "map the dispatch"), child_fail(c->err_fd, &err);
		close(c->sync_fd);
	}
	if (size < sizeof(h))
		al_err_set(&err, EINVAL, "bad dispatch"), child_fail(c->err_fd, &err);
	memcpy(&h, m, sizeof(h));
	if (h.magic != AL_DISPATCH_MAGIC || h.argc == 0 || h.argc > (1u << 20) ||
	    h.envc > (1u << 20))
		al_err_set(&err, EINVAL, "bad dispatch"), child_fail(c->err_fd, &err);
	char **v = calloc((size_t)h.argc + h.envc + 2, sizeof(char *));
	if (v == NULL)
		al_err_set(&err, ENOMEM, "dispatch"), child_fail(c->err_fd, &err);
	const char *q = m + sizeof(h), *end = m + size;
	/* argv, NULL, envp, NULL -- then cwd */
	for (uint32_t i = 0; i < h.argc + h.envc + 1; i++) {
		const char *z = memchr(q, '\0', (size_t)(end - q));
		if (z == NULL)
			al_err_set(&err, EINVAL, "bad dispatch"), child_fail(c->err_fd, &err);
		if (i < h.argc) /* (char *): execve's type; the strings are not written */
			v[i] = (char *)q;
		else if (i < h.argc + h.envc)
			v[i + 1] = (char *)q;
		else
			c->cwd = q;
		q = z + 1;
	}
	c->argv = v;
	c->envp = v + h.argc + 1;
	c->uid = h.uid;
	c->gid = h.gid;
	c->max_file_mb = h.max_file_mb;
	c->max_open_files = h.max_open_files;
	*tmpfs_mb = h.tmpfs_size_mb;
	if (!h.has_code) { /* a command run in a sandbox prepared for one */
		if (c->code_fd >= 0)
			close(c->code_fd);
		if (c->exec_fd >= 0)
			close(c->exec_fd);
		c->code_fd = c->exec_fd = -1;
	}
}

void al_child_init(struct al_child_ctx *c)
{
	al_err err = {0};
	int ws_tree = -1;
	int64_t tmpfs_mb = 0;

	/* Into the run's cgroup before anything else (v1; on v2 the init is
	 * born in it); then the root is built -- for a warm sandbox long
	 * before the request -- and the dispatch says what to run. */
	if (al_cgroup_join(c->join_fds, c->njoin, &err) < 0)
		child_fail(c->err_fd, &err);
	for (size_t i = 0; i < c->njoin; i++)
		close(c->join_fds[i]);
	if (sethostname("agentrun", 8) < 0)
		al_err_set(&err, errno, "sethostname"), child_fail(c->err_fd, &err);
	if (al_mounts_setup(c, &err) < 0)
		child_fail(c->err_fd, &err);
	read_dispatch(c, &ws_tree, &tmpfs_mb);
	if (al_mounts_dispatch(c, ws_tree, tmpfs_mb, &err) < 0)
		child_fail(c->err_fd, &err);
	close(ws_tree);
	if (unshare(CLONE_NEWCGROUP) < 0)
		al_err_set(&err, errno, "unshare cgroup namespace"), child_fail(c->err_fd, &err);

	pid_t pid = start_payload(c);
	if (pid < 0)
		al_err_set(&err, errno, "start the payload"), child_fail(c->err_fd, &err);

	/* init: hold nothing the payload could use, reap, report. */
	close(c->err_fd);
	for (int i = 0; i < 3; i++)
		close(c->stdio[i]);
	if (c->code_fd >= 0)
		close(c->code_fd);
	if (c->notify_sock >= 0)
		close(c->notify_sock);
	for (int i = 0; i < 3; i++)
		close(i);
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			_exit(125);
		if (w == pid) {
			(void)al_write_all(c->status_fd, &st, sizeof(st));
			_exit(0);
		}
	}
}
