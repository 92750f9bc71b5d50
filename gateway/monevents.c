/* Events the monitor handles besides requests: policy reloads (SIGHUP) and
 * sandbox_violation events from agentlaunch (--violation-fd: JSON lines,
 * hostile input: only known fields are copied, each checked and bounded). */
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "../policy/policy.h"
#include "../shared/cleanup.h"
#include "../shared/util.h"
#include "monitor.h"

#define VIOL_LINE_MAX (64u << 10)

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

/* ---- policy reload ------------------------------------------------------- */

void gw_monitor_reload(struct gw_mon *m)
{
	al_err err = {0};
	struct al_policy *np = NULL;
	cleanup_free char *raw = NULL;
	size_t len = 0;

	if (al_read_file(m->cfg->policy_file, 4u << 20, &raw, &len, &err) < 0 ||
	    al_policy_load_buf(raw, len, m->cfg->policy_file, &np, &err) < 0) {
		gw_log("policy reload FAILED, keeping the current policy (sha256 %s): %s",
		       gw_monitor_policy_sha(m), err.msg);
		json_t *r =
		    json_pack("{s:s,s:s,s:s,s:s}", "event", "policy_reload", "result", "rejected",
			      "error", err.msg, "policy_sha256", gw_monitor_policy_sha(m));
		if (r)
			gw_monitor_audit(m, r);
		json_decref(r);
		return;
	}
	json_t *msg = json_pack("{s:s,s:s%}", "t", "policy", "text", raw, len);
	char old[65];
	snprintf(old, sizeof(old), "%s", gw_monitor_policy_sha(m));
	if (msg == NULL || gw_monitor_swap_policy(m, np) < 0) {
		gw_log("policy reload failed: out of memory (or the file is not UTF-8)");
		json_decref(msg);
		al_policy_free(np);
		return;
	}
	gw_monitor_send(m, msg);
	gw_log("policy reloaded from %s: sha256 %s (was %s)", m->cfg->policy_file, np->sha256, old);
	json_t *r = json_pack("{s:s,s:s,s:s,s:s}", "event", "policy_reload", "result", "loaded",
			      "previous_sha256", old, "policy_sha256", np->sha256);
	if (r)
		gw_monitor_audit(m, r);
	json_decref(r);
}

/* ---- sandbox_violation events from agentlaunch (--violation-fd) ------------ */

static void violation_line(struct gw_mon *m, const char *line, size_t n)
{
	json_error_t je;
	cleanup_json json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	json_t *v;

	if (j == NULL || !json_is_object(j)) {
		gw_log("violation channel: ignoring a line that is not a JSON object");
		return;
	}
	json_t *rec = json_pack("{s:s,s:s}", "event", "sandbox_violation", "source", "agentlaunch");
	if (rec == NULL)
		return;
	/* copy only known fields, each checked and bounded */
	if (json_is_integer(v = json_object_get(j, "pid")))
		json_object_set(rec, "pid", v);
	const char *sc = json_string_value(json_object_get(j, "syscall"));
	json_object_set_new(rec, "syscall", json_stringn(sc ? sc : "?", sc ? strnlen(sc, 64) : 1));
	const char *path = json_string_value(json_object_get(j, "path"));
	if (path)
		json_object_set_new(rec, "path", json_stringn(path, strnlen(path, 4096)));
	if (json_is_array(v = json_object_get(j, "argv"))) {
		json_t *a = json_array();
		size_t i;
		json_t *s;
		json_array_foreach(v, i, s)
		{
			if (i >= 256 || !json_is_string(s))
				break;
			json_array_append_new(a, json_stringn(json_string_value(s),
							      strnlen(json_string_value(s), 4096)));
		}
		json_object_set_new(rec, "argv", a);
	}
	const char *ident = json_string_value(json_object_get(j, "identity"));
	json_object_set_new(rec, "identity",
			    json_string(ident && al_identity_valid(ident) ? ident : "unknown"));
	json_object_set_new(rec, "identity_verified", json_false());
	const char *rid = json_string_value(json_object_get(j, "run_id"));
	if (rid && run_id_ok(rid))
		json_object_set_new(rec, "run_id", json_string(rid));
	gw_monitor_audit(m, rec);
	json_decref(rec);
	m->violations++;
	gw_monitor_stats(m);
}

static void on_violation(evutil_socket_t fd, short what, void *arg)
{
	struct gw_mon *m = arg;
	char buf[8192];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			gw_log("violation channel closed");
			event_del(m->ev_viol);
			return;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				if (!m->viol_skip && m->viol_len > 0)
					violation_line(m, m->viol_buf, m->viol_len);
				m->viol_len = 0;
				m->viol_skip = false;
			} else if (m->viol_len < VIOL_LINE_MAX) {
				m->viol_buf[m->viol_len++] = buf[i];
			} else if (!m->viol_skip) {
				gw_log("violation channel: line longer than %u bytes dropped",
				       VIOL_LINE_MAX);
				m->viol_skip = true;
			}
		}
	}
}

int gw_monitor_violation_fd(struct gw_mon *m, int fd, al_err *err)
{
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return al_err_set(err, errno, "--violation-fd %d", fd);
	m->viol_buf = malloc(VIOL_LINE_MAX);
	m->ev_viol = event_new(m->base, fd, EV_READ | EV_PERSIST, on_violation, m);
	if (m->viol_buf == NULL || m->ev_viol == NULL || event_add(m->ev_viol, NULL) < 0)
		return al_err_set(err, ENOMEM, "--violation-fd");
	m->viol_fd = fd;
	return 0;
}
