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
	struct job *next; /* queue link; draining list link once answered */
	struct gw_spawner *s;
	char *spec; /* owned until started */
	size_t spec_len;
	char *key; /* owned: the warm pool's key (a spec standing for the profile), or NULL */
	int64_t watchdog_ms;
	gw_job_cb cb;
	void *arg;
	pid_t pid;
	int pidfd, outfd;			 /* owned */
	struct event *ev_exit, *ev_out, *ev_dog; /* owned */
	char *out;				 /* owned */
	size_t out_len, out_cap;
	bool exited, eof, overflow, killed;
	bool answered; /* cb called at the result's EOF; reaped later (draining) */
	int wstatus_code, wstatus_val; /* si_code, si_status */
	int64_t t0;
};

/* A warm runner: agentrun --warm, its sandbox prepared from key, waiting
 * for a spec on its pipe. */
struct warm {
	struct warm *next;
	struct gw_spawner *s;
	char *key;
	pid_t pid;
	int pidfd, specw, outfd;
	struct event *ev_exit;
	bool closing; /* told to go (EOF), not yet reaped */
};

#define WARM_PER_KEY 2
#define WARM_MAX_KEYS 16
#define WARM_BACKOFF_MS 10000 /* after a warm runner died idle */
#define WARM_SPEC_MAX 60000   /* larger specs go to a cold runner (the pipe holds 64 KiB) */

struct gw_spawner {
	struct event_base *base;
	struct warm *warm; /* idle and closing warm runners */
	size_t n_warm_live;
	struct job *draining; /* answered, the runner still tearing its sandbox down */
	uint64_t n_warm_runs, n_cold_runs;
	size_t n_draining;
	int64_t warm_fail_ms;
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
	free(j->key);
	free(j->out);
	free(j);
}

static void start_next(struct gw_spawner *s);
static void warm_spawn(struct gw_spawner *s, const char *key);

static void finish(struct job *j, enum gw_job_status st, const char *msg)
{
	struct gw_spawner *s = j->s;

	if (j->answered) { /* reaped after the early answer */
		for (struct job **pp = &s->draining; *pp; pp = &(*pp)->next)
			if (*pp == j) {
				*pp = j->next;
				break;
			}
		s->n_draining--;
		job_free(j);
		changed(s);
		return;
	}
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
	/* the next requests of this kind find sandboxes ready (made after the
	 * answer: not competing with this run for the CPUs) */
	if (j->key)
		for (int i = 0; i < WARM_PER_KEY; i++)
			warm_spawn(s, j->key);
	if (st == GW_JOB_EXITED && !j->exited) {
		/* answered from the result; the exit is still to be reaped */
		j->answered = true;
		j->next = s->draining;
		s->draining = j;
		s->n_draining++;
	} else {
		job_free(j);
	}
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
	if (!j->eof)
		return;
	event_del(j->ev_out);
	/* agentrun closes stdout after its one result line, then tears the
	 * sandbox down: answer now (a runner that dies with nothing written
	 * is answered from its exit) */
	if (!j->exited && !j->overflow && j->out_len > 0 && !j->answered)
		finish(j, GW_JOB_EXITED, NULL);
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
	if (j->answered) {
		if (j->wstatus_code != CLD_EXITED || j->wstatus_val != 0)
			gw_log("agentrun pid %d %s %d after its result (tearing the sandbox down)",
			       (int)j->pid, j->wstatus_code == CLD_EXITED ? "exited with" : "signal",
			       j->wstatus_val);
		finish(j, GW_JOB_EXITED, NULL);
		return;
	}
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
						  int outw, bool warm)
{
	static char path_env[] =
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char *envp[4] = {path_env, NULL, NULL, NULL};
	size_t ne = 1;
	char *argv[] = {(char *)"agentrun", (char *)"--spec-fd", (char *)"3",
			warm ? (char *)"--warm" : NULL, NULL};
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

static int watch(struct job *j, char *why, size_t whyn);

/* A pipe with both ends above the low fds, CLOEXEC; O_NONBLOCK on the end
 * the monitor keeps (mine: 0 the read end, 1 the write end).  0 or -1. */
static int runner_pipe(int fds[2], int mine)
{
	int p[2];

	fds[0] = fds[1] = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fds[0] = high_fd(p[0]);
	fds[1] = high_fd(p[1]);
	if (fds[0] < 0 || fds[1] < 0 || fcntl(fds[mine], F_SETFL, O_NONBLOCK) < 0) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		fds[0] = fds[1] = -1;
		return -1;
	}
	return 0;
}

/* Start agentrun (--warm or not) with specfd as its fd 3 and outw as its
 * stdout, in a process group of its own; its pid, with *pidfd watching it,
 * or -1 (errno set; nothing left running). */
static pid_t spawn_runner(struct gw_spawner *s, int specfd, int outw, bool warm, int *pidfd)
{
	pid_t parent = getpid();
	pid_t pid = vfork(); /* no page-table copy of the monitor; the child only execs */

	if (pid < 0)
		return -1;
	if (pid == 0)
		exec_runner(s, parent, specfd, outw, warm);
	setpgid(pid, pid); /* also from here: no window where a group kill misses it */
	*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (*pidfd < 0) {
		/* cannot watch it: kill and reap it now */
		int e = errno;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = e;
		return -1;
	}
	return pid;
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
	if (runner_pipe(p, 0) < 0) {
		snprintf(why, whyn, "pipe: %s", strerror(errno));
		return -1;
	}
	j->outfd = p[0];
	outw = p[1];
	j->t0 = al_now_ms();
	j->pid = spawn_runner(s, specfd, outw, false, &j->pidfd);
	if (j->pid < 0) {
		snprintf(why, whyn, "start agentrun: %s", strerror(errno));
		return -1;
	}
	return watch(j, why, whyn);
}

static int watch(struct job *j, char *why, size_t whyn)
{
	struct gw_spawner *s = j->s;
	pid_t pid = j->pid;

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

/* ---- the warm pool ----------------------------------------------------------------- */

static void warm_free(struct warm *w)
{
	struct gw_spawner *s = w->s;
	for (struct warm **pp = &s->warm; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (w->ev_exit)
		event_free(w->ev_exit);
	if (w->pidfd >= 0)
		close(w->pidfd);
	if (w->specw >= 0)
		close(w->specw);
	if (w->outfd >= 0)
		close(w->outfd);
	free(w->key);
	free(w);
}

static void on_warm_exit(evutil_socket_t fd, short what, void *arg)
{
	struct warm *w = arg;
	struct gw_spawner *s = w->s;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PIDFD, w->pidfd, &si, WEXITED | WNOHANG, NULL) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
	} else if (si.si_pid == 0) {
		return;
	}
	if (!w->closing) {
		/* died before it was used: say why (its one JSON line), and
		 * leave requests to cold runners for a while */
		char buf[600] = "";
		ssize_t r = read(w->outfd, buf, sizeof(buf) - 1);
		buf[r > 0 ? r : 0] = '\0';
		gw_log("a warm runner (pid %d) ended before use (%s %d): %s", (int)w->pid,
		       si.si_code == CLD_EXITED ? "status" : "signal", si.si_status,
		       buf[0] ? buf : "no output");
		s->warm_fail_ms = al_now_ms();
	}
	s->n_warm_live--;
	warm_free(w);
	changed(s);
}

static size_t warm_count(struct gw_spawner *s, const char *key, size_t *keys)
{
	size_t n = 0, k = 0;
	for (struct warm *w = s->warm; w; w = w->next) {
		if (w->closing)
			continue;
		if (strcmp(w->key, key) == 0)
			n++;
		k++;
	}
	if (keys)
		*keys = k;
	return n;
}

/* Start a warm runner for key unless there are enough. */
static void warm_spawn(struct gw_spawner *s, const char *key)
{
	size_t total = 0, klen = strlen(key);
	int sp[2] = {-1, -1}, op[2] = {-1, -1};

	if (s->stopping || klen + 1 > WARM_SPEC_MAX ||
	    (s->warm_fail_ms && al_now_ms() - s->warm_fail_ms < WARM_BACKOFF_MS) ||
	    warm_count(s, key, &total) >= WARM_PER_KEY || total >= WARM_PER_KEY * WARM_MAX_KEYS)
		return;
	struct warm *w = calloc(1, sizeof(*w));
	if (w == NULL || (w->key = strdup(key)) == NULL) {
		free(w);
		return;
	}
	w->s = s;
	w->pidfd = w->specw = w->outfd = -1;
	if (runner_pipe(sp, 1) < 0 || runner_pipe(op, 0) < 0)
		goto fail;
	w->specw = sp[1];
	w->outfd = op[0];
	sp[1] = op[0] = -1;
	/* the first line: what to prepare (fits the empty pipe) */
	if (write(w->specw, key, klen) != (ssize_t)klen || write(w->specw, "\n", 1) != 1)
		goto fail;
	w->pid = spawn_runner(s, sp[0], op[1], true, &w->pidfd);
	if (w->pid < 0)
		goto fail;
	close(sp[0]);
	close(op[1]);
	sp[0] = op[1] = -1;
	if ((w->ev_exit = event_new(s->base, w->pidfd, EV_READ | EV_PERSIST, on_warm_exit, w)) ==
		NULL ||
	    event_add(w->ev_exit, NULL) < 0) {
		kill(-w->pid, SIGKILL);
		kill(w->pid, SIGKILL);
		while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto fail;
	}
	w->next = s->warm;
	s->warm = w;
	s->n_warm_live++;
	return;
fail:
	for (int i = 0; i < 2; i++) {
		if (sp[i] >= 0)
			close(sp[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	warm_free(w); /* not listed yet: only frees */
}

/* Tell an idle warm runner to go: EOF on its pipe; it removes its sandbox
 * and exits 0 (reaped by on_warm_exit). */
static void warm_dismiss(struct warm *w)
{
	w->closing = true;
	close(w->specw);
	w->specw = -1;
}

/* Hand j's spec to an idle warm runner for j->key: true when taken, false
 * when there is none (or it cannot take it; then it is told to go). */
static bool warm_take(struct job *j)
{
	struct gw_spawner *s = j->s;
	struct warm *w = NULL;

	if (j->key == NULL || j->spec_len > WARM_SPEC_MAX)
		return false;
	for (struct warm *x = s->warm; x; x = x->next)
		if (!x->closing && strcmp(x->key, j->key) == 0) {
			w = x;
			break;
		}
	if (w == NULL)
		return false;
	/* the pipe holds the first line at most: the spec fits */
	if (write(w->specw, j->spec, j->spec_len) != (ssize_t)j->spec_len) {
		warm_dismiss(w);
		return false;
	}
	close(w->specw);
	w->specw = -1;
	free(j->spec);
	j->spec = NULL;
	j->t0 = al_now_ms();
	j->pid = w->pid;
	j->pidfd = w->pidfd;
	j->outfd = w->outfd;
	w->pidfd = w->outfd = -1;
	s->n_warm_live--;
	warm_free(w);
	return true;
}

void gw_spawner_flush_warm(struct gw_spawner *s)
{
	for (struct warm *w = s->warm; w; w = w->next)
		if (!w->closing)
			warm_dismiss(w);
	s->warm_fail_ms = 0;
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
	int r;
	if (warm_take(j)) {
		s->n_warm_runs++;
		r = watch(j, why, sizeof(why));
	} else {
		s->n_cold_runs++;
		r = start(j, why, sizeof(why));
	}
	if (r < 0) {
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

int gw_spawner_submit(struct gw_spawner *s, char *spec, size_t spec_len, char *key,
		      int64_t watchdog_ms, gw_job_cb cb, void *arg)
{
	if (s->stopping || s->active + s->queued >= s->max_active + s->max_queue) {
		free(spec);
		free(key);
		return -1;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		free(spec);
		free(key);
		return -1;
	}
	j->key = key;
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

void gw_spawner_pool_stats(const struct gw_spawner *s, uint64_t *warm_runs, uint64_t *cold_runs,
			   size_t *idle)
{
	size_t n = 0;
	for (const struct warm *w = s->warm; w; w = w->next)
		n += !w->closing;
	*warm_runs = s->n_warm_runs;
	*cold_runs = s->n_cold_runs;
	*idle = n;
}

size_t gw_spawner_background(const struct gw_spawner *s)
{
	return s->n_warm_live + s->n_draining;
}

size_t gw_spawner_queued(const struct gw_spawner *s)
{
	return s->queued;
}

void gw_spawner_cancel_queued(struct gw_spawner *s, const char *why)
{
	s->stopping = true;
	gw_spawner_flush_warm(s);
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
	for (struct job *j = s->draining; j; j = j->next)
		if (sig == SIGKILL && !j->exited) {
			kill(-j->pid, SIGKILL);
			kill(j->pid, SIGKILL);
		}
	for (struct warm *w = s->warm; w; w = w->next)
		if (sig == SIGKILL) {
			kill(-w->pid, SIGKILL);
			kill(w->pid, SIGKILL);
		}
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
	while (s->draining) {
		struct job *j = s->draining;
		s->draining = j->next;
		if (!j->exited) {
			kill(-j->pid, SIGKILL);
			kill(j->pid, SIGKILL);
			while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		job_free(j);
	}
	while (s->warm) {
		struct warm *w = s->warm;
		kill(-w->pid, SIGKILL);
		kill(w->pid, SIGKILL);
		while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
			;
		warm_free(w);
	}
	if (s->devnull >= 0)
		close(s->devnull);
	free(s->running);
	free(s);
}
