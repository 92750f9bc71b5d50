/* Run specs and run results as JSON (see runspec.h).
 *
 * Spec JSON (gateway → agentrun; every field re-validated here):
 *   {"run_id": "r-<hex>", "identity": "agent-1", "profile_name": "command_default",
 *    "profile": {<profile object as in the policy>},
 *    "syscall_profile": {<syscall profile object as in the policy>},
 *    "limits": {<effective limits>}, "argv": ["/usr/bin/git", "status"],
 *    "code": "...", "stdin": "...", "env": {"K": "V"}, "cwd": "/work",
 *    "uid": 65534, "gid": 65534}
 * run_id, identity, profile_name, limits, code, stdin, env, cwd, uid and gid
 * are optional; argv is required unless code is given.  The limits are
 * clamped to the profile's ceilings again, so a spec can never raise them.
 *
 * Result JSON: exactly the run fields of SPEC §3 /v1/exec, plus code_sha256
 * (only for code runs), "layers" (string) and "violations" (integer) for the
 * audit record.  A run killed by signal N has "exit_code": 128+N and
 * "signal": N; otherwise "signal" is null.  struct al_run_result holds the
 * same values (al_run_result_from_json gives exit_code 128+N); for
 * compatibility with the header's older wording, al_run_result_to_json also
 * accepts exit_code -1 with signal N and writes 128+N.
 *
 * al_run_spec_to_json() returns NULL rather than drop a field: code, stdin
 * and env values must be valid UTF-8 (they came from JSON). */
#include <jansson.h>

#include "runspec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "jsonfield.h"
#include "util.h"

#define SPEC_MAX_ARGS 4096
#define SPEC_MAX_ENV 1024
#define DEFAULT_ID 65534

/* Environment variables that make an allowed program load or run other code
 * (and so defeat the policy's match on the executable), or that glibc itself
 * ignores for setuid programs for the same reason. */
static const char *const env_denied[] = {
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
    "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS",
    /* shells */
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
    /* interpreters */
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
    "PYTHONPLATLIBDIR", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS",
    "NODE_PATH",
    /* git: programs it runs, and where it reads configuration from */
    "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "GIT_EXTERNAL_DIFF", "GIT_PAGER",
    "GIT_EDITOR", "GIT_PROXY_COMMAND", "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_TEMPLATE_DIR", NULL};
/* Prefixes denied as a family. */
static const char *const env_denied_prefix[] = {"LD_", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_",
						NULL};

bool al_run_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n > 63 || s[0] != 'r' || s[1] != '-')
		return false;
	for (s += 2; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static bool env_name_valid(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
		return false;
	for (k++; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return true;
}

static bool env_name_denied(const char *k)
{
	for (size_t i = 0; env_denied[i]; i++)
		if (strcmp(k, env_denied[i]) == 0)
			return true;
	for (size_t i = 0; env_denied_prefix[i]; i++)
		if (strncmp(k, env_denied_prefix[i], strlen(env_denied_prefix[i])) == 0)
			return true;
	return false;
}

/* ---- spec ---------------------------------------------------------------- */

void al_run_spec_init(struct al_run_spec *s)
{
	memset(s, 0, sizeof(*s));
	al_limits_init(&s->limits);
	al_limits_init(&s->profile.limits);
	s->sc.deny_errno = EPERM;
	s->uid = DEFAULT_ID;
	s->gid = DEFAULT_ID;
}

void al_run_spec_free(struct al_run_spec *s)
{
	if (s == NULL)
		return;
	free(s->run_id);
	free(s->identity);
	al_profile_free(&s->profile);
	al_syscall_profile_free(&s->sc);
	al_strv_free(s->argv);
	free(s->code);
	free(s->stdin_data);
	al_strv_free(s->env);
	free(s->cwd);
	al_run_spec_init(s);
}

/* json_object_set_new() that remembers a failure (NULL value included). */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
	if (v == NULL || json_object_set_new(o, key, v) < 0)
		*ok = false;
}

json_t *al_run_spec_to_json(const struct al_run_spec *s)
{
	const struct al_syscall_profile *sc = s->profile.sc ? s->profile.sc : &s->sc;
	json_t *o = json_object(), *a;
	bool ok = true;

	if (o == NULL)
		return NULL;
	if (s->run_id)
		put(o, "run_id", json_string(s->run_id), &ok);
	if (s->identity)
		put(o, "identity", json_string(s->identity), &ok);
	if (s->profile.name)
		put(o, "profile_name", json_string(s->profile.name), &ok);
	put(o, "profile", al_profile_to_json(&s->profile), &ok);
	put(o, "syscall_profile", al_syscall_profile_to_json(sc), &ok);
	put(o, "limits", al_limits_to_json(&s->limits), &ok);
	if (s->argv && (a = json_array()) != NULL) {
		for (char **p = s->argv; *p; p++)
			if (json_array_append_new(a, json_string(*p)) < 0)
				ok = false;
		put(o, "argv", a, &ok);
	} else if (s->argv) {
		ok = false;
	}
	if (s->code)
		put(o, "code", json_stringn(s->code, s->code_len), &ok);
	if (s->stdin_data)
		put(o, "stdin", json_stringn(s->stdin_data, s->stdin_len), &ok);
	if (s->env && (a = json_object()) != NULL) {
		for (char **p = s->env; *p; p++) {
			const char *eq = strchr(*p, '=');
			cleanup_free char *k = eq ? strndup(*p, (size_t)(eq - *p)) : NULL;
			if (k == NULL)
				ok = false;
			else
				put(a, k, json_string(eq + 1), &ok);
		}
		put(o, "env", a, &ok);
	} else if (s->env) {
		ok = false;
	}
	if (s->cwd)
		put(o, "cwd", json_string(s->cwd), &ok);
	put(o, "uid", json_integer(s->uid), &ok);
	put(o, "gid", json_integer(s->gid), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int parse_argv(json_t *v, struct al_run_spec *s, al_err *err)
{
	json_t *item;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return al_jf_err(err, "spec.argv", "must be a non-empty array of strings");
	if (json_array_size(v) > SPEC_MAX_ARGS)
		return al_jf_err(err, "spec.argv", "must have at most %d entries", SPEC_MAX_ARGS);
	s->argv = calloc(json_array_size(v) + 1, sizeof(char *));
	if (s->argv == NULL)
		return al_err_set(err, ENOMEM, "spec.argv");
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item) || al_jf_has_nul(item)) {
			char ip[AL_JF_PATH_MAX];
			al_jf_index(ip, sizeof(ip), "spec.argv", i);
			return al_jf_err(err, ip, "must be a string without NUL bytes");
		}
		s->argv[i] = strdup(json_string_value(item));
		if (s->argv[i] == NULL)
			return al_err_set(err, ENOMEM, "spec.argv");
	}
	const char *why = al_path_check(s->argv[0]);
	if (why != NULL)
		return al_jf_err(err, NULL, "spec.argv[0]: %s (got \"%.200s\")", why, s->argv[0]);
	return 0;
}

static int parse_env(json_t *v, struct al_run_spec *s, al_err *err)
{
	const char *k;
	json_t *val;
	size_t i = 0;

	if (!json_is_object(v))
		return al_jf_err(err, "spec.env", "must be an object of strings");
	if (json_object_size(v) > SPEC_MAX_ENV)
		return al_jf_err(err, "spec.env", "must have at most %d variables", SPEC_MAX_ENV);
	s->env = calloc(json_object_size(v) + 1, sizeof(char *));
	if (s->env == NULL)
		return al_err_set(err, ENOMEM, "spec.env");
	json_object_foreach(v, k, val)
	{
		char fp[AL_JF_PATH_MAX], name[80];
		al_jf_path(fp, sizeof(fp), "spec.env", k);
		al_jf_path(name, sizeof(name), NULL, k);
		if (!env_name_valid(k))
			return al_jf_err(
			    err, "spec.env",
			    "invalid variable name \"%s\" (use [A-Za-z_][A-Za-z0-9_]*)", name);
		if (env_name_denied(k))
			return al_jf_err(err, fp,
					 "not allowed (it makes programs load or run other "
					 "code)");
		if (!json_is_string(val) || al_jf_has_nul(val))
			return al_jf_err(err, fp, "must be a string without NUL bytes");
		if (asprintf(&s->env[i], "%s=%s", k, json_string_value(val)) < 0) {
			s->env[i] = NULL;
			return al_err_set(err, ENOMEM, "spec.env");
		}
		i++;
	}
	return 0;
}

static int parse_spec(json_t *j, struct al_run_spec *s, al_err *err)
{
	static const char *const keys[] = {
	    "run_id", "identity", "profile_name", "profile", "syscall_profile",
	    "limits", "argv",	  "code",	  "stdin",   "env",
	    "cwd",    "uid",	  "gid",	  NULL};
	cleanup_free char *pname = NULL;
	struct al_limits req;
	json_t *v;
	int64_t id;

	if (!json_is_object(j))
		return al_jf_err(err, NULL, "spec: must be a JSON object");
	if (al_jf_known_keys(j, "spec", keys, err) < 0)
		return -1;
	if (al_jf_string(j, "spec", "run_id", AL_JF_NULL_OK, &s->run_id, NULL, err) < 0)
		return -1;
	if (s->run_id && !al_run_id_valid(s->run_id))
		return al_jf_err(err, "spec.run_id",
				 "must be \"r-\" and lowercase hex, at most 63 "
				 "characters");
	if (al_jf_string(j, "spec", "identity", AL_JF_NULL_OK, &s->identity, NULL, err) < 0)
		return -1;
	if (s->identity && !al_identity_valid(s->identity))
		return al_jf_err(err, "spec.identity",
				 "must be 1 to 64 of [A-Za-z0-9._-], not \".\" "
				 "or \"..\"");
	if (al_jf_string(j, "spec", "profile_name", AL_JF_NULL_OK, &pname, NULL, err) < 0)
		return -1;
	if (pname && !al_identity_valid(pname))
		return al_jf_err(err, "spec.profile_name", "is not a valid profile name");

	if ((v = json_object_get(j, "profile")) == NULL)
		return al_jf_err(err, "spec.profile", "is required");
	if (al_profile_from_json(v, "spec.profile", &s->profile, err) < 0)
		return -1;
	s->profile.name = TAKE_PTR(pname);
	if ((v = json_object_get(j, "syscall_profile")) == NULL)
		return al_jf_err(err, "spec.syscall_profile", "is required");
	if (al_syscall_profile_from_json(v, "spec.syscall_profile", &s->sc, err) < 0)
		return -1;
	if ((s->sc.name = strdup(s->profile.syscall_profile)) == NULL)
		return al_err_set(err, ENOMEM, "spec");
	s->profile.sc = &s->sc;

	al_limits_init(&req);
	if ((v = json_object_get(j, "limits")) != NULL &&
	    al_limits_from_json(v, "spec.limits", &req, err) < 0)
		return -1;
	al_limits_effective(&s->profile.limits, &req, &s->limits);

	if (al_jf_string(j, "spec", "code", AL_JF_NULL_OK, &s->code, &s->code_len, err) < 0)
		return -1;
	if (s->code && s->code_len == 0)
		return al_jf_err(err, "spec.code", "must not be empty");
	if (s->code && s->profile.language == NULL)
		return al_jf_err(err, "spec.code", "needs a profile with a \"language\"");
	if ((v = json_object_get(j, "argv")) != NULL) {
		if (parse_argv(v, s, err) < 0)
			return -1;
	} else if (s->code == NULL) {
		return al_jf_err(err, "spec.argv", "is required (unless \"code\" is given)");
	}
	if (al_jf_string(j, "spec", "stdin", AL_JF_NULL_OK | AL_JF_NUL_OK, &s->stdin_data,
			 &s->stdin_len, err) < 0)
		return -1;
	if ((v = json_object_get(j, "env")) != NULL && parse_env(v, s, err) < 0)
		return -1;
	if (al_jf_string(j, "spec", "cwd", AL_JF_NULL_OK, &s->cwd, NULL, err) < 0)
		return -1;
	if (s->cwd && al_path_check(s->cwd) != NULL)
		return al_jf_err(err, NULL, "spec.cwd: %s (got \"%.200s\")", al_path_check(s->cwd),
				 s->cwd);
	id = DEFAULT_ID;
	if (al_jf_int(j, "spec", "uid", false, 1, UINT32_MAX - 1, &id, err) < 0)
		return -1;
	s->uid = (uid_t)id;
	id = DEFAULT_ID;
	if (al_jf_int(j, "spec", "gid", false, 1, UINT32_MAX - 1, &id, err) < 0)
		return -1;
	s->gid = (gid_t)id;
	return 0;
}

int al_run_spec_from_json(json_t *j, struct al_run_spec *s, al_err *err)
{
	al_run_spec_init(s);
	if (parse_spec(j, s, err) < 0) {
		al_run_spec_free(s);
		return -1;
	}
	return 0;
}

/* ---- result -------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (n bytes left), 0 if none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c == 0xe0)
		len = 3, lo = 0xa0;
	else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
		len = 3;
	else if (c == 0xed)
		len = 3, hi = 0x9f; /* no UTF-16 surrogates */
	else if (c == 0xf0)
		len = 4, lo = 0x90;
	else if (c >= 0xf1 && c <= 0xf3)
		len = 4;
	else if (c == 0xf4)
		len = 4, hi = 0x8f; /* nothing above U+10FFFF */
	else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A JSON string of arbitrary bytes: each byte that is not part of valid
 * UTF-8 becomes U+FFFD.  NUL bytes are kept (jansson writes \u0000). */
static json_t *bytes_to_json(const char *buf, size_t n)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, o = 0;

	if (buf == NULL)
		return json_string("");
	while (i < n) {
		size_t l = utf8_len(p + i, n - i);
		if (l == 0)
			break;
		i += l;
	}
	if (i == n)
		return json_stringn(buf, n);
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	cleanup_free char *out = malloc(n * 3 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);
		if (l == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, p + i, l);
			o += l;
			i += l;
		}
	}
	return json_stringn(out, o);
}

void al_run_result_free(struct al_run_result *r)
{
	if (r == NULL)
		return;
	free(r->out);
	free(r->errb);
	r->out = r->errb = NULL;
	r->out_len = r->err_len = 0;
}

json_t *al_run_result_to_json(const struct al_run_result *r)
{
	int exit_code = r->signal > 0 ? 128 + r->signal : r->exit_code;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "run_id", json_string(r->run_id));
	json_object_set_new(o, "exit_code", json_integer(exit_code));
	json_object_set_new(o, "signal", r->signal > 0 ? json_integer(r->signal) : json_null());
	json_object_set_new(o, "stdout", bytes_to_json(r->out, r->out_len));
	json_object_set_new(o, "stderr", bytes_to_json(r->errb, r->err_len));
	json_object_set_new(o, "wall_time_ms", json_integer(r->wall_time_ms));
	json_object_set_new(o, "cpu_time_ms", json_integer(r->cpu_time_ms));
	json_object_set_new(o, "peak_mem_mb", json_integer(r->peak_mem_mb));
	json_object_set_new(o, "timed_out", json_boolean(r->timed_out));
	json_object_set_new(o, "oom_killed", json_boolean(r->oom_killed));
	json_object_set_new(o, "truncated_stdout", json_boolean(r->truncated_stdout));
	json_object_set_new(o, "truncated_stderr", json_boolean(r->truncated_stderr));
	if (r->code_sha256[0] != '\0')
		json_object_set_new(o, "code_sha256", json_string(r->code_sha256));
	json_object_set_new(o, "layers", json_string(r->layers));
	json_object_set_new(o, "violations", json_integer(r->violations));
	/* A field that could not be built (out of memory) must not vanish. */
	if (json_object_size(o) != 14 + (r->code_sha256[0] != '\0')) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int fixed_string(json_t *j, const char *key, bool required, char *out, size_t outsz,
			al_err *err)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL) {
		if (required)
			return al_jf_err(err, NULL, "result.%s: is required", key);
		return 0;
	}
	if (!json_is_string(v) || al_jf_has_nul(v) || json_string_length(v) >= outsz)
		return al_jf_err(err, NULL,
				 "result.%s: must be a string of at most %zu bytes without NUL",
				 key, outsz - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

static int parse_result(json_t *j, struct al_run_result *r, al_err *err)
{
	static const char *const keys[] = {
	    "run_id",	   "exit_code",	   "signal",	       "stdout",
	    "stderr",	   "wall_time_ms", "cpu_time_ms",      "peak_mem_mb",
	    "timed_out",   "oom_killed",   "truncated_stdout", "truncated_stderr",
	    "code_sha256", "layers",	   "violations",       NULL};
	json_t *v;
	int64_t x = 0;

	if (!json_is_object(j))
		return al_jf_err(err, NULL, "result: must be a JSON object");
	if (al_jf_known_keys(j, "result", keys, err) < 0 ||
	    fixed_string(j, "run_id", true, r->run_id, sizeof(r->run_id), err) < 0)
		return -1;
	if (r->run_id[0] != '\0' && !al_run_id_valid(r->run_id))
		return al_jf_err(err, "result.run_id", "must be \"r-\" and lowercase hex");
	v = json_object_get(j, "signal");
	if (v == NULL)
		return al_jf_err(err, "result.signal", "is required");
	if (!json_is_null(v)) {
		if (al_jf_int(j, "result", "signal", true, 1, 64, &x, err) < 0)
			return -1;
		r->signal = (int)x;
	}
	if (al_jf_int(j, "result", "exit_code", true, 0, 255, &x, err) < 0)
		return -1;
	if (r->signal > 0 && x != 128 + r->signal)
		return al_jf_err(err, "result.exit_code",
				 "must be 128 + signal (%d) when \"signal\" is "
				 "set",
				 128 + r->signal);
	r->exit_code = (int)x;
	if (al_jf_int(j, "result", "wall_time_ms", true, 0, INT64_MAX, &r->wall_time_ms, err) < 0 ||
	    al_jf_int(j, "result", "cpu_time_ms", true, 0, INT64_MAX, &r->cpu_time_ms, err) < 0 ||
	    al_jf_int(j, "result", "peak_mem_mb", true, 0, INT64_MAX, &r->peak_mem_mb, err) < 0 ||
	    al_jf_bool(j, "result", "timed_out", true, &r->timed_out, err) < 0 ||
	    al_jf_bool(j, "result", "oom_killed", true, &r->oom_killed, err) < 0 ||
	    al_jf_bool(j, "result", "truncated_stdout", true, &r->truncated_stdout, err) < 0 ||
	    al_jf_bool(j, "result", "truncated_stderr", true, &r->truncated_stderr, err) < 0)
		return -1;
	if (al_jf_string(j, "result", "stdout", AL_JF_REQUIRED | AL_JF_NUL_OK, &r->out, &r->out_len,
			 err) < 0 ||
	    al_jf_string(j, "result", "stderr", AL_JF_REQUIRED | AL_JF_NUL_OK, &r->errb,
			 &r->err_len, err) < 0)
		return -1;
	if (fixed_string(j, "code_sha256", false, r->code_sha256, sizeof(r->code_sha256), err) <
		0 ||
	    fixed_string(j, "layers", false, r->layers, sizeof(r->layers), err) < 0)
		return -1;
	if (r->code_sha256[0] != '\0' && strlen(r->code_sha256) != 64)
		return al_jf_err(err, "result.code_sha256", "must be 64 hexadecimal digits");
	for (const char *c = r->code_sha256; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return al_jf_err(err, "result.code_sha256",
					 "must be 64 hexadecimal digits");
	x = 0;
	if (al_jf_int(j, "result", "violations", false, 0, INT_MAX, &x, err) < 0)
		return -1;
	r->violations = (int)x;
	return 0;
}

int al_run_result_from_json(json_t *j, struct al_run_result *r, al_err *err)
{
	memset(r, 0, sizeof(*r));
	if (parse_result(j, r, err) < 0) {
		al_run_result_free(r);
		memset(r, 0, sizeof(*r));
		return -1;
	}
	return 0;
}
