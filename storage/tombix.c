/*
 * tombix.c: the tombstone age index, so that tombstones leave the
 * anti-entropy digest and the store in O(tombstones that are due), not
 * O(capacity), and the digest stays a pure function of the entries and the
 * shared purge cutoff (entry_purge_cutoff_hlc).
 *
 * Why: a purge that scanned a fixed number of slots per tick removed about
 * 390 tombstones a second, and a tombstone purged on one node came back
 * from a peer's repair because it was still in that peer's digest (issue
 * 25). Now every node leaves a tombstone out of its bucket hashes from the
 * moment it is dead since before the cutoff ("retired"), whether or not it
 * was purged yet, and never offers or accepts it again.
 *
 * The structure (memory only, rebuilt at open: no format change). Two
 * binary min-heaps of (dead_since HLC, placement hash), ordered by both:
 *   live  tombstones in the digest (dead since >= cutoff), and stale items;
 *   gone  retired tombstones waiting for the purge (their HLC must also be
 *         below the gossip layer's safe bound), and stale items.
 *
 * T1  Bucket hashes hold entry_version_hash of every present entry whose
 *     dead_since >= tix.cutoff, and of no other (store__in_digest; write.c
 *     derived_update and purge_slot, recover.c collect with cutoff 0).
 * T2  Every present tombstone has an item in live (dead_since >= cutoff) or
 *     in gone (below it), unless tix.lost (an allocation failed: the next
 *     purge call rebuilds both heaps from the slots). Pushed by
 *     derived_update for every written tombstone, except a rewrite of the
 *     same tombstone (a merged vector clock), whose item stays valid.
 * T3  Every item in live has dead_since >= cutoff. store__tix_advance moves
 *     the cutoff up to a target, popping the items below it in order and
 *     XORing each one's version out of its bucket (T1) before the cutoff
 *     passes it; with a budget it stops at the next item's dead_since, so
 *     T1 holds at every moment, not only after a whole advance.
 * T4  An item is stale when no slot of the store holds a tombstone with
 *     its hash and dead_since (the key was written again, or purged). It
 *     is recognised when popped (or compacted) by a lookup and dropped.
 *     Duplicate items (possible only after a rebuild during a doubling)
 *     pop one after the other and are skipped. The heaps are compacted when
 *     they hold more than twice the tombstones plus 1024 items, so memory
 *     stays O(tombstones), 16 bytes per item, and each compaction costs
 *     O(n) lookups after at least n/2 stale pushes: O(1) amortized.
 */
#include <stdlib.h>

#include "storage/store_int.h"

static bool item_less(const struct store_tix_item *a, const struct store_tix_item *b)
{
    return a->dead < b->dead || (a->dead == b->dead && a->hash < b->hash);
}

static void sift_up(struct store_tix_heap *h, size_t i)
{
    struct store_tix_item x = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!item_less(&x, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = x;
}

static void sift_down(struct store_tix_heap *h, size_t i)
{
    struct store_tix_item x = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && item_less(&h->v[c + 1], &h->v[c]))
            c++;
        if (!item_less(&h->v[c], &x))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = x;
}

static int heap_push(struct store_tix_heap *h, uint64_t dead, uint64_t hash)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        struct store_tix_item *v = realloc(h->v, cap * sizeof(*v));
        if (!v)
            return GKV_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n] = (struct store_tix_item){.dead = dead, .hash = hash};
    sift_up(h, h->n++);
    return 0;
}

static struct store_tix_item heap_pop(struct store_tix_heap *h)
{
    struct store_tix_item top = h->v[0];
    h->v[0] = h->v[--h->n];
    if (h->n)
        sift_down(h, 0);
    return top;
}

static void heap_free(struct store_tix_heap *h)
{
    free(h->v);
    *h = (struct store_tix_heap){0};
}

void store__tix_free(struct store *s)
{
    heap_free(&s->tix.live);
    heap_free(&s->tix.gone);
}

uint64_t store__tix_bytes(const struct store *s)
{
    return (s->tix.live.cap + s->tix.gone.cap) * sizeof(struct store_tix_item);
}

void store__tix_push(struct store *s, uint64_t hash, uint64_t dead)
{
    if (s->replaying || s->cfg.read_only || s->tix.lost)
        return; /* open rebuilds after the replay; lost: the next purge call does */
    struct store_tix_heap *h = store__in_digest(s, dead) ? &s->tix.live : &s->tix.gone;
    if (heap_push(h, dead, hash) != 0) {
        s->tix.lost = true;
        s->tix.failures++;
    }
}

/* The slot holding a tombstone with this placement hash and dead_since:
 * cur's chain, then old's (while a doubling has not migrated the chain) if
 * cur holds no key with this hash, as lookups see the tables. *t is NULL
 * when the item is stale (T4). */
static const struct fmt_slot *chain_match(const struct store *s, const struct store_table *t,
                                          uint64_t hash, uint64_t dead, bool *any, uint64_t *idx)
{
    uint64_t i = store__home(t, hash);
    for (uint64_t n = 0; n < t->cap; n++, i = (i + 1) & t->mask) {
        uint32_t st = store__slot_state(t, i);
        if (st == FMT_SLOT_EMPTY)
            break;
        if (st != FMT_SLOT_VALUE && st != FMT_SLOT_TOMB)
            continue;
        const struct fmt_slot *sl = &t->slots[i];
        if (sl->hash != hash)
            continue;
        *any = true;
        if (store__slot_dead_since(s, sl) == dead) {
            *idx = i;
            return sl;
        }
    }
    return NULL;
}

static const struct fmt_slot *tix_find(struct store *s, uint64_t hash, uint64_t dead,
                                       struct store_table **t, uint64_t *idx)
{
    bool any = false;
    const struct fmt_slot *sl = chain_match(s, &s->cur, hash, dead, &any, idx);
    *t = &s->cur;
    if (sl || any)
        return sl;
    if (s->growing && !s->mig_committing && store__home(&s->old, hash) >= s->mig_empty_end) {
        *t = &s->old;
        return chain_match(s, &s->old, hash, dead, &any, idx);
    }
    return NULL;
}

/* Drop stale and duplicate items (T4) and restore the heap order. */
static void heap_compact(struct store *s, struct store_tix_heap *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        struct store_table *t;
        uint64_t idx;
        if (tix_find(s, h->v[i].hash, h->v[i].dead, &t, &idx))
            h->v[k++] = h->v[i];
    }
    h->n = k;
    for (size_t i = h->n / 2; i-- > 0;)
        sift_down(h, i);
    /* duplicates: after a rebuild during a doubling only; popping skips them */
}

static void tix_compact_if_due(struct store *s)
{
    size_t n = s->tix.live.n + s->tix.gone.n;
    /* items: tombstones and values that expire (both are in the heaps) */
    if (n <= 2 * (s->tombstones + s->expiring) + 1024)
        return;
    heap_compact(s, &s->tix.live);
    heap_compact(s, &s->tix.gone);
    s->tix.compactions++;
}

/* Rebuild both heaps from the slots (open, or after an allocation failure),
 * partitioned by the current cutoff, which is the partition T1 already
 * holds, so no bucket hash changes. */
void store__tix_build(struct store *s)
{
    s->tix.live.n = s->tix.gone.n = 0;
    s->tix.lost = false;
    s->tix.have_last = false;
    s->tix.retired = 0;
    struct store_table *tabs[2] = {&s->cur, s->growing && !s->mig_committing ? &s->old : NULL};
    for (int k = 0; k < 2 && tabs[k]; k++) {
        struct store_table *t = tabs[k];
        for (uint64_t i = 0; i < t->cap; i++) {
            uint32_t st = store__slot_state(t, i);
            if (st != FMT_SLOT_TOMB && st != FMT_SLOT_VALUE)
                continue;
            const struct fmt_slot *sl = &t->slots[i];
            uint64_t dead = store__slot_dead_since(s, sl); /* expiring values too */
            if (dead == UINT64_MAX)
                continue;
            struct store_table *ft;
            uint64_t idx;
            if (k == 1 && (!tix_find(s, sl->hash, dead, &ft, &idx) || ft != t || idx != i))
                continue; /* an old-table copy cur supersedes */
            struct store_tix_heap *h = store__in_digest(s, dead) ? &s->tix.live : &s->tix.gone;
            if (heap_push(h, dead, sl->hash) != 0) {
                s->tix.lost = true;
                s->tix.failures++;
                return;
            }
            if (h == &s->tix.gone)
                s->tix.retired++;
        }
    }
    s->tix.rebuilds++;
}

/* T3, one step: pop the next valid item of live below target (1: its slot
 * in *t, *idx, and *it; 0: none below target). Stale items and duplicates
 * (T4) are dropped on the way. The caller then retires it
 * (store__tix_retire) or purges it at once (write.c): either way it leaves
 * its bucket hash before the cutoff passes it. */
int store__tix_next_crossing(struct store *s, uint64_t target, struct store_table **t,
                             uint64_t *idx, struct store_tix_item *it)
{
    struct store_tix_heap *h = &s->tix.live;
    while (h->n && h->v[0].dead < target) {
        *it = heap_pop(h);
        bool dup = s->tix.have_last && it->dead == s->tix.last.dead && it->hash == s->tix.last.hash;
        s->tix.last = *it;
        s->tix.have_last = true;
        if (!dup && tix_find(s, it->hash, it->dead, t, idx))
            return 1;
    }
    return 0;
}

/* Out of the bucket hash, into the retired heap (T1, T2). */
void store__tix_retire(struct store *s, const struct store_table *t, uint64_t idx,
                       const struct store_tix_item *it)
{
    const struct fmt_slot *sl = &t->slots[idx];
    s->buckets[sl->bucket] ^= store__rec(&s->heap, sl->rec_off)->vhash;
    s->tix.retired++;
    if (heap_push(&s->tix.gone, it->dead, it->hash) != 0) {
        s->tix.lost = true;
        s->tix.failures++;
    }
}

/* T3: the cutoff moves to target, or to the first item still below it
 * (a budget ran out): everything below has left the digest. Never back. */
void store__tix_set_cutoff(struct store *s, uint64_t target)
{
    const struct store_tix_heap *h = &s->tix.live;
    uint64_t to = h->n && h->v[0].dead < target ? h->v[0].dead : target;
    if (to > s->tix.cutoff)
        s->tix.cutoff = to;
}

/* T3: move the cutoff up towards target, retiring at most budget items. */
void store__tix_advance(struct store *s, uint64_t target, uint64_t budget)
{
    if (s->cfg.read_only || target <= s->tix.cutoff)
        return;
    struct store_table *t;
    uint64_t idx;
    struct store_tix_item it;
    while (budget-- && store__tix_next_crossing(s, target, &t, &idx, &it) == 1)
        store__tix_retire(s, t, idx, &it);
    store__tix_set_cutoff(s, target);
}

/* The next retired tombstone to purge, oldest first, dead since before
 * limit: 1 with its slot (in cur; the item is popped), 0 when none is due
 * or the next one is still in the old table (purged once migrated). */
int store__tix_pop_due(struct store *s, uint64_t limit, struct store_table **t, uint64_t *idx)
{
    struct store_tix_heap *h = &s->tix.gone;
    while (h->n && h->v[0].dead < limit) {
        struct store_tix_item it = h->v[0];
        const struct fmt_slot *sl = tix_find(s, it.hash, it.dead, t, idx);
        if (sl && *t != &s->cur)
            return 0;
        (void)heap_pop(h);
        if (sl)
            return 1;
        /* stale, or a duplicate already purged */
    }
    return 0;
}

/* Once per purge call: rebuild after a failure, compact. */
void store__tix_maintain(struct store *s)
{
    if (s->tix.lost)
        store__tix_build(s);
    tix_compact_if_due(s);
}

uint64_t store_purge_cutoff_hlc(const struct store *s)
{
    return s->tix.cutoff;
}

bool store_entry_offered(const struct store *s, const struct entry *e)
{
    return !entry_purgeable_at(e, s->tix.cutoff);
}

/* The oldest tombstone's dead_since (0: none), from the heaps' tops: a
 * stale top (T4) may make it older than the truth until it is popped. */
uint64_t store__tix_oldest(const struct store *s)
{
    uint64_t o = UINT64_MAX;
    if (s->tix.live.n)
        o = s->tix.live.v[0].dead;
    if (s->tix.gone.n && s->tix.gone.v[0].dead < o)
        o = s->tix.gone.v[0].dead;
    return o == UINT64_MAX ? 0 : o;
}
