/* One cgroup per sandboxed run: memory (no swap), CPU quota and pids limits,
 * attach, statistics, kill and removal, on cgroup v1 and v2.
 *
 * Layout:
 *   v1: /sys/fs/cgroup/<controller>/<parent>/<name> in every hierarchy used
 *       (memory, pids, cpuacct, cpu when a CPU quota is set, freezer when
 *       mounted).  A group's memory directory is made first and removed
 *       last.  Plus, once per boot, an empty named hierarchy mounted on
 *       /run/agentlaunch/cgfavor for fast migrations (see
 *       al_cgroup_fast_attach_prepare and docs/cgroups.md).
 *   v2: <root>/<base>/<parent>/<name>, where <root> is the cgroup2 mount and
 *       <base> is $AGENTLAUNCH_CGROUP_BASE (relative to <root>, default the
 *       root itself; under systemd point it at the service's delegated
 *       subtree).  The needed controllers are enabled in base's and the
 *       parent's cgroup.subtree_control.
 * Both are driven with plain *at() syscalls on directory fds, not libcgroup
 * (cgroup_v1.c says why: speed), the mounts read once per process from
 * /proc/self/mountinfo.  The v2 code also runs on a fake tree in the unit
 * tests and yields the fd CLONE_INTO_CGROUP needs.
 *
 * Fail closed: al_cgroup_create() refuses (with a message saying what to
 * enable) when a controller needed for a limit is missing: memory and pids
 * always, cpu when cpu_max_percent is set, cpuacct (v1) for CPU time.
 *
 * Ownership and concurrency: the process that creates a group holds an
 * exclusive flock(2) on its directory (v1: in the memory hierarchy) until
 * al_cgroup_destroy(); creators hold a shared flock on the parent while
 * creating, al_cgroup_sweep() an exclusive one.  So a sweep, run at any time
 * by any process, only removes groups whose owner is gone.
 *
 * Thread safety: the functions may be called from several threads for
 * different groups; one struct al_cgroup must not be used concurrently. */
#ifndef AL_CGROUP_H
#define AL_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../policy/policy.h"
#include "err.h"

enum al_cg_version { AL_CG_NONE = 0, AL_CG_V1, AL_CG_V2 };

/* What this host can enforce (for /v1/capabilities and fail-closed checks). */
struct al_cg_caps {
	enum al_cg_version version;
	bool memory, cpu, pids;
	bool cpuacct;	   /* CPU time accounting: v1 cpuacct; v2 cpu.stat (always) */
	bool memsw;	   /* v1: swap accounting (memory.memsw.limit_in_bytes) */
	bool swap_max;	   /* v2: memory.swap.max */
	bool peak;	   /* v2: memory.peak (Linux >= 5.19) */
	bool kill;	   /* v2: cgroup.kill (Linux >= 5.14) */
	char v2_root[256]; /* v2: the cgroup2 mount point in use, else "" */
};

/* Probe the mounted cgroup hierarchies (the usual layouts by a few statfs
 * calls, anything else from /proc/self/mountinfo; a few cgroupfs files; no
 * libcgroup).  version is AL_CG_V1 when any v1
 * hierarchy carries memory or pids (hybrid hosts), else AL_CG_V2 when a
 * cgroup2 mount exists, else AL_CG_NONE (not an error).  On v2 the
 * controllers are those listed in <root>/<base>/cgroup.controllers; swap_max,
 * peak and kill are read from a sample group when one is visible, else
 * estimated from the kernel version (al_cgroup_create checks the real group). */
int al_cgroup_probe(struct al_cg_caps *caps, al_err *err);

const char *al_cgroup_version_name(enum al_cg_version v); /* "none", "v1", "v2" */

struct al_cgroup; /* opaque; owned by whoever created it */

/* Create the run's group <parent>/<name> with limits from l:
 *   mem_max_mb (required)  v1 memory.limit_in_bytes, and
 *                          memory.memsw.limit_in_bytes equal to it when swap
 *                          accounting exists (else memory.swappiness=0);
 *                          v2 memory.max, memory.swap.max=0 when present,
 *                          memory.oom.group=1 when present
 *   cpu_max_percent        v1 cpu.cfs_period_us=100000 + cpu.cfs_quota_us;
 *                          v2 cpu.max "Q 100000"; AL_LIMIT_UNSET: no quota
 *   pids_max (required)    pids.max
 * parent: one or more '/'-separated components of [A-Za-z0-9._-] (e.g.
 * "agentlaunch"), created when missing and left in place; name: one such
 * component (the run id).  An existing group of that name is an error
 * (EEXIST, in any v1 hierarchy), never reused.  The host probe is cached per
 * process.  v1: calls al_cgroup_fast_attach_prepare() first. */
int al_cgroup_create(const char *parent, const char *name, const struct al_limits *l,
		     struct al_cgroup **out, al_err *err);
/* The same with a choice of what beyond the limits the group carries (v1
 * hierarchies; on v2 both come with the group): AL_CG_ACCOUNT the CPU time
 * (v1 cpuacct; without it al_cgroup_stats cannot report cpu_time_ns),
 * AL_CG_FREEZER a race-free al_cgroup_kill (v1 freezer; a caller whose
 * processes all live in a pid namespace it can take down does not need it).
 * al_cgroup_create is both. */
#define AL_CG_ACCOUNT 1u
#define AL_CG_FREEZER 2u
int al_cgroup_create_flags(const char *parent, const char *name, const struct al_limits *l,
			   unsigned flags, struct al_cgroup **out, al_err *err);

/* v1 only: make migrations (al_cgroup_attach) fast, host-wide, by mounting
 * an empty v1 hierarchy with the kernel's "favordynmods" flag:
 *   mount -t cgroup -o none,name=agentlaunch,favordynmods cgroup
 *         /run/agentlaunch/cgfavor
 * in the caller's mount namespace (call it before unsharing one), and leaving
 * it mounted.  Without it a v1 migration costs 5-10 ms per hierarchy (an RCU
 * grace period per cgroup.procs write), with it ~0.3 ms; the price is
 * slightly slower fork/exit host-wide (docs/cgroups.md).  An optimisation,
 * never a requirement: returns 1 when the hierarchy is mounted (now or
 * before), 0 when it is not used: cgroup v2 or no cgroups, opted out with
 * AGENTLAUNCH_NO_FAVORDYNMODS=1, or the mount failed (e.g. a kernel without
 * the option; err, when not NULL, then says why, for a debug log).  Never
 * negative.  Cheap after the first call in a process (the result is cached;
 * a mount already listed in /proc/self/mountinfo costs no syscall).
 * al_cgroup_create() calls it on v1. */
int al_cgroup_fast_attach_prepare(al_err *err);

/* Change the limits of a group made by al_cgroup_create (memory, pids,
 * CPU quota; a quota can be set only when the group was made with one, and
 * one is left as it is when l has none).  al_cgroup_create writes its first
 * limits with the same code.  A
 * warm sandbox's group is made with the profile's ceilings and gets the
 * request's effective limits at dispatch. */
int al_cgroup_set_limits(struct al_cgroup *cg, const struct al_limits *l, al_err *err);

/* Move pid (all its threads) into the group: writes it to cgroup.procs in
 * every hierarchy.  Call it from the supervising parent while the child waits
 * (v1), before the child unshares its cgroup namespace. */
int al_cgroup_attach(struct al_cgroup *cg, pid_t pid, al_err *err);

/* For a child that joins the group itself (a sandbox's init, first thing,
 * before it forks): cgroup.procs of every hierarchy opened for writing
 * (O_CLOEXEC; the caller closes them).  Returns how many (at most
 * AL_CGROUP_MAX_HIER) or -1.  The child calls al_cgroup_join on them, which
 * writes "0" (the writer) to each and allocates nothing. */
#define AL_CGROUP_MAX_HIER 5
int al_cgroup_open_procs(const struct al_cgroup *cg, int fds[AL_CGROUP_MAX_HIER], al_err *err);
int al_cgroup_join(const int *fds, size_t n, al_err *err);

/* v2: an O_PATH|O_DIRECTORY|O_CLOEXEC fd of the group, for
 * clone3(CLONE_INTO_CGROUP); owned by cg (valid until destroy).  v1: -1. */
int al_cgroup_dirfd(const struct al_cgroup *cg);

/* The group's path, e.g. "/sys/fs/cgroup/memory/agentlaunch/r-1" (v1: the
 * memory hierarchy), for messages.  Owned by cg. */
const char *al_cgroup_path(const struct al_cgroup *cg);

/* Usage so far (any out pointer may be NULL); call before destroy.
 *   peak_mem_bytes  v1 memory.max_usage_in_bytes; v2 memory.peak, or on
 *                   kernels without it the largest memory.current seen by
 *                   calls to this function (call it periodically then)
 *   cpu_time_ns     v1 cpuacct.usage; v2 cpu.stat usage_usec * 1000
 *   oom_killed      the OOM killer killed a process of the group
 *                   (v1 memory.oom_control oom_kill, v2 memory.events oom_kill) */
int al_cgroup_stats(struct al_cgroup *cg, int64_t *peak_mem_bytes, int64_t *cpu_time_ns,
		    bool *oom_killed, al_err *err);

/* SIGKILL every process in the group.  v2: one write to cgroup.kill when
 * present (returns at once; the kernel kills the whole subtree); else, and on
 * v1, freeze (v2 cgroup.freeze / v1 freezer hierarchy, when there), SIGKILL
 * every member, thaw, and repeat SIGKILL rounds until the group is empty
 * (bounded, ~1 s).  Unfrozen pids are checked for membership through a pidfd
 * before the signal, so a recycled pid is never hit. */
int al_cgroup_kill(struct al_cgroup *cg, al_err *err);

/* Kill, wait until the group is empty (bounded, ~1 s), remove it in every
 * hierarchy (v1: memory last) and check that no directory is left.  v1 tries
 * the removal first (an rmdir refuses a group with processes) and kills only
 * when that fails with EBUSY, so an empty group costs no extra reads.  cg is
 * freed in every
 * case (NULL is a no-op); on failure the group may be left behind, ownerless,
 * and a later al_cgroup_sweep() removes it once its processes are gone. */
int al_cgroup_destroy(struct al_cgroup *cg, al_err *err);

/* Remove the leftovers of crashed runs: child groups of <parent> that no
 * live process owns (see "Ownership" above) and that contain no process.
 * Groups that still contain processes (in any hierarchy) are left alone.
 * Returns the number of cgroup directories removed (v1: one per hierarchy),
 * or < 0 on error.  A missing parent is not an error.  Cheap enough for every
 * run's start (tens of us with nothing to remove): it lists one directory
 * (v1: memory/<parent>, whose children index the groups; v2: the parent). */
int al_cgroup_sweep(const char *parent, al_err *err);

/* ---- Testing only: the v2 backend over a fake cgroupfs -----------------
 *
 * These run the same v2 code as the real path, rooted at `root` (a plain
 * directory tree imitating a cgroup2 mount) with `base` as
 * AGENTLAUNCH_CGROUP_BASE ("" or NULL: the root).  A plain directory does not
 * grow interface files on mkdir and refuses rmdir while they exist, so
 * directory creation and removal go through these callbacks (0, or -1 with
 * errno set, like the syscalls).  fs is borrowed by the groups created with
 * it and must outlive them.  Production code never calls these. */
struct al_cg_fakefs {
	int (*mkdirat)(int dirfd, const char *name, void *arg);
	int (*rmdirat)(int dirfd, const char *name, void *arg);
	void *arg;
};

/* The probe by the fast path (fast) or from mountinfo alone: caps and the
 * v1 mount point per controller (memory, pids, cpuacct, cpu, freezer).
 * Returns whether the fast path recognises this host, or -1. */
int al_cgroup_testing_probe(bool fast, struct al_cg_caps *caps, char mnt[5][512], al_err *err);
int al_cgroup_testing_v2_probe(const char *root, const char *base, struct al_cg_caps *caps,
			       al_err *err);
int al_cgroup_testing_v2_create(const char *root, const char *base, const struct al_cg_fakefs *fs,
				const char *parent, const char *name, const struct al_limits *l,
				struct al_cgroup **out, al_err *err);
int al_cgroup_testing_v2_sweep(const char *root, const char *base, const struct al_cg_fakefs *fs,
			       const char *parent, al_err *err);

#endif
