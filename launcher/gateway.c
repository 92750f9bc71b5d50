/* Starting, health-checking and stopping the agentgw of one launch.
 *
 * agentgw runs as a child of the launcher in its own session (the
 * terminal's ^C is for the agent, not for it), with PR_SET_PDEATHSIG so it
 * dies with the launcher.  It listens on a unix socket in the launch's
 * state directory (0700: nobody else can reach it; several launches never
 * compete for a port); the relays carry the agent's connections there.
 * With --net host it also listens on 127.0.0.1:--port, the only address
 * the agent can use there.
 *
 *   fd 3  --token-fd:      "IDENTITY SHA256HEX\n" of this launch's fresh
 *                          token, then EOF (read at its start)
 *   fd 4  --violation-fd:  event lines from the launcher (lock.c)
 *   fd 2  a pipe: kept (last 4 KiB) for error messages, echoed with -v
 *
 * Ready means: GET /healthz on the unix socket answered 200 with
 * {"status":"ok"} within LA_HEALTH_TIMEOUT_MS.  The agent's exec is held
 * until then (lock.c answers its notification only afterwards). */
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "shared/cleanup.h"
#include "shared/util.h"

#define HC_RETRY_US 1000
/* One request per connection: agentgw answers it (with Content-Length, where
 * the answer is complete) and closes. */
#define HC_REQUEST "GET /healthz HTTP/1.1\r\nHost: agentgw\r\nConnection: close\r\n\r\n"

static void errtail_add(struct la_gw *g, const char *s, size_t n)
{
	if (n >= sizeof(g->errtail)) {
		s += n - (sizeof(g->errtail) - 1);
		n = sizeof(g->errtail) - 1;
	}
	if (g->errlen + n >= sizeof(g->errtail)) {
		size_t drop = g->errlen + n - (sizeof(g->errtail) - 1);
		memmove(g->errtail, g->errtail + drop, g->errlen - drop);
		g->errlen -= drop;
	}
	memcpy(g->errtail + g->errlen, s, n);
	g->errlen += n;
	g->errtail[g->errlen] = '\0';
}

const char *la_gw_errtail(const struct la_ctx *c)
{
	return c->gw.errlen ? c->gw.errtail : "(agentgw wrote nothing on stderr)";
}

static void drain_stderr(struct la_ctx *c)
{
	struct la_gw *g = &c->gw;
	char buf[4096];

	for (;;) {
		ssize_t n = read(g->err_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				la_watch_del(c, &g->err_w);
				close(g->err_fd);
				g->err_fd = -1;
			}
			return;
		}
		errtail_add(g, buf, (size_t)n);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n' && g->linelen < sizeof(g->linebuf) - 1) {
				g->linebuf[g->linelen++] = buf[i];
				continue;
			}
			if (buf[i] != '\n')
				continue;
			g->linebuf[g->linelen] = '\0';
			if (c->verbose)
				fprintf(stderr, "%s\n", g->linebuf);
			if (strstr(g->linebuf, "ready") != NULL)
				g->hc_next_us = 0; /* try the health check right away */
			g->linelen = 0;
		}
	}
}

static void on_stderr(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	drain_stderr(c);
}

static void reap(struct la_ctx *c)
{
	struct la_gw *g = &c->gw;
	int st = 0;

	if (g->exited || g->pid <= 0)
		return;
	if (waitpid(g->pid, &st, WNOHANG) != g->pid)
		return;
	g->exited = true;
	g->wstatus = st;
	la_watch_del(c, &g->pid_w);
	if (g->err_fd >= 0)
		drain_stderr(c);
}

static void status_text(int st, char *out, size_t n)
{
	if (WIFEXITED(st))
		snprintf(out, n, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(out, n, "status %#x", st);
}

/* The gateway went away without being asked to. */
static void on_exit_gw(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	struct la_gw *g = &c->gw;
	char how[96];

	reap(c);
	if (!g->exited || g->stopping)
		return;
	status_text(g->wstatus, how, sizeof(how));
	if (!g->ready)
		snprintf(c->exit_msg, sizeof(c->exit_msg),
			 "agentgw failed to start (%s); its stderr:\n%s\nfix the cause above (see "
			 "--policy, --audit, --gateway-bin)",
			 how, la_gw_errtail(c));
	else
		snprintf(c->exit_msg, sizeof(c->exit_msg),
			 "agentgw (pid %d) exited unexpectedly (%s): the agent was stopped; its "
			 "stderr ended with:\n%s",
			 (int)g->pid, how, la_gw_errtail(c));
	c->exit_code = LA_EXIT_ERROR;
	c->abort = true;
}

static void hc_close(struct la_ctx *c)
{
	struct la_gw *g = &c->gw;

	if (g->hc_fd >= 0) {
		la_watch_del(c, &g->hc_w);
		close(g->hc_fd);
		g->hc_fd = -1;
	}
	g->hc_len = 0;
	g->hc_sent = false;
	g->hc_next_us = al_now_us() + HC_RETRY_US;
}

/* Headers and Content-Length bytes of body are in. */
static bool hc_complete(struct la_gw *g)
{
	g->hc_buf[g->hc_len] = '\0';
	const char *end = strstr(g->hc_buf, "\r\n\r\n");
	if (end == NULL)
		return false;
	const char *cl = strcasestr(g->hc_buf, "\r\nContent-Length:");
	if (cl == NULL || cl > end)
		return false;
	long n = strtol(cl + 17, NULL, 10);
	return n >= 0 && g->hc_len >= (size_t)(end + 4 - g->hc_buf) + (size_t)n;
}

/* A complete answer in hc_buf: 200 and {"status":"ok"}. */
static bool hc_ok(struct la_gw *g)
{
	g->hc_buf[g->hc_len] = '\0';
	if (strncmp(g->hc_buf, "HTTP/1.1 200 ", 13) != 0 && strncmp(g->hc_buf, "HTTP/1.0 200 ", 13))
		return false;
	const char *body = strstr(g->hc_buf, "\r\n\r\n");
	if (body == NULL)
		return false;
	json_error_t je;
	json_t *j = json_loads(body + 4, JSON_DISABLE_EOF_CHECK, &je);
	const char *st = json_string_value(json_object_get(j, "status"));
	const char *sha = json_string_value(json_object_get(j, "policy_sha256"));
	bool ok = st && strcmp(st, "ok") == 0;
	if (ok && sha)
		snprintf(g->policy_sha, sizeof(g->policy_sha), "%s", sha);
	/* Which event lines its --violation-fd records (besides
	 * sandbox_violation, which every agentgw takes). */
	json_t *ev = json_object_get(j, "launcher_events"), *v;
	size_t i;
	json_array_foreach(ev, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), "agent_start") == 0)
			g->launch_events = true;
	}
	json_decref(j);
	return ok;
}

static void on_health(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	struct la_gw *g = &c->gw;

	for (;;) {
		if (g->hc_len >= sizeof(g->hc_buf) - 1 || hc_complete(g))
			break;
		ssize_t n =
		    read(g->hc_fd, g->hc_buf + g->hc_len, sizeof(g->hc_buf) - 1 - g->hc_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;
		g->hc_len += (size_t)n;
	}
	if (hc_ok(g)) {
		g->ready = true;
		g->ready_us = al_now_us();
		hc_close(c);
		la_verbose(c,
			   "gateway: agentgw pid %d healthy in %.1f ms (GET /healthz on unix:%s); "
			   "policy sha256 %s; token registered for identity %s",
			   (int)g->pid, (double)(g->ready_us - g->started_us) / 1000.0, g->sock,
			   g->policy_sha[0] ? g->policy_sha : "?", c->identity);
		if (!g->launch_events)
			la_verbose(c,
				   "gateway: this agentgw does not record agent_start/agent_exit "
				   "events (no \"launcher_events\" in /healthz): only "
				   "sandbox_violation events are sent to it");
		return;
	}
	hc_close(c); /* not ready yet (or a bad answer): retry until the deadline */
}

static void hc_try(struct la_ctx *c)
{
	struct la_gw *g = &c->gw;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g->sock);
	g->hc_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (g->hc_fd < 0 || connect(g->hc_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(g->hc_fd, HC_REQUEST, sizeof(HC_REQUEST) - 1) != sizeof(HC_REQUEST) - 1 ||
	    la_watch_add(c, &g->hc_w, g->hc_fd, EPOLLIN, on_health, NULL) < 0) {
		hc_close(c);
		return;
	}
	g->hc_sent = true;
}

void la_gw_tick(struct la_ctx *c)
{
	struct la_gw *g = &c->gw;
	int64_t now;

	if (g->pid <= 0 || g->ready || g->exited || c->abort)
		return;
	now = al_now_us();
	if (now >= g->hc_deadline_us) {
		if (g->err_fd >= 0)
			drain_stderr(c);
		snprintf(c->exit_msg, sizeof(c->exit_msg),
			 "agentgw (pid %d) did not answer GET /healthz within %d ms; its "
			 "stderr:\n%s",
			 (int)g->pid, LA_HEALTH_TIMEOUT_MS, la_gw_errtail(c));
		c->exit_code = LA_EXIT_ERROR;
		c->abort = true;
		return;
	}
	if (g->hc_fd < 0 && now >= g->hc_next_us)
		hc_try(c);
}

int64_t la_gw_next_timer(const struct la_ctx *c)
{
	const struct la_gw *g = &c->gw;

	if (g->pid <= 0 || g->ready || g->exited)
		return 0;
	if (g->hc_fd >= 0)
		return g->hc_deadline_us;
	return g->hc_next_us < g->hc_deadline_us ? g->hc_next_us : g->hc_deadline_us;
}

/* Between fork and exec in the gateway's child. */
static __attribute__((noreturn)) void gw_child(const char *bin, char **argv, int tok, int viol,
					       int errw, pid_t parent)
{
	sigset_t none;
	int fds[3] = {tok, viol, errw};

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(LA_EXIT_ERROR);
	for (int i = 0; i < 3; i++)
		if ((fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
			_exit(LA_EXIT_ERROR);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(fds[2], 2) < 0 ||
	    dup2(fds[0], 3) < 0 || dup2(fds[1], 4) < 0)
		_exit(LA_EXIT_ERROR);
	syscall(SYS_close_range, 5, ~0U, 0);
	execv(bin, argv);
	dprintf(2, "agentlaunch: cannot execute %s: %s\n", bin, strerror(errno));
	_exit(LA_EXIT_NOTFOUND);
}

/* Is another process (another launch's agentgw) writing this log? */
static bool log_busy(const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(fd, LOCK_UN);
	return false;
}

/* The gateway's audit log.  --audit as given (a log has one writer: a
 * second launch on the same file is refused by agentgw, with its message).
 * Default: root /var/log/agentlaunch/audit.jsonl, others
 * ${XDG_STATE_HOME:-~/.local/state}/agentlaunch/audit.jsonl; when another
 * launch's gateway is writing it, audit-<launch id>.jsonl next to it. */
static int choose_audit(struct la_ctx *c, al_err *err)
{
	char dir[PATH_MAX];

	if (c->cfg->audit) {
		snprintf(c->audit, sizeof(c->audit), "%s", c->cfg->audit);
		return 0;
	}
	if (c->is_root) {
		snprintf(dir, sizeof(dir), "/var/log/agentlaunch");
		if (al_mkdir_p(dir, 0750, err) < 0)
			return al_err_wrap(err, "audit log directory (or give --audit FILE)");
	} else {
		const char *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		if (st && st[0] == '/')
			snprintf(dir, sizeof(dir), "%s/agentlaunch", st);
		else if (home && home[0] == '/')
			snprintf(dir, sizeof(dir), "%s/.local/state/agentlaunch", home);
		else
			return al_err_set(err, ENOENT, "no HOME: give --audit FILE");
		if (al_mkdir_p(dir, 0700, err) < 0)
			return al_err_wrap(err, "audit log directory (or give --audit FILE)");
	}
	snprintf(c->audit, sizeof(c->audit), "%s/audit.jsonl", dir);
	if (log_busy(c->audit)) {
		snprintf(c->audit, sizeof(c->audit), "%s/audit-%s.jsonl", dir, c->launch_id);
		la_warn("note: %s/audit.jsonl is being written by another agentgw: this launch's "
			"gateway writes %s (give --audit FILE to choose)",
			dir, c->audit);
	}
	return 0;
}

int la_gw_start(struct la_ctx *c, al_err *err)
{
	struct la_gw *g = &c->gw;
	const struct la_config *cfg = c->cfg;
	char bin[PATH_MAX], listen_unix[PATH_MAX + 8], listen_tcp[64], line[256];
	char hash[65];
	int tok[2] = {-1, -1}, viol[2] = {-1, -1}, errp[2] = {-1, -1};
	char *argv[24];
	int n = 0;

	if (cfg->gateway_bin)
		snprintf(bin, sizeof(bin), "%s", cfg->gateway_bin);
	else
		snprintf(bin, sizeof(bin), "%s/agentgw", c->exe_dir);
	if (access(bin, X_OK) < 0)
		return al_err_set(
		    err, errno,
		    "agentgw %s cannot be run: build it (make), give --gateway-bin PATH, "
		    "or use --skip-gateway URL",
		    bin);
	snprintf(g->sock, sizeof(g->sock), "%s/gw.sock", c->state.dir);
	snprintf(listen_unix, sizeof(listen_unix), "unix:%s", g->sock);
	snprintf(listen_tcp, sizeof(listen_tcp), "127.0.0.1:%u", (unsigned)cfg->port);
	argv[n++] = bin;
	argv[n++] = "--listen";
	argv[n++] = listen_unix;
	if (cfg->net == LA_NET_HOST) {
		argv[n++] = "--listen";
		argv[n++] = listen_tcp;
	}
	argv[n++] = "--policy";
	argv[n++] = c->policy;
	if (choose_audit(c, err) < 0)
		return -1;
	argv[n++] = "--audit";
	argv[n++] = c->audit;
	argv[n++] = "--token-fd";
	argv[n++] = "3";
	argv[n++] = "--violation-fd";
	argv[n++] = "4";
	argv[n++] = "--grace-ms";
	argv[n++] = LA_GW_GRACE_MS;
	if (c->verbose && cfg->verbose > 1)
		argv[n++] = "-v";
	argv[n] = NULL;

	if (al_random_hex(c->token, 32, err) < 0)
		return al_err_wrap(err, "token");
	c->have_token = true;
	al_sha256_hex(c->token, strlen(c->token), hash);
	int len = snprintf(line, sizeof(line), "%s %s\n", c->identity, hash);

	if (pipe2(tok, O_CLOEXEC) < 0 || pipe2(viol, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		al_err_set(err, errno, "pipe");
		goto fail;
	}
	g->started_us = al_now_us();
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		al_err_set(err, errno, "fork agentgw");
		goto fail;
	}
	if (pid == 0)
		gw_child(bin, argv, tok[0], viol[0], errp[1], parent);
	g->pid = pid;
	c->state.gw_pid = pid;
	close(tok[0]);
	close(viol[0]);
	close(errp[1]);
	tok[0] = viol[0] = errp[1] = -1;
	/* A 64-byte line fits the pipe: this never blocks. */
	(void)al_write_all(tok[1], line, (size_t)len);
	close(tok[1]);
	tok[1] = -1;
	g->viol_fd = viol[1];
	g->err_fd = errp[0];
	fcntl(g->viol_fd, F_SETFL, O_NONBLOCK);
	fcntl(g->err_fd, F_SETFL, O_NONBLOCK);
	g->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (g->pidfd < 0 || la_watch_add(c, &g->pid_w, g->pidfd, EPOLLIN, on_exit_gw, NULL) < 0 ||
	    la_watch_add(c, &g->err_w, g->err_fd, EPOLLIN, on_stderr, NULL) < 0)
		return al_err_set(err, errno, "watch agentgw");
	g->hc_fd = -1;
	g->hc_next_us = g->started_us + HC_RETRY_US;
	g->hc_deadline_us = g->started_us + LA_HEALTH_TIMEOUT_MS * 1000LL;
	la_verbose(c, "gateway: started %s (pid %d) on unix:%s%s%s, audit %s", bin, (int)pid,
		   g->sock, cfg->net == LA_NET_HOST ? " and " : "",
		   cfg->net == LA_NET_HOST ? listen_tcp : "", c->audit);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (tok[i] >= 0)
			close(tok[i]);
		if (viol[i] >= 0)
			close(viol[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return -1;
}

void la_gw_stop(struct la_ctx *c)
{
	struct la_gw *g = &c->gw;

	hc_close(c);
	if (g->viol_fd >= 0) {
		close(g->viol_fd); /* EOF on --violation-fd first: every event is in */
		g->viol_fd = -1;
	}
	if (g->pid > 0 && !g->exited) {
		g->stopping = true;
		syscall(SYS_pidfd_send_signal, g->pidfd, SIGTERM, NULL, 0);
		int64_t until = al_now_us() + LA_GW_STOP_TIMEOUT_MS * 1000LL;
		while (!g->exited) {
			int64_t left = (until - al_now_us()) / 1000;
			if (left <= 0) {
				la_warn("agentgw (pid %d) did not stop within %d ms: killed",
					(int)g->pid, LA_GW_STOP_TIMEOUT_MS);
				syscall(SYS_pidfd_send_signal, g->pidfd, SIGKILL, NULL, 0);
				waitpid(g->pid, &g->wstatus, 0);
				g->exited = true;
				break;
			}
			struct pollfd p[2] = {{g->pidfd, POLLIN, 0}, {g->err_fd, POLLIN, 0}};
			poll(p, g->err_fd >= 0 ? 2 : 1, (int)left);
			if (g->err_fd >= 0 && p[1].revents)
				drain_stderr(c);
			reap(c);
		}
	}
	la_watch_del(c, &g->pid_w);
	la_watch_del(c, &g->err_w);
	if (g->err_fd >= 0)
		close(g->err_fd);
	if (g->pidfd >= 0)
		close(g->pidfd);
	g->err_fd = g->pidfd = -1;
}
