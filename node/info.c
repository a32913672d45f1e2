/*
 * info.c: the INFO text (Redis format: "# Section" headers, "name:value"
 * lines ending in CRLF, a blank line between sections).
 *
 * Sections: server, clients, stats, cluster, gossip, storage, keyspace.
 * `INFO` and `INFO default|all|everything` give all of them. Every limit
 * the node enforces has a counter here (docs/OPERATIONS.md lists them).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "node/metrics.h"
#include "node/node.h"

static void line(struct resp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct resp_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(tmp) - 3)
        n = (int)sizeof(tmp) - 3;
    tmp[n++] = '\r';
    tmp[n++] = '\n';
    resp_buf_append(b, tmp, (size_t)n);
}

static const char *sync_name(enum store_sync s)
{
    return s == STORE_SYNC_NONE ? "none" : s == STORE_SYNC_ALWAYS ? "always" : "batch";
}

static void sec_server(struct node *n, struct resp_buf *b)
{
    uint64_t up_s = (uv_now(n->loop) - n->start_mono_ms) / 1000;
    line(b, "# Server");
    line(b, "gossipkv_version:%s", GKV_VERSION);
    /* Clients and tools gate features on redis_version; gossipkv speaks the
     * RESP2 subset of Redis 7.0 that docs/OPERATIONS.md lists. */
    line(b, "redis_version:7.0.0");
    line(b, "redis_mode:standalone");
    line(b, "process_id:%ld", (long)getpid());
    line(b, "run_id:%s", n->run_id);
    line(b, "node_name:%s", n->cfg.name);
    line(b, "node_id:%016" PRIx64, n->node_id);
    line(b, "seal_epoch:%" PRIu64, n->epoch);
    line(b, "gossip_addr:%s", n->cfg.gossip_addr);
    line(b, "advertise_addr:%s", n->cfg.advertise_addr);
    line(b, "client_addr:%s", n->cfg.client_addr);
    char host[NODE_ADDR_TEXT_MAX];
    int port = 0;
    node_addr_split(n->cfg.client_addr, host, sizeof(host), &port);
    line(b, "tcp_port:%d", port);
    line(b, "secure:%s", n->keyring ? "yes" : "no");
    line(b, "label:%s", n->cfg.label);
    line(b, "uptime_in_seconds:%" PRIu64, up_s);
    line(b, "uptime_in_days:%" PRIu64, up_s / 86400);
    line(b, "multiplexing_api:libuv");
    line(b, "libuv_version:%s", uv_version_string());
}

static void sec_clients(struct node *n, struct resp_buf *b)
{
    const struct node_server_stats *st = &n->server.stats;
    line(b, "# Clients");
    line(b, "connected_clients:%u", n->server.nclients);
    line(b, "maxclients:%u", n->cfg.maxclients);
    line(b, "client_timeout_s:%u", n->cfg.timeout_s);
    line(b, "client_output_buffer_limit_bytes:%" PRIu64, n->cfg.client_output_buffer_limit_bytes);
    line(b, "client_query_buffer_limit_bytes:%" PRIu64, n->cfg.client_query_buffer_limit_bytes);
    line(b, "client_output_buffer_soft_limit_bytes:%" PRIu64,
         n->cfg.client_output_buffer_soft_limit_bytes);
    line(b, "client_output_buffer_soft_seconds:%u", n->cfg.client_output_buffer_soft_seconds);
    line(b, "rejected_connections:%" PRIu64, st->rejected_connections);
    line(b, "client_output_buffer_disconnects:%" PRIu64, st->output_buffer_disconnects);
    line(b, "client_output_limit_cuts:%" PRIu64, st->output_limit_cuts);
    line(b, "client_query_buffer_disconnects:%" PRIu64, st->query_buffer_disconnects);
    line(b, "client_protocol_errors:%" PRIu64, st->protocol_errors);
    line(b, "client_parser_limit_errors:%" PRIu64, st->parser_limit_errors);
    line(b, "client_idle_timeouts:%" PRIu64, st->idle_timeouts);
    line(b, "client_slow_reader_disconnects:%" PRIu64, st->slow_reader_disconnects);
    line(b, "auth_failures:%" PRIu64, st->auth_failures);
    line(b, "noauth_refused:%" PRIu64, st->noauth_refused);
    line(b, "noperm_refused:%" PRIu64, st->noperm_refused);
    line(b, "accept_errors:%" PRIu64, st->accept_errors);
    struct node_metrics_stats ms;
    node_metrics_stats(n->metrics, &ms);
    line(b, "metrics_connections:%u", ms.connections);
    line(b, "metrics_max_connections:%u", ms.max_connections);
    line(b, "metrics_connections_refused:%" PRIu64, ms.connections_refused);
    line(b, "metrics_requests:%" PRIu64, ms.requests);
    line(b, "metrics_bad_requests:%" PRIu64, ms.bad_requests);
}

static void sec_stats(struct node *n, struct resp_buf *b)
{
    const struct node_server_stats *st = &n->server.stats;
    line(b, "# Stats");
    line(b, "total_connections_received:%" PRIu64, st->connections_received);
    line(b, "total_commands_processed:%" PRIu64, st->commands_processed);
    line(b, "total_net_input_bytes:%" PRIu64, st->net_input_bytes);
    line(b, "total_net_output_bytes:%" PRIu64, st->net_output_bytes);
    line(b, "rejected_connections:%" PRIu64, st->rejected_connections);
    line(b, "keyspace_hits:%" PRIu64, st->keyspace_hits);
    line(b, "keyspace_misses:%" PRIu64, st->keyspace_misses);
    line(b, "unknown_commands:%" PRIu64, st->unknown_commands);
    line(b, "arity_errors:%" PRIu64, st->arity_errors);
    line(b, "write_errors:%" PRIu64, st->write_errors);
    line(b, "gossip_handoff_errors:%" PRIu64, st->gossip_handoff_errors);
}

/* The clock fields (docs/ARCHITECTURE.md, "Clocks"), in the cluster section
 * so the metrics read gossipkv_cluster_clock_offset_seconds. */
static void clock_lines(struct node *n, struct resp_buf *b)
{
    struct gossip_clock_info ci = {.bound_ms = HLC_MAX_OFFSET_MS_DEFAULT};
    if (n->gossip)
        gossip_clock_get(n->gossip, node_wall_ms(), &ci);
    line(b, "clock_offset_ms:%" PRId64, ci.offset_ms);
    line(b, "clock_bound_ms:%" PRIu64, ci.bound_ms);
    line(b, "clock_peers_measured:%u", ci.peers_measured);
    line(b, "clock_correction_ms:%" PRIu64, ci.correction_ms);
    line(b, "clock_lead_ms:%" PRId64, ci.lead_ms);
    line(b, "clock_writes_refusing:%d", ci.writes_refused ? 1 : 0);
    line(b, "clock_writes_refused:%" PRIu64, n->clock.writes_refused);
    line(b, "clock_samples:%" PRIu64, ci.samples);
    line(b, "clock_samples_dropped:%" PRIu64, ci.samples_dropped);
    line(b, "clock_peer_jumps:%" PRIu64, ci.peer_jumps);
    line(b, "clock_steps:%" PRIu64, n->clock.steps);
    line(b, "clock_offset_injected_ms:%" PRId64, node_clock_injected_ms());
}

static void sec_cluster(struct node *n, struct resp_buf *b)
{
    line(b, "# Cluster");
    line(b, "cluster_enabled:0"); /* not Redis Cluster: every node has every key */
    if (!n->gossip) {
        line(b, "members_total:1");
        line(b, "members_alive:1");
        line(b, "members_suspect:0");
        line(b, "members_dead:0");
        line(b, "members_left:0");
        line(b, "incarnation:%" PRIu64, store_incarnation(n->store));
        clock_lines(n, b);
        return;
    }
    struct gossip_stats gs;
    gossip_stats(n->gossip, &gs);
    line(b, "members_total:%zu", gossip_member_count(n->gossip));
    line(b, "members_alive:%u", gs.alive);
    line(b, "members_suspect:%u", gs.suspect);
    line(b, "members_dead:%u", gs.dead);
    line(b, "members_left:%u", gs.left);
    line(b, "incarnation:%" PRIu64, gs.incarnation);
    line(b, "seeds:%u", n->cfg.join_count);
    clock_lines(n, b);
    struct node_peers_stats ps;
    node_peers_stats(n, &ps);
    line(b, "peers_remembered:%u", ps.remembered);
    line(b, "peers_max:%u", NODE_PEERS_MAX);
    line(b, "peers_retention_s:%u", n->cfg.peers_retention_s);
    line(b, "peers_file:%s", ps.file_state);
    line(b, "peers_file_writes:%" PRIu64, ps.writes);
    line(b, "peers_file_write_errors:%" PRIu64, ps.write_errors);
    line(b, "peers_dropped:%" PRIu64, ps.dropped);
    line(b, "rejoin:%s", n->cfg.no_rejoin ? "no" : "yes");
    line(b, "rejoin_peers:%u", ps.rejoin_addrs);
    line(b, "last_rejoin_unix_ms:%" PRIu64, ps.last_rejoin_unix_ms);
}

/* The seal's counters (sealed/opened datagrams, refusals, replay window),
 * part of # Gossip. */
static void sec_gossip_seal(struct node *n, struct resp_buf *b)
{
    if (n->seal) {
        const struct seal_stats *ss = seal_ctx_stats(n->seal);
        uint64_t total = 0;
        line(b, "sealed:%" PRIu64, ss->sealed);
        line(b, "opened:%" PRIu64, ss->opened);
        for (int r = 0; r < SEAL_REFUSE_COUNT; r++) {
            line(b, "refused_%s:%" PRIu64, seal_refusal_name((enum seal_refusal)r), ss->refused[r]);
            total += ss->refused[r];
        }
        line(b, "refused_total:%" PRIu64, total);
        line(b, "replay_senders:%" PRIu64, ss->senders);
        line(b, "replay_senders_max:%u", SEAL_MAX_SENDERS);
        line(b, "replay_senders_evicted:%" PRIu64, ss->senders_evicted);
        line(b, "replay_senders_forgotten:%" PRIu64, ss->senders_forgotten);
    }
}

/* The UDP socket's and the TCP streams' counters, part of # Gossip. */
static void sec_gossip_transport(struct node *n, struct resp_buf *b)
{
    if (n->cluster) {
        struct node_cluster_stats cs;
        node_cluster_stats(n, &cs);
        line(b, "udp_send_errors:%" PRIu64, cs.udp_send_errors);
        line(b, "udp_recv_errors:%" PRIu64, cs.udp_recv_errors);
        line(b, "udp_oversize_dropped:%" PRIu64, cs.udp_oversize_dropped);
        line(b, "streams_open:%u", cs.streams_open);
        line(b, "stream_connects:%" PRIu64, cs.stream_connects);
        line(b, "stream_connect_errors:%" PRIu64, cs.stream_connect_errors);
        line(b, "stream_accepts:%" PRIu64, cs.stream_accepts);
        line(b, "stream_frames_in:%" PRIu64, cs.stream_frames_in);
        line(b, "stream_frames_out:%" PRIu64, cs.stream_frames_out);
        line(b, "stream_dropped_buffer_full:%" PRIu64, cs.stream_dropped_buffer_full);
        line(b, "stream_frame_errors:%" PRIu64, cs.stream_frame_errors);
        line(b, "stream_limit_refused:%" PRIu64, cs.stream_limit_refused);
        line(b, "streams_unauthenticated:%" PRIu32, cs.streams_unauthenticated);
        line(b, "stream_memory_bytes:%" PRIu64, cs.stream_memory_bytes);
        line(b, "stream_max_per_addr:%" PRIu32, cs.stream_max_per_addr);
        line(b, "stream_auth_timeout_ms:%" PRIu32, cs.stream_auth_timeout_ms);
        line(b, "stream_auth_timeouts:%" PRIu64, cs.stream_auth_timeouts);
        line(b, "stream_frames_refused:%" PRIu64, cs.stream_frames_refused);
        line(b, "stream_frames_stale:%" PRIu64, cs.stream_frames_stale);
        line(b, "stream_refused_per_addr:%" PRIu64, cs.stream_refused_per_addr);
        line(b, "stream_refused_unauthenticated:%" PRIu64, cs.stream_refused_unauthenticated);
        line(b, "stream_idle_closed:%" PRIu64, cs.stream_idle_closed);
        line(b, "stream_connect_unvouched:%" PRIu64, cs.stream_connect_unvouched);
    }
}

/* Fill state and repair pacing (node/fill.c, gossip/fill.c). */
static void sec_gossip_fill(struct node *n, struct resp_buf *b, const struct gossip_stats *g)
{
    struct node_fill_view v;
    node_fill_view(n, &v);
    const struct gossip_fill *f = &v.fill;
    line(b, "fill_active:%d", f->active ? 1 : 0);
    line(b, "fill_initial:%d", f->initial ? 1 : 0);
    line(b, "fill_reads:%s", v.reads_refused ? "refused" : "served");
    line(b, "fill_reads_refused:%" PRIu64, n->fill_reads_refused);
    line(b, "fill_buckets_done:%" PRIu32, f->buckets_done);
    line(b, "fill_buckets_total:%" PRIu32, f->buckets_total);
    line(b, "fill_bytes:%" PRIu64, f->bytes);
    line(b, "fill_entries:%" PRIu64, f->entries);
    line(b, "fill_elapsed_ms:%" PRIu64, f->elapsed_ms);
    line(b, "fill_rate_bytes_s:%" PRIu64, v.rate_bytes_s);
    line(b, "fill_eta_ms:%" PRIu64, v.eta_ms);
    line(b, "fills_started:%" PRIu64, g->fills_started);
    line(b, "fills_done:%" PRIu64, g->fills_done);
    line(b, "fill_pull_offers:%" PRIu64, g->fill_pull_offers);
    line(b, "repair_pulls_claimed:%" PRIu64, g->repair_pulls_claimed);
    line(b, "repair_pulls_claimed_elsewhere:%" PRIu64, g->repair_pulls_claimed_elsewhere);
    line(b, "repair_pulls_over_share:%" PRIu64, g->repair_pulls_over_share);
    line(b, "repair_pull_claims_released:%" PRIu64, g->repair_pull_claims_released);
    line(b, "repair_blocked:%" PRIu64, g->repair_blocked);
    line(b, "sync_offers_postponed_fill:%" PRIu64, g->sync_offers_postponed_fill);
    line(b, "repair_bytes_per_tick_cap:%" PRIu32, n->cfg.repair_bytes_per_tick);
}

static void sec_gossip(struct node *n, struct resp_buf *b)
{
    line(b, "# Gossip");
    if (n->gossip) {
        struct gossip_stats g;
        gossip_stats(n->gossip, &g);
        line(b, "datagrams_in:%" PRIu64, g.datagrams_in);
        line(b, "datagrams_out:%" PRIu64, g.datagrams_out);
        line(b, "bytes_in:%" PRIu64, g.bytes_in);
        line(b, "bytes_out:%" PRIu64, g.bytes_out);
        line(b, "frames_in:%" PRIu64, g.frames_in);
        line(b, "frames_out:%" PRIu64, g.frames_out);
        line(b, "frame_bytes_in:%" PRIu64, g.frame_bytes_in);
        line(b, "frame_bytes_out:%" PRIu64, g.frame_bytes_out);
        line(b, "msgs_in:%" PRIu64, g.msgs_in);
        line(b, "msgs_out:%" PRIu64, g.msgs_out);
        line(b, "deltas_sent:%" PRIu64, g.deltas_sent);
        line(b, "deltas_received:%" PRIu64, g.deltas_received);
        line(b, "deltas_applied:%" PRIu64, g.deltas_applied);
        line(b, "deltas_dropped_queue_full:%" PRIu64, g.deltas_dropped_queue_full);
        line(b, "deltas_dropped_nomem:%" PRIu64, g.deltas_dropped_nomem);
        line(b, "to_any_refused:%" PRIu64, g.to_any_refused);
        line(b, "sync_unvouched:%" PRIu64, g.sync_unvouched);
        line(b, "data_queue_overflows:%" PRIu64, g.data_queue_overflows);
        line(b, "digests_sent:%" PRIu64, g.digests_sent);
        line(b, "digests_received:%" PRIu64, g.digests_received);
        line(b, "buckets_repaired:%" PRIu64, g.buckets_repaired);
        line(b, "repair_sweeps:%" PRIu64, g.repair_sweeps);
        line(b, "repair_entries_listed:%" PRIu64, g.repair_entries_listed);
        line(b, "repair_pushes_deferred:%" PRIu64, g.repair_pushes_deferred);
        line(b, "repair_pushes_skipped:%" PRIu64, g.repair_pushes_skipped);
        line(b, "sync_offers_postponed_pull:%" PRIu64, g.sync_offers_postponed_pull);
        line(b, "repair_push_offers:%" PRIu64, g.repair_push_offers);
        line(b, "repair_jobs_merged:%" PRIu64, g.repair_jobs_merged);
        line(b, "sync_offers_dirty:%" PRIu64, g.sync_offers_dirty);
        line(b, "sync_offers_postponed_busy:%" PRIu64, g.sync_offers_postponed_busy);
        line(b, "sync_offers_declined_busy:%" PRIu64, g.sync_offers_declined_busy);
        line(b, "repair_entries_sent:%" PRIu64, g.repair_entries_sent);
        line(b, "repair_entries_received:%" PRIu64, g.repair_entries_received);
        line(b, "repair_bytes_sent:%" PRIu64, g.repair_bytes_sent);
        line(b, "probes_sent:%" PRIu64, g.probes_sent);
        line(b, "acks_received:%" PRIu64, g.acks_received);
        line(b, "indirect_probes_sent:%" PRIu64, g.indirect_probes_sent);
        line(b, "suspicions_raised:%" PRIu64, g.suspicions_raised);
        line(b, "refutations:%" PRIu64, g.refutations);
        line(b, "deaths_declared:%" PRIu64, g.deaths_declared);
        line(b, "decode_errors:%" PRIu64, g.decode_errors);
        line(b, "unknown_types:%" PRIu64, g.unknown_types);
        line(b, "clock_refused:%" PRIu64, g.clock_refused);
        line(b, "members_limit_refused:%" PRIu64, g.members_limit_refused);
        line(b, "seal_refused:%" PRIu64, g.seal_refused);
        line(b, "sender_mismatch:%" PRIu64, g.sender_mismatch);
        line(b, "own_packets:%" PRIu64, g.own_packets);
        line(b, "wrong_target:%" PRIu64, g.wrong_target);
        line(b, "too_many_msgs:%" PRIu64, g.too_many_msgs);
        line(b, "relay_table_full:%" PRIu64, g.relay_table_full);
        line(b, "repair_jobs_dropped:%" PRIu64, g.repair_jobs_dropped);
        line(b, "deltas_too_large:%" PRIu64, g.deltas_too_large);
        line(b, "state_records_skipped:%" PRIu64, g.state_records_skipped);
        line(b, "stale_updates:%" PRIu64, g.stale_updates);
        line(b, "unexpected_msgs:%" PRIu64, g.unexpected_msgs);
        line(b, "encode_errors:%" PRIu64, g.encode_errors);
        line(b, "merge_errors:%" PRIu64, g.merge_errors);
        line(b, "nacks_sent:%" PRIu64, g.nacks_sent);
        line(b, "nacks_received:%" PRIu64, g.nacks_received);
        line(b, "acks_relayed:%" PRIu64, g.acks_relayed);
        line(b, "pings_received:%" PRIu64, g.pings_received);
        line(b, "suspicion_confirmations:%" PRIu64, g.suspicion_confirmations);
        line(b, "members_reclaimed:%" PRIu64, g.members_reclaimed);
        line(b, "joins_sent:%" PRIu64, g.joins_sent);
        line(b, "joins_received:%" PRIu64, g.joins_received);
        line(b, "states_sent:%" PRIu64, g.states_sent);
        line(b, "states_received:%" PRIu64, g.states_received);
        line(b, "reconnects:%" PRIu64, g.reconnects);
        line(b, "leaves_received:%" PRIu64, g.leaves_received);
        line(b, "digests_in_sync:%" PRIu64, g.digests_in_sync);
        line(b, "bucket_reqs_sent:%" PRIu64, g.bucket_reqs_sent);
        line(b, "bucket_reqs_received:%" PRIu64, g.bucket_reqs_received);
        line(b, "repair_frames_sent:%" PRIu64, g.repair_frames_sent);
        line(b, "delta_frames_sent:%" PRIu64, g.delta_frames_sent);
        line(b, "tombstones_purged:%" PRIu64, g.tombstones_purged);
        line(b, "repair_retired_skipped:%" PRIu64, g.repair_retired_skipped);
        line(b, "deltas_superseded:%" PRIu64, g.deltas_superseded);
        line(b, "gc_bound_hlc:%" PRIu64, g.gc_bound_hlc);
        line(b, "awareness:%u", g.awareness);
        line(b, "queued_member_updates:%u", g.queued_member_updates);
        line(b, "queued_deltas:%u", g.queued_deltas);
        sec_gossip_fill(n, b, &g);
    }
    sec_gossip_seal(n, b);
    sec_gossip_transport(n, b);
}

/* Blocking disk calls storage/ made on the event loop since the store was
 * opened (0 in steady state: growth, checkpoints and pre-faulting run on
 * the pool), by cause, and those its jobs made on the pool. */
static void sec_storage_disk_calls(struct node *n, struct resp_buf *b)
{
    struct store_disk_calls d;
    store_disk_calls_get(n->store, &d);
    uint64_t total = 0;
    for (int i = 0; i < STORE_IO_CAUSES; i++)
        total += d.owner[i] - n->disk_calls_base.owner[i];
    line(b, "loop_blocking_disk_calls:%" PRIu64, total);
    for (int i = 0; i < STORE_IO_CAUSES; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", store_io_cause_name((enum store_io_cause)i));
        for (char *p = name; *p; p++)
            *p = *p == '-' ? '_' : *p;
        line(b, "loop_blocking_disk_calls_%s:%" PRIu64, name,
             d.owner[i] - n->disk_calls_base.owner[i]);
    }
    line(b, "job_disk_calls:%" PRIu64, d.jobs - n->disk_calls_base.jobs);
    /* The latency monitor (latency.h): loop turns over the threshold. */
    const struct node_latency *l = &n->latency;
    line(b, "latency_monitor_threshold:%u", l->threshold_ms);
    line(b, "loop_turns_slow:%" PRIu64, l->turns_slow);
    line(b, "loop_turn_max_ms:%u", l->turn_max_ms);
    for (unsigned i = 0; i < NODE_LATENCY_EVENTS && node_latency_event_names[i]; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s", node_latency_event_names[i]);
        for (char *p = name; *p; p++)
            *p = *p == '-' ? '_' : *p;
        line(b, "loop_turns_slow_%s:%" PRIu64, name, l->ev[i].count);
    }
}

/* docs/OPERATIONS.md, "Tombstones". */
static void sec_storage_tombstones(struct node *n, const struct store_stats *s, struct resp_buf *b)
{
    uint64_t now_ms = node_wall_ms();
    uint64_t oldest_ms = s->oldest_tombstone_hlc ? HLC_MS(s->oldest_tombstone_hlc) : now_ms;
    line(b, "tombstones_purgeable:%" PRIu64, s->tombstones_purgeable);
    line(b, "tombstones_purged_total:%" PRIu64, s->tombstones_purged);
    line(b, "tombstones_purged_per_second:%.0f", n->purge_rate_per_s);
    line(b, "tombstones_dropped_incoming:%" PRIu64, s->tombstones_dropped);
    line(b, "oldest_tombstone_age_s:%" PRIu64, now_ms > oldest_ms ? (now_ms - oldest_ms) / 1000 : 0);
    line(b, "tombstone_grace_ms:%" PRIu64, n->cfg.tombstone_grace_ms);
    line(b, "tombstone_index_bytes:%" PRIu64, s->tombstone_index_bytes);
}

void node_info_cron(struct node *n, uint64_t now_ms)
{
    struct store_stats s;
    store_stats(n->store, &s);
    if (n->purge_rate_ms && now_ms > n->purge_rate_ms)
        n->purge_rate_per_s = (double)(s.tombstones_purged - n->purge_rate_count) * 1000.0 /
                              (double)(now_ms - n->purge_rate_ms);
    n->purge_rate_count = s.tombstones_purged;
    n->purge_rate_ms = now_ms;
}

static void sec_storage(struct node *n, struct resp_buf *b)
{
    struct store_stats s;
    store_stats(n->store, &s);
    line(b, "# Storage");
    line(b, "data_dir:%s", n->cfg.data_dir);
    line(b, "sync:%s", sync_name(s.sync));
    line(b, "huge_pages:%s", store_pages_name(s.pages));
    line(b, "entries:%" PRIu64, s.entries);
    line(b, "tombstones:%" PRIu64, s.tombstones);
    /* Key expiry (expire.c): values with an expiry, passed or not, and the
     * table walks DBSIZE made to count the live ones. */
    line(b, "expiring:%" PRIu64, s.expiring);
    line(b, "expired_purged:%" PRIu64, s.expired_purged);
    line(b, "dbsize_walks:%" PRIu64, n->expiry.count_walks);
    sec_storage_tombstones(n, &s, b);
    line(b, "capacity:%" PRIu64, s.capacity);
    line(b, "load:%.4f", s.load);
    line(b, "file_bytes:%" PRIu64, s.file_bytes);
    line(b, "value_bytes_used:%" PRIu64, s.value_bytes_used);
    line(b, "value_bytes_free:%" PRIu64, s.value_bytes_free);
    line(b, "value_bytes_held:%" PRIu64, s.value_bytes_held);
    line(b, "read_cache_bytes:%" PRIu64, s.read_cache_bytes);
    line(b, "read_cache_hits:%" PRIu64, s.read_cache_hits);
    line(b, "read_cache_misses:%" PRIu64, s.read_cache_misses);
    line(b, "max_value_bytes:%u", n->cfg.max_value_bytes);
    line(b, "max_keys:%" PRIu64, n->cfg.max_keys);
    line(b, "puts:%" PRIu64, s.puts);
    line(b, "gets:%" PRIu64, s.gets);
    line(b, "dels:%" PRIu64, s.dels);
    line(b, "merges:%" PRIu64, s.merges);
    line(b, "merges_taken:%" PRIu64, s.merges_taken);
    line(b, "clock_refused:%" PRIu64, s.clock_refused);
    line(b, "dominance_conflicts:%" PRIu64, s.dominance_conflicts);
    line(b, "incr_writes:%" PRIu64, s.incrs);
    line(b, "incr_rebases:%" PRIu64, s.counter_rebases);
    line(b, "incr_joins:%" PRIu64, s.counter_joins);
    line(b, "incr_joins_refused:%" PRIu64, s.counter_joins_refused);
    line(b, "full_refused:%" PRIu64, s.full_refused);
    line(b, "syncs:%" PRIu64, s.syncs);
    line(b, "sync_failures:%" PRIu64, s.sync_failures);
    line(b, "growths:%" PRIu64, s.growths);
    line(b, "growing:%d", s.growing ? 1 : 0);
    line(b, "incarnation:%" PRIu64, s.incarnation);
    line(b, "recovered:%d", s.recovered ? 1 : 0);
    line(b, "torn_slots_dropped:%" PRIu64, s.torn_slots_dropped);
    /* Per-bucket key index behind anti-entropy bucket scans (bucketix.c). */
    line(b, "bucket_index_bytes:%" PRIu64, s.bucket_index_bytes);
    line(b, "bucket_index_failures:%" PRIu64, s.bucket_index_failures);
    line(b, "bucket_scans_full:%" PRIu64, s.bucket_scans_full);
    /* Write-ahead log (sync=batch/always): storage/wal.h. */
    line(b, "log_enabled:%d", s.log_enabled ? 1 : 0);
    line(b, "log_gen:%" PRIu64, s.log_gen);
    line(b, "log_bytes:%" PRIu64, s.log_bytes);
    line(b, "log_durable_bytes:%" PRIu64, s.log_durable_bytes);
    line(b, "log_records:%" PRIu64, s.log_records);
    line(b, "log_group_commits:%" PRIu64, s.log_group_commits);
    line(b, "log_checkpoints:%" PRIu64, s.log_checkpoints);
    line(b, "log_checkpoint_bytes:%" PRIu64, s.log_checkpoint_bytes);
    line(b, "log_failures:%" PRIu64, s.log_failures);
    line(b, "log_replayed_records:%" PRIu64, s.log_replayed_records);
    line(b, "log_replay_torn_bytes:%" PRIu64, s.log_replay_torn_bytes);
    line(b, "log_replay_bad_files:%" PRIu64, s.log_replay_bad_files);
    line(b, "hlc_last:%" PRIu64, s.hlc_last);
    sec_storage_disk_calls(n, b);
    line(b, "root_hash:%016" PRIx64, store_root_hash(n->store));
    /* FLUSHALL/FLUSHDB (keyspace.c): progress and its per-call/tick bounds. */
    line(b, "flush_in_progress:%d", n->flush.active ? 1 : 0);
    line(b, "flushes_started:%" PRIu64, n->flush.started);
    line(b, "flushes_completed:%" PRIu64, n->flush.completed);
    line(b, "flushes_failed:%" PRIu64, n->flush.failed);
    line(b, "flush_keys_deleted:%" PRIu64, n->flush.keys_deleted);
    line(b, "flush_call_slots:%u", NODE_FLUSH_CALL_SLOTS);
    line(b, "flush_tick_slots:%u", NODE_FLUSH_TICK_SLOTS);
    line(b, "lcs_table_max_bytes:%llu", NODE_LCS_TABLE_MAX_BYTES);
    line(b, "randomkey_max_slots:%u", NODE_RANDOMKEY_MAX_SLOTS);
}

static void sec_keyspace(struct node *n, struct resp_buf *b)
{
    struct store_stats s;
    store_stats(n->store, &s);
    line(b, "# Keyspace");
    if (s.entries)
        line(b, "db0:keys=%" PRIu64 ",expires=%" PRIu64 ",avg_ttl=0", s.entries, s.expiring);
}

struct section {
    const char *name;
    void (*fn)(struct node *n, struct resp_buf *b);
};

static const struct section sections[] = {
    {"server", sec_server},   {"clients", sec_clients}, {"stats", sec_stats},
    {"cluster", sec_cluster}, {"gossip", sec_gossip},   {"storage", sec_storage},
    {"keyspace", sec_keyspace},
};

void node_info(struct node *n, const char *section, struct resp_buf *out)
{
    bool all = !section || !strcasecmp(section, "default") || !strcasecmp(section, "all") ||
               !strcasecmp(section, "everything");
    bool first = true;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (!all && strcasecmp(section, sections[i].name) != 0)
            continue;
        if (!first)
            resp_buf_append(out, "\r\n", 2);
        first = false;
        sections[i].fn(n, out);
    }
}
