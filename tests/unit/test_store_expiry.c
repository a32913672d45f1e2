/*
 * Key expiry at the entry and store level: the expiry is part of a
 * version (merge order, version hash), it is stored in the record
 * (FMT_REC_EXPIRES), logged in the write-ahead log, and comes back after a
 * clean reopen and after a crash that only the log survives.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage/store_int.h"
#include "storage/wal.h"
#include "test_store_util.h"

#define EXP(i) (TEST_NOW_MS + 60000u + (uint64_t)(i)) /* a distinct expiry per key */

static struct entry value_entry(const char *key, const char *val, uint64_t hlc, uint64_t origin,
                                uint64_t expire_ms)
{
    struct entry e = {.key = (const uint8_t *)key,
                      .key_len = (uint32_t)strlen(key),
                      .value = (const uint8_t *)val,
                      .value_len = (uint32_t)strlen(val),
                      .hlc = hlc,
                      .origin = origin,
                      .expire_ms = expire_ms};
    vclock_increment(&e.vc, origin);
    return e;
}

static void test_entry_expired_only_after_its_expiry(void **state)
{
    (void)state;
    struct entry e = value_entry("k", "v", HLC_MAKE(TEST_NOW_MS, 0), 1, TEST_NOW_MS + 10);
    assert_true(entry_is_live(&e, TEST_NOW_MS + 10)); /* Redis: PTTL 0 still reads */
    assert_false(entry_is_live(&e, TEST_NOW_MS + 11));
    e.expire_ms = 0;
    assert_true(entry_is_live(&e, UINT64_MAX));
}

/* An EXPIRE is a later write: its version beats the one it changed, and
 * two versions that differ only in expiry still order one way whichever
 * is local, with different digests. An expiry of 0 keeps the digest every
 * build before expiry computed (test_entry pins it). */
static void test_merge_orders_expiry_and_hash_covers_it(void **state)
{
    (void)state;
    struct entry a = value_entry("k", "v", HLC_MAKE(TEST_NOW_MS, 0), 1, 0);
    struct entry b = value_entry("k", "v", HLC_MAKE(TEST_NOW_MS, 1), 1, TEST_NOW_MS + 5000);
    assert_int_equal(entry_merge(&a, &b, NULL), MERGE_TAKE_INCOMING);
    assert_int_equal(entry_merge(&b, &a, NULL), MERGE_KEEP_LOCAL);
    struct entry c = b;
    c.expire_ms = TEST_NOW_MS + 6000; /* same (hlc, origin): a tie only a bug makes */
    assert_int_equal(entry_merge(&b, &c, NULL), MERGE_TAKE_INCOMING);
    assert_int_equal(entry_merge(&c, &b, NULL), MERGE_KEEP_LOCAL);
    struct entry p = b;
    p.expire_ms = 0; /* never expiring counts as the latest */
    assert_int_equal(entry_merge(&b, &p, NULL), MERGE_TAKE_INCOMING);
    assert_true(entry_version_hash(&b) != entry_version_hash(&c));
    assert_true(entry_version_hash(&b) != entry_version_hash(&p));
    struct entry q = b;
    q.expire_ms = 0;
    assert_true(entry_version_hash(&q) == entry_version_hash(&p));
}

static size_t key_of(char *buf, size_t n, uint64_t i)
{
    return test_key(buf, n, i);
}

/* Keys 0..n-1: even ones expire at EXP(i), odd ones never; every third is
 * deleted afterwards. */
static void fill(struct store *s, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        char k[32], v[64];
        size_t kl = key_of(k, sizeof k, i);
        size_t vl = test_value(v, sizeof v, i, 1, 40);
        assert_int_equal(store_put_expire(s, k, kl, v, vl, i % 2 ? 0 : EXP(i), TEST_NOW_MS, NULL),
                         0);
    }
    for (uint64_t i = 0; i < n; i += 3) {
        char k[32];
        size_t kl = key_of(k, sizeof k, i);
        assert_int_equal(store_del(s, k, kl, TEST_NOW_MS, NULL, NULL), 0);
    }
}

static void check(struct store *s, uint64_t n)
{
    uint64_t want_expiring = 0;
    for (uint64_t i = 0; i < n; i++) {
        char k[32], v[64];
        size_t kl = key_of(k, sizeof k, i);
        size_t vl = test_value(v, sizeof v, i, 1, 40);
        struct entry e;
        assert_int_equal(store_get(s, k, kl, &e), 0);
        if (i % 3 == 0) {
            assert_true(entry_is_tombstone(&e));
            assert_int_equal(e.expire_ms, 0);
            continue;
        }
        assert_int_equal(e.value_len, vl);
        assert_memory_equal(e.value, v, vl);
        assert_int_equal(e.expire_ms, i % 2 ? 0 : EXP(i));
        want_expiring += i % 2 == 0;
    }
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.expiring, want_expiring);
}

static void test_expiry_persists_across_reopen(void **state)
{
    (void)state;
    char dir[64];
    struct store_config cfg;
    struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 64, STORE_SYNC_NONE, 0, TEST_NOW_MS);
    fill(s, 300); /* past 64 slots: doublings move the slots, not the records */
    check(s, 300);
    uint64_t root = store_root_hash(s);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    check(s, 300);
    assert_true(store_root_hash(s) == root); /* recovery recomputes the same digests */
    /* PERSIST: a later write without the expiry. */
    char k[32], v[64];
    size_t kl = key_of(k, sizeof k, 2);
    size_t vl = test_value(v, sizeof v, 2, 1, 40);
    assert_int_equal(store_put_expire(s, k, kl, v, vl, 0, TEST_NOW_MS, NULL), 0);
    struct entry e;
    assert_int_equal(store_get(s, k, kl, &e), 0);
    assert_int_equal(e.expire_ms, 0);
    assert_int_equal(store_put_expire(s, k, kl, v, vl, ENTRY_EXPIRE_MAX_MS + 1, TEST_NOW_MS, NULL),
                     GKV_EINVAL);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

/* Copy (save) or restore the mapped files of dir (everything but the logs
 * and LOCK) to/from snap. */
static void mapped_files(const char *dir, const char *snap, bool save)
{
    DIR *d = opendir(save ? dir : snap);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !strncmp(de->d_name, "log.", 4) || !strcmp(de->d_name, "LOCK"))
            continue;
        char a[640], b[640];
        snprintf(a, sizeof a, "%s/%s", dir, de->d_name);
        snprintf(b, sizeof b, "%s/%s", snap, de->d_name);
        if (save)
            copy_file(a, b);
        else
            copy_file(b, a);
    }
    closedir(d);
}

/* A new sync=batch store in dir (tombstone grace as given), and an empty
 * directory snap beside it for mapped_files. */
static struct store *logged_store(char *dir, size_t dir_bytes, char *snap, size_t snap_bytes,
                                  struct store_config *cfg, uint64_t grace_ms)
{
    struct store *s =
        test_open_fresh(dir, dir_bytes, cfg, 64, STORE_SYNC_BATCH, grace_ms, TEST_NOW_MS);
    snprintf(snap, snap_bytes, "%s.snap", dir);
    assert_int_equal(mkdir(snap, 0700), 0);
    return s;
}

/* A crash (no close), then a power loss that reverts the mapped files to
 * the snapshot; the store reopened at TEST_NOW_MS, its log replayed. */
static struct store *crash_and_reopen(struct store *s, const char *dir, const char *snap,
                                      const struct store_config *cfg)
{
    store__free(s);
    mapped_files(dir, snap, false);
    s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(cfg, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("reopen: %s", err);
    return s;
}

/* The writes after a checkpoint reach only the log; a power loss reverts
 * the mapped files to the checkpoint, and the replay must bring every
 * expiry back. */
static void test_expiry_survives_log_replay(void **state)
{
    (void)state;
    char dir[64], snap[80];
    struct store_config cfg;
    struct store *s = logged_store(dir, sizeof dir, snap, sizeof snap, &cfg, 0);
    assert_int_equal(store_sync(s), 0); /* checkpoint: the mapped files hold nothing */
    mapped_files(dir, snap, true);
    fill(s, 200);
    assert_int_equal(store_tick(s, TEST_NOW_MS + 1000), 0); /* group commit of the log */
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.log_durable_bytes, st.log_bytes);
    s = crash_and_reopen(s, dir, snap, &cfg);
    store_stats(s, &st);
    assert_true(st.log_replayed_records >= 200);
    check(s, 200);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
    test_rmrf(snap);
}

/* A peer's version brings its expiry; a later EXPIRE elsewhere replaces it
 * by the merge rule alone; equal stores have equal digests, and a store
 * that missed the EXPIRE has a different one (anti-entropy repairs it). */
static void test_merge_carries_expiry_between_stores(void **state)
{
    (void)state;
    struct store_config cfg;
    struct store *a = NULL, *b = NULL;
    test_cfg(&cfg, NULL, 64);
    cfg.node_id = 1;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &a, NULL, 0), 0);
    cfg.node_id = 2;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &b, NULL, 0), 0);
    struct entry e;
    assert_int_equal(store_put_expire(a, "k", 1, "v", 1, TEST_NOW_MS + 1000, TEST_NOW_MS, &e), 0);
    assert_int_equal(e.expire_ms, TEST_NOW_MS + 1000);
    bool taken = false;
    assert_int_equal(store_merge(b, &e, TEST_NOW_MS, &taken), 0);
    assert_true(taken);
    assert_true(store_root_hash(a) == store_root_hash(b));
    struct entry got;
    assert_int_equal(store_get(b, "k", 1, &got), 0);
    assert_int_equal(got.expire_ms, TEST_NOW_MS + 1000);
    /* EXPIRE on b: same value, new expiry, new HLC. */
    assert_int_equal(store_put_expire(b, "k", 1, got.value, got.value_len, TEST_NOW_MS + 9000,
                                      TEST_NOW_MS + 1, &e),
                     0);
    assert_true(store_root_hash(a) != store_root_hash(b));
    assert_int_equal(store_merge(a, &e, TEST_NOW_MS + 1, &taken), 0);
    assert_true(taken);
    assert_int_equal(store_get(a, "k", 1, &got), 0);
    assert_int_equal(got.expire_ms, TEST_NOW_MS + 9000);
    assert_true(store_root_hash(a) == store_root_hash(b));
    /* The old version arriving late loses. */
    struct entry old = value_entry("k", "v", HLC_MAKE(TEST_NOW_MS, 0), 1, TEST_NOW_MS + 1000);
    assert_int_equal(store_merge(a, &old, TEST_NOW_MS + 2, &taken), 0);
    assert_false(taken);
    /* Versions that cannot exist are refused. */
    struct entry bad = value_entry("t", "", HLC_MAKE(TEST_NOW_MS, 5), 1, 0);
    bad.flags = ENTRY_TOMBSTONE;
    bad.value = NULL;
    bad.expire_ms = TEST_NOW_MS;
    assert_int_equal(store_merge(a, &bad, TEST_NOW_MS, NULL), GKV_EINVAL);
    bad = value_entry("t", "x", HLC_MAKE(TEST_NOW_MS, 5), 1, ENTRY_EXPIRE_MAX_MS + 1);
    assert_int_equal(store_merge(a, &bad, TEST_NOW_MS, NULL), GKV_EINVAL);
    struct store_stats st;
    store_stats(a, &st);
    assert_int_equal(st.expiring, 1);
    store_close(a);
    store_close(b);
}

/* A log record keeps the expiry, and a flipped expiry byte fails the
 * record's checksum. */
static void test_wal_record_carries_expiry(void **state)
{
    (void)state;
    struct entry e = value_entry("key", "value", HLC_MAKE(TEST_NOW_MS, 2), 9, TEST_NOW_MS + 777);
    uint64_t bytes = wal_rec_bytes(WAL_REC_VERSION, &e);
    uint8_t buf[256];
    assert_true(bytes <= sizeof buf);
    wal_rec_encode(buf, WAL_REC_VERSION, &e, 3, 4096);
    uint8_t type;
    struct entry out;
    size_t used;
    assert_int_equal(wal_rec_decode(buf, bytes, 3, 4096, &type, &out, &used), 0);
    assert_int_equal(used, bytes);
    assert_int_equal(out.expire_ms, TEST_NOW_MS + 777);
    assert_int_equal(out.flags, 0);
    assert_int_equal(out.value_len, 5);
    assert_int_equal(wal_rec_decode(buf, bytes - 1, 3, 4096, &type, &out, &used), GKV_ETRUNC);
    buf[bytes - 3] ^= 0x10;
    assert_int_equal(wal_rec_decode(buf, bytes, 3, 4096, &type, &out, &used), GKV_ECORRUPT);
}

/* A copy of a stored version whose key and value are the given literals
 * (a store's entry is borrowed only until its next write). */
static struct entry copy_of(const struct entry *e, const char *key, const char *val)
{
    struct entry c = *e;
    c.key = (const uint8_t *)key;
    c.value = (const uint8_t *)val;
    return c;
}

/* An expired value is a tombstone dated at its expiry: purged once its
 * expiry is grace in the past and below the safe bound, never before; two
 * stores that purged it agree on their digests. */
static void test_expired_value_is_purged_as_a_tombstone_dated_at_its_expiry(void **state)
{
    (void)state;
    struct store_config cfg;
    struct store *a = NULL, *b = NULL;
    test_cfg(&cfg, NULL, 64);
    cfg.tombstone_grace_ms = 1600;
    cfg.node_id = 1;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &a, NULL, 0), 0);
    cfg.node_id = 2;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &b, NULL, 0), 0);
    const uint64_t now = TEST_NOW_MS, exp = now + 1000;
    struct entry e, gone, stays, plain;
    assert_int_equal(store_put_expire(a, "gone", 4, "v1", 2, exp, now, &e), 0);
    gone = copy_of(&e, "gone", "v1");
    assert_int_equal(store_put_expire(a, "stays", 5, "v2", 2, now + 100000, now, &e), 0);
    stays = copy_of(&e, "stays", "v2");
    assert_int_equal(store_put(a, "plain", 5, "v3", 2, now, &e), 0);
    plain = copy_of(&e, "plain", "v3");
    for (const struct entry *in = &gone; in; in = in == &gone ? &stays : in == &stays ? &plain : NULL)
        assert_int_equal(store_merge(b, in, now, NULL), 0);
    assert_true(store_root_hash(a) == store_root_hash(b));
    uint64_t purged = 9;
    /* Expired, but not yet grace past its expiry: kept. */
    assert_int_equal(store_purge_tombstones(a, exp + 1000, UINT64_MAX, 1024, &purged), 0);
    assert_int_equal(purged, 0);
    assert_int_equal(store_get(a, "gone", 4, &e), 0);
    /* Past it, but not below the safe bound (a member may lack it): kept. */
    uint64_t later = exp + 1600 + 300;
    assert_int_equal(store_purge_tombstones(a, later, HLC_MAKE(exp, 0), 1024, &purged), 0);
    assert_int_equal(purged, 0);
    assert_int_equal(store_get(a, "gone", 4, &e), 0);
    assert_int_equal(store_purge_tombstones(a, later, UINT64_MAX, 1024, &purged), 0);
    assert_int_equal(purged, 1);
    assert_int_equal(store_get(a, "gone", 4, &e), GKV_ENOTFOUND);
    struct store_stats st;
    store_stats(a, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.expiring, 1);
    assert_int_equal(st.expired_purged, 1);
    assert_int_equal(store_purge_tombstones(b, later, UINT64_MAX, 1024, &purged), 0);
    assert_int_equal(purged, 1);
    assert_true(store_root_hash(a) == store_root_hash(b));
    assert_int_equal(store_get(b, "stays", 5, &e), 0);
    store_close(a);
    store_close(b);
}

/* The purge of an expired value is logged: after a power loss that
 * reverts the mapped files to before it, the replay purges it again. */
static void test_expired_value_purge_survives_log_replay(void **state)
{
    (void)state;
    char dir[64], snap[80];
    struct store_config cfg;
    struct store *s = logged_store(dir, sizeof dir, snap, sizeof snap, &cfg, 1600);
    const uint64_t exp = TEST_NOW_MS + 1000;
    assert_int_equal(store_put_expire(s, "gone", 4, "v", 1, exp, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_sync(s), 0); /* checkpoint: the mapped files hold it */
    mapped_files(dir, snap, true);
    uint64_t purged = 0;
    assert_int_equal(store_purge_tombstones(s, exp + 1900, UINT64_MAX, 1024, &purged), 0);
    assert_int_equal(purged, 1);
    assert_int_equal(store_tick(s, exp + 2000), 0); /* group commit of the PURGE record */
    s = crash_and_reopen(s, dir, snap, &cfg); /* at TEST_NOW_MS: before the expiry */
    struct entry e;
    assert_int_equal(store_get(s, "gone", 4, &e), GKV_ENOTFOUND);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.expiring, 0);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
    test_rmrf(snap);
}

/* Values that expire sit in the tombstone age index too: the heaps'
 * compaction bound must count them, or every purge call compacts (walks)
 * every item while many keys have a TTL. */
static void test_expiring_values_do_not_make_every_purge_compact(void **state)
{
    (void)state;
    struct store_config cfg;
    struct store *s = NULL;
    test_cfg(&cfg, NULL, 4096);
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    for (uint64_t i = 0; i < 3000; i++) {
        char k[32];
        size_t kl = key_of(k, sizeof k, i);
        assert_int_equal(store_put_expire(s, k, kl, "v", 1, EXP(i), TEST_NOW_MS, NULL), 0);
    }
    uint64_t purged;
    for (int call = 0; call < 10; call++)
        assert_int_equal(store_purge_tombstones(s, TEST_NOW_MS + (uint64_t)call, UINT64_MAX, 64,
                                                &purged),
                         0);
    assert_int_equal(s->tix.compactions, 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_expired_only_after_its_expiry),
        cmocka_unit_test(test_merge_orders_expiry_and_hash_covers_it),
        cmocka_unit_test(test_expiry_persists_across_reopen),
        cmocka_unit_test(test_expiry_survives_log_replay),
        cmocka_unit_test(test_merge_carries_expiry_between_stores),
        cmocka_unit_test(test_wal_record_carries_expiry),
        cmocka_unit_test(test_expired_value_is_purged_as_a_tombstone_dated_at_its_expiry),
        cmocka_unit_test(test_expired_value_purge_survives_log_replay),
        cmocka_unit_test(test_expiring_values_do_not_make_every_purge_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
