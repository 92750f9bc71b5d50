/* One error contract for the whole project (after crun's libcrun_error_t).
 *
 * Library functions take an `al_err *` out-parameter and return a negative
 * value on failure.  The message lives in a fixed buffer so code running
 * between fork and exec can report errors without calling malloc.  Callers
 * add context on the way up with al_err_wrap(). */
#ifndef AL_ERR_H
#define AL_ERR_H

#include <stddef.h>

#define AL_ERR_MSG_MAX 1024

typedef struct al_err {
	int errnum;                /* errno of the root cause, 0 if none */
	char msg[AL_ERR_MSG_MAX];  /* human readable, without trailing newline */
} al_err;

/* Set *e from errnum (0 for none) and a printf format; ": strerror(errnum)"
 * is appended when errnum != 0.  Always returns -1.  e may be NULL. */
int al_err_set(al_err *e, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like al_err_set() without the ": strerror" suffix (errnum is kept for
 * the caller to classify): for messages that already say everything. */
int al_err_setx(al_err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context: "context: old message".
 * Always returns -1. */
int al_err_wrap(al_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "prog: msg" to stderr and _exit(status).  Async-signal-safe enough
 * for use between fork and exec (uses only write(2)). */
__attribute__((noreturn)) void al_die(int status, const char *prog, const al_err *e);

/* Like al_die() with a format instead of an al_err. */
__attribute__((noreturn, format(printf, 3, 4))) void al_bail(int status, const char *prog,
							       const char *fmt, ...);

#endif
