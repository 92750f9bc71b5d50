/* Host capability probe (see caps.h). */
#include <jansson.h>

#include "caps.h"

#include "../shared/landlock.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Try each namespace type in a throw-away child; bit i set = works. */
static int probe_namespaces(void)
{
	static const int flags[] = {CLONE_NEWNS,  CLONE_NEWPID,	   CLONE_NEWNET, CLONE_NEWIPC,
				    CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWUSER};
	pid_t pid = fork();

	if (pid < 0)
		return 0;
	if (pid == 0) {
		int bits = 0;
		for (int i = 0; i < 7; i++)
			if (unshare(flags[i]) == 0)
				bits |= 1 << i;
		_exit(bits);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 0;
}

static bool action_avail(unsigned int action)
{
	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

static bool pretends(const char *list, const char *what)
{
	size_t n = strlen(what);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && strncmp(p, what, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

int gw_caps_probe(struct gw_caps *c, const char *pm, al_err *err)
{
	al_err cerr = {0};

	memset(c, 0, sizeof(*c));
	int ns = probe_namespaces();
	c->ns_mnt = ns & 1;
	c->ns_pid = ns & 2;
	c->ns_net = ns & 4;
	c->ns_ipc = ns & 8;
	c->ns_uts = ns & 16;
	c->ns_cgroup = ns & 32;
	c->ns_user = ns & 64;
	if (al_cgroup_probe(&c->cg, &cerr) == 0)
		c->cg_probed = true;
	else
		gw_log("cgroup probe failed (runs will be refused): %s", cerr.msg);
	c->seccomp_filter = prctl(PR_GET_SECCOMP) >= 0 && action_avail(SECCOMP_RET_ERRNO);
	c->seccomp_notify = c->seccomp_filter && action_avail(SECCOMP_RET_USER_NOTIF);
	c->landlock_abi = al_landlock_abi();

	if (pm) {
		snprintf(c->pretend, sizeof(c->pretend), "%s", pm);
		if (pretends(pm, "namespaces"))
			c->ns_mnt = c->ns_pid = c->ns_net = c->ns_ipc = c->ns_uts = false;
		if (pretends(pm, "cgroup"))
			c->cg.version = AL_CG_NONE;
		if (pretends(pm, "cgroup.memory"))
			c->cg.memory = false;
		if (pretends(pm, "cgroup.cpu"))
			c->cg.cpu = false;
		if (pretends(pm, "cgroup.pids"))
			c->cg.pids = false;
		if (pretends(pm, "seccomp"))
			c->seccomp_filter = c->seccomp_notify = false;
		if (pretends(pm, "seccomp_notify"))
			c->seccomp_notify = false;
		if (pretends(pm, "landlock"))
			c->landlock_abi = 0;
	}
	(void)err;
	return 0;
}

bool gw_caps_profile_ok(const struct gw_caps *c, const struct al_profile *pr, char *why, size_t n)
{
	size_t used = 0;
	bool ok = true;

	why[0] = '\0';
#define MISSING(...)                                                                               \
	do {                                                                                       \
		if (used < n)                                                                      \
			used += (size_t)snprintf(why + used, n - used, "%s", used ? "; " : "");    \
		if (used < n)                                                                      \
			used += (size_t)snprintf(why + used, n - used, __VA_ARGS__);               \
		ok = false;                                                                        \
	} while (0)
	if (!(c->ns_mnt && c->ns_pid && c->ns_net && c->ns_ipc && c->ns_uts))
		MISSING("mount, pid, net, ipc and uts namespaces");
	if (!c->seccomp_filter)
		MISSING("seccomp filters");
	if (pr->deny_spawn_processes && !c->seccomp_notify)
		MISSING("seccomp user notification (profile sets deny_spawn_processes)");
	bool cg = c->cg_probed && c->cg.version != AL_CG_NONE;
	if (!cg || !c->cg.memory)
		MISSING("cgroup memory controller (memory limit)");
	if (!cg || !c->cg.pids)
		MISSING("cgroup pids controller (pids limit)");
	if (pr->limits.cpu_max_percent != AL_LIMIT_UNSET && (!cg || !c->cg.cpu))
		MISSING("cgroup cpu controller (profile sets cpu_max_percent)");
	if (pr->network && strcmp(pr->network, "none") != 0)
		MISSING("network mode \"%s\" (only \"none\" is supported)", pr->network);
#undef MISSING
	return ok;
}

json_t *gw_caps_to_json(const struct gw_caps *c, const struct al_policy *p)
{
	json_t *profiles = json_object();
	char why[512];

	for (size_t i = 0; p && i < p->n_profiles; i++) {
		bool ok = gw_caps_profile_ok(c, &p->profiles[i], why, sizeof(why));
		json_object_set_new(
		    profiles, p->profiles[i].name,
		    json_pack("{s:b,s:s?}", "enforceable", ok, "missing", ok ? NULL : why));
	}
	json_t *o = json_pack(
	    "{s:{s:b,s:b,s:b,s:b,s:b,s:b,s:b},"
	    "s:{s:s,s:{s:b,s:b,s:b,s:b},s:b},"
	    "s:{s:b,s:b},s:{s:i,s:b},s:o}",
	    "namespaces", "mnt", c->ns_mnt, "pid", c->ns_pid, "net", c->ns_net, "ipc", c->ns_ipc,
	    "uts", c->ns_uts, "cgroup", c->ns_cgroup, "user", c->ns_user, "cgroup", "version",
	    al_cgroup_version_name(c->cg_probed ? c->cg.version : AL_CG_NONE), "controllers",
	    "memory", c->cg.memory, "cpu", c->cg.cpu, "pids", c->cg.pids, "cpuacct", c->cg.cpuacct,
	    "swap_accounting", c->cg.memsw || c->cg.swap_max, "seccomp", "filter",
	    c->seccomp_filter, "user_notification", c->seccomp_notify, "landlock", "abi",
	    c->landlock_abi, "available", c->landlock_abi > 0, "profiles", profiles);
	if (o && c->pretend[0])
		json_object_set_new(o, "pretend_missing", json_string(c->pretend));
	return o;
}
