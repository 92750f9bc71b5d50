/* Validating fields of untrusted JSON objects (see jsonfield.h). */
#include <jansson.h>

#include "jsonfield.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Control characters in user-supplied keys must not reach a terminal. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A truncated path ends in "..." (paths are for messages only). */
static void mark_truncated(char *out, size_t n, int r)
{
	if ((r < 0 || (size_t)r >= n) && n > 4)
		memcpy(out + n - 4, "...", 4);
}

void al_jf_path(char *out, size_t n, const char *base, const char *key)
{
	int r;

	if (base == NULL || *base == '\0')
		r = snprintf(out, n, "%s", key);
	else
		r = snprintf(out, n, "%s.%s", base, key);
	mark_truncated(out, n, r);
	sanitize(out);
}

void al_jf_index(char *out, size_t n, const char *base, size_t i)
{
	mark_truncated(out, n, snprintf(out, n, "%s[%zu]", base, i));
	sanitize(out);
}

int al_jf_err(al_err *err, const char *path, const char *fmt, ...)
{
	char reason[AL_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* errnum 0 first: no ": Invalid argument" tail on a validation message */
	if (path == NULL || *path == '\0')
		al_err_set(err, 0, "%s", reason);
	else
		al_err_set(err, 0, "%s: %s", path, reason);
	if (err)
		err->errnum = EINVAL;
	return -1;
}

int al_jf_object(json_t *v, const char *path, al_err *err)
{
	if (!json_is_object(v))
		return al_jf_err(err, path, "must be an object");
	return 0;
}

/* "a, b, c" or "\"a\", \"b\" or \"c\"". */
static void join_list(char *out, size_t n, const char *const *items, bool quoted)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; items[i] && used < n; i++) {
		const char *sep = i == 0 ? "" : (quoted && items[i + 1] == NULL) ? " or " : ", ";
		int r = snprintf(out + used, n - used, quoted ? "%s\"%s\"" : "%s%s", sep, items[i]);
		if (r < 0)
			break;
		used += (size_t)r;
	}
}

int al_jf_known_keys(json_t *obj, const char *path, const char *const *allowed, al_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		size_t i;
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] != NULL)
			continue;
		char list[512], fp[AL_JF_PATH_MAX];
		join_list(list, sizeof(list), allowed, false);
		al_jf_path(fp, sizeof(fp), path, key);
		return al_jf_err(err, fp, "unknown field (expected one of: %s)", list);
	}
	return 0;
}

bool al_jf_has_nul(json_t *s)
{
	return json_string_length(s) != strlen(json_string_value(s));
}

int al_jf_string(json_t *obj, const char *path, const char *key, int flags, char **out, size_t *len,
		 al_err *err)
{
	char fp[AL_JF_PATH_MAX];
	json_t *v = json_object_get(obj, key);

	al_jf_path(fp, sizeof(fp), path, key);
	if (v == NULL || ((flags & AL_JF_NULL_OK) && json_is_null(v))) {
		if (flags & AL_JF_REQUIRED)
			return al_jf_err(err, fp, "is required");
		return 0;
	}
	if (!json_is_string(v))
		return al_jf_err(err, fp, "must be a string");
	if (!(flags & AL_JF_NUL_OK) && al_jf_has_nul(v))
		return al_jf_err(err, fp, "must not contain NUL bytes");
	size_t n = json_string_length(v);
	char *s = malloc(n + 1);
	if (s == NULL)
		return al_err_set(err, ENOMEM, "%s", fp);
	memcpy(s, json_string_value(v), n);
	s[n] = '\0';
	*out = s;
	if (len)
		*len = n;
	return 1;
}

int al_jf_int(json_t *obj, const char *path, const char *key, bool required, int64_t min,
	      int64_t max, int64_t *out, al_err *err)
{
	char fp[AL_JF_PATH_MAX];
	json_t *v = json_object_get(obj, key);

	al_jf_path(fp, sizeof(fp), path, key);
	if (v == NULL) {
		if (required)
			return al_jf_err(err, fp, "is required");
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return al_jf_err(err, fp, "must be an integer between %lld and %lld",
				 (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 1;
}

int al_jf_bool(json_t *obj, const char *path, const char *key, bool required, bool *out,
	       al_err *err)
{
	char fp[AL_JF_PATH_MAX];
	json_t *v = json_object_get(obj, key);

	al_jf_path(fp, sizeof(fp), path, key);
	if (v == NULL) {
		if (required)
			return al_jf_err(err, fp, "is required");
		return 0;
	}
	if (!json_is_boolean(v))
		return al_jf_err(err, fp, "must be true or false");
	*out = json_is_true(v);
	return 1;
}

int al_jf_enum(json_t *obj, const char *path, const char *key, bool required,
	       const char *const *choices, int *idx, al_err *err)
{
	char fp[AL_JF_PATH_MAX], list[256];
	json_t *v = json_object_get(obj, key);

	al_jf_path(fp, sizeof(fp), path, key);
	if (v == NULL) {
		if (required)
			return al_jf_err(err, fp, "is required");
		return 0;
	}
	if (json_is_string(v) && !al_jf_has_nul(v))
		for (int i = 0; choices[i]; i++)
			if (strcmp(json_string_value(v), choices[i]) == 0) {
				*idx = i;
				return 1;
			}
	join_list(list, sizeof(list), choices, true);
	return al_jf_err(err, fp, "must be %s", list);
}
