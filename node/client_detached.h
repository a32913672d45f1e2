/*
 * client_detached.h: a client of the RESP server with no socket.
 *
 * Bytes go in with node_client_feed and run exactly as bytes read from a
 * connection would (the same parser, limits, pipelining, AUTH gating,
 * output limit and counters in node_server_stats); the reply bytes wait in
 * the client until node_client_take moves them out. tests/unit's
 * test_node_server.c drives the command table this way, without a socket.
 */
#ifndef GKV_NODE_CLIENT_DETACHED_H
#define GKV_NODE_CLIENT_DETACHED_H

#include <stdbool.h>
#include <stddef.h>

#include "node/node.h"

/* Server state for srv without a listener (node_server_start calls it
 * first). node is borrowed for srv's life. */
void node_server_init(struct node_server *srv, struct node *node);

/* A new client listed in srv (it counts against maxclients and shows in
 * CLIENT LIST); addr only labels it. Before AUTH when requirepass is set.
 * 0, GKV_EFULL at maxclients (counted as rejected_connections), or
 * GKV_ENOMEM. Free with node_client_free_detached. */
int node_client_new_detached(struct node_server *srv, const char *addr, struct node_client **out);
/* Run every complete command in the bytes (copied), as a read would. Bytes
 * after a reply that closes the client (QUIT, a protocol error, the output
 * limit) are ignored, as a connection stops reading then. */
void node_client_feed(struct node_client *c, const void *bytes, size_t len);
/* Append the reply bytes waiting in c to out and forget them; returns how
 * many (0: none). */
size_t node_client_take(struct node_client *c, struct resp_buf *out);
/* True once the client is closed or will close after its replies. */
bool node_client_done(const struct node_client *c);
/* Unlist and free c (NULL is fine). */
void node_client_free_detached(struct node_client *c);

#endif
