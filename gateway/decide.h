/* From a validated request to a decision: profile choice, word splitting,
 * executable resolution, first-match policy decision, limit clamping
 * (SPEC §3, §4).  Used by the monitor for /v1/exec and /v1/run (the
 * authoritative decision) and by the front end for /v1/plan.  Touches the
 * filesystem only through al_resolve_executable() and realpath(). */
#ifndef GW_DECIDE_H
#define GW_DECIDE_H

#include <limits.h>
#include <stdbool.h>

#include "../policy/policy.h"
#include "gw.h"
#include "req.h"

struct gw_plan {
	bool failed; /* the request is invalid: err holds the 400 answer */
	struct gw_apierr err;
	bool runnable;		    /* false: nothing could run (not found, outside mounts, ...) */
	bool allowed;		    /* the policy's effect is allow (and it is runnable) */
	bool audit_override;	    /* audit mode: a denial that runs anyway */
	const struct al_rule *rule; /* borrowed from the policy; NULL = default */
	const struct al_profile *profile; /* borrowed; NULL only when no profile exists */
	char reason[512];
	bool has_reason;
	char **argv;	    /* owned; commands: argv[0] is the resolved absolute path */
	char *command;	    /* owned; commands: what was asked (the line, or argv joined) */
	bool shell;	    /* runs as /bin/sh -c LINE (profile "shell": true) */
	char exe[PATH_MAX]; /* resolved program (code: the interpreter's real path) */
	char matched_executable[256]; /* what rules saw as "executable" */
	struct al_limits limits;      /* effective, after clamping */
	char workspace[PATH_MAX];     /* host path of the workspace */
	char code_sha256[65];	      /* code runs */
};

/* Always fills *out (free with gw_plan_free). */
void gw_plan_build(const struct al_policy *p, const struct gw_request *rq, const char *identity,
		   struct gw_plan *out);
void gw_plan_free(struct gw_plan *pl);

static inline bool gw_plan_runs(const struct gw_plan *pl)
{
	return !pl->failed && pl->runnable && (pl->allowed || pl->audit_override);
}

/* The /v1/plan answer (SPEC §3).  New reference. */
json_t *gw_plan_to_json(const struct gw_plan *pl, const struct al_policy *p);
/* [{"source","target","mode"}] of the plan's profile.  New reference. */
json_t *gw_plan_mounts(const struct gw_plan *pl);

#endif
