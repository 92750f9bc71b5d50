/* Counters and the Prometheus text format (see metrics.h).  Label sets are
 * bounded: routes are fixed strings, statuses are the few the gateway
 * answers, rule ids come from the policy (capped). */
#include "metrics.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#define MAX_REQ_SERIES 256
#define MAX_RULE_SERIES 2048

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				 1,	2.5,  5,     10,   30,	60,   300};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct req_series {
	const char *route;
	int status;
	uint64_t n;
};

struct rule_series {
	char *rule; /* owned; NULL = policy default */
	const char *decision;
	uint64_t n;
};

struct gw_metrics {
	struct req_series req[MAX_REQ_SERIES];
	size_t nreq;
	struct rule_series *rules; /* owned */
	size_t nrules, caprules;
	uint64_t hist[NBUCKETS];
	uint64_t hist_count;
	double hist_sum;
};

struct gw_metrics *gw_metrics_new(void)
{
	return calloc(1, sizeof(struct gw_metrics));
}

void gw_metrics_free(struct gw_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nrules; i++)
		free(m->rules[i].rule);
	free(m->rules);
	free(m);
}

void gw_metrics_request(struct gw_metrics *m, const char *route, int status)
{
	for (size_t i = 0; i < m->nreq; i++)
		if (m->req[i].route == route && m->req[i].status == status) {
			m->req[i].n++;
			return;
		}
	if (m->nreq < MAX_REQ_SERIES)
		m->req[m->nreq++] = (struct req_series){route, status, 1};
}

static bool same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

void gw_metrics_decision(struct gw_metrics *m, const char *rule, const char *decision)
{
	for (size_t i = 0; i < m->nrules; i++)
		if (same(m->rules[i].rule, rule) && strcmp(m->rules[i].decision, decision) == 0) {
			m->rules[i].n++;
			return;
		}
	if (m->nrules >= MAX_RULE_SERIES)
		return;
	if (m->nrules == m->caprules) {
		size_t cap = m->caprules ? m->caprules * 2 : 16;
		struct rule_series *nr = realloc(m->rules, cap * sizeof(*nr));
		if (nr == NULL)
			return;
		m->rules = nr;
		m->caprules = cap;
	}
	char *copy = rule ? strdup(rule) : NULL;
	if (rule && copy == NULL)
		return;
	static const char *const known[] = {"allow", "deny", "audit_allow"};
	const char *d = "deny";
	for (size_t i = 0; i < 3; i++)
		if (strcmp(decision, known[i]) == 0)
			d = known[i];
	m->rules[m->nrules++] = (struct rule_series){copy, d, 1};
}

void gw_metrics_run_seconds(struct gw_metrics *m, double s)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		if (s <= buckets[i])
			m->hist[i]++;
	m->hist_count++;
	m->hist_sum += s;
}

static void label(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

void gw_metrics_render(const struct gw_metrics *m, const struct gw_gauges *g, struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP agentgw_requests_total HTTP requests by endpoint and "
				 "status.\n# TYPE agentgw_requests_total counter\n");
	for (size_t i = 0; i < m->nreq; i++)
		evbuffer_add_printf(
		    out, "agentgw_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
		    m->req[i].route, m->req[i].status, (unsigned long long)m->req[i].n);
	evbuffer_add_printf(out, "# HELP agentgw_decisions_total Policy decisions by rule "
				 "(rule=\"\" is the policy default).\n"
				 "# TYPE agentgw_decisions_total counter\n");
	for (size_t i = 0; i < m->nrules; i++) {
		evbuffer_add_printf(out, "agentgw_decisions_total{rule=\"");
		label(out, m->rules[i].rule ? m->rules[i].rule : "");
		evbuffer_add_printf(out, "\",decision=\"%s\"} %llu\n", m->rules[i].decision,
				    (unsigned long long)m->rules[i].n);
	}
	evbuffer_add_printf(out, "# HELP agentgw_run_duration_seconds Wall time of sandboxed "
				 "runs.\n# TYPE agentgw_run_duration_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++)
		evbuffer_add_printf(out, "agentgw_run_duration_seconds_bucket{le=\"%g\"} %llu\n",
				    buckets[i], (unsigned long long)m->hist[i]);
	evbuffer_add_printf(out,
			    "agentgw_run_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "agentgw_run_duration_seconds_sum %.6f\n"
			    "agentgw_run_duration_seconds_count %llu\n",
			    (unsigned long long)m->hist_count, m->hist_sum,
			    (unsigned long long)m->hist_count);
	evbuffer_add_printf(
	    out,
	    "# HELP agentgw_active_runs Runs in progress.\n# TYPE agentgw_active_runs gauge\n"
	    "agentgw_active_runs %lld\n"
	    "# HELP agentgw_queue_length Runs waiting for a slot.\n"
	    "# TYPE agentgw_queue_length gauge\nagentgw_queue_length %lld\n"
	    "# HELP agentgw_violations_total Sandbox violations (denied exec/fork).\n"
	    "# TYPE agentgw_violations_total counter\nagentgw_violations_total %lld\n"
	    "# HELP agentgw_audit_write_errors_total Failed audit log writes.\n"
	    "# TYPE agentgw_audit_write_errors_total counter\n"
	    "agentgw_audit_write_errors_total %lld\n"
	    "# HELP agentgw_audit_ok 1 while the audit log is writable.\n"
	    "# TYPE agentgw_audit_ok gauge\nagentgw_audit_ok %d\n"
	    "# HELP agentgw_connections Open client connections.\n"
	    "# TYPE agentgw_connections gauge\nagentgw_connections %lld\n"
	    "# HELP agentgw_uptime_seconds Seconds since start.\n"
	    "# TYPE agentgw_uptime_seconds gauge\nagentgw_uptime_seconds %lld\n",
	    (long long)g->active_runs, (long long)g->queued_runs, (long long)g->violations,
	    (long long)g->audit_write_errors, g->audit_ok, (long long)g->connections,
	    (long long)g->uptime_s);
	evbuffer_add_printf(
	    out,
	    "# HELP agentgw_runs_started_total Runs by how their sandbox was made: warm "
	    "(prepared before the request) or cold.\n"
	    "# TYPE agentgw_runs_started_total counter\n"
	    "agentgw_runs_started_total{sandbox=\"warm\"} %lld\n"
	    "agentgw_runs_started_total{sandbox=\"cold\"} %lld\n"
	    "# HELP agentgw_warm_sandboxes Prepared sandboxes waiting for a request.\n"
	    "# TYPE agentgw_warm_sandboxes gauge\nagentgw_warm_sandboxes %lld\n",
	    (long long)g->warm_runs, (long long)g->cold_runs, (long long)g->warm_idle);
}
