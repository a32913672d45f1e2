/*
 * bucketix.c: the per-bucket key index, so that store_bucket_scan lists one
 * anti-entropy bucket in O(entries of the bucket), not O(capacity).
 *
 * Why: anti-entropy repairs a few differing buckets at a time
 * (gossip/sync.c) and re-lists a half-sent bucket every tick. Listing one
 * of the 1024 buckets by reading every slot costs the whole table (128 MiB
 * of slots at 1M keys, tens of ms on the node's loop) for about 1/1024 of
 * it; a small divergence then stalls clients.
 *
 * The structure (in memory only, rebuilt at open, never on disk: no format
 * change). Per bucket, a vector of the 64-bit placement hashes
 * (store__key_hash) of its keys. Placement hashes do not depend on the
 * table, so a doubling, which moves slots between tables, changes nothing
 * here; only a key entering or leaving the store does.
 *
 * B1  Every key present in bucket b (in cur, or in old while a doubling is
 *     in progress) has its hash in b's vector. Maintained by:
 *       - store__bix_build: one pass over the live slots of both tables
 *         (store_open, after recovery and the log replay; grow_start);
 *       - store__bix_add: write_version, whenever it inserts a key that
 *         was absent (a new put, a delete of an absent key, which writes a
 *         tombstone, a merge of a new key, the log replay);
 *       - nothing else can make a key present (migration and kill_old move
 *         a key between tables; recovery's drops precede the build).
 * B2  A vector may also hold hashes of no present key ("stale": the key's
 *     tombstone was purged, purge_slot calls store__bix_remove) and the
 *     same hash twice (a purged key came back, or two keys share a 64-bit
 *     hash). Removal only counts (bk->stale): finding the hash would cost
 *     O(bucket) per purge, and a purge pass runs up to 1024 of them per
 *     tick. Once the stale count reaches half the vector, the bucket is
 *     compacted: sorted, duplicates and hashes with no present key dropped.
 *     Each compaction costs O(n) lookups after at least n/2 removals, so
 *     O(1) amortized per removal, and a vector holds at most about twice
 *     the bucket's keys (8-16 bytes per key).
 * B3  A scan sorts the vector (only if an append broke the order), then for
 *     each distinct hash walks its probe chain in cur, and in old (as
 *     locate_for does: cur first, old only for keys cur does not hold),
 *     visiting every live slot with that hash and bucket. By B1 every
 *     present entry of the bucket is reached; distinct hashes and one key
 *     per table slot make it exactly once. The order is by hash, so it is
 *     the same from call to call until a key enters or leaves the bucket
 *     (sync.c resumes a half-sent bucket by counting entries); a doubling
 *     does not change it (the full scan's slot order did change).
 * B4  Out of memory: the index is dropped (counted in
 *     bucket_index_failures) and scans read the whole table again, which
 *     is slow but complete; store__bix_build retries at the next doubling
 *     or open. Nothing else allocates (sorting and compaction work in
 *     place), so a failure can never leave a vector missing a hash.
 *
 * A chain walk costs what a lookup costs: the index word of each slot on
 * the chain (file-backed stores), the 64-byte slot on a 4-bit tag match,
 * then the record for the callback's entry. The hash itself does not say
 * which bucket it is in (buckets come from a cluster-wide hash,
 * entry_bucket, placement from the file's secret), so the slot's bucket
 * field is checked too.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "storage/store_int.h"

/* Smallest vector allocated (elements): one 32-byte malloc chunk. */
#define BIX_MIN_CAP 4u

static uint64_t min_slots(const struct store *s)
{
    return s->cfg.bucket_index_min_slots ? s->cfg.bucket_index_min_slots
                                         : STORE_BIX_MIN_SLOTS_DEFAULT;
}

/* The test hook's countdown: does this allocation fail? */
static bool fail_now(struct store *s)
{
    if (s->bix.fail_countdown == 0)
        return false;
    return --s->bix.fail_countdown == 0;
}

void store__bix_fail_after(struct store *s, uint64_t n)
{
    s->bix.fail_countdown = n;
}

void store__bix_free(struct store *s)
{
    if (s->bix.b) {
        for (uint32_t i = 0; i < STORE_BUCKETS; i++)
            free(s->bix.b[i].v);
        free(s->bix.b);
    }
    s->bix.b = NULL;
    s->bix.bytes = 0;
}

/* B4: drop the index, count the failure. */
static void bix_drop(struct store *s)
{
    store__bix_free(s);
    s->bix.failures++;
}

void store__bix_add_slow(struct store *s, uint32_t bucket, uint64_t hash)
{
    if (!s->bix.b)
        return;
    struct store_bix_bucket *bk = &s->bix.b[bucket];
    if (bk->n == bk->cap) {
        /* Grow by half (not double): the vectors are most of the index's
         * memory, and 1.5x keeps the slack at a quarter on average. */
        uint64_t nc = (uint64_t)bk->cap + bk->cap / 2;
        if (nc < BIX_MIN_CAP)
            nc = BIX_MIN_CAP;
        if (nc > UINT32_MAX)
            nc = UINT32_MAX;
        uint64_t *nv = nc > bk->cap && !fail_now(s) ? realloc(bk->v, nc * sizeof *nv) : NULL;
        if (!nv) {
            bix_drop(s);
            return;
        }
        s->bix.bytes += (nc - bk->cap) * sizeof *nv;
        bk->v = nv;
        bk->cap = (uint32_t)nc;
    }
    if (bk->n && bk->v[bk->n - 1] > hash)
        bk->sorted = false;
    bk->v[bk->n++] = hash;
}

/* ---------------------------------------------------------- chain walks */

/* What a walk does with each live entry of the bucket with the hash. */
struct walk {
    store_scan_cb cb; /* NULL: only find out whether there is one */
    void *arg;
    uint64_t found;   /* entries found (counting across both tables) */
    bool stopped;     /* cb returned nonzero, or (cb NULL) one was found */
};

/* Walk hash's probe chain in t (I1: every slot of a key lies in the
 * non-empty run from its home) and hand each live slot holding a key with
 * this hash in this bucket to w. In old, a key that cur also holds is
 * skipped (cur's copy is the current one, as in locate_for; outside a
 * migration step there is none, I4). */
static void walk_chain(struct store *s, const struct store_table *t, bool is_old, uint64_t hash,
                       uint32_t bucket, uint64_t found_in_cur, struct walk *w)
{
    uint64_t i = store__home(t, hash);
    uint32_t tag = (uint32_t)(hash & 0xfu);
    for (uint64_t n = 0; n < t->cap; n++, i = (i + 1) & t->mask) {
        if (t->ix) {
            uint32_t word = t->ix[i], st = word & 3u;
            if (st == FMT_SLOT_EMPTY)
                break;
            if (st == FMT_SLOT_DEAD || ((word >> 2) & 0xfu) != tag)
                continue;
        } else {
            uint32_t st = t->slots[i].state;
            if (st == FMT_SLOT_EMPTY)
                break;
            if (st != FMT_SLOT_VALUE && st != FMT_SLOT_TOMB)
                continue;
        }
        const struct fmt_slot *sl = &t->slots[i];
        if (sl->hash != hash || sl->bucket != bucket)
            continue;
        struct entry e;
        store__entry_from_slot(s, sl, &e);
        if (is_old && found_in_cur > 0 &&
            store__find(s, &s->cur, hash, e.key, e.key_len, NULL) >= 0)
            continue;
        w->found++;
        if (!w->cb || w->cb(w->arg, &e) != 0) {
            w->stopped = true;
            return;
        }
    }
}

/* Both tables, as lookups see them: cur, then old while a doubling is in
 * progress and hash's chain there is not wholly migrated (mig_empty_end,
 * as in locate_for). */
static void walk_hash(struct store *s, uint64_t hash, uint32_t bucket, struct walk *w)
{
    walk_chain(s, &s->cur, false, hash, bucket, 0, w);
    if (w->stopped)
        return;
    if (s->growing && !s->mig_committing && store__home(&s->old, hash) >= s->mig_empty_end)
        walk_chain(s, &s->old, true, hash, bucket, w->found, w);
}

/* A scan knows every hash it will look up, so the misses of later ones
 * can overlap the current one (a chain walk is three dependent misses:
 * index word, slot, record). Stage 1, PREFETCH_AHEAD hashes ahead: the
 * home's index word and slot, whose addresses the hash alone gives.
 * Stage 2, half as far ahead: those have arrived, so the home's record
 * offset is known; fetch the record (most keys sit at their home). 8: about
 * the misses a core keeps in flight (10-12 line fill buffers) over two
 * stages. */
#define PREFETCH_AHEAD 8u

static void prefetch_home(const struct store *s, uint64_t hash)
{
    const struct store_table *t = &s->cur;
    uint64_t i = store__home(t, hash);
    if (t->ix)
        __builtin_prefetch(&t->ix[i]);
    __builtin_prefetch(&t->slots[i]);
}

static void prefetch_record(const struct store *s, uint64_t hash)
{
    const struct store_table *t = &s->cur;
    uint64_t i = store__home(t, hash), off;
    if (t->ix) {
        uint32_t w = t->ix[i];
        if ((w & 3u) == FMT_SLOT_EMPTY || (w & 3u) == FMT_SLOT_DEAD ||
            ((w >> 2) & 0xfu) != (hash & 0xfu) || (w >> 6) == STORE_IX_ESCAPE)
            return;
        off = (uint64_t)(w >> 6) * FMT_GRANULE;
    } else {
        const struct fmt_slot *sl = &t->slots[i];
        if (sl->hash != hash)
            return;
        off = sl->rec_off;
    }
    if (off < s->heap.file_bytes)
        __builtin_prefetch(s->heap.map + off);
}

/* Sorting a bucket's hashes, in place (no allocation, B4). An introsort:
 * quicksort on a median of three, insertion sort below 24 elements, heap
 * sort past 2 log2(n) levels (hashes are keyed SipHash, so the fallback
 * is for pathological input only); recursion only into the smaller part.
 * libc's qsort with its comparison callback took 68 us for 1,000 hashes,
 * this 15 us (the first scan of a bucket after writes sorts it). */
#define SORT_SMALL 24u

static void swap_u64(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

static void sort_insertion(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > x; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static void sift_down(uint64_t *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c + 1] > a[c])
            c++;
        if (a[i] >= a[c])
            return;
        swap_u64(&a[i], &a[c]);
        i = c;
    }
}

static void sort_heap(uint64_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t e = n; e-- > 1;) {
        swap_u64(&a[0], &a[e]);
        sift_down(a, 0, e);
    }
}

static void sort_intro(uint64_t *a, size_t n, unsigned depth)
{
    while (n > SORT_SMALL) {
        if (depth-- == 0) {
            sort_heap(a, n);
            return;
        }
        /* a[0] <= a[mid] <= a[n-1]: both scans below stop inside, and both
         * parts are non-empty (Hoare's partition with pivot value a[mid]) */
        size_t mid = n / 2;
        if (a[mid] < a[0])
            swap_u64(&a[mid], &a[0]);
        if (a[n - 1] < a[mid]) {
            swap_u64(&a[n - 1], &a[mid]);
            if (a[mid] < a[0])
                swap_u64(&a[mid], &a[0]);
        }
        uint64_t p = a[mid];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < p)
                i++;
            while (a[j] > p)
                j--;
            if (i >= j)
                break;
            swap_u64(&a[i], &a[j]);
            i++;
            j--;
        }
        size_t left = j + 1; /* [0, left) <= p <= [left, n) */
        if (left < n - left) {
            sort_intro(a, left, depth);
            a += left;
            n -= left;
        } else {
            sort_intro(a + left, n - left, depth);
            n = left;
        }
    }
    sort_insertion(a, n);
}

static void bucket_sort(struct store_bix_bucket *bk)
{
    if (bk->sorted)
        return;
    if (bk->n > 1)
        sort_intro(bk->v, bk->n, 2u * (64u - (unsigned)__builtin_clzll(bk->n)));
    bk->sorted = true;
}

/* B2: drop duplicates and stale hashes of one bucket, in place. */
static void bucket_compact(struct store *s, uint32_t bucket)
{
    struct store_bix_bucket *bk = &s->bix.b[bucket];
    bucket_sort(bk);
    uint32_t keep = 0;
    for (uint32_t k = 0; k < bk->n; k++) {
        uint64_t h = bk->v[k];
        if (keep > 0 && bk->v[keep - 1] == h)
            continue;
        struct walk w = {0};
        walk_hash(s, h, bucket, &w);
        if (w.found)
            bk->v[keep++] = h;
    }
    bk->n = keep;
    bk->stale = 0;
    s->bix.compactions++;
    /* Give memory back when the bucket shrank to a quarter of its vector
     * (to twice its size: a regrowth does not reallocate at once). A
     * failed shrink keeps the larger vector; nothing is lost. */
    if (bk->n == 0) {
        s->bix.bytes -= (uint64_t)bk->cap * sizeof *bk->v;
        free(bk->v);
        bk->v = NULL;
        bk->cap = 0;
    } else if (bk->cap > BIX_MIN_CAP && bk->n < bk->cap / 4) {
        uint32_t nc = bk->n * 2 > BIX_MIN_CAP ? bk->n * 2 : BIX_MIN_CAP;
        uint64_t *nv = realloc(bk->v, (size_t)nc * sizeof *nv);
        if (nv) {
            s->bix.bytes -= (uint64_t)(bk->cap - nc) * sizeof *nv;
            bk->v = nv;
            bk->cap = nc;
        }
    }
}

void store__bix_remove(struct store *s, uint32_t bucket)
{
    if (!s->bix.b || bucket >= STORE_BUCKETS)
        return;
    struct store_bix_bucket *bk = &s->bix.b[bucket];
    bk->stale++;
    if ((uint64_t)bk->stale * 2 >= bk->n)
        bucket_compact(s, bucket);
}

/* ---------------------------------------------------------------- build */

void store__bix_build(struct store *s)
{
    if (s->bix.b || s->cfg.read_only || s->cur.cap < min_slots(s))
        return;
    size_t hbytes = STORE_BUCKETS * sizeof *s->bix.b;
    s->bix.b = fail_now(s) ? NULL : calloc(STORE_BUCKETS, sizeof *s->bix.b);
    if (!s->bix.b) {
        s->bix.failures++;
        return;
    }
    s->bix.bytes = hbytes;
    for (uint32_t i = 0; i < STORE_BUCKETS; i++)
        s->bix.b[i].sorted = true;
    const struct store_table *ts[2] = {&s->cur, s->growing && !s->mig_committing ? &s->old : NULL};
    for (int k = 0; k < 2 && s->bix.b; k++) {
        const struct store_table *t = ts[k];
        if (!t)
            continue;
        for (uint64_t i = 0; i < t->cap && s->bix.b; i++) {
            uint32_t st = store__slot_state(t, i);
            if (st != FMT_SLOT_VALUE && st != FMT_SLOT_TOMB)
                continue;
            const struct fmt_slot *sl = &t->slots[i];
            /* recovery checked bucket == entry_bucket(key) for every slot */
            if (sl->bucket < STORE_BUCKETS)
                store__bix_add(s, sl->bucket, sl->hash);
        }
    }
}

/* ----------------------------------------------------------------- scans */

int store__bucket_scan_full(struct store *s, uint32_t bucket, store_scan_cb cb, void *arg)
{
    if (bucket >= STORE_BUCKETS || !cb)
        return GKV_EINVAL;
    /* O(capacity): slots carry their bucket, so this reads slots only (64
     * bytes each, sequentially) and touches records just for the matches. */
    const struct store_table *ts[2] = {&s->cur, s->growing && !s->mig_committing ? &s->old : NULL};
    for (int k = 0; k < 2; k++) {
        const struct store_table *t = ts[k];
        if (!t)
            continue;
        for (uint64_t i = 0; i < t->cap; i++) {
            const struct fmt_slot *sl = &t->slots[i];
            uint32_t st = store__slot_state(t, i);
            if ((st == FMT_SLOT_VALUE || st == FMT_SLOT_TOMB) && sl->bucket == bucket) {
                struct entry e;
                store__entry_from_slot(s, sl, &e);
                if (cb(arg, &e) != 0)
                    return 0;
            }
        }
    }
    return 0;
}

int store_bucket_scan(struct store *s, uint32_t bucket, store_scan_cb cb, void *arg)
{
    if (bucket >= STORE_BUCKETS || !cb)
        return GKV_EINVAL;
    if (!s->bix.b) {
        s->bix.full_scans++;
        return store__bucket_scan_full(s, bucket, cb, arg);
    }
    struct store_bix_bucket *bk = &s->bix.b[bucket];
    bucket_sort(bk);
    struct walk w = {.cb = cb, .arg = arg};
    /* cb must not write (store.h); should one anyway, re-reading v and n
     * each round keeps this within the vector (no use after a realloc). */
    for (uint32_t k = 0; k < bk->n; k++) {
        if (k + PREFETCH_AHEAD < bk->n)
            prefetch_home(s, bk->v[k + PREFETCH_AHEAD]);
        if (k + PREFETCH_AHEAD / 2 < bk->n)
            prefetch_record(s, bk->v[k + PREFETCH_AHEAD / 2]);
        uint64_t h = bk->v[k];
        if (k > 0 && bk->v[k - 1] == h)
            continue;
        walk_hash(s, h, bucket, &w);
        if (w.stopped)
            return 0;
    }
    return 0;
}
