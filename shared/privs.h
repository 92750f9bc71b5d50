/* Dropping a process's privileges for good, before it execs untrusted code
 * (used by agentrun's payload and agentlaunch's agent).  Between fork and
 * exec: no malloc, raw syscalls only. */
#ifndef AL_PRIVS_H
#define AL_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* al_drop_privileges() flags. */
/* The caller is in a user namespace whose /proc/PID/setgroups is "deny"
 * (an unprivileged one): setgroups() fails with EPERM there and is
 * skipped.  The supplementary groups of the namespace's creator then stay
 * attached (unmapped); the kernel still honours them. */
#define AL_PRIV_USERNS 1u

/* Empty the capability bounding set, clear the ambient set, drop the
 * supplementary groups, set real/effective/saved gid then uid, clear the
 * permitted/effective/inheritable sets, and check that uid 0 cannot be
 * regained.  Needs CAP_SETPCAP, CAP_SETUID and CAP_SETGID (in the current
 * user namespace) on entry. */
int al_drop_privileges(uid_t uid, gid_t gid, unsigned flags, al_err *err);

/* Read back the current state into report ("uid=U gid=G groups=N
 * caps=0 bounding=0 ambient=0", n bytes) and check that ids are uid/gid and
 * that no capability is left in any set; an error names what is not. */
int al_privileges_check(uid_t uid, gid_t gid, char *report, size_t n, al_err *err);

#endif
