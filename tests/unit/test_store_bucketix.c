/*
 * test_store_bucketix.c: store_bucket_scan through the per-bucket key index
 * (storage/bucketix.c) visits exactly the entries the whole-table scan
 * (store__bucket_scan_full, the oracle) visits, each once, in a stable
 * order, through every path that adds or removes keys, during doublings,
 * across reopens and after an allocation failure.
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

/* One visited entry, reduced to what identifies it: the key and its
 * version hash (value, HLC, origin, tombstone flag). */
struct seen {
    uint8_t key[32];
    uint32_t key_len;
    uint64_t vhash;
};

/* Entries of a bucket as one scan visited them, in order. */
struct visit_list {
    struct seen *v;
    size_t n, cap;
    uint32_t bucket;
    bool wrong_bucket; /* a visited entry belongs to another bucket */
    uint64_t xor;      /* of the version hashes in the digest */
    uint64_t cutoff;   /* the store's purge cutoff (list_reset) */
};

static int collect_cb(void *arg, const struct entry *e)
{
    struct visit_list *l = arg;
    if (entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS) != l->bucket)
        l->wrong_bucket = true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    struct seen *s = &l->v[l->n++];
    assert_true(e->key_len <= sizeof s->key);
    memset(s, 0, sizeof *s); /* padding too: lists are compared bytewise */
    memcpy(s->key, e->key, e->key_len);
    s->key_len = e->key_len;
    s->vhash = entry_version_hash(e);
    if (!entry_purgeable_at(e, l->cutoff)) /* retired tombstones are out of the digest */
        l->xor ^= s->vhash;
    return 0;
}

static int cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    int c = memcmp(x->key, y->key, x->key_len);
    if (c)
        return c;
    return x->vhash < y->vhash ? -1 : x->vhash > y->vhash;
}

static void list_reset(struct visit_list *l, uint32_t bucket, uint64_t cutoff)
{
    l->cutoff = cutoff;
    l->n = 0;
    l->bucket = bucket;
    l->wrong_bucket = false;
    l->xor = 0;
}

/* Scan one bucket both ways; assert the same multiset, no key twice, the
 * bucket's hash is the XOR over its entries, and a second indexed scan
 * (no write in between) visits the same sequence. Returns the entries. */
static size_t check_bucket(struct store *s, uint32_t b, struct visit_list *fast,
                           struct visit_list *full, struct visit_list *again)
{
    list_reset(fast, b, store_purge_cutoff_hlc(s));
    list_reset(full, b, store_purge_cutoff_hlc(s));
    list_reset(again, b, store_purge_cutoff_hlc(s));
    assert_int_equal(store_bucket_scan(s, b, collect_cb, fast), 0);
    assert_int_equal(store__bucket_scan_full(s, b, collect_cb, full), 0);
    assert_int_equal(store_bucket_scan(s, b, collect_cb, again), 0);
    assert_false(fast->wrong_bucket);
    assert_false(full->wrong_bucket);
    /* stable order: the same sequence twice */
    assert_int_equal(fast->n, again->n);
    if (fast->n)
        assert_memory_equal(fast->v, again->v, fast->n * sizeof *fast->v);
    /* the bucket hash is the XOR over the scanned entries */
    assert_true(fast->xor == store_bucket_hashes(s)[b]);
    assert_true(full->xor == store_bucket_hashes(s)[b]);
    /* same multiset as the oracle; no key twice */
    assert_int_equal(fast->n, full->n);
    if (fast->n > 1)
        qsort(fast->v, fast->n, sizeof *fast->v, cmp_seen);
    if (full->n > 1)
        qsort(full->v, full->n, sizeof *full->v, cmp_seen);
    if (fast->n)
        assert_memory_equal(fast->v, full->v, fast->n * sizeof *fast->v);
    for (size_t i = 1; i < fast->n; i++)
        assert_false(fast->v[i].key_len == fast->v[i - 1].key_len &&
                     memcmp(fast->v[i].key, fast->v[i - 1].key, fast->v[i].key_len) == 0);
    return fast->n;
}

struct lists {
    struct visit_list a, b, c;
};

static void lists_free(struct lists *l)
{
    free(l->a.v);
    free(l->b.v);
    free(l->c.v);
}

/* Every bucket; returns the entries seen (must equal the store's count). */
static void check_all_buckets(struct store *s, struct lists *l)
{
    uint64_t total = 0;
    for (uint32_t b = 0; b < STORE_BUCKETS; b++)
        total += check_bucket(s, b, &l->a, &l->b, &l->c);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(total, st.entries + st.tombstones);
}

static uint32_t key_bucket(uint64_t i)
{
    char k[32];
    size_t kl = test_key(k, sizeof k, i);
    return entry_bucket(k, kl, STORE_BUCKET_BITS);
}

/* ------------------------------------------------------- random ops */

struct rcfg {
    const char *name;
    bool dir;
    enum store_sync sync;
};

/* The random-operations test for one configuration. */
static void random_ops(const struct rcfg *rc, uint64_t default_seed)
{
    struct gkv_rng rng;
    test_rng(&rng, default_seed);
    char dir[64] = "";
    if (rc->dir)
        test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, rc->dir ? dir : NULL, 16);
    cfg.sync = rc->sync;
    cfg.bucket_index_min_slots = 1; /* the index from the first slot on */
    cfg.tombstone_grace_ms = 1000;
    cfg.wal_checkpoint_bytes = 256 * 1024; /* checkpoints happen in the run */
    uint64_t now = TEST_NOW_MS;
    struct store *s;
    assert_int_equal(store_open(&cfg, now, &s, NULL, 0), 0);
    struct lists l = {0};
    /* Key space: 2500 keys, so the table doubles 16 -> 4096+ on the way
     * and buckets hold a few keys each; scans of the touched key's bucket
     * after every step, of random buckets, and of all of them now and then. */
    const uint64_t keys = 2500, steps = 6000;
    uint64_t growing_checks = 0, purged_total = 0, reopens = 0, merges = 0, growths = 0;
    uint64_t vctr = 1;
    for (uint64_t step = 0; step < steps; step++) {
        now += gkv_rng_below(&rng, 3);
        uint64_t i = gkv_rng_below(&rng, step < 3000 ? keys : keys / 4); /* later: churn */
        char k[32], v[64];
        size_t kl = test_key(k, sizeof k, i);
        uint32_t op = (uint32_t)gkv_rng_below(&rng, 100);
        if (op < 50) {
            size_t vl = test_value(v, sizeof v, i, vctr++, 1 + gkv_rng_below(&rng, 40));
            assert_int_equal(store_put(s, k, kl, v, vl, now, NULL), 0);
        } else if (op < 70) {
            assert_int_equal(store_del(s, k, kl, now, NULL, NULL), 0);
        } else if (op < 88) {
            /* a remote version: a value or a tombstone, newer or older */
            struct entry e = {0};
            e.key = (const uint8_t *)k;
            e.key_len = (uint32_t)kl;
            e.origin = 2 + gkv_rng_below(&rng, 3);
            e.hlc = HLC_MAKE(now - gkv_rng_below(&rng, 50), gkv_rng_below(&rng, 4));
            vclock_clear(&e.vc);
            e.vc.n = 1;
            e.vc.items[0].node = e.origin;
            e.vc.items[0].counter = 1 + gkv_rng_below(&rng, 1000);
            if (gkv_rng_below(&rng, 3) == 0) {
                e.flags = ENTRY_TOMBSTONE;
            } else {
                size_t vl = test_value(v, sizeof v, i, vctr++, 1 + gkv_rng_below(&rng, 40));
                e.value = (const uint8_t *)v;
                e.value_len = (uint32_t)vl;
            }
            assert_int_equal(store_merge(s, &e, now, NULL), 0);
            merges++;
        } else if (op < 94) {
            /* purge after the grace period: jump the clock past it */
            now += 1500;
            uint64_t purged = 0;
            assert_int_equal(store_purge_tombstones(s, now, UINT64_MAX, 4096, &purged), 0);
            purged_total += purged;
        } else if (op < 99 || !rc->dir) {
            assert_int_equal(store_tick(s, now), 0);
        } else {
            struct store_stats before;
            store_stats(s, &before);
            growths += before.growths; /* stats count from the open (not
                                        * a doubling an open's replay finishes) */
            assert_int_equal(store_close(s), 0);
            assert_int_equal(store_open(&cfg, now, &s, NULL, 0), 0);
            reopens++;
        }
        struct store_stats st;
        store_stats(s, &st);
        growing_checks += st.growing;
        check_bucket(s, key_bucket(i), &l.a, &l.b, &l.c);
        for (int r = 0; r < 2; r++)
            check_bucket(s, (uint32_t)gkv_rng_below(&rng, STORE_BUCKETS), &l.a, &l.b, &l.c);
        if (step % 1500 == 1499)
            check_all_buckets(s, &l);
    }
    check_all_buckets(s, &l);
    struct store_stats st;
    store_stats(s, &st);
    growths += st.growths;
    printf("%s: %" PRIu64 " steps, %" PRIu64 " checked during a doubling, %" PRIu64
           " doublings, %" PRIu64 " purged, %" PRIu64 " merges, %" PRIu64
           " reopens, index %" PRIu64 " bytes for %" PRIu64 " entries\n",
           rc->name, steps, growing_checks, growths, purged_total, merges, reopens,
           st.bucket_index_bytes, st.entries + st.tombstones);
    /* the run exercised what it claims to */
    assert_true(growing_checks > 0);
    assert_true(st.capacity >= 1024); /* 16 slots -> 1024 and beyond: 6+ doublings */
    assert_true(purged_total > 0);
    assert_true(st.bucket_index_bytes > 0);
    assert_int_equal(st.bucket_index_failures, 0);
    assert_int_equal(st.bucket_scans_full, 0); /* every scan above went through the index */
    assert_int_equal(store_close(s), 0);
    lists_free(&l);
    if (rc->dir) {
        test_inspect_ok(dir);
        test_rmrf(dir);
    }
}

static void test_bucketix_random_ops_match_full_scan_anon_none(void **state)
{
    (void)state;
    random_ops(&(struct rcfg){"anon sync=none", false, STORE_SYNC_NONE}, 0xb1c0001);
}

static void test_bucketix_random_ops_match_full_scan_anon_batch(void **state)
{
    (void)state;
    random_ops(&(struct rcfg){"anon sync=batch", false, STORE_SYNC_BATCH}, 0xb1c0002);
}

static void test_bucketix_random_ops_match_full_scan_file_none(void **state)
{
    (void)state;
    random_ops(&(struct rcfg){"file sync=none", true, STORE_SYNC_NONE}, 0xb1c0003);
}

static void test_bucketix_random_ops_match_full_scan_file_batch(void **state)
{
    (void)state;
    random_ops(&(struct rcfg){"file sync=batch", true, STORE_SYNC_BATCH}, 0xb1c0004);
}

/* ------------------------------------------------------ targeted tests */

/* An in-memory store; grace_ms 0 keeps the default tombstone grace. */
static struct store *open_anon(uint32_t cap, uint64_t min_slots, uint64_t grace_ms)
{
    struct store_config cfg;
    test_cfg(&cfg, NULL, cap);
    cfg.bucket_index_min_slots = min_slots;
    cfg.tombstone_grace_ms = grace_ms;
    struct store *s;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    return s;
}

static void put_key(struct store *s, uint64_t i, uint64_t version)
{
    char k[32], v[64];
    size_t kl = test_key(k, sizeof k, i);
    size_t vl = test_value(v, sizeof v, i, version, 20);
    assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
}

/* Keys of one bucket, in the order a scan visits them. */
static void scan_keys(struct store *s, uint32_t b, struct visit_list *l)
{
    list_reset(l, b, store_purge_cutoff_hlc(s));
    assert_int_equal(store_bucket_scan(s, b, collect_cb, l), 0);
    assert_false(l->wrong_bucket);
}

static void test_bucketix_order_survives_doublings_and_other_buckets(void **state)
{
    (void)state;
    struct store *s = open_anon(16, 1, 0);
    /* 400 keys, then note the order of the bucket of key 0 */
    for (uint64_t i = 0; i < 400; i++)
        put_key(s, i, 1);
    uint32_t b = key_bucket(0);
    struct visit_list before = {0}, after = {0};
    scan_keys(s, b, &before);
    assert_true(before.n >= 1);
    /* keys of other buckets (several doublings), overwrites of this
     * bucket's keys: no key enters or leaves bucket b */
    struct store_stats st0, st1;
    store_stats(s, &st0);
    uint64_t added = 0;
    for (uint64_t i = 400; added < 5000; i++) {
        if (key_bucket(i) == b)
            continue;
        put_key(s, i, 1);
        added++;
        if (added % 500 == 0) {
            scan_keys(s, b, &after);
            assert_int_equal(after.n, before.n);
            for (size_t j = 0; j < after.n; j++)
                assert_memory_equal(after.v[j].key, before.v[j].key, sizeof after.v[j].key);
        }
    }
    for (uint64_t i = 0; i < 400; i++)
        if (key_bucket(i) == b)
            put_key(s, i, 2);
    store_stats(s, &st1);
    assert_true(st1.growths >= st0.growths + 3);
    scan_keys(s, b, &after);
    assert_int_equal(after.n, before.n);
    for (size_t j = 0; j < after.n; j++)
        assert_memory_equal(after.v[j].key, before.v[j].key, sizeof after.v[j].key);
    free(before.v);
    free(after.v);
    store_close(s);
}

/* B3's stable order: a callback that stops after a budget, resumed by
 * skipping the entries already listed (how sync.c resumed before
 * store_bucket_scan_from, which test_store_bucket_resume covers), lists the
 * bucket exactly once even while other buckets are written (and the table
 * doubles) between the calls. */
struct resume_ctx {
    uint32_t index, skip, budget;
    struct visit_list *out;
};

static int resume_cb(void *arg, const struct entry *e)
{
    struct resume_ctx *c = arg;
    if (c->index++ < c->skip)
        return 0;
    collect_cb(c->out, e);
    if (--c->budget == 0) {
        c->skip = c->index;
        return 1;
    }
    return 0;
}

static void test_bucketix_resume_by_skip_count_lists_bucket_once(void **state)
{
    (void)state;
    struct store *s = open_anon(16, 1, 0);
    for (uint64_t i = 0; i < 20000; i++)
        put_key(s, i, 1);
    uint32_t b = key_bucket(7);
    struct visit_list got = {0}, full = {0};
    list_reset(&got, b, store_purge_cutoff_hlc(s));
    list_reset(&full, b, store_purge_cutoff_hlc(s));
    struct resume_ctx c = {.out = &got};
    uint64_t next = 20000, calls = 0;
    for (;;) {
        c.index = 0;
        c.budget = 3;
        uint32_t before = got.n;
        assert_int_equal(store_bucket_scan(s, b, resume_cb, &c), 0);
        calls++;
        if (c.budget > 0 || got.n == before)
            break; /* the scan ran to the end */
        /* writes to other buckets between ticks */
        for (int w = 0; w < 300; w++, next++)
            if (key_bucket(next) != b)
                put_key(s, next, 1);
    }
    assert_true(calls > 3);
    assert_int_equal(store__bucket_scan_full(s, b, collect_cb, &full), 0);
    assert_int_equal(got.n, full.n);
    if (got.n > 1)
        qsort(got.v, got.n, sizeof *got.v, cmp_seen);
    if (full.n > 1)
        qsort(full.v, full.n, sizeof *full.v, cmp_seen);
    assert_memory_equal(got.v, full.v, got.n * sizeof *got.v);
    free(got.v);
    free(full.v);
    store_close(s);
}

static void test_bucketix_allocation_failure_falls_back_to_full_scan(void **state)
{
    (void)state;
    struct store *s = open_anon(16, 1, 0);
    struct lists l = {0};
    for (uint64_t i = 0; i < 3000; i++)
        put_key(s, i, 1);
    struct store_stats st;
    store_stats(s, &st);
    assert_true(st.bucket_index_bytes > 0);
    /* the next vector growth fails: the index goes, nothing is lost */
    store__bix_fail_after(s, 1);
    uint64_t i = 3000;
    for (; i < 6000; i++) {
        put_key(s, i, 1);
        store_stats(s, &st);
        if (st.bucket_index_failures)
            break;
    }
    assert_int_equal(st.bucket_index_failures, 1);
    assert_int_equal(st.bucket_index_bytes, 0);
    uint64_t full_before = st.bucket_scans_full;
    check_all_buckets(s, &l);
    store_stats(s, &st);
    assert_int_equal(st.bucket_scans_full, full_before + 2 * STORE_BUCKETS); /* 2 per check */
    /* writes and deletes without an index, then the next doubling
     * rebuilds it, and the index's scans agree again */
    uint64_t growths = st.growths;
    for (uint64_t j = 0; j < 500; j++) {
        char k[32];
        size_t kl = test_key(k, sizeof k, j);
        assert_int_equal(store_del(s, k, kl, TEST_NOW_MS, NULL, NULL), 0);
    }
    for (i++; st.growths == growths && i < 100000; i++) {
        put_key(s, i, 1);
        store_stats(s, &st);
    }
    assert_true(st.growths > growths);
    assert_true(st.bucket_index_bytes > 0);
    full_before = st.bucket_scans_full;
    check_all_buckets(s, &l);
    store_stats(s, &st);
    assert_int_equal(st.bucket_scans_full, full_before);
    /* a failure of the build itself (the headers, at a doubling) is
     * counted too, and the doubling after it builds the index again */
    store__bix_fail_after(s, 1);
    store__bix_free(s); /* as if dropped: the next doubling builds */
    for (growths = st.growths, i++; st.growths == growths && i < 200000; i++) {
        put_key(s, i, 1);
        store_stats(s, &st);
    }
    assert_int_equal(st.bucket_index_failures, 2);
    assert_int_equal(st.bucket_index_bytes, 0);
    check_all_buckets(s, &l);
    for (growths = st.growths, i++; st.growths == growths && i < 400000; i++) {
        put_key(s, i, 1);
        store_stats(s, &st);
    }
    assert_true(st.bucket_index_bytes > 0);
    check_all_buckets(s, &l);
    lists_free(&l);
    store_close(s);
}

static void test_bucketix_index_dropped_by_a_failure_is_rebuilt_at_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 16);
    cfg.bucket_index_min_slots = 1;
    struct store *s;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    for (uint64_t i = 0; i < 1500; i++)
        put_key(s, i, 1);
    /* a failed vector growth: dropped; the reopen rebuilds it */
    store__bix_fail_after(s, 1);
    for (uint64_t i = 1500; i < 1600; i++)
        put_key(s, i, 1);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.bucket_index_failures, 1);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    store_stats(s, &st);
    assert_true(st.bucket_index_bytes > 0);
    assert_int_equal(st.bucket_index_failures, 0);
    struct lists l = {0};
    check_all_buckets(s, &l);
    assert_int_equal(store_close(s), 0);
    lists_free(&l);
    test_rmrf(dir);
}

static void test_bucketix_small_tables_scan_in_full_until_the_threshold(void **state)
{
    (void)state;
    struct store *s = open_anon(16, 1024, 0);
    struct lists l = {0};
    struct store_stats st;
    uint64_t i = 0;
    for (;; i++) {
        store_stats(s, &st);
        if (st.capacity >= 1024)
            break;
        assert_int_equal(st.bucket_index_bytes, 0);
        put_key(s, i, 1);
    }
    /* the doubling that reached 1024 slots built it, from both tables */
    assert_true(st.bucket_index_bytes > 0);
    check_all_buckets(s, &l);
    store_stats(s, &st);
    assert_int_equal(st.bucket_scans_full, 0);
    lists_free(&l);
    store_close(s);
    /* UINT64_MAX: never */
    s = open_anon(16, UINT64_MAX, 0);
    for (i = 0; i < 3000; i++)
        put_key(s, i, 1);
    store_stats(s, &st);
    assert_int_equal(st.bucket_index_bytes, 0);
    store_close(s);
}

static void test_bucketix_memory_is_about_8_bytes_per_key_and_returns_after_purge(void **state)
{
    (void)state;
    struct store *s = open_anon(16, 1, 1000);
    const uint64_t n = 50000;
    for (uint64_t i = 0; i < n; i++)
        put_key(s, i, 1);
    struct store_stats st;
    store_stats(s, &st);
    uint64_t headers = STORE_BUCKETS * sizeof(struct store_bix_bucket);
    double per_key = (double)(st.bucket_index_bytes - headers) / (double)n;
    printf("bucket index: %" PRIu64 " bytes for %" PRIu64 " keys (%.1f bytes per key beyond "
           "%" PRIu64 " bytes of headers)\n",
           st.bucket_index_bytes, n, per_key, headers);
    assert_true(per_key >= 8.0 && per_key <= 12.0); /* 1.5x growth: 8..12 */
    /* delete everything, purge every tombstone: the vectors go */
    for (uint64_t i = 0; i < n; i++) {
        char k[32];
        size_t kl = test_key(k, sizeof k, i);
        assert_int_equal(store_del(s, k, kl, TEST_NOW_MS, NULL, NULL), 0);
    }
    uint64_t purged = 0, total = 0;
    for (int r = 0; r < 1000; r++) {
        assert_int_equal(store_purge_tombstones(s, TEST_NOW_MS + 10000, UINT64_MAX, 65536, &purged), 0);
        total += purged;
        if (total == n)
            break;
    }
    assert_int_equal(total, n);
    store_stats(s, &st);
    assert_int_equal(st.entries + st.tombstones, 0);
    assert_int_equal(st.bucket_index_bytes, headers);
    struct lists l = {0};
    check_all_buckets(s, &l);
    /* and they come back (a purged key re-added) */
    for (uint64_t i = 0; i < 1000; i++)
        put_key(s, i, 2);
    check_all_buckets(s, &l);
    lists_free(&l);
    store_close(s);
}

/* One bucket with hundreds of keys (the sort's partitioning path, not only
 * its insertion sort) and duplicate hashes in its vector (purged keys
 * written again before a compaction): visited once each, in placement-hash
 * order, and the compaction that a later purge run triggers keeps them. */
static void test_bucketix_large_bucket_with_duplicate_hashes_is_listed_once_in_hash_order(void **state)
{
    (void)state;
    struct store *s = open_anon(16, 1, 1000);
    const uint32_t b = key_bucket(0);
    uint64_t *ids = malloc(400 * sizeof *ids);
    assert_non_null(ids);
    uint32_t n = 0;
    for (uint64_t i = 0; n < 400; i++)
        if (key_bucket(i) == b)
            ids[n++] = i;
    for (uint32_t k = 0; k < n; k++)
        put_key(s, ids[k], 1);
    /* a third deleted and purged (stale in the vector, below the
     * compaction point), then written again (a second copy of each hash) */
    for (uint32_t k = 0; k < n; k += 3) {
        char key[32];
        size_t kl = test_key(key, sizeof key, ids[k]);
        assert_int_equal(store_del(s, key, kl, TEST_NOW_MS, NULL, NULL), 0);
    }
    uint64_t purged = 0, total = 0;
    for (int r = 0; r < 100 && total < (n + 2) / 3; r++) {
        assert_int_equal(
            store_purge_tombstones(s, TEST_NOW_MS + 10000, UINT64_MAX, 1u << 20, &purged), 0);
        total += purged;
    }
    assert_int_equal(total, (n + 2) / 3);
    for (uint32_t k = 0; k < n; k += 3)
        put_key(s, ids[k], 2);
    assert_true(s->bix.b[b].n > n); /* the duplicates are there */
    struct lists l = {0};
    assert_int_equal(check_bucket(s, b, &l.a, &l.b, &l.c), n);
    /* the scan order is ascending placement hash */
    list_reset(&l.a, b, store_purge_cutoff_hlc(s));
    assert_int_equal(store_bucket_scan(s, b, collect_cb, &l.a), 0);
    assert_int_equal(l.a.n, n);
    for (size_t k = 1; k < l.a.n; k++)
        assert_true(store__key_hash(s, l.a.v[k - 1].key, l.a.v[k - 1].key_len) <
                    store__key_hash(s, l.a.v[k].key, l.a.v[k].key_len));
    /* delete and purge two thirds: compactions run, the rest stays listed */
    for (uint32_t k = 0; k < n; k++) {
        if (k % 3 == 2)
            continue;
        char key[32];
        size_t kl = test_key(key, sizeof key, ids[k]);
        assert_int_equal(store_del(s, key, kl, TEST_NOW_MS + 20000, NULL, NULL), 0);
    }
    for (int r = 0; r < 100; r++) {
        assert_int_equal(
            store_purge_tombstones(s, TEST_NOW_MS + 40000, UINT64_MAX, 1u << 20, &purged), 0);
        if (purged == 0)
            break;
    }
    assert_true(s->bix.compactions > 0);
    assert_true(s->bix.b[b].n <= n / 3 + 1 + s->bix.b[b].stale);
    assert_int_equal(check_bucket(s, b, &l.a, &l.b, &l.c), n / 3);
    check_all_buckets(s, &l);
    lists_free(&l);
    free(ids);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucketix_random_ops_match_full_scan_anon_none),
        cmocka_unit_test(test_bucketix_random_ops_match_full_scan_anon_batch),
        cmocka_unit_test(test_bucketix_random_ops_match_full_scan_file_none),
        cmocka_unit_test(test_bucketix_random_ops_match_full_scan_file_batch),
        cmocka_unit_test(test_bucketix_order_survives_doublings_and_other_buckets),
        cmocka_unit_test(test_bucketix_resume_by_skip_count_lists_bucket_once),
        cmocka_unit_test(test_bucketix_allocation_failure_falls_back_to_full_scan),
        cmocka_unit_test(test_bucketix_index_dropped_by_a_failure_is_rebuilt_at_reopen),
        cmocka_unit_test(test_bucketix_small_tables_scan_in_full_until_the_threshold),
        cmocka_unit_test(test_bucketix_memory_is_about_8_bytes_per_key_and_returns_after_purge),
        cmocka_unit_test(test_bucketix_large_bucket_with_duplicate_hashes_is_listed_once_in_hash_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
