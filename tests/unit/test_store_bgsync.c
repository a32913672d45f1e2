/*
 * Background group commit (store_sync_begin / store_sync_job_run /
 * store_sync_end): the job runs on a pthread while the owner keeps writing,
 * as node/cmd_serve.c runs it on the libuv pool.
 *
 * What is checked:
 *  - everything acknowledged before begin, and written during the job, is
 *    there after a clean close and after an unclean stop (a forked child
 *    _exits without store_close; recovery verifies every slot);
 *  - the frees captured at begin are released at end, frees made during the
 *    job only at the next sync;
 *  - a write during the job to a slot last written in the epoch the job is
 *    making durable keeps that slot's durable prev_off (I3), and its block
 *    stays unreusable until the next sync even under allocation pressure;
 *  - one job at a time (GKV_EAGAIN), store_close refuses while a job is in
 *    flight (GKV_EAGAIN, the store stays usable), a failed job keeps its
 *    frees pending, a synchronous store_sync during a job covers it.
 *
 * Deterministic (no randomness, no timing).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "storage/store_int.h"
#include "test_store_util.h"

/* Fixed-length values: every record of these tests has one size class. */
#define VAL_BYTES 100u

static void put_kv(struct store *s, uint64_t i, uint64_t version)
{
    char k[32], v[VAL_BYTES + 32];
    size_t kl = test_key(k, sizeof k, i);
    size_t vl = test_value(v, sizeof v, i, version, VAL_BYTES);
    assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
}

static void expect_kv(struct store *s, uint64_t i, uint64_t version)
{
    char k[32], v[VAL_BYTES + 32];
    size_t kl = test_key(k, sizeof k, i);
    size_t vl = test_value(v, sizeof v, i, version, VAL_BYTES);
    struct entry e;
    int rc = store_get(s, k, kl, &e);
    if (rc != 0)
        fail_msg("key %s: %s", k, gkv_strerror(rc));
    assert_int_equal(e.value_len, vl);
    if (memcmp(e.value, v, vl) != 0)
        fail_msg("key %s: wrong version (want %" PRIu64 ")", k, version);
}

static struct store *open_dir(const char *dir)
{
    struct store_config cfg;
    test_cfg(&cfg, dir, 1024);
    cfg.sync = STORE_SYNC_BATCH;
    cfg.external_batch_sync = true;
    /* A 1-byte checkpoint threshold makes every job a checkpoint, the job
     * that syncs the tables and releases frees (with the write-ahead log a
     * plain group commit only writes the log: test_store_wal.c). */
    cfg.wal_checkpoint_bytes = 1;
    struct store *s = NULL;
    char msg[STORE_OPEN_ERR_BYTES] = "";
    int rc = store_open(&cfg, TEST_NOW_MS, &s, msg, sizeof msg);
    if (rc != 0)
        fail_msg("open %s: %s (%s)", dir, gkv_strerror(rc), msg);
    return s;
}

struct runner {
    pthread_t th;
    struct store_sync_job *job;
    int rc;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->rc = store_sync_job_run(r->job);
    return NULL;
}

static void run_start(struct runner *r, struct store_sync_job *job)
{
    r->job = job;
    r->rc = -1;
    assert_int_equal(pthread_create(&r->th, NULL, run_thread, r), 0);
}

static int run_join(struct runner *r)
{
    assert_int_equal(pthread_join(r->th, NULL), 0);
    return r->rc;
}

/* The slot of key i in cur (growth does not happen at these sizes). */
static const struct fmt_slot *slot_of(struct store *s, uint64_t i)
{
    char k[32];
    size_t kl = test_key(k, sizeof k, i);
    int64_t idx = store__find(s, &s->cur, store__key_hash(s, k, kl), k, (uint32_t)kl, NULL);
    assert_true(idx >= 0);
    return &s->cur.slots[idx];
}

/* Does the record at off hold key i with version's value? */
static bool record_is(struct store *s, uint64_t off, uint64_t i, uint64_t version)
{
    if (!store__record_valid(&s->heap, off))
        return false;
    const struct fmt_record *r = store__rec(&s->heap, off);
    char k[32], v[VAL_BYTES + 32];
    size_t kl = test_key(k, sizeof k, i);
    size_t vl = test_value(v, sizeof v, i, version, VAL_BYTES);
    const uint8_t *p = (const uint8_t *)r + sizeof *r + 16u * r->vc_n;
    return r->key_len == kl && r->value_len == vl && memcmp(p, k, kl) == 0 &&
           memcmp(p + kl, v, vl) == 0;
}

static size_t free_list_total(const struct store *s)
{
    size_t n = 0;
    for (int c = 0; c < HEAP_CLASSES; c++)
        n += s->heap.free[c].n;
    return n;
}

/* Writes before, during and after a job, then a clean close: all there. */
static void test_bgsync_writes_around_job_survive_close(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store *s = open_dir(dir);
    for (uint64_t i = 0; i < 300; i++)
        put_kv(s, i, 1);
    struct store_sync_job *job;
    assert_int_equal(store_sync_begin(s, &job), 0);
    struct runner r;
    run_start(&r, job);
    /* Writes racing the job: overwrites and new keys. */
    for (uint64_t i = 0; i < 100; i++)
        put_kv(s, i, 2);
    for (uint64_t i = 300; i < 400; i++)
        put_kv(s, i, 1);
    int rc = run_join(&r);
    assert_int_equal(rc, 0);
    struct store_stats st;
    store_stats(s, &st);
    uint64_t syncs = st.syncs;
    assert_int_equal(store_sync_end(s, job, rc), 0);
    store_stats(s, &st);
    assert_int_equal(st.syncs, syncs + 1);
    for (uint64_t i = 400; i < 450; i++)
        put_kv(s, i, 1);
    assert_int_equal(store_close(s), 0);

    s = open_dir(dir);
    store_stats(s, &st);
    assert_false(st.recovered);
    assert_int_equal(st.entries, 450);
    for (uint64_t i = 0; i < 450; i++)
        expect_kv(s, i, i < 100 ? 2 : 1);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
}

/* The same, but the writer stops without store_close (as a SIGKILL would,
 * page cache kept): recovery verifies every slot and finds every key. */
static void test_bgsync_writes_around_job_survive_unclean_stop(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *s = open_dir(dir);
        for (uint64_t i = 0; i < 300; i++)
            put_kv(s, i, 1);
        for (int round = 0; round < 3; round++) {
            struct store_sync_job *job;
            if (store_sync_begin(s, &job) != 0)
                _exit(2);
            struct runner r;
            run_start(&r, job);
            for (uint64_t i = 0; i < 100; i++)
                put_kv(s, i, 2 + (uint64_t)round);
            for (uint64_t i = 300 + 50 * (uint64_t)round; i < 350 + 50 * (uint64_t)round; i++)
                put_kv(s, i, 1);
            if (store_sync_end(s, job, run_join(&r)) != 0)
                _exit(3);
        }
        _exit(0); /* no store_close: an unclean stop */
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    struct store *s = open_dir(dir);
    struct store_stats st;
    store_stats(s, &st);
    assert_true(st.recovered);
    assert_int_equal(st.entries, 450);
    for (uint64_t i = 0; i < 450; i++)
        expect_kv(s, i, i < 100 ? 4 : 1);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
}

/* Frees captured at begin are released at end; frees made while the job
 * ran wait for the next sync. */
static void test_bgsync_frees_captured_at_begin_released_at_end(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store *s = open_dir(dir);
    for (uint64_t i = 0; i < 100; i++)
        put_kv(s, i, 1);
    assert_int_equal(store_sync(s), 0);
    assert_int_equal(s->heap.pending.n, 0);
    for (uint64_t i = 0; i < 50; i++)
        put_kv(s, i, 2); /* frees 50 version-1 blocks, deferred */
    assert_int_equal(s->heap.pending.n, 50);
    size_t free_before = free_list_total(s);

    struct store_sync_job *job;
    assert_int_equal(store_sync_begin(s, &job), 0);
    assert_int_equal(s->heap.pending.n, 0); /* captured by the job */
    struct runner r;
    run_start(&r, job);
    for (uint64_t i = 50; i < 60; i++)
        put_kv(s, i, 2); /* their slots were durable before: no pins */
    assert_int_equal(s->heap.pending.n, 10);
    /* Nothing captured is reusable before end. */
    assert_true(free_list_total(s) <= free_before);
    assert_int_equal(store_sync_end(s, job, run_join(&r)), 0);
    assert_int_equal(s->heap.pending.n, 10); /* the later ones still wait */
    assert_true(free_list_total(s) >= free_before + 50 - 10);

    /* The next job releases the rest. */
    assert_int_equal(store_sync_begin(s, &job), 0);
    assert_int_equal(store_sync_end(s, job, store_sync_job_run(job)), 0);
    assert_int_equal(s->heap.pending.n, 0);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* I3 across a job: a slot written in the epoch being synced and written
 * again during the job keeps its durable prev_off, whose block is not
 * released by that job's end even when the heap is hungry for blocks. */
static void test_bgsync_write_during_job_keeps_durable_fallback(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store *s = open_dir(dir);
    for (uint64_t i = 0; i < 10; i++)
        put_kv(s, i, 1);
    assert_int_equal(store_sync(s), 0); /* version 1 durable */
    uint64_t v1_off[10];
    for (uint64_t i = 0; i < 10; i++) {
        v1_off[i] = slot_of(s, i)->rec_off;
        put_kv(s, i, 2); /* epoch E: prev_off = the durable version 1 */
        assert_int_equal(slot_of(s, i)->prev_off, v1_off[i]);
    }
    struct store_sync_job *job;
    assert_int_equal(store_sync_begin(s, &job), 0);
    struct runner r;
    run_start(&r, job);
    for (uint64_t i = 0; i < 5; i++) {
        put_kv(s, i, 3); /* during the job: version 2 is not durable yet */
        assert_int_equal(slot_of(s, i)->prev_off, v1_off[i]);
    }
    assert_int_equal(store_sync_end(s, job, run_join(&r)), 0);
    /* 5 pinned version-1 blocks back on the pending list, plus the 5
     * version-2 blocks freed during the job. */
    assert_int_equal(s->heap.pending.n, 10);
    /* Allocation pressure: the 5 unpinned version-1 blocks get reused, the
     * pinned ones must not. */
    for (uint64_t i = 100; i < 200; i++)
        put_kv(s, i, 1);
    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(slot_of(s, i)->prev_off, v1_off[i]);
        assert_true(record_is(s, v1_off[i], i, 1));
    }
    /* Keys 5..9 were not rewritten during the job: version 2 is durable and
     * is their fallback for the next write. */
    put_kv(s, 5, 3);
    assert_int_not_equal(slot_of(s, 5)->prev_off, v1_off[5]);
    assert_true(record_is(s, slot_of(s, 5)->prev_off, 5, 2));
    assert_int_equal(store_close(s), 0);
    s = open_dir(dir);
    for (uint64_t i = 0; i < 10; i++)
        expect_kv(s, i, i <= 5 ? 3 : 2);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* One job at a time; close waits for nobody: it refuses, the store stays
 * usable, and closes once the job ended. */
static void test_bgsync_second_begin_and_close_refused_in_flight(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store *s = open_dir(dir);
    put_kv(s, 1, 1);
    struct store_sync_job *job, *job2 = NULL;
    assert_int_equal(store_sync_begin(s, &job), 0);
    assert_int_equal(store_sync_begin(s, &job2), GKV_EAGAIN);
    assert_null(job2);
    assert_false(store_sync_due(s, TEST_NOW_MS + 1000000));
    assert_int_equal(store_close(s), GKV_EAGAIN);
    put_kv(s, 2, 1); /* still open and writable */
    assert_int_equal(store_sync_end(s, job, store_sync_job_run(job)), 0);
    assert_true(store_sync_due(s, TEST_NOW_MS + 1000000)); /* key 2 is dirty */
    assert_int_equal(store_close(s), 0);
    s = open_dir(dir);
    expect_kv(s, 1, 1);
    expect_kv(s, 2, 1);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* A failed job releases nothing and counts; a store_sync during a job covers
 * it (its end then has nothing left to release). */
static void test_bgsync_failed_job_keeps_frees_and_sync_covers_job(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store *s = open_dir(dir);
    for (uint64_t i = 0; i < 20; i++)
        put_kv(s, i, 1);
    assert_int_equal(store_sync(s), 0);
    for (uint64_t i = 0; i < 20; i++)
        put_kv(s, i, 2);
    assert_int_equal(s->heap.pending.n, 20);
    struct store_sync_job *job;
    assert_int_equal(store_sync_begin(s, &job), 0);
    assert_int_equal(store_sync_end(s, job, GKV_EIO), GKV_EIO);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.sync_failures, 1);
    assert_int_equal(s->heap.pending.n, 20); /* back on the pending list */

    assert_int_equal(store_sync_begin(s, &job), 0);
    for (uint64_t i = 0; i < 20; i++)
        put_kv(s, i, 3);
    assert_int_equal(store_sync(s), 0); /* covers the job and everything since */
    assert_int_equal(s->heap.pending.n, 0);
    size_t free_after_sync = free_list_total(s);
    assert_int_equal(store_sync_end(s, job, store_sync_job_run(job)), 0);
    assert_int_equal(free_list_total(s), free_after_sync);
    assert_int_equal(store_close(s), 0);
    s = open_dir(dir);
    for (uint64_t i = 0; i < 20; i++)
        expect_kv(s, i, 3);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* An anonymous store has no files: a job is empty but still applies. */
static void test_bgsync_anonymous_store(void **state)
{
    (void)state;
    struct store_config cfg;
    test_cfg(&cfg, NULL, 64);
    cfg.sync = STORE_SYNC_BATCH;
    cfg.external_batch_sync = true;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    put_kv(s, 1, 1);
    put_kv(s, 1, 2);
    assert_int_equal(s->heap.pending.n, 1);
    struct store_sync_job *job;
    assert_int_equal(store_sync_begin(s, &job), 0);
    assert_int_equal(store_sync_job_run(job), 0);
    assert_int_equal(store_sync_end(s, job, 0), 0);
    assert_int_equal(s->heap.pending.n, 0);
    expect_kv(s, 1, 2);
    assert_int_equal(store_close(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bgsync_writes_around_job_survive_close),
        cmocka_unit_test(test_bgsync_writes_around_job_survive_unclean_stop),
        cmocka_unit_test(test_bgsync_frees_captured_at_begin_released_at_end),
        cmocka_unit_test(test_bgsync_write_during_job_keeps_durable_fallback),
        cmocka_unit_test(test_bgsync_second_begin_and_close_refused_in_flight),
        cmocka_unit_test(test_bgsync_failed_job_keeps_frees_and_sync_covers_job),
        cmocka_unit_test(test_bgsync_anonymous_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
