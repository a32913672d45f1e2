/*
 * test_store_bucket_resume.c: store_bucket_scan_from, the resumable bucket
 * listing anti-entropy uses to send a large bucket a budget at a time
 * (storage/bucketix.c, B5 and B6). A listing that stops and resumes from
 * the hash it was handed back lists every entry of the bucket, in
 * ascending placement hash, with and without the bucket index, across
 * doublings, an index dropped or rebuilt, and keys entering and leaving
 * the bucket between calls.
 *
 * Randomized tests print their seed; GKV_SEED=<n> replays one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/rng.h"
#include "storage/store_int.h"
#include "test_store_util.h"

/* Bucket index thresholds: from the first slot, and never. */
#define WITH_INDEX 1u
#define NO_INDEX UINT64_MAX

/* A key of the test's big bucket: test_key(i) for the i found by
 * bucket_keys. */
struct keyset {
    uint64_t *ids;
    size_t n;
};

/* The first n key numbers >= start whose key lies in bucket b. */
static void bucket_keys(uint32_t b, uint64_t start, size_t n, struct keyset *ks)
{
    ks->ids = malloc(n * sizeof *ks->ids);
    assert_non_null(ks->ids);
    ks->n = 0;
    for (uint64_t i = start; ks->n < n; i++) {
        char k[32];
        size_t kl = test_key(k, sizeof k, i);
        if (entry_bucket(k, kl, STORE_BUCKET_BITS) == b)
            ks->ids[ks->n++] = i;
    }
}

static struct store *open_anon(uint32_t cap, uint64_t min_slots)
{
    struct store_config cfg;
    test_cfg(&cfg, NULL, cap);
    cfg.bucket_index_min_slots = min_slots;
    cfg.tombstone_grace_ms = 1; /* purges in the churn test */
    struct store *s;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    return s;
}

static void put_id(struct store *s, uint64_t id)
{
    char k[32], v[64];
    size_t kl = test_key(k, sizeof k, id);
    size_t vl = test_value(v, sizeof v, id, 1, 20);
    assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
}

/* What a listing saw: key numbers and placement hashes, in visit order. */
struct listing {
    struct store *s;
    uint32_t bucket;
    uint64_t *ids, *hashes;
    size_t n, cap;
    bool wrong_bucket;
    uint32_t stop_after; /* stop once this many were seen in this call; 0 = never */
    uint32_t seen_call;
};

static int list_cb(void *arg, const struct entry *e)
{
    struct listing *l = arg;
    if (entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS) != l->bucket)
        l->wrong_bucket = true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->ids = realloc(l->ids, l->cap * sizeof *l->ids);
        l->hashes = realloc(l->hashes, l->cap * sizeof *l->hashes);
        assert_non_null(l->ids);
        assert_non_null(l->hashes);
    }
    char k[32];
    assert_true(e->key_len < sizeof k && e->key_len > 1 && e->key[0] == 'k');
    memcpy(k, e->key + 1, e->key_len - 1);
    k[e->key_len - 1] = 0;
    l->ids[l->n] = strtoull(k, NULL, 10);
    l->hashes[l->n] = store__key_hash(l->s, e->key, e->key_len);
    l->n++;
    l->seen_call++;
    return l->stop_after && l->seen_call >= l->stop_after;
}

static void listing_init(struct listing *l, struct store *s, uint32_t bucket)
{
    memset(l, 0, sizeof *l);
    l->s = s;
    l->bucket = bucket;
}

static void listing_free(struct listing *l)
{
    free(l->ids);
    free(l->hashes);
}

/* One call; returns its result. */
static int list_step(struct listing *l, uint64_t *from, uint32_t stop_after)
{
    l->stop_after = stop_after;
    l->seen_call = 0;
    return store_bucket_scan_from(l->s, l->bucket, from, list_cb, l);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The listing is strictly ascending by hash (so no entry twice). */
static void assert_ascending(const struct listing *l)
{
    for (size_t i = 1; i < l->n; i++)
        assert_true(l->hashes[i - 1] < l->hashes[i]);
}

/* Every id of want (sorted copy made here) appears in the listing. */
static void assert_contains(const struct listing *l, const uint64_t *want, size_t nwant)
{
    uint64_t *got = malloc((l->n + 1) * sizeof *got);
    assert_non_null(got);
    memcpy(got, l->ids, l->n * sizeof *got);
    qsort(got, l->n, sizeof *got, cmp_u64);
    for (size_t i = 0; i < nwant; i++)
        assert_non_null(bsearch(&want[i], got, l->n, sizeof *got, cmp_u64));
    free(got);
}

/* ------------------------------------------------------ every stop point */

/* For every k: a call that stops at the k-th entry, then one that runs to
 * the end from the hash it handed back, together list the bucket exactly
 * once in hash order; and budgets of 1, 2, 7 entries per call do too. */
static void every_stop_point(uint64_t min_slots)
{
    struct store *s = open_anon(16, min_slots);
    const uint32_t b = 77;
    struct keyset ks;
    bucket_keys(b, 0, 600, &ks); /* > 256: the fallback's second, heap batch */
    for (size_t i = 0; i < ks.n; i++)
        put_id(s, ks.ids[i]);
    for (uint64_t i = 1000000; i < 1003000; i++) { /* other buckets */
        char k[32];
        size_t kl = test_key(k, sizeof k, i);
        if (entry_bucket(k, kl, STORE_BUCKET_BITS) != b)
            put_id(s, i);
    }
    struct store_stats st;
    store_stats(s, &st);
    assert_true((st.bucket_index_bytes > 0) == (min_slots == WITH_INDEX));
    size_t n = 0;
    {
        struct listing all;
        listing_init(&all, s, b);
        uint64_t from = 0;
        assert_int_equal(list_step(&all, &from, 0), 0);
        assert_false(all.wrong_bucket);
        assert_int_equal(all.n, ks.n);
        assert_ascending(&all);
        assert_contains(&all, ks.ids, ks.n);
        n = all.n;
        listing_free(&all);
    }
    for (uint32_t k = 1; k <= n; k++) {
        struct listing l;
        listing_init(&l, s, b);
        uint64_t from = 0;
        int rc = list_step(&l, &from, k);
        if (k == n) {
            assert_int_equal(rc, 0); /* stopped at the last hash: complete */
        } else {
            assert_int_equal(rc, STORE_SCAN_MORE);
            assert_int_equal(l.n, k);
            assert_true(from == l.hashes[k - 1] + 1);
            assert_int_equal(list_step(&l, &from, 0), 0);
        }
        assert_int_equal(l.n, n);
        assert_ascending(&l);
        listing_free(&l);
    }
    const uint32_t budgets[] = {1, 2, 7};
    for (size_t bi = 0; bi < sizeof budgets / sizeof budgets[0]; bi++) {
        struct listing l;
        listing_init(&l, s, b);
        uint64_t from = 0;
        uint32_t calls = 0;
        while (list_step(&l, &from, budgets[bi]) == STORE_SCAN_MORE)
            assert_true(++calls <= n);
        assert_int_equal(l.n, n);
        assert_ascending(&l);
        assert_contains(&l, ks.ids, ks.n);
        listing_free(&l);
    }
    /* an empty bucket, and bad arguments */
    struct listing none;
    uint32_t empty = STORE_BUCKETS;
    for (uint32_t c = 0; c < STORE_BUCKETS && empty == STORE_BUCKETS; c++)
        if (store_bucket_hashes(s)[c] == 0)
            empty = c;
    if (empty < STORE_BUCKETS) {
        listing_init(&none, s, empty);
        uint64_t from = 0;
        assert_int_equal(list_step(&none, &from, 1), 0);
        assert_int_equal(none.n, 0);
        listing_free(&none);
    }
    uint64_t from = 0;
    assert_int_equal(store_bucket_scan_from(s, STORE_BUCKETS, &from, list_cb, NULL), GKV_EINVAL);
    assert_int_equal(store_bucket_scan_from(s, b, NULL, list_cb, NULL), GKV_EINVAL);
    assert_int_equal(store_bucket_scan_from(s, b, &from, NULL, NULL), GKV_EINVAL);
    /* a start past every hash lists nothing */
    listing_init(&none, s, b);
    from = UINT64_MAX;
    assert_int_equal(list_step(&none, &from, 0), 0);
    assert_true(none.n <= 1);
    listing_free(&none);
    store_stats(s, &st);
    if (min_slots == WITH_INDEX)
        assert_int_equal(st.bucket_scans_full, 0);
    else
        assert_true(st.bucket_scans_full > n);
    free(ks.ids);
    store_close(s);
}

static void test_bucket_resume_every_stop_point_lists_once_in_hash_order_indexed(void **state)
{
    (void)state;
    every_stop_point(WITH_INDEX);
}

static void test_bucket_resume_every_stop_point_lists_once_in_hash_order_no_index(void **state)
{
    (void)state;
    every_stop_point(NO_INDEX);
}

/* ------------------------------------------ doublings, index drop/build */

/* Three entries per call; between calls, keys of other buckets are
 * written (several doublings, some calls while one is in progress), and
 * once the index is dropped and later rebuilt (B4). The bucket is listed
 * exactly once, in hash order. */
static void across_doublings(uint64_t min_slots, bool drop_index)
{
    struct store *s = open_anon(16, min_slots);
    const uint32_t b = 300;
    struct keyset ks;
    bucket_keys(b, 0, 200, &ks);
    for (size_t i = 0; i < ks.n; i++)
        put_id(s, ks.ids[i]);
    struct store_stats st0, st;
    store_stats(s, &st0);
    struct listing l;
    listing_init(&l, s, b);
    uint64_t from = 0, next = 5000000;
    uint32_t calls = 0, calls_growing = 0;
    bool dropped = false, rebuilt = false;
    while (list_step(&l, &from, 3) == STORE_SCAN_MORE) {
        assert_true(++calls <= ks.n);
        store_stats(s, &st);
        calls_growing += st.growing;
        for (int w = 0; w < 150; next++) {
            char k[32];
            size_t kl = test_key(k, sizeof k, next);
            if (entry_bucket(k, kl, STORE_BUCKET_BITS) == b)
                continue;
            put_id(s, next);
            w++;
        }
        if (drop_index && calls == 20) {
            assert_non_null(s->bix.b);
            store__bix_free(s); /* as an allocation failure does (B4) */
            dropped = true;
        } else if (drop_index && calls == 40) {
            store__bix_build(s);
            assert_non_null(s->bix.b);
            rebuilt = true;
        }
    }
    store_stats(s, &st);
    printf("  %u calls, %u of them mid-doubling, %llu doublings\n", calls, calls_growing,
           (unsigned long long)(st.growths - st0.growths));
    assert_true(st.growths >= st0.growths + 3);
    assert_true(calls_growing > 0);
    assert_true(dropped == drop_index && rebuilt == drop_index);
    assert_false(l.wrong_bucket);
    assert_int_equal(l.n, ks.n);
    assert_ascending(&l);
    assert_contains(&l, ks.ids, ks.n);
    listing_free(&l);
    free(ks.ids);
    store_close(s);
}

static void test_bucket_resume_across_doublings_indexed(void **state)
{
    (void)state;
    across_doublings(WITH_INDEX, false);
}

static void test_bucket_resume_across_doublings_no_index(void **state)
{
    (void)state;
    across_doublings(NO_INDEX, false);
}

static void test_bucket_resume_across_index_drop_and_rebuild(void **state)
{
    (void)state;
    across_doublings(WITH_INDEX, true);
}

/* ---------------------------------------------- keys enter and leave */

/* Random budgets per call; between calls keys of the bucket are inserted,
 * deleted (tombstones stay present), purged (absent; stale hashes and
 * compactions in the index) and put back (duplicate hashes in the
 * vector). Every key present from the first call to the last is listed;
 * the listing stays in strictly ascending hash order. */
static void churn(uint64_t min_slots)
{
    struct gkv_rng r;
    test_rng(&r, 0x5eed2026u);
    struct store *s = open_anon(16, min_slots);
    const uint32_t b = 511;
    struct keyset ks;
    bucket_keys(b, 0, 1200, &ks);
    const size_t initial = 500;
    /* present[i]: key i is in the store (a value or a tombstone);
     * left[i]: it was absent at some moment after the listing began */
    uint8_t *present = calloc(ks.n, 1), *left = calloc(ks.n, 1);
    assert_non_null(present);
    assert_non_null(left);
    for (size_t i = 0; i < initial; i++) {
        put_id(s, ks.ids[i]);
        present[i] = 1;
    }
    for (uint64_t i = 9000000; i < 9004000; i++)
        put_id(s, i);
    uint64_t now = TEST_NOW_MS + 1000;
    struct listing l;
    listing_init(&l, s, b);
    uint64_t from = 0;
    uint32_t calls = 0;
    uint64_t purged_total = 0;
    while (list_step(&l, &from, 1 + (uint32_t)gkv_rng_below(&r, 8)) == STORE_SCAN_MORE) {
        assert_true(++calls <= 4 * ks.n);
        for (int op = 0; op < 6; op++) {
            size_t i = (size_t)gkv_rng_below(&r, ks.n);
            char k[32];
            size_t kl = test_key(k, sizeof k, ks.ids[i]);
            uint64_t kind = gkv_rng_below(&r, 4);
            if (kind == 0) { /* insert or overwrite */
                put_id(s, ks.ids[i]);
                present[i] = 1;
                continue;
            }
            /* delete: a tombstone, still present */
            assert_int_equal(store_del(s, k, kl, now, NULL, NULL), 0);
            present[i] = 1;
            if (kind == 1)
                continue;
            /* purge every tombstone past its grace: those keys leave */
            uint64_t purged = 0;
            for (int p = 0; p < 64; p++) {
                assert_int_equal(
                    store_purge_tombstones(s, now + 10000, UINT64_MAX, 1u << 20, &purged), 0);
                purged_total += purged;
                if (purged == 0)
                    break;
            }
            for (size_t j = 0; j < ks.n; j++) {
                if (!present[j])
                    continue;
                struct entry e;
                kl = test_key(k, sizeof k, ks.ids[j]);
                if (store_get(s, k, kl, &e) == GKV_ENOTFOUND) {
                    present[j] = 0;
                    left[j] = 1;
                }
            }
        }
        now++;
    }
    /* Present throughout: the initial keys that never left (overwritten
     * or tombstoned ones included). */
    uint64_t *want = malloc(ks.n * sizeof *want);
    assert_non_null(want);
    size_t nwant = 0;
    for (size_t i = 0; i < initial; i++)
        if (!left[i])
            want[nwant++] = ks.ids[i];
    printf("  %u calls, %llu tombstones purged, %zu of %zu initial keys present throughout, "
           "%zu listed\n",
           calls, (unsigned long long)purged_total, nwant, initial, l.n);
    assert_true(calls > 50);
    assert_true(nwant > initial / 4);
    assert_true(purged_total > 10);
    assert_false(l.wrong_bucket);
    assert_ascending(&l);
    assert_contains(&l, want, nwant);
    if (min_slots == WITH_INDEX) {
        printf("  %llu compactions of the index\n", (unsigned long long)s->bix.compactions);
        assert_true(s->bix.compactions > 0);
    }
    free(want);
    free(present);
    free(left);
    listing_free(&l);
    free(ks.ids);
    store_close(s);
}

static void test_bucket_resume_lists_every_key_present_throughout_indexed(void **state)
{
    (void)state;
    churn(WITH_INDEX);
}

static void test_bucket_resume_lists_every_key_present_throughout_no_index(void **state)
{
    (void)state;
    churn(NO_INDEX);
}

/* store_bucket_scan is the from-0 listing: the same sequence. */
static void test_bucket_scan_is_the_listing_from_zero(void **state)
{
    (void)state;
    uint64_t mins[2] = {WITH_INDEX, NO_INDEX};
    for (int m = 0; m < 2; m++) {
        struct store *s = open_anon(16, mins[m]);
        struct keyset ks;
        bucket_keys(9, 0, 300, &ks);
        for (size_t i = 0; i < ks.n; i++)
            put_id(s, ks.ids[i]);
        struct listing a, c;
        listing_init(&a, s, 9);
        listing_init(&c, s, 9);
        assert_int_equal(store_bucket_scan(s, 9, list_cb, &a), 0);
        uint64_t from = 0;
        assert_int_equal(list_step(&c, &from, 0), 0);
        assert_int_equal(a.n, ks.n);
        assert_int_equal(c.n, a.n);
        assert_memory_equal(a.ids, c.ids, a.n * sizeof *a.ids);
        /* a stop there takes effect at once */
        listing_free(&a);
        listing_init(&a, s, 9);
        a.stop_after = 5;
        assert_int_equal(store_bucket_scan(s, 9, list_cb, &a), 0);
        assert_int_equal(a.n, 5);
        listing_free(&a);
        listing_free(&c);
        free(ks.ids);
        store_close(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_resume_every_stop_point_lists_once_in_hash_order_indexed),
        cmocka_unit_test(test_bucket_resume_every_stop_point_lists_once_in_hash_order_no_index),
        cmocka_unit_test(test_bucket_resume_across_doublings_indexed),
        cmocka_unit_test(test_bucket_resume_across_doublings_no_index),
        cmocka_unit_test(test_bucket_resume_across_index_drop_and_rebuild),
        cmocka_unit_test(test_bucket_resume_lists_every_key_present_throughout_indexed),
        cmocka_unit_test(test_bucket_resume_lists_every_key_present_throughout_no_index),
        cmocka_unit_test(test_bucket_scan_is_the_listing_from_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
