#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

int al_read_fd_all(int fd, size_t max, char **out, size_t *len, al_err *err)
{
	size_t cap = 4096, n = 0;
	cleanup_free char *buf = malloc(cap + 1);

	if (buf == NULL)
		return al_err_set(err, ENOMEM, "read");
	for (;;) {
		if (n == cap) {
			if (cap > max)
				return al_err_set(err, EFBIG, "input larger than %zu bytes", max);
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (nb == NULL)
				return al_err_set(err, ENOMEM, "read");
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return al_err_set(err, errno, "read");
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max)
			return al_err_set(err, EFBIG, "input larger than %zu bytes", max);
	}
	buf[n] = '\0';
	*out = TAKE_PTR(buf);
	if (len)
		*len = n;
	return 0;
}

int al_read_file(const char *path, size_t max, char **out, size_t *len, al_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return al_err_set(err, errno, "open %s", path);
	if (al_read_fd_all(fd, max, out, len, err) < 0)
		return al_err_wrap(err, "%s", path);
	return 0;
}

int al_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int64_t al_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t al_now_ms(void)
{
	return al_now_us() / 1000;
}

void al_rfc3339_now(char out[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

int al_random_hex(char *out, size_t nbytes, al_err *err)
{
	unsigned char b[64];

	if (nbytes > sizeof(b))
		return al_err_set(err, EINVAL, "random: too many bytes");
	size_t got = 0;
	while (got < nbytes) {
		ssize_t r = getrandom(b + got, nbytes - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return al_err_set(err, errno, "getrandom");
		got += (size_t)r;
	}
	al_hex(b, nbytes, out);
	return 0;
}

int al_mkdir_p(const char *path, mode_t mode, al_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return al_err_set(err, ENAMETOOLONG, "mkdir %s", path);
	memcpy(buf, path, len + 1);
	/* Walk up only while a parent is missing (usually none is: one
	 * syscall), then create downwards. */
	for (;;) {
		if (mkdir(buf, mode) == 0 || errno == EEXIST)
			break;
		if (errno != ENOENT)
			return al_err_set(err, errno, "mkdir %s", buf);
		char *slash = strrchr(buf, '/');
		if (slash == NULL || slash == buf)
			return al_err_set(err, ENOENT, "mkdir %s", buf);
		*slash = '\0';
	}
	for (size_t n = strlen(buf); n < len; n = strlen(buf)) {
		buf[n] = '/';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return al_err_set(err, errno, "mkdir %s", buf);
	}
	return 0;
}

int al_private_dir_open(const char *dir, bool create)
{
	struct stat st;

	if (create) {
		char parent[PATH_MAX];
		const char *slash = strrchr(dir, '/');

		if (slash != NULL && slash != dir && (size_t)(slash - dir) < sizeof(parent)) {
			memcpy(parent, dir, (size_t)(slash - dir));
			parent[slash - dir] = '\0';
			if (al_mkdir_p(parent, 0755, NULL) < 0)
				return -1;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One try at a mount point: 0, or the errno. */
static int make_one(const char *path, bool dir)
{
	if (dir)
		return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : errno;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : errno;
	close(fd);
	return 0;
}

int al_make_mountpoint(const char *path, bool dir, al_err *err)
{
	/* Usually the parent is there: one try, the parents only if missing. */
	int e = make_one(path, dir);
	if (e == ENOENT) {
		char parent[PATH_MAX];
		if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent))
			return al_err_set(err, ENAMETOOLONG, "%s", path);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			if (al_mkdir_p(parent, 0755, err) < 0)
				return -1;
		}
		e = make_one(path, dir);
	}
	if (e != 0)
		return al_err_set(err, e, dir ? "mkdir %s" : "create %s", path);
	return 0;
}

bool al_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}
