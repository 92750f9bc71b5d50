/* agentrun processes, driven by the monitor's libevent loop without ever
 * blocking it: the spec goes in through a sealed memfd on fd 3 (agentrun
 * --spec-fd 3), the result comes back on a non-blocking pipe, the exit is
 * seen through a pidfd.  At most max_active runs at once; further ones wait
 * in a FIFO of at most max_queue; beyond that submit refuses (503
 * overloaded).  Each runner gets its own process group (terminal signals
 * meant for the gateway do not hit it), PR_SET_PDEATHSIG (it dies with the
 * monitor) and a watchdog (SIGKILL to its group) well past its own timeout.
 * A pool of warm runners (sandboxes prepared per profile) takes requests
 * when it can (gw_spawner_submit). */
#ifndef GW_SPAWN_H
#define GW_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw.h"

struct event_base;
struct gw_spawner;

enum gw_job_status {
	GW_JOB_EXITED,	  /* the runner ran and exited (see exit_code / signal, out) */
	GW_JOB_FAILED,	  /* could not start it, or output too large (msg) */
	GW_JOB_CANCELLED, /* never started: the gateway is shutting down (msg) */
};

struct gw_job_outcome {
	enum gw_job_status status;
	const char *out; /* runner stdout (borrowed for the callback), NUL-terminated */
	size_t out_len;
	int exit_code; /* when it exited normally, else -1 */
	int signal;    /* when killed by a signal, else 0 */
	bool killed;   /* by the watchdog or the shutdown grace period */
	int64_t wall_ms;
	char msg[256];
};

typedef void (*gw_job_cb)(const struct gw_job_outcome *o, void *arg);

struct gw_spawner *gw_spawner_new(struct event_base *base, const char *runner, size_t max_active,
				  size_t max_queue, void (*on_change)(void *), void *change_arg,
				  al_err *err);
/* Takes ownership of spec (malloc'd JSON) and key (malloc'd, or NULL).  0:
 * running or queued, cb will be called exactly once, later, from the loop
 * (or from gw_spawner_cancel_queued); -1: the queue is full (spec and key
 * freed, no cb).
 *
 * key: a spec that stands for the request's sandbox (profile, uid, code or
 * command; nothing of the request itself).  A run with a key goes to an
 * idle warm runner of that key when there is one -- agentrun --warm, whose
 * sandbox was prepared from key before the request came; after each keyed
 * run's answer, warm runners are started until 2 are idle for its key (at
 * most 16 keys).  A warm runner that dies unused stops warming for 10 s;
 * requests then go cold. */
int gw_spawner_submit(struct gw_spawner *s, char *spec, size_t spec_len, char *key,
		      int64_t watchdog_ms, gw_job_cb cb, void *arg);
/* Tell every idle warm runner to go (policy reload, shutdown): each removes
 * its sandbox and exits. */
void gw_spawner_flush_warm(struct gw_spawner *s);
/* Runner processes besides the active runs: warm ones (idle, or told to go
 * and not yet reaped) and answered ones still removing their sandbox.  The
 * gateway exits only when there are none. */
size_t gw_spawner_background(const struct gw_spawner *s);
/* Runs started in a warm sandbox, in a cold one; idle warm runners now. */
void gw_spawner_pool_stats(const struct gw_spawner *s, uint64_t *warm_runs, uint64_t *cold_runs,
			   size_t *idle);
size_t gw_spawner_active(const struct gw_spawner *s);
size_t gw_spawner_queued(const struct gw_spawner *s);
/* Shutdown: complete every queued job as CANCELLED and start no more. */
void gw_spawner_cancel_queued(struct gw_spawner *s, const char *why);
/* Shutdown after the grace period: signal every running runner (SIGTERM:
 * the runner alone, so it can clean up; SIGKILL: its whole process group). */
void gw_spawner_kill_all(struct gw_spawner *s, int sig);
/* Only when nothing is active. */
void gw_spawner_free(struct gw_spawner *s);

#endif
