/*
 * Unit tests for the store's fast paths (storage/checksum.c, fileio.c,
 * table.c): the in-line SipHash that places keys, the zero-fill that makes
 * fresh file pages resident, and the next doubling's table made ahead of
 * time (store__next_step), including a crash while one exists; and
 * store_get_batch, which must answer as store_get does; and the read cache
 * (storage/rcache.c), which must always name a key's current record.
 *
 * Randomized tests print their seed; GKV_SEED=<n> replays one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <sodium.h>
#include <sys/mman.h>

#include "common/rng.h"
#include "storage/store_int.h"
#include "test_store_util.h"

static void test_store_siphash24_matches_libsodium_shorthash(void **state)
{
    (void)state;
    struct gkv_rng r;
    test_rng(&r, 0x5a17);
    uint8_t key[16], data[200];
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof key; i++)
            key[i] = (uint8_t)gkv_rng_next(&r);
        size_t len = round < (int)sizeof data ? (size_t)round : (size_t)gkv_rng_below(&r, sizeof data);
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)gkv_rng_next(&r);
        uint8_t out[crypto_shorthash_BYTES];
        crypto_shorthash(out, data, len, key);
        uint64_t want, k0, k1;
        memcpy(&want, out, 8);
        memcpy(&k0, key, 8);
        memcpy(&k1, key + 8, 8);
        /* unaligned input too: the hash loads words with memcpy */
        uint8_t shifted[sizeof data + 1];
        memcpy(shifted + 1, data, len);
        if (store__siphash24(data, len, k0, k1) != want ||
            store__siphash24(shifted + 1, len, k0, k1) != want)
            fail_msg("SipHash-2-4 differs from crypto_shorthash at length %zu (round %d)", len,
                     round);
    }
}

static void test_store_zero_fill_clears_whole_pages_only(void **state)
{
    (void)state;
    char dir[64], path[128];
    test_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    const uint64_t bytes = 16 * FMT_PAGE;
    assert_int_equal(store__file_grow(NULL, fd, bytes), 0);
    uint8_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 0xab, bytes);
    /* From the middle of page 1 to the middle of page 9: pages 2..8 are
     * cleared, the partial pages at both ends keep their bytes. */
    assert_int_equal(store__zero_fill(NULL, fd, m, FMT_PAGE + 100, 8 * FMT_PAGE), 0);
    for (uint64_t i = 0; i < bytes; i++) {
        uint8_t want = (i >= 2 * FMT_PAGE && i < 9 * FMT_PAGE) ? 0 : 0xab;
        if (m[i] != want)
            fail_msg("byte %" PRIu64 " is %#x, expected %#x", i, m[i], want);
    }
    munmap(m, bytes);
    close(fd);
    test_rmrf(dir);
}

/* Table files in dir (table.<gen>.gkv), counted. */
static int table_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "table.", 6) == 0)
            n++;
    closedir(d);
    return n;
}

static void check_keys(struct store *s, uint64_t n, uint64_t version, const char *when)
{
    char k[32], v[128];
    for (uint64_t j = 0; j < n; j++) {
        size_t kl = test_key(k, sizeof k, j);
        size_t vl = test_value(v, sizeof v, j, version, 20 + j % 90);
        struct entry e;
        if (store_get(s, k, kl, &e) != 0)
            fail_msg("key %s lost %s", k, when);
        if (e.value_len != vl || memcmp(e.value, v, vl) != 0)
            fail_msg("key %s has a wrong value %s", k, when);
    }
}

/* Grows a file-backed store from 16 slots, checking every key after each
 * doubling, and counts the doublings that took a prepared table. pages is
 * the huge-page choice: how values.gkv and the tables are made resident
 * (populated on a 2 MiB mapping, or zero-filled in 64 KiB pieces). */
static void grow_with_prepared_tables(enum store_sync mode, enum store_pages pages, uint64_t n)
{
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 16);
    cfg.sync = mode;
    cfg.pages = pages;
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    char k[32], v[128];
    uint64_t last_growths = 0, now = TEST_NOW_MS;
    for (uint64_t i = 0; i < n; i++) {
        size_t vl = test_value(v, sizeof v, i, 1, 20 + i % 90);
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), v, vl, now, NULL), 0);
        if (i % 64 == 0) {
            now += 10;
            assert_int_equal(store_tick(s, now), 0);
        }
        if (s->next.map) {
            /* never more than one table ahead, never the live one */
            assert_int_equal(s->next.gen, s->cur.gen + 1);
            assert_false(s->growing);
        }
        struct store_stats st;
        store_stats(s, &st);
        if (st.growths != last_growths) {
            last_growths = st.growths;
            check_keys(s, i + 1, 1, "after a doubling");
        }
    }
    struct store_stats st;
    store_stats(s, &st);
    uint64_t prepared_used = s->next_taken, seeded = s->seed_taken;
    printf("sync=%d pages=%s: %" PRIu64 " keys, %" PRIu64 " doublings, %" PRIu64
           " from a prepared table, %" PRIu64 " of those grown from the retired table's file\n",
           (int)mode, store_pages_name(pages), n, st.growths, prepared_used, seeded);
    assert_int_equal(st.pages, pages);
    assert_int_equal(s->heap.huge, pages != STORE_PAGES_NONE);
    assert_true(st.growths >= 8);
    /* The first doublings of a 16-slot table come before the table is 5/8
     * full long enough to prepare; every later one uses the prepared file. */
    assert_true(prepared_used + 3 >= st.growths);
    /* every doubling after the first leaves a file to seed the next one */
    assert_true(seeded + 4 >= st.growths);
    assert_int_equal(store_close(s), 0);
    /* close removes a prepared table: only the live one is left */
    assert_int_equal(table_files(dir), 1);
    s = NULL;
    if (store_open(&cfg, TEST_NOW_MS + 1000000, &s, err, sizeof err) != 0)
        fail_msg("reopen: %s", err);
    check_keys(s, n, 1, "after reopen");
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

static void test_store_growth_through_prepared_tables_keeps_every_key(void **state)
{
    (void)state;
    grow_with_prepared_tables(STORE_SYNC_NONE, STORE_PAGES_VALUES, 60000);
    grow_with_prepared_tables(STORE_SYNC_BATCH, STORE_PAGES_VALUES, 60000);
    grow_with_prepared_tables(STORE_SYNC_ALWAYS, STORE_PAGES_VALUES, 3000);
    grow_with_prepared_tables(STORE_SYNC_NONE, STORE_PAGES_NONE, 60000);
    grow_with_prepared_tables(STORE_SYNC_BATCH, STORE_PAGES_ALL, 30000);
}

/* A process killed while a prepared (not yet named) table exists: the next
 * open deletes it as a leftover (I6) and every key is there. */
static void test_store_prepared_table_left_by_a_crash_is_removed_on_open(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 1024);
    cfg.sync = STORE_SYNC_ALWAYS;
    /* 1024 slots: preparing from 640 keys (5/8), doubling at 768 */
    const uint64_t n = 700;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *s = NULL;
        if (store_open(&cfg, TEST_NOW_MS, &s, NULL, 0) != 0)
            _exit(2);
        char k[32], v[128];
        for (uint64_t i = 0; i < n; i++) {
            size_t vl = test_value(v, sizeof v, i, 1, 20 + i % 90);
            if (store_put(s, k, test_key(k, sizeof k, i), v, vl, TEST_NOW_MS, NULL) != 0)
                _exit(3);
        }
        if (!s->next.map || s->growing)
            _exit(4); /* the scenario needs a prepared table and no doubling */
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(table_files(dir), 2); /* live + prepared */
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, TEST_NOW_MS + 1000, &s, err, sizeof err) != 0)
        fail_msg("reopen: %s", err);
    struct store_stats st;
    store_stats(s, &st);
    assert_true(st.recovered);
    /* The leftover is gone; replaying the log's writes on open may already
     * have prepared a fresh one (the table is past 5/8 full). */
    assert_int_equal(table_files(dir), 1 + (s->next.map != NULL));
    if (s->next.map)
        assert_int_equal(s->next.gen, s->cur.gen + 1);
    check_keys(s, n, 1, "after the crash");
    /* and it still grows (preparing the table again) */
    char k[32], v[128];
    for (uint64_t i = n; i < 4 * n; i++) {
        size_t vl = test_value(v, sizeof v, i, 1, 20 + i % 90);
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), v, vl, TEST_NOW_MS + 2000, NULL),
                         0);
    }
    check_keys(s, 4 * n, 1, "after growing again");
    store_stats(s, &st);
    assert_true(st.growths >= 1);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}


/* A process killed while the retired table's file waits, renamed, to seed
 * the next table: open deletes it as a leftover and every key is there. */
static void test_store_seed_file_left_by_a_crash_is_removed_on_open(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 1024);
    cfg.sync = STORE_SYNC_ALWAYS;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct store *s = NULL;
        if (store_open(&cfg, TEST_NOW_MS, &s, NULL, 0) != 0)
            _exit(2);
        char k[32], v[128];
        uint64_t i = 0;
        for (; i < 5000 && s->next_seed_fd < 0; i++) {
            size_t vl = test_value(v, sizeof v, i, 1, 20 + i % 90);
            if (store_put(s, k, test_key(k, sizeof k, i), v, vl, TEST_NOW_MS, NULL) != 0)
                _exit(3);
        }
        if (s->next_seed_fd < 0)
            _exit(4);
        if (write(fds[1], &i, sizeof i) != (ssize_t)sizeof i)
            _exit(5);
        kill(getpid(), SIGKILL);
        _exit(6);
    }
    close(fds[1]);
    uint64_t n = 0;
    assert_int_equal(read(fds[0], &n, sizeof n), (ssize_t)sizeof n);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(table_files(dir), 2); /* live + seed */
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, TEST_NOW_MS + 1000, &s, err, sizeof err) != 0)
        fail_msg("reopen: %s", err);
    assert_int_equal(table_files(dir), 1 + (s->next.map != NULL));
    check_keys(s, n, 1, "after a crash with a seed file");
    assert_int_equal(store_close(s), 0);
    assert_int_equal(table_files(dir), 1);
    test_rmrf(dir);
}

/* Every index word equals the word of its slot (the index is derived state
 * and must never drift from the slots it stands for). */
static void check_index(const struct store *s, const char *when)
{
    const struct store_table *ts[2] = {&s->cur, s->old.map ? &s->old : NULL};
    for (int k = 0; k < 2; k++) {
        const struct store_table *t = ts[k];
        if (!t)
            continue;
        if (!t->ix)
            fail_msg("a file-backed table without its index %s", when);
        for (uint64_t i = 0; i < t->cap; i++)
            if (t->ix[i] != store__ix_word(&t->slots[i]))
                fail_msg("index word %" PRIu64 " of table %" PRIu64 " differs from its slot %s", i,
                         t->gen, when);
    }
}

/* Random puts, overwrites, deletes, merges, purges and reopens on a
 * file-backed store growing from 16 slots; after each batch the index
 * matches the slots and every key reads back as a model says. */
static void test_store_index_matches_slots_through_random_ops(void **state)
{
    (void)state;
    struct gkv_rng r;
    test_rng(&r, 0x1dea);
    const uint64_t keys = 3000;
    uint8_t *model = calloc(keys, 1); /* 0 absent, 1 tombstone, else version */
    assert_non_null(model);
    static const enum store_sync modes[] = {STORE_SYNC_NONE, STORE_SYNC_BATCH};
    for (int m = 0; m < 2; m++) {
        memset(model, 0, keys);
        char dir[64];
        struct store_config cfg;
        uint64_t now = TEST_NOW_MS;
        char err[STORE_OPEN_ERR_BYTES] = "";
        struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 16, modes[m], 1, now);
        char k[32], v[128];
        for (int batch = 0; batch < 12; batch++) {
            for (int op = 0; op < 2000; op++) {
                uint64_t i = gkv_rng_below(&r, keys);
                size_t kl = test_key(k, sizeof k, i);
                uint32_t what = (uint32_t)gkv_rng_below(&r, 10);
                now += 1;
                if (what < 6) {
                    uint8_t ver = (uint8_t)(2 + gkv_rng_below(&r, 200));
                    size_t vl = test_value(v, sizeof v, i, ver, 20 + i % 90);
                    assert_int_equal(store_put(s, k, kl, v, vl, now, NULL), 0);
                    model[i] = ver;
                } else if (what < 9) {
                    assert_int_equal(store_del(s, k, kl, now, NULL, NULL), 0);
                    model[i] = 1;
                } else {
                    /* a peer's newer version, with its own clock item */
                    uint8_t ver = (uint8_t)(2 + gkv_rng_below(&r, 200));
                    size_t vl = test_value(v, sizeof v, i, ver, 20 + i % 90);
                    struct entry e = {.key = (const uint8_t *)k,
                                      .key_len = kl,
                                      .value = (const uint8_t *)v,
                                      .value_len = vl,
                                      .hlc = (now + 100000) << 16,
                                      .origin = 99};
                    e.vc.n = 1;
                    e.vc.items[0].node = 99;
                    e.vc.items[0].counter = now;
                    bool taken = false;
                    assert_int_equal(store_merge(s, &e, now + 100000, &taken), 0);
                    assert_true(taken);
                    model[i] = ver;
                    now += 100000;
                }
                if (op % 97 == 0)
                    assert_int_equal(store_tick(s, now), 0);
            }
            if (batch % 3 == 2) {
                uint64_t purged = 0;
                now += 1000;
                /* purged tombstones read as absent from here on */
                assert_int_equal(store_purge_tombstones(s, now, UINT64_MAX, 100000, &purged), 0);
            }
            check_index(s, "after a batch");
            for (uint64_t i = 0; i < keys; i++) {
                size_t kl = test_key(k, sizeof k, i);
                struct entry e;
                int rc = store_get(s, k, kl, &e);
                if (model[i] == 0) {
                    assert_int_equal(rc, GKV_ENOTFOUND);
                } else if (model[i] == 1) {
                    /* a tombstone, or gone once purged */
                    if (rc == 0)
                        assert_true(entry_is_tombstone(&e));
                    else
                        assert_int_equal(rc, GKV_ENOTFOUND);
                } else {
                    assert_int_equal(rc, 0);
                    size_t vl = test_value(v, sizeof v, i, model[i], 20 + i % 90);
                    assert_false(entry_is_tombstone(&e));
                    assert_int_equal(e.value_len, vl);
                    assert_memory_equal(e.value, v, vl);
                    assert_int_equal(e.key_len, kl);
                    assert_memory_equal(e.key, k, kl);
                    /* the entry a get fills from the index and the record
                     * equals the one filled from the slot */
                    struct entry from_slot;
                    uint64_t h = store__key_hash(s, k, kl);
                    int64_t idx = store__find(s, &s->cur, h, k, (uint32_t)kl, NULL);
                    const struct store_table *t = &s->cur;
                    if (idx < 0 && s->old.map) {
                        t = &s->old;
                        idx = store__find(s, t, h, k, (uint32_t)kl, NULL);
                    }
                    assert_true(idx >= 0);
                    store__entry_from_slot(s, &t->slots[idx], &from_slot);
                    assert_int_equal(from_slot.hlc, e.hlc);
                    assert_int_equal(from_slot.origin, e.origin);
                    assert_int_equal(from_slot.vc.n, e.vc.n);
                    assert_memory_equal(from_slot.vc.items, e.vc.items, 16u * e.vc.n);
                    assert_ptr_equal(from_slot.value, e.value);
                }
            }
            if (batch % 4 == 3) {
                /* reopen: the index is rebuilt from the slots */
                assert_int_equal(store_close(s), 0);
                s = NULL;
                now += 1000;
                if (store_open(&cfg, now, &s, err, sizeof err) != 0)
                    fail_msg("reopen: %s", err);
                check_index(s, "after reopen");
            }
        }
        struct store_stats st;
        store_stats(s, &st);
        printf("sync=%d: capacity 16 -> %" PRIu64 "\n", (int)modes[m], st.capacity);
        assert_true(st.capacity >= 2048); /* grew through at least 7 doublings */
        assert_int_equal(store_close(s), 0);
        test_rmrf(dir);
    }
    free(model);
}

/* A word that cannot hold its record's offset (a heap past 1 GiB) sends
 * the lookup through the slot; forced here on live keys. */
static void test_store_index_escape_falls_back_to_the_slot(void **state)
{
    (void)state;
    struct fmt_slot far = {.hash = 0x1234, .rec_off = (1ull << 30) + 4096, .state = FMT_SLOT_VALUE};
    assert_int_equal(store__ix_word(&far) >> 6, STORE_IX_ESCAPE);
    struct fmt_slot near = {.hash = 0x1235, .rec_off = 4096, .state = FMT_SLOT_TOMB};
    assert_int_equal(store__ix_word(&near), FMT_SLOT_TOMB | (0x5u << 2) | (256u << 6));
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store_config cfg;
    test_cfg(&cfg, dir, 1024);
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    char k[32], v[128];
    const uint64_t n = 300;
    for (uint64_t i = 0; i < n; i++) {
        size_t vl = test_value(v, sizeof v, i, 1, 20 + i % 90);
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), v, vl, TEST_NOW_MS, NULL), 0);
    }
    assert_non_null(s->cur.ix);
    for (uint64_t i = 0; i < s->cur.cap; i++)
        if ((s->cur.ix[i] & 3u) == FMT_SLOT_VALUE)
            s->cur.ix[i] |= STORE_IX_ESCAPE << 6;
    check_keys(s, n, 1, "through escaped index words");
    for (uint64_t i = 0; i < n; i++) {
        size_t kl = test_key(k, sizeof k, i + 100000);
        struct entry e;
        assert_int_equal(store_get(s, k, kl, &e), GKV_ENOTFOUND);
    }
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* store_get_batch gives what store_get gives, key by key: hits, misses,
 * tombstones, keys of bad length, while a doubling is in progress and not. */
static void compare_batch_with_get(struct store *s, struct gkv_rng *r, uint64_t keys,
                                   uint64_t *compared)
{
    static char kb[STORE_GET_BATCH_MAX][32];
    static char big[GKV_KEY_MAX + 1];
    for (int b = 0; b < 20; b++) {
        uint32_t n = (uint32_t)gkv_rng_below(r, STORE_GET_BATCH_MAX + 1);
        const void *kp[STORE_GET_BATCH_MAX];
        size_t kl[STORE_GET_BATCH_MAX];
        for (uint32_t j = 0; j < n; j++) {
            uint32_t pick = (uint32_t)gkv_rng_below(r, 50);
            if (pick == 0) {
                kp[j] = big; /* too long: GKV_EKEYSIZE */
                kl[j] = sizeof big;
            } else if (pick == 1) {
                kp[j] = kb[j]; /* empty: GKV_EKEYSIZE */
                kl[j] = 0;
            } else {
                /* a fifth of them absent */
                kl[j] = test_key(kb[j], sizeof kb[j], gkv_rng_below(r, keys + keys / 4));
                kp[j] = kb[j];
            }
        }
        struct entry out[STORE_GET_BATCH_MAX];
        int rcs[STORE_GET_BATCH_MAX];
        memset(out, 0, sizeof out);
        assert_int_equal(store_get_batch(s, n, kp, kl, out, rcs), 0);
        for (uint32_t j = 0; j < n; j++) {
            struct entry e;
            memset(&e, 0, sizeof e);
            int rc = store_get(s, kp[j], kl[j], &e);
            assert_int_equal(rcs[j], rc);
            if (rc != 0)
                continue;
            assert_ptr_equal(out[j].key, e.key);
            assert_int_equal(out[j].key_len, e.key_len);
            assert_ptr_equal(out[j].value, e.value);
            assert_int_equal(out[j].value_len, e.value_len);
            assert_int_equal(out[j].flags, e.flags);
            assert_int_equal(out[j].hlc, e.hlc);
            assert_int_equal(out[j].origin, e.origin);
            assert_int_equal(out[j].vc.n, e.vc.n);
            assert_memory_equal(out[j].vc.items, e.vc.items, 16u * e.vc.n);
            (*compared)++;
        }
    }
}

static void test_store_get_batch_answers_as_store_get(void **state)
{
    (void)state;
    struct gkv_rng r;
    test_rng(&r, 0xba7c);
    const uint64_t keys = 4000;
    static const enum store_sync modes[] = {STORE_SYNC_NONE, STORE_SYNC_BATCH};
    for (int m = 0; m < 2; m++) {
        char dir[64];
        struct store_config cfg;
        uint64_t now = TEST_NOW_MS;
        struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 16, modes[m], 0, now);
        char k[32], v[128];
        uint64_t compared = 0, compared_growing = 0;
        for (int round = 0; round < 60; round++) {
            for (int op = 0; op < 150; op++) {
                uint64_t i = gkv_rng_below(&r, keys);
                size_t kl = test_key(k, sizeof k, i);
                now++;
                if (gkv_rng_below(&r, 5) == 0) {
                    assert_int_equal(store_del(s, k, kl, now, NULL, NULL), 0);
                } else {
                    size_t vl = test_value(v, sizeof v, i, now, 1 + i % 100);
                    assert_int_equal(store_put(s, k, kl, v, vl, now, NULL), 0);
                }
            }
            uint64_t before = compared;
            compare_batch_with_get(s, &r, keys, &compared);
            if (s->growing)
                compared_growing += compared - before;
            if (round % 7 == 6)
                assert_int_equal(store_tick(s, now), 0);
        }
        /* nothing looked up: n beyond the limit, NULL arrays */
        const void *kp[1] = {k};
        size_t kl[1] = {1};
        int rcs[STORE_GET_BATCH_MAX + 1];
        assert_int_equal(store_get_batch(s, STORE_GET_BATCH_MAX + 1, kp, kl, NULL, rcs), GKV_EINVAL);
        assert_int_equal(store_get_batch(s, 1, NULL, kl, NULL, rcs), GKV_EINVAL);
        assert_int_equal(store_get_batch(s, 0, NULL, NULL, NULL, NULL), 0);
        printf("sync=%d: %" PRIu64 " found entries compared, %" PRIu64 " during a doubling\n",
               (int)modes[m], compared, compared_growing);
        assert_true(compared > 1000);
        assert_true(compared_growing > 0);
        assert_int_equal(store_close(s), 0);
        test_rmrf(dir);
    }
}

/* What the table says about key (the SipHash path, no cache): 0 and *e,
 * or GKV_ENOTFOUND. */
static int slow_get(struct store *s, const char *k, size_t kl, struct entry *e)
{
    uint64_t h = store__key_hash(s, k, kl);
    int64_t idx = store__find(s, &s->cur, h, k, (uint32_t)kl, NULL);
    const struct store_table *t = &s->cur;
    if (idx < 0 && s->growing && s->old.map) {
        t = &s->old;
        idx = store__find(s, t, h, k, (uint32_t)kl, NULL);
    }
    if (idx < 0)
        return GKV_ENOTFOUND;
    store__entry_from_slot(s, &t->slots[idx], e);
    return 0;
}

/* Every key: store_get (through the read cache) answers as the table does. */
static void check_cache_against_table(struct store *s, uint64_t keys, const char *when)
{
    char k[32];
    for (uint64_t i = 0; i < keys; i++) {
        size_t kl = test_key(k, sizeof k, i);
        struct entry a, b;
        int ra = store_get(s, k, kl, &a), rb = slow_get(s, k, kl, &b);
        if (ra != rb)
            fail_msg("%s: key %" PRIu64 ": get %d, table %d", when, i, ra, rb);
        if (ra != 0)
            continue;
        if (a.value != b.value || a.value_len != b.value_len || a.flags != b.flags ||
            a.hlc != b.hlc || a.origin != b.origin || a.vc.n != b.vc.n ||
            memcmp(a.vc.items, b.vc.items, 16u * a.vc.n) != 0)
            fail_msg("%s: key %" PRIu64 ": the cached get differs from the table", when, i);
    }
}

/* The read cache names the current record through overwrites that free and
 * reuse blocks, deletes, purges and re-puts of purged keys, doublings (with
 * checks while one is in progress) and reopen; and it answers most gets. */
static void test_store_read_cache_follows_every_write(void **state)
{
    (void)state;
    struct gkv_rng r;
    test_rng(&r, 0xcac4e);
    const uint64_t keys = 2500;
    static const enum store_sync modes[] = {STORE_SYNC_NONE, STORE_SYNC_BATCH};
    for (int m = 0; m < 2; m++) {
        char dir[64];
        struct store_config cfg;
        uint64_t now = TEST_NOW_MS;
        char err[STORE_OPEN_ERR_BYTES] = "";
        struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 16, modes[m], 1, now);
        assert_non_null(s->rc.e);
        char k[32], v[128];
        uint64_t checks_growing = 0;
        bool checked_this_doubling = false;
        for (int round = 0; round < 40; round++) {
            for (int op = 0; op < 400; op++) {
                uint64_t i = gkv_rng_below(&r, keys);
                size_t kl = test_key(k, sizeof k, i);
                now++;
                uint32_t what = (uint32_t)gkv_rng_below(&r, 10);
                if (what < 7) {
                    /* lengths vary, so freed blocks of other sizes get reused */
                    size_t vl = test_value(v, sizeof v, i, now, 1 + gkv_rng_below(&r, 120));
                    assert_int_equal(store_put(s, k, kl, v, vl, now, NULL), 0);
                } else {
                    assert_int_equal(store_del(s, k, kl, now, NULL, NULL), 0);
                }
                if (op % 50 == 0) {
                    /* read some now, so misses fill the cache mid-round */
                    struct entry e;
                    (void)store_get(s, k, kl, &e);
                }
                if (s->growing && !checked_this_doubling) {
                    /* once per doubling, while the old cache still moves */
                    check_cache_against_table(s, keys, "during a doubling");
                    checked_this_doubling = true;
                    checks_growing++;
                } else if (!s->growing) {
                    checked_this_doubling = false;
                }
            }
            check_cache_against_table(s, keys, "after a round");
            if (round % 5 == 4) {
                uint64_t purged = 0;
                now += 1000;
                assert_int_equal(store_tick(s, now), 0);
                assert_int_equal(store_purge_tombstones(s, now, UINT64_MAX, 100000, &purged), 0);
                check_cache_against_table(s, keys, "after a purge");
            }
            if (round % 13 == 12) {
                assert_int_equal(store_close(s), 0);
                s = NULL;
                now += 1000;
                if (store_open(&cfg, now, &s, err, sizeof err) != 0)
                    fail_msg("reopen: %s", err);
                check_cache_against_table(s, keys, "after reopen");
            }
        }
        struct store_stats st;
        store_stats(s, &st);
        printf("sync=%d: capacity 16 -> %" PRIu64 ", %" PRIu64 " doublings checked midway; "
               "since the last open the cache answered %" PRIu64 " gets, not %" PRIu64 "\n",
               (int)modes[m], st.capacity, checks_growing, st.read_cache_hits,
               st.read_cache_misses);
        assert_true(st.capacity >= 4096); /* grew through 8 doublings or more */
        assert_true(checks_growing >= 5);
        assert_true(st.read_cache_bytes > 0);
        assert_true(st.read_cache_hits > st.read_cache_misses);
        assert_int_equal(store_close(s), 0);
        test_rmrf(dir);
    }
}

/* An entry whose tag matches but whose record holds another key (two keys
 * may share a tag) is passed over: the get takes the table path, answers
 * right, and the cache names the right record afterwards. */
static void test_store_read_cache_foreign_record_falls_back(void **state)
{
    (void)state;
    char dir[64];
    struct store_config cfg;
    struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 1024, STORE_SYNC_NONE, 0, TEST_NOW_MS);
    char ka[32], kb[32], v[128];
    size_t kal = test_key(ka, sizeof ka, 1), kbl = test_key(kb, sizeof kb, 2);
    size_t val = test_value(v, sizeof v, 1, 1, 50);
    assert_int_equal(store_put(s, ka, kal, v, val, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_put(s, kb, kbl, "bee", 3, TEST_NOW_MS, NULL), 0);
    struct entry e;
    assert_int_equal(store_get(s, kb, kbl, &e), 0);
    uint64_t b_off = (uint64_t)(e.key - s->heap.map) - sizeof(struct fmt_record) - 16u * e.vc.n;
    uint64_t fh = store__rc_hash(s, ka, kal);
    uint32_t tag = store__rc_tag(fh);
    uint64_t *bucket = s->rc.e + ((uint64_t)tag >> s->rc.shift) * STORE_RC_WAYS;
    int ways = 0;
    for (unsigned w = 0; w < STORE_RC_WAYS; w++)
        if (bucket[w] != 0 && (uint32_t)(bucket[w] >> 32) == tag) {
            bucket[w] = ((uint64_t)tag << 32) | (b_off / FMT_GRANULE); /* B's record */
            ways++;
        }
    assert_int_equal(ways, 1); /* the put cached A */
    struct store_stats before, after;
    store_stats(s, &before);
    assert_int_equal(store_get(s, ka, kal, &e), 0);
    assert_int_equal(e.key_len, kal);
    assert_memory_equal(e.key, ka, kal);
    assert_int_equal(e.value_len, val);
    assert_memory_equal(e.value, v, val);
    store_stats(s, &after);
    assert_int_equal(after.read_cache_misses, before.read_cache_misses + 1);
    /* repaired: the next get is a hit */
    assert_int_equal(store_get(s, ka, kal, &e), 0);
    assert_memory_equal(e.value, v, val);
    store_stats(s, &before);
    assert_int_equal(before.read_cache_misses, after.read_cache_misses);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_siphash24_matches_libsodium_shorthash),
        cmocka_unit_test(test_store_zero_fill_clears_whole_pages_only),
        cmocka_unit_test(test_store_growth_through_prepared_tables_keeps_every_key),
        cmocka_unit_test(test_store_prepared_table_left_by_a_crash_is_removed_on_open),
        cmocka_unit_test(test_store_seed_file_left_by_a_crash_is_removed_on_open),
        cmocka_unit_test(test_store_index_matches_slots_through_random_ops),
        cmocka_unit_test(test_store_index_escape_falls_back_to_the_slot),
        cmocka_unit_test(test_store_get_batch_answers_as_store_get),
        cmocka_unit_test(test_store_read_cache_follows_every_write),
        cmocka_unit_test(test_store_read_cache_foreign_record_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
