#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#define CAP_LAST 63

int al_drop_privileges(uid_t uid, gid_t gid, unsigned flags, al_err *err)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	/* Capability numbers are contiguous: EINVAL is the first past this
	 * kernel's last one. */
	for (int cap = 0; cap <= CAP_LAST; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL && cap > 0)
				break;
			return al_err_set(err, errno, "drop capability %d from the bounding set",
					  cap);
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return al_err_set(err, errno, "clear ambient capabilities");
	if (setgroups(0, NULL) < 0 && !((flags & AL_PRIV_USERNS) && errno == EPERM))
		return al_err_set(err, errno, "setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return al_err_set(err, errno, "setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return al_err_set(err, errno, "setresuid %u", (unsigned)uid);
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return al_err_set(err, errno, "capset");
	if (uid != 0 && (setresuid(0, 0, 0) == 0 || getuid() == 0))
		return al_err_set(err, EPERM, "privileges could be regained after dropping them");
	return 0;
}

int al_privileges_check(uid_t uid, gid_t gid, char *report, size_t n, al_err *err)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	unsigned long long eff, prm, inh, bnd = 0, amb = 0;
	int ngroups = getgroups(0, NULL);

	memset(data, 0, sizeof(data));
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    syscall(SYS_capget, &hdr, data) < 0)
		return al_err_set(err, errno, "read back credentials");
	eff = ((unsigned long long)data[1].effective << 32) | data[0].effective;
	prm = ((unsigned long long)data[1].permitted << 32) | data[0].permitted;
	inh = ((unsigned long long)data[1].inheritable << 32) | data[0].inheritable;
	for (int cap = 0; cap <= CAP_LAST; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			bnd |= 1ULL << cap;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
			amb |= 1ULL << cap;
	}
	if (report)
		snprintf(report, n, "uid=%u gid=%u groups=%d caps=%llx bounding=%llx ambient=%llx",
			 (unsigned)eu, (unsigned)eg, ngroups, eff | prm | inh, bnd, amb);
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return al_err_set(err, EPERM, "ids are %u/%u/%u:%u/%u/%u, want %u:%u", (unsigned)ru,
				  (unsigned)eu, (unsigned)su, (unsigned)rg, (unsigned)eg,
				  (unsigned)sg, (unsigned)uid, (unsigned)gid);
	if (eff | prm | inh | bnd | amb)
		return al_err_set(
		    err, EPERM,
		    "capabilities left: effective/permitted/inheritable %llx, bounding "
		    "%llx, ambient %llx",
		    eff | prm | inh, bnd, amb);
	return 0;
}
