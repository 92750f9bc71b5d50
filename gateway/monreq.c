/* The monitor's requests: /v1/exec and /v1/run (validate again,
 * authenticate again, rate limit, decide, audit, build the run spec, spawn
 * agentrun, answer) and run lookups.  See monitor.c for the channel. */
#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policy/policy.h"
#include "../shared/audit.h"
#include "../shared/cleanup.h"
#include "../shared/runspec.h"
#include "../shared/util.h"
#include "decide.h"
#include "monitor.h"
#include "ratelimit.h"
#include "req.h"
#include "serve.h"
#include "spawn.h"

/* A run between spawning agentrun and answering. */
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
	json_object_set_new(r, "policy_sha256", json_string(gw_monitor_policy_sha(m)));
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
/* The warm pool's key for spec j (see gw_spawner_submit): the same spec
 * with nothing of the request in it -- a placeholder run id, identity,
 * argv or code, the profile's own limits, no stdin, env or cwd.  NULL when
 * it cannot be built (the run then goes to a cold runner). */
static char *warm_key(json_t *j, const struct al_profile *pr)
{
	json_t *k = json_deep_copy(j);
	struct al_limits eff;
	char *out = NULL;

	if (k == NULL)
		return NULL;
	al_limits_effective(&pr->limits, NULL, &eff); /* the profile's own */
	json_object_set_new(k, "run_id", json_string("r-0"));
	json_object_set_new(k, "identity", json_string("warm"));
	json_object_set_new(k, "limits", al_limits_to_json(&eff));
	json_object_del(k, "stdin");
	json_object_del(k, "env");
	json_object_del(k, "cwd");
	if (json_object_get(k, "code"))
		json_object_set_new(k, "code", json_string("pass"));
	else
		json_object_set_new(k, "argv", json_pack("[s]", "/bin/true"));
	out = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(k);
	return out;
}

/* The key depends only on the policy, the profile, the kind of run and
 * the uid: made once per policy (a per-request deep copy and sorted dump of
 * the profile costs more than the rest of the decision). */
#define KEYCACHE_N 32
static struct {
	char id[160];
	char *key;
} keycache[KEYCACHE_N];
static char keycache_sha[65];

static char *warm_key_cached(json_t *j, const struct al_profile *pr, const char *policy_sha)
{
	char id[160];
	json_t *uid = json_object_get(j, "uid"), *gid = json_object_get(j, "gid");

	if (policy_sha == NULL || pr->name == NULL)
		return warm_key(j, pr);
	if (strcmp(keycache_sha, policy_sha) != 0) {
		for (size_t i = 0; i < KEYCACHE_N; i++) {
			free(keycache[i].key);
			keycache[i].key = NULL;
			keycache[i].id[0] = '\0';
		}
		snprintf(keycache_sha, sizeof(keycache_sha), "%s", policy_sha);
	}
	snprintf(id, sizeof(id), "%s/%s/%lld:%lld", pr->name,
		 json_object_get(j, "code") ? "code" : "command",
		 (long long)json_integer_value(uid), (long long)json_integer_value(gid));
	size_t free_slot = KEYCACHE_N;
	for (size_t i = 0; i < KEYCACHE_N; i++) {
		if (keycache[i].key && strcmp(keycache[i].id, id) == 0)
			return strdup(keycache[i].key);
		if (keycache[i].key == NULL && free_slot == KEYCACHE_N)
			free_slot = i;
	}
	char *k = warm_key(j, pr);
	if (k && free_slot < KEYCACHE_N && (keycache[free_slot].key = strdup(k)) != NULL)
		snprintf(keycache[free_slot].id, sizeof(keycache[free_slot].id), "%s", id);
	return k;
}

static char *build_spec(const char *run_id, const char *identity, const struct gw_request *rq,
			const struct gw_plan *pl, const char *policy_sha, size_t *len, char **key,
			al_err *err)
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
		if (out && key)
			*key = warm_key_cached(j, pl->profile, policy_sha);
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

void gw_mon_handle_req(struct gw_mon *m, uint64_t id, const char *route, const char *token,
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
		gw_mon_respond_err(m, id, &e, NULL, gw_mon_meta(mroute, NULL, false, NULL, NULL));
		gw_req_free(&rq);
		return;
	}
	if (gw_authenticate(&m->sh->auth, token, token_len, rq.identity, &who, &e) < 0) {
		gw_log("the front end forwarded an unauthenticated request (%s): refused", e.msg);
		gw_mon_respond_err(m, id, &e, NULL, gw_mon_meta(mroute, NULL, false, NULL, NULL));
		gw_req_free(&rq);
		return;
	}
	if (gw_mon_audit_ready(m) < 0) {
		gw_mon_respond_audit_down(m, id, NULL);
		gw_req_free(&rq);
		return;
	}
	const struct al_policy *p = gw_mon_policy(m);
	int64_t retry =
	    gw_rl_hit(m->rl, who.identity, p->rate_max, p->rate_window_sec * 1000, al_now_ms());
	if (retry > 0) {
		json_t *rec = record_base(m, "rate_limited", &who, NULL);
		json_object_set_new(rec, "endpoint", json_string(mroute));
		json_object_set_new(rec, "max_commands", json_integer(p->rate_max));
		json_object_set_new(rec, "window_seconds", json_integer(p->rate_window_sec));
		json_object_set_new(rec, "retry_after", json_integer(retry));
		int rc = gw_mon_audit(m, rec, NULL);
		json_decref(rec);
		if (rc < 0) {
			gw_mon_respond_audit_down(m, id, NULL);
		} else {
			gw_apierr_set(&e, 429, "rate_limited",
				      "identity %s sent more than %lld requests in %lld s; retry "
				      "after %lld s",
				      who.identity, (long long)p->rate_max,
				      (long long)p->rate_window_sec, (long long)retry);
			json_t *meta = gw_mon_meta(mroute, NULL, false, NULL, NULL);
			json_object_set_new(meta, "retry_after", json_integer(retry));
			gw_mon_respond_err(m, id, &e, NULL, meta);
		}
		gw_req_free(&rq);
		return;
	}

	char hex[17];
	if (al_random_hex(hex, 8, &err) < 0) {
		gw_apierr_set(&e, 503, "overloaded", "no randomness for a run id: %s", err.msg);
		gw_mon_respond_err(m, id, &e, NULL, NULL);
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
	char *spec = NULL, *key = NULL;
	size_t spec_len = 0;
	if (status == 0) {
		spec = build_spec(run_id, who.identity, &rq, &pl, gw_monitor_policy_sha(m), &spec_len,
				  &key, &err);
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
		if (gw_mon_audit(m, rec, &written) < 0) {
			gw_mon_respond_audit_down(m, id, run_id);
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
			gw_mon_respond(m, id, 403, b,
				       gw_mon_meta(mroute, rule, pl.rule, decision, written));
			written = NULL;
		} else {
			gw_mon_respond_err(m, id, &e, run_id,
					   gw_mon_meta(mroute, rule, pl.rule, decision, written));
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
		free(key);
		json_decref(rec);
		gw_apierr_set(&e, 503, "overloaded", "out of memory");
		gw_mon_respond_err(m, id, &e, run_id, NULL);
		gw_plan_free(&pl);
		gw_req_free(&rq);
		return;
	}
	rc->m = m;
	rc->pol = gw_mon_policy_get(m);
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
	if (gw_spawner_submit(m->sp, spec, spec_len, key, dog, run_done, rc) < 0) {
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
	if (gw_mon_audit(m, rc->rec, &written) < 0) {
		gw_mon_respond_audit_down(m, rc->id, rc->run_id);
	} else {
		json_t *meta = gw_mon_meta(route, rc->rule, rc->has_rule, rc->decision, written);
		if (status == 200) {
			json_object_set_new(meta, "run_seconds", json_real(seconds));
			json_object_update(rc->head, result);
			gw_mon_respond(m, rc->id, 200, json_incref(rc->head), meta);
		} else {
			gw_mon_respond_err(m, rc->id, e, rc->run_id, meta);
		}
	}
	json_decref(rc->rec);
	json_decref(rc->head);
	gw_mon_policy_put(rc->pol);
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
		gw_monitor_stats(m);
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

void gw_mon_handle_find(struct gw_mon *m, uint64_t id, const char *run_id, const char *token,
			size_t token_len)
{
	struct gw_apierr e;
	struct gw_who who;
	al_err err = {0};
	json_t *arr = NULL;

	if (gw_authenticate(&m->sh->auth, token, token_len, NULL, &who, &e) < 0) {
		gw_mon_respond_err(m, id, &e, NULL,
				   gw_mon_meta("/v1/runs", NULL, false, NULL, NULL));
		return;
	}
	if (!al_run_id_valid(run_id)) {
		gw_apierr_set(&e, 404, "not_found", "no run %.80s", run_id);
		gw_mon_respond_err(m, id, &e, NULL,
				   gw_mon_meta("/v1/runs", NULL, false, NULL, NULL));
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
		gw_mon_respond_err(m, id, &e, NULL,
				   gw_mon_meta("/v1/runs", NULL, false, NULL, NULL));
		return;
	}
	gw_mon_respond(m, id, 200, json_pack("{s:s,s:o}", "run_id", run_id, "records", mine),
		       gw_mon_meta("/v1/runs", NULL, false, NULL, NULL));
}
