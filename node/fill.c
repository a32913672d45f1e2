/*
 * fill.c: what a node far behind tells its clients and the operator
 * (the core's side is gossip/fill.c).
 *
 * Reads during the initial fill: a node that starts with an empty store and
 * peers to join (gossip_config.fill_on_start) offers an anti-entropy
 * session as soon as it has a live peer; if that finds it far behind, it
 * answers read commands with -LOADING until the fill ends, as a Redis
 * replica does while it loads its first sync and as Cassandra's bootstrap
 * serves no reads until streaming ends: an empty answer from a node that
 * has not caught up looks like a deleted key. Before that first session
 * (well under a sync interval after the join) and once an offer finds it
 * in sync, it serves reads (fill-serve-reads yes serves them all along). Later fills (a bulk load
 * made on other nodes, a return after an outage) serve reads: INFO gossip
 * fill_active says the answers may be behind. Writes are always accepted.
 *
 * The log: one line when a fill starts, one every NODE_FILL_LOG_MS with
 * buckets done of claimed, bytes, rate and estimated time left, one when it
 * ends.
 */
#include <inttypes.h>
#include <stdio.h>

#include "node/log.h"
#include "node/node.h"

#define NODE_FILL_LOG_MS 5000u /* progress lines while a fill runs */

void node_fill_view(const struct node *n, struct node_fill_view *v)
{
    *v = (struct node_fill_view){0};
    if (!n->gossip)
        return;
    gossip_fill_state(n->gossip, &v->fill);
    const struct gossip_fill *f = &v->fill;
    if (f->elapsed_ms > 0)
        v->rate_bytes_s = f->bytes * 1000 / f->elapsed_ms;
    if (f->active && f->buckets_done > 0 && f->buckets_total > f->buckets_done)
        v->eta_ms = f->elapsed_ms * (f->buckets_total - f->buckets_done) / f->buckets_done;
    v->reads_refused = f->initial && f->active && !n->cfg.fill_serve_reads;
}

bool node_fill_refuse_read(struct node_client *c)
{
    struct node *n = node_client_node(c);
    struct node_fill_view v;
    node_fill_view(n, &v);
    if (!v.reads_refused)
        return false;
    n->fill_reads_refused++;
    resp_write_errorf(node_client_out(c),
                      "LOADING this node is filling from its peers (%" PRIu32 " of %" PRIu32
                      " buckets); reads are served once it has caught up",
                      v.fill.buckets_done, v.fill.buckets_total);
    return true;
}

void node_fill_cron(struct node *n, uint64_t now_mono_ms)
{
    struct node_fill_view v;
    node_fill_view(n, &v);
    const struct gossip_fill *f = &v.fill;
    if (f->active && !n->fill_logged_active) {
        node_log(NODE_LOG_INFO, "fill started", "reads=%s",
                 v.reads_refused ? "refused" : "served");
        n->fill_logged_ms = now_mono_ms;
    } else if (f->active && now_mono_ms >= n->fill_logged_ms + NODE_FILL_LOG_MS) {
        node_log(NODE_LOG_INFO, "filling",
                 "buckets_done=%" PRIu32 " buckets_total=%" PRIu32 " bytes=%" PRIu64
                 " rate_bytes_s=%" PRIu64 " eta_ms=%" PRIu64,
                 f->buckets_done, f->buckets_total, f->bytes, v.rate_bytes_s, v.eta_ms);
        n->fill_logged_ms = now_mono_ms;
    } else if (!f->active && n->fill_logged_active) {
        node_log(NODE_LOG_INFO, "fill done",
                 "buckets=%" PRIu32 " bytes=%" PRIu64 " entries=%" PRIu64 " elapsed_ms=%" PRIu64,
                 f->buckets_done, f->bytes, f->entries, f->elapsed_ms);
    }
    n->fill_logged_active = f->active;
    if (n->fill_logged_initial && !f->initial)
        node_log(NODE_LOG_INFO, "caught up with the cluster: serving reads", NULL);
    n->fill_logged_initial = f->initial;
}
