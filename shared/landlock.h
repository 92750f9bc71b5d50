/* Landlock: an unprivileged filesystem (and TCP, and scope) allowlist for
 * the calling thread and everything it starts afterwards.
 *
 * Best effort by ABI, as the kernel documentation recommends: only the
 * access rights the running kernel knows are handled (ABI 1 the basic
 * filesystem rights, 2 REFER, 3 TRUNCATE, 4 TCP bind/connect, 5 IOCTL_DEV,
 * 6 scoping of abstract unix sockets and signals).  Everything a handled
 * right covers is denied except beneath the listed paths.
 *
 * Call al_landlock_apply() in the single-threaded child, after all setup
 * that needs wider access (mounts, opening files) and after
 * prctl(PR_SET_NO_NEW_PRIVS) (required without CAP_SYS_ADMIN), right before
 * exec.  It restricts the calling thread only, never undoes, does not
 * allocate, and uses raw syscalls (glibc has no wrappers).  Files opened
 * before it keep their access. */
#ifndef AL_LANDLOCK_H
#define AL_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Access classes for a path.
 *   READ   directory: read files and list directories beneath it;
 *          file: read it.
 *   WRITE  directory: write, truncate, create (regular files, directories,
 *          fifos, sockets, symlinks; never device nodes), remove, rename or
 *          link (REFER) beneath it, and ioctl on devices opened there
 *          (IOCTL_DEV); file: write, truncate and device ioctls on it.
 *   EXEC   execve of files beneath it / of the file.
 * For a path that is not a directory only the file rights of the class
 * apply (the kernel refuses directory rights on files). */
#define AL_LL_READ 1u
#define AL_LL_WRITE 2u
#define AL_LL_EXEC 4u

struct al_ll_path {
	const char *path; /* borrowed; absolute, as seen by the caller */
	unsigned access;  /* AL_LL_* */
};

/* The kernel's Landlock ABI version; 0 when Landlock is unsupported or
 * disabled. */
int al_landlock_abi(void);

/* Restrict the calling thread to paths[0..n).  Paths that do not exist
 * (ENOENT, ENOTDIR) are skipped: they grant nothing.  Any other failure to
 * open a path is an error.
 *   deny_tcp  ABI >= 4: handle TCP bind and connect with no rule, so every
 *             TCP bind(2) and connect(2) fails with EACCES (UDP, unix
 *             sockets untouched).  Ignored on older ABIs.
 *   scope     ABI >= 6: no connecting to abstract unix sockets and no
 *             signals to processes outside this Landlock domain (EPERM).
 *             Ignored on older ABIs.
 * *abi_used (may be NULL) gets the kernel's ABI version.  With ABI 0 this
 * returns an error (errnum EOPNOTSUPP) and restricts nothing; the caller
 * decides whether that is fatal. */
int al_landlock_apply(const struct al_ll_path *paths, size_t n, bool deny_tcp, bool scope,
		      int *abi_used, al_err *err);

#endif
