/* Helpers shared by the cgroup unit tests (test_cgroup.c: real groups;
 * test_cgroup_v2fake.c: the v2 backend over a fake cgroupfs). */
#ifndef AL_TEST_CGROUP_H
#define AL_TEST_CGROUP_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/cgroup.h"

#define UNUSED __attribute__((unused))

UNUSED static struct al_limits lim(int64_t mem_mb, int64_t pids, int64_t cpu_pct)
{
	struct al_limits l = {
	    .timeout_sec = AL_LIMIT_UNSET,
	    .cpu_max_percent = cpu_pct,
	    .mem_max_mb = mem_mb,
	    .pids_max = pids,
	    .max_stdout_bytes = AL_LIMIT_UNSET,
	    .max_stderr_bytes = AL_LIMIT_UNSET,
	    .max_file_mb = AL_LIMIT_UNSET,
	    .max_open_files = AL_LIMIT_UNSET,
	    .tmpfs_size_mb = AL_LIMIT_UNSET,
	};
	return l;
}

/* Contents of a small file without trailing newlines ("" on error). */
UNUSED static const char *slurp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
UNUSED static const char *slurp(const char *fmt, ...)
{
	static char buf[4096];
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

UNUSED static void put(int dfd, const char *file, const char *val)
{
	int fd = openat(dfd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "create %s: %s", file, strerror(errno));
	ck_assert_int_eq(write(fd, val, strlen(val)), (ssize_t)strlen(val));
	close(fd);
}

UNUSED static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
UNUSED static bool exists(const char *fmt, ...)
{
	char p[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	return access(p, F_OK) == 0;
}

#endif
