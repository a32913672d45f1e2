/*
 * Preparation jobs (store_config.external_prep, storage/prep.c): growth
 * ahead of need off the owner's thread, and the order each job keeps.
 *
 * What is checked, step by step on one store (jobs run inline here; the
 * node runs them on the libuv pool, which changes nothing they touch):
 *  - the next table's file exists only after its job ran, and no header
 *    names it until a doubling starts;
 *  - with the table ready, the doubling at 3/4 load, the migration and
 *    the puts make no blocking disk call on the owner's thread;
 *  - a commit job's fdatasyncs (values.gkv, the new table) come before the
 *    header stops naming the old table, which happens only at its end;
 *  - the old table's file goes only in a retire job's run, after the
 *    header that stopped naming it was made durable;
 *  - values.gkv is grown by a heap job ahead of the allocator;
 *  - without jobs (a late pool) the same writes take the inline path, and
 *    that is what store_disk_calls_get counts;
 *  - every key is there after close and reopen, and inspect is happy.
 * Deterministic (no randomness, no timing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "storage/store_int.h"
#include "test_store_util.h"

#define VAL_BYTES 100u

static void put_kv(struct store *s, uint64_t i)
{
    char k[32], v[VAL_BYTES + 32];
    size_t kl = test_key(k, sizeof k, i);
    size_t vl = test_value(v, sizeof v, i, 1, VAL_BYTES);
    assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
}

static void expect_all(struct store *s, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        char k[32], v[VAL_BYTES + 32];
        size_t kl = test_key(k, sizeof k, i);
        size_t vl = test_value(v, sizeof v, i, 1, VAL_BYTES);
        struct entry e;
        if (store_get(s, k, kl, &e) != 0)
            fail_msg("key %s missing", k);
        assert_int_equal(e.value_len, vl);
        assert_memory_equal(e.value, v, vl);
    }
}

/* Blocking calls on the owner's thread, but for sync=always's log
 * fdatasync before each put returns (what that mode is). */
static uint64_t owner_calls(const struct store *s)
{
    struct store_disk_calls d;
    store_disk_calls_get(s, &d);
    uint64_t n = 0;
    for (int i = 0; i < STORE_IO_CAUSES; i++)
        n += i == STORE_IO_FSYNC_ALWAYS ? 0 : d.owner[i];
    return n;
}

static bool table_file_exists(const char *dir, uint64_t gen)
{
    char name[64], path[4200];
    store__table_name(name, sizeof name, gen);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static struct store *open_ext(char *dir, size_t n, struct store_config *cfg, enum store_sync mode)
{
    test_mkdtemp(dir, n);
    test_cfg(cfg, dir, 1024);
    cfg->sync = mode;
    cfg->external_prep = true;
    cfg->external_batch_sync = true;
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(cfg, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    return s;
}

/* Begin jobs until one of kind `want` comes (running the others whole);
 * returns it begun, not run. */
static struct store_prep_job *begin_kind(struct store *s, const char *want)
{
    for (int i = 0; i < 16; i++) {
        struct store_prep_job *j = NULL;
        int rc = store_prep_begin(s, &j);
        assert_true(rc == 0 || rc == GKV_EAGAIN);
        if (!j)
            break;
        if (!strcmp(store_prep_job_kind(j), want))
            return j;
        assert_int_equal(store_prep_end(s, j, store_prep_job_run(j)), 0);
    }
    fail_msg("no %s job", want);
    return NULL;
}

static void run_all(struct store *s)
{
    for (int i = 0; i < 16; i++) {
        struct store_prep_job *j = NULL;
        (void)store_prep_begin(s, &j);
        if (!j)
            return;
        assert_int_equal(store_prep_end(s, j, store_prep_job_run(j)), 0);
    }
}

static void doubling_in_order(enum store_sync mode)
{
    char dir[64];
    struct store_config cfg;
    struct store *s = open_ext(dir, sizeof dir, &cfg, mode);
    uint64_t gen = s->cur.gen, n = 0;

    /* values.gkv: grown by a job, and only at its end for the allocator. */
    struct store_prep_job *j = begin_kind(s, "heap");
    uint64_t before = s->heap.file_bytes;
    assert_int_equal(store_prep_job_run(j), 0);
    assert_int_equal(s->heap.file_bytes, before);
    assert_int_equal(store_prep_end(s, j, 0), 0);
    assert_true(s->heap.file_bytes > before);

    /* 3/8 load: the next table is prepared, durable, not named. */
    while (n < 1024 * 3 / 8)
        put_kv(s, n++);
    j = begin_kind(s, "next");
    assert_false(table_file_exists(dir, gen + 1));
    assert_int_equal(store_prep_job_run(j), 0);
    assert_true(table_file_exists(dir, gen + 1));
    assert_int_equal(store_prep_end(s, j, 0), 0);
    assert_int_equal(s->hdr.grow_gen, 0);

    /* The doubling at 3/4 and its migration: no blocking call here. */
    uint64_t calls = owner_calls(s);
    while (!s->growing)
        put_kv(s, n++);
    assert_int_equal(s->hdr.grow_gen, gen + 1);
    assert_int_equal(s->hdr.table_gen, gen);
    for (int i = 0; i < 8 && !s->mig_committing; i++)
        assert_int_equal(store_tick(s, TEST_NOW_MS), 0);
    assert_true(s->mig_committing);
    put_kv(s, n++);
    assert_int_equal(owner_calls(s), calls);

    /* Commit: the header stops naming the old table only at the end (in
     * sync=none, which promises nothing on power loss, begin commits). */
    if (mode == STORE_SYNC_NONE) {
        assert_int_equal(s->hdr.table_gen, gen);
        j = begin_kind(s, "retire");
        assert_int_equal(store_prep_end(s, j, store_prep_job_run(j)), 0);
    } else {
        j = begin_kind(s, "commit");
        assert_int_equal(store_prep_job_run(j), 0);
        assert_int_equal(s->hdr.table_gen, gen);
        assert_int_equal(store_prep_end(s, j, 0), 0);
    }
    assert_int_equal(s->hdr.table_gen, gen + 1);
    assert_int_equal(s->hdr.grow_gen, 0);
    assert_false(s->growing);

    /* Retire: the old file goes in run (after the header's fdatasync). */
    if (mode != STORE_SYNC_NONE) {
        assert_true(table_file_exists(dir, gen));
        j = begin_kind(s, "retire");
        assert_true(table_file_exists(dir, gen));
        assert_int_equal(store_prep_job_run(j), 0);
        assert_false(table_file_exists(dir, gen));
        assert_int_equal(store_prep_end(s, j, 0), 0);
    }
    assert_false(table_file_exists(dir, gen));
    assert_int_equal(owner_calls(s), calls);
    struct store_disk_calls d;
    store_disk_calls_get(s, &d);
    assert_true(d.jobs > 0);

    expect_all(s, n);
    run_all(s);
    assert_int_equal(store_close(s), 0);
    cfg.external_prep = false;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("reopen: %s", err);
    expect_all(s, n);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
}

static void test_prep_doubling_in_order_batch(void **state)
{
    (void)state;
    doubling_in_order(STORE_SYNC_BATCH);
}

static void test_prep_doubling_in_order_always(void **state)
{
    (void)state;
    doubling_in_order(STORE_SYNC_ALWAYS);
}

static void test_prep_doubling_in_order_none(void **state)
{
    (void)state;
    doubling_in_order(STORE_SYNC_NONE);
}

/* No job ever runs (a pool that never gets to them): the writes double
 * the table inline at the hard limit and that is counted, by cause. */
static void test_prep_late_jobs_fall_back_inline_counted(void **state)
{
    (void)state;
    char dir[64];
    struct store_config cfg;
    struct store *s = open_ext(dir, sizeof dir, &cfg, STORE_SYNC_BATCH);
    struct store_disk_calls d0, d1;
    store_disk_calls_get(s, &d0);
    uint64_t n = 0;
    while (s->st.growths == 0 && n < 4096) {
        put_kv(s, n++);
        assert_int_equal(store_tick(s, TEST_NOW_MS), 0);
    }
    assert_true(s->st.growths > 0);
    store_disk_calls_get(s, &d1);
    assert_true(d1.owner[STORE_IO_TABLE_GROW] > d0.owner[STORE_IO_TABLE_GROW]);
    assert_int_equal(d1.jobs, d0.jobs);
    expect_all(s, n);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
}

/* store_close refuses while a job is in flight; the store stays usable. */
static void test_prep_close_refused_while_in_flight(void **state)
{
    (void)state;
    char dir[64];
    struct store_config cfg;
    struct store *s = open_ext(dir, sizeof dir, &cfg, STORE_SYNC_BATCH);
    struct store_prep_job *j = begin_kind(s, "heap");
    assert_int_equal(store_close(s), GKV_EAGAIN);
    put_kv(s, 0);
    assert_int_equal(store_prep_end(s, j, store_prep_job_run(j)), 0);
    expect_all(s, 1);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_doubling_in_order_batch),
        cmocka_unit_test(test_prep_doubling_in_order_always),
        cmocka_unit_test(test_prep_doubling_in_order_none),
        cmocka_unit_test(test_prep_late_jobs_fall_back_inline_counted),
        cmocka_unit_test(test_prep_close_refused_while_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
