/*
 * Size classes of the record heap (storage/heap.c): every record size has
 * the smallest class that holds it, waste stays inside the stated bounds,
 * the largest record has a class, and a values.gkv laid out by a build with
 * other classes (the old 192-byte blocks for 164-byte records) opens,
 * verifies, and has its gaps carved into free blocks that new writes reuse.
 * Classes live in memory only, so that is all a change of classes needs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "storage/store_int.h"
#include "test_store_util.h"

/* Every size from 1 byte to 1 MiB + 4 KiB (every class boundary up to
 * there), then spot sizes up to the largest record: the class is the
 * smallest that holds the record, blocks are granule multiples, and the
 * waste is at most 15 bytes up to 256 and under a quarter of the record
 * above. */
static void test_heap_class_is_smallest_block_that_holds_the_record(void **state)
{
    (void)state;
    uint64_t prev_bytes = 0;
    for (uint32_t c = 0; c < HEAP_CLASSES; c++) {
        uint64_t cb = store__heap_class_bytes(c);
        assert_true(cb > prev_bytes);
        assert_int_equal(cb % FMT_GRANULE, 0);
        assert_int_equal(store__heap_class(cb), c);
        prev_bytes = cb;
    }
    for (uint64_t b = 1; b <= (1u << 20) + 4096; b++) {
        uint32_t c = store__heap_class(b);
        uint64_t cb = store__heap_class_bytes(c);
        if (cb < b || (c > 0 && store__heap_class_bytes(c - 1) >= b))
            fail_msg("%" PRIu64 " bytes: class %u of %" PRIu64 " bytes", b, c, cb);
        if (b >= 64 && b <= 256 && cb - b > 15)
            fail_msg("%" PRIu64 " bytes: %" PRIu64 " wasted", b, cb - b);
        if (b > 256 && 4 * (cb - b) >= b)
            fail_msg("%" PRIu64 " bytes: %" PRIu64 " wasted, not under 25%%", b, cb - b);
    }
    /* 16-byte steps to 256, then four per doubling */
    assert_int_equal(store__heap_class_bytes(store__heap_class(164)), 176);
    assert_int_equal(store__heap_class_bytes(store__heap_class(241)), 256);
    assert_int_equal(store__heap_class_bytes(store__heap_class(257)), 320);
    assert_int_equal(store__heap_class_bytes(store__heap_class(321)), 384);
    assert_int_equal(store__heap_class_bytes(store__heap_class(513)), 640);
    uint64_t max = FMT_RECORD_BYTES(FMT_REC_EXPIRES, GKV_VCLOCK_MAX, GKV_KEY_MAX, GKV_VALUE_HARD_MAX);
    uint32_t cmax = store__heap_class(max);
    printf("largest record: %" PRIu64 " bytes, class %u of %u (%" PRIu64 " bytes)\n", max, cmax,
           (unsigned)HEAP_CLASSES, store__heap_class_bytes(cmax));
    assert_true(cmax < HEAP_CLASSES);
    assert_true(store__heap_class_bytes(cmax) >= max);
    for (uint64_t b = 1u << 20; b <= max; b += 4093)
        assert_true(store__heap_class_bytes(store__heap_class(b)) >= b);
}

/* Offset in values.gkv of key k's record (store_get borrows the key from
 * the record: the record head and clock sit in front of it). */
static uint64_t rec_off_of(struct store *s, const char *k, size_t kl)
{
    struct entry e;
    assert_int_equal(store_get(s, k, kl, &e), 0);
    return (uint64_t)((const uint8_t *)e.key - s->heap.map) - sizeof(struct fmt_record) -
           16u * e.vc.n;
}

/* values.gkv's prologue version as on disk. */
static uint32_t values_version(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/values.gkv", dir);
    struct fmt_values_prologue pr;
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &pr, sizeof pr, 0), (ssize_t)sizeof pr);
    close(fd);
    return pr.version;
}

/* Rewrite the prologue's version, checksum valid: the file as a build of
 * that version wrote it. */
static void set_values_version(const char *dir, uint32_t version)
{
    struct fmt_values_prologue pr;
    memset(&pr, 0, sizeof pr);
    memcpy(pr.magic, FMT_VALUES_MAGIC, 8);
    pr.version = version;
    pr.granule = FMT_GRANULE;
    pr.checksum =
        store__checksum64(&pr, offsetof(struct fmt_values_prologue, checksum), FMT_SEED_VALUES);
    file_poke(dir, "values.gkv", 0, &pr, sizeof pr);
}

#define OLD_N 2000u
#define OLD_BLOCK_BYTES 192u /* the previous build's class for 161..192 bytes */
#define OLD_VALUE_BYTES 84u

static size_t old_key(char *k, uint64_t i)
{
    memset(k, 'k', 16);
    memcpy(k, &i, sizeof i);
    /* A local put carries a one-entry vector clock: 48 + 16 + 16 + 84 =
     * 164-byte records (class 176 now, 192 before). storage_bench's are
     * 180 bytes (100-byte values): class 192 in both builds. */
    return 16;
}

/* The old build put 164-byte records in 192-byte blocks. Lay values.gkv out
 * that way (each record bumps the heap, then 16 bytes are skipped), delete
 * every other key, close. The new build reopens it: every entry verifies,
 * each record's extent counts as 176 bytes, the 16-byte tails alone stay
 * unused (too small for any block), and a deleted key's hole with its
 * neighbour's tail (16 + 192 = 208 bytes) becomes a 208-byte free block,
 * which writes of 193..208-byte records reuse without growing the heap. */
static void test_store_opens_a_heap_laid_out_by_other_size_classes(void **state)
{
    (void)state;
    char dir[64], k[16], v[OLD_VALUE_BYTES + 64];
    struct store_config cfg;
    struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 4096, STORE_SYNC_NONE, 0, TEST_NOW_MS);
    uint64_t first = 0;
    for (uint64_t i = 0; i < OLD_N; i++) {
        size_t vl = test_value(v, sizeof v, i, 0, OLD_VALUE_BYTES);
        size_t kl = old_key(k, i);
        assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
        uint64_t off = rec_off_of(s, k, kl);
        assert_int_equal(off + 176, s->heap.top); /* a fresh 176-byte block at the end */
        if (i == 0)
            first = off;
        else
            assert_int_equal(off, first + i * OLD_BLOCK_BYTES);
        assert_true(s->heap.top + 16 <= s->heap.file_bytes); /* 2 MiB files: room */
        s->heap.top += OLD_BLOCK_BYTES - 176; /* the old class's tail */
    }
    for (uint64_t i = 1; i < OLD_N; i += 2) {
        size_t kl = old_key(k, i);
        assert_int_equal(store_del(s, k, kl, TEST_NOW_MS, NULL, NULL), 0);
    }
    assert_int_equal(store_close(s), 0);
    set_values_version(dir, 1); /* as the old build wrote it */
    test_inspect_ok(dir);

    char err[STORE_OPEN_ERR_BYTES] = "";
    s = NULL;
    if (store_open(&cfg, TEST_NOW_MS + 1000, &s, err, sizeof err) != 0)
        fail_msg("reopen: %s", err);
    for (uint64_t i = 0; i < OLD_N; i++) {
        size_t vl = test_value(v, sizeof v, i, 0, OLD_VALUE_BYTES);
        size_t kl = old_key(k, i);
        struct entry e;
        if (i % 2 == 1) {
            assert_int_equal(store_get(s, k, kl, &e), 0);
            assert_true(entry_is_tombstone(&e));
            continue;
        }
        assert_int_equal(store_get(s, k, kl, &e), 0);
        assert_int_equal(e.value_len, vl);
        assert_memory_equal(e.value, v, vl);
        assert_int_equal(rec_off_of(s, k, kl), first + i * OLD_BLOCK_BYTES);
    }
    /* Holes: between live records i and i + 2 lie the tail of i (16) and
     * the deleted record i + 1 (192); the last key (odd) leaves its own
     * 192 + the previous tail before the tombstones. */
    size_t holes = s->heap.free[store__heap_class(208)].n;
    printf("reopened: %zu free 208-byte blocks, free %" PRIu64 " bytes, top %" PRIu64 "\n", holes,
           s->heap.free_bytes, s->heap.top);
    assert_int_equal(holes, OLD_N / 2);
    uint64_t top = s->heap.top, file = s->heap.file_bytes, free0 = s->heap.free_bytes;

    /* 193..208-byte records (a 113..128-byte value, a 16-byte key and a
     * one-entry clock)
     * take the carved blocks: the heap's end does not move. */
    char nv[160];
    for (uint64_t i = 0; i < OLD_N / 2; i++) {
        size_t kl = old_key(k, OLD_N + i);
        size_t vl = test_value(nv, sizeof nv, i, 1, 113 + i % 16);
        assert_int_equal(store_put(s, k, kl, nv, vl, TEST_NOW_MS + 1000, NULL), 0);
        uint64_t off = rec_off_of(s, k, kl);
        assert_true(off < first + OLD_N * OLD_BLOCK_BYTES); /* inside the old layout */
    }
    assert_int_equal(s->heap.top, top);
    assert_int_equal(s->heap.file_bytes, file);
    assert_int_equal(s->heap.free_bytes, free0 - (OLD_N / 2) * 208);
    assert_int_equal(s->heap.free[store__heap_class(208)].n, 0);
    /* everything reads back, old and new */
    for (uint64_t i = 0; i < OLD_N; i += 2) {
        size_t vl = test_value(v, sizeof v, i, 0, OLD_VALUE_BYTES);
        size_t kl = old_key(k, i);
        struct entry e;
        assert_int_equal(store_get(s, k, kl, &e), 0);
        assert_memory_equal(e.value, v, vl);
    }
    for (uint64_t i = 0; i < OLD_N / 2; i++) {
        size_t kl = old_key(k, OLD_N + i);
        size_t vl = test_value(nv, sizeof nv, i, 1, 113 + i % 16);
        struct entry e;
        assert_int_equal(store_get(s, k, kl, &e), 0);
        assert_int_equal(e.value_len, vl);
        assert_memory_equal(e.value, nv, vl);
    }
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
}

/* A version-1 values.gkv (the old classes) opens read-only as it is and is
 * upgraded to version 2 by a read-write open, so that a build with the old
 * classes refuses it from then on instead of misreading its blocks. */
static void test_store_upgrades_a_version_1_values_file_on_read_write_open(void **state)
{
    (void)state;
    char dir[64], k[16], v[OLD_VALUE_BYTES + 64];
    struct store_config cfg;
    struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 1024, STORE_SYNC_NONE, 0, TEST_NOW_MS);
    assert_int_equal(values_version(dir), FMT_VALUES_VERSION);
    size_t kl = old_key(k, 1), vl = test_value(v, sizeof v, 1, 0, OLD_VALUE_BYTES);
    assert_int_equal(store_put(s, k, kl, v, vl, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_close(s), 0);
    set_values_version(dir, 1);

    struct store_config ro = cfg;
    ro.read_only = true;
    char err[STORE_OPEN_ERR_BYTES] = "";
    s = NULL;
    if (store_open(&ro, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("read-only open: %s", err);
    struct entry e;
    assert_int_equal(store_get(s, k, kl, &e), 0);
    assert_memory_equal(e.value, v, vl);
    assert_int_equal(store_close(s), 0);
    assert_int_equal(values_version(dir), 1);

    s = NULL;
    if (store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err) != 0)
        fail_msg("read-write open: %s", err);
    assert_int_equal(values_version(dir), FMT_VALUES_VERSION);
    assert_int_equal(store_get(s, k, kl, &e), 0);
    assert_memory_equal(e.value, v, vl);
    assert_int_equal(store_close(s), 0);
    test_inspect_ok(dir);
    test_rmrf(dir);
}

/* A values.gkv of a later version is a clear error naming the file. */
static void test_store_refuses_a_values_file_of_a_later_version(void **state)
{
    (void)state;
    char dir[64];
    struct store_config cfg;
    struct store *s = test_open_fresh(dir, sizeof dir, &cfg, 1024, STORE_SYNC_NONE, 0, TEST_NOW_MS);
    assert_int_equal(store_close(s), 0);
    set_values_version(dir, FMT_VALUES_VERSION + 1);
    char err[STORE_OPEN_ERR_BYTES] = "";
    s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err), GKV_EVERSION);
    assert_null(s);
    assert_true(err[0] != 0);
    printf("%s\n", err);
    assert_non_null(strstr(err, "values.gkv"));
    char want[32];
    snprintf(want, sizeof want, "version %u", FMT_VALUES_VERSION + 1);
    assert_non_null(strstr(err, want));
    set_values_version(dir, 0);
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err), GKV_EVERSION);
    test_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_class_is_smallest_block_that_holds_the_record),
        cmocka_unit_test(test_store_opens_a_heap_laid_out_by_other_size_classes),
        cmocka_unit_test(test_store_upgrades_a_version_1_values_file_on_read_write_open),
        cmocka_unit_test(test_store_refuses_a_values_file_of_a_later_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
