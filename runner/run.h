/* One sandboxed run: the supervisor (run.c) and the code of the sandbox's
 * own processes (child.c: the pid-1 init and the payload, mounts.c: the
 * root filesystem). */
#ifndef AL_RUNNER_RUN_H
#define AL_RUNNER_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shared/err.h"
#include "shared/runspec.h"

struct al_run_opts {
	const char *bpf_cache_dir;  /* NULL = default /run/agentlaunch/bpf */
	const char *cgroup_parent;  /* "agentlaunch" */
	bool passthrough;           /* CLI: stream stdout/stderr to ours instead of capturing */
	int stdin_fd;               /* passthrough: the sandbox's stdin (-1 = /dev/null) */
	bool verbose;
	bool no_usage;              /* the caller reports no peak memory / CPU time */
	/* called with the result as soon as it is known, before the sandbox's
	 * teardown (al_run/al_run_start return after it) */
	void (*on_result)(const struct al_run_result *res, void *arg);
	void *result_arg;
};

/* Error codes for a run that could not start (al_err.errnum carries errno;
 * this says how to classify it). */
enum al_run_failure { AL_RUN_OK = 0, AL_RUN_ERROR, AL_RUN_UNENFORCEABLE };

/* Run spec to completion.  Returns 0 with *res filled when the program ran
 * (whatever its exit status), <0 with err set (and *failure) when the
 * sandbox could not be built; nothing of the run is left either way. */
int al_run(const struct al_run_spec *spec, const struct al_run_opts *opts,
	   struct al_run_result *res, enum al_run_failure *failure, al_err *err);

struct al_run_prep; /* a prepared sandbox: below */

/* The CLI's variant: the same run, but on success the teardown is left
 * to al_run_exit (*left; NULL when al_run_keep failed and cleaned up). */
int al_run_keep(const struct al_run_spec *spec, const struct al_run_opts *opts,
		struct al_run_result *res, enum al_run_failure *failure, al_err *err,
		struct al_run_prep **left);
/* Exit the process with status right away, the teardown of p (the init's
 * exit, the group's removal) finishing in a helper process that shares
 * this process's memory -- nothing is copied, and nothing else runs in it
 * any more -- as bwrap leaves its namespaces to exit after it.  stdout
 * and stderr are flushed first.  p NULL: just exit.  Never returns. */
__attribute__((noreturn)) void al_run_exit(struct al_run_prep *p, int status);

/* A prepared sandbox: its init waits in fresh namespaces and a cgroup with
 * the profile's limits, its root built but for the workspace. */

/* Step one: everything that depends only on proto's profile (and uid/gid,
 * code or command, limits as the cgroup's first values).  proto must stay
 * valid until start or abandon. */
int al_run_prepare(const struct al_run_spec *proto, const struct al_run_opts *opts,
		   struct al_run_prep **out, enum al_run_failure *failure, al_err *err);
/* Step two: run spec (same profile as proto; its own limits, workspace,
 * argv, code) to completion, like al_run.  Frees p whatever happens. */
int al_run_start(struct al_run_prep *p, const struct al_run_spec *spec,
		 struct al_run_result *res, enum al_run_failure *failure, al_err *err);
/* Kill the waiting sandbox and remove every trace of it; frees p. */
void al_run_abandon(struct al_run_prep *p);
/* The signalfd (SIGTERM, SIGINT, SIGHUP) a waiting caller should poll. */
int al_run_prep_sigfd(const struct al_run_prep *p);
/* The init's pidfd (readable when it has exited), and the error to report
 * then (its setup error, when it wrote one); always -1. */
int al_run_prep_pidfd(const struct al_run_prep *p);
int al_run_prep_died(struct al_run_prep *p, al_err *err);

/* The dispatch the supervisor sends the waiting init: this header, then
 * argc + envc + 1 NUL-terminated strings (argv, envp, cwd), in a sealed
 * memfd; a second message carries the workspace's detached mount.  The
 * CLI's init, cloned after the dispatch is made, finds both in its memory
 * (al_child_ctx). */
#define AL_DISPATCH_MAGIC 0x616c6431u
struct al_dispatch {
	uint32_t magic;
	uint32_t argc, envc;
	uint32_t has_code;
	uint32_t uid, gid;
	int64_t max_file_mb, max_open_files, tmpfs_size_mb;
};

/* Everything a child needs, prepared by the supervisor before clone; the
 * request's part (argv, envp, cwd, limits, uid) arrives with the dispatch. */
struct al_child_ctx {
	const struct al_run_spec *spec;   /* the prepared profile */
	const char *root_dir;      /* mount point for the new root, e.g. /run/agentlaunch/root */
	int sync_fd;               /* SEQPACKET: the dispatch (memfd, then workspace tree) */
	int err_fd;                /* write end: setup error text, CLOEXEC */
	int status_fd;             /* write end: init reports the payload's wait status */
	int notify_sock;           /* socketpair end for the seccomp listener, -1 if none */
	int code_fd;               /* memfd with code for code runs, -1 otherwise */
	int exec_fd;               /* pinned interpreter, verified: execveat it, -1 otherwise */
	const int *join_fds;       /* cgroup.procs of the run's group to join first (v1) */
	size_t njoin;              /* 0: born in it (v2, CLONE_INTO_CGROUP) */
	const char *dispatch;      /* the dispatch in memory (the CLI), else NULL: */
	size_t dispatch_len;       /*   it comes over sync_fd */
	int ws_tree;               /* with dispatch: the workspace's detached mount */
	int stdio[3];              /* the payload's stdin/stdout/stderr */
	const struct sock_fprog *filter;  /* the profile's seccomp filter */
	bool want_listener;
	int landlock_abi;          /* 0 = none */
	/* from the dispatch */
	char **envp;
	char **argv;
	const char *cwd;
	int64_t max_file_mb, max_open_files;
	uid_t uid;
	gid_t gid;
};

/* The pid-1 init of the sandbox.  Never returns. */
__attribute__((noreturn)) void al_child_init(struct al_child_ctx *c);

/* Build the new root under c->root_dir and pivot into it (mounts.c); the
 * workspace's mount point is left empty. */
int al_mounts_setup(const struct al_child_ctx *c, al_err *err);
/* After pivot_root: move the workspace's detached mount (ws_tree) onto the
 * profile's cwd, hide the deny entries inside it, resize the tmpfs mounts
 * when the request's size differs from the prepared one. */
int al_mounts_dispatch(const struct al_child_ctx *c, int ws_tree, int64_t tmpfs_size_mb,
		       al_err *err);

#endif
