/* The privileged monitor: the only process that writes the audit log,
 * holds its key, and spawns agentrun.
 *
 * Every message from the front end is treated as hostile: the envelope is
 * checked field by field (anything unexpected is a protocol violation that
 * stops the gateway), and a request body is validated again with the same
 * code the front end used, the caller authenticated again from the bearer
 * token the front end forwards, rate limited and decided against the
 * policy here.  What the front end decided is never used.
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

struct run_ctx {
	struct gw_mon *m;
	struct polref *pol;
	uint64_t id;
	enum al_kind kind;
	json_t *rec;  /* owned audit record so far */
	json_t *head; /* owned: decision fields of the answer */
	char run_id[40];
	char rule[128];
	bool has_rule;
	char decision[16];
};

static void polref_put(struct polref *r)
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

static int audit(struct gw_mon *m, json_t *rec, json_t **written)
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
		send_stats(m);
		return -1;
	}
	if (m->audit_broken) {
		gw_log("audit log writable again");
		m->audit_broken = false;
		send_stats(m);
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
static int audit_ready(struct gw_mon *m)
{
	if (!m->audit_broken)
		return 0;
	json_t *r = json_pack("{s:s,s:I}", "event", "audit_resumed", "failed_writes",
			      (json_int_t)m->failed_writes);
	int rc = r ? audit(m, r, NULL) : -1;
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
	send_msg(m, json_pack("{s:s,s:I,s:I,s:I,s:I,s:b}", "t", "stats", "active",
			      (json_int_t)(m->sp ? gw_spawner_active(m->sp) : 0), "queued",
			      (json_int_t)(m->sp ? gw_spawner_queued(m->sp) : 0), "violations",
			      (json_int_t)m->violations, "audit_errors",
			      (json_int_t)m->audit_errors, "audit_ok", !m->audit_broken));
}

/* body and meta are stolen. */
static void respond(struct gw_mon *m, uint64_t id, int status, json_t *body, json_t *meta)
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

static void respond_err(struct gw_mon *m, uint64_t id, const struct gw_apierr *e,
			const char *run_id, json_t *meta)
{
	json_t *b = error_body(e->code, e->msg);
	if (b && run_id)
		json_object_set_new(b, "run_id", json_string(run_id));
	respond(m, id, e->status, b, meta);
}

static void respond_audit_down(struct gw_mon *m, uint64_t id, const char *run_id)
{
	struct gw_apierr e;
	gw_apierr_set(&e, 503, "audit_unavailable",
		      "the audit log cannot be written (%s); nothing runs until it can: free "
		      "space or fix the log, then retry",
		      al_audit_path(m->audit));
	respond_err(m, id, &e, run_id, NULL);
}

static json_t *meta_of(const char *route, const char *rule, bool has_rule, const char *decision,
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

/* ---- requests --------------------------------------------------------------- */

static json_t *record_base(struct gw_mon *m, const char *event, const struct gw_who *who,
			   const char *run_id)
{
	json_t *r = json_pack("{s:s,s:s,s:b}", "event", event, "identity", who->identity,
			      "identity_verified", who->verified);
	if (r == NULL)
		return NULL;
	if (who->token_id[0])
		json_object_set_new(r, "token_id", json_string(who->token_id));
	if (run_id)
		json_object_set_new(r, "run_id", json_string(run_id));
	json_object_set_new(r, "policy_sha256", json_string(m->pol->p->sha256));
	return r;
}

static json_t *strv_json(char **v)
{
	json_t *a = json_array();
	for (; a && v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static void record_plan(json_t *r, const struct al_policy *p, const struct gw_request *rq,
			const struct gw_plan *pl)
{
	if (rq->kind == AL_KIND_CODE) {
		char sha[65];
		al_sha256_hex(rq->code, rq->code_len, sha);
		json_object_set_new(r, "code_sha256", json_string(sha));
		json_object_set_new(r, "language", json_string(rq->language));
		if (pl->exe[0])
			json_object_set_new(r, "interpreter", json_string(pl->exe));
	} else {
		if (pl->command)
			json_object_set_new(r, "command", json_string(pl->command));
		else if (rq->command)
			json_object_set_new(r, "command",
					    json_stringn(rq->command, rq->command_len));
		else {
			cleanup_free char *j = NULL;
			size_t n = 0;
			for (size_t i = 0; i < rq->argc; i++)
				n += strlen(rq->argv[i]) + 1;
			j = calloc(1, n + 1);
			for (size_t i = 0; j && i < rq->argc; i++) {
				strcat(j, rq->argv[i]);
				if (i + 1 < rq->argc)
					strcat(j, " ");
			}
			if (j)
				json_object_set_new(r, "command", json_string(j));
		}
		if (pl->argv && pl->runnable)
			json_object_set_new(r, "argv", strv_json(pl->argv));
		if (pl->shell)
			json_object_set_new(r, "shell", json_true());
	}
	if (pl->matched_executable[0])
		json_object_set_new(r, "executable", json_string(pl->matched_executable));
	json_object_set_new(r, "decision",
			    json_string(pl->runnable && pl->allowed ? "allow" : "deny"));
	json_object_set_new(r, "rule", pl->rule ? json_string(pl->rule->id) : json_null());
	json_object_set_new(r, "reason", pl->has_reason ? json_string(pl->reason) : json_null());
	json_object_set_new(r, "audit_mode", json_boolean(p->audit_mode));
	if (pl->profile)
		json_object_set_new(r, "profile", json_string(pl->profile->name));
	if (!pl->failed && pl->profile)
		json_object_set_new(r, "limits", al_limits_to_json(&pl->limits));
}

/* The decision fields every answer to a decided request carries. */
static json_t *answer_head(const char *run_id, const struct gw_plan *pl, bool audit_mode)
{
	return json_pack("{s:s,s:b,s:b,s:o,s:o,s:o}", "run_id", run_id, "allowed_by_policy",
			 pl->runnable && pl->allowed, "audit_mode",
			 audit_mode && pl->audit_override, "matched_rule",
			 pl->rule ? json_string(pl->rule->id) : json_null(), "reason",
			 pl->has_reason ? json_string(pl->reason) : json_null(), "profile",
			 pl->profile ? json_string(pl->profile->name) : json_null());
}

static char **env_strv(json_t *env)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	if (env == NULL)
		return NULL;
	char **out = calloc(json_object_size(env) + 1, sizeof(char *));
	if (out == NULL)
		return NULL;
	json_object_foreach(env, k, v)
	{
		if (asprintf(&out[i], "%s=%s", k, json_string_value(v)) < 0) {
			out[i] = NULL;
			al_strv_free(out);
			return NULL;
		}
		i++;
	}
	return out;
}

static char *dup_bytes(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* The spec for agentrun, serialised, after a round trip through the
 * validating parser (so a spec agentrun would refuse is a 400 here). */
static char *build_spec(const char *run_id, const char *identity, const struct gw_request *rq,
			const struct gw_plan *pl, size_t *len, al_err *err)
{
	struct al_run_spec s, check;
	char *out = NULL;

	al_run_spec_init(&s);
	al_run_spec_init(&check);
	s.run_id = strdup(run_id);
	s.identity = strdup(identity);
	if (s.run_id == NULL || s.identity == NULL ||
	    al_profile_copy(&s.profile, pl->profile, err) < 0)
		goto out;
	if (pl->profile->sc) {
		if (al_syscall_profile_copy(&s.sc, pl->profile->sc, err) < 0)
			goto out;
		s.profile.sc = &s.sc;
	}
	s.limits = pl->limits;
	if (rq->kind == AL_KIND_CODE) {
		s.code = dup_bytes(rq->code, rq->code_len);
		s.code_len = rq->code_len;
		if (s.code == NULL)
			goto oom;
	} else {
		size_t n = 0;
		while (pl->argv[n])
			n++;
		s.argv = calloc(n + 1, sizeof(char *));
		if (s.argv == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++)
			if ((s.argv[i] = strdup(pl->argv[i])) == NULL)
				goto oom;
	}
	if (rq->stdin_data) {
		s.stdin_data = dup_bytes(rq->stdin_data, rq->stdin_len);
		s.stdin_len = rq->stdin_len;
		if (s.stdin_data == NULL)
			goto oom;
	}
	if (rq->env && (s.env = env_strv(rq->env)) == NULL)
		goto oom;
	if (rq->cwd && (s.cwd = strdup(rq->cwd)) == NULL)
		goto oom;
	json_t *j = al_run_spec_to_json(&s);
	if (j == NULL) {
		al_err_set(err, EINVAL, "the request cannot be expressed as a run spec");
		goto out;
	}
	if (al_run_spec_from_json(j, &check, err) == 0) {
		out = json_dumps(j, JSON_COMPACT);
		if (out)
			*len = strlen(out);
		else
			al_err_set(err, ENOMEM, "spec");
	}
	json_decref(j);
	goto out;
oom:
	al_err_set(err, ENOMEM, "spec");
out:
	al_run_spec_free(&s);
	al_run_spec_free(&check);
	return out;
}

static void run_done(const struct gw_job_outcome *o, void *arg);

static void handle_req(struct gw_mon *m, uint64_t id, const char *route, const char *token,
		       size_t token_len, json_t *body)
{
	bool code = strcmp(route, "run") == 0;
	const char *mroute = code ? "/v1/run" : "/v1/exec";
	const char *event = code ? "sandbox_exec" : "exec";
	struct gw_request rq;
	struct gw_apierr e;
	struct gw_who who;
	struct gw_plan pl;
	char run_id[40];
	al_err err = {0};

	memset(&pl, 0, sizeof(pl));
	if (gw_req_parse(code ? GW_ROUTE_RUN : GW_ROUTE_EXEC, body, &rq, &e) < 0) {
		gw_log("the front end forwarded an invalid request (%s): refused", e.msg);
		respond_err(m, id, &e, NULL, meta_of(mroute, NULL, false, NULL, NULL));
		gw_req_free(&rq);
		return;
	}
	if (gw_authenticate(&m->sh->auth, token, token_len, rq.identity, &who, &e) < 0) {
		gw_log("the front end forwarded an unauthenticated request (%s): refused", e.msg);
		respond_err(m, id, &e, NULL, meta_of(mroute, NULL, false, NULL, NULL));
		gw_req_free(&rq);
		return;
	}
	if (audit_ready(m) < 0) {
		respond_audit_down(m, id, NULL);
		gw_req_free(&rq);
		return;
	}
	const struct al_policy *p = m->pol->p;
	int64_t retry =
	    gw_rl_hit(m->rl, who.identity, p->rate_max, p->rate_window_sec * 1000, al_now_ms());
	if (retry > 0) {
		json_t *rec = record_base(m, "rate_limited", &who, NULL);
		json_object_set_new(rec, "endpoint", json_string(mroute));
		json_object_set_new(rec, "max_commands", json_integer(p->rate_max));
		json_object_set_new(rec, "window_seconds", json_integer(p->rate_window_sec));
		json_object_set_new(rec, "retry_after", json_integer(retry));
		int rc = audit(m, rec, NULL);
		json_decref(rec);
		if (rc < 0) {
			respond_audit_down(m, id, NULL);
		} else {
			gw_apierr_set(&e, 429, "rate_limited",
				      "identity %s sent more than %lld requests in %lld s; retry "
				      "after %lld s",
				      who.identity, (long long)p->rate_max,
				      (long long)p->rate_window_sec, (long long)retry);
			json_t *meta = meta_of(mroute, NULL, false, NULL, NULL);
			json_object_set_new(meta, "retry_after", json_integer(retry));
			respond_err(m, id, &e, NULL, meta);
		}
		gw_req_free(&rq);
		return;
	}

	char hex[17];
	if (al_random_hex(hex, 8, &err) < 0) {
		gw_apierr_set(&e, 503, "overloaded", "no randomness for a run id: %s", err.msg);
		respond_err(m, id, &e, NULL, NULL);
		gw_req_free(&rq);
		return;
	}
	snprintf(run_id, sizeof(run_id), "r-%s", hex);
	gw_plan_build(p, &rq, who.identity, &pl);

	json_t *rec = record_base(m, event, &who, run_id);
	record_plan(rec, p, &rq, &pl);
	const char *rule = pl.rule ? pl.rule->id : NULL;
	const char *decision = pl.runnable && pl.allowed ? "allow" : "deny";
	int status = 0;
	const char *why = NULL;

	if (pl.failed) {
		status = pl.err.status;
		e = pl.err;
		why = "rejected";
		decision = NULL;
	} else if (!gw_plan_runs(&pl)) {
		status = 403;
		why = "denied";
	} else {
		char miss[512];
		if (!gw_caps_profile_ok(&m->sh->caps, pl.profile, miss, sizeof(miss))) {
			status = 503;
			gw_apierr_set(&e, 503, "unenforceable",
				      "profile %s cannot be enforced on this host: missing %s",
				      pl.profile->name, miss);
			why = "failed";
		}
	}
	char *spec = NULL;
	size_t spec_len = 0;
	if (status == 0) {
		spec = build_spec(run_id, who.identity, &rq, &pl, &spec_len, &err);
		if (spec == NULL) {
			status = 400;
			gw_apierr_set(&e, 400, "bad_field", "%s", err.msg);
			why = "rejected";
		}
	}
	if (status != 0) {
		/* answered here: one record, then the answer */
		json_object_set_new(rec, "outcome", json_string(why));
		json_object_set_new(rec, "status", json_integer(status));
		if (status != 403)
			json_object_set_new(rec, "error", json_string(e.code));
		json_t *written = NULL;
		if (audit(m, rec, &written) < 0) {
			respond_audit_down(m, id, run_id);
		} else if (status == 403) {
			json_t *b = answer_head(run_id, &pl, p->audit_mode);
			json_object_del(b, "audit_mode");
			json_object_set_new(
			    b, "error",
			    json_pack("{s:s,s:s}", "code", "policy_denied", "message",
				      pl.rule ? "denied by the policy (see matched_rule and "
						"reason)"
					      : "denied by the policy default (no rule allows "
						"it; see reason)"));
			respond(m, id, 403, b, meta_of(mroute, rule, pl.rule, decision, written));
			written = NULL;
		} else {
			respond_err(m, id, &e, run_id,
				    meta_of(mroute, rule, pl.rule, decision, written));
			written = NULL;
		}
		json_decref(written);
		json_decref(rec);
		gw_plan_free(&pl);
		gw_req_free(&rq);
		return;
	}

	struct run_ctx *rc = calloc(1, sizeof(*rc));
	if (rc == NULL) {
		free(spec);
		json_decref(rec);
		gw_apierr_set(&e, 503, "overloaded", "out of memory");
		respond_err(m, id, &e, run_id, NULL);
		gw_plan_free(&pl);
		gw_req_free(&rq);
		return;
	}
	rc->m = m;
	rc->pol = m->pol;
	rc->pol->refs++;
	rc->id = id;
	rc->kind = rq.kind;
	rc->rec = rec;
	rc->head = answer_head(run_id, &pl, p->audit_mode);
	if (rc->head && rq.kind == AL_KIND_CODE)
		json_object_set_new(rc->head, "code_sha256", json_string(pl.code_sha256));
	snprintf(rc->run_id, sizeof(rc->run_id), "%s", run_id);
	rc->has_rule = pl.rule != NULL;
	snprintf(rc->rule, sizeof(rc->rule), "%s", rule ? rule : "");
	snprintf(rc->decision, sizeof(rc->decision), "%s", pl.allowed ? "allow" : "audit_allow");
	int64_t dog = (pl.limits.timeout_sec > 0 ? pl.limits.timeout_sec : 60) * 1000 + 30000;
	gw_plan_free(&pl);
	gw_req_free(&rq);
	m->inflight++;
	if (gw_spawner_submit(m->sp, spec, spec_len, dog, run_done, rc) < 0) {
		struct gw_job_outcome o = {.status = GW_JOB_CANCELLED, .out = "", .exit_code = -1};
		snprintf(o.msg, sizeof(o.msg), "%s",
			 m->state == MON_RUN ? "queue full" : "gateway shutting down");
		run_done(&o, rc);
	}
}

static void finish_run(struct run_ctx *rc, int status, const struct gw_apierr *e, json_t *result,
		       double seconds)
{
	struct gw_mon *m = rc->m;
	json_t *written = NULL;
	const char *route = rc->kind == AL_KIND_CODE ? "/v1/run" : "/v1/exec";

	json_object_set_new(rc->rec, "outcome", json_string(status == 200 ? "ran" : "failed"));
	json_object_set_new(rc->rec, "status", json_integer(status));
	if (e)
		json_object_set_new(rc->rec, "error", json_string(e->code));
	if (audit(m, rc->rec, &written) < 0) {
		respond_audit_down(m, rc->id, rc->run_id);
	} else {
		json_t *meta = meta_of(route, rc->rule, rc->has_rule, rc->decision, written);
		if (status == 200) {
			json_object_set_new(meta, "run_seconds", json_real(seconds));
			json_object_update(rc->head, result);
			respond(m, rc->id, 200, json_incref(rc->head), meta);
		} else {
			respond_err(m, rc->id, e, rc->run_id, meta);
		}
	}
	json_decref(rc->rec);
	json_decref(rc->head);
	polref_put(rc->pol);
	free(rc);
	m->inflight--;
	gw_monitor_check_done(m);
}

/* Parse agentrun's answer into the run fields of the response and the
 * results of the audit record. */
static void run_done(const struct gw_job_outcome *o, void *arg)
{
	struct run_ctx *rc = arg;
	struct gw_mon *m = rc->m;
	struct gw_apierr e;
	json_error_t je;
	al_err err = {0};

	if (o->killed)
		gw_monitor_sweep(m);
	if (o->status == GW_JOB_CANCELLED) {
		gw_apierr_set(&e, 503, "overloaded", "%s: try again later", o->msg);
		finish_run(rc, 503, &e, NULL, 0);
		return;
	}
	if (o->status == GW_JOB_FAILED) {
		gw_apierr_set(&e, 500, "runner_error", "agentrun: %s", o->msg);
		finish_run(rc, 500, &e, NULL, 0);
		return;
	}
	/* one JSON object (a trailing newline is fine) */
	json_t *j =
	    json_loadb(o->out, o->out_len, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &je);
	cleanup_json json_t *hold = j;
	if (j == NULL || !json_is_object(j)) {
		gw_apierr_set(&e, 500, "runner_error",
			      "agentrun %s without a result (exit %d, signal %d)%s",
			      o->killed ? "was killed" : "ended", o->exit_code, o->signal,
			      o->killed ? ": it overran its timeout or the gateway is stopping"
					: "; see the gateway log");
		finish_run(rc, 500, &e, NULL, 0);
		return;
	}
	json_t *eo = json_object_get(j, "error");
	if (eo) {
		const char *code = json_string_value(json_object_get(eo, "code"));
		const char *msg = json_string_value(json_object_get(eo, "message"));
		bool unenf = code && strcmp(code, "unenforceable") == 0;
		gw_apierr_set(&e, unenf ? 503 : 500, unenf ? "unenforceable" : "runner_error",
			      "agentrun: %.400s", msg ? msg : "failed without a message");
		finish_run(rc, e.status, &e, NULL, 0);
		return;
	}
	struct al_run_result r;
	memset(&r, 0, sizeof(r));
	if (al_run_result_from_json(j, &r, &err) < 0 || strcmp(r.run_id, rc->run_id) != 0) {
		gw_apierr_set(&e, 500, "runner_error", "agentrun's result is invalid: %s",
			      err.msg[0] ? err.msg : "wrong run_id");
		al_run_result_free(&r);
		finish_run(rc, 500, &e, NULL, 0);
		return;
	}
	json_t *res = al_run_result_to_json(&r);
	json_object_set_new(
	    rc->rec, "result",
	    json_pack("{s:i,s:o,s:I,s:I,s:I,s:b,s:b,s:b,s:b,s:i}", "exit_code",
		      r.exit_code >= 0 ? r.exit_code : 128 + r.signal, "signal",
		      r.signal > 0 ? json_integer(r.signal) : json_null(), "wall_time_ms",
		      (json_int_t)r.wall_time_ms, "cpu_time_ms", (json_int_t)r.cpu_time_ms,
		      "peak_mem_mb", (json_int_t)r.peak_mem_mb, "timed_out", r.timed_out,
		      "oom_killed", r.oom_killed, "truncated_stdout", r.truncated_stdout,
		      "truncated_stderr", r.truncated_stderr, "violations", r.violations));
	json_object_set_new(rc->rec, "layers", json_string(r.layers));
	if (r.violations > 0) {
		m->violations += r.violations;
		send_stats(m);
	}
	double secs = (double)r.wall_time_ms / 1000.0;
	al_run_result_free(&r);
	if (res == NULL) {
		gw_apierr_set(&e, 500, "runner_error", "out of memory");
		finish_run(rc, 500, &e, NULL, 0);
		return;
	}
	finish_run(rc, 200, NULL, res, secs);
	json_decref(res);
}

static bool run_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 3 || n > 63 || strncmp(s, "r-", 2) != 0)
		return false;
	for (s += 2; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static void handle_find(struct gw_mon *m, uint64_t id, const char *run_id, const char *token,
			size_t token_len)
{
	struct gw_apierr e;
	struct gw_who who;
	al_err err = {0};
	json_t *arr = NULL;

	if (gw_authenticate(&m->sh->auth, token, token_len, NULL, &who, &e) < 0) {
		respond_err(m, id, &e, NULL, meta_of("/v1/runs", NULL, false, NULL, NULL));
		return;
	}
	if (!run_id_ok(run_id)) {
		gw_apierr_set(&e, 404, "not_found", "no run %.80s", run_id);
		respond_err(m, id, &e, NULL, meta_of("/v1/runs", NULL, false, NULL, NULL));
		return;
	}
	if (al_audit_find_run(al_audit_path(m->audit), run_id, &arr, &err) < 0) {
		gw_log("run lookup: %s", err.msg);
		arr = json_array();
	}
	/* with tokens, only the caller's own runs */
	json_t *mine = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(arr, i, r)
	{
		const char *ident = json_string_value(json_object_get(r, "identity"));
		if (!m->sh->auth.enabled || (ident && strcmp(ident, who.identity) == 0))
			json_array_append(mine, r);
	}
	json_decref(arr);
	if (json_array_size(mine) == 0) {
		json_decref(mine);
		gw_apierr_set(&e, 404, "not_found", "no run %s in the audit log", run_id);
		respond_err(m, id, &e, NULL, meta_of("/v1/runs", NULL, false, NULL, NULL));
		return;
	}
	respond(m, id, 200, json_pack("{s:s,s:o}", "run_id", run_id, "records", mine),
		meta_of("/v1/runs", NULL, false, NULL, NULL));
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
		handle_req(m, id, route, tok, toklen, body);
		return;
	}
	if (strcmp(t, "find_run") == 0) {
		json_t *rid = json_object_get(msg, "run_id");
		if (!keys_only(msg, find_keys) || !json_is_string(rid) ||
		    json_string_length(rid) > 64 || !get_token(msg, &tok, &toklen))
			goto bad;
		handle_find(m, id, json_string_value(rid), tok, toklen);
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

int gw_monitor_swap_policy(struct gw_mon *m, struct al_policy *np)
{
	struct polref *nr = calloc(1, sizeof(*nr));

	if (nr == NULL)
		return -1;
	nr->p = np;
	nr->refs = 1;
	polref_put(m->pol);
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
	send_stats(m);
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
		return al_err_wrap(err, "audit log (--audit)");
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
	return audit(m, rec, NULL);
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
	polref_put(m->pol);
}
