/*
 * fill.c: a node far behind (new, wiped, back after a long outage, or the
 * target of a bulk load made elsewhere) fetches each missing entry once.
 *
 * Anti-entropy alone pulls a bucket from every peer whose session finds it
 * different: a new node in a 3-node cluster was sent most entries two or
 * three times (1.45-2.2 entries received per entry needed, docs/BENCHMARKS.md
 * "Catch-up"). Here the puller claims each bucket of a bulk difference for
 * one peer, the way Cassandra's bootstrap streams each token range from one
 * replica:
 *
 *   1. A session that shows a bulk difference (GOSSIP_FILL_MIN_GROUPS of
 *      the 32 groups differ, or GOSSIP_PUSH_DEFER_MIN_LEAVES leaves of one
 *      group) starts a fill: we send our group hashes (DIGEST bits=5) to up
 *      to GOSSIP_PULL_PEERS_MAX live peers at once. Each answers with the
 *      leaves of the groups that differ, and we pull (BUCKET_REQ) from it.
 *   2. A differing bucket is requested from a peer only if no other peer
 *      holds a live claim on it, and only while that peer holds fewer than
 *      its share (STORE_BUCKETS / peers pulled from) of the claims: the key
 *      space is split among the peers, which send in parallel.
 *   3. A claim ends when our leaf equals the hash the peer advertised (the
 *      bucket arrived), when the peer is no longer live, or when it sent us
 *      no REPAIR for GOSSIP_PULL_STALL_INTERVALS sync intervals (10 if it
 *      has sent none yet: it serves earlier requests first) (its side
 *      moved on, or it dropped our request); the next session then asks
 *      whoever still differs.
 *   4. The fill ends when no claim is left (a sync interval later if some
 *      differing bucket was left to another peer's session).
 *
 * Claims hold 9 bytes per bucket (9 KiB), allocated only while a fill
 * runs. Progress (buckets done of claimed, bytes, start time) is in
 * gossip_fill_state for INFO and the log.
 */
#include <stdlib.h>
#include <string.h>

#include "gossip/gossip_int.h"

static struct gossip_pull *claims_get(struct gossip *g)
{
    if (!g->pull) {
        g->pull = calloc(1, sizeof(*g->pull));
        if (g->pull) /* else no claims: every peer is asked, as without them */
            g->pull->started_ms = g->pull->last_change_ms = g->now_ms;
    }
    return g->pull;
}

/* We are far behind: start a fill (once); fill_tick then asks the peers
 * other than except_id (one a session already pulls from) for their
 * leaves. */
static void fill_begin(struct gossip *g, uint64_t except_id)
{
    struct gossip_pull *p = claims_get(g);
    if (!p || p->fill)
        return;
    p->fill = true;
    p->started_ms = g->now_ms;
    p->last_change_ms = g->now_ms;
    p->buckets_done = 0;
    p->bytes = p->entries = 0;
    p->offers_due = true;
    p->offers_except_id = except_id;
    g->st.fills_started++;
}

static void fill_end(struct gossip *g)
{
    struct gossip_pull *p = g->pull;
    g->pull = NULL;
    if (!p->fill) {
        free(p);
        return;
    }
    g->last_fill = (struct gossip_fill){
        .active = false,
        .buckets_done = p->buckets_done,
        .buckets_total = p->buckets_done,
        .bytes = p->bytes,
        .entries = p->entries,
        .started_ms = p->started_ms,
        .elapsed_ms = g->now_ms - p->started_ms,
    };
    free(p);
    g->fill_initial = false;
    g->st.fills_done++;
}

static int slot_find(const struct gossip_pull *p, uint64_t peer_id)
{
    for (int i = 0; i < (int)GOSSIP_PULL_PEERS_MAX; i++)
        if (p->peers[i].nclaimed > 0 && p->peers[i].id == peer_id)
            return i;
    return -1;
}

static int slot_take(struct gossip_pull *p, uint64_t peer_id, uint64_t now_ms)
{
    int i = slot_find(p, peer_id);
    if (i >= 0)
        return i;
    for (i = 0; i < (int)GOSSIP_PULL_PEERS_MAX; i++)
        if (p->peers[i].nclaimed == 0) {
            p->peers[i].id = peer_id;
            p->peers[i].last_rx_ms = now_ms;
            p->peers[i].heard = false;
            return i;
        }
    return -1;
}

static void claim_drop(struct gossip_pull *p, uint32_t b)
{
    p->peers[p->owner[b] - 1].nclaimed--;
    p->owner[b] = 0;
}

/* Peers a fill pulls from at once: the live ones, at most
 * GOSSIP_PULL_PEERS_MAX. */
static uint32_t pull_peers(const struct gossip *g)
{
    size_t live = member_live_count(g);
    size_t peers = live > 1 ? live - 1 : 1;
    return peers < GOSSIP_PULL_PEERS_MAX ? (uint32_t)peers : GOSSIP_PULL_PEERS_MAX;
}

bool fill_claim(struct gossip *g, uint64_t peer_id, uint32_t b, uint64_t peer_hash, bool bulk)
{
    struct gossip_pull *p = bulk ? claims_get(g) : g->pull;
    if (!p)
        return true;
    if (p->owner[b]) {
        const struct gossip_pull_peer *o = &p->peers[p->owner[b] - 1];
        if (o->id == peer_id) { /* already asked: a second request sends it twice */
            p->want_hash[b] = peer_hash; /* a fresher hash ends the claim */
            g->st.repair_pulls_claimed_elsewhere++;
            return false;
        }
        if (p->want_hash[b] == peer_hash) { /* the same content, already coming */
            g->st.repair_pulls_claimed_elsewhere++;
            return false;
        }
        return true; /* other content: pull it too, unclaimed */
    }
    /* The share splits a fill among the peers. Outside a fill (our side
     * holds entries of its own: a bulk load made elsewhere) a claim only
     * spares us a second copy of identical content, and a share would hold
     * back buckets that no other peer's claim can complete. */
    int s = slot_take(p, peer_id, g->now_ms);
    uint32_t share = p->fill ? (STORE_BUCKETS + pull_peers(g) - 1) / pull_peers(g) : STORE_BUCKETS;
    if (s < 0 || p->peers[s].nclaimed >= share) {
        g->st.repair_pulls_over_share++;
        p->last_change_ms = g->now_ms;
        p->skipped = true;
        return false; /* another peer's session asks for it */
    }
    p->owner[b] = (uint8_t)(s + 1);
    p->want_hash[b] = peer_hash;
    p->peers[s].nclaimed++;
    p->claimed = true;
    p->last_change_ms = g->now_ms;
    g->st.repair_pulls_claimed++;
    return true;
}

void fill_note_behind(struct gossip *g, uint32_t differing, uint32_t ours_empty,
                      uint64_t except_id)
{
    /* Far behind: a bulk difference where we hold nothing in most of the
     * differing buckets (a new or wiped node). A node whose buckets all
     * differ but are full (a bulk load made elsewhere, or the peer being
     * the empty one) is not filling: it pulls under claims all the same. */
    if (differing > 0 && ours_empty * 2 >= differing)
        fill_begin(g, except_id);
}

void fill_on_repair(struct gossip *g, uint64_t peer_id, const struct wire_msg *m)
{
    struct gossip_pull *p = g->pull;
    if (!p)
        return;
    int s = slot_find(p, peer_id);
    if (s >= 0) {
        p->peers[s].last_rx_ms = g->now_ms;
        p->peers[s].heard = true;
    }
    p->entries += m->u.entries.n;
    for (uint32_t i = 0; i < m->u.entries.n; i++) {
        const struct entry *e = &m->u.entries.entries[i];
        p->bytes += e->key_len + (e->value ? e->value_len : 0);
    }
}

/* Ask the peers for their leaves at once: each answer makes us pull our
 * share from that peer (sync_on_digest, bits=10). */
static void fill_offer(struct gossip *g)
{
    struct gossip_pull *p = g->pull;
    p->offers_due = false;
    if (g->leaving)
        return;
    size_t idx[GOSSIP_PULL_PEERS_MAX];
    size_t n = member_pick_random(g, pull_peers(g), p->offers_except_id, idx);
    for (size_t i = 0; i < n; i++) {
        g->st.fill_pull_offers++;
        sync_send_groups(g, g->members[idx[i]].id, member_addr(g, &g->members[idx[i]]));
    }
}

void fill_in_sync(struct gossip *g)
{
    if (!g->pull)
        g->fill_initial = false;
}

void fill_tick(struct gossip *g)
{
    struct gossip_pull *p = g->pull;
    if (!p)
        return;
    if (p->offers_due)
        fill_offer(g);
    const uint64_t *leaves = store_bucket_hashes(g->store);
    uint64_t stall_ms = (uint64_t)GOSSIP_PULL_STALL_INTERVALS * g->cfg.sync_interval_ms;
    uint64_t unheard_ms = (uint64_t)GOSSIP_SYNC_BUSY_MAX_INTERVALS * g->cfg.sync_interval_ms;
    bool stalled[GOSSIP_PULL_PEERS_MAX];
    for (uint32_t i = 0; i < GOSSIP_PULL_PEERS_MAX; i++) {
        const struct gossip_pull_peer *pp = &p->peers[i];
        const struct gossip_member *m = pp->nclaimed > 0 ? member_find(g, pp->id) : NULL;
        uint64_t quiet_ms = pp->heard ? stall_ms : unheard_ms;
        stalled[i] = pp->nclaimed > 0 && (!m || m->state > GOSSIP_SUSPECT ||
                                          g->now_ms >= pp->last_rx_ms + quiet_ms);
    }
    uint32_t left = 0;
    for (uint32_t b = 0; b < STORE_BUCKETS; b++) { /* 1024 compares per tick, only while filling */
        if (!p->owner[b])
            continue;
        if (leaves[b] == p->want_hash[b]) {
            claim_drop(p, b);
            p->buckets_done++;
        } else if (stalled[p->owner[b] - 1]) {
            claim_drop(p, b);
            g->st.repair_pull_claims_released++;
        } else {
            left++;
        }
    }
    /* Done when every claim is: at once if every differing bucket was
     * claimed, else a sync interval after the last claim or the last bucket
     * left to another peer's session (which starts a fill again if it is
     * still a bulk difference), or after the start if the peers have not
     * answered yet. */
    uint64_t wait_ms = p->claimed && !p->skipped ? 0 : g->cfg.sync_interval_ms;
    if (left == 0 && g->now_ms >= p->last_change_ms + wait_ms)
        fill_end(g); /* also frees claims made outside a fill */
}

void fill_free(struct gossip *g)
{
    free(g->pull);
    g->pull = NULL;
}

void gossip_fill_state(const struct gossip *g, struct gossip_fill *out)
{
    const struct gossip_pull *p = g->pull;
    if (!p || !p->fill) {
        *out = g->last_fill;
        out->initial = g->fill_initial;
        return;
    }
    uint32_t left = 0;
    for (uint32_t b = 0; b < STORE_BUCKETS; b++)
        left += p->owner[b] != 0;
    *out = (struct gossip_fill){
        .active = true,
        .initial = g->fill_initial,
        .buckets_done = p->buckets_done,
        .buckets_total = p->buckets_done + left,
        .bytes = p->bytes,
        .entries = p->entries,
        .started_ms = p->started_ms,
        .elapsed_ms = g->now_ms - p->started_ms,
    };
}
