/* Loading and validating the policy (SPEC §4): the top level and the rules;
 * profiles, syscall profiles and limits are in profile.c.
 *
 * Pure code: no side effects besides reading the policy file.  Every
 * validation error names the field as a JSON path ("rules[2].match.path",
 * "profiles.python_sandbox.limits.mem_max_mb") and the reason; the loader
 * prefixes the file name.  Unknown fields are errors everywhere, so a typo
 * never silently weakens a policy. */
#include <jansson.h>

#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../shared/cleanup.h"
#include "../shared/jsonfield.h"
#include "../shared/util.h"

#define MAX_LIST 4096 /* entries in any array (rules, paths, syscalls) */
#define POLICY_MAX_BYTES (4u << 20)
#define JLOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

static int nomem(al_err *err, const char *path)
{
	return al_err_set(err, ENOMEM, "%s", path && *path ? path : "policy");
}

/* ---- rules ------------------------------------------------------------- */

static void rule_free(struct al_rule *r)
{
	struct al_match_re *res[] = {&r->executable, &r->path, &r->args, &r->identity};
	for (size_t i = 0; i < 4; i++) {
		if (res[i]->set)
			regfree(&res[i]->re);
		free(res[i]->src);
	}
	free(r->id);
	free(r->reason);
	free(r->profile);
	memset(r, 0, sizeof(*r));
}

static int parse_re(json_t *m, const char *mp, const char *key, struct al_match_re *mr, al_err *err)
{
	cleanup_free char *src = NULL;
	char fp[AL_JF_PATH_MAX];
	int r = al_jf_string(m, mp, key, 0, &src, NULL, err);

	if (r <= 0)
		return r;
	al_jf_path(fp, sizeof(fp), mp, key);
	r = regcomp(&mr->re, src, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		char why[256];
		regerror(r, &mr->re, why, sizeof(why));
		return al_jf_err(err, fp, "invalid regular expression \"%s\": %s", src, why);
	}
	mr->set = true;
	mr->src = TAKE_PTR(src);
	return 0;
}

static int parse_rule(json_t *o, const char *rp, const struct al_policy *p, struct al_rule *r,
		      al_err *err)
{
	static const char *const keys[] = {"id", "match", "effect", "reason", "profile", NULL};
	static const char *const mkeys[] = {"kind",	    "executable", "path",
					    "args_pattern", "identity",	  NULL};
	static const char *const kinds[] = {"command", "code", NULL};
	static const char *const effects[] = {"allow", "deny", NULL};
	char fp[AL_JF_PATH_MAX];
	int kind = -1, eff = 0;
	json_t *m;

	if (al_jf_object(o, rp, err) < 0 || al_jf_known_keys(o, rp, keys, err) < 0 ||
	    al_jf_string(o, rp, "id", AL_JF_REQUIRED, &r->id, NULL, err) < 0)
		return -1;
	al_jf_path(fp, sizeof(fp), rp, "id");
	if (!al_identity_valid(r->id))
		return al_jf_err(err, fp, "\"%s\" is not a valid rule id ([A-Za-z0-9._-]{1,64})",
				 r->id);
	m = json_object_get(o, "match");
	al_jf_path(fp, sizeof(fp), rp, "match");
	if (m != NULL) {
		if (al_jf_object(m, fp, err) < 0 || al_jf_known_keys(m, fp, mkeys, err) < 0 ||
		    al_jf_enum(m, fp, "kind", false, kinds, &kind, err) < 0 ||
		    parse_re(m, fp, "executable", &r->executable, err) < 0 ||
		    parse_re(m, fp, "path", &r->path, err) < 0 ||
		    parse_re(m, fp, "args_pattern", &r->args, err) < 0 ||
		    parse_re(m, fp, "identity", &r->identity, err) < 0)
			return -1;
	}
	r->kind = kind == 0 ? AL_KIND_COMMAND : kind == 1 ? AL_KIND_CODE : AL_KIND_ANY;
	if (al_jf_enum(o, rp, "effect", true, effects, &eff, err) < 0 ||
	    al_jf_string(o, rp, "reason", AL_JF_NULL_OK, &r->reason, NULL, err) < 0 ||
	    al_jf_string(o, rp, "profile", AL_JF_NULL_OK, &r->profile, NULL, err) < 0)
		return -1;
	r->effect = eff == 0 ? AL_EFFECT_ALLOW : AL_EFFECT_DENY;
	if (r->profile != NULL) {
		al_jf_path(fp, sizeof(fp), rp, "profile");
		r->prof = al_policy_find_profile(p, r->profile);
		if (r->prof == NULL)
			return al_jf_err(err, fp, "no profile named \"%s\" in \"profiles\"",
					 r->profile);
		if (r->kind == AL_KIND_CODE && r->prof->language == NULL)
			return al_jf_err(err, fp,
					 "profile \"%s\" has no \"language\": a rule of kind "
					 "\"code\" needs a code profile",
					 r->profile);
	}
	return 0;
}

/* ---- the policy -------------------------------------------------------- */

void al_policy_free(struct al_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_rules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	for (size_t i = 0; i < p->n_profiles; i++)
		al_profile_free(&p->profiles[i]);
	free(p->profiles);
	for (size_t i = 0; i < p->n_syscall_profiles; i++)
		al_syscall_profile_free(&p->syscall_profiles[i]);
	free(p->syscall_profiles);
	free(p->version);
	free(p->file);
	free(p);
}

const struct al_profile *al_policy_find_profile(const struct al_policy *p, const char *name)
{
	for (size_t i = 0; p && name && i < p->n_profiles; i++)
		if (strcmp(p->profiles[i].name, name) == 0)
			return &p->profiles[i];
	return NULL;
}

static const struct al_syscall_profile *find_sc(const struct al_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_syscall_profiles; i++)
		if (strcmp(p->syscall_profiles[i].name, name) == 0)
			return &p->syscall_profiles[i];
	return NULL;
}

static int check_name(const char *fp, const char *what, const char *name, al_err *err)
{
	if (!al_identity_valid(name))
		return al_jf_err(err, fp, "\"%s\" is not a valid %s name ([A-Za-z0-9._-]{1,64})",
				 name, what);
	return 0;
}

static int parse_syscall_profiles(json_t *obj, struct al_policy *p, al_err *err)
{
	const char *name;
	json_t *v;
	char fp[AL_JF_PATH_MAX];

	if (obj == NULL)
		return 0;
	if (al_jf_object(obj, "syscall_profiles", err) < 0)
		return -1;
	p->syscall_profiles = calloc(json_object_size(obj) + 1, sizeof(*p->syscall_profiles));
	if (p->syscall_profiles == NULL)
		return nomem(err, "syscall_profiles");
	json_object_foreach(obj, name, v)
	{
		struct al_syscall_profile *sc = &p->syscall_profiles[p->n_syscall_profiles];
		al_jf_path(fp, sizeof(fp), "syscall_profiles", name);
		if (check_name(fp, "syscall profile", name, err) < 0 ||
		    al_syscall_profile_from_json(v, fp, sc, err) < 0)
			return -1;
		p->n_syscall_profiles++;
		if ((sc->name = strdup(name)) == NULL)
			return nomem(err, fp);
	}
	return 0;
}

static int parse_profiles(json_t *obj, struct al_policy *p, al_err *err)
{
	const char *name;
	json_t *v;
	char fp[AL_JF_PATH_MAX];

	if (obj == NULL)
		return 0;
	if (al_jf_object(obj, "profiles", err) < 0)
		return -1;
	p->profiles = calloc(json_object_size(obj) + 1, sizeof(*p->profiles));
	if (p->profiles == NULL)
		return nomem(err, "profiles");
	json_object_foreach(obj, name, v)
	{
		struct al_profile *pr = &p->profiles[p->n_profiles];
		al_jf_path(fp, sizeof(fp), "profiles", name);
		if (check_name(fp, "profile", name, err) < 0 ||
		    al_profile_from_json(v, fp, pr, err) < 0)
			return -1;
		p->n_profiles++;
		if ((pr->name = strdup(name)) == NULL)
			return nomem(err, fp);
		pr->sc = find_sc(p, pr->syscall_profile);
		if (pr->sc == NULL) {
			char sp[AL_JF_PATH_MAX];
			al_jf_path(sp, sizeof(sp), fp, "syscall_profile");
			return al_jf_err(err, sp,
					 "no syscall profile named \"%s\" in \"syscall_profiles\"",
					 pr->syscall_profile);
		}
	}
	return 0;
}

static int parse_rules(json_t *arr, struct al_policy *p, al_err *err)
{
	char fp[AL_JF_PATH_MAX];
	json_t *v;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return al_jf_err(err, "rules", "must be an array");
	if (json_array_size(arr) > MAX_LIST)
		return al_jf_err(err, "rules", "must have at most %d rules", MAX_LIST);
	p->rules = calloc(json_array_size(arr) + 1, sizeof(*p->rules));
	if (p->rules == NULL)
		return nomem(err, "rules");
	json_array_foreach(arr, i, v)
	{
		struct al_rule *r = &p->rules[i];
		al_jf_index(fp, sizeof(fp), "rules", i);
		p->n_rules++;
		if (parse_rule(v, fp, p, r, err) < 0)
			return -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(p->rules[k].id, r->id) == 0) {
				char ip[AL_JF_PATH_MAX];
				al_jf_path(ip, sizeof(ip), fp, "id");
				return al_jf_err(err, ip,
						 "duplicate rule id \"%s\" (also rules[%zu])",
						 r->id, k);
			}
	}
	return 0;
}

static int parse_policy(json_t *root, struct al_policy *p, al_err *err)
{
	static const char *const keys[] = {"version", "mode",	  "default",	      "rate_limit",
					   "rules",   "profiles", "syscall_profiles", NULL};
	static const char *const rkeys[] = {"max_commands", "window_seconds", NULL};
	static const char *const modes[] = {"enforce", "audit", NULL};
	static const char *const effects[] = {"allow", "deny", NULL};
	int mode = 0, dflt = 1;
	json_t *rl;

	if (!json_is_object(root))
		return al_jf_err(err, NULL, "the policy must be a JSON object");
	if (al_jf_known_keys(root, "", keys, err) < 0 ||
	    al_jf_string(root, "", "version", AL_JF_REQUIRED, &p->version, NULL, err) < 0)
		return -1;
	if (strcmp(p->version, "2.0") != 0)
		return al_jf_err(
		    err, "version",
		    "unsupported policy version \"%s\" (this agentlaunch reads \"2.0\")",
		    p->version);
	if (al_jf_enum(root, "", "mode", false, modes, &mode, err) < 0 ||
	    al_jf_enum(root, "", "default", false, effects, &dflt, err) < 0)
		return -1;
	p->audit_mode = mode == 1;
	p->default_effect = dflt == 0 ? AL_EFFECT_ALLOW : AL_EFFECT_DENY;
	rl = json_object_get(root, "rate_limit");
	if (rl != NULL &&
	    (al_jf_object(rl, "rate_limit", err) < 0 ||
	     al_jf_known_keys(rl, "rate_limit", rkeys, err) < 0 ||
	     al_jf_int(rl, "rate_limit", "max_commands", true, 1, 1000000, &p->rate_max, err) < 0 ||
	     al_jf_int(rl, "rate_limit", "window_seconds", true, 1, 86400, &p->rate_window_sec,
		       err) < 0))
		return -1;
	if (parse_syscall_profiles(json_object_get(root, "syscall_profiles"), p, err) < 0 ||
	    parse_profiles(json_object_get(root, "profiles"), p, err) < 0 ||
	    parse_rules(json_object_get(root, "rules"), p, err) < 0)
		return -1;
	return 0;
}

/* What agentrun keeps of a policy (see al_policy_load_profiles): its
 * profiles and syscall profiles as compact JSON. */
static char *profiles_json(json_t *root)
{
	json_t *o = json_object();
	const char *keys[] = {"profiles", "syscall_profiles"};
	char *s = NULL;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(root, keys[i]);
		if (v != NULL && json_object_set(o, keys[i], v) < 0)
			goto out;
	}
	s = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	return s;
}

/* sha: the buffer's hex sha256 when the caller has it, else NULL.
 * profiles: if not NULL, receives profiles_json() of a policy that loaded. */
static int load_buf(const char *buf, size_t len, const char *name, const char *sha,
		    struct al_policy **out, char **profiles, al_err *err)
{
	struct al_policy *p;
	json_error_t je;
	json_t *root;

	*out = NULL;
	if (name == NULL)
		name = "<buffer>";
	if (len > POLICY_MAX_BYTES)
		return al_err_set(err, EFBIG, "%s: policy larger than %u bytes", name,
				  POLICY_MAX_BYTES);
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->file = strdup(name)) == NULL) {
		free(p);
		return al_err_set(err, ENOMEM, "%s", name);
	}
	if (sha)
		memcpy(p->sha256, sha, sizeof(p->sha256));
	else
		al_sha256_hex(buf, len, p->sha256);
	root = json_loadb(buf, len, JLOAD_FLAGS, &je);
	if (root == NULL) {
		al_policy_free(p);
		return al_jf_err(err, name, "line %d, column %d: invalid JSON: %s", je.line,
				 je.column, je.text);
	}
	int r = parse_policy(root, p, err);
	if (r == 0 && profiles != NULL)
		*profiles = profiles_json(root);
	json_decref(root);
	if (r < 0) {
		al_policy_free(p);
		return al_err_wrap(err, "%s", name);
	}
	*out = p;
	return 0;
}

int al_policy_load_buf(const char *buf, size_t len, const char *name, struct al_policy **out,
		       al_err *err)
{
	return load_buf(buf, len, name, NULL, out, NULL, err);
}

int al_policy_load_file(const char *path, struct al_policy **out, al_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;

	*out = NULL;
	if (al_read_file(path, POLICY_MAX_BYTES, &buf, &len, err) < 0)
		return al_err_wrap(err, "cannot read policy");
	return load_buf(buf, len, path, NULL, out, NULL, err);
}

/* ---- profiles only, through the validated-policy marker ----------------- */

/* Bump when what the loader accepts, or what the marker holds, changes. */
#define MARKER_TAG "profiles-1"

/* The marker's name: the policy's sha256 bound to this build (agentrun
 * links glibc statically: its regcomp is its own). */
void al_policy_marker_name(const char *policy_sha, char out[65])
{
	char key[256];
	int n = snprintf(key, sizeof(key), "%s\n%s\n%s\n%s", policy_sha, AL_VERSION,
			 gnu_get_libc_version(), MARKER_TAG);
	al_sha256_hex(key, (size_t)n, out);
}


/* The marker's text, or NULL (none, or not our regular file). */
static char *marker_read(const char *dir, const char *name, size_t *len)
{
	cleanup_close int dfd = al_private_dir_open(dir, false);
	struct stat st;
	char *buf = NULL;

	if (dfd < 0)
		return NULL;
	cleanup_close int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    al_read_fd_all(fd, POLICY_MAX_BYTES, &buf, len, NULL) < 0)
		return NULL;
	return buf;
}

/* At most MARKERS_MAX markers: past that the others go (the markers of
 * the policies in use come back at their next load). */
#define MARKERS_MAX 64

static void markers_trim(int dfd, const char *keep)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (n > MARKERS_MAX) {
		rewinddir(d);
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' && strcmp(e->d_name, keep) != 0)
				unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
}

/* Written whole or not at all (a temporary name, then rename). */
static void marker_put(const char *dir, const char *name, const char *text)
{
	cleanup_close int dfd = al_private_dir_open(dir, true);
	char tmp[96];

	if (dfd < 0 || text == NULL)
		return;
	snprintf(tmp, sizeof(tmp), ".%s.%d", name, (int)getpid());
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	bool ok = al_write_all(fd, text, strlen(text)) == 0;
	if (close(fd) < 0 || !ok || renameat(dfd, tmp, dfd, name) < 0) {
		unlinkat(dfd, tmp, 0);
		return;
	}
	markers_trim(dfd, name);
}

/* A policy from a marker's text: its profiles, validated again (cheap);
 * no rules.  -1 when the text is not what marker_put wrote. */
static int load_marker(const char *text, size_t len, const char *path, const char *sha,
		       struct al_policy **out)
{
	al_err err = {0};
	json_t *root = json_loadb(text, len, JLOAD_FLAGS, NULL);
	struct al_policy *p = calloc(1, sizeof(*p));
	int rc = -1;

	if (root == NULL || p == NULL || !json_is_object(root) ||
	    (p->file = strdup(path)) == NULL || (p->version = strdup("2.0")) == NULL)
		goto out;
	memcpy(p->sha256, sha, sizeof(p->sha256));
	p->default_effect = AL_EFFECT_DENY;
	if (parse_syscall_profiles(json_object_get(root, "syscall_profiles"), p, &err) < 0 ||
	    parse_profiles(json_object_get(root, "profiles"), p, &err) < 0)
		goto out;
	*out = TAKE_PTR(p);
	rc = 0;
out:
	json_decref(root);
	al_policy_free(p);
	return rc;
}

int al_policy_load_profiles(const char *path, const char *marker_dir_path,
			    struct al_policy **out, al_err *err)
{
	cleanup_free char *buf = NULL, *text = NULL, *profiles = NULL;
	size_t len = 0, tlen = 0;
	char sha[65], name[65];

	*out = NULL;
	if (al_read_file(path, POLICY_MAX_BYTES, &buf, &len, err) < 0)
		return al_err_wrap(err, "cannot read policy");
	al_sha256_hex(buf, len, sha);
	al_policy_marker_name(sha, name);
	if (geteuid() != 0)
		marker_dir_path = NULL; /* markers are root's: written and read by root only */
	if (marker_dir_path && (text = marker_read(marker_dir_path, name, &tlen)) != NULL &&
	    load_marker(text, tlen, path, sha, out) == 0)
		return 0;
	if (load_buf(buf, len, path, sha, out, marker_dir_path ? &profiles : NULL, err) < 0)
		return -1;
	if (profiles != NULL)
		marker_put(marker_dir_path, name, profiles);
	/* The rules never leave here. */
	struct al_policy *p = *out;
	for (size_t i = 0; i < p->n_rules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	p->rules = NULL;
	p->n_rules = 0;
	return 0;
}

/* ---- identities and workspaces ----------------------------------------- */

bool al_identity_valid(const char *id)
{
	size_t n;

	if (id == NULL)
		return false;
	n = strlen(id);
	if (n == 0 || n > 64 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	for (const char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			return false;
	return true;
}

int al_workspace_path(const char *tmpl, const char *identity, char *out, size_t outsz, al_err *err)
{
	static const char tok[] = "{identity}";
	size_t used = 0;

	if (!al_identity_valid(identity))
		return al_jf_err(
		    err, NULL,
		    "invalid identity \"%.80s\": use 1 to 64 of [A-Za-z0-9._-], not \".\" "
		    "or \"..\"",
		    identity ? identity : "");
	if (tmpl == NULL || outsz == 0)
		return al_jf_err(err, NULL, "workspace: no template");
	for (const char *s = tmpl; *s;) {
		const char *piece = s;
		size_t n = 1;
		if (strncmp(s, tok, sizeof(tok) - 1) == 0) {
			piece = identity;
			n = strlen(identity);
			s += sizeof(tok) - 1;
		} else {
			s++;
		}
		if (used + n >= outsz)
			return al_err_set(err, ENAMETOOLONG, "workspace %s: path too long", tmpl);
		memcpy(out + used, piece, n);
		used += n;
	}
	out[used] = '\0';
	return 0;
}
