#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void append_errno(al_err *e, int errnum)
{
	size_t n = strlen(e->msg);
	if (errnum != 0 && n < sizeof(e->msg) - 1)
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(errnum));
}

int al_err_set(al_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->errnum = errnum;
	append_errno(e, errnum);
	return -1;
}

int al_err_setx(al_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->errnum = errnum;
	return -1;
}

int al_err_wrap(al_err *e, const char *fmt, ...)
{
	char prefix[AL_ERR_MSG_MAX];
	char old[AL_ERR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
	return -1;
}

static void write_line(const char *prog, const char *msg)
{
	struct iovec_like {
		const char *p;
		size_t n;
	} parts[4] = {{prog, strlen(prog)}, {": ", 2}, {msg, strlen(msg)}, {"\n", 1}};
	for (size_t i = 0; i < 4; i++) {
		const char *p = parts[i].p;
		size_t n = parts[i].n;
		while (n > 0) {
			ssize_t w = write(STDERR_FILENO, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return;
			p += w;
			n -= (size_t)w;
		}
	}
}

void al_die(int status, const char *prog, const al_err *e)
{
	write_line(prog, e ? e->msg : "unknown error");
	_exit(status);
}

void al_bail(int status, const char *prog, const char *fmt, ...)
{
	char buf[AL_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	write_line(prog, buf);
	_exit(status);
}
