/* Supervisor side of the exec-once lock (see notify.h).
 *
 * Everything read from the target is hostile: every read is bounded
 * (path: 4096 bytes; argv: 65 pointers and 1024 bytes per element), done
 * page by page with process_vm_readv so an unmapped page ends the string
 * instead of failing it, and the result is UTF-8 checked and escaped
 * before anyone sees it.  The reads only feed the report: the answer to
 * the target is fixed before they start.
 *
 * Left open: a read from memory the target maps from a slow or hostile
 * filesystem (FUSE) can stall the supervisor's loop while the target
 * waits for its answer; userfaultfd, the other way to stall a reader, is
 * denied by the agent lock.  A target can produce notifications as fast as
 * it likes: whoever records the callbacks should rate-limit its output. */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/seccomp.h>

#include "cleanup.h"

#define CHUNK 4096 /* reads never cross a 4 KiB boundary */
#define PATH_READ 4096
#define TRUNC_ELEM "\"[truncated]\""
#define TRUNC_ARG "...[truncated]"

/* Read up to cap bytes at addr in pid's memory, stopping early at a NUL if
 * stop_at_nul.  Returns the bytes read (0 if none could be). */
static size_t remote_read(pid_t pid, uint64_t addr, void *buf, size_t cap, bool stop_at_nul)
{
	size_t got = 0;

	while (got < cap) {
		uint64_t a = addr + got;
		size_t chunk = CHUNK - (size_t)(a % CHUNK);
		if (chunk > cap - got)
			chunk = cap - got;
		struct iovec local = {.iov_base = (char *)buf + got, .iov_len = chunk};
		struct iovec remote = {.iov_base = (void *)(uintptr_t)a, .iov_len = chunk};
		ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (n <= 0)
			break;
		if (stop_at_nul && memchr((char *)buf + got, '\0', (size_t)n) != NULL)
			return got + (size_t)n;
		got += (size_t)n;
		if ((size_t)n < chunk)
			break;
	}
	return got;
}

/* A NUL-terminated string at addr: its length in *len, *cut when no NUL
 * came within cap - 1 bytes.  -1 when nothing could be read. */
static int remote_str(pid_t pid, uint64_t addr, char *buf, size_t cap, size_t *len, bool *cut)
{
	size_t n;
	char *nul;

	if (addr == 0)
		return -1;
	n = remote_read(pid, addr, buf, cap - 1, true);
	if (n == 0)
		return -1;
	nul = memchr(buf, '\0', n);
	*cut = nul == NULL;
	*len = nul ? (size_t)(nul - buf) : n;
	buf[*len] = '\0';
	return 0;
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), 0 if the
 * bytes there are not one (overlong forms, surrogates and values past
 * U+10FFFF included). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* C0, DEL and the C1 range (U+0080..U+009F, encoded C2 80..C2 9F): the
 * characters a terminal may act on. */
static bool is_control(const unsigned char *p, size_t len)
{
	if (len == 1)
		return p[0] < 0x20 || p[0] == 0x7f;
	return len == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

struct sbuf {
	char *p;
	size_t len, cap; /* cap includes room for the NUL */
};

static bool sb_put(struct sbuf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		return false;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

/* Copy s as printable UTF-8: invalid bytes and control characters become
 * U+FFFD.  Returns false when it did not all fit. */
static bool put_printable(struct sbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(u + i, n - i);
		bool ok = l > 0 && !is_control(u + i, l);
		if (!(ok ? sb_put(b, u + i, l) : sb_put(b, "\xef\xbf\xbd", 3)))
			return false;
		i += ok ? l : (l > 0 ? l : 1);
	}
	return true;
}

/* Append s as the body of a JSON string (no quotes): control characters
 * as \uXXXX, invalid UTF-8 bytes as \ufffd, the rest as is. */
static bool put_json_body(struct sbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(u + i, n - i);
		char esc[8];
		bool ok;

		if (l == 0) {
			ok = sb_put(b, "\\ufffd", 6);
			l = 1;
		} else if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			ok = sb_put(b, esc, 2);
		} else if (is_control(u + i, l)) {
			unsigned cp = l == 1 ? u[i] : u[i + 1]; /* C1: C2 xx is U+00xx */
			snprintf(esc, sizeof(esc), "\\u%04x", cp);
			ok = sb_put(b, esc, 6);
		} else {
			ok = sb_put(b, u + i, l);
		}
		if (!ok)
			return false;
		i += l;
	}
	return true;
}

/* argv at addr as a JSON array into out (cap bytes), always valid JSON. */
static void read_argv_json(pid_t pid, uint64_t addr, char *out, size_t cap)
{
	uint64_t ptrs[AL_VIOLATION_MAX_ARGS + 1];
	size_t nptr = 0;
	bool ended = false, more = false;
	/* Room kept for ',' + the truncation element + ']' at any point. */
	const size_t tail = 1 + sizeof(TRUNC_ELEM) - 1 + 1;
	struct sbuf b = {.p = out, .len = 0, .cap = cap - tail};
	cleanup_free char *arg = malloc(AL_VIOLATION_MAX_ARG_BYTES + 1);
	cleanup_free char *esc = NULL;
	size_t esc_cap = AL_VIOLATION_MAX_ARG_BYTES * 6 + sizeof(TRUNC_ARG) + 3;

	esc = malloc(esc_cap);
	out[0] = '\0';
	sb_put(&b, "[", 1);
	if (arg == NULL || esc == NULL) {
		more = true;
		goto done;
	}
	if (addr != 0)
		nptr = remote_read(pid, addr, ptrs, sizeof(ptrs), false) / sizeof(uint64_t);
	else
		ended = true; /* Linux runs a NULL argv as an empty one */
	for (size_t i = 0; i < nptr; i++) {
		struct sbuf e = {.p = esc, .len = 0, .cap = esc_cap};
		size_t len = 0;
		bool cut = false;

		if (ptrs[i] == 0) {
			ended = true;
			break;
		}
		if (i == AL_VIOLATION_MAX_ARGS)
			break;
		if (remote_str(pid, ptrs[i], arg, AL_VIOLATION_MAX_ARG_BYTES + 1, &len, &cut) < 0)
			break;
		sb_put(&e, "\"", 1);
		put_json_body(&e, arg, len);
		if (cut)
			sb_put(&e, TRUNC_ARG, sizeof(TRUNC_ARG) - 1);
		sb_put(&e, "\"", 1);
		if ((i > 0 && !sb_put(&b, ",", 1)) || !sb_put(&b, esc, e.len)) {
			if (i > 0 && out[b.len - 1] == ',')
				b.p[--b.len] = '\0';
			break;
		}
	}
	more = !ended;
done:
	b.cap = cap; /* the tail's room */
	if (more)
		sb_put(&b, b.len > 1 ? "," TRUNC_ELEM : TRUNC_ELEM,
		       b.len > 1 ? sizeof(TRUNC_ELEM) : sizeof(TRUNC_ELEM) - 1);
	sb_put(&b, "]", 1);
}

static void read_path(pid_t pid, const struct seccomp_notif *req, bool at, char *out, size_t cap)
{
	cleanup_free char *raw = malloc(PATH_READ + 1);
	struct sbuf b = {.p = out, .len = 0, .cap = cap - 3};
	uint64_t addr = at ? req->data.args[1] : req->data.args[0];
	size_t len = 0;
	bool cut = false;

	snprintf(out, cap, "?");
	if (raw == NULL || remote_str(pid, addr, raw, PATH_READ + 1, &len, &cut) < 0)
		return;
	out[0] = '\0';
	if (at && len == 0 && (req->data.args[4] & AT_EMPTY_PATH)) {
		/* execveat(fd, "", ..., AT_EMPTY_PATH): say what the fd is. */
		char link[64], head[32];
		int fd = (int)req->data.args[0];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
		n = readlink(link, raw, PATH_READ);
		snprintf(head, sizeof(head), "<fd %d>", fd);
		sb_put(&b, head, strlen(head));
		if (n <= 0)
			return;
		sb_put(&b, " ", 1);
		len = (size_t)n;
		cut = false;
	}
	if (!put_printable(&b, raw, len) || cut) {
		b.cap = cap;
		sb_put(&b, "...", 3);
	}
}

static int notif_sizes(struct seccomp_notif_sizes *out)
{
	static struct seccomp_notif_sizes sizes;
	static int ready;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		struct seccomp_notif_sizes s;
		if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) < 0)
			return -1;
		sizes = s;
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	*out = sizes;
	return 0;
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

int al_notify_handle(int listener_fd, struct al_notify_state *st, al_violation_cb cb, void *arg,
		     al_err *err)
{
	struct seccomp_notif_sizes sz;
	cleanup_free struct seccomp_notif *req = NULL;
	cleanup_free struct seccomp_notif_resp *resp = NULL;
	cleanup_free struct al_violation *v = NULL;
	bool is_exec, first;
	int nr;

	if (notif_sizes(&sz) < 0)
		return al_err_set(err, errno, "seccomp: SECCOMP_GET_NOTIF_SIZES");
	req = calloc(1, max_size(sz.seccomp_notif, sizeof(*req)));
	resp = calloc(1, max_size(sz.seccomp_notif_resp, sizeof(*resp)));
	if (req == NULL || resp == NULL)
		return al_err_set(err, ENOMEM, "seccomp notification");
	if (ioctl(listener_fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
		/* ENOENT: the target was killed or interrupted before we got
		 * to it; EINTR: a signal for us, the caller polls again. */
		if (errno == ENOENT || errno == EINTR)
			return 0;
		return al_err_set(err, errno, "seccomp: receive a notification on listener fd %d",
				  listener_fd);
	}
	nr = req->data.nr;
	is_exec = req->data.arch == AUDIT_ARCH_X86_64 && (nr == SYS_execve || nr == SYS_execveat);
	first = !st->first_exec_used;
	st->first_exec_used = true;
	resp->id = req->id;
	if (first && is_exec) {
		/* The sandbox's own exec (see notify.h). */
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		if (ioctl(listener_fd, SECCOMP_IOCTL_NOTIF_SEND, resp) == 0)
			return 0;
		if (errno == ENOENT) {
			/* Interrupted before our answer landed (or dead): it
			 * did not exec, and no sandboxed code has run, so the
			 * restarted exec is still the first. */
			st->first_exec_used = false;
			return 0;
		}
		return al_err_set(err, errno, "seccomp: answer the first exec on listener fd %d",
				  listener_fd);
	}
	resp->error = -EPERM;
	st->violations++;

	v = calloc(1, sizeof(*v));
	if (v != NULL) {
		v->pid = (pid_t)req->pid;
		al_syscall_name(nr, v->syscall, sizeof(v->syscall));
		if (is_exec && v->pid > 0) {
			bool at = nr == SYS_execveat;
			read_path(v->pid, req, at, v->path, sizeof(v->path));
			read_argv_json(v->pid, at ? req->data.args[2] : req->data.args[1],
				       v->argv_json, sizeof(v->argv_json));
		} else if (is_exec) {
			snprintf(v->path, sizeof(v->path), "?");
			snprintf(v->argv_json, sizeof(v->argv_json), "[]");
		}
		/* The pid may have been reused while we read: only a still
		 * pending notification proves we read the right process. */
		if (is_exec && ioctl(listener_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) {
			snprintf(v->path, sizeof(v->path), "?");
			snprintf(v->argv_json, sizeof(v->argv_json), "[]");
		}
	}
	if (ioctl(listener_fd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
		return al_err_set(err, errno, "seccomp: answer a notification on listener fd %d",
				  listener_fd);
	if (cb != NULL && v != NULL)
		cb(v, arg);
	return 0;
}
