/* agentgw: argv -> struct gw_config, then one of the three modes
 * (--check-policy, --verify-audit, serve). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../policy/policy.h"
#include "../shared/audit.h"
#include "../shared/util.h"
#include "gw.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: agentgw --listen ADDR [--listen ADDR...] --policy FILE [--audit FILE]\n"
	    "               [--tokens FILE] [--token-fd N] [--tls-cert F --tls-key F "
	    "[--tls-client-ca F]]\n"
	    "               [--audit-key FILE] [--max-concurrency N] [--queue N] [--runner "
	    "PATH]\n"
	    "               [--violation-fd N] [-v]\n"
	    "       agentgw --check-policy --policy FILE\n"
	    "       agentgw --verify-audit FILE [--audit-key FILE]\n"
	    "  ADDR: HOST:PORT, [V6ADDR]:PORT or unix:/path\n"
	    "  --token-fd N      read \"IDENTITY SHA256HEX\" lines from fd N until EOF at start\n"
	    "  --violation-fd N  read sandbox_violation events (JSON lines) from fd N\n"
	    "See docs/agentgw.md.\n");
}

enum {
	OPT_CHECK = 256,
	OPT_VERIFY,
	OPT_KEY,
	OPT_TOKEN_FD,
	OPT_VIOL_FD,
	OPT_CERT,
	OPT_TLSKEY,
	OPT_CA,
	OPT_CONC,
	OPT_QUEUE,
	OPT_RUNNER,
	OPT_READ_TO,
	OPT_IDLE_TO,
	OPT_GRACE,
	OPT_BODY,
	OPT_MAXCONN,
	OPT_USER,
	OPT_SELFTEST,
	OPT_SYNC,
	OPT_PRETEND,
	OPT_VERSION,
};

static int64_t num_arg(const char *opt, const char *s, int64_t min, int64_t max)
{
	int64_t v;

	if (!al_parse_i64(s, min, max, &v))
		al_bail(2, GW_PROG, "%s: want an integer in %lld..%lld, got '%s'", opt,
			(long long)min, (long long)max, s);
	return v;
}

static int check_policy(const char *file)
{
	al_err err = {0};
	struct al_policy *p = NULL;

	if (al_policy_load_file(file, &p, &err) < 0) {
		fprintf(stderr, GW_PROG ": policy invalid: %s\n", err.msg);
		return 1;
	}
	printf("%s\n", p->sha256);
	fprintf(stderr, GW_PROG ": %s: OK (%zu rules, %zu profiles, mode %s)\n", file, p->n_rules,
		p->n_profiles, p->audit_mode ? "audit" : "enforce");
	al_policy_free(p);
	return 0;
}

static int verify_audit(const char *file, const char *key)
{
	al_err err = {0};
	long bad = 0;
	int r = al_audit_verify_file(file, key, stdout, &bad, &err);

	fflush(stdout);
	if (r < 0) {
		fprintf(stderr, GW_PROG ": cannot verify %s: %s\n", file, err.msg);
		return 2;
	}
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"policy", required_argument, NULL, 'p'},
	    {"audit", required_argument, NULL, 'a'},
	    {"tokens", required_argument, NULL, 't'},
	    {"token-fd", required_argument, NULL, OPT_TOKEN_FD},
	    {"violation-fd", required_argument, NULL, OPT_VIOL_FD},
	    {"tls-cert", required_argument, NULL, OPT_CERT},
	    {"tls-key", required_argument, NULL, OPT_TLSKEY},
	    {"tls-client-ca", required_argument, NULL, OPT_CA},
	    {"audit-key", required_argument, NULL, OPT_KEY},
	    {"max-concurrency", required_argument, NULL, OPT_CONC},
	    {"queue", required_argument, NULL, OPT_QUEUE},
	    {"runner", required_argument, NULL, OPT_RUNNER},
	    {"check-policy", no_argument, NULL, OPT_CHECK},
	    {"verify-audit", required_argument, NULL, OPT_VERIFY},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    /* hidden: tests and tuning (docs/agentgw.md, "Hidden flags") */
	    {"read-timeout-ms", required_argument, NULL, OPT_READ_TO},
	    {"idle-timeout-ms", required_argument, NULL, OPT_IDLE_TO},
	    {"grace-ms", required_argument, NULL, OPT_GRACE},
	    {"body-max", required_argument, NULL, OPT_BODY},
	    {"max-connections", required_argument, NULL, OPT_MAXCONN},
	    {"privsep-user", required_argument, NULL, OPT_USER},
	    {"privsep-selftest", no_argument, NULL, OPT_SELFTEST},
	    {"audit-sync", no_argument, NULL, OPT_SYNC},
	    {"pretend-missing", required_argument, NULL, OPT_PRETEND},
	    {NULL, 0, NULL, 0},
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct gw_config cfg = {
	    .token_fd = -1,
	    .violation_fd = -1,
	    .max_concurrency = 4 * (ncpu > 0 ? ncpu : 1),
	    .queue_max = 256,
	    .read_timeout_ms = 10000,
	    .idle_timeout_ms = 30000,
	    .grace_ms = 5000,
	    .body_max = GW_BODY_MAX_DEFAULT,
	    .max_connections = 1024,
	    .privsep_user = "nobody",
	};
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (cfg.n_listen == GW_MAX_LISTEN)
				al_bail(2, GW_PROG, "--listen: at most %d addresses",
					GW_MAX_LISTEN);
			cfg.listen[cfg.n_listen++] = optarg;
			break;
		case 'p':
			cfg.policy_file = optarg;
			break;
		case 'a':
			cfg.audit_file = optarg;
			break;
		case 't':
			cfg.tokens_file = optarg;
			break;
		case OPT_TOKEN_FD:
			cfg.token_fd = (int)num_arg("--token-fd", optarg, 0, 65535);
			break;
		case OPT_VIOL_FD:
			cfg.violation_fd = (int)num_arg("--violation-fd", optarg, 0, 65535);
			break;
		case OPT_CERT:
			cfg.tls_cert = optarg;
			break;
		case OPT_TLSKEY:
			cfg.tls_key = optarg;
			break;
		case OPT_CA:
			cfg.tls_client_ca = optarg;
			break;
		case OPT_KEY:
			cfg.audit_key_file = optarg;
			break;
		case OPT_CONC:
			cfg.max_concurrency = num_arg("--max-concurrency", optarg, 1, 4096);
			break;
		case OPT_QUEUE:
			cfg.queue_max = num_arg("--queue", optarg, 0, 100000);
			break;
		case OPT_RUNNER:
			cfg.runner = optarg;
			break;
		case OPT_CHECK:
			cfg.check_policy = true;
			break;
		case OPT_VERIFY:
			cfg.verify_audit = optarg;
			break;
		case 'v':
			cfg.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("agentgw %s\n", AL_VERSION);
			return 0;
		case OPT_READ_TO:
			cfg.read_timeout_ms = num_arg("--read-timeout-ms", optarg, 100, 3600000);
			break;
		case OPT_IDLE_TO:
			cfg.idle_timeout_ms = num_arg("--idle-timeout-ms", optarg, 100, 3600000);
			break;
		case OPT_GRACE:
			cfg.grace_ms = num_arg("--grace-ms", optarg, 0, 3600000);
			break;
		case OPT_BODY:
			cfg.body_max = num_arg("--body-max", optarg, 1024, 64 << 20);
			break;
		case OPT_MAXCONN:
			cfg.max_connections = num_arg("--max-connections", optarg, 4, 1000000);
			break;
		case OPT_USER:
			cfg.privsep_user = optarg;
			break;
		case OPT_SELFTEST:
			cfg.privsep_selftest = true;
			break;
		case OPT_SYNC:
			cfg.audit_sync = true;
			break;
		case OPT_PRETEND:
			cfg.pretend_missing = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		al_bail(2, GW_PROG, "unexpected argument '%s' (see --help)", argv[optind]);

	if (cfg.verify_audit)
		return verify_audit(cfg.verify_audit, cfg.audit_key_file);
	if (cfg.policy_file == NULL)
		al_bail(2, GW_PROG,
			"--policy FILE is required (e.g. /etc/agentlaunch/default.json)");
	if (cfg.check_policy)
		return check_policy(cfg.policy_file);
	if (cfg.n_listen == 0)
		al_bail(2, GW_PROG, "--listen ADDR is required (e.g. --listen 127.0.0.1:9999)");
	if ((cfg.tls_cert == NULL) != (cfg.tls_key == NULL))
		al_bail(2, GW_PROG, "--tls-cert and --tls-key go together");
	if (cfg.tls_client_ca && cfg.tls_cert == NULL)
		al_bail(2, GW_PROG, "--tls-client-ca needs --tls-cert and --tls-key");
	if (cfg.audit_file == NULL)
		cfg.audit_file = GW_DEFAULT_AUDIT;
	gw_verbose = cfg.verbose;
	return gw_serve(&cfg);
}
