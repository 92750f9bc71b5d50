/* Scope-bound cleanup helpers (__attribute__((cleanup))), after crun and
 * systemd.  Initialise at declaration; hand ownership over with TAKE_PTR /
 * TAKE_FD. */
#ifndef AL_CLEANUP_H
#define AL_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void al_freep(void *p)
{
	free(*(void **)p);
}

static inline void al_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

/* Free a NULL-terminated array of strings and the array. */
static inline void al_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static inline void al_strv_freep(char ***v)
{
	al_strv_free(*v);
}

#define cleanup_free __attribute__((cleanup(al_freep)))
#define cleanup_close __attribute__((cleanup(al_closep)))
#define cleanup_strv __attribute__((cleanup(al_strv_freep)))

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#ifdef JANSSON_H
static inline void al_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(al_json_decrefp)))
#endif

#endif
