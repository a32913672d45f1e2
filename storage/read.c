/*
 * read.c: the read path of the store: store_get, store_get_batch,
 * store_scan and the anti-entropy bucket hashes.
 *
 * Owns: reading a version out of a slot and its record, through the read
 * cache (rcache.c) when it has the key. Reads never change a slot or a
 * record; the only state they touch is the read cache and the counters.
 * A returned entry borrows the store's mapping until the next write.
 *
 * Hot path: get_one and its slow path live here; the probe they use
 * (store__locate_for, store_int.h) is static inline, so a get costs the
 * same calls as before the store was split across files.
 */
#include <string.h>

#include "common/errors.h"
#include "storage/store_int.h"

/* --------------------------------------------------------------- reads */

/* The record offset of slot idx of t (from its index word when it has one). */
static uint64_t slot_rec_off(const struct store_table *t, uint64_t idx)
{
    uint32_t w = t->ix ? t->ix[idx] : 0;
    if (!t->ix || (w >> 6) == STORE_IX_ESCAPE)
        return t->slots[idx].rec_off;
    return (uint64_t)(w >> 6) * FMT_GRANULE;
}

/* A get the read cache could not answer (or a store without one): the
 * SipHash path, and the answer into the cache. Out of line, so the cached
 * path of store_get saves no registers. */
__attribute__((noinline)) static int get_slow(struct store *s, const void *key, size_t key_len,
                                              uint64_t fh, struct entry *out)
{
    if (s->rc.e)
        s->rc_misses++;
    struct store_loc l;
    store__locate_for(s, store__key_hash(s, key, key_len), key, (uint32_t)key_len, false, &l);
    if (!l.t)
        return GKV_ENOTFOUND;
    if (s->rc.e)
        store__rc_set(s, fh, slot_rec_off(l.t, (uint64_t)l.idx));
    if (out)
        store__entry_at(s, l.t, (uint64_t)l.idx, out);
    return 0;
}

/* One key of store_get / store_get_batch, whose key is checked. fh: its
 * read-cache hash (unused without a cache). */
static inline int get_one(struct store *s, const void *key, size_t key_len, uint64_t fh,
                          struct entry *out)
{
    s->st.gets++;
    if (s->rc.e) {
        const struct fmt_record *r = store__rc_find(s, fh, key, (uint32_t)key_len);
        if (r) {
            if (out)
                store__entry_from_rec(r, out);
            return 0;
        }
    }
    return get_slow(s, key, key_len, fh, out);
}

bool store_offers_version(struct store *s, const struct entry *e)
{
    if (!e || !e->key || e->key_len == 0 || e->key_len > GKV_KEY_MAX)
        return false;
    struct store_loc l;
    store__locate_for(s, store__key_hash(s, e->key, e->key_len), e->key, e->key_len, false, &l);
    if (!l.t)
        return false; /* purged */
    const struct fmt_slot *sl = &l.t->slots[l.idx];
    if (!store__in_digest(s, store__slot_dead_since(s, sl)))
        return false; /* retired */
    if (sl->hlc == e->hlc && sl->origin == e->origin)
        return true;
    /* Counter states join (storage/counter.h): an older one is not stale,
     * only less complete, and the store's join may differ from every
     * delta it came from. */
    return entry_is_counter(e) && (store__rec(&s->heap, sl->rec_off)->flags & ENTRY_COUNTER);
}

int store_get(struct store *s, const void *key, size_t key_len, struct entry *out)
{
    if (!key || key_len == 0 || key_len > GKV_KEY_MAX)
        return GKV_EKEYSIZE; /* store__check_key, in line */
    return get_one(s, key, key_len, s->rc.e ? store__rc_hash(s, key, key_len) : 0, out);
}

int store_get_batch(struct store *s, uint32_t n, const void *const *keys, const size_t *key_lens,
                    struct entry *out, int *rcs)
{
    if (n > STORE_GET_BATCH_MAX || (n > 0 && (!keys || !key_lens || !rcs)))
        return GKV_EINVAL;
    uint64_t h[STORE_GET_BATCH_MAX];
    if (s->rc.e) {
        /* With the read cache: every key's cache bucket on its way, then
         * the records its entries name, then the lookups (store_get's). */
        for (uint32_t i = 0; i < n; i++) {
            if ((rcs[i] = store__check_key(keys[i], key_lens[i])) != 0)
                continue;
            h[i] = store__rc_hash(s, keys[i], key_lens[i]);
            __builtin_prefetch(store__rc_bucket_of(s, h[i]));
        }
        for (uint32_t i = 0; i < n; i++)
            if (rcs[i] == 0)
                store__rc_prefetch(s, h[i]);
        for (uint32_t i = 0; i < n; i++)
            if (rcs[i] == 0)
                rcs[i] = get_one(s, keys[i], key_lens[i], h[i], out ? &out[i] : NULL);
        return 0;
    }
    const struct store_table *c = &s->cur, *o = &s->old;
    bool old = s->growing && !s->mig_committing;
    /* 1. Every key's hash, and the first index word of each on its way: n
     * hashes take longer than one memory access, so the words have arrived
     * by the time step 2 reads them. */
    for (uint32_t i = 0; i < n; i++) {
        if ((rcs[i] = store__check_key(keys[i], key_lens[i])) != 0)
            continue;
        h[i] = store__key_hash(s, keys[i], key_lens[i]);
        if (c->ix)
            __builtin_prefetch(&c->ix[store__home(c, h[i])]);
        if (old && o->ix && store__home(o, h[i]) >= s->mig_empty_end)
            __builtin_prefetch(&o->ix[store__home(o, h[i])]);
    }
    /* 2. The candidate records of every key on their way, all at once. */
    for (uint32_t i = 0; i < n; i++) {
        if (rcs[i] != 0)
            continue;
        store__prefetch_lookup(s, c, h[i]);
        if (old && store__home(o, h[i]) >= s->mig_empty_end)
            store__prefetch_lookup(s, o, h[i]);
    }
    /* 3. The lookups, exactly as store_get's: steps 1 and 2 only moved
     * memory into the cache, so the answers cannot differ. */
    for (uint32_t i = 0; i < n; i++) {
        if (rcs[i] != 0)
            continue;
        s->st.gets++;
        struct store_loc l;
        store__locate_for(s, h[i], keys[i], (uint32_t)key_lens[i], false, &l);
        if (!l.t) {
            rcs[i] = GKV_ENOTFOUND;
            continue;
        }
        if (out)
            store__entry_at(s, l.t, (uint64_t)l.idx, &out[i]);
    }
    return 0;
}

/* Visit the entries of table t whose hash lies in [lo, hi] (inclusive). The
 * walk starts at lo's home and runs until it has passed hi's home and met an
 * EMPTY slot: every entry's slot is in the non-empty run that starts at its
 * home, so the walk covers all of them (I1). */
static int scan_range(struct store *s, const struct store_table *t, uint64_t lo, uint64_t hi,
                      store_scan_cb cb, void *arg)
{
    uint64_t first = store__home(t, lo), last = store__home(t, hi);
    for (uint64_t p = first, n = 0; n < t->cap; p++, n++) {
        const struct fmt_slot *sl = &t->slots[p & t->mask];
        uint32_t st = store__slot_state(t, p & t->mask);
        if (st == FMT_SLOT_EMPTY) {
            if (p >= last)
                break;
            continue;
        }
        if ((st == FMT_SLOT_VALUE || st == FMT_SLOT_TOMB) && sl->hash >= lo && sl->hash <= hi) {
            struct entry e;
            store__entry_from_slot(s, sl, &e);
            int r = cb(arg, &e);
            if (r != 0)
                return r;
        }
    }
    return 0;
}

int store_scan(struct store *s, uint64_t *cursor, uint32_t count, store_scan_cb cb, void *arg)
{
    if (!cursor || !cb)
        return GKV_EINVAL;
    if (count == 0)
        count = 1;
    /* The cursor is a position in hash space, not a slot index: "every hash
     * below the cursor has been visited". Homes are the hash's high bits in
     * every table size (store__home), so the cursor means the same thing
     * after a doubling, and during one both tables are walked for the same
     * hash range (Redis SCAN's guarantee, without its reverse-bit trick). */
    uint64_t lo = *cursor;
    unsigned shift = 64 - s->cur.bits;
    uint64_t span = count >= s->cur.cap ? 0 : ((uint64_t)count << shift);
    bool last = span == 0 || lo > UINT64_MAX - span || lo + span == 0;
    uint64_t hi = last ? UINT64_MAX : lo + span - 1;
    int r = scan_range(s, &s->cur, lo, hi, cb, arg);
    if (r == 0 && s->growing && !s->mig_committing)
        r = scan_range(s, &s->old, lo, hi, cb, arg);
    if (r != 0)
        return 0; /* stopped early: the cursor stays (a resume revisits the range) */
    *cursor = last ? 0 : hi + 1;
    return 0;
}

/* store_bucket_scan: bucketix.c */

const uint64_t *store_bucket_hashes(const struct store *s)
{
    return s->buckets;
}

uint64_t store_root_hash(const struct store *s)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < STORE_BUCKETS; i++)
        r ^= s->buckets[i];
    return r;
}
