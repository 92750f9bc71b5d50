/* Per-connection guard of the front end (one per accepted connection).
 *
 * evhttp 2.1 answers oversized requests itself (HTML bodies) and knows one
 * inactivity timeout for everything.  Each connection's bufferevent is
 * therefore wrapped in a pass-through input filter that:
 *   - frames requests itself (request head, Content-Length body) so that it
 *     sees every head before evhttp does;
 *   - turns a head that is too large (431), a request target that is too
 *     long (414) or a Content-Length over the body limit (413) into a small
 *     synthetic request carrying "X-Agentgw-Reject: STATUS" and
 *     "Connection: close", answered by the handler with the JSON error;
 *     everything the client sends after that is dropped;
 *   - enforces the request read deadline: from the connection's start, or
 *     the first byte of a request, until the whole request has been read
 *     (default 10 s, a total, so a client trickling bytes gets no more);
 *     then the socket is shut down.  evhttp's own timeout is the keep-alive
 *     idle timeout (30 s);
 *   - counts connections, so the listeners can pause at the limit;
 *   - closes connections itself.  Through a filter, evhttp takes a reply
 *     as sent once it sits in the lower bufferevent, and would free the
 *     connection (losing the reply) when the request asked for
 *     "Connection: close".  So Connection headers are taken out of request
 *     heads (HTTP/1.0 heads get "Connection: keep-alive"), the intent is
 *     remembered, and after that request's reply (gw_conn_reply_done) has
 *     left the lower bufferevent the socket is shut down; evhttp then sees
 *     EOF and frees the connection.  The reply itself says
 *     "Connection: close" (gw_conn_reply_start: the header is set for the
 *     reply's head and taken out again, with the request's keep-alive put
 *     back, before evhttp decides whether to close).
 * Chunked request bodies are passed through unframed (evhttp enforces the
 * body limit on them); the connection is not reframed afterwards. */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct bufferevent;
struct evhttp_request;
struct gw_conn;

#define GW_REJECT_HEADER "X-Agentgw-Reject"

struct gw_connset {
	struct event_base *base; /* borrowed */
	size_t body_max, head_max, uri_max;
	int64_t read_timeout_ms;
	size_t n;      /* live connections */
	bool draining; /* close every connection after its current reply */
	void (*on_count)(size_t n, void *arg);
	void *arg;
	struct gw_conn **map; /* owned hash (filter bufferevent -> connection) */
	size_t map_cap;
};

/* For evhttp_set_bevcb: a new guarded bufferevent (TLS when ssl != NULL).
 * Never NULL for TLS (evhttp would fall back to plain text): on failure the
 * connection is refused instead. */
struct bufferevent *gw_conn_new_bev(struct gw_connset *set, SSL_CTX *ssl);

/* Call just before evhttp_send_reply: when the connection closes after
 * this reply (the client asked for it, HTTP/1.0 without keep-alive, a
 * rejected request, shutting down) the reply says "Connection: close" (and
 * its Content-Length, body_len, also to HTTP/1.0). */
void gw_conn_reply_start(struct gw_connset *set, struct evhttp_request *req, size_t body_len);
/* Call when the reply to req has been handed to evhttp completely (its
 * on_complete callback): closes the connection if the request asked for
 * it (or the reply says "Connection: close"), once the reply has reached
 * the socket; evhttp is kept from closing it earlier itself. */
void gw_conn_reply_done(struct gw_connset *set, struct evhttp_request *req);
/* Shutdown: idle connections close now, the others after their reply. */
void gw_connset_drain(struct gw_connset *set);
/* Is any reply still on its way to a socket? */
bool gw_connset_writing(const struct gw_connset *set);
void gw_connset_free(struct gw_connset *set);

/* Scan a request head (request line + headers, up to and including the
 * empty line) for the guard; exposed for unit tests.  Returns 0 to pass
 * it through, else the status to answer (413, 414, 431). *chunked is set
 * for a Transfer-Encoding body, *body the Content-Length (0 if none). */
int gw_conn_check_head(const char *head, size_t len, size_t uri_max, size_t body_max,
		       uint64_t *body, int *chunked);

#endif
