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
 *       - store__bix_add: write_version (write.c), whenever it inserts a key that
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
 *     the same from call to call until a key enters or leaves the bucket;
 *     a doubling does not change it (the full scan's slot order did).
 * B4  Out of memory: the index is dropped (counted in
 *     bucket_index_failures) and scans read the whole table again, which
 *     is slow but complete; store__bix_build retries at the next doubling
 *     or open. Nothing else allocates (sorting and compaction work in
 *     place), so a failure can never leave a vector missing a hash.
 *
 * B5  Resumable listing (store_bucket_scan_from): the scan starts at the
 *     first hash >= *from_hash by binary search in the sorted vector, so a
 *     call costs O(log n + entries visited), not O(n) (sync.c lists a
 *     half-sent bucket a budget at a time; resuming by count re-walked
 *     everything already sent, O(n^2 / budget) lookups for a bucket that
 *     a client filled by choosing keys, entry_bucket being public). When
 *     cb asks to stop at an entry with hash h, the scan first hands cb the
 *     other entries with hash h (two keys share a keyed 64-bit hash only by
 *     chance), then sets *from_hash = h + 1 and returns 1: the stopping
 *     entry is not listed again, and nothing below h + 1 is left unlisted.
 *     0 means the listing is complete (also a stop at the bucket's largest
 *     hash, or at UINT64_MAX, which has no h + 1). A placement hash never
 *     changes while its key is present (it depends on the key and the
 *     file's secret, not on the table), so doublings, other keys' writes
 *     and the index being dropped or rebuilt between calls cannot move an
 *     entry across the resume point: every entry present from the first
 *     call to the last, with a hash >= the first *from_hash, is listed at
 *     least once (exactly once unless a key left and came back).
 * B6  Without the index (a small store, or B4), the same contract from the
 *     slots: one pass over both tables collects the smallest distinct
 *     hashes >= *from_hash of the bucket (256 on the stack, then batches of
 *     64 Ki on the heap if malloc allows), each walked as in B3, and the
 *     next pass starts past the batch. A call costs O(capacity x (1 +
 *     entries visited / batch)) slot reads: one pass for a normal bucket
 *     (capacity / 1024 keys), and a bucket that a client filled reads the
 *     table once per batch of its keys. Small stores only, or a degraded
 *     one (B4).
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
    /* B5: a stop takes effect once every entry with the current hash has
     * been handed to cb (their return values are then ignored), so that a
     * resume from hash + 1 skips nothing. */
    bool finish_hash;
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
        if (!w->cb) {
            w->stopped = true;
            return;
        }
        if (w->cb(w->arg, &e) != 0 && !w->stopped) {
            w->stopped = true;
            if (!w->finish_hash)
                return;
        }
    }
}

/* Both tables, as lookups see them: cur, then old while a doubling is in
 * progress and hash's chain there is not wholly migrated (mig_empty_end,
 * as in locate_for). */
static void walk_hash(struct store *s, uint64_t hash, uint32_t bucket, struct walk *w)
{
    uint64_t before = w->found;
    walk_chain(s, &s->cur, false, hash, bucket, 0, w);
    if (w->stopped && !w->finish_hash)
        return;
    if (s->growing && !s->mig_committing && store__home(&s->old, hash) >= s->mig_empty_end)
        walk_chain(s, &s->old, true, hash, bucket, w->found - before, w);
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

/* The live slots of one bucket in the tables a lookup reads (cur, and old
 * while a doubling has not committed), in table order: the whole-table
 * walk that store__bucket_scan_full and the index-less resumable listing
 * share. Start with a zeroed cursor; NULL at the end. */
struct bucket_slots {
    int t;      /* 0 cur, 1 old */
    uint64_t i; /* next slot of that table */
};

static const struct fmt_slot *next_bucket_slot(const struct store *s, uint32_t bucket,
                                               struct bucket_slots *c)
{
    const struct store_table *ts[2] = {&s->cur, s->growing && !s->mig_committing ? &s->old : NULL};
    for (; c->t < 2; c->t++, c->i = 0) {
        const struct store_table *t = ts[c->t];
        while (t && c->i < t->cap) {
            uint64_t i = c->i++;
            const struct fmt_slot *sl = &t->slots[i];
            uint32_t st = store__slot_state(t, i);
            if ((st == FMT_SLOT_VALUE || st == FMT_SLOT_TOMB) && sl->bucket == bucket)
                return sl;
        }
    }
    return NULL;
}

int store__bucket_scan_full(struct store *s, uint32_t bucket, store_scan_cb cb, void *arg)
{
    if (bucket >= STORE_BUCKETS || !cb)
        return GKV_EINVAL;
    /* O(capacity): slots carry their bucket, so this reads slots only (64
     * bytes each, sequentially) and touches records just for the matches. */
    struct bucket_slots c = {0};
    const struct fmt_slot *sl;
    while ((sl = next_bucket_slot(s, bucket, &c)) != NULL) {
        struct entry e;
        store__entry_from_slot(s, sl, &e);
        if (cb(arg, &e) != 0)
            return 0;
    }
    return 0;
}

/* Index of the first hash >= from in v[0..n) (n if none). */
static uint32_t lower_bound(const uint64_t *v, uint32_t n, uint64_t from)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Walk the distinct hashes v[k..n) (ascending; duplicates adjacent) in
 * order. Returns 0 when the walk reached the end, or 1 after a stop, with
 * *from_hash set to the resume point (B5). more_after: whether hashes
 * beyond v[n - 1] may exist (a full batch of the fallback). */
static int walk_sorted(struct store *s, uint32_t bucket, const uint64_t *v, uint32_t n,
                       uint32_t k, bool more_after, struct walk *w, uint64_t *from_hash)
{
    for (; k < n; k++) {
        if (k + PREFETCH_AHEAD < n)
            prefetch_home(s, v[k + PREFETCH_AHEAD]);
        if (k + PREFETCH_AHEAD / 2 < n)
            prefetch_record(s, v[k + PREFETCH_AHEAD / 2]);
        uint64_t h = v[k];
        if (k > 0 && v[k - 1] == h)
            continue;
        walk_hash(s, h, bucket, w);
        if (!w->stopped)
            continue;
        /* Stopped after every entry with hash h (B5). Complete if no
         * larger hash can follow: say so rather than hand out h + 1. */
        uint32_t j = k + 1;
        while (j < n && v[j] == h)
            j++;
        if (h == UINT64_MAX || (j == n && !more_after))
            return 0;
        *from_hash = h + 1;
        return 1;
    }
    return 0;
}

/* B6, no index: collect the (up to cap) smallest distinct hashes >= from
 * of the bucket's live slots, in both tables, into out (ascending). One
 * read of every slot. Slots sit roughly in hash order (homes are the
 * hash's high bits), so once out is full most hashes are past its last and
 * rejected by one compare; an insertion is a binary search and a move of
 * at most cap elements. */
static uint32_t collect_smallest(struct store *s, uint32_t bucket, uint64_t from, uint64_t *out,
                                 uint32_t cap)
{
    uint32_t n = 0;
    struct bucket_slots c = {0};
    const struct fmt_slot *sl;
    while ((sl = next_bucket_slot(s, bucket, &c)) != NULL) {
        uint64_t h = sl->hash;
        if (h < from || (n == cap && h >= out[n - 1]))
            continue;
        uint32_t p = lower_bound(out, n, h);
        if (p < n && out[p] == h)
            continue; /* a key in both tables mid-doubling, or a shared hash */
        if (n == cap)
            n--; /* the largest drops out */
        memmove(out + p + 1, out + p, (size_t)(n - p) * sizeof *out);
        out[p] = h;
        n++;
    }
    return n;
}

/* Hashes per fallback pass: a first batch on the stack (2 KiB), and, when
 * the listing goes on past it, a heap batch of 64 Ki hashes (512 KiB) if
 * one can be had (the fallback also serves after an allocation failure,
 * B4, so the stack batch must do on its own). */
#define FULL_BATCH_STACK 256u
#define FULL_BATCH_HEAP 65536u

static int scan_from_full(struct store *s, uint32_t bucket, uint64_t *from_hash, struct walk *w)
{
    uint64_t stack_batch[FULL_BATCH_STACK];
    uint64_t *batch = stack_batch, *heap = NULL;
    uint32_t cap = FULL_BATCH_STACK;
    uint64_t from = *from_hash;
    int rc = 0;
    s->bix.full_scans++; /* per call, as before resumable scans (a call may read 1 + visited/cap times) */
    /* bounded: every pass either ends the call or moves from past at
     * least one hash of the bucket */
    for (;;) {
        uint32_t n = collect_smallest(s, bucket, from, batch, cap);
        bool full = n == cap;
        rc = walk_sorted(s, bucket, batch, n, 0, full, w, from_hash);
        if (rc != 0 || !full || batch[n - 1] == UINT64_MAX)
            break;
        from = batch[n - 1] + 1;
        if (!heap && (heap = malloc(FULL_BATCH_HEAP * sizeof *heap)) != NULL) {
            batch = heap;
            cap = FULL_BATCH_HEAP;
        }
    }
    free(heap);
    return rc;
}

/* Both scans; finish_hash: B5 (resumable) or stop at once. */
static int bucket_scan_from(struct store *s, uint32_t bucket, uint64_t *from_hash,
                            store_scan_cb cb, void *arg, bool finish_hash)
{
    struct walk w = {.cb = cb, .arg = arg, .finish_hash = finish_hash};
    if (!s->bix.b)
        return scan_from_full(s, bucket, from_hash, &w);
    struct store_bix_bucket *bk = &s->bix.b[bucket];
    bucket_sort(bk);
    /* cb must not write (store.h), so v and n stay as they are. */
    return walk_sorted(s, bucket, bk->v, bk->n, lower_bound(bk->v, bk->n, *from_hash), false, &w,
                       from_hash);
}

int store_bucket_scan_from(struct store *s, uint32_t bucket, uint64_t *from_hash,
                           store_scan_cb cb, void *arg)
{
    if (!s || bucket >= STORE_BUCKETS || !cb || !from_hash)
        return GKV_EINVAL;
    return bucket_scan_from(s, bucket, from_hash, cb, arg, true);
}

int store_bucket_scan(struct store *s, uint32_t bucket, store_scan_cb cb, void *arg)
{
    if (!s || bucket >= STORE_BUCKETS || !cb)
        return GKV_EINVAL;
    uint64_t from = 0;
    int rc = bucket_scan_from(s, bucket, &from, cb, arg, false);
    return rc < 0 ? rc : 0;
}
