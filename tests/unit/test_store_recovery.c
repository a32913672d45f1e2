/*
 * Recovery and corruption: every damaged directory gives a clear error
 * naming the file and the fault, or is repaired on open; never a crash.
 * store_inspect reports the same faults read-only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/rng.h"
#include "storage/store_int.h"
#include "test_store_util.h"

static FILE *g_null;

/* A closed store in a fresh dir with n keys "k<i>" = test_value(i, 1, 40). */
static void make_store(char *dir, size_t dn, uint64_t n)
{
    test_mkdtemp(dir, dn);
    struct store_config cfg;
    test_cfg(&cfg, dir, 64);
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    char k[32], v[64];
    for (uint64_t i = 0; i < n; i++) {
        size_t vl = test_value(v, sizeof v, i, 1, 40);
        assert_int_equal(store_put(s, k, test_key(k, sizeof k, i), v, vl, TEST_NOW_MS, NULL), 0);
    }
    assert_int_equal(store_close(s), 0);
}

static int reopen(const char *dir, struct store **s, char err[STORE_OPEN_ERR_BYTES])
{
    struct store_config cfg;
    test_cfg(&cfg, dir, 64);
    return store_open(&cfg, TEST_NOW_MS, s, err, err ? STORE_OPEN_ERR_BYTES : 0);
}

/* Count keys 0..n-1 that read back with their value. */
static uint64_t count_intact(struct store *s, uint64_t n)
{
    char k[32], v[64];
    uint64_t ok = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t vl = test_value(v, sizeof v, i, 1, 40);
        struct entry e;
        if (store_get(s, k, test_key(k, sizeof k, i), &e) == 0 && e.value_len == vl &&
            memcmp(e.value, v, vl) == 0)
            ok++;
    }
    return ok;
}

/* Index of the slot (in table.1.gkv) holding key k<i>. */
static uint64_t slot_of(const char *dir, uint64_t i)
{
    struct store *s = NULL;
    assert_int_equal(reopen(dir, &s, NULL), 0);
    char k[32];
    size_t kl = test_key(k, sizeof k, i);
    int64_t idx = store__find(s, &s->cur, store__key_hash(s, k, kl), k, (uint32_t)kl, NULL);
    assert_true(idx >= 0);
    assert_int_equal(s->cur.gen, 1);
    assert_int_equal(store_close(s), 0);
    return (uint64_t)idx;
}

static void expect_open_error(const char *dir, int code, const char *needle1, const char *needle2)
{
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    int rc = reopen(dir, &s, err);
    printf("open: %s -> %s\n", gkv_errname(rc), err);
    assert_int_equal(rc, code);
    assert_null(s);
    assert_non_null(strstr(err, needle1));
    if (needle2)
        assert_non_null(strstr(err, needle2));
    assert_true(store_inspect(dir, false, g_null) < 0);
}

static void test_store_truncated_table_is_a_clear_error(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 20);
    char p[128];
    snprintf(p, sizeof p, "%s/table.1.gkv", dir);
    assert_int_equal(truncate(p, 4096 + 10 * 64), 0);
    expect_open_error(dir, GKV_ECORRUPT, "table.1.gkv", "truncated");
    assert_int_equal(truncate(p, 100), 0);
    expect_open_error(dir, GKV_ECORRUPT, "table.1.gkv", "truncated");
    test_rmrf(dir);
}

static void test_store_truncated_values_is_a_clear_error(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 20);
    char p[128];
    snprintf(p, sizeof p, "%s/values.gkv", dir);
    assert_int_equal(truncate(p, 4096 + 200), 0);
    expect_open_error(dir, GKV_ECORRUPT, "values.gkv", "truncated");
    assert_int_equal(truncate(p, 10), 0);
    expect_open_error(dir, GKV_ECORRUPT, "values.gkv", "truncated");
    test_rmrf(dir);
}

static void test_store_truncated_header_is_a_clear_error(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 5);
    char p[128];
    snprintf(p, sizeof p, "%s/header.gkv", dir);
    assert_int_equal(truncate(p, 4096), 0);
    expect_open_error(dir, GKV_ECORRUPT, "header.gkv", "truncated");
    test_rmrf(dir);
}

static void test_store_flipped_header_copy_a_falls_back_to_b(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 50);
    file_flip(dir, "header.gkv", 30); /* node id byte of copy A */
    /* inspect reports the bad copy */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_true(store_inspect(dir, false, mem) < 0);
    fclose(mem);
    assert_non_null(strstr(buf, "header copy A:   FAULT"));
    assert_non_null(strstr(buf, "header copy B:   ok"));
    free(buf);
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    assert_int_equal(reopen(dir, &s, err), 0);
    assert_int_equal(store_node_id(s), 7);
    assert_int_equal(count_intact(s, 50), 50);
    assert_int_equal(store_close(s), 0);
    /* the next header write repaired copy A */
    assert_int_equal(store_inspect(dir, false, g_null), 0);
    /* copy B alone */
    file_flip(dir, "header.gkv", 4096 + 50);
    assert_int_equal(reopen(dir, &s, err), 0);
    assert_int_equal(count_intact(s, 50), 50);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

static void test_store_flipped_both_header_copies_is_a_clear_error(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 5);
    file_flip(dir, "header.gkv", 40);
    file_flip(dir, "header.gkv", 4096 + 40);
    expect_open_error(dir, GKV_ECORRUPT, "header.gkv", "copy A and B");
    test_rmrf(dir);
}

static void test_store_wrong_magic_is_a_clear_error(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 5);
    file_poke(dir, "header.gkv", 0, "NOTGKV!!", 8);
    file_poke(dir, "header.gkv", 4096, "NOTGKV!!", 8);
    expect_open_error(dir, GKV_ECORRUPT, "header.gkv", "magic");
    test_rmrf(dir);
}

static void test_store_wrong_version_is_a_clear_error(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 5);
    /* A well-formed header of a future format version (checksum valid). */
    for (int c = 0; c < 2; c++) {
        char p[128];
        snprintf(p, sizeof p, "%s/header.gkv", dir);
        int fd = open(p, O_RDWR);
        struct fmt_header h;
        assert_int_equal(pread(fd, &h, sizeof h, c * 4096), sizeof h);
        h.version = 9;
        store__header_checksum_set(&h);
        assert_int_equal(pwrite(fd, &h, sizeof h, c * 4096), sizeof h);
        close(fd);
    }
    expect_open_error(dir, GKV_EVERSION, "header.gkv", "version 9");
    test_rmrf(dir);
}

static void test_store_flipped_slot_is_rebuilt_from_its_record(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 40);
    uint64_t idx = slot_of(dir, 17);
    /* flip a byte of the slot's HLC: checksum mismatch, rec_off intact */
    file_flip(dir, "table.1.gkv", 4096 + idx * 64 + 9);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_true(store_inspect(dir, false, mem) < 0);
    fclose(mem);
    char want[96];
    snprintf(want, sizeof want, "table.1.gkv: slot %" PRIu64 " checksum mismatch", idx);
    printf("inspect says: %s\n", want);
    assert_non_null(strstr(buf, want));
    free(buf);
    struct store *s = NULL;
    assert_int_equal(reopen(dir, &s, NULL), 0);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.torn_slots_dropped, 0);
    assert_int_equal(count_intact(s, 40), 40);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(store_inspect(dir, false, g_null), 0);
    test_rmrf(dir);
}

static void test_store_slot_without_record_is_dropped_and_chain_kept(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 40);
    uint64_t idx = slot_of(dir, 5);
    /* corrupt rec_off: the slot cannot be rebuilt; recovery makes it DEAD
     * and every other key (chains running through it) stays reachable */
    uint64_t bogus = 0xdeadbeefull;
    file_poke(dir, "table.1.gkv", 4096 + idx * 64 + 24, &bogus, 8);
    struct store *s = NULL;
    assert_int_equal(reopen(dir, &s, NULL), 0);
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.torn_slots_dropped, 1);
    assert_true(st.recovered == false); /* the shutdown was clean; the slot was damaged */
    assert_int_equal(count_intact(s, 40), 39);
    char k[32];
    assert_int_equal(store_get(s, k, test_key(k, sizeof k, 5), NULL), GKV_ENOTFOUND);
    /* rewrite it */
    assert_int_equal(store_put(s, k, test_key(k, sizeof k, 5), "x", 1, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(store_inspect(dir, false, g_null), 0);
    test_rmrf(dir);
}

static void test_store_flipped_record_falls_back_or_drops(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 10);
    /* overwrite k3 so its slot has a prev_off; then damage the new record */
    struct store *s = NULL;
    assert_int_equal(reopen(dir, &s, NULL), 0);
    char k[32], v[64];
    size_t kl = test_key(k, sizeof k, 3);
    assert_int_equal(store_put(s, k, kl, "second", 6, TEST_NOW_MS, NULL), 0);
    int64_t idx = store__find(s, &s->cur, store__key_hash(s, k, kl), k, (uint32_t)kl, NULL);
    uint64_t rec = s->cur.slots[idx].rec_off, prev = s->cur.slots[idx].prev_off;
    assert_true(prev != 0 && prev != rec);
    assert_int_equal(store_close(s), 0);
    file_flip(dir, "values.gkv", rec + 60);
    assert_true(store_inspect(dir, false, g_null) < 0);
    assert_int_equal(reopen(dir, &s, NULL), 0);
    struct entry e;
    /* the previous version's block was not reused (nothing was written
     * since), so the slot rolls back to it */
    assert_int_equal(store_get(s, k, kl, &e), 0);
    size_t vl = test_value(v, sizeof v, 3, 1, 40);
    assert_int_equal(e.value_len, vl);
    assert_memory_equal(e.value, v, vl);
    assert_int_equal(count_intact(s, 10), 10);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(store_inspect(dir, false, g_null), 0);
    test_rmrf(dir);
}

static void test_store_missing_header_with_data_files_is_refused(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 5);
    char p[128];
    snprintf(p, sizeof p, "%s/header.gkv", dir);
    assert_int_equal(unlink(p), 0);
    expect_open_error(dir, GKV_ECORRUPT, "header.gkv", "missing");
    test_rmrf(dir);
}

static void test_store_random_damage_never_crashes(void **state)
{
    (void)state;
    struct gkv_rng rng;
    test_rng(&rng, 1234);
    static const char *files[] = {"header.gkv", "table.1.gkv", "values.gkv"};
    uint64_t opened = 0, refused = 0, dropped = 0;
    for (int round = 0; round < 60; round++) {
        char dir[64];
        make_store(dir, sizeof dir, 30);
        int hits = 1 + (int)gkv_rng_below(&rng, 8);
        for (int h = 0; h < hits; h++) {
            const char *f = files[gkv_rng_below(&rng, 3)];
            uint64_t size = file_size(dir, f);
            uint64_t off = gkv_rng_below(&rng, size < 8192 ? size : 8192);
            uint8_t junk[8];
            uint64_t r = gkv_rng_next(&rng);
            memcpy(junk, &r, 8);
            file_poke(dir, f, off, junk, 1 + gkv_rng_below(&rng, 8));
        }
        (void)store_inspect(dir, true, g_null); /* must not crash */
        struct store *s = NULL;
        char err[STORE_OPEN_ERR_BYTES] = "";
        if (reopen(dir, &s, err) == 0) {
            opened++;
            struct store_stats st;
            store_stats(s, &st);
            dropped += st.torn_slots_dropped;
            (void)count_intact(s, 30);
            assert_int_equal(store_put(s, "after", 5, "ok", 2, TEST_NOW_MS, NULL), 0);
            assert_int_equal(store_close(s), 0);
            assert_int_equal(store_inspect(dir, false, g_null), 0); /* repaired */
        } else {
            refused++;
            assert_true(err[0] != 0);
        }
        test_rmrf(dir);
    }
    printf("random damage: 60 dirs, %" PRIu64 " opened (%" PRIu64 " slots dropped), %" PRIu64
           " refused with an error\n",
           opened, dropped, refused);
}

static void test_store_values_file_full_disk_gives_enospc_and_reads_work(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    pid_t pid = fork();
    if (pid == 0) {
        /* RLIMIT_FSIZE stands in for a full disk: extending a file past it
         * fails with EFBIG (the store maps it to GKV_ENOSPC). */
        signal(SIGXFSZ, SIG_IGN);
        struct store_config cfg;
        test_cfg(&cfg, dir, 1024);
        struct store *s = NULL;
        if (store_open(&cfg, TEST_NOW_MS, &s, NULL, 0) != 0)
            _exit(10);
        struct rlimit rl = {.rlim_cur = 4u << 20, .rlim_max = RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &rl);
        char k[32], v[1000];
        memset(v, 'v', sizeof v);
        uint64_t i = 0;
        int rc = 0;
        for (; i < 100000; i++)
            if ((rc = store_put(s, k, test_key(k, sizeof k, i), v, sizeof v, TEST_NOW_MS, NULL)) != 0)
                break;
        if (rc != GKV_ENOSPC)
            _exit(11);
        struct store_stats st;
        store_stats(s, &st);
        if (st.full_refused < 1)
            _exit(12);
        for (uint64_t j = 0; j < i; j++)
            if (store_get(s, k, test_key(k, sizeof k, j), NULL) != 0)
                _exit(13);
        /* overwrites reuse freed space, so some writes still succeed */
        if (store_del(s, k, test_key(k, sizeof k, 0), TEST_NOW_MS, NULL, NULL) != 0)
            _exit(14);
        printf("full disk: %" PRIu64 " puts before GKV_ENOSPC, reads fine\n", i);
        fflush(stdout);
        store_close(s);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct store *s = NULL;
    assert_int_equal(reopen(dir, &s, NULL), 0);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

static void test_store_hlc_never_goes_back_after_a_crash(void **state)
{
    (void)state;
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        struct store_config cfg;
        test_cfg(&cfg, dir, 64);
        cfg.sync = STORE_SYNC_ALWAYS;
        struct store *s = NULL;
        if (store_open(&cfg, TEST_NOW_MS, &s, NULL, 0) != 0)
            _exit(3);
        if (store_put(s, "k", 1, "v", 1, TEST_NOW_MS, NULL) != 0)
            _exit(4);
        /* HLCs issued without storing anything (as gossip stamps messages),
         * the clock running 3 s ahead; each tick extends the lease */
        uint64_t h = 0;
        for (uint64_t ms = 0; ms < 3000; ms += 7) {
            h = hlc_now(store_hlc(s), TEST_NOW_MS + ms);
            store_tick(s, TEST_NOW_MS + ms);
        }
        if (write(p[1], &h, sizeof h) != sizeof h)
            _exit(5);
        raise(SIGKILL);
    }
    close(p[1]);
    uint64_t issued = 0;
    assert_int_equal(read(p[0], &issued, sizeof issued), sizeof issued);
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    struct store_config cfg;
    test_cfg(&cfg, dir, 64);
    struct store *s = NULL;
    /* restart with the wall clock back at the start */
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    struct store_stats st;
    store_stats(s, &st);
    assert_true(st.recovered);
    assert_int_equal(st.incarnation, 1);
    struct entry e;
    assert_int_equal(store_put(s, "k", 1, "w", 1, TEST_NOW_MS, &e), 0);
    printf("hlc: issued up to %" PRIu64 " ms, first after restart %" PRIu64 " ms\n",
           (uint64_t)HLC_MS(issued), (uint64_t)HLC_MS(e.hlc));
    assert_true(e.hlc > issued);
    /* and not absurdly far ahead: at most the 200 ms lease */
    assert_true(HLC_MS(e.hlc) <= HLC_MS(issued) + 200);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

static void test_store_read_only_open_reads_and_refuses_writes(void **state)
{
    (void)state;
    char dir[64];
    make_store(dir, sizeof dir, 30);
    struct store_config cfg;
    test_cfg(&cfg, dir, 64);
    cfg.read_only = true;
    struct store *s = NULL, *w = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err), 0);
    assert_int_equal(count_intact(s, 30), 30);
    assert_int_equal(store_put(s, "x", 1, "y", 1, TEST_NOW_MS, NULL), GKV_EPERM);
    assert_int_equal(store_del(s, "k1", 2, TEST_NOW_MS, NULL, NULL), GKV_EPERM);
    /* a writer is refused while a reader holds the shared lock */
    assert_int_equal(reopen(dir, &w, err), GKV_ELOCKED);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(store_inspect(dir, false, g_null), 0);
    /* a damaged directory is not served read-only (it needs recovery) */
    uint64_t idx = slot_of(dir, 3);
    file_flip(dir, "table.1.gkv", 4096 + idx * 64 + 9);
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err), GKV_ECORRUPT);
    printf("read-only open of a damaged dir: %s\n", err);
    test_rmrf(dir);
}

/* ------------------------------------------ stale cached version hashes */

/* entry_version_hash() as builds before issue 2's change computed it:
 * SipHash-2-4 under the 16 ASCII bytes "gossipkv-version" over a 56-byte
 * little-endian record (hlc, origin, flags, key_len, SipHash(key), value_len,
 * SipHash(value)). Records of such directories cache these numbers. */
static uint64_t old_siphash(const void *data, size_t len)
{
    static const unsigned char key[16] = "gossipkv-version";
    uint64_t k0 = 0, k1 = 0;
    for (int i = 0; i < 8; i++) {
        k0 |= (uint64_t)key[i] << (8 * i);
        k1 |= (uint64_t)key[8 + i] << (8 * i);
    }
    return store__siphash24(data, len, k0, k1);
}

static void put_le64_at(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t old_version_hash(const struct entry *e)
{
    uint8_t rec[56];
    put_le64_at(rec + 0, e->hlc);
    put_le64_at(rec + 8, e->origin);
    put_le64_at(rec + 16, e->flags);
    put_le64_at(rec + 24, e->key_len);
    put_le64_at(rec + 32, old_siphash(e->key, e->key_len));
    put_le64_at(rec + 40, e->value_len);
    put_le64_at(rec + 48, old_siphash(e->value ? e->value : (const uint8_t *)"", e->value_len));
    return old_siphash(rec, sizeof rec);
}

struct xor_buckets {
    uint64_t b[STORE_BUCKETS];
    uint64_t n;
};

static int xor_bucket_cb(void *arg, const struct entry *e)
{
    struct xor_buckets *x = arg;
    x->b[entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS)] ^= entry_version_hash(e);
    x->n++;
    return 0;
}

/* Bucket hashes recomputed from the entries a full scan returns. */
static void expected_buckets(struct store *s, struct xor_buckets *x)
{
    memset(x, 0, sizeof *x);
    uint64_t cursor = 0;
    for (int guard = 0; guard < 100000; guard++) {
        assert_int_equal(store_scan(s, &cursor, 256, xor_bucket_cb, x), 0);
        if (cursor == 0)
            return;
    }
    fail_msg("scan did not finish");
}

static int merge_into_cb(void *arg, const struct entry *e)
{
    bool taken = false;
    assert_int_equal(store_merge(arg, e, TEST_NOW_MS, &taken), 0);
    assert_true(taken);
    return 0;
}

/* Overwrite the cached version hash of every record in table t: the old
 * build's number for most, an arbitrary wrong one for every fifth (both
 * with a record checksum that holds, as the build that wrote them left it).
 * Returns how many records were changed. */
static uint64_t stale_vhashes(struct store *s, struct store_table *t)
{
    uint64_t changed = 0;
    for (uint64_t i = 0; i < t->cap; i++) {
        const struct fmt_slot *sl = &t->slots[i];
        if (sl->state != FMT_SLOT_VALUE && sl->state != FMT_SLOT_TOMB)
            continue;
        struct entry e;
        store__entry_from_slot(s, sl, &e);
        struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
        assert_true(r->vhash == entry_version_hash(&e));
        uint64_t stale = changed % 5 == 4 ? r->vhash ^ (UINT64_C(1) << (changed % 64))
                                          : old_version_hash(&e);
        assert_true(stale != r->vhash);
        r->vhash = stale;
        r->checksum = store__record_checksum(r, sl->rec_off);
        changed++;
    }
    return changed;
}

/* inspect's report of dir, in a buffer (NUL-terminated); returns its rc. */
static int inspect_text(const char *dir, char *buf, size_t n)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    int rc = store_inspect(dir, false, f);
    rewind(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
    return rc;
}

/* A data directory whose records cache version hashes of another build (the
 * SipHash-based digest before issue 2, or any wrong value) is not damaged:
 * inspect reports it healthy and counts the stale hashes, a read-only open
 * serves correct bucket hashes without writing, and a read-write open
 * refreshes them, after which the bucket hashes equal those of a store
 * written fresh with the same entries, stay right through overwrites and
 * deletes (which XOR the cached value out), and inspect finds nothing
 * stale. */
static void test_store_stale_cached_version_hashes_are_refreshed_on_open(void **state)
{
    (void)state;
    /* The test's copy of the old digest is the one its pin fixed. */
    struct entry pin = {.key = (const uint8_t *)"user:42", .key_len = 7,
                        .value = (const uint8_t *)"hello", .value_len = 5,
                        .hlc = HLC_MAKE(1700000000000ull, 5), .origin = 0x1122334455667788ull};
    assert_true(old_version_hash(&pin) == UINT64_C(0x322ad02a6ca79665));

    enum { N = 600 };
    char dir[64], k[32], v[64];
    make_store(dir, sizeof dir, N); /* several doublings from 64 slots */
    struct store *s = NULL, *fresh = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    assert_int_equal(reopen(dir, &s, err), 0);
    for (uint64_t i = 0; i < N; i += 7) /* tombstones too */
        assert_int_equal(store_del(s, k, test_key(k, sizeof k, i), TEST_NOW_MS, NULL, NULL), 0);
    assert_int_equal(store_close(s), 0);

    /* The same entries, merged into a fresh (anonymous) store. */
    struct store_config fcfg;
    test_cfg(&fcfg, NULL, 64);
    assert_int_equal(store_open(&fcfg, TEST_NOW_MS, &fresh, NULL, 0), 0);
    assert_int_equal(reopen(dir, &s, err), 0);
    uint64_t cursor = 0;
    do
        assert_int_equal(store_scan(s, &cursor, 256, merge_into_cb, fresh), 0);
    while (cursor != 0);
    uint64_t want[STORE_BUCKETS];
    memcpy(want, store_bucket_hashes(fresh), sizeof want);
    assert_memory_equal(store_bucket_hashes(s), want, sizeof want);

    /* Make it a directory of the old build, then close it cleanly. */
    uint64_t changed = stale_vhashes(s, &s->cur);
    if (s->growing)
        changed += stale_vhashes(s, &s->old);
    assert_true(changed >= N);
    assert_int_equal(store_close(s), 0);

    char text[8192], line[96];
    assert_int_equal(inspect_text(dir, text, sizeof text), 0);
    printf("%s", text);
    snprintf(line, sizeof line, "stale cached version hashes: %llu (refreshed on open)",
             (unsigned long long)changed);
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, "checksum/consistency faults: 0\n"));
    assert_non_null(strstr(text, "status:          healthy"));

    /* Read-only: correct bucket hashes, nothing written. */
    struct store_config rcfg;
    test_cfg(&rcfg, dir, 64);
    rcfg.read_only = true;
    assert_int_equal(store_open(&rcfg, TEST_NOW_MS, &s, err, sizeof err), 0);
    assert_memory_equal(store_bucket_hashes(s), want, sizeof want);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(inspect_text(dir, text, sizeof text), 0);
    assert_non_null(strstr(text, line));

    /* Read-write: refreshed. */
    assert_int_equal(reopen(dir, &s, err), 0);
    assert_memory_equal(store_bucket_hashes(s), want, sizeof want);
    assert_true(store_root_hash(s) == store_root_hash(fresh));
    struct xor_buckets x;
    expected_buckets(s, &x);
    assert_memory_equal(x.b, want, sizeof want);
    /* Overwrites and deletes XOR the cached (now refreshed) hash out. */
    for (uint64_t i = 1; i < N; i += 3) {
        size_t kl = test_key(k, sizeof k, i);
        if (i % 2) {
            size_t vl = test_value(v, sizeof v, i, 2, 40);
            assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
        } else {
            assert_int_equal(store_del(s, k, kl, TEST_NOW_MS, NULL, NULL), 0);
        }
    }
    expected_buckets(s, &x);
    assert_memory_equal(store_bucket_hashes(s), x.b, sizeof x.b);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(store_close(fresh), 0);

    assert_int_equal(inspect_text(dir, text, sizeof text), 0);
    assert_null(strstr(text, "stale cached version hashes"));
    assert_non_null(strstr(text, "status:          healthy"));
    test_rmrf(dir);
}

int main(void)
{
    g_null = fopen("/dev/null", "w");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_truncated_table_is_a_clear_error),
        cmocka_unit_test(test_store_truncated_values_is_a_clear_error),
        cmocka_unit_test(test_store_truncated_header_is_a_clear_error),
        cmocka_unit_test(test_store_flipped_header_copy_a_falls_back_to_b),
        cmocka_unit_test(test_store_flipped_both_header_copies_is_a_clear_error),
        cmocka_unit_test(test_store_wrong_magic_is_a_clear_error),
        cmocka_unit_test(test_store_wrong_version_is_a_clear_error),
        cmocka_unit_test(test_store_flipped_slot_is_rebuilt_from_its_record),
        cmocka_unit_test(test_store_slot_without_record_is_dropped_and_chain_kept),
        cmocka_unit_test(test_store_flipped_record_falls_back_or_drops),
        cmocka_unit_test(test_store_missing_header_with_data_files_is_refused),
        cmocka_unit_test(test_store_random_damage_never_crashes),
        cmocka_unit_test(test_store_values_file_full_disk_gives_enospc_and_reads_work),
        cmocka_unit_test(test_store_hlc_never_goes_back_after_a_crash),
        cmocka_unit_test(test_store_read_only_open_reads_and_refuses_writes),
        cmocka_unit_test(test_store_stale_cached_version_hashes_are_refreshed_on_open),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fclose(g_null);
    return rc;
}
