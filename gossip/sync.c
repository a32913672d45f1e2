/*
 * sync.c: anti-entropy (push-pull, digest-driven) and the tombstone GC hook.
 *
 * The store keeps 2^STORE_BUCKET_BITS bucket hashes, each the XOR of
 * entry_version_hash() over the bucket's entries, updated on every write, so
 * equal stores have equal hashes at no scan cost. On top of the leaves we use
 * one upper level of 2^GOSSIP_SYNC_GROUP_BITS groups (XOR of their leaves).
 * A session between A (initiator) and B, every sync_interval_ms:
 *
 *   A -> B  DIGEST bits=0  root only                  (steady state: this one
 *                                                      small packet, no reply)
 *   B -> A  DIGEST bits=5  the 32 group hashes        (only if roots differ)
 *   A -> B  DIGEST bits=10 the 32 leaves of each group that differs
 *   B -> A  BUCKET_REQ     the leaves that differ, and B queues REPAIR of its
 *                          own entries of those buckets to A (push; after a
 *                          bulk difference only once A's REPAIR has arrived,
 *                          and only the buckets it left different)
 *   A -> B  REPAIR         A's entries of the requested buckets (pull)
 *
 * Each message is self-contained (no session state), so loss only delays
 * the repair to the next round. Cost: one packet when in sync; otherwise
 * O(differing groups) digest bytes plus the entries of differing buckets,
 * never the whole keyspace unless everything differs.
 *
 * Repair pacing and memory: REPAIR work is a FIFO of (peer, bucket) jobs,
 * bounded by GOSSIP_REPAIR_JOBS_MAX (overflow dropped and counted; the next
 * round finds the difference again). Each tick sends at most
 * repair_bytes_per_tick bytes, listing buckets with store_bucket_scan_from
 * and resuming a half-sent bucket at the placement hash after the last
 * entry sent (O(log n + sent) per tick; by count it was O(n) per tick, so
 * O(n^2 / budget) for a bucket a client filled by choosing keys). The
 * entries listed are counted (repair_entries_listed). Entries are batched through
 * one arena (a datagram, or GOSSIP_FRAME_TARGET bytes when the driver has
 * streams), so memory does not grow with the keyspace. Merges go through
 * store_merge, which observes each HLC; GKV_ECLOCK is counted, not applied.
 * Many jobs for one peer become one sweep (a single store_scan pass with a
 * bucket bitmap): store_bucket_scan costs O(entries of the bucket) (the
 * store's bucket index), but each entry is a random lookup, and when most
 * buckets differ one pass over the table is no dearer than 1024 sets of
 * random lookups, and cheaper on large stores (gossip_int.h).
 *
 * Write bursts (docs/GOSSIP.md, "Write bursts"): while this node queued
 * more than GOSSIP_BURST_DELTAS_PER_ROUND deltas in a gossip interval, or
 * dropped any, within the last GOSSIP_BURST_QUIET_INTERVALS gossip
 * intervals, it neither starts nor answers
 * sessions (at most GOSSIP_SYNC_BUSY_MAX_INTERVALS in a row): every bucket
 * differs and moves, and a session would ship the whole keyspace for
 * nothing. When a dropping burst ends it offers at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/gossip_int.h"

#define GROUPS (1u << GOSSIP_SYNC_GROUP_BITS)
#define LEAVES_PER_GROUP (STORE_BUCKETS / GROUPS)
#define HEADER_BYTES WIRE_ENTRIES_OVERHEAD_MAX /* a REPAIR message around its entries */

int sync_init(struct gossip *g)
{
    g->jobs = NULL;
    g->jobs_cap = g->jobs_head = g->jobs_count = 0;
    g->gc_bound = 0;
    g->next_gc_bound_ms = g->now_ms;
    g->last_offer_ms = g->now_ms; /* the busy cap counts from the start */
    return 0;
}

void sync_free(struct gossip *g)
{
    for (size_t i = 0; i < g->npush_waits; i++)
        free(g->push_waits[i]);
    g->npush_waits = 0;
    fill_free(g);
    free(g->jobs);
    free(g->arena);
    g->jobs = NULL;
    g->arena = NULL;
}

static bool use_stream(const struct gossip *g)
{
    return g->io.stream_send_cb != NULL;
}

/* ------------------------------------------------------------ digests */

static void group_hashes(struct gossip *g, uint64_t out[GROUPS])
{
    const uint64_t *leaves = store_bucket_hashes(g->store);
    memset(out, 0, GROUPS * sizeof(out[0]));
    for (uint32_t b = 0; b < STORE_BUCKETS; b++)
        out[b / LEAVES_PER_GROUP] ^= leaves[b];
}

static void send_root_offer(struct gossip *g, uint64_t to_id, const char *addr)
{
    struct wire_encoder enc;
    gossip_dgram_begin(g, &enc);
    struct wire_msg *m = g->tx;
    gossip_msg_init(g, m, WIRE_DIGEST);
    m->u.digest.root = store_root_hash(g->store);
    m->u.digest.first_bucket = 0;
    m->u.digest.n = 0;
    m->u.digest.bucket_bits = 0;
    if (wire_encode(&enc, m) < 0) {
        g->st.encode_errors++;
        return;
    }
    g->st.msgs_out++;
    g->st.digests_sent++;
    gossip_send_datagram(g, to_id, addr, &enc);
}

/* Append one message to enc, flushing to addr when it is full. */
static int put_msg(struct gossip *g, uint64_t to_id, const char *addr, struct wire_encoder *enc,
                   struct wire_msg *m)
{
    int rc = wire_encode(enc, m);
    if (rc == GKV_ENOSPACE_MSG && enc->len > 0) {
        gossip_send_datagram(g, to_id, addr, enc);
        gossip_dgram_begin(g, enc);
        rc = wire_encode(enc, m);
    }
    if (rc < 0) {
        g->st.encode_errors++;
        return rc;
    }
    g->st.msgs_out++;
    return 0;
}

static void put_digest(struct gossip *g, uint64_t to_id, const char *addr, struct wire_encoder *enc,
                       struct wire_msg *m)
{
    if (put_msg(g, to_id, addr, enc, m) == 0)
        g->st.digests_sent++;
}

void sync_send_groups(struct gossip *g, uint64_t to_id, const char *addr)
{
    struct wire_encoder enc;
    gossip_dgram_begin(g, &enc);
    struct wire_msg *m = g->tx;
    gossip_msg_init(g, m, WIRE_DIGEST);
    m->u.digest.root = store_root_hash(g->store);
    m->u.digest.first_bucket = 0;
    m->u.digest.n = GROUPS;
    m->u.digest.bucket_bits = GOSSIP_SYNC_GROUP_BITS;
    group_hashes(g, m->u.digest.hashes);
    put_digest(g, to_id, addr, &enc, m);
    gossip_send_datagram(g, to_id, addr, &enc);
}

/* ------------------------------------------------------------ repair jobs */

static void job_push(struct gossip *g, uint64_t peer_id, const char *addr, uint32_t bucket)
{
    /* With sessions every second, a peer can ask for a bucket again while
     * our previous repair of it is still queued (a burst makes every bucket
     * differ): one scan of the bucket serves both. O(jobs) per push, at most
     * GOSSIP_REPAIR_JOBS_MAX integer compares. */
    for (size_t i = 0; i < g->jobs_count; i++) {
        const struct gossip_repair_job *j = &g->jobs[g->jobs_head + i];
        if (j->bucket == bucket && !j->started && j->peer_id == peer_id &&
            strcmp(j->addr, addr) == 0) {
            g->st.repair_jobs_merged++;
            return;
        }
    }
    if (g->jobs_count >= GOSSIP_REPAIR_JOBS_MAX) {
        g->st.repair_jobs_dropped++;
        return;
    }
    if (g->jobs_head + g->jobs_count == g->jobs_cap) {
        if (g->jobs_head > 0) { /* compact before growing */
            memmove(g->jobs, g->jobs + g->jobs_head, g->jobs_count * sizeof(*g->jobs));
            g->jobs_head = 0;
        } else {
            size_t cap = g->jobs_cap ? g->jobs_cap * 2 : 64;
            if (cap > GOSSIP_REPAIR_JOBS_MAX)
                cap = GOSSIP_REPAIR_JOBS_MAX;
            struct gossip_repair_job *j = realloc(g->jobs, cap * sizeof(*j));
            if (!j) {
                g->st.repair_jobs_dropped++;
                return;
            }
            g->jobs = j;
            g->jobs_cap = cap;
        }
    }
    struct gossip_repair_job *j = &g->jobs[g->jobs_head + g->jobs_count++];
    j->peer_id = peer_id;
    snprintf(j->addr, sizeof(j->addr), "%s", addr);
    j->bucket = bucket;
    j->from_hash = 0;
    j->started = false;
}

static void job_pop(struct gossip *g)
{
    g->jobs_head++;
    g->jobs_count--;
    if (g->jobs_count == 0)
        g->jobs_head = 0;
}

/* ------------------------------------------------------- push after pull */

static struct gossip_push_wait *push_wait_find(struct gossip *g, uint64_t peer_id)
{
    for (size_t i = 0; i < g->npush_waits; i++)
        if (g->push_waits[i]->peer_id == peer_id)
            return g->push_waits[i];
    return NULL;
}

/* Our side of bucket b is pushed to src once its pull has arrived, unless
 * the pull makes it what the peer advertised (peer_hash). */
static void push_defer(struct gossip *g, const char *src, uint64_t peer_id, uint32_t b,
                       uint64_t peer_hash)
{
    struct gossip_push_wait *w = push_wait_find(g, peer_id);
    if (!w && g->npush_waits < GOSSIP_PUSH_WAITS_MAX) {
        w = malloc(sizeof(*w));
        if (w) {
            w->peer_id = peer_id;
            snprintf(w->addr, sizeof(w->addr), "%s", src);
            w->created_ms = g->now_ms;
            w->last_rx_ms = 0;
            memset(w->want, 0, sizeof(w->want));
            g->push_waits[g->npush_waits++] = w;
        }
    }
    if (!w) { /* no room: push at once, as without the wait */
        job_push(g, peer_id, src, b);
        return;
    }
    w->want[b / 64] |= 1ull << (b % 64);
    w->peer_hash[b] = peer_hash; /* a later digest's hash replaces an earlier one */
    g->st.repair_pushes_deferred++;
}

static void push_waits_tick(struct gossip *g)
{
    uint64_t quiet_ms = (uint64_t)GOSSIP_PUSH_QUIET_INTERVALS * g->cfg.gossip_interval_ms;
    uint64_t max_ms = (uint64_t)GOSSIP_SYNC_BUSY_MAX_INTERVALS * g->cfg.sync_interval_ms;
    for (size_t i = 0; i < g->npush_waits;) { /* bounded: GOSSIP_PUSH_WAITS_MAX */
        struct gossip_push_wait *w = g->push_waits[i];
        bool due = (g->now_ms >= w->created_ms + g->cfg.sync_interval_ms &&
                    g->now_ms >= w->last_rx_ms + quiet_ms) ||
                   g->now_ms >= w->created_ms + max_ms;
        if (!due) {
            i++;
            continue;
        }
        /* A bucket that now hashes to the peer's leaf holds what the peer
         * held: nothing to push. For the rest, the peer's leaves are as
         * old as its digest (other peers may have repaired it since: a
         * wiped node is repaired by several at once), so instead of
         * pushing them blind we offer a session: the peer then pulls
         * exactly the buckets that still differ, by fresh hashes. */
        const uint64_t *leaves = store_bucket_hashes(g->store);
        uint32_t differ = 0;
        for (uint32_t wi = 0; wi < STORE_BUCKETS / 64; wi++) {
            for (uint64_t bits = w->want[wi]; bits; bits &= bits - 1) {
                uint32_t b = wi * 64 + (uint32_t)__builtin_ctzll(bits);
                if (leaves[b] == w->peer_hash[b])
                    g->st.repair_pushes_skipped++;
                else
                    differ++;
            }
        }
        /* While filling, our side is what is missing: the answer to this
         * offer would have the peer push every bucket that differs a
         * little, over the fill's claims (fill.c). */
        bool filling = g->pull && g->pull->fill;
        if (differ > 0 && !g->leaving && !filling) {
            g->st.repair_push_offers++;
            send_root_offer(g, w->peer_id, w->addr);
        }
        free(w);
        g->push_waits[i] = g->push_waits[--g->npush_waits];
    }
}

/* ---------------------------------------------------------- receiving */

/* A write burst seen within the last GOSSIP_BURST_QUIET_INTERVALS gossip
 * intervals (see GOSSIP_BURST_DELTAS_PER_ROUND). */
static bool sync_busy(const struct gossip *g)
{
    return g->burst_seen &&
           g->now_ms < g->last_burst_ms +
                           (uint64_t)GOSSIP_BURST_QUIET_INTERVALS * g->cfg.gossip_interval_ms;
}

bool sync_burst_active(const struct gossip *g)
{
    return sync_busy(g);
}

void sync_note_burst(struct gossip *g)
{
    if (!sync_busy(g))
        g->burst_start_ms = g->now_ms;
    g->last_burst_ms = g->now_ms;
    g->burst_seen = true;
}

/* While busy, a session (our offer, or our answer to one) is held back
 * until GOSSIP_SYNC_BUSY_MAX_INTERVALS intervals have passed since the
 * burst began or since the last one we let through, whichever is later. */
static bool busy_holds(const struct gossip *g, uint64_t last_ms)
{
    if (!sync_busy(g))
        return false;
    uint64_t from = last_ms > g->burst_start_ms ? last_ms : g->burst_start_ms;
    return g->now_ms < from + (uint64_t)GOSSIP_SYNC_BUSY_MAX_INTERVALS * g->cfg.sync_interval_ms;
}

/* Anti-entropy runs only with members, at the address membership holds for
 * them: a session makes us send datagrams and repair streams to src, so a
 * DIGEST or BUCKET_REQ replayed from (or spoofed as) another source must not
 * turn us into a reflector. A message that came on a stream is answered on
 * that stream, which the driver never re-opens toward an address
 * membership does not vouch for (gossip_addr_vouched). */
static bool sync_vouched(struct gossip *g, const char *src, uint64_t sender_id)
{
    const struct gossip_member *mb = member_find(g, sender_id);
    if (mb && mb != &g->members[0] && (g->rx_stream || strcmp(member_addr(g, mb), src) == 0))
        return true;
    g->st.sync_unvouched++;
    return false;
}

void sync_on_digest(struct gossip *g, const char *src, const struct wire_msg *m)
{
    const struct wire_digest *d = &m->u.digest;
    g->st.digests_received++;
    if (!sync_vouched(g, src, m->sender_id))
        return;
    uint64_t root = store_root_hash(g->store);
    if (d->bucket_bits == 0) {
        if (d->root == root) {
            g->st.digests_in_sync++;
            fill_in_sync(g);
        } else if (busy_holds(g, g->last_answer_ms)) {
            g->st.sync_offers_declined_busy++; /* the initiator retries next interval */
        } else {
            g->last_answer_ms = g->now_ms;
            sync_send_groups(g, m->sender_id, src);
        }
        return;
    }
    if (d->bucket_bits == GOSSIP_SYNC_GROUP_BITS) {
        if (d->first_bucket >= GROUPS || d->n > GROUPS - d->first_bucket) {
            g->st.unexpected_msgs++;
            return;
        }
        uint64_t mine[GROUPS];
        group_hashes(g, mine);
        const uint64_t *leaves = store_bucket_hashes(g->store);
        struct wire_encoder enc;
        gossip_dgram_begin(g, &enc);
        struct wire_msg *out = g->tx;
        uint32_t ndiff = 0, nempty = 0;
        for (uint32_t i = 0; i < d->n; i++) {
            uint32_t grp = d->first_bucket + i;
            if (mine[grp] == d->hashes[i])
                continue;
            ndiff++;
            nempty += mine[grp] == 0;
            gossip_msg_init(g, out, WIRE_DIGEST);
            out->u.digest.root = root;
            out->u.digest.first_bucket = grp * LEAVES_PER_GROUP;
            out->u.digest.n = LEAVES_PER_GROUP;
            out->u.digest.bucket_bits = STORE_BUCKET_BITS;
            memcpy(out->u.digest.hashes, leaves + grp * LEAVES_PER_GROUP,
                   LEAVES_PER_GROUP * sizeof(uint64_t));
            put_digest(g, m->sender_id, src, &enc, out);
        }
        gossip_send_datagram(g, m->sender_id, src, &enc);
        if (ndiff >= GOSSIP_FILL_MIN_GROUPS)
            fill_note_behind(g, ndiff, nempty, 0); /* pull from this peer too */
        return;
    }
    if (d->bucket_bits == STORE_BUCKET_BITS) {
        if (d->first_bucket >= STORE_BUCKETS || d->n > STORE_BUCKETS - d->first_bucket) {
            g->st.unexpected_msgs++;
            return;
        }
        const uint64_t *leaves = store_bucket_hashes(g->store);
        struct wire_msg *out = g->tx;
        gossip_msg_init(g, out, WIRE_BUCKET_REQ);
        /* A bulk difference (most leaves of the group differ: a write
         * burst, a wiped node) holds our push until the pull has arrived;
         * a few differing buckets are pushed at once (cheap, and their
         * latency is what a partition heal or a missed delta waits for). */
        uint32_t ndiff = 0, nempty = 0;
        for (uint32_t i = 0; i < d->n; i++) {
            bool differs = leaves[d->first_bucket + i] != d->hashes[i];
            ndiff += differs;
            nempty += differs && leaves[d->first_bucket + i] == 0;
        }
        bool bulk = ndiff >= GOSSIP_PUSH_DEFER_MIN_LEAVES;
        if (bulk)
            fill_note_behind(g, ndiff, nempty, m->sender_id);
        uint32_t n = 0;
        for (uint32_t i = 0; i < d->n; i++) {
            uint32_t b = d->first_bucket + i;
            if (leaves[b] == d->hashes[i])
                continue;
            /* each bucket of a bulk difference from one peer (fill.c) */
            if (fill_claim(g, m->sender_id, b, d->hashes[i], bulk))
                out->u.bucket_req.buckets[n++] = b;
            if (bulk)
                push_defer(g, src, m->sender_id, b, d->hashes[i]); /* push, after the pull */
            else
                job_push(g, m->sender_id, src, b); /* push: our side of this bucket */
        }
        if (n == 0)
            return;
        out->u.bucket_req.n = n;
        struct wire_encoder enc;
        gossip_dgram_begin(g, &enc);
        if (put_msg(g, m->sender_id, src, &enc, out) == 0)
            g->st.bucket_reqs_sent++;
        gossip_send_datagram(g, m->sender_id, src, &enc);
        return;
    }
    g->st.unexpected_msgs++; /* a tree shape we do not speak */
}

void sync_on_bucket_req(struct gossip *g, const char *src, const struct wire_msg *m)
{
    g->st.bucket_reqs_received++;
    if (!sync_vouched(g, src, m->sender_id))
        return;
    struct gossip_push_wait *w = push_wait_find(g, m->sender_id);
    for (uint32_t i = 0; i < m->u.bucket_req.n && i < WIRE_MAX_BUCKETS_MSG; i++) {
        uint32_t b = m->u.bucket_req.buckets[i];
        if (b >= STORE_BUCKETS) {
            g->st.unexpected_msgs++;
            continue;
        }
        job_push(g, m->sender_id, src, b);
        /* this job sends the peer our side of b: a held push of b would
         * send it twice (one session each way after a burst) */
        if (w && (w->want[b / 64] & (1ull << (b % 64)))) {
            w->want[b / 64] &= ~(1ull << (b % 64));
            g->st.repair_pushes_skipped++;
        }
    }
}

void sync_on_repair(struct gossip *g, const struct wire_msg *m)
{
    g->st.repair_entries_received += m->u.entries.n;
    fill_on_repair(g, m->sender_id, m);
    struct gossip_push_wait *w = push_wait_find(g, m->sender_id);
    if (w)
        w->last_rx_ms = g->now_ms; /* its pull is still arriving: hold the push */
    for (uint32_t i = 0; i < m->u.entries.n; i++)
        gossip_apply_entry(g, &m->u.entries.entries[i], false, true);
}

/* ------------------------------------------------------------- pumping */

struct repair_ctx {
    struct gossip *g;
    struct gossip_repair_job *job;
    uint64_t peer_id;             /* whom the current batch is sealed for */
    char addr[WIRE_MAX_ADDR + 1]; /* where the current batch goes */
    size_t cap;                   /* plaintext budget of one datagram or frame */
    size_t arena_used;
    size_t hint_used;
    uint32_t n;     /* entries batched in g->ebuf */
    uint32_t index; /* entries of the sweep's step visited so far */
    size_t budget;  /* bytes still allowed this tick */
    bool stopped;   /* budget exhausted mid-step (sweeps) */
};

static size_t send_batch_buf(struct repair_ctx *c, const struct entry *es, uint32_t n)
{
    struct gossip *g = c->g;
    size_t sent = 0;
    uint32_t done = 0;
    while (done < n) {
        struct wire_encoder enc;
        uint8_t *buf = use_stream(g) ? gossip_frame_buf(g, c->cap) : g->pt;
        if (!buf) {
            g->st.encode_errors++;
            return sent;
        }
        wire_encoder_init(&enc, buf, use_stream(g) ? g->fbuf_cap : g->cfg.mtu);
        uint32_t taken = 0;
        int rc = wire_encode_entries(&enc, WIRE_REPAIR, g->cfg.node_id, gossip_hlc_now(g),
                                     es + done, n - done, &taken);
        if (rc < 0 && rc != GKV_ENOSPACE_MSG) {
            g->st.encode_errors++;
            return sent;
        }
        if (taken == 0) {
            g->st.deltas_too_large++; /* cannot happen with our size hints */
            done++;
            continue;
        }
        g->st.msgs_out++;
        g->st.repair_entries_sent += taken;
        g->st.repair_bytes_sent += enc.len;
        sent += enc.len;
        if (use_stream(g)) {
            g->st.repair_frames_sent++;
            gossip_send_frame(g, c->peer_id, c->addr, enc.buf, enc.len);
        } else {
            gossip_send_datagram(g, c->peer_id, c->addr, &enc);
        }
        done += taken;
    }
    return sent;
}

static void flush_batch(struct repair_ctx *c)
{
    if (c->n == 0)
        return;
    size_t sent = send_batch_buf(c, c->g->ebuf, c->n);
    c->budget = sent >= c->budget ? 0 : c->budget - sent;
    c->n = 0;
    c->arena_used = 0;
    c->hint_used = 0;
}

/* Batch one entry (or send it alone in a frame when larger than a batch). */
static void repair_add(struct repair_ctx *c, const struct entry *e)
{
    struct gossip *g = c->g;
    if (!store_entry_offered(g->store, e)) {
        /* retired: out of our digest and dropped by receivers (issue 25) */
        g->st.repair_retired_skipped++;
        return;
    }
    size_t hint = spread_entry_size(e);
    if (hint + HEADER_BYTES > c->cap) {
        if (use_stream(g)) {
            /* larger than a batch frame: alone in its own frame */
            flush_batch(c);
            size_t old = c->cap;
            c->cap = hint + HEADER_BYTES;
            size_t sent = send_batch_buf(c, e, 1);
            c->cap = old;
            c->budget = sent >= c->budget ? 0 : c->budget - sent;
        } else {
            g->st.deltas_too_large++; /* needs a stream; none available */
        }
        return;
    }
    if (c->hint_used + hint + HEADER_BYTES > c->cap || c->n >= WIRE_MAX_ENTRIES_MSG)
        flush_batch(c);
    size_t bytes = e->key_len + (e->value ? e->value_len : 0);
    uint8_t *p = g->arena + c->arena_used;
    memcpy(p, e->key, e->key_len);
    struct entry *copy = &g->ebuf[c->n++];
    *copy = *e;
    copy->key = p;
    if (e->value && e->value_len) {
        memcpy(p + e->key_len, e->value, e->value_len);
        copy->value = p + e->key_len;
    } else {
        copy->value = NULL;
        copy->value_len = 0;
    }
    c->arena_used += bytes;
    c->hint_used += hint;
}

/* A job's entries: each is batched; an exhausted budget stops the listing
 * (store_bucket_scan_from hands over the rest of the entries sharing the
 * stopping entry's placement hash, batched too, and leaves the job's
 * from_hash past them). */
static int repair_visit(void *arg, const struct entry *e)
{
    struct repair_ctx *c = arg;
    c->g->st.repair_entries_listed++;
    repair_add(c, e);
    return c->budget == 0;
}

/* A sweep stops inside a store_scan step when the budget runs out; the
 * step is then visited again next tick, skipping the entries already
 * visited (gossip_int.h, struct gossip_repair_sweep). */
static int sweep_visit(void *arg, const struct entry *e)
{
    struct repair_ctx *c = arg;
    struct gossip_repair_sweep *sw = &c->g->sweep;
    c->g->st.repair_entries_listed++;
    uint32_t index = c->index++;
    if (index < sw->skip)
        return 0;
    uint32_t b = entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS);
    if (!(sw->want[b / 64] & (1ull << (b % 64))))
        return 0;
    repair_add(c, e);
    if (c->budget == 0) {
        flush_batch(c);
        c->stopped = true;
        sw->skip = c->index;
        return 1;
    }
    return 0;
}

/* Move every not-yet-started job for the head job's peer into the sweep
 * when there are enough of them. */
static void sweep_start(struct gossip *g)
{
    const char *addr = g->jobs[g->jobs_head].addr;
    uint64_t peer_id = g->jobs[g->jobs_head].peer_id;
    size_t n = 0;
    for (size_t i = 0; i < g->jobs_count; i++) {
        const struct gossip_repair_job *j = &g->jobs[g->jobs_head + i];
        n += !j->started && j->peer_id == peer_id && strcmp(j->addr, addr) == 0;
    }
    if (n < GOSSIP_SWEEP_MIN_BUCKETS)
        return;
    struct gossip_repair_sweep *sw = &g->sweep;
    memset(sw, 0, sizeof(*sw));
    sw->active = true;
    sw->peer_id = peer_id;
    snprintf(sw->addr, sizeof(sw->addr), "%s", addr);
    size_t keep = 0;
    for (size_t i = 0; i < g->jobs_count; i++) {
        struct gossip_repair_job *j = &g->jobs[g->jobs_head + i];
        if (!j->started && j->peer_id == sw->peer_id && strcmp(j->addr, sw->addr) == 0) {
            if (!(sw->want[j->bucket / 64] & (1ull << (j->bucket % 64)))) {
                sw->want[j->bucket / 64] |= 1ull << (j->bucket % 64);
                sw->nbuckets++;
            }
            continue;
        }
        g->jobs[g->jobs_head + keep++] = *j; /* order kept; keep <= i */
    }
    g->jobs_count = keep;
    if (keep == 0)
        g->jobs_head = 0;
    g->st.repair_sweeps++;
}

/* Pump the active sweep within c's budget; false while it is unfinished. */
static bool sweep_pump(struct gossip *g, struct repair_ctx *c)
{
    struct gossip_repair_sweep *sw = &g->sweep;
    if (c->peer_id != sw->peer_id || strcmp(c->addr, sw->addr) != 0) {
        flush_batch(c);
        c->peer_id = sw->peer_id;
        snprintf(c->addr, sizeof(c->addr), "%s", sw->addr);
    }
    /* bounded: each step advances the cursor or spends the budget */
    while (c->budget > 0) {
        c->index = 0;
        c->stopped = false;
        if (store_scan(g->store, &sw->cursor, GOSSIP_SWEEP_STEP_SLOTS, sweep_visit, c) < 0)
            sw->cursor = 0; /* cannot happen with valid arguments: give up */
        if (c->stopped)
            return false; /* the batch was flushed; this step resumes next tick */
        sw->skip = 0;
        if (sw->cursor == 0) {
            g->st.buckets_repaired += sw->nbuckets;
            sw->active = false;
            return true;
        }
    }
    flush_batch(c);
    return false;
}

/* This call's byte budget: the rate cap's share (repair_bytes_per_tick per
 * GOSSIP_REPAIR_PERIOD_MS), or without a cap a slice of
 * GOSSIP_REPAIR_SLICE_BYTES with the next call due at once. Either way no
 * more than the room left under GOSSIP_REPAIR_QUEUE_MAX_BYTES in the stream
 * queue toward the peer served first: a full queue (the receiver or the
 * network is slower than us) stops the pump for a period. 0: nothing now. */
static size_t repair_budget(struct gossip *g)
{
    const char *addr = g->sweep.active ? g->sweep.addr : g->jobs[g->jobs_head].addr;
    size_t queued = 0;
    if (use_stream(g) && g->io.stream_queued_cb)
        queued = g->io.stream_queued_cb(g->io.data, addr);
    uint32_t cap = g->cfg.repair_bytes_per_tick;
    g->next_repair_ms = g->now_ms + (cap ? GOSSIP_REPAIR_PERIOD_MS : 0);
    g->repair_blocked = queued >= GOSSIP_REPAIR_QUEUE_MAX_BYTES;
    if (g->repair_blocked) {
        g->st.repair_blocked++;
        g->next_repair_ms = g->now_ms + GOSSIP_REPAIR_PERIOD_MS;
        return 0;
    }
    size_t budget = cap ? cap : GOSSIP_REPAIR_SLICE_BYTES;
    size_t room = GOSSIP_REPAIR_QUEUE_MAX_BYTES - queued;
    return budget < room ? budget : room;
}

bool gossip_repair_ready(const struct gossip *g)
{
    return (g->jobs_count > 0 || g->sweep.active) && g->now_ms >= g->next_repair_ms;
}

static void repair_pump(struct gossip *g)
{
    if ((g->jobs_count == 0 && !g->sweep.active) || g->now_ms < g->next_repair_ms)
        return;
    size_t budget = repair_budget(g);
    if (budget == 0)
        return;
    size_t cap = use_stream(g) ? GOSSIP_FRAME_TARGET : g->cfg.mtu;
    /* A batch is sent when full, and only then spends the budget: a cap
     * below a frame must shrink the frame, or every call sends a whole one
     * (6.4 MB/s whatever the cap). Never below a datagram's worth. */
    if (budget < cap)
        cap = budget > g->cfg.mtu ? budget : g->cfg.mtu;
    if (g->arena_cap < cap) {
        uint8_t *a = realloc(g->arena, cap);
        if (!a)
            return;
        g->arena = a;
        g->arena_cap = cap;
    }
    struct repair_ctx c = {.g = g, .cap = cap, .budget = budget};
    if (!g->sweep.active && g->jobs_count >= GOSSIP_SWEEP_MIN_BUCKETS)
        sweep_start(g);
    if (g->sweep.active && !sweep_pump(g, &c))
        return; /* budget spent; the sweep resumes next tick */
    /* Consecutive jobs for the same peer share batches (a bucket often holds
     * one or two differing entries). Bounded: each iteration pops a job or
     * exhausts the budget. */
    while (g->jobs_count > 0 && c.budget > 0) {
        c.job = &g->jobs[g->jobs_head];
        if (c.peer_id != c.job->peer_id || strcmp(c.addr, c.job->addr) != 0) {
            flush_batch(&c);
            c.peer_id = c.job->peer_id;
            snprintf(c.addr, sizeof(c.addr), "%s", c.job->addr);
        }
        int rc = store_bucket_scan_from(g->store, c.job->bucket, &c.job->from_hash, repair_visit,
                                        &c);
        if (rc == STORE_SCAN_MORE) {
            c.job->started = true;
            flush_batch(&c);
            return; /* budget spent; the job resumes at its from_hash next tick */
        }
        if (rc >= 0)
            g->st.buckets_repaired++;
        job_pop(g);
    }
    flush_batch(&c);
    if (g->jobs_count == 0 && !g->sweep.active) { /* done: keep no frame or arena memory */
        gossip_frame_release(g);
        free(g->arena);
        g->arena = NULL;
        g->arena_cap = 0;
    }
}

/* ------------------------------------------------------------ GC bound */

uint64_t sync_gc_bound(const struct gossip *g)
{
    /* Rule (docs/GOSSIP.md): a tombstone may go once every live member has
     * advertised (in any authenticated message) an HLC beyond it by a margin
     * covering two anti-entropy rounds plus the tolerated clock offset. A
     * live member we never heard from pins the bound at 0. */
    uint64_t bound = gossip_hlc_now(g);
    for (size_t i = 1; i < g->nmembers; i++) {
        const struct gossip_member *m = &g->members[i];
        if (m->state > GOSSIP_SUSPECT)
            continue;
        if (m->last_hlc < bound)
            bound = m->last_hlc;
    }
    uint64_t margin_ms = 2ull * g->cfg.sync_interval_ms + store_hlc(g->store)->max_offset_ms;
    uint64_t margin = HLC_MAKE(margin_ms, 0);
    return bound > margin ? bound - margin : 0;
}

/* --------------------------------------------------------------- tick */

static void sync_tick_rest(struct gossip *g);

/* Once per gossip interval: was there a burst (many deltas queued, or any
 * dropped)? When one that dropped deltas ends, offer at once. */
static void burst_check(struct gossip *g)
{
    if (g->now_ms < g->next_burst_check_ms)
        return;
    g->next_burst_check_ms = g->now_ms + g->cfg.gossip_interval_ms;
    bool dropped = g->dq.dropped != g->burst_dropped_seen;
    if (dropped || g->burst_queued > GOSSIP_BURST_DELTAS_PER_ROUND)
        sync_note_burst(g);
    g->burst_dropped_seen = g->dq.dropped;
    g->burst_queued = 0;
}

void sync_tick(struct gossip *g)
{
    burst_check(g);
    if (g->fill_initial && !g->fill_first_offer && member_live_count(g) > 1) {
        /* a node that started empty learns at once whether it is behind */
        g->fill_first_offer = true;
        g->next_sync_ms = g->now_ms;
    }
    if (g->now_ms >= g->next_sync_ms && g->pull && g->pull->fill) {
        /* Filling: our side is what is missing, and the answer to our
         * offer would have the peer push its side of every bucket that
         * differs a little, over the claims (fill.c); the fill's own pull
         * offers carry the sessions until it ends. */
        g->next_sync_ms = g->now_ms + g->cfg.sync_interval_ms;
        g->st.sync_offers_postponed_fill++;
    } else if (g->now_ms >= g->next_sync_ms && busy_holds(g, g->last_offer_ms)) {
        /* mid-burst: look again next gossip interval */
        g->next_sync_ms = g->now_ms + g->cfg.gossip_interval_ms;
        g->st.sync_offers_postponed_busy++;
    } else if (g->now_ms >= g->next_sync_ms && g->npush_waits > 0 &&
               g->dq.dropped == g->sync_dropped_seen) {
        /* We asked a peer for a bulk repair and it has not all arrived:
         * an offer now compares our stale side, and its peer would pull
         * our stale entries (after a burst on node 1 of client_bench,
         * 100,000 per stale peer merged and lost on the writer). The
         * waits end within GOSSIP_SYNC_BUSY_MAX_INTERVALS; a dirty offer
         * is never held. */
        g->next_sync_ms = g->now_ms + g->cfg.gossip_interval_ms;
        g->st.sync_offers_postponed_pull++;
    } else if (!sync_busy(g) && g->dq.dropped > g->sync_dropped_seen &&
               g->next_sync_ms > g->now_ms) {
        g->next_sync_ms = g->now_ms; /* a dropping burst just ended */
    }
    if (g->now_ms >= g->next_sync_ms) {
        /* Deltas still queued here are on their way by gossip: comparing
         * now would repair them a second time. Wait for the queue to drain,
         * but never more than one extra interval (steady write load), and
         * not at all when the queue is "dirty" (it dropped deltas since our
         * last offer: gossip will never deliver those) or deep (a burst:
         * draining takes far longer than an interval). */
        bool dirty = g->dq.dropped > g->sync_dropped_seen;
        /* after a burst the queue holds its leftovers, which drain for a
         * long time: for GOSSIP_SYNC_BUSY_MAX_INTERVALS intervals after a
         * burst, treat the queue as deep */
        bool deep = g->dq.count > GOSSIP_SYNC_DEFER_MAX_QUEUED ||
                    (g->burst_seen && g->now_ms < g->last_burst_ms +
                                                      (uint64_t)GOSSIP_SYNC_BUSY_MAX_INTERVALS *
                                                          g->cfg.sync_interval_ms);
        if (g->dq.count > 0 && !dirty && !deep &&
            g->sync_deferred_ms < g->cfg.sync_interval_ms) {
            g->sync_deferred_ms += g->cfg.gossip_interval_ms;
            g->next_sync_ms = g->now_ms + g->cfg.gossip_interval_ms;
            sync_tick_rest(g);
            return;
        }
        if (dirty || deep)
            g->st.sync_offers_dirty++;
        g->sync_dropped_seen = g->dq.dropped;
        g->sync_deferred_ms = 0;
        g->last_offer_ms = g->now_ms;
        g->next_sync_ms = g->now_ms + g->cfg.sync_interval_ms;
        /* After a burst that overflowed the queue every peer lacks it, and
         * anti-entropy is now its only carrier: offer to gossip_fanout
         * peers at once rather than one (with 3 nodes the second peer
         * otherwise waited for its own offer to pick us, 1-3 intervals). */
        size_t idx[GOSSIP_DIRTY_OFFERS_MAX];
        size_t want = 1;
        if (dirty)
            want = g->cfg.gossip_fanout < GOSSIP_DIRTY_OFFERS_MAX ? g->cfg.gossip_fanout
                                                                  : GOSSIP_DIRTY_OFFERS_MAX;
        size_t n = g->leaving ? 0 : member_pick_random(g, want, 0, idx);
        for (size_t i = 0; i < n; i++)
            send_root_offer(g, g->members[idx[i]].id, member_addr(g, &g->members[idx[i]]));
    }
    sync_tick_rest(g);
}

static void sync_tick_rest(struct gossip *g)
{
    push_waits_tick(g);
    fill_tick(g);
    repair_pump(g);
    if (g->now_ms >= g->next_gc_bound_ms) {
        g->next_gc_bound_ms = g->now_ms + g->cfg.sync_interval_ms;
        g->gc_bound = sync_gc_bound(g);
        g->st.gc_bound_hlc = g->gc_bound;
    }
    if (g->now_ms >= g->next_gc_ms) {
        g->next_gc_ms = g->now_ms + g->cfg.probe_interval_ms;
        uint64_t purged = 0;
        if (store_purge_tombstones(g->store, g->wall_ms, g->gc_bound, GOSSIP_PURGE_BATCH,
                                   &purged) == 0)
            g->st.tombstones_purged += purged;
        if (purged == GOSSIP_PURGE_BATCH) /* more due: the next batch soon */
            g->next_gc_ms = g->now_ms + GOSSIP_PURGE_BUSY_MS;
    }
}

uint64_t sync_next_deadline(const struct gossip *g)
{
    if (g->jobs_count > 0 || g->sweep.active) /* repair in progress: the next paced slice */
        return g->next_repair_ms > g->now_ms ? g->next_repair_ms : g->now_ms;
    uint64_t t = g->next_sync_ms;
    if (g->next_gc_ms < t)
        t = g->next_gc_ms;
    if (g->next_gc_bound_ms < t)
        t = g->next_gc_bound_ms;
    uint64_t quiet_ms = (uint64_t)GOSSIP_PUSH_QUIET_INTERVALS * g->cfg.gossip_interval_ms;
    uint64_t max_ms = (uint64_t)GOSSIP_SYNC_BUSY_MAX_INTERVALS * g->cfg.sync_interval_ms;
    for (size_t i = 0; i < g->npush_waits; i++) { /* when push_waits_tick releases it */
        const struct gossip_push_wait *w = g->push_waits[i];
        uint64_t due = w->created_ms + g->cfg.sync_interval_ms;
        if (w->last_rx_ms + quiet_ms > due)
            due = w->last_rx_ms + quiet_ms;
        if (due > w->created_ms + max_ms)
            due = w->created_ms + max_ms;
        if (due < t)
            t = due;
    }
    return t;
}
