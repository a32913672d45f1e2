/*
 * entry.h: the versioned entry every node stores and gossips, its clocks,
 * and the merge rule.
 *
 * An entry is one key's current version: a value or a tombstone, stamped with
 * a hybrid logical clock (HLC), the id of the node that wrote it (origin), and
 * a bounded vector clock. Everyone (the store, the gossip core, the
 * simulator) resolves two versions of a key with entry_merge(), so loss,
 * duplication and reordering of gossip cannot make nodes disagree.
 *
 * Pure code: no I/O, no clock reads, no randomness. Time arrives as wall_ms.
 */
#ifndef GKV_STORAGE_ENTRY_H
#define GKV_STORAGE_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keys are 1..1024 bytes of binary (Redis allows 512 MiB; a gossiped key must
 * fit a datagram with room to spare, so 1 KiB). */
#define GKV_KEY_MAX 1024u
/* Default value limit (configurable per store, never above GKV_VALUE_HARD_MAX). */
#define GKV_VALUE_MAX_DEFAULT (1024u * 1024u)
#define GKV_VALUE_HARD_MAX (64u * 1024u * 1024u)

/* Vector clocks hold at most this many (node, counter) pairs. See
 * vclock_merge() for the pruning rule and docs/ARCHITECTURE.md for why
 * pruning cannot make nodes diverge (the merge order is total on HLC). */
#define GKV_VCLOCK_MAX 8u

/* ------------------------------------------------------------------ HLC */

/* An HLC timestamp packs 48 bits of Unix milliseconds and a 16-bit logical
 * counter: (ms << 16) | logical. Comparable as a plain uint64_t. */
#define HLC_LOGICAL_BITS 16
#define HLC_MS(ts) ((ts) >> HLC_LOGICAL_BITS)
#define HLC_LOGICAL(ts) ((ts) & 0xffffu)
#define HLC_MAKE(ms, logical) (((uint64_t)(ms) << HLC_LOGICAL_BITS) | (uint64_t)(logical))

/* Default tolerated lead of a remote clock over ours (CockroachDB: 500 ms). */
#define HLC_MAX_OFFSET_MS_DEFAULT 500u

struct hlc {
    uint64_t last;          /* highest timestamp issued or observed */
    uint64_t max_offset_ms; /* remote timestamps further ahead are refused */
    uint64_t refused;       /* count of remote timestamps refused */
    /* Added to every wall_ms the clock is given: the gossip core sets it on
     * a node whose clock it measured behind the cluster's, so that node
     * stamps and judges versions on the cluster's clock (docs/ARCHITECTURE.md,
     * "Clocks"). 0 otherwise. Only ever moves wall time forward. */
    uint64_t correction_ms;
};

/* max_offset_ms 0 means HLC_MAX_OFFSET_MS_DEFAULT. */
void hlc_init(struct hlc *h, uint64_t max_offset_ms);

/* A timestamp for a local event (a write) at wall time wall_ms. Strictly
 * greater than every timestamp issued or observed before. When the logical
 * part is full (0xffff) and wall time has not moved, the ms part advances by
 * one (the packed value simply increments), so the clock may lead wall time
 * slightly during a burst of more than 65,536 events per ms. */
uint64_t hlc_now(struct hlc *h, uint64_t wall_ms);

/* Observe a remote timestamp at local wall time wall_ms. Returns 0 and
 * advances the clock, or GKV_ECLOCK (and counts it) if HLC_MS(remote) is
 * more than max_offset_ms ahead of wall_ms; the clock is then unchanged. */
int hlc_observe(struct hlc *h, uint64_t remote, uint64_t wall_ms);

/* ------------------------------------------------------------- vclock */

struct vclock_item {
    uint64_t node;
    uint64_t counter;
};

/* Items are kept sorted by node id, no duplicates, counters > 0. */
struct vclock {
    uint32_t n;
    struct vclock_item items[GKV_VCLOCK_MAX];
};

enum vclock_order {
    VCLOCK_EQUAL,
    VCLOCK_BEFORE,     /* a < b: b strictly dominates a */
    VCLOCK_AFTER,      /* a > b: a strictly dominates b */
    VCLOCK_CONCURRENT,
};

void vclock_clear(struct vclock *vc);
uint64_t vclock_get(const struct vclock *vc, uint64_t node);
/* Set node's counter to counter+1 of its current value (a local write).
 * If node is new and the clock is full, the worst-ranked OTHER item (see
 * vclock_merge) is evicted, so the write is always visible in its clock. */
void vclock_increment(struct vclock *vc, uint64_t node);
enum vclock_order vclock_compare(const struct vclock *a, const struct vclock *b);
/* dst = pointwise max(dst, src), then pruned to GKV_VCLOCK_MAX.
 * Pruning rule: keep the GKV_VCLOCK_MAX items with the largest counters;
 * equal counters keep the larger node id. It depends only on the items, so
 * merging a set of clocks gives the same result in any order or grouping:
 * prune(max(prune(max(a, b)), c)) == prune(max(a, b, c)). src may be
 * untrusted (reads are bounded) but should pass vclock_valid() first. */
void vclock_merge(struct vclock *dst, const struct vclock *src);
/* Validate an untrusted clock (sorted, unique, nonzero counters, n bound). */
bool vclock_valid(const struct vclock *vc);

/* -------------------------------------------------------------- entry */

#define ENTRY_TOMBSTONE 0x1u
/* The value bytes are a counter state (storage/counter.h); with
 * ENTRY_TOMBSTONE too when that state reads as an absent key. */
#define ENTRY_COUNTER 0x2u
#define ENTRY_FLAGS_ALL (ENTRY_TOMBSTONE | ENTRY_COUNTER)

/* The largest expire_ms: Redis's (LLONG_MAX ms; PEXPIREAT accepts any
 * positive long long). Stores, logs and the wire refuse larger ones. */
#define ENTRY_EXPIRE_MAX_MS ((uint64_t)INT64_MAX)

/* Memory: key and value point into memory owned by whoever filled the struct
 * (the store's mapping, a decoded packet); the struct never owns them. */
struct entry {
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *value; /* NULL/0 for a tombstone */
    uint32_t value_len;
    uint64_t hlc;
    uint64_t origin; /* node id of the writer */
    uint32_t flags;  /* ENTRY_TOMBSTONE */
    /* When the value expires: absolute Unix ms on the cluster's clock (the
     * HLC's corrected wall time), 0 = never. Part of the version: a change
     * of expiry is a new write with a new HLC, so the merge rule needs no
     * second rule for it. Always 0 on a tombstone. */
    uint64_t expire_ms;
    struct vclock vc;
};

static inline bool entry_is_tombstone(const struct entry *e)
{
    return (e->flags & ENTRY_TOMBSTONE) != 0;
}

/* Has a live value's expiry passed at cluster time now_ms? As Redis
 * (keyIsExpired): a key is expired once now is past its expiry, so at
 * now == expire_ms it still reads (PTTL 0). */
static inline bool entry_is_expired(const struct entry *e, uint64_t now_ms)
{
    return e->expire_ms != 0 && now_ms > e->expire_ms;
}

/* A value that reads as present at now_ms: not a tombstone, not expired. */
static inline bool entry_is_live(const struct entry *e, uint64_t now_ms)
{
    return !entry_is_tombstone(e) && !entry_is_expired(e, now_ms);
}

static inline bool entry_is_counter(const struct entry *e)
{
    return (e->flags & ENTRY_COUNTER) != 0;
}

/* Whether the entry carries value bytes: a live value, or a counter's
 * state (also when it reads as absent). */
static inline bool entry_has_value(const struct entry *e)
{
    return (e->flags & (ENTRY_TOMBSTONE | ENTRY_COUNTER)) != ENTRY_TOMBSTONE;
}

enum merge_result {
    MERGE_KEEP_LOCAL, /* incoming loses (or is the same write): keep local data */
    MERGE_TAKE_INCOMING,
    /* Counters only (storage/counter.h): neither side holds everything the
     * other does; the survivor is their join (counter_join). */
    MERGE_JOIN,
};

/* The merge rule. Decides which of two versions of the same key survives.
 * The winner's data is kept; the survivor's vector clock must become
 * vclock_merge(local.vc, incoming.vc) (the caller applies it).
 *
 * Order: the larger (hlc, origin) wins; on an exact tie a tombstone wins,
 * then the longer value, then the larger value bytes (memcmp), then the
 * later expiry (0, never, counting as latest), so the order
 * is total and the rule commutative, associative and idempotent. Vector-clock
 * dominance agrees with this order for every causally produced pair (a node
 * observes an entry's HLC before it can overwrite it); *dominance_conflict
 * (may be NULL) is set when it does not (incoming wins although local's clock
 * dominates or equals its clock, or local wins although incoming's clock
 * strictly dominates), which callers count. The same write arriving with a
 * different (merged) clock is never a conflict. Clocks are not validated
 * here: validate untrusted ones with vclock_valid() first.
 *
 * When either side is a counter (ENTRY_COUNTER) the versions are not
 * ordered but joined (storage/counter.h): the result says whether the join
 * is one side or needs building (MERGE_JOIN); no dominance conflict is
 * reported for such pairs. */
enum merge_result entry_merge(const struct entry *local, const struct entry *incoming,
                              bool *dominance_conflict);

/* The total order behind entry_merge for plain versions (and counter
 * registers): <0 a before b, 0 the same write, >0 a after b. */
int entry_version_order(const struct entry *a, const struct entry *b);

/* A 64-bit digest of a version: (key, hlc, origin, flags, value, expiry). Used for
 * anti-entropy bucket hashes; identical on every node (no per-node secret). */
uint64_t entry_version_hash(const struct entry *e);

/* ---------------------------------------------------------- purge bound */

/* Tombstone grace default (Cassandra gc_grace_seconds is 10 days; one day
 * here: a node down longer than this must rejoin empty). */
#define ENTRY_TOMBSTONE_GRACE_DEFAULT_MS (24ull * 3600u * 1000u)
/* The purge cutoff moves in steps of grace/16, at most this: every node with
 * the same grace and clocks within a step computes the same cutoff
 * (docs/ARCHITECTURE.md, "Tombstone purge"). */
#define ENTRY_PURGE_STEP_MAX_MS 60000u

/* The shared purge cutoff at wall time now_ms: an HLC; versions dead since
 * before it are purgeable. floor((now_ms - grace_ms) / step) * step in the
 * ms part, step = min(grace_ms / 16, ENTRY_PURGE_STEP_MAX_MS), at least 1;
 * 0 while now_ms <= grace_ms. Monotonic in now_ms. A pure function of its
 * arguments, so two nodes agree on it except within |clock skew| of a step
 * boundary. grace_ms 0 means ENTRY_TOMBSTONE_GRACE_DEFAULT_MS. */
uint64_t entry_purge_cutoff_hlc(uint64_t now_ms, uint64_t grace_ms);

/* The HLC since which e is dead: its own HLC for a tombstone, UINT64_MAX for
 * a live value (never purgeable). Entry kinds that die later (expiry) extend
 * this one function; everything that decides purgeability goes through it. */
static inline uint64_t entry_dead_since_hlc(const struct entry *e)
{
    if (entry_is_tombstone(e))
        return e->hlc;
    /* an expired value is a tombstone dated the ms after its expiry */
    if (e->expire_ms && e->expire_ms < (UINT64_C(1) << 48) - 1)
        return HLC_MAKE(e->expire_ms + 1, 0);
    return UINT64_MAX;
}

/* The one purge predicate: e is dead since before the cutoff. A purgeable
 * entry is purged locally, left out of anti-entropy digests and repairs,
 * and dropped when a peer sends it (docs/ARCHITECTURE.md). */
static inline bool entry_purgeable_at(const struct entry *e, uint64_t cutoff_hlc)
{
    return entry_dead_since_hlc(e) < cutoff_hlc;
}
static inline bool entry_purgeable(const struct entry *e, uint64_t now_ms, uint64_t grace_ms)
{
    return entry_purgeable_at(e, entry_purge_cutoff_hlc(now_ms, grace_ms));
}

/* The anti-entropy bucket of a key among 2^bits buckets: the same on every
 * node (a fixed, cluster-wide hash, not the store's placement secret). */
uint32_t entry_bucket(const void *key, size_t key_len, unsigned bits);

#endif
