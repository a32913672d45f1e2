/*
 * The read cache's in-place doubling (storage/rcache.c): the mapping grows
 * and old bucket b splits into new buckets 2b and 2b + 1, highest first,
 * in step with the table's migration. While it runs, every bucket anyone
 * can read sits where its tags say (old layout below rc_mig, new layout
 * from 2 * rc_mig), every entry names its key's current record, a split
 * loses no entry, and gets answer as the table does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/rng.h"
#include "storage/store_int.h"
#include "test_store_util.h"

/* The table's current record offset for key (the SipHash path), 0 if none. */
static uint64_t table_rec_off(struct store *s, const uint8_t *k, uint32_t kl)
{
    uint64_t h = store__key_hash(s, k, kl);
    const struct store_table *t = &s->cur;
    int64_t idx = store__find(s, t, h, k, kl, NULL);
    if (idx < 0 && s->growing && s->old.map) {
        t = &s->old;
        idx = store__find(s, t, h, k, kl, NULL);
    }
    return idx < 0 ? 0 : t->slots[idx].rec_off;
}

/* Walk every bucket a lookup can reach; check placement, one entry per tag
 * per bucket, and that each entry names the current record of the key in
 * that record. Returns the number of entries. */
static uint64_t check_cache(struct store *s, const char *when)
{
    const struct store_rcache *c = &s->rc;
    assert_non_null(c->e);
    uint64_t n = 0;
    for (uint64_t p = 0; p < c->buckets; p++) {
        bool old = s->rc_mig != 0 && p < s->rc_mig;
        if (s->rc_mig != 0 && p >= s->rc_mig && p < 2 * s->rc_mig)
            continue; /* moved old buckets, new buckets not filled yet: unread */
        const uint64_t *b = c->e + p * STORE_RC_WAYS;
        for (unsigned w = 0; w < STORE_RC_WAYS; w++) {
            if (b[w] == 0)
                continue;
            n++;
            uint32_t tag = (uint32_t)(b[w] >> 32);
            uint64_t home = (uint64_t)tag >> (old ? s->rc_old_shift : c->shift);
            if (home != p)
                fail_msg("%s: tag %08x in %s bucket %" PRIu64 ", belongs in %" PRIu64, when, tag,
                         old ? "old" : "new", p, home);
            for (unsigned x = w + 1; x < STORE_RC_WAYS; x++)
                if ((uint32_t)(b[x] >> 32) == tag)
                    fail_msg("%s: tag %08x twice in bucket %" PRIu64, when, tag, p);
            uint64_t off = (uint64_t)(uint32_t)b[w] * FMT_GRANULE;
            if (!store__record_valid(&s->heap, off))
                fail_msg("%s: bucket %" PRIu64 " names no record at %" PRIu64, when, p, off);
            const struct fmt_record *r = store__rec(&s->heap, off);
            const uint8_t *k = (const uint8_t *)(r + 1) + 16u * r->vc_n;
            if (store__rc_tag(store__rc_hash(s, k, r->key_len)) != tag)
                fail_msg("%s: bucket %" PRIu64 ": the record's key has another tag", when, p);
            if (table_rec_off(s, k, r->key_len) != off)
                fail_msg("%s: bucket %" PRIu64 " names a record at %" PRIu64
                         " that is not its key's current one",
                         when, p, off);
        }
    }
    return n;
}

static void check_gets(struct store *s, uint64_t keys, const char *when)
{
    char k[32];
    for (uint64_t i = 0; i < keys; i++) {
        size_t kl = test_key(k, sizeof k, i);
        struct entry e;
        int rc = store_get(s, k, kl, &e);
        uint64_t off = table_rec_off(s, (const uint8_t *)k, (uint32_t)kl);
        if ((rc == 0) != (off != 0))
            fail_msg("%s: key %" PRIu64 ": get %d, table offset %" PRIu64, when, i, rc, off);
        if (rc == 0 && (uint64_t)((const uint8_t *)e.key - s->heap.map) -
                               sizeof(struct fmt_record) - 16u * e.vc.n != off)
            fail_msg("%s: key %" PRIu64 ": get answered another record", when, i);
    }
}

/* Random puts, deletes and gets from 16 slots to 16384 (10 doublings), every
 * doubling in place (the 2 MiB threshold lowered to 0);
 * during each doubling the cache is checked after every 37th operation (so
 * at many split points), and once with the split driven to its end by
 * grow steps alone: no entry may appear or vanish then. */
static void test_store_read_cache_doubles_in_place(void **state)
{
    (void)state;
    struct gkv_rng r;
    test_rng(&r, 0x5b117);
    char dir[64], k[32], v[128];
    struct store_config cfg;
    uint64_t now = TEST_NOW_MS;
    struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 16, STORE_SYNC_NONE, 1, now);
    assert_non_null(s->rc.e);
    s->rc_inplace_min_bytes = 0;
    const uint64_t keys = 12000;
    uint64_t checks_splitting = 0, doublings = 0, quiet_splits = 0;
    bool was_splitting = false;
    for (uint64_t op = 0; op < 40000; op++) {
        uint64_t i = gkv_rng_below(&r, op < 20000 ? 1 + op * keys / 20000 : keys);
        size_t kl = test_key(k, sizeof k, i);
        now++;
        uint32_t what = (uint32_t)gkv_rng_below(&r, 10);
        if (what < 7) {
            size_t vl = test_value(v, sizeof v, i, now, 1 + gkv_rng_below(&r, 100));
            assert_int_equal(store_put(s, k, kl, v, vl, now, NULL), 0);
        } else if (what < 8) {
            assert_int_equal(store_del(s, k, kl, now, NULL, NULL), 0);
        } else {
            struct entry e;
            (void)store_get(s, k, kl, &e); /* a miss fills the cache */
        }
        bool splitting = s->rc_mig != 0;
        if (splitting && !was_splitting) {
            doublings++;
            assert_int_equal(s->rc_mig, s->rc.buckets / 2); /* nothing moved yet */
            if (doublings % 3 == 0) {
                /* no writes: grow steps alone move every bucket */
                uint64_t before = check_cache(s, "split start");
                for (int g = 0; g < 1000000 && s->rc_mig != 0; g++) {
                    assert_int_equal(store__grow_step(s, 64), 0);
                    if (g % 8 == 0)
                        assert_int_equal(check_cache(s, "quiet split"), before);
                }
                assert_int_equal(s->rc_mig, 0);
                assert_int_equal(check_cache(s, "quiet split end"), before);
                quiet_splits++;
                splitting = false;
            }
        }
        if (splitting && op % 37 == 0) {
            check_cache(s, "during a split");
            checks_splitting++;
        }
        was_splitting = splitting;
        if (op % 5000 == 4999) {
            check_cache(s, "between doublings");
            check_gets(s, keys, "between doublings");
        }
    }
    check_cache(s, "end");
    check_gets(s, keys, "end");
    struct store_stats st;
    store_stats(s, &st);
    printf("capacity 16 -> %" PRIu64 ", %" PRIu64 " cache splits (%" PRIu64
           " quiet), %" PRIu64 " checks mid-split; cache %" PRIu64 " bytes, %" PRIu64
           " hits, %" PRIu64 " misses\n",
           st.capacity, doublings, quiet_splits, checks_splitting, st.read_cache_bytes,
           st.read_cache_hits, st.read_cache_misses);
    assert_true(st.capacity >= 16384);
    assert_true(doublings >= 8);
    assert_true(quiet_splits >= 2);
    assert_true(checks_splitting >= 20);
    /* 16 bytes per slot, the old half reused: no second cache alongside */
    assert_int_equal(st.read_cache_bytes, 16 * st.capacity);
    assert_true(st.read_cache_hits > st.read_cache_misses);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* At the real threshold: caches under 2 MiB double into a fresh mapping
 * at once (no split in progress afterwards), the doubling from 2 MiB (131072
 * slots) to 4 MiB runs in place; entries survive both ways. */
static void test_store_read_cache_small_caches_double_fresh_large_in_place(void **state)
{
    (void)state;
    char dir[64], k[32], v[64];
    struct store_config cfg;
    struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 1024, STORE_SYNC_NONE, 0, TEST_NOW_MS);
    assert_int_equal(s->rc_inplace_min_bytes, STORE_RC_INPLACE_MIN_BYTES);
    uint64_t fresh = 0, inplace = 0, last_buckets = s->rc.buckets;
    uint64_t i = 0;
    for (; i < 200000 && inplace == 0; i++) {
        size_t kl = test_key(k, sizeof k, i);
        size_t vl = test_value(v, sizeof v, i, 0, 20);
        assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
        if (s->rc.buckets == last_buckets)
            continue;
        uint64_t old_bytes = last_buckets * STORE_RC_WAYS * sizeof(uint64_t);
        last_buckets = s->rc.buckets;
        if (old_bytes < STORE_RC_INPLACE_MIN_BYTES) {
            assert_int_equal(s->rc_mig, 0); /* all split at once */
            fresh++;
            continue;
        }
        /* a split in progress: the same checks as above, then its end by
         * grow steps alone */
        assert_true(s->rc_mig > 0);
        uint64_t before = check_cache(s, "large split start");
        for (int g = 0; g < 1000000 && s->rc_mig != 0; g++)
            assert_int_equal(store__grow_step(s, 4096), 0);
        assert_int_equal(s->rc_mig, 0);
        assert_int_equal(check_cache(s, "large split end"), before);
        inplace++;
    }
    printf("%" PRIu64 " keys: %" PRIu64 " fresh doublings, %" PRIu64
           " in place; cache %" PRIu64 " buckets\n",
           i, fresh, inplace, s->rc.buckets);
    assert_true(fresh >= 6);
    assert_int_equal(inplace, 1);
    check_gets(s, i, "after the doublings");
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_read_cache_doubles_in_place),
        cmocka_unit_test(test_store_read_cache_small_caches_double_fresh_large_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
