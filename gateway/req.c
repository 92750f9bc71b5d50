/* Request body validation (see req.h). */
#include <jansson.h>

#include "req.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ARGV_MAX 4096
#define ENV_MAX 1024
#define NAME_MAX_LEN 128

json_t *gw_req_load(const char *buf, size_t len, struct gw_apierr *e)
{
	json_error_t je;
	json_t *j;

	if (len == 0) {
		gw_apierr_set(e, 400, "bad_json", "empty body: send a JSON object");
		return NULL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		gw_apierr_set(e, 400, "bad_json", "malformed JSON at line %d, column %d: %s",
			      je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		gw_apierr_set(e, 400, "bad_json", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

static bool has_nul(json_t *s)
{
	return strlen(json_string_value(s)) != json_string_length(s);
}

/* A printable, bounded rendering of a client-supplied key for messages. */
static void show_key(const char *k, char *out, size_t n)
{
	size_t i = 0;

	for (; *k && i + 1 < n && i < 64; k++)
		out[i++] = isprint((unsigned char)*k) ? *k : '?';
	out[i] = '\0';
}

static int get_str(json_t *body, const char *key, bool nul_ok, const char **out, size_t *len,
		   struct gw_apierr *e)
{
	json_t *v = json_object_get(body, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return gw_apierr_set(e, 400, "bad_field", "field '%s' must be a string", key);
	if (!nul_ok && has_nul(v))
		return gw_apierr_set(e, 400, "bad_field", "field '%s' must not contain NUL bytes",
				     key);
	*out = json_string_value(v);
	if (len)
		*len = json_string_length(v);
	return 0;
}

static int get_limit(json_t *body, const char *key, int64_t *out, struct gw_apierr *e)
{
	json_t *v = json_object_get(body, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return gw_apierr_set(e, 400, "bad_field", "field '%s' must be an integer", key);
	json_int_t x = json_integer_value(v);
	if (x < 1 || x > INT32_MAX)
		return gw_apierr_set(e, 400, "bad_field",
				     "field '%s' must be a positive integer (values above the "
				     "profile's ceiling are lowered to it)",
				     key);
	*out = x;
	return 0;
}

static bool env_name_ok(const char *k)
{
	if (!(isalpha((unsigned char)*k) || *k == '_'))
		return false;
	for (k++; *k; k++)
		if (!(isalnum((unsigned char)*k) || *k == '_'))
			return false;
	return true;
}

static int check_env(json_t *env, struct gw_apierr *e)
{
	const char *k;
	json_t *v;
	char shown[80];

	if (!json_is_object(env))
		return gw_apierr_set(e, 400, "bad_field",
				     "field 'env' must be an object of strings");
	if (json_object_size(env) > ENV_MAX)
		return gw_apierr_set(e, 400, "bad_field", "field 'env' has more than %d variables",
				     ENV_MAX);
	json_object_foreach(env, k, v)
	{
		show_key(k, shown, sizeof(shown));
		if (!env_name_ok(k) || strlen(k) > 256)
			return gw_apierr_set(e, 400, "bad_field",
					     "field 'env': invalid variable name \"%s\" (use "
					     "[A-Za-z_][A-Za-z0-9_]*)",
					     shown);
		if (!json_is_string(v) || has_nul(v))
			return gw_apierr_set(e, 400, "bad_field",
					     "field 'env.%s' must be a string without NUL bytes",
					     shown);
	}
	return 0;
}

static int parse_argv(json_t *a, struct gw_request *r, struct gw_apierr *e)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return gw_apierr_set(e, 400, "bad_field",
				     "field 'argv' must be an array of strings");
	if (json_array_size(a) == 0 || json_array_size(a) > ARGV_MAX)
		return gw_apierr_set(e, 400, "bad_field", "field 'argv' must have 1 to %d elements",
				     ARGV_MAX);
	r->argv = calloc(json_array_size(a) + 1, sizeof(char *));
	if (r->argv == NULL)
		return gw_apierr_set(e, 503, "overloaded", "out of memory");
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || has_nul(v))
			return gw_apierr_set(e, 400, "bad_field",
					     "field 'argv[%zu]' must be a string without NUL bytes",
					     i);
		r->argv[i] = json_string_value(v);
	}
	r->argc = json_array_size(a);
	if (r->argv[0][0] == '\0')
		return gw_apierr_set(e, 400, "bad_field", "field 'argv[0]' must not be empty");
	return 0;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

int gw_req_parse(enum gw_route route, json_t *body, struct gw_request *r, struct gw_apierr *e)
{
	static const char *const common[] = {"identity",   "cwd",      "env",
					     "stdin",	   "profile",  "timeout_sec",
					     "mem_max_mb", "pids_max", NULL};
	static const char *const cmd_keys[] = {"command", "argv", NULL};
	static const char *const code_keys[] = {"code", "language", NULL};
	const char *k;
	json_t *v;
	char shown[80];

	memset(r, 0, sizeof(*r));
	al_limits_init(&r->limits);
	if (!json_is_object(body))
		return gw_apierr_set(e, 400, "bad_json", "the body must be a JSON object");
	if (route == GW_ROUTE_RUN || (route == GW_ROUTE_PLAN && json_object_get(body, "code")))
		r->kind = AL_KIND_CODE;
	else
		r->kind = AL_KIND_COMMAND;
	const char *const *own = r->kind == AL_KIND_CODE ? code_keys : cmd_keys;

	json_object_foreach(body, k, v)
	{
		bool known = false;
		for (size_t i = 0; common[i] && !known; i++)
			known = strcmp(k, common[i]) == 0;
		for (size_t i = 0; own[i] && !known; i++)
			known = strcmp(k, own[i]) == 0;
		if (!known) {
			show_key(k, shown, sizeof(shown));
			return gw_apierr_set(e, 400, "bad_field", "unknown field '%s'%s", shown,
					     r->kind == AL_KIND_CODE && strcmp(k, "command") == 0
						 ? " (give either 'code' or 'command')"
						 : "");
		}
	}

	if (get_str(body, "identity", false, &r->identity, NULL, e) < 0 ||
	    get_str(body, "cwd", false, &r->cwd, NULL, e) < 0 ||
	    get_str(body, "profile", false, &r->profile, NULL, e) < 0 ||
	    get_str(body, "stdin", true, &r->stdin_data, &r->stdin_len, e) < 0)
		return -1;
	if (r->identity && r->identity[0] == '\0')
		return gw_apierr_set(e, 400, "bad_field", "field 'identity' must not be empty");
	if (r->cwd) {
		const char *why = al_path_check(r->cwd);
		if (why)
			return gw_apierr_set(e, 400, "bad_field", "field 'cwd' %s", why);
	}
	if (r->profile && (r->profile[0] == '\0' || strlen(r->profile) > NAME_MAX_LEN))
		return gw_apierr_set(e, 400, "bad_field",
				     "field 'profile' must be a profile name of the policy");
	if ((v = json_object_get(body, "env")) != NULL) {
		if (check_env(v, e) < 0)
			return -1;
		r->env = v;
	}
	if (get_limit(body, "timeout_sec", &r->limits.timeout_sec, e) < 0 ||
	    get_limit(body, "mem_max_mb", &r->limits.mem_max_mb, e) < 0 ||
	    get_limit(body, "pids_max", &r->limits.pids_max, e) < 0)
		return -1;

	if (r->kind == AL_KIND_CODE) {
		if (get_str(body, "code", true, &r->code, &r->code_len, e) < 0 ||
		    get_str(body, "language", false, &r->language, NULL, e) < 0)
			return -1;
		if (r->code == NULL)
			return gw_apierr_set(e, 400, "bad_field", "field 'code' is required");
		if (blank(r->code, r->code_len))
			return gw_apierr_set(e, 400, "empty_code", "field 'code' is empty");
		if (r->language == NULL)
			r->language = "python";
		if (strcmp(r->language, "python") != 0)
			return gw_apierr_set(e, 400, "bad_field",
					     "field 'language' must be \"python\" (the only "
					     "language supported)");
		return 0;
	}
	json_t *cmd = json_object_get(body, "command"), *argv = json_object_get(body, "argv");
	if (cmd && argv)
		return gw_apierr_set(e, 400, "bad_field",
				     "give either 'command' or 'argv', not both");
	if (!cmd && !argv)
		return gw_apierr_set(e, 400, "bad_field",
				     "field 'command' (a string) or 'argv' (an array) is required");
	if (argv)
		return parse_argv(argv, r, e);
	if (get_str(body, "command", false, &r->command, &r->command_len, e) < 0)
		return -1;
	if (blank(r->command, r->command_len))
		return gw_apierr_set(e, 400, "bad_field", "field 'command' is empty");
	return 0;
}

void gw_req_free(struct gw_request *r)
{
	free(r->argv);
	r->argv = NULL;
}
