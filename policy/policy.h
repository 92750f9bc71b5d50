/* The policy model: parsed, validated, immutable after load.
 *
 * The JSON format is SPEC §4.  al_policy_load_* either returns a complete
 * policy or an error naming the file, the field (as a JSON path such as
 * "profiles.python_sandbox.limits.mem_max_mb") and the reason; a
 * half-read policy never escapes.  Unknown fields are errors.  The full
 * reference is docs/policy.md.
 *
 * Decisions in this implementation: "version" must be exactly "2.0";
 * "mode" defaults to "enforce" and "default" to "deny"; every profile needs
 * "fs" (with "cwd" and "workspace") and a "syscall_profile" naming an entry
 * of "syscall_profiles"; "network" may only be "none"; a rule of kind
 * "code" that names a profile needs one with a "language".  The file is at
 * most 4 MiB and sha256 is over its raw bytes.  Parsing is in policy.c
 * (top level, rules) and profile.c (profiles, syscall profiles, limits).
 *
 * Ownership: every pointer inside struct al_policy is owned by the policy
 * and freed by al_policy_free(). */
#ifndef AL_POLICY_H
#define AL_POLICY_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../shared/err.h"

typedef struct json_t json_t;

#define AL_LIMIT_UNSET (-1)

/* Resource limits.  In a profile they are ceilings; in a run spec they are
 * the effective values.  AL_LIMIT_UNSET where absent. */
struct al_limits {
	int64_t timeout_sec;
	int64_t cpu_max_percent;   /* 1..100*ncpu; unset = no CPU quota */
	int64_t mem_max_mb;
	int64_t pids_max;
	int64_t max_stdout_bytes;
	int64_t max_stderr_bytes;
	int64_t max_file_mb;
	int64_t max_open_files;
	int64_t tmpfs_size_mb;
};

/* Defaults applied when a profile leaves a limit unset (a run is never
 * unlimited). */
#define AL_DEFAULT_TIMEOUT_SEC 30
#define AL_DEFAULT_MEM_MAX_MB 512
#define AL_DEFAULT_PIDS_MAX 64
#define AL_DEFAULT_MAX_OUTPUT_BYTES 1000000
#define AL_DEFAULT_MAX_FILE_MB 64
#define AL_DEFAULT_MAX_OPEN_FILES 256
#define AL_DEFAULT_TMPFS_SIZE_MB 64

struct al_strv {
	char **v;  /* owned, NULL-terminated */
	size_t n;
};

struct al_fs {
	char *cwd;        /* absolute path inside the sandbox where the workspace is mounted */
	char *workspace;  /* host path, may contain "{identity}" */
	struct al_strv read_only;
	struct al_strv read_write;
	struct al_strv tmpfs;
	struct al_strv deny;
};

struct al_syscall_profile {
	char *name;
	bool default_allow;   /* "default": "allow" | "deny" */
	struct al_strv deny;  /* syscall names, each verified to exist on this arch */
	struct al_strv allow; /* meaningful when default is deny */
	int deny_errno;       /* errno returned for denied syscalls (default EPERM) */
};

struct al_profile {
	char *name;
	char *language;            /* NULL for command profiles, "python" for code profiles */
	char *interpreter;         /* absolute path, for code profiles */
	char *interpreter_sha256;  /* optional pin, hex */
	char *path;                /* PATH for command resolution (default "/usr/local/bin:/usr/bin:/bin") */
	bool shell;                /* allow shell syntax (runs under /bin/sh -c) */
	bool deny_spawn_processes; /* exec-once + fork lock after the program's own exec */
	char *network;             /* only "none" is supported */
	struct al_fs fs;
	struct al_limits limits;
	char *syscall_profile;                  /* name */
	const struct al_syscall_profile *sc;    /* borrowed from the policy */
};

enum al_kind { AL_KIND_ANY = 0, AL_KIND_COMMAND, AL_KIND_CODE };
enum al_effect { AL_EFFECT_DENY = 0, AL_EFFECT_ALLOW };

struct al_match_re {
	bool set;
	char *src;     /* owned, the pattern as written */
	regex_t re;    /* compiled REG_EXTENDED|REG_NOSUB */
};

struct al_rule {
	char *id;
	enum al_kind kind;
	struct al_match_re executable, path, args, identity;
	enum al_effect effect;
	char *reason;     /* may be NULL */
	char *profile;    /* may be NULL: then the request's or the kind's default */
	const struct al_profile *prof;  /* borrowed, NULL when profile is NULL */
};

struct al_policy {
	char *file;           /* where it was loaded from (or "<buffer>") */
	char sha256[65];      /* hex sha256 of the raw bytes */
	char *version;
	bool audit_mode;      /* "mode": "audit" */
	enum al_effect default_effect;
	int64_t rate_max;     /* 0 = no rate limit */
	int64_t rate_window_sec;
	struct al_rule *rules;
	size_t n_rules;
	struct al_profile *profiles;
	size_t n_profiles;
	struct al_syscall_profile *syscall_profiles;
	size_t n_syscall_profiles;
};

int al_policy_load_file(const char *path, struct al_policy **out, al_err *err);
int al_policy_load_buf(const char *buf, size_t len, const char *name, struct al_policy **out,
		       al_err *err);
void al_policy_free(struct al_policy *p);

/* For a caller that never evaluates rules (agentrun): the file is validated
 * as by al_policy_load_file, and the policy comes back without its rules
 * (n_rules 0).  Loading a policy is mostly compiling its rules' patterns
 * and parsing its text, so a file this build validated once leaves a marker
 * in marker_dir -- named by its sha256 and the build, holding its profiles
 * and syscall profiles as compact JSON -- and later loads of the same bytes
 * read the profiles from there (checked again).  Only root uses markers,
 * and only in a directory owned by root and writable by root alone
 * (al_private_dir_open), only root's regular files in it; an unreadable
 * marker means a full load.  marker_dir NULL (or not root): always the
 * full load.  The directory keeps at most 64 markers (a 65th clears the
 * others). */
#define AL_POLICY_MARKER_DIR "/run/agentlaunch/policy-ok"
int al_policy_load_profiles(const char *path, const char *marker_dir, struct al_policy **out,
			    al_err *err);
/* The marker's name for a policy of that sha256 (hex) and this build. */
void al_policy_marker_name(const char *policy_sha, char out[65]);

const struct al_profile *al_policy_find_profile(const struct al_policy *p, const char *name);

/* Parse a single profile object (as found under "profiles") or syscall
 * profile object (as found under "syscall_profiles"), e.g. from a run spec,
 * with the same validation as the policy loader.  `where` is the JSON path
 * that prefixes error messages ("profiles.python_sandbox").  The objects do
 * not carry their own names: out->name is left NULL for the caller to set,
 * and out->sc (profile) is left NULL: only the policy loader resolves it.
 * On failure *out is left empty (safe to free).  The result is owned by the
 * caller: free with al_profile_free() / al_syscall_profile_free(). */
int al_profile_from_json(json_t *obj, const char *where, struct al_profile *out, al_err *err);
int al_syscall_profile_from_json(json_t *obj, const char *where, struct al_syscall_profile *out,
				 al_err *err);
void al_profile_free(struct al_profile *p);
void al_syscall_profile_free(struct al_syscall_profile *sc);

/* Deep copies (name included).  al_profile_copy() keeps dst->sc = src->sc
 * (still borrowed): point it at an owned copy if src's owner may go away. */
int al_profile_copy(struct al_profile *dst, const struct al_profile *src, al_err *err);
int al_syscall_profile_copy(struct al_syscall_profile *dst, const struct al_syscall_profile *src,
			    al_err *err);

/* Serialise a profile / syscall profile back to JSON (for run specs).
 * Returns a new reference. */
json_t *al_profile_to_json(const struct al_profile *p);
json_t *al_syscall_profile_to_json(const struct al_syscall_profile *sc);

/* Effective limits: request values (AL_LIMIT_UNSET where not asked) clamped
 * to the profile's ceilings, defaults filled in.  A request may lower a
 * limit, never raise it: a higher value is clamped to the ceiling.  An unset
 * ceiling is the AL_DEFAULT_* value (cpu_max_percent has none: unset stays
 * unset unless asked for).  Values are also kept inside the ranges that
 * al_limits_from_json() accepts (a request below the minimum gets the
 * minimum).  ceiling or req may be NULL (= all unset). */
void al_limits_effective(const struct al_limits *ceiling, const struct al_limits *req,
			 struct al_limits *out);
/* Only the limits that are set (others omitted).  New reference. */
json_t *al_limits_to_json(const struct al_limits *l);
/* All AL_LIMIT_UNSET. */
void al_limits_init(struct al_limits *l);
/* A "limits" object: known keys only, each an integer in its range
 * (timeout_sec 1..86400, cpu_max_percent 1..6400, mem_max_mb 4..1048576,
 * pids_max 1..100000, max_stdout_bytes/max_stderr_bytes 0..2^30,
 * max_file_mb 0..2^20, max_open_files 16..65536, tmpfs_size_mb 1..65536);
 * absent ones are AL_LIMIT_UNSET.  Usable for request bodies too. */
int al_limits_from_json(json_t *obj, const char *where, struct al_limits *out, al_err *err);

/* NULL when path is absolute and normalised (no "//", no "." or ".."
 * component, no trailing "/" except for "/" itself, shorter than
 * PATH_MAX), else a short reason such as "must be an absolute path". */
const char *al_path_check(const char *path);

/* Substitute "{identity}" in a workspace template.  The identity must match
 * ^[A-Za-z0-9._-]{1,64}$ and not be "." or ".." (else -1 and err). */
int al_workspace_path(const char *tmpl, const char *identity, char *out, size_t outsz,
		      al_err *err);
bool al_identity_valid(const char *identity);

#endif
