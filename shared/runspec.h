/* What one sandboxed run is asked to do (the spec) and what came of it (the
 * result), with their JSON forms.  The gateway sends a spec to agentrun on a
 * pipe (agentrun --spec-fd N) and reads the result as one JSON object; the
 * standalone CLI builds the same spec from a policy file and argv.
 *
 * The spec carries the whole profile, so agentrun needs no policy file and
 * re-validates everything it is given (it trusts nothing from the gateway's
 * front end). */
#ifndef AL_RUNSPEC_H
#define AL_RUNSPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../policy/policy.h"
#include "err.h"

struct al_run_spec {
	char *run_id;                  /* owned; "r-<hex>" */
	char *identity;                /* owned; validated with al_identity_valid */
	struct al_profile profile;     /* owned */
	struct al_syscall_profile sc;  /* owned; profile.sc points here */
	struct al_limits limits;       /* effective (already clamped) */
	char **argv;                   /* owned, NULL-terminated; argv[0] absolute path */
	char *code;                    /* owned; code runs: the source text, else NULL */
	size_t code_len;
	char *stdin_data;              /* owned, may be NULL */
	size_t stdin_len;
	char **env;                    /* owned, NULL-terminated "K=V", may be NULL */
	char *cwd;                     /* owned; NULL = profile.fs.cwd */
	uid_t uid;                     /* default 65534 */
	gid_t gid;
};

struct al_run_result {
	char run_id[64];
	int exit_code;           /* 128+N when killed by signal N */
	int signal;              /* 0 when none */
	int64_t wall_time_ms;
	int64_t cpu_time_ms;
	int64_t peak_mem_mb;
	bool timed_out;
	bool oom_killed;
	bool truncated_stdout;
	bool truncated_stderr;
	char *out;               /* owned stdout bytes (may contain NUL) */
	size_t out_len;
	char *errb;              /* owned stderr bytes */
	size_t err_len;
	char code_sha256[65];    /* "" when not a code run */
	int violations;          /* denied exec/fork attempts seen by the supervisor */
	char layers[512];        /* enforcement layers active, e.g. "ns:mnt,pid,net,ipc,uts,cgroup;cgroup:v1;seccomp;landlock:7" */
};

/* A run id: "r-" and 1 to 61 lowercase hex digits. */
bool al_run_id_valid(const char *s);

void al_run_spec_init(struct al_run_spec *s);
void al_run_spec_free(struct al_run_spec *s);
json_t *al_run_spec_to_json(const struct al_run_spec *s);
int al_run_spec_from_json(json_t *j, struct al_run_spec *s, al_err *err);

void al_run_result_free(struct al_run_result *r);
/* The /v1/exec result fields of SPEC §3 (stdout/stderr as UTF-8 strings,
 * invalid bytes replaced).  Returns a new reference. */
json_t *al_run_result_to_json(const struct al_run_result *r);
int al_run_result_from_json(json_t *j, struct al_run_result *r, al_err *err);

#endif
