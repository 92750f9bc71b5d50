/* Request -> decision (see decide.h).
 *
 * Which profile resolves the program: the request's "profile" (it must
 * exist and suit the request's kind) or the kind's default
 * ("command_default" / "python_sandbox", else the first profile of that
 * kind).  After the decision the matched rule's profile, when it names
 * one, replaces it; the program must then resolve to the same file under
 * that profile too, or nothing runs. */
#include <jansson.h>

#include "decide.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../policy/match.h"
#include "../policy/words.h"
#include "../shared/cleanup.h"
#include "../shared/util.h"

static bool suits(const struct al_profile *pr, const struct gw_request *rq)
{
	if (rq->kind == AL_KIND_CODE)
		return pr->language && rq->language && strcmp(pr->language, rq->language) == 0 &&
		       pr->interpreter;
	return pr->language == NULL;
}

static const struct al_profile *default_profile(const struct al_policy *p,
						const struct gw_request *rq)
{
	const struct al_profile *pr = al_policy_find_profile(
	    p, rq->kind == AL_KIND_CODE ? "python_sandbox" : "command_default");
	if (pr && suits(pr, rq))
		return pr;
	for (size_t i = 0; i < p->n_profiles; i++)
		if (suits(&p->profiles[i], rq))
			return &p->profiles[i];
	return NULL;
}

static void deny(struct gw_plan *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void deny(struct gw_plan *pl, const char *fmt, ...)
{
	va_list ap;

	pl->runnable = false;
	pl->allowed = false;
	pl->audit_override = false;
	pl->has_reason = true;
	va_start(ap, fmt);
	vsnprintf(pl->reason, sizeof(pl->reason), fmt, ap);
	va_end(ap);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The host directory a relative program name ("./x") is resolved in: the
 * workspace, or the part of it the request's cwd names. */
static void host_cwd(const struct al_profile *pr, const struct gw_request *rq, const char *ws,
		     char *out, size_t n)
{
	const char *c = rq->cwd;
	size_t cl = pr->fs.cwd ? strlen(pr->fs.cwd) : 0;

	if (c && cl && strncmp(c, pr->fs.cwd, cl) == 0 && c[cl] == '/' && strcmp(pr->fs.cwd, "/"))
		snprintf(out, n, "%s%s", ws, c + cl);
	else
		snprintf(out, n, "%s", ws);
}

static int resolve(const struct al_profile *pr, const struct gw_request *rq, const char *identity,
		   const char *name, char *exe, size_t n, bool *named, al_err *err)
{
	char ws[PATH_MAX], cwd[PATH_MAX];

	if (al_workspace_path(pr->fs.workspace, identity, ws, sizeof(ws), err) < 0)
		return -1;
	host_cwd(pr, rq, ws, cwd, sizeof(cwd));
	return al_resolve_executable(name, pr->path, &pr->fs.read_only, cwd, exe, n, named, err);
}

static char **strv_dup(const char *const *v, size_t n)
{
	char **out = calloc(n + 1, sizeof(char *));

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((out[i] = strdup(v[i])) == NULL) {
			al_strv_free(out);
			return NULL;
		}
	return out;
}

static void apply_decision(struct gw_plan *pl, const struct al_decision *d)
{
	pl->rule = d->rule;
	pl->allowed = d->effect == AL_EFFECT_ALLOW;
	pl->audit_override = d->audit_mode_override;
	pl->has_reason = d->reason != NULL;
	snprintf(pl->reason, sizeof(pl->reason), "%s", d->reason ? d->reason : "");
}

static void plan_command(const struct al_policy *p, const struct gw_request *rq,
			 const char *identity, const struct al_profile *p0, struct gw_plan *pl)
{
	al_err err = {0}, shell_err = {0};
	size_t argc = 0;
	bool named = false;

	if (rq->argv) {
		pl->argv = strv_dup(rq->argv, rq->argc);
		argc = rq->argc;
		cleanup_free char *joined = pl->argv ? al_args_join(pl->argv, 0) : NULL;
		pl->command = TAKE_PTR(joined);
	} else {
		int r = al_split_words(rq->command, rq->command_len, &pl->argv, &argc, &err);
		if (r == AL_WORDS_SHELL_SYNTAX) {
			shell_err = err;
			const char *sh[] = {"sh", "-c", rq->command};
			pl->argv = strv_dup(sh, 3);
			argc = 3;
			pl->shell = true;
		} else if (r < 0) {
			pl->failed = true;
			gw_apierr_set(&pl->err, 400, "bad_field", "field 'command': %s", err.msg);
			return;
		}
		pl->command = strdup(rq->command);
	}
	if (pl->argv == NULL || pl->command == NULL) {
		deny(pl, "out of memory");
		return;
	}
	if (p0 == NULL) {
		deny(pl, "the policy has no command profile");
		return;
	}
	pl->profile = p0;
	if (resolve(p0, rq, identity, pl->argv[0], pl->exe, sizeof(pl->exe), &named, &err) < 0) {
		if (pl->shell) {
			pl->failed = true;
			gw_apierr_set(&pl->err, 400, "shell_syntax", "%s", shell_err.msg);
			return;
		}
		deny(pl, "%s", err.msg);
		return;
	}
	snprintf(pl->matched_executable, sizeof(pl->matched_executable), "%s",
		 pl->shell ? "sh" : base_name(pl->exe));
	cleanup_free char *args = al_args_join(pl->argv, 1);
	if (args == NULL) {
		deny(pl, "out of memory");
		return;
	}
	struct al_request_view view = {
	    .kind = AL_KIND_COMMAND,
	    .executable = pl->matched_executable,
	    .path = pl->exe,
	    .args = args,
	    .identity = identity,
	    .named_path = named,
	};
	struct al_decision d;
	al_policy_decide(p, &view, &d);
	apply_decision(pl, &d);
	pl->runnable = true;
	const struct al_profile *pr = d.profile ? d.profile : p0;
	pl->profile = pr;
	if (pl->shell && !pr->shell) {
		pl->failed = true;
		gw_apierr_set(&pl->err, 400, "shell_syntax",
			      "%s (shell syntax runs only under a profile with \"shell\": true)",
			      shell_err.msg);
		return;
	}
	if (pr != p0) {
		char exe2[PATH_MAX];
		bool named2 = false;
		if (pr->language != NULL) {
			deny(pl, "rule %s names profile %s, which runs code, not commands",
			     d.rule ? d.rule->id : "(default)", pr->name);
			return;
		}
		if (resolve(pr, rq, identity, pl->argv[0], exe2, sizeof(exe2), &named2, &err) < 0) {
			deny(pl, "under profile %s: %s", pr->name, err.msg);
			return;
		}
		if (strcmp(exe2, pl->exe) != 0) {
			deny(pl, "%s resolves to %s under profile %s but to %s under %s",
			     pl->argv[0], exe2, pr->name, pl->exe, p0->name);
			return;
		}
	}
	char *abs = strdup(pl->exe);
	if (abs == NULL) {
		deny(pl, "out of memory");
		return;
	}
	free(pl->argv[0]);
	pl->argv[0] = abs;
}

static void plan_code(const struct al_policy *p, const struct gw_request *rq, const char *identity,
		      const struct al_profile *p0, struct gw_plan *pl)
{
	al_sha256_hex(rq->code, rq->code_len, pl->code_sha256);
	if (p0 == NULL) {
		deny(pl, "the policy has no %s profile", rq->language);
		return;
	}
	pl->profile = p0;
	if (realpath(p0->interpreter, pl->exe) == NULL) {
		deny(pl, "interpreter %s of profile %s: %s", p0->interpreter, p0->name,
		     strerror(errno));
		return;
	}
	snprintf(pl->matched_executable, sizeof(pl->matched_executable), "%s",
		 base_name(p0->interpreter));
	struct al_request_view view = {
	    .kind = AL_KIND_CODE,
	    .executable = pl->matched_executable,
	    .path = pl->exe,
	    .args = "",
	    .identity = identity,
	};
	struct al_decision d;
	al_policy_decide(p, &view, &d);
	apply_decision(pl, &d);
	pl->runnable = true;
	const struct al_profile *pr = d.profile ? d.profile : p0;
	pl->profile = pr;
	if (pr != p0 && (!suits(pr, rq) || strcmp(pr->interpreter, p0->interpreter) != 0))
		deny(pl, "rule %s names profile %s, which does not run %s code with %s",
		     d.rule ? d.rule->id : "(default)", pr->name, rq->language, p0->interpreter);
}

void gw_plan_build(const struct al_policy *p, const struct gw_request *rq, const char *identity,
		   struct gw_plan *pl)
{
	const struct al_profile *p0 = NULL;
	al_err err = {0};

	memset(pl, 0, sizeof(*pl));
	al_limits_init(&pl->limits);
	if (rq->profile) {
		p0 = al_policy_find_profile(p, rq->profile);
		if (p0 == NULL || !suits(p0, rq)) {
			pl->failed = true;
			gw_apierr_set(&pl->err, 400, "bad_field",
				      p0 ? "field 'profile': profile '%.128s' cannot run %s"
					 : "field 'profile': the policy has no profile '%.128s'%s",
				      rq->profile,
				      p0 ? (rq->kind == AL_KIND_CODE ? "code" : "commands") : "");
			return;
		}
	} else {
		p0 = default_profile(p, rq);
	}
	if (rq->kind == AL_KIND_CODE)
		plan_code(p, rq, identity, p0, pl);
	else
		plan_command(p, rq, identity, p0, pl);
	if (pl->failed || pl->profile == NULL)
		return;
	al_limits_effective(&pl->profile->limits, &rq->limits, &pl->limits);
	if (al_workspace_path(pl->profile->fs.workspace, identity, pl->workspace,
			      sizeof(pl->workspace), &err) < 0)
		deny(pl, "%s", err.msg);
}

void gw_plan_free(struct gw_plan *pl)
{
	al_strv_free(pl->argv);
	pl->argv = NULL;
	free(pl->command);
	pl->command = NULL;
}

static void add_mount(json_t *a, const char *src, const char *dst, const char *mode)
{
	json_array_append_new(
	    a, json_pack("{s:s?,s:s,s:s}", "source", src, "target", dst, "mode", mode));
}

json_t *gw_plan_mounts(const struct gw_plan *pl)
{
	json_t *a = json_array();
	const struct al_profile *pr = pl->profile;

	if (a == NULL || pr == NULL)
		return a;
	if (pr->fs.cwd && pl->workspace[0])
		add_mount(a, pl->workspace, pr->fs.cwd, "rw");
	for (size_t i = 0; i < pr->fs.read_only.n; i++)
		add_mount(a, pr->fs.read_only.v[i], pr->fs.read_only.v[i], "ro");
	for (size_t i = 0; i < pr->fs.read_write.n; i++)
		add_mount(a, pr->fs.read_write.v[i], pr->fs.read_write.v[i], "rw");
	for (size_t i = 0; i < pr->fs.tmpfs.n; i++)
		add_mount(a, "tmpfs", pr->fs.tmpfs.v[i], "tmpfs");
	for (size_t i = 0; i < pr->fs.deny.n; i++)
		add_mount(a, NULL, pr->fs.deny.v[i], "deny");
	return a;
}

json_t *gw_plan_to_json(const struct gw_plan *pl, const struct al_policy *p)
{
	json_t *o = json_object();
	const struct al_profile *pr = pl->profile;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "decision",
			    json_string(pl->runnable && pl->allowed ? "allow" : "deny"));
	json_object_set_new(o, "matched_rule", pl->rule ? json_string(pl->rule->id) : json_null());
	json_object_set_new(o, "reason", pl->has_reason ? json_string(pl->reason) : json_null());
	json_object_set_new(o, "profile", pr ? json_string(pr->name) : json_null());
	json_object_set_new(o, "limits", al_limits_to_json(&pl->limits));
	json_object_set_new(o, "mounts", gw_plan_mounts(pl));
	json_object_set_new(o, "network", json_string(pr && pr->network ? pr->network : "none"));
	json_object_set_new(o, "policy_sha256", json_string(p->sha256));
	json_object_set_new(o, "audit_mode", json_boolean(p->audit_mode));
	json_object_set_new(o, "would_run", json_boolean(gw_plan_runs(pl)));
	if (pl->matched_executable[0])
		json_object_set_new(o, "executable", json_string(pl->matched_executable));
	if (pl->exe[0])
		json_object_set_new(o, "path", json_string(pl->exe));
	if (pl->argv) {
		json_t *a = json_array();
		for (char **s = pl->argv; *s; s++)
			json_array_append_new(a, json_string(*s));
		json_object_set_new(o, "argv", a);
		json_object_set_new(o, "shell", json_boolean(pl->shell));
	}
	if (pl->code_sha256[0])
		json_object_set_new(o, "code_sha256", json_string(pl->code_sha256));
	return o;
}
