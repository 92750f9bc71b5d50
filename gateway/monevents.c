/* Events the monitor handles besides requests: policy reloads (SIGHUP) and
 * the launcher's events from agentlaunch (--violation-fd: JSON lines,
 * sandbox_violation, agent_start, agent_exit; hostile input: only the known
 * fields of a known event are copied, each type-checked and bounded). */
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "../policy/policy.h"
#include "../shared/cleanup.h"
#include "../shared/runspec.h"
#include "../shared/util.h"
#include "auth.h"
#include "monitor.h"
#include "spawn.h"
#include "serve.h"

#define VIOL_LINE_MAX (64u << 10)

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
	/* warm sandboxes were prepared from the old profiles */
	if (m->sp)
		gw_spawner_flush_warm(m->sp);
	gw_log("policy reloaded from %s: sha256 %s (was %s)", m->cfg->policy_file, np->sha256, old);
	json_t *r = json_pack("{s:s,s:s,s:s,s:s}", "event", "policy_reload", "result", "loaded",
			      "previous_sha256", old, "policy_sha256", np->sha256);
	if (r)
		gw_monitor_audit(m, r);
	json_decref(r);
}

/* ---- launcher events from agentlaunch (--violation-fd) ------------------- */

/* Each line is one JSON object naming its "event" (a line without one is a
 * sandbox_violation, as the first launchers sent them).  Per event, a
 * whitelist of fields with their types and bounds; anything else is
 * dropped, a listed field of the wrong type or out of bounds is dropped and
 * named in "rejected_fields".  Unknown events are logged, not recorded. */

enum ftype {
	F_INT,	    /* integer in [lo, hi] */
	F_INT_NULL, /* integer in [lo, hi] or null */
	F_STR,	    /* string, cut to max bytes (at a UTF-8 boundary) */
	F_ARGV,	    /* array of strings: at most 256, each cut to 4096 bytes */
	F_STRS,	    /* array of strings: at most 64, each cut to max bytes */
	F_HEX,	    /* 1..max lowercase hex digits */
	F_BOOL,
	F_LAYERS, /* agent_start's isolation layers (layer_fields) */
};

struct field {
	const char *name;
	enum ftype type;
	json_int_t lo, hi;
	size_t max;
};

#define PID_MAX_F 4194304

static const struct field viol_fields[] = {
    {"pid", F_INT, 0, PID_MAX_F, 0},
    {"syscall", F_STR, 0, 0, 64},
    {"path", F_STR, 0, 0, 4096},
    {"argv", F_ARGV, 0, 0, 4096},
    {"repeats", F_INT, 1, 1000000000000LL, 0},
    {"launch_id", F_HEX, 0, 0, 64},
    {NULL, 0, 0, 0, 0},
};

static const struct field start_fields[] = {
    {"argv", F_ARGV, 0, 0, 4096},    {"path", F_STR, 0, 0, 4096},
    {"pid", F_INT, 0, PID_MAX_F, 0}, {"launcher_pid", F_INT, 0, PID_MAX_F, 0},
    {"layers", F_LAYERS, 0, 0, 0},   {"warning", F_STR, 0, 0, 512},
    {"launch_id", F_HEX, 0, 0, 64},  {NULL, 0, 0, 0, 0},
};

static const struct field exit_fields[] = {
    {"exit_code", F_INT, -1, 255, 0},
    {"signal", F_INT_NULL, 1, 128, 0},
    {"duration_ms", F_INT, 0, 1000000000000LL, 0},
    {"violations", F_INT, 0, 1000000000000LL, 0},
    {"reason", F_STR, 0, 0, 256},
    {"launch_id", F_HEX, 0, 0, 64},
    {NULL, 0, 0, 0, 0},
};

/* launcher/lock.c, la_layers_json() */
static const struct field layer_fields[] = {
    {"net", F_STR, 0, 0, 32},
    {"veth", F_STR, 0, 0, 256},
    {"relays", F_STRS, 0, 0, 4200},
    {"namespaces", F_STRS, 0, 0, 32},
    {"landlock_abi", F_INT, -1, 1000, 0},
    {"seccomp", F_STR, 0, 0, 64},
    {"seccomp_denied", F_INT, 0, 100000, 0},
    {"exec_lock", F_BOOL, 0, 0, 0},
    {"no_new_privs", F_BOOL, 0, 0, 0},
    {"capabilities", F_STR, 0, 0, 64},
    {"uid", F_INT, -1, 4294967295LL, 0},
    {"gid", F_INT, -1, 4294967295LL, 0},
    {"workdir", F_STR, 0, 0, 4096},
    {NULL, 0, 0, 0, 0},
};

static const struct {
	const char *name;
	const struct field *fields;
} launcher_events[] = {
    {"sandbox_violation", viol_fields},
    {"agent_start", start_fields},
    {"agent_exit", exit_fields},
};

/* s (len bytes, valid UTF-8) cut to at most max bytes without splitting a
 * character. */
static json_t *bounded_string(const char *s, size_t len, size_t max)
{
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	return json_stringn(s, len);
}

static json_t *string_array(json_t *v, size_t n_max, size_t each_max)
{
	json_t *a = json_array(), *s;
	size_t i;

	if (a == NULL)
		return NULL;
	json_array_foreach(v, i, s)
	{
		if (i >= n_max)
			break;
		if (!json_is_string(s)) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(
		    a, bounded_string(json_string_value(s), json_string_length(s), each_max));
	}
	return a;
}

static bool hex_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void copy_fields(json_t *dst, json_t *src, const struct field *fields, json_t *rejected,
			const char *prefix);

/* The checked copy of one field, or NULL when it is not acceptable. */
static json_t *copy_value(json_t *v, const struct field *f, json_t *rejected)
{
	json_int_t x;

	switch (f->type) {
	case F_INT_NULL:
		if (json_is_null(v))
			return json_null();
		/* fall through */
	case F_INT:
		if (!json_is_integer(v))
			return NULL;
		x = json_integer_value(v);
		return x >= f->lo && x <= f->hi ? json_integer(x) : NULL;
	case F_STR:
		return json_is_string(v)
			   ? bounded_string(json_string_value(v), json_string_length(v), f->max)
			   : NULL;
	case F_ARGV:
		return json_is_array(v) ? string_array(v, 256, f->max) : NULL;
	case F_STRS:
		return json_is_array(v) ? string_array(v, 64, f->max) : NULL;
	case F_HEX:
		return json_is_string(v) &&
			       hex_ok(json_string_value(v), json_string_length(v), f->max)
			   ? json_string(json_string_value(v))
			   : NULL;
	case F_BOOL:
		return json_is_boolean(v) ? json_boolean(json_is_true(v)) : NULL;
	case F_LAYERS: {
		if (!json_is_object(v))
			return NULL;
		json_t *l = json_object();
		if (l)
			copy_fields(l, v, layer_fields, rejected, "layers.");
		return l;
	}
	}
	return NULL;
}

static void copy_fields(json_t *dst, json_t *src, const struct field *fields, json_t *rejected,
			const char *prefix)
{
	for (const struct field *f = fields; f->name; f++) {
		json_t *v = json_object_get(src, f->name);
		if (v == NULL)
			continue;
		json_t *c = copy_value(v, f, rejected);
		if (c == NULL) {
			char name[64];
			snprintf(name, sizeof(name), "%s%s", prefix, f->name);
			json_array_append_new(rejected, json_string(name));
			continue;
		}
		json_object_set_new(dst, f->name, c);
	}
}

/* The record's identity: the launcher's agent, as registered over
 * --token-fd.  A line may name it ("identity"); a name that is not a
 * registered launcher identity is recorded as claimed but unverified. */
static void set_identity(struct gw_mon *m, json_t *rec, json_t *line)
{
	json_t *iv = json_object_get(line, "identity");
	const char *claim = json_string_value(iv), *only = NULL;
	bool valid = claim && strlen(claim) == json_string_length(iv) && al_identity_valid(claim);
	bool registered = gw_auth_launcher_identity(&m->sh->auth, valid ? claim : NULL, &only);

	if (iv == NULL && only) {
		json_object_set_new(rec, "identity", json_string(only));
		json_object_set_new(rec, "identity_verified", json_true());
		return;
	}
	json_object_set_new(rec, "identity", json_string(valid ? claim : "unknown"));
	json_object_set_new(rec, "identity_verified", json_boolean(valid && registered));
	if (!(valid && registered) && only) {
		/* launched with a registered identity, and the line names another */
		json_object_set_new(rec, "identity_error",
				    json_string(valid ? "not the launcher's registered identity"
						      : "invalid identity"));
		json_object_set_new(rec, "launcher_identity", json_string(only));
	}
}

/* s for a log line: printable ASCII, cut to fit out. */
static const char *printable(const char *s, char *out, size_t n)
{
	size_t k = 0;

	for (; *s && k + 4 < n; s++)
		out[k++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
	if (*s) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

static void launcher_line(struct gw_mon *m, const char *line, size_t n)
{
	json_error_t je;
	cleanup_json json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL || !json_is_object(j)) {
		gw_log("launcher events: ignoring a line that is not a JSON object");
		return;
	}
	json_t *ev = json_object_get(j, "event");
	const char *name = ev ? json_string_value(ev) : "sandbox_violation";
	if (name && ev && strlen(name) != json_string_length(ev))
		name = NULL; /* an embedded NUL */
	const struct field *fields = NULL;
	for (size_t i = 0; name && i < sizeof(launcher_events) / sizeof(launcher_events[0]); i++)
		if (strcmp(name, launcher_events[i].name) == 0)
			fields = launcher_events[i].fields;
	if (fields == NULL) {
		char shown[80];
		gw_log("launcher events: ignoring an unknown event \"%s\"",
		       name ? printable(name, shown, sizeof(shown)) : "(not a string)");
		return;
	}
	cleanup_json json_t *rec = json_pack("{s:s,s:s}", "event", name, "source", "agentlaunch");
	json_t *rejected = json_array();
	if (rec == NULL || rejected == NULL) {
		json_decref(rejected);
		return;
	}
	copy_fields(rec, j, fields, rejected, "");
	set_identity(m, rec, j);
	json_int_t count = 0;
	if (fields == viol_fields) {
		if (json_object_get(rec, "syscall") == NULL)
			json_object_set_new(rec, "syscall", json_string("?"));
		const char *rid = json_string_value(json_object_get(j, "run_id"));
		if (rid && al_run_id_valid(rid))
			json_object_set_new(rec, "run_id", json_string(rid));
		json_t *rp = json_object_get(rec, "repeats");
		count = rp ? json_integer_value(rp) : 1;
	}
	if (json_array_size(rejected) > 0)
		json_object_set_new(rec, "rejected_fields", rejected);
	else
		json_decref(rejected);
	gw_monitor_audit(m, rec);
	const char *warning = json_string_value(json_object_get(rec, "warning"));
	if (fields == start_fields && warning) {
		char shown[256];
		gw_log("WARNING from agentlaunch (recorded in the audit log): %s",
		       printable(warning, shown, sizeof(shown)));
	}
	if (count > 0) {
		m->violations += count;
		gw_monitor_stats(m);
	}
}

/* Read what is there: 0 when the channel would block, 1 at its end. */
static int launcher_read(struct gw_mon *m)
{
	char buf[8192];

	for (;;) {
		ssize_t r = read(m->viol_fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0) {
			/* a last line without its newline is still one */
			if (!m->viol_skip && m->viol_len > 0)
				launcher_line(m, m->viol_buf, m->viol_len);
			m->viol_len = 0;
			m->viol_skip = false;
			event_del(m->ev_viol);
			m->viol_eof = true;
			gw_log("launcher event channel closed");
			return 1;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				if (!m->viol_skip && m->viol_len > 0)
					launcher_line(m, m->viol_buf, m->viol_len);
				m->viol_len = 0;
				m->viol_skip = false;
			} else if (m->viol_len < VIOL_LINE_MAX) {
				m->viol_buf[m->viol_len++] = buf[i];
			} else if (!m->viol_skip) {
				gw_log("launcher events: line longer than %u bytes dropped",
				       VIOL_LINE_MAX);
				m->viol_skip = true;
			}
		}
	}
}

static void on_violation(evutil_socket_t fd, short what, void *arg)
{
	launcher_read(arg);
}

void gw_monitor_drain_launcher(struct gw_mon *m, int timeout_ms)
{
	if (m->viol_fd < 0 || m->viol_eof)
		return;
	int64_t until = al_now_ms() + timeout_ms;
	while (launcher_read(m) == 0) {
		int64_t left = until - al_now_ms();
		if (left <= 0) {
			gw_log("launcher events: no end of the channel within %d ms: not waiting "
			       "longer",
			       timeout_ms);
			return;
		}
		struct pollfd p = {m->viol_fd, POLLIN, 0};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return;
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
