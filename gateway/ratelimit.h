/* Per-identity sliding-window rate limit (policy "rate_limit"): at most
 * max requests in any window of window_ms.  Exact (a log of timestamps per
 * identity, growing only as far as used); the number of identities tracked
 * is bounded, idle ones are forgotten first.  Pure code. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct gw_ratelimit;

struct gw_ratelimit *gw_rl_new(size_t max_identities);
void gw_rl_free(struct gw_ratelimit *rl);
/* Count one request of identity at now_ms.  0 when allowed; when the
 * window is full, nothing is counted and the result is the number of whole
 * seconds (>= 1) until a slot frees (the Retry-After value).  max <= 0:
 * unlimited. */
int64_t gw_rl_hit(struct gw_ratelimit *rl, const char *identity, int64_t max, int64_t window_ms,
		  int64_t now_ms);
size_t gw_rl_tracked(const struct gw_ratelimit *rl);

#endif
