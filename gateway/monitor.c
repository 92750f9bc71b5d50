/* The privileged monitor: the only process that writes the audit log,
 * holds its key, and spawns agentrun.
 *
 * Every message from the front end is treated as hostile: the envelope is
 * checked field by field (anything unexpected is a protocol violation that
 * stops the gateway), and a request body is validated again with the same
 * code the front end used, the caller authenticated again from the bearer
 * token the front end forwards, rate limited and decided against the
 * policy here (monreq.c).  What the front end decided is never used.
 *
 * This file: the audit log writer, the answers, the channel, set-up.
 *
 * Messages (front end -> monitor):
 *   {"t":"req","id":N,"route":"exec"|"run","token":S|null,"body":{...}}
 *   {"t":"find_run","id":N,"run_id":S,"token":S|null}
 * (monitor -> front end):
 *   {"t":"ready"}  {"t":"resp","id":N,"status":S,"body":{...},"meta":{...}}
 *   {"t":"stats",...}  {"t":"policy","text":S}  {"t":"shutdown"}  {"t":"exit"} */
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "../policy/policy.h"
#include "../shared/audit.h"
#include "../shared/cgroup.h"
#include "../shared/cleanup.h"
#include "../shared/runspec.h"
#include "../shared/util.h"
#include "decide.h"
#include "ipc.h"
#include "monitor.h"
#include "ratelimit.h"
#include "req.h"
#include "serve.h"
#include "spawn.h"

#define MON_MAX_IN (8u << 20)

/* A policy shared by in-flight runs (which borrow its rules and profiles)
 * and the current configuration; freed with its last user. */
struct polref {
	struct al_policy *p;
	int refs;
};

void gw_mon_policy_put(struct polref *r)
{
	if (r && --r->refs == 0) {
		al_policy_free(r->p);
		free(r);
	}
}

/* ---- audit ---------------------------------------------------------------- */

static void send_stats(struct gw_mon *m);

/* The record just appended, read back from the file (exact, ts included):
 * the bytes between the size before and after the write. */
static json_t *read_back(struct gw_mon *m, off_t before)
{
	struct stat st;

	if (before < 0 || fstat(m->audit_ro, &st) < 0 || st.st_size <= before ||
	    st.st_size - before > (off_t)AL_AUDIT_MAX_LINE)
		return NULL;
	size_t n = (size_t)(st.st_size - before);
	cleanup_free char *buf = malloc(n);
	if (buf == NULL || pread(m->audit_ro, buf, n, before) != (ssize_t)n)
		return NULL;
	json_error_t je;
	json_t *j = json_loadb(buf, n, JSON_DISABLE_EOF_CHECK, &je);
	if (j && json_integer_value(json_object_get(j, "seq")) == al_audit_seq(m->audit))
		return j;
	json_decref(j);
	return NULL;
}

int gw_mon_audit(struct gw_mon *m, json_t *rec, json_t **written)
{
	al_err err = {0};
	char prev[65];
	struct stat st;
	off_t before = m->audit_ro >= 0 && fstat(m->audit_ro, &st) == 0 ? st.st_size : -1;

	snprintf(prev, sizeof(prev), "%s", al_audit_last_mac(m->audit));
	if (json_object_get(rec, "identity") == NULL) {
		/* the gateway's own events */
		json_object_set_new(rec, "identity", json_string("agentgw"));
		json_object_set_new(rec, "identity_verified", json_false());
	}
	if (json_object_get(rec, "policy_sha256") == NULL)
		json_object_set_new(rec, "policy_sha256", json_string(m->pol->p->sha256));
	if (al_audit_write(m->audit, rec, &err) < 0) {
		m->audit_errors++;
		m->failed_writes++;
		if (!m->audit_broken)
			gw_log("AUDIT WRITE FAILED: %s -- refusing to run anything until the audit "
			       "log can be written again",
			       err.msg);
		m->audit_broken = true;
		gw_monitor_stats(m);
		return -1;
	}
	if (m->audit_broken) {
		gw_log("audit log writable again");
		m->audit_broken = false;
		gw_monitor_stats(m);
	}
	if (written && (*written = read_back(m, before)) == NULL) {
		/* cannot read it back: what we asked for plus the chain fields */
		*written = json_deep_copy(rec);
		if (*written) {
			json_object_set_new(*written, "seq", json_integer(al_audit_seq(m->audit)));
			json_object_set_new(*written, "prev", json_string(prev));
			json_object_set_new(*written, "mac",
					    json_string(al_audit_last_mac(m->audit)));
		}
	}
	return 0;
}

/* Before acting on a request while the log is broken: one record saying how
 * many writes were lost must go through first. */
int gw_mon_audit_ready(struct gw_mon *m)
{
	if (!m->audit_broken)
		return 0;
	json_t *r = json_pack("{s:s,s:I}", "event", "audit_resumed", "failed_writes",
			      (json_int_t)m->failed_writes);
	int rc = r ? gw_mon_audit(m, r, NULL) : -1;
	json_decref(r);
	if (rc == 0)
		m->failed_writes = 0;
	return rc;
}

/* ---- answers ---------------------------------------------------------------- */

static void fatal(struct gw_mon *m, const char *why);

static void send_msg(struct gw_mon *m, json_t *msg)
{
	if (msg == NULL || gw_ipc_send(m->ipc, msg) < 0)
		gw_debug("cannot send to the front end");
	json_decref(msg);
}

static void send_stats(struct gw_mon *m)
{
	if (m->ipc == NULL)
		return;
	uint64_t warm = 0, cold = 0;
	size_t idle = 0;
	if (m->sp)
		gw_spawner_pool_stats(m->sp, &warm, &cold, &idle);
	send_msg(m, json_pack("{s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I}", "t", "stats", "active",
			      (json_int_t)(m->sp ? gw_spawner_active(m->sp) : 0), "queued",
			      (json_int_t)(m->sp ? gw_spawner_queued(m->sp) : 0), "violations",
			      (json_int_t)m->violations, "audit_errors",
			      (json_int_t)m->audit_errors, "audit_ok", !m->audit_broken,
			      "warm_runs", (json_int_t)warm, "cold_runs", (json_int_t)cold,
			      "warm_idle", (json_int_t)idle));
}

/* body and meta are stolen. */
void gw_mon_respond(struct gw_mon *m, uint64_t id, int status, json_t *body, json_t *meta)
{
	json_t *msg = json_pack("{s:s,s:I,s:i,s:o}", "t", "resp", "id", (json_int_t)id, "status",
				status, "body", body ? body : json_object());
	if (msg && meta)
		json_object_set_new(msg, "meta", meta);
	else
		json_decref(meta);
	send_msg(m, msg);
}

static json_t *error_body(const char *code, const char *msg)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
}

void gw_mon_respond_err(struct gw_mon *m, uint64_t id, const struct gw_apierr *e,
			const char *run_id, json_t *meta)
{
	json_t *b = error_body(e->code, e->msg);
	if (b && run_id)
		json_object_set_new(b, "run_id", json_string(run_id));
	gw_mon_respond(m, id, e->status, b, meta);
}

void gw_mon_respond_audit_down(struct gw_mon *m, uint64_t id, const char *run_id)
{
	struct gw_apierr e;
	gw_apierr_set(&e, 503, "audit_unavailable",
		      "the audit log cannot be written (%s); nothing runs until it can: free "
		      "space or fix the log, then retry",
		      al_audit_path(m->audit));
	gw_mon_respond_err(m, id, &e, run_id, NULL);
}

json_t *gw_mon_meta(const char *route, const char *rule, bool has_rule, const char *decision,
		    json_t *record)
{
	json_t *o = json_pack("{s:s}", "route", route);
	if (o == NULL)
		return NULL;
	if (decision) {
		json_object_set_new(o, "decision", json_string(decision));
		json_object_set_new(o, "rule", has_rule ? json_string(rule) : json_null());
	}
	if (record)
		json_object_set_new(o, "record", record);
	return o;
}

/* ---- the channel ------------------------------------------------------------ */

static bool keys_only(json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(k, allowed[i]) == 0;
		if (!ok)
			return false;
	}
	return true;
}

static bool get_token(json_t *msg, const char **tok, size_t *len)
{
	json_t *t = json_object_get(msg, "token");
	*tok = NULL;
	*len = 0;
	if (t == NULL || json_is_null(t))
		return true;
	if (!json_is_string(t) || json_string_length(t) > 4096 ||
	    strlen(json_string_value(t)) != json_string_length(t))
		return false;
	*tok = json_string_value(t);
	*len = json_string_length(t);
	return true;
}

static void on_msg(json_t *msg, void *arg)
{
	static const char *const req_keys[] = {"t", "id", "route", "token", "body", NULL};
	static const char *const find_keys[] = {"t", "id", "run_id", "token", NULL};
	struct gw_mon *m = arg;
	const char *t = json_string_value(json_object_get(msg, "t"));
	json_t *idv = json_object_get(msg, "id");
	const char *tok;
	size_t toklen;

	if (t == NULL || !json_is_integer(idv) || json_integer_value(idv) < 0 ||
	    json_integer_value(idv) > ((json_int_t)1 << 53))
		goto bad;
	uint64_t id = (uint64_t)json_integer_value(idv);
	if (strcmp(t, "req") == 0) {
		const char *route = json_string_value(json_object_get(msg, "route"));
		json_t *body = json_object_get(msg, "body");
		if (!keys_only(msg, req_keys) || route == NULL ||
		    (strcmp(route, "exec") != 0 && strcmp(route, "run") != 0) ||
		    !json_is_object(body) || !get_token(msg, &tok, &toklen))
			goto bad;
		gw_mon_handle_req(m, id, route, tok, toklen, body);
		return;
	}
	if (strcmp(t, "find_run") == 0) {
		json_t *rid = json_object_get(msg, "run_id");
		if (!keys_only(msg, find_keys) || !json_is_string(rid) ||
		    json_string_length(rid) > 64 || !get_token(msg, &tok, &toklen))
			goto bad;
		gw_mon_handle_find(m, id, json_string_value(rid), tok, toklen);
		return;
	}
bad:
	fatal(m, "protocol violation: unexpected message from the front end");
}

static void on_ipc_close(const char *why, void *arg)
{
	struct gw_mon *m = arg;

	if (m->state == MON_CLOSING)
		return;
	if (strncmp(why, "protocol", 8) == 0) {
		fatal(m, why);
		return;
	}
	gw_log("front end channel closed: %s", why);
	m->front_gone = true;
	if (m->state == MON_RUN) {
		m->exit_code = 1;
		gw_monitor_shutdown(m, "the front end stopped");
	}
	gw_monitor_check_done(m);
}

static void fatal(struct gw_mon *m, const char *why)
{
	gw_log("%s: stopping the front end and the gateway", why);
	if (m->front_pid > 0)
		kill(m->front_pid, SIGKILL);
	m->front_gone = true;
	m->exit_code = 1;
	if (m->state == MON_RUN)
		gw_monitor_shutdown(m, why);
	gw_monitor_check_done(m);
}

/* ---- policy ---------------------------------------------------------------- */

const struct al_policy *gw_mon_policy(const struct gw_mon *m)
{
	return m->pol->p;
}

struct polref *gw_mon_policy_get(struct gw_mon *m)
{
	m->pol->refs++;
	return m->pol;
}

int gw_monitor_swap_policy(struct gw_mon *m, struct al_policy *np)
{
	struct polref *nr = calloc(1, sizeof(*nr));

	if (nr == NULL)
		return -1;
	nr->p = np;
	nr->refs = 1;
	gw_mon_policy_put(m->pol);
	m->pol = nr;
	return 0;
}

void gw_monitor_stats(struct gw_mon *m)
{
	send_stats(m);
}

/* ---- set-up ------------------------------------------------------------------ */

static void on_spawn_change(void *arg)
{
	struct gw_mon *m = arg;
	gw_monitor_stats(m);
	gw_monitor_check_done(m);
}

int gw_monitor_init(struct gw_mon *m, struct gw_shared *sh, struct event_base *base, int ipc_fd,
		    al_err *err)
{
	m->sh = sh;
	m->cfg = sh->cfg;
	m->base = base;
	m->viol_fd = -1;
	m->audit_ro = -1;
	m->pol = calloc(1, sizeof(*m->pol));
	if (m->pol == NULL)
		return al_err_set(err, ENOMEM, "monitor");
	m->pol->p = TAKE_PTR(sh->policy);
	m->pol->refs = 1;
	if (al_audit_open(m->cfg->audit_file, m->cfg->audit_key_file, m->cfg->audit_sync, &m->audit,
			  err) < 0)
		return al_err_wrap(err,
				   "cannot open the audit log (--audit; its directory must exist "
				   "and be writable)");
	m->audit_ro = open(m->cfg->audit_file, O_RDONLY | O_CLOEXEC);
	m->rl = gw_rl_new(10000);
	m->sp = gw_spawner_new(base, sh->runner, (size_t)m->cfg->max_concurrency,
			       (size_t)m->cfg->queue_max, on_spawn_change, m, err);
	if (m->rl == NULL || m->sp == NULL)
		return m->sp ? al_err_set(err, ENOMEM, "monitor") : -1;
	m->ipc = gw_ipc_new(base, ipc_fd, MON_MAX_IN, on_msg, on_ipc_close, m, err);
	if (m->ipc == NULL)
		return -1;
	return 0;
}

int gw_monitor_audit(struct gw_mon *m, json_t *rec)
{
	return gw_mon_audit(m, rec, NULL);
}

void gw_monitor_send(struct gw_mon *m, json_t *msg)
{
	send_msg(m, msg);
}

void gw_monitor_sweep(struct gw_mon *m)
{
	al_err err = {0};
	int n = al_cgroup_sweep("agentlaunch", &err);

	if (n < 0)
		gw_debug("cgroup sweep: %s", err.msg);
	else if (n > 0)
		gw_log("removed %d cgroup director%s left by killed runs", n, n == 1 ? "y" : "ies");
}

const char *gw_monitor_policy_sha(const struct gw_mon *m)
{
	return m->pol->p->sha256;
}

void gw_monitor_fini(struct gw_mon *m)
{
	if (m->ev_viol)
		event_free(m->ev_viol);
	free(m->viol_buf);
	if (m->viol_fd >= 0)
		close(m->viol_fd);
	gw_ipc_free(m->ipc);
	m->ipc = NULL;
	gw_spawner_free(m->sp);
	gw_rl_free(m->rl);
	al_audit_close(m->audit);
	if (m->audit_ro >= 0)
		close(m->audit_ro);
	gw_mon_policy_put(m->pol);
}
