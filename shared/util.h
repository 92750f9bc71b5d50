/* Small pure helpers shared by all programs. */
#ifndef AL_UTIL_H
#define AL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* Read a whole file (at most max bytes, else EFBIG) into a NUL-terminated
 * malloc'd buffer. */
int al_read_file(const char *path, size_t max, char **out, size_t *len, al_err *err);
/* Read a whole fd until EOF (at most max bytes). */
int al_read_fd_all(int fd, size_t max, char **out, size_t *len, al_err *err);
/* write(2) all of buf, retrying on EINTR/short writes. 0 or -errno. */
int al_write_all(int fd, const void *buf, size_t len);

int64_t al_now_ms(void);         /* CLOCK_MONOTONIC in ms */
int64_t al_now_us(void);         /* CLOCK_MONOTONIC in µs */
/* RFC 3339 UTC with milliseconds: 2026-11-29T22:26:01.123Z */
void al_rfc3339_now(char out[32]);

/* SHA-256 (shared/sha256.c, no OpenSSL) raw and as 64 hex chars + NUL. */
void al_sha256(const void *buf, size_t len, unsigned char out[32]);
void al_hex(const unsigned char *b, size_t n, char *out); /* out: 2n+1 bytes */
void al_sha256_hex(const void *buf, size_t len, char out[65]);
/* SHA-256 of one 64-byte block followed by buf (for HMAC). */
void al_sha256_after_block(const unsigned char prefix[64], const void *buf, size_t len,
			   unsigned char out[32]);
/* HMAC-SHA256 (RFC 2104) as 64 hex chars + NUL (shared/crypto.c, over
 * shared/sha256.c: no OpenSSL start-up cost). */
void al_hmac_sha256_hex(const void *key, size_t keylen, const void *buf, size_t len,
			char out[65]);
/* Constant-time comparison of n bytes. */
bool al_ct_equal(const void *a, const void *b, size_t n);
/* n random bytes from getrandom(2) as 2n hex chars. */
int al_random_hex(char *out, size_t nbytes, al_err *err);

/* mkdir -p with mode for created components. */
int al_mkdir_p(const char *path, mode_t mode, al_err *err);

/* A directory nobody but us can write (a cache): an O_RDONLY|O_DIRECTORY
 * fd, or -1 when it is missing, a symlink, owned by another user, or
 * group/other-writable.  create: make it 0700 first (parents 0755). */
int al_private_dir_open(const char *dir, bool create);

/* Create path as a mount point: parents 0755 as needed, the last component
 * a directory (dir) or an empty regular file (not following a symlink). */
int al_make_mountpoint(const char *path, bool dir, al_err *err);

/* Parse a decimal integer in [min,max]; false on junk or overflow. */
bool al_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
