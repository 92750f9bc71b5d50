/* The HTTP endpoints of SPEC §3, in the unprivileged front end.
 *
 * The front end answers on its own what needs no privilege: routing,
 * 404/405, body limits, authentication (401, 403 identity_mismatch), body
 * validation (400), /v1/plan, /v1/capabilities, /healthz, /metrics and
 * recent runs.  /v1/exec and /v1/run go to the monitor, which decides,
 * audits, runs and answers; the front end relays the answer. */
#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../policy/policy.h"
#include "../shared/cleanup.h"
#include "../shared/runspec.h"
#include "../shared/util.h"
#include "auth.h"
#include "caps.h"
#include "decide.h"
#include "front.h"
#include "metrics.h"
#include "req.h"
#include "serve.h"

#define RUNS_KEPT 512

static const char *phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	default:
		return "OTHER";
	}
}

static void on_complete(struct evhttp_request *req, void *arg)
{
	struct gw_front *f = arg;
	f->replies_in_flight--;
	gw_conn_reply_done(&f->conns, req);
}

/* evhttp_send_reply, then push the reply through the connection guard's
 * filter: evhttp enables writing on it only after queueing the reply, and
 * a filter moves output only when data arrives while writing is enabled,
 * so a reply sent outside the request callback would otherwise wait. */
static void send_reply(struct gw_front *f, struct evhttp_request *req, int status,
		       struct evbuffer *b)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;

	f->replies_in_flight++;
	evhttp_request_set_on_complete_cb(req, on_complete, f);
	gw_conn_reply_start(&f->conns, req, b ? evbuffer_get_length(b) : 0);
	evhttp_send_reply(req, status, phrase(status), b);
	if (bev)
		bufferevent_flush(bev, EV_WRITE, BEV_NORMAL);
}

/* Send a reply with body (stolen; NULL = {}). */
static void reply(struct gw_front *f, struct evhttp_request *req, const char *route, int status,
		  json_t *body, int64_t retry_after)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	char *s = json_dumps(body ? body : json_object(), JSON_COMPACT);

	json_decref(body);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (retry_after > 0) {
		char ra[32];
		snprintf(ra, sizeof(ra), "%lld", (long long)retry_after);
		evhttp_add_header(h, "Retry-After", ra);
	}
	if (status == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"agentgw\"");
	if (b && s) {
		evbuffer_add(b, s, strlen(s));
		evbuffer_add(b, "\n", 1);
	}
	free(s);
	gw_metrics_request(f->metrics, route, status);
	if (gw_verbose)
		gw_debug("%s %.200s -> %d", method_name(evhttp_request_get_command(req)),
			 evhttp_request_get_uri(req), status);
	send_reply(f, req, status, b);
	if (b)
		evbuffer_free(b);
}

static void reply_err(struct gw_front *f, struct evhttp_request *req, const char *route, int status,
		      const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void reply_err(struct gw_front *f, struct evhttp_request *req, const char *route, int status,
		      const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply(f, req, route, status,
	      json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg), 0);
}

static void reply_apierr(struct gw_front *f, struct evhttp_request *req, const char *route,
			 const struct gw_apierr *e)
{
	reply_err(f, req, route, e->status, e->code, "%s", e->msg);
}

/* ---- request pieces ---------------------------------------------------------- */

static const char *bearer(struct evhttp_request *req, size_t *len)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	*len = 0;
	return gw_bearer_token(a, len);
}

/* Authenticate without a body (401 only); true when the caller may go on. */
static bool auth_ok(struct gw_front *f, struct evhttp_request *req, const char *route,
		    struct gw_who *who)
{
	struct gw_apierr e;
	size_t tl = 0;
	const char *tok = bearer(req, &tl);

	if (gw_authenticate(&f->sh->auth, tok, tl, NULL, who, &e) < 0) {
		reply_apierr(f, req, route, &e);
		return false;
	}
	return true;
}

/* The parsed body, or NULL after answering. */
static json_t *read_body(struct gw_front *f, struct evhttp_request *req, const char *route)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct gw_apierr e;

	if (len > (size_t)f->cfg->body_max) {
		reply_err(f, req, route, 413, "too_large", "request body over %lld bytes",
			  (long long)f->cfg->body_max);
		return NULL;
	}
	const char *buf = len ? (const char *)evbuffer_pullup(in, -1) : "";
	json_t *j = gw_req_load(buf, len, &e);
	if (j == NULL)
		reply_apierr(f, req, route, &e);
	return j;
}

/* ---- recent runs ---------------------------------------------------------------- */

static void remember_run(struct gw_front *f, json_t *record)
{
	const char *rid = json_string_value(json_object_get(record, "run_id"));
	const char *ident = json_string_value(json_object_get(record, "identity"));

	if (rid == NULL || ident == NULL || strlen(rid) >= 64)
		return;
	if (f->runs == NULL) {
		f->runs = calloc(RUNS_KEPT, sizeof(*f->runs));
		if (f->runs == NULL)
			return;
		f->runs_cap = RUNS_KEPT;
	}
	struct gw_runrec *r = &f->runs[f->runs_next];
	f->runs_next = (f->runs_next + 1) % f->runs_cap;
	free(r->records);
	snprintf(r->run_id, sizeof(r->run_id), "%s", rid);
	snprintf(r->identity, sizeof(r->identity), "%s", ident);
	json_t *a = json_pack("[O]", record);
	r->records = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
}

static const struct gw_runrec *find_run(struct gw_front *f, const char *run_id)
{
	for (size_t i = 0; i < f->runs_cap; i++)
		if (f->runs[i].records && strcmp(f->runs[i].run_id, run_id) == 0)
			return &f->runs[i];
	return NULL;
}

void gw_api_free(struct gw_front *f)
{
	for (size_t i = 0; i < f->runs_cap; i++)
		free(f->runs[i].records);
	free(f->runs);
	f->runs = NULL;
}

/* ---- endpoints -------------------------------------------------------------- */

static void forward(struct gw_front *f, struct evhttp_request *req, const char *route,
		    enum gw_route r)
{
	struct gw_apierr e;
	struct gw_who who;
	struct gw_request rq;
	size_t tl = 0;
	const char *tok = bearer(req, &tl);

	if (f->draining) {
		reply_err(f, req, route, 503, "overloaded", "the gateway is shutting down");
		return;
	}
	if (gw_authenticate(&f->sh->auth, tok, tl, NULL, &who, &e) < 0) {
		reply_apierr(f, req, route, &e);
		return;
	}
	cleanup_json json_t *body = read_body(f, req, route);
	if (body == NULL)
		return;
	int rc = gw_req_parse(r, body, &rq, &e);
	if (rc == 0)
		rc = gw_authenticate(&f->sh->auth, tok, tl, rq.identity, &who, &e);
	gw_req_free(&rq);
	if (rc < 0) {
		reply_apierr(f, req, route, &e);
		return;
	}
	uint64_t id = gw_front_pending_new(f, req, route);
	if (id == UINT64_MAX) {
		reply_err(f, req, route, 503, "overloaded",
			  "too many requests in progress; retry later");
		return;
	}
	json_t *msg = json_pack("{s:s,s:I,s:s,s:o,s:O}", "t", "req", "id", (json_int_t)id, "route",
				r == GW_ROUTE_RUN ? "run" : "exec", "token",
				tok ? json_stringn(tok, tl) : json_null(), "body", body);
	if (msg == NULL || gw_front_send(f, msg) < 0) {
		gw_front_pending_free(f, gw_front_pending_get(f, id));
		reply_err(f, req, route, 503, "overloaded", "the gateway's monitor is unavailable");
	}
	json_decref(msg);
}

static void plan(struct gw_front *f, struct evhttp_request *req, const char *route)
{
	struct gw_apierr e;
	struct gw_who who;
	struct gw_request rq;
	struct gw_plan pl;
	size_t tl = 0;
	const char *tok = bearer(req, &tl);

	if (gw_authenticate(&f->sh->auth, tok, tl, NULL, &who, &e) < 0) {
		reply_apierr(f, req, route, &e);
		return;
	}
	cleanup_json json_t *body = read_body(f, req, route);
	if (body == NULL)
		return;
	if (gw_req_parse(GW_ROUTE_PLAN, body, &rq, &e) < 0 ||
	    gw_authenticate(&f->sh->auth, tok, tl, rq.identity, &who, &e) < 0) {
		gw_req_free(&rq);
		reply_apierr(f, req, route, &e);
		return;
	}
	gw_plan_build(f->policy, &rq, who.identity, &pl);
	gw_req_free(&rq);
	if (pl.failed) {
		reply_apierr(f, req, route, &pl.err);
		gw_plan_free(&pl);
		return;
	}
	json_t *o = gw_plan_to_json(&pl, f->policy);
	if (o && pl.profile) {
		char why[512];
		bool ok = gw_caps_profile_ok(&f->sh->caps, pl.profile, why, sizeof(why));
		json_object_set_new(o, "enforceable", json_boolean(ok));
		if (!ok)
			json_object_set_new(o, "missing", json_string(why));
	}
	json_object_set_new(o, "identity", json_string(who.identity));
	gw_plan_free(&pl);
	reply(f, req, route, 200, o, 0);
}

static void runs(struct gw_front *f, struct evhttp_request *req, const char *route,
		 const char *run_id)
{
	struct gw_who who;
	size_t tl = 0;
	const char *tok = bearer(req, &tl);

	if (!auth_ok(f, req, route, &who))
		return;
	if (!al_run_id_valid(run_id)) {
		reply_err(f, req, route, 404, "not_found",
			  "no such run (run ids look like r-<hex>)");
		return;
	}
	const struct gw_runrec *r = find_run(f, run_id);
	if (r) {
		if (f->sh->auth.enabled && strcmp(r->identity, who.identity) != 0) {
			reply_err(f, req, route, 404, "not_found", "no run %s", run_id);
			return;
		}
		json_t *recs = json_loads(r->records, 0, NULL);
		if (recs) {
			reply(f, req, route, 200,
			      json_pack("{s:s,s:o}", "run_id", run_id, "records", recs), 0);
			return;
		}
	}
	uint64_t id = gw_front_pending_new(f, req, route);
	if (id == UINT64_MAX) {
		reply_err(f, req, route, 503, "overloaded", "too many requests in progress");
		return;
	}
	json_t *msg =
	    json_pack("{s:s,s:I,s:s,s:o}", "t", "find_run", "id", (json_int_t)id, "run_id", run_id,
		      "token", tok ? json_stringn(tok, tl) : json_null());
	if (msg == NULL || gw_front_send(f, msg) < 0) {
		gw_front_pending_free(f, gw_front_pending_get(f, id));
		reply_err(f, req, route, 503, "overloaded", "the gateway's monitor is unavailable");
	}
	json_decref(msg);
}

static void healthz(struct gw_front *f, struct evhttp_request *req, const char *route)
{
	const char *st = f->draining ? "stopping" : f->audit_ok ? "ok" : "degraded";
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:b}", "status", st, "policy_sha256",
			      f->policy->sha256, "version", AL_VERSION, "uptime_s",
			      (json_int_t)((al_now_ms() - f->sh->start_ms) / 1000), "active_runs",
			      (json_int_t)f->active, "queued_runs", (json_int_t)f->queued,
			      "audit_ok", f->audit_ok);
	/* the events --violation-fd records (agentlaunch sends agent_start and
	 * agent_exit only to a gateway that lists them) */
	if (o)
		json_object_set_new(
		    o, "launcher_events",
		    json_pack("[s,s,s]", "sandbox_violation", "agent_start", "agent_exit"));
	reply(f, req, route, 200, o, 0);
}

static void metrics(struct gw_front *f, struct evhttp_request *req, const char *route)
{
	struct gw_who who;

	if (!auth_ok(f, req, route, &who))
		return;
	struct gw_gauges g = {
	    .active_runs = f->active,
	    .queued_runs = f->queued,
	    .violations = f->violations,
	    .audit_write_errors = f->audit_errors,
	    .connections = (int64_t)f->conns.n,
	    .uptime_s = (al_now_ms() - f->sh->start_ms) / 1000,
	    .audit_ok = f->audit_ok,
	    .warm_runs = f->warm_runs,
	    .cold_runs = f->cold_runs,
	    .warm_idle = f->warm_idle,
	};
	gw_metrics_request(f->metrics, route, 200); /* counted before rendering */
	struct evbuffer *b = evbuffer_new();
	if (b == NULL) {
		f->replies_in_flight++;
		evhttp_request_set_on_complete_cb(req, on_complete, f);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	gw_metrics_render(f->metrics, &g, b);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	send_reply(f, req, 200, b);
	evbuffer_free(b);
}

static void capabilities(struct gw_front *f, struct evhttp_request *req, const char *route)
{
	struct gw_who who;

	if (!auth_ok(f, req, route, &who))
		return;
	reply(f, req, route, 200, gw_caps_to_json(&f->sh->caps, f->policy), 0);
}

/* ---- routing ----------------------------------------------------------------- */

static bool is_tls_connection(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	struct bufferevent *under = bev ? bufferevent_get_underlying(bev) : NULL;
	return under && bufferevent_openssl_get_ssl(under) != NULL;
}

void gw_api_handle(struct evhttp_request *req, void *arg)
{
	struct gw_httpctx *hc = arg;
	struct gw_front *f = hc->f;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *rj = evhttp_find_header(in, GW_REJECT_HEADER);

	if (hc->tls && !is_tls_connection(req)) {
		/* never serve plain text on a TLS listener */
		reply_err(f, req, "other", 400, "bad_request", "TLS required");
		return;
	}
	if (rj) {
		int st = atoi(rj);
		if (st == 413)
			reply_err(f, req, "other", 413, "too_large", "request body over %lld bytes",
				  (long long)f->cfg->body_max);
		else if (st == 414)
			reply_err(f, req, "other", 414, "too_large",
				  "request target longer than %d bytes", GW_URI_MAX);
		else
			reply_err(f, req, "other", 431, "too_large",
				  "request line and headers longer than %u bytes", GW_HEAD_MAX);
		return;
	}
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";

	static const struct {
		const char *path;
		const char *label;
		enum evhttp_cmd_type method;
	} routes[] = {
	    {"/v1/exec", "/v1/exec", EVHTTP_REQ_POST},
	    {"/v1/run", "/v1/run", EVHTTP_REQ_POST},
	    {"/v1/plan", "/v1/plan", EVHTTP_REQ_POST},
	    {"/v1/capabilities", "/v1/capabilities", EVHTTP_REQ_GET},
	    {"/healthz", "/healthz", EVHTTP_REQ_GET},
	    {"/metrics", "/metrics", EVHTTP_REQ_GET},
	    {"/v1/runs/", "/v1/runs", EVHTTP_REQ_GET},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *rp = routes[i].path, *label = routes[i].label;
		size_t n = strlen(rp);
		bool prefix = rp[n - 1] == '/';
		if (prefix ? strncmp(path, rp, n) != 0 || path[n] == '\0' || strchr(path + n, '/')
			   : strcmp(path, rp) != 0)
			continue;
		if (m != routes[i].method) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
					  routes[i].method == EVHTTP_REQ_POST ? "POST" : "GET");
			reply_err(f, req, label, 405, "method_not_allowed", "%s takes %s", label,
				  routes[i].method == EVHTTP_REQ_POST ? "POST" : "GET");
			return;
		}
		if (evhttp_find_header(in, "Origin") != NULL && strcmp(label, "/healthz") != 0) {
			/* a browser: refuse cross-site requests to a local exec service */
			reply_err(f, req, label, 403, "forbidden",
				  "requests from web pages (with an Origin header) are refused");
			return;
		}
		switch (i) {
		case 0:
			forward(f, req, label, GW_ROUTE_EXEC);
			return;
		case 1:
			forward(f, req, label, GW_ROUTE_RUN);
			return;
		case 2:
			plan(f, req, label);
			return;
		case 3:
			capabilities(f, req, label);
			return;
		case 4:
			healthz(f, req, label);
			return;
		case 5:
			metrics(f, req, label);
			return;
		default:
			runs(f, req, label, path + n);
			return;
		}
	}
	reply_err(f, req, "other", 404, "not_found", "no endpoint %.200s (see docs/agentgw.md)",
		  path);
}

/* An answer from the monitor. */
void gw_api_on_resp(struct gw_front *f, json_t *msg)
{
	json_t *idv = json_object_get(msg, "id"), *st = json_object_get(msg, "status");
	json_t *body = json_object_get(msg, "body"), *meta = json_object_get(msg, "meta");

	if (!json_is_integer(idv) || !json_is_integer(st) || !json_is_object(body)) {
		gw_log("malformed answer from the monitor: ignored");
		return;
	}
	struct gw_pending *p = gw_front_pending_get(f, (uint64_t)json_integer_value(idv));
	if (p == NULL) {
		gw_log("answer for an unknown request from the monitor: ignored");
		return;
	}
	struct evhttp_request *req = p->req;
	const char *route = p->route;
	gw_front_pending_free(f, p);
	int64_t retry = 0;
	if (json_is_object(meta)) {
		const char *dec = json_string_value(json_object_get(meta, "decision"));
		if (dec)
			gw_metrics_decision(f->metrics,
					    json_string_value(json_object_get(meta, "rule")), dec);
		json_t *secs = json_object_get(meta, "run_seconds");
		if (json_is_number(secs))
			gw_metrics_run_seconds(f->metrics, json_number_value(secs));
		json_t *ra = json_object_get(meta, "retry_after");
		if (json_is_integer(ra))
			retry = json_integer_value(ra);
		json_t *rec = json_object_get(meta, "record");
		if (json_is_object(rec))
			remember_run(f, rec);
	}
	int status = (int)json_integer_value(st);
	if (status < 200 || status > 599)
		status = 500;
	reply(f, req, route, status, json_incref(body), retry);
}
