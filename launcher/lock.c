/* The seccomp lock's supervisor side and the launcher's audit events.
 *
 * Every denied exec/fork attempt reported by al_notify_handle() becomes a
 * `sandbox_violation` event; the launch itself is recorded as
 * `agent_start` / `agent_exit`.  Where they go:
 *   - a launcher that started agentgw writes them, one JSON object per
 *     line, to the pipe agentgw reads as --violation-fd (the gateway is
 *     the only writer of its audit log).  The pipe's write end is opened
 *     before the agent exists, is close-on-exec and never reaches the
 *     agent; writes are non-blocking with a bounded queue, so a stalled
 *     gateway cannot stall the supervisor (or the agent's notifications);
 *   - with --skip-gateway, the launcher appends them to its own --audit
 *     file through shared/audit.h, opening it per batch (other launches may
 *     share the file: each log has one writer at a time).
 *
 * The agent can make violations as fast as it can call execve; every one
 * is counted, but only LA_VIOL_BURST are recorded in full, then
 * LA_VIOL_RATE per second: the others are folded into one record per
 * second carrying the newest one's details and "repeats": N (the number
 * of attempts that record stands for).  The content read from the agent
 * is hostile: al_notify_handle() bounds and escapes it, and jansson
 * re-checks it as JSON. */
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "shared/audit.h"
#include "shared/cleanup.h"
#include "shared/landlock.h"
#include "shared/notify.h"
#include "shared/util.h"

#define QUEUE_MAX (4u << 20)
#define FILE_RETRY_US 10000

static void pipe_flush(struct la_ctx *c);

static void on_pipe(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* the gateway is gone: its exit is handled through its pidfd */
		c->sink.lost += c->sink.qlen ? 1 : 0;
		c->sink.qlen = 0;
	}
	pipe_flush(c);
}

static void pipe_flush(struct la_ctx *c)
{
	struct la_sink *s = &c->sink;
	size_t off = 0;

	while (off < s->qlen && s->pipe_fd >= 0) {
		ssize_t n = write(s->pipe_fd, s->q + off, s->qlen - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		s->lost++; /* EPIPE: the gateway is gone */
		off = s->qlen;
	}
	memmove(s->q, s->q + off, s->qlen - off);
	s->qlen -= off;
	if (s->pipe_fd < 0)
		return;
	bool want = s->qlen > 0;
	if (want && !s->w_added) {
		if (la_watch_add(c, &s->w, s->pipe_fd, EPOLLOUT, on_pipe, NULL) == 0)
			s->w_added = true;
	} else if (!want && s->w_added) {
		la_watch_del(c, &s->w);
		s->w_added = false;
	}
}

void la_sink_init(struct la_ctx *c)
{
	struct la_sink *s = &c->sink;

	memset(s, 0, sizeof(*s));
	s->pipe_fd = -1;
	s->tokens = LA_VIOL_BURST;
	s->refill_us = al_now_us();
	if (c->gw.viol_fd >= 0)
		s->pipe_fd = c->gw.viol_fd;
	else if (c->cfg->skip_gateway)
		s->file = c->cfg->audit;
	s->pending = json_array();
}

/* Common fields; the record goes out (or is queued). */
static void emit(struct la_ctx *c, json_t *rec)
{
	struct la_sink *s = &c->sink;

	json_object_set_new(rec, "identity", json_string(c->identity));
	json_object_set_new(rec, "launch_id", json_string(c->launch_id));
	const char *event = json_string_value(json_object_get(rec, "event"));
	if (s->pipe_fd >= 0 && !c->gw.launch_events && strcmp(event, "sandbox_violation") != 0)
		return; /* an older agentgw would record it as a violation */
	if (s->pipe_fd >= 0) {
		char *line = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII);
		size_t n = line ? strlen(line) : 0;
		if (line == NULL || s->qlen + n + 1 > QUEUE_MAX) {
			s->lost++;
			free(line);
			return;
		}
		if (s->qlen + n + 1 > s->qcap) {
			size_t cap = s->qcap ? s->qcap : 65536;
			while (cap < s->qlen + n + 1)
				cap *= 2;
			char *q = realloc(s->q, cap);
			if (q == NULL) {
				s->lost++;
				free(line);
				return;
			}
			s->q = q;
			s->qcap = cap;
		}
		memcpy(s->q + s->qlen, line, n);
		s->q[s->qlen + n] = '\n';
		s->qlen += n + 1;
		free(line);
		pipe_flush(c);
	} else if (s->file != NULL && s->pending != NULL) {
		json_object_set_new(rec, "identity_verified", json_false());
		json_object_set_new(rec, "source", json_string("agentlaunch"));
		json_object_set_new(rec, "policy_sha256",
				    c->gw.policy_sha[0] ? json_string(c->gw.policy_sha)
							: json_null());
		json_array_append(s->pending, rec);
	}
}

/* Append the pending records to the own audit file.  block: retry a busy
 * file for up to 2 s (teardown), else leave them for the next tick. */
static int file_flush(struct la_ctx *c, bool block, al_err *err)
{
	struct la_sink *s = &c->sink;
	struct al_audit *a = NULL;
	int64_t until = al_now_us() + 2000000;

	if (s->file == NULL || s->pending == NULL || json_array_size(s->pending) == 0)
		return 0;
	for (;;) {
		if (al_audit_open(s->file, NULL, false, &a, err) == 0)
			break;
		if (err->errnum != EBUSY || !block || al_now_us() > until) {
			if (!block && err->errnum == EBUSY)
				return 1; /* later */
			return -1;
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	size_t i;
	json_t *rec;
	int rc = 0;
	json_array_foreach((json_t *)s->pending, i, rec)
	{
		if (al_audit_write(a, rec, err) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		json_array_clear(s->pending);
	al_audit_close(a);
	return rc;
}

static json_t *violation_json(const struct al_violation *v)
{
	json_t *rec = json_pack("{s:s,s:i,s:s}", "event", "sandbox_violation", "pid", (int)v->pid,
				"syscall", v->syscall);

	if (rec == NULL)
		return NULL;
	if (v->argv_json[0] != '\0') {
		json_error_t je;
		json_t *argv = json_loads(v->argv_json, JSON_REJECT_DUPLICATES, &je);
		json_object_set_new(rec, "path", json_string(v->path));
		json_object_set_new(rec, "argv", json_is_array(argv) ? argv : json_array());
		if (!json_is_array(argv))
			json_decref(argv);
	}
	return rec;
}

void la_sink_violation(struct la_ctx *c, const struct al_violation *v)
{
	struct la_sink *s = &c->sink;
	int64_t now = al_now_us();

	s->total++;
	s->tokens += (double)(now - s->refill_us) * LA_VIOL_RATE / 1e6;
	if (s->tokens > LA_VIOL_BURST)
		s->tokens = LA_VIOL_BURST;
	s->refill_us = now;
	json_t *rec = violation_json(v);
	if (rec == NULL) {
		s->lost++;
		return;
	}
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
		s->recorded++;
		emit(c, rec);
		json_decref(rec);
		return;
	}
	s->suppressed++;
	if (s->last_suppressed)
		json_decref(s->last_suppressed);
	s->last_suppressed = rec;
	if (s->summary_due_us == 0)
		s->summary_due_us = now + 1000000;
}

static void summary(struct la_ctx *c)
{
	struct la_sink *s = &c->sink;
	json_t *rec = s->last_suppressed;

	if (rec == NULL || s->suppressed == 0)
		return;
	json_object_set_new(rec, "repeats", json_integer((json_int_t)s->suppressed));
	s->recorded++;
	emit(c, rec);
	json_decref(rec);
	s->last_suppressed = NULL;
	s->suppressed = 0;
	s->summary_due_us = 0;
}

void la_sink_event(struct la_ctx *c, void *json_rec)
{
	json_t *rec = json_rec;

	if (rec == NULL)
		return;
	emit(c, rec);
	json_decref(rec);
}

void la_sink_tick(struct la_ctx *c)
{
	struct la_sink *s = &c->sink;
	al_err err = {0};

	if (s->summary_due_us && al_now_us() >= s->summary_due_us)
		summary(c);
	if (s->file && s->pending && json_array_size(s->pending) > 0) {
		int r = file_flush(c, false, &err);
		if (r < 0) {
			la_warn("cannot write the audit log %s: %s", s->file, err.msg);
			s->lost += json_array_size(s->pending);
			json_array_clear(s->pending);
		} else if (r > 0 && s->summary_due_us == 0) {
			s->summary_due_us = al_now_us() + FILE_RETRY_US;
		}
	}
}

int64_t la_sink_next_timer(const struct la_ctx *c)
{
	return c->sink.summary_due_us;
}

void la_sink_finish(struct la_ctx *c)
{
	struct la_sink *s = &c->sink;
	al_err err = {0};

	summary(c);
	if (s->pipe_fd >= 0) {
		/* blocking, bounded: the gateway reads while it runs */
		int64_t until = al_now_us() + 2000000;
		while (s->qlen > 0 && al_now_us() < until) {
			pipe_flush(c);
			if (s->qlen > 0) {
				struct timespec ts = {0, 1000000};
				nanosleep(&ts, NULL);
			}
		}
		if (s->w_added)
			la_watch_del(c, &s->w);
		s->w_added = false;
		s->pipe_fd = -1;
	}
	if (s->file && file_flush(c, true, &err) < 0)
		la_warn("cannot write the audit log %s: %s", s->file, err.msg);
	if (s->lost > 0)
		la_warn("%llu audit event(s) could not be delivered", s->lost);
	json_decref(s->pending);
	s->pending = NULL;
	free(s->q);
	s->q = NULL;
	s->qlen = s->qcap = 0;
}

/* ----------------------------------------------- agent_start / agent_exit */

json_t *la_layers_json(const struct la_ctx *c)
{
	json_t *l = json_object();
	static const char *const nets[] = {"isolated", "rootless", "host"};

	json_object_set_new(l, "net", json_string(nets[c->cfg->net]));
	if (c->cfg->net == LA_NET_ISOLATED) {
		char veth[128];
		snprintf(veth, sizeof(veth), "%s/%s %s/%u", c->net.hub_if, c->net.agent_if,
			 c->net.hub_addr, c->net.prefix);
		json_object_set_new(l, "veth", json_string(veth));
	}
	json_t *relays = json_array();
	for (size_t i = 0; i < c->relays.n; i++) {
		char r[PATH_MAX + 128];
		snprintf(r, sizeof(r), "%s -> %s", c->relays.ls[i].inside,
			 c->relays.ls[i].target.shown);
		json_array_append_new(relays, json_string(r));
	}
	json_object_set_new(l, "relays", relays);
	json_object_set_new(l, "namespaces", json_pack("[s,s,s]", "mount", "pid", "ipc"));
	if (c->cfg->net != LA_NET_HOST)
		json_array_append_new(json_object_get(l, "namespaces"), json_string("net"));
	if (!c->is_root)
		json_array_append_new(json_object_get(l, "namespaces"), json_string("user"));
	json_object_set_new(l, "landlock_abi", json_integer(al_landlock_abi()));
	json_object_set_new(l, "seccomp", json_string("agent-lock"));
	json_object_set_new(l, "seccomp_denied", json_integer(c->lock_denied));
	json_object_set_new(l, "exec_lock", json_true());
	json_object_set_new(l, "no_new_privs", json_true());
	json_object_set_new(l, "capabilities", json_string("none"));
	json_object_set_new(l, "uid", json_integer(c->uid));
	json_object_set_new(l, "gid", json_integer(c->gid));
	json_object_set_new(l, "workdir", json_string(c->workdir));
	return l;
}

static json_t *argv_json(char **argv)
{
	json_t *a = json_array();
	for (size_t i = 0; argv[i] && i < 64; i++)
		json_array_append_new(a, json_stringn(argv[i], strnlen(argv[i], 1024)));
	return a;
}

void la_record_start(struct la_ctx *c)
{
	json_t *rec = json_pack("{s:s,s:o,s:s,s:i,s:i,s:o}", "event", "agent_start", "argv",
				argv_json(c->cfg->agent_argv), "path", c->agent_path, "pid",
				(int)c->agent_pid, "launcher_pid", (int)getpid(), "layers",
				la_layers_json(c));
	if (rec == NULL)
		return;
	if (c->cfg->skip_gateway)
		json_object_set_new(rec, "gateway", json_string(c->cfg->skip_gateway));
	if (c->cfg->net == LA_NET_HOST)
		json_object_set_new(rec, "warning",
				    json_string("--net host: the agent has no network isolation"));
	la_sink_event(c, rec);
}

void la_record_exit(struct la_ctx *c, const char *reason)
{
	json_t *rec =
	    json_pack("{s:s,s:i,s:I,s:I,s:s}", "event", "agent_exit", "exit_code", c->exit_code,
		      "duration_ms", (json_int_t)((al_now_us() - c->agent_start_us) / 1000),
		      "violations", (json_int_t)c->violations, "reason", reason);
	if (rec == NULL)
		return;
	if (c->got_status && WIFSIGNALED(c->agent_status))
		json_object_set_new(rec, "signal", json_integer(WTERMSIG(c->agent_status)));
	else
		json_object_set_new(rec, "signal", json_null());
	la_sink_event(c, rec);
}

/* ------------------------------------------------------ the listener */

static void on_violation(const struct al_violation *v, void *arg)
{
	struct la_ctx *c = arg;

	c->violations++;
	la_sink_violation(c, v);
}

static void on_listener(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	al_err err = {0};

	if (events & (EPOLLHUP | EPOLLERR)) {
		/* every task under the filter is gone */
		la_watch_del(c, w);
		close(c->listener);
		c->listener = -1;
		return;
	}
	if (al_notify_handle(c->listener, &c->nstate, on_violation, c, &err) < 0) {
		la_warn("%s", err.msg);
		la_watch_del(c, w);
		close(c->listener);
		c->listener = -1; /* notified syscalls now fail with ENOSYS: closed */
	}
}

int la_lock_arm(struct la_ctx *c, al_err *err)
{
	if (c->listener < 0 || c->listener_armed)
		return 0;
	if (la_watch_add(c, &c->listener_w, c->listener, EPOLLIN, on_listener, NULL) < 0)
		return al_err_set(err, errno, "watch the seccomp listener");
	c->listener_armed = true;
	return 0;
}

/* The agent lock of SPEC §2 through the BPF cache.  al_seccomp_build_agent_lock()
 * builds exactly the request "default allow, al_sc_lock_denylist fails with
 * EPERM, flags AL_SC_SPAWN_LOCK | AL_SC_HARDEN" (its extras are the
 * AL_SC_HARDEN rules); the same request as a profile goes through
 * al_seccomp_build_cached(), which saves the ~0.5 ms libseccomp build on
 * every start.  (shared/seccomp.h could offer this directly.) */
int la_lock_build(struct la_ctx *c, al_err *err)
{
	struct al_syscall_profile sc = {
	    .name = "agent-lock",
	    .default_allow = true,
	    .deny = {.v = (char **)al_sc_lock_denylist, .n = al_sc_lock_denylist_count()},
	    .deny_errno = EPERM,
	};
	char dir[PATH_MAX];
	const char *cache = NULL; /* root: /run/agentlaunch/bpf */

	if (!c->is_root) {
		/* <state base>/../bpf: $XDG_RUNTIME_DIR/agentlaunch/bpf or
		 * /tmp/agentlaunch-UID/bpf, both ours */
		snprintf(dir, sizeof(dir), "%s", c->state.base);
		char *slash = strrchr(dir, '/');
		if (slash) {
			snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/bpf");
			cache = dir;
		}
	}
	if (al_seccomp_build_cached(&sc, AL_SC_SPAWN_LOCK | AL_SC_HARDEN, cache, &c->bpf, err) < 0)
		return al_err_wrap(err, "the agent lock");
	c->lock_denied = (int)al_sc_lock_denylist_count();
	return 0;
}

int la_sink_check_file(const char *path, al_err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0)
		return al_err_set(err, errno,
				  "--audit %s cannot be written (its directory must exist and be "
				  "writable by you)",
				  path);
	close(fd);
	return 0;
}
