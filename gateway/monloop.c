/* The monitor's life cycle: start (audit log, session_start, "ready"),
 * signals (SIGTERM/SIGINT: drain and stop; SIGHUP: reload the policy), the
 * front end process, and the orderly end (session_end). */
#include <jansson.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "../policy/policy.h"
#include "../shared/util.h"
#include "ipc.h"
#include "monitor.h"
#include "serve.h"
#include "spawn.h"

#define FRONT_EXIT_WAIT_MS 3000
#define LAUNCHER_DRAIN_MS 1000

static void loop_stop(struct gw_mon *m)
{
	event_base_loopbreak(m->base);
}

#define TERM_TO_KILL_MS 1000

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct gw_mon *m = arg;

	if (gw_spawner_active(m->sp) == 0 && gw_spawner_background(m->sp) == 0)
		return;
	if (!m->grace_termed) {
		gw_log("grace period over: stopping %zu run(s) still in progress",
		       gw_spawner_active(m->sp));
		m->grace_termed = true;
		gw_spawner_kill_all(m->sp, SIGTERM);
		struct timeval tv = {TERM_TO_KILL_MS / 1000, (TERM_TO_KILL_MS % 1000) * 1000};
		evtimer_add(m->ev_grace, &tv);
		return;
	}
	gw_spawner_kill_all(m->sp, SIGKILL);
}

static void on_kill_front(evutil_socket_t fd, short what, void *arg)
{
	struct gw_mon *m = arg;

	gw_log("the front end did not exit in time: killing it");
	kill(m->front_pid, SIGKILL);
}

void gw_monitor_shutdown(struct gw_mon *m, const char *why)
{
	if (m->state != MON_RUN)
		return;
	m->state = MON_DRAIN;
	gw_log("shutting down (%s): no new connections; runs in progress may take %lld ms", why,
	       (long long)m->cfg->grace_ms);
	gw_monitor_send(m, json_pack("{s:s}", "t", "shutdown"));
	gw_spawner_cancel_queued(m->sp, "the gateway is shutting down");
	struct timeval tv = {m->cfg->grace_ms / 1000, (m->cfg->grace_ms % 1000) * 1000};
	m->ev_grace = evtimer_new(m->base, on_grace, m);
	if (m->ev_grace)
		evtimer_add(m->ev_grace, &tv);
	gw_monitor_check_done(m);
}

void gw_monitor_check_done(struct gw_mon *m)
{
	/* warm runners told to go remove their sandboxes before we exit */
	if (m->state != MON_DRAIN || m->inflight > 0 || gw_spawner_active(m->sp) > 0 ||
	    gw_spawner_queued(m->sp) > 0 || gw_spawner_background(m->sp) > 0)
		return;
	m->state = MON_CLOSING;
	if (m->ev_grace)
		evtimer_del(m->ev_grace);
	if (!m->front_gone) {
		gw_monitor_send(m, json_pack("{s:s}", "t", "exit"));
		gw_ipc_flush(m->ipc, 1000);
	}
	if (m->front_reaped) {
		loop_stop(m);
		return;
	}
	struct timeval tv = {FRONT_EXIT_WAIT_MS / 1000, (FRONT_EXIT_WAIT_MS % 1000) * 1000};
	m->ev_kill_front = evtimer_new(m->base, on_kill_front, m);
	if (m->ev_kill_front)
		evtimer_add(m->ev_kill_front, &tv);
}

static void on_front_exit(evutil_socket_t fd, short what, void *arg)
{
	struct gw_mon *m = arg;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PIDFD, m->front_pidfd, &si, WEXITED | WNOHANG, NULL) < 0 ||
	    si.si_pid == 0)
		return;
	event_del(m->ev_front);
	m->front_reaped = true;
	m->front_gone = true;
	bool clean = si.si_code == CLD_EXITED && si.si_status == 0;
	if (!clean || m->state == MON_RUN)
		gw_log("the front end (pid %d) %s %d", (int)m->front_pid,
		       si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
		       si.si_status);
	if (m->state == MON_RUN) {
		m->exit_code = 1;
		gw_monitor_shutdown(m, "the front end ended");
	}
	gw_monitor_check_done(m);
	if (m->state == MON_CLOSING)
		loop_stop(m);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct gw_mon *m = arg;

	if (sig == SIGHUP) {
		if (m->state == MON_RUN)
			gw_monitor_reload(m);
		return;
	}
	if (m->state == MON_RUN) {
		gw_monitor_shutdown(m, sig == SIGTERM ? "SIGTERM" : "SIGINT");
	} else {
		gw_log("second %s: killing the runs in progress now", strsignal((int)sig));
		gw_spawner_kill_all(m->sp, SIGKILL);
	}
}

static int session_record(struct gw_mon *m, const char *event, const char *reason)
{
	json_t *r =
	    json_pack("{s:s,s:s,s:b,s:s,s:i}", "event", event, "identity", "agentgw",
		      "identity_verified", false, "version", AL_VERSION, "pid", (int)getpid());
	if (r == NULL)
		return -1;
	if (reason)
		json_object_set_new(r, "reason", json_string(reason));
	if (strcmp(event, "session_start") == 0) {
		json_t *a = json_array();
		for (size_t i = 0; i < m->sh->nls; i++)
			json_array_append_new(a, json_string(m->sh->ls[i].shown));
		json_object_set_new(r, "listen", a);
		json_object_set_new(r, "tokens", json_boolean(m->sh->auth.enabled));
		json_object_set_new(r, "max_concurrency", json_integer(m->cfg->max_concurrency));
	} else {
		json_object_set_new(r, "audit_write_errors", json_integer(m->audit_errors));
	}
	int rc = gw_monitor_audit(m, r);
	json_decref(r);
	return rc;
}

int gw_monitor_run(struct gw_shared *sh, int ipc_fd, pid_t front_pid)
{
	struct gw_mon m;
	al_err err = {0};
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};

	memset(&m, 0, sizeof(m));
	m.front_pid = front_pid;
	m.front_pidfd = -1;
	gw_log_role(GW_PROG);
	/* the monitor accepts nothing and speaks no TLS */
	for (size_t i = 0; i < sh->nls; i++)
		gw_listen_close(&sh->ls[i], false);
	SSL_CTX_free(sh->ssl);
	sh->ssl = NULL;

	struct event_base *base = event_base_new();
	if (base == NULL) {
		gw_log("cannot create the event loop");
		goto fail_early;
	}
	if (gw_monitor_init(&m, sh, base, ipc_fd, &err) < 0) {
		gw_log("%s", err.msg);
		goto fail;
	}
	if (sh->cfg->violation_fd >= 0 &&
	    gw_monitor_violation_fd(&m, sh->cfg->violation_fd, &err) < 0) {
		gw_log("%s", err.msg);
		goto fail;
	}
	m.front_pidfd = (int)syscall(SYS_pidfd_open, front_pid, 0);
	m.ev_front = m.front_pidfd >= 0
			 ? event_new(base, m.front_pidfd, EV_READ | EV_PERSIST, on_front_exit, &m)
			 : NULL;
	if (m.ev_front == NULL || event_add(m.ev_front, NULL) < 0) {
		gw_log("cannot watch the front end process: %s", strerror(errno));
		goto fail;
	}
	for (int i = 0; i < 3; i++) {
		m.ev_sig[i] = evsignal_new(base, sigs[i], on_signal, &m);
		if (m.ev_sig[i] == NULL || event_add(m.ev_sig[i], NULL) < 0) {
			gw_log("cannot handle signal %d", sigs[i]);
			goto fail;
		}
	}
	gw_monitor_sweep(&m);
	if (session_record(&m, "session_start", NULL) < 0) {
		gw_log("cannot write the audit log %s: refusing to start", sh->cfg->audit_file);
		goto fail;
	}
	gw_monitor_send(&m, json_pack("{s:s}", "t", "ready"));
	for (size_t i = 0; i < sh->nls; i++)
		gw_log("listening on %s", sh->ls[i].shown);
	gw_log("ready: policy %s (sha256 %s), audit %s, runner %s, %lld concurrent runs, queue "
	       "%lld%s",
	       sh->cfg->policy_file, gw_monitor_policy_sha(&m), sh->cfg->audit_file, sh->runner,
	       (long long)sh->cfg->max_concurrency, (long long)sh->cfg->queue_max,
	       sh->auth.enabled ? ", bearer tokens required" : ", NO tokens (development mode)");

	event_base_dispatch(base);

	/* the launcher closes its end before it signals: its last events
	 * (agent_exit) belong before session_end */
	gw_monitor_drain_launcher(&m, LAUNCHER_DRAIN_MS);
	gw_monitor_sweep(&m);
	session_record(&m, "session_end", m.exit_code ? "front end failure" : "signal");
	for (size_t i = 0; i < sh->nls; i++)
		gw_listen_close(&sh->ls[i], true);
	gw_log("stopped");
	goto out;
fail:
	m.exit_code = 1;
	kill(front_pid, SIGKILL);
	for (size_t i = 0; i < sh->nls; i++)
		gw_listen_close(&sh->ls[i], true);
out:
	if (!m.front_reaped)
		while (waitpid(front_pid, NULL, 0) < 0 && errno == EINTR)
			;
	for (int i = 0; i < 3; i++)
		if (m.ev_sig[i])
			event_free(m.ev_sig[i]);
	if (m.ev_front)
		event_free(m.ev_front);
	if (m.ev_grace)
		event_free(m.ev_grace);
	if (m.ev_kill_front)
		event_free(m.ev_kill_front);
	if (m.front_pidfd >= 0)
		close(m.front_pidfd);
	gw_monitor_fini(&m);
	if (base)
		event_base_free(base);
	return m.exit_code;
fail_early:
	kill(front_pid, SIGKILL);
	waitpid(front_pid, NULL, 0);
	return 1;
}
