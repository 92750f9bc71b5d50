/* Runner processes in the event loop (see spawn.h). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "../shared/cleanup.h"
#include "../shared/util.h"

#define MAX_OUTPUT (64u << 20) /* runner result JSON */

struct job {
	struct job *next; /* queue link */
	struct gw_spawner *s;
	char *spec; /* owned until started */
	size_t spec_len;
	int64_t watchdog_ms;
	gw_job_cb cb;
	void *arg;
	pid_t pid;
	int pidfd, outfd;			 /* owned */
	struct event *ev_exit, *ev_out, *ev_dog; /* owned */
	char *out;				 /* owned */
	size_t out_len, out_cap;
	bool exited, eof, overflow, killed;
	int wstatus_code, wstatus_val; /* si_code, si_status */
	int64_t t0;
};

struct gw_spawner {
	struct event_base *base;
	char runner[4096];
	size_t max_active, max_queue;
	size_t active, queued;
	struct job *qhead, *qtail;
	struct job **running; /* owned array of max_active slots */
	bool stopping;
	int devnull;
	void (*on_change)(void *);
	void *change_arg;
};

static void changed(struct gw_spawner *s)
{
	if (s->on_change)
		s->on_change(s->change_arg);
}

static int high_fd(int fd)
{
	if (fd < 0 || fd >= 10)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return n;
}

struct gw_spawner *gw_spawner_new(struct event_base *base, const char *runner, size_t max_active,
				  size_t max_queue, void (*on_change)(void *), void *change_arg,
				  al_err *err)
{
	struct gw_spawner *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->running = calloc(max_active, sizeof(struct job *))) == NULL) {
		free(s);
		al_err_set(err, ENOMEM, "spawner");
		return NULL;
	}
	s->base = base;
	snprintf(s->runner, sizeof(s->runner), "%s", runner);
	s->max_active = max_active;
	s->max_queue = max_queue;
	s->on_change = on_change;
	s->change_arg = change_arg;
	s->devnull = high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (s->devnull < 0) {
		al_err_set(err, errno, "open /dev/null");
		free(s->running);
		free(s);
		return NULL;
	}
	return s;
}

static void job_free(struct job *j)
{
	if (j->ev_exit)
		event_free(j->ev_exit);
	if (j->ev_out)
		event_free(j->ev_out);
	if (j->ev_dog)
		event_free(j->ev_dog);
	if (j->pidfd >= 0)
		close(j->pidfd);
	if (j->outfd >= 0)
		close(j->outfd);
	free(j->spec);
	free(j->out);
	free(j);
}

static void start_next(struct gw_spawner *s);

static void finish(struct job *j, enum gw_job_status st, const char *msg)
{
	struct gw_spawner *s = j->s;
	struct gw_job_outcome o = {
	    .status = st,
	    .out = j->out ? j->out : "",
	    .out_len = j->out_len,
	    .exit_code = -1,
	    .killed = j->killed,
	    .wall_ms = al_now_ms() - j->t0,
	};

	if (msg)
		snprintf(o.msg, sizeof(o.msg), "%s", msg);
	if (st == GW_JOB_EXITED) {
		if (j->wstatus_code == CLD_EXITED)
			o.exit_code = j->wstatus_val;
		else
			o.signal = j->wstatus_val;
	}
	for (size_t i = 0; i < s->max_active; i++)
		if (s->running[i] == j) {
			s->running[i] = NULL;
			s->active--;
		}
	j->cb(&o, j->arg);
	job_free(j);
	start_next(s);
	changed(s);
}

/* Read what the pipe has now; false on overflow. */
static void drain_out(struct job *j)
{
	for (;;) {
		if (j->out_cap - j->out_len < 65536 + 1) {
			size_t cap = j->out_cap ? j->out_cap * 2 : 65536 * 2;
			if (cap > MAX_OUTPUT + 65536 + 1) {
				j->overflow = true;
				kill(-j->pid, SIGKILL);
				kill(j->pid, SIGKILL);
				j->eof = true;
				return;
			}
			char *n = realloc(j->out, cap);
			if (n == NULL) {
				j->overflow = true;
				j->eof = true;
				return;
			}
			j->out = n;
			j->out_cap = cap;
		}
		ssize_t r = read(j->outfd, j->out + j->out_len, j->out_cap - j->out_len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno != EAGAIN)
				j->eof = true;
			break;
		}
		if (r == 0) {
			j->eof = true;
			break;
		}
		j->out_len += (size_t)r;
	}
	j->out[j->out_len] = '\0';
}

static void maybe_done(struct job *j)
{
	if (!j->exited)
		return;
	/* The runner is gone: take whatever it wrote (a leftover holding the
	 * pipe open must not keep the request waiting). */
	if (!j->eof)
		drain_out(j);
	if (j->overflow)
		finish(j, GW_JOB_FAILED, "agentrun's result is larger than 64 MiB");
	else
		finish(j, GW_JOB_EXITED, NULL);
}

static void on_out(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	drain_out(j);
	if (j->eof)
		event_del(j->ev_out);
}

static void on_exit_ev(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PIDFD, j->pidfd, &si, WEXITED | WNOHANG, NULL) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		si.si_code = CLD_KILLED;
		si.si_status = SIGKILL;
	} else if (si.si_pid == 0) {
		return; /* not yet */
	}
	j->exited = true;
	j->wstatus_code = si.si_code;
	j->wstatus_val = si.si_status;
	event_del(j->ev_exit);
	event_del(j->ev_dog);
	maybe_done(j);
}

static void on_dog(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	gw_log("run watchdog: agentrun pid %d overran its timeout; killing it", (int)j->pid);
	j->killed = true;
	kill(-j->pid, SIGKILL);
	kill(j->pid, SIGKILL);
}

/* The child between fork and exec: no malloc, no stdio. */
static __attribute__((noreturn)) void exec_runner(struct gw_spawner *s, pid_t parent, int specfd,
						  int outw)
{
	static char path_env[] =
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char *envp[4] = {path_env, NULL, NULL, NULL};
	size_t ne = 1;
	char *argv[] = {(char *)"agentrun", (char *)"--spec-fd", (char *)"3", NULL};
	sigset_t none;

	/* agentrun's cgroup placement under systemd (see shared/cgroup.h) */
	const char *keep[] = {"AGENTLAUNCH_CGROUP_BASE", "AGENTLAUNCH_DEBUG"};
	for (size_t i = 0; i < 2; i++) {
		extern char **environ;
		size_t kl = strlen(keep[i]);
		for (char **e = environ; e && *e; e++)
			if (strncmp(*e, keep[i], kl) == 0 && (*e)[kl] == '=')
				envp[ne++] = *e;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (dup2(s->devnull, 0) < 0 || dup2(outw, 1) < 0 || dup2(specfd, 3) < 0)
		_exit(127);
	syscall(SYS_close_range, 4, ~0U, 0);
	execve(s->runner, argv, envp);
	static const char m[] = "agentgw: cannot execute the runner (--runner)\n";
	ssize_t w = write(2, m, sizeof(m) - 1);
	(void)w;
	_exit(127);
}

static int start(struct job *j, char *why, size_t whyn)
{
	struct gw_spawner *s = j->s;
	cleanup_close int specfd = -1, outw = -1;
	int p[2];

	specfd = high_fd(memfd_create("agentgw-spec", MFD_CLOEXEC | MFD_ALLOW_SEALING));
	if (specfd < 0 || al_write_all(specfd, j->spec, j->spec_len) < 0 ||
	    lseek(specfd, 0, SEEK_SET) < 0) {
		snprintf(why, whyn, "spec memfd: %s", strerror(errno));
		return -1;
	}
	fcntl(specfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
	free(j->spec);
	j->spec = NULL;
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(why, whyn, "pipe: %s", strerror(errno));
		return -1;
	}
	j->outfd = high_fd(p[0]);
	outw = high_fd(p[1]);
	if (j->outfd < 0 || outw < 0 || fcntl(j->outfd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(why, whyn, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	j->t0 = al_now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whyn, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		exec_runner(s, parent, specfd, outw);
	j->pid = pid;
	setpgid(pid, pid); /* also from here: no window where a group kill misses it */
	j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (j->pidfd < 0) {
		/* cannot watch it: kill and reap it now */
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		snprintf(why, whyn, "pidfd_open: %s", strerror(errno));
		return -1;
	}
	j->ev_exit = event_new(s->base, j->pidfd, EV_READ | EV_PERSIST, on_exit_ev, j);
	j->ev_out = event_new(s->base, j->outfd, EV_READ | EV_PERSIST, on_out, j);
	j->ev_dog = evtimer_new(s->base, on_dog, j);
	struct timeval tv = {j->watchdog_ms / 1000, (j->watchdog_ms % 1000) * 1000};
	if (!j->ev_exit || !j->ev_out || !j->ev_dog || event_add(j->ev_exit, NULL) < 0 ||
	    event_add(j->ev_out, NULL) < 0 || event_add(j->ev_dog, &tv) < 0) {
		/* the pidfd event is what reaps it: without it, kill and reap now */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		snprintf(why, whyn, "cannot watch the runner: out of memory");
		return -1;
	}
	return 0;
}

static void run_job(struct job *j)
{
	struct gw_spawner *s = j->s;
	char why[200];

	for (size_t i = 0; i < s->max_active; i++)
		if (s->running[i] == NULL) {
			s->running[i] = j;
			s->active++;
			break;
		}
	if (start(j, why, sizeof(why)) < 0) {
		gw_log("cannot start agentrun %s: %s", s->runner, why);
		finish(j, GW_JOB_FAILED, why);
	}
}

static void start_next(struct gw_spawner *s)
{
	while (!s->stopping && s->qhead && s->active < s->max_active) {
		struct job *j = s->qhead;
		s->qhead = j->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		s->queued--;
		j->next = NULL;
		run_job(j);
	}
}

/* Started from the loop so that cb never runs inside submit. */
static void deferred_start(evutil_socket_t fd, short what, void *arg)
{
	start_next(arg);
}

int gw_spawner_submit(struct gw_spawner *s, char *spec, size_t spec_len, int64_t watchdog_ms,
		      gw_job_cb cb, void *arg)
{
	if (s->stopping || s->active + s->queued >= s->max_active + s->max_queue) {
		free(spec);
		return -1;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		free(spec);
		return -1;
	}
	j->s = s;
	j->spec = spec;
	j->spec_len = spec_len;
	j->watchdog_ms = watchdog_ms;
	j->cb = cb;
	j->arg = arg;
	j->pidfd = j->outfd = -1;
	if (s->qtail)
		s->qtail->next = j;
	else
		s->qhead = j;
	s->qtail = j;
	s->queued++;
	event_base_once(s->base, -1, EV_TIMEOUT, deferred_start, s, NULL);
	changed(s);
	return 0;
}

size_t gw_spawner_active(const struct gw_spawner *s)
{
	return s->active;
}

size_t gw_spawner_queued(const struct gw_spawner *s)
{
	return s->queued;
}

void gw_spawner_cancel_queued(struct gw_spawner *s, const char *why)
{
	s->stopping = true;
	while (s->qhead) {
		struct job *j = s->qhead;
		s->qhead = j->next;
		s->queued--;
		struct gw_job_outcome o = {.status = GW_JOB_CANCELLED, .out = "", .exit_code = -1};
		snprintf(o.msg, sizeof(o.msg), "%s", why);
		j->cb(&o, j->arg);
		job_free(j);
	}
	s->qtail = NULL;
	changed(s);
}

void gw_spawner_kill_all(struct gw_spawner *s, int sig)
{
	for (size_t i = 0; i < s->max_active; i++) {
		struct job *j = s->running[i];
		if (j && j->pid > 0 && !j->exited) {
			j->killed = true;
			if (sig == SIGKILL)
				kill(-j->pid, SIGKILL);
			kill(j->pid, sig);
		}
	}
}

void gw_spawner_free(struct gw_spawner *s)
{
	if (s == NULL)
		return;
	if (s->devnull >= 0)
		close(s->devnull);
	free(s->running);
	free(s);
}
