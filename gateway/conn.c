/* The connection guard (see conn.h). */
#include "conn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "gw.h"

enum cstate { C_HEAD, C_BODY, C_PASS, C_DISCARD };

struct gw_conn {
	struct gw_connset *set;     /* borrowed */
	struct bufferevent *under;  /* borrowed: freed by the filter (BEV_OPT_CLOSE_ON_FREE) */
	struct event *deadline;     /* owned */
	enum cstate state;
	uint64_t body_left;
	bool armed;
	bool broken; /* setting up TLS failed: refuse the connection */
};

static bool ieq_prefix(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);
	return n > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

int gw_conn_check_head(const char *head, size_t len, size_t uri_max, size_t body_max,
		       uint64_t *body, int *chunked)
{
	const char *end = head + len, *p = head;
	bool have_cl = false;

	*body = 0;
	*chunked = 0;
	/* request line: METHOD SP TARGET SP VERSION */
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	if (eol == NULL)
		return 0;
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (sp1) {
		const char *t = sp1 + 1, *sp2 = memchr(t, ' ', (size_t)(eol - t));
		size_t tl = (size_t)((sp2 ? sp2 : eol) - t);
		if (tl > uri_max)
			return 414;
	}
	for (p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		size_t n = (size_t)(eol - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (ieq_prefix(p, n, "Content-Length")) {
			const char *v = p + 15, *ve = p + n;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			uint64_t x = 0;
			bool ok = v < ve;
			for (const char *q = v; q < ve && ok; q++) {
				if (*q < '0' || *q > '9' || x > (UINT64_MAX - 9) / 10)
					ok = false;
				else
					x = x * 10 + (uint64_t)(*q - '0');
			}
			if (!ok)
				continue; /* evhttp refuses it (400) */
			if (x > body_max)
				return 413;
			if (have_cl && x != *body)
				continue; /* conflicting: evhttp reads the first; framing below */
			have_cl = true;
			*body = x;
		} else if (ieq_prefix(p, n, "Transfer-Encoding")) {
			*chunked = 1;
		}
	}
	return 0;
}

static void disarm(struct gw_conn *c)
{
	if (c->armed)
		event_del(c->deadline);
	c->armed = false;
}

static void arm(struct gw_conn *c)
{
	if (c->armed)
		return;
	struct timeval tv = {c->set->read_timeout_ms / 1000, (c->set->read_timeout_ms % 1000) * 1000};
	event_add(c->deadline, &tv);
	c->armed = true;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct gw_conn *c = arg;

	c->armed = false;
	evutil_socket_t s = bufferevent_getfd(c->under);
	gw_debug("request read timeout on fd %d: closing the connection", (int)s);
	if (s >= 0)
		shutdown(s, SHUT_RDWR); /* evhttp sees EOF and frees the connection */
}

/* Replace a rejected request by a minimal one the handler answers. */
static void reject(struct gw_conn *c, struct evbuffer *src, struct evbuffer *dst, int status)
{
	evbuffer_drain(src, evbuffer_get_length(src));
	evbuffer_add_printf(dst,
			    "GET / HTTP/1.1\r\n" GW_REJECT_HEADER ": %d\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n",
			    status);
	c->state = C_DISCARD;
	disarm(c);
}

/* Length of the head at the start of buf (through the empty line), or 0. */
static size_t head_length(const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < n && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static enum bufferevent_filter_result in_filter(struct evbuffer *src, struct evbuffer *dst,
						ev_ssize_t lim, enum bufferevent_flush_mode mode,
						void *arg)
{
	struct gw_conn *c = arg;
	bool moved = false;

	if (c->broken)
		return BEV_ERROR;
	for (;;) {
		size_t avail = evbuffer_get_length(src);
		if (avail == 0)
			return moved ? BEV_OK : BEV_NEED_MORE;
		switch (c->state) {
		case C_DISCARD:
			evbuffer_drain(src, avail);
			return BEV_OK;
		case C_PASS:
			evbuffer_add_buffer(dst, src);
			return BEV_OK;
		case C_BODY: {
			size_t n = avail < c->body_left ? avail : (size_t)c->body_left;
			evbuffer_remove_buffer(src, dst, n);
			c->body_left -= n;
			moved = true;
			if (c->body_left == 0) {
				c->state = C_HEAD;
				disarm(c);
			}
			continue;
		}
		case C_HEAD:
			break;
		}
		/* C_HEAD: drop blank lines between requests */
		unsigned char *first = evbuffer_pullup(src, 1);
		if (first[0] == '\r' || first[0] == '\n') {
			evbuffer_drain(src, 1);
			moved = true;
			continue;
		}
		arm(c);
		size_t want = avail < c->set->head_max + 1 ? avail : c->set->head_max + 1;
		char *h = (char *)evbuffer_pullup(src, (ev_ssize_t)want);
		size_t hl = head_length(h, want);
		if (hl == 0) {
			if (want > c->set->head_max) {
				reject(c, src, dst, 431);
				return BEV_OK;
			}
			return moved ? BEV_OK : BEV_NEED_MORE;
		}
		uint64_t body = 0;
		int chunked = 0;
		int st = gw_conn_check_head(h, hl, c->set->uri_max, c->set->body_max, &body, &chunked);
		if (st) {
			reject(c, src, dst, st);
			return BEV_OK;
		}
		evbuffer_remove_buffer(src, dst, hl);
		moved = true;
		if (chunked) {
			c->state = C_PASS;
			disarm(c);
		} else if (body > 0) {
			c->state = C_BODY;
			c->body_left = body;
		} else {
			disarm(c);
		}
	}
}

static void conn_free(void *arg)
{
	struct gw_conn *c = arg;
	struct gw_connset *set = c->set;

	event_free(c->deadline);
	free(c);
	set->n--;
	if (set->on_count)
		set->on_count(set->n, set->arg);
}

struct bufferevent *gw_conn_new_bev(struct gw_connset *set, SSL_CTX *ssl)
{
	struct gw_conn *c = calloc(1, sizeof(*c));
	struct bufferevent *under = NULL, *bev = NULL;

	if (c == NULL)
		goto fail;
	c->set = set;
	c->deadline = evtimer_new(set->base, on_deadline, c);
	if (c->deadline == NULL)
		goto fail;
	if (ssl) {
		SSL *s = SSL_new(ssl);
		if (s == NULL) {
			c->broken = true;
		} else {
			under = bufferevent_openssl_socket_new(set->base, -1, s,
							       BUFFEREVENT_SSL_ACCEPTING,
							       BEV_OPT_CLOSE_ON_FREE);
			if (under == NULL) {
				SSL_free(s);
				c->broken = true;
			} else {
				bufferevent_openssl_set_allow_dirty_shutdown(under, 1);
			}
		}
	}
	if (under == NULL)
		under = bufferevent_socket_new(set->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (under == NULL)
		goto fail;
	c->under = under;
	bev = bufferevent_filter_new(under, in_filter, NULL, BEV_OPT_CLOSE_ON_FREE, conn_free, c);
	if (bev == NULL)
		goto fail;
	set->n++;
	arm(c); /* the first request must arrive within the read timeout too */
	if (set->on_count)
		set->on_count(set->n, set->arg);
	return bev;
fail:
	gw_log("cannot set up a connection: out of memory");
	if (under)
		bufferevent_free(under);
	if (c && c->deadline)
		event_free(c->deadline);
	free(c);
	if (ssl == NULL)
		return NULL; /* evhttp makes a plain one */
	/* Never let evhttp fall back to plain text on a TLS port: a dead
	 * bufferevent makes it drop the connection. */
	return NULL;
}
