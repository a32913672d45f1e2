/*
 * Space reuse of the record heap: overwriting 100k keys 100 times must not
 * grow the files without bound (file size after 100 rounds <= 2x after
 * round 1), in sync=none (immediate reuse) and, smaller, in sync=batch
 * (reuse after each group commit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "storage/store_int.h"
#include "test_store_util.h"

static void check_value(struct store *s, const void *key, size_t key_len, const void *val,
                        size_t val_len)
{
    struct entry e;
    assert_int_equal(store_get(s, key, key_len, &e), 0);
    assert_int_equal(e.value_len, val_len);
    assert_memory_equal(e.value, val, val_len);
}

/* 100k keys overwritten 100 times. Anonymous memory runs the same heap
 * code as a file (values.gkv's size is heap.file_bytes) without the disk
 * writeback that would dominate the run time; the file-backed variant below
 * checks the real file in sync=batch. */
static void test_store_space_reuse_under_overwrites(void **state)
{
    (void)state;
    struct store_config cfg;
    test_cfg(&cfg, NULL, 1024);
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    const uint64_t n = 100000, rounds = 100;
    char k[32], v[128];
    uint64_t now = TEST_NOW_MS, after_first = 0;
    /* keys as 8 binary bytes and values as (i, r) plus a fixed pattern: the
     * loop does 10M puts, so the test's own formatting must stay cheap */
    memset(v, 'p', sizeof v);
    for (uint64_t r = 0; r < rounds; r++) {
        for (uint64_t i = 0; i < n; i++) {
            memcpy(k, &i, 8);
            memcpy(v, &i, 8);
            memcpy(v + 8, &r, 8);
            /* value length varies by round within 60..100 bytes */
            int rc = store_put(s, k, 8, v, 60 + (i + r) % 41, now, NULL);
            if (rc != 0)
                fail_msg("put %" PRIu64 " round %" PRIu64 ": %s", i, r, gkv_errname(rc));
            if (i % 1000 == 0)
                assert_int_equal(store_tick(s, now += 20), 0);
        }
        if (r == 0)
            after_first = s->heap.file_bytes;
    }
    struct store_stats st;
    store_stats(s, &st);
    printf("space reuse: value heap %" PRIu64 " bytes after round 1, %" PRIu64 " after %" PRIu64
           " rounds of %" PRIu64 " overwrites (used %" PRIu64 ", free %" PRIu64 ")\n",
           after_first, s->heap.file_bytes, rounds, n, st.value_bytes_used, st.value_bytes_free);
    assert_true(s->heap.file_bytes <= 2 * after_first);
    /* the last round's values are there */
    for (uint64_t i = 0; i < n; i += 997) {
        uint64_t r = rounds - 1;
        memcpy(k, &i, 8);
        memcpy(v, &i, 8);
        memcpy(v + 8, &r, 8);
        check_value(s, k, 8, v, 60 + (i + r) % 41);
    }
    assert_int_equal(store_close(s), 0);
}

static void test_store_space_reuse_under_overwrites_batch(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 1024);
    cfg.sync = STORE_SYNC_BATCH;
    cfg.batch_ms = 100;
    /* Freed blocks become reusable at checkpoints (write-ahead log, I12);
     * a round's log (~650 KB) passes this, so each round's tick is one. */
    cfg.wal_checkpoint_bytes = 256u << 10;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    const uint64_t n = 5000, rounds = 20;
    char k[32], v[128];
    uint64_t now = TEST_NOW_MS, after_first = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        for (uint64_t i = 0; i < n; i++) {
            size_t vl = test_value(v, sizeof v, i, r, 60 + (i + r) % 41);
            assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), v, vl, now, NULL), 0);
        }
        /* one checkpoint per round: blocks freed in the round become reusable */
        assert_int_equal(store_tick(s, now += 100), 0);
        if (r == 0)
            after_first = file_size(dir, "values.gkv");
    }
    uint64_t last = file_size(dir, "values.gkv");
    printf("space reuse (batch): values.gkv %" PRIu64 " bytes after round 1, %" PRIu64
           " after %" PRIu64 "\n",
           after_first, last, rounds);
    assert_true(last <= 3 * after_first);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* In sync=batch, freed blocks wait for the next group commit; a write
 * forces one early only when the *pending* blocks pass 64 MiB, not when the
 * free lists are large (that would sync on every write after a mass delete). */
static void test_store_batch_forces_early_sync_only_on_pending_bytes(void **state)
{
    (void)state;
    struct store_config cfg;
    test_cfg(&cfg, NULL, 1024);
    cfg.sync = STORE_SYNC_BATCH;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    static char big[40000];
    memset(big, 'b', sizeof big);
    char k[32];
    const uint64_t n = 2000; /* 80 MB of values */
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), big, sizeof big, TEST_NOW_MS, NULL), 0);
    struct store_stats st;
    store_stats(s, &st);
    uint64_t syncs0 = st.syncs;
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(store_del(s, k, test_key(k, sizeof k, i), TEST_NOW_MS, NULL, NULL), 0);
    store_stats(s, &st);
    uint64_t syncs1 = st.syncs;
    assert_true(syncs1 - syncs0 >= 1); /* 80 MB pending forced a commit */
    assert_true(syncs1 - syncs0 <= 2);
    /* now lots of free space, little pending: small overwrites (each frees
     * a block onto the pending list) do not sync */
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, n + i % 10), "v", 1, TEST_NOW_MS, NULL), 0);
    store_stats(s, &st);
    printf("batch: %" PRIu64 " forced commits for 80 MB freed, %" PRIu64 " for 1000 small overwrites after "
           "(free %" PRIu64 " bytes)\n",
           syncs1 - syncs0, st.syncs - syncs1, st.value_bytes_free);
    assert_int_equal(st.syncs, syncs1);
    assert_int_equal(store_close(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_space_reuse_under_overwrites),
        cmocka_unit_test(test_store_space_reuse_under_overwrites_batch),
        cmocka_unit_test(test_store_batch_forces_early_sync_only_on_pending_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
