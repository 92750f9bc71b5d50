/* Per-launch state directory and the sweep of what dead launchers left.
 *
 * Everything a launch makes is held by the launcher's fds or children and
 * goes away with it (namespaces, veth, relays: when the last fd closes;
 * agentgw and init: PR_SET_PDEATHSIG).  What a SIGKILLed launcher does
 * leave is its state directory <base>/<pid>/ (the owner record and the
 * gateway's unix socket).  Each start sweeps the directories whose owner
 * is dead: it SIGKILLs the gateway and init recorded there if they are
 * somehow still alive (same pid AND same start time, so a reused pid is
 * never hit), then removes the directory.
 *
 *   owner file:  "launcher PID START\ngateway PID START\ninit PID START\n"
 *                (START: field 22 of /proc/PID/stat; 0 = none) */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"
#include "shared/cleanup.h"
#include "shared/util.h"

#define ROOT_BASE "/run/agentlaunch/launch"

unsigned long long la_proc_starttime(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	/* fields after ")": 3 state ... 22 starttime */
	p++;
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (field == 22) {
			st = strtoull(p, NULL, 10);
			break;
		}
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
	}
	return st;
}

/* A directory we own, mode 0700, not a symlink. */
static int own_dir(const char *path, al_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return al_err_set(err, errno, "mkdir %s", path);
	if (lstat(path, &st) < 0)
		return al_err_set(err, errno, "stat %s", path);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return al_err_set(
		    err, EPERM, "%s must be a directory owned by uid %u with mode 0700: remove it",
		    path, (unsigned)geteuid());
	return 0;
}

int la_state_base(char *out, size_t n, al_err *err)
{
	if (geteuid() == 0) {
		if (al_mkdir_p("/run/agentlaunch", 0755, err) < 0)
			return -1;
		snprintf(out, n, "%s", ROOT_BASE);
		return own_dir(out, err);
	}
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	char top[PATH_MAX];
	if (xdg && xdg[0] == '/' && stat(xdg, &st) == 0 && st.st_uid == geteuid())
		snprintf(top, sizeof(top), "%s/agentlaunch", xdg);
	else
		snprintf(top, sizeof(top), "/tmp/agentlaunch-%u", (unsigned)geteuid());
	if (own_dir(top, err) < 0)
		return -1;
	snprintf(out, n, "%s/launch", top);
	return own_dir(out, err);
}

static int write_owner(const char *dir, const struct la_state *s, al_err *err)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[256];
	pid_t me = getpid();
	int len = snprintf(buf, sizeof(buf), "launcher %d %llu\ngateway %d %llu\ninit %d %llu\n",
			   (int)me, la_proc_starttime(me), (int)s->gw_pid,
			   s->gw_pid > 0 ? la_proc_starttime(s->gw_pid) : 0ULL, (int)s->init_pid,
			   s->init_pid > 0 ? la_proc_starttime(s->init_pid) : 0ULL);
	snprintf(path, sizeof(path), "%s/owner", dir);
	snprintf(tmp, sizeof(tmp), "%s/owner.tmp", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return al_err_set(err, errno, "create %s", tmp);
	int r = al_write_all(fd, buf, (size_t)len);
	close(fd);
	if (r < 0 || rename(tmp, path) < 0)
		return al_err_set(err, r < 0 ? -r : errno, "write %s", path);
	return 0;
}

int la_state_create(struct la_state *s, al_err *err)
{
	char tmp[PATH_MAX];

	s->dir[0] = '\0';
	snprintf(s->dir, sizeof(s->dir), "%s/%d", s->base, (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s/.new-%d", s->base, (int)getpid());
	/* Published complete: made under a temporary name, then renamed. */
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (write_owner(tmp, s, err) < 0) {
		s->dir[0] = '\0';
		return -1;
	}
	if (rename(tmp, s->dir) < 0)
		goto fail;
	return 0;
fail:
	al_err_set(err, errno, "create the state directory %s", s->dir);
	s->dir[0] = '\0';
	return -1;
}

int la_state_record(struct la_state *s, al_err *err)
{
	if (s->dir[0] == '\0')
		return 0;
	return write_owner(s->dir, s, err);
}

/* Remove dir and the plain entries in it (the state dirs are flat). */
static void remove_flat(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			unlinkat(dirfd(d), de->d_name, 0);
		}
		closedir(d);
	}
	rmdir(dir);
}

void la_state_remove(struct la_state *s)
{
	if (s->dir[0] != '\0')
		remove_flat(s->dir);
	s->dir[0] = '\0';
}

struct owner {
	pid_t pid[3];
	unsigned long long start[3];
};

static bool read_owner(const char *dir, struct owner *o)
{
	char path[PATH_MAX], buf[512];
	static const char *const names[3] = {"launcher", "gateway", "init"};

	memset(o, 0, sizeof(*o));
	snprintf(path, sizeof(path), "%s/owner", dir);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[16];
		int pid;
		unsigned long long st;
		if (sscanf(line, "%15s %d %llu", name, &pid, &st) != 3)
			continue;
		for (int i = 0; i < 3; i++)
			if (strcmp(name, names[i]) == 0) {
				o->pid[i] = pid;
				o->start[i] = st;
			}
	}
	return o->pid[0] > 0;
}

static bool alive(pid_t pid, unsigned long long start)
{
	return pid > 0 && start != 0 && la_proc_starttime(pid) == start;
}

int la_state_sweep(const char *base, bool verbose)
{
	DIR *d = opendir(base);
	struct dirent *de;
	int swept = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		bool tmp = strncmp(name, ".new-", 5) == 0;
		const char *num = tmp ? name + 5 : name;
		char dir[PATH_MAX];
		struct owner o;

		if (*num == '\0' || strspn(num, "0123456789") != strlen(num))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, name);
		if (read_owner(dir, &o)) {
			if (alive(o.pid[0], o.start[0]))
				continue; /* a live launch */
			for (int i = 1; i < 3; i++)
				if (alive(o.pid[i], o.start[i]))
					kill(o.pid[i], SIGKILL);
		} else {
			/* no owner record: a launcher that died while creating it,
			 * unless that pid is still running */
			pid_t pid = (pid_t)atoi(num);
			if (pid == getpid() || la_proc_starttime(pid) != 0)
				continue;
		}
		remove_flat(dir);
		swept++;
		if (verbose)
			fprintf(stderr,
				LA_PROG ": sweep: removed what dead launcher %s left (%s)\n", num,
				dir);
	}
	closedir(d);
	return swept;
}
