/* Seccomp filters built from data (see seccomp.h for the contract).
 *
 * All rules are made here, with libseccomp, from a request: the default
 * action, the list of names that get the other action, and flags for the
 * fixed rule sets (baseline, spawn lock, agent extras).  libseccomp has two
 * behaviours this file is built around:
 *   - an unconditional rule for a syscall silently replaces every
 *     conditional rule for it (in either order), so a syscall that needs
 *     argument checks (ioctl, clone, personality, socket) is never given an
 *     unconditional rule as well: the profile's entry for it is folded into
 *     the conditional rules instead;
 *   - a rule may compare each argument once only, so "neither A nor B"
 *     must be written as a set of rules that together cover everything
 *     else (add_lo32_except, add_u64_except); personality's check, which
 *     would take 32 such rules, is written by hand (personality_check).
 * Rules whose action equals the default are left out (libseccomp refuses
 * them; a syscall whose rules do not match falls through to the default).
 */
#include "seccomp.h"
#include "notify.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/seccomp.h>
#include <seccomp.h>

#include "cleanup.h"
#include "util.h"

#ifndef AL_VERSION
#define AL_VERSION "unknown"
#endif

/* Bump whenever the rules generated for a given request change: it is part
 * of the cache key, so old cached programs are never loaded again. */
#define AL_BPF_FORMAT 3

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/* Internal request flags (above the public AL_SC_* bits). */
#define SC_AGENT_EXTRAS AL_SC_HARDEN /* personality check, socket families */
#define SC_PUBLIC_FLAGS (AL_SC_SPAWN_LOCK | AL_SC_HARDEN)

static inline void seccomp_releasep(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}
#define cleanup_scmp __attribute__((cleanup(seccomp_releasep)))

/* ---- syscall names ------------------------------------------------------ */

/* x86_64 syscalls newer than the libseccomp this was written against
 * (2.5.4 stops at futex_wake); used only when libseccomp does not know the
 * name.  Numbers from the kernel's syscall_64.tbl (generic numbering since
 * 424), checked on 6.18: every one answers with something other than
 * ENOSYS. */
static const struct {
	const char *name;
	int nr;
} newer_syscalls[] = {
    {"futex_wait", 455},	{"futex_requeue", 456},
    {"statmount", 457},		{"listmount", 458},
    {"lsm_get_self_attr", 459}, {"lsm_set_self_attr", 460},
    {"lsm_list_modules", 461},	{"mseal", 462},
    {"setxattrat", 463},	{"getxattrat", 464},
    {"listxattrat", 465},	{"removexattrat", 466},
    {"open_tree_attr", 467},	{"file_getattr", 468},
    {"file_setattr", 469},
};

#define NR_UNKNOWN (-1) /* no such syscall */
#define NR_ABSENT (-2)	/* known to libseccomp, but not on x86_64 */

static int resolve_name(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr >= 0)
		return nr;
	if (nr != __NR_SCMP_ERROR)
		return NR_ABSENT;
	for (size_t i = 0; i < sizeof(newer_syscalls) / sizeof(newer_syscalls[0]); i++)
		if (strcmp(newer_syscalls[i].name, name) == 0)
			return newer_syscalls[i].nr;
	return NR_UNKNOWN;
}

int al_syscall_name(int nr, char *buf, size_t n)
{
	char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

	if (s != NULL) {
		snprintf(buf, n, "%s", s);
		free(s);
		return 0;
	}
	for (size_t i = 0; i < sizeof(newer_syscalls) / sizeof(newer_syscalls[0]); i++) {
		if (newer_syscalls[i].nr == nr) {
			snprintf(buf, n, "%s", newer_syscalls[i].name);
			return 0;
		}
	}
	snprintf(buf, n, "syscall_%d", nr);
	return -1;
}

/* ---- the agent deny list (SPEC §2) -------------------------------------- */

const char *const al_sc_lock_denylist[] = {
    /* other processes' memory and fds */
    "ptrace", "process_vm_readv", "process_vm_writev",
    "pidfd_getfd", /* not in SPEC's list: ptrace-grade access to another process's fds */
    /* mount family */
    "mount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    "mount_setattr",
    "open_tree_attr", /* 6.15's variant of open_tree (named through newer_syscalls) */
    /* namespaces and root */
    "unshare", "setns", "chroot", "pivot_root",
    /* kernel attack surface */
    "bpf", "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "add_key", "request_key", "keyctl", "userfaultfd",
    /* io_uring runs operations seccomp never sees */
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    /* changes only: personality(0) and the query personality(0xffffffff) pass */
    "personality", NULL};

size_t al_sc_lock_denylist_count(void)
{
	size_t n = 0;

	while (al_sc_lock_denylist[n] != NULL)
		n++;
	return n;
}

/* ---- building ----------------------------------------------------------- */

struct sc_req {
	bool default_allow;
	int deny_errno;
	const char *const *names; /* borrowed: the list that gets the non-default action */
	size_t n_names;
	const char *list; /* "deny" or "allow", for messages */
	unsigned flags;	  /* AL_SC_* | SC_* */
};

struct sc_build {
	scmp_filter_ctx ctx; /* borrowed */
	uint32_t def;	     /* default action */
	unsigned rules;	     /* rules added, to pick the optimisation level */
};

static int add_rule(struct sc_build *b, uint32_t action, int nr, unsigned n,
		    const struct scmp_arg_cmp *cmp, al_err *err)
{
	char name[32];
	int rc;

	if (action == b->def)
		return 0;
	rc = seccomp_rule_add_exact_array(b->ctx, action, nr, n, cmp);
	if (rc < 0) {
		al_syscall_name(nr, name, sizeof(name));
		return al_err_set(err, -rc, "seccomp: cannot add a rule for %s", name);
	}
	b->rules++;
	return 0;
}

static int add_rule1(struct sc_build *b, uint32_t action, int nr, struct scmp_arg_cmp cmp,
		     al_err *err)
{
	return add_rule(b, action, nr, 1, &cmp, err);
}

/* Rules giving `action` to syscall nr whenever the low 32 bits of argument
 * arg are none of ex[0..n) (the kernel reads such arguments as int or
 * unsigned int, so the high bits are ignored here too).  Walks the binary
 * trie of the excluded values from the top bit down and emits one
 * masked-equality rule per subtree that holds none of them: at most 32 * n
 * rules, disjoint, covering exactly the complement. */
static int add_lo32_except(struct sc_build *b, uint32_t action, int nr, unsigned arg,
			   const uint32_t *ex, size_t n, unsigned depth, uint32_t prefix,
			   al_err *err)
{
	uint32_t mask = depth == 0 ? 0 : (uint32_t)(0xffffffffu << (32 - depth));
	bool holds = false;

	for (size_t i = 0; i < n; i++)
		if ((ex[i] & mask) == prefix)
			holds = true;
	if (!holds) {
		if (depth == 0)
			return add_rule(b, action, nr, 0, NULL, err);
		return add_rule1(b, action, nr, SCMP_CMP64(arg, SCMP_CMP_MASKED_EQ, mask, prefix),
				 err);
	}
	if (depth == 32)
		return 0; /* exactly one of the excluded values */
	if (add_lo32_except(b, action, nr, arg, ex, n, depth + 1, prefix, err) < 0)
		return -1;
	return add_lo32_except(b, action, nr, arg, ex, n, depth + 1, prefix | (1u << (31 - depth)),
			       err);
}

/* Rules giving `action` to syscall nr whenever the whole 64-bit argument
 * arg is none of ok[0..n) (sorted ascending, n >= 1): one "greater than the
 * largest" rule (this also catches any value with high garbage bits, which
 * the kernel would truncate), and each gap below split into aligned
 * power-of-two blocks, each one masked-equality rule. */
static int add_u64_except(struct sc_build *b, uint32_t action, int nr, unsigned arg,
			  const uint64_t *ok, size_t n, al_err *err)
{
	uint64_t lo = 0;

	if (add_rule1(b, action, nr, SCMP_CMP64(arg, SCMP_CMP_GT, ok[n - 1]), err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		while (lo < ok[i]) {
			uint64_t size = lo == 0 ? (1ull << 63) : (lo & -lo);
			while (lo + size - 1 >= ok[i])
				size >>= 1;
			if (add_rule1(b, action, nr,
				      SCMP_CMP64(arg, SCMP_CMP_MASKED_EQ, ~(size - 1), lo),
				      err) < 0)
				return -1;
			lo += size;
		}
		lo = ok[i] + 1;
	}
	return 0;
}

static bool is_lock_nr(int nr)
{
	return nr == SCMP_SYS(execve) || nr == SCMP_SYS(execveat) || nr == SCMP_SYS(fork) ||
	       nr == SCMP_SYS(vfork) || nr == SCMP_SYS(clone) || nr == SCMP_SYS(clone3);
}

/* Baseline: TIOCSTI pushes bytes into the terminal's input queue (typed
 * commands run outside the sandbox), TIOCLINUX's selection paste does the
 * same on a virtual console. */
static const uint32_t tty_inject[] = {TIOCSTI, TIOCLINUX};

static int add_ioctl_rules(struct sc_build *b, const struct sc_req *r, bool listed, al_err *err)
{
	uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
	bool allowed = r->default_allow ? !listed : listed;

	if (!allowed) /* every ioctl fails: by a rule, or by the default */
		return add_rule(b, SCMP_ACT_ERRNO((uint32_t)r->deny_errno), SCMP_SYS(ioctl), 0,
				NULL, err);
	if (!r->default_allow &&
	    add_lo32_except(b, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, tty_inject, 2, 0, 0, err) < 0)
		return -1;
	for (size_t i = 0; i < 2; i++)
		if (add_rule1(b, eperm, SCMP_SYS(ioctl),
			      SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffu, tty_inject[i]), err) < 0)
			return -1;
	return 0;
}

/* The exec/fork lock.  clone's flags are read by the kernel from the low
 * 32 bits only, so all masks stay below 2^32.  A thread (CLONE_THREAD) may
 * not ask for a new namespace either: a denied unshare must not come back
 * through clone (the kernel refuses most such combinations itself; this
 * does not rely on it). */
static int add_spawn_lock(struct sc_build *b, al_err *err)
{
	static const uint32_t ns_flags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
					    CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
					    CLONE_NEWNET};
	uint32_t all_ns = 0;
	static const int notified[] = {SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork),
				       SCMP_SYS(vfork)};

	for (size_t i = 0; i < sizeof(notified) / sizeof(notified[0]); i++)
		if (add_rule(b, SCMP_ACT_NOTIFY, notified[i], 0, NULL, err) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
		all_ns |= ns_flags[i];
	/* Three disjoint cases that cover every flag word: */
	if (add_rule1(b, SCMP_ACT_NOTIFY, SCMP_SYS(clone),
		      SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0), err) < 0)
		return -1;
	if (add_rule1(b, SCMP_ACT_ALLOW, SCMP_SYS(clone),
		      SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_THREAD | all_ns, CLONE_THREAD), err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
		if (add_rule1(b, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone),
			      SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_THREAD | ns_flags[i],
					 CLONE_THREAD | ns_flags[i]),
			      err) < 0)
			return -1;
	return add_rule(b, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL, err);
}

/* personality: EPERM unless the (32-bit) persona is 0 (PER_LINUX) or
 * 0xffffffff (the query).  libseccomp can say that only as 32 rules ("bit i
 * set, bit i+1 clear", three instructions each: half of a filter), so these
 * eight instructions go in front of its program instead; a value that
 * passes, and every other syscall or architecture, continue into it. */
#if !defined(__x86_64__)
#error "the filters are written for x86_64 (personality_check, newer_syscalls)"
#endif
static const struct sock_filter personality_check[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0, 4),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])), /* low half */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
};

static int prepend_personality_check(struct al_bpf *b, al_err *err)
{
	size_t n = sizeof(personality_check) / sizeof(personality_check[0]);

	if (b->len + n > BPF_MAXINSNS)
		return al_err_set(err, E2BIG, "seccomp: filter too long for the personality check");
	struct sock_filter *all = malloc((b->len + n) * sizeof(*all));
	if (all == NULL)
		return al_err_set(err, ENOMEM, "seccomp: filter");
	memcpy(all, personality_check, sizeof(personality_check));
	memcpy(all + n, b->insns, b->len * sizeof(*all));
	free(b->insns);
	b->insns = all;
	b->len = (unsigned short)(b->len + n);
	return 0;
}

/* socket and socketpair (which creates sockets of the family too, loading
 * its module): only AF_UNIX, AF_INET, AF_INET6, AF_NETLINK. */
static int add_socket_families(struct sc_build *b, al_err *err)
{
	static const uint64_t ok[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
	uint32_t eperm = SCMP_ACT_ERRNO(EPERM);

	if (add_u64_except(b, eperm, SCMP_SYS(socket), 0, ok, 4, err) < 0)
		return -1;
	return add_u64_except(b, eperm, SCMP_SYS(socketpair), 0, ok, 4, err);
}

/* The hardening extras only make sense over a default-allow filter (under
 * default deny, personality and socket follow the allow list). */
static bool wants_extras(const struct sc_req *r)
{
	return (r->flags & SC_AGENT_EXTRAS) && r->default_allow;
}

static int build_ctx(const struct sc_req *r, struct sc_build *b, al_err *err)
{
	uint32_t listed_action =
	    r->default_allow ? SCMP_ACT_ERRNO((uint32_t)r->deny_errno) : SCMP_ACT_ALLOW;
	bool ioctl_listed = false;
	bool extras = wants_extras(r);
	unsigned char seen[1024 / 8] = {0};
	int rc;

	rc = seccomp_attr_set(b->ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0)
		return al_err_set(err, -rc, "seccomp: cannot set the bad-architecture action");
	for (size_t i = 0; i < r->n_names; i++) {
		const char *name = r->names[i];
		int nr = resolve_name(name);

		if (nr == NR_UNKNOWN)
			return al_err_set(err, EINVAL,
					  "syscall profile: unknown syscall \"%.64s\" in the %s "
					  "list (not a syscall on x86_64: check the spelling)",
					  name, r->list);
		if (nr == NR_ABSENT)
			continue; /* cannot be called on x86_64 */
		if (nr == SCMP_SYS(ioctl)) {
			ioctl_listed = true;
			continue;
		}
		if ((r->flags & AL_SC_SPAWN_LOCK) && is_lock_nr(nr))
			continue; /* the lock decides */
		if (extras && nr == SCMP_SYS(personality))
			continue; /* personality_check decides */
		if (nr < 1024) {
			if (seen[nr / 8] & (1u << (nr % 8)))
				continue;
			seen[nr / 8] |= (unsigned char)(1u << (nr % 8));
		}
		if (add_rule(b, listed_action, nr, 0, NULL, err) < 0)
			return -1;
	}
	if (add_ioctl_rules(b, r, ioctl_listed, err) < 0)
		return -1;
	if ((r->flags & AL_SC_SPAWN_LOCK) && add_spawn_lock(b, err) < 0)
		return -1;
	if (extras && add_socket_families(b, err) < 0)
		return -1;
	return 0;
}

static int export_bpf(scmp_filter_ctx ctx, struct al_bpf *out, al_err *err)
{
	cleanup_close int fd = memfd_create("al-bpf", MFD_CLOEXEC);
	cleanup_free struct sock_filter *insns = NULL;
	struct stat st;
	int rc;

	if (fd < 0)
		return al_err_set(err, errno, "seccomp: memfd_create for the exported filter");
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return al_err_set(err, -rc, "seccomp: cannot export the filter");
	if (fstat(fd, &st) < 0)
		return al_err_set(err, errno, "seccomp: fstat exported filter");
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
		return al_err_set(err, EINVAL, "seccomp: exported filter has a bad size (%lld)",
				  (long long)st.st_size);
	if ((size_t)st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return al_err_set(err, E2BIG,
				  "seccomp: filter has %zu instructions, the kernel takes %d: "
				  "shorten the profile's list",
				  (size_t)st.st_size / sizeof(struct sock_filter), BPF_MAXINSNS);
	insns = malloc((size_t)st.st_size);
	if (insns == NULL)
		return al_err_set(err, ENOMEM, "seccomp: exported filter");
	for (size_t got = 0; got < (size_t)st.st_size;) {
		ssize_t n = pread(fd, (char *)insns + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return al_err_set(err, n < 0 ? errno : EIO,
					  "seccomp: read back the exported filter");
		got += (size_t)n;
	}
	out->len = (unsigned short)((size_t)st.st_size / sizeof(struct sock_filter));
	out->insns = TAKE_PTR(insns);
	return 0;
}

static int build_req(const struct sc_req *r, struct al_bpf *out, al_err *err)
{
	cleanup_scmp scmp_filter_ctx ctx = NULL;
	struct sc_build b = {0};

	out->insns = NULL;
	out->len = 0;
	if (r->deny_errno < 1 || r->deny_errno > 4095)
		return al_err_set(err, EINVAL,
				  "syscall profile: deny errno %d is not an errno (1..4095)",
				  r->deny_errno);
	b.def = r->default_allow ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO((uint32_t)r->deny_errno);
	ctx = seccomp_init(b.def);
	if (ctx == NULL)
		return al_err_set(err, ENOMEM, "seccomp: seccomp_init failed");
	b.ctx = ctx;
	if (build_ctx(r, &b, err) < 0)
		return -1;
	/* Past ~30 rules a binary tree of syscall numbers beats the linear
	 * list at load time too: the kernel emulates the filter once per
	 * syscall number to fill its action cache. */
	if (b.rules > 30)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (export_bpf(ctx, out, err) < 0)
		return -1;
	if (wants_extras(r) && prepend_personality_check(out, err) < 0) {
		al_bpf_free(out);
		return -1;
	}
	return 0;
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

static void req_from_profile(const struct al_syscall_profile *sc, unsigned flags, struct sc_req *r)
{
	memset(r, 0, sizeof(*r));
	r->flags = flags;
	r->default_allow = true;
	r->deny_errno = EPERM;
	r->list = "deny";
	if (sc == NULL)
		return;
	r->default_allow = sc->default_allow;
	r->deny_errno = sc->deny_errno;
	if (sc->default_allow) {
		r->names = (const char *const *)sc->deny.v;
		r->n_names = strv_len(sc->deny.v);
	} else {
		r->names = (const char *const *)sc->allow.v;
		r->n_names = strv_len(sc->allow.v);
		r->list = "allow";
	}
}

/* What each filter knowingly leaves open, and why:
 *
 * Profile filters (al_seccomp_build): exactly what the profile allows; a
 * default-allow profile also lets through syscalls too new for libseccomp
 * and newer_syscalls[] to name.  ioctl requests other than TIOCSTI and
 * TIOCLINUX pass where ioctl is allowed (terminals, sockets and files need
 * them).  Without AL_SC_SPAWN_LOCK exec and fork follow the profile.
 *
 * Baseline only (sc == NULL): everything but the two terminal injection
 * ioctls; the arch check still kills other ABIs.
 *
 * Spawn lock: threads (clone with CLONE_THREAD and no namespace flag),
 * because language runtimes need them; the first exec, which the supervisor
 * continues on the strength of being first, not of its arguments (the
 * kernel re-reads them afterwards: safe only because no sandboxed code has
 * run before it). */
int al_seccomp_build(const struct al_syscall_profile *sc, unsigned flags, struct al_bpf *out,
		     al_err *err)
{
	struct sc_req r;

	if (flags & ~SC_PUBLIC_FLAGS)
		return al_err_set(err, EINVAL, "seccomp: unknown build flags %#x", flags);
	req_from_profile(sc, flags, &r);
	return build_req(&r, out, err);
}

/* The agent lock knowingly leaves open (default allow): every syscall not
 * listed — the lock is about exec/fork and the kernel surfaces of SPEC §2;
 * files, network and signals are confined by the launcher's namespaces,
 * Landlock and dropped privileges.  In particular: seccomp() and prctl()
 * (a filter can only be stacked, never removed: the agent can only narrow
 * itself); memfd_create and mprotect(PROT_EXEC) (JITs need them; exec of a
 * memfd goes through execveat and is denied); socket types and protocols
 * within the four families (raw sockets need CAP_NET_RAW; NETLINK_ROUTE is
 * what getaddrinfo and if_nameindex use); kill/pidfd_send_signal (same-uid
 * signals are the pid namespace's concern); syscalls too new to be named,
 * which pass the default. */
int al_seccomp_build_agent_lock(struct al_bpf *out, al_err *err)
{
	struct sc_req r = {
	    .default_allow = true,
	    .deny_errno = EPERM,
	    .names = al_sc_lock_denylist,
	    .n_names = al_sc_lock_denylist_count(),
	    .list = "agent deny",
	    .flags = AL_SC_SPAWN_LOCK | SC_AGENT_EXTRAS,
	};

	return build_req(&r, out, err);
}

void al_bpf_free(struct al_bpf *p)
{
	if (p == NULL)
		return;
	free(p->insns);
	p->insns = NULL;
	p->len = 0;
}

/* ---- cache -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int al_seccomp_cache_key(const struct al_syscall_profile *sc, unsigned flags, char out[65],
			 al_err *err)
{
	const struct scmp_version *v = seccomp_version();
	cleanup_free const char **names = NULL;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	struct sc_req r;
	FILE *f;

	if (flags & ~SC_PUBLIC_FLAGS)
		return al_err_set(err, EINVAL, "seccomp: unknown build flags %#x", flags);
	req_from_profile(sc, flags, &r);
	if (r.n_names > 0) {
		names = malloc(r.n_names * sizeof(*names));
		if (names == NULL)
			return al_err_set(err, ENOMEM, "seccomp cache key");
		memcpy(names, r.names, r.n_names * sizeof(*names));
		qsort(names, r.n_names, sizeof(*names), cmp_str);
	}
	f = open_memstream(&buf, &len);
	if (f == NULL)
		return al_err_set(err, errno, "seccomp cache key");
	fprintf(f, "agentlaunch-bpf\nformat %d\nversion %s\nlibseccomp %u.%u.%u api %u\n",
		AL_BPF_FORMAT, AL_VERSION, v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0,
		seccomp_api_get());
	fprintf(f, "arch %u\nflags %u\nprofile %s\ndefault %s\nerrno %d\n", seccomp_arch_native(),
		flags, sc ? "yes" : "none", r.default_allow ? "allow" : "deny", r.deny_errno);
	/* Length-prefixed, so no name can forge a list boundary. */
	for (size_t i = 0; i < r.n_names; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			fprintf(f, "%zu:%s\n", strlen(names[i]), names[i]);
	if (fclose(f) != 0 || buf == NULL)
		return al_err_set(err, ENOMEM, "seccomp cache key");
	al_sha256_hex(buf, len, out);
	return 0;
}

#define CACHE_MAGIC "ALBPF\0\0\1"

struct cache_hdr {
	char magic[8];
	char key[64];	   /* must match the file name */
	uint32_t len;	   /* instructions */
	uint32_t reserved; /* 0 */
	char digest[64];   /* hex sha256 of the instructions */
};


static int cache_read(int dirfd, const char *key, struct al_bpf *out)
{
	char name[80];
	cleanup_close int fd = -1;
	cleanup_free char *buf = NULL;
	struct cache_hdr h;
	struct stat st;
	char digest[65];
	size_t size, n;

	snprintf(name, sizeof(name), "%s.bpf", key);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0)
		return -1;
	if (st.st_size < (off_t)sizeof(h) ||
	    st.st_size > (off_t)(sizeof(h) + BPF_MAXINSNS * sizeof(struct sock_filter)))
		return -1;
	size = (size_t)st.st_size;
	buf = malloc(size);
	if (buf == NULL)
		return -1;
	for (size_t got = 0; got < size;) {
		ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	memcpy(&h, buf, sizeof(h));
	n = h.len;
	if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || memcmp(h.key, key, 64) != 0 ||
	    h.reserved != 0 || n == 0 || n > BPF_MAXINSNS ||
	    size != sizeof(h) + n * sizeof(struct sock_filter))
		return -1;
	al_sha256_hex(buf + sizeof(h), n * sizeof(struct sock_filter), digest);
	if (memcmp(h.digest, digest, 64) != 0)
		return -1;
	out->insns = malloc(n * sizeof(struct sock_filter));
	if (out->insns == NULL)
		return -1;
	memcpy(out->insns, buf + sizeof(h), n * sizeof(struct sock_filter));
	out->len = (unsigned short)n;
	return 0;
}

static void cache_write(int dirfd, const char *key, const struct al_bpf *prog)
{
	char name[80], tmp[128], rnd[17];
	size_t body = (size_t)prog->len * sizeof(struct sock_filter);
	struct cache_hdr h;
	int fd, rc;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CACHE_MAGIC, 8);
	memcpy(h.key, key, 64);
	h.len = prog->len;
	{
		char digest[65];
		al_sha256_hex(prog->insns, body, digest);
		memcpy(h.digest, digest, 64);
	}
	if (al_random_hex(rnd, 8, NULL) < 0)
		return;
	snprintf(name, sizeof(name), "%s.bpf", key);
	snprintf(tmp, sizeof(tmp), ".%s.%d.%s.tmp", key, (int)getpid(), rnd);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	rc = fchmod(fd, 0600);
	if (rc == 0)
		rc = al_write_all(fd, &h, sizeof(h));
	if (rc == 0)
		rc = al_write_all(fd, prog->insns, body);
	if (close(fd) < 0)
		rc = -1;
	if (rc != 0 || renameat(dirfd, tmp, dirfd, name) < 0)
		unlinkat(dirfd, tmp, 0);
}

int al_seccomp_build_cached(const struct al_syscall_profile *sc, unsigned flags,
			    const char *cache_dir, struct al_bpf *out, al_err *err)
{
	cleanup_close int dirfd = -1;
	char key[65];

	out->insns = NULL;
	out->len = 0;
	if (cache_dir == NULL)
		cache_dir = AL_SECCOMP_CACHE_DIR;
	if (al_seccomp_cache_key(sc, flags, key, NULL) == 0) {
		dirfd = al_private_dir_open(cache_dir, false);
		if (dirfd >= 0 && cache_read(dirfd, key, out) == 0)
			return 0;
	} else {
		key[0] = '\0';
	}
	if (al_seccomp_build(sc, flags, out, err) < 0)
		return -1;
	if (key[0] != '\0') {
		if (dirfd < 0)
			dirfd = al_private_dir_open(cache_dir, true);
		if (dirfd >= 0)
			cache_write(dirfd, key, out);
	}
	return 0;
}

/* ---- loading (between fork and exec: no malloc) ------------------------- */

static bool bpf_notifies(const struct al_bpf *prog)
{
	for (unsigned i = 0; i < prog->len; i++) {
		const struct sock_filter *in = &prog->insns[i];
		if (in->code == (BPF_RET | BPF_K) &&
		    (in->k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
			return true;
	}
	return false;
}

int al_seccomp_load(const struct al_bpf *prog, unsigned flags, int *listener_fd, al_err *err)
{
	struct sock_fprog fp;
	unsigned long fl = 0;
	bool listener = flags & AL_SC_LOAD_LISTENER;
	long rc;

	if (prog == NULL || prog->insns == NULL || prog->len == 0)
		return al_err_set(err, EINVAL, "seccomp: no filter program to load");
	if ((flags & ~AL_SC_LOAD_LISTENER) || (listener && listener_fd == NULL))
		return al_err_set(err, EINVAL, "seccomp: bad load flags %#x", flags);
	rc = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	if (rc != 1)
		return al_err_set(
		    err, rc < 0 ? errno : EPERM,
		    "seccomp: no_new_privs is not set: call "
		    "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) before loading the filter");
	if (!listener && bpf_notifies(prog))
		return al_err_set(err, EINVAL,
				  "seccomp: the filter hands syscalls to a supervisor: load it "
				  "with AL_SC_LOAD_LISTENER and pass the fd on");
	fp.len = prog->len;
	fp.filter = prog->insns;
	if (listener)
		fl = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, fl, &fp);
	if (rc < 0 && errno == EINVAL && (fl & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)) {
		fl &= ~SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV; /* kernel < 5.19 */
		rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, fl, &fp);
	}
	if (rc < 0)
		return al_err_set(
		    err, errno, "seccomp: cannot install the filter (%u instructions%s)", prog->len,
		    listener ? ", with a listener: needs Linux >= 5.0" : "");
	if (listener)
		*listener_fd = (int)rc;
	return 0;
}

/* ---- fd passing ---------------------------------------------------------- */

int al_send_fd(int sock, int fd, al_err *err)
{
	char byte = 'F';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {0};
	struct cmsghdr *c;
	ssize_t n;

	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return al_err_set(err, n < 0 ? errno : EIO, "send fd %d over socket %d", fd, sock);
	return 0;
}

int al_recv_fd(int sock, int *fd, al_err *err)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {0};
	int got[8], ngot = 0;
	ssize_t n;

	*fd = -1;
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return al_err_set(err, errno, "receive fd on socket %d", sock);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && ngot < 8; i++)
			memcpy(&got[ngot++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (n == 1 && ngot == 1 && !(msg.msg_flags & MSG_CTRUNC)) {
		*fd = got[0];
		return 0;
	}
	for (int i = 0; i < ngot; i++)
		close(got[i]);
	if (n == 0)
		return al_err_set(err, EPIPE,
				  "receive fd on socket %d: the peer closed it without sending one "
				  "(did the child fail before loading its filter?)",
				  sock);
	return al_err_set(err, EPROTO, "receive fd on socket %d: expected exactly one fd, got %d%s",
			  sock, ngot, (msg.msg_flags & MSG_CTRUNC) ? " (truncated)" : "");
}
