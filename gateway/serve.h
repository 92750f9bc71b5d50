/* What the two halves of the gateway start with: made by the privileged
 * process before the split (privsep.c), then each half keeps what it needs
 * (the monitor drops the listeners and the TLS context, the front end never
 * sees the audit key: the audit log is opened by the monitor after the
 * split). */
#ifndef GW_SERVE_H
#define GW_SERVE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "auth.h"
#include "caps.h"
#include "gw.h"
#include "listen.h"

struct al_policy;

struct gw_shared {
	const struct gw_config *cfg;
	struct al_policy *policy; /* owned */
	struct gw_auth auth;
	struct gw_caps caps;
	struct gw_listener ls[GW_MAX_LISTEN];
	size_t nls;
	SSL_CTX *ssl; /* owned; NULL without TLS */
	char runner[PATH_MAX];
	int64_t start_ms;
};

/* The privileged monitor's loop; returns the process exit status. */
int gw_monitor_run(struct gw_shared *sh, int ipc_fd, pid_t front_pid);
/* The unprivileged front end's loop (after gw_privsep_confine); returns
 * the exit status. */
int gw_front_run(struct gw_shared *sh, int ipc_fd);

/* The front end: drop to uid/gid, clear groups and capabilities,
 * no_new_privs, Landlock without any filesystem access, seccomp filter. */
struct gw_drop {
	bool change_ids;
	uid_t uid;
	gid_t gid;
};
int gw_privsep_user(const char *spec, struct gw_drop *out, al_err *err);
int gw_privsep_confine(const struct gw_drop *d, al_err *err);
/* --privsep-selftest: attempt what the confinement forbids, log each errno. */
void gw_privsep_selftest(pid_t monitor_pid, const char *policy_file);

#endif
