/*
 * Unit tests for storage/store.h: the API on anonymous and file-backed
 * stores (put/get/delete/overwrite, limits, merge, scan, buckets, purge,
 * space reuse, persistence, the directory lock).
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

static struct store *open_mem(uint32_t cap)
{
    struct store_config cfg;
    test_cfg(&cfg, NULL, cap);
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    int rc = store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err);
    if (rc != 0)
        fail_msg("store_open: %s", err);
    return s;
}

static void check_value(struct store *s, const void *key, size_t key_len, const void *val,
                         size_t val_len)
{
    struct entry e;
    assert_int_equal(store_get(s, key, key_len, &e), 0);
    assert_false(entry_is_tombstone(&e));
    assert_int_equal(e.value_len, val_len);
    if (val_len)
        assert_memory_equal(e.value, val, val_len);
    assert_int_equal(e.key_len, key_len);
    assert_memory_equal(e.key, key, key_len);
}

static void test_store_put_get_delete_overwrite(void **state)
{
    (void)state;
    struct store *s = open_mem(16);
    struct entry e;
    assert_int_equal(store_get(s, "a", 1, &e), GKV_ENOTFOUND);
    assert_int_equal(store_put(s, "a", 1, "one", 3, TEST_NOW_MS, &e), 0);
    assert_int_equal(e.origin, 7);
    assert_int_equal(e.vc.n, 1);
    assert_int_equal(e.vc.items[0].node, 7);
    assert_int_equal(e.vc.items[0].counter, 1);
    check_value(s, "a", 1, "one", 3);
    uint64_t h1 = e.hlc;
    assert_int_equal(store_put(s, "a", 1, "two!", 4, TEST_NOW_MS, &e), 0);
    assert_true(e.hlc > h1);
    assert_int_equal(e.vc.items[0].counter, 2);
    check_value(s, "a", 1, "two!", 4);
    bool existed = false;
    assert_int_equal(store_del(s, "a", 1, TEST_NOW_MS, &e, &existed), 0);
    assert_true(existed);
    assert_true(entry_is_tombstone(&e));
    assert_int_equal(store_get(s, "a", 1, &e), 0);
    assert_true(entry_is_tombstone(&e));
    assert_int_equal(e.value_len, 0);
    /* deleting an absent key still writes a tombstone */
    assert_int_equal(store_del(s, "zz", 2, TEST_NOW_MS, NULL, &existed), 0);
    assert_false(existed);
    assert_int_equal(store_del(s, "a", 1, TEST_NOW_MS, NULL, &existed), 0);
    assert_false(existed);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.tombstones, 2);
    /* empty value */
    assert_int_equal(store_put(s, "empty", 5, NULL, 0, TEST_NOW_MS, NULL), 0);
    check_value(s, "empty", 5, "", 0);
    store_close(s);
}

/* store_open's message is written into the caller's buffer: a second failed
 * open (another store, another thread) leaves the first one's message as it
 * was, a short buffer gets a terminated prefix, a success leaves "". */
static void test_store_open_error_message_belongs_to_the_caller(void **state)
{
    (void)state;
    struct store_config a, b;
    store_config_init(&a);
    store_config_init(&b);
    a.initial_capacity = (1u << 30) + 1;
    b.read_only = true; /* without a directory */
    char ea[STORE_OPEN_ERR_BYTES], eb[STORE_OPEN_ERR_BYTES];
    struct store *s = NULL;
    assert_int_equal(store_open(&a, TEST_NOW_MS, &s, ea, sizeof ea), GKV_EINVAL);
    assert_int_equal(store_open(&b, TEST_NOW_MS, &s, eb, sizeof eb), GKV_EINVAL);
    assert_null(s);
    assert_non_null(strstr(ea, "initial_capacity"));
    assert_non_null(strstr(eb, "read_only"));
    char small[8];
    assert_int_equal(store_open(&a, TEST_NOW_MS, &s, small, sizeof small), GKV_EINVAL);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(store_open(&a, TEST_NOW_MS, &s, NULL, 0), GKV_EINVAL);
    store_config_init(&a);
    char ok[16] = "untouched";
    assert_int_equal(store_open(&a, TEST_NOW_MS, &s, ok, sizeof ok), 0);
    assert_string_equal(ok, "");
    assert_int_equal(store_close(s), 0);
}

static void test_store_binary_keys_with_nuls(void **state)
{
    (void)state;
    struct store *s = open_mem(16);
    const uint8_t k1[] = {0, 0, 0}, k2[] = {0, 0}, k3[] = {0, 0, 1}, k4[] = {0xff, 0, 0x80};
    const uint8_t v[] = {0, 1, 0, 2};
    assert_int_equal(store_put(s, k1, 3, "k1", 2, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_put(s, k2, 2, "k2", 2, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_put(s, k3, 3, "k3", 2, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_put(s, k4, 3, v, 4, TEST_NOW_MS, NULL), 0);
    check_value(s, k1, 3, "k1", 2);
    check_value(s, k2, 2, "k2", 2);
    check_value(s, k3, 3, "k3", 2);
    check_value(s, k4, 3, v, 4);
    const uint8_t k5[] = {0};
    assert_int_equal(store_get(s, k5, 1, NULL), GKV_ENOTFOUND);
    store_close(s);
}

static void test_store_key_and_value_limits(void **state)
{
    (void)state;
    struct store_config cfg;
    test_cfg(&cfg, NULL, 16);
    cfg.max_value_bytes = 1000;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    static uint8_t big[GKV_KEY_MAX + 2000];
    memset(big, 'x', sizeof big);
    assert_int_equal(store_put(s, big, 0, "v", 1, TEST_NOW_MS, NULL), GKV_EKEYSIZE);
    assert_int_equal(store_put(s, big, GKV_KEY_MAX + 1, "v", 1, TEST_NOW_MS, NULL), GKV_EKEYSIZE);
    assert_int_equal(store_put(s, big, GKV_KEY_MAX, big, 1000, TEST_NOW_MS, NULL), 0);
    check_value(s, big, GKV_KEY_MAX, big, 1000);
    assert_int_equal(store_put(s, "k", 1, big, 1001, TEST_NOW_MS, NULL), GKV_EVALSIZE);
    assert_int_equal(store_get(s, big, GKV_KEY_MAX + 1, NULL), GKV_EKEYSIZE);
    assert_int_equal(store_del(s, big, 0, TEST_NOW_MS, NULL, NULL), GKV_EKEYSIZE);
    struct entry in = {.key = (const uint8_t *)"k", .key_len = 1, .value = big, .value_len = 1001,
                       .hlc = HLC_MAKE(TEST_NOW_MS, 0), .origin = 9};
    assert_int_equal(store_merge(s, &in, TEST_NOW_MS, NULL), GKV_EVALSIZE);
    store_close(s);

    /* the default limit is 1 MiB */
    s = open_mem(16);
    uint8_t *mib = calloc(1, GKV_VALUE_MAX_DEFAULT + 1);
    assert_int_equal(store_put(s, "m", 1, mib, GKV_VALUE_MAX_DEFAULT, TEST_NOW_MS, NULL), 0);
    check_value(s, "m", 1, mib, GKV_VALUE_MAX_DEFAULT);
    assert_int_equal(store_put(s, "m", 1, mib, GKV_VALUE_MAX_DEFAULT + 1, TEST_NOW_MS, NULL),
                     GKV_EVALSIZE);
    free(mib);
    store_close(s);

    /* max_entries */
    test_cfg(&cfg, NULL, 16);
    cfg.max_entries = 3;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    assert_int_equal(store_put(s, "a", 1, "1", 1, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_put(s, "b", 1, "1", 1, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_put(s, "c", 1, "1", 1, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_put(s, "d", 1, "1", 1, TEST_NOW_MS, NULL), GKV_EFULL);
    assert_int_equal(store_put(s, "a", 1, "2", 1, TEST_NOW_MS, NULL), 0); /* overwrite is fine */
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.full_refused, 1);
    store_close(s);
}

static void test_store_merge_resolves_by_hlc_and_counts_clock_refusals(void **state)
{
    (void)state;
    struct store *s = open_mem(16);
    struct entry in = {.key = (const uint8_t *)"k", .key_len = 1, .value = (const uint8_t *)"remote",
                       .value_len = 6, .hlc = HLC_MAKE(TEST_NOW_MS - 1000, 0), .origin = 9};
    vclock_clear(&in.vc);
    vclock_increment(&in.vc, 9);
    bool taken = false;
    assert_int_equal(store_merge(s, &in, TEST_NOW_MS, &taken), 0);
    assert_true(taken);
    check_value(s, "k", 1, "remote", 6);
    /* a local write afterwards wins (its HLC is later) */
    assert_int_equal(store_put(s, "k", 1, "local", 5, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_merge(s, &in, TEST_NOW_MS, &taken), 0);
    assert_false(taken);
    check_value(s, "k", 1, "local", 5);
    struct entry e;
    assert_int_equal(store_get(s, "k", 1, &e), 0);
    assert_int_equal(e.vc.n, 2); /* merged clock: 7 and 9 */
    /* a newer remote version wins */
    in.hlc = HLC_MAKE(TEST_NOW_MS + 100, 0);
    in.value = (const uint8_t *)"newer";
    in.value_len = 5;
    assert_int_equal(store_merge(s, &in, TEST_NOW_MS, &taken), 0);
    assert_true(taken);
    check_value(s, "k", 1, "newer", 5);
    /* too far ahead: refused, counted, nothing stored */
    in.hlc = HLC_MAKE(TEST_NOW_MS + 60000, 0);
    in.value = (const uint8_t *)"future";
    in.value_len = 6;
    assert_int_equal(store_merge(s, &in, TEST_NOW_MS, &taken), GKV_ECLOCK);
    check_value(s, "k", 1, "newer", 5);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.clock_refused, 1);
    /* an entry fed back from our own mapping merges safely */
    assert_int_equal(store_get(s, "k", 1, &e), 0);
    assert_int_equal(store_merge(s, &e, TEST_NOW_MS, &taken), 0);
    assert_false(taken);
    /* a tombstone with a value is malformed */
    struct entry bad = in;
    bad.hlc = HLC_MAKE(TEST_NOW_MS, 5);
    bad.flags = ENTRY_TOMBSTONE;
    assert_int_equal(store_merge(s, &bad, TEST_NOW_MS, NULL), GKV_EINVAL);
    store_close(s);
}

struct seen {
    uint32_t *count;
    uint64_t n;
    uint64_t visits;
};

static int seen_cb(void *arg, const struct entry *e)
{
    struct seen *sn = arg;
    char buf[32];
    if (e->key_len >= sizeof buf)
        return 0;
    memcpy(buf, e->key, e->key_len);
    buf[e->key_len] = 0;
    uint64_t i = strtoull(buf + 1, NULL, 10);
    if (i < sn->n)
        sn->count[i]++;
    sn->visits++;
    return 0;
}

static void test_store_scan_visits_every_key_across_growth(void **state)
{
    (void)state;
    struct gkv_rng rng;
    test_rng(&rng, 424242);
    struct store *s = open_mem(16);
    const uint64_t n0 = 3000, n1 = 20000;
    char k[32];
    for (uint64_t i = 0; i < n0; i++)
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), "v", 1, TEST_NOW_MS, NULL), 0);
    struct seen sn = {.count = calloc(n1, sizeof(uint32_t)), .n = n1};
    uint64_t cursor = 0, calls = 0, next = n0, growths_seen = 0;
    do {
        uint32_t count = (uint32_t)gkv_rng_below(&rng, 64) + 1;
        assert_int_equal(store_scan(s, &cursor, count, seen_cb, &sn), 0);
        calls++;
        /* grow the table between scan calls */
        for (int j = 0; j < 40 && next < n1; j++, next++)
            assert_int_equal(store_put(s, k, test_key(k, sizeof k, next), "v", 1, TEST_NOW_MS, NULL), 0);
        struct store_stats st;
        store_stats(s, &st);
        growths_seen = st.growths;
        assert_true(calls < 1000000);
    } while (cursor != 0);
    for (uint64_t i = 0; i < n0; i++)
        if (sn.count[i] < 1)
            fail_msg("key k%" PRIu64 " present for the whole scan was not visited", i);
    printf("scan: %" PRIu64 " calls, %" PRIu64 " visits, %" PRIu64 " doublings during the scan\n",
           calls, sn.visits, growths_seen);
    assert_true(growths_seen >= 3);
    /* a scan without concurrent writes visits each key exactly once */
    memset(sn.count, 0, n1 * sizeof(uint32_t));
    sn.visits = 0;
    cursor = 0;
    do
        assert_int_equal(store_scan(s, &cursor, 100, seen_cb, &sn), 0);
    while (cursor != 0);
    for (uint64_t i = 0; i < next; i++)
        assert_int_equal(sn.count[i], 1);
    free(sn.count);
    store_close(s);
}

static void test_store_growth_keeps_every_key(void **state)
{
    (void)state;
    struct store *s = open_mem(16);
    const uint64_t n = 200000;
    char k[32], v[64];
    uint64_t last_growths = 0, checks = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t vl = test_value(v, sizeof v, i, 1, 20 + i % 40);
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), v, vl, TEST_NOW_MS, NULL), 0);
        struct store_stats st;
        store_stats(s, &st);
        if (st.growths != last_growths) {
            /* after each completed doubling, every key so far */
            last_growths = st.growths;
            for (uint64_t j = 0; j <= i; j++) {
                vl = test_value(v, sizeof v, j, 1, 20 + j % 40);
                size_t kl = test_key(k, sizeof k, j);
                struct entry e;
                if (store_get(s, k, kl, &e) != 0)
                    fail_msg("key %s lost after doubling %" PRIu64, k, last_growths);
                assert_int_equal(e.value_len, vl);
                assert_memory_equal(e.value, v, vl);
                checks++;
            }
        }
    }
    struct store_stats st;
    store_stats(s, &st);
    printf("growth: %" PRIu64 " keys, %" PRIu64 " doublings, capacity %" PRIu64 ", %" PRIu64
           " key checks\n",
           n, st.growths, st.capacity, checks);
    assert_true(st.growths >= 13);
    assert_int_equal(st.entries, n);
    store_close(s);
}

static void test_store_bucket_hashes_equal_across_write_orders(void **state)
{
    (void)state;
    struct gkv_rng rng;
    test_rng(&rng, 77);
    enum { N = 3000 };
    static struct entry ents[N];
    static char keys[N][16], vals[N][32];
    for (int i = 0; i < N; i++) {
        struct entry *e = &ents[i];
        memset(e, 0, sizeof *e);
        e->key_len = (uint32_t)snprintf(keys[i], sizeof keys[i], "key%d", i);
        e->key = (const uint8_t *)keys[i];
        e->hlc = HLC_MAKE(TEST_NOW_MS - 5000, (uint64_t)i);
        e->origin = 1 + gkv_rng_below(&rng, 5);
        if (gkv_rng_below(&rng, 10) == 0) {
            e->flags = ENTRY_TOMBSTONE;
        } else {
            e->value_len = (uint32_t)snprintf(vals[i], sizeof vals[i], "val%d-%d", i, (int)e->origin);
            e->value = (const uint8_t *)vals[i];
        }
        vclock_increment(&e->vc, e->origin);
    }
    struct store *a = open_mem(16), *b = open_mem(64);
    for (int i = 0; i < N; i++)
        assert_int_equal(store_merge(a, &ents[i], TEST_NOW_MS, NULL), 0);
    /* b: reverse order, with duplicates, and an older version first */
    for (int i = N - 1; i >= 0; i--) {
        struct entry older = ents[i];
        older.hlc -= 1;
        older.value = (const uint8_t *)"old";
        older.value_len = 3;
        older.flags = 0;
        assert_int_equal(store_merge(b, &older, TEST_NOW_MS, NULL), 0);
        assert_int_equal(store_merge(b, &ents[i], TEST_NOW_MS, NULL), 0);
        assert_int_equal(store_merge(b, &ents[i], TEST_NOW_MS, NULL), 0);
    }
    assert_memory_equal(store_bucket_hashes(a), store_bucket_hashes(b), STORE_BUCKETS * 8);
    assert_true(store_root_hash(a) == store_root_hash(b));
    assert_true(store_root_hash(a) != 0);
    /* each bucket's hash equals the XOR over store_bucket_scan */
    for (uint32_t bk = 0; bk < STORE_BUCKETS; bk += 97) {
        struct {
            uint64_t x;
            uint32_t bk;
        } acc = {0, bk};
        int cb(void *arg, const struct entry *e);
        assert_int_equal(store_bucket_scan(a, bk, cb, &acc), 0);
        assert_true(acc.x == store_bucket_hashes(a)[bk]);
    }
    /* a change in one entry changes exactly its bucket */
    uint32_t bk = entry_bucket(ents[5].key, ents[5].key_len, STORE_BUCKET_BITS);
    assert_int_equal(store_put(b, ents[5].key, ents[5].key_len, "x", 1, TEST_NOW_MS, NULL), 0);
    for (uint32_t i = 0; i < STORE_BUCKETS; i++) {
        if (i == bk)
            assert_true(store_bucket_hashes(a)[i] != store_bucket_hashes(b)[i]);
        else
            assert_true(store_bucket_hashes(a)[i] == store_bucket_hashes(b)[i]);
    }
    store_close(a);
    store_close(b);
}

int cb(void *arg, const struct entry *e);
int cb(void *arg, const struct entry *e)
{
    struct {
        uint64_t x;
        uint32_t bk;
    } *acc = arg;
    assert_int_equal(entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS), acc->bk);
    acc->x ^= entry_version_hash(e);
    return 0;
}

static void test_store_purge_tombstones_after_grace_and_safe_bound(void **state)
{
    (void)state;
    struct store_config cfg;
    test_cfg(&cfg, NULL, 16);
    cfg.tombstone_grace_ms = 1000;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    char k[32];
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), "v", 1, TEST_NOW_MS, NULL), 0);
    uint64_t root_before = store_root_hash(s);
    for (uint64_t i = 0; i < 50; i++)
        assert_int_equal(store_del(s, k, test_key(k, sizeof k, i), TEST_NOW_MS, NULL, NULL), 0);
    uint64_t purged = 0;
    /* within the grace period: nothing */
    assert_int_equal(store_purge_tombstones(s, TEST_NOW_MS + 500, UINT64_MAX, 1 << 20, &purged), 0);
    assert_int_equal(purged, 0);
    /* past grace but the gossip bound says not everyone has seen them */
    assert_int_equal(store_purge_tombstones(s, TEST_NOW_MS + 5000, HLC_MAKE(TEST_NOW_MS - 1, 0),
                                            1 << 20, &purged),
                     0);
    assert_int_equal(purged, 0);
    /* bounded work per call, resumable */
    uint64_t total = 0;
    for (int r = 0; r < 64 && total < 50; r++) {
        assert_int_equal(store_purge_tombstones(s, TEST_NOW_MS + 5000, UINT64_MAX, 16, &purged), 0);
        assert_true(purged <= 16);
        total += purged;
    }
    assert_int_equal(total, 50);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.tombstones, 0);
    assert_int_equal(st.entries, 50);
    for (uint64_t i = 0; i < 50; i++)
        assert_int_equal(store_get(s, k, test_key(k, sizeof k, i), NULL), GKV_ENOTFOUND);
    for (uint64_t i = 50; i < 100; i++)
        assert_int_equal(store_get(s, k, test_key(k, sizeof k, i), NULL), 0);
    assert_true(store_root_hash(s) != root_before);
    /* purged slots are reused; inserts still work */
    for (uint64_t i = 0; i < 50; i++)
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), "w", 1, TEST_NOW_MS, NULL), 0);
    store_stats(s, &st);
    assert_int_equal(st.entries, 100);
    store_close(s);
}

static void test_store_reopen_persists_everything(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 16);
    cfg.sync = STORE_SYNC_BATCH;
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err), 0);
    char k[32], v[64];
    const uint64_t n = 5000;
    for (uint64_t i = 0; i < n; i++) {
        size_t vl = test_value(v, sizeof v, i, 3, 10 + i % 50);
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), v, vl, TEST_NOW_MS, NULL), 0);
    }
    for (uint64_t i = 0; i < n; i += 10)
        assert_int_equal(store_del(s, k, test_key(k, sizeof k, i), TEST_NOW_MS, NULL, NULL), 0);
    uint64_t root = store_root_hash(s);
    struct entry e;
    assert_int_equal(store_get(s, "k1", 2, &e), 0);
    uint64_t hlc_max = store_hlc(s)->last;
    assert_int_equal(store_set_incarnation(s, 41), 0);
    assert_int_equal(store_close(s), 0);

    /* reopen: everything is there, same digests, clean shutdown */
    assert_int_equal(store_open(&cfg, TEST_NOW_MS - 10000 /* clock stepped back */, &s, err, sizeof err), 0);
    struct store_stats st;
    store_stats(s, &st);
    assert_false(st.recovered);
    assert_int_equal(st.incarnation, 41);
    assert_int_equal(st.entries, n - n / 10);
    assert_int_equal(st.tombstones, n / 10);
    assert_true(store_root_hash(s) == root);
    for (uint64_t i = 0; i < n; i++) {
        size_t kl = test_key(k, sizeof k, i);
        assert_int_equal(store_get(s, k, kl, &e), 0);
        if (i % 10 == 0) {
            assert_true(entry_is_tombstone(&e));
        } else {
            size_t vl = test_value(v, sizeof v, i, 3, 10 + i % 50);
            assert_int_equal(e.value_len, vl);
            assert_memory_equal(e.value, v, vl);
        }
    }
    /* the HLC never goes backwards across a restart, even with the wall
     * clock 10 s behind */
    assert_int_equal(store_put(s, "k1", 2, "new", 3, TEST_NOW_MS - 10000, &e), 0);
    assert_true(e.hlc > hlc_max);
    /* the node id is checked */
    assert_int_equal(store_close(s), 0);
    cfg.node_id = 8;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err), GKV_EINVAL);
    assert_non_null(strstr(err, "node id"));
    cfg.node_id = 0; /* 0 = accept what the header says */
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err), 0);
    assert_int_equal(store_node_id(s), 7);
    FILE *devnull = fopen("/dev/null", "w");
    /* inspect works (read-only) while a store holds the directory */
    assert_int_equal(store_inspect(dir, false, devnull), 0);
    store_close(s);
    assert_int_equal(store_inspect(dir, true, devnull), 0);
    fclose(devnull);
    test_rmrf(dir);
}

static void test_store_second_open_is_refused_with_elocked(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 16);
    struct store *a = NULL, *b = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &a, err, sizeof err), 0);
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &b, err, sizeof err), GKV_ELOCKED);
    assert_null(b);
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "LOCK"));
    printf("second open: %s\n", err);
    /* another process is refused too */
    pid_t pid = fork();
    if (pid == 0) {
        struct store *c = NULL;
        _exit(store_open(&cfg, TEST_NOW_MS, &c, NULL, 0) == GKV_ELOCKED ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(store_close(a), 0);
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &b, err, sizeof err), 0);
    assert_int_equal(store_close(b), 0);
    test_rmrf(dir);
}

static void test_store_sync_modes_count_syncs(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 16);
    cfg.sync = STORE_SYNC_BATCH;
    cfg.batch_ms = 100;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    struct store_stats st;
    assert_int_equal(store_put(s, "a", 1, "1", 1, TEST_NOW_MS, NULL), 0);
    /* A directory store in sync=batch commits its write-ahead log (the
     * mapped files wait for a checkpoint: none at this size). */
    assert_int_equal(store_tick(s, TEST_NOW_MS + 50), 0);
    store_stats(s, &st);
    assert_true(st.log_enabled);
    assert_int_equal(st.log_group_commits, 0); /* batch period not elapsed */
    assert_int_equal(store_tick(s, TEST_NOW_MS + 100), 0);
    store_stats(s, &st);
    assert_int_equal(st.log_group_commits, 1);
    assert_int_equal(st.log_durable_bytes, st.log_bytes);
    assert_int_equal(store_tick(s, TEST_NOW_MS + 300), 0);
    store_stats(s, &st);
    assert_int_equal(st.log_group_commits, 1); /* nothing new */
    assert_int_equal(st.syncs, 0);             /* no checkpoint yet */
    assert_int_equal(store_sync(s), 0);        /* store_sync is one */
    store_stats(s, &st);
    assert_int_equal(st.syncs, 1);
    assert_int_equal(st.log_checkpoints, 1);
    store_close(s);
    test_rmrf(dir);
}

/* Model check: random puts, deletes, merges, purges, scans, ticks and
 * reopens (file-backed, small initial table so it doubles many times)
 * against a plain array model; after every step the touched key, and after
 * every reopen every key, must match; bucket hashes must equal the XOR of
 * version hashes over a full scan. */
enum { MODEL_KEYS = 6000 };
struct model_entry {
    bool present, tomb;
    uint32_t value_len;
    uint8_t value[48];
};

struct xor_acc {
    uint64_t b[STORE_BUCKETS];
    uint64_t n;
    uint64_t cutoff; /* the store's purge cutoff: retired tombstones are out of the digest */
};

static int xor_cb(void *arg, const struct entry *e)
{
    struct xor_acc *a = arg;
    if (!entry_purgeable_at(e, a->cutoff))
        a->b[entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS)] ^= entry_version_hash(e);
    a->n++;
    return 0;
}

static void model_check_key(struct store *s, const struct model_entry *m, uint64_t i)
{
    char k[32];
    size_t kl = test_key(k, sizeof k, i);
    struct entry e;
    int rc = store_get(s, k, kl, &e);
    if (!m->present) {
        if (rc != GKV_ENOTFOUND)
            fail_msg("key %s should be absent, got %s", k, gkv_errname(rc));
        return;
    }
    if (rc != 0)
        fail_msg("key %s missing", k);
    assert_int_equal(entry_is_tombstone(&e), m->tomb);
    if (!m->tomb) {
        assert_int_equal(e.value_len, m->value_len);
        assert_memory_equal(e.value, m->value, m->value_len);
    }
}

static void model_check_all(struct store *s, const struct model_entry *model)
{
    uint64_t live = 0, tombs = 0;
    for (uint64_t i = 0; i < MODEL_KEYS; i++) {
        model_check_key(s, &model[i], i);
        live += model[i].present && !model[i].tomb;
        tombs += model[i].present && model[i].tomb;
    }
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.entries, live);
    assert_int_equal(st.tombstones, tombs);
    static struct xor_acc acc;
    memset(&acc, 0, sizeof acc);
    acc.cutoff = store_purge_cutoff_hlc(s);
    uint64_t cursor = 0;
    do
        assert_int_equal(store_scan(s, &cursor, 50, xor_cb, &acc), 0);
    while (cursor != 0);
    assert_int_equal(acc.n, live + tombs);
    assert_memory_equal(acc.b, store_bucket_hashes(s), sizeof acc.b);
}

static void test_store_random_ops_match_a_model_across_reopens(void **state)
{
    (void)state;
    struct gkv_rng rng;
    test_rng(&rng, 99);
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 16);
    cfg.sync = STORE_SYNC_BATCH;
    cfg.tombstone_grace_ms = 1000;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    struct model_entry *model = calloc(MODEL_KEYS, sizeof *model);
    uint64_t now = TEST_NOW_MS, reopens = 0, purged_total = 0, merges = 0;
    char k[32];
    uint64_t reopens_growing = 0;
    for (int step = 0; step < 60000; step++) {
        /* the key space widens as the run goes, so doublings (and reopens
         * in the middle of one) happen throughout */
        uint64_t active = 50 + (uint64_t)step / 10;
        uint64_t i = gkv_rng_below(&rng, active < MODEL_KEYS ? active : MODEL_KEYS);
        size_t kl = test_key(k, sizeof k, i);
        struct model_entry *m = &model[i];
        uint64_t op = gkv_rng_below(&rng, 100);
        now += gkv_rng_below(&rng, 3);
        if (op < 55) {
            m->value_len = (uint32_t)gkv_rng_below(&rng, sizeof m->value + 1);
            for (uint32_t j = 0; j < m->value_len; j++)
                m->value[j] = (uint8_t)gkv_rng_next(&rng);
            assert_int_equal(store_put(s, k, kl, m->value, m->value_len, now, NULL), 0);
            m->present = true;
            m->tomb = false;
        } else if (op < 75) {
            bool existed = false;
            assert_int_equal(store_del(s, k, kl, now, NULL, &existed), 0);
            assert_int_equal(existed, m->present && !m->tomb);
            m->present = true;
            m->tomb = true;
        } else if (op < 88) {
            /* a remote version: newer (taken) or older (kept), from node 9 */
            struct entry cur;
            bool have = store_get(s, k, kl, &cur) == 0;
            uint8_t val[8];
            for (int j = 0; j < 8; j++)
                val[j] = (uint8_t)gkv_rng_next(&rng);
            struct entry in = {.key = (const uint8_t *)k, .key_len = (uint32_t)kl, .origin = 9};
            bool newer = !have || gkv_rng_below(&rng, 2) == 0;
            in.hlc = have ? (newer ? cur.hlc + 1 : cur.hlc - 1) : HLC_MAKE(now, 0);
            if (gkv_rng_below(&rng, 4) == 0) {
                in.flags = ENTRY_TOMBSTONE;
            } else {
                in.value = val;
                in.value_len = 8;
            }
            vclock_clear(&in.vc);
            vclock_increment(&in.vc, 9);
            bool taken = false;
            /* a tombstone past the purge cutoff (the purges below run
             * ahead of now) is dropped, never taken (issue 25) */
            uint64_t cut = entry_purge_cutoff_hlc(now, cfg.tombstone_grace_ms);
            if (store_purge_cutoff_hlc(s) > cut)
                cut = store_purge_cutoff_hlc(s);
            bool dropped = entry_purgeable_at(&in, cut);
            assert_int_equal(store_merge(s, &in, now, &taken), 0);
            assert_int_equal(taken, newer && !dropped);
            if (taken) {
                m->present = true;
                m->tomb = entry_is_tombstone(&in);
                m->value_len = in.value_len;
                memcpy(m->value, val, in.value_len);
            }
            merges++;
        } else if (op < 92) {
            uint64_t purged = 0;
            assert_int_equal(store_purge_tombstones(s, now + 2000, UINT64_MAX, 64, &purged), 0);
            purged_total += purged;
            if (purged) {
                /* which ones went: any tombstone the store no longer has */
                for (uint64_t j = 0; j < MODEL_KEYS; j++) {
                    if (model[j].present && model[j].tomb) {
                        size_t jl = test_key(k, sizeof k, j);
                        if (store_get(s, k, jl, NULL) == GKV_ENOTFOUND)
                            model[j].present = false;
                    }
                }
            }
        } else if (op < 99) {
            assert_int_equal(store_tick(s, now), 0);
        } else if (gkv_rng_below(&rng, 10) == 0) {
            struct store_stats gs;
            store_stats(s, &gs);
            reopens_growing += gs.growing;
            assert_int_equal(store_close(s), 0);
            assert_int_equal(store_open(&cfg, now, &s, NULL, 0), 0);
            reopens++;
            model_check_all(s, model);
        }
        model_check_key(s, m, i);
    }
    model_check_all(s, model);
    struct store_stats st;
    store_stats(s, &st);
    printf("model: 60000 steps, %" PRIu64 " reopens (%" PRIu64 " during a doubling), %" PRIu64
           " merges, %" PRIu64 " tombstones purged, final capacity %" PRIu64 "\n",
           reopens, reopens_growing, merges, purged_total, st.capacity);
    assert_int_equal(store_close(s), 0);
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(store_inspect(dir, false, devnull), 0);
    fclose(devnull);
    free(model);
    test_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_put_get_delete_overwrite),
        cmocka_unit_test(test_store_binary_keys_with_nuls),
        cmocka_unit_test(test_store_open_error_message_belongs_to_the_caller),
        cmocka_unit_test(test_store_key_and_value_limits),
        cmocka_unit_test(test_store_merge_resolves_by_hlc_and_counts_clock_refusals),
        cmocka_unit_test(test_store_scan_visits_every_key_across_growth),
        cmocka_unit_test(test_store_growth_keeps_every_key),
        cmocka_unit_test(test_store_bucket_hashes_equal_across_write_orders),
        cmocka_unit_test(test_store_purge_tombstones_after_grace_and_safe_bound),
        cmocka_unit_test(test_store_reopen_persists_everything),
        cmocka_unit_test(test_store_second_open_is_refused_with_elocked),
        cmocka_unit_test(test_store_sync_modes_count_syncs),
        cmocka_unit_test(test_store_random_ops_match_a_model_across_reopens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
