/* The unprivileged HTTP front end's state (server.c: loop, listeners,
 * channel; api.c: endpoints). */
#ifndef GW_FRONT_H
#define GW_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "gw.h"

struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;
struct event_base;
struct event;
struct gw_ipc;
struct gw_metrics;
struct gw_shared;
struct al_policy;
typedef struct json_t json_t;

/* A request waiting for the monitor's answer. */
struct gw_pending {
	struct evhttp_request *req; /* borrowed from evhttp; NULL = free slot */
	uint32_t gen;
	const char *route; /* metrics label */
	uint32_t next_free;
};

/* A recent run's audit record, for GET /v1/runs/{id}. */
struct gw_runrec {
	char run_id[64];
	char identity[65];
	char *records; /* owned: the records as a compact JSON array */
};

struct gw_front;

struct gw_httpctx {
	struct gw_front *f;
	bool tls;
};

struct gw_front {
	struct gw_shared *sh;	     /* borrowed */
	const struct gw_config *cfg; /* borrowed */
	struct event_base *base;     /* owned */
	struct evhttp *http[2];	     /* owned: plain (TCP + unix), TLS */
	struct gw_httpctx hctx[2];
	struct evhttp_bound_socket *bound[GW_MAX_LISTEN]; /* owned by http */
	size_t nbound;
	struct gw_connset conns;
	bool paused;
	struct gw_ipc *ipc;	    /* owned */
	struct al_policy *policy;   /* owned; replaced on reload */
	struct gw_metrics *metrics; /* owned */
	struct gw_pending *pend;    /* owned array */
	size_t pend_cap, pend_used, max_pending;
	uint32_t free_head; /* UINT32_MAX: none */
	int64_t active, queued, violations, audit_errors;
	int64_t warm_runs, cold_runs, warm_idle; /* the warm pool (spawn.h) */
	bool audit_ok;
	struct gw_runrec *runs; /* owned ring */
	size_t runs_cap, runs_next;
	bool ready, draining, exiting;
	int exit_code;
	int64_t replies_in_flight;
	int64_t exit_deadline_ms;
	struct event *ev_exit; /* owned */
};

/* api.c */
void gw_api_handle(struct evhttp_request *req, void *arg); /* evhttp gencb, arg: gw_httpctx */
void gw_api_on_resp(struct gw_front *f, json_t *msg);
void gw_api_free(struct gw_front *f);

/* server.c */
uint64_t gw_front_pending_new(struct gw_front *f, struct evhttp_request *req, const char *route);
struct gw_pending *gw_front_pending_get(struct gw_front *f, uint64_t id);
void gw_front_pending_free(struct gw_front *f, struct gw_pending *p);
int gw_front_send(struct gw_front *f, json_t *msg); /* msg borrowed */

#endif
