/*
 * addr.h: "host:port" and "[v6]:port" text <-> socket addresses.
 *
 * The gossip core treats addresses as opaque text; node/ is where they meet
 * sockets. The canonical text of an address is what node_addr_format()
 * prints ("127.0.0.1:7946", "[::1]:7946"), so the same peer always has the
 * same string.
 */
#ifndef GKV_NODE_ADDR_H
#define GKV_NODE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Enough for "[" + INET6_ADDRSTRLEN + "]:65535". */
#define NODE_ADDR_TEXT_MAX 64

/* Parse numeric "ip:port" / "[ip6]:port" (no name lookup; cheap enough to
 * call per packet). Returns 0 or GKV_EINVAL. */
int node_addr_parse(const char *text, struct sockaddr_storage *out);

/* Like node_addr_parse, but a host name is resolved (getaddrinfo; blocking:
 * startup only). */
int node_addr_resolve(const char *text, struct sockaddr_storage *out);

/* Canonical text of sa into out (NODE_ADDR_TEXT_MAX bytes). */
int node_addr_format(const struct sockaddr *sa, char *out, size_t out_len);

/* Split "host:port" into its parts (brackets removed). host must hold
 * host_len bytes. Returns 0 or GKV_EINVAL. */
int node_addr_split(const char *text, char *host, size_t host_len, int *port);

/* True when the host part of "host:port" text is a loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.x, or the name localhost). Anything else,
 * the wildcard addresses and other names included, is not. */
bool node_addr_is_loopback(const char *text);

#endif
