/* Landlock with raw syscalls.  The system headers (Debian 12: Linux 6.1 UAPI,
 * ABI 2) lack the later rights and the extended ruleset attribute, so the
 * UAPI values used here are defined locally; they are fixed kernel ABI. */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6 (the kernel accepts the larger
 * struct on older ABIs as long as the fields it does not know are zero). */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE                                                                                   \
	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                           \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |                            \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |                              \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |   \
	 LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define FS_EXEC LANDLOCK_ACCESS_FS_EXECUTE
/* The rights that may be given on a non-directory. */
#define FS_FILE                                                                                    \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |                              \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* Every filesystem right the given ABI knows. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

int al_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return v < 0 ? 0 : (int)v;
}

static int add_path(int ruleset, const struct al_ll_path *p, uint64_t handled, al_err *err)
{
	struct landlock_path_beneath_attr pb = {0};
	struct stat st;
	uint64_t want = 0;
	int fd, rc = 0;

	if (p->access & AL_LL_READ)
		want |= FS_READ;
	if (p->access & AL_LL_WRITE)
		want |= FS_WRITE;
	if (p->access & AL_LL_EXEC)
		want |= FS_EXEC;
	fd = open(p->path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0; /* a missing path grants nothing */
		return al_err_set(err, errno, "landlock: open %s", p->path);
	}
	if (fstat(fd, &st) < 0) {
		rc = al_err_set(err, errno, "landlock: stat %s", p->path);
		goto out;
	}
	if (!S_ISDIR(st.st_mode))
		want &= FS_FILE;
	pb.allowed_access = want & handled;
	pb.parent_fd = fd;
	if (pb.allowed_access != 0 &&
	    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
		rc = al_err_set(err, errno, "landlock: add a rule for %s", p->path);
out:
	close(fd);
	return rc;
}

int al_landlock_apply(const struct al_ll_path *paths, size_t n, bool deny_tcp, bool scope,
		      int *abi_used, al_err *err)
{
	struct ll_ruleset_attr attr = {0};
	int abi = al_landlock_abi(), ruleset, rc = 0;

	if (abi_used)
		*abi_used = abi;
	if (abi <= 0)
		return al_err_set(err, EOPNOTSUPP,
				  "landlock not supported by this kernel (need Linux >= 5.13 with "
				  "CONFIG_SECURITY_LANDLOCK and lsm=landlock)");
	attr.handled_access_fs = fs_rights(abi);
	if (deny_tcp && abi >= 4)
		attr.handled_access_net =
		    LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
	if (scope && abi >= 6)
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return al_err_set(err, errno, "landlock: create a ruleset (ABI %d)", abi);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_path(ruleset, &paths[i], attr.handled_access_fs, err);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		int e = errno;
		bool nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
		rc = al_err_set(err, e, "landlock: restrict self%s",
				e == EPERM && !nnp ? " (set no_new_privs first: "
						     "prctl(PR_SET_NO_NEW_PRIVS, 1))"
						   : "");
	}
	close(ruleset);
	return rc;
}
