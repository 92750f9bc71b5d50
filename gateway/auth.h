/* Bearer tokens (SPEC §3): only sha256 hashes are held; lookups compare
 * every entry in constant time. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "gw.h"

#define GW_TOKEN_MAX 4096 /* longest bearer token accepted */

struct gw_token {
	char identity[65];
	unsigned char hash[32];
	bool launcher; /* registered by agentlaunch over --token-fd */
};

struct gw_auth {
	bool enabled;	    /* --tokens or --token-fd given: every request needs a token */
	struct gw_token *v; /* owned */
	size_t n;
};

/* {"tokens": [{"identity": "agent-1", "sha256": "<64 hex>"}]}; unknown
 * fields are errors.  Appends to a and sets a->enabled. */
int gw_auth_load_file(struct gw_auth *a, const char *path, al_err *err);
/* Lines "IDENTITY SHA256HEX" from fd until EOF (agentlaunch's hand-over);
 * blank lines are skipped.  Appends, sets a->enabled, closes fd. */
int gw_auth_load_fd(struct gw_auth *a, int fd, al_err *err);
void gw_auth_free(struct gw_auth *a);
/* Was identity registered over --token-fd (the launcher's agent)?  When
 * only one was, *only is set to it (else NULL). */
bool gw_auth_launcher_identity(const struct gw_auth *a, const char *identity, const char **only);

/* The token of an "Authorization: Bearer TOKEN" header value, or NULL
 * (missing, another scheme, bad characters, too long).  Points into hdr. */
const char *gw_bearer_token(const char *hdr, size_t *len);

/* Who is asking: with tokens, the token's identity (401 unauthorized when
 * the token is missing or unknown, 403 identity_mismatch when body_identity
 * differs); without, body_identity or "anonymous" (400 bad_field when it is
 * not a valid identity).  token may be NULL; body_identity may be NULL. */
int gw_authenticate(const struct gw_auth *a, const char *token, size_t token_len,
		    const char *body_identity, struct gw_who *who, struct gw_apierr *e);

#endif
