/*
 * spread.c: transmit-limited broadcast queues (the dissemination half of
 * SWIM; the model is hashicorp/memberlist's TransmitLimitedQueue).
 *
 * Two queues per core: membership updates (keyed by member id) and data
 * deltas (keyed by entry key). An item is piggybacked on outgoing datagrams
 * (probes, acks, gossip rounds) until it has been sent
 *
 *     limit = retransmit_mult * ceil(log10(N + 1))      (N = live members)
 *
 * times (data deltas: max(retransmit_mult, data_retransmit_mult) instead of
 * retransmit_mult, because a node misses a rumour with probability about
 * e^-limit and a missed write waits for anti-entropy), the classic epidemic
 * bound: with each node forwarding an update
 * that often, it reaches all N nodes with high probability (Demers et al.
 * 1987; memberlist retransmitLimit()). Items go out fewest-transmits first,
 * newest first among equals, so fresh news is never starved by old news.
 * A newer update for the same key replaces the queued one (memberlist's
 * "invalidates"); for data, "newer" is decided by entry_merge, the same rule
 * the store uses.
 *
 * Data structure: one doubly linked list per transmit count (tx[t], newest at
 * the head), an age list (oldest first, for dropping when full) and a hash
 * table on the key. Sending moves an item from tx[t] to tx[t + 1]; all
 * operations are O(1) except the fill scan, bounded by GOSSIP_SCAN_MAX misses.
 *
 * Share of a datagram (memberlist#299: user broadcasts starved membership):
 * membership updates may take up to a third of the space left, data deltas
 * the rest, and membership takes whatever data left unused.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/gossip_int.h"

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL; /* FNV-1a 64 prime */
    }
    return gossip_mix64(h);
}

void spread_init(struct spread_queue *q, enum spread_kind kind, size_t max_count)
{
    memset(q, 0, sizeof(*q));
    q->kind = kind;
    q->max_count = max_count;
}

void spread_free(struct spread_queue *q)
{
    struct spread_item *it = q->age_head;
    while (it) {
        struct spread_item *next = it->age_next;
        free(it);
        it = next;
    }
    free(q->buckets);
    memset(q->tx, 0, sizeof(q->tx));
    q->age_head = q->age_tail = NULL;
    q->buckets = NULL;
    q->nbuckets = 0;
    q->count = 0;
}

static void tx_unlink(struct spread_queue *q, struct spread_item *it)
{
    if (it->tx_prev)
        it->tx_prev->tx_next = it->tx_next;
    else
        q->tx[it->transmits] = it->tx_next;
    if (it->tx_next)
        it->tx_next->tx_prev = it->tx_prev;
    it->tx_prev = it->tx_next = NULL;
}

static void tx_push(struct spread_queue *q, struct spread_item *it)
{
    it->tx_prev = NULL;
    it->tx_next = q->tx[it->transmits];
    if (it->tx_next)
        it->tx_next->tx_prev = it;
    q->tx[it->transmits] = it;
}

static void age_unlink(struct spread_queue *q, struct spread_item *it)
{
    if (it->age_prev)
        it->age_prev->age_next = it->age_next;
    else
        q->age_head = it->age_next;
    if (it->age_next)
        it->age_next->age_prev = it->age_prev;
    else
        q->age_tail = it->age_prev;
    it->age_prev = it->age_next = NULL;
}

static void age_append(struct spread_queue *q, struct spread_item *it)
{
    it->age_next = NULL;
    it->age_prev = q->age_tail;
    if (q->age_tail)
        q->age_tail->age_next = it;
    else
        q->age_head = it;
    q->age_tail = it;
}

static void hash_unlink(struct spread_queue *q, struct spread_item *it)
{
    struct spread_item **pp = &q->buckets[it->hash & (q->nbuckets - 1)];
    while (*pp && *pp != it)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = it->hnext;
    it->hnext = NULL;
}

static int hash_grow(struct spread_queue *q)
{
    size_t n = q->nbuckets ? q->nbuckets * 2 : 64;
    struct spread_item **b = calloc(n, sizeof(*b));
    if (!b)
        return GKV_ENOMEM;
    for (struct spread_item *it = q->age_head; it; it = it->age_next) {
        it->hnext = b[it->hash & (n - 1)];
        b[it->hash & (n - 1)] = it;
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
    return 0;
}

static void item_remove(struct spread_queue *q, struct spread_item *it)
{
    tx_unlink(q, it);
    age_unlink(q, it);
    hash_unlink(q, it);
    q->count--;
    free(it);
}

/* Link a fresh item (transmits = 0). Drops the oldest item when full. */
static int item_insert(struct spread_queue *q, struct spread_item *it)
{
    if (q->count + 1 > q->nbuckets) {
        int rc = hash_grow(q);
        if (rc < 0 && q->nbuckets == 0)
            return rc; /* growth is an optimisation once a table exists */
    }
    if (q->max_count > 0 && q->count >= q->max_count && q->age_head) {
        item_remove(q, q->age_head);
        q->dropped++;
    }
    it->transmits = 0;
    tx_push(q, it);
    age_append(q, it);
    size_t b = it->hash & (q->nbuckets - 1);
    it->hnext = q->buckets[b];
    q->buckets[b] = it;
    q->count++;
    return 0;
}

/* Restart an existing item's life as if new. */
static void item_refresh(struct spread_queue *q, struct spread_item *it)
{
    tx_unlink(q, it);
    it->transmits = 0;
    tx_push(q, it);
    age_unlink(q, it);
    age_append(q, it);
}

int spread_member(struct spread_queue *q, uint64_t member_id, uint64_t from_id, size_t pos)
{
    uint64_t h = gossip_mix64(member_id);
    if (q->nbuckets) {
        for (struct spread_item *it = q->buckets[h & (q->nbuckets - 1)]; it; it = it->hnext) {
            if (it->hash == h && it->member_id == member_id) {
                it->from_id = from_id;
                it->member_pos = pos;
                item_refresh(q, it);
                return 0;
            }
        }
    }
    struct spread_item *it = calloc(1, sizeof(*it));
    if (!it)
        return GKV_ENOMEM;
    it->hash = h;
    it->member_id = member_id;
    it->from_id = from_id;
    it->member_pos = pos;
    /* a member record: ids, incarnation, name and addr up to their limits */
    it->size_hint = 64u + WIRE_MAX_NAME + WIRE_MAX_ADDR;
    int rc = item_insert(q, it);
    if (rc < 0)
        free(it);
    return rc;
}

size_t spread_entry_size(const struct entry *e)
{
    size_t n = wire_entry_encoded_size(e);
    return n ? n : SIZE_MAX / 4; /* can never be encoded: larger than anything */
}

int spread_data(struct spread_queue *q, const struct entry *e, size_t size_hint)
{
    uint64_t h = hash_bytes(e->key, e->key_len);
    if (q->nbuckets) {
        for (struct spread_item *it = q->buckets[h & (q->nbuckets - 1)]; it; it = it->hnext) {
            const struct entry *qe = spread_item_entry(it);
            if (it->hash != h || qe->key_len != e->key_len ||
                memcmp(qe->key, e->key, e->key_len) != 0)
                continue;
            if (entry_merge(qe, e, NULL) == MERGE_KEEP_LOCAL)
                return 0; /* the queued version is the same or newer */
            item_remove(q, it);
            break;
        }
    }
    if (q->refuse_when_full && q->max_count > 0 && q->count >= q->max_count)
        return GKV_ELIMIT; /* the caller decides (gossip.c: overflow) */
    size_t vlen = e->value ? e->value_len : 0;
    struct spread_data_item *d = malloc(sizeof(*d) + e->key_len + vlen);
    if (!d)
        return GKV_ENOMEM;
    uint8_t *tail = (uint8_t *)(d + 1);
    memcpy(tail, e->key, e->key_len);
    if (vlen)
        memcpy(tail + e->key_len, e->value, vlen);
    memset(&d->it, 0, sizeof(d->it));
    d->e = *e;
    d->e.key = tail;
    d->e.value = vlen ? tail + e->key_len : NULL;
    d->e.value_len = (uint32_t)vlen;
    struct spread_item *it = &d->it;
    it->hash = h;
    it->size_hint = size_hint > UINT32_MAX ? UINT32_MAX : (uint32_t)size_hint;
    int rc = item_insert(q, it);
    if (rc < 0)
        free(it);
    return rc;
}

size_t spread_clear(struct spread_queue *q)
{
    size_t n = q->count;
    struct spread_item *it = q->age_head;
    while (it) { /* bounded: count items */
        struct spread_item *next = it->age_next;
        free(it);
        it = next;
    }
    memset(q->tx, 0, sizeof(q->tx));
    if (q->buckets)
        memset(q->buckets, 0, q->nbuckets * sizeof(*q->buckets));
    q->age_head = q->age_tail = NULL;
    q->count = 0;
    q->dropped += n;
    return n;
}

/* Items sent in this datagram move one transmit list up, or leave. */
static void retire_picked(struct spread_queue *q, struct spread_item **picked, size_t n,
                          size_t limit)
{
    for (size_t i = 0; i < n; i++) {
        struct spread_item *it = picked[i];
        if (it->transmits + 1 >= limit) {
            item_remove(q, it);
            continue;
        }
        tx_unlink(q, it);
        it->transmits++;
        tx_push(q, it);
    }
}

/* Items whose transmit count reached a (shrunken) limit are done. */
static void prune_over_limit(struct spread_queue *q, size_t limit)
{
    for (size_t t = limit; t < GOSSIP_TX_LISTS; t++)
        while (q->tx[t])
            item_remove(q, q->tx[t]);
}

static uint32_t fill_members(struct gossip *g, struct wire_encoder *enc, size_t limit)
{
    struct spread_queue *q = &g->mq;
    struct wire_msg *m = g->tx;
    size_t npicked = 0, misses = 0;
    for (size_t t = 0; t < limit && npicked < WIRE_MAX_MSGS_DATAGRAM; t++) {
        struct spread_item *it = q->tx[t];
        while (it && npicked < WIRE_MAX_MSGS_DATAGRAM && misses < 8) {
            struct spread_item *next = it->tx_next;
            if (it->stamp == g->fill_stamp) {
                it = next;
                continue; /* already in this datagram */
            }
            struct gossip_member *mem =
                it->member_pos < g->nmembers && g->members[it->member_pos].id == it->member_id
                    ? &g->members[it->member_pos]
                    : member_find(g, it->member_id);
            if (mem)
                it->member_pos = (size_t)(mem - g->members);
            if (!mem) { /* reclaimed meanwhile: nothing left to say */
                item_remove(q, it);
                it = next;
                continue;
            }
            gossip_msg_init(g, m, member_msg_type(mem));
            member_fill_wire(g, mem, &m->u.suspicion.member);
            m->u.suspicion.from_id = it->from_id;
            int rc = wire_encode(enc, m);
            if (rc == 0) {
                it->stamp = g->fill_stamp;
                g->picked[npicked++] = it;
                g->st.msgs_out++;
            } else if (rc == GKV_ENOSPACE_MSG) {
                misses++; /* records differ in size only by name/addr */
            } else {
                g->st.encode_errors++;
                item_remove(q, it);
            }
            it = next;
        }
    }
    retire_picked(q, g->picked, npicked, limit);
    return (uint32_t)npicked;
}

/* A queued delta that is no longer the store's version of its key (a newer
 * one replaced it without coalescing here, e.g. through anti-entropy, or
 * the key was purged), or is a retired tombstone, is never sent: it can
 * wait in the queue behind newer deltas for longer than the tombstone
 * grace, and a node that purged the key's tombstone would take a stale
 * value back (issue 25). One store lookup per delta sent. */
static bool delta_superseded(struct gossip *g, const struct entry *q)
{
    return !store_offers_version(g->store, q);
}

static uint32_t fill_data(struct gossip *g, struct wire_encoder *enc, size_t limit)
{
    struct spread_queue *q = &g->dq;
    const size_t header = WIRE_ENTRIES_OVERHEAD_MAX;
    if (enc->cap <= enc->len + header)
        return 0;
    size_t budget = enc->cap - enc->len - header, used = 0;
    size_t npicked = 0, misses = 0;
    for (size_t t = 0; t < limit && npicked < WIRE_MAX_ENTRIES_MSG; t++) {
        for (struct spread_item *it = q->tx[t]; it && npicked < WIRE_MAX_ENTRIES_MSG;
             it = it->tx_next) {
            if (used + it->size_hint > budget) {
                if (++misses >= GOSSIP_SCAN_MAX || budget - used < GOSSIP_ENTRY_MIN_BYTES)
                    goto done;
                continue;
            }
            if (delta_superseded(g, spread_item_entry(it))) {
                g->st.deltas_superseded++;
                item_remove(q, it);
                break; /* the list changed under us: the next transmit count */
            }
            used += it->size_hint;
            g->ebuf[npicked] = *spread_item_entry(it);
            g->picked[npicked++] = it;
        }
    }
done:
    if (npicked == 0)
        return 0;
    uint32_t taken = 0;
    int rc = wire_encode_entries(enc, WIRE_DELTAS, g->cfg.node_id, gossip_hlc_now(g), g->ebuf,
                                 (uint32_t)npicked, &taken);
    if (rc < 0 && rc != GKV_ENOSPACE_MSG) {
        g->st.encode_errors++;
        /* an entry the encoder can never take: do not retry it forever */
        for (size_t i = 0; i < npicked; i++)
            item_remove(q, g->picked[i]);
        return 0;
    }
    retire_picked(q, g->picked, taken, limit);
    g->st.deltas_sent += taken;
    if (taken > 0)
        g->st.msgs_out++;
    return taken > 0 ? 1 : 0;
}

/* Leftover space: ALIVE records of random alive members (ourselves
 * included), outside the transmit-limited queue. A receiver ignores what it
 * already knows; one that missed the member learns it and, as for any news,
 * re-broadcasts it. Only ALIVE members: a record never resurrects anything
 * (DEAD beats ALIVE at an equal incarnation). */
static uint32_t fill_random_records(struct gossip *g, struct wire_encoder *enc)
{
    struct wire_msg *m = g->tx;
    uint32_t added = 0;
    if (g->nmembers < 2)
        return 0;
    /* Draw all picks first and prefetch them: with thousands of members
     * each pick is a cache miss, and eight overlapping misses cost about
     * one. */
    size_t pick[GOSSIP_RANDOM_RECORDS];
    for (uint32_t i = 0; i < GOSSIP_RANDOM_RECORDS; i++) {
        pick[i] = (size_t)gkv_rng_below(&g->rng, g->nmembers);
        __builtin_prefetch(&g->members[pick[i]]);
        /* a 72-byte record may straddle two cache lines */
        __builtin_prefetch((const char *)&g->members[pick[i]] + sizeof(struct gossip_member) - 1);
    }
    for (uint32_t i = 0; i < GOSSIP_RANDOM_RECORDS; i++) {
        const struct gossip_member *mem = &g->members[pick[i]];
        if (mem->state != GOSSIP_ALIVE)
            continue;
        gossip_msg_init(g, m, WIRE_ALIVE);
        member_fill_wire(g, mem, &m->u.suspicion.member);
        m->u.suspicion.from_id = mem->id;
        if (wire_encode(enc, m) != 0)
            break; /* full (or unencodable): leftover space is best effort */
        g->st.msgs_out++;
        g->st.random_records_sent++;
        added++;
    }
    return added;
}

uint32_t spread_fill(struct gossip *g, struct wire_encoder *enc)
{
    size_t limit = gossip_retransmit_limit(g);
    size_t dlimit = gossip_data_retransmit_limit(g);
    prune_over_limit(&g->mq, limit);
    prune_over_limit(&g->dq, dlimit);
    size_t full = enc->cap;
    uint32_t added = 0;
    g->fill_stamp++;
    if (g->mq.count > 0) {
        size_t share = (full - enc->len) / 3;
        enc->cap = enc->len + share;
        added += fill_members(g, enc, limit);
        enc->cap = full;
    }
    if (g->dq.count > 0)
        added += fill_data(g, enc, dlimit);
    if (g->mq.count > 0)
        added += fill_members(g, enc, limit);
    added += fill_random_records(g, enc);
    return added;
}
