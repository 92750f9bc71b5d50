/* The unprivileged front end: the evhttp servers on the inherited
 * listening sockets (plain for TCP without TLS and unix sockets, TLS with
 * bufferevent_openssl), request limits and timeouts, the channel to the
 * monitor and the table of requests waiting for it. */
#include <jansson.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "../policy/policy.h"
#include "../shared/util.h"
#include "front.h"
#include "ipc.h"
#include "metrics.h"
#include "serve.h"

#define FRONT_MAX_IN (128u << 20)
#define EXIT_WAIT_MS 2000

/* ---- pending requests ------------------------------------------------------- */

uint64_t gw_front_pending_new(struct gw_front *f, struct evhttp_request *req, const char *route)
{
	if (f->pend_used >= f->max_pending)
		return UINT64_MAX;
	if (f->free_head == UINT32_MAX) {
		size_t cap = f->pend_cap ? f->pend_cap * 2 : 64;
		if (cap > f->max_pending)
			cap = f->max_pending;
		struct gw_pending *np = realloc(f->pend, cap * sizeof(*np));
		if (np == NULL)
			return UINT64_MAX;
		for (size_t i = f->pend_cap; i < cap; i++) {
			np[i].req = NULL;
			np[i].gen = 0;
			np[i].next_free = i + 1 < cap ? (uint32_t)(i + 1) : UINT32_MAX;
		}
		f->free_head = (uint32_t)f->pend_cap;
		f->pend = np;
		f->pend_cap = cap;
	}
	uint32_t slot = f->free_head;
	struct gw_pending *p = &f->pend[slot];
	f->free_head = p->next_free;
	p->req = req;
	p->route = route;
	p->gen++;
	f->pend_used++;
	return (uint64_t)p->gen << 24 | slot;
}

struct gw_pending *gw_front_pending_get(struct gw_front *f, uint64_t id)
{
	uint64_t slot = id & 0xffffff;
	if (slot >= f->pend_cap)
		return NULL;
	struct gw_pending *p = &f->pend[slot];
	if (p->req == NULL || p->gen != (uint32_t)(id >> 24))
		return NULL;
	return p;
}

void gw_front_pending_free(struct gw_front *f, struct gw_pending *p)
{
	if (p == NULL || p->req == NULL)
		return;
	p->req = NULL;
	p->next_free = f->free_head;
	f->free_head = (uint32_t)(p - f->pend);
	f->pend_used--;
}

int gw_front_send(struct gw_front *f, json_t *msg)
{
	return gw_ipc_send(f->ipc, msg);
}

/* ---- listeners ---------------------------------------------------------------- */

static void set_accepting(struct gw_front *f, bool on)
{
	for (size_t i = 0; i < f->nbound; i++) {
		struct evconnlistener *l = evhttp_bound_socket_get_listener(f->bound[i]);
		if (l)
			on ? evconnlistener_enable(l) : evconnlistener_disable(l);
	}
}

/* Shutdown: close the listening sockets, so new clients are refused at once
 * rather than left waiting in the backlog. */
static void close_listeners(struct gw_front *f)
{
	for (size_t i = 0; i < f->nbound; i++) {
		int w = f->sh->ls[i].tls ? 1 : 0;
		evhttp_del_accept_socket(f->http[w], f->bound[i]);
	}
	f->nbound = 0;
}

static void on_conn_count(size_t n, void *arg)
{
	struct gw_front *f = arg;
	size_t max = (size_t)f->cfg->max_connections;

	if (!f->paused && n >= max) {
		f->paused = true;
		gw_log("%zu connections open (the limit): not accepting more for now", n);
		set_accepting(f, false);
	} else if (f->paused && n < max - max / 10 && f->ready && !f->draining) {
		f->paused = false;
		set_accepting(f, true);
	}
}

static struct bufferevent *bevcb_plain(struct event_base *base, void *arg)
{
	struct gw_front *f = arg;
	return gw_conn_new_bev(&f->conns, NULL);
}

static struct bufferevent *bevcb_tls(struct event_base *base, void *arg)
{
	struct gw_front *f = arg;
	return gw_conn_new_bev(&f->conns, f->sh->ssl);
}

static struct evhttp *new_http(struct gw_front *f, int which)
{
	struct evhttp *h = evhttp_new(f->base);
	struct timeval idle = {f->cfg->idle_timeout_ms / 1000,
			       (f->cfg->idle_timeout_ms % 1000) * 1000};

	if (h == NULL)
		return NULL;
	f->hctx[which] = (struct gw_httpctx){f, which == 1};
	evhttp_set_gencb(h, gw_api_handle, &f->hctx[which]);
	evhttp_set_bevcb(h, which ? bevcb_tls : bevcb_plain, f);
	/* our own limits act first (conn.c); these are the backstops */
	evhttp_set_max_body_size(h, (ev_ssize_t)f->cfg->body_max);
	evhttp_set_max_headers_size(h, GW_HEAD_MAX + 1024);
	evhttp_set_timeout_tv(h, &idle);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					  EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
					  EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(h, "application/json");
	return h;
}

/* ---- the channel -------------------------------------------------------------- */

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gw_front *f = arg;

	if ((f->pend_used == 0 && f->replies_in_flight <= 0 && !gw_connset_writing(&f->conns)) ||
	    al_now_ms() >= f->exit_deadline_ms) {
		event_base_loopbreak(f->base);
		return;
	}
	struct timeval tv = {0, 20000};
	evtimer_add(f->ev_exit, &tv);
}

static void begin_exit(struct gw_front *f)
{
	if (f->exiting)
		return;
	f->exiting = true;
	f->exit_deadline_ms = al_now_ms() + EXIT_WAIT_MS;
	set_accepting(f, false);
	f->ev_exit = evtimer_new(f->base, on_exit_timer, f);
	if (f->ev_exit == NULL) {
		event_base_loopbreak(f->base);
		return;
	}
	on_exit_timer(-1, 0, f);
}

static void new_policy(struct gw_front *f, json_t *msg)
{
	json_t *t = json_object_get(msg, "text");
	struct al_policy *np = NULL;
	al_err err = {0};

	if (!json_is_string(t) || al_policy_load_buf(json_string_value(t), json_string_length(t),
						     f->cfg->policy_file, &np, &err) < 0) {
		gw_log("cannot use the reloaded policy (%s): keeping the previous one", err.msg);
		return;
	}
	al_policy_free(f->policy);
	f->policy = np;
	gw_debug("policy %s in use", np->sha256);
}

static void on_msg(json_t *msg, void *arg)
{
	struct gw_front *f = arg;
	const char *t = json_string_value(json_object_get(msg, "t"));

	if (t == NULL)
		return;
	if (strcmp(t, "resp") == 0) {
		gw_api_on_resp(f, msg);
	} else if (strcmp(t, "stats") == 0) {
		f->active = json_integer_value(json_object_get(msg, "active"));
		f->queued = json_integer_value(json_object_get(msg, "queued"));
		f->violations = json_integer_value(json_object_get(msg, "violations"));
		f->audit_errors = json_integer_value(json_object_get(msg, "audit_errors"));
		f->audit_ok = json_is_true(json_object_get(msg, "audit_ok"));
		f->warm_runs = json_integer_value(json_object_get(msg, "warm_runs"));
		f->cold_runs = json_integer_value(json_object_get(msg, "cold_runs"));
		f->warm_idle = json_integer_value(json_object_get(msg, "warm_idle"));
	} else if (strcmp(t, "ready") == 0) {
		f->ready = true;
		f->audit_ok = true;
		if (!f->paused)
			set_accepting(f, true);
	} else if (strcmp(t, "policy") == 0) {
		new_policy(f, msg);
	} else if (strcmp(t, "shutdown") == 0) {
		f->draining = true;
		close_listeners(f);
		gw_connset_drain(&f->conns);
	} else if (strcmp(t, "exit") == 0) {
		begin_exit(f);
	}
}

static void on_close(const char *why, void *arg)
{
	struct gw_front *f = arg;

	if (!f->exiting) {
		gw_log("lost the monitor (%s): exiting", why);
		f->exit_code = 1;
	}
	event_base_loopbreak(f->base);
}

/* ---- main ---------------------------------------------------------------------- */

int gw_front_run(struct gw_shared *sh, int ipc_fd)
{
	struct gw_front f;
	al_err err = {0};

	memset(&f, 0, sizeof(f));
	f.sh = sh;
	f.cfg = sh->cfg;
	f.free_head = UINT32_MAX;
	f.max_pending = (size_t)(sh->cfg->max_concurrency + sh->cfg->queue_max) * 2 + 256;
	f.policy = sh->policy;
	sh->policy = NULL;
	f.metrics = gw_metrics_new();
	f.base = event_base_new();
	if (f.base == NULL || f.metrics == NULL) {
		gw_log("cannot create the event loop");
		return 1;
	}
	f.conns = (struct gw_connset){
	    .base = f.base,
	    .body_max = (size_t)sh->cfg->body_max,
	    .head_max = GW_HEAD_MAX,
	    .uri_max = GW_URI_MAX,
	    .read_timeout_ms = sh->cfg->read_timeout_ms,
	    .on_count = on_conn_count,
	    .arg = &f,
	};
	f.ipc = gw_ipc_new(f.base, ipc_fd, FRONT_MAX_IN, on_msg, on_close, &f, &err);
	if (f.ipc == NULL) {
		gw_log("%s", err.msg);
		return 1;
	}
	for (size_t i = 0; i < sh->nls; i++) {
		int which = sh->ls[i].tls ? 1 : 0;
		if (f.http[which] == NULL && (f.http[which] = new_http(&f, which)) == NULL) {
			gw_log("cannot create the HTTP server");
			return 1;
		}
		f.bound[f.nbound] = evhttp_accept_socket_with_handle(f.http[which], sh->ls[i].fd);
		if (f.bound[f.nbound] == NULL) {
			gw_log("cannot serve on %s", sh->ls[i].shown);
			return 1;
		}
		sh->ls[i].fd = -1; /* evhttp owns it now */
		f.nbound++;
	}
	set_accepting(&f, false); /* until the monitor is ready */

	event_base_dispatch(f.base);

	for (int i = 0; i < 2; i++)
		if (f.http[i])
			evhttp_free(f.http[i]);
	if (f.ev_exit)
		event_free(f.ev_exit);
	gw_ipc_free(f.ipc);
	gw_connset_free(&f.conns);
	gw_api_free(&f);
	gw_metrics_free(f.metrics);
	free(f.pend);
	al_policy_free(f.policy);
	event_base_free(f.base);
	return f.exit_code;
}
