/* Policy decisions (first match wins) and host-side executable resolution. */
#include "match.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../shared/cleanup.h"


static bool re_matches(const struct al_match_re *m, const char *s)
{
	if (!m->set)
		return true;
	return regexec(&m->re, s ? s : "", 0, NULL, 0) == 0;
}

bool al_rule_matches(const struct al_rule *r, const struct al_request_view *rq)
{
	if (r->kind != AL_KIND_ANY && r->kind != rq->kind)
		return false;
	return re_matches(&r->executable, rq->executable) && re_matches(&r->path, rq->path) &&
	       re_matches(&r->args, rq->args) && re_matches(&r->identity, rq->identity);
}

void al_policy_decide(const struct al_policy *p, const struct al_request_view *rq,
		      struct al_decision *out)
{
	bool skipped_allow = false;

	memset(out, 0, sizeof(*out));
	out->effect = AL_EFFECT_DENY;
	if (p == NULL) {
		out->reason = "no policy loaded (deny)";
		return;
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct al_rule *r = &p->rules[i];
		if (!al_rule_matches(r, rq))
			continue;
		if (rq->named_path && r->effect == AL_EFFECT_ALLOW && !r->path.set) {
			/* SPEC §4: a named path needs a rule's `path` pattern. */
			skipped_allow = true;
			continue;
		}
		out->rule = r;
		out->effect = r->effect;
		out->reason = r->reason;
		out->profile = r->prof;
		out->audit_mode_override = p->audit_mode && r->effect == AL_EFFECT_DENY;
		return;
	}
	if (p->default_effect == AL_EFFECT_ALLOW && !rq->named_path) {
		out->effect = AL_EFFECT_ALLOW;
		out->reason = "no rule matched (default allow)";
	} else if (rq->named_path && (skipped_allow || p->default_effect == AL_EFFECT_ALLOW)) {
		out->reason = "the request names a path; only a rule with a \"path\" pattern can "
			      "allow it (default deny)";
	} else {
		out->reason = "no rule matched (default deny)";
	}
	out->audit_mode_override = p->audit_mode && out->effect == AL_EFFECT_DENY;
}

bool al_path_inside(const char *path, const char *dir)
{
	size_t dlen;

	if (path == NULL || dir == NULL || path[0] != '/' || dir[0] != '/')
		return false;
	dlen = strlen(dir);
	while (dlen > 0 && dir[dlen - 1] == '/')
		dlen--;
	/* Reject non-normalised dirs: "//x", "/a/./b", "/a/../b". */
	for (size_t i = 0; i < dlen;) {
		size_t j = i + 1;
		while (j < dlen && dir[j] != '/')
			j++;
		size_t clen = j - i - 1;
		if (clen == 0 || (clen == 1 && dir[i + 1] == '.') ||
		    (clen == 2 && dir[i + 1] == '.' && dir[i + 2] == '.'))
			return false;
		i = j;
	}
	if (dlen == 0)
		return true; /* "/" */
	return strncmp(path, dir, dlen) == 0 && (path[dlen] == '\0' || path[dlen] == '/');
}

static bool is_exec_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

static void join_mounts(const struct al_strv *m, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	if (m == NULL || m->n == 0) {
		snprintf(buf, n, "none");
		return;
	}
	for (size_t i = 0; i < m->n && off < n; i++) {
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", m->v[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static int find_in_path(const char *name, const char *list, char *cand, size_t n, al_err *err)
{
	for (const char *p = list;;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		/* Never search the cwd ("" or "."), nor relative entries. */
		if (len > 0 && p[0] == '/') {
			int w = snprintf(cand, n, "%.*s/%s", (int)len, p, name);
			if (w > 0 && (size_t)w < n && is_exec_file(cand))
				return 0;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return al_err_setx(err, ENOENT, "command \"%.128s\" not found in PATH %.512s", name, list);
}

int al_resolve_executable(const char *name, const char *path_list,
			  const struct al_strv *read_only_mounts, const char *cwd_host,
			  char *resolved, size_t n, bool *named_path, al_err *err)
{
	char cand[PATH_MAX];
	struct stat st;

	*named_path = false;
	if (resolved && n)
		resolved[0] = '\0';
	if (name == NULL || name[0] == '\0')
		return al_err_setx(err, EINVAL, "empty command name");
	size_t nlen = strnlen(name, PATH_MAX);
	if (nlen >= PATH_MAX)
		return al_err_setx(err, ENAMETOOLONG, "command name longer than %d bytes", PATH_MAX - 1);

	if (strchr(name, '/') == NULL) {
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return al_err_setx(err, EINVAL, "\"%s\" is not a command name", name);
		if (nlen > NAME_MAX)
			return al_err_setx(err, ENAMETOOLONG, "command name longer than %d bytes",
				    NAME_MAX);
		const char *list = path_list && path_list[0] ? path_list : AL_DEFAULT_PATH;
		if (find_in_path(name, list, cand, sizeof(cand), err) < 0)
			return -1;
	} else {
		*named_path = true;
		if (name[0] == '/') {
			memcpy(cand, name, nlen + 1);
		} else {
			if (cwd_host == NULL || cwd_host[0] != '/')
				return al_err_setx(err, EINVAL,
					    "relative command path \"%.128s\" needs an absolute "
					    "working directory",
					    name);
			int w = snprintf(cand, sizeof(cand), "%s/%s", cwd_host, name);
			if (w < 0 || (size_t)w >= sizeof(cand))
				return al_err_setx(err, ENAMETOOLONG,
					    "command path \"%.128s\" in %.128s is too long", name,
					    cwd_host);
		}
	}

	cleanup_free char *real = realpath(cand, NULL);
	if (real == NULL) {
		int e = errno;
		return al_err_setx(err, e, "cannot resolve command \"%.128s\" (%.256s): %s", name, cand,
			    strerror(e));
	}
	if (stat(real, &st) < 0) {
		int e = errno;
		return al_err_setx(err, e, "cannot stat command %.256s: %s", real, strerror(e));
	}
	if (!S_ISREG(st.st_mode))
		return al_err_setx(err, EACCES, "command \"%.128s\" (%.256s) is not a regular file", name,
			    real);
	if (faccessat(AT_FDCWD, real, X_OK, AT_EACCESS) < 0)
		return al_err_setx(err, EACCES, "command \"%.128s\" (%.256s) is not executable", name,
			    real);

	bool inside = false;
	for (size_t i = 0; read_only_mounts && i < read_only_mounts->n && !inside; i++)
		inside = al_path_inside(real, read_only_mounts->v[i]);
	if (!inside) {
		char mounts[512];
		join_mounts(read_only_mounts, mounts, sizeof(mounts));
		return al_err_setx(err, EACCES,
			    "command \"%.128s\" resolves to %.256s, which is outside the "
			    "profile's read-only mounts (%s)",
			    name, real, mounts);
	}
	size_t rlen = strlen(real);
	if (resolved == NULL || rlen >= n)
		return al_err_setx(err, ENAMETOOLONG, "resolved path %.256s does not fit in %zu bytes",
			    real, n);
	memcpy(resolved, real, rlen + 1);
	return 0;
}

char *al_args_join(char *const *argv, size_t first)
{
	size_t total = 1, count = 0;

	while (argv && argv[count])
		count++;
	for (size_t i = first; i < count; i++)
		total += strlen(argv[i]) + 1;
	char *s = malloc(total);
	if (s == NULL)
		return NULL;
	size_t off = 0;
	for (size_t i = first; i < count; i++) {
		size_t l = strlen(argv[i]);
		if (i > first)
			s[off++] = ' ';
		memcpy(s + off, argv[i], l);
		off += l;
	}
	s[off] = '\0';
	return s;
}
