/* Bearer token files, the agentlaunch hand-over fd, and authentication. */
#include <jansson.h>

#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../policy/policy.h"
#include "../shared/cleanup.h"
#include "../shared/util.h"

#define TOKENS_FILE_MAX (4u << 20)
#define TOKENS_MAX 100000

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool parse_hash(const char *hex, size_t len, unsigned char out[32])
{
	if (len != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval((unsigned char)hex[2 * i]),
		    lo = hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static int add_token(struct gw_auth *a, const char *identity, const unsigned char hash[32],
		     const char *where, al_err *err)
{
	if (!al_identity_valid(identity))
		return al_err_set(err, EINVAL,
				  "%s: identity \"%.64s\" is invalid (use 1-64 of [A-Za-z0-9._-])",
				  where, identity);
	if (a->n >= TOKENS_MAX)
		return al_err_set(err, E2BIG, "%s: more than %d tokens", where, TOKENS_MAX);
	struct gw_token *nv = realloc(a->v, (a->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return al_err_set(err, ENOMEM, "%s", where);
	a->v = nv;
	snprintf(a->v[a->n].identity, sizeof(a->v[a->n].identity), "%s", identity);
	memcpy(a->v[a->n].hash, hash, 32);
	a->v[a->n].launcher = false;
	a->n++;
	return 0;
}

int gw_auth_load_file(struct gw_auth *a, const char *path, al_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	json_error_t je;

	a->enabled = true;
	if (al_read_file(path, TOKENS_FILE_MAX, &buf, &len, err) < 0)
		return al_err_wrap(err, "tokens file");
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	cleanup_json json_t *hold = root;
	if (root == NULL)
		return al_err_set(err, EINVAL, "tokens file %s: line %d: %s", path, je.line,
				  je.text);
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		if (strcmp(k, "tokens") != 0)
			return al_err_set(err, EINVAL, "tokens file %s: unknown field \"%.64s\"",
					  path, k);
	}
	json_t *arr = json_object_get(root, "tokens");
	if (!json_is_array(arr))
		return al_err_set(
		    err, EINVAL,
		    "tokens file %s: want {\"tokens\": [{\"identity\": ..., \"sha256\": "
		    "...}]}",
		    path);
	size_t i;
	json_array_foreach(arr, i, v)
	{
		char where[600];
		snprintf(where, sizeof(where), "tokens file %s: tokens[%zu]", path, i);
		if (!json_is_object(v))
			return al_err_set(err, EINVAL, "%s: must be an object", where);
		json_t *field;
		json_object_foreach(v, k, field)
		{
			if (strcmp(k, "identity") != 0 && strcmp(k, "sha256") != 0)
				return al_err_set(err, EINVAL, "%s: unknown field \"%.64s\"", where,
						  k);
		}
		json_t *id = json_object_get(v, "identity"), *h = json_object_get(v, "sha256");
		unsigned char hash[32];
		if (!json_is_string(id))
			return al_err_set(err, EINVAL, "%s.identity: must be a string", where);
		if (!json_is_string(h) ||
		    !parse_hash(json_string_value(h), json_string_length(h), hash))
			return al_err_set(err, EINVAL,
					  "%s.sha256: must be 64 hex digits (sha256 of the token; "
					  "only hashes are stored)",
					  where);
		if (add_token(a, json_string_value(id), hash, where, err) < 0)
			return -1;
	}
	return 0;
}

int gw_auth_load_fd(struct gw_auth *a, int fd, al_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int lineno = 0;

	a->enabled = true;
	int r = al_read_fd_all(fd, TOKENS_FILE_MAX, &buf, &len, err);
	close(fd);
	if (r < 0)
		return al_err_wrap(err, "--token-fd %d", fd);
	if (memchr(buf, '\0', len) != NULL)
		return al_err_set(err, EINVAL, "--token-fd %d: NUL byte in input", fd);
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char where[64], *sp;
		lineno++;
		snprintf(where, sizeof(where), "--token-fd %d: line %d", fd, lineno);
		size_t n = strlen(line);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		sp = strchr(line, ' ');
		unsigned char hash[32];
		if (sp == NULL || !parse_hash(sp + 1, strlen(sp + 1), hash))
			return al_err_set(err, EINVAL, "%s: want \"IDENTITY SHA256HEX\"", where);
		*sp = '\0';
		if (add_token(a, line, hash, where, err) < 0)
			return -1;
		a->v[a->n - 1].launcher = true;
	}
	return 0;
}

bool gw_auth_launcher_identity(const struct gw_auth *a, const char *identity, const char **only)
{
	bool found = false;
	size_t n = 0;

	*only = NULL;
	for (size_t i = 0; i < a->n; i++) {
		if (!a->v[i].launcher)
			continue;
		if (n == 0 || strcmp(*only, a->v[i].identity) != 0)
			n++;
		*only = a->v[i].identity;
		if (identity && strcmp(identity, a->v[i].identity) == 0)
			found = true;
	}
	if (n != 1)
		*only = NULL;
	return found;
}

void gw_auth_free(struct gw_auth *a)
{
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

const char *gw_bearer_token(const char *hdr, size_t *len)
{
	if (hdr == NULL || strncasecmp(hdr, "Bearer", 6) != 0 || (hdr[6] != ' ' && hdr[6] != '\t'))
		return NULL;
	const char *t = hdr + 6;
	while (*t == ' ' || *t == '\t')
		t++;
	size_t n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (n == 0 || n > GW_TOKEN_MAX)
		return NULL;
	/* RFC 6750 b64token characters */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (!(isalnum(c) || strchr("-._~+/=", c)))
			return NULL;
	}
	*len = n;
	return t;
}

int gw_authenticate(const struct gw_auth *a, const char *token, size_t token_len,
		    const char *body_identity, struct gw_who *who, struct gw_apierr *e)
{
	memset(who, 0, sizeof(*who));
	if (!a->enabled) {
		const char *id = body_identity ? body_identity : "anonymous";
		if (!al_identity_valid(id))
			return gw_apierr_set(e, 400, "bad_field",
					     "field 'identity' must be 1-64 characters of "
					     "[A-Za-z0-9._-] (not \".\" or \"..\")");
		snprintf(who->identity, sizeof(who->identity), "%s", id);
		return 0;
	}
	if (token == NULL || token_len == 0 || token_len > GW_TOKEN_MAX)
		return gw_apierr_set(e, 401, "unauthorized",
				     "missing bearer token: send 'Authorization: Bearer TOKEN'");
	unsigned char h[32];
	/* In-house SHA-256 (shared/sha256.c): without TLS the gateway never
	 * touches OpenSSL, which keeps its pages out of the idle RSS. */
	al_sha256(token, token_len, h);
	/* Compare with every entry, whatever matched, in constant time. */
	size_t found = a->n;
	for (size_t i = 0; i < a->n; i++) {
		bool eq = al_ct_equal(h, a->v[i].hash, 32);
		if (eq && found == a->n)
			found = i;
	}
	if (found == a->n)
		return gw_apierr_set(e, 401, "unauthorized",
				     "unknown bearer token: use a token listed in the gateway's "
				     "--tokens file (or the AGENTGW_TOKEN agentlaunch gave you)");
	snprintf(who->identity, sizeof(who->identity), "%s", a->v[found].identity);
	who->verified = true;
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 4; i++) {
		who->token_id[2 * i] = hx[h[i] >> 4];
		who->token_id[2 * i + 1] = hx[h[i] & 15];
	}
	who->token_id[8] = '\0';
	if (body_identity != NULL && strcmp(body_identity, who->identity) != 0)
		return gw_apierr_set(e, 403, "identity_mismatch",
				     "the body's identity \"%.64s\" is not the token's identity; "
				     "omit 'identity' or send \"%s\"",
				     body_identity, who->identity);
	return 0;
}
