/* agentlaunch internals shared by its modules (docs/agentlaunch.md).
 *
 * Process model, for one launch:
 *
 *   agentlaunch (the supervisor; one thread, one epoll loop)
 *     ├── agentgw           own session, PDEATHSIG; token on fd 3, events on fd 4
 *     └── init              pid 1 of the agent's pid namespace, PDEATHSIG;
 *           │               builds the filesystem view, forwards signals, reaps
 *           └── agent       drops privileges, Landlock, seccomp lock, execve
 *
 * Network (netns.c, relay.c): in isolated mode the agent's network namespace
 * is linked by a veth pair to a second, private "hub" namespace that only
 * the launcher holds; the launcher's relays listen there (on the veth's hub
 * address) and forward to the gateway's unix socket and to the allowed
 * loopback services.  The host namespace gets no interface, no address and
 * no route: host services, whatever they bind to, are not reachable.  In
 * rootless mode there is no veth: init creates the relays' listening
 * sockets on 127.0.0.1 inside the agent's namespace and passes them out.
 *
 * Everything a launch creates is held by a file descriptor or a child
 * process of the launcher (namespaces, veth, relays, gateway), so the
 * kernel removes it when the launcher dies; the state directory
 * (state.c) is what a SIGKILLed launcher leaves, and the next launch
 * sweeps it. */
#ifndef LA_LAUNCH_H
#define LA_LAUNCH_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "shared/err.h"
#include "shared/notify.h"
#include "shared/seccomp.h"

#define LA_PROG "agentlaunch"

#define LA_EXIT_ERROR 125    /* the launcher failed */
#define LA_EXIT_NOEXEC 126   /* the agent is not executable */
#define LA_EXIT_NOTFOUND 127 /* the agent was not found */

#define LA_MAX_SERVICES 32
#define LA_DEFAULT_PORT 9999
#define LA_HEALTH_TIMEOUT_MS 5000
#define LA_GW_STOP_TIMEOUT_MS 3000
#define LA_GW_GRACE_MS "2000" /* runs in flight when the gateway is told to stop */

enum la_net_mode { LA_NET_ISOLATED = 0, LA_NET_ROOTLESS, LA_NET_HOST };

/* A TCP endpoint on the host. */
struct la_endpoint {
	char shown[80]; /* "127.0.0.1:8080" / "[::1]:8080" */
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t len;
};

/* argv turned into a configuration (main.c); strings borrowed from argv. */
struct la_config {
	const char *policy;	  /* NULL: installed default */
	const char *gateway_bin;  /* NULL: agentgw next to agentlaunch */
	uint16_t port;		  /* gateway port as seen by the agent */
	const char *skip_gateway; /* URL of a running gateway, or NULL */
	struct la_endpoint services[LA_MAX_SERVICES];
	size_t n_services;
	enum la_net_mode net;
	const char *user;	/* NAME|UID[:GID], NULL: SUDO_UID/SUDO_GID or 65534 */
	const char *workdir;	/* NULL: cwd */
	const char *identity;	/* NULL: basename of the agent */
	const char *token_file; /* with --skip-gateway */
	const char *audit;	/* audit log, NULL: the gateway's default */
	int verbose;
	char **agent_argv; /* NULL-terminated, borrowed from main's argv */
};

/* Run one launch to completion; returns the launcher's exit status. */
int la_run(const struct la_config *cfg);

/* Parse "H:P" / "[V6]:P" of a loopback TCP service (main.c, pure). */
int la_parse_service(const char *s, struct la_endpoint *out, al_err *err);
/* Parse "http://HOST:PORT[/]" with a numeric host or localhost (pure). */
int la_parse_url(const char *url, struct la_endpoint *out, al_err *err);

/* prepare.c: before anything starts (struct la_ctx below). */
struct la_ctx;
/* 0, or LA_EXIT_NOTFOUND / LA_EXIT_NOEXEC with err. */
int la_resolve_agent(const char *name, char *out, al_err *err);
int la_resolve_user(struct la_ctx *c, al_err *err);
struct stat;
int la_prepare_workdir(struct la_ctx *c, struct stat *st, al_err *err);
char **la_build_env(const struct la_ctx *c, const char *svc_inside[]);
int la_read_token_file(struct la_ctx *c, al_err *err);
int la_find_policy(struct la_ctx *c, al_err *err);

/* -------------------------------------------------------------- the loop */

struct la_ctx;
struct la_watch;
typedef void (*la_watch_fn)(struct la_ctx *c, struct la_watch *w, uint32_t events);

/* One fd in the supervisor's epoll set (epoll data points here). */
struct la_watch {
	int fd; /* borrowed: the owner closes it after la_watch_del */
	la_watch_fn fn;
	void *arg;
	uint32_t events;
	bool added;
};

int la_watch_add(struct la_ctx *c, struct la_watch *w, int fd, uint32_t events, la_watch_fn fn,
		 void *arg);
void la_watch_mod(struct la_ctx *c, struct la_watch *w, uint32_t events);
void la_watch_del(struct la_ctx *c, struct la_watch *w);

/* Verbose step report: "agentlaunch: TEXT" on stderr with -v. */
void la_verbose(const struct la_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void la_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------- modules */

/* state.c: /run/agentlaunch/launch/<pid> (root) or
 * $XDG_RUNTIME_DIR/agentlaunch/launch/<pid>, /tmp/agentlaunch-<uid>/... */
struct la_state {
	char dir[PATH_MAX]; /* "" until created */
	char base[PATH_MAX];
	pid_t gw_pid, init_pid; /* recorded for the sweep */
};
int la_state_create(struct la_state *s, al_err *err);
int la_state_record(struct la_state *s, al_err *err); /* rewrite the owner file */
void la_state_remove(struct la_state *s);
/* Remove what dead launchers left under base; returns how many. */
int la_state_sweep(const char *base, bool verbose);
int la_state_base(char *out, size_t n, al_err *err);
unsigned long long la_proc_starttime(pid_t pid); /* 0 when gone */

/* netns.c: isolated mode. */
struct la_net {
	int hub_ns; /* owned, -1: the private namespace holding the veth's far end */
	uint32_t net;
	char subnet[INET_ADDRSTRLEN];
	char hub_addr[INET_ADDRSTRLEN];
	char agent_addr[INET_ADDRSTRLEN];
	unsigned prefix;
	char hub_if[16], agent_if[16];
	int64_t setup_us;
};
/* Pick the /30 (no overlap with the host's routes and addresses). */
int la_net_plan(struct la_net *n, al_err *err);
/* Create the hub namespace and the veth pair (its peer made directly inside
 * agent_ns, the agent's network namespace: borrowed fd) with addresses,
 * bring lo up inside, and bind one listening TCP socket per port on the hub
 * address (fds[i] gets the socket for ports[i], owned by the caller). */
int la_net_isolated(struct la_net *n, int agent_ns, const uint16_t *ports, size_t nports, int *fds,
		    al_err *err);
void la_net_close(struct la_net *n);
/* Bring "lo" up in the calling thread's network namespace (ioctl). */
int la_net_lo_up(al_err *err);
/* A listening TCP socket on 127.0.0.1:port in the current namespace. */
int la_net_listen_loopback(uint16_t port, al_err *err);

/* relay.c */
struct la_relay_target {
	char shown[PATH_MAX + 16];
	struct sockaddr_storage addr;
	socklen_t len;
};
struct la_relay_listener {
	struct la_watch w;
	int fd; /* owned */
	struct la_relay_target target;
	char inside[80]; /* as the agent sees it: "10.77.0.1:9999" */
	unsigned long accepted;
};
struct la_relay_conn;
struct la_relays {
	struct la_relay_listener ls[LA_MAX_SERVICES + 1];
	size_t n;
	struct la_relay_conn *conns; /* live connections (list) */
	struct la_relay_conn *dead;  /* closed this round, freed after the batch */
	size_t n_conns;
};
/* Take ownership of listening socket fd; forward its connections to t. */
int la_relay_add(struct la_ctx *c, int fd, const struct la_relay_target *t, const char *inside,
		 al_err *err);
void la_relay_reap(struct la_ctx *c); /* free connections closed in the last batch */
void la_relay_close_all(struct la_ctx *c);

/* gateway.c */
struct la_gw {
	pid_t pid;
	int pidfd;   /* owned */
	int viol_fd; /* owned: write end of the event pipe (agentgw's --violation-fd) */
	int err_fd;  /* owned: read end of agentgw's stderr */
	struct la_watch err_w, pid_w;
	char sock[PATH_MAX]; /* unix socket the launcher talks to */
	char errtail[4096];  /* last bytes of its stderr */
	size_t errlen;
	char linebuf[1024];
	size_t linelen;
	/* health check */
	int hc_fd;
	struct la_watch hc_w;
	char hc_buf[2048];
	size_t hc_len;
	bool hc_sent;
	int64_t hc_next_us, hc_deadline_us, started_us, ready_us;
	bool ready, exited, stopping;
	bool launch_events; /* it records agent_start/agent_exit lines */
	int wstatus;
	char policy_sha[65];
};
int la_gw_start(struct la_ctx *c, al_err *err);
void la_gw_tick(struct la_ctx *c); /* retry the health check when due */
int64_t la_gw_next_timer(const struct la_ctx *c);
/* Ask it to stop (SIGTERM) and wait up to LA_GW_STOP_TIMEOUT_MS, then SIGKILL. */
void la_gw_stop(struct la_ctx *c);
const char *la_gw_errtail(const struct la_ctx *c);

/* lock.c: events to the audit log (the gateway's, over the violation pipe,
 * or with --skip-gateway the launcher's own --audit file). */
struct al_violation;
struct la_sink {
	int pipe_fd;	  /* borrowed from la_gw, -1 */
	const char *file; /* own audit file, NULL */
	char *q;	  /* pending bytes for the pipe */
	size_t qlen, qcap;
	struct la_watch w;
	bool w_added;
	void *pending; /* json_t array of records for the file */
	/* rate limit: tokens refill LA_VIOL_RATE per second up to LA_VIOL_BURST */
	double tokens;
	int64_t refill_us, summary_due_us;
	unsigned long long total, recorded, suppressed;
	void *last_suppressed; /* json_t of the newest suppressed violation */
	unsigned long long lost;
};
#define LA_VIOL_BURST 256.0
#define LA_VIOL_RATE 64.0
void la_sink_init(struct la_ctx *c);
void la_sink_violation(struct la_ctx *c, const struct al_violation *v);
/* A generic event record (agent_start, agent_exit); takes a reference. */
void la_sink_event(struct la_ctx *c, void *json_rec);
void la_sink_tick(struct la_ctx *c);
int64_t la_sink_next_timer(const struct la_ctx *c);
/* Write everything out (blocking, bounded) and detach. */
void la_sink_finish(struct la_ctx *c);
/* Build the agent lock (cached BPF, see lock.c) into c->bpf. */
int la_lock_build(struct la_ctx *c, al_err *err);
/* Cheap check that the launcher's own audit file can be written. */
int la_sink_check_file(const char *path, al_err *err);
/* agent_start / agent_exit records (lock.c); la_layers_json: a new object
 * describing the isolation layers of this launch. */
typedef struct json_t json_t;
json_t *la_layers_json(const struct la_ctx *c);
void la_record_start(struct la_ctx *c);
void la_record_exit(struct la_ctx *c, const char *reason);
/* Start answering the seccomp listener (c->listener): the agent's first
 * exec is held until then. */
int la_lock_arm(struct la_ctx *c, al_err *err);

/* confine.c: code of the two children. */
struct la_child {
	const char *agent_path; /* resolved on the host */
	char **argv, **envp;
	uid_t uid;
	gid_t gid;
	bool userns;	 /* in a user namespace (rootless) */
	uid_t outer_uid; /* launcher's ids (userns maps) */
	const char *workdir;
	dev_t wd_dev;
	ino_t wd_ino;
	const char *home;	     /* the agent user's home ("" if none): stays visible */
	bool rootless_net;	     /* init brings lo up and makes the relays' listeners */
	const uint16_t *relay_ports; /* rootless: listen on 127.0.0.1 inside */
	size_t n_relay_ports;
	int ctl_sock;  /* SEQPACKET: relay fds, then the seccomp listener */
	int rep_fd;    /* report pipe ("v ..." / "e ..." lines), CLOEXEC */
	int status_fd; /* init -> supervisor: the agent's wait status */
	int sync_fd;   /* supervisor -> init: id maps written (userns) */
	const struct al_bpf *bpf;
	bool verbose;
	pid_t supervisor;
};
__attribute__((noreturn)) void la_init_main(struct la_child *ch);

/* The whole launch. */
struct la_ctx {
	const struct la_config *cfg;
	int epfd;
	bool verbose;
	bool is_root;
	int64_t t0_us;
	char launch_id[24];
	char agent_path[PATH_MAX];
	char identity[65];
	uid_t uid;
	gid_t gid;
	char home[PATH_MAX]; /* the agent user's home, "" if none */
	char workdir[PATH_MAX];
	char token[65];
	bool have_token;
	char gw_url[128]; /* AGENTGW_URL */
	char policy[PATH_MAX];
	char audit[PATH_MAX]; /* the audit log in use */
	char exe_dir[PATH_MAX];
	struct la_endpoint upstream; /* --skip-gateway target */
	struct la_state state;
	struct la_gw gw;
	struct la_net net;
	struct la_relays relays;
	struct la_sink sink;
	struct al_bpf bpf;
	int lock_denied; /* number of syscalls the lock denies outright */
	/* the agent */
	pid_t init_pid;
	int init_pidfd, ctl_fd, rep_fd, status_fd, listener;
	struct la_watch init_w, ctl_w, rep_w, status_w, listener_w, sig_w;
	int sigfd;
	char rep_buf[4096];
	size_t rep_len;
	char errmsg[2048];
	bool exec_reported, init_exited, got_status, listener_armed, abort, net_ready;
	int agent_status;
	unsigned relay_fds_wanted, relay_fds_got;
	int pending_signal;
	int64_t agent_start_us;
	pid_t agent_pid; /* the agent, in our pid namespace (SCM_CREDENTIALS) */
	unsigned long long violations;
	struct al_notify_state nstate;
	char layers[512];
	bool done;
	int exit_code;
	char exit_msg[2048];
};

#endif
