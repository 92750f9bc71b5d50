/* Validating fields of untrusted JSON objects (policy files, run specs,
 * request bodies).
 *
 * Every error names the field as a JSON path ("profiles.p.limits.mem_max_mb",
 * "rules[2].id") followed by the reason, sets errnum EINVAL and carries no
 * strerror tail.  Strings with NUL bytes (possible with JSON_ALLOW_NUL or
 * json_stringn) are rejected unless a caller asks for them.  Include
 * <jansson.h> first. */
#ifndef AL_JSONFIELD_H
#define AL_JSONFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct json_t json_t;

#define AL_JF_PATH_MAX 384

/* "base.key" (just "key" when base is NULL or ""); "base[i]".  Control
 * characters become '?', a truncated path ends in "...". */
void al_jf_path(char *out, size_t n, const char *base, const char *key);
void al_jf_index(char *out, size_t n, const char *base, size_t i);

/* "path: reason" (just the reason when path is NULL or ""), errnum EINVAL.
 * Returns -1. */
int al_jf_err(al_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "must be an object" unless v is one. */
int al_jf_object(json_t *v, const char *path, al_err *err);
/* Rejects the first key of obj not in the NULL-terminated list:
 * "path.key: unknown field (expected one of: a, b, c)". */
int al_jf_known_keys(json_t *obj, const char *path, const char *const *allowed, al_err *err);
/* json_string_length() differs from strlen(): the string holds a NUL. */
bool al_jf_has_nul(json_t *s);

enum {
	AL_JF_REQUIRED = 1, /* absent is "is required" */
	AL_JF_NULL_OK = 2,  /* JSON null counts as absent */
	AL_JF_NUL_OK = 4,   /* NUL bytes allowed (binary data such as stdin) */
};

/* The getters return 0 when the field is absent (out untouched), 1 when it
 * was read, -1 on error. */

/* *out: malloc'd NUL-terminated copy, *len (may be NULL) its length. */
int al_jf_string(json_t *obj, const char *path, const char *key, int flags, char **out, size_t *len,
		 al_err *err);
/* An integer in [min, max]; anything else is
 * "must be an integer between MIN and MAX". */
int al_jf_int(json_t *obj, const char *path, const char *key, bool required, int64_t min,
	      int64_t max, int64_t *out, al_err *err);
int al_jf_bool(json_t *obj, const char *path, const char *key, bool required, bool *out,
	       al_err *err);
/* One of the NULL-terminated choices; *idx is its index.  Anything else is
 * "must be \"a\", \"b\" or \"c\"". */
int al_jf_enum(json_t *obj, const char *path, const char *key, bool required,
	       const char *const *choices, int *idx, al_err *err);

#endif
