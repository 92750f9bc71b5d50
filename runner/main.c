/* agentrun — run one program or one piece of code in a profile's sandbox.
 *
 *   agentrun [--policy FILE] --profile NAME [--identity ID] [--timeout S]
 *            [--uid UID[:GID]] [--json] -- PROGRAM [ARGS...]
 *   agentrun ... --code CODE|-            (code through the profile's interpreter)
 *   agentrun --spec-fd N                  (gateway interface: JSON spec on fd N,
 *                                          one JSON result or error on stdout)
 *   agentrun --spec-fd N --warm           (the same, with a sandbox prepared from
 *                                          a first line before the spec comes)
 *
 * This file only turns argv into a run spec; run.c does the work. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/match.h"
#include "policy/policy.h"
#include "run.h"
#include "shared/cleanup.h"
#include "shared/util.h"

#define PROG "agentrun"
#define EXIT_AGENTRUN 125

static void usage(FILE *f)
{
	fprintf(f, "usage: agentrun [--policy FILE] --profile NAME [--identity ID] [--timeout S]\n"
		   "                [--uid UID[:GID]] [--json] -- PROGRAM [ARGS...]\n"
		   "       agentrun [--policy FILE] --profile NAME ... --code CODE|-\n"
		   "       agentrun --spec-fd N [--warm]\n");
}

/* The policy used when --policy is absent: $AGENTLAUNCH_POLICY, the
 * installed one, else the source tree's (for a build run in place). */
static const char *default_policy(char *buf, size_t n)
{
	const char *env = getenv("AGENTLAUNCH_POLICY");
	if (env && *env)
		return env;
	if (access("/etc/agentlaunch/policy.json", R_OK) == 0)
		return "/etc/agentlaunch/policy.json";
	if (access("/etc/agentlaunch/default.json", R_OK) == 0)
		return "/etc/agentlaunch/default.json";
	char exe[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l > 0) {
		exe[l] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			int w = snprintf(buf, n, "%s/../../policy/default.json", exe);
			if (w > 0 && (size_t)w < n && access(buf, R_OK) == 0)
				return buf;
		}
	}
	return "/etc/agentlaunch/policy.json";
}

static int print_json_line(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (s == NULL)
		return -1;
	int r = al_write_all(STDOUT_FILENO, s, strlen(s));
	if (r == 0)
		r = al_write_all(STDOUT_FILENO, "\n", 1);
	free(s);
	return r;
}

static __attribute__((noreturn)) void spec_fail(const char *code, const al_err *e)
{
	json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", e->msg);
	if (j)
		print_json_line(j);
	fprintf(stderr, PROG ": %s\n", e->msg);
	exit(EXIT_AGENTRUN);
}

/* Gateway modes: the result goes out the moment it is known, and stdout is
 * closed, so the gateway answers while the sandbox is being torn down. */
static void result_early(const struct al_run_result *res, void *arg)
{
	json_t *out = al_run_result_to_json(res);
	if (out)
		print_json_line(out);
	json_decref(out);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, STDOUT_FILENO);
		close(nul);
	}
}

/* A spec's JSON text (what names it in an error). */
static json_t *load_json(const char *buf, size_t len, const char *what, al_err *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		al_err_set(err, 0, "%s: %s", what, jerr.text);
	return j;
}

static int spec_fd_mode(int fd)
{
	al_err err = {0};
	cleanup_free char *buf = NULL;
	size_t len = 0;
	struct al_run_spec spec;
	struct al_run_result res;
	enum al_run_failure failure;
	struct al_run_opts opts = {.stdin_fd = -1, .on_result = result_early};

	al_run_spec_init(&spec);
	if (al_read_fd_all(fd, 64u << 20, &buf, &len, &err) < 0)
		spec_fail("runner_error", &err);
	close(fd);
	json_t *j = load_json(buf, len, "run spec", &err);
	if (j == NULL || al_run_spec_from_json(j, &spec, &err) < 0)
		spec_fail("runner_error", &err);
	json_decref(j);
	if (al_run(&spec, &opts, &res, &failure, &err) < 0)
		spec_fail(failure == AL_RUN_UNENFORCEABLE ? "unenforceable" : "runner_error", &err);
	al_run_result_free(&res);
	al_run_spec_free(&spec);
	return 0;
}

/* --warm: the spec fd first carries one line, a spec that stands for the
 * profile (its profile, syscall_profile, uid, gid, code or not, limits);
 * the sandbox is prepared from it, then the real spec follows up to EOF and
 * runs in the prepared sandbox.  EOF instead of a spec (the gateway closed
 * its pool) or SIGTERM: remove the sandbox, exit 0 without output. */
static json_t *read_json_line(int fd, char **rest, size_t *rest_len, al_err *err)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	for (;;) {
		char *nl = buf ? memchr(buf, '\n', len) : NULL;
		if (nl) {
			json_t *j = load_json(buf, (size_t)(nl - buf), "warm spec", err);
			*rest_len = len - (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, *rest_len);
			*rest = buf;
			return j;
		}
		if (buf == NULL || len == cap) {
			if (buf == NULL || cap >= (8u << 20)) {
				free(buf);
				al_err_set(err, E2BIG, "warm spec: no newline in 8 MiB");
				return NULL;
			}
			char *n = realloc(buf, cap * 2);
			if (n == NULL) {
				free(buf);
				al_err_set(err, ENOMEM, "warm spec");
				return NULL;
			}
			buf = n;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			if (r == 0 && len == 0)
				exit(0); /* closed before anything came: nothing to do */
			al_err_set(err, r < 0 ? errno : 0, "warm spec: %s",
				   r < 0 ? "read failed" : "no newline before EOF");
			return NULL;
		}
		len += (size_t)r;
	}
}

static bool same_field(json_t *a, json_t *b, const char *k)
{
	json_t *x = json_object_get(a, k), *y = json_object_get(b, k);
	return (x == NULL && y == NULL) || (x && y && json_equal(x, y));
}

static int warm_mode(int fd)
{
	al_err err = {0};
	cleanup_free char *rest = NULL, *more = NULL;
	size_t rest_len = 0, more_len = 0;
	struct al_run_spec proto, spec;
	struct al_run_result res;
	enum al_run_failure failure;
	struct al_run_opts opts = {.stdin_fd = -1, .on_result = result_early};
	struct al_run_prep *p = NULL;

	al_run_spec_init(&proto);
	al_run_spec_init(&spec);
	json_t *pj = read_json_line(fd, &rest, &rest_len, &err);
	if (pj == NULL || al_run_spec_from_json(pj, &proto, &err) < 0)
		spec_fail("runner_error", &err);
	/* The prepared sandbox's cgroup is named by the run id: its own one
	 * (the gateway's pool keys all look alike). */
	char wid[40] = "r-";
	if (al_random_hex(wid + 2, 12, &err) < 0)
		spec_fail("runner_error", &err);
	free(proto.run_id);
	if ((proto.run_id = strdup(wid)) == NULL) {
		al_err_set(&err, ENOMEM, "warm spec");
		spec_fail("runner_error", &err);
	}
	if (al_run_prepare(&proto, &opts, &p, &failure, &err) < 0)
		spec_fail(failure == AL_RUN_UNENFORCEABLE ? "unenforceable" : "runner_error", &err);
	/* Wait for the request (or the end; or the sandbox's end: its init
	 * killed or failed while waiting -- say so and go, so the gateway
	 * never hands a request to a dead sandbox). */
	struct pollfd pfd[3] = {{fd, POLLIN, 0},
				{al_run_prep_sigfd(p), POLLIN, 0},
				{al_run_prep_pidfd(p), POLLIN, 0}};
	while (rest_len == 0) {
		int r = poll(pfd, 3, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || pfd[1].revents) {
			al_run_abandon(p);
			return 0;
		}
		if (pfd[2].revents) {
			al_run_prep_died(p, &err);
			al_run_abandon(p);
			spec_fail("runner_error", &err);
		}
		if (pfd[0].revents)
			break;
	}
	if (al_read_fd_all(fd, 64u << 20, &more, &more_len, &err) < 0) {
		al_run_abandon(p);
		spec_fail("runner_error", &err);
	}
	close(fd);
	if (rest_len + more_len == 0) {
		al_run_abandon(p);
		return 0;
	}
	cleanup_free char *all = malloc(rest_len + more_len + 1);
	if (all == NULL) {
		al_run_abandon(p);
		al_err_set(&err, ENOMEM, "run spec");
		spec_fail("runner_error", &err);
	}
	memcpy(all, rest, rest_len);
	if (more_len)
		memcpy(all + rest_len, more, more_len);
	json_t *j = load_json(all, rest_len + more_len, "run spec", &err);
	if (j == NULL) {
		al_run_abandon(p);
		spec_fail("runner_error", &err);
	}
	if (!same_field(pj, j, "profile") || !same_field(pj, j, "syscall_profile") ||
	    !same_field(pj, j, "uid") || !same_field(pj, j, "gid") ||
	    (json_object_get(pj, "code") == NULL) != (json_object_get(j, "code") == NULL)) {
		al_run_abandon(p);
		al_err_set(&err, EINVAL, "run spec: not the profile this sandbox was prepared for");
		spec_fail("runner_error", &err);
	}
	if (al_run_spec_from_json(j, &spec, &err) < 0) {
		al_run_abandon(p);
		spec_fail("runner_error", &err);
	}
	json_decref(j);
	if (al_run_start(p, &spec, &res, &failure, &err) < 0)
		spec_fail(failure == AL_RUN_UNENFORCEABLE ? "unenforceable" : "runner_error", &err);
	al_run_result_free(&res);
	al_run_spec_free(&spec);
	al_run_spec_free(&proto);
	json_decref(pj);
	return 0;
}

static bool parse_uid(const char *s, uid_t *uid, gid_t *gid)
{
	char buf[64];
	int64_t u, g;

	snprintf(buf, sizeof(buf), "%s", s);
	char *colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (!al_parse_i64(buf, 1, 4294967294LL, &u))
		return false;
	g = u;
	if (colon && !al_parse_i64(colon + 1, 1, 4294967294LL, &g))
		return false;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"policy", required_argument, NULL, 'p'},	{"profile", required_argument, NULL, 'P'},
	    {"identity", required_argument, NULL, 'i'}, {"timeout", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},		{"code", required_argument, NULL, 'c'},
	    {"uid", required_argument, NULL, 'u'},	{"spec-fd", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},	{"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	{"warm", no_argument, NULL, 'W'},
	    {NULL, 0, NULL, 0}};
	const char *policy_path = NULL, *profile = NULL, *identity = "local", *code = NULL;
	int64_t timeout = AL_LIMIT_UNSET, spec_fd = -1;
	bool json_out = false, verbose = false, warm = false;
	uid_t uid = 65534;
	gid_t gid = 65534;
	char pbuf[PATH_MAX];
	al_err err = {0};
	int opt;

	while ((opt = getopt_long(argc, argv, "+hvV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			policy_path = optarg;
			break;
		case 'P':
			profile = optarg;
			break;
		case 'i':
			identity = optarg;
			break;
		case 't':
			if (!al_parse_i64(optarg, 1, 86400, &timeout))
				al_bail(EXIT_AGENTRUN, PROG,
					"--timeout: want seconds between 1 and 86400, got '%s'",
					optarg);
			break;
		case 'j':
			json_out = true;
			break;
		case 'c':
			code = optarg;
			break;
		case 'u':
			if (!parse_uid(optarg, &uid, &gid))
				al_bail(EXIT_AGENTRUN, PROG,
					"--uid: want UID[:GID] (not 0), got '%s'", optarg);
			break;
		case 'S':
			if (!al_parse_i64(optarg, 0, INT32_MAX, &spec_fd))
				al_bail(EXIT_AGENTRUN, PROG,
					"--spec-fd: want a file descriptor number, got '%s'",
					optarg);
			break;
		case 'v':
			verbose = true;
			break;
		case 'W':
			warm = true;
			break;
		case 'V':
			printf("agentrun %s\n", AL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_AGENTRUN;
		}
	}
	if (warm && spec_fd < 0)
		al_bail(EXIT_AGENTRUN, PROG, "--warm needs --spec-fd N");
	if (spec_fd >= 0)
		return warm ? warm_mode((int)spec_fd) : spec_fd_mode((int)spec_fd);
	if (profile == NULL) {
		usage(stderr);
		al_bail(EXIT_AGENTRUN, PROG,
			"--profile is required (e.g. --profile command_default)");
	}
	if (code == NULL && optind >= argc) {
		usage(stderr);
		al_bail(EXIT_AGENTRUN, PROG,
			"no program given: agentrun --profile NAME -- PROGRAM [ARGS...]");
	}
	if (code != NULL && optind < argc)
		al_bail(EXIT_AGENTRUN, PROG, "give either --code or a program, not both");
	if (!al_identity_valid(identity))
		al_bail(EXIT_AGENTRUN, PROG,
			"--identity '%s': use 1-64 characters of A-Z a-z 0-9 . _ -", identity);

	if (policy_path == NULL)
		policy_path = default_policy(pbuf, sizeof(pbuf));
	struct al_policy *pol = NULL;
	if (al_policy_load_profiles(policy_path, AL_POLICY_MARKER_DIR, &pol, &err) < 0)
		al_die(EXIT_AGENTRUN, PROG, &err);
	const struct al_profile *pr = al_policy_find_profile(pol, profile);
	if (pr == NULL)
		al_bail(EXIT_AGENTRUN, PROG, "profile '%s' is not in %s", profile, policy_path);

	/* The spec straight from the loaded profile (the loader validated it
	 * all; the gateway's specs take the JSON road and its validation). */
	struct al_run_spec spec;
	al_run_spec_init(&spec);
	char run_id[40] = "r-";
	if (al_random_hex(run_id + 2, 12, &err) < 0)
		al_die(EXIT_AGENTRUN, PROG, &err);
	struct al_limits req;
	al_limits_init(&req);
	req.timeout_sec = timeout;
	al_limits_effective(&pr->limits, &req, &spec.limits);
	spec.run_id = strdup(run_id);
	spec.identity = strdup(identity);
	spec.uid = uid;
	spec.gid = gid;
	if (spec.run_id == NULL || spec.identity == NULL ||
	    al_profile_copy(&spec.profile, pr, &err) < 0)
		al_bail(EXIT_AGENTRUN, PROG, "cannot build the run spec: %s",
			err.msg[0] ? err.msg : "out of memory");
	if (pr->sc) {
		if (al_syscall_profile_copy(&spec.sc, pr->sc, &err) < 0)
			al_die(EXIT_AGENTRUN, PROG, &err);
		spec.profile.sc = &spec.sc;
	}

	cleanup_free char *code_buf = NULL;
	size_t code_len = 0;
	if (code != NULL) {
		if (pr->language == NULL)
			al_bail(EXIT_AGENTRUN, PROG,
				"profile '%s' has no language: --code needs a code profile such as "
				"python_sandbox",
				profile);
		if (strcmp(code, "-") == 0) {
			if (al_read_fd_all(STDIN_FILENO, 1u << 20, &code_buf, &code_len, &err) < 0)
				al_die(EXIT_AGENTRUN, PROG, &err);
		} else {
			code_buf = strdup(code);
			code_len = strlen(code);
		}
		if (code_len == 0)
			al_bail(EXIT_AGENTRUN, PROG, "--code: the code is empty");
		spec.code = TAKE_PTR(code_buf);
		spec.code_len = code_len;
	} else {
		char resolved[PATH_MAX];
		bool named = false;
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			cwd[0] = '\0';
		if (al_resolve_executable(argv[optind], pr->path, &pr->fs.read_only,
					  cwd[0] ? cwd : NULL, resolved, sizeof(resolved), &named,
					  &err) < 0)
			al_die(err.errnum == ENOENT ? 127
						    : (err.errnum == EACCES ? 126 : EXIT_AGENTRUN),
			       PROG, &err);
		size_t n = (size_t)(argc - optind);
		spec.argv = calloc(n + 1, sizeof(char *));
		if (spec.argv == NULL || (spec.argv[0] = strdup(resolved)) == NULL)
			al_bail(EXIT_AGENTRUN, PROG, "out of memory");
		for (size_t i = 1; i < n; i++)
			if ((spec.argv[i] = strdup(argv[optind + (int)i])) == NULL)
				al_bail(EXIT_AGENTRUN, PROG, "out of memory");
	}
	al_policy_free(pol);

	struct al_run_opts opts = {
	    .passthrough = !json_out, .stdin_fd = -1, .verbose = verbose, .no_usage = !json_out};
	if (json_out) {
		cleanup_free char *in = NULL;
		size_t inlen = 0;
		if (code == NULL || strcmp(code, "-") != 0) {
			if (!isatty(STDIN_FILENO) &&
			    al_read_fd_all(STDIN_FILENO, 16u << 20, &in, &inlen, &err) < 0)
				al_die(EXIT_AGENTRUN, PROG, &err);
			spec.stdin_data = TAKE_PTR(in);
			spec.stdin_len = inlen;
		}
	} else if (code != NULL && strcmp(code, "-") == 0) {
		opts.stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	struct al_run_result res;
	enum al_run_failure failure;
	struct al_run_prep *left = NULL;
	if (al_run_keep(&spec, &opts, &res, &failure, &err, &left) < 0)
		al_die(EXIT_AGENTRUN, PROG, &err);
	if (json_out) {
		json_t *out = al_run_result_to_json(&res);
		print_json_line(out);
		json_decref(out);
	} else if (res.timed_out) {
		fprintf(stderr, PROG ": timed out after %lld s; the sandbox was killed\n",
			(long long)spec.limits.timeout_sec);
	}
	/* The status is known: exit now; the sandbox's teardown finishes in a
	 * helper (README, "After the run"). */
	al_run_exit(left, res.exit_code);
}
