/* The connection guard (see conn.h). */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include "gw.h"

enum cstate { C_HEAD, C_BODY, C_PASS, C_DISCARD };

#define MAP_BUCKETS 4096

struct gw_conn {
	struct gw_connset *set;	   /* borrowed */
	struct bufferevent *bev;   /* borrowed: the filter evhttp uses (key of the map) */
	struct bufferevent *under; /* borrowed: freed by the filter (BEV_OPT_CLOSE_ON_FREE) */
	struct gw_conn *map_next;
	struct event *deadline; /* owned */
	enum cstate state;
	uint64_t body_left;
	uint64_t heads;	      /* requests framed so far */
	uint64_t replies;     /* replies completed so far */
	uint64_t close_after; /* close after this many replies; 0 = keep alive */
	bool closing;	      /* shut down once the lower output is empty */
	bool armed;
	bool broken; /* setting up TLS failed: refuse the connection */
};

static void shut(struct gw_conn *c);

static size_t map_slot(const struct bufferevent *bev)
{
	uintptr_t x = (uintptr_t)bev;
	return (size_t)((x >> 4) ^ (x >> 16)) % MAP_BUCKETS;
}

static bool map_add(struct gw_connset *set, struct gw_conn *c)
{
	if (set->map == NULL) {
		set->map = calloc(MAP_BUCKETS, sizeof(*set->map));
		if (set->map == NULL)
			return false;
		set->map_cap = MAP_BUCKETS;
	}
	size_t i = map_slot(c->bev);
	c->map_next = set->map[i];
	set->map[i] = c;
	return true;
}

static void map_del(struct gw_connset *set, struct gw_conn *c)
{
	if (set->map == NULL)
		return;
	for (struct gw_conn **pp = &set->map[map_slot(c->bev)]; *pp; pp = &(*pp)->map_next)
		if (*pp == c) {
			*pp = c->map_next;
			return;
		}
}

static struct gw_conn *map_get(struct gw_connset *set, const struct bufferevent *bev)
{
	if (set->map == NULL || bev == NULL)
		return NULL;
	for (struct gw_conn *c = set->map[map_slot(bev)]; c; c = c->map_next)
		if (c->bev == bev)
			return c;
	return NULL;
}

void gw_connset_drain(struct gw_connset *set)
{
	set->draining = true;
	for (size_t i = 0; set->map && i < set->map_cap; i++)
		for (struct gw_conn *c = set->map[i]; c; c = c->map_next)
			if (c->replies == c->heads && c->state == C_HEAD &&
			    evbuffer_get_length(bufferevent_get_input(c->under)) == 0) {
				c->closing = true;
				shut(c);
			}
}

bool gw_connset_writing(const struct gw_connset *set)
{
	for (size_t i = 0; set->map && i < set->map_cap; i++)
		for (struct gw_conn *c = set->map[i]; c; c = c->map_next)
			if (evbuffer_get_length(bufferevent_get_output(c->under)) > 0 ||
			    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
				return true;
	return false;
}

void gw_connset_free(struct gw_connset *set)
{
	free(set->map);
	set->map = NULL;
}

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
	struct timeval tv = {c->set->read_timeout_ms / 1000,
			     (c->set->read_timeout_ms % 1000) * 1000};
	event_add(c->deadline, &tv);
	c->armed = true;
}

static void shut(struct gw_conn *c)
{
	evutil_socket_t s = bufferevent_getfd(c->under);
	if (s >= 0)
		shutdown(s, SHUT_RDWR); /* evhttp sees EOF and frees the connection */
}

/* The lower bufferevent's output changed: once a closing connection's last
 * reply has left it, shut the socket down. */
static void on_under_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct gw_conn *c = arg;

	if (c->closing && info->n_deleted > 0 && evbuffer_get_length(buf) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		shut(c);
}

static struct gw_conn *conn_of(struct gw_connset *set, struct evhttp_request *req)
{
	struct evhttp_connection *evc = evhttp_request_get_connection(req);
	return evc ? map_get(set, evhttp_connection_get_bufferevent(evc)) : NULL;
}

void gw_conn_reply_start(struct gw_connset *set, struct evhttp_request *req, size_t body_len)
{
	struct gw_conn *c = conn_of(set, req);

	if (c == NULL || !((c->close_after && c->replies + 1 >= c->close_after) || set->draining))
		return;
	/* The guard's keep-alive would be echoed to an HTTP/1.0 client:
	 * taken out until gw_conn_reply_done. */
	evhttp_remove_header(evhttp_request_get_input_headers(req), "Connection");
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_remove_header(out, "Connection");
	evhttp_add_header(out, "Connection", "close");
	/* evhttp leaves it out for HTTP/1.0 without keep-alive; clients that
	 * read to Content-Length instead of EOF get it anyway */
	if (evhttp_find_header(out, "Content-Length") == NULL) {
		char n[32];
		snprintf(n, sizeof(n), "%zu", body_len);
		evhttp_add_header(out, "Content-Length", n);
	}
}

static bool says_close(const char *v)
{
	for (; v && *v; v++)
		if (strncasecmp(v, "close", 5) == 0)
			return true;
	return false;
}

void gw_conn_reply_done(struct gw_connset *set, struct evhttp_request *req)
{
	struct gw_conn *c = conn_of(set, req);

	if (c == NULL)
		return;
	c->replies++;
	/* The reply's head is out.  evhttp decides next whether to free the
	 * connection (which would drop a reply still in the lower
	 * bufferevent): it must see keep-alive; the guard closes. */
	struct evkeyvalq *in = evhttp_request_get_input_headers(req),
			 *out = evhttp_request_get_output_headers(req);
	bool asked = says_close(evhttp_find_header(out, "Connection"));
	evhttp_remove_header(out, "Connection");
	evhttp_remove_header(in, "Connection");
	evhttp_add_header(in, "Connection", "keep-alive");
	if (!(asked || (c->close_after && c->replies >= c->close_after) || set->draining))
		return;
	c->closing = true;
	if (evbuffer_get_length(bufferevent_get_output(c->under)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		shut(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct gw_conn *c = arg;

	c->armed = false;
	gw_debug("request read timeout: closing the connection");
	shut(c);
}

/* Copy a head to dst without its Connection headers; returns whether the
 * client wants the connection closed after this request. */
static bool pass_head(const char *h, size_t hl, struct evbuffer *dst)
{
	const char *end = h + hl, *eol = memchr(h, '\n', hl);
	bool http10 = false, close = false, keep = false;

	if (eol == NULL)
		eol = end;
	size_t rl = (size_t)(eol - h);
	if (rl >= 9 && memcmp(eol - (eol[-1] == '\r' ? 9 : 8), "HTTP/1.0", 8) == 0)
		http10 = true;
	evbuffer_add(dst, h, (size_t)(eol + 1 - h));
	for (const char *p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end - 1;
		size_t n = (size_t)(eol - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (ieq_prefix(p, n, "Connection")) {
			for (const char *q = p + 11; q + 5 <= p + n; q++) {
				if (strncasecmp(q, "close", 5) == 0)
					close = true;
				if (q + 10 <= p + n && strncasecmp(q, "keep-alive", 10) == 0)
					keep = true;
			}
			continue;
		}
		evbuffer_add(dst, p, (size_t)(eol + 1 - p));
	}
	if (http10)
		evbuffer_add(dst, "Connection: keep-alive\r\n", 24);
	evbuffer_add(dst, "\r\n", 2);
	return close || (http10 && !keep);
}

/* Replace a rejected request by a minimal one the handler answers. */
static void reject(struct gw_conn *c, struct evbuffer *src, struct evbuffer *dst, int status)
{
	evbuffer_drain(src, evbuffer_get_length(src));
	evbuffer_add_printf(
	    dst, "GET / HTTP/1.1\r\n" GW_REJECT_HEADER ": %d\r\nContent-Length: 0\r\n\r\n", status);
	c->heads++;
	c->close_after = c->heads;
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
		int st =
		    gw_conn_check_head(h, hl, c->set->uri_max, c->set->body_max, &body, &chunked);
		if (st) {
			reject(c, src, dst, st);
			return BEV_OK;
		}
		c->heads++;
		if (pass_head(h, hl, dst) && c->close_after == 0)
			c->close_after = c->heads;
		evbuffer_drain(src, hl);
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

	map_del(set, c);
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
			under = bufferevent_openssl_socket_new(
			    set->base, -1, s, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
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
	if (evbuffer_add_cb(bufferevent_get_output(under), on_under_output, c) == NULL)
		goto fail;
	bev = bufferevent_filter_new(under, in_filter, NULL, BEV_OPT_CLOSE_ON_FREE, conn_free, c);
	if (bev == NULL)
		goto fail;
	c->bev = bev;
	set->n++;
	if (!map_add(set, c)) {
		bufferevent_free(bev); /* frees under and c */
		return NULL;
	}
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
