/* The privileged monitor's state, shared by monitor.c (messages, requests,
 * audit) and monloop.c (life cycle: signals, the front end process,
 * shutdown). */
#ifndef GW_MONITOR_H
#define GW_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gw.h"

struct event_base;
struct event;
struct gw_shared;
struct gw_ipc;
struct gw_spawner;
struct gw_ratelimit;
struct al_audit;
struct polref;
struct al_policy;
typedef struct json_t json_t;

enum mon_state { MON_RUN, MON_DRAIN, MON_CLOSING };

struct gw_mon {
	struct gw_shared *sh;	     /* borrowed */
	const struct gw_config *cfg; /* borrowed */
	struct event_base *base;     /* borrowed */
	struct gw_ipc *ipc;	     /* owned */
	struct polref *pol;	     /* owned reference to the current policy */
	struct al_audit *audit;	     /* owned */
	int audit_ro;		     /* owned: read-only fd of the log, to read back records */
	bool audit_broken;
	int64_t audit_errors;	 /* failed writes since start */
	int64_t failed_writes;	 /* since the last good write */
	struct gw_ratelimit *rl; /* owned */
	struct gw_spawner *sp;	 /* owned */
	size_t inflight;	 /* runs accepted and not answered yet */
	int64_t violations;
	enum mon_state state;
	int exit_code;
	pid_t front_pid;
	bool front_gone; /* its channel is closed */
	bool front_reaped;
	int front_pidfd;				   /* owned */
	struct event *ev_front, *ev_grace, *ev_kill_front; /* owned */
	bool grace_termed;
	struct event *ev_sig[3]; /* owned: TERM, INT, HUP */
	int viol_fd;		 /* owned, -1 */
	struct event *ev_viol;	 /* owned */
	char *viol_buf;		 /* owned line buffer */
	size_t viol_len;
	bool viol_skip;
	bool viol_eof; /* the launcher closed its end */
};

/* monitor.c */
int gw_monitor_init(struct gw_mon *m, struct gw_shared *sh, struct event_base *base, int ipc_fd,
		    al_err *err);
void gw_monitor_fini(struct gw_mon *m);
int gw_monitor_audit(struct gw_mon *m, json_t *rec); /* rec borrowed */
void gw_monitor_send(struct gw_mon *m, json_t *msg); /* msg stolen */
const char *gw_monitor_policy_sha(const struct gw_mon *m);
/* Remove the cgroups of runs whose runner died without cleaning up. */
void gw_monitor_sweep(struct gw_mon *m);

int gw_monitor_swap_policy(struct gw_mon *m, struct al_policy *np); /* takes np */
void gw_monitor_stats(struct gw_mon *m);			    /* tell the front end */

/* monitor.c, for monreq.c and monevents.c */
int gw_mon_audit(struct gw_mon *m, json_t *rec, json_t **written); /* rec borrowed */
int gw_mon_audit_ready(struct gw_mon *m); /* 0 when records can be written */
void gw_mon_respond(struct gw_mon *m, uint64_t id, int status, json_t *body, json_t *meta);
void gw_mon_respond_err(struct gw_mon *m, uint64_t id, const struct gw_apierr *e,
			const char *run_id, json_t *meta);
void gw_mon_respond_audit_down(struct gw_mon *m, uint64_t id, const char *run_id);
json_t *gw_mon_meta(const char *route, const char *rule, bool has_rule, const char *decision,
		    json_t *record);
const struct al_policy *gw_mon_policy(const struct gw_mon *m);
struct polref *gw_mon_policy_get(struct gw_mon *m); /* a reference for a run */
void gw_mon_policy_put(struct polref *r);

/* monreq.c */
void gw_mon_handle_req(struct gw_mon *m, uint64_t id, const char *route, const char *token,
		       size_t token_len, json_t *body);
void gw_mon_handle_find(struct gw_mon *m, uint64_t id, const char *run_id, const char *token,
			size_t token_len);

/* monevents.c */
void gw_monitor_reload(struct gw_mon *m);
int gw_monitor_violation_fd(struct gw_mon *m, int fd, al_err *err);
/* Record what is left on --violation-fd, until its end or timeout_ms. */
void gw_monitor_drain_launcher(struct gw_mon *m, int timeout_ms);

/* monloop.c */
void gw_monitor_shutdown(struct gw_mon *m, const char *why);
void gw_monitor_check_done(struct gw_mon *m);

#endif
