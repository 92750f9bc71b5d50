/* Seccomp filters, built from data with libseccomp in this one place, and
 * loaded with the raw seccomp(2) syscall.
 *
 * Every filter built here:
 *   - covers the native ABI (x86_64) only.  A syscall from any other ABI
 *     (i386 through `int 0x80`, x32 numbers with bit 30 set) kills the whole
 *     process (SCMP_ACT_KILL_PROCESS as libseccomp's bad-arch action; the
 *     x86_64 filter libseccomp generates sends nr >= 0x40000000 to the same
 *     action, tests/unit/test_seccomp.c checks both);
 *   - carries the baseline: ioctl(fd, TIOCSTI | TIOCLINUX, ...) fails with
 *     EPERM (the request is compared on its low 32 bits, as the kernel reads
 *     it, so high garbage bits cannot slip past);
 *   - applies the profile's allow/deny lists, unknown names being an error;
 *   - with AL_SC_SPAWN_LOCK, hands execve/execveat/fork/vfork/clone (without
 *     CLONE_THREAD) to a supervisor through seccomp user notification (see
 *     notify.h: exactly the first exec passes) and answers clone3 with ENOSYS
 *     so libc falls back to clone, whose flags the filter can check.
 *
 * How a runner uses it (openssh's order: rlimits, no_new_privs, filter):
 *
 *   parent: al_seccomp_build_cached(...)  (before fork: may malloc)
 *           socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)
 *   child:  setrlimit(...); drop privileges;
 *           prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
 *           al_seccomp_load(&bpf, AL_SC_LOAD_LISTENER, &lfd, &err);
 *           al_send_fd(sv[1], lfd, &err); close(lfd);
 *           execve(...)        <- notified; the supervisor lets it CONTINUE
 *   parent: al_recv_fd(sv[0], &lfd, &err); poll(lfd) + al_notify_handle()
 *
 * The allowance is one exec attempt, successful or not: exec a resolved
 * absolute path with execve(), never execvp() (its PATH search and its
 * /bin/sh fallback for ENOEXEC are later execs, and are denied).
 *
 * Between al_seccomp_load() and execve() the child still runs under the
 * filter: with a default-deny profile, sendmsg and close must be allowed, or
 * load two filters: first al_seccomp_build(NULL, AL_SC_SPAWN_LOCK) with the
 * listener, hand the fd over, then the profile's filter without
 * AL_SC_SPAWN_LOCK and without a listener.  Stacked filters take the
 * strictest action (ERRNO beats USER_NOTIF beats ALLOW), so the lock still
 * decides exec/fork wherever the profile allows them. */
#ifndef AL_SECCOMP_H
#define AL_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/filter.h>

#include "../policy/policy.h"
#include "err.h"

/* A classic-BPF seccomp program. */
struct al_bpf {
	struct sock_filter *insns; /* owned (malloc), len entries */
	unsigned short len;
};

/* al_seccomp_build() flags. */
#define AL_SC_SPAWN_LOCK 1u /* exec-once + fork lock (needs a listener at load) */
/* Over a default-allow profile also: personality changes EPERM (only
 * personality(0) and the query 0xffffffff pass) and sockets outside
 * AF_UNIX/AF_INET/AF_INET6/AF_NETLINK EPERM.  agentrun always sets it. */
#define AL_SC_HARDEN 2u

/* Where al_seccomp_build_cached() keeps programs when given NULL. */
#define AL_SECCOMP_CACHE_DIR "/run/agentlaunch/bpf"

/* Build a filter from a syscall profile (NULL: baseline only, default allow).
 *
 * sc->default_allow: default ALLOW, every name in sc->deny fails with
 * sc->deny_errno (sc->allow is ignored).  Otherwise: default
 * ERRNO(sc->deny_errno), the names in sc->allow are allowed (sc->deny is
 * ignored).  deny_errno must be 1..4095.
 *
 * Names are resolved for x86_64.  A name unknown to libseccomp (and to the
 * short table of newer x86_64 syscalls in seccomp.c) is an error naming it.
 * A name libseccomp knows only as a negative pseudo number (socketcall,
 * ipc, ...: multiplexers of other ABIs) does not exist on x86_64, so no
 * syscall can match it; it is skipped without a word.
 *
 * ioctl keeps the baseline whatever the profile says: when the profile
 * allows ioctl, TIOCSTI/TIOCLINUX still fail with EPERM; when it denies it,
 * every ioctl fails with deny_errno.  With AL_SC_SPAWN_LOCK, the lock's
 * rules replace the profile's own for execve, execveat, fork, vfork, clone
 * and clone3.  Under a default-deny profile without AL_SC_SPAWN_LOCK the
 * program's own execve must be in the allow list.
 *
 * *out is owned by the caller (al_bpf_free).  Not for use between fork and
 * exec (libseccomp mallocs). */
int al_seccomp_build(const struct al_syscall_profile *sc, unsigned flags, struct al_bpf *out,
		     al_err *err);

/* As al_seccomp_build(), through a cache of exported programs in cache_dir
 * (NULL: AL_SECCOMP_CACHE_DIR).  The file is cache_dir/<key>.bpf with key =
 * al_seccomp_cache_key().  The directory is created 0700; a directory or
 * file not owned by the effective uid, or writable by group or other, is
 * never read (the program is rebuilt and, where the directory is ours,
 * the file replaced).  Files are written to a temporary name and renamed.
 * Every cache problem falls back to building: the result never depends on
 * the cache, only the speed.  Errors are those of al_seccomp_build(). */
int al_seccomp_build_cached(const struct al_syscall_profile *sc, unsigned flags,
			    const char *cache_dir, struct al_bpf *out, al_err *err);

/* The cache key: hex sha256 over a canonical serialisation of the profile
 * (default, errno, the sorted, de-duplicated list that applies), the flags,
 * the libseccomp version and API level, the project version and the
 * builder's format version. */
int al_seccomp_cache_key(const struct al_syscall_profile *sc, unsigned flags, char out[65],
			 al_err *err);

/* The agent lock of SPEC §2 (used by agentlaunch): default ALLOW; the names
 * in al_sc_lock_denylist fail with EPERM (personality only when it would
 * change the persona); socket/socketpair for families other than AF_UNIX,
 * AF_INET, AF_INET6, AF_NETLINK fail with EPERM; baseline; AL_SC_SPAWN_LOCK.
 * Load it with AL_SC_LOAD_LISTENER. */
int al_seccomp_build_agent_lock(struct al_bpf *out, al_err *err);

/* NULL-terminated: the syscalls the agent lock denies outright (personality
 * excepted: personality(0) and the query personality(0xffffffff) pass). */
extern const char *const al_sc_lock_denylist[];
/* Number of names in al_sc_lock_denylist, for a verbose message. */
size_t al_sc_lock_denylist_count(void);

/* al_seccomp_load() flags. */
#define AL_SC_LOAD_LISTENER 1u /* SECCOMP_FILTER_FLAG_NEW_LISTENER */

/* Install prog on the calling thread.  For the child between fork and exec:
 * no malloc, raw seccomp(2).  The caller must have set PR_SET_NO_NEW_PRIVS
 * (checked: error otherwise) and be single-threaded (no TSYNC: it cannot be
 * combined with a listener).  With AL_SC_LOAD_LISTENER, *listener_fd gets
 * the notification fd (the kernel makes it O_CLOEXEC); pass it to the
 * supervisor (al_send_fd) and close it before exec.  The listener filter
 * also asks for SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19+; dropped if
 * the kernel refuses it) so that once the supervisor holds the exec
 * notification a signal cannot restart the exec as a second notification.
 * A program containing user-notification returns is refused without
 * AL_SC_LOAD_LISTENER (every notified call would fail with ENOSYS). */
int al_seccomp_load(const struct al_bpf *prog, unsigned flags, int *listener_fd, al_err *err);

void al_bpf_free(struct al_bpf *p);

/* Send one fd (plus one data byte) over a unix socket with SCM_RIGHTS.  No
 * malloc; usable between fork and exec.  The caller keeps (and closes) fd. */
int al_send_fd(int sock, int fd, al_err *err);
/* Receive one fd sent by al_send_fd(); it arrives O_CLOEXEC.  Anything but
 * exactly one fd is an error (extra fds are closed). */
int al_recv_fd(int sock, int *fd, al_err *err);

#endif
