/* The privsep channel (see ipc.h). */
#include <jansson.h>

#include "ipc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "../shared/util.h"

#define SOCKBUF (4u << 20)
#define READS_PER_WAKEUP 64

struct frame {
	struct frame *next;
	size_t len;
	unsigned char data[];
};

struct gw_ipc {
	int fd;			   /* owned */
	struct event *rev, *wev;   /* owned */
	struct frame *head, *tail; /* owned queue */
	size_t queued;
	char *in; /* owned reassembly buffer */
	size_t in_len, in_cap, max_in;
	gw_ipc_msg_cb on_msg;
	gw_ipc_close_cb on_close;
	void *arg;
	bool closed;
};

static void fail(struct gw_ipc *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = true;
	event_del(c->rev);
	event_del(c->wev);
	if (c->on_close)
		c->on_close(why, c->arg);
}

static void flush(struct gw_ipc *c)
{
	while (c->head && !c->closed) {
		struct frame *f = c->head;
		ssize_t w = send(c->fd, f->data, f->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			event_add(c->wev, NULL);
			return;
		}
		if (w < 0) {
			fail(c, errno == EPIPE ? "peer closed the channel" : strerror(errno));
			return;
		}
		c->head = f->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->queued -= f->len;
		free(f);
	}
	if (c->head == NULL)
		event_del(c->wev);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	flush(arg);
}

static void deliver(struct gw_ipc *c)
{
	json_error_t je;
	json_t *m = json_loadb(c->in, c->in_len, JSON_REJECT_DUPLICATES, &je);

	c->in_len = 0;
	if (m == NULL || !json_is_object(m)) {
		json_decref(m);
		fail(c, "protocol violation: a message that is not a JSON object");
		return;
	}
	c->on_msg(m, c->arg);
	json_decref(m);
	/* Do not keep a huge buffer around after a huge message. */
	if (c->in_cap > (1u << 20)) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct gw_ipc *c = arg;
	unsigned char buf[GW_IPC_FRAME];

	for (int i = 0; i < READS_PER_WAKEUP && !c->closed; i++) {
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t r = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			fail(c, strerror(errno));
			return;
		}
		if (r == 0) {
			fail(c, "peer closed the channel");
			return;
		}
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || mh.msg_controllen != 0 ||
		    (buf[0] != 'C' && buf[0] != 'E')) {
			fail(c, "protocol violation: malformed frame");
			return;
		}
		size_t n = (size_t)r - 1;
		if (c->in_len + n > c->max_in) {
			fail(c, "protocol violation: message larger than the limit");
			return;
		}
		if (c->in_len + n + 1 > c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap : 65536;
			while (cap < c->in_len + n + 1)
				cap *= 2;
			char *nb = realloc(c->in, cap);
			if (nb == NULL) {
				fail(c, "out of memory");
				return;
			}
			c->in = nb;
			c->in_cap = cap;
		}
		memcpy(c->in + c->in_len, buf + 1, n);
		c->in_len += n;
		if (buf[0] == 'E')
			deliver(c);
	}
}

struct gw_ipc *gw_ipc_new(struct event_base *base, int fd, size_t max_in, gw_ipc_msg_cb on_msg,
			  gw_ipc_close_cb on_close, void *arg, al_err *err)
{
	struct gw_ipc *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		al_err_set(err, ENOMEM, "ipc");
		return NULL;
	}
	c->fd = fd;
	c->max_in = max_in;
	c->on_msg = on_msg;
	c->on_close = on_close;
	c->arg = arg;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) < 0) {
		gw_ipc_free(c);
		al_err_set(err, ENOMEM, "ipc events");
		return NULL;
	}
	return c;
}

int gw_ipc_send(struct gw_ipc *c, json_t *msg)
{
	if (c == NULL || c->closed)
		return -1;
	char *s = json_dumps(msg, JSON_COMPACT);
	if (s == NULL)
		return -1;
	size_t len = strlen(s), off = 0;
	do {
		size_t n = len - off;
		if (n > GW_IPC_FRAME - 1)
			n = GW_IPC_FRAME - 1;
		struct frame *f = malloc(sizeof(*f) + n + 1);
		if (f == NULL) {
			free(s);
			fail(c, "out of memory");
			return -1;
		}
		f->next = NULL;
		f->len = n + 1;
		f->data[0] = off + n == len ? 'E' : 'C';
		memcpy(f->data + 1, s + off, n);
		if (c->tail)
			c->tail->next = f;
		else
			c->head = f;
		c->tail = f;
		c->queued += f->len;
		off += n;
	} while (off < len);
	free(s);
	flush(c);
	return c->closed ? -1 : 0;
}

size_t gw_ipc_queued(const struct gw_ipc *c)
{
	return c ? c->queued : 0;
}

void gw_ipc_flush(struct gw_ipc *c, int timeout_ms)
{
	int64_t end = al_now_ms() + timeout_ms;

	while (c && c->head && !c->closed) {
		int64_t left = end - al_now_ms();
		if (left <= 0)
			return;
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return;
		flush(c);
	}
}

void gw_ipc_free(struct gw_ipc *c)
{
	if (c == NULL)
		return;
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	while (c->head) {
		struct frame *f = c->head;
		c->head = f->next;
		free(f);
	}
	free(c->in);
	close(c->fd);
	free(c);
}

int gw_ipc_socketpair(int sv[2], al_err *err)
{
	int sz = SOCKBUF;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return al_err_set(err, errno, "socketpair(SOCK_SEQPACKET)");
	for (int i = 0; i < 2; i++) {
		/* FORCE needs CAP_NET_ADMIN; fall back to the capped size. */
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if (setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	return 0;
}
