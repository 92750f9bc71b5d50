/* One launch, from argv's config to the exit status: preparation (agent,
 * user, workdir, state, filter), the gateway, the network, the agent's
 * init, then the supervisor's epoll loop (signals, seccomp notifications,
 * relays, the gateway's health and stderr, the children's reports), and
 * the teardown.  The order is SPEC §2's; the gateway's start and the
 * namespace/mount setup overlap, and the agent's exec waits for both. */
#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "policy/policy.h"
#include "shared/audit.h"
#include "shared/cleanup.h"
#include "shared/landlock.h"
#include "shared/util.h"

extern char **environ;

static struct la_ctx ctx; /* one launch per process */

/* ------------------------------------------------------------- utilities */

void la_verbose(const struct la_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->verbose)
		return;
	fputs(LA_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void la_warn(const char *fmt, ...)
{
	va_list ap;

	fputs(LA_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int la_watch_add(struct la_ctx *c, struct la_watch *w, int fd, uint32_t events, la_watch_fn fn,
		 void *arg)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	w->events = events;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	w->added = true;
	return 0;
}

void la_watch_mod(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	if (!w->added)
		return;
	w->events = events;
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void la_watch_del(struct la_ctx *c, struct la_watch *w)
{
	if (!w->added)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->added = false;
}

/* --------------------------------------------------------- the children */

static void on_rep(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	for (;;) {
		ssize_t n =
		    read(c->rep_fd, c->rep_buf + c->rep_len, sizeof(c->rep_buf) - 1 - c->rep_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0) {
			c->rep_len += (size_t)n;
			char *nl;
			while ((nl = memchr(c->rep_buf, '\n', c->rep_len)) != NULL) {
				*nl = '\0';
				if (c->rep_buf[0] == 'v' && c->verbose)
					la_verbose(c, "%s", c->rep_buf + 2);
				else if (c->rep_buf[0] == 'e' && c->errmsg[0] == '\0')
					snprintf(c->errmsg, sizeof(c->errmsg), "%s",
						 c->rep_buf + 2);
				size_t used = (size_t)(nl - c->rep_buf) + 1;
				memmove(c->rep_buf, nl + 1, c->rep_len - used);
				c->rep_len -= used;
			}
			if (c->rep_len == sizeof(c->rep_buf) - 1)
				c->rep_len = 0; /* an overlong line: drop it */
			continue;
		}
		/* EOF: the agent exec'd (the pipe is close-on-exec) or died */
		la_watch_del(c, w);
		close(c->rep_fd);
		c->rep_fd = -1;
		return;
	}
}

static void on_status(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	int st;
	ssize_t n = read(c->status_fd, &st, sizeof(st));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n == sizeof(st)) {
		c->agent_status = st;
		c->got_status = true;
	}
	la_watch_del(c, w);
	close(c->status_fd);
	c->status_fd = -1;
}

static void on_init_exit(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	int st;

	if (waitpid(c->init_pid, &st, WNOHANG) != c->init_pid)
		return;
	c->init_exited = true;
	la_watch_del(c, w);
}

/* SCM_RIGHTS (one fd) plus SCM_CREDENTIALS (the sender's pid in our pid
 * namespace). */
static int recv_fd_cred(int sock, int *fd, pid_t *pid)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	int got = 0;
	ssize_t n;

	*fd = -1;
	*pid = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? 0 : (errno == EAGAIN ? -2 : -1);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (got++ == 0)
					*fd = f;
				else
					close(f);
			}
		} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cr;
			memcpy(&cr, CMSG_DATA(cm), sizeof(cr));
			*pid = cr.pid;
		}
	}
	if (got != 1 || (msg.msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -1;
	}
	return 1;
}

static const struct la_relay_target *rootless_targets[LA_MAX_SERVICES + 1];
static char rootless_inside[LA_MAX_SERVICES + 1][80];

static void on_ctl(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	al_err err = {0};

	for (;;) {
		int fd;
		pid_t pid;
		int r = recv_fd_cred(c->ctl_fd, &fd, &pid);
		if (r == -2)
			return;
		if (r <= 0) {
			la_watch_del(c, w);
			close(c->ctl_fd);
			c->ctl_fd = -1;
			return;
		}
		if (c->relay_fds_got < c->relay_fds_wanted) {
			unsigned i = c->relay_fds_got++;
			if (la_relay_add(c, fd, rootless_targets[i], rootless_inside[i], &err) < 0)
				la_warn("%s", err.msg);
			else
				la_verbose(c, "relay: %s (inside the agent's namespace) -> %s",
					   rootless_inside[i], rootless_targets[i]->shown);
			continue;
		}
		if (c->listener >= 0) {
			close(fd); /* only one listener, ever */
			continue;
		}
		c->listener = fd;
		c->agent_pid = pid;
		/* armed from the loop once the gateway and the network are ready */
	}
}

static void on_signal(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(c->sigfd, &si, sizeof(si)) == sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (!c->exec_reported) {
			/* during start-up: stop everything */
			snprintf(c->exit_msg, sizeof(c->exit_msg),
				 "interrupted by signal %d (%s) during "
				 "start-up",
				 sig, strsignal(sig));
			c->exit_code = 128 + sig;
			c->abort = true;
			continue;
		}
		if ((int)si.ssi_code == SI_KERNEL)
			continue; /* from the terminal: the agent got it too */
		if (c->init_pidfd >= 0 && !c->init_exited &&
		    syscall(SYS_pidfd_send_signal, c->init_pidfd, sig, NULL, 0) < 0) {
			fprintf(stderr,
				"agentlaunch: cannot forward signal %d (%s) to the agent: %s; "
				"stopping it\n",
				sig, strsignal(sig), strerror(errno));
			syscall(SYS_pidfd_send_signal, c->init_pidfd, SIGKILL, NULL, 0);
			continue;
		}
		la_verbose(c, "forwarded signal %d (%s) to the agent", sig, strsignal(sig));
	}
}

static int spawn_init(struct la_ctx *c, struct la_child *ch, al_err *err)
{
	int ctl[2] = {-1, -1}, rep[2] = {-1, -1}, stp[2] = {-1, -1}, syn[2] = {-1, -1};
	bool userns = !c->is_root;
	int one = 1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0 ||
	    pipe2(rep, O_CLOEXEC) < 0 || pipe2(stp, O_CLOEXEC) < 0 || pipe2(syn, O_CLOEXEC) < 0)
		return al_err_set(err, errno, "socketpair/pipe");
	setsockopt(ctl[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	ch->ctl_sock = ctl[1];
	ch->rep_fd = rep[1];
	ch->status_fd = stp[1];
	ch->sync_fd = syn[0];
	ch->supervisor = getpid();
	ch->userns = userns;

	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_PIDFD | SIGCHLD;
	if (userns)
		flags |= CLONE_NEWUSER;
	if (c->cfg->net != LA_NET_HOST)
		flags |= CLONE_NEWNET;
	int pidfd = -1;
	pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, &pidfd, NULL, NULL);
	if (pid < 0)
		return al_err_set(err, errno,
				  "clone the agent's namespaces (mount, pid, ipc%s%s)%s",
				  userns ? ", user" : "", c->cfg->net != LA_NET_HOST ? ", net" : "",
				  userns ? ": are unprivileged user namespaces enabled? "
					   "(sysctl kernel.unprivileged_userns_clone=1)"
					 : "");
	if (pid == 0) {
		close(ctl[0]);
		close(rep[0]);
		close(stp[0]);
		close(syn[1]);
		la_init_main(ch);
	}
	c->init_pid = pid;
	c->init_pidfd = pidfd;
	c->state.init_pid = pid;
	close(ctl[1]);
	close(rep[1]);
	close(stp[1]);
	close(syn[0]);
	c->ctl_fd = ctl[0];
	c->rep_fd = rep[0];
	c->status_fd = stp[0];
	if (userns) {
		/* The agent's user keeps its ids inside (unprivileged: only our own
		 * can be mapped, and setgroups must be denied). */
		char path[64], map[64];
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)al_write_all(fd, "deny", 4);
			close(fd);
		}
		static const char *const files[2] = {"uid_map", "gid_map"};
		unsigned ids[2] = {(unsigned)getuid(), (unsigned)getgid()};
		for (int i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
			int len = snprintf(map, sizeof(map), "%u %u 1\n", ids[i], ids[i]);
			fd = open(path, O_WRONLY | O_CLOEXEC);
			int r = fd < 0 ? -errno : al_write_all(fd, map, (size_t)len);
			if (fd >= 0)
				close(fd);
			if (r < 0) {
				close(syn[1]);
				return al_err_set(err, -r, "write %s", path);
			}
		}
	}
	if (userns && write(syn[1], "g", 1) != 1) {
		close(syn[1]);
		return al_err_set(err, errno, "start the agent's init");
	}
	close(syn[1]);
	fcntl(c->rep_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->status_fd, F_SETFL, O_NONBLOCK);
	if (la_watch_add(c, &c->init_w, c->init_pidfd, EPOLLIN, on_init_exit, NULL) < 0 ||
	    la_watch_add(c, &c->rep_w, c->rep_fd, EPOLLIN, on_rep, NULL) < 0 ||
	    la_watch_add(c, &c->status_w, c->status_fd, EPOLLIN, on_status, NULL) < 0 ||
	    la_watch_add(c, &c->ctl_w, c->ctl_fd, EPOLLIN, on_ctl, NULL) < 0)
		return al_err_set(err, errno, "watch the agent's init");
	return 0;
}

/* ------------------------------------------------------------- the run */

static void kill_agent(struct la_ctx *c)
{
	if (c->init_pidfd >= 0 && !c->init_exited)
		syscall(SYS_pidfd_send_signal, c->init_pidfd, SIGKILL, NULL, 0);
}

static int64_t next_timeout_ms(const struct la_ctx *c)
{
	int64_t t = 0, now = al_now_us();
	int64_t cand[2] = {la_gw_next_timer(c), la_sink_next_timer(c)};

	for (int i = 0; i < 2; i++)
		if (cand[i] > 0 && (t == 0 || cand[i] < t))
			t = cand[i];
	if (t == 0)
		return -1;
	return t <= now ? 0 : (t - now + 999) / 1000;
}

static int loop(struct la_ctx *c)
{
	struct epoll_event evs[64];
	al_err err = {0};
	bool killed = false;

	for (;;) {
		/* The agent has exec'd: the report pipe closed with no error. */
		if (!c->exec_reported && c->rep_fd < 0 && c->errmsg[0] == '\0' &&
		    c->nstate.first_exec_used && !c->abort) {
			c->exec_reported = true;
			c->agent_start_us = al_now_us();
			la_verbose(c,
				   "agent: %s exec'd as pid %d (the last exec: every later execve/"
				   "execveat fails with EPERM), %.1f ms after start",
				   c->agent_path, (int)c->agent_pid,
				   (double)(c->agent_start_us - c->t0_us) / 1000.0);
			if (c->verbose) {
				json_t *l = la_layers_json(c);
				char *txt = json_dumps(l, JSON_COMPACT);
				la_verbose(c, "security status: %s", txt ? txt : "?");
				free(txt);
				json_decref(l);
			}
			la_record_start(c);
		}
		if ((c->gw.pid <= 0 || c->gw.ready) && c->net_ready && !c->listener_armed &&
		    c->listener >= 0 && la_lock_arm(c, &err) < 0) {
			snprintf(c->exit_msg, sizeof(c->exit_msg), "%s", err.msg);
			c->exit_code = LA_EXIT_ERROR;
			c->abort = true;
		}
		if (c->abort && !killed) {
			kill_agent(c);
			killed = true;
		}
		if (c->init_exited && c->rep_fd < 0 && c->status_fd < 0)
			break;
		int n = epoll_wait(c->epfd, evs, 64, (int)next_timeout_ms(c));
		if (n < 0 && errno != EINTR)
			return al_err_set(&err, errno, "epoll_wait"), -1;
		for (int i = 0; i < n; i++) {
			struct la_watch *w = evs[i].data.ptr;
			if (w->added)
				w->fn(c, w, evs[i].events);
		}
		la_relay_reap(c);
		la_gw_tick(c);
		la_sink_tick(c);
	}
	return 0;
}

static int exit_status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return LA_EXIT_ERROR;
}

static void teardown(struct la_ctx *c)
{
	if (c->init_pid > 0 && !c->init_exited) {
		kill_agent(c);
		waitpid(c->init_pid, NULL, 0);
		c->init_exited = true;
	}
	la_sink_finish(c);
	la_gw_stop(c);
	la_relay_close_all(c);
	la_net_close(&c->net);
	la_state_remove(&c->state);
}

static int setup(struct la_ctx *c, al_err *err, int *code)
{
	const struct la_config *cfg = c->cfg;
	struct stat wst;
	sigset_t sigs;
	const char *svc_inside[LA_MAX_SERVICES];
	char svc_buf[LA_MAX_SERVICES][80];
	uint16_t ports[LA_MAX_SERVICES + 1];
	struct la_relay_target targets[LA_MAX_SERVICES + 1];
	size_t nports = 0;

	*code = LA_EXIT_ERROR;
	ssize_t k = readlink("/proc/self/exe", c->exe_dir, sizeof(c->exe_dir) - 1);
	if (k > 0) {
		c->exe_dir[k] = '\0';
		char *slash = strrchr(c->exe_dir, '/');
		if (slash)
			*slash = '\0';
	}
	if (cfg->net == LA_NET_ISOLATED && !c->is_root)
		return al_err_set(
		    err, EPERM,
		    "--net isolated needs root (network namespace + veth): run it with "
		    "sudo, or use --net rootless");
	int r = la_resolve_agent(cfg->agent_argv[0], c->agent_path, err);
	if (r != 0) {
		*code = r;
		return -1;
	}
	if (cfg->identity) {
		snprintf(c->identity, sizeof(c->identity), "%s", cfg->identity);
	} else {
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof(tmp), "%s", cfg->agent_argv[0]);
		snprintf(c->identity, sizeof(c->identity), "%s", basename(tmp));
	}
	if (!al_identity_valid(c->identity))
		return al_err_set(err, EINVAL,
				  "identity '%.64s' is not valid: give --identity ID (1-64 of "
				  "[A-Za-z0-9._-])",
				  cfg->identity ? cfg->identity : cfg->agent_argv[0]);
	if (la_resolve_user(c, err) < 0 || la_prepare_workdir(c, &wst, err) < 0)
		return -1;
	if (al_random_hex(c->launch_id, 8, err) < 0)
		return -1;

	/* signals: the supervisor reads them from a signalfd */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	c->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->sigfd < 0 || c->epfd < 0 ||
	    la_watch_add(c, &c->sig_w, c->sigfd, EPOLLIN, on_signal, NULL) < 0)
		return al_err_set(err, errno, "signalfd/epoll");

	if (la_state_base(c->state.base, sizeof(c->state.base), err) < 0)
		return al_err_wrap(err, "state directory");
	la_state_sweep(c->state.base, c->verbose);
	if (la_state_create(&c->state, err) < 0)
		return -1;

	if (la_lock_build(c, err) < 0)
		return -1;

	/* 1. the gateway (its start overlaps everything up to the agent's exec,
	 * which waits for its health check) */
	if (cfg->skip_gateway) {
		if (la_parse_url(cfg->skip_gateway, &c->upstream, err) < 0)
			return -1;
		if (cfg->token_file && la_read_token_file(c, err) < 0)
			return -1;
		if (cfg->audit == NULL)
			return al_err_set(err, EINVAL,
					  "--skip-gateway needs --audit FILE: the launcher records "
					  "the agent's violations there itself");
		if (la_sink_check_file(cfg->audit, err) < 0)
			return -1;
		if (cfg->policy) {
			cleanup_free char *raw = NULL;
			size_t len = 0;
			if (al_read_file(cfg->policy, 4u << 20, &raw, &len, err) < 0)
				return -1;
			al_sha256_hex(raw, len, c->gw.policy_sha);
		}
	} else {
		if (la_find_policy(c, err) < 0 || la_gw_start(c, err) < 0)
			return -1;
	}
	la_sink_init(c);

	/* 2. the network, planned: where the agent will find what */
	struct la_relay_target gwt = {0};
	if (cfg->skip_gateway) {
		memcpy(&gwt.addr, &c->upstream.addr, c->upstream.len);
		gwt.len = c->upstream.len;
		snprintf(gwt.shown, sizeof(gwt.shown), "%s (--skip-gateway)", c->upstream.shown);
	} else {
		struct sockaddr_un *su = (struct sockaddr_un *)&gwt.addr;
		su->sun_family = AF_UNIX;
		snprintf(su->sun_path, sizeof(su->sun_path), "%s", c->gw.sock);
		gwt.len = sizeof(*su);
		snprintf(gwt.shown, sizeof(gwt.shown), "agentgw unix:%s", c->gw.sock);
	}
	targets[nports] = gwt;
	ports[nports++] = cfg->port;
	for (size_t i = 0; i < cfg->n_services; i++) {
		struct la_relay_target *t = &targets[nports];
		memset(t, 0, sizeof(*t));
		memcpy(&t->addr, &cfg->services[i].addr, cfg->services[i].len);
		t->len = cfg->services[i].len;
		snprintf(t->shown, sizeof(t->shown), "%s", cfg->services[i].shown);
		ports[nports++] = cfg->services[i].port;
	}
	const char *inside_host = "127.0.0.1";
	if (cfg->net == LA_NET_ISOLATED) {
		if (la_net_plan(&c->net, err) < 0)
			return -1;
		inside_host = c->net.hub_addr;
	} else if (cfg->net == LA_NET_ROOTLESS) {
		static struct la_relay_target keep[LA_MAX_SERVICES + 1];
		for (size_t i = 0; i < nports; i++) {
			keep[i] = targets[i];
			rootless_targets[i] = &keep[i];
			snprintf(rootless_inside[i], sizeof(rootless_inside[i]), "127.0.0.1:%u",
				 (unsigned)ports[i]);
		}
		c->relay_fds_wanted = (unsigned)nports;
	} else {
		la_warn("WARNING: --net host: the agent shares the host's network (no network "
			"isolation); the gateway listens on 127.0.0.1:%u",
			(unsigned)cfg->port);
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		if (cfg->net == LA_NET_HOST)
			snprintf(svc_buf[i], sizeof(svc_buf[i]), "%s", cfg->services[i].shown);
		else
			snprintf(svc_buf[i], sizeof(svc_buf[i]), "%s:%u", inside_host,
				 (unsigned)cfg->services[i].port);
		svc_inside[i] = svc_buf[i];
	}
	if (cfg->net == LA_NET_HOST && cfg->skip_gateway)
		snprintf(c->gw_url, sizeof(c->gw_url), "%s", cfg->skip_gateway);
	else
		snprintf(c->gw_url, sizeof(c->gw_url), "http://%s:%u", inside_host,
			 (unsigned)cfg->port);

	/* 3-6. the agent's init (filesystem, privileges, lock, exec) starts now;
	 * its exec is held until the network and the gateway are ready */
	static struct la_child ch;
	static uint16_t ports_keep[LA_MAX_SERVICES + 1];
	memcpy(ports_keep, ports, sizeof(ports));
	ch = (struct la_child){
	    .agent_path = c->agent_path,
	    .argv = cfg->agent_argv,
	    .envp = la_build_env(c, svc_inside),
	    .uid = c->uid,
	    .gid = c->gid,
	    .workdir = c->workdir,
	    .wd_dev = wst.st_dev,
	    .wd_ino = wst.st_ino,
	    .home = c->home,
	    .rootless_net = cfg->net == LA_NET_ROOTLESS,
	    .relay_ports = cfg->net == LA_NET_ROOTLESS ? ports_keep : NULL,
	    .n_relay_ports = cfg->net == LA_NET_ROOTLESS ? nports : 0,
	    .bpf = &c->bpf,
	    .verbose = c->verbose,
	};
	la_verbose(c,
		   "seccomp: agent lock: %d syscalls denied (EPERM), execve/execveat/fork/vfork/"
		   "clone-without-CLONE_THREAD handed to this supervisor (the first exec "
		   "passes, every later one EPERM), clone3 ENOSYS, i386/x32 ABIs killed; %u BPF "
		   "instructions",
		   c->lock_denied, (unsigned)c->bpf.len);
	if (spawn_init(c, &ch, err) < 0)
		return -1;
	if (la_state_record(&c->state, err) < 0)
		return -1;

	/* 2. the network, built: veth into the namespace init was born in */
	if (cfg->net == LA_NET_ISOLATED) {
		int fds[LA_MAX_SERVICES + 1];
		char nspath[64];
		snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int)c->init_pid);
		cleanup_close int agent_ns = open(nspath, O_RDONLY | O_CLOEXEC);
		if (agent_ns < 0)
			return al_err_set(err, errno, "open %s", nspath);
		if (la_net_isolated(&c->net, agent_ns, ports, nports, fds, err) < 0)
			return -1;
		for (size_t i = 0; i < nports; i++) {
			char inside[80];
			snprintf(inside, sizeof(inside), "%s:%u", inside_host, (unsigned)ports[i]);
			if (la_relay_add(c, fds[i], &targets[i], inside, err) < 0) {
				for (size_t j = i + 1; j < nports; j++)
					close(fds[j]);
				return -1;
			}
		}
		la_verbose(c,
			   "netns: veth %s/%s %s/%u <-> %s in a private relay namespace (host "
			   "namespace untouched), %.1f ms; agent routes: %s/%u and lo only, no "
			   "default route, no DNS",
			   c->net.hub_if, c->net.agent_if, c->net.hub_addr, c->net.prefix,
			   c->net.agent_addr, (double)c->net.setup_us / 1000.0, c->net.subnet,
			   c->net.prefix);
		for (size_t i = 0; i < c->relays.n; i++)
			la_verbose(c, "relay: %s -> %s", c->relays.ls[i].inside,
				   c->relays.ls[i].target.shown);
	} else if (cfg->net == LA_NET_ROOTLESS) {
		la_verbose(c, "netns: user + network namespace, no veth: relays listen on "
			      "127.0.0.1 inside it; no other interface, no route, no DNS");
	}
	c->net_ready = true;
	return 0;
}

int la_run(const struct la_config *cfg)
{
	struct la_ctx *c = &ctx;
	al_err err = {0};
	int code = LA_EXIT_ERROR;

	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->verbose = cfg->verbose > 0;
	c->is_root = geteuid() == 0;
	c->t0_us = al_now_us();
	c->epfd = c->sigfd = -1;
	c->init_pidfd = c->ctl_fd = c->rep_fd = c->status_fd = c->listener = -1;
	c->gw.pidfd = c->gw.viol_fd = c->gw.err_fd = c->gw.hc_fd = -1;
	c->net.hub_ns = -1;
	c->sink.pipe_fd = -1;

	if (setup(c, &err, &code) < 0) {
		/* The agent's init may have failed first (an unwritable workdir,
		 * say) and setup then on its absence (its namespace gone): the
		 * init's own report is the cause; say it first. */
		if (c->rep_fd >= 0)
			on_rep(c, &c->rep_w, 0);
		if (c->errmsg[0])
			fprintf(stderr, LA_PROG ": %s\n", c->errmsg);
		fprintf(stderr, LA_PROG ": %s\n", err.msg);
		if (c->init_pid > 0 || c->gw.pid > 0 || c->state.dir[0])
			teardown(c);
		return code;
	}
	if (loop(c) < 0)
		c->abort = true;
	/* How it ended. */
	const char *reason = "exited";
	if (c->abort) {
		reason = "launcher_error";
		if (c->exit_msg[0])
			fprintf(stderr, LA_PROG ": %s\n", c->exit_msg);
		if (c->exit_code == 0)
			c->exit_code = LA_EXIT_ERROR;
	} else if (c->errmsg[0]) {
		/* setup in init/agent failed, or the exec itself */
		int st = c->got_status ? exit_status_of(c->agent_status) : LA_EXIT_ERROR;
		c->exit_code =
		    (st == LA_EXIT_NOEXEC || st == LA_EXIT_NOTFOUND) ? st : LA_EXIT_ERROR;
		fprintf(stderr, LA_PROG ": %s\n", c->errmsg);
		reason = "launcher_error";
	} else if (!c->got_status) {
		fprintf(stderr, LA_PROG ": the agent's init died without reporting a status (was "
					"it killed?)\n");
		c->exit_code = LA_EXIT_ERROR;
		reason = "launcher_error";
	} else {
		c->exit_code = exit_status_of(c->agent_status);
	}
	if (c->exec_reported) {
		la_record_exit(c, reason);
		la_verbose(c, "agent exited: status %d, %llu exec/fork attempts denied",
			   c->exit_code, c->violations);
	}
	code = c->exit_code;
	teardown(c);
	return code;
}
