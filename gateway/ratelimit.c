/* Sliding-window rate limiting (see ratelimit.h). */
#include "ratelimit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024

struct entry {
	struct entry *next;
	char id[65];
	int64_t *ts; /* owned ring of request times */
	size_t cap, head, count;
	int64_t last_ms;
};

struct gw_ratelimit {
	struct entry *b[NBUCKETS];
	size_t n, max;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % NBUCKETS;
}

struct gw_ratelimit *gw_rl_new(size_t max_identities)
{
	struct gw_ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl)
		rl->max = max_identities ? max_identities : 1;
	return rl;
}

static void entry_free(struct entry *e)
{
	free(e->ts);
	free(e);
}

void gw_rl_free(struct gw_ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (size_t i = 0; i < NBUCKETS; i++)
		while (rl->b[i]) {
			struct entry *e = rl->b[i];
			rl->b[i] = e->next;
			entry_free(e);
		}
	free(rl);
}

static void expire(struct entry *e, int64_t window_ms, int64_t now)
{
	while (e->count > 0 && e->ts[e->head] <= now - window_ms) {
		e->head = (e->head + 1) % e->cap;
		e->count--;
	}
}

/* Make room for one more identity: forget idle ones, else the least
 * recently seen. */
static void evict(struct gw_ratelimit *rl, int64_t window_ms, int64_t now)
{
	struct entry **oldest = NULL;

	for (size_t i = 0; i < NBUCKETS; i++)
		for (struct entry **pp = &rl->b[i]; *pp;) {
			expire(*pp, window_ms, now);
			if ((*pp)->count == 0) {
				struct entry *e = *pp;
				*pp = e->next;
				entry_free(e);
				rl->n--;
				continue;
			}
			if (oldest == NULL || (*pp)->last_ms < (*oldest)->last_ms)
				oldest = pp;
			pp = &(*pp)->next;
		}
	if (rl->n >= rl->max && oldest) {
		struct entry *e = *oldest;
		*oldest = e->next;
		entry_free(e);
		rl->n--;
	}
}

static bool push(struct entry *e, int64_t max, int64_t now)
{
	if (e->count == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;
		if ((int64_t)cap > max)
			cap = (size_t)max;
		int64_t *nts = malloc(cap * sizeof(*nts));
		if (nts == NULL)
			return false;
		for (size_t i = 0; i < e->count; i++)
			nts[i] = e->ts[(e->head + i) % e->cap];
		free(e->ts);
		e->ts = nts;
		e->cap = cap;
		e->head = 0;
	}
	e->ts[(e->head + e->count) % e->cap] = now;
	e->count++;
	return true;
}

int64_t gw_rl_hit(struct gw_ratelimit *rl, const char *id, int64_t max, int64_t window_ms,
		  int64_t now)
{
	if (max <= 0 || window_ms <= 0)
		return 0;
	uint32_t h = hash(id);
	struct entry *e = rl->b[h];
	while (e && strcmp(e->id, id) != 0)
		e = e->next;
	if (e == NULL) {
		if (rl->n >= rl->max)
			evict(rl, window_ms, now);
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return 1; /* fail closed */
		strncpy(e->id, id, sizeof(e->id) - 1);
		e->next = rl->b[h];
		rl->b[h] = e;
		rl->n++;
	}
	e->last_ms = now;
	expire(e, window_ms, now);
	/* a lowered limit (policy reload) leaves more entries than max */
	if ((int64_t)e->count >= max) {
		int64_t oldest = e->ts[(e->head + e->count - (size_t)max) % e->cap];
		int64_t wait_ms = oldest + window_ms - now;
		int64_t s = (wait_ms + 999) / 1000;
		return s < 1 ? 1 : s;
	}
	if (e->count == e->cap && (int64_t)e->cap >= max) {
		/* cannot happen: count < max <= cap */
		return 1;
	}
	if (!push(e, max, now))
		return 1;
	return 0;
}

size_t gw_rl_tracked(const struct gw_ratelimit *rl)
{
	return rl->n;
}
