/* Listeners and TLS context (see listen.h). */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>

#include "../shared/cleanup.h"

#define BACKLOG 511

static int listen_unix(const char *path, struct gw_listener *l, al_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
		return al_err_set(err, EINVAL,
				  "listen unix:%s: want an absolute path shorter than %zu bytes",
				  path, sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return al_err_set(err, errno, "listen unix:%s: socket", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return al_err_set(err, EEXIST,
					  "listen unix:%s: the path exists and is not a socket; "
					  "remove it or choose another path",
					  path);
		cleanup_close int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return al_err_set(err, EADDRINUSE,
					  "listen unix:%s: another process is serving on it", path);
		unlink(path); /* stale */
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return al_err_set(err, errno, "listen unix:%s: bind", path);
	if (chmod(path, 0666) < 0 || listen(fd, BACKLOG) < 0) {
		int e = errno;
		unlink(path);
		return al_err_set(err, e, "listen unix:%s", path);
	}
	l->is_unix = true;
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->shown, sizeof(l->shown), "unix:%s", path);
	l->fd = TAKE_FD(fd);
	return 0;
}

static int listen_tcp(const char *addr, bool tls, struct gw_listener *l, al_err *err)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return al_err_set(err, EINVAL,
				  "listen %s: want HOST:PORT, [V6ADDR]:PORT or unix:/path", addr);
	hl = (size_t)(colon - addr);
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return al_err_set(err, EINVAL, "listen %s: missing or too long host", addr);
	memcpy(host, h, hl);
	host[hl] = '\0';

	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int r = getaddrinfo(host, colon + 1, &hints, &res);
	if (r != 0)
		return al_err_set(err, EINVAL, "listen %s: %s", addr, gai_strerror(r));
	cleanup_close int fd =
	    socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		int e = errno;
		freeaddrinfo(res);
		return al_err_set(err, e, "listen %s: socket", addr);
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;
		freeaddrinfo(res);
		return al_err_set(err, e, "listen %s: bind", addr);
	}
	freeaddrinfo(res);
	if (listen(fd, BACKLOG) < 0)
		return al_err_set(err, errno, "listen %s", addr);

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
			port = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			port = ntohs(s6->sin6_port);
		}
	}
	snprintf(l->shown, sizeof(l->shown), "%s://%s%s%s:%d", tls ? "https" : "http",
		 ss.ss_family == AF_INET6 ? "[" : "", ip, ss.ss_family == AF_INET6 ? "]" : "",
		 port);
	l->tls = tls;
	l->fd = TAKE_FD(fd);
	return 0;
}

int gw_listen_open(const char *addr, bool tls, struct gw_listener *l, al_err *err)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	if (strncmp(addr, "unix:", 5) == 0)
		return listen_unix(addr + 5, l, err);
	return listen_tcp(addr, tls, l, err);
}

void gw_listen_close(struct gw_listener *l, bool unlink_path)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (unlink_path && l->is_unix && l->path[0])
		unlink(l->path);
}

static int ssl_fail(al_err *err, const char *what, const char *file)
{
	char buf[256] = "unknown error";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return al_err_set(err, EINVAL, "TLS: %s %s: %s", what, file ? file : "", buf);
}

SSL_CTX *gw_tls_new(const char *cert, const char *key, const char *client_ca, al_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	static const unsigned char sid[] = "agentgw";

	if (ctx == NULL) {
		ssl_fail(err, "cannot create a context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_fail(err, "cannot load the certificate chain (--tls-cert)", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_fail(err, "cannot load the private key (--tls-key)", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_fail(err, "the key does not match the certificate", key);
		goto fail;
	}
	if (client_ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
		if (names == NULL || SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
			if (names)
				sk_X509_NAME_pop_free(names, X509_NAME_free);
			ssl_fail(err, "cannot load the client CA (--tls-client-ca)", client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
