/* One sandboxed run: the supervisor (run.c) and the code of the sandbox's
 * own processes (child.c: the pid-1 init and the payload, mounts.c: the
 * root filesystem). */
#ifndef AL_RUNNER_RUN_H
#define AL_RUNNER_RUN_H

#include <stdbool.h>
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
};

/* Error codes for a run that could not start (al_err.errnum carries errno;
 * this says how to classify it). */
enum al_run_failure { AL_RUN_OK = 0, AL_RUN_ERROR, AL_RUN_UNENFORCEABLE };

/* Run spec to completion.  Returns 0 with *res filled when the program ran
 * (whatever its exit status), <0 with err set (and *failure) when the
 * sandbox could not be built; nothing of the run is left either way. */
int al_run(const struct al_run_spec *spec, const struct al_run_opts *opts,
	   struct al_run_result *res, enum al_run_failure *failure, al_err *err);

/* Everything a child needs, prepared by the supervisor before clone so the
 * children do not allocate. */
struct al_child_ctx {
	const struct al_run_spec *spec;
	const char *root_dir;      /* mount point for the new root, e.g. /run/agentlaunch/root */
	const char *workspace;     /* host workspace dir (validated by the supervisor) */
	dev_t workspace_dev;       /* ... and its identity: the child re-opens it */
	ino_t workspace_ino;       /* and refuses a swapped directory */
	int sync_fd;               /* read end: supervisor says "go" (1 byte) */
	int err_fd;                /* write end: setup error text, CLOEXEC */
	int status_fd;             /* write end: init reports the payload's wait status */
	int notify_sock;           /* socketpair end for the seccomp listener, -1 if none */
	int code_fd;               /* memfd with code for code runs, -1 otherwise */
	int exec_fd;               /* pinned interpreter, verified: execveat it, -1 otherwise */
	int stdio[3];              /* the payload's stdin/stdout/stderr */
	const struct sock_fprog *filter;  /* the profile's seccomp filter */
	bool want_listener;
	int landlock_abi;          /* 0 = none */
	char **envp;               /* built by the supervisor */
	char **argv;               /* built by the supervisor */
	uid_t uid;
	gid_t gid;
};

/* The pid-1 init of the sandbox.  Never returns. */
__attribute__((noreturn)) void al_child_init(struct al_child_ctx *c);

/* Build the new root under c->root_dir and pivot into it (mounts.c). */
int al_mounts_setup(const struct al_child_ctx *c, al_err *err);

#endif
