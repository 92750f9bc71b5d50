/* The privilege-separation channel: JSON messages over a SOCK_SEQPACKET
 * socketpair, non-blocking, in a libevent loop.
 *
 * Framing: a message is serialised compactly and cut into datagrams of at
 * most GW_IPC_FRAME bytes; each datagram starts with one byte, 'C' (more
 * follows) or 'E' (last).  The receiver bounds the reassembled size
 * (max_in), refuses truncated datagrams and anything that is not a JSON
 * object (duplicate keys rejected); any of these is a protocol violation,
 * reported through the close callback.  The content of a message is the
 * receiver's business: the monitor validates every field (monitor.c). */
#ifndef GW_IPC_H
#define GW_IPC_H

#include <stddef.h>

#include "gw.h"

struct event_base;
typedef struct json_t json_t;

#define GW_IPC_FRAME 32768

struct gw_ipc;

/* msg is borrowed for the duration of the call.  The callbacks must not
 * free the channel; on_close is called at most once. */
typedef void (*gw_ipc_msg_cb)(json_t *msg, void *arg);
typedef void (*gw_ipc_close_cb)(const char *why, void *arg);

/* Takes ownership of fd. */
struct gw_ipc *gw_ipc_new(struct event_base *base, int fd, size_t max_in, gw_ipc_msg_cb on_msg,
			  gw_ipc_close_cb on_close, void *arg, al_err *err);
/* Queue msg (borrowed) and send what the socket takes now.  -1 when the
 * channel is closed or out of memory. */
int gw_ipc_send(struct gw_ipc *c, json_t *msg);
/* Bytes queued but not sent yet. */
size_t gw_ipc_queued(const struct gw_ipc *c);
/* Blocking: send everything queued (at most timeout_ms). */
void gw_ipc_flush(struct gw_ipc *c, int timeout_ms);
void gw_ipc_free(struct gw_ipc *c);

/* Make a socketpair for the channel (both ends O_CLOEXEC, large buffers). */
int gw_ipc_socketpair(int sv[2], al_err *err);

#endif
