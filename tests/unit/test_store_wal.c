/*
 * Write-ahead log (storage/wal.c, store.c I12).
 *
 * What is checked:
 *  - records round-trip; every truncation of a record is GKV_ETRUNC, every
 *    flipped byte is refused, a record read at another offset or in another
 *    log generation never verifies;
 *  - replay: after a simulated power loss that reverts the mapped files to
 *    their last checkpoint (the checkpoint hook copies them), the reopen
 *    brings back every write from the log, including deletes, and a purge
 *    replayed after the writes it removed does not resurrect the key;
 *  - a torn tail (truncated mid-record, a bad last record, garbage or
 *    zeros after it) ends the replay at the last good record, counted;
 *  - damage in the middle (good records after a bad one) refuses the open
 *    and leaves every file byte for byte; inspect reports it; salvage
 *    backs the log up and keeps every good record around the damage;
 *  - the power-loss simulation with real processes: a forked child writes
 *    with sync=always (or batch, acknowledging after each group commit),
 *    checkpointing often, reports acknowledged versions through a pipe and
 *    is SIGKILLed at a random moment; the parent reverts header, tables
 *    and values to the last checkpoint (whole, or page by page at random,
 *    as a kernel writing back an arbitrary subset of dirty pages would
 *    leave them) and reopens: every acknowledged version must be there.
 *
 * GKV_SEED=<n> replays a run (the seed is printed); GKV_WAL_ROUNDS=<n>
 * changes the number of kill rounds per scenario (default 12).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "common/rng.h"
#include "storage/store_int.h"
#include "storage/wal.h"
#include "test_store_util.h"

/* ------------------------------------------------------------ helpers */

static bool mapped_file(const char *name)
{
    unsigned long long g;
    int used = 0;
    if (strcmp(name, "header.gkv") == 0 || strcmp(name, "values.gkv") == 0)
        return true;
    return sscanf(name, "table.%llu.gkv%n", &g, &used) == 1 && name[used] == '\0';
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A snapshot directory is complete once it holds this marker, written after
 * every file was copied. */
#define SNAP_MARK "complete"

static bool snapshot_complete(const char *path)
{
    char m[512];
    struct stat st;
    snprintf(m, sizeof m, "%s/" SNAP_MARK, path);
    return stat(m, &st) == 0;
}

/* Copy the mapped files of dir (header, tables, values) into snap. Runs
 * inside the checkpoint hook, so the files are exactly their checkpoint
 * state. The child can be SIGKILLed at any instant of this, so a complete
 * snapshot must exist at every instant: build snap.tmp and mark it
 * complete, move the old snap aside (rename, atomic), move snap.tmp in, and
 * only then delete the old one. Removing the old snap before the rename
 * left a half-deleted snap (header already gone) when a kill landed there. */
static void snapshot(const char *dir, const char *snap)
{
    char tmp[256], old[256], a[512], b[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", snap);
    snprintf(old, sizeof old, "%s.old", snap);
    test_rmrf(tmp);
    if (mkdir(tmp, 0755) != 0)
        abort();
    DIR *d = opendir(dir);
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!mapped_file(de->d_name))
            continue;
        snprintf(a, sizeof a, "%s/%s", dir, de->d_name);
        snprintf(b, sizeof b, "%s/%s", tmp, de->d_name);
        copy_file(a, b);
    }
    closedir(d);
    snprintf(b, sizeof b, "%s/" SNAP_MARK, tmp);
    int fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    close(fd);
    test_rmrf(old);
    if (rename(snap, old) != 0 && errno != ENOENT)
        abort();
    if (rename(tmp, snap) != 0)
        abort();
    test_rmrf(old);
}

struct hook_arg {
    char snap[256];
    uint64_t calls;
};

static void hook_cb(void *arg, const char *dir)
{
    struct hook_arg *h = arg;
    snapshot(dir, h->snap);
    h->calls++;
}

/* The checkpoint hook every store this file opens from now on gets
 * (store_config.checkpoint_hook); NULL = none. */
static struct hook_arg *hooked;

static void hook_use(struct hook_arg *h)
{
    hooked = h;
}

static void hook_config(struct store_config *cfg)
{
    cfg->checkpoint_hook = hooked ? hook_cb : NULL;
    cfg->checkpoint_hook_arg = hooked;
}

/* The newest complete snapshot. A kill can land at any step of snapshot():
 * snap.tmp complete but not yet renamed is the newest, then snap, then
 * snap.old (between the two renames). */
static void snapshot_path(const char *snap, char *out, size_t n)
{
    snprintf(out, n, "%s.tmp", snap);
    if (snapshot_complete(out))
        return;
    snprintf(out, n, "%s", snap);
    if (snapshot_complete(out))
        return;
    snprintf(out, n, "%s.old", snap);
    if (!snapshot_complete(out))
        fail_msg("no complete snapshot of %s", snap);
}

static void rm_snapshots(const char *snap)
{
    char p[256];
    test_rmrf(snap);
    snprintf(p, sizeof p, "%s.tmp", snap);
    test_rmrf(p);
    snprintf(p, sizeof p, "%s.old", snap);
    test_rmrf(p);
}

/* Power loss: the mapped files of dir go back to the snapshot, whole
 * (rng NULL) or page by page at random (each 4 KiB page of a file in both
 * keeps its current bytes or gets the snapshot's; pages past the
 * snapshot's end are zeroed or kept at random, as fallocated pages never
 * written back read as zeros). Log files are left as they are. */
static void revert_to_snapshot(const char *dir, const char *snap_name, struct gkv_rng *rng)
{
    char snap[256], a[512], b[512];
    snapshot_path(snap_name, snap, sizeof snap);
    DIR *d;
    struct dirent *de;
    if (!rng) {
        d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d)) != NULL) {
            if (!mapped_file(de->d_name))
                continue;
            snprintf(a, sizeof a, "%s/%s", dir, de->d_name);
            unlink(a);
        }
        closedir(d);
    }
    d = opendir(snap);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (!mapped_file(de->d_name))
            continue;
        snprintf(a, sizeof a, "%s/%s", snap, de->d_name);
        snprintf(b, sizeof b, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (!rng || stat(b, &sb) != 0) {
            copy_file(a, b);
            continue;
        }
        int fa = open(a, O_RDONLY), fb = open(b, O_RDWR);
        assert_true(fa >= 0 && fb >= 0);
        struct stat sa;
        assert_int_equal(fstat(fa, &sa), 0);
        uint8_t page[4096], zero[4096] = {0};
        for (off_t off = 0; off < sb.st_size; off += 4096) {
            if (gkv_rng_below(rng, 2) == 0)
                continue; /* this page was written back: current bytes */
            if (off < sa.st_size) {
                ssize_t n = pread(fa, page, sizeof page, off);
                assert_true(n > 0);
                assert_int_equal(pwrite(fb, page, (size_t)n, off), n);
            } else {
                size_t n = (size_t)(sb.st_size - off < 4096 ? sb.st_size - off : 4096);
                assert_int_equal(pwrite(fb, zero, n, off), (ssize_t)n);
            }
        }
        close(fa);
        close(fb);
    }
    closedir(d);
}

static struct store *open_mode(const char *dir, uint32_t cap, enum store_sync mode,
                               uint64_t ckpt_bytes)
{
    struct store_config cfg;
    test_cfg(&cfg, dir, cap);
    cfg.sync = mode;
    cfg.wal_checkpoint_bytes = ckpt_bytes;
    hook_config(&cfg);
    struct store *s = NULL;
    char msg[STORE_OPEN_ERR_BYTES] = "";
    int rc = store_open(&cfg, TEST_NOW_MS, &s, msg, sizeof msg);
    if (rc != 0)
        fail_msg("open %s: %s (%s)", dir, gkv_strerror(rc), msg);
    return s;
}

static void put_v(struct store *s, uint64_t i, uint64_t version)
{
    char k[32], v[160];
    size_t kl = test_key(k, sizeof k, i);
    size_t vl = test_value(v, sizeof v, i, version, 40 + (i * 7 + version * 13) % 100);
    int rc = store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL);
    if (rc != 0)
        fail_msg("put %s: %s", k, gkv_strerror(rc));
}

/* The version held by key i (UINT64_MAX: absent; UINT64_MAX-1: tombstone). */
static uint64_t version_of(struct store *s, uint64_t i)
{
    char k[32];
    size_t kl = test_key(k, sizeof k, i);
    struct entry e;
    if (store_get(s, k, kl, &e) != 0)
        return UINT64_MAX;
    if (entry_is_tombstone(&e))
        return UINT64_MAX - 1;
    char buf[64];
    size_t n = e.value_len < sizeof buf - 1 ? e.value_len : sizeof buf - 1;
    memcpy(buf, e.value, n);
    buf[n] = 0;
    char *p = NULL;
    if (strtoull(buf, &p, 10) != i || *p != ':')
        fail_msg("key %" PRIu64 ": value of another key", i);
    uint64_t ver = strtoull(p + 1, NULL, 10);
    /* The whole value must be the one test_value makes for that version. */
    char want[160];
    size_t wl = test_value(want, sizeof want, i, ver, 40 + (i * 7 + ver * 13) % 100);
    if (wl != e.value_len || memcmp(want, e.value, wl) != 0)
        fail_msg("key %" PRIu64 ": damaged value for version %" PRIu64, i, ver);
    return ver;
}

/* ------------------------------------------------------ encode / decode */

static void test_wal_record_roundtrip_truncation_and_flips(void **state)
{
    (void)state;
    uint8_t key[] = "some-key", val[300];
    for (size_t i = 0; i < sizeof val; i++)
        val[i] = (uint8_t)(i * 31 + 7);
    struct entry e = {.key = key,
                      .key_len = sizeof key - 1,
                      .value = val,
                      .value_len = sizeof val,
                      .hlc = HLC_MAKE(TEST_NOW_MS, 3),
                      .origin = 42};
    vclock_increment(&e.vc, 42);
    vclock_increment(&e.vc, 9);
    struct entry tomb = e;
    tomb.value = NULL;
    tomb.value_len = 0;
    tomb.flags = ENTRY_TOMBSTONE;
    const struct {
        uint8_t type;
        const struct entry *e;
    } cases[] = {{WAL_REC_VERSION, &e}, {WAL_REC_VERSION, &tomb}, {WAL_REC_PURGE, &e},
                 {WAL_REC_HLC, &e}};
    uint8_t buf[1024];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t n = wal_rec_bytes(cases[c].type, cases[c].e);
        assert_true(n <= sizeof buf);
        wal_rec_encode(buf, cases[c].type, cases[c].e, 5, 4096);
        uint8_t type;
        struct entry d;
        size_t used;
        assert_int_equal(wal_rec_decode(buf, (size_t)n, 5, 4096, &type, &d, &used), 0);
        assert_int_equal(type, cases[c].type);
        assert_int_equal(used, n);
        assert_int_equal(d.hlc, cases[c].e->hlc);
        if (type == WAL_REC_VERSION) {
            assert_int_equal(d.key_len, e.key_len);
            assert_memory_equal(d.key, key, e.key_len);
            assert_int_equal(d.value_len, cases[c].e->value_len);
            if (d.value_len)
                assert_memory_equal(d.value, val, d.value_len);
            assert_int_equal(d.flags, cases[c].e->flags);
            assert_int_equal(d.origin, 42);
            assert_int_equal(vclock_compare(&d.vc, &e.vc), VCLOCK_EQUAL);
        } else if (type == WAL_REC_PURGE) {
            assert_int_equal(d.key_len, e.key_len);
            assert_memory_equal(d.key, key, e.key_len);
        }
        /* Every prefix is a torn tail. */
        for (size_t k = 0; k < n; k++)
            assert_int_equal(wal_rec_decode(buf, k, 5, 4096, &type, &d, &used), GKV_ETRUNC);
        /* Another offset or generation: not this record. */
        assert_int_equal(wal_rec_decode(buf, (size_t)n, 5, 4112, &type, &d, &used), GKV_ECORRUPT);
        assert_int_equal(wal_rec_decode(buf, (size_t)n, 6, 4096, &type, &d, &used), GKV_ECORRUPT);
        /* Every single flipped bit is refused (lengths may read as torn). */
        for (size_t k = 0; k < n; k++) {
            for (int bit = 0; bit < 8; bit++) {
                buf[k] ^= (uint8_t)(1u << bit);
                int rc = wal_rec_decode(buf, (size_t)n, 5, 4096, &type, &d, &used);
                if (rc != GKV_ECORRUPT && rc != GKV_ETRUNC)
                    fail_msg("case %zu: flip of byte %zu bit %d accepted (%d)", c, k, bit, rc);
                buf[k] ^= (uint8_t)(1u << bit);
            }
        }
    }
    /* Prologue. */
    struct wal_prologue p;
    wal_prologue_init(&p, 9);
    assert_true(wal_prologue_ok(&p, 9));
    assert_false(wal_prologue_ok(&p, 8));
    p.magic[0] ^= 1;
    assert_false(wal_prologue_ok(&p, 9));
}

/* --------------------------------------------------- replay in-process */

/* A crash without store_close: store__free releases everything without a
 * sync or a clean header (the data stays in the page cache, as after a
 * SIGKILL); then the power loss: the mapped files revert. */
static void crash_and_power_loss(struct store *s, const char *dir, const char *snap)
{
    store__free(s);
    revert_to_snapshot(dir, snap, NULL);
}

static void test_wal_replay_restores_writes_after_checkpoint(void **state)
{
    (void)state;
    char dir[64], snap[128];
    test_mkdtemp(dir, sizeof dir);
    snprintf(snap, sizeof snap, "%s.snap", dir);
    struct hook_arg h = {0};
    snprintf(h.snap, sizeof h.snap, "%s", snap);
    hook_use(&h);

    for (int mode = 0; mode < 2; mode++) {
        enum store_sync sm = mode ? STORE_SYNC_ALWAYS : STORE_SYNC_BATCH;
        test_rmrf(dir);
        struct store *s = open_mode(dir, 64, sm, 0);
        for (uint64_t i = 0; i < 500; i++)
            put_v(s, i, 1);
        assert_int_equal(store_sync(s), 0); /* checkpoint: snapshot taken */
        assert_int_equal(h.calls, (uint64_t)(mode + 1));
        /* After the checkpoint: overwrites, new keys (a doubling: 64 slots
         * grow), deletes. */
        for (uint64_t i = 0; i < 250; i++)
            put_v(s, i, 2);
        for (uint64_t i = 500; i < 1500; i++)
            put_v(s, i, 1);
        for (uint64_t i = 400; i < 450; i++) {
            char k[32];
            size_t kl = test_key(k, sizeof k, i);
            assert_int_equal(store_del(s, k, kl, TEST_NOW_MS, NULL, NULL), 0);
        }
        if (sm == STORE_SYNC_BATCH)
            assert_int_equal(store_tick(s, TEST_NOW_MS + 1000), 0); /* group commit */
        struct store_stats st;
        store_stats(s, &st);
        assert_true(st.log_enabled);
        assert_int_equal(st.log_durable_bytes, st.log_bytes);
        crash_and_power_loss(s, dir, snap);

        s = open_mode(dir, 64, sm, 0);
        store_stats(s, &st);
        printf("replay (%s): %" PRIu64 " records, %" PRIu64 " torn bytes\n",
               mode ? "always" : "batch", st.log_replayed_records, st.log_replay_torn_bytes);
        assert_true(st.log_replayed_records >= 1300);
        assert_int_equal(st.log_replay_torn_bytes, 0);
        for (uint64_t i = 0; i < 1500; i++) {
            uint64_t want = i < 250 ? 2 : (i >= 400 && i < 450) ? UINT64_MAX - 1 : 1;
            uint64_t got = version_of(s, i);
            if (got != want)
                fail_msg("key %" PRIu64 ": version %" PRIu64 ", want %" PRIu64, i, got, want);
        }
        assert_int_equal(store_close(s), 0);
        test_inspect_ok(dir);
        /* After a clean close no log is left and the reopen replays none. */
        s = open_mode(dir, 64, sm, 0);
        store_stats(s, &st);
        assert_int_equal(st.log_replayed_records, 0);
        assert_int_equal(version_of(s, 0), 2);
        assert_int_equal(store_close(s), 0);
    }
    hook_use(NULL);
    test_rmrf(dir);
    rm_snapshots(snap);
}

/* Put new keys first, first + 1, ... until a sync=batch doubling has
 * migrated a quarter of the old table and killed those originals: ticks
 * until the doubling starts (a batch doubling starts in a tick), then puts
 * alone (each migrates a few positions; a tick would migrate many). Returns
 * one past the last key put. */
static uint64_t reach_mid_doubling(struct store *s, uint64_t first)
{
    uint64_t now = TEST_NOW_MS, k = first;
    for (; k < first + 4000; k++) {
        put_v(s, k, 1);
        if (!s->growing)
            assert_int_equal(store_tick(s, now += 1), 0);
        if (s->growing && !s->mig_committing && s->mig_pos >= s->old.cap / 4)
            break;
    }
    assert_true(s->growing && !s->mig_committing);
    return k + 1;
}

/* A sync=batch doubling is in progress when the power fails, and the kernel
 * had written back the old table's pages but none of the new table's slots
 * (writeback order is the kernel's). Every key written before the last
 * checkpoint must still be there: their only durable copies are the old
 * table's slots (the log starts afresh at a checkpoint). While the doubling
 * killed migrated slots on disk (DEAD), this lost every migrated key; now it
 * kills them in the index only (store__kill_old, FILE_FORMAT.md I5) and
 * holds their records until the commit. */
static void test_wal_batch_doubling_survives_lost_new_table(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    struct store *s = open_mode(dir, 1024, STORE_SYNC_BATCH, 0);
    const uint64_t n = 600; /* below the 1024-slot table's growth threshold */
    for (uint64_t i = 0; i < n; i++)
        put_v(s, i, 1);
    struct store_stats st;
    store_stats(s, &st);
    assert_false(st.growing);
    assert_int_equal(store_sync(s), 0); /* checkpoint: the log starts afresh */
    /* Into the doubling; then overwrite a few migrated keys, so their old
     * records are freed while old-table slots on disk still name them. */
    reach_mid_doubling(s, n);
    uint64_t rewritten = 0;
    for (uint64_t i = 0; i < n && rewritten < 20; i++) {
        char key[32];
        size_t kl = test_key(key, sizeof key, i);
        if (store__find(s, &s->cur, store__key_hash(s, key, kl), key, (uint32_t)kl, NULL) < 0)
            continue;
        put_v(s, i, 2);
        put_v(s, i, 3); /* the version-2 record is free to reuse at once in sync=none */
        rewritten++;
    }
    assert_true(rewritten > 0);
    for (uint64_t j = 0; j < 50; j++)
        put_v(s, 100000 + j, 1); /* new records: would reuse freed blocks */
    store_stats(s, &st);
    printf("doubling %" PRIu64 " -> %" PRIu64 " slots, migrated %" PRIu64 " positions, %" PRIu64
           " keys rewritten, %" PRIu64 " value bytes held\n",
           s->old.cap, s->cur.cap, s->mig_pos, rewritten, st.value_bytes_held);
    assert_true(st.value_bytes_held > 0);
    assert_true(s->growing); /* the header names both tables */
    uint64_t cur_gen = s->cur.gen;
    store__free(s); /* the process dies; the page cache holds every write */

    /* The power loss: cur's slots never reached the disk. */
    char name[64], path[192];
    store__table_name(name, sizeof name, cur_gen);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat fst;
    assert_int_equal(fstat(fd, &fst), 0);
    static const uint8_t zero[FMT_PAGE];
    for (off_t o = FMT_PAGE; o < fst.st_size; o += FMT_PAGE)
        assert_int_equal(pwrite(fd, zero, FMT_PAGE, o), FMT_PAGE);
    close(fd);

    s = open_mode(dir, 1024, STORE_SYNC_BATCH, 0);
    store_stats(s, &st);
    printf("reopened: %" PRIu64 " entries, %" PRIu64 " torn slots dropped\n", st.entries,
           st.torn_slots_dropped);
    /* No old-table slot names a record another key reused. */
    assert_int_equal(st.torn_slots_dropped, 0);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t got = version_of(s, i);
        if (got == UINT64_MAX || got == UINT64_MAX - 1)
            fail_msg("key %" PRIu64 " (checkpointed before the doubling) is lost", i);
    }
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
}

struct scan_tally {
    uint32_t *seen;  /* per key index: times visited */
    uint64_t *ver;   /* per key index: version visited last */
    uint64_t n;      /* keys tracked */
    uint64_t bucket; /* UINT64_MAX: any; else every visit must be in it */
    uint64_t visits;
};

static int tally_cb(void *arg, const struct entry *e)
{
    struct scan_tally *t = arg;
    char buf[64];
    size_t n = e->value_len < sizeof buf - 1 ? e->value_len : sizeof buf - 1;
    memcpy(buf, e->value, n);
    buf[n] = 0;
    char *p = NULL;
    uint64_t i = strtoull(buf, &p, 10);
    if (i < t->n) {
        t->seen[i]++;
        t->ver[i] = strtoull(p + 1, NULL, 10);
    }
    if (t->bucket != UINT64_MAX &&
        entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS) != (uint32_t)t->bucket)
        fail_msg("bucket scan %" PRIu64 " visited a key of another bucket", t->bucket);
    t->visits++;
    return 0;
}

/* While a sync=batch doubling leaves migrated slots on disk in the old table
 * (killed in the index only), scans must not see them: every key once, at
 * its latest version, through store_scan and through the bucket scans. */
static void test_wal_batch_doubling_scans_see_each_key_once(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    /* 8192 slots: the tick that starts the doubling migrates 4096
     * positions, the puts below 8 each, so it is still mid-way at the scan. */
    struct store *s = open_mode(dir, 8192, STORE_SYNC_BATCH, 0);
    const uint64_t n = 4800;
    for (uint64_t i = 0; i < n; i++)
        put_v(s, i, 1);
    assert_int_equal(store_sync(s), 0);
    uint64_t total = reach_mid_doubling(s, n);
    for (uint64_t i = 0; i < n; i += 24)
        put_v(s, i, 2); /* migrated or not: the latest version is 2 */
    assert_true(s->growing && !s->mig_committing); /* the old table is scanned too */
    struct scan_tally t = {.n = total, .bucket = UINT64_MAX};
    t.seen = calloc(total, sizeof *t.seen);
    t.ver = calloc(total, sizeof *t.ver);
    assert_non_null(t.seen);
    assert_non_null(t.ver);
    uint64_t cursor = 0;
    int rounds = 0;
    do {
        assert_int_equal(store_scan(s, &cursor, 64, tally_cb, &t), 0);
        assert_true(++rounds < 1000000);
    } while (cursor != 0);
    for (uint64_t i = 0; i < total; i++) {
        uint64_t want = i < n && i % 24 == 0 ? 2 : 1;
        if (t.seen[i] != 1 || t.ver[i] != want)
            fail_msg("store_scan: key %" PRIu64 " seen %u times, version %" PRIu64 " (want 1, %" PRIu64
                     ")",
                     i, t.seen[i], t.ver[i], want);
    }
    memset(t.seen, 0, total * sizeof *t.seen);
    for (uint32_t b = 0; b < STORE_BUCKETS; b++) {
        t.bucket = b;
        assert_int_equal(store_bucket_scan(s, b, tally_cb, &t), 0);
    }
    for (uint64_t i = 0; i < total; i++) {
        uint64_t want = i < n && i % 24 == 0 ? 2 : 1;
        if (t.seen[i] != 1 || t.ver[i] != want)
            fail_msg("bucket scans: key %" PRIu64 " seen %u times, version %" PRIu64, i, t.seen[i],
                     t.ver[i]);
    }
    printf("mid-doubling (%" PRIu64 " of %" PRIu64 " positions): %" PRIu64
           " keys, each seen once by both scans\n",
           s->mig_pos, s->old.cap, total);
    free(t.seen);
    free(t.ver);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

static void test_wal_replayed_purge_does_not_resurrect(void **state)
{
    (void)state;
    char dir[64], snap[128];
    test_mkdtemp(dir, sizeof dir);
    snprintf(snap, sizeof snap, "%s.snap", dir);
    struct hook_arg h = {0};
    snprintf(h.snap, sizeof h.snap, "%s", snap);
    hook_use(&h);
    struct store *s = open_mode(dir, 64, STORE_SYNC_ALWAYS, 0);
    assert_int_equal(store_sync(s), 0); /* checkpoint before the key existed */
    put_v(s, 1, 1);
    char k[32];
    size_t kl = test_key(k, sizeof k, 1);
    assert_int_equal(store_del(s, k, kl, TEST_NOW_MS, NULL, NULL), 0);
    uint64_t purged = 0;
    uint64_t later = TEST_NOW_MS + 48ull * 3600 * 1000; /* past the 24 h grace */
    assert_int_equal(store_purge_tombstones(s, later, UINT64_MAX, 1u << 20, &purged), 0);
    assert_int_equal(purged, 1);
    assert_int_equal(version_of(s, 1), UINT64_MAX);
    crash_and_power_loss(s, dir, snap);
    s = open_mode(dir, 64, STORE_SYNC_ALWAYS, 0);
    /* put, del, purge replayed in order: gone, not resurrected. */
    assert_int_equal(version_of(s, 1), UINT64_MAX);
    assert_int_equal(store_close(s), 0);
    hook_use(NULL);
    test_rmrf(dir);
    rm_snapshots(snap);
}

/* The single log file of dir (after a crash without a checkpoint since). */
static void log_path(const char *dir, char *out, size_t n)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    uint64_t gens[4];
    int c = wal_list(dfd, gens, 4);
    close(dfd);
    assert_int_equal(c, 1);
    char name[64];
    wal_name(name, sizeof name, gens[0]);
    snprintf(out, n, "%s/%s", dir, name);
}

/* A fresh directory whose checkpoints are snapshotted into snap (for
 * crash_and_power_loss), and its removal. */
static void logged_begin(char *dir, char *snap, struct hook_arg *h)
{
    test_mkdtemp(dir, 64);
    snprintf(snap, 128, "%s.snap", dir);
    snprintf(h->snap, sizeof h->snap, "%s", snap);
    hook_use(h);
}

static void logged_end(const char *dir, const char *snap)
{
    hook_use(NULL);
    test_rmrf(dir);
    rm_snapshots(snap);
}

/* The checkpoint hook belongs to the store it was given to: another store
 * checkpointing in the same process at the same time does not call it. */
static void test_wal_checkpoint_hook_is_per_store(void **state)
{
    (void)state;
    char a[64], b[64], snap[128];
    struct hook_arg h = {0};
    logged_begin(a, snap, &h);
    struct store *sa = open_mode(a, 64, STORE_SYNC_ALWAYS, 0);
    hook_use(NULL);
    test_mkdtemp(b, sizeof b);
    struct store *sb = open_mode(b, 64, STORE_SYNC_ALWAYS, 0);
    uint64_t before = h.calls;
    put_v(sb, 1, 1);
    assert_int_equal(store_sync(sb), 0);
    assert_int_equal(h.calls, before); /* b's checkpoint: not a's hook */
    put_v(sa, 1, 1);
    assert_int_equal(store_sync(sa), 0);
    assert_int_equal(h.calls, before + 1);
    assert_int_equal(store_close(sa), 0);
    assert_int_equal(store_close(sb), 0);
    test_rmrf(b);
    logged_end(a, snap);
}

/* A data directory whose log holds 200 puts (keys 0..199, version 1) after
 * a checkpoint, left by a crash and a power loss: the log is the only copy
 * of those writes. */
static void make_logged_dir(const char *dir, const char *snap, char *logf, size_t logf_bytes)
{
    test_rmrf(dir);
    struct store *s = open_mode(dir, 4096, STORE_SYNC_ALWAYS, 0);
    assert_int_equal(store_sync(s), 0);
    for (uint64_t i = 0; i < 200; i++)
        put_v(s, i, 1);
    crash_and_power_loss(s, dir, snap);
    log_path(dir, logf, logf_bytes);
}

/* The records of a log file: offset, size and key number (-1: no key). */
struct log_rec {
    uint64_t off, bytes;
    int64_t key;
};

static size_t log_records(const char *logf, struct log_rec *out, size_t max)
{
    FILE *f = fopen(logf, "rb");
    assert_non_null(f);
    static uint8_t buf[1u << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(len < sizeof buf);
    const char *base = strrchr(logf, '/') + 1;
    unsigned long long gen = 0;
    assert_int_equal(sscanf(base, "log.%llu.gkv", &gen), 1);
    size_t n = 0;
    uint64_t off = sizeof(struct wal_prologue);
    while (off < len && n < max) {
        uint8_t type;
        struct entry e;
        size_t used;
        assert_int_equal(wal_rec_decode(buf + off, len - off, gen, off, &type, &e, &used), 0);
        out[n].off = off;
        out[n].bytes = used;
        out[n].key = -1;
        if (type == WAL_REC_VERSION) {
            char k[32];
            memcpy(k, e.key, e.key_len);
            k[e.key_len] = 0;
            out[n].key = strtoll(k + 1, NULL, 10);
        }
        n++;
        off += used;
    }
    assert_int_equal(off, len);
    return n;
}

static size_t rec_of_key(const struct log_rec *r, size_t n, int64_t key)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].key == key)
            return i;
    fail_msg("key %" PRId64 " not in the log", key);
    return 0;
}

/* "name size checksum" of every file in dir, sorted by name: equal
 * fingerprints mean the directory was left byte for byte as it was. */
static void dir_fingerprint(const char *dir, char *out, size_t n)
{
    char names[32][256];
    size_t k = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && k < 32)
            snprintf(names[k++], sizeof names[0], "%s", de->d_name);
    closedir(d);
    qsort(names, k, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < k; i++) {
        char p[512];
        snprintf(p, sizeof p, "%.200s/%s", dir, names[i]);
        FILE *f = fopen(p, "rb");
        assert_non_null(f);
        uint64_t h = 0, size = 0;
        static uint8_t buf[1u << 16];
        size_t r;
        while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
            h = store__checksum64(buf, r, h);
            size += r;
        }
        fclose(f);
        used += (size_t)snprintf(out + used, n - used, "%s %" PRIu64 " %016" PRIx64 "\n",
                                 names[i], size, h);
        assert_true(used < n);
    }
}

static uint64_t file_checksum(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[1u << 16];
    uint64_t h = 0;
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0)
        h = store__checksum64(buf, r, h);
    fclose(f);
    return h;
}

/* Does the text store_inspect (or store_salvage) prints contain want? */
static bool printed(int (*fn)(const char *, FILE *), const char *dir, const char *want, int *rc)
{
    FILE *out = tmpfile();
    assert_non_null(out);
    *rc = fn(dir, out);
    rewind(out);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = 0;
    fclose(out);
    printf("%s", text);
    return strstr(text, want) != NULL;
}

static int inspect_quiet(const char *dir, FILE *out)
{
    return store_inspect(dir, false, out);
}

/* Torn tails: a log cut mid-record, the last record's checksum broken, or
 * garbage or zeros after the last record (nothing good after the bad
 * bytes): the open drops the tail, counts it, and keeps every record
 * before it; inspect reports the tail and calls the directory healthy. */
static void test_wal_torn_tail_is_dropped_and_counted(void **state)
{
    (void)state;
    char dir[64], snap[128], logf[256];
    struct hook_arg h = {0};
    logged_begin(dir, snap, &h);
    for (int variant = 0; variant < 4; variant++) {
        make_logged_dir(dir, snap, logf, sizeof logf);
        static struct log_rec recs[1024];
        size_t nrec = log_records(logf, recs, 1024);
        struct stat st0;
        assert_int_equal(stat(logf, &st0), 0);
        uint64_t size = (uint64_t)st0.st_size, cut = size / 2, torn_want = 0;
        const struct log_rec *last = &recs[nrec - 1];
        if (variant == 0) {
            assert_int_equal(truncate(logf, (off_t)cut), 0); /* torn mid-file */
        } else if (variant == 1) {
            /* A flipped byte in the last record's value: bad checksum,
             * nothing after it. */
            FILE *f = fopen(logf, "r+b");
            assert_non_null(f);
            fseek(f, (long)(last->off + last->bytes - 3), SEEK_SET);
            int c = fgetc(f);
            fseek(f, (long)(last->off + last->bytes - 3), SEEK_SET);
            fputc(c ^ 0x40, f);
            fclose(f);
            torn_want = last->bytes;
        } else {
            FILE *f = fopen(logf, "ab");
            assert_non_null(f);
            for (int i = 0; i < 100; i++)
                fputc(variant == 2 ? 0xa5 : 0, f); /* garbage, or never-written zeros */
            fclose(f);
            torn_want = 100;
        }
        FILE *out = tmpfile();
        assert_non_null(out);
        assert_int_equal(store_inspect(dir, false, out), 0); /* a torn log is not damage */
        rewind(out);
        char line[512];
        bool saw = false;
        while (fgets(line, sizeof line, out))
            if (strstr(line, "log.") && strstr(line, "torn tail"))
                saw = true;
        fclose(out);
        assert_true(saw);

        struct store *s = open_mode(dir, 4096, STORE_SYNC_ALWAYS, 0);
        struct store_stats st;
        store_stats(s, &st);
        printf("variant %d: replayed %" PRIu64 " records, %" PRIu64 " torn bytes of %" PRIu64
               "\n",
               variant, st.log_replayed_records, st.log_replay_torn_bytes, size);
        assert_true(st.log_replay_torn_bytes > 0);
        if (torn_want)
            assert_int_equal(st.log_replay_torn_bytes, torn_want);
        /* Keys before the tail are there, in order: a prefix. */
        uint64_t present = 0;
        for (uint64_t i = 0; i < 200; i++) {
            uint64_t v = version_of(s, i);
            if (v == 1)
                assert_int_equal(present++, i);
            else
                assert_int_equal(v, UINT64_MAX);
        }
        if (variant == 0)
            assert_true(present > 0 && present < 200);
        else if (variant == 1)
            assert_int_equal(present, last->key >= 0 ? 199 : 200); /* all but the last */
        else
            assert_int_equal(present, 200); /* every record before the garbage */
        assert_int_equal(store_close(s), 0);
        test_inspect_ok(dir);
    }
    logged_end(dir, snap);
}

/* Damage in the middle of the log (good records after it): the open
 * refuses with an error naming the file, the offset, the record number and
 * how many good records follow, and leaves every file byte for byte as it
 * was; inspect reports it; salvage backs the log up, keeps every good
 * record before and after the damage, and the directory opens with all of
 * them. Variants: a flipped value byte in the record of key 100, a flipped
 * magic byte in it (the length is lost: resync by scanning), a 4 KiB page
 * of zeros mid-file, flipped bytes in the records of keys 50 and 150, a
 * damaged prologue. */
static void test_wal_mid_log_damage_refuses_open_then_salvage_keeps_the_rest(void **state)
{
    (void)state;
    char dir[64], snap[128], logf[256];
    struct hook_arg h = {0};
    logged_begin(dir, snap, &h);
    for (int variant = 0; variant < 5; variant++) {
        make_logged_dir(dir, snap, logf, sizeof logf);
        const char *logname = strrchr(logf, '/') + 1;
        static struct log_rec recs[1024];
        size_t nrec = log_records(logf, recs, 1024);
        bool lost[200] = {false};
        size_t first = 0; /* index of the first damaged record */
        uint64_t first_off = 0, stretches = 1;
        if (variant == 0 || variant == 1) {
            first = rec_of_key(recs, nrec, 100);
            first_off = recs[first].off;
            /* variant 0: a byte of the value; 1: the magic's first byte */
            file_flip(dir, logname, variant == 0 ? recs[first].off + recs[first].bytes - 5
                                                 : recs[first].off);
            lost[100] = true;
        } else if (variant == 2) {
            uint64_t page = (recs[nrec / 2].off + 4095) & ~4095ull;
            static const uint8_t zero[4096];
            file_poke(dir, logname, page, zero, sizeof zero);
            bool seen = false;
            for (size_t i = 0; i < nrec; i++) {
                if (recs[i].off + recs[i].bytes <= page || recs[i].off >= page + 4096)
                    continue;
                if (!seen) {
                    first = i;
                    first_off = recs[i].off;
                    seen = true;
                }
                if (recs[i].key >= 0)
                    lost[recs[i].key] = true;
            }
            assert_true(seen && recs[nrec - 1].off > page + 4096);
        } else if (variant == 3) {
            size_t a = rec_of_key(recs, nrec, 50), b = rec_of_key(recs, nrec, 150);
            file_flip(dir, logname, recs[a].off + 20); /* the HLC field */
            file_flip(dir, logname, recs[b].off + recs[b].bytes - 1);
            first = a;
            first_off = recs[a].off;
            lost[50] = lost[150] = true;
            stretches = 2;
        } else {
            file_flip(dir, logname, 2); /* the prologue's magic */
        }
        char before[8192], after[8192];
        dir_fingerprint(dir, before, sizeof before);
        uint64_t damaged_sum = file_checksum(logf);

        /* 1. The open refuses, saying where and what follows. */
        struct store_config cfg;
        test_cfg(&cfg, dir, 4096);
        cfg.sync = STORE_SYNC_ALWAYS;
        struct store *s = NULL;
        char msg[STORE_OPEN_ERR_BYTES] = "";
        assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, msg, sizeof msg), GKV_ECORRUPT);
        assert_null(s);
        printf("variant %d: %s\n", variant, msg);
        char want[160];
        snprintf(want, sizeof want, "%s/%s: ", dir, logname);
        assert_non_null(strstr(msg, want));
        if (variant == 4) {
            assert_non_null(strstr(msg, "the prologue at offset 0 is damaged"));
            snprintf(want, sizeof want, "and %zu good records follow it", nrec);
        } else {
            snprintf(want, sizeof want, "record %zu at offset %" PRIu64 " is damaged", first + 1,
                     first_off);
            assert_non_null(strstr(msg, want));
            size_t after_n = 0;
            for (size_t i = first; i < nrec; i++)
                if (recs[i].key < 0 || !lost[recs[i].key])
                    after_n++;
            snprintf(want, sizeof want, "and %zu good records follow it", after_n);
        }
        assert_non_null(strstr(msg, want));
        snprintf(want, sizeof want, "damaged stretches: %" PRIu64 ",", stretches);
        assert_non_null(strstr(msg, want));
        assert_non_null(strstr(msg, "--salvage"));
        /* ... and leaves every file exactly as it was. */
        dir_fingerprint(dir, after, sizeof after);
        assert_string_equal(before, after);

        /* 2. inspect reports it (and changes nothing either). */
        int rc;
        snprintf(want, sizeof want, "FAULT %s: %s", logname,
                 variant == 4 ? "the prologue" : "record");
        assert_true(printed(inspect_quiet, dir, want, &rc));
        assert_int_equal(rc, GKV_ECORRUPT);
        if (variant == 2)
            assert_true(printed(inspect_quiet, dir, "1 whole 4 KiB pages of zeros", &rc));
        dir_fingerprint(dir, after, sizeof after);
        assert_string_equal(before, after);

        /* 3. salvage: a byte-for-byte backup, every good record kept. */
        snprintf(want, sizeof want, "saved as %s.damaged-1", logname);
        assert_true(printed(store_salvage, dir, want, &rc));
        assert_int_equal(rc, 0);
        char backup[300];
        snprintf(backup, sizeof backup, "%s.damaged-1", logf);
        assert_int_equal(file_checksum(backup), damaged_sum);
        test_inspect_ok(dir);
        s = open_mode(dir, 4096, STORE_SYNC_ALWAYS, 0);
        struct store_stats st;
        store_stats(s, &st);
        uint64_t kept = 0, want_kept = 0;
        for (uint64_t i = 0; i < 200; i++) {
            uint64_t v = version_of(s, i);
            assert_int_equal(v, lost[i] ? UINT64_MAX : 1);
            kept += v == 1;
            want_kept += !lost[i];
        }
        printf("variant %d: salvaged, %" PRIu64 " of 200 keys, %" PRIu64 " records replayed, %" PRIu64
               " torn bytes\n",
               variant, kept, st.log_replayed_records, st.log_replay_torn_bytes);
        assert_int_equal(kept, want_kept);
        assert_int_equal(st.log_replay_torn_bytes, 0);
        /* A running node's directory is never salvaged under it. */
        FILE *null = fopen("/dev/null", "w");
        assert_int_equal(store_salvage(dir, null), GKV_ELOCKED);
        fclose(null);
        assert_int_equal(store_close(s), 0);
        test_inspect_ok(dir);
    }
    logged_end(dir, snap);
}

/* The resync search is bounded: after a bad record, 2 MiB of record
 * headers that each claim to run almost to the end of the file (as values
 * holding fake headers could) would cost about 50 GB of checksum work;
 * the search gives up at its budget and the file counts as damaged
 * (refused, never silently cut), and salvage keeps the record before it. */
static void test_wal_resync_search_is_bounded(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    size_t len = 2u << 20;
    uint8_t *f = calloc(1, len);
    assert_non_null(f);
    struct wal_prologue p;
    wal_prologue_init(&p, 1);
    memcpy(f, &p, sizeof p);
    struct entry e = {.hlc = 5};
    uint64_t off = sizeof p, good = wal_rec_bytes(WAL_REC_HLC, &e);
    wal_rec_encode(f + off, WAL_REC_HLC, &e, 1, off);
    off += good;
    uint64_t bad = off;
    memset(f + off, 0xa5, 8); /* the bad record */
    for (off += 8; off + sizeof(struct wal_rec_hdr) <= len; off += sizeof(struct wal_rec_hdr)) {
        struct wal_rec_hdr h = {.magic = WAL_REC_MAGIC, .type = WAL_REC_VERSION, .key_len = 1};
        h.value_len = (uint32_t)(len - off - sizeof h - 1);
        memcpy(f + off, &h, sizeof h);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/log.1.gkv", dir);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(f, 1, len, out), len);
    fclose(out);
    free(f);

    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    char err[STORE_ERR_BYTES];
    assert_int_equal(wal_check_dir(dfd, err, sizeof err), GKV_ECORRUPT);
    printf("%s\n", err);
    assert_non_null(strstr(err, "gave up"));
    struct wal_file_report r;
    char backup[96];
    assert_int_equal(wal_salvage_file(dfd, 1, &r, backup, sizeof backup, err, sizeof err), 0);
    assert_true(r.undecided);
    assert_int_equal(r.tail_off, bad);
    assert_int_equal(r.records, 1);
    assert_string_equal(backup, "log.1.gkv.damaged-1");
    assert_int_equal(wal_check_dir(dfd, err, sizeof err), 0);
    assert_int_equal(file_size(dir, "log.1.gkv"), sizeof p + good);
    close(dfd);
    test_rmrf(dir);
}

/* A log write that fails (here: RLIMIT_FSIZE, as a full disk) leaves a
 * gap, maybe half a record. Nothing may be acknowledged through that file
 * after it: records past the gap would be good records after a bad one,
 * which the open refuses (and older code dropped). So puts fail until the
 * next tick's checkpoint; after a crash and a power loss, before (variant
 * 0) or after (1) that checkpoint, the directory opens with every
 * acknowledged put. */
static int put_into_full_log(struct store *s, const char *logf, uint64_t i)
{
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    struct stat st;
    assert_int_equal(stat(logf, &st), 0);
    lim.rlim_cur = (rlim_t)st.st_size + 30; /* room for part of a record */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char k[32], v[160];
    size_t kl = test_key(k, sizeof k, i);
    size_t vl = test_value(v, sizeof v, i, 1, 40 + (i * 7 + 13) % 100);
    int rc = store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0); /* the disk has room again */
    signal(SIGXFSZ, old_sig);
    return rc;
}

static void test_wal_failed_write_acknowledges_nothing_past_the_gap(void **state)
{
    (void)state;
    char dir[64], snap[128], logf[256];
    struct hook_arg h = {0};
    logged_begin(dir, snap, &h);
    for (int variant = 0; variant < 2; variant++) {
        test_rmrf(dir);
        struct store *s = open_mode(dir, 4096, STORE_SYNC_ALWAYS, 0);
        assert_int_equal(store_sync(s), 0);
        bool acked[150] = {false};
        for (uint64_t i = 0; i < 50; i++) {
            put_v(s, i, 1);
            acked[i] = true;
        }
        log_path(dir, logf, sizeof logf);
        int rc = put_into_full_log(s, logf, 50);
        printf("variant %d: put into a full log: %s\n", variant, gkv_strerror(rc));
        assert_int_not_equal(rc, 0);
        uint64_t refused = 0;
        for (uint64_t i = 51; i < 100; i++) {
            char k[32], v[160];
            size_t kl = test_key(k, sizeof k, i);
            size_t vl = test_value(v, sizeof v, i, 1, 40 + (i * 7 + 13) % 100);
            acked[i] = store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL) == 0;
            refused += !acked[i];
        }
        printf("variant %d: puts refused until the checkpoint: %" PRIu64 " of 49\n", variant,
               refused);
        if (variant == 1) {
            assert_int_equal(store_tick(s, TEST_NOW_MS + 1), 0); /* the checkpoint */
            for (uint64_t i = 100; i < 150; i++) {
                put_v(s, i, 1);
                acked[i] = true;
            }
        }
        crash_and_power_loss(s, dir, snap);
        s = open_mode(dir, 4096, STORE_SYNC_ALWAYS, 0); /* fails the test if refused */
        uint64_t present = 0;
        for (uint64_t i = 0; i < 150; i++) {
            uint64_t ver = version_of(s, i);
            if (acked[i])
                assert_int_equal(ver, 1);
            present += ver == 1;
        }
        printf("variant %d: after the power loss: %" PRIu64 " of 150 keys\n", variant, present);
        assert_int_equal(store_close(s), 0);
    }
    logged_end(dir, snap);
}

/* --------------------------------------------- power loss, real processes */

#define PL_KEYS 3000u

struct pl_ack {
    uint32_t id, version;
};

/* The child: writes versions (ver[] continues the parent's), acknowledging
 * through the pipe what the sync mode made durable: sync=always each put,
 * sync=batch everything before a group commit (a store_tick). Checkpoints
 * every 64 KiB of log, each snapshotted by the hook. */
static void pl_child(const char *dir, const char *snap, uint64_t seed, int fd,
                     enum store_sync mode, uint32_t cap, uint32_t *ver)
{
    struct hook_arg h = {0};
    snprintf(h.snap, sizeof h.snap, "%s", snap);
    hook_use(&h);
    struct gkv_rng rng;
    gkv_rng_seed(&rng, seed);
    struct store_config cfg;
    test_cfg(&cfg, dir, cap);
    cfg.sync = mode;
    cfg.wal_checkpoint_bytes = 64u << 10;
    hook_config(&cfg);
    struct store *s = NULL;
    if (store_open(&cfg, TEST_NOW_MS, &s, NULL, 0) != 0)
        _exit(2);
    struct pl_ack batch[64];
    size_t nb = 0;
    uint64_t now = TEST_NOW_MS;
    for (;;) {
        uint32_t id = (uint32_t)gkv_rng_below(&rng, PL_KEYS);
        uint32_t v = ++ver[id];
        char k[32], val[160];
        size_t kl = test_key(k, sizeof k, id);
        size_t vl = test_value(val, sizeof val, id, v, 40 + (id * 7 + v * 13) % 100);
        if (store_put(s, k, kl, val, vl, now, NULL) != 0)
            _exit(3);
        batch[nb++] = (struct pl_ack){id, v};
        if (mode == STORE_SYNC_ALWAYS || nb == 64) {
            if (mode == STORE_SYNC_BATCH && store_tick(s, now += 100) != 0)
                _exit(4);
            if (write(fd, batch, nb * sizeof batch[0]) != (ssize_t)(nb * sizeof batch[0]))
                _exit(5);
            nb = 0;
        }
        if (mode == STORE_SYNC_ALWAYS && gkv_rng_below(&rng, 64) == 0 && store_tick(s, now) != 0)
            _exit(6);
    }
}

static void power_loss_rounds(enum store_sync mode, bool page_mix, uint32_t cap)
{
    uint64_t seed = test_seed((uint64_t)time(NULL));
    const char *env = getenv("GKV_WAL_ROUNDS");
    int rounds = env ? atoi(env) : 12;
    printf("power loss (%s, %s): seed %" PRIu64 " (GKV_SEED to replay), %d rounds\n",
           mode == STORE_SYNC_ALWAYS ? "always" : "batch", page_mix ? "page mix" : "whole files",
           seed, rounds);
    struct gkv_rng rng;
    gkv_rng_seed(&rng, seed);
    char dir[64], snap[128];
    test_mkdtemp(dir, sizeof dir);
    snprintf(snap, sizeof snap, "%s.snap", dir);
    uint32_t *acked = calloc(PL_KEYS, sizeof *acked); /* highest acknowledged */
    uint32_t *ver = calloc(PL_KEYS, sizeof *ver);     /* highest written */
    assert_non_null(acked);
    assert_non_null(ver);
    /* A first, clean state is the first checkpoint. */
    struct store *s = open_mode(dir, cap, mode, 64u << 10);
    assert_int_equal(store_close(s), 0);
    snapshot(dir, snap);
    uint64_t replayed = 0, torn = 0, acks = 0;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            pl_child(dir, snap, seed + (uint64_t)round * 7919, p[1], mode, cap, ver);
            _exit(0);
        }
        close(p[1]);
        /* Let it acknowledge a random number of writes, then kill it. */
        uint64_t target = 200 + gkv_rng_below(&rng, 2000);
        uint64_t got = 0;
        struct pl_ack a[64];
        while (got < target) {
            ssize_t n = read(p[0], a, sizeof a);
            if (n <= 0)
                break;
            for (size_t i = 0; i < (size_t)n / sizeof a[0]; i++) {
                if (a[i].version > acked[a[i].id])
                    acked[a[i].id] = a[i].version;
                got++;
            }
        }
        kill(pid, SIGKILL);
        ssize_t n;
        while ((n = read(p[0], a, sizeof a)) > 0)
            for (size_t i = 0; i < (size_t)n / sizeof a[0]; i++) {
                if (a[i].version > acked[a[i].id])
                    acked[a[i].id] = a[i].version;
                got++;
            }
        close(p[0]);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status))
            fail_msg("round %d: child exited with %d", round, WEXITSTATUS(status));
        acks += got;
        /* The child's versions continue from the highest it may have
         * written: at most 64 past an acknowledged one in batch mode, one
         * in always mode; take a safe bound. */
        for (uint32_t i = 0; i < PL_KEYS; i++)
            ver[i] = (acked[i] > ver[i] ? acked[i] : ver[i]) + 1000;

        revert_to_snapshot(dir, snap, page_mix ? &rng : NULL);
        s = open_mode(dir, cap, mode, 64u << 10);
        struct store_stats st;
        store_stats(s, &st);
        replayed += st.log_replayed_records;
        torn += st.log_replay_torn_bytes;
        for (uint32_t i = 0; i < PL_KEYS; i++) {
            if (!acked[i])
                continue;
            uint64_t v = version_of(s, i);
            if (v == UINT64_MAX || v < acked[i])
                fail_msg("round %d (seed %" PRIu64 "): key %u has version %" PRId64
                         ", acknowledged %u",
                         round, seed, i, v == UINT64_MAX ? (int64_t)-1 : (int64_t)v, acked[i]);
        }
        /* Carry the recovered state on as the next round's checkpoint. */
        for (uint32_t i = 0; i < PL_KEYS; i++) {
            uint64_t v = version_of(s, i);
            if (v != UINT64_MAX && v > acked[i])
                acked[i] = (uint32_t)v; /* an unacknowledged write survived */
        }
        assert_int_equal(store_close(s), 0);
        test_inspect_ok(dir);
        snapshot(dir, snap);
    }
    printf("power loss: %" PRIu64 " acknowledged writes, %" PRIu64 " log records replayed, %" PRIu64
           " torn bytes\n",
           acks, replayed, torn);
    assert_true(replayed > 0);
    free(acked);
    free(ver);
    test_rmrf(dir);
    rm_snapshots(snap);
}

static void test_wal_power_loss_always_whole_files_with_growth(void **state)
{
    (void)state;
    power_loss_rounds(STORE_SYNC_ALWAYS, false, 16);
}

static void test_wal_power_loss_always_page_mix(void **state)
{
    (void)state;
    power_loss_rounds(STORE_SYNC_ALWAYS, true, 8192);
}

static void test_wal_power_loss_batch_page_mix(void **state)
{
    (void)state;
    power_loss_rounds(STORE_SYNC_BATCH, true, 8192);
}

static void test_wal_power_loss_batch_whole_files_with_growth(void **state)
{
    (void)state;
    power_loss_rounds(STORE_SYNC_BATCH, false, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_record_roundtrip_truncation_and_flips),
        cmocka_unit_test(test_wal_replay_restores_writes_after_checkpoint),
        cmocka_unit_test(test_wal_replayed_purge_does_not_resurrect),
        cmocka_unit_test(test_wal_checkpoint_hook_is_per_store),
        cmocka_unit_test(test_wal_batch_doubling_survives_lost_new_table),
        cmocka_unit_test(test_wal_batch_doubling_scans_see_each_key_once),
        cmocka_unit_test(test_wal_torn_tail_is_dropped_and_counted),
        cmocka_unit_test(test_wal_mid_log_damage_refuses_open_then_salvage_keeps_the_rest),
        cmocka_unit_test(test_wal_resync_search_is_bounded),
        cmocka_unit_test(test_wal_failed_write_acknowledges_nothing_past_the_gap),
        cmocka_unit_test(test_wal_power_loss_always_whole_files_with_growth),
        cmocka_unit_test(test_wal_power_loss_always_page_mix),
        cmocka_unit_test(test_wal_power_loss_batch_whole_files_with_growth),
        cmocka_unit_test(test_wal_power_loss_batch_page_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
