/* Internal to the cgroup module (shared/cgroup*.c): the group structure, the
 * cached host probe and the helpers the v1 and v2 backends share.
 *
 *   cgroup.c     host probe (cached per process), public API, kill/destroy
 *   cgroup_fs.c  small cgroupfs helpers: files, directories, locks, names
 *   cgroup_v1.c  v1 backend (directory fds), favordynmods fast attach
 *   cgroup_v2.c  v2 backend (directory fds), also over a fake tree in tests */
#ifndef AL_CGROUP_INT_H
#define AL_CGROUP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"

#define CG_PERIOD_US 100000
#define CG_EMPTY_WAIT_US 1000000 /* destroy: wait this long for the group to empty */
#define CG_KILL_WAIT_US 1000000	 /* kill loops stop after this long */
#define CG_FREEZE_WAIT_US 100000 /* how long a freeze may take before we kill anyway */
#define CG_LOCK_WAIT_US 2000000	 /* sweep: wait this long for creators to finish */
#define CG_MAX_DEPTH 16		 /* nested groups removed on destroy/sweep */
#define CG_COMPONENT_MAX 64
#define CG_REL_MAX 256
#define CG_PATH_MAX 512

/* v1 hierarchies a group lives in, in creation order.  memory comes first:
 * its directory carries the ownership lock, is created first and removed
 * last, so a group directory in any v1 hierarchy exists only while the
 * memory one does (the sweep lists the memory hierarchy only). */
enum cg_ctl { C_MEMORY, C_PIDS, C_CPUACCT, C_CPU, C_FREEZER, C_N };
extern const char *const cg_ctl_name[C_N];

/* v2 controllers a group needs, as a mask (bit i is cg_v2_ctl[i]). */
enum { M_MEMORY = 1, M_PIDS = 2, M_CPU = 4 };
extern const char *const cg_v2_ctl[3];

/* What /proc/self/mountinfo said, once per process (see cg_host_get). */
struct cg_host {
	struct al_cg_caps caps;
	char v1_mnt[C_N][CG_PATH_MAX]; /* v1 mount point per controller, "" if none */
	char v2_base[CG_REL_MAX];      /* validated $AGENTLAUNCH_CGROUP_BASE, "" = root */
	bool favor_mounted;	       /* a v1 hierarchy named "agentlaunch" is mounted */
};

struct cg_hier {
	int fd;		 /* owned: O_PATH|O_DIRECTORY of the group in this hierarchy
			  * (v1 memory: O_RDONLY, holding the ownership lock); -1
			  * once removed */
	int pfd;	 /* owned: O_PATH|O_DIRECTORY of the group's parent directory */
	const char *ctl; /* borrowed static name (v1), "" on v2 */
	char path[CG_PATH_MAX];
};

struct al_cgroup {
	enum al_cg_version version;
	struct cg_hier h[C_N]; /* v2: h[0] only; v1: one per distinct mount, memory first */
	size_t n;
	int idx[C_N];		       /* v1: index into h per controller, -1 if absent */
	int lockfd;		       /* owned: O_RDONLY fd of the group holding LOCK_EX
					* (v1: -1, h[0].fd holds it) */
	const struct al_cg_fakefs *fs; /* borrowed (tests only), NULL in production */
	char name[CG_COMPONENT_MAX + 1];
	char rel[CG_REL_MAX]; /* path as /proc/PID/cgroup shows it */
	bool has_swap_max, has_peak, has_kill, has_freeze, has_oom_group; /* v2 */
	int64_t peak_seen; /* v2 without memory.peak: largest memory.current read */
};

/* ---- cgroup.c ---- */
const struct cg_host *cg_host_get(al_err *err); /* cached probe; NULL + err on failure */

/* ---- cgroup_fs.c: files ---- */
int cg_pathf(char *buf, size_t sz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
ssize_t cg_read_at(int dfd, const char *file, char *buf, size_t sz); /* length or -errno */
int cg_write_at(int dfd, const char *file, const char *val);	     /* 0 or -errno */
bool cg_exists_at(int dfd, const char *file);
int cg_read_i64_at(int dfd, const char *file, int64_t *out); /* 0 or -errno */
bool cg_has_token(const char *list, const char *tok);
bool cg_keyed_i64(const char *buf, const char *key, int64_t *out);
void cg_nap(long *us);	     /* sleep *us, then double it up to 5 ms */
int cg_kernel_version(void); /* 6018 for 6.18, 0 if unknown */

/* ---- cgroup_fs.c: names ---- */
bool cg_valid_component(const char *s, size_t n);
bool cg_valid_relpath(const char *s);
bool cg_valid_base(const char *s);
int cg_check_names(const char *parent, const char *name, al_err *err);
int cg_check_limits(const struct al_limits *l, al_err *err);

/* ---- cgroup_fs.c: directories, processes, locks ---- */
int cg_mkdirat(const struct al_cg_fakefs *fs, int dfd, const char *name); /* 0 or -errno */
int cg_rm_tree(const struct al_cg_fakefs *fs, int dfd, const char *name, int depth);
int cg_for_each_pid(int dfd, void (*cb)(pid_t, void *), void *arg); /* count or -errno */
int cg_tree_population(int dfd, const char *name, bool v2, int depth);
int cg_walk_create(const struct al_cg_fakefs *fs, int *dfd, const char *rel, char *path,
		   size_t pathsz, unsigned need, al_err *err);
int cg_flock_retry(int fd, int op);
int cg_lock_parent(int pfd, const char *path, int op, al_err *err); /* fd or -1 */
int cg_lock(struct al_cgroup *cg, int dfd, const char *name, al_err *err);
struct al_cgroup *cg_alloc(enum al_cg_version v, const char *name);
void cg_free(struct al_cgroup *cg);

/* ---- cgroup_v1.c ---- */
int cg_v1_create(const struct cg_host *hs, const char *parent, const char *name,
		 const struct al_limits *l, unsigned flags, struct al_cgroup **out, al_err *err);
int cg_v1_remove(struct al_cgroup *cg, al_err *err); /* 0 or -errno */
int cg_v1_set_limits(struct al_cgroup *cg, const struct cg_host *hs, const struct al_limits *l,
		     al_err *err);
int cg_v1_sweep(const struct cg_host *hs, const char *parent, al_err *err);

/* ---- cgroup_v2.c ---- */
int cg_v2_probe(const char *root, const char *base, bool sample_own, struct al_cg_caps *caps,
		al_err *err);
int cg_v2_enable_controllers(int dfd, const char *path, unsigned need, al_err *err);
int cg_v2_create(const char *root, const char *base, const struct al_cg_fakefs *fs,
		 const char *parent, const char *name, const struct al_limits *l,
		 struct al_cgroup **out, al_err *err);
int cg_v2_remove(struct al_cgroup *cg, al_err *err);
int cg_v2_set_limits(struct al_cgroup *cg, const struct al_limits *l, al_err *err);
int cg_v2_sweep(const char *root, const char *base, const struct al_cg_fakefs *fs,
		const char *parent, al_err *err);

#endif
