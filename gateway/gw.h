/* agentgw internals shared by its modules.
 *
 * Process model (docs/agentgw.md): one privileged monitor (root) and one
 * unprivileged HTTP front end, talking over a SOCK_SEQPACKET socketpair with
 * JSON messages (ipc.c).  The front end parses HTTP, authenticates, validates
 * and answers what needs no privilege; the monitor re-validates every
 * request it is sent, decides it against the policy, writes the audit log
 * and spawns agentrun. */
#ifndef GW_H
#define GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../shared/err.h"

#define GW_PROG "agentgw"

#define GW_BODY_MAX_DEFAULT (1u << 20) /* request body limit (413 too_large) */
#define GW_HEAD_MAX (16u << 10)	       /* request line + headers */
#define GW_URI_MAX 4096		       /* request target */
#define GW_MAX_LISTEN 16

struct gw_config {
	const char *listen[GW_MAX_LISTEN]; /* borrowed from argv */
	size_t n_listen;
	const char *policy_file;
	const char *audit_file;	    /* default GW_DEFAULT_AUDIT */
	const char *audit_key_file; /* NULL: audit_file + ".key" */
	const char *tokens_file;
	int token_fd;	  /* -1: none */
	int violation_fd; /* -1: none */
	const char *tls_cert, *tls_key, *tls_client_ca;
	int64_t max_concurrency; /* default 4 x CPUs */
	int64_t queue_max;	 /* default 256 */
	const char *runner;	 /* agentrun path; NULL: next to agentgw */
	bool check_policy;
	const char *verify_audit;
	int verbose;
	/* hidden (tests, tuning) */
	int64_t read_timeout_ms;     /* request read deadline, default 10 s */
	int64_t idle_timeout_ms;     /* keep-alive idle, default 30 s */
	int64_t grace_ms;	     /* runs may finish this long after SIGTERM, default 5 s */
	int64_t body_max;	     /* default 1 MiB */
	int64_t max_connections;     /* default 1024 */
	const char *privsep_user;    /* default "nobody" (65534) */
	bool privsep_selftest;	     /* the front end tries forbidden things at start and logs */
	bool audit_sync;	     /* fdatasync every audit record */
	const char *pretend_missing; /* caps probe: report these features missing (tests) */
};

#define GW_DEFAULT_AUDIT "/var/log/agentlaunch/audit.jsonl"

/* An error answer: HTTP status, SPEC §3 code, message. */
struct gw_apierr {
	int status;
	const char *code; /* static string */
	char msg[512];
};

int gw_apierr_set(struct gw_apierr *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Who a request is from. */
struct gw_who {
	char identity[65];
	bool verified;	  /* from a token */
	char token_id[9]; /* first 8 hex digits of the token's sha256, "" without */
};

/* Logging to stderr: "agentgw: ..." (monitor) or "agentgw[front]: ...". */
void gw_log_role(const char *role);
void gw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gw_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int gw_verbose;

/* The serve mode (privsep.c forks, monitor.c and server.c run the halves). */
int gw_serve(const struct gw_config *cfg);

#endif
