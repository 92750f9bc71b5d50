/* Listening sockets and the TLS context, made by the privileged process
 * before the split (the front end cannot open files or bind afterwards). */
#ifndef GW_LISTEN_H
#define GW_LISTEN_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "gw.h"

struct gw_listener {
	char addr[300];	 /* as given */
	char shown[320]; /* what it really listens on, e.g. "http://127.0.0.1:41234" */
	int fd;		 /* owned, O_CLOEXEC, listening */
	bool is_unix;
	bool tls;
	char path[108]; /* unix socket path */
};

/* ADDR is HOST:PORT, [V6]:PORT or unix:/path (absolute).  TCP listeners get
 * TLS when tls is set; unix sockets never do (they are local).  A stale
 * unix socket file is replaced; a live one (another gateway) is an error.
 * The socket file is made 0666: access control is the tokens and the
 * directory's permissions. */
int gw_listen_open(const char *addr, bool tls, struct gw_listener *l, al_err *err);
void gw_listen_close(struct gw_listener *l, bool unlink_path);

/* Server context: TLS >= 1.2, certificate chain and key from files, and with
 * client_ca: client certificates required and verified against it. */
SSL_CTX *gw_tls_new(const char *cert, const char *key, const char *client_ca, al_err *err);

#endif
