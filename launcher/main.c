/* agentlaunch: argv -> struct la_config, then la_run() (supervise.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"
#include "shared/util.h"

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: agentlaunch [OPTIONS] -- AGENT [ARGS...]\n"
	       "  --policy FILE          policy for the gateway it starts\n"
	       "                         (default /etc/agentlaunch/default.json)\n"
	       "  --gateway-bin PATH     agentgw to start (default: next to agentlaunch)\n"
	       "  --port N               gateway port as the agent sees it (default 9999)\n"
	       "  --skip-gateway URL     use a running gateway (http://HOST:PORT)\n"
	       "  --allow-service H:P    a loopback TCP service the agent may reach (repeatable)\n"
	       "  --net MODE             isolated (default) | rootless | host\n"
	       "  --user NAME|UID[:GID]  the agent's user (default SUDO_UID/SUDO_GID, else 65534)\n"
	       "  --workdir DIR          the agent's writable directory and cwd (default: cwd)\n"
	       "  --identity ID          identity for policy and audit (default: agent basename)\n"
	       "  --token-file FILE      with --skip-gateway: the agent's bearer token\n"
	       "  --audit FILE           audit log (JSON Lines, hash-chained)\n"
	       "  -v, --verbose          print each isolation step and what was verified\n"
	       "Exit status: the agent's (128+N for signal N); 125 launcher error, 126 agent\n"
	       "not executable, 127 agent not found.  See docs/agentlaunch.md.\n");
}

enum {
	OPT_POLICY = 256,
	OPT_GWBIN,
	OPT_PORT,
	OPT_SKIP,
	OPT_SERVICE,
	OPT_NET,
	OPT_USER,
	OPT_WORKDIR,
	OPT_IDENTITY,
	OPT_TOKEN_FILE,
	OPT_AUDIT,
	OPT_VERSION,
};

/* Loopback check for a parsed address. */
static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
	return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
}

/* HOST:PORT / [V6]:PORT / localhost:PORT into out. */
static int parse_hostport(const char *s, const char *what, struct la_endpoint *out, al_err *err)
{
	char host[64];
	const char *colon;
	int64_t port;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return al_err_set(err, EINVAL, "%s '%s': want [V6ADDR]:PORT", what, s);
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || colon == s)
			return al_err_set(err, EINVAL,
					  "%s '%s': want HOST:PORT, e.g. 127.0.0.1:8080", what, s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	if (!al_parse_i64(colon + 1, 1, 65535, &port))
		return al_err_set(err, EINVAL, "%s '%s': the port must be 1..65535", what, s);
	out->port = (uint16_t)port;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->addr;
	if (inet_pton(AF_INET, host, &a->sin_addr) == 1) {
		a->sin_family = AF_INET;
		a->sin_port = htons(out->port);
		out->len = sizeof(*a);
		snprintf(out->shown, sizeof(out->shown), "%s:%u", host, (unsigned)out->port);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(out->port);
		out->len = sizeof(*a6);
		snprintf(out->shown, sizeof(out->shown), "[%s]:%u", host, (unsigned)out->port);
	} else {
		return al_err_set(err, EINVAL,
				  "%s '%s': the host must be a numeric address or localhost", what,
				  s);
	}
	return 0;
}

int la_parse_service(const char *s, struct la_endpoint *out, al_err *err)
{
	if (parse_hostport(s, "--allow-service", out, err) < 0)
		return -1;
	if (!is_loopback(&out->addr))
		return al_err_set(
		    err, EINVAL,
		    "--allow-service %s: only loopback services (127.0.0.0/8, ::1) can "
		    "be allowed",
		    s);
	return 0;
}

int la_parse_url(const char *url, struct la_endpoint *out, al_err *err)
{
	char hp[128];
	const char *p;
	size_t n;

	if (strncmp(url, "http://", 7) != 0)
		return al_err_set(
		    err, EINVAL,
		    "--skip-gateway '%s': want http://HOST:PORT (TLS gateways are not "
		    "supported by the launcher's relay)",
		    url);
	p = url + 7;
	n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(hp) || (p[n] == '/' && p[n + 1] != '\0'))
		return al_err_set(err, EINVAL, "--skip-gateway '%s': want http://HOST:PORT", url);
	memcpy(hp, p, n);
	hp[n] = '\0';
	return parse_hostport(hp, "--skip-gateway", out, err);
}

static int64_t num_arg(const char *opt, const char *s, int64_t min, int64_t max)
{
	int64_t v;

	if (!al_parse_i64(s, min, max, &v))
		al_bail(LA_EXIT_ERROR, LA_PROG, "%s: want an integer in %lld..%lld, got '%s'", opt,
			(long long)min, (long long)max, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"policy", required_argument, NULL, OPT_POLICY},
	    {"gateway-bin", required_argument, NULL, OPT_GWBIN},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"skip-gateway", required_argument, NULL, OPT_SKIP},
	    {"allow-service", required_argument, NULL, OPT_SERVICE},
	    {"net", required_argument, NULL, OPT_NET},
	    {"user", required_argument, NULL, OPT_USER},
	    {"workdir", required_argument, NULL, OPT_WORKDIR},
	    {"identity", required_argument, NULL, OPT_IDENTITY},
	    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
	    {"audit", required_argument, NULL, OPT_AUDIT},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	struct la_config cfg = {.port = LA_DEFAULT_PORT, .net = LA_NET_ISOLATED};
	al_err err = {0};
	int c;

	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_POLICY:
			cfg.policy = optarg;
			break;
		case OPT_GWBIN:
			cfg.gateway_bin = optarg;
			break;
		case OPT_PORT:
			cfg.port = (uint16_t)num_arg("--port", optarg, 1, 65535);
			break;
		case OPT_SKIP:
			cfg.skip_gateway = optarg;
			break;
		case OPT_SERVICE:
			if (cfg.n_services == LA_MAX_SERVICES)
				al_bail(LA_EXIT_ERROR, LA_PROG,
					"--allow-service: at most %d services", LA_MAX_SERVICES);
			if (la_parse_service(optarg, &cfg.services[cfg.n_services], &err) < 0)
				al_die(LA_EXIT_ERROR, LA_PROG, &err);
			cfg.n_services++;
			break;
		case OPT_NET:
			if (strcmp(optarg, "isolated") == 0)
				cfg.net = LA_NET_ISOLATED;
			else if (strcmp(optarg, "rootless") == 0)
				cfg.net = LA_NET_ROOTLESS;
			else if (strcmp(optarg, "host") == 0)
				cfg.net = LA_NET_HOST;
			else
				al_bail(LA_EXIT_ERROR, LA_PROG,
					"--net '%s': want isolated, rootless or host", optarg);
			break;
		case OPT_USER:
			cfg.user = optarg;
			break;
		case OPT_WORKDIR:
			cfg.workdir = optarg;
			break;
		case OPT_IDENTITY:
			cfg.identity = optarg;
			break;
		case OPT_TOKEN_FILE:
			cfg.token_file = optarg;
			break;
		case OPT_AUDIT:
			cfg.audit = optarg;
			break;
		case 'v':
			cfg.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("agentlaunch %s\n", AL_VERSION);
			return 0;
		default:
			usage(stderr);
			return LA_EXIT_ERROR;
		}
	}
	if (optind >= argc)
		al_bail(LA_EXIT_ERROR, LA_PROG,
			"no agent given: agentlaunch [OPTIONS] -- AGENT [ARGS...] (see --help)");
	if (cfg.token_file && !cfg.skip_gateway)
		al_bail(LA_EXIT_ERROR, LA_PROG,
			"--token-file goes with --skip-gateway (a started gateway gets a fresh "
			"token)");
	for (size_t i = 0; i < cfg.n_services; i++) {
		if (cfg.services[i].port == cfg.port && cfg.net != LA_NET_HOST)
			al_bail(
			    LA_EXIT_ERROR, LA_PROG,
			    "--allow-service %s: port %u is the gateway's (--port): pick another "
			    "--port",
			    cfg.services[i].shown, (unsigned)cfg.port);
		for (size_t j = 0; j < i; j++)
			if (cfg.services[j].port == cfg.services[i].port)
				al_bail(LA_EXIT_ERROR, LA_PROG,
					"--allow-service %s and %s: two services on port %u (the "
					"agent sees each as AGENTLAUNCH_SERVICE_<PORT>)",
					cfg.services[j].shown, cfg.services[i].shown,
					(unsigned)cfg.services[i].port);
	}
	cfg.agent_argv = argv + optind;
	return la_run(&cfg);
}
