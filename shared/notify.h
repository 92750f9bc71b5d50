/* The supervisor side of the exec-once lock (AL_SC_SPAWN_LOCK, seccomp.h).
 *
 * A filter built with AL_SC_SPAWN_LOCK turns execve, execveat, fork, vfork
 * and clone without CLONE_THREAD into seccomp user notifications.  The
 * supervisor (agentrun, agentlaunch) polls the listener fd in its own loop
 * and calls al_notify_handle() when it is readable:
 *
 *   - the FIRST notification on a listener is the sandbox's own exec: the
 *     filter is installed by a single-threaded process that execs right
 *     away, so nothing else can be notified first.  If it is execve or
 *     execveat it continues (SECCOMP_USER_NOTIF_FLAG_CONTINUE).  Whatever it
 *     was, the allowance is then used up: first_exec_used is set.
 *   - every later notification fails with EPERM, is counted and reported
 *     through the callback.  The decision never depends on what the process
 *     asked for: the arguments are read only to report them.
 *
 * Poll loop: wait for POLLIN on the listener and for the child's exit
 * (pidfd or SIGCHLD).  POLLHUP on the listener means every task under the
 * filter is gone; the kernel signals it only once they have been reaped, so
 * a parent must not wait for POLLHUP before reaping its own child.  If the
 * supervisor stops answering or closes the listener, notified syscalls fail
 * with ENOSYS (fail closed). */
#ifndef AL_NOTIFY_H
#define AL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define AL_VIOLATION_MAX_ARGS 64	/* argv elements reported */
#define AL_VIOLATION_MAX_ARG_BYTES 1024 /* bytes read per argv element */

/* One denied exec/fork attempt.  Every string is NUL-terminated, bounded
 * and safe to print and to put in JSON: content read from the process is
 * hostile, so it is UTF-8 checked (each invalid byte becomes U+FFFD). */
struct al_violation {
	pid_t pid;	  /* in the supervisor's pid namespace (0 if not visible) */
	char syscall[32]; /* "execve", "execveat", "fork", "vfork", "clone" */
	/* exec only, else "": the path argument with control characters
	 * replaced by U+FFFD, "..." appended when cut; "?" when it could not
	 * be read or the process went away while it was read.  execveat with
	 * AT_EMPTY_PATH and "": "<fd N> TARGET" (TARGET from /proc/PID/fd). */
	char path[4096];
	/* exec only, else "": a JSON array of strings (valid JSON, ASCII
	 * escapes for control characters): at most AL_VIOLATION_MAX_ARGS
	 * elements of at most AL_VIOLATION_MAX_ARG_BYTES bytes each; a cut
	 * element ends in "...[truncated]", and a last element
	 * "[truncated]" says elements were left out or could not be read
	 * (argv itself unreadable: ["[truncated]"]).  "[]" when the process
	 * went away while it was read (path "?" then too). */
	char argv_json[8192];
};

/* Per listener.  Zero-initialise before the first call. */
struct al_notify_state {
	bool first_exec_used; /* the one exec allowance is used up */
	unsigned violations;  /* denied notifications */
};

/* Called for each violation after the target has been answered. */
typedef void (*al_violation_cb)(const struct al_violation *v, void *arg);

/* Receive and answer one notification on listener_fd (call when it polls
 * readable).  A target that died or was interrupted before it was answered
 * (ENOENT) is not an error: 0.  Returns <0 with err only when the listener
 * itself fails. */
int al_notify_handle(int listener_fd, struct al_notify_state *st, al_violation_cb cb, void *arg,
		     al_err *err);

/* The x86_64 name of syscall nr into buf (n bytes).  0 when known; -1 and
 * "syscall_NR" when not.  (Defined in seccomp.c, next to the name table.) */
int al_syscall_name(int nr, char *buf, size_t n);

#endif
