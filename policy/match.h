/* Policy decisions and executable resolution (SPEC §4).
 *
 * Pure code: no allocation in al_policy_decide(); al_resolve_executable()
 * only looks at the host filesystem (stat, access, realpath). */
#ifndef AL_MATCH_H
#define AL_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "../shared/err.h"
#include "policy.h"

#define AL_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* What a rule is matched against.  All strings are borrowed; NULL is
 * matched as "". */
struct al_request_view {
	enum al_kind kind;	/* AL_KIND_COMMAND (/v1/exec) or AL_KIND_CODE (/v1/run) */
	const char *executable; /* basename of the resolved program (code: of the interpreter) */
	const char *path;	/* resolved absolute path (code: the interpreter) */
	const char *args;	/* arguments after argv[0] joined by single spaces */
	const char *identity;	/* authenticated (or, without tokens, claimed) identity */
	/* The request named a path ("/tmp/x/echo", "./echo") rather than a
	 * bare command name (al_resolve_executable's *named_path).  Then only a
	 * rule with a `path` pattern can allow it: allow rules without one are
	 * skipped (deny rules still match as usual). */
	bool named_path;
};

struct al_decision {
	const struct al_rule *rule;	  /* borrowed; NULL = the policy default */
	enum al_effect effect;		  /* what the policy says (also in audit mode) */
	const char *reason;		  /* borrowed: the rule's reason (may be NULL) or,
					     for the default, a static explanation */
	const struct al_profile *profile; /* borrowed: the rule's profile; NULL when the
					     rule names none or no rule matched (the
					     caller picks the request's or kind's default) */
	bool audit_mode_override;	  /* policy in audit mode and effect is deny: the
					     would-be denial runs (answer 200, audit_mode
					     true, allowed_by_policy false) */
};

/* First match wins.  A rule matches when its kind is AL_KIND_ANY or equals
 * rq->kind and every match field it sets matches (regexec on the whole
 * string; the patterns carry their own anchors).  A rule with no match field
 * matches everything.  When no rule matches: the policy default, rule NULL,
 * reason "no rule matched (default deny)" / "(default allow)". */
void al_policy_decide(const struct al_policy *p, const struct al_request_view *rq,
		      struct al_decision *out);

/* Does one rule match?  (Exposed for `plan` and tests.) */
bool al_rule_matches(const struct al_rule *r, const struct al_request_view *rq);

/* Resolve a command name on the host the way SPEC §4 says.
 *  - bare name (no '/'): look in each absolute directory of path_list (NULL
 *    or "" = AL_DEFAULT_PATH; empty and relative entries are skipped, never
 *    the cwd) for an executable regular file; the first one found is taken
 *    and realpath'd.  None: errnum ENOENT, "command not found in PATH ...".
 *  - a name with '/': resolved as given (relative to cwd_host; a relative
 *    name with cwd_host NULL is EINVAL), realpath'd, must be an executable
 *    regular file; *named_path = true.
 *  - either way the real path must lie inside one of read_only_mounts
 *    (whole path components, the mounts as written: "/usr" holds
 *    "/usr/bin/ls" but not "/usrx/ls"), else errnum EACCES "... is outside
 *    the profile's read-only mounts".  Symlinks are resolved first, so
 *    /bin/ls -> /usr/bin/ls is judged as /usr/bin/ls.  A NULL
 *    read_only_mounts holds nothing.
 * Names that are empty, "." or "..", or too long are EINVAL / ENAMETOOLONG.
 * On success resolved (n bytes) holds the real path. */
int al_resolve_executable(const char *name, const char *path_list,
			  const struct al_strv *read_only_mounts, const char *cwd_host,
			  char *resolved, size_t n, bool *named_path, al_err *err);

/* Is the absolute path `path` equal to or below `dir` (whole components;
 * trailing slashes of dir ignored; "/" holds everything)?  A dir that is
 * not absolute or contains "." / ".." / empty components holds nothing. */
bool al_path_inside(const char *path, const char *dir);

/* argv[first..] joined by single spaces, for rq->args.  malloc'd; NULL on
 * ENOMEM.  An argv with nothing from `first` on gives "". */
char *al_args_join(char *const *argv, size_t first);

#endif
