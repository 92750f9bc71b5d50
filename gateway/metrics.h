/* Prometheus text exposition of the front end's counters (GET /metrics). */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

struct evbuffer;
struct gw_metrics;

struct gw_gauges {
	int64_t active_runs, queued_runs, violations, audit_write_errors, connections;
	int64_t warm_runs, cold_runs, warm_idle;
	int64_t uptime_s;
	int audit_ok;
};

struct gw_metrics *gw_metrics_new(void);
void gw_metrics_free(struct gw_metrics *m);
/* route: a fixed label such as "/v1/exec" (borrowed, must be static). */
void gw_metrics_request(struct gw_metrics *m, const char *route, int status);
/* rule: the matched rule id (copied) or NULL for the policy default;
 * decision: "allow", "deny" or "audit_allow". */
void gw_metrics_decision(struct gw_metrics *m, const char *rule, const char *decision);
void gw_metrics_run_seconds(struct gw_metrics *m, double seconds);
void gw_metrics_render(const struct gw_metrics *m, const struct gw_gauges *g, struct evbuffer *out);

#endif
