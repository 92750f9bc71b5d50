/* Preparation of a launch, before anything is started: the agent resolved
 * on the host, its user, its workdir, the policy, the token file, the
 * agent's environment. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"
#include "shared/cleanup.h"
#include "shared/util.h"

extern char **environ;

/* The agent on the host: PATH search (a name without '/'), then realpath.
 * 0, or LA_EXIT_NOTFOUND / LA_EXIT_NOEXEC with err. */
int la_resolve_agent(const char *name, char *out, al_err *err)
{
	char cand[PATH_MAX];
	struct stat st;
	bool seen = false;

	if (name[0] == '\0')
		return al_err_set(err, ENOENT, "the agent's name is empty"), LA_EXIT_NOTFOUND;
	if (strchr(name, '/') != NULL) {
		snprintf(cand, sizeof(cand), "%s", name);
	} else {
		const char *path = getenv("PATH");
		char buf[8192];
		bool found = false;
		snprintf(buf, sizeof(buf), "%s",
			 path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
		for (char *save = NULL, *d = strtok_r(buf, ":", &save); d && !found;
		     d = strtok_r(NULL, ":", &save)) {
			if (snprintf(cand, sizeof(cand), "%s/%s", *d ? d : ".", name) >=
			    (int)sizeof(cand))
				continue;
			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
				seen = true;
				if (access(cand, X_OK) == 0)
					found = true;
			}
		}
		if (!found) {
			if (seen)
				return al_err_set(
					   err, EACCES,
					   "%s: found on PATH but not executable: chmod +x it",
					   name),
				       LA_EXIT_NOEXEC;
			return al_err_set(err, ENOENT,
					  "%s: not found on PATH (%s): give its path or fix PATH",
					  name, path ? path : "unset"),
			       LA_EXIT_NOTFOUND;
		}
	}
	if (realpath(cand, out) == NULL)
		return al_err_set(err, errno, "%s: not found: give an existing path", name),
		       LA_EXIT_NOTFOUND;
	if (stat(out, &st) < 0)
		return al_err_set(err, errno, "%s", out), LA_EXIT_NOTFOUND;
	if (!S_ISREG(st.st_mode) || access(out, X_OK) < 0)
		return al_err_set(err, EACCES, "%s: not an executable file: chmod +x it", out),
		       LA_EXIT_NOEXEC;
	return 0;
}

static int parse_id(const char *s, bool group, unsigned *out)
{
	int64_t v;

	if (al_parse_i64(s, 0, 0xfffffffe, &v)) {
		*out = (unsigned)v;
		return 0;
	}
	if (group) {
		struct group *gr = getgrnam(s);
		if (gr == NULL)
			return -1;
		*out = gr->gr_gid;
		return 0;
	}
	struct passwd *pw = getpwnam(s);
	if (pw == NULL)
		return -1;
	*out = pw->pw_uid;
	return 0;
}

int la_resolve_user(struct la_ctx *c, al_err *err)
{
	const char *spec = c->cfg->user;
	char ubuf[256];
	const char *gpart = NULL;
	unsigned uid, gid;
	bool have_gid = false;
	char env_spec[64];

	if (spec == NULL && !c->is_root) {
		c->uid = getuid();
		c->gid = getgid();
		goto home;
	}
	if (spec == NULL) {
		const char *su = getenv("SUDO_UID"), *sg = getenv("SUDO_GID");
		if (su && *su) {
			snprintf(env_spec, sizeof(env_spec), "%s%s%s", su, sg && *sg ? ":" : "",
				 sg && *sg ? sg : "");
			spec = env_spec;
		} else {
			spec = "65534:65534";
		}
	}
	snprintf(ubuf, sizeof(ubuf), "%s", spec);
	char *colon = strchr(ubuf, ':');
	if (colon) {
		*colon = '\0';
		gpart = colon + 1;
	}
	if (parse_id(ubuf, false, &uid) < 0)
		return al_err_set(err, ENOENT,
				  "--user %s: no such user (give NAME, UID or UID:GID)", spec);
	if (gpart && *gpart) {
		if (parse_id(gpart, true, &gid) < 0)
			return al_err_set(err, ENOENT, "--user %s: no such group", spec);
		have_gid = true;
	}
	if (!have_gid) {
		struct passwd *pw = getpwuid(uid);
		gid = pw ? pw->pw_gid : uid;
	}
	c->uid = uid;
	c->gid = gid;
	if (!c->is_root && (c->uid != getuid() || c->gid != getgid()))
		return al_err_set(err, EPERM,
				  "--user %s: without root the agent runs as you (%u:%u): drop "
				  "--user or run as root",
				  spec, (unsigned)getuid(), (unsigned)getgid());
home:;
	struct passwd *pw = getpwuid(c->uid);
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
		snprintf(c->home, sizeof(c->home), "%s", pw->pw_dir);
	return 0;
}

int la_prepare_workdir(struct la_ctx *c, struct stat *st, al_err *err)
{
	char want[PATH_MAX];

	if (c->cfg->workdir) {
		if (c->cfg->workdir[0] == '/') {
			snprintf(want, sizeof(want), "%s", c->cfg->workdir);
		} else {
			char cwd[PATH_MAX];
			if (getcwd(cwd, sizeof(cwd)) == NULL)
				return al_err_set(err, errno, "getcwd");
			snprintf(want, sizeof(want), "%s/%s", cwd, c->cfg->workdir);
		}
	} else if (getcwd(want, sizeof(want)) == NULL) {
		return al_err_set(err, errno, "the current directory (give --workdir DIR)");
	}
	if (lstat(want, st) < 0) {
		if (errno != ENOENT)
			return al_err_set(err, errno, "--workdir %s", want);
		/* Missing: create it 0700 for the agent's user. */
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", want);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			if (al_mkdir_p(parent, 0755, err) < 0)
				return al_err_wrap(err, "--workdir %s", want);
		}
		if (mkdir(want, 0700) < 0)
			return al_err_set(err, errno, "create --workdir %s", want);
		if (chown(want, c->uid, c->gid) < 0 && c->is_root)
			return al_err_set(err, errno, "chown --workdir %s", want);
		la_verbose(c, "workdir: created %s (0700, owner %u:%u)", want, (unsigned)c->uid,
			   (unsigned)c->gid);
	}
	if (realpath(want, c->workdir) == NULL)
		return al_err_set(err, errno, "--workdir %s", want);
	if (stat(c->workdir, st) < 0)
		return al_err_set(err, errno, "--workdir %s", c->workdir);
	if (!S_ISDIR(st->st_mode))
		return al_err_set(err, ENOTDIR, "--workdir %s is not a directory", c->workdir);
	if (strcmp(c->workdir, "/") == 0)
		return al_err_set(err, EINVAL,
				  "--workdir /: the agent's writable directory cannot be the root "
				  "(cd somewhere else or give --workdir DIR)");
	return 0;
}

char **la_build_env(const struct la_ctx *c, const char *svc_inside[])
{
	size_t n = 0, k = 0;

	for (char **e = environ; e && *e; e++)
		n++;
	char **env = calloc(n + c->cfg->n_services + 4, sizeof(char *));
	if (env == NULL)
		al_bail(LA_EXIT_ERROR, LA_PROG, "out of memory");
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "AGENTGW_URL=", 12) == 0 ||
		    strncmp(*e, "AGENTGW_TOKEN=", 14) == 0 ||
		    strncmp(*e, "AGENTLAUNCH_SERVICE_", 20) == 0)
			continue;
		env[k++] = *e;
	}
	if (asprintf(&env[k++], "AGENTGW_URL=%s", c->gw_url) < 0)
		al_bail(LA_EXIT_ERROR, LA_PROG, "out of memory");
	if (c->have_token && asprintf(&env[k++], "AGENTGW_TOKEN=%s", c->token) < 0)
		al_bail(LA_EXIT_ERROR, LA_PROG, "out of memory");
	for (size_t i = 0; i < c->cfg->n_services; i++)
		if (asprintf(&env[k++], "AGENTLAUNCH_SERVICE_%u=%s",
			     (unsigned)c->cfg->services[i].port, svc_inside[i]) < 0)
			al_bail(LA_EXIT_ERROR, LA_PROG, "out of memory");
	env[k] = NULL;
	return env;
}

int la_read_token_file(struct la_ctx *c, al_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;

	if (al_read_file(c->cfg->token_file, 8192, &buf, &len, err) < 0)
		return al_err_wrap(err, "--token-file");
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (len == 0 || len >= sizeof(c->token))
		return al_err_set(err, EINVAL,
				  "--token-file %s: want one token of 1..64 characters",
				  c->cfg->token_file);
	for (size_t i = 0; i < len; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			return al_err_set(err, EINVAL,
					  "--token-file %s: the token has bad characters",
					  c->cfg->token_file);
	memcpy(c->token, buf, len + 1);
	c->have_token = true;
	return 0;
}

int la_find_policy(struct la_ctx *c, al_err *err)
{
	char cand[PATH_MAX];

	if (c->cfg->policy) {
		if (realpath(c->cfg->policy, c->policy) == NULL)
			return al_err_set(err, errno, "--policy %s", c->cfg->policy);
		return 0;
	}
	if (access("/etc/agentlaunch/default.json", R_OK) == 0) {
		snprintf(c->policy, sizeof(c->policy), "/etc/agentlaunch/default.json");
		return 0;
	}
	/* an uninstalled build: build/bin/../../policy/default.json */
	snprintf(cand, sizeof(cand), "%s/../../policy/default.json", c->exe_dir);
	if (realpath(cand, c->policy) != NULL)
		return 0;
	return al_err_set(err, ENOENT,
			  "no policy: /etc/agentlaunch/default.json is missing (make install) — "
			  "give --policy FILE");
}
