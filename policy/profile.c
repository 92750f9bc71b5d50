/* Profiles, syscall profiles and limits of the policy (SPEC §4): parsing,
 * validation, serialisation (for run specs) and limit clamping.
 *
 * Pure code.  The same validators serve the policy loader (policy.c) and
 * the run spec (shared/runspec.c), so agentrun re-checks a profile exactly
 * as strictly as the gateway did. */
#include <jansson.h>

#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "../shared/cleanup.h"
#include "../shared/jsonfield.h"

#define MAX_LIST 4096 /* entries in any array (rules, paths, syscalls) */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static int nomem(al_err *err, const char *path)
{
	return al_err_set(err, ENOMEM, "%s", path && *path ? path : "policy");
}

/* ---- string vectors and paths ------------------------------------------ */

static void strv_free(struct al_strv *s)
{
	if (s->v)
		for (size_t i = 0; i < s->n; i++)
			free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int strv_init(struct al_strv *s, size_t n)
{
	s->n = 0;
	s->v = calloc(n + 1, sizeof(char *));
	return s->v ? 0 : -1;
}

static int strv_copy(struct al_strv *dst, const struct al_strv *src)
{
	if (strv_init(dst, src->n) < 0)
		return -1;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i] = strdup(src->v[i]);
		if (dst->v[i] == NULL)
			return -1;
		dst->n++;
	}
	return 0;
}

const char *al_path_check(const char *p)
{
	if (p == NULL || *p == '\0')
		return "must not be empty";
	if (*p != '/')
		return "must be an absolute path";
	if (strlen(p) >= PATH_MAX)
		return "is too long";
	if (strcmp(p, "/") == 0)
		return NULL;
	if (p[strlen(p) - 1] == '/')
		return "must not end with \"/\"";
	if (strstr(p, "//") != NULL)
		return "must not contain \"//\"";
	for (const char *c = p; c != NULL; c = strchr(c + 1, '/')) {
		const char *s = c + 1;
		size_t len = strcspn(s, "/");
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return "must not contain \"..\" components";
		if (len == 1 && s[0] == '.')
			return "must not contain \".\" components";
	}
	return NULL;
}

/* A list item's check: NULL when val is fine, else why (in buf). */
typedef const char *(*item_check_fn)(const char *val, char *buf, size_t n);

static const char *check_path_item(const char *val, char *buf, size_t n)
{
	const char *why = al_path_check(val);
	if (why == NULL)
		return NULL;
	snprintf(buf, n, "%s (got \"%s\")", why, val);
	return buf;
}

static int check_path_value(const char *fp, const char *val, al_err *err)
{
	char why[AL_ERR_MSG_MAX];
	if (check_path_item(val, why, sizeof(why)) != NULL)
		return al_jf_err(err, fp, "%s", why);
	return 0;
}


/* Optional array of strings; absent gives an empty vector. */
static int get_strv(json_t *obj, const char *path, const char *key, item_check_fn check,
		    struct al_strv *out, al_err *err)
{
	char fp[AL_JF_PATH_MAX], ip[AL_JF_PATH_MAX], why[AL_ERR_MSG_MAX];
	json_t *v = json_object_get(obj, key), *item;
	const char *bad = NULL;
	size_t i;

	al_jf_path(fp, sizeof(fp), path, key);
	if (v != NULL && !json_is_array(v))
		return al_jf_err(err, fp, "must be an array of strings");
	if (v != NULL && json_array_size(v) > MAX_LIST)
		return al_jf_err(err, fp, "must have at most %d entries", MAX_LIST);
	if (strv_init(out, v ? json_array_size(v) : 0) < 0)
		return nomem(err, fp);
	if (v == NULL)
		return 0;
	/* the item's path (fp[i]) is made only for an error */
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item))
			bad = "must be a string";
		else if (al_jf_has_nul(item))
			bad = "must not contain NUL bytes";
		else if (check)
			bad = check(json_string_value(item), why, sizeof(why));
		if (bad == NULL && (out->v[i] = strdup(json_string_value(item))) == NULL)
			bad = "out of memory";
		if (bad != NULL) {
			al_jf_index(ip, sizeof(ip), fp, i);
			return al_jf_err(err, ip, "%s", bad);
		}
		out->n++;
	}
	return 1;
}

static json_t *strv_to_json(const struct al_strv *s)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < s->n; i++)
		json_array_append_new(a, json_string(s->v[i]));
	return a;
}

/* ---- limits ------------------------------------------------------------ */

static const struct limit_def {
	const char *name;
	size_t off;
	int64_t min, max;
	int64_t dflt; /* ceiling when the profile leaves it unset; UNSET = none */
} limit_defs[] = {
    {"timeout_sec", offsetof(struct al_limits, timeout_sec), 1, 86400, AL_DEFAULT_TIMEOUT_SEC},
    {"cpu_max_percent", offsetof(struct al_limits, cpu_max_percent), 1, 100 * 64, AL_LIMIT_UNSET},
    {"mem_max_mb", offsetof(struct al_limits, mem_max_mb), 4, 1048576, AL_DEFAULT_MEM_MAX_MB},
    {"pids_max", offsetof(struct al_limits, pids_max), 1, 100000, AL_DEFAULT_PIDS_MAX},
    {"max_stdout_bytes", offsetof(struct al_limits, max_stdout_bytes), 0, 1 << 30,
     AL_DEFAULT_MAX_OUTPUT_BYTES},
    {"max_stderr_bytes", offsetof(struct al_limits, max_stderr_bytes), 0, 1 << 30,
     AL_DEFAULT_MAX_OUTPUT_BYTES},
    {"max_file_mb", offsetof(struct al_limits, max_file_mb), 0, 1 << 20, AL_DEFAULT_MAX_FILE_MB},
    {"max_open_files", offsetof(struct al_limits, max_open_files), 16, 65536,
     AL_DEFAULT_MAX_OPEN_FILES},
    {"tmpfs_size_mb", offsetof(struct al_limits, tmpfs_size_mb), 1, 65536,
     AL_DEFAULT_TMPFS_SIZE_MB},
};
#define N_LIMITS (sizeof(limit_defs) / sizeof(limit_defs[0]))

static int64_t *limit_at(struct al_limits *l, size_t i)
{
	return (int64_t *)((char *)l + limit_defs[i].off);
}

static int64_t limit_get(const struct al_limits *l, size_t i)
{
	return *(const int64_t *)((const char *)l + limit_defs[i].off);
}

void al_limits_init(struct al_limits *l)
{
	for (size_t i = 0; i < N_LIMITS; i++)
		*limit_at(l, i) = AL_LIMIT_UNSET;
}

int al_limits_from_json(json_t *obj, const char *where, struct al_limits *out, al_err *err)
{
	static const char *const keys[] = {"timeout_sec", "cpu_max_percent",  "mem_max_mb",
					   "pids_max",	  "max_stdout_bytes", "max_stderr_bytes",
					   "max_file_mb", "max_open_files",   "tmpfs_size_mb",
					   NULL};

	al_limits_init(out);
	if (al_jf_object(obj, where, err) < 0 || al_jf_known_keys(obj, where, keys, err) < 0)
		return -1;
	for (size_t i = 0; i < N_LIMITS; i++)
		if (al_jf_int(obj, where, limit_defs[i].name, false, limit_defs[i].min,
			      limit_defs[i].max, limit_at(out, i), err) < 0)
			return -1;
	return 0;
}

json_t *al_limits_to_json(const struct al_limits *l)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < N_LIMITS; i++)
		if (limit_get(l, i) != AL_LIMIT_UNSET)
			json_object_set_new(o, limit_defs[i].name, json_integer(limit_get(l, i)));
	return o;
}

void al_limits_effective(const struct al_limits *ceiling, const struct al_limits *req,
			 struct al_limits *out)
{
	for (size_t i = 0; i < N_LIMITS; i++) {
		const struct limit_def *d = &limit_defs[i];
		int64_t c = ceiling ? limit_get(ceiling, i) : AL_LIMIT_UNSET;
		int64_t r = req ? limit_get(req, i) : AL_LIMIT_UNSET;
		int64_t v;

		if (c < 0)
			c = d->dflt;
		if (c != AL_LIMIT_UNSET && c > d->max)
			c = d->max;
		if (r < 0) /* not asked for */
			v = c;
		else if (c != AL_LIMIT_UNSET && r > c)
			v = c;
		else
			v = r > d->max ? d->max : r;
		if (v != AL_LIMIT_UNSET && v < d->min)
			v = d->min;
		*limit_at(out, i) = v;
	}
}

/* ---- syscall profiles -------------------------------------------------- */

static const char *const errno_names[] = {"EPERM", "ENOSYS", "EACCES", NULL};
static const int errno_values[] = {EPERM, ENOSYS, EACCES};

static const char *check_syscall_name(const char *val, char *buf, size_t n)
{
	int nr = seccomp_syscall_resolve_name(val);
	if (nr >= 0)
		return NULL;
	if (nr == __NR_SCMP_ERROR)
		snprintf(buf, n, "unknown system call \"%s\"", val);
	else
		snprintf(buf, n, "\"%s\" is not a system call on this architecture", val);
	return buf;
}

static int strv_find(const struct al_strv *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return (int)i;
	return -1;
}

static int check_syscall_list(const struct al_strv *l, const struct al_strv *other, const char *fp,
			      al_err *err)
{
	char ip[AL_JF_PATH_MAX];
	for (size_t i = 0; i < l->n; i++) {
		bool twice = strv_find(l, l->v[i]) != (int)i;
		if (!twice && !(other && strv_find(other, l->v[i]) >= 0))
			continue;
		al_jf_index(ip, sizeof(ip), fp, i);
		return al_jf_err(err, ip,
				 twice ? "\"%s\" is listed twice"
				       : "\"%s\" is in both \"allow\" and \"deny\"",
				 l->v[i]);
	}
	return 0;
}

void al_syscall_profile_free(struct al_syscall_profile *sc)
{
	if (sc == NULL)
		return;
	free(sc->name);
	strv_free(&sc->deny);
	strv_free(&sc->allow);
	memset(sc, 0, sizeof(*sc));
	sc->deny_errno = EPERM;
}

int al_syscall_profile_from_json(json_t *obj, const char *where, struct al_syscall_profile *out,
				 al_err *err)
{
	static const char *const keys[] = {"default", "deny", "allow", "errno", NULL};
	static const char *const dflt[] = {"allow", "deny", NULL};
	char fp[AL_JF_PATH_MAX];
	int d = 0, e = 0;

	memset(out, 0, sizeof(*out));
	out->deny_errno = EPERM;
	if (al_jf_object(obj, where, err) < 0 || al_jf_known_keys(obj, where, keys, err) < 0 ||
	    al_jf_enum(obj, where, "default", true, dflt, &d, err) < 0 ||
	    get_strv(obj, where, "deny", check_syscall_name, &out->deny, err) < 0 ||
	    get_strv(obj, where, "allow", check_syscall_name, &out->allow, err) < 0 ||
	    al_jf_enum(obj, where, "errno", false, errno_names, &e, err) < 0)
		goto fail;
	out->default_allow = d == 0;
	out->deny_errno = errno_values[e];
	al_jf_path(fp, sizeof(fp), where, "deny");
	if (check_syscall_list(&out->deny, &out->allow, fp, err) < 0)
		goto fail;
	al_jf_path(fp, sizeof(fp), where, "allow");
	if (check_syscall_list(&out->allow, NULL, fp, err) < 0)
		goto fail;
	if (out->default_allow && out->allow.n > 0) {
		al_jf_err(err, fp,
			  "has no effect when \"default\" is \"allow\" (list syscalls to deny "
			  "in \"deny\")");
		goto fail;
	}
	al_jf_path(fp, sizeof(fp), where, "deny");
	if (!out->default_allow && out->deny.n > 0) {
		al_jf_err(err, fp,
			  "has no effect when \"default\" is \"deny\" (list syscalls to allow "
			  "in \"allow\")");
		goto fail;
	}
	return 0;
fail:
	al_syscall_profile_free(out);
	return -1;
}

json_t *al_syscall_profile_to_json(const struct al_syscall_profile *sc)
{
	const char *en = "EPERM";
	for (int i = 0; errno_names[i]; i++)
		if (errno_values[i] == sc->deny_errno)
			en = errno_names[i];
	return json_pack("{s:s, s:o, s:o, s:s}", "default", sc->default_allow ? "allow" : "deny",
			 "deny", strv_to_json(&sc->deny), "allow", strv_to_json(&sc->allow),
			 "errno", en);
}

int al_syscall_profile_copy(struct al_syscall_profile *dst, const struct al_syscall_profile *src,
			    al_err *err)
{
	memset(dst, 0, sizeof(*dst));
	dst->default_allow = src->default_allow;
	dst->deny_errno = src->deny_errno;
	if ((src->name && (dst->name = strdup(src->name)) == NULL) ||
	    strv_copy(&dst->deny, &src->deny) < 0 || strv_copy(&dst->allow, &src->allow) < 0) {
		al_syscall_profile_free(dst);
		return al_err_set(err, ENOMEM, "copy syscall profile");
	}
	return 0;
}

/* ---- profiles ---------------------------------------------------------- */

static int check_search_path(const char *fp, const char *val, al_err *err)
{
	cleanup_free char *copy = strdup(val);
	char *save = NULL;

	if (copy == NULL)
		return nomem(err, fp);
	if (*val == '\0' || *val == ':' || val[strlen(val) - 1] == ':' || strstr(val, "::"))
		return al_jf_err(err, fp,
				 "must be a colon-separated list of absolute directories "
				 "with no empty entry (got \"%s\")",
				 val);
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		const char *why = al_path_check(d);
		if (why != NULL)
			return al_jf_err(err, fp, "entry \"%s\" %s", d, why);
	}
	return 0;
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

static int parse_fs(json_t *fs, const char *fp, struct al_fs *out, al_err *err)
{
	static const char *const keys[] = {"cwd",   "workspace", "read_only", "read_write",
					   "tmpfs", "deny",	 NULL};
	char kp[AL_JF_PATH_MAX];

	if (al_jf_object(fs, fp, err) < 0 || al_jf_known_keys(fs, fp, keys, err) < 0)
		return -1;
	if (al_jf_string(fs, fp, "cwd", AL_JF_REQUIRED, &out->cwd, NULL, err) < 0)
		return -1;
	al_jf_path(kp, sizeof(kp), fp, "cwd");
	if (check_path_value(kp, out->cwd, err) < 0)
		return -1;
	if (al_jf_string(fs, fp, "workspace", AL_JF_REQUIRED, &out->workspace, NULL, err) < 0)
		return -1;
	al_jf_path(kp, sizeof(kp), fp, "workspace");
	if (check_path_value(kp, out->workspace, err) < 0)
		return -1;
	if (get_strv(fs, fp, "read_only", check_path_item, &out->read_only, err) < 0 ||
	    get_strv(fs, fp, "read_write", check_path_item, &out->read_write, err) < 0 ||
	    get_strv(fs, fp, "tmpfs", check_path_item, &out->tmpfs, err) < 0 ||
	    get_strv(fs, fp, "deny", check_path_item, &out->deny, err) < 0)
		return -1;
	return 0;
}

void al_profile_free(struct al_profile *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->language);
	free(p->interpreter);
	free(p->interpreter_sha256);
	free(p->path);
	free(p->network);
	free(p->fs.cwd);
	free(p->fs.workspace);
	strv_free(&p->fs.read_only);
	strv_free(&p->fs.read_write);
	strv_free(&p->fs.tmpfs);
	strv_free(&p->fs.deny);
	free(p->syscall_profile);
	memset(p, 0, sizeof(*p));
	al_limits_init(&p->limits);
}

int al_profile_from_json(json_t *obj, const char *where, struct al_profile *out, al_err *err)
{
	static const char *const keys[] = {"language",
					   "interpreter",
					   "interpreter_sha256",
					   "path",
					   "shell",
					   "deny_spawn_processes",
					   "network",
					   "fs",
					   "limits",
					   "syscall_profile",
					   NULL};
	char fp[AL_JF_PATH_MAX];
	json_t *v;
	int r;

	memset(out, 0, sizeof(*out));
	al_limits_init(&out->limits);
	if (al_jf_object(obj, where, err) < 0 || al_jf_known_keys(obj, where, keys, err) < 0)
		goto fail;

	if (al_jf_string(obj, where, "language", 0, &out->language, NULL, err) < 0)
		goto fail;
	al_jf_path(fp, sizeof(fp), where, "language");
	if (out->language && strcmp(out->language, "python") != 0) {
		al_jf_err(err, fp, "unsupported language \"%s\" (only \"python\" is supported)",
			  out->language);
		goto fail;
	}
	r = al_jf_string(obj, where, "interpreter", out->language ? AL_JF_REQUIRED : 0,
			 &out->interpreter, NULL, err);
	al_jf_path(fp, sizeof(fp), where, "interpreter");
	if (r < 0 || (r > 0 && check_path_value(fp, out->interpreter, err) < 0))
		goto fail;
	if (r > 0 && out->language == NULL) {
		al_jf_err(err, fp, "is only allowed together with \"language\"");
		goto fail;
	}
	r = al_jf_string(obj, where, "interpreter_sha256", AL_JF_NULL_OK, &out->interpreter_sha256,
			 NULL, err);
	al_jf_path(fp, sizeof(fp), where, "interpreter_sha256");
	if (r < 0)
		goto fail;
	if (r > 0) {
		if (!is_hex64(out->interpreter_sha256)) {
			al_jf_err(err, fp, "must be null or 64 hexadecimal digits");
			goto fail;
		}
		if (out->interpreter == NULL) {
			al_jf_err(err, fp, "is only allowed together with \"interpreter\"");
			goto fail;
		}
		for (char *c = out->interpreter_sha256; *c; c++)
			if (*c >= 'A' && *c <= 'F')
				*c = (char)(*c - 'A' + 'a');
	}

	r = al_jf_string(obj, where, "path", 0, &out->path, NULL, err);
	al_jf_path(fp, sizeof(fp), where, "path");
	if (r < 0 || (r > 0 && check_search_path(fp, out->path, err) < 0))
		goto fail;
	if (r == 0 && (out->path = strdup(DEFAULT_PATH)) == NULL) {
		nomem(err, fp);
		goto fail;
	}
	if (al_jf_bool(obj, where, "shell", false, &out->shell, err) < 0 ||
	    al_jf_bool(obj, where, "deny_spawn_processes", false, &out->deny_spawn_processes, err) <
		0)
		goto fail;

	r = al_jf_string(obj, where, "network", 0, &out->network, NULL, err);
	al_jf_path(fp, sizeof(fp), where, "network");
	if (r < 0)
		goto fail;
	if (r > 0 && strcmp(out->network, "none") != 0) {
		al_jf_err(err, fp,
			  "network mode \"%s\" is not supported yet (only \"none\": no network at "
			  "all)",
			  out->network);
		goto fail;
	}
	if (r == 0 && (out->network = strdup("none")) == NULL) {
		nomem(err, fp);
		goto fail;
	}

	al_jf_path(fp, sizeof(fp), where, "fs");
	v = json_object_get(obj, "fs");
	if (v == NULL) {
		al_jf_err(err, fp, "is required");
		goto fail;
	}
	if (parse_fs(v, fp, &out->fs, err) < 0)
		goto fail;

	al_jf_path(fp, sizeof(fp), where, "limits");
	v = json_object_get(obj, "limits");
	if (v != NULL && al_limits_from_json(v, fp, &out->limits, err) < 0)
		goto fail;

	if (al_jf_string(obj, where, "syscall_profile", AL_JF_REQUIRED, &out->syscall_profile, NULL,
			 err) < 0)
		goto fail;
	al_jf_path(fp, sizeof(fp), where, "syscall_profile");
	if (!al_identity_valid(out->syscall_profile)) {
		al_jf_err(err, fp, "\"%s\" is not a valid name ([A-Za-z0-9._-]{1,64})",
			  out->syscall_profile);
		goto fail;
	}
	return 0;
fail:
	al_profile_free(out);
	return -1;
}

json_t *al_profile_to_json(const struct al_profile *p)
{
	json_t *o = json_object(), *fs = json_object();

	if (o == NULL || fs == NULL) {
		json_decref(o);
		json_decref(fs);
		return NULL;
	}
	if (p->language)
		json_object_set_new(o, "language", json_string(p->language));
	if (p->interpreter)
		json_object_set_new(o, "interpreter", json_string(p->interpreter));
	if (p->interpreter_sha256)
		json_object_set_new(o, "interpreter_sha256", json_string(p->interpreter_sha256));
	json_object_set_new(o, "path", json_string(p->path ? p->path : DEFAULT_PATH));
	json_object_set_new(o, "shell", json_boolean(p->shell));
	json_object_set_new(o, "deny_spawn_processes", json_boolean(p->deny_spawn_processes));
	json_object_set_new(o, "network", json_string(p->network ? p->network : "none"));
	if (p->fs.cwd)
		json_object_set_new(fs, "cwd", json_string(p->fs.cwd));
	if (p->fs.workspace)
		json_object_set_new(fs, "workspace", json_string(p->fs.workspace));
	json_object_set_new(fs, "read_only", strv_to_json(&p->fs.read_only));
	json_object_set_new(fs, "read_write", strv_to_json(&p->fs.read_write));
	json_object_set_new(fs, "tmpfs", strv_to_json(&p->fs.tmpfs));
	json_object_set_new(fs, "deny", strv_to_json(&p->fs.deny));
	json_object_set_new(o, "fs", fs);
	json_object_set_new(o, "limits", al_limits_to_json(&p->limits));
	if (p->syscall_profile)
		json_object_set_new(o, "syscall_profile", json_string(p->syscall_profile));
	return o;
}

int al_profile_copy(struct al_profile *dst, const struct al_profile *src, al_err *err)
{
	json_t *j = al_profile_to_json(src);
	int r;

	if (j == NULL)
		return al_err_set(err, ENOMEM, "copy profile");
	r = al_profile_from_json(j, src->name ? src->name : "profile", dst, err);
	json_decref(j);
	if (r < 0)
		return -1;
	if (src->name && (dst->name = strdup(src->name)) == NULL) {
		al_profile_free(dst);
		return al_err_set(err, ENOMEM, "copy profile");
	}
	dst->sc = src->sc;
	return 0;
}
