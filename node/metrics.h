/*
 * metrics.h: Prometheus text format on HTTP GET /metrics (--metrics ADDR).
 *
 * The HTTP server is libmicrohttpd driven from the node's libuv loop (no
 * thread of its own, see metrics.c), so a scrape reads the node's state on
 * the loop thread like INFO does. Client command latencies are recorded
 * here too (node_metrics_observe, from server.c).
 */
#ifndef GKV_NODE_METRICS_H
#define GKV_NODE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/resp.h"

struct node;
struct node_metrics;

/* Start serving on n->cfg.metrics_addr (nothing when it is empty); the
 * state goes to n->metrics. Returns 0 or a negative GKV_E* code (logged). */
int node_metrics_start(struct node *n);
/* Stop polling (the loop closes the handles); the daemon is freed by
 * node_metrics_free after the loop has ended. NULL-safe. */
void node_metrics_stop(struct node_metrics *m);
void node_metrics_free(struct node_metrics *m);

/* One client command took dur_ns; family is node_command_family's word.
 * NULL m: metrics are off, nothing is recorded. */
void node_metrics_observe(struct node_metrics *m, const char *family, uint64_t dur_ns);

/* One gossip datagram of len bytes sent to (out) or received from addr.
 * Sends fill a table of METRICS_PEERS_MAX peers; a datagram from an address
 * this node has not sent to is counted under peer="other", so strangers
 * cannot grow the table. NULL m: nothing is recorded. */
#define METRICS_PEERS_MAX 64u
void node_metrics_peer_bytes(struct node_metrics *m, const char *addr, size_t len, bool out);

/* The metrics listener's own counters for INFO (all zero when m is NULL). */
struct node_metrics_stats {
    uint32_t connections;         /* open now */
    uint32_t max_connections;     /* metrics-max-connections */
    uint64_t connections_refused; /* over that limit */
    uint64_t requests;            /* GET /metrics answered */
    uint64_t bad_requests;        /* other paths or methods */
};
void node_metrics_stats(const struct node_metrics *m, struct node_metrics_stats *out);

/* The Prometheus text for n (what GET /metrics returns), appended to out. */
void node_metrics_render(struct node *n, struct resp_buf *out);

#endif
