/*
 * test_store_util.h: helpers shared by the tests/unit/test_store*.c files
 * (a header of static functions so it is not linked into other tests).
 */
#ifndef GKV_TEST_STORE_UTIL_H
#define GKV_TEST_STORE_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/rng.h"
#include "storage/store.h"
#include "tests/test_seed.h"

/* A fixed wall clock for tests: 2026-01-01T00:00:00Z in ms. */
#define TEST_NOW_MS UINT64_C(1767225600000)

static inline uint64_t test_seed(uint64_t dflt)
{
    return gkv_test_seed_quiet(dflt);
}

/* Seed r for a randomized test from GKV_SEED or dflt, and print the seed so a
 * failure can be replayed. Returns the seed. */
static inline uint64_t test_rng(struct gkv_rng *r, uint64_t dflt)
{
    uint64_t seed = test_seed(dflt);
    printf("seed %" PRIu64 " (GKV_SEED overrides)\n", seed);
    gkv_rng_seed(r, seed);
    return seed;
}

static inline int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void test_rmrf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under /tmp; *buf receives its path. */
/* `gossipkv inspect DIR` reports the directory healthy (output discarded).
 * Uses cmocka's assertions: include cmocka.h before this header. */
static inline void test_inspect_ok(const char *dir)
{
    FILE *out = fopen("/dev/null", "w");
    assert_non_null(out);
    assert_int_equal(store_inspect(dir, false, out), 0);
    fclose(out);
}

static inline void test_mkdtemp(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/gkv-store-XXXXXX");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        abort();
    }
}

static inline void test_cfg(struct store_config *cfg, const char *dir, uint32_t cap)
{
    store_config_init(cfg);
    cfg->dir = dir;
    cfg->node_id = 7;
    cfg->initial_capacity = cap;
    cfg->sync = STORE_SYNC_NONE;
    for (int i = 0; i < 16; i++)
        cfg->placement_secret[i] = (uint8_t)(i * 37 + 1);
}

/* A new file-backed store in a new directory (its path into dir): cap
 * initial slots, sync mode `mode`, tombstone_grace_ms as given (0: the
 * default), opened at now. */
static inline struct store *test_open_fresh(char *dir, size_t dir_len, struct store_config *cfg,
                                            uint32_t cap, enum store_sync mode,
                                            uint64_t grace_ms, uint64_t now)
{
    test_mkdtemp(dir, dir_len);
    test_cfg(cfg, dir, cap);
    cfg->sync = mode;
    cfg->tombstone_grace_ms = grace_ms;
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(cfg, now, &s, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    return s;
}

/* Key "k<i>" and a value derived from (i, version) of length 1..maxlen. */
static inline size_t test_key(char *buf, size_t n, uint64_t i)
{
    return (size_t)snprintf(buf, n, "k%" PRIu64, i);
}

static inline size_t test_value(char *buf, size_t n, uint64_t i, uint64_t version, size_t len)
{
    if (len > n)
        len = n;
    int h = snprintf(buf, n, "%" PRIu64 ":%" PRIu64 ":", i, version);
    for (size_t j = (size_t)h; j < len; j++)
        buf[j] = (char)('a' + (i * 31 + version * 7 + j) % 26);
    return len < (size_t)h ? (size_t)h : len;
}

static inline uint64_t file_size(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Patch bytes of a file in place (corruption tests). */
static inline void file_poke(const char *dir, const char *name, uint64_t off, const void *bytes, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDWR);
    if (fd < 0 || pwrite(fd, bytes, n, (off_t)off) != (ssize_t)n) {
        perror(p);
        abort();
    }
    close(fd);
}

static inline void file_flip(const char *dir, const char *name, uint64_t off)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDWR);
    uint8_t b;
    if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1) {
        perror(p);
        abort();
    }
    b ^= 0x40;
    if (pwrite(fd, &b, 1, (off_t)off) != 1)
        abort();
    close(fd);
}

#endif
