/* Request bodies of /v1/exec, /v1/run and /v1/plan (SPEC §3): strict
 * validation shared by the front end (early answers) and the monitor (which
 * trusts nothing the front end sends).  Pure code. */
#ifndef GW_REQ_H
#define GW_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "../policy/policy.h"
#include "gw.h"

enum gw_route { GW_ROUTE_EXEC, GW_ROUTE_RUN, GW_ROUTE_PLAN };

/* Every pointer is borrowed from the body object it was parsed from, except
 * argv (the array is owned, its strings borrowed). */
struct gw_request {
	enum al_kind kind;   /* AL_KIND_COMMAND or AL_KIND_CODE */
	const char *command; /* command: the command line, or NULL when argv is given */
	size_t command_len;
	const char **argv; /* command with argv: owned NULL-terminated array */
	size_t argc;
	const char *code; /* code runs */
	size_t code_len;
	const char *language; /* code runs: "python" */
	const char *identity; /* may be NULL */
	const char *cwd;      /* may be NULL */
	const char *profile;  /* may be NULL */
	const char *stdin_data;
	size_t stdin_len;
	json_t *env;		 /* object of strings, may be NULL */
	struct al_limits limits; /* asked for; AL_LIMIT_UNSET where absent */
};

/* Parse a body: 400 bad_json when it is not JSON or not an object. */
json_t *gw_req_load(const char *buf, size_t len, struct gw_apierr *e);

/* Validate body for route (PLAN: a body with "code" is a /v1/run body,
 * otherwise a /v1/exec body).  400 bad_field naming the field, 400
 * empty_code.  On failure *out is left empty (safe to free). */
int gw_req_parse(enum gw_route route, json_t *body, struct gw_request *out, struct gw_apierr *e);
void gw_req_free(struct gw_request *r);

#endif
