/* What this host can enforce (GET /v1/capabilities) and whether a profile
 * can be honoured; probed once at start by the privileged process.  A
 * profile that cannot be honoured is refused (503 unenforceable), never run
 * with less confinement. */
#ifndef GW_CAPS_H
#define GW_CAPS_H

#include <stdbool.h>
#include <stddef.h>

#include "../policy/policy.h"
#include "../shared/cgroup.h"
#include "gw.h"

typedef struct json_t json_t;

struct gw_caps {
	bool ns_mnt, ns_pid, ns_net, ns_ipc, ns_uts, ns_cgroup, ns_user;
	struct al_cg_caps cg;
	bool cg_probed;
	bool seccomp_filter, seccomp_notify;
	int landlock_abi;  /* 0: none */
	char pretend[256]; /* --pretend-missing, for the answer */
};

/* pretend_missing: comma-separated features to report missing (tests of
 * the fail-closed path): namespaces, cgroup, cgroup.memory, cgroup.cpu,
 * cgroup.pids, seccomp, seccomp_notify, landlock. */
int gw_caps_probe(struct gw_caps *c, const char *pretend_missing, al_err *err);

/* true when the host can honour pr; else false and why (e.g. "cgroup cpu
 * controller (profile sets cpu_max_percent)"). */
bool gw_caps_profile_ok(const struct gw_caps *c, const struct al_profile *pr, char *why, size_t n);

/* The /v1/capabilities answer, with every profile of p.  New reference. */
json_t *gw_caps_to_json(const struct gw_caps *c, const struct al_policy *p);

#endif
