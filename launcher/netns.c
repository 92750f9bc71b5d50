/* Isolated networking (--net isolated): two fresh network namespaces and a
 * veth pair between them, built with libnl-route-3.
 *
 *   agent namespace                 hub namespace (launcher only)
 *   lo 127.0.0.1 (up)               al-hub 10.77.X.1/30  <- relays listen here
 *   eth0 10.77.X.2/30  <== veth ==>
 *
 * The hub namespace belongs to the launcher alone: no process runs in it,
 * only the launcher's listening sockets (the relays) are bound in it.  The
 * host namespace gets nothing: no interface, address or route, so no host
 * service is reachable from the agent whatever address it binds (0.0.0.0
 * included); the relays carry exactly the allowed endpoints out.  The
 * agent's namespace has no default route and the agent has no
 * CAP_NET_ADMIN to add one.
 *
 * Speed: the peer is created directly inside the agent's namespace
 * (IFLA_NET_NS_FD on the peer) instead of being moved there (a move costs
 * ~20 ms of RCU waits).  Nothing is ever deleted explicitly: when the
 * launcher closes its namespace fds and sockets (or dies), the namespaces
 * go away and the kernel removes the veth with them, asynchronously.
 *
 * The /30 is the first one in 10.77.0.0/16 (then 100.64.0.0/10) that
 * overlaps no route and no address of the host, so addresses in logs are
 * never mistaken for host networks; since both ends live in private
 * namespaces, concurrent launches may use the same /30 without conflict. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "launch.h"
#include "shared/cleanup.h"
#include "shared/util.h"

#define HUB_IF "al-hub"
#define AGENT_IF "eth0"

struct route4 {
	uint32_t dst, mask; /* host order */
};

static bool overlaps(uint32_t a, uint32_t amask, uint32_t b, uint32_t bmask)
{
	uint32_t m = amask & bmask; /* the shorter prefix */
	return (a & m) == (b & m);
}

/* Host IPv4 routes (main table, /proc/net/route) and addresses. */
static size_t host_routes(struct route4 *r, size_t max)
{
	size_t n = 0;
	FILE *f = fopen("/proc/net/route", "re");
	char line[256];

	if (f != NULL) {
		if (fgets(line, sizeof(line), f) == NULL) { /* header */
			fclose(f);
			f = NULL;
		}
		while (f && n < max && fgets(line, sizeof(line), f)) {
			char ifn[32];
			unsigned dst, gw, flags, refc, use, metric, mask;
			if (sscanf(line, "%31s %x %x %x %u %u %u %x", ifn, &dst, &gw, &flags, &refc,
				   &use, &metric, &mask) != 8)
				continue;
			if (mask == 0)
				continue; /* the default route overlaps everything */
			r[n].dst = ntohl(dst);
			r[n].mask = ntohl(mask);
			n++;
		}
		if (f)
			fclose(f);
	}
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i && n < max; i = i->ifa_next) {
			if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
				continue;
			uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
			uint32_t m =
			    i->ifa_netmask
				? ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr)
				: 0xffffffffu;
			r[n].dst = a;
			r[n].mask = m ? m : 0xffffffffu;
			n++;
		}
		freeifaddrs(ifa);
	}
	return n;
}

static int pick_subnet(uint32_t *net, al_err *err)
{
	struct route4 r[512];
	size_t n = host_routes(r, sizeof(r) / sizeof(r[0]));
	static const struct {
		uint32_t base, size;
	} pools[] = {{0x0a4d0000u, 1u << 16}, {0x64400000u, 1u << 22}}; /* 10.77/16, 100.64/10 */

	for (size_t p = 0; p < 2; p++) {
		for (uint32_t off = 0; off < pools[p].size; off += 4) {
			uint32_t cand = pools[p].base + off;
			bool clash = false;
			for (size_t i = 0; i < n && !clash; i++)
				clash = overlaps(cand, 0xfffffffcu, r[i].dst, r[i].mask);
			if (!clash) {
				*net = cand;
				return 0;
			}
		}
	}
	return al_err_set(err, EADDRNOTAVAIL,
			  "no free /30 in 10.77.0.0/16 or 100.64.0.0/10: every one overlaps a host "
			  "route");
}

static void addr_str(uint32_t a, char *out)
{
	struct in_addr in = {.s_addr = htonl(a)};
	inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
}

int la_net_lo_up(al_err *err)
{
	struct ifreq ifr;
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return al_err_set(err, errno, "socket for bringing lo up");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return al_err_set(err, errno, "SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return al_err_set(err, errno, "bring lo up");
	return 0;
}

static int listen_on(const struct sockaddr_in *sa, bool freebind, al_err *err)
{
	int one = 1;
	cleanup_close int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	char a[INET_ADDRSTRLEN];

	if (fd < 0)
		return al_err_set(err, errno, "relay socket");
	inet_ntop(AF_INET, &sa->sin_addr, a, sizeof(a));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* bound before the address is configured on the veth */
	if (freebind && setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0)
		return al_err_set(err, errno, "IP_FREEBIND");
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 128) < 0)
		return al_err_set(err, errno, "relay listen on %s:%u", a, ntohs(sa->sin_port));
	return TAKE_FD(fd);
}

int la_net_listen_loopback(uint16_t port, al_err *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return listen_on(&sa, false, err);
}

static int new_netns(int *out, struct nl_sock **sk, al_err *err)
{
	if (unshare(CLONE_NEWNET) < 0)
		return al_err_set(err, errno,
				  "unshare(CLONE_NEWNET): --net isolated needs root (CAP_SYS_ADMIN "
				  "and CAP_NET_ADMIN); use --net rootless otherwise");
	*out = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*out < 0)
		return al_err_set(err, errno, "open the new network namespace");
	*sk = nl_socket_alloc();
	if (*sk == NULL)
		return al_err_set(err, ENOMEM, "netlink socket");
	int r = nl_connect(*sk, NETLINK_ROUTE);
	if (r < 0)
		return al_err_set(err, 0, "netlink connect: %s", nl_geterror(r));
	return 0;
}

/* ifindex of name; up: also set IFF_UP. */
static int link_up(struct nl_sock *sk, const char *name, bool up, int *idx, al_err *err)
{
	struct rtnl_link *l = NULL, *ch = NULL;
	int r = rtnl_link_get_kernel(sk, 0, name, &l);

	if (r < 0)
		return al_err_set(err, 0, "find link %s: %s", name, nl_geterror(r));
	if (idx)
		*idx = rtnl_link_get_ifindex(l);
	if (up) {
		ch = rtnl_link_alloc();
		if (ch == NULL) {
			rtnl_link_put(l);
			return al_err_set(err, ENOMEM, "link %s", name);
		}
		rtnl_link_set_flags(ch, IFF_UP);
		r = rtnl_link_change(sk, l, ch, 0);
		rtnl_link_put(ch);
	}
	rtnl_link_put(l);
	if (r < 0)
		return al_err_set(err, 0, "bring %s up: %s", name, nl_geterror(r));
	return 0;
}

static int add_addr(struct nl_sock *sk, int ifindex, uint32_t a, unsigned prefix, al_err *err)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *na = NULL;
	uint32_t be = htonl(a);
	char s[INET_ADDRSTRLEN];
	int r;

	addr_str(a, s);
	if (ra == NULL || (na = nl_addr_build(AF_INET, &be, 4)) == NULL) {
		rtnl_addr_put(ra);
		return al_err_set(err, ENOMEM, "address %s", s);
	}
	nl_addr_set_prefixlen(na, (int)prefix);
	rtnl_addr_set_ifindex(ra, ifindex);
	r = rtnl_addr_set_local(ra, na);
	if (r == 0)
		r = rtnl_addr_add(sk, ra, 0);
	nl_addr_put(na);
	rtnl_addr_put(ra);
	if (r < 0)
		return al_err_set(err, 0, "add address %s/%u: %s", s, prefix, nl_geterror(r));
	return 0;
}

static int add_veth(struct nl_sock *hub, int agent_ns, al_err *err)
{
	struct rtnl_link *link = rtnl_link_veth_alloc();
	struct rtnl_link *peer;
	int r;

	if (link == NULL)
		return al_err_set(err, ENOMEM, "veth");
	rtnl_link_set_name(link, HUB_IF);
	rtnl_link_set_flags(link, IFF_UP);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer, AGENT_IF);
	/* not IFF_UP here: veth_open() refuses (ENOTCONN) before the pair is
	 * linked; it is brought up afterwards */
	rtnl_link_set_ns_fd(peer, agent_ns); /* made in place: no move */
	rtnl_link_put(peer);
	r = rtnl_link_add(hub, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(link);
	if (r < 0)
		return al_err_set(err, 0, "create veth %s/%s: %s", HUB_IF, AGENT_IF,
				  nl_geterror(r));
	return 0;
}

int la_net_plan(struct la_net *n, al_err *err)
{
	uint32_t net;

	if (pick_subnet(&net, err) < 0)
		return -1;
	n->net = net;
	n->prefix = 30;
	addr_str(net, n->subnet);
	addr_str(net + 1, n->hub_addr);
	addr_str(net + 2, n->agent_addr);
	snprintf(n->hub_if, sizeof(n->hub_if), HUB_IF);
	snprintf(n->agent_if, sizeof(n->agent_if), AGENT_IF);
	return 0;
}

int la_net_isolated(struct la_net *n, int agent_ns, const uint16_t *ports, size_t nports, int *fds,
		    al_err *err)
{
	cleanup_close int orig = -1;
	struct nl_sock *sk_agent = NULL, *sk_hub = NULL;
	uint32_t net = n->net;
	int rc = -1, idx, r;
	bool moved = false;
	int64_t t0 = al_now_us();

	for (size_t i = 0; i < nports; i++)
		fds[i] = -1;
	orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		return al_err_set(err, errno, "open our network namespace");
	/* A netlink socket inside the agent's namespace (made by its init). */
	moved = true;
	if (setns(agent_ns, CLONE_NEWNET) < 0) {
		al_err_set(err, errno, "enter the agent's network namespace");
		goto out;
	}
	sk_agent = nl_socket_alloc();
	if (sk_agent == NULL || (r = nl_connect(sk_agent, NETLINK_ROUTE)) < 0) {
		al_err_set(err, 0, "netlink socket in the agent's namespace: %s",
			   sk_agent ? nl_geterror(r) : "out of memory");
		goto out;
	}
	if (new_netns(&n->hub_ns, &sk_hub, err) < 0)
		goto out;
	/* In the hub namespace: bind the relays' listeners there. */
	for (size_t i = 0; i < nports; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ports[i])};
		sa.sin_addr.s_addr = htonl(net + 1);
		if ((fds[i] = listen_on(&sa, true, err)) < 0)
			goto out;
	}
	if (setns(orig, CLONE_NEWNET) < 0) {
		al_err_set(err, errno, "return to our network namespace");
		goto out;
	}
	moved = false;
	/* The netlink sockets stay bound to the namespace they were made in. */
	if (add_veth(sk_hub, agent_ns, err) < 0 || link_up(sk_hub, HUB_IF, false, &idx, err) < 0 ||
	    add_addr(sk_hub, idx, net + 1, n->prefix, err) < 0 ||
	    link_up(sk_agent, AGENT_IF, true, &idx, err) < 0 ||
	    add_addr(sk_agent, idx, net + 2, n->prefix, err) < 0 ||
	    link_up(sk_agent, "lo", true, NULL, err) < 0)
		goto out;
	rc = 0;
out:
	if (moved && setns(orig, CLONE_NEWNET) < 0)
		al_bail(LA_EXIT_ERROR, LA_PROG, "cannot return to the host network namespace: %s",
			strerror(errno));
	nl_socket_free(sk_agent);
	nl_socket_free(sk_hub);
	if (rc < 0) {
		for (size_t i = 0; i < nports; i++)
			if (fds[i] >= 0) {
				close(fds[i]);
				fds[i] = -1;
			}
		la_net_close(n);
		return al_err_wrap(err, "isolated network");
	}
	n->setup_us = al_now_us() - t0;
	return 0;
}

void la_net_close(struct la_net *n)
{
	if (n->hub_ns >= 0)
		close(n->hub_ns);
	n->hub_ns = -1;
}
