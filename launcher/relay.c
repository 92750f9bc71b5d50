/* Relays: listening sockets the agent can reach (in the hub namespace, or
 * inside the agent's own namespace in rootless mode) whose connections the
 * launcher forwards to one fixed target on the host: the gateway's unix
 * socket, the --skip-gateway address, or one --allow-service.
 *
 * Byte-for-byte forwarding in the supervisor's epoll loop, level-triggered,
 * with one bounded buffer per direction; half-closes are passed on
 * (shutdown(SHUT_WR)).  At most LA_RELAY_MAX_CONNS connections at a time:
 * further ones are accepted and closed at once, so an agent cannot make
 * the launcher run out of fds.  The target is fixed per listener: the
 * agent chooses nothing but which listener to connect to. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "launch.h"

#define LA_RELAY_MAX_CONNS 256
#define RBUF 32768

struct half {
	char buf[RBUF];
	size_t len, off;
	bool eof;  /* the reading side reached EOF */
	bool shut; /* the writing side has been shut down */
};

struct la_relay_conn {
	struct la_relay_conn *next, *prev;
	struct la_watch wa, wb; /* agent side, target side */
	int a, b;
	bool connecting, dead;
	struct half ab, ba; /* agent -> target, target -> agent */
	struct la_relay_listener *l;
};

static void conn_kill(struct la_ctx *c, struct la_relay_conn *k)
{
	struct la_relays *r = &c->relays;

	if (k->dead)
		return;
	k->dead = true;
	la_watch_del(c, &k->wa);
	la_watch_del(c, &k->wb);
	close(k->a);
	close(k->b);
	/* unlink from the live list, push on the dead list */
	if (k->prev)
		k->prev->next = k->next;
	else
		r->conns = k->next;
	if (k->next)
		k->next->prev = k->prev;
	k->next = r->dead;
	k->prev = NULL;
	r->dead = k;
	r->n_conns--;
}

void la_relay_reap(struct la_ctx *c)
{
	struct la_relay_conn *k = c->relays.dead;

	while (k) {
		struct la_relay_conn *next = k->next;
		free(k);
		k = next;
	}
	c->relays.dead = NULL;
}

/* Recompute both sides' epoll interest. */
static void conn_arm(struct la_ctx *c, struct la_relay_conn *k)
{
	uint32_t ea = 0, eb = 0;

	if (k->connecting) {
		eb = EPOLLOUT;
	} else {
		if (!k->ab.eof && k->ab.len < RBUF)
			ea |= EPOLLIN;
		if (k->ba.len > k->ba.off)
			ea |= EPOLLOUT;
		if (!k->ba.eof && k->ba.len < RBUF)
			eb |= EPOLLIN;
		if (k->ab.len > k->ab.off)
			eb |= EPOLLOUT;
	}
	/* A side that is finished both ways leaves the epoll set: its
	 * EPOLLHUP would otherwise fire on every round. */
	if (k->ab.eof && k->ba.shut)
		la_watch_del(c, &k->wa);
	else if (ea != k->wa.events)
		la_watch_mod(c, &k->wa, ea);
	if (k->ba.eof && k->ab.shut)
		la_watch_del(c, &k->wb);
	else if (eb != k->wb.events)
		la_watch_mod(c, &k->wb, eb);
}

/* Read from fd into h; false on a hard error. */
static bool pump_in(int fd, struct half *h)
{
	if (h->off == h->len)
		h->off = h->len = 0;
	while (!h->eof && h->len < RBUF) {
		ssize_t n = recv(fd, h->buf + h->len, RBUF - h->len, 0);
		if (n > 0) {
			h->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			h->eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK;
	}
	return true;
}

/* Write h's bytes to fd; pass EOF on; false on a hard error. */
static bool pump_out(int fd, struct half *h)
{
	while (h->off < h->len) {
		ssize_t n = send(fd, h->buf + h->off, h->len - h->off, MSG_NOSIGNAL);
		if (n > 0) {
			h->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		return false;
	}
	h->off = h->len = 0;
	if (h->eof && !h->shut) {
		shutdown(fd, SHUT_WR);
		h->shut = true;
	}
	return true;
}

static void conn_step(struct la_ctx *c, struct la_relay_conn *k)
{
	bool ok = pump_in(k->a, &k->ab) && pump_out(k->b, &k->ab) && pump_in(k->b, &k->ba) &&
		  pump_out(k->a, &k->ba);

	if (!ok || (k->ab.shut && k->ba.shut)) {
		conn_kill(c, k);
		return;
	}
	conn_arm(c, k);
}

static void on_conn(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	struct la_relay_conn *k = w->arg;

	if (k->dead)
		return;
	if (k->connecting) {
		int e = 0;
		socklen_t el = sizeof(e);
		if (w != &k->wb) {
			if (events & (EPOLLHUP | EPOLLERR))
				conn_kill(c, k); /* the agent gave up before we got through */
			return;
		}
		if (getsockopt(k->b, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != 0) {
			if (c->verbose)
				la_verbose(c, "relay %s: cannot reach %s: %s", k->l->inside,
					   k->l->target.shown, strerror(e ? e : errno));
			conn_kill(c, k);
			return;
		}
		k->connecting = false;
	}
	conn_step(c, k);
}

static void on_accept(struct la_ctx *c, struct la_watch *w, uint32_t events)
{
	struct la_relay_listener *l = w->arg;

	for (int i = 0; i < 64; i++) {
		int a = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (a < 0)
			return; /* EAGAIN, or a transient error: try again on the next event */
		l->accepted++;
		if (c->relays.n_conns >= LA_RELAY_MAX_CONNS) {
			close(a);
			continue;
		}
		int b =
		    socket(l->target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (b < 0) {
			close(a);
			continue;
		}
		bool connecting = false;
		if (connect(b, (struct sockaddr *)&l->target.addr, l->target.len) < 0) {
			if (errno == EINPROGRESS) {
				connecting = true;
			} else {
				if (c->verbose)
					la_verbose(c, "relay %s: cannot reach %s: %s", l->inside,
						   l->target.shown, strerror(errno));
				close(a);
				close(b);
				continue;
			}
		}
		struct la_relay_conn *k = calloc(1, sizeof(*k));
		if (k == NULL) {
			close(a);
			close(b);
			continue;
		}
		k->a = a;
		k->b = b;
		k->l = l;
		k->connecting = connecting;
		k->next = c->relays.conns;
		if (k->next)
			k->next->prev = k;
		c->relays.conns = k;
		c->relays.n_conns++;
		if (la_watch_add(c, &k->wa, a, 0, on_conn, k) < 0 ||
		    la_watch_add(c, &k->wb, b, 0, on_conn, k) < 0) {
			conn_kill(c, k);
			continue;
		}
		conn_arm(c, k);
	}
}

int la_relay_add(struct la_ctx *c, int fd, const struct la_relay_target *t, const char *inside,
		 al_err *err)
{
	struct la_relays *r = &c->relays;

	if (r->n == sizeof(r->ls) / sizeof(r->ls[0])) {
		close(fd);
		return al_err_set(err, ENOSPC, "too many relays");
	}
	struct la_relay_listener *l = &r->ls[r->n];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->target = *t;
	snprintf(l->inside, sizeof(l->inside), "%s", inside);
	if (la_watch_add(c, &l->w, fd, EPOLLIN, on_accept, l) < 0) {
		close(fd);
		return al_err_set(err, errno, "watch relay %s", inside);
	}
	r->n++;
	return 0;
}

void la_relay_close_all(struct la_ctx *c)
{
	struct la_relays *r = &c->relays;

	while (r->conns)
		conn_kill(c, r->conns);
	la_relay_reap(c);
	for (size_t i = 0; i < r->n; i++) {
		la_watch_del(c, &r->ls[i].w);
		close(r->ls[i].fd);
	}
	r->n = 0;
}
